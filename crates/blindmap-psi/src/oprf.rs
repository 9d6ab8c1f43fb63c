//! RFC 9497 OPRF, mode `modeOPRF` (0x00), suite ristretto255-SHA512 (spec §4.2).
//!
//! The functions keep the RFC's names and quote its pseudocode above the lines that implement it.
//! The sessions (spec §9) use the same functions in batches.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{DecodeError, Error, InputError};
use crate::group::{self, ELEMENT_LEN, ElementBytes, SecretScalar};

/// RFC 9497 §3.1: `contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier`, for
/// mode 0x00 and identifier `ristretto255-SHA512`.
pub const CONTEXT_STRING: &[u8] = b"OPRFV1-\x00-ristretto255-SHA512";
/// `"HashToGroup-" || contextString` (RFC 9497 §4.1).
pub const HASH_TO_GROUP_DST: &[u8] = b"HashToGroup-OPRFV1-\x00-ristretto255-SHA512";
/// `"DeriveKeyPair" || contextString` (RFC 9497 §3.2.1).
const DERIVE_KEY_PAIR_DST: &[u8] = b"DeriveKeyPairOPRFV1-\x00-ristretto255-SHA512";
/// Length of a `Finalize` output (`Nh` = 64 for SHA-512).
pub const OUTPUT_LEN: usize = 64;

/// An OPRF private key `skS` (RFC 9497 §3.2). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OprfKey(pub(crate) SecretScalar);

impl core::fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OprfKey").finish_non_exhaustive()
    }
}

impl OprfKey {
    /// RFC 9497 §3.2.1 `DeriveKeyPair(seed, info)`, returning the private key.
    ///
    /// ```text
    /// deriveInput = seed || I2OSP(len(info), 2) || info
    /// counter = 0
    /// skS = 0
    /// while skS == 0:
    ///   if counter > 255:
    ///     raise DeriveKeyPairError
    ///   skS = G.HashToScalar(deriveInput || I2OSP(counter, 1),
    ///                         DST = "DeriveKeyPair" || contextString)
    ///   counter = counter + 1
    /// ```
    pub fn derive(seed: &[u8; 32], info: &[u8]) -> Result<Self, Error> {
        let info_len = u16::try_from(info.len()).map_err(|_| Error::DeriveKeyPair)?;
        let mut derive_input = Vec::with_capacity(32 + 2 + info.len() + 1);
        derive_input.extend_from_slice(seed);
        derive_input.extend_from_slice(&info_len.to_be_bytes());
        derive_input.extend_from_slice(info);
        derive_input.push(0);
        let last = derive_input.len() - 1;
        let mut result = Err(Error::DeriveKeyPair);
        for counter in 0..=255u8 {
            derive_input[last] = counter;
            let sk = group::hash_to_scalar(&derive_input, DERIVE_KEY_PAIR_DST);
            if sk != Scalar::ZERO {
                result = Ok(Self(SecretScalar::new(sk)));
                break;
            }
        }
        derive_input.zeroize();
        result
    }

    /// `SerializeScalar(skS)`, for test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.scalar().to_bytes()
    }

    /// RFC 9497 §3.3.1 `BlindEvaluate(skS, blindedElement)`: `evaluatedElement = skS * blindedElement`.
    pub fn blind_evaluate(&self, blinded: &BlindedElement) -> EvaluatedElement {
        EvaluatedElement((blinded.0 * self.0.scalar()).compress().to_bytes())
    }

    /// RFC 9497 §3.3.1 `Evaluate(skS, input)`: the server's direct computation of the PRF.
    ///
    /// ```text
    /// inputElement = G.HashToGroup(input)
    /// if inputElement == G.Identity():
    ///   raise InvalidInputError
    /// evaluatedElement = skS * inputElement
    /// issuedElement = G.SerializeElement(evaluatedElement)
    /// hashInput = I2OSP(len(input), 2) || input ||
    ///             I2OSP(len(issuedElement), 2) || issuedElement ||
    ///             "Finalize"
    /// return Hash(hashInput)
    /// ```
    pub fn evaluate(&self, input: &[u8]) -> Result<Output, Error> {
        let element = hash_input(input)?;
        let issued = (element * self.0.scalar()).compress().to_bytes();
        Ok(finalize_hash(input, &issued))
    }
}

/// A client's blind `r` (RFC 9497 §3.3.1). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Blind(pub(crate) Scalar);

impl core::fmt::Debug for Blind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Blind").finish_non_exhaustive()
    }
}

impl Blind {
    /// A blind from its serialized scalar, for test vectors only (RFC 9497 Appendix A fixes them).
    #[cfg(feature = "deterministic")]
    pub fn from_bytes_unchecked(bytes: [u8; 32]) -> Option<Self> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes)).filter(|s| *s != Scalar::ZERO).map(Self)
    }

    /// `SerializeScalar(blind)`, for test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// `G.RandomScalar()`: a uniformly random non-zero scalar.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        loop {
            let mut wide = [0u8; 64];
            rng.fill_bytes(&mut wide);
            let s = Scalar::from_bytes_mod_order_wide(&wide);
            wide.zeroize();
            if s != Scalar::ZERO {
                return Self(s);
            }
        }
    }
}

/// A blinded element `r * H(input)`, as sent to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlindedElement(pub(crate) RistrettoPoint);

impl BlindedElement {
    /// `SerializeElement`.
    pub fn to_bytes(&self) -> ElementBytes {
        self.0.compress().to_bytes()
    }

    /// `DeserializeElement`, rejecting identity and non-canonical encodings.
    pub fn from_bytes(bytes: &ElementBytes) -> Result<Self, DecodeError> {
        group::deserialize_element(bytes, 0).map(Self)
    }
}

/// An evaluated element `skS * blindedElement`, as returned by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvaluatedElement(pub(crate) ElementBytes);

impl EvaluatedElement {
    /// `SerializeElement`.
    pub fn to_bytes(&self) -> ElementBytes {
        self.0
    }

    /// `DeserializeElement`, rejecting identity and non-canonical encodings.
    pub fn from_bytes(bytes: &ElementBytes) -> Result<Self, DecodeError> {
        group::deserialize_element(bytes, 0)?;
        Ok(Self(*bytes))
    }
}

/// A PRF output (`Nh` = 64 bytes). Keys the fields level (spec §10.4); zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Output(pub(crate) [u8; OUTPUT_LEN]);

impl core::fmt::Debug for Output {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Output").finish_non_exhaustive()
    }
}

impl Output {
    /// The output bytes.
    pub fn as_bytes(&self) -> &[u8; OUTPUT_LEN] {
        &self.0
    }
}

/// RFC 9497 §3.3.1 `Blind(input)` with a given blind.
///
/// ```text
/// inputElement = G.HashToGroup(input)
/// if inputElement == G.Identity():
///   raise InvalidInputError
/// blindedElement = blind * inputElement
/// ```
pub fn blind_with(input: &[u8], blind: &Blind) -> Result<BlindedElement, Error> {
    Ok(BlindedElement(hash_input(input)? * blind.0))
}

/// RFC 9497 §3.3.1 `Blind(input)`: a fresh random blind and the blinded element.
pub fn blind(input: &[u8], rng: &mut impl CryptoRng) -> Result<(Blind, BlindedElement), Error> {
    let r = Blind::random(rng);
    let blinded = blind_with(input, &r)?;
    Ok((r, blinded))
}

/// RFC 9497 §3.3.1 `Finalize(input, blind, evaluatedElement)`.
///
/// ```text
/// N = G.ScalarInverse(blind) * evaluatedElement
/// unblindedElement = G.SerializeElement(N)
/// hashInput = I2OSP(len(input), 2) || input ||
///             I2OSP(len(unblindedElement), 2) || unblindedElement ||
///             "Finalize"
/// return Hash(hashInput)
/// ```
pub fn finalize(input: &[u8], blind: &Blind, evaluated: &EvaluatedElement) -> Result<Output, Error> {
    let point = group::deserialize_element(&evaluated.0, 0)?;
    let unblinded = (point * blind.0.invert()).compress().to_bytes();
    Ok(finalize_hash(input, &unblinded))
}

/// `I2OSP(32, 2)`: the length of a serialized element in `Finalize`.
const ELEMENT_LEN_STR: [u8; 2] = [0, 32];
const _: () = assert!(ELEMENT_LEN == 32);

/// `Finalize` once the blind is removed: the hash that both `Finalize` and `Evaluate` end with.
pub(crate) fn finalize_hash(input: &[u8], unblinded: &ElementBytes) -> Output {
    let mut h = Sha512::new();
    #[allow(clippy::cast_possible_truncation, reason = "OPRF inputs are checked to be at most 65535 bytes")]
    let input_len = (input.len() as u16).to_be_bytes();
    h.update(input_len);
    h.update(input);
    h.update(ELEMENT_LEN_STR);
    h.update(unblinded);
    h.update(b"Finalize");
    Output(h.finalize().into())
}

/// `HashToGroup(input)`, refusing the identity as RFC 9497 requires.
pub(crate) fn hash_input(input: &[u8]) -> Result<RistrettoPoint, Error> {
    if input.len() > usize::from(u16::MAX) {
        return Err(InputError::OprfInputTooLong(input.len()).into());
    }
    let element = group::hash_to_group(input, HASH_TO_GROUP_DST);
    if element == RistrettoPoint::identity() {
        return Err(Error::InvalidInputElement);
    }
    Ok(element)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `I2OSP(len(input), 2)` bounds an input at 65,535 bytes (RFC 9497 §3.3.1): that many are
    /// evaluated, one more is refused before any hashing.
    #[test]
    fn an_input_is_at_most_65535_bytes() {
        let key = OprfKey::derive(&[5; 32], b"input limit").unwrap();
        let longest = vec![0x61; usize::from(u16::MAX)];
        assert_eq!(key.evaluate(&longest).unwrap(), key.evaluate(&longest).unwrap());
        let too_long = vec![0x61; usize::from(u16::MAX) + 1];
        assert!(matches!(key.evaluate(&too_long), Err(Error::Input(InputError::OprfInputTooLong(65_536)))));
        assert!(matches!(hash_input(&too_long), Err(Error::Input(InputError::OprfInputTooLong(65_536)))));
    }
}

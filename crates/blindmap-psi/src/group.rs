//! The prime-order group ristretto255 (RFC 9496) and the hashing into it that RFC 9497 uses.
//!
//! Everything here is data-parallel over slices (rayon) and does no I/O.

use std::sync::LazyLock;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rayon::prelude::*;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::DecodeError;

/// Length of a serialized element (RFC 9497 §4.1: `Ne = 32`).
pub const ELEMENT_LEN: usize = 32;
/// Length of a tag, the truncated encoding of a doubly evaluated element (spec §4.5).
pub const TAG_LEN: usize = 16;
/// Slices are processed in parallel in pieces of this many elements: large enough to amortise
/// the batched inversion in compression, small enough to balance across cores.
const PAR_PIECE: usize = 128;

/// A serialized group element, as it travels (RFC 9497 §4.1 `SerializeElement`).
pub type ElementBytes = [u8; ELEMENT_LEN];
/// The first [`TAG_LEN`] bytes of a serialized element (spec §4.5).
pub type Tag = [u8; TAG_LEN];

/// `SHA-512` input block size, `s_in_bytes` of RFC 9380 §5.3.1.
const SHA512_BLOCK: usize = 128;

/// SHA-512 state after absorbing `Z_pad`: every `expand_message_xmd` call starts from here, so
/// the constant first block is hashed once per process rather than once per element.
static ZPAD_STATE: LazyLock<Sha512> = LazyLock::new(|| {
    let mut h = Sha512::new();
    h.update([0u8; SHA512_BLOCK]);
    h
});

/// RFC 9380 §5.3.1 `expand_message_xmd` with SHA-512.
///
/// `out.len()` must be at most `255 * 64` and `dst.len()` at most 255 (both are constants in
/// this crate; a violation is a programming error).
pub fn expand_message_xmd(msg: &[u8], dst: &[u8], out: &mut [u8]) {
    const B_IN_BYTES: usize = 64;
    let len_in_bytes = out.len();
    // 1. ell = ceil(len_in_bytes / b_in_bytes)
    let ell = len_in_bytes.div_ceil(B_IN_BYTES);
    // 2. ABORT if ell > 255 or len_in_bytes > 65535 or len(DST) > 255
    assert!(ell <= 255 && len_in_bytes <= 65535 && dst.len() <= 255, "expand_message_xmd bounds");
    // Each narrowing below is within the bounds step 2 just asserted.
    #[allow(clippy::cast_possible_truncation, reason = "len(DST) <= 255, asserted above")]
    let dst_len = [dst.len() as u8];
    #[allow(clippy::cast_possible_truncation, reason = "len_in_bytes <= 65535, asserted above")]
    let l_i_b_str = (len_in_bytes as u16).to_be_bytes();
    // 6. msg_prime = Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime
    // 7. b_0 = H(msg_prime)
    let mut h = ZPAD_STATE.clone();
    h.update(msg);
    h.update(l_i_b_str);
    h.update([0u8]);
    h.update(dst);
    h.update(dst_len);
    let b0: [u8; 64] = h.finalize().into();
    // 8. b_1 = H(b_0 || I2OSP(1, 1) || DST_prime)
    // 10. b_i = H(strxor(b_0, b_(i - 1)) || I2OSP(i, 1) || DST_prime)
    // With `prev` all zeros for b_1, one formula serves every block: strxor(b_0, 0) = b_0.
    let mut prev = [0u8; 64];
    for (i, piece) in out.chunks_mut(B_IN_BYTES).enumerate() {
        let mut input = b0;
        for (x, p) in input.iter_mut().zip(prev.iter()) {
            *x ^= p;
        }
        let mut h = Sha512::new();
        h.update(input);
        #[allow(clippy::cast_possible_truncation, reason = "i < ell <= 255, asserted above")]
        let i_str = [(i + 1) as u8];
        h.update(i_str);
        h.update(dst);
        h.update(dst_len);
        prev = h.finalize().into();
        // 11-12. uniform_bytes = b_1 || ... || b_ell, truncated
        piece.copy_from_slice(&prev[..piece.len()]);
    }
}

/// RFC 9380 Appendix B `hash_to_ristretto255`: 64 uniform bytes mapped with the ristretto255
/// one-way map of RFC 9496 §4.3.4 (`from_uniform_bytes`).
pub fn hash_to_group(msg: &[u8], dst: &[u8]) -> RistrettoPoint {
    let mut uniform = [0u8; 64];
    expand_message_xmd(msg, dst, &mut uniform);
    RistrettoPoint::from_uniform_bytes(&uniform)
}

/// RFC 9497 §4.1 `HashToScalar` for ristretto255: 64 uniform bytes reduced modulo the group order.
pub fn hash_to_scalar(msg: &[u8], dst: &[u8]) -> Scalar {
    let mut uniform = [0u8; 64];
    expand_message_xmd(msg, dst, &mut uniform);
    let s = Scalar::from_bytes_mod_order_wide(&uniform);
    uniform.zeroize();
    s
}

/// RFC 9497 §2.1 `DeserializeElement`: canonical encodings only, and never the identity
/// (spec §8.3).
pub fn deserialize_element(bytes: &ElementBytes, index: usize) -> Result<RistrettoPoint, DecodeError> {
    let point = CompressedRistretto(*bytes).decompress().ok_or(DecodeError::NonCanonicalElement { index })?;
    if point == RistrettoPoint::identity() {
        return Err(DecodeError::IdentityElement { index });
    }
    Ok(point)
}

/// [`deserialize_element`] over a slice, in parallel; the first failure (lowest index) wins.
pub fn deserialize_elements(bytes: &[ElementBytes]) -> Result<Vec<RistrettoPoint>, DecodeError> {
    bytes.par_iter().enumerate().map(|(i, b)| deserialize_element(b, i)).collect()
}

/// The tag of an element: its first [`TAG_LEN`] serialized bytes (spec §4.5).
pub fn tag_of(element: &ElementBytes) -> Tag {
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&element[..TAG_LEN]);
    tag
}

/// A secret scalar used to raise many elements: an RFC 9497 private key (`skS`) or a session
/// match key (spec §7). Zeroized on drop; its `Debug` shows nothing.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretScalar {
    scalar: Scalar,
    /// `scalar / 2`: `[k]P` is serialized as `double([k/2]P)`, whose encoding needs one batched
    /// inversion instead of one inverse square root per element (RFC 9496 §4.3.2 via
    /// `double_and_compress_batch`).
    half: Scalar,
}

impl SecretScalar {
    /// Wraps a non-zero scalar.
    pub(crate) fn new(scalar: Scalar) -> Self {
        let half = scalar * Scalar::from(2u8).invert();
        Self { scalar, half }
    }

    /// The scalar itself, for the few places that need it.
    pub(crate) fn scalar(&self) -> &Scalar {
        &self.scalar
    }

    /// `SerializeElement([k]P)` for every `P`, in parallel.
    pub fn raise_serialize(&self, points: &[RistrettoPoint]) -> Vec<ElementBytes> {
        let mut out = Vec::with_capacity(points.len());
        out.par_extend(points.par_chunks(PAR_PIECE).flat_map_iter(|piece| {
            let halves: Vec<RistrettoPoint> = piece.iter().map(|p| p * self.half).collect();
            RistrettoPoint::double_and_compress_batch(&halves).into_iter().map(|c| c.to_bytes())
        }));
        out
    }

    /// `Tag([k]P)` for every `P`, in parallel (spec §4.5).
    pub fn raise_tags(&self, points: &[RistrettoPoint]) -> Vec<Tag> {
        let mut out = Vec::with_capacity(points.len());
        out.par_extend(points.par_chunks(PAR_PIECE).flat_map_iter(|piece| {
            let halves: Vec<RistrettoPoint> = piece.iter().map(|p| p * self.half).collect();
            RistrettoPoint::double_and_compress_batch(&halves).into_iter().map(|c| tag_of(&c.to_bytes()))
        }));
        out
    }
}

impl core::fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretScalar").finish_non_exhaustive()
    }
}

/// `HashToGroup` for many inputs, in parallel.
pub fn hash_to_group_all<'a, I>(inputs: &'a [I], dst: &[u8]) -> Vec<RistrettoPoint>
where
    I: AsRef<[u8]> + Sync + 'a,
{
    inputs.par_iter().map(|m| hash_to_group(m.as_ref(), dst)).collect()
}

/// A uniformly random element from 64 pseudorandom bytes: the stand-in elements of counted streams (spec §9.5).
pub fn element_from_uniform(bytes: &[u8; 64]) -> RistrettoPoint {
    RistrettoPoint::from_uniform_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_message_xmd_matches_rfc9380_k3() {
        // RFC 9380 Appendix K.3, expand_message_xmd(SHA-512), DST below, len_in_bytes = 0x20.
        let dst = b"QUUX-V01-CS02-with-expander-SHA512-256";
        let mut out = [0u8; 32];
        expand_message_xmd(b"abcdef0123456789", dst, &mut out);
        assert_eq!(hex::encode(out), "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58");
        // len_in_bytes = 0x80: two blocks, the second chained from the first (step 10).
        let mut out = [0u8; 128];
        expand_message_xmd(b"", dst, &mut out);
        assert_eq!(
            hex::encode(out),
            "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921\
             b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e\
             0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e\
             b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"
        );
    }

    #[test]
    fn a_secret_scalar_never_prints_its_value() {
        let secret = SecretScalar::new(Scalar::from(0x1234_5678_u64));
        let printed = format!("{secret:?} {secret:#?}");
        assert!(printed.starts_with("SecretScalar"), "{printed}");
        assert!(!printed.contains("78") && !printed.contains("bytes"), "{printed}");
    }

    #[test]
    fn long_expansion_is_a_prefix_free_chain() {
        // Lengths that need several blocks produce independent blocks, and a shorter request is
        // not a prefix of a longer one (l_i_b_str is hashed in).
        let mut a = [0u8; 200];
        let mut b = [0u8; 64];
        expand_message_xmd(b"msg", b"DST", &mut a);
        expand_message_xmd(b"msg", b"DST", &mut b);
        assert_ne!(&a[..64], &b[..]);
        assert_ne!(&a[..64], &a[64..128]);
    }

    #[test]
    fn raise_serialize_equals_plain_multiplication() {
        let key = SecretScalar::new(hash_to_scalar(b"k", b"test"));
        let points: Vec<RistrettoPoint> = (0..300u32).map(|i| hash_to_group(&i.to_be_bytes(), b"test")).collect();
        let fast = key.raise_serialize(&points);
        let tags = key.raise_tags(&points);
        for ((p, f), t) in points.iter().zip(&fast).zip(&tags) {
            let plain = (p * key.scalar()).compress().to_bytes();
            assert_eq!(&plain, f);
            assert_eq!(&plain[..TAG_LEN], t);
        }
    }

    #[test]
    fn deserialize_rejects_identity_and_non_canonical() {
        let identity = RistrettoPoint::identity().compress().to_bytes();
        assert_eq!(deserialize_element(&identity, 3), Err(DecodeError::IdentityElement { index: 3 }));
        // p = 2^255 - 19 is not a canonical field element encoding.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xed;
        non_canonical[31] = 0x7f;
        assert_eq!(deserialize_element(&non_canonical, 0), Err(DecodeError::NonCanonicalElement { index: 0 }));
        // A negative field element (odd encoding) is not canonical for ristretto255.
        let mut odd = hash_to_group(b"x", b"y").compress().to_bytes();
        odd[0] |= 1;
        assert!(deserialize_element(&odd, 0).is_err());
    }
}

//! The session seed and everything a party derives from it (spec §7).
//!
//! A session's keys, blinds, shuffles and stand-ins all come from one 32-byte seed through named
//! derivations. In production the seed is fresh randomness for every session; fixing it (test
//! vectors only) makes every message byte reproducible by an independent implementation.

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::Error;
use crate::oprf::OprfKey;

/// Length of a session seed.
pub(crate) const SEED_LEN: usize = 32;

/// The secret from which a party derives all of its session randomness (spec §7).
///
/// Zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SessionSeed([u8; SEED_LEN]);

impl core::fmt::Debug for SessionSeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionSeed").finish_non_exhaustive()
    }
}

impl SessionSeed {
    /// A fresh seed: what every real session uses.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; SEED_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A fixed seed, for test vectors only: two sessions with the same seed and inputs send the
    /// same bytes, which is exactly what a real session must never do.
    #[cfg(feature = "deterministic")]
    pub fn from_bytes_unchecked(bytes: [u8; SEED_LEN]) -> Self {
        Self(bytes)
    }

    /// The seed bytes, for test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn to_bytes(&self) -> [u8; SEED_LEN] {
        self.0
    }

    /// A seed from its bytes: kept keys read back (`KeptKeys`, spec §20.5).
    pub(crate) fn from_array(bytes: [u8; SEED_LEN]) -> Self {
        Self(bytes)
    }

    /// The seed's bytes, to keep (`KeptKeys`).
    pub(crate) fn as_array(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// `PRG(seed, label)` of spec §7.1.
    pub(crate) fn prg(&self, label: &[u8]) -> Prg {
        Prg::new(&self.0, label)
    }

    /// `DeriveKeyPair(seed, info)` of RFC 9497 §3.2.1 with this seed (spec §7.2).
    pub(crate) fn oprf_key(&self, info: &[u8]) -> Result<OprfKey, Error> {
        OprfKey::derive(&self.0, info)
    }
}

/// The deterministic generator of spec §7.1:
/// `B_i = SHA-512(I2OSP(len(label), 2) || label || seed || I2OSP(i, 8))`, output `B_0 || B_1 || …`.
pub(crate) struct Prg {
    prefix: Sha512,
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl Drop for Prg {
    fn drop(&mut self) {
        self.block.zeroize();
    }
}

impl Prg {
    fn new(seed: &[u8; SEED_LEN], label: &[u8]) -> Self {
        let mut prefix = Sha512::new();
        #[allow(clippy::cast_possible_truncation, reason = "labels are constants and indices, tens of bytes")]
        let label_len = (label.len() as u16).to_be_bytes();
        prefix.update(label_len);
        prefix.update(label);
        prefix.update(seed);
        Self { prefix, counter: 0, block: [0; 64], used: 64 }
    }

    fn refill(&mut self) {
        let mut h = self.prefix.clone();
        h.update(self.counter.to_be_bytes());
        self.block = h.finalize().into();
        self.counter += 1;
        self.used = 0;
    }

    /// The next `out.len()` bytes of the stream.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        let mut written = 0;
        while written < out.len() {
            if self.used == 64 {
                self.refill();
            }
            let n = (64 - self.used).min(out.len() - written);
            out[written..written + n].copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            written += n;
        }
    }

    /// The next 8 bytes, read little-endian.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// A uniform integer in `[0, n)`, `n > 0` (spec §7.1): draw `x`; redraw while
    /// `x < 2^64 mod n`; return `x mod n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let reject_under = (u64::MAX % n + 1) % n;
        loop {
            let x = self.next_u64();
            if x >= reject_under {
                return x % n;
            }
        }
    }

    /// Fisher–Yates, from the last position down (spec §7.1):
    /// `for i = n-1 down to 1: j = below(i+1); swap(i, j)`.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            #[allow(clippy::cast_possible_truncation, reason = "below(i + 1) <= i, itself a usize")]
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A uniformly random non-zero scalar: 64 bytes reduced modulo the group order, redrawn on zero.
    pub(crate) fn scalar(&mut self) -> Scalar {
        loop {
            let mut wide = [0u8; 64];
            self.fill(&mut wide);
            let s = Scalar::from_bytes_mod_order_wide(&wide);
            wide.zeroize();
            if s != Scalar::ZERO {
                return s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(b: u8) -> SessionSeed {
        SessionSeed([b; SEED_LEN])
    }

    #[test]
    fn prg_is_deterministic_and_label_separated() {
        let mut a = [0u8; 100];
        let mut b = [0u8; 100];
        seed(1).prg(b"x").fill(&mut a);
        seed(1).prg(b"x").fill(&mut b);
        assert_eq!(a, b);
        seed(1).prg(b"y").fill(&mut b);
        assert_ne!(a, b);
        seed(2).prg(b"x").fill(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn prg_blocks_follow_the_spec_formula() {
        let s = seed(7);
        let mut got = [0u8; 70];
        s.prg(b"label").fill(&mut got);
        for (i, chunk) in got.chunks(64).enumerate() {
            let mut h = Sha512::new();
            h.update(5u16.to_be_bytes());
            h.update(b"label");
            h.update([7u8; 32]);
            h.update((i as u64).to_be_bytes());
            let block: [u8; 64] = h.finalize().into();
            assert_eq!(chunk, &block[..chunk.len()]);
        }
    }

    #[test]
    fn below_stays_in_range_and_shuffle_permutes() {
        let mut prg = seed(3).prg(b"t");
        for n in [1u64, 2, 3, 7, 1000, u64::MAX] {
            for _ in 0..50 {
                assert!(prg.below(n) < n);
            }
        }
        let mut v: Vec<u32> = (0..1000).collect();
        prg.shuffle(&mut v);
        assert_ne!(v, (0..1000).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn seed_is_zeroized() {
        let mut s = seed(9);
        s.zeroize();
        assert_eq!(s.0, [0u8; SEED_LEN]);
    }

    #[test]
    fn a_stream_read_in_uneven_pieces_is_the_same_stream() {
        let mut whole = [0u8; 300];
        seed(5).prg(b"pieces").fill(&mut whole);
        let mut prg = seed(5).prg(b"pieces");
        let mut pieces = Vec::new();
        for n in [3, 61, 70, 1, 64, 101] {
            let mut piece = vec![0; n];
            prg.fill(&mut piece);
            pieces.extend(piece);
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn below_rejects_exactly_the_draws_under_2_64_mod_n() {
        // A power of two rejects nothing; 2^63 + 1 rejects almost half of all draws.
        for n in [1u64 << 63, (1 << 63) + 1, 3, 6, u64::MAX] {
            let reject_under = u64::try_from((1u128 << 64) % u128::from(n)).unwrap();
            let mut prg = seed(6).prg(b"below");
            let mut reference = seed(6).prg(b"below");
            for _ in 0..64 {
                let want = loop {
                    let x = reference.next_u64();
                    if x >= reject_under {
                        break x % n;
                    }
                };
                assert_eq!(prg.below(n), want, "{n}");
            }
        }
    }
}

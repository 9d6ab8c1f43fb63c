//! Compact membership (spec §9.7): a sender that learns nothing may serve each segment's evaluated
//! elements as a Bloom filter instead of a list. The format is ours, specified byte for byte in
//! spec §9.7: a 45-byte header, then the bitmap; each element sets `k` bits, each chosen by its own
//! SipHash-1-3 probe.

use core::hash::Hasher;

use siphasher::sip::SipHasher13;

use crate::error::BloomDefect;
use crate::group::ElementBytes;

/// The serialized header: version (1), bitmap length (8, LE), hash count (4, LE), seed (32).
pub(crate) const HEADER_LEN: usize = 45;
/// The only format version (spec §9.7).
const VERSION: u8 = 1;
/// The header's hash count: always 1, one SipHash per probe (spec §9.7).
const HASH_COUNT: u32 = 1;

/// The filter parameters both sides derive from the declared sizes (spec §9.7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Params {
    /// Items in the filter.
    pub(crate) items: u64,
    /// Probes per item: `k = ceil(log2(lookups * 10^6)) + 1`, so that `2^-k <= p / 2` with
    /// `p = 10^-6 / lookups`.
    pub(crate) hashes: u8,
    /// Bitmap bytes: `max(ceil(n k / (8 ln 2)), 8 k)`, which keeps the filter at most half full.
    pub(crate) bytes: u64,
}

impl Params {
    pub(crate) fn new(items: u64, lookups: u64) -> Self {
        let inverse_rate = u128::from(lookups.max(1)) * 1_000_000;
        // The bit length of a u128 plus one is at most 129: it fits a u8.
        #[allow(clippy::cast_possible_truncation)]
        let hashes = (u128::BITS - (inverse_rate - 1).leading_zeros() + 1) as u8;
        let items = items.max(1);
        // A float-to-integer `as` saturates; with items declared under MAX_RECORDS x
        // MAX_KEYS_PER_RECORD (< 2^40) and k <= 129 the value is below 2^46, exact in an f64.
        #[allow(clippy::cast_possible_truncation)]
        let bytes = ((items as f64) * f64::from(hashes) / (8.0 * core::f64::consts::LN_2)).ceil() as u64;
        Self { items, hashes, bytes: bytes.max(8 * u64::from(hashes)) }
    }

    /// Whether a filter announced as `total_len` serialized bytes can have these parameters
    /// (spec §9.7): checked before any of it is buffered.
    pub(crate) fn plausible_len(&self, total_len: u64) -> bool {
        near(total_len, HEADER_LEN as u64 + self.bytes)
    }
}

/// spec §9.7: sizes may differ from the expected ones by 1% plus 8 bytes (rounding).
fn near(actual: u64, expected: u64) -> bool {
    actual.abs_diff(expected) <= expected / 100 + 8
}

/// The `k` bit positions of an element (spec §9.7): probe `j` is SipHash-1-3, keyed with the
/// seed's first 16 bytes, of the 33 bytes `element || j`, reduced modulo the bitmap's bits.
/// The element's 32 bytes are absorbed once; each probe then adds its one byte to a copy.
fn positions(key: &[u8; 16], element: &ElementBytes, hashes: u8, bits: u64) -> impl Iterator<Item = u64> {
    let mut absorbed = SipHasher13::new_with_key(key);
    absorbed.write(element);
    (0..hashes).map(move |j| {
        let mut probe = absorbed;
        probe.write(&[j]);
        probe.finish() % bits
    })
}

/// Byte index and mask of bit `i` of a bitmap (spec §9.7: bit `i mod 8`, least significant first,
/// of byte `⌊i / 8⌋`).
fn locate(i: u64) -> (usize, u8) {
    // `i` is below the bitmap's bits, so `i / 8` is below its length, itself a usize.
    #[allow(clippy::cast_possible_truncation)]
    let byte = (i / 8) as usize;
    (HEADER_LEN + byte, 1 << (i % 8))
}

/// The SipHash key: the seed's first half (spec §9.7; the second half is carried, unused).
fn sip_key(seed: &[u8; 32]) -> [u8; 16] {
    let mut key = [0; 16];
    key.copy_from_slice(&seed[..16]);
    key
}

/// Builds a filter with the spec's parameters and a given seed.
pub(crate) struct Builder {
    /// The serialized filter being filled: header, then bitmap.
    bytes: Vec<u8>,
    key: [u8; 16],
    hashes: u8,
    bits: u64,
}

impl Builder {
    /// An empty filter, or `None` when its bitmap could not be addressed on this platform.
    pub(crate) fn new(params: &Params, seed: &[u8; 32]) -> Option<Self> {
        let len = usize::try_from(params.bytes).ok()?.checked_add(HEADER_LEN)?;
        let mut bytes = vec![0; len];
        bytes[0] = VERSION;
        bytes[1..9].copy_from_slice(&params.bytes.to_le_bytes());
        bytes[9..13].copy_from_slice(&HASH_COUNT.to_le_bytes());
        bytes[13..HEADER_LEN].copy_from_slice(seed);
        Some(Self { bytes, key: sip_key(seed), hashes: params.hashes, bits: params.bytes * 8 })
    }

    pub(crate) fn insert_all(&mut self, elements: &[ElementBytes]) {
        for e in elements {
            for i in positions(&self.key, e, self.hashes, self.bits) {
                let (byte, mask) = locate(i);
                self.bytes[byte] |= mask;
            }
        }
    }

    /// The serialized filter (spec §9.7).
    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
fn build(params: &Params, seed: &[u8; 32], elements: &[ElementBytes]) -> Vec<u8> {
    let mut b = Builder::new(params, seed).unwrap();
    b.insert_all(elements);
    b.finish()
}

/// The header's fields: version, bitmap length, hash count, seed.
fn header(bytes: &[u8]) -> Option<(u8, u64, u32, &[u8; 32])> {
    let (&[version], rest) = bytes.split_first_chunk::<1>()?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let (hashes, rest) = rest.split_first_chunk::<4>()?;
    let seed = rest.first_chunk::<32>()?;
    Some((version, u64::from_le_bytes(*len), u32::from_le_bytes(*hashes), seed))
}

/// A received filter, checked against the parameters the receiver expects.
pub(crate) struct Received {
    bytes: Vec<u8>,
    key: [u8; 16],
    hashes: u8,
    bits: u64,
}

impl Received {
    /// Parses and checks a filter (spec §9.7): version 1, hash count 1, a bitmap within
    /// 1% (+8 bytes) of the expected size, and no more bits set than `n` items can plausibly set:
    /// `E + 6 sqrt(E) + 16` with `E = m (1 - (1 - 1/m)^(k n))`. A saturated filter, which would
    /// make every element look like a member, fails the last check.
    pub(crate) fn parse(bytes: Vec<u8>, expected: &Params) -> Result<Self, BloomDefect> {
        let (version, len_bytes, hash_count, seed) = header(&bytes).ok_or(BloomDefect::Truncated)?;
        if version != VERSION {
            return Err(BloomDefect::Version(version));
        }
        if hash_count != HASH_COUNT {
            return Err(BloomDefect::HashCount(hash_count));
        }
        if len_bytes != (bytes.len() - HEADER_LEN) as u64 {
            return Err(BloomDefect::HeaderLength);
        }
        if !near(len_bytes, expected.bytes) {
            return Err(BloomDefect::BitmapSize);
        }
        let set_bits: u64 = bytes[HEADER_LEN..].iter().map(|b| u64::from(b.count_ones())).sum();
        let m = (len_bytes * 8) as f64;
        let draws = f64::from(expected.hashes) * expected.items as f64;
        let expected_set = m * (1.0 - (draws * (-1.0 / m).ln_1p()).exp());
        if set_bits as f64 > expected_set + 6.0 * expected_set.sqrt() + 16.0 {
            return Err(BloomDefect::Saturated);
        }
        let key = sip_key(seed);
        Ok(Self { bytes, key, hashes: expected.hashes, bits: len_bytes * 8 })
    }

    /// Whether `element` may be in the set.
    pub(crate) fn contains(&self, element: &ElementBytes) -> bool {
        positions(&self.key, element, self.hashes, self.bits).all(|i| {
            let (byte, mask) = locate(i);
            self.bytes[byte] & mask != 0
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::hash_to_group;

    const SEED: [u8; 32] = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
        31, 32,
    ];

    fn elements(n: u32, salt: u8) -> Vec<ElementBytes> {
        (0..n)
            .map(|i| hash_to_group(&[&i.to_be_bytes()[..], &[salt]].concat(), b"bloom").compress().to_bytes())
            .collect()
    }

    #[test]
    fn build_then_check_has_no_false_negatives() {
        let params = Params::new(500, 1000);
        let members = elements(500, 0);
        let received = Received::parse(build(&params, &SEED, &members), &params).unwrap();
        assert!(members.iter().all(|e| received.contains(e)));
        assert!(elements(1000, 1).iter().all(|e| !received.contains(e)));
    }

    #[test]
    fn size_follows_the_formula() {
        // 10M items, 10k lookups: p = 1e-10, k = ceil(log2 1e10) + 1 = 35, 35 / ln 2 = 50.5 bits each.
        let p = Params::new(10_000_000, 10_000);
        assert_eq!(p.hashes, 35);
        assert!((p.bytes as f64 / 10_000_000.0 * 8.0 - 50.5).abs() < 0.1, "{p:?}");
        // One lookup: p = 1e-6, k = 21; tiny sets get the minimum size.
        assert_eq!(Params::new(1, 1), Params { items: 1, hashes: 21, bytes: 168 });
    }

    #[test]
    fn false_positive_rate_meets_the_target() {
        // 20,000 lookups against a filter designed for 1,000 lookups: expect at most 0.02.
        let params = Params::new(200, 1_000);
        let received = Received::parse(build(&params, &SEED, &elements(200, 0)), &params).unwrap();
        assert_eq!(elements(20_000, 1).iter().filter(|e| received.contains(e)).count(), 0);
    }

    #[test]
    fn saturated_or_resized_filters_are_rejected() {
        let params = Params::new(100, 100);
        let mut bytes = build(&params, &SEED, &elements(100, 0));
        for b in &mut bytes[HEADER_LEN..] {
            *b = 0xff;
        }
        assert_eq!(Received::parse(bytes, &params).err(), Some(BloomDefect::Saturated));
        let small = Params::new(10, 100);
        let err = Received::parse(build(&small, &SEED, &elements(10, 0)), &params).err();
        assert_eq!(err, Some(BloomDefect::BitmapSize));
    }

    /// The saturation bound, `E + 6 sqrt(E) + 16` set bits, at its edge.
    #[test]
    fn the_saturation_bound_is_exact() {
        let with_bits = |params: &Params, n: usize| {
            let mut bytes = build(params, &SEED, &[]);
            bytes[HEADER_LEN..].fill(0);
            for i in 0..n {
                bytes[HEADER_LEN + i / 8] |= 1 << (i % 8);
            }
            Received::parse(bytes, params).err()
        };
        // One item, 21 probes, 1,344 bits: E = 1344 (1 - (1 - 1/1344)^21) = 20.84, so the
        // bound is 20.84 + 27.39 + 16 = 64.23.
        let one = Params::new(1, 1);
        assert_eq!(with_bits(&one, 64), None);
        assert_eq!(with_bits(&one, 65), Some(BloomDefect::Saturated));
        // Nothing declared: E = 0 and the bound is the slack alone, 16 bits, which may be set.
        let none = Params { items: 0, ..one };
        assert_eq!(with_bits(&none, 16), None);
        assert_eq!(with_bits(&none, 17), Some(BloomDefect::Saturated));
    }

    #[test]
    fn the_header_is_the_one_spec_9_7_lays_out() {
        let params = Params::new(3, 1);
        let bytes = build(&params, &SEED, &elements(3, 0));
        assert_eq!(bytes.len(), HEADER_LEN + 168);
        assert_eq!(bytes[0], 1, "version");
        assert_eq!(bytes[1..9], 168u64.to_le_bytes(), "bitmap length");
        assert_eq!(bytes[9..13], 1u32.to_le_bytes(), "hash count");
        assert_eq!(bytes[13..45], SEED, "seed");
        // 3 elements x 21 probes set at most 63 bits, and at least one.
        let set: u32 = bytes[HEADER_LEN..].iter().map(|b| b.count_ones()).sum();
        assert!((1..=63).contains(&set), "{set}");
    }

    #[test]
    fn probes_are_siphash_1_3_of_the_element_and_probe_index() {
        // SipHash-1-3 keyed with the seed's first half over `e || j`, modulo the bitmap's bits;
        // bit i is bit i mod 8 of byte i / 8 (spec §9.7).
        let params = Params::new(1, 1);
        let e = elements(1, 0)[0];
        let bytes = build(&params, &SEED, &[e]);
        let mut expected = vec![0u8; 168];
        for j in 0..21u8 {
            let mut h = SipHasher13::new_with_key(&SEED[..16].try_into().unwrap());
            h.write(&[&e[..], &[j]].concat());
            let i = h.finish() % (168 * 8);
            expected[(i / 8) as usize] |= 1 << (i % 8);
        }
        assert_eq!(bytes[HEADER_LEN..], expected);
        // The seed's second half is carried, not used.
        let mut other = SEED;
        other[16..].fill(0xaa);
        assert_eq!(build(&params, &other, &[e])[HEADER_LEN..], expected);
    }

    #[test]
    fn each_header_field_is_checked() {
        let params = Params::new(50, 10);
        let good = build(&params, &SEED, &elements(50, 0));
        let with = |change: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            change(&mut bytes);
            Received::parse(bytes, &params).err()
        };
        assert_eq!(with(&|_| {}), None);
        assert_eq!(with(&|b| b[0] = 2), Some(BloomDefect::Version(2)));
        assert_eq!(with(&|b| b[0] = 0), Some(BloomDefect::Version(0)));
        assert_eq!(with(&|b| b[9] = 2), Some(BloomDefect::HashCount(2)));
        assert_eq!(with(&|b| b[12] = 1), Some(BloomDefect::HashCount(0x0100_0001)));
        assert_eq!(with(&|b| b.truncate(HEADER_LEN - 1)), Some(BloomDefect::Truncated));
        assert_eq!(with(&|b| b.push(0)), Some(BloomDefect::HeaderLength));
        assert_eq!(with(&|b| b[1] ^= 1), Some(BloomDefect::HeaderLength));
        // A filter whose header and body agree but whose size is off by more than 1% + 8 bytes.
        let len = good.len() - HEADER_LEN;
        let shrunk = |by: usize| {
            let mut bytes = good[..good.len() - by].to_vec();
            bytes[1..9].copy_from_slice(&((len - by) as u64).to_le_bytes());
            Received::parse(bytes, &params).err()
        };
        let slack = len / 100 + 8;
        assert_eq!(shrunk(slack), None);
        assert_eq!(shrunk(slack + 1), Some(BloomDefect::BitmapSize));
    }

    #[test]
    fn sizes_are_plausible_within_one_percent_and_eight_bytes() {
        let params = Params::new(10_000, 10);
        let total = HEADER_LEN as u64 + params.bytes;
        let slack = total / 100 + 8;
        assert!(params.plausible_len(total));
        assert!(params.plausible_len(total + slack) && params.plausible_len(total - slack));
        assert!(!params.plausible_len(total + slack + 1) && !params.plausible_len(total - slack - 1));
    }
}

//! Compact membership (spec §9.7): a sender that learns nothing may serve each segment's evaluated
//! elements as a Bloom filter (the `bloomfilter` crate's serialization) instead of a list.

use std::hash::{Hash, Hasher};

use bloomfilter::Bloom;

use crate::group::ElementBytes;

/// The serialized header: version (1), bitmap length (8, LE), hash count (4, LE), seed (32).
pub(crate) const HEADER_LEN: usize = 45;

/// One of an element's `k` probes: SipHash-1-3 over the element's 32 bytes followed by the probe
/// index, keyed with the first half of the filter seed (spec §9.7).
#[derive(Clone, Copy)]
struct Probe(ElementBytes, u8);

impl Hash for Probe {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
        state.write(&[self.1]);
    }
}

/// The filter parameters both sides derive from the declared sizes (spec §9.7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Params {
    /// Items in the filter.
    pub(crate) items: u64,
    /// Probes per item: `k = ceil(log2(lookups * 10^6)) + 1`, so that `2^-k <= p / 2` with
    /// `p = 10^-6 / lookups`.
    pub(crate) hashes: u32,
    /// Bitmap bytes: `max(ceil(n k / (8 ln 2)), 8 k)`, which keeps the filter at most half full.
    pub(crate) bytes: u64,
}

impl Params {
    pub(crate) fn new(items: u64, lookups: u64) -> Self {
        let inverse_rate = (lookups.max(1) as u128) * 1_000_000;
        let hashes = 128 - (inverse_rate - 1).leading_zeros() + 1;
        let items = items.max(1);
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

/// The `bloomfilter` crate's filter with one hash function per item: we insert `k` probes per
/// element, each setting the bit `SipHash(probe) mod m`. Unlike the crate's double hashing, the
/// `k` positions are independent, so the false-positive rate is the textbook one at any size.
fn filter(params: &Params, seed: &[u8; 32]) -> Bloom<Probe> {
    // Declaring as many items as bits makes the crate choose one hash function.
    let bits = (params.bytes * 8) as usize;
    Bloom::new_with_seed(params.bytes as usize, bits, seed).expect("non-zero sizes")
}

/// Builds a filter with the spec's parameters and a given seed.
pub(crate) struct Builder {
    filter: Bloom<Probe>,
    hashes: u8,
}

impl Builder {
    pub(crate) fn new(params: &Params, seed: &[u8; 32]) -> Self {
        Self { filter: filter(params, seed), hashes: params.hashes as u8 }
    }

    pub(crate) fn insert_all(&mut self, elements: &[ElementBytes]) {
        for e in elements {
            for j in 0..self.hashes {
                self.filter.set(&Probe(*e, j));
            }
        }
    }

    /// The serialized filter (spec §9.7).
    pub(crate) fn finish(self) -> Vec<u8> {
        self.filter.into_bytes()
    }
}

#[cfg(test)]
fn build(params: &Params, seed: &[u8; 32], elements: &[ElementBytes]) -> Vec<u8> {
    let mut b = Builder::new(params, seed);
    b.insert_all(elements);
    b.finish()
}

/// A received filter, checked against the parameters the receiver expects.
pub(crate) struct Received {
    filter: Bloom<Probe>,
    hashes: u8,
}

impl Received {
    /// Parses and checks a filter (spec §9.7): version 1, one crate hash function, a bitmap within
    /// 1% (+8 bytes) of the expected size, and no more bits set than `n` items can plausibly set:
    /// `E + 6 sqrt(E) + 16` with `E = m (1 - (1 - 1/m)^(k n))`. A saturated filter, which would
    /// make every element look like a member, fails the last check.
    pub(crate) fn parse(bytes: Vec<u8>, expected: &Params) -> Result<Self, &'static str> {
        if bytes.len() < HEADER_LEN || bytes[0] != 1 {
            return Err("not a version 1 filter");
        }
        let len_bytes = u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes"));
        let crate_hashes = u32::from_le_bytes(bytes[9..13].try_into().expect("4 bytes"));
        if crate_hashes != 1 {
            return Err("filters use one hash function per probe");
        }
        if len_bytes != (bytes.len() - HEADER_LEN) as u64 {
            return Err("the header's bitmap size differs from the filter's");
        }
        if !near(len_bytes, expected.bytes) {
            return Err("bitmap size does not match the declared set size");
        }
        let set_bits: u64 = bytes[HEADER_LEN..].iter().map(|b| u64::from(b.count_ones())).sum();
        let m = (len_bytes * 8) as f64;
        let draws = f64::from(expected.hashes) * expected.items as f64;
        let expected_set = m * (1.0 - (draws * (-1.0 / m).ln_1p()).exp());
        if set_bits as f64 > expected_set + 6.0 * expected_set.sqrt() + 16.0 {
            return Err("more bits set than the declared items can set (saturated filter)");
        }
        let filter = Bloom::from_bytes(bytes)?;
        Ok(Self { filter, hashes: expected.hashes as u8 })
    }

    /// Whether `element` may be in the set.
    pub(crate) fn contains(&self, element: &ElementBytes) -> bool {
        (0..self.hashes).all(|j| self.filter.check(&Probe(*element, j)))
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
        assert!(Received::parse(bytes, &params).is_err());
        let small = Params::new(10, 100);
        assert!(Received::parse(build(&small, &SEED, &elements(10, 0)), &params).is_err());
    }
}

//! Compact membership (spec §9.7): a sender that learns nothing may serve each segment's evaluated
//! elements as a Bloom filter (the `bloomfilter` crate's serialization) instead of a list.

use std::hash::{Hash, Hasher};

use bloomfilter::Bloom;

use crate::group::ElementBytes;

/// The expected number of false matches per session that the filter size is chosen for.
pub(crate) const TARGET_FALSE_MATCHES: f64 = 1e-6;
/// The serialized header: version (1), bitmap length (8, LE), hash count (4, LE), seed (32).
pub(crate) const HEADER_LEN: usize = 45;

/// An element as a filter item: hashed as its 32 bytes and nothing else (SipHash-1-3 over
/// exactly the serialized element; no length prefix).
#[derive(Clone, Copy)]
pub(crate) struct Item(pub(crate) ElementBytes);

impl Hash for Item {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

/// The filter parameters both sides derive from the declared sizes (spec §9.7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Params {
    /// Items in the filter.
    pub(crate) items: u64,
    /// Target false-positive rate per lookup.
    pub(crate) fp_rate: f64,
    /// Bitmap bytes.
    pub(crate) bytes: u64,
    /// Hash functions.
    pub(crate) hashes: u32,
}

impl Params {
    /// `p = 1e-6 / lookups`, `bytes = ceil(n * ln p / (-8 ln^2 2))`, `k = max(1, round(8 bytes / n * ln 2))`.
    pub(crate) fn new(items: u64, lookups: u64) -> Self {
        let fp_rate = TARGET_FALSE_MATCHES / lookups.max(1) as f64;
        let items = items.max(1);
        let ln2 = core::f64::consts::LN_2;
        let bytes = ((items as f64) * fp_rate.ln() / (-8.0 * ln2 * ln2)).ceil() as u64;
        let hashes = (((bytes * 8) as f64 / items as f64) * ln2).round().max(1.0) as u32;
        Self { items, fp_rate, bytes, hashes }
    }

    /// The serialized size.
    pub(crate) fn serialized_len(&self) -> u64 {
        HEADER_LEN as u64 + self.bytes
    }
}

/// Builds a filter with the spec's parameters and a given seed.
pub(crate) struct Builder(Bloom<Item>);

impl Builder {
    pub(crate) fn new(params: &Params, seed: &[u8; 32]) -> Self {
        Self(Bloom::new_with_seed(params.bytes as usize, params.items as usize, seed).expect("non-zero sizes"))
    }

    pub(crate) fn insert_all(&mut self, elements: &[ElementBytes]) {
        for e in elements {
            self.0.set(&Item(*e));
        }
    }

    /// The serialized filter (spec §9.7).
    pub(crate) fn finish(self) -> Vec<u8> {
        self.0.into_bytes()
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
    filter: Bloom<Item>,
}

impl Received {
    /// Parses and checks a filter (spec §9.7): header consistent, size and hash count within
    /// 1% (+8 bytes) and ±1 of the expected parameters, no more bits set than `k * n`, and a
    /// realised false-positive rate `(set/m)^k` at most twice the target. A saturated filter,
    /// which would make every element look like a member, fails the last two checks.
    pub(crate) fn parse(bytes: Vec<u8>, expected: &Params) -> Result<Self, &'static str> {
        if bytes.len() < HEADER_LEN {
            return Err("shorter than its header");
        }
        // The two SipHash keys must differ, or the double hashing degenerates (spec §9.7).
        if bytes[13..29] == bytes[29..45] {
            return Err("hash keys are equal");
        }
        let len_bytes = u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes"));
        let hashes = u32::from_le_bytes(bytes[9..13].try_into().expect("4 bytes"));
        let tolerance = expected.bytes / 100 + 8;
        if len_bytes.abs_diff(expected.bytes) > tolerance {
            return Err("bitmap size does not match the declared set size");
        }
        if hashes.abs_diff(expected.hashes) > 1 {
            return Err("hash count does not match the declared set size");
        }
        let set_bits: u64 = bytes[HEADER_LEN..].iter().map(|b| u64::from(b.count_ones())).sum();
        if set_bits > u64::from(hashes) * expected.items {
            return Err("more bits set than the declared items can set");
        }
        let bits = (len_bytes * 8) as f64;
        let realised = (set_bits as f64 / bits).powi(hashes as i32);
        if realised > 2.0 * expected.fp_rate {
            return Err("false-positive rate above the target (saturated filter)");
        }
        let filter = Bloom::from_bytes(bytes)?;
        Ok(Self { filter })
    }

    /// Whether `element` may be in the set.
    pub(crate) fn contains(&self, element: &ElementBytes) -> bool {
        self.filter.check(&Item(*element))
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
        // 10M items, 10k lookups: p = 1e-10, about 48 bits per item.
        let p = Params::new(10_000_000, 10_000);
        assert!((p.bytes as f64 / 10_000_000.0 * 8.0 - 47.9).abs() < 0.1, "{p:?}");
        assert_eq!(p.hashes, 33);
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
        assert!(Received::parse(build(&params, &[7; 32], &elements(100, 0)), &params).is_err());
    }
}

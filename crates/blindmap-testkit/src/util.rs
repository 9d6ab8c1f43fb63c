//! Seeded randomness helpers shared by the world builder, the noise and the streaming writer.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A named algorithm rather than `StdRng`, whose algorithm rand may swap in any release: corpora must stay
/// reproducible from their seed for as long as the benchmark quotes them.
pub(crate) type Rng = Xoshiro256PlusPlus;

/// Independent random streams: each part of the generator draws from its own stream so that adding a draw in
/// one part does not shift every value in the others.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    World = 1,
    Sides = 2,
    SalesforceRows = 3,
    HubspotRows = 4,
    LargeCompany = 5,
    LargeRow = 6,
    Ids = 7,
}

/// Finalising mix of a 64-bit value: consecutive indices must give unrelated seeds.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 31;
    x = x.wrapping_mul(0x7fb5_d329_728e_a185);
    x ^= x >> 27;
    x = x.wrapping_mul(0x81da_def4_bc2d_d44d);
    x ^ (x >> 33)
}

/// A generator for item `index` of `stream`: the streaming writer derives each row from this alone, so it
/// never has to remember earlier rows.
pub(crate) fn rng_for(seed: u64, stream: Stream, index: u64) -> Rng {
    Rng::seed_from_u64(mix(mix(seed ^ ((stream as u64) << 56)) ^ index))
}

/// A hash of `(seed, stream, index)` for cheap per-row choices that need no generator.
pub(crate) fn hash(seed: u64, stream: Stream, index: u64) -> u64 {
    mix(mix(seed.wrapping_add(stream as u64)) ^ mix(index))
}

/// True with probability `p`; out-of-range rates are clamped so a bad setting cannot panic mid-corpus.
pub(crate) fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.random::<f64>() < p.clamp(0.0, 1.0)
}

/// Like [`chance`], but draws nothing when `p` is zero (or less): noise kinds added after a corpus was published
/// use it, so that corpora generated without them keep their bytes.
pub(crate) fn chance_if_set(rng: &mut Rng, p: f64) -> bool {
    p > 0.0 && chance(rng, p)
}

/// A uniformly chosen element; callers only pass non-empty tables.
pub(crate) fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// An element chosen in proportion to its weight.
pub(crate) fn pick_weighted<T: Copy>(rng: &mut Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|&(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(item, weight) in items {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// A string of `len` random decimal digits.
pub(crate) fn digits(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_indices_differ() {
        use rand::Rng as _;
        let a = rng_for(1, Stream::World, 0).next_u64();
        let b = rng_for(1, Stream::World, 1).next_u64();
        let c = rng_for(1, Stream::Sides, 0).next_u64();
        let d = rng_for(1, Stream::World, 0).next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, d);
    }

    #[test]
    fn weighted_pick_respects_zero_weights() {
        let mut rng = rng_for(3, Stream::World, 0);
        for _ in 0..1000 {
            assert_eq!(pick_weighted(&mut rng, &[('a', 0), ('b', 5), ('c', 0)]), 'b');
        }
    }
}

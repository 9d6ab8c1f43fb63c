//! The cost floor of any Diffie-Hellman-style PSI (spec §11): every element of both sets hashed to
//! the group once and raised to both parties' keys, with the decompression and compression that
//! sending it in between requires. Benchmarks time this next to a real session.

use curve25519_dalek::scalar::Scalar;

use crate::group::{self, SecretScalar};
use crate::oprf::HASH_TO_GROUP_DST;

/// Elements processed per batch, as a session processes a chunk.
const BATCH: usize = 4096;

/// Performs the floor's operations on every input, on all cores, with the same primitives the
/// sessions use. Returns a checksum so that the work cannot be optimised away.
pub fn floor_operations<I: AsRef<[u8]> + Sync>(inputs: &[I]) -> u64 {
    let first = SecretScalar::new(group::hash_to_scalar(b"floor key 1", b"blindmap floor"));
    let second = SecretScalar::new(group::hash_to_scalar(b"floor key 2", b"blindmap floor"));
    debug_assert!(*first.scalar() != Scalar::ZERO);
    let mut checksum = 0u64;
    for batch in inputs.chunks(BATCH) {
        // Party A: HashToGroup and its key; the element travels serialized.
        let points = group::hash_to_group_all(batch, HASH_TO_GROUP_DST);
        let sent = first.raise_serialize(&points);
        // Party B: deserialize and raise to its key.
        #[allow(clippy::expect_used, reason = "`sent` holds our own canonical, non-identity encodings")]
        let received = group::deserialize_elements(&sent).expect("own encodings are valid");
        let twice = second.raise_serialize(&received);
        checksum = twice.iter().fold(checksum, |acc, e| acc.wrapping_add(u64::from(e[0])));
    }
    checksum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum is over the elements raised to both keys: the floor does a session's work.
    #[test]
    fn the_checksum_sums_the_doubly_keyed_elements() {
        let inputs: Vec<Vec<u8>> = (0..10u32).map(|i| format!("key {i}").into_bytes()).collect();
        let keys = group::hash_to_scalar(b"floor key 1", b"blindmap floor")
            * group::hash_to_scalar(b"floor key 2", b"blindmap floor");
        let expected = inputs.iter().fold(0u64, |acc, input| {
            let element = group::hash_to_group(input, HASH_TO_GROUP_DST) * keys;
            acc.wrapping_add(u64::from(element.compress().to_bytes()[0]))
        });
        assert_eq!(floor_operations(&inputs), expected);
        assert!(expected > 1, "{expected}");
        assert_eq!(floor_operations::<Vec<u8>>(&[]), 0);
    }
}

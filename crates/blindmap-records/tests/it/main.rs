//! The records crate's integration tests, one binary: normalisation (with property tests), the key
//! vectors of protocol-spec/vectors/keys.json, and the reference data's hashes.

mod key_vectors;
mod normalise;
mod reference_data;

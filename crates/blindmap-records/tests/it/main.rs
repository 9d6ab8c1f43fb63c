//! The records crate's integration tests, one binary: the importer on harsh files, normalisation
//! (with property tests), the key vectors of protocol-spec/vectors/keys.json, and the reference
//! data's hashes, and tiers from an in-process session.

mod import;
mod key_vectors;
mod normalise;
mod reference_data;
mod tier;

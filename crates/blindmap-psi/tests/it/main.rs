//! The protocol crate's integration tests, one binary: the RFC 9497 test vectors, the protocol's
//! own vectors, sessions (with property tests), pre-checks and secret handling.

mod precheck;
mod rfc9497;
mod secrets;
mod session;
mod vectors;

//! The test kit's integration tests, one binary: the corpus, the harsh world, large exports and the
//! pinned bytes of the default world.

mod support;

mod corpus;
mod harsh;
mod large;
mod pinned;

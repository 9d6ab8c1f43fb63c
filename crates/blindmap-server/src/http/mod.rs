//! The HTTP side shared by the API, the pages and the peer channel: the one mapping of errors
//! to problem documents, the extractors, bearer authentication, rate limits, uploads spooled to disk, and what to do
//! with a body a handler left unread.

pub(crate) mod auth;
pub mod error;
pub(crate) mod extract;
pub(crate) mod spool;
pub(crate) mod throttle;
pub(crate) mod unread_body;

//! blindmap's service rules on top of the overlaps, as pure, well-tested logic (no I/O, no
//! clock: callers pass times in): co-sell records that two nodes keep in step ([`cosell`]), deal
//! registration with automatic conflict checks and protection windows ([`dealreg`]), partner
//! attribution under categorical and weighted multi-touch models ([`attribution`]), exact money
//! ([`money`]), Standard Webhooks signatures with the delivery schedule ([`webhook`]), and RFC 3339
//! times to and from Unix milliseconds ([`time`]).
//!
//! The node (`blindmap-server`) stores these, exposes them through its API, its command line and
//! the peer channel, and delivers the events.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attribution;
pub mod cosell;
pub mod dealreg;
pub mod money;
pub mod time;
pub mod webhook;

/// Why a rule refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input is malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// A partner's copy of a record holds what its side could not have written.
    #[error("the partner's copy is not one its side could have made: {0}")]
    Forged(&'static str),
    /// A lifecycle does not allow this move.
    #[error("cannot go from {from} to {to}")]
    Transition {
        /// The current state.
        from: &'static str,
        /// The state asked for.
        to: &'static str,
    },
}

//! blindmap's protocol core: private set intersection over the RFC 9497 OPRF
//! (ristretto255-SHA512), with per-cell disclosure levels, as sans-IO state machines.
//!
//! The protocol is specified in `protocol-spec/spec.md`; section numbers in comments (`spec §N`)
//! refer to it. This crate does no I/O, no logging and no async: a [`Session`] consumes and
//! produces byte frames, and the caller moves them.
//!
//! ```
//! use std::sync::Arc;
//! use blindmap_psi::{Dataset, DisclosurePolicy, KeyType, Level, MatchKey, Record, SegmentLabel,
//!     Session, SessionConfig, SessionSeed, run_in_process};
//!
//! let domain = KeyType::new("domain")?;
//! let customers = SegmentLabel::new("customers")?;
//! let records = |names: &[&str]| -> Result<Arc<Dataset>, blindmap_psi::Error> {
//!     let records = names.iter().enumerate().map(|(i, d)| {
//!         Record::new(i.to_string(), customers.clone()).with_key(MatchKey::new(domain.clone(), *d))
//!     });
//!     Ok(Arc::new(Dataset::new(records.collect())?))
//! };
//! let policy = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
//! let mut rng = rand::rng();
//! let vendor = Session::initiator(records(&["acme.com", "globex.com"])?, policy.clone(),
//!     SessionConfig::default(), SessionSeed::random(&mut rng))?;
//! let partner = Session::responder(records(&["globex.com", "initech.com"])?, policy,
//!     SessionConfig::default(), SessionSeed::random(&mut rng))?;
//! let run = run_in_process(vendor, partner)?;
//! assert_eq!(run.initiator.overlaps().len(), 1);
//! assert_eq!(run.initiator.overlaps()[0].record, 1); // globex.com
//! # Ok::<(), blindmap_psi::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A wire length or index that silently wraps is a protocol bug: every narrowing conversion is
// checked (`try_from`) or carries the reason it cannot truncate; and nothing panics on `expect`.
#![deny(clippy::cast_possible_truncation, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::expect_used))]

mod bloom;
mod error;
mod fields;
mod floor;
pub mod group;
#[cfg(feature = "json")]
pub mod json;
mod kept;
mod local;
pub mod oprf;
mod outcome;
mod policy;
mod precheck;
mod record;
mod reveal;
mod seed;
mod session;
mod transcript;
pub mod wire;

pub use error::{AbortCode, BloomDefect, DecodeError, Error, InputError, PeerMisbehaviour};
pub use floor::floor_operations;
pub use kept::{BloomCache, KeptKeys};
pub use local::{Direction, InProcessRun, Observer, run_in_process, run_in_process_with};
pub use outcome::{BloomMatch, Cell, Outcome, Overlap, PartnerFields, PartnerRecord};
pub use policy::{DEFAULT_MIN_PARTNER_SEGMENT, DEFAULT_THRESHOLD, DisclosurePolicy, Level, Plan};
#[cfg(feature = "deterministic")]
pub use precheck::answer_precheck_with_seed;
pub use precheck::{
    MAX_PRECHECK_CLAIMED, PRECHECK_ELEMENTS, PRECHECK_TAG_LEN, PrecheckAnswer, PrecheckQuery, PrecheckTag,
    answer_precheck,
};
pub use record::{
    Dataset, FieldName, KeyType, MAX_FIELD_LEN, MAX_FIELDS, MAX_KEY_LEN, MAX_KEYS_PER_RECORD, MAX_RECORDS,
    MAX_SEGMENT_KEYS, MAX_SEGMENTS, MatchKey, Record, SegmentLabel,
};
pub use reveal::{ReturnedFields, Reveal, RevealError, RevealedRecord};
pub use seed::SessionSeed;
pub use session::{
    DEFAULT_CHUNK_RECORDS, DEFAULT_MAX_PARTNER_KEYS, DEFAULT_MAX_PARTNER_RECORDS, Session, SessionConfig,
};
pub use transcript::{TRANSCRIPT_MAGIC, Transcript};

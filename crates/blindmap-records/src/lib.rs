//! blindmap's account records: CRM exports in, accounts with typed canonical match keys out.
//!
//! Private matching compares exact keys only, so everything that makes two spellings of one
//! company equal happens here, on each side, before anything is blinded:
//!
//! - [`Importer`] reads a CSV export (RFC 4180, UTF-8 with or without BOM) through a column
//!   [`Mapping`] — a built-in [`Preset`] for Salesforce and HubSpot exports, or a mapping file or
//!   flags — placing each account in a segment by [`SegmentRule`]s;
//! - [`normalise`] makes canonical `domain`, `duns` and `name_country` values, refusing values
//!   that would match unrelated companies (free-mail domains, bare names);
//! - [`match_keys`] applies the matching rule: the vetoes on name matches and the evidence that makes a tier.
//!
//! The crate does no I/O beyond the readers it is given, and no cryptography.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod csv;
mod error;
mod import;
mod mapping;
pub mod normalise;
mod rule;
mod segment;
mod text;
mod tier;

pub use crate::csv::MAX_ROW_BYTES;
pub use error::{EncodingProblem, ErrorKind, ImportError, Place, QuoteProblem};
pub use import::{Account, Dropped, Imported, Importer, LISTED_LINES, Lines, Summary, import_dataset, read_header};
pub use mapping::{Mapping, Preset};
pub use normalise::DropReason;
pub use rule::{
    AccountKeys, CustomerError, DOMAIN, DUNS, MAX_NAME_KEYS, NAME_CITY, NAME_COUNTRY, NAME_PHONE, NAME_POSTAL,
    NAME_WEB, Side, customer_keys, match_keys,
};
pub use segment::{SegmentRule, segment_label};
pub use text::fold;
pub use tier::{Evidence, Explanation, Tier, explain_overlaps, possible_per_cell};

//! blindmap's partner page in the browser: a partner without a node reads its CRM export and
//! matches it against a vendor's node, with the very crates the node runs — the importer and
//! normalisation of `blindmap-records`, the protocol of `blindmap-psi` — built as WebAssembly.
//!
//! - [`Import`] reads an export from its bytes in memory, a few rows per call, and previews what
//!   the importer made of it ([`Preview`]: what `blindmap inspect` shows);
//! - [`PartnerSession`] is the protocol's initiator over the imported accounts: it learns the
//!   overlaps and discloses nothing, against a vendor answering as a Bloom-filter sender that
//!   learns nothing (spec §9.7); only its frames leave the page;
//! - [`Shares`] is what the partner chooses to reveal to the vendor once it knows its overlaps
//!   (spec §20.6), and the vendor's fields come back for what it revealed (§20.7);
//! - [`Results`] are the overlap matrix and the overlapping accounts, as JSON and as CSV.
//!
//! The JavaScript interface ([`js`]) wraps these; everything else is plain Rust, tested
//! natively. Like the protocol crate, nothing here does I/O: the page's worker moves the frames.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod import;
pub mod js;
mod preview;
mod results;
mod session;
mod shares;

pub use error::Error;
pub use import::{Import, Imported, MAX_FILE_BYTES, PREVIEW_ACCOUNTS, PREVIEW_NOT_KEYS, ReadAs};
pub use preview::{AccountView, KeyCounts, LinesView, NotKeyView, Preview, ReasonCount, SummaryView};
pub use results::{FieldValues, Matrix, MatrixCell, OverlapRow, Results, Returned, SegmentSize, SharedView};
pub use session::PartnerSession;
pub use shares::Shares;

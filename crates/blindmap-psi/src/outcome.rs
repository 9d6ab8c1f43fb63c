//! What a party learned from a session (spec §10), and what it disclosed.

use crate::policy::{Level, Plan};
use crate::record::{FieldName, KeyType, SegmentLabel};
use crate::wire::{Role, SegmentInfo, SessionId};

/// A record of the partner, as the partner's message named it: its segment and its position in
/// the partner's (shuffled) order (spec §10.2). Meaningful within one session only; the partner
/// can map it back to its own record with [`Outcome::own_record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartnerRecord {
    /// Partner segment index (into [`Outcome::partner_segments`]).
    pub segment: u16,
    /// Position within that segment; `None` when the partner served a Bloom filter, which
    /// carries membership only (spec §9.7).
    pub position: Option<u32>,
}

/// One cell of the overlap matrix: own segment (row) × partner segment (column) (spec §10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The partner disclosed nothing for this pair.
    Hidden,
    /// The partner serves no segment smaller than `minimum` records, and ours is smaller.
    TooSmall {
        /// The partner's minimum.
        minimum: u32,
    },
    /// This many of our records overlap the partner's segment.
    Count(u64),
    /// Fewer than this many of our records overlap (the partner's threshold, counts level).
    FewerThan(u32),
}

impl core::fmt::Display for Cell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Hidden => f.write_str("hidden"),
            Self::TooSmall { minimum } => write!(f, "n/a (<{minimum} rec)"),
            Self::Count(n) => write!(f, "{n}"),
            Self::FewerThan(k) => write!(f, "<{k}"),
        }
    }
}

/// One of our records that overlaps a partner record (overlaps and fields levels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// Index of our record in the dataset the session was given.
    pub record: usize,
    /// The partner's record.
    pub partner: PartnerRecord,
    /// The key types that matched, sorted.
    pub key_types: Vec<KeyType>,
}

/// The overlap matrix (spec §10.3) that the partner's `plan` gives us, row by row (our
/// segments, of `own_records` records each) and column by column: a hidden cell is too small
/// where the partner served nothing because our segment is below its minimum (spec §6.3) and
/// we asked to learn; a counts cell is `counted` under the threshold; an overlaps or fields cell
/// counts our `overlapping` records.
pub(crate) fn matrix(
    plan: &Plan,
    learn: bool,
    own_records: &[u64],
    counted: impl Fn((u16, u16)) -> u64,
    overlapping: impl Fn((u16, u16)) -> u64,
) -> Vec<Cell> {
    let threshold = plan.threshold;
    let mut cells = Vec::with_capacity(plan.rows * plan.cols);
    for (s, &records) in own_records.iter().enumerate() {
        let refused = learn && records < u64::from(plan.min_segment) && !plan.row_visible(s);
        for t in 0..plan.cols {
            #[allow(clippy::cast_possible_truncation, reason = "segment indices are below MAX_SEGMENTS (64)")]
            let key = (s as u16, t as u16);
            cells.push(match plan.level(s, t) {
                Level::Hidden if refused => Cell::TooSmall { minimum: plan.min_segment },
                Level::Hidden => Cell::Hidden,
                Level::Counts => {
                    let n = counted(key);
                    if threshold > 1 && n < u64::from(threshold) { Cell::FewerThan(threshold) } else { Cell::Count(n) }
                }
                Level::Overlaps | Level::Fields(_) => Cell::Count(overlapping(key)),
            });
        }
    }
    cells
}

/// Fields a partner record disclosed (fields level), sorted by name; `None` where the partner's
/// record has no value for the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerFields {
    /// The partner record.
    pub partner: PartnerRecord,
    /// `(name, value)` pairs.
    pub fields: Vec<(FieldName, Option<String>)>,
}

/// Everything a session produced for one party.
///
/// `Debug` shows a summary only: record positions and field values stay out of logs.
#[derive(Clone)]
pub struct Outcome {
    pub(crate) role: Role,
    pub(crate) session_id: SessionId,
    pub(crate) own_segments: Vec<SegmentLabel>,
    pub(crate) partner_segments: Vec<SegmentInfo>,
    pub(crate) received: Plan,
    pub(crate) disclosed: Plan,
    pub(crate) cells: Vec<Cell>,
    pub(crate) overlaps: Vec<Overlap>,
    pub(crate) partner_fields: Vec<PartnerFields>,
    pub(crate) unopened: Vec<PartnerRecord>,
    pub(crate) truncated: bool,
    /// Position → record index, per own segment, for segments whose records were sent.
    pub(crate) own_order: Vec<Vec<u32>>,
    /// What a Bloom receiver matched, element by element (spec §20.6).
    pub(crate) bloom_matches: Vec<BloomMatch>,
    /// The class of each own segment in our plan (spec §6.4): which kept evaluations a revealed
    /// element is looked up in (spec §20.6).
    pub(crate) own_classes: Vec<u16>,
}

/// One of our keys a partner's Bloom filter matched (spec §20.6): its unblinded element
/// `[k_c] H(x)` under the partner's class key, which the partner can map back to its own
/// records — what a receiver reveals, if it chooses to, to tell the partner which of the
/// partner's records overlap. Kept by the receiver only; never sent by the protocol itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomMatch {
    /// Index of our record in the dataset the session was given.
    pub record: usize,
    /// The partner segment whose filter matched.
    pub partner_segment: u16,
    /// The key's type.
    pub key_type: KeyType,
    /// `SerializeElement([k_c] H(x))`.
    pub element: [u8; 32],
}

impl Outcome {
    /// Our role in the session.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session id both parties used.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Our segments: the matrix rows.
    pub fn own_segments(&self) -> &[SegmentLabel] {
        &self.own_segments
    }

    /// The partner's declared segments: the matrix columns.
    pub fn partner_segments(&self) -> &[SegmentInfo] {
        &self.partner_segments
    }

    /// What the partner disclosed to us: rows are our segments, columns the partner's.
    pub fn received_plan(&self) -> &Plan {
        &self.received
    }

    /// What we disclosed to the partner: rows are the partner's segments, columns ours.
    pub fn disclosed_plan(&self) -> &Plan {
        &self.disclosed
    }

    /// The overlap matrix cell for (own segment `row`, partner segment `col`).
    pub fn cell(&self, row: usize, col: usize) -> Cell {
        self.cells[row * self.partner_segments.len() + col]
    }

    /// The level the partner disclosed for (own segment `row`, partner segment `col`).
    pub fn level(&self, row: usize, col: usize) -> &Level {
        self.received.level(row, col)
    }

    /// Our overlapping records, one entry per (our record, partner record) pair, sorted by
    /// record then partner. A record with several entries overlaps several partner records
    /// (one-to-many); a partner record in several entries overlaps several of ours (many-to-one).
    pub fn overlaps(&self) -> &[Overlap] {
        &self.overlaps
    }

    /// Fields of partner records, sorted by partner record.
    pub fn partner_fields(&self) -> &[PartnerFields] {
        &self.partner_fields
    }

    /// Partner records whose sealed fields did not open (tampered or corrupt): shown without
    /// fields. Never signalled to the partner, which would learn that we matched them.
    pub fn unopened_fields(&self) -> &[PartnerRecord] {
        &self.unopened
    }

    /// Whether matches beyond the session's limit were dropped (spec §10.1): the partner
    /// returned far more matches than plausible, so the results are incomplete. Never signalled
    /// to the partner.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Fields of one partner record, if it disclosed any to us.
    pub fn fields_of(&self, partner: &PartnerRecord) -> Option<&PartnerFields> {
        self.partner_fields.binary_search_by(|f| f.partner.cmp(partner)).ok().map(|i| &self.partner_fields[i])
    }

    /// Our keys that a partner's Bloom filter matched, with their unblinded elements, sorted by
    /// record (spec §20.6). Empty unless the partner served Bloom filters.
    pub fn bloom_matches(&self) -> &[BloomMatch] {
        &self.bloom_matches
    }

    /// Our record at `position` of our segment `segment`: maps the partner's
    /// [`PartnerRecord`] naming of our records back to our dataset.
    pub fn own_record(&self, segment: u16, position: u32) -> Option<usize> {
        self.own_order.get(segment as usize).and_then(|order| order.get(position as usize)).map(|&r| r as usize)
    }
}

impl core::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Outcome")
            .field("role", &self.role)
            .field("own_segments", &self.own_segments)
            .field("partner_segments", &self.partner_segments.iter().map(|s| &s.label).collect::<Vec<_>>())
            .field("cells", &self.cells)
            .field("overlaps", &self.overlaps.len())
            .field("partner_fields", &self.partner_fields.len())
            .field("unopened", &self.unopened.len())
            .field("truncated", &self.truncated)
            .finish_non_exhaustive()
    }
}

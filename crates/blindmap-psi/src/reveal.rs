//! After a Bloom session, the receiver's own disclosure (spec §20.6): a party that served Bloom
//! filters learns nothing in the session, so the receiver — which learned which of its records
//! overlap — tells it what its own policy discloses: per cell, a count, or its overlapping
//! records with the unblinded elements that matched (which the sender maps to its records, and
//! which name nothing else: each is a key of the sender's own), and the fields it shares.

use std::collections::{BTreeMap, HashMap};

use rand_core::CryptoRng;

use crate::kept::BloomCache;
use crate::outcome::{Outcome, Overlap, PartnerFields, PartnerRecord, matrix};
use crate::policy::{DisclosurePolicy, Level, Plan};
use crate::record::{Dataset, FieldName};

/// What a Bloom receiver reveals to the sender (spec §20.6). Rows are the sender's segments,
/// columns the receiver's, as in any plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reveal {
    /// What the receiver discloses per cell.
    pub plan: Plan,
    /// For each counts cell (row, column): how many of the receiver's records in the column
    /// overlap the sender's segment of the row.
    pub counts: Vec<(u16, u16, u64)>,
    /// The receiver's overlapping records in overlaps and fields cells, in an order of its own.
    pub records: Vec<RevealedRecord>,
}

/// One of the receiver's records that overlaps the sender's segment `row` (spec §20.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevealedRecord {
    /// The sender's segment whose filter it matched.
    pub row: u16,
    /// The receiver's segment it is in.
    pub column: u16,
    /// The unblinded elements `[k_c] H(x)` of its keys that matched.
    pub elements: Vec<[u8; 32]>,
    /// In a fields cell: the cell's fields, in the cell's order, `None` where the record has no
    /// value.
    pub fields: Vec<(FieldName, Option<String>)>,
}

/// The sender's fields for one of its records that a revealed record matched (spec §20.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnedFields {
    /// The revealed record: its index in the reveal's records.
    pub record: u32,
    /// The fields the sender's policy gives the cell, in the cell's order, `None` where its
    /// record has no value.
    pub fields: Vec<(FieldName, Option<String>)>,
}

/// Why the sender refuses a reveal: it does not fit the session, or names what is not the
/// sender's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevealError {
    /// The plan's shape is not the session's (rows the sender's segments, columns the receiver's).
    #[error("the revealed plan is {rows} × {cols}, not the session's {want_rows} × {want_cols}")]
    Shape {
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
        /// The sender's segments.
        want_rows: usize,
        /// The receiver's segments.
        want_cols: usize,
    },
    /// A count or a record for a cell the plan does not disclose at that level.
    #[error("the reveal names cell ({0}, {1}) at a level its plan does not give it")]
    Level(u16, u16),
    /// A count above the receiver's records in the column.
    #[error("a revealed count is larger than the segment it counts")]
    Count,
    /// A record whose fields are not its cell's.
    #[error("a revealed record's fields are not its cell's")]
    Fields,
    /// An element that is none of the sender's keys in the segment named.
    #[error("a revealed element is none of this side's keys in that segment")]
    Element,
    /// No kept evaluations of that segment.
    #[error("this side kept no evaluations of its segment {0}")]
    NotKept(u16),
}

/// Where a revealed element was found: each (record, key slot) holding it — several where this
/// side has records sharing a key.
type Located = Vec<(usize, usize)>;

impl Outcome {
    /// What `policy` lets this side reveal to a partner that served Bloom filters in this
    /// session (spec §20.6): the policy resolved as for a partner that learns, and for each cell
    /// it discloses, the count or the overlapping records of `data` (this session's dataset)
    /// with their matched elements and the cell's fields — in an order drawn from `rng`, so that
    /// it says nothing of the dataset's order.
    pub fn reveal(&self, data: &Dataset, policy: &DisclosurePolicy, rng: &mut impl CryptoRng) -> Reveal {
        let partner: Vec<_> = self.partner_segments.iter().map(|s| (s.label.clone(), s.records)).collect();
        let plan = policy.resolve(data.segments(), &partner, true, false);
        let mut by_record: BTreeMap<(usize, u16), Vec<[u8; 32]>> = BTreeMap::new();
        for m in &self.bloom_matches {
            by_record.entry((m.record, m.partner_segment)).or_default().push(m.element);
        }
        let column_of = |record: usize| data.segments().iter().position(|l| *l == data.records()[record].segment);
        let mut counts: BTreeMap<(u16, u16), u64> = BTreeMap::new();
        let mut records = Vec::new();
        for ((record, row), elements) in by_record {
            let Some(column) = column_of(record).and_then(|c| u16::try_from(c).ok()) else { continue };
            match plan.level(row as usize, column as usize) {
                Level::Hidden => {}
                Level::Counts => *counts.entry((row, column)).or_default() += 1,
                level @ (Level::Overlaps | Level::Fields(_)) => {
                    let fields = match level {
                        Level::Fields(names) => {
                            let own = &data.records()[record].fields;
                            names.iter().map(|n| (n.clone(), own.get(n).cloned())).collect()
                        }
                        _ => Vec::new(),
                    };
                    records.push(RevealedRecord { row, column, elements, fields });
                }
            }
        }
        // Fisher-Yates with the caller's randomness.
        for i in (1..records.len()).rev() {
            let j = usize::try_from(rng.next_u64() % (i as u64 + 1)).unwrap_or(0);
            records.swap(i, j);
        }
        Reveal { plan, counts: counts.into_iter().map(|((r, c), n)| (r, c, n)).collect(), records }
    }

    /// Which of this side's records each of `reveal`'s records is (a reveal this side made from
    /// this outcome): the index in the session's dataset, `None` for a record this outcome did
    /// not reveal.
    pub fn revealed_records(&self, reveal: &Reveal) -> Vec<Option<usize>> {
        let by_element: HashMap<(u16, [u8; 32]), usize> =
            self.bloom_matches.iter().map(|m| ((m.partner_segment, m.element), m.record)).collect();
        reveal.records.iter().map(|r| r.elements.first().and_then(|e| by_element.get(&(r.row, *e)).copied())).collect()
    }

    /// This side's outcome of a session in which it served Bloom filters, completed with what
    /// the receiver revealed (spec §20.6): the revealed plan becomes what the partner disclosed,
    /// each revealed element is located among this side's kept evaluations of the segment named
    /// (`cache`, made for this session's keys and `data`), and the cells count what was revealed.
    /// Anything that does not fit the session, or names an element that is not one of this
    /// side's keys, refuses the whole reveal.
    pub fn with_reveal(mut self, data: &Dataset, cache: &BloomCache, reveal: &Reveal) -> Result<Self, RevealError> {
        let (rows, cols) = (self.own_segments.len(), self.partner_segments.len());
        let plan = &reveal.plan;
        if plan.rows != rows || plan.cols != cols || plan.cells.len() != rows * cols {
            return Err(RevealError::Shape { rows: plan.rows, cols: plan.cols, want_rows: rows, want_cols: cols });
        }
        let mut counted: HashMap<(u16, u16), u64> = HashMap::new();
        for &(row, column, n) in &reveal.counts {
            if row as usize >= rows
                || column as usize >= cols
                || *plan.level(row as usize, column as usize) != Level::Counts
            {
                return Err(RevealError::Level(row, column));
            }
            if n > u64::from(self.partner_segments[column as usize].records) {
                return Err(RevealError::Count);
            }
            counted.insert((row, column), n);
        }
        // Each element named, located among the row's evaluated keys.
        let mut wanted: HashMap<(u16, [u8; 32]), Located> = HashMap::new();
        for r in &reveal.records {
            if r.row as usize >= rows || r.column as usize >= cols {
                return Err(RevealError::Level(r.row, r.column));
            }
            let names: Vec<&FieldName> = r.fields.iter().map(|(n, _)| n).collect();
            match plan.level(r.row as usize, r.column as usize) {
                Level::Overlaps if names.is_empty() => {}
                Level::Fields(cell) if cell.iter().collect::<Vec<_>>() == names => {}
                Level::Overlaps | Level::Fields(_) => return Err(RevealError::Fields),
                _ => return Err(RevealError::Level(r.row, r.column)),
            }
            if r.elements.is_empty() {
                return Err(RevealError::Element);
            }
            for e in &r.elements {
                wanted.insert((r.row, *e), Vec::new());
            }
        }
        let rows_named: std::collections::BTreeSet<u16> = reveal.records.iter().map(|r| r.row).collect();
        for row in rows_named {
            let class = self.own_classes.get(row as usize).copied().ok_or(RevealError::NotKept(row))?;
            let evaluated = cache.kept(row, class).ok_or(RevealError::NotKept(row))?;
            let mut at = 0usize;
            for &record in data.members(row as usize) {
                let keys = &data.records()[record as usize].keys;
                for slot in 0..keys.len() {
                    if let Some(e) = evaluated.get(at + slot)
                        && let Some(found) = wanted.get_mut(&(row, *e))
                    {
                        found.push((record as usize, slot));
                    }
                }
                at += keys.len();
            }
        }
        // Overlaps: the receiver's records numbered per column in the order revealed.
        let mut positions = vec![0u32; cols];
        let mut pairs: Vec<(usize, PartnerRecord, crate::record::KeyType)> = Vec::new();
        let mut fields = Vec::new();
        let mut per_cell: HashMap<(u16, u16), std::collections::BTreeSet<usize>> = HashMap::new();
        for r in &reveal.records {
            let position = positions[r.column as usize];
            positions[r.column as usize] += 1;
            let partner = PartnerRecord { segment: r.column, position: Some(position) };
            for e in &r.elements {
                let found = wanted.get(&(r.row, *e)).filter(|f| !f.is_empty()).ok_or(RevealError::Element)?;
                for &(record, slot) in found {
                    pairs.push((record, partner, data.records()[record].keys[slot].key_type().clone()));
                    per_cell.entry((r.row, r.column)).or_default().insert(record);
                }
            }
            if !r.fields.is_empty() {
                fields.push(PartnerFields { partner, fields: r.fields.clone() });
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut overlaps: Vec<Overlap> = Vec::new();
        for (record, partner, key_type) in pairs {
            match overlaps.last_mut() {
                Some(o) if o.record == record && o.partner == partner => o.key_types.push(key_type),
                _ => overlaps.push(Overlap { record, partner, key_types: vec![key_type] }),
            }
        }
        fields.sort_by_key(|f| f.partner);
        let own_records: Vec<u64> = (0..rows).map(|s| data.members(s).len() as u64).collect();
        let cells = matrix(
            plan,
            true,
            &own_records,
            |key| counted.get(&key).copied().unwrap_or(0),
            |key| per_cell.get(&key).map_or(0, |r| r.len() as u64),
        );
        self.received = reveal.plan.clone();
        self.cells = cells;
        self.overlaps = overlaps;
        self.partner_fields = fields;
        Ok(self)
    }

    /// What this side returns to a receiver that revealed (spec §20.7), from this outcome
    /// completed by [`Outcome::with_reveal`] with `reveal`: for each revealed record and each of
    /// this side's records it matched, in a cell where `policy` (this side's own, resolved as for
    /// a partner that learns, not as the Bloom session served it) gives fields, those fields of
    /// this side's record. The entries follow the reveal's order; one record's several matches
    /// are ordered by their values, not by this side's dataset.
    pub fn returned_fields(&self, data: &Dataset, policy: &DisclosurePolicy, reveal: &Reveal) -> Vec<ReturnedFields> {
        let partner: Vec<_> = self.partner_segments.iter().map(|s| (s.label.clone(), s.records)).collect();
        // Rows the partner's segments, columns ours.
        let plan = policy.resolve(data.segments(), &partner, true, false);
        // Each revealed record as the overlaps number it: per column, in the order revealed.
        let mut positions = vec![0u32; partner.len()];
        let mut index: HashMap<PartnerRecord, u32> = HashMap::new();
        for (i, r) in reveal.records.iter().enumerate() {
            let (Some(position), Ok(i)) = (positions.get_mut(r.column as usize), u32::try_from(i)) else { continue };
            index.insert(PartnerRecord { segment: r.column, position: Some(*position) }, i);
            *position += 1;
        }
        let row_of = |record: usize| data.segments().iter().position(|l| *l == data.records()[record].segment);
        let mut returned = Vec::new();
        for o in &self.overlaps {
            let (Some(&i), Some(row)) = (index.get(&o.partner), row_of(o.record)) else { continue };
            if let Level::Fields(names) = plan.level(o.partner.segment as usize, row) {
                let own = &data.records()[o.record].fields;
                returned.push(ReturnedFields {
                    record: i,
                    fields: names.iter().map(|n| (n.clone(), own.get(n).cloned())).collect(),
                });
            }
        }
        returned.sort_by(|a, b| (a.record, &a.fields).cmp(&(b.record, &b.fields)));
        returned
    }
}

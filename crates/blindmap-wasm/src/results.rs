//! What the partner learned, as the page shows it and downloads it: the overlap matrix (own
//! segments × the vendor's) and the overlapping accounts with their tier and why.
//!
//! The same shapes and rules as the node: the matrix cell of `blindmap_server::api::runs::
//! MatrixCell` (the tests hold the two equal), the tier and reason of
//! `blindmap_records::explain_overlaps`, the CSV columns of the node's overlap list for the
//! columns a partner without a node has, each cell made safe for spreadsheets as the node makes it.

use std::collections::BTreeMap;

use blindmap_psi::{Cell, Level, Outcome};
use blindmap_records::{Explanation, Tier, explain_overlaps, possible_per_cell};
use serde::Serialize;

use crate::error::Error;
use crate::import::Imported;

/// The results of a session.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The overlap matrix.
    pub matrix: Matrix,
    /// What the vendor shared, in words: one level (`overlaps`) or per cell.
    pub shared_with_you: String,
    /// Overlapping accounts of the partner's.
    pub accounts: u64,
    /// Overlapping pairs (an account matching several of the vendor's records counts once each).
    pub pairs: u64,
    /// Whether matches past the session's limit were dropped (spec §10.1): incomplete results.
    pub incomplete: bool,
    /// What the partner revealed to the vendor after the match (spec §20.6), once it has.
    pub shared_with_them: Option<SharedView>,
    /// One row per overlapping pair, in the order of the partner's file.
    pub overlaps: Vec<OverlapRow>,
}

/// The matrix: rows are the partner's segments, columns the vendor's.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// The partner's segments.
    pub rows: Vec<String>,
    /// The vendor's segments and their sizes.
    pub columns: Vec<SegmentSize>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<MatrixCell>>,
}

/// A segment and how many records it holds.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentSize {
    /// Its label.
    pub segment: String,
    /// Its records.
    pub records: u64,
}

/// One cell, as the node's API writes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MatrixCell {
    /// As shown: a count, `<k`, `n/a (<m rec)` or `hidden`.
    pub shown: String,
    /// The level the vendor disclosed the cell at.
    pub level: &'static str,
    /// Overlapping records, where disclosed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Of `count`, accounts with at least one confirmed match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<u64>,
    /// Of `count`, accounts overlapping by possible matches only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub possible: Option<u64>,
    /// The vendor's threshold, where the count fell below it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fewer_than: Option<u32>,
    /// The smallest segment the vendor serves, where this one is smaller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_minimum: Option<u32>,
    /// The fields the vendor disclosed (level `fields`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

impl MatrixCell {
    fn of(cell: Cell, level: &Level, possible: u64) -> Self {
        let lists_records = matches!(level, Level::Overlaps | Level::Fields(_));
        let mut out = Self { shown: cell.to_string(), level: level.name(), ..Self::default() };
        match cell {
            Cell::Count(n) => {
                out.count = Some(n);
                if lists_records {
                    out.confirmed = Some(n.saturating_sub(possible));
                    out.possible = Some(possible);
                }
            }
            Cell::FewerThan(k) => out.fewer_than = Some(k),
            Cell::TooSmall { minimum } => out.partner_minimum = Some(minimum),
            Cell::Hidden => {}
        }
        if let Level::Fields(fields) = level {
            out.fields = Some(fields.iter().map(|f| f.as_str().to_owned()).collect());
        }
        out
    }
}

/// What the partner revealed to the vendor (spec §20.6), and what came back (§20.7).
#[derive(Debug, Clone, Serialize)]
pub struct SharedView {
    /// The levels revealed, in words: one level, `per cell`, or `nothing`.
    pub in_words: String,
    /// The overlapping accounts the vendor learned of (at overlaps or fields).
    pub accounts: u64,
    /// Of those, the accounts whose fields the vendor learned.
    pub with_fields: u64,
    /// The cells whose count the vendor learned.
    pub counts: u64,
    /// The accounts the vendor returned its own fields for.
    pub returned: u64,
}

/// One record's fields by name, `None` where it has no value.
pub type FieldValues = Vec<(String, Option<String>)>;

/// The vendor's fields returned for what the partner revealed (spec §20.7): by (the partner's
/// record, the vendor's segment), one list per vendor record it matched.
pub type Returned = BTreeMap<(usize, u16), Vec<FieldValues>>;

/// One overlapping pair: an account of the partner's and a record of the vendor's.
#[derive(Debug, Clone, Serialize)]
pub struct OverlapRow {
    /// The account's id in the partner's export.
    pub account_id: String,
    /// Its name as the export writes it.
    pub name: Option<String>,
    /// Its owner (the `owner` field), where mapped.
    pub owner: Option<String>,
    /// Its segment.
    pub own_segment: String,
    /// The vendor's segment of the record it matched.
    pub partner_segment: String,
    /// The key types that matched.
    pub key_types: Vec<String>,
    /// How sure the match is.
    pub tier: Tier,
    /// Why, in words.
    pub reason: String,
    /// Fields the vendor shared, by name (`None` where its record has no value).
    pub partner_fields: FieldValues,
}

impl Results {
    /// The results of `outcome`, a session over `imported`, with the vendor's fields `returned`
    /// for what the partner revealed.
    pub fn of(outcome: &Outcome, imported: &Imported, returned: &Returned) -> Self {
        let data = &imported.dataset;
        let explanations: Vec<Explanation> = explain_overlaps(outcome, data);
        let rows: Vec<String> = outcome.own_segments().iter().map(ToString::to_string).collect();
        let columns: Vec<SegmentSize> = outcome
            .partner_segments()
            .iter()
            .map(|s| SegmentSize { segment: s.label.to_string(), records: u64::from(s.records) })
            .collect();
        let possible = possible_per_cell(outcome, data, &explanations);
        let cells = (0..rows.len())
            .map(|r| {
                (0..columns.len())
                    .map(|c| MatrixCell::of(outcome.cell(r, c), outcome.level(r, c), possible[r * columns.len() + c]))
                    .collect()
            })
            .collect();
        let records = data.records();
        let overlaps: Vec<OverlapRow> = outcome
            .overlaps()
            .iter()
            .zip(&explanations)
            .map(|(o, explanation)| OverlapRow {
                account_id: records[o.record].id.clone(),
                name: imported.names[o.record].clone(),
                owner: imported.owners[o.record].clone(),
                own_segment: records[o.record].segment.to_string(),
                partner_segment: outcome.partner_segments()[usize::from(o.partner.segment)].label.to_string(),
                key_types: o.key_types.iter().map(ToString::to_string).collect(),
                tier: explanation.tier,
                reason: explanation.to_string(),
                partner_fields: outcome
                    .fields_of(&o.partner)
                    .into_iter()
                    .flat_map(|f| f.fields.iter().map(|(n, v)| (n.to_string(), v.clone())))
                    .chain(joined(returned.get(&(o.record, o.partner.segment))))
                    .collect(),
            })
            .collect();
        let accounts = outcome.overlaps().iter().map(|o| o.record).collect::<std::collections::BTreeSet<_>>().len();
        Self {
            matrix: Matrix { rows, columns, cells },
            shared_with_you: shared_in_words(outcome),
            accounts: accounts as u64,
            pairs: overlaps.len() as u64,
            incomplete: outcome.is_truncated(),
            shared_with_them: None,
            overlaps,
        }
    }

    /// The results as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The overlapping accounts as CSV, with the node's column names for the columns a partner
    /// has: `Account`, `Account ID`, `Your segment`, `Owner`, `Their segment`, the vendor's
    /// shared fields as `Their NAME`, `Match`, `Why`, `Matched on`.
    pub fn to_csv(&self) -> Result<String, Error> {
        let csv_error = |e: csv::Error| Error::Csv(e.to_string());
        let fields: std::collections::BTreeSet<&str> =
            self.overlaps.iter().flat_map(|o| o.partner_fields.iter().map(|(n, _)| n.as_str())).collect();
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["Account".to_owned(), "Account ID".to_owned()];
        header.extend(["Your segment", "Owner", "Their segment"].map(str::to_owned));
        header.extend(fields.iter().map(|f| format!("Their {}", f.replace('_', " "))));
        header.extend(["Match", "Why", "Matched on"].map(str::to_owned));
        out.write_record(&header).map_err(csv_error)?;
        for o in &self.overlaps {
            let mut cells = vec![
                o.name.clone().unwrap_or_else(|| o.account_id.clone()),
                o.account_id.clone(),
                o.own_segment.clone(),
                o.owner.clone().unwrap_or_default(),
                o.partner_segment.clone(),
            ];
            for field in &fields {
                let value = o.partner_fields.iter().find(|(n, _)| n == field).and_then(|(_, v)| v.clone());
                cells.push(value.unwrap_or_default());
            }
            cells.extend([o.tier.as_str().to_owned(), o.reason.clone(), o.key_types.join(", ")]);
            out.write_record(cells.iter().map(|c| csv_safe(c).into_owned())).map_err(csv_error)?;
        }
        let bytes = out.into_inner().map_err(|e| Error::Csv(e.error().to_string()))?;
        String::from_utf8(bytes).map_err(|e| Error::Csv(e.to_string()))
    }
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading
/// apostrophe, as the node's CSV exports do (`web/format.rs`): text from an export never executes
/// in the partner's spreadsheet.
pub(crate) fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The fields of one or more of the vendor's records that one account matched: each field's
/// distinct values, joined by "; " (none where no record has one).
fn joined(records: Option<&Vec<FieldValues>>) -> FieldValues {
    let Some(records) = records else { return Vec::new() };
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in records.iter().flatten() {
        let values = by_name.entry(name.as_str()).or_default();
        if let Some(v) = value
            && !values.contains(&v.as_str())
        {
            values.push(v);
        }
    }
    by_name
        .into_iter()
        .map(|(name, values)| (name.to_owned(), (!values.is_empty()).then(|| values.join("; "))))
        .collect()
}

/// `overlaps`, `hidden`, … when every cell has the same level, else `per cell`; `nothing` for
/// no cells — as the command line says it.
fn shared_in_words(outcome: &Outcome) -> String {
    plan_in_words(outcome.received_plan())
}

/// A plan's levels in words: one level when every cell has it, else `per cell`; `nothing` for
/// no cells.
pub(crate) fn plan_in_words(plan: &blindmap_psi::Plan) -> String {
    let mut names =
        (0..plan.rows()).flat_map(|r| (0..plan.cols()).map(move |c| (r, c))).map(|(r, c)| match plan.level(r, c) {
            Level::Fields(f) => {
                format!("fields ({})", f.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            }
            other => other.name().to_owned(),
        });
    let Some(first) = names.next() else { return "nothing".into() };
    if names.all(|n| n == first) { first } else { "per cell".into() }
}

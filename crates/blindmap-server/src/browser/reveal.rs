//! The reveal's wire form (spec §20.6): the page's text message after its session, as JSON, and
//! its conversion to the protocol crate's `Reveal` — every name and element checked here, the
//! reveal's fit with the session by `Outcome::with_reveal`.

use std::collections::BTreeMap;

use blindmap_psi::{FieldName, Level, Plan, Reveal, RevealedRecord};
use serde::{Deserialize, Serialize};

/// The most records a reveal may carry (the page's limit on its own records).
const MAX_REVEALED: usize = 1_000_000;

/// `{"type": "reveal", …}` without its type.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevealMessage {
    /// Counts below this are shown as "< k".
    pub(crate) threshold: u32,
    /// No segment of the node's smaller than this is shown anything.
    pub(crate) min_segment: u32,
    /// `cells[row][column]`: rows the node's segments (its hello order), columns the page's.
    pub(crate) cells: Vec<Vec<CellLevel>>,
    /// Counts cells' counts.
    #[serde(default)]
    pub(crate) counts: Vec<CountEntry>,
    /// The page's overlapping records in overlaps and fields cells.
    #[serde(default)]
    pub(crate) records: Vec<RecordEntry>,
}

/// A cell's level: `"hidden"`, `"counts"`, `"overlaps"`, or `{"fields": [names]}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum CellLevel {
    Name(String),
    Fields { fields: Vec<String> },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountEntry {
    pub(crate) row: u16,
    pub(crate) column: u16,
    pub(crate) accounts: u64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordEntry {
    pub(crate) row: u16,
    pub(crate) column: u16,
    /// The matched unblinded elements, 64 lower-case hex digits each.
    pub(crate) elements: Vec<String>,
    /// In a fields cell: each of the cell's fields, `null` where the record has none.
    #[serde(default)]
    pub(crate) fields: BTreeMap<String, Option<String>>,
}

impl RevealMessage {
    /// The message as the protocol crate's reveal, or what is wrong with it.
    pub(crate) fn into_reveal(self) -> Result<Reveal, String> {
        let rows = self.cells.len();
        let cols = self.cells.first().map_or(0, Vec::len);
        if self.cells.iter().any(|row| row.len() != cols) {
            return Err("the cells are not a matrix".into());
        }
        if self.records.len() > MAX_REVEALED {
            return Err(format!("more than {MAX_REVEALED} revealed records"));
        }
        let mut levels = Vec::with_capacity(rows * cols);
        for cell in self.cells.into_iter().flatten() {
            levels.push(match cell {
                CellLevel::Name(name) => match name.as_str() {
                    "hidden" => Level::Hidden,
                    "counts" => Level::Counts,
                    "overlaps" => Level::Overlaps,
                    other => {
                        return Err(format!("{other:?} is no level: hidden, counts, overlaps or {{\"fields\": […]}}"));
                    }
                },
                CellLevel::Fields { fields } => Level::Fields(
                    fields.iter().map(|f| FieldName::new(f).map_err(|e| e.to_string())).collect::<Result<_, _>>()?,
                ),
            });
        }
        let plan = Plan::from_levels(rows, cols, levels, self.threshold, self.min_segment)
            .ok_or_else(|| "the cells are not a matrix".to_owned())?;
        let mut records = Vec::with_capacity(self.records.len());
        for r in self.records {
            let mut elements = Vec::with_capacity(r.elements.len());
            for e in &r.elements {
                let mut bytes = [0u8; 32];
                if e.len() != 64 || !e.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err("an element is not 64 lower-case hex digits".into());
                }
                hex::decode_to_slice(e, &mut bytes).map_err(|_| "an element is not hex".to_owned())?;
                elements.push(bytes);
            }
            // The fields in the cell's order (the protocol crate checks they are the cell's).
            let cell = (r.row as usize) < rows && (r.column as usize) < cols;
            let order: Vec<FieldName> = match cell.then(|| plan.level(r.row as usize, r.column as usize)) {
                Some(Level::Fields(names)) => names.clone(),
                _ => Vec::new(),
            };
            if r.fields.len() != order.len() || order.iter().any(|n| !r.fields.contains_key(n.as_str())) {
                return Err("a revealed record's fields are not its cell's".into());
            }
            let fields = order.into_iter().map(|n| {
                let value = r.fields.get(n.as_str()).cloned().flatten();
                (n, value)
            });
            records.push(RevealedRecord { row: r.row, column: r.column, elements, fields: fields.collect() });
        }
        let counts = self.counts.into_iter().map(|c| (c.row, c.column, c.accounts)).collect();
        Ok(Reveal { plan, counts, records })
    }

    /// The protocol crate's reveal as the message.
    pub(crate) fn of(reveal: &Reveal) -> Self {
        let plan = &reveal.plan;
        let cells = (0..plan.rows())
            .map(|row| {
                (0..plan.cols())
                    .map(|col| match plan.level(row, col) {
                        Level::Fields(names) => {
                            CellLevel::Fields { fields: names.iter().map(|n| n.as_str().to_owned()).collect() }
                        }
                        level => CellLevel::Name(level.name().to_owned()),
                    })
                    .collect()
            })
            .collect();
        Self {
            threshold: plan.threshold(),
            min_segment: plan.min_segment(),
            cells,
            counts: reveal.counts.iter().map(|&(row, column, accounts)| CountEntry { row, column, accounts }).collect(),
            records: reveal
                .records
                .iter()
                .map(|r| RecordEntry {
                    row: r.row,
                    column: r.column,
                    elements: r.elements.iter().map(hex::encode).collect(),
                    fields: r.fields.iter().map(|(n, v)| (n.as_str().to_owned(), v.clone())).collect(),
                })
                .collect(),
        }
    }
}

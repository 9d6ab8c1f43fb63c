//! The JSON forms of what a browser partner's page and the vendor's node exchange besides
//! protocol frames (spec §20.6, §20.7): the page's reveal, and the node's fields returned for
//! what it revealed. One implementation for both ends: the node reads reveals and writes fields,
//! the page (`blindmap-wasm`) writes reveals and reads fields.
//!
//! Every message is a JSON object with a `type` member; these types read the other members,
//! name by name, and refuse anything else.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::policy::{Level, Plan};
use crate::record::FieldName;
use crate::reveal::{ReturnedFields, Reveal, RevealedRecord};

/// The most records a reveal, or the fields returned for it, may carry (a page's limit on its
/// own records).
pub const MAX_REVEALED: usize = 1_000_000;

/// `{"type": "reveal", …}` (spec §20.6), without its type.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RevealMessage {
    /// Counts below this are shown as "< k".
    pub threshold: u32,
    /// No segment of the node's smaller than this is shown anything.
    pub min_segment: u32,
    /// `cells[row][column]`: rows the node's segments (its hello order), columns the page's.
    pub cells: Vec<Vec<CellLevel>>,
    /// Counts cells' counts.
    #[serde(default)]
    pub counts: Vec<CountEntry>,
    /// The page's overlapping records in overlaps and fields cells.
    #[serde(default)]
    pub records: Vec<RecordEntry>,
}

/// A cell's level: `"hidden"`, `"counts"`, `"overlaps"`, or `{"fields": [names]}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum CellLevel {
    /// `"hidden"`, `"counts"` or `"overlaps"`.
    Name(String),
    /// `{"fields": [names]}`.
    Fields {
        /// The cell's fields, in order.
        fields: Vec<String>,
    },
}

/// One counts cell's count.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CountEntry {
    /// The node's segment.
    pub row: u16,
    /// The page's segment.
    pub column: u16,
    /// The page's records in the column that overlap the row.
    pub accounts: u64,
}

/// One revealed record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEntry {
    /// The node's segment whose filter it matched.
    pub row: u16,
    /// The page's segment it is in.
    pub column: u16,
    /// The matched unblinded elements, 64 lower-case hex digits each.
    pub elements: Vec<String>,
    /// In a fields cell: each of the cell's fields, `null` where the record has none.
    #[serde(default)]
    pub fields: BTreeMap<String, Option<String>>,
}

/// `{"type": "fields", …}` (spec §20.7), without its type: the node's fields for the records
/// the page revealed, in cells where the node's policy gives fields.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsMessage {
    /// One entry per (revealed record, node record it matched).
    pub records: Vec<FieldsEntry>,
}

/// The node's fields for one of its records that a revealed record matched.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsEntry {
    /// The revealed record: its index in the reveal's `records`.
    pub record: u32,
    /// The cell's fields of the node's record, `null` where it has none.
    pub fields: BTreeMap<String, Option<String>>,
}

/// Reads a message's members (its `type` removed) as `T`, refusing any other member.
fn read<T: DeserializeOwned>(members: serde_json::Map<String, serde_json::Value>) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(members)).map_err(|e| e.to_string())
}

/// `body` as a message of type `kind`.
fn text(kind: &str, body: &impl Serialize) -> String {
    let mut value = serde_json::to_value(body).unwrap_or_default();
    if let serde_json::Value::Object(members) = &mut value {
        members.insert("type".to_owned(), serde_json::Value::String(kind.to_owned()));
    }
    value.to_string()
}

impl CellLevel {
    /// The level this names, or why it names none.
    pub fn level(self) -> Result<Level, String> {
        level_of(self)
    }
}

fn level_of(cell: CellLevel) -> Result<Level, String> {
    match cell {
        CellLevel::Name(name) => match name.as_str() {
            "hidden" => Ok(Level::Hidden),
            "counts" => Ok(Level::Counts),
            "overlaps" => Ok(Level::Overlaps),
            other => Err(format!("{other:?} is no level: hidden, counts, overlaps or {{\"fields\": […]}}")),
        },
        CellLevel::Fields { fields } => Ok(Level::Fields(
            fields.iter().map(|f| FieldName::new(f).map_err(|e| e.to_string())).collect::<Result<_, _>>()?,
        )),
    }
}

fn element_of(text: &str) -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err("an element is not 64 lower-case hex digits".into());
    }
    hex::decode_to_slice(text, &mut bytes).map_err(|_| "an element is not hex".to_owned())?;
    Ok(bytes)
}

/// `values` in the order of `names`, if it has exactly those names.
fn in_order(
    names: &[FieldName],
    values: &BTreeMap<String, Option<String>>,
) -> Option<Vec<(FieldName, Option<String>)>> {
    if values.len() != names.len() || names.iter().any(|n| !values.contains_key(n.as_str())) {
        return None;
    }
    Some(names.iter().map(|n| (n.clone(), values.get(n.as_str()).cloned().flatten())).collect())
}

fn as_map(fields: &[(FieldName, Option<String>)]) -> BTreeMap<String, Option<String>> {
    fields.iter().map(|(n, v)| (n.as_str().to_owned(), v.clone())).collect()
}

impl RevealMessage {
    /// The members of a `reveal` message (its `type` removed), read.
    pub fn read(members: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        read(members)
    }

    /// The message as the protocol crate's reveal, or what is wrong with it. Every name and
    /// element is checked here; the reveal's fit with the session by `Outcome::with_reveal`.
    pub fn into_reveal(self) -> Result<Reveal, String> {
        let rows = self.cells.len();
        let cols = self.cells.first().map_or(0, Vec::len);
        if self.cells.iter().any(|row| row.len() != cols) {
            return Err("the cells are not a matrix".into());
        }
        if self.records.len() > MAX_REVEALED {
            return Err(format!("more than {MAX_REVEALED} revealed records"));
        }
        let levels = self.cells.into_iter().flatten().map(level_of).collect::<Result<Vec<_>, _>>()?;
        let plan = Plan::from_levels(rows, cols, levels, self.threshold, self.min_segment)
            .ok_or_else(|| "the cells are not a matrix".to_owned())?;
        let mut records = Vec::with_capacity(self.records.len());
        for r in self.records {
            let elements = r.elements.iter().map(|e| element_of(e)).collect::<Result<Vec<_>, _>>()?;
            // The fields in the cell's order (the protocol crate checks they are the cell's).
            let cell = (r.row as usize) < rows && (r.column as usize) < cols;
            let names: &[FieldName] = match cell.then(|| plan.level(r.row as usize, r.column as usize)) {
                Some(Level::Fields(names)) => names,
                _ => &[],
            };
            let fields = in_order(names, &r.fields).ok_or("a revealed record's fields are not its cell's")?;
            records.push(RevealedRecord { row: r.row, column: r.column, elements, fields });
        }
        let counts = self.counts.into_iter().map(|c| (c.row, c.column, c.accounts)).collect();
        Ok(Reveal { plan, counts, records })
    }

    /// The protocol crate's reveal as the message.
    pub fn of(reveal: &Reveal) -> Self {
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
                    fields: as_map(&r.fields),
                })
                .collect(),
        }
    }

    /// The whole message, `{"type": "reveal", …}`.
    pub fn to_text(&self) -> String {
        text("reveal", self)
    }
}

impl FieldsMessage {
    /// A whole message, `{"type": "fields", …}`, read; anything else refused.
    pub fn from_value(message: serde_json::Value) -> Result<Self, String> {
        let serde_json::Value::Object(mut members) = message else { return Err("not a JSON object".into()) };
        if members.remove("type").as_ref().and_then(serde_json::Value::as_str) != Some("fields") {
            return Err("not a fields message".into());
        }
        read(members)
    }

    /// The returned fields as the message.
    pub fn of(returned: &[ReturnedFields]) -> Self {
        Self { records: returned.iter().map(|r| FieldsEntry { record: r.record, fields: as_map(&r.fields) }).collect() }
    }

    /// The whole message, `{"type": "fields", …}`.
    pub fn to_text(&self) -> String {
        text("fields", self)
    }

    /// The message as fields returned for `reveal` (the reveal this side sent), or what is wrong
    /// with it: an entry for a record that was not revealed, no field or more than a cell may
    /// have, a name that is no field name, a value longer than a field may be. Which cells get
    /// fields is the node's policy (spec §20.7), not checked here.
    pub fn into_returned(self, reveal: &Reveal) -> Result<Vec<ReturnedFields>, String> {
        if self.records.len() > MAX_REVEALED {
            return Err(format!("more than {MAX_REVEALED} returned records"));
        }
        let mut returned = Vec::with_capacity(self.records.len());
        for entry in self.records {
            if entry.record as usize >= reveal.records.len() {
                return Err(format!("fields for record {}, which was not revealed", entry.record));
            }
            if entry.fields.is_empty() || entry.fields.len() > crate::record::MAX_FIELDS {
                return Err(format!("fields for record {}: 1 to {} fields", entry.record, crate::record::MAX_FIELDS));
            }
            let mut fields = Vec::with_capacity(entry.fields.len());
            for (name, value) in entry.fields {
                let name = FieldName::new(&name).map_err(|e| e.to_string())?;
                if value.as_ref().is_some_and(|v| v.len() > crate::record::MAX_FIELD_LEN) {
                    return Err(format!(
                        "a returned value of {} is longer than {} bytes",
                        name.as_str(),
                        crate::record::MAX_FIELD_LEN
                    ));
                }
                fields.push((name, value));
            }
            returned.push(ReturnedFields { record: entry.record, fields });
        }
        Ok(returned)
    }
}

//! What the importer made of a file, as the page shows it before anything is matched: the same
//! information as `blindmap inspect --json` (src/cli/inspect.rs), with each reason also in words.

use blindmap_records::normalise::is_common_name;
use blindmap_records::{Account, DropReason, Dropped, Lines, Summary};
use serde::Serialize;

/// The preview of an import.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The file's name.
    pub file: String,
    /// The preset or mapping it was read with.
    pub read_as: String,
    /// The header row.
    pub header: Vec<String>,
    /// Which column each role reads (`id`, `name`, `domain`, …, `segment rule`).
    pub columns: Vec<(String, String)>,
    /// Whether the whole file has been read.
    pub complete: bool,
    /// The counts.
    pub summary: SummaryView,
    /// The first accounts, with their keys and the values not used.
    pub accounts: Vec<AccountView>,
    /// The first values not used as keys across the file, each with its line and column.
    pub not_keys: Vec<NotKeyView>,
    /// The names of the fields its accounts carry (once read whole): what the partner may
    /// choose to share at the `fields` level.
    pub fields: Vec<String>,
}

impl Preview {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        file: &str,
        read_as: &str,
        header: &[String],
        columns: &[(String, String)],
        summary: &Summary,
        complete: bool,
        accounts: &[AccountView],
        not_keys: &[NotKeyView],
        fields: Vec<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            read_as: read_as.to_owned(),
            header: header.to_vec(),
            columns: columns.to_vec(),
            complete,
            summary: SummaryView::of(summary),
            accounts: accounts.to_vec(),
            not_keys: not_keys.to_vec(),
            fields,
        }
    }
}

/// The import's counts, as `blindmap inspect --json` writes them.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    /// Data rows read.
    pub rows: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Rows that take part in a match: with a key and a segment.
    pub accounts: u64,
    /// Keys made, per type.
    pub keys: KeyCounts,
    /// Rows without any usable key.
    pub rows_without_keys: LinesView,
    /// Rows with keys that no segment rule placed.
    pub unsegmented_rows: LinesView,
    /// Accounts per segment.
    pub segments: Vec<(String, u64)>,
    /// Values not used as keys, per reason.
    pub values_not_used_as_keys: Vec<ReasonCount>,
    /// Field values cut to the protocol's length limit.
    pub truncated_fields: u64,
}

/// Keys per type.
#[derive(Debug, Clone, Serialize)]
pub struct KeyCounts {
    /// Registrable domains.
    pub domain: u64,
    /// DUNS numbers.
    pub duns: u64,
    /// Names with their country.
    pub name_country: u64,
    /// Postal codes (evidence for a common name).
    pub postal_code: u64,
    /// Phone numbers (evidence for a common name).
    pub phone: u64,
}

/// Rows of one kind: how many, and the first of their lines.
#[derive(Debug, Clone, Serialize)]
pub struct LinesView {
    /// How many.
    pub count: u64,
    /// Their first lines.
    pub lines: Vec<u64>,
}

/// A reason values were not used as keys, and how many.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    /// The reason's code (`free_mail_domain`, …).
    pub reason: &'static str,
    /// The reason in words.
    pub why: String,
    /// How many values.
    pub count: u64,
}

impl SummaryView {
    fn of(s: &Summary) -> Self {
        let lines = |l: &Lines| LinesView { count: l.count, lines: l.first.clone() };
        Self {
            rows: s.rows,
            blank_lines: s.blank_lines,
            accounts: s.accounts,
            keys: KeyCounts {
                domain: s.keys[0],
                duns: s.keys[1],
                name_country: s.keys[2],
                postal_code: s.keys[3],
                phone: s.keys[4],
            },
            rows_without_keys: lines(&s.without_keys),
            unsegmented_rows: lines(&s.unsegmented),
            segments: s.segments.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
            values_not_used_as_keys: s
                .dropped
                .iter()
                .map(|(r, n)| ReasonCount { reason: r.code(), why: r.to_string(), count: *n })
                .collect(),
            truncated_fields: s.truncated_fields,
        }
    }
}

/// One account as the importer made it, as `blindmap inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// The line its row starts on.
    pub line: u64,
    /// The export's id.
    pub id: String,
    /// The company name as written.
    pub name: Option<String>,
    /// Its segment; `None` when no rule placed it.
    pub segment: Option<String>,
    /// Registrable domains.
    pub domains: Vec<String>,
    /// DUNS numbers.
    pub duns: Vec<String>,
    /// `name | country`.
    pub name_country: Option<String>,
    /// Whether the name is common (keys.md §2.7): a match by name and country alone is then
    /// only possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<bool>,
    /// Not a key: a condition on name matches.
    pub city: Option<String>,
    /// Evidence for a match by a common name.
    pub postal_code: Option<String>,
    /// Evidence for a match by a common name (E.164).
    pub phone: Option<String>,
    /// Mapped fields.
    pub fields: Vec<(String, String)>,
    /// Values that did not become keys.
    pub not_keys: Vec<NotKeyView>,
}

impl AccountView {
    pub(crate) fn of(a: &Account) -> Self {
        Self {
            line: a.line,
            id: a.id.clone(),
            name: a.name.clone(),
            segment: a.segment.as_ref().map(ToString::to_string),
            domains: a.keys.domains.clone(),
            duns: a.keys.duns.clone(),
            name_country: a.keys.name_country.as_ref().map(|(n, c)| format!("{n} | {c}")),
            common_name: a.keys.name_country.as_ref().map(|(n, _)| is_common_name(n)),
            city: a.keys.city.clone(),
            postal_code: a.keys.postal_code.clone(),
            phone: a.keys.phone.clone(),
            fields: a.fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            not_keys: a.dropped.iter().map(|d| NotKeyView::of(a.line, d)).collect(),
        }
    }
}

/// A value that did not become a key: where it is, what it is and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotKeyView {
    /// The line of its row.
    pub line: u64,
    /// The column's header name.
    pub column: String,
    /// The value as written.
    pub value: String,
    /// The reason's code.
    pub reason: &'static str,
    /// The reason in words.
    pub why: String,
}

impl NotKeyView {
    pub(crate) fn of(line: u64, d: &Dropped) -> Self {
        let reason: DropReason = d.reason;
        Self { line, column: d.column.clone(), value: d.value.clone(), reason: reason.code(), why: reason.to_string() }
    }
}

//! Importing an export: rows in, accounts with canonical keys, fields and a segment out.
//!
//! [`Importer`] streams: it holds one row at a time, so memory is bounded by the longest row,
//! not by the file. Callers keep what they import only once the whole file has been read
//! without error ([`import_dataset`] does exactly that), so an import is all or nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use blindmap_psi::{Dataset, FieldName, MAX_FIELD_LEN, MAX_KEYS_PER_RECORD, Record, SegmentLabel};

use crate::csv::{CsvError, Reader, Row};
use crate::error::{ErrorKind, ImportError, Place};
use crate::mapping::{Mapping, Resolved, ResolvedSegments};
use crate::normalise::{DropReason, city, company_name, country, domain, duns, phone, postal_code};
use crate::rule::{AccountKeys, MAX_NAME_KEYS, Side, match_keys};
use crate::segment::segment_label;

/// How many line numbers a summary lists per kind of problem; the count is always exact.
pub const LISTED_LINES: usize = 100;

/// One imported row.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The line the row starts on.
    pub line: u64,
    /// The export's own id, trimmed.
    pub id: String,
    /// The company name as written (trimmed, cut to the protocol's field limit): for people to
    /// read on this side; never a key or a field unless mapped as one.
    pub name: Option<String>,
    /// Its segment; `None` when no rule placed it.
    pub segment: Option<SegmentLabel>,
    /// Its canonical keys.
    pub keys: AccountKeys,
    /// Mapped fields, trimmed, empty ones left out, each cut to the protocol's field limit.
    pub fields: BTreeMap<FieldName, String>,
    /// Values that did not become keys, and why.
    pub dropped: Vec<Dropped>,
    /// How many field values were cut to the protocol's field limit.
    pub truncated_fields: usize,
}

/// A value that did not become a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The column's header name.
    pub column: String,
    /// The value as written.
    pub value: String,
    /// Why.
    pub reason: DropReason,
}

/// Line numbers of rows with some problem: an exact count, and the first [`LISTED_LINES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    /// How many rows.
    pub count: u64,
    /// The first of their lines.
    pub first: Vec<u64>,
}

impl Lines {
    fn push(&mut self, line: u64) {
        self.count += 1;
        if self.first.len() < LISTED_LINES {
            self.first.push(line);
        }
    }
}

/// What an import made of a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Data rows read (blank lines not counted).
    pub rows: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Canonical values made, per type: domain, DUNS, name+country, postal code, phone.
    pub keys: [u64; 5],
    /// Rows with at least one key and a segment: the accounts that take part in a match.
    pub accounts: u64,
    /// Rows without any usable key.
    pub without_keys: Lines,
    /// Rows with keys that no segment rule placed.
    pub unsegmented: Lines,
    /// Accounts per segment.
    pub segments: BTreeMap<SegmentLabel, u64>,
    /// Values that did not become keys, per reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Field values cut to the field length limit.
    pub truncated_fields: u64,
}

/// Reads accounts from an export, one row at a time.
pub struct Importer<R> {
    source: String,
    reader: Reader<R>,
    header: Vec<String>,
    resolved: Resolved,
    row: Row,
    summary: Summary,
}

impl<R: BufRead> Importer<R> {
    /// Reads the header and finds the mapping's columns. `source` names the input in errors.
    pub fn new(source: &str, input: R, mapping: &Mapping) -> Result<Self, ImportError> {
        let mut reader = Reader::new(input, mapping.delimiter()).map_err(|e| located(source, &[], e))?;
        let mut row = Row::default();
        let header = header_row(source, &mut reader, &mut row)?;
        let resolved = mapping.resolve(&header).map_err(|kind| ImportError::new(Place::at(source, row.line), kind))?;
        Ok(Self { source: source.to_owned(), reader, header, resolved, row, summary: Summary::default() })
    }

    /// Which column each role reads, as the header names it, in the mapping's order: `id`,
    /// `name`, `country`, `city`, `postal_code`, `phone`, `domain`, `email`, `duns`,
    /// `field:NAME`, and `segment` (the column labels come from) or `segment rule` (each rule's
    /// text, with the columns it reads). The roles are those `--map ROLE=COLUMN` takes.
    pub fn columns(&self) -> Vec<(String, String)> {
        self.resolved.columns(&self.header)
    }

    /// The name errors give the input.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The header name of the id column.
    pub fn id_column(&self) -> &str {
        &self.header[self.resolved.id]
    }

    /// The header row as read.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// What has been imported so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The next account, or `None` at the end of the file.
    pub fn next_account(&mut self) -> Result<Option<Account>, ImportError> {
        loop {
            if !self.reader.read_row(&mut self.row).map_err(|e| located(&self.source, &self.header, e))? {
                if self.summary.rows == 0 {
                    return Err(ImportError::new(Place::file(&self.source), ErrorKind::NoRows));
                }
                return Ok(None);
            }
            if self.row.is_blank() {
                self.summary.blank_lines += 1;
                continue;
            }
            let account = self.account()?;
            self.count(&account);
            return Ok(Some(account));
        }
    }

    fn account(&self) -> Result<Account, ImportError> {
        let row = &self.row;
        let place = || Place::at(&self.source, row.line);
        if row.len() != self.header.len() {
            return Err(ImportError::new(
                place(),
                ErrorKind::FieldCount { found: row.len(), expected: self.header.len() },
            ));
        }
        let mut cells = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            cells.push(row.text(i).map_err(|i| not_utf8(&self.source, row, i, &self.header))?.trim());
        }
        let r = &self.resolved;
        let id = cells[r.id];
        if id.is_empty() {
            return Err(ImportError::new(place().column(&self.header[r.id]), ErrorKind::EmptyId));
        }
        let mut dropped = Vec::new();
        let mut drop = |column: usize, value: &str, reason| {
            dropped.push(Dropped { column: self.header[column].clone(), value: value.to_owned(), reason });
        };
        let mut keys = AccountKeys::default();
        for &column in r.domains.iter().chain(&r.emails) {
            for value in split_values(cells[column]) {
                match domain(value) {
                    Ok(d) => keys.domains.push(d),
                    Err(reason) => drop(column, value, reason),
                }
            }
        }
        for &column in &r.duns {
            // DUNS numbers are written with spaces (`00 123 4567`): only list separators split.
            for value in cells[column].split([';', ',', '|', '\n']).map(str::trim).filter(|v| !v.is_empty()) {
                match duns(value) {
                    Ok(d) => keys.duns.push(d),
                    Err(reason) => drop(column, value, reason),
                }
            }
        }
        dedup_in_order(&mut keys.domains);
        dedup_in_order(&mut keys.duns);
        // A name makes at most MAX_NAME_KEYS keys (see the matching rule); the rest is for the others.
        let room = MAX_KEYS_PER_RECORD - MAX_NAME_KEYS;
        if keys.domains.len() + keys.duns.len() > room {
            let column = r.domains.first().or(r.emails.first()).copied().unwrap_or(r.id);
            for extra in keys.domains.split_off(room.saturating_sub(keys.duns.len()).min(keys.domains.len())) {
                drop(column, &extra, DropReason::TooManyKeys);
            }
            let duns_column = r.duns.first().copied().unwrap_or(r.id);
            for extra in keys.duns.split_off(room.min(keys.duns.len())) {
                drop(duns_column, &extra, DropReason::TooManyKeys);
            }
        }
        // The first country given, read once: (its column, the value, the code or why not).
        let found_country =
            r.country.iter().map(|&c| (c, cells[c])).find(|(_, v)| !v.is_empty()).map(|(c, v)| (c, v, country(v)));
        let cc = found_country.and_then(|(_, _, code)| code.ok());
        if let Some(column) = r.company.filter(|&c| !cells[c].is_empty()) {
            let name = cells[column];
            match found_country {
                None => drop(column, name, company_name(name, None).err().unwrap_or(DropReason::NameWithoutCountry)),
                Some((c, raw, Err(reason))) => drop(c, raw, reason),
                Some((_, _, Ok(cc))) => match company_name(name, Some(cc)) {
                    Ok(normalised) => keys.name_country = Some((normalised, cc)),
                    Err(reason) => drop(column, name, reason),
                },
            }
        }
        keys.city = r.city.iter().map(|&c| cells[c]).find(|c| !c.is_empty()).and_then(|c| city(c, cc));
        // Postal codes and phone numbers are evidence for name matches: read only with a country.
        if let Some(cc) = cc {
            if let Some(&column) = r.postal_code.iter().find(|&&c| !cells[c].is_empty()) {
                match postal_code(cells[column], cc) {
                    Ok(code) => keys.postal_code = Some(code),
                    Err(reason) => drop(column, cells[column], reason),
                }
            }
            // A phone number is evidence only for a common name without a postal code (keys.md
            // §3.1): parsing one costs more than the rest of the row, so only those are read.
            let phone_needed = keys.postal_code.is_none()
                && keys.name_country.as_ref().is_some_and(|(name, _)| crate::normalise::is_common_name(name));
            for &column in r.phone.iter().filter(|&&c| phone_needed && !cells[c].is_empty()) {
                match phone(cells[column], Some(cc)) {
                    Ok(number) => {
                        keys.phone = Some(number);
                        break;
                    }
                    Err(reason) => drop(column, cells[column], reason),
                }
            }
        }
        let mut fields = BTreeMap::new();
        let mut truncated_fields = 0;
        for (name, column) in &r.fields {
            let value = cells[*column];
            if !value.is_empty() {
                let kept = truncate(value);
                truncated_fields += usize::from(kept.len() < value.len());
                fields.insert(name.clone(), kept.to_owned());
            }
        }
        let segment = match &r.segments {
            ResolvedSegments::Column(c) => label_from_value(cells[*c]),
            ResolvedSegments::Rules(rules) => rules
                .iter()
                .find(|(rule, columns)| rule.holds(|name| columns.get(name).map_or("", |&i| cells[i])))
                .map(|(rule, _)| rule.label.clone()),
        };
        let name = r.company.map(|c| cells[c]).filter(|n| !n.is_empty()).map(|n| truncate(n).to_owned());
        Ok(Account { line: row.line, id: id.to_owned(), name, segment, keys, fields, dropped, truncated_fields })
    }

    fn count(&mut self, account: &Account) {
        let s = &mut self.summary;
        s.rows += 1;
        for d in &account.dropped {
            *s.dropped.entry(d.reason).or_default() += 1;
        }
        s.truncated_fields += account.truncated_fields as u64;
        if account.keys.is_empty() {
            s.without_keys.push(account.line);
            return;
        }
        let Some(segment) = &account.segment else {
            s.unsegmented.push(account.line);
            return;
        };
        for (total, n) in s.keys.iter_mut().zip(account.keys.counts()) {
            *total += n as u64;
        }
        s.accounts += 1;
        *s.segments.entry(segment.clone()).or_default() += 1;
    }
}

/// Reads only the header row, to choose a preset by it ([`Preset::detect`](crate::Preset::detect)).
pub fn read_header(source: &str, input: impl BufRead, delimiter: Option<u8>) -> Result<Vec<String>, ImportError> {
    let mut reader = Reader::new(input, delimiter).map_err(|e| located(source, &[], e))?;
    header_row(source, &mut reader, &mut Row::default())
}

/// The first non-blank row, trimmed: the header.
fn header_row(source: &str, reader: &mut Reader<impl BufRead>, row: &mut Row) -> Result<Vec<String>, ImportError> {
    loop {
        if !reader.read_row(row).map_err(|e| located(source, &[], e))? {
            return Err(ImportError::new(Place::file(source), ErrorKind::Empty));
        }
        if !row.is_blank() {
            return (0..row.len())
                .map(|i| row.text(i).map(|t| t.trim().to_owned()).map_err(|_| not_utf8(source, row, i, &[])))
                .collect();
        }
    }
}

/// A whole file made into a dataset for one side of a session.
#[derive(Debug)]
pub struct Imported {
    /// The accounts that take part: with at least one key and a segment.
    pub dataset: Dataset,
    /// What the import made of the file.
    pub summary: Summary,
}

/// Imports a whole file into a dataset, or nothing: the first error ends the import. Rows without
/// keys and unsegmented rows are left out and listed in the summary; a repeated id is an error.
/// `on_row` is called after each row (for progress).
pub fn import_dataset(
    source: &str,
    input: impl BufRead,
    mapping: &Mapping,
    side: Side,
    mut on_row: impl FnMut(&Summary),
) -> Result<Imported, ImportError> {
    let mut importer = Importer::new(source, input, mapping)?;
    let mut records = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    while let Some(account) = importer.next_account()? {
        on_row(importer.summary());
        if let Some(&first) = first_line.get(&account.id) {
            let place = Place::at(source, account.line).column(importer.id_column());
            return Err(ImportError::new(place, ErrorKind::DuplicateId { id: account.id, first_line: first }));
        }
        first_line.insert(account.id.clone(), account.line);
        let Some(segment) = account.segment.clone().filter(|_| !account.keys.is_empty()) else { continue };
        let mut record = Record::new(account.id, segment);
        record.keys = match_keys(&account.keys, side);
        record.fields = account.fields;
        records.push(record);
    }
    let summary = importer.summary;
    let dataset = Dataset::new(records).map_err(|e| ImportError::new(Place::file(source), e.into()))?;
    Ok(Imported { dataset, summary })
}

/// Values in one cell: several domains or DUNS numbers may share it, separated by `;`, `,`,
/// `|` or white space.
fn split_values(cell: &str) -> impl Iterator<Item = &str> {
    cell.split([';', ',', '|', ' ', '\t', '\n', '\r']).filter(|v| !v.is_empty())
}

fn dedup_in_order(values: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
}

fn truncate(value: &str) -> &str {
    if value.len() <= MAX_FIELD_LEN {
        return value;
    }
    let mut end = MAX_FIELD_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// A segment column's value as a label: lower case, anything but letters, digits, `-` and `_`
/// made `_`. Empty means unsegmented.
fn label_from_value(value: &str) -> Option<SegmentLabel> {
    segment_label(value).or_else(|| {
        let cleaned: String = value
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let cleaned = cleaned.split('_').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_");
        SegmentLabel::new(&cleaned).ok()
    })
}

fn column_name(header: &[String], i: usize) -> String {
    header.get(i).filter(|h| !h.is_empty()).cloned().unwrap_or_else(|| format!("#{}", i + 1))
}

fn located(source: &str, header: &[String], e: CsvError) -> ImportError {
    let mut place = Place::at(source, e.line);
    if let Some(i) = e.field {
        place = place.column(column_name(header, i));
    }
    ImportError::new(place, e.kind)
}

fn not_utf8(source: &str, row: &Row, i: usize, header: &[String]) -> ImportError {
    let bytes = row.get(i);
    let kind = match std::str::from_utf8(bytes) {
        // The value ends inside a character that started well and was cut: more than its lead
        // byte is there, or the value holds other UTF-8 characters. A lone lead byte at the end
        // of an otherwise ASCII value is a single-byte encoding's last letter (the é of "Café"
        // in Windows-1252 is 0xE9, a UTF-8 lead byte).
        Err(e)
            if e.error_len().is_none()
                && (bytes.len() - e.valid_up_to() > 1 || !bytes[..e.valid_up_to()].is_ascii()) =>
        {
            ErrorKind::TruncatedUtf8
        }
        Err(e) => ErrorKind::NotUtf8 { byte: bytes[e.valid_up_to()] },
        Ok(_) => ErrorKind::NotUtf8 { byte: 0 },
    };
    ImportError::new(Place::at(source, row.line).column(column_name(header, i)), kind)
}

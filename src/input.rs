//! The simple CSV input of `match-files`: `id`, `segment`, key columns, and fields.
//!
//! Richer CRM exports (presets, normalisation into canonical keys) are the records crate's job;
//! this reader takes keys as they are, trimmed and lower-cased.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use blindmap_psi::{Dataset, FieldName, KeyType, MatchKey, Record, SegmentLabel};

/// Columns read as match keys.
pub(crate) const KEY_COLUMNS: [&str; 3] = ["domain", "duns", "name_country"];

/// A loaded file: the dataset, and the lines of rows left out for having no key.
pub(crate) struct Loaded {
    /// Shared with the session that matches it.
    pub(crate) dataset: Arc<Dataset>,
    pub(crate) without_keys: Vec<u64>,
}

fn column_name(raw: &str) -> String {
    raw.trim().to_lowercase().replace([' ', '-'], "_")
}

/// Segment values as users write them ("Open Opportunities") become labels (`open_opportunities`).
fn segment_label(raw: &str) -> String {
    raw.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join("_")
}

pub(crate) fn load(path: &Path) -> anyhow::Result<Loaded> {
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {shown}"))?;
    // The csv crate's own line numbers skip blank lines and miscount CRLF; count them here.
    let mut lines = LineCounter { bytes: &bytes, offset: 0, line: 1 };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes.as_slice());
    let headers = reader.byte_headers().with_context(|| format!("{shown}: cannot read the header row"))?.clone();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, raw) in headers.iter().enumerate() {
        let raw = if i == 0 { raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw) } else { raw };
        let text = std::str::from_utf8(raw)
            .map_err(|_| anyhow::anyhow!("{shown}: the header row is not UTF-8; save the file as UTF-8"))?;
        columns.push(column_name(text));
    }
    let find = |name: &str| columns.iter().position(|c| c == name);
    let id_col = find("id").with_context(|| format!("{shown}: no `id` column (found: {})", columns.join(", ")))?;
    let segment_col =
        find("segment").with_context(|| format!("{shown}: no `segment` column (found: {})", columns.join(", ")))?;
    let key_cols: Vec<(usize, KeyType)> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| KEY_COLUMNS.contains(&c.as_str()))
        .map(|(i, c)| (i, KeyType::new(c).expect("known key types are valid")))
        .collect();
    if key_cols.is_empty() {
        bail!("{shown}: no key column; add at least one of {}", KEY_COLUMNS.join(", "));
    }
    let mut field_cols = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if i != id_col && i != segment_col && !key_cols.iter().any(|(k, _)| *k == i) && !c.is_empty() {
            let name = FieldName::new(c).with_context(|| format!("{shown}: column {:?} cannot be a field name", c))?;
            field_cols.push((i, name));
        }
    }

    let mut records = Vec::new();
    let mut without_keys = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in reader.byte_records() {
        let row = row.map_err(|e| match e.position() {
            Some(p) => anyhow::anyhow!("{shown}, line {}: {e}", lines.at(p.byte())),
            None => anyhow::anyhow!("{shown}: {e}"),
        })?;
        let line = lines.at(row.position().map_or(0, csv::Position::byte));
        if row.len() != columns.len() {
            bail!(
                "{shown}, line {line}: {} values where the header has {}; quote values that contain commas",
                row.len(),
                columns.len()
            );
        }
        let cell = |i: usize| -> anyhow::Result<&str> {
            std::str::from_utf8(row.get(i).unwrap_or_default()).map_err(|_| {
                anyhow::anyhow!("{shown}, line {line}, column {}: not UTF-8; save the file as UTF-8", columns[i])
            })
        };
        if row.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let id = cell(id_col)?.trim().to_owned();
        if id.is_empty() {
            bail!("{shown}, line {line}: the id is empty");
        }
        if let Some(first) = seen.insert(id.clone(), line) {
            bail!("{shown}, line {line}: id {id:?} is already used on line {first}");
        }
        let label = segment_label(cell(segment_col)?);
        let segment = SegmentLabel::new(&label).map_err(|_| {
            anyhow::anyhow!(
                "{shown}, line {line}: segment {label:?} must be letters, digits, _ or - (and start with a letter or digit)"
            )
        })?;
        let mut record = Record::new(id, segment);
        for (i, key_type) in &key_cols {
            for value in cell(*i)?.split(';') {
                let value = value.trim().to_lowercase();
                if !value.is_empty() {
                    record = record.with_key(MatchKey::new(key_type.clone(), value));
                }
            }
        }
        for (i, name) in &field_cols {
            let value = cell(*i)?.trim();
            if !value.is_empty() {
                record = record.with_field(name.clone(), value);
            }
        }
        if record.keys.is_empty() {
            without_keys.push(line);
            continue;
        }
        records.push(record);
    }
    let dataset = Dataset::new(records).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    Ok(Loaded { dataset: Arc::new(dataset), without_keys })
}

/// Line numbers of increasing byte offsets.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The line of the record starting at `offset`. The csv crate reports where the previous
    /// record ended, so blank lines in between are skipped first.
    fn at(&mut self, offset: u64) -> u64 {
        let mut offset = (offset as usize).min(self.bytes.len());
        while offset < self.bytes.len() && matches!(self.bytes[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset >= self.offset {
            self.line += self.bytes[self.offset..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset = offset;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> anyhow::Result<Loaded> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    #[test]
    fn reads_keys_fields_and_segments() {
        let loaded = load_text(
            "\u{feff}ID,Segment,Domain,DUNS,Owner\n1,Customers,Acme.com; acme.co.uk ,001234567,Ada\n\n2,Open Opportunities,,,Bob\n",
        )
        .unwrap();
        assert_eq!(loaded.dataset.records().len(), 1);
        assert_eq!(loaded.without_keys, vec![4]);
        let r = &loaded.dataset.records()[0];
        assert_eq!(r.segment.as_str(), "customers");
        let keys: Vec<_> = r.keys.iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect();
        assert_eq!(keys, ["domain:acme.com", "domain:acme.co.uk", "duns:001234567"]);
        assert_eq!(r.fields.values().collect::<Vec<_>>(), ["Ada"]);
    }

    #[test]
    fn errors_name_the_place_and_the_fix() {
        let e = load_text("id,domain\n1,a.com\n").err().unwrap().to_string();
        assert!(e.contains("no `segment` column"), "{e}");
        let e = load_text("id,segment\n1,x\n").err().unwrap().to_string();
        assert!(e.contains("no key column"), "{e}");
        let e = load_text("id,segment,domain\n1,x,a.com\n1,x,b.com\n").err().unwrap().to_string();
        assert!(e.contains("line 3") && e.contains("already used on line 2"), "{e}");
        let e = load_text("id,segment,domain\n1,x!,a.com\n").err().unwrap().to_string();
        assert!(e.contains("line 2") && e.contains("segment"), "{e}");
        let e = load_text("id,segment,domain\n1,x,a.com,extra\n").err().unwrap().to_string();
        assert!(e.contains("line 2") && e.contains("4 values where the header has 3"), "{e}");
        let e = load_text("id,segment,domain\r\n\r\n1,x,a.com\r\n\r\n1,x,b.com\r\n").err().unwrap().to_string();
        assert!(e.contains("line 5") && e.contains("line 3"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.csv");
        std::fs::write(&path, b"id,segment,domain\n1,x,caf\xe9.com\n").unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.contains("not UTF-8") && e.contains("line 2"), "{e}");
    }
}

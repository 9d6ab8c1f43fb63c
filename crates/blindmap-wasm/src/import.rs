//! The export read in the browser: the same importer as the node's (`blindmap_records::Importer`),
//! fed from the file's bytes in memory, a few thousand rows per call so that the worker can say
//! how far it got between calls.
//!
//! An import is all or nothing, as `blindmap_records::import_dataset` is: the first error ends
//! it, a repeated id is an error, and rows without keys or segment are left out and listed.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::rc::Rc;
use std::sync::Arc;

use blindmap_psi::{Dataset, FieldName, Record};
use blindmap_records::{
    ErrorKind, ImportError, Importer, Mapping, Place, Preset, Side, Summary, match_keys, read_header,
};

use crate::error::Error;
use crate::preview::{AccountView, NotKeyView, Preview};

/// The largest export the page reads: far above the 100,000 accounts an invitation allows, far
/// below what a browser tab can hold twice (the file's bytes and the records made of it).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// How many accounts the preview shows with their keys.
pub const PREVIEW_ACCOUNTS: usize = 50;

/// How many values not used as keys the preview lists with their line and column, across the file.
pub const PREVIEW_NOT_KEYS: usize = 200;

/// How to read an export: a preset by name (`auto` chooses by the header), or a mapping file.
#[derive(Debug, Clone, Default)]
pub struct ReadAs {
    /// `auto`, `salesforce`, `hubspot` or `generic`; empty means `auto`.
    pub preset: String,
    /// A mapping file's TOML text, instead of a preset.
    pub mapping: Option<String>,
}

impl ReadAs {
    /// The mapping for `bytes`, a file named `file`.
    fn mapping(&self, file: &str, bytes: &[u8]) -> Result<Mapping, Error> {
        let preset = self.preset.trim();
        let auto = preset.is_empty() || preset.eq_ignore_ascii_case("auto");
        match &self.mapping {
            Some(_) if !auto => Err(Error::PresetAndMapping),
            Some(text) => Mapping::from_toml(text).map_err(Error::Mapping),
            None if !auto => {
                Preset::from_name(preset).map(Preset::mapping).ok_or_else(|| Error::UnknownPreset(preset.to_owned()))
            }
            None => {
                let header = read_header(file, bytes, None)?;
                Preset::detect(&header).map(Preset::mapping).ok_or_else(|| Error::UnknownExport {
                    file: file.to_owned(),
                    header: header.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", "),
                })
            }
        }
    }
}

/// The file's bytes as the importer's reader, with a look at how far it got (for progress).
struct Counted {
    data: Box<[u8]>,
    consumed: Rc<Cell<usize>>,
}

impl Read for Counted {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Counted {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(&self.data[self.consumed.get()..])
    }

    fn consume(&mut self, n: usize) {
        self.consumed.set((self.consumed.get() + n).min(self.data.len()));
    }
}

/// Where an import is: reading, read whole, or failed.
enum State {
    Reading(Box<Importer<Counted>>),
    Done(Imported),
    Failed,
}

/// A whole export made into the partner's side of a session.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The accounts that take part (with a key and a segment), as the session's first side.
    pub dataset: Arc<Dataset>,
    /// Each record's name as the export writes it (aligned with `dataset.records()`): for the
    /// partner to read in the results; never sent.
    pub names: Arc<[Option<String>]>,
    /// Each record's owner (the `owner` field, where mapped), as the node's lists show it.
    pub owners: Arc<[Option<String>]>,
}

impl Imported {
    /// The names of the fields any of the accounts carries, in order.
    pub fn field_names(&self) -> Vec<String> {
        let names: std::collections::BTreeSet<&FieldName> =
            self.dataset.records().iter().flat_map(|r| r.fields.keys()).collect();
        names.into_iter().map(ToString::to_string).collect()
    }
}

/// An import under way: reads a few rows per [`Import::step`], then holds the dataset.
pub struct Import {
    file: String,
    read_as: String,
    header: Vec<String>,
    columns: Vec<(String, String)>,
    total_bytes: usize,
    consumed: Rc<Cell<usize>>,
    state: State,
    records: Vec<Record>,
    names: Vec<Option<String>>,
    owners: Vec<Option<String>>,
    first_line: HashMap<String, u64>,
    accounts: Vec<AccountView>,
    not_keys: Vec<NotKeyView>,
    summary: Summary,
}

impl Import {
    /// Starts reading `bytes`, the file `file`, as `read_as` says: finds the mapping and reads
    /// the header. Errors name the file, and the line and column where there are some.
    pub fn new(file: &str, bytes: Vec<u8>, read_as: &ReadAs) -> Result<Self, Error> {
        let size = bytes.len() as u64;
        if size > MAX_FILE_BYTES {
            return Err(Error::TooLarge { size, limit: MAX_FILE_BYTES });
        }
        let mapping = read_as.mapping(file, &bytes)?;
        let total_bytes = bytes.len();
        let consumed = Rc::new(Cell::new(0));
        let reader = Counted { data: bytes.into_boxed_slice(), consumed: consumed.clone() };
        let importer = Importer::new(file, reader, &mapping)?;
        Ok(Self {
            file: file.to_owned(),
            read_as: mapping.name().to_owned(),
            header: importer.header().to_vec(),
            columns: importer.columns(),
            total_bytes,
            consumed,
            state: State::Reading(Box::new(importer)),
            records: Vec::new(),
            names: Vec::new(),
            owners: Vec::new(),
            first_line: HashMap::new(),
            accounts: Vec::new(),
            not_keys: Vec::new(),
            summary: Summary::default(),
        })
    }

    /// Reads up to `rows` more rows. `Ok(true)` once the whole file is read and made into a
    /// dataset; the first error ends the import (and is returned again by later calls).
    pub fn step(&mut self, rows: u32) -> Result<bool, Error> {
        match &self.state {
            State::Done(_) => return Ok(true),
            State::Failed => return Err(Error::State("the import failed; choose the file again")),
            State::Reading(_) => {}
        }
        match self.read(rows) {
            Ok(done) => Ok(done),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    fn read(&mut self, rows: u32) -> Result<bool, Error> {
        let State::Reading(importer) = &mut self.state else { return Ok(true) };
        for _ in 0..rows {
            let Some(account) = importer.next_account()? else {
                self.summary = importer.summary().clone();
                self.finish()?;
                return Ok(true);
            };
            if self.accounts.len() < PREVIEW_ACCOUNTS {
                self.accounts.push(AccountView::of(&account));
            }
            for dropped in account.dropped.iter().take(PREVIEW_NOT_KEYS.saturating_sub(self.not_keys.len())) {
                self.not_keys.push(NotKeyView::of(account.line, dropped));
            }
            // As `blindmap_records::import_dataset`: a repeated id is an error at its second line.
            if let Some(&first_line) = self.first_line.get(&account.id) {
                let id_column = importer.id_column().to_owned();
                let place = Place { source: self.file.clone(), line: Some(account.line), column: Some(id_column) };
                return Err(ImportError::new(place, ErrorKind::DuplicateId { id: account.id, first_line }).into());
            }
            self.first_line.insert(account.id.clone(), account.line);
            let Some(segment) = account.segment.clone().filter(|_| !account.keys.is_empty()) else { continue };
            let mut record = Record::new(account.id, segment);
            record.keys = match_keys(&account.keys, Side::First);
            record.fields = account.fields;
            self.owners.push(record.fields.get(&owner_field()).cloned());
            self.names.push(account.name);
            self.records.push(record);
        }
        self.summary = importer.summary().clone();
        Ok(false)
    }

    fn finish(&mut self) -> Result<(), Error> {
        let records = std::mem::take(&mut self.records);
        let dataset = Dataset::new(records)
            .map_err(|e| ImportError::new(Place { source: self.file.clone(), line: None, column: None }, e.into()))?;
        self.first_line = HashMap::new();
        self.state = State::Done(Imported {
            dataset: Arc::new(dataset),
            names: std::mem::take(&mut self.names).into(),
            owners: std::mem::take(&mut self.owners).into(),
        });
        Ok(())
    }

    /// `(bytes read, bytes in all)`: what a progress bar shows.
    pub fn progress(&self) -> (u64, u64) {
        let read = if matches!(self.state, State::Done(_)) { self.total_bytes } else { self.consumed.get() };
        (read as u64, self.total_bytes as u64)
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.summary.rows
    }

    /// The dataset, once the whole file is read.
    pub fn imported(&self) -> Option<&Imported> {
        match &self.state {
            State::Done(imported) => Some(imported),
            _ => None,
        }
    }

    /// What the importer made of the file so far (all of it, once read): what `blindmap inspect`
    /// shows.
    pub fn preview(&self) -> Preview {
        Preview::new(
            &self.file,
            &self.read_as,
            &self.header,
            &self.columns,
            &self.summary,
            matches!(self.state, State::Done(_)),
            &self.accounts,
            &self.not_keys,
            self.imported().map(Imported::field_names).unwrap_or_default(),
        )
    }
}

/// The field the node's lists show as an account's owner.
fn owner_field() -> FieldName {
    #[allow(clippy::unwrap_used, reason = "a constant, valid field name")]
    FieldName::new("owner").unwrap()
}

//! Import errors: each says where (file, line, column) and what to do about it.

use std::fmt;

/// An import failed; nothing of it should be kept.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", .0.0, .0.1)]
pub struct ImportError(Box<(Place, ErrorKind)>);

impl ImportError {
    /// An error at a place: for callers that find import problems the importer cannot see, such
    /// as a store finding an id used twice.
    pub fn new(place: Place, kind: ErrorKind) -> Self {
        Self(Box::new((place, kind)))
    }

    /// Where the problem is.
    pub fn place(&self) -> &Place {
        &self.0.0
    }

    /// What it is.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.1
    }
}

/// A file, and where known a line and a column in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file (or flag) as the user named it.
    pub source: String,
    /// 1-based line.
    pub line: Option<u64>,
    /// The column's header name, or its 1-based position where it has none.
    pub column: Option<String>,
}

impl Place {
    pub(crate) fn file(source: &str) -> Self {
        Self { source: source.to_owned(), line: None, column: None }
    }

    pub(crate) fn at(source: &str, line: u64) -> Self {
        Self { source: source.to_owned(), line: Some(line), column: None }
    }

    pub(crate) fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column:?}")?;
        }
        Ok(())
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The file has no bytes at all.
    #[error("the file is empty; export it again with a header row and at least one account")]
    Empty,
    /// A header and nothing else.
    #[error("the file has a header row but no accounts")]
    NoRows,
    /// Not UTF-8 text.
    #[error("{0}")]
    Encoding(EncodingProblem),
    /// A value is not UTF-8.
    #[error(
        "not UTF-8 text (the byte 0x{byte:02X} suggests Windows-1252 or Latin-1); save the file as \
         \"CSV UTF-8\" or convert it with `iconv -f WINDOWS-1252 -t UTF-8`"
    )]
    NotUtf8 {
        /// The first offending byte.
        byte: u8,
    },
    /// A value ends in the middle of a UTF-8 character: the file was cut or edited bytewise.
    #[error("a character is cut off in the middle (truncated UTF-8); export the file again")]
    TruncatedUtf8,
    /// Quotes are not as RFC 4180 wants them.
    #[error("{0}")]
    Quote(QuoteProblem),
    /// A row past any sane size: almost always an unbalanced quote.
    #[error(
        "the row is longer than {} MiB; a quote is probably missing its closing partner (or this is not a CSV file)",
        .limit >> 20
    )]
    RowTooLong {
        /// The longest row accepted, in bytes.
        limit: usize,
    },
    /// A row's field count differs from the header's.
    #[error("{found} values where the header has {expected}; quote values that contain the delimiter")]
    FieldCount {
        /// Fields in this row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A column the mapping needs is not in the header.
    #[error("no {role} column: expected {}{}; the file has: {}{}", quoted_list(.expected), .hint.as_deref().unwrap_or(""), quoted_list(.found), one_column_hint(.found))]
    MissingColumn {
        /// What the column is for.
        role: String,
        /// Names it may have.
        expected: Vec<String>,
        /// The header.
        found: Vec<String>,
        /// A suggestion, e.g. another preset.
        hint: Option<String>,
    },
    /// Two header cells have the name a mapping asks for.
    #[error("the header has more than one column named {0:?}; rename one of them")]
    DuplicateColumn(String),
    /// A row without an id.
    #[error("the account id is empty; every row needs one")]
    EmptyId,
    /// Two rows with one id.
    #[error("account id {id:?} is already used on line {first_line}; ids must be unique")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first used.
        first_line: u64,
    },
    /// A mapping (file or flags) is wrong.
    #[error("{0}")]
    Mapping(String),
    /// A segment rule does not parse.
    #[error("segment rule {rule:?}: {problem}")]
    SegmentRule {
        /// The rule as written.
        rule: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The records do not make a dataset the protocol accepts.
    #[error(transparent)]
    Dataset(#[from] blindmap_psi::InputError),
}

/// The ways a file can fail to be UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingProblem {
    /// A UTF-16 byte-order mark, or zero bytes between ASCII letters.
    #[error(
        "the file is UTF-16 text; save it as \"CSV UTF-8 (Comma delimited)\" or convert it with \
         `iconv -f UTF-16 -t UTF-8`"
    )]
    Utf16,
    /// A UTF-32 byte-order mark.
    #[error("the file is UTF-32 text; convert it with `iconv -f UTF-32 -t UTF-8`")]
    Utf32,
    /// A ZIP archive: an Excel workbook, most likely.
    #[error("this is a ZIP archive (an .xlsx workbook?), not CSV; in Excel use File › Save As › \"CSV UTF-8\"")]
    Zip,
    /// A zero byte in the text.
    #[error("the file contains a zero byte, so it is not CSV text (UTF-16, or a binary file?)")]
    Nul,
}

/// The ways quoting can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteProblem {
    /// A quoted value runs to the end of the file.
    #[error("a quoted value opened here is never closed; add the closing quote, and double any quote inside it (\"\")")]
    Unclosed,
    /// `ab"c`.
    #[error("a quote inside an unquoted value; put the whole value in quotes and double the quotes inside it (\"\")")]
    InUnquotedValue,
    /// `"ab"c`.
    #[error("text after the closing quote of a value; double the quotes inside the value (\"\")")]
    TextAfterClosingQuote,
}

/// A header read as one column holding another delimiter was most likely split on the wrong one.
fn one_column_hint(found: &[String]) -> &'static str {
    match found {
        [only] if only.contains([';', ',', '\t', '|']) => {
            " (read as one column: if the file uses another delimiter, set it with `delimiter = \";\"` in a \
             mapping file or --map 'delimiter=;')"
        }
        _ => "",
    }
}

fn quoted_list(items: &[String]) -> String {
    items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

//! A strict, streaming RFC 4180 reader.
//!
//! Written here rather than taken from the `csv` crate because CRM exports need errors that a
//! person can act on: the line where a quote opened and was never closed, the column holding a
//! stray quote, a row that grows past any sane size (an unbalanced quote swallowing the rest of
//! a 10 GB file must fail at the limit, not after reading it into memory). Memory is bounded by
//! the longest row accepted, whatever the file's size.

use std::io::{self, BufRead, Read};

use crate::error::{EncodingProblem, ErrorKind, QuoteProblem};

/// Longest row accepted, in bytes: far above any CRM export's widest row (Salesforce long text
/// areas hold 131,072 characters), far below what an unclosed quote reads in.
pub const MAX_ROW_BYTES: usize = 4 << 20;

/// One parsed row: its fields' bytes back to back, and where each ends.
#[derive(Debug, Default)]
pub(crate) struct Row {
    /// Physical line (1-based) the row starts on.
    pub(crate) line: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Row {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// True when every field is empty or white space: a blank line, or a row of bare delimiters.
    pub(crate) fn is_blank(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// The fields as text, or the index of the first field that is not UTF-8.
    pub(crate) fn text(&self, i: usize) -> Result<&str, usize> {
        std::str::from_utf8(self.get(i)).map_err(|_| i)
    }

    fn clear(&mut self, line: u64) {
        self.line = line;
        self.bytes.clear();
        self.ends.clear();
    }
}

/// An error from the reader, located by line and (where known) field index.
#[derive(Debug)]
pub(crate) struct CsvError {
    pub(crate) line: u64,
    pub(crate) field: Option<usize>,
    pub(crate) kind: ErrorKind,
}

enum State {
    FieldStart,
    Unquoted,
    Quoted {
        opened_on: u64,
    },
    /// A quote inside a quoted field: either an escaped quote or the field's end.
    QuoteInQuoted {
        opened_on: u64,
    },
}

/// How much of a file's start is read before its encoding and delimiter are judged: the first
/// line (and at least [`SNIFF_BYTES`]), up to this much of it.
const HEAD_BYTES: usize = 8 << 10;

/// The bytes the encoding is judged by, where the file has them.
const SNIFF_BYTES: usize = 64;

/// Reads rows from a byte stream.
pub(crate) struct Reader<R> {
    /// The head the encoding and delimiter were judged by, then the rest of the stream.
    input: io::Chain<io::Cursor<Vec<u8>>, R>,
    delimiter: u8,
    /// The physical line the reader is on.
    line: u64,
    started: bool,
    /// A `\r` ended the previous row; a `\n` right after it belongs to that row ending.
    after_cr: bool,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// A reader that checks the encoding and picks the delimiter from the first line
    /// (`,`, else `;`, else tab) unless one is given.
    ///
    /// The judgement reads the file's first line whatever sizes the input's reads come in (a
    /// stream may hand out a few bytes at a time): a byte-order mark or a header cut across two
    /// reads is read whole.
    pub(crate) fn new(mut input: R, delimiter: Option<u8>) -> Result<Self, CsvError> {
        let at_start = |kind| CsvError { line: 1, field: None, kind };
        let mut head = Vec::new();
        let mut line_ended = false;
        while head.len() < HEAD_BYTES && !(line_ended && head.len() >= SNIFF_BYTES) {
            let buf = match input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(at_start(ErrorKind::Io(e))),
            };
            if buf.is_empty() {
                break;
            }
            let taken = &buf[..buf.len().min(HEAD_BYTES - head.len())];
            line_ended |= taken.iter().any(|&b| b == b'\n' || b == b'\r');
            head.extend_from_slice(taken);
            let n = taken.len();
            input.consume(n);
        }
        if head.is_empty() {
            return Err(at_start(ErrorKind::Empty));
        }
        if let Some(problem) = sniff_encoding(&head) {
            return Err(at_start(ErrorKind::Encoding(problem)));
        }
        let bom = head.starts_with(b"\xEF\xBB\xBF");
        let delimiter = delimiter.unwrap_or_else(|| guess_delimiter(&head[if bom { 3 } else { 0 }..]));
        let mut head = io::Cursor::new(head);
        if bom {
            head.set_position(3);
        }
        Ok(Self { input: head.chain(input), delimiter, line: 1, started: false, after_cr: false, done: false })
    }

    #[cfg(test)]
    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Reads the next row into `row`; `Ok(false)` at the end of the input.
    pub(crate) fn read_row(&mut self, row: &mut Row) -> Result<bool, CsvError> {
        if self.done {
            return Ok(false);
        }
        let mut state = State::FieldStart;
        let mut field_start_col = 0usize;
        let mut cr_in_quotes = false;
        row.clear(self.line);
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CsvError { line: self.line, field: None, kind: ErrorKind::Io(e) }),
            };
            if buf.is_empty() {
                self.done = true;
                return match state {
                    State::Quoted { opened_on } => Err(CsvError {
                        line: opened_on,
                        field: Some(row.ends.len()),
                        kind: ErrorKind::Quote(QuoteProblem::Unclosed),
                    }),
                    _ if !self.started => Ok(false),
                    _ => {
                        row.ends.push(row.bytes.len());
                        self.started = false;
                        Ok(true)
                    }
                };
            }
            let mut used = 0;
            let mut finished = false;
            while used < buf.len() {
                // Plain bytes of a value go in one copy; only the bytes that can change the state
                // are looked at one by one.
                if !self.after_cr {
                    let plain = match state {
                        State::Quoted { .. } => buf[used..].iter().position(|&b| matches!(b, b'"' | b'\r' | b'\n' | 0)),
                        State::Unquoted => buf[used..]
                            .iter()
                            .position(|&b| b == self.delimiter || matches!(b, b'"' | b'\r' | b'\n' | 0)),
                        _ => Some(0),
                    }
                    .unwrap_or(buf.len() - used);
                    if plain > 0 {
                        // The same bound as byte by byte below: none of these bytes is taken
                        // once the row holds the limit.
                        if row.bytes.len() + row.ends.len() + plain > MAX_ROW_BYTES {
                            return Err(CsvError {
                                line: row.line,
                                field: None,
                                kind: ErrorKind::RowTooLong { limit: MAX_ROW_BYTES },
                            });
                        }
                        row.bytes.extend_from_slice(&buf[used..used + plain]);
                        used += plain;
                        cr_in_quotes = false;
                        continue;
                    }
                }
                let b = buf[used];
                used += 1;
                if b == 0 {
                    return Err(CsvError {
                        line: self.line,
                        field: None,
                        kind: ErrorKind::Encoding(EncodingProblem::Nul),
                    });
                }
                if self.after_cr {
                    self.after_cr = false;
                    if b == b'\n' {
                        continue;
                    }
                }
                self.started = true;
                // Delimiters count too: a line of commas must not grow the field list without end.
                if row.bytes.len() + row.ends.len() >= MAX_ROW_BYTES {
                    return Err(CsvError {
                        line: row.line,
                        field: None,
                        kind: ErrorKind::RowTooLong { limit: MAX_ROW_BYTES },
                    });
                }
                // Outside a quoted value, a delimiter ends the field and a line break the row.
                if !matches!(state, State::Quoted { .. }) {
                    if b == self.delimiter {
                        row.ends.push(row.bytes.len());
                        state = State::FieldStart;
                        field_start_col += 1;
                        continue;
                    }
                    if b == b'\n' || b == b'\r' {
                        self.line += 1;
                        self.after_cr = b == b'\r';
                        row.ends.push(row.bytes.len());
                        finished = true;
                        break;
                    }
                }
                let misplaced = |problem| CsvError {
                    line: self.line,
                    field: Some(field_start_col),
                    kind: ErrorKind::Quote(problem),
                };
                match state {
                    State::FieldStart if b == b'"' => state = State::Quoted { opened_on: self.line },
                    State::Unquoted if b == b'"' => return Err(misplaced(QuoteProblem::InUnquotedValue)),
                    State::FieldStart | State::Unquoted => {
                        row.bytes.push(b);
                        state = State::Unquoted;
                    }
                    State::Quoted { opened_on } if b == b'"' => state = State::QuoteInQuoted { opened_on },
                    State::Quoted { .. } => {
                        // A line break inside a value: CR LF, LF, or a lone CR all count once.
                        self.line += u64::from(b == b'\r' || (b == b'\n' && !cr_in_quotes));
                        cr_in_quotes = b == b'\r';
                        row.bytes.push(b);
                    }
                    State::QuoteInQuoted { opened_on } if b == b'"' => {
                        row.bytes.push(b'"');
                        state = State::Quoted { opened_on };
                    }
                    State::QuoteInQuoted { .. } => return Err(misplaced(QuoteProblem::TextAfterClosingQuote)),
                }
            }
            self.input.consume(used);
            if finished {
                self.started = false;
                return Ok(true);
            }
        }
    }
}

fn sniff_encoding(head: &[u8]) -> Option<EncodingProblem> {
    if head.starts_with(b"\xFF\xFE\x00\x00") || head.starts_with(b"\x00\x00\xFE\xFF") {
        Some(EncodingProblem::Utf32)
    } else if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        Some(EncodingProblem::Utf16)
    } else if head.starts_with(b"PK\x03\x04") {
        Some(EncodingProblem::Zip)
    } else if looks_like_utf16(head) {
        Some(EncodingProblem::Utf16)
    } else {
        None
    }
}

/// ASCII text saved as UTF-16 without a byte-order mark: every other byte is zero.
fn looks_like_utf16(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(64)];
    let zeros = |parity: usize| sample.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let half = sample.len() / 2;
    half >= 2 && (zeros(0) * 4 >= half * 3 || zeros(1) * 4 >= half * 3)
}

/// The delimiter the header row uses most: comma, semicolon (Excel in many European locales) or
/// tab; ties go to the comma. Only the head is looked at ([`HEAD_BYTES`]): a header longer than
/// that is comma-separated in any export we know.
fn guess_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n' || b == b'\r').next().unwrap_or_default();
    let count = |d: u8| {
        let mut quoted = false;
        line.iter()
            .filter(|&&b| {
                if b == b'"' {
                    quoted = !quoted;
                }
                !quoted && b == d
            })
            .count()
    };
    [b',', b';', b'\t'].into_iter().max_by_key(|&d| (count(d), d == b',')).unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8]) -> Result<Vec<(u64, Vec<String>)>, CsvError> {
        let mut reader = Reader::new(input, None)?;
        let mut row = Row::default();
        let mut out = Vec::new();
        while reader.read_row(&mut row)? {
            let fields = (0..row.len()).map(|i| String::from_utf8_lossy(row.get(i)).into_owned()).collect();
            out.push((row.line, fields));
        }
        Ok(out)
    }

    fn kind(input: &[u8]) -> (u64, Option<usize>, String) {
        match rows(input) {
            Err(e) => (e.line, e.field, e.kind.to_string()),
            Ok(rows) => panic!("{} rows read where an error was expected", rows.len()),
        }
    }

    #[test]
    fn reads_rfc_4180() {
        let got = rows(b"\xEF\xBB\xBFa,b,c\r\n1,\"x, \"\"y\"\"\",\r\n\r\n2,\"multi\nline\",z\n3,,\"\"").unwrap();
        assert_eq!(
            got,
            vec![
                (1, vec!["a".into(), "b".into(), "c".into()]),
                (2, vec!["1".into(), "x, \"y\"".into(), "".into()]),
                (3, vec!["".into()]),
                (4, vec!["2".into(), "multi\nline".into(), "z".into()]),
                (6, vec!["3".into(), "".into(), "".into()]),
            ]
        );
    }

    #[test]
    fn line_breaks_inside_values_count_once() {
        let got = rows(b"a,b\r1,\"x\ry\"\r2,\"x\r\ny\"\r\n3,z\n").unwrap();
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 4, 6]);
        assert_eq!(got[2].1[1], "x\r\ny");
    }

    #[test]
    fn lone_cr_ends_rows_and_no_final_newline_is_fine() {
        let got = rows(b"a,b\r1,2\r3,4").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (3, vec!["3".into(), "4".into()]));
    }

    #[test]
    fn guesses_semicolons_and_tabs() {
        assert_eq!(Reader::new(&b"a;b\n1;2\n"[..], None).unwrap().delimiter(), b';');
        assert_eq!(Reader::new(&b"a\tb\n"[..], None).unwrap().delimiter(), b'\t');
        assert_eq!(Reader::new(&b"\"a;b\",c\n"[..], None).unwrap().delimiter(), b',');
        // Delimiters inside quotes do not count, and the header ends at a lone CR.
        assert_eq!(Reader::new(&b"\"a;b;c\",d\n"[..], None).unwrap().delimiter(), b',');
        assert_eq!(Reader::new(&b"a,b\r1;2;3;4\r"[..], None).unwrap().delimiter(), b',');
        assert_eq!(Reader::new(&b"a\tb\tc;d\n"[..], None).unwrap().delimiter(), b'\t');
        assert_eq!(Reader::new(&b"a\n"[..], None).unwrap().delimiter(), b',');
        assert_eq!(Reader::new(&b"id;segment;name\r1;c;Acme, Inc\r"[..], None).unwrap().delimiter(), b';');
        assert_eq!(Reader::new(&b"id;Revenue (EUR, net);name\n"[..], None).unwrap().delimiter(), b';');
    }

    #[test]
    fn quote_errors_are_located() {
        let (line, field, text) = kind(b"a,b\n1,\"open\n2,x\n3,y\n");
        assert_eq!((line, field), (2, Some(1)));
        assert!(text.contains("never closed"), "{text}");
        let (line, field, text) = kind(b"a,b\n1,ab\"c\n");
        assert_eq!((line, field), (2, Some(1)));
        assert!(text.contains("inside an unquoted value"), "{text}");
        let (line, field, text) = kind(b"a,b\n\"x\"y,1\n");
        assert_eq!((line, field), (2, Some(0)));
        assert!(text.contains("after the closing quote"), "{text}");
    }

    fn encoding(input: &[u8]) -> Option<EncodingProblem> {
        match Reader::new(input, None) {
            Err(CsvError { kind: ErrorKind::Encoding(problem), line: 1, field: None }) => Some(problem),
            Err(e) => panic!("{}", e.kind),
            Ok(_) => None,
        }
    }

    #[test]
    fn each_byte_order_mark_and_bare_utf16_is_named() {
        assert_eq!(encoding(b"\xFF\xFE\x00\x00i\x00\x00\x00"), Some(EncodingProblem::Utf32));
        assert_eq!(encoding(b"\x00\x00\xFE\xFF\x00\x00\x00i"), Some(EncodingProblem::Utf32));
        assert_eq!(encoding(b"\xFF\xFEi\x00d\x00"), Some(EncodingProblem::Utf16));
        assert_eq!(encoding(b"\xFE\xFF\x00i\x00d"), Some(EncodingProblem::Utf16));
        assert_eq!(encoding(b"PK\x03\x04\x14\x00"), Some(EncodingProblem::Zip));
        assert_eq!(encoding(b"\xEF\xBB\xBFid,name\n"), None);
        // Without a mark: little-endian (zeros after the letters) and big-endian (before).
        let le: Vec<u8> = b"id,name\n1,Acme\n".iter().flat_map(|&b| [b, 0]).collect();
        let be: Vec<u8> = b"id,name\n1,Acme\n".iter().flat_map(|&b| [0, b]).collect();
        assert_eq!(encoding(&le), Some(EncodingProblem::Utf16));
        assert_eq!(encoding(&be), Some(EncodingProblem::Utf16));
        // Two characters are enough to tell; one is not (that is a zero byte in a file).
        assert_eq!(encoding(b"i\x00d\x00"), Some(EncodingProblem::Utf16));
        assert_eq!(encoding(b"i\x00d"), None);
        // Three quarters of the first 32 odd (or even) bytes zero is UTF-16; fewer is not.
        let sample = |zeros: usize| -> Vec<u8> {
            (0..32).flat_map(|i| [b'a', if i < zeros { 0 } else { b'b' }]).chain(*b"\nmore text after").collect()
        };
        assert_eq!(encoding(&sample(24)), Some(EncodingProblem::Utf16));
        assert_eq!(encoding(&sample(23)), None);
        // The same with the zeros first (big-endian).
        let swapped = |zeros: usize| -> Vec<u8> {
            let mut bytes = sample(zeros);
            bytes[..64].chunks_mut(2).for_each(<[u8]>::reverse);
            bytes
        };
        assert_eq!(encoding(&swapped(24)), Some(EncodingProblem::Utf16));
        assert_eq!(encoding(&swapped(23)), None);
        // Only the first 64 bytes are judged.
        let late: Vec<u8> = b"x".repeat(64).into_iter().chain([b'a', 0].repeat(40)).collect();
        assert_eq!(encoding(&late), None);
    }

    #[test]
    fn encodings_are_refused_with_the_fix() {
        for (input, needle) in [
            (&b"\xFF\xFEa\x00,\x00"[..], "UTF-16"),
            (&b"a\x00,\x00b\x00"[..], "UTF-16"),
            (&b"id,name\n1,Ac\x00me\n"[..], "zero byte"),
            (&b"PK\x03\x04rest"[..], "xlsx"),
            (&b""[..], "empty"),
        ] {
            let text = kind(input).2;
            assert!(text.contains(needle), "{text}");
        }
    }

    #[test]
    fn a_line_of_delimiters_stops_at_the_limit() {
        let mut input = b"a,b\n1,".to_vec();
        input.resize(MAX_ROW_BYTES + 100, b',');
        assert!(kind(&input).2.contains("longer than"));
    }

    /// A row is its values' bytes and one per field end: it may hold [`MAX_ROW_BYTES`] of them,
    /// and the line break after them must find room for one more end. The same whether the
    /// value's bytes are taken in one run or one by one, quoted or not.
    #[test]
    fn the_row_limit_is_exact() {
        for quoted in [false, true] {
            let row = |n: usize, newline: bool| {
                let q = if quoted { "\"" } else { "" };
                let mut input = format!("a,b\n1,{q}").into_bytes();
                input.resize(input.len() + n, b'x');
                input.extend_from_slice(q.as_bytes());
                if newline {
                    input.push(b'\n');
                }
                rows(&input).map(|r| r[1].1[1].len()).map_err(|e| e.kind.to_string())
            };
            // "1" and its end take two: a value of MAX - 3 bytes leaves room for the last end.
            assert_eq!(row(MAX_ROW_BYTES - 3, true), Ok(MAX_ROW_BYTES - 3), "quoted {quoted}");
            assert!(row(MAX_ROW_BYTES - 2, true).unwrap_err().contains("longer than"), "quoted {quoted}");
            // At the end of the file no line break is checked: one more byte fits, unless a
            // closing quote (checked like any byte) takes that place.
            let last = MAX_ROW_BYTES - 2 - usize::from(quoted);
            assert_eq!(row(last, false), Ok(last), "quoted {quoted}");
            assert!(row(last + 1, false).unwrap_err().contains("longer than"), "quoted {quoted}");
        }
    }

    #[test]
    fn a_runaway_row_stops_at_the_limit() {
        let mut input = b"a,b\n1,\"".to_vec();
        input.resize(MAX_ROW_BYTES + 100, b'x');
        let (line, _, text) = kind(&input);
        assert_eq!(line, 2);
        assert!(text.contains("longer than"), "{text}");
    }
}

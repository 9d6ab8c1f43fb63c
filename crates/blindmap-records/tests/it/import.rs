//! The importer from the outside: harsh files in, exact accounts, summaries and errors out.
//! Every byte source here is one a CRM export can reach the importer through: a whole file, a
//! network stream cut into small reads, a reader interrupted by signals.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};

use blindmap_psi::{FieldName, MAX_FIELD_LEN, MAX_KEYS_PER_RECORD, SegmentLabel};
use blindmap_records::normalise::company_name;
use blindmap_records::{
    Account, DropReason, EncodingProblem, ErrorKind, ImportError, Importer, LISTED_LINES, Lines, MAX_NAME_KEYS,
    Mapping, Preset, QuoteProblem, Side, Summary, import_dataset, match_keys, read_header,
};

/// A reader that hands out at most `chunk` bytes per read and, when `interrupt` is set, fails
/// every other read with `Interrupted` (as a read cut by a signal does): what a slow pipe or a
/// socket gives.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
    interrupt: bool,
    interrupted: bool,
}

impl Trickle {
    fn new(data: &[u8], chunk: usize, interrupt: bool) -> Self {
        Self { data: data.to_vec(), at: 0, chunk, interrupt, interrupted: false }
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Trickle {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.interrupt {
            self.interrupted = !self.interrupted;
            if self.interrupted {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
        }
        let end = (self.at + self.chunk).min(self.data.len());
        Ok(&self.data[self.at..end])
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }
}

/// A reader whose second read fails for good.
struct Broken {
    first: bool,
}

impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        unreachable!("read through fill_buf")
    }
}

impl BufRead for Broken {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.first {
            // A header longer than the bytes the encoding is judged by, so the row is read apart.
            return Ok(b"id,segment,domain,a_column_with_a_long_name,and_another_one_as_long\n1,a,acme.com,x,y");
        }
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "the export's stream broke"))
    }

    fn consume(&mut self, _: usize) {
        self.first = false;
    }
}

fn generic() -> Mapping {
    Preset::Generic.mapping()
}

/// Every account of `input`, and the summary, read through `reader`.
fn accounts_from(input: impl BufRead, mapping: &Mapping) -> Result<(Vec<Account>, Summary), ImportError> {
    let mut importer = Importer::new("export.csv", input, mapping)?;
    assert_eq!(importer.source(), "export.csv");
    let mut out = Vec::new();
    while let Some(account) = importer.next_account()? {
        out.push(account);
    }
    Ok((out, importer.summary().clone()))
}

fn read(input: &str, mapping: &Mapping) -> (Vec<Account>, Summary) {
    accounts_from(input.as_bytes(), mapping).unwrap_or_else(|e| panic!("{e}"))
}

fn error(input: &[u8], mapping: &Mapping) -> ImportError {
    match accounts_from(input, mapping) {
        Err(e) => e,
        Ok((accounts, _)) => panic!("{} accounts read where an error was expected", accounts.len()),
    }
}

/// A field's value by name.
fn field<'a>(fields: &'a BTreeMap<FieldName, String>, name: &str) -> &'a str {
    fields.get(&FieldName::new(name).unwrap()).map_or_else(|| panic!("no field {name}: {fields:?}"), String::as_str)
}

fn has_field(fields: &BTreeMap<FieldName, String>, name: &str) -> bool {
    fields.contains_key(&FieldName::new(name).unwrap())
}

fn label(s: &str) -> SegmentLabel {
    SegmentLabel::new(s).unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A file with every kind of row the reader must get right: quotes, doubled quotes, a line
/// break inside a value (CR LF, LF and a lone CR), a BOM, blank lines and rows of bare
/// delimiters, a value running to the end of the file without a final newline.
const HARSH: &str = "\u{feff}id,segment,name,country,domain,note\r\n\
    1,customers,\"Acme, Inc.\",US,acme.com,\"said \"\"hi\"\"\"\r\n\
    \r\n\
    ,,,,,\r\n\
    2,prospects,Globex,DE,globex.de,\"two\nlines\"\n\
    3,prospects,Initech,FR,initech.fr,\"cr\rinside\"\r\
    4,customers,Umbrella,GB,umbrella.co.uk,\"crlf\r\ninside\"\r\n\
       \n\
    5,customers,Hooli,US,hooli.com,ends without a newline";

#[test]
fn small_reads_and_interrupted_reads_give_the_same_accounts() {
    let (whole, summary) = read(HARSH, &generic());
    assert_eq!(whole.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["1", "2", "3", "4", "5"]);
    assert_eq!(whole.iter().map(|a| a.line).collect::<Vec<_>>(), [2, 5, 7, 9, 12]);
    let notes: Vec<&str> = whole.iter().map(|a| field(&a.fields, "note")).collect();
    assert_eq!(notes, ["said \"hi\"", "two\nlines", "cr\rinside", "crlf\r\ninside", "ends without a newline"]);
    assert_eq!((summary.rows, summary.blank_lines, summary.accounts), (5, 3, 5));
    for chunk in [1, 2, 3, 7, 64] {
        for interrupt in [false, true] {
            let (trickled, again) = accounts_from(Trickle::new(HARSH.as_bytes(), chunk, interrupt), &generic())
                .unwrap_or_else(|e| panic!("chunk {chunk}, interrupted {interrupt}: {e}"));
            assert_eq!(trickled, whole, "chunk {chunk}, interrupted {interrupt}");
            assert_eq!(again, summary, "chunk {chunk}, interrupted {interrupt}");
        }
    }
}

#[test]
fn the_encoding_and_delimiter_are_judged_by_the_first_line_however_it_arrives() {
    let semicolons = "\u{feff}id;segment;name;country;domain\n1;a;Acme, Inc.;US;acme.com\n";
    let utf16: Vec<u8> = "id,segment,domain\n1,a,acme.com\n".bytes().flat_map(|b| [b, 0]).collect();
    for chunk in [1, 2, 5] {
        let (accounts, _) = accounts_from(Trickle::new(semicolons.as_bytes(), chunk, true), &generic()).unwrap();
        assert_eq!(accounts[0].name.as_deref(), Some("Acme, Inc."), "chunk {chunk}");
        let e = accounts_from(Trickle::new(&utf16, chunk, false), &generic()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Encoding(EncodingProblem::Utf16)), "chunk {chunk}: {e}");
    }
    // A header line longer than the head read before judging is still read whole.
    let long: String = (0..2000).map(|i| format!(";c{i}")).collect();
    let input = format!("id;segment;domain{long}\n1;a;acme.com{}\n", ";".repeat(2000));
    let (accounts, _) = accounts_from(Trickle::new(input.as_bytes(), 3, false), &generic()).unwrap();
    assert_eq!(accounts[0].keys.domains, ["acme.com"]);
}

#[test]
fn a_read_that_fails_is_an_error_at_its_line() {
    let e = accounts_from(Broken { first: true }, &generic()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Io(io) if io.kind() == io::ErrorKind::ConnectionReset), "{e}");
    assert_eq!(e.place().line, Some(2));
    assert!(e.to_string().contains("the export's stream broke"), "{e}");
}

#[test]
fn blank_rows_are_counted_and_skipped_but_a_file_of_them_has_no_rows() {
    let (accounts, summary) = read("id,segment,domain\n\n , ,\t\n1,a,acme.com\n,,\n", &generic());
    assert_eq!(accounts.len(), 1);
    assert_eq!((summary.rows, summary.blank_lines), (1, 3));
    // Blank lines before the header are not the header.
    let (accounts, _) = read("\n,,\nid,segment,domain\n1,a,acme.com\n", &generic());
    assert_eq!(accounts[0].line, 4);
    let e = error(b"id,segment,domain\n\n,,\n", &generic());
    assert!(matches!(e.kind(), ErrorKind::NoRows), "{e}");
    let e = error(b"\n,,\n \n", &generic());
    assert!(matches!(e.kind(), ErrorKind::Empty), "{e}");
    // A row with only an id is not blank.
    let (accounts, summary) = read("id,segment,domain\n7,,\n", &generic());
    assert_eq!((accounts.len(), summary.rows, summary.blank_lines), (1, 1, 0));
    assert_eq!(accounts[0].id, "7");
}

#[test]
fn the_importer_tells_its_header_and_id_column() {
    let input = "\u{feff} Name ;ID;segment; Domain\nAcme;1;a;acme.com\n";
    let mut m = generic();
    m.apply_flag("id=ID").unwrap();
    let importer = Importer::new("in.csv", input.as_bytes(), &m).unwrap();
    assert_eq!(importer.header(), strings(&["Name", "ID", "segment", "Domain"]));
    assert_eq!(importer.id_column(), "ID");
    assert_eq!(importer.source(), "in.csv");
    assert_eq!(importer.summary(), &Summary::default());
}

#[test]
fn the_importer_tells_which_column_each_role_reads() {
    let hubspot =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/partner-hubspot.csv")).unwrap();
    let importer = Importer::new("p.csv", hubspot.as_bytes(), &Preset::Hubspot.mapping()).unwrap();
    let columns = importer.columns();
    let role = |r: &str| -> Vec<&str> { columns.iter().filter(|(k, _)| k == r).map(|(_, c)| c.as_str()).collect() };
    assert_eq!(role("id"), ["Record ID"]);
    assert_eq!(role("name"), ["Company name"]);
    assert_eq!(role("country"), ["Country/Region"]);
    assert_eq!(role("domain"), ["Company Domain Name", "Website URL", "Additional Domains"], "{columns:?}");
    assert_eq!(role("duns"), ["D-U-N-S Number"]);
    assert!(columns.iter().any(|(r, c)| r.starts_with("segment rule") && c.contains("Lifecycle Stage")), "{columns:?}");
    assert!(columns.iter().any(|(r, _)| r.starts_with("field:")), "{columns:?}");

    // Labels from a column, and a column flags added.
    let mut m = generic();
    m.apply_flag("domain+=Site").unwrap();
    let importer = Importer::new("in.csv", "id,segment,domain,Site\n1,a,a.com,b.com\n".as_bytes(), &m).unwrap();
    let columns = importer.columns();
    assert_eq!(columns[0], ("id".to_owned(), "id".to_owned()));
    assert!(columns.contains(&("segment".to_owned(), "segment".to_owned())), "{columns:?}");
    assert!(columns.contains(&("domain".to_owned(), "Site".to_owned())), "{columns:?}");
}

#[test]
fn values_are_read_as_written_and_trimmed() {
    let (accounts, _) =
        read("id,segment,name,country,domain,owner\n  a-17 , customers ,  Acme  ,US, acme.com , Jo Doe \n", &generic());
    let a = &accounts[0];
    assert_eq!(a.id, "a-17");
    assert_eq!(a.name.as_deref(), Some("Acme"));
    assert_eq!(a.segment, Some(label("customers")));
    assert_eq!(a.keys.domains, ["acme.com"]);
    assert_eq!(a.keys.name_country, Some((company_name("Acme", Some("US")).unwrap(), "US")));
    assert_eq!(a.fields, BTreeMap::from([(FieldName::new("owner").unwrap(), "Jo Doe".to_owned())]));
    assert_eq!(a.dropped, []);
}

#[test]
fn rows_that_cannot_be_read_say_where_and_why() {
    let header = "id,segment,name,domain\n";
    let cases: [(&[u8], u64, Option<&str>, &str); 9] = [
        (b"1,a,Acme\n", 2, None, "3 values where the header has 4"),
        (b"1,a,Acme,acme.com,extra\n", 2, None, "5 values where the header has 4"),
        (b" ,a,Acme,acme.com\n", 2, Some("id"), "the account id is empty"),
        (b"1,a,Caf\xe9,acme.com\n", 2, Some("name"), "0xE9 suggests Windows-1252"),
        (b"1,a,Caf\xe9 Ol\xe9,acme.com\n", 2, Some("name"), "0xE9 suggests Windows-1252"),
        (b"1,a,Caf\xc3\xa9 Ol\xc3,acme.com\n", 2, Some("name"), "cut off in the middle"),
        (b"1,a,Caf\xe2\x82,acme.com\n", 2, Some("name"), "cut off in the middle"),
        (b"1,a,\"Acme\n2,b,x,y\n", 2, Some("name"), "never closed"),
        (b"1,a,Ac\"me,acme.com\n", 2, Some("name"), "inside an unquoted value"),
    ];
    for (row, line, column, needle) in cases {
        let input = [header.as_bytes(), b"0,a,Zero,zero.com\n", row].concat();
        let e = error(&input, &generic());
        assert_eq!(e.place().line, Some(line + 1), "{e}");
        assert_eq!(e.place().column.as_deref(), column, "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert!(e.to_string().starts_with("export.csv"), "{e}");
    }
    // A header cell that is not UTF-8 is named by its position.
    let e = error(b"id,segment,\xff\n1,a,x\n", &generic());
    assert_eq!((e.place().line, e.place().column.as_deref()), (Some(1), Some("#3")), "{e}");
    // A quote problem in the third field is named by that field's header.
    let e = error(b"id,segment,name\n1,a,\"x\"y\n", &generic());
    assert!(matches!(e.kind(), ErrorKind::Quote(QuoteProblem::TextAfterClosingQuote)), "{e}");
    assert_eq!(e.place().column.as_deref(), Some("name"));
}

#[test]
fn read_header_reads_the_first_row_that_is_not_blank() {
    let header = read_header("x.csv", &b"\n ; ;\nAccount ID;Account Name ; Type\n1;2;3\n"[..], Some(b';')).unwrap();
    assert_eq!(header, ["Account ID", "Account Name", "Type"]);
    let header = read_header("x.csv", &b"a;b,c\n"[..], Some(b';')).unwrap();
    assert_eq!(header, ["a", "b,c"]);
    assert!(matches!(read_header("x.csv", &b"\n\n"[..], None).unwrap_err().kind(), ErrorKind::Empty));
    assert!(matches!(read_header("x.csv", &b""[..], None).unwrap_err().kind(), ErrorKind::Empty));
}

#[test]
fn domains_come_from_every_domain_and_email_column_split_and_deduplicated() {
    let mut mapping = generic();
    mapping.apply_flag("domain+=website").unwrap();
    mapping.apply_flag("email+=billing email").unwrap();
    let input = "id,segment,domain,website,email,billing email\n\
        1,a,\"acme.com; www.acme.com|acme.de\",https://shop.acme.fr/x,ann@acme.com,\"bob@gmail.com,x@acme.io\"\n";
    let (accounts, summary) = read(input, &mapping);
    let a = &accounts[0];
    assert_eq!(a.keys.domains, ["acme.com", "acme.de", "acme.fr", "acme.io"]);
    assert_eq!(
        a.dropped,
        [blindmap_records::Dropped {
            column: "billing email".into(),
            value: "bob@gmail.com".into(),
            reason: DropReason::FreeMail
        }]
    );
    assert_eq!(summary.keys, [4, 0, 0, 0, 0]);
    assert_eq!(summary.dropped, BTreeMap::from([(DropReason::FreeMail, 1)]));
}

#[test]
fn duns_numbers_keep_their_spaces_and_split_on_list_separators() {
    let input = "id,segment,duns\n1,a,\"00 123 4567; 987654321|150483782,00 123 4567\n abc\"\n";
    let (accounts, summary) = read(input, &generic());
    let a = &accounts[0];
    assert_eq!(a.keys.duns, ["001234567", "987654321", "150483782"]);
    assert_eq!(a.dropped.len(), 1);
    assert_eq!((a.dropped[0].column.as_str(), a.dropped[0].value.as_str()), ("duns", "abc"));
    assert_eq!(summary.keys, [0, 3, 0, 0, 0]);
}

#[test]
fn an_account_keeps_at_most_the_keys_a_record_may_carry_and_says_which_went() {
    let room = MAX_KEYS_PER_RECORD - MAX_NAME_KEYS;
    let domains: Vec<String> = (0..room + 3).map(|i| format!("d{i}.com")).collect();
    let duns: Vec<String> = (0..3).map(|i| format!("1234567{i}{i}")).collect();
    let input = format!("id,segment,domain,duns\n1,a,\"{}\",\"{}\"\n", domains.join(" "), duns.join(";"));
    let (accounts, summary) = read(&input, &generic());
    let a = &accounts[0];
    assert_eq!(a.keys.domains.len() + a.keys.duns.len(), room);
    // DUNS numbers are kept first; the domains fill the rest in the order written.
    assert_eq!(a.keys.duns, duns);
    assert_eq!(a.keys.domains, domains[..room - duns.len()]);
    let extra: Vec<(&str, &str)> = a
        .dropped
        .iter()
        .map(|d| {
            assert_eq!(d.reason, DropReason::TooManyKeys);
            (d.column.as_str(), d.value.as_str())
        })
        .collect();
    let expected: Vec<(&str, &str)> = domains[room - duns.len()..].iter().map(|d| ("domain", d.as_str())).collect();
    assert_eq!(extra, expected);
    assert_eq!(summary.dropped[&DropReason::TooManyKeys], (3 + duns.len()) as u64);

    // More DUNS numbers than there is room for: every domain goes, and the DUNS past the room.
    let many: Vec<String> = (0..room + 2).map(|i| format!("{:09}", 100_000_000 + i * 1_111)).collect();
    let input = format!("id,segment,domain,duns\n1,a,acme.com,\"{}\"\n", many.join(";"));
    let (accounts, _) = read(&input, &generic());
    let a = &accounts[0];
    assert_eq!(a.keys.duns, many[..room]);
    assert!(a.keys.domains.is_empty());
    let columns: Vec<&str> = a.dropped.iter().map(|d| d.column.as_str()).collect();
    assert_eq!(columns, ["domain", "duns", "duns"]);

    // Without a domain or DUNS column, the id's column is named for what went.
    let mut mapping = Mapping::empty();
    mapping.apply_flag("email=mail").unwrap();
    mapping.apply_flag("segment=segment").unwrap();
    let mails: Vec<String> = (0..room + 1).map(|i| format!("a@d{i}.com")).collect();
    let input = format!("id,segment,mail\n1,a,\"{}\"\n", mails.join(","));
    let (accounts, _) = read(&input, &mapping);
    assert_eq!(accounts[0].dropped.len(), 1);
    assert_eq!(accounts[0].dropped[0].column, "mail");
}

#[test]
fn names_need_a_country_and_the_first_country_given_counts() {
    let mut mapping = generic();
    mapping.apply_flag("country+=shipping country").unwrap();
    let input = "id,segment,name,country,shipping country\n\
        1,a,Acme,,Germany\n\
        2,a,Acme,Narnia,DE\n\
        3,a,Acme,,\n\
        4,a,...,DE,\n\
        5,a,,DE,\n";
    let (accounts, summary) = read(input, &mapping);
    assert_eq!(accounts[0].keys.name_country, Some((company_name("Acme", Some("DE")).unwrap(), "DE")));
    assert_eq!(accounts[0].dropped, []);
    // The first country given is the one read, even when it names nothing.
    assert_eq!(accounts[1].keys.name_country, None);
    assert_eq!(
        (accounts[1].dropped[0].column.as_str(), accounts[1].dropped[0].value.as_str(), accounts[1].dropped[0].reason),
        ("country", "Narnia", DropReason::UnknownCountry)
    );
    assert_eq!(accounts[2].dropped[0].reason, DropReason::NameWithoutCountry);
    assert_eq!(accounts[2].dropped[0].column, "name");
    assert_eq!(accounts[3].dropped[0].reason, DropReason::NameEmpty);
    assert_eq!(accounts[4].dropped, []);
    assert_eq!(accounts[4].name, None);
    assert_eq!(summary.without_keys, Lines { count: 4, first: vec![3, 4, 5, 6] });
    assert_eq!(summary.accounts, 1);
    assert_eq!(
        summary.dropped,
        BTreeMap::from([
            (DropReason::NameEmpty, 1),
            (DropReason::NameWithoutCountry, 1),
            (DropReason::UnknownCountry, 1)
        ])
    );
}

#[test]
fn a_name_alone_without_country_says_why_it_is_no_key() {
    // A name that could never be a key is refused as such even without a country.
    let long = "Acme ".repeat(120);
    let (accounts, _) = read(&format!("id,segment,name\n1,a,A.\n2,a,Acme\n3,a,{long}\n"), &generic());
    let reasons: Vec<DropReason> = accounts.iter().map(|a| a.dropped[0].reason).collect();
    assert_eq!(reasons, [DropReason::NameEmpty, DropReason::NameWithoutCountry, DropReason::NameTooLong]);
}

#[test]
fn city_postal_code_and_phone_are_read_as_evidence_with_a_country() {
    let mut mapping = generic();
    mapping.apply_flag("city+=town").unwrap();
    mapping.apply_flag("phone+=mobile").unwrap();
    // "Müller" is not a common name, "Smith" and the like are (see keys.md): the phone is read
    // only for common names without a postal code.
    let input = "id,segment,name,country,city,town,postal_code,phone,mobile\n\
        1,a,Smith,GB,,London,SW1A 1AA,+44 20 7946 0958,\n\
        2,a,Smith,GB,Leeds,London,,not a phone,+44 20 7946 0958\n\
        3,a,Müller Maschinenbau,DE,München,,XX,+49 89 1234567,\n\
        4,a,Smith,,London,,SW1A 1AA,+44 20 7946 0958,\n";
    let (accounts, summary) = read(input, &mapping);
    assert!(blindmap_records::normalise::is_common_name(&company_name("Smith", Some("GB")).unwrap()));
    assert_eq!(accounts[0].keys.city.as_deref(), Some("london"));
    assert_eq!(accounts[0].keys.postal_code.as_deref(), Some("SW1A1AA"));
    assert_eq!(accounts[0].keys.phone, None, "a postal code is enough evidence");
    // The first city given counts; the first phone that parses is taken, the others dropped.
    assert_eq!(accounts[1].keys.city.as_deref(), Some("leeds"));
    assert_eq!(accounts[1].keys.phone.as_deref(), Some("+442079460958"));
    assert_eq!(accounts[1].dropped.len(), 1);
    assert_eq!(
        (accounts[1].dropped[0].column.as_str(), accounts[1].dropped[0].reason),
        ("phone", DropReason::PhoneInvalid)
    );
    // Not a common name: no phone read at all; a postal code of the wrong form is dropped.
    assert_eq!(accounts[2].keys.phone, None);
    assert_eq!(accounts[2].keys.postal_code, None);
    assert_eq!(
        (accounts[2].dropped[0].column.as_str(), accounts[2].dropped[0].reason),
        ("postal_code", DropReason::PostalCodeInvalid)
    );
    assert_eq!(accounts[2].keys.city.as_deref(), Some("munich"));
    // Without a country neither is read.
    assert_eq!((accounts[3].keys.postal_code.as_deref(), accounts[3].keys.phone.as_deref()), (None, None));
    assert_eq!(summary.keys, [0, 0, 3, 1, 1]);
}

#[test]
fn fields_are_trimmed_cut_at_the_limit_on_a_character_and_left_out_when_empty() {
    // One ASCII byte first, so that the limit falls inside a two-byte character.
    let long = format!("x{}", "é".repeat(MAX_FIELD_LEN));
    let input = format!("id,segment,domain,owner,note\n1,a,acme.com,  ,\"{long}\"\n2,a,b.com,x,y\n");
    let (accounts, summary) = read(&input, &generic());
    let a = &accounts[0];
    assert!(!has_field(&a.fields, "owner"));
    let note = &field(&a.fields, "note");
    assert!(note.len() <= MAX_FIELD_LEN && note.len() > MAX_FIELD_LEN - 2, "{}", note.len());
    assert_eq!(note.len(), MAX_FIELD_LEN - 1, "cut back to the character's start");
    assert!(note.chars().skip(1).all(|c| c == 'é'));
    assert_eq!(a.truncated_fields, 1);
    assert_eq!(accounts[1].truncated_fields, 0);
    assert_eq!(summary.truncated_fields, 1);
    // A value exactly at the limit is kept whole.
    let exact = "x".repeat(MAX_FIELD_LEN);
    let (accounts, _) = read(&format!("id,segment,domain,note\n1,a,acme.com,{exact}\n"), &generic());
    assert_eq!((field(&accounts[0].fields, "note").len(), accounts[0].truncated_fields), (MAX_FIELD_LEN, 0));
    // The name as written is cut the same way.
    let name = format!("Acme {}", "b".repeat(MAX_FIELD_LEN));
    let (accounts, _) = read(&format!("id,segment,name,country\n1,a,{name},US\n"), &generic());
    assert_eq!(accounts[0].name.as_deref(), Some(&name[..MAX_FIELD_LEN]));
}

#[test]
fn a_segment_column_makes_labels_of_what_people_write() {
    let input = "id,segment,domain\n1,Open Opportunities!,a.com\n2,  CUSTOMERS ,b.com\n3,__x--y__,c.com\n4,,d.com\n5,!!!,e.com\n6,Kunden 東京,f.com\n7,東京,g.com\n";
    let (accounts, summary) = read(input, &generic());
    let segments: Vec<Option<&str>> = accounts.iter().map(|a| a.segment.as_ref().map(|s| s.as_str())).collect();
    assert_eq!(
        segments,
        [Some("open_opportunities"), Some("customers"), Some("x_y"), None, None, Some("kunden"), None]
    );
    assert_eq!(summary.unsegmented, Lines { count: 3, first: vec![5, 6, 8] });
    assert_eq!(
        summary.segments,
        BTreeMap::from([
            (label("open_opportunities"), 1),
            (label("customers"), 1),
            (label("x_y"), 1),
            (label("kunden"), 1)
        ])
    );
}

#[test]
fn segment_rules_place_each_account_by_the_first_that_holds() {
    let input = "Account ID,Account Name,Type,Website,Billing Country\n\
        1,Acme,Customer - Direct,acme.com,US\n\
        2,Globex,Reseller,globex.com,US\n\
        3,Initech,Prospect,initech.com,US\n\
        4,Hooli,customer,hooli.com,US\n";
    let (accounts, summary) = read(input, &Preset::Salesforce.mapping());
    let segments: Vec<&str> = accounts.iter().map(|a| a.segment.as_ref().unwrap().as_str()).collect();
    assert_eq!(segments, ["customers", "partners", "prospects", "customers"]);
    assert_eq!(summary.segments[&label("customers")], 2);
    // Rules that place nothing leave the account unsegmented.
    let mut mapping = Preset::Salesforce.mapping();
    mapping.set_segment_rules(vec![blindmap_records::SegmentRule::parse("customers: Type = Customer").unwrap()]);
    let (accounts, summary) = read(input, &mapping);
    assert_eq!(accounts.iter().filter(|a| a.segment.is_some()).count(), 1);
    assert_eq!(summary.unsegmented, Lines { count: 3, first: vec![2, 3, 4] });
    assert_eq!(summary.accounts, 1);
}

#[test]
fn the_summary_counts_every_row_and_lists_the_first_lines() {
    let extra = LISTED_LINES + 5;
    let mut input = String::from("id,segment,domain\n");
    for i in 0..extra {
        input.push_str(&format!("n{i},a,\n"));
    }
    for i in 0..3 {
        input.push_str(&format!("u{i},,u{i}.com\n"));
    }
    input.push_str("k,a,acme.com\n");
    let (_, summary) = read(&input, &generic());
    assert_eq!(summary.rows, extra as u64 + 4);
    assert_eq!(summary.without_keys.count, extra as u64);
    assert_eq!(summary.without_keys.first, (2..2 + LISTED_LINES as u64).collect::<Vec<_>>());
    assert_eq!(summary.unsegmented.count, 3);
    assert_eq!(summary.accounts, 1);
    // Keys are counted only for the accounts that take part.
    assert_eq!(summary.keys, [1, 0, 0, 0, 0]);
}

#[test]
fn import_dataset_keeps_the_accounts_that_take_part_or_nothing() {
    let input = "id,segment,name,country,domain,owner\n\
        1,customers,Acme,US,acme.com,Jo\n\
        2,customers,,,,\n\
        3,,Globex,DE,globex.de,\n\
        4,prospects,Initech,FR,,Al\n";
    let mut seen = Vec::new();
    let imported =
        import_dataset("export.csv", input.as_bytes(), &generic(), Side::First, |s| seen.push(s.rows)).unwrap();
    assert_eq!(seen, [1, 2, 3, 4]);
    let records = imported.dataset.records();
    assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["1", "4"]);
    assert_eq!(records[0].segment, label("customers"));
    assert_eq!(field(&records[0].fields, "owner"), "Jo");
    assert!(!records[0].keys.is_empty());
    assert_eq!(imported.summary.accounts, 2);

    let e = import_dataset(
        "export.csv",
        "id,segment,domain\n1,a,a.com\n2,a,b.com\n 1 ,b,c.com\n".as_bytes(),
        &generic(),
        Side::First,
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::DuplicateId { id, first_line: 2 } if id == "1"), "{e}");
    assert_eq!((e.place().line, e.place().column.as_deref()), (Some(4), Some("id")));
}

#[test]
fn records_carry_the_keys_of_their_side() {
    let input = "id,segment,name,country,city,domain\n1,a,Acme,US,Boston,acme.com\n";
    let (accounts, _) = read(input, &generic());
    for side in [Side::First, Side::Second] {
        let imported = import_dataset("e.csv", input.as_bytes(), &generic(), side, |_| {}).unwrap();
        let mut expected = match_keys(&accounts[0].keys, side);
        expected.sort();
        expected.dedup();
        let mut got = imported.dataset.records()[0].keys.clone();
        got.sort();
        assert_eq!(got, expected, "{side:?}");
    }
}

#[test]
fn mappings_resolve_columns_case_blind_and_refuse_twins() {
    let (accounts, _) = read("ID,Segment,DOMAIN\n1,a,acme.com\n", &generic());
    assert_eq!(accounts[0].keys.domains, ["acme.com"]);
    let e = error(b"id,segment,domain,Domain\n1,a,b.com,c.com\n", &generic());
    assert!(matches!(e.kind(), ErrorKind::DuplicateColumn(c) if c == "domain"), "{e}");
    assert_eq!(e.place().line, Some(1));
    // The first name of a column that is present wins, in the mapping's order.
    let input = "Record ID,Company name,Name,Lifecycle Stage\n9,Acme,Other,Customer\n";
    let (accounts, _) = read(input, &Preset::Hubspot.mapping());
    assert_eq!(accounts[0].name.as_deref(), Some("Acme"));
}

#[test]
fn a_missing_column_names_the_header_and_the_preset_that_fits() {
    let e = error(b"Record ID,Company name,Lifecycle Stage\n1,Acme,Customer\n", &Preset::Salesforce.mapping());
    let ErrorKind::MissingColumn { role, expected, found, hint } = e.kind() else { panic!("{e}") };
    assert_eq!(role, "account id");
    assert_eq!(expected, &strings(&["Account ID", "Id"]));
    assert_eq!(found, &strings(&["Record ID", "Company name", "Lifecycle Stage"]));
    assert_eq!(hint.as_deref(), Some(" (this looks like a HubSpot Companies export: try the hubspot preset)"));
    assert_eq!(
        e.to_string(),
        "export.csv, line 1: no account id column: expected \"Account ID\", \"Id\" (this looks like a HubSpot \
         Companies export: try the hubspot preset); the file has: \"Record ID\", \"Company name\", \"Lifecycle Stage\""
    );
    // No hint naming the preset in use, and none when nothing fits.
    let e = error(b"Account ID,Account Name\n1,Acme\n", &Preset::Salesforce.mapping());
    let ErrorKind::MissingColumn { role, hint, .. } = e.kind() else { panic!("{e}") };
    assert!(role.contains("Type") && role.contains("segment rule"), "{role}");
    assert_eq!(hint, &None);
    // A header read as one column hints at the delimiter.
    let e = error(b"id|segment|domain\n1|a|b.com\n", &generic());
    assert!(e.to_string().contains("read as one column"), "{e}");
    for header in [&b"foo,bar\n1,2\n"[..], b"accountid\n1\n"] {
        let e = error(header, &generic());
        assert!(!e.to_string().contains("read as one column"), "{e}");
    }
}

#[test]
fn other_columns_become_fields_named_after_their_header() {
    let input = "id,segment,domain,Account Owner,Sales-Region/Zone,,note\n1,a,acme.com,Jo,EMEA,x,n\n";
    let (accounts, _) = read(input, &generic());
    let names: Vec<&str> = accounts[0].fields.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["account_owner", "note", "sales_region_zone"]);
    // Columns the mapping claims are no fields.
    assert!(!has_field(&accounts[0].fields, "domain") && !has_field(&accounts[0].fields, "segment"));
    let e = error(b"id,segment,Umsatz (EUR)\n1,a,5\n", &generic());
    assert!(e.to_string().contains("\"Umsatz (EUR)\" cannot be a field name"), "{e}");
    // A preset without that option reads only its own fields.
    let input = "Account ID,Account Name,Type,Website,Secret Notes,Account Owner\n1,Acme,Customer,acme.com,x,Jo\n";
    let (accounts, _) = read(input, &Preset::Salesforce.mapping());
    let names: Vec<&str> = accounts[0].fields.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["owner", "type"]);
}

#[test]
fn presets_are_found_by_name_and_by_header() {
    for preset in Preset::ALL {
        assert_eq!(Preset::from_name(preset.name()), Some(preset));
        assert_eq!(Preset::from_name(&format!(" {} ", preset.name().to_uppercase())), Some(preset));
        assert_eq!(preset.to_string(), preset.name());
        assert_eq!(preset.mapping().name(), preset.name());
    }
    assert_eq!(Preset::from_name("pipedrive"), None);
    let header = |names: &[&str]| strings(names);
    assert_eq!(Preset::detect(&header(&["account id", "ACCOUNT NAME", "type"])), Some(Preset::Salesforce));
    assert_eq!(Preset::detect(&header(&["Id", "Name", "Type"])), Some(Preset::Salesforce));
    assert_eq!(Preset::detect(&header(&["hs_object_id", "Name", "Lifecycle Stage"])), Some(Preset::Hubspot));
    // Salesforce without its segment rules' column fits nothing; two presets fitting is no answer.
    assert_eq!(Preset::detect(&header(&["Account ID", "Account Name"])), None);
    assert_eq!(Preset::detect(&header(&["Id", "Name", "Type", "hs_object_id", "Lifecycle Stage"])), None);
    assert_eq!(Preset::detect(&header(&["id", "name"])), None);
    assert_eq!(Preset::detect(&[]), None);
}

#[test]
fn flags_and_files_change_a_mapping_and_say_so() {
    let mut m = Preset::Hubspot.mapping();
    m.apply_flag("name=Firm").unwrap();
    m.apply_flag(" field:region = Sales Region ").unwrap();
    m.apply_flag("field:region=Region").unwrap();
    assert_eq!(m.name(), "hubspot (changed by flags)");
    assert_eq!(m.delimiter(), None);
    for (flag, delimiter) in [
        ("delimiter=;", b';'),
        ("delimiter=tab", b'\t'),
        ("delimiter=\\t", b'\t'),
        ("delimiter=comma", b','),
        ("delimiter=pipe", b'|'),
    ] {
        m.apply_flag(flag).unwrap();
        assert_eq!(m.delimiter(), Some(delimiter), "{flag}");
    }
    assert_eq!(m.name(), "hubspot (changed by flags)", "said once");
    let input = "Record ID|Firm|Region|Lifecycle Stage\n1|Acme|EMEA|Customer\n";
    let (accounts, _) = read(input, &m);
    assert_eq!(accounts[0].name.as_deref(), Some("Acme"));
    assert_eq!(field(&accounts[0].fields, "region"), "EMEA");
    for (flag, needle) in [
        ("delimiter=:", "delimiter \":\""),
        ("nonsense", "write ROLE=COLUMN"),
        ("id=", "a column name is empty"),
        ("website=W", "unknown role \"website\""),
        ("field:Bad Name=x", "lower-case letters"),
    ] {
        let e = Mapping::empty().apply_flag(flag).unwrap_err().to_string();
        assert!(e.contains(needle), "{flag}: {e}");
    }
    // Every role a flag names takes its column.
    let mut m = Mapping::empty();
    for flag in [
        "id=Key",
        "name=Firm",
        "country=Land",
        "city=Town",
        "postal_code=Zip",
        "phone=Tel",
        "domain=Web",
        "email=Mail",
        "duns=D-U-N-S",
        "segment=Tier",
        "field:owner=Owner",
    ] {
        m.apply_flag(flag).unwrap_or_else(|e| panic!("{flag}: {e}"));
    }
    let input = "Key,Firm,Land,Town,Zip,Tel,Web,Mail,D-U-N-S,Tier,Owner\n\
        1,Smith,GB,Leeds,LS1 4AP,+44 20 7946 0958,smith.co.uk,jo@smith-sons.com,150483782,Gold,Jo\n";
    let (accounts, _) = read(input, &m);
    let k = &accounts[0].keys;
    assert_eq!(k.domains, ["smith.co.uk", "smith-sons.com"]);
    assert_eq!(k.duns, ["150483782"]);
    assert_eq!(k.name_country.as_ref().map(|(_, c)| *c), Some("GB"));
    assert_eq!((k.city.as_deref(), k.postal_code.as_deref()), (Some("leeds"), Some("LS14AP")));
    assert_eq!(accounts[0].segment, Some(label("gold")));
    assert_eq!(field(&accounts[0].fields, "owner"), "Jo");
    assert_eq!(accounts[0].dropped, []);

    let m =
        Mapping::from_toml("preset = \"Generic\"\ndelimiter = \"semicolon\"\n[columns]\nsegment = \"Tier\"").unwrap();
    assert_eq!((m.name(), m.delimiter()), ("Generic (changed by a mapping file)", Some(b';')));
    let (accounts, _) = read("id;Tier;domain\n1;Gold;acme.com\n", &m);
    assert_eq!(accounts[0].segment, Some(label("gold")));
    let m = Mapping::from_toml("[columns]\nid = \"Key\"\ndomain = [\"Web\", \"Web 2\"]").unwrap();
    assert_eq!(m.name(), "mapping file");
    assert_eq!(m.segment_rules(), Some(&[][..]));
    let e = Mapping::from_toml("[columns]\nid = []").unwrap_err().to_string();
    assert!(e.contains("a column name is empty"), "{e}");
    let e = Mapping::from_toml("segments = [\"nonsense\"]\n[columns]\nid = \"x\"").unwrap_err().to_string();
    assert!(e.contains("segment rule \"nonsense\""), "{e}");
    assert_eq!(Preset::Generic.mapping().segment_rules(), None);
}

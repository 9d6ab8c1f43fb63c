//! What the integration tests share: a strict RFC 4180 reader for the exports.

use blindmap_testkit::Corpus;

/// Parses `text` strictly: records end in `eol` outside quotes, quoted fields double inner quotes, unquoted
/// fields hold no quote and no line break.
pub(crate) fn parse(text: &str, eol: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    let mut quoted_done = false;
    while let Some(c) = chars.next() {
        if at_field_start && c == '"' {
            at_field_start = false;
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in record {}", records.len())),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(other) => field.push(other),
                }
            }
            quoted_done = true;
            continue;
        }
        at_field_start = false;
        match c {
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
                quoted_done = false;
            }
            '\r' | '\n' => {
                let ending = if c == '\r' {
                    if chars.next() != Some('\n') {
                        return Err(format!("bare CR in record {}", records.len()));
                    }
                    "\r\n"
                } else {
                    "\n"
                };
                if ending != eol {
                    return Err(format!("record {} ends in {ending:?}, not {eol:?}", records.len()));
                }
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
                quoted_done = false;
            }
            '"' => return Err(format!("quote inside unquoted field in record {}", records.len())),
            _ if quoted_done => return Err(format!("text after closing quote in record {}", records.len())),
            _ => field.push(c),
        }
    }
    if !record.is_empty() || !field.is_empty() {
        return Err("last record has no line ending".to_owned());
    }
    Ok(records)
}

pub(crate) fn salesforce(corpus: &Corpus) -> Vec<Vec<String>> {
    let text = corpus.salesforce_csv.strip_prefix('\u{feff}').expect("Salesforce export starts with a BOM");
    parse(text, "\r\n").unwrap()
}

pub(crate) fn hubspot(corpus: &Corpus) -> Vec<Vec<String>> {
    parse(&corpus.hubspot_csv, "\n").unwrap()
}

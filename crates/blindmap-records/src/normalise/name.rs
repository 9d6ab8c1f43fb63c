//! Company names, for `name_country` keys.

use super::DropReason;
use super::lists::legal_forms;
use crate::text::fold;

/// A company name reduced to what identifies it: folded (see [`fold`](crate::fold)), legal forms
/// of the major jurisdictions stripped from the end (`Inc`, `GmbH & Co. KG`, `Pty Ltd`, `S.A. de
/// C.V.`, …, repeatedly: `Acme Holdings Co., Ltd.`), or from the start where they are written
/// there (`PT`, `OOO`, `株式会社`), and a leading `The` dropped. Never strips the last word:
/// `Company Ltd` stays `company`.
///
/// What is left must have at least two letters or digits: a one-letter name matches too much.
pub fn company_name(raw: &str) -> Result<String, DropReason> {
    let folded = fold(raw);
    let mut words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let forms = legal_forms();
    // Scripts written without spaces glue the form to the name (トヨタ自動車株式会社).
    if let Some(last) = words.last_mut()
        && let Some(form) = forms.glued.iter().find(|f| last.len() > f.len() && last.ends_with(f.as_str()))
    {
        *last = &last[..last.len() - form.len()];
    }
    if let Some(first) = words.first_mut()
        && let Some(form) = forms.glued.iter().find(|f| first.len() > f.len() && first.starts_with(f.as_str()))
    {
        *first = &first[form.len()..];
    }
    loop {
        let before = words.len();
        while words.len() > 1 && words.last() == Some(&"and") {
            words.pop();
        }
        if let Some(n) = forms.suffix_len(&words) {
            words.truncate(words.len() - n);
        }
        if let Some(n) = forms.prefix_len(&words) {
            words.drain(..n);
        }
        if words.len() > 1 && words[0] == "the" {
            words.remove(0);
        }
        if words.len() == before {
            break;
        }
    }
    let name = words.join(" ");
    if name.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
        return Err(DropReason::NameEmpty);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_company_agree() {
        for group in [
            &["Acme, Inc.", "ACME Incorporated", "Acme Inc", "acme", "The Acme Company", "Acme Corp."][..],
            &["Müller Technik GmbH", "Muller Technik GmbH & Co. KG", "MÜLLER TECHNIK"],
            &["Barnes & Noble Freight LLC", "Barnes and Noble Freight, L.L.C."],
            &["Kestrel Bio Pty Ltd", "Kestrel Bio Pty. Ltd.", "Kestrel Bio Proprietary Limited"],
            &["Grupo Norte S.A. de C.V.", "Grupo Norte SA de CV", "Grupo Norte"],
            &["Nordwind Holdings Co., Ltd.", "Nordwind Holdings"],
            &["PT Sinar Jaya", "Sinar Jaya"],
            &["Société Générale d'Équipement SAS", "Societe Generale dEquipement"],
            &["トヨタ自動車株式会社", "トヨタ自動車 株式会社", "株式会社トヨタ自動車"],
            &["삼성전자 주식회사", "삼성전자주식회사"],
        ] {
            let first = company_name(group[0]).unwrap();
            for raw in group {
                assert_eq!(company_name(raw).unwrap(), first, "{raw}");
            }
        }
    }

    #[test]
    fn different_companies_stay_apart() {
        assert_ne!(company_name("Acme Holdings").unwrap(), company_name("Acme").unwrap());
        assert_ne!(company_name("Acme Analytics").unwrap(), company_name("Acme Analytica").unwrap());
        assert_eq!(company_name("Company Ltd").unwrap(), "company");
        assert_eq!(company_name("Inc.").unwrap(), "inc");
        assert_eq!(company_name("X Ltd"), Err(DropReason::NameEmpty));
        assert_eq!(company_name(" - "), Err(DropReason::NameEmpty));
    }
}

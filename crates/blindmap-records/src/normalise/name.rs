//! Company names, for `name_country` keys.

use super::DropReason;
use super::lists::legal_forms;
use crate::text::fold;

/// Longest normalised name, in bytes: with the tag, city and country, a name key stays within
/// the protocol's key length.
pub(crate) const MAX_NAME_LEN: usize = 500;

/// A company name reduced to what identifies it: folded (see [`fold`](crate::fold)), legal forms
/// of the major jurisdictions (those limited to some countries only for `country`) stripped from
/// the end (`Inc`, `GmbH & Co. KG`, `Pty Ltd`, `S.A. de
/// C.V.`, …, repeatedly: `Acme Holdings Co., Ltd.`), or from the start where they are written
/// there (`PT`, `OOO`, `株式会社`), and a leading `The` dropped. Never strips the last word:
/// `Company Ltd` stays `company`.
///
/// What is left must have at least two letters or digits: a one-letter name matches too much.
pub fn company_name(raw: &str, country: Option<&str>) -> Result<String, DropReason> {
    let folded = fold(raw);
    let mut words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let forms = legal_forms();
    loop {
        let before = (words.len(), words.first().map_or(0, |w| w.len()), words.last().map_or(0, |w| w.len()));
        // Scripts written without spaces glue the form to the name (トヨタ自動車株式会社).
        if let Some(last) = words.last_mut()
            && !last.is_ascii()
            && let Some(form) = forms.glued.iter().find(|f| last.len() > f.len() && last.ends_with(f.as_str()))
        {
            *last = &last[..last.len() - form.len()];
        }
        if let Some(first) = words.first_mut()
            && !first.is_ascii()
            && let Some(form) = forms.glued.iter().find(|f| first.len() > f.len() && first.starts_with(f.as_str()))
        {
            *first = &first[form.len()..];
        }
        while words.len() > 1 && words.last() == Some(&"and") {
            words.pop();
        }
        if let Some(n) = forms.suffix_len(&words, country) {
            words.truncate(words.len() - n);
        }
        if let Some(n) = forms.prefix_len(&words, country) {
            words.drain(..n);
        }
        if words.len() > 1 && words[0] == "the" {
            words.remove(0);
        }
        if (words.len(), words.first().map_or(0, |w| w.len()), words.last().map_or(0, |w| w.len())) == before {
            break;
        }
    }
    let name = words.join(" ");
    if name.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
        return Err(DropReason::NameEmpty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(DropReason::NameTooLong);
    }
    Ok(name)
}

/// Whether a normalised name is *common* (keys.md §2.7): every word of it a frequent surname, a
/// frequent given name or a generic business word (`data/common_name_words.txt`), a single
/// letter or digit, or a number. Many unrelated companies share such a name in one country
/// (`brown`, `moore brown`, `smith and sons`, `global solutions`), so a match by it and the
/// country alone is never confirmed.
pub fn is_common_name(name: &str) -> bool {
    let words = super::lists::common_words();
    name.split(' ').all(|w| w.chars().count() <= 1 || w.bytes().all(|b| b.is_ascii_digit()) || words.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_company_agree() {
        for (country, group) in [
            ("US", &["Acme, Inc.", "ACME Incorporated", "Acme Inc", "acme", "The Acme Company", "Acme Corp."][..]),
            ("DE", &["Müller Technik GmbH", "Muller Technik GmbH & Co. KG", "MÜLLER TECHNIK"]),
            ("US", &["Barnes & Noble Freight LLC", "Barnes and Noble Freight, L.L.C."]),
            ("AU", &["Kestrel Bio Pty Ltd", "Kestrel Bio Pty. Ltd.", "Kestrel Bio Proprietary Limited"]),
            ("MX", &["Grupo Norte S.A. de C.V.", "Grupo Norte SA de CV", "Grupo Norte"]),
            ("CN", &["Nordwind Holdings Co., Ltd.", "Nordwind Holdings"]),
            ("ID", &["PT Sinar Jaya", "Sinar Jaya"]),
            ("IT", &["Ferrero S.p.A.", "Ferrero SpA", "Ferrero"]),
            ("FR", &["Société Générale d'Équipement SAS", "Societe Generale dEquipement"]),
            ("JP", &["トヨタ自動車株式会社", "トヨタ自動車 株式会社", "株式会社トヨタ自動車", "株式会社 トヨタ自動車"]),
            ("KR", &["삼성전자 주식회사", "삼성전자주식회사", "(주)삼성전자"]),
            // Several forms end in the same word, and their other words are no forms of their
            // own: each must be known, not only the first read with that last word.
            ("US", &["Zentrix Professional Corporation", "Zentrix Corporation", "Zentrix"]),
            ("MY", &["Zentrix Sendirian Berhad", "Zentrix Berhad", "Zentrix"]),
            ("ZA", &["Zentrix Eiendoms Beperk", "Zentrix Beperk", "Zentrix"]),
        ] {
            let first = company_name(group[0], Some(country)).unwrap();
            for raw in group {
                assert_eq!(company_name(raw, Some(country)).unwrap(), first, "{raw}");
            }
        }
    }

    #[test]
    fn different_companies_stay_apart() {
        let us = |raw| company_name(raw, Some("US"));
        assert_ne!(us("Acme Holdings"), us("Acme"));
        assert_ne!(us("Acme Analytics"), us("Acme Analytica"));
        assert_eq!(us("Company Ltd").unwrap(), "company");
        assert_eq!(us("Inc.").unwrap(), "inc");
        assert_eq!(us("X Ltd"), Err(DropReason::NameEmpty));
        assert_eq!(us(" - "), Err(DropReason::NameEmpty));
        // Forms that are words elsewhere apply only in their own jurisdiction.
        assert_ne!(us("Serenity Day Spa"), us("Serenity Day"));
        assert_ne!(us("SC Johnson"), us("Johnson Inc"));
        assert_ne!(us("PT Solutions"), us("Solutions Inc"));
        assert_ne!(us("Smart Ad"), us("Smart"));
        assert_eq!(company_name("SC Johnson", Some("RO")), company_name("Johnson", Some("RO")));
        // Glued forms only in scripts without spaces, and never a single character.
        let ru = |raw| company_name(raw, Some("RU"));
        assert_eq!(ru("Атлас").unwrap(), "атлас");
        assert_eq!(ru("АО Атлас"), ru("Атлас"));
        assert_ne!(ru("Ипотека Банк"), ru("Отека Банк"));
        assert_eq!(company_name("주성엔지니어링", Some("KR")).unwrap(), "주성엔지니어링");
        assert_eq!(company_name("有道", Some("CN")).unwrap(), "有道");
        for raw in ["Αεροπορία Αιγαίου", "(주)주성엔지니어링", "株式会社株式会社トヨタ"]
        {
            let once = company_name(raw, Some("KR")).unwrap();
            assert_eq!(company_name(&once, Some("KR")), Ok(once.clone()), "{raw}");
        }
    }

    #[test]
    fn a_trailing_and_goes_with_the_form_it_joined() {
        assert_eq!(company_name("Smith and", Some("US")), Ok("smith".to_owned()));
        assert_eq!(company_name("Smith & Co.", Some("US")), Ok("smith".to_owned()));
        assert_eq!(company_name("Smith and Wesson", Some("US")), Ok("smith and wesson".to_owned()));
        // The last word stays, even when it is "and".
        assert_eq!(company_name("And", Some("US")), Ok("and".to_owned()));
    }

    #[test]
    fn a_name_is_common_when_every_word_is_frequent_a_single_letter_or_a_number() {
        for name in ["brown", "smith and brown", "j smith", "brown 24", "24 7"] {
            assert!(is_common_name(name), "{name}");
        }
        for name in ["zentrix", "brown zentrix", "zentrix 24", "jq smith"] {
            assert!(!is_common_name(name), "{name}");
        }
    }

    #[test]
    fn a_leading_the_goes_unless_it_is_the_whole_name() {
        assert_eq!(company_name("The Zentrix Group", Some("US")), Ok("zentrix group".to_owned()));
        assert_eq!(company_name("The", Some("US")), Ok("the".to_owned()));
        assert_eq!(company_name("The Ltd", Some("GB")), Ok("the".to_owned()));
    }

    #[test]
    fn names_are_at_most_500_bytes() {
        assert_eq!(company_name(&"x".repeat(MAX_NAME_LEN), Some("US")), Ok("x".repeat(MAX_NAME_LEN)));
        assert_eq!(company_name(&"x".repeat(MAX_NAME_LEN + 1), Some("US")), Err(DropReason::NameTooLong));
        assert_eq!(company_name("A.", Some("US")), Err(DropReason::NameEmpty));
        assert_eq!(company_name("AB", Some("US")), Ok("ab".to_owned()));
    }
}

//! The reference lists of `protocol-spec/data/` (protocol-spec/keys.md §6), compiled into the
//! binary from there — one copy for the spec and the code — and parsed once on first use.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::text::fold;

/// Entries of a list file: comment and blank lines skipped, the rest trimmed.
fn entries(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

pub(super) fn free_mail() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| entries(include_str!("../../../../protocol-spec/data/free_mail.txt")).collect())
}

/// Domains people type when a form demands one: never a company's.
pub(super) fn placeholders() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| entries(include_str!("../../../../protocol-spec/data/placeholder_domains.txt")).collect())
}

pub(super) fn platforms() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| entries(include_str!("../../../../protocol-spec/data/platform_domains.txt")).collect())
}

/// Folded country names and lower-case codes → alpha-2 code.
pub(super) fn countries() -> &'static HashMap<String, &'static str> {
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for line in entries(include_str!("../../../../protocol-spec/data/countries.tsv")) {
            let mut cols = line.split('\t');
            let (Some(alpha2), Some(alpha3)) = (cols.next(), cols.next()) else { continue };
            map.insert(alpha2.to_ascii_lowercase(), alpha2);
            map.insert(alpha3.to_ascii_lowercase(), alpha2);
            for name in cols.next().unwrap_or_default().split('|') {
                let folded = fold(name);
                if !folded.is_empty() {
                    map.insert(folded, alpha2);
                }
            }
        }
        map
    })
}

/// A legal form: its folded words, and the countries it is limited to (none: everywhere).
struct Form {
    words: Vec<String>,
    countries: Vec<String>,
}

impl Form {
    fn applies(&self, words: &[&str], at_end: bool, country: Option<&str>) -> bool {
        let n = self.words.len();
        n < words.len()
            && (self.countries.is_empty() || country.is_some_and(|c| self.countries.iter().any(|f| f == c)))
            && if at_end { &words[words.len() - n..] } else { &words[..n] }.iter().zip(&self.words).all(|(a, b)| a == b)
    }
}

/// Legal forms, indexed by the word a name must end (suffixes) or start (prefixes) with for the
/// form to apply, each list longest first.
pub(super) struct LegalForms {
    suffixes: HashMap<String, Vec<Form>>,
    prefixes: HashMap<String, Vec<Form>>,
    /// One-word forms in scripts without ASCII letters, which may be written glued to the name,
    /// before or after it; longest first.
    pub(super) glued: Vec<String>,
}

impl LegalForms {
    /// How many words the longest suffix form of `country` ending `words` has, if one does and
    /// words remain.
    pub(super) fn suffix_len(&self, words: &[&str], country: Option<&str>) -> Option<usize> {
        let candidates = self.suffixes.get(*words.last()?)?;
        candidates.iter().find(|f| f.applies(words, true, country)).map(|f| f.words.len())
    }

    /// How many words the longest prefix form of `country` starting `words` has, if one does and
    /// words remain.
    pub(super) fn prefix_len(&self, words: &[&str], country: Option<&str>) -> Option<usize> {
        let candidates = self.prefixes.get(*words.first()?)?;
        candidates.iter().find(|f| f.applies(words, false, country)).map(|f| f.words.len())
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.suffixes.values().chain(self.prefixes.values()).map(Vec::len).sum()
    }
}

/// Han, kana, Hangul and Thai: scripts whose names run without spaces.
fn written_without_spaces(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}' | '\u{0E00}'..='\u{0E7F}')
}

pub(super) fn legal_forms() -> &'static LegalForms {
    static FORMS: OnceLock<LegalForms> = OnceLock::new();
    FORMS.get_or_init(|| {
        let mut forms = LegalForms { suffixes: HashMap::new(), prefixes: HashMap::new(), glued: Vec::new() };
        for line in entries(include_str!("../../../../protocol-spec/data/legal_forms.txt")) {
            let (prefix, form) = match line.strip_prefix("prefix ") {
                Some(form) => (true, form),
                None => (false, line),
            };
            let (form, countries) = match form.rsplit_once(" @") {
                Some((form, codes)) => (form, codes.split(',').map(|c| c.trim().to_owned()).collect()),
                None => (form, Vec::new()),
            };
            let words: Vec<String> = fold(form).split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect();
            let Some(key) = (if prefix { words.first() } else { words.last() }).cloned() else { continue };
            // Scripts written without spaces glue the form to the name; one-character forms
            // (株 from (株)) are too likely to be part of a name to be cut from a word.
            if let [word] = words.as_slice()
                && word.chars().count() >= 2
                && word.chars().all(written_without_spaces)
                && !forms.glued.contains(word)
            {
                forms.glued.push(word.clone());
            }
            // A form listed twice (`Co.` and `Co`) is tried twice, with the same result.
            let list = if prefix { &mut forms.prefixes } else { &mut forms.suffixes }.entry(key).or_default();
            list.push(Form { words, countries });
        }
        for list in forms.suffixes.values_mut().chain(forms.prefixes.values_mut()) {
            list.sort_by_key(|f| std::cmp::Reverse(f.words.len()));
        }
        forms.glued.sort_by_key(|w| std::cmp::Reverse(w.len()));
        forms
    })
}

/// Words many unrelated companies' names are made of: frequent surnames and given names, generic
/// business and brand words (keys.md §2.7), folded.
pub(super) fn common_words() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        entries(include_str!("../../../../protocol-spec/data/common_name_words.txt"))
            .flat_map(|line| fold(line).split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter(|w| !w.is_empty())
            .collect()
    })
}

/// Alpha-2 country → folded city name → the city's canonical folded name (keys.md §3.2).
/// By country first, so that an import looks a city up without building a key.
pub(super) fn city_names() -> &'static HashMap<&'static str, HashMap<String, String>> {
    static MAP: OnceLock<HashMap<&'static str, HashMap<String, String>>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map: HashMap<&'static str, HashMap<String, String>> = HashMap::new();
        for line in entries(include_str!("../../../../protocol-spec/data/city_names.tsv")) {
            let mut cols = line.split('\t');
            let (Some(country), Some(canonical)) = (cols.next(), cols.next()) else { continue };
            let canonical = fold(canonical);
            for alias in cols.next().unwrap_or_default().split('|').map(fold).filter(|a| !a.is_empty()) {
                if alias != canonical {
                    map.entry(country).or_default().insert(alias, canonical.clone());
                }
            }
        }
        map
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists are data, so check their shape: a bad line would silently weaken matching.
    #[test]
    fn lists_are_well_formed() {
        for domain in free_mail().iter().chain(platforms()).chain(placeholders()) {
            assert!(
                domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'),
                "{domain}"
            );
            assert_eq!(psl::domain_str(domain), Some(*domain), "{domain} is not a registrable domain");
        }
        let countries = countries();
        assert!(countries.len() > 249 * 3, "{}", countries.len());
        let codes: HashSet<&str> = countries.values().copied().collect();
        assert!(codes.len() >= 249, "{}", codes.len());
        assert!(legal_forms().len() > 400, "{}", legal_forms().len());
    }
}

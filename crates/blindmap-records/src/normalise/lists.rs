//! The reference lists compiled into the binary (`data/`), parsed once on first use.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::text::fold;

/// Entries of a list file: comment and blank lines skipped, the rest trimmed.
fn entries(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

pub(super) fn free_mail() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| entries(include_str!("../../data/free_mail.txt")).collect())
}

pub(super) fn platforms() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| entries(include_str!("../../data/platform_domains.txt")).collect())
}

/// Folded country names and lower-case codes → alpha-2 code.
pub(super) fn countries() -> &'static HashMap<String, &'static str> {
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for line in entries(include_str!("../../data/countries.tsv")) {
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

/// Legal forms as folded word sequences, longest first, split into suffixes and prefixes.
pub(super) struct LegalForms {
    pub(super) suffixes: Vec<Vec<String>>,
    pub(super) prefixes: Vec<Vec<String>>,
    /// One-word forms in scripts without ASCII letters, which may be written glued to the name,
    /// before or after it; longest first.
    pub(super) glued: Vec<String>,
}

pub(super) fn legal_forms() -> &'static LegalForms {
    static FORMS: OnceLock<LegalForms> = OnceLock::new();
    FORMS.get_or_init(|| {
        let mut forms = LegalForms { suffixes: Vec::new(), prefixes: Vec::new(), glued: Vec::new() };
        for line in entries(include_str!("../../data/legal_forms.txt")) {
            let (list, form) = match line.strip_prefix("prefix ") {
                Some(form) => (&mut forms.prefixes, form),
                None => (&mut forms.suffixes, line),
            };
            let words: Vec<String> = fold(form).split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect();
            if let [word] = words.as_slice()
                && !word.bytes().any(|b| b.is_ascii_alphanumeric())
                && !forms.glued.contains(word)
            {
                forms.glued.push(word.clone());
            }
            if !words.is_empty() && !list.contains(&words) {
                list.push(words);
            }
        }
        for list in [&mut forms.suffixes, &mut forms.prefixes] {
            list.sort_by_key(|w| std::cmp::Reverse(w.len()));
        }
        forms.glued.sort_by_key(|w| std::cmp::Reverse(w.len()));
        forms
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists are data, so check their shape: a bad line would silently weaken matching.
    #[test]
    fn lists_are_well_formed() {
        for domain in free_mail().iter().chain(platforms()) {
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
        assert!(legal_forms().suffixes.len() > 100);
    }
}

//! Text folding shared by company names and country names.

use unicode_normalization::UnicodeNormalization;

/// Folds text for comparison: Unicode compatibility forms unified (NFKC), Latin diacritics
/// removed, case folded, `&` spelled `and`, dots and apostrophes deleted (`S.A.` is `sa`,
/// `O'Brien` is `obrien`), any other punctuation or symbol a word break, runs of space collapsed.
///
/// Only the combining marks of the Latin, Greek and Cyrillic diacritic blocks are removed:
/// the voicing marks of Japanese kana or the vowel signs of Indic scripts change the word.
pub fn fold(text: &str) -> String {
    // ASCII is its own NFKC form with no marks: skip the normaliser, most of the cost.
    if text.is_ascii() {
        fold_chars(text.chars(), text.len())
    } else {
        fold_chars(text.nfkd().filter(|&c| !is_diacritic(c)).nfc(), text.len())
    }
}

fn fold_chars(chars: impl Iterator<Item = char>, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pending_space = false;
    for c in chars {
        match c {
            '.' | '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' | '\u{00B4}' => continue,
            '&' => {
                pending_space = true;
                push_word(&mut out, &mut pending_space, "and");
                pending_space = true;
                continue;
            }
            c if c.is_alphanumeric() => {}
            _ => {
                pending_space = true;
                continue;
            }
        }
        match c {
            'ß' | 'ẞ' => push_word(&mut out, &mut pending_space, "ss"),
            'æ' | 'Æ' => push_word(&mut out, &mut pending_space, "ae"),
            'œ' | 'Œ' => push_word(&mut out, &mut pending_space, "oe"),
            'ø' | 'Ø' => push_word(&mut out, &mut pending_space, "o"),
            'ł' | 'Ł' => push_word(&mut out, &mut pending_space, "l"),
            'đ' | 'Đ' | 'ð' | 'Ð' => push_word(&mut out, &mut pending_space, "d"),
            'þ' | 'Þ' => push_word(&mut out, &mut pending_space, "th"),
            'ı' => push_word(&mut out, &mut pending_space, "i"),
            'ς' => push_word(&mut out, &mut pending_space, "σ"),
            c => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                // Lower-casing can itself produce a combining mark (`İ` → `i` + U+0307).
                out.extend(c.to_lowercase().filter(|&l| !is_diacritic(l)));
            }
        }
    }
    out
}

fn push_word(out: &mut String, pending_space: &mut bool, s: &str) {
    if *pending_space && !out.is_empty() {
        out.push(' ');
    }
    *pending_space = false;
    out.push_str(s);
}

fn is_diacritic(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_what_differs_between_crms() {
        for (input, want) in [
            ("ACME, Inc.", "acme inc"),
            ("Société Générale", "societe generale"),
            ("Barnes & Noble", "barnes and noble"),
            ("Barnes&Noble", "barnes and noble"),
            ("S.A. de C.V.", "sa de cv"),
            ("O’Brien's  Pub", "obriens pub"),
            ("Straße", "strasse"),
            ("Ørsted A/S", "orsted a s"),
            ("ＡＣＭＥ", "acme"),
            ("Coca-Cola", "coca cola"),
            ("  --  ", ""),
            ("株式会社ガス", "株式会社ガス"),
            ("Ĳssel", "ijssel"),
        ] {
            assert_eq!(fold(input), want, "{input}");
        }
    }
}

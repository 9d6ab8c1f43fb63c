//! `phone`: a telephone number in E.164 form (protocol-spec/keys.md §2.6).
//!
//! Parsing and validation are libphonenumber's rules, through the `phonenumber` crate (a port of
//! Google's libphonenumber with its metadata compiled in): a number written nationally
//! (`030 1234567`) is read in the account's country, one written internationally (`+49 30
//! 1234567`, `0049 30 1234567` from Germany) in its own; an extension (`x123`, `ext. 12`) is not
//! part of the number.

use phonenumber::Mode;

use super::DropReason;

/// Longest phone value read, in bytes: anything longer is not a telephone number.
const MAX_LEN: usize = 64;

/// Compiled patterns kept by libphonenumber's metadata. The crate keeps 100 in a least-recently
/// used cache shared by every region; an export of accounts in a few dozen countries cycles
/// through more than that, recompiling patterns for every number (measured: 1,500 instead of
/// 100,000 numbers a second). Every region's patterns fit in this many.
const PATTERNS_KEPT: usize = 1024;

/// Enlarges the metadata's pattern cache, once, before the first number is read.
fn enlarge_pattern_cache() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let cache = phonenumber::metadata::DATABASE.cache();
        let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *cache = regex_cache::RegexCache::new(PATTERNS_KEPT);
    });
}

/// The E.164 form (`+4930123456`) of a phone value, read in the account's country (ISO 3166-1
/// alpha-2) when it is written without a country code.
pub fn phone(raw: &str, country: Option<&str>) -> Result<String, DropReason> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_LEN {
        return Err(DropReason::PhoneInvalid);
    }
    // Letters other than an extension marker are vanity numbers or notes ("call reception").
    enlarge_pattern_cache();
    let region = country.and_then(|c| c.parse::<phonenumber::country::Id>().ok());
    let number = phonenumber::parse(region, raw).map_err(|_| DropReason::PhoneInvalid)?;
    if !phonenumber::is_valid(&number) {
        return Err(DropReason::PhoneInvalid);
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    if is_placeholder(&e164) {
        return Err(DropReason::PhonePlaceholder);
    }
    Ok(e164)
}

/// Numbers people type when a form demands one: a repeated digit, or a run such as `1234567`.
fn is_placeholder(e164: &str) -> bool {
    let digits: Vec<u8> = e164.bytes().filter(u8::is_ascii_digit).collect();
    // The national part: what follows a one- to three-digit country code; test the last seven.
    let tail = &digits[digits.len().saturating_sub(7)..];
    let repeated = tail.windows(2).all(|w| w[0] == w[1]);
    let ascending = tail.windows(2).all(|w| w[1] == w[0] + 1 || (w[0] == b'9' && w[1] == b'0'));
    let descending = tail.windows(2).all(|w| w[0] == w[1] + 1 || (w[0] == b'0' && w[1] == b'9'));
    repeated || ascending || descending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_of_one_number_are_equal() {
        for (raw, country) in [
            ("+49 30 90182736", Some("DE")),
            ("030 90182736", Some("DE")),
            ("(030) 901-82736", Some("DE")),
            ("0049 30 90182736", Some("DE")),
            ("+49 (0)30 90182736", None),
            ("+49.30.90182736 ext. 12", Some("FR")),
        ] {
            assert_eq!(phone(raw, country), Ok("+493090182736".to_owned()), "{raw}");
        }
        for raw in ["(415) 555-0134", "415.555.0134", "+1 415 555 0134", "1-415-555-0134 x23"] {
            assert_eq!(phone(raw, Some("US")), Ok("+14155550134".to_owned()), "{raw}");
        }
        assert_eq!(phone("020 7946 0958", Some("GB")), Ok("+442079460958".to_owned()));
    }

    #[test]
    fn what_is_not_a_dialable_number_makes_no_key() {
        for raw in ["", "n/a", "call reception", "12", "030 90182736", "+1 000 000 0000", "+49 0 0", &"9".repeat(80)] {
            // A national number without a country cannot be read.
            let country = if raw == "030 90182736" { None } else { Some("DE") };
            assert!(phone(raw, country).is_err(), "{raw}");
        }
        assert_eq!(phone("+1 201 555 0100", None).as_deref(), Ok("+12015550100"));
        assert_eq!(phone("+1 201 555 5555", None), Err(DropReason::PhonePlaceholder));
        assert_eq!(phone("+49 30 1234567", None).map_err(|e| e == DropReason::PhonePlaceholder), Err(true));
    }

    #[test]
    fn runs_up_or_down_count_through_zero_and_near_misses_are_numbers() {
        // The last seven digits: the same digit, or a run up or down, 9 → 0 and 0 → 9 included.
        for raw in ["+49 30 7777777", "+49 30 7890123", "+49 30 3210987", "+49 30 9876543", "+49 30 5678901"] {
            assert_eq!(phone(raw, None), Err(DropReason::PhonePlaceholder), "{raw}");
        }
        for raw in [
            "+49 30 7890124",
            "+49 30 3210986",
            "+49 30 7777778",
            "+49 30 4567891",
            "+49 30 1234500",
            "+49 30 5432102",
            "+49 30 2468024",
        ] {
            assert_eq!(phone(raw, None).map(|n| n.len()), Ok(12), "{raw}");
        }
    }

    #[test]
    fn a_value_is_read_up_to_64_bytes() {
        // Spaces inside a number are punctuation: a real number can be padded to any length.
        let padded = |len: usize| {
            let number = "+49 30 90182736";
            format!("+49{}30 90182736", " ".repeat(len - number.len() + 1))
        };
        assert_eq!(padded(MAX_LEN).len(), MAX_LEN);
        assert_eq!(phone(&padded(MAX_LEN), None).as_deref(), Ok("+493090182736"));
        assert_eq!(phone(&padded(MAX_LEN + 1), None), Err(DropReason::PhoneInvalid));
    }
}

//! `duns` keys: Dun & Bradstreet D-U-N-S numbers.

use super::DropReason;

/// A D-U-N-S number as its nine digits, leading zeros kept: spaces, dashes and dots go, and
/// anything else than nine digits is refused — a number that lost its leading zeros in a
/// spreadsheet cannot be told from a different, shorter one, and DUNS+4 suffixes name sites.
pub fn duns(raw: &str) -> Result<String, DropReason> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '\u{00A0}')).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
        return Err(DropReason::DunsNotDigits);
    }
    if digits.len() != 9 {
        return Err(DropReason::DunsLength);
    }
    if digits.bytes().all(|b| b == digits.as_bytes()[0]) || digits == "123456789" {
        return Err(DropReason::DunsPlaceholder);
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_reduce_to_nine_digits() {
        for raw in ["001234567", "00-123-4567", "001-234-567", " 001234567 ", "00.123.4567"] {
            assert_eq!(duns(raw), Ok("001234567".to_owned()), "{raw}");
        }
        assert_eq!(duns("1234567"), Err(DropReason::DunsLength));
        assert_eq!(duns("00123456700001"), Err(DropReason::DunsLength));
        assert_eq!(duns("12345678X"), Err(DropReason::DunsNotDigits));
        assert_eq!(duns("000000000"), Err(DropReason::DunsPlaceholder));
        assert_eq!(duns("-"), Err(DropReason::DunsNotDigits));
    }
}

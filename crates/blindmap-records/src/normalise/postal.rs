//! `postal`: a postal code as name keys compare it (protocol-spec/keys.md §2.5).
//!
//! Upper-case letters and digits, separators removed (`SW1A 1AA` → `SW1A1AA`, `1012 ab` →
//! `1012AB`); where the account's country writes its codes as a fixed number of digits, a code
//! that lost its leading zeros to a spreadsheet gets them back (`2139` → `02139` in the United
//! States) and a longer form is cut to the code (US ZIP+4 `02139-4307` → `02139`).

use super::DropReason;

/// Countries whose postal codes are all digits, and how many.
const NUMERIC: &[(&str, usize)] = &[
    ("AT", 4),
    ("AU", 4),
    ("BE", 4),
    ("BG", 4),
    ("BR", 8),
    ("CH", 4),
    ("CN", 6),
    ("CZ", 5),
    ("DE", 5),
    ("DK", 4),
    ("DZ", 5),
    ("EE", 5),
    ("ES", 5),
    ("FI", 5),
    ("FR", 5),
    ("GR", 5),
    ("HR", 5),
    ("HU", 4),
    ("ID", 5),
    ("IL", 7),
    ("IN", 6),
    ("IT", 5),
    ("JP", 7),
    ("KR", 5),
    ("LU", 4),
    ("MX", 5),
    ("MY", 5),
    ("NO", 4),
    ("NZ", 4),
    ("PH", 4),
    ("PL", 5),
    ("PT", 7),
    ("RO", 6),
    ("RU", 6),
    ("SE", 5),
    ("SG", 6),
    ("SI", 4),
    ("SK", 5),
    ("TH", 5),
    ("TR", 5),
    ("TW", 5),
    ("UA", 5),
    ("US", 5),
    ("VN", 6),
    ("ZA", 4),
];

/// Longest postal code kept, once separators are removed.
const MAX_LEN: usize = 10;

/// The canonical form of a postal code of an account in `country` (ISO 3166-1 alpha-2).
pub fn postal_code(raw: &str, country: &str) -> Result<String, DropReason> {
    let mut code = String::with_capacity(raw.len());
    for c in raw.trim().chars() {
        match c {
            ' ' | '-' | '.' | '\u{a0}' => {}
            c if c.is_ascii_alphanumeric() => code.push(c.to_ascii_uppercase()),
            _ => return Err(DropReason::PostalCodeInvalid),
        }
    }
    if !code.bytes().any(|b| b.is_ascii_digit()) {
        return Err(DropReason::PostalCodeInvalid);
    }
    if let Some(&(_, len)) = NUMERIC.iter().find(|(cc, _)| *cc == country) {
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DropReason::PostalCodeInvalid);
        }
        code = match code.len() {
            // ZIP+4 written without its dash.
            9 if country == "US" => code[..5].to_owned(),
            n if n == len => code,
            // Leading zeros lost to a spreadsheet; a code of fewer than three digits is not one.
            n if n < len && n >= 3.min(len) && len - n <= 2 => format!("{code:0>len$}"),
            _ => return Err(DropReason::PostalCodeInvalid),
        };
    } else if code.len() < 3 || code.len() > MAX_LEN {
        return Err(DropReason::PostalCodeInvalid);
    }
    if code.bytes().all(|b| b == code.as_bytes()[0]) {
        return Err(DropReason::PostalCodeInvalid);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyday_forms_of_one_code_are_equal() {
        for raw in ["02139", "2139", "02139-4307", "021394307", " 02139 "] {
            assert_eq!(postal_code(raw, "US"), Ok("02139".to_owned()), "{raw}");
        }
        for raw in ["SW1A 1AA", "sw1a1aa", "SW1A-1AA"] {
            assert_eq!(postal_code(raw, "GB"), Ok("SW1A1AA".to_owned()), "{raw}");
        }
        assert_eq!(postal_code("1012 ab", "NL"), Ok("1012AB".to_owned()));
        assert_eq!(postal_code("K1A 0B1", "CA"), Ok("K1A0B1".to_owned()));
        assert_eq!(postal_code("1067", "DE"), Ok("01067".to_owned()));
        assert_eq!(postal_code("100-0001", "JP"), Ok("1000001".to_owned()));
        assert_eq!(postal_code("00-950", "PL"), Ok("00950".to_owned()));
    }

    #[test]
    fn lost_leading_zeros_are_restored_up_to_two_and_only_zip_codes_lose_a_plus_four() {
        // Vietnam's codes have six digits: four or five are restored, three are too few.
        assert_eq!(postal_code("7000", "VN").as_deref(), Ok("007000"));
        assert_eq!(postal_code("70000", "VN").as_deref(), Ok("070000"));
        assert_eq!(postal_code("700", "VN"), Err(DropReason::PostalCodeInvalid));
        assert_eq!(postal_code("067", "DE").as_deref(), Ok("00067"));
        // Nine digits are a ZIP+4 in the United States only.
        assert_eq!(postal_code("941031234", "US").as_deref(), Ok("94103"));
        assert_eq!(postal_code("941031234", "DE"), Err(DropReason::PostalCodeInvalid));
        assert_eq!(postal_code("941031234", "VN"), Err(DropReason::PostalCodeInvalid));
    }

    #[test]
    fn what_cannot_be_a_code_makes_no_key() {
        for (raw, cc) in [
            ("", "US"),
            ("n/a", "US"),
            ("00000", "US"),
            ("99999", "DE"),
            ("12", "US"),
            ("123456", "DE"),
            ("ABCDE", "GB"),
            ("75001 Paris", "FR"),
            ("12#45", "US"),
            ("SW1A1AA", "US"),
            // Only ASCII letters and digits, and the separators space, dash, dot and no-break
            // space, are read: anything else is refused, wherever the code is free-form.
            ("SW1A/1AA", "GB"),
            ("SW1A_1AA", "GB"),
            ("SW1A\u{2013}1AA", "GB"),
            ("SÉ1A 1AA", "GB"),
            ("١٢٣٤٥", "EG"),
        ] {
            assert_eq!(postal_code(raw, cc), Err(DropReason::PostalCodeInvalid), "{raw} in {cc}");
        }
        // Free-form codes: three to ten letters and digits.
        assert_eq!(postal_code("AB1", "GB").as_deref(), Ok("AB1"));
        assert_eq!(postal_code(" K1A\u{a0}0B1. ", "CA").as_deref(), Ok("K1A0B1"));
        assert_eq!(postal_code("AB1-234-5678", "GB").as_deref(), Ok("AB12345678"));
        assert_eq!(postal_code("AB1-234-56789", "GB"), Err(DropReason::PostalCodeInvalid));
        assert_eq!(postal_code(&format!("1{}", "A".repeat(40)), "GB"), Err(DropReason::PostalCodeInvalid));
    }
}

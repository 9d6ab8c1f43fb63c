//! Postal codes of the harsh world in each country's format, and the everyday ways two exports write the same
//! one differently: ZIP vs ZIP+4, a space or none, lower case, leading zeros lost to Excel.

use crate::places::{PostalArea, Scheme};
use crate::util::{Rng, pick};
use rand::RngExt;

/// Letters of the second half of a UK postcode (C, I, K, M, O and V are never used there).
const UK_INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
/// Letters of Canadian postal codes (no D, F, I, O, Q or U).
const CANADA: &[u8] = b"ABCEGHJKLMNPRSTVWXYZ";
/// Letters of Dutch postcodes (no F, I, O, Q, U or Y).
const DUTCH: &[u8] = b"ABCDEGHJKLMNPRSTVWXZ";
/// Characters of an Eircode's unique identifier.
const EIRCODE: &[u8] = b"ACDEFHKNPRTVWXY0123456789";

/// A company's postal code as its country writes it, and for the US the ZIP+4 add-on its mail carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Postal {
    pub(crate) code: String,
    /// Four digits for US companies, empty elsewhere.
    pub(crate) zip4: String,
}

fn letter(rng: &mut Rng, set: &[u8]) -> char {
    char::from(*pick(rng, set))
}

fn digit(rng: &mut Rng) -> char {
    char::from(b'0' + rng.random_range(0..10u8))
}

/// A postal code of `area` in a country following `scheme`.
pub(crate) fn draw(rng: &mut Rng, scheme: Scheme, area: &PostalArea) -> Postal {
    let mut zip4 = String::new();
    let code = match *area {
        PostalArea::Range { lo, hi, step } => {
            let n = lo + step * rng.random_range(0..=(hi - lo) / step);
            match scheme {
                Scheme::Digits(width) => format!("{n:0width$}"),
                Scheme::Zip => {
                    zip4 = format!("{:04}", rng.random_range(1..10_000));
                    format!("{n:05}")
                }
                Scheme::Brazil => {
                    let s = format!("{n:08}");
                    format!("{}-{}", &s[..5], &s[5..])
                }
                Scheme::Japan => {
                    let s = format!("{n:07}");
                    format!("{}-{}", &s[..3], &s[3..])
                }
                Scheme::Sweden => {
                    let s = format!("{n:05}");
                    format!("{} {}", &s[..3], &s[3..])
                }
                Scheme::Poland => {
                    let s = format!("{n:05}");
                    format!("{}-{}", &s[..2], &s[2..])
                }
                Scheme::Netherlands => loop {
                    let letters: String = [letter(rng, DUTCH), letter(rng, DUTCH)].iter().collect();
                    // SA, SD and SS are not issued.
                    if !matches!(letters.as_str(), "SA" | "SD" | "SS") {
                        break format!("{n:04} {letters}");
                    }
                },
                Scheme::Uk | Scheme::Canada | Scheme::Eircode => unreachable!("{scheme:?} cities list prefixes"),
            }
        }
        PostalArea::Prefixes(prefixes) => {
            let prefix = pick(rng, prefixes);
            match scheme {
                Scheme::Uk => format!("{prefix} {}{}{}", digit(rng), letter(rng, UK_INWARD), letter(rng, UK_INWARD)),
                Scheme::Canada => format!("{prefix} {}{}{}", digit(rng), letter(rng, CANADA), digit(rng)),
                Scheme::Eircode => {
                    let first = letter(rng, &EIRCODE[..15]);
                    let rest: String = (0..3).map(|_| letter(rng, EIRCODE)).collect();
                    format!("{prefix} {first}{rest}")
                }
                _ => unreachable!("{scheme:?} cities list ranges"),
            }
        }
    };
    Postal { code, zip4 }
}

/// `postal` written another everyday way, if its scheme has one: ZIP+4, no space or dash, lower case.
pub(crate) fn variant(rng: &mut Rng, scheme: Scheme, postal: &Postal) -> Option<String> {
    let code = &postal.code;
    match scheme {
        Scheme::Zip => Some(format!("{code}-{}", postal.zip4)),
        Scheme::Uk | Scheme::Canada | Scheme::Netherlands | Scheme::Eircode => Some(match rng.random_range(0..3) {
            0 => code.replace(' ', ""),
            1 => code.to_lowercase(),
            _ => code.replace(' ', "").to_lowercase(),
        }),
        Scheme::Sweden | Scheme::Poland | Scheme::Japan | Scheme::Brazil => Some(code.replace([' ', '-'], "")),
        Scheme::Digits(_) => None,
    }
}

/// `written` as Excel leaves a numeric-looking code: leading zeros gone. `None` when nothing would change.
pub(crate) fn zeros_lost(written: &str) -> Option<String> {
    (written.len() > 1 && written.starts_with('0') && written.bytes().all(|b| b.is_ascii_digit()))
        .then(|| written.trim_start_matches('0').to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{Stream, rng_for};

    #[test]
    fn formats_per_scheme() {
        let mut rng = rng_for(1, Stream::World, 0);
        let us = draw(&mut rng, Scheme::Zip, &PostalArea::Range { lo: 2139, hi: 2139, step: 1 });
        assert_eq!(us.code, "02139");
        assert_eq!(us.zip4.len(), 4);
        assert_eq!(variant(&mut rng, Scheme::Zip, &us).unwrap(), format!("02139-{}", us.zip4));
        assert_eq!(zeros_lost("02139").as_deref(), Some("2139"));
        assert_eq!(zeros_lost("02139-4307"), None);
        assert_eq!(zeros_lost("80331"), None);
        let uk = draw(&mut rng, Scheme::Uk, &PostalArea::Prefixes(&["SW1A"]));
        assert!(uk.code.starts_with("SW1A ") && uk.code.len() == 8, "{}", uk.code);
        let ca = draw(&mut rng, Scheme::Canada, &PostalArea::Prefixes(&["M5V"]));
        assert!(ca.code.starts_with("M5V ") && ca.code.len() == 7, "{}", ca.code);
        let nl = draw(&mut rng, Scheme::Netherlands, &PostalArea::Range { lo: 1012, hi: 1012, step: 1 });
        assert!(nl.code.starts_with("1012 ") && nl.code.len() == 7, "{}", nl.code);
        let ie = draw(&mut rng, Scheme::Eircode, &PostalArea::Prefixes(&["D02"]));
        assert!(ie.code.starts_with("D02 ") && ie.code.len() == 8, "{}", ie.code);
        let br = draw(&mut rng, Scheme::Brazil, &PostalArea::Range { lo: 1_310_100, hi: 1_310_100, step: 1 });
        assert_eq!(br.code, "01310-100");
        let jp = draw(&mut rng, Scheme::Japan, &PostalArea::Range { lo: 1_000_001, hi: 1_000_001, step: 1 });
        assert_eq!(jp.code, "100-0001");
        let se = draw(&mut rng, Scheme::Sweden, &PostalArea::Range { lo: 11120, hi: 11120, step: 1 });
        assert_eq!(se.code, "111 20");
        let pl = draw(&mut rng, Scheme::Poland, &PostalArea::Range { lo: 950, hi: 950, step: 1 });
        assert_eq!(pl.code, "00-950");
        assert_eq!(variant(&mut rng, Scheme::Poland, &pl).as_deref(), Some("00950"));
        let fr = draw(&mut rng, Scheme::Digits(5), &PostalArea::Range { lo: 6000, hi: 6000, step: 1 });
        assert_eq!(fr.code, "06000");
        assert_eq!(variant(&mut rng, Scheme::Digits(5), &fr), None);
    }

    #[test]
    fn spacing_and_case_variants_keep_the_characters() {
        let mut rng = rng_for(2, Stream::World, 0);
        let uk = Postal { code: "SW1A 1AA".into(), zip4: String::new() };
        for _ in 0..50 {
            let v = variant(&mut rng, Scheme::Uk, &uk).unwrap();
            assert_eq!(v.replace(' ', "").to_uppercase(), "SW1A1AA");
            assert_ne!(v, uk.code);
        }
    }
}

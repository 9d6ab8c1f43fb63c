//! Telephone numbers of the harsh world: drawn from real area codes so that libphonenumber accepts them, and
//! written the many ways people and CRMs write them (`+49 30 1234567`, `030 1234567`, `(030) 123-4567`,
//! `415.555.0134 x12`).

use crate::countries::COUNTRIES;
use crate::places::City;
use crate::util::{Rng, digits, pick};
use rand::RngExt;

/// A company's number: its area code and subscriber number; together the national significant number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Phone {
    /// Digits after the trunk prefix that select the area ("30" for Berlin, "415" for San Francisco); empty
    /// where the country has none (Singapore).
    pub(crate) area: &'static str,
    pub(crate) subscriber: String,
}

impl Phone {
    /// The national significant number: what identifies the line within its country.
    pub(crate) fn national_number(&self) -> String {
        format!("{}{}", self.area, self.subscriber)
    }
}

/// A number in `city`.
pub(crate) fn draw(rng: &mut Rng, city: &City) -> Phone {
    let (area, lead) = pick(rng, city.areas).split_once('|').expect("areas are written area|lead");
    let mut subscriber = lead.to_owned();
    let mut rest = city.digits - area.len() - lead.len();
    if lead.is_empty() {
        // Subscriber numbers do not start with 0 or 1 (trunk and service prefixes).
        subscriber.push(char::from(b'0' + rng.random_range(2..10u8)));
        rest -= 1;
    }
    subscriber.push_str(&digits(rng, rest));
    Phone { area, subscriber }
}

/// The ways a number gets written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `+49 30 12345678`, `+1 415 555 0134`.
    International,
    /// As dialled at home, the country's usual way: `030 12345678`, `(415) 555-0134`, `03-1234-5678`.
    National,
    /// `(030) 1234-5678`.
    Parenthesised,
    /// `030.1234.5678`, `01.42.68.53.00`, `415.555.0134`.
    Dotted,
    /// `030-1234-5678`, `415-555-0134`.
    Dashed,
    /// `+493012345678`.
    Compact,
    /// `+49 (0)30 12345678`: international with the trunk prefix in brackets, common in Europe.
    InternationalTrunk,
    /// `0049 30 12345678`: with the international call prefix of most countries.
    DoubleZero,
    /// `030/12345678`, the German-speaking habit.
    Slash,
    /// `1-415-555-0134`.
    NanpOne,
    /// `+1 (415) 555-0134`.
    NanpInternationalParenthesised,
}

const ALL: [Form; 11] = [
    Form::International,
    Form::National,
    Form::Parenthesised,
    Form::Dotted,
    Form::Dashed,
    Form::Compact,
    Form::InternationalTrunk,
    Form::DoubleZero,
    Form::Slash,
    Form::NanpOne,
    Form::NanpInternationalParenthesised,
];

/// How a country writes its numbers.
struct Style {
    calling_code: &'static str,
    /// Dialled before the area code at home.
    trunk: &'static str,
    nanp: bool,
    /// Countries whose international call prefix is 00.
    double_zero: bool,
    /// Whether `+CC (0)…` is a local habit.
    trunk_in_brackets: bool,
    slash: bool,
    /// Whether the national form brackets the area code and has no trunk prefix: `(11) 3456-7890`,
    /// `(415) 555-0134`.
    area_in_brackets: bool,
    /// Between area code and subscriber number in the national form.
    area_separator: &'static str,
    /// Between groups of the subscriber number in the national form.
    group_separator: &'static str,
    grouping: Grouping,
}

/// How a subscriber number is split into groups.
#[derive(Clone, Copy)]
enum Grouping {
    /// 8 as 4-4, 7 as 3-4, 6 as 3-3.
    Blocks,
    /// In pairs: France, Denmark, Norway.
    Pairs,
    /// 7 as 3-2-2, 6 as 2-2-2, 8 as 3-3-2: Belgium, Switzerland, Spain, Poland, Sweden.
    ThreeTwoTwo,
    /// Not split: Germany, Austria.
    Whole,
}

fn style(country: usize) -> Style {
    let code = COUNTRIES[country].code;
    let trunk = match code {
        "ES" | "IT" | "DK" | "NO" | "PL" | "SG" | "MX" | "BR" | "US" | "CA" => "",
        _ => "0",
    };
    Style {
        calling_code: COUNTRIES[country].calling_code,
        trunk,
        nanp: matches!(code, "US" | "CA"),
        double_zero: !matches!(code, "US" | "CA" | "JP" | "AU" | "KR" | "SG" | "BR"),
        trunk_in_brackets: matches!(code, "GB" | "DE" | "FR" | "NL" | "CH" | "BE" | "AT" | "FI" | "IE" | "SE"),
        slash: matches!(code, "DE" | "AT"),
        area_in_brackets: matches!(code, "US" | "CA" | "BR" | "MX"),
        area_separator: if matches!(code, "JP" | "KR" | "SE") { "-" } else { " " },
        group_separator: if matches!(code, "JP" | "KR" | "BR" | "US" | "CA") { "-" } else { " " },
        grouping: match code {
            "FR" | "DK" | "NO" => Grouping::Pairs,
            "BE" | "CH" | "ES" | "PL" | "SE" => Grouping::ThreeTwoTwo,
            "DE" | "AT" => Grouping::Whole,
            _ => Grouping::Blocks,
        },
    }
}

fn groups(subscriber: &str, grouping: Grouping) -> Vec<&str> {
    let sizes: &[usize] = match (grouping, subscriber.len()) {
        (Grouping::Whole, _) => &[],
        (Grouping::Pairs, n) if n % 2 == 0 => &[2, 2, 2, 2, 2],
        (Grouping::ThreeTwoTwo, 8) => &[3, 3, 2],
        (Grouping::ThreeTwoTwo, 7) => &[3, 2, 2],
        (Grouping::ThreeTwoTwo | Grouping::Pairs, 6) => &[2, 2, 2],
        (_, 8) => &[4, 4],
        (_, 7) => &[3, 4],
        (_, 6) => &[3, 3],
        (_, 5) => &[2, 3],
        _ => &[],
    };
    let mut out = Vec::new();
    let mut at = 0;
    for &size in sizes {
        if at + size > subscriber.len() {
            break;
        }
        out.push(&subscriber[at..at + size]);
        at += size;
    }
    if at < subscriber.len() {
        out.push(&subscriber[at..]);
    }
    out
}

/// Whether `form` is something people in `country` write.
fn fits(form: Form, s: &Style, area: &str) -> bool {
    match form {
        Form::International | Form::National | Form::Dotted | Form::Dashed | Form::Compact => true,
        Form::Parenthesised => !area.is_empty(),
        Form::InternationalTrunk => s.trunk_in_brackets,
        Form::DoubleZero => s.double_zero,
        Form::Slash => s.slash,
        Form::NanpOne | Form::NanpInternationalParenthesised => s.nanp,
    }
}

/// A form people in `country` use, other than `not`.
pub(crate) fn other_form(rng: &mut Rng, country: usize, phone: &Phone, not: Form) -> Form {
    let s = style(country);
    let forms: Vec<Form> = ALL.iter().copied().filter(|&f| f != not && fits(f, &s, phone.area)).collect();
    *pick(rng, &forms)
}

/// `phone` of a company in `country` written in `form`.
pub(crate) fn write(country: usize, phone: &Phone, form: Form) -> String {
    let s = style(country);
    let (cc, trunk, area, sub) = (s.calling_code, s.trunk, phone.area, &phone.subscriber);
    let grouping = if s.nanp { Grouping::Blocks } else { s.grouping };
    let parts = groups(sub, grouping);
    let spaced = parts.join(" ");
    // Dashes and dots split even a number its country writes whole: "030-1234-5678".
    let split = groups(sub, if matches!(grouping, Grouping::Whole) { Grouping::Blocks } else { grouping });
    // "+65 6123 4567": no area code, so nothing between the country code and the number but a space.
    let area_then = |sep: &str| if area.is_empty() { String::new() } else { format!("{area}{sep}") };
    match form {
        Form::International => format!("+{cc} {}{spaced}", area_then(" ")),
        Form::National if s.area_in_brackets => format!("({area}) {}", parts.join(s.group_separator)),
        Form::National => format!("{trunk}{}{}", area_then(s.area_separator), parts.join(s.group_separator)),
        Form::Parenthesised => format!("({trunk}{area}) {}", split.join("-")),
        Form::Dotted => format!("{trunk}{}{}", area_then("."), split.join(".")),
        Form::Dashed => format!("{trunk}{}{}", area_then("-"), split.join("-")),
        Form::Compact => format!("+{cc}{area}{sub}"),
        Form::InternationalTrunk => format!("+{cc} ({trunk}){area} {spaced}"),
        Form::DoubleZero => format!("00{cc} {}{spaced}", area_then(" ")),
        Form::Slash => format!("{trunk}{area}/{sub}"),
        Form::NanpOne => format!("1-{area}-{}", parts.join("-")),
        Form::NanpInternationalParenthesised => format!("+1 ({area}) {}", parts.join("-")),
    }
}

/// An extension as people append it: ` x123`, ` ext. 12`.
pub(crate) fn extension(rng: &mut Rng) -> String {
    let len = rng.random_range(1..=4);
    let number = format!("{}{}", rng.random_range(1..10u8), digits(rng, len - 1));
    let label = pick(rng, &[" x", " ext. ", " ext ", " Ext. ", " x. "]);
    format!("{label}{number}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::countries::COUNTRIES;

    fn country(code: &str) -> usize {
        COUNTRIES.iter().position(|c| c.code == code).unwrap()
    }

    #[test]
    fn forms_look_like_the_examples() {
        let de = country("DE");
        let berlin = Phone { area: "30", subscriber: "1234567".into() };
        assert_eq!(write(de, &berlin, Form::International), "+49 30 1234567");
        assert_eq!(write(de, &berlin, Form::National), "030 1234567");
        assert_eq!(write(de, &berlin, Form::Parenthesised), "(030) 123-4567");
        assert_eq!(write(de, &berlin, Form::InternationalTrunk), "+49 (0)30 1234567");
        assert_eq!(write(de, &berlin, Form::Slash), "030/1234567");
        assert_eq!(write(de, &berlin, Form::DoubleZero), "0049 30 1234567");
        let us = country("US");
        let sf = Phone { area: "415", subscriber: "5550134".into() };
        assert_eq!(write(us, &sf, Form::National), "(415) 555-0134");
        assert_eq!(write(us, &sf, Form::Dotted), "415.555.0134");
        assert_eq!(write(us, &sf, Form::International), "+1 415 555 0134");
        assert_eq!(write(us, &sf, Form::NanpOne), "1-415-555-0134");
        assert_eq!(write(us, &sf, Form::Compact), "+14155550134");
        let fr = country("FR");
        let paris = Phone { area: "1", subscriber: "42685300".into() };
        assert_eq!(write(fr, &paris, Form::National), "01 42 68 53 00");
        assert_eq!(write(fr, &paris, Form::Dotted), "01.42.68.53.00");
        assert_eq!(write(fr, &paris, Form::International), "+33 1 42 68 53 00");
        let sg = country("SG");
        let singapore = Phone { area: "", subscriber: "62345678".into() };
        assert_eq!(write(sg, &singapore, Form::International), "+65 6234 5678");
        assert_eq!(write(sg, &singapore, Form::National), "6234 5678");
        let jp = country("JP");
        let tokyo = Phone { area: "3", subscriber: "12345678".into() };
        assert_eq!(write(jp, &tokyo, Form::National), "03-1234-5678");
        let br = country("BR");
        let sao_paulo = Phone { area: "11", subscriber: "34567890".into() };
        assert_eq!(write(br, &sao_paulo, Form::National), "(11) 3456-7890");
    }

    /// Whether libphonenumber reads `text` as a valid number of `country`. Italian numbers report no region
    /// (phonenumber 0.3 drops the leading zero when it looks the region up), so there the calling code decides.
    fn valid_for(country: usize, text: &str) -> Result<(), String> {
        let code = COUNTRIES[country].code;
        let id: phonenumber::country::Id = code.parse().map_err(|_| format!("no region {code}"))?;
        let number = phonenumber::parse(Some(id), text).map_err(|e| format!("{text}: {e}"))?;
        if !phonenumber::is_valid(&number) {
            return Err(format!("{code} {text}: not valid"));
        }
        if number.country().code().to_string() != COUNTRIES[country].calling_code {
            return Err(format!("{code} {text}: calling code {}", number.country().code()));
        }
        match number.country().id() {
            Some(found) if found != id => Err(format!("{code} {text}: read as {found:?}")),
            None if code != "IT" => Err(format!("{code} {text}: no region")),
            _ => Ok(()),
        }
    }

    #[test]
    fn every_area_and_form_is_valid_for_libphonenumber() {
        use crate::places::GEOGRAPHY;
        let mut rng = crate::util::rng_for(5, crate::util::Stream::World, 0);
        let (mut checked, mut failures) = (0, Vec::new());
        for (country, g) in GEOGRAPHY.iter().enumerate() {
            let s = style(country);
            for city in g.cities {
                for _ in 0..8 {
                    let phone = draw(&mut rng, city);
                    for form in ALL.into_iter().filter(|&f| fits(f, &s, phone.area)) {
                        let mut text = write(country, &phone, form);
                        if checked % 7 == 0 {
                            text.push_str(&extension(&mut rng));
                        }
                        checked += 1;
                        if let Err(e) = valid_for(country, &text) {
                            failures.push(format!("{} {form:?}: {e}", city.name));
                        }
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {checked} invalid: {:#?}",
            failures.len(),
            &failures[..failures.len().min(40)]
        );
    }

    #[test]
    fn other_forms_fit_the_country() {
        let mut rng = crate::util::rng_for(1, crate::util::Stream::World, 0);
        let us = country("US");
        let sf = Phone { area: "415", subscriber: "5550134".into() };
        for _ in 0..200 {
            let f = other_form(&mut rng, us, &sf, Form::National);
            assert!(!matches!(f, Form::National | Form::Slash | Form::InternationalTrunk | Form::DoubleZero));
        }
    }
}

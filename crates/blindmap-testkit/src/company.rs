//! One real company: everything both CRMs could know about it, before either mistypes any of it.

use crate::countries::{COUNTRIES, StreetStyle};
use crate::domains;
use crate::phones::{self, Phone};
use crate::places::GEOGRAPHY;
use crate::postcodes::{self, Postal};
use crate::util::{Rng, chance, digits, pick};
use rand::RngExt;

/// Industries as the vendor's Salesforce picklist and the partner's HubSpot property label them.
pub(crate) const INDUSTRIES: &[(&str, &str)] = &[
    ("Technology", "Computer Software"),
    ("Technology", "Information Technology and Services"),
    ("Manufacturing", "Machinery"),
    ("Finance", "Financial Services"),
    ("Healthcare", "Hospital & Health Care"),
    ("Retail", "Retail"),
    ("Transportation", "Logistics and Supply Chain"),
    ("Energy", "Oil & Energy"),
    ("Consulting", "Management Consulting"),
    ("Education", "Education Management"),
    ("Media", "Marketing and Advertising"),
    ("Telecommunications", "Telecommunications"),
    ("Biotechnology", "Biotechnology"),
    ("Construction", "Construction"),
    ("Food & Beverage", "Food & Beverages"),
    ("Insurance", "Insurance"),
    ("Engineering", "Mechanical or Industrial Engineering"),
    ("Chemicals", "Chemicals"),
    ("Electronics", "Electrical/Electronic Manufacturing"),
    ("Hospitality", "Hospitality"),
    ("Not For Profit", "Non-Profit Organization Management"),
    ("Other", ""),
];

/// Share of multi-domain companies.
const MULTI_DOMAIN: f64 = 0.15;
/// Share of accented-name companies that register a Unicode (IDN) domain: ~1% of all companies.
const IDN_OF_ACCENTED: f64 = 0.12;

/// A company of the world.
#[derive(Debug, Clone)]
pub(crate) struct Company {
    pub(crate) brand: String,
    pub(crate) legal_form: &'static str,
    pub(crate) country: usize,
    /// Primary first. IDN companies hold the Unicode form; exports show it or its Punycode.
    pub(crate) domains: Vec<String>,
    pub(crate) idn: bool,
    /// Which side shows an IDN company's domain in Unicode; the other shows Punycode.
    pub(crate) idn_unicode_on_salesforce: bool,
    /// Nine digits, leading zeros kept.
    pub(crate) duns: String,
    pub(crate) city: usize,
    pub(crate) street: String,
    pub(crate) postal: String,
    pub(crate) phone: String,
    pub(crate) industry: usize,
    pub(crate) employees: u32,
    pub(crate) revenue: u64,
    /// Named after surnames ("Brown", "Müller & Söhne"); only the harsh world has such companies.
    pub(crate) surname: bool,
    /// Where a harsh-world company is, in that world's geography; `None` in the default world, whose exports
    /// show `city`, `postal` and `phone` above as they always have.
    pub(crate) local: Option<Local>,
}

/// A harsh-world company's place and the numbers that go with it: a postal code of its city and a phone number
/// with its city's area code.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    /// Index into the cities of `GEOGRAPHY[country]`.
    pub(crate) city: usize,
    pub(crate) postal: Postal,
    pub(crate) phone: Phone,
}

/// A postal code of `city` in `country`.
pub(crate) fn postal_in(rng: &mut Rng, country: usize, city: usize) -> Postal {
    let g = &GEOGRAPHY[country];
    postcodes::draw(rng, g.postal, &g.cities[city].postal)
}

/// A phone number of `city` in `country`.
pub(crate) fn phone_in(rng: &mut Rng, country: usize, city: usize) -> Phone {
    phones::draw(rng, &GEOGRAPHY[country].cities[city])
}

/// A DUNS number: nine digits, about 10% with one or two leading zeros.
pub(crate) fn duns(rng: &mut Rng) -> String {
    let zeros = if chance(rng, 0.1) { if chance(rng, 0.2) { 2 } else { 1 } } else { 0 };
    let first = char::from(b'0' + rng.random_range(1..10u8));
    format!("{}{first}{}", "0".repeat(zeros), digits(rng, 8 - zeros))
}

/// A company named `brand` in `country`; `taken` says which domains already belong to someone else.
pub(crate) fn build(
    rng: &mut Rng,
    brand: String,
    country: usize,
    duns: String,
    taken: &mut dyn FnMut(&str) -> bool,
) -> Company {
    let info = &COUNTRIES[country];
    let idn = !brand.is_ascii() && chance(rng, IDN_OF_ACCENTED);
    let labels = domains::labels(rng, &brand, idn);
    let tld = domains::tld(rng, country);
    let primary = domains::first_free(rng, &labels, tld, country, taken);
    let mut all = vec![primary];
    if chance(rng, MULTI_DOMAIN) {
        let want = rng.random_range(1..=2);
        // The extras share the primary's label so they read as the same company's; IDN companies keep
        // theirs ASCII, as their other registrations usually are.
        let extra_label = if idn { domains::labels(rng, &brand, false).full } else { labels.preferred.clone() };
        for candidate in domains::extra_candidates(rng, &extra_label, &all[0], country) {
            if all.len() > want {
                break;
            }
            if !taken(&candidate) && !all.contains(&candidate) {
                all.push(candidate);
            }
        }
    }
    let employees = 10f64.powf(rng.random_range(0.3..5.3)).round() as u32;
    let per_head = rng.random_range(60_000..400_000u64);
    Company {
        legal_form: pick::<&str>(rng, info.legal_forms),
        city: rng.random_range(0..info.cities.len()),
        street: street(rng, country),
        postal: postal(rng, info.postal),
        phone: phone(rng, country),
        industry: rng.random_range(0..INDUSTRIES.len()),
        employees,
        revenue: round3(u64::from(employees) * per_head),
        idn_unicode_on_salesforce: chance(rng, 0.5),
        brand,
        country,
        domains: all,
        idn,
        duns,
        surname: false,
        local: None,
    }
}

/// `value` kept to three significant digits, as revenue figures are entered.
fn round3(value: u64) -> u64 {
    let mut scale = 1;
    while value / scale >= 1000 {
        scale *= 10;
    }
    value / scale * scale
}

fn postal(rng: &mut Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '9' => char::from(b'0' + rng.random_range(0..10u8)),
            'A' => char::from(b'A' + rng.random_range(0..26u8)),
            other => other,
        })
        .collect()
}

fn phone(rng: &mut Rng, country: usize) -> String {
    let cc = COUNTRIES[country].calling_code;
    if cc == "1" {
        let area = rng.random_range(201..990);
        let line = digits(rng, 4);
        match rng.random_range(0..3) {
            0 => format!("+1 ({area}) 555-{line}"),
            1 => format!("({area}) 555-{line}"),
            _ => format!("{area}-555-{line}"),
        }
    } else {
        format!("+{cc} {} {} {}", digits(rng, 2), digits(rng, 3), digits(rng, 4))
    }
}

const STREET_NAMES: &[&str] = &[
    "Harbor", "Market", "Mission", "Oak", "Maple", "Park", "Lake", "Hill", "River", "Church", "Mill", "Station",
    "Linden", "Berg", "Garten", "Rosen", "Victoria", "King", "Queen", "Bridge", "Castle", "Spring",
];
const FRENCH_STREETS: &[&str] =
    &["de la Paix", "du Faubourg Saint-Honoré", "de Rivoli", "Victor Hugo", "de la République", "Pasteur"];

fn street(rng: &mut Rng, country: usize) -> String {
    let name = pick(rng, STREET_NAMES);
    let num = rng.random_range(1..2500);
    let small = rng.random_range(1..120);
    match COUNTRIES[country].street {
        StreetStyle::Anglo => {
            let kind = pick(rng, &["St", "Street", "Ave", "Avenue", "Rd", "Blvd", "Drive", "Lane", "Way"]);
            // Suites after a comma or on a second line: both are common in Billing Street and need quoting.
            match rng.random_range(0..20) {
                0 => format!("{num} {name} {kind}, Suite {}", small * 10),
                1 => format!("{num} {name} {kind}\nSuite {}", small * 10),
                2 => format!("{num} {name} {kind}\nFloor {}", small % 40 + 1),
                _ => format!("{num} {name} {kind}"),
            }
        }
        StreetStyle::German => {
            let kind = pick(rng, &["straße", "weg", "allee", "platz", "str."]);
            format!("{name}{kind} {small}")
        }
        StreetStyle::French => {
            let kind = pick(rng, &["rue", "avenue", "boulevard", "place"]);
            format!("{small} {kind} {}", pick(rng, FRENCH_STREETS))
        }
        StreetStyle::Latin => match COUNTRIES[country].code {
            "IT" => format!("Via {name} {small}"),
            "BR" => format!("Rua {name}, {num}"),
            "NL" => format!("{name}straat {small}"),
            "PL" => format!("ul. {name}owa {small}"),
            _ => format!("Calle {name} {small}"),
        },
        StreetStyle::Nordic => {
            let kind = match COUNTRIES[country].code {
                "SE" => "gatan",
                "DK" => "gade",
                "FI" => "katu",
                _ => "gata",
            };
            format!("{name}{kind} {small}")
        }
        StreetStyle::Numbered => match COUNTRIES[country].code {
            "JP" => format!("{}-{}-{} {name}", rng.random_range(1..9), rng.random_range(1..30), small),
            "IN" => format!("{small}, {name} Road"),
            _ => format!("{num} {name}-ro"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{Stream, rng_for};

    #[test]
    fn duns_are_nine_digits_with_some_leading_zeros() {
        let mut rng = rng_for(1, Stream::World, 0);
        let all: Vec<String> = (0..10_000).map(|_| duns(&mut rng)).collect();
        assert!(all.iter().all(|d| d.len() == 9 && d.bytes().all(|b| b.is_ascii_digit())));
        let zero = all.iter().filter(|d| d.starts_with('0')).count();
        assert!((800..1200).contains(&zero), "{zero}");
        assert!(all.iter().any(|d| d.starts_with("00")));
    }

    #[test]
    fn multi_domain_companies_have_distinct_domains() {
        let mut rng = rng_for(1, Stream::World, 1);
        let mut multi = 0;
        for i in 0..2000 {
            let c = build(&mut rng, "Acme Analytics".into(), i % COUNTRIES.len(), "012345678".into(), &mut |_| false);
            let mut d = c.domains.clone();
            d.dedup();
            assert_eq!(d.len(), c.domains.len());
            assert!(c.domains.len() <= 3);
            multi += usize::from(c.domains.len() > 1);
        }
        assert!((200..400).contains(&multi), "{multi}");
    }

    #[test]
    fn round3_keeps_three_digits() {
        assert_eq!(round3(123_456_789), 123_000_000);
        assert_eq!(round3(999), 999);
    }
}

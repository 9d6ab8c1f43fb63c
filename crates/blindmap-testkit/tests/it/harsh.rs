//! The harsh world as the benchmark and an importer see it: its rates at the benchmark's size, its headers,
//! phones that libphonenumber accepts, namesakes the truth never pairs, and exports without city columns.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::support::{hubspot, salesforce};
use blindmap_testkit::{
    Corpus, DecoyKind, HUBSPOT_HEADER, SALESFORCE_HEADER, Settings, WorldKind, generate, hubspot_header,
    salesforce_header,
};

/// [`Settings::harsh`], generated once for every test of this binary.
fn harsh() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| generate(&Settings::harsh()))
}

/// Records of a parsed export, header first.
type Records = Vec<Vec<String>>;

/// The parsed Salesforce and HubSpot exports of [`harsh`].
fn harsh_rows() -> &'static (Records, Records) {
    static ROWS: OnceLock<(Records, Records)> = OnceLock::new();
    ROWS.get_or_init(|| (salesforce(harsh()), hubspot(harsh())))
}

/// The index of `name` in a header record.
fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn share(rows: &[Vec<String>], f: impl Fn(&Vec<String>) -> bool) -> f64 {
    rows.iter().filter(|r| f(r)).count() as f64 / rows.len() as f64
}

fn near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!((got - want).abs() <= tolerance, "{what}: {got:.4} is not within {tolerance} of {want}");
}

/// ISO codes of the countries rows name in English, the form most rows use; rows naming theirs another way
/// ("U.S.", "Deutschland") are left out where a test needs the country.
fn country_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "United States" => "US",
        "United Kingdom" => "GB",
        "Germany" => "DE",
        "France" => "FR",
        "Canada" => "CA",
        "Australia" => "AU",
        "Netherlands" => "NL",
        "Japan" => "JP",
        "India" => "IN",
        "Brazil" => "BR",
        "Spain" => "ES",
        "Italy" => "IT",
        "Sweden" => "SE",
        "Switzerland" => "CH",
        "Singapore" => "SG",
        "Mexico" => "MX",
        "Poland" => "PL",
        "Ireland" => "IE",
        "Denmark" => "DK",
        "Belgium" => "BE",
        "Austria" => "AT",
        "Norway" => "NO",
        "Finland" => "FI",
        "South Korea" => "KR",
        "South Africa" => "ZA",
        _ => return None,
    })
}

/// The number `text` holds as libphonenumber reads it for `code`'s country (calling code and national number,
/// without extension), if it is valid there. Italian numbers report no region (phonenumber 0.3 looks it up without the leading zero),
/// so there the calling code decides.
fn valid_number(code: &str, text: &str) -> Option<String> {
    let id: phonenumber::country::Id = code.parse().ok()?;
    let number = phonenumber::parse(Some(id), text).ok()?;
    let region_ok = match number.country().id() {
        Some(found) => found == id,
        None => code == "IT" && number.country().code() == 39,
    };
    (phonenumber::is_valid(&number) && region_ok).then(|| format!("+{} {}", number.country().code(), number.national()))
}

#[test]
fn harsh_settings_are_the_benchmark_size() {
    let s = Settings::harsh();
    assert_eq!((s.rows_per_side, s.seed, s.world, s.city_columns), (20_000, 1, WorldKind::Harsh, true));
    let d = Settings::default();
    assert_eq!((d.world, d.city_columns), (WorldKind::Default, true));
}

#[test]
fn headers_are_the_crm_ones_with_hubspots_postal_code() {
    let settings = Settings::harsh();
    assert_eq!(salesforce_header(&settings), SALESFORCE_HEADER);
    assert_eq!(
        hubspot_header(&settings),
        "Record ID,Company name,Company Domain Name,Website URL,Additional Domains,Country/Region,State/Region,City,\
         Postal Code,Industry,Number of Employees,Annual Revenue,Lifecycle Stage,Company owner,Phone Number,\
         D-U-N-S Number,Create Date"
    );
    assert_eq!(salesforce_header(&Settings::default()), SALESFORCE_HEADER);
    assert_eq!(hubspot_header(&Settings::default()), HUBSPOT_HEADER);
}

#[test]
fn exports_parse_with_the_header_they_claim() {
    let settings = Settings::harsh();
    let (left, right) = harsh_rows();
    assert_eq!((left.len(), right.len()), (20_001, 20_001));
    assert_eq!(left[0].join(","), salesforce_header(&settings));
    assert_eq!(right[0].join(","), hubspot_header(&settings));
    assert!(left.iter().all(|r| r.len() == left[0].len()), "a Salesforce record has the wrong field count");
    assert!(right.iter().all(|r| r.len() == right[0].len()), "a HubSpot record has the wrong field count");
    let ids: HashSet<&String> = left[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), 20_000);
}

#[test]
fn missing_values_come_at_their_rates() {
    let (left, right) = harsh_rows();
    let (lh, rh) = (&left[0], &right[0]);
    let (left, right) = (&left[1..], &right[1..]);
    let stats = &harsh().stats;

    let website = col(lh, "Website");
    let (domain, url) = (col(rh, "Company Domain Name"), col(rh, "Website URL"));
    near("Salesforce website", share(left, |r| r[website].is_empty()), 0.10, 0.015);
    near("HubSpot website", share(right, |r| r[domain].is_empty() && r[url].is_empty()), 0.10, 0.015);
    near("HubSpot domain", share(right, |r| r[domain].is_empty()), 0.10, 0.015);
    for (rows, header, city, phone, postal, gaps) in [
        (left, lh, "Billing City", "Phone", "Billing Zip/Postal Code", &stats.salesforce_gaps),
        (right, rh, "City", "Phone Number", "Postal Code", &stats.hubspot_gaps),
    ] {
        let (city, phone, postal) = (col(header, city), col(header, phone), col(header, postal));
        near("city", share(rows, |r| r[city].is_empty()), 0.20, 0.015);
        near("phone", share(rows, |r| r[phone].is_empty()), 0.25, 0.015);
        near("postal code", share(rows, |r| r[postal].is_empty()), 0.15, 0.015);
        // The stats the benchmark prints count what the file shows.
        let count = |c: usize| rows.iter().filter(|r| r[c].is_empty()).count();
        assert_eq!((gaps.city, gaps.phone, gaps.postal_code), (count(city), count(phone), count(postal)));
    }
    assert_eq!(stats.salesforce_gaps.website, left.iter().filter(|r| r[website].is_empty()).count());
}

#[test]
fn namesakes_are_common_regional_and_never_true_pairs() {
    let corpus = harsh();
    let s = &corpus.stats;
    let namesakes = s.namesake_companies as f64 / s.companies as f64;
    assert!(namesakes >= 0.07, "namesake share {namesakes:.4}");
    let surnames = (s.surname_name_companies - s.namesake_companies) as f64 / s.companies as f64;
    near("surname-named companies besides namesakes", surnames, 0.30, 0.03);
    let decoys = s.decoys.same_name_same_country as f64;
    near("namesakes in the same region", s.namesakes_same_region as f64 / decoys, 0.5, 0.06);
    near("namesakes in the same city", s.namesakes_same_city as f64 / decoys, 0.2, 0.05);

    let truth: HashSet<(&String, &String)> = corpus.truth.iter().map(|(a, r)| (a, r)).collect();
    let same_name: Vec<(&String, &String)> = corpus
        .decoy_pairs
        .iter()
        .filter(|(_, _, kind)| *kind == DecoyKind::SameNameSameCountry)
        .map(|(a, r, _)| (a, r))
        .collect();
    assert!(same_name.len() > 1000, "{} namesake pairs", same_name.len());
    assert!(same_name.iter().all(|pair| !truth.contains(pair)), "the truth pairs two namesakes");

    // Namesake rows carry independent evidence that tells them apart whenever both sides show it.
    let (left, right) = harsh_rows();
    let by_account: HashMap<&String, &Vec<String>> = left[1..].iter().map(|r| (&r[0], r)).collect();
    let by_record: HashMap<&String, &Vec<String>> = right[1..].iter().map(|r| (&r[0], r)).collect();
    let (l_duns, r_duns) = (col(&left[0], "D-U-N-S Number"), col(&right[0], "D-U-N-S Number"));
    let (l_phone, r_phone) = (col(&left[0], "Phone"), col(&right[0], "Phone Number"));
    let (l_country, r_country) = (col(&left[0], "Billing Country"), col(&right[0], "Country/Region"));
    let digits =
        |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>().trim_start_matches('0').to_owned();
    let mut phones_compared = 0;
    for (a, r) in &same_name {
        let (x, y) = (by_account[a], by_record[r]);
        if !x[l_duns].is_empty() && !y[r_duns].is_empty() {
            assert_ne!(digits(&x[l_duns]), digits(&y[r_duns]), "namesakes {a} and {r} share a DUNS");
        }
        let (Some(cx), Some(cy)) = (country_code(&x[l_country]), country_code(&y[r_country])) else { continue };
        if let (Some(px), Some(py)) = (valid_number(cx, &x[l_phone]), valid_number(cy, &y[r_phone])) {
            phones_compared += 1;
            assert_ne!(px, py, "namesakes {a} and {r} share a phone number");
        }
    }
    assert!(phones_compared > 200, "{phones_compared}");
}

#[test]
fn phones_are_valid_for_libphonenumber_and_written_differently_per_side() {
    // libphonenumber is slow without optimisation (a few ms a number), so this samples the exports; the unit
    // test in `phones` checks every city, area code and form.
    let (left, right) = harsh_rows();
    let (l_phone, r_phone) = (col(&left[0], "Phone"), col(&right[0], "Phone Number"));
    let (l_country, r_country) = (col(&left[0], "Billing Country"), col(&right[0], "Country/Region"));
    let number_of = |r: &Vec<String>, phone: usize, country: usize| {
        let code = country_code(&r[country]).filter(|_| !r[phone].is_empty())?;
        Some(valid_number(code, &r[phone]))
    };
    let (mut checked, mut valid) = (0, 0);
    for (rows, phone, country) in [(left, l_phone, l_country), (right, r_phone, r_country)] {
        for r in rows[1..].iter().step_by(20) {
            if let Some(number) = number_of(r, phone, country) {
                checked += 1;
                valid += usize::from(number.is_some());
            }
        }
    }
    assert!(checked > 900, "{checked}");
    let rate = valid as f64 / checked as f64;
    assert!(rate >= 0.99, "{valid} of {checked} phones valid ({rate:.4})");

    // The same company's number, written each export's way: mostly different text, the same number.
    let by_account: HashMap<&String, &Vec<String>> = left[1..].iter().map(|r| (&r[0], r)).collect();
    let by_record: HashMap<&String, &Vec<String>> = right[1..].iter().map(|r| (&r[0], r)).collect();
    let (mut pairs, mut same_number, mut same_text) = (0, 0, 0);
    for (a, r) in &harsh().truth {
        let (x, y) = (by_account[a], by_record[r]);
        let (Some(Some(nx)), Some(Some(ny))) = (number_of(x, l_phone, l_country), number_of(y, r_phone, r_country))
        else {
            continue;
        };
        pairs += 1;
        same_number += usize::from(nx == ny);
        same_text += usize::from(x[l_phone] == y[r_phone]);
        if pairs == 300 {
            break;
        }
    }
    assert_eq!(pairs, 300);
    // Division rows elsewhere may show their own line, so not every pair agrees.
    assert!(same_number >= 285, "{same_number} of {pairs} true pairs show one number");
    assert!(same_text <= 45, "{same_text} of {pairs} true pairs write it alike");
}

#[test]
fn postal_codes_and_regions_vary_the_everyday_ways() {
    let (left, right) = harsh_rows();
    let mut postal = Vec::new();
    let mut states = HashSet::new();
    for (rows, p, s, c) in [
        (left, "Billing Zip/Postal Code", "Billing State/Province", "Billing Country"),
        (right, "Postal Code", "State/Region", "Country/Region"),
    ] {
        let (p, s, c) = (col(&rows[0], p), col(&rows[0], s), col(&rows[0], c));
        for r in &rows[1..] {
            postal.push((country_code(&r[c]), r[p].clone()));
            states.insert(r[s].clone());
        }
    }
    let any = |code: &str, f: &dyn Fn(&str) -> bool| postal.iter().any(|(c, p)| *c == Some(code) && f(p));
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    assert!(any("US", &|p| digits(p, 5)), "ZIP");
    assert!(any("US", &|p| p.len() == 10 && digits(&p[..5], 5) && &p[5..6] == "-" && digits(&p[6..], 4)), "ZIP+4");
    assert!(any("US", &|p| digits(p, 4)), "ZIP that lost its leading zero");
    assert!(any("GB", &|p| p.contains(' ') && p.chars().all(|c| !c.is_ascii_lowercase())), "SW1A 1AA");
    assert!(any("GB", &|p| !p.contains(' ') && p.chars().any(|c| c.is_ascii_lowercase())), "sw1a1aa");
    assert!(any("CA", &|p| p.len() == 7 && p.as_bytes()[3] == b' '), "M5V 2T6");
    assert!(any("NL", &|p| p.len() == 6 && digits(&p[..4], 4)), "1012AB");
    assert!(any("DE", &|p| digits(p, 5)) && any("FR", &|p| digits(p, 5)));
    for both in [["CA", "California"], ["NY", "New York"], ["Bayern", "BY"], ["ON", "Ontario"]] {
        assert!(both.iter().all(|s| states.contains(*s)), "{both:?}");
    }
}

#[test]
fn without_city_columns_no_city_is_left() {
    for world in [WorldKind::Default, WorldKind::Harsh] {
        let settings = Settings { rows_per_side: 2000, world, city_columns: false, ..Settings::harsh() };
        let corpus = generate(&settings);
        let (left, right) = (salesforce(&corpus), hubspot(&corpus));
        for rows in [&left, &right] {
            assert!(!rows[0].iter().any(|h| h.contains("City")), "{:?}", rows[0]);
            assert!(rows.iter().all(|r| r.len() == rows[0].len()));
        }
        assert_eq!(left[0].len(), 16);
        assert_eq!(right[0].len(), if world == WorldKind::Harsh { 16 } else { 15 });
        assert_eq!(left[0].join(","), salesforce_header(&settings));
        assert_eq!(right[0].join(","), hubspot_header(&settings));
        assert_eq!((corpus.stats.salesforce_gaps.city, corpus.stats.hubspot_gaps.city), (2000, 2000));
    }
}

#[test]
fn same_settings_same_bytes() {
    let small = |seed: u64| generate(&Settings { rows_per_side: 3000, seed, ..Settings::harsh() });
    let a = small(7);
    assert_eq!(a, small(7));
    assert_ne!(a.salesforce_csv, small(8).salesforce_csv);
    let default = generate(&Settings { rows_per_side: 3000, seed: 7, ..Settings::default() });
    assert_ne!(a.salesforce_csv, default.salesforce_csv);
}

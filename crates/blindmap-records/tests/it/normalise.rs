//! Normalisation: golden examples shaped like real CRM values, and properties — every
//! normaliser is idempotent, and stable under the noise two CRMs add to one company.

use blindmap_records::DropReason;
use blindmap_records::normalise::{company_name, country, domain, duns};
use proptest::prelude::*;

/// (what one CRM says, what another says about the same company).
const SAME_COMPANY: &[(&str, &str)] = &[
    ("Acme, Inc.", "ACME Incorporated"),
    ("International Business Machines Corporation", "International Business Machines Corp."),
    ("Siemens Aktiengesellschaft", "Siemens AG"),
    ("Robert Bosch GmbH", "ROBERT BOSCH G.M.B.H."),
    ("Nestlé S.A.", "Nestle SA"),
    ("L'Oréal S.A.", "LOreal"),
    ("Koninklijke Philips N.V.", "Koninklijke Philips NV"),
    ("Ferrero S.p.A.", "Ferrero SpA"),
    ("Telefónica, S.A.", "Telefonica"),
    ("Volvo AB", "Volvo Aktiebolag"),
    ("Toyota Motor Corporation", "Toyota Motor Corp"),
    ("Sony Group Corporation", "Sony Group Corp."),
    ("Tata Consultancy Services Limited", "Tata Consultancy Services Ltd."),
    ("Infosys Private Limited", "Infosys Pvt. Ltd."),
    ("BHP Group Pty Ltd", "BHP Group Proprietary Limited"),
    ("Procter & Gamble Co.", "Procter and Gamble Company"),
    ("Johnson & Johnson", "Johnson and Johnson"),
    ("Ørsted A/S", "Orsted AS"),
    ("Grupo Bimbo, S.A.B. de C.V.", "Grupo Bimbo"),
    ("Natura &Co Holding S.A.", "Natura and Co Holding"),
    ("Samsung Electronics Co., Ltd.", "Samsung Electronics"),
    ("PT Bank Central Asia Tbk", "Bank Central Asia"),
    ("The Boeing Company", "Boeing Co"),
    ("Zalando SE", "ZALANDO"),
    ("KPMG LLP", "KPMG"),
    ("Accenture plc", "Accenture PLC"),
];

#[test]
fn names_of_one_company_agree() {
    for (a, b) in SAME_COMPANY {
        let country = if a.starts_with("PT ") {
            "ID"
        } else if a.contains("S.p.A") {
            "IT"
        } else {
            "US"
        };
        assert_eq!(company_name(a, Some(country)), company_name(b, Some(country)), "{a} / {b}");
    }
}

#[test]
fn names_of_different_companies_differ() {
    for (a, b) in [
        ("Delta Air Lines, Inc.", "Delta Faucet Company"),
        ("Acme Holdings", "Acme"),
        ("Acme Group", "Acme"),
        ("Apple Inc.", "Apple Bank"),
        ("General Motors", "General Mills"),
    ] {
        assert_ne!(company_name(a, Some("US")), company_name(b, Some("US")), "{a} / {b}");
    }
}

#[test]
fn websites_as_crms_hold_them() {
    for (raw, want) in [
        ("https://www.acme.com/about", "acme.com"),
        ("acme.com", "acme.com"),
        ("http://WWW.ACME.COM", "acme.com"),
        ("https://investors.acme.com/en-us/?utm_source=crm", "acme.com"),
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("https://www.gov.uk/", "www.gov.uk"),
        ("shop.example.com.au", "example.com.au"),
        ("https://www.bücher.de", "xn--bcher-kva.de"),
        ("sales@acme.de", "acme.de"),
    ] {
        assert_eq!(domain(raw).as_deref(), Ok(want), "{raw}");
    }
    assert_eq!(domain("jane@outlook.com"), Err(DropReason::FreeMail));
    assert_eq!(domain("https://www.linkedin.com/company/acme/"), Err(DropReason::SharedPlatform));
}

/// A name made of letters and a legal form, and the noise a second CRM adds to it.
fn brand() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z]{3,9}", 1..4)
        .prop_map(|w| w.into_iter().map(|w| w[..1].to_uppercase() + &w[1..]).collect::<Vec<_>>().join(" "))
}

fn legal_form() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        " Inc",
        " Inc.",
        ", Inc.",
        " Incorporated",
        " LLC",
        " L.L.C.",
        " Ltd",
        " Limited",
        " GmbH",
        " AG",
        " S.A.",
        " SA",
        " B.V.",
        " Pty Ltd",
        " Co., Ltd.",
        " Corp.",
        " Corporation",
        " PLC",
        " S.r.l.",
    ])
}

#[derive(Debug, Clone)]
enum NameNoise {
    Upper,
    Lower,
    Spaces,
    Punctuation,
    LeadingThe,
    Accents,
}

fn name_noise() -> impl Strategy<Value = Vec<NameNoise>> {
    prop::collection::vec(
        prop_oneof![
            Just(NameNoise::Upper),
            Just(NameNoise::Lower),
            Just(NameNoise::Spaces),
            Just(NameNoise::Punctuation),
            Just(NameNoise::LeadingThe),
            Just(NameNoise::Accents),
        ],
        0..4,
    )
}

fn apply(name: &str, noise: &[NameNoise]) -> String {
    let mut s = name.to_owned();
    for n in noise {
        s = match n {
            NameNoise::Upper => s.to_uppercase(),
            NameNoise::Lower => s.to_lowercase(),
            NameNoise::Spaces => format!("  {}  ", s.replace(' ', "   ")),
            NameNoise::Punctuation => s.replacen(' ', ", ", 1) + ".",
            NameNoise::LeadingThe => format!("The {s}"),
            NameNoise::Accents => s.replace('e', "é").replace('a', "à").replace('o', "ö"),
        };
    }
    s
}

fn url_form() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    (
        prop::sample::select(vec!["", "http://", "https://", "HTTPS://"]),
        prop::sample::select(vec!["", "www.", "shop.", "WWW.", "eu.store."]),
        prop::sample::select(vec!["", "/", "/about-us", ":443", ":8080/x?y=1#z", ".", "/?utm_source=x"]),
    )
}

proptest! {
    #[test]
    fn normalisers_are_idempotent(raw in ".{0,40}", name in brand(), form in legal_form()) {
        for input in [raw.as_str(), &format!("{name}{form}")] {
            for country in [None, Some("US"), Some("IT"), Some("JP")] {
                if let Ok(once) = company_name(input, country) {
                    prop_assert_eq!(company_name(&once, country), Ok(once.clone()));
                }
            }
            if let Ok(once) = domain(input) {
                prop_assert_eq!(domain(&once), Ok(once.clone()));
            }
            if let Ok(once) = duns(input) {
                prop_assert_eq!(duns(&once), Ok(once.clone()));
            }
            if let Ok(once) = country(input) {
                prop_assert_eq!(country(once), Ok(once));
            }
        }
    }

    #[test]
    fn names_are_stable_under_crm_noise(name in brand(), a in legal_form(), b in legal_form(), noise in name_noise()) {
        let clean = company_name(&format!("{name}{a}"), Some("US"));
        let noisy = company_name(&apply(&format!("{name}{b}"), &noise), Some("US"));
        prop_assert_eq!(clean, noisy);
    }

    #[test]
    fn domains_are_stable_under_url_forms(label in "zq[a-z0-9]{1,8}(-[a-z0-9]{1,5})?", tld in prop::sample::select(vec!["com", "co.uk", "de", "com.au", "io"]), (scheme, sub, tail) in url_form()) {
        let registrable = format!("{label}.{tld}");
        prop_assert_eq!(domain(&format!("{scheme}{sub}{registrable}{tail}")), Ok(registrable.clone()));
        prop_assert_eq!(domain(&format!("info@{registrable}")), Ok(registrable));
    }

    #[test]
    fn duns_formats_agree(d in "[0-9]{9}") {
        prop_assume!(d.bytes().any(|b| b != d.as_bytes()[0]) && d != "123456789");
        let dashed = format!("{}-{}-{}", &d[..2], &d[2..5], &d[5..]);
        prop_assert_eq!(duns(&dashed), Ok(d.clone()));
        prop_assert_eq!(duns(&format!(" {d} ")), Ok(d));
    }
}

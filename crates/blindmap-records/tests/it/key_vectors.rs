//! The key vectors of `protocol-spec/vectors/keys.json` (keys.md §3): raw account values, the
//! canonical values an import makes of them, each side's protocol keys, and for pairs of
//! accounts the key types they share, the tier and the evidence. A peer that makes the same keys
//! and tiers from the same raw values interoperates with blindmap.
//!
//! `BLINDMAP_WRITE_KEY_VECTORS=1 cargo test -p blindmap-records --test it key_vectors` rewrites the
//! file from the cases below (review the diff: it is the specification).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use blindmap_records::normalise::{city, company_name, country, domain, duns, is_common_name, phone, postal_code};
use blindmap_records::{AccountKeys, Explanation, Side, match_keys};
use serde_json::{Value, json};

/// One account as an export writes it: name, country, city, postal code, phone, domains, DUNS.
type Raw = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const ACCOUNTS: &[(&str, Raw)] = &[
    ("brown-munich-sf", ("Brown LLC", "DE", "München", "80331", "089 90182736", &[], &[])),
    ("brown-munich-hs", ("Brown GmbH", "Germany", "Munich", "80331", "+49 89 90182736", &[], &[])),
    ("brown-berlin", ("Brown LLC", "Deutschland", "Berlin", "10115", "", &[], &[])),
    ("moore-paris-sf", ("Moore", "FR", "Paris", "", "", &[], &[])),
    ("moore-paris-hs", ("Moore SARL", "France", "PARIS", "", "", &[], &[])),
    ("zentrix-sf", ("Zentrix Systems GmbH", "DE", "", "", "", &[], &[])),
    ("zentrix-hs", ("ZENTRIX SYSTEMS", "Deutschland", "Hamburg", "20095", "", &[], &[])),
    ("smith-sf", ("Smith and Sons Inc", "US", "San Francisco", "", "(415) 555-0134", &[], &["15-048-3782"])),
    ("smith-hs", ("Smith & Sons", "United States", "", "", "+1 415 555 0134 x12", &[], &["987654321"])),
    ("acme-sf", ("ACME Corp", "US", "Boston", "2139", "", &["https://www.acme.com/about"], &[])),
    ("acme-hs", ("Acme Corporation", "USA", "Cambridge", "02139-4307", "", &["acme.com"], &[])),
    ("global-solutions-sf", ("Global Solutions Ltd", "GB", "London", "SW1A 1AA", "", &["globalsolutions.co.uk"], &[])),
    (
        "global-solutions-hs",
        ("Global Solutions Limited", "United Kingdom", "London", "sw1a1aa", "", &["gs-london.com"], &[]),
    ),
    ("nordwind-sf", ("Nordwind Logistik GmbH", "DE", "Hamburg", "", "", &["nordwind.de"], &[])),
    ("nordwind-hs", ("Nordwind Logistik", "Germany", "", "", "", &["nordwind-logistik.com"], &[])),
    ("nordwind-hamburg-hs", ("NORDWIND LOGISTIK", "Germany", "Hamburg", "", "", &["nordwind.com"], &[])),
];

/// (initiator, responder): the initiator makes its keys as `Side::First`.
const PAIRS: &[(&str, &str)] = &[
    ("brown-munich-sf", "brown-munich-hs"),
    ("brown-berlin", "brown-munich-hs"),
    ("moore-paris-sf", "moore-paris-hs"),
    ("zentrix-sf", "zentrix-hs"),
    ("smith-sf", "smith-hs"),
    ("acme-sf", "acme-hs"),
    ("global-solutions-sf", "global-solutions-hs"),
    ("nordwind-sf", "nordwind-hs"),
    ("nordwind-sf", "nordwind-hamburg-hs"),
];

/// The canonical values of a raw account, as an import makes them (keys.md §2).
fn canonical(raw: &Raw) -> AccountKeys {
    let (name, country_raw, city_raw, postal, phone_raw, domains, duns_values) = raw;
    let cc = country(country_raw).ok();
    let mut keys = AccountKeys {
        domains: domains.iter().filter_map(|d| domain(d).ok()).collect(),
        duns: duns_values.iter().filter_map(|d| duns(d).ok()).collect(),
        ..AccountKeys::default()
    };
    if let Some(cc) = cc {
        keys.name_country = company_name(name, Some(cc)).ok().map(|n| (n, cc));
        keys.postal_code = (!postal.is_empty()).then(|| postal_code(postal, cc).ok()).flatten();
        // As an import: a phone number only where it is evidence (a common name, no postal code).
        let common = keys.name_country.as_ref().is_some_and(|(n, _)| is_common_name(n));
        if common && keys.postal_code.is_none() && !phone_raw.is_empty() {
            keys.phone = phone(phone_raw, Some(cc)).ok();
        }
    }
    keys.city = (!city_raw.is_empty()).then(|| city(city_raw, cc)).flatten();
    keys
}

fn key_text(keys: &AccountKeys, side: Side) -> Vec<String> {
    match_keys(keys, side).iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect()
}

fn vectors() -> Value {
    let find = |id: &str| &ACCOUNTS.iter().find(|(a, _)| *a == id).expect("a listed account").1;
    let accounts: Vec<Value> = ACCOUNTS
        .iter()
        .map(|(id, raw)| {
            let (name, country, city, postal_code, phone, domains, duns) = raw;
            let k = canonical(raw);
            json!({
                "id": id,
                "raw": { "name": name, "country": country, "city": city, "postal_code": postal_code,
                    "phone": phone, "domains": domains, "duns": duns },
                "canonical": {
                    "domains": k.domains, "duns": k.duns,
                    "name": k.name_country.as_ref().map(|(n, _)| n), "country": k.name_country.as_ref().map(|(_, c)| c),
                    "city": k.city, "postal_code": k.postal_code, "phone": k.phone,
                    "common_name": k.name_country.as_ref().map(|(n, _)| is_common_name(n)),
                },
                "initiator_keys": key_text(&k, Side::First),
                "responder_keys": key_text(&k, Side::Second),
            })
        })
        .collect();
    let pairs: Vec<Value> = PAIRS
        .iter()
        .map(|(a, b)| {
            let (first, second) =
                (match_keys(&canonical(find(a)), Side::First), match_keys(&canonical(find(b)), Side::Second));
            let shared: BTreeSet<String> =
                first.iter().filter(|k| second.contains(k)).map(|k| k.key_type().to_string()).collect();
            let shared: Vec<String> = shared.into_iter().collect();
            let (tier, agreed, reason_initiator, reason_responder) = if shared.is_empty() {
                (Value::Null, Value::Null, Value::Null, Value::Null)
            } else {
                let i = Explanation::of(&shared, &first);
                let r = Explanation::of(&shared, &second);
                assert_eq!(i.tier, r.tier, "both sides reach one tier: {a} × {b}");
                (json!(i.tier), json!(i.agreed_codes()), json!(i.to_string()), json!(r.to_string()))
            };
            json!({ "initiator": a, "responder": b, "shared_key_types": shared, "tier": tier, "agreed": agreed,
                "initiator_reason": reason_initiator, "responder_reason": reason_responder })
        })
        .collect();
    json!({
        "about": "blindmap match keys (protocol-spec/keys.md): raw account values, their canonical values, the \
                  protocol keys each side makes (type:value, in order), and for pairs the shared key types, the \
                  tier and the evidence that agreed (keys.md §3.3). The reasons are this implementation's wording.",
        "accounts": accounts,
        "pairs": pairs,
    })
}

fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-spec/vectors/keys.json")
}

#[test]
fn the_key_vectors_are_what_the_importer_and_the_matching_rule_make() {
    let made = vectors();
    if std::env::var_os("BLINDMAP_WRITE_KEY_VECTORS").is_some() {
        std::fs::write(path(), serde_json::to_string_pretty(&made).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    assert_eq!(stored, made, "protocol-spec/vectors/keys.json differs from what the code makes");
}

/// The vectors say what keys.md says: checked against the rule in words, not the code's output.
#[test]
fn the_key_vectors_follow_the_rules_in_words() {
    let v = vectors();
    let pairs = v["pairs"].as_array().unwrap();
    let pair_with = |a: &str, b: &str| {
        pairs.iter().find(|p| p["initiator"] == a && p["responder"] == b).expect("a listed pair").clone()
    };
    let pair = |a: &str| pairs.iter().find(|p| p["initiator"] == a).unwrap().clone();
    // A common name with one postal code: confirmed by it (the phone number is evidence only
    // without a postal code).
    let p = pair("brown-munich-sf");
    assert_eq!(p["shared_key_types"], json!(["name_postal"]));
    assert_eq!(p["tier"], "confirmed");
    // The same common name at another postal code: no match at all (the place veto).
    assert_eq!(pair("brown-berlin")["shared_key_types"], json!([]));
    // A common name in one city, nothing more: possible (a common name's city is not compared).
    let p = pair("moore-paris-sf");
    assert_eq!((p["shared_key_types"].clone(), p["tier"].clone()), (json!(["name_country"]), json!("possible")));
    // München is Munich: a distinctive name's city.
    let brown = &v["accounts"][0]["canonical"];
    assert_eq!(brown["city"], "munich");
    // A distinctive name and the country: confirmed.
    assert_eq!(pair("zentrix-sf")["tier"], "confirmed");
    // Two DUNS numbers veto nothing; a common name without postal codes whose phone number
    // agrees: confirmed by the phone.
    let p = pair("smith-sf");
    assert_eq!(
        (p["shared_key_types"].clone(), p["tier"].clone()),
        (json!(["name_country", "name_phone"]), json!("confirmed"))
    );
    // A domain: confirmed; ZIP codes with Excel's lost zero restored, and ZIP+4 cut, agree.
    let p = pair("acme-sf");
    assert_eq!(
        (p["shared_key_types"].clone(), p["tier"].clone()),
        (json!(["domain", "name_postal"]), json!("confirmed"))
    );
    // A common name, different domains in one city, the same postal code: confirmed.
    let p = pair("global-solutions-sf");
    assert_eq!(p["tier"], "confirmed");
    assert!(p["shared_key_types"].as_array().unwrap().contains(&json!("name_postal")), "{p}");
    // A distinctive name, different websites, one city unknown: possible, the websites differ.
    let p = pair_with("nordwind-sf", "nordwind-hs");
    assert_eq!((p["shared_key_types"].clone(), p["tier"].clone()), (json!(["name_web"]), json!("possible")));
    // The same in one city: confirmed.
    let p = pair_with("nordwind-sf", "nordwind-hamburg-hs");
    assert_eq!((p["shared_key_types"].clone(), p["tier"].clone()), (json!(["name_city"]), json!("confirmed")));
}

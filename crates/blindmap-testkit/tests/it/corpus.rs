//! The corpus as an importer sees it: parsed back from its CSV text with a strict RFC 4180 reader.

use std::collections::{HashMap, HashSet};

use crate::support::{hubspot, salesforce};
use blindmap_testkit::{Corpus, HUBSPOT_HEADER, Noise, SALESFORCE_HEADER, Settings, generate};

fn small(seed: u64) -> Corpus {
    generate(&Settings { rows_per_side: 4000, seed, ..Settings::default() })
}

fn share(rows: &[Vec<String>], f: impl Fn(&Vec<String>) -> bool) -> f64 {
    rows.iter().filter(|r| f(r)).count() as f64 / rows.len() as f64
}

#[test]
fn same_seed_same_corpus() {
    let a = small(42);
    assert_eq!(a, small(42));
    let b = small(43);
    assert_ne!(a.salesforce_csv, b.salesforce_csv);
    assert_ne!(a.truth, b.truth);
}

#[test]
fn headers_are_exactly_the_crm_ones() {
    assert_eq!(
        SALESFORCE_HEADER,
        "Account ID,Account Name,Type,Website,Phone,Billing Street,Billing City,Billing State/Province,\
         Billing Zip/Postal Code,Billing Country,Industry,Annual Revenue,Employees,Account Owner,D-U-N-S Number,\
         Description,Created Date"
    );
    assert_eq!(
        HUBSPOT_HEADER,
        "Record ID,Company name,Company Domain Name,Website URL,Additional Domains,Country/Region,State/Region,City,\
         Industry,Number of Employees,Annual Revenue,Lifecycle Stage,Company owner,Phone Number,D-U-N-S Number,\
         Create Date"
    );
    let corpus = generate(&Settings { rows_per_side: 50, ..Settings::default() });
    assert!(corpus.salesforce_csv.starts_with(&format!("\u{feff}{SALESFORCE_HEADER}\r\n")));
    assert!(corpus.hubspot_csv.starts_with(&format!("{HUBSPOT_HEADER}\n")));
}

#[test]
fn exports_parse_back_with_every_record_complete() {
    let corpus = small(7);
    let (left, right) = (salesforce(&corpus), hubspot(&corpus));
    assert_eq!(left.len(), 4001);
    assert_eq!(right.len(), 4001);
    assert!(left.iter().all(|r| r.len() == 17), "a Salesforce record has the wrong field count");
    assert!(right.iter().all(|r| r.len() == 16), "a HubSpot record has the wrong field count");
    assert_eq!(left[0].join(","), SALESFORCE_HEADER);
    assert_eq!(right[0].join(","), HUBSPOT_HEADER);

    let long: Vec<&String> = left[1..].iter().map(|r| &r[15]).filter(|d| d.len() >= 2000).collect();
    assert!(!long.is_empty());
    assert!(long.iter().all(|d| d.len() <= 21_000 && d.contains('\n') && d.contains('"') && d.contains(',')));

    let account_ids: HashSet<&String> = left[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(account_ids.len(), 4000);
    for id in &account_ids {
        assert!(id.len() == 18 && id.starts_with("001") && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }
    let record_ids: HashSet<&String> = right[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(record_ids.len(), 4000);
    assert!(record_ids.iter().all(|id| (9..=11).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())));
}

#[test]
fn picklists_and_presence_rates_look_like_real_exports() {
    let corpus = small(8);
    let (left, right) = (salesforce(&corpus), hubspot(&corpus));
    let (left, right) = (&left[1..], &right[1..]);
    let types = ["Customer - Direct", "Customer - Channel", "Prospect", "Channel Partner / Reseller"];
    let types = [&types[..], &["Technology Partner", "Other", ""]].concat();
    assert!(left.iter().all(|r| types.contains(&r[2].as_str())));
    let stages = ["Subscriber", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity"];
    let stages = [&stages[..], &["Customer", "Evangelist", "Other", ""]].concat();
    assert!(right.iter().all(|r| stages.contains(&r[11].as_str())));

    let near = |got: f64, want: f64| assert!((got - want).abs() < 0.03, "{got} is not near {want}");
    near(share(left, |r| r[2] == "Prospect"), 0.45);
    near(share(left, |r| !r[14].is_empty()), 0.45);
    near(share(right, |r| !r[14].is_empty()), 0.25);
    near(share(left, |r| r[3].is_empty()), 0.10);
    near(share(right, |r| r[2].is_empty()), 0.06);
    near(share(left, |r| r[9].is_empty()), 0.04);
    near(share(left, |r| !r[1].is_ascii()), 0.04);
    // Brands with "&" (~5%) and German "GmbH & Co. KG" forms.
    near(share(left, |r| r[1].contains('&') || r[1].contains(" and ")), 0.08);
    near(share(left, |r| r[15].len() >= 2000), 0.02);
}

#[test]
fn truth_names_existing_rows_and_nothing_else() {
    let corpus = small(9);
    let (left, right) = (salesforce(&corpus), hubspot(&corpus));
    let account_ids: HashSet<&String> = left[1..].iter().map(|r| &r[0]).collect();
    let record_ids: HashSet<&String> = right[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(corpus.truth.len(), corpus.stats.true_pairs);
    assert!(corpus.truth.is_sorted());
    assert!(corpus.truth.windows(2).all(|w| w[0] != w[1]));
    assert!(corpus.truth.iter().all(|(a, r)| account_ids.contains(a) && record_ids.contains(r)));
    assert!(corpus.truth.len() >= corpus.stats.shared_companies);
    let truth: HashSet<(&String, &String)> = corpus.truth.iter().map(|(a, r)| (a, r)).collect();
    assert!(!corpus.decoy_pairs.is_empty());
    assert!(corpus.decoy_pairs.iter().all(|(a, r, _)| !truth.contains(&(a, r))));
    assert!(corpus.decoy_pairs.iter().all(|(a, r, _)| account_ids.contains(a) && record_ids.contains(r)));
}

#[test]
fn decoys_and_overlap_come_at_their_rates() {
    let s = small(10).stats;
    let decoys = s.decoys.namesake_other_country + s.decoys.similar_name + s.decoys.same_name_same_country;
    let base = (s.companies - decoys) as f64;
    let near = |got: usize, want: f64, tolerance: f64| {
        assert!((got as f64 / base - want).abs() < tolerance, "{got} of {base} is not near {want}")
    };
    near(s.decoys.namesake_other_country, 0.06, 0.01);
    near(s.decoys.similar_name, 0.06, 0.01);
    near(s.decoys.same_name_same_country, 0.005, 0.003);
    assert_eq!((s.salesforce_rows, s.hubspot_rows), (4000, 4000));
    assert!((s.shared_companies as f64 / s.salesforce_companies as f64 - 0.3).abs() < 0.001);
    near(s.multi_domain_companies, 0.15, 0.03);
    near(s.idn_companies, 0.01, 0.006);
    near(s.leading_zero_duns_companies, 0.10, 0.02);
}

#[test]
fn without_noise_true_pairs_agree_and_decoys_do_not() {
    let corpus = generate(&Settings { rows_per_side: 1500, seed: 5, noise: Noise::none(), ..Settings::default() });
    let (left, right) = (salesforce(&corpus), hubspot(&corpus));
    let by_account: HashMap<&String, &Vec<String>> = left[1..].iter().map(|r| (&r[0], r)).collect();
    let by_record: HashMap<&String, &Vec<String>> = right[1..].iter().map(|r| (&r[0], r)).collect();
    assert_eq!(corpus.truth.len(), 450);
    for (a, r) in &corpus.truth {
        let (x, y) = (by_account[a], by_record[r]);
        assert_eq!(x[1], y[1], "names");
        assert_eq!(x[3], format!("www.{}", y[2]), "website and domain");
        assert_eq!(x[14], y[14], "DUNS");
        assert_eq!(x[9], y[5], "country");
    }
    for (a, r, _) in &corpus.decoy_pairs {
        let (x, y) = (by_account[a], by_record[r]);
        assert_ne!(x[3], format!("www.{}", y[2]), "a decoy shares a domain");
        assert_ne!(x[14], y[14], "a decoy shares a DUNS");
    }
}

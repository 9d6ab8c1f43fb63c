//! Match tiers between two real nodes: a vendor's Salesforce export and a partner's HubSpot
//! export with same-named companies ("Brown" at two German postal codes, "Moore" in Paris), a
//! distinctive name, and a domain. Each side's run results, its overlap listings and its report
//! carry the tier and the reason of every pair (protocol-spec/keys.md §3.3); both sides reach the
//! same tier for one pair; the matrix splits its counts into confirmed and possible; and the
//! report filters by tier.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{all_overlaps, call, finished, node, pair, upload};
use blindmap_server::client::Method;
use serde_json::{Value, json};

const VENDOR_CSV: &str = "\u{feff}Account ID,Account Name,Type,Website,Phone,Billing City,Billing Zip/Postal Code,\
Billing State/Province,Billing Country,D-U-N-S Number,Account Owner\r\n\
0015g00000TIERaAAA,Brown LLC,Customer - Direct,,089 90182736,München,80331,Bayern,Germany,,Jane Smith\r\n\
0015g00000TIERbAAA,Moore,Customer - Direct,,,Paris,,Île-de-France,FR,,Omar Haddad\r\n\
0015g00000TIERcAAA,Zentrix Systems GmbH,Customer - Direct,,,,,,DE,,Priya Nair\r\n\
0015g00000TIERdAAA,Acme Corp,Customer - Direct,https://www.acme.com/about,,Boston,2139,MA,USA,,Lukas Becker\r\n\
0015g00000TIEReAAA,Brown LLC,Customer - Channel,,030 55501234,Berlin,10115,Berlin,Germany,,Ana Berg\r\n";

const PARTNER_CSV: &str = "Record ID,Company name,Company Domain Name,Country/Region,State/Region,City,\
Postal Code,Phone Number,Lifecycle Stage,Company owner\n\
9100000001,Brown GmbH,,Germany,BY,Munich,80331,+49 89 90182736,Customer,Grace\n\
9100000002,Moore SARL,,France,IDF,paris,,,Customer,Sven\n\
9100000003,ZENTRIX SYSTEMS,,Deutschland,HH,Hamburg,20095,,Customer,Mateo\n\
9100000004,Acme Corporation,acme.com,United States,MA,Cambridge,02139,,Customer,Aiko\n";

/// The tier of each (own account, partner record) overlap a side lists, by own account.
async fn tiers(node: &common::Node, run: &str) -> BTreeMap<String, (String, String, Vec<String>)> {
    all_overlaps(node, &format!("/api/v1/runs/{run}/overlaps"))
        .await
        .into_iter()
        .map(|o| {
            let types = o["key_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
            (
                o["account_id"].as_str().unwrap().to_owned(),
                (o["tier"].as_str().unwrap().to_owned(), o["reason"].as_str().unwrap().to_owned(), types),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_show_each_pairs_tier_and_why() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    upload(&vendor, "vendor.csv", VENDOR_CSV).await;
    upload(&partner, "partner.csv", PARTNER_CSV).await;
    let (pid, theirs) = pair(&vendor, &partner, "Partner").await;
    let policy = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    for (node, id) in [(&vendor, &pid), (&partner, &theirs)] {
        call(node, Method::PUT, &format!("/api/v1/partnerships/{id}/sharing"), Some(policy.clone())).await.unwrap();
    }
    let run = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    let view = finished(&vendor, &run_id).await;
    assert_eq!(view["state"], "complete", "{view}");

    let got = tiers(&vendor, &run_id).await;
    let brown = &got["0015g00000TIERaAAA"];
    assert_eq!(brown.0, "confirmed", "{brown:?}");
    assert_eq!(brown.2, ["name_postal"], "a common name's postal code agrees");
    let moore = &got["0015g00000TIERbAAA"];
    assert_eq!((moore.0.as_str(), moore.2.as_slice()), ("possible", ["name_country".to_owned()].as_slice()));
    assert!(moore.1.starts_with("possible: the name and country agree, but the name is common"), "{moore:?}");
    assert!(moore.1.contains("this account has no postal code or phone number"), "{moore:?}");
    assert_eq!(got["0015g00000TIERcAAA"].0, "confirmed", "a distinctive name");
    assert!(got["0015g00000TIERcAAA"].1.ends_with("and the name is distinctive"));
    assert_eq!(got["0015g00000TIERdAAA"].0, "confirmed", "a domain");
    assert!(!got.contains_key("0015g00000TIEReAAA"), "Brown in Berlin is another company: {got:?}");
    assert_eq!(got.len(), 4, "{got:?}");

    // The matrix: customers × customers counts 3 confirmed and 1 possible of the 4.
    let result = &view["result"];
    let rows: Vec<&str> = result["rows"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    let columns: Vec<&str> =
        result["columns"].as_array().unwrap().iter().map(|c| c["segment"].as_str().unwrap()).collect();
    let cell = &result["cells"][rows.iter().position(|r| *r == "customers").unwrap()]
        [columns.iter().position(|c| *c == "customers").unwrap()];
    assert_eq!(
        (cell["count"].clone(), cell["confirmed"].clone(), cell["possible"].clone()),
        (json!(4), json!(3), json!(1))
    );

    // The report: both tiers without a filter, one with it; a tier that is not one is refused.
    let vendor_ref = &vendor;
    let report = |tier: &str| {
        let path = format!("/api/v1/reports/overlaps?partnership={pid}{tier}");
        async move { call(vendor_ref, Method::GET, &path, None).await }
    };
    let all = report("").await.unwrap();
    assert_eq!(all["total"], 4);
    let possible = report("&tier=possible").await.unwrap();
    assert_eq!(possible["total"], 1);
    assert_eq!(possible["items"][0]["account_id"], "0015g00000TIERbAAA");
    assert_eq!(possible["items"][0]["tier"], "possible");
    assert!(possible["items"][0]["reason"].as_str().unwrap().contains("the name is common"));
    assert_eq!(report("&tier=confirmed").await.unwrap()["total"], 3);
    assert!(report("&tier=maybe").await.is_err());

    // The partner, the session's responder, reaches the same tiers for the same pairs.
    let mut theirs_run = Value::Null;
    for _ in 0..100 {
        let runs = call(&partner, Method::GET, "/api/v1/runs", None).await.unwrap();
        if runs["items"][0]["state"] == "complete" {
            theirs_run = runs["items"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let theirs = tiers(&partner, theirs_run["id"].as_str().expect("the partner's run completes")).await;
    let by_partner: BTreeMap<&str, &str> = [
        ("9100000001", "confirmed"),
        ("9100000002", "possible"),
        ("9100000003", "confirmed"),
        ("9100000004", "confirmed"),
    ]
    .into();
    assert_eq!(theirs.len(), 4, "{theirs:?}");
    for (account, (tier, _, _)) in &theirs {
        assert_eq!(by_partner[account.as_str()], tier, "{account}");
    }
}

//! `blindmap accounts ecosystem|partners` against served nodes that matched: the ecosystem as a
//! table with company names and the formula, and as JSON; which partner to bring, with reasons;
//! an unknown amount field and an unknown account refused clearly.

#![cfg(unix)]

use crate::corrections_cli::{Served, pair_sharing_overlaps, text};

#[test]
fn the_ecosystem_and_which_partner_to_bring_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let vendor = Served::start(dir, "vendor", "Vendor");
    let partner = Served::start(dir, "partner", "Partner");
    std::fs::write(
        dir.join("v.csv"),
        "id,segment,name,country,domain,pipeline_amount\n\
         v1,customers,Acme,US,acme.com,\"48,000.00\"\n\
         v2,customers,Globex,US,globex.com,\"120.000,00 €\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.csv"),
        "id,segment,name,country,domain\np1,customers,Acme Corp,US,acme.com\np2,prospects,Globex,US,globex.com\n",
    )
    .unwrap();
    pair_sharing_overlaps(&vendor, &partner, dir);
    vendor.ok(&["match", "--partner", "Partner", "--json"], dir);

    // One partner: none at the default minimum of two; both at one, Globex first (120,000 × 1).
    let none = vendor.ok(&["accounts", "ecosystem"], dir);
    assert!(none.contains("priority = amount × partners") && none.contains("No account of yours"), "{none}");
    let table = vendor.ok(&["accounts", "ecosystem", "--min-partners", "1"], dir);
    assert!(table.contains("Amount field: pipeline_amount"), "{table}");
    let globex = table.find("Globex (v2)").unwrap_or_else(|| panic!("{table}"));
    assert!(globex < table.find("Acme (v1)").unwrap(), "{table}");
    assert!(table.contains("120000.00") && table.contains("Partner (prospects)"), "{table}");
    let json = vendor.ok(&["accounts", "ecosystem", "--min-partners", "1", "--amount-field", "", "--json"], dir);
    let page: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (page["amount_field"].clone(), page["items"][0]["account_id"].as_str()),
        (serde_json::Value::Null, Some("v1"))
    );

    let bring = vendor.ok(&["accounts", "partners", "v1"], dir);
    assert!(bring.contains("1. Partner") && bring.contains("score 3"), "{bring}");
    assert!(bring.contains("is Partner's customer (their segment customers)"), "{bring}");

    let refused = vendor.run(&["accounts", "ecosystem", "--amount-field", "revenue"], dir);
    let said = text(&refused.stderr);
    assert!(!refused.status.success() && said.contains("422") && said.contains("pipeline_amount"), "{said}");
    let refused = vendor.run(&["accounts", "partners", "nobody"], dir);
    assert!(!refused.status.success() && text(&refused.stderr).contains("404"), "{}", text(&refused.stderr));
}

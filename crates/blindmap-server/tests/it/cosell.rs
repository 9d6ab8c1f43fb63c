//! Co-sell records across two real nodes: the vendor creates one on an overlap of a run, and the
//! partner's node holds it at once with its own account behind the overlap filled in; either
//! side edits; an edit made while the partner's node is down reaches it once it is back; both
//! copies end equal.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use blindmap_psi::{DisclosurePolicy, Level, Session, SessionConfig, SessionSeed, run_in_process};
use blindmap_records::{Preset, Side, import_dataset};
use blindmap_server::client::Method;
use serde_json::{Value, json};

use crate::common::{Node, Restartable, call, finished, node, upload};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

/// Every (vendor account, partner account) pair the two samples match on.
fn pairs() -> BTreeSet<(String, String)> {
    let load = |csv: &str, preset: Preset, side| {
        Arc::new(import_dataset("x.csv", csv.as_bytes(), &preset.mapping(), side, |_| {}).unwrap().dataset)
    };
    let (v, p) = (load(VENDOR_CSV, Preset::Salesforce, Side::First), load(PARTNER_CSV, Preset::Hubspot, Side::Second));
    let policy = || DisclosurePolicy::new(Level::Overlaps).with_threshold(1).with_min_partner_segment(1);
    let seed = || SessionSeed::random(&mut rand::rng());
    let run = run_in_process(
        Session::initiator(v.clone(), policy(), SessionConfig::default(), seed()).unwrap(),
        Session::responder(p.clone(), policy(), SessionConfig::default(), seed()).unwrap(),
    )
    .unwrap();
    run.initiator
        .overlaps()
        .iter()
        .map(|o| {
            let theirs = run.responder.own_record(o.partner.segment, o.partner.position.unwrap()).unwrap();
            (v.records()[o.record].id.clone(), p.records()[theirs].id.clone())
        })
        .collect()
}

async fn record(node: &Node, id: &str) -> Value {
    call(node, Method::GET, &format!("/api/v1/cosell/{id}"), None).await.unwrap()
}

async fn edit(node: &Node, id: &str, edit: Value) -> Value {
    call(node, Method::POST, &format!("/api/v1/cosell/{id}/edits"), Some(edit)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosell_records_stay_in_step_across_nodes() {
    let vendor = node("Vendor", None).await;
    let restartable = Restartable::new("Partner").await;
    let partner = restartable.start().await;

    upload(&vendor, "v.csv", VENDOR_CSV).await;
    upload(&partner, "p.csv", PARTNER_CSV).await;
    let invite = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let accepted =
        call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": invite["code"] }))).await.unwrap();
    let policy = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    call(
        &partner,
        Method::PUT,
        &format!("/api/v1/partnerships/{}/sharing", accepted["id"].as_str().unwrap()),
        Some(policy),
    )
    .await
    .unwrap();
    let pid = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"][0]["id"].clone();
    let run = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&vendor, &run_id).await["state"], "complete");
    let overlaps = call(&vendor, Method::GET, &format!("/api/v1/runs/{run_id}/overlaps?limit=1"), None).await.unwrap();
    let overlap = overlaps["items"][0].clone();
    // The partner's run must be stored too before its account can be found.
    let partner_runs = call(&partner, Method::GET, "/api/v1/runs", None).await.unwrap();
    finished(&partner, partner_runs["items"][0]["id"].as_str().unwrap()).await;

    let body = json!({ "run": run_id, "account_id": overlap["account_id"], "partner_segment": overlap["partner_segment"],
        "partner_record": overlap["partner_record"] });
    let wrong = json!({ "run": run_id, "account_id": "nobody", "partner_segment": "customers", "partner_record": 0 });
    assert!(call(&vendor, Method::POST, "/api/v1/cosell", Some(wrong)).await.is_err(), "only on an overlap");
    let created = call(&vendor, Method::POST, "/api/v1/cosell", Some(body)).await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!((created["party"].as_str(), created["status"].as_str()), (Some("A"), Some("proposed")));
    assert_eq!(created["pending_sync"], false, "shared at once");
    // Named for people: the partner, and the account as this side's export names it.
    assert_eq!(created["partner"], "Partner");
    let line = VENDOR_CSV.lines().find(|l| l.starts_with(overlap["account_id"].as_str().unwrap())).unwrap();
    let name = created["account_name"].as_str().unwrap_or_default();
    assert!(!name.is_empty() && line.contains(name), "the export's name, {name:?}: {line}");

    // The partner's node has it, with its own account behind the overlap.
    let theirs = record(&partner, &id).await;
    assert_eq!(theirs["party"], "B");
    assert_eq!(theirs["partner"], "Vendor");
    let pair = (
        overlap["account_id"].as_str().unwrap().to_owned(),
        theirs["record"]["b"]["account"]["value"].as_str().unwrap().to_owned(),
    );
    assert!(pairs().contains(&pair), "the partner's account is the one that matched: {pair:?}");

    // The partner accepts; the vendor sees it.
    let accepted = edit(&partner, &id, json!({ "edit": "status", "status": "accepted" })).await;
    assert_eq!(accepted["pending_sync"], false);
    assert_eq!(record(&vendor, &id).await["status"], "accepted");
    let refused = call(
        &vendor,
        Method::POST,
        &format!("/api/v1/cosell/{id}/edits"),
        Some(json!({ "edit": "status", "status": "declined" })),
    )
    .await;
    assert!(refused.is_err(), "only the invited side answers a proposal");

    // The partner's node goes down; the vendor edits anyway; the change arrives once it is back.
    partner.running.shutdown().await.unwrap();
    let offline = edit(&vendor, &id, json!({ "edit": "next_steps", "text": "joint call on Monday" })).await;
    assert_eq!(offline["pending_sync"], true, "not acknowledged yet");
    edit(&vendor, &id, json!({ "edit": "owner", "owner": "Ada Byron" })).await;
    let partner = restartable.start().await;
    let mut synced = Value::Null;
    for _ in 0..100 {
        synced = record(&partner, &id).await;
        if synced["record"]["next_steps"]["value"] == "joint call on Monday"
            && record(&vendor, &id).await["pending_sync"] == false
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(synced["record"]["next_steps"]["value"], "joint call on Monday", "{synced}");
    edit(&partner, &id, json!({ "edit": "note", "text": "budget approved" })).await;
    let (v, p) = (record(&vendor, &id).await, record(&partner, &id).await);
    assert_eq!(v["record"], p["record"], "both copies end equal");
    assert_eq!(v["record"]["a"]["owner"]["value"], "Ada Byron");
    assert_eq!(v["record"]["notes"][0]["by"], "admin");
    let log: Vec<&str> = v["record"]["log"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert!(log.contains(&"status accepted") && log.contains(&"next steps") && log.contains(&"note"), "{log:?}");
    let list = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    partner.running.shutdown().await.unwrap();
    vendor.running.shutdown().await.unwrap();
}

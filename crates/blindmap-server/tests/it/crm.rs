//! CRM connections end to end (issue 17): a node connects to the Salesforce and HubSpot
//! emulators (`tests/crm-emulator`, each behaviour citing its vendor's reference), syncs their
//! records into a new active dataset that imports as the vendor's own export of the same records
//! does, and keeps its last good dataset when a sync fails or pauses. Credentials never show
//! again; another organisation sees nothing; a rep may not connect.

use std::collections::BTreeMap;
use std::time::Duration;

use blindmap_crm_emulator::{hubspot, salesforce};
use blindmap_server::client::{ApiClient, ClientError, Method};
use serde_json::{Map, Value, json};

use crate::common::{Node, call, node, rep, upload};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");
const KEY: &str = include_str!("../../../blindmap-crm/tests/keys/connected-app.pem");
const CLIENT_ID: &str = "3MVG9emulatedConsumerKey";
const USER: &str = "integration@vendor.example";
const HUBSPOT_TOKEN: &str = "pat-emulated-private-app";

/// A sample export's rows, by its header's names.
fn rows(csv_text: &str) -> Vec<Map<String, Value>> {
    let mut reader = csv::Reader::from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    reader.records().map(|r| header.iter().cloned().zip(r.unwrap().iter().map(|v| json!(v))).collect()).collect()
}

/// The vendor's sample export as the org holds it: the export's columns under their API names
/// (the owner through the `Owner` lookup; D-U-N-S in Data.com's `DunsNumber`).
fn salesforce_accounts() -> Vec<salesforce::Account> {
    let mut accounts = salesforce::accounts_from_export(VENDOR_CSV.as_bytes());
    for (i, account) in accounts.iter_mut().enumerate() {
        account.insert("SystemModstamp".into(), json!(format!("2026-11-{:02}T10:00:00.000+0000", 1 + i % 28)));
    }
    accounts
}

async fn salesforce_org() -> (String, salesforce::Shared) {
    let key = blindmap_crm::salesforce::SigningKey::from_pem(KEY.as_bytes()).unwrap();
    salesforce::start(salesforce::Org {
        accounts: salesforce_accounts(),
        page_size: 10,
        api_max: 15_000,
        client_id: CLIENT_ID.into(),
        client_secret: "emulated-secret".into(),
        username: USER.into(),
        public_key: key.public_key_der(),
        custom_fields: vec!["DunsNumber".into()],
        ..salesforce::Org::default()
    })
    .await
}

/// The partner's sample export as the portal holds it: properties by internal name, the
/// lifecycle stage as its internal value (`customer`), the record id as the company's id.
fn hubspot_companies() -> Vec<hubspot::Company> {
    let names = [
        ("Company name", "name"),
        ("Company Domain Name", "domain"),
        ("Website URL", "website"),
        ("Additional Domains", "hs_additional_domains"),
        ("Country/Region", "country"),
        ("City", "city"),
        ("Industry", "industry"),
        ("Number of Employees", "numberofemployees"),
        ("D-U-N-S Number", "duns"),
    ];
    rows(PARTNER_CSV)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut properties: Map<String, Value> =
                names.iter().map(|(export, api)| ((*api).to_owned(), row[*export].clone())).collect();
            let stage = row["Lifecycle Stage"].as_str().unwrap().to_lowercase().replace(' ', "");
            properties.insert("lifecyclestage".into(), json!(stage));
            // The owner by id, as the API holds it (the export writes the name).
            let owner = row["Company owner"].as_str().unwrap();
            if let Some((id, ..)) =
                hubspot_owners().into_iter().find(|(_, first, last, _)| format!("{first} {last}") == owner)
            {
                properties.insert("hubspot_owner_id".into(), json!(id));
            }
            hubspot::Company {
                id: row["Record ID"].as_str().unwrap().to_owned(),
                properties,
                modified: 1_796_000_000_000 + i as i64,
                archived: false,
            }
        })
        .collect()
}

/// The partner sample's company owners, as the owners API lists them.
fn hubspot_owners() -> Vec<(String, String, String, String)> {
    let mut names: Vec<String> =
        rows(PARTNER_CSV).iter().filter_map(|r| r["Company owner"].as_str().map(str::to_owned)).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| !n.is_empty())
        .enumerate()
        .map(|(i, name)| {
            let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
            (format!("{}", 51_000_000 + i), first.to_owned(), last.to_owned(), format!("owner{i}@partner.example"))
        })
        .collect()
}

async fn hubspot_portal() -> (String, hubspot::Shared) {
    hubspot::start(hubspot::Portal {
        companies: hubspot_companies(),
        window_max: 100,
        interval_ms: 10_000,
        private_token: HUBSPOT_TOKEN.into(),
        custom_properties: vec!["duns".into()],
        owners: hubspot_owners(),
        ..hubspot::Portal::default()
    })
    .await
}

fn salesforce_connection(url: &str) -> Value {
    json!({ "name": "Vendor Salesforce", "kind": "salesforce", "url": url, "client_id": CLIENT_ID,
        "username": USER, "private_key": KEY })
}

/// The status of a refused call.
fn status(result: Result<Value, ClientError>) -> u16 {
    match result {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(ClientError::Api { status, .. }) => status.as_u16(),
        Err(e) => panic!("{e}"),
    }
}

/// Starts a sync of `connection` and waits for it to end.
async fn synced(node: &Node, connection: &str) -> Value {
    sync_until_done(node, connection, "").await
}

/// Starts a sync of `connection` with `mode` (`full` or `incremental`) and waits for it to end.
async fn synced_as(node: &Node, connection: &str, mode: &str) -> Value {
    sync_until_done(node, connection, &format!("?mode={mode}")).await
}

/// Starts a sync of `connection` (`query` its query string) and waits for it to end.
async fn sync_until_done(node: &Node, connection: &str, query: &str) -> Value {
    let start = format!("/api/v1/connections/{connection}/syncs{query}");
    let started = call(node, Method::POST, &start, None).await.unwrap();
    assert_eq!(started["state"], "running", "{started}");
    let path = format!("/api/v1/connections/{connection}/syncs/{}", started["id"].as_str().unwrap());
    for _ in 0..600 {
        let sync = call(node, Method::GET, &path, None).await.unwrap();
        if sync["state"] != "running" {
            return sync;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sync of {connection} did not end in 30 s");
}

async fn active_dataset(node: &Node) -> Value {
    let list = call(node, Method::GET, "/api/v1/datasets", None).await.unwrap();
    list["items"].as_array().unwrap().iter().find(|d| d["active"] == true).cloned().unwrap_or(Value::Null)
}

/// What of an import's summary the CRM's records and the export of the same records agree on.
fn comparable(summary: &Value) -> Value {
    json!({
        "rows": summary["rows"], "accounts": summary["accounts"], "keys": summary["keys"],
        "segments": summary["segments"], "rows_without_keys": summary["rows_without_keys"]["count"],
        "unsegmented_rows": summary["unsegmented_rows"]["count"],
        "values_not_used_as_keys": summary["values_not_used_as_keys"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_org_syncs_into_the_dataset_its_export_would_make() {
    let (url, org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(salesforce_connection(&url))).await.unwrap();
    assert_eq!((made["kind"].as_str(), made["auth"].as_str()), (Some("salesforce"), Some("jwt")), "{made}");
    assert!(!made.to_string().contains("PRIVATE KEY"), "the key is never shown: {made}");
    let id = made["id"].as_str().unwrap();

    let sync = synced(&vendor, id).await;
    assert_eq!(sync["state"], "complete", "{sync}");
    assert_eq!(sync["records_read"], rows(VENDOR_CSV).len());
    assert!(sync["requests"].as_u64().unwrap() >= 7, "a token, the describe, a count and four pages of 10: {sync}");
    let active = active_dataset(&vendor).await;
    assert_eq!(active["id"], sync["dataset"], "the synced dataset is the active one");
    assert!(active["name"].as_str().unwrap().starts_with("Vendor Salesforce, synced "), "{active}");
    // Only the fields the preset reads were asked for, by their API names.
    let queries: Vec<String> =
        org.lock().unwrap().requests.iter().filter(|r| r.starts_with("GET query")).cloned().collect();
    assert_eq!(queries.len(), 5, "a count, then four pages of 10: {queries:?}");

    // The same records as an export import alike: rows, keys per type, refusals, segments.
    upload(&vendor, "export.csv", VENDOR_CSV).await;
    let list = call(&vendor, Method::GET, "/api/v1/datasets", None).await.unwrap();
    let export = list["items"].as_array().unwrap().iter().find(|d| d["name"] == "export.csv").unwrap().clone();
    assert_eq!(comparable(&sync["summary"]["import"]), comparable(&export["summary"]), "{sync}");
    assert_eq!(sync["summary"]["api_usage"]["max"], 15_000, "{sync}");

    // The owner came through the lookup: Northwind's fields are its export's.
    let store = crate::common::store_of(&vendor).await;
    let org_id = store.organisations().await.unwrap()[0].id.clone();
    let ds = blindmap_store::DatasetId::parse(sync["dataset"].as_str().unwrap()).unwrap();
    let accounts = store.dataset_sample(&org_id, &ds, 100).await.unwrap();
    let northwind = accounts.iter().find(|a| a.id == "0015g00000NWTRdAAF").expect("Northwind");
    assert_eq!(northwind.fields.get("owner").map(String::as_str), Some("Ada Byron"), "{northwind:?}");
    assert_eq!(northwind.fields.get("industry").map(String::as_str), Some("Retail"));

    let listed = call(&vendor, Method::GET, "/api/v1/connections", None).await.unwrap();
    assert_eq!(listed["items"][0]["last_sync"]["id"], sync["id"], "{listed}");
    assert_eq!(listed["items"][0]["dataset"], sync["dataset"]);
    let audit = call(&vendor, Method::GET, "/api/v1/audit", None).await.unwrap().to_string();
    assert!(audit.contains("crm.connection_created") && audit.contains("crm.synced"), "{audit}");
    assert!(!audit.contains("PRIVATE KEY"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_portal_syncs_by_the_labels_and_values_its_export_writes() {
    let (url, portal) = hubspot_portal().await;
    let partner = node("Partner", None).await;
    let body = json!({ "name": "Partner HubSpot", "kind": "hubspot", "url": url, "token": HUBSPOT_TOKEN });
    let made = call(&partner, Method::POST, "/api/v1/connections", Some(body)).await.unwrap();
    assert_eq!(made["auth"], "private_app", "{made}");
    assert!(!made.to_string().contains(HUBSPOT_TOKEN), "the token is never shown: {made}");
    let sync = synced(&partner, made["id"].as_str().unwrap()).await;
    assert_eq!(sync["state"], "complete", "{sync}");
    assert_eq!(sync["records_read"], rows(PARTNER_CSV).len());
    upload(&partner, "export.csv", PARTNER_CSV).await;
    let list = call(&partner, Method::GET, "/api/v1/datasets", None).await.unwrap();
    let export = list["items"].as_array().unwrap().iter().find(|d| d["name"] == "export.csv").unwrap().clone();
    // Segments by lifecycle stage: the API's `customer` read as the export's `Customer`.
    assert_eq!(comparable(&sync["summary"]["import"]), comparable(&export["summary"]), "{sync}");
    assert!(portal.lock().unwrap().requests.iter().any(|r| r == "GET properties/companies"));

    // Each owner is the name the export writes (the API holds an owner's id).
    let synced_accounts = stored_accounts(&partner, &sync["dataset"]).await;
    let exported = stored_accounts(&partner, &export["id"]).await;
    let owners = |accounts: &[blindmap_store::StoredAccount]| -> Vec<(String, Option<String>)> {
        accounts.iter().map(|a| (a.id.clone(), a.fields.get("owner").cloned())).collect()
    };
    assert_eq!(owners(&synced_accounts), owners(&exported));
    assert!(owners(&synced_accounts).iter().any(|(_, o)| o.as_deref() == Some("Linus Torvalds")));
    // And the owner's e-mail address, which an export lacks, from the owners API.
    for account in &synced_accounts {
        let owner = account.fields.get("owner").cloned().unwrap_or_default();
        let email = hubspot_owners()
            .into_iter()
            .find(|(_, first, last, _)| format!("{first} {last}") == owner)
            .map(|(.., email)| email);
        assert_eq!(account.fields.get("owner_email").cloned(), email, "{}", account.id);
    }
    assert_eq!(sync["summary"]["warnings"], json!([]), "{sync}");

    // Without the owners' scope, the sync goes on without owners, and says so.
    portal.lock().unwrap().owners_forbidden = true;
    let full = synced_as(&partner, made["id"].as_str().unwrap(), "full").await;
    assert_eq!(full["state"], "complete", "{full}");
    assert!(full["summary"]["warnings"][0].as_str().unwrap().contains("crm.objects.owners.read"), "{full}");
    let accounts = stored_accounts(&partner, &full["dataset"]).await;
    assert!(accounts.iter().all(|a| !a.fields.contains_key("owner")), "no owner rather than an id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_fails_or_pauses_keeps_the_last_good_dataset_and_says_why() {
    let (url, org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(salesforce_connection(&url))).await.unwrap();
    let id = made["id"].as_str().unwrap();
    let good = synced(&vendor, id).await;
    assert_eq!(good["state"], "complete", "{good}");

    // A token expiring mid-read is renewed, and the sync goes on.
    {
        let mut o = org.lock().unwrap();
        let seen = o.requests.iter().filter(|r| !r.starts_with("POST")).count();
        o.expire_at_request = Some(seen + 3);
    }
    let renewed = synced_as(&vendor, id, "full").await;
    assert_eq!(renewed["state"], "complete", "{renewed}");
    assert_eq!(renewed["records_read"], rows(VENDOR_CSV).len());
    assert_eq!(active_dataset(&vendor).await["id"], renewed["dataset"]);

    // A page that points off the org fails the sync half-way: nothing of it is kept.
    org.lock().unwrap().forged_next = Some("https://evil.example/services/data/v63.0/query/x-10".into());
    let failed = synced_as(&vendor, id, "full").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["message"].as_str().unwrap().contains("nextRecordsUrl"), "{failed}");
    assert!(failed.get("dataset").is_none());
    assert_eq!(active_dataset(&vendor).await["id"], renewed["dataset"], "the last good dataset stays active");
    let datasets = call(&vendor, Method::GET, "/api/v1/datasets", None).await.unwrap();
    assert_eq!(datasets["items"].as_array().unwrap().len(), 2, "the failed sync left no dataset: {datasets}");

    // The org at 80 % of its daily requests: the sync pauses before reading, and says so.
    {
        let mut o = org.lock().unwrap();
        o.api_used = 12_000;
    }
    let paused = synced(&vendor, id).await;
    assert_eq!(paused["state"], "paused", "{paused}");
    let why = paused["message"].as_str().unwrap();
    assert!(why.contains("80%") && why.contains("15000"), "{why}");
    assert_eq!(active_dataset(&vendor).await["id"], renewed["dataset"]);
    let audit = call(&vendor, Method::GET, "/api/v1/audit", None).await.unwrap().to_string();
    assert!(audit.contains("crm.sync_failed") && audit.contains("crm.sync_paused"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_checked_before_they_are_kept_and_are_their_organisations_own() {
    let (url, _org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let refused = |body: Value| {
        let vendor = &vendor;
        async move {
            let e = call(vendor, Method::POST, "/api/v1/connections", Some(body.clone())).await;
            let text = e.as_ref().err().map(ToString::to_string).unwrap_or_default();
            assert_eq!(status(e), 422, "{body}: {text}");
            text
        }
    };
    let base = salesforce_connection(&url);
    let with = |changes: Value| {
        let mut body = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    assert!(
        refused(with(json!({ "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n" }))).await.contains("private_key")
    );
    assert!(refused(with(json!({ "username": null }))).await.contains("username"));
    assert!(refused(with(json!({ "token": "pat-x" }))).await.contains("token"));
    assert!(refused(with(json!({ "url": "http://169.254.169.254/" }))).await.contains("may not reach"));
    assert!(refused(with(json!({ "map": ["colour=Name"] }))).await.contains("colour"));
    assert!(refused(with(json!({ "pause_at": 1.5 }))).await.contains("pause_at"));
    assert!(refused(with(json!({ "name": " padded" }))).await.contains("name"));
    let hubspot = json!({ "name": "HS", "kind": "hubspot", "url": url, "token": "t", "pause_at": 0.5 });
    assert!(refused(hubspot).await.contains("pause_at"));
    assert!(
        call(&vendor, Method::GET, "/api/v1/connections", None).await.unwrap()["items"].as_array().unwrap().is_empty()
    );

    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(base.clone())).await.unwrap();
    let twice = call(&vendor, Method::POST, "/api/v1/connections", Some(base.clone())).await;
    assert_eq!(status(twice), 409);
    let id = made["id"].as_str().unwrap();

    // A rep may not; another organisation's admin finds nothing.
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let (_, rep_token) = rep(&vendor).await;
    let as_rep = ApiClient::new(&url, &vendor.running.fingerprint, &rep_token).unwrap();
    for (method, path) in [
        (Method::GET, "/api/v1/connections".to_owned()),
        (Method::GET, format!("/api/v1/connections/{id}")),
        (Method::POST, format!("/api/v1/connections/{id}/syncs")),
        (Method::DELETE, format!("/api/v1/connections/{id}")),
    ] {
        assert_eq!(status(as_rep.call(method, &path, None, &[]).await), 403, "{path}");
    }
    let theirs = ApiClient::new(&url, &vendor.running.fingerprint, &stranger_token(&vendor).await).unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/v1/connections/{id}")),
        (Method::GET, format!("/api/v1/connections/{id}/syncs")),
        (Method::POST, format!("/api/v1/connections/{id}/syncs")),
        (Method::DELETE, format!("/api/v1/connections/{id}")),
    ] {
        assert_eq!(status(theirs.call(method, &path, None, &[]).await), 404, "{path}");
    }
    let none = theirs.call::<Value>(Method::GET, "/api/v1/connections", None, &[]).await.unwrap();
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");

    // The credentials are sealed in the database: no trace of the key in its file.
    let db = std::fs::read(vendor._dir.path().join("node").join("node.db")).unwrap();
    let needle = b"MIIE";
    assert!(!db.windows(needle.len()).any(|w| w == needle), "the private key is sealed at rest");

    vendor.api.call_empty(Method::DELETE, &format!("/api/v1/connections/{id}")).await.unwrap();
    assert_eq!(status(call(&vendor, Method::GET, &format!("/api/v1/connections/{id}"), None).await), 404);
}

/// An admin token of another organisation on `node` (a hosted node's second organisation).
async fn stranger_token(node: &Node) -> String {
    let store = crate::common::store_of(node).await;
    let org = store.create_organisation("Stranger Co").await.unwrap();
    let admin = store.create_user(&org.id, "eve", blindmap_store::Role::Admin).await.unwrap();
    let (_, token) = store.issue_token(&org.id, &admin.id, "test").await.unwrap();
    token.expose().to_owned()
}

/// A dataset's accounts as stored, by id: what a full sync and an incremental one must agree on.
async fn stored_accounts(node: &Node, dataset: &Value) -> Vec<blindmap_store::StoredAccount> {
    let store = crate::common::store_of(node).await;
    let org = store.organisations().await.unwrap()[0].id.clone();
    let id = blindmap_store::DatasetId::parse(dataset.as_str().unwrap()).unwrap();
    let mut accounts = store.dataset_sample(&org, &id, 10_000).await.unwrap();
    for a in &mut accounts {
        a.line = 0;
    }
    accounts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_salesforce_sync_reads_only_what_changed_and_makes_what_a_full_one_makes() {
    let (url, org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(salesforce_connection(&url))).await.unwrap();
    let id = made["id"].as_str().unwrap();
    let refused = call(&vendor, Method::POST, &format!("/api/v1/connections/{id}/syncs?mode=incremental"), None).await;
    assert_eq!(status(refused), 422, "nothing to change yet");
    let first = synced(&vendor, id).await;
    assert_eq!((first["state"].as_str(), first["mode"].as_str()), (Some("complete"), Some("full")), "{first}");

    // In the org: Northwind renamed and moved to another site, Contoso deleted, a new account,
    // all after the last sync; one more change in the same second as the newest (read again).
    {
        let mut o = org.lock().unwrap();
        let at = |i: usize| json!(format!("2026-12-01T12:00:0{i}.000+0000"));
        let northwind = o.accounts.iter_mut().find(|a| a["Id"] == "0015g00000NWTRdAAF").unwrap();
        northwind.insert("Name".into(), json!("Northwind Holdings Inc."));
        northwind.insert("Website".into(), json!("https://www.northwindholdings.com"));
        northwind.insert("SystemModstamp".into(), at(1));
        let contoso = o.accounts.iter_mut().find(|a| a["Id"] == "0015g00000CNTSbAAB").unwrap();
        contoso.insert("IsDeleted".into(), json!(true));
        contoso.insert("SystemModstamp".into(), at(2));
        let mut fresh = o.accounts[2].clone();
        fresh.insert("Id".into(), json!("0015g00000NEWACCT1"));
        fresh.insert("Name".into(), json!("Fabrikam Robotics GmbH"));
        fresh.insert("Website".into(), json!("https://fabrikam-robotics.de"));
        fresh.insert("BillingCountry".into(), json!("Germany"));
        fresh.insert("SystemModstamp".into(), json!("2026-12-01T12:00:03.250+0000"));
        o.accounts.push(fresh);
        o.requests.clear();
    }
    let second = synced(&vendor, id).await;
    assert_eq!(
        (second["state"].as_str(), second["mode"].as_str()),
        (Some("complete"), Some("incremental")),
        "{second}"
    );
    assert_eq!((second["records_read"].as_u64(), second["records_deleted"].as_u64()), (Some(3), Some(1)), "{second}");
    let queries: Vec<String> =
        org.lock().unwrap().requests.iter().filter(|r| r.starts_with("GET query")).cloned().collect();
    assert_eq!(queries, ["GET queryAll", "GET queryAll"], "a count, then one page of changes, deleted ones included");
    let changes = &second["summary"]["import"]["changes"];
    assert_eq!((changes["rows_read"].as_u64(), changes["removed"].as_u64()), (Some(2), Some(1)), "{second}");
    assert_eq!(second["summary"]["import"]["accounts"], first["summary"]["import"]["accounts"], "one out, one in");
    assert_eq!(active_dataset(&vendor).await["id"], second["dataset"]);

    // Nothing changed since but in the newest change's second: that one is read again, harmlessly.
    let third = synced(&vendor, id).await;
    assert_eq!((third["mode"].as_str(), third["records_read"].as_u64()), (Some("incremental"), Some(1)), "{third}");

    // A full sync now makes the same dataset, account for account.
    let full = synced_as(&vendor, id, "full").await;
    assert_eq!((full["state"].as_str(), full["mode"].as_str()), (Some("complete"), Some("full")), "{full}");
    let (changed, whole) =
        (stored_accounts(&vendor, &third["dataset"]).await, stored_accounts(&vendor, &full["dataset"]).await);
    assert_eq!(changed, whole);
    assert!(whole.iter().any(|a| a.domains == ["northwindholdings.com"]), "the change is in");
    assert!(!whole.iter().any(|a| a.id == "0015g00000CNTSbAAB"), "the deleted account is out");
    assert!(whole.iter().any(|a| a.id == "0015g00000NEWACCT1"), "the new one is in");
    for (key, value) in [("keys", "keys"), ("segments", "segments")] {
        assert_eq!(third["summary"]["import"][key], full["summary"]["import"][value], "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_hubspot_sync_reads_the_changed_and_archived_companies_only() {
    let (url, portal) = hubspot_portal().await;
    let partner = node("Partner", None).await;
    let body = json!({ "name": "Partner HubSpot", "kind": "hubspot", "url": url, "token": HUBSPOT_TOKEN });
    let made = call(&partner, Method::POST, "/api/v1/connections", Some(body)).await.unwrap();
    let id = made["id"].as_str().unwrap();
    let first = synced(&partner, id).await;
    assert_eq!(first["state"], "complete", "{first}");
    let later = 1_796_100_000_000;
    {
        let mut p = portal.lock().unwrap();
        let c = &mut p.companies[0];
        c.properties.insert("name".into(), json!("Northwind Traders Group"));
        c.properties.insert("lifecyclestage".into(), json!("opportunity"));
        c.modified = later;
        p.companies[1].archived = true;
        p.companies[1].modified = later + 1;
        let mut fresh = p.companies[2].clone();
        fresh.id = "9001999999".into();
        fresh.properties.insert("domain".into(), json!("tailspintoys.com"));
        fresh.modified = later + 2;
        p.companies.push(fresh);
        p.requests.clear();
    }
    let second = synced(&partner, id).await;
    assert_eq!(
        (second["state"].as_str(), second["mode"].as_str()),
        (Some("complete"), Some("incremental")),
        "{second}"
    );
    assert_eq!(second["records_deleted"], 1, "{second}");
    let requests = portal.lock().unwrap().requests.clone();
    assert!(requests.iter().any(|r| r == "POST companies/search"), "{requests:?}");
    assert_eq!(requests.iter().filter(|r| *r == "GET companies").count(), 1, "the archived list only: {requests:?}");
    let full = synced_as(&partner, id, "full").await;
    assert_eq!(stored_accounts(&partner, &second["dataset"]).await, stored_accounts(&partner, &full["dataset"]).await);
    assert_eq!(second["summary"]["import"]["segments"], full["summary"]["import"]["segments"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_org_is_read_through_a_bulk_query_job_into_the_same_dataset() {
    let (url, org) = salesforce_org().await;
    org.lock().unwrap().job_polls = 2;
    let vendor = node("Vendor", None).await;
    // The REST way first (the sample is far below the default 10,000), then a connection that
    // takes the Bulk API from one record.
    let rest = call(&vendor, Method::POST, "/api/v1/connections", Some(salesforce_connection(&url))).await.unwrap();
    let by_rest = synced(&vendor, rest["id"].as_str().unwrap()).await;
    assert_eq!(by_rest["summary"]["api_usage"]["bulk"], false, "{by_rest}");
    let mut body = salesforce_connection(&url);
    body["name"] = json!("Vendor Salesforce (bulk)");
    body["bulk_from"] = json!(1);
    let bulk = call(&vendor, Method::POST, "/api/v1/connections", Some(body)).await.unwrap();
    assert_eq!(bulk["bulk_from"], 1, "{bulk}");
    let id = bulk["id"].as_str().unwrap();
    org.lock().unwrap().requests.clear();
    let by_bulk = synced(&vendor, id).await;
    assert_eq!(
        (by_bulk["state"].as_str(), by_bulk["summary"]["api_usage"]["bulk"].as_bool()),
        (Some("complete"), Some(true)),
        "{by_bulk}"
    );
    assert_eq!(by_bulk["records_read"], rows(VENDOR_CSV).len());
    let requests = org.lock().unwrap().requests.clone();
    for expected in ["POST jobs/query", "GET jobs/query/{id}", "GET jobs/query/{id}/results"] {
        assert!(requests.iter().any(|r| r == expected), "{expected} in {requests:?}");
    }
    assert!(!requests.iter().any(|r| r.starts_with("GET query/")), "no REST pages: {requests:?}");
    assert_eq!(
        stored_accounts(&vendor, &by_rest["dataset"]).await,
        stored_accounts(&vendor, &by_bulk["dataset"]).await
    );

    // Incrementally through a job too (queryAll): the deleted account goes.
    {
        let mut o = org.lock().unwrap();
        let contoso = o.accounts.iter_mut().find(|a| a["Id"] == "0015g00000CNTSbAAB").unwrap();
        contoso.insert("IsDeleted".into(), json!(true));
        contoso.insert("SystemModstamp".into(), json!("2026-12-02T08:00:00.000+0000"));
    }
    let changed = synced(&vendor, id).await;
    assert_eq!(
        (changed["mode"].as_str(), changed["records_deleted"].as_u64()),
        (Some("incremental"), Some(1)),
        "{changed}"
    );
    assert!(org.lock().unwrap().jobs.values().any(|j| j.operation == "queryAll"));
    let after = stored_accounts(&vendor, &changed["dataset"]).await;
    assert!(!after.iter().any(|a| a.id == "0015g00000CNTSbAAB"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_connect_a_crm_and_sync_it_from_the_pages() {
    use crate::web::Agent;
    let (url, _portal) = hubspot_portal().await;
    let partner = node("Partner", None).await;
    let mut admin = Agent::new(&partner);
    let token = call(&partner, Method::POST, "/api/v1/users", Some(json!({ "name": "ada", "role": "admin" })))
        .await
        .unwrap()["token"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.sign_in(&token).await;
    let page = admin.get("/connections").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No CRM connected yet."), "{}", page.body);
    let csrf = page.input("csrf");

    // A forged form makes nothing; a refused one keeps what was entered but the secret, and says why.
    let forged = admin.post("/connections", &[("csrf", "wrong"), ("name", "HS"), ("kind", "hubspot")]).await;
    assert_eq!(forged.status, 403);
    let refused = admin
        .post(
            "/connections",
            &[
                ("csrf", &csrf),
                ("name", "Partner HubSpot"),
                ("kind", "salesforce"),
                ("url", &url),
                ("token", HUBSPOT_TOKEN),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"problem\"") && refused.body.contains("Partner HubSpot"), "{}", refused.body);
    assert!(!refused.body.contains(HUBSPOT_TOKEN), "the secret is not sent back");
    assert!(
        call(&partner, Method::GET, "/api/v1/connections", None).await.unwrap()["items"].as_array().unwrap().is_empty()
    );

    let made = admin
        .post(
            "/connections",
            &[
                ("csrf", &csrf),
                ("name", "Partner HubSpot"),
                ("kind", "hubspot"),
                ("url", &url),
                ("token", HUBSPOT_TOKEN),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let path = made.location().to_owned();
    assert!(path.starts_with("/connections/crm_"), "{path}");
    let page = admin.get(&path).await;
    assert!(page.body.contains("Not synced yet.") && page.body.contains("private app"), "{}", page.body);
    assert!(!page.body.contains(HUBSPOT_TOKEN));

    let started = admin.post(&format!("{path}/sync"), &[("csrf", &csrf)]).await;
    assert_eq!((started.status.as_u16(), started.location()), (303, path.as_str()));
    let mut page = admin.get(&path).await;
    for _ in 0..100 {
        if page.headers.get("refresh").is_none() {
            break;
        }
        assert!(page.body.contains("This page follows it by itself."), "{}", page.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = admin.get(&path).await;
    }
    assert!(page.body.contains("complete"), "{}", page.body);
    assert!(page.body.contains("Sync what changed") && page.body.contains("Sync everything"), "{}", page.body);
    let list = admin.get("/connections").await;
    assert!(list.body.contains("Partner HubSpot") && list.body.contains("complete"), "{}", list.body);
    assert_eq!(active_dataset(&partner).await["name"].as_str().map(|n| n.starts_with("Partner HubSpot")), Some(true));
    assert!(
        page.body.contains("Nothing written back yet.") && page.body.contains("only when you ask"),
        "{}",
        page.body
    );

    // The settings: writing back turned on, and the token replaced (the portal rotated it).
    let on = admin.post(&format!("{path}/write-back-on"), &[("csrf", &csrf)]).await;
    assert_eq!(on.status, 303, "{}", on.body);
    let page = admin.get(&path).await;
    assert!(page.body.contains("written back into it after each match"), "{}", page.body);
    let empty = admin.post(&format!("{path}/credentials"), &[("csrf", &csrf), ("token", " ")]).await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    _portal.lock().unwrap().private_token = "pat-rotated".into();
    let replaced = admin.post(&format!("{path}/credentials"), &[("csrf", &csrf), ("token", "pat-rotated")]).await;
    assert_eq!(replaced.status, 303, "{}", replaced.body);
    let off = admin.post(&format!("{path}/write-back-off"), &[("csrf", &csrf)]).await;
    assert_eq!(off.status, 303);
    let id = path.trim_start_matches("/connections/");
    assert_eq!(synced(&partner, id).await["state"], "complete", "the rotated token signs in");

    // Writing back from the page (no partner yet: nothing to write, done at once).
    let started = admin.post(&format!("{path}/write-back"), &[("csrf", &csrf)]).await;
    assert_eq!((started.status.as_u16(), started.location()), (303, path.as_str()));
    let mut page = admin.get(&path).await;
    for _ in 0..100 {
        if page.headers.get("refresh").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = admin.get(&path).await;
    }
    assert!(page.body.contains("The latest write-backs, newest first"), "{}", page.body);
    let forged = admin.post(&format!("{path}/write-back"), &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // A rep may not look; another organisation finds nothing; then the admin deletes it.
    let (_, rep_token) = rep(&partner).await;
    let mut rita = Agent::new(&partner);
    rita.sign_in(&rep_token).await;
    assert_eq!(rita.get("/connections").await.status, 403);
    assert_eq!(rita.get(&path).await.status, 403);
    let mut eve = crate::admin_web::stranger(&partner, blindmap_store::Role::Admin).await;
    assert_eq!(eve.get(&path).await.status, 404);
    let eve_csrf = eve.get("/connections").await.input("csrf");
    assert_eq!(eve.post(&format!("{path}/sync"), &[("csrf", &eve_csrf)]).await.status, 404);
    assert_eq!(eve.post(&format!("{path}/write-back"), &[("csrf", &eve_csrf)]).await.status, 404);
    assert_eq!(eve.post(&format!("{path}/delete"), &[("csrf", &eve_csrf)]).await.status, 404);
    let deleted = admin.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!((deleted.status.as_u16(), deleted.location()), (303, "/connections"));
    assert_eq!(admin.get(&path).await.status, 404);
}

/// Starts a write-back of `connection` by hand and waits for it to end.
async fn written_back(node: &Node, connection: &str) -> Value {
    let start = format!("/api/v1/connections/{connection}/writebacks");
    let started = call(node, Method::POST, &start, None).await.unwrap();
    assert_eq!(started["state"], "running", "{started}");
    writeback_ended(node, connection, started["id"].as_str().unwrap()).await
}

async fn writeback_ended(node: &Node, connection: &str, id: &str) -> Value {
    let path = format!("/api/v1/connections/{connection}/writebacks/{id}");
    for _ in 0..600 {
        let wb = call(node, Method::GET, &path, None).await.unwrap();
        if wb["state"] != "running" {
            return wb;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the write-back {id} did not end in 30 s");
}

/// Waits for the node to start a write-back of `connection` by itself after a run (the
/// `count`th of the connection) and for it to end.
async fn written_back_after_run(node: &Node, connection: &str, count: usize) -> Value {
    let list = format!("/api/v1/connections/{connection}/writebacks");
    for _ in 0..300 {
        let items = call(node, Method::GET, &list, None).await.unwrap()["items"].as_array().unwrap().clone();
        if items.len() >= count {
            let newest = &items[0];
            assert_eq!(newest["started_by"], "blindmap (after a run)", "{newest}");
            return writeback_ended(node, connection, newest["id"].as_str().unwrap()).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no write-back of {connection} started after the run in 15 s");
}

/// The vendor and the partner paired, each sharing its accounts' owner, the partner hiding its
/// prospects and the vendor its partners altogether: the vendor's and the partner's partnership.
async fn paired_sharing_owners(vendor: &Node, partner: &Node) -> (String, String) {
    let (pid, theirs) = crate::common::pair(vendor, partner, "Partner").await;
    let policy = |hidden: &str| {
        json!({ "rules": [
                { "own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["owner"] },
                { "own_segment": hidden, "partner_segment": "*", "level": "hidden" }],
            "threshold": 1, "min_partner_segment": 1 })
    };
    call(partner, Method::PUT, &format!("/api/v1/partnerships/{theirs}/sharing"), Some(policy("prospects")))
        .await
        .unwrap();
    call(vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(policy("partners"))).await.unwrap();
    (pid, theirs)
}

/// A match from the vendor's side, finished on both sides.
async fn matched_again(vendor: &Node, partner: &Node, pid: &str) {
    let run = call(vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let run_id = run["id"].as_str().unwrap();
    let view = crate::common::finished(vendor, run_id).await;
    assert_eq!(view["state"], "complete", "{view}");
    for _ in 0..200 {
        let runs = call(partner, Method::GET, "/api/v1/runs", None).await.unwrap();
        if runs["items"].as_array().unwrap().iter().all(|r| r["state"] == "complete") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the partner's side of the run did not end");
}

/// The accounts a node's overlap list shows with its partner now (the latest run), by id.
async fn overlapping(node: &Node, partnership: &str) -> std::collections::BTreeSet<String> {
    crate::common::all_overlaps(node, &format!("/api/v1/overlaps?partnership={partnership}"))
        .await
        .iter()
        .map(|o| o["account_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The overlap records the Salesforce org holds, by account.
fn salesforce_overlaps(org: &salesforce::Shared) -> BTreeMap<String, Map<String, Value>> {
    let org = org.lock().unwrap();
    org.objects["Blindmap_Overlap__c"]
        .iter()
        .map(|r| (r["Account__c"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// The companies of the portal (not archived) whose `blindmap_overlaps` says something.
fn hubspot_overlaps(portal: &hubspot::Shared) -> BTreeMap<String, String> {
    let p = portal.lock().unwrap();
    p.companies
        .iter()
        .filter(|c| !c.archived)
        .filter_map(|c| {
            let text = c.properties.get("blindmap_overlaps")?.as_str()?;
            (!text.is_empty()).then(|| (c.id.clone(), text.to_owned()))
        })
        .collect()
}

/// A write-back's plan: added, changed, removing, unchanged.
fn plan(wb: &Value) -> (u64, u64, u64, u64) {
    let p = &wb["summary"]["plan"];
    let n = |k: &str| p[k].as_u64().unwrap();
    (n("added"), n("changed"), n("removing"), n("unchanged"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sync_from_their_crms_match_and_write_exactly_the_changed_overlaps_back() {
    // The vendor reads a Salesforce org (the overlap object deployed), the partner a HubSpot
    // portal; both write back after each run.
    let (sf_url, org) = salesforce_org().await;
    org.lock().unwrap().objects.insert("Blindmap_Overlap__c".into(), Vec::new());
    let (hs_url, portal) = hubspot_portal().await;
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    let mut body = salesforce_connection(&sf_url);
    body["write_back"] = json!(true);
    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(body)).await.unwrap();
    assert_eq!(made["write_back"], true, "{made}");
    let sf = made["id"].as_str().unwrap().to_owned();
    let body = json!({ "name": "Partner HubSpot", "kind": "hubspot", "url": hs_url, "token": HUBSPOT_TOKEN,
        "write_back": true });
    let hs = call(&partner, Method::POST, "/api/v1/connections", Some(body)).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(synced(&vendor, &sf).await["state"], "complete");
    assert_eq!(synced(&partner, &hs).await["state"], "complete");

    // Each shares its accounts' owner; the partner hides its prospects altogether.
    let (pid, theirs) = paired_sharing_owners(&vendor, &partner).await;
    matched_again(&vendor, &partner, &pid).await;

    // After the run, each node writes what its overlap list shows, and nothing else.
    let vendor_before = overlapping(&vendor, &pid).await;
    let partner_before = overlapping(&partner, &theirs).await;
    assert!(vendor_before.len() >= 3 && partner_before.len() >= 3, "{vendor_before:?} {partner_before:?}");
    let first_sf = written_back_after_run(&vendor, &sf, 1).await;
    assert_eq!(first_sf["state"], "complete", "{first_sf}");
    assert_eq!(plan(&first_sf), (vendor_before.len() as u64, 0, 0, 0), "{first_sf}");
    assert_eq!(
        (first_sf["written"].as_u64(), first_sf["refused"].as_u64()),
        (Some(vendor_before.len() as u64), Some(0))
    );
    let records = salesforce_overlaps(&org);
    assert_eq!(records.keys().cloned().collect::<std::collections::BTreeSet<_>>(), vendor_before);
    for (account, record) in &records {
        assert_eq!(record["Blindmap_Key__c"], json!(format!("{pid}:{account}")), "{record:?}");
        assert_eq!(record["Partner__c"], "Partner");
        assert!(["confirmed", "possible"].contains(&record["Tier__c"].as_str().unwrap()), "{record:?}");
        // Only the owner was shared: nothing else of the partner's records is written.
        let shared = record["Shared_Fields__c"].as_str().unwrap();
        assert!(shared.is_empty() || shared.lines().all(|l| l.starts_with("owner: ")), "{shared:?}");
        assert!(!record["Partner_Segments__c"].as_str().unwrap().contains("prospects"), "hidden: {record:?}");
    }
    let first_hs = written_back_after_run(&partner, &hs, 1).await;
    assert_eq!(first_hs["state"], "complete", "{first_hs}");
    assert_eq!(plan(&first_hs), (partner_before.len() as u64, 0, 0, 0), "{first_hs}");
    let companies = hubspot_overlaps(&portal);
    assert_eq!(companies.keys().cloned().collect::<std::collections::BTreeSet<_>>(), partner_before);
    assert!(companies.values().all(|v| v.starts_with("Vendor — ")), "{companies:?}");

    // Written again with nothing changed: nothing to write.
    let again = written_back(&vendor, &sf).await;
    assert_eq!(plan(&again), (0, 0, 0, vendor_before.len() as u64), "{again}");
    assert_eq!((again["written"].as_u64(), again["removed"].as_u64()), (Some(0), Some(0)), "{again}");

    // The CRMs change: the vendor deletes an overlapping account and adds one that matches a
    // partner company no one matched; the partner archives a company that overlapped.
    let deleted = "0015g00000NWTRdAAF";
    assert!(vendor_before.contains(deleted));
    {
        let mut o = org.lock().unwrap();
        let northwind = o.accounts.iter_mut().find(|a| a["Id"] == deleted).unwrap();
        northwind.insert("IsDeleted".into(), json!(true));
        northwind.insert("SystemModstamp".into(), json!("2026-12-01T09:00:00.000+0000"));
        let mut canada = o.accounts[1].clone();
        for (field, value) in [
            ("Id", json!("0015g00000NWCANAAA")),
            ("Name", json!("Northwind Traders Canada")),
            ("Website", json!("https://northwindtraders.ca")),
            ("BillingCity", json!("Vancouver")),
            ("BillingCountry", json!("Canada")),
            ("DunsNumber", json!(null)),
            ("SystemModstamp", json!("2026-12-01T09:00:01.000+0000")),
            ("Owner.Name", json!("Ada Byron")),
            ("Owner.Email", json!("ada.byron@vendor.example")),
        ] {
            canada.insert(field.into(), value);
        }
        o.accounts.push(canada);
        // The session times out mid-sync: the sync signs in again and carries on.
        let seen = o.requests.iter().filter(|r| !r.starts_with("POST")).count();
        o.expire_at_request = Some(seen + 3);
    }
    let issued = org.lock().unwrap().issued;
    let archived = partner_before.iter().find(|c| *c != "9001120031").unwrap().clone();
    {
        let mut p = portal.lock().unwrap();
        let company = p.companies.iter_mut().find(|c| c.id == archived).unwrap();
        company.archived = true;
        company.modified = 1_796_200_000_000;
    }
    let vendor_sync = synced(&vendor, &sf).await;
    assert_eq!((vendor_sync["state"].as_str(), vendor_sync["mode"].as_str()), (Some("complete"), Some("incremental")));
    assert!(org.lock().unwrap().issued >= issued + 2, "a token, then another after the first expired");
    org.lock().unwrap().expire_at_request = None;
    let partner_sync = synced(&partner, &hs).await;
    assert_eq!((partner_sync["state"].as_str(), partner_sync["records_deleted"].as_u64()), (Some("complete"), Some(1)));
    matched_again(&vendor, &partner, &pid).await;

    // The second write-back after the run adds and removes exactly what changed.
    let vendor_after = overlapping(&vendor, &pid).await;
    let partner_after = overlapping(&partner, &theirs).await;
    let diff = |before: &std::collections::BTreeSet<String>, after: &std::collections::BTreeSet<String>| {
        (
            after.difference(before).count() as u64,
            before.difference(after).count() as u64,
            after.intersection(before).count() as u64,
        )
    };
    let (added, lost, kept) = diff(&vendor_before, &vendor_after);
    assert!(vendor_after.contains("0015g00000NWCANAAA") && !vendor_after.contains(deleted), "{vendor_after:?}");
    assert!(added >= 1 && lost >= 1, "the change is seen: {vendor_before:?} → {vendor_after:?}");
    let second_sf = written_back_after_run(&vendor, &sf, 3).await;
    assert_eq!(second_sf["state"], "complete", "{second_sf}");
    assert_eq!(plan(&second_sf), (added, 0, lost, kept), "{second_sf}");
    assert_eq!(
        (second_sf["written"].as_u64(), second_sf["removed"].as_u64()),
        (Some(added), Some(lost)),
        "{second_sf}"
    );
    let records = salesforce_overlaps(&org);
    assert_eq!(records.keys().cloned().collect::<std::collections::BTreeSet<_>>(), vendor_after);
    // What changed, account by account, with the owner's e-mail address each CRM gave.
    let changes = call(&vendor, Method::GET, "/api/v1/changes?change=new", None).await.unwrap();
    let canada = changes["items"].as_array().unwrap().iter().find(|c| c["account_id"] == "0015g00000NWCANAAA");
    let canada = canada.expect("the new account is a change");
    assert_eq!(
        (canada["owner"].as_str(), canada["owner_email"].as_str()),
        (Some("Ada Byron"), Some("ada.byron@vendor.example"))
    );
    let changes = call(&partner, Method::GET, "/api/v1/changes?change=new", None).await.unwrap();
    let new = changes["items"].as_array().unwrap().iter().find(|c| c["account_id"] == "9001120032").expect("a change");
    let expected = hubspot_owners()
        .into_iter()
        .find(|(_, first, last, _)| format!("{first} {last}") == new["owner"].as_str().unwrap())
        .map(|(.., email)| email);
    assert_eq!(new["owner_email"].as_str().map(str::to_owned), expected.or(Some(String::new())), "{new}");

    let (added, lost, kept) = diff(&partner_before, &partner_after);
    assert!(partner_after.contains("9001120032") && !partner_after.contains(&archived), "{partner_after:?}");
    assert!(added >= 1 && lost >= 1, "{partner_before:?} → {partner_after:?}");
    let second_hs = written_back_after_run(&partner, &hs, 2).await;
    assert_eq!(second_hs["state"], "complete", "{second_hs}");
    assert_eq!(plan(&second_hs), (added, 0, lost, kept), "{second_hs}");
    assert_eq!(
        (second_hs["written"].as_u64(), second_hs["removed"].as_u64()),
        (Some(added), Some(lost)),
        "{second_hs}"
    );
    let companies = hubspot_overlaps(&portal);
    assert_eq!(companies.keys().cloned().collect::<std::collections::BTreeSet<_>>(), partner_after);

    // The write-backs are audited, and listed newest first.
    let audit = call(&vendor, Method::GET, "/api/v1/audit", None).await.unwrap().to_string();
    assert!(audit.contains("crm.written_back"), "{audit}");
    let list = call(&vendor, Method::GET, &format!("/api/v1/connections/{sf}/writebacks"), None).await.unwrap();
    assert_eq!(list["items"][0]["id"], second_sf["id"], "{list}");

    // A failure mid-sync, then the org at 80 % of its daily requests: neither keeps anything,
    // the previous dataset stays active, so the next run finds the same overlaps and the
    // write-back after it has nothing to write.
    let active = active_dataset(&vendor).await["id"].clone();
    org.lock().unwrap().forged_next = Some("https://evil.example/services/data/v63.0/query/x-10".into());
    let failed = synced_as(&vendor, &sf, "full").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    org.lock().unwrap().forged_next = None;
    org.lock().unwrap().api_used = 12_000;
    let paused = synced(&vendor, &sf).await;
    assert_eq!(paused["state"], "paused", "{paused}");
    assert!(paused["message"].as_str().unwrap().contains("80%"), "{paused}");
    assert_eq!(active_dataset(&vendor).await["id"], active, "the last good dataset stays active");
    matched_again(&vendor, &partner, &pid).await;
    assert_eq!(overlapping(&vendor, &pid).await, vendor_after);
    let third_sf = written_back_after_run(&vendor, &sf, 4).await;
    assert_eq!(plan(&third_sf), (0, 0, 0, vendor_after.len() as u64), "{third_sf}");
    assert_eq!((third_sf["written"].as_u64(), third_sf["requests"].as_u64()), (Some(0), Some(0)), "{third_sf}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_without_the_object_fails_clearly_and_the_next_one_carries_on() {
    let (url, org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(salesforce_connection(&url))).await.unwrap();
    assert_eq!(made["write_back"], false, "by hand unless asked: {made}");
    let sf = made["id"].as_str().unwrap().to_owned();
    assert_eq!(synced(&vendor, &sf).await["state"], "complete");
    upload(&partner, "p.csv", PARTNER_CSV).await;
    let (pid, _) = paired_sharing_owners(&vendor, &partner).await;
    matched_again(&vendor, &partner, &pid).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let list = call(&vendor, Method::GET, &format!("/api/v1/connections/{sf}/writebacks"), None).await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty(), "write_back is off: nothing after the run: {list}");

    // Not deployed: the write-back fails and says what to do; nothing is lost.
    let failed = written_back(&vendor, &sf).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("Blindmap_Overlap__c") && message.contains("blindmap crm metadata"), "{message}");

    // Deployed, with one record refused (its account deleted meanwhile): the rest is written,
    // the refusal counted and named, and the next write-back tries only that one again.
    let overlaps = overlapping(&vendor, &pid).await;
    let gone = overlaps.iter().next().unwrap().clone();
    {
        let mut o = org.lock().unwrap();
        o.objects.insert("Blindmap_Overlap__c".into(), Vec::new());
        o.accounts.iter_mut().find(|a| a["Id"] == gone.as_str()).unwrap().insert("IsDeleted".into(), json!(true));
    }
    let done = written_back(&vendor, &sf).await;
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(
        (done["written"].as_u64(), done["refused"].as_u64()),
        (Some(overlaps.len() as u64 - 1), Some(1)),
        "{done}"
    );
    assert_eq!(done["summary"]["refusals"][0]["records"], 1, "{done}");
    assert!(done["summary"]["refusals"][0]["reason"].as_str().unwrap().starts_with("INVALID_CROSS_REFERENCE_KEY"));
    let next = written_back(&vendor, &sf).await;
    assert_eq!(plan(&next), (1, 0, 0, overlaps.len() as u64 - 1), "only the refused one is due: {next}");
    assert_eq!((next["written"].as_u64(), next["refused"].as_u64()), (Some(0), Some(1)), "{next}");

    // Another organisation's admin sees none of it; a rep may not start one.
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let theirs = ApiClient::new(&url, &vendor.running.fingerprint, &stranger_token(&vendor).await).unwrap();
    let path = format!("/api/v1/connections/{sf}/writebacks");
    let one = format!("{path}/{}", done["id"].as_str().unwrap());
    for (method, path) in [(Method::GET, path.clone()), (Method::POST, path.clone()), (Method::GET, one.clone())] {
        assert_eq!(status(theirs.call(method, &path, None, &[]).await), 404, "{path}");
    }
    let (_, rep_token) = rep(&vendor).await;
    let as_rep = ApiClient::new(&url, &vendor.running.fingerprint, &rep_token).unwrap();
    for (method, path) in [(Method::GET, path.clone()), (Method::POST, path.clone()), (Method::GET, one)] {
        assert_eq!(status(as_rep.call(method, &path, None, &[]).await), 403, "{path}");
    }
}

/// An agent signed in as a new admin of `node`'s organisation.
async fn admin_agent(node: &Node, name: &str) -> crate::web::Agent {
    let mut agent = crate::web::Agent::new(node);
    let token = call(node, Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": "admin" })))
        .await
        .unwrap()["token"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    agent.sign_in(&token).await;
    agent
}

/// Posts the form that leaves for the CRM's approval page.
async fn authorize_form(agent: &mut crate::web::Agent, fields: Vec<(&'static str, String)>) -> crate::web::Page {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    agent.post("/connections/authorize", &pairs).await
}

/// Follows the CRM's approval page as the browser would: the node path it sends the browser back to.
async fn approved(authorize_url: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = http.get(authorize_url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
    let back = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/connections/authorized", "{back}");
    format!("{}?{}", back.path(), back.query().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_connect_salesforce_by_approving_it_in_salesforce_once_and_as_themselves() {
    let (url, org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let mut ada = admin_agent(&vendor, "ada").await;
    let page = ada.get("/connections").await;
    let csrf = page.input("csrf");
    let callback = format!("https://127.0.0.1:{}/connections/authorized", vendor.running.addr.port());
    assert!(page.body.contains(&callback), "the callback URL to list in the app: {}", page.body);
    org.lock().unwrap().callback = Some(callback.clone());
    let form = |name: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_owned()),
            ("kind", "salesforce".to_owned()),
            ("url", url.clone()),
            ("oauth_client_id", CLIENT_ID.to_owned()),
            ("client_secret", "emulated-secret".to_owned()),
        ]
    };

    // Off to Salesforce's approval page (with PKCE), back with a code: the connection is made
    // with the refresh token the code was exchanged for, and it syncs.
    let left = authorize_form(&mut ada, form("Approved Salesforce")).await;
    assert_eq!(left.status, 303, "{}", left.body);
    let authorize = left.location().to_owned();
    assert!(authorize.starts_with(&format!("{url}/services/oauth2/authorize?")), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256") && !authorize.contains("emulated-secret"), "{authorize}");
    let back = approved(&authorize).await;
    let made = ada.get(&back).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let id = made.location().trim_start_matches("/connections/").to_owned();
    let connection = call(&vendor, Method::GET, &format!("/api/v1/connections/{id}"), None).await.unwrap();
    assert_eq!(
        (connection["auth"].as_str(), connection["name"].as_str()),
        (Some("refresh_token"), Some("Approved Salesforce"))
    );
    assert_eq!(synced(&vendor, &id).await["state"], "complete");
    let refresh = org.lock().unwrap().refresh_token.clone().unwrap();
    let db = std::fs::read(vendor._dir.path().join("node").join("node.db")).unwrap();
    assert!(!db.windows(refresh.len()).any(|w| w == refresh.as_bytes()), "the refresh token is sealed at rest");

    // The same answer again finds nothing: an approval answers once.
    let again = ada.get(&back).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body.contains("unknown, was used already"), "{}", again.body);

    // Another admin's browser cannot finish ada's approval (nor can ada's, after that).
    let left = authorize_form(&mut ada, form("Second")).await;
    let back = approved(left.location()).await;
    let mut bob = admin_agent(&vendor, "bob").await;
    assert_eq!(bob.get(&back).await.status, 422);
    assert_eq!(ada.get(&back).await.status, 422, "spent by the attempt");

    // A denial in Salesforce says so and makes nothing.
    org.lock().unwrap().deny = true;
    let left = authorize_form(&mut ada, form("Denied")).await;
    let back = approved(left.location()).await;
    let denied = ada.get(&back).await;
    assert_eq!(denied.status, 422);
    assert!(denied.body.contains("Salesforce did not approve the access: access_denied"), "{}", denied.body);
    let names: Vec<String> = call(&vendor, Method::GET, "/api/v1/connections", None).await.unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Approved Salesforce"]);

    // The API gives the URL and the callback; a refresh token is not for an approval; the
    // name must be free.
    org.lock().unwrap().deny = false;
    let body = json!({ "name": "By API", "kind": "salesforce", "url": url, "client_id": CLIENT_ID,
        "client_secret": "emulated-secret" });
    let started = call(&vendor, Method::POST, "/api/v1/connections/authorize", Some(body.clone())).await.unwrap();
    assert_eq!(started["redirect_uri"], callback.as_str());
    assert_eq!(started["expires_in"], 600);
    let mut with_token = body.clone();
    with_token["refresh_token"] = json!("x");
    assert_eq!(status(call(&vendor, Method::POST, "/api/v1/connections/authorize", Some(with_token)).await), 422);
    let mut taken = body;
    taken["name"] = json!("Approved Salesforce");
    assert_eq!(status(call(&vendor, Method::POST, "/api/v1/connections/authorize", Some(taken)).await), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_portal_connects_by_oauth_and_syncs() {
    let (url, portal) = hubspot_portal().await;
    {
        let mut p = portal.lock().unwrap();
        p.client_id = "hs-client".into();
        p.client_secret = "hs-secret".into();
    }
    let partner = node("Partner", None).await;
    let mut ada = admin_agent(&partner, "ada").await;
    let csrf = ada.get("/connections").await.input("csrf");
    let left = ada
        .post(
            "/connections/authorize",
            &[
                ("csrf", &csrf),
                ("name", "Partner HubSpot"),
                ("kind", "hubspot"),
                ("url", &url),
                ("oauth_client_id", "hs-client"),
                ("client_secret", "hs-secret"),
                ("write_back", "1"),
            ],
        )
        .await;
    assert_eq!(left.status, 303, "{}", left.body);
    let authorize = left.location().to_owned();
    assert!(authorize.starts_with(&format!("{url}/oauth/authorize?")), "{authorize}");
    assert!(authorize.contains("crm.objects.companies.write"), "writing back asks for the write scopes: {authorize}");
    let made = ada.get(&approved(&authorize).await).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let id = made.location().trim_start_matches("/connections/").to_owned();
    let sync = synced(&partner, &id).await;
    assert_eq!(sync["state"], "complete", "{sync}");
    assert!(portal.lock().unwrap().requests.iter().filter(|r| *r == "POST /oauth/v1/token").count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_changed_by_its_admins_only_and_rotated_credentials_are_checked() {
    let (url, org) = salesforce_org().await;
    let vendor = node("Vendor", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/connections", Some(salesforce_connection(&url))).await.unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");

    // Settings change; unsaid ones stay.
    let changed =
        call(&vendor, Method::PATCH, &path, Some(json!({ "write_back": true, "pause_at": 0.5 }))).await.unwrap();
    assert_eq!((changed["write_back"].as_bool(), changed["pause_at"].as_f64()), (Some(true), Some(0.5)), "{changed}");
    assert_eq!(changed["username"], USER);
    // Refused, and nothing changes: another way's credential, a key that does not read, a bad
    // share, a mapping that does not parse.
    for body in [
        json!({ "token": "pat-x" }),
        json!({ "private_key": "not a key" }),
        json!({ "pause_at": 2.0 }),
        json!({ "map": ["nonsense"] }),
        json!({ "write_back": false, "refresh_token": "x" }),
    ] {
        assert_eq!(status(call(&vendor, Method::PATCH, &path, Some(body.clone())).await), 422, "{body}");
    }
    let now = call(&vendor, Method::GET, &path, None).await.unwrap();
    assert_eq!((now["write_back"].as_bool(), now["pause_at"].as_f64()), (Some(true), Some(0.5)));

    // The certificate rotated: the org knows the new key only; the old connection key fails,
    // the new one signs in.
    let new_key = include_str!("../../../blindmap-crm/tests/keys/connected-app-2.pem");
    let key = blindmap_crm::salesforce::SigningKey::from_pem(new_key.as_bytes()).unwrap();
    org.lock().unwrap().public_key = key.public_key_der();
    assert_eq!(synced(&vendor, &id).await["state"], "failed");
    call(&vendor, Method::PATCH, &path, Some(json!({ "private_key": new_key }))).await.unwrap();
    assert_eq!(synced(&vendor, &id).await["state"], "complete");
    let audit = call(&vendor, Method::GET, "/api/v1/audit", None).await.unwrap().to_string();
    assert!(audit.contains("crm.connection_updated") && !audit.contains("PRIVATE KEY"), "{audit}");

    // Another organisation finds nothing; a rep may not.
    let base = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let theirs = ApiClient::new(&base, &vendor.running.fingerprint, &stranger_token(&vendor).await).unwrap();
    let body = Some((br#"{"write_back": false}"#.to_vec(), "application/json"));
    assert_eq!(status(theirs.call(Method::PATCH, &path, body.clone(), &[]).await), 404);
    let (_, rep_token) = rep(&vendor).await;
    let as_rep = ApiClient::new(&base, &vendor.running.fingerprint, &rep_token).unwrap();
    assert_eq!(status(as_rep.call(Method::PATCH, &path, body, &[]).await), 403);
}

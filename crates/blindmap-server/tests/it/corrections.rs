//! Corrections through the API (`/api/v1/corrections`, through the router with `oneshot`), on
//! both store backends: a correction takes effect at once in every listing of overlaps, a
//! repeat finds the one already made, deleting it brings the matches back, bad requests are
//! refused with what to fix, roles are held to, and another organisation reaches nothing — each
//! route answers it 404 and changes nothing.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use blindmap_server::{Limits, app};
use blindmap_store::{
    Completion, DatasetId, NewRun, OrgId, PartnershipId, Role, RunId, RunOverlap, RunRole, SharingPolicy, Store, Tier,
    on_both_backends,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const VENDOR: &str = include_str!("../../../../samples/vendor-salesforce.csv");

const NORTHWIND: &str = "0015g00000NWTRdAAF";
const FABRIKAM: &str = "0015g00000FBRKmAAC";
const DELTA: &str = "0015g00000DLTAfAAD";
const SOCIETE: &str = "0015g00000SGEQpAAF";

on_both_backends!(
    a_correction_takes_effect_at_once_and_is_undone,
    corrections_are_refused_with_what_to_fix,
    another_organisation_reaches_no_correction,
);

struct Client {
    app: Router,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request =
            Request::builder().method(method).uri(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        if !status.is_success() {
            assert!(problem, "errors are problem+json: {status} {value}");
        }
        (status, value)
    }

    async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", uri, token, None, None).await
    }

    async fn post(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", "/api/v1/corrections", token, Some(body), None).await
    }
}

/// An organisation with an admin, a rep and an integration user: its id and their tokens.
async fn org(store: &Store, name: &str) -> (OrgId, [String; 3]) {
    let org = store.create_organisation(name).await.unwrap();
    let mut tokens = Vec::new();
    for (user, role) in [("ada", Role::Admin), ("rex", Role::Rep), ("bot", Role::Integration)] {
        let user = store.create_user(&org.id, user, role).await.unwrap();
        tokens.push(store.issue_token(&org.id, &user.id, "test").await.unwrap().1.expose().to_owned());
    }
    (org.id, tokens.try_into().unwrap())
}

fn overlap(account: &str, own: &str, partner: &str, record: u32, key_types: &[&str], tier: Tier) -> RunOverlap {
    RunOverlap {
        account_id: account.into(),
        own_segment: own.into(),
        partner_segment: partner.into(),
        partner_record: Some(record),
        key_types: key_types.iter().map(|k| (*k).to_owned()).collect(),
        tier,
        reason: format!("{tier}: test"),
        fields: Default::default(),
    }
}

/// The vendor's side of a match with Partner, as its node stores one: the vendor sample as its
/// active dataset, and a complete run in which Northwind matches two of the partner's records
/// (one on the domain, one on the name only), Fabrikam one on the name only, Delta one on the
/// domain and the name. Its organisation, tokens, partnership and run.
async fn vendor_with_a_match(store: &Store) -> (OrgId, [String; 3], PartnershipId, RunId) {
    let (vendor, tokens) = org(store, "Vendor").await;
    let importer = blindmap_records::Importer::new(
        "v.csv",
        std::io::Cursor::new(VENDOR.as_bytes().to_vec()),
        &blindmap_records::Preset::Salesforce.mapping(),
    )
    .unwrap();
    let dataset: DatasetId = store.import_dataset(&vendor, "v.csv", "salesforce", importer).await.unwrap().id;
    let pid = PartnershipId::generate();
    store.create_partnership(&pid, &vendor, "Partner", "https://p", "sha256:aa", "pt_ref").await.unwrap();
    let id = RunId::generate();
    let run = NewRun {
        id: &id,
        org: &vendor,
        partnership: &pid,
        role: RunRole::Initiator,
        dataset: &dataset,
        started_by: "ada",
        sharing: &SharingPolicy::default(),
    };
    store.start_run(&run).await.unwrap();
    let completion = Completion {
        result: json!({ "rows": ["customers", "prospects"], "columns": [{ "segment": "customers", "records": 9 },
            { "segment": "prospects", "records": 9 }],
            "cells": [[{ "shown": "2", "level": "overlaps", "count": 2 }, { "shown": "1", "level": "overlaps", "count": 1 }],
                      [{ "shown": "1", "level": "overlaps", "count": 1 }, { "shown": "0", "level": "overlaps", "count": 0 }]],
            "pairs": 4, "overlapping_accounts": 3 }),
        overlaps: vec![
            overlap(NORTHWIND, "customers", "customers", 0, &["domain"], Tier::Confirmed),
            overlap(NORTHWIND, "customers", "prospects", 1, &["name_country"], Tier::Possible),
            overlap(FABRIKAM, "customers", "customers", 2, &["name_country"], Tier::Possible),
            overlap(DELTA, "prospects", "customers", 3, &["domain", "name_country"], Tier::Confirmed),
        ],
        transcript: None,
        audit: vec![],
        records: 10,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    store.complete_run(&vendor, &id, &completion).await.unwrap();
    (vendor, tokens, pid, id)
}

/// `(account, partner segment)` of every item of a listing.
fn pairs(listing: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["account_id"].as_str().unwrap().to_owned(), i["partner_segment"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pair(account: &str, segment: &str) -> (String, String) {
    (account.to_owned(), segment.to_owned())
}

/// Every listing of the match's overlaps: the report, the run's overlaps, the latest overlaps.
async fn listings(api: &Client, token: &str, pid: &PartnershipId, run: &RunId) -> [Vec<(String, String)>; 3] {
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/reports/overlaps?partnership={pid}"),
        format!("/api/v1/runs/{run}/overlaps"),
        format!("/api/v1/overlaps?partnership={pid}"),
    ] {
        let (status, listing) = api.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {listing}");
        if let Some(total) = listing["total"].as_u64() {
            assert_eq!(
                total,
                listing["items"].as_array().unwrap().len() as u64,
                "{path}: the total counts what is listed"
            );
        }
        out.push(pairs(&listing));
    }
    out.try_into().unwrap()
}

async fn a_correction_takes_effect_at_once_and_is_undone(store: Store) {
    let (_, [admin, rep, bot], pid, run) = vendor_with_a_match(&store).await;
    let api = Client { app: app(store.clone(), Limits::default()) };
    let everything = vec![
        pair(DELTA, "customers"),
        pair(FABRIKAM, "customers"),
        pair(NORTHWIND, "customers"),
        pair(NORTHWIND, "prospects"),
    ];
    assert_eq!(listings(&api, &rep, &pid, &run).await, [everything.clone(), everything.clone(), everything.clone()]);

    // A rep says Northwind's name-only match is wrong: gone from every listing at once; its
    // domain match stays.
    let wrong = json!({ "partnership": pid.as_str(), "account_id": NORTHWIND, "kind": "not_this_match",
        "key_types": ["name_country"], "note": "a namesake in Seattle" });
    let (status, made) = api.post(&rep, wrong.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("mc_"), "{made}");
    assert_eq!(
        (&made["account"], &made["partner"], &made["kind"], &made["created_by"], &made["note"]),
        (
            &json!("Northwind Traders Inc."),
            &json!("Partner"),
            &json!("not_this_match"),
            &json!("rex"),
            &json!("a namesake in Seattle")
        )
    );
    assert_eq!(made["key_types"], json!(["name_country"]));
    assert!(made["created_at"].is_i64() && made.get("removed_at").is_none(), "{made}");
    let without_northwind_by_name =
        vec![pair(DELTA, "customers"), pair(FABRIKAM, "customers"), pair(NORTHWIND, "customers")];
    let shown = listings(&api, &rep, &pid, &run).await;
    assert_eq!(
        shown,
        [without_northwind_by_name.clone(), without_northwind_by_name.clone(), without_northwind_by_name]
    );
    // Of the possible matches, Fabrikam's is left.
    let (_, report) = api.get(&format!("/api/v1/reports/overlaps?partnership={pid}&tier=possible"), &rep).await;
    assert_eq!(pairs(&report), [pair(FABRIKAM, "customers")]);

    // The same again: the correction already made, not a second one.
    let (status, again) = api.post(&rep, wrong).await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::CREATED, Some(id.as_str())));

    // Never match Fabrikam, with an Idempotency-Key: a retry answers the same; the key with
    // another request is a conflict.
    let never = json!({ "partnership": pid.as_str(), "account_id": FABRIKAM, "kind": "never_match" });
    let (status, first) = api.call("POST", "/api/v1/corrections", &admin, Some(never.clone()), Some("k1")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, replay) = api.call("POST", "/api/v1/corrections", &admin, Some(never), Some("k1")).await;
    assert_eq!((status, replay), (StatusCode::CREATED, first.clone()));
    let other = json!({ "partnership": pid.as_str(), "account_id": DELTA, "kind": "never_match" });
    let (status, _) = api.call("POST", "/api/v1/corrections", &admin, Some(other), Some("k1")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(first["key_types"], json!([]));
    let shown = listings(&api, &rep, &pid, &run).await;
    assert_eq!(shown[0], [pair(DELTA, "customers"), pair(NORTHWIND, "customers")]);

    // Listed newest first, with names, in pages; one by one.
    let (status, list) = api.get(&format!("/api/v1/corrections?partnership={pid}"), &bot).await;
    assert_eq!(status, StatusCode::OK, "integrations read them: {list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!((&items[0]["id"], &items[0]["account"]), (&first["id"], &json!("Fabrikam Robotics GmbH")));
    let (_, page) = api.get("/api/v1/corrections?limit=1", &rep).await;
    let next = page["next"].as_str().expect("a next page");
    let (_, rest) = api.get(&format!("/api/v1/corrections?limit=1&cursor={next}"), &rep).await;
    assert_eq!(rest["items"][0]["id"], json!(id));
    let (_, last) =
        api.get(&format!("/api/v1/corrections?limit=1&cursor={}", rest["next"].as_str().unwrap()), &rep).await;
    assert_eq!((last["items"].as_array().unwrap().len(), last.get("next")), (0, None), "{last}");
    let (status, one) = api.get(&format!("/api/v1/corrections/{id}"), &rep).await;
    assert_eq!((status, &one["account_id"]), (StatusCode::OK, &json!(NORTHWIND)));
    let (status, _) = api.get("/api/v1/corrections?cursor=bogus", &rep).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Integrations neither make nor remove corrections.
    let by_bot = json!({ "partnership": pid.as_str(), "account_id": DELTA, "kind": "never_match" });
    assert_eq!(api.post(&bot, by_bot).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/corrections/{id}"), &bot, None, None).await.0,
        StatusCode::FORBIDDEN
    );

    // Undone: the match shows again at once; the correction is kept, with who and when.
    let (status, removed) = api.call("DELETE", &format!("/api/v1/corrections/{id}"), &rep, None, None).await;
    assert_eq!((status, &removed["removed_by"]), (StatusCode::OK, &json!("rex")), "{removed}");
    assert!(removed["removed_at"].is_i64());
    let shown = listings(&api, &rep, &pid, &run).await;
    assert_eq!(shown[0], [pair(DELTA, "customers"), pair(NORTHWIND, "customers"), pair(NORTHWIND, "prospects")]);
    let (status, twice) = api.call("DELETE", &format!("/api/v1/corrections/{id}"), &admin, None, None).await;
    assert_eq!((status, &twice["removed_by"]), (StatusCode::OK, &json!("rex")), "removed once");
    let (_, list) = api.get("/api/v1/corrections", &rep).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "the list has the active ones");
    let (status, kept) = api.get(&format!("/api/v1/corrections/{id}"), &rep).await;
    assert_eq!((status, &kept["removed_by"]), (StatusCode::OK, &json!("rex")));

    // The audit trail has each.
    let (_, trail) = api.get("/api/v1/audit", &admin).await;
    let kinds: Vec<&str> = trail["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "match.corrected").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "match.correction_removed").count(), 1, "{kinds:?}");
}

async fn corrections_are_refused_with_what_to_fix(store: Store) {
    let (vendor, [_, rep, _], pid, _) = vendor_with_a_match(&store).await;
    let api = Client { app: app(store.clone(), Limits::default()) };
    let p = pid.as_str();
    for (body, status, says) in [
        (json!({ "partnership": p, "account_id": NORTHWIND, "kind": "not_this_match" }), 422, "needs key_types"),
        (
            json!({ "partnership": p, "account_id": NORTHWIND, "kind": "never_match", "key_types": ["domain"] }),
            422,
            "takes no key_types",
        ),
        (json!({ "partnership": p, "account_id": NORTHWIND, "kind": "wrong" }), 422, "kind is"),
        (
            json!({ "partnership": p, "account_id": NORTHWIND, "kind": "not_this_match", "key_types": ["Domain"] }),
            422,
            "not a key type",
        ),
        (json!({ "partnership": p, "account_id": "nobody", "kind": "never_match" }), 422, "active dataset"),
        (json!({ "partnership": p, "account_id": "", "kind": "never_match" }), 422, "account_id is 1 to"),
        (
            json!({ "partnership": p, "account_id": NORTHWIND, "kind": "never_match", "note": "x".repeat(1001) }),
            422,
            "note is at most",
        ),
        (json!({ "partnership": p, "account_id": NORTHWIND }), 422, "missing field"),
        // In the dataset, but not in the match.
        (json!({ "partnership": p, "account_id": SOCIETE, "kind": "never_match" }), 404, "no such overlap"),
        // In the match, but not on those key types.
        (
            json!({ "partnership": p, "account_id": NORTHWIND, "kind": "not_this_match", "key_types": ["duns"] }),
            404,
            "those key types",
        ),
        (
            json!({ "partnership": format!("pt_{}", "0".repeat(32)), "account_id": NORTHWIND, "kind": "never_match" }),
            404,
            "no such partnership",
        ),
        (json!({ "partnership": "nope", "account_id": NORTHWIND, "kind": "never_match" }), 404, "no such partnership"),
    ] {
        let (got, problem) = api.post(&rep, body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(says), "{body}: {problem}");
    }
    // A partnership with no complete match yet.
    let fresh = PartnershipId::generate();
    store.create_partnership(&fresh, &vendor, "Newcomer", "https://n", "sha256:bb", "pt_new").await.unwrap();
    let (status, problem) =
        api.post(&rep, json!({ "partnership": fresh.as_str(), "account_id": NORTHWIND, "kind": "never_match" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("complete match"), "{problem}");
    assert_eq!(blindmap_store::testing::count_rows(&store, "match_corrections").await, 0, "nothing was made");
    for path in ["/api/v1/corrections/mc_nope", "/api/v1/corrections?partnership=pt_nope"] {
        assert_eq!(api.get(path, &rep).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

async fn another_organisation_reaches_no_correction(store: Store) {
    let (_, [_, rep, _], pid, run) = vendor_with_a_match(&store).await;
    let (_, [stranger_admin, stranger_rep, _]) = org(&store, "Stranger").await;
    let api = Client { app: app(store.clone(), Limits::default()) };
    let never = json!({ "partnership": pid.as_str(), "account_id": FABRIKAM, "kind": "never_match" });
    let (_, made) = api.post(&rep, never.clone()).await;
    let id = made["id"].as_str().unwrap().to_owned();
    let before = listings(&api, &rep, &pid, &run).await;

    for token in [&stranger_admin, &stranger_rep] {
        // Making one in the vendor's partnership, on its account.
        let (status, problem) = api.post(token, never.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        let wrong = json!({ "partnership": pid.as_str(), "account_id": NORTHWIND, "kind": "not_this_match",
            "key_types": ["domain"] });
        assert_eq!(api.post(token, wrong).await.0, StatusCode::NOT_FOUND);
        // Reading, listing by the vendor's partnership, removing.
        assert_eq!(api.get(&format!("/api/v1/corrections/{id}"), token).await.0, StatusCode::NOT_FOUND);
        assert_eq!(api.get(&format!("/api/v1/corrections?partnership={pid}"), token).await.0, StatusCode::NOT_FOUND);
        let (status, list) = api.get("/api/v1/corrections", token).await;
        assert_eq!((status, list["items"].as_array().unwrap().len()), (StatusCode::OK, 0));
        let (status, _) = api.call("DELETE", &format!("/api/v1/corrections/{id}"), token, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Nothing changed for the vendor.
    let (status, still) = api.get(&format!("/api/v1/corrections/{id}"), &rep).await;
    assert_eq!(status, StatusCode::OK);
    assert!(still.get("removed_at").is_none(), "{still}");
    assert_eq!(listings(&api, &rep, &pid, &run).await, before);
    assert_eq!(blindmap_store::testing::count_rows(&store, "match_corrections").await, 1);
}

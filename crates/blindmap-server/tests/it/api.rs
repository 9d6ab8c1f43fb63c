//! The matching API through its router (`tower::ServiceExt::oneshot`), on both store backends:
//! authentication, roles, organisation isolation, uploads (all or nothing, idempotent),
//! pagination, problem+json errors, and the OpenAPI document.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use blindmap_server::{Limits, app};
use blindmap_store::{
    Completion, DatasetId, NewRun, PartnershipId, Role, RunId, RunOverlap, RunRole, SharingPolicy, Store,
    on_both_backends,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use std::time::Duration;

const VENDOR: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER: &str = include_str!("../../../../samples/partner-hubspot.csv");

on_both_backends!(
    tokens_authenticate_and_roles_limit,
    uploads_import_whole_or_not_at_all,
    idempotent_uploads_act_once,
    a_key_whose_request_died_is_released,
    datasets_are_chosen_and_deleted_by_admins_of_their_organisation,
    sharing_policies_are_checked_when_saved,
    organisations_never_see_each_other,
    lists_page_with_cursors,
    runs_belong_to_their_organisation,
    admins_manage_users_and_tokens,
    admins_disable_enable_and_remove_users,
    bodies_are_limited_by_the_configured_size_only,
    nul_is_refused_before_any_store_sees_it,
);

struct Client {
    app: Router,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.app.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
        let status = response.status();
        let problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        if !status.is_success() {
            assert!(problem, "errors are problem+json: {status} {value}");
            assert_eq!(value["status"], status.as_u16(), "{value}");
        }
        (status, value)
    }
}

/// An organisation with an admin, a rep and an integration token.
async fn org(store: &Store, name: &str) -> [String; 3] {
    let org = store.create_organisation(name).await.unwrap();
    let mut tokens = Vec::new();
    for (user, role) in [("ada", Role::Admin), ("rex", Role::Rep), ("bot", Role::Integration)] {
        let user = store.create_user(&org.id, user, role).await.unwrap();
        tokens.push(store.issue_token(&org.id, &user.id, "test").await.unwrap().1.expose().to_owned());
    }
    tokens.try_into().unwrap()
}

fn client(store: Store) -> Client {
    Client { app: app(store, Limits::default()) }
}

async fn tokens_authenticate_and_roles_limit(store: Store) {
    let [admin, rep, _] = org(&store, "Vendor").await;
    let api = client(store);
    let (status, me) = api.call("GET", "/api/v1/me", Some(&admin), "", &[]).await;
    assert_eq!((status, me["user"].as_str(), me["role"].as_str()), (StatusCode::OK, Some("ada"), Some("admin")));
    assert_eq!(api.call("GET", "/api/v1/me", None, "", &[]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.call("GET", "/api/v1/me", Some("bm_forged"), "", &[]).await.0, StatusCode::UNAUTHORIZED);
    // A rep reads but neither uploads nor reads the audit trail.
    let (status, problem) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&rep), VENDOR, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(api.call("GET", "/api/v1/audit", Some(&rep), "", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.call("GET", "/api/v1/datasets", Some(&rep), "", &[]).await.0, StatusCode::OK);
    // Only admins decide on registrations and set their rules; reps read them.
    let approve = api.call("POST", "/api/v1/registrations/rg_x/approve", Some(&rep), "", &[]).await;
    assert_eq!(approve.0, StatusCode::FORBIDDEN);
    let json = [("content-type", "application/json")];
    let settings = api.call("PUT", "/api/v1/registrations/settings", Some(&rep), "{}", &json).await;
    assert_eq!(settings.0, StatusCode::FORBIDDEN);
    let (status, settings) = api.call("GET", "/api/v1/registrations/settings", Some(&rep), "", &[]).await;
    assert_eq!((status, settings["protection_days"].as_u64()), (StatusCode::OK, Some(90)));
    let bad = r#"{"protection_days": 0}"#;
    let refused = api.call("PUT", "/api/v1/registrations/settings", Some(&admin), bad, &json).await;
    assert_eq!(refused.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.1);
    let (status, _) = api.call("GET", "/api/v1/registrations/rg_missing", Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The OpenAPI document needs no token and lists the routes.
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None, "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let documented: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        documented,
        [
            "/api/v1/accounts/{id}/partners",
            "/api/v1/alerts/channels",
            "/api/v1/alerts/channels/{id}",
            "/api/v1/alerts/channels/{id}/test",
            "/api/v1/alerts/messages",
            "/api/v1/alerts/messages/{id}",
            "/api/v1/alerts/rules",
            "/api/v1/alerts/rules/{id}",
            "/api/v1/attribution/inbound/{source}",
            "/api/v1/attribution/ledger",
            "/api/v1/attribution/opportunities/{opportunity}",
            "/api/v1/attribution/opportunities/{opportunity}/close",
            "/api/v1/attribution/opportunities/{opportunity}/score",
            "/api/v1/attribution/pipeline",
            "/api/v1/attribution/settings",
            "/api/v1/attribution/sources",
            "/api/v1/attribution/touches",
            "/api/v1/audit",
            "/api/v1/changes",
            "/api/v1/connections",
            "/api/v1/connections/authorize",
            "/api/v1/connections/{id}",
            "/api/v1/connections/{id}/syncs",
            "/api/v1/connections/{id}/syncs/{sync}",
            "/api/v1/connections/{id}/writebacks",
            "/api/v1/connections/{id}/writebacks/{writeback}",
            "/api/v1/corrections",
            "/api/v1/corrections/{id}",
            "/api/v1/cosell",
            "/api/v1/cosell/{id}",
            "/api/v1/cosell/{id}/edits",
            "/api/v1/datasets",
            "/api/v1/datasets/{id}",
            "/api/v1/datasets/{id}/activate",
            "/api/v1/ecosystem",
            "/api/v1/events",
            "/api/v1/hooks",
            "/api/v1/hooks/{id}/deliveries",
            "/api/v1/hooks/{id}/disable",
            "/api/v1/hooks/{id}/enable",
            "/api/v1/hooks/{id}/test",
            "/api/v1/jobs",
            "/api/v1/me",
            "/api/v1/me/sessions",
            "/api/v1/overlaps",
            "/api/v1/partnerships",
            "/api/v1/partnerships/browser",
            "/api/v1/partnerships/invites",
            "/api/v1/partnerships/{id}/budget",
            "/api/v1/partnerships/{id}/end",
            "/api/v1/partnerships/{id}/link",
            "/api/v1/partnerships/{id}/schedule",
            "/api/v1/partnerships/{id}/sharing",
            "/api/v1/refusals",
            "/api/v1/registrations",
            "/api/v1/registrations/precheck",
            "/api/v1/registrations/settings",
            "/api/v1/registrations/{id}",
            "/api/v1/registrations/{id}/approve",
            "/api/v1/registrations/{id}/close",
            "/api/v1/registrations/{id}/extend",
            "/api/v1/registrations/{id}/reject",
            "/api/v1/reports/overlaps",
            "/api/v1/retention",
            "/api/v1/runs",
            "/api/v1/runs/{id}",
            "/api/v1/runs/{id}/changes",
            "/api/v1/runs/{id}/overlaps",
            "/api/v1/runs/{id}/transcript",
            "/api/v1/segments",
            "/api/v1/sso",
            "/api/v1/tokens/{id}",
            "/api/v1/users",
            "/api/v1/users/{id}",
            "/api/v1/users/{id}/disable",
            "/api/v1/users/{id}/enable",
            "/api/v1/users/{id}/role",
            "/api/v1/users/{id}/sessions",
            "/api/v1/users/{id}/signin-link",
            "/api/v1/users/{id}/tokens",
        ],
        "every route of the API is documented"
    );
    the_document_states_the_contract(&doc);
}

/// What every operation of the served document must say, so that a route added without it fails
/// here: every response described; behind a token, 401 (with its challenge) and 429; 503 with
/// `Retry-After`; 400 for query parameters, 413 for bodies, 422 for a `limit` (1 to 1000); every
/// reference resolves,
/// every pattern compiles, no query parameter is nullable, and schema names are not reused.
fn the_document_states_the_contract(doc: &Value) {
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    let mut patterns = Vec::new();
    walk(doc, &mut refs, &mut patterns);
    for reference in refs {
        let name = reference.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{reference}"));
        assert!(schemas.contains_key(name), "{reference} resolves");
    }
    for pattern in patterns {
        regex::Regex::new(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let at = format!("{} {path}", method.to_uppercase());
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                let described = response["description"].as_str().is_some_and(|d| !d.trim().is_empty());
                assert!(described, "{at} {status} has a description");
            }
            let has = |status: &str| responses.contains_key(status);
            let needs_token =
                operation.get("security").is_none_or(|s| s.as_array().unwrap().iter().any(|r| r != &json!({})));
            if needs_token {
                assert!(has("401") && has("429"), "{at} documents 401 and 429");
                assert!(
                    responses["401"]["headers"].get("WWW-Authenticate").is_some(),
                    "{at}: 401 says how to authenticate"
                );
                assert!(responses["429"]["headers"].get("Retry-After").is_some(), "{at}: 429 says when to ask again");
            }
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            let query: Vec<&Value> = parameters.iter().filter(|p| p["in"] == "query").collect();
            if !query.is_empty() {
                assert!(has("400"), "{at} documents 400 for its query");
            }
            for parameter in &query {
                assert!(
                    !parameter["schema"].to_string().contains("\"null\""),
                    "{at}: {} is not nullable",
                    parameter["name"]
                );
            }
            if let Some(limit) = query.iter().find(|p| p["name"] == "limit") {
                assert_eq!(
                    (limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()),
                    (Some(1), Some(1000))
                );
                assert!(has("422"), "{at} documents 422 for a limit out of range");
            }
            if operation.get("requestBody").is_some() {
                assert!(has("413"), "{at} documents 413");
            }
            assert!(
                responses["503"]["headers"].get("Retry-After").is_some(),
                "{at}: 503 (a busy store) says when to ask again"
            );
        }
    }
    assert!(operations >= 56, "{operations} operations");
    // Two body types once shared the name `CloseBody`; each now has its own.
    assert!(schemas.contains_key("OpportunityClose") && schemas.contains_key("RegistrationClose"));
    assert!(!schemas.contains_key("CloseBody"));
}

/// Every `$ref` and every `pattern` under `value`.
fn walk(value: &Value, refs: &mut Vec<String>, patterns: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("$ref", Value::String(r)) => refs.push(r.clone()),
                    ("pattern", Value::String(p)) => patterns.push(p.clone()),
                    _ => walk(field, refs, patterns),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(item, refs, patterns)),
        _ => {}
    }
}

async fn uploads_import_whole_or_not_at_all(store: Store) {
    let [admin, _, bot] = org(&store, "Vendor").await;
    let api = client(store);
    let (status, dataset) = api.call("POST", "/api/v1/datasets?name=vendor.csv", Some(&bot), VENDOR, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{dataset}");
    assert_eq!((dataset["read_as"].as_str(), dataset["accounts"].as_u64()), (Some("salesforce"), Some(36)));
    let id = dataset["id"].as_str().unwrap();
    let (status, fetched) = api.call("GET", &format!("/api/v1/datasets/{id}"), Some(&admin), "", &[]).await;
    assert_eq!((status, &fetched), (StatusCode::OK, &dataset));

    // A stray quote: refused with the place, and nothing stored.
    let broken = VENDOR.replacen("Delta Inc", "Delta 12\" Inc", 1);
    let (status, problem) = api.call("POST", "/api/v1/datasets?name=broken.csv", Some(&bot), &broken, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("broken.csv, line 5") && detail.contains("quote"), "{detail}");
    let (_, list) = api.call("GET", "/api/v1/datasets", Some(&admin), "", &[]).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, trail) = api.call("GET", "/api/v1/audit", Some(&admin), "", &[]).await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 1, "only the good import is audited: {trail}");
    assert_eq!(trail["items"][0]["kind"], "dataset.imported");

    // A preset is one of the three names, as the query parameter's schema says.
    let (status, _) = api.call("POST", "/api/v1/datasets?name=x.csv&preset=pipedrive", Some(&bot), VENDOR, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.call("POST", "/api/v1/datasets?name=x.csv&preset=Salesforce", Some(&bot), VENDOR, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.call("GET", "/api/v1/datasets/ds_nonsense", Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn idempotent_uploads_act_once(store: Store) {
    let [admin, _, bot] = org(&store, "Vendor").await;
    let api = client(store);
    let key = [("idempotency-key", "upload-1")];
    let (first_status, first) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&bot), VENDOR, &key).await;
    let (again_status, again) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&bot), VENDOR, &key).await;
    assert_eq!((first_status, again_status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first, again, "the retry replays the first response");
    let (_, list) = api.call("GET", "/api/v1/datasets", Some(&admin), "", &[]).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "and imports nothing twice");
    let (status, _) = api.call("POST", "/api/v1/datasets?name=other.csv", Some(&bot), PARTNER, &key).await;
    assert_eq!(status, StatusCode::CONFLICT, "a key is bound to its request");
    // A failed request gives its key back.
    let (status, _) =
        api.call("POST", "/api/v1/datasets?name=e.csv", Some(&bot), "", &[("idempotency-key", "k2")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        api.call("POST", "/api/v1/datasets?name=e.csv", Some(&bot), VENDOR, &[("idempotency-key", "k2")]).await;
    assert_eq!(status, StatusCode::CREATED, "the released key serves the corrected retry");
}

async fn a_key_whose_request_died_is_released(store: Store) {
    let [admin, _, bot] = org(&store, "Vendor").await;
    let org_id = store.authenticate(&admin).await.unwrap().unwrap().user.org;
    // An export large enough that its import is still running when the client gives up.
    let mut csv = String::from("id,segment,domain\n");
    for i in 0..200_000 {
        csv.push_str(&format!("account-{i:08},customers,company-{i:08}-large.com\n"));
    }
    let api = client(store.clone());
    let key = [("idempotency-key", "big-1")];
    let upload = api.call("POST", "/api/v1/datasets?name=big.csv", Some(&bot), &csv, &key);
    assert!(tokio::time::timeout(Duration::from_millis(300), upload).await.is_err(), "the client gave up first");
    // The import goes on without its client; a retry meanwhile is told when to come back.
    let request = Request::post("/api/v1/datasets?name=big.csv")
        .header(header::AUTHORIZATION, format!("Bearer {bot}"))
        .header("idempotency-key", "big-1")
        .body(Body::from(csv.clone()))
        .unwrap();
    let response = api.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    // Then the retry gets the import the first request made, once.
    let dataset = loop {
        let (status, body) = api.call("POST", "/api/v1/datasets?name=big.csv", Some(&bot), &csv, &key).await;
        if status == StatusCode::CREATED {
            break body;
        }
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(dataset["accounts"].as_u64(), Some(200_000), "{dataset}");
    let (_, list) = api.call("GET", "/api/v1/datasets", Some(&admin), "", &[]).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "imported once");

    // A key whose holder stopped renewing it (its node died) lapses, and the retry runs.
    let small = "id,segment,domain\na1,customers,acme-widgets.com\n";
    let crashed = [("idempotency-key", "crashed-1")];
    let (status, _) = api.call("POST", "/api/v1/datasets?name=s.csv", Some(&bot), small, &crashed).await;
    assert_eq!(status, StatusCode::CREATED);
    blindmap_store::testing::unfinish_idempotency_key(&store, &org_id, "crashed-1").await;
    let (status, _) = api.call("POST", "/api/v1/datasets?name=s.csv", Some(&bot), small, &crashed).await;
    assert_eq!(status, StatusCode::CONFLICT, "held while its lease lasts");
    blindmap_store::testing::age_idempotency_lease(
        &store,
        &org_id,
        "crashed-1",
        blindmap_store::IDEMPOTENCY_LEASE_MS + 1,
    )
    .await;
    let (status, body) = api.call("POST", "/api/v1/datasets?name=s.csv", Some(&bot), small, &crashed).await;
    assert_eq!((status, body["accounts"].as_u64()), (StatusCode::CREATED, Some(1)), "{body}");
}

async fn datasets_are_chosen_and_deleted_by_admins_of_their_organisation(store: Store) {
    let [admin, rep, bot] = org(&store, "Vendor").await;
    let [other_admin, _, _] = org(&store, "Other").await;
    let api = client(store);
    let (_, first) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&bot), VENDOR, &[]).await;
    assert_eq!(first["active"], true, "the first import is active");
    let (_, stray) = api.call("POST", "/api/v1/datasets?name=p.csv", Some(&bot), PARTNER, &[]).await;
    assert_eq!(stray["active"], false, "a stray upload does not become what runs match");
    let (_, segments) = api.call("GET", "/api/v1/segments", Some(&admin), "", &[]).await;
    assert_eq!(segments["dataset"], first["id"], "segments are the active dataset's");
    let (first_id, stray_id) = (first["id"].as_str().unwrap(), stray["id"].as_str().unwrap());
    let activate = |id: &str| format!("/api/v1/datasets/{id}/activate");
    assert_eq!(api.call("POST", &activate(stray_id), Some(&rep), "", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.call("POST", &activate(stray_id), Some(&other_admin), "", &[]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.call("POST", &activate(stray_id), None, "", &[]).await.0, StatusCode::UNAUTHORIZED);
    let (status, chosen) = api.call("POST", &activate(stray_id), Some(&bot), "", &[]).await;
    assert_eq!((status, &chosen["active"]), (StatusCode::OK, &serde_json::json!(true)));
    let (_, list) = api.call("GET", "/api/v1/datasets", Some(&admin), "", &[]).await;
    let flags: Vec<(&str, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [(stray_id, true), (first_id, false)]);
    // Deleting: admins only, never the active one, never another organisation's.
    let delete = |id: &str| format!("/api/v1/datasets/{id}");
    assert_eq!(api.call("DELETE", &delete(first_id), Some(&bot), "", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.call("DELETE", &delete(first_id), Some(&other_admin), "", &[]).await.0, StatusCode::NOT_FOUND);
    let (status, problem) = api.call("DELETE", &delete(stray_id), Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, deleted) = api.call("DELETE", &delete(first_id), Some(&admin), "", &[]).await;
    assert_eq!((status, deleted["runs"].as_u64()), (StatusCode::OK, Some(0)), "{deleted}");
    assert_eq!(api.call("GET", &delete(first_id), Some(&admin), "", &[]).await.0, StatusCode::NOT_FOUND);
    let (_, trail) = api.call("GET", "/api/v1/audit", Some(&admin), "", &[]).await;
    let kinds: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.starts_with(&["dataset.deleted", "dataset.activated"]), "{kinds:?}");
}

async fn sharing_policies_are_checked_when_saved(store: Store) {
    let [admin, _, _] = org(&store, "Vendor").await;
    let org_id = store.authenticate(&admin).await.unwrap().unwrap().user.org;
    let p = store
        .create_partnership(&PartnershipId::generate(), &org_id, "Partner", "https://p.example", "sha256:aa", "pt_ref")
        .await
        .unwrap();
    let api = client(store);
    let path = format!("/api/v1/partnerships/{}/sharing", p.id);
    let json = [("content-type", "application/json")];
    let good = r#"{"rules": [{"own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["owner"]}],
        "threshold": 3, "min_partner_segment": 2}"#;
    assert_eq!(api.call("PUT", &path, Some(&admin), good, &json).await.0, StatusCode::OK);
    // A field name no run could use (it would fail every run, both ways): refused, nothing saved.
    for bad in [
        r#"{"rules": [{"own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["Owner Name"]}],
            "threshold": 1, "min_partner_segment": 1}"#,
        r#"{"rules": [{"own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["owner;drop"]}],
            "threshold": 1, "min_partner_segment": 1}"#,
    ] {
        let (status, problem) = api.call("PUT", &path, Some(&admin), bad, &json).await;
        assert!(matches!(status.as_u16(), 400 | 422), "{status} {problem}");
    }
    let (_, saved) = api.call("GET", &path, Some(&admin), "", &[]).await;
    assert_eq!((saved["threshold"].as_u64(), saved["rules"][0]["fields"][0].as_str()), (Some(3), Some("owner")));
}

async fn organisations_never_see_each_other(store: Store) {
    let [vendor_admin, _, vendor_bot] = org(&store, "Vendor").await;
    let [partner_admin, _, _] = org(&store, "Partner").await;
    let api = client(store);
    let (_, dataset) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&vendor_bot), VENDOR, &[]).await;
    let id = dataset["id"].as_str().unwrap();
    let (status, _) = api.call("GET", &format!("/api/v1/datasets/{id}"), Some(&partner_admin), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organisation's dataset does not exist for it");
    let (_, list) = api.call("GET", "/api/v1/datasets", Some(&partner_admin), "", &[]).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (_, trail) = api.call("GET", "/api/v1/audit", Some(&partner_admin), "", &[]).await;
    assert!(trail["items"].as_array().unwrap().is_empty());
    let (_, own) = api.call("GET", "/api/v1/datasets", Some(&vendor_admin), "", &[]).await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let (_, segments) = api.call("GET", "/api/v1/segments", Some(&vendor_admin), "", &[]).await;
    assert_eq!(segments["items"][0], serde_json::json!({ "label": "customers", "accounts": 16 }));
    let (status, _) = api.call("GET", "/api/v1/segments", Some(&partner_admin), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no dataset, no segments");
    // A cursor naming another organisation's dataset pages nothing of it.
    let (status, page) = api.call("GET", &format!("/api/v1/datasets?cursor={id}"), Some(&partner_admin), "", &[]).await;
    assert_eq!((status, page["items"].as_array().unwrap().len()), (StatusCode::OK, 0));
}

/// Every item of a list, `limit` at a time, following the cursors; `field` of each.
async fn every_page(api: &Client, token: &str, path: &str, field: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let uri = if cursor.is_empty() { format!("{path}?limit=2") } else { format!("{path}?limit=2&cursor={cursor}") };
        let (status, page) = api.call("GET", &uri, Some(token), "", &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(page["items"].as_array().unwrap().iter().map(|d| d[field].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return seen,
        }
    }
}

async fn lists_page_with_cursors(store: Store) {
    let [admin, _, bot] = org(&store, "Vendor").await;
    let vendor = store.organisation_by_name("Vendor").await.unwrap().unwrap().id;
    for name in ["Echo", "Alpha", "Delta", "Bravo", "Charlie"] {
        let id = PartnershipId::generate();
        store.create_partnership(&id, &vendor, name, "https://p", "sha256:aa", "pt_ref").await.unwrap();
        store.create_user(&vendor, &name.to_lowercase(), Role::Rep).await.unwrap();
    }
    let api = client(store);
    for i in 0..5 {
        let (status, _) = api.call("POST", &format!("/api/v1/datasets?name=v{i}.csv"), Some(&bot), VENDOR, &[]).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = every_page(&api, &admin, "/api/v1/datasets", "name").await;
    seen.sort();
    assert_eq!(seen, ["v0.csv", "v1.csv", "v2.csv", "v3.csv", "v4.csv"], "every dataset once");
    let partners = every_page(&api, &admin, "/api/v1/partnerships", "partner").await;
    assert_eq!(partners, ["Alpha", "Bravo", "Charlie", "Delta", "Echo"], "by name, each once");
    let users = every_page(&api, &admin, "/api/v1/users", "name").await;
    assert_eq!(users, ["ada", "alpha", "bot", "bravo", "charlie", "delta", "echo", "rex"]);
    assert_eq!(
        api.call("GET", "/api/v1/datasets?limit=0", Some(&admin), "", &[]).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, trail) = api.call("GET", "/api/v1/audit?limit=3", Some(&admin), "", &[]).await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 3);
    let next = trail["next"].as_str().unwrap();
    let (_, rest) = api.call("GET", &format!("/api/v1/audit?limit=3&cursor={next}"), Some(&admin), "", &[]).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
}

async fn runs_belong_to_their_organisation(store: Store) {
    let [vendor_admin, vendor_rep, vendor_bot] = org(&store, "Vendor").await;
    let [partner_admin, _, _] = org(&store, "Partner").await;
    let vendor = store.organisation_by_name("Vendor").await.unwrap().unwrap().id;
    let api = client(store.clone());
    let (_, dataset) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&vendor_bot), VENDOR, &[]).await;
    let dataset = DatasetId::parse(dataset["id"].as_str().unwrap()).unwrap();
    let pid = PartnershipId::generate();
    store.create_partnership(&pid, &vendor, "Partner", "https://p", "sha256:aa", "pt_ref").await.unwrap();
    // A run as the node records one, with an overlap and a transcript.
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
    let overlap = RunOverlap {
        account_id: "0015g00000NWTRdAAF".into(),
        own_segment: "customers".into(),
        partner_segment: "customers".into(),
        partner_record: Some(0),
        key_types: vec!["domain".into()],
        tier: blindmap_store::Tier::Confirmed,
        reason: "confirmed: the domain agrees".into(),
        fields: Default::default(),
    };
    let completion = Completion {
        result: serde_json::json!({ "rows": ["customers"], "columns": [{ "segment": "customers", "records": 9 }],
            "cells": [[{ "shown": "1", "level": "overlaps" }]] }),
        overlaps: vec![overlap],
        transcript: Some("blindmap transcript v1\n".into()),
        audit: vec![],
        records: 10,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    store.complete_run(&vendor, &id, &completion).await.unwrap();

    for path in [
        format!("/api/v1/runs/{id}"),
        format!("/api/v1/runs/{id}/overlaps"),
        format!("/api/v1/runs/{id}/changes"),
        format!("/api/v1/runs/{id}/transcript"),
        format!("/api/v1/overlaps?partnership={pid}"),
    ] {
        let (status, _) = api.call("GET", &path, Some(&partner_admin), "", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: another organisation's run does not exist for it");
    }
    let (_, list) = api.call("GET", "/api/v1/runs", Some(&partner_admin), "", &[]).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let body = format!("{{\"partnership\": \"{pid}\"}}");
    let json = [("content-type", "application/json")];
    let (status, _) = api.call("POST", "/api/v1/runs", Some(&partner_admin), &body, &json).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor can it run in the vendor's partnership");
    let (status, problem) = api.call("POST", "/api/v1/runs", Some(&partner_admin), &body, &[]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unreadable requests are problems too: {problem}");
    let (status, problem) = api.call("POST", "/api/v1/runs", Some(&partner_admin), "{", &json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, _) = api.call("GET", "/api/v1/runs?limit=many", Some(&partner_admin), "", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.call("POST", "/api/v1/runs", Some(&vendor_rep), &body, &json).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "reps read runs, they do not start them");

    // The vendor's own users see it all.
    let (status, run) = api.call("GET", &format!("/api/v1/runs/{id}"), Some(&vendor_rep), "", &[]).await;
    assert_eq!((status, run["state"].as_str()), (StatusCode::OK, Some("complete")));
    let (_, overlaps) =
        api.call("GET", &format!("/api/v1/overlaps?partnership={pid}"), Some(&vendor_admin), "", &[]).await;
    assert_eq!(overlaps["items"][0]["account_id"], "0015g00000NWTRdAAF");
    assert_eq!(overlaps["items"][0]["own_fields"]["owner"], "Ada Byron", "the account's own fields come along");
    let (status, _) =
        api.call("GET", &format!("/api/v1/runs/{id}/overlaps?cursor=bogus"), Some(&vendor_admin), "", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Any cursor of the documented shape is a place in the order, even one naming bytes no
    // stored text holds (a NUL, invalid UTF-8), on either store.
    let odd = format!("/api/v1/runs/{id}/overlaps?cursor=-7.00ff.61.00");
    let (status, page) = api.call("GET", &odd, Some(&vendor_admin), "", &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

async fn admins_manage_users_and_tokens(store: Store) {
    let [admin, rep, _] = org(&store, "Vendor").await;
    let [other_admin, _, _] = org(&store, "Partner").await;
    let api = client(store);
    let json = [("content-type", "application/json")];
    let (status, created) =
        api.call("POST", "/api/v1/users", Some(&admin), r#"{"name": "kim", "role": "rep"}"#, &json).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let kim = created["token"]["token"].as_str().unwrap().to_owned();
    let (_, me) = api.call("GET", "/api/v1/me", Some(&kim), "", &[]).await;
    assert_eq!((me["user"].as_str(), me["role"].as_str()), (Some("kim"), Some("rep")));
    let (status, _) = api.call("POST", "/api/v1/users", Some(&admin), r#"{"name": "kim", "role": "rep"}"#, &json).await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique");
    let (status, _) = api.call("POST", "/api/v1/users", Some(&admin), r#"{"name": "x", "role": "owner"}"#, &json).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.call("GET", "/api/v1/users", Some(&rep), "", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins manage users");

    let user = created["id"].as_str().unwrap();
    let (status, second) =
        api.call("POST", &format!("/api/v1/users/{user}/tokens"), Some(&admin), r#"{"label": "laptop"}"#, &json).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        api.call("POST", &format!("/api/v1/users/{user}/tokens"), Some(&other_admin), r#"{"label": "x"}"#, &json).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organisation's user does not exist for it");
    let (_, users) = api.call("GET", "/api/v1/users", Some(&admin), "", &[]).await;
    let listed = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "kim").unwrap().clone();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2);
    assert!(!users.to_string().contains(&kim), "tokens are never listed");

    let token_id = created["token"]["id"].as_str().unwrap();
    let (status, _) = api.call("DELETE", &format!("/api/v1/tokens/{token_id}"), Some(&other_admin), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call("DELETE", &format!("/api/v1/tokens/{token_id}"), Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("GET", "/api/v1/me", Some(&kim), "", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
    let (status, _) = api.call("GET", "/api/v1/me", Some(second["token"].as_str().unwrap()), "", &[]).await;
    assert_eq!(status, StatusCode::OK, "the other token still works");
    let (_, trail) = api.call("GET", "/api/v1/audit", Some(&admin), "", &[]).await;
    let kinds: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["token.revoked", "token.issued", "user.created"]);
}

/// The header of a JSON body.
const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

async fn admins_disable_enable_and_remove_users(store: Store) {
    let [admin, rep, bot] = org(&store, "Vendor").await;
    let [other_admin, _, _] = org(&store, "Partner").await;
    let api = client(store);
    let (_, users) = api.call("GET", "/api/v1/users", Some(&admin), "", &[]).await;
    let id_of = |name: &str| -> String {
        users["items"].as_array().unwrap().iter().find(|u| u["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ada, rex) = (id_of("ada"), id_of("rex"));
    assert!(users["items"].as_array().unwrap().iter().all(|u| u["state"] == "active"), "{users}");
    let routes = |user: &str| {
        [
            ("POST", format!("/api/v1/users/{user}/disable")),
            ("POST", format!("/api/v1/users/{user}/enable")),
            ("DELETE", format!("/api/v1/users/{user}/sessions")),
            ("DELETE", format!("/api/v1/users/{user}")),
        ]
    };

    // Admins only; another organisation's admin finds no such user; no token, no answer.
    for (method, path) in routes(&rex) {
        for token in [&rep, &bot] {
            assert_eq!(api.call(method, &path, Some(token), "", &[]).await.0, StatusCode::FORBIDDEN, "{method} {path}");
        }
        let (status, problem) = api.call(method, &path, Some(&other_admin), "", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        assert_eq!(api.call(method, &path, None, "", &[]).await.0, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    for (method, path) in routes("usr_nonsense") {
        assert_eq!(api.call(method, &path, Some(&admin), "", &[]).await.0, StatusCode::NOT_FOUND, "{method} {path}");
    }
    // The same for a role change (it takes a body).
    let to_admin = serde_json::json!({ "role": "admin" }).to_string();
    let rex_role = format!("/api/v1/users/{rex}/role");
    for (token, status) in [
        (Some(&rep), StatusCode::FORBIDDEN),
        (Some(&bot), StatusCode::FORBIDDEN),
        (Some(&other_admin), StatusCode::NOT_FOUND),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(api.call("POST", &rex_role, token.map(String::as_str), &to_admin, JSON).await.0, status);
    }
    let nonsense = api.call("POST", "/api/v1/users/usr_nonsense/role", Some(&admin), &to_admin, JSON).await.0;
    assert_eq!(nonsense, StatusCode::NOT_FOUND);
    assert_eq!(api.call("GET", "/api/v1/me", Some(&rep), "", &[]).await.0, StatusCode::OK, "untouched");

    // The last active admin can be neither disabled nor removed, by itself or anyone.
    for (method, path) in [("POST", format!("/api/v1/users/{ada}/disable")), ("DELETE", format!("/api/v1/users/{ada}"))]
    {
        let (status, problem) = api.call(method, &path, Some(&admin), "", &[]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("last active admin"), "{problem}");
    }

    // Disabled: its token stops at once; enabled: it works again; each answer shows the state.
    let (status, view) = api.call("POST", &format!("/api/v1/users/{rex}/disable"), Some(&admin), "", &[]).await;
    assert_eq!(
        (status, view["state"].as_str(), view["name"].as_str()),
        (StatusCode::OK, Some("disabled"), Some("rex"))
    );
    assert_eq!(api.call("GET", "/api/v1/me", Some(&rep), "", &[]).await.0, StatusCode::UNAUTHORIZED);
    let json = [("content-type", "application/json")];
    let (status, _) =
        api.call("POST", &format!("/api/v1/users/{rex}/tokens"), Some(&admin), r#"{"label": "x"}"#, &json).await;
    assert_eq!(status, StatusCode::CONFLICT, "no tokens for a disabled user");
    let (status, view) = api.call("POST", &format!("/api/v1/users/{rex}/enable"), Some(&admin), "", &[]).await;
    assert_eq!((status, view["state"].as_str()), (StatusCode::OK, Some("active")));
    assert_eq!(api.call("GET", "/api/v1/me", Some(&rep), "", &[]).await.0, StatusCode::OK);

    // Signing out everywhere: any user for itself, answered with what ended.
    let (status, ended) = api.call("DELETE", "/api/v1/me/sessions", Some(&bot), "", &[]).await;
    assert_eq!((status, ended["sessions_ended"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(api.call("DELETE", "/api/v1/me/sessions", None, "", &[]).await.0, StatusCode::UNAUTHORIZED);

    // Roles: rex becomes an admin and a rep again; the last active admin keeps its role; a role
    // is one of the three. Each change is audited once.
    let role = |r: &str| serde_json::json!({ "role": r }).to_string();
    let (status, view) =
        api.call("POST", &format!("/api/v1/users/{rex}/role"), Some(&admin), &role("admin"), JSON).await;
    assert_eq!((status, view["role"].as_str()), (StatusCode::OK, Some("admin")), "{view}");
    let (status, _) = api.call("POST", &format!("/api/v1/users/{rex}/role"), Some(&admin), &role("rep"), JSON).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) =
        api.call("POST", &format!("/api/v1/users/{ada}/role"), Some(&admin), &role("rep"), JSON).await;
    assert_eq!(status, StatusCode::CONFLICT, "the last active admin: {problem}");
    let (status, _) = api.call("POST", &format!("/api/v1/users/{rex}/role"), Some(&admin), &role("owner"), JSON).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.call("POST", &format!("/api/v1/users/{rex}/role"), Some(&rep), &role("admin"), JSON).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED, "{status}");
    let (_, trail) = api.call("GET", "/api/v1/audit?limit=100", Some(&admin), "", &[]).await;
    let changed = trail["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "user.role_changed").count();
    assert_eq!(changed, 2, "{trail}");

    // Removed: gone for good, listed as removed, its token revoked.
    let (status, _) = api.call("DELETE", &format!("/api/v1/users/{rex}"), Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.call("GET", "/api/v1/me", Some(&rep), "", &[]).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call("POST", &format!("/api/v1/users/{rex}/enable"), Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, users) = api.call("GET", "/api/v1/users", Some(&admin), "", &[]).await;
    let removed = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "rex").unwrap().clone();
    assert_eq!(removed["state"], "removed");
    assert!(removed["tokens"][0]["revoked_at"].is_i64(), "{removed}");

    // What each route answers is documented.
    let (_, doc) = api.call("GET", "/api/v1/openapi.json", None, "", &[]).await;
    for (path, method, statuses) in [
        ("/api/v1/users/{id}/disable", "post", &["200", "401", "403", "404", "409"][..]),
        ("/api/v1/users/{id}/enable", "post", &["200", "401", "403", "404", "409"]),
        ("/api/v1/users/{id}/role", "post", &["200", "401", "403", "404", "409", "422"]),
        ("/api/v1/users/{id}", "delete", &["204", "401", "403", "404", "409"]),
        ("/api/v1/users/{id}/sessions", "delete", &["200", "401", "403", "404"]),
        ("/api/v1/me/sessions", "delete", &["200", "401"]),
    ] {
        let responses = doc["paths"][path][method]["responses"].as_object().unwrap();
        for status in statuses {
            assert!(responses.contains_key(*status), "{method} {path} documents {status}");
        }
        assert!(responses.values().all(|r| r["description"].as_str().is_some_and(|d| !d.is_empty())));
    }
}

async fn bodies_are_limited_by_the_configured_size_only(store: Store) {
    let [_, _, bot] = org(&store, "Vendor").await;
    // 60,000 accounts, about 3 MB: above axum's default limit, below the node's.
    let mut csv = String::from("id,segment,domain\n");
    for i in 0..60_000 {
        csv.push_str(&format!("account-{i:08},customers,company-{i:08}-large.com\n"));
    }
    assert!(csv.len() > 2 << 20);
    let api = client(store.clone());
    let (status, dataset) = api.call("POST", "/api/v1/datasets?name=big.csv", Some(&bot), &csv, &[]).await;
    assert_eq!((status, dataset["accounts"].as_u64()), (StatusCode::CREATED, Some(60_000)), "{dataset}");
    let small = Client { app: app(store, Limits { max_body_bytes: 1 << 20, ..Limits::default() }) };
    let (status, problem) = small.call("POST", "/api/v1/datasets?name=big.csv", Some(&bot), &csv, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("max_body_mib"), "{problem}");
    let (status, _) = small.call("GET", "/api/v1/nowhere", Some(&bot), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown routes answer a problem too");
    // So do request targets longer than the node reads, before routing.
    let long = format!("/api/v1/me?pad={}", "a".repeat(blindmap_server::error::MAX_URI_BYTES));
    let (status, problem) = small.call("GET", &long, Some(&bot), "", &[]).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("longer than this node reads"), "{problem}");
}

/// PostgreSQL cannot store or compare text holding NUL; every store refuses it alike, as the
/// document says, before a query could fail: 400 in a path or query, 422 in a body or a file.
async fn nul_is_refused_before_any_store_sees_it(store: Store) {
    let [admin, _, bot] = org(&store, "Vendor").await;
    let api = client(store);
    for path in
        ["/api/v1/audit?cursor=a%00b", "/api/v1/cosell/a%00b", "/api/v1/registrations?cursor=%00", "/api/v1/me?x=%00"]
    {
        assert_eq!(api.call("GET", path, Some(&admin), "", &[]).await.0, StatusCode::BAD_REQUEST, "{path}");
    }
    let json = [("content-type", "application/json")];
    for (path, body) in [
        ("/api/v1/hooks", r#"{"url": "https://a.example/\u0000"}"#),
        ("/api/v1/users", r#"{"name": "kim", "role": "rep", "x\u0000": 1}"#),
        (
            "/api/v1/attribution/touches",
            r#"{"opportunity": "o", "partner": "p", "kind": "sourced", "actor": "a\u0000"}"#,
        ),
    ] {
        let (status, problem) = api.call("POST", path, Some(&admin), body, &json).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("NUL"), "{problem}");
    }
    let (status, ledger) = api.call("GET", "/api/v1/attribution/ledger?cursor=0.6100ff", Some(&admin), "", &[]).await;
    assert_eq!(status, StatusCode::OK, "a cursor naming a NUL is only a place: {ledger}");
    let file = VENDOR.replacen("Delta Inc", "Delta\0 Inc", 1);
    let (status, _) = api.call("POST", "/api/v1/datasets?name=v.csv", Some(&bot), &file, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = api.call("GET", "/api/v1/datasets", Some(&admin), "", &[]).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "nothing stored");
}

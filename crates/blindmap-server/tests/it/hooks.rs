//! Webhooks end to end: a receiver on loopback gets the vendor node's `overlap.changed` event
//! after a match, signed as Standard Webhooks say; it refuses the first attempt, the node is
//! stopped and started again mid-retry, and the event still arrives — with the same
//! `webhook-id`, a signature that verifies, and every attempt in the delivery log. And where
//! webhooks may go: public addresses over https, and what the node's operator allows besides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use blindmap_cosell::webhook::Secret;
use blindmap_server::client::{ClientError, Method};
use blindmap_server::node::NodeConfig;
use serde_json::{Value, json};

use crate::common;
use crate::common::{Node, Restartable, call, finished, node, upload};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

#[derive(Clone, Default)]
struct Receiver {
    /// Each attempt's headers and body, and whether it was accepted.
    received: Arc<Mutex<Vec<(HeaderMap, Bytes, bool)>>>,
    accept: Arc<Mutex<bool>>,
}

async fn receiver() -> (Receiver, String) {
    let state = Receiver::default();
    let handler_state = state.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let state = handler_state.clone();
            async move {
                let accept = *state.accept.lock().unwrap();
                state.received.lock().unwrap().push((headers, body, accept));
                if accept { StatusCode::NO_CONTENT } else { StatusCode::SERVICE_UNAVAILABLE }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, url)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_arrive_even_across_a_restart_mid_retry() {
    let (hook, hook_url) = receiver().await;
    let mut restartable = Restartable::new("Vendor").await;
    // Retries 2 s apart at first: room to stop the node between two attempts.
    restartable.config.webhook_retry_base_ms = 4000;
    let vendor = restartable.start().await;
    let partner = node("Partner", None).await;
    upload(&vendor, "v.csv", VENDOR_CSV).await;
    upload(&partner, "p.csv", PARTNER_CSV).await;

    let metadata = json!({ "url": "http://169.254.169.254/latest/meta-data/" });
    let bad = call(&vendor, Method::POST, "/api/v1/hooks", Some(metadata)).await;
    assert!(bad.is_err(), "only the loopback addresses test nodes allow");
    let unknown = json!({ "url": hook_url, "events": ["nope"] });
    assert!(call(&vendor, Method::POST, "/api/v1/hooks", Some(unknown)).await.is_err());
    let created = call(&vendor, Method::POST, "/api/v1/hooks", Some(json!({ "url": hook_url }))).await.unwrap();
    let secret = Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let listed = call(&vendor, Method::GET, "/api/v1/hooks", None).await.unwrap();
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once");
    let endpoint = created["id"].as_str().unwrap().to_owned();

    let invite = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let accepted =
        call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": invite["code"] }))).await.unwrap();
    let policy = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    let sharing = format!("/api/v1/partnerships/{}/sharing", accepted["id"].as_str().unwrap());
    call(&partner, Method::PUT, &sharing, Some(policy)).await.unwrap();
    let pid = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"][0]["id"].clone();
    let run = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    assert_eq!(finished(&vendor, run["id"].as_str().unwrap()).await["state"], "complete");

    // The first attempt is refused; stop the node before the retry, then start it again.
    wait_for("the first attempt", || !hook.received.lock().unwrap().is_empty()).await;
    vendor.running.shutdown().await.unwrap();
    *hook.accept.lock().unwrap() = true;
    let restarted = restartable.start().await;
    // (Under load a second refused attempt may come before the stop: wait for an accepted one.)
    wait_for("a delivered attempt", || hook.received.lock().unwrap().iter().any(|(_, _, accepted)| *accepted)).await;

    let received = hook.received.lock().unwrap().clone();
    let ids: Vec<&str> = received.iter().map(|(h, _, _)| h["webhook-id"].to_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.starts_with("msg_")), "one event, the same id: {ids:?}");
    for (headers, body, _) in &received {
        let timestamp: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        let signature = headers["webhook-signature"].to_str().unwrap();
        secret.verify(ids[0], timestamp, body, signature, timestamp).expect("the signature verifies");
        assert!(Secret::from_bytes(&[9; 32]).unwrap().verify(ids[0], timestamp, body, signature, timestamp).is_err());
    }
    let event: Value = serde_json::from_slice(&received.last().unwrap().1).unwrap();
    assert_eq!(event["type"], "overlap.changed");
    assert_eq!(event["data"]["run"], run["id"]);
    assert!(event["data"]["previous_run"].is_null(), "the first run: everything is new");
    let new: usize =
        event["data"]["cells"].as_array().unwrap().iter().map(|c| c["new"].as_array().map_or(0, Vec::len)).sum();
    assert!(new > 0, "{event}");

    // The node records the accepted attempt once the receiver's answer is back: poll for it.
    let mut statuses: Vec<u64> = Vec::new();
    for _ in 0..100 {
        let log = call(&restarted, Method::GET, &format!("/api/v1/hooks/{endpoint}/deliveries"), None).await.unwrap();
        statuses = log["items"].as_array().unwrap().iter().map(|a| a["status"].as_u64().unwrap()).collect();
        if statuses.first() == Some(&204) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(statuses.first(), Some(&204), "newest first: {statuses:?}");
    assert_eq!(statuses.last(), Some(&503));
    assert_eq!(statuses.len(), received.len(), "every attempt is in the log");
    restarted.running.shutdown().await.unwrap();
    partner.running.shutdown().await.unwrap();
}

/// Each endpoint's delivery log: (URL, attempts as (status, error)).
async fn logs(node: &Node, endpoints: &[(String, String)]) -> Vec<(String, Vec<(Value, Value)>)> {
    let mut logs = Vec::new();
    for (id, url) in endpoints {
        let log = call(node, Method::GET, &format!("/api/v1/hooks/{id}/deliveries"), None).await.unwrap();
        let attempts = log["items"].as_array().unwrap().iter().map(|a| (a["status"].clone(), a["error"].clone()));
        logs.push((url.clone(), attempts.collect()));
    }
    logs
}

/// A node as `init` makes it sends webhooks to public addresses over https only: URLs plainly
/// aimed at the node itself, its network or the cloud's metadata service are refused when added,
/// however the address is written. Endpoints on loopback, added while the operator allowed it, are
/// refused at delivery once the operator takes that back — by address or by name (names that
/// resolve to a forbidden address are refused as the delivery connects: see the unit tests of
/// `hooks::egress`) — with the same words in the log whether anything listens there or not, and
/// nothing arrives. Allowed again, the retries arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_only_what_the_operator_allows() {
    let (hook, hook_url) = receiver().await;
    *hook.accept.lock().unwrap() = true;
    let port = hook_url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/hook").to_owned();
    let mut restartable = Restartable::new("Vendor").await;
    let operator = NodeConfig { webhook_retry_base_ms: 300, ..restartable.config.clone() };
    let as_initialised = NodeConfig { webhook_allow_http: false, webhook_allow: Vec::new(), ..operator.clone() };

    restartable.config = as_initialised;
    let vendor = restartable.start().await;
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("https://127.1:{port}/hook"),
        format!("https://2130706433:{port}/hook"),
        format!("https://0x7f.0.0.1:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        format!("https://localhost:{port}/hook"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "https://10.0.0.1/hook".to_owned(),
        "https://192.168.1.1/hook".to_owned(),
        "https://100.64.0.1/hook".to_owned(),
        "https://[fe80::1]/hook".to_owned(),
        "https://0.0.0.0/hook".to_owned(),
        "http://hooks.example.com/hook".to_owned(),
    ] {
        match call(&vendor, Method::POST, "/api/v1/hooks", Some(json!({ "url": url }))).await {
            Err(ClientError::Api { status, detail }) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {detail}");
                assert!(detail.contains("webhook_allow"), "{url}: the reason and the remedy: {detail}");
            }
            other => panic!("{url} was not refused: {other:?}"),
        }
    }
    let numeric = call(&vendor, Method::POST, "/api/v1/hooks", Some(json!({ "url": "https://2130706433/" }))).await;
    assert!(
        matches!(numeric, Err(ClientError::Api { detail, .. }) if detail.starts_with("127.0.0.1 is a loopback address"))
    );
    assert!(call(&vendor, Method::GET, "/api/v1/hooks", None).await.unwrap()["items"].as_array().unwrap().is_empty());
    vendor.running.shutdown().await.unwrap();

    // The operator allows loopback over http: endpoints on this machine can be added — one by
    // address, one by name, one where nothing listens.
    restartable.config = operator.clone();
    let vendor = restartable.start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut endpoints = Vec::new();
    for url in [hook_url.clone(), format!("http://localhost:{port}/hook"), format!("http://127.0.0.1:{closed}/hook")] {
        let made = call(&vendor, Method::POST, "/api/v1/hooks", Some(json!({ "url": url }))).await.unwrap();
        endpoints.push((made["id"].as_str().unwrap().to_owned(), url));
    }
    vendor.running.shutdown().await.unwrap();

    // ... and takes loopback back (plain http stays allowed: the addresses are what is refused).
    restartable.config = NodeConfig { webhook_allow: Vec::new(), ..operator.clone() };
    let vendor = restartable.start().await;
    let store = blindmap_store::Store::connect(&restartable.config.database_url).await.unwrap();
    let org = store.organisation_by_name("Vendor").await.unwrap().unwrap().id;
    store.record_event(&org, "cosell.created", &json!({ "id": "cs_1" })).await.unwrap();
    let mut refused = Vec::new();
    for _ in 0..200 {
        refused = logs(&vendor, &endpoints).await;
        if refused.iter().all(|(_, attempts)| !attempts.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (url, attempts) in &refused {
        assert!(!attempts.is_empty(), "{url}: no attempt yet");
        for (status, error) in attempts {
            assert_eq!((status, error), (&Value::Null, &json!("refused: address not allowed")), "{url}");
        }
    }
    assert!(hook.received.lock().unwrap().is_empty(), "nothing reached the receiver");
    vendor.running.shutdown().await.unwrap();

    // Allowed again: the retries arrive, by address and by name.
    restartable.config = operator;
    let vendor = restartable.start().await;
    wait_for("both deliveries", || hook.received.lock().unwrap().len() >= 2).await;
    let received = hook.received.lock().unwrap().clone();
    assert!(received.iter().all(|(headers, _, _)| headers["webhook-id"] == received[0].0["webhook-id"]));
    store.close().await;
    vendor.running.shutdown().await.unwrap();
}

/// A receiver's redirect is not followed: a delivery goes where its endpoint says, or nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let (target, target_url) = receiver().await;
    *target.accept.lock().unwrap() = true;
    let app = axum::Router::new()
        .route("/hook", post(move || async move { (StatusCode::TEMPORARY_REDIRECT, [("location", target_url)]) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirecting = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let vendor = node("Vendor", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/hooks", Some(json!({ "url": redirecting }))).await.unwrap();
    let endpoints = [(made["id"].as_str().unwrap().to_owned(), redirecting)];
    let store = common::store_of(&vendor).await;
    let org = store.organisation_by_name("Vendor").await.unwrap().unwrap().id;
    store.record_event(&org, "cosell.created", &json!({ "id": "cs_1" })).await.unwrap();
    let mut attempts = Vec::new();
    for _ in 0..200 {
        attempts = logs(&vendor, &endpoints).await.remove(0).1;
        if !attempts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(attempts.first(), Some(&(json!(307), json!("answered 307 Temporary Redirect"))));
    assert!(target.received.lock().unwrap().is_empty(), "the redirect's target got nothing");
    store.close().await;
    vendor.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_tests_and_reads_an_endpoint_from_the_pages() {
    use crate::web::Agent;
    let vendor = node("Vendor", None).await;
    let (tested, tested_url) = receiver().await;
    let (other, other_url) = receiver().await;
    *tested.accept.lock().unwrap() = true;
    *other.accept.lock().unwrap() = true;
    let made =
        call(&vendor, Method::POST, "/api/v1/users", Some(json!({ "name": "ada", "role": "admin" }))).await.unwrap();
    let mut admin = Agent::new(&vendor);
    admin.sign_in(made["token"]["token"].as_str().unwrap()).await;
    let csrf = admin.get("/hooks").await.input("csrf");

    // Refused: a URL the node does not send to, an unknown kind; the form keeps the URL.
    let page = admin.post("/hooks", &[("csrf", &csrf), ("url", "ftp://example.com/hook")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("value=\"ftp://example.com/hook\""), "{}", page.body);
    let page = admin.post("/hooks", &[("csrf", &csrf), ("url", &tested_url), ("event", "nonsense")]).await;
    assert!(page.body.contains("unknown event kind"), "{}", page.body);

    // Added: its secret shown once; another endpoint wants overlap changes only.
    let page = admin.post("/hooks", &[("csrf", &csrf), ("url", &tested_url)]).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let secret = page.body.split("class=\"code\">").nth(1).unwrap().split("</textarea>").next().unwrap().to_owned();
    let secret = Secret::parse(&secret).unwrap();
    let page = admin.post("/hooks", &[("csrf", &csrf), ("url", &other_url), ("event", "overlap.changed")]).await;
    assert_eq!(page.status, StatusCode::CREATED);
    let hooks = call(&vendor, Method::GET, "/api/v1/hooks", None).await.unwrap();
    let id = hooks["items"].as_array().unwrap().iter().find(|h| h["url"] == tested_url.as_str()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A test event goes to that endpoint alone, signed; the log shows it.
    let page = admin.post(&format!("/hooks/{id}/test"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    wait_for("the test delivery", || !tested.received.lock().unwrap().is_empty()).await;
    let (headers, body, _) = tested.received.lock().unwrap()[0].clone();
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    secret
        .verify(&header("webhook-id"), timestamp, &body, &header("webhook-signature"), timestamp)
        .expect("the test delivery verifies");
    let delivered: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(delivered["type"], "webhook.test", "{delivered}");
    assert_eq!(delivered["data"]["sent_by"], "ada");
    let mut log = admin.get(&format!("/hooks/{id}")).await;
    for _ in 0..100 {
        if log.body.contains("answered 204") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        log = admin.get(&format!("/hooks/{id}")).await;
    }
    assert!(log.body.contains(&header("webhook-id")) && log.body.contains("answered 204"), "{}", log.body);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(other.received.lock().unwrap().is_empty(), "the other endpoint got nothing");

    // Disabled and enabled from its page; the API agrees.
    let state = || async {
        let all = call(&vendor, Method::GET, "/api/v1/hooks", None).await.unwrap();
        all["items"].as_array().unwrap().iter().find(|h| h["id"] == id.as_str()).unwrap()["state"].clone()
    };
    assert_eq!(admin.post(&format!("/hooks/{id}/disable"), &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(state().await, "disabled");
    assert_eq!(admin.post(&format!("/hooks/{id}/enable"), &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(state().await, "enabled");

    // Reps have no webhooks; another organisation finds no endpoint of this one.
    let rep =
        call(&vendor, Method::POST, "/api/v1/users", Some(json!({ "name": "rita", "role": "rep" }))).await.unwrap();
    let mut rita = Agent::new(&vendor);
    rita.sign_in(rep["token"]["token"].as_str().unwrap()).await;
    let rita_csrf = rita.get("/").await.input("csrf");
    assert_eq!(rita.get("/hooks").await.status, StatusCode::FORBIDDEN);
    assert_eq!(rita.post(&format!("/hooks/{id}/test"), &[("csrf", &rita_csrf)]).await.status, StatusCode::FORBIDDEN);
    let store = common::store_of(&vendor).await;
    let stranger = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&stranger.id, "eve", blindmap_store::Role::Admin).await.unwrap();
    let token = store.issue_token(&stranger.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let mut eve = Agent::new(&vendor);
    eve.sign_in(&token).await;
    let eve_csrf = eve.get("/").await.input("csrf");
    assert_eq!(eve.get(&format!("/hooks/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(eve.post(&format!("/hooks/{id}/test"), &[("csrf", &eve_csrf)]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(eve.post(&format!("/hooks/{id}/disable"), &[("csrf", &eve_csrf)]).await.status, StatusCode::NOT_FOUND);
    assert!(!eve.get("/hooks").await.body.contains(&tested_url));
    assert_eq!(state().await, "enabled");
    assert_eq!(tested.received.lock().unwrap().len(), 1, "no other test was sent");
}

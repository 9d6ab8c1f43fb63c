//! Webhooks end to end: a receiver on loopback gets the vendor node's `overlap.changed` event
//! after a match, signed as Standard Webhooks say; it refuses the first attempt, the node is
//! stopped and started again mid-retry, and the event still arrives — with the same
//! `webhook-id`, a signature that verifies, and every attempt in the delivery log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use blindmap_cosell::webhook::Secret;
use blindmap_server::client::Method;
use serde_json::{Value, json};

mod common;
use common::{Restartable, call, finished, node, upload};

const VENDOR_CSV: &str = include_str!("../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../samples/partner-hubspot.csv");

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

    let bad = call(&vendor, Method::POST, "/api/v1/hooks", Some(json!({ "url": "http://example.com/hook" }))).await;
    assert!(bad.is_err(), "plain http only on loopback");
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

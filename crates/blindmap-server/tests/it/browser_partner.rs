//! A partner without a node matching through a link (spec §20), driven here by the protocol
//! crate natively over the WebSocket the page uses — the same frames the WebAssembly build sends
//! (the page itself is driven in headless Chromium by `partner_page.rs`). Covers the link's
//! API, what the invitation route answers, the session, the vendor's stored run, and the
//! refusals: unknown, renewed, expired and ended links, another origin, another organisation.

use std::sync::Arc;

use blindmap_psi::wire::{Frame, Message as WireMessage};
use blindmap_psi::{Dataset, DisclosurePolicy, Level, Session, SessionConfig, SessionSeed, run_in_process};
use blindmap_records::{Preset, Side, import_dataset};
use blindmap_server::client::Method;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{self, Node, call, finished, upload_active};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

fn dataset(csv: &str, preset: Preset, side: Side) -> Arc<Dataset> {
    Arc::new(import_dataset("sample.csv", csv.as_bytes(), &preset.mapping(), side, |_| {}).unwrap().dataset)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Opens the session route of `node` as a page of `origin` would; the HTTP status on refusal.
async fn open(node: &Node, origin: &str) -> Result<Socket, u16> {
    let mut tls = blindmap_server::client::pinned_tls(&node.running.fingerprint).unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(node.running.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.unwrap();
    let url = format!("wss://127.0.0.1:{}/browser/v1/session", node.running.addr.port());
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("the WebSocket handshake failed: {e}"),
    }
}

async fn text(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await.expect("a message").expect("readable") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Presents `secret`; the node's first answer.
async fn present(node: &Node, secret: &str) -> (Socket, Value) {
    let mut socket = open(node, &own_origin(node)).await.unwrap();
    socket.send(Message::text(json!({ "invitation": secret }).to_string())).await.unwrap();
    let answer = text(&mut socket).await;
    (socket, answer)
}

fn own_origin(node: &Node) -> String {
    format!("https://127.0.0.1:{}", node.running.addr.port())
}

/// Runs the partner's side of a session over `socket` to its end: what it learned, and the
/// Bloom filters it was sent.
async fn run_partner(mut socket: Socket, data: Arc<Dataset>) -> (blindmap_psi::Outcome, Vec<u8>) {
    let mut filters = Vec::new();
    let config = SessionConfig::default();
    let mut session = Session::initiator(data, DisclosurePolicy::new(Level::Hidden), config, seed()).unwrap();
    loop {
        while let Some(frame) = session.poll_transmit() {
            socket.send(Message::binary(frame)).await.unwrap();
        }
        if session.is_finished() {
            break;
        }
        match socket.next().await.expect("the node's frames").unwrap() {
            Message::Binary(frame) => {
                if let Ok(Frame { message: WireMessage::Bloom(chunk), .. }) = Frame::decode(&frame) {
                    filters.extend_from_slice(&chunk.data);
                }
                session.receive(&frame).unwrap();
            }
            Message::Text(t) => panic!("the node said {t} before the session ended"),
            _ => {}
        }
    }
    socket.send(Message::text(r#"{"type":"done"}"#)).await.unwrap();
    assert_eq!(text(&mut socket).await, json!({ "type": "done" }));
    (session.into_outcome().unwrap(), filters)
}

fn seed() -> SessionSeed {
    SessionSeed::random(&mut rand::rng())
}

fn secret_of(link: &str) -> &str {
    link.split_once('#').expect("the secret in the fragment").1
}

#[tokio::test]
async fn a_partner_matches_through_its_link_and_the_vendor_stores_the_run() {
    let vendor = common::node("Vendor Co", None).await;
    upload_active(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await;
    let made = call(&vendor, Method::POST, "/api/v1/partnerships/browser", Some(json!({ "partner": "Partner Co" })))
        .await
        .unwrap();
    assert_eq!(made["partnership"]["in_browser"], true, "{made}");
    assert_eq!(made["partnership"]["partner_url"], "", "{made}");
    let link = made["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/join#", own_origin(&vendor))), "{link}");
    let secret = secret_of(link).to_owned();
    assert_eq!(secret.len(), 64);

    // What the link invites to: the vendor, the partner, what is shown (overlaps by default).
    let view = invitation(&vendor, &secret).await.unwrap();
    assert_eq!((view["vendor"].as_str(), view["partner"].as_str()), (Some("Vendor Co"), Some("Partner Co")), "{view}");
    assert_eq!(view["shares"], json!([{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }]));

    // The session: the partner learns what the same two lists give in one process.
    let (socket, ready) = present(&vendor, &secret).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    let run = ready["run"].as_str().unwrap().to_owned();
    let partner_data = dataset(PARTNER_CSV, Preset::Hubspot, Side::First);
    let (outcome, filters) = run_partner(socket, partner_data.clone()).await;
    assert!(!filters.is_empty());
    let local = run_in_process(
        Session::initiator(partner_data, DisclosurePolicy::new(Level::Hidden), SessionConfig::default(), seed())
            .unwrap(),
        Session::responder(
            dataset(VENDOR_CSV, Preset::Salesforce, Side::Second),
            DisclosurePolicy::new(Level::Overlaps),
            SessionConfig { learn: false, bloom: true, ..SessionConfig::default() },
            seed(),
        )
        .unwrap(),
    )
    .unwrap();
    let records = |o: &blindmap_psi::Outcome| {
        let mut r: Vec<usize> = o.overlaps().iter().map(|o| o.record).collect();
        r.sort_unstable();
        r
    };
    assert!(!outcome.overlaps().is_empty());
    assert_eq!(records(&outcome), records(&local.initiator));

    // The vendor's node stored the run, as the responder, with nothing learned.
    let stored = finished(&vendor, &run).await;
    assert_eq!(stored["state"], "complete", "{stored}");
    assert_eq!(stored["partner"], "Partner Co", "{stored}");
    assert_eq!(stored["role"], "responder", "{stored}");

    // The same link works again, with a new export: served under the kept keys (spec §20.5),
    // so the same filter, kept by the node.
    let (socket, ready) = present(&vendor, &secret).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    let (again, kept) = run_partner(socket, dataset(PARTNER_CSV, Preset::Hubspot, Side::First)).await;
    assert_eq!(records(&again), records(&outcome));
    assert_eq!(kept, filters, "the kept keys' filter");

    // A new link, new keys; a new dataset of the vendor's, new keys again.
    let id = made["partnership"]["id"].as_str().unwrap();
    let renewed =
        call(&vendor, Method::POST, &format!("/api/v1/partnerships/{id}/link"), Some(json!({}))).await.unwrap();
    let secret = secret_of(renewed["link"].as_str().unwrap()).to_owned();
    let (socket, _) = present(&vendor, &secret).await;
    let (after_link, renewed_filters) = run_partner(socket, dataset(PARTNER_CSV, Preset::Hubspot, Side::First)).await;
    assert_eq!(records(&after_link), records(&outcome));
    assert_ne!(renewed_filters, filters, "new keys after a new link");
    upload_active(&vendor, "vendor-again.csv", VENDOR_CSV).await;
    let (socket, _) = present(&vendor, &secret).await;
    let (after_import, imported_filters) =
        run_partner(socket, dataset(PARTNER_CSV, Preset::Hubspot, Side::First)).await;
    assert_eq!(records(&after_import), records(&outcome));
    assert_ne!(imported_filters, renewed_filters, "new keys for a new dataset");
}

/// A refusal as "status: detail".
fn refusal(e: blindmap_server::client::ClientError) -> String {
    match e {
        blindmap_server::client::ClientError::Api { status, detail } => format!("{}: {detail}", status.as_u16()),
        other => panic!("expected a problem document, got {other}"),
    }
}

fn body(value: &Value) -> Option<(Vec<u8>, &'static str)> {
    Some((serde_json::to_vec(value).unwrap(), "application/json"))
}

/// `POST /browser/v1/invitation` with `secret`: what the link invites to, or the refusal.
pub(crate) async fn invitation(node: &Node, secret: &str) -> Result<Value, blindmap_server::client::ClientError> {
    node.api.call(Method::POST, "/browser/v1/invitation", body(&json!({ "invitation": secret })), &[]).await
}

/// Sets what the vendor shows the browser partner `pid`: the overlaps of every segment, and for
/// its customers their owner and industry (returned for the overlaps the partner reveals, spec
/// §20.7).
pub(crate) async fn share_customers_fields(vendor: &Node, pid: &str) {
    let policy = json!({ "rules": [
            { "own_segment": "*", "partner_segment": "*", "level": "overlaps" },
            { "own_segment": "customers", "partner_segment": "*", "level": "fields", "fields": ["owner", "industry"] }],
        "threshold": 1, "min_partner_segment": 1 });
    call(vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(policy)).await.unwrap();
}

#[tokio::test]
async fn links_that_open_nothing_are_refused_with_what_to_do() {
    let vendor = common::node("Vendor Co", None).await;
    upload_active(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await;
    let made = call(&vendor, Method::POST, "/api/v1/partnerships/browser", Some(json!({ "partner": "Partner Co" })))
        .await
        .unwrap();
    let id = made["partnership"]["id"].as_str().unwrap().to_owned();
    let first = secret_of(made["link"].as_str().unwrap()).to_owned();

    // Not a secret at all, and one of the right shape that no link has.
    for secret in ["nope", &"0".repeat(64)] {
        let (_, answer) = present(&vendor, secret).await;
        assert_eq!((answer["type"].as_str(), answer["status"].as_u64()), (Some("error"), Some(403)), "{answer}");
        assert!(answer["detail"].as_str().unwrap().contains("not valid"), "{answer}");
        let refused = invitation(&vendor, secret).await.unwrap_err();
        let refused = refusal(refused);
        assert!(refused.starts_with("403") && refused.contains("not valid"), "{refused}");
    }

    // Another origin's page cannot open a session, whatever secret it has.
    assert_eq!(open(&vendor, "https://evil.example").await.err(), Some(403));
    // Nor a saved page's (origin null) unless the node allows it.
    assert_eq!(open(&vendor, "null").await.err(), Some(403));

    // The vendor does not start runs with a partner in the browser: the partner does.
    let refused = vendor
        .api
        .call::<Value>(Method::POST, "/api/v1/runs", body(&json!({ "partnership": id })), &[("idempotency-key", "k1")])
        .await
        .unwrap_err();
    let refused = refusal(refused);
    assert!(refused.starts_with("409") && refused.contains("in its browser"), "{refused}");

    // A renewed link replaces the old one.
    let renewed = call(&vendor, Method::POST, &format!("/api/v1/partnerships/{id}/link"), Some(json!({ "days": 7 })))
        .await
        .unwrap();
    let second = secret_of(renewed["link"].as_str().unwrap()).to_owned();
    assert_ne!(first, second);
    let (_, answer) = present(&vendor, &first).await;
    assert_eq!(answer["status"], 403, "{answer}");
    let (_, answer) = present(&vendor, &second).await;
    assert_eq!(answer["type"], "ready", "{answer}");

    // A link that expired says so, and who to ask.
    let store = common::store_of(&vendor).await;
    let org = store.organisation_by_name("Vendor Co").await.unwrap().unwrap().id;
    let (_, expired, _) = store.create_browser_partnership(&org, "Late Co", "test", -1).await.unwrap();
    let (_, answer) = present(&vendor, expired.expose()).await;
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.contains("expired") && detail.contains("Vendor Co"), "{answer}");

    // Another organisation on the node neither renews nor ends the link, nor sees the partner;
    // a rep of this one makes no link.
    let stranger = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&stranger.id, "eve", blindmap_store::Role::Admin).await.unwrap();
    let eve = store.issue_token(&stranger.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let eve = blindmap_server::client::ApiClient::new(&own_origin(&vendor), &vendor.running.fingerprint, &eve).unwrap();
    let refused = eve
        .call::<Value>(Method::POST, &format!("/api/v1/partnerships/{id}/link"), body(&json!({})), &[])
        .await
        .unwrap_err();
    let refused = refusal(refused);
    assert!(refused.starts_with("404"), "{refused}");
    let theirs: Value = eve.call(Method::GET, "/api/v1/partnerships", None, &[]).await.unwrap();
    assert_eq!(theirs["items"], json!([]), "{theirs}");
    let rex = store.create_user(&org, "rex", blindmap_store::Role::Rep).await.unwrap();
    let rex = store.issue_token(&org, &rex.id, "t").await.unwrap().1.expose().to_owned();
    let rex = blindmap_server::client::ApiClient::new(&own_origin(&vendor), &vendor.running.fingerprint, &rex).unwrap();
    let refused = rex
        .call::<Value>(Method::POST, "/api/v1/partnerships/browser", body(&json!({ "partner": "Rex Co" })), &[])
        .await
        .unwrap_err();
    let refused = refusal(refused);
    assert!(refused.starts_with("403"), "{refused}");
    let (_, answer) = present(&vendor, &second).await;
    assert_eq!(answer["type"], "ready", "another organisation's attempts change nothing: {answer}");

    // An ended partnership's link says it has ended.
    call(&vendor, Method::POST, &format!("/api/v1/partnerships/{id}/end"), None).await.unwrap();
    let (_, answer) = present(&vendor, &second).await;
    assert!(answer["detail"].as_str().unwrap().contains("ended"), "{answer}");
    let refused =
        call(&vendor, Method::POST, &format!("/api/v1/partnerships/{id}/link"), Some(json!({}))).await.unwrap_err();
    let refused = refusal(refused);
    assert!(refused.starts_with("409"), "{refused}");

    // Out-of-range validity, a blank or taken name.
    for (request, status) in [
        (json!({ "partner": "Other Co", "days": 0 }), "422"),
        (json!({ "partner": "Other Co", "days": 366 }), "422"),
        (json!({ "partner": " " }), "422"),
        (json!({ "partner": "Partner Co" }), "409"),
    ] {
        let refused =
            call(&vendor, Method::POST, "/api/v1/partnerships/browser", Some(request.clone())).await.unwrap_err();
        let refused = refusal(refused);
        assert!(refused.starts_with(status), "{request}: {refused}");
    }
}

/// spec §20.6: a page that reveals what its policy shares gives the vendor's node the overlaps a
/// regular session disclosing the same would; a forged reveal fails the run on the node.
#[tokio::test]
async fn a_partner_that_shares_overlaps_shows_the_vendor_its_overlaps() {
    let vendor = common::node("Vendor Co", None).await;
    upload_active(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await;
    let made = call(&vendor, Method::POST, "/api/v1/partnerships/browser", Some(json!({ "partner": "Partner Co" })))
        .await
        .unwrap();
    let secret = secret_of(made["link"].as_str().unwrap()).to_owned();
    share_customers_fields(&vendor, made["partnership"]["id"].as_str().unwrap()).await;
    let view = invitation(&vendor, &secret).await.unwrap();
    let customers = view["shares"].as_array().unwrap().iter().find(|s| s["own_segment"] == "customers").unwrap();
    assert_eq!(customers["level"], "overlaps", "served as overlaps: {view}");
    assert_eq!(customers["fields"], json!(["owner", "industry"]), "returned for what is revealed: {view}");

    let partner_data = dataset(PARTNER_CSV, Preset::Hubspot, Side::First);
    let shares = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
    let url = own_origin(&vendor);
    let run = blindmap_server::client::link::run(
        &url,
        &vendor.running.fingerprint,
        &secret,
        Some(&url),
        partner_data.clone(),
        Some(&shares),
    )
    .await
    .unwrap();
    let stored = finished(&vendor, &run.run).await;
    assert_eq!(stored["state"], "complete", "{stored}");
    // What a regular session in which the partner discloses the same gives the vendor.
    let regular = run_in_process(
        Session::initiator(partner_data.clone(), shares, SessionConfig::default(), seed()).unwrap(),
        Session::responder(
            dataset(VENDOR_CSV, Preset::Salesforce, Side::Second),
            DisclosurePolicy::new(Level::Hidden),
            SessionConfig::default(),
            seed(),
        )
        .unwrap(),
    )
    .unwrap();
    let expected: std::collections::BTreeSet<usize> = regular.responder.overlaps().iter().map(|o| o.record).collect();
    assert!(!expected.is_empty());
    assert_eq!(stored["result"]["overlapping_accounts"], expected.len(), "{stored}");

    // spec §20.7: the vendor's customers' fields came back for the revealed overlaps, and only theirs.
    let reveal = run.revealed.as_ref().expect("revealed");
    let own = run.outcome.revealed_records(reveal);
    let mut returned: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in &run.returned {
        let record = &partner_data.records()[own[r.record as usize].unwrap()];
        let row = reveal.records[r.record as usize].row as usize;
        assert_eq!(run.outcome.partner_segments()[row].label.as_str(), "customers", "only the customers' fields");
        // By name: a JSON object's members have no order.
        let names: std::collections::BTreeSet<&str> = r.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["industry", "owner"].into());
        let owner = r.fields.iter().find(|(n, _)| n.as_str() == "owner").and_then(|(_, v)| v.clone());
        returned.entry(record.id.clone()).or_default().push(owner.unwrap_or_default());
    }
    assert_eq!(returned.get("9001120031"), Some(&vec!["Ada Byron".to_owned()]), "Northwind's owner: {returned:?}");

    // A reveal naming an element that is none of the vendor's keys fails the run on the node.
    let (mut socket, ready) = present(&vendor, &secret).await;
    let run_id = ready["run"].as_str().unwrap().to_owned();
    let mut session = Session::initiator(
        dataset(PARTNER_CSV, Preset::Hubspot, Side::First),
        DisclosurePolicy::new(Level::Hidden),
        SessionConfig::default(),
        seed(),
    )
    .unwrap();
    loop {
        while let Some(frame) = session.poll_transmit() {
            socket.send(Message::binary(frame)).await.unwrap();
        }
        if session.is_finished() {
            break;
        }
        if let Message::Binary(frame) = socket.next().await.unwrap().unwrap() {
            session.receive(&frame).unwrap();
        }
    }
    let outcome = session.into_outcome().unwrap();
    let columns = outcome.own_segments().len();
    let rows = outcome.partner_segments().len();
    let forged = json!({ "type": "reveal", "threshold": 1, "min_segment": 1,
        "cells": vec![vec!["overlaps"; columns]; rows],
        "records": [{ "row": 0, "column": 0, "elements": ["07".repeat(32)] }] });
    socket.send(Message::text(forged.to_string())).await.unwrap();
    socket.send(Message::text(r#"{"type":"done"}"#)).await.unwrap();
    let answer = text(&mut socket).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("reveal was refused"), "{answer}");
    let failed = finished(&vendor, &run_id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
}

//! Partner attribution on a real node, on SQLite and on PostgreSQL: touches from three partners —
//! two through the API, one through a signed inbound webhook (a bad signature refused, a
//! redelivery recorded once) — and one after the close; the deal closes won with a reporting
//! rate and is credited under the configured model; it is re-scored under every model with the
//! credits worked out by hand below, and its ledger of record does not move; the same history
//! closed under each model gives those credits as ledger entries; the `attribution.recorded`
//! event reaches a webhook and the events feed; a rep reads but cannot write; another
//! organisation sees nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use blindmap_cosell::webhook::Secret;
use blindmap_server::client::{ApiClient, ClientError, Method};
use blindmap_server::node::NodeConfig;
use blindmap_store::{Role, Store};
use serde_json::{Value, json};

use crate::common::{Node, all_overlaps as all_items, call, node};

/// The history, in the order it happened: (partner, kind, date). The deal closes on 2027-01-31,
/// so the touches are 120, 90, 60, 30 and 0 days old at the close; Umbrella's comes after it.
/// Initech's arrives through the inbound webhook on the first opportunity.
const HISTORY: [(&str, &str, &str); 6] = [
    ("Acme", "influenced", "2026-10-03"),
    ("Globex", "sourced", "2026-11-02"),
    ("Initech", "co_selling", "2026-12-02"),
    ("Acme", "co_selling", "2027-01-01"),
    ("Globex", "influenced", "2027-01-31"),
    ("Umbrella", "sourced", "2027-02-10"),
];

/// A credit: partner, share (ppm), amount in EUR cents, reported in USD cents at 1.08, category.
type Credit = (&'static str, u64, i64, i64, Option<&'static str>);

/// A credit as the API shows it, in the same order.
type Shown = (String, u64, i64, i64, Option<String>);

/// What each model credits for 120,000.00 EUR on that history, by hand. The opportunity was
/// created on 2026-11-25: of the touches between the first and the last, Initech's (2026-12-02)
/// is the nearest, and W-shaped's middle anchor.
fn expected(model: &str) -> Vec<Credit> {
    match model {
        // The first sourcing touch is Globex's; the others influenced; each the whole amount.
        "categorical" => vec![
            ("Acme", 1_000_000, 12_000_000, 12_960_000, Some("influenced")),
            ("Globex", 1_000_000, 12_000_000, 12_960_000, Some("sourced")),
            ("Initech", 1_000_000, 12_000_000, 12_960_000, Some("influenced")),
        ],
        "first_touch" => vec![("Acme", 1_000_000, 12_000_000, 12_960_000, None)],
        "last_touch" => vec![("Globex", 1_000_000, 12_000_000, 12_960_000, None)],
        // Five touches, 20 % each: Acme and Globex have two.
        "linear" => vec![
            ("Acme", 400_000, 4_800_000, 5_184_000, None),
            ("Globex", 400_000, 4_800_000, 5_184_000, None),
            ("Initech", 200_000, 2_400_000, 2_592_000, None),
        ],
        // Half-life 30 days: weights 1/16, 1/8, 1/4, 1/2, 1 — Acme 9/16, Globex 18/16, Initech
        // 4/16 of 31/16. 12,000,000 × 9/31 = 3,483,870.97, × 18/31 = 6,967,741.94, × 4/31 =
        // 1,548,387.10: the two cents left go to the largest remainders (Acme, Globex). Shares
        // likewise: 290,322.58 / 580,645.16 / 129,032.26, the one left to Acme. USD: × 1.08,
        // rounded half away from zero.
        "time_decay" => vec![
            ("Acme", 290_323, 3_483_871, 3_762_581, None),
            ("Globex", 580_645, 6_967_742, 7_525_161, None),
            ("Initech", 129_032, 1_548_387, 1_672_258, None),
        ],
        // 40 % first (Acme), 40 % last (Globex), 20 % over the three between (one each): Acme
        // and Globex 46.667 %, Initech 6.667 %; the shares' two leftover ppm go to the earlier.
        "u_shaped" => vec![
            ("Acme", 466_667, 5_600_000, 6_048_000, None),
            ("Globex", 466_667, 5_600_000, 6_048_000, None),
            ("Initech", 66_666, 800_000, 864_000, None),
        ],
        // 30 % each to the first (Acme), the middle anchor (Initech) and the last (Globex); 5 %
        // each to the two others (Globex, Acme).
        "w_shaped" => vec![
            ("Acme", 350_000, 4_200_000, 4_536_000, None),
            ("Globex", 350_000, 4_200_000, 4_536_000, None),
            ("Initech", 300_000, 3_600_000, 3_888_000, None),
        ],
        other => panic!("no expectation for {other}"),
    }
}

const MODELS: [&str; 7] = ["categorical", "first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped"];

/// The query or body fields of a model.
fn model_fields(model: &str) -> Value {
    if model == "time_decay" { json!({ "model": model, "half_life_days": 30 }) } else { json!({ "model": model }) }
}

fn close_body(model: Option<&str>) -> Value {
    let mut body = json!({ "amount": "120000.00", "currency": "EUR", "closed_at": "2027-01-31",
        "created_at": "2026-11-25", "reporting_currency": "USD", "rate": "1.08" });
    if let Some(m) = model {
        body.as_object_mut().unwrap().extend(model_fields(m).as_object().unwrap().clone());
    }
    body
}

/// Credits as the API shows them (an attribution's `credits`).
fn credits(items: &Value) -> Vec<Shown> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(
                (c["amount"]["currency"].as_str(), c["reported"]["currency"].as_str()),
                (Some("EUR"), Some("USD"))
            );
            (
                c["partner"].as_str().unwrap().to_owned(),
                c["share_ppm"].as_u64().unwrap(),
                c["amount"]["minor"].as_i64().unwrap(),
                c["reported"]["minor"].as_i64().unwrap(),
                c["category"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn owned(credits: Vec<Credit>) -> Vec<Shown> {
    credits.into_iter().map(|(p, s, a, r, c)| (p.to_owned(), s, a, r, c.map(str::to_owned))).collect()
}

fn status(result: Result<Value, ClientError>) -> StatusCode {
    match result {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(ClientError::Api { status, .. }) => status,
        Err(e) => panic!("{e}"),
    }
}

async fn post(api: &ApiClient, path: &str, body: &Value, headers: &[(&str, &str)]) -> Result<Value, ClientError> {
    api.call(Method::POST, path, Some((serde_json::to_vec(body).unwrap(), "application/json")), headers).await
}

async fn touch(node: &Node, opportunity: &str, (partner, kind, at): (&str, &str, &str)) -> Value {
    let body = json!({ "opportunity": opportunity, "partner": partner, "kind": kind, "at": at });
    call(node, Method::POST, "/api/v1/attribution/touches", Some(body)).await.unwrap()
}

/// A receiver of the node's webhooks on loopback: what it got.
async fn receiver() -> (Arc<Mutex<Vec<(HeaderMap, Bytes)>>>, String) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                state.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, url)
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Posts `body` to an inbound source as a partner's system would: signed, and with a token
/// that is no token of this node (the receiver asks for none).
async fn deliver(
    anyone: &ApiClient,
    path: &str,
    secret: &Secret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Value, ClientError> {
    let signature = secret.sign(id, timestamp, body);
    let ts = timestamp.to_string();
    let headers = [("webhook-id", id), ("webhook-timestamp", ts.as_str()), ("webhook-signature", signature.as_str())];
    anyone.call(Method::POST, path, Some((body.to_vec(), "application/json")), &headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribution_end_to_end_on_sqlite() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribution_end_to_end_on_postgres() {
    if let Some(url) = blindmap_store::testing::postgres_url().await {
        scenario(Some(url)).await;
    }
}

async fn scenario(database_url: Option<String>) {
    let (hook, hook_url) = receiver().await;
    let vendor = node("Vendor", database_url).await;
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let fingerprint = vendor.running.fingerprint.clone();
    let anyone = ApiClient::new(&url, &fingerprint, "bm_not-a-token").unwrap();
    let store =
        Store::connect(&NodeConfig::load(&vendor._dir.path().join("node")).unwrap().database_url).await.unwrap();

    let doc: Value = anyone.call(Method::GET, "/api/v1/openapi.json", None, &[]).await.unwrap();
    assert_eq!(doc["paths"]["/api/v1/attribution/inbound/{source}"]["post"]["security"], json!([{}]), "no token");

    // The model: categorical until an admin sets another.
    let settings = call(&vendor, Method::GET, "/api/v1/attribution/settings", None).await.unwrap();
    assert_eq!(settings, json!({ "model": "categorical", "configured": false }));
    for bad in [
        json!({ "model": "nope" }),
        json!({ "model": "time_decay" }),
        json!({ "model": "linear", "half_life_days": 3 }),
    ] {
        let refused = call(&vendor, Method::PUT, "/api/v1/attribution/settings", Some(bad.clone())).await;
        assert_eq!(status(refused), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let set =
        call(&vendor, Method::PUT, "/api/v1/attribution/settings", Some(model_fields("time_decay"))).await.unwrap();
    assert_eq!(set, json!({ "model": "time_decay", "half_life_days": 30, "configured": true }));

    let endpoint = json!({ "url": hook_url, "events": ["attribution.recorded"] });
    let endpoint = call(&vendor, Method::POST, "/api/v1/hooks", Some(endpoint)).await.unwrap();
    let hook_secret = Secret::parse(endpoint["secret"].as_str().unwrap()).unwrap();

    // Touches through the API; a retry with the same Idempotency-Key records nothing more.
    for (i, t) in HISTORY.iter().enumerate().filter(|(i, _)| *i != 2) {
        let body = json!({ "opportunity": "OPP-1", "partner": t.0, "kind": t.1, "at": t.2 });
        let key = format!("touch-{i}");
        let first =
            post(&vendor.api, "/api/v1/attribution/touches", &body, &[("idempotency-key", &key)]).await.unwrap();
        let again =
            post(&vendor.api, "/api/v1/attribution/touches", &body, &[("idempotency-key", &key)]).await.unwrap();
        assert_eq!(first["id"], again["id"]);
        assert_eq!((first["actor"].as_str(), first["source"].as_str()), (Some("admin"), Some("api")));
    }
    for (bad, why) in [
        (json!({ "opportunity": "OPP-1", "partner": "Acme", "kind": "bought" }), "unknown kind"),
        (json!({ "opportunity": "OPP-1", "partner": "", "kind": "sourced" }), "empty partner"),
        (json!({ "opportunity": "x".repeat(201), "partner": "Acme", "kind": "sourced" }), "long opportunity"),
        (json!({ "opportunity": "OPP-1", "partner": "Acme", "kind": "sourced", "at": "31/01/2027" }), "bad date"),
    ] {
        let refused = call(&vendor, Method::POST, "/api/v1/attribution/touches", Some(bad)).await;
        assert_eq!(status(refused), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }

    // Initech's touch comes through an inbound source, signed.
    let source = call(&vendor, Method::POST, "/api/v1/attribution/sources", Some(json!({ "name": "Initech PRM" })))
        .await
        .unwrap();
    let source_secret = Secret::parse(source["secret"].as_str().unwrap()).unwrap();
    let sources = call(&vendor, Method::GET, "/api/v1/attribution/sources", None).await.unwrap();
    assert!(sources["items"][0].get("secret").is_none(), "the secret is shown once");
    let inbound = source["path"].as_str().unwrap().to_owned();
    let (partner, kind, at) = HISTORY[2];
    let body = serde_json::to_vec(&json!({ "type": "touch", "timestamp": "2026-12-02T10:00:00Z",
        "data": { "opportunity": "OPP-1", "partner": partner, "kind": kind, "at": at } }))
    .unwrap();
    let now = unix_seconds();
    let forged = Secret::from_bytes(&[7; 32]).unwrap();
    assert_eq!(status(deliver(&anyone, &inbound, &forged, "msg_a", now, &body).await), StatusCode::UNAUTHORIZED);
    let stale = deliver(&anyone, &inbound, &source_secret, "msg_a", now - 600, &body).await;
    assert_eq!(status(stale), StatusCode::UNAUTHORIZED, "outside the 5-minute tolerance");
    let unsigned: Result<Value, _> =
        anyone.call(Method::POST, &inbound, Some((body.clone(), "application/json")), &[]).await;
    assert_eq!(status(unsigned), StatusCode::UNAUTHORIZED);
    let missing = deliver(
        &anyone,
        "/api/v1/attribution/inbound/src_00000000000000000000000000000000",
        &source_secret,
        "msg_a",
        now,
        &body,
    );
    assert_eq!(status(missing.await), StatusCode::NOT_FOUND);
    let listed = call(&vendor, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-1", None).await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 5, "nothing recorded from a refused delivery");

    let receipt = deliver(&anyone, &inbound, &source_secret, "msg_a", now, &body).await.unwrap();
    assert_eq!((receipt["touches"].as_array().unwrap().len(), &receipt["duplicate"]), (1, &json!(false)));
    let replay = deliver(&anyone, &inbound, &source_secret, "msg_a", unix_seconds(), &body).await.unwrap();
    assert_eq!(replay, json!({ "touches": [], "duplicate": true }), "a redelivery is recorded once");

    let listed = call(&vendor, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-1", None).await.unwrap();
    let order: Vec<(&str, &str, &str)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["partner"].as_str().unwrap(), t["kind"].as_str().unwrap(), &t["at"].as_str().unwrap()[..10]))
        .collect();
    assert_eq!(order, HISTORY, "in the order they happened, the inbound one in its place");
    let initech = &listed["items"][2];
    assert_eq!((initech["source"].as_str(), initech["actor"].as_str()), (source["id"].as_str(), Some("Initech PRM")));

    // A rep reads and cannot write.
    let rep =
        call(&vendor, Method::POST, "/api/v1/users", Some(json!({ "name": "rex", "role": "rep" }))).await.unwrap();
    let rep = ApiClient::new(&url, &fingerprint, rep["token"]["token"].as_str().unwrap()).unwrap();
    let body = json!({ "opportunity": "OPP-1", "partner": "Acme", "kind": "sourced" });
    assert_eq!(status(post(&rep, "/api/v1/attribution/touches", &body, &[]).await), StatusCode::FORBIDDEN);
    let close_path = "/api/v1/attribution/opportunities/OPP-1/close";
    assert_eq!(status(post(&rep, close_path, &close_body(None), &[]).await), StatusCode::FORBIDDEN);
    let put = rep.call(
        Method::PUT,
        "/api/v1/attribution/settings",
        Some((b"{\"model\":\"linear\"}".to_vec(), "application/json")),
        &[],
    );
    assert_eq!(status(put.await), StatusCode::FORBIDDEN);
    let read: Value = rep.call(Method::GET, "/api/v1/attribution/touches", None, &[]).await.unwrap();
    assert_eq!(read["items"].as_array().unwrap().len(), 6);

    // Closes that are not won or do not add up are refused and record nothing.
    for (change, why) in [
        (json!({ "won": false }), "lost"),
        (json!({ "amount": "-5.00" }), "negative amount"),
        (json!({ "amount": "12,000" }), "not an amount"),
        (json!({ "currency": "eur" }), "not a currency"),
        (json!({ "rate": "0" }), "no rate"),
        (json!({ "rate": null }), "a reporting currency without a rate"),
        (json!({ "closed_at": "2027-02-30" }), "no such date"),
        (json!({ "created_at": "2027-02-01" }), "created after the close"),
        (json!({ "model": "quadratic" }), "no such model"),
    ] {
        let mut body = close_body(None);
        body.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        assert_eq!(
            status(call(&vendor, Method::POST, close_path, Some(body)).await),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{why}"
        );
    }
    let none = call(&vendor, Method::GET, "/api/v1/attribution/opportunities/OPP-1", None).await;
    assert_eq!(status(none), StatusCode::NOT_FOUND);

    // The close: credited under the configured model, time decay.
    let closed = call(&vendor, Method::POST, close_path, Some(close_body(None))).await.unwrap();
    assert_eq!(closed["attribution"]["model"], model_fields("time_decay"));
    assert_eq!(credits(&closed["attribution"]["credits"]), owned(expected("time_decay")));
    assert_eq!(closed["deal"]["amount"], json!({ "amount": "120000.00", "currency": "EUR", "minor": 12_000_000 }));
    assert_eq!(
        (closed["deal"]["rate"].as_str(), closed["deal"]["reporting_currency"].as_str()),
        (Some("1.08"), Some("USD"))
    );
    assert_eq!(closed["touches"].as_array().unwrap().len(), 5, "Umbrella's touch came after the close");
    let again = call(&vendor, Method::POST, close_path, Some(close_body(Some("linear")))).await;
    assert_eq!(status(again), StatusCode::CONFLICT, "an opportunity closes once");

    let ledger = call(&vendor, Method::GET, "/api/v1/attribution/ledger", None).await.unwrap();
    let entries = ledger["items"].as_array().unwrap();
    assert_eq!(credits(&ledger["items"]), owned(expected("time_decay")));
    assert!(entries.iter().all(|e| e["model"] == "time_decay" && e["rate"] == "1.08" && e["opportunity"] == "OPP-1"));
    assert_eq!(entries[0]["closed_at"], "2027-01-31T00:00:00.000Z");
    let globex = call(&vendor, Method::GET, "/api/v1/attribution/ledger?partner=Globex", None).await.unwrap();
    assert_eq!(credits(&globex["items"]), owned(expected("time_decay")[1..2].to_vec()));

    // Re-scored under every model: the credits worked out above; nothing written.
    let record = call(&vendor, Method::GET, "/api/v1/attribution/opportunities/OPP-1", None).await.unwrap();
    assert_eq!(record, closed, "the ledger of record is what the close answered");
    for model in MODELS {
        let query = if model == "time_decay" {
            "model=time_decay&half_life_days=30".to_owned()
        } else {
            format!("model={model}")
        };
        let path = format!("/api/v1/attribution/opportunities/OPP-1/score?{query}");
        let scored = call(&vendor, Method::GET, &path, None).await.unwrap();
        assert_eq!(credits(&scored["attribution"]["credits"]), owned(expected(model)), "{model}");
        assert_eq!((&scored["of_record"]["model"], &scored["deal"]), (&json!("time_decay"), &closed["deal"]));
    }
    let slower = call(
        &vendor,
        Method::GET,
        "/api/v1/attribution/opportunities/OPP-1/score?model=time_decay&half_life_days=3650",
        None,
    )
    .await
    .unwrap();
    assert_ne!(credits(&slower["attribution"]["credits"]), owned(expected("time_decay")), "the half-life counts");
    for bad in ["", "?model=nope", "?model=time_decay", "?model=linear&half_life_days=2"] {
        let path = format!("/api/v1/attribution/opportunities/OPP-1/score{bad}");
        assert_eq!(status(call(&vendor, Method::GET, &path, None).await), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    assert_eq!(call(&vendor, Method::GET, "/api/v1/attribution/opportunities/OPP-1", None).await.unwrap(), closed);
    assert_eq!(call(&vendor, Method::GET, "/api/v1/attribution/ledger", None).await.unwrap(), ledger, "unchanged");

    // The same history closed under each model: its ledger entries are that model's credits.
    for model in MODELS {
        let opportunity = format!("OPP-{model}");
        for t in &HISTORY {
            touch(&vendor, &opportunity, *t).await;
        }
        let path = format!("/api/v1/attribution/opportunities/{opportunity}/close");
        call(&vendor, Method::POST, &path, Some(close_body(Some(model)))).await.unwrap();
    }
    let everything = all_items(&vendor, "/api/v1/attribution/ledger").await;
    assert_eq!(everything.len(), 3 + 3 + 1 + 1 + 3 + 3 + 3 + 3, "every entry, across pages");
    for model in MODELS {
        let of_model: Vec<Value> =
            everything.iter().filter(|e| e["opportunity"] == format!("OPP-{model}").as_str()).cloned().collect();
        assert_eq!(credits(&Value::Array(of_model.clone())), owned(expected(model)), "{model}");
        assert!(of_model.iter().all(|e| e["model"] == model));
    }

    // Another organisation sees none of it.
    let other = store.create_organisation("Other").await.unwrap();
    let ada = store.create_user(&other.id, "ada", Role::Admin).await.unwrap();
    let (_, token) = store.issue_token(&other.id, &ada.id, "test").await.unwrap();
    let outsider = ApiClient::new(&url, &fingerprint, token.expose()).unwrap();
    let theirs: Result<Value, _> =
        outsider.call(Method::GET, "/api/v1/attribution/opportunities/OPP-1", None, &[]).await;
    assert_eq!(status(theirs), StatusCode::NOT_FOUND);
    let score: Result<Value, _> =
        outsider.call(Method::GET, "/api/v1/attribution/opportunities/OPP-1/score?model=linear", None, &[]).await;
    assert_eq!(status(score), StatusCode::NOT_FOUND);
    for path in ["/api/v1/attribution/ledger", "/api/v1/attribution/touches", "/api/v1/attribution/sources"] {
        let page: Value = outsider.call(Method::GET, path, None, &[]).await.unwrap();
        assert_eq!(page["items"], json!([]), "{path}");
    }
    let settings: Value = outsider.call(Method::GET, "/api/v1/attribution/settings", None, &[]).await.unwrap();
    assert_eq!(settings["configured"], false);

    // The event: delivered to the webhook, signed; and in the events feed.
    let closes = 1 + MODELS.len();
    for _ in 0..300 {
        if hook.lock().unwrap().len() >= closes {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = hook.lock().unwrap().clone();
    assert_eq!(received.len(), closes, "one event per close");
    let first = received
        .iter()
        .find(|(_, body)| serde_json::from_slice::<Value>(body).unwrap()["data"]["opportunity"] == "OPP-1")
        .expect("OPP-1's event");
    let (headers, body) = first;
    let timestamp: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let id = headers["webhook-id"].to_str().unwrap();
    hook_secret.verify(id, timestamp, body, headers["webhook-signature"].to_str().unwrap(), timestamp).unwrap();
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["type"], "attribution.recorded");
    assert_eq!(credits(&event["data"]["attribution"]["credits"]), owned(expected("time_decay")));
    assert!(event["data"].get("touches").is_none(), "the event carries the credits, not the history");

    let feed = call(&vendor, Method::GET, "/api/v1/events?limit=1000", None).await.unwrap();
    let recorded: Vec<&Value> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "attribution.recorded")
        .map(|e| &e["data"]["opportunity"])
        .collect();
    assert_eq!(recorded.len(), closes);
    assert_eq!(recorded[0], "OPP-1");
    assert!(
        received.iter().any(|(h, _)| h["webhook-id"] == feed["items"][0]["id"].as_str().unwrap()),
        "the same event"
    );
    let none: Value = outsider.call(Method::GET, "/api/v1/events", None, &[]).await.unwrap();
    assert_eq!(none["items"], json!([]));
    store.close().await;
    vendor.running.shutdown().await.unwrap();
}

/// The problem's detail of a refused call.
fn refusal(result: Result<Value, ClientError>) -> (StatusCode, String) {
    match result {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(ClientError::Api { status, detail }) => (status, detail),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touches_carry_amounts_and_the_pipeline_sums_them_per_partner() {
    let vendor = node("Vendor", None).await;
    let post_touch = |body: Value| call(&vendor, Method::POST, "/api/v1/attribution/touches", Some(body));
    let t = |opp: &str, partner: &str, kind: &str, at: &str| json!({ "opportunity": opp, "partner": partner, "kind": kind, "at": at });
    let with = |mut v: Value, amount: &str, currency: &str| {
        v["amount"] = json!(amount);
        v["currency"] = json!(currency);
        v
    };
    let shown = post_touch(with(t("OPP-A", "Acme", "referral", "2027-01-05"), "48000.00", "EUR")).await.unwrap();
    assert_eq!(shown["amount"], json!({ "amount": "48000.00", "currency": "EUR", "minor": 4_800_000 }));
    // A later amount on the same opportunity is its pipeline.
    post_touch(with(t("OPP-A", "Globex", "influenced", "2027-01-20"), "50000.00", "EUR")).await.unwrap();
    post_touch(with(t("OPP-B", "Acme", "co_selling", "2027-01-10"), "7000", "USD")).await.unwrap();
    let plain = post_touch(t("OPP-C", "Acme", "influenced", "2027-01-11")).await.unwrap();
    assert!(plain.get("amount").is_none(), "no amount, none shown: {plain}");
    // Won in the period: sourced by Acme.
    post_touch(t("OPP-W", "Acme", "sourced", "2027-01-02")).await.unwrap();
    let close = json!({ "amount": "1000.00", "currency": "EUR", "closed_at": "2027-01-25" });
    call(&vendor, Method::POST, "/api/v1/attribution/opportunities/OPP-W/close", Some(close)).await.unwrap();

    // Refused, saying why, recording nothing.
    for (body, says) in [
        (
            json!({ "opportunity": "O", "partner": "P", "kind": "sourced", "amount": "10.00" }),
            "amount and currency go together",
        ),
        (
            json!({ "opportunity": "O", "partner": "P", "kind": "sourced", "currency": "EUR" }),
            "amount and currency go together",
        ),
        (with(t("O", "P", "sourced", "2027-01-01"), "10.00", "EURO"), "currency"),
        (with(t("O", "P", "sourced", "2027-01-01"), "-10.00", "EUR"), "cannot be negative"),
        (with(t("O", "P", "sourced", "2027-01-01"), "10.001", "EUR"), "is not an amount of EUR"),
    ] {
        let (status, detail) = refusal(post_touch(body.clone()).await);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail.contains(says), "{body}: {detail}");
    }
    let all = call(&vendor, Method::GET, "/api/v1/attribution/touches?opportunity=O", None).await.unwrap();
    assert_eq!(all["items"], json!([]));
    let acme = call(&vendor, Method::GET, "/api/v1/attribution/touches?partner=Acme", None).await.unwrap();
    assert_eq!(acme["items"].as_array().unwrap().len(), 4, "filtered by partner");

    let p =
        call(&vendor, Method::GET, "/api/v1/attribution/pipeline?from=2027-01-01&to=2027-02-01", None).await.unwrap();
    assert_eq!(
        (p["from"].as_str(), p["to"].as_str()),
        (Some("2027-01-01T00:00:00.000Z"), Some("2027-02-01T00:00:00.000Z"))
    );
    let names: Vec<&str> = p["partners"].as_array().unwrap().iter().map(|l| l["partner"].as_str().unwrap()).collect();
    assert_eq!(names, ["Acme", "Globex"], "the partner with won deals first");
    let acme = &p["partners"][0];
    assert_eq!(acme["sourced"]["amounts"], json!([{ "amount": "50000.00", "currency": "EUR", "minor": 5_000_000 }]));
    assert_eq!(acme["influenced"]["count"], 2);
    assert_eq!(acme["influenced"]["unknown"], 1, "OPP-C has no amount");
    assert_eq!(acme["influenced"]["amounts"], json!([{ "amount": "7000.00", "currency": "USD", "minor": 700_000 }]));
    assert_eq!(acme["won_sourced"]["amounts"][0]["amount"], "1000.00");
    assert_eq!(acme["won_sourced"]["count"], 1);
    assert_eq!(p["partners"][1]["influenced"]["amounts"][0]["amount"], "50000.00");
    // OPP-W closed won in the period: not pipeline.
    assert_eq!(acme["sourced"]["count"], 1);
    // A period before any touch: nobody.
    let empty = call(&vendor, Method::GET, "/api/v1/attribution/pipeline?from=2026-01-01&to=2026-02-01", None).await;
    assert_eq!(empty.unwrap()["partners"], json!([]));
    for bad in ["from=2027-02-01&to=2027-01-01", "from=yesterday", "from=2000-01-01&to=2027-01-01"] {
        let (status, _) =
            refusal(call(&vendor, Method::GET, &format!("/api/v1/attribution/pipeline?{bad}"), None).await);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    vendor.running.shutdown().await.unwrap();
}

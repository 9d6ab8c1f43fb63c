//! Two replicas of one node on one PostgreSQL database, as behind a load balancer: they share the
//! data folder's identity and the database, and nothing else. Any replica answers any request:
//! a dataset uploaded through one is matched by a run started through the other, whose state and
//! results the first reports; a retried start with the same idempotency key on the other replica
//! gets the same run.

use std::time::Duration;

use blindmap_server::client::{ApiClient, Method};
use blindmap_server::node::{InitOptions, NodeConfig, RunningNode, init, start};
use serde_json::{Value, json};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

async fn call(api: &ApiClient, method: Method, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| (serde_json::to_vec(&b).unwrap(), "application/json"));
    api.call(method, path, body, &[]).await.unwrap()
}

async fn upload(api: &ApiClient, name: &str, csv: &str) {
    let path = format!("/api/v1/datasets?name={name}");
    api.call::<Value>(Method::POST, &path, Some((csv.as_bytes().to_vec(), "text/csv")), &[]).await.unwrap();
}

fn client(node: &RunningNode, token: &str) -> ApiClient {
    ApiClient::new(&format!("https://127.0.0.1:{}", node.addr.port()), &node.fingerprint, token).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_serve_any_request() {
    let Some(database) = blindmap_store::testing::postgres_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let init_node = |name: &str, database_url: Option<String>| InitOptions {
        data_dir: dir.path().join(name),
        organisation: name.into(),
        admin: "admin".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        database_url,
    };
    let vendor = init_node("Vendor", Some(database));
    let vendor_made = init(&vendor).await.unwrap();
    let config = NodeConfig::load(&vendor.data_dir).unwrap();
    let (a, b) = (start(&vendor.data_dir, &config).await.unwrap(), start(&vendor.data_dir, &config).await.unwrap());
    assert_eq!(a.fingerprint, b.fingerprint, "one identity behind the balancer");
    let token = vendor_made.admin_token.expose();
    let (via_a, via_b) = (client(&a, token), client(&b, token));

    let partner = init_node("Partner", None);
    let partner_made = init(&partner).await.unwrap();
    let partner_node = start(&partner.data_dir, &NodeConfig::load(&partner.data_dir).unwrap()).await.unwrap();
    let partner_api = client(&partner_node, partner_made.admin_token.expose());

    upload(&via_b, "vendor-salesforce.csv", VENDOR_CSV).await;
    upload(&partner_api, "partner-hubspot.csv", PARTNER_CSV).await;
    let invite = call(&via_a, Method::POST, "/api/v1/partnerships/invites", None).await;
    let accepted =
        call(&partner_api, Method::POST, "/api/v1/partnerships", Some(json!({ "code": invite["code"] }))).await;
    let policy = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    let sharing = format!("/api/v1/partnerships/{}/sharing", accepted["id"].as_str().unwrap());
    call(&partner_api, Method::PUT, &sharing, Some(policy)).await;
    let listed = call(&via_b, Method::GET, "/api/v1/partnerships", None).await;
    let pid = listed["items"][0]["id"].as_str().unwrap().to_owned();

    // Started through A with a key; the retry through B answers with the same run.
    let body = serde_json::to_vec(&json!({ "partnership": pid })).unwrap();
    let headers = [("idempotency-key", "start-1")];
    let started: Value =
        via_a.call(Method::POST, "/api/v1/runs", Some((body.clone(), "application/json")), &headers).await.unwrap();
    let retried: Value =
        via_b.call(Method::POST, "/api/v1/runs", Some((body, "application/json")), &headers).await.unwrap();
    assert_eq!(started["id"], retried["id"], "one run for one key, whichever replica answers");
    let id = started["id"].as_str().unwrap().to_owned();

    // B reports the run A drives, and its results.
    let mut run = Value::Null;
    for _ in 0..600 {
        run = call(&via_b, Method::GET, &format!("/api/v1/runs/{id}"), None).await;
        if run["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run["state"], "complete", "{run}");
    let overlaps = call(&via_b, Method::GET, &format!("/api/v1/runs/{id}/overlaps?limit=1000"), None).await;
    assert!(!overlaps["items"].as_array().unwrap().is_empty());
    let via_a_overlaps = call(&via_a, Method::GET, &format!("/api/v1/runs/{id}/overlaps?limit=1000"), None).await;
    assert_eq!(overlaps["items"], via_a_overlaps["items"]);

    for node in [a, b, partner_node] {
        node.shutdown().await.unwrap();
    }
}

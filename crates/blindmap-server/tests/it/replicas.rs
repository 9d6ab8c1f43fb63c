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

/// `n` synthetic accounts as a Salesforce export, from `from`: account `i` is the company of
/// domain `company{i}.example`, whoever lists it.
fn accounts(from: usize, n: usize, prefix: &str) -> String {
    let mut csv = String::from(
        "Account ID,Account Name,Type,Website,Billing City,Billing Country,Industry,Employees,Account Owner,D-U-N-S Number,Description\n",
    );
    for i in from..from + n {
        csv.push_str(&format!(
            "{prefix}{i:012},Company {i} Ltd,Customer - Direct,https://company{i}.example,Seattle,United States,Retail,100,Ada Byron,,\n"
        ));
    }
    csv
}

async fn jobs(api: &ApiClient) -> Vec<Value> {
    call(api, Method::GET, "/api/v1/jobs", None).await["items"].as_array().unwrap().clone()
}

/// Scheduled runs of four partnerships on two replicas of one node: the jobs spread across both
/// (each replica drives one at a time), and when one replica dies holding a job, the other takes
/// it over once its lease lapses and runs it to the end. Nothing is done twice: each job ends
/// with one complete run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_jobs_spread_across_replicas_and_survive_one_being_killed() {
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
    let vendor = init_node("Vendor", Some(database.clone()));
    let vendor_made = init(&vendor).await.unwrap();
    let config = NodeConfig::load(&vendor.data_dir).unwrap();
    let (a, b) = (start(&vendor.data_dir, &config).await.unwrap(), start(&vendor.data_dir, &config).await.unwrap());
    let token = vendor_made.admin_token.expose();
    let (via_a, via_b) = (client(&a, token), client(&b, token));
    upload(&via_a, "vendor.csv", &accounts(0, 12_000, "001V")).await;

    // One partner node hosting four organisations, each with its own window of the vendor's list.
    let partner = init_node("Partner0", None);
    let partner_made = init(&partner).await.unwrap();
    let mut tokens = vec![partner_made.admin_token.expose().to_owned()];
    for i in 1..4 {
        let made = blindmap_server::node::add_organisation(&partner.data_dir, &format!("Partner{i}"), "admin").await;
        tokens.push(made.unwrap().expose().to_owned());
    }
    let partner_node = start(&partner.data_dir, &NodeConfig::load(&partner.data_dir).unwrap()).await.unwrap();
    let everything = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    let mut partnerships = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let api = client(&partner_node, token);
        upload(&api, "partner.csv", &accounts(i * 2_000, 10_000, &format!("001P{i}"))).await;
        let invite = call(&via_a, Method::POST, "/api/v1/partnerships/invites", None).await;
        let accepted = call(&api, Method::POST, "/api/v1/partnerships", Some(json!({ "code": invite["code"] }))).await;
        let theirs = accepted["id"].as_str().unwrap();
        call(&api, Method::PUT, &format!("/api/v1/partnerships/{theirs}/sharing"), Some(everything.clone())).await;
    }
    for p in call(&via_b, Method::GET, "/api/v1/partnerships", None).await["items"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap().to_owned();
        call(&via_b, Method::PUT, &format!("/api/v1/partnerships/{id}/sharing"), Some(everything.clone())).await;
        let schedule = json!({ "kind": "every", "hours": 24 });
        call(&via_b, Method::PUT, &format!("/api/v1/partnerships/{id}/schedule"), Some(schedule)).await;
        partnerships.push(id);
    }
    assert_eq!(partnerships.len(), 4);

    // All four come due at once.
    let store = blindmap_store::Store::connect(&database).await.unwrap();
    for id in &partnerships {
        blindmap_store::testing::make_schedule_due(&store, &blindmap_store::PartnershipId::parse(id).unwrap()).await;
    }

    // Both replicas take one; A dies while it holds its job.
    let (replica_a, replica_b) = (a.replica().to_owned(), b.replica().to_owned());
    let mut both_at_once = false;
    let mut killed = None;
    for _ in 0..1200 {
        let listed = jobs(&via_b).await;
        let running: Vec<&Value> = listed.iter().filter(|j| j["state"] == "running").collect();
        both_at_once |= running.iter().any(|j| j["replica"] == replica_a.as_str())
            && running.iter().any(|j| j["replica"] == replica_b.as_str());
        if let Some(job) = running.iter().find(|j| j["replica"] == replica_a.as_str() && j["run"].is_string()) {
            killed = Some(job["id"].as_str().unwrap().to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = killed.expect("replica A took a job");
    a.kill();
    // A minute later, as far as the store can tell: A's lease has lapsed and its run's heartbeat
    // is a minute old.
    blindmap_store::testing::lapse_leases_of(&store, &replica_a).await;

    // B finishes everything, A's job included.
    let mut listed = Vec::new();
    for _ in 0..2400 {
        listed = jobs(&via_b).await;
        if listed.len() == 4 && listed.iter().all(|j| j["state"] == "done" || j["state"] == "failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed.iter().all(|j| j["state"] == "done"), "{listed:#?}");
    let taken_over = listed.iter().find(|j| j["id"] == killed.as_str()).unwrap();
    assert_eq!(
        (taken_over["replica"].as_str(), taken_over["attempts"].as_u64()),
        (Some(replica_b.as_str()), Some(2)),
        "{taken_over}"
    );
    assert!(both_at_once || listed.iter().any(|j| j["replica"] == replica_b.as_str() && j["id"] != killed.as_str()));
    for job in &listed {
        let run = call(&via_b, Method::GET, &format!("/api/v1/runs/{}", job["run"].as_str().unwrap()), None).await;
        assert_eq!(
            (run["state"].as_str(), run["started_by"].as_str()),
            (Some("complete"), Some("blindmap (scheduled)"))
        );
    }
    let runs = call(&via_b, Method::GET, "/api/v1/runs?limit=100", None).await;
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.iter().filter(|r| r["state"] == "complete").count(), 4, "one complete run per job");
    let dead = runs.iter().find(|r| r["state"] == "failed").expect("the run A was driving");
    assert!(dead["failure"].as_str().unwrap().contains("heartbeat"), "{dead}");

    for node in [b, partner_node] {
        node.shutdown().await.unwrap();
    }
}

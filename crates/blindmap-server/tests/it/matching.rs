//! Two real nodes match over mutual TLS, on SQLite and on PostgreSQL: each imports a sample CRM
//! export through the API, they pair, the vendor starts a run, and both sides' stored results are
//! checked against ground truth (the same match in one process) and against each side's policy:
//! the vendor shares counts only, so the partner never receives record-level data; the partner
//! hides its prospects, so they never appear. The vendor's transcript holds no domain, name or
//! DUNS of either input. A re-run with changed data reports what changed.

use std::collections::BTreeSet;
use std::time::Duration;

use blindmap_psi::{DisclosurePolicy, Level, Session, SessionConfig, SessionSeed, run_in_process};
use blindmap_records::{Preset, Side, import_dataset};
use blindmap_server::client::{ClientError, Method};
use serde_json::{Value, json};

use crate::common::{Restartable, all_overlaps, call, finished, node, upload, upload_active};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

/// The vendor's overlapping accounts per partner segment, computed in one process with the
/// partner's policy: what the networked run must store.
fn ground_truth(partner_csv: &str) -> BTreeSet<(String, String)> {
    let load = |csv: &str, preset: Preset, side| {
        import_dataset("x.csv", csv.as_bytes(), &preset.mapping(), side, |_| {}).unwrap().dataset
    };
    let vendor = std::sync::Arc::new(load(VENDOR_CSV, Preset::Salesforce, Side::First));
    let partner = std::sync::Arc::new(load(partner_csv, Preset::Hubspot, Side::Second));
    let prospects = blindmap_psi::SegmentLabel::new("prospects").unwrap();
    let partner_policy = DisclosurePolicy::new(Level::Overlaps)
        .with_rule(None, Some(prospects.clone()), Level::Overlaps)
        .unwrap()
        .with_rule(Some(prospects), None, Level::Hidden)
        .unwrap()
        .with_threshold(1)
        .with_min_partner_segment(1);
    let seed = || SessionSeed::random(&mut rand::rng());
    let a = Session::initiator(vendor.clone(), DisclosurePolicy::new(Level::Counts), SessionConfig::default(), seed())
        .unwrap();
    let b = Session::responder(partner, partner_policy, SessionConfig::default(), seed()).unwrap();
    let run = run_in_process(a, b).unwrap();
    run.initiator
        .overlaps()
        .iter()
        .map(|o| {
            let label = &run.initiator.partner_segments()[usize::from(o.partner.segment)].label;
            (vendor.records()[o.record].id.clone(), label.to_string())
        })
        .collect()
}

/// Every CRM value that could identify an account: names, domains and DUNS as written in the
/// files, and every protocol key the importer makes of them (and its parts).
fn identifiers() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (csv, columns) in [
        (VENDOR_CSV, &["Account Name", "Website", "D-U-N-S Number"][..]),
        (
            PARTNER_CSV,
            &["Company name", "Company Domain Name", "Website URL", "Additional Domains", "D-U-N-S Number"][..],
        ),
    ] {
        let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let headers = reader.headers().unwrap().clone();
        for row in reader.records() {
            let row = row.unwrap();
            for (h, v) in headers.iter().zip(row.iter()) {
                if columns.contains(&h) {
                    out.extend(v.split(';').map(|p| p.trim().to_owned()));
                }
            }
        }
    }
    for (csv, preset, side) in
        [(VENDOR_CSV, Preset::Salesforce, Side::First), (PARTNER_CSV, Preset::Hubspot, Side::Second)]
    {
        let imported = import_dataset("x.csv", csv.as_bytes(), &preset.mapping(), side, |_| {}).unwrap();
        for record in imported.dataset.records() {
            for key in &record.keys {
                out.insert(key.value().to_owned());
                out.extend(key.value().split('|').map(str::to_owned));
            }
        }
    }
    // Short fragments (country codes, `-`) say nothing about an account.
    out.retain(|v| v.len() >= 5);
    out
}

/// The bytes of every frame in a transcript.
fn transcript_bytes(text: &str) -> Vec<u8> {
    text.lines().filter(|l| l.starts_with("  ")).flat_map(|l| hex::decode(l.trim()).unwrap()).collect()
}

async fn matching_end_to_end(database: impl Fn() -> Option<String>) {
    let vendor = node("Vendor", database()).await;
    let partner = node("Partner", database()).await;
    upload(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await;
    upload(&partner, "partner-hubspot.csv", PARTNER_CSV).await;

    let invite = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let accepted =
        call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": invite["code"] }))).await.unwrap();
    let partner_pid = accepted["id"].as_str().unwrap().to_owned();
    let vendor_pid = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The partner shows the vendor which accounts overlap, except its prospects; the vendor keeps
    // the default (counts only, threshold 5).
    let policy = json!({ "rules": [
            { "own_segment": "*", "partner_segment": "*", "level": "overlaps" },
            { "own_segment": "prospects", "partner_segment": "*", "level": "hidden" }],
        "threshold": 1, "min_partner_segment": 1 });
    call(&partner, Method::PUT, &format!("/api/v1/partnerships/{partner_pid}/sharing"), Some(policy)).await.unwrap();

    let started =
        call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": vendor_pid, "transcript": true })))
            .await
            .unwrap();
    assert_eq!(started["state"], "running");
    let run_id = started["id"].as_str().unwrap().to_owned();
    let run = finished(&vendor, &run_id).await;
    assert_eq!(run["state"], "complete", "{run}");
    let result = &run["result"];
    assert!(run["progress"]["total"].as_u64().unwrap() > 0);

    // The vendor's matrix: overlaps from the partner's customers and open opportunities, hidden
    // for its prospects.
    let columns: Vec<&str> =
        result["columns"].as_array().unwrap().iter().map(|c| c["segment"].as_str().unwrap()).collect();
    let hidden = columns.iter().position(|c| *c == "prospects").unwrap();
    for row in result["cells"].as_array().unwrap() {
        assert_eq!(row[hidden]["level"], "hidden");
        assert_eq!(row[hidden]["shown"], "hidden");
    }
    let overlaps = all_overlaps(&vendor, &format!("/api/v1/runs/{run_id}/overlaps")).await;
    let got: BTreeSet<(String, String)> = overlaps
        .iter()
        .map(|o| (o["account_id"].as_str().unwrap().to_owned(), o["partner_segment"].as_str().unwrap().to_owned()))
        .collect();
    let truth = ground_truth(PARTNER_CSV);
    assert!(!truth.is_empty());
    assert_eq!(got, truth, "the networked run stores what the same match in one process finds");
    assert!(got.iter().all(|(_, segment)| segment != "prospects"), "a hidden segment never appears");
    assert!(overlaps.iter().all(|o| !o["own_fields"].as_object().unwrap().is_empty()));
    let filtered =
        all_overlaps(&vendor, &format!("/api/v1/overlaps?partnership={vendor_pid}&partner_segment=customers")).await;
    assert_eq!(filtered.len(), truth.iter().filter(|(_, s)| s == "customers").count());

    // The partner's side: a complete responder run with counts only — no record-level data.
    let partner_runs = call(&partner, Method::GET, "/api/v1/runs", None).await.unwrap();
    let partner_run = partner_runs["items"][0].clone();
    assert_eq!(partner_run["role"], "responder");
    let partner_run = finished(&partner, partner_run["id"].as_str().unwrap()).await;
    assert_eq!(partner_run["state"], "complete", "{partner_run}");
    for row in partner_run["result"]["cells"].as_array().unwrap() {
        for cell in row.as_array().unwrap() {
            assert_eq!(cell["level"], "counts", "{cell}");
        }
    }
    let partner_overlaps =
        all_overlaps(&partner, &format!("/api/v1/runs/{}/overlaps", partner_run["id"].as_str().unwrap())).await;
    assert!(partner_overlaps.is_empty(), "a counts side never receives record-level data");
    assert_eq!(partner_run["result"]["session"], result["session"], "one session, two records of it");
    let trail = call(&partner, Method::GET, "/api/v1/audit", None).await.unwrap();
    let revealed = trail["items"].as_array().unwrap().iter().find(|e| e["kind"] == "match.revealed").unwrap();
    assert_eq!(revealed["detail"]["policy"]["rules"][1]["level"], "hidden", "the policy in force is audited");

    // The transcript: every frame, and no identifier of either side in any of them.
    let text = vendor.api.call_text(Method::GET, &format!("/api/v1/runs/{run_id}/transcript")).await.unwrap();
    assert!(text.starts_with("blindmap transcript v1\n"));
    let frames = text.lines().filter(|l| l.starts_with('>') || l.starts_with('<')).count() as u64;
    assert_eq!(frames, result["frames"].as_u64().unwrap());
    let bytes = transcript_bytes(&text);
    assert_eq!(bytes.len() as u64, result["bytes_sent"].as_u64().unwrap() + result["bytes_received"].as_u64().unwrap());
    for id in identifiers() {
        assert!(!text.contains(&id), "{id:?} in the transcript's text");
        assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()), "{id:?} in a frame");
    }

    // The partner drops two of its accounts and re-imports; the vendor's re-run reports the
    // accounts it lost.
    let lines: Vec<&str> = PARTNER_CSV.lines().collect();
    let changed = [&lines[..1], &lines[3..]].concat().join("\n");
    // A new export is matched once it is made the active dataset.
    upload_active(&partner, "partner-hubspot-v2.csv", &changed).await;
    let second = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": vendor_pid }))).await.unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&vendor, &second_id).await["state"], "complete");
    let changes = call(&vendor, Method::GET, &format!("/api/v1/runs/{second_id}/changes"), None).await.unwrap();
    assert_eq!(changes["previous_run"], run_id.as_str());
    let lost: BTreeSet<(String, String)> = changes["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            let segment = c["partner_segment"].as_str().unwrap().to_owned();
            c["lost"].as_array().into_iter().flatten().map(move |a| (a.as_str().unwrap().to_owned(), segment.clone()))
        })
        .collect();
    let truth_after = ground_truth(&changed);
    assert!(!lost.is_empty(), "dropping the partner's first accounts loses overlaps: {changes}");
    assert_eq!(lost, truth.difference(&truth_after).cloned().collect(), "exactly the lost overlaps");

    // The same, account by account, with names, kept by the API and carried by the event.
    let listed =
        call(&vendor, Method::GET, &format!("/api/v1/changes?run={second_id}&limit=1000"), None).await.unwrap();
    let listed = listed["items"].as_array().unwrap().clone();
    let by_account: BTreeSet<(String, String)> = listed
        .iter()
        .map(|c| {
            assert_eq!(
                (c["change"].as_str(), c["previous_run"].as_str()),
                (Some("lost"), Some(run_id.as_str())),
                "{c}"
            );
            assert!(!c["name"].as_str().unwrap().is_empty(), "named: {c}");
            (c["account_id"].as_str().unwrap().to_owned(), c["partner_segment"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(by_account, lost);
    let mut walked = Vec::new();
    let mut path = "/api/v1/changes?limit=1".to_owned();
    loop {
        let page = call(&vendor, Method::GET, &path, None).await.unwrap();
        walked.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/changes?limit=1&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, listed, "a page at a time, the same list");
    let none_new = call(&vendor, Method::GET, "/api/v1/changes?change=new", None).await.unwrap();
    assert!(none_new["items"].as_array().unwrap().is_empty(), "the partner only dropped accounts");
    let one = &listed[0]["account_id"].as_str().unwrap();
    let theirs = call(&vendor, Method::GET, &format!("/api/v1/changes?account={one}"), None).await.unwrap();
    assert!(theirs["items"].as_array().unwrap().iter().all(|c| c["account_id"] == *one));
    let later = call(&vendor, Method::GET, "/api/v1/changes?since=99999999999999", None).await.unwrap();
    assert!(later["items"].as_array().unwrap().is_empty());
    let events = call(&vendor, Method::GET, "/api/v1/events?limit=1000", None).await.unwrap();
    let event = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "overlap.changed" && e["data"]["run"] == second_id.as_str())
        .expect("the second run's event");
    assert_eq!(event["data"]["accounts_total"].as_u64(), Some(listed.len() as u64), "{event}");
    assert_eq!(event["data"]["accounts"].as_array().unwrap().len(), listed.len());
    // Another organisation of the vendor's node sees none of it; a rep reads but keeps no less.
    let stranger =
        blindmap_server::node::add_organisation(&vendor._dir.path().join("node"), "Stranger", "eve").await.unwrap();
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let eve = blindmap_server::client::ApiClient::new(&url, &vendor.running.fingerprint, stranger.expose()).unwrap();
    for path in
        ["/api/v1/changes", &format!("/api/v1/changes?run={second_id}"), &format!("/api/v1/changes?account={one}")]
    {
        let seen: Value = eve.call(Method::GET, path, None, &[]).await.unwrap();
        assert!(seen["items"].as_array().unwrap().is_empty(), "{path}: {seen}");
    }
    let theirs: Result<Value, _> =
        eve.call(Method::GET, &format!("/api/v1/changes?partnership={vendor_pid}"), None, &[]).await;
    assert!(matches!(&theirs, Err(ClientError::Api { status, .. }) if status.as_u16() == 404), "{theirs:?}");
    let (_, rep) = crate::common::rep(&vendor).await;
    let rita = blindmap_server::client::ApiClient::new(&url, &vendor.running.fingerprint, &rep).unwrap();
    let seen: Value = rita.call(Method::GET, "/api/v1/changes", None, &[]).await.unwrap();
    assert_eq!(seen["items"].as_array().unwrap().len(), listed.len(), "reps read what changed");
    let body = Some((serde_json::to_vec(&json!({ "keep_runs": 2, "change_days": 1 })).unwrap(), "application/json"));
    let refused: Result<Value, _> = rita.call(Method::PUT, "/api/v1/retention", body, &[]).await;
    assert!(matches!(&refused, Err(ClientError::Api { status, .. }) if status.as_u16() == 403), "{refused:?}");

    // A node without a partnership is refused on the run route, whoever calls.
    let without_cert =
        call(&partner, Method::POST, &format!("/peer/v1/partnerships/{partner_pid}/runs"), Some(json!({}))).await;
    assert!(
        matches!(&without_cert, Err(ClientError::Api { status, .. }) if status.as_u16() == 403),
        "{without_cert:?}"
    );

    // After the partnership ends, no run starts.
    call(&vendor, Method::POST, &format!("/api/v1/partnerships/{vendor_pid}/end"), None).await.unwrap();
    let refused = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": vendor_pid }))).await;
    assert!(matches!(&refused, Err(ClientError::Api { status, .. }) if status.as_u16() == 409), "{refused:?}");

    for n in [vendor, partner] {
        n.running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_match_on_sqlite() {
    matching_end_to_end(|| None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_match_on_postgres() {
    let Some(first) = blindmap_store::testing::postgres_url().await else { return };
    let second = blindmap_store::testing::postgres_url().await.unwrap();
    let urls = std::sync::Mutex::new(vec![second, first]);
    matching_end_to_end(|| urls.lock().unwrap().pop()).await;
}

/// The run route answers only the certificate pinned for an active partnership: a partner
/// without a node, paired by invite, matches from its own machine; a stranger's certificate, a
/// client pinning the wrong node, and an ended partnership are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_route_answers_only_its_pinned_partner() {
    use blindmap_server::client::remote::{self, Progress, RemoteError};
    use blindmap_server::node::identity::Identity;

    let vendor = node("Vendor", None).await;
    upload(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await;
    let client = Identity::generate(&["localhost".to_owned()]).unwrap();
    let invite = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let pairing = remote::accept(&client, invite["code"].as_str().unwrap(), "Partner Co").await.unwrap();
    assert_eq!(pairing.organisation, "Vendor");
    let data = std::sync::Arc::new(
        import_dataset("p.csv", PARTNER_CSV.as_bytes(), &Preset::Hubspot.mapping(), Side::First, |_| {})
            .unwrap()
            .dataset,
    );
    let policy = || DisclosurePolicy::new(Level::Overlaps).with_threshold(1).with_min_partner_segment(1);
    let progress = || std::sync::Arc::new(Progress::default());

    let run = remote::run(&client, &pairing, data.clone(), policy(), true, progress()).await.unwrap();
    assert!(run.transcript.unwrap().starts_with("blindmap transcript v1\n"));
    assert!(run.outcome.overlaps().is_empty(), "the vendor shares counts only until it says otherwise");
    let runs = call(&vendor, Method::GET, "/api/v1/runs", None).await.unwrap();
    let served = finished(&vendor, runs["items"][0]["id"].as_str().unwrap()).await;
    assert_eq!((served["role"].as_str(), served["state"].as_str()), (Some("responder"), Some("complete")));
    assert_eq!(served["partner"], "Partner Co");
    let vendor_overlaps =
        all_overlaps(&vendor, &format!("/api/v1/runs/{}/overlaps", served["id"].as_str().unwrap())).await;
    assert!(!vendor_overlaps.is_empty(), "the partner disclosed overlaps to the vendor");

    let refused = |r: Result<remote::RemoteRun, RemoteError>| match r {
        Err(RemoteError::Client(ClientError::Api { status, .. })) => status.as_u16() == 403,
        _ => false,
    };
    let stranger = Identity::generate(&["localhost".to_owned()]).unwrap();
    let r = remote::run(&stranger, &pairing, data.clone(), policy(), false, progress()).await;
    assert!(refused(r), "a certificate the vendor did not pin");
    let mut wrong_pin = pairing.clone();
    wrong_pin.fingerprint = stranger.fingerprint();
    let r = remote::run(&client, &wrong_pin, data.clone(), policy(), false, progress()).await;
    assert!(matches!(r, Err(RemoteError::Client(ClientError::Transport(_)))), "the client refuses an unpinned node");

    let pid = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(&vendor, Method::POST, &format!("/api/v1/partnerships/{pid}/end"), None).await.unwrap();
    let r = remote::run(&client, &pairing, data, policy(), false, progress()).await;
    assert!(refused(r), "ended: nothing flows");
    vendor.running.shutdown().await.unwrap();
}

/// A generic-format export of `n` accounts, `company{i}-bench.com` from `from`.
fn synthetic(n: usize, from: usize) -> String {
    let mut csv = String::from("id,segment,domain\n");
    for i in from..from + n {
        csv.push_str(&format!("a{i},customers,company{i}-bench.com\n"));
    }
    csv
}

/// A node that stops in the middle of a run fails it at once with its reason, and stores
/// nothing of it; the partner's side fails too, and a restarted node reports the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopping_mid_run_fails_it_on_both_sides() {
    let vendor = node("Vendor", None).await;
    let restartable = Restartable::new("Partner").await;
    let partner = restartable.start().await;

    // Large enough that the session is still exchanging when the partner stops.
    upload(&vendor, "v.csv", &synthetic(40_000, 0)).await;
    upload(&partner, "p.csv", &synthetic(40_000, 20_000)).await;
    let invite = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": invite["code"] }))).await.unwrap();
    let pid = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"][0]["id"].clone();
    let started = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();

    let mut partner_run = Value::Null;
    for _ in 0..300 {
        let runs = call(&partner, Method::GET, "/api/v1/runs", None).await.unwrap();
        if let Some(run) = runs["items"].as_array().unwrap().first() {
            partner_run = run.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(partner_run["state"], "running", "the partner is serving the run: {partner_run}");
    partner.running.shutdown().await.unwrap();

    let vendor_run = finished(&vendor, started["id"].as_str().unwrap()).await;
    assert_eq!(vendor_run["state"], "failed", "{vendor_run}");
    assert!(vendor_run.get("result").is_none(), "nothing stored: {vendor_run}");

    // The partner's node comes back and reports why its run ended.
    let restarted = restartable.start().await;
    let id = partner_run["id"].as_str().unwrap();
    let run = call(&restarted, Method::GET, &format!("/api/v1/runs/{id}"), None).await.unwrap();
    assert_eq!(run["state"], "failed", "{run}");
    assert!(run["failure"].as_str().unwrap().contains("shut down"), "{run}");
    let overlaps = call(&restarted, Method::GET, &format!("/api/v1/runs/{id}/overlaps"), None).await.unwrap();
    assert!(overlaps["items"].as_array().unwrap().is_empty());
    restarted.running.shutdown().await.unwrap();
    vendor.running.shutdown().await.unwrap();
}

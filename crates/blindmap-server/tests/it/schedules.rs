//! Scheduled runs between two nodes, within what each side allows against it: a schedule more
//! frequent than the partner's budget is refused when set; a due run becomes a job the node
//! drives by itself; a run too soon after the previous one, or with a declared list that changed
//! too much, is refused by the side that answers it — audited, kept in its refusals, and told to
//! the side that started it; a job due before the partner allows it waits. Another
//! organisation's admin and a rep can do none of it.

use std::time::Duration;

use blindmap_server::client::{ApiClient, ClientError, Method};
use serde_json::{Value, json};

use crate::common::{Node, call, finished, node, pair, rep, store_of, upload, upload_active};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

fn status(result: Result<Value, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Api { status, detail }) => (status.as_u16(), detail),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Polls `/api/v1/jobs` of `node` until its newest job, other than `not`, leaves `pending` and
/// `running` (or waits, pending, with a message).
async fn job_ended(node: &Node, not: Option<&Value>) -> Value {
    for _ in 0..600 {
        let jobs = call(node, Method::GET, "/api/v1/jobs", None).await.unwrap();
        let newest = &jobs["items"][0];
        if newest.is_null() || not.is_some_and(|n| n["id"] == newest["id"]) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if newest["state"] != "pending" && newest["state"] != "running" {
            return newest.clone();
        }
        if newest["state"] == "pending" && newest["message"].is_string() {
            return newest.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no job ended within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_start_by_schedule_within_what_the_partner_allows_and_refusals_reach_both_sides() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    upload(&vendor, "v.csv", VENDOR_CSV).await;
    upload(&partner, "p.csv", PARTNER_CSV).await;
    let (pid, theirs) = pair(&vendor, &partner, "Partner").await;
    let everything = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    call(&partner, Method::PUT, &format!("/api/v1/partnerships/{theirs}/sharing"), Some(everything.clone()))
        .await
        .unwrap();
    call(&vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(everything)).await.unwrap();

    // The partner allows one run every 6 hours against it; its budget starts with no limits.
    let budget_path = format!("/api/v1/partnerships/{theirs}/budget");
    let none = call(&partner, Method::GET, &budget_path, None).await.unwrap();
    assert_eq!((none["min_interval_minutes"].as_u64(), none["min_segment"].as_u64()), (Some(0), Some(1)), "{none}");
    let limits = json!({ "min_interval_minutes": 360, "max_change_percent": 50, "min_segment": 1 });
    let set = call(&partner, Method::PUT, &budget_path, Some(limits.clone())).await.unwrap();
    assert_eq!((set["min_interval_minutes"].as_u64(), set["set_by"].as_str()), (Some(360), Some("admin")));
    let (code, detail) = status(
        call(&partner, Method::PUT, &budget_path, Some(json!({ "min_interval_minutes": 99_999, "min_segment": 1 })))
            .await,
    );
    assert_eq!(code, 422, "{detail}");

    // The vendor's schedule may not be more frequent than that.
    let schedule_path = format!("/api/v1/partnerships/{pid}/schedule");
    let (code, detail) = status(call(&vendor, Method::GET, &schedule_path, None).await);
    assert_eq!(code, 404, "no schedule yet: {detail}");
    let (code, detail) =
        status(call(&vendor, Method::PUT, &schedule_path, Some(json!({"kind": "every", "hours": 1}))).await);
    assert_eq!(code, 422);
    assert!(detail.contains("Partner allows one run against it every 6 hours"), "{detail}");
    for bad in [
        json!({ "kind": "daily", "at": "25:00", "zone": "UTC" }),
        json!({ "kind": "daily", "at": "07:30", "zone": "Mars/Olympus" }),
        json!({ "kind": "every", "hours": 0 }),
    ] {
        let (code, detail) = status(call(&vendor, Method::PUT, &schedule_path, Some(bad.clone())).await);
        assert_eq!(code, 422, "{bad}: {detail}");
    }
    let set = call(&vendor, Method::PUT, &schedule_path, Some(json!({ "kind": "every", "hours": 6 }))).await.unwrap();
    assert_eq!(set["schedule"], json!({ "kind": "every", "hours": 6 }));
    let in_six_hours = set["next_due_at"].as_i64().unwrap() - set["updated_at"].as_i64().unwrap();
    assert!((6 * 3_600_000 - 5_000..=6 * 3_600_000 + 5_000).contains(&in_six_hours), "{set}");
    let daily = json!({ "kind": "daily", "at": "07:30", "zone": "Europe/Berlin" });
    let set = call(&vendor, Method::PUT, &schedule_path, Some(daily.clone())).await.unwrap();
    assert_eq!(set["schedule"], daily);

    // Its time comes: the node starts the run by itself.
    let store = store_of(&vendor).await;
    let pid_id = blindmap_store::PartnershipId::parse(&pid).unwrap();
    blindmap_store::testing::make_schedule_due(&store, &pid_id).await;
    let job = job_ended(&vendor, None).await;
    assert_eq!(
        (job["state"].as_str(), job["reason"].as_str(), job["attempts"].as_u64()),
        (Some("done"), Some("daily"), Some(1)),
        "{job}"
    );
    let run = finished(&vendor, job["run"].as_str().unwrap()).await;
    assert_eq!((run["state"].as_str(), run["started_by"].as_str()), (Some("complete"), Some("blindmap (scheduled)")));
    let next = call(&vendor, Method::GET, &schedule_path, None).await.unwrap();
    assert!(next["next_due_at"].as_i64().unwrap() > job["due_at"].as_i64().unwrap(), "moved on to tomorrow: {next}");
    let against = call(&partner, Method::GET, "/api/v1/runs?role=responder", None).await.unwrap();
    assert_eq!(against["items"].as_array().unwrap().len(), 1, "the partner answered one run: {against}");
    let started = call(&partner, Method::GET, "/api/v1/runs?role=initiator", None).await.unwrap();
    assert!(started["items"].as_array().unwrap().is_empty());

    // A run started by hand now is too soon: the partner refuses it, and both sides hear why.
    let manual = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let manual = finished(&vendor, manual["id"].as_str().unwrap()).await;
    assert_eq!(manual["state"], "failed");
    let failure = manual["failure"].as_str().unwrap();
    assert!(
        failure.contains("refused the run: Partner allows one run against it every 6 hours; the next may start at"),
        "{failure}"
    );
    let refusals = call(&partner, Method::GET, &format!("/api/v1/refusals?partnership={theirs}"), None).await.unwrap();
    let refusal = &refusals["items"][0];
    assert_eq!(
        (refusal["reason"].as_str(), refusal["partner"].as_str()),
        (Some("too_soon"), Some("Vendor")),
        "{refusals}"
    );
    let audit = call(&partner, Method::GET, "/api/v1/audit", None).await.unwrap();
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["kind"] == "match.refused" && e["actor"] == "Vendor"));
    assert_eq!(
        call(&partner, Method::GET, "/api/v1/runs?role=responder", None).await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "a refused run is no run"
    );

    // The next scheduled run waits until the partner allows it, rather than be refused.
    blindmap_store::testing::make_schedule_due(&store, &pid_id).await;
    let waiting = job_ended(&vendor, Some(&job)).await;
    assert_eq!(waiting["state"], "pending", "{waiting}");
    assert!(waiting["message"].as_str().unwrap().contains("waiting until"), "{waiting}");
    assert!(waiting["due_at"].as_i64().unwrap() > run["started_at"].as_i64().unwrap() + 6 * 3_600_000 - 60_000);

    // Without the interval, a list that changed too much is refused once its hello is read.
    let change_only = json!({ "min_interval_minutes": 0, "max_change_percent": 10, "min_segment": 1 });
    call(&partner, Method::PUT, &budget_path, Some(change_only)).await.unwrap();
    let half: String = VENDOR_CSV.lines().take(VENDOR_CSV.lines().count() / 2).collect::<Vec<_>>().join("\n");
    upload_active(&vendor, "half.csv", &half).await;
    let changed = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let changed = finished(&vendor, changed["id"].as_str().unwrap()).await;
    let failure = changed["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("at most 10% between runs; they changed by"), "{changed}");
    let refusals = call(&partner, Method::GET, "/api/v1/refusals", None).await.unwrap();
    assert_eq!(refusals["items"][0]["reason"], "too_much_change", "{refusals}");

    // Another organisation's admin finds nothing; a rep may read but not set.
    let data_dir = vendor._dir.path().join("node");
    let stranger = blindmap_server::node::add_organisation(&data_dir, "Stranger", "eve").await.unwrap();
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let eve = ApiClient::new(&url, &vendor.running.fingerprint, stranger.expose()).unwrap();
    for (method, path, body) in [
        (Method::GET, schedule_path.clone(), None),
        (Method::PUT, schedule_path.clone(), Some(json!({ "kind": "every", "hours": 6 }))),
        (Method::DELETE, schedule_path.clone(), None),
        (Method::GET, format!("/api/v1/partnerships/{pid}/budget"), None),
        (Method::PUT, format!("/api/v1/partnerships/{pid}/budget"), Some(limits.clone())),
        (Method::GET, format!("/api/v1/jobs?partnership={pid}"), None),
        (Method::GET, format!("/api/v1/refusals?partnership={pid}"), None),
    ] {
        let body = body.map(|b| (serde_json::to_vec(&b).unwrap(), "application/json"));
        let answer = eve.call::<Value>(method.clone(), &path, body, &[]).await;
        assert!(
            matches!(&answer, Err(ClientError::Api { status, .. }) if status.as_u16() == 404),
            "{method} {path}: {answer:?}"
        );
    }
    let theirs_jobs = eve.call::<Value>(Method::GET, "/api/v1/jobs", None, &[]).await.unwrap();
    assert!(theirs_jobs["items"].as_array().unwrap().is_empty());
    let (_, rep_token) = rep(&vendor).await;
    let rita = ApiClient::new(&url, &vendor.running.fingerprint, &rep_token).unwrap();
    rita.call::<Value>(Method::GET, &schedule_path, None, &[]).await.unwrap();
    let body = Some((serde_json::to_vec(&json!({ "kind": "every", "hours": 6 })).unwrap(), "application/json"));
    let answer = rita.call::<Value>(Method::PUT, &schedule_path, body, &[]).await;
    assert!(matches!(&answer, Err(ClientError::Api { status, .. }) if status.as_u16() == 403), "{answer:?}");
    let answer = rita.call_empty(Method::DELETE, &schedule_path).await;
    assert!(matches!(&answer, Err(ClientError::Api { status, .. }) if status.as_u16() == 403), "{answer:?}");

    // The partner's limits are told only to the node pinned for the partnership.
    let unpinned = call(&partner, Method::GET, &format!("/peer/v1/partnerships/{theirs}/budget"), None).await;
    assert!(matches!(&unpinned, Err(ClientError::Api { status, .. }) if status.as_u16() == 403), "{unpinned:?}");

    // Removed: the job waiting is given up.
    vendor.api.call_empty(Method::DELETE, &schedule_path).await.unwrap();
    let jobs = call(&vendor, Method::GET, "/api/v1/jobs", None).await.unwrap();
    assert_eq!(jobs["items"][0]["state"], "failed", "{jobs}");
    let (code, _) = status(call(&vendor, Method::GET, &schedule_path, None).await);
    assert_eq!(code, 404);
    for n in [vendor, partner] {
        n.running.shutdown().await.unwrap();
    }
}

/// An agent signed in to `node` as a new user named `name` with `role`.
async fn agent(node: &Node, name: &str, role: &str) -> crate::web::Agent {
    let made = call(node, Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": role }))).await.unwrap();
    let mut agent = crate::web::Agent::new(node);
    let page = agent.sign_in(made["token"]["token"].as_str().unwrap()).await;
    assert_eq!(page.status.as_u16(), 303, "{}", page.body);
    agent
}

/// The schedule, the limits and what was refused, from the pages: a partner's matches page sets
/// when matches start and what the partner may run against this side; a refused form says why
/// and changes nothing; the page of matches against you lists what was answered and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matches_page_sets_the_schedule_and_the_limits_and_lists_matches_against_you() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    upload(&vendor, "v.csv", VENDOR_CSV).await;
    upload(&partner, "p.csv", PARTNER_CSV).await;
    let (pid, theirs) = pair(&vendor, &partner, "Partner").await;
    let mut ada = agent(&vendor, "ada", "admin").await;
    let mut pat = agent(&partner, "pat", "admin").await;
    let page = format!("/partners/{pid}/runs");

    let shown = ada.get(&page).await;
    assert!(shown.body.contains("start only when someone starts one"), "{}", shown.body);
    let csrf = shown.input("csrf");
    let saved = ada
        .post(
            &format!("/partners/{pid}/schedule"),
            &[("csrf", &csrf), ("kind", "daily"), ("at", "07:30"), ("zone", "Europe/Berlin"), ("hours", "24")],
        )
        .await;
    assert_eq!((saved.status.as_u16(), saved.location()), (303, page.as_str()), "{}", saved.body);
    let shown = ada.get(&page).await;
    assert!(shown.body.contains("start every day at 07:30 (Europe/Berlin); the next is due at"), "{}", shown.body);
    let bad =
        ada.post(&format!("/partners/{pid}/schedule"), &[("csrf", &csrf), ("kind", "every"), ("hours", "soon")]).await;
    assert_eq!(bad.status.as_u16(), 422);
    assert!(
        bad.body.contains("hours must be a whole number") && bad.body.contains("every day at 07:30"),
        "{}",
        bad.body
    );

    // The partner allows one match every 6 hours: an hourly schedule is refused with why.
    let their_page = format!("/partners/{theirs}/runs");
    let csrf_p = pat.get(&their_page).await.input("csrf");
    let limits = [("csrf", csrf_p.as_str()), ("min_interval", "360"), ("max_change", ""), ("min_segment", "3")];
    let saved = pat.post(&format!("/partners/{theirs}/budget"), &limits).await;
    assert_eq!(saved.status.as_u16(), 303, "{}", saved.body);
    let shown = pat.get(&their_page).await;
    assert!(shown.body.contains("may start matches against you at most once every 6 hours, with its declared accounts changed by any amount; segments of fewer than 3"), "{}", shown.body);
    let bad = pat
        .post(&format!("/partners/{theirs}/budget"), &[("csrf", &csrf_p), ("min_interval", "-1"), ("min_segment", "3")])
        .await;
    assert_eq!(bad.status.as_u16(), 422, "{}", bad.body);
    let hourly =
        ada.post(&format!("/partners/{pid}/schedule"), &[("csrf", &csrf), ("kind", "every"), ("hours", "1")]).await;
    assert_eq!(hourly.status.as_u16(), 422);
    assert!(hourly.body.contains("Partner allows one run against it every 6 hours"), "{}", hourly.body);

    // Two matches by hand: the second is refused, and the partner's page lists both outcomes.
    for _ in 0..2 {
        let run = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
        finished(&vendor, run["id"].as_str().unwrap()).await;
    }
    let against = pat.get("/runs/against").await;
    assert_eq!(against.status.as_u16(), 200);
    assert!(against.body.contains(">Vendor</a></td><td>complete"), "{}", against.body);
    assert!(
        against.body.contains("too soon") && against.body.contains("allows one run against it every 6 hours"),
        "{}",
        against.body
    );
    assert!(pat.get(&their_page).await.body.contains("Matches Vendor started that you refused"));
    let removed = ada.post(&format!("/partners/{pid}/schedule"), &[("csrf", &csrf), ("kind", "none")]).await;
    assert_eq!(removed.status.as_u16(), 303);
    assert!(ada.get(&page).await.body.contains("start only when someone starts one"));

    // A rep sees but cannot change; another organisation finds nothing; a forged form does nothing.
    let mut rita = agent(&vendor, "rita", "rep").await;
    let shown = rita.get(&page).await;
    assert!(shown.status.is_success() && !shown.body.contains("schedule-form"), "{}", shown.body);
    let csrf_r = shown.input("csrf");
    let refused =
        rita.post(&format!("/partners/{pid}/schedule"), &[("csrf", &csrf_r), ("kind", "after_dataset")]).await;
    assert_eq!(refused.status.as_u16(), 403);
    let forged = ada.post(&format!("/partners/{pid}/schedule"), &[("csrf", "forged"), ("kind", "after_dataset")]).await;
    assert_eq!(forged.status.as_u16(), 403);
    let mut eve = crate::admin_web::stranger(&vendor, blindmap_store::Role::Admin).await;
    assert_eq!(eve.get(&page).await.status.as_u16(), 404);
    let csrf_e = eve.get("/").await.input("csrf");
    let theirs_form = eve
        .post(&format!("/partners/{pid}/budget"), &[("csrf", &csrf_e), ("min_interval", "0"), ("min_segment", "1")])
        .await;
    assert_eq!(theirs_form.status.as_u16(), 404);
    assert!(!eve.get("/runs/against").await.body.contains("Vendor"));
    assert!(ada.get(&page).await.body.contains("start only when someone starts one"), "nothing changed");
    for n in [vendor, partner] {
        n.running.shutdown().await.unwrap();
    }
}

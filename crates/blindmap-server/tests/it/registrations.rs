//! Deal registration across three real nodes: a vendor and two partners. The first claim on a
//! customer is submitted; a second partner's overlapping claim is flagged for review without
//! learning who holds the first; a claim on the vendor's open opportunity is a channel conflict;
//! decisions reach the submitter's node; protection expires on time; the pre-check answers
//! claimed / not claimed from blinded keys, within the vendor's limits.

use std::time::{Duration, Instant};

use blindmap_server::client::{ClientError, Method};
use serde_json::{Value, json};

use crate::common::{Node, call, node, pair, store_of, upload};

/// The vendor's accounts: one open opportunity of its direct team, one customer.
const VENDOR_CSV: &str = "id,segment,name,country,domain,duns\n\
                          v1,open_opportunities,Tailspin Toys,US,tailspintoys.com,\n\
                          v2,customers,Northwind Traders,US,northwindtraders.com,118273645\n\
                          v3,prospects,Fabrikam,US,fabrikam.com,\n";

fn registration(partnership: &str, customer: Value, products: &[&str], value: &str) -> Value {
    json!({ "partnership": partnership, "customer": customer, "products": products, "value": value,
        "currency": "EUR", "expected_close": "2027-03-31" })
}

async fn get(node: &Node, path: &str) -> Value {
    call(node, Method::GET, path, None).await.unwrap()
}

async fn post(node: &Node, path: &str, body: Value) -> Result<Value, ClientError> {
    call(node, Method::POST, path, Some(body)).await
}

fn status(result: Result<Value, ClientError>) -> u16 {
    match result {
        Err(ClientError::Api { status, .. }) => status.as_u16(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Polls `path` on `node` until `field` equals `want`; how long it took.
async fn until(node: &Node, path: &str, field: &str, want: &str) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if get(node, path).await[field] == want {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path}: {field} never became {want}: {}", get(node, path).await);
}

async fn precheck(node: &Node, partnership: &str, customer: Value) -> Result<Value, ClientError> {
    post(node, "/api/v1/registrations/precheck", json!({ "partnership": partnership, "customer": customer })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_checked_decided_told_and_expire() {
    let vendor = node("Vendor", None).await;
    let globex = node("Globex", None).await;
    let initech = node("Initech", None).await;
    upload(&vendor, "v.csv", VENDOR_CSV).await;
    let (_, g_v) = pair(&vendor, &globex, "Globex").await;
    let (_, i_v) = pair(&vendor, &initech, "Initech").await;
    let acme = json!({ "name": "Acme Corporation", "country": "US", "domains": ["https://www.acme.com"] });

    // Nothing claimed yet.
    let answer = precheck(&globex, &g_v, acme.clone()).await.unwrap();
    assert_eq!(answer["claimed"], false);

    // Globex claims Acme first.
    let mut claim = registration(&g_v, acme.clone(), &["cloud"], "50000");
    claim["notes"] = json!("Globex's own pipeline note");
    let first = post(&globex, "/api/v1/registrations", claim).await.unwrap();
    assert_eq!((first["state"].as_str(), first["direction"].as_str()), (Some("submitted"), Some("submitted")));
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["customer_keys"], json!(["domain:acme.com", "name_country:US|acme"]));
    // The same claim again: the same registration.
    let again =
        post(&globex, "/api/v1/registrations", registration(&g_v, acme.clone(), &["cloud"], "50000")).await.unwrap();
    assert_eq!(again["id"], first["id"]);

    // Initech asks without naming the account: claimed. Another account: not.
    assert_eq!(precheck(&initech, &i_v, json!({ "domains": ["acme.com"] })).await.unwrap()["claimed"], true);
    let other = json!({ "name": "Acme Corporation", "country": "DE" });
    assert_eq!(precheck(&initech, &i_v, other).await.unwrap()["claimed"], false);
    // Globex's own claim does not count against it.
    assert_eq!(precheck(&globex, &g_v, acme.clone()).await.unwrap()["claimed"], false);

    // Initech claims the same customer (by name this time) with a product in common: review,
    // and all it learns is the category.
    let by_name = json!({ "name": "ACME Corp.", "country": "United States" });
    let second = post(&initech, "/api/v1/registrations", registration(&i_v, by_name, &["cloud", "security"], "70000"))
        .await
        .unwrap();
    assert_eq!((second["state"].as_str(), second["conflict"].as_str()), (Some("in_review"), Some("partner_conflict")));
    let second_id = second["id"].as_str().unwrap().to_owned();
    let seen = get(&initech, &format!("/api/v1/registrations/{second_id}")).await.to_string();
    for leak in ["Globex", first_id.as_str(), "50000", "pipeline note"] {
        assert!(!seen.contains(leak), "the second partner saw {leak:?}: {seen}");
    }
    assert!(second.get("review").is_none(), "the submitter gets no review details");
    // The vendor sees both, and which claim came first.
    let received = get(&vendor, "/api/v1/registrations?direction=received").await;
    assert_eq!(received["items"].as_array().unwrap().len(), 2);
    let flagged = get(&vendor, &format!("/api/v1/registrations/{second_id}")).await;
    assert_eq!(flagged["review"]["conflicting_registrations"], json!([first_id]));
    assert_eq!(flagged["partner"], "Initech");

    // A claim on the vendor's direct team's open opportunity: channel conflict, the account
    // named to the vendor only.
    let tailspin = json!({ "domains": ["tailspintoys.com"] });
    let channel =
        post(&globex, "/api/v1/registrations", registration(&g_v, tailspin, &["cloud"], "9000")).await.unwrap();
    assert_eq!(channel["conflict"], "channel_conflict");
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let on_vendor = get(&vendor, &format!("/api/v1/registrations/{channel_id}")).await;
    assert_eq!(on_vendor["review"]["direct_accounts"], json!(["v1"]));
    assert_eq!(on_vendor["direct_account_names"], json!({ "v1": "Tailspin Toys" }), "named for people");
    // The vendor's existing customer is its direct team's too (the default direct segments are
    // open_opportunities and customers, what the presets make); a prospect is no conflict.
    let northwind = json!({ "duns": ["118273645"] });
    let customer =
        post(&globex, "/api/v1/registrations", registration(&g_v, northwind, &["cloud"], "100")).await.unwrap();
    assert_eq!((&customer["state"], &customer["conflict"]), (&json!("in_review"), &json!("channel_conflict")));
    let fabrikam = json!({ "domains": ["fabrikam.com"] });
    let plain = post(&globex, "/api/v1/registrations", registration(&g_v, fabrikam, &["cloud"], "100")).await.unwrap();
    assert_eq!(plain["state"], "submitted");
    // A direct segment the active dataset does not have would check nothing: refused.
    let bad = json!({ "direct_segments": ["opportunities"] });
    let refused = call(&vendor, Method::PUT, "/api/v1/registrations/settings", Some(bad)).await;
    assert!(
        matches!(&refused, Err(ClientError::Api { status, detail }) if status.as_u16() == 422
            && detail.contains("customers, open_opportunities, prospects")),
        "{refused:?}"
    );

    // The vendor approves Globex's first claim; Globex's node hears it.
    let approved =
        post(&vendor, &format!("/api/v1/registrations/{first_id}/approve"), json!({ "reason": "fine" })).await.unwrap();
    assert_eq!(approved["state"], "approved");
    let first_path = format!("/api/v1/registrations/{first_id}");
    until(&globex, &first_path, "state", "approved").await;
    let end = get(&globex, &first_path).await["protected_until"].clone();
    assert_eq!(end, approved["protected_until"]);
    // ... and rejects Initech's; approving a rejected claim is refused.
    post(&vendor, &format!("/api/v1/registrations/{second_id}/reject"), json!({})).await.unwrap();
    until(&initech, &format!("/api/v1/registrations/{second_id}"), "state", "rejected").await;
    assert_eq!(status(post(&vendor, &format!("/api/v1/registrations/{second_id}/approve"), json!({})).await), 409);
    // Only the vendor decides on what it received.
    assert_eq!(status(post(&globex, &format!("/api/v1/registrations/{first_id}/approve"), json!({})).await), 409);

    // Globex asks for its one extension: 60 more days, once.
    let extended = post(&globex, &format!("/api/v1/registrations/{first_id}/extend"), json!({})).await.unwrap();
    assert_eq!(extended["extended"], true);
    let days = |v: &Value| {
        let text = v.as_str().unwrap();
        let date = &text[..10];
        let (y, m, d): (i64, i64, i64) =
            (date[..4].parse().unwrap(), date[5..7].parse().unwrap(), date[8..10].parse().unwrap());
        y * 372 + m * 31 + d
    };
    assert!(days(&extended["protected_until"]) > days(&end) + 55, "{} after {}", extended["protected_until"], end);
    assert_eq!(status(post(&globex, &format!("/api/v1/registrations/{first_id}/extend"), json!({})).await), 409);

    // Expiry on time: the protection now ends in two seconds.
    let store = store_of(&vendor).await;
    let ends = blindmap_server_now() + 2000;
    blindmap_store::testing::set_protection_end(&store, &first_id, ends).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(get(&vendor, &first_path).await["state"], "approved", "not before its end");
    until(&vendor, &first_path, "state", "expired").await;
    let late = blindmap_server_now() - ends;
    assert!(late < 4000, "expired {late} ms after its end");
    until(&globex, &first_path, "state", "expired").await;

    // Events on both sides.
    let kinds = |events: &Value| -> Vec<String> {
        events["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    };
    let vendor_events = kinds(&events(&vendor).await);
    for kind in [
        "registration.submitted",
        "registration.conflict",
        "registration.approved",
        "registration.rejected",
        "registration.expired",
    ] {
        assert!(vendor_events.iter().any(|k| k == kind), "vendor lacks {kind}: {vendor_events:?}");
    }
    let globex_events = kinds(&events(&globex).await);
    for kind in ["registration.submitted", "registration.approved", "registration.extended", "registration.expired"] {
        assert!(globex_events.iter().any(|k| k == kind), "Globex lacks {kind}: {globex_events:?}");
    }

    // The pre-check limits: the vendor allows four a minute. Initech's two asks above are moved
    // two minutes back (still today's: the day's budget counts them, the minute's does not), so
    // four more pass and the fifth is refused, and audited.
    let settings = json!({ "prechecks_per_minute": 4, "prechecks_per_day": 50 });
    call(&vendor, Method::PUT, "/api/v1/registrations/settings", Some(settings)).await.unwrap();
    blindmap_store::testing::age_prechecks(&store, 120_000).await;
    let ask = || precheck(&initech, &i_v, json!({ "domains": ["tailspintoys.com"] }));
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(ask().await);
    }
    let refused = answers.pop().unwrap();
    assert_eq!(status(refused), 429);
    let remaining: Vec<u64> = answers.into_iter().map(|a| a.unwrap()["remaining_today"].as_u64().unwrap()).collect();
    assert_eq!(remaining, [47, 46, 45, 44]);
    let audit = get(&vendor, "/api/v1/audit?limit=200").await.to_string();
    assert!(audit.contains("registration.precheck_answered") && audit.contains("registration.precheck_refused"));

    // Bad input is refused with a reason, nothing sent.
    let free_mail = json!({ "domains": ["gmail.com"] });
    assert_eq!(
        status(post(&globex, "/api/v1/registrations", registration(&g_v, free_mail, &["cloud"], "1")).await),
        422
    );
    let nobody = json!({});
    assert_eq!(status(post(&globex, "/api/v1/registrations", registration(&g_v, nobody, &["cloud"], "1")).await), 422);
    let negative = registration(&g_v, json!({ "domains": ["x-corp.com"] }), &["cloud"], "-5");
    assert_eq!(status(post(&globex, "/api/v1/registrations", negative).await), 422);
    let received = get(&vendor, "/api/v1/registrations?direction=received").await;
    assert_eq!(received["items"].as_array().unwrap().len(), 5, "nothing half-registered");
}

/// Every event of `node`.
async fn events(node: &Node) -> Value {
    get(node, "/api/v1/events?limit=200").await
}

fn blindmap_server_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

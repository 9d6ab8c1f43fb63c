//! A paired partner running modified software: it calls the peer routes directly with its own
//! certificate and asks for what the protocol never showed it. Each attempt is refused (403),
//! audited, and leaves nothing behind.

use blindmap_server::client::{ClientError, Method, PeerClient};
use blindmap_server::node::IDENTITY_DIR;
use blindmap_server::node::identity::Identity;
use serde_json::{Value, json};

use crate::common;
use crate::common::{Node, call, finished, node, pair, upload};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

/// The partner's own node identity, as modified software on its machine would hold it.
fn attacker(partner: &Node, vendor: &Node) -> PeerClient {
    let identity = Identity::load(&partner._dir.path().join("node").join(IDENTITY_DIR)).unwrap();
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    PeerClient::new(&url, &vendor.running.fingerprint, &identity).unwrap()
}

fn sharing(level: &str) -> Value {
    json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": level }],
        "threshold": 1, "min_partner_segment": 1 })
}

/// A co-sell record as the partner's software would create it, naming the vendor's record
/// `position` of `segment` in `session`.
fn push(id: &str, session: &str, segment: &str, position: u32, from_segment: &str) -> Value {
    let at = json!({ "ms": 1, "counter": 0, "party": "A" });
    let lww = |value: Value| json!({ "value": value, "at": at, "by": "mallory" });
    let side = json!({ "account": lww(Value::Null), "opportunity": lww(Value::Null), "owner": lww(Value::Null) });
    json!({
        "record": {
            "id": id, "status": lww(json!("proposed")), "stage": lww(json!("")), "amount": lww(Value::Null),
            "close_date": lww(Value::Null), "next_steps": lww(json!("")), "next_steps_history": [], "notes": [],
            "log": [{ "at": at, "by": "mallory", "text": "proposed" }], "a": side, "b": side,
        },
        "reference": { "session": session, "segment": segment, "position": position, "from_segment": from_segment },
    })
}

async fn refused_count(vendor: &Node) -> usize {
    let audit = call(vendor, Method::GET, "/api/v1/audit?limit=1000", None).await.unwrap();
    audit["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "peer.refused").count()
}

async fn run(vendor: &Node, partnership: &str) -> Value {
    let run = call(vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": partnership }))).await.unwrap();
    let view = finished(vendor, run["id"].as_str().unwrap()).await;
    assert_eq!(view["state"], "complete", "{view}");
    view
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_gets_no_account_through_a_cosell_reference_it_was_never_shown() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    upload(&vendor, "v.csv", VENDOR_CSV).await;
    upload(&partner, "p.csv", PARTNER_CSV).await;
    let (pid, theirs) = pair(&vendor, &partner, "Partner").await;
    // The vendor hides everything; the partner shows its overlaps.
    call(&vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(sharing("hidden"))).await.unwrap();
    call(&partner, Method::PUT, &format!("/api/v1/partnerships/{theirs}/sharing"), Some(sharing("overlaps")))
        .await
        .unwrap();
    let view = run(&vendor, &pid).await;
    let session = view["result"]["session"].as_str().unwrap().to_owned();
    let peer = attacker(&partner, &vendor);
    let path = format!("/peer/v1/partnerships/{pid}/cosell");

    // Thirty references into the vendor's customers, every cell hidden: none is answered.
    for position in 0..30 {
        let id = format!("cs_{position:032x}");
        let answer = peer.post::<Value>(&path, &push(&id, &session, "customers", position, "customers")).await;
        match answer {
            Err(ClientError::Api { status, detail }) => {
                assert_eq!(status.as_u16(), 403, "{detail}");
                assert!(detail.contains("not disclosed"), "{detail}");
            }
            other => panic!("a hidden record's account was answered: {other:?}"),
        }
    }
    // A session that never ran with this partner, and a record of another partnership's id space.
    let forged =
        peer.post::<Value>(&path, &push(&format!("cs_{:032x}", 99), "00ff", "customers", 0, "customers")).await;
    assert!(matches!(forged, Err(ClientError::Api { status, .. }) if status.as_u16() == 403), "{forged:?}");
    let records = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(records["items"].as_array().unwrap().len(), 0, "nothing was stored: {records}");
    assert_eq!(refused_count(&vendor).await, 31, "each refusal is audited");

    // Now the vendor lists its overlaps with the partner: the reference to a record that did
    // overlap is answered, with the account behind it; one to a record that did not is refused.
    call(&vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(sharing("overlaps")))
        .await
        .unwrap();
    let view = run(&vendor, &pid).await;
    let session = view["result"]["session"].as_str().unwrap().to_owned();
    let learned =
        common::all_overlaps(&vendor, &format!("/api/v1/runs/{}/overlaps", view["id"].as_str().unwrap())).await;
    let partner_side = partner_overlaps(&partner).await;
    let shown = &partner_side[0];
    let (segment, position) =
        (shown["partner_segment"].as_str().unwrap(), shown["partner_record"].as_u64().unwrap() as u32);
    let from = shown["own_segment"].as_str().unwrap();
    let made =
        peer.post::<Value>(&path, &push(&format!("cs_{:032x}", 100), &session, segment, position, from)).await.unwrap();
    let account = made["b"]["account"]["value"].as_str().unwrap().to_owned();
    assert!(learned.iter().any(|o| o["account_id"] == account.as_str() && o["own_segment"] == segment));
    // A position of that segment whose record overlapped nothing of the partner's.
    let overlapping: Vec<u32> = partner_side
        .iter()
        .filter(|o| o["partner_segment"] == segment)
        .map(|o| o["partner_record"].as_u64().unwrap() as u32)
        .collect();
    let other = (0..).find(|p| !overlapping.contains(p)).unwrap();
    let answer = peer.post::<Value>(&path, &push(&format!("cs_{:032x}", 101), &session, segment, other, from)).await;
    assert!(
        matches!(&answer, Err(ClientError::Api { status, detail }) if status.as_u16() == 403 && detail.contains("overlap")),
        "{answer:?}"
    );
    assert_eq!(refused_count(&vendor).await, 32);
}

/// The partner's overlaps of its latest run: its account, its segment, the vendor's segment and
/// record position.
async fn partner_overlaps(partner: &Node) -> Vec<Value> {
    for _ in 0..100 {
        let runs = call(partner, Method::GET, "/api/v1/runs", None).await.unwrap();
        let latest = &runs["items"][0];
        if latest["state"] == "complete" {
            let path = format!("/api/v1/runs/{}/overlaps", latest["id"].as_str().unwrap());
            return common::all_overlaps(partner, &path).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the partner's run did not complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_cannot_tell_a_partner_what_its_decisions_could_not_make() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    upload(
        &vendor,
        "v.csv",
        "id,segment,name,country,domain\nv1,customers,Northwind Traders,US,northwindtraders.com\n",
    )
    .await;
    let (_, theirs) = pair(&vendor, &partner, "Partner").await;
    let claim = json!({ "partnership": theirs, "products": ["cloud"], "value": "5000", "currency": "EUR",
        "expected_close": "2027-03-31", "customer": { "name": "Litware Inc", "country": "US", "domain": "litware.com" } });
    let made = call(&partner, Method::POST, "/api/v1/registrations", Some(claim)).await.unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["state"], "submitted");
    let before = call(&partner, Method::GET, &format!("/api/v1/registrations/{id}"), None).await.unwrap();

    // The vendor's node, modified, calls the partner's status route itself.
    let identity = Identity::load(&vendor._dir.path().join("node").join(IDENTITY_DIR)).unwrap();
    let url = format!("https://127.0.0.1:{}", partner.running.addr.port());
    let peer = PeerClient::new(&url, &partner.running.fingerprint, &identity).unwrap();
    let path = format!("/peer/v1/partnerships/{theirs}/registrations/{id}/status");
    let view = |state: &str, until: Value, extended: bool| json!({ "id": id, "state": state, "conflict": null, "protected_until": until, "extended": extended });
    for forged in [
        view("approved", json!(i64::MAX), false),
        view("approved", Value::Null, false),
        view("rejected", json!(4_102_444_800_000_i64), true),
        json!({ "id": "rg_00000000000000000000000000000000", "state": "approved", "conflict": null,
            "protected_until": 4_102_444_800_000_i64, "extended": false }),
    ] {
        let answer = peer.post::<Value>(&path, &forged).await;
        assert!(
            matches!(&answer, Err(ClientError::Api { status, .. }) if status.as_u16() == 403),
            "{forged}: {answer:?}"
        );
    }
    let after = call(&partner, Method::GET, &format!("/api/v1/registrations/{id}"), None).await.unwrap();
    assert_eq!(before, after, "the partner's copy is unchanged");
    assert_eq!(refused_count(&partner).await, 4);
    // A decision the vendor could make is taken.
    let approved = view("approved", json!(crate_now() + 90 * 86_400_000), false);
    peer.post::<Value>(&path, &approved).await.unwrap();
    let after = call(&partner, Method::GET, &format!("/api/v1/registrations/{id}"), None).await.unwrap();
    assert_eq!(after["state"], "approved");
}

fn crate_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosell_copy_in_the_other_sides_name_is_refused() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    let (pid, _) = pair(&vendor, &partner, "Partner").await;
    let peer = attacker(&partner, &vendor);
    let path = format!("/peer/v1/partnerships/{pid}/cosell");
    // A first push with no reference, then one claiming the vendor (side B here) accepted it
    // and that it is won: the vendor never did.
    let mut copy = push(&format!("cs_{:032x}", 7), "", "", 0, "");
    copy["reference"] = Value::Null;
    peer.post::<Value>(&path, &copy).await.unwrap();
    let b_at = json!({ "ms": 2, "counter": 0, "party": "B" });
    copy["record"]["status"] = json!({ "value": "accepted", "at": b_at, "by": "vendor-admin" });
    copy["record"]["log"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "at": b_at, "by": "vendor-admin", "text": "status accepted" }));
    let answer = peer.post::<Value>(&path, &copy).await;
    assert!(
        matches!(&answer, Err(ClientError::Api { status, detail }) if status.as_u16() == 403 && detail.contains("never made")),
        "{answer:?}"
    );
    let record = call(&vendor, Method::GET, &format!("/api/v1/cosell/cs_{:032x}", 7), None).await.unwrap();
    assert_eq!(record["status"], "proposed", "{record}");
    assert_eq!(refused_count(&vendor).await, 1);
}

//! Two real nodes pair over mutual TLS: dual opt-in through a one-time invite, each pinning the
//! other's certificate; an unpaired node is refused; ending on one side ends it on both.

use blindmap_server::client::{ClientError, Method};
use serde_json::json;

use crate::common::{call, node};

#[tokio::test]
async fn nodes_pair_by_invite_over_mutual_tls_and_either_can_end_it() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    let stranger = node("Stranger", None).await;

    let invite = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let code = invite["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("bminvite1."));

    let accepted = call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": code }))).await.unwrap();
    assert_eq!((accepted["partner"].as_str(), accepted["state"].as_str()), (Some("Vendor"), Some("active")));
    assert_eq!(accepted["partner_fingerprint"], vendor.running.fingerprint.as_str(), "the partner pins the vendor");
    let vendor_side = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    let vendor_side = vendor_side["items"][0].clone();
    assert_eq!(vendor_side["partner"], "Partner");
    assert_eq!(vendor_side["partner_fingerprint"], partner.running.fingerprint.as_str(), "the vendor pins the partner");

    // An invite is used once: the stranger cannot pair with the same code, and hears why in the
    // inviting node's words (relayed as the partner node's refusal).
    let again = call(&stranger, Method::POST, "/api/v1/partnerships", Some(json!({ "code": code }))).await;
    assert!(
        matches!(&again, Err(ClientError::Api { status, detail }) if status.as_u16() == 502
            && detail == "the partner node: the invite code was used already or has expired (a code pairs once, \
                within 24 hours of being made): ask the admin who gave it to you for a new one"),
        "{again:?}"
    );
    let garbage = call(&stranger, Method::POST, "/api/v1/partnerships", Some(json!({ "code": "bminvite1.xyz" }))).await;
    assert!(matches!(&garbage, Err(ClientError::Api { status, .. }) if status.as_u16() == 422), "{garbage:?}");
    assert!(
        call(&stranger, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Sharing defaults to counts only, and is set per side.
    let id = accepted["id"].as_str().unwrap();
    let sharing = call(&partner, Method::GET, &format!("/api/v1/partnerships/{id}/sharing"), None).await.unwrap();
    assert_eq!((sharing["threshold"].as_u64(), sharing["rules"].as_array().unwrap().len()), (Some(5), 0));
    let policy = json!({ "rules": [{ "own_segment": "customers", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 3, "min_partner_segment": 3 });
    let set = call(&partner, Method::PUT, &format!("/api/v1/partnerships/{id}/sharing"), Some(policy)).await.unwrap();
    assert_eq!(set["rules"][0]["level"], "overlaps");
    let bad = json!({ "rules": [{ "own_segment": "Customers!", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 3, "min_partner_segment": 3 });
    assert!(call(&partner, Method::PUT, &format!("/api/v1/partnerships/{id}/sharing"), Some(bad)).await.is_err());

    // The peer routes answer only a partner's certificate: a client without one is refused,
    // whatever it knows (here: the vendor's own admin, with the vendor's partnership id).
    let vendor_pid = vendor_side["id"].as_str().unwrap().to_owned();
    let without_cert =
        call(&vendor, Method::POST, &format!("/peer/v1/partnerships/{vendor_pid}/end"), Some(json!({}))).await;
    assert!(
        matches!(&without_cert, Err(ClientError::Api { status, .. }) if status.as_u16() == 403),
        "{without_cert:?}"
    );

    // Ending on the partner's side ends it on the vendor's too.
    let ended = call(&partner, Method::POST, &format!("/api/v1/partnerships/{id}/end"), None).await.unwrap();
    assert_eq!(ended["state"], "ended");
    let vendor_side = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    assert_eq!(vendor_side["items"][0]["state"], "ended", "the vendor was told");
    let trail = call(&vendor, Method::GET, "/api/v1/audit", None).await.unwrap();
    let kinds: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["partnership.ended", "partnership.accepted", "partnership.invited"]);

    for n in [vendor, partner, stranger] {
        n.running.shutdown().await.unwrap();
    }
}

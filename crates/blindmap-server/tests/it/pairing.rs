//! Pairing as protocol-spec §18 writes it, seen from a peer that is not blindmap: the invite code
//! decoded by the spec's grammar, `POST /peer/v1/accept` made by hand over mutual TLS with a
//! certificate of the test's own, every refusal with its status and problem document, the
//! partnership ids each side learns, and the pinned routes that follow.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blindmap_server::client::Method;
use blindmap_server::node::identity::fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use serde_json::{Value, json};

use crate::common::{Node, call, node, store_of};

/// Trusts exactly the certificate whose fingerprint is pinned (spec §18.1).
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A peer of the test's own: an HTTPS client pinning `node`'s certificate, presenting a fresh
/// self-signed certificate (or none).
struct Peer {
    http: reqwest::Client,
    base: String,
    fingerprint: Option<String>,
}

impl Peer {
    fn new(base: &str, pinned: &str, with_certificate: bool) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Pinned { fingerprint: pinned.to_owned(), provider: provider.clone() };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let (config, fingerprint) = if with_certificate {
            let made = rcgen::generate_simple_self_signed(vec!["peer.example".to_owned()]).unwrap();
            let cert = made.cert.der().clone();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
            let fingerprint = fingerprint(&cert);
            (builder.with_client_auth_cert(vec![cert], key).unwrap(), Some(fingerprint))
        } else {
            (builder.with_no_client_auth(), None)
        };
        let http = reqwest::Client::builder().tls_backend_preconfigured(config).build().unwrap();
        Self { http, base: base.trim_end_matches('/').to_owned(), fingerprint }
    }

    /// POSTs `body` (raw) with `content_type`: the status and the JSON answer.
    async fn post_raw(&self, path: &str, content_type: Option<&str>, body: &str) -> (u16, Value, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body.to_owned());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, response.json().await.unwrap_or(Value::Null), kind)
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value, String) {
        self.post_raw(path, Some("application/json"), &body.to_string()).await
    }
}

/// An invite code decoded by spec §18.2's grammar alone.
fn decode_code(code: &str) -> Value {
    let payload = code.strip_prefix("bminvite1.").expect("the prefix");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url without padding")).expect("JSON")
}

async fn invite(node: &Node) -> Value {
    let made = call(node, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    decode_code(made["code"].as_str().unwrap())
}

fn accept_body(secret: &Value, organisation: &str, url: &str, partnership: &str) -> Value {
    json!({ "secret": secret, "organisation": organisation, "url": url, "partnership": partnership })
}

const PEER_ID: &str = "pt_0123456789abcdef0123456789abcdef";
const UNKNOWN: &str = "the invite code was used already or has expired (a code pairs once, within 24 hours of being \
                       made): ask the admin who gave it to you for a new one";

fn assert_problem(answer: &(u16, Value, String), status: u16, what: &str) {
    assert_eq!(answer.0, status, "{what}: {answer:?}");
    assert_eq!(answer.2, "application/problem+json", "{what}: a problem document");
    assert_eq!(answer.1["status"], status, "{what}");
    assert!(answer.1["detail"].is_string(), "{what}");
}

#[tokio::test]
async fn a_peer_pairs_by_the_spec_and_is_refused_as_it_says() {
    let vendor = node("Vendor", None).await;
    let base = format!("https://127.0.0.1:{}", vendor.running.addr.port());

    // spec §18.2: the code's content.
    let content = invite(&vendor).await;
    let mut members: Vec<&str> = content.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["fingerprint", "organisation", "secret", "url"], "{content}");
    assert_eq!(content["url"], base);
    assert_eq!(content["fingerprint"], vendor.running.fingerprint.as_str());
    assert_eq!(content["organisation"], "Vendor");
    let secret = content["secret"].as_str().unwrap();
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let secret = &content["secret"];

    let peer = Peer::new(content["url"].as_str().unwrap(), &vendor.running.fingerprint, true);
    let good = accept_body(secret, "Peer Co", "https://peer.example:7443", PEER_ID);

    // spec §18.3: refusals that leave the secret as it was, in the order the node checks.
    let answer = peer.post_raw("/peer/v1/accept", Some("text/plain"), &good.to_string()).await;
    assert_problem(&answer, 415, "not application/json");
    let answer = peer.post_raw("/peer/v1/accept", Some("application/json"), "{\"secret\": ").await;
    assert_problem(&answer, 400, "not JSON");
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("partnership");
    assert_problem(&peer.post("/peer/v1/accept", &missing).await, 422, "a member missing");
    let mut number = good.clone();
    number["url"] = json!(7443);
    assert_problem(&peer.post("/peer/v1/accept", &number).await, 422, "a member not a string");
    let anonymous = Peer::new(&base, &vendor.running.fingerprint, false);
    assert_problem(&anonymous.post("/peer/v1/accept", &good).await, 403, "no client certificate");
    for (bad, what) in [
        (accept_body(secret, "Peer Co", "https://peer.example:7443", "pt_xyz"), "a partnership id that is not one"),
        (accept_body(secret, "Peer Co", "http://peer.example:7443", PEER_ID), "an http:// URL"),
        (accept_body(secret, "Peer Co", "https://", PEER_ID), "https:// and nothing after it"),
        (accept_body(secret, " \t", "https://peer.example:7443", PEER_ID), "a blank organisation"),
    ] {
        assert_problem(&peer.post("/peer/v1/accept", &bad).await, 422, what);
    }
    let unknown = accept_body(&json!("0".repeat(64)), "Peer Co", "https://peer.example:7443", PEER_ID);
    let answer = peer.post("/peer/v1/accept", &unknown).await;
    assert_problem(&answer, 403, "an unknown secret");
    assert_eq!(answer.1["detail"], UNKNOWN);

    // The secret is still good: the accept goes through, and each side learns the other's id.
    let answer = peer.post("/peer/v1/accept", &good).await;
    assert_eq!(answer.0, 200, "{answer:?}");
    assert_eq!(answer.1["organisation"], "Vendor");
    let vendor_id = answer.1["partnership"].as_str().unwrap().to_owned();
    assert!(vendor_id.strip_prefix("pt_").is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())));
    let listed = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    let recorded = &listed["items"][0];
    assert_eq!(recorded["id"], vendor_id.as_str());
    assert_eq!(recorded["partner"], "Peer Co");
    assert_eq!(recorded["partner_url"], "https://peer.example:7443");
    assert_eq!(recorded["partner_fingerprint"], peer.fingerprint.as_deref().unwrap(), "the vendor pins the peer");

    // Used once: the same secret again, from anyone.
    let again = accept_body(secret, "Other Co", "", "pt_00000000000000000000000000000001");
    let answer = peer.post("/peer/v1/accept", &again).await;
    assert_problem(&answer, 403, "a used secret");
    assert_eq!(answer.1["detail"], UNKNOWN);

    // Expired: one answer for unknown, used and expired.
    let store = store_of(&vendor).await;
    let org = store.organisation_by_name("Vendor").await.unwrap().unwrap();
    let (expired, _) = store.create_invite(&org.id, "admin", -1).await.unwrap();
    let late = accept_body(&json!(expired.expose()), "Late Co", "", "pt_00000000000000000000000000000002");
    let answer = peer.post("/peer/v1/accept", &late).await;
    assert_problem(&answer, 403, "an expired secret");
    assert_eq!(answer.1["detail"], UNKNOWN);

    // A partner name the vendor has already: 409, and the secret is used up even so.
    let content = invite(&vendor).await;
    let taken = accept_body(&content["secret"], "Peer Co", "", "pt_00000000000000000000000000000003");
    assert_problem(&peer.post("/peer/v1/accept", &taken).await, 409, "a partner name already taken");
    let renamed = accept_body(&content["secret"], "Peer Two", "", "pt_00000000000000000000000000000003");
    assert_problem(&peer.post("/peer/v1/accept", &renamed).await, 403, "the secret the 409 used up");

    // spec §18.4: the pinned routes take the pinned certificate only, with the vendor's id.
    let end = format!("/peer/v1/partnerships/{vendor_id}/end");
    let stranger = Peer::new(&base, &vendor.running.fingerprint, true);
    assert_problem(&stranger.post(&end, &json!({})).await, 403, "another certificate");
    assert_problem(&anonymous.post(&end, &json!({})).await, 403, "no certificate");
    let with_peer_id = format!("/peer/v1/partnerships/{PEER_ID}/end");
    assert_problem(&peer.post(&with_peer_id, &json!({})).await, 403, "the caller's own id");
    // spec §18.5: ending, once.
    let answer = peer.post(&end, &json!({})).await;
    assert_eq!((answer.0, &answer.1), (200, &json!({ "ended": true })), "{answer:?}");
    let listed = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    assert_eq!(listed["items"][0]["state"], "ended");
    assert_problem(&peer.post(&end, &json!({})).await, 403, "an ended partnership");

    vendor.running.shutdown().await.unwrap();
}

/// spec §18.3, from the accepting side: a blindmap node that accepts records the code's URL and
/// fingerprint and the id the inviting node answered with; the inviting node records the
/// accepting node's URL, certificate and id.
#[tokio::test]
async fn each_node_records_the_other_s_id_url_and_certificate() {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    let made = call(&vendor, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let accepted =
        call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": made["code"] }))).await.unwrap();
    let content = decode_code(made["code"].as_str().unwrap());
    assert_eq!(accepted["partner_url"], content["url"]);
    assert_eq!(accepted["partner_fingerprint"], content["fingerprint"]);
    let listed = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    let vendor_side = &listed["items"][0];
    assert_eq!(vendor_side["partner_url"], format!("https://127.0.0.1:{}", partner.running.addr.port()));
    assert_eq!(vendor_side["partner_fingerprint"], partner.running.fingerprint.as_str());
    // Each knows the other's id: the stores hold it as `partner_ref`.
    let (vendor_store, partner_store) = (store_of(&vendor).await, store_of(&partner).await);
    let vendor_org = vendor_store.organisation_by_name("Vendor").await.unwrap().unwrap();
    let partner_org = partner_store.organisation_by_name("Partner").await.unwrap().unwrap();
    let on_vendor = vendor_store.partnerships(&vendor_org.id).await.unwrap().remove(0);
    let on_partner = partner_store.partnerships(&partner_org.id).await.unwrap().remove(0);
    assert_eq!(on_vendor.partner_ref, on_partner.id.as_str());
    assert_eq!(on_partner.partner_ref, on_vendor.id.as_str());
    assert_eq!(accepted["id"], on_partner.id.as_str());
    // A damaged code is refused with what is wrong with it, not as "not an invite".
    let code = made["code"].as_str().unwrap();
    let cut = &code[..code.len() - 5];
    let refused = call(&partner, Method::POST, "/api/v1/partnerships", Some(json!({ "code": cut }))).await;
    let text = format!("{refused:?}");
    assert!(text.contains("422") && text.contains("damaged"), "{text}");
    for n in [vendor, partner] {
        n.running.shutdown().await.unwrap();
    }
}

//! A real node: `init` in a fresh folder, `start` on port 0, and the API over HTTPS with the
//! certificate pinned — and refused when the pin is wrong; over-long request targets answered
//! with a problem document over HTTP/1 and HTTP/2; an unread HTTP/1 body closing its connection.

use std::sync::Arc;

use blindmap_server::client::{ApiClient, ClientError};
use blindmap_server::error::MAX_URI_BYTES;
use blindmap_server::node::{InitOptions, NodeConfig, NodeError, SECRETS_KEY_FILE, init, start};
use reqwest::Method;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

const VENDOR: &str = include_str!("../../../../samples/vendor-salesforce.csv");

#[tokio::test]
async fn an_initialised_node_serves_its_api_over_pinned_tls() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        data_dir: dir.path().join("vendor"),
        organisation: "Vendor".into(),
        admin: "ada".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await.unwrap();
    assert!(matches!(init(&options).await, Err(NodeError::AlreadyInitialised(_))), "init never overwrites a node");
    let config = NodeConfig::load(&options.data_dir).unwrap();
    assert_eq!(config, made.config);
    assert_eq!(config.secrets_key_file.as_deref(), Some(std::path::Path::new(SECRETS_KEY_FILE)));
    assert!(!config.webhook_allow_http && config.webhook_allow.is_empty(), "webhooks: public https only");
    // The data folder and what holds secrets in it are the node's user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| std::fs::metadata(options.data_dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(""), 0o700, "the data folder");
        for name in ["node.db", SECRETS_KEY_FILE, "identity/node.key"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
    }

    let node = start(&options.data_dir, &config).await.unwrap();
    assert_eq!(node.fingerprint, made.fingerprint);
    #[cfg(unix)]
    for name in ["node.db-wal", "node.db-shm"] {
        let meta = std::fs::metadata(options.data_dir.join(name)).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600, "{name}");
    }
    let url = format!("https://127.0.0.1:{}", node.addr.port());
    let api = ApiClient::new(&url, &made.fingerprint, made.admin_token.expose()).unwrap();
    let me: Value = api.call(Method::GET, "/api/v1/me", None, &[]).await.unwrap();
    assert_eq!((me["user"].as_str(), me["role"].as_str()), (Some("ada"), Some("admin")));

    let uploaded: Value = api
        .call(Method::POST, "/api/v1/datasets?name=vendor.csv", Some((VENDOR.as_bytes().to_vec(), "text/csv")), &[])
        .await
        .unwrap();
    assert_eq!(uploaded["accounts"], 36);
    let refused =
        api.call::<Value>(Method::POST, "/api/v1/datasets?name=e.csv", Some((Vec::new(), "text/csv")), &[]).await;
    assert!(matches!(refused, Err(ClientError::Api { status, .. }) if status == 422), "{refused:?}");

    // A client pinning another certificate never talks to this node.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let stranger = ApiClient::new(&url, &wrong, made.admin_token.expose()).unwrap();
    assert!(matches!(
        stranger.call::<Value>(Method::GET, "/api/v1/me", None, &[]).await,
        Err(ClientError::Transport(_))
    ));

    node.shutdown().await.unwrap();
}

/// An HTTP/2 client (by ALPN) that trusts whatever certificate the node it is pointed at shows:
/// the test started that node itself.
fn http2_client() -> reqwest::Client {
    #[derive(Debug)]
    struct TheTestsOwnNode(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for TheTestsOwnNode {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TheTestsOwnNode(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    reqwest::Client::builder().tls_backend_preconfigured(tls).http2_prior_knowledge().build().unwrap()
}

#[tokio::test]
async fn over_long_targets_are_answered_with_a_problem_document() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        data_dir: dir.path().join("node"),
        organisation: "Vendor".into(),
        admin: "ada".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await.unwrap();
    let node = start(&options.data_dir, &NodeConfig::load(&options.data_dir).unwrap()).await.unwrap();
    let url = format!("https://127.0.0.1:{}", node.addr.port());
    let http1 = blindmap_server::client::pinned_http(&made.fingerprint).unwrap();
    let http2 = http2_client();
    let target = |length: usize| {
        let path = "/api/v1/me?pad=";
        format!("{url}{path}{}", "a".repeat(length - path.len()))
    };
    let token = made.admin_token.expose();

    for (client, version) in [(&http1, reqwest::Version::HTTP_11), (&http2, reqwest::Version::HTTP_2)] {
        let fits = client.get(target(MAX_URI_BYTES)).bearer_auth(token).send().await.unwrap();
        assert_eq!((fits.version(), fits.status().as_u16()), (version, 200), "up to the limit the node reads it");
        // Just past the node's limit, and far past it (below hyper's own limits).
        for length in [MAX_URI_BYTES + 1, 60 * 1024] {
            let refused = client.get(target(length)).bearer_auth(token).send().await.unwrap();
            assert_eq!((refused.version(), refused.status().as_u16()), (version, 414), "{length} bytes");
            let content_type = refused.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
            assert_eq!(content_type, "application/problem+json");
            let problem: Value = refused.json().await.unwrap();
            assert_eq!((problem["status"].as_u64(), problem["title"].as_str()), (Some(414), Some("URI Too Long")));
            assert!(problem["detail"].as_str().unwrap().contains(&MAX_URI_BYTES.to_string()), "{problem}");
        }
    }
    // (Past 65,534 bytes, hyper's HTTP/1 limit, hyper answers a bare 414 itself: see
    // MAX_URI_BYTES. The `http` crate cannot even form such a URI, so no client here sends one.)

    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_http1_body_left_unread_closes_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        data_dir: dir.path().join("node"),
        organisation: "Vendor".into(),
        admin: "ada".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await.unwrap();
    let node = start(&options.data_dir, &NodeConfig::load(&options.data_dir).unwrap()).await.unwrap();
    let url = format!("https://127.0.0.1:{}/api/v1/users", node.addr.port());
    let http1 = blindmap_server::client::pinned_http(&made.fingerprint).unwrap();
    let body = r#"{"name": "kim", "role": "rep"}"#;
    let json = |request: reqwest::RequestBuilder| request.header("content-type", "application/json").body(body);
    let closes = |response: &reqwest::Response| {
        response.headers().get(reqwest::header::CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
    };
    // Refused before the body is read (no token): the client is told not to reuse the connection.
    let refused = json(http1.post(&url)).send().await.unwrap();
    assert_eq!((refused.status().as_u16(), closes(&refused)), (401, true));
    // Read to its end: the connection stays open for the next request.
    let created = json(http1.post(&url)).bearer_auth(made.admin_token.expose()).send().await.unwrap();
    assert_eq!((created.status().as_u16(), closes(&created)), (201, false));
    node.shutdown().await.unwrap();
}

#[test]
fn configuration_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("node.toml"),
        "listen = \"127.0.0.1:7443\"\npublic_url = \"https://node.example:7443\"\ndatabase_url = \"sqlite:x.db\"\n",
    )
    .unwrap();
    let config = NodeConfig::load(dir.path()).unwrap();
    assert_eq!((config.max_body_mib, config.max_concurrent_uploads, config.request_timeout_seconds), (1024, 2, 300));
    std::fs::write(dir.path().join("node.toml"), "listen = \"nowhere\"\n").unwrap();
    assert!(matches!(NodeConfig::load(dir.path()), Err(NodeError::Config { .. })));
    assert!(matches!(NodeConfig::load(&dir.path().join("none")), Err(NodeError::NotInitialised(_))));
}

//! A real node: `init` in a fresh folder, `start` on port 0, and the API over HTTPS with the
//! certificate pinned — and refused when the pin is wrong.

use blindmap_server::client::{ApiClient, ClientError};
use blindmap_server::node::{InitOptions, NodeConfig, NodeError, SECRETS_KEY_FILE, init, start};
use reqwest::Method;
use serde_json::Value;

const VENDOR: &str = include_str!("../../../samples/vendor-salesforce.csv");

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

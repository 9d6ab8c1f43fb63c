//! What the end-to-end tests of real nodes share: a node on port 0 in a fresh folder, and calls
//! to its API.

pub(crate) mod browser;
pub(crate) mod oidc;

use std::time::Duration;

use blindmap_server::client::{ApiClient, ClientError, Method};
use blindmap_server::node::{InitOptions, NodeConfig, RunningNode, init, start};
use serde_json::Value;

pub(crate) struct Node {
    pub running: RunningNode,
    pub api: ApiClient,
    pub _dir: tempfile::TempDir,
}

/// How a test node is set up: in `dir`, on loopback port 0.
fn options(dir: &tempfile::TempDir, organisation: &str, database_url: Option<String>) -> InitOptions {
    InitOptions {
        data_dir: dir.path().join("node"),
        organisation: organisation.into(),
        admin: "admin".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        database_url,
    }
}

/// A test node's configuration: as `init` wrote it, and — as an operator whose webhook receivers
/// run on the node's own machine would set it — webhooks allowed to loopback over plain http
/// (the tests' receivers listen on 127.0.0.1).
pub(crate) fn config(data_dir: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig::load(data_dir).unwrap();
    config.webhook_allow_http = true;
    config.webhook_allow = vec!["127.0.0.0/8".into(), "::1".into()];
    // The CRM emulators serve on loopback, over http.
    config.crm_allow_http = true;
    config.crm_allow = vec!["127.0.0.0/8".into(), "::1".into()];
    config
}

pub(crate) async fn node(organisation: &str, database_url: Option<String>) -> Node {
    node_configured(organisation, database_url, |_| {}).await
}

/// A node whose configuration `configure` changes first.
pub(crate) async fn node_configured(
    organisation: &str,
    database_url: Option<String>,
    configure: impl FnOnce(&mut NodeConfig),
) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let options = options(&dir, organisation, database_url);
    let made = init(&options).await.unwrap();
    let mut config = config(&options.data_dir);
    configure(&mut config);
    let running = start(&options.data_dir, &config).await.unwrap();
    let url = format!("https://127.0.0.1:{}", running.addr.port());
    let api = ApiClient::new(&url, &made.fingerprint, made.admin_token.expose()).unwrap();
    Node { running, api, _dir: dir }
}

pub(crate) async fn call(node: &Node, method: Method, path: &str, body: Option<Value>) -> Result<Value, ClientError> {
    let body = body.map(|b| (serde_json::to_vec(&b).unwrap(), "application/json"));
    node.api.call(method, path, body, &[]).await
}

pub(crate) async fn upload(node: &Node, name: &str, csv: &str) {
    let body = Some((csv.as_bytes().to_vec(), "text/csv"));
    let path = format!("/api/v1/datasets?name={name}");
    node.api.call::<Value>(Method::POST, &path, body, &[]).await.unwrap();
}

/// Uploads a dataset and makes it the one the node's runs match (a later import waits to be
/// chosen otherwise).
pub(crate) async fn upload_active(node: &Node, name: &str, csv: &str) {
    let body = Some((csv.as_bytes().to_vec(), "text/csv"));
    let path = format!("/api/v1/datasets?name={name}&activate=true");
    let made: Value = node.api.call(Method::POST, &path, body, &[]).await.unwrap();
    assert_eq!(made["active"], true, "{made}");
}

/// Polls a run until it leaves `running`.
pub(crate) async fn finished(node: &Node, run: &str) -> Value {
    for _ in 0..600 {
        let view = call(node, Method::GET, &format!("/api/v1/runs/{run}"), None).await.unwrap();
        if view["state"] != "running" {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {run} still running after a minute");
}

/// Pairs `inviter` with `invited` over the API: the inviter's and the invited's partnership ids.
pub(crate) async fn pair(inviter: &Node, invited: &Node, invited_name: &str) -> (String, String) {
    let invite = call(inviter, Method::POST, "/api/v1/partnerships/invites", None).await.unwrap();
    let accepted =
        call(invited, Method::POST, "/api/v1/partnerships", Some(serde_json::json!({ "code": invite["code"] })))
            .await
            .unwrap();
    let list = call(inviter, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    let mine = list["items"].as_array().unwrap().iter().find(|p| p["partner"] == invited_name).unwrap()["id"].clone();
    (mine.as_str().unwrap().to_owned(), accepted["id"].as_str().unwrap().to_owned())
}

/// The node's own store (SQLite nodes), opened beside it.
pub(crate) async fn store_of(node: &Node) -> blindmap_store::Store {
    blindmap_store::Store::connect(&format!("sqlite:{}", node._dir.path().join("node").join("node.db").display()))
        .await
        .unwrap()
}

/// A vendor and a partner that matched. Each shares its accounts' owner only: the partner hides
/// its prospects, the vendor its partners. The vendor's and the partner's partnership ids.
pub(crate) async fn matched() -> (Node, Node, String, String) {
    let vendor = node("Vendor", None).await;
    let partner = node("Partner", None).await;
    upload(&vendor, "v.csv", include_str!("../../../../../samples/vendor-salesforce.csv")).await;
    upload(&partner, "p.csv", include_str!("../../../../../samples/partner-hubspot.csv")).await;
    let (pid, theirs) = pair(&vendor, &partner, "Partner").await;
    let policy = |hidden: &str| {
        serde_json::json!({ "rules": [
                { "own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["owner"] },
                { "own_segment": hidden, "partner_segment": "*", "level": "hidden" }],
            "threshold": 1, "min_partner_segment": 1 })
    };
    call(&partner, Method::PUT, &format!("/api/v1/partnerships/{theirs}/sharing"), Some(policy("prospects")))
        .await
        .unwrap();
    call(&vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(policy("partners"))).await.unwrap();
    let run =
        call(&vendor, Method::POST, "/api/v1/runs", Some(serde_json::json!({ "partnership": pid }))).await.unwrap();
    let view = finished(&vendor, run["id"].as_str().unwrap()).await;
    assert_eq!(view["state"], "complete", "{view}");
    // The partner's side of the run is stored too before its pages can show it.
    for _ in 0..100 {
        let runs = call(&partner, Method::GET, "/api/v1/runs", None).await.unwrap();
        if runs["items"][0]["state"] == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (vendor, partner, pid, theirs)
}

/// A rep of `node`'s organisation: its user id and token.
pub(crate) async fn rep(node: &Node) -> (String, String) {
    let made = call(node, Method::POST, "/api/v1/users", Some(serde_json::json!({ "name": "rita", "role": "rep" })))
        .await
        .unwrap();
    (made["id"].as_str().unwrap().to_owned(), made["token"]["token"].as_str().unwrap().to_owned())
}

/// Every page of a list of overlaps.
pub(crate) async fn all_overlaps(node: &Node, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{sep}limit=7&cursor={c}"),
            None => format!("{path}{sep}limit=7"),
        };
        let page = call(node, Method::GET, &page_path, None).await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// A node that a test stops and starts again from the same folder, on the same port (partners
/// keep dialling the URL they paired with).
pub(crate) struct Restartable {
    pub config: NodeConfig,
    data_dir: std::path::PathBuf,
    fingerprint: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Restartable {
    /// A new node of `organisation` on a free fixed port.
    pub(crate) async fn new(organisation: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = options(&dir, organisation, None);
        let made = init(&options).await.unwrap();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let mut config = config(&options.data_dir);
        config.listen = format!("127.0.0.1:{port}").parse().unwrap();
        config.public_url = format!("https://127.0.0.1:{port}");
        Self {
            config,
            data_dir: options.data_dir,
            fingerprint: made.fingerprint,
            token: made.admin_token.expose().to_owned(),
            _dir: dir,
        }
    }

    /// Starts it (again).
    pub(crate) async fn start(&self) -> Node {
        let running = start(&self.data_dir, &self.config).await.unwrap();
        let api = ApiClient::new(&self.config.public_url, &self.fingerprint, &self.token).unwrap();
        Node { running, api, _dir: tempfile::tempdir().unwrap() }
    }
}

/// What a log subscriber wrote, shared with the test.
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

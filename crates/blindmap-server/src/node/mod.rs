//! The node as a program: its data folder and configuration, `init` (identity, secrets key,
//! store, first organisation and admin) and `serve` (the API over HTTPS until told to stop).

pub mod identity;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use blindmap_store::{ApiToken, Keyring, Role, SecretsKey, Store, StoreError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use crate::node::identity::{Identity, IdentityError};
use crate::peer::{AnyClientCertificate, PeerAcceptor};
use crate::{Limits, NodeContext, ThrottleConfig, app_with_node};

/// The configuration file in a node's data folder.
pub const CONFIG_FILE: &str = "node.toml";
/// The identity folder in a node's data folder.
pub const IDENTITY_DIR: &str = "identity";
/// The secrets key file `init` writes in a node's data folder (mode 0600).
pub const SECRETS_KEY_FILE: &str = "secrets.key";

/// The largest HTTP/2 header list the node reads.
const HTTP2_MAX_HEADER_LIST_BYTES: u32 = 96 * 1024;

/// Why a node could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The data folder already holds a node.
    #[error("{0} already holds a node; use another --data-dir or remove it")]
    AlreadyInitialised(String),
    /// The data folder holds no node.
    #[error("{0} holds no node: run `blindmap init --data-dir {0}` first")]
    NotInitialised(String),
    /// The configuration does not parse or is invalid.
    #[error("{path}: {problem}")]
    Config {
        /// The file (or environment variable).
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The TLS identity.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS set-up.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// Binding or serving.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// An environment variable blindmap reads, and what it sets.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Its name.
    pub name: &'static str,
    /// What it sets, and who reads it.
    pub sets: &'static str,
}

/// Every environment variable the node, the command line and the container's entry point
/// read: the one list that the node's configuration is checked against (a test records every
/// name it asks for) and that the deploy checks hold the examples to.
pub const ENVIRONMENT: &[EnvVar] = &[
    EnvVar { name: "BLINDMAP_LISTEN", sets: "node.toml's listen: where the API listens" },
    EnvVar { name: "BLINDMAP_PUBLIC_URL", sets: "public_url: the https:// URL clients and partners dial" },
    EnvVar { name: "BLINDMAP_DATABASE_URL", sets: "database_url: sqlite:PATH or postgres://…" },
    EnvVar { name: "BLINDMAP_MAX_BODY_MIB", sets: "max_body_mib: the largest upload" },
    EnvVar { name: "BLINDMAP_MAX_CONCURRENT_UPLOADS", sets: "max_concurrent_uploads" },
    EnvVar { name: "BLINDMAP_REQUEST_TIMEOUT_SECONDS", sets: "request_timeout_seconds" },
    EnvVar { name: "BLINDMAP_RATE_LIMIT_PER_CREDENTIAL", sets: "rate_limit_per_credential (0: no limit)" },
    EnvVar { name: "BLINDMAP_RATE_LIMIT_PER_ORGANISATION", sets: "rate_limit_per_organisation (0: no limit)" },
    EnvVar { name: "BLINDMAP_MAX_CONCURRENT_PER_ORGANISATION", sets: "max_concurrent_per_organisation" },
    EnvVar { name: "BLINDMAP_DATABASE_MAX_CONNECTIONS", sets: "database_max_connections" },
    EnvVar { name: "BLINDMAP_KEEP_TRANSCRIPTS", sets: "keep_transcripts (true or false)" },
    EnvVar {
        name: "BLINDMAP_PARTNER_PAGE",
        sets: "at build time (build.rs): the partner page's folder (scripts/partner-page.sh) the node embeds at /join",
    },
    EnvVar {
        name: "BLINDMAP_BROWSER_ALLOW_FILE",
        sets: "browser_allow_file: let the saved partner page, opened from file://, call this node",
    },
    EnvVar { name: "BLINDMAP_WEBHOOK_RETRY_BASE_MS", sets: "webhook_retry_base_ms" },
    EnvVar { name: "BLINDMAP_WEBHOOK_ALLOW_HTTP", sets: "webhook_allow_http (true or false)" },
    EnvVar { name: "BLINDMAP_WEBHOOK_ALLOW", sets: "webhook_allow (comma-separated networks and hosts)" },
    EnvVar { name: "BLINDMAP_CRM_ALLOW_HTTP", sets: "crm_allow_http (true or false)" },
    EnvVar { name: "BLINDMAP_CRM_ALLOW", sets: "crm_allow (comma-separated networks and hosts)" },
    EnvVar { name: "BLINDMAP_SECRETS_KEY_FILE", sets: "secrets_key_file" },
    EnvVar { name: "BLINDMAP_SECRETS_KEY", sets: "the secrets key itself (base64), before any file" },
    EnvVar { name: "BLINDMAP_PREVIOUS_SECRETS_KEYS", sets: "earlier secrets keys, comma-separated (rotation)" },
    EnvVar { name: "BLINDMAP_DATA_DIR", sets: "the command line's --data-dir" },
    EnvVar { name: "BLINDMAP_LOG", sets: "`serve`'s log levels, e.g. info or blindmap_server=debug" },
    EnvVar { name: "BLINDMAP_LOG_JSON", sets: "`serve --log-json`" },
    EnvVar { name: "BLINDMAP_NODE", sets: "the command line's --node (a node's https:// URL)" },
    EnvVar { name: "BLINDMAP_FINGERPRINT", sets: "the command line's --fingerprint" },
    EnvVar { name: "BLINDMAP_TOKEN", sets: "the command line's --token" },
    EnvVar {
        name: "BLINDMAP_SSO_CLIENT_SECRET",
        sets: "`sso set`'s OpenID client secret (the default of its --client-secret-env)",
    },
    EnvVar {
        name: "BLINDMAP_CRM_CLIENT_SECRET",
        sets: "`crm salesforce|hubspot`'s app client secret (the default of its --client-secret-env)",
    },
    EnvVar {
        name: "BLINDMAP_CRM_REFRESH_TOKEN",
        sets: "`crm hubspot`'s OAuth refresh token (the default of its --refresh-token-env)",
    },
    EnvVar {
        name: "BLINDMAP_HUBSPOT_TOKEN",
        sets: "`crm hubspot`'s private app token (the default of its --token-env)",
    },
    EnvVar {
        name: "BLINDMAP_SLACK_TOKEN",
        sets: "`alerts slack`'s Slack app bot token (the default of its --token-env)",
    },
    EnvVar {
        name: "BLINDMAP_TEAMS_WORKFLOW_URL",
        sets: "`alerts teams`'s workflow URL (the default of its --url-env)",
    },
    EnvVar { name: "BLINDMAP_CLIENT_DIR", sets: "`match --remote`'s --client-dir" },
    EnvVar { name: "BLINDMAP_ORGANISATION", sets: "the container's first organisation (deploy/entrypoint.sh)" },
];

/// A node's configuration: `node.toml` in its data folder, then `BLINDMAP_*` variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the API listens (`BLINDMAP_LISTEN`).
    pub listen: SocketAddr,
    /// The URL clients and partners dial (`BLINDMAP_PUBLIC_URL`).
    pub public_url: String,
    /// `sqlite:PATH` or `postgres://…` (`BLINDMAP_DATABASE_URL`).
    pub database_url: String,
    /// Largest upload (a CRM export) in MiB (`BLINDMAP_MAX_BODY_MIB`); uploads stream to a
    /// temporary file (`TMPDIR`), other requests take a few KiB at most.
    #[serde(default = "default_body_mib")]
    pub max_body_mib: usize,
    /// Uploads imported at once; more are answered 503 with `Retry-After`
    /// (`BLINDMAP_MAX_CONCURRENT_UPLOADS`).
    #[serde(default = "default_concurrent_uploads")]
    pub max_concurrent_uploads: usize,
    /// Longest request in seconds (`BLINDMAP_REQUEST_TIMEOUT_SECONDS`).
    #[serde(default = "default_timeout")]
    pub request_timeout_seconds: u64,
    /// Requests per minute one API token, browser session or partner node may make; 429 with
    /// `Retry-After` beyond (`BLINDMAP_RATE_LIMIT_PER_CREDENTIAL`; 0: no limit).
    #[serde(default = "default_rate_per_credential")]
    pub rate_limit_per_credential: u32,
    /// Requests per minute one organisation's callers may make together
    /// (`BLINDMAP_RATE_LIMIT_PER_ORGANISATION`; 0: no limit).
    #[serde(default = "default_rate_per_organisation")]
    pub rate_limit_per_organisation: u32,
    /// Requests one organisation may have running at once; more wait their turn up to 10 s, then
    /// get 429 (`BLINDMAP_MAX_CONCURRENT_PER_ORGANISATION`; 0: half the database pool).
    #[serde(default)]
    pub max_concurrent_per_organisation: usize,
    /// Database connections this node pools (`BLINDMAP_DATABASE_MAX_CONNECTIONS`; 0: 8 for
    /// SQLite, 16 for PostgreSQL — per replica: mind the server's `max_connections`).
    #[serde(default)]
    pub database_max_connections: u32,
    /// Keep a transcript of every frame of runs partners start with this node
    /// (`BLINDMAP_KEEP_TRANSCRIPTS`); runs started here keep one when asked.
    #[serde(default)]
    pub keep_transcripts: bool,
    /// Let the partner page saved as one file and opened from `file://` call this node's
    /// browser routes (`BLINDMAP_BROWSER_ALLOW_FILE`): CORS for the origin such pages have,
    /// `null`, on those routes only (spec §20). Off by default: only the page this node serves.
    #[serde(default)]
    pub browser_allow_file: bool,
    /// The first webhook retry's delay in milliseconds, doubling per attempt up to an hour
    /// (`BLINDMAP_WEBHOOK_RETRY_BASE_MS`).
    #[serde(default = "default_retry_base_ms")]
    pub webhook_retry_base_ms: u64,
    /// Let webhooks use plain http:// (`BLINDMAP_WEBHOOK_ALLOW_HTTP`); by default https:// only.
    #[serde(default)]
    pub webhook_allow_http: bool,
    /// Where webhooks may go although it is loopback, private, link-local or otherwise not a
    /// public address: CIDRs (`10.20.0.0/16`), addresses (`127.0.0.1`) and host names
    /// (`crm.internal`, `*.corp.example`, reached whatever they resolve to)
    /// (`BLINDMAP_WEBHOOK_ALLOW`, comma-separated). Empty by default: public addresses only.
    #[serde(default)]
    pub webhook_allow: Vec<String>,
    /// Let CRM connections use plain http:// (`BLINDMAP_CRM_ALLOW_HTTP`); by default https:// only.
    #[serde(default)]
    pub crm_allow_http: bool,
    /// Where CRM connections may reach although it is not a public address, as `webhook_allow`
    /// says for webhooks (`BLINDMAP_CRM_ALLOW`, comma-separated). Empty by default: an admin's
    /// connection reaches public addresses only (Salesforce's and HubSpot's are).
    #[serde(default)]
    pub crm_allow: Vec<String>,
    /// The file with the key that seals secrets at rest (32 bytes in base64), relative to the
    /// data folder (`BLINDMAP_SECRETS_KEY_FILE`; `BLINDMAP_SECRETS_KEY` gives the key itself and
    /// wins). None: `secrets.key` in the data folder, made on first start for a SQLite node; a
    /// PostgreSQL node must be given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_key_file: Option<PathBuf>,
    /// Files with keys that sealed secrets before the current one: they open, and start-up
    /// re-seals under the current key, what they sealed (`BLINDMAP_PREVIOUS_SECRETS_KEYS` gives
    /// keys themselves, comma-separated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets_key_files: Vec<PathBuf>,
}

fn default_retry_base_ms() -> u64 {
    5000
}

fn default_body_mib() -> usize {
    1024
}

fn default_concurrent_uploads() -> usize {
    2
}

fn default_rate_per_credential() -> u32 {
    ThrottleConfig::default().per_credential_per_minute
}

fn default_rate_per_organisation() -> u32 {
    ThrottleConfig::default().per_organisation_per_minute
}

fn default_timeout() -> u64 {
    300
}

impl NodeConfig {
    /// Reads the configuration of the node in `data_dir`, then applies the environment.
    pub fn load(data_dir: &Path) -> Result<Self, NodeError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => NodeError::NotInitialised(data_dir.display().to_string()),
            _ => NodeError::Io(e),
        })?;
        let mut config: Self = toml::from_str(&text)
            .map_err(|e| NodeError::Config { path: path.display().to_string(), problem: e.to_string() })?;
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), NodeError> {
        let bad = |name: &str, problem: &str| NodeError::Config { path: name.to_owned(), problem: problem.to_owned() };
        if let Some(v) = var("BLINDMAP_LISTEN") {
            self.listen = v.parse().map_err(|_| bad("BLINDMAP_LISTEN", "not an address such as 0.0.0.0:7443"))?;
        }
        if let Some(v) = var("BLINDMAP_PUBLIC_URL") {
            self.public_url = v;
        }
        if let Some(v) = var("BLINDMAP_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = var("BLINDMAP_MAX_BODY_MIB") {
            self.max_body_mib = v.parse().map_err(|_| bad("BLINDMAP_MAX_BODY_MIB", "not a number"))?;
        }
        if let Some(v) = var("BLINDMAP_MAX_CONCURRENT_UPLOADS") {
            self.max_concurrent_uploads =
                v.parse().map_err(|_| bad("BLINDMAP_MAX_CONCURRENT_UPLOADS", "not a number"))?;
        }
        let number = |name: &str| -> Result<Option<u64>, NodeError> {
            var(name).map(|v| v.trim().parse().map_err(|_| bad(name, "not a number"))).transpose()
        };
        if let Some(n) = number("BLINDMAP_RATE_LIMIT_PER_CREDENTIAL")? {
            self.rate_limit_per_credential =
                u32::try_from(n).map_err(|_| bad("BLINDMAP_RATE_LIMIT_PER_CREDENTIAL", "too large"))?;
        }
        if let Some(n) = number("BLINDMAP_RATE_LIMIT_PER_ORGANISATION")? {
            self.rate_limit_per_organisation =
                u32::try_from(n).map_err(|_| bad("BLINDMAP_RATE_LIMIT_PER_ORGANISATION", "too large"))?;
        }
        if let Some(n) = number("BLINDMAP_MAX_CONCURRENT_PER_ORGANISATION")? {
            self.max_concurrent_per_organisation =
                usize::try_from(n).map_err(|_| bad("BLINDMAP_MAX_CONCURRENT_PER_ORGANISATION", "too large"))?;
        }
        if let Some(n) = number("BLINDMAP_DATABASE_MAX_CONNECTIONS")? {
            self.database_max_connections =
                u32::try_from(n).map_err(|_| bad("BLINDMAP_DATABASE_MAX_CONNECTIONS", "too large"))?;
        }
        if let Some(v) = var("BLINDMAP_REQUEST_TIMEOUT_SECONDS") {
            self.request_timeout_seconds =
                v.parse().map_err(|_| bad("BLINDMAP_REQUEST_TIMEOUT_SECONDS", "not a number"))?;
        }
        if let Some(v) = var("BLINDMAP_KEEP_TRANSCRIPTS") {
            self.keep_transcripts = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("BLINDMAP_KEEP_TRANSCRIPTS", "not true or false")),
            };
        }
        if let Some(v) = var("BLINDMAP_BROWSER_ALLOW_FILE") {
            self.browser_allow_file = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("BLINDMAP_BROWSER_ALLOW_FILE", "not true or false")),
            };
        }
        if let Some(v) = var("BLINDMAP_WEBHOOK_RETRY_BASE_MS") {
            self.webhook_retry_base_ms =
                v.parse().map_err(|_| bad("BLINDMAP_WEBHOOK_RETRY_BASE_MS", "not a number of milliseconds"))?;
        }
        if let Some(v) = var("BLINDMAP_WEBHOOK_ALLOW_HTTP") {
            self.webhook_allow_http = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("BLINDMAP_WEBHOOK_ALLOW_HTTP", "not true or false")),
            };
        }
        if let Some(v) = var("BLINDMAP_WEBHOOK_ALLOW") {
            self.webhook_allow = v.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = var("BLINDMAP_CRM_ALLOW_HTTP") {
            self.crm_allow_http = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("BLINDMAP_CRM_ALLOW_HTTP", "not true or false")),
            };
        }
        if let Some(v) = var("BLINDMAP_CRM_ALLOW") {
            self.crm_allow = v.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = var("BLINDMAP_SECRETS_KEY_FILE") {
            self.secrets_key_file = Some(PathBuf::from(v));
        }
        if !self.public_url.starts_with("https://") {
            return Err(bad("public_url", "must be an https:// URL"));
        }
        self.webhook_egress()?;
        self.crm_egress()?;
        Ok(())
    }

    /// Where the node's CRM connections may reach.
    pub(crate) fn crm_egress(&self) -> Result<crate::service::hooks::WebhookEgress, NodeError> {
        crate::service::hooks::WebhookEgress::new(self.crm_allow_http, &self.crm_allow)
            .map_err(|problem| NodeError::Config { path: "crm_allow".into(), problem })
    }

    /// Where the node's webhooks may go.
    pub(crate) fn webhook_egress(&self) -> Result<crate::service::hooks::WebhookEgress, NodeError> {
        crate::service::hooks::WebhookEgress::new(self.webhook_allow_http, &self.webhook_allow)
            .map_err(|problem| NodeError::Config { path: "webhook_allow".into(), problem })
    }

    /// The database pool's size (0 in the file: the store's default for its backend).
    fn pool_size(&self) -> u32 {
        match self.database_max_connections {
            0 if self.database_url.starts_with("sqlite:") => blindmap_store::DEFAULT_SQLITE_CONNECTIONS,
            0 => blindmap_store::DEFAULT_POSTGRES_CONNECTIONS,
            n => n,
        }
    }

    fn limits(&self) -> Limits {
        let per_organisation = match self.max_concurrent_per_organisation {
            0 => (self.pool_size() as usize / 2).max(1),
            n => n,
        };
        Limits {
            max_body_bytes: self.max_body_mib << 20,
            max_concurrent_uploads: self.max_concurrent_uploads,
            request_timeout: Duration::from_secs(self.request_timeout_seconds),
            throttle: ThrottleConfig {
                per_credential_per_minute: self.rate_limit_per_credential,
                per_organisation_per_minute: self.rate_limit_per_organisation,
                concurrent_per_organisation: per_organisation,
                concurrent_reports_per_organisation: per_organisation.div_ceil(2),
                ..ThrottleConfig::default()
            },
        }
    }
}

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The node's data folder (created).
    pub data_dir: PathBuf,
    /// The first organisation hosted on the node.
    pub organisation: String,
    /// Its first admin user.
    pub admin: String,
    /// Where the API will listen.
    pub listen: SocketAddr,
    /// The URL clients and partners will dial; by default `https://` + the listen address.
    pub public_url: Option<String>,
    /// By default a SQLite file in the data folder.
    pub database_url: Option<String>,
}

/// What `init` made.
#[derive(Debug)]
pub struct Initialised {
    /// The node's certificate fingerprint, for clients and partners to pin.
    pub fingerprint: String,
    /// The admin's API token: shown once, stored only as a hash.
    pub admin_token: ApiToken,
    /// The configuration written.
    pub config: NodeConfig,
}

/// Sets up a node in a new data folder: TLS identity, configuration, migrated store, the first
/// organisation and its admin with a token.
pub async fn init(options: &InitOptions) -> Result<Initialised, NodeError> {
    let dir = &options.data_dir;
    if dir.join(CONFIG_FILE).exists() || dir.join(IDENTITY_DIR).exists() {
        return Err(NodeError::AlreadyInitialised(dir.display().to_string()));
    }
    std::fs::create_dir_all(dir)?;
    // Identity, secrets key, configuration and (by default) the database: the node's user's alone.
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let public_url = options.public_url.clone().unwrap_or_else(|| format!("https://{}", options.listen));
    let host = public_url
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| NodeError::Config { path: "--public-url".into(), problem: "names no host".into() })?
        .to_owned();
    let mut hosts = vec![host, "localhost".to_owned(), "127.0.0.1".to_owned()];
    hosts.dedup();
    let identity = Identity::generate(&hosts)?;
    identity.save(&dir.join(IDENTITY_DIR))?;
    let database_url = match &options.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite:{}", std::path::absolute(dir)?.join("node.db").display()),
    };
    let mut config = NodeConfig {
        listen: options.listen,
        public_url,
        database_url,
        max_body_mib: default_body_mib(),
        max_concurrent_uploads: default_concurrent_uploads(),
        request_timeout_seconds: default_timeout(),
        rate_limit_per_credential: default_rate_per_credential(),
        rate_limit_per_organisation: default_rate_per_organisation(),
        max_concurrent_per_organisation: 0,
        database_max_connections: 0,
        keep_transcripts: false,
        browser_allow_file: false,
        webhook_retry_base_ms: default_retry_base_ms(),
        webhook_allow_http: false,
        webhook_allow: Vec::new(),
        crm_allow_http: false,
        crm_allow: Vec::new(),
        secrets_key_file: Some(PathBuf::from(SECRETS_KEY_FILE)),
        previous_secrets_key_files: Vec::new(),
    };
    config.apply_env(|_| None)?;
    let key = SecretsKey::generate();
    write_key_file(&dir.join(SECRETS_KEY_FILE), &key)?;
    let store = Store::connect(&config.database_url).await?.with_secrets(Keyring::new(key, Vec::new()));
    let org = store.create_organisation(&options.organisation).await?;
    let admin = store.create_user(&org.id, &options.admin, Role::Admin).await?;
    let (_, admin_token) = store.issue_token(&org.id, &admin.id, "created by blindmap init").await?;
    store.close().await;
    let text = format!(
        "# blindmap node configuration. Each setting can be overridden by an environment variable:\n\
         # BLINDMAP_LISTEN, BLINDMAP_PUBLIC_URL, BLINDMAP_DATABASE_URL, BLINDMAP_MAX_BODY_MIB,\n\
         # BLINDMAP_REQUEST_TIMEOUT_SECONDS, BLINDMAP_KEEP_TRANSCRIPTS, BLINDMAP_WEBHOOK_RETRY_BASE_MS,\n\
         # BLINDMAP_WEBHOOK_ALLOW_HTTP, BLINDMAP_WEBHOOK_ALLOW (comma-separated), BLINDMAP_SECRETS_KEY_FILE\n\
         # (BLINDMAP_SECRETS_KEY: the key itself). webhook_allow lists where webhooks may go although it is\n\
         # not a public address: CIDRs, addresses, host names. Keep a copy of secrets.key apart from the\n\
         # database's backups: without it the webhook and inbound secrets in the database cannot be read.\n{}",
        toml::to_string(&config).map_err(|e| NodeError::Config { path: CONFIG_FILE.into(), problem: e.to_string() })?
    );
    std::fs::write(dir.join(CONFIG_FILE), text)?;
    Ok(Initialised { fingerprint: identity.fingerprint(), admin_token, config })
}

/// Reads a secrets key file, refusing one others can read.
fn read_key_file(path: &Path) -> Result<SecretsKey, NodeError> {
    let bad = |problem: String| NodeError::Config { path: path.display().to_string(), problem };
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the secrets key: {e}")))?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
            return Err(bad("the secrets key is readable by others: make it its owner's only (chmod 600)".into()));
        }
    }
    SecretsKey::from_base64(&text).map_err(|e| bad(e.to_string()))
}

/// Writes a new secrets key file, readable by its owner only.
fn write_key_file(path: &Path, key: &SecretsKey) -> Result<(), NodeError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(key.to_base64().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

/// The keys a node seals its secrets at rest with. The current key is `BLINDMAP_SECRETS_KEY`, or
/// else the configured key file; without either, `secrets.key` in the data folder — which a
/// SQLite node makes on its first start (a node set up before secrets were sealed), while a
/// PostgreSQL node refuses to start: its replicas must share one key, and a key made on one
/// machine would lock the others out. Previous keys (for rotation) come from
/// `BLINDMAP_PREVIOUS_SECRETS_KEYS` and `previous_secrets_key_files`.
fn secrets_keyring(
    data_dir: &Path,
    config: &NodeConfig,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Keyring, NodeError> {
    let given = |name: &str, text: &str| {
        SecretsKey::from_base64(text).map_err(|e| NodeError::Config { path: name.into(), problem: e.to_string() })
    };
    let current = if let Some(text) = var("BLINDMAP_SECRETS_KEY").map(Zeroizing::new) {
        given("BLINDMAP_SECRETS_KEY", &text)?
    } else if let Some(file) = &config.secrets_key_file {
        read_key_file(&data_dir.join(file))?
    } else {
        let file = data_dir.join(SECRETS_KEY_FILE);
        if file.exists() {
            read_key_file(&file)?
        } else if config.database_url.starts_with("sqlite:") {
            let key = SecretsKey::generate();
            write_key_file(&file, &key)?;
            tracing::warn!(file = %file.display(), "no secrets key was configured: made one; back it up apart from the database");
            key
        } else {
            return Err(NodeError::Config {
                path: "secrets_key_file".into(),
                problem: "a node on PostgreSQL needs its secrets key, the same on every replica: set \
                          BLINDMAP_SECRETS_KEY (32 random bytes in base64, e.g. `openssl rand -base64 32`) or \
                          secrets_key_file"
                    .into(),
            });
        }
    };
    let mut previous = Vec::new();
    if let Some(list) = var("BLINDMAP_PREVIOUS_SECRETS_KEYS").map(Zeroizing::new) {
        for text in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            previous.push(given("BLINDMAP_PREVIOUS_SECRETS_KEYS", text)?);
        }
    }
    for file in &config.previous_secrets_key_files {
        previous.push(read_key_file(&data_dir.join(file))?);
    }
    Ok(Keyring::new(current, previous))
}

/// Adds an organisation to the node in `data_dir` (a hosted node serves several, fully
/// isolated), with its first admin: the admin's token, shown once.
pub async fn add_organisation(data_dir: &Path, organisation: &str, admin: &str) -> Result<ApiToken, NodeError> {
    let config = NodeConfig::load(data_dir)?;
    let store = Store::connect(&config.database_url).await?;
    let org = store.create_organisation(organisation).await?;
    let user = store.create_user(&org.id, admin, Role::Admin).await?;
    let (_, token) = store.issue_token(&org.id, &user.id, "created by blindmap org add").await?;
    store.record_audit(&org.id, "node", "organisation.created", &serde_json::json!({ "admin": admin })).await?;
    store.close().await;
    Ok(token)
}

/// Adds an admin named `admin` to the organisation named `organisation` of the node in
/// `data_dir` (opening its store upgrades it first): the admin's token, shown once, and the
/// seconds opening the store took.
pub async fn add_admin(data_dir: &Path, organisation: &str, admin: &str) -> Result<(ApiToken, f64), NodeError> {
    let config = NodeConfig::load(data_dir)?;
    let started = std::time::Instant::now();
    let store = Store::connect(&config.database_url).await?;
    let opened = started.elapsed().as_secs_f64();
    let org = store.organisation_by_name(organisation).await?.ok_or(StoreError::NotFound("organisation"))?;
    let user = store.create_user(&org.id, admin, Role::Admin).await?;
    let (_, token) = store.issue_token(&org.id, &user.id, "created by blindmap node add-admin").await?;
    store.record_audit(&org.id, "node", "user.created", &serde_json::json!({ "user": admin, "role": "admin" })).await?;
    store.close().await;
    Ok((token, opened))
}

/// A node serving its API.
pub struct RunningNode {
    /// Where it listens (the real port when the configuration said 0).
    pub addr: SocketAddr,
    /// Its certificate fingerprint.
    pub fingerprint: String,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    context: Arc<NodeContext>,
    hooks_stop: tokio::sync::watch::Sender<bool>,
    hooks: tokio::task::JoinHandle<()>,
    sync: tokio::task::JoinHandle<()>,
    /// Counting the pages across partners after the start (`service::runs::warm_all`).
    warming: Option<tokio::task::JoinHandle<()>>,
}

impl RunningNode {
    /// Fails the match runs in progress (they record why; a partner's side sees the connection
    /// close), stops accepting connections, lets requests in flight finish (up to 30 s), and waits.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        if let Some(warming) = &self.warming {
            warming.abort();
        }
        self.context.runs.stop_all(Duration::from_secs(10)).await;
        self.hooks_stop.send_replace(true);
        let _ = self.hooks.await;
        let _ = self.sync.await;
        self.handle.graceful_shutdown(Some(Duration::from_secs(30)));
        self.task.await.map_err(std::io::Error::other)??;
        Ok(())
    }
}

impl RunningNode {
    /// This process among the node's replicas: the holder its scheduled jobs name.
    #[doc(hidden)]
    pub fn replica(&self) -> &str {
        &self.context.replica
    }

    /// Stops the node at once, as if its process had died: connections are cut, and nothing of
    /// what it was doing is recorded as stopped — its runs stay running in the store until their
    /// heartbeats are missed, its scheduled jobs until their leases lapse. For tests of what
    /// the other replicas do about it.
    #[doc(hidden)]
    pub fn kill(self) {
        if let Some(warming) = &self.warming {
            warming.abort();
        }
        self.context.runs.abort_all();
        self.hooks.abort();
        self.sync.abort();
        self.handle.shutdown();
        self.task.abort();
    }
}

impl RunningNode {
    /// Waits until the node has counted what its pages across partners show (the lists'
    /// totals, the ecosystem's ranking) after it started, and after the runs and corrections
    /// since: what a benchmark waits for before timing pages.
    pub async fn warmed(&mut self) {
        if let Some(warming) = self.warming.take() {
            let _ = warming.await;
        }
        // And what runs or corrections made since set counting.
        while !crate::service::runs::counted() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts the node in `data_dir`: opens the store, loads the identity, and serves the API over
/// HTTPS on the configured address.
pub async fn start(data_dir: &Path, config: &NodeConfig) -> Result<RunningNode, NodeError> {
    let identity = Identity::load(&data_dir.join(IDENTITY_DIR))?;
    let fingerprint = identity.fingerprint();
    let webhooks = Arc::new(config.webhook_egress()?);
    let crm = Arc::new(config.crm_egress()?);
    let keyring = secrets_keyring(data_dir, config, |name| std::env::var(name).ok())?;
    let store = Store::connect_with(&config.database_url, Some(config.pool_size())).await?.with_secrets(keyring);
    // Secrets an older node kept in plaintext, or a previous key sealed: under the current key.
    // On SQLite this process is the node: no request of an earlier run of it still holds a key.
    let released = store.release_abandoned_idempotency_keys().await?;
    if released > 0 {
        tracing::info!(released, "released idempotency keys held by requests of the node's previous run");
    }
    let resealed = store.seal_stored_secrets().await?;
    if resealed.sealed + resealed.rotated > 0 {
        tracing::info!(
            sealed = resealed.sealed,
            rotated = resealed.rotated,
            "stored secrets now under the current key"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Clients may present a certificate (partner nodes do); the peer routes decide what it is worth.
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate { provider }))
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = PeerAcceptor { inner: RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(tls))) };
    let handle = axum_server::Handle::new();
    let mut server = axum_server::bind(config.listen).acceptor(acceptor).handle(handle.clone());
    // HTTP/2's header list may be as long as the request line HTTP/1 reads (hyper's 64 KiB) and
    // some: h2's own 16 KiB default would answer a long path itself, with a bare 431, before the
    // API's problem document for targets over `MAX_URI_BYTES` (error.rs).
    server.http_builder().http2().max_header_list_size(HTTP2_MAX_HEADER_LIST_BYTES);
    let context = Arc::new(NodeContext {
        identity,
        public_url: std::sync::OnceLock::new(),
        keep_transcripts: config.keep_transcripts,
        browser_allow_file: config.browser_allow_file,
        runs: crate::service::runs::RunTasks::default(),
        webhooks: webhooks.clone(),
        crm,
        replica: format!("replica_{}", hex::encode(rand::random::<[u8; 4]>())),
    });
    let policy = blindmap_cosell::webhook::DeliveryPolicy {
        base: Duration::from_millis(config.webhook_retry_base_ms.max(1)),
        ..Default::default()
    };
    let (hooks_stop, stop) = tokio::sync::watch::channel(false);
    // Webhook deliveries and alerts: the two halves of the outbox.
    let hooks = tokio::spawn({
        let (store, context, stop) = (store.clone(), context.clone(), stop.clone());
        async move {
            tokio::join!(
                crate::service::hooks::run_worker(store.clone(), policy, webhooks, stop.clone()),
                crate::service::alerts::run_worker(store, policy, context, stop),
            );
        }
    });
    let (sync_store, sync_context) = (store.clone(), context.clone());
    let sync = tokio::spawn(async move {
        tokio::join!(
            crate::service::cosell::run_sync(sync_store.clone(), sync_context.clone(), stop.clone()),
            crate::service::registrations::run_sync(sync_store.clone(), sync_context.clone(), stop.clone()),
            crate::service::writeback::run_after_runs(sync_store.clone(), sync_context.clone(), stop.clone()),
            crate::service::schedules::run_jobs(sync_store.clone(), sync_context, stop.clone()),
            crate::service::retention::run_sweeps(sync_store, stop),
        );
    });
    let warming = Some(tokio::spawn(crate::service::runs::warm_all(store.clone())));
    let router = app_with_node(store, config.limits(), Some(context.clone()));
    let task = tokio::spawn(async move { server.serve(router.into_make_service()).await });
    let addr =
        handle.listening().await.ok_or_else(|| std::io::Error::other(format!("cannot listen on {}", config.listen)))?;
    let url = match config.public_url.strip_suffix(":0") {
        Some(base) => format!("{base}:{}", addr.port()),
        None => config.public_url.clone(),
    };
    let _ = context.public_url.set(url);
    Ok(RunningNode { addr, fingerprint, handle, task, context, hooks_stop, hooks, sync, warming })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig {
            listen: "127.0.0.1:7443".parse().unwrap(),
            public_url: "https://a.example".into(),
            database_url: "sqlite:a.db".into(),
            max_body_mib: 256,
            max_concurrent_uploads: 2,
            request_timeout_seconds: 300,
            rate_limit_per_credential: 1200,
            rate_limit_per_organisation: 6000,
            max_concurrent_per_organisation: 0,
            database_max_connections: 0,
            keep_transcripts: false,
            browser_allow_file: false,
            webhook_retry_base_ms: 5000,
            webhook_allow_http: false,
            webhook_allow: Vec::new(),
            crm_allow_http: false,
            crm_allow: Vec::new(),
            secrets_key_file: None,
            previous_secrets_key_files: Vec::new(),
        }
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let mut config = sample();
        let env = |name: &str| match name {
            "BLINDMAP_LISTEN" => Some("0.0.0.0:9000".to_owned()),
            "BLINDMAP_DATABASE_URL" => Some("postgres://db/blindmap".to_owned()),
            "BLINDMAP_MAX_BODY_MIB" => Some("16".to_owned()),
            "BLINDMAP_WEBHOOK_ALLOW_HTTP" => Some("true".to_owned()),
            "BLINDMAP_WEBHOOK_ALLOW" => Some("10.20.0.0/16, crm.internal,".to_owned()),
            "BLINDMAP_SECRETS_KEY_FILE" => Some("/run/credentials/blindmap/secrets-key".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url, "postgres://db/blindmap");
        assert_eq!(config.max_body_mib, 16);
        assert!(config.webhook_allow_http);
        assert_eq!(config.webhook_allow, ["10.20.0.0/16", "crm.internal"]);
        assert_eq!(config.secrets_key_file, Some(PathBuf::from("/run/credentials/blindmap/secrets-key")));
        let bad = |name: &str| (name == "BLINDMAP_PUBLIC_URL").then(|| "http://plain".to_owned());
        assert!(matches!(sample().apply_env(bad), Err(NodeError::Config { .. })), "only https");
        let bad = |name: &str| (name == "BLINDMAP_WEBHOOK_ALLOW").then(|| "10.0.0.0/33".to_owned());
        let refused = sample().apply_env(bad);
        assert!(matches!(&refused, Err(NodeError::Config { path, .. }) if path == "webhook_allow"), "{refused:?}");
        let bad = |name: &str| (name == "BLINDMAP_WEBHOOK_ALLOW_HTTP").then(|| "yes please".to_owned());
        let refused = sample().apply_env(bad);
        assert!(matches!(&refused, Err(NodeError::Config { path, .. }) if path == "BLINDMAP_WEBHOOK_ALLOW_HTTP"));
    }

    #[test]
    fn every_variable_the_node_reads_is_in_the_table() {
        let asked = std::sync::Mutex::new(Vec::new());
        let record = |name: &str| {
            asked.lock().unwrap().push(name.to_owned());
            None
        };
        sample().apply_env(record).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let _ = secrets_keyring(dir.path(), &sample(), record);
        let asked = asked.into_inner().unwrap();
        assert!(asked.len() >= 17, "{asked:?}");
        for name in &asked {
            assert!(ENVIRONMENT.iter().any(|v| v.name == name), "{name} is read but not in ENVIRONMENT");
        }
    }

    #[test]
    fn a_configuration_without_the_new_settings_still_loads() {
        let text = "listen = \"127.0.0.1:7443\"\npublic_url = \"https://a.example\"\ndatabase_url = \"sqlite:a.db\"\n";
        let config: NodeConfig = toml::from_str(text).unwrap();
        assert!(!config.webhook_allow_http && config.webhook_allow.is_empty() && config.secrets_key_file.is_none());
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
    }

    #[test]
    fn the_secrets_key_comes_from_the_environment_a_file_or_is_made_for_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        // A SQLite node set up before secrets were sealed: a key is made, once, in the data folder.
        let made = secrets_keyring(dir.path(), &sample(), none).unwrap();
        let file = dir.path().join(SECRETS_KEY_FILE);
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600);
        assert_eq!(secrets_keyring(dir.path(), &sample(), none).unwrap().current_id(), made.current_id());

        // A PostgreSQL node must be given one.
        let elsewhere = tempfile::tempdir().unwrap();
        let postgres = NodeConfig { database_url: "postgres://db/blindmap".into(), ..sample() };
        let refused = secrets_keyring(elsewhere.path(), &postgres, none);
        assert!(matches!(&refused, Err(NodeError::Config { problem, .. }) if problem.contains("BLINDMAP_SECRETS_KEY")));
        assert!(!elsewhere.path().join(SECRETS_KEY_FILE).exists(), "none is made for it");
        let key = SecretsKey::generate();
        let text = key.to_base64().to_string();
        let env = |name: &str| (name == "BLINDMAP_SECRETS_KEY").then(|| format!("{text}\n"));
        assert_eq!(secrets_keyring(elsewhere.path(), &postgres, env).unwrap().current_id(), key.id());
        let bad = |name: &str| (name == "BLINDMAP_SECRETS_KEY").then(|| "c2hvcnQ=".to_owned());
        assert!(matches!(secrets_keyring(elsewhere.path(), &postgres, bad), Err(NodeError::Config { .. })));

        // A configured file that is missing is an error, never replaced by a new key.
        let configured = NodeConfig { secrets_key_file: Some("keys/current.key".into()), ..postgres };
        assert!(matches!(secrets_keyring(elsewhere.path(), &configured, none), Err(NodeError::Config { .. })));
        std::fs::create_dir(elsewhere.path().join("keys")).unwrap();
        write_key_file(&elsewhere.path().join("keys/current.key"), &key).unwrap();
        write_key_file(&elsewhere.path().join("keys/old.key"), &SecretsKey::generate()).unwrap();
        let rotating = NodeConfig { previous_secrets_key_files: vec!["keys/old.key".into()], ..configured };
        let ring = secrets_keyring(elsewhere.path(), &rotating, none).unwrap();
        assert_eq!(ring.current_id(), key.id());
        assert!(!format!("{ring:?}").contains(&text), "Debug shows key ids only");

        // A key file others can read is refused, as the TLS key is.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let refused = secrets_keyring(dir.path(), &sample(), none);
            assert!(matches!(&refused, Err(NodeError::Config { problem, .. }) if problem.contains("chmod 600")));
        }
    }
}

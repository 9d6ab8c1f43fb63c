//! The commands, one module per group. Those that use a node talk to its API over HTTPS like
//! any client (through [`blindmap_server::client::ApiClient`]'s typed calls); none opens a
//! node's database itself. What they share: how to reach a node, and the async runtime.

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod attribution;
pub(crate) mod changes;
pub(crate) mod corrections;
pub(crate) mod cosell;
pub(crate) mod crm;
pub(crate) mod datasets;
pub(crate) mod deals;
pub(crate) mod demo;
pub(crate) mod files;
pub(crate) mod hooks;
pub(crate) mod inspect;
pub(crate) mod matching;
pub(crate) mod node;
pub(crate) mod partners;
pub(crate) mod policy_arg;
pub(crate) mod remote;
pub(crate) mod schedules;
pub(crate) mod sso;
pub(crate) mod users;

use std::path::{Path, PathBuf};

use anyhow::Context;
use blindmap_server::client::ApiClient;
use blindmap_server::node::identity::Identity;
use blindmap_server::node::{IDENTITY_DIR, NodeConfig};
use clap::Args;

/// How to reach a node: its URL, pinned fingerprint and a token — given, or read from the
/// node's data folder on this machine (URL and fingerprint only; the token is always given).
#[derive(Args)]
pub(crate) struct Connection {
    /// The node's data folder, to read its URL and certificate from.
    #[arg(long, env = "BLINDMAP_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The node's https:// URL.
    #[arg(long, env = "BLINDMAP_NODE", value_name = "URL")]
    node: Option<String>,
    /// The node's certificate fingerprint (`sha256:…`, printed by `blindmap init`).
    #[arg(long, env = "BLINDMAP_FINGERPRINT", value_name = "FP")]
    fingerprint: Option<String>,
    /// An API token (printed by `blindmap init` for the admin).
    #[arg(long, env = "BLINDMAP_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub(crate) fn client(c: &Connection) -> anyhow::Result<ApiClient> {
    let from_dir = |dir: &Path| -> anyhow::Result<(String, String)> {
        let config = NodeConfig::load(dir)?;
        let identity = Identity::load(&dir.join(IDENTITY_DIR))?;
        Ok((config.public_url, identity.fingerprint()))
    };
    let (url, fingerprint) = match (&c.node, &c.fingerprint, &c.data_dir) {
        (Some(url), Some(fp), _) => (url.clone(), fp.clone()),
        (node, fp, Some(dir)) => {
            let (url, found) = from_dir(dir)?;
            (node.clone().unwrap_or(url), fp.clone().unwrap_or(found))
        }
        _ => anyhow::bail!("say which node: --node URL and --fingerprint FP, or --data-dir of a node on this machine"),
    };
    let token = c.token.as_deref().context("an API token is needed: --token or BLINDMAP_TOKEN")?;
    Ok(ApiClient::new(&url, &fingerprint, token)?)
}

/// A partnership's id from a partner's name (or the id itself).
pub(crate) async fn partnership_id(api: &ApiClient, partner: &str) -> anyhow::Result<String> {
    if partner.starts_with("pt_") {
        return Ok(partner.to_owned());
    }
    let items = api.partnerships().await?;
    let found = items.iter().find(|p| p.partner == partner && p.state == "active");
    match found {
        Some(p) => Ok(p.id.clone()),
        None => {
            let names: Vec<&str> = items.iter().filter(|p| p.state == "active").map(|p| p.partner.as_str()).collect();
            anyhow::bail!(
                "no active partnership with {partner:?}; active partners: {}",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )
        }
    }
}

/// The value of one of the API's enumerations (a preset, a co-sell status) by the name the API
/// gives it; none for a name it does not have.
pub(crate) fn named<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name)).ok()
}

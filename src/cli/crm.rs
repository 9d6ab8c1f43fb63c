//! `blindmap crm …`: CRM connections — a Salesforce org or a HubSpot portal the node reads its
//! accounts from — and their syncs, through the node's API (admins only). Secrets are read from
//! the environment or a file, never from the command line (where other users of the machine
//! could see them), and never printed.

use std::time::Duration;

use anyhow::{Context, bail};
use blindmap_server::api::connections::{
    ConnectionChange, ConnectionView, CrmKindName, NewConnection, SyncModeName, SyncParams, SyncView, WritebackView,
};
use blindmap_server::api::datasets::PresetName;
use blindmap_server::client::ApiClient;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::{Connection, client, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum CrmCommand {
    /// Connect a Salesforce org. With a connected app's certificate (the JWT bearer flow, for
    /// server-to-server integrations): --client-id, --username and --private-key-file. With a
    /// refresh token of the web-server flow: --client-id, and the refresh token and the client
    /// secret in the environment (--refresh-token-env, --client-secret-env). See the README for
    /// the connected app's set-up and the permissions it needs.
    Salesforce(Box<SalesforceArgs>),
    /// Connect a HubSpot portal: with a private app's access token in the environment
    /// (--token-env), or OAuth (--client-id, and the refresh token and client secret in the
    /// environment). See the README for the scopes it needs.
    Hubspot(Box<HubspotArgs>),
    /// Connect a CRM by approving the node's access in the CRM itself (Salesforce's web-server
    /// flow, HubSpot's OAuth): prints the URL to open in a browser signed in to the node as you;
    /// the CRM sends the browser back to the node, which keeps the refresh token it is given.
    /// The app's callback (redirect) URL must be the node's /connections/authorized (printed).
    Authorize(Box<AuthorizeArgs>),
    /// Change a connection: new credentials of the way it signs in (rotated; from a file or the
    /// environment), the quota share and Bulk threshold (Salesforce), how its records are read
    /// (from the next full sync), whether it writes back. What is not given stays.
    Update(Box<UpdateArgs>),
    /// List the organisation's connections, each with its latest sync.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Sync a connection: read the CRM's accounts into a new dataset, which becomes the active
    /// one once the whole read and import succeed — only what changed since the last complete
    /// sync where there is one (accounts modified or deleted since), every account with --full.
    /// Waits for it and prints its summary (unless --no-wait); a failed or paused sync keeps
    /// nothing, and exits non-zero.
    Sync {
        /// The connection's name or id (`crm_…`).
        name: String,
        /// Read every account, not only what changed.
        #[arg(long)]
        full: bool,
        /// Start it and return; `blindmap crm syncs NAME` shows how it goes.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// A connection's latest syncs, newest first.
    Syncs {
        /// The connection's name or id (`crm_…`).
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Write the overlaps partners disclose into the CRM now: Salesforce records of
    /// Blindmap_Overlap__c (deploy it first: `blindmap crm metadata`), HubSpot's company
    /// property blindmap_overlaps. Only what changed since the last write-back is written; lost
    /// overlaps are removed. Waits for it and prints what it did (unless --no-wait).
    WriteBack {
        /// The connection's name or id (`crm_…`).
        name: String,
        /// Start it and return; `blindmap crm write-backs NAME` shows how it goes.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// A connection's latest write-backs, newest first.
    WriteBacks {
        /// The connection's name or id (`crm_…`).
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Write the Salesforce metadata of the custom object the write-back fills
    /// (Blindmap_Overlap__c and its fields, in an SFDX source tree) into a directory, to deploy
    /// with `sf project deploy start --source-dir force-app` from that directory.
    Metadata {
        /// Where to write it (made if missing; existing files of the same names are replaced).
        #[arg(long, default_value = "blindmap-salesforce")]
        dir: std::path::PathBuf,
    },
    /// Delete a connection and its syncs' records (the datasets they built stay).
    Remove {
        /// The connection's name or id (`crm_…`).
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// How the records are read, as `datasets import` takes it.
#[derive(Args)]
pub(crate) struct ReadArgs {
    /// The preset whose columns and segments apply (default: the CRM's).
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Change the preset: ROLE=COLUMN (replaces) or ROLE+=COLUMN (adds), a column being a
    /// Salesforce field's API name or a HubSpot property's label or name (repeatable).
    #[arg(long = "map", value_name = "ROLE=COLUMN")]
    maps: Vec<String>,
    /// A segment rule replacing the preset's, `label: rule` (repeatable, in order of precedence).
    #[arg(long = "segment", value_name = "RULE")]
    segments: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    Salesforce,
    Hubspot,
    Generic,
}

impl From<Preset> for PresetName {
    fn from(p: Preset) -> Self {
        match p {
            Preset::Salesforce => Self::Salesforce,
            Preset::Hubspot => Self::Hubspot,
            Preset::Generic => Self::Generic,
        }
    }
}

/// What `crm salesforce` takes.
#[derive(Args)]
pub(crate) struct SalesforceArgs {
    /// What to call the connection.
    name: String,
    /// The login URL: https://login.salesforce.com, https://test.salesforce.com for a sandbox,
    /// or the org's My Domain URL.
    #[arg(long, default_value = "https://login.salesforce.com")]
    url: String,
    /// The connected app's consumer key.
    #[arg(long)]
    client_id: String,
    /// The integration user the JWT bearer flow signs in as.
    #[arg(long)]
    username: Option<String>,
    /// The connected app's certificate key, PKCS#8 PEM (the JWT bearer flow).
    #[arg(long, value_name = "PATH")]
    private_key_file: Option<std::path::PathBuf>,
    /// The environment variable holding a refresh token (instead of a private key).
    #[arg(long, value_name = "VAR")]
    refresh_token_env: Option<String>,
    /// The environment variable holding the connected app's consumer secret (with a refresh
    /// token).
    #[arg(long, value_name = "VAR", default_value = "BLINDMAP_CRM_CLIENT_SECRET")]
    client_secret_env: String,
    /// The share of the org's daily API requests at which a sync pauses.
    #[arg(long, default_value_t = 0.8)]
    pause_at: f64,
    /// A sync of at least this many records reads through a Bulk API 2.0 query job.
    #[arg(long, default_value_t = 10_000)]
    bulk_from: u64,
    /// Write the overlaps back into the org after each run (records of Blindmap_Overlap__c:
    /// deploy it first, `blindmap crm metadata`).
    #[arg(long)]
    write_back: bool,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    connection: Connection,
}

/// What `crm hubspot` takes.
#[derive(Args)]
pub(crate) struct HubspotArgs {
    /// What to call the connection.
    name: String,
    /// HubSpot's API.
    #[arg(long, default_value = "https://api.hubapi.com")]
    url: String,
    /// The environment variable holding a private app's access token.
    #[arg(long, value_name = "VAR", default_value = "BLINDMAP_HUBSPOT_TOKEN")]
    token_env: String,
    /// OAuth instead of a private app: the app's client id (the refresh token and client secret
    /// from --refresh-token-env and --client-secret-env).
    #[arg(long)]
    client_id: Option<String>,
    /// The environment variable holding the refresh token (with --client-id).
    #[arg(long, value_name = "VAR", default_value = "BLINDMAP_CRM_REFRESH_TOKEN")]
    refresh_token_env: String,
    /// The environment variable holding the app's client secret (with --client-id).
    #[arg(long, value_name = "VAR", default_value = "BLINDMAP_CRM_CLIENT_SECRET")]
    client_secret_env: String,
    /// Write the overlaps back into the portal after each run (the company property
    /// blindmap_overlaps, made if missing).
    #[arg(long)]
    write_back: bool,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Clone, Copy, ValueEnum)]
enum CrmName {
    Salesforce,
    Hubspot,
}

/// What `crm authorize` takes.
#[derive(Args)]
pub(crate) struct AuthorizeArgs {
    /// Which CRM.
    #[arg(value_enum)]
    kind: CrmName,
    /// What to call the connection.
    name: String,
    /// Salesforce's login URL (a sandbox's or My Domain), or HubSpot's API; default the CRM's.
    #[arg(long)]
    url: Option<String>,
    /// The app's client id (a Salesforce connected app's consumer key).
    #[arg(long)]
    client_id: String,
    /// The environment variable holding the app's client secret.
    #[arg(long, value_name = "VAR", default_value = "BLINDMAP_CRM_CLIENT_SECRET")]
    client_secret_env: String,
    /// Write the overlaps back after each run.
    #[arg(long)]
    write_back: bool,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    connection: Connection,
}

/// What `crm update` takes.
#[derive(Args)]
pub(crate) struct UpdateArgs {
    /// The connection's name or id (`crm_…`).
    name: String,
    /// A new certificate key, PKCS#8 PEM (a JWT bearer connection).
    #[arg(long, value_name = "PATH")]
    private_key_file: Option<std::path::PathBuf>,
    /// The environment variable holding a new private app token (HubSpot).
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// The environment variable holding a new refresh token.
    #[arg(long, value_name = "VAR")]
    refresh_token_env: Option<String>,
    /// The environment variable holding a new client secret.
    #[arg(long, value_name = "VAR")]
    client_secret_env: Option<String>,
    /// The share of the org's daily API requests at which a sync pauses (Salesforce).
    #[arg(long)]
    pause_at: Option<f64>,
    /// A sync of at least this many records reads through a Bulk API 2.0 job (Salesforce).
    #[arg(long)]
    bulk_from: Option<u64>,
    /// Write the overlaps back after each run, or stop doing so.
    #[arg(long, value_name = "BOOL")]
    write_back: Option<bool>,
    /// The preset its records are read with.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Changes to the preset, replacing the kept ones (repeatable).
    #[arg(long = "map", value_name = "ROLE=COLUMN")]
    maps: Vec<String>,
    /// Segment rules, replacing the kept ones (repeatable).
    #[arg(long = "segment", value_name = "RULE")]
    segments: Vec<String>,
    #[command(flatten)]
    connection: Connection,
}

fn from_env(var: &str, what: &str) -> anyhow::Result<String> {
    std::env::var(var).with_context(|| format!("set {what} in the environment variable {var}"))
}

fn show_connection(c: &ConnectionView) {
    let kind = match c.kind {
        CrmKindName::Salesforce => "Salesforce",
        CrmKindName::Hubspot => "HubSpot",
    };
    println!("{}  {}  {kind} at {} ({})", escaped(&c.id), escaped(&c.name), escaped(&c.url), escaped(&c.auth));
    if c.write_back {
        println!("  writes the overlaps back after each run");
    }
    match &c.last_sync {
        Some(s) => println!("  last sync: {}", sync_line(s)),
        None => println!("  not synced yet: blindmap crm sync {:?}", c.name),
    }
}

fn writeback_line(w: &WritebackView) -> String {
    let mut line = format!(
        "{}  {} ({}), {} written, {} removed, {} refused, {} requests, started {} by {}",
        escaped(&w.id),
        escaped(&w.state),
        escaped(&w.phase),
        w.written,
        w.removed,
        w.refused,
        w.requests,
        escaped(&w.started_at),
        escaped(&w.started_by)
    );
    if let Some(message) = &w.message {
        line.push_str(&format!(": {}", escaped(message)));
    }
    line
}

fn sync_line(s: &SyncView) -> String {
    let mut line = format!(
        "{}  {} ({}), {} records read, {} requests, started {} by {}",
        escaped(&s.id),
        escaped(&s.state),
        escaped(&s.phase),
        s.records_read,
        s.requests,
        escaped(&s.started_at),
        escaped(&s.started_by)
    );
    if let Some(dataset) = &s.dataset {
        line.push_str(&format!(", dataset {}", escaped(dataset)));
    }
    if let Some(message) = &s.message {
        line.push_str(&format!(": {}", escaped(message)));
    }
    line
}

/// The id of the connection `name` names (its id, or its name).
async fn connection_id(api: &ApiClient, name: &str) -> anyhow::Result<String> {
    let all = api.connections().await?.items;
    if let Some(c) = all.iter().find(|c| c.id == name || c.name == name) {
        return Ok(c.id.clone());
    }
    let names: Vec<String> = all.iter().map(|c| format!("{:?}", c.name)).collect();
    if names.is_empty() {
        bail!("no connection named {name:?}: this organisation has none yet (blindmap crm salesforce|hubspot NAME …)");
    }
    bail!("no connection named {name:?}; there are {}", names.join(", "))
}

/// Prints a complete sync's summary: what was read and what the import made of it.
fn show_summary(s: &SyncView) {
    let Some(summary) = &s.summary else { return };
    let import = &summary["import"];
    println!(
        "Read {} records in {} requests; imported {} rows, {} accounts with a key and a segment.",
        s.records_read, s.requests, import["rows"], import["accounts"]
    );
    if let Some(changes) = import["changes"].as_object() {
        println!(
            "  only what changed: {} rows read again, {} accounts taken out; the dataset has {} accounts",
            changes.get("rows_read").unwrap_or(&Value::Null),
            changes.get("removed").unwrap_or(&Value::Null),
            import["accounts"]
        );
    }
    if let Some(keys) = import["keys"].as_object() {
        let keys: Vec<String> = keys.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  keys: {}", keys.join(", "));
    }
    if let Some(segments) = import["segments"].as_object() {
        let segments: Vec<String> = segments.iter().map(|(k, n)| format!("{} {n}", escaped(k))).collect();
        println!("  segments: {}", segments.join(", "));
    }
    for (what, key) in [("without a usable key", "rows_without_keys"), ("in no segment", "unsegmented_rows")] {
        let n = import[key]["count"].as_u64().unwrap_or(0);
        if n > 0 {
            println!("  {n} rows {what} (left out)");
        }
    }
    if let Some(dropped) = import["values_not_used_as_keys"].as_object().filter(|d| !d.is_empty()) {
        let dropped: Vec<String> = dropped.iter().map(|(k, n)| format!("{} {n}", escaped(k))).collect();
        println!("  values not used as keys: {}", dropped.join(", "));
    }
    for warning in summary["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        println!("  note: {}", escaped(warning));
    }
    if let Some(usage) = summary["api_usage"].as_object()
        && let (Some(used), Some(max)) = (usage.get("used"), usage.get("max"))
    {
        println!("  the org's API requests: {used} of {max} used in the last 24 hours");
    }
}

pub(crate) fn run(command: &CrmCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            CrmCommand::Salesforce(args) => {
                let (private_key, refresh_token, client_secret) =
                    match (&args.private_key_file, &args.refresh_token_env) {
                        (Some(path), None) => {
                            let pem = std::fs::read_to_string(path)
                                .with_context(|| format!("cannot read the private key {}", path.display()))?;
                            (Some(pem), None, None)
                        }
                        (None, Some(var)) => (
                            None,
                            Some(from_env(var, "the refresh token")?),
                            Some(from_env(&args.client_secret_env, "the consumer secret")?),
                        ),
                        _ => bail!("give either --private-key-file (with --username) or --refresh-token-env"),
                    };
                let body = NewConnection {
                    name: args.name.clone(),
                    kind: CrmKindName::Salesforce,
                    url: Some(args.url.clone()),
                    client_id: Some(args.client_id.clone()),
                    username: args.username.clone(),
                    private_key,
                    client_secret,
                    refresh_token,
                    token: None,
                    pause_at: Some(args.pause_at),
                    bulk_from: Some(args.bulk_from),
                    preset: args.read.preset.map(Into::into),
                    map: args.read.maps.clone(),
                    segment: args.read.segments.clone(),
                    write_back: args.write_back,
                };
                show_connection(&client(&args.connection)?.create_connection(&body).await?);
            }
            CrmCommand::Hubspot(args) => {
                let (token, refresh_token, client_secret) = match &args.client_id {
                    None => (Some(from_env(&args.token_env, "the private app's access token")?), None, None),
                    Some(_) => (
                        None,
                        Some(from_env(&args.refresh_token_env, "the refresh token")?),
                        Some(from_env(&args.client_secret_env, "the app's client secret")?),
                    ),
                };
                let body = NewConnection {
                    name: args.name.clone(),
                    kind: CrmKindName::Hubspot,
                    url: Some(args.url.clone()),
                    client_id: args.client_id.clone(),
                    username: None,
                    private_key: None,
                    client_secret,
                    refresh_token,
                    token,
                    pause_at: None,
                    bulk_from: None,
                    preset: args.read.preset.map(Into::into),
                    map: args.read.maps.clone(),
                    segment: args.read.segments.clone(),
                    write_back: args.write_back,
                };
                show_connection(&client(&args.connection)?.create_connection(&body).await?);
            }
            CrmCommand::Authorize(args) => {
                let body = NewConnection {
                    name: args.name.clone(),
                    kind: match args.kind {
                        CrmName::Salesforce => CrmKindName::Salesforce,
                        CrmName::Hubspot => CrmKindName::Hubspot,
                    },
                    url: args.url.clone(),
                    client_id: Some(args.client_id.clone()),
                    username: None,
                    private_key: None,
                    client_secret: Some(from_env(&args.client_secret_env, "the app's client secret")?),
                    refresh_token: None,
                    token: None,
                    pause_at: None,
                    bulk_from: None,
                    preset: args.read.preset.map(Into::into),
                    map: args.read.maps.clone(),
                    segment: args.read.segments.clone(),
                    write_back: args.write_back,
                };
                let authorization = client(&args.connection)?.authorize_connection(&body).await?;
                println!(
                    "Open this in a browser signed in to the node as you, within {} minutes:",
                    authorization.expires_in / 60
                );
                println!("{}", escaped(&authorization.authorize_url));
                println!(
                    "Approve the access; the CRM sends the browser back to {}, which must be the app's callback URL, \
                     and the node makes the connection {:?}.",
                    escaped(&authorization.redirect_uri),
                    args.name
                );
            }
            CrmCommand::Update(args) => {
                let private_key = match &args.private_key_file {
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read the private key {}", path.display()))?,
                    ),
                    None => None,
                };
                let env = |var: &Option<String>, what: &str| var.as_deref().map(|v| from_env(v, what)).transpose();
                let body = ConnectionChange {
                    private_key,
                    client_secret: env(&args.client_secret_env, "the client secret")?,
                    refresh_token: env(&args.refresh_token_env, "the refresh token")?,
                    token: env(&args.token_env, "the private app's access token")?,
                    pause_at: args.pause_at,
                    bulk_from: args.bulk_from,
                    preset: args.preset.map(Into::into),
                    map: (!args.maps.is_empty()).then(|| args.maps.clone()),
                    segment: (!args.segments.is_empty()).then(|| args.segments.clone()),
                    write_back: args.write_back,
                };
                let api = client(&args.connection)?;
                let id = connection_id(&api, &args.name).await?;
                show_connection(&api.change_connection(&id, &body).await?);
            }
            CrmCommand::List { connection } => {
                let all = client(connection)?.connections().await?.items;
                if all.is_empty() {
                    println!("No CRM connections yet: blindmap crm salesforce|hubspot NAME …");
                }
                for c in &all {
                    show_connection(c);
                }
            }
            CrmCommand::Sync { name, full, no_wait, connection } => {
                let api = client(connection)?;
                let id = connection_id(&api, name).await?;
                let params = SyncParams { mode: full.then_some(SyncModeName::Full) };
                let mut sync = api.start_sync(&id, &params).await?;
                println!("Started a {} sync ({}) of {}.", escaped(&sync.mode), escaped(&sync.id), escaped(name));
                if *no_wait {
                    return Ok(());
                }
                let mut shown = (String::new(), u64::MAX);
                while sync.state == "running" {
                    if (sync.phase.clone(), sync.records_read) != shown {
                        eprintln!("  {}: {} records read", escaped(&sync.phase), sync.records_read);
                        shown = (sync.phase.clone(), sync.records_read);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    sync = api.sync(&id, &sync.id).await?;
                }
                println!("{}", sync_line(&sync));
                match sync.state.as_str() {
                    "complete" => show_summary(&sync),
                    "paused" => bail!("the sync paused and kept nothing; the active dataset is unchanged"),
                    _ => bail!("the sync failed and kept nothing; the active dataset is unchanged"),
                }
            }
            CrmCommand::Syncs { name, connection } => {
                let api = client(connection)?;
                let id = connection_id(&api, name).await?;
                for s in &api.syncs(&id).await?.items {
                    println!("{}", sync_line(s));
                }
            }
            CrmCommand::WriteBack { name, no_wait, connection } => {
                let api = client(connection)?;
                let id = connection_id(&api, name).await?;
                let mut wb = api.start_writeback(&id).await?;
                println!("Started a write-back ({}) to {}.", escaped(&wb.id), escaped(name));
                if *no_wait {
                    return Ok(());
                }
                let mut shown = (String::new(), u64::MAX);
                while wb.state == "running" {
                    let done = wb.written + wb.removed + wb.refused;
                    if (wb.phase.clone(), done) != shown {
                        eprintln!("  {}: {} records written, {} removed", escaped(&wb.phase), wb.written, wb.removed);
                        shown = (wb.phase.clone(), done);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    wb = api.writeback(&id, &wb.id).await?;
                }
                println!("{}", writeback_line(&wb));
                if let Some(plan) = wb.summary.as_ref().and_then(|s| s["plan"].as_object()) {
                    let n = |k: &str| plan.get(k).and_then(Value::as_u64).unwrap_or(0);
                    println!(
                        "Overlaps: {} new, {} changed, {} lost, {} unchanged (left alone).",
                        n("added"),
                        n("changed"),
                        n("removing"),
                        n("unchanged")
                    );
                }
                for refusal in wb.summary.as_ref().and_then(|s| s["refusals"].as_array()).into_iter().flatten() {
                    println!(
                        "  refused: {} record(s): {}",
                        refusal["records"],
                        escaped(refusal["reason"].as_str().unwrap_or_default())
                    );
                }
                if wb.state != "complete" {
                    bail!("the write-back failed; what it wrote is kept, and the next one carries on");
                }
            }
            CrmCommand::WriteBacks { name, connection } => {
                let api = client(connection)?;
                let id = connection_id(&api, name).await?;
                for w in &api.writebacks(&id).await?.items {
                    println!("{}", writeback_line(w));
                }
            }
            CrmCommand::Metadata { dir } => {
                let files = blindmap_server::salesforce_writeback_metadata();
                for (path, xml) in &files {
                    let path = dir.join(path);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).with_context(|| format!("cannot make {}", parent.display()))?;
                    }
                    std::fs::write(&path, xml).with_context(|| format!("cannot write {}", path.display()))?;
                }
                println!(
                    "Wrote the custom object Blindmap_Overlap__c ({} files) under {}.",
                    files.len(),
                    dir.display()
                );
                println!(
                    "Deploy it: cd {} && sf project deploy start --source-dir force-app --target-org YOUR_ORG",
                    dir.display()
                );
                println!(
                    "Then give the integration user Create, Read, Edit and Delete on Partner Overlaps and edit access \
                     to its fields (a permission set)."
                );
            }
            CrmCommand::Remove { name, connection } => {
                let api = client(connection)?;
                let id = connection_id(&api, name).await?;
                api.delete_connection(&id).await?;
                println!("Removed the connection {}; the datasets its syncs built stay.", escaped(name));
            }
        }
        Ok(())
    })
}

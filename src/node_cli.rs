//! `blindmap init`, `serve` and the commands that use a node's API (`datasets …`). These talk to
//! the node over HTTPS like any client; none opens the node's database itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use blindmap_server::api::datasets::{DeleteParams, PresetName, UploadParams};
use blindmap_server::api::partnerships::{AcceptInvite, PartnershipView, RuleView};
use blindmap_server::client::ApiClient;
use blindmap_server::identity::Identity;
use blindmap_server::node::{IDENTITY_DIR, InitOptions, NodeConfig, init, start};
use clap::{Args, Subcommand};
use serde::Deserialize;

use crate::term::escaped;

#[derive(Args)]
pub(crate) struct InitArgs {
    /// The node's data folder: configuration, TLS identity and (by default) its SQLite database.
    #[arg(long, env = "BLINDMAP_DATA_DIR", default_value = "blindmap-data", value_name = "DIR")]
    data_dir: PathBuf,
    /// The organisation this node hosts first.
    #[arg(long, value_name = "NAME")]
    organisation: String,
    /// Its first admin user.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    admin: String,
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:7443", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// The https:// URL clients and partners dial (default: https:// and the listen address).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// A PostgreSQL URL instead of the embedded SQLite file.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The node's data folder.
    #[arg(long, env = "BLINDMAP_DATA_DIR", default_value = "blindmap-data", value_name = "DIR")]
    data_dir: PathBuf,
    /// Log JSON lines instead of text (levels: BLINDMAP_LOG, e.g. `info` or `blindmap_server=debug`).
    #[arg(long, env = "BLINDMAP_LOG_JSON")]
    log_json: bool,
}

/// Logs to stderr: requests (method, path, status, latency) and failures — never identifiers,
/// keys, query strings or bodies.
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLINDMAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

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

#[derive(Subcommand)]
pub(crate) enum DatasetsCommand {
    /// Upload a CRM export to the node as a new dataset (all or nothing).
    Import {
        /// The CSV export.
        file: PathBuf,
        /// salesforce, hubspot or generic (default: chosen by the header).
        #[arg(long)]
        preset: Option<String>,
        /// The dataset's name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Makes a retried upload safe: the node answers a repeat with the first result.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Make it the active dataset (the one matches use) once imported. The first dataset
        /// becomes active anyway; later ones wait for `datasets use` unless this is given.
        #[arg(long)]
        activate: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the organisation's datasets; the active one (what matches use) is marked `*`.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Make a dataset the active one: what matches use from now on.
    Use {
        /// The dataset (`ds_…`, from `datasets list`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a dataset that is not the active one.
    Delete {
        /// The dataset (`ds_…`).
        id: String,
        /// Also delete the runs that matched it (their results; the audit trail keeps what they
        /// revealed). Without it, a dataset that runs matched is kept.
        #[arg(long)]
        with_runs: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Subcommand)]
pub(crate) enum PartnerCommand {
    /// Print a one-time invite code (valid 24 hours) to give the partner's admin.
    Invite {
        #[command(flatten)]
        connection: Connection,
    },
    /// Accept a partner's invite code: this node calls theirs over mutual TLS, and both pin
    /// each other's certificate from then on.
    Accept {
        /// The code the partner's admin gave you.
        code: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the partnerships.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show or set what this side shares with a partner (a run uses the policy both sides hold
    /// at its start). Without options, shows it.
    ///
    /// Rules are `OWN:PARTNER=LEVEL`: this side's segment and the partner's (either may be `*`),
    /// and one of hidden, counts, overlaps, or fields:NAME[,NAME…] (overlaps plus those fields of
    /// your matching accounts). The most specific rule applies; pairs no rule covers share counts.
    /// Example: --rule '*:*=overlaps' --rule 'prospects:*=hidden' --threshold 5
    Sharing {
        /// The partner's name, or the partnership's id (`pt_…`).
        partner: String,
        /// A rule; replaces every current rule (repeat for several).
        #[arg(long = "rule", value_name = "OWN:PARTNER=LEVEL")]
        rules: Vec<String>,
        /// Remove every rule (share counts only).
        #[arg(long, conflicts_with = "rules")]
        clear_rules: bool,
        /// Counts below this show as "< K".
        #[arg(long, value_name = "K")]
        threshold: Option<u32>,
        /// Serve no partner segment smaller than this many accounts.
        #[arg(long, value_name = "N")]
        min_segment: Option<u32>,
        #[command(flatten)]
        connection: Connection,
    },
    /// End a partnership: no data flows any more, on either side.
    End {
        /// The partnership's id (`pt_…`, from `partner list`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run_partner(command: &PartnerCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let show = |p: &PartnershipView| {
            println!(
                "{}  {:<24} {:<7} {}  {}",
                escaped(&p.id),
                escaped(&p.partner),
                escaped(&p.state),
                escaped(&p.partner_url),
                escaped(&p.partner_fingerprint)
            );
        };
        match command {
            PartnerCommand::Invite { connection } => {
                let invite = client(connection)?.invite().await?;
                println!("Give this code to the partner's admin (valid once, for 24 hours):");
                println!("{}", escaped(&invite.code));
            }
            PartnerCommand::Accept { code, connection } => {
                let p = client(connection)?.accept_invite(&AcceptInvite { code: code.clone() }).await?;
                println!("Paired with {}:", escaped(&p.partner));
                show(&p);
            }
            PartnerCommand::List { connection } => {
                for p in &client(connection)?.partnerships().await? {
                    show(p);
                }
            }
            PartnerCommand::Sharing { partner, rules, clear_rules, threshold, min_segment, connection } => {
                let api = client(connection)?;
                let id = partnership_id(&api, partner).await?;
                let mut policy = api.sharing(&id).await?;
                let changing = !rules.is_empty() || *clear_rules || threshold.is_some() || min_segment.is_some();
                if changing {
                    if !rules.is_empty() || *clear_rules {
                        policy.rules = rules.iter().map(|r| parse_rule(r)).collect::<anyhow::Result<_>>()?;
                    }
                    if let Some(k) = threshold {
                        policy.threshold = *k;
                    }
                    if let Some(n) = min_segment {
                        policy.min_partner_segment = *n;
                    }
                    policy = api.set_sharing(&id, &policy).await?;
                    println!("Sharing with {} is now:", escaped(partner));
                } else {
                    println!("Sharing with {}:", escaped(partner));
                }
                for r in &policy.rules {
                    let level = if r.fields.is_empty() {
                        r.level.clone()
                    } else {
                        format!("{}:{}", r.level, r.fields.join(","))
                    };
                    println!("  {}:{}={}", escaped(&r.own_segment), escaped(&r.partner_segment), escaped(&level));
                }
                println!("  everything else: counts");
                println!(
                    "  threshold {}, smallest partner segment served {}",
                    policy.threshold, policy.min_partner_segment
                );
            }
            PartnerCommand::End { id, connection } => {
                show(&client(connection)?.end_partnership(id).await?);
            }
        }
        Ok(())
    })
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub(crate) fn run_init(args: &InitArgs) -> anyhow::Result<()> {
    let options = InitOptions {
        data_dir: args.data_dir.clone(),
        organisation: args.organisation.clone(),
        admin: args.admin.clone(),
        listen: args.listen,
        public_url: args.public_url.clone(),
        database_url: args.database.clone(),
    };
    let made = runtime()?.block_on(init(&options))?;
    println!("Initialised a node in {}", args.data_dir.display());
    println!("  URL          {}", made.config.public_url);
    println!("  fingerprint  {}", made.fingerprint);
    println!("  database     {}", if args.database.is_some() { "PostgreSQL" } else { "SQLite, in the data folder" });
    println!(
        "  secrets key  {} (seals the webhook and inbound secrets in the database: back it up apart from the \
         database; replicas on PostgreSQL are given it as BLINDMAP_SECRETS_KEY)",
        args.data_dir.join(blindmap_server::node::SECRETS_KEY_FILE).display()
    );
    println!("Admin token for {} (shown once; only its hash is kept):", escaped(&args.admin));
    println!("  {}", made.admin_token.expose());
    println!("Start the node with `blindmap serve --data-dir {}`.", args.data_dir.display());
    Ok(())
}

pub(crate) fn run_serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = NodeConfig::load(&args.data_dir)?;
    init_logging(args.log_json);
    runtime()?.block_on(async {
        let node = start(&args.data_dir, &config).await?;
        // A closed stdout (a supervisor that stopped reading) must not stop the node.
        let say = |line: String| {
            let _ = writeln!(std::io::stdout(), "{line}");
        };
        say(format!("listening on https://{} (fingerprint {})", node.addr, node.fingerprint));
        wait_for_signal().await;
        say("stopping: finishing requests in flight".to_owned());
        node.shutdown().await?;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
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

pub(crate) fn run_datasets(command: &DatasetsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            DatasetsCommand::Import { file, preset, name, idempotency_key, activate, connection } => {
                let api = client(connection)?;
                let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
                if preset.is_none() {
                    recognised(file, &bytes)?;
                }
                let name = name.clone().unwrap_or_else(|| {
                    file.file_name().map_or_else(|| "dataset".to_owned(), |n| n.to_string_lossy().into_owned())
                });
                let preset = preset.as_deref().map(preset_name).transpose()?;
                let params = UploadParams { name: name.clone(), preset, activate: *activate };
                let d = api.import_dataset(&params, bytes, idempotency_key.as_deref()).await?;
                println!(
                    "Imported {} as {} ({}): {} rows, {} accounts",
                    escaped(&name),
                    escaped(&d.id),
                    escaped(&d.read_as),
                    d.rows,
                    d.accounts
                );
                if d.active {
                    println!("It is the active dataset: matches use it.");
                } else {
                    println!(
                        "Matches still use the active dataset; to use this one: blindmap datasets use {}",
                        escaped(&d.id)
                    );
                }
            }
            DatasetsCommand::List { connection } => {
                let items = client(connection)?.datasets().await?;
                for d in &items {
                    println!(
                        "{} {}  {:<32} {:>9} accounts  {}",
                        if d.active { "*" } else { " " },
                        escaped(&d.id),
                        escaped(&d.name),
                        d.accounts,
                        escaped(&d.read_as)
                    );
                }
                if !items.is_empty() {
                    println!("(* the active dataset: matches use it; change it with `blindmap datasets use ID`)");
                }
            }
            DatasetsCommand::Use { id, connection } => {
                let d = client(connection)?.activate_dataset(id).await?;
                println!("{} ({}) is now the active dataset: matches use it", escaped(&d.name), escaped(&d.id));
            }
            DatasetsCommand::Delete { id, with_runs, connection } => {
                let d = client(connection)?.delete_dataset(id, &DeleteParams { with_runs: *with_runs }).await?;
                println!("Deleted {} and {} run(s) made with it", escaped(&d.dataset), d.runs);
            }
        }
        Ok(())
    })
}

/// Checks that a preset recognises the export's header before it is sent (the node would refuse
/// it, in the API's terms); the command's own flag names the way out.
fn recognised(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let header = blindmap_records::read_header(&shown, bytes, None)?;
    if blindmap_records::Preset::detect(&header).is_none() {
        let columns: Vec<String> = header.iter().map(|h| format!("{h:?}")).collect();
        anyhow::bail!(
            "{shown}: cannot tell which export this is from its header ({}); name it with --preset salesforce, \
             hubspot or generic",
            columns.join(", ")
        );
    }
    Ok(())
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

/// `OWN:PARTNER=LEVEL` as the API's rule.
fn parse_rule(text: &str) -> anyhow::Result<RuleView> {
    let usage =
        || format!("{text:?} is not a rule OWN:PARTNER=LEVEL, e.g. customers:*=overlaps or *:*=fields:owner,industry");
    let (pair, level) = text.split_once('=').ok_or_else(|| anyhow::anyhow!(usage()))?;
    let (own, partner) = pair.split_once(':').ok_or_else(|| anyhow::anyhow!(usage()))?;
    let (level, fields) = match level.trim().split_once(':') {
        Some(("fields", names)) => ("fields", names.split(',').map(|n| n.trim().to_owned()).collect()),
        None if ["hidden", "counts", "overlaps"].contains(&level.trim()) => (level.trim(), Vec::new()),
        _ => anyhow::bail!(usage()),
    };
    Ok(RuleView {
        own_segment: own.trim().to_owned(),
        partner_segment: partner.trim().to_owned(),
        level: level.to_owned(),
        fields,
    })
}

/// A preset's name as the API takes it.
fn preset_name(name: &str) -> anyhow::Result<PresetName> {
    PresetName::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name))
        .map_err(|_| anyhow::anyhow!("{name:?} is not a preset: salesforce, hubspot or generic"))
}

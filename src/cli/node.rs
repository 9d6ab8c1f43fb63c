//! `blindmap init`, `serve` and `org add`: making and running a node, on its machine.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use blindmap_server::node::{InitOptions, NodeConfig, init, start};
use clap::Args;

use super::runtime;
use crate::output::escaped;

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

#[derive(Args)]
pub(crate) struct OrgAddArgs {
    /// The new organisation's name.
    name: String,
    /// Its first admin user.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    admin: String,
    /// The node's data folder (this runs on the node's machine).
    #[arg(long, env = "BLINDMAP_DATA_DIR", default_value = "blindmap-data", value_name = "DIR")]
    data_dir: PathBuf,
}

pub(crate) fn run_org_add(args: &OrgAddArgs) -> anyhow::Result<()> {
    let token = runtime()?
        .block_on(blindmap_server::node::add_organisation(&args.data_dir, &args.name, &args.admin))
        .with_context(|| format!("cannot add {:?}", args.name))?;
    println!(
        "Added the organisation {} to the node in {}.",
        escaped(&args.name),
        escaped(&args.data_dir.display().to_string())
    );
    println!("Admin token for {} (shown once; only its hash is kept):", escaped(&args.admin));
    println!("  {}", token.expose());
    Ok(())
}

//! `blindmap demo`: the whole product in one command. Two nodes — a vendor's and a partner's —
//! start on loopback with fresh SQLite stores, import the bundled sample CRM exports through
//! their APIs, pair by invite over mutual TLS, set what each shares, and match. Both sides'
//! results are printed, and the vendor's transcript of every frame is kept for review.
//!
//! With `--dir`, the two nodes stay for the user to start again: each listens on a port fixed
//! in its `node.toml` (the one its partner dials), and its admin's token is in `admin-token`
//! in its folder, readable by its owner only.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use blindmap_server::api::Page;
use blindmap_server::api::datasets::UploadParams;
use blindmap_server::api::partnerships::{AcceptInvite, RuleView, SharingView};
use blindmap_server::api::runs::{RunFilter, StartRun};
use blindmap_server::client::ApiClient;
use blindmap_server::node::{InitOptions, NodeConfig, RunningNode, init, start};
use clap::Args;

use super::matching::{follow, print_run};
use super::runtime;
use crate::output::escaped;

/// The file in a kept node's folder that holds its admin's API token.
const TOKEN_FILE: &str = "admin-token";

const VENDOR_CSV: &str = include_str!("../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../samples/partner-hubspot.csv");

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Keep the two nodes' data folders here (default: a temporary folder, removed at the end).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Where to write the vendor's transcript of every frame (default: transcript.txt in the
    /// data folder when --dir is given, else ./blindmap-demo-transcript.txt).
    #[arg(long, value_name = "FILE")]
    transcript: Option<PathBuf>,
    /// How many overlapping accounts to list per side.
    #[arg(long, default_value_t = 5, value_name = "N")]
    show: u32,
}

struct DemoNode {
    name: &'static str,
    running: RunningNode,
    api: ApiClient,
}

/// A loopback port nothing listens on now, for a node that will be started again on it.
fn free_port() -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port on loopback")?;
    Ok(probe.local_addr()?.port())
}

/// Sets up and starts one node in `dir`. A node that is `kept` gets a fixed port (written in its
/// configuration, and so in the URL its partner pairs with) and its admin's token in a file only
/// its owner can read; otherwise it listens on any free port for this run only.
async fn start_node(dir: &Path, name: &'static str, kept: bool) -> anyhow::Result<DemoNode> {
    let port = if kept { free_port()? } else { 0 };
    let options = InitOptions {
        data_dir: dir.join(name.to_lowercase()),
        organisation: name.to_owned(),
        admin: "admin".to_owned(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await.with_context(|| format!("cannot set up the {name} node"))?;
    if kept {
        write_token(&options.data_dir.join(TOKEN_FILE), made.admin_token.expose())?;
    }
    let running = start(&options.data_dir, &NodeConfig::load(&options.data_dir)?).await?;
    let url = format!("https://127.0.0.1:{}", running.addr.port());
    let api = ApiClient::new(&url, &made.fingerprint, made.admin_token.expose())?;
    println!("  {name:<8} {url}  certificate {}", made.fingerprint);
    Ok(DemoNode { name, running, api })
}

/// Writes `token` to a new file at `path`, readable and writable by its owner only.
fn write_token(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("cannot write {}", path.display()))
}

/// `path` as one shell word: as it is when it holds nothing a shell would read, else quoted.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c)) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// How to start and use the nodes `demo --dir` leaves in `dir`.
fn print_how_to_use(dir: &Path) -> anyhow::Result<()> {
    println!(
        "\nThe two nodes stay in {}, each on the port in its node.toml and with its admin's token in {TOKEN_FILE} \
         (readable by you only). Start them, each in a terminal of its own:",
        escaped(&dir.display().to_string())
    );
    let nodes = [("vendor", "partner list; blindmap match --partner Partner"), ("partner", "cosell list")];
    for (node, _) in nodes {
        println!("  blindmap serve --data-dir {}", escaped(&shell_word(&dir.join(node))));
    }
    println!("then use one as its admin, e.g.:");
    for (node, example) in nodes {
        let folder = dir.join(node);
        let config = NodeConfig::load(&folder)?;
        println!(
            "  export BLINDMAP_DATA_DIR={} BLINDMAP_TOKEN=$(cat {})    # {}",
            escaped(&shell_word(&folder)),
            escaped(&shell_word(&folder.join(TOKEN_FILE))),
            escaped(&config.public_url)
        );
        println!("  blindmap {example}");
    }
    Ok(())
}

async fn import(node: &DemoNode, file: &str, csv: &str) -> anyhow::Result<()> {
    let params = UploadParams { name: file.to_owned(), preset: None, activate: false };
    let d = node.api.import_dataset(&params, csv.as_bytes().to_vec(), None).await?;
    let segments: Vec<String> = d.summary.segments.iter().map(|(label, n)| format!("{n} {label}")).collect();
    println!(
        "  {:<8} imported {file} as {}: {} accounts ({})",
        node.name,
        escaped(&d.read_as),
        d.accounts,
        escaped(&segments.join(", "))
    );
    Ok(())
}

/// A rule of the demo's policies: `level` for `own` × every partner segment.
fn rule(own: &str, level: &str, fields: &[&str]) -> RuleView {
    RuleView {
        own_segment: own.to_owned(),
        partner_segment: "*".to_owned(),
        level: level.to_owned(),
        fields: fields.iter().map(|&f| f.to_owned()).collect(),
    }
}

async fn share(node: &DemoNode, partnership: &str, rules: Vec<RuleView>, describe: &str) -> anyhow::Result<()> {
    let policy = SharingView { rules, threshold: 1, min_partner_segment: 1 };
    node.api.set_sharing(partnership, &policy).await?;
    println!("  {:<8} shares {describe}", node.name);
    Ok(())
}

pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let temporary = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().context("cannot make a temporary folder")?),
    };
    let dir = match (&args.dir, &temporary) {
        (Some(d), _) => {
            if d.exists() && std::fs::read_dir(d)?.next().is_some() {
                bail!("{} is not empty: give a new or empty folder for the demo's nodes", d.display());
            }
            d.clone()
        }
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => unreachable!("a temporary folder when no --dir"),
    };
    let transcript = args.transcript.clone().unwrap_or_else(|| match &args.dir {
        Some(d) => d.join("transcript.txt"),
        None => PathBuf::from("blindmap-demo-transcript.txt"),
    });
    let kept = args.dir.is_some();
    runtime()?.block_on(demo(&dir, &transcript, args.show, kept))?;
    if kept {
        print_how_to_use(&dir)?;
    }
    Ok(())
}

async fn demo(dir: &Path, transcript: &Path, show: u32, kept: bool) -> anyhow::Result<()> {
    println!("Starting two nodes on loopback, each with its own TLS identity and SQLite store:");
    let vendor = start_node(dir, "Vendor", kept).await?;
    let partner = start_node(dir, "Partner", kept).await?;

    println!("\nEach imports its own CRM export (it never leaves its node):");
    import(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await?;
    import(&partner, "partner-hubspot.csv", PARTNER_CSV).await?;

    println!("\nPairing: the vendor invites, the partner accepts; from now on each pins the other's certificate.");
    let invite = vendor.api.invite().await?;
    let partner_side = partner.api.accept_invite(&AcceptInvite { code: invite.code }).await?.id;
    let vendor_side = vendor.api.partnerships().await?.into_iter().next().context("no partnership")?.id;

    println!("\nWhat each side agrees to disclose (threshold 1 for these small samples; the default is 5):");
    share(
        &vendor,
        &vendor_side,
        vec![rule("*", "overlaps", &[]), rule("prospects", "counts", &[])],
        "which accounts overlap, except its prospects (counts only)",
    )
    .await?;
    share(
        &partner,
        &partner_side,
        vec![rule("*", "fields", &["owner", "lifecycle_stage"]), rule("prospects", "hidden", &[])],
        "overlaps with the owner and lifecycle stage of its matching accounts; its prospects stay hidden",
    )
    .await?;

    println!("\nThe vendor's node runs a match with the partner's over mutual TLS…\n");
    let id = vendor.api.start_run(&StartRun { partnership: vendor_side, transcript: true }).await?.id;
    let run = follow(&vendor.api, &id, false).await?;
    if run.state != "complete" {
        bail!("the run failed: {}", escaped(run.failure.as_deref().unwrap_or("no reason recorded")));
    }
    let text = vendor.api.run_transcript(&id).await?;
    std::fs::write(transcript, &text).with_context(|| format!("cannot write {}", transcript.display()))?;

    println!("== The vendor's view ==");
    print_run(&vendor.api, &run, &vendor.api.run_changes(&id).await?, show, Some(transcript)).await?;

    let runs = partner.api.runs(&RunFilter { partnership: None, role: None }, &Page::first(1)).await?;
    let partner_run = runs.items.into_iter().next().context("the partner recorded no run")?.id;
    let partner_run = follow(&partner.api, &partner_run, true).await?;
    if partner_run.state != "complete" {
        bail!("the partner's side failed: {}", escaped(partner_run.failure.as_deref().unwrap_or("no reason recorded")));
    }
    println!("\n== The partner's view ==");
    print_run(&partner.api, &partner_run, &partner.api.run_changes(&partner_run.id).await?, show, None).await?;

    println!(
        "\nEach node stored its own results and an audit trail of what it revealed \
         (GET /api/v1/audit). The transcript shows every frame that crossed the connection: \
         group elements, segment labels and counts — no name, domain or DUNS."
    );
    for node in [vendor, partner] {
        node.running.shutdown().await?;
    }
    Ok(())
}

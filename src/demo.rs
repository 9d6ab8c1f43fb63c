//! `blindmap demo`: the whole product in one command. Two nodes — a vendor's and a partner's —
//! start on loopback with fresh SQLite stores, import the bundled sample CRM exports through
//! their APIs, pair by invite over mutual TLS, set what each shares, and match. Both sides'
//! results are printed, and the vendor's transcript of every frame is kept for review.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use blindmap_server::client::{ApiClient, Method};
use blindmap_server::node::{InitOptions, NodeConfig, RunningNode, init, start};
use clap::Args;
use serde_json::{Value, json};

use crate::match_cli::{follow, print_run};
use crate::node_cli::{encode, runtime};

const VENDOR_CSV: &str = include_str!("../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../samples/partner-hubspot.csv");

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

async fn start_node(dir: &Path, name: &'static str) -> anyhow::Result<DemoNode> {
    let options = InitOptions {
        data_dir: dir.join(name.to_lowercase()),
        organisation: name.to_owned(),
        admin: "admin".to_owned(),
        listen: "127.0.0.1:0".parse().expect("an address"),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await.with_context(|| format!("cannot set up the {name} node"))?;
    let running = start(&options.data_dir, &NodeConfig::load(&options.data_dir)?).await?;
    let url = format!("https://127.0.0.1:{}", running.addr.port());
    let api = ApiClient::new(&url, &made.fingerprint, made.admin_token.expose())?;
    println!("  {name:<8} {url}  certificate {}", made.fingerprint);
    Ok(DemoNode { name, running, api })
}

async fn post(node: &DemoNode, path: &str, body: &Value) -> anyhow::Result<Value> {
    Ok(node.api.call(Method::POST, path, Some((serde_json::to_vec(body)?, "application/json")), &[]).await?)
}

async fn import(node: &DemoNode, file: &str, csv: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/datasets?name={}", encode(file));
    let d: Value = node.api.call(Method::POST, &path, Some((csv.as_bytes().to_vec(), "text/csv")), &[]).await?;
    let segments: Vec<String> =
        d["summary"]["segments"].as_object().into_iter().flatten().map(|(label, n)| format!("{n} {label}")).collect();
    println!(
        "  {:<8} imported {file} as {}: {} accounts ({})",
        node.name,
        d["read_as"].as_str().unwrap_or("?"),
        d["accounts"],
        segments.join(", ")
    );
    Ok(())
}

async fn share(node: &DemoNode, partnership: &str, rules: Value, describe: &str) -> anyhow::Result<()> {
    let policy = json!({ "rules": rules, "threshold": 1, "min_partner_segment": 1 });
    let path = format!("/api/v1/partnerships/{}/sharing", encode(partnership));
    node.api.call::<Value>(Method::PUT, &path, Some((serde_json::to_vec(&policy)?, "application/json")), &[]).await?;
    println!("  {:<8} shares {describe}", node.name);
    Ok(())
}

async fn changes(node: &DemoNode, run: &str) -> anyhow::Result<Value> {
    Ok(node.api.call(Method::GET, &format!("/api/v1/runs/{run}/changes"), None, &[]).await?)
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
    runtime()?.block_on(demo(&dir, &transcript, args.show))?;
    if args.dir.is_some() {
        println!("The nodes' data folders stay in {} (start one with `blindmap serve --data-dir …`).", dir.display());
    }
    Ok(())
}

async fn demo(dir: &Path, transcript: &Path, show: u32) -> anyhow::Result<()> {
    println!("Starting two nodes on loopback, each with its own TLS identity and SQLite store:");
    let vendor = start_node(dir, "Vendor").await?;
    let partner = start_node(dir, "Partner").await?;

    println!("\nEach imports its own CRM export (it never leaves its node):");
    import(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await?;
    import(&partner, "partner-hubspot.csv", PARTNER_CSV).await?;

    println!("\nPairing: the vendor invites, the partner accepts; from now on each pins the other's certificate.");
    let invite = post(&vendor, "/api/v1/partnerships/invites", &json!({})).await?;
    let accepted = post(&partner, "/api/v1/partnerships", &json!({ "code": invite["code"] })).await?;
    let partner_side = accepted["id"].as_str().context("no partnership id")?.to_owned();
    let list: Value = vendor.api.call(Method::GET, "/api/v1/partnerships", None, &[]).await?;
    let vendor_side = list["items"][0]["id"].as_str().context("no partnership id")?.to_owned();

    println!("\nWhat each side agrees to disclose (threshold 1 for these small samples; the default is 5):");
    share(
        &vendor,
        &vendor_side,
        json!([{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" },
               { "own_segment": "prospects", "partner_segment": "*", "level": "counts" }]),
        "which accounts overlap, except its prospects (counts only)",
    )
    .await?;
    share(
        &partner,
        &partner_side,
        json!([{ "own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["owner", "lifecycle_stage"] },
               { "own_segment": "prospects", "partner_segment": "*", "level": "hidden" }]),
        "overlaps with the owner and lifecycle stage of its matching accounts; its prospects stay hidden",
    )
    .await?;

    println!("\nThe vendor's node runs a match with the partner's over mutual TLS…\n");
    let started = post(&vendor, "/api/v1/runs", &json!({ "partnership": vendor_side, "transcript": true })).await?;
    let id = started["id"].as_str().context("no run id")?.to_owned();
    let run = follow(&vendor.api, &id, false).await?;
    if run["state"] != "complete" {
        bail!("the run failed: {}", run["failure"].as_str().unwrap_or("no reason recorded"));
    }
    let text = vendor.api.call_text(Method::GET, &format!("/api/v1/runs/{id}/transcript")).await?;
    std::fs::write(transcript, &text).with_context(|| format!("cannot write {}", transcript.display()))?;

    println!("== The vendor's view ==");
    print_run(&vendor.api, &run, &changes(&vendor, &id).await?, show, Some(transcript)).await?;

    let runs: Value = partner.api.call(Method::GET, "/api/v1/runs?limit=1", None, &[]).await?;
    let partner_run = runs["items"][0]["id"].as_str().context("the partner recorded no run")?.to_owned();
    let partner_run = follow(&partner.api, &partner_run, true).await?;
    if partner_run["state"] != "complete" {
        bail!("the partner's side failed: {}", partner_run["failure"].as_str().unwrap_or("no reason recorded"));
    }
    println!("\n== The partner's view ==");
    let id = partner_run["id"].as_str().unwrap_or_default().to_owned();
    print_run(&partner.api, &partner_run, &changes(&partner, &id).await?, show, None).await?;

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

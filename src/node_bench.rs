//! `blindmap bench nodes --n N`: two nodes on loopback, each importing `N` synthetic accounts
//! through its API, match over mutual TLS; the same datasets are then matched in one process.
//! The ratio of the two is what the network path (TLS, HTTP/2 streaming, storing results)
//! costs over the protocol itself; the target is at most 1.25×.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use blindmap_psi::{DisclosurePolicy, Level, Session, SessionConfig, SessionSeed, run_in_process};
use blindmap_records::{Preset, Side, import_dataset};
use blindmap_server::client::{ApiClient, Method};
use blindmap_server::node::{InitOptions, NodeConfig, RunningNode, init, start};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::match_cli::follow;
use crate::match_files::human_bytes;
use crate::node_cli::runtime;

/// The most the networked run may cost over the same session in one process.
const TARGET_RATIO: f64 = 1.25;

#[derive(Args)]
pub(crate) struct NodesArgs {
    /// Accounts per side.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Share of each side's accounts the other side also has.
    #[arg(long, default_value_t = 0.3)]
    overlap: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct NodesReport {
    n: usize,
    overlapping_accounts: u64,
    import_seconds: f64,
    node_run_seconds: f64,
    in_process_seconds: f64,
    ratio: f64,
    target_ratio: f64,
    meets_target: bool,
    bytes_sent: u64,
    bytes_received: u64,
    peak_memory_bytes: Option<u64>,
}

/// A generic export of `n` accounts, those from `from` on.
fn export(n: usize, from: usize) -> String {
    let mut csv = String::with_capacity(n * 40);
    csv.push_str("id,segment,domain\n");
    for i in from..from + n {
        let segment = if i % 3 == 0 { "customers" } else { "prospects" };
        csv.push_str(&format!("acct{i},{segment},company{i}-bench.com\n"));
    }
    csv
}

struct BenchNode {
    running: RunningNode,
    api: ApiClient,
}

async fn node(dir: &std::path::Path, name: &str) -> anyhow::Result<BenchNode> {
    let options = InitOptions {
        data_dir: dir.join(name),
        organisation: name.to_owned(),
        admin: "admin".to_owned(),
        listen: "127.0.0.1:0".parse().expect("an address"),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await?;
    let running = start(&options.data_dir, &NodeConfig::load(&options.data_dir)?).await?;
    let api = ApiClient::new(
        &format!("https://127.0.0.1:{}", running.addr.port()),
        &made.fingerprint,
        made.admin_token.expose(),
    )?;
    Ok(BenchNode { running, api })
}

async fn post(node: &BenchNode, path: &str, body: Value) -> anyhow::Result<Value> {
    Ok(node.api.call(Method::POST, path, Some((serde_json::to_vec(&body)?, "application/json")), &[]).await?)
}

pub(crate) fn run(args: &NodesArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.overlap) || args.n == 0 {
        bail!("--n must be positive and --overlap between 0 and 1");
    }
    let shared = (args.n as f64 * args.overlap) as usize;
    let (left, right) = (export(args.n, 0), export(args.n, args.n - shared));
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let (node_seconds, import_seconds, run) = runtime()?.block_on(async {
        let vendor = node(dir.path(), "Vendor").await?;
        let partner = node(dir.path(), "Partner").await?;
        let started = Instant::now();
        for (n, csv) in [(&vendor, &left), (&partner, &right)] {
            n.api
                .call::<Value>(
                    Method::POST,
                    "/api/v1/datasets?name=bench.csv",
                    Some((csv.as_bytes().to_vec(), "text/csv")),
                    &[],
                )
                .await?;
        }
        let import_seconds = started.elapsed().as_secs_f64();
        let invite = post(&vendor, "/api/v1/partnerships/invites", json!({})).await?;
        let accepted = post(&partner, "/api/v1/partnerships", json!({ "code": invite["code"] })).await?;
        let list: Value = vendor.api.call(Method::GET, "/api/v1/partnerships", None, &[]).await?;
        let policy = json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
            "threshold": 1, "min_partner_segment": 1 });
        for (n, id) in [(&vendor, &list["items"][0]["id"]), (&partner, &accepted["id"])] {
            let path = format!("/api/v1/partnerships/{}/sharing", id.as_str().unwrap_or_default());
            n.api
                .call::<Value>(Method::PUT, &path, Some((serde_json::to_vec(&policy)?, "application/json")), &[])
                .await?;
        }
        let started = post(&vendor, "/api/v1/runs", json!({ "partnership": list["items"][0]["id"] })).await?;
        let run = follow(&vendor.api, started["id"].as_str().unwrap_or_default(), args.json).await?;
        if run["state"] != "complete" {
            bail!("the run failed: {}", run["failure"]);
        }
        for n in [vendor, partner] {
            n.running.shutdown().await?;
        }
        // The session itself, as the node timed it (from the first frame to the last).
        Ok::<_, anyhow::Error>((run["result"]["seconds"].as_f64().unwrap_or(0.0), import_seconds, run))
    })?;

    let load = |csv: &str, side| {
        import_dataset("bench.csv", csv.as_bytes(), &Preset::Generic.mapping(), side, |_| {})
            .map(|i| Arc::new(i.dataset))
    };
    let (a, b) = (load(&left, Side::First)?, load(&right, Side::Second)?);
    let policy = || DisclosurePolicy::new(Level::Overlaps).with_threshold(1).with_min_partner_segment(1);
    let mut rng = rand::rng();
    let started = Instant::now();
    let local = run_in_process(
        Session::initiator(a, policy(), SessionConfig::default(), SessionSeed::random(&mut rng))?,
        Session::responder(b, policy(), SessionConfig::default(), SessionSeed::random(&mut rng))?,
    )?;
    let in_process_seconds = started.elapsed().as_secs_f64();
    let overlapping = run["result"]["overlapping_accounts"].as_u64().unwrap_or(0);
    if overlapping != shared as u64 || local.initiator.overlaps().len() != shared {
        bail!(
            "wrong result: {overlapping} overlapping accounts over the network, {} in process, {shared} expected",
            local.initiator.overlaps().len()
        );
    }
    let ratio = node_seconds / in_process_seconds;
    let report = NodesReport {
        n: args.n,
        overlapping_accounts: overlapping,
        import_seconds,
        node_run_seconds: node_seconds,
        in_process_seconds,
        ratio,
        target_ratio: TARGET_RATIO,
        meets_target: ratio <= TARGET_RATIO,
        bytes_sent: run["result"]["bytes_sent"].as_u64().unwrap_or(0),
        bytes_received: run["result"]["bytes_received"].as_u64().unwrap_or(0),
        peak_memory_bytes: crate::bench::peak_memory(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{} × {} accounts, {} overlapping (checked):", args.n, args.n, overlapping);
        println!("  import through both APIs  {:>8.2} s", report.import_seconds);
        println!(
            "  match between the nodes   {:>8.2} s  ({} sent, {} received)",
            node_seconds,
            human_bytes(report.bytes_sent),
            human_bytes(report.bytes_received)
        );
        println!("  same session in process   {:>8.2} s", in_process_seconds);
        println!("  ratio                     {:>8.2}   (target ≤ {TARGET_RATIO})", ratio);
        if let Some(peak) = report.peak_memory_bytes {
            println!("  peak memory (process)     {:>8}", human_bytes(peak));
        }
    }
    Ok(())
}

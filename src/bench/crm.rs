//! `blindmap bench crm`: a CRM sync at scale (issue 17's targets). A synthetic Salesforce export
//! of N accounts (the test kit's) is loaded into the Salesforce emulator, run as a process of
//! its own (`bench crm-emulator`) so that the node's memory is the node's; a node imports the
//! export as a CSV upload, then syncs the same accounts from the emulator in full (through a
//! Bulk API 2.0 job from 10,000 accounts, as a real org), sampling its resident memory; then a
//! share of the accounts changes in the org and an incremental sync runs, the emulator counting
//! the records it hands out. Targets: the full sync ≤ 2× the CSV import, its peak ≤ 64 MiB above
//! the node's idle size, and the incremental sync reading only the changed accounts.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use blindmap_server::api::connections::{CrmKindName, NewConnection, SyncParams, SyncView};
use blindmap_server::api::datasets::UploadParams;
use clap::Args;
use serde::Serialize;

use super::nodes::{BenchNode, node_configured};
use crate::output::human_bytes;

/// The targets.
const MAX_SYNC_OVER_IMPORT: f64 = 2.0;
const MAX_PEAK_ABOVE_IDLE: u64 = 64 << 20;

const CLIENT_ID: &str = "3MVG9benchConsumerKey";
const CLIENT_SECRET: &str = "bench-consumer-secret";
const REFRESH_TOKEN: &str = "5Aep861benchRefresh";

#[derive(Args)]
pub(crate) struct CrmArgs {
    /// Accounts in the org.
    #[arg(long, default_value_t = 1_000_000)]
    accounts: u64,
    /// One account in this many changes before the incremental sync (100: 1 %).
    #[arg(long, default_value_t = 100)]
    change_every: u64,
    /// The export's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct EmulatorArgs {
    /// The Salesforce Account export whose accounts the org holds.
    #[arg(long)]
    export: PathBuf,
}

#[derive(Serialize)]
struct CrmReport {
    accounts: u64,
    csv_import_seconds: f64,
    full_sync_seconds: f64,
    sync_over_import: f64,
    full_sync_bulk: bool,
    full_sync_requests: u64,
    idle_rss_bytes: u64,
    peak_rss_bytes: u64,
    peak_above_idle_bytes: u64,
    changed_accounts: u64,
    incremental_sync_seconds: f64,
    incremental_records_read: u64,
    incremental_records_served: u64,
    meets_targets: bool,
}

/// The process's resident memory now.
fn rss() -> u64 {
    super::rss_of("self")
}

/// Serves the emulator until killed; its URL on the first line of stdout.
pub(crate) fn serve_emulator(args: &EmulatorArgs) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.export).with_context(|| format!("cannot open {}", args.export.display()))?;
    let accounts = blindmap_crm_emulator::salesforce::accounts_from_export(BufReader::new(file));
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async move {
        let org = blindmap_crm_emulator::salesforce::Org {
            accounts,
            page_size: 2_000,
            api_max: 100_000_000,
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            refresh_token: Some(REFRESH_TOKEN.into()),
            custom_fields: vec!["DunsNumber".into()],
            ..Default::default()
        };
        let (url, _org) = blindmap_crm_emulator::salesforce::start(org).await;
        println!("{url}");
        std::io::stdout().flush()?;
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// The emulator's process, killed when dropped.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn synced(node: &BenchNode, connection: &str, params: &SyncParams, peak: &AtomicU64) -> anyhow::Result<SyncView> {
    let started = node.api.start_sync(connection, params).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sync = node.api.sync(connection, &started.id).await?;
        if sync.state != "running" {
            if sync.state != "complete" {
                bail!("the sync ended {}: {}", sync.state, sync.message.unwrap_or_default());
            }
            return Ok(sync);
        }
        peak.fetch_max(rss(), Ordering::Relaxed);
    }
}

pub(crate) fn run(args: &CrmArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let export = dir.path().join("salesforce.csv");
    let mut out = BufWriter::new(std::fs::File::create(&export)?);
    blindmap_testkit::write_large_salesforce_export(args.accounts, args.seed, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;

    let mut child = Command::new(std::env::current_exe()?)
        .args(["bench", "crm-emulator", "--export"])
        .arg(&export)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the emulator")?;
    let mut first = String::new();
    BufReader::new(child.stdout.take().context("the emulator's output")?).read_line(&mut first)?;
    let emulator = Emulator(child);
    let url = first.trim().to_owned();
    if !url.starts_with("http://127.0.0.1:") {
        bail!("the emulator did not start");
    }

    let report = tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        let node = node_configured(dir.path(), "Vendor", |c| {
            c.crm_allow_http = true;
            c.crm_allow = vec!["127.0.0.1".into()];
        })
        .await?;
        // The CSV import of the same accounts.
        let csv = std::fs::read(&export)?;
        let started = Instant::now();
        let params = UploadParams { name: "export.csv".into(), preset: None, activate: false };
        node.api.import_dataset(&params, csv, None).await?;
        let csv_import_seconds = started.elapsed().as_secs_f64();

        let connection = node
            .api
            .create_connection(&NewConnection {
                name: "Bench Salesforce".into(),
                kind: CrmKindName::Salesforce,
                url: Some(url.clone()),
                client_id: Some(CLIENT_ID.into()),
                username: None,
                private_key: None,
                client_secret: Some(CLIENT_SECRET.into()),
                refresh_token: Some(REFRESH_TOKEN.into()),
                token: None,
                pause_at: None,
                bulk_from: None,
                preset: None,
                map: Vec::new(),
                segment: Vec::new(),
                write_back: false,
            })
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = rss();
        let peak = Arc::new(AtomicU64::new(idle));
        // Sampled often beside the polls: the node's import works in bursts.
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, sampling) = (peak.clone(), sampling.clone());
            std::thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let started = Instant::now();
        let full = synced(&node, &connection.id, &SyncParams { mode: None }, &peak).await;
        let full_sync_seconds = started.elapsed().as_secs_f64();
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.join();
        let full = full?;
        if full.records_read != args.accounts {
            bail!("the full sync read {} records of {}", full.records_read, args.accounts);
        }
        let peak = peak.load(Ordering::Relaxed);

        // The emulator speaks plain http on loopback; the node's pinned client does that too.
        let http = blindmap_server::client::pinned_http(&node.fingerprint)?;
        let changed: serde_json::Value =
            http.post(format!("{url}/emulator/change?every={}", args.change_every.max(1))).send().await?.json().await?;
        http.post(format!("{url}/emulator/stats/reset")).send().await?;
        let started = Instant::now();
        let incremental = synced(&node, &connection.id, &SyncParams { mode: None }, &AtomicU64::new(0)).await?;
        let incremental_sync_seconds = started.elapsed().as_secs_f64();
        let stats: serde_json::Value = http.get(format!("{url}/emulator/stats")).send().await?.json().await?;
        let changed = changed["changed"].as_u64().unwrap_or(0);
        let served = stats["records_served"].as_u64().unwrap_or(u64::MAX);
        let ratio = full_sync_seconds / csv_import_seconds;
        Ok::<_, anyhow::Error>(CrmReport {
            accounts: args.accounts,
            csv_import_seconds,
            full_sync_seconds,
            sync_over_import: ratio,
            full_sync_bulk: full.summary.as_ref().is_some_and(|s| s["api_usage"]["bulk"] == true),
            full_sync_requests: full.requests,
            idle_rss_bytes: idle,
            peak_rss_bytes: peak,
            peak_above_idle_bytes: peak.saturating_sub(idle),
            changed_accounts: changed,
            incremental_sync_seconds,
            incremental_records_read: incremental.records_read,
            incremental_records_served: served,
            meets_targets: ratio <= MAX_SYNC_OVER_IMPORT
                && peak.saturating_sub(idle) <= MAX_PEAK_ABOVE_IDLE
                && incremental.records_read == changed
                && served == changed,
        })
    })?;
    drop(emulator);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("A CRM sync of {} Salesforce accounts from the emulator:", report.accounts);
        println!("  CSV import of the same accounts   {:.2} s", report.csv_import_seconds);
        println!(
            "  full sync                         {:.2} s ({:.2}× the import; target ≤ {MAX_SYNC_OVER_IMPORT}×), {} requests{}",
            report.full_sync_seconds,
            report.sync_over_import,
            report.full_sync_requests,
            if report.full_sync_bulk { ", through a Bulk API 2.0 job" } else { "" }
        );
        println!(
            "  the node's memory                 idle {}, peak {} during the sync: {} above (target ≤ {})",
            human_bytes(report.idle_rss_bytes),
            human_bytes(report.peak_rss_bytes),
            human_bytes(report.peak_above_idle_bytes),
            human_bytes(MAX_PEAK_ABOVE_IDLE)
        );
        println!(
            "  incremental sync, {} changed       {:.2} s, {} records read, {} handed out by the org",
            report.changed_accounts,
            report.incremental_sync_seconds,
            report.incremental_records_read,
            report.incremental_records_served
        );
    }
    // Correctness always; the speed and memory targets are for full-size runs (see README).
    if report.incremental_records_read != report.changed_accounts {
        bail!(
            "the incremental sync read {} records, not the {} changed",
            report.incremental_records_read,
            report.changed_accounts
        );
    }
    Ok(())
}

//! `blindmap bench browser`: a partner in the browser (spec §20) against a vendor's node with a
//! large list. The vendor's node imports `--vendor` synthetic accounts; a link is made; the
//! partner's `--partner` accounts are imported as the page imports them and matched through the
//! link, `--sessions` times, by the native client of the page's protocol (`client::link`, the
//! same crates the page runs as WebAssembly). The first session evaluates the vendor's list
//! under new kept keys; later ones reuse what the node kept (spec §20.5). Targets: the vendor
//! node's work for a session with its list kept at most 5 s (10,000 × 1,000,000); the page's
//! side is timed in a browser by the page itself (it shows how long each step took).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use blindmap_records::{Preset, Side, import_dataset};
use blindmap_server::api::datasets::UploadParams;
use blindmap_server::api::partnerships::NewBrowserPartner;
use clap::Args;
use serde::Serialize;

use super::nodes::{export, node};
use crate::cli::runtime;

/// The most a session with the vendor's list kept may take, in seconds: the page's side plus the
/// node's, both on this machine.
const TARGET_KEPT_SECONDS: f64 = 5.0;

#[derive(Args)]
pub(crate) struct BrowserArgs {
    /// Accounts in the vendor's list (its node's active dataset).
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    vendor: usize,
    /// Accounts in the partner's file (what the page imports).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    partner: usize,
    /// Share of the partner's accounts that the vendor has too.
    #[arg(long, default_value_t = 0.5, value_name = "F")]
    overlap: f64,
    /// Sessions through the same link: the first under new keys, the others with the vendor's
    /// list kept.
    #[arg(long, default_value_t = 3, value_name = "K")]
    sessions: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    vendor: usize,
    partner: usize,
    shared: usize,
    vendor_import_seconds: f64,
    /// The partner's file read and made into keys, natively (the page does the same in the
    /// browser).
    partner_import_seconds: f64,
    sessions: Vec<SessionReport>,
}

#[derive(Serialize)]
struct SessionReport {
    /// Opening the WebSocket to the node's last message.
    seconds: f64,
    /// Of which the partner's side computed (blinding, unblinding, lookups).
    partner_seconds: f64,
    /// The rest: the node's work and the transfer.
    node_seconds: f64,
    /// On the node, from the run's start to its end stored (the dataset loaded, the session,
    /// storing).
    node_run_seconds: f64,
    /// Of which the protocol session, as the node timed it.
    node_session_seconds: f64,
    bytes_sent: u64,
    bytes_received: u64,
    overlapping: usize,
}

pub(crate) fn run(args: &BrowserArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.overlap) || args.vendor == 0 || args.partner == 0 || args.sessions == 0 {
        bail!("--vendor, --partner and --sessions must be positive and --overlap between 0 and 1");
    }
    let shared = ((args.partner as f64 * args.overlap) as usize).min(args.vendor);
    let vendor_csv = export(args.vendor, 0);
    let partner_csv = export(args.partner, args.vendor - shared);
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let report = runtime()?.block_on(async {
        let vendor = node(dir.path(), "Vendor").await?;
        let started = Instant::now();
        let params = UploadParams { name: "vendor.csv".to_owned(), preset: None, activate: true };
        vendor.api.import_dataset(&params, vendor_csv.into_bytes(), None).await?;
        let vendor_import_seconds = started.elapsed().as_secs_f64();
        let link = vendor.api.invite_browser(&NewBrowserPartner { partner: "Partner".to_owned(), days: None }).await?;
        let secret = link.link.split_once('#').context("a link without its secret")?.1.to_owned();

        let started = Instant::now();
        let imported = import_dataset("partner.csv", partner_csv.as_bytes(), &Preset::Generic.mapping(), Side::First, |_| {})?;
        let partner_import_seconds = started.elapsed().as_secs_f64();
        let data = Arc::new(imported.dataset);

        let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
        let mut sessions = Vec::new();
        for k in 0..args.sessions {
            let run = blindmap_server::client::link::run(&url, &vendor.fingerprint, &secret, Some(&url), data.clone())
                .await
                .with_context(|| format!("session {}", k + 1))?;
            let overlapping: std::collections::BTreeSet<usize> = run.outcome.overlaps().iter().map(|o| o.record).collect();
            if overlapping.len() != shared {
                bail!("session {}: {} overlapping accounts, {shared} expected", k + 1, overlapping.len());
            }
            let seconds = run.elapsed.as_secs_f64();
            let partner_seconds = run.own_work.as_secs_f64();
            let stored = vendor.api.run(&run.run).await?;
            let node_run_seconds =
                stored.finished_at.map_or(f64::NAN, |end| (end - stored.started_at) as f64 / 1000.0);
            let node_session_seconds = stored.result.as_ref().map_or(f64::NAN, |r| r.seconds);
            let session = SessionReport {
                seconds,
                partner_seconds,
                node_seconds: seconds - partner_seconds,
                node_run_seconds,
                node_session_seconds,
                bytes_sent: run.bytes_sent,
                bytes_received: run.bytes_received,
                overlapping: overlapping.len(),
            };
            if !args.json {
                println!(
                    "session {}: {:.2} s ({:.2} s the partner's side, {:.2} s the node and the transfer; on the node {:.2} s \
                     from start to stored, {:.2} s of it the session), {} sent, {} received{}",
                    k + 1,
                    session.seconds,
                    session.partner_seconds,
                    session.node_seconds,
                    session.node_run_seconds,
                    session.node_session_seconds,
                    crate::output::human_bytes(session.bytes_sent),
                    crate::output::human_bytes(session.bytes_received),
                    if k == 0 { " — new keys: the vendor's list evaluated" } else { " — the vendor's list kept" }
                );
            }
            sessions.push(session);
        }
        vendor.running.shutdown().await?;
        Ok::<_, anyhow::Error>(Report {
            vendor: args.vendor,
            partner: args.partner,
            shared,
            vendor_import_seconds,
            partner_import_seconds,
            sessions,
        })
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "vendor {} accounts imported in {:.1} s; partner {} accounts ({} shared) imported in {:.2} s",
        report.vendor, report.vendor_import_seconds, report.partner, report.shared, report.partner_import_seconds
    );
    if let Some(kept) = report.sessions.iter().skip(1).map(|s| s.seconds).reduce(f64::max) {
        let verdict = if kept <= TARGET_KEPT_SECONDS { "within" } else { "OVER" };
        println!(
            "slowest session with the vendor's list kept: {kept:.2} s ({verdict} the {TARGET_KEPT_SECONDS} s target)"
        );
    }
    Ok(())
}

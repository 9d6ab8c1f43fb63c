//! `blindmap match --partner NAME`: asks this organisation's node to run a match with a partner's
//! node, follows it with a progress bar, and prints the overlap matrix, what changed since the
//! last run, and some overlapping accounts. Everything goes through the node's API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use blindmap_server::api::Page;
use blindmap_server::api::runs::{ChangesView, LevelName, OverlapView, RunView, StartRun};
use blindmap_server::client::ApiClient;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Connection, client, partnership_id, runtime};
use crate::output::{MatrixView, account_line, accounts_and_pairs, escaped, human_bytes};

#[derive(Args)]
pub(crate) struct MatchArgs {
    /// The partner organisation's name (as `blindmap partner list` shows it), or the
    /// partnership's id: your node runs the match with the partner's node.
    #[arg(long, value_name = "NAME", required_unless_present = "remote", conflicts_with = "remote")]
    partner: Option<String>,
    /// For a partner without a node: match FILE from this machine against the vendor's node.
    /// The first time, give the vendor's invite code (with --organisation); afterwards its URL.
    #[arg(long, value_name = "URL|CODE")]
    remote: Option<String>,
    /// With --remote: your CRM export (CSV).
    #[arg(value_name = "FILE", requires = "remote")]
    pub(crate) file: Option<PathBuf>,
    /// With --remote: how to read FILE (salesforce, hubspot, generic; default: by its header).
    #[arg(long, value_name = "PRESET", requires = "remote")]
    pub(crate) preset: Option<String>,
    /// With --remote: this machine's client folder (its TLS identity, made on first use, and
    /// the vendor nodes it paired with).
    #[arg(long, env = "BLINDMAP_CLIENT_DIR", default_value = "blindmap-client", value_name = "DIR")]
    pub(crate) client_dir: PathBuf,
    /// With --remote and an invite code: your organisation's name, as the vendor will see it.
    #[arg(long, value_name = "NAME", requires = "remote")]
    pub(crate) organisation: Option<String>,
    /// With --remote: what you disclose to the vendor: hidden, counts, overlaps or
    /// fields:NAME[,NAME…]. (With --partner, your node's sharing policy applies.)
    #[arg(long, default_value = "counts", value_parser = super::policy_arg::parse_level, value_name = "LEVEL")]
    pub(crate) shares: blindmap_psi::Level,
    /// With --remote: counts below this show as "<K" to the vendor.
    #[arg(long, default_value_t = blindmap_psi::DEFAULT_THRESHOLD, value_name = "K")]
    pub(crate) threshold: u32,
    /// With --remote: serve no vendor segment smaller than this many records.
    #[arg(long, default_value_t = blindmap_psi::DEFAULT_MIN_PARTNER_SEGMENT, value_name = "N")]
    pub(crate) min_segment: u32,
    /// Write every frame sent and received, decoded and in full, to this file
    /// (protocol-spec/spec.md §16): what left this machine, for a reviewer to check.
    #[arg(long, value_name = "FILE")]
    pub(crate) transcript: Option<PathBuf>,
    /// How many overlapping accounts to list (0 for none).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub(crate) show: u32,
    /// Print the run (and its changes) as JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) fn run(args: &MatchArgs) -> anyhow::Result<()> {
    let (Some(partner), None) = (&args.partner, &args.remote) else {
        return super::remote::run(args, args.remote.as_deref().unwrap_or_default());
    };
    runtime()?.block_on(async {
        let api = client(&args.connection)?;
        let partnership = partnership_id(&api, partner).await?;
        let body = StartRun { partnership, transcript: args.transcript.is_some() };
        let id = api.start_run(&body).await?.id;
        let run = follow(&api, &id, args.json).await?;
        if run.state != "complete" {
            bail!("the run {id} failed: {}", run.failure.as_deref().unwrap_or("no reason recorded"));
        }
        let changes = api.run_changes(&id).await?;
        if let Some(path) = &args.transcript {
            let text = api.run_transcript(&id).await?;
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        if args.json {
            #[derive(serde::Serialize)]
            struct Output<'a> {
                run: &'a RunView,
                changes: &'a ChangesView,
            }
            println!("{}", serde_json::to_string_pretty(&Output { run: &run, changes: &changes })?);
            return Ok(());
        }
        print_run(&api, &run, &changes, args.show, args.transcript.as_deref()).await
    })
}

/// Polls the run until it ends, with a progress bar on a terminal.
pub(crate) async fn follow(api: &ApiClient, id: &str, quiet: bool) -> anyhow::Result<RunView> {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} matching {bar:32} {human_pos}/{human_len} records, {eta} left")
            .expect("valid template"),
    );
    loop {
        let run = api.run(id).await?;
        if run.state != "running" {
            bar.finish_and_clear();
            return Ok(run);
        }
        bar.set_length(run.progress.total);
        bar.set_position(run.progress.done);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One overlapping account as a line: the account, its segment, the partner's segment, why it
/// matched (its tier and what agreed) and the fields the partner shared. `o` is as the API
/// lists it.
pub(crate) fn overlap_line(o: &OverlapView, partner: &str) -> String {
    account_line(&o.account_id, &o.own_segment, &o.partner_segment, &o.reason, &o.partner_fields, partner)
}

/// Prints a complete run as a person reads it: matrix, disclosure, changes, the first `show`
/// overlapping accounts, traffic.
pub(crate) async fn print_run(
    api: &ApiClient,
    run: &RunView,
    changes: &ChangesView,
    show: u32,
    transcript: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let result = run.result.as_ref().context("the run has no result")?;
    let partner = escaped(&run.partner);
    println!(
        "Run {} with {partner}: your segments × {partner}'s (shared with you: {}):",
        escaped(&run.id),
        escaped(&LevelName::in_words(result.cells().map(|(_, _, c)| c.level)).unwrap_or_else(|| "nothing".into()))
    );
    print!("{}", MatrixView::new(&result.rows, &result.columns, &result.cells).render());
    println!(
        "You disclosed: {} (your policy at the start of the run).",
        escaped(
            &LevelName::in_words(result.disclosed.levels.iter().flatten().copied()).unwrap_or_else(|| "nothing".into())
        )
    );
    match &changes.previous_run {
        None => println!("First complete run with {partner}: nothing to compare with."),
        Some(previous) => {
            let previous = escaped(previous);
            if changes.cells.is_empty() {
                println!("No change since {previous}.");
            } else {
                println!("Changes since {previous} (accounts new and lost per cell):");
                for c in &changes.cells {
                    let count = |list: &Option<Vec<String>>, k: &str| {
                        list.as_ref().map_or(String::new(), |a| format!(", {} {k}", a.len()))
                    };
                    println!(
                        "  {} × {}: {} → {}{}{}",
                        escaped(&c.own_segment),
                        escaped(&c.partner_segment),
                        escaped(c.before.as_deref().unwrap_or("-")),
                        escaped(c.after.as_deref().unwrap_or("-")),
                        count(&c.new, "new"),
                        count(&c.lost, "lost")
                    );
                }
            }
        }
    }
    let listed = result.pairs;
    if show > 0 && listed > 0 {
        let page = api.run_overlaps(&run.id, &Page::first(show)).await?;
        println!(
            "{} (an account of yours with a record of {partner}'s); the first {}:",
            accounts_and_pairs(result.overlapping_accounts, listed),
            page.items.len()
        );
        for o in &page.items {
            println!("{}", overlap_line(o, &partner));
        }
    }
    if let Some(path) = transcript {
        println!("Transcript of every frame written to {}.", path.display());
    }
    println!(
        "Exchanged {} sent and {} received in {:.2} s; no key left either side in the clear.",
        human_bytes(result.bytes_sent),
        human_bytes(result.bytes_received),
        result.seconds
    );
    Ok(())
}

//! `blindmap match --remote URL|CODE FILE`: a partner without a node matches a local CSV export
//! against a vendor's node, taking the initiator's side itself over the peer channel.
//!
//! The partner's machine keeps a client folder (`--client-dir`): a TLS identity made on first use
//! (key readable by its owner only) and `pairings.toml`, the vendor nodes it paired with. Nothing
//! else is kept: the results are printed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use blindmap_psi::{DisclosurePolicy, Level, Outcome};
use blindmap_records::Side;
use blindmap_server::client::remote::{self, Progress, RemoteError, RemotePairing};
use blindmap_server::node::identity::Identity;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::matching::MatchArgs;
use super::runtime;
use crate::input::{self, Loaded, SourceSpec};
use crate::output::{MatrixView, account_line, accounts_and_pairs, escaped, human_bytes, uniform_level};

/// The pairings file in the client folder.
const PAIRINGS: &str = "pairings.toml";

#[derive(Default, Serialize, Deserialize)]
struct Pairings {
    #[serde(default, rename = "pairing")]
    pairings: Vec<RemotePairing>,
}

fn load_pairings(dir: &Path) -> anyhow::Result<Pairings> {
    let path = dir.join(PAIRINGS);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("{} is not a pairings file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pairings::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// This machine's client identity, made on first use.
fn identity(dir: &Path) -> anyhow::Result<Identity> {
    let folder = dir.join("identity");
    if folder.exists() {
        return Identity::load(&folder)
            .with_context(|| format!("cannot load the client identity in {}", dir.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let identity = Identity::generate(&["localhost".to_owned()])?;
    identity.save(&folder)?;
    eprintln!("Made a client identity in {} (certificate {}).", folder.display(), identity.fingerprint());
    Ok(identity)
}

/// The pairing `target` names: accepts an invite code (and remembers the pairing), or finds a
/// remembered pairing by URL.
async fn pairing(args: &MatchArgs, target: &str, identity: &Identity) -> anyhow::Result<RemotePairing> {
    let dir = &args.client_dir;
    let mut pairings = load_pairings(dir)?;
    if !target.starts_with("bminvite1.") {
        let url = target.trim_end_matches('/');
        return pairings.pairings.iter().find(|p| p.url.trim_end_matches('/') == url).cloned().with_context(|| {
            let known: Vec<&str> = pairings.pairings.iter().map(|p| p.url.as_str()).collect();
            format!(
                "this machine has not paired with {url} (paired: {}); pass the vendor's invite code to --remote \
                 the first time, with --organisation",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            )
        });
    }
    let organisation = args
        .organisation
        .as_deref()
        .context("accepting an invite needs --organisation: the name the vendor will know you by")?;
    let paired = remote::accept(identity, target, organisation).await?;
    pairings.pairings.retain(|p| p.url != paired.url);
    pairings.pairings.push(paired.clone());
    let text = toml::to_string(&pairings).context("cannot write the pairings")?;
    crate::output::write_atomically(&dir.join(PAIRINGS), text.as_bytes())?;
    let (organisation, url) = (escaped(&paired.organisation), escaped(&paired.url));
    eprintln!("Paired with {organisation} at {url}; next time, --remote {url} is enough.");
    Ok(paired)
}

pub(crate) fn run(args: &MatchArgs, target: &str) -> anyhow::Result<()> {
    let Some(file) = &args.file else { bail!("--remote needs your CSV export: blindmap match --remote URL FILE") };
    let spec = SourceSpec { preset: args.preset.clone(), ..SourceSpec::default() };
    let loaded = input::load(file, &spec, Side::First)?;
    let policy = DisclosurePolicy::new(args.shares.clone())
        .with_threshold(args.threshold)
        .with_min_partner_segment(args.min_segment);
    runtime()?.block_on(async {
        let identity = identity(&args.client_dir)?;
        let pairing = pairing(args, target, &identity).await?;
        let progress = Arc::new(Progress::default());
        let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(0) };
        bar.set_style(
            ProgressStyle::with_template("{spinner} matching {bar:32} {human_pos}/{human_len} records, {eta} left")
                .expect("valid template"),
        );
        let ticker = {
            let (bar, progress) = (bar.clone(), progress.clone());
            tokio::spawn(async move {
                loop {
                    let (done, total) = progress.get();
                    bar.set_length(total);
                    bar.set_position(done);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let result =
            remote::run(&identity, &pairing, loaded.dataset.clone(), policy, args.transcript.is_some(), progress).await;
        ticker.abort();
        bar.finish_and_clear();
        let transcript = match &result {
            Ok(run) => run.transcript.as_deref(),
            Err(RemoteError::Failed { transcript, .. }) => transcript.as_deref(),
            Err(_) => None,
        };
        if let (Some(path), Some(text)) = (&args.transcript, transcript) {
            crate::output::write_atomically(path, text.as_bytes())?;
        }
        let run =
            result.with_context(|| format!("the match with {} at {} failed", pairing.organisation, pairing.url))?;
        report(args, file, &loaded, &pairing, &run)
    })
}

/// One overlapping account of a remote match, as `--json` prints it.
#[derive(serde::Serialize)]
struct Overlap {
    account_id: String,
    own_segment: String,
    partner_segment: String,
    key_types: Vec<String>,
    tier: blindmap_records::Tier,
    reason: String,
    partner_fields: std::collections::BTreeMap<String, Option<String>>,
}

fn report(
    args: &MatchArgs,
    file: &Path,
    loaded: &Loaded,
    pairing: &RemotePairing,
    run: &remote::RemoteRun,
) -> anyhow::Result<()> {
    let outcome: &Outcome = &run.outcome;
    let records = loaded.dataset.records();
    let explanations = blindmap_records::explain_overlaps(outcome, &loaded.dataset);
    let overlaps: Vec<Overlap> = outcome
        .overlaps()
        .iter()
        .zip(&explanations)
        .map(|(o, explanation)| Overlap {
            account_id: records[o.record].id.clone(),
            own_segment: records[o.record].segment.to_string(),
            partner_segment: outcome.partner_segments()[usize::from(o.partner.segment)].label.to_string(),
            key_types: o.key_types.iter().map(ToString::to_string).collect(),
            tier: explanation.tier,
            reason: explanation.to_string(),
            partner_fields: outcome
                .fields_of(&o.partner)
                .into_iter()
                .flat_map(|f| f.fields.iter().map(|(n, v)| (n.to_string(), v.clone())))
                .collect(),
        })
        .collect();
    let matrix = MatrixView::of(outcome, &loaded.dataset, &explanations);
    if args.json {
        let json = serde_json::json!({
            "file": file.display().to_string(),
            "partner": pairing.organisation,
            "matrix": matrix,
            "shared_with_you": uniform_level(outcome),
            "overlaps": overlaps,
            "bytes_sent": run.bytes_sent,
            "bytes_received": run.bytes_received,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!("{} read as {}:", escaped(&file.display().to_string()), escaped(&loaded.mapping));
    print!("{}", input::render_summary(&loaded.summary));
    println!(
        "\nYour segments × {}'s (shared with you: {}; you disclosed: {}):",
        escaped(&pairing.organisation),
        escaped(&uniform_level(outcome)),
        match &args.shares {
            Level::Fields(f) =>
                format!("fields ({})", f.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
            other => other.name().to_owned(),
        }
    );
    print!("{}", matrix.render());
    if args.show > 0 && !overlaps.is_empty() {
        let accounts = outcome.overlaps().iter().map(|o| o.record).collect::<std::collections::BTreeSet<_>>().len();
        let first = overlaps.len().min(args.show as usize);
        println!(
            "{} (an account of yours with a record of {}'s); the first {first}:",
            accounts_and_pairs(accounts as u64, overlaps.len() as u64),
            escaped(&pairing.organisation),
        );
        for o in overlaps.iter().take(args.show as usize) {
            let line = account_line(
                &o.account_id,
                &o.own_segment,
                &o.partner_segment,
                &o.reason,
                &o.partner_fields,
                &pairing.organisation,
            );
            println!("{line}");
        }
    }
    if let Some(path) = &args.transcript {
        println!("Transcript of every frame written to {}.", escaped(&path.display().to_string()));
    }
    println!(
        "Exchanged {} sent and {} received; no key left this machine in the clear.",
        human_bytes(run.bytes_sent),
        human_bytes(run.bytes_received)
    );
    Ok(())
}

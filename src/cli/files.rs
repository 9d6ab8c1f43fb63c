//! `blindmap match-files`: both parties in one process, through the real protocol.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use blindmap_psi::{DisclosurePolicy, Level, Outcome, Session, SessionConfig, SessionSeed, run_in_process_with};
use clap::Args;
use serde::Serialize;

use blindmap_records::{Side as RecordSide, Tier, explain_overlaps};

use super::policy_arg::parse_level;
use crate::input::{self, Loaded, SourceSpec, SummaryView};
use crate::output::{MatrixView, Progress, escaped, human_bytes, uniform_level};

#[derive(Args)]
pub(crate) struct MatchFilesArgs {
    /// The left party's CSV export (it starts the session).
    left: PathBuf,
    /// The right party's CSV export.
    right: PathBuf,
    /// How to read the left file: salesforce, hubspot, generic, or auto (chosen by its header;
    /// the default).
    #[arg(long, value_name = "PRESET")]
    left_preset: Option<String>,
    /// How to read the right file.
    #[arg(long, value_name = "PRESET")]
    right_preset: Option<String>,
    /// A column mapping file (TOML) for the left file, instead of a preset (see `inspect --help`).
    #[arg(long, value_name = "FILE", conflicts_with = "left_preset")]
    left_mapping: Option<PathBuf>,
    /// A column mapping file for the right file.
    #[arg(long, value_name = "FILE", conflicts_with = "right_preset")]
    right_mapping: Option<PathBuf>,
    /// Map a column of the left file: ROLE=COLUMN replaces, ROLE+=COLUMN adds (roles: id, name,
    /// country, city, domain, email, duns, segment, field:NAME; `delimiter=;`). Repeatable.
    #[arg(long, value_name = "ROLE=COLUMN")]
    left_map: Vec<String>,
    /// Map a column of the right file.
    #[arg(long, value_name = "ROLE=COLUMN")]
    right_map: Vec<String>,
    /// A segment rule for the left file, `label: rule`, replacing the preset's; repeat in order
    /// of precedence (e.g. `customers: Type in [Customer]` then `prospects: everything else`).
    #[arg(long, value_name = "RULE")]
    left_segment: Vec<String>,
    /// A segment rule for the right file.
    #[arg(long, value_name = "RULE")]
    right_segment: Vec<String>,
    /// Write one row per matched pair, `left_id,right_id,key_type`, to this CSV file. Needs the
    /// right side to share at least overlaps.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// What the left side discloses to the right: hidden, counts, overlaps or fields:NAME[,NAME…].
    #[arg(long, default_value = "overlaps", value_parser = parse_level, value_name = "LEVEL")]
    left_shares: Level,
    /// What the right side discloses to the left.
    #[arg(long, default_value = "overlaps", value_parser = parse_level, value_name = "LEVEL")]
    right_shares: Level,
    /// Counts below this are shown as "<K" (counts level).
    #[arg(long, default_value_t = blindmap_psi::DEFAULT_THRESHOLD, value_name = "K")]
    threshold: u32,
    /// Neither side serves a partner segment smaller than this many records.
    #[arg(long, default_value_t = blindmap_psi::DEFAULT_MIN_PARTNER_SEGMENT, value_name = "N")]
    min_segment: u32,
    /// How many overlapping accounts to list (0 for none).
    #[arg(long, default_value_t = 10, value_name = "N")]
    show: usize,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Side {
    file: String,
    /// The preset or mapping the file was read with.
    read_as: String,
    records: usize,
    import: SummaryView,
    /// What this side learned: its segments × the partner's.
    matrix: MatrixView,
    overlapping_records: usize,
    /// Pairs by tier.
    confirmed_pairs: usize,
    possible_pairs: usize,
    /// Its overlapping accounts, with the partner's shared fields.
    pairs: Vec<Pair>,
}

/// A matched pair as one side sees it: its own id first.
#[derive(Serialize)]
pub(crate) struct Pair {
    #[serde(rename = "own_id")]
    pub(crate) left_id: String,
    #[serde(rename = "partner_id")]
    pub(crate) right_id: String,
    /// The key types the pair shares, joined by `+`.
    pub(crate) key_type: String,
    /// `confirmed` or `possible`.
    pub(crate) tier: Tier,
    /// Why, in a sentence.
    pub(crate) reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    right_fields: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Summary {
    left: Side,
    right: Side,
    bytes_left_to_right: u64,
    bytes_right_to_left: u64,
    seconds: f64,
}

impl MatchFilesArgs {
    fn sources(&self) -> [SourceSpec; 2] {
        [
            SourceSpec {
                preset: self.left_preset.clone(),
                mapping: self.left_mapping.clone(),
                maps: self.left_map.clone(),
                segments: self.left_segment.clone(),
            },
            SourceSpec {
                preset: self.right_preset.clone(),
                mapping: self.right_mapping.clone(),
                maps: self.right_map.clone(),
                segments: self.right_segment.clone(),
            },
        ]
    }
}

/// A finished in-process session between two loaded files.
pub(crate) struct Executed {
    pub(crate) run: blindmap_psi::InProcessRun,
    pub(crate) seconds: f64,
}

/// Loads both files, the left as the session's first side.
pub(crate) fn load_both(left: &Path, right: &Path, sources: &[SourceSpec; 2]) -> anyhow::Result<(Loaded, Loaded)> {
    let left = input::load(left, &sources[0], RecordSide::First)?;
    let right = input::load(right, &sources[1], RecordSide::Second)?;
    Ok((left, right))
}

/// Runs both parties' sessions in this process, with a progress bar.
pub(crate) fn execute(
    left: &Loaded,
    right: &Loaded,
    left_policy: DisclosurePolicy,
    right_policy: DisclosurePolicy,
) -> anyhow::Result<Executed> {
    let mut rng = rand::rng();
    let started = Instant::now();
    let initiator = Session::initiator(
        Arc::clone(&left.dataset),
        left_policy,
        SessionConfig::default(),
        SessionSeed::random(&mut rng),
    )?;
    let responder = Session::responder(
        Arc::clone(&right.dataset),
        right_policy,
        SessionConfig::default(),
        SessionSeed::random(&mut rng),
    )?;
    let total = (left.dataset.records().len() + right.dataset.records().len()) as u64;
    let mut progress = Progress::new(total, ());
    let run = run_in_process_with(initiator, responder, &mut progress).context("the session failed");
    progress.finish();
    Ok(Executed { run: run?, seconds: started.elapsed().as_secs_f64() })
}

pub(crate) fn run(args: &MatchFilesArgs) -> anyhow::Result<()> {
    if args.out.is_some() && !matches!(args.right_shares, Level::Overlaps | Level::Fields(_)) {
        bail!(
            "--out needs --right-shares overlaps (or fields:…): only then does the left side learn which of its \
             records overlap which of the right's"
        );
    }
    let (left, right) = load_both(&args.left, &args.right, &args.sources())?;
    let policy = |level: &Level| {
        DisclosurePolicy::new(level.clone()).with_threshold(args.threshold).with_min_partner_segment(args.min_segment)
    };
    let Executed { run, seconds } = execute(&left, &right, policy(&args.left_shares), policy(&args.right_shares))?;

    let left_pairs = pairs(&left, &right, &run.initiator, &run.responder);
    let right_pairs = pairs(&right, &left, &run.responder, &run.initiator);
    if let Some(out) = &args.out {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["left_id", "right_id", "key_type", "tier", "reason"])?;
        for p in &left_pairs {
            w.write_record([&p.left_id, &p.right_id, &p.key_type, p.tier.as_str(), &p.reason])?;
        }
        crate::output::write_atomically(out, &w.into_inner()?)?;
    }

    let side = |file: &PathBuf, loaded: &Loaded, outcome: &Outcome, pairs: Vec<Pair>| Side {
        file: file.display().to_string(),
        read_as: loaded.mapping.clone(),
        records: loaded.dataset.records().len(),
        import: SummaryView::of(&loaded.summary),
        matrix: MatrixView::of(outcome, &loaded.dataset, &explain_overlaps(outcome, &loaded.dataset)),
        confirmed_pairs: pairs.iter().filter(|p| p.tier == Tier::Confirmed).count(),
        possible_pairs: pairs.iter().filter(|p| p.tier == Tier::Possible).count(),
        overlapping_records: outcome.overlaps().iter().map(|o| o.record).collect::<BTreeSet<_>>().len(),
        pairs,
    };
    let summary = Summary {
        left: side(&args.left, &left, &run.initiator, left_pairs),
        right: side(&args.right, &right, &run.responder, right_pairs),
        bytes_left_to_right: run.bytes_from_initiator,
        bytes_right_to_left: run.bytes_from_responder,
        seconds,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_text(args, &summary, (&left, &right), &run.initiator, &run.responder);
    }
    Ok(())
}

/// Matched pairs from one side's overlaps (`own`), naming the partner's records through the
/// partner's own handle map: what the two parties would assemble by sharing their results.
pub(crate) fn pairs(own: &Loaded, partner: &Loaded, lo: &Outcome, ro: &Outcome) -> Vec<Pair> {
    let explanations = explain_overlaps(lo, &own.dataset);
    let mut pairs: Vec<Pair> = lo
        .overlaps()
        .iter()
        .zip(&explanations)
        .filter_map(|(o, explanation)| {
            let position = o.partner.position?;
            let right_index = ro.own_record(o.partner.segment, position)?;
            let right_fields = lo
                .fields_of(&o.partner)
                .map(|f| f.fields.iter().filter_map(|(n, v)| Some((n.to_string(), v.clone()?))).collect())
                .unwrap_or_default();
            Some(Pair {
                left_id: own.dataset.records()[o.record].id.clone(),
                right_id: partner.dataset.records()[right_index].id.clone(),
                key_type: o.key_types.iter().map(ToString::to_string).collect::<Vec<_>>().join("+"),
                tier: explanation.tier,
                reason: explanation.to_string(),
                right_fields,
            })
        })
        .collect();
    pairs.sort_by(|a, b| (&a.left_id, &a.right_id).cmp(&(&b.left_id, &b.right_id)));
    pairs
}

fn print_text(args: &MatchFilesArgs, s: &Summary, (left, right): (&Loaded, &Loaded), lo: &Outcome, ro: &Outcome) {
    for (side, loaded) in [(&s.left, left), (&s.right, right)] {
        println!("{} read as {}:", escaped(&side.file), escaped(&side.read_as));
        print!("{}", input::render_summary(&loaded.summary));
    }
    println!();
    for (side, other, outcome) in [(&s.left, &s.right, lo), (&s.right, &s.left, ro)] {
        println!(
            "{} ({} records) learned, its segments × {}'s (shared with it: {}):",
            escaped(&side.file),
            side.records,
            escaped(&other.file),
            escaped(&uniform_level(outcome))
        );
        print!("{}", side.matrix.render());
        println!();
    }
    for (side, other) in [(&s.left, &s.right), (&s.right, &s.left)] {
        if side.pairs.is_empty() || args.show == 0 {
            continue;
        }
        let own: BTreeSet<&str> = side.pairs.iter().map(|p| p.left_id.as_str()).collect();
        let theirs: BTreeSet<&str> = side.pairs.iter().map(|p| p.right_id.as_str()).collect();
        println!(
            "{}: {} of its records overlap {} of {}'s ({} pairs: {} confirmed, {} possible):",
            escaped(&side.file),
            own.len(),
            theirs.len(),
            escaped(&other.file),
            side.pairs.len(),
            side.confirmed_pairs,
            side.possible_pairs,
        );
        for p in side.pairs.iter().take(args.show) {
            let fields = p.right_fields.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(", ");
            let fields = if fields.is_empty() { String::new() } else { format!("  [{}]", escaped(&fields)) };
            println!("  {:<12} ↔ {:<12} {}{fields}", escaped(&p.left_id), escaped(&p.right_id), p.reason);
        }
        if side.pairs.len() > args.show {
            println!("  … and {} more", side.pairs.len() - args.show);
        }
        println!();
    }
    let counts = |o: &Outcome| {
        let plan = o.received_plan();
        (0..plan.rows()).any(|r| (0..plan.cols()).any(|c| *plan.level(r, c) == Level::Counts))
    };
    if counts(lo) || counts(ro) {
        println!("Counts-level cells count records sharing a key once (spec §10.3).");
    }
    if let Some(out) = &args.out {
        if s.left.pairs.is_empty() {
            println!(
                "No pairs to write: {} has only a header row. The right side served none of its segments with \
                 overlaps (segments smaller than --min-segment are not served) or no account matched.",
                out.display()
            );
        } else {
            println!("Pairs written to {}", out.display());
        }
    }
    println!(
        "Exchanged {} left→right and {} right→left in {:.2} s; no key left either side in the clear.",
        human_bytes(s.bytes_left_to_right),
        human_bytes(s.bytes_right_to_left),
        s.seconds
    );
}

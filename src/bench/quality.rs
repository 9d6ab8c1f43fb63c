//! `blindmap bench quality`: match quality against ground truth. The test kit generates a
//! Salesforce and a HubSpot export of one synthetic world with realistic noise and decoys; they
//! are written to files and matched exactly as `match-files --left-preset salesforce
//! --right-preset hubspot` matches them — same import, same sessions — and only then compared
//! with the truth.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use blindmap_psi::{DisclosurePolicy, Level, Record};
use blindmap_records::Tier;
use blindmap_testkit::{Settings, generate};
use clap::Args;
use serde::Serialize;

use crate::cli::files::{Executed, execute, load_both, pairs};
use crate::input::{Loaded, SourceSpec};

/// The targets at n = 20,000, on every world the test kit makes: the confirmed tier's precision;
/// the recall of both tiers together, of the true pairs that share an identifier (a domain, a
/// DUNS number, or the normalised name and country — no exact-key matcher finds the others); and
/// the confirmed tier's recall of all true pairs.
const TARGET_PRECISION: f64 = 0.995;
const TARGET_RECALL: f64 = 0.99;
const TARGET_CONFIRMED_RECALL: f64 = 0.93;

/// Which synthetic world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum World {
    /// Coined, mostly distinctive names; few same-named companies.
    Default,
    /// Common-surname namesakes (7 % of companies), 10 % missing websites, 20 % missing cities,
    /// phones and postal codes in mixed forms with gaps.
    Harsh,
}

#[derive(Args)]
pub(crate) struct QualityArgs {
    /// Rows in each export.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Fraction of the left's companies that the right also has.
    #[arg(long, default_value_t = 0.3)]
    overlap: f64,
    /// The corpus's seed: the same seed gives the same exports.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The world the exports describe.
    #[arg(long, value_enum, default_value_t = World::Default)]
    world: World,
    /// Leave the city columns out of both exports.
    #[arg(long)]
    no_city_columns: bool,
    /// Measure every world (default and harsh, with and without city columns) at seeds 1 to 3,
    /// and print one line each: what the targets are stated for. Takes a few minutes.
    #[arg(long, conflicts_with_all = ["seed", "world", "no_city_columns", "keep", "show"])]
    all: bool,
    /// Keep the generated exports and the truth (`salesforce.csv`, `hubspot.csv`, `truth.csv`) in
    /// this folder instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Show this many missed and this many false pairs, with the keys each side made.
    #[arg(long, default_value_t = 0, value_name = "N")]
    show: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct QualityReport {
    n: usize,
    seed: u64,
    world: &'static str,
    city_columns: bool,
    left_rows: usize,
    right_rows: usize,
    true_pairs: usize,
    /// True pairs sharing a domain, a DUNS number or the normalised name and country.
    findable_pairs: usize,
    matched_pairs: usize,
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
    /// Both tiers together.
    precision: f64,
    recall: f64,
    /// Both tiers' recall of the findable pairs.
    findable_recall: f64,
    target_precision: f64,
    target_recall: f64,
    target_confirmed_recall: f64,
    meets_targets: bool,
    /// Each tier on its own: how many pairs, how many true, its precision and its recall.
    tiers: BTreeMap<&'static str, TierCounts>,
    /// Matched pairs by the key types they share, and how many of those are false.
    by_key_type: BTreeMap<String, KeyTypeCounts>,
    /// False pairs by what they were: a kind of look-alike decoy, or two unrelated companies.
    false_positives_by_cause: BTreeMap<String, usize>,
    corpus: String,
    /// Protocol keys per account, each side: what the private match's cost grows with.
    keys_per_account: [f64; 2],
    /// The same by key type.
    keys_per_account_by_type: BTreeMap<String, [f64; 2]>,
    match_seconds: f64,
}

#[derive(Serialize, Default)]
struct TierCounts {
    matched: usize,
    true_positives: usize,
    precision: f64,
    recall: f64,
}

#[derive(Serialize, Default)]
struct KeyTypeCounts {
    matched: usize,
    false_positives: usize,
}

/// What one measurement needs besides the report: the pairs to explain.
struct Measured {
    report: QualityReport,
    missed: Vec<(String, String)>,
    false_pairs: Vec<(String, String)>,
    left: Loaded,
    right: Loaded,
}

pub(crate) fn run(args: &QualityArgs) -> anyhow::Result<()> {
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    if args.all {
        return run_all(args);
    }
    let temp;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            dir.as_path()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path()
        }
    };
    let m = measure(args, args.world, !args.no_city_columns, args.seed, dir)?;
    let report = &m.report;
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print_text(report);
        if args.show > 0 {
            let explain = Explainer::new(&m.left, &m.right);
            println!("\nMissed pairs, those that share an identifier first (first {}):", args.show.min(m.missed.len()));
            for (l, r) in m.missed.iter().take(args.show) {
                explain.pair(l, r);
            }
            println!("\nFalse pairs (first {}):", args.show.min(m.false_pairs.len()));
            for (l, r) in m.false_pairs.iter().take(args.show) {
                explain.pair(l, r);
            }
        }
        if args.keep.is_some() {
            println!("\nThe exports and truth.csv are in {}", dir.display());
        }
    }
    if !report.meets_targets {
        bail!("below target: {}", shortfall(report));
    }
    Ok(())
}

/// Which targets a report misses, in words.
fn shortfall(r: &QualityReport) -> String {
    let confirmed = &r.tiers[Tier::Confirmed.as_str()];
    let mut missed = Vec::new();
    if confirmed.precision < TARGET_PRECISION {
        missed.push(format!("confirmed precision {:.4} (target {TARGET_PRECISION})", confirmed.precision));
    }
    if r.findable_recall < TARGET_RECALL {
        missed.push(format!("recall of findable pairs {:.4} (target {TARGET_RECALL})", r.findable_recall));
    }
    if confirmed.recall < TARGET_CONFIRMED_RECALL {
        missed.push(format!("confirmed recall {:.4} (target {TARGET_CONFIRMED_RECALL})", confirmed.recall));
    }
    missed.join(", ")
}

/// Every world at seeds 1 to 3: one line each, and whether all meet the targets.
fn run_all(args: &QualityArgs) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    if !args.json {
        println!(
            "{:<8} {:<7} {:>4}  {:>10} {:>10} {:>10} {:>10} {:>10}  {:>7}  {:>6}",
            "world", "cities", "seed", "conf prec", "conf rec", "poss prec", "rec", "findable", "keys", "match"
        );
    }
    for world in [World::Default, World::Harsh] {
        for cities in [true, false] {
            for seed in 1..=3 {
                let dir = tempfile::tempdir()?;
                let r = measure(args, world, cities, seed, dir.path())?.report;
                if !args.json {
                    let (c, p) = (&r.tiers[Tier::Confirmed.as_str()], &r.tiers[Tier::Possible.as_str()]);
                    println!(
                        "{:<8} {:<7} {:>4}  {:>9.2}% {:>9.2}% {:>9.2}% {:>9.2}% {:>9.2}%  {:>7.2}  {:>5.2}s{}",
                        r.world,
                        if cities { "yes" } else { "no" },
                        seed,
                        c.precision * 100.0,
                        c.recall * 100.0,
                        p.precision * 100.0,
                        r.recall * 100.0,
                        r.findable_recall * 100.0,
                        r.keys_per_account[0] + r.keys_per_account[1],
                        r.match_seconds,
                        if r.meets_targets { String::new() } else { format!("  BELOW: {}", shortfall(&r)) }
                    );
                }
                reports.push(r);
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        println!(
            "keys: protocol keys per account, both sides summed; targets: confirmed precision ≥ {:.1}%, recall of \
             findable pairs ≥ {:.0}%, confirmed recall ≥ {:.0}%",
            TARGET_PRECISION * 100.0,
            TARGET_RECALL * 100.0,
            TARGET_CONFIRMED_RECALL * 100.0
        );
    }
    let below = reports.iter().filter(|r| !r.meets_targets).count();
    if below > 0 {
        bail!("{below} of {} measurements below target", reports.len());
    }
    Ok(())
}

/// Generates one world, matches it as `match-files` would, and compares with the truth.
fn measure(args: &QualityArgs, world: World, city_columns: bool, seed: u64, dir: &Path) -> anyhow::Result<Measured> {
    let base = match world {
        World::Default => Settings::default(),
        World::Harsh => Settings::harsh(),
    };
    let corpus = generate(&Settings { rows_per_side: args.n, overlap: args.overlap, seed, city_columns, ..base });
    let (left_path, right_path) = (dir.join("salesforce.csv"), dir.join("hubspot.csv"));
    std::fs::write(&left_path, &corpus.salesforce_csv)?;
    std::fs::write(&right_path, &corpus.hubspot_csv)?;
    write_truth(&dir.join("truth.csv"), &corpus.truth)?;

    let preset = |p: &str| SourceSpec { preset: Some(p.to_owned()), ..SourceSpec::default() };
    let (left, right) = load_both(&left_path, &right_path, &[preset("salesforce"), preset("hubspot")])?;
    let policy = || DisclosurePolicy::new(Level::Overlaps);
    let Executed { run, seconds } = execute(&left, &right, policy(), policy())?;
    let found = pairs(&left, &right, &run.initiator, &run.responder);

    let truth: BTreeSet<(&str, &str)> = corpus.truth.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
    let mut by_key_type: BTreeMap<String, KeyTypeCounts> = BTreeMap::new();
    let mut false_pairs = Vec::new();
    let mut true_positives = 0;
    let mut tiers: BTreeMap<&'static str, TierCounts> =
        Tier::ALL.iter().map(|t| (t.as_str(), TierCounts::default())).collect();
    for p in &found {
        let counts = by_key_type.entry(p.key_type.clone()).or_default();
        counts.matched += 1;
        let tier = tiers.entry(p.tier.as_str()).or_default();
        tier.matched += 1;
        if truth.contains(&(p.left_id.as_str(), p.right_id.as_str())) {
            true_positives += 1;
            tier.true_positives += 1;
        } else {
            counts.false_positives += 1;
            false_pairs.push((p.left_id.clone(), p.right_id.clone()));
        }
    }
    let decoys: HashMap<(&str, &str), String> =
        corpus.decoy_pairs.iter().map(|(l, r, kind)| ((l.as_str(), r.as_str()), format!("{kind:?}"))).collect();
    let mut false_positives_by_cause: BTreeMap<String, usize> = BTreeMap::new();
    for (l, r) in &false_pairs {
        *false_positives_by_cause
            .entry(decoys.get(&(l.as_str(), r.as_str())).cloned().unwrap_or_else(|| "Unrelated".into()))
            .or_default() += 1;
    }
    let found_set: BTreeSet<(&str, &str)> = found.iter().map(|p| (p.left_id.as_str(), p.right_id.as_str())).collect();
    let findable = Findable::new(&left, &right);
    // The misses a matcher could have found first: they are what `--show` explains.
    let mut missed: Vec<(String, String)> =
        truth.iter().filter(|p| !found_set.contains(p)).map(|(l, r)| ((*l).to_owned(), (*r).to_owned())).collect();
    missed.sort_by_key(|(l, r)| !findable.shares(l, r));
    let findable_pairs: Vec<&(&str, &str)> = truth.iter().filter(|(l, r)| findable.shares(l, r)).collect();
    let findable_found = findable_pairs.iter().filter(|p| found_set.contains(**p)).count();
    for t in tiers.values_mut() {
        t.precision = ratio(t.true_positives, t.matched);
        t.recall = ratio(t.true_positives, truth.len());
    }
    let precision = ratio(true_positives, found.len());
    let recall = ratio(true_positives, truth.len());
    let findable_recall = ratio(findable_found, findable_pairs.len());
    let confirmed = &tiers[Tier::Confirmed.as_str()];
    let meets_targets = confirmed.precision >= TARGET_PRECISION
        && findable_recall >= TARGET_RECALL
        && confirmed.recall >= TARGET_CONFIRMED_RECALL;
    let report = QualityReport {
        n: args.n,
        seed,
        world: match world {
            World::Default => "default",
            World::Harsh => "harsh",
        },
        city_columns,
        left_rows: corpus.stats.salesforce_rows,
        right_rows: corpus.stats.hubspot_rows,
        true_pairs: truth.len(),
        findable_pairs: findable_pairs.len(),
        matched_pairs: found.len(),
        true_positives,
        false_positives: found.len() - true_positives,
        false_negatives: missed.len(),
        precision,
        recall,
        findable_recall,
        target_precision: TARGET_PRECISION,
        target_recall: TARGET_RECALL,
        target_confirmed_recall: TARGET_CONFIRMED_RECALL,
        meets_targets,
        tiers,
        by_key_type,
        false_positives_by_cause,
        corpus: format!("{:?}", corpus.stats),
        keys_per_account: [keys_per_account(&left), keys_per_account(&right)],
        keys_per_account_by_type: keys_by_type(&left, &right),
        match_seconds: seconds,
    };
    Ok(Measured { report, missed, false_pairs, left, right })
}

/// Which true pairs any exact-key matcher could find: those whose accounts share a canonical
/// domain, DUNS number, or normalised name and country (read back from the protocol keys).
struct Findable {
    left: HashMap<String, BTreeSet<String>>,
    right: HashMap<String, BTreeSet<String>>,
}

impl Findable {
    fn new(left: &Loaded, right: &Loaded) -> Self {
        let index = |l: &Loaded| {
            l.dataset
                .records()
                .iter()
                .map(|r| {
                    let ids = r
                        .keys
                        .iter()
                        .map(|k| match k.key_type().as_str() {
                            // The name and country of a tagged `W|C|CC|NAME` or `C|CC|NAME`…
                            "name_city" | "name_postal" | "name_country" | "name_web" => {
                                let parts: Vec<&str> = k.value().rsplitn(3, '|').collect();
                                format!("name:{}|{}", parts[1], parts[0])
                            }
                            // …and of an untagged `CC|NAME|PHONE`.
                            "name_phone" => {
                                let parts: Vec<&str> = k.value().splitn(3, '|').collect();
                                format!("name:{}|{}", parts[0], parts[1])
                            }
                            other => format!("{other}:{}", k.value()),
                        })
                        .collect();
                    (r.id.clone(), ids)
                })
                .collect()
        };
        Self { left: index(left), right: index(right) }
    }

    fn shares(&self, l: &str, r: &str) -> bool {
        match (self.left.get(l), self.right.get(r)) {
            (Some(a), Some(b)) => !a.is_disjoint(b),
            _ => false,
        }
    }
}

fn keys_per_account(loaded: &Loaded) -> f64 {
    let records = loaded.dataset.records();
    let keys: usize = records.iter().map(|r| r.keys.len()).sum();
    if records.is_empty() { 0.0 } else { keys as f64 / records.len() as f64 }
}

fn keys_by_type(left: &Loaded, right: &Loaded) -> BTreeMap<String, [f64; 2]> {
    let mut out: BTreeMap<String, [f64; 2]> = BTreeMap::new();
    for (side, loaded) in [left, right].into_iter().enumerate() {
        let records = loaded.dataset.records();
        for r in records {
            for k in &r.keys {
                out.entry(k.key_type().to_string()).or_default()[side] += 1.0 / records.len() as f64;
            }
        }
    }
    out
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 1.0 } else { part as f64 / whole as f64 }
}

fn write_truth(path: &Path, truth: &[(String, String)]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["left_id", "right_id"])?;
    for (l, r) in truth {
        w.write_record([l, r])?;
    }
    w.flush()?;
    Ok(())
}

fn print_text(r: &QualityReport) {
    println!(
        "Match quality on a synthetic Salesforce ({} rows) × HubSpot ({} rows) pair, {} world{}, seed {}:",
        r.left_rows,
        r.right_rows,
        r.world,
        if r.city_columns { "" } else { " without city columns" },
        r.seed
    );
    for (name, t) in &r.tiers {
        let (precision_target, recall_target) = if *name == Tier::Confirmed.as_str() {
            (
                format!(" (target ≥ {:.1}%)", r.target_precision * 100.0),
                format!(" (target ≥ {:.0}%)", r.target_confirmed_recall * 100.0),
            )
        } else {
            (String::new(), String::new())
        };
        println!(
            "  {name:<9} precision {:.2}%{precision_target}, recall {:.2}%{recall_target}: {} of {} pairs true",
            t.precision * 100.0,
            t.recall * 100.0,
            t.true_positives,
            t.matched
        );
    }
    println!(
        "  both      precision {:.2}%, recall {:.2}% of all {} true pairs, {:.2}% of the {} that share an \
         identifier (target ≥ {:.0}%)",
        r.precision * 100.0,
        r.recall * 100.0,
        r.true_pairs,
        r.findable_recall * 100.0,
        r.findable_pairs,
        r.target_recall * 100.0,
    );
    println!("  by shared key types:");
    for (types, c) in &r.by_key_type {
        println!("    {types:<36} {:>7} pairs, {:>4} false", c.matched, c.false_positives);
    }
    if !r.false_positives_by_cause.is_empty() {
        let causes: Vec<String> = r.false_positives_by_cause.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("  false pairs by cause: {}", causes.join(", "));
    }
    println!(
        "  private match: {:.2} s; protocol keys per account {:.2} (left), {:.2} (right)",
        r.match_seconds, r.keys_per_account[0], r.keys_per_account[1]
    );
    println!(
        "  {}",
        if r.meets_targets { "meets the targets".to_owned() } else { format!("BELOW TARGET: {}", shortfall(r)) }
    );
}

/// Shows the protocol keys each side made for a pair, to see why it matched or did not.
struct Explainer<'a> {
    left: HashMap<&'a str, &'a Record>,
    right: HashMap<&'a str, &'a Record>,
}

impl<'a> Explainer<'a> {
    fn new(left: &'a Loaded, right: &'a Loaded) -> Self {
        let index = |l: &'a Loaded| l.dataset.records().iter().map(|r| (r.id.as_str(), r)).collect();
        Self { left: index(left), right: index(right) }
    }

    fn pair(&self, l: &str, r: &str) {
        let keys = |record: Option<&&Record>| match record {
            Some(rec) => {
                rec.keys.iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect::<Vec<_>>().join("  ")
            }
            None => "(not imported: no usable key)".to_owned(),
        };
        println!("  {l} ↔ {r}\n    left:  {}\n    right: {}", keys(self.left.get(l)), keys(self.right.get(r)));
    }
}

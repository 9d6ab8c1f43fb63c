//! `blindmap bench psi`: a full session on synthetic sets, checked, timed per phase, and set
//! against the cost floor measured in the same process (spec §11).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use blindmap_psi::wire::Frame;
use blindmap_psi::{
    Dataset, Direction, DisclosurePolicy, KeyType, Level, MatchKey, Observer, Record, SegmentLabel, Session,
    SessionConfig, SessionSeed, floor_operations, run_in_process_with,
};
use clap::Args;
use serde::Serialize;

use crate::output::{Progress, human_bytes};

/// The speed target: a mutual-overlaps session within this factor of the floor.
const TARGET_RATIO: f64 = 1.25;

#[derive(Args)]
pub(crate) struct PsiArgs {
    /// Records on each side.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Fraction of each side's records that the other side also has.
    #[arg(long, default_value_t = 0.5)]
    overlap: f64,
    /// The level both sides disclose: `overlaps` (the speed target's case) or `counts`.
    #[arg(long, default_value = "overlaps", value_parser = ["overlaps", "counts"])]
    level: String,
    /// Records per chunk.
    #[arg(long, default_value_t = blindmap_psi::DEFAULT_CHUNK_RECORDS)]
    chunk: usize,
    /// Skip measuring the floor.
    #[arg(long)]
    no_floor: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Phase {
    name: String,
    seconds: f64,
}

#[derive(Serialize)]
struct PsiReport {
    n: usize,
    overlap: f64,
    level: String,
    threads: usize,
    correct: bool,
    overlapping_pairs: usize,
    session_seconds: f64,
    phases: Vec<Phase>,
    bytes_initiator_to_responder: u64,
    bytes_responder_to_initiator: u64,
    frames: u64,
    peak_memory_bytes: Option<u64>,
    floor_seconds: Option<f64>,
    ratio: Option<f64>,
    target_ratio: f64,
}

/// Time between observer events, charged to what just happened.
struct PhaseTimer {
    last: Instant,
    phases: BTreeMap<String, Duration>,
}

impl PhaseTimer {
    fn charge(&mut self, what: String) {
        let now = Instant::now();
        *self.phases.entry(what).or_default() += now - self.last;
        self.last = now;
    }
}

impl Observer for PhaseTimer {
    fn produced(&mut self, direction: Direction, frame: &[u8]) {
        let kind = Frame::peek_kind(frame).map_or("?", |k| k.name());
        self.charge(format!("{} produces {kind}", direction.sender().name()));
    }

    fn consumed(&mut self, direction: Direction, frame: &[u8]) {
        let kind = Frame::peek_kind(frame).map_or("?", |k| k.name());
        self.charge(format!("{} consumes {kind}", direction.receiver().name()));
    }
}

/// Two synthetic sets: `n` records each, one domain key each, three segments; the first
/// `overlap * n` right records share a domain with a scattered left record.
fn generate(n: usize, overlap: f64) -> (Dataset, Dataset, Vec<(u32, u32)>) {
    let domain = KeyType::new("domain").expect("valid");
    let segments: Vec<SegmentLabel> =
        ["customers", "open_opportunities", "prospects"].iter().map(|s| SegmentLabel::new(s).expect("valid")).collect();
    let shared = ((n as f64) * overlap).round() as usize;
    // A stride coprime with n scatters the shared records over the left set.
    let stride = (1..).map(|k| 7919 * k + 1).find(|s| gcd(*s, n.max(1)) == 1).unwrap_or(1);
    let left: Vec<Record> = (0..n)
        .map(|i| {
            Record::new(format!("L{i}"), segments[i % 3].clone())
                .with_key(MatchKey::new(domain.clone(), format!("account-{i}.example.com")))
        })
        .collect();
    let mut truth = Vec::with_capacity(shared);
    let right: Vec<Record> = (0..n)
        .map(|j| {
            let value = if j < shared {
                let i = (j * stride) % n;
                truth.push((i as u32, j as u32));
                format!("account-{i}.example.com")
            } else {
                format!("partner-{j}.example.org")
            };
            Record::new(format!("R{j}"), segments[(j / 2) % 3].clone()).with_key(MatchKey::new(domain.clone(), value))
        })
        .collect();
    (Dataset::new(left).expect("valid"), Dataset::new(right).expect("valid"), truth)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Peak resident memory of this process, from `/proc/self/status` (Linux).
pub(crate) fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn psi(args: &PsiArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.overlap) {
        bail!("--overlap must be between 0 and 1");
    }
    if args.chunk == 0 || args.chunk > 65535 {
        bail!("--chunk must be between 1 and 65535");
    }
    let (left, right, truth) = generate(args.n, args.overlap);
    let (left, right) = (Arc::new(left), Arc::new(right));
    let level = if args.level == "counts" { Level::Counts } else { Level::Overlaps };
    let policy = DisclosurePolicy::new(level.clone()).with_min_partner_segment(1).with_threshold(0);
    let config = SessionConfig { chunk_records: args.chunk, ..SessionConfig::default() };
    let mut rng = rand::rng();

    let started = Instant::now();
    let mut observer = Progress::new(2 * args.n as u64, PhaseTimer { last: started, phases: BTreeMap::new() });
    let initiator =
        Session::initiator(Arc::clone(&left), policy.clone(), config.clone(), SessionSeed::random(&mut rng))?;
    let responder = Session::responder(Arc::clone(&right), policy, config, SessionSeed::random(&mut rng))?;
    let run = run_in_process_with(initiator, responder, &mut observer).context("the session failed");
    let timer = observer.finish();
    let run = run?;
    let session_seconds = started.elapsed().as_secs_f64();

    // The result must be the plaintext intersection, seen from both sides: every pair at the
    // overlaps level, every cell's count at either level.
    let expected: HashSet<(u32, u32)> = truth.iter().copied().collect();
    let pairs = |own: &blindmap_psi::Outcome, partner: &blindmap_psi::Outcome, left: bool| -> HashSet<(u32, u32)> {
        own.overlaps()
            .iter()
            .filter_map(|o| {
                let other = partner.own_record(o.partner.segment, o.partner.position?)? as u32;
                Some(if left { (o.record as u32, other) } else { (other, o.record as u32) })
            })
            .collect()
    };
    let from_left = pairs(&run.initiator, &run.responder, true);
    let from_right = pairs(&run.responder, &run.initiator, false);
    let pairs_ok = match level {
        Level::Overlaps => from_left == expected && from_right == expected,
        _ => from_left.is_empty() && from_right.is_empty(),
    };
    // Left record i is in segment i % 3, right record j in (j / 2) % 3; one key each.
    let mut by_cell: HashMap<(usize, usize), u64> = HashMap::new();
    for &(i, j) in &expected {
        *by_cell.entry((i as usize % 3, (j as usize / 2) % 3)).or_default() += 1;
    }
    let cells_ok = (0..3).all(|r| {
        (0..3).all(|c| {
            let n = by_cell.get(&(r, c)).copied().unwrap_or(0);
            let m = by_cell.get(&(c, r)).copied().unwrap_or(0);
            run.initiator.cell(r, c) == blindmap_psi::Cell::Count(n)
                && run.responder.cell(r, c) == blindmap_psi::Cell::Count(m)
        })
    });
    let correct = pairs_ok && cells_ok;
    let overlapping_pairs = expected.len();

    // Built only now, so that they neither count towards the session's peak memory nor cost
    // anything under --no-floor; preparing them is not part of the floor.
    let floor_seconds = (!args.no_floor).then(|| {
        let inputs: Vec<Vec<u8>> = left
            .records()
            .iter()
            .chain(right.records())
            .flat_map(|r| r.keys.iter().map(MatchKey::oprf_input))
            .collect();
        let started = Instant::now();
        std::hint::black_box(floor_operations(&inputs));
        started.elapsed().as_secs_f64()
    });
    let report = PsiReport {
        n: args.n,
        overlap: args.overlap,
        threads: rayon::current_num_threads(),
        correct,
        level: args.level.clone(),
        overlapping_pairs,
        session_seconds,
        phases: timer.phases.into_iter().map(|(name, d)| Phase { name, seconds: d.as_secs_f64() }).collect(),
        bytes_initiator_to_responder: run.bytes_from_initiator,
        bytes_responder_to_initiator: run.bytes_from_responder,
        frames: run.frames,
        peak_memory_bytes: peak_memory(),
        floor_seconds,
        ratio: floor_seconds.map(|f| session_seconds / f),
        target_ratio: TARGET_RATIO,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if !correct {
        bail!("the session's result differs from the plaintext intersection");
    }
    Ok(())
}

fn print_report(r: &PsiReport) {
    println!(
        "blindmap bench psi: {} records per side, overlap {:.2}, {} threads, mutual {}",
        r.n, r.overlap, r.threads, r.level
    );
    println!("  session                        {:>10.2} s", r.session_seconds);
    for p in r.phases.iter().filter(|p| p.seconds >= 0.005) {
        println!("    {:<28} {:>10.2} s", p.name, p.seconds);
    }
    println!("  bytes initiator → responder    {:>12}", human_bytes(r.bytes_initiator_to_responder));
    println!("  bytes responder → initiator    {:>12}", human_bytes(r.bytes_responder_to_initiator));
    if let Some(m) = r.peak_memory_bytes {
        println!("  peak memory (whole process)    {:>12}", human_bytes(m));
    }
    println!(
        "  result                         {} ({} overlapping pairs)",
        if r.correct { "equals the plaintext intersection" } else { "WRONG" },
        r.overlapping_pairs
    );
    if let (Some(f), Some(ratio)) = (r.floor_seconds, r.ratio) {
        println!("  floor (hash + 2 exponentiations per element, all cores) {f:.2} s");
        println!("  ratio to floor                 {ratio:>10.3} (target ≤ {})", r.target_ratio);
    }
}

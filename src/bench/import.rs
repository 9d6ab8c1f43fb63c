//! `blindmap bench import`: the importer at scale. Writes a synthetic Salesforce export of N rows
//! (the test kit's streaming writer), reads it back through the real importer without keeping
//! anything, and reports throughput and peak memory — which must not grow with the file.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use blindmap_records::Preset;
use clap::Args;
use serde::Serialize;

use super::psi::peak_memory;
use crate::input;
use crate::output::human_bytes;

/// The memory target: the importer holds one row at a time, whatever the file's size.
const TARGET_PEAK_BYTES: u64 = 64 << 20;

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// Rows in the generated export.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// The export's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the export here (and keep it) instead of a temporary file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ImportReport {
    rows: u64,
    file_bytes: u64,
    accounts: u64,
    /// Domain, DUNS, name+country, postal code, phone.
    keys: [u64; 5],
    write_seconds: f64,
    import_seconds: f64,
    rows_per_second: f64,
    megabytes_per_second: f64,
    peak_memory_bytes: Option<u64>,
    target_peak_bytes: u64,
    meets_target: bool,
}

pub(crate) fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let temp;
    let path = match &args.file {
        Some(path) => path.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().join("salesforce.csv")
        }
    };
    let started = Instant::now();
    let file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    blindmap_testkit::write_large_salesforce_export(args.rows, args.seed, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let write_seconds = started.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(&path)?.len();

    let started = Instant::now();
    let summary = input::scan(&path, &Preset::Salesforce.mapping(), |_| {}, |_| {})?;
    let import_seconds = started.elapsed().as_secs_f64();
    let peak = peak_memory();
    let report = ImportReport {
        rows: summary.rows,
        file_bytes,
        accounts: summary.accounts,
        keys: summary.keys,
        write_seconds,
        import_seconds,
        rows_per_second: summary.rows as f64 / import_seconds,
        megabytes_per_second: file_bytes as f64 / f64::from(1u32 << 20) / import_seconds,
        peak_memory_bytes: peak,
        target_peak_bytes: TARGET_PEAK_BYTES,
        meets_target: peak.is_none_or(|p| p <= TARGET_PEAK_BYTES),
    };
    if summary.rows != args.rows {
        bail!("read {} rows of the {} written", summary.rows, args.rows);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("Imported a {}-row Salesforce export ({}):", report.rows, human_bytes(file_bytes));
        println!(
            "  {:.2} s: {:.0} rows/s, {:.1} MiB/s; {} accounts, keys {} domain, {} duns, {} name+country, {} postal code, {} phone",
            import_seconds,
            report.rows_per_second,
            report.megabytes_per_second,
            report.accounts,
            report.keys[0],
            report.keys[1],
            report.keys[2],
            report.keys[3],
            report.keys[4]
        );
        if let Some(p) = peak {
            println!("  peak memory (whole process) {} (target ≤ {})", human_bytes(p), human_bytes(TARGET_PEAK_BYTES));
        }
    }
    if !report.meets_target {
        bail!("peak memory above the target: the importer must not hold the file");
    }
    Ok(())
}

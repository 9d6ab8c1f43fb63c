//! Writes a corpus to a folder and prints what it contains and how long it took.
//!
//! `cargo run --release -p blindmap-testkit --example corpus -- OUT_DIR [ROWS_PER_SIDE] [SEED] [harsh] [no-city]`

use std::time::Instant;
use std::{env, fs, path::PathBuf};

fn main() -> std::io::Result<()> {
    let mut args = env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "corpus".to_owned()));
    let mut settings = blindmap_testkit::Settings::default();
    if let Some(rows) = args.next() {
        settings.rows_per_side = rows.parse().expect("ROWS_PER_SIDE is a number");
    }
    if let Some(seed) = args.next() {
        settings.seed = seed.parse().expect("SEED is a number");
    }
    for flag in args {
        match flag.as_str() {
            "harsh" => {
                let harsh = blindmap_testkit::Settings::harsh();
                (settings.world, settings.noise) = (harsh.world, harsh.noise);
            }
            "no-city" => settings.city_columns = false,
            other => panic!("unknown flag {other}: harsh or no-city"),
        }
    }
    let started = Instant::now();
    let corpus = blindmap_testkit::generate(&settings);
    let took = started.elapsed();
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("salesforce.csv"), &corpus.salesforce_csv)?;
    fs::write(dir.join("hubspot.csv"), &corpus.hubspot_csv)?;
    let truth: String = corpus.truth.iter().map(|(a, r)| format!("{a},{r}\n")).collect();
    fs::write(dir.join("truth.csv"), format!("Account ID,Record ID\n{truth}"))?;
    let decoys: String = corpus.decoy_pairs.iter().map(|(a, r, k)| format!("{a},{r},{k:?}\n")).collect();
    fs::write(dir.join("decoys.csv"), format!("Account ID,Record ID,Kind\n{decoys}"))?;
    println!("{:#?}", corpus.stats);
    println!("generated {} rows per side in {:.1?}", settings.rows_per_side, took);
    Ok(())
}

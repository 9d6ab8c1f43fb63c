//! End-to-end tests of the `blindmap` binary: the README's main command on the shipped samples,
//! its outputs checked against a plaintext join, and its errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn blindmap(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindmap")).args(args).current_dir(dir).output().expect("runs")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `id → keys` of a sample file, read the way `match-files` reads it.
fn keys_of(path: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let mut keys = BTreeSet::new();
            for (h, v) in headers.iter().zip(r.iter()) {
                if ["domain", "duns", "name_country"].contains(&h) {
                    for part in v.split(';').map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()) {
                        keys.insert(format!("{h}:{part}"));
                    }
                }
            }
            (r[0].to_owned(), keys)
        })
        .collect()
}

#[test]
fn match_files_on_the_samples_writes_the_plaintext_join() {
    let dir = tempfile::tempdir().unwrap();
    let left = repo().join("samples/vendor.csv");
    let right = repo().join("samples/partner.csv");
    let out = dir.path().join("pairs.csv");
    let run = blindmap(
        &["match-files", left.to_str().unwrap(), right.to_str().unwrap(), "--out", out.to_str().unwrap()],
        dir.path(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("learned, its segments"), "{stdout}");
    assert!(stdout.contains("open_opportunities"), "{stdout}");

    // The pairs are exactly the records sharing a key, with the key types that matched.
    let (lk, rk) = (keys_of(&left), keys_of(&right));
    let mut expected = BTreeSet::new();
    for (l, lkeys) in &lk {
        for (r, rkeys) in &rk {
            let common: BTreeSet<&str> = lkeys.intersection(rkeys).map(|k| k.split(':').next().unwrap()).collect();
            if !common.is_empty() {
                expected.insert((l.clone(), r.clone(), common.into_iter().collect::<Vec<_>>().join("+")));
            }
        }
    }
    let mut reader = csv::Reader::from_path(&out).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["left_id", "right_id", "key_type"]);
    let got: BTreeSet<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned(), r[2].to_owned())
        })
        .collect();
    assert!(expected.len() >= 15, "the samples overlap");
    assert_eq!(got, expected);
    // One vendor account overlaps two partner records (two divisions of one company).
    assert_eq!(got.iter().filter(|(l, _, _)| l == "V-1002").count(), 2, "one-to-many is reported as such");
}

#[test]
fn match_files_json_reports_both_views_and_respects_levels() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(
        &[
            "match-files",
            repo().join("samples/vendor.csv").to_str().unwrap(),
            repo().join("samples/partner.csv").to_str().unwrap(),
            "--left-shares",
            "fields:owner",
            "--right-shares",
            "counts",
            "--json",
        ],
        dir.path(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    // The left side only learns counts: no pairs, thresholded cells.
    assert_eq!(v["left"]["pairs"].as_array().unwrap().len(), 0);
    let left_cells: Vec<&str> = v["left"]["matrix"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(left_cells.contains(&"<5"), "{left_cells:?}");
    // The right side learns its overlaps and the vendor's owner for each, nothing more.
    let pairs = v["right"]["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty());
    for p in pairs {
        let fields: Vec<&str> = p["right_fields"].as_array().unwrap().iter().map(|f| f[0].as_str().unwrap()).collect();
        assert_eq!(fields, ["owner"], "{p}");
    }
}

#[test]
fn errors_are_clear_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pairs.csv");
    let vendor = repo().join("samples/vendor.csv");

    let run = blindmap(&["match-files", vendor.to_str().unwrap(), "missing.csv", "--out", "pairs.csv"], dir.path());
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("cannot read missing.csv"), "{}", text(&run.stderr));
    assert!(!out.exists());

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,segment,domain\n1,customers,a.com\n2,customers,b.com,extra\n").unwrap();
    let run = blindmap(&["match-files", vendor.to_str().unwrap(), "bad.csv", "--out", "pairs.csv"], dir.path());
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("bad.csv, line 3") && stderr.contains("quote values"), "{stderr}");
    assert!(!out.exists(), "nothing is written when an input is bad");

    let run = blindmap(
        &[
            "match-files",
            vendor.to_str().unwrap(),
            vendor.to_str().unwrap(),
            "--right-shares",
            "counts",
            "--out",
            "p.csv",
        ],
        dir.path(),
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("--out needs --right-shares overlaps"));

    let run = blindmap(&["match-files", "a.csv", "b.csv", "--left-shares", "everything"], dir.path());
    assert_eq!(run.status.code(), Some(2), "usage errors exit 2");
    assert!(text(&run.stderr).contains("unknown level"));
}

#[test]
fn bench_psi_checks_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["bench", "psi", "--n", "1500", "--overlap", "0.3", "--json"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["correct"], true);
    assert_eq!(v["overlapping_pairs"], 450);
    assert!(v["ratio"].as_f64().unwrap() > 0.0);
    assert!(v["bytes_initiator_to_responder"].as_u64().unwrap() > 1500 * 32);
}

#[test]
fn help_describes_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["--help"], dir.path());
    let stdout = text(&run.stdout);
    assert!(stdout.contains("match-files") && stdout.contains("bench"), "{stdout}");
    let run = blindmap(&["match-files", "--help"], dir.path());
    let stdout = text(&run.stdout);
    assert!(stdout.contains("--left-shares") && stdout.contains("fields:NAME"), "{stdout}");
}

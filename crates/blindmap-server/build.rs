//! Embeds the partner page (spec §20) built by `scripts/partner-page.sh` when
//! `BLINDMAP_PARTNER_PAGE` names its folder (`target/partner-page`): the node then serves it at
//! `/join`. Without it the node is built without the page, and `/join` says how to build it —
//! the page needs a WebAssembly toolchain that a plain `cargo build` does not have. Each file is
//! embedded as it is and gzipped (served to browsers that accept it: the WebAssembly is 4.4 MB,
//! 1.35 MB gzipped).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// `file` gzipped into `out` (its name and `.gz`), deterministically (no name, no time).
fn gzipped(file: &Path, out: &Path) -> PathBuf {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&bytes).expect("gzip in memory");
    let name = format!("{}.gz", file.file_name().and_then(|n| n.to_str()).expect("a file name"));
    let path = out.join(name);
    std::fs::write(&path, encoder.finish().expect("gzip in memory")).expect("OUT_DIR is writable");
    path
}

fn main() {
    println!("cargo::rerun-if-env-changed=BLINDMAP_PARTNER_PAGE");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("partner_page.rs");
    let mut code = String::from("/// The partner page's files (name, bytes, gzipped), from `BLINDMAP_PARTNER_PAGE`.\n");
    code.push_str("pub(crate) static FILES: &[(&str, &[u8], &[u8])] = &[\n");
    if let Some(dir) = std::env::var_os("BLINDMAP_PARTNER_PAGE").filter(|d| !d.is_empty()) {
        let dir = std::fs::canonicalize(PathBuf::from(&dir))
            .unwrap_or_else(|e| panic!("BLINDMAP_PARTNER_PAGE={}: {e}", PathBuf::from(&dir).display()));
        println!("cargo::rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable folder").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        assert!(
            files.iter().any(|f| f.ends_with("index.html")) && files.iter().any(|f| f.ends_with("manifest.json")),
            "BLINDMAP_PARTNER_PAGE={}: no index.html and manifest.json; run scripts/partner-page.sh",
            dir.display()
        );
        for file in files {
            let name = file.file_name().and_then(|n| n.to_str()).expect("file names in UTF-8");
            let gz = gzipped(&file, &out_dir);
            writeln!(
                code,
                "    ({name:?}, include_bytes!({:?}), include_bytes!({:?})),",
                file.display().to_string(),
                gz.display().to_string()
            )
            .expect("a string");
        }
    }
    code.push_str("];\n");
    std::fs::write(&out, code).expect("OUT_DIR is writable");
}

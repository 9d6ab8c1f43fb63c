//! The reference data of `protocol-spec/keys.md` §6 is what the code uses: every file in
//! `protocol-spec/data/` has the SHA-256 that keys.md states (and keys.md states one for every
//! file), the `psl` version keys.md names is the one in Cargo.lock, and every rule of the Public
//! Suffix List copy there is a rule of the list compiled into `psl`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn keys_md() -> String {
    std::fs::read_to_string(root().join("protocol-spec/keys.md")).unwrap()
}

/// keys.md §6's table rows: `` | `file` | … | `sha256` | ``.
fn stated_hashes(text: &str) -> BTreeMap<String, String> {
    let section = text.split("\n## 6. ").nth(1).expect("keys.md has a §6");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells[1].trim_matches('`').to_owned();
            let hash = cells[cells.len() - 2].trim_matches('`').to_owned();
            (file, hash)
        })
        .collect()
}

#[test]
fn every_list_has_the_hash_keys_md_states() {
    let stated = stated_hashes(&keys_md());
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("protocol-spec/data")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let digest = Sha256::digest(std::fs::read(&path).unwrap());
        found.insert(name, digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        stated.keys().collect::<Vec<_>>(),
        "keys.md §6 lists exactly the files of protocol-spec/data"
    );
    for (file, hash) in &found {
        assert_eq!(&stated[file], hash, "{file}: its SHA-256 is not the one keys.md §6 states");
    }
}

#[test]
fn the_psl_version_is_the_one_in_cargo_lock() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"psl\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"'))
        .expect("psl in Cargo.lock");
    let text = keys_md();
    let stated = text
        .split("the `psl` crate, version `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("keys.md names the psl version");
    assert_eq!(stated, locked, "update keys.md §6 (version, list copy and hash) with the psl crate");
}

/// Each line of the copy is a rule of the compiled list: a name under a wildcard rule is a public
/// suffix itself, an exception's parent is its suffix, and any other rule is its own suffix.
#[test]
fn the_public_suffix_list_copy_is_the_compiled_one() {
    let text = std::fs::read_to_string(root().join("protocol-spec/data/public_suffix_list.txt")).unwrap();
    let ascii = |rule: &str| idna::domain_to_ascii(rule).unwrap_or_else(|e| panic!("{rule}: {e:?}"));
    let mut rules = 0;
    for rule in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")) {
        rules += 1;
        let (name, want) = if let Some(exception) = rule.strip_prefix('!') {
            let name = ascii(exception);
            let parent = name.split_once('.').expect("an exception has a parent").1.to_owned();
            (name, parent)
        } else if let Some(under) = rule.strip_prefix("*.") {
            let name = format!("blindmap-probe.{}", ascii(under));
            (name.clone(), name)
        } else {
            let name = ascii(rule);
            (name.clone(), name)
        };
        let suffix = psl::suffix(name.as_bytes()).unwrap_or_else(|| panic!("{rule}: no suffix"));
        assert!(suffix.is_known(), "{rule}: not a rule of the compiled list");
        assert_eq!(std::str::from_utf8(suffix.as_bytes()).unwrap(), want, "{rule}");
    }
    assert!(rules > 9000, "{rules} rules");
}

//! Registration pre-check vectors (spec §17), read from `protocol-spec/vectors/precheck.json`:
//! each case fixes the asker's keys, places, blinds and padding, and the vendor's key seed and
//! claimed keys, and lists the query's elements, the answer and the result.
//!
//! The file is written by this same test with `BLINDMAP_WRITE_VECTORS=1`; without it the test
//! checks it, and checks an independent path to the same bytes: each claimed tag is the RFC 9497
//! `Evaluate` of the key under the derived key, cut to 16 bytes.

use std::path::{Path, PathBuf};

use blindmap_psi::oprf::{Blind, OprfKey};
use blindmap_psi::{KeyType, MatchKey, PrecheckAnswer, PrecheckQuery, answer_precheck_with_seed};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Case {
    description: String,
    /// The asker's customer keys, `[type, value]`.
    keys: Vec<[String; 2]>,
    /// Where each query element goes: the first `keys.len()` entries are the keys' places.
    places: [usize; 8],
    /// One blind per key (a scalar, little-endian, as RFC 9497 serializes it).
    blinds: Vec<String>,
    /// 64 bytes per padding element, mapped with `element_from_uniform` (RFC 9380
    /// `hash_to_ristretto255`'s map of a uniform string), in place order.
    padding: Vec<String>,
    /// The vendor's per-query `DeriveKeyPair` seed (info `blindmap precheck v1`).
    seed: String,
    /// The claimed customer keys, `[type, value]`.
    claimed_keys: Vec<[String; 2]>,
    /// The query.
    elements: Vec<String>,
    /// The answer: evaluated elements in query order.
    evaluated: Vec<String>,
    /// The answer: claimed outputs cut to 16 bytes, sorted.
    claimed: Vec<String>,
    /// What the asker concludes.
    result: bool,
}

fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-spec/vectors/precheck.json")
}

fn key(pair: &[String; 2]) -> MatchKey {
    MatchKey::new(KeyType::new(&pair[0]).unwrap(), pair[1].as_str())
}

fn blind(i: usize) -> [u8; 32] {
    // A canonical scalar (below 2^248), non-zero.
    let mut b = [u8::try_from(0x11 * (i + 1)).unwrap(); 32];
    b[31] = 0;
    b
}

fn case(description: &str, keys: &[(&str, &str)], places: [usize; 8], claimed: &[(&str, &str)], n: u8) -> Case {
    let owned = |k: &[(&str, &str)]| k.iter().map(|(t, v)| [(*t).to_owned(), (*v).to_owned()]).collect::<Vec<_>>();
    let keys = owned(keys);
    let claimed_keys = owned(claimed);
    // Bytes in steps of 3 from a start of each string's own: no two strings are equal, nor is one
    // the other with its halves swapped (which the map, adding the images of the two halves, would
    // take to the same element).
    let padding: Vec<[u8; 64]> = (keys.len()..8)
        .map(|i| std::array::from_fn(|j| u8::try_from((usize::from(n) * 37 + i * 71 + j * 3) % 256).unwrap()))
        .collect();
    let mut c = Case {
        description: description.to_owned(),
        places,
        blinds: (0..keys.len()).map(|i| hex::encode(blind(i + usize::from(n)))).collect(),
        padding: padding.iter().map(hex::encode).collect(),
        seed: hex::encode([n; 32]),
        keys,
        claimed_keys,
        elements: Vec::new(),
        evaluated: Vec::new(),
        claimed: Vec::new(),
        result: false,
    };
    let (elements, answer, result) = compute(&c);
    c.elements = elements;
    c.evaluated = answer.evaluated.iter().map(hex::encode).collect();
    c.claimed = answer.claimed.iter().map(hex::encode).collect();
    c.result = result;
    c
}

/// Runs a case's inputs through the implementation.
fn compute(c: &Case) -> (Vec<String>, PrecheckAnswer, bool) {
    let keys: Vec<MatchKey> = c.keys.iter().map(key).collect();
    let blinds = c
        .blinds
        .iter()
        .map(|b| Blind::from_bytes_unchecked(hex::decode(b).unwrap().try_into().unwrap()).unwrap())
        .collect();
    let padding = c.padding.iter().map(|p| hex::decode(p).unwrap().try_into().unwrap()).collect();
    let (query, elements) = PrecheckQuery::with_randomness(&keys, &c.places, blinds, padding).unwrap();
    let claimed: Vec<MatchKey> = c.claimed_keys.iter().map(key).collect();
    let seed: [u8; 32] = hex::decode(&c.seed).unwrap().try_into().unwrap();
    let answer = answer_precheck_with_seed(&elements, &claimed, &seed).unwrap();
    let result = query.finish(&answer).unwrap();
    (elements.iter().map(hex::encode).collect(), answer, result)
}

fn cases() -> Vec<Case> {
    let claimed = [("domain", "acme.com"), ("duns", "150483782"), ("name_country", "US|globex")];
    vec![
        case("one key, claimed", &[("domain", "acme.com")], [5, 0, 1, 2, 3, 4, 6, 7], &claimed, 1),
        case(
            "three keys, none claimed",
            &[("domain", "initech.com"), ("duns", "804735132"), ("name_country", "US|initech")],
            [7, 2, 4, 0, 1, 3, 5, 6],
            &claimed,
            2,
        ),
        case(
            "two keys, the name claimed (the same name in another country would not be)",
            &[("domain", "globex.de"), ("name_country", "US|globex")],
            [0, 6, 1, 2, 3, 4, 5, 7],
            &claimed,
            3,
        ),
        case("nothing claimed at all", &[("domain", "acme.com")], [3, 0, 1, 2, 4, 5, 6, 7], &[], 4),
        case(
            "the padding fills the free places in ascending place order (0, 1, 4, 5, 7), not in the order \
             the permutation lists them (7, 5, 0, 4, 1)",
            &[("domain", "hooli.com"), ("duns", "150483782"), ("name_country", "US|hooli")],
            [6, 2, 3, 7, 5, 0, 4, 1],
            &claimed,
            5,
        ),
    ]
}

#[test]
fn precheck_vectors() {
    let computed = cases();
    if std::env::var_os("BLINDMAP_WRITE_VECTORS").is_some() {
        let mut text = serde_json::to_string_pretty(&computed).unwrap();
        text.push('\n');
        std::fs::write(path(), text).unwrap();
    }
    let stored: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    assert_eq!(stored, computed, "the vectors changed: regenerate them on purpose");
    assert_eq!(stored.iter().map(|c| c.result).collect::<Vec<_>>(), [true, false, true, false, true]);
    for c in &stored {
        // The claimed tags, by RFC 9497 Evaluate under the derived key directly.
        let seed: [u8; 32] = hex::decode(&c.seed).unwrap().try_into().unwrap();
        let sk = OprfKey::derive(&seed, b"blindmap precheck v1").unwrap();
        let mut tags: Vec<String> = c
            .claimed_keys
            .iter()
            .map(|k| hex::encode(&sk.evaluate(&key(k).oprf_input()).unwrap().as_bytes()[..16]))
            .collect();
        tags.sort();
        assert_eq!(tags, c.claimed, "{}", c.description);
        // Eight elements, no two equal: each padding string maps to an element of its own, so the
        // vector fixes which string fills which free place (spec §17: ascending place order).
        assert_eq!(c.elements.len(), 8);
        let distinct: std::collections::BTreeSet<&String> = c.elements.iter().collect();
        assert_eq!(distinct.len(), 8, "{}", c.description);
        let mut free: Vec<usize> = c.places[c.keys.len()..].to_vec();
        free.sort_unstable();
        for (padding, place) in c.padding.iter().zip(free) {
            let uniform: [u8; 64] = hex::decode(padding).unwrap().try_into().unwrap();
            let element = hex::encode(blindmap_psi::group::element_from_uniform(&uniform).compress().to_bytes());
            assert_eq!(c.elements[place], element, "{}: padding of place {place}", c.description);
        }
    }
}

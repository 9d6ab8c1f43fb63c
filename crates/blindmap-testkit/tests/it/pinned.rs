//! The default world is frozen: published benchmark figures and other tests were measured on these exact bytes,
//! so any change to what the default settings generate must show up here first, on purpose.

use blindmap_testkit::{Corpus, Noise, Settings, generate, write_large_salesforce_export};

/// FNV-1a, 64-bit: stable across Rust releases and platforms, unlike `DefaultHasher`.
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// One hash over both exports, the truth and the decoy pairs, each part closed by a byte no part contains.
fn digest(corpus: &Corpus) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    fnv(&mut h, corpus.salesforce_csv.as_bytes());
    fnv(&mut h, &[0xff]);
    fnv(&mut h, corpus.hubspot_csv.as_bytes());
    fnv(&mut h, &[0xff]);
    for (a, r) in &corpus.truth {
        fnv(&mut h, format!("{a},{r}\n").as_bytes());
    }
    fnv(&mut h, &[0xff]);
    for (a, r, kind) in &corpus.decoy_pairs {
        fnv(&mut h, format!("{a},{r},{kind:?}\n").as_bytes());
    }
    h
}

#[test]
fn default_world_is_byte_identical() {
    let corpus = generate(&Settings { rows_per_side: 2000, ..Settings::default() });
    assert_eq!(digest(&corpus), 0xf583_01c2_bed6_4587, "the default world at n = 2,000 changed");
    let clean = generate(&Settings { rows_per_side: 500, seed: 4, noise: Noise::none(), ..Settings::default() });
    assert_eq!(digest(&clean), 0xb9aa_d6c4_ba9f_a7cd, "the noiseless default world changed");
}

#[test]
fn default_world_at_the_published_size_is_byte_identical() {
    let corpus = generate(&Settings::default());
    assert_eq!(digest(&corpus), 0xe36b_8c1a_dfbf_5cbf, "the default world at n = 20,000 changed");
}

#[test]
fn large_export_is_byte_identical() {
    let mut out = Vec::new();
    write_large_salesforce_export(1000, 1, &mut out).unwrap();
    let mut h = 0xcbf2_9ce4_8422_2325;
    fnv(&mut h, &out);
    assert_eq!(h, 0x5c03_3ba4_573e_1ebb, "the streamed Salesforce export changed");
}

//! Secret state: zeroized when dropped (or on demand), and never shown by `Debug`.

use std::sync::Arc;

use blindmap_psi::oprf::{Blind, OprfKey, Output};
use blindmap_psi::{
    Dataset, DisclosurePolicy, KeyType, MatchKey, Record, SegmentLabel, Session, SessionConfig, SessionSeed,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn secret_types_zeroize_on_drop() {
    // `ZeroizeOnDrop` is only implemented by types whose `Drop` zeroizes them.
    zeroized_on_drop::<OprfKey>();
    zeroized_on_drop::<Blind>();
    zeroized_on_drop::<Output>();
    zeroized_on_drop::<SessionSeed>();
}

#[test]
fn zeroize_clears_the_bytes() {
    let mut key = OprfKey::derive(&[3; 32], b"zeroize").unwrap();
    assert_ne!(key.to_bytes(), [0; 32]);
    key.zeroize();
    assert_eq!(key.to_bytes(), [0; 32]);

    let mut blind = Blind::from_bytes_unchecked([9; 32]).unwrap();
    assert_eq!(blind.to_bytes(), [9; 32]);
    blind.zeroize();
    assert_eq!(blind.to_bytes(), [0; 32]);

    let mut seed = SessionSeed::from_bytes_unchecked([0x42; 32]);
    assert_eq!(seed.to_bytes(), [0x42; 32]);
    seed.zeroize();
    assert_eq!(seed.to_bytes(), [0; 32]);
}

#[test]
fn debug_shows_no_secret() {
    let key = OprfKey::derive(&[3; 32], b"debug").unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "OprfKey { .. }");
    assert!(!shown.contains(&hex::encode(key.to_bytes())));
    assert_eq!(format!("{:?}", Blind::from_bytes_unchecked([9; 32]).unwrap()), "Blind { .. }");
    let output = key.evaluate(b"domain:acme.com").unwrap();
    let shown = format!("{output:?}");
    assert_eq!(shown, "Output { .. }");
    assert!(!shown.contains(&hex::encode(&output.as_bytes()[..4])));
    assert_eq!(format!("{:?}", SessionSeed::from_bytes_unchecked([0x42; 32])), "SessionSeed { .. }");

    let record = Record::new("acct-1", SegmentLabel::new("customers").unwrap())
        .with_key(MatchKey::new(KeyType::new("domain").unwrap(), "secret-domain.example"));
    let data = Arc::new(Dataset::new(vec![record]).unwrap());
    let session = Session::initiator(
        data,
        DisclosurePolicy::default(),
        SessionConfig::default(),
        SessionSeed::from_bytes_unchecked([0x42; 32]),
    )
    .unwrap();
    let shown = format!("{session:?}");
    assert!(!shown.contains("4242") && !shown.contains("secret-domain") && !shown.contains("acct-1"), "{shown}");
}

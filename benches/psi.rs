//! Criterion benchmarks of the protocol's primitives and of a small session.
//!
//! `cargo bench --bench psi`. Full-size session figures come from `blindmap bench psi`, which
//! also measures the floor they are judged against.

use std::sync::Arc;

use blindmap_psi::oprf::{self, BlindedElement, OprfKey};
use blindmap_psi::{
    Dataset, DisclosurePolicy, KeyType, Level, MatchKey, PrecheckQuery, Record, SegmentLabel, Session, SessionConfig,
    SessionSeed, answer_precheck, floor_operations, group, run_in_process,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn primitives(c: &mut Criterion) {
    let key = OprfKey::derive(&[7; 32], b"bench").unwrap();
    let mut rng = rand::rng();
    let input = b"domain:account-12345.example.com";

    let mut g = c.benchmark_group("rfc9497");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hash_to_group", |b| b.iter(|| group::hash_to_group(input, oprf::HASH_TO_GROUP_DST)));
    g.bench_function("blind", |b| b.iter(|| oprf::blind(input, &mut rng).unwrap()));
    let (blind, blinded) = oprf::blind(input, &mut rng).unwrap();
    g.bench_function("blind_evaluate", |b| b.iter(|| key.blind_evaluate(&blinded)));
    let evaluated = key.blind_evaluate(&blinded);
    g.bench_function("finalize", |b| b.iter(|| oprf::finalize(input, &blind, &evaluated).unwrap()));
    g.bench_function("evaluate", |b| b.iter(|| key.evaluate(input).unwrap()));
    let bytes = blinded.to_bytes();
    g.bench_function("deserialize_element", |b| b.iter(|| BlindedElement::from_bytes(&bytes).unwrap()));
    g.finish();

    // The floor's work per element, batched and on all cores as sessions do it.
    let inputs: Vec<Vec<u8>> = (0..4096).map(|i| format!("domain:account-{i}.example.com").into_bytes()).collect();
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.sample_size(10);
    g.bench_function("hash_and_two_exponentiations_4096", |b| b.iter(|| floor_operations(&inputs)));
    g.finish();
}

fn dataset(n: usize, offset: usize) -> Arc<Dataset> {
    let domain = KeyType::new("domain").unwrap();
    let segment = SegmentLabel::new("accounts").unwrap();
    let records = (0..n)
        .map(|i| {
            Record::new(i.to_string(), segment.clone())
                .with_key(MatchKey::new(domain.clone(), format!("account-{}.example.com", i + offset)))
        })
        .collect();
    Arc::new(Dataset::new(records).unwrap())
}

fn session(c: &mut Criterion) {
    let (a, b) = (dataset(1000, 0), dataset(1000, 500));
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Elements(2000));
    g.sample_size(10);
    for (name, level) in [("counts", Level::Counts), ("overlaps", Level::Overlaps)] {
        let policy = DisclosurePolicy::new(level).with_min_partner_segment(1);
        g.bench_function(format!("mutual_{name}_1000x1000"), |bench| {
            bench.iter_batched(
                || {
                    let mut rng = rand::rng();
                    let i = Session::initiator(
                        Arc::clone(&a),
                        policy.clone(),
                        SessionConfig::default(),
                        SessionSeed::random(&mut rng),
                    )
                    .unwrap();
                    let r = Session::responder(
                        Arc::clone(&b),
                        policy.clone(),
                        SessionConfig::default(),
                        SessionSeed::random(&mut rng),
                    )
                    .unwrap();
                    (i, r)
                },
                |(i, r)| run_in_process(i, r).unwrap(),
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

/// The registration pre-check (spec §17): the asker's query and reading of the answer, and the
/// vendor's answer, which evaluates every claimed key under the query's fresh key. Target: an
/// answer over 10,000 claimed keys within 0.5 s on one core.
fn precheck(c: &mut Criterion) {
    let mut rng = rand::rng();
    let domain = KeyType::new("domain").unwrap();
    let asked = [MatchKey::new(domain.clone(), "acme.com"), MatchKey::new(domain.clone(), "acme.de")];
    let mut g = c.benchmark_group("precheck");
    g.bench_function("query_2_keys", |b| b.iter(|| PrecheckQuery::new(&asked, &mut rng).unwrap()));
    for n in [1_000usize, 10_000] {
        let claimed: Vec<MatchKey> = (0..n).map(|i| MatchKey::new(domain.clone(), format!("c{i}.com"))).collect();
        let (_, elements) = PrecheckQuery::new(&asked, &mut rng).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10);
        g.bench_function(format!("answer_{n}_claimed"), |b| {
            b.iter(|| answer_precheck(&elements, &claimed, &mut rng).unwrap())
        });
        let answer = answer_precheck(&elements, &claimed, &mut rng).unwrap();
        g.bench_function(format!("finish_{n}_claimed"), |b| {
            b.iter_batched(
                || PrecheckQuery::new(&asked, &mut rand::rng()).unwrap().0,
                |query| query.finish(&answer).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, primitives, session, precheck);
criterion_main!(benches);

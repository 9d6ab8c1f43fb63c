//! Criterion benchmarks of the importer: the normalisers one value at a time, and whole exports
//! read from memory through the Salesforce and HubSpot presets.
//!
//! `cargo bench --bench import`. File-size figures (10 million rows, peak memory) come from
//! `blindmap bench import`.

use blindmap_records::normalise::{company_name, country, domain, duns};
use blindmap_records::{Importer, Preset};
use blindmap_testkit::{Settings, generate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn normalisers(c: &mut Criterion) {
    let mut g = c.benchmark_group("normalise");
    g.throughput(Throughput::Elements(1));
    g.bench_function("domain_url", |b| b.iter(|| domain("https://www.Shop.Acme-Robotics.co.uk/about?utm=x")));
    g.bench_function("domain_idn", |b| b.iter(|| domain("https://www.müller-technik.de/impressum")));
    g.bench_function("company_name_ascii", |b| {
        b.iter(|| company_name("The Acme Robotics Holdings Co., Ltd.", Some("US")))
    });
    g.bench_function("company_name_accents", |b| {
        b.iter(|| company_name("Société Générale d'Équipement S.A.S.", Some("FR")))
    });
    g.bench_function("country", |b| b.iter(|| country("United States of America")));
    g.bench_function("duns", |b| b.iter(|| duns("00-123-4567")));
    g.finish();
}

fn exports(c: &mut Criterion) {
    let corpus = generate(&Settings { rows_per_side: 5_000, ..Settings::default() });
    let mut g = c.benchmark_group("import");
    g.sample_size(20);
    for (name, text, preset) in [
        ("salesforce_5000_rows", &corpus.salesforce_csv, Preset::Salesforce),
        ("hubspot_5000_rows", &corpus.hubspot_csv, Preset::Hubspot),
    ] {
        let mapping = preset.mapping();
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut importer = Importer::new("bench", text.as_bytes(), &mapping).unwrap();
                let mut accounts = 0;
                while importer.next_account().unwrap().is_some() {
                    accounts += 1;
                }
                accounts
            })
        });
    }
    g.finish();
}

criterion_group!(benches, normalisers, exports);
criterion_main!(benches);

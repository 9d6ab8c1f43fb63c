//! The streaming Salesforce export for import-at-scale tests.

use std::io::{self, Write};

use crate::company::{self, Company};
use crate::export::{self, Columns, RowCtx};
use crate::util::{Stream, hash, rng_for};
use crate::{Gaps, Noise, NoiseCounts, countries, names};

/// Rows are gathered into batches of about this many bytes before reaching the writer.
const BATCH: usize = 64 * 1024;
/// How far back a duplicate row looks for the company it divides.
const DUPLICATE_REACH: u64 = 1000;

/// The company of row `index`, derived from nothing else.
fn company(seed: u64, index: u64) -> Company {
    let mut rng = rng_for(seed, Stream::LargeCompany, index);
    let country = countries::draw(&mut rng);
    let brand = names::brand(&mut rng, country);
    let duns = company::duns(&mut rng);
    company::build(&mut rng, brand, country, duns, &mut |_| false)
}

/// Whether row `index` is a second record of an earlier row's company; decided by hash so any row can ask it of
/// any other without generating it.
fn is_duplicate(seed: u64, index: u64, rate: f64) -> bool {
    let unit = (hash(seed, Stream::LargeRow, index) >> 11) as f64 / (1u64 << 53) as f64;
    index > 0 && unit < rate
}

/// [`crate::write_large_salesforce_export`] with the given noise (e.g. without the long descriptions, which
/// make up about half the bytes at the default rate).
pub fn write_large_salesforce_export_with(rows: u64, seed: u64, noise: &Noise, out: &mut impl Write) -> io::Result<()> {
    let mut buf = String::with_capacity(BATCH + 32 * 1024);
    export::salesforce_start(&mut buf, Columns::DEFAULT);
    // Counted only because the row writers count; nobody reads them here.
    let mut counts = NoiseCounts::default();
    let mut gaps = Gaps::default();
    for index in 0..rows {
        let mut rng = rng_for(seed, Stream::LargeRow, index);
        let division = is_duplicate(seed, index, noise.duplicate_rows);
        let mut of = index;
        if division {
            // Point at an earlier row that is itself a first record, so each company's rows agree on it.
            of = index - 1 - hash(seed, Stream::Ids, index) % index.min(DUPLICATE_REACH);
            while of > 0 && is_duplicate(seed, of, noise.duplicate_rows) {
                of -= 1;
            }
        }
        let id = export::salesforce_row_id(seed, index);
        export::salesforce_row(
            &mut buf,
            &mut rng,
            &company(seed, of),
            &RowCtx { id: &id, division, columns: Columns::DEFAULT },
            noise,
            &mut counts,
            &mut gaps,
        );
        if buf.len() >= BATCH {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    out.write_all(buf.as_bytes())
}

//! Streams a large Salesforce-shaped export to standard output and reports its pace on standard error.
//!
//! `cargo run --release -p blindmap-testkit --example large -- ROWS [SEED] > accounts.csv`

use std::io::{self, Write};
use std::time::Instant;

/// Counts what passes through, for the closing report.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(1_000_000, |r| r.parse().expect("ROWS is a number"));
    let seed: u64 = args.next().map_or(1, |s| s.parse().expect("SEED is a number"));
    let mut out = Counting { inner: io::stdout().lock(), bytes: 0 };
    let started = Instant::now();
    blindmap_testkit::write_large_salesforce_export(rows, seed, &mut out)?;
    out.flush()?;
    let took = started.elapsed();
    eprintln!("{rows} rows, {} bytes in {took:.1?} ({:.0} rows/s)", out.bytes, rows as f64 / took.as_secs_f64());
    Ok(())
}

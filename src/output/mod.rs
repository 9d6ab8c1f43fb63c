//! How the command line shows things: text from elsewhere made safe for a terminal, overlap
//! matrices, progress, sizes, overlapping accounts; and how it writes output files.

mod matrix;
mod progress;
mod term;

use std::path::Path;

use anyhow::Context;

pub(crate) use matrix::{MatrixView, uniform_level};
pub(crate) use progress::Progress;
pub(crate) use term::escaped;

/// A byte count as a person reads it: `980 B`, `12.4 KiB`, `3.1 MiB`, `1.02 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// One overlapping account as a line: the account, its segment, the partner's segment, why it
/// matched (its tier and what agreed) and the fields the partner shared.
pub(crate) fn account_line(
    account: &str,
    own_segment: &str,
    partner_segment: &str,
    reason: &str,
    partner_fields: &std::collections::BTreeMap<String, Option<String>>,
    partner: &str,
) -> String {
    let fields: Vec<String> =
        partner_fields.iter().filter_map(|(k, v)| Some(format!("{}={}", escaped(k), escaped(v.as_deref()?)))).collect();
    let fields = if fields.is_empty() { String::new() } else { format!("  [{}]", fields.join(", ")) };
    format!(
        "  {:<20} {} ↔ {}'s {}  {}{fields}",
        escaped(account),
        escaped(own_segment),
        escaped(partner),
        escaped(partner_segment),
        escaped(reason),
    )
}

/// "12 of your accounts overlap, in 13 pairs" (an account of yours that matches several of the
/// partner's records is one account in several pairs).
pub(crate) fn accounts_and_pairs(accounts: u64, pairs: u64) -> String {
    let verb = if accounts == 1 { "overlaps" } else { "overlap" };
    format!("{accounts} of your accounts {verb}, in {pairs} pair{}", if pairs == 1 { "" } else { "s" })
}

/// Writes `contents` to `path` through a temporary file in the same folder, renamed into place:
/// a failed run never leaves a half-written file.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    // As `std::fs::write` would create it: readable as the umask allows, not only by its owner.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, contents).with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the output into {}", path.display()))?;
    Ok(())
}

//! Reading CRM exports through the records crate: choosing a mapping, a progress bar while a file
//! imports, and the import summary as text.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use blindmap_psi::Dataset;
use blindmap_records::{Importer, Mapping, Preset, SegmentRule, Side, Summary, import_dataset, read_header};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::output::escaped;

/// How to read one file: a preset or mapping file, changed by flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceSpec {
    pub(crate) preset: Option<String>,
    pub(crate) mapping: Option<PathBuf>,
    pub(crate) maps: Vec<String>,
    pub(crate) segments: Vec<String>,
}

/// A loaded file: the dataset, what the import made of it, and how it was read.
pub(crate) struct Loaded {
    /// Shared with the session that matches it.
    pub(crate) dataset: Arc<Dataset>,
    pub(crate) summary: Summary,
    pub(crate) mapping: String,
}

/// The mapping a file is read with: the named preset, the mapping file, or the preset its header
/// fits; then the `--map` and `--segment` flags.
pub(crate) fn mapping_for(path: &Path, spec: &SourceSpec) -> anyhow::Result<Mapping> {
    let mut mapping = match (&spec.preset, &spec.mapping) {
        (Some(_), Some(_)) => {
            anyhow::bail!("give a preset or a mapping file, not both (a mapping file can name a preset)")
        }
        (Some(name), None) if name != "auto" => Preset::from_name(name).map(Preset::mapping).with_context(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            format!("unknown preset {name:?}; presets: {}, auto", names.join(", "))
        })?,
        (_, Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            Mapping::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        }
        (_, None) if !spec.maps.iter().any(|m| m.starts_with("id=")) => detect(path)?,
        (_, None) => Mapping::empty(),
    };
    for flag in &spec.maps {
        mapping.apply_flag(flag).map_err(|e| anyhow::anyhow!("--map {flag:?}: {e}"))?;
    }
    if !spec.segments.is_empty() {
        let rules = spec
            .segments
            .iter()
            .map(|r| SegmentRule::parse(r).map_err(|e| anyhow::anyhow!("--segment: {e}")))
            .collect::<anyhow::Result<_>>()?;
        mapping.set_segment_rules(rules);
    }
    Ok(mapping)
}

fn detect(path: &Path) -> anyhow::Result<Mapping> {
    let shown = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let header = read_header(&shown, BufReader::new(file), None)?;
    let preset = Preset::detect(&header).with_context(|| {
        format!(
            "{shown}: cannot tell which export this is from its header ({}); name one with --preset \
             (salesforce, hubspot, generic), or map the columns with --mapping FILE or --map ROLE=COLUMN",
            header.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
        )
    })?;
    Ok(preset.mapping())
}

/// Opens a file for reading with a progress bar over its bytes (drawn only on a terminal).
pub(crate) fn open_with_progress(
    path: &Path,
    verb: &str,
) -> anyhow::Result<(BufReader<impl std::io::Read>, ProgressBar)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    // The file's name is the bar's prefix, not part of its template: it is text from elsewhere
    // (escaped), and the template stays the fixed text it is checked as.
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {bar:32} {bytes}/{total_bytes}, {msg} {eta} left")
            .expect("valid template"),
    );
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    bar.set_prefix(format!("{verb} {}", escaped(&name)));
    Ok((BufReader::with_capacity(1 << 18, bar.wrap_read(file)), bar))
}

/// Imports a whole file for one side of a session: all of it, or nothing.
pub(crate) fn load(path: &Path, spec: &SourceSpec, side: Side) -> anyhow::Result<Loaded> {
    let mapping = mapping_for(path, spec)?;
    let (input, bar) = open_with_progress(path, "importing")?;
    let imported = import_dataset(&path.display().to_string(), input, &mapping, side, |summary| {
        if summary.rows.is_multiple_of(4096) {
            bar.set_message(format!("{} rows", summary.rows));
        }
    });
    bar.finish_and_clear();
    let imported = imported?;
    Ok(Loaded { dataset: Arc::new(imported.dataset), summary: imported.summary, mapping: mapping.name().to_owned() })
}

/// Streams a file through the importer without keeping anything: `on_header` sees the header,
/// `each` every account.
pub(crate) fn scan(
    path: &Path,
    mapping: &Mapping,
    on_header: impl FnOnce(&[String]),
    mut each: impl FnMut(&blindmap_records::Account),
) -> anyhow::Result<Summary> {
    let (input, bar) = open_with_progress(path, "reading")?;
    let result = (|| {
        let mut importer = Importer::new(&path.display().to_string(), input, mapping)?;
        on_header(importer.header());
        while let Some(account) = importer.next_account()? {
            each(&account);
            if importer.summary().rows.is_multiple_of(4096) {
                bar.set_message(format!("{} rows", importer.summary().rows));
            }
        }
        Ok::<_, blindmap_records::ImportError>(importer.summary().clone())
    })();
    bar.finish_and_clear();
    Ok(result?)
}

/// The summary as JSON.
#[derive(Serialize)]
pub(crate) struct SummaryView {
    rows: u64,
    blank_lines: u64,
    accounts: u64,
    keys: KeyCounts,
    rows_without_keys: LinesView,
    unsegmented_rows: LinesView,
    segments: Vec<(String, u64)>,
    values_not_used_as_keys: Vec<(String, u64)>,
    truncated_fields: u64,
}

#[derive(Serialize)]
struct KeyCounts {
    domain: u64,
    duns: u64,
    name_country: u64,
    postal_code: u64,
    phone: u64,
}

#[derive(Serialize)]
struct LinesView {
    count: u64,
    lines: Vec<u64>,
}

impl SummaryView {
    pub(crate) fn of(s: &Summary) -> Self {
        let lines = |l: &blindmap_records::Lines| LinesView { count: l.count, lines: l.first.clone() };
        Self {
            rows: s.rows,
            blank_lines: s.blank_lines,
            accounts: s.accounts,
            keys: KeyCounts {
                domain: s.keys[0],
                duns: s.keys[1],
                name_country: s.keys[2],
                postal_code: s.keys[3],
                phone: s.keys[4],
            },
            rows_without_keys: lines(&s.without_keys),
            unsegmented_rows: lines(&s.unsegmented),
            segments: s.segments.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
            values_not_used_as_keys: s.dropped.iter().map(|(r, n)| (r.code().to_owned(), *n)).collect(),
            truncated_fields: s.truncated_fields,
        }
    }
}

/// How many line numbers the text summary shows per kind (JSON has up to `LISTED_LINES`).
const SHOWN_LINES: usize = 12;

/// The summary as text, indented under a heading the caller prints.
pub(crate) fn render_summary(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {} rows → {} accounts; keys: {} domain, {} duns, {} name+country; evidence: {} postal code, {} phone",
        s.rows, s.accounts, s.keys[0], s.keys[1], s.keys[2], s.keys[3], s.keys[4]
    );
    let segments: Vec<String> = s.segments.iter().map(|(l, n)| format!("{} {n}", escaped(l.as_str()))).collect();
    if !segments.is_empty() {
        let _ = writeln!(out, "  segments: {}", segments.join(", "));
    }
    for (rows, what) in [(&s.without_keys, "without any usable key"), (&s.unsegmented, "no segment rule placed")] {
        if rows.count > 0 {
            let shown: Vec<String> = rows.first.iter().take(SHOWN_LINES).map(ToString::to_string).collect();
            let more = if rows.count > shown.len() as u64 { ", …" } else { "" };
            let _ = writeln!(out, "  {} row(s) {what}, left out (lines {}{more})", rows.count, shown.join(", "));
        }
    }
    for (reason, n) in &s.dropped {
        let _ = writeln!(out, "  {n} value(s) not used as keys: {reason}");
    }
    if s.truncated_fields > 0 {
        let _ = writeln!(out, "  {} field value(s) cut to {} bytes", s.truncated_fields, blindmap_psi::MAX_FIELD_LEN);
    }
    if s.blank_lines > 0 {
        let _ = writeln!(out, "  {} blank line(s) skipped", s.blank_lines);
    }
    out
}

//! Overlap matrices as text and JSON.

use blindmap_psi::{Dataset, Level, Outcome};
use blindmap_records::Explanation;
use blindmap_server::api::runs::{LevelName, Matrix, MatrixCell, SegmentSize};
use serde::Serialize;

use super::term::escaped;

/// One party's matrix as text: its segments (rows) × the partner's (columns).
#[derive(Serialize)]
pub(crate) struct MatrixView {
    pub(crate) rows: Vec<String>,
    pub(crate) columns: Vec<String>,
    /// Cells as shown: a count, `<k`, `hidden`, or `n/a (<m rec)`; where the partner disclosed
    /// overlaps, the confirmed count and the possible beside it (`118 (+4 possible)`).
    pub(crate) cells: Vec<Vec<String>>,
    /// Per cell, how many of the counted records overlap by possible matches only (0 where the
    /// partner disclosed only a count).
    pub(crate) possible: Vec<Vec<u64>>,
    /// The level the partner disclosed for each cell.
    pub(crate) levels: Vec<Vec<LevelName>>,
}

impl MatrixView {
    /// The matrix of a local session's outcome.
    pub(crate) fn of(outcome: &Outcome, data: &Dataset, explanations: &[Explanation]) -> Self {
        let Matrix { rows, columns, cells } = Matrix::of(outcome, data, explanations);
        Self::new(&rows, &columns, &cells)
    }

    /// The matrix of a run's result (or of [`Matrix::of`]).
    pub(crate) fn new(rows: &[String], columns: &[SegmentSize], cells: &[Vec<MatrixCell>]) -> Self {
        let shown = |c: &MatrixCell| match (c.confirmed, c.possible.unwrap_or(0)) {
            (Some(confirmed), p) if p > 0 => with_possible(confirmed, p),
            _ => c.shown.clone(),
        };
        Self {
            rows: rows.to_vec(),
            columns: columns.iter().map(|c| c.segment.clone()).collect(),
            cells: cells.iter().map(|row| row.iter().map(shown).collect()).collect(),
            possible: cells.iter().map(|row| row.iter().map(|c| c.possible.unwrap_or(0)).collect()).collect(),
            levels: cells.iter().map(|row| row.iter().map(|c| c.level).collect()).collect(),
        }
    }

    /// A text table, columns as wide as their widest entry. Segment labels come from both
    /// parties' exports: they are escaped (see [`super::term`]) before anything is measured.
    pub(crate) fn render(&self) -> String {
        if self.rows.is_empty() || self.columns.is_empty() {
            return "  (no segments to compare)\n".into();
        }
        let escape_all = |texts: &[String]| -> Vec<String> { texts.iter().map(|t| escaped(t).into_owned()).collect() };
        let (rows, columns) = (escape_all(&self.rows), escape_all(&self.columns));
        let cells: Vec<Vec<String>> = self.cells.iter().map(|row| escape_all(row)).collect();
        let width = |text: &String| text.chars().count();
        let first = rows.iter().map(width).max().unwrap_or(0).max(8);
        let widths: Vec<usize> = columns
            .iter()
            .enumerate()
            .map(|(c, name)| cells.iter().map(|row| width(&row[c])).max().unwrap_or(0).max(width(name)))
            .collect();
        let mut out = format!("  {:first$}", "");
        for (name, w) in columns.iter().zip(&widths) {
            out.push_str(&format!("  {name:>w$}"));
        }
        out.push('\n');
        for (r, name) in rows.iter().enumerate() {
            out.push_str(&format!("  {name:first$}"));
            for (cell, w) in cells[r].iter().zip(&widths) {
                out.push_str(&format!("  {cell:>w$}"));
            }
            out.push('\n');
        }
        out
    }
}

/// A cell of listed accounts as shown: its confirmed count with the possible ones beside it.
fn with_possible(confirmed: u64, possible: u64) -> String {
    format!("{confirmed} (+{possible} possible)")
}

/// "counts", "overlaps", … when every cell has the same level, else "per cell".
pub(crate) fn uniform_level(outcome: &Outcome) -> String {
    let plan = outcome.received_plan();
    let mut names =
        (0..plan.rows()).flat_map(|r| (0..plan.cols()).map(move |c| (r, c))).map(|(r, c)| match plan.level(r, c) {
            Level::Fields(f) => {
                format!("fields ({})", f.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            }
            other => other.name().to_owned(),
        });
    let Some(first) = names.next() else { return "nothing".into() };
    if names.all(|n| n == first) { first } else { "per cell".into() }
}

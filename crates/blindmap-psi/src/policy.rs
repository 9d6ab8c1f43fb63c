//! Disclosure: what a party lets its partner learn, per pair of segments (spec §6).
//!
//! A [`DisclosurePolicy`] is written in terms of segment labels; at the start of a session it is
//! resolved against the partner's declared segments into a [`Plan`], which is sent to the
//! partner and fixes, cell by cell, what the partner will be able to compute. The plan's
//! derived structure (key classes and fields groups, spec §6.4–6.5) decides which keys the
//! sender uses, so that a level is enforced by what is sent.

use std::collections::HashMap;

use crate::error::InputError;
use crate::record::{FieldName, MAX_FIELDS, SegmentLabel};

/// What the receiver may learn about one (receiver segment, sender segment) cell (spec §6.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Nothing: the cell takes part in nothing.
    Hidden,
    /// The number of the receiver's records that overlap, not which ones.
    Counts,
    /// Which of the receiver's records overlap, and the sender's segment for each.
    Overlaps,
    /// As `Overlaps`, plus these fields of the sender's matching records.
    Fields(Vec<FieldName>),
}

impl Level {
    /// The level's code on the wire (spec §8.5).
    pub(crate) fn code(&self) -> u8 {
        match self {
            Self::Hidden => 0,
            Self::Counts => 1,
            Self::Overlaps => 2,
            Self::Fields(_) => 3,
        }
    }

    pub(crate) fn visibility(&self) -> Visibility {
        match self {
            Self::Hidden => Visibility::Hidden,
            Self::Counts => Visibility::Shuffled,
            Self::Overlaps | Self::Fields(_) => Visibility::Ordered,
        }
    }

    /// A short name: `hidden`, `counts`, `overlaps` or `fields`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hidden => "hidden",
            Self::Counts => "counts",
            Self::Overlaps => "overlaps",
            Self::Fields(_) => "fields",
        }
    }
}

/// How a sender returns the receiver's elements for one key class (spec §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Visibility {
    /// Not at all.
    Hidden,
    /// Shuffled within the segment: the counts level.
    Shuffled,
    /// In the receiver's order: the overlaps and fields levels.
    Ordered,
}

/// A rule of a policy: a level for segment pairs matching the given labels (`None` = any).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    own: Option<SegmentLabel>,
    partner: Option<SegmentLabel>,
    level: Level,
}

/// What a party discloses to a partner, written with segment labels (spec §6.2).
///
/// The most specific rule wins: an (own, partner) pair, then an own segment, then a partner
/// segment, then the default. The default policy discloses counts, shows cells below 5 as
/// "fewer than 5", and serves no partner segment smaller than 5 records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosurePolicy {
    default: Level,
    rules: Vec<Rule>,
    threshold: u32,
    min_partner_segment: u32,
}

/// The default minimum count shown exactly at the counts level.
pub const DEFAULT_THRESHOLD: u32 = 5;
/// The default smallest partner segment served.
pub const DEFAULT_MIN_PARTNER_SEGMENT: u32 = 5;

impl Default for DisclosurePolicy {
    fn default() -> Self {
        Self::new(Level::Counts)
    }
}

impl DisclosurePolicy {
    /// A policy with this level for every pair and the default threshold and minimum.
    pub fn new(default: Level) -> Self {
        Self {
            default,
            rules: Vec::new(),
            threshold: DEFAULT_THRESHOLD,
            min_partner_segment: DEFAULT_MIN_PARTNER_SEGMENT,
        }
    }

    /// Sets the level for one own segment against one partner segment (either may be `None`
    /// for "any"). A later rule for the same pair replaces an earlier one.
    pub fn with_rule(
        mut self,
        own: Option<SegmentLabel>,
        partner: Option<SegmentLabel>,
        level: Level,
    ) -> Result<Self, InputError> {
        if let Level::Fields(fields) = &level
            && fields.len() > MAX_FIELDS
        {
            return Err(InputError::TooManyFields { count: fields.len(), limit: MAX_FIELDS });
        }
        self.rules.retain(|r| !(r.own == own && r.partner == partner));
        self.rules.push(Rule { own, partner, level });
        Ok(self)
    }

    /// Counts below `k` are shown as "fewer than k" (spec §6.3). `0` and `1` show every count.
    pub fn with_threshold(mut self, k: u32) -> Self {
        self.threshold = k;
        self
    }

    /// Partner segments with fewer records than this are served nothing (spec §6.3).
    pub fn with_min_partner_segment(mut self, records: u32) -> Self {
        self.min_partner_segment = records;
        self
    }

    /// spec §9.7: a Bloom filter answers membership in order only, so a policy served through
    /// one may give overlaps (or hide), never counts (shuffled points could be unblinded record by
    /// record) or fields — checked over the default and every rule, before any segment is known.
    pub(crate) fn check_bloom(&self) -> Result<(), InputError> {
        let mut levels = std::iter::once(&self.default).chain(self.rules.iter().map(|r| &r.level));
        if levels.any(|l| matches!(l, Level::Counts | Level::Fields(_))) {
            return Err(InputError::BloomLevel);
        }
        Ok(())
    }

    /// The count threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The smallest partner segment served.
    pub fn min_partner_segment(&self) -> u32 {
        self.min_partner_segment
    }

    /// The level this policy gives to (own segment, partner segment).
    pub fn level(&self, own: &SegmentLabel, partner: &SegmentLabel) -> &Level {
        let mut best: Option<(u8, &Level)> = None;
        for rule in &self.rules {
            let rank = match (&rule.own, &rule.partner) {
                (Some(o), Some(p)) if o == own && p == partner => 3,
                (Some(o), None) if o == own => 2,
                (None, Some(p)) if p == partner => 1,
                (None, None) => 0,
                _ => continue,
            };
            if best.is_none_or(|(r, _)| rank >= r) {
                best = Some((rank, &rule.level));
            }
        }
        best.map_or(&self.default, |(_, level)| level)
    }

    /// Resolves the policy against the partner's segments into the plan sent to it (spec §6.3).
    ///
    /// Cells become hidden where the partner does not ask to learn, or where its segment has
    /// fewer records than the minimum served.
    pub(crate) fn resolve(
        &self,
        own: &[SegmentLabel],
        partner: &[(SegmentLabel, u32)],
        partner_learns: bool,
        bloom: bool,
    ) -> Plan {
        debug_assert!(!bloom || self.check_bloom().is_ok(), "sessions refuse such policies up front");
        let mut cells = Vec::with_capacity(own.len() * partner.len());
        for (label, records) in partner {
            let served = partner_learns && *records >= self.min_partner_segment;
            for own_label in own {
                cells.push(if served { self.level(own_label, label).clone() } else { Level::Hidden });
            }
        }
        Plan {
            rows: partner.len(),
            cols: own.len(),
            cells,
            threshold: self.threshold,
            min_segment: self.min_partner_segment,
            bloom,
        }
    }
}

/// A resolved policy as sent on the wire (spec §6.3, §8.5): what the sender discloses for every
/// (receiver segment, sender segment) cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// Row-major: `cells[row * cols + col]`.
    pub(crate) cells: Vec<Level>,
    pub(crate) threshold: u32,
    pub(crate) min_segment: u32,
    pub(crate) bloom: bool,
}

impl Plan {
    /// A plan as a reveal carries it (spec §20.6): `levels` row-major, rows the receiver's
    /// segments and columns the sender's, with its threshold and minimum segment; `None` unless
    /// there are `rows × cols` levels.
    pub fn from_levels(rows: usize, cols: usize, levels: Vec<Level>, threshold: u32, min_segment: u32) -> Option<Self> {
        (rows.checked_mul(cols) == Some(levels.len())).then_some(Self {
            rows,
            cols,
            cells: levels,
            threshold,
            min_segment,
            bloom: false,
        })
    }

    /// The level of (receiver segment `row`, sender segment `col`).
    pub fn level(&self, row: usize, col: usize) -> &Level {
        &self.cells[row * self.cols + col]
    }

    /// Number of receiver segments.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of sender segments.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Counts below this are shown as "fewer than k".
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The smallest receiver segment the sender serves.
    pub fn min_segment(&self) -> u32 {
        self.min_segment
    }

    /// Whether the sender serves Bloom filters instead of element lists (spec §9.7).
    pub fn bloom(&self) -> bool {
        self.bloom
    }

    /// Whether the receiver's segment `row` sees anything.
    pub(crate) fn row_visible(&self, row: usize) -> bool {
        (0..self.cols).any(|c| *self.level(row, c) != Level::Hidden)
    }

    /// Whether the sender's segment `col` is disclosed to anyone.
    pub(crate) fn col_visible(&self, col: usize) -> bool {
        (0..self.rows).any(|r| *self.level(r, col) != Level::Hidden)
    }

    /// Whether any cell of receiver segment `row` is at the overlaps or fields level.
    pub(crate) fn row_has_ordered(&self, row: usize) -> bool {
        (0..self.cols).any(|c| self.level(row, c).visibility() == Visibility::Ordered)
    }

    /// Whether any cell of receiver segment `row` is at the counts level.
    pub(crate) fn row_has_counts(&self, row: usize) -> bool {
        (0..self.cols).any(|c| *self.level(row, c) == Level::Counts)
    }

    /// The key classes and fields groups of spec §6.4–6.5.
    pub(crate) fn structure(&self) -> PlanStructure {
        // spec §6.4: sender segments with identical visibility columns share a key class.
        let mut class_of_col = Vec::with_capacity(self.cols);
        let mut class_vis: Vec<Vec<Visibility>> = Vec::new();
        let mut index: HashMap<Vec<Visibility>, u16> = HashMap::new();
        for col in 0..self.cols {
            let column: Vec<Visibility> = (0..self.rows).map(|row| self.level(row, col).visibility()).collect();
            #[allow(
                clippy::cast_possible_truncation,
                reason = "at most one class per column, columns <= MAX_SEGMENTS (64)"
            )]
            let next = class_vis.len() as u16;
            let class = *index.entry(column.clone()).or_insert_with(|| {
                class_vis.push(column);
                next
            });
            class_of_col.push(class);
        }
        // spec §6.5: one group per distinct (field list, receiver rows), over sender segments.
        let mut groups: Vec<FieldsGroup> = Vec::new();
        for col in 0..self.cols {
            let mut units: Vec<(Vec<FieldName>, Vec<bool>)> = Vec::new();
            for row in 0..self.rows {
                if let Level::Fields(fields) = self.level(row, col) {
                    match units.iter_mut().find(|(f, _)| f == fields) {
                        Some((_, rows)) => rows[row] = true,
                        None => {
                            let mut rows = vec![false; self.rows];
                            rows[row] = true;
                            units.push((fields.clone(), rows));
                        }
                    }
                }
            }
            for (fields, rows) in units {
                match groups.iter_mut().find(|g| g.fields == fields && g.rows == rows) {
                    Some(group) => group.cols.push(col),
                    None => groups.push(FieldsGroup { fields, rows, cols: vec![col] }),
                }
            }
        }
        PlanStructure { class_of_col, class_vis, groups }
    }
}

/// Derived from a [`Plan`]: which key the sender uses for what (spec §6.4–6.5).
#[derive(Clone, Debug)]
pub(crate) struct PlanStructure {
    /// The key class of each sender segment.
    pub(crate) class_of_col: Vec<u16>,
    /// For each class, how each receiver segment is served.
    pub(crate) class_vis: Vec<Vec<Visibility>>,
    /// Fields groups, each with its own OPRF key.
    pub(crate) groups: Vec<FieldsGroup>,
}

impl PlanStructure {
    /// Classes serving receiver segment `row` with `visibility`, in ascending class order.
    #[allow(clippy::cast_possible_truncation, reason = "at most one class per column, columns <= MAX_SEGMENTS (64)")]
    pub(crate) fn classes_for_row(&self, row: usize, visibility: Visibility) -> impl Iterator<Item = u16> + '_ {
        self.class_vis.iter().enumerate().filter(move |(_, vis)| vis[row] == visibility).map(|(c, _)| c as u16)
    }

    /// Groups whose keys evaluate receiver segment `row`, ascending.
    #[allow(clippy::cast_possible_truncation, reason = "at most one group per column, columns <= MAX_SEGMENTS (64)")]
    pub(crate) fn groups_for_row(&self, row: usize) -> impl Iterator<Item = u16> + '_ {
        self.groups.iter().enumerate().filter(move |(_, g)| g.rows[row]).map(|(i, _)| i as u16)
    }
}

/// Sender segments whose records are sealed under one OPRF key, for a set of receiver segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldsGroup {
    pub(crate) fields: Vec<FieldName>,
    pub(crate) rows: Vec<bool>,
    pub(crate) cols: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str) -> SegmentLabel {
        SegmentLabel::new(s).unwrap()
    }

    fn field(s: &str) -> FieldName {
        FieldName::new(s).unwrap()
    }

    #[test]
    fn most_specific_rule_wins() {
        let p = DisclosurePolicy::new(Level::Counts)
            .with_rule(None, Some(seg("customers")), Level::Hidden)
            .unwrap()
            .with_rule(Some(seg("customers")), None, Level::Overlaps)
            .unwrap()
            .with_rule(Some(seg("customers")), Some(seg("customers")), Level::Fields(vec![field("owner")]))
            .unwrap();
        assert_eq!(p.level(&seg("customers"), &seg("customers")), &Level::Fields(vec![field("owner")]));
        assert_eq!(p.level(&seg("customers"), &seg("prospects")), &Level::Overlaps);
        assert_eq!(p.level(&seg("prospects"), &seg("customers")), &Level::Hidden);
        assert_eq!(p.level(&seg("prospects"), &seg("prospects")), &Level::Counts);
    }

    /// A rule for any pair stands in for the default, and a later rule for a pair replaces the
    /// earlier one; a rule at least as specific as an earlier one wins over it.
    #[test]
    fn a_rule_for_every_pair_replaces_the_default() {
        let p = DisclosurePolicy::new(Level::Hidden).with_rule(None, None, Level::Overlaps).unwrap();
        assert_eq!(p.level(&seg("a"), &seg("b")), &Level::Overlaps);
        let p = p.with_rule(None, None, Level::Counts).unwrap();
        assert_eq!(p.level(&seg("a"), &seg("b")), &Level::Counts);
        assert_eq!(p.rules.len(), 1);
    }

    #[test]
    fn a_fields_level_names_at_most_max_fields() {
        let names = |n: usize| (0..n).map(|i| field(&format!("f{i}"))).collect::<Vec<_>>();
        let p = DisclosurePolicy::new(Level::Hidden);
        assert!(p.clone().with_rule(None, None, Level::Fields(names(MAX_FIELDS))).is_ok());
        assert_eq!(
            p.with_rule(None, None, Level::Fields(names(MAX_FIELDS + 1))).err(),
            Some(InputError::TooManyFields { count: MAX_FIELDS + 1, limit: MAX_FIELDS })
        );
    }

    #[test]
    fn levels_have_their_names() {
        let names: Vec<&str> =
            [Level::Hidden, Level::Counts, Level::Overlaps, Level::Fields(vec![])].iter().map(Level::name).collect();
        assert_eq!(names, ["hidden", "counts", "overlaps", "fields"]);
    }

    #[test]
    fn resolution_hides_small_segments_and_non_learners() {
        let p = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(10);
        let own = [seg("a")];
        let plan = p.resolve(&own, &[(seg("x"), 9), (seg("y"), 10)], true, false);
        assert_eq!(plan.level(0, 0), &Level::Hidden);
        assert_eq!(plan.level(1, 0), &Level::Overlaps);
        let plan = p.resolve(&own, &[(seg("y"), 10)], false, false);
        assert_eq!(plan.level(0, 0), &Level::Hidden);
    }

    /// The plan carries the policy's numbers and its shape: receiver segments are rows, sender
    /// segments columns, and a row with nothing but hidden cells sees nothing.
    #[test]
    fn a_plan_says_its_shape_and_numbers() {
        let p = DisclosurePolicy::new(Level::Overlaps)
            .with_rule(None, Some(seg("z")), Level::Hidden)
            .unwrap()
            .with_threshold(7)
            .with_min_partner_segment(3);
        let own = [seg("a"), seg("b"), seg("c")];
        let plan = p.resolve(&own, &[(seg("x"), 5), (seg("z"), 5)], true, true);
        assert_eq!((plan.rows(), plan.cols(), plan.threshold(), plan.min_segment()), (2, 3, 7, 3));
        assert!(plan.bloom());
        assert!(plan.row_visible(0) && !plan.row_visible(1));
        assert!((0..3).all(|c| plan.col_visible(c)));
        assert!(!p.resolve(&own, &[(seg("x"), 5)], true, false).bloom());
    }

    #[test]
    fn classes_group_identical_columns() {
        // Rows x, y; columns a, b, c: a and c are identical (overlaps, counts), b differs.
        let plan = Plan {
            rows: 2,
            cols: 3,
            cells: vec![
                Level::Overlaps,
                Level::Counts,
                Level::Fields(vec![field("f")]),
                Level::Counts,
                Level::Counts,
                Level::Counts,
            ],
            threshold: 5,
            min_segment: 1,
            bloom: false,
        };
        let s = plan.structure();
        assert_eq!(s.class_of_col, vec![0, 1, 0]);
        assert_eq!(s.classes_for_row(0, Visibility::Ordered).collect::<Vec<_>>(), vec![0]);
        assert_eq!(s.classes_for_row(0, Visibility::Shuffled).collect::<Vec<_>>(), vec![1]);
        assert_eq!(s.classes_for_row(0, Visibility::Hidden).count(), 0);
        assert_eq!(s.groups.len(), 1);
        assert_eq!(s.groups[0].cols, vec![2]);
        assert_eq!(s.groups[0].rows, vec![true, false]);
    }

    #[test]
    fn bloom_refuses_fields_and_counts() {
        for level in [Level::Fields(vec![field("owner")]), Level::Counts] {
            let p = DisclosurePolicy::new(level.clone()).with_min_partner_segment(0);
            assert_eq!(p.check_bloom().unwrap_err(), InputError::BloomLevel);
            // A rule alone is enough: any cell could come to use it.
            let p = DisclosurePolicy::new(Level::Overlaps).with_rule(Some(seg("a")), None, level).unwrap();
            assert_eq!(p.check_bloom().unwrap_err(), InputError::BloomLevel);
        }
        let p = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(0);
        assert!(p.check_bloom().is_ok());
        assert!(p.resolve(&[seg("a")], &[(seg("x"), 1)], true, true).bloom);
    }
}

//! What the partner shares with the vendor, as the page lets it choose (spec §20.6): a level per
//! segment of its own — the levels of `blindmap match --remote --shares` — against every
//! segment of the vendor's, and the threshold below which counts show as "fewer than k".
//!
//! ```json
//! {"default": "counts", "segments": {"customers": {"fields": ["owner"]}}, "threshold": 5}
//! ```
//!
//! A level is `"hidden"`, `"counts"`, `"overlaps"` or `{"fields": [names]}`, as the reveal
//! writes it (`blindmap_psi::json::CellLevel`).

use std::collections::BTreeMap;

use blindmap_psi::json::CellLevel;
use blindmap_psi::{DEFAULT_MIN_PARTNER_SEGMENT, DEFAULT_THRESHOLD, DisclosurePolicy, SegmentLabel};
use serde::Deserialize;

use crate::error::Error;

/// The partner's choice, as the page sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {
    /// The level of a segment not named in `segments`.
    default: CellLevel,
    /// Levels by the partner's own segment label.
    #[serde(default)]
    segments: BTreeMap<String, CellLevel>,
    /// Counts below this show as "fewer than k".
    #[serde(default = "default_threshold")]
    threshold: u32,
    /// The vendor's segments smaller than this are shown nothing.
    #[serde(default = "default_min_segment")]
    min_segment: u32,
}

fn default_threshold() -> u32 {
    DEFAULT_THRESHOLD
}

fn default_min_segment() -> u32 {
    DEFAULT_MIN_PARTNER_SEGMENT
}

impl Shares {
    /// The choice from the page's JSON, as a policy (every name checked).
    pub fn policy(json: &str) -> Result<DisclosurePolicy, Error> {
        let shares: Self = serde_json::from_str(json).map_err(|e| Error::Shares(e.to_string()))?;
        let mut policy = DisclosurePolicy::new(shares.default.level().map_err(Error::Shares)?)
            .with_threshold(shares.threshold)
            .with_min_partner_segment(shares.min_segment);
        for (label, level) in shares.segments {
            let label = SegmentLabel::new(&label).map_err(|e| Error::Shares(format!("segment {label:?}: {e}")))?;
            let level = level.level().map_err(Error::Shares)?;
            policy = policy.with_rule(Some(label), None, level).map_err(|e| Error::Shares(e.to_string()))?;
        }
        Ok(policy)
    }
}

//! Run budgets: what one side allows its partner to run against it, enforced by the side that
//! answers the run (the sender of what it discloses), before it discloses anything.
//!
//! - **How often**: at most one run against this side every `min_interval_minutes`, counted from
//!   the partner's previous run whatever became of it (an aborted run still cost this side its
//!   work). A run too soon is refused before any frame is read: `429` with `Retry-After`.
//! - **How much the partner's list may change**: the partner's hello (spec §8.4) declares its
//!   segments' sizes; if they differ from those of the partnership's previous complete run by
//!   more than `max_change_percent` (the sum over segments of the difference, against the
//!   previous total) the run is refused once the hello is read: `422`. Declared sizes are what a
//!   run shows before it discloses anything; a partner that swaps its list for another of the
//!   same size is not caught by them (see the README).
//! - **The smallest partner segment served**: the sharing policy's `min_partner_segment`, which
//!   the plan applies (spec §6.3): a smaller segment's row is refused, not the run.
//!
//! Each refusal is kept (`Store::record_refusal`) and audited; the partner's node fails its run
//! with this side's words, and its scheduler waits for `next_allowed_at` (the peer route
//! `GET /peer/v1/partnerships/{id}/budget`, spec §16.3).

use blindmap_psi::wire::{Frame, Message};
use blindmap_store::{Budget, Partnership, RefusalReason, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The longest interval a budget may set: 31 days.
pub(crate) const MAX_INTERVAL_MINUTES: u32 = 31 * 24 * 60;

/// Why a budget cannot be set.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BudgetError {
    /// A value is out of its range.
    #[error("{0}")]
    Invalid(String),
    /// The store failed (or the partnership is not the organisation's).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A budget as it is asked for.
pub(crate) struct BudgetChange {
    pub(crate) min_interval_minutes: u32,
    pub(crate) max_change_percent: Option<u32>,
    pub(crate) min_segment: u32,
}

/// Sets what `user`'s organisation allows its partner in `partnership` to run against it.
pub(crate) async fn set(
    store: &Store,
    user: &blindmap_store::User,
    partnership: &blindmap_store::PartnershipId,
    change: &BudgetChange,
) -> Result<Budget, BudgetError> {
    if change.min_interval_minutes > MAX_INTERVAL_MINUTES {
        return Err(BudgetError::Invalid(format!(
            "min_interval_minutes must be 0 (no limit) to {MAX_INTERVAL_MINUTES} (31 days)"
        )));
    }
    if change.max_change_percent.is_some_and(|p| p > 1000) {
        return Err(BudgetError::Invalid("max_change_percent must be 0 to 1000, or absent for no limit".into()));
    }
    if change.min_segment == 0 || change.min_segment > 1_000_000 {
        return Err(BudgetError::Invalid("min_segment must be 1 to 1,000,000 records".into()));
    }
    let budget = Budget {
        min_interval_minutes: change.min_interval_minutes,
        max_change_percent: change.max_change_percent,
        min_segment: change.min_segment,
        set_by: None,
        updated_at: None,
    };
    Ok(store.set_budget(&user.org, partnership, &budget, &user.name).await?)
}

/// What a side tells its partner's node of its budget (spec §16.3): the limits, and when the
/// partner's next run may start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PeerBudget {
    /// At most one run every so many minutes; 0 for no limit.
    pub(crate) min_interval_minutes: u32,
    /// The declared records may change by at most this percentage between runs; absent for no
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_change_percent: Option<u32>,
    /// The smallest partner segment served.
    pub(crate) min_segment: u32,
    /// When the partner's next run may start (Unix ms); absent when it may start now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next_allowed_at: Option<i64>,
}

/// This side's budget for `partnership` as its partner's node is told it.
pub(crate) async fn for_peer(store: &Store, partnership: &Partnership, now: i64) -> Result<PeerBudget, StoreError> {
    let budget = store.budget(&partnership.org, &partnership.id).await?;
    let next = next_allowed(store, partnership, &budget).await?.filter(|at| *at > now);
    Ok(PeerBudget {
        min_interval_minutes: budget.min_interval_minutes,
        max_change_percent: budget.max_change_percent,
        min_segment: budget.min_segment,
        next_allowed_at: next,
    })
}

/// When the partner's next run may start under `budget`: its previous run's start plus the
/// interval (none without a limit or a previous run).
async fn next_allowed(store: &Store, partnership: &Partnership, budget: &Budget) -> Result<Option<i64>, StoreError> {
    if budget.min_interval_minutes == 0 {
        return Ok(None);
    }
    let last = store.last_run_against(&partnership.org, &partnership.id).await?;
    Ok(last.map(|at| at + i64::from(budget.min_interval_minutes) * 60_000))
}

/// A run refused under the budget: kept, audited, and what the partner is told.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The partner's words.
    pub(crate) detail: String,
    /// Seconds until a run may start, for a run too soon.
    pub(crate) retry_after_secs: Option<u64>,
}

/// Refuses a run that comes sooner after the partner's previous one than the budget allows.
pub(crate) async fn check_interval(
    store: &Store,
    partnership: &Partnership,
    budget: &Budget,
    now: i64,
) -> Result<Result<(), Refused>, StoreError> {
    let Some(next) = next_allowed(store, partnership, budget).await? else { return Ok(Ok(())) };
    if now >= next {
        return Ok(Ok(()));
    }
    let detail = format!(
        "{} allows one run against it every {}; the next may start at {}",
        store.organisation_name(&partnership.org).await?,
        minutes_in_words(budget.min_interval_minutes),
        time_in_words(next),
    );
    store.record_refusal(&partnership.org, &partnership.id, RefusalReason::TooSoon, &detail).await?;
    let wait = u64::try_from((next - now + 999) / 1000).unwrap_or(1).max(1);
    Ok(Err(Refused { detail, retry_after_secs: Some(wait) }))
}

/// Refuses a run whose hello (the first frame, `first`) declares segment sizes that changed from
/// the partnership's previous complete run by more than the budget allows. A first frame that
/// is not a hello is left to the session, which aborts on it.
pub(crate) async fn check_change(
    store: &Store,
    partnership: &Partnership,
    budget: &Budget,
    first: &[u8],
) -> Result<Result<(), Refused>, StoreError> {
    let Some(max) = budget.max_change_percent else { return Ok(Ok(())) };
    let Ok(Frame { message: Message::Hello(hello), .. }) = Frame::decode(first) else { return Ok(Ok(())) };
    let Some(previous) = store.latest_complete_run(&partnership.org, &partnership.id).await? else {
        return Ok(Ok(()));
    };
    let Some(result) = previous.result.and_then(|r| serde_json::from_value::<crate::api::runs::RunResult>(r).ok())
    else {
        return Ok(Ok(()));
    };
    let before: Vec<(String, u64)> = result.columns.iter().map(|c| (c.segment.clone(), c.records)).collect();
    let now: Vec<(String, u64)> = hello.segments.iter().map(|s| (s.label.to_string(), u64::from(s.records))).collect();
    let changed = change_percent(&before, &now);
    if changed <= f64::from(max) {
        return Ok(Ok(()));
    }
    let detail = format!(
        "{} allows the partner's declared records to change by at most {max}% between runs; they changed by {changed:.1}% \
         since the run of {} (ask its admins to raise the limit, or match the list matched before)",
        store.organisation_name(&partnership.org).await?,
        time_in_words(previous.started_at),
    );
    store.record_refusal(&partnership.org, &partnership.id, RefusalReason::TooMuchChange, &detail).await?;
    Ok(Err(Refused { detail, retry_after_secs: None }))
}

/// How much declared segment sizes changed, in percent of the previous total: the sum over
/// every segment either names of the difference (a segment one lacks counts as empty there).
pub(crate) fn change_percent(before: &[(String, u64)], now: &[(String, u64)]) -> f64 {
    let size = |list: &[(String, u64)], label: &str| list.iter().find(|(l, _)| l == label).map_or(0, |(_, n)| *n);
    let labels: std::collections::BTreeSet<&str> = before.iter().chain(now).map(|(l, _)| l.as_str()).collect();
    let moved: u64 = labels.iter().map(|l| size(before, l).abs_diff(size(now, l))).sum();
    let total: u64 = before.iter().map(|(_, n)| n).sum();
    // Counts of records, far below 2^52: exact as floats.
    #[allow(clippy::cast_precision_loss)]
    let percent = moved as f64 * 100.0 / total.max(1) as f64;
    percent
}

/// `90` → "90 minutes", `360` → "6 hours", `1440` → "day", `2880` → "2 days".
pub(crate) fn minutes_in_words(minutes: u32) -> String {
    match minutes {
        1440 => "day".to_owned(),
        60 => "hour".to_owned(),
        1 => "minute".to_owned(),
        m if m % 1440 == 0 => format!("{} days", m / 1440),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// A time (Unix ms) as RFC 3339 in UTC, to the second.
pub(crate) fn time_in_words(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms.div_euclid(1000) * 1000).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect()
    }

    #[test]
    fn a_change_counts_every_segment_either_side_names() {
        let before = sizes(&[("customers", 800), ("prospects", 200)]);
        assert_eq!(change_percent(&before, &before), 0.0);
        assert_eq!(change_percent(&before, &sizes(&[("customers", 850), ("prospects", 150)])), 10.0);
        // A segment renamed is one gone and one new.
        assert_eq!(change_percent(&before, &sizes(&[("customers", 800), ("leads", 200)])), 40.0);
        assert_eq!(change_percent(&[], &sizes(&[("customers", 5)])), 500.0, "nothing before: against one record");
    }

    #[test]
    fn intervals_and_times_read_as_words() {
        assert_eq!(minutes_in_words(360), "6 hours");
        assert_eq!(minutes_in_words(1440), "day");
        assert_eq!(minutes_in_words(2880), "2 days");
        assert_eq!(minutes_in_words(90), "90 minutes");
        assert_eq!(time_in_words(1_796_688_000_123), "2026-12-08T00:00:00Z");
    }
}

//! Retention: what an organisation no longer keeps is deleted (`Store::sweep`: runs beyond the
//! latest `keep_runs` per partnership, the datasets no kept run needs, per-account changes past
//! their days), after each of its runs and every hour on every replica (sweeps are idempotent:
//! two replicas sweeping at once delete each thing once).

use std::time::Duration;

use blindmap_store::{OrgId, Retention, Store, StoreError};
use tokio::sync::watch;

/// How often every organisation is swept, besides after its runs.
const EVERY: Duration = Duration::from_secs(3600);

/// The fewest complete runs a partnership keeps: its latest and the one before, which the pages'
/// "what changed" and lost accounts read.
pub(crate) const MIN_KEEP_RUNS: u32 = 2;
/// The most it may keep.
pub(crate) const MAX_KEEP_RUNS: u32 = 1000;
/// Days of per-account changes kept, at least and at most.
pub(crate) const CHANGE_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

/// Why retention cannot be set.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetentionError {
    /// A value out of its range.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets what `user`'s organisation keeps (admins), and sweeps at once.
pub(crate) async fn set(
    store: &Store,
    user: &blindmap_store::User,
    keep_runs: u32,
    change_days: u32,
) -> Result<Retention, RetentionError> {
    if !(MIN_KEEP_RUNS..=MAX_KEEP_RUNS).contains(&keep_runs) {
        return Err(RetentionError::Invalid(format!(
            "keep_runs must be {MIN_KEEP_RUNS} to {MAX_KEEP_RUNS}: a partnership keeps at least its latest run and the one before"
        )));
    }
    if !CHANGE_DAYS.contains(&change_days) {
        return Err(RetentionError::Invalid(format!(
            "change_days must be {} to {}",
            CHANGE_DAYS.start(),
            CHANGE_DAYS.end()
        )));
    }
    let set = store.set_retention(&user.org, keep_runs, change_days, &user.name).await?;
    sweep(store, &user.org).await;
    Ok(set)
}

/// Sweeps `org`, logging what went (or why it could not).
pub(crate) async fn sweep(store: &Store, org: &OrgId) {
    match store.sweep(org).await {
        Ok(swept) if swept != blindmap_store::Swept::default() => {
            tracing::info!(%org, runs = swept.runs, datasets = swept.datasets, changes = swept.changes,
                "deleted what the organisation no longer keeps");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%org, error = %e, "cannot sweep what the organisation no longer keeps"),
    }
}

/// Sweeps every organisation every hour, from the start, until `stop`.
pub(crate) async fn run_sweeps(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        match store.organisations().await {
            Ok(orgs) => {
                for org in orgs {
                    sweep(&store, &org.id).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list the organisations to sweep"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

//! Scheduled runs: a partnership's schedule (daily at a time of day in a time zone, every so
//! many hours, or after each new dataset), set by either side within what the other side allows
//! against it (its budget, `service::budgets`), and the worker that turns due runs into jobs and
//! drives them.
//!
//! Every replica runs the worker ([`run_jobs`]). Each second it makes the jobs of schedules that
//! are due (`Store::enqueue_job`: one per partnership and due time, whichever replica gets there
//! first) and, while it drives no scheduled run itself, takes the job due longest under a lease
//! (`Store::claim_job`). It then asks the partner's node when its next run may start (spec
//! §16.3) — a job due before that waits — starts the run as the scheduler, and watches it to
//! its end, renewing the lease. A run that fails is tried again later (after 5 minutes, then
//! 30), up to three attempts; a replica that dies stops renewing its lease, and another takes
//! the job over (its run, left running, is failed by its stopped heartbeat first).

use std::sync::Arc;
use std::time::Duration;

use blindmap_store::{
    Job, JobEnd, Partnership, PartnershipId, PartnershipState, Run, RunState, Schedule, ScheduleKind, Store, StoreError,
};
use tokio::sync::watch;

use crate::NodeContext;
use crate::service::budgets::{PeerBudget, minutes_in_words, time_in_words};
use crate::service::runs::StartError;

/// Who scheduled runs are started by, in runs and the audit trail.
pub(crate) const SCHEDULER: &str = "blindmap (scheduled)";

/// The shortest interval of an `every` schedule: an hour.
pub(crate) const MIN_EVERY_MINUTES: u32 = 60;
/// The longest: 31 days.
pub(crate) const MAX_EVERY_MINUTES: u32 = 31 * 24 * 60;

/// How long a job stays a replica's unless it renews its lease (ms).
const JOB_LEASE_MS: i64 = 60_000;

/// How often the worker looks for due runs and free jobs.
const TICK: Duration = Duration::from_secs(1);

/// Attempts at a job before it is given up.
const ATTEMPTS: u32 = 3;

/// Why a schedule cannot be set.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScheduleError {
    /// A value is out of its range, or the time zone unknown.
    #[error("{0}")]
    Invalid(String),
    /// More often than the partner allows against it.
    #[error("{0}")]
    PartnerLimit(String),
    /// The partner starts runs itself (no node, or in its browser).
    #[error("{0} has no node to call: it starts runs itself, so this side cannot schedule them")]
    NoPartnerNode(String),
    /// The partnership has ended.
    #[error("the partnership with {0} has ended")]
    Ended(String),
    /// The partner's node could not tell its limits.
    #[error("cannot read what {partner} allows against it: {error}; try again when its node answers")]
    Partner {
        /// The partner's name.
        partner: String,
        /// Why.
        error: String,
    },
    /// This process has no node identity (it cannot ask partners).
    #[error("this API instance runs without a node identity and cannot call partners")]
    NoNode,
    /// The store failed (or the partnership is not the organisation's).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a schedule's values: a time of day within the day, a time zone the node knows, an
/// interval from an hour to 31 days.
pub(crate) fn check(kind: &ScheduleKind) -> Result<(), ScheduleError> {
    match kind {
        ScheduleKind::Daily { at_minute, zone } => {
            if *at_minute >= 24 * 60 {
                return Err(ScheduleError::Invalid("at must be a time of day, 00:00 to 23:59".into()));
            }
            jiff::tz::TimeZone::get(zone).map_err(|_| {
                ScheduleError::Invalid(format!(
                    "{zone:?} is not a time zone this node knows: use an IANA name such as UTC or Europe/Berlin"
                ))
            })?;
        }
        ScheduleKind::Every { minutes } => {
            if !(MIN_EVERY_MINUTES..=MAX_EVERY_MINUTES).contains(minutes) || minutes % 60 != 0 {
                return Err(ScheduleError::Invalid("every must be a whole number of hours, 1 to 744 (31 days)".into()));
            }
        }
        ScheduleKind::AfterDataset => {}
    }
    Ok(())
}

/// The first due time after `after` (Unix ms): the next time of day in the zone (a time the
/// zone skips that day is taken as the clock reads after the change), or `after` plus the
/// interval; none after each dataset.
pub(crate) fn next_due(kind: &ScheduleKind, after: i64) -> Option<i64> {
    match kind {
        ScheduleKind::Daily { at_minute, zone } => {
            let tz = jiff::tz::TimeZone::get(zone).ok()?;
            let now = jiff::Timestamp::from_millisecond(after).ok()?.to_zoned_datetime(tz.clone());
            let (hour, minute) = (i8::try_from(at_minute / 60).ok()?, i8::try_from(at_minute % 60).ok()?);
            let mut date = now.date();
            for _ in 0..3 {
                let at = date.at(hour, minute, 0, 0).to_zoned_datetime(tz.clone()).ok()?.timestamp().as_millisecond();
                if at > after {
                    return Some(at);
                }
                date = date.tomorrow().ok()?;
            }
            None
        }
        ScheduleKind::Every { minutes } => Some(after + i64::from(*minutes) * 60_000),
        ScheduleKind::AfterDataset => None,
    }
}

/// The shortest time between two runs a schedule of `kind` makes, in minutes (none after each
/// dataset: as often as datasets come).
fn interval_minutes(kind: &ScheduleKind) -> Option<u32> {
    match kind {
        ScheduleKind::Daily { .. } => Some(24 * 60),
        ScheduleKind::Every { minutes } => Some(*minutes),
        ScheduleKind::AfterDataset => None,
    }
}

/// Asks the partner's node what it allows against it (spec §16.3). `None` from a node that does
/// not publish its budget (an earlier version): it refuses runs itself if it must.
pub(crate) async fn partner_budget(
    node: &NodeContext,
    partnership: &Partnership,
) -> Result<Option<PeerBudget>, crate::client::ClientError> {
    let client = crate::client::PeerClient::to_partner(partnership, &node.identity)?;
    let path = format!("/peer/v1/partnerships/{}/budget", partnership.partner_ref);
    match client.get::<PeerBudget>(&path).await {
        Ok(budget) => Ok(Some(budget)),
        Err(crate::client::ClientError::Api { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets the schedule of `user`'s organisation's runs in `partnership`: checked, and no more often
/// than the partner allows against it (asked of its node now).
pub(crate) async fn set(
    store: &Store,
    node: Option<&NodeContext>,
    user: &blindmap_store::User,
    partnership: &PartnershipId,
    kind: &ScheduleKind,
) -> Result<Schedule, ScheduleError> {
    check(kind)?;
    let p = store.partnership(&user.org, partnership).await?;
    if p.state != PartnershipState::Active {
        return Err(ScheduleError::Ended(p.partner_name));
    }
    if p.in_browser() || p.partner_url.is_empty() {
        return Err(ScheduleError::NoPartnerNode(p.partner_name));
    }
    let node = node.ok_or(ScheduleError::NoNode)?;
    let budget = partner_budget(node, &p)
        .await
        .map_err(|e| ScheduleError::Partner { partner: p.partner_name.clone(), error: e.to_string() })?;
    if let (Some(budget), Some(interval)) = (&budget, interval_minutes(kind))
        && budget.min_interval_minutes > interval
    {
        return Err(ScheduleError::PartnerLimit(format!(
            "{} allows one run against it every {}: schedule runs no more often than that",
            p.partner_name,
            minutes_in_words(budget.min_interval_minutes)
        )));
    }
    let due = next_due(kind, crate::now_ms());
    Ok(store.set_schedule(&user.org, partnership, kind, due, &user.name).await?)
}

/// Makes the jobs of every schedule due at `now` (each due time once, on whichever replica).
async fn enqueue_due(store: &Store, now: i64) -> Result<(), StoreError> {
    for (schedule, dataset) in store.schedules_due(now).await? {
        let (due, next) = match &schedule.kind {
            ScheduleKind::AfterDataset => (now, None),
            kind => {
                let due = schedule.next_due_at.unwrap_or(now);
                // Due times missed while no replica ran make one job, not one each.
                let mut next = next_due(kind, due);
                while let Some(at) = next.filter(|at| *at <= now) {
                    next = next_due(kind, at);
                }
                (due, next)
            }
        };
        let dataset = matches!(schedule.kind, ScheduleKind::AfterDataset).then_some(dataset).flatten();
        if let Some(job) = store.enqueue_job(&schedule, due, next, dataset.as_deref()).await? {
            tracing::info!(%job, partnership = %schedule.partnership, "a scheduled run is due");
        }
    }
    Ok(())
}

/// The scheduler: on every replica, until `stop`, makes due runs' jobs and drives one job at a
/// time (see the module's documentation).
pub(crate) async fn run_jobs(store: Store, node: Arc<NodeContext>, mut stop: watch::Receiver<bool>) {
    let mut driving: Option<Driving> = None;
    loop {
        let now = crate::now_ms();
        if let Err(e) = enqueue_due(&store, now).await {
            tracing::warn!(error = %e, "cannot make the jobs of due schedules");
        }
        if driving.as_ref().is_none_or(|d| d.0.is_finished()) {
            match store.claim_job(&node.replica, now, JOB_LEASE_MS).await {
                Ok(Some(job)) => {
                    let (store, node, stop) = (store.clone(), Arc::clone(&node), stop.clone());
                    driving = Some(Driving(tokio::spawn(async move { drive_job(store, node, job, stop).await })));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot take a scheduled job"),
            }
        }
        let stopped = tokio::select! {
            () = tokio::time::sleep(TICK) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopped {
            if let Some(mut driving) = driving {
                let _ = (&mut driving.0).await;
            }
            return;
        }
    }
}

/// The attempt this replica drives: dropped with the worker (a node stopped at once), it stops.
struct Driving(tokio::task::JoinHandle<()>);

impl Drop for Driving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes one attempt at `job`, and records how it ended (unless its lease was lost to another
/// replica meanwhile).
async fn drive_job(store: Store, node: Arc<NodeContext>, job: Job, mut stop: watch::Receiver<bool>) {
    let end = tokio::select! {
        end = attempt(&store, &node, &job) => end,
        _ = stop.wait_for(|s| *s) => Some(JobEnd::Retry {
            at: crate::now_ms(),
            message: "the replica that held it shut down".into(),
        }),
    };
    let Some(end) = end else { return };
    match store.end_job(&job.id, &node.replica, &end).await {
        Ok(true) => tracing::info!(job = %job.id, end = ?end, "a scheduled job's attempt ended"),
        Ok(false) => tracing::info!(job = %job.id, "a scheduled job was taken over by another replica"),
        Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot record how a scheduled job's attempt ended"),
    }
}

/// One attempt at `job`: `None` if the job was lost to another replica.
async fn attempt(store: &Store, node: &NodeContext, job: &Job) -> Option<JobEnd> {
    let now = crate::now_ms();
    let retry_soon = |message: String| JobEnd::Retry { at: now + JOB_LEASE_MS, message };
    let partnership = match store.partnership(&job.org, &job.partnership).await {
        Ok(p) if p.state == PartnershipState::Active => p,
        Ok(p) => return Some(JobEnd::Failed(format!("the partnership with {} has ended", p.partner_name))),
        Err(e) => return Some(retry_soon(format!("cannot read the partnership: {e}"))),
    };
    match partner_budget(node, &partnership).await {
        Ok(Some(PeerBudget { next_allowed_at: Some(at), min_interval_minutes, .. })) if at > now => {
            return Some(JobEnd::Retry {
                at,
                message: format!(
                    "{} allows one run against it every {}: waiting until {}",
                    partnership.partner_name,
                    minutes_in_words(min_interval_minutes),
                    time_in_words(at)
                ),
            });
        }
        Ok(_) => {}
        Err(e) => {
            return Some(backoff(job, now, format!("{}'s node cannot be reached: {e}", partnership.partner_name)));
        }
    }
    let run = match crate::service::runs::initiate_as(store, Some(node), &job.org, SCHEDULER, &job.partnership, false)
        .await
    {
        Ok(run) => run,
        Err(StartError::Store(StoreError::RunInProgress)) => {
            return Some(retry_soon("a run with the partner was running: trying again shortly".into()));
        }
        Err(e @ (StartError::NoDataset | StartError::Sharing(_))) => return Some(JobEnd::Failed(e.to_string())),
        Err(e) => return Some(backoff(job, now, e.to_string())),
    };
    let ended = watch_run(store, node, job, &run).await?;
    let now = crate::now_ms();
    Some(match ended.state {
        RunState::Complete => JobEnd::Done,
        _ => {
            let why = ended.failure.unwrap_or_else(|| "it failed".into());
            match partner_budget(node, &partnership).await {
                Ok(Some(PeerBudget { next_allowed_at: Some(at), .. })) if at > now => {
                    JobEnd::Retry { at, message: format!("run {} failed: {why}", run.id) }
                }
                _ => backoff(job, now, format!("run {} failed: {why}", run.id)),
            }
        }
    })
}

/// Tried again after 5 minutes, then 30; given up after [`ATTEMPTS`].
fn backoff(job: &Job, now: i64, message: String) -> JobEnd {
    if job.attempts >= ATTEMPTS {
        return JobEnd::Failed(format!("{message} (gave up after {ATTEMPTS} attempts)"));
    }
    let wait = if job.attempts <= 1 { 5 * 60_000 } else { 30 * 60_000 };
    let at = now + wait;
    JobEnd::Retry { at, message: format!("{message}; trying again at {}", time_in_words(at)) }
}

/// Waits for `run` to end, renewing the job's lease. `None` if the lease was lost.
async fn watch_run(store: &Store, node: &NodeContext, job: &Job, run: &Run) -> Option<Run> {
    let renew_every = Duration::from_millis(JOB_LEASE_MS.unsigned_abs() / 3);
    let mut renewed = tokio::time::Instant::now();
    let mut first = true;
    loop {
        if first || renewed.elapsed() >= renew_every {
            let until = crate::now_ms() + JOB_LEASE_MS;
            match store.renew_job(&job.id, &node.replica, until, first.then_some(&run.id)).await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot renew a scheduled job's lease"),
            }
            renewed = tokio::time::Instant::now();
            first = false;
        }
        match store.run(&job.org, &run.id).await {
            Ok(now) if now.state != RunState::Running => return Some(now),
            Ok(_) => {}
            Err(e) => tracing::warn!(run = %run.id, error = %e, "cannot read a scheduled run"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_daily_schedule_is_due_at_its_time_of_day_in_its_zone() {
        let berlin = ScheduleKind::Daily { at_minute: 7 * 60 + 30, zone: "Europe/Berlin".into() };
        // 07:30 in Berlin is 06:30 UTC in winter, 05:30 in summer.
        assert_eq!(next_due(&berlin, ms("2026-12-07T22:00:00Z")), Some(ms("2026-12-08T06:30:00Z")));
        assert_eq!(next_due(&berlin, ms("2026-12-08T06:30:00Z")), Some(ms("2026-12-09T06:30:00Z")), "strictly after");
        assert_eq!(next_due(&berlin, ms("2026-07-01T04:00:00Z")), Some(ms("2026-07-01T05:30:00Z")));
        // On the night clocks go forward, 02:30 does not exist: it is taken as 03:30.
        let skipped = ScheduleKind::Daily { at_minute: 2 * 60 + 30, zone: "Europe/Berlin".into() };
        assert_eq!(next_due(&skipped, ms("2026-03-29T00:00:00Z")), Some(ms("2026-03-29T01:30:00Z")));
        let every = ScheduleKind::Every { minutes: 360 };
        assert_eq!(next_due(&every, 1_000), Some(1_000 + 6 * 3_600_000));
        assert_eq!(next_due(&ScheduleKind::AfterDataset, 1_000), None);
    }

    #[test]
    fn a_schedule_out_of_range_is_refused_with_why() {
        let bad_zone = ScheduleKind::Daily { at_minute: 60, zone: "Mars/Olympus".into() };
        assert!(check(&bad_zone).unwrap_err().to_string().contains("IANA"));
        assert!(check(&ScheduleKind::Daily { at_minute: 1440, zone: "UTC".into() }).is_err());
        assert!(check(&ScheduleKind::Every { minutes: 30 }).is_err());
        assert!(check(&ScheduleKind::Every { minutes: 90 }).is_err(), "whole hours");
        assert!(check(&ScheduleKind::Every { minutes: 745 * 60 }).is_err());
        assert!(check(&ScheduleKind::Every { minutes: 6 * 60 }).is_ok());
    }
}

//! Scheduled runs and run budgets (issue 18).
//!
//! A partnership's **schedule** says when this side starts runs with the partner by itself. The
//! store keeps it with the time its next run is due; the node computes those times (time zones
//! are its business) and turns each due time into a **job**: one row per partnership and due
//! time ([`Store::enqueue_job`]), whichever replica gets there first. Any replica then takes a
//! due job under a lease ([`Store::claim_job`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so that
//! replicas claiming at once take different jobs; SQLite has one writer) and renews it while
//! its run lasts; a replica that dies stops renewing, and another takes the job over once the
//! lease has lapsed.
//!
//! A partnership's **budget** is what this side allows the partner to run against it: how often,
//! and how much the partner's declared list may change between runs; the smallest partner
//! segment it serves is the sharing policy's. Runs refused under it are kept
//! ([`Store::record_refusal`]) and audited, so that an admin sees what was refused and why.

use sqlx::Row;

use crate::audit::append_audit;
use crate::ids::{JobId, OrgId, PartnershipId, RefusalId, RunId, now_ms};
use crate::{Store, StoreError};

/// When a schedule's runs are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Every day at a time of day (minutes after midnight) in an IANA time zone.
    Daily {
        /// Minutes after midnight, 0–1439.
        at_minute: u32,
        /// The time zone's IANA name (`Europe/Berlin`, `UTC`).
        zone: String,
    },
    /// Every so many minutes.
    Every {
        /// The interval.
        minutes: u32,
    },
    /// After each new dataset of the organisation (a CRM sync's, or an upload's).
    AfterDataset,
}

impl ScheduleKind {
    /// The kind's name as stored and shown: `daily`, `every` or `after_dataset`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Daily { .. } => "daily",
            Self::Every { .. } => "every",
            Self::AfterDataset => "after_dataset",
        }
    }
}

/// A partnership's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The organisation.
    pub org: OrgId,
    /// The partnership.
    pub partnership: PartnershipId,
    /// When runs are due.
    pub kind: ScheduleKind,
    /// When the next run is due (Unix ms); none for [`ScheduleKind::AfterDataset`] until a
    /// dataset comes.
    pub next_due_at: Option<i64>,
    /// The dataset the last job of an [`ScheduleKind::AfterDataset`] schedule was made for.
    pub last_dataset: Option<String>,
    /// Who set it.
    pub set_by: String,
    /// When (Unix ms).
    pub updated_at: i64,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting until it is due, or for a replica to take it.
    Pending,
    /// Taken by a replica, whose lease is live (or has lapsed: then another may take it).
    Running,
    /// Its run completed.
    Done,
    /// It was given up (why is its message).
    Failed,
}

impl JobState {
    /// The state's name: `pending`, `running`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => return Err(StoreError::Corrupt("run_jobs.state")),
        })
    }
}

/// A scheduled run, as a job any replica may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `job_…`.
    pub id: JobId,
    /// The organisation.
    pub org: OrgId,
    /// The partnership.
    pub partnership: PartnershipId,
    /// The partner's name.
    pub partner_name: String,
    /// Why it was made: `daily`, `every`, `after_dataset` (the schedule's kind).
    pub reason: String,
    /// When it is due (Unix ms): moved on when it waits to be tried again.
    pub due_at: i64,
    /// Where it is.
    pub state: JobState,
    /// How often a replica took it.
    pub attempts: u32,
    /// The replica that took it last.
    pub holder: Option<String>,
    /// Until when that replica holds it (Unix ms).
    pub lease_until: i64,
    /// The run of its latest attempt.
    pub run: Option<RunId>,
    /// Why it failed, or what its last attempt met.
    pub message: Option<String>,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When it last changed (Unix ms).
    pub updated_at: i64,
}

/// How a job's attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// Its run completed.
    Done,
    /// Given up, with why.
    Failed(String),
    /// To be tried again at a time (Unix ms), with what this attempt met.
    Retry {
        /// When.
        at: i64,
        /// Why not now.
        message: String,
    },
}

/// What one side allows its partner to run against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// At most one run against this side every so many minutes; 0 for no limit.
    pub min_interval_minutes: u32,
    /// The partner's declared records may change by at most this percentage between runs;
    /// none for no limit.
    pub max_change_percent: Option<u32>,
    /// The smallest partner segment served: the sharing policy's `min_partner_segment`.
    pub min_segment: u32,
    /// Who set it last, if anyone did.
    pub set_by: Option<String>,
    /// When (Unix ms).
    pub updated_at: Option<i64>,
}

/// Why a run against this side was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// Sooner after the previous run than the budget allows.
    TooSoon,
    /// The partner's declared list changed more than the budget allows.
    TooMuchChange,
}

impl RefusalReason {
    /// `too_soon` or `too_much_change`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooSoon => "too_soon",
            Self::TooMuchChange => "too_much_change",
        }
    }
}

/// A run a partner started against this side, refused under its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `rf_…`.
    pub id: RefusalId,
    /// The partnership.
    pub partnership: PartnershipId,
    /// The partner's name.
    pub partner_name: String,
    /// When (Unix ms).
    pub at: i64,
    /// Why.
    pub reason: RefusalReason,
    /// What the partner was told.
    pub detail: String,
}

const SCHEDULE_COLUMNS: &str = "s.org_id, s.partnership_id, s.kind, s.every_minutes, s.at_minute, s.zone, s.next_due_at, s.last_dataset, \
     s.set_by, s.updated_at";

fn schedule_from_row(row: &sqlx::any::AnyRow) -> Result<Schedule, StoreError> {
    let corrupt = || StoreError::Corrupt("run_schedules");
    let number = |i: usize| -> Result<u32, StoreError> {
        row.get::<Option<i64>, _>(i).and_then(|v| u32::try_from(v).ok()).ok_or_else(corrupt)
    };
    let kind = match row.get::<String, _>(2).as_str() {
        "daily" => {
            ScheduleKind::Daily { at_minute: number(4)?, zone: row.get::<Option<String>, _>(5).ok_or_else(corrupt)? }
        }
        "every" => ScheduleKind::Every { minutes: number(3)? },
        "after_dataset" => ScheduleKind::AfterDataset,
        _ => return Err(corrupt()),
    };
    Ok(Schedule {
        org: OrgId(row.get(0)),
        partnership: PartnershipId(row.get(1)),
        kind,
        next_due_at: row.get(6),
        last_dataset: row.get(7),
        set_by: row.get(8),
        updated_at: row.get(9),
    })
}

const JOB_COLUMNS: &str = "j.id, j.org_id, j.partnership_id, p.partner_name, j.reason, j.due_at, j.state, j.attempts, \
     j.holder, j.lease_until, j.run_id, j.message, j.created_at, j.updated_at";

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: JobId(row.get(0)),
        org: OrgId(row.get(1)),
        partnership: PartnershipId(row.get(2)),
        partner_name: row.get(3),
        reason: row.get(4),
        due_at: row.get(5),
        state: JobState::parse(&row.get::<String, _>(6))?,
        attempts: u32::try_from(row.get::<i64, _>(7)).map_err(|_| StoreError::Corrupt("run_jobs.attempts"))?,
        holder: row.get(8),
        lease_until: row.get(9),
        run: row.get::<Option<String>, _>(10).map(RunId),
        message: row.get(11),
        created_at: row.get(12),
        updated_at: row.get(13),
    })
}

impl Store {
    /// Sets the schedule of `org`'s runs in `partnership` (replacing any), its first run due at
    /// `next_due_at` (none for [`ScheduleKind::AfterDataset`]: the next new dataset makes it),
    /// audited `schedule.set`. The partnership must be active.
    pub async fn set_schedule(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        kind: &ScheduleKind,
        next_due_at: Option<i64>,
        actor: &str,
    ) -> Result<Schedule, StoreError> {
        let p = self.partnership(org, partnership).await?;
        if p.state != crate::PartnershipState::Active {
            return Err(StoreError::Ended);
        }
        // An after-dataset schedule waits for the next dataset, not the one there is.
        let last_dataset = match kind {
            ScheduleKind::AfterDataset => self.active_dataset(org).await?.map(|d| d.id.to_string()),
            _ => None,
        };
        let (every, at, zone) = match kind {
            ScheduleKind::Daily { at_minute, zone } => (None, Some(i64::from(*at_minute)), Some(zone.as_str())),
            ScheduleKind::Every { minutes } => (Some(i64::from(*minutes)), None, None),
            ScheduleKind::AfterDataset => (None, None, None),
        };
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM run_schedules WHERE partnership_id = $1")
            .bind(partnership.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO run_schedules (partnership_id, org_id, kind, every_minutes, at_minute, zone, next_due_at, \
             last_dataset, set_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(partnership.as_str())
        .bind(org.as_str())
        .bind(kind.name())
        .bind(every)
        .bind(at)
        .bind(zone)
        .bind(next_due_at)
        .bind(last_dataset.as_deref())
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "partnership": partnership.as_str(), "partner": p.partner_name,
            "kind": kind.name(), "every_minutes": every, "at_minute": at, "zone": zone, "next_due_at": next_due_at });
        append_audit(&mut tx, org, now, actor, "schedule.set", &detail).await?;
        tx.commit().await?;
        self.schedule(org, partnership).await?.ok_or(StoreError::NotFound("schedule"))
    }

    /// The schedule of `org`'s runs in `partnership`, if it has one.
    pub async fn schedule(&self, org: &OrgId, partnership: &PartnershipId) -> Result<Option<Schedule>, StoreError> {
        self.partnership(org, partnership).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM run_schedules s WHERE s.org_id = $1 AND s.partnership_id = $2"
        )))
        .bind(org.as_str())
        .bind(partnership.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// Removes the schedule of `org`'s runs in `partnership`, and the jobs it made that no
    /// replica has taken, audited `schedule.cleared`. `false` if there was none.
    pub async fn clear_schedule(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let p = self.partnership(org, partnership).await?;
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM run_schedules WHERE org_id = $1 AND partnership_id = $2")
            .bind(org.as_str())
            .bind(partnership.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE run_jobs SET state = 'failed', message = 'the schedule was removed', updated_at = $1 \
             WHERE partnership_id = $2 AND state = 'pending'",
        )
        .bind(now_ms())
        .bind(partnership.as_str())
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "partnership": partnership.as_str(), "partner": p.partner_name });
        append_audit(&mut tx, org, now_ms(), actor, "schedule.cleared", &detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every schedule with a run due at `now`, in active partnerships: those due by time, and
    /// the after-dataset ones whose organisation has a dataset they made no job for.
    pub async fn schedules_due(&self, now: i64) -> Result<Vec<(Schedule, Option<String>)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS}, o.active_dataset FROM run_schedules s \
             JOIN partnerships p ON p.id = s.partnership_id AND p.state = 'active' \
             JOIN organisations o ON o.id = s.org_id \
             WHERE (s.kind <> 'after_dataset' AND s.next_due_at <= $1) \
             OR (s.kind = 'after_dataset' AND o.active_dataset IS NOT NULL \
                 AND (s.last_dataset IS NULL OR s.last_dataset <> o.active_dataset)) \
             ORDER BY s.next_due_at LIMIT 1000"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((schedule_from_row(r)?, r.get::<Option<String>, _>(10)))).collect()
    }

    /// Makes the job of `schedule`'s run due at `due_at` and moves the schedule on to
    /// `next_due_at` (and, after a dataset, to `dataset`), in one transaction: only if the
    /// schedule is still as read, so that of two replicas seeing the same due run one makes the
    /// job. `None` when another replica did, or the schedule changed meanwhile.
    pub async fn enqueue_job(
        &self,
        schedule: &Schedule,
        due_at: i64,
        next_due_at: Option<i64>,
        dataset: Option<&str>,
    ) -> Result<Option<JobId>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE run_schedules SET next_due_at = $1, last_dataset = COALESCE($2, last_dataset) \
             WHERE partnership_id = $3 AND updated_at = $4 \
             AND (next_due_at = $5 OR (next_due_at IS NULL AND $5 IS NULL)) \
             AND (last_dataset = $6 OR (last_dataset IS NULL AND $6 IS NULL))",
        )
        .bind(next_due_at)
        .bind(dataset)
        .bind(schedule.partnership.as_str())
        .bind(schedule.updated_at)
        .bind(schedule.next_due_at)
        .bind(schedule.last_dataset.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(None);
        }
        let id = JobId::generate();
        let made = sqlx::query(
            "INSERT INTO run_jobs (id, org_id, partnership_id, reason, due_at, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (partnership_id, due_at) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(schedule.org.as_str())
        .bind(schedule.partnership.as_str())
        .bind(schedule.kind.name())
        .bind(due_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((made == 1).then_some(id))
    }

    /// Takes the job due longest at `now` that no replica holds — pending, or running under a
    /// lease that lapsed (its replica stopped renewing it) — for `holder`, until `now +
    /// lease_ms`. Replicas claiming at once take different jobs.
    pub async fn claim_job(&self, holder: &str, now: i64, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        let lock = match self.backend {
            crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let claimed: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE run_jobs SET state = 'running', holder = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id = (SELECT id FROM run_jobs WHERE state IN ('pending', 'running') \
             AND due_at <= $3 AND lease_until <= $3 ORDER BY due_at LIMIT 1{lock}) RETURNING id"
        )))
        .bind(holder)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match claimed {
            Some((id,)) => self.job_by_id(&JobId(id)).await.map(Some),
            None => Ok(None),
        }
    }

    async fn job_by_id(&self, id: &JobId) -> Result<Job, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM run_jobs j JOIN partnerships p ON p.id = j.partnership_id WHERE j.id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        job_from_row(&row.ok_or(StoreError::NotFound("job"))?)
    }

    /// Renews `holder`'s lease of job `id` until `until`, noting the run of its attempt. `false`
    /// if the job is no longer `holder`'s (its lease lapsed and another replica took it).
    pub async fn renew_job(
        &self,
        id: &JobId,
        holder: &str,
        until: i64,
        run: Option<&RunId>,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(
            "UPDATE run_jobs SET lease_until = $1, run_id = COALESCE($2, run_id), updated_at = $3 \
             WHERE id = $4 AND holder = $5 AND state = 'running'",
        )
        .bind(until)
        .bind(run.map(RunId::as_str))
        .bind(now_ms())
        .bind(id.as_str())
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Ends `holder`'s attempt at job `id` as `end` says. `false` if the job is no longer
    /// `holder`'s.
    pub async fn end_job(&self, id: &JobId, holder: &str, end: &JobEnd) -> Result<bool, StoreError> {
        let (state, due, message) = match end {
            JobEnd::Done => ("done", None, None),
            JobEnd::Failed(message) => ("failed", None, Some(message.as_str())),
            JobEnd::Retry { at, message } => ("pending", Some(*at), Some(message.as_str())),
        };
        let ended = sqlx::query(
            "UPDATE run_jobs SET state = $1, due_at = COALESCE($2, due_at), message = $3, lease_until = 0, \
             updated_at = $4 WHERE id = $5 AND holder = $6 AND state = 'running'",
        )
        .bind(state)
        .bind(due)
        .bind(message)
        .bind(now_ms())
        .bind(id.as_str())
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            // Moving the due time onto another job's of the same partnership: wait a moment more.
            if crate::error::is_unique_violation(&e) { StoreError::Changed } else { e.into() }
        })?;
        Ok(ended.rows_affected() == 1)
    }

    /// `org`'s jobs, newest due first: of one partnership, or all; at most `limit`.
    pub async fn jobs(
        &self,
        org: &OrgId,
        partnership: Option<&PartnershipId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        if let Some(p) = partnership {
            self.partnership(org, p).await?;
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM run_jobs j JOIN partnerships p ON p.id = j.partnership_id \
             WHERE j.org_id = $1 AND ($2 IS NULL OR j.partnership_id = $2) ORDER BY j.due_at DESC, j.id LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(partnership.map(PartnershipId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// What `org` allows its partner in `partnership` to run against it (no limits until set).
    pub async fn budget(&self, org: &OrgId, partnership: &PartnershipId) -> Result<Budget, StoreError> {
        let sharing = self.sharing(org, partnership).await?;
        let row = sqlx::query(
            "SELECT min_interval_minutes, max_change_percent, set_by, updated_at FROM run_budgets \
             WHERE partnership_id = $1",
        )
        .bind(partnership.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let corrupt = || StoreError::Corrupt("run_budgets");
        Ok(match row {
            Some(row) => Budget {
                min_interval_minutes: u32::try_from(row.get::<i64, _>(0)).map_err(|_| corrupt())?,
                max_change_percent: row
                    .get::<Option<i64>, _>(1)
                    .map(|v| u32::try_from(v).map_err(|_| corrupt()))
                    .transpose()?,
                min_segment: sharing.min_partner_segment,
                set_by: Some(row.get(2)),
                updated_at: Some(row.get(3)),
            },
            None => Budget {
                min_interval_minutes: 0,
                max_change_percent: None,
                min_segment: sharing.min_partner_segment,
                set_by: None,
                updated_at: None,
            },
        })
    }

    /// Sets what `org` allows its partner in `partnership` to run against it — the smallest
    /// segment in its sharing policy — in one transaction, audited `budget.set`.
    pub async fn set_budget(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        budget: &Budget,
        actor: &str,
    ) -> Result<Budget, StoreError> {
        let p = self.partnership(org, partnership).await?;
        let sharing = self.sharing(org, partnership).await?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM run_budgets WHERE partnership_id = $1")
            .bind(partnership.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO run_budgets (partnership_id, org_id, min_interval_minutes, max_change_percent, set_by, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(partnership.as_str())
        .bind(org.as_str())
        .bind(i64::from(budget.min_interval_minutes))
        .bind(budget.max_change_percent.map(i64::from))
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sharing_settings WHERE partnership_id = $1")
            .bind(partnership.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sharing_settings (partnership_id, threshold, min_partner_segment, updated_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(partnership.as_str())
        .bind(i64::from(sharing.threshold))
        .bind(i64::from(budget.min_segment))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "partnership": partnership.as_str(), "partner": p.partner_name,
            "min_interval_minutes": budget.min_interval_minutes, "max_change_percent": budget.max_change_percent,
            "min_segment": budget.min_segment });
        append_audit(&mut tx, org, now, actor, "budget.set", &detail).await?;
        tx.commit().await?;
        self.budget(org, partnership).await
    }

    /// When the partner last started a run against `org` in `partnership` (Unix ms), whatever
    /// became of it.
    pub async fn last_run_against(&self, org: &OrgId, partnership: &PartnershipId) -> Result<Option<i64>, StoreError> {
        let row: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT MAX(started_at) FROM match_runs WHERE org_id = $1 AND partnership_id = $2 AND role = 'responder'",
        )
        .bind(org.as_str())
        .bind(partnership.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(at,)| at))
    }

    /// Records that `org` refused a run its partner started in `partnership`, and why, audited
    /// `match.refused` under the partner's name.
    pub async fn record_refusal(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        reason: RefusalReason,
        detail: &str,
    ) -> Result<Refusal, StoreError> {
        let p = self.partnership(org, partnership).await?;
        let id = RefusalId::generate();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO run_refusals (id, org_id, partnership_id, at, reason, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(partnership.as_str())
        .bind(now)
        .bind(reason.as_str())
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        let audit = serde_json::json!({ "partnership": partnership.as_str(), "reason": reason.as_str(),
            "detail": detail });
        append_audit(&mut tx, org, now, &p.partner_name, "match.refused", &audit).await?;
        tx.commit().await?;
        Ok(Refusal { id, partnership: p.id, partner_name: p.partner_name, at: now, reason, detail: detail.to_owned() })
    }

    /// The runs `org` refused, newest first: of one partnership, or all; at most `limit`.
    pub async fn refusals(
        &self,
        org: &OrgId,
        partnership: Option<&PartnershipId>,
        limit: u32,
    ) -> Result<Vec<Refusal>, StoreError> {
        if let Some(p) = partnership {
            self.partnership(org, p).await?;
        }
        let rows = sqlx::query(
            "SELECT r.id, r.partnership_id, p.partner_name, r.at, r.reason, r.detail FROM run_refusals r \
             JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND ($2 IS NULL OR r.partnership_id = $2) ORDER BY r.at DESC, r.id LIMIT $3",
        )
        .bind(org.as_str())
        .bind(partnership.map(PartnershipId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let reason = match r.get::<String, _>(4).as_str() {
                    "too_soon" => RefusalReason::TooSoon,
                    "too_much_change" => RefusalReason::TooMuchChange,
                    _ => return Err(StoreError::Corrupt("run_refusals.reason")),
                };
                Ok(Refusal {
                    id: RefusalId(r.get(0)),
                    partnership: PartnershipId(r.get(1)),
                    partner_name: r.get(2),
                    at: r.get(3),
                    reason,
                    detail: r.get(5),
                })
            })
            .collect()
    }
}

//! Match runs: started as `running`, finished whole as `complete` (results and audit in one
//! transaction) or `failed` with a reason. A run whose driving process stopped refreshing its
//! heartbeat is failed by whoever reads it next, so a crash never leaves a run running forever
//! and never a partial result marked complete.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::ids::{DatasetId, OrgId, PartnershipId, RunId, now_ms};
use crate::partnerships::SharingPolicy;
use crate::{Backend, Store, StoreError};
pub use blindmap_records::Tier;

/// A running run whose heartbeat is older than this is failed on the next read.
pub const STALE_AFTER_MS: i64 = 60_000;

/// Which side of the session this node was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRole {
    /// Started it.
    Initiator,
    /// Answered a partner's request.
    Responder,
}

impl RunRole {
    /// `initiator` or `responder`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiator => "initiator",
            Self::Responder => "responder",
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// In progress.
    Running,
    /// Finished; its results are stored.
    Complete,
    /// Stopped; nothing of its results is stored.
    Failed,
}

impl RunState {
    /// `running`, `complete` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }
}

/// One side's record of a match run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Its id on this node.
    pub id: RunId,
    /// The organisation on this node.
    pub org: OrgId,
    /// The partnership it ran in.
    pub partnership: PartnershipId,
    /// The partner organisation's name.
    pub partner_name: String,
    /// This side's role.
    pub role: RunRole,
    /// The dataset this side matched.
    pub dataset: DatasetId,
    /// Who started it: a user's name, or the partner's for a responder.
    pub started_by: String,
    /// Where it is.
    pub state: RunState,
    /// Why it failed.
    pub failure: Option<String>,
    /// This side's sharing policy when it started (JSON).
    pub sharing: serde_json::Value,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds, once finished.
    pub finished_at: Option<i64>,
    /// Records evaluated so far, both sides' together.
    pub records_done: u64,
    /// Records to evaluate in all, once known.
    pub records_total: u64,
    /// The results (matrix, plans, traffic) once complete.
    pub result: Option<serde_json::Value>,
    /// What its list held when it completed, before corrections; `None` for runs not complete
    /// and those stored before the store kept it (they are counted row by row).
    pub listed: Option<Listed>,
}

/// How many overlaps a complete run listed, and how many of this side's accounts they are
/// about: in all, and by a confirmed match. Corrections made since are not taken off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// Rows (pairs of an account of ours and a partner record).
    pub pairs: u64,
    /// Distinct accounts of ours.
    pub accounts: u64,
    /// Rows matched confirmed.
    pub confirmed_pairs: u64,
    /// Accounts with at least one confirmed row.
    pub confirmed_accounts: u64,
}

impl Listed {
    /// The totals of `overlaps`.
    fn of(overlaps: &[RunOverlap]) -> Self {
        let mut all = std::collections::HashSet::new();
        let mut confirmed = std::collections::HashSet::new();
        let mut confirmed_pairs = 0;
        for o in overlaps {
            all.insert(o.account_id.as_str());
            if o.tier == Tier::Confirmed {
                confirmed_pairs += 1;
                confirmed.insert(o.account_id.as_str());
            }
        }
        Self {
            pairs: overlaps.len() as u64,
            accounts: all.len() as u64,
            confirmed_pairs,
            confirmed_accounts: confirmed.len() as u64,
        }
    }
}

/// Per cell (own segment, partner segment) of `overlaps`, how many accounts have a confirmed
/// match there and how many possible matches only: `[own, partner, confirmed, possible]` each,
/// in the cells' order.
pub(crate) fn cell_tiers<'a>(overlaps: impl IntoIterator<Item = &'a RunOverlap>) -> Vec<(String, String, u64, u64)> {
    let mut best: BTreeMap<(&str, &str, &str), bool> = BTreeMap::new();
    for o in overlaps {
        let confirmed = best.entry((&o.own_segment, &o.partner_segment, &o.account_id)).or_default();
        *confirmed |= o.tier == Tier::Confirmed;
    }
    let mut cells: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for ((own, partner, _), confirmed) in best {
        let cell = cells.entry((own, partner)).or_default();
        if confirmed {
            cell.0 += 1;
        } else {
            cell.1 += 1;
        }
    }
    cells.into_iter().map(|((own, partner), (c, p))| (own.to_owned(), partner.to_owned(), c, p)).collect()
}

/// A run to record as started.
#[derive(Debug)]
pub struct NewRun<'a> {
    /// Its id (chosen by the caller, so that it can be told before the run exists).
    pub id: &'a RunId,
    /// The organisation.
    pub org: &'a OrgId,
    /// The partnership.
    pub partnership: &'a PartnershipId,
    /// This side's role.
    pub role: RunRole,
    /// The dataset matched.
    pub dataset: &'a DatasetId,
    /// Who started it.
    pub started_by: &'a str,
    /// This side's sharing policy, as used.
    pub sharing: &'a SharingPolicy,
}

/// One of this side's accounts overlapping one partner record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOverlap {
    /// The account's id in this side's dataset.
    pub account_id: String,
    /// Its segment.
    pub own_segment: String,
    /// The partner record's segment.
    pub partner_segment: String,
    /// The partner record's position in its segment, in this session only (`None`: Bloom).
    pub partner_record: Option<u32>,
    /// The key types that matched, e.g. `domain`, `name_country`.
    pub key_types: Vec<String>,
    /// How sure the match is (protocol-spec/keys.md §3.3).
    pub tier: Tier,
    /// Why, in a sentence (`confirmed: the domain agrees`).
    pub reason: String,
    /// Fields the partner disclosed for its record.
    pub fields: BTreeMap<String, Option<String>>,
}

/// An overlap as listed: the stored overlap and this side's own fields of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOverlap {
    /// The overlap.
    pub overlap: RunOverlap,
    /// This side's fields of the account (its own data).
    pub own_fields: BTreeMap<String, String>,
}

/// Which overlaps to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlapFilter {
    /// Only this side's segment.
    pub own_segment: Option<String>,
    /// Only the partner's segment.
    pub partner_segment: Option<String>,
}

/// Where a page of overlaps starts: after this overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlapCursor {
    /// Its own segment.
    pub own_segment: String,
    /// Its partner segment.
    pub partner_segment: String,
    /// Its account.
    pub account_id: String,
    /// Its partner record (-1 for Bloom).
    pub partner_record: i64,
}

impl RunOverlap {
    /// The cursor of the page after this overlap.
    pub fn cursor(&self) -> OverlapCursor {
        OverlapCursor {
            own_segment: self.own_segment.clone(),
            partner_segment: self.partner_segment.clone(),
            account_id: self.account_id.clone(),
            partner_record: self.partner_record.map_or(-1, i64::from),
        }
    }
}

/// What a run's completion stores, all in one transaction.
#[derive(Debug)]
pub struct Completion {
    /// The results (matrix, plans, traffic).
    pub result: serde_json::Value,
    /// This side's overlapping accounts, where the partner disclosed them.
    pub overlaps: Vec<RunOverlap>,
    /// The transcript, if asked for.
    pub transcript: Option<String>,
    /// Audit events `(kind, detail)` to append.
    pub audit: Vec<(String, serde_json::Value)>,
    /// Records evaluated in all, both sides together.
    pub records: u64,
    /// Events `(kind, payload)` to emit with it (e.g. `overlap.changed`).
    pub events: Vec<(String, serde_json::Value)>,
    /// The protocol session's id (hex): the partner's record of the run carries the same.
    pub session: String,
    /// Per own segment, the record indexes (dataset line order) in the order the run sent them:
    /// how a partner's reference to one of our records maps back to our account.
    pub orders: Vec<(String, Vec<u32>)>,
    /// What changed, account by account, since the previous complete run (named), if there was
    /// one: written with the run (`overlap_changes`).
    pub changes: Option<(RunId, Vec<crate::AccountChange>)>,
}

const RUN_COLUMNS: &str = "r.id, r.org_id, r.partnership_id, p.partner_name, r.role, r.dataset_id, r.started_by, \
     r.state, r.failure, r.sharing, r.started_at, r.finished_at, r.records_done, r.records_total, r.result, \
     r.listed_pairs, r.listed_accounts, r.confirmed_pairs, r.confirmed_accounts";

/// How many columns `RUN_COLUMNS` names.
const RUN_COLUMN_COUNT: usize = 19;

fn run_from_row(r: &sqlx::any::AnyRow) -> Result<Run, StoreError> {
    let json = |i: usize, what| serde_json::from_str(&r.get::<String, _>(i)).map_err(|_| StoreError::Corrupt(what));
    let count = |i: usize, what| u64::try_from(r.get::<i64, _>(i)).map_err(|_| StoreError::Corrupt(what));
    let result: Option<String> = r.get(14);
    Ok(Run {
        id: RunId(r.get(0)),
        org: OrgId(r.get(1)),
        partnership: PartnershipId(r.get(2)),
        partner_name: r.get(3),
        role: match r.get::<String, _>(4).as_str() {
            "initiator" => RunRole::Initiator,
            "responder" => RunRole::Responder,
            _ => return Err(StoreError::Corrupt("match_runs.role")),
        },
        dataset: DatasetId(r.get(5)),
        started_by: r.get(6),
        state: match r.get::<String, _>(7).as_str() {
            "running" => RunState::Running,
            "complete" => RunState::Complete,
            "failed" => RunState::Failed,
            _ => return Err(StoreError::Corrupt("match_runs.state")),
        },
        failure: r.get(8),
        sharing: json(9, "match_runs.sharing")?,
        started_at: r.get(10),
        finished_at: r.get(11),
        records_done: count(12, "match_runs.records_done")?,
        records_total: count(13, "match_runs.records_total")?,
        result: result
            .map(|text| serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("match_runs.result")))
            .transpose()?,
        listed: listed_from_row(r)?,
    })
}

fn listed_from_row(r: &sqlx::any::AnyRow) -> Result<Option<Listed>, StoreError> {
    let counts: [Option<i64>; 4] = [r.get(15), r.get(16), r.get(17), r.get(18)];
    let [Some(pairs), Some(accounts), Some(confirmed_pairs), Some(confirmed_accounts)] = counts else {
        return Ok(None);
    };
    let count = |n: i64| u64::try_from(n).map_err(|_| StoreError::Corrupt("match_runs.listed"));
    Ok(Some(Listed {
        pairs: count(pairs)?,
        accounts: count(accounts)?,
        confirmed_pairs: count(confirmed_pairs)?,
        confirmed_accounts: count(confirmed_accounts)?,
    }))
}

fn overlap_from_row(r: &sqlx::any::AnyRow) -> Result<RunOverlap, StoreError> {
    let record: i64 = r.get(3);
    Ok(RunOverlap {
        account_id: r.get(0),
        own_segment: r.get(1),
        partner_segment: r.get(2),
        partner_record: u32::try_from(record).ok(),
        key_types: serde_json::from_str(&r.get::<String, _>(4))
            .map_err(|_| StoreError::Corrupt("run_overlaps.key_types"))?,
        fields: serde_json::from_str(&r.get::<String, _>(5)).map_err(|_| StoreError::Corrupt("run_overlaps.fields"))?,
        tier: Tier::parse(&r.get::<String, _>(7)).ok_or(StoreError::Corrupt("run_overlaps.tier"))?,
        reason: r.get(8),
    })
}

impl Store {
    /// Records a run as started (`running`, heartbeat now). The partnership must be `org`'s and
    /// active, the dataset `org`'s.
    pub async fn start_run(&self, run: &NewRun<'_>) -> Result<Run, StoreError> {
        let partnership = self.partnership(run.org, run.partnership).await?;
        if partnership.state != crate::PartnershipState::Active {
            return Err(StoreError::Ended);
        }
        self.dataset(run.org, run.dataset).await?;
        // A run whose driver died must not block the next one.
        self.expire_stale_runs(run.org).await?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO match_runs (id, org_id, partnership_id, role, dataset_id, started_by, state, sharing, \
             started_at, heartbeat_at, records_done, records_total) \
             VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $8, 0, 0)",
        )
        .bind(run.id.as_str())
        .bind(run.org.as_str())
        .bind(run.partnership.as_str())
        .bind(run.role.as_str())
        .bind(run.dataset.as_str())
        .bind(run.started_by)
        .bind(run.sharing.to_json().to_string())
        .bind(now)
        .execute(&self.pool)
        .await;
        match inserted {
            Err(e) if crate::error::is_unique_violation(&e) => return Err(StoreError::RunInProgress),
            other => other?,
        };
        self.run(run.org, run.id).await
    }

    /// Refreshes a running run's heartbeat and progress. `false` when the run is no longer
    /// running (another reader failed it as stale): its driver must stop.
    pub async fn heartbeat_run(&self, id: &RunId, done: u64, total: u64) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE match_runs SET heartbeat_at = $1, records_done = $2, records_total = $3 \
             WHERE id = $4 AND state = 'running'",
        )
        .bind(now_ms())
        .bind(i64::try_from(done).unwrap_or(i64::MAX))
        .bind(i64::try_from(total).unwrap_or(i64::MAX))
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Completes a running run of `org`: its results, overlaps and audit events in one
    /// transaction. Fails with a conflict, storing nothing, if the run is no longer running.
    pub async fn complete_run(&self, org: &OrgId, id: &RunId, completion: &Completion) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let listed = Listed::of(&completion.overlaps);
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let updated = sqlx::query(
            "UPDATE match_runs SET state = 'complete', result = $1, transcript = $2, finished_at = $3, \
             heartbeat_at = $3, records_done = $6, records_total = $6, session = $7, listed_pairs = $8, \
             listed_accounts = $9, confirmed_pairs = $10, confirmed_accounts = $11 \
             WHERE id = $4 AND org_id = $5 AND state = 'running'",
        )
        .bind(completion.result.to_string())
        .bind(completion.transcript.as_deref())
        .bind(now)
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(i64::try_from(completion.records).unwrap_or(i64::MAX))
        .bind(completion.session.as_str())
        .bind(count(listed.pairs))
        .bind(count(listed.accounts))
        .bind(count(listed.confirmed_pairs))
        .bind(count(listed.confirmed_accounts))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict("a finished run of that id"));
        }
        // Rows go in batches: one statement per overlap is slow on both backends.
        const COLUMNS: usize = 9;
        for batch in completion.overlaps.chunks(self.insert_batch(COLUMNS)) {
            let mut sql = String::from(
                "INSERT INTO run_overlaps (run_id, account_id, own_segment, partner_segment, partner_record, \
                 key_types, fields, tier, reason, sort_name) VALUES ",
            );
            for i in 0..batch.len() {
                let n = i * COLUMNS;
                if i > 0 {
                    sql.push_str(", ");
                }
                let params: Vec<String> = (1..=COLUMNS).map(|k| format!("${}", n + k)).collect();
                // The name as sorted is written below, from the dataset.
                sql.push_str(&format!("({}, '')", params.join(", ")));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in batch {
                query = query
                    .bind(id.as_str())
                    .bind(o.account_id.as_str())
                    .bind(o.own_segment.as_str())
                    .bind(o.partner_segment.as_str())
                    .bind(o.partner_record.map_or(-1, i64::from))
                    .bind(serde_json::json!(o.key_types).to_string())
                    .bind(serde_json::json!(o.fields).to_string())
                    .bind(o.tier.as_str())
                    .bind(o.reason.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        // The list's order by name and its owners (indexes walk both), from this side's accounts.
        let (names, owners) = overlap_names_and_owners(self.backend);
        sqlx::query(sqlx::AssertSqlSafe(names)).bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query(sqlx::AssertSqlSafe(owners)).bind(id.as_str()).execute(&mut *tx).await?;
        let mut owners: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT owner FROM run_overlaps WHERE run_id = $1 AND owner <> ''")
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await?;
        owners.sort();
        sqlx::query("UPDATE match_runs SET listed_cells = $1, listed_owners = $2 WHERE id = $3")
            .bind(serde_json::json!(cell_tiers(&completion.overlaps)).to_string())
            .bind(serde_json::json!(owners).to_string())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        // What the previous complete run listed that this one has nowhere (one running run per
        // partnership: the previous one is settled).
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT pr.id FROM match_runs r JOIN match_runs pr ON pr.org_id = r.org_id \
             AND pr.partnership_id = r.partnership_id AND pr.state = 'complete' AND pr.id <> r.id \
             AND (pr.started_at < r.started_at OR (pr.started_at = r.started_at AND pr.id < r.id)) \
             WHERE r.id = $1 ORDER BY pr.started_at DESC, pr.id DESC LIMIT 1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(previous) = previous {
            let lost = sqlx::query(
                "SELECT COUNT(*), COUNT(DISTINCT p.account_id) FROM run_overlaps p WHERE p.run_id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM run_overlaps g WHERE g.run_id = $2 AND g.account_id = p.account_id)",
            )
            .bind(previous.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("UPDATE match_runs SET lost_since = $1, lost_pairs = $2, lost_accounts = $3 WHERE id = $4")
                .bind(previous.as_str())
                .bind(lost.get::<i64, _>(0))
                .bind(lost.get::<i64, _>(1))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        // The index of each field the overlaps disclose (the lists' order and filters by it).
        let fields: std::collections::BTreeSet<&str> = completion
            .overlaps
            .iter()
            .flat_map(|o| o.fields.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.as_str()))
            .collect();
        let indexed = list_overlap_fields(&mut tx, self.backend, id.as_str(), fields).await?;
        for (kind, detail) in &completion.audit {
            crate::audit::append_audit(&mut tx, org, now, "node", kind, detail).await?;
        }
        for (segment, order) in &completion.orders {
            sqlx::query("INSERT INTO run_orders (run_id, segment, record_order) VALUES ($1, $2, $3)")
                .bind(id.as_str())
                .bind(segment.as_str())
                .bind(serde_json::json!(order).to_string())
                .execute(&mut *tx)
                .await?;
        }
        if let Some((previous, changes)) = &completion.changes {
            let partnership: String = sqlx::query_scalar("SELECT partnership_id FROM match_runs WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?;
            self.write_changes(&mut tx, org, id, &partnership, previous, now, changes).await?;
        }
        for (kind, payload) in &completion.events {
            crate::events::append_event(&mut tx, org, kind, payload).await?;
        }
        tx.commit().await?;
        self.refresh_statistics("run_overlaps").await?;
        if indexed > 0 {
            self.refresh_statistics("run_overlap_fields").await?;
        }
        Ok(())
    }

    /// Fails a running run with `reason` (and the transcript so far, if kept). A run that
    /// already finished stays as it is.
    pub async fn fail_run(&self, id: &RunId, reason: &str, transcript: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE match_runs SET state = 'failed', failure = $1, transcript = $2, finished_at = $3 \
             WHERE id = $4 AND state = 'running'",
        )
        .bind(reason)
        .bind(transcript)
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Fails `org`'s running runs whose heartbeat stopped: the process driving them is gone.
    async fn expire_stale_runs(&self, org: &OrgId) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE match_runs SET state = 'failed', finished_at = $1, \
             failure = 'the node driving the run stopped (no heartbeat for a minute); nothing was stored' \
             WHERE org_id = $2 AND state = 'running' AND heartbeat_at < $3",
        )
        .bind(now)
        .bind(org.as_str())
        .bind(now - STALE_AFTER_MS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One run of `org`.
    pub async fn run(&self, org: &OrgId, id: &RunId) -> Result<Run, StoreError> {
        self.expire_stale_runs(org).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM match_runs r JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND r.id = $2"
        )))
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        run_from_row(&row.ok_or(StoreError::NotFound("run"))?)
    }

    /// A page of `org`'s runs, newest first, optionally of one partnership: at most `limit`,
    /// after the run `after`.
    pub async fn runs_page(
        &self,
        org: &OrgId,
        partnership: Option<&PartnershipId>,
        role: Option<RunRole>,
        after: Option<&RunId>,
        limit: u32,
    ) -> Result<Vec<Run>, StoreError> {
        self.expire_stale_runs(org).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM match_runs r JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND ($2 = '' OR r.partnership_id = $2) AND ($5 = '' OR r.role = $5) \
             AND ($3 = '' OR EXISTS (SELECT 1 FROM match_runs c WHERE c.id = $3 AND c.org_id = $1 \
             AND (r.started_at < c.started_at OR (r.started_at = c.started_at AND r.id < c.id)))) \
             ORDER BY r.started_at DESC, r.id DESC LIMIT $4"
        )))
        .bind(org.as_str())
        .bind(partnership.map_or("", PartnershipId::as_str))
        .bind(after.map_or("", RunId::as_str))
        .bind(i64::from(limit))
        .bind(role.map_or("", RunRole::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// How many of `org`'s runs are going (running, with a heartbeat).
    pub async fn runs_running(&self, org: &OrgId) -> Result<u64, StoreError> {
        self.expire_stale_runs(org).await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM match_runs WHERE org_id = $1 AND state = 'running'")
            .bind(org.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The latest complete run of each of `org`'s partnerships (as [`Store::latest_complete_run`]
    /// finds it), with the id of the complete run before it, if any: what a list across
    /// partners reads. In the partners' names' order.
    pub async fn latest_complete_runs(&self, org: &OrgId) -> Result<Vec<(Run, Option<RunId>)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS}, (SELECT pr.id FROM match_runs pr WHERE pr.org_id = r.org_id \
             AND pr.partnership_id = r.partnership_id AND pr.state = 'complete' AND pr.id <> r.id \
             AND (pr.started_at < r.started_at OR (pr.started_at = r.started_at AND pr.id < r.id)) \
             ORDER BY pr.started_at DESC, pr.id DESC LIMIT 1) \
             FROM match_runs r JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND r.state = 'complete' AND NOT EXISTS (SELECT 1 FROM match_runs nr \
             WHERE nr.org_id = r.org_id AND nr.partnership_id = r.partnership_id AND nr.state = 'complete' \
             AND (nr.started_at > r.started_at OR (nr.started_at = r.started_at AND nr.id > r.id)))"
        )))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut runs = rows
            .iter()
            .map(|r| Ok((run_from_row(r)?, r.get::<Option<String>, _>(RUN_COLUMN_COUNT).map(RunId))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        runs.sort_by(|(a, _), (b, _)| (&a.partner_name, &a.partnership).cmp(&(&b.partner_name, &b.partnership)));
        Ok(runs)
    }

    /// The complete run of the same partnership before `run`, if any: what a run is compared to.
    pub async fn previous_complete_run(&self, org: &OrgId, run: &Run) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM match_runs r JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND r.partnership_id = $2 AND r.state = 'complete' AND r.id <> $3 \
             AND (r.started_at < $4 OR (r.started_at = $4 AND r.id < $3)) \
             ORDER BY r.started_at DESC, r.id DESC LIMIT 1"
        )))
        .bind(org.as_str())
        .bind(run.partnership.as_str())
        .bind(run.id.as_str())
        .bind(run.started_at)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The newest complete run of a partnership of `org`: the one its overlaps come from.
    pub async fn latest_complete_run(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
    ) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM match_runs r JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND r.partnership_id = $2 AND r.state = 'complete' \
             ORDER BY r.started_at DESC, r.id DESC LIMIT 1"
        )))
        .bind(org.as_str())
        .bind(partnership.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// A page of a run's overlaps, ordered by own segment, partner segment and account; those
    /// the organisation's corrections hide are left out.
    pub async fn overlaps_page(
        &self,
        org: &OrgId,
        run: &RunId,
        filter: &OverlapFilter,
        after: Option<&OverlapCursor>,
        limit: u32,
    ) -> Result<Vec<ListedOverlap>, StoreError> {
        let run = self.run(org, run).await?;
        let (a, b, c, d) = match after {
            Some(k) => (k.own_segment.as_str(), k.partner_segment.as_str(), k.account_id.as_str(), k.partner_record),
            None => ("", "", "", i64::MIN),
        };
        let sql = format!(
            "SELECT o.account_id, o.own_segment, o.partner_segment, o.partner_record, o.key_types, o.fields, \
             a.fields, o.tier, o.reason FROM run_overlaps o \
             LEFT JOIN dataset_accounts a ON a.dataset_id = $2 AND a.account_id = o.account_id \
             WHERE o.run_id = $1 AND ($3 = '' OR o.own_segment = $3) AND ($4 = '' OR o.partner_segment = $4) \
             AND (o.own_segment > $5 OR (o.own_segment = $5 AND (o.partner_segment > $6 OR (o.partner_segment = $6 \
             AND (o.account_id > $7 OR (o.account_id = $7 AND o.partner_record > $8)))))) AND NOT {} \
             ORDER BY o.own_segment, o.partner_segment, o.account_id, o.partner_record LIMIT $9",
            self.corrected_sql("$10", "$11")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.id.as_str())
            .bind(run.dataset.as_str())
            .bind(filter.own_segment.as_deref().unwrap_or(""))
            .bind(filter.partner_segment.as_deref().unwrap_or(""))
            .bind(a)
            .bind(b)
            .bind(c)
            .bind(d)
            .bind(i64::from(limit))
            .bind(run.org.as_str())
            .bind(run.partnership.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let own: Option<String> = r.get(6);
                Ok(ListedOverlap {
                    overlap: overlap_from_row(r)?,
                    own_fields: match own {
                        Some(text) => {
                            serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("dataset_accounts.fields"))?
                        }
                        None => BTreeMap::new(),
                    },
                })
            })
            .collect()
    }

    /// A complete run's overlapping accounts per cell, as its lists show them now (corrections
    /// applied): `(own segment, partner segment)` → each account and its best tier in the cell.
    /// What "changed since the last run" compares.
    pub async fn overlap_accounts(
        &self,
        org: &OrgId,
        run: &RunId,
    ) -> Result<BTreeMap<(String, String), BTreeMap<String, Tier>>, StoreError> {
        let run = self.run(org, run).await?;
        let sql = format!(
            "SELECT o.own_segment, o.partner_segment, o.account_id, MIN(o.tier) FROM run_overlaps o \
             WHERE o.run_id = $1 AND NOT {} GROUP BY o.own_segment, o.partner_segment, o.account_id",
            self.corrected_sql("$2", "$3")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.id.as_str())
            .bind(run.org.as_str())
            .bind(run.partnership.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut cells: BTreeMap<(String, String), BTreeMap<String, Tier>> = BTreeMap::new();
        for r in rows {
            let tier = Tier::parse(&r.get::<String, _>(3)).ok_or(StoreError::Corrupt("run_overlaps.tier"))?;
            cells.entry((r.get(0), r.get(1))).or_default().insert(r.get(2), tier);
        }
        Ok(cells)
    }

    /// The account of `org` that its complete run of `session` (hex) in `partnership` sent as
    /// record `position` of its segment `segment`: what a partner's reference names.
    pub async fn account_behind(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        session: &str,
        segment: &str,
        position: u32,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT r.dataset_id, o.record_order FROM match_runs r JOIN run_orders o ON o.run_id = r.id \
             WHERE r.org_id = $1 AND r.partnership_id = $2 AND r.session = $3 AND r.state = 'complete' \
             AND o.segment = $4",
        )
        .bind(org.as_str())
        .bind(partnership.as_str())
        .bind(session)
        .bind(segment)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let order: Vec<u32> = serde_json::from_str(&row.get::<String, _>(1))
            .map_err(|_| StoreError::Corrupt("run_orders.record_order"))?;
        let Some(&index) = order.get(position as usize) else { return Ok(None) };
        let account = sqlx::query(
            "SELECT account_id FROM dataset_accounts WHERE dataset_id = $1 ORDER BY line LIMIT 1 OFFSET $2",
        )
        .bind(row.get::<String, _>(0))
        .bind(i64::from(index))
        .fetch_optional(&self.pool)
        .await?;
        Ok(account.map(|r| r.get(0)))
    }

    /// This side's segment of `account` where `org`'s run `run` found it overlapping the
    /// partner's record `position` of its segment `partner_segment`; `None` if it did not.
    pub async fn overlap_segment(
        &self,
        org: &OrgId,
        run: &RunId,
        account: &str,
        partner_segment: &str,
        position: u32,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT o.own_segment FROM run_overlaps o JOIN match_runs r ON r.id = o.run_id \
             WHERE r.org_id = $1 AND o.run_id = $2 AND o.account_id = $3 AND o.partner_segment = $4 \
             AND o.partner_record = $5",
        )
        .bind(org.as_str())
        .bind(run.as_str())
        .bind(account)
        .bind(partner_segment)
        .bind(i64::from(position))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Whether `org`'s run `run` found `account`, of its segment `own_segment`, overlapping any
    /// record of the partner's segment `partner_segment`.
    pub async fn overlaps_segment(
        &self,
        org: &OrgId,
        run: &RunId,
        account: &str,
        own_segment: &str,
        partner_segment: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM run_overlaps o JOIN match_runs r ON r.id = o.run_id WHERE r.org_id = $1 \
             AND o.run_id = $2 AND o.account_id = $3 AND o.own_segment = $4 AND o.partner_segment = $5 LIMIT 1",
        )
        .bind(org.as_str())
        .bind(run.as_str())
        .bind(account)
        .bind(own_segment)
        .bind(partner_segment)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The complete run of `org` in `partnership` that ran protocol session `session` (hex).
    pub async fn run_of_session(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        session: &str,
    ) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM match_runs r JOIN partnerships p ON p.id = r.partnership_id \
             WHERE r.org_id = $1 AND r.partnership_id = $2 AND r.session = $3 AND r.state = 'complete'"
        )))
        .bind(org.as_str())
        .bind(partnership.as_str())
        .bind(session)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The protocol session of a complete run of `org` (hex).
    pub async fn run_session(&self, org: &OrgId, run: &RunId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT session FROM match_runs WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(run.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.ok_or(StoreError::NotFound("run"))?.get(0))
    }

    /// A run's transcript, if it kept one.
    pub async fn run_transcript(&self, org: &OrgId, run: &RunId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT transcript FROM match_runs WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(run.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.ok_or(StoreError::NotFound("run"))?.get(0))
    }
}

/// The UPDATEs that write the name and the owner of a run's overlaps (the run's id bound as
/// `$1`) from its dataset's accounts: the name as the lists sort it (lower case, the id where
/// the export gave none), the owner ('' where the account has none).
fn overlap_names_and_owners(backend: Backend) -> (String, String) {
    let account = "FROM match_runs r JOIN dataset_accounts a ON a.dataset_id = r.dataset_id \
                   AND a.account_id = run_overlaps.account_id WHERE r.id = run_overlaps.run_id";
    let owner = match backend {
        Backend::Sqlite => "json_extract(a.fields, '$.owner')",
        Backend::Postgres => "(a.fields::json ->> 'owner')",
    };
    (
        format!(
            "UPDATE run_overlaps SET sort_name = COALESCE((SELECT LOWER(COALESCE(a.display_name, \
             run_overlaps.account_id)) {account}), LOWER(run_overlaps.account_id)) WHERE run_id = $1"
        ),
        format!("UPDATE run_overlaps SET owner = COALESCE((SELECT {owner} {account}), '') WHERE run_id = $1"),
    )
}

/// Writes the index of each field in `fields` over the overlaps of `run` (the name as sorted
/// already written), and lists the fields with the run. Names the lists cannot sort by are left
/// out. A run indexed already is written again to the same rows (replicas opening a store at once).
/// How many fields were indexed.
async fn list_overlap_fields<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    run: &str,
    fields: impl IntoIterator<Item = &'a str>,
) -> Result<usize, StoreError> {
    let value = match backend {
        Backend::Sqlite => "json_extract(o.fields, '$.' || $2)",
        Backend::Postgres => "(o.fields::json ->> $2)",
    };
    let insert = format!(
        "INSERT INTO run_overlap_fields (run_id, field, value_key, sort_name, account_id, partner_segment, \
         partner_record, own_segment, owner, tier) SELECT o.run_id, $2, LOWER(COALESCE({value}, '')), o.sort_name, \
         o.account_id, o.partner_segment, o.partner_record, o.own_segment, COALESCE(o.owner, ''), o.tier \
         FROM run_overlaps o WHERE o.run_id = $1 ON CONFLICT DO NOTHING"
    );
    let mut listed = Vec::new();
    for field in fields.into_iter().filter(|f| crate::reports::is_field_name(f)) {
        sqlx::query(sqlx::AssertSqlSafe(insert.clone())).bind(run).bind(field).execute(&mut **tx).await?;
        listed.push(field.to_owned());
    }
    listed.sort();
    listed.dedup();
    sqlx::query("UPDATE match_runs SET listed_fields = $1 WHERE id = $2")
        .bind(serde_json::json!(listed).to_string())
        .bind(run)
        .execute(&mut **tx)
        .await?;
    Ok(listed.len())
}

impl Store {
    /// Lists the fields of the complete runs stored before they were (migration 0023) and
    /// writes their index, a run per transaction; how many runs.
    pub(crate) async fn fill_overlap_fields(&self) -> Result<u64, StoreError> {
        let runs: Vec<String> =
            sqlx::query_scalar("SELECT id FROM match_runs WHERE state = 'complete' AND listed_fields IS NULL")
                .fetch_all(&self.pool)
                .await?;
        let disclosed = match self.backend {
            Backend::Sqlite => {
                "SELECT DISTINCT j.key FROM run_overlaps o, json_each(o.fields) j \
                 WHERE o.run_id = $1 AND j.type <> 'null'"
            }
            Backend::Postgres => {
                "SELECT DISTINCT j.key FROM run_overlaps o, json_each_text(o.fields::json) j \
                 WHERE o.run_id = $1 AND j.value IS NOT NULL"
            }
        };
        for run in &runs {
            let mut tx = self.begin_write().await?;
            let fields: Vec<String> = sqlx::query_scalar(disclosed).bind(run.as_str()).fetch_all(&mut *tx).await?;
            list_overlap_fields(&mut tx, self.backend, run, fields.iter().map(String::as_str)).await?;
            tx.commit().await?;
        }
        Ok(runs.len() as u64)
    }

    /// Fills the owner of the overlaps stored before it was kept (migration 0022), a run per
    /// transaction: the runs are found by the owner index (a row without one sorts first).
    /// Several replicas opening the store at once write the same values.
    pub(crate) async fn fill_overlap_owners(&self) -> Result<u64, StoreError> {
        let runs: Vec<String> = sqlx::query_scalar(
            "SELECT r.id FROM match_runs r WHERE EXISTS \
             (SELECT 1 FROM run_overlaps o WHERE o.run_id = r.id AND o.owner IS NULL)",
        )
        .fetch_all(&self.pool)
        .await?;
        let (_, owners) = overlap_names_and_owners(self.backend);
        for run in &runs {
            let mut tx = self.begin_write().await?;
            sqlx::query(sqlx::AssertSqlSafe(owners.clone())).bind(run.as_str()).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Ok(runs.len() as u64)
    }
}

/// Runs for the store's own unit tests.
#[cfg(test)]
pub(crate) mod test_runs {
    use super::{Completion, NewRun, Run, RunOverlap, RunRole, Tier};
    use crate::Store;
    use crate::ids::{DatasetId, OrgId, PartnershipId, RunId};
    use crate::partnerships::SharingPolicy;

    /// Starts and completes a run of `org`'s on `dataset` with `partnership` in which each
    /// `(account, own segment, partner segment)` overlaps a partner record, confirmed by its
    /// domain; the run as stored.
    pub(crate) async fn complete(
        store: &Store,
        org: &OrgId,
        dataset: &DatasetId,
        partnership: &PartnershipId,
        overlaps: &[(&str, &str, &str)],
    ) -> Run {
        let overlaps = overlaps
            .iter()
            .enumerate()
            .map(|(i, (a, own, theirs))| RunOverlap {
                account_id: (*a).to_owned(),
                own_segment: (*own).into(),
                partner_segment: (*theirs).into(),
                partner_record: Some(u32::try_from(i).unwrap()),
                key_types: vec!["domain".into()],
                tier: Tier::Confirmed,
                reason: "confirmed: the domain agrees".into(),
                fields: Default::default(),
            })
            .collect::<Vec<_>>();
        complete_overlaps(store, org, dataset, partnership, overlaps).await
    }

    /// Starts and completes a run of `org`'s on `dataset` with `partnership` that lists
    /// `overlaps`; the run as stored.
    pub(crate) async fn complete_overlaps(
        store: &Store,
        org: &OrgId,
        dataset: &DatasetId,
        partnership: &PartnershipId,
        overlaps: Vec<RunOverlap>,
    ) -> Run {
        let id = RunId::generate();
        let sharing = SharingPolicy::default();
        let new = NewRun {
            id: &id,
            org,
            partnership,
            role: RunRole::Initiator,
            dataset,
            started_by: "ada",
            sharing: &sharing,
        };
        store.start_run(&new).await.unwrap();
        let completion = Completion {
            result: serde_json::json!({}),
            records: overlaps.len() as u64,
            overlaps,
            transcript: None,
            audit: vec![],
            events: vec![],
            session: hex::encode(id.as_str()),
            orders: vec![],
            changes: None,
        };
        store.complete_run(org, &id, &completion).await.unwrap();
        store.run(org, &id).await.unwrap()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use blindmap_records::{Importer, Preset};

    use crate::{OrgId, PartnershipId, ReportFilter, ReportScope, Run, Store, on_both_backends};

    /// A run in which every account of an export with owners (one without) overlaps.
    async fn run_with_owners(store: &Store) -> (OrgId, Run) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let csv = "id,segment,name,owner,domain\n\
                   a1,customers,Acme,Ada Byron,acme-corp.com\n\
                   a2,customers,Globex,Grace Hopper,globex-corp.com\n\
                   a3,prospects,Initech,,initech-corp.com\n\
                   a4,prospects,Hooli,Ada Byron,hooli-corp.com\n";
        let importer = Importer::new("a.csv", Cursor::new(csv.as_bytes().to_vec()), &Preset::Generic.mapping());
        let dataset = store.import_dataset(&org, "a.csv", "generic", importer.unwrap()).await.unwrap();
        let p = PartnershipId::generate();
        store.create_partnership(&p, &org, "Partner", "https://p", "sha256:aa", "pt_ref").await.unwrap();
        let every =
            [("a1", "customers", "x"), ("a2", "customers", "x"), ("a3", "prospects", "x"), ("a4", "prospects", "y")];
        let run = super::test_runs::complete(store, &org, &dataset.id, &p, &every).await;
        (org, run)
    }

    async fn owned_by(store: &Store, org: &OrgId, run: &Run, owner: &str) -> Vec<String> {
        let filter = ReportFilter { owner: Some(owner.to_owned()), tier: None, ..ReportFilter::default() };
        let rows = store.report_rows_in(org, ReportScope::Run(run), &filter, 0, 100, None).await.unwrap();
        rows.into_iter().map(|r| r.account_id).collect()
    }

    async fn each_overlap_keeps_its_accounts_owner(store: Store) {
        let (org, run) = run_with_owners(&store).await;
        assert_eq!(owned_by(&store, &org, &run, "Ada Byron").await, ["a1", "a4"], "by name");
        assert_eq!(store.report_owners(&org, &run).await.unwrap(), ["Ada Byron", "Grace Hopper"]);
        let filter = ReportFilter { tier: None, ..ReportFilter::default() };
        let rows = store.report_rows_in(&org, ReportScope::Run(&run), &filter, 0, 100, None).await.unwrap();
        let owners: Vec<_> = rows.iter().map(|r| r.owner.clone()).collect();
        // Acme, Globex, Hooli, Initech.
        assert_eq!(owners, [Some("Ada Byron".into()), Some("Grace Hopper".into()), Some("Ada Byron".into()), None]);
    }

    async fn owners_of_overlaps_stored_before_are_filled_when_the_store_opens(store: Store) {
        let (org, run) = run_with_owners(&store).await;
        sqlx::query("UPDATE run_overlaps SET owner = NULL").execute(&store.pool).await.unwrap();
        assert!(owned_by(&store, &org, &run, "Ada Byron").await.is_empty(), "not yet filled");
        assert_eq!(store.fill_overlap_owners().await.unwrap(), 1, "one run filled");
        assert_eq!(owned_by(&store, &org, &run, "Ada Byron").await, ["a1", "a4"]);
        assert_eq!(store.fill_overlap_owners().await.unwrap(), 0, "nothing left to fill");
    }

    /// A run whose partner shared an owner field with some of its records (one with no value,
    /// one without the field at all).
    async fn run_with_partner_fields(store: &Store) -> (OrgId, Run) {
        let (org, run) = run_with_owners(store).await;
        let shared = [("a1", Some("Linus T")), ("a2", Some("margaret h")), ("a3", None)];
        let overlaps = ["a1", "a2", "a3", "a4"]
            .iter()
            .enumerate()
            .map(|(i, account)| super::RunOverlap {
                account_id: (*account).to_owned(),
                own_segment: if i < 2 { "customers" } else { "prospects" }.into(),
                partner_segment: "x".into(),
                partner_record: Some(u32::try_from(i).unwrap()),
                key_types: vec!["domain".into()],
                tier: super::Tier::Confirmed,
                reason: String::new(),
                fields: shared
                    .iter()
                    .filter(|(a, _)| a == account)
                    .map(|(_, v)| ("owner".to_owned(), v.map(str::to_owned)))
                    .collect(),
            })
            .collect();
        let run = super::test_runs::complete_overlaps(store, &org, &run.dataset, &run.partnership, overlaps).await;
        (org, run)
    }

    async fn listed(store: &Store, org: &OrgId, run: &Run, filter: ReportFilter) -> Vec<String> {
        let filter = ReportFilter { tier: None, ..filter };
        let rows = store.report_rows_in(org, ReportScope::Run(run), &filter, 0, 100, None).await.unwrap();
        rows.into_iter().map(|r| r.account_id).collect()
    }

    async fn indexed_rows(store: &Store, run: &Run) -> (Option<String>, i64) {
        let listed = sqlx::query_scalar("SELECT listed_fields FROM match_runs WHERE id = $1")
            .bind(run.id.as_str())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let rows = sqlx::query_scalar("SELECT COUNT(*) FROM run_overlap_fields WHERE run_id = $1")
            .bind(run.id.as_str())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        (listed, rows)
    }

    /// What the lists read of a partner's field, sorted or filtered by it, from its index.
    async fn partner_fields_are_read_from_their_index(store: &Store, org: &OrgId, run: &Run) {
        let by = |field: &str, text: &str| ReportFilter {
            partner_fields: vec![(field.to_owned(), text.to_owned())],
            ..ReportFilter::default()
        };
        assert_eq!(listed(store, org, run, by("owner", "LIN")).await, ["a1"], "any case");
        assert_eq!(listed(store, org, run, by("owner", " h")).await, ["a2"]);
        assert_eq!(listed(store, org, run, by("owner", "t")).await, ["a1", "a2"], "two values, by name");
        assert!(listed(store, org, run, by("owner", "nobody")).await.is_empty());
        assert!(listed(store, org, run, by("region", "x")).await.is_empty(), "a field the partner does not share");
        assert!(listed(store, org, run, by("Owner!", "x")).await.is_empty(), "not a field's name");
        // No value first (by name: Hooli, Initech), then by value.
        let sorted = ReportFilter { sort: crate::ReportSort::PartnerField("owner".into()), ..ReportFilter::default() };
        assert_eq!(listed(store, org, run, sorted.clone()).await, ["a4", "a3", "a1", "a2"]);
        let reversed = ReportFilter { descending: true, ..sorted.clone() };
        assert_eq!(listed(store, org, run, reversed).await, ["a2", "a1", "a3", "a4"]);
        let region = ReportFilter { sort: crate::ReportSort::PartnerField("region".into()), ..ReportFilter::default() };
        assert_eq!(listed(store, org, run, region).await, ["a1", "a2", "a4", "a3"], "nobody's field: by name");
        let counted = store.report_counts_in(org, ReportScope::Run(run), &by("owner", "t")).await.unwrap();
        assert_eq!(counted, (2, 2));
    }

    async fn each_field_a_partner_shares_is_indexed_with_the_run(store: Store) {
        let (org, run) = run_with_partner_fields(&store).await;
        assert_eq!(indexed_rows(&store, &run).await, (Some(r#"["owner"]"#.to_owned()), 4), "a row per overlap");
        partner_fields_are_read_from_their_index(&store, &org, &run).await;
    }

    async fn fields_of_runs_stored_before_are_indexed_when_the_store_opens(store: Store) {
        let (org, run) = run_with_partner_fields(&store).await;
        sqlx::query("DELETE FROM run_overlap_fields").execute(&store.pool).await.unwrap();
        sqlx::query("UPDATE match_runs SET listed_fields = NULL").execute(&store.pool).await.unwrap();
        // Read from each row meanwhile.
        partner_fields_are_read_from_their_index(&store, &org, &run).await;
        // Both runs: the one without fields lists none.
        assert_eq!(store.fill_overlap_fields().await.unwrap(), 2);
        assert_eq!(indexed_rows(&store, &run).await, (Some(r#"["owner"]"#.to_owned()), 4));
        partner_fields_are_read_from_their_index(&store, &org, &run).await;
        assert_eq!(store.fill_overlap_fields().await.unwrap(), 0, "nothing left to index");
    }

    /// Every entry of the fields' index, every column, in one order.
    async fn field_entries(store: &Store) -> Vec<Vec<String>> {
        let rows = sqlx::query(
            "SELECT run_id, field, value_key, sort_name, account_id, partner_segment, \
             CAST(partner_record AS TEXT), own_segment, owner, tier FROM run_overlap_fields \
             ORDER BY run_id, field, value_key, sort_name, account_id, partner_segment, partner_record",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        rows.iter().map(|r| (0..10).map(|i| sqlx::Row::get::<String, _>(r, i)).collect()).collect()
    }

    async fn a_fields_index_kept_by_the_version_before_gains_the_filters_columns(store: Store) {
        let (org, run) = run_with_partner_fields(&store).await;
        let written = field_entries(&store).await;
        assert_eq!(written.len(), 4);
        assert!(written.iter().any(|e| !e[8].is_empty()), "an owner carried: {written:?}");
        // The index as migration 0023 made it, and 0025 not applied yet.
        for sql in [
            "DROP TABLE run_overlap_fields",
            "CREATE TABLE run_overlap_fields (run_id TEXT NOT NULL REFERENCES match_runs (id), \
             field TEXT NOT NULL, value_key TEXT NOT NULL, sort_name TEXT NOT NULL, account_id TEXT NOT NULL, \
             partner_segment TEXT NOT NULL, partner_record BIGINT NOT NULL, PRIMARY KEY (run_id, field, \
             value_key, sort_name, account_id, partner_segment, partner_record))",
            "DELETE FROM _sqlx_migrations WHERE version = 25",
        ] {
            sqlx::query(sql).execute(&store.pool).await.unwrap();
        }
        for e in &written {
            sqlx::query(
                "INSERT INTO run_overlap_fields (run_id, field, value_key, sort_name, account_id, partner_segment, \
                 partner_record) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&e[0])
            .bind(&e[1])
            .bind(&e[2])
            .bind(&e[3])
            .bind(&e[4])
            .bind(&e[5])
            .bind(e[6].parse::<i64>().unwrap())
            .execute(&store.pool)
            .await
            .unwrap();
        }
        crate::MIGRATOR.run(&store.pool).await.unwrap();
        assert_eq!(field_entries(&store).await, written, "the same entries, with the same columns");
        partner_fields_are_read_from_their_index(&store, &org, &run).await;
    }

    on_both_backends!(
        each_overlap_keeps_its_accounts_owner,
        owners_of_overlaps_stored_before_are_filled_when_the_store_opens,
        each_field_a_partner_shares_is_indexed_with_the_run,
        fields_of_runs_stored_before_are_indexed_when_the_store_opens,
        a_fields_index_kept_by_the_version_before_gains_the_filters_columns
    );
}

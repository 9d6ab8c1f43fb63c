//! What a CRM connection's write-back keeps (issue 17): per partnership and account, the payload
//! the CRM should hold, what was last written and the CRM's record id (`crm_writeback`).
//!
//! The store plans and records; it speaks to no CRM. The node says which overlaps the partners
//! disclose now ([`Store::plan_writeback`]: new and changed ones become pending, lost ones that
//! the CRM holds become removing, unchanged ones stay as they are), reads what is due a page at a
//! time ([`Store::writeback_due`]) and records each record's outcome as the CRM answers
//! ([`Store::writeback_done`]). A write-back that stops half-way carries on where it stopped;
//! planning the same overlaps again makes nothing due.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::append_audit;
use crate::error::is_unique_violation;
use crate::ids::{ConnectionId, DatasetId, OrgId, PartnershipId, WritebackId, now_ms};
use crate::runs::STALE_AFTER_MS;
use crate::{Store, StoreError};

/// An overlap the CRM should show: its partnership, the account, and what to write.
#[derive(Debug, Clone, PartialEq)]
pub struct WantedOverlap {
    /// The partnership that disclosed it.
    pub partnership: PartnershipId,
    /// The account, by its id in the CRM.
    pub account: String,
    /// What to write (the node's own shape; the store compares it by hash).
    pub payload: serde_json::Value,
}

/// What a plan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WritebackPlan {
    /// Overlaps not written before.
    pub added: u64,
    /// Overlaps whose payload changed.
    pub changed: u64,
    /// Overlaps lost that the CRM holds: to remove.
    pub removing: u64,
    /// Overlaps as they were.
    pub unchanged: u64,
}

/// A record due: to write (its payload) or to remove (its record id).
#[derive(Debug, Clone, PartialEq)]
pub struct WritebackItem {
    /// Its partnership.
    pub partnership: PartnershipId,
    /// Its account.
    pub account: String,
    /// What to write.
    pub payload: serde_json::Value,
    /// The CRM's record id, once written.
    pub remote_id: Option<String>,
    /// To remove rather than write.
    pub removing: bool,
    /// When the overlap was first planned, and last planned with this payload (Unix ms).
    pub first_seen: i64,
    /// When last planned.
    pub last_seen: i64,
    /// Why its last attempt failed.
    pub error: Option<String>,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritebackResult {
    /// Written; the CRM's record id where it gives one.
    Written(Option<String>),
    /// Removed from the CRM (or found gone).
    Removed,
    /// Refused or failed: why. It stays due.
    Failed(String),
}

/// Where a write-back is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritebackState {
    /// Planning or writing.
    Running,
    /// Done: every record due was written or removed, or refused by the CRM (counted).
    Complete,
    /// Stopped by an error, or its process stopped; what it wrote before is kept.
    Failed,
}

impl WritebackState {
    /// `running`, `complete` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "running" => Ok(Self::Running),
            "complete" => Ok(Self::Complete),
            "failed" => Ok(Self::Failed),
            _ => Err(StoreError::Corrupt("crm_writebacks.state")),
        }
    }
}

/// A write-back's record: its progress while it runs, its outcome after.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmWriteback {
    /// Its id.
    pub id: WritebackId,
    /// The connection it writes to.
    pub connection: ConnectionId,
    /// Where it is. A running one whose process stopped is `Failed`, with why.
    pub state: WritebackState,
    /// What it is doing or did last (`planning`, `writing`, `done`).
    pub phase: String,
    /// Who or what started it.
    pub started_by: String,
    /// When it started (Unix milliseconds).
    pub started_at: i64,
    /// Its last heartbeat.
    pub heartbeat_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Records written (made or changed) so far.
    pub written: u64,
    /// Records removed so far.
    pub removed: u64,
    /// Records the CRM refused so far (they stay due).
    pub refused: u64,
    /// API requests so far.
    pub requests: u64,
    /// Why it failed.
    pub message: Option<String>,
    /// Its summary (the plan and the counts), as JSON.
    pub summary: Option<serde_json::Value>,
}

/// A running write-back's progress.
#[derive(Debug, Clone, Copy)]
pub struct WritebackProgress<'a> {
    /// What it is doing.
    pub phase: &'a str,
    /// Records written so far.
    pub written: u64,
    /// Records removed so far.
    pub removed: u64,
    /// Records refused so far.
    pub refused: u64,
    /// API requests so far.
    pub requests: u64,
}

/// How a write-back ended.
#[derive(Debug, Clone)]
pub enum WritebackEnd {
    /// It worked through everything due; its summary.
    Complete(serde_json::Value),
    /// It failed, and why (nothing a secret).
    Failed(String),
}

const WRITEBACK_COLUMNS: &str = "id, connection_id, state, phase, started_by, started_at, heartbeat_at, finished_at, \
     written, removed, refused, requests, message, summary FROM crm_writebacks";

/// What a running write-back whose process stopped is shown with.
const STOPPED: &str =
    "the node running this write-back stopped before it ended; what it wrote is kept, and the next one carries on";

fn writeback_from_row(r: &sqlx::any::AnyRow, now: i64) -> Result<CrmWriteback, StoreError> {
    let count = |i: usize, what| u64::try_from(r.get::<i64, _>(i)).map_err(|_| StoreError::Corrupt(what));
    let mut state = WritebackState::parse(&r.get::<String, _>(2))?;
    let heartbeat_at: i64 = r.get(6);
    let mut message: Option<String> = r.get(12);
    if state == WritebackState::Running && heartbeat_at < now - STALE_AFTER_MS {
        state = WritebackState::Failed;
        message = Some(STOPPED.to_owned());
    }
    let summary = match r.get::<Option<String>, _>(13) {
        Some(text) => Some(serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("crm_writebacks.summary"))?),
        None => None,
    };
    Ok(CrmWriteback {
        id: WritebackId(r.get(0)),
        connection: ConnectionId(r.get(1)),
        state,
        phase: r.get(3),
        started_by: r.get(4),
        started_at: r.get(5),
        heartbeat_at,
        finished_at: r.get(7),
        written: count(8, "crm_writebacks.written")?,
        removed: count(9, "crm_writebacks.removed")?,
        refused: count(10, "crm_writebacks.refused")?,
        requests: count(11, "crm_writebacks.requests")?,
        message,
        summary,
    })
}

/// A payload's hash: what tells a changed payload from the one written.
fn payload_hash(payload: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(payload.to_string().as_bytes()))
}

impl Store {
    /// Compares the overlaps the CRM should show now with what the connection's write-back
    /// keeps: new and changed ones become pending, lost ones the CRM holds become removing, lost
    /// ones never written are forgotten, unchanged ones stay (their `last_seen` moves). Of an
    /// overlap given twice, the last counts. One transaction.
    pub async fn plan_writeback(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        wanted: &[WantedOverlap],
    ) -> Result<WritebackPlan, StoreError> {
        self.connection(org, connection).await?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT partnership_id, account_id, payload_hash, written_hash, state FROM crm_writeback \
             WHERE connection_id = $1",
        )
        .bind(connection.as_str())
        .fetch_all(&mut *tx)
        .await?;
        // (partnership, account) → (payload hash, written hash, state)
        let mut kept: HashMap<(String, String), (String, Option<String>, String)> =
            rows.iter().map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3), r.get(4)))).collect();
        let mut wanted_now: HashMap<(String, String), &WantedOverlap> = HashMap::with_capacity(wanted.len());
        for w in wanted {
            wanted_now.insert((w.partnership.as_str().to_owned(), w.account.clone()), w);
        }
        let mut plan = WritebackPlan::default();
        let mut added: Vec<(&(String, String), &WantedOverlap, String)> = Vec::new();
        for (key, w) in &wanted_now {
            let hash = payload_hash(&w.payload);
            match kept.remove(key) {
                None => {
                    plan.added += 1;
                    added.push((key, w, hash));
                }
                Some((kept_hash, written, state)) => {
                    // As the CRM holds it already: written (a lost overlap that came back before
                    // it was removed too); otherwise to write, new to the CRM or changed.
                    let in_crm = written.as_deref() == Some(hash.as_str());
                    let next = if in_crm { "written" } else { "pending" };
                    match (in_crm, written.is_some()) {
                        (true, _) => plan.unchanged += 1,
                        (false, true) => plan.changed += 1,
                        (false, false) => plan.added += 1,
                    }
                    // Unchanged and as it was: only its last_seen moves, with the others' below.
                    if kept_hash == hash && state == next {
                        continue;
                    }
                    sqlx::query(
                        "UPDATE crm_writeback SET payload = $1, payload_hash = $2, state = $3, last_seen = $4 \
                         WHERE connection_id = $5 AND partnership_id = $6 AND account_id = $7",
                    )
                    .bind(w.payload.to_string())
                    .bind(&hash)
                    .bind(next)
                    .bind(now)
                    .bind(connection.as_str())
                    .bind(&key.0)
                    .bind(&key.1)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        // New ones, many rows a statement (7 parameters a row, well under either backend's limit).
        for chunk in added.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO crm_writeback (connection_id, partnership_id, account_id, payload, payload_hash, state, \
                 first_seen, last_seen) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 6;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, 'pending', ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 6
                ));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, w, hash) in chunk {
                query = query
                    .bind(connection.as_str())
                    .bind(key.0.as_str())
                    .bind(key.1.as_str())
                    .bind(w.payload.to_string())
                    .bind(hash.as_str())
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        // What is left is lost: removed where the CRM holds it, forgotten where it never did.
        for ((partnership, account), (_, written, _)) in kept {
            let statement = if written.is_some() {
                plan.removing += 1;
                "UPDATE crm_writeback SET state = 'removing' WHERE connection_id = $1 AND partnership_id = $2 \
                 AND account_id = $3"
            } else {
                "DELETE FROM crm_writeback WHERE connection_id = $1 AND partnership_id = $2 AND account_id = $3"
            };
            sqlx::query(statement)
                .bind(connection.as_str())
                .bind(&partnership)
                .bind(&account)
                .execute(&mut *tx)
                .await?;
        }
        // Every overlap still wanted and as the CRM holds it was seen now: what is `written` after
        // the lost ones were marked or forgotten above.
        sqlx::query("UPDATE crm_writeback SET last_seen = $1 WHERE connection_id = $2 AND state = 'written'")
            .bind(now)
            .bind(connection.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Up to `limit` records due (to write or to remove), in (partnership, account) order after
    /// `after`: a write-back reads them page by page, each record once per pass.
    pub async fn writeback_due(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        after: Option<(&PartnershipId, &str)>,
        limit: u32,
    ) -> Result<Vec<WritebackItem>, StoreError> {
        self.connection(org, connection).await?;
        let (partnership, account) = after.map_or(("", ""), |(p, a)| (p.as_str(), a));
        let rows = sqlx::query(
            "SELECT partnership_id, account_id, payload, remote_id, state, first_seen, last_seen, error \
             FROM crm_writeback WHERE connection_id = $1 AND state IN ('pending', 'removing') \
             AND (partnership_id > $2 OR (partnership_id = $2 AND account_id > $3)) \
             ORDER BY partnership_id, account_id LIMIT $4",
        )
        .bind(connection.as_str())
        .bind(partnership)
        .bind(account)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.get(2);
                Ok(WritebackItem {
                    partnership: PartnershipId(r.get(0)),
                    account: r.get(1),
                    payload: serde_json::from_str(&payload)
                        .map_err(|_| StoreError::Corrupt("crm_writeback.payload"))?,
                    remote_id: r.get(3),
                    removing: r.get::<String, _>(4) == "removing",
                    first_seen: r.get(5),
                    last_seen: r.get(6),
                    error: r.get(7),
                })
            })
            .collect()
    }

    /// Records what the CRM made of records: written (the hash of the payload written, the
    /// record id), removed (the row goes), or failed (why; it stays due). One transaction.
    pub async fn writeback_done(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        results: &[(PartnershipId, String, WritebackResult)],
    ) -> Result<(), StoreError> {
        self.connection(org, connection).await?;
        let mut tx = self.begin_write().await?;
        for (partnership, account, result) in results {
            let key = (connection.as_str(), partnership.as_str(), account.as_str());
            match result {
                WritebackResult::Written(remote_id) => {
                    sqlx::query(
                        "UPDATE crm_writeback SET state = 'written', written_hash = payload_hash, \
                         remote_id = COALESCE($1, remote_id), error = NULL \
                         WHERE connection_id = $2 AND partnership_id = $3 AND account_id = $4 AND state = 'pending'",
                    )
                    .bind(remote_id.as_deref())
                    .bind(key.0)
                    .bind(key.1)
                    .bind(key.2)
                    .execute(&mut *tx)
                    .await?;
                }
                WritebackResult::Removed => {
                    sqlx::query(
                        "DELETE FROM crm_writeback WHERE connection_id = $1 AND partnership_id = $2 \
                         AND account_id = $3 AND state = 'removing'",
                    )
                    .bind(key.0)
                    .bind(key.1)
                    .bind(key.2)
                    .execute(&mut *tx)
                    .await?;
                }
                WritebackResult::Failed(why) => {
                    sqlx::query(
                        "UPDATE crm_writeback SET error = $1 WHERE connection_id = $2 AND partnership_id = $3 \
                         AND account_id = $4",
                    )
                    .bind(why.as_str())
                    .bind(key.0)
                    .bind(key.1)
                    .bind(key.2)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The records the write-back keeps for `accounts` that the CRM should hold (written or to
    /// write, not those being removed), in (account, partnership) order: what a CRM that keeps
    /// one value per account (HubSpot's company property) is given for each.
    pub async fn writeback_kept_for(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        accounts: &[String],
    ) -> Result<Vec<WritebackItem>, StoreError> {
        self.connection(org, connection).await?;
        let mut items = Vec::new();
        for chunk in accounts.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT partnership_id, account_id, payload, remote_id, state, first_seen, last_seen, error \
                 FROM crm_writeback WHERE connection_id = $1 AND state <> 'removing' AND account_id IN ({}) \
                 ORDER BY account_id, partnership_id",
                marks.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(connection.as_str());
            for account in chunk {
                query = query.bind(account.as_str());
            }
            for r in query.fetch_all(&self.pool).await? {
                let payload: String = r.get(2);
                items.push(WritebackItem {
                    partnership: PartnershipId(r.get(0)),
                    account: r.get(1),
                    payload: serde_json::from_str(&payload)
                        .map_err(|_| StoreError::Corrupt("crm_writeback.payload"))?,
                    remote_id: r.get(3),
                    removing: false,
                    first_seen: r.get(5),
                    last_seen: r.get(6),
                    error: r.get(7),
                });
            }
        }
        Ok(items)
    }

    /// The datasets a connection's complete syncs built: the overlaps of runs on them are the
    /// ones its write-back writes.
    pub async fn connection_datasets(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> Result<Vec<DatasetId>, StoreError> {
        self.connection(org, connection).await?;
        let rows = sqlx::query(
            "SELECT DISTINCT dataset_id FROM crm_syncs WHERE connection_id = $1 AND org_id = $2 \
             AND state = 'complete' AND dataset_id IS NOT NULL",
        )
        .bind(connection.as_str())
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| DatasetId(r.get(0))).collect())
    }

    /// Records a new running write-back of a connection, started by `actor`. Refused
    /// ([`StoreError::WritebackInProgress`]) while another runs; one whose process stopped is
    /// ended as failed first.
    pub async fn begin_writeback(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        actor: &str,
    ) -> Result<CrmWriteback, StoreError> {
        self.connection(org, connection).await?;
        let id = WritebackId::generate();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE crm_writebacks SET state = 'failed', message = $1, finished_at = $2 \
             WHERE connection_id = $3 AND state = 'running' AND heartbeat_at < $4",
        )
        .bind(STOPPED)
        .bind(now)
        .bind(connection.as_str())
        .bind(now - STALE_AFTER_MS)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO crm_writebacks (id, org_id, connection_id, state, phase, started_by, started_at, \
             heartbeat_at) VALUES ($1, $2, $3, 'running', 'starting', $4, $5, $5)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(connection.as_str())
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::WritebackInProgress } else { e.into() })?;
        tx.commit().await?;
        self.writeback(org, &id).await
    }

    /// Records a running write-back's progress, which is also its heartbeat. `false` if it is
    /// no longer running: its process should give up.
    pub async fn writeback_progress(
        &self,
        id: &WritebackId,
        progress: &WritebackProgress<'_>,
    ) -> Result<bool, StoreError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let updated = sqlx::query(
            "UPDATE crm_writebacks SET phase = $1, written = $2, removed = $3, refused = $4, requests = $5, \
             heartbeat_at = $6 WHERE id = $7 AND state = 'running'",
        )
        .bind(progress.phase)
        .bind(n(progress.written))
        .bind(n(progress.removed))
        .bind(n(progress.refused))
        .bind(n(progress.requests))
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Ends a running write-back as `end` says, audited `crm.written_back` or
    /// `crm.writeback_failed` (with the counts).
    pub async fn end_writeback(
        &self,
        org: &OrgId,
        id: &WritebackId,
        end: &WritebackEnd,
    ) -> Result<CrmWriteback, StoreError> {
        let writeback = self.writeback(org, id).await?;
        let now = now_ms();
        let (state, message, summary, kind) = match end {
            WritebackEnd::Complete(summary) => {
                (WritebackState::Complete, None, Some(summary.to_string()), "crm.written_back")
            }
            WritebackEnd::Failed(why) => (WritebackState::Failed, Some(why.as_str()), None, "crm.writeback_failed"),
        };
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE crm_writebacks SET state = $1, message = $2, summary = $3, finished_at = $4, heartbeat_at = $4, \
             phase = CASE WHEN $1 = 'complete' THEN 'done' ELSE phase END \
             WHERE id = $5 AND org_id = $6 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(message)
        .bind(summary)
        .bind(now)
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Changed);
        }
        let detail = serde_json::json!({
            "connection": writeback.connection.as_str(), "writeback": id.as_str(), "message": message,
            "written": writeback.written, "removed": writeback.removed, "refused": writeback.refused,
        });
        append_audit(&mut tx, org, now, &writeback.started_by, kind, &detail).await?;
        tx.commit().await?;
        self.writeback(org, id).await
    }

    /// One of `org`'s write-backs.
    pub async fn writeback(&self, org: &OrgId, id: &WritebackId) -> Result<CrmWriteback, StoreError> {
        let sql = format!("SELECT {WRITEBACK_COLUMNS} WHERE id = $1 AND org_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("write-back"))?;
        writeback_from_row(&row, now_ms())
    }

    /// A connection's latest write-backs, newest first, at most `limit`.
    pub async fn writebacks(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<CrmWriteback>, StoreError> {
        self.connection(org, connection).await?;
        let sql = format!(
            "SELECT {WRITEBACK_COLUMNS} WHERE connection_id = $1 AND org_id = $2 \
             ORDER BY started_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(connection.as_str())
            .bind(org.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let now = now_ms();
        rows.iter().map(|r| writeback_from_row(r, now)).collect()
    }

    /// Connections (of every organisation, with their settings) that a complete run finished on
    /// a dataset of theirs since their last write-back started: those whose write-back after each
    /// run is due, if their settings ask for it. All of them (a node has few connections; the
    /// caller filters by setting, so a limit here could starve the ones that ask).
    pub async fn writebacks_after_runs(&self) -> Result<Vec<(OrgId, ConnectionId, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.org_id, c.id, c.settings FROM crm_connections c WHERE EXISTS ( \
               SELECT 1 FROM match_runs r JOIN crm_syncs s ON s.dataset_id = r.dataset_id \
               WHERE s.connection_id = c.id AND s.state = 'complete' AND r.org_id = c.org_id \
               AND r.state = 'complete' AND r.finished_at >= COALESCE( \
                 (SELECT MAX(w.started_at) FROM crm_writebacks w WHERE w.connection_id = c.id), 0)) \
             ORDER BY c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let settings: String = r.get(2);
                let settings =
                    serde_json::from_str(&settings).map_err(|_| StoreError::Corrupt("crm_connections.settings"))?;
                Ok((OrgId(r.get(0)), ConnectionId(r.get(1)), settings))
            })
            .collect()
    }
}

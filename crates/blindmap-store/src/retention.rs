//! Retention (issue 18): what an organisation no longer keeps is deleted, so that runs that pile
//! up cost nothing later — the store stays the size its retention allows, and the lists read
//! only what is kept.
//!
//! [`Store::sweep`] deletes, for one organisation:
//! - the runs (complete or failed, never running) that have at least `keep_runs` newer complete
//!   runs in their partnership: each is first marked failed, with why, in one short transaction
//!   (so that nothing reads it half-deleted), then its rows go in chunks, each its own short
//!   transaction (SQLite's one writer is never held for long), then the run itself;
//! - the datasets no kept run matched that are neither the active one, a CRM connection's latest
//!   nor newer than the active one (an upload waiting to be confirmed), their accounts in chunks;
//! - the per-account changes older than `change_days`, and the alerts sent or given up as long
//!   ago (with their accounts and log).
//!
//! On SQLite it then checkpoints the write-ahead log, truncating it: the log otherwise keeps the
//! size of the largest write since the database opened.

use crate::ids::{DatasetId, OrgId, RunId, now_ms};
use crate::{Backend, Store, StoreError};

/// Rows deleted per statement: each its own transaction.
const CHUNK: i64 = 5_000;

/// What a sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Runs.
    pub runs: u64,
    /// Datasets.
    pub datasets: u64,
    /// Per-account changes.
    pub changes: u64,
    /// Alert messages sent or given up.
    pub alerts: u64,
}

impl Store {
    /// Deletes what `org`'s retention no longer keeps (see the module's documentation).
    pub async fn sweep(&self, org: &OrgId) -> Result<Swept, StoreError> {
        let retention = self.retention(org).await?;
        let keep = i64::from(retention.keep_runs.max(2));
        let mut swept = Swept::default();
        let old: Vec<String> = sqlx::query_scalar(
            "SELECT r.id FROM match_runs r WHERE r.org_id = $1 AND r.state <> 'running' AND \
             (SELECT COUNT(*) FROM match_runs k WHERE k.org_id = r.org_id AND k.partnership_id = r.partnership_id \
              AND k.state = 'complete' AND (k.started_at > r.started_at OR (k.started_at = r.started_at AND k.id > r.id))) \
             >= $2",
        )
        .bind(org.as_str())
        .bind(keep)
        .fetch_all(&self.pool)
        .await?;
        let why = format!("removed under the organisation's retention (the latest {keep} complete runs are kept)");
        for id in old {
            self.delete_run(org, &RunId(id), &why).await?;
            swept.runs += 1;
        }
        let unused: Vec<String> = sqlx::query_scalar(
            "SELECT d.id FROM datasets d JOIN organisations o ON o.id = d.org_id \
             WHERE d.org_id = $1 AND d.state <> 'importing' AND o.active_dataset IS NOT NULL \
             AND d.id <> o.active_dataset \
             AND d.imported_at < (SELECT a.imported_at FROM datasets a WHERE a.id = o.active_dataset) \
             AND NOT EXISTS (SELECT 1 FROM match_runs r WHERE r.dataset_id = d.id) \
             AND NOT EXISTS (SELECT 1 FROM crm_connections c WHERE c.dataset_id = d.id)",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        for id in unused {
            self.delete_unused_dataset(org, &DatasetId(id)).await?;
            swept.datasets += 1;
        }
        let before = now_ms() - i64::from(retention.change_days) * 86_400_000;
        swept.changes = sqlx::query("DELETE FROM overlap_changes WHERE org_id = $1 AND at < $2")
            .bind(org.as_str())
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        swept.alerts = self.sweep_alerts(org, before).await?;
        if swept != Swept::default() {
            self.checkpoint().await?;
        }
        Ok(swept)
    }

    /// Deletes `org`'s alert messages that ended (sent or given up) before `before`, with their
    /// accounts and log, and the events composed as long ago: one transaction.
    async fn sweep_alerts(&self, org: &OrgId, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let ended = "SELECT id FROM alert_messages WHERE org_id = $1 AND state <> 'pending' AND updated_at < $2";
        for table in ["alert_items", "alert_attempts"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE message_id IN ({ended})")))
                .bind(org.as_str())
                .bind(before)
                .execute(&mut *tx)
                .await?;
        }
        let messages =
            sqlx::query("DELETE FROM alert_messages WHERE org_id = $1 AND state <> 'pending' AND updated_at < $2")
                .bind(org.as_str())
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("DELETE FROM alert_events WHERE org_id = $1 AND state = 'composed' AND created_at < $2")
            .bind(org.as_str())
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(messages)
    }

    /// Deletes run `id`: marked failed with `why` first, then its rows chunk by chunk, then it.
    async fn delete_run(&self, org: &OrgId, id: &RunId, why: &str) -> Result<(), StoreError> {
        let marked = sqlx::query(
            "UPDATE match_runs SET state = 'failed', failure = $1 WHERE id = $2 AND org_id = $3 AND state <> 'running'",
        )
        .bind(why)
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&self.pool)
        .await?;
        if marked.rows_affected() != 1 {
            return Ok(());
        }
        for table in ["run_overlap_fields", "run_overlaps"] {
            loop {
                let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE run_id = $1 AND account_id IN \
                     (SELECT account_id FROM {table} WHERE run_id = $1 LIMIT {CHUNK})"
                )))
                .bind(id.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected();
                if deleted == 0 {
                    break;
                }
            }
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM run_orders WHERE run_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM match_runs WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes dataset `id`, which no run matched: its accounts chunk by chunk, then it — unless
    /// it became used meanwhile (activated, or matched), which the last step checks.
    async fn delete_unused_dataset(&self, org: &OrgId, id: &DatasetId) -> Result<(), StoreError> {
        // Marked first, so that nothing activates or matches it while its accounts go.
        let marked = sqlx::query(
            "UPDATE datasets SET state = 'deleting' WHERE id = $1 AND org_id = $2 AND state <> 'importing' \
             AND id <> COALESCE((SELECT active_dataset FROM organisations WHERE id = $2), '') \
             AND NOT EXISTS (SELECT 1 FROM match_runs r WHERE r.dataset_id = $1)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&self.pool)
        .await;
        if marked?.rows_affected() != 1 {
            return Ok(());
        }
        loop {
            let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM dataset_accounts WHERE dataset_id = $1 AND account_id IN \
                 (SELECT account_id FROM dataset_accounts WHERE dataset_id = $1 LIMIT {CHUNK})"
            )))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
            if deleted == 0 {
                break;
            }
        }
        sqlx::query("DELETE FROM datasets WHERE id = $1 AND org_id = $2 AND state = 'deleting'")
            .bind(id.as_str())
            .bind(org.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The database's size in bytes: SQLite's pages (its log apart), or the PostgreSQL
    /// database's.
    pub async fn database_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 = match self.backend {
            Backend::Sqlite => {
                sqlx::query_scalar("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                    .fetch_one(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())::BIGINT").fetch_one(&self.pool).await?
            }
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Checkpoints SQLite's write-ahead log into the database and truncates it (nothing on
    /// PostgreSQL). Readers that hold old pages keep them: the checkpoint then does what it can.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            // Its first column says whether readers kept it from finishing: the next sweep, or
            // the next import, tries again.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
        }
        Ok(())
    }
}

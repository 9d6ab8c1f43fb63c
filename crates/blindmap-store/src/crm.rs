//! CRM connections and their syncs (issue 17): an organisation's Salesforce org or HubSpot portal,
//! its credentials sealed at rest, and each sync's progress record and outcome.
//!
//! The store keeps and checks; it speaks to no CRM. The node (`service::crm`) reads the CRM,
//! imports what it read as a new dataset ([`Store::import_dataset`]) and ends the sync here with
//! that dataset, or with why it failed or paused. One sync of a connection runs at a time (a
//! unique index, so two replicas asking at once agree); a running sync whose process stopped
//! keeping its heartbeat is shown, and treated, as failed.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::audit::append_audit;
use crate::error::is_unique_violation;
use crate::ids::{ConnectionId, DatasetId, OrgId, SyncId, UserId, now_ms};
use crate::orgs::check_name;
use crate::runs::STALE_AFTER_MS;
use crate::sealed::{CRM_AUTHORIZATIONS, CRM_CREDENTIALS};
use crate::{Store, StoreError};

/// Which CRM a connection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrmKind {
    /// A Salesforce org.
    Salesforce,
    /// A HubSpot portal.
    Hubspot,
}

impl CrmKind {
    /// Its name as stored and in the API: `salesforce`, `hubspot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Salesforce => "salesforce",
            Self::Hubspot => "hubspot",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "salesforce" => Some(Self::Salesforce),
            "hubspot" => Some(Self::Hubspot),
            _ => None,
        }
    }
}

/// A connection to make.
pub struct NewConnection<'a> {
    /// What the organisation calls it, unique in the organisation.
    pub name: &'a str,
    /// Which CRM.
    pub kind: CrmKind,
    /// Everything but the credentials, as JSON the node reads.
    pub settings: &'a serde_json::Value,
    /// The credentials, as text the node reads (sealed before they are stored).
    pub credentials: &'a SecretString,
}

/// A stored connection, without its credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// Its name.
    pub name: String,
    /// Which CRM.
    pub kind: CrmKind,
    /// Its settings.
    pub settings: serde_json::Value,
    /// Who made it, and when (Unix milliseconds).
    pub created_by: String,
    /// When it was made.
    pub created_at: i64,
    /// When its settings or credentials last changed.
    pub updated_at: i64,
    /// Where the next incremental sync reads from; `None` before the first complete sync.
    pub cursor: Option<String>,
    /// The dataset the last complete sync built.
    pub dataset: Option<DatasetId>,
}

/// Whether a sync read everything or only what changed since the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Every account.
    Full,
    /// The accounts changed or deleted since the connection's cursor.
    Incremental,
}

impl SyncMode {
    /// `full` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "full" => Ok(Self::Full),
            "incremental" => Ok(Self::Incremental),
            _ => Err(StoreError::Corrupt("crm_syncs.mode")),
        }
    }
}

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Reading or importing.
    Running,
    /// Done: its dataset is stored (and active).
    Complete,
    /// Stopped by an error, or its process stopped; nothing of it was kept.
    Failed,
    /// Stopped before the CRM's API quota ran low; nothing of it was kept.
    Paused,
}

impl SyncState {
    /// `running`, `complete`, `failed` or `paused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Paused => "paused",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "running" => Ok(Self::Running),
            "complete" => Ok(Self::Complete),
            "failed" => Ok(Self::Failed),
            "paused" => Ok(Self::Paused),
            _ => Err(StoreError::Corrupt("crm_syncs.state")),
        }
    }
}

/// A sync's record: its progress while it runs, its outcome after.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmSync {
    /// Its id.
    pub id: SyncId,
    /// The connection it reads.
    pub connection: ConnectionId,
    /// Full or incremental.
    pub mode: SyncMode,
    /// Where it is. A running sync whose process stopped is `Failed`, with why.
    pub state: SyncState,
    /// What it is doing or did last, in words (`reading`, `importing`, …).
    pub phase: String,
    /// Who started it (a user's name, or what started it).
    pub started_by: String,
    /// When it started, and last showed life; when it ended (Unix milliseconds).
    pub started_at: i64,
    /// Its last heartbeat.
    pub heartbeat_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Records read from the CRM so far.
    pub records_read: u64,
    /// Of them, records the CRM reported deleted or archived.
    pub records_deleted: u64,
    /// API requests made so far.
    pub requests: u64,
    /// The dataset it built.
    pub dataset: Option<DatasetId>,
    /// Why it failed or paused.
    pub message: Option<String>,
    /// Its summary (the import's, and what the sync read), as JSON.
    pub summary: Option<serde_json::Value>,
}

/// A running sync's progress, as its process reports it.
#[derive(Debug, Clone, Copy)]
pub struct SyncProgress<'a> {
    /// What it is doing.
    pub phase: &'a str,
    /// Records read so far.
    pub records_read: u64,
    /// Of them, deleted or archived.
    pub records_deleted: u64,
    /// API requests so far.
    pub requests: u64,
}

/// How a sync ended.
#[derive(Debug, Clone)]
pub enum SyncEnd {
    /// It built `dataset`; the next incremental sync reads from `cursor`.
    Complete {
        /// The dataset.
        dataset: DatasetId,
        /// The summary.
        summary: serde_json::Value,
        /// The newest modification it saw.
        cursor: Option<String>,
    },
    /// It failed, and why (nothing a secret).
    Failed(String),
    /// It paused before the CRM's quota ran low, and why.
    Paused(String),
}

/// How long an admin has to approve a CRM's access and come back.
pub const CRM_AUTHORIZATION_MS: i64 = 10 * 60 * 1000;

/// A CRM authorization under way, as taken back when the browser returns.
#[derive(Debug)]
pub struct CrmAuthorization {
    /// The organisation the connection is for.
    pub org: OrgId,
    /// The user who began it: only they may finish it.
    pub user: UserId,
    /// What the node asked to keep (opened).
    pub request: SecretString,
    /// Whether it has expired.
    pub expired: bool,
}

const CONNECTION_COLUMNS: &str =
    "id, name, kind, settings, created_by, created_at, updated_at, sync_cursor, dataset_id FROM crm_connections";

fn connection_from_row(r: &sqlx::any::AnyRow) -> Result<Connection, StoreError> {
    let settings: String = r.get(3);
    Ok(Connection {
        id: ConnectionId(r.get(0)),
        name: r.get(1),
        kind: CrmKind::parse(&r.get::<String, _>(2)).ok_or(StoreError::Corrupt("crm_connections.kind"))?,
        settings: serde_json::from_str(&settings).map_err(|_| StoreError::Corrupt("crm_connections.settings"))?,
        created_by: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
        cursor: r.get(7),
        dataset: r.get::<Option<String>, _>(8).map(DatasetId),
    })
}

const SYNC_COLUMNS: &str = "id, connection_id, mode, state, phase, started_by, started_at, heartbeat_at, \
     finished_at, records_read, records_deleted, requests, dataset_id, message, summary FROM crm_syncs";

/// What a running sync whose process stopped is shown with.
const STOPPED: &str = "the node running this sync stopped before it ended; nothing of it was kept";

fn sync_from_row(r: &sqlx::any::AnyRow, now: i64) -> Result<CrmSync, StoreError> {
    let count = |i: usize, what| u64::try_from(r.get::<i64, _>(i)).map_err(|_| StoreError::Corrupt(what));
    let mut state = SyncState::parse(&r.get::<String, _>(3))?;
    let heartbeat_at: i64 = r.get(7);
    let mut message: Option<String> = r.get(13);
    if state == SyncState::Running && heartbeat_at < now - STALE_AFTER_MS {
        state = SyncState::Failed;
        message = Some(STOPPED.to_owned());
    }
    let summary = match r.get::<Option<String>, _>(14) {
        Some(text) => Some(serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("crm_syncs.summary"))?),
        None => None,
    };
    Ok(CrmSync {
        id: SyncId(r.get(0)),
        connection: ConnectionId(r.get(1)),
        mode: SyncMode::parse(&r.get::<String, _>(2))?,
        state,
        phase: r.get(4),
        started_by: r.get(5),
        started_at: r.get(6),
        heartbeat_at,
        finished_at: r.get(8),
        records_read: count(9, "crm_syncs.records_read")?,
        records_deleted: count(10, "crm_syncs.records_deleted")?,
        requests: count(11, "crm_syncs.requests")?,
        dataset: r.get::<Option<String>, _>(12).map(DatasetId),
        message,
        summary,
    })
}

impl Store {
    /// Makes a connection of `org`, its credentials sealed, as `actor`; audited
    /// `crm.connection_created` (its name and kind, never a credential).
    pub async fn create_connection(
        &self,
        org: &OrgId,
        new: &NewConnection<'_>,
        actor: &str,
    ) -> Result<Connection, StoreError> {
        check_name("a connection's name", new.name)?;
        let id = ConnectionId::generate();
        let sealed = self.keyring()?.seal(&CRM_CREDENTIALS, id.as_str(), new.credentials.expose_secret());
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO crm_connections (id, org_id, name, kind, settings, credentials, created_by, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(new.name)
        .bind(new.kind.as_str())
        .bind(new.settings.to_string())
        .bind(sealed)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            e if is_unique_violation(e) => StoreError::Conflict("a connection of that name"),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("organisation"),
            _ => e.into(),
        })?;
        let detail = serde_json::json!({ "connection": id.as_str(), "name": new.name, "kind": new.kind.as_str() });
        append_audit(&mut tx, org, now, actor, "crm.connection_created", &detail).await?;
        tx.commit().await?;
        self.connection(org, &id).await
    }

    /// `org`'s connections, by name.
    pub async fn connections(&self, org: &OrgId) -> Result<Vec<Connection>, StoreError> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} WHERE org_id = $1 ORDER BY name, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(connection_from_row).collect()
    }

    /// One of `org`'s connections.
    pub async fn connection(&self, org: &OrgId, id: &ConnectionId) -> Result<Connection, StoreError> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} WHERE id = $1 AND org_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("connection"))?;
        connection_from_row(&row)
    }

    /// A connection's credentials, opened.
    pub async fn connection_credentials(&self, org: &OrgId, id: &ConnectionId) -> Result<SecretString, StoreError> {
        let row = sqlx::query("SELECT credentials FROM crm_connections WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("connection"))?;
        let sealed: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(row.get(0));
        let opened = self.keyring()?.open(&CRM_CREDENTIALS, id.as_str(), &sealed)?;
        Ok(SecretString::from(opened.as_str()))
    }

    /// Replaces a connection's settings and credentials (either or both), as `actor`; audited
    /// `crm.connection_updated` with which changed. The cursor is kept: a change of what is read
    /// shows from the next full sync.
    pub async fn update_connection(
        &self,
        org: &OrgId,
        id: &ConnectionId,
        settings: Option<&serde_json::Value>,
        credentials: Option<&SecretString>,
        actor: &str,
    ) -> Result<Connection, StoreError> {
        let sealed = match credentials {
            Some(c) => Some(self.keyring()?.seal(&CRM_CREDENTIALS, id.as_str(), c.expose_secret())),
            None => None,
        };
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE crm_connections SET settings = COALESCE($1, settings), credentials = COALESCE($2, credentials), \
             updated_at = $3 WHERE id = $4 AND org_id = $5",
        )
        .bind(settings.map(ToString::to_string))
        .bind(sealed)
        .bind(now)
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("connection"));
        }
        let detail = serde_json::json!({
            "connection": id.as_str(), "settings": settings.is_some(), "credentials": credentials.is_some(),
        });
        append_audit(&mut tx, org, now, actor, "crm.connection_updated", &detail).await?;
        tx.commit().await?;
        self.connection(org, id).await
    }

    /// Deletes a connection, its syncs' records and what its write-back kept, as `actor` (audited
    /// `crm.connection_deleted`); the datasets its syncs built stay, and so do the records it
    /// wrote into the CRM. Refused while it syncs or writes back.
    pub async fn delete_connection(&self, org: &OrgId, id: &ConnectionId, actor: &str) -> Result<(), StoreError> {
        let connection = self.connection(org, id).await?;
        let mut tx = self.begin_write().await?;
        let running = sqlx::query(
            "SELECT 1 FROM crm_syncs WHERE connection_id = $1 AND state = 'running' AND heartbeat_at >= $2",
        )
        .bind(id.as_str())
        .bind(now_ms() - STALE_AFTER_MS)
        .fetch_optional(&mut *tx)
        .await?;
        if running.is_some() {
            return Err(StoreError::SyncInProgress);
        }
        let writing = sqlx::query(
            "SELECT 1 FROM crm_writebacks WHERE connection_id = $1 AND state = 'running' AND heartbeat_at >= $2",
        )
        .bind(id.as_str())
        .bind(now_ms() - STALE_AFTER_MS)
        .fetch_optional(&mut *tx)
        .await?;
        if writing.is_some() {
            return Err(StoreError::WritebackInProgress);
        }
        sqlx::query("DELETE FROM crm_syncs WHERE connection_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM crm_writebacks WHERE connection_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM crm_writeback WHERE connection_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM crm_connections WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({ "connection": id.as_str(), "name": connection.name });
        append_audit(&mut tx, org, now_ms(), actor, "crm.connection_deleted", &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a new running sync of a connection, started by `actor`. Refused
    /// ([`StoreError::SyncInProgress`]) while another runs; one whose process stopped is ended
    /// as failed first.
    pub async fn begin_sync(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        mode: SyncMode,
        actor: &str,
    ) -> Result<CrmSync, StoreError> {
        self.connection(org, connection).await?;
        let id = SyncId::generate();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE crm_syncs SET state = 'failed', message = $1, finished_at = $2 \
             WHERE connection_id = $3 AND state = 'running' AND heartbeat_at < $4",
        )
        .bind(STOPPED)
        .bind(now)
        .bind(connection.as_str())
        .bind(now - STALE_AFTER_MS)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO crm_syncs (id, org_id, connection_id, mode, state, phase, started_by, started_at, \
             heartbeat_at) VALUES ($1, $2, $3, $4, 'running', 'starting', $5, $6, $6)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(connection.as_str())
        .bind(mode.as_str())
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::SyncInProgress } else { e.into() })?;
        tx.commit().await?;
        self.sync(org, &id).await
    }

    /// Records a running sync's progress, which is also its heartbeat. `false` if it is no
    /// longer running (ended, or taken for stopped): its process should give up.
    pub async fn sync_progress(&self, id: &SyncId, progress: &SyncProgress<'_>) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE crm_syncs SET phase = $1, records_read = $2, records_deleted = $3, requests = $4, \
             heartbeat_at = $5 WHERE id = $6 AND state = 'running'",
        )
        .bind(progress.phase)
        .bind(i64::try_from(progress.records_read).unwrap_or(i64::MAX))
        .bind(i64::try_from(progress.records_deleted).unwrap_or(i64::MAX))
        .bind(i64::try_from(progress.requests).unwrap_or(i64::MAX))
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Ends a running sync as `end` says, audited as `crm.synced`, `crm.sync_failed` or
    /// `crm.sync_paused`. A complete one moves its connection's cursor and dataset in the same
    /// transaction.
    pub async fn end_sync(&self, org: &OrgId, id: &SyncId, end: &SyncEnd) -> Result<CrmSync, StoreError> {
        let sync = self.sync(org, id).await?;
        let now = now_ms();
        let (state, message, dataset, summary, kind) = match end {
            SyncEnd::Complete { dataset, summary, .. } => {
                (SyncState::Complete, None, Some(dataset.as_str()), Some(summary.to_string()), "crm.synced")
            }
            SyncEnd::Failed(why) => (SyncState::Failed, Some(why.as_str()), None, None, "crm.sync_failed"),
            SyncEnd::Paused(why) => (SyncState::Paused, Some(why.as_str()), None, None, "crm.sync_paused"),
        };
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE crm_syncs SET state = $1, message = $2, dataset_id = $3, summary = $4, finished_at = $5, \
             phase = CASE WHEN $1 = 'complete' THEN 'done' ELSE phase END, heartbeat_at = $5 \
             WHERE id = $6 AND org_id = $7 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(message)
        .bind(dataset)
        .bind(summary)
        .bind(now)
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Changed);
        }
        if let SyncEnd::Complete { dataset, cursor, .. } = end {
            sqlx::query("UPDATE crm_connections SET sync_cursor = $1, dataset_id = $2 WHERE id = $3 AND org_id = $4")
                .bind(cursor.as_deref())
                .bind(dataset.as_str())
                .bind(sync.connection.as_str())
                .bind(org.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let detail = serde_json::json!({
            "connection": sync.connection.as_str(), "sync": id.as_str(), "mode": sync.mode.as_str(),
            "dataset": dataset, "message": message,
        });
        append_audit(&mut tx, org, now, &sync.started_by, kind, &detail).await?;
        tx.commit().await?;
        self.sync(org, id).await
    }

    /// One of `org`'s syncs.
    pub async fn sync(&self, org: &OrgId, id: &SyncId) -> Result<CrmSync, StoreError> {
        let sql = format!("SELECT {SYNC_COLUMNS} WHERE id = $1 AND org_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("sync"))?;
        sync_from_row(&row, now_ms())
    }

    /// A connection's latest syncs, newest first, at most `limit`.
    pub async fn syncs(&self, org: &OrgId, connection: &ConnectionId, limit: u32) -> Result<Vec<CrmSync>, StoreError> {
        self.connection(org, connection).await?;
        let sql = format!(
            "SELECT {SYNC_COLUMNS} WHERE connection_id = $1 AND org_id = $2 ORDER BY started_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(connection.as_str())
            .bind(org.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let now = now_ms();
        rows.iter().map(|r| sync_from_row(r, now)).collect()
    }

    /// Records a CRM authorization of `user` of `org` as the browser leaves for the CRM, under
    /// the hash of its `state`, with what to make when it comes back (sealed); it expires after
    /// [`CRM_AUTHORIZATION_MS`]. Expired ones are deleted meanwhile.
    pub async fn begin_crm_authorization(
        &self,
        org: &OrgId,
        user: &UserId,
        state_hash: &str,
        request: &SecretString,
    ) -> Result<(), StoreError> {
        let sealed = self.keyring()?.seal(&CRM_AUTHORIZATIONS, state_hash, request.expose_secret());
        let now = now_ms();
        sqlx::query("DELETE FROM crm_authorizations WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO crm_authorizations (state_hash, org_id, user_id, request, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash)
        .bind(org.as_str())
        .bind(user.as_str())
        .bind(sealed)
        .bind(now + CRM_AUTHORIZATION_MS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the CRM authorization recorded under `state_hash`: deleted as it is read, so a
    /// state answers once. Expired ones are returned marked so.
    pub async fn take_crm_authorization(&self, state_hash: &str) -> Result<Option<CrmAuthorization>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM crm_authorizations WHERE state_hash = $1 RETURNING org_id, user_id, request, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let sealed: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(r.get(2));
        let opened = self.keyring()?.open(&CRM_AUTHORIZATIONS, state_hash, &sealed)?;
        let expires_at: i64 = r.get(3);
        Ok(Some(CrmAuthorization {
            org: OrgId(r.get(0)),
            user: UserId(r.get(1)),
            request: SecretString::from(opened.as_str()),
            expired: expires_at < now_ms(),
        }))
    }
}

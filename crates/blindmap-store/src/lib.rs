//! blindmap's persistence: the organisations a node hosts, their users and API tokens, imported
//! datasets, partnerships and their sharing policies, match runs and their results, partner
//! attribution (touches and the ledger of record), users' corrections of what matching showed
//! (applied wherever overlaps are read), and the audit trail of what was revealed to whom.
//!
//! One set of migrations serves both backends — SQLite, the embedded default (one file, WAL),
//! and PostgreSQL for production — chosen by the database URL. Every query names the
//! organisation it acts for, so one organisation's data is never reachable through another's.
//! Every multi-row write is one transaction: an import that fails half-way leaves the previous
//! datasets as they were. Secrets the node must read back are sealed at rest ([`Keyring`]), and a
//! SQLite file is created readable by its owner only.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod alerts;
mod attribution;
mod audit;
mod browser;
mod changes;
mod corrections;
mod cosell;
mod crm;
mod datasets;
mod ecosystem;
mod error;
mod events;
mod idempotency;
mod ids;
mod kept;
mod orgs;
mod partnerships;
mod registrations;
mod reports;
mod retention;
mod runs;
mod schedules;
mod sealed;
mod search;
mod sso;
#[cfg(feature = "testing")]
pub mod testing;
mod web;
mod writeback;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use alerts::{
    ALERT_EVENT_KINDS, AlertAttempt, AlertChanges, AlertChannel, AlertChannelKind, AlertItem, AlertMessage, AlertMode,
    AlertRoute, AlertRule, AlertState, ComposedAlert, DueAlert, NewAlertChannel, NewAlertRule,
};
pub use attribution::{
    ClosedOpportunity, InboundSource, LedgerCursor, LedgerEntry, NewTouch, PipelineTouches, StoredTouch,
};
pub use audit::{AuditEvent, AuditFilter};
pub use browser::{BrowserLink, Invitation, KEPT_KEYS_MAX_AGE_MS};
pub use changes::{
    AccountChange, ChangeCursor, ChangeFilter, ChangeKind, DEFAULT_CHANGE_DAYS, DEFAULT_KEEP_RUNS, Retention,
    StoredChange,
};
pub use corrections::{Correction, CorrectionKind, NewCorrection, canonical_key_types};
pub use cosell::StoredCoSell;
pub use crm::{
    CRM_AUTHORIZATION_MS, Connection, CrmAuthorization, CrmKind, CrmSync, NewConnection, SyncEnd, SyncMode,
    SyncProgress, SyncState,
};
pub use datasets::{AccountLabel, DatasetInfo, StoredAccount};
pub use ecosystem::{CoSellOutcomes, EcosystemCandidate, EcosystemFilter, EcosystemPartner, LedgerCredits};
pub use error::StoreError;
pub use events::{Attempt, Due, Endpoint, EndpointState, Event, Retry};
pub use idempotency::{Claim, IDEMPOTENCY_KEPT_MS, IDEMPOTENCY_LEASE_MS};
pub use ids::{AlertChannelId, AlertMessageId, AlertRuleId};
pub use ids::{ConnectionId, CorrectionId, JobId, RefusalId, SourceId, SyncId, TouchId, WritebackId};
pub use ids::{DatasetId, EndpointId, EventId, OrgId, PartnershipId, RunId, TokenId, UserId};
pub use kept::Kept;
pub use orgs::{ApiToken, ListedUser, Organisation, Principal, Role, TokenInfo, User, UserState};
pub use partnerships::{InviteSecret, Partnership, PartnershipState, SharingPolicy, SharingRule};
pub use registrations::{Allowance, Direction, Record, StoredRegistration};
pub use reports::{
    CellTiers, NARROWED, ReportCursor, ReportFilter, ReportRow, ReportScope, ReportSort, ReportStart, is_field_name,
};
pub use retention::Swept;
pub use runs::Tier;
pub use runs::{
    Completion, Listed, ListedOverlap, NewRun, OverlapCursor, OverlapFilter, Run, RunOverlap, RunRole, RunState,
    STALE_AFTER_MS,
};
pub use schedules::{Budget, Job, JobEnd, JobState, Refusal, RefusalReason, Schedule, ScheduleKind};
pub use sealed::{Keyring, Resealed, SecretsKey};
pub use sso::{SSO_FLOW_MS, SsoConfig, SsoFlow, SsoOrganisation, SsoSettings, SsoSignIn, sso_hash};
pub use web::{LINK_MS, SESSION_MS, Secret, WebSession};
pub use writeback::{
    CrmWriteback, WantedOverlap, WritebackEnd, WritebackItem, WritebackPlan, WritebackProgress, WritebackResult,
    WritebackState,
};

/// The embedded migrations (`crates/blindmap-store/migrations/`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections a SQLite store pools unless told otherwise.
pub const DEFAULT_SQLITE_CONNECTIONS: u32 = 8;

/// How much of a SQLite database each connection maps into memory for reading: the mapped
/// pages are the operating system's cache of the file, shared by every connection and given
/// back under memory pressure (they count in the process's resident size as the file's, not as
/// its own memory). SQLite caps it at 2 GiB; past that a file is read as before.
pub const SQLITE_MMAP_BYTES: u64 = 2 << 30;
/// Connections a PostgreSQL store pools unless told otherwise.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection pool to a migrated database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Seals and opens secrets at rest; none until [`Store::with_secrets`].
    secrets: Option<std::sync::Arc<Keyring>>,
    /// Totals of lists across partners, counted once per state (see `reports.rs`).
    totals: std::sync::Arc<reports::Totals>,
    /// The accounts searches found, per datasets and search (see `reports.rs`).
    found: std::sync::Arc<reports::Found>,
    /// The fields complete runs disclose, and their values (see `reports.rs`).
    listed_fields: std::sync::Arc<reports::ListedFields>,
    field_values: std::sync::Arc<reports::FieldValues>,
}

impl Store {
    /// A transaction that writes. On SQLite it takes the write lock at its start (`BEGIN
    /// IMMEDIATE`), waiting for another writer within the busy timeout: one begun deferred
    /// that reads before it writes would instead fail at once (`SQLITE_BUSY_SNAPSHOT`) when
    /// another writer committed in between — a 503 under concurrent requests.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Connects to `url` (`sqlite:PATH` — created if missing, readable by its owner only — or
    /// `postgres://…`) and applies any migrations not yet applied. Secrets need a keyring too:
    /// [`Store::with_secrets`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, None).await
    }

    /// [`Store::connect`] with a pool of at most `max_connections` (default: 8 for SQLite, whose
    /// one writer makes more useless, 16 for PostgreSQL).
    pub async fn connect_with(url: &str, max_connections: Option<u32>) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        if backend == Backend::Sqlite {
            private_sqlite_files(url)?;
        }
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Database)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.unwrap_or(match backend {
                Backend::Sqlite => DEFAULT_SQLITE_CONNECTIONS,
                Backend::Postgres => DEFAULT_POSTGRES_CONNECTIONS,
            }))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Foreign keys are off by default. The busy timeout comes first: a
                        // connection opened while another writes must wait, not fail. (WAL mode is
                        // set once below: it stays with the file, and asking again on every new
                        // connection would need the writer's lock during a long import.)
                        conn.execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON").await?;
                        // Pages read straight from the operating system's cache of the file
                        // rather than copied into each connection's own (a few MiB): a list
                        // across 50 partners reads thousands of pages, and a connection new to
                        // them read them 4× slower (see `SQLITE_MMAP_BYTES`).
                        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA mmap_size = {SQLITE_MMAP_BYTES}"))).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Database)?;
        if backend == Backend::Sqlite {
            // WAL lets readers work while an import writes.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        let store = Self {
            pool,
            backend,
            secrets: None,
            totals: std::sync::Arc::new(reports::Totals::new(reports::TOTALS_KEPT)),
            found: std::sync::Arc::new(reports::Found::new(reports::FOUND_KEPT)),
            listed_fields: std::sync::Arc::new(reports::ListedFields::new(reports::FIELDS_KEPT)),
            field_values: std::sync::Arc::new(reports::FieldValues::new(reports::FIELDS_KEPT)),
        };
        store.fill_search_text().await?;
        store.fill_overlap_owners().await?;
        store.fill_overlap_fields().await?;
        // A store written before statistics were kept (or by a bulk write that stopped short).
        store.refresh_statistics("run_overlaps").await?;
        store.refresh_statistics("run_overlap_fields").await?;
        Ok(store)
    }

    /// Refreshes the query planner's statistics of `table` after a bulk write, so that it picks
    /// the index that fits each query: without them SQLite may walk a run's whole name index to
    /// find one account's rows. Both backends sample (SQLite up to `analysis_limit` rows per
    /// index): milliseconds on SQLite, about a second on PostgreSQL at millions of rows.
    pub(crate) async fn refresh_statistics(&self, table: &'static str) -> Result<(), StoreError> {
        let analyse = sqlx::AssertSqlSafe(format!("ANALYZE {table}"));
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.pool.acquire().await?;
                sqlx::query("PRAGMA analysis_limit = 1000").execute(&mut *conn).await?;
                sqlx::query(analyse).execute(&mut *conn).await?;
            }
            Backend::Postgres => {
                sqlx::query(analyse).execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Rows per multi-row INSERT of `columns` columns. SQLite binds by looking each parameter
    /// up by name, which grows with the square of a statement's parameters: it gets about 500
    /// parameters a statement; PostgreSQL, whose round trips cost more, about 5,000.
    pub(crate) fn insert_batch(&self, columns: usize) -> usize {
        let parameters = match self.backend {
            Backend::Sqlite => 500,
            Backend::Postgres => 5000,
        };
        (parameters / columns).max(1)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file a `sqlite:` URL names, if it names one (not an in-memory database).
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    (!in_memory).then(|| std::path::PathBuf::from(path))
}

/// Creates the SQLite file `url` names readable and writable by its owner only, or makes an
/// existing one (and its journal, WAL and shared-memory files) so. SQLite gives the files it
/// creates beside a database the database file's mode, so they follow.
fn private_sqlite_files(url: &str) -> Result<(), StoreError> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    let failed = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |error| StoreError::File { path, error }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(&path)(e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(failed(&file))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:/var/lib/blindmap/node.db"), Some("/var/lib/blindmap/node.db".into()));
        assert_eq!(sqlite_path("sqlite:///tmp/a.db?mode=rwc"), Some("/tmp/a.db".into()));
        assert_eq!(sqlite_path("sqlite:node.db"), Some("node.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite:shared?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_path("postgres://db/x"), None);
    }
}

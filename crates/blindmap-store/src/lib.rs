//! blindmap's persistence: the organisations a node hosts, their users and API tokens, imported
//! datasets, partnerships and their sharing policies, match runs and their results, partner
//! attribution (touches and the ledger of record), and the audit trail of what was revealed to whom.
//!
//! One set of migrations serves both backends — SQLite, the embedded default (one file, WAL),
//! and PostgreSQL for production — chosen by the database URL. Every query names the
//! organisation it acts for, so one organisation's data is never reachable through another's.
//! Every multi-row write is one transaction: an import that fails half-way leaves the previous
//! datasets as they were.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attribution;
mod audit;
mod cosell;
mod datasets;
mod error;
mod events;
mod idempotency;
mod ids;
mod orgs;
mod partnerships;
mod registrations;
mod reports;
mod runs;
mod search;
#[cfg(feature = "testing")]
pub mod testing;
mod web;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use attribution::{ClosedOpportunity, InboundSource, LedgerCursor, LedgerEntry, StoredTouch};
pub use audit::AuditEvent;
pub use cosell::StoredCoSell;
pub use datasets::DatasetInfo;
pub use error::StoreError;
pub use events::{Attempt, Due, Endpoint, EndpointState, Event, Retry};
pub use idempotency::{Claim, IDEMPOTENCY_KEPT_MS, IDEMPOTENCY_LEASE_MS};
pub use ids::{DatasetId, EndpointId, EventId, OrgId, PartnershipId, RunId, TokenId, UserId};
pub use ids::{SourceId, TouchId};
pub use orgs::{ApiToken, ListedUser, Organisation, Principal, Role, TokenInfo, User, UserState};
pub use partnerships::{InviteSecret, Partnership, PartnershipState, SharingLevel, SharingPolicy, SharingRule};
pub use registrations::{Allowance, Direction, Record, StoredRegistration};
pub use reports::{ReportFilter, ReportRow, ReportSort};
pub use runs::{
    Completion, ListedOverlap, NewRun, OverlapCursor, OverlapFilter, Run, RunOverlap, RunRole, RunState, STALE_AFTER_MS,
};
pub use web::{LINK_MS, SESSION_MS, Secret, WebSession};

/// The embedded migrations (`crates/blindmap-store/migrations/`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
}

impl Store {
    /// Connects to `url` (`sqlite:PATH` — created if missing — or `postgres://…`) and applies
    /// any migrations not yet applied.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Database)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Foreign keys are off by default. The busy timeout comes first: a
                        // connection opened while another writes must wait, not fail. (WAL mode is
                        // set once below: it stays with the file, and asking again on every new
                        // connection would need the writer's lock during a long import.)
                        conn.execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON").await?;
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
        let store = Self { pool, backend };
        store.fill_search_text().await?;
        Ok(store)
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

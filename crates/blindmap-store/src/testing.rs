//! Fresh stores for tests, on either backend (feature `testing`; never in production builds).
//!
//! PostgreSQL stores are made on the server `BLINDMAP_TEST_POSTGRES_URL` names (a superuser URL;
//! `scripts/with-postgres.sh` starts a throwaway server and sets it), one new database each.
//! Without that variable there is none, unless `BLINDMAP_REQUIRE_POSTGRES` is set: then it fails.

use sqlx::Executor;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::Store;

/// A store on a new SQLite file, sealing secrets under a new random key; the folder goes when
/// the guard drops.
pub async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store =
        Store::connect(&format!("sqlite:{}", dir.path().join("node.db").display())).await.expect("SQLite store");
    (store.with_secrets(keyring()), dir)
}

/// A store on a new PostgreSQL database, sealing secrets under a new random key, or `None` when
/// no test server is configured.
pub async fn postgres() -> Option<Store> {
    let url = postgres_url().await?;
    Some(Store::connect(&url).await.expect("PostgreSQL store").with_secrets(keyring()))
}

/// A keyring of one new random key.
pub fn keyring() -> crate::Keyring {
    crate::Keyring::new(crate::SecretsKey::generate(), Vec::new())
}

/// The URL of a new, empty PostgreSQL database, or `None` when no test server is configured.
pub async fn postgres_url() -> Option<String> {
    let Ok(admin_url) = std::env::var("BLINDMAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("BLINDMAP_REQUIRE_POSTGRES").is_none(),
            "BLINDMAP_REQUIRE_POSTGRES is set but BLINDMAP_TEST_POSTGRES_URL is not: run under scripts/with-postgres.sh"
        );
        eprintln!("BLINDMAP_TEST_POSTGRES_URL not set: skipping the PostgreSQL run");
        return None;
    };
    install_default_drivers();
    let admin = AnyPoolOptions::new().max_connections(1).connect(&admin_url).await.expect("the test server");
    let name = format!("t_{}", crate::ids::random_hex());
    // The name is ours (hex), not input: safe to splice into the statement.
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("CREATE DATABASE");
    admin.close().await;
    let base = admin_url.rsplit_once('/').expect("a URL with a database").0;
    Some(format!("{base}/{name}"))
}

/// Runs `async fn NAME(store: Store)` test bodies on both backends: one `#[tokio::test]` module
/// per name with `sqlite` and `postgres` tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = $crate::testing::sqlite().await;
                super::$name(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(store) = $crate::testing::postgres().await {
                    super::$name(store).await;
                }
            }
        }
    )*};
}

/// Makes a run's heartbeat look `ms` older, as if its driving process had stopped that long ago.
pub async fn age_heartbeat(store: &Store, run: &crate::RunId, ms: i64) {
    sqlx::query("UPDATE match_runs SET heartbeat_at = heartbeat_at - $1 WHERE id = $2")
        .bind(ms)
        .bind(run.as_str())
        .execute(&store.pool)
        .await
        .expect("age the heartbeat");
}

/// Makes a CRM sync's heartbeat look `ms` older, as if its process had stopped that long ago.
pub async fn age_sync_heartbeat(store: &Store, sync: &crate::SyncId, ms: i64) {
    sqlx::query("UPDATE crm_syncs SET heartbeat_at = heartbeat_at - $1 WHERE id = $2")
        .bind(ms)
        .bind(sync.as_str())
        .execute(&store.pool)
        .await
        .expect("age the heartbeat");
}

/// Ages a running write-back's heartbeat by `ms`, as if its process had stopped that long ago.
pub async fn age_writeback_heartbeat(store: &Store, writeback: &crate::WritebackId, ms: i64) {
    sqlx::query("UPDATE crm_writebacks SET heartbeat_at = heartbeat_at - $1 WHERE id = $2")
        .bind(ms)
        .bind(writeback.as_str())
        .execute(&store.pool)
        .await
        .expect("age the heartbeat");
}

/// Moves a registration's protection end to `until` (Unix ms), as if it had been approved that
/// long ago: the node's sweep expires it when `until` passes.
pub async fn set_protection_end(store: &Store, registration: &str, until: i64) {
    let row = sqlx::query("SELECT body FROM registrations WHERE id = $1")
        .bind(registration)
        .fetch_one(&store.pool)
        .await
        .expect("the registration");
    let mut body: serde_json::Value = serde_json::from_str(&sqlx::Row::get::<String, _>(&row, 0)).expect("JSON");
    body["protected_until"] = until.into();
    sqlx::query("UPDATE registrations SET body = $1, protected_until = $2, version = version + 1 WHERE id = $3")
        .bind(body.to_string())
        .bind(until)
        .bind(registration)
        .execute(&store.pool)
        .await
        .expect("move the protection end");
}

/// Moves the lease of `org`'s idempotency key `key` back by `ms`, as if its holder had stopped
/// renewing it that long ago.
pub async fn age_idempotency_lease(store: &Store, org: &crate::OrgId, key: &str, ms: i64) {
    sqlx::query("UPDATE idempotency_keys SET lease_until = lease_until - $1 WHERE org_id = $2 AND key = $3")
        .bind(ms)
        .bind(org.as_str())
        .bind(key)
        .execute(&store.pool)
        .await
        .unwrap();
}

/// Makes `org`'s finished idempotency key `key` look as if its request were still running under
/// a live lease (as when the node that ran it died before recording the response).
pub async fn unfinish_idempotency_key(store: &Store, org: &crate::OrgId, key: &str) {
    sqlx::query(
        "UPDATE idempotency_keys SET status = NULL, response = NULL, holder = 'gone', lease_until = $1 \
         WHERE org_id = $2 AND key = $3",
    )
    .bind(crate::ids::now_ms() + crate::IDEMPOTENCY_LEASE_MS)
    .bind(org.as_str())
    .bind(key)
    .execute(&store.pool)
    .await
    .unwrap();
}

/// How many rows `table` holds (a test's view of what a failed write left behind).
pub async fn count_rows(store: &Store, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&store.pool)
        .await
        .map(|r| sqlx::Row::get::<i64, _>(&r, 0))
        .unwrap()
}

/// A column that keeps a secret, as tests read it raw.
#[derive(Debug, Clone, Copy)]
pub enum SecretColumn {
    /// `webhook_endpoints.secret`.
    Webhook,
    /// `inbound_sources.secret`.
    Inbound,
    /// `crm_connections.credentials`.
    Crm,
    /// `alert_channels.secret`.
    Alert,
}

/// Writes `text` into a secret column for row `id` as it is, as a node from before secrets were
/// sealed kept them.
pub async fn put_stored_secret(store: &Store, column: SecretColumn, id: &str, text: &str) {
    let query = match column {
        SecretColumn::Webhook => "UPDATE webhook_endpoints SET secret = $1 WHERE id = $2",
        SecretColumn::Inbound => "UPDATE inbound_sources SET secret = $1 WHERE id = $2",
        SecretColumn::Crm => "UPDATE crm_connections SET credentials = $1 WHERE id = $2",
        SecretColumn::Alert => "UPDATE alert_channels SET secret = $1 WHERE id = $2",
    };
    sqlx::query(query).bind(text).bind(id).execute(&store.pool).await.expect("the row");
}

/// The text a secret column holds for row `id`, exactly as stored.
pub async fn stored_secret(store: &Store, column: SecretColumn, id: &str) -> String {
    let query = match column {
        SecretColumn::Webhook => "SELECT secret FROM webhook_endpoints WHERE id = $1",
        SecretColumn::Inbound => "SELECT secret FROM inbound_sources WHERE id = $1",
        SecretColumn::Crm => "SELECT credentials FROM crm_connections WHERE id = $1",
        SecretColumn::Alert => "SELECT secret FROM alert_channels WHERE id = $1",
    };
    let row = sqlx::query(query).bind(id).fetch_one(&store.pool).await.expect("the row");
    sqlx::Row::get(&row, 0)
}

/// Makes one event look `ms` older than it is, as an event written in a transaction that began
/// earlier but committed later than events already served looks to a reader.
pub async fn backdate_event(store: &Store, event: &crate::EventId, ms: i64) {
    sqlx::query("UPDATE events SET created_at = created_at - $1 WHERE id = $2")
        .bind(ms)
        .bind(event.as_str())
        .execute(&store.pool)
        .await
        .expect("backdate the event");
}

/// Makes every single sign-on under way look expired, as if its browser had stayed at the
/// provider too long.
pub async fn expire_sso_flows(store: &Store) {
    sqlx::query("UPDATE sso_flows SET expires_at = 1").execute(&store.pool).await.expect("expire the flows");
}

/// Moves every pre-check `store` counted `ms` milliseconds into the past (out of the
/// per-minute window, still in the day's), so a test's limits do not depend on how long its
/// earlier steps took.
pub async fn age_prechecks(store: &Store, ms: i64) {
    sqlx::query("UPDATE prechecks SET at = at - $1").bind(ms).execute(&store.pool).await.expect("age the pre-checks");
}

/// Makes a partnership's schedule due now, as if its time had come.
pub async fn make_schedule_due(store: &Store, partnership: &crate::PartnershipId) {
    sqlx::query("UPDATE run_schedules SET next_due_at = $1 WHERE partnership_id = $2")
        .bind(crate::ids::now_ms())
        .bind(partnership.as_str())
        .execute(&store.pool)
        .await
        .unwrap();
}

/// Makes every pending alert message due now, as if its digest's time had come (and its retry's).
pub async fn make_alerts_due(store: &Store) {
    sqlx::query("UPDATE alert_messages SET next_attempt_at = $1, due_at = $1 WHERE state = 'pending'")
        .bind(crate::ids::now_ms())
        .execute(&store.pool)
        .await
        .unwrap();
}

/// Makes the lease of every job `holder` holds lapse now, as if it had stopped renewing them,
/// and the heartbeat of the runs of their attempts look a minute older: what a replica that died
/// leaves behind, a minute later.
pub async fn lapse_leases_of(store: &Store, holder: &str) {
    sqlx::query("UPDATE run_jobs SET lease_until = 0 WHERE holder = $1 AND state = 'running'")
        .bind(holder)
        .execute(&store.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE match_runs SET heartbeat_at = heartbeat_at - $1 WHERE state = 'running' \
         AND id IN (SELECT run_id FROM run_jobs WHERE holder = $2)",
    )
    .bind(crate::STALE_AFTER_MS + 1_000)
    .bind(holder)
    .execute(&store.pool)
    .await
    .unwrap();
}

/// The size of a SQLite store's write-ahead log in bytes (`None` on PostgreSQL).
pub async fn wal_bytes(store: &Store) -> Option<u64> {
    if store.backend() != crate::Backend::Sqlite {
        return None;
    }
    let row = sqlx::query("PRAGMA database_list").fetch_one(&store.pool).await.unwrap();
    let file: String = sqlx::Row::get(&row, 2);
    Some(std::fs::metadata(format!("{file}-wal")).map_or(0, |m| m.len()))
}

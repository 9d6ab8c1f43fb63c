//! Idempotency keys for creating calls, held while their request runs.
//!
//! On PostgreSQL (several replicas) a claim is a lease its request renews: a replica that dies
//! stops renewing, and the key lapses. On SQLite (one process) a claim holds until its request
//! finishes: renewing would need the one writer's lock, which a long import holds between its
//! chunks; a node starting releases what a previous run of it left held
//! ([`Store::release_abandoned_idempotency_keys`]).

use sqlx::Row;

use crate::ids::{OrgId, now_ms};
use crate::{Store, StoreError};

/// How long a claim holds its key without being renewed (PostgreSQL): a request renews it while
/// it runs ([`Store::renew_idempotent`]); one that died lets it lapse and a retry runs.
pub const IDEMPOTENCY_LEASE_MS: i64 = 30_000;

/// How long a key and its response are remembered.
pub const IDEMPOTENCY_KEPT_MS: i64 = 24 * 3_600_000;

/// What a call with an idempotency key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours under `holder` (new, or taken over from a request whose lease lapsed): go
    /// ahead, renew while working, then [`Store::finish_idempotent`] (or
    /// [`Store::release_idempotent`] on failure).
    Proceed {
        /// The claim's own secret: renewing, finishing and releasing need it.
        holder: String,
    },
    /// The same request already completed: answer with its response.
    Replay {
        /// Its HTTP status.
        status: u16,
        /// Its body.
        response: String,
    },
    /// The same key is held by a request still running (its lease is live).
    InFlight {
        /// Milliseconds until its lease lapses unless renewed.
        lease_left_ms: i64,
    },
    /// The key was used for a different request.
    Mismatch,
}

impl Store {
    /// Claims `key` for a request of `org` whose content hashes to `request_hash`. A retry of a
    /// request still running is answered from a read alone: it writes nothing (on SQLite, a long
    /// import holds the one writer's lock).
    pub async fn claim_idempotent(&self, org: &OrgId, key: &str, request_hash: &str) -> Result<Claim, StoreError> {
        for _ in 0..3 {
            let now = now_ms();
            let holder = hex::encode(rand::random::<[u8; 16]>());
            let row = sqlx::query(
                "SELECT request_hash, status, response, lease_until FROM idempotency_keys \
                 WHERE org_id = $1 AND key = $2 AND created_at >= $3",
            )
            .bind(org.as_str())
            .bind(key)
            .bind(now - IDEMPOTENCY_KEPT_MS)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else {
                sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND created_at < $2")
                    .bind(org.as_str())
                    .bind(now - IDEMPOTENCY_KEPT_MS)
                    .execute(&self.pool)
                    .await?;
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at, holder, lease_until) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, key) DO NOTHING",
                )
                .bind(org.as_str())
                .bind(key)
                .bind(request_hash)
                .bind(now)
                .bind(&holder)
                .bind(self.lease_until(now))
                .execute(&self.pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(Claim::Proceed { holder });
                }
                continue; // another request claimed it meanwhile: read again
            };
            let (hash, status, response, lease): (String, Option<i64>, Option<String>, Option<i64>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            match (hash == request_hash, status, response) {
                (false, _, _) => return Ok(Claim::Mismatch),
                (true, Some(status), Some(response)) => {
                    let status = u16::try_from(status).map_err(|_| StoreError::Corrupt("idempotency_keys"))?;
                    return Ok(Claim::Replay { status, response });
                }
                (true, _, _) if lease.is_some_and(|l| l >= now) => {
                    let left = lease.map_or(0, |l| l.saturating_sub(now)).min(IDEMPOTENCY_LEASE_MS);
                    return Ok(Claim::InFlight { lease_left_ms: left });
                }
                (true, _, _) => {
                    // Unfinished under a lapsed lease: the request holding it is gone; take over.
                    let taken = sqlx::query(
                        "UPDATE idempotency_keys SET holder = $1, lease_until = $2 WHERE org_id = $3 AND key = $4 \
                         AND status IS NULL AND (lease_until IS NULL OR lease_until < $5)",
                    )
                    .bind(&holder)
                    .bind(self.lease_until(now))
                    .bind(org.as_str())
                    .bind(key)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                    if taken.rows_affected() == 1 {
                        return Ok(Claim::Proceed { holder });
                    }
                }
            }
        }
        Err(StoreError::Changed)
    }

    /// Until when a claim made `now` holds: a lease on PostgreSQL, until released on SQLite.
    fn lease_until(&self, now: i64) -> i64 {
        match self.backend {
            crate::Backend::Postgres => now + IDEMPOTENCY_LEASE_MS,
            crate::Backend::Sqlite => i64::MAX,
        }
    }

    /// Releases every claim still held, as a node starts on SQLite: no request of an earlier run
    /// of it is running any more. (On PostgreSQL leases lapse by themselves.)
    pub async fn release_abandoned_idempotency_keys(&self) -> Result<u64, StoreError> {
        if self.backend != crate::Backend::Sqlite {
            return Ok(0);
        }
        let released = sqlx::query("UPDATE idempotency_keys SET lease_until = NULL WHERE status IS NULL")
            .execute(&self.pool)
            .await?;
        Ok(released.rows_affected())
    }

    /// Extends the lease of a claim still running; `false` if it is no longer this holder's.
    /// On SQLite a claim holds until released: nothing to renew.
    pub async fn renew_idempotent(&self, org: &OrgId, key: &str, holder: &str) -> Result<bool, StoreError> {
        if self.backend == crate::Backend::Sqlite {
            return Ok(true);
        }
        let renewed = sqlx::query(
            "UPDATE idempotency_keys SET lease_until = $1 WHERE org_id = $2 AND key = $3 AND holder = $4 \
             AND status IS NULL",
        )
        .bind(now_ms() + IDEMPOTENCY_LEASE_MS)
        .bind(org.as_str())
        .bind(key)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Records the response of a claimed request, for replays (if the claim is still this
    /// holder's).
    pub async fn finish_idempotent(
        &self,
        org: &OrgId,
        key: &str,
        holder: &str,
        status: u16,
        response: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, response = $2, lease_until = NULL \
             WHERE org_id = $3 AND key = $4 AND holder = $5",
        )
        .bind(i64::from(status))
        .bind(response)
        .bind(org.as_str())
        .bind(key)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives a claimed key back after a failure, so that the request can be retried with it.
    pub async fn release_idempotent(&self, org: &OrgId, key: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND holder = $3 AND status IS NULL")
            .bind(org.as_str())
            .bind(key)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

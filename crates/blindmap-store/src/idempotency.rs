//! Idempotency keys for creating calls.

use sqlx::Row;

use crate::ids::{OrgId, now_ms};
use crate::{Store, StoreError};

/// What a call with an idempotency key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: go ahead, then [`Store::finish_idempotent`] (or
    /// [`Store::release_idempotent`] on failure).
    Proceed,
    /// The same request already completed: answer with its response.
    Replay {
        /// Its HTTP status.
        status: u16,
        /// Its body.
        response: String,
    },
    /// The same key is in use by a request that has not finished.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

impl Store {
    /// Claims `key` for a request of `org` whose content hashes to `request_hash`.
    pub async fn claim_idempotent(&self, org: &OrgId, key: &str, request_hash: &str) -> Result<Claim, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, key) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(key)
        .bind(request_hash)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Proceed);
        }
        let row =
            sqlx::query("SELECT request_hash, status, response FROM idempotency_keys WHERE org_id = $1 AND key = $2")
                .bind(org.as_str())
                .bind(key)
                .fetch_one(&self.pool)
                .await?;
        let (hash, status, response): (String, Option<i64>, Option<String>) = (row.get(0), row.get(1), row.get(2));
        Ok(match (hash == request_hash, status, response) {
            (false, _, _) => Claim::Mismatch,
            (true, Some(status), Some(response)) => Claim::Replay {
                status: u16::try_from(status).map_err(|_| StoreError::Corrupt("idempotency_keys"))?,
                response,
            },
            (true, _, _) => Claim::InFlight,
        })
    }

    /// Records the response of a claimed request, for replays.
    pub async fn finish_idempotent(
        &self,
        org: &OrgId,
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE idempotency_keys SET status = $1, response = $2 WHERE org_id = $3 AND key = $4")
            .bind(i64::from(status))
            .bind(response)
            .bind(org.as_str())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives a claimed key back after a failure, so that the request can be retried with it.
    pub async fn release_idempotent(&self, org: &OrgId, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND status IS NULL")
            .bind(org.as_str())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

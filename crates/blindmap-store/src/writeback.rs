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

use crate::ids::{ConnectionId, OrgId, PartnershipId, now_ms};
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
        for (key, w) in &wanted_now {
            let hash = payload_hash(&w.payload);
            match kept.remove(key) {
                None => {
                    plan.added += 1;
                    sqlx::query(
                        "INSERT INTO crm_writeback (connection_id, partnership_id, account_id, payload, payload_hash, \
                         state, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
                    )
                    .bind(connection.as_str())
                    .bind(&key.0)
                    .bind(&key.1)
                    .bind(w.payload.to_string())
                    .bind(&hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Some((_, written, _)) => {
                    // As the CRM holds it already: written (a lost overlap that came back before
                    // it was removed too); otherwise to write, new to the CRM or changed.
                    let in_crm = written.as_deref() == Some(hash.as_str());
                    let next = if in_crm { "written" } else { "pending" };
                    match (in_crm, written.is_some()) {
                        (true, _) => plan.unchanged += 1,
                        (false, true) => plan.changed += 1,
                        (false, false) => plan.added += 1,
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
}

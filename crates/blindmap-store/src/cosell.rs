//! Co-sell records as each side keeps them: the whole record (a CRDT, see `blindmap-cosell`),
//! written with a version check so that concurrent writers on several replicas never lose an
//! edit (the loser reloads, merges and writes again), and a `dirty` mark until the partner has
//! merged this side's copy.

use blindmap_cosell::cosell::{CoSell, Party};
use sqlx::Row;

use crate::ids::{OrgId, PartnershipId, now_ms};
use crate::{Store, StoreError};

/// A co-sell record as stored on this side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCoSell {
    /// The record.
    pub record: CoSell,
    /// The partnership it belongs to.
    pub partnership: PartnershipId,
    /// This side's party in it.
    pub party: Party,
    /// The version this copy was read at (for [`Store::save_cosell`]).
    pub version: i64,
    /// Whether the partner has yet to merge this side's latest copy.
    pub dirty: bool,
    /// Unix milliseconds.
    pub updated_at: i64,
}

fn party_str(p: Party) -> &'static str {
    match p {
        Party::A => "A",
        Party::B => "B",
    }
}

fn own_account(record: &CoSell, party: Party) -> Option<&str> {
    match party {
        Party::A => record.a.account.value.as_deref(),
        Party::B => record.b.account.value.as_deref(),
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredCoSell, StoreError> {
    let record: String = r.get(0);
    Ok(StoredCoSell {
        record: serde_json::from_str(&record).map_err(|_| StoreError::Corrupt("cosell_records.record"))?,
        partnership: PartnershipId(r.get(1)),
        party: match r.get::<String, _>(2).as_str() {
            "A" => Party::A,
            "B" => Party::B,
            _ => return Err(StoreError::Corrupt("cosell_records.party")),
        },
        version: r.get(3),
        dirty: r.get::<i64, _>(4) != 0,
        updated_at: r.get(5),
    })
}

const COLUMNS: &str = "record, partnership_id, party, version, dirty, updated_at";

impl Store {
    /// Stores a new co-sell record of `org` (this side is `party`), with its event, in one
    /// transaction. A record of that id already there is a conflict.
    pub async fn insert_cosell(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        party: Party,
        record: &CoSell,
        dirty: bool,
        event: (&str, &serde_json::Value),
    ) -> Result<(), StoreError> {
        self.partnership(org, partnership).await?;
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO cosell_records (id, org_id, partnership_id, party, status, own_account, record, version, dirty, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9) ON CONFLICT (org_id, id) DO NOTHING",
        )
        .bind(record.id.as_str())
        .bind(org.as_str())
        .bind(partnership.as_str())
        .bind(party_str(party))
        .bind(record.status.value.as_str())
        .bind(own_account(record, party))
        .bind(serde_json::to_string(record).expect("a record serialises"))
        .bind(i64::from(dirty))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(StoreError::Conflict("a co-sell record of that id"));
        }
        crate::events::append_event(&mut tx, org, event.0, event.1).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One co-sell record of `org`.
    pub async fn cosell(&self, org: &OrgId, id: &str) -> Result<StoredCoSell, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cosell_records WHERE org_id = $1 AND id = $2"
        )))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        from_row(&row.ok_or(StoreError::NotFound("co-sell record"))?)
    }

    /// Writes a new copy of a co-sell record read at `version`, with an event if given, in one
    /// transaction. [`StoreError::Changed`] if someone wrote it meanwhile: reload, merge, retry.
    pub async fn save_cosell(
        &self,
        org: &OrgId,
        stored: &StoredCoSell,
        dirty: bool,
        event: Option<(&str, &serde_json::Value)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE cosell_records SET record = $1, status = $2, own_account = $3, dirty = $4, updated_at = $5, \
             version = version + 1 WHERE org_id = $6 AND id = $7 AND version = $8",
        )
        .bind(serde_json::to_string(&stored.record).expect("a record serialises"))
        .bind(stored.record.status.value.as_str())
        .bind(own_account(&stored.record, stored.party))
        .bind(i64::from(dirty))
        .bind(now_ms())
        .bind(org.as_str())
        .bind(stored.record.id.as_str())
        .bind(stored.version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Changed);
        }
        if let Some((kind, payload)) = event {
            crate::events::append_event(&mut tx, org, kind, payload).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of `org`'s co-sell records, most recently changed first, optionally of one
    /// partnership: at most `limit`, after the record `after`.
    pub async fn cosells_page(
        &self,
        org: &OrgId,
        partnership: Option<&PartnershipId>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredCoSell>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cosell_records c WHERE c.org_id = $1 AND ($2 = '' OR c.partnership_id = $2) \
             AND ($3 = '' OR EXISTS (SELECT 1 FROM cosell_records p WHERE p.org_id = $1 AND p.id = $3 \
             AND (c.updated_at < p.updated_at OR (c.updated_at = p.updated_at AND c.id < p.id)))) \
             ORDER BY c.updated_at DESC, c.id DESC LIMIT $4"
        )))
        .bind(org.as_str())
        .bind(partnership.map_or("", PartnershipId::as_str))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Co-sell records whose latest copy the partner has not merged yet, oldest change first,
    /// with their organisation: what the sync pushes again.
    pub async fn dirty_cosells(&self, limit: u32) -> Result<Vec<(OrgId, String)>, StoreError> {
        let rows = sqlx::query("SELECT org_id, id FROM cosell_records WHERE dirty = 1 ORDER BY updated_at LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (OrgId(r.get(0)), r.get(1))).collect())
    }
}

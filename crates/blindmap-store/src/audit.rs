//! The audit trail: what was revealed to whom, when, under which policy. Appended, never changed.

use sqlx::Row;

use crate::ids::{OrgId, now_ms, random_hex};
use crate::{Store, StoreError};

/// One audited event of an organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// When, in Unix milliseconds.
    pub at: i64,
    /// Who acted: a user's name, a partner's, or `node`.
    pub actor: String,
    /// What happened, e.g. `dataset.imported`, `match.revealed`.
    pub kind: String,
    /// Counts, ids and policies — never identifiers or keys.
    pub detail: serde_json::Value,
}

impl Store {
    /// Appends an event to `org`'s audit trail.
    pub async fn record_audit(
        &self,
        org: &OrgId,
        actor: &str,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_events (id, org_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(format!("aud_{}", random_hex()))
            .bind(org.as_str())
            .bind(now_ms())
            .bind(actor)
            .bind(kind)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `org`'s audit trail, newest first, at most `limit` events.
    pub async fn audit_trail(&self, org: &OrgId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, kind, detail FROM audit_events WHERE org_id = $1 ORDER BY at DESC, id LIMIT $2",
        )
        .bind(org.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let detail: String = r.get(3);
                Ok(AuditEvent {
                    at: r.get(0),
                    actor: r.get(1),
                    kind: r.get(2),
                    detail: serde_json::from_str(&detail).map_err(|_| StoreError::Corrupt("audit_events.detail"))?,
                })
            })
            .collect()
    }
}

//! The audit trail: what was revealed to whom, when, under which policy. Appended, never changed.

use sqlx::Row;

use crate::ids::{OrgId, now_ms, random_hex};
use crate::{Store, StoreError};

/// One audited event of an organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Its id, `aud_…`: the cursor of the next page.
    pub id: String,
    /// When, in Unix milliseconds.
    pub at: i64,
    /// Who acted: a user's name, a partner's, or `node`.
    pub actor: String,
    /// What happened, e.g. `dataset.imported`, `match.revealed`.
    pub kind: String,
    /// Counts, ids and policies — never identifiers or keys.
    pub detail: serde_json::Value,
}

/// Which events of an audit trail to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// An event kind (`dataset.imported`), or a kind's first part (`dataset`: every
    /// `dataset.…`).
    pub kind: Option<String>,
    /// A partner: its partnership id and name, as events name it.
    pub partner: Option<(String, String)>,
    /// From this time on, Unix milliseconds.
    pub since: Option<i64>,
    /// Before this time, Unix milliseconds.
    pub until: Option<i64>,
}

/// Appends an audit event on `conn` (a transaction's, so that it commits with the change it
/// describes).
/// A new event's id, `aud_` then 16 hex digits that grow with each event this process writes
/// (nanoseconds since 1970, or one more than the last) and 16 random ones: events written in the
/// same millisecond (its `at`) list in the order they were written, newest first.
fn audit_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let prev = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last + 1))).unwrap_or(0);
    let this = now.max(prev + 1);
    format!("aud_{this:016x}{}", &random_hex()[..16])
}

pub(crate) async fn append_audit(
    conn: &mut sqlx::AnyConnection,
    org: &OrgId,
    at: i64,
    actor: &str,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_events (id, org_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(audit_id())
        .bind(org.as_str())
        .bind(at)
        .bind(actor)
        .bind(kind)
        .bind(detail.to_string())
        .execute(conn)
        .await?;
    Ok(())
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
        let mut conn = self.pool.acquire().await?;
        append_audit(&mut conn, org, now_ms(), actor, kind, detail).await?;
        Ok(())
    }

    /// `org`'s audit trail, newest first, at most `limit` events.
    pub async fn audit_trail(&self, org: &OrgId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_page(org, None, limit).await
    }

    /// A page of `org`'s audit trail, newest first: at most `limit` events after the event `after`.
    pub async fn audit_page(
        &self,
        org: &OrgId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_filtered(org, &AuditFilter::default(), after, limit).await
    }

    /// A page of `org`'s audit trail that `filter` keeps, newest first: at most `limit` events
    /// after the event `after`.
    pub async fn audit_filtered(
        &self,
        org: &OrgId,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        // Events name a partnership by id and a partner by name in their detail (JSON text, as
        // serde_json writes it: no blanks), so a partner's events are found by those members.
        let like = |member: &str, value: &str| -> String {
            let quoted = serde_json::Value::String(value.to_owned()).to_string();
            let escaped: String = format!("\"{member}\":{quoted}")
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("%{escaped}%")
        };
        let (by_id, by_name) = match &filter.partner {
            Some((id, name)) => (like("partnership", id), like("partner", name)),
            None => (String::new(), String::new()),
        };
        let kind = filter.kind.as_deref().unwrap_or("");
        let rows = sqlx::query(
            "SELECT e.id, e.at, e.actor, e.kind, e.detail FROM audit_events e WHERE e.org_id = $1 AND ($2 = '' OR \
             EXISTS (SELECT 1 FROM audit_events c WHERE c.id = $2 AND c.org_id = $1 \
             AND (e.at < c.at OR (e.at = c.at AND e.id < c.id)))) \
             AND ($4 = '' OR e.kind = $4 OR e.kind LIKE $5 ESCAPE '\\') \
             AND ($6 = '' OR e.detail LIKE $6 ESCAPE '\\' OR e.detail LIKE $7 ESCAPE '\\') \
             AND e.at >= $8 AND e.at < $9 \
             ORDER BY e.at DESC, e.id DESC LIMIT $3",
        )
        .bind(org.as_str())
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .bind(kind)
        .bind(format!("{}.%", kind.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))
        .bind(by_id)
        .bind(by_name)
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.until.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let detail: String = r.get(4);
                Ok(AuditEvent {
                    id: r.get(0),
                    at: r.get(1),
                    actor: r.get(2),
                    kind: r.get(3),
                    detail: serde_json::from_str(&detail).map_err(|_| StoreError::Corrupt("audit_events.detail"))?,
                })
            })
            .collect()
    }
}

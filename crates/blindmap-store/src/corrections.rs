//! Corrections of what matching showed, made by this side's users and kept on this node only:
//! "not this match" on one overlap, "never match" one of its own accounts with a partner. They
//! are applied where overlaps are read — every list, count and export of the latest match and of
//! every later one — so that they take effect at once and for good, until removed. Nothing of a
//! correction reaches the partner: this node keeps disclosing exactly what its sharing policy
//! says; a correction only filters what this side is shown.
//!
//! The rule, the same in SQL ([`Store::corrected_sql`]) and in Rust ([`Correction::hides`]):
//! an active correction of an account in a partnership hides that account's overlaps with the
//! partnership when it is `never_match`, or when it is `not_this_match` and every key type the
//! overlap matched on is among the corrected overlap's — the same or weaker evidence. An overlap
//! on a key type the correction did not see (a domain appearing where only the name had matched)
//! shows again.

use sqlx::Row;

use crate::ids::{CorrectionId, OrgId, PartnershipId, now_ms};
use crate::{Backend, Store, StoreError};

/// What a correction says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrectionKind {
    /// This overlap is wrong: the account's overlaps with the partner on the same or weaker
    /// evidence (key types all among the corrected overlap's) are hidden.
    NotThisMatch,
    /// The account never matches the partner: all its overlaps with the partner are hidden.
    NeverMatch,
}

impl CorrectionKind {
    /// Both kinds.
    pub const ALL: [Self; 2] = [Self::NotThisMatch, Self::NeverMatch];

    /// `not_this_match` or `never_match`: the name in the store, JSON and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotThisMatch => "not_this_match",
            Self::NeverMatch => "never_match",
        }
    }

    /// The kind of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A correction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// `mc_…`.
    pub id: CorrectionId,
    /// The partnership it applies to.
    pub partnership: PartnershipId,
    /// The partner organisation's name.
    pub partner_name: String,
    /// This side's account.
    pub account_id: String,
    /// Its name: as the active dataset has it, else as it was when corrected.
    pub account_name: Option<String>,
    /// What it says.
    pub kind: CorrectionKind,
    /// For `not_this_match`, the corrected overlap's key types (sorted); empty for `never_match`.
    pub key_types: Vec<String>,
    /// Why, in the user's words.
    pub note: Option<String>,
    /// Who made it (a user's name).
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who removed it, once removed.
    pub removed_by: Option<String>,
    /// Unix milliseconds, once removed.
    pub removed_at: Option<i64>,
}

impl Correction {
    /// Whether this correction hides an overlap of its account with its partnership that matched
    /// on `key_types` (see the module's rule; a removed correction hides nothing).
    pub fn hides(&self, key_types: &[String]) -> bool {
        self.removed_at.is_none()
            && match self.kind {
                CorrectionKind::NeverMatch => true,
                CorrectionKind::NotThisMatch => key_types.iter().all(|k| self.key_types.contains(k)),
            }
    }
}

/// A correction to make.
#[derive(Debug, Clone, Copy)]
pub struct NewCorrection<'a> {
    /// The partnership.
    pub partnership: &'a PartnershipId,
    /// This side's account.
    pub account_id: &'a str,
    /// Its name now, kept for the lists.
    pub account_name: Option<&'a str>,
    /// What it says.
    pub kind: CorrectionKind,
    /// For `not_this_match`, the corrected overlap's key types (any order, repeats dropped);
    /// ignored for `never_match`.
    pub key_types: &'a [String],
    /// Why.
    pub note: Option<&'a str>,
    /// Who makes it.
    pub by: &'a str,
}

/// Key types as a correction keeps and compares them: sorted, without repeats.
pub fn canonical_key_types(key_types: &[String]) -> Vec<String> {
    let mut out = key_types.to_vec();
    out.sort();
    out.dedup();
    out
}

const COLUMNS: &str = "c.id, c.partnership_id, p.partner_name, c.account_id, COALESCE(a.display_name, c.account_name), \
     c.kind, c.key_types, c.note, c.created_by, c.created_at, c.removed_by, c.removed_at";

/// The tables [`COLUMNS`] reads: the account's name comes from the organisation's active dataset.
const FROM: &str = "FROM match_corrections c JOIN partnerships p ON p.id = c.partnership_id \
     JOIN organisations g ON g.id = c.org_id \
     LEFT JOIN dataset_accounts a ON a.dataset_id = g.active_dataset AND a.account_id = c.account_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Correction, StoreError> {
    Ok(Correction {
        id: CorrectionId(r.get(0)),
        partnership: PartnershipId(r.get(1)),
        partner_name: r.get(2),
        account_id: r.get(3),
        account_name: r.get(4),
        kind: CorrectionKind::parse(&r.get::<String, _>(5)).ok_or(StoreError::Corrupt("match_corrections.kind"))?,
        key_types: serde_json::from_str(&r.get::<String, _>(6))
            .map_err(|_| StoreError::Corrupt("match_corrections.key_types"))?,
        note: r.get(7),
        created_by: r.get(8),
        created_at: r.get(9),
        removed_by: r.get(10),
        removed_at: r.get(11),
    })
}

impl Store {
    /// SQL that is true when the overlap `o` (a `run_overlaps` row) is hidden by an active
    /// correction of the organisation `org` in the partnership `partnership` (each a placeholder
    /// or a column): the module's rule. Whether the overlap's key types are all among the
    /// correction's is asked of the JSON lists themselves, in each backend's words.
    pub(crate) fn corrected_sql(&self, org: &str, partnership: &str) -> String {
        let matched = match self.backend {
            Backend::Sqlite => "json_each(o.key_types) k WHERE",
            Backend::Postgres => "json_array_elements_text(o.key_types::json) AS k(value) WHERE",
        };
        self.corrected_where(org, partnership, "o", matched)
    }

    /// [`Store::corrected_sql`] for the overlap a field's index entry `f` (a
    /// `run_overlap_fields` row) names: its key types are looked up in the overlaps only where
    /// a correction names its account.
    pub(crate) fn corrected_entry_sql(&self, org: &str, partnership: &str) -> String {
        let list = match self.backend {
            Backend::Sqlite => "json_each(ko.key_types) k",
            Backend::Postgres => "json_array_elements_text(ko.key_types::json) AS k(value)",
        };
        let matched = format!("run_overlaps ko, {list} WHERE {} AND", crate::reports::same_overlap("ko", "f"));
        self.corrected_where(org, partnership, "f", &matched)
    }

    /// The rule, for the row `row` whose key types are `k.value` of `matched` (a FROM list and
    /// its WHERE's opening).
    fn corrected_where(&self, org: &str, partnership: &str, row: &str, matched: &str) -> String {
        let corrected = match self.backend {
            Backend::Sqlite => "json_each(mc.key_types) ck",
            Backend::Postgres => "json_array_elements_text(mc.key_types::json) AS ck(value)",
        };
        format!(
            "EXISTS (SELECT 1 FROM match_corrections mc WHERE mc.org_id = {org} AND mc.partnership_id = {partnership} \
             AND mc.account_id = {row}.account_id AND mc.removed_at IS NULL AND (mc.kind = 'never_match' OR NOT EXISTS \
             (SELECT 1 FROM {matched} k.value NOT IN (SELECT ck.value FROM {corrected}))))"
        )
    }

    /// Records a correction of `org`'s, with its audit entry (`match.corrected`), in one
    /// transaction — unless an identical one (same partnership, account, kind and key types) is
    /// active already: then that one, and nothing is written. The correction, and whether it is
    /// new.
    pub async fn add_correction(&self, org: &OrgId, new: &NewCorrection<'_>) -> Result<(Correction, bool), StoreError> {
        let partnership = self.partnership(org, new.partnership).await?;
        let key_types = match new.kind {
            CorrectionKind::NotThisMatch => canonical_key_types(new.key_types),
            CorrectionKind::NeverMatch => Vec::new(),
        };
        let key_types_json = serde_json::json!(key_types).to_string();
        let existing = || async {
            let row = sqlx::query(
                "SELECT id FROM match_corrections WHERE org_id = $1 AND partnership_id = $2 AND account_id = $3 \
                 AND kind = $4 AND key_types = $5 AND removed_at IS NULL",
            )
            .bind(org.as_str())
            .bind(new.partnership.as_str())
            .bind(new.account_id)
            .bind(new.kind.as_str())
            .bind(key_types_json.as_str())
            .fetch_optional(&self.pool)
            .await?;
            Ok::<_, StoreError>(row.map(|r| CorrectionId(r.get(0))))
        };
        if let Some(id) = existing().await? {
            return Ok((self.correction(org, &id).await?, false));
        }
        let id = CorrectionId::generate();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO match_corrections (id, org_id, partnership_id, account_id, kind, key_types, account_name, \
             note, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(new.partnership.as_str())
        .bind(new.account_id)
        .bind(new.kind.as_str())
        .bind(key_types_json.as_str())
        .bind(new.account_name)
        .bind(new.note)
        .bind(new.by)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            // Made meanwhile by another request: that one.
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                let id = existing().await?.ok_or(StoreError::Changed)?;
                return Ok((self.correction(org, &id).await?, false));
            }
            other => other?,
        };
        // The audit trail names the correction, not the account (which the row keeps).
        let detail = serde_json::json!({ "correction": id.as_str(), "partnership": new.partnership.as_str(),
            "partner": partnership.partner_name, "kind": new.kind.as_str(), "key_types": key_types });
        crate::audit::append_audit(&mut tx, org, now, new.by, "match.corrected", &detail).await?;
        tx.commit().await?;
        Ok((self.correction(org, &id).await?, true))
    }

    /// One correction of `org`, active or removed.
    pub async fn correction(&self, org: &OrgId, id: &CorrectionId) -> Result<Correction, StoreError> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} {FROM} WHERE c.org_id = $1 AND c.id = $2")))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        from_row(&row.ok_or(StoreError::NotFound("correction"))?)
    }

    /// Removes an active correction of `org` (the overlaps it hid show again at once), keeping
    /// its row with who removed it and when, with its audit entry (`match.correction_removed`),
    /// in one transaction. A correction removed already stays as it is. The correction, and
    /// whether this removed it.
    pub async fn remove_correction(
        &self,
        org: &OrgId,
        id: &CorrectionId,
        by: &str,
    ) -> Result<(Correction, bool), StoreError> {
        let correction = self.correction(org, id).await?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query(
            "UPDATE match_corrections SET removed_at = $1, removed_by = $2 \
             WHERE org_id = $3 AND id = $4 AND removed_at IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Ok((correction, false));
        }
        let detail = serde_json::json!({ "correction": id.as_str(), "partnership": correction.partnership.as_str(),
            "partner": correction.partner_name, "kind": correction.kind.as_str() });
        crate::audit::append_audit(&mut tx, org, now, by, "match.correction_removed", &detail).await?;
        tx.commit().await?;
        Ok((self.correction(org, id).await?, true))
    }

    /// A page of `org`'s active corrections, newest first, optionally of one partnership: at
    /// most `limit`, after the correction `after`.
    pub async fn corrections_page(
        &self,
        org: &OrgId,
        partnership: Option<&PartnershipId>,
        after: Option<&CorrectionId>,
        limit: u32,
    ) -> Result<Vec<Correction>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} {FROM} WHERE c.org_id = $1 AND c.removed_at IS NULL \
             AND ($2 = '' OR c.partnership_id = $2) AND ($3 = '' OR EXISTS (SELECT 1 FROM match_corrections l \
             WHERE l.org_id = $1 AND l.id = $3 AND (c.created_at < l.created_at \
             OR (c.created_at = l.created_at AND c.id < l.id)))) ORDER BY c.created_at DESC, c.id DESC LIMIT $4"
        )))
        .bind(org.as_str())
        .bind(partnership.map_or("", PartnershipId::as_str))
        .bind(after.map_or("", CorrectionId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every active correction of `org` in `partnership`: what overlaps not stored yet (a run
    /// about to complete) are held to, with [`Correction::hides`].
    pub async fn active_corrections(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
    ) -> Result<Vec<Correction>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} {FROM} WHERE c.org_id = $1 AND c.partnership_id = $2 AND c.removed_at IS NULL"
        )))
        .bind(org.as_str())
        .bind(partnership.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// `account`'s name in `org`'s active dataset: `None` when the organisation has no active
    /// dataset or the account is not in it, `Some(None)` when it is but has no name.
    pub async fn active_account(&self, org: &OrgId, account: &str) -> Result<Option<Option<String>>, StoreError> {
        let row = sqlx::query(
            "SELECT a.display_name FROM organisations g JOIN datasets d ON d.id = g.active_dataset \
             JOIN dataset_accounts a ON a.dataset_id = d.id \
             WHERE g.id = $1 AND d.org_id = $1 AND d.state = 'complete' AND a.account_id = $2",
        )
        .bind(org.as_str())
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The key types of each overlap of `account` in `org`'s run `run`, corrected or not: what a
    /// correction is made on.
    pub async fn account_key_types(
        &self,
        org: &OrgId,
        run: &crate::RunId,
        account: &str,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.key_types FROM run_overlaps o JOIN match_runs r ON r.id = o.run_id \
             WHERE r.org_id = $1 AND o.run_id = $2 AND o.account_id = $3",
        )
        .bind(org.as_str())
        .bind(run.as_str())
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(&r.get::<String, _>(0)).map_err(|_| StoreError::Corrupt("run_overlaps.key_types"))
            })
            .collect()
    }
}

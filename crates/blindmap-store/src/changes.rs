//! What each run changed, account by account (`overlap_changes`, issue 18), kept for the
//! organisation's history period whether or not the runs themselves are kept, and the
//! organisation's retention settings (`retention_settings`).
//!
//! The node works out the changes when a run completes (accounts that came into or went out of
//! a cell since the partnership's previous complete run) and hands them to
//! [`Store::complete_run`] in its [`crate::Completion`]: they are written in the same
//! transaction as the run. They are read back by filter, newest first, a page at a time from a
//! [`ChangeCursor`] (keyset pagination: a page costs its rows, however deep).

use std::collections::BTreeMap;

use sqlx::Row;

use crate::audit::append_audit;
use crate::ids::{OrgId, PartnershipId, RunId, now_ms};
use crate::runs::Tier;
use crate::{Store, StoreError};

/// Whether an account came into a cell or went out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// It overlaps in the cell now, and did not in the previous run.
    New,
    /// It overlapped in the cell in the previous run, and does not now.
    Lost,
}

impl ChangeKind {
    /// `new` or `lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Lost => "lost",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "new" => Some(Self::New),
            "lost" => Some(Self::Lost),
            _ => None,
        }
    }
}

/// One account's change in one cell, as a run completes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account's id in this side's dataset.
    pub account_id: String,
    /// Its name as the dataset has it ('' where it has none).
    pub name: String,
    /// Its owner as the dataset has it ('' where it has none).
    pub owner: String,
    /// Its owner's e-mail address as the dataset has it (field `owner_email`; '' where none).
    pub owner_email: String,
    /// This side's segment.
    pub own_segment: String,
    /// The partner's segment.
    pub partner_segment: String,
    /// New or lost.
    pub change: ChangeKind,
    /// A new overlap's best tier in the cell.
    pub tier: Option<Tier>,
    /// The fields the partner disclosed for its record (new overlaps).
    pub fields: BTreeMap<String, Option<String>>,
}

/// A change as stored: the account's change, and the run that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// The change.
    pub change: AccountChange,
    /// The run it came with.
    pub run: RunId,
    /// The run it was compared with.
    pub previous_run: RunId,
    /// The partnership.
    pub partnership: PartnershipId,
    /// The partner's name.
    pub partner_name: String,
    /// When the run completed (Unix ms).
    pub at: i64,
}

/// Which changes to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// One partnership's.
    pub partnership: Option<PartnershipId>,
    /// One account's.
    pub account: Option<String>,
    /// New or lost only.
    pub change: Option<ChangeKind>,
    /// At or after this time (Unix ms).
    pub since: Option<i64>,
    /// One run's.
    pub run: Option<RunId>,
}

/// Where a page of changes starts: after this change, in the list's order (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeCursor {
    /// Its time.
    pub at: i64,
    /// Its run.
    pub run: String,
    /// Its account.
    pub account: String,
    /// Its own segment.
    pub own_segment: String,
    /// Its partner segment.
    pub partner_segment: String,
    /// `new` or `lost`.
    pub change: String,
}

impl ChangeCursor {
    /// The cursor of the page after `change`.
    pub fn after(change: &StoredChange) -> Self {
        Self {
            at: change.at,
            run: change.run.to_string(),
            account: change.change.account_id.clone(),
            own_segment: change.change.own_segment.clone(),
            partner_segment: change.change.partner_segment.clone(),
            change: change.change.change.as_str().to_owned(),
        }
    }
}

/// What an organisation keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// The complete runs kept per partnership (the latest).
    pub keep_runs: u32,
    /// Days of per-account changes kept.
    pub change_days: u32,
    /// Who set it, if anyone did.
    pub set_by: Option<String>,
}

impl Default for Retention {
    fn default() -> Self {
        Self { keep_runs: DEFAULT_KEEP_RUNS, change_days: DEFAULT_CHANGE_DAYS, set_by: None }
    }
}

/// Complete runs kept per partnership until an admin says otherwise.
pub const DEFAULT_KEEP_RUNS: u32 = 10;
/// Days of per-account changes kept until an admin says otherwise.
pub const DEFAULT_CHANGE_DAYS: u32 = 365;

impl Store {
    /// Writes `changes` of run `run` (compared with `previous`) in `tx`: the run's completion.
    pub(crate) async fn write_changes(
        &self,
        tx: &mut sqlx::AnyConnection,
        org: &OrgId,
        run: &RunId,
        partnership: &str,
        previous: &RunId,
        at: i64,
        changes: &[AccountChange],
    ) -> Result<(), StoreError> {
        const COLUMNS: usize = 14;
        for batch in changes.chunks(self.insert_batch(COLUMNS)) {
            let mut sql = String::from(
                "INSERT INTO overlap_changes (org_id, partnership_id, run_id, previous_run_id, at, account_id, \
                 own_segment, partner_segment, change, name, owner, tier, fields, owner_email) VALUES ",
            );
            for i in 0..batch.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let params: Vec<String> = (1..=COLUMNS).map(|k| format!("${}", i * COLUMNS + k)).collect();
                sql.push_str(&format!("({})", params.join(", ")));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in batch {
                query = query
                    .bind(org.as_str())
                    .bind(partnership)
                    .bind(run.as_str())
                    .bind(previous.as_str())
                    .bind(at)
                    .bind(c.account_id.as_str())
                    .bind(c.own_segment.as_str())
                    .bind(c.partner_segment.as_str())
                    .bind(c.change.as_str())
                    .bind(c.name.as_str())
                    .bind(c.owner.as_str())
                    .bind(c.tier.map(Tier::as_str))
                    .bind(serde_json::json!(c.fields).to_string())
                    .bind(c.owner_email.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        Ok(())
    }

    /// `org`'s per-account changes under `filter`, newest first, at most `limit`, after
    /// `cursor`.
    pub async fn account_changes(
        &self,
        org: &OrgId,
        filter: &ChangeFilter,
        cursor: Option<&ChangeCursor>,
        limit: u32,
    ) -> Result<Vec<StoredChange>, StoreError> {
        if let Some(p) = &filter.partnership {
            self.partnership(org, p).await?;
        }
        let mut sql = String::from(
            "SELECT c.account_id, c.name, c.owner, c.own_segment, c.partner_segment, c.change, c.tier, c.fields, \
             c.run_id, c.previous_run_id, c.partnership_id, p.partner_name, c.at, c.owner_email FROM overlap_changes c \
             JOIN partnerships p ON p.id = c.partnership_id WHERE c.org_id = $1",
        );
        enum Bind {
            Text(String),
            Number(i64),
        }
        let mut binds: Vec<Bind> = Vec::new();
        // `$N` for the next value bound (`$1` is the organisation).
        let param = |binds: &mut Vec<Bind>, value: Bind| {
            binds.push(value);
            format!("${}", binds.len() + 1)
        };
        if let Some(p) = &filter.partnership {
            sql.push_str(&format!(" AND c.partnership_id = {}", param(&mut binds, Bind::Text(p.to_string()))));
        }
        if let Some(a) = &filter.account {
            sql.push_str(&format!(" AND c.account_id = {}", param(&mut binds, Bind::Text(a.clone()))));
        }
        if let Some(k) = filter.change {
            sql.push_str(&format!(" AND c.change = {}", param(&mut binds, Bind::Text(k.as_str().to_owned()))));
        }
        if let Some(r) = &filter.run {
            sql.push_str(&format!(" AND c.run_id = {}", param(&mut binds, Bind::Text(r.to_string()))));
        }
        if let Some(since) = filter.since {
            sql.push_str(&format!(" AND c.at >= {}", param(&mut binds, Bind::Number(since))));
        }
        if let Some(c) = cursor {
            let at = param(&mut binds, Bind::Number(c.at));
            let keys: Vec<String> = [&c.run, &c.account, &c.own_segment, &c.partner_segment, &c.change]
                .into_iter()
                .map(|t| param(&mut binds, Bind::Text(t.clone())))
                .collect();
            // Newest first; within a time, by run and account ascending: one row-value
            // comparison an index range takes.
            sql.push_str(&format!(
                " AND (c.at < {at} OR (c.at = {at} AND (c.run_id, c.account_id, c.own_segment, c.partner_segment, \
                 c.change) > ({})))",
                keys.join(", ")
            ));
        }
        sql.push_str(&format!(
            " ORDER BY c.at DESC, c.run_id, c.account_id, c.own_segment, c.partner_segment, c.change LIMIT {}",
            limit.clamp(1, 10_000)
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
        for b in binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Number(n) => query.bind(n),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let corrupt = || StoreError::Corrupt("overlap_changes");
                Ok(StoredChange {
                    change: AccountChange {
                        account_id: r.get(0),
                        name: r.get(1),
                        owner: r.get(2),
                        owner_email: r.get(13),
                        own_segment: r.get(3),
                        partner_segment: r.get(4),
                        change: ChangeKind::parse(&r.get::<String, _>(5)).ok_or_else(corrupt)?,
                        tier: r.get::<Option<String>, _>(6).map(|t| Tier::parse(&t).ok_or_else(corrupt)).transpose()?,
                        fields: serde_json::from_str(&r.get::<String, _>(7)).map_err(|_| corrupt())?,
                    },
                    run: RunId(r.get(8)),
                    previous_run: RunId(r.get(9)),
                    partnership: PartnershipId(r.get(10)),
                    partner_name: r.get(11),
                    at: r.get(12),
                })
            })
            .collect()
    }

    /// What `org` keeps (the defaults until an admin sets it).
    pub async fn retention(&self, org: &OrgId) -> Result<Retention, StoreError> {
        let row = sqlx::query("SELECT keep_runs, change_days, set_by FROM retention_settings WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(Retention::default()) };
        let number = |i: usize| u32::try_from(row.get::<i64, _>(i)).map_err(|_| StoreError::Corrupt("retention"));
        Ok(Retention { keep_runs: number(0)?, change_days: number(1)?, set_by: Some(row.get(2)) })
    }

    /// Sets what `org` keeps, audited `retention.set`.
    pub async fn set_retention(
        &self,
        org: &OrgId,
        keep_runs: u32,
        change_days: u32,
        actor: &str,
    ) -> Result<Retention, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM retention_settings WHERE org_id = $1").bind(org.as_str()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO retention_settings (org_id, keep_runs, change_days, set_by, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org.as_str())
        .bind(i64::from(keep_runs))
        .bind(i64::from(change_days))
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "keep_runs": keep_runs, "change_days": change_days });
        append_audit(&mut tx, org, now, actor, "retention.set", &detail).await?;
        tx.commit().await?;
        self.retention(org).await
    }
}

//! Deal registrations as a node keeps them: those partners submitted to it (it is the vendor and
//! decides) and copies of those it submitted (the partner's node decides). Writes are
//! version-checked like co-sell records, so replicas never lose a decision; an event and an audit
//! entry go in the same transaction as the change they describe.

use std::collections::BTreeSet;

use blindmap_cosell::dealreg::{DirectOpportunity, Registration, Settings};
use sqlx::Row;

use crate::ids::{OrgId, PartnershipId, now_ms};
use crate::{Store, StoreError};

/// Which way a registration went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A partner submitted it to this node: this side decides.
    Received,
    /// This side submitted it to a partner's node: that side decides.
    Submitted,
}

impl Direction {
    /// `received` or `submitted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Submitted => "submitted",
        }
    }

    /// From [`Direction::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "received" => Some(Self::Received),
            "submitted" => Some(Self::Submitted),
            _ => None,
        }
    }
}

/// A registration as stored on this side.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRegistration {
    /// The registration. On a submitted copy, state, conflict and protection are the vendor's
    /// answer as last heard.
    pub registration: Registration,
    /// The partnership it went through.
    pub partnership: PartnershipId,
    /// Which way.
    pub direction: Direction,
    /// What only the vendor sees of its checks (received only; `{}` otherwise).
    pub review: serde_json::Value,
    /// Received: the submitter has yet to hear of the latest state.
    pub notify: bool,
    /// The version it was read at (for [`Store::save_registration`]).
    pub version: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// Whether a pre-check may be answered now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// Yes; this many more today.
    Allowed {
        /// Pre-checks left in the last 24 hours' budget after this one.
        remaining_today: u32,
    },
    /// No: why, and in how many seconds to try again.
    Refused {
        /// What limit was reached.
        reason: &'static str,
        /// Seconds until one is allowed again.
        retry_after: u64,
    },
}

const COLUMNS: &str = "body, partnership_id, direction, review, notify, version, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredRegistration, StoreError> {
    let body: String = r.get(0);
    let review: String = r.get(3);
    Ok(StoredRegistration {
        registration: serde_json::from_str(&body).map_err(|_| StoreError::Corrupt("registrations.body"))?,
        partnership: PartnershipId(r.get(1)),
        direction: Direction::parse(&r.get::<String, _>(2)).ok_or(StoreError::Corrupt("registrations.direction"))?,
        review: serde_json::from_str(&review).map_err(|_| StoreError::Corrupt("registrations.review"))?,
        notify: r.get::<i64, _>(4) != 0,
        version: r.get(5),
        updated_at: r.get(6),
    })
}

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// An event and an audit entry to write with a change: (kind, payload) and (actor, kind, detail).
pub struct Record<'a> {
    /// The outbox event, if any.
    pub event: Option<(&'a str, &'a serde_json::Value)>,
    /// The audit entry, if any.
    pub audit: Option<(&'a str, &'a str, &'a serde_json::Value)>,
}

async fn write_record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &OrgId,
    record: &Record<'_>,
) -> Result<(), StoreError> {
    if let Some((kind, payload)) = record.event {
        crate::events::append_event(tx, org, kind, payload).await?;
    }
    if let Some((actor, kind, detail)) = record.audit {
        crate::audit::append_audit(tx, org, now_ms(), actor, kind, detail).await?;
    }
    Ok(())
}

impl Store {
    /// Stores a new registration of `org` with the end customer's `keys` (received ones only are
    /// looked up by key), its event and audit entry, in one transaction. A registration of that
    /// id already there is a conflict.
    pub async fn insert_registration(
        &self,
        org: &OrgId,
        stored: &StoredRegistration,
        keys: &[String],
        record: Record<'_>,
    ) -> Result<(), StoreError> {
        let r = &stored.registration;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO registrations (org_id, id, partnership_id, direction, state, protected_until, body, review, \
             notify, version, submitted_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11) \
             ON CONFLICT (org_id, id) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(r.id.as_str())
        .bind(stored.partnership.as_str())
        .bind(stored.direction.as_str())
        .bind(r.state.as_str())
        .bind(r.protected_until)
        .bind(serde_json::to_string(r).expect("a registration serialises"))
        .bind(stored.review.to_string())
        .bind(i64::from(stored.notify))
        .bind(r.submitted_at)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(StoreError::Conflict("a registration of that id"));
        }
        if stored.direction == Direction::Received {
            let unique: BTreeSet<&String> = keys.iter().collect();
            for key in unique {
                sqlx::query("INSERT INTO registration_keys (org_id, key, registration_id) VALUES ($1, $2, $3)")
                    .bind(org.as_str())
                    .bind(key.as_str())
                    .bind(r.id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        write_record(&mut tx, org, &record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One registration of `org`.
    pub async fn registration(&self, org: &OrgId, id: &str) -> Result<StoredRegistration, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM registrations WHERE org_id = $1 AND id = $2"
        )))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        from_row(&row.ok_or(StoreError::NotFound("registration"))?)
    }

    /// Writes a registration read at `stored.version` back (its `notify` mark as given), with
    /// its event and audit entry, in one transaction. [`StoreError::Changed`] if someone wrote
    /// it meanwhile: reload, decide again.
    pub async fn save_registration(
        &self,
        org: &OrgId,
        stored: &StoredRegistration,
        record: Record<'_>,
    ) -> Result<(), StoreError> {
        let r = &stored.registration;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE registrations SET state = $1, protected_until = $2, body = $3, review = $4, notify = $5, \
             updated_at = $6, version = version + 1 WHERE org_id = $7 AND id = $8 AND version = $9",
        )
        .bind(r.state.as_str())
        .bind(r.protected_until)
        .bind(serde_json::to_string(r).expect("a registration serialises"))
        .bind(stored.review.to_string())
        .bind(i64::from(stored.notify))
        .bind(now_ms())
        .bind(org.as_str())
        .bind(r.id.as_str())
        .bind(stored.version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Changed);
        }
        write_record(&mut tx, org, &record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The registrations `org` received that share a key with `keys`, in any state, oldest first.
    pub async fn registrations_sharing(
        &self,
        org: &OrgId,
        keys: &[String],
    ) -> Result<Vec<StoredRegistration>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM registrations r WHERE r.org_id = $1 AND r.direction = 'received' AND r.id IN \
             (SELECT k.registration_id FROM registration_keys k WHERE k.org_id = $1 AND k.key IN ({})) \
             ORDER BY r.submitted_at, r.id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
        for key in keys {
            query = query.bind(key.as_str());
        }
        query.fetch_all(&self.pool).await?.iter().map(from_row).collect()
    }

    /// The end-customer keys of every registration `org` received that still holds its claim
    /// (submitted, in review or approved), except those of `except`'s partner: what a
    /// pre-check tests against.
    pub async fn claimed_keys(&self, org: &OrgId, except: &PartnershipId) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT k.key FROM registration_keys k JOIN registrations r \
             ON r.org_id = k.org_id AND r.id = k.registration_id \
             WHERE k.org_id = $1 AND r.direction = 'received' AND r.partnership_id <> $2 \
             AND r.state IN ('submitted', 'in_review', 'approved')",
        )
        .bind(org.as_str())
        .bind(except.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// A page of `org`'s registrations, newest first, optionally of one direction and state:
    /// at most `limit`, after the registration `after`.
    pub async fn registrations_page(
        &self,
        org: &OrgId,
        direction: Option<Direction>,
        state: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredRegistration>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM registrations c WHERE c.org_id = $1 AND ($2 = '' OR c.direction = $2) \
             AND ($3 = '' OR c.state = $3) \
             AND ($4 = '' OR EXISTS (SELECT 1 FROM registrations p WHERE p.org_id = $1 AND p.id = $4 \
             AND (c.submitted_at < p.submitted_at OR (c.submitted_at = p.submitted_at AND c.id < p.id)))) \
             ORDER BY c.submitted_at DESC, c.id DESC LIMIT $5"
        )))
        .bind(org.as_str())
        .bind(direction.map_or("", Direction::as_str))
        .bind(state.unwrap_or(""))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Received registrations approved and protected until `now` or before: what expires.
    pub async fn due_registrations(&self, now: i64, limit: u32) -> Result<Vec<(OrgId, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT org_id, id FROM registrations WHERE state = 'approved' AND direction = 'received' \
             AND protected_until <= $1 ORDER BY protected_until LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (OrgId(r.get(0)), r.get(1))).collect())
    }

    /// Received registrations whose submitter has not heard of their latest state, oldest change
    /// first: what the sync tells again.
    pub async fn unnotified_registrations(&self, limit: u32) -> Result<Vec<(OrgId, String)>, StoreError> {
        let rows = sqlx::query("SELECT org_id, id FROM registrations WHERE notify = 1 ORDER BY updated_at LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (OrgId(r.get(0)), r.get(1))).collect())
    }

    /// `org`'s rules for registrations it receives (the defaults until set).
    pub async fn registration_settings(&self, org: &OrgId) -> Result<Settings, StoreError> {
        let row = sqlx::query("SELECT settings FROM registration_settings WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(Settings::default()),
            Some(r) => serde_json::from_str(&r.get::<String, _>(0))
                .map_err(|_| StoreError::Corrupt("registration_settings.settings")),
        }
    }

    /// Sets `org`'s rules for registrations it receives.
    pub async fn set_registration_settings(&self, org: &OrgId, settings: &Settings) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registration_settings (org_id, settings) VALUES ($1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET settings = excluded.settings",
        )
        .bind(org.as_str())
        .bind(serde_json::to_string(settings).expect("settings serialise"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `org`'s own accounts in `segments` of its newest dataset that share a key with `keys`
    /// (`domain:…`, `duns:…`, `name_country:CC|name`): its direct team's opportunities on that
    /// customer, by account id.
    pub async fn direct_opportunities(
        &self,
        org: &OrgId,
        segments: &[String],
        keys: &[String],
    ) -> Result<Vec<(String, DirectOpportunity)>, StoreError> {
        let Some(dataset) = self.active_dataset(org).await? else { return Ok(Vec::new()) };
        if segments.is_empty() || keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        // A coarse filter in SQL (LIKE on the JSON lists), then the exact test here.
        let mut binds: Vec<String> = Vec::new();
        let mut conditions = Vec::new();
        let mut bind = |value: String| {
            binds.push(value);
            format!("${}", binds.len() + 1)
        };
        let segment_list: Vec<String> = segments.iter().map(|s| bind(s.clone())).collect();
        for key in keys {
            match key.split_once(':') {
                Some(("domain", d)) => conditions.push(format!("domains LIKE {}", bind(format!("%\"{d}\"%")))),
                Some(("duns", d)) => conditions.push(format!("duns LIKE {}", bind(format!("%\"{d}\"%")))),
                Some(("name_country", nc)) => {
                    if let Some((country, name)) = nc.split_once('|') {
                        let (c, n) = (bind(country.to_owned()), bind(name.to_owned()));
                        conditions.push(format!("(country = {c} AND name = {n})"));
                    }
                }
                _ => {}
            }
        }
        if conditions.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT account_id, domains, duns, name, country FROM dataset_accounts WHERE dataset_id = $1 \
             AND segment IN ({}) AND ({}) ORDER BY line LIMIT 100",
            segment_list.join(", "),
            conditions.join(" OR ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dataset.id.as_str());
        for b in &binds {
            query = query.bind(b.as_str());
        }
        let mut out = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            let list = |i: usize, what| -> Result<Vec<String>, StoreError> {
                serde_json::from_str(&row.get::<String, _>(i)).map_err(|_| StoreError::Corrupt(what))
            };
            let mut account_keys: BTreeSet<String> = BTreeSet::new();
            account_keys.extend(list(1, "dataset_accounts.domains")?.into_iter().map(|d| format!("domain:{d}")));
            account_keys.extend(list(2, "dataset_accounts.duns")?.into_iter().map(|d| format!("duns:{d}")));
            if let (Some(name), Some(country)) = (row.get::<Option<String>, _>(3), row.get::<Option<String>, _>(4)) {
                account_keys.insert(format!("name_country:{country}|{name}"));
            }
            if account_keys.iter().any(|k| wanted.contains(k.as_str())) {
                out.push((row.get(0), DirectOpportunity { customer_keys: account_keys, open: true }));
            }
        }
        Ok(out)
    }

    /// Counts a pre-check by `partnership` of `org` at `now` if the limits allow it: at most
    /// `per_minute` in the last minute and `per_day` in the last 24 hours. A refused one is not
    /// counted. (Replicas deciding at the same instant may each allow the last one.)
    pub async fn take_precheck(
        &self,
        org: &OrgId,
        partnership: &PartnershipId,
        now: i64,
        per_minute: u32,
        per_day: u32,
    ) -> Result<Allowance, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows =
            sqlx::query("SELECT at FROM prechecks WHERE org_id = $1 AND partnership_id = $2 AND at > $3 ORDER BY at")
                .bind(org.as_str())
                .bind(partnership.as_str())
                .bind(now - DAY_MS)
                .fetch_all(&mut *tx)
                .await?;
        let times: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let in_minute: Vec<i64> = times.iter().copied().filter(|&t| t > now - MINUTE_MS).collect();
        let retry =
            |oldest: i64, window: i64| u64::try_from((oldest + window - now + 999).max(1000) / 1000).unwrap_or(1);
        if times.len() >= per_day as usize {
            let oldest = times.get(times.len() - per_day as usize).copied().unwrap_or(now);
            return Ok(Allowance::Refused {
                reason: "the daily pre-check budget is spent",
                retry_after: retry(oldest, DAY_MS),
            });
        }
        if in_minute.len() >= per_minute as usize {
            let oldest = in_minute.get(in_minute.len() - per_minute as usize).copied().unwrap_or(now);
            return Ok(Allowance::Refused {
                reason: "too many pre-checks in a minute",
                retry_after: retry(oldest, MINUTE_MS),
            });
        }
        sqlx::query("INSERT INTO prechecks (org_id, partnership_id, at) VALUES ($1, $2, $3)")
            .bind(org.as_str())
            .bind(partnership.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM prechecks WHERE org_id = $1 AND at <= $2")
            .bind(org.as_str())
            .bind(now - DAY_MS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let remaining = per_day.saturating_sub(u32::try_from(times.len() + 1).unwrap_or(u32::MAX));
        Ok(Allowance::Allowed { remaining_today: remaining })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use blindmap_cosell::dealreg::{RegState, Submission};
    use blindmap_cosell::money::{Currency, Money};

    use super::*;
    use crate::on_both_backends;

    async fn org_with_partners(store: &Store) -> (OrgId, PartnershipId, PartnershipId) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let mut ids = Vec::new();
        for (i, name) in ["Globex", "Initech"].iter().enumerate() {
            let id = PartnershipId::generate();
            store
                .create_partnership(&id, &org, name, "https://p.example", &format!("fp{i}"), "pt_theirs")
                .await
                .unwrap();
            ids.push(id);
        }
        let second = ids.pop().unwrap();
        (org, ids.pop().unwrap(), second)
    }

    fn received(id: &str, partnership: &PartnershipId, at: i64) -> StoredRegistration {
        StoredRegistration {
            registration: Registration {
                id: id.into(),
                submission: Submission {
                    partner: partnership.to_string(),
                    customer_keys: BTreeSet::from(["domain:acme.com".to_owned()]),
                    products: BTreeSet::from(["cloud".to_owned()]),
                    value: Money::parse("1000", Currency::new("EUR").unwrap()).unwrap(),
                    expected_close: "2027-01-31".into(),
                    notes: String::new(),
                },
                submitted_at: at,
                state: RegState::Submitted,
                conflict: None,
                protected_until: None,
                extended: false,
            },
            partnership: partnership.clone(),
            direction: Direction::Received,
            review: serde_json::json!({}),
            notify: false,
            version: 1,
            updated_at: at,
        }
    }

    async fn registrations_keep_keys_claims_and_versions(store: Store) {
        let (org, globex, initech) = org_with_partners(&store).await;
        let keys = vec!["domain:acme.com".to_owned(), "name_country:US|acme".to_owned()];
        let payload = serde_json::json!({"id": "rg_1"});
        let first = received("rg_1", &globex, 1);
        let record = Record { event: Some(("registration.submitted", &payload)), audit: None };
        store.insert_registration(&org, &first, &keys, record).await.unwrap();
        let again = store.insert_registration(&org, &first, &keys, Record { event: None, audit: None }).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))));
        let sharing = store.registrations_sharing(&org, &["name_country:US|acme".to_owned()]).await.unwrap();
        assert_eq!(sharing.len(), 1);
        assert!(store.registrations_sharing(&org, &["domain:other.com".to_owned()]).await.unwrap().is_empty());
        // Claimed keys leave out the asker's own claims.
        assert!(store.claimed_keys(&org, &globex).await.unwrap().is_empty());
        assert_eq!(store.claimed_keys(&org, &initech).await.unwrap().len(), 2);

        let mut stored = store.registration(&org, "rg_1").await.unwrap();
        stored.registration.approve(10, 90).unwrap();
        stored.notify = true;
        let stale = stored.clone();
        store.save_registration(&org, &stored, Record { event: None, audit: None }).await.unwrap();
        let lost = store.save_registration(&org, &stale, Record { event: None, audit: None }).await;
        assert!(matches!(lost, Err(StoreError::Changed)), "a write from an old read is refused");
        assert_eq!(store.unnotified_registrations(10).await.unwrap(), vec![(org.clone(), "rg_1".to_owned())]);
        let end = 10 + 90 * DAY_MS;
        assert!(store.due_registrations(end - 1, 10).await.unwrap().is_empty());
        assert_eq!(store.due_registrations(end, 10).await.unwrap().len(), 1);
        let page = store.registrations_page(&org, Some(Direction::Received), Some("approved"), None, 10).await;
        assert_eq!(page.unwrap().len(), 1);
        let none = store.registrations_page(&org, Some(Direction::Submitted), None, None, 10).await;
        assert!(none.unwrap().is_empty());
        // A rejected claim is no longer claimed.
        let mut stored = store.registration(&org, "rg_1").await.unwrap();
        stored.registration.state = RegState::Rejected;
        store.save_registration(&org, &stored, Record { event: None, audit: None }).await.unwrap();
        assert!(store.claimed_keys(&org, &initech).await.unwrap().is_empty());
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(events, 1, "the event went with the insert");
    }

    async fn settings_default_until_set(store: Store) {
        let (org, ..) = org_with_partners(&store).await;
        assert_eq!(store.registration_settings(&org).await.unwrap(), Settings::default());
        let settings = Settings { protection_days: 30, ..Settings::default() };
        store.set_registration_settings(&org, &settings).await.unwrap();
        store.set_registration_settings(&org, &settings).await.unwrap();
        assert_eq!(store.registration_settings(&org).await.unwrap().protection_days, 30);
    }

    async fn prechecks_are_rate_limited_and_budgeted(store: Store) {
        let (org, globex, initech) = org_with_partners(&store).await;
        let now = 10 * DAY_MS;
        for i in 0..3 {
            let allowed = store.take_precheck(&org, &globex, now + i, 3, 5).await.unwrap();
            assert_eq!(allowed, Allowance::Allowed { remaining_today: 4 - u32::try_from(i).unwrap() });
        }
        let refused = store.take_precheck(&org, &globex, now + 3, 3, 5).await.unwrap();
        assert!(matches!(refused, Allowance::Refused { retry_after: 60, .. }), "{refused:?}");
        // Another partner has its own limits.
        assert!(matches!(store.take_precheck(&org, &initech, now, 3, 5).await.unwrap(), Allowance::Allowed { .. }));
        let later = now + MINUTE_MS + 10;
        assert!(matches!(store.take_precheck(&org, &globex, later, 3, 5).await.unwrap(), Allowance::Allowed { .. }));
        assert!(matches!(
            store.take_precheck(&org, &globex, later + 1, 3, 5).await.unwrap(),
            Allowance::Allowed { remaining_today: 0 }
        ));
        let spent = store.take_precheck(&org, &globex, later + 2, 3, 5).await.unwrap();
        assert!(matches!(spent, Allowance::Refused { reason, .. } if reason.contains("daily")), "{spent:?}");
        // A day after the first, budget again.
        let next_day = now + DAY_MS + 1;
        assert!(matches!(store.take_precheck(&org, &globex, next_day, 3, 5).await.unwrap(), Allowance::Allowed { .. }));
    }

    async fn direct_opportunities_are_own_accounts_in_direct_segments(store: Store) {
        let (org, ..) = org_with_partners(&store).await;
        let csv = "id,segment,name,country,domain,duns\n\
                   a1,open_opportunities,Acme Corp,US,acme.com,\n\
                   a2,customers,Globex,US,globex.com,150483782\n\
                   a3,open_opportunities,Initech,DE,,\n\
                   a4,open_opportunities,Acme_x,US,acme_x.com,\n";
        let importer = blindmap_records::Importer::new(
            "v.csv",
            std::io::Cursor::new(csv.as_bytes().to_vec()),
            &blindmap_records::Preset::Generic.mapping(),
        )
        .unwrap();
        store.import_dataset(&org, "v.csv", "generic", importer).await.unwrap();
        let direct = vec!["open_opportunities".to_owned()];
        let found = |keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            let store = store.clone();
            let (org, direct) = (org.clone(), direct.clone());
            async move {
                let found = store.direct_opportunities(&org, &direct, &keys).await.unwrap();
                found.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
            }
        };
        assert_eq!(found(&["domain:acme.com"]).await, ["a1"]);
        assert_eq!(found(&["name_country:DE|initech"]).await, ["a3"]);
        assert!(found(&["name_country:US|initech"]).await.is_empty(), "another country");
        assert!(found(&["domain:globex.com", "duns:150483782"]).await.is_empty(), "a customer, not an opportunity");
        // LIKE's `_` is a wildcard in SQL; the exact test afterwards is not fooled.
        assert!(found(&["domain:acmeax.com"]).await.is_empty());
    }

    on_both_backends!(
        direct_opportunities_are_own_accounts_in_direct_segments,
        registrations_keep_keys_claims_and_versions,
        settings_default_until_set,
        prechecks_are_rate_limited_and_budgeted
    );
}

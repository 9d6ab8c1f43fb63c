//! What the ecosystem view and "which partner to bring" read: this side's accounts that overlap
//! with several partners, counted in SQL over each active partnership's latest complete run (a
//! run of 100,000 overlaps is never loaded to count it), and the record of working with each
//! partner (co-sell outcomes, the attribution ledger's credits). Corrections apply as in every
//! list of overlaps.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::ids::{DatasetId, OrgId, PartnershipId, RunId};
use crate::reports::is_field_name;
use crate::{Backend, Store, StoreError};

/// Which accounts the ecosystem view counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcosystemFilter {
    /// Only accounts that overlap with at least this many partners.
    pub min_partners: u32,
    /// Only overlaps of accounts in this own segment.
    pub own_segment: Option<String>,
    /// The field of the dataset's accounts that holds the amount, read as text (a name as
    /// [`is_field_name`] says; any other reads nothing).
    pub amount_field: Option<String>,
}

/// One account that overlaps with enough partners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcosystemCandidate {
    /// Your account's id.
    pub account_id: String,
    /// With how many active partnerships it overlaps, in their latest complete runs.
    pub partners: u32,
    /// Its segment in those overlaps (the first by name, should the runs differ).
    pub own_segment: String,
    /// Its name in the dataset read, if there.
    pub name: Option<String>,
    /// The amount field's text in the dataset read, if there.
    pub amount: Option<String>,
}

/// What the ecosystem's counts take into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// The overlaps as the runs listed them.
    Listed,
    /// What corrections leave of them.
    Corrected,
    /// What corrections leave of the corrected accounts' overlaps.
    CorrectedOnly,
}

/// One partner that has one of your accounts, in one of its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcosystemPartner {
    /// Your account's id.
    pub account_id: String,
    /// The partnership.
    pub partnership: PartnershipId,
    /// The partner's name.
    pub partner_name: String,
    /// The partner's segment of a record that matched the account.
    pub partner_segment: String,
}

/// Co-sell records with a partnership that ended won or lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoSellOutcomes {
    /// Won.
    pub won: u64,
    /// Lost.
    pub lost: u64,
}

/// The ledger's credits to one partner, as the ledger names it, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCredits {
    /// The partner as the touches named it (a name or a partnership id).
    pub partner: String,
    /// The currency: the reporting currency where the deal had one, else the deal's.
    pub currency: String,
    /// Won deals credited.
    pub deals: u64,
    /// The credited amounts, summed, in minor units of `currency`.
    pub minor: i64,
}

impl Store {
    /// The latest complete run of each of `org`'s active partnerships, as `latest_complete_run`
    /// orders runs: SQL selecting `id` and `partnership_id`, `org` bound as `$1`.
    fn latest_active_runs_sql() -> &'static str {
        "SELECT lr.id, lr.partnership_id FROM match_runs lr JOIN partnerships lp ON lp.id = lr.partnership_id \
         AND lp.org_id = lr.org_id AND lp.state = 'active' WHERE lr.org_id = $1 AND lr.state = 'complete' \
         AND NOT EXISTS (SELECT 1 FROM match_runs nr WHERE nr.org_id = lr.org_id \
         AND nr.partnership_id = lr.partnership_id AND nr.state = 'complete' \
         AND (nr.started_at > lr.started_at OR (nr.started_at = lr.started_at AND nr.id > lr.id)))"
    }

    /// The latest complete run of each of `org`'s active partnerships, with its partnership, by
    /// run id: what the ecosystem counts, and (with the corrections' state) what says whether a
    /// count made before still holds.
    pub async fn latest_active_runs(&self, org: &OrgId) -> Result<Vec<(RunId, PartnershipId)>, StoreError> {
        let sql = format!("{} ORDER BY lr.id", Self::latest_active_runs_sql());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (RunId(r.get(0)), PartnershipId(r.get(1)))).collect())
    }

    /// What `org`'s corrections are now, in a line: it changes whenever one is made or undone.
    pub async fn corrections_state(&self, org: &OrgId) -> Result<String, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(MAX(created_at), 0), COALESCE(MAX(removed_at), 0), \
             COUNT(CASE WHEN removed_at IS NULL THEN 1 END) FROM match_corrections WHERE org_id = $1",
        )
        .bind(org.as_str())
        .fetch_one(&self.pool)
        .await?;
        let n = |i: usize| row.get::<i64, _>(i);
        Ok(format!("{}/{}/{}/{}", n(0), n(1), n(2), n(3)))
    }

    /// Every account of `org` that overlaps in at least `filter.min_partners` of `runs` (each
    /// the latest complete run of one partnership, from [`Store::latest_active_runs`]), with in
    /// how many, counted in the database; its name and amount text from `dataset` (the active
    /// one), where the account is there. In no order. Where no correction of `org` is active the
    /// count reads the overlaps' index alone.
    pub async fn ecosystem_candidates(
        &self,
        org: &OrgId,
        runs: &[(RunId, PartnershipId)],
        dataset: Option<&DatasetId>,
        filter: &EcosystemFilter,
    ) -> Result<Vec<EcosystemCandidate>, StoreError> {
        self.candidates(org, runs, dataset, filter, Counted::Corrected).await
    }

    /// [`Store::ecosystem_candidates`] as the runs listed them, before corrections: what
    /// [`Store::ecosystem_corrected`] then amends, so that a correction does not mean counting
    /// every overlap again.
    pub async fn ecosystem_candidates_listed(
        &self,
        org: &OrgId,
        runs: &[(RunId, PartnershipId)],
        dataset: Option<&DatasetId>,
        filter: &EcosystemFilter,
    ) -> Result<Vec<EcosystemCandidate>, StoreError> {
        self.candidates(org, runs, dataset, filter, Counted::Listed).await
    }

    /// The accounts of `org` that an active correction names, each with in how many of `runs`
    /// it still overlaps once corrections are applied (none for some), under `filter`'s own
    /// segment.
    pub async fn ecosystem_corrected(
        &self,
        org: &OrgId,
        runs: &[(RunId, PartnershipId)],
        filter: &EcosystemFilter,
    ) -> Result<Vec<(String, u32)>, StoreError> {
        let filter = EcosystemFilter { min_partners: 1, amount_field: None, ..filter.clone() };
        let found = self.candidates(org, runs, None, &filter, Counted::CorrectedOnly).await?;
        let mut counts: BTreeMap<String, u32> = sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT account_id FROM match_corrections WHERE org_id = $1 AND removed_at IS NULL",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|a| (a, 0))
        .collect();
        counts.extend(found.into_iter().map(|c| (c.account_id, c.partners)));
        Ok(counts.into_iter().collect())
    }

    async fn candidates(
        &self,
        org: &OrgId,
        runs: &[(RunId, PartnershipId)],
        dataset: Option<&DatasetId>,
        filter: &EcosystemFilter,
        counted: Counted,
    ) -> Result<Vec<EcosystemCandidate>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let corrected: i64 = match counted {
            Counted::Listed => 0,
            Counted::Corrected | Counted::CorrectedOnly => {
                sqlx::query_scalar("SELECT COUNT(*) FROM match_corrections WHERE org_id = $1 AND removed_at IS NULL")
                    .bind(org.as_str())
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        if corrected == 0 && counted == Counted::CorrectedOnly {
            return Ok(Vec::new());
        }
        let mut n = 3;
        let mut param = || {
            n += 1;
            format!("${n}")
        };
        let ids: Vec<String> = runs.iter().map(|_| param()).collect();
        let segment = filter.own_segment.as_ref().map(|_| format!("AND o.own_segment = {}", param()));
        let field = filter.amount_field.as_deref().filter(|f| is_field_name(f));
        let amount = match field {
            Some(_) => match self.backend {
                Backend::Sqlite => format!("json_extract(a.fields, {})", param()),
                Backend::Postgres => format!("(a.fields::json ->> {})", param()),
            },
            None => "NULL".to_owned(),
        };
        // Each run is one partnership's: distinct runs are distinct partners.
        let mut correction = if corrected > 0 {
            let partnership = "(SELECT cr.partnership_id FROM match_runs cr WHERE cr.id = o.run_id)";
            format!("AND NOT {}", self.corrected_sql("$1", partnership))
        } else {
            String::new()
        };
        if counted == Counted::CorrectedOnly {
            correction.push_str(
                " AND o.account_id IN (SELECT mc.account_id FROM match_corrections mc WHERE mc.org_id = $1 \
                 AND mc.removed_at IS NULL)",
            );
        }
        let sql = format!(
            "SELECT c.account_id, c.n, c.seg, a.display_name, {amount} FROM \
             (SELECT o.account_id, COUNT(DISTINCT o.run_id) AS n, MIN(o.own_segment) AS seg FROM run_overlaps o \
               WHERE o.run_id IN ({}) {} {correction} GROUP BY o.account_id HAVING COUNT(DISTINCT o.run_id) >= $2) c \
             LEFT JOIN dataset_accounts a ON a.dataset_id = $3 AND a.account_id = c.account_id",
            ids.join(", "),
            segment.unwrap_or_default(),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.as_str())
            .bind(i64::from(filter.min_partners))
            .bind(dataset.map_or("", DatasetId::as_str));
        for (run, _) in runs {
            query = query.bind(run.as_str());
        }
        if let Some(s) = &filter.own_segment {
            query = query.bind(s.as_str());
        }
        if let Some(field) = field {
            query = query.bind(match self.backend {
                Backend::Sqlite => format!("$.{field}"),
                Backend::Postgres => field.to_owned(),
            });
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(EcosystemCandidate {
                    account_id: r.get(0),
                    partners: u32::try_from(r.get::<i64, _>(1)).map_err(|_| StoreError::Corrupt("run_overlaps"))?,
                    own_segment: r.get(2),
                    name: r.get(3),
                    amount: r.get(4),
                })
            })
            .collect()
    }

    /// The active partners that have these accounts of `org` in their latest complete runs, once
    /// per (account, partner, partner segment), by account, partner name and segment.
    pub async fn ecosystem_partners(&self, org: &OrgId, ids: &[&str]) -> Result<Vec<EcosystemPartner>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "WITH latest AS ({}) SELECT o.account_id, l.partnership_id, pp.partner_name, o.partner_segment \
                 FROM run_overlaps o JOIN latest l ON l.id = o.run_id JOIN partnerships pp ON pp.id = l.partnership_id \
                 WHERE o.account_id IN ({}) AND NOT {} \
                 GROUP BY o.account_id, l.partnership_id, pp.partner_name, o.partner_segment \
                 ORDER BY o.account_id, pp.partner_name, l.partnership_id, o.partner_segment",
                Self::latest_active_runs_sql(),
                placeholders.join(", "),
                self.corrected_sql("$1", "l.partnership_id"),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
            for id in chunk {
                query = query.bind(*id);
            }
            for r in query.fetch_all(&self.pool).await? {
                out.push(EcosystemPartner {
                    account_id: r.get(0),
                    partnership: PartnershipId(r.get(1)),
                    partner_name: r.get(2),
                    partner_segment: r.get(3),
                });
            }
        }
        Ok(out)
    }

    /// `org`'s co-sell records that ended won or lost, counted by partnership.
    pub async fn cosell_outcomes(&self, org: &OrgId) -> Result<Vec<(PartnershipId, CoSellOutcomes)>, StoreError> {
        let rows = sqlx::query(
            "SELECT partnership_id, status, COUNT(*) FROM cosell_records WHERE org_id = $1 \
             AND status IN ('won', 'lost') GROUP BY partnership_id, status ORDER BY partnership_id",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(PartnershipId, CoSellOutcomes)> = Vec::new();
        for r in rows {
            let id = PartnershipId(r.get(0));
            let n = u64::try_from(r.get::<i64, _>(2)).unwrap_or(0);
            let status: String = r.get(1);
            if out.last().is_none_or(|(last, _)| last != &id) {
                out.push((id, CoSellOutcomes::default()));
            }
            let (_, outcome) = out.last_mut().expect("pushed");
            if status == "won" {
                outcome.won += n;
            } else {
                outcome.lost += n;
            }
        }
        Ok(out)
    }

    /// The attribution ledger's credits of `org`, by partner (as the ledger names it) and currency.
    pub async fn ledger_credits(&self, org: &OrgId) -> Result<Vec<LedgerCredits>, StoreError> {
        let rows = sqlx::query(
            "SELECT partner, COALESCE(reporting_currency, currency) AS cur, COUNT(DISTINCT opportunity), \
             CAST(SUM(COALESCE(reported_minor, amount_minor)) AS BIGINT) FROM ledger_entries \
             WHERE org_id = $1 AND partner IS NOT NULL GROUP BY partner, COALESCE(reporting_currency, currency) \
             ORDER BY partner, cur",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerCredits {
                partner: r.get(0),
                currency: r.get(1),
                deals: u64::try_from(r.get::<i64, _>(2)).unwrap_or(0),
                minor: r.get(3),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use blindmap_records::{Importer, Preset};

    use super::*;
    use crate::on_both_backends;

    const ACCOUNTS: &str = "id,segment,name,country,domain,open_amount\n\
        a1,customers,Acme,DE,acme.example,\"48,000.00\"\n\
        a2,prospects,Globex,DE,globex.example,12\n\
        a3,customers,Initech,DE,initech.example,\n";

    async fn setup(store: &Store) -> (OrgId, DatasetId) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let importer = Importer::new("a.csv", Cursor::new(ACCOUNTS.as_bytes().to_vec()), &Preset::Generic.mapping());
        let dataset = store.import_dataset(&org, "a.csv", "generic", importer.unwrap()).await.unwrap();
        (org, dataset.id)
    }

    async fn partner(store: &Store, org: &OrgId, name: &str) -> PartnershipId {
        let p = PartnershipId::generate();
        store.create_partnership(&p, org, name, "https://p", "sha256:aa", &format!("ref_{name}")).await.unwrap();
        p
    }

    /// A complete run with `p` in which `accounts` overlap (account, own segment, partner segment).
    async fn run(store: &Store, org: &OrgId, dataset: &DatasetId, p: &PartnershipId, accounts: &[(&str, &str, &str)]) {
        crate::runs::test_runs::complete(store, org, dataset, p, accounts).await;
    }

    fn filter(min: u32) -> EcosystemFilter {
        EcosystemFilter { min_partners: min, own_segment: None, amount_field: Some("open_amount".into()) }
    }

    async fn sorted(
        store: &Store,
        org: &OrgId,
        d: &DatasetId,
        f: &EcosystemFilter,
    ) -> Vec<(String, u32, Option<String>)> {
        let runs = store.latest_active_runs(org).await.unwrap();
        let mut got: Vec<_> = store
            .ecosystem_candidates(org, &runs, Some(d), f)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.account_id, c.partners, c.amount))
            .collect();
        got.sort();
        // As the runs listed them, amended by the corrected accounts' own counts: the same.
        let corrected: BTreeMap<String, u32> =
            store.ecosystem_corrected(org, &runs, f).await.unwrap().into_iter().collect();
        let mut amended: Vec<_> = store
            .ecosystem_candidates_listed(org, &runs, Some(d), f)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (corrected.get(&c.account_id).copied().unwrap_or(c.partners), c))
            .filter(|(n, _)| *n >= f.min_partners)
            .map(|(n, c)| (c.account_id, n, c.amount))
            .collect();
        amended.sort();
        assert_eq!(amended, got, "listed, amended by the corrected accounts");
        got
    }

    async fn counts_partners_in_their_latest_runs_only(store: Store) {
        let (org, d) = setup(&store).await;
        let (p1, p2, p3) = (
            partner(&store, &org, "One").await,
            partner(&store, &org, "Two").await,
            partner(&store, &org, "Three").await,
        );
        run(
            &store,
            &org,
            &d,
            &p1,
            &[("a1", "customers", "customers"), ("a1", "customers", "prospects"), ("a2", "prospects", "customers")],
        )
        .await;
        // Partner two's earlier run had a2; its latest has not.
        run(&store, &org, &d, &p2, &[("a1", "customers", "open_opportunities"), ("a2", "prospects", "customers")])
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        run(&store, &org, &d, &p2, &[("a1", "customers", "open_opportunities"), ("a3", "customers", "customers")])
            .await;
        run(&store, &org, &d, &p3, &[("a1", "customers", "customers"), ("a3", "customers", "customers")]).await;
        let got = sorted(&store, &org, &d, &filter(2)).await;
        assert_eq!(
            got,
            [("a1".to_owned(), 3, Some("48,000.00".to_owned())), ("a3".to_owned(), 2, None)],
            "two records of one partner count once; an earlier run not at all"
        );
        assert_eq!(sorted(&store, &org, &d, &filter(3)).await.len(), 1);
        assert_eq!(sorted(&store, &org, &d, &filter(1)).await.len(), 3);
        let prospects = EcosystemFilter { own_segment: Some("prospects".into()), ..filter(1) };
        assert_eq!(sorted(&store, &org, &d, &prospects).await, [("a2".to_owned(), 1, Some("12".to_owned()))]);

        // A never-match correction takes the partner off the account; an ended partnership counts no more.
        let correction = crate::NewCorrection {
            partnership: &p3,
            account_id: "a3",
            kind: crate::CorrectionKind::NeverMatch,
            key_types: &[],
            account_name: None,
            note: None,
            by: "ada",
        };
        let before = store.corrections_state(&org).await.unwrap();
        store.add_correction(&org, &correction).await.unwrap();
        assert_ne!(store.corrections_state(&org).await.unwrap(), before, "a correction changes the state");
        assert_eq!(sorted(&store, &org, &d, &filter(2)).await.len(), 1);
        store.end_partnership(&org, &p1).await.unwrap();
        assert_eq!(sorted(&store, &org, &d, &filter(2)).await, [("a1".to_owned(), 2, Some("48,000.00".to_owned()))]);

        let partners = store.ecosystem_partners(&org, &["a1"]).await.unwrap();
        let named: Vec<_> = partners.iter().map(|p| (p.partner_name.as_str(), p.partner_segment.as_str())).collect();
        assert_eq!(named, [("Three", "customers"), ("Two", "open_opportunities")]);

        // Another organisation sees none of it.
        let other = store.create_organisation("Other").await.unwrap().id;
        let theirs = store.latest_active_runs(&other).await.unwrap();
        assert!(theirs.is_empty());
        assert!(store.ecosystem_candidates(&other, &theirs, Some(&d), &filter(1)).await.unwrap().is_empty());
        assert!(store.ecosystem_partners(&other, &["a1"]).await.unwrap().is_empty());
    }

    async fn counts_co_sell_outcomes_and_ledger_credits(store: Store) {
        let (org, _) = setup(&store).await;
        let (p1, p2) = (partner(&store, &org, "One").await, partner(&store, &org, "Two").await);
        for (i, (p, status)) in
            [(&p1, "won"), (&p1, "won"), (&p1, "lost"), (&p1, "active"), (&p2, "lost")].iter().enumerate()
        {
            sqlx::query(
                "INSERT INTO cosell_records (id, org_id, partnership_id, party, status, own_account, record, version, \
                 dirty, created_at, updated_at) VALUES ($1, $2, $3, 'A', $4, 'a1', '{}', 1, 0, 0, 0)",
            )
            .bind(format!("cs_{i}"))
            .bind(org.as_str())
            .bind(p.as_str())
            .bind(*status)
            .execute(&store.pool)
            .await
            .unwrap();
        }
        let outcomes = store.cosell_outcomes(&org).await.unwrap();
        let of = |p: &PartnershipId| outcomes.iter().find(|(id, _)| id == p).map(|(_, o)| o.clone()).unwrap();
        assert_eq!(of(&p1), CoSellOutcomes { won: 2, lost: 1 });
        assert_eq!(of(&p2), CoSellOutcomes { won: 0, lost: 1 });

        // Two deals credited to One (one of them in USD for reporting), one unattributed.
        for (opportunity, entries) in [
            ("o1", vec![(Some("One"), 100_000, "EUR", None, None), (Some("Two"), 50_000, "EUR", None, None)]),
            ("o2", vec![(Some("One"), 20_000, "EUR", Some(21_600), Some("USD"))]),
            ("o3", vec![(None, 70_000, "EUR", None, None)]),
        ] {
            sqlx::query(
                "INSERT INTO attributions (org_id, opportunity, deal, touches, model, result, closed_at, closed_by, \
                 recorded_at) VALUES ($1, $2, '{}', '[]', 'categorical', '{}', 0, 'ada', 0)",
            )
            .bind(org.as_str())
            .bind(opportunity)
            .execute(&store.pool)
            .await
            .unwrap();
            for (seq, (partner, minor, currency, reported, reporting)) in entries.into_iter().enumerate() {
                sqlx::query(
                    "INSERT INTO ledger_entries (org_id, opportunity, seq, partner, model, share_ppm, amount_minor, \
                     currency, reported_minor, reporting_currency, closed_at) \
                     VALUES ($1, $2, $3, $4, 'categorical', 1000000, $5, $6, $7, $8, 0)",
                )
                .bind(org.as_str())
                .bind(opportunity)
                .bind(seq as i64)
                .bind(partner)
                .bind(minor)
                .bind(currency)
                .bind(reported)
                .bind(reporting)
                .execute(&store.pool)
                .await
                .unwrap();
            }
        }
        let credits = store.ledger_credits(&org).await.unwrap();
        let got: Vec<_> = credits.iter().map(|c| (c.partner.as_str(), c.currency.as_str(), c.deals, c.minor)).collect();
        assert_eq!(got, [("One", "EUR", 1, 100_000), ("One", "USD", 1, 21_600), ("Two", "EUR", 1, 50_000)]);
        let other = store.create_organisation("Other").await.unwrap().id;
        assert!(store.cosell_outcomes(&other).await.unwrap().is_empty());
        assert!(store.ledger_credits(&other).await.unwrap().is_empty());
    }

    on_both_backends!(counts_partners_in_their_latest_runs_only, counts_co_sell_outcomes_and_ledger_credits);

    /// How long the ecosystem's aggregation takes at scale (SQLite): `BLINDMAP_ECO_PARTNERS`
    /// partners (default 50) × `BLINDMAP_ECO_OVERLAPS` overlaps each (default 100,000), every
    /// account overlapping every partner. Run by hand:
    /// `cargo nextest run -p blindmap-store --lib --run-ignored only -E 'test(ecosystem_at_scale)' --no-capture`.
    #[tokio::test]
    #[ignore = "a measurement, minutes long"]
    async fn ecosystem_at_scale() {
        let env = |name: &str, default: i64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        let (partners, overlaps) = (env("BLINDMAP_ECO_PARTNERS", 50), env("BLINDMAP_ECO_OVERLAPS", 100_000));
        let (store, _dir) = crate::testing::sqlite().await;
        let (org, d) = setup(&store).await;
        let numbers = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2)";
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{numbers} INSERT INTO dataset_accounts (dataset_id, account_id, line, segment, domains, duns, fields, \
             display_name) SELECT $1, 'x' || i, i, 'customers', '[]', '[]', \
             '{{\"open_amount\": \"' || (i % 1000) || ',000.00\"}}', 'Company ' || i FROM n"
        )))
        .bind(d.as_str())
        .bind(overlaps)
        .execute(&store.pool)
        .await
        .unwrap();
        for p in 0..partners {
            let pid = partner(&store, &org, &format!("P{p}")).await;
            run(&store, &org, &d, &pid, &[]).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{numbers} INSERT INTO run_overlaps (run_id, account_id, own_segment, partner_segment, partner_record, \
                 key_types, fields, tier, reason, sort_name, owner) SELECT (SELECT id FROM match_runs \
                 WHERE partnership_id = $1), 'x' || i, 'customers', 'customers', i, '[\"domain\"]', '{{}}', \
                 'confirmed', '', 'company ' || i, '' FROM n"
            )))
            .bind(pid.as_str())
            .bind(overlaps)
            .execute(&store.pool)
            .await
            .unwrap();
        }
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let runs = store.latest_active_runs(&org).await.unwrap();
            let found = store.ecosystem_candidates(&org, &runs, Some(&d), &filter(2)).await.unwrap();
            eprintln!("{partners} × {overlaps}: {} accounts in {:?}", found.len(), started.elapsed());
        }
        // What a page costs once the ranking is kept: the checks of what it was made from, and
        // the page's partners.
        let ids: Vec<String> = (0..50).map(|i| format!("x{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            store.active_dataset(&org).await.unwrap();
            store.latest_active_runs(&org).await.unwrap();
            store.corrections_state(&org).await.unwrap();
            let found = store.ecosystem_partners(&org, &ids).await.unwrap();
            eprintln!("a page: {} partner rows in {:?}", found.len(), started.elapsed());
        }
    }
}

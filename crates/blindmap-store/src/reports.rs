//! What the reps' overlap reports read: a run's overlaps joined with this side's own account
//! (its name, owner and keys) and its co-sell record, filtered, searched, sorted and paged in the
//! database so that a page of a 100,000-overlap run costs one indexed query. Overlaps the
//! organisation's users corrected (`corrections.rs`) are left out of every list and count.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::ids::{OrgId, PartnershipId, RunId};
use crate::runs::{Run, Tier};
use crate::{Backend, Store, StoreError};

/// What a report lists, in which order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportSort {
    /// By the account's name (then id).
    #[default]
    Account,
    /// By your segment.
    OwnSegment,
    /// By the partner's segment.
    PartnerSegment,
    /// By the account's owner.
    Owner,
}

impl ReportSort {
    /// Every order, as pages name them.
    pub const ALL: [(Self, &'static str); 4] = [
        (Self::Account, "account"),
        (Self::OwnSegment, "segment"),
        (Self::PartnerSegment, "partner_segment"),
        (Self::Owner, "owner"),
    ];

    /// From its name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == text).map(|(s, _)| *s)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map_or("account", |(_, n)| n)
    }
}

/// Which overlaps of a run a report lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only accounts in this own segment.
    pub own_segment: Option<String>,
    /// Only overlaps with this partner segment.
    pub partner_segment: Option<String>,
    /// Only accounts of this owner (the account's `owner` field).
    pub owner: Option<String>,
    /// Only this account.
    pub account: Option<String>,
    /// Only accounts whose name or id contains this, folded: any case, with or without accents
    /// (see `search.rs` for the fold).
    pub search: Option<String>,
    /// The earlier run to compare with: each row says whether its account is new since.
    pub previous: Option<RunId>,
    /// Only accounts new since `previous`.
    pub new_only: bool,
    /// Only matches of this tier.
    pub tier: Option<Tier>,
    /// The order.
    pub sort: ReportSort,
    /// Descending instead of ascending.
    pub descending: bool,
}

/// One cell's overlapping accounts by their best tier (see [`Store::report_cells`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellTiers {
    /// This side's segment.
    pub own_segment: String,
    /// The partner's segment.
    pub partner_segment: String,
    /// Accounts with at least one confirmed match in the cell.
    pub confirmed: u64,
    /// Accounts with possible matches only.
    pub possible: u64,
}

/// One listed overlap: this side's account and what the partner shared of its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Your account's id.
    pub account_id: String,
    /// Its name as your export wrote it.
    pub name: Option<String>,
    /// Your segment.
    pub own_segment: String,
    /// Its owner (the `owner` field), if mapped.
    pub owner: Option<String>,
    /// The partner's segment of the matching record.
    pub partner_segment: String,
    /// The partner's record in the run (absent when the partner served a Bloom filter).
    pub partner_record: Option<u32>,
    /// Key types that matched.
    pub key_types: Vec<String>,
    /// How sure the match is.
    pub tier: Tier,
    /// Why, in a sentence.
    pub reason: String,
    /// The partner's shared fields (null where its record has none).
    pub partner_fields: BTreeMap<String, Option<String>>,
    /// Your account's customer keys (`domain:…`, `duns:…`, `name_country:CC|name`).
    pub keys: Vec<String>,
    /// The account's country (ISO code), if known.
    pub country: Option<String>,
    /// Its co-sell record with this partner, if any: id and status.
    pub cosell: Option<(String, String)>,
    /// Whether the account is new since the previous run (none to compare with: `None`).
    pub new: Option<bool>,
}

/// A search as a LIKE pattern matching its fold anywhere, `\` escaping the wildcards. Folded
/// first: compatibility decomposition can make a wildcard (full-width `％` is `%`).
fn contains_pattern(text: &str) -> String {
    let folded = crate::search::query(text);
    let escaped = folded.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// The SQL of an account's owner (a field of its JSON), per backend.
    fn owner_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "json_extract(a.fields, '$.owner')",
            Backend::Postgres => "(a.fields::json ->> 'owner')",
        }
    }

    /// The WHERE clause and binds (from `$3`) of `filter` over `o` (run_overlaps) and `a`
    /// (dataset_accounts) of `run`, `$1` being the run and `$2` its dataset: overlaps hidden by
    /// the organisation's corrections are never listed or counted. Every bind is used: a prepared
    /// statement is cached by its text, with its parameters' count.
    fn report_where(&self, run: &Run, filter: &ReportFilter) -> (String, Vec<String>) {
        let mut clauses = vec!["o.run_id = $1".to_owned()];
        let mut binds: Vec<String> = Vec::new();
        let mut bind = |value: String| {
            binds.push(value);
            format!("${}", binds.len() + 2)
        };
        let (org, partnership) = (bind(run.org.as_str().to_owned()), bind(run.partnership.as_str().to_owned()));
        clauses.push(format!("NOT {}", self.corrected_sql(&org, &partnership)));
        if let Some(a) = &filter.account {
            clauses.push(format!("o.account_id = {}", bind(a.clone())));
        }
        if let Some(s) = &filter.own_segment {
            clauses.push(format!("o.own_segment = {}", bind(s.clone())));
        }
        if let Some(s) = &filter.partner_segment {
            clauses.push(format!("o.partner_segment = {}", bind(s.clone())));
        }
        if let Some(owner) = &filter.owner {
            clauses.push(format!("{} = {}", self.owner_sql(), bind(owner.clone())));
        }
        if let Some(q) = filter.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let p = bind(contains_pattern(q));
            // Rows an older version wrote (until the store is next opened) fall back to ASCII folding.
            clauses.push(format!(
                "COALESCE(a.search_text, LOWER(COALESCE(a.display_name, '') || ' ' || o.account_id)) LIKE {p} ESCAPE '\\'"
            ));
        }
        if let Some(tier) = filter.tier {
            clauses.push(format!("o.tier = {}", bind(tier.as_str().to_owned())));
        }
        if let Some(before) = filter.previous.as_ref().filter(|_| filter.new_only) {
            clauses.push(format!("NOT {}", earlier_overlap(&bind(before.as_str().to_owned()))));
        }
        (clauses.join(" AND "), binds)
    }

    /// A page of `run`'s overlaps as a report lists them, and how many there are in all.
    pub async fn report_page(
        &self,
        org: &OrgId,
        run: &Run,
        filter: &ReportFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ReportRow>, u64), StoreError> {
        let total = self.report_pairs(org, run, filter).await?;
        let (_, binds) = self.report_where(run, filter);
        let sql = self.report_select(run, filter);
        let query =
            report_binds(sqlx::query(sqlx::AssertSqlSafe(sql)), org, run, filter, &binds, offset, i64::from(limit));
        let rows = query.fetch_all(&self.pool).await?;
        let items = rows.iter().map(report_row).collect::<Result<Vec<_>, _>>()?;
        Ok((items, total))
    }

    /// How many rows (pairs) `run`'s report under `filter` has.
    pub async fn report_pairs(&self, org: &OrgId, run: &Run, filter: &ReportFilter) -> Result<u64, StoreError> {
        if &run.org != org {
            return Err(StoreError::NotFound("run"));
        }
        let (clauses, binds) = self.report_where(run, filter);
        let sql = format!(
            "SELECT COUNT(*) FROM run_overlaps o \
             LEFT JOIN dataset_accounts a ON a.dataset_id = $2 AND a.account_id = o.account_id WHERE {clauses}"
        );
        let mut count =
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(run.id.as_str()).bind(run.dataset.as_str());
        for b in &binds {
            count = count.bind(b.as_str());
        }
        Ok(u64::try_from(count.fetch_one(&self.pool).await?).unwrap_or(0))
    }

    /// How many distinct accounts of this side the rows of `run`'s report under `filter` are
    /// about: fewer than the rows (pairs) when an account overlaps several partner records.
    pub async fn report_accounts(&self, org: &OrgId, run: &Run, filter: &ReportFilter) -> Result<u64, StoreError> {
        if &run.org != org {
            return Err(StoreError::NotFound("run"));
        }
        let (clauses, binds) = self.report_where(run, filter);
        let sql = format!(
            "SELECT COUNT(DISTINCT o.account_id) FROM run_overlaps o \
             LEFT JOIN dataset_accounts a ON a.dataset_id = $2 AND a.account_id = o.account_id WHERE {clauses}"
        );
        let mut count =
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(run.id.as_str()).bind(run.dataset.as_str());
        for b in &binds {
            count = count.bind(b.as_str());
        }
        Ok(u64::try_from(count.fetch_one(&self.pool).await?).unwrap_or(0))
    }

    /// Every row of `run`'s report under `filter`, in its order, handed to `each` as the
    /// database streams them (an export holds one row at a time); how many.
    pub async fn report_each(
        &self,
        org: &OrgId,
        run: &Run,
        filter: &ReportFilter,
        mut each: impl FnMut(ReportRow),
    ) -> Result<u64, StoreError> {
        use futures_util::TryStreamExt;
        if &run.org != org {
            return Err(StoreError::NotFound("run"));
        }
        let (_, binds) = self.report_where(run, filter);
        let sql = self.report_select(run, filter);
        let query = report_binds(sqlx::query(sqlx::AssertSqlSafe(sql)), org, run, filter, &binds, 0, i64::MAX);
        let mut rows = query.fetch(&self.pool);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            each(report_row(&row)?);
            n += 1;
        }
        Ok(n)
    }

    /// The SELECT of a report page: its parameters are `$1` the run, `$2` its dataset, then the
    /// filter's binds, the organisation, the partnership, the limit, the offset and, with a
    /// previous run, that run (see [`report_binds`]).
    fn report_select(&self, run: &Run, filter: &ReportFilter) -> String {
        let (clauses, binds) = self.report_where(run, filter);
        let from =
            "FROM run_overlaps o LEFT JOIN dataset_accounts a ON a.dataset_id = $2 AND a.account_id = o.account_id";
        let owner = self.owner_sql();
        let direction = if filter.descending { "DESC" } else { "ASC" };
        let order = match filter.sort {
            ReportSort::Account => {
                format!("LOWER(COALESCE(a.display_name, o.account_id)) {direction}, o.account_id {direction}")
            }
            ReportSort::OwnSegment => format!("o.own_segment {direction}, o.account_id"),
            ReportSort::PartnerSegment => format!("o.partner_segment {direction}, o.account_id"),
            ReportSort::Owner => format!("COALESCE({owner}, '') {direction}, o.account_id"),
        };
        let n = binds.len() + 2;
        let (org_p, partnership_p, limit_p, offset_p) = (n + 1, n + 2, n + 3, n + 4);
        let new_sql = match filter.previous {
            Some(_) => format!("CASE WHEN {} THEN 0 ELSE 1 END", earlier_overlap(&format!("${}", n + 5))),
            None => "NULL".to_owned(),
        };
        let cosell = format!(
            "(SELECT c.id || ' ' || c.status FROM cosell_records c WHERE c.org_id = ${org_p} \
             AND c.partnership_id = ${partnership_p} AND c.own_account = o.account_id ORDER BY c.updated_at DESC LIMIT 1)"
        );
        format!(
            "SELECT o.account_id, a.display_name, o.own_segment, {owner}, o.partner_segment, o.partner_record, \
             o.key_types, o.fields, a.domains, a.duns, a.name, a.country, {cosell}, {new_sql}, o.tier, o.reason {from} \
             WHERE {clauses} \
             ORDER BY {order}, o.partner_segment, o.partner_record LIMIT ${limit_p} OFFSET ${offset_p}"
        )
    }

    /// Per cell of `run`'s matrix (own segment, partner segment), how many of this side's
    /// accounts overlap by a confirmed match and how many by possible matches only, as the
    /// listed overlaps have them now (corrections applied): the matrix shows these beside the
    /// count the session gave.
    pub async fn report_cells(&self, org: &OrgId, run: &Run) -> Result<Vec<CellTiers>, StoreError> {
        if &run.org != org {
            return Err(StoreError::NotFound("run"));
        }
        let sql = format!(
            "SELECT own_segment, partner_segment, best, COUNT(*) FROM (SELECT o.own_segment, o.partner_segment, \
             o.account_id, MIN(o.tier) AS best FROM run_overlaps o WHERE o.run_id = $1 AND NOT {} \
             GROUP BY o.own_segment, o.partner_segment, o.account_id) t GROUP BY own_segment, partner_segment, best",
            self.corrected_sql("$2", "$3")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.id.as_str())
            .bind(run.org.as_str())
            .bind(run.partnership.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut cells: BTreeMap<(String, String), CellTiers> = BTreeMap::new();
        for r in rows {
            let (own, partner): (String, String) = (r.get(0), r.get(1));
            let n = u64::try_from(r.get::<i64, _>(3)).unwrap_or(0);
            let cell = cells.entry((own.clone(), partner.clone())).or_insert_with(|| CellTiers {
                own_segment: own,
                partner_segment: partner,
                confirmed: 0,
                possible: 0,
            });
            match Tier::parse(&r.get::<String, _>(2)) {
                Some(Tier::Confirmed) => cell.confirmed += n,
                Some(Tier::Possible) => cell.possible += n,
                None => return Err(StoreError::Corrupt("run_overlaps.tier")),
            }
        }
        Ok(cells.into_values().collect())
    }

    /// The owners of `run`'s overlapping accounts, sorted: what a report filters by.
    pub async fn report_owners(&self, org: &OrgId, run: &Run) -> Result<Vec<String>, StoreError> {
        if &run.org != org {
            return Err(StoreError::NotFound("run"));
        }
        let sql = format!(
            "SELECT DISTINCT {} FROM run_overlaps o JOIN dataset_accounts a ON a.dataset_id = $2 \
             AND a.account_id = o.account_id WHERE o.run_id = $1 AND NOT {}",
            self.owner_sql(),
            self.corrected_sql("$3", "$4")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.id.as_str())
            .bind(run.dataset.as_str())
            .bind(run.org.as_str())
            .bind(run.partnership.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut owners: Vec<String> = rows.iter().filter_map(|r| r.get::<Option<String>, _>(0)).collect();
        owners.sort();
        Ok(owners)
    }

    /// Every complete run's overlaps of one account of `org` (corrections applied), with the
    /// partnership and the partner's name: the latest complete run per partnership only.
    pub async fn account_overlaps(
        &self,
        org: &OrgId,
        account_id: &str,
    ) -> Result<Vec<(PartnershipId, String, ReportRow)>, StoreError> {
        let runs = sqlx::query(
            "SELECT r.id FROM match_runs r WHERE r.org_id = $1 AND r.state = 'complete' AND r.finished_at = \
             (SELECT MAX(l.finished_at) FROM match_runs l WHERE l.org_id = $1 AND l.partnership_id = r.partnership_id \
             AND l.state = 'complete')",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        let filter = ReportFilter { account: Some(account_id.to_owned()), ..ReportFilter::default() };
        for r in runs {
            let run = self.run(org, &RunId(r.get(0))).await?;
            let (rows, _) = self.report_page(org, &run, &filter, 0, 1000).await?;
            out.extend(rows.into_iter().map(|row| (run.partnership.clone(), run.partner_name.clone(), row)));
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }
}

/// Binds a report SELECT's parameters (see [`Store::report_select`]).
fn report_binds<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    org: &'q OrgId,
    run: &'q Run,
    filter: &'q ReportFilter,
    binds: &'q [String],
    offset: u64,
    limit: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query = query.bind(run.id.as_str()).bind(run.dataset.as_str());
    for b in binds {
        query = query.bind(b.as_str());
    }
    query = query
        .bind(org.as_str())
        .bind(run.partnership.as_str())
        .bind(limit)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX));
    if let Some(previous) = &filter.previous {
        query = query.bind(previous.as_str());
    }
    query
}

/// Whether `o`'s account overlapped in the run the parameter `run` names.
fn earlier_overlap(run: &str) -> String {
    format!("EXISTS (SELECT 1 FROM run_overlaps p WHERE p.run_id = {run} AND p.account_id = o.account_id)")
}

fn report_row(r: &sqlx::any::AnyRow) -> Result<ReportRow, StoreError> {
    let corrupt = StoreError::Corrupt;
    let key_types: String = r.get(6);
    let fields: String = r.get(7);
    let list = |i: usize, what| -> Result<Vec<String>, StoreError> {
        match r.get::<Option<String>, _>(i) {
            Some(text) => serde_json::from_str(&text).map_err(|_| corrupt(what)),
            None => Ok(Vec::new()),
        }
    };
    let mut keys: Vec<String> =
        list(8, "dataset_accounts.domains")?.into_iter().map(|d| format!("domain:{d}")).collect();
    keys.extend(list(9, "dataset_accounts.duns")?.into_iter().map(|d| format!("duns:{d}")));
    let country: Option<String> = r.get(11);
    if let (Some(name), Some(country)) = (r.get::<Option<String>, _>(10), &country) {
        keys.push(format!("name_country:{country}|{name}"));
    }
    let position: i64 = r.get(5);
    Ok(ReportRow {
        account_id: r.get(0),
        name: r.get(1),
        own_segment: r.get(2),
        owner: r.get(3),
        partner_segment: r.get(4),
        partner_record: u32::try_from(position).ok(),
        key_types: serde_json::from_str(&key_types).map_err(|_| corrupt("run_overlaps.key_types"))?,
        tier: Tier::parse(&r.get::<String, _>(14)).ok_or(corrupt("run_overlaps.tier"))?,
        reason: r.get(15),
        partner_fields: serde_json::from_str(&fields).map_err(|_| corrupt("run_overlaps.fields"))?,
        keys,
        country,
        cosell: r
            .get::<Option<String>, _>(12)
            .and_then(|c| c.split_once(' ').map(|(i, s)| (i.to_owned(), s.to_owned()))),
        new: r.get::<Option<i64>, _>(13).map(|n| n != 0),
    })
}

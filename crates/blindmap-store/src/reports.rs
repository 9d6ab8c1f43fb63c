//! What the reps' overlap reports read: a run's overlaps joined with this side's own account
//! (its name, owner and keys) and its co-sell record, filtered, searched, sorted and paged in the
//! database so that a page of a 100,000-overlap run costs one indexed query. Overlaps the
//! organisation's users corrected (`corrections.rs`) are left out of every list and count.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::ids::{OrgId, PartnershipId, RunId};
use crate::kept::Kept;
use crate::runs::{Run, Tier};
use crate::{Backend, Store, StoreError};

/// What a report lists, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// By the partner's name (a report across partners).
    Partner,
    /// By a field the partner shared of its record (absent values first, ascending).
    PartnerField(String),
}

impl ReportSort {
    /// Every order but the partner's fields, as pages name them.
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Account, "account"),
        (Self::OwnSegment, "segment"),
        (Self::PartnerSegment, "partner_segment"),
        (Self::Owner, "owner"),
        (Self::Partner, "partner"),
    ];

    /// The prefix of a partner field's order: `field:owner` sorts by the partner's `owner`.
    pub const FIELD_PREFIX: &'static str = "field:";

    /// From its name (`field:NAME` for a partner's field, NAME a field name of the protocol's).
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(field) = text.strip_prefix(Self::FIELD_PREFIX) {
            return is_field_name(field).then(|| Self::PartnerField(field.to_owned()));
        }
        Self::ALL.iter().find(|(_, n)| *n == text).map(|(s, _)| s.clone())
    }

    /// Its name.
    pub fn name(&self) -> String {
        match self {
            Self::PartnerField(field) => format!("{}{field}", Self::FIELD_PREFIX),
            other => Self::ALL.iter().find(|(s, _)| s == other).map_or("account", |(_, n)| n).to_owned(),
        }
    }
}

/// Whether `name` can be a disclosed field's name (the protocol's rule, spec §5.3: a lower-case
/// letter, then lower-case letters, digits and underscores, at most 64 bytes): only such names
/// are put in a query's JSON path, and they are bound, never spliced.
pub fn is_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
    /// Only overlaps whose partner shared these fields with values containing these texts (any
    /// ASCII case), one (field, text) each; fields not named as [`is_field_name`] says match nothing.
    pub partner_fields: Vec<(String, String)>,
    /// Only overlaps with this partnership (a report across partners).
    pub partnership: Option<PartnershipId>,
    /// The earlier run to compare with: each row says whether its account is new since. A
    /// report across partners compares each row with its own partnership's previous run.
    pub previous: Option<RunId>,
    /// Only accounts new since `previous`.
    pub new_only: bool,
    /// Only accounts that overlap nowhere in this later run of the same partnership: listing the
    /// previous run's report with the current run here lists the accounts lost since.
    pub gone_from: Option<RunId>,
    /// Only matches of this tier.
    pub tier: Option<Tier>,
    /// Only these accounts. A search is narrowed to the accounts it finds in the datasets
    /// read, when they are at most [`NARROWED`]: the lists then look those accounts' overlaps
    /// up instead of reading every overlap for the search.
    pub accounts: Option<Vec<String>>,
    /// The order.
    pub sort: ReportSort,
    /// Descending instead of ascending.
    pub descending: bool,
}

/// Which runs a report reads: one, or the latest complete run with each partner.
#[derive(Debug, Clone, Copy)]
pub enum ReportScope<'a> {
    /// One run.
    Run(&'a Run),
    /// The latest complete run of every partnership of the organisation.
    Latest,
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

/// A row of a list, as the list's order keys it: where a page that follows it, or one that
/// comes before it, starts. Pages that follow one another this way read an index from that row
/// on, however deep in the list, in every order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCursor {
    /// The account's name as the list sorts it.
    pub name: String,
    /// The account.
    pub account_id: String,
    /// Your segment.
    pub own_segment: String,
    /// The partner's segment.
    pub partner_segment: String,
    /// The partner's record (-1 for none).
    pub partner_record: i64,
    /// The partnership.
    pub partnership: String,
    /// The order's first key where that is not one of the above (the owner, a shared field).
    pub key: String,
}

/// Where a page of a list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportStart {
    /// After this many rows.
    Offset(u64),
    /// Just after this row.
    After(ReportCursor),
    /// Just before this row, the page ending there (as `After`).
    Before(ReportCursor),
}

/// One listed overlap: this side's account and what the partner shared of its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The partnership of the run the overlap is from.
    pub partnership: PartnershipId,
    /// The partner's name.
    pub partner_name: String,
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
    /// The account's name as the list sorts it.
    pub sort_name: Option<String>,
    /// The value of the list's first order key for this row, as the list sorts it.
    pub sort_key: Option<String>,
}

impl ReportRow {
    /// Where a list continues after (or before) this row.
    pub fn cursor(&self) -> ReportCursor {
        ReportCursor {
            name: self.sort_name.clone().unwrap_or_default(),
            account_id: self.account_id.clone(),
            own_segment: self.own_segment.clone(),
            partner_segment: self.partner_segment.clone(),
            partner_record: self.partner_record.map_or(-1, i64::from),
            partnership: self.partnership.as_str().to_owned(),
            key: self.sort_key.clone().unwrap_or_default(),
        }
    }
}

/// A query's parameters, numbered (`$1`, `$2`, …) in the order they are taken: every one is
/// used by the text that took it (a prepared statement is cached by its text, with its
/// parameters' count, and PostgreSQL must infer each one's type).
#[derive(Default)]
struct Binds(Vec<Bind>);

enum Bind {
    Text(String),
    Int(i64),
}

impl Binds {
    fn text(&mut self, value: impl Into<String>) -> String {
        self.0.push(Bind::Text(value.into()));
        format!("${}", self.0.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.0.push(Bind::Int(value));
        format!("${}", self.0.len())
    }

    fn apply<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for b in &self.0 {
            query = match b {
                Bind::Text(t) => query.bind(t.as_str()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query
    }

    fn apply_scalar<'q>(
        &'q self,
        mut query: sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments> {
        for b in &self.0 {
            query = match b {
                Bind::Text(t) => query.bind(t.as_str()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// One key of a list's order (see `Store::order_terms`).
#[derive(Clone)]
struct Term {
    /// Its SQL over `o`.
    sql: String,
    /// The column a report's SELECT names it (see `Store::report_select`).
    column: &'static str,
    /// A cursor's value of it.
    value: CursorKey,
    /// Its value in every row, where the filter (or the cell read) fixes it.
    constant: Option<String>,
}

/// How a cursor gives a key's value.
type CursorKey = fn(&ReportCursor) -> CursorValue;

/// A key's value in a cursor.
enum CursorValue {
    Text(String),
    Int(i64),
}

fn term(sql: &str, column: &'static str, value: CursorKey, constant: Option<&String>) -> Term {
    Term { sql: sql.to_owned(), column, value, constant: constant.cloned() }
}

/// Where a page starts: after `cursor` in the order read (the order reversed for the page
/// before a row). The keys a filter or cell fixes are compared with the cursor's here, as the
/// database orders their values (`ranks`), so that what is left is one comparison of a row of
/// keys that an index's range can take.
struct Seek {
    cursor: ReportCursor,
    ranks: BTreeMap<String, usize>,
}

impl Seek {
    /// The condition (` AND …`) on `run`'s rows under `terms` read in `descending` order.
    fn sql(&self, terms: &[Term], run: &Run, descending: bool, binds: &mut Binds) -> String {
        let rank = |v: &str| self.ranks.get(v).copied();
        let mut open: Vec<&Term> = Vec::new();
        let mut decided = None;
        for t in terms {
            let Some(constant) = &t.constant else {
                open.push(t);
                continue;
            };
            let value = match (t.value)(&self.cursor) {
                CursorValue::Text(text) => text,
                CursorValue::Int(n) => n.to_string(),
            };
            let order = match (rank(constant), rank(&value)) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => constant.cmp(&value),
            };
            let order = if descending { order.reverse() } else { order };
            if order != std::cmp::Ordering::Equal {
                decided = Some(order == std::cmp::Ordering::Greater);
                break;
            }
        }
        // Rows keyed as the cursor is come after it where their partnership does (the last
        // key of the list across partners).
        let here = run.partnership.as_str();
        let after = decided.unwrap_or(if descending {
            here < self.cursor.partnership.as_str()
        } else {
            here > self.cursor.partnership.as_str()
        });
        if open.is_empty() {
            return if after { String::new() } else { " AND 1 = 0".to_owned() };
        }
        let op = match (descending, after) {
            (false, false) => ">",
            (false, true) => ">=",
            (true, false) => "<",
            (true, true) => "<=",
        };
        let columns: Vec<&str> = open.iter().map(|t| t.sql.as_str()).collect();
        let values: Vec<String> = open
            .iter()
            .map(|t| match (t.value)(&self.cursor) {
                CursorValue::Text(text) => binds.text(text),
                CursorValue::Int(n) => binds.int(n),
            })
            .collect();
        format!(" AND ({}) {op} ({})", columns.join(", "), values.join(", "))
    }
}

/// The run a report's rows are compared with: one, bound where it is used, or each row's own
/// partnership's previous run (SQL over `r`).
enum Previous {
    Run(RunId),
    Sql(String),
}

impl Previous {
    fn sql(&self, binds: &mut Binds) -> String {
        match self {
            Self::Run(id) => binds.text(id.as_str()),
            Self::Sql(sql) => sql.clone(),
        }
    }
}

/// How a piece of a list (one run, or a part of one) reads the partner's fields that its order
/// or a filter is by. By default from each row's fields as stored (JSON): lists with no such
/// order or filter, and runs whose fields are not indexed.
#[derive(Debug, Clone, Default)]
struct Via {
    /// The index of one field of the run (`run_overlap_fields f`, see migration 0023) walked
    /// instead of the overlaps, and the values of it read where a filter selected them (none:
    /// every value; a page reads one value a piece, a count all at once).
    index: Option<(String, Vec<String>)>,
    /// The run's overlaps disclose no value of the field sorted by: its key is '' in each row.
    unsorted: bool,
    /// The accounts a search was narrowed to are in the connection's temporary table
    /// `found_accounts` (see `Store::found_table`): each row's account is looked up there.
    found: bool,
    /// … and, the list being by name, the found accounts' names (`found_names`) are walked in
    /// order, each looked up in the run: a page reads about as many accounts as it shows, where
    /// walking the run's names could pass thousands before the found ones.
    named: bool,
    /// The field's index alone is read (`f`, its entries carrying own segment, owner and tier:
    /// migration 0025), without the overlaps: a piece of a merged page, whose keys are all it
    /// selects, with no filter the index cannot answer (see `Via::coverable`).
    covered: bool,
}

impl Via {
    /// The table alias of the row's own columns (account, segments, owner, tier): the field's
    /// index where it alone is read, else the overlaps'.
    fn row(&self) -> &'static str {
        if self.covered { "f" } else { "o" }
    }

    /// Whether a piece read this way can be read from the field's index alone under `filter`:
    /// a field filtered by other than the index's values, or sorted by other than the index,
    /// needs each row's JSON.
    fn coverable(&self, filter: &ReportFilter) -> bool {
        let Some((indexed, _)) = &self.index else { return false };
        let sorted_elsewhere = matches!(&filter.sort, ReportSort::PartnerField(field) if field != indexed);
        !sorted_elsewhere
            && filter
                .partner_fields
                .iter()
                .all(|(field, text)| text.trim().is_empty() || self.values_of(field).is_some())
    }

    /// The table alias of the columns the order by name walks: the field's index where read.
    fn walked(&self) -> &'static str {
        match (&self.index, self.named) {
            (Some(_), _) => "f",
            (None, true) => "fs",
            (None, false) => "o",
        }
    }

    /// The values of `field` this piece reads, where a filter selected them.
    fn values_of(&self, field: &str) -> Option<&[String]> {
        self.index.as_ref().filter(|(f, v)| f == field && !v.is_empty()).map(|(_, v)| v.as_slice())
    }

    /// The one value of `field` this piece reads, where a filter selected it.
    fn value_of(&self, field: &str) -> Option<&String> {
        match self.values_of(field) {
            Some([one]) => Some(one),
            _ => None,
        }
    }
}

/// What a report's SELECT gives of each row (see `Store::report_select`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The whole row, as [`report_row`] reads it.
    Rows,
    /// One run's piece of a merged page: the row's keys only (the order's, and what finds the
    /// row and its run's context again: see `Store::rows_of_keys`), so that a row the page does
    /// not show costs an index entry rather than a whole row.
    Keys,
}

/// At most this many values of a field are read from its index for a filter on it, per run;
/// a run with more has the filter applied to each of its rows instead.
const FIELD_VALUES: usize = 1_000;

/// A filter on a field that matches at most this many of a run's values reads each value's
/// rows apart (merged like the runs); more, and the run is read in one piece.
const VALUE_PIECES: usize = 4;

/// A report's FROM and WHERE, with what the SELECT needs of its scope.
struct Selection {
    from: String,
    clauses: String,
    /// The run a row's account is compared with (its partnership's previous one), if any.
    previous: Option<Previous>,
    /// The partnership and partner name of a row, where they vary (across partners).
    partner: Option<(String, String)>,
}

/// A search as a LIKE pattern matching its fold anywhere, `\` escaping the wildcards. Folded
/// first: compatibility decomposition can make a wildcard (full-width `％` is `%`).
fn contains_pattern(text: &str) -> String {
    let folded = crate::search::query(text);
    let escaped = folded.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// The SQL of the partner's shared field `name` of `o`'s record, the name bound (see
    /// [`is_field_name`]: only such names reach here).
    fn partner_field_sql(&self, name: &str, binds: &mut Binds) -> String {
        match self.backend {
            Backend::Sqlite => format!("json_extract(o.fields, {})", binds.text(format!("$.{name}"))),
            Backend::Postgres => format!("(o.fields::json ->> {})", binds.text(name)),
        }
    }

    /// The FROM and WHERE of `filter` over `o` (run_overlaps), `a` (dataset_accounts) and, across
    /// partners, `r` (match_runs) and `pp` (partnerships) in `scope`: overlaps hidden by the
    /// organisation's corrections are never listed or counted.
    fn report_where(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        via: &Via,
        binds: &mut Binds,
    ) -> Selection {
        let mut clauses = Vec::new();
        // The checks that cost more than a column's comparison come last: SQLite evaluates a
        // row's conditions in the order written (PostgreSQL by its estimate of their cost).
        let mut costly = Vec::new();
        let corrected;
        let r = via.row();
        let (from, previous, partner) = match scope {
            ReportScope::Run(run) => {
                let (id, dataset) = (binds.text(run.id.as_str()), binds.text(run.dataset.as_str()));
                let (org, partnership) = (binds.text(org.as_str()), binds.text(run.partnership.as_str()));
                clauses.push(format!("{r}.run_id = {id}"));
                corrected = format!(
                    "NOT {}",
                    match via.covered {
                        true => self.corrected_entry_sql(&org, &partnership),
                        false => self.corrected_sql(&org, &partnership),
                    }
                );
                let overlaps = match (&filter.accounts, self.backend, &via.index) {
                    // A field's index walked, each row's overlap looked up by its name index.
                    (_, _, Some((field, values))) => {
                        clauses.push(format!("f.run_id = {id}"));
                        clauses.push(format!("f.field = {}", binds.text(field.as_str())));
                        match values.as_slice() {
                            [] => {}
                            [value] => clauses.push(format!("f.value_key = {}", binds.text(value.as_str()))),
                            values => {
                                let list = binds.text(serde_json::json!(values).to_string());
                                let values = self.json_elements(&list, "j");
                                clauses.push(format!("f.value_key IN (SELECT j.value FROM {values})"));
                            }
                        }
                        match via.covered {
                            true => "run_overlap_fields f".to_owned(),
                            false => format!(
                                "run_overlap_fields f {} run_overlaps o ON {}",
                                self.ordered_join(),
                                same_overlap("o", "f")
                            ),
                        }
                    }
                    // The found accounts by name, each looked up in the run.
                    (_, _, None) if via.named => {
                        let join = self.ordered_join();
                        format!(
                            "found_names fs {join} run_overlaps o ON o.run_id = {id} AND o.sort_name = fs.sort_name \
                             AND o.account_id = fs.account_id"
                        )
                    }
                    // A few narrowed accounts first, each looked up (SQLite keeps a CROSS
                    // JOIN's order): left to itself it walks the run's name index for the order.
                    (Some(accounts), Backend::Sqlite, None) if accounts.len() <= LOOKED_UP => {
                        let list = binds.text(serde_json::json!(accounts).to_string());
                        format!("json_each({list}) n CROSS JOIN run_overlaps o ON o.account_id = n.value")
                    }
                    // One owner's rows: the owner index has them in each order's (by name, or
                    // a cell's by name) and the other filters' columns (migration 0024);
                    // SQLite would walk the cell's rows of every owner instead.
                    (_, Backend::Sqlite, None) if filter.owner.is_some() => {
                        "run_overlaps o INDEXED BY run_overlaps_by_owner".to_owned()
                    }
                    _ => "run_overlaps o".to_owned(),
                };
                let from = format!(
                    "{overlaps} LEFT JOIN dataset_accounts a ON a.dataset_id = {dataset} AND a.account_id = {r}.account_id"
                );
                (from, filter.previous.clone().map(Previous::Run), None)
            }
            ReportScope::Latest => {
                let org = binds.text(org.as_str());
                // The latest complete run of each partnership, as `latest_complete_run` orders them.
                clauses.push(format!(
                    "o.run_id IN (SELECT lr.id FROM match_runs lr WHERE lr.org_id = {org} AND lr.state = 'complete' \
                     AND NOT EXISTS (SELECT 1 FROM match_runs nr WHERE nr.org_id = lr.org_id \
                     AND nr.partnership_id = lr.partnership_id AND nr.state = 'complete' \
                     AND (nr.started_at > lr.started_at OR (nr.started_at = lr.started_at AND nr.id > lr.id))))"
                ));
                corrected = format!("NOT {}", self.corrected_sql(&org, "r.partnership_id"));
                let from = "run_overlaps o JOIN match_runs r ON r.id = o.run_id \
                            JOIN partnerships pp ON pp.id = r.partnership_id \
                            LEFT JOIN dataset_accounts a ON a.dataset_id = r.dataset_id AND a.account_id = o.account_id"
                    .to_owned();
                // Each row's partnership's previous complete run, as `previous_complete_run` finds it.
                let previous = "(SELECT pr.id FROM match_runs pr WHERE pr.org_id = r.org_id \
                                AND pr.partnership_id = r.partnership_id AND pr.state = 'complete' AND pr.id <> r.id \
                                AND (pr.started_at < r.started_at OR (pr.started_at = r.started_at AND pr.id < r.id)) \
                                ORDER BY pr.started_at DESC, pr.id DESC LIMIT 1)"
                    .to_owned();
                (
                    from,
                    Some(Previous::Sql(previous)),
                    Some(("r.partnership_id".to_owned(), "pp.partner_name".to_owned())),
                )
            }
        };
        if let Some(p) = &filter.partnership {
            match scope {
                ReportScope::Run(run) if &run.partnership != p => clauses.push("1 = 0".to_owned()),
                ReportScope::Run(_) => {}
                ReportScope::Latest => clauses.push(format!("r.partnership_id = {}", binds.text(p.as_str()))),
            }
        }
        if let Some(a) = &filter.account {
            clauses.push(format!("{r}.account_id = {}", binds.text(a.clone())));
        }
        if let Some(s) = &filter.own_segment {
            clauses.push(format!("{r}.own_segment = {}", binds.text(s.clone())));
        }
        if let Some(s) = &filter.partner_segment {
            clauses.push(format!("{r}.partner_segment = {}", binds.text(s.clone())));
        }
        if let Some(owner) = &filter.owner {
            clauses.push(format!("{r}.owner = {}", binds.text(owner.clone())));
        }
        if let Some(q) = filter.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let p = binds.text(contains_pattern(q));
            // Rows an older version wrote (until the store is next opened) fall back to ASCII folding.
            costly.push(format!(
                "COALESCE(a.search_text, LOWER(COALESCE(a.display_name, '') || ' ' || {r}.account_id)) LIKE {p} ESCAPE '\\'"
            ));
        }
        for (field, text) in &filter.partner_fields {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            if !is_field_name(field) {
                clauses.push("1 = 0".to_owned());
                continue;
            }
            if via.values_of(field).is_some() {
                // The values read were chosen by this filter.
                continue;
            }
            let value = self.partner_field_sql(field, binds);
            let pattern = binds.text(like_pattern(&text.to_lowercase()));
            costly.push(format!("LOWER(COALESCE({value}, '')) LIKE {pattern} ESCAPE '\\'"));
        }
        if let Some(tier) = filter.tier {
            clauses.push(format!("{r}.tier = {}", binds.text(tier.as_str())));
        }
        if via.named {
            // Every row joined is of a found account.
        } else if via.found {
            clauses.push(match self.backend {
                Backend::Sqlite => format!("+{r}.account_id IN (SELECT id FROM temp.found_accounts)"),
                Backend::Postgres => format!("{r}.account_id IN (SELECT id FROM found_accounts)"),
            });
        } else if let Some(accounts) = &filter.accounts {
            let list = binds.text(serde_json::json!(accounts).to_string());
            let accounts_listed = self.json_elements(&list, "j");
            // Many: the order's index is walked and each row's account checked (`+` keeps
            // SQLite from looking every account up instead).
            let walked = self.backend == Backend::Sqlite && accounts.len() > LOOKED_UP;
            let plus = if walked { "+" } else { "" };
            clauses.push(format!("{plus}{r}.account_id IN (SELECT j.value FROM {accounts_listed})"));
        }
        if let Some(before) = previous.as_ref().filter(|_| filter.new_only) {
            costly.push(format!("NOT {}", earlier_overlap(&before.sql(binds), r)));
        }
        if let Some(later) = &filter.gone_from {
            let later = binds.text(later.as_str());
            costly.push(format!(
                "NOT EXISTS (SELECT 1 FROM run_overlaps g WHERE g.run_id = {later} AND g.account_id = {r}.account_id)"
            ));
        }
        clauses.append(&mut costly);
        clauses.push(corrected);
        Selection { from, clauses: clauses.join(" AND "), previous, partner }
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
        self.report_page_in(org, ReportScope::Run(run), filter, offset, limit).await
    }

    /// A page of the overlaps in `scope` as a report lists them, and how many there are in all.
    pub async fn report_page_in(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ReportRow>, u64), StoreError> {
        let total = self.report_pairs_in(org, scope, filter).await?;
        Ok((self.report_rows_in(org, scope, filter, offset, limit, Some(total)).await?, total))
    }

    /// A page of the overlaps in `scope` as a report lists them, without counting them (see
    /// [`Store::report_counts_in`]). `total`, the rows' count under `filter` where the caller
    /// has it, lets a page past the middle of a list by name be read from its end.
    pub async fn report_rows_in(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        offset: u64,
        limit: u32,
        total: Option<u64>,
    ) -> Result<Vec<ReportRow>, StoreError> {
        self.report_rows_at(org, scope, filter, &ReportStart::Offset(offset), limit, total).await
    }

    /// `filter` with its search narrowed to the accounts it finds in the datasets `scope`
    /// reads, where they are at most [`NARROWED`] (and no narrowing is there already): a run's
    /// overlaps are accounts of its dataset, so none is left out.
    async fn narrowed(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<ReportFilter, StoreError> {
        let Some(q) = filter.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
            return Ok(filter.clone());
        };
        if filter.accounts.is_some() {
            return Ok(filter.clone());
        }
        let datasets: std::collections::BTreeSet<String> = match scope {
            ReportScope::Run(run) => [run.dataset.as_str().to_owned()].into(),
            ReportScope::Latest => {
                self.latest_in(org, filter).await?.into_iter().map(|(r, _)| r.dataset.as_str().to_owned()).collect()
            }
        };
        // A dataset's accounts do not change: what a search found in them is kept.
        let key = format!("{datasets:?}|{q}");
        if let Some(found) = self.found.get(&key) {
            return Ok(ReportFilter { accounts: found, ..filter.clone() });
        }
        let accounts = self.search_datasets(&datasets, q).await?;
        self.found.put(key, accounts.clone());
        Ok(ReportFilter { accounts, ..filter.clone() })
    }

    /// The accounts of `datasets` whose name or id contains `q` (folded), if they are at most
    /// [`NARROWED`].
    async fn search_datasets(
        &self,
        datasets: &std::collections::BTreeSet<String>,
        q: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut found = std::collections::BTreeSet::new();
        for dataset in datasets {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT account_id FROM dataset_accounts WHERE dataset_id = $1 AND COALESCE(search_text, \
                 LOWER(COALESCE(display_name, '') || ' ' || account_id)) LIKE $2 ESCAPE '\\' LIMIT $3",
            )
            .bind(dataset.as_str())
            .bind(contains_pattern(q))
            .bind(i64::try_from(NARROWED + 1).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
            found.extend(ids);
            if found.len() > NARROWED {
                return Ok(None);
            }
        }
        Ok(Some(found.into_iter().collect()))
    }

    /// A page of the overlaps in `scope` from `start`: see [`Store::report_rows_in`].
    ///
    /// What a page costs. Every order reads indexes from the page's start: a cursor, or an
    /// offset from whichever end is nearer (with `total`). A list is read in pieces that an
    /// index walks in the list's order — one per run, or one per cell (own segment, partner
    /// segment) of each run for the orders and filters by segment, or one per value of a
    /// partner's field a filter matches (up to `VALUE_PIECES` a run; see `field_vias`) —
    /// each up to the page's end (`offset + limit` rows for an offset), merged in one statement
    /// so that the database's own ordering of text decides throughout. By partner, across
    /// partners, the partners are walked in their names' order, whole lists skipped by their
    /// counts. The order by a partner's field walks its index (`run_overlap_fields`).
    ///
    /// A page by number of one run's list that would read past more than 20,000 rows
    /// (`MERGED_ROWS`) reads the run as one piece, which the database sorts. Across partners
    /// such a page is refused ([`StoreError::TooDeep`]): it is reached from a row (next and
    /// previous pages), or from the list's other end.
    pub async fn report_rows_at(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        start: &ReportStart,
        limit: u32,
        total: Option<u64>,
    ) -> Result<Vec<ReportRow>, StoreError> {
        check_scope(org, scope)?;
        let filter = &self.narrowed(org, scope, filter).await?;
        // Read backwards: the page before a row, or a page past the middle (every tie of every
        // order is broken in the same direction, so the order read backwards is the reverse
        // order).
        let backwards = |filter: &ReportFilter| ReportFilter { descending: !filter.descending, ..filter.clone() };
        let (filter, offset, seek, reversed) = match start {
            ReportStart::After(cursor) => (filter.clone(), 0, Some(cursor), false),
            ReportStart::Before(cursor) => (backwards(filter), 0, Some(cursor), true),
            // Past the end: nothing to read.
            ReportStart::Offset(offset) if total.is_some_and(|t| *offset >= t) => return Ok(Vec::new()),
            ReportStart::Offset(offset) => match total.and_then(|t| from_the_end(*offset, limit, t)) {
                Some((from_end, take)) => {
                    let mut rows = self.rows(org, scope, &backwards(filter), from_end, take, None).await?;
                    rows.reverse();
                    return Ok(rows);
                }
                None => (filter.clone(), *offset, None, false),
            },
        };
        let mut rows = self.rows(org, scope, &filter, offset, limit, seek).await?;
        if reversed {
            rows.reverse();
        }
        Ok(rows)
    }

    /// A page of `scope` in `filter`'s order, from `offset` past `seek`.
    async fn rows(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        offset: u64,
        limit: u32,
        seek: Option<&ReportCursor>,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let runs = match scope {
            ReportScope::Run(run) => vec![(run.clone(), filter.previous.clone())],
            ReportScope::Latest if filter.sort == ReportSort::Partner => {
                return self.rows_by_partner(org, filter, offset, limit, seek).await;
            }
            ReportScope::Latest => self.latest_in(org, filter).await?,
        };
        // The pieces read: per run, its cells where the order or a filter is by segment (and
        // the run has its cells stored), else the whole run.
        let by_cells = matches!(filter.sort, ReportSort::OwnSegment | ReportSort::PartnerSegment)
            || (filter.sort == ReportSort::Account
                && (filter.own_segment.is_some() || filter.partner_segment.is_some())
                && filter.owner.is_none()
                && filter.account.is_none()
                && filter.accounts.is_none());
        self.read_fields_of(&runs.iter().map(|(run, _)| run).collect::<Vec<_>>(), filter).await?;
        let mut pieces = Vec::new();
        // Many accounts a search found go in a table of the connection (below): the pieces'
        // filters leave the list out (cloning it for each piece costs more than reading).
        let found = filter.accounts.as_ref().filter(|a| a.len() > LOOKED_UP);
        let named = found.is_some() && filter.sort == ReportSort::Account && filter.account.is_none();
        let lean;
        let each = match found {
            Some(_) => {
                lean = ReportFilter { accounts: None, ..filter.clone() };
                &lean
            }
            None => filter,
        };
        for (run, previous) in runs {
            // A run without a row of the tier filtered to is not read.
            if none_of(&run, filter.tier) {
                continue;
            }
            let Some(vias) = self.field_vias(&run, filter).await? else { continue };
            let one = match scope {
                ReportScope::Run(_) => each.clone(),
                ReportScope::Latest => ReportFilter { previous, partnership: None, ..each.clone() },
            };
            let cells = match by_cells {
                true => self.listed_cells(&run).await?,
                false => None,
            };
            let mut filters = Vec::new();
            match cells {
                Some(cells) => {
                    for (own, partner, confirmed, possible) in cells {
                        let wanted = filter.own_segment.as_ref().is_none_or(|s| *s == own)
                            && filter.partner_segment.as_ref().is_none_or(|s| *s == partner)
                            && match filter.tier {
                                Some(Tier::Confirmed) => confirmed > 0,
                                Some(Tier::Possible) => possible > 0,
                                None => true,
                            };
                        if wanted {
                            filters.push(ReportFilter {
                                own_segment: Some(own),
                                partner_segment: Some(partner),
                                ..one.clone()
                            });
                        }
                    }
                }
                None => filters.push(one),
            }
            for one in filters {
                for via in &vias {
                    let named = named && via.index.is_none();
                    pieces.push((run.clone(), one.clone(), Via { found: found.is_some(), named, ..via.clone() }));
                }
            }
        }
        // A page by number deep in one run's list of many pieces: the run is read as one piece
        // that the database sorts — slower than walking, but a match's list opens at any depth
        // (across partners such pages are refused below, `StoreError::TooDeep`).
        if let (ReportScope::Run(run), None) = (scope, seek)
            && pieces.len() > 1
            && (pieces.len() as u64).saturating_mul(offset) > MERGED_ROWS
        {
            let unsorted = pieces[0].2.unsorted;
            let via = Via { unsorted, found: found.is_some(), ..Via::default() };
            pieces = vec![(run.clone(), each.clone(), via)];
        }
        let seek = match seek {
            Some(cursor) => Some(self.seek(cursor, pieces.iter().map(|(_, f, v)| (f, v))).await?),
            None => None,
        };
        // Many accounts a search found: put in a table of the connection once, for every
        // piece to look each row's account up in (each piece would otherwise build its own
        // set from the list: most of the page's time across partners).
        let mut conn = self.pool.acquire().await?;
        if let Some(accounts) = found {
            let datasets: std::collections::BTreeSet<&str> =
                pieces.iter().filter(|(_, _, via)| via.named).map(|(run, _, _)| run.dataset.as_str()).collect();
            self.found_table(&mut conn, accounts, &datasets).await?;
        }
        let across = matches!(scope, ReportScope::Latest);
        if let ([(run, one, via)], false) = (pieces.as_slice(), across) {
            // One piece: the page straight from it.
            let mut binds = Binds::default();
            let page = Some((offset, u64::from(limit)));
            let sql = self.report_select(
                org,
                ReportScope::Run(run),
                one,
                &mut binds,
                via,
                None,
                page,
                seek.as_ref(),
                Shape::Rows,
            );
            let rows = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *conn).await?;
            return rows.iter().map(|r| report_row(r, scope)).collect();
        }
        if pieces.is_empty() {
            return Ok(Vec::new());
        }
        let reach = offset.saturating_add(u64::from(limit));
        if (pieces.len() as u64).saturating_mul(offset) > MERGED_ROWS {
            let deepest = MERGED_ROWS / pieces.len() as u64;
            return Err(StoreError::TooDeep(deepest / u64::from(limit.max(1)) + 1));
        }
        let mut binds = Binds::default();
        let mut parts = Vec::new();
        for (run, one, via) in &pieces {
            let label = across.then(|| {
                (
                    format!("CAST({} AS TEXT)", binds.text(run.partnership.as_str())),
                    format!("CAST({} AS TEXT)", binds.text(run.partner_name.as_str())),
                )
            });
            let page = Some((0, reach));
            let scope = ReportScope::Run(run);
            // Keys only: from a field's index alone where it answers the filter.
            let via = &Via { covered: via.coverable(one), ..via.clone() };
            parts.push(self.report_select(org, scope, one, &mut binds, via, label, page, seek.as_ref(), Shape::Keys));
        }
        let direction = if filter.descending { "DESC" } else { "ASC" };
        // The merged rows in the whole order, by the names the SELECT gives its keys.
        let terms = self.order_terms(filter, &Via::default(), &mut Binds::default());
        let order = |table: &str| {
            let mut order: Vec<String> = terms.iter().map(|t| format!("{table}.{} {direction}", t.column)).collect();
            order.push(format!("{table}.pship {direction}"));
            order.join(", ")
        };
        let keys = merged(parts, &order("u"), reach, Some((offset, limit)), &mut binds);
        let sql = self.rows_of_keys(org, &keys, &order("k"), &mut binds);
        let rows = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&mut *conn).await?;
        rows.iter().map(|r| report_row(r, scope)).collect()
    }

    /// The report's rows of the keys `keys` selects (see [`Shape::Keys`]), in `order`
    /// (over `k`, the keys' names): each row found again by its run's name index.
    fn rows_of_keys(&self, org: &OrgId, keys: &str, order: &str, binds: &mut Binds) -> String {
        let org = binds.text(org.as_str());
        let join = self.ordered_join();
        let earlier = earlier_overlap("k.previous_run", "o");
        let same = same_overlap("o", "k");
        format!(
            "SELECT o.account_id, a.display_name, o.own_segment, NULLIF(o.owner, ''), o.partner_segment, \
             o.partner_record, o.key_types, o.fields, a.domains, a.duns, a.name, a.country, \
             (SELECT c.id || ' ' || c.status FROM cosell_records c WHERE c.org_id = {org} \
             AND c.partnership_id = k.cosell_partnership AND c.own_account = o.account_id \
             ORDER BY c.updated_at DESC LIMIT 1), \
             CAST(CASE WHEN k.previous_run IS NULL THEN NULL WHEN {earlier} THEN 0 ELSE 1 END AS BIGINT), \
             o.tier, o.reason, k.pship, k.pname, k.sort_key, o.sort_name \
             FROM ({keys}) k {join} run_overlaps o ON {same} \
             LEFT JOIN dataset_accounts a ON a.dataset_id = k.dataset_id AND a.account_id = o.account_id \
             ORDER BY {order}"
        )
    }

    /// Fills `conn`'s temporary tables of found accounts with `accounts` (created the first
    /// time a connection needs them; emptied first: a connection is used by one reader at a
    /// time): `found_accounts`, and, for the pieces that walk them by name, `found_names` with
    /// each account's name in `datasets` as its runs sort it (see `overlap_names_and_owners`).
    async fn found_table(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        accounts: &[String],
        datasets: &std::collections::BTreeSet<&str>,
    ) -> Result<(), StoreError> {
        let tables = [
            ("found_accounts", "id TEXT PRIMARY KEY"),
            ("found_names", "sort_name TEXT NOT NULL, account_id TEXT NOT NULL, PRIMARY KEY (sort_name, account_id)"),
        ];
        for (table, columns) in tables {
            match self.backend {
                Backend::Sqlite => {
                    let create = format!("CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) WITHOUT ROWID");
                    sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut **conn).await?;
                }
                Backend::Postgres => {
                    // Asked first: PostgreSQL's IF NOT EXISTS answers a notice, which would be
                    // logged on every such page.
                    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                        .bind(format!("pg_temp.{table}"))
                        .fetch_one(&mut **conn)
                        .await?;
                    if !exists {
                        let create = format!("CREATE TEMP TABLE {table} ({columns})");
                        sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut **conn).await?;
                    }
                }
            }
            // The same names on both backends: SQLite looks temporary tables up first.
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut **conn).await?;
        }
        let fill =
            format!("INSERT INTO found_accounts (id) SELECT DISTINCT j.value FROM {}", self.json_elements("$1", "j"));
        sqlx::query(sqlx::AssertSqlSafe(fill))
            .bind(serde_json::json!(accounts).to_string())
            .execute(&mut **conn)
            .await?;
        if !datasets.is_empty() {
            // The name as a run's overlaps keep it (`sort_name`), from the same expression.
            let named = format!(
                "INSERT INTO found_names (sort_name, account_id) SELECT DISTINCT \
                 LOWER(COALESCE(a.display_name, a.account_id)), a.account_id FROM dataset_accounts a \
                 WHERE a.dataset_id IN (SELECT d.value FROM {}) AND a.account_id IN (SELECT id FROM found_accounts)",
                self.json_elements("$1", "d")
            );
            sqlx::query(sqlx::AssertSqlSafe(named))
                .bind(serde_json::json!(datasets).to_string())
                .execute(&mut **conn)
                .await?;
        }
        Ok(())
    }

    /// `cursor` as the pieces `filters` read start from it: the values the filters fix and
    /// the cursor's values of those keys ranked as the database orders text.
    async fn seek(
        &self,
        cursor: &ReportCursor,
        pieces: impl Iterator<Item = (&ReportFilter, &Via)>,
    ) -> Result<Seek, StoreError> {
        let mut values = std::collections::BTreeSet::new();
        for (one, via) in pieces {
            for t in self.order_terms(one, via, &mut Binds::default()) {
                if let Some(constant) = t.constant {
                    values.insert(constant);
                    if let CursorValue::Text(text) = (t.value)(cursor) {
                        values.insert(text);
                    }
                }
            }
        }
        let ranks = if values.is_empty() {
            BTreeMap::new()
        } else {
            let sql = format!("SELECT t.value FROM {} ORDER BY t.value", self.json_elements("$1", "t"));
            let sorted: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(serde_json::json!(values).to_string())
                .fetch_all(&self.pool)
                .await?;
            sorted.into_iter().enumerate().map(|(i, v)| (v, i)).collect()
        };
        Ok(Seek { cursor: cursor.clone(), ranks })
    }

    /// The cells `run` listed, as stored with it: (own segment, partner segment, accounts
    /// confirmed there, accounts with possible matches only). `None` for a run stored before.
    async fn listed_cells(&self, run: &Run) -> Result<Option<Vec<(String, String, u64, u64)>>, StoreError> {
        let stored: Option<String> = sqlx::query_scalar("SELECT listed_cells FROM match_runs WHERE id = $1")
            .bind(run.id.as_str())
            .fetch_one(&self.pool)
            .await?;
        stored.map(|s| serde_json::from_str(&s).map_err(|_| StoreError::Corrupt("match_runs.listed_cells"))).transpose()
    }

    /// How the pieces of `run` read the partner's field `filter` sorts or filters by, one piece
    /// each (a filter on an indexed field reads each of the run's values it matches apart);
    /// `None` where the filter leaves none of the run's rows (a field none of them discloses,
    /// or no value that matches).
    async fn field_vias(&self, run: &Run, filter: &ReportFilter) -> Result<Option<Vec<Via>>, StoreError> {
        let sorted = match &filter.sort {
            ReportSort::PartnerField(field) if is_field_name(field) => Some(field.as_str()),
            _ => None,
        };
        let filtered: Vec<(&str, &str)> = filter
            .partner_fields
            .iter()
            .map(|(field, text)| (field.as_str(), text.trim()))
            .filter(|(_, text)| !text.is_empty())
            .collect();
        if sorted.is_none() && filtered.is_empty() {
            return Ok(Some(vec![Via::default()]));
        }
        let Some(listed) = self.listed_fields(run).await? else { return Ok(Some(vec![Via::default()])) };
        if filtered.iter().any(|(field, _)| !listed.iter().any(|l| l == field)) {
            return Ok(None);
        }
        let unsorted = sorted.is_some_and(|field| !listed.iter().any(|l| l == field));
        // Each row's fields read (no index walked), and a field's index walked at `values`.
        let rows = Via { unsorted, ..Via::default() };
        let index = |field: &str, values| Via { index: Some((field.to_owned(), values)), ..rows.clone() };
        // A few narrowed accounts are looked up one by one instead.
        if filter.accounts.as_ref().is_some_and(|a| a.len() <= LOOKED_UP) {
            return Ok(Some(vec![rows]));
        }
        let walked = sorted.filter(|_| !unsorted).or(filtered.first().map(|(field, _)| *field));
        let Some(field) = walked else { return Ok(Some(vec![rows])) };
        let Some((_, text)) = filtered.iter().find(|(f, _)| *f == field) else {
            return Ok(Some(vec![index(field, Vec::new())]));
        };
        Ok(match self.field_values(run, field, text).await? {
            None => Some(vec![rows]),
            Some(values) if values.is_empty() => None,
            Some(values) if values.len() <= VALUE_PIECES => {
                Some(values.into_iter().map(|v| index(field, vec![v])).collect())
            }
            // Few values: their rows are read from the field's index (and sorted, in an order
            // other than the field's and the name's: bounded by what the filter matches, where
            // walking the order could pass most of the run before finding a page of them).
            // Many values, so likely many rows: sorted by the field, its index is walked value
            // after value; in another order, each row's value is checked as the order is walked.
            Some(values) if sorted == Some(field) => Some(vec![index(field, values)]),
            Some(_) => Some(vec![rows]),
        })
    }

    /// Reads, in two statements, what [`Store::field_vias`] needs of each of `runs` for
    /// `filter` that is not kept yet: the fields each run lists, and the values of the field
    /// filtered by (the first of them) — a list across partners would otherwise ask once per
    /// partner for each.
    async fn read_fields_of(&self, runs: &[&Run], filter: &ReportFilter) -> Result<(), StoreError> {
        let sorted = matches!(&filter.sort, ReportSort::PartnerField(field) if is_field_name(field));
        let filtered =
            filter.partner_fields.iter().find(|(f, text)| is_field_name(f) && !text.trim().is_empty()).map(|(f, _)| f);
        if !sorted && filtered.is_none() {
            return Ok(());
        }
        let unlisted: Vec<&Run> =
            runs.iter().copied().filter(|r| self.listed_fields.get(&r.id.as_str().to_owned()).is_none()).collect();
        self.read_listed_fields(&unlisted).await?;
        let Some(field) = filtered else { return Ok(()) };
        let unread: Vec<&Run> = runs
            .iter()
            .copied()
            .filter(|r| {
                self.listed_fields.get(&r.id.as_str().to_owned()).is_some_and(|l| l.contains(field))
                    && self.field_values.get(&(r.id.as_str().to_owned(), field.clone())).is_none()
            })
            .collect();
        self.read_field_values(&unread, field).await?;
        Ok(())
    }

    /// Reads and keeps the fields each of `runs` lists (none for a run not yet listed); the
    /// lists read, by run.
    async fn read_listed_fields(&self, runs: &[&Run]) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let mut read = BTreeMap::new();
        if runs.is_empty() {
            return Ok(read);
        }
        let sql = format!(
            "SELECT id, listed_fields FROM match_runs WHERE id IN (SELECT j.value FROM {})",
            self.json_elements("$1", "j")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run_ids(runs)).fetch_all(&self.pool).await?;
        for r in rows {
            let Some(stored) = r.get::<Option<String>, _>(1) else { continue };
            let listed: Vec<String> =
                serde_json::from_str(&stored).map_err(|_| StoreError::Corrupt("match_runs.listed_fields"))?;
            self.listed_fields.put(r.get(0), listed.clone());
            read.insert(r.get(0), listed);
        }
        Ok(read)
    }

    /// Reads and keeps every value of the field `field` of each of `runs`, walking its index
    /// from one value to the next (a complete run's do not change); `None` for a run with more
    /// than [`FIELD_VALUES`]. The values read, by run.
    async fn read_field_values(
        &self,
        runs: &[&Run],
        field: &str,
    ) -> Result<BTreeMap<String, Option<std::sync::Arc<Vec<String>>>>, StoreError> {
        let mut values: BTreeMap<String, Vec<String>> =
            runs.iter().map(|r| (r.id.as_str().to_owned(), Vec::new())).collect();
        if runs.is_empty() {
            return Ok(BTreeMap::new());
        }
        // At most one more value a run than kept.
        let next = "SELECT g.value_key FROM run_overlap_fields g WHERE g.field = $2";
        let sql = format!(
            "WITH RECURSIVE v(r, k, n) AS (SELECT ids.value, ({next} AND g.run_id = ids.value \
             ORDER BY g.value_key LIMIT 1), 1 FROM {} \
             UNION ALL SELECT v.r, ({next} AND g.run_id = v.r AND g.value_key > v.k ORDER BY g.value_key LIMIT 1), \
             v.n + 1 FROM v WHERE v.k IS NOT NULL AND v.n <= $3) SELECT r, k FROM v WHERE k IS NOT NULL",
            self.json_elements("$1", "ids")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_ids(runs))
            .bind(field)
            .bind(i64::try_from(FIELD_VALUES).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        for r in rows {
            if let Some(of_run) = values.get_mut(&r.get::<String, _>(0)) {
                of_run.push(r.get(1));
            }
        }
        let mut read = BTreeMap::new();
        for (run, of_run) in values {
            let kept = (of_run.len() <= FIELD_VALUES).then(|| std::sync::Arc::new(of_run));
            self.field_values.put((run.clone(), field.to_owned()), kept.clone());
            read.insert(run, kept);
        }
        Ok(read)
    }

    /// The values of `run`'s field `field` (as its index keys them) that a filter by `text`
    /// matches; `None` where the run has more than [`FIELD_VALUES`] values. A match is the
    /// filter's: the value contains the text in lower case (the values are lower-cased by the
    /// database, as the filter on each row does, and the LIKE it runs there is a containment
    /// of the same strings).
    async fn field_values(&self, run: &Run, field: &str, text: &str) -> Result<Option<Vec<String>>, StoreError> {
        let key = (run.id.as_str().to_owned(), field.to_owned());
        let values = match self.field_values.get(&key) {
            Some(values) => values,
            None => self.read_field_values(&[run], field).await?.remove(&key.0).flatten(),
        };
        let text = text.to_lowercase();
        Ok(values.map(|values| values.iter().filter(|v| v.contains(&text)).cloned().collect()))
    }

    /// The fields `run`'s overlaps disclose, indexed (see migration 0023; kept once listed);
    /// `None` for a run not yet listed.
    async fn listed_fields(&self, run: &Run) -> Result<Option<Vec<String>>, StoreError> {
        match self.listed_fields.get(&run.id.as_str().to_owned()) {
            Some(listed) => Ok(Some(listed)),
            None => Ok(self.read_listed_fields(&[run]).await?.remove(run.id.as_str())),
        }
    }

    /// A join that SQLite reads in the order written (it keeps a CROSS JOIN's order);
    /// PostgreSQL, which has no CROSS JOIN … ON, plans its own.
    fn ordered_join(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CROSS JOIN",
            Backend::Postgres => "JOIN",
        }
    }

    /// A FROM item of the elements of the JSON array of text bound as `bind`, as `alias.value`.
    fn json_elements(&self, bind: &str, alias: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("json_each({bind}) {alias}"),
            Backend::Postgres => format!("json_array_elements_text(CAST({bind} AS json)) AS {alias}(value)"),
        }
    }

    /// A page of the list across partners by partner: the partners in their names' order (or
    /// its reverse), each one's rows by account name, whole lists skipped by their counts, or
    /// the partners before `seek`'s skipped and its own list read from there.
    async fn rows_by_partner(
        &self,
        org: &OrgId,
        filter: &ReportFilter,
        offset: u64,
        limit: u32,
        seek: Option<&ReportCursor>,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let mut runs = self.latest_in(org, filter).await?;
        if filter.descending {
            runs.reverse();
        }
        // From a row: the partners before its own left out (its key is the partner's name).
        if let Some(cursor) = seek {
            let place = (cursor.key.as_str(), cursor.partnership.as_str());
            runs.retain(|(run, _)| {
                let here = (run.partner_name.as_str(), run.partnership.as_str());
                if filter.descending { here <= place } else { here >= place }
            });
        }
        let (mut skip, mut rows) = (offset, Vec::new());
        for (run, previous) in &runs {
            let one = ReportFilter {
                previous: previous.clone(),
                partnership: None,
                sort: ReportSort::Account,
                ..filter.clone()
            };
            let want = limit - u32::try_from(rows.len()).unwrap_or(limit);
            let (start, n) = match seek.filter(|c| c.partnership == run.partnership.as_str()) {
                Some(cursor) => (ReportStart::After(cursor.clone()), None),
                None => {
                    let n = self.report_pairs_in(org, ReportScope::Run(run), &one).await?;
                    if skip >= n {
                        skip -= n;
                        continue;
                    }
                    (ReportStart::Offset(skip), Some(n))
                }
            };
            // (Boxed: a run's page never walks partners, but the compiler cannot tell.)
            let page = Box::pin(self.report_rows_at(org, ReportScope::Run(run), &one, &start, want, n)).await?;
            rows.extend(page.into_iter().map(|mut row| {
                row.partner_name.clone_from(&run.partner_name);
                row.sort_key = Some(run.partner_name.clone());
                row
            }));
            skip = 0;
            if rows.len() >= limit as usize {
                break;
            }
        }
        Ok(rows)
    }

    /// The latest complete runs a list across partners reads under `filter` (one partner's
    /// only, when it names one), each with the run before it.
    async fn latest_in(&self, org: &OrgId, filter: &ReportFilter) -> Result<Vec<(Run, Option<RunId>)>, StoreError> {
        let mut runs = self.latest_complete_runs(org).await?;
        if let Some(p) = &filter.partnership {
            runs.retain(|(run, _)| &run.partnership == p);
        }
        Ok(runs)
    }

    /// How many rows (pairs) the report of `scope` under `filter` has, and how many distinct
    /// accounts of this side they are about: both in one pass over the rows.
    pub async fn report_counts_in(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<(u64, u64), StoreError> {
        let filter = &self.narrowed(org, scope, filter).await?;
        if let Some(counts) = self.stored_counts(org, scope, filter).await? {
            return Ok(counts);
        }
        self.count_rows(org, scope, filter).await
    }

    /// [`Store::report_counts_in`] where that costs about a page at most: always for one run;
    /// across partners under a filter only where the totals are kept (counted earlier for the
    /// same runs, corrections and filter), else `None` — counting every partner's rows under a
    /// filter takes seconds at millions of overlaps: count them apart (`report_counts_in`),
    /// and they are kept for the next reader.
    pub async fn report_counts_kept(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        match scope {
            ReportScope::Run(_) => self.report_counts_in(org, scope, filter).await.map(Some),
            ReportScope::Latest => {
                check_scope(org, scope)?;
                let filter = &self.narrowed(org, scope, filter).await?;
                // The plain totals are counted as the node warms up after each run: should a
                // reader come first, it waits for them rather than be told to come back. Those
                // of possible matches only are not warmed: counted row by row, in the background.
                let warmed = plain(filter) && filter.tier != Some(Tier::Possible);
                self.latest_counts(org, filter, warmed).await
            }
        }
    }

    /// The (pairs, accounts) of `scope` under `filter`, every row it selects counted.
    async fn count_rows(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<(u64, u64), StoreError> {
        let Some(via) = self.counted_via(scope, filter).await? else { return Ok((0, 0)) };
        let mut binds = Binds::default();
        let Selection { from, clauses, .. } = self.report_where(org, scope, filter, &via, &mut binds);
        let sql = format!("SELECT COUNT(*), COUNT(DISTINCT o.account_id) FROM {from} WHERE {clauses}");
        let row = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_one(&self.pool).await?;
        let count = |i: usize| u64::try_from(row.get::<i64, _>(i)).unwrap_or(0);
        Ok((count(0), count(1)))
    }

    /// How a count of `scope` under `filter` reads a partner's field it filters by: one run's
    /// matching values' rows from the field's index; `None` where the filter leaves no row.
    async fn counted_via(&self, scope: ReportScope<'_>, filter: &ReportFilter) -> Result<Option<Via>, StoreError> {
        let ReportScope::Run(run) = scope else { return Ok(Some(Via::default())) };
        let unordered = ReportFilter { sort: ReportSort::Account, ..filter.clone() };
        let Some(vias) = self.field_vias(run, &unordered).await? else { return Ok(None) };
        Ok(Some(match vias.first().and_then(|v| v.index.clone()) {
            Some((field, _)) => {
                let values = vias.into_iter().filter_map(|v| v.index).flat_map(|(_, v)| v).collect();
                Via { index: Some((field, values)), ..Via::default() }
            }
            None => Via::default(),
        }))
    }

    /// How many rows (pairs) `run`'s report under `filter` has.
    pub async fn report_pairs(&self, org: &OrgId, run: &Run, filter: &ReportFilter) -> Result<u64, StoreError> {
        self.report_pairs_in(org, ReportScope::Run(run), filter).await
    }

    /// How many rows (pairs) the report of `scope` under `filter` has.
    pub async fn report_pairs_in(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<u64, StoreError> {
        if let Some((pairs, _)) = self.stored_counts(org, scope, filter).await? {
            return Ok(pairs);
        }
        self.report_count(org, scope, filter, "COUNT(*)").await
    }

    /// How many distinct accounts of this side the rows of `run`'s report under `filter` are
    /// about: fewer than the rows (pairs) when an account overlaps several partner records.
    pub async fn report_accounts(&self, org: &OrgId, run: &Run, filter: &ReportFilter) -> Result<u64, StoreError> {
        self.report_accounts_in(org, ReportScope::Run(run), filter).await
    }

    /// How many distinct accounts of this side the rows of the report of `scope` under `filter`
    /// are about (an account overlapping several partners is counted once).
    pub async fn report_accounts_in(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<u64, StoreError> {
        if let Some((_, accounts)) = self.stored_counts(org, scope, filter).await? {
            return Ok(accounts);
        }
        self.report_count(org, scope, filter, "COUNT(DISTINCT o.account_id)").await
    }

    async fn report_count(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        count: &str,
    ) -> Result<u64, StoreError> {
        check_scope(org, scope)?;
        let Some(via) = self.counted_via(scope, filter).await? else { return Ok(0) };
        let mut binds = Binds::default();
        let Selection { from, clauses, .. } = self.report_where(org, scope, filter, &via, &mut binds);
        let sql = format!("SELECT {count} FROM {from} WHERE {clauses}");
        let query = binds.apply_scalar(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)));
        Ok(u64::try_from(query.fetch_one(&self.pool).await?).unwrap_or(0))
    }

    /// The (pairs, accounts) of `scope` under `filter` without counting rows, where the run's
    /// stored totals give them (see [`Store::listed_counts`]); checks the scope first.
    async fn stored_counts(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        check_scope(org, scope)?;
        match (scope, &filter.gone_from) {
            (ReportScope::Run(run), None) => self.listed_counts(run, filter).await,
            (ReportScope::Run(run), Some(later)) => self.lost_counts(org, run, later, filter).await,
            (ReportScope::Latest, _) => self.latest_counts(org, filter, true).await,
        }
    }

    /// The (pairs, accounts) of `run`'s rows whose account the `later` run has nowhere (the
    /// accounts lost since `run`), from the totals stored with `later` when `run` is the one it
    /// was compared with, less what corrections hide, read from the corrected accounts' rows;
    /// for a filter that selects nothing else. `None` when the rows must be counted.
    async fn lost_counts(
        &self,
        org: &OrgId,
        run: &Run,
        later: &RunId,
        filter: &ReportFilter,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let only_lost = ReportFilter { gone_from: None, ..filter.clone() };
        if !plain(&only_lost)
            || filter.tier.is_some()
            || filter.partnership.as_ref().is_some_and(|p| *p != run.partnership)
        {
            return Ok(None);
        }
        let stored = sqlx::query(
            "SELECT lost_since, lost_pairs, lost_accounts FROM match_runs WHERE id = $1 AND org_id = $2 \
             AND partnership_id = $3",
        )
        .bind(later.as_str())
        .bind(org.as_str())
        .bind(run.partnership.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(stored) = stored else { return Ok(None) };
        if stored.get::<Option<String>, _>(0).as_deref() != Some(run.id.as_str()) {
            return Ok(None);
        }
        let count = |i: usize| stored.get::<Option<i64>, _>(i).and_then(|n| u64::try_from(n).ok());
        let (Some(pairs), Some(accounts)) = (count(1), count(2)) else { return Ok(None) };
        let rows = self.corrected_rows(run, Some(later)).await?;
        let (hidden_pairs, hidden_accounts) = hidden(rows.into_iter().map(|r| (r.account_id, r.hidden)));
        Ok(Some((pairs.saturating_sub(hidden_pairs), accounts.saturating_sub(hidden_accounts))))
    }

    /// The (pairs, accounts) of the list across partners under a filter that selects by
    /// partner and tier (all, or confirmed) at most: one partner's from its run's stored totals;
    /// several partners' counted once per set of latest runs and kept (an account overlapping
    /// with several partners is one account: the rows must be read), less what corrections hide,
    /// read from the corrected accounts' rows. `None` when the rows must be counted.
    ///
    /// Where `count` is false, nothing is counted row by row: `None` unless the totals are kept.
    async fn latest_counts(
        &self,
        org: &OrgId,
        filter: &ReportFilter,
        count: bool,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let runs = self.latest_in(org, filter).await?;
        if !plain(filter) || filter.tier == Some(Tier::Possible) {
            return self.filtered_latest_counts(org, &runs, filter, count).await;
        }
        match runs.as_slice() {
            [] => return Ok(Some((0, 0))),
            [(run, _)] => return self.listed_counts(run, filter).await,
            _ => {}
        }
        let mut binds = Binds::default();
        let ids: Vec<String> = runs.iter().map(|(run, _)| binds.text(run.id.as_str())).collect();
        let ids = ids.join(", ");
        let tier = match filter.tier {
            Some(tier) => format!("AND o.tier = {}", binds.text(tier.as_str())),
            None => String::new(),
        };
        // As the runs listed them: counted once per set of runs and kept.
        let key = format!("{org}|{:?}|{}", filter.tier, runs_key(&runs));
        // With the corrections as they are now: counted once per state of them too.
        let corrected_key = format!("{key}|{}", self.corrections_state(org).await?);
        if let Some(counts) = self.totals.get(&corrected_key) {
            return Ok(Some(counts));
        }
        let listed = match self.totals.get(&key) {
            Some(counts) => counts,
            None if !count => return Ok(None),
            None => {
                let sql = format!(
                    "SELECT COUNT(*), COUNT(DISTINCT o.account_id) FROM run_overlaps o WHERE o.run_id IN ({ids}) {tier}"
                );
                let row = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_one(&self.pool).await?;
                let count = |i: usize| u64::try_from(row.get::<i64, _>(i)).unwrap_or(0);
                let counts = (count(0), count(1));
                self.totals.put(key, counts);
                counts
            }
        };
        // Less what corrections hide: every row, with any partner, of the accounts corrected
        // with some partner (an account hidden with one partner still counts if another has it).
        let org_p = binds.text(org.as_str());
        let sql = format!(
            "SELECT o.account_id, CASE WHEN {} THEN 1 ELSE 0 END FROM run_overlaps o JOIN match_runs r ON r.id = o.run_id \
             WHERE o.run_id IN ({ids}) {tier} AND o.account_id IN (SELECT mc.account_id FROM match_corrections mc \
             WHERE mc.org_id = {org_p} AND mc.removed_at IS NULL)",
            self.corrected_sql(&org_p, "r.partnership_id")
        );
        let rows = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&self.pool).await?;
        let (hidden_pairs, hidden_accounts) =
            hidden(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1) == 1)));
        let counts = (listed.0.saturating_sub(hidden_pairs), listed.1.saturating_sub(hidden_accounts));
        self.totals.put(corrected_key, counts);
        Ok(Some(counts))
    }

    /// The (pairs, accounts) of the list across partners under any other filter, counted row by
    /// row, once per filter, set of latest runs and state of the corrections, and kept: the
    /// list's next pages, and the same search again, do not count again.
    async fn filtered_latest_counts(
        &self,
        org: &OrgId,
        runs: &[(Run, Option<RunId>)],
        filter: &ReportFilter,
        count: bool,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        if runs.iter().all(|(run, _)| none_of(run, filter.tier)) {
            return Ok(Some((0, 0)));
        }
        // Narrowed accounts follow from the search and the runs' datasets: not part of the key.
        let counted = ReportFilter { sort: ReportSort::default(), descending: false, accounts: None, ..filter.clone() };
        let key = format!("{org}|{counted:?}|{}|{}", self.corrections_state(org).await?, runs_key(runs));
        if let Some(counts) = self.totals.get(&key) {
            return Ok(Some(counts));
        }
        if !count {
            return Ok(None);
        }
        let counts = self.count_rows(org, ReportScope::Latest, filter).await?;
        self.totals.put(key, counts);
        Ok(Some(counts))
    }

    /// Counts what the pages across partners show first (all matches and confirmed ones), so
    /// that the first reader after a run completes or a correction is made does not wait for
    /// it: what a node does after each.
    pub async fn warm_lists(&self, org: &OrgId) -> Result<(), StoreError> {
        for tier in [None, Some(Tier::Confirmed)] {
            let filter = ReportFilter { tier, ..ReportFilter::default() };
            self.latest_counts(org, &filter, true).await?;
        }
        Ok(())
    }

    /// The rows of `run` whose account an active correction with its partnership names (only
    /// those whose account the run `gone_from` has nowhere, when given), each with whether a
    /// correction hides it: what every total stored with a run is amended from.
    async fn corrected_rows(&self, run: &Run, gone_from: Option<&RunId>) -> Result<Vec<CorrectedRow>, StoreError> {
        let gone = if gone_from.is_some() {
            " AND NOT EXISTS (SELECT 1 FROM run_overlaps g WHERE g.run_id = $4 AND g.account_id = o.account_id)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT o.own_segment, o.partner_segment, o.account_id, o.tier, CASE WHEN {} THEN 1 ELSE 0 END \
             FROM run_overlaps o WHERE o.run_id = $3 AND o.account_id IN (SELECT mc.account_id \
             FROM match_corrections mc WHERE mc.org_id = $1 AND mc.partnership_id = $2 AND mc.removed_at IS NULL){gone}",
            self.corrected_sql("$1", "$2")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.org.as_str())
            .bind(run.partnership.as_str())
            .bind(run.id.as_str());
        if let Some(later) = gone_from {
            query = query.bind(later.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(CorrectedRow {
                    own_segment: r.get(0),
                    partner_segment: r.get(1),
                    account_id: r.get(2),
                    tier: Tier::parse(&r.get::<String, _>(3)).ok_or(StoreError::Corrupt("run_overlaps.tier"))?,
                    hidden: r.get::<i64, _>(4) == 1,
                })
            })
            .collect()
    }

    /// `run`'s (pairs, accounts) under `filter` from the totals stored with the run, less what
    /// corrections hide — read from the rows of the corrected accounts only — when the filter
    /// selects by tier at most (all, or confirmed); `None` when the rows must be counted.
    async fn listed_counts(&self, run: &Run, filter: &ReportFilter) -> Result<Option<(u64, u64)>, StoreError> {
        let Some(listed) = run.listed else { return Ok(None) };
        let plain = plain(filter) && filter.partnership.as_ref().is_none_or(|p| *p == run.partnership);
        let (pairs, accounts, counted) = match filter.tier {
            _ if !plain => return Ok(None),
            None => (listed.pairs, listed.accounts, None),
            Some(Tier::Confirmed) => (listed.confirmed_pairs, listed.confirmed_accounts, Some(Tier::Confirmed)),
            Some(Tier::Possible) if none_of(run, filter.tier) => return Ok(Some((0, 0))),
            Some(Tier::Possible) => return Ok(None),
        };
        let rows = self.corrected_rows(run, None).await?;
        let counted_rows = rows.into_iter().filter(|r| counted.is_none_or(|t| t == r.tier));
        let (hidden_pairs, hidden_accounts) = hidden(counted_rows.map(|r| (r.account_id, r.hidden)));
        Ok(Some((pairs.saturating_sub(hidden_pairs), accounts.saturating_sub(hidden_accounts))))
    }

    /// Every row of `run`'s report under `filter`, in its order, handed to `each` as the
    /// database streams them (an export holds one row at a time); how many.
    pub async fn report_each(
        &self,
        org: &OrgId,
        run: &Run,
        filter: &ReportFilter,
        each: impl FnMut(ReportRow),
    ) -> Result<u64, StoreError> {
        self.report_each_in(org, ReportScope::Run(run), filter, each).await
    }

    /// Every row of the report of `scope` under `filter`, in its order, handed to `each` as the
    /// database streams them; how many.
    pub async fn report_each_in(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        mut each: impl FnMut(ReportRow),
    ) -> Result<u64, StoreError> {
        use futures_util::TryStreamExt;
        check_scope(org, scope)?;
        let mut binds = Binds::default();
        let sql = self.report_select(org, scope, filter, &mut binds, &Via::default(), None, None, None, Shape::Rows);
        let mut rows = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch(&self.pool);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            each(report_row(&row, scope)?);
            n += 1;
        }
        Ok(n)
    }

    /// The keys of `filter`'s order over `o`, first to last (the partnership, across partners,
    /// breaks the last ties), with the value each has in every row where the filter fixes it.
    /// Every key runs in the same direction, so that an index walks the order both ways and a
    /// list read backwards is the list reversed.
    fn order_terms(&self, filter: &ReportFilter, via: &Via, binds: &mut Binds) -> Vec<Term> {
        let name: CursorKey = |c| CursorValue::Text(c.name.clone());
        let account: CursorKey = |c| CursorValue::Text(c.account_id.clone());
        let own: CursorKey = |c| CursorValue::Text(c.own_segment.clone());
        let partner: CursorKey = |c| CursorValue::Text(c.partner_segment.clone());
        let record: CursorKey = |c| CursorValue::Int(c.partner_record);
        let key: CursorKey = |c| CursorValue::Text(c.key.clone());
        // One account's rows have one name: ordered without it, they are found by the
        // account's index rather than by walking the names.
        // Walked in the overlaps' indexes, or in a field's index where a piece reads one.
        let w = via.walked();
        // The partner's segment and record: the field index's where it is walked, else the row's.
        let wp = if via.index.is_some() { "f" } else { "o" };
        let r = via.row();
        let mut by_name: Vec<Term> = match &filter.account {
            Some(a) => vec![term(&format!("{w}.account_id"), "account_id", account, Some(a))],
            None => vec![
                term(&format!("{w}.sort_name"), "sort_name", name, None),
                term(&format!("{w}.account_id"), "account_id", account, None),
            ],
        };
        by_name.push(term(
            &format!("{wp}.partner_segment"),
            "partner_segment",
            partner,
            filter.partner_segment.as_ref(),
        ));
        by_name.push(term(&format!("{wp}.partner_record"), "partner_record", record, None));
        // By a segment: each cell (own segment, partner segment) by name, the cells in the
        // order of the one sorted by, then of the other.
        let cells = |first_own: bool| {
            let own = term(&format!("{r}.own_segment"), "own_segment", own, filter.own_segment.as_ref());
            let partner =
                term(&format!("{wp}.partner_segment"), "partner_segment", partner, filter.partner_segment.as_ref());
            let mut terms = if first_own { vec![own, partner] } else { vec![partner, own] };
            terms.extend(by_name.iter().filter(|t| t.column != "partner_segment").cloned());
            terms
        };
        let keyed = |sql: String, constant: Option<&String>| {
            let mut terms = vec![term(&sql, "sort_key", key, constant)];
            terms.extend(by_name.iter().cloned());
            terms
        };
        match &filter.sort {
            ReportSort::Account | ReportSort::Partner => by_name,
            ReportSort::OwnSegment => cells(true),
            ReportSort::PartnerSegment => cells(false),
            ReportSort::Owner => keyed(format!("{r}.owner"), filter.owner.as_ref()),
            ReportSort::PartnerField(field) if via.index.as_ref().is_some_and(|(f, _)| f == field) => {
                keyed("f.value_key".to_owned(), via.value_of(field))
            }
            ReportSort::PartnerField(field) if is_field_name(field) => {
                let none = String::new();
                let constant = via.unsorted.then_some(&none);
                keyed(format!("LOWER(COALESCE({}, ''))", self.partner_field_sql(field, binds)), constant)
            }
            ReportSort::PartnerField(_) => by_name,
        }
    }

    /// The SELECT of a report's rows, its parameters taken into `binds`: a page (`page`: offset
    /// and rows) or every row. A run's rows are labelled with its partnership and partner name
    /// by `label` (SQL) where given. Its order's keys are named as [`Term::column`] says; the
    /// last column is the name as sorted, the one before it the order's first key. As
    /// [`Shape::Keys`], one run's piece of a merged page gives its rows' keys only.
    #[allow(clippy::too_many_arguments)]
    fn report_select(
        &self,
        org: &OrgId,
        scope: ReportScope<'_>,
        filter: &ReportFilter,
        binds: &mut Binds,
        via: &Via,
        label: Option<(String, String)>,
        page: Option<(u64, u64)>,
        seek: Option<&Seek>,
        shape: Shape,
    ) -> String {
        let Selection { from, clauses, previous, partner } = self.report_where(org, scope, filter, via, binds);
        let terms = self.order_terms(filter, via, binds);
        let direction = if filter.descending { "DESC" } else { "ASC" };
        let seek = match (seek, scope) {
            (Some(seek), ReportScope::Run(run)) => {
                let mut sql = seek.sql(&terms, run, filter.descending, binds);
                if via.named && !sql.is_empty() {
                    // The found names from the cursor's on: a range of their key, which the
                    // row comparison (over two tables) does not give.
                    let op = if filter.descending { "<=" } else { ">=" };
                    sql.push_str(&format!(" AND fs.sort_name {op} {}", binds.text(seek.cursor.name.as_str())));
                }
                sql
            }
            _ => String::new(),
        };
        // The keys a filter fixes need no ordering (and ordering by them can keep PostgreSQL
        // from seeing that an index has the rest).
        let mut order: Vec<String> =
            terms.iter().filter(|t| t.constant.is_none()).map(|t| format!("{} {direction}", t.sql)).collect();
        let key = match (&filter.sort, &partner) {
            (ReportSort::Partner, Some((partnership, name))) => {
                order.splice(0..0, [format!("{name} {direction}"), format!("{partnership} {direction}")]);
                name.clone()
            }
            _ => terms
                .first()
                .filter(|t| t.column == "sort_key")
                .map_or_else(|| format!("{}.sort_name", via.row()), |t| t.sql.clone()),
        };
        // Across partners the partnership breaks the last ties, as the merged pages have it.
        if let Some((partnership, _)) = &partner {
            order.push(format!("{partnership} {direction}"));
        }
        if order.is_empty() {
            order.push(format!("{}.partner_record {direction}", via.row()));
        }
        let order = order.join(", ");
        let (partnership, partner_name) = match label {
            Some(label) => label,
            None => partner.unwrap_or_else(|| (format!("{}.run_id", via.row()), format!("{}.run_id", via.row()))),
        };
        let paging = |binds: &mut Binds| match page {
            Some((offset, rows)) => format!(
                " LIMIT {} OFFSET {}",
                binds.int(i64::try_from(rows).unwrap_or(i64::MAX)),
                binds.int(i64::try_from(offset).unwrap_or(i64::MAX))
            ),
            None => String::new(),
        };
        if let (Shape::Keys, ReportScope::Run(run)) = (shape, scope) {
            let text = |binds: &mut Binds, value: &str| format!("CAST({} AS TEXT)", binds.text(value));
            let previous = match &previous {
                Some(Previous::Run(id)) => text(binds, id.as_str()),
                _ => "CAST(NULL AS TEXT)".to_owned(),
            };
            let (run_id, dataset) = (text(binds, run.id.as_str()), text(binds, run.dataset.as_str()));
            let cosell = text(binds, run.partnership.as_str());
            let paging = paging(binds);
            let r = via.row();
            return format!(
                "SELECT {run_id} AS run_id, {dataset} AS dataset_id, {cosell} AS cosell_partnership, \
                 {previous} AS previous_run, {r}.account_id AS account_id, {r}.own_segment AS own_segment, \
                 {r}.partner_segment AS partner_segment, {r}.partner_record AS partner_record, {partnership} AS pship, \
                 {partner_name} AS pname, {key} AS sort_key, {r}.sort_name AS sort_name FROM {from} \
                 WHERE {clauses}{seek} ORDER BY {order}{paging}"
            );
        }
        let new_sql = match previous.map(|p| p.sql(binds)) {
            Some(before) => {
                format!("CASE WHEN {before} IS NULL THEN NULL WHEN {} THEN 0 ELSE 1 END", earlier_overlap(&before, "o"))
            }
            None => "NULL".to_owned(),
        };
        // One type whether or not there is a run to compare with (the list across partners
        // unites runs of both kinds).
        let new_sql = format!("CAST({new_sql} AS BIGINT)");
        let cosell_partnership = match scope {
            ReportScope::Run(run) => binds.text(run.partnership.as_str()),
            ReportScope::Latest => "r.partnership_id".to_owned(),
        };
        let org_p = binds.text(org.as_str());
        let cosell = format!(
            "(SELECT c.id || ' ' || c.status FROM cosell_records c WHERE c.org_id = {org_p} \
             AND c.partnership_id = {cosell_partnership} AND c.own_account = o.account_id \
             ORDER BY c.updated_at DESC LIMIT 1)"
        );
        let paging = paging(binds);
        format!(
            "SELECT o.account_id AS account_id, a.display_name, o.own_segment AS own_segment, NULLIF(o.owner, ''), \
             o.partner_segment AS partner_segment, o.partner_record AS partner_record, o.key_types, o.fields, \
             a.domains, a.duns, a.name, a.country, {cosell}, {new_sql}, o.tier, o.reason, {partnership} AS pship, \
             {partner_name} AS pname, {key} AS sort_key, o.sort_name AS sort_name FROM {from} \
             WHERE {clauses}{seek} ORDER BY {order}{paging}"
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
        if let Some(cells) = self.stored_cells(run).await? {
            return Ok(cells);
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

    /// `run`'s cells as stored with it, less what corrections hide: the corrected accounts'
    /// rows are read, each one's best tier per cell taken off and what is left of it put back.
    /// `None` for a run stored before cells were.
    async fn stored_cells(&self, run: &Run) -> Result<Option<Vec<CellTiers>>, StoreError> {
        let Some(stored) = self.listed_cells(run).await? else { return Ok(None) };
        let mut cells: BTreeMap<(String, String), (u64, u64)> =
            stored.into_iter().map(|(own, partner, c, p)| ((own, partner), (c, p))).collect();
        // Per corrected account and cell: whether it was confirmed there, and what it is now
        // (nothing when every row is hidden, else whether a shown row is confirmed).
        let mut corrected: BTreeMap<(String, String, String), (bool, Option<bool>)> = BTreeMap::new();
        for r in self.corrected_rows(run, None).await? {
            let confirmed = r.tier == Tier::Confirmed;
            let entry = corrected.entry((r.own_segment, r.partner_segment, r.account_id)).or_default();
            entry.0 |= confirmed;
            if !r.hidden {
                entry.1 = Some(entry.1.unwrap_or(false) || confirmed);
            }
        }
        for ((own, partner, _), (was, now)) in corrected {
            let cell = cells.entry((own, partner)).or_default();
            let (confirmed, possible) = cell;
            let before = if was { &mut *confirmed } else { &mut *possible };
            *before = before.saturating_sub(1);
            match now {
                Some(true) => *confirmed += 1,
                Some(false) => *possible += 1,
                None => {}
            }
        }
        Ok(Some(
            cells
                .into_iter()
                .filter(|(_, (c, p))| c + p > 0)
                .map(|((own_segment, partner_segment), (confirmed, possible))| CellTiers {
                    own_segment,
                    partner_segment,
                    confirmed,
                    possible,
                })
                .collect(),
        ))
    }

    /// The owners of `run`'s overlapping accounts, sorted: what a report filters by.
    pub async fn report_owners(&self, org: &OrgId, run: &Run) -> Result<Vec<String>, StoreError> {
        self.report_owners_in(org, ReportScope::Run(run)).await
    }

    /// The owners of the overlapping accounts in `scope`, sorted.
    /// Stored with each run (as the match listed them: an owner whose every overlap a correction
    /// hides is still offered), else read from its rows.
    pub async fn report_owners_in(&self, org: &OrgId, scope: ReportScope<'_>) -> Result<Vec<String>, StoreError> {
        check_scope(org, scope)?;
        let runs = match scope {
            ReportScope::Run(run) => vec![run.id.clone()],
            ReportScope::Latest => self.latest_complete_runs(org).await?.into_iter().map(|(r, _)| r.id).collect(),
        };
        let mut owners = std::collections::BTreeSet::new();
        let mut stored = true;
        for id in &runs {
            let listed: Option<String> = sqlx::query_scalar("SELECT listed_owners FROM match_runs WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&self.pool)
                .await?;
            let Some(listed) = listed else {
                stored = false;
                break;
            };
            let listed: Vec<String> =
                serde_json::from_str(&listed).map_err(|_| StoreError::Corrupt("match_runs.listed_owners"))?;
            owners.extend(listed);
        }
        if stored {
            return Ok(owners.into_iter().collect());
        }
        let mut binds = Binds::default();
        let Selection { from, clauses, .. } =
            self.report_where(org, scope, &ReportFilter::default(), &Via::default(), &mut binds);
        let sql = format!("SELECT DISTINCT NULLIF(o.owner, '') FROM {from} WHERE {clauses}");
        let rows = binds.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&self.pool).await?;
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
        let filter = ReportFilter { account: Some(account_id.to_owned()), ..ReportFilter::default() };
        let mut out = Vec::new();
        self.report_each_in(org, ReportScope::Latest, &filter, |row| {
            out.push((row.partnership.clone(), row.partner_name.clone(), row));
        })
        .await?;
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }
}

/// The most rows a page by number reads past in a list's pieces (each read from its start to
/// the page's end, all merged): a page deeper than that is reached from a row. Tens of
/// milliseconds at the most.
pub(crate) const MERGED_ROWS: u64 = 20_000;

/// How many pieces one compound SELECT unites (SQLite's limit is 500): more are united in
/// groups, each group's rows up to `reach` first.
const UNITED: usize = 100;

/// The SELECT of `parts` (each a report's SELECT, its rows in `order`) merged in `order` (over
/// `u`): the page `page` (offset, rows) of them, or the first `reach` where `None`.
fn merged(parts: Vec<String>, order: &str, reach: u64, page: Option<(u64, u32)>, binds: &mut Binds) -> String {
    let parts = if parts.len() > UNITED {
        parts.chunks(UNITED).map(|group| merged(group.to_vec(), order, reach, None, binds)).collect()
    } else {
        parts
    };
    let united: Vec<String> = parts.iter().enumerate().map(|(i, p)| format!("SELECT * FROM ({p}) s{i}")).collect();
    let paging = match page {
        Some((offset, rows)) => format!(
            "LIMIT {} OFFSET {}",
            binds.int(i64::from(rows)),
            binds.int(i64::try_from(offset).unwrap_or(i64::MAX))
        ),
        None => format!("LIMIT {}", binds.int(i64::try_from(reach).unwrap_or(i64::MAX))),
    };
    format!("SELECT * FROM ({}) u ORDER BY {order} {paging}", united.join(" UNION ALL "))
}

/// Where a page `offset` rows into a list of `total` rows by name is read from the list's end,
/// when that end is nearer: the offset from the end, and how many rows to read backwards.
fn from_the_end(offset: u64, limit: u32, total: u64) -> Option<(u64, u32)> {
    (offset > total / 2 && offset < total).then(|| {
        let take = u64::from(limit).min(total - offset);
        (total - offset - take, u32::try_from(take).unwrap_or(limit))
    })
}

/// The ids of `runs` as a JSON array, to bind.
fn run_ids(runs: &[&Run]) -> String {
    serde_json::json!(runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>()).to_string()
}

/// The runs a total across partners was counted over, as a key of `Totals`.
fn runs_key(runs: &[(Run, Option<RunId>)]) -> String {
    runs.iter().map(|(run, _)| run.id.as_str()).collect::<Vec<_>>().join("|")
}

/// A row of a run whose account a correction names (see `Store::corrected_rows`).
struct CorrectedRow {
    own_segment: String,
    partner_segment: String,
    account_id: String,
    tier: Tier,
    /// Whether a correction hides it.
    hidden: bool,
}

/// Of rows (account, hidden by a correction): how many are hidden, and how many accounts have
/// every row hidden.
fn hidden(rows: impl Iterator<Item = (String, bool)>) -> (u64, u64) {
    let mut pairs = 0;
    let mut shown: BTreeMap<String, bool> = BTreeMap::new();
    for (account, is_hidden) in rows {
        pairs += u64::from(is_hidden);
        *shown.entry(account).or_default() |= !is_hidden;
    }
    (pairs, shown.values().filter(|s| !**s).count() as u64)
}

/// The most accounts a search is narrowed to (see [`ReportFilter::accounts`]); a search that
/// finds more reads every overlap it may select.
pub const NARROWED: usize = 20_000;

/// The most narrowed accounts a page looks up one by one in each run; past that they are put
/// in a temporary table of the connection once, and each piece walks the list's order looking
/// each row's account up there.
const LOOKED_UP: usize = 2_500;

/// Whether `run`'s stored totals say it has no row of `tier` (a run stored before them: not
/// known). Each row has one tier, so its possible rows are its rows less its confirmed ones.
fn none_of(run: &Run, tier: Option<Tier>) -> bool {
    match (tier, &run.listed) {
        (Some(Tier::Confirmed), Some(listed)) => listed.confirmed_pairs == 0,
        (Some(Tier::Possible), Some(listed)) => listed.pairs == listed.confirmed_pairs,
        _ => false,
    }
}

/// Whether `filter` selects by partner and tier at most: what stored totals can answer.
fn plain(filter: &ReportFilter) -> bool {
    filter.own_segment.is_none()
        && filter.partner_segment.is_none()
        && filter.owner.is_none()
        && filter.account.is_none()
        && filter.accounts.is_none()
        && filter.search.as_deref().is_none_or(|q| q.trim().is_empty())
        && filter.partner_fields.iter().all(|(_, text)| text.trim().is_empty())
        && !filter.new_only
        && filter.gone_from.is_none()
}

/// What searches found (`None`: too many to look up), by datasets and search, kept: a
/// dataset's accounts do not change.
pub(crate) type Found = Kept<String, Option<Vec<String>>>;

/// How many searches' accounts a process keeps.
pub(crate) const FOUND_KEPT: usize = 32;

/// Totals of lists across partners counted row by row, by what they were counted for (the
/// organisation, the filter's tier and its latest runs; with the state of its corrections for
/// the totals corrections amend): a new run or correction makes a new key.
pub(crate) type Totals = Kept<String, (u64, u64)>;

/// How many totals a process keeps.
pub(crate) const TOTALS_KEPT: usize = 256;

/// The fields each complete run's overlaps disclose, by run, kept: they do not change.
pub(crate) type ListedFields = Kept<String, Vec<String>>;

/// The values of each complete run's fields (`None`: more than [`FIELD_VALUES`]), by run and
/// field, kept: they do not change.
pub(crate) type FieldValues = Kept<(String, String), Option<std::sync::Arc<Vec<String>>>>;

/// How many runs' fields, and how many runs' fields' values, a process keeps.
pub(crate) const FIELDS_KEPT: usize = 1024;

/// A report of one run is only its organisation's.
fn check_scope(org: &OrgId, scope: ReportScope<'_>) -> Result<(), StoreError> {
    match scope {
        ReportScope::Run(run) if &run.org != org => Err(StoreError::NotFound("run")),
        _ => Ok(()),
    }
}

/// `text` as a LIKE pattern matching it anywhere, `\` escaping the wildcards.
fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// SQL that is true when the rows `a` and `b` (aliases of `run_overlaps` or of what keys it:
/// a field's index entry, a merged page's keys) are of one overlap — its run's name index's
/// columns, which find it.
pub(crate) fn same_overlap(a: &str, b: &str) -> String {
    format!(
        "{a}.run_id = {b}.run_id AND {a}.sort_name = {b}.sort_name AND {a}.account_id = {b}.account_id \
         AND {a}.partner_segment = {b}.partner_segment AND {a}.partner_record = {b}.partner_record"
    )
}

/// Whether the account of the row `row` (an alias) overlapped in the run the SQL `run` names.
fn earlier_overlap(run: &str, row: &str) -> String {
    format!("EXISTS (SELECT 1 FROM run_overlaps p WHERE p.run_id = {run} AND p.account_id = {row}.account_id)")
}

fn report_row(r: &sqlx::any::AnyRow, scope: ReportScope<'_>) -> Result<ReportRow, StoreError> {
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
    let (partnership, partner_name) = match scope {
        ReportScope::Run(run) => (run.partnership.clone(), run.partner_name.clone()),
        ReportScope::Latest => (PartnershipId(r.get(16)), r.get(17)),
    };
    Ok(ReportRow {
        partnership,
        partner_name,
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
        sort_name: r.get(19),
        sort_key: r.get(18),
    })
}

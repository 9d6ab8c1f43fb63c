//! The overlap list — filtered, sorted and paged in the database — and its CSV export.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use blindmap_store::{
    CorrectionId, Direction, OrgId, Partnership, PartnershipId, ReportFilter, ReportRow, ReportScope, ReportSort,
    ReportStart, Run, StoreError, is_field_name,
};

use super::format::{csv_safe, thousands};
use super::partners::partner_and_run;
use super::session::{Signed, page_number};
use super::{Chrome, PAGE_ROWS, PageResult, html, secure_headers};
use crate::AppState;
use crate::api::runs::RunResult;
use crate::http::error::ApiError;
use crate::service::runs::result_of;

mod query;

use query::{FIELD_PARAM, FieldFilter, FilterView, ListQuery, csv_columns, field_label, page_columns};

pub(super) struct ListRow {
    pub(super) account_id: String,
    /// The account's name as the export wrote it, else its id.
    pub(super) account: String,
    pub(super) pid: String,
    pub(super) partner_name: String,
    pub(super) own_segment: String,
    pub(super) owner: String,
    pub(super) partner_segment: String,
    /// The partner's shared fields, in the list's field columns' order (empty where not shared).
    pub(super) fields: Vec<String>,
    pub(super) tier: &'static str,
    pub(super) reason: String,
    pub(super) matched_on: String,
    pub(super) cosell: String,
    pub(super) registration: String,
    pub(super) change: &'static str,
    pub(super) cosell_form: Option<(String, u32)>,
    /// The key types the pair matched on, as a "Not this match" form sends them.
    pub(super) key_types: String,
    /// Whether the row is an account lost since the previous match: nothing to act on.
    pub(super) lost: bool,
}

impl ListRow {
    /// The row's CSV record, in `csv_columns`' order.
    fn csv(&self, across: bool) -> Vec<String> {
        let mut cells = vec![self.account.clone(), self.account_id.clone()];
        if across {
            cells.push(self.partner_name.clone());
        }
        cells.extend([self.own_segment.clone(), self.owner.clone(), self.partner_segment.clone()]);
        cells.extend(self.fields.iter().cloned());
        cells.extend([
            self.tier.to_owned(),
            self.reason.clone(),
            self.matched_on.clone(),
            self.cosell.clone(),
            self.registration.clone(),
            self.change.to_owned(),
        ]);
        cells
    }
}

pub(super) struct Header {
    pub(super) label: String,
    pub(super) href: Option<String>,
    pub(super) sort: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "overlaps.html")]
pub(super) struct OverlapsPage {
    pub(super) chrome: Chrome,
    /// The partner's name; empty in the list across partners.
    pub(super) partner: String,
    pub(super) pid: String,
    /// Where the filters' form goes.
    pub(super) action: String,
    pub(super) filter: FilterView,
    pub(super) own_segments: Vec<String>,
    pub(super) partner_segments: Vec<String>,
    pub(super) owners: Vec<String>,
    /// The partners to filter by (across partners): id and name.
    pub(super) partners: Vec<(String, String)>,
    pub(super) field_filters: Vec<FieldFilter>,
    /// Whether there is a previous match to compare with (the "Changed" filter's choices).
    pub(super) has_previous: bool,
    pub(super) headers: Vec<Header>,
    pub(super) rows: Vec<ListRow>,
    pub(super) showing: String,
    /// What the list says when it has no rows.
    pub(super) empty: String,
    /// Accounts lost since the previous match, and the link to them (one partner's list).
    pub(super) lost: Option<(String, String)>,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
    pub(super) csv: String,
    pub(super) here: String,
    /// The correction just made from this list: the account it hid, the partnership and partner.
    pub(super) corrected: Option<(String, String, String)>,
}

impl OverlapsPage {
    /// The table's caption.
    pub(super) fn caption(&self) -> String {
        let what = if self.filter.changed == "lost" {
            "Your accounts that overlapped in the previous match and no longer do".to_owned()
        } else if self.partner.is_empty() {
            "Your accounts that your partners also have, in the latest match with each".to_owned()
        } else {
            format!("Your accounts that {} also has", self.partner)
        };
        format!(
            "{what}: one row per pair (your account and a partner's record it matches), with what the partner shares of \
             that record"
        )
    }
}

/// What a report of the latest complete match with a partner is read with: the partnership, the
/// match, the filter (made knowing the previous match, which rows are compared with) and this
/// side's registrations with that partner.
pub(crate) struct Listing {
    pub(crate) partnership: Partnership,
    pub(crate) run: Run,
    pub(crate) filter: ReportFilter,
    pub(crate) registrations: Vec<(Vec<String>, String)>,
    /// The organisation's place among running report queries, held while the listing is read.
    pub(crate) _slot: crate::http::throttle::Admitted,
}

/// The listing of `org`'s latest complete match with partnership `id`, its filter made by
/// `filter` from the previous complete match (if any). The pages, the CSV and the API share it.
pub(crate) async fn listing(
    state: &AppState,
    org: &OrgId,
    id: &str,
    filter: impl FnOnce(Option<&Run>) -> ReportFilter,
) -> Result<Listing, ApiError> {
    // The heaviest reads: a few of an organisation's at once.
    let slot = state.throttle.report(org.as_str()).await?;
    let (partnership, run) = partner_and_run(state, org, id).await?;
    let previous = state.store.previous_complete_run(org, &run).await?;
    let filter = filter(previous.as_ref());
    let registrations = registrations_by_key(state, org, &partnership).await?;
    Ok(Listing { partnership, run, filter, registrations, _slot: slot })
}

/// The registrations this side submitted through `partnership`, by their customer keys.
pub(super) async fn registrations_by_key(
    state: &AppState,
    org: &OrgId,
    partnership: &Partnership,
) -> Result<Vec<(Vec<String>, String)>, ApiError> {
    let mut all = submitted_registrations(state, org).await?;
    Ok(all.remove(&partnership.id).unwrap_or_default())
}

/// The registrations this side submitted, by partnership, by their customer keys.
async fn submitted_registrations(
    state: &AppState,
    org: &OrgId,
) -> Result<BTreeMap<PartnershipId, Vec<(Vec<String>, String)>>, ApiError> {
    let submitted = state.store.registrations_page(org, Some(Direction::Submitted), None, None, 1000).await?;
    let mut by_partnership: BTreeMap<PartnershipId, Vec<(Vec<String>, String)>> = BTreeMap::new();
    for s in submitted {
        let state = s.registration.state.as_str().replace('_', " ");
        let keys = s.registration.submission.customer_keys.into_iter().collect();
        by_partnership.entry(s.partnership).or_default().push((keys, state));
    }
    Ok(by_partnership)
}

pub(crate) fn fields_text(fields: &BTreeMap<String, Option<String>>) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {}", v.as_deref().unwrap_or("–"))).collect::<Vec<_>>().join("; ")
}

/// The state of the registration (of `registrations_by_key`) on a row's account, if any: one
/// with a customer key in common.
pub(crate) fn registration_of(row: &ReportRow, registrations: &[(Vec<String>, String)]) -> Option<String> {
    registrations.iter().find(|(keys, _)| keys.iter().any(|k| row.keys.contains(k))).map(|(_, s)| s.clone())
}

/// This side's submitted registrations by partnership, as `registrations_by_key` has them.
type Registrations = Vec<(PartnershipId, Vec<(Vec<String>, String)>)>;

/// A row of the list, its shared fields in the order of `fields`.
pub(super) fn list_row(row: ReportRow, registrations: &Registrations, fields: &[String], lost: bool) -> ListRow {
    let registration = registrations
        .iter()
        .find(|(p, _)| *p == row.partnership)
        .and_then(|(_, regs)| registration_of(&row, regs))
        .unwrap_or_default();
    let cosell = row.cosell.as_ref().map_or_else(String::new, |(_, status)| status.clone());
    let cosell_form = match (&row.cosell, row.partner_record) {
        (None, Some(record)) => Some((row.partner_segment.clone(), record)),
        _ => None,
    };
    let shared = fields.iter().map(|f| row.partner_fields.get(f).cloned().flatten().unwrap_or_default()).collect();
    ListRow {
        account: row.name.clone().unwrap_or_else(|| row.account_id.clone()),
        pid: row.partnership.to_string(),
        partner_name: row.partner_name,
        own_segment: row.own_segment,
        owner: row.owner.unwrap_or_default(),
        partner_segment: row.partner_segment,
        fields: shared,
        tier: row.tier.as_str(),
        reason: row.reason,
        matched_on: row.key_types.join(", "),
        cosell,
        registration,
        change: match (lost, row.new) {
            (true, _) => "no longer overlaps",
            (false, Some(true)) => "new",
            (false, Some(false)) => "",
            (false, None) => "first match",
        },
        cosell_form,
        key_types: row.key_types.join(","),
        account_id: row.account_id,
        lost,
    }
}

/// The segments of a run's result: own rows and the partner's columns.
pub(super) fn segments(result: Option<&RunResult>) -> (Vec<String>, Vec<String>) {
    let Some(result) = result else { return (Vec::new(), Vec::new()) };
    let own = result.rows.clone();
    let theirs = result.columns.iter().map(|c| c.segment.clone()).collect();
    (own, theirs)
}

/// The fields the partner shared in a run (of any cell), in the order the policy names them.
fn shared_fields(result: Option<&RunResult>, into: &mut Vec<String>) {
    for (_, _, cell) in result.iter().flat_map(|r| r.cells()) {
        for f in cell.fields.iter().flatten() {
            if is_field_name(f) && !into.contains(f) {
                into.push(f.clone());
            }
        }
    }
}

/// Adds what is not there yet.
fn merge(into: &mut Vec<String>, more: Vec<String>) {
    for m in more {
        if !into.contains(&m) {
            into.push(m);
        }
    }
}

/// What one list reads: which overlaps, under which filter, and what its page needs beside them.
struct Source {
    /// One partner's list: the partnership and its latest complete match.
    one: Option<(Partnership, Run)>,
    /// The run whose rows are read: the latest, or for lost accounts the previous one.
    read: Option<Run>,
    filter: ReportFilter,
    registrations: Registrations,
    fields: Vec<String>,
    own_segments: Vec<String>,
    partner_segments: Vec<String>,
    /// The partners to filter by (across partners).
    partners: Vec<(String, String)>,
    /// One partner's previous complete match, if any.
    previous: Option<Run>,
    has_previous: bool,
    lost: bool,
    _slot: crate::http::throttle::Admitted,
}

impl Source {
    fn scope(&self) -> ReportScope<'_> {
        self.read.as_ref().map_or(ReportScope::Latest, ReportScope::Run)
    }

    fn across(&self) -> bool {
        self.one.is_none()
    }

    /// One partner's list (`id` given) or the list across partners.
    async fn open(state: &AppState, org: &OrgId, id: Option<&str>, query: &ListQuery) -> Result<Self, ApiError> {
        match id {
            Some(id) => {
                let lost = query.lost();
                let Listing { partnership, run, mut filter, registrations, _slot } =
                    listing(state, org, id, |p| query.filter(p)).await?;
                let previous = state.store.previous_complete_run(org, &run).await?;
                let read = if lost {
                    // The previous match's rows of accounts that overlap nowhere in the latest one
                    // (none without a previous match: the latest run's accounts are all in it).
                    filter.previous = None;
                    filter.gone_from = Some(run.id.clone());
                    previous.clone().unwrap_or_else(|| run.clone())
                } else {
                    run.clone()
                };
                let result = result_of(&read)?;
                let (own_segments, partner_segments) = segments(result.as_ref());
                let mut fields = Vec::new();
                shared_fields(result.as_ref(), &mut fields);
                Ok(Self {
                    registrations: vec![(partnership.id.clone(), registrations)],
                    one: Some((partnership, run)),
                    read: Some(read),
                    filter,
                    fields,
                    own_segments,
                    partner_segments,
                    partners: Vec::new(),
                    has_previous: previous.is_some(),
                    previous,
                    lost,
                    _slot,
                })
            }
            None => {
                let slot = state.throttle.report(org.as_str()).await?;
                let (mut fields, mut own_segments, mut partner_segments) = (Vec::new(), Vec::new(), Vec::new());
                let (mut partners, mut registrations, mut has_previous) = (Vec::new(), Vec::new(), false);
                let mut submitted = submitted_registrations(state, org).await?;
                for (run, previous) in state.store.latest_complete_runs(org).await? {
                    let result = result_of(&run)?;
                    shared_fields(result.as_ref(), &mut fields);
                    let (own, theirs) = segments(result.as_ref());
                    merge(&mut own_segments, own);
                    merge(&mut partner_segments, theirs);
                    has_previous |= previous.is_some();
                    let pid = run.partnership;
                    registrations.push((pid.clone(), submitted.remove(&pid).unwrap_or_default()));
                    partners.push((pid.to_string(), run.partner_name));
                }
                own_segments.sort();
                partner_segments.sort();
                partners.sort_by(|a, b| a.1.cmp(&b.1));
                // Each row is compared with its own partner's previous match (the store finds it).
                let mut filter = query.filter(None);
                filter.new_only = query.new == "1";
                Ok(Self {
                    one: None,
                    read: None,
                    filter,
                    registrations,
                    fields,
                    own_segments,
                    partner_segments,
                    partners,
                    previous: None,
                    has_previous,
                    lost: false,
                    _slot: slot,
                })
            }
        }
    }
}

pub(super) async fn overlaps(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    list_page(&state, &signed, Some(&id), &query).await
}

/// The list across partners: the latest complete match with each.
pub(super) async fn all_overlaps(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    list_page(&state, &signed, None, &query).await
}

async fn list_page(state: &AppState, signed: &Signed, id: Option<&str>, query: &ListQuery) -> PageResult {
    let org = signed.org();
    let asked = page_number(&query.page)?;
    let source = Source::open(state, org, id, query).await?;
    let scope = source.scope();
    let filter = &source.filter;
    // Pairs and the accounts behind them, counted in one pass — unless that means reading
    // every partner's rows under a filter: then they are counted in the background, for the
    // next reader, and this page says so.
    let counts = state.store.report_counts_kept(org, scope, filter).await?;
    if counts.is_none() {
        crate::service::runs::count_soon(&state.store, org, filter);
    }
    let (mut page, mut offset) = (asked, (asked - 1).saturating_mul(u64::from(PAGE_ROWS)));
    if let Some((total, _)) = counts.filter(|(total, _)| *total > 0 && offset >= *total) {
        // Past the end: the last page.
        page = total.div_ceil(u64::from(PAGE_ROWS));
        offset = (page - 1) * u64::from(PAGE_ROWS);
    }
    // Next and previous pages start from a row (`after`, `before`): indexes are read from
    // there, however deep the page. Uncounted, one row more tells whether there is a next page.
    let start = query.start(offset);
    let extra = u32::from(counts.is_none() && !matches!(start, ReportStart::Before(_)));
    let read = state.store.report_rows_at(org, scope, filter, &start, PAGE_ROWS + extra, counts.map(|c| c.0)).await;
    let (mut rows, too_deep) = match read {
        Err(e @ StoreError::TooDeep(_)) => (Vec::new(), Some(e.to_string())),
        read => (read?, None),
    };
    let (more, deep) = (rows.len() > PAGE_ROWS as usize, too_deep.is_some());
    rows.truncate(PAGE_ROWS as usize);
    let (first_row, last_row) = (rows.first().map(ReportRow::cursor), rows.last().map(ReportRow::cursor));
    let (partner, pid) = source
        .one
        .as_ref()
        .map_or_else(|| (String::new(), String::new()), |(p, _)| (p.partner_name.clone(), p.id.to_string()));
    let base = if pid.is_empty() { "/overlaps".to_owned() } else { format!("/partners/{pid}/overlaps") };
    let sort = query.sort();
    let desc = query.desc == "1";
    let headers = page_columns(source.across(), &source.fields)
        .into_iter()
        .map(|c| Header {
            href: c.sort.as_ref().map(|b| query.href(&base, b, *b == sort && !desc, 1)),
            sort: c.sort.as_ref().filter(|b| **b == sort).map(|_| if desc { "descending" } else { "ascending" }),
            label: c.label,
        })
        .collect();
    let shown = rows.len() as u64;
    let filtered =
        *filter != ReportFilter { sort: filter.sort.clone(), descending: filter.descending, ..baseline(&source) };
    let with = if partner.is_empty() { "your partners".to_owned() } else { partner.clone() };
    let empty = match (source.lost, filtered) {
        (true, _) if !source.has_previous => format!("No earlier match with {with} to compare with: nothing lost yet."),
        (true, false) => {
            format!("No accounts lost: every account that overlapped with {with} in the previous match still does.")
        }
        (true, true) => "No lost accounts match these filters.".to_owned(),
        (false, true) => "No overlapping accounts match these filters.".to_owned(),
        (false, false) if partner.is_empty() && source.partners.is_empty() => {
            "No complete match with any partner yet: there is nothing to list.".to_owned()
        }
        (false, false) => format!("No overlapping accounts with {with} in the latest match."),
    };
    let empty = match (too_deep, counts) {
        (Some(too_deep), _) => too_deep,
        (None, None) if page > 1 => format!("Page {page} is past the end of the list."),
        _ => empty,
    };
    let shown_to = offset + shown;
    let showing = match counts {
        None if shown == 0 => empty.clone(),
        None => format!(
            "Showing {}–{} of the pairs (your accounts, each with a record of {with} it matches). \
             Counting all of them under these filters takes a while across every partner: it is under \
             way, and the totals show when you reload the page.",
            thousands(offset + 1),
            thousands(shown_to),
        ),
        Some((0, _)) => empty.clone(),
        Some((total, accounts)) => {
            // A row is a pair (your account, a record of the partner's): say how many accounts too.
            format!(
                "Showing {}–{} of {} pair{} ({} of your accounts, each with the records of {with} it matches)",
                thousands(offset + 1),
                thousands(shown_to),
                thousands(total),
                if total == 1 { "" } else { "s" },
                thousands(accounts),
            )
        }
    };
    // One partner's list says how many accounts were lost since the previous match.
    let lost = match (&source.one, &source.previous, source.lost) {
        (Some((_, run)), Some(previous), false) => {
            let gone = ReportFilter { gone_from: Some(run.id.clone()), ..ReportFilter::default() };
            let n = state.store.report_accounts_in(org, ReportScope::Run(previous), &gone).await?;
            let href = ListQuery { new: "lost".into(), tier: "all".into(), ..ListQuery::default() };
            (n > 0).then(|| (thousands(n), href.href(&base, &ReportSort::Account, false, 1)))
        }
        _ => None,
    };
    let field_filters = source
        .fields
        .iter()
        .map(|f| FieldFilter {
            param: format!("{FIELD_PARAM}{f}"),
            label: field_label(f),
            value: query.rest.get(&format!("{FIELD_PARAM}{f}")).cloned().unwrap_or_default(),
        })
        .collect();
    let owners = state.store.report_owners_in(org, scope).await?;
    let page_view = OverlapsPage {
        chrome: signed.chrome(state).await?,
        partner,
        pid,
        action: base.clone(),
        filter: FilterView {
            own: query.own.clone(),
            partner: query.partner.clone(),
            owner: query.owner.clone(),
            q: query.q.clone(),
            changed: if source.lost {
                "lost".into()
            } else if filter.new_only {
                "1".into()
            } else {
                String::new()
            },
            partnership: query.partnership.clone(),
            sort: sort.name(),
            desc,
            tier: query.tier_name(),
        },
        own_segments: source.own_segments.clone(),
        partner_segments: source.partner_segments.clone(),
        owners,
        partners: source.partners.clone(),
        field_filters,
        has_previous: source.has_previous,
        headers,
        rows: rows.into_iter().map(|r| list_row(r, &source.registrations, &source.fields, source.lost)).collect(),
        showing,
        empty,
        lost,
        prev: (page > 1).then(|| match (&first_row, page > 2) {
            (Some(row), true) => query.href_from(&base, &sort, desc, page - 1, row, false),
            _ => query.href(&base, &sort, desc, page - 1),
        }),
        next: counts.map_or(more || matches!(start, ReportStart::Before(_)), |(total, _)| shown_to < total).then(
            || match &last_row {
                Some(row) => query.href_from(&base, &sort, desc, page + 1, row, true),
                None => query.href(&base, &sort, desc, page + 1),
            },
        ),
        csv: query.href(&format!("{base}.csv"), &sort, desc, 1),
        here: query.href(&base, &sort, desc, page),
        corrected: match CorrectionId::parse(&query.corrected) {
            Some(id) => state
                .store
                .correction(org, &id)
                .await
                .ok()
                .filter(|c| source.one.as_ref().is_none_or(|(p, _)| p.id == c.partnership) && c.removed_at.is_none())
                .and_then(|c| {
                    let name = source.partners.iter().find(|(p, _)| *p == c.partnership.as_str()).map(|(_, n)| n);
                    let partner = source.one.as_ref().map(|(p, _)| &p.partner_name).or(name)?.clone();
                    Some((c.account_name.unwrap_or(c.account_id), c.partnership.to_string(), partner))
                }),
            None => None,
        },
    };
    let status = if deep { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(html(status, &page_view))
}

/// The filter a list has with nothing chosen: what "these filters" are compared with.
fn baseline(source: &Source) -> ReportFilter {
    let mut none = ListQuery::default().filter(None);
    none.previous = source.filter.previous.clone();
    none.gone_from = source.filter.gone_from.clone();
    if source.lost {
        // The lost accounts are listed whatever their tier was (`lost` links with `tier=all`).
        none.tier = None;
    }
    none
}

/// One partner's list as CSV: every row the filters select, in the list's order, with its columns.
pub(super) async fn overlaps_csv(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    list_csv(&state, &signed, Some(&id), &query).await
}

/// The list across partners as CSV.
pub(super) async fn all_overlaps_csv(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    list_csv(&state, &signed, None, &query).await
}

async fn list_csv(state: &AppState, signed: &Signed, id: Option<&str>, query: &ListQuery) -> PageResult {
    let org = signed.org();
    let source = Source::open(state, org, id, query).await?;
    let across = source.across();
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Invalid(format!("cannot write the CSV: {e}"));
    out.write_record(csv_columns(across, &source.fields)).map_err(csv_error)?;
    let mut failed = None;
    let rows = state
        .store
        .report_each_in(org, source.scope(), &source.filter, |row| {
            let cells = list_row(row, &source.registrations, &source.fields, source.lost).csv(across);
            if failed.is_none()
                && let Err(e) = out.write_record(cells.iter().map(|c| csv_safe(c).into_owned()))
            {
                failed = Some(e);
            }
        })
        .await?;
    if let Some(e) = failed {
        return Err(csv_error(e).into());
    }
    let body = out.into_inner().map_err(|e| csv_error(e.into_error().into()))?;
    let (detail, name) = match &source.one {
        Some((partnership, run)) => (
            serde_json::json!({ "partnership": partnership.id.as_str(), "run": run.id.as_str(), "rows": rows,
                                "lost": source.lost }),
            format!("overlaps-{}.csv", partnership.partner_name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
        ),
        None => (serde_json::json!({ "partnership": null, "rows": rows }), "overlaps-all-partners.csv".to_owned()),
    };
    state.store.record_audit(org, &signed.user().name, "report.exported", &detail).await?;
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    secure_headers(h);
    Ok(response)
}

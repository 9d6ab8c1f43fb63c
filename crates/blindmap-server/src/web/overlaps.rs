//! The overlap list — filtered, sorted and paged in the database — and its CSV export.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use blindmap_store::{CorrectionId, Direction, OrgId, Partnership, ReportFilter, ReportRow, ReportSort, Run, Tier};
use serde::Deserialize;

use super::format::{csv_safe, pct, thousands};
use super::partners::partner_and_run;
use super::session::{Signed, page_number};
use super::{Chrome, PAGE_ROWS, PageResult, html, secure_headers};
use crate::AppState;
use crate::api::runs::RunResult;
use crate::http::error::ApiError;
use crate::service::runs::result_of;

/// The list's filters as the page's query has them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct ListQuery {
    #[serde(default)]
    pub(super) own: String,
    #[serde(default)]
    pub(super) partner: String,
    #[serde(default)]
    pub(super) owner: String,
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) new: String,
    #[serde(default)]
    pub(super) sort: String,
    #[serde(default)]
    pub(super) desc: String,
    /// `confirmed` (the default), `possible` or `all`.
    #[serde(default)]
    pub(super) tier: String,
    /// Read by `page_number`: a page that is not a number gets a clear page, not a bare 400.
    #[serde(default)]
    pub(super) page: String,
    /// The correction just made from this list (`mc_…`), to say what was hidden and where to undo it.
    #[serde(default)]
    pub(super) corrected: String,
}

/// The filters as the template shows them.
pub(super) struct FilterView {
    pub(super) own: String,
    pub(super) partner: String,
    pub(super) owner: String,
    pub(super) q: String,
    pub(super) new_only: bool,
    pub(super) sort: &'static str,
    pub(super) desc: bool,
    pub(super) tier: &'static str,
}

impl ListQuery {
    /// The tier the list shows: confirmed unless the query asks for possible or all.
    pub(super) fn tier(&self) -> Option<Tier> {
        match self.tier.as_str() {
            "all" => None,
            other => Some(Tier::parse(other).unwrap_or(Tier::Confirmed)),
        }
    }

    pub(super) fn tier_name(&self) -> &'static str {
        self.tier().map_or("all", Tier::as_str)
    }

    pub(super) fn sort(&self) -> ReportSort {
        ReportSort::parse(&self.sort).unwrap_or_default()
    }

    pub(super) fn filter(&self, previous: Option<&Run>) -> ReportFilter {
        let set = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ReportFilter {
            own_segment: set(&self.own),
            partner_segment: set(&self.partner),
            owner: set(&self.owner),
            search: set(self.q.trim()),
            previous: previous.map(|r| r.id.clone()),
            new_only: self.new == "1" && previous.is_some(),
            sort: self.sort(),
            descending: self.desc == "1",
            account: None,
            tier: self.tier(),
        }
    }

    /// The query string of these filters with `sort`, `desc` and `page` as given.
    pub(super) fn href(&self, base: &str, sort: ReportSort, desc: bool, page: u64) -> String {
        let mut params: Vec<String> = Vec::new();
        for (name, value) in [("own", &self.own), ("partner", &self.partner), ("owner", &self.owner), ("q", &self.q)] {
            if !value.is_empty() {
                params.push(format!("{name}={}", pct(value)));
            }
        }
        if self.new == "1" {
            params.push("new=1".to_owned());
        }
        if self.tier() != Some(Tier::Confirmed) {
            params.push(format!("tier={}", self.tier_name()));
        }
        if sort != ReportSort::Account {
            params.push(format!("sort={}", sort.name()));
        }
        if desc {
            params.push("desc=1".to_owned());
        }
        if page > 1 {
            params.push(format!("page={page}"));
        }
        if params.is_empty() { base.to_owned() } else { format!("{base}?{}", params.join("&")) }
    }
}

/// The list's columns, the same on the page and in the CSV export.
pub(super) const HEADERS: [(&str, Option<ReportSort>); 12] = [
    ("Account", Some(ReportSort::Account)),
    ("Account ID", None),
    ("Your segment", Some(ReportSort::OwnSegment)),
    ("Owner", Some(ReportSort::Owner)),
    ("Their segment", Some(ReportSort::PartnerSegment)),
    ("What they share", None),
    ("Match", None),
    ("Why", None),
    ("Matched on", None),
    ("Co-sell", None),
    ("Registration", None),
    ("New since last match", None),
];

pub(super) struct ListRow {
    pub(super) account_id: String,
    pub(super) cells: Vec<String>,
    pub(super) cosell_form: Option<(String, u32)>,
    /// The key types the pair matched on, as a "Not this match" form sends them.
    pub(super) key_types: String,
}

pub(super) struct Header {
    pub(super) label: &'static str,
    pub(super) href: Option<String>,
    pub(super) sort: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "overlaps.html")]
pub(super) struct OverlapsPage {
    pub(super) chrome: Chrome,
    pub(super) partner: String,
    pub(super) pid: String,
    pub(super) filter: FilterView,
    pub(super) own_segments: Vec<String>,
    pub(super) partner_segments: Vec<String>,
    pub(super) owners: Vec<String>,
    pub(super) headers: Vec<Header>,
    pub(super) rows: Vec<ListRow>,
    pub(super) showing: String,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
    pub(super) csv: String,
    pub(super) here: String,
    /// The correction just made from this list: the account it hid.
    pub(super) corrected: Option<String>,
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
    let submitted = state.store.registrations_page(org, Some(Direction::Submitted), None, None, 1000).await?;
    Ok(submitted
        .into_iter()
        .filter(|s| s.partnership == partnership.id)
        .map(|s| {
            let state = s.registration.state.as_str().replace('_', " ");
            (s.registration.submission.customer_keys.into_iter().collect(), state)
        })
        .collect())
}

pub(crate) fn fields_text(fields: &BTreeMap<String, Option<String>>) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {}", v.as_deref().unwrap_or("–"))).collect::<Vec<_>>().join("; ")
}

/// The state of the registration (of `registrations_by_key`) on a row's account, if any: one
/// with a customer key in common.
pub(crate) fn registration_of(row: &ReportRow, registrations: &[(Vec<String>, String)]) -> Option<String> {
    registrations.iter().find(|(keys, _)| keys.iter().any(|k| row.keys.contains(k))).map(|(_, s)| s.clone())
}

pub(super) fn list_row(row: ReportRow, registrations: &[(Vec<String>, String)]) -> ListRow {
    let registration = registration_of(&row, registrations).unwrap_or_default();
    let cosell = row.cosell.as_ref().map_or_else(String::new, |(_, status)| status.clone());
    let cosell_form = match (&row.cosell, row.partner_record) {
        (None, Some(record)) => Some((row.partner_segment.clone(), record)),
        _ => None,
    };
    let cells = vec![
        row.name.clone().unwrap_or_else(|| row.account_id.clone()),
        row.account_id.clone(),
        row.own_segment.clone(),
        row.owner.clone().unwrap_or_default(),
        row.partner_segment.clone(),
        fields_text(&row.partner_fields),
        row.tier.as_str().to_owned(),
        row.reason.clone(),
        row.key_types.join(", "),
        cosell,
        registration,
        match row.new {
            Some(true) => "new".to_owned(),
            Some(false) => String::new(),
            None => "first match".to_owned(),
        },
    ];
    ListRow { key_types: row.key_types.join(","), account_id: row.account_id, cells, cosell_form }
}

/// The segments of a run's result: own rows and the partner's columns.
pub(super) fn segments(result: Option<&RunResult>) -> (Vec<String>, Vec<String>) {
    let Some(result) = result else { return (Vec::new(), Vec::new()) };
    let own = result.rows.clone();
    let theirs = result.columns.iter().map(|c| c.segment.clone()).collect();
    (own, theirs)
}

pub(super) async fn overlaps(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let org = signed.org();
    let asked = page_number(&query.page)?;
    let Listing { partnership, run, filter, registrations, _slot } =
        listing(&state, org, &id, |p| query.filter(p)).await?;
    let (mut page, mut offset) = (asked, (asked - 1).saturating_mul(u64::from(PAGE_ROWS)));
    let (mut rows, total) = state.store.report_page(org, &run, &filter, offset, PAGE_ROWS).await?;
    if total > 0 && offset >= total {
        // Past the end: the last page.
        page = total.div_ceil(u64::from(PAGE_ROWS));
        offset = (page - 1) * u64::from(PAGE_ROWS);
        rows = state.store.report_page(org, &run, &filter, offset, PAGE_ROWS).await?.0;
    }
    let base = format!("/partners/{}/overlaps", partnership.id);
    let sort = query.sort();
    let desc = query.desc == "1";
    let headers = HEADERS
        .iter()
        .map(|(label, by)| Header {
            label,
            href: by.map(|b| query.href(&base, b, b == sort && !desc, 1)),
            sort: by.filter(|b| *b == sort).map(|_| if desc { "descending" } else { "ascending" }),
        })
        .collect();
    let shown = rows.len() as u64;
    let showing = if total == 0 {
        "No accounts match these filters.".to_owned()
    } else {
        // A row is a pair (your account, a record of the partner's): say how many accounts too.
        let accounts = state.store.report_accounts(org, &run, &filter).await?;
        format!(
            "Showing {}–{} of {} pair{} ({} of your accounts, each with the records of {} it matches)",
            thousands(offset + 1),
            thousands(offset + shown),
            thousands(total),
            if total == 1 { "" } else { "s" },
            thousands(accounts),
            partnership.partner_name
        )
    };
    let (own_segments, partner_segments) = segments(result_of(&run)?.as_ref());
    let page_view = OverlapsPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name.clone(),
        pid: partnership.id.to_string(),
        filter: FilterView {
            own: query.own.clone(),
            partner: query.partner.clone(),
            owner: query.owner.clone(),
            q: query.q.clone(),
            new_only: filter.new_only,
            sort: sort.name(),
            desc,
            tier: query.tier_name(),
        },
        own_segments,
        partner_segments,
        owners: state.store.report_owners(org, &run).await?,
        headers,
        rows: rows.into_iter().map(|r| list_row(r, &registrations)).collect(),
        showing,
        prev: (page > 1).then(|| query.href(&base, sort, desc, page - 1)),
        next: (offset + shown < total).then(|| query.href(&base, sort, desc, page + 1)),
        csv: query.href(&format!("{base}.csv"), sort, desc, 1),
        here: query.href(&base, sort, desc, page),
        corrected: match CorrectionId::parse(&query.corrected) {
            Some(id) => state
                .store
                .correction(org, &id)
                .await
                .ok()
                .filter(|c| c.partnership == partnership.id && c.removed_at.is_none())
                .map(|c| c.account_name.unwrap_or(c.account_id)),
            None => None,
        },
    };
    Ok(html(StatusCode::OK, &page_view))
}

/// The list as CSV: every row the filters select, in the list's order, with its columns.
pub(super) async fn overlaps_csv(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let org = signed.org();
    let Listing { partnership, run, filter, registrations, _slot } =
        listing(&state, org, &id, |p| query.filter(p)).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Invalid(format!("cannot write the CSV: {e}"));
    out.write_record(HEADERS.iter().map(|(label, _)| *label)).map_err(csv_error)?;
    let mut failed = None;
    let rows = state
        .store
        .report_each(org, &run, &filter, |row| {
            let cells = list_row(row, &registrations).cells;
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
    let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "run": run.id.as_str(), "rows": rows });
    state.store.record_audit(org, &signed.user().name, "report.exported", &detail).await?;
    let name = format!("overlaps-{}.csv", partnership.partner_name.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    secure_headers(h);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use blindmap_store::ReportSort;

    use super::ListQuery;

    #[test]
    fn a_list_link_keeps_its_filters() {
        let q = ListQuery { own: "customers".into(), q: "a b".into(), ..ListQuery::default() };
        assert_eq!(q.href("/l", ReportSort::Owner, true, 2), "/l?own=customers&q=a%20b&sort=owner&desc=1&page=2");
    }
}

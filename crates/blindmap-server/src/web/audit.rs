//! The audit trail (admins): what was revealed to whom, by whom and when — filtered by partner,
//! action and time, paged newest first, and exported as CSV with the same filters.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use blindmap_store::{AuditEvent, AuditFilter, OrgId, PartnershipId};
use serde::Deserialize;

use super::format::{csv_safe, pct};
use super::manage::only_admins;
use super::session::{Signed, bad_request};
use super::{Chrome, PAGE_ROWS, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;

/// The most events one CSV export holds: narrow the filters for more.
pub(crate) const MAX_EXPORT: usize = 100_000;

/// The actions the filter offers: an event kind's first part, with how people read it.
const ACTIONS: [(&str, &str); 13] = [
    ("", "Any action"),
    ("dataset", "Datasets: imported, activated, deleted"),
    ("partnership", "Partnerships: invited, accepted, ended"),
    ("sharing", "Sharing changed"),
    ("match", "Matches: started, revealed, learned"),
    ("registration", "Deal registrations"),
    ("cosell", "Co-sell records"),
    ("attribution", "Attribution"),
    ("correction", "Corrections"),
    ("hook", "Webhooks"),
    ("user", "Users"),
    ("token", "Tokens"),
    ("web", "Sign-ins"),
];

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    cursor: String,
}

/// A day as the date inputs give it, `YYYY-MM-DD` (empty: none), as Unix milliseconds at its
/// start; `until` days count whole (up to the next day's start).
fn day(text: &str, what: &str, whole: bool) -> Result<Option<i64>, PageError> {
    if text.is_empty() {
        return Ok(None);
    }
    let start = blindmap_cosell::time::parse(text)
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| bad_request(&format!("{what} is a date, YYYY-MM-DD")))?;
    Ok(Some(if whole { start + 86_400_000 } else { start }))
}

/// The filter a query asks for, and the partners by id (for the partner filter and names).
async fn filter_of(
    state: &AppState,
    org: &OrgId,
    q: &AuditQuery,
) -> Result<(AuditFilter, BTreeMap<String, String>), PageError> {
    let partners: BTreeMap<String, String> =
        state.store.partnerships(org).await?.into_iter().map(|p| (p.id.to_string(), p.partner_name)).collect();
    if !ACTIONS.iter().any(|(v, _)| *v == q.action) {
        return Err(bad_request("action must be one the filter offers"));
    }
    let partner = match q.partner.as_str() {
        "" => None,
        id => {
            PartnershipId::parse(id).ok_or_else(|| bad_request("partner must be one the filter offers"))?;
            let name = partners.get(id).ok_or(PageError(ApiError::NotFound("partner")))?;
            Some((id.to_owned(), name.clone()))
        }
    };
    let filter = AuditFilter {
        kind: (!q.action.is_empty()).then(|| q.action.clone()),
        partner,
        since: day(&q.since, "since", false)?,
        until: day(&q.until, "until", true)?,
    };
    Ok((filter, partners))
}

/// The partner an event is about, by name: its `partner`, else its partnership's.
fn partner_of(e: &AuditEvent, partners: &BTreeMap<String, String>) -> String {
    if let Some(name) = e.detail.get("partner").and_then(|v| v.as_str()) {
        return name.to_owned();
    }
    e.detail.get("partnership").and_then(|v| v.as_str()).and_then(|id| partners.get(id)).cloned().unwrap_or_default()
}

pub(super) struct EventRow {
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) kind: String,
    pub(super) partner: String,
    pub(super) detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub(super) struct AuditPage {
    pub(super) chrome: Chrome,
    pub(super) action: String,
    pub(super) partner: String,
    pub(super) since: String,
    pub(super) until: String,
    pub(super) partners: Vec<(String, String)>,
    pub(super) events: Vec<EventRow>,
    pub(super) older: Option<String>,
    /// The first page with these filters.
    pub(super) newest: String,
    pub(super) csv: String,
    pub(super) first_page: bool,
}

impl AuditPage {
    fn actions(&self) -> &'static [(&'static str, &'static str)] {
        &ACTIONS
    }

    fn is_action(&self, value: &str) -> bool {
        self.action == value
    }

    fn is_partner(&self, value: &str) -> bool {
        self.partner == value
    }
}

fn query_string(q: &AuditQuery) -> String {
    format!("action={}&partner={}&since={}&until={}", pct(&q.action), pct(&q.partner), pct(&q.since), pct(&q.until))
}

pub(super) async fn audit_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    only_admins(&signed)?;
    let org = signed.org();
    let (filter, partners) = filter_of(&state, org, &q).await?;
    let after = (!q.cursor.is_empty()).then_some(q.cursor.as_str());
    let mut events = state.store.audit_filtered(org, &filter, after, PAGE_ROWS + 1).await?;
    let older = (events.len() > PAGE_ROWS as usize).then(|| {
        events.truncate(PAGE_ROWS as usize);
        format!("/audit?{}&cursor={}", query_string(&q), pct(&events[events.len() - 1].id))
    });
    let rows = events
        .iter()
        .map(|e| EventRow {
            at: crate::rfc3339(e.at),
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            partner: partner_of(e, &partners),
            detail: e.detail.to_string(),
        })
        .collect();
    let page = AuditPage {
        chrome: signed.chrome(&state).await?.at("/audit"),
        csv: format!("/audit.csv?{}", query_string(&q)),
        newest: format!("/audit?{}", query_string(&q)),
        action: q.action,
        partner: q.partner,
        since: q.since,
        until: q.until,
        partners: partners.into_iter().collect(),
        events: rows,
        older,
        first_page: q.cursor.is_empty(),
    };
    Ok(html(StatusCode::OK, &page))
}

/// The filtered trail as CSV: at, actor, action, partner, detail (JSON), newest first.
pub(super) async fn audit_csv(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    only_admins(&signed)?;
    let org = signed.org();
    let (filter, partners) = filter_of(&state, org, &q).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Invalid(format!("cannot write the CSV: {e}"));
    out.write_record(["at", "actor", "action", "partner", "detail"]).map_err(csv_error)?;
    let mut after: Option<String> = None;
    let mut written = 0usize;
    loop {
        let page = state.store.audit_filtered(org, &filter, after.as_deref(), 1000).await?;
        for e in &page {
            if written == MAX_EXPORT {
                break;
            }
            let cells =
                [crate::rfc3339(e.at), e.actor.clone(), e.kind.clone(), partner_of(e, &partners), e.detail.to_string()];
            out.write_record(cells.iter().map(|c| csv_safe(c).into_owned())).map_err(csv_error)?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == 1000 && written < MAX_EXPORT => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let body = out.into_inner().map_err(|e| csv_error(e.into_error().into()))?;
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"blindmap-audit.csv\""));
    super::secure_headers(h);
    Ok(response)
}

//! The ecosystem in the browser: your accounts that several partners have, by a priority whose
//! formula the page states (`service::ecosystem`), and starting a co-sell record with the
//! partner chosen on an account's page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::format::{pct, thousands};
use super::session::{Signed, page_number};
use super::{Chrome, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::ecosystem::{self as service, AmountChoice, FORMULA, Options};

/// Accounts per page.
const ROWS: u32 = 50;

/// The page's filters, as its form sends them.
#[derive(Deserialize, Default)]
pub(super) struct EcosystemParams {
    /// The minimum number of partners (default 2).
    #[serde(default)]
    min: Option<String>,
    /// Your segment (empty: any).
    #[serde(default)]
    own: Option<String>,
    /// The amount field: absent, the default rule; empty, none.
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

pub(super) struct PartnerCell {
    pub(super) name: String,
    pub(super) segments: String,
}

pub(super) struct Row {
    pub(super) href: String,
    pub(super) account: String,
    pub(super) account_id: String,
    pub(super) own_segment: String,
    pub(super) partner_count: u32,
    pub(super) partners: Vec<PartnerCell>,
    pub(super) amount: String,
    pub(super) priority: String,
}

#[derive(Template)]
#[template(path = "ecosystem.html")]
pub(super) struct EcosystemPage {
    pub(super) chrome: Chrome,
    pub(super) formula: &'static str,
    pub(super) min: u32,
    pub(super) own: String,
    pub(super) own_segments: Vec<String>,
    pub(super) fields: Vec<String>,
    pub(super) amount_field: Option<String>,
    pub(super) rows: Vec<Row>,
    pub(super) total: u64,
    pub(super) with_amount: u64,
    pub(super) showing: String,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
}

impl EcosystemPage {
    fn is_amount_field(&self, field: &str) -> bool {
        self.amount_field.as_deref() == Some(field)
    }
}

pub(super) async fn ecosystem_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(params): Query<EcosystemParams>,
) -> PageResult {
    let org = signed.org();
    let min = match params.min.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => 2,
        Some(m) => m.parse::<u32>().map_err(|_| ApiError::Invalid("min_partners is a number of partners".into()))?,
    };
    let page = page_number(params.page.as_deref().unwrap_or(""))?;
    let own = params.own.clone().unwrap_or_default();
    let options = Options {
        min_partners: min,
        own_segment: Some(own.clone()).filter(|s| !s.is_empty()),
        amount: AmountChoice::from_param(params.amount.as_deref()),
        offset: (page - 1).saturating_mul(u64::from(ROWS)),
        limit: ROWS,
    };
    let found = service::ecosystem(&state.store, org, &options).await?;
    let own_segments = match state.store.active_dataset(org).await? {
        Some(d) => d.segments().into_iter().map(|(s, _)| s.to_owned()).collect(),
        None => Vec::new(),
    };
    let rows: Vec<Row> = found
        .items
        .into_iter()
        .map(|a| Row {
            href: format!("/accounts/{}", pct(&a.account_id)),
            account: a.name.clone().unwrap_or_else(|| a.account_id.clone()),
            account_id: a.account_id,
            own_segment: a.own_segment,
            partner_count: a.partner_count,
            partners: a
                .partners
                .into_iter()
                .map(|p| PartnerCell { name: p.partner_name, segments: p.partner_segments.join(", ") })
                .collect(),
            amount: match (a.amount, a.amount_text) {
                (Some(x), _) => x.grouped(),
                (None, Some(text)) => format!("unreadable: {text}"),
                (None, None) => "none".to_owned(),
            },
            priority: a.priority.text(),
        })
        .collect();
    let href = |p: u64| {
        let mut q = format!("/ecosystem?min={min}&own={}", pct(&own));
        match (&params.amount, &found.amount_field) {
            (None, _) => {}
            (Some(_), Some(f)) => q.push_str(&format!("&amount={}", pct(f))),
            (Some(_), None) => q.push_str("&amount="),
        }
        if p > 1 {
            q.push_str(&format!("&page={p}"));
        }
        q
    };
    let first = options.offset + 1;
    let last = options.offset + rows.len() as u64;
    let showing = if rows.is_empty() {
        "No accounts".to_owned()
    } else {
        format!("Accounts {}–{} of {}", thousands(first), thousands(last), thousands(found.total))
    };
    let prev = (page > 1).then(|| href(page - 1));
    let next = (last < found.total).then(|| href(page + 1));
    let page = EcosystemPage {
        chrome: signed.chrome(&state).await?.at("/ecosystem"),
        formula: FORMULA,
        min,
        own,
        own_segments,
        fields: found.fields,
        amount_field: found.amount_field,
        rows,
        total: found.total,
        with_amount: found.with_amount,
        showing,
        prev,
        next,
    };
    Ok(html(StatusCode::OK, &page))
}

/// The "Start co-sell" form of an account's page.
#[derive(Deserialize)]
pub(super) struct StartForm {
    csrf: String,
    partnership: String,
}

/// Starts a co-sell record on the account with the chosen partner, through the same service
/// function as a co-sell from an overlap list, and goes to the record.
pub(super) async fn start_cosell(
    State(state): State<AppState>,
    signed: Signed,
    Path(account): Path<String>,
    axum::Form(form): axum::Form<StartForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let id = service::start_cosell(
        &state.store,
        state.node()?,
        signed.org(),
        &signed.user().name,
        &account,
        &form.partnership,
    )
    .await?;
    Ok(Redirect::to(&format!("/cosell/{id}")).into_response())
}

//! Partner attribution in the browser: the pipeline summary per partner over a period, the
//! touches (listed by opportunity or partner, and recorded from a form), closing an opportunity
//! won, the ledger, an opportunity's page (its touches, its close and credits, re-scored under
//! another model side by side with the record) and the model in force. Every role reads; admins
//! and integration users record touches and close, admins set the model — as the API allows.
//! The same service functions as the API's (`service::attribution`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_cosell::attribution::{Attribution, Model};
use blindmap_cosell::money::Money;
use blindmap_store::{LedgerCursor, Role, StoredTouch, TouchId};
use serde::Deserialize;

use super::format::pct;
use super::manage::only_admins;
use super::session::Signed;
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::api::attribution::{OpportunityClose, TouchInput};
use crate::http::error::ApiError;
use crate::service::attribution::{self as service, Amounts, MODEL_NAMES, PIPELINE_RULE, Period};

/// Rows a list page shows (the next page through its cursor).
const ROWS: u32 = 100;

/// Touches an opportunity's page lists.
const OPPORTUNITY_TOUCHES: u32 = 500;

/// The touch kinds as the forms offer them.
const KINDS: [&str; 4] = ["sourced", "referral", "influenced", "co_selling"];

/// The models as the forms offer them.
const MODELS: [&str; 7] = ["categorical", "first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped"];

/// Whether the user may record touches and close opportunities (as the API: admins and
/// integration users).
fn may_write(signed: &Signed) -> bool {
    matches!(signed.user().role, Role::Admin | Role::Integration)
}

/// Refuses a form that writes unless posted with the session's CSRF token by a user who may.
fn writer(signed: &Signed, csrf: &str) -> Result<(), PageError> {
    signed.check(csrf)?;
    if may_write(signed) { Ok(()) } else { Err(PageError(ApiError::Forbidden(signed.user().role.as_str()))) }
}

/// An amount as people read it: `48000.00 EUR`.
fn money(m: &Money) -> String {
    m.to_string()
}

/// A date the node keeps, as people read it (a date alone at midnight UTC).
fn day(ms: i64) -> String {
    blindmap_cosell::time::format_for_people(ms)
}

/// A date for an `<input type="date">`: `YYYY-MM-DD`.
fn input_date(ms: i64) -> String {
    crate::rfc3339(ms).chars().take(10).collect()
}

/// The midnight that ends the day `ms` falls in (`ms` itself at midnight): a period up to now
/// is shown as ending with tomorrow's date, so that the form sent again still counts today.
fn end_day(ms: i64) -> i64 {
    const DAY: i64 = 86_400_000;
    match ms.rem_euclid(DAY) {
        0 => ms,
        into => ms - into + DAY,
    }
}

/// Where an opportunity's page is.
fn opportunity_href(opportunity: &str) -> String {
    format!("/attribution/opportunities/{}", pct(opportunity))
}

/// Amounts as the summary shows them: one line per currency, and how many have none.
pub(super) struct Cell {
    pub(super) lines: Vec<String>,
    pub(super) reported: Vec<String>,
    pub(super) count: u32,
    pub(super) unknown: u32,
}

impl From<&Amounts> for Cell {
    fn from(a: &Amounts) -> Self {
        Self {
            lines: a.money().iter().map(money).collect(),
            reported: a.reported_money().iter().map(money).collect(),
            count: a.count,
            unknown: a.unknown,
        }
    }
}

pub(super) struct SummaryRow {
    pub(super) partner: String,
    pub(super) href: String,
    pub(super) sourced: Cell,
    pub(super) influenced: Cell,
    pub(super) won_sourced: Cell,
    pub(super) won_influenced: Cell,
    pub(super) won_credited: Cell,
}

impl SummaryRow {
    fn cells(&self) -> [&Cell; 5] {
        [&self.sourced, &self.influenced, &self.won_sourced, &self.won_influenced, &self.won_credited]
    }
}

#[derive(Template)]
#[template(path = "attribution.html")]
pub(super) struct SummaryPage {
    pub(super) chrome: Chrome,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) period: String,
    pub(super) rule: &'static str,
    pub(super) rows: Vec<SummaryRow>,
    pub(super) may_write: bool,
    pub(super) problem: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PeriodForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `/attribution`: the pipeline summary over a period (default: the last 90 days).
pub(super) async fn summary_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(form): Query<PeriodForm>,
) -> PageResult {
    let chrome = signed.chrome(&state).await?.at("/attribution");
    let (from, to) = (form.from.trim(), form.to.trim());
    // A blank date field is the default, as if the form had left it out.
    fn given(text: &str) -> Option<&str> {
        Some(text).filter(|t| !t.is_empty())
    }
    let period = match Period::parse(given(from), given(to), crate::now_ms()) {
        Ok(p) => p,
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            let page = SummaryPage {
                chrome,
                from: from.to_owned(),
                to: to.to_owned(),
                period: String::new(),
                rule: PIPELINE_RULE,
                rows: Vec::new(),
                may_write: may_write(&signed),
                problem: Some(text),
            };
            return Ok(html(status, &page));
        }
    };
    let summary = service::pipeline(&state.store, signed.org(), period).await?;
    let rows = summary
        .partners
        .iter()
        .map(|p| SummaryRow {
            partner: p.partner.clone(),
            href: format!("/attribution/touches?partner={}", pct(&p.partner)),
            sourced: (&p.sourced).into(),
            influenced: (&p.influenced).into(),
            won_sourced: (&p.won_sourced).into(),
            won_influenced: (&p.won_influenced).into(),
            won_credited: (&p.won_credited).into(),
        })
        .collect();
    let page = SummaryPage {
        chrome,
        from: input_date(period.from),
        to: input_date(end_day(period.to)),
        period: format!("{} to {} (not included)", crate::rfc3339(period.from), crate::rfc3339(period.to)),
        rule: PIPELINE_RULE,
        rows,
        may_write: may_write(&signed),
        problem: None,
    };
    Ok(html(StatusCode::OK, &page))
}

pub(super) struct TouchRow {
    pub(super) opportunity: String,
    pub(super) href: String,
    pub(super) partner: String,
    pub(super) kind: &'static str,
    pub(super) at: String,
    pub(super) amount: String,
    pub(super) actor: String,
    pub(super) source: String,
}

impl From<&StoredTouch> for TouchRow {
    fn from(t: &StoredTouch) -> Self {
        Self {
            href: opportunity_href(&t.opportunity),
            opportunity: t.opportunity.clone(),
            partner: t.touch.partner.clone(),
            kind: service::kind_name(t.touch.kind),
            at: day(t.touch.at),
            amount: t.amount.as_ref().map(money).unwrap_or_default(),
            actor: t.touch.actor.clone(),
            source: t.source.clone(),
        }
    }
}

/// What the touch form holds, kept when it is refused.
#[derive(Deserialize, Default)]
pub(super) struct TouchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    opportunity: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
}

#[derive(Template)]
#[template(path = "attribution_touches.html")]
pub(super) struct TouchesPage {
    pub(super) chrome: Chrome,
    pub(super) opportunity: String,
    pub(super) partner: String,
    pub(super) rows: Vec<TouchRow>,
    pub(super) next: Option<String>,
    pub(super) may_write: bool,
    pub(super) partners: Vec<String>,
    pub(super) kinds: &'static [&'static str],
    pub(super) form: TouchForm,
    pub(super) problem: Option<String>,
}

impl TouchesPage {
    fn is_kind(&self, kind: &str) -> bool {
        self.form.kind == kind
    }
}

#[derive(Deserialize)]
pub(super) struct TouchQuery {
    #[serde(default)]
    opportunity: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    cursor: String,
}

/// Names of the organisation's partners (from its partnerships), for the form's suggestions.
async fn partner_names(state: &AppState, signed: &Signed) -> Result<Vec<String>, PageError> {
    let mut names: Vec<String> =
        state.store.partnerships(signed.org()).await?.into_iter().map(|p| p.partner_name).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

async fn touches_view(
    state: &AppState,
    signed: &Signed,
    query: &TouchQuery,
    form: TouchForm,
    problem: Option<String>,
) -> Result<(StatusCode, TouchesPage), PageError> {
    let chrome = signed.chrome(state).await?.at("/attribution");
    let (opportunity, partner) = (query.opportunity.trim(), query.partner.trim());
    let after = match query.cursor.as_str() {
        "" => None,
        text => Some(TouchId::parse(text).ok_or_else(|| super::session::bad_request("cursor is not a touch id"))?),
    };
    let (status, rows, next, problem) = match service::touches(
        &state.store,
        signed.org(),
        Some(opportunity).filter(|t| !t.is_empty()),
        Some(partner).filter(|t| !t.is_empty()),
        after.as_ref(),
        ROWS,
    )
    .await
    {
        Ok(items) => {
            let next = (items.len() == ROWS as usize).then(|| {
                format!(
                    "/attribution/touches?opportunity={}&partner={}&cursor={}",
                    pct(opportunity),
                    pct(partner),
                    items.last().map(|t| t.id.to_string()).unwrap_or_default()
                )
            });
            let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
            (status, items.iter().map(TouchRow::from).collect(), next, problem)
        }
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            (status, Vec::new(), None, Some(text))
        }
    };
    let page = TouchesPage {
        chrome,
        opportunity: opportunity.to_owned(),
        partner: partner.to_owned(),
        rows,
        next,
        may_write: may_write(signed),
        partners: partner_names(state, signed).await?,
        kinds: &KINDS,
        form,
        problem,
    };
    Ok((status, page))
}

/// `/attribution/touches`: the touches in the order they happened, by opportunity or partner.
pub(super) async fn touches_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<TouchQuery>,
) -> PageResult {
    let form =
        TouchForm { opportunity: query.opportunity.clone(), partner: query.partner.clone(), ..TouchForm::default() };
    let (status, page) = touches_view(&state, &signed, &query, form, None).await?;
    Ok(html(status, &page))
}

/// Records a touch from the form (admins and integration users), then lists the opportunity's.
pub(super) async fn record_touch(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<TouchForm>,
) -> PageResult {
    writer(&signed, &form.csrf)?;
    let text = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    let input = TouchInput {
        opportunity: form.opportunity.trim().to_owned(),
        partner: form.partner.trim().to_owned(),
        kind: form.kind.clone(),
        at: text(&form.at),
        actor: None,
        amount: text(&form.amount),
        currency: text(&form.currency).map(|c| c.to_ascii_uppercase()),
    };
    match service::record_touch(&state.store, signed.user(), &input, crate::now_ms()).await {
        Ok(t) => Ok(Redirect::to(&format!("/attribution/touches?opportunity={}", pct(&t.opportunity))).into_response()),
        Err(e) => {
            let (_, text) = ApiError::from(e).status_and_detail();
            let query = TouchQuery { opportunity: String::new(), partner: String::new(), cursor: String::new() };
            let (_, page) = touches_view(&state, &signed, &query, form, Some(text)).await?;
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// What the close form holds, kept when it is refused.
#[derive(Deserialize, Default)]
pub(super) struct CloseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    opportunity: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    created: String,
    #[serde(default)]
    closed: String,
    #[serde(default)]
    reporting: String,
    #[serde(default)]
    rate: String,
}

#[derive(Template)]
#[template(path = "attribution_close.html")]
pub(super) struct ClosePage {
    pub(super) chrome: Chrome,
    pub(super) model: String,
    pub(super) form: CloseForm,
    pub(super) problem: Option<String>,
}

async fn close_view(
    state: &AppState,
    signed: &Signed,
    form: CloseForm,
    problem: Option<String>,
) -> Result<ClosePage, PageError> {
    let (model, _) = service::model_in_force(&state.store, signed.org()).await?;
    Ok(ClosePage { chrome: signed.chrome(state).await?.at("/attribution"), model: model_text(&model), form, problem })
}

#[derive(Deserialize)]
pub(super) struct CloseQuery {
    #[serde(default)]
    opportunity: String,
}

/// `/attribution/close`: the form that closes an opportunity won (admins and integration users).
pub(super) async fn close_form(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<CloseQuery>,
) -> PageResult {
    if !may_write(&signed) {
        return Err(PageError(ApiError::Forbidden(signed.user().role.as_str())));
    }
    let form =
        CloseForm { opportunity: query.opportunity, closed: input_date(crate::now_ms()), ..CloseForm::default() };
    Ok(html(StatusCode::OK, &close_view(&state, &signed, form, None).await?))
}

/// Closes an opportunity won from the form, then shows its page with the credits.
pub(super) async fn close(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<CloseForm>,
) -> PageResult {
    writer(&signed, &form.csrf)?;
    let text = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    let body = OpportunityClose {
        won: None,
        amount: form.amount.trim().to_owned(),
        currency: form.currency.trim().to_ascii_uppercase(),
        closed_at: form.closed.trim().to_owned(),
        created_at: text(&form.created),
        reporting_currency: text(&form.reporting).map(|c| c.to_ascii_uppercase()),
        rate: text(&form.rate),
        model: None,
        half_life_days: None,
    };
    let opportunity = form.opportunity.trim().to_owned();
    let done = match body.terms() {
        Ok(terms) => service::close(&state.store, signed.user(), &opportunity, terms, crate::now_ms()).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(c) => Ok(Redirect::to(&opportunity_href(&c.opportunity)).into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &close_view(&state, &signed, form, Some(text)).await?))
        }
    }
}

pub(super) struct LedgerRow {
    pub(super) closed: String,
    pub(super) opportunity: String,
    pub(super) href: String,
    pub(super) partner: String,
    pub(super) model: String,
    pub(super) category: &'static str,
    pub(super) share: String,
    pub(super) amount: String,
    pub(super) reported: String,
}

/// A share in parts per million, as a percentage.
fn share(ppm: u32) -> String {
    format!("{}.{:02} %", ppm / 10_000, (ppm % 10_000) / 100)
}

#[derive(Template)]
#[template(path = "attribution_ledger.html")]
pub(super) struct LedgerPage {
    pub(super) chrome: Chrome,
    pub(super) partner: String,
    pub(super) rows: Vec<LedgerRow>,
    pub(super) next: Option<String>,
    pub(super) problem: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LedgerQuery {
    #[serde(default)]
    partner: String,
    #[serde(default)]
    cursor: String,
}

/// `/attribution/ledger`: every closed-won deal's credits, latest close first.
pub(super) async fn ledger_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<LedgerQuery>,
) -> PageResult {
    let chrome = signed.chrome(&state).await?.at("/attribution");
    let partner = query.partner.trim();
    let after = match query.cursor.as_str() {
        "" => None,
        text => Some(
            LedgerCursor::parse(text).ok_or_else(|| super::session::bad_request("cursor is not a ledger cursor"))?,
        ),
    };
    let (status, rows, next, problem) = match service::ledger(
        &state.store,
        signed.org(),
        Some(partner).filter(|p| !p.is_empty()),
        after.as_ref(),
        ROWS,
    )
    .await
    {
        Ok(items) => {
            let next = (items.len() == ROWS as usize).then(|| {
                let last = items.last().map(|e| LedgerCursor { opportunity: e.opportunity.clone(), seq: e.seq });
                format!(
                    "/attribution/ledger?partner={}&cursor={}",
                    pct(partner),
                    last.map(|c| c.to_text()).unwrap_or_default()
                )
            });
            let rows = items
                .iter()
                .map(|e| LedgerRow {
                    closed: day(e.closed_at),
                    href: opportunity_href(&e.opportunity),
                    opportunity: e.opportunity.clone(),
                    partner: e.partner.clone().unwrap_or_else(|| "(no partner)".to_owned()),
                    model: e.model.clone(),
                    category: match (&e.partner, e.category) {
                        (None, _) => "unattributed",
                        (Some(_), Some(blindmap_cosell::attribution::Category::Sourced)) => "sourced",
                        (Some(_), Some(blindmap_cosell::attribution::Category::Influenced)) => "influenced",
                        (Some(_), None) => "credited",
                    },
                    share: share(e.share_ppm),
                    amount: money(&e.amount),
                    reported: e.reported.as_ref().map(money).unwrap_or_default(),
                })
                .collect();
            (StatusCode::OK, rows, next, None)
        }
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            (status, Vec::new(), None, Some(text))
        }
    };
    Ok(html(status, &LedgerPage { chrome, partner: partner.to_owned(), rows, next, problem }))
}

/// A model as people read it.
fn model_text(model: &Model) -> String {
    match model {
        Model::TimeDecay { half_life_days } => format!("time_decay (half-life {half_life_days} days)"),
        m => m.name().to_owned(),
    }
}

pub(super) struct CreditRow {
    pub(super) partner: String,
    pub(super) category: String,
    pub(super) share: String,
    pub(super) amount: String,
    pub(super) reported: String,
}

fn credit_rows(a: &Attribution) -> Vec<CreditRow> {
    a.credits
        .iter()
        .map(|c| CreditRow {
            partner: c.partner.clone(),
            category: match c.category {
                Some(blindmap_cosell::attribution::Category::Sourced) => "sourced".to_owned(),
                Some(blindmap_cosell::attribution::Category::Influenced) => "influenced".to_owned(),
                None => String::new(),
            },
            share: share(c.share_ppm),
            amount: money(&c.amount),
            reported: c.reported.as_ref().map(money).unwrap_or_default(),
        })
        .collect()
}

/// A close as its page shows it.
pub(super) struct CloseShown {
    pub(super) amount: String,
    pub(super) created: String,
    pub(super) closed: String,
    pub(super) closed_by: String,
    pub(super) reporting: String,
    pub(super) model: String,
    pub(super) credits: Vec<CreditRow>,
    pub(super) unattributed: bool,
}

/// A partner's credit of record beside its credit under another model.
pub(super) struct Compared {
    pub(super) partner: String,
    pub(super) recorded_share: String,
    pub(super) recorded_amount: String,
    pub(super) share: String,
    pub(super) amount: String,
    pub(super) reported: String,
}

/// The same close re-scored under another model, beside the record.
pub(super) struct Rescored {
    pub(super) model: String,
    pub(super) rows: Vec<Compared>,
    pub(super) unattributed: bool,
}

/// The credits of record and those under another model, by partner: the record's partners in
/// its order, then any only the other model credits.
fn compared(recorded: &Attribution, other: &Attribution) -> Vec<Compared> {
    let mut partners: Vec<&str> = recorded.credits.iter().map(|c| c.partner.as_str()).collect();
    for c in &other.credits {
        if !partners.contains(&c.partner.as_str()) {
            partners.push(&c.partner);
        }
    }
    let none = || "none".to_owned();
    partners
        .into_iter()
        .map(|partner| {
            let of_record = recorded.credits.iter().find(|c| c.partner == partner);
            let theirs = other.credits.iter().find(|c| c.partner == partner);
            Compared {
                partner: partner.to_owned(),
                recorded_share: of_record.map_or_else(none, |c| share(c.share_ppm)),
                recorded_amount: of_record.map_or_else(none, |c| money(&c.amount)),
                share: theirs.map_or_else(none, |c| share(c.share_ppm)),
                amount: theirs.map_or_else(none, |c| money(&c.amount)),
                reported: theirs.and_then(|c| c.reported.as_ref()).map(money).unwrap_or_default(),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "attribution_opportunity.html")]
pub(super) struct OpportunityPage {
    pub(super) chrome: Chrome,
    pub(super) opportunity: String,
    pub(super) href: String,
    pub(super) close_href: String,
    pub(super) touches: Vec<TouchRow>,
    pub(super) close: Option<CloseShown>,
    pub(super) rescored: Option<Rescored>,
    pub(super) may_write: bool,
    pub(super) models: &'static [&'static str],
    pub(super) model: String,
    pub(super) half_life: String,
    pub(super) problem: Option<String>,
}

impl OpportunityPage {
    fn is_model(&self, model: &str) -> bool {
        self.model == model
    }
}

#[derive(Deserialize)]
pub(super) struct ScoreQuery {
    #[serde(default)]
    model: String,
    #[serde(default)]
    half_life_days: String,
}

/// `/attribution/opportunities/{opportunity}`: its touches, its close and credits if closed, and
/// (with `?model=`) the same close re-scored under another model, nothing changed. An
/// opportunity the organisation has neither touched nor closed is not found.
pub(super) async fn opportunity_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(opportunity): Path<String>,
    Query(query): Query<ScoreQuery>,
) -> PageResult {
    let org = signed.org();
    let touches = service::touches(&state.store, org, Some(&opportunity), None, None, OPPORTUNITY_TOUCHES).await?;
    let record = match service::closed(&state.store, org, &opportunity).await {
        Ok(r) => Some(r),
        Err(service::AttributionError::Store(blindmap_store::StoreError::NotFound(_))) => None,
        Err(e) => return Err(e.into()),
    };
    if touches.is_empty() && record.is_none() {
        return Err(PageError(ApiError::NotFound("opportunity")));
    }
    let (mut rescored, mut problem, mut status) = (None, None, StatusCode::OK);
    let model_name = query.model.trim();
    if let (Some(record), false) = (&record, model_name.is_empty()) {
        let half_life = match query.half_life_days.trim() {
            "" => Ok(None),
            days => {
                days.parse::<u32>().map(Some).map_err(|_| "half_life_days must be a whole number of days".to_owned())
            }
        };
        let chosen = half_life.and_then(|h| {
            service::model_choice(Some(model_name), if model_name == "time_decay" { h } else { None })
                .map_err(|e| e.to_string())
        });
        match chosen {
            Ok(Some(model)) => match blindmap_cosell::attribution::attribute(&model, &record.touches, &record.deal) {
                Ok(result) => {
                    rescored = Some(Rescored {
                        model: model_text(&model),
                        rows: compared(&record.result, &result),
                        unattributed: result.unattributed,
                    })
                }
                Err(e) => (problem, status) = (Some(e.to_string()), StatusCode::UNPROCESSABLE_ENTITY),
            },
            Ok(None) => {}
            Err(text) => (problem, status) = (Some(text), StatusCode::UNPROCESSABLE_ENTITY),
        }
    }
    let close = record.map(|r| CloseShown {
        amount: money(&r.deal.amount),
        created: day(r.deal.created_at),
        closed: day(r.deal.closed_at),
        closed_by: r.closed_by.clone(),
        reporting: r.deal.reporting.map(|(c, rate)| format!("{c} at {rate}")).unwrap_or_default(),
        model: model_text(&r.model),
        credits: credit_rows(&r.result),
        unattributed: r.result.unattributed,
    });
    let page = OpportunityPage {
        chrome: signed.chrome(&state).await?.at("/attribution"),
        close_href: format!("/attribution/close?opportunity={}", pct(&opportunity)),
        href: opportunity_href(&opportunity),
        opportunity,
        touches: touches.iter().map(TouchRow::from).collect(),
        close,
        rescored,
        may_write: may_write(&signed),
        models: &MODELS,
        model: model_name.to_owned(),
        half_life: query.half_life_days.trim().to_owned(),
        problem,
    };
    Ok(html(status, &page))
}

#[derive(Template)]
#[template(path = "attribution_settings.html")]
pub(super) struct SettingsPage {
    pub(super) chrome: Chrome,
    pub(super) model: String,
    pub(super) configured: bool,
    pub(super) is_admin: bool,
    pub(super) models: &'static [&'static str],
    pub(super) names: &'static str,
    pub(super) chosen: String,
    pub(super) half_life: String,
    pub(super) problem: Option<String>,
}

impl SettingsPage {
    fn is_model(&self, model: &str) -> bool {
        self.chosen == model
    }
}

async fn settings_view(
    state: &AppState,
    signed: &Signed,
    chosen: Option<(String, String)>,
    problem: Option<String>,
) -> Result<SettingsPage, PageError> {
    let (model, configured) = service::model_in_force(&state.store, signed.org()).await?;
    let (chosen, half_life) = chosen.unwrap_or_else(|| {
        let half_life = match model {
            Model::TimeDecay { half_life_days } => half_life_days.to_string(),
            _ => String::new(),
        };
        (model.name().to_owned(), half_life)
    });
    Ok(SettingsPage {
        chrome: signed.chrome(state).await?.at("/attribution"),
        model: model_text(&model),
        configured,
        is_admin: signed.user().role == Role::Admin,
        models: &MODELS,
        names: MODEL_NAMES,
        chosen,
        half_life,
        problem,
    })
}

/// `/attribution/settings`: the model in force.
pub(super) async fn settings_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    Ok(html(StatusCode::OK, &settings_view(&state, &signed, None, None).await?))
}

#[derive(Deserialize)]
pub(super) struct ModelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    half_life_days: String,
}

/// Sets the model later closes are scored under (admins).
pub(super) async fn set_model(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<ModelForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    only_admins(&signed)?;
    let half_life = form.half_life_days.trim();
    let days = match half_life {
        "" => Ok(None),
        d => d.parse::<u32>().map(Some).map_err(|_| "half_life_days must be a whole number of days".to_owned()),
    };
    let chosen = days.and_then(|d| {
        // The form sends its half-life field whatever the model; it counts for time_decay only.
        let d = if form.model == "time_decay" { d } else { None };
        service::model_choice(Some(&form.model), d).map_err(|e| e.to_string())
    });
    let done = match chosen {
        Ok(Some(model)) => service::set_model(&state.store, signed.user(), &model).await.map_err(|e| {
            let (_, text) = ApiError::from(e).status_and_detail();
            text
        }),
        Ok(None) => Err(service::AttributionError::NoModel.to_string()),
        Err(text) => Err(text),
    };
    match done {
        Ok(()) => Ok(Redirect::to("/attribution/settings").into_response()),
        Err(text) => {
            let chosen = Some((form.model.clone(), half_life.to_owned()));
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &settings_view(&state, &signed, chosen, Some(text)).await?))
        }
    }
}

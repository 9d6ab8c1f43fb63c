//! `/api/v1/attribution`: partner attribution. Partner touches on opportunities are recorded
//! through the API or a signed inbound webhook; when an opportunity closes won, credit goes to
//! the partners under the organisation's model, into a ledger of record written once, with an
//! `attribution.recorded` event in the same transaction. The same history can be re-scored
//! under any model without changing the record.
//!
//! Admins and integration users write touches and closes; admins set the model and add inbound
//! sources; every role reads.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use blindmap_cosell::attribution::{Attribution, Category, ClosedDeal, Model};
use blindmap_cosell::money::Money;
use blindmap_cosell::webhook::Secret;
use blindmap_store::{ClosedOpportunity, LedgerCursor, LedgerEntry, Role, SourceId, StoreError, StoredTouch, TouchId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract, idempotent, request_hash};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::attribution::{self, AttributionError, InboundBody, kind_name, model_choice};
use crate::service::hooks::rfc3339;
use crate::service::text::check_name;

/// A touch as the API and inbound deliveries give it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TouchInput {
    /// The opportunity, as your CRM names it (1 to 200 characters).
    #[schema(value_type = contract::Label)]
    pub opportunity: String,
    /// The partner (1 to 200 characters): the same text for the same partner on every touch.
    #[schema(value_type = contract::Label)]
    pub partner: String,
    /// The kind of touch.
    #[schema(value_type = contract::TouchKind)]
    pub kind: String,
    /// When, RFC 3339 (`2027-01-15` or `2027-01-15T09:30:00Z`); default: now.
    #[schema(value_type = Option<contract::Timestamp>)]
    pub at: Option<String>,
    /// Who recorded it; default: the caller (API) or the source's name (inbound).
    #[schema(value_type = Option<contract::Label>)]
    pub actor: Option<String>,
    /// The opportunity's amount as of this touch, decimal text in `currency`, e.g. `48000.00`
    /// (not negative; at most the currency's minor-unit digits after the point); with
    /// `currency`, or neither. An open opportunity's pipeline is the amount on its latest touch
    /// that gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// ISO 4217, e.g. `EUR`; with `amount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<contract::CurrencyCode>)]
    pub currency: Option<String>,
}

/// The largest inbound delivery read, in bytes: the receiver answers anyone, so it reads little.
const INBOUND_MAX_BYTES: usize = 1 << 20;

/// An amount of money.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct MoneyView {
    /// Decimal, e.g. `48000.00`.
    pub amount: String,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
    /// Minor units (cents), e.g. `4800000`.
    pub minor: i64,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        let text = m.to_string();
        let amount = text.split_once(' ').map_or(text.as_str(), |(a, _)| a).to_owned();
        Self { amount, currency: m.currency.to_string(), minor: m.minor }
    }
}

/// A recorded touch.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct TouchView {
    /// `tc_…`.
    pub id: String,
    /// The opportunity.
    pub opportunity: String,
    /// The partner.
    pub partner: String,
    /// `sourced`, `referral`, `influenced` or `co_selling`.
    pub kind: String,
    /// When, RFC 3339.
    pub at: String,
    /// Who recorded it.
    pub actor: String,
    /// `api`, or the inbound source (`src_…`) it came through.
    pub source: String,
    /// When it was recorded, RFC 3339.
    pub recorded_at: String,
    /// The opportunity's amount as of this touch, if the touch gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<MoneyView>,
}

impl From<StoredTouch> for TouchView {
    fn from(s: StoredTouch) -> Self {
        Self {
            id: s.id.to_string(),
            opportunity: s.opportunity,
            kind: kind_name(s.touch.kind).to_owned(),
            partner: s.touch.partner,
            at: rfc3339(s.touch.at),
            actor: s.touch.actor,
            source: s.source,
            recorded_at: rfc3339(s.recorded_at),
            amount: s.amount.map(Into::into),
        }
    }
}

/// A page of touches, in the order they happened.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct TouchPage {
    /// This page's items.
    pub items: Vec<TouchView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which touches to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct TouchFilter {
    /// Only this opportunity's.
    #[param(value_type = Option<contract::Label>, nullable = false)]
    pub opportunity: Option<String>,
    /// Only this partner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<contract::Label>, nullable = false)]
    pub partner: Option<String>,
}

/// A model: `{"model": "linear"}`, `{"model": "time_decay", "half_life_days": 30}` (as a body:
/// `contract::ModelSetting`).
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    /// `categorical` (sourced / influenced / unattributed: each partner credited the whole
    /// amount, as sourced or influenced revenue), `first_touch`, `last_touch`, `linear`,
    /// `time_decay` (each touch weighs 2^(−age / half-life) at the close), `u_shaped` (40 % first
    /// touch, 40 % last, 20 % shared by those between) or `w_shaped` (30 % each to the first
    /// touch, the one nearest the opportunity's creation and the last; 10 % shared by the rest).
    #[param(value_type = contract::ModelName, required = true)]
    pub model: Option<String>,
    /// `time_decay` only, and required with it: days for a touch's weight to halve (1 to 3650).
    #[param(minimum = 1, maximum = 3650, nullable = false)]
    pub half_life_days: Option<u32>,
}

impl ModelChoice {
    /// The model chosen, if one is.
    fn model(&self) -> Result<Option<Model>, ApiError> {
        Ok(model_choice(self.model.as_deref(), self.half_life_days)?)
    }
}

/// A model as the API shows it.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ModelView {
    /// Its name.
    pub model: String,
    /// `time_decay` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half_life_days: Option<u32>,
}

impl From<Model> for ModelView {
    fn from(m: Model) -> Self {
        let half_life_days = match m {
            Model::TimeDecay { half_life_days } => Some(half_life_days),
            _ => None,
        };
        Self { model: m.name().to_owned(), half_life_days }
    }
}

/// The model closes are scored under.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SettingsView {
    /// The model's name.
    pub model: String,
    /// `time_decay` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half_life_days: Option<u32>,
    /// Whether an admin set it (`false`: the default, `categorical`).
    pub configured: bool,
}

/// An opportunity that closed.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityClose {
    /// Whether it closed won (default `true`). Only won deals are attributed: `false` is refused
    /// and records nothing.
    pub won: Option<bool>,
    /// The deal's amount, decimal text in its currency, e.g. `120000.00` (not negative; at most
    /// the currency's minor-unit digits after the point).
    pub amount: String,
    /// ISO 4217, e.g. `EUR`.
    #[schema(value_type = contract::CurrencyCode)]
    pub currency: String,
    /// When it closed, RFC 3339 date or date-time.
    #[schema(value_type = contract::Timestamp)]
    pub closed_at: String,
    /// When the opportunity was created (the W-shaped model's middle anchor; not after the
    /// close); default: its earliest touch, or the close if it has none.
    #[schema(value_type = Option<contract::Timestamp>)]
    pub created_at: Option<String>,
    /// A currency to report the credits in as well, e.g. `USD`; with `rate`.
    #[schema(value_type = Option<contract::CurrencyCode>)]
    pub reporting_currency: Option<String>,
    /// Reporting units per unit of the deal's currency on the close date, decimal text, e.g.
    /// `1.08`: recorded with the ledger, never looked up again. With `reporting_currency`.
    pub rate: Option<String>,
    /// This close only: a model other than the organisation's.
    #[schema(value_type = Option<contract::ModelName>)]
    pub model: Option<String>,
    /// With `model` `time_decay`, and only with it (1 to 3650).
    #[schema(minimum = 1, maximum = 3650)]
    pub half_life_days: Option<u32>,
}

/// A deal as closed.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct DealView {
    /// Its amount.
    pub amount: MoneyView,
    /// When the opportunity was created, RFC 3339.
    pub created_at: String,
    /// When it closed, RFC 3339.
    pub closed_at: String,
    /// The reporting currency, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_currency: Option<String>,
    /// The close date's rate to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
}

impl From<&ClosedDeal> for DealView {
    fn from(d: &ClosedDeal) -> Self {
        Self {
            amount: d.amount.into(),
            created_at: rfc3339(d.created_at),
            closed_at: rfc3339(d.closed_at),
            reporting_currency: d.reporting.map(|(c, _)| c.to_string()),
            rate: d.reporting.map(|(_, r)| r.to_string()),
        }
    }
}

fn category_name(category: Option<Category>) -> Option<String> {
    category.map(|c| match c {
        Category::Sourced => "sourced".to_owned(),
        Category::Influenced => "influenced".to_owned(),
    })
}

/// A partner's credit.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CreditView {
    /// The partner.
    pub partner: String,
    /// Its share, parts per million (categorical: 1,000,000 for each partner credited).
    pub share_ppm: u32,
    /// Its credited amount, in the deal's currency.
    pub amount: MoneyView,
    /// The same in the reporting currency, at the close date's rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<MoneyView>,
    /// Categorical model: `sourced` or `influenced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// A deal scored under a model.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AttributionView {
    /// The model.
    pub model: ModelView,
    /// The credits, by partner name.
    pub credits: Vec<CreditView>,
    /// Whether no partner touched the deal before it closed.
    pub unattributed: bool,
}

pub(crate) fn attribution_view(model: Model, a: Attribution) -> AttributionView {
    AttributionView {
        model: model.into(),
        credits: a
            .credits
            .into_iter()
            .map(|c| CreditView {
                partner: c.partner,
                share_ppm: c.share_ppm,
                amount: c.amount.into(),
                reported: c.reported.map(Into::into),
                category: category_name(c.category),
            })
            .collect(),
        unattributed: a.unattributed,
    }
}

/// A touch a close was scored from.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ScoredTouch {
    /// The partner.
    pub partner: String,
    /// Its kind.
    pub kind: String,
    /// When, RFC 3339.
    pub at: String,
    /// Who recorded it.
    pub actor: String,
}

/// The ledger of record for an opportunity closed won.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ClosedView {
    /// The opportunity.
    pub opportunity: String,
    /// The deal.
    pub deal: DealView,
    /// The score of record.
    pub attribution: AttributionView,
    /// The touches it was scored from (recorded by the close, up to the close date), in order.
    pub touches: Vec<ScoredTouch>,
    /// Who closed it.
    pub closed_by: String,
    /// When, RFC 3339.
    pub recorded_at: String,
}

impl From<ClosedOpportunity> for ClosedView {
    fn from(c: ClosedOpportunity) -> Self {
        Self {
            deal: (&c.deal).into(),
            attribution: attribution_view(c.model, c.result),
            touches: c
                .touches
                .iter()
                .map(|t| ScoredTouch {
                    partner: t.partner.clone(),
                    kind: kind_name(t.kind).to_owned(),
                    at: rfc3339(t.at),
                    actor: t.actor.clone(),
                })
                .collect(),
            opportunity: c.opportunity,
            closed_by: c.closed_by,
            recorded_at: rfc3339(c.recorded_at),
        }
    }
}

/// A closed opportunity re-scored under another model (nothing is written).
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ScoreView {
    /// The opportunity.
    pub opportunity: String,
    /// The deal, as closed.
    pub deal: DealView,
    /// The score under the model asked for.
    pub attribution: AttributionView,
    /// The model of the ledger of record, for comparison.
    pub of_record: ModelView,
}

/// An entry of the ledger.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct LedgerEntryView {
    /// The opportunity.
    pub opportunity: String,
    /// The partner credited; absent for a deal no partner touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// The model of record.
    pub model: String,
    /// `sourced` or `influenced` (categorical), `unattributed` (no partner); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The share, parts per million.
    pub share_ppm: u32,
    /// The credited amount, in the deal's currency.
    pub amount: MoneyView,
    /// The same in the reporting currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<MoneyView>,
    /// The close date's rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// When the deal closed, RFC 3339.
    pub closed_at: String,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(e: LedgerEntry) -> Self {
        Self {
            category: if e.partner.is_none() { Some("unattributed".to_owned()) } else { category_name(e.category) },
            opportunity: e.opportunity,
            partner: e.partner,
            model: e.model,
            share_ppm: e.share_ppm,
            amount: e.amount.into(),
            reported: e.reported.map(Into::into),
            rate: e.rate.map(|r| r.to_string()),
            closed_at: rfc3339(e.closed_at),
        }
    }
}

/// A page of the ledger, latest close first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct LedgerPage {
    /// This page's items.
    pub items: Vec<LedgerEntryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which entries to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct LedgerFilter {
    /// Only this partner's.
    #[param(value_type = Option<contract::Label>, nullable = false)]
    pub partner: Option<String>,
}

/// An inbound source to add.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    /// A name for people, unique in the organisation, e.g. `Salesforce` or `Acme's PRM`.
    #[schema(value_type = contract::Label)]
    pub name: String,
}

/// An inbound webhook source.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SourceView {
    /// `src_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it posts: `/api/v1/attribution/inbound/{id}` on this node.
    pub path: String,
    /// RFC 3339.
    pub created_at: String,
    /// The signing secret (`whsec_…`): only in the answer that creates the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<blindmap_store::InboundSource> for SourceView {
    fn from(s: blindmap_store::InboundSource) -> Self {
        Self {
            path: format!("/api/v1/attribution/inbound/{}", s.id),
            id: s.id.to_string(),
            name: s.name,
            created_at: rfc3339(s.created_at),
            secret: None,
        }
    }
}

/// The organisation's inbound sources.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SourceList {
    /// This page's items.
    pub items: Vec<SourceView>,
}

/// What an inbound delivery recorded.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct InboundReceipt {
    /// The touches recorded (`tc_…`); none for a redelivery.
    pub touches: Vec<String>,
    /// Whether this delivery (its `webhook-id`) was recorded before: nothing was recorded again.
    pub duplicate: bool,
}

/// An opportunity named in a path: the same checks as when it is recorded.
fn opportunity(text: &str) -> Result<&str, ApiError> {
    check_name("opportunity", text)?;
    Ok(text)
}

/// Records a partner touch on an opportunity (admins and integrations). With an
/// `Idempotency-Key`, a retry answers the first touch and records nothing more.
#[utoipa::path(post, path = "/api/v1/attribution/touches", tag = "attribution", request_body = TouchInput,
    params(("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried recording safe")),
    responses((status = 201, body = TouchView, description = "Recorded"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Reps do not record touches"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "An invalid touch")))]
async fn record_touch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<TouchInput>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Integration])?;
    let org = &caller.0.user.org;
    let now = crate::now_ms();
    body.check(&caller.0.user.name, now)?;
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let request = request_hash(&[
        body.opportunity.as_bytes(),
        body.partner.as_bytes(),
        body.kind.as_bytes(),
        opt(&body.at).as_bytes(),
        opt(&body.actor).as_bytes(),
        opt(&body.amount).as_bytes(),
        opt(&body.currency).as_bytes(),
    ]);
    let (store, user) = (state.store.clone(), caller.0.user.clone());
    let work = async move { Ok(TouchView::from(attribution::record_touch(&store, &user, &body, now).await?)) };
    idempotent(&state, org, &headers, request, StatusCode::CREATED, work).await
}

/// The organisation's touches in the order they happened (an opportunity's touches at the same
/// time: in the order they were recorded), optionally of one opportunity and of one partner.
#[utoipa::path(get, path = "/api/v1/attribution/touches", tag = "attribution",
    params(Page, ("cursor" = Option<contract::TouchId>, Query, description = "The `next` of the previous page"), TouchFilter),
    responses((status = 200, body = TouchPage, description = "A page of touches"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit, cursor, opportunity or partner out of range")))]
async fn touches(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(filter): Query<TouchFilter>,
) -> Result<Json<TouchPage>, ApiError> {
    let limit = page.limit()?;
    let after = page.after(TouchId::parse, "a touch id")?;
    let items = attribution::touches(
        &state.store,
        &caller.0.user.org,
        filter.opportunity.as_deref(),
        filter.partner.as_deref(),
        after.as_ref(),
        limit,
    )
    .await?;
    let next = Page::next(limit, &items, |t| t.id.to_string());
    Ok(Json(TouchPage { items: items.into_iter().map(Into::into).collect(), next }))
}

async fn current_model(state: &AppState, caller: &Caller) -> Result<SettingsView, ApiError> {
    let (model, configured) = attribution::model_in_force(&state.store, &caller.0.user.org).await?;
    let ModelView { model, half_life_days } = model.into();
    Ok(SettingsView { model, half_life_days, configured })
}

/// The model closes are scored under: `categorical` until an admin sets another.
#[utoipa::path(get, path = "/api/v1/attribution/settings", tag = "attribution",
    responses((status = 200, body = SettingsView, description = "The model")))]
async fn settings(State(state): State<AppState>, caller: Caller) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(current_model(&state, &caller).await?))
}

/// Sets the model later closes are scored under (admins only); closes already recorded keep
/// theirs.
#[utoipa::path(put, path = "/api/v1/attribution/settings", tag = "attribution", request_body = contract::ModelSetting,
    responses((status = 200, body = SettingsView, description = "The model as set"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "No such model, or a half-life without time_decay")))]
async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(choice): Json<ModelChoice>,
) -> Result<Json<SettingsView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let model = choice.model()?.ok_or(AttributionError::NoModel)?;
    attribution::set_model(&state.store, &caller.0.user, &model).await?;
    Ok(Json(current_model(&state, &caller).await?))
}

/// Closes an opportunity won and records who gets credit (admins and integrations): the touches
/// recorded so far, up to the close date, scored under the organisation's model (or `model`),
/// written to the ledger of record with an `attribution.recorded` event, in one transaction.
/// An opportunity closes once: closing it again is a conflict. With an `Idempotency-Key`, a
/// retry answers the first close.
#[utoipa::path(post, path = "/api/v1/attribution/opportunities/{opportunity}/close", tag = "attribution",
    params(("opportunity" = contract::Label, Path),
        ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried close safe")),
    request_body = OpportunityClose,
    responses((status = 201, body = ClosedView, description = "Closed and attributed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Reps do not close"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Already closed"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not won, or an invalid amount, currency, rate, date or model")))]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(opportunity_text): Path<String>,
    headers: HeaderMap,
    Json(body): Json<OpportunityClose>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Integration])?;
    let org = &caller.0.user.org;
    let opportunity = opportunity(&opportunity_text)?.to_owned();
    let terms = body.terms()?;
    let half_life = body.half_life_days.map(|d| d.to_string()).unwrap_or_default();
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let fields = [
        opportunity.clone(),
        body.amount.clone(),
        body.currency.clone(),
        body.closed_at.clone(),
        opt(&body.created_at),
        opt(&body.reporting_currency),
        opt(&body.rate),
        opt(&body.model),
        half_life,
    ];
    let parts: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
    let request = request_hash(&parts);
    let (store, user) = (state.store.clone(), caller.0.user.clone());
    let work = async move {
        let close = attribution::close(&store, &user, &opportunity, terms, crate::now_ms()).await?;
        Ok(ClosedView::from(close))
    };
    idempotent(&state, org, &headers, request, StatusCode::CREATED, work).await
}

/// The ledger of record for a closed opportunity: the deal, the touches it was scored from and
/// the credits under the model it was scored with.
#[utoipa::path(get, path = "/api/v1/attribution/opportunities/{opportunity}", tag = "attribution",
    params(("opportunity" = contract::Label, Path)),
    responses((status = 200, body = ClosedView, description = "The ledger of record"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not an opportunity's name"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "Not closed (yet)")))]
async fn closed(
    State(state): State<AppState>,
    caller: Caller,
    Path(text): Path<String>,
) -> Result<Json<ClosedView>, ApiError> {
    Ok(Json(attribution::closed(&state.store, &caller.0.user.org, &text).await?.into()))
}

/// Re-scores a closed opportunity under another model: the same touches and deal as the ledger
/// of record (amounts in the currency and at the rate of the close date). Writes nothing.
#[utoipa::path(get, path = "/api/v1/attribution/opportunities/{opportunity}/score", tag = "attribution",
    params(("opportunity" = contract::Label, Path), ModelChoice),
    responses((status = 200, body = ScoreView, description = "The score under that model"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "Not closed (yet)"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Not an opportunity's name, no such model, or a half-life without time_decay")))]
async fn score(
    State(state): State<AppState>,
    caller: Caller,
    Path(text): Path<String>,
    Query(choice): Query<ModelChoice>,
) -> Result<Json<ScoreView>, ApiError> {
    let model = choice.model()?.ok_or(AttributionError::NoModel)?;
    let (record, result) = attribution::rescore(&state.store, &caller.0.user.org, &text, &model).await?;
    Ok(Json(ScoreView {
        deal: (&record.deal).into(),
        attribution: attribution_view(model, result),
        of_record: record.model.into(),
        opportunity: record.opportunity,
    }))
}

/// The ledger: every closed-won deal's entries, latest close first — one per partner credited
/// under the model of record, or one without a partner for a deal no partner touched.
#[utoipa::path(get, path = "/api/v1/attribution/ledger", tag = "attribution",
    params(Page, ("cursor" = Option<contract::LedgerCursor>, Query, description = "The `next` of the previous page"), LedgerFilter),
    responses((status = 200, body = LedgerPage, description = "A page of the ledger"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or partner out of range")))]
async fn ledger(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(filter): Query<LedgerFilter>,
) -> Result<Json<LedgerPage>, ApiError> {
    let limit = page.limit()?;
    let after = page.after(ledger_cursor, "a ledger cursor")?;
    let items =
        attribution::ledger(&state.store, &caller.0.user.org, filter.partner.as_deref(), after.as_ref(), limit).await?;
    let next = Page::next(limit, &items, |e| LedgerCursor { opportunity: e.opportunity.clone(), seq: e.seq }.to_text());
    Ok(Json(LedgerPage { items: items.into_iter().map(Into::into).collect(), next }))
}

/// A ledger cursor as `LedgerCursor::to_text` writes it — its place, a dot, and the opportunity
/// in hex — whose opportunity bytes are read as UTF-8 with any invalid sequence or NUL replaced
/// (no stored text holds either): a cursor is only a place in the ledger's order, so any such
/// text names one.
fn ledger_cursor(text: &str) -> Option<LedgerCursor> {
    let (seq, opportunity) = text.split_once('.')?;
    let seq = if seq.bytes().all(|b| b.is_ascii_digit()) { seq.parse().ok()? } else { return None };
    let opportunity = String::from_utf8_lossy(&hex::decode(opportunity).ok()?).replace('\0', "\u{fffd}");
    Some(LedgerCursor { opportunity, seq })
}

/// Adds an inbound webhook source (admins only): a partner's system or your CRM posts touches
/// to `/api/v1/attribution/inbound/{id}`, signed as Standard Webhooks do. The answer carries
/// its signing secret, once.
#[utoipa::path(post, path = "/api/v1/attribution/sources", tag = "attribution", request_body = NewSource,
    responses((status = 201, body = SourceView, description = "The source, with its secret"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The name is taken"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a name")))]
async fn create_source(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewSource>,
) -> Result<(StatusCode, Json<SourceView>), ApiError> {
    caller.require(&[Role::Admin])?;
    check_name("name", &body.name)?;
    let key: [u8; 32] = rand::random();
    let secret = Secret::from_bytes(&key).expect("32 bytes");
    let org = &caller.0.user.org;
    let source = state.store.create_inbound_source(org, &body.name, &secret.expose()).await?;
    let detail = serde_json::json!({ "source": source.id.to_string(), "name": source.name });
    state.store.record_audit(org, &caller.0.user.name, "attribution.source_created", &detail).await?;
    let mut view = SourceView::from(source);
    view.secret = Some(secret.expose().to_string());
    Ok((StatusCode::CREATED, Json(view)))
}

/// The organisation's inbound sources (admins only; never their secrets).
#[utoipa::path(get, path = "/api/v1/attribution/sources", tag = "attribution",
    responses((status = 200, body = SourceList, description = "The sources"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only")))]
async fn sources(State(state): State<AppState>, caller: Caller) -> Result<Json<SourceList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let items = state.store.inbound_sources(&caller.0.user.org).await?;
    Ok(Json(SourceList { items: items.into_iter().map(Into::into).collect() }))
}

/// A header a signed delivery must carry.
fn signed_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=200).contains(&v.len()))
        .ok_or_else(|| ApiError::Signature(format!("the {name} header is missing or malformed")))
}

/// Receives touches from an inbound source, authenticated by its signature instead of a token:
/// Standard Webhooks headers `webhook-id`, `webhook-timestamp` (Unix seconds, within 5 minutes
/// of the node's clock) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
/// `id.timestamp.body` under the source's secret). The body is
/// `{"type": "touch", "data": {"opportunity", "partner", "kind", "at", "actor", "amount",
/// "currency"}}` or `{"type": "touches", "data": [ … up to 100 ]}`; `at` defaults to now, `actor`
/// to the source's name; `amount` and `currency` (both or neither) are the opportunity's amount
/// as of the touch. A delivery is recorded whole or not at all, and once: a redelivery with the same
/// `webhook-id` records nothing and answers `duplicate`. A bad signature records nothing.
#[utoipa::path(post, path = "/api/v1/attribution/inbound/{source}", tag = "attribution", security(()),
    params(("source" = contract::SourceId, Path, description = "The source's id, `src_…`"),
        ("webhook-id" = String, Header, description = "The delivery's id (1 to 200 visible characters): a redelivery repeats it"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds, within 5 minutes of the node's clock"),
        ("webhook-signature" = String, Header, description = "`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`")),
    request_body = InboundBody,
    responses((status = 200, body = InboundReceipt, description = "Recorded, or recorded before (`duplicate`)"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "The signature does not verify"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such source"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A signed body that holds no valid touch")))]
async fn inbound(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<InboundReceipt>, ApiError> {
    let id = SourceId::parse(&source).ok_or(ApiError::NotFound("inbound source"))?;
    let (source, secret) = state.store.inbound_source(&id).await?;
    let body = axum::body::to_bytes(body, INBOUND_MAX_BYTES).await.map_err(|_| ApiError::Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        detail: format!("an inbound delivery is at most {INBOUND_MAX_BYTES} bytes"),
    })?;
    let webhook_id = signed_header(&headers, "webhook-id")?;
    let timestamp: i64 = signed_header(&headers, "webhook-timestamp")?
        .parse()
        .map_err(|_| ApiError::Signature("webhook-timestamp is not Unix seconds".into()))?;
    let signatures = signed_header(&headers, "webhook-signature")?;
    let secret = Secret::parse(&secret).map_err(|_| StoreError::Corrupt("inbound_sources.secret"))?;
    let now = crate::now_ms();
    secret.verify(webhook_id, timestamp, &body, signatures, now.div_euclid(1000)).map_err(|e| {
        tracing::info!(source = %source.id, "inbound delivery refused: {e}");
        ApiError::Signature(e.to_string())
    })?;
    let touches = InboundBody::parse(&body, &source.name, now)?;
    let recorded = state.store.record_inbound_touches(&source, webhook_id, &touches).await?;
    Ok(Json(match recorded {
        Some(stored) => {
            InboundReceipt { touches: stored.into_iter().map(|s| s.id.to_string()).collect(), duplicate: false }
        }
        None => InboundReceipt { touches: Vec::new(), duplicate: true },
    }))
}

/// Amounts kept per currency (never added across currencies).
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AmountsView {
    /// One total per currency, in currency order; empty when none is known.
    pub amounts: Vec<MoneyView>,
    /// Opportunities (pipeline) or deals (won) counted.
    pub count: u32,
    /// Pipeline: how many of those opportunities carry no amount on any touch (counted, amount
    /// unknown). Won: 0.
    pub unknown: u32,
    /// Won: the same credits in the reporting currencies the closes gave, at their close dates'
    /// rates (only the credits that have one). Pipeline: empty.
    pub reported: Vec<MoneyView>,
}

impl From<&attribution::Amounts> for AmountsView {
    fn from(a: &attribution::Amounts) -> Self {
        Self {
            amounts: a.money().into_iter().map(Into::into).collect(),
            count: a.count,
            unknown: a.unknown,
            reported: a.reported_money().into_iter().map(Into::into).collect(),
        }
    }
}

/// One partner's pipeline and won amounts over the period.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PartnerPipelineView {
    /// The partner, as the touches name it.
    pub partner: String,
    /// Sourced pipeline: open opportunities the partner touched in the period, with a `sourced`
    /// or `referral` touch among its touches on it.
    pub sourced: AmountsView,
    /// Influenced pipeline: the other open opportunities it touched in the period.
    pub influenced: AmountsView,
    /// Won, sourced: the ledger's categorical credits as sourced, of deals closed won in the period.
    pub won_sourced: AmountsView,
    /// Won, influenced: the ledger's categorical credits as influenced.
    pub won_influenced: AmountsView,
    /// Won, credited: the ledger's credits under the other models (the partner's share of the deal).
    pub won_credited: AmountsView,
}

/// Sourced and influenced pipeline and won amounts per partner over a period.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PipelineView {
    /// The period's start (included), RFC 3339.
    pub from: String,
    /// Its end (excluded), RFC 3339.
    pub to: String,
    /// The rules, in a few sentences.
    pub rule: String,
    /// The partners, most won first, then most pipeline (compared in the currency most amounts
    /// are in), then by name.
    pub partners: Vec<PartnerPipelineView>,
}

impl From<&attribution::Pipeline> for PipelineView {
    fn from(p: &attribution::Pipeline) -> Self {
        Self {
            from: rfc3339(p.period.from),
            to: rfc3339(p.period.to),
            rule: attribution::PIPELINE_RULE.to_owned(),
            partners: p
                .partners
                .iter()
                .map(|l| PartnerPipelineView {
                    partner: l.partner.clone(),
                    sourced: (&l.sourced).into(),
                    influenced: (&l.influenced).into(),
                    won_sourced: (&l.won_sourced).into(),
                    won_influenced: (&l.won_influenced).into(),
                    won_credited: (&l.won_credited).into(),
                })
                .collect(),
        }
    }
}

/// The period a pipeline summary covers.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct PeriodQuery {
    /// Its start, included: an RFC 3339 date or date-time; default: 90 days before `to`.
    #[param(value_type = Option<contract::Timestamp>, nullable = false)]
    pub from: Option<String>,
    /// Its end, excluded (a date is its midnight UTC); default: now.
    #[param(value_type = Option<contract::Timestamp>, nullable = false)]
    pub to: Option<String>,
}

/// The partner pipeline summary over a period [from, to) (default: the last 90 days).
///
/// **Pipeline**: the open opportunities (not closed won by `to`; lost ones are never recorded,
/// so they stay open) that a partner touched within the period, counted as *sourced* if the
/// partner's touches on it (up to `to`) include `sourced` or `referral`, *influenced* otherwise;
/// each at the opportunity's latest amount — the amount on its latest touch before `to` that
/// gives one. Opportunities with no amount are counted and listed as `unknown`.
/// **Won**: the ledger's credits of deals closed won in the period, by category under the
/// categorical model (`won_sourced`, `won_influenced`); entries under other models count their
/// credited share (`won_credited`). Amounts stay in their currency; reported-currency amounts
/// are given beside them.
#[utoipa::path(get, path = "/api/v1/attribution/pipeline", tag = "attribution", params(PeriodQuery),
    responses((status = 200, body = PipelineView, description = "The summary, per partner"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "A date that is not RFC 3339, or a period that ends before it starts or is longer than ten years")))]
async fn pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<PipelineView>, ApiError> {
    let period = attribution::Period::parse(query.from.as_deref(), query.to.as_deref(), crate::now_ms())?;
    let summary = attribution::pipeline(&state.store, &caller.0.user.org, period).await?;
    Ok(Json((&summary).into()))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_touch, touches))
        .routes(routes!(settings, set_settings))
        .routes(routes!(close))
        .routes(routes!(closed))
        .routes(routes!(score))
        .routes(routes!(ledger))
        .routes(routes!(pipeline))
        .routes(routes!(create_source, sources))
        .routes(routes!(inbound))
}

//! `/api/v1/registrations`: deal registrations. A partner registers a deal with a vendor's node
//! (`POST`), after an optional private pre-check; the vendor's admins approve, reject, extend or
//! close what they received, under their settings. Each side lists both directions.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use blindmap_cosell::dealreg::Settings;
use blindmap_store::{Direction, Role, StoredRegistration};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::partnerships::partnership_id;
use super::{Page, contract, idempotent, request_hash};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, OptionalJson, Query};
use crate::service::registrations::{self, Decision};

/// An end customer, as the importer would read it: any of a name with its country, websites or
/// domains, DUNS numbers. Every value given must make a key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    /// Company name (needs `country`).
    pub name: Option<String>,
    /// Country: ISO code or English name.
    pub country: Option<String>,
    /// Websites, domains or e-mail addresses.
    #[serde(default)]
    pub domains: Vec<String>,
    /// D-U-N-S numbers.
    #[serde(default)]
    pub duns: Vec<String>,
}

/// A deal to register with a partner's node (the vendor).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewRegistration {
    /// The partnership (`pt_…`) with the vendor.
    #[schema(value_type = contract::PartnershipId)]
    pub partnership: String,
    /// The end customer.
    pub customer: Customer,
    /// Product lines, 1 to 20, each up to 100 bytes once trimmed.
    #[schema(min_items = 1, max_items = 20, value_type = Vec<contract::NotBlank>)]
    pub products: Vec<String>,
    /// Estimated value, a decimal such as `50000` or `12500.50`.
    pub value: String,
    /// ISO 4217 currency of the value.
    pub currency: String,
    /// Expected close, `YYYY-MM-DD`.
    pub expected_close: String,
    /// Free text, up to 4000 bytes.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub notes: String,
}

/// A registration as this side knows it.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct RegistrationView {
    /// `rg_…`, the same on both nodes.
    pub id: String,
    /// `received` (a partner registered it with you; you decide) or `submitted` (you registered
    /// it with a partner; its node decides).
    pub direction: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner: who submitted it (received) or who decides (submitted).
    pub partner: String,
    /// `submitted`, `in_review`, `approved`, `rejected`, `expired`, `won` or `lost`.
    pub state: String,
    /// Why it is in review: `partner_conflict` (another partner registered the customer first for
    /// a product in common) or `channel_conflict` (the vendor's direct team has an open
    /// opportunity on it). Never who or what.
    pub conflict: Option<String>,
    /// End of protection (approved), RFC 3339.
    pub protected_until: Option<String>,
    /// Whether the one extension was used.
    pub extended: bool,
    /// When it was submitted, RFC 3339.
    pub submitted_at: String,
    /// The end customer's keys: `domain:…`, `duns:…`, `name_country:CC|name`.
    pub customer_keys: Vec<String>,
    /// Product lines.
    pub products: Vec<String>,
    /// Estimated value, e.g. `50000.00 EUR`.
    pub value: String,
    /// Expected close, `YYYY-MM-DD`.
    pub expected_close: String,
    /// Notes.
    pub notes: String,
    /// Received only: what the checks found (the registrations holding earlier claims, the
    /// direct accounts) and the reason given for a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// Received only: the submitter's node has yet to hear the latest state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_notification: Option<bool>,
    /// Received only: the names of the review's direct accounts in your active dataset, by
    /// account id (those without a name there are left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub direct_account_names: BTreeMap<String, String>,
}

/// What the checks of a received registration found, and the reason given for a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Review {
    /// The registrations (`rg_…`) of other partners holding an earlier claim on the customer for
    /// a product in common.
    pub conflicting_registrations: Vec<String>,
    /// Your accounts in a direct segment that are the customer.
    pub direct_accounts: Vec<String>,
    /// The reason given with the latest decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Review {
    /// What the checks of a received registration found (none for one this side submitted); a
    /// review that does not read as one is a corrupt row.
    pub(crate) fn of(stored: &StoredRegistration) -> Result<Option<Self>, blindmap_store::StoreError> {
        if stored.direction != Direction::Received {
            return Ok(None);
        }
        Self::deserialize(&stored.review)
            .map(Some)
            .map_err(|_| blindmap_store::StoreError::Corrupt("registrations.review"))
    }
}

fn view(stored: StoredRegistration, partner: String) -> Result<RegistrationView, ApiError> {
    let review = Review::of(&stored)?;
    let r = stored.registration;
    let received = stored.direction == Direction::Received;
    Ok(RegistrationView {
        id: r.id,
        direction: stored.direction.as_str().to_owned(),
        partnership: stored.partnership.to_string(),
        partner,
        state: r.state.as_str().to_owned(),
        conflict: r
            .conflict
            .map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
        protected_until: r.protected_until.map(crate::rfc3339),
        extended: r.extended,
        submitted_at: crate::rfc3339(r.submitted_at),
        customer_keys: r.submission.customer_keys.into_iter().collect(),
        products: r.submission.products.into_iter().collect(),
        value: r.submission.value.to_string(),
        expected_close: r.submission.expected_close,
        notes: r.submission.notes,
        review,
        pending_notification: received.then_some(stored.notify),
        direct_account_names: BTreeMap::new(),
    })
}

async fn view_of(
    state: &AppState,
    org: &blindmap_store::OrgId,
    stored: StoredRegistration,
) -> Result<RegistrationView, ApiError> {
    let partner = state.store.partnership(org, &stored.partnership).await?.partner_name;
    let mut view = view(stored, partner)?;
    if let Some(review) = view.review.as_ref().filter(|r| !r.direct_accounts.is_empty())
        && let Some(dataset) = state.store.active_dataset(org).await?
    {
        let ids: Vec<&str> = review.direct_accounts.iter().map(String::as_str).collect();
        view.direct_account_names = state.store.account_names(org, &dataset.id, &ids).await?;
    }
    Ok(view)
}

/// Registers a deal with a partner's node (admins and reps). The vendor's node checks it at once
/// and answers its state: `submitted`, or `in_review` with the conflict's category. A customer
/// you registered with this partner already (a product in common) answers that registration
/// (200). With an `Idempotency-Key`, a retry answers the first response.
#[utoipa::path(post, path = "/api/v1/registrations", tag = "registrations", request_body = NewRegistration,
    params(("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried submission safe")),
    responses((status = 201, body = RegistrationView, description = "Registered"),
        (status = 200, body = RegistrationView, description = "Registered already"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not register deals"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A value cannot be used"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The partnership ended or has no node, or the partner's node refused it for its state"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The partner's node cannot be reached")))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<NewRegistration>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Rep])?;
    let org = caller.0.user.org.clone();
    let submission = registrations::submission(
        body.customer,
        body.products,
        &body.value,
        &body.currency,
        &body.expected_close,
        &body.notes,
    )?;
    let partnership = state.store.partnership(&org, &partnership_id(&body.partnership)?).await?;
    registrations::reachable(&partnership)?;
    let request = serde_json::to_vec(&(&submission, partnership.id.as_str())).expect("serialises");
    state.node()?;
    let created = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (work_state, work_org, user, work_created) =
        (state.clone(), org.clone(), caller.0.user.name.clone(), created.clone());
    let work = async move {
        let (state, org) = (work_state, work_org);
        let (stored, new) = registrations::submit(&state.store, state.node()?, &partnership, submission, &user).await?;
        work_created.store(new, std::sync::atomic::Ordering::Relaxed);
        view_of(&state, &org, stored).await
    };
    let mut response = idempotent(&state, &org, &headers, request_hash(&[&request]), StatusCode::CREATED, work).await?;
    if !created.load(std::sync::atomic::Ordering::Relaxed) {
        *response.status_mut() = StatusCode::OK;
    }
    Ok(response)
}

/// Which registrations to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct RegistrationFilter {
    /// `received` (partners registered them with you) or `submitted` (you registered them).
    #[param(value_type = Option<contract::Direction>, nullable = false)]
    pub direction: Option<String>,
    /// Only those in this state.
    #[param(value_type = Option<contract::RegistrationState>, nullable = false)]
    pub state: Option<String>,
}

/// A page of registrations, newest first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct RegistrationPage {
    /// This page's items.
    pub items: Vec<RegistrationView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The organisation's registrations, both directions unless filtered, newest first.
#[utoipa::path(get, path = "/api/v1/registrations", tag = "registrations",
    params(Page, ("cursor" = Option<String>, Query, description = "The `next` of the previous page"), RegistrationFilter),
    responses((status = 200, body = RegistrationPage, description = "A page of registrations"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit, direction or state out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(filter): Query<RegistrationFilter>,
) -> Result<Json<RegistrationPage>, ApiError> {
    let limit = page.limit()?;
    let org = &caller.0.user.org;
    let direction = match filter.direction.as_deref() {
        None => None,
        Some(d) => {
            Some(Direction::parse(d).ok_or_else(|| ApiError::Invalid("direction is received or submitted".into()))?)
        }
    };
    const STATES: [&str; 7] = ["submitted", "in_review", "approved", "rejected", "expired", "won", "lost"];
    if let Some(s) = filter.state.as_deref()
        && !STATES.contains(&s)
    {
        return Err(ApiError::Invalid(format!("state is one of {}", STATES.join(", "))));
    }
    let items =
        state.store.registrations_page(org, direction, filter.state.as_deref(), page.cursor.as_deref(), limit).await?;
    let next = Page::next(limit, &items, |r| r.registration.id.clone());
    let mut views = Vec::with_capacity(items.len());
    for item in items {
        views.push(view_of(&state, org, item).await?);
    }
    Ok(Json(RegistrationPage { items: views, next }))
}

/// One registration.
#[utoipa::path(get, path = "/api/v1/registrations/{id}", tag = "registrations", params(("id" = String, Path)),
    responses((status = 200, body = RegistrationView, description = "The registration"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such registration")))]
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RegistrationView>, ApiError> {
    let org = &caller.0.user.org;
    let stored = state.store.registration(org, &id).await?;
    Ok(Json(view_of(&state, org, stored).await?))
}

/// Why a registration was decided so (kept with it, seen by your side only).
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct DecisionBody {
    /// Free text, up to 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    decision: Decision,
    reason: Option<String>,
) -> Result<Json<RegistrationView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let node = state.node.as_deref();
    let stored =
        registrations::decide(&state.store, node, org, id, decision, &caller.0.user.name, reason.as_deref()).await?;
    Ok(Json(view_of(state, org, stored).await?))
}

/// Approves a registration you received (admins): protected for the settings' days from now,
/// and the submitter's node is told.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/approve", tag = "registrations", params(("id" = String, Path)),
    request_body(content = Option<DecisionBody>, content_type = "application/json", description = "Optional: why"),
    responses((status = 200, body = RegistrationView, description = "Decided"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such registration"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Not in a state to approve, or one this side submitted (the partner's node decides)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A reason over 1000 characters")))]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DecisionBody>,
) -> Result<Json<RegistrationView>, ApiError> {
    decide(&state, &caller, &id, Decision::Approve, body.and_then(|b| b.reason)).await
}

/// Rejects a registration you received (admins); the submitter's node is told (not the reason).
#[utoipa::path(post, path = "/api/v1/registrations/{id}/reject", tag = "registrations", params(("id" = String, Path)),
    request_body(content = Option<DecisionBody>, content_type = "application/json", description = "Optional: why"),
    responses((status = 200, body = RegistrationView, description = "Decided"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such registration"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Not in a state to reject, or one this side submitted (the partner's node decides)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A reason over 1000 characters")))]
async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DecisionBody>,
) -> Result<Json<RegistrationView>, ApiError> {
    decide(&state, &caller, &id, Decision::Reject, body.and_then(|b| b.reason)).await
}

/// Extends an approved registration's protection once, by the settings' extension days (admins
/// and reps). On a registration you submitted, this asks the vendor's node, which grants it
/// under its rules.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/extend", tag = "registrations", params(("id" = String, Path)),
    responses((status = 200, body = RegistrationView, description = "Extended"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not extend"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such registration"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Not approved, expired, or extended already; or the partnership ended or has no node"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "The vendor's node refused it"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The vendor's node cannot be reached")))]
async fn extend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RegistrationView>, ApiError> {
    let org = &caller.0.user.org;
    let stored = state.store.registration(org, &id).await?;
    if stored.direction == Direction::Submitted {
        caller.require(&[Role::Admin, Role::Rep])?;
        let node = state.node()?;
        let stored = registrations::request_extension(&state.store, node, org, &id).await?;
        return Ok(Json(view_of(&state, org, stored).await?));
    }
    decide(&state, &caller, &id, Decision::Extend, None).await
}

/// How a registered deal ended.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RegistrationClose {
    /// Won (`true`) or lost.
    pub won: bool,
}

/// Closes a registration you received as won or lost (admins); it no longer expires.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/close", tag = "registrations", params(("id" = String, Path)),
    request_body = RegistrationClose,
    responses((status = 200, body = RegistrationView, description = "Closed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such registration"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Rejected, expired or closed already, or one this side submitted")))]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RegistrationClose>,
) -> Result<Json<RegistrationView>, ApiError> {
    decide(&state, &caller, &id, Decision::Close { won: body.won }, None).await
}

/// A pre-check: is this customer claimed at the partner's (the vendor's) node?
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PrecheckBody {
    /// The partnership (`pt_…`) with the vendor.
    #[schema(value_type = contract::PartnershipId)]
    pub partnership: String,
    /// The customer to ask about; it does not leave this node.
    pub customer: Customer,
}

/// The pre-check's answer.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PrecheckResult {
    /// Whether another partner holds a claim (submitted, in review or approved) on the customer.
    pub claimed: bool,
    /// Pre-checks left in your budget at this vendor for the last 24 hours.
    pub remaining_today: u32,
}

/// Asks a vendor's node whether a customer is already claimed, without revealing which customer
/// (admins and reps): the customer's keys are blinded here (spec §17) and the vendor answers
/// for its claims as a whole. Rate-limited and budgeted per partner by the vendor (429).
#[utoipa::path(post, path = "/api/v1/registrations/precheck", tag = "registrations", request_body = PrecheckBody,
    responses((status = 200, body = PrecheckResult, description = "The answer"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not pre-check"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The partnership ended or has no node"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "The customer makes no key"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "The vendor's limits are reached"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The vendor's node cannot be reached")))]
async fn precheck(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<PrecheckBody>,
) -> Result<Json<PrecheckResult>, ApiError> {
    caller.require(&[Role::Admin, Role::Rep])?;
    let org = &caller.0.user.org;
    let keys = body.customer.keys()?;
    let partnership = state.store.partnership(org, &partnership_id(&body.partnership)?).await?;
    registrations::reachable(&partnership)?;
    let (claimed, remaining_today) =
        registrations::precheck_as(&state.store, state.node()?, &caller.0.user, &partnership, &keys).await?;
    Ok(Json(PrecheckResult { claimed, remaining_today }))
}

/// Your rules for the registrations partners submit to you (its schema:
/// `contract::RegistrationSettings`).
#[derive(Serialize, Deserialize)]
pub(crate) struct SettingsBody(
    /// `direct_segments` (default `["open_opportunities", "customers"]`: a registration on one of
    /// your accounts in these segments of your active dataset is a channel conflict), `protection_days` (90), `extension_days` (60),
    /// `prechecks_per_minute` (6) and `prechecks_per_day` (100) per partner.
    Settings,
);

/// Your registration settings.
#[utoipa::path(get, path = "/api/v1/registrations/settings", tag = "registrations",
    responses((status = 200, body = contract::RegistrationSettings, description = "The settings")))]
async fn settings(State(state): State<AppState>, caller: Caller) -> Result<Json<SettingsBody>, ApiError> {
    Ok(Json(SettingsBody(state.store.registration_settings(&caller.0.user.org).await?)))
}

/// Sets your registration settings (admins); fields left out take their defaults.
#[utoipa::path(put, path = "/api/v1/registrations/settings", tag = "registrations",
    request_body = contract::RegistrationSettings,
    responses((status = 200, body = contract::RegistrationSettings, description = "The settings as set"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Out of range, or a direct segment the active dataset does not have")))]
async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(SettingsBody(settings)): Json<SettingsBody>,
) -> Result<Json<SettingsBody>, ApiError> {
    caller.require(&[Role::Admin])?;
    settings.check().map_err(|e| ApiError::Invalid(e.to_string()))?;
    if let Some(s) =
        settings.direct_segments.iter().find(|s| blindmap_records::segment_label(s).is_none_or(|l| l.as_str() != *s))
    {
        return Err(ApiError::Invalid(format!(
            "direct segments are segment labels such as open_opportunities (got {s:?})"
        )));
    }
    // A segment the active dataset does not have would check nothing: refused, naming those it has.
    // (The default names what the presets make; the segments the dataset has of it count.)
    let chosen = settings.direct_segments != Settings::default().direct_segments;
    if let Some(dataset) = state.store.active_dataset(&caller.0.user.org).await?.filter(|_| chosen) {
        let known: Vec<&str> = dataset.segments().into_iter().map(|(label, _)| label).collect();
        if let Some(missing) = settings.direct_segments.iter().find(|s| !known.contains(&s.as_str())) {
            return Err(ApiError::Invalid(format!(
                "your active dataset {:?} has no segment {missing:?}: a registration could never conflict with it (its segments: {})",
                dataset.name,
                known.join(", ")
            )));
        }
    }
    state.store.set_registration_settings(&caller.0.user.org, &settings).await?;
    Ok(Json(SettingsBody(settings)))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(settings, set_settings))
        .routes(routes!(precheck))
        .routes(routes!(one))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(extend))
        .routes(routes!(close))
}

//! `/api/v1/hooks` and `/api/v1/events`: webhook endpoints that receive the organisation's
//! events signed as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`),
//! their delivery log, and the events themselves by cursor for anything a receiver missed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{Endpoint, EndpointId, EndpointState, EventId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::hooks;

/// An endpoint to add.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewHook {
    /// Where to post: https:// to a public address (http://, and loopback, private or link-local
    /// addresses, only where the node's operator allows them).
    pub url: String,
    /// The event kinds to send (default: all): overlap.changed, cosell.created, cosell.updated,
    /// registration.submitted, .conflict, .approved, .rejected, .extended, .expired, .closed,
    /// attribution.recorded, webhook.test (a test an admin sends goes to its endpoint whatever
    /// it asked for).
    #[serde(default)]
    #[schema(value_type = Vec<contract::EventKind>)]
    pub events: Vec<String>,
}

/// A webhook endpoint.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct HookView {
    /// `whe_…`.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The event kinds it receives (empty: all).
    pub events: Vec<String>,
    /// `enabled` or `disabled` (by an admin, or after 50 failures in a row).
    pub state: String,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The signing secret (`whsec_…`): only in the answer that creates the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Endpoint> for HookView {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url,
            events: e.events,
            state: match e.state {
                EndpointState::Enabled => "enabled",
                EndpointState::Disabled => "disabled",
            }
            .to_owned(),
            consecutive_failures: e.consecutive_failures,
            created_at: e.created_at,
            secret: None,
        }
    }
}

/// The organisation's endpoints.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct HookList {
    /// This page's items.
    pub items: Vec<HookView>,
}

/// An attempt at a delivery.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AttemptView {
    /// The event (`msg_…`, its `webhook-id`).
    pub event: String,
    /// Which attempt.
    pub attempt: u32,
    /// Unix milliseconds.
    pub at: i64,
    /// The receiver's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// An endpoint's delivery log, newest first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AttemptList {
    /// This page's items.
    pub items: Vec<AttemptView>,
}

/// An event.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct EventView {
    /// `msg_…`: the `webhook-id` of its deliveries.
    pub id: String,
    /// Its kind, e.g. `overlap.changed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub timestamp: String,
    /// Its payload. For `overlap.changed`: `run`, `partnership`, `partner`, `previous_run` and
    /// `cells`, each cell as `GET /api/v1/runs/{id}/changes` gives it (`CellChange`: the accounts
    /// `new` and `lost`, and `new_possible`, those of the new ones matched by possible matches
    /// only; pairs this side corrected are neither new nor lost); and, when there was a previous
    /// run, `accounts` — the first 1,000 changes one by one as `GET /api/v1/changes` lists them
    /// (`account_id`, `name`, `owner`, `owner_email`, `own_segment`, `partner_segment`, `change`, and for new
    /// ones `tier` and the partner's disclosed `fields`) — and `accounts_total`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of events, oldest first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct EventPage {
    /// This page's items.
    pub items: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent when there is nothing more yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn endpoint_id(id: &str) -> Result<EndpointId, ApiError> {
    EndpointId::parse(id).ok_or(ApiError::NotFound("webhook endpoint"))
}

/// Adds a webhook endpoint (admins only). The answer carries its signing secret, once. A URL
/// that is not https:// (unless the node allows http), or whose host is a loopback, private,
/// link-local or other non-public address the node's operator has not allowed, is refused (422);
/// host names are checked again, by the addresses they resolve to, at every delivery.
#[utoipa::path(post, path = "/api/v1/hooks", tag = "hooks", request_body = NewHook,
    responses((status = 201, body = HookView, description = "The endpoint, with its secret"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A URL that is not https:// (or http:// on loopback), or an unknown event kind")))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewHook>,
) -> Result<(StatusCode, Json<HookView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let strict = hooks::WebhookEgress::default();
    let egress = state.node.as_deref().map_or(&strict, |node| &*node.webhooks);
    let (endpoint, secret) = hooks::create(&state.store, egress, &caller.0.user, &body.url, &body.events).await?;
    let mut view = HookView::from(endpoint);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// The organisation's webhook endpoints (admins only; never their secrets).
#[utoipa::path(get, path = "/api/v1/hooks", tag = "hooks",
    responses((status = 200, body = HookList, description = "The endpoints"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only")))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<HookList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let items = state.store.endpoints(&caller.0.user.org).await?;
    Ok(Json(HookList { items: items.into_iter().map(Into::into).collect() }))
}

/// Enables an endpoint (its failure count reset; its pending deliveries resume) (admins only).
#[utoipa::path(post, path = "/api/v1/hooks/{id}/enable", tag = "hooks", params(("id" = contract::EndpointId, Path)),
    responses((status = 200, body = HookView, description = "Enabled"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such endpoint")))]
async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HookView>, ApiError> {
    set_enabled(state, caller, id, true).await
}

/// Disables an endpoint: nothing is sent to it until it is enabled again (admins only).
#[utoipa::path(post, path = "/api/v1/hooks/{id}/disable", tag = "hooks", params(("id" = contract::EndpointId, Path)),
    responses((status = 200, body = HookView, description = "Disabled"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such endpoint")))]
async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HookView>, ApiError> {
    set_enabled(state, caller, id, false).await
}

async fn set_enabled(state: AppState, caller: Caller, id: String, enabled: bool) -> Result<Json<HookView>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(hooks::set_enabled(&state.store, &caller.0.user, &endpoint_id(&id)?, enabled).await?.into()))
}

/// A test event sent.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct TestEvent {
    /// The event (`msg_…`): the delivery's `webhook-id`, and its entry in the delivery log.
    pub event: String,
}

/// Sends a `webhook.test` event to this endpoint alone (admins only), signed and delivered like
/// any event (retried, logged): to check that a receiver gets and verifies deliveries. A disabled
/// endpoint gets it once enabled.
#[utoipa::path(post, path = "/api/v1/hooks/{id}/test", tag = "hooks", params(("id" = contract::EndpointId, Path)),
    responses((status = 202, body = TestEvent, description = "Queued for delivery"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such endpoint")))]
async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestEvent>), ApiError> {
    caller.require(&[Role::Admin])?;
    let event = hooks::send_test(&state.store, &caller.0.user, &endpoint_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(TestEvent { event: event.to_string() })))
}

/// An endpoint's delivery log: every attempt, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/hooks/{id}/deliveries", tag = "hooks", params(("id" = contract::EndpointId, Path), Page),
    responses((status = 200, body = AttemptList, description = "The newest attempts"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such endpoint"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit out of range")))]
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<AttemptList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let id = endpoint_id(&id)?;
    if !state.store.endpoints(org).await?.iter().any(|e| e.id == id) {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    let items = state.store.delivery_log(org, &id, page.limit()?).await?;
    let items = items
        .into_iter()
        .map(|a| AttemptView {
            event: a.event.to_string(),
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            error: a.error,
            duration_ms: a.duration_ms,
        })
        .collect();
    Ok(Json(AttemptList { items }))
}

/// The organisation's events in the order they were recorded, by cursor: what webhooks carried,
/// for a receiver to fetch what it missed. An event appears as soon as it is recorded, and paging
/// on from the last cursor never skips one.
#[utoipa::path(get, path = "/api/v1/events", tag = "hooks",
    params(Page, ("cursor" = Option<contract::EventId>, Query, description = "The `next` of the previous page")),
    responses((status = 200, body = EventPage, description = "A page of events"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Reps do not read events"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or cursor out of range")))]
async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<EventPage>, ApiError> {
    caller.require(&[Role::Admin, Role::Integration])?;
    let limit = page.limit()?;
    let after = page.after(EventId::parse, "an event id")?;
    let items = state.store.events_page(&caller.0.user.org, after.as_ref(), limit).await?;
    // Unlike the other lists, an events page always says where to go on from (if it has
    // anything): more may be recorded later.
    let next = items.last().map(|e| e.id.to_string()).or_else(|| page.cursor.clone());
    let items = items
        .into_iter()
        .map(|e| EventView {
            id: e.id.to_string(),
            kind: e.kind,
            timestamp: hooks::rfc3339(e.created_at),
            data: e.payload,
        })
        .collect();
    Ok(Json(EventPage { items, next }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(test))
        .routes(routes!(deliveries))
        .routes(routes!(events))
}

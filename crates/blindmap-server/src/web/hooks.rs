//! Webhooks (admins): the organisation's endpoints, adding one (its signing secret shown once),
//! enabling and disabling, a test event to one endpoint, and each endpoint's delivery log. The
//! same service functions as the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_cosell::webhook::EVENT_KINDS;
use blindmap_store::{Endpoint, EndpointId, EndpointState};

use super::manage::{admin, only_admins};
use super::session::{CsrfForm, Signed};
use super::users::SecretPage;
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::hooks;

/// Delivery attempts shown on an endpoint's page.
const LOGGED: u32 = 100;

pub(super) struct HookRow {
    pub(super) id: String,
    pub(super) url: String,
    pub(super) events: String,
    pub(super) enabled: bool,
    pub(super) failures: u32,
    pub(super) created: String,
}

impl From<&Endpoint> for HookRow {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.clone(),
            events: if e.events.is_empty() { "all".to_owned() } else { e.events.join(", ") },
            enabled: e.state == EndpointState::Enabled,
            failures: e.consecutive_failures,
            created: crate::rfc3339(e.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "hooks.html")]
pub(super) struct HooksPage {
    pub(super) chrome: Chrome,
    pub(super) hooks: Vec<HookRow>,
    pub(super) kinds: &'static [&'static str],
    pub(super) url: String,
    pub(super) problem: Option<String>,
}

async fn hooks_view(
    state: &AppState,
    signed: &Signed,
    url: String,
    problem: Option<String>,
) -> Result<HooksPage, PageError> {
    let hooks = state.store.endpoints(signed.org()).await?.iter().map(HookRow::from).collect();
    Ok(HooksPage { chrome: signed.chrome(state).await?.at("/hooks"), hooks, kinds: EVENT_KINDS, url, problem })
}

pub(super) async fn hooks_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    only_admins(&signed)?;
    Ok(html(StatusCode::OK, &hooks_view(&state, &signed, String::new(), None).await?))
}

/// Adds an endpoint from the form (`url`, the `event` boxes ticked: none means all).
pub(super) async fn add_hook(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    admin(&signed, value("csrf"))?;
    let url = value("url").trim().to_owned();
    let events: Vec<String> = form.iter().filter(|(k, _)| k == "event").map(|(_, v)| v.clone()).collect();
    let strict = hooks::WebhookEgress::default();
    let egress = state.node.as_deref().map_or(&strict, |node| &*node.webhooks);
    match hooks::create(&state.store, egress, signed.user(), &url, &events).await {
        Ok((endpoint, secret)) => {
            let page = SecretPage {
                chrome: signed.chrome(&state).await?.at("/hooks"),
                heading: "Webhook endpoint added".to_owned(),
                what: format!("The signing secret of {}", endpoint.url),
                secret,
                note: "Shown once. The receiver verifies each delivery with it (Standard Webhooks: the webhook-id, \
                       webhook-timestamp and webhook-signature headers). Send a test event from the endpoint's page."
                    .to_owned(),
                back: (format!("/hooks/{}", endpoint.id), "The endpoint".to_owned()),
            };
            Ok(html(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &hooks_view(&state, &signed, url, Some(text)).await?))
        }
    }
}

fn hook_id(id: &str) -> Result<EndpointId, PageError> {
    EndpointId::parse(id).ok_or(PageError(ApiError::NotFound("webhook endpoint")))
}

pub(super) struct AttemptRow {
    pub(super) event: String,
    pub(super) attempt: u32,
    pub(super) at: String,
    pub(super) outcome: String,
    pub(super) ok: bool,
    pub(super) duration_ms: u64,
}

#[derive(Template)]
#[template(path = "hook.html")]
pub(super) struct HookPage {
    pub(super) chrome: Chrome,
    pub(super) hook: HookRow,
    pub(super) attempts: Vec<AttemptRow>,
    pub(super) notice: Option<String>,
}

async fn hook_view(
    state: &AppState,
    signed: &Signed,
    id: &EndpointId,
    notice: Option<String>,
) -> Result<HookPage, PageError> {
    let org = signed.org();
    let endpoint = state
        .store
        .endpoints(org)
        .await?
        .into_iter()
        .find(|e| &e.id == id)
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    let attempts = state
        .store
        .delivery_log(org, id, LOGGED)
        .await?
        .into_iter()
        .map(|a| AttemptRow {
            event: a.event.to_string(),
            attempt: a.attempt,
            at: crate::rfc3339(a.at),
            ok: a.error.is_none() && a.status.is_some_and(|s| (200..300).contains(&s)),
            outcome: match (a.status, a.error) {
                (_, Some(e)) => format!("failed: {e}"),
                (Some(s), None) => format!("answered {s}"),
                (None, None) => "no answer".to_owned(),
            },
            duration_ms: a.duration_ms,
        })
        .collect();
    Ok(HookPage { chrome: signed.chrome(state).await?.at("/hooks"), hook: HookRow::from(&endpoint), attempts, notice })
}

pub(super) async fn hook_page(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    only_admins(&signed)?;
    Ok(html(StatusCode::OK, &hook_view(&state, &signed, &hook_id(&id)?, None).await?))
}

/// Enables, disables or tests an endpoint (`action` from the path).
pub(super) async fn hook_action(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = hook_id(&id)?;
    let notice = match action.as_str() {
        "enable" | "disable" => {
            hooks::set_enabled(&state.store, signed.user(), &id, action == "enable").await?;
            return Ok(Redirect::to(&format!("/hooks/{id}")).into_response());
        }
        "test" => {
            let event = hooks::send_test(&state.store, signed.user(), &id).await?;
            format!("Test event {event} sent: its delivery appears below within seconds (refresh the page).")
        }
        _ => return Err(PageError(ApiError::NotFound("action"))),
    };
    Ok(html(StatusCode::ACCEPTED, &hook_view(&state, &signed, &id, Some(notice)).await?))
}

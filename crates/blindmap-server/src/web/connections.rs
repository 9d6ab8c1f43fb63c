//! CRM connections (admins): the organisation's Salesforce orgs and HubSpot portals with their
//! latest syncs, connecting one (its credentials sealed, never shown again), syncing now — what
//! changed, or everything — writing the overlaps back now, following a sync or a write-back as
//! it runs, and deleting a connection. The same service functions as the API (`service::crm`,
//! `service::writeback`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{Connection, ConnectionId, CrmKind, CrmSync, CrmWriteback, SyncMode, SyncState, WritebackState};
use secrecy::SecretString;

use super::manage::{admin, only_admins};
use super::session::{CsrfForm, Signed};
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::{crm, writeback};

/// Syncs listed on a connection's page.
const LISTED_SYNCS: u32 = 20;

pub(super) struct SyncRow {
    pub(super) mode: String,
    pub(super) state: String,
    pub(super) running: bool,
    pub(super) failed: bool,
    pub(super) phase: String,
    pub(super) read: u64,
    pub(super) deleted: u64,
    pub(super) requests: u64,
    pub(super) accounts: Option<u64>,
    pub(super) message: Option<String>,
    pub(super) started: String,
    pub(super) started_by: String,
}

impl From<&CrmSync> for SyncRow {
    fn from(s: &CrmSync) -> Self {
        Self {
            mode: s.mode.as_str().to_owned(),
            state: s.state.as_str().to_owned(),
            running: s.state == SyncState::Running,
            failed: matches!(s.state, SyncState::Failed | SyncState::Paused),
            phase: s.phase.clone(),
            read: s.records_read,
            deleted: s.records_deleted,
            requests: s.requests,
            accounts: s.summary.as_ref().and_then(|v| v["import"]["accounts"].as_u64()),
            message: s.message.clone(),
            started: crate::rfc3339(s.started_at),
            started_by: s.started_by.clone(),
        }
    }
}

pub(super) struct WritebackRow {
    pub(super) state: String,
    pub(super) running: bool,
    pub(super) failed: bool,
    pub(super) phase: String,
    pub(super) written: u64,
    pub(super) removed: u64,
    pub(super) refused: u64,
    pub(super) unchanged: Option<u64>,
    pub(super) requests: u64,
    pub(super) message: Option<String>,
    /// The CRM's most frequent refusal, if any.
    pub(super) refusal: Option<String>,
    pub(super) started: String,
    pub(super) started_by: String,
}

impl From<&CrmWriteback> for WritebackRow {
    fn from(w: &CrmWriteback) -> Self {
        Self {
            state: w.state.as_str().to_owned(),
            running: w.state == WritebackState::Running,
            failed: w.state == WritebackState::Failed,
            phase: w.phase.clone(),
            written: w.written,
            removed: w.removed,
            refused: w.refused,
            unchanged: w.summary.as_ref().and_then(|s| s["plan"]["unchanged"].as_u64()),
            requests: w.requests,
            message: w.message.clone(),
            refusal: w.summary.as_ref().and_then(|s| {
                let first = &s["refusals"][0];
                Some(format!("{} ({} records)", first["reason"].as_str()?, first["records"].as_u64()?))
            }),
            started: crate::rfc3339(w.started_at),
            started_by: w.started_by.clone(),
        }
    }
}

pub(super) struct ConnectionRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) url: String,
    pub(super) auth: String,
    pub(super) preset: String,
    pub(super) write_back: bool,
    /// How it signs in: `jwt`, `refresh_token` or `private_app`.
    pub(super) auth_kind: &'static str,
    pub(super) last: Option<SyncRow>,
}

fn kind_name(kind: CrmKind) -> &'static str {
    match kind {
        CrmKind::Salesforce => "Salesforce",
        CrmKind::Hubspot => "HubSpot",
    }
}

fn row(connection: &Connection, last: Option<&CrmSync>) -> Result<ConnectionRow, PageError> {
    let settings = crm::settings(connection).map_err(ApiError::from)?;
    Ok(ConnectionRow {
        id: connection.id.to_string(),
        name: connection.name.clone(),
        kind: kind_name(connection.kind),
        url: settings.url,
        auth: match settings.auth {
            crm::AuthKind::Jwt => "a connected app's certificate (JWT bearer)".to_owned(),
            crm::AuthKind::RefreshToken => "a refresh token".to_owned(),
            crm::AuthKind::PrivateApp => "a private app's token".to_owned(),
        },
        preset: settings.preset,
        write_back: settings.write_back,
        auth_kind: settings.auth.as_str(),
        last: last.map(SyncRow::from),
    })
}

/// What the form to connect a CRM holds again after a refusal (never a secret).
#[derive(Default)]
pub(super) struct Entered {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) url: String,
    pub(super) client_id: String,
    pub(super) username: String,
    pub(super) write_back: bool,
}

#[derive(Template)]
#[template(path = "connections.html")]
pub(super) struct ConnectionsPage {
    pub(super) chrome: Chrome,
    pub(super) connections: Vec<ConnectionRow>,
    pub(super) entered: Entered,
    pub(super) problem: Option<String>,
    /// The callback URL a CRM's app must list for an approval to come back here.
    pub(super) callback: String,
}

async fn list_view(
    state: &AppState,
    signed: &Signed,
    entered: Entered,
    problem: Option<String>,
) -> Result<ConnectionsPage, PageError> {
    let mut connections = Vec::new();
    for c in state.store.connections(signed.org()).await? {
        let last = state.store.syncs(signed.org(), &c.id, 1).await?;
        connections.push(row(&c, last.first())?);
    }
    let public = state.node_arc().and_then(|n| n.public_url.get().cloned()).unwrap_or_default();
    let callback = format!("{}{}", public.trim_end_matches('/'), crm::AUTHORIZED_PATH);
    Ok(ConnectionsPage {
        chrome: signed.chrome(state).await?.at("/connections"),
        connections,
        entered,
        problem,
        callback,
    })
}

pub(super) async fn connections_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    only_admins(&signed)?;
    Ok(html(StatusCode::OK, &list_view(&state, &signed, Entered::default(), None).await?))
}

/// A posted form's fields, by name (the first of a name; an absent one reads empty).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn value(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// A field given: trimmed, and not empty.
    fn given(&self, name: &str) -> Option<String> {
        Some(self.value(name).trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// A secret field given.
    fn secret(&self, name: &str) -> Option<SecretString> {
        self.given(name).map(SecretString::from)
    }
}

/// Where a form that makes a connection leads: on to `to`, or back to the list, with what was
/// entered and why it was refused.
async fn on_or_back_to_list(
    state: &AppState,
    signed: &Signed,
    entered: Entered,
    outcome: Result<String, crm::CrmError>,
) -> PageResult {
    match outcome {
        Ok(to) => Ok(Redirect::to(&to).into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &list_view(state, signed, entered, Some(text)).await?))
        }
    }
}

/// Where a form about connection `id` leads: back to its page, saying why if it was refused.
async fn back_to_connection(
    state: &AppState,
    signed: &Signed,
    id: &ConnectionId,
    outcome: Result<(), crm::CrmError>,
) -> PageResult {
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/connections/{id}")).into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &connection_view(state, signed, id, Some(text)).await?))
        }
    }
}

/// Connects a CRM from the form: `kind` salesforce (a connected app's consumer key, username and
/// private key) or hubspot (a private app's token). For an approval in the CRM instead, see
/// [`authorize_connection`].
pub(super) async fn add_connection(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let form = Fields(form);
    admin(&signed, form.value("csrf"))?;
    let entered = Entered {
        name: form.value("name").trim().to_owned(),
        kind: form.value("kind").to_owned(),
        url: form.value("url").trim().to_owned(),
        client_id: form.value("client_id").trim().to_owned(),
        username: form.value("username").trim().to_owned(),
        write_back: form.value("write_back") == "1",
    };
    let input = crm::ConnectionInput {
        name: entered.name.clone(),
        kind: entered.kind.clone(),
        url: form.given("url"),
        client_id: form.given("client_id"),
        username: form.given("username"),
        private_key: form.secret("private_key"),
        token: form.secret("token"),
        write_back: entered.write_back,
        ..crm::ConnectionInput::default()
    };
    let made = crm::create(&state, signed.user(), input).await.map(|c| format!("/connections/{}", c.id));
    on_or_back_to_list(&state, &signed, entered, made).await
}

/// Connects a CRM by the admin's approval in it (Salesforce's web-server flow, HubSpot's OAuth):
/// the form's client id and secret are checked and kept for ten minutes, and the browser goes to
/// the CRM's approval page, which sends it back to [`authorized`].
pub(super) async fn authorize_connection(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let form = Fields(form);
    admin(&signed, form.value("csrf"))?;
    let entered = Entered {
        name: form.value("name").trim().to_owned(),
        kind: form.value("kind").to_owned(),
        url: form.value("url").trim().to_owned(),
        client_id: form.value("oauth_client_id").trim().to_owned(),
        username: String::new(),
        write_back: form.value("write_back") == "1",
    };
    let input = crm::ConnectionInput {
        name: entered.name.clone(),
        kind: entered.kind.clone(),
        url: form.given("url"),
        client_id: form.given("oauth_client_id"),
        client_secret: form.secret("client_secret"),
        write_back: entered.write_back,
        ..crm::ConnectionInput::default()
    };
    let started = crm::begin_authorization(&state, signed.user(), input).await.map(|a| a.url.to_string());
    on_or_back_to_list(&state, &signed, entered, started).await
}

/// Replaces a connection's credentials from the form (the fields of the way it signs in: a
/// private key, a token, or a client secret and refresh token); nothing changes if refused.
pub(super) async fn replace_credentials(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let form = Fields(form);
    admin(&signed, form.value("csrf"))?;
    let id = connection_id(&id)?;
    let change = crm::ConnectionChange {
        private_key: form.secret("private_key"),
        client_secret: form.secret("client_secret"),
        refresh_token: form.secret("refresh_token"),
        token: form.secret("token"),
        ..Default::default()
    };
    let nothing = change.private_key.is_none()
        && change.client_secret.is_none()
        && change.refresh_token.is_none()
        && change.token.is_none();
    let outcome = if nothing {
        Err(crm::CrmError::Invalid("give the new credentials to keep instead of the old ones".into()))
    } else {
        crm::update(&state, signed.user(), &id, change).await.map(|_| ())
    };
    back_to_connection(&state, &signed, &id, outcome).await
}

/// What the CRM's approval page sends the browser back with.
#[derive(serde::Deserialize)]
pub(super) struct ApprovalQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Where the CRM sends the admin's browser back: the connection is made with the refresh token
/// the code is exchanged for, and the browser goes to its page; a refusal is shown on the list.
pub(super) async fn authorized(
    State(state): State<AppState>,
    signed: Signed,
    axum::extract::Query(q): axum::extract::Query<ApprovalQuery>,
) -> PageResult {
    only_admins(&signed)?;
    let approval = crm::Approval {
        state: q.state.as_deref(),
        code: q.code.as_deref(),
        error: q.error.as_deref(),
        error_description: q.error_description.as_deref(),
    };
    let made =
        crm::finish_authorization(&state, signed.user(), &approval).await.map(|c| format!("/connections/{}", c.id));
    on_or_back_to_list(&state, &signed, Entered::default(), made).await
}

#[derive(Template)]
#[template(path = "connection.html")]
pub(super) struct ConnectionPage {
    pub(super) chrome: Chrome,
    pub(super) connection: ConnectionRow,
    pub(super) syncs: Vec<SyncRow>,
    pub(super) running: bool,
    pub(super) writebacks: Vec<WritebackRow>,
    pub(super) writing: bool,
    pub(super) incremental: bool,
    pub(super) problem: Option<String>,
}

fn connection_id(id: &str) -> Result<ConnectionId, PageError> {
    ConnectionId::parse(id).ok_or(PageError(ApiError::NotFound("connection")))
}

async fn connection_view(
    state: &AppState,
    signed: &Signed,
    id: &ConnectionId,
    problem: Option<String>,
) -> Result<ConnectionPage, PageError> {
    // The syncs first: a sync shown complete moved the connection's cursor in the same
    // transaction, so the connection read after it has the cursor too.
    let syncs = state.store.syncs(signed.org(), id, LISTED_SYNCS).await?;
    let connection = state.store.connection(signed.org(), id).await?;
    let running = syncs.first().is_some_and(|s| s.state == SyncState::Running);
    let writebacks = state.store.writebacks(signed.org(), id, LISTED_SYNCS).await?;
    let writing = writebacks.first().is_some_and(|w| w.state == WritebackState::Running);
    Ok(ConnectionPage {
        writebacks: writebacks.iter().map(WritebackRow::from).collect(),
        writing,
        chrome: signed.chrome(state).await?.at("/connections"),
        incremental: connection.cursor.is_some() && connection.dataset.is_some(),
        connection: row(&connection, syncs.first())?,
        syncs: syncs.iter().map(SyncRow::from).collect(),
        running,
        problem,
    })
}

pub(super) async fn connection_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    only_admins(&signed)?;
    let page = connection_view(&state, &signed, &connection_id(&id)?, None).await?;
    let mut response = html(StatusCode::OK, &page);
    if page.running || page.writing {
        // Followed without JavaScript: the browser asks again in two seconds until it ends.
        response.headers_mut().insert(header::REFRESH, HeaderValue::from_static("2"));
    }
    Ok(response)
}

/// Syncs a connection (`sync`: what changed, or everything the first time; `full`: everything),
/// writes its overlaps back (`write-back`), turns writing back after each match on or off
/// (`write-back-on`, `write-back-off`) or deletes it (`delete`), from the path.
pub(super) async fn connection_action(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = connection_id(&id)?;
    let outcome = match action.as_str() {
        "sync" => crm::start_sync(&state, signed.user(), &id, None).await.map(|_| ()),
        "full" => crm::start_sync(&state, signed.user(), &id, Some(SyncMode::Full)).await.map(|_| ()),
        "write-back" => writeback::start(&state, signed.user(), &id).await.map(|_| ()),
        "write-back-on" | "write-back-off" => {
            let change = crm::ConnectionChange { write_back: Some(action == "write-back-on"), ..Default::default() };
            crm::update(&state, signed.user(), &id, change).await.map(|_| ())
        }
        "delete" => {
            crm::delete(&state, signed.user(), &id).await.map_err(ApiError::from)?;
            return Ok(Redirect::to("/connections").into_response());
        }
        _ => return Err(PageError(ApiError::NotFound("action"))),
    };
    back_to_connection(&state, &signed, &id, outcome).await
}

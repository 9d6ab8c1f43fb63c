//! `/api/v1/connections`: the organisation's CRM connections (admins only) — a Salesforce org or
//! a HubSpot portal the node reads accounts from — and their syncs, each of which builds a new
//! dataset version from the CRM's records, and their write-backs, each of which writes the
//! overlaps partners disclose into the CRM. Credentials are sealed at rest and never shown again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{Connection, ConnectionId, CrmSync, CrmWriteback, Role, SyncId, SyncMode, WritebackId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contract;
use super::datasets::PresetName;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::{crm, writeback};

/// The CRMs a connection reads.
#[derive(Serialize, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrmKindName {
    /// A Salesforce org: its Account object.
    Salesforce,
    /// A HubSpot portal: its companies.
    Hubspot,
}

/// A connection to make. Which credentials it takes depends on the CRM and how it signs in:
///
/// - Salesforce, OAuth 2.0 JWT bearer flow (a connected app with a certificate, pre-authorised
///   for an integration user): `private_key` (the certificate's key, PKCS#8 PEM), `client_id`
///   (the consumer key) and `username`.
/// - Salesforce, a refresh token of the web-server flow: `refresh_token`, `client_id` and
///   `client_secret`.
/// - HubSpot, a private app: `token`.
/// - HubSpot, OAuth: `refresh_token`, `client_id` and `client_secret`.
///
/// Anything the way of signing in does not use is refused, so that nothing is kept by mistake.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewConnection {
    /// What the organisation calls it; unique in the organisation.
    #[schema(value_type = contract::Label)]
    pub name: String,
    /// Which CRM.
    pub kind: CrmKindName,
    /// Salesforce's login URL (default `https://login.salesforce.com`; a sandbox's is
    /// `https://test.salesforce.com`, or the org's My Domain URL), or HubSpot's API (default
    /// `https://api.hubapi.com`). https:// to a public address, unless the node's operator allows
    /// more (`crm_allow_http`, `crm_allow`).
    #[serde(default)]
    pub url: Option<String>,
    /// The app's client id (a Salesforce connected app's consumer key).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The Salesforce user the JWT bearer flow signs in as.
    #[serde(default)]
    pub username: Option<String>,
    /// The connected app's certificate key (PKCS#8 PEM). Sealed at rest, never shown again.
    #[serde(default)]
    pub private_key: Option<String>,
    /// The app's client secret. Sealed at rest, never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A refresh token. Sealed at rest, never shown again.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// A HubSpot private app's access token. Sealed at rest, never shown again.
    #[serde(default)]
    pub token: Option<String>,
    /// Salesforce only: the share of the org's daily API requests at which a sync pauses
    /// (default 0.8, 80 %).
    #[serde(default)]
    #[schema(minimum = 0.05, maximum = 1.0)]
    pub pause_at: Option<f64>,
    /// Salesforce only: a sync of at least this many records reads through a Bulk API 2.0 query
    /// job (its results in CSV pages of 50,000 records), fewer through the REST query API (pages
    /// of 2,000); default 10,000.
    #[serde(default)]
    pub bulk_from: Option<u64>,
    /// How the records are read: the preset whose columns and segments apply (default the CRM's:
    /// `salesforce` reads the Account object's API names, `hubspot` the company properties'
    /// labels and names).
    #[serde(default)]
    pub preset: Option<PresetName>,
    /// Changes to the preset, `ROLE=COLUMN` (replaces) or `ROLE+=COLUMN` (adds), as an import's
    /// `map`: a column is a field's API name (Salesforce) or a property's label or name (HubSpot).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub map: Vec<String>,
    /// Segment rules replacing the preset's, `label: rule`, in order of precedence.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub segment: Vec<String>,
    /// Whether to write the overlaps partners disclose back into the CRM after each run on this
    /// connection's datasets (default false): Salesforce records of `Blindmap_Overlap__c`
    /// (deploy it first: `blindmap crm metadata`), HubSpot's company property
    /// `blindmap_overlaps`. A write-back can be started by hand either way.
    #[serde(default)]
    pub write_back: bool,
}

/// What to change of a connection; whatever is left out stays as it is. Credentials replace the
/// kept ones of the same way of signing in (a JWT connection takes a new `private_key`, a
/// refresh-token one a `client_secret` and/or `refresh_token`, a private app's a `token`);
/// another way's is refused.
#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct ConnectionChange {
    /// A new certificate key (PKCS#8 PEM). Sealed at rest, never shown again.
    #[serde(default)]
    pub private_key: Option<String>,
    /// A new client secret. Sealed at rest, never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A new refresh token. Sealed at rest, never shown again.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// A new private app token. Sealed at rest, never shown again.
    #[serde(default)]
    pub token: Option<String>,
    /// Salesforce: the share of the org's daily API requests at which a sync pauses.
    #[serde(default)]
    #[schema(minimum = 0.05, maximum = 1.0)]
    pub pause_at: Option<f64>,
    /// Salesforce: the number of records from which a sync reads through a Bulk API 2.0 job.
    #[serde(default)]
    pub bulk_from: Option<u64>,
    /// The preset its records are read with (shows from the next full sync).
    #[serde(default)]
    pub preset: Option<PresetName>,
    /// Its changes to the preset, replacing the kept ones.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub map: Option<Vec<String>>,
    /// Its segment rules, replacing the kept ones.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub segment: Option<Vec<String>>,
    /// Whether to write the overlaps back after each run.
    #[serde(default)]
    pub write_back: Option<bool>,
}

/// A CRM connection (never its credentials).
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ConnectionView {
    /// `crm_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Which CRM.
    pub kind: CrmKindName,
    /// Where it signs in (Salesforce) or calls (HubSpot).
    pub url: String,
    /// How it signs in: `jwt`, `refresh_token` or `private_app`.
    pub auth: String,
    /// The app's client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The Salesforce user it signs in as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Salesforce: the share of the org's daily API requests at which a sync pauses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_at: Option<f64>,
    /// Salesforce: the number of records from which a sync reads through a Bulk API 2.0 job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_from: Option<u64>,
    /// The preset its records are read with.
    pub preset: String,
    /// Its changes to the preset.
    pub map: Vec<String>,
    /// Its segment rules (empty: the preset's).
    pub segment: Vec<String>,
    /// Whether the overlaps are written back into the CRM after each run.
    pub write_back: bool,
    /// The dataset its last complete sync built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When, RFC 3339.
    pub created_at: String,
    /// Its latest sync, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SyncView>,
}

impl ConnectionView {
    fn new(connection: Connection, last_sync: Option<CrmSync>) -> Result<Self, ApiError> {
        let settings = crm::settings(&connection)?;
        Ok(Self {
            id: connection.id.to_string(),
            name: connection.name,
            kind: match connection.kind {
                blindmap_store::CrmKind::Salesforce => CrmKindName::Salesforce,
                blindmap_store::CrmKind::Hubspot => CrmKindName::Hubspot,
            },
            url: settings.url,
            auth: settings.auth.as_str().to_owned(),
            client_id: settings.client_id,
            username: settings.username,
            pause_at: settings.pause_at,
            bulk_from: settings.bulk_from,
            preset: settings.preset,
            map: settings.maps,
            segment: settings.segments,
            write_back: settings.write_back,
            dataset: connection.dataset.map(|d| d.to_string()),
            created_by: connection.created_by,
            created_at: crate::rfc3339(connection.created_at),
            last_sync: last_sync.map(SyncView::from),
        })
    }
}

/// The organisation's connections.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ConnectionList {
    /// By name.
    pub items: Vec<ConnectionView>,
}

/// A sync of a connection: its progress while it runs, its outcome after.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SyncView {
    /// `sync_…`.
    pub id: String,
    /// The connection it reads.
    pub connection: String,
    /// `full` (every account) or `incremental` (what changed since the last sync).
    pub mode: String,
    /// `running`, `complete` (its dataset is stored and active), `failed` or `paused` (before
    /// the CRM's quota ran low); a failed or paused sync kept nothing, and the organisation's
    /// active dataset is as it was.
    pub state: String,
    /// What it is doing, or did last: `starting`, `reading`, `importing`, `done`.
    pub phase: String,
    /// Why it failed or paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Records read from the CRM so far.
    pub records_read: u64,
    /// Of them, records the CRM reported deleted.
    pub records_deleted: u64,
    /// Calls made to the CRM so far.
    pub requests: u64,
    /// The dataset it built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Who started it.
    pub started_by: String,
    /// When, RFC 3339.
    pub started_at: String,
    /// When it ended, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// A complete sync's summary: the import's (rows, accounts, keys per type, rows refused by
    /// reason, segments) under `import`, and what the sync read (records, requests, the CRM's
    /// API usage as it last told it), and `warnings`: what it went on without (HubSpot's owners'
    /// names, without the scope `crm.objects.owners.read`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
}

impl From<CrmSync> for SyncView {
    fn from(s: CrmSync) -> Self {
        Self {
            id: s.id.to_string(),
            connection: s.connection.to_string(),
            mode: s.mode.as_str().to_owned(),
            state: s.state.as_str().to_owned(),
            phase: s.phase,
            message: s.message,
            records_read: s.records_read,
            records_deleted: s.records_deleted,
            requests: s.requests,
            dataset: s.dataset.map(|d| d.to_string()),
            started_by: s.started_by,
            started_at: crate::rfc3339(s.started_at),
            finished_at: s.finished_at.map(crate::rfc3339),
            summary: s.summary,
        }
    }
}

/// How much a sync reads.
#[derive(Serialize, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncModeName {
    /// Every account.
    Full,
    /// What changed since the last complete sync (its dataset changed into a new one).
    Incremental,
}

/// What a sync reads.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct SyncParams {
    /// `full` or `incremental`; by default incremental when the last complete sync's dataset is
    /// there to change, full otherwise.
    #[serde(default)]
    #[param(nullable = false)]
    pub mode: Option<SyncModeName>,
}

/// A connection's latest syncs.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SyncList {
    /// Newest first, at most 50.
    pub items: Vec<SyncView>,
}

/// A write-back of a connection: its progress while it runs, its outcome after.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct WritebackView {
    /// `wb_…`.
    pub id: String,
    /// The connection it writes to.
    pub connection: String,
    /// `running`, `complete` (everything due was written or removed, or refused by the CRM and
    /// counted in `refused`) or `failed` (what it wrote before it stopped is kept; the next
    /// write-back carries on).
    pub state: String,
    /// What it is doing, or did last: `starting`, `planning`, `writing`, `done`.
    pub phase: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Records written (made or changed) so far.
    pub written: u64,
    /// Records removed (overlaps lost) so far.
    pub removed: u64,
    /// Records the CRM refused so far; they are tried again by the next write-back.
    pub refused: u64,
    /// Calls made to the CRM.
    pub requests: u64,
    /// Who or what started it.
    pub started_by: String,
    /// When, RFC 3339.
    pub started_at: String,
    /// When it ended, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// A complete write-back's summary: the plan (`added`, `changed`, `removing`, `unchanged`
    /// overlaps), the counts, and the CRM's refusals by reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
}

impl From<CrmWriteback> for WritebackView {
    fn from(w: CrmWriteback) -> Self {
        Self {
            id: w.id.to_string(),
            connection: w.connection.to_string(),
            state: w.state.as_str().to_owned(),
            phase: w.phase,
            message: w.message,
            written: w.written,
            removed: w.removed,
            refused: w.refused,
            requests: w.requests,
            started_by: w.started_by,
            started_at: crate::rfc3339(w.started_at),
            finished_at: w.finished_at.map(crate::rfc3339),
            summary: w.summary,
        }
    }
}

/// A connection's latest write-backs.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct WritebackList {
    /// Newest first, at most 50.
    pub items: Vec<WritebackView>,
}

fn writeback_id(id: &str) -> Result<WritebackId, ApiError> {
    WritebackId::parse(id).ok_or(ApiError::NotFound("write-back"))
}

fn connection_id(id: &str) -> Result<ConnectionId, ApiError> {
    ConnectionId::parse(id).ok_or(ApiError::NotFound("connection"))
}

fn sync_id(id: &str) -> Result<SyncId, ApiError> {
    SyncId::parse(id).ok_or(ApiError::NotFound("sync"))
}

async fn view(state: &AppState, caller: &Caller, connection: Connection) -> Result<ConnectionView, ApiError> {
    let last = state.store.syncs(&caller.0.user.org, &connection.id, 1).await?.into_iter().next();
    ConnectionView::new(connection, last)
}

/// Connects a Salesforce org or a HubSpot portal (admins only). The credentials are sealed at
/// rest and never shown again; the settings are checked first (a private key that does not
/// read, a URL the node may not reach, a mapping that does not parse: 422, nothing kept).
/// Audited (`crm.connection_created`, without the credentials).
#[utoipa::path(post, path = "/api/v1/connections", tag = "connections", request_body = NewConnection,
    responses((status = 201, body = ConnectionView, description = "The connection"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A connection of that name exists"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "A credential missing or not for this way of signing in, a key that does not read, a URL the node may not reach, a mapping that does not parse")))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewConnection>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let connection = crm::create(&state, &caller.0.user, input_of(body)).await?;
    Ok((StatusCode::CREATED, Json(ConnectionView::new(connection, None)?)))
}

/// An approval to ask for in the CRM.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AuthorizationView {
    /// Where to send the admin's browser: the CRM's approval page (Salesforce's
    /// `/services/oauth2/authorize` with PKCE, HubSpot's `/oauth/authorize`).
    pub authorize_url: String,
    /// Where the CRM sends the browser back, which the CRM's app must list as its callback
    /// (redirect) URL: the node's `/connections/authorized` page.
    pub redirect_uri: String,
    /// How long the approval may take, in seconds.
    pub expires_in: u64,
}

/// Begins connecting a Salesforce org by the web-server flow, or a HubSpot portal by OAuth
/// (admins only): the body is a connection's as for `POST /api/v1/connections`, with the app's
/// `client_id` and `client_secret` and no other credential. The settings are checked and kept
/// for ten minutes; open `authorize_url` in a browser signed in to this node as the same user,
/// approve the access in the CRM, and the CRM sends the browser back to `redirect_uri`, where
/// the node exchanges the code for a refresh token and makes the connection.
#[utoipa::path(post, path = "/api/v1/connections/authorize", tag = "connections", request_body = NewConnection,
    responses((status = 201, body = AuthorizationView, description = "Where to approve the access"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A connection of that name exists"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "No client id or secret, a credential given that the approval brings, a URL the node may not reach, a mapping that does not parse")))]
async fn authorize(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewConnection>,
) -> Result<(StatusCode, Json<AuthorizationView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let authorization = crm::begin_authorization(&state, &caller.0.user, input_of(body)).await?;
    Ok((
        StatusCode::CREATED,
        Json(AuthorizationView {
            authorize_url: authorization.url.to_string(),
            redirect_uri: authorization.redirect_uri,
            expires_in: (blindmap_store::CRM_AUTHORIZATION_MS / 1000) as u64,
        }),
    ))
}

/// A connection's body as the service takes it.
fn input_of(body: NewConnection) -> crm::ConnectionInput {
    let secret = |s: Option<String>| s.map(SecretString::from);
    crm::ConnectionInput {
        name: body.name,
        kind: match body.kind {
            CrmKindName::Salesforce => "salesforce".into(),
            CrmKindName::Hubspot => "hubspot".into(),
        },
        url: body.url,
        client_id: body.client_id,
        username: body.username,
        private_key: secret(body.private_key),
        client_secret: secret(body.client_secret),
        refresh_token: secret(body.refresh_token),
        token: secret(body.token),
        pause_at: body.pause_at,
        bulk_from: body.bulk_from,
        preset: body.preset.map(|p| p.as_str().to_owned()),
        maps: body.map,
        segments: body.segment,
        write_back: body.write_back,
    }
}

/// The organisation's CRM connections, by name, each with its latest sync (admins only).
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections",
    responses((status = 200, body = ConnectionList, description = "The connections"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only")))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<ConnectionList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let mut items = Vec::new();
    for connection in state.store.connections(&caller.0.user.org).await? {
        items.push(view(&state, &caller, connection).await?);
    }
    Ok(Json(ConnectionList { items }))
}

/// A connection, with its latest sync (admins only).
#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections", params(("id" = contract::ConnectionId, Path)),
    responses((status = 200, body = ConnectionView, description = "The connection"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection")))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let connection = state.store.connection(&caller.0.user.org, &connection_id(&id)?).await?;
    Ok(Json(view(&state, &caller, connection).await?))
}

/// Changes a connection (admins only): new credentials of the way it signs in (rotated keys or
/// secrets), the quota share, the Bulk threshold, how its records are read, whether it writes
/// back. Checked as a new connection is; nothing changes when anything is refused. Audited
/// (`crm.connection_updated`, which parts changed, never a secret).
#[utoipa::path(patch, path = "/api/v1/connections/{id}", tag = "connections", params(("id" = contract::ConnectionId, Path)),
    request_body = ConnectionChange,
    responses((status = 200, body = ConnectionView, description = "The connection as changed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "A credential of another way of signing in or one that does not read, a setting out of bounds, a mapping that does not parse")))]
async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ConnectionChange>,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let secret = |s: Option<String>| s.map(SecretString::from);
    let change = crm::ConnectionChange {
        private_key: secret(body.private_key),
        client_secret: secret(body.client_secret),
        refresh_token: secret(body.refresh_token),
        token: secret(body.token),
        pause_at: body.pause_at,
        bulk_from: body.bulk_from,
        preset: body.preset.map(|p| p.as_str().to_owned()),
        maps: body.map,
        segments: body.segment,
        write_back: body.write_back,
    };
    let connection = crm::update(&state, &caller.0.user, &connection_id(&id)?, change).await?;
    Ok(Json(view(&state, &caller, connection).await?))
}

/// Deletes a connection and the records of its syncs and write-backs (admins only); the datasets
/// its syncs built stay, and so do the records it wrote into the CRM. Refused while it syncs or
/// writes back. Audited (`crm.connection_deleted`).
#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections", params(("id" = contract::ConnectionId, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A sync or write-back of it is running")))]
async fn remove(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    crm::delete(&state, &caller.0.user, &connection_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a sync of a connection (admins only): every account (`full`), or only what changed
/// since the last complete sync (`incremental`: accounts modified or deleted since, read into a
/// new dataset made of the last one changed), into a new dataset that becomes the active one
/// once the whole read and import succeed. It runs on after the answer: follow it at
/// `GET /api/v1/connections/{id}/syncs/{sync}`. A failed or paused sync keeps nothing. One sync
/// of a connection runs at a time.
#[utoipa::path(post, path = "/api/v1/connections/{id}/syncs", tag = "connections",
    params(("id" = contract::ConnectionId, Path), SyncParams),
    responses((status = 202, body = SyncView, description = "The sync, running"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A sync of it is running"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Incremental, and no complete sync's dataset to change")))]
async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<SyncParams>,
) -> Result<(StatusCode, Json<SyncView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let mode = params.mode.map(|m| match m {
        SyncModeName::Full => SyncMode::Full,
        SyncModeName::Incremental => SyncMode::Incremental,
    });
    let sync = crm::start_sync(&state, &caller.0.user, &connection_id(&id)?, mode).await?;
    Ok((StatusCode::ACCEPTED, Json(sync.into())))
}

/// A connection's latest syncs, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/connections/{id}/syncs", tag = "connections", params(("id" = contract::ConnectionId, Path)),
    responses((status = 200, body = SyncList, description = "Its syncs"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection")))]
async fn syncs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SyncList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let items = state.store.syncs(&caller.0.user.org, &connection_id(&id)?, 50).await?;
    Ok(Json(SyncList { items: items.into_iter().map(Into::into).collect() }))
}

/// One sync of a connection: its progress while it runs, its outcome and summary after (admins
/// only).
#[utoipa::path(get, path = "/api/v1/connections/{id}/syncs/{sync}", tag = "connections",
    params(("id" = contract::ConnectionId, Path), ("sync" = contract::SyncId, Path)),
    responses((status = 200, body = SyncView, description = "The sync"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection or sync")))]
async fn show_sync(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, sync)): Path<(String, String)>,
) -> Result<Json<SyncView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let (id, sync) = (connection_id(&id)?, sync_id(&sync)?);
    let found = state.store.sync(&caller.0.user.org, &sync).await?;
    if found.connection != id {
        return Err(ApiError::NotFound("sync"));
    }
    Ok(Json(found.into()))
}

/// Starts a write-back of a connection (admins only): the overlaps partners disclose to this
/// side, from each partnership's latest complete run on a dataset this connection synced, are
/// written into the CRM — new and changed ones written, lost ones removed, unchanged ones left
/// alone. It runs on after the answer: follow it at
/// `GET /api/v1/connections/{id}/writebacks/{writeback}`. One write-back of a connection runs at
/// a time; one that fails is carried on by the next.
#[utoipa::path(post, path = "/api/v1/connections/{id}/writebacks", tag = "connections",
    params(("id" = contract::ConnectionId, Path)),
    responses((status = 202, body = WritebackView, description = "The write-back, running"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A write-back of it is running")))]
async fn write_back(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<WritebackView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let started = writeback::start(&state, &caller.0.user, &connection_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(started.into())))
}

/// A connection's latest write-backs, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/connections/{id}/writebacks", tag = "connections",
    params(("id" = contract::ConnectionId, Path)),
    responses((status = 200, body = WritebackList, description = "Its write-backs"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection")))]
async fn writebacks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WritebackList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let items = state.store.writebacks(&caller.0.user.org, &connection_id(&id)?, 50).await?;
    Ok(Json(WritebackList { items: items.into_iter().map(Into::into).collect() }))
}

/// One write-back of a connection: its progress while it runs, its outcome and summary after
/// (admins only).
#[utoipa::path(get, path = "/api/v1/connections/{id}/writebacks/{writeback}", tag = "connections",
    params(("id" = contract::ConnectionId, Path), ("writeback" = contract::WritebackId, Path)),
    responses((status = 200, body = WritebackView, description = "The write-back"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such connection or write-back")))]
async fn show_writeback(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, writeback)): Path<(String, String)>,
) -> Result<Json<WritebackView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let (id, writeback) = (connection_id(&id)?, writeback_id(&writeback)?);
    let found = state.store.writeback(&caller.0.user.org, &writeback).await?;
    if found.connection != id {
        return Err(ApiError::NotFound("write-back"));
    }
    Ok(Json(found.into()))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(authorize))
        .routes(routes!(show, remove, change))
        .routes(routes!(sync, syncs))
        .routes(routes!(show_sync))
        .routes(routes!(write_back, writebacks))
        .routes(routes!(show_writeback))
}

//! CRM connections and syncs (issue 17): an organisation connects its Salesforce org or HubSpot
//! portal, and a sync reads its accounts through `blindmap_crm` into a new dataset version.
//!
//! A sync reads the CRM's field list first (Salesforce's describe, HubSpot's properties) and
//! asks for the fields the connection's mapping reads — the same presets, `ROLE=COLUMN` maps and
//! segment rules as a CSV import, whose columns a CRM's field names (Salesforce's API names,
//! HubSpot's labels and internal names) are. It writes the records page by page to an unnamed
//! temporary file as CSV (memory holds a page, not the org), then imports that file exactly as
//! an upload is imported (`service::datasets::import`): one importer, one set of checks, the
//! same summary. Nothing is kept unless the whole read and the whole import succeed: a failed or
//! paused sync leaves the organisation's active dataset as it was. A complete sync's dataset
//! becomes the active one.
//!
//! The API, the command line and the pages call these functions; none knows HTTP.

use std::io::{BufWriter, Seek};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindmap_crm::Secret;
use blindmap_crm::hubspot::{self, HubSpot, HubSpotError};
use blindmap_crm::salesforce::{self, Salesforce, SalesforceError, SigningKey};
use blindmap_records::Preset;
use blindmap_store::{
    Connection, ConnectionId, CrmKind, CrmSync, DatasetId, NewConnection, OrgId, Store, StoreError, SyncEnd, SyncId,
    SyncMode, SyncProgress, User,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::datasets::{self, DatasetError, ReadAs};
use super::hooks::{Refusal, WebhookEgress};
use crate::AppState;
use crate::NodeContext;

/// Salesforce's production login URL (a sandbox's is `https://test.salesforce.com`).
pub(crate) const SALESFORCE_LOGIN: &str = "https://login.salesforce.com";
/// HubSpot's API.
pub(crate) const HUBSPOT_API: &str = "https://api.hubapi.com";
/// The share of a Salesforce org's daily API requests at which a sync pauses, by default.
pub(crate) const DEFAULT_PAUSE_AT: f64 = 0.8;
/// How long one call to a CRM may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// A Salesforce sync of at least this many records reads through a Bulk API 2.0 query job, by
/// default (`bulk_from`); fewer, through the REST query API.
pub(crate) const DEFAULT_BULK_FROM: u64 = 10_000;
/// Records per page of a query job's results: a page of accounts is a few MiB.
const BULK_PAGE_RECORDS: u32 = 50_000;
/// The longest wait between two looks at a query job's state.
const BULK_POLL_MAX: Duration = Duration::from_secs(10);
/// How often a running sync writes its progress (its heartbeat) at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Why a connection cannot be made or changed, or a sync started. `http::error` maps each to its
/// status: invalid → 422, no node → 503, the store's own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CrmError {
    /// A setting or credential is missing, out of bounds or unreadable.
    #[error("{0}")]
    Invalid(String),
    /// Syncs run on a node (this process serves no node).
    #[error("CRM syncs run on a node")]
    NoNode,
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a connection signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthKind {
    /// Salesforce: OAuth 2.0 JWT bearer flow (a connected app's certificate key).
    Jwt,
    /// Salesforce or HubSpot: a refresh token from the web-server (authorization code) flow,
    /// with the app's client id and secret.
    RefreshToken,
    /// HubSpot: a private app's access token.
    PrivateApp,
}

impl AuthKind {
    /// Its name in the API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::RefreshToken => "refresh_token",
            Self::PrivateApp => "private_app",
        }
    }
}

/// A connection's settings as stored (everything but the credentials).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Settings {
    /// Salesforce's login URL, or HubSpot's API.
    pub(crate) url: String,
    /// How it signs in.
    pub(crate) auth: AuthKind,
    /// The app's client id (a Salesforce connected app's consumer key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    /// The Salesforce user the JWT bearer flow signs in as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    /// Salesforce: the share of the org's daily API requests at which a sync pauses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pause_at: Option<f64>,
    /// Salesforce: a sync of at least this many records reads through a Bulk API 2.0 job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bulk_from: Option<u64>,
    /// How the records are read: a preset's name, `ROLE=COLUMN` maps, segment rules.
    pub(crate) preset: String,
    #[serde(default)]
    pub(crate) maps: Vec<String>,
    #[serde(default)]
    pub(crate) segments: Vec<String>,
    /// Whether the overlaps are written back into the CRM after each run on the connection's
    /// datasets (`service::writeback`); a write-back can always be started by hand.
    #[serde(default)]
    pub(crate) write_back: bool,
}

/// A connection's credentials, as sealed: zeroed when dropped, never printed.
#[derive(Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(super) struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// What a caller gives to make a connection.
#[derive(Default)]
pub(crate) struct ConnectionInput {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) url: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) private_key: Option<SecretString>,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) refresh_token: Option<SecretString>,
    pub(crate) token: Option<SecretString>,
    pub(crate) pause_at: Option<f64>,
    pub(crate) bulk_from: Option<u64>,
    pub(crate) preset: Option<String>,
    pub(crate) maps: Vec<String>,
    pub(crate) segments: Vec<String>,
    pub(crate) write_back: bool,
}

/// A connection's settings, read from the store.
pub(crate) fn settings(connection: &Connection) -> Result<Settings, CrmError> {
    serde_json::from_value(connection.settings.clone())
        .map_err(|_| CrmError::Store(StoreError::Corrupt("crm_connections.settings")))
}

fn invalid(text: impl Into<String>) -> CrmError {
    CrmError::Invalid(text.into())
}

/// A short text setting: present, 1 to 200 characters, no control characters.
fn text_setting(what: &str, value: Option<&str>) -> Result<String, CrmError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| invalid(format!("{what} is missing")))?;
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(invalid(format!("{what} must be 1 to 200 characters without control characters")));
    }
    Ok(value.to_owned())
}

/// A secret given: present and not blank.
fn secret_setting(what: &str, value: Option<&SecretString>) -> Result<String, CrmError> {
    let value = value.map(|v| v.expose_secret().trim()).filter(|v| !v.is_empty());
    let value = value.ok_or_else(|| invalid(format!("{what} is missing")))?;
    if value.len() > 16 << 10 {
        return Err(invalid(format!("{what} is longer than 16 KiB")));
    }
    Ok(value.to_owned())
}

/// The URL a connection reaches, as the operator's CRM egress allows it.
fn checked_url(egress: &WebhookEgress, url: &str) -> Result<String, CrmError> {
    let parsed = egress.check(url).map_err(|refusal| {
        invalid(match refusal {
            Refusal::NotAUrl(_) => format!("{url:?} is not an https:// URL with a host"),
            Refusal::PlainHttp => {
                format!(
                    "{url:?}: plain http:// is not allowed on this node (its operator can allow it: crm_allow_http)"
                )
            }
            Refusal::Address { host, what } => format!(
                "{url:?}: {host} is {what}, which CRM connections may not reach (its operator can allow it: crm_allow)"
            ),
        })
    })?;
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.username() != "" {
        return Err(invalid(format!("{url:?}: give the site only, without a query, fragment or user")));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// How a connection's records are read: its preset (the CRM's by default), maps and rules,
/// checked now so that a mistake is told when the connection is made, not at its first sync.
fn read_as(kind: CrmKind, preset: Option<&str>, maps: &[String], segments: &[String]) -> Result<ReadAs, CrmError> {
    let preset = match preset {
        None => match kind {
            CrmKind::Salesforce => Preset::Salesforce,
            CrmKind::Hubspot => Preset::Hubspot,
        },
        Some(name) => Preset::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            invalid(format!("unknown preset {name:?}; presets: {}", names.join(", ")))
        })?,
    };
    let read_as = ReadAs { preset: Some(preset), maps: maps.to_vec(), segments: segments.to_vec() };
    read_as.mapping(|| Ok(Vec::new())).map_err(|e| invalid(e.to_string()))?;
    Ok(read_as)
}

fn settings_read_as(kind: CrmKind, s: &Settings) -> Result<ReadAs, CrmError> {
    read_as(kind, Some(&s.preset), &s.maps, &s.segments)
}

/// Checks `input` and makes the connection it describes, its credentials sealed; audited.
pub(crate) async fn create(state: &AppState, caller: &User, input: ConnectionInput) -> Result<Connection, CrmError> {
    let (kind, settings, credentials) = prepare(state, &input, false)?;
    keep(state, caller, &input.name, kind, &settings, &credentials).await
}

/// Keeps a checked connection, its credentials sealed; audited.
async fn keep(
    state: &AppState,
    caller: &User,
    name: &str,
    kind: CrmKind,
    settings: &Settings,
    credentials: &Credentials,
) -> Result<Connection, CrmError> {
    let settings = serde_json::to_value(settings).expect("settings are JSON");
    let sealed = SecretString::from(serde_json::to_string(credentials).expect("credentials are JSON"));
    let new = NewConnection { name, kind, settings: &settings, credentials: &sealed };
    Ok(state.store.create_connection(&caller.org, &new, &caller.name).await?)
}

/// Checks `input`: the connection's kind, settings and credentials as they would be kept.
/// `authorizing`: a refresh token is to come from the CRM's approval (the web-server flow,
/// HubSpot's OAuth), so none is given, and neither is any other way of signing in.
fn prepare(
    state: &AppState,
    input: &ConnectionInput,
    authorizing: bool,
) -> Result<(CrmKind, Settings, Credentials), CrmError> {
    let node = state.node().map_err(|_| CrmError::NoNode)?;
    super::text::check_name("name", &input.name).map_err(|e| invalid(e.to_string()))?;
    if authorizing {
        let given = [
            input.private_key.as_ref().map(|_| "private_key"),
            input.refresh_token.as_ref().map(|_| "refresh_token"),
            input.token.as_ref().map(|_| "token"),
        ];
        let given: Vec<&str> = given.into_iter().flatten().collect();
        if !given.is_empty() {
            return Err(invalid(format!(
                "an approval in the CRM brings its own refresh token: leave out {}",
                given.join(", ")
            )));
        }
    }
    let kind = CrmKind::parse(&input.kind)
        .ok_or_else(|| invalid(format!("kind {:?}: a connection is to salesforce or hubspot", input.kind)))?;
    let given = |present: bool, name: &'static str| present.then_some(name);
    let mut credentials = Credentials::default();
    let (url, auth, unused) = match kind {
        CrmKind::Salesforce => {
            let url = input.url.as_deref().unwrap_or(SALESFORCE_LOGIN);
            let auth = if input.private_key.is_some() {
                let pem = secret_setting("private_key", input.private_key.as_ref())?;
                SigningKey::from_pem(pem.as_bytes()).map_err(|e| invalid(format!("private_key: {e}")))?;
                credentials.private_key = Some(pem);
                AuthKind::Jwt
            } else if input.refresh_token.is_some() || authorizing {
                if !authorizing {
                    credentials.refresh_token = Some(secret_setting("refresh_token", input.refresh_token.as_ref())?);
                }
                credentials.client_secret = Some(secret_setting("client_secret", input.client_secret.as_ref())?);
                AuthKind::RefreshToken
            } else {
                return Err(invalid(
                    "a Salesforce connection signs in with a connected app's private key (private_key, client_id and \
                     username: the JWT bearer flow) or a refresh token (refresh_token, client_id and client_secret)",
                ));
            };
            let unused = [
                given(input.token.is_some(), "token"),
                given(auth == AuthKind::Jwt && input.client_secret.is_some(), "client_secret"),
                given(auth == AuthKind::RefreshToken && input.username.is_some(), "username"),
                None,
            ];
            (url, auth, unused)
        }
        CrmKind::Hubspot => {
            let url = input.url.as_deref().unwrap_or(HUBSPOT_API);
            let auth = if input.token.is_some() {
                credentials.token = Some(secret_setting("token", input.token.as_ref())?);
                AuthKind::PrivateApp
            } else if input.refresh_token.is_some() || authorizing {
                if !authorizing {
                    credentials.refresh_token = Some(secret_setting("refresh_token", input.refresh_token.as_ref())?);
                }
                credentials.client_secret = Some(secret_setting("client_secret", input.client_secret.as_ref())?);
                AuthKind::RefreshToken
            } else {
                return Err(invalid(
                    "a HubSpot connection signs in with a private app's access token (token) or OAuth (refresh_token, \
                     client_id and client_secret)",
                ));
            };
            let unused = [
                given(input.private_key.is_some(), "private_key"),
                given(input.username.is_some(), "username"),
                given(input.pause_at.is_some(), "pause_at (Salesforce's daily quota; HubSpot's limits are waited out)"),
                given(input.bulk_from.is_some(), "bulk_from (Salesforce's Bulk API)"),
            ];
            (url, auth, unused)
        }
    };
    let unused: Vec<&str> = unused.into_iter().flatten().collect();
    if !unused.is_empty() {
        return Err(invalid(format!("not for a {} connection signing in so: {}", kind.as_str(), unused.join(", "))));
    }
    let client_id = match auth {
        AuthKind::PrivateApp => None,
        _ => Some(text_setting("client_id", input.client_id.as_deref())?),
    };
    let username = match auth {
        AuthKind::Jwt => Some(text_setting("username", input.username.as_deref())?),
        _ => None,
    };
    let pause_at = match kind {
        CrmKind::Salesforce => {
            let share = input.pause_at.unwrap_or(DEFAULT_PAUSE_AT);
            if !(0.05..=1.0).contains(&share) {
                return Err(invalid("pause_at is a share of the org's daily API requests, from 0.05 to 1"));
            }
            Some(share)
        }
        CrmKind::Hubspot => None,
    };
    let bulk_from = match kind {
        CrmKind::Salesforce => Some(input.bulk_from.unwrap_or(DEFAULT_BULK_FROM)),
        CrmKind::Hubspot => None,
    };
    let read = read_as(kind, input.preset.as_deref(), &input.maps, &input.segments)?;
    let settings = Settings {
        url: checked_url(&node.crm, url)?,
        auth,
        client_id,
        username,
        pause_at,
        bulk_from,
        preset: read.preset.map_or("generic", Preset::name).to_owned(),
        maps: read.maps,
        segments: read.segments,
        write_back: input.write_back,
    };
    Ok((kind, settings, credentials))
}

/// The node's page the CRM sends the admin's browser back to (the connected app's or HubSpot
/// app's callback / redirect URL), under the node's public URL.
pub(crate) const AUTHORIZED_PATH: &str = "/connections/authorized";

/// What waits, sealed, while the admin approves in the CRM.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Pending {
    name: String,
    #[zeroize(skip)]
    kind: String,
    #[zeroize(skip)]
    settings: Value,
    client_secret: String,
    verifier: String,
    redirect_uri: String,
}

/// An approval to ask for: where to send the admin's browser, and the callback URL the CRM's
/// app must list.
pub(crate) struct Authorization {
    pub(crate) url: url::Url,
    pub(crate) redirect_uri: String,
}

/// The OAuth endpoints of a connection's CRM: Salesforce's login URL; HubSpot's approval page
/// (app.hubspot.com with HubSpot's own API, else the API's host, as an emulator serves both).
fn provider(kind: CrmKind, settings: &Settings) -> Result<blindmap_crm::oauth::Provider, CrmError> {
    let parse = |u: &str| url::Url::parse(u).map_err(|_| invalid(format!("the URL {u:?} does not read")));
    Ok(match kind {
        CrmKind::Salesforce => blindmap_crm::oauth::Provider::Salesforce { login_url: parse(&settings.url)? },
        CrmKind::Hubspot => {
            let api_url = parse(&settings.url)?;
            blindmap_crm::oauth::Provider::Hubspot { app_url: hubspot_app(&api_url), api_url }
        }
    })
}

/// Where HubSpot's admins approve an app for a portal served by `api`: HubSpot's API hosts
/// (`api.hubapi.com`, a data centre's `api-eu1.hubapi.com`) approve on the matching
/// `app.hubspot.com` (`app-eu1.hubspot.com`); any other host (an emulator) on itself.
fn hubspot_app(api: &url::Url) -> url::Url {
    let region = api.host_str().and_then(|h| h.strip_suffix(".hubapi.com")).and_then(|h| h.strip_prefix("api"));
    match region {
        Some(region) if region.is_empty() || region.starts_with('-') => {
            url::Url::parse(&format!("https://app{region}.hubspot.com")).unwrap_or_else(|_| api.clone())
        }
        _ => api.clone(),
    }
}

/// The scopes a connection asks for: Salesforce's `api` and `refresh_token`; HubSpot's read
/// scopes, and the write ones when it writes back.
fn scopes(kind: CrmKind, write_back: bool) -> Vec<&'static str> {
    match kind {
        CrmKind::Salesforce => vec!["api", "refresh_token"],
        CrmKind::Hubspot if write_back => vec![
            "crm.objects.companies.read",
            "crm.schemas.companies.read",
            "crm.objects.owners.read",
            "crm.objects.companies.write",
            "crm.schemas.companies.write",
        ],
        CrmKind::Hubspot => vec!["crm.objects.companies.read", "crm.schemas.companies.read", "crm.objects.owners.read"],
    }
}

/// Begins connecting a CRM by the admin's approval (Salesforce's web-server flow with PKCE,
/// HubSpot's OAuth): checks `input` as [`create`] does (a client id and secret, no refresh
/// token), keeps it sealed for ten minutes under the flow's `state`, and gives the URL of the
/// CRM's approval page. The CRM sends the browser back to the node's [`AUTHORIZED_PATH`], where
/// [`finish_authorization`] makes the connection.
pub(crate) async fn begin_authorization(
    state: &AppState,
    caller: &User,
    input: ConnectionInput,
) -> Result<Authorization, CrmError> {
    let node = state.node().map_err(|_| CrmError::NoNode)?;
    let (kind, settings, credentials) = prepare(state, &input, true)?;
    if state.store.connections(&caller.org).await?.iter().any(|c| c.name == input.name) {
        return Err(StoreError::Conflict("a connection of that name").into());
    }
    let public = node.public_url.get().cloned().unwrap_or_default();
    let redirect_uri = format!("{}{AUTHORIZED_PATH}", public.trim_end_matches('/'));
    let flow = blindmap_crm::oauth::random_secret();
    let verifier = blindmap_crm::oauth::random_secret();
    let challenge = (kind == CrmKind::Salesforce).then_some(verifier.as_str());
    let client_id = settings.client_id.clone().unwrap_or_default();
    let url = provider(kind, &settings)?
        .authorize_url(&client_id, &redirect_uri, &flow, &scopes(kind, settings.write_back), challenge)
        .map_err(|e| invalid(e.to_string()))?;
    let pending = Pending {
        name: input.name.clone(),
        kind: kind.as_str().to_owned(),
        settings: serde_json::to_value(&settings).expect("settings are JSON"),
        client_secret: credentials.client_secret.clone().unwrap_or_default(),
        verifier,
        redirect_uri: redirect_uri.clone(),
    };
    let sealed = SecretString::from(serde_json::to_string(&pending).expect("JSON"));
    state.store.begin_crm_authorization(&caller.org, &caller.id, &blindmap_store::sso_hash(&flow), &sealed).await?;
    Ok(Authorization { url, redirect_uri })
}

/// What the CRM's approval page sent the browser back with.
pub(crate) struct Approval<'a> {
    pub(crate) state: Option<&'a str>,
    pub(crate) code: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
    pub(crate) error_description: Option<&'a str>,
}

/// Finishes connecting a CRM when the browser comes back from its approval page: the flow is
/// taken once and must be the caller's own and fresh; the code is exchanged for the refresh
/// token, and the connection is made with it.
pub(crate) async fn finish_authorization(
    state: &AppState,
    caller: &User,
    approval: &Approval<'_>,
) -> Result<Connection, CrmError> {
    let node = state.node().map_err(|_| CrmError::NoNode)?;
    let unknown = || invalid("this approval is unknown, was used already or is another user's: connect again");
    let flow = approval.state.filter(|s| !s.is_empty()).ok_or_else(unknown)?;
    let taken = state.store.take_crm_authorization(&blindmap_store::sso_hash(flow)).await?.ok_or_else(unknown)?;
    let same: bool =
        subtle::ConstantTimeEq::ct_eq(taken.user.as_str().as_bytes(), caller.id.as_str().as_bytes()).into();
    if !same || taken.org != caller.org {
        return Err(unknown());
    }
    if taken.expired {
        return Err(invalid("the approval took more than ten minutes: connect again"));
    }
    let pending: Pending = serde_json::from_str(taken.request.expose_secret())
        .map_err(|_| CrmError::Store(StoreError::Corrupt("crm_authorizations.request")))?;
    let kind =
        CrmKind::parse(&pending.kind).ok_or(CrmError::Store(StoreError::Corrupt("crm_authorizations.request")))?;
    let crm = match kind {
        CrmKind::Salesforce => "Salesforce",
        CrmKind::Hubspot => "HubSpot",
    };
    if let Some(error) = approval.error {
        let said = |t: &str| t.chars().filter(|c| !c.is_control()).take(200).collect::<String>();
        let why = approval.error_description.map(said).unwrap_or_default();
        return Err(invalid(format!("{crm} did not approve the access: {} {why}", said(error)).trim_end().to_owned()));
    }
    let code = approval.code.filter(|c| !c.is_empty()).ok_or_else(|| invalid(format!("{crm} sent no code back")))?;
    let settings: Settings = serde_json::from_value(pending.settings.clone())
        .map_err(|_| CrmError::Store(StoreError::Corrupt("crm_authorizations.request")))?;
    let client_id = settings.client_id.clone().unwrap_or_default();
    let secret = Secret::new(pending.client_secret.clone());
    let verifier = (kind == CrmKind::Salesforce).then_some(pending.verifier.as_str());
    let refresh = provider(kind, &settings)?
        .exchange_code(&http_client(node), &client_id, &secret, &pending.redirect_uri, code, verifier)
        .await
        .map_err(|e| invalid(format!("{crm}: {e}")))?;
    let mut credentials = Credentials::default();
    credentials.client_secret = Some(pending.client_secret.clone());
    credentials.refresh_token = Some(refresh.expose().to_owned());
    keep(state, caller, &pending.name, kind, &settings, &credentials).await
}

/// What a caller may change of a connection: its credentials (the same way of signing in: a
/// new private key, client secret, refresh token or token), the quota share and Bulk threshold
/// (Salesforce), how its records are read, and whether it writes back. Unsaid: unchanged.
#[derive(Default)]
pub(crate) struct ConnectionChange {
    pub(crate) private_key: Option<SecretString>,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) refresh_token: Option<SecretString>,
    pub(crate) token: Option<SecretString>,
    pub(crate) pause_at: Option<f64>,
    pub(crate) bulk_from: Option<u64>,
    pub(crate) preset: Option<String>,
    pub(crate) maps: Option<Vec<String>>,
    pub(crate) segments: Option<Vec<String>>,
    pub(crate) write_back: Option<bool>,
}

/// Changes a connection as `change` says, checked as a new one is (a credential of another way
/// of signing in, or one that does not read, is refused and nothing changes); audited
/// `crm.connection_updated` (which parts, never a secret). A new mapping shows from the next
/// full sync.
pub(crate) async fn update(
    state: &AppState,
    caller: &User,
    id: &ConnectionId,
    change: ConnectionChange,
) -> Result<Connection, CrmError> {
    let connection = state.store.connection(&caller.org, id).await?;
    let mut settings = settings(&connection)?;
    let kind = connection.kind;
    let mut new_credentials: Option<Credentials> = None;
    let given: Vec<(&str, &SecretString)> = [
        ("private_key", change.private_key.as_ref()),
        ("client_secret", change.client_secret.as_ref()),
        ("refresh_token", change.refresh_token.as_ref()),
        ("token", change.token.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    if !given.is_empty() {
        let allowed: &[&str] = match settings.auth {
            AuthKind::Jwt => &["private_key"],
            AuthKind::RefreshToken => &["client_secret", "refresh_token"],
            AuthKind::PrivateApp => &["token"],
        };
        if let Some((name, _)) = given.iter().find(|(name, _)| !allowed.contains(name)) {
            return Err(invalid(format!(
                "{name} is not a credential of this connection, which signs in with {} (give {})",
                settings.auth.as_str(),
                allowed.join(" or ")
            )));
        }
        let mut credentials = stored_credentials(state, &caller.org, id).await?;
        for (name, value) in given {
            let value = secret_setting(name, Some(value))?;
            match name {
                "private_key" => {
                    SigningKey::from_pem(value.as_bytes()).map_err(|e| invalid(format!("private_key: {e}")))?;
                    credentials.private_key = Some(value);
                }
                "client_secret" => credentials.client_secret = Some(value),
                "refresh_token" => credentials.refresh_token = Some(value),
                _ => credentials.token = Some(value),
            }
        }
        new_credentials = Some(credentials);
    }
    if kind == CrmKind::Hubspot && (change.pause_at.is_some() || change.bulk_from.is_some()) {
        return Err(invalid("pause_at and bulk_from are Salesforce's (HubSpot's limits are waited out)"));
    }
    if let Some(share) = change.pause_at {
        if !(0.05..=1.0).contains(&share) {
            return Err(invalid("pause_at is a share of the org's daily API requests, from 0.05 to 1"));
        }
        settings.pause_at = Some(share);
    }
    if let Some(from) = change.bulk_from {
        settings.bulk_from = Some(from);
    }
    if change.preset.is_some() || change.maps.is_some() || change.segments.is_some() {
        let preset = change.preset.clone().unwrap_or_else(|| settings.preset.clone());
        let maps = change.maps.clone().unwrap_or_else(|| settings.maps.clone());
        let segments = change.segments.clone().unwrap_or_else(|| settings.segments.clone());
        let read = read_as(kind, Some(&preset), &maps, &segments)?;
        settings.preset = read.preset.map_or("generic", Preset::name).to_owned();
        settings.maps = read.maps;
        settings.segments = read.segments;
    }
    if let Some(write_back) = change.write_back {
        settings.write_back = write_back;
    }
    let settings = serde_json::to_value(&settings).expect("settings are JSON");
    let sealed = new_credentials.map(|c| SecretString::from(serde_json::to_string(&c).expect("credentials are JSON")));
    let changed_settings = (settings != connection.settings).then_some(&settings);
    if changed_settings.is_none() && sealed.is_none() {
        return Ok(connection);
    }
    Ok(state.store.update_connection(&caller.org, id, changed_settings, sealed.as_ref(), &caller.name).await?)
}

/// A connection's credentials as kept (for a change to some of them).
async fn stored_credentials(state: &AppState, org: &OrgId, id: &ConnectionId) -> Result<Credentials, CrmError> {
    let text = state.store.connection_credentials(org, id).await?;
    serde_json::from_str(text.expose_secret())
        .map_err(|_| CrmError::Store(StoreError::Corrupt("crm_connections.credentials")))
}

/// Deletes a connection and its syncs' records (the datasets stay); audited.
pub(crate) async fn delete(state: &AppState, caller: &User, id: &ConnectionId) -> Result<(), CrmError> {
    Ok(state.store.delete_connection(&caller.org, id, &caller.name).await?)
}

/// Starts a sync of a connection, which runs on in this process; the sync's record, running.
/// `mode` unsaid: incremental when a complete sync's dataset is there to change, full otherwise.
pub(crate) async fn start_sync(
    state: &AppState,
    caller: &User,
    id: &ConnectionId,
    mode: Option<SyncMode>,
) -> Result<CrmSync, CrmError> {
    state.node().map_err(|_| CrmError::NoNode)?;
    let connection = state.store.connection(&caller.org, id).await?;
    let settings = settings(&connection)?;
    let read_as = settings_read_as(connection.kind, &settings)?;
    let base = match (&connection.dataset, &connection.cursor) {
        (Some(dataset), Some(_)) => match state.store.dataset(&caller.org, dataset).await {
            Ok(_) => Some(dataset.clone()),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    let mode = match (mode, &base) {
        (Some(SyncMode::Incremental), None) => {
            return Err(invalid(
                "an incremental sync changes the dataset of the connection's last complete sync, and there is none \
                 (or it was deleted): sync in full first",
            ));
        }
        (Some(mode), _) => mode,
        (None, Some(_)) => SyncMode::Incremental,
        (None, None) => SyncMode::Full,
    };
    let sync = state.store.begin_sync(&caller.org, id, mode, &caller.name).await?;
    let (state, caller, sync_id) = (state.clone(), caller.clone(), sync.id.clone());
    tokio::spawn(async move {
        let base = base.filter(|_| mode == SyncMode::Incremental);
        let end = match run(&state, &caller, (&connection, &settings, &read_as), &sync_id, base.as_ref()).await {
            Ok(end) => end,
            Err(Stop::Failed(why)) => SyncEnd::Failed(why),
            Err(Stop::Paused(why)) => SyncEnd::Paused(why),
        };
        if let SyncEnd::Failed(why) = &end {
            tracing::warn!(connection = %connection.id, sync = %sync_id, reason = %why, "CRM sync failed");
        }
        if let Err(e) = state.store.end_sync(&caller.org, &sync_id, &end).await {
            tracing::error!(sync = %sync_id, error = %e, "cannot record how a CRM sync ended");
        }
    });
    Ok(sync)
}

/// Why a sync (or a write-back) stopped before it ended.
pub(super) enum Stop {
    Failed(String),
    Paused(String),
}

impl From<SalesforceError> for Stop {
    fn from(e: SalesforceError) -> Self {
        match e {
            SalesforceError::Paused { .. } => Self::Paused(e.to_string()),
            e => Self::Failed(e.to_string()),
        }
    }
}

impl From<HubSpotError> for Stop {
    fn from(e: HubSpotError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure during a CRM sync");
        Self::Failed("the node's store failed; see its log".into())
    }
}

fn io_failed(e: std::io::Error) -> Stop {
    tracing::error!(error = %e, "cannot write a CRM sync's temporary file");
    Stop::Failed("the node cannot write the sync's temporary file; see its log".into())
}

/// A sync's progress, written to its record at most every [`PROGRESS_EVERY`] (its heartbeat).
struct Progress<'a> {
    state: &'a AppState,
    sync: &'a SyncId,
    read: u64,
    deleted: u64,
    requests: u64,
    written: Option<Instant>,
}

impl Progress<'_> {
    /// Writes the progress if it is time (or `now`); stops the sync if its record is no longer
    /// running (taken for stopped, or ended elsewhere).
    async fn report(&mut self, phase: &str, now: bool) -> Result<(), Stop> {
        if !now && self.written.is_some_and(|at| at.elapsed() < PROGRESS_EVERY) {
            return Ok(());
        }
        self.written = Some(Instant::now());
        let progress =
            SyncProgress { phase, records_read: self.read, records_deleted: self.deleted, requests: self.requests };
        if self.state.store.sync_progress(self.sync, &progress).await? {
            Ok(())
        } else {
            Err(Stop::Failed("the sync was ended while it ran".into()))
        }
    }
}

/// The CSV a sync writes (RFC 4180, as the importer reads it): the header once, then each
/// record's cells.
struct Csv {
    out: csv::Writer<BufWriter<std::fs::File>>,
}

impl Csv {
    fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Result<(), Stop> {
        self.out.write_record(cells).map_err(|e| io_failed(e.into()))
    }
}

/// A JSON value as a CSV cell: text as it is, numbers and booleans as JSON writes them, null
/// and absent as empty.
fn cell(value: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match value {
        None | Some(Value::Null) => "".into(),
        Some(Value::String(s)) => s.as_str().into(),
        Some(other) => other.to_string().into(),
    }
}

/// What the read of a CRM gave: where the next incremental sync starts, the API usage as the CRM
/// last told it, and (read incrementally) the ids of the records deleted since.
struct Read {
    cursor: Option<String>,
    usage: Value,
    removed: Vec<String>,
    /// What the read could not do and went on without (an optional scope missing).
    warnings: Vec<String>,
}

/// Reads the connection's CRM into a temporary file and imports it as a new, active dataset: all
/// of it, or (given the last complete sync's dataset, `base`) what changed since its cursor.
async fn run(
    state: &AppState,
    caller: &User,
    (connection, settings, read_as): (&Connection, &Settings, &ReadAs),
    sync: &SyncId,
    base: Option<&DatasetId>,
) -> Result<SyncEnd, Stop> {
    let since = base.and(connection.cursor.as_deref());
    let credentials = credentials(&state.store, &caller.org, &connection.id).await?;
    let node = state.node().map_err(|_| Stop::Failed("CRM syncs run on a node".into()))?;
    let http = http_client(node);
    let file = tempfile::tempfile().map_err(io_failed)?;
    let mut csv = Csv { out: csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, file)) };
    let mut progress = Progress { state, sync, read: 0, deleted: 0, requests: 0, written: None };
    progress.report("reading", true).await?;
    let mapping = read_as.mapping(|| Ok(Vec::new())).map_err(|e| Stop::Failed(e.to_string()))?;
    let read = match connection.kind {
        CrmKind::Salesforce => {
            read_salesforce(http, settings, &credentials, &mapping, since, &mut csv, &mut progress).await?
        }
        CrmKind::Hubspot => {
            read_hubspot(http, settings, &credentials, &mapping, since, &mut csv, &mut progress).await?
        }
    };
    progress.report("importing", true).await?;
    let buffered = csv.out.into_inner().map_err(|e| io_failed(e.into_error()))?;
    let mut file = buffered.into_inner().map_err(|e| io_failed(e.into_error()))?;
    file.rewind().map_err(io_failed)?;
    let name = format!("{}, synced {}", connection.name, crate::rfc3339(crate::now_ms()));
    let imported = match base {
        None => datasets::import(state, caller, &name, read_as, true, file).await,
        Some(base) => datasets::import_changes(state, caller, &name, read_as, base, &read.removed, true, file).await,
    };
    let info = imported.map_err(|e| match e {
        DatasetError::Unreadable(why) => Stop::Failed(format!("the records read do not import: {why}")),
        DatasetError::ReadBack => io_failed(std::io::Error::other("read back")),
        DatasetError::Store(StoreError::Import(why)) => Stop::Failed(format!("the records read do not import: {why}")),
        DatasetError::Store(e) => e.into(),
    })?;
    let mode = if base.is_some() { SyncMode::Incremental } else { SyncMode::Full };
    let summary = json!({
        "mode": mode.as_str(),
        "records_read": progress.read,
        "records_deleted": progress.deleted,
        "requests": progress.requests,
        "api_usage": read.usage,
        "warnings": read.warnings,
        "dataset": { "id": info.id.to_string(), "name": info.name, "rows": info.rows, "accounts": info.accounts },
        "import": info.summary,
    });
    // Nothing changed: the next sync starts where this one did.
    let cursor = read.cursor.or_else(|| since.map(str::to_owned));
    Ok(SyncEnd::Complete { dataset: info.id, summary, cursor })
}

/// A connection's credentials, opened.
pub(super) async fn credentials(store: &Store, org: &OrgId, id: &ConnectionId) -> Result<Credentials, Stop> {
    let text = store.connection_credentials(org, id).await?;
    serde_json::from_str(text.expose_secret())
        .map_err(|_| Stop::Failed("the connection's credentials do not read; enter them again".into()))
}

/// The HTTP client a node speaks to CRMs with: only to the hosts its `crm_allow` lets it reach.
pub(super) fn http_client(node: &NodeContext) -> reqwest::Client {
    super::hooks::guarded_client(Arc::clone(&node.crm), CALL_TIMEOUT)
}

/// A Salesforce client signing in as the connection's settings and credentials say.
pub(super) fn salesforce_client(
    http: reqwest::Client,
    settings: &Settings,
    credentials: &Credentials,
) -> Result<Salesforce, Stop> {
    let client_id = settings.client_id.clone().unwrap_or_default();
    let auth = match settings.auth {
        AuthKind::Jwt => salesforce::Auth::JwtBearer {
            login_url: url(&settings.url)?,
            client_id,
            username: settings.username.clone().unwrap_or_default(),
            key: SigningKey::from_pem(secret(credentials.private_key.as_ref(), "private key")?.expose().as_bytes())
                .map_err(|e| Stop::Failed(e.to_string()))?,
        },
        _ => salesforce::Auth::RefreshToken {
            login_url: url(&settings.url)?,
            client_id,
            client_secret: secret(credentials.client_secret.as_ref(), "client secret")?,
            refresh_token: secret(credentials.refresh_token.as_ref(), "refresh token")?,
        },
    };
    Ok(Salesforce::new(http, auth, settings.pause_at.unwrap_or(DEFAULT_PAUSE_AT)))
}

/// A HubSpot client signing in as the connection's settings and credentials say.
pub(super) fn hubspot_client(
    http: reqwest::Client,
    settings: &Settings,
    credentials: &Credentials,
) -> Result<HubSpot, Stop> {
    let auth = match settings.auth {
        AuthKind::PrivateApp => hubspot::Auth::PrivateApp { token: secret(credentials.token.as_ref(), "token")? },
        _ => hubspot::Auth::OAuth {
            client_id: settings.client_id.clone().unwrap_or_default(),
            client_secret: secret(credentials.client_secret.as_ref(), "client secret")?,
            refresh_token: secret(credentials.refresh_token.as_ref(), "refresh token")?,
        },
    };
    Ok(HubSpot::new(http, url(&settings.url)?, auth))
}

fn secret(value: Option<&String>, what: &str) -> Result<Secret, Stop> {
    value.map(Secret::new).ok_or_else(|| Stop::Failed(format!("the connection has no {what}; enter it again")))
}

fn url(text: &str) -> Result<url::Url, Stop> {
    url::Url::parse(text).map_err(|_| Stop::Failed(format!("the connection's URL {text:?} does not read")))
}

/// Salesforce: the Account fields the mapping reads (of those the org's describe lists), by
/// SOQL through the REST API, page after page; `since` a `SystemModstamp`, only the accounts
/// changed after it, deleted ones too (`queryAll`, `IsDeleted`), whose ids are the removed.
async fn read_salesforce(
    http: reqwest::Client,
    settings: &Settings,
    credentials: &Credentials,
    mapping: &blindmap_records::Mapping,
    since: Option<&str>,
    csv: &mut Csv,
    progress: &mut Progress<'_>,
) -> Result<Read, Stop> {
    let mut sf = salesforce_client(http, settings, credentials)?;
    let fields = sf.account_fields().await?;
    let columns = mapping
        .columns_read(&fields)
        .map_err(|e| Stop::Failed(format!("the connection's mapping does not fit the org's Account fields: {e}")))?;
    let mut select = columns.clone();
    for needed in ["Id", "SystemModstamp", "IsDeleted"] {
        if !select.iter().any(|c| c == needed) && (needed != "IsDeleted" || since.is_some()) {
            select.push(needed.into());
        }
    }
    let soql = match since {
        None => format!("SELECT {} FROM Account", select.join(", ")),
        Some(stamp) => {
            let literal = salesforce::modstamp_literal(stamp)
                .ok_or_else(|| Stop::Failed(format!("the connection's cursor {stamp:?} is no time; sync in full")))?;
            format!("SELECT {} FROM Account WHERE SystemModstamp > {literal}", select.join(", "))
        }
    };
    csv.row(columns.iter().map(String::as_str))?;
    let mut read = SalesforceRead { columns: &columns, cursor: None, removed: Vec::new() };
    // Many records: a Bulk API 2.0 job (its results in large CSV pages, far fewer requests).
    let count_soql = soql.replacen(&format!("SELECT {} ", select.join(", ")), "SELECT COUNT() ", 1);
    let bulk = sf.count(&count_soql, since.is_some()).await? >= settings.bulk_from.unwrap_or(DEFAULT_BULK_FROM);
    if bulk {
        read_bulk(&mut sf, &soql, since.is_some(), &mut read, csv, progress).await?;
    } else {
        let mut page = sf.query(&soql, since.is_some()).await?;
        loop {
            for record in &page.records {
                read.record(|c| cell(record.get(c)), csv)?;
            }
            progress.read += page.records.len() as u64;
            progress.deleted = read.removed.len() as u64;
            progress.requests = sf.calls();
            progress.report("reading", false).await?;
            let Some(next) = page.next.take() else { break };
            page = sf.next_page(&next).await?;
        }
    }
    progress.requests = sf.calls();
    let usage = sf.usage().map_or(Value::Null, |u| json!({ "used": u.used, "max": u.max, "bulk": bulk }));
    Ok(Read { cursor: read.cursor, usage, removed: read.removed, warnings: Vec::new() })
}

/// What a Salesforce read keeps as it goes: the columns it writes, the newest modification, the
/// ids of deleted records.
struct SalesforceRead<'a> {
    columns: &'a [String],
    cursor: Option<String>,
    removed: Vec<String>,
}

impl SalesforceRead<'_> {
    /// One record, its cells by column name: written, or (deleted) its id kept.
    fn record<'v>(&mut self, value: impl Fn(&str) -> std::borrow::Cow<'v, str>, csv: &mut Csv) -> Result<(), Stop> {
        if value("IsDeleted") == "true" {
            let id = value("Id");
            if id.is_empty() {
                return Err(Stop::Failed("a deleted record without its Id".into()));
            }
            self.removed.push(id.into_owned());
        } else {
            let cells: Vec<std::borrow::Cow<'v, str>> = self.columns.iter().map(|c| value(c)).collect();
            csv.row(cells.iter().map(AsRef::as_ref))?;
        }
        let stamp = value("SystemModstamp");
        if !stamp.is_empty() && self.cursor.as_deref().is_none_or(|c| salesforce::modstamp_after(&stamp, c)) {
            self.cursor = Some(stamp.into_owned());
        }
        Ok(())
    }
}

/// Reads `soql` through a Bulk API 2.0 query job: created, polled (backing off to
/// [`BULK_POLL_MAX`], the sync's heartbeat kept meanwhile) and its results read a page of
/// [`BULK_PAGE_RECORDS`] at a time. A job left behind by a failure is aborted.
async fn read_bulk(
    sf: &mut Salesforce,
    soql: &str,
    include_deleted: bool,
    read: &mut SalesforceRead<'_>,
    csv: &mut Csv,
    progress: &mut Progress<'_>,
) -> Result<(), Stop> {
    let job = sf.bulk_query(soql, include_deleted).await?;
    let outcome = read_job(sf, &job, read, csv, progress).await;
    if outcome.is_err()
        && let Err(e) = sf.bulk_abort(&job).await
    {
        tracing::warn!(job = job.id(), error = %e, "cannot abort a Salesforce query job left behind");
    }
    outcome
}

async fn read_job(
    sf: &mut Salesforce,
    job: &salesforce::BulkJob,
    read: &mut SalesforceRead<'_>,
    csv: &mut Csv,
    progress: &mut Progress<'_>,
) -> Result<(), Stop> {
    let mut wait = Duration::from_millis(200);
    loop {
        progress.requests = sf.calls();
        progress.report("waiting for Salesforce's query job", false).await?;
        match sf.bulk_status(job).await?.state {
            salesforce::BulkState::InProgress => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BULK_POLL_MAX);
            }
            salesforce::BulkState::Complete => break,
            salesforce::BulkState::Aborted => {
                return Err(Stop::Failed("the query job was aborted in Salesforce".into()));
            }
            salesforce::BulkState::Failed(why) => {
                return Err(Stop::Failed(format!("Salesforce's query job failed: {why}")));
            }
        }
    }
    let mut locator = None;
    loop {
        let page = sf.bulk_results(job, locator.as_ref(), BULK_PAGE_RECORDS).await?;
        let mut reader = csv::ReaderBuilder::new().from_reader(page.csv.as_slice());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| Stop::Failed(format!("a page of the query job's results does not read: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut records = 0u64;
        for record in reader.records() {
            let record =
                record.map_err(|e| Stop::Failed(format!("a page of the query job's results does not read: {e}")))?;
            let value = |column: &str| -> std::borrow::Cow<'_, str> {
                header.iter().position(|h| h == column).and_then(|i| record.get(i)).unwrap_or("").into()
            };
            read.record(value, csv)?;
            records += 1;
        }
        progress.read += records;
        progress.deleted = read.removed.len() as u64;
        progress.requests = sf.calls();
        progress.report("reading", false).await?;
        match page.next {
            Some(next) => locator = Some(next),
            None => break,
        }
    }
    Ok(())
}

/// HubSpot: the company properties the mapping reads, by their labels (what an export's header
/// writes) or internal names, an enumeration's values written as their labels (as an export
/// writes them), through the companies list, page after page; `since` a time in milliseconds,
/// only the companies modified at or after it (search by `hs_lastmodifieddate`, in windows), and
/// the companies archived since, whose ids are the removed.
async fn read_hubspot(
    http: reqwest::Client,
    settings: &Settings,
    credentials: &Credentials,
    mapping: &blindmap_records::Mapping,
    since: Option<&str>,
    csv: &mut Csv,
    progress: &mut Progress<'_>,
) -> Result<Read, Stop> {
    let since: Option<i64> = match since {
        None => None,
        Some(ms) => Some(ms.parse().map_err(|_| Stop::Failed(format!("the connection's cursor {ms:?} is no time")))?),
    };
    let mut hs = hubspot_client(http, settings, credentials)?;
    let properties = hs.company_properties().await?;
    let mut columns = HubSpotColumns::of(&properties);
    let read = mapping.columns_read(&columns.header).map_err(|e| {
        Stop::Failed(format!("the connection's mapping does not fit the portal's company properties: {e}"))
    })?;
    // The owner is an owner's id: written as the owner's name, as an export writes it.
    let mut warnings = Vec::new();
    let owner_read = read.iter().any(|name| columns.list.iter().any(|c| &c.header == name && c.property == OWNER));
    if owner_read {
        match hs.owners().await {
            Ok(owners) => {
                let names: Vec<(String, String)> = owners.iter().map(|o| (o.id.clone(), o.name())).collect();
                let emails: Vec<(String, String)> =
                    owners.iter().map(|o| (o.id.clone(), o.email.clone().unwrap_or_default())).collect();
                for c in columns.list.iter_mut().filter(|c| c.property == OWNER) {
                    c.options.clone_from(if c.header == OWNER_EMAIL { &emails } else { &names });
                }
            }
            Err(HubSpotError::Api { status: 403, .. }) => {
                warnings.push(
                    "the company owners' names were not read (HubSpot refused /crm/v3/owners: the app lacks the scope \
                     crm.objects.owners.read), so the accounts have no owner"
                        .to_owned(),
                );
                for c in columns.list.iter_mut().filter(|c| c.property == OWNER) {
                    c.blank = true;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let chosen: Vec<&HubSpotColumn> =
        read.iter().filter_map(|name| columns.list.iter().find(|c| &c.header == name)).collect();
    let mut wanted: Vec<&str> = chosen.iter().map(|c| c.property.as_str()).collect();
    wanted.push("hs_lastmodifieddate");
    wanted.sort_unstable();
    wanted.dedup();
    csv.row(chosen.iter().map(|c| c.header.as_str()))?;
    let mut newest: Option<i64> = None;
    let mut write = |companies: &[hubspot::Company], csv: &mut Csv| -> Result<(), Stop> {
        for company in companies {
            let cells: Vec<String> = chosen.iter().map(|c| c.value(company)).collect();
            csv.row(cells.iter().map(String::as_str))?;
            if let Some(ms) = company.modified_ms() {
                newest = Some(newest.map_or(ms, |n| n.max(ms)));
            }
        }
        Ok(())
    };
    let mut removed = Vec::new();
    match since {
        None => {
            let mut after: Option<String> = None;
            loop {
                let page = hs.companies(&wanted, false, after.as_deref()).await?;
                write(&page.companies, csv)?;
                progress.read += page.companies.len() as u64;
                progress.requests = hs.calls();
                progress.report("reading", false).await?;
                match page.after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Some(since) => {
            let mut changes = hubspot::Changes::since(since);
            while let Some(page) = changes.next_page(&mut hs, &wanted).await? {
                write(&page, csv)?;
                progress.read += page.len() as u64;
                progress.requests = hs.calls();
                progress.report("reading", false).await?;
            }
            // Archived companies (the search has none): those archived since are taken out.
            let mut after: Option<String> = None;
            loop {
                let page = hs.companies(&["hs_object_id"], true, after.as_deref()).await?;
                for company in page.companies.iter().filter(|c| c.archived_ms().is_none_or(|at| at >= since)) {
                    removed.push(company.id.clone());
                }
                progress.read += page.companies.len() as u64;
                progress.deleted = removed.len() as u64;
                progress.requests = hs.calls();
                progress.report("reading", false).await?;
                match page.after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    progress.requests = hs.calls();
    let usage = hs.rate_limit().map_or(
        Value::Null,
        |r| json!({ "remaining": r.remaining, "max": r.max, "interval_ms": r.interval.as_millis() as u64 }),
    );
    Ok(Read { cursor: newest.map(|ms| ms.to_string()), usage, removed, warnings })
}

/// A column a HubSpot read may give: its header, the property it reads, and the property's
/// enumeration values with their labels.
struct HubSpotColumn {
    header: String,
    property: String,
    options: Vec<(String, String)>,
    /// Read as empty (the owner, when the owners' names cannot be read).
    blank: bool,
}

/// The company property holding its owner's id.
const OWNER: &str = "hubspot_owner_id";

/// The column a read offers for the owner's e-mail address (the owners API's `email`, as an
/// export's "Company owner email" would hold it): read from the owner's id too.
const OWNER_EMAIL: &str = "Company owner email";

impl HubSpotColumn {
    /// The company's value of this column, as an export writes it: an enumeration's label(s)
    /// (several values are `;`-separated), the record id where the property is absent.
    fn value(&self, company: &hubspot::Company) -> String {
        if self.blank {
            return String::new();
        }
        let raw = cell(company.properties.get(&self.property));
        if raw.is_empty() && self.property == "hs_object_id" {
            return company.id.clone();
        }
        if self.property == OWNER {
            // An owner the portal no longer lists: no name (or e-mail address) to write.
            return self.options.iter().find(|(id, _)| *id == raw).map(|(_, name)| name.clone()).unwrap_or_default();
        }
        if self.options.is_empty() {
            return raw.into_owned();
        }
        raw.split(';')
            .map(|v| self.options.iter().find(|(value, _)| value == v).map_or(v, |(_, label)| label.as_str()))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// The columns a portal's properties offer: each property under its label and under its
/// internal name (a mapping may name either), a label two properties share under neither's
/// label. The owner (`hubspot_owner_id`) holds an owner's id, which a read writes as the owner's
/// name (the owners API), as an export does.
struct HubSpotColumns {
    list: Vec<HubSpotColumn>,
    header: Vec<String>,
}

impl HubSpotColumns {
    fn of(properties: &[hubspot::Property]) -> Self {
        let mut list: Vec<HubSpotColumn> = Vec::new();
        let label_count = |label: &str| {
            properties.iter().filter(|p| p.label.eq_ignore_ascii_case(label)).count()
                + properties.iter().filter(|p| p.name.eq_ignore_ascii_case(label)).count()
        };
        for p in properties {
            let options: Vec<(String, String)> = p
                .options
                .iter()
                .map(|o| (o.value.clone(), if o.label.is_empty() { o.value.clone() } else { o.label.clone() }))
                .collect();
            let mut headers = vec![p.name.clone()];
            if !p.label.is_empty() && !p.label.eq_ignore_ascii_case(&p.name) && label_count(&p.label) == 1 {
                headers.push(p.label.clone());
            }
            for header in headers {
                list.push(HubSpotColumn { header, property: p.name.clone(), options: options.clone(), blank: false });
            }
        }
        // The owner's e-mail address, from the owner's id (when the portal has the property).
        if properties.iter().any(|p| p.name == OWNER)
            && !list.iter().any(|c| c.header.eq_ignore_ascii_case(OWNER_EMAIL))
        {
            list.push(HubSpotColumn {
                header: OWNER_EMAIL.to_owned(),
                property: OWNER.to_owned(),
                options: Vec::new(),
                blank: false,
            });
        }
        let header = list.iter().map(|c| c.header.clone()).collect();
        Self { list, header }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_approves_on_the_app_host_of_its_api_host() {
        let app = |api: &str| hubspot_app(&url::Url::parse(api).unwrap()).to_string();
        assert_eq!(app("https://api.hubapi.com"), "https://app.hubspot.com/");
        assert_eq!(app("https://api-eu1.hubapi.com"), "https://app-eu1.hubspot.com/");
        assert_eq!(app("http://127.0.0.1:9000"), "http://127.0.0.1:9000/");
        assert_eq!(app("https://evilapi.hubapi.com.example"), "https://evilapi.hubapi.com.example/");
    }
}

//! The routes of `/api/v1`, one module per resource, merged here with the OpenAPI document they
//! describe.

pub mod alerts;
pub mod attribution;
pub mod audit;
pub mod changes;
pub mod connections;
pub(crate) mod contract;
pub mod corrections;
pub mod cosell;
pub mod datasets;
pub mod ecosystem;
pub mod hooks;
pub mod me;
pub mod partnerships;
pub mod registrations;
pub mod reports;
pub mod runs;
pub mod schedules;
pub mod sso;
pub mod users;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use blindmap_store::{Claim, IDEMPOTENCY_LEASE_MS, OrgId};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::http::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "blindmap matching API", description = "A blindmap node's API for its own organisations' users. \
        No text — parameter, body or uploaded file — takes the NUL character (U+0000): PostgreSQL cannot store it, \
        so every store refuses it alike (400 in a path or query, 422 in a body)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(
        crate::http::error::Problem,
        // What parameters name: the derive collects only what bodies and responses name.
        contract::IdempotencyKey, contract::DatasetId, contract::PartnershipId, contract::RunId, contract::UserId,
        contract::TokenId, contract::EndpointId, contract::EventId, contract::TouchId, contract::SourceId, contract::CorrectionId, contract::ConnectionId, contract::SyncId, contract::WritebackId,
        contract::LedgerCursor, contract::OverlapCursor, contract::ChangeCursor, contract::Label, contract::Filter, contract::ModelName,
        contract::ReportSort, contract::Direction, contract::RegistrationState, datasets::PresetName, connections::SyncModeName,
        runs::RunRoleName,
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Page parameters of list endpoints. Each list documents its `cursor` itself, with the shape of
/// what its `next` holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize, IntoParams)]
pub struct Page {
    /// At most this many items (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[param(ignore)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl Page {
    /// The first page, of at most `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit: Some(limit), cursor: None }
    }
}

/// A page of a list: its items, and the cursor of the next page (none on the last).
pub trait Paged {
    /// What the list holds.
    type Item;
    /// The items and the next page's cursor.
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

macro_rules! paged {
    ($($page:ty => $item:ty),* $(,)?) => {
        $(impl Paged for $page {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.items, self.next)
            }
        })*
    };
}

paged!(
    runs::RunPage => runs::RunView,
    runs::OverlapPage => runs::OverlapView,
    partnerships::PartnershipList => partnerships::PartnershipView,
    datasets::DatasetPage => datasets::DatasetView,
    users::UserList => users::UserView,
    attribution::TouchPage => attribution::TouchView,
    attribution::LedgerPage => attribution::LedgerEntryView,
    corrections::CorrectionPage => corrections::CorrectionView,
    cosell::CoSellPage => cosell::CoSellView,
    registrations::RegistrationPage => registrations::RegistrationView,
    hooks::EventPage => hooks::EventView,
    audit::AuditPage => audit::AuditEventView,
);

impl Page {
    /// The cursor of the page after `items`: the last item's id when the page is full.
    pub(crate) fn next<T>(limit: u32, items: &[T], id: impl Fn(&T) -> String) -> Option<String> {
        if items.len() == limit as usize { items.last().map(id) } else { None }
    }

    /// The cursor read by `parse` (an id of the listed kind, `what` in the message).
    pub(crate) fn after<T>(&self, parse: impl Fn(&str) -> Option<T>, what: &str) -> Result<Option<T>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| parse(c).ok_or_else(|| ApiError::Invalid(format!("cursor is not {what}"))))
            .transpose()
    }

    pub(crate) fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(100) {
            n @ 1..=1000 => Ok(n),
            _ => Err(ApiError::Invalid("limit must be 1 to 1000".into())),
        }
    }
}

/// The `Idempotency-Key` header, if present and well-formed.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("idempotency-key") {
        Some(v) => Ok(Some(
            v.to_str()
                .ok()
                .filter(|k| (1..=200).contains(&k.len()))
                .ok_or_else(|| ApiError::Invalid("Idempotency-Key must be 1 to 200 visible characters".into()))?,
        )),
        None => Ok(None),
    }
}

/// What identifies a creating request for its `Idempotency-Key`: its parts, hashed.
pub(crate) fn request_hash(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

/// Runs a creating call once per `Idempotency-Key`: a retry with the same key and the same
/// request (`request`, from [`request_hash`]) gets the first response again; the same key with
/// another request is a conflict, and so is a retry while the first still runs (409 with
/// `Retry-After`).
///
/// The call runs to its end in a task of its own: a client that disconnects or times out does
/// not cut it short half-way, and its outcome is recorded for the retry. It holds the key under
/// a lease it renews while it works; if the node stops, the lease lapses within
/// [`IDEMPOTENCY_LEASE_MS`] and a retry runs. Without a key, `work` just runs (in its task too).
pub(crate) async fn idempotent<T, F>(
    state: &AppState,
    org: &OrgId,
    headers: &HeaderMap,
    request: String,
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let key = idempotency_key(headers)?.map(str::to_owned);
    let (state, org) = (state.clone(), org.clone());
    tokio::spawn(async move {
        let Some(key) = key else {
            return Ok((status, Json(work.await?)).into_response());
        };
        once(&state, &org, &key, &request, status, work).await
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a creating call's task failed");
        ApiError::Unavailable("the request failed on the node; see its log")
    })?
}

/// [`idempotent`] with a key.
async fn once<T, F>(
    state: &AppState,
    org: &OrgId,
    key: &str,
    request: &str,
    status: StatusCode,
    work: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: Future<Output = Result<T, ApiError>>,
{
    let holder = match state.store.claim_idempotent(org, key, request).await? {
        Claim::Proceed { holder } => holder,
        Claim::Replay { status, response } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return Ok((status, [(header::CONTENT_TYPE, "application/json")], response).into_response());
        }
        Claim::InFlight { lease_left_ms } => {
            return Err(ApiError::InFlight { retry_after_secs: (lease_left_ms as u64).div_ceil(1000) });
        }
        Claim::Mismatch => {
            return Err(ApiError::Conflict("this Idempotency-Key was used for a different request".into()));
        }
    };
    // Renew the lease while the work runs; a panic in it gives the key back like an error.
    let work = std::panic::AssertUnwindSafe(work).catch_unwind().map(|outcome| {
        outcome.unwrap_or_else(|_| Err(ApiError::Unavailable("the request failed on the node; see its log")))
    });
    let mut work = std::pin::pin!(work);
    let mut renew = tokio::time::interval(std::time::Duration::from_millis((IDEMPOTENCY_LEASE_MS / 3) as u64));
    renew.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = renew.tick() => {
                if let Err(e) = state.store.renew_idempotent(org, key, &holder).await {
                    tracing::warn!(error = %e, "cannot renew an idempotency key's lease");
                }
            }
        }
    };
    match &result {
        Ok(value) => {
            let response = serde_json::to_string(value).expect("a response serialises");
            state.store.finish_idempotent(org, key, &holder, status.as_u16(), &response).await?;
        }
        Err(_) => state.store.release_idempotent(org, key, &holder).await?,
    }
    Ok((status, Json(result?)).into_response())
}

/// The routes and the document that describes them, with the responses every route shares.
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(me::router())
        .merge(datasets::router())
        .merge(audit::router())
        .merge(partnerships::router())
        .merge(runs::router())
        .merge(users::router())
        .merge(sso::router())
        .merge(connections::router())
        .merge(hooks::router())
        .merge(alerts::router())
        .merge(cosell::router())
        .merge(corrections::router())
        .merge(registrations::router())
        .merge(reports::router())
        .merge(ecosystem::router())
        .merge(attribution::router())
        .merge(schedules::router())
        .merge(changes::router())
        .split_for_parts();
    contract::CommonResponses.modify(&mut doc);
    (router, doc)
}

/// The API's routes, and its OpenAPI document at `/api/v1/openapi.json`, served as built at start.
pub(crate) fn router() -> Router<AppState> {
    let (router, doc) = documented();
    let doc = doc.to_json().expect("the OpenAPI document serialises");
    router.route(
        "/api/v1/openapi.json",
        get(move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], doc.clone()))),
    )
}

/// The OpenAPI document the API serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().1
}

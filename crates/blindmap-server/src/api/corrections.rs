//! `/api/v1/corrections`: this organisation's corrections of what matching showed. A user marks
//! a match wrong (`not_this_match`) or one of its accounts as never to be matched with a partner
//! (`never_match`); the correction takes effect at once — every list, count, export and event of
//! the latest match and of every later one leaves out what it hides — and is undone by deleting
//! it. Corrections stay on this node: the partner is never told, and this node keeps disclosing
//! exactly what its sharing policy says.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use blindmap_store::{Correction, CorrectionId, CorrectionKind, PartnershipId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract, idempotent, request_hash};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::corrections;

/// A correction to make (its schema: `contract::NewCorrection`).
#[derive(Debug, Serialize, Deserialize)]
pub struct NewCorrectionBody {
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// This side's account.
    pub account_id: String,
    /// `not_this_match` (this match is wrong: matches on the same or weaker evidence are
    /// hidden) or `never_match` (the account never matches the partner).
    pub kind: String,
    /// With `not_this_match`: the key types of the overlap it corrects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_types: Vec<String>,
    /// Why, for the next person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A correction as this node keeps it.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CorrectionView {
    /// `mc_…`.
    pub id: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner organisation.
    pub partner: String,
    /// Your account.
    pub account_id: String,
    /// Its name as your active dataset has it (as it was when corrected, should it have left).
    pub account: Option<String>,
    /// What it says.
    #[schema(value_type = contract::CorrectionKind)]
    pub kind: String,
    /// For `not_this_match`, the key types of the overlap it corrected (sorted): the account's
    /// matches with the partner on these alone, or some of them, are hidden. Empty for
    /// `never_match`.
    pub key_types: Vec<String>,
    /// Why, in its author's words.
    pub note: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who removed it, once removed (what it hid shows again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<String>,
    /// Unix milliseconds, once removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<i64>,
}

impl From<Correction> for CorrectionView {
    fn from(c: Correction) -> Self {
        Self {
            id: c.id.to_string(),
            partnership: c.partnership.to_string(),
            partner: c.partner_name,
            account_id: c.account_id,
            account: c.account_name,
            kind: c.kind.as_str().to_owned(),
            key_types: c.key_types,
            note: c.note,
            created_by: c.created_by,
            created_at: c.created_at,
            removed_by: c.removed_by,
            removed_at: c.removed_at,
        }
    }
}

/// A page of active corrections, newest first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CorrectionPage {
    /// This page's items.
    pub items: Vec<CorrectionView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which corrections to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct CorrectionFilter {
    /// Only this partnership's.
    #[param(value_type = Option<contract::PartnershipId>, nullable = false)]
    pub partnership: Option<String>,
}

/// Corrects a match (admins and reps): `not_this_match` hides the account's matches with the
/// partner on the same or weaker evidence (key types all among those given: the corrected
/// overlap's, as the lists show them) — a later match on a new key type shows again;
/// `never_match` hides all of them. At once and in every later match, until deleted; the partner
/// is not told. The account must be in your active dataset and overlap the partner in the
/// latest complete match. An identical correction already active is answered again, not made
/// twice.
#[utoipa::path(post, path = "/api/v1/corrections", tag = "corrections", request_body = contract::NewCorrection,
    params(("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried correction safe")),
    responses((status = 201, body = CorrectionView, description = "The correction (the one already active, if identical)"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not correct matches"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such partnership, no complete match with it, or no overlap of the account in it (with those key types)"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "The account is not in your active dataset, or key_types do not go with the kind")))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<NewCorrectionBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Rep])?;
    let org = caller.0.user.org.clone();
    let key_types = body.key_types.join(",");
    let request = request_hash(&[
        body.partnership.as_bytes(),
        body.account_id.as_bytes(),
        body.kind.as_bytes(),
        key_types.as_bytes(),
        body.note.as_deref().unwrap_or("").as_bytes(),
    ]);
    let (work_state, work_org, user) = (state.clone(), org.clone(), caller.0.user.name.clone());
    let work = async move {
        let (state, org) = (work_state, work_org);
        let kind = CorrectionKind::parse(&body.kind)
            .ok_or_else(|| ApiError::Invalid("kind is not_this_match or never_match".into()))?;
        let asked = corrections::Asked {
            partnership: &body.partnership,
            account_id: &body.account_id,
            kind,
            key_types: &body.key_types,
            note: body.note.as_deref(),
        };
        Ok(CorrectionView::from(corrections::add(&state.store, &org, &user, asked).await?))
    };
    idempotent(&state, &org, &headers, request, StatusCode::CREATED, work).await
}

/// The organisation's active corrections, newest first, with the names of the accounts and
/// partners they are about.
#[utoipa::path(get, path = "/api/v1/corrections", tag = "corrections",
    params(Page, ("cursor" = Option<contract::CorrectionId>, Query, description = "The `next` of the previous page"), CorrectionFilter),
    responses((status = 200, body = CorrectionPage, description = "A page of corrections"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or cursor out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(filter): Query<CorrectionFilter>,
) -> Result<Json<CorrectionPage>, ApiError> {
    let org = &caller.0.user.org;
    let limit = page.limit()?;
    let after = page.after(CorrectionId::parse, "a correction id")?;
    let partnership = match &filter.partnership {
        Some(p) => {
            let id = PartnershipId::parse(p).ok_or(ApiError::NotFound("partnership"))?;
            state.store.partnership(org, &id).await?;
            Some(id)
        }
        None => None,
    };
    let items = state.store.corrections_page(org, partnership.as_ref(), after.as_ref(), limit).await?;
    let next = Page::next(limit, &items, |c| c.id.to_string());
    Ok(Json(CorrectionPage { items: items.into_iter().map(Into::into).collect(), next }))
}

/// One correction, active or removed.
#[utoipa::path(get, path = "/api/v1/corrections/{id}", tag = "corrections", params(("id" = contract::CorrectionId, Path)),
    responses((status = 200, body = CorrectionView, description = "The correction"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such correction")))]
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CorrectionView>, ApiError> {
    let id = CorrectionId::parse(&id).ok_or(ApiError::NotFound("correction"))?;
    Ok(Json(state.store.correction(&caller.0.user.org, &id).await?.into()))
}

/// Removes a correction (admins and reps): what it hid shows again at once. Its record stays,
/// with who removed it and when, as does the audit trail's. Removing one removed already
/// answers it as it is.
#[utoipa::path(delete, path = "/api/v1/corrections/{id}", tag = "corrections", params(("id" = contract::CorrectionId, Path)),
    responses((status = 200, body = CorrectionView, description = "The correction, removed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not correct matches"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such correction")))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CorrectionView>, ApiError> {
    caller.require(&[Role::Admin, Role::Rep])?;
    let user = &caller.0.user;
    Ok(Json(corrections::remove(&state.store, &user.org, &user.name, &id).await?.into()))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(one, remove))
}

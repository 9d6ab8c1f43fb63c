//! `/api/v1/cosell`: co-sell records on overlapping accounts, kept in step with the partner's
//! node. Created from an overlap of a run; edited by either side; every change stamped with who
//! and when; `cosell.created` / `cosell.updated` events on both sides.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use blindmap_cosell::cosell::{CoSell, Edit, Party};
use blindmap_store::{OrgId, PartnershipId, Role, StoredCoSell};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract, idempotent, request_hash};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::cosell;

/// A co-sell record to create, on an overlap a run found.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewCoSell {
    /// The run (`run_…`) whose overlap it is.
    #[schema(value_type = contract::RunId)]
    pub run: String,
    /// Your account (from the run's overlaps).
    pub account_id: String,
    /// The partner's segment of the overlapping record.
    pub partner_segment: String,
    /// The partner's record (`partner_record` in the run's overlaps).
    #[schema(maximum = 4294967295_u64, format = Int64)]
    pub partner_record: u32,
}

/// A co-sell record as this side keeps it.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CoSellView {
    /// `cs_…`, the same on both nodes.
    pub id: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner organisation's name.
    pub partner: String,
    /// The name of this side's account in the active dataset, when the record names one that
    /// has a name there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// `A` (this side created it) or `B` (the partner did).
    pub party: String,
    /// `proposed`, `accepted`, `declined`, `active`, `won`, `lost` or `withdrawn`.
    pub status: String,
    /// Whether the partner's node has yet to merge this side's latest copy.
    pub pending_sync: bool,
    /// The whole record: each field with its value, when and by whom it was set; next-step
    /// history, notes and the change log.
    #[schema(value_type = Object)]
    pub record: CoSell,
}

impl CoSellView {
    fn of(s: StoredCoSell, partners: &BTreeMap<PartnershipId, String>, names: &BTreeMap<String, String>) -> Self {
        let account_name = cosell::mine(&s).account.value.as_ref().and_then(|id| names.get(id)).cloned();
        Self {
            id: s.record.id.clone(),
            partner: partners.get(&s.partnership).cloned().unwrap_or_default(),
            partnership: s.partnership.to_string(),
            account_name,
            party: match s.party {
                Party::A => "A",
                Party::B => "B",
            }
            .to_owned(),
            status: s.record.status.value.as_str().to_owned(),
            pending_sync: s.dirty,
            record: s.record,
        }
    }
}

/// The views of `records` of `org`'s, with their partners' names and their accounts' names in
/// the active dataset.
async fn views(state: &AppState, org: &OrgId, records: Vec<StoredCoSell>) -> Result<Vec<CoSellView>, ApiError> {
    let partners: BTreeMap<PartnershipId, String> =
        state.store.partnerships(org).await?.into_iter().map(|p| (p.id, p.partner_name)).collect();
    let names = cosell::account_names(&state.store, org, &records).await?;
    Ok(records.into_iter().map(|s| CoSellView::of(s, &partners, &names)).collect())
}

/// The view of one record of `org`'s.
async fn view(state: &AppState, org: &OrgId, record: StoredCoSell) -> Result<CoSellView, ApiError> {
    views(state, org, vec![record]).await?.pop().ok_or(ApiError::NotFound("co-sell record"))
}

/// A page of co-sell records, most recently changed first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CoSellPage {
    /// This page's items.
    pub items: Vec<CoSellView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which records to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct CoSellFilter {
    /// Only this partnership's.
    #[param(value_type = Option<contract::PartnershipId>, nullable = false)]
    pub partnership: Option<String>,
}

/// An edit: `{"edit": "status", "status": "accepted"}`, `{"edit": "stage", "stage": "…"}`,
/// `amount` (`{"minor": 1250000, "currency": "EUR"}` or null), `close_date` (`date`),
/// `next_steps` (`text`), `note` (`text`), and this side's own `account`, `opportunity`
/// (`reference`) and `owner` (its schema: `contract::CoSellEdit`).
#[derive(Deserialize)]
pub(crate) struct EditBody(Edit);

/// Creates a co-sell record on an overlapping account and shares it with the partner's node
/// (admins and reps). With an `Idempotency-Key`, a retry answers the first record.
#[utoipa::path(post, path = "/api/v1/cosell", tag = "cosell", request_body = NewCoSell,
    params(("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried creation safe")),
    responses((status = 201, body = CoSellView, description = "Created"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not create co-sell records"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such run, or no such overlap in it"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The partnership ended or has no node"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "The run's session cannot name the partner's record")))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<NewCoSell>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Rep])?;
    let org = caller.0.user.org.clone();
    let position = body.partner_record.to_string();
    let request = request_hash(&[
        body.run.as_bytes(),
        body.account_id.as_bytes(),
        body.partner_segment.as_bytes(),
        position.as_bytes(),
    ]);
    let (work_state, work_org, user) = (state.clone(), org.clone(), caller.0.user.name.clone());
    let work = async move {
        let (state, org) = (work_state, work_org);
        let id = cosell::create_on_overlap(
            &state.store,
            state.node()?,
            &org,
            &user,
            cosell::OnOverlap {
                run: &body.run,
                account: &body.account_id,
                partner_segment: &body.partner_segment,
                partner_record: body.partner_record,
            },
        )
        .await?;
        view(&state, &org, state.store.cosell(&org, &id).await?).await
    };
    idempotent(&state, &caller.0.user.org, &headers, request, StatusCode::CREATED, work).await
}

/// The organisation's co-sell records, most recently changed first.
#[utoipa::path(get, path = "/api/v1/cosell", tag = "cosell",
    params(Page, ("cursor" = Option<String>, Query, description = "The `next` of the previous page"), CoSellFilter),
    responses((status = 200, body = CoSellPage, description = "A page of co-sell records"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`partnership` is not a partnership id"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(filter): Query<CoSellFilter>,
) -> Result<Json<CoSellPage>, ApiError> {
    let limit = page.limit()?;
    let partnership = match &filter.partnership {
        Some(p) => Some(PartnershipId::parse(p).ok_or(ApiError::NotFound("partnership"))?),
        None => None,
    };
    let items =
        state.store.cosells_page(&caller.0.user.org, partnership.as_ref(), page.cursor.as_deref(), limit).await?;
    let next = Page::next(limit, &items, |c| c.record.id.clone());
    Ok(Json(CoSellPage { items: views(&state, &caller.0.user.org, items).await?, next }))
}

/// One co-sell record.
#[utoipa::path(get, path = "/api/v1/cosell/{id}", tag = "cosell", params(("id" = String, Path)),
    responses((status = 200, body = CoSellView, description = "The record"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such record")))]
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CoSellView>, ApiError> {
    let org = &caller.0.user.org;
    Ok(Json(view(&state, org, state.store.cosell(org, &id).await?).await?))
}

/// Edits a co-sell record (admins and reps) and shares the change with the partner's node.
#[utoipa::path(post, path = "/api/v1/cosell/{id}/edits", tag = "cosell", params(("id" = String, Path)),
    request_body = contract::CoSellEdit,
    responses((status = 200, body = CoSellView, description = "The record as edited"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Integrations do not edit"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such record"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Not from the record's status, or the record is closed to edits"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "A value out of range: a text over 4000 bytes, a blank note, a negative amount, or a full record")))]
async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(EditBody(edit)): Json<EditBody>,
) -> Result<Json<CoSellView>, ApiError> {
    caller.require(&[Role::Admin, Role::Rep])?;
    // Sharing needs the node; without one, the edit is refused before anything changes.
    let node = state.node()?;
    let edited = cosell::edit(&state.store, Some(node), &caller.0.user, &id, &[edit]).await?;
    Ok(Json(view(&state, &caller.0.user.org, edited).await?))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(one)).routes(routes!(edit))
}

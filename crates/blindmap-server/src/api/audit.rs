//! `GET /api/v1/audit`: the organisation's audit trail.

use crate::http::extract::Json;
use crate::http::extract::Query;
use axum::extract::State;
use blindmap_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Page;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};

/// One audited event.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Unix milliseconds.
    pub at: i64,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub kind: String,
    /// Counts, ids, policies.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of events, newest first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AuditPage {
    /// This page's items.
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The organisation's audit trail, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(Page, ("cursor" = Option<String>, Query, description = "The `next` of the previous page")),
    responses((status = 200, body = AuditPage, description = "A page of events"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit out of range")))]
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(&[Role::Admin])?;
    let limit = page.limit()?;
    let events = state.store.audit_page(&caller.0.user.org, page.cursor.as_deref(), limit).await?;
    let next = Page::next(limit, &events, |e| e.id.clone());
    Ok(Json(AuditPage {
        items: events
            .into_iter()
            .map(|e| AuditEventView { at: e.at, actor: e.actor, kind: e.kind, detail: e.detail })
            .collect(),
        next,
    }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit))
}

//! `GET /api/v1/me`: who a token acts as.

use crate::http::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;

/// The caller.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct Me {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub user: String,
    /// Its role.
    #[schema(value_type = super::contract::RoleName)]
    pub role: String,
    /// The organisation's id.
    pub organisation_id: String,
}

/// Who the bearer token acts as.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = Me, description = "The caller")))]
async fn me(caller: Caller) -> Result<Json<Me>, ApiError> {
    let p = caller.0;
    Ok(Json(Me {
        user_id: p.user.id.to_string(),
        user: p.user.name,
        role: p.user.role.as_str().to_owned(),
        organisation_id: p.user.org.to_string(),
    }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

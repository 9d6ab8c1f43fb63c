//! Bearer-token authentication: every API route but the OpenAPI document takes a `Caller`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use blindmap_store::{Principal, Role};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated user a request acts for.
pub(crate) struct Caller(pub(crate) Principal);

impl Caller {
    /// Fails unless the caller has one of `roles`.
    pub(crate) fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.0.user.role) { Ok(()) } else { Err(ApiError::Forbidden(self.0.user.role.as_str())) }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthenticated)?;
        let principal = state.store.authenticate(token.trim()).await?.ok_or(ApiError::Unauthenticated)?;
        Ok(Self(principal))
    }
}

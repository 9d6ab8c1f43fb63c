//! Bearer-token authentication: every API route but the OpenAPI document takes a `Caller`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use blindmap_store::{Principal, Role};

use crate::AppState;
use crate::http::error::ApiError;
use crate::http::throttle::Admitted;

/// The authenticated user a request acts for, admitted within its rates and its organisation's
/// share of the node (held while the request runs).
pub(crate) struct Caller(pub(crate) Principal, #[allow(dead_code, reason = "held, not read")] Admitted);

impl Caller {
    /// The caller, no longer holding its place among its organisation's running requests: for
    /// a request that goes on long without the database (an upload streaming in).
    pub(crate) fn released(self) -> Principal {
        self.0
    }

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
        let credential = format!("token:{}", principal.token.as_str());
        let admitted = state.throttle.admit(&credential, principal.user.org.as_str()).await?;
        Ok(Self(principal, admitted))
    }
}

//! The routes of `/api/v1`, one module per resource, merged here with the OpenAPI document they
//! describe.

mod audit;
mod datasets;
mod me;
mod partnerships;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "blindmap matching API", description = "A blindmap node's API for its own organisations' users."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::Problem))
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

/// Page parameters of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct Page {
    /// At most this many items (1 to 1000; default 100).
    pub(crate) limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub(crate) cursor: Option<String>,
}

impl Page {
    /// The cursor of the page after `items`: the last item's id when the page is full.
    pub(crate) fn next<T>(limit: u32, items: &[T], id: impl Fn(&T) -> String) -> Option<String> {
        if items.len() == limit as usize { items.last().map(id) } else { None }
    }

    pub(crate) fn limit(&self) -> Result<u32, crate::error::ApiError> {
        match self.limit.unwrap_or(100) {
            n @ 1..=1000 => Ok(n),
            _ => Err(crate::error::ApiError::Invalid("limit must be 1 to 1000".into())),
        }
    }
}

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(me::router())
        .merge(datasets::router())
        .merge(audit::router())
        .merge(partnerships::router())
}

/// The API's routes, and its OpenAPI document at `/api/v1/openapi.json`, served as built at start.
pub(crate) fn router() -> Router<AppState> {
    let (router, doc) = documented().split_for_parts();
    let doc = doc.to_json().expect("the OpenAPI document serialises");
    router.route(
        "/api/v1/openapi.json",
        get(move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], doc.clone()))),
    )
}

/// The OpenAPI document the API serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

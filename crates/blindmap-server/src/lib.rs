//! blindmap's node over HTTP: the matching API under `/api/v1`.
//!
//! Every route but the OpenAPI document needs a bearer token; what a token may see is its own
//! organisation's data and nothing else — the store is always asked on behalf of the caller's
//! organisation. Errors are RFC 9457 problem documents, mapped in one place ([`error`]).
//! Bodies are size-limited and requests time out.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod attribution;
mod auth;
pub mod client;
mod cosell;
pub mod error;
mod extract;
mod hooks;
pub mod identity;
mod invite;
pub mod node;
mod peer;
mod registrations;
pub mod remote;
mod runs;
mod session_io;
mod tls;
mod unread_body;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use blindmap_store::Store;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use api::openapi;
pub use hooks::rfc3339;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    node: Option<Arc<NodeContext>>,
}

/// What a running node adds: its identity for calling partners, and the URL they call back.
pub(crate) struct NodeContext {
    pub(crate) identity: identity::Identity,
    /// Set once the listener is bound (a configured port 0 becomes the real one).
    pub(crate) public_url: std::sync::OnceLock<String>,
    /// Whether runs partners start keep a transcript on this side.
    pub(crate) keep_transcripts: bool,
    /// The runs this process drives, and the signal that stops them when the node stops.
    pub(crate) runs: runs::RunTasks,
}

impl AppState {
    pub(crate) fn node(&self) -> Result<&NodeContext, error::ApiError> {
        self.node.as_deref().ok_or(error::ApiError::NoNode)
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Limits the API enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, in bytes (CSV uploads included).
    pub max_body_bytes: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 256 << 20, request_timeout: Duration::from_secs(300) }
    }
}

/// The API as a router, ready to serve or to test with `oneshot` (without a node identity:
/// partnership calls answer 503).
pub fn app(store: Store, limits: Limits) -> Router {
    app_with_node(store, limits, None)
}

pub(crate) fn app_with_node(store: Store, limits: Limits, node: Option<Arc<NodeContext>>) -> Router {
    api::router()
        .merge(web::router())
        .merge(peer::router())
        // The configured limit, not axum's default of 2 MiB, bounds uploads.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .merge(peer::stream_router())
        .with_state(AppState { store, node })
        // Errors from layers (size limit, timeout) and unknown routes become problem documents too.
        .layer(axum::middleware::map_response(error::problem_for_plain_errors))
        // Over-long targets, and NUL in one, are refused before routing (see error::check_target).
        .layer(axum::middleware::from_fn(error::check_target))
        // An HTTP/1 body left unread closes its connection: say so (see unread_body).
        .layer(axum::middleware::from_fn(unread_body::close_if_unread))
        // One span per request with the method and path only: query strings (file names) and
        // bodies (CRM data) never reach the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
}

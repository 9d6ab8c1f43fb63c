//! blindmap's node: one HTTPS port serving the API, the reps' pages and partner nodes.
//!
//! By role:
//! - [`api`]: the API under `/api/v1` — one module per resource, holding its routes and its
//!   public request and response types (the client and the command line use the same types),
//!   merged with the OpenAPI document they describe.
//! - `web`: the reps' pages (server-rendered, CSRF on every form, usable without JavaScript).
//! - `browser`: the partner page (`/join`) and what it calls — a partner without a node matching
//!   in its browser (spec §20).
//! - `peer`: the peer channel under `/peer/v1` — partner nodes, authenticated by their pinned
//!   certificate; pairing invites; driving a protocol session over a byte stream.
//! - `service`: what the node does whoever asks — match runs, co-sell sync, deal registrations,
//!   attribution, corrections, the webhook worker.
//! - `http`: what the API, pages and peer channel share — errors mapped to RFC 9457 problem
//!   documents in one place ([`error`]), extractors, bearer authentication, rate limits.
//! - [`client`]: calling nodes — the typed API client, a node calling its partner, and a partner
//!   without a node matching against a vendor's.
//! - [`node`]: the node as a program — configuration, TLS identity, `init` and `serve`.
//!
//! Every API route but the OpenAPI document needs a bearer token; what a token may see is its
//! own organisation's data and nothing else — the store is always asked on behalf of the
//! caller's organisation. Bodies are size-limited and requests time out.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
mod browser;
pub mod client;
mod http;
pub mod node;
mod peer;
mod service;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use blindmap_store::Store;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use api::openapi;
pub use http::error;
pub use http::throttle::ThrottleConfig;
pub use service::hooks::rfc3339;

/// The Salesforce metadata of the custom object a write-back fills, as files of an SFDX project
/// (path, content): what `blindmap crm metadata` writes.
pub fn salesforce_writeback_metadata() -> Vec<(String, String)> {
    service::writeback::salesforce_metadata()
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    node: Option<Arc<NodeContext>>,
    limits: Limits,
    /// Uploads being imported now: a few at once (each holds a temporary file and a database
    /// transaction while it runs).
    uploads: Arc<tokio::sync::Semaphore>,
    /// Rates and shares of the node per caller and per organisation.
    throttle: Arc<http::throttle::Throttle>,
}

/// What a running node adds: its identity for calling partners, and the URL they call back.
pub(crate) struct NodeContext {
    pub(crate) identity: node::identity::Identity,
    /// Set once the listener is bound (a configured port 0 becomes the real one).
    pub(crate) public_url: std::sync::OnceLock<String>,
    /// Whether runs partners start keep a transcript on this side.
    pub(crate) keep_transcripts: bool,
    /// Whether the partner page saved as a file (origin `null`) may call the browser routes.
    pub(crate) browser_allow_file: bool,
    /// The runs this process drives, and the signal that stops them when the node stops.
    pub(crate) runs: service::runs::RunTasks,
    /// Where webhooks may go (the operator's allow-list).
    pub(crate) webhooks: Arc<service::hooks::WebhookEgress>,
    /// Where CRM connections may reach (the operator's allow-list).
    pub(crate) crm: Arc<service::hooks::WebhookEgress>,
    /// This process among the node's replicas (`replica_…`, new at each start): the holder of
    /// the scheduled jobs it takes.
    pub(crate) replica: String,
}

impl AppState {
    pub(crate) fn node(&self) -> Result<&NodeContext, error::ApiError> {
        self.node.as_deref().ok_or(error::ApiError::NoNode)
    }

    /// The node, to hand to work that outlives a request.
    pub(crate) fn node_arc(&self) -> Option<Arc<NodeContext>> {
        self.node.clone()
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Largest JSON body of an API call: a few KiB is what any of them carries (the CSV upload and
/// the inbound attribution webhook read their bodies under their own limits).
const API_JSON_BYTES: usize = 64 << 10;

/// Largest form a page posts.
const FORM_BYTES: usize = 16 << 10;

/// Limits the API enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest upload (a CRM export), in bytes; it streams to a temporary file.
    pub max_body_bytes: usize,
    /// Uploads imported at once; more are answered 503 with `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Request rates and concurrency per caller and per organisation.
    pub throttle: ThrottleConfig,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 30,
            max_concurrent_uploads: 2,
            request_timeout: Duration::from_secs(300),
            throttle: ThrottleConfig::default(),
        }
    }
}

/// The API as a router, ready to serve or to test with `oneshot` (without a node identity:
/// partnership calls answer 503).
pub fn app(store: Store, limits: Limits) -> Router {
    app_with_node(store, limits, None)
}

pub(crate) fn app_with_node(store: Store, limits: Limits, node: Option<Arc<NodeContext>>) -> Router {
    let uploads = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_uploads.max(1)));
    let throttle = Arc::new(http::throttle::Throttle::new(limits.throttle));
    // Each part reads bodies only up to what its routes need; streamed bodies (uploads, runs)
    // are read by their handlers under their own limits, after the caller is authenticated.
    api::router()
        .layer(DefaultBodyLimit::max(API_JSON_BYTES))
        .merge(web::router().layer(DefaultBodyLimit::max(FORM_BYTES)))
        .merge(peer::router())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .merge(peer::stream_router())
        // A browser partner's session lasts as long as its WebSocket (spec §20.2).
        .merge(
            browser::router(node.as_ref().is_some_and(|n| n.browser_allow_file))
                .layer(DefaultBodyLimit::max(API_JSON_BYTES)),
        )
        .with_state(AppState { store, node, limits, uploads, throttle })
        // Errors from layers (size limit, timeout) and unknown routes become problem documents too.
        .layer(axum::middleware::map_response(error::problem_for_plain_errors))
        // Over-long targets, and NUL in one, are refused before routing (see error::check_target).
        .layer(axum::middleware::from_fn(error::check_target))
        // An HTTP/1 body left unread closes its connection: say so (see unread_body).
        .layer(axum::middleware::from_fn(http::unread_body::close_if_unread))
        // One span per request with the method and the route's template only (`/api/v1/
        // accounts/{id}`, not the account's id): paths carry account ids, opportunity names and
        // secrets, query strings file names, bodies CRM data — none of it reaches the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let route = request
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or("(no such route)", axum::extract::MatchedPath::as_str);
                    tracing::info_span!("request", method = %request.method(), route = %route)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
}

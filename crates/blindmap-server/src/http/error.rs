//! Every API error becomes an RFC 9457 `application/problem+json` response here, and only here.
//! Client errors say what to fix; server errors carry a fixed text, their detail goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blindmap_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an invalid bearer token.
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// A signed inbound delivery whose signature headers are missing or do not verify.
    #[error("the webhook signature does not verify: {0}")]
    Signature(String),
    /// The token's role may not do this.
    #[error("the {0} role may not do this")]
    Forbidden(&'static str),
    /// Nothing of that id for this organisation.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The request is malformed: a parameter, a header, or an uploaded file.
    #[error("{0}")]
    Invalid(String),
    /// An idempotency key reused with a different request, or still in flight.
    #[error("{0}")]
    Conflict(String),
    /// A peer call from a node that is not (or no longer) a partner of this one.
    #[error(
        "this node is not a partner of this one: no client certificate, or not the one pinned for an active partnership"
    )]
    PeerUnknown,
    /// A paired partner's node asked for something it may not have (audited where refused).
    #[error("refused: {0}")]
    PeerRefused(&'static str),
    /// An invite's secret that redeems nothing: used already, expired (or never issued here).
    #[error(
        "the invite code was used already or has expired (a code pairs once, within 24 hours of being made): ask \
         the admin who gave it to you for a new one"
    )]
    InviteSpent,
    /// A browser partner's link that opens nothing now: unknown, expired, or its partnership
    /// ended (what, and what to do, in the text).
    #[error("{0}")]
    LinkRefused(String),
    /// A partner node could not be reached or refused.
    #[error("the partner node: {0}")]
    Partner(String),
    /// This API instance runs without a node identity (it cannot call partners).
    #[error("this server has no node identity; partnerships need `blindmap serve`")]
    NoNode,
    /// The request could not be read (content type, JSON, query parameters).
    #[error("{detail}")]
    Rejected {
        /// The status axum chose for it.
        status: StatusCode,
        /// What was wrong.
        detail: String,
    },
    /// A limit on how often something may be asked was reached.
    #[error("{0}")]
    TooMany(String),
    /// A request with the same `Idempotency-Key` is still running (409 with `Retry-After`: the
    /// seconds until its lease lapses if it died).
    #[error(
        "a request with this Idempotency-Key is still running; retry in {retry_after_secs} s (if it stopped, \
         its key is released by then)"
    )]
    InFlight {
        /// Seconds until the running request's lease lapses unless it renews it.
        retry_after_secs: u64,
    },
    /// A rate limit was reached: try again after `retry_after_secs` (429 with `Retry-After`).
    #[error("{detail}")]
    RateLimited {
        /// Which limit, and how to stay within it.
        detail: String,
        /// Seconds until a retry can pass.
        retry_after_secs: u64,
    },
    /// The node is doing as much of this as it takes at once (503 with `Retry-After`).
    #[error("{detail}")]
    Busy {
        /// What it is busy with.
        detail: &'static str,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// Something the node needs failed (503; the cause goes to the log).
    #[error("{0}")]
    Unavailable(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's short text.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened and what to do about it.
    pub detail: String,
}

impl From<crate::service::schedules::ScheduleError> for ApiError {
    fn from(e: crate::service::schedules::ScheduleError) -> Self {
        use crate::service::schedules::ScheduleError as E;
        match e {
            E::Invalid(_) | E::PartnerLimit(_) => Self::Invalid(e.to_string()),
            E::NoPartnerNode(_) | E::Ended(_) => Self::Conflict(e.to_string()),
            E::Partner { .. } => Self::Partner(e.to_string()),
            E::NoNode => Self::NoNode,
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::retention::RetentionError> for ApiError {
    fn from(e: crate::service::retention::RetentionError) -> Self {
        use crate::service::retention::RetentionError as E;
        match e {
            E::Invalid(text) => Self::Invalid(text),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::budgets::BudgetError> for ApiError {
    fn from(e: crate::service::budgets::BudgetError) -> Self {
        use crate::service::budgets::BudgetError as E;
        match e {
            E::Invalid(text) => Self::Invalid(text),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::attribution::AttributionError> for ApiError {
    fn from(e: crate::service::attribution::AttributionError) -> Self {
        use crate::service::attribution::AttributionError as E;
        match e {
            E::AlreadyClosed(_) => Self::Conflict(e.to_string()),
            E::Store(e) => Self::Store(e),
            invalid => Self::Invalid(invalid.to_string()),
        }
    }
}

impl From<crate::service::text::TextError> for ApiError {
    fn from(e: crate::service::text::TextError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<crate::service::runs::SharingError> for ApiError {
    fn from(e: crate::service::runs::SharingError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl From<crate::service::runs::StartError> for ApiError {
    fn from(e: crate::service::runs::StartError) -> Self {
        use crate::service::runs::StartError as E;
        match e {
            E::NoDataset | E::PartnerPolicy | E::Ended(_) | E::NoPartnerNode(_) | E::InBrowser(_) => {
                Self::Conflict(e.to_string())
            }
            E::Partner(detail) => Self::Partner(detail),
            E::NoNode => Self::NoNode,
            E::Sharing(e) => e.into(),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::corrections::CorrectionError> for ApiError {
    fn from(e: crate::service::corrections::CorrectionError) -> Self {
        use crate::service::corrections::CorrectionError as E;
        match e {
            E::NotFound(what) => Self::NotFound(what),
            E::Store(e) => Self::Store(e),
            invalid => Self::Invalid(invalid.to_string()),
        }
    }
}

impl From<crate::service::ecosystem::EcosystemError> for ApiError {
    fn from(e: crate::service::ecosystem::EcosystemError) -> Self {
        use crate::service::ecosystem::EcosystemError as E;
        match e {
            E::NotFound(what) => Self::NotFound(what),
            E::NoRecord(_) => Self::Conflict(e.to_string()),
            E::CoSell(e) => e.into(),
            E::Store(e) => Self::Store(e),
            invalid => Self::Invalid(invalid.to_string()),
        }
    }
}

impl From<crate::service::sso::SsoError> for ApiError {
    fn from(e: crate::service::sso::SsoError) -> Self {
        use crate::service::sso::SsoError as E;
        let rejected = |status, e: &E| Self::Rejected { status, detail: e.to_string() };
        match e {
            E::Invalid(_) | E::IssuerNotAllowed => Self::Invalid(e.to_string()),
            E::NotConfigured => Self::NotFound("single sign-on configuration"),
            E::BadState => rejected(StatusCode::BAD_REQUEST, &e),
            E::ProviderRefused(_) | E::InvalidToken(_) => rejected(StatusCode::UNAUTHORIZED, &e),
            E::NotAllowed(_) => rejected(StatusCode::FORBIDDEN, &e),
            E::Discovery(_) | E::Exchange(_) => rejected(StatusCode::BAD_GATEWAY, &e),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::datasets::DatasetError> for ApiError {
    fn from(e: crate::service::datasets::DatasetError) -> Self {
        use crate::service::datasets::DatasetError as E;
        match e {
            E::Unreadable(detail) => Self::Invalid(detail),
            E::ReadBack => Self::Unavailable("the upload cannot be read back"),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::crm::CrmError> for ApiError {
    fn from(e: crate::service::crm::CrmError) -> Self {
        use crate::service::crm::CrmError as E;
        match e {
            E::Invalid(detail) => Self::Invalid(detail),
            E::NoNode => Self::NoNode,
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::hooks::HookError> for ApiError {
    fn from(e: crate::service::hooks::HookError) -> Self {
        use crate::service::hooks::HookError as E;
        match e {
            E::Url(_) | E::UnknownKind(_) => Self::Invalid(e.to_string()),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::alerts::AlertError> for ApiError {
    fn from(e: crate::service::alerts::AlertError) -> Self {
        use crate::service::alerts::AlertError as E;
        match e {
            E::Invalid(detail) => Self::Invalid(detail),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::users::UserError> for ApiError {
    fn from(e: crate::service::users::UserError) -> Self {
        use crate::service::users::UserError as E;
        match e {
            E::Text(e) => e.into(),
            E::Role => Self::Invalid(e.to_string()),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::browser::BrowserError> for ApiError {
    fn from(e: crate::service::browser::BrowserError) -> Self {
        use crate::service::browser::BrowserError as E;
        match e {
            E::Invalid(detail) => Self::Invalid(detail),
            E::NotBrowser(_) => Self::Conflict(e.to_string()),
            E::Unknown | E::Expired { .. } | E::Ended { .. } => Self::LinkRefused(e.to_string()),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::partnerships::PartnershipError> for ApiError {
    fn from(e: crate::service::partnerships::PartnershipError) -> Self {
        use crate::service::partnerships::PartnershipError as E;
        match e {
            E::Invalid(detail) => Self::Invalid(detail),
            E::Partner(detail) => Self::Partner(detail),
            E::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::service::registrations::RegistrationError> for ApiError {
    fn from(e: crate::service::registrations::RegistrationError) -> Self {
        use crate::service::registrations::RegistrationError as E;
        match e {
            E::NotFound => Self::NotFound("registration"),
            E::IdTaken | E::Ended(_) | E::NoNode(_) | E::NotReceived | E::Refused(_) | E::KeepsChanging => {
                Self::Conflict(e.to_string())
            }
            E::Forged(reason) => Self::PeerRefused(reason),
            E::PrecheckLimit { retry_after, .. } => {
                Self::RateLimited { detail: e.to_string(), retry_after_secs: retry_after }
            }
            E::Partner(e) => partner_refusal(e),
            E::Unusable(what) => Self::Partner(what),
            E::Store(e) => Self::Store(e),
            invalid => Self::Invalid(invalid.to_string()),
        }
    }
}

impl From<crate::service::cosell::CoSellError> for ApiError {
    fn from(e: crate::service::cosell::CoSellError) -> Self {
        use crate::service::cosell::CoSellError as E;
        match e {
            E::Refused(reason) => Self::PeerRefused(reason),
            E::NotFound(what) => Self::NotFound(what),
            E::Ended(_) | E::NoNode(_) | E::NotNow(_) | E::KeepsChanging => Self::Conflict(e.to_string()),
            E::Partner(e) => Self::Partner(e.to_string()),
            E::Unusable(_) | E::Unmergeable(_) => Self::Partner(e.to_string()),
            E::Store(e) => Self::Store(e),
            invalid => Self::Invalid(invalid.to_string()),
        }
    }
}

/// A partner's node refused or could not be reached: its refusals keep their kind (too many →
/// 429, a conflict → 409, another client error → 422, each with the partner's words); anything
/// else is a bad gateway.
fn partner_refusal(e: crate::client::ClientError) -> ApiError {
    use crate::client::ClientError;
    match e {
        ClientError::Api { status, detail } if status == StatusCode::TOO_MANY_REQUESTS => ApiError::TooMany(detail),
        ClientError::Api { status, detail } if status == StatusCode::CONFLICT => {
            ApiError::Conflict(format!("the partner's node refused: {detail}"))
        }
        ClientError::Api { status, detail } if status.is_client_error() && status != StatusCode::FORBIDDEN => {
            ApiError::Invalid(format!("the partner's node refused: {detail}"))
        }
        other => ApiError::Partner(other.to_string()),
    }
}

impl ApiError {
    /// The HTTP status of this error and what to tell the caller (a store failure is logged
    /// here and told as a generic failure).
    pub(crate) fn status_and_detail(&self) -> (StatusCode, String) {
        match self {
            Self::Unauthenticated | Self::Signature(_) => (StatusCode::UNAUTHORIZED, self.to_string()),
            Self::Forbidden(_)
            | Self::PeerUnknown
            | Self::PeerRefused(_)
            | Self::InviteSpent
            | Self::LinkRefused(_) => (StatusCode::FORBIDDEN, self.to_string()),
            Self::Partner(_) => (StatusCode::BAD_GATEWAY, self.to_string()),
            Self::TooMany(_) | Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, self.to_string()),
            Self::Busy { .. } | Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            Self::Rejected { status, detail } => (*status, detail.clone()),
            Self::NoNode => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            Self::NotFound(_) | Self::Store(StoreError::NotFound(_)) => (StatusCode::NOT_FOUND, self.to_string()),
            Self::Invalid(_)
            | Self::Store(StoreError::Import(_) | StoreError::InvalidName(_) | StoreError::TooDeep(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
            Self::Conflict(_)
            | Self::InFlight { .. }
            | Self::Store(
                StoreError::Conflict(_)
                | StoreError::Ended
                | StoreError::RunInProgress
                | StoreError::SyncInProgress
                | StoreError::WritebackInProgress
                | StoreError::UserInactive(_)
                | StoreError::LastAdmin
                | StoreError::DatasetInUse(_)
                | StoreError::InUse(_)
                | StoreError::Changed,
            ) => (StatusCode::CONFLICT, self.to_string()),
            Self::Store(StoreError::Busy) => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            Self::Store(e) => {
                tracing::error!(error = %e, "store failure");
                (StatusCode::INTERNAL_SERVER_ERROR, "the node failed to handle the request; see its log".to_owned())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = self.status_and_detail();
        let mut response = problem(status, detail);
        let retry_after = match self {
            Self::RateLimited { retry_after_secs, .. }
            | Self::Busy { retry_after_secs, .. }
            | Self::InFlight { retry_after_secs } => Some(retry_after_secs),
            Self::Store(StoreError::Busy) => Some(5),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// Turns an error response that is not a problem document (from a layer: body too large,
/// request timeout; or no route) into one, so that every error a client sees is RFC 9457.
pub(crate) async fn problem_for_plain_errors(response: Response) -> Response {
    let status = response.status();
    // Problem documents already, and the pages' own HTML error pages, stay as they are.
    let documented = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/problem+json") || v.as_bytes().starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || documented {
        return response;
    }
    let detail = match status {
        // Every route reads only what it needs: a few KiB for JSON and forms (an upload has its
        // own message, naming max_body_mib).
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this route takes (a few KiB for JSON and forms)".to_owned()
        }
        StatusCode::REQUEST_TIMEOUT => {
            "the request took longer than this node allows (request_timeout_seconds)".to_owned()
        }
        StatusCode::NOT_FOUND => "no such resource: see /api/v1/openapi.json".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this resource does not take that method".to_owned(),
        StatusCode::URI_TOO_LONG => uri_too_long(),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    problem(status, detail)
}

/// The longest request target (path and query) the node reads, in bytes; a longer one is
/// answered 414 with a problem document by [`check_target`].
///
/// Past some length hyper answers before any of the node's code runs, with a bare status and no
/// body, and has no setting for that answer: over HTTP/1, a request line over 65,534 bytes (a
/// constant in hyper) gets 414, a head over its read buffer (about 400 KiB) 431; over HTTP/2, a
/// header list over the node's `max_header_list_size` (96 KiB, node.rs; h2's default of 16 KiB
/// would cut in first) gets 431. So every target from this limit up to hyper's gets the problem
/// document; only one past hyper's own limits gets hyper's bare answer.
pub const MAX_URI_BYTES: usize = 16 * 1024;

fn uri_too_long() -> String {
    format!("the request's path and query are longer than this node reads ({MAX_URI_BYTES} bytes)")
}

/// Answers, before routing, a request whose target is longer than [`MAX_URI_BYTES`] (414), or
/// holds an encoded NUL character (400: no text the node keeps or looks up can hold one —
/// PostgreSQL cannot store it — so no parameter takes it; bodies are held to the same in
/// `extract`).
pub(crate) async fn check_target(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let target = request.uri().path_and_query().map_or("", |target| target.as_str());
    if target.len() > MAX_URI_BYTES {
        return problem(StatusCode::URI_TOO_LONG, uri_too_long());
    }
    if target.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0') {
        return problem(StatusCode::BAD_REQUEST, "no path or query parameter takes the NUL character (%00)".to_owned());
    }
    next.run(request).await
}

/// A problem response of a status.
pub(crate) fn problem(status: StatusCode, detail: String) -> Response {
    let body = Problem {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        status: status.as_u16(),
        detail,
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

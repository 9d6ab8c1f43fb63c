//! The peer channel: partner nodes call `/peer/v1/…` on the same HTTPS port as the API, but
//! authenticated by their certificate instead of a token. Every TLS client may present a
//! certificate (and must prove it holds its key); which certificates count is decided per call
//! from the store — an invite's secret on `accept`, an active partnership's pinned fingerprint
//! on everything else. Nothing is accepted from an unpaired node.

pub(crate) mod invite;
pub(crate) mod session_io;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::http::extract::Json;
use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsAcceptor;
use blindmap_store::{PartnershipId, RunRole, StoreError};
use futures_util::{StreamExt, TryStreamExt};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tower::Layer;

use crate::AppState;
use crate::http::error::ApiError;
use crate::node::identity::fingerprint;
use crate::service::budgets;
use crate::service::runs::{self, Connection};

/// The fingerprint of the certificate the TLS client presented, if any.
#[derive(Debug, Clone)]
pub(crate) struct PeerCertificate(pub(crate) Option<String>);

/// The presented certificate's fingerprint, as an extractor: absent outside TLS (route tests).
pub(crate) struct Presented(pub(crate) Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Presented {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<PeerCertificate>().and_then(|p| p.0.clone())))
    }
}

/// Offers client authentication without requiring it (the node's own users call without a
/// certificate), and accepts any certificate whose key the client proves it holds: authorisation
/// is the store's, by fingerprint.
#[derive(Debug)]
pub(crate) struct AnyClientCertificate {
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    crate::node::tls::handshake_signatures!();
}

/// The TLS acceptor that hands each connection's client-certificate fingerprint to its requests.
#[derive(Clone)]
pub(crate) struct PeerAcceptor {
    pub(crate) inner: RustlsAcceptor,
}

impl<I, S> Accept<I, S> for PeerAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = tokio_rustls::server::TlsStream<I>;
    type Service = axum::middleware::AddExtension<S, PeerCertificate>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            let presented = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(fingerprint);
            Ok((stream, Extension(PeerCertificate(presented)).layer(service)))
        })
    }
}

/// What a node sends to accept an invite.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AcceptRequest {
    /// The invite's secret.
    pub(crate) secret: String,
    /// The accepting organisation's name.
    pub(crate) organisation: String,
    /// The accepting node's URL; empty for a partner without a node.
    pub(crate) url: String,
    /// The accepting node's id for the partnership.
    pub(crate) partnership: String,
}

/// The inviting node's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AcceptResponse {
    /// The inviting organisation's name.
    pub(crate) organisation: String,
    /// The inviting node's id for the partnership.
    pub(crate) partnership: String,
}

async fn accept(
    State(state): State<AppState>,
    Presented(presented): Presented,
    Json(request): Json<AcceptRequest>,
) -> Result<Json<AcceptResponse>, ApiError> {
    let fingerprint = presented.ok_or(ApiError::PeerUnknown)?;
    let partner_ref = PartnershipId::parse(&request.partnership)
        .ok_or_else(|| ApiError::Invalid("partnership is not a partnership id".into()))?;
    // An empty URL: a partner without a node, matching from the command line (it calls us).
    // spec §18.3: otherwise `https://` and a host, as an invite's url (§18.2).
    let url_ok = request.url.is_empty() || request.url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty());
    if !url_ok || request.organisation.trim().is_empty() {
        return Err(ApiError::Invalid("an https:// url (or none) and an organisation name are required".into()));
    }
    let org = state.store.redeem_invite(&request.secret).await?.ok_or(ApiError::InviteSpent)?;
    let id = PartnershipId::generate();
    let created = state
        .store
        .create_partnership(&id, &org, &request.organisation, &request.url, &fingerprint, partner_ref.as_str())
        .await;
    let partnership = match created {
        Ok(p) => p,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(format!("a partnership with {:?} already exists", request.organisation)));
        }
        Err(e) => return Err(e.into()),
    };
    let detail = serde_json::json!({ "partnership": partnership.id.to_string(), "partner": request.organisation,
        "partner_fingerprint": fingerprint });
    state.store.record_audit(&org, "node", "partnership.accepted", &detail).await?;
    let organisation = state.store.organisation_name(&org).await?;
    Ok(Json(AcceptResponse { organisation, partnership: partnership.id.to_string() }))
}

async fn end(State(state): State<AppState>, Peer(partnership, _): Peer) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.end_partnership(&partnership.org, &partnership.id).await?;
    let detail = serde_json::json!({ "partnership": partnership.id.to_string(), "by": "partner" });
    state.store.record_audit(&partnership.org, &partnership.partner_name, "partnership.ended", &detail).await?;
    Ok(Json(serde_json::json!({ "ended": true })))
}

/// A partner's node starts a match run: its frames come in the request body, ours go out in the
/// response body as the session proceeds (spec §16.1). This node answers with its active dataset
/// and the sharing policy it holds for the partnership now — unless the run is beyond what this
/// side allows against it (its budget, `service::budgets`): too soon after the previous one
/// (refused before any frame is read), or with a declared list that changed too much (refused
/// once the hello is read, before anything is disclosed).
async fn run(
    State(state): State<AppState>,
    Peer(partnership, admitted): Peer,
    body: Body,
) -> Result<Response, ApiError> {
    // A run streams for as long as its session lasts, with its own limits (one per partnership,
    // spec §16.1): it does not hold a place among the organisation's running requests.
    drop(admitted);
    let node = state.node()?;
    let budget = state.store.budget(&partnership.org, &partnership.id).await?;
    let now = crate::now_ms();
    budgets::check_interval(&state.store, &partnership, &budget, now).await?.map_err(refused)?;
    let mut incoming = body.into_data_stream().map_err(|e| format!("the connection failed: {e}"));
    let first = match budget.max_change_percent {
        Some(_) => {
            let first = first_frame(&mut incoming).await?;
            budgets::check_change(&state.store, &partnership, &budget, &first).await?.map_err(refused)?;
            Some(first)
        }
        None => None,
    };
    let started = runs::start(
        &state.store,
        &partnership.org,
        &partnership,
        RunRole::Responder,
        &partnership.partner_name,
        node.keep_transcripts,
    )
    .await?;
    let (outgoing, rx) = mpsc::channel(runs::FRAME_BUFFER);
    let incoming = futures_util::stream::iter(first.map(|b| Ok(b.freeze()))).chain(incoming);
    node.runs.spawn(state.store.clone(), started, async move { Ok(Connection { incoming, outgoing }) });
    let frames = crate::client::channel_stream::<std::convert::Infallible>(rx);
    Ok(([(header::CONTENT_TYPE, runs::FRAMES_TYPE)], Body::from_stream(frames)).into_response())
}

/// How long the partner has to send its hello when this side must read it before answering.
const HELLO_WAIT: Duration = Duration::from_secs(30);

/// Reads the partner's stream until it holds its first frame (or what there is of it, if the
/// stream ends or the frame's header does not parse: the session then aborts on it).
async fn first_frame<S>(incoming: &mut S) -> Result<bytes::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, String>> + Unpin,
{
    let mut buffer = bytes::BytesMut::new();
    let read = async {
        loop {
            match blindmap_psi::wire::Frame::peek_len(&buffer) {
                Ok(Some(len)) if buffer.len() >= len => return Ok(()),
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
            match incoming.next().await {
                Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(ApiError::Invalid(e)),
                None => return Ok(()),
            }
        }
    };
    tokio::time::timeout(HELLO_WAIT, read)
        .await
        .map_err(|_| ApiError::Invalid(format!("the run sent no hello within {} s", HELLO_WAIT.as_secs())))??;
    Ok(buffer)
}

/// A run refused under this side's budget, as the partner's node hears it.
fn refused(refused: budgets::Refused) -> ApiError {
    match refused.retry_after_secs {
        Some(retry_after_secs) => ApiError::RateLimited { detail: refused.detail, retry_after_secs },
        None => ApiError::Invalid(refused.detail),
    }
}

/// What this side allows the partner to run against it, and when its next run may start
/// (spec §16.3): the partner's scheduler waits for that rather than be refused.
async fn budget(
    State(state): State<AppState>,
    Peer(partnership, _): Peer,
) -> Result<Json<budgets::PeerBudget>, ApiError> {
    let now = crate::now_ms();
    Ok(Json(budgets::for_peer(&state.store, &partnership, now).await?))
}

/// A partner's node pushes its copy of a co-sell record; we merge it into ours (creating it on
/// first sight) and answer with the result.
async fn cosell(
    State(state): State<AppState>,
    Peer(partnership, _): Peer,
    Json(push): Json<crate::service::cosell::Push>,
) -> Result<Json<blindmap_cosell::cosell::CoSell>, ApiError> {
    let received = crate::service::cosell::receive(&state.store, &partnership, push).await;
    Ok(Json(audited(&state, &partnership, "cosell", received).await?))
}

/// What a peer route answers, with an audit entry where it refused what a paired partner's node
/// asked for and may not have (the route and why — never the values it sent).
async fn audited<T, E>(
    state: &AppState,
    partnership: &blindmap_store::Partnership,
    route: &str,
    result: Result<T, E>,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    let result = result.map_err(ApiError::from);
    if let Err(ApiError::PeerRefused(reason)) = &result {
        tracing::warn!(partnership = %partnership.id, route, reason, "refused a partner's request");
        let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "route": route, "reason": reason });
        state.store.record_audit(&partnership.org, &partnership.partner_name, "peer.refused", &detail).await?;
    }
    result
}

/// The partnership a peer call comes through, authenticated before its body is read: the
/// caller's certificate must be the one pinned for the partnership in the path (`{id}`).
pub(crate) struct Peer(
    pub(crate) blindmap_store::Partnership,
    #[allow(dead_code, reason = "held, not read")] crate::http::throttle::Admitted,
);

impl axum::extract::FromRequestParts<AppState> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, ApiError> {
        let fingerprint =
            parts.extensions.get::<PeerCertificate>().and_then(|p| p.0.clone()).ok_or(ApiError::PeerUnknown)?;
        let params =
            axum::extract::RawPathParams::from_request_parts(parts, state).await.map_err(|_| ApiError::PeerUnknown)?;
        let id = params.iter().find(|(name, _)| *name == "id").map(|(_, v)| v).ok_or(ApiError::PeerUnknown)?;
        let id = PartnershipId::parse(id).ok_or(ApiError::PeerUnknown)?;
        let partnership = state.store.partnership_for_peer(&id, &fingerprint).await?.ok_or(ApiError::PeerUnknown)?;
        let credential = format!("peer:{}", partnership.id.as_str());
        let admitted = state.throttle.admit(&credential, partnership.org.as_str()).await?;
        Ok(Self(partnership, admitted))
    }
}

/// A partner's node registers a deal with us (we are its vendor): checked, stored, and answered
/// with what the submitter may know of it.
async fn register(
    State(state): State<AppState>,
    Peer(partnership, _): Peer,
    Json(message): Json<crate::service::registrations::SubmitMessage>,
) -> Result<Json<blindmap_cosell::dealreg::SubmitterView>, ApiError> {
    Ok(Json(crate::service::registrations::receive(&state.store, &partnership, message).await?))
}

/// The vendor's node tells us (the submitter) where a registration of ours is.
async fn registration_status(
    State(state): State<AppState>,
    Peer(partnership, _): Peer,
    Path((_, registration)): Path<(String, String)>,
    Json(view): Json<blindmap_cosell::dealreg::SubmitterView>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let heard = crate::service::registrations::hear(&state.store, &partnership, &registration, view).await;
    audited(&state, &partnership, "registration status", heard).await?;
    Ok(Json(serde_json::json!({ "heard": true })))
}

/// A submitter asks for its registration's one extension.
async fn registration_extend(
    State(state): State<AppState>,
    Peer(partnership, _): Peer,
    Path((_, registration)): Path<(String, String)>,
) -> Result<Json<blindmap_cosell::dealreg::SubmitterView>, ApiError> {
    let stored = state.store.registration(&partnership.org, &registration).await?;
    if stored.partnership != partnership.id || stored.direction != blindmap_store::Direction::Received {
        return Err(ApiError::NotFound("registration"));
    }
    let node = state.node().ok();
    let extended = crate::service::registrations::decide(
        &state.store,
        node,
        &partnership.org,
        &registration,
        crate::service::registrations::Decision::Extend,
        &partnership.partner_name,
        None,
    )
    .await?;
    Ok(Json(extended.registration.submitter_view()))
}

/// A partner's node asks whether an account is claimed, blinded (spec §17).
async fn precheck(
    State(state): State<AppState>,
    Peer(partnership, _): Peer,
    Json(message): Json<crate::service::registrations::PrecheckMessage>,
) -> Result<Json<crate::service::registrations::PrecheckReply>, ApiError> {
    Ok(Json(crate::service::registrations::answer(&state.store, &partnership, message).await?))
}

/// Largest body of the peer routes that take small JSON messages (accept, registrations,
/// decisions, pre-checks): a few KiB is all they carry.
const SMALL_JSON_BYTES: usize = 16 << 10;

/// Largest co-sell copy a partner may push: a record's texts and lists are bounded (see
/// `blindmap_cosell::cosell::MAX_ENTRIES`), and only a paired partner gets this far.
const COSELL_JSON_BYTES: usize = 16 << 20;

/// The peer routes that take JSON bodies, each limited to what it needs. Every route but
/// `accept` checks the caller's certificate before its body is read.
pub(crate) fn router() -> Router<AppState> {
    let small = Router::new()
        .route("/peer/v1/accept", post(accept))
        .route("/peer/v1/partnerships/{id}/end", post(end))
        .route("/peer/v1/partnerships/{id}/registrations", post(register))
        .route("/peer/v1/partnerships/{id}/registrations/{registration}/status", post(registration_status))
        .route("/peer/v1/partnerships/{id}/registrations/{registration}/extend", post(registration_extend))
        .route("/peer/v1/partnerships/{id}/precheck", post(precheck))
        .route("/peer/v1/partnerships/{id}/budget", get(budget))
        .layer(DefaultBodyLimit::max(SMALL_JSON_BYTES));
    let cosell = Router::new()
        .route("/peer/v1/partnerships/{id}/cosell", post(cosell))
        .layer(DefaultBodyLimit::max(COSELL_JSON_BYTES));
    small.merge(cosell)
}

/// The peer routes that stream for as long as a session lasts: outside the body-size and
/// request-time limits (the session's own limits apply).
pub(crate) fn stream_router() -> Router<AppState> {
    Router::new().route("/peer/v1/partnerships/{id}/runs", post(run))
}

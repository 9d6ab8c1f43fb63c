//! The routes a partner's browser calls (spec §20): the partner page itself (`/join`, built by
//! `scripts/partner-page.sh` and embedded at compile time), what a link invites to
//! (`POST /browser/v1/invitation`), and the protocol session over a WebSocket
//! (`GET /browser/v1/session`). The page authenticates with the secret of its link, sent in a
//! body or a message, never in a URL: a link's secret sits in its fragment, which browsers do
//! not send.

mod page;

pub(crate) use page::single_file_sha256;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use blindmap_psi::Level;
use blindmap_psi::json::{FieldsMessage, RevealMessage};
use blindmap_store::{Partnership, RunRole};
use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Json;
use crate::service::browser;
use crate::service::partnerships::rule_text;
use crate::service::runs::{self, Connection};

/// The largest message a page may send: one protocol frame (spec §8.1) and its header.
const MAX_MESSAGE: usize = blindmap_psi::wire::MAX_BODY_LEN + 64;

/// How long the page has to present its link once the WebSocket is open. (Once the session is
/// over, the run's own limit on a silent peer applies to its `done`, spec §16.1.)
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(30);

/// The secret of a link, as the page presents it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Presented {
    invitation: String,
}

/// What a link invites to: who, until when, and what the vendor shows its partner in a session.
#[derive(Serialize)]
struct InvitationView {
    /// The inviting organisation.
    vendor: String,
    /// The partner's name as the vendor recorded it.
    partner: String,
    /// When the link stops working, RFC 3339.
    expires_at: String,
    /// What the vendor shows the partner, per pair of segments (the vendor's, the partner's;
    /// `*` for any), as a browser session serves it: overlaps or hidden (spec §20.3).
    shares: Vec<ShareView>,
    /// Segments of the partner smaller than this are shown nothing.
    min_partner_segment: u32,
    /// The most accounts the page may bring.
    max_records: u64,
}

#[derive(Serialize)]
struct ShareView {
    own_segment: String,
    partner_segment: String,
    /// As the session serves it: `overlaps` or `hidden`.
    level: String,
    /// The vendor's fields it returns for the overlaps the partner reveals (spec §20.7), where
    /// the vendor's policy gives the pair fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<String>>,
}

/// `POST /browser/v1/invitation`: what the link whose secret the body carries invites to.
async fn invitation(State(state): State<AppState>, Json(body): Json<Presented>) -> Result<Response, ApiError> {
    let (partnership, expires_at) = browser::open(&state.store, &body.invitation).await?;
    let policy = state.store.sharing(&partnership.org, &partnership.id).await?;
    let mut shares: Vec<ShareView> = policy
        .rules
        .iter()
        .map(|rule| {
            let served = browser::served_level(&rule.level);
            let text = rule_text(&blindmap_store::SharingRule { level: served, ..rule.clone() });
            let fields = match &rule.level {
                Level::Fields(names) => Some(names.iter().map(|n| n.as_str().to_owned()).collect()),
                _ => None,
            };
            ShareView {
                own_segment: text.own_segment,
                partner_segment: text.partner_segment,
                level: text.level,
                fields,
            }
        })
        .collect();
    if !policy.rules.iter().any(|r| r.own_segment == "*" && r.partner_segment == "*") {
        shares.push(ShareView {
            own_segment: "*".into(),
            partner_segment: "*".into(),
            level: Level::Hidden.name().to_owned(),
            fields: None,
        });
    }
    let view = InvitationView {
        vendor: state.store.organisation_name(&partnership.org).await?,
        partner: partnership.partner_name,
        expires_at: crate::rfc3339(expires_at),
        shares,
        min_partner_segment: policy.min_partner_segment,
        max_records: browser::MAX_RECORDS,
    };
    Ok(axum::Json(view).into_response())
}

/// `GET /browser/v1/session`: the protocol session of a browser partner over a WebSocket. The
/// page sends its link's secret as the first (text) message; this node answers `ready` with the
/// run's id, then each binary message either way is one protocol frame (spec §20.2).
async fn session(State(state): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let node = match state.node() {
        Ok(node) => node,
        Err(e) => return e.into_response(),
    };
    // A page of another origin must not drive a session with a secret it learned (a WebSocket
    // is not held to CORS): this node's own page, or the saved page where allowed.
    if !origin_allowed(&headers, node.public_url.get().map(String::as_str), node.browser_allow_file) {
        return ApiError::LinkRefused(
            "a partner page of another origin may not open a session with this node: use the page the \
             invitation link opens"
                .into(),
        )
        .into_response();
    }
    upgrade.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(move |socket| serve(state, socket))
}

/// Whether a WebSocket from `Origin` may open: the node's own origin, or `null` (a page opened
/// from a file) when the node allows the saved page. A request without `Origin` is no browser's
/// and is let through: the secret it must present is its authority.
fn origin_allowed(headers: &HeaderMap, public_url: Option<&str>, allow_file: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    if origin == "null" {
        return allow_file;
    }
    let own = public_url.map(|u| u.trim_end_matches('/'));
    own.is_some_and(|own| own.eq_ignore_ascii_case(origin))
}

/// A message to the page, as text.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Notice {
    /// The session may start: binary frames from now on.
    Ready { run: String },
    /// This node's session is over and the run is stored.
    Done,
    /// The session cannot start or go on: an RFC 9457 problem's members.
    Error { status: u16, title: String, detail: String },
}

impl Notice {
    fn of(error: ApiError) -> Self {
        let (status, detail) = error.status_and_detail();
        Self::Error { status: status.as_u16(), title: status.canonical_reason().unwrap_or("Error").to_owned(), detail }
    }

    fn message(&self) -> Message {
        Message::Text(Utf8Bytes::from(serde_json::to_string(self).unwrap_or_default()))
    }
}

async fn refuse(mut socket: WebSocket, error: ApiError) {
    let _ = socket.send(Notice::of(error).message()).await;
    let _ =
        socket.send(Message::Close(Some(CloseFrame { code: 1008, reason: Utf8Bytes::from_static("refused") }))).await;
}

/// Reads the page's first message: the secret of its link.
async fn presented(socket: &mut WebSocket) -> Result<String, ApiError> {
    let first = tokio::time::timeout(HANDSHAKE_LIMIT, socket.recv()).await.map_err(|_| {
        ApiError::Invalid(format!("the page presented no invitation within {} s", HANDSHAKE_LIMIT.as_secs()))
    })?;
    match first {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<Presented>(text.as_str())
            .map(|p| p.invitation)
            .map_err(|e| ApiError::Invalid(format!("the first message must be {{\"invitation\": \"…\"}}: {e}"))),
        _ => Err(ApiError::Invalid("the first message must be the invitation, as text".into())),
    }
}

async fn serve(state: AppState, mut socket: WebSocket) {
    let secret = match presented(&mut socket).await {
        Ok(secret) => secret,
        Err(e) => return refuse(socket, e).await,
    };
    let partnership = match browser::open(&state.store, &secret).await {
        Ok((partnership, _)) => partnership,
        Err(e) => return refuse(socket, e.into()).await,
    };
    let Ok(node) = state.node() else { return refuse(socket, ApiError::NoNode).await };
    let mut started = match start(&state, &partnership, node.keep_transcripts).await {
        Ok(started) => started,
        Err(e) => return refuse(socket, e).await,
    };
    let (stored_tx, stored) = oneshot::channel();
    started.on_stored = Some(stored_tx);
    let revealed = runs::RevealSlot::default();
    started.reveal = Some(revealed.clone());
    // If the page is gone already, the run is recorded as started all the same and fails as soon
    // as its driver finds the connection closed.
    let _ = socket.send(Notice::Ready { run: started.run.id.to_string() }.message()).await;
    let (mut sink, stream) = socket.split();
    let incoming = frames_from(stream, revealed);
    let (outgoing, mut rx) = mpsc::channel::<Bytes>(runs::FRAME_BUFFER);
    node.runs.spawn(state.store.clone(), started, async move { Ok(Connection { incoming, outgoing }) });
    // Our frames go out as they come. The session is over on this side when the driver drops
    // its sender; the driver then waits for the page's `done`, and stores the run: `done` goes
    // to the page once it is stored, so that the page may start another run at once.
    while let Some(frame) = rx.recv().await {
        if sink.send(Message::Binary(frame)).await.is_err() {
            return;
        }
    }
    let notice = match stored.await {
        Ok(Ok(returned)) => {
            // spec §20.7: the vendor's fields for what the page revealed, before `done`.
            if !returned.is_empty()
                && sink.send(Message::Text(Utf8Bytes::from(FieldsMessage::of(&returned).to_text()))).await.is_err()
            {
                return;
            }
            Notice::Done
        }
        Ok(Err(reason)) => Notice::Error {
            status: 502,
            title: "Bad Gateway".to_owned(),
            detail: format!("the run failed on {}'s node: {reason}", partnership_vendor(&state, &partnership).await),
        },
        Err(_) => Notice::of(ApiError::Unavailable("the node stopped during the run")),
    };
    let _ = sink.send(notice.message()).await;
    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: Utf8Bytes::from_static("done") }))).await;
}

/// The inviting organisation's name, for what the page is told.
async fn partnership_vendor(state: &AppState, partnership: &Partnership) -> String {
    state.store.organisation_name(&partnership.org).await.unwrap_or_else(|_| "the vendor".to_owned())
}

async fn start(state: &AppState, partnership: &Partnership, transcript: bool) -> Result<runs::Started, ApiError> {
    Ok(runs::start(
        &state.store,
        &partnership.org,
        partnership,
        RunRole::Responder,
        &partnership.partner_name,
        transcript,
    )
    .await?)
}

/// The page's binary messages as the byte stream the session reads; its `done` (or a close)
/// ends the stream. A `reveal` before it (spec §20.6) goes to `revealed`.
fn frames_from(
    stream: futures_util::stream::SplitStream<WebSocket>,
    revealed: runs::RevealSlot,
) -> std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>> {
    Box::pin(futures_util::stream::unfold(Some((stream, revealed)), |state| async move {
        let (mut stream, revealed) = state?;
        loop {
            match stream.next().await {
                Some(Ok(Message::Binary(bytes))) => return Some((Ok(bytes), Some((stream, revealed)))),
                Some(Ok(Message::Text(text))) => {
                    let Ok(serde_json::Value::Object(mut notice)) = serde_json::from_str(text.as_str()) else {
                        return Some((Err("the page sent text that is not a JSON object".to_owned()), None));
                    };
                    match notice.remove("type").as_ref().and_then(serde_json::Value::as_str) {
                        Some("done") if notice.is_empty() => return None,
                        Some("reveal") => {
                            let read = RevealMessage::read(notice)
                                .map_err(|e| format!("the reveal does not read: {e}"))
                                .and_then(RevealMessage::into_reveal);
                            let mut slot = revealed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            if slot.is_some() {
                                return Some((Err("the page revealed twice".to_owned()), None));
                            }
                            *slot = Some(read);
                        }
                        _ => {
                            return Some((
                                Err("the page sent a text message other than reveal or done".to_owned()),
                                None,
                            ));
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Err(e)) => return Some((Err(format!("the page's connection: {e}")), None)),
            }
        }
    }))
}

/// The routes of the partner page and its session. `allow_file`: CORS for the saved page (origin
/// `null`) on the invitation route.
pub(crate) fn router(allow_file: bool) -> Router<AppState> {
    let invitation_route = post(invitation);
    let invitation_route = if allow_file {
        invitation_route.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(HeaderValue::from_static("null"))
                .allow_methods([Method::POST])
                .allow_headers([header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600)),
        )
    } else {
        invitation_route
    };
    Router::new()
        .route("/browser/v1/invitation", invitation_route)
        .route("/browser/v1/session", get(session))
        .merge(page::router())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h
    }

    #[test]
    fn a_session_opens_from_the_nodes_own_origin_or_a_saved_page_where_allowed() {
        let own = Some("https://vendor.example:7443");
        assert!(origin_allowed(&with_origin("https://vendor.example:7443"), own, false));
        assert!(origin_allowed(&with_origin("https://VENDOR.example:7443"), own, false));
        assert!(!origin_allowed(&with_origin("https://evil.example"), own, true));
        assert!(!origin_allowed(&with_origin("https://vendor.example"), own, true));
        assert!(!origin_allowed(&with_origin("null"), own, false));
        assert!(origin_allowed(&with_origin("null"), own, true));
        assert!(!origin_allowed(&with_origin("https://vendor.example:7443"), None, true));
        assert!(origin_allowed(&HeaderMap::new(), own, false));
    }
}

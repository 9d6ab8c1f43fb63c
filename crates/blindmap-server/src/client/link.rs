//! The partner page's side of a browser partner's session (spec §20.2), natively: a link's
//! secret presented over a WebSocket to the vendor's node, then the protocol as its initiator.
//! The page runs the same protocol compiled to WebAssembly; this client is what the tests and
//! `blindmap bench browser` drive a node with, trusting exactly its pinned certificate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blindmap_psi::json::{FieldsMessage, RevealMessage};
use blindmap_psi::{Dataset, DisclosurePolicy, Level, Outcome, ReturnedFields, Session, SessionConfig, SessionSeed};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::{ClientError, https_base, pinned_tls};

/// Why a session through a link failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The node could not be reached, or the WebSocket not opened (with the HTTP status when
    /// the node answered one).
    #[error("cannot open the session: {0}")]
    Connect(String),
    /// The node refused the link or the session: its problem's status and detail.
    #[error("{detail} ({status})")]
    Refused {
        /// The HTTP status the problem carries.
        status: u16,
        /// What the node said.
        detail: String,
    },
    /// The protocol failed.
    #[error("the session failed: {0}")]
    Protocol(#[from] blindmap_psi::Error),
    /// The connection broke, or the node sent what the page protocol does not allow.
    #[error("{0}")]
    Transport(String),
    /// The client's TLS set-up.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// A finished session through a link: what the partner learned, and what it cost.
#[derive(Debug)]
pub struct LinkRun {
    /// What the partner learned.
    pub outcome: Outcome,
    /// What it revealed (spec §20.6), if it revealed anything.
    pub revealed: Option<blindmap_psi::Reveal>,
    /// The vendor's fields returned for what it revealed (spec §20.7).
    pub returned: Vec<ReturnedFields>,
    /// The node's id of the run.
    pub run: String,
    /// Bytes of frames sent and received.
    pub bytes_sent: u64,
    /// Bytes of frames received.
    pub bytes_received: u64,
    /// From opening the connection to the node's `done`.
    pub elapsed: Duration,
    /// Of that, time this side spent in its own session's work (blinding, unblinding, lookups).
    pub own_work: Duration,
}

/// Matches `data` against the node at `url` (pinned to `fingerprint`) through the link whose
/// secret is `secret`, as the partner page does, with `origin` as the page's origin (the node's
/// own, or `null` for a saved page); and reveals to the node what `shares` discloses, if given
/// (spec §20.6).
pub async fn run(
    url: &str,
    fingerprint: &str,
    secret: &str,
    origin: Option<&str>,
    data: Arc<Dataset>,
    shares: Option<&DisclosurePolicy>,
) -> Result<LinkRun, LinkError> {
    let started = Instant::now();
    let base = https_base(url)?;
    let authority = base.trim_start_matches("https://").to_owned();
    let mut tls = pinned_tls(fingerprint)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(&authority).await.map_err(|e| LinkError::Connect(e.to_string()))?;
    let host = authority.rsplit_once(':').map_or(authority.as_str(), |(host, _)| host).to_owned();
    let name = rustls_pki_types::ServerName::try_from(host).map_err(|e| LinkError::Connect(e.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| LinkError::Connect(e.to_string()))?;
    let mut request = format!("wss://{authority}/browser/v1/session")
        .into_client_request()
        .map_err(|e| LinkError::Connect(e.to_string()))?;
    if let Some(origin) = origin {
        let origin = origin.parse().map_err(|_| LinkError::Connect("an origin that is no header value".into()))?;
        request.headers_mut().insert("origin", origin);
    }
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream).await.map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            LinkError::Connect(format!("the node answered {}", response.status()))
        }
        e => LinkError::Connect(e.to_string()),
    })?;
    let broken = |e: tokio_tungstenite::tungstenite::Error| LinkError::Transport(format!("the connection: {e}"));
    socket.send(Message::text(json!({ "invitation": secret }).to_string())).await.map_err(broken)?;
    let ready = notice(&mut socket).await?;
    let run = ready["run"].as_str().unwrap_or_default().to_owned();

    let mut own_work = Duration::ZERO;
    let mut session = Session::initiator(
        Arc::clone(&data),
        DisclosurePolicy::new(Level::Hidden),
        SessionConfig::default(),
        SessionSeed::random(&mut rand::rng()),
    )?;
    let (mut bytes_sent, mut bytes_received) = (0u64, 0u64);
    loop {
        loop {
            let working = Instant::now();
            let frame = session.poll_transmit();
            own_work += working.elapsed();
            let Some(frame) = frame else { break };
            bytes_sent += frame.len() as u64;
            socket.send(Message::binary(frame)).await.map_err(broken)?;
        }
        if session.is_finished() {
            break;
        }
        match socket.next().await {
            Some(Ok(Message::Binary(frame))) => {
                bytes_received += frame.len() as u64;
                let working = Instant::now();
                let received = session.receive(&frame);
                own_work += working.elapsed();
                if let Err(e) = received {
                    // Our Abort goes out before we stop.
                    if let Some(abort) = session.poll_transmit() {
                        let _ = socket.send(Message::binary(abort)).await;
                    }
                    let _ = socket.send(Message::text(r#"{"type":"done"}"#)).await;
                    return Err(e.into());
                }
            }
            Some(Ok(Message::Text(text))) => return Err(refusal_or(&text, "the node spoke before the session ended")),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(_))) | None => {
                return Err(LinkError::Transport("the node closed the connection before the session ended".into()));
            }
            Some(Err(e)) => return Err(broken(e)),
        }
    }
    let outcome = session.into_outcome()?;
    let revealed = shares.map(|shares| outcome.reveal(&data, shares, &mut rand::rng()));
    if let Some(reveal) = &revealed {
        socket.send(Message::text(RevealMessage::of(reveal).to_text())).await.map_err(broken)?;
    }
    socket.send(Message::text(r#"{"type":"done"}"#)).await.map_err(broken)?;
    let mut returned = Vec::new();
    let mut next = notice(&mut socket).await?;
    // spec §20.7: the vendor's fields for what was revealed, before its done.
    if let Some(reveal) = &revealed
        && next["type"] == "fields"
    {
        returned = FieldsMessage::from_value(next)
            .and_then(|m| m.into_returned(reveal))
            .map_err(|e| LinkError::Transport(format!("the node's fields do not read: {e}")))?;
        next = notice(&mut socket).await?;
    }
    if next["type"] != "done" {
        return Err(LinkError::Transport(format!("expected the node's done, got {next}")));
    }
    let _ = socket.close(None).await;
    Ok(LinkRun { outcome, revealed, returned, run, bytes_sent, bytes_received, elapsed: started.elapsed(), own_work })
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// The node's next text message; an error notice as the refusal it is.
async fn notice(socket: &mut Socket) -> Result<Value, LinkError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str())
                    .map_err(|_| LinkError::Transport("the node sent text that is not JSON".into()))?;
                if value["type"] == "error" {
                    return Err(refusal_or(text.as_str(), ""));
                }
                return Ok(value);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(_)) => return Err(LinkError::Transport("the node sent a frame where it owes a notice".into())),
            Some(Err(e)) => return Err(LinkError::Transport(format!("the connection: {e}"))),
            None => return Err(LinkError::Transport("the node closed the connection".into())),
        }
    }
}

/// An error notice as a refusal, or `otherwise`.
fn refusal_or(text: &str, otherwise: &str) -> LinkError {
    match serde_json::from_str::<Value>(text) {
        Ok(v) if v["type"] == "error" => LinkError::Refused {
            status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
            detail: v["detail"].as_str().unwrap_or_default().to_owned(),
        },
        _ => LinkError::Transport(otherwise.to_owned()),
    }
}

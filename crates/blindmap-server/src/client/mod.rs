//! Calling nodes: a client of a node's API over HTTPS trusting exactly its pinned certificate
//! ([`ApiClient`], typed per operation), a node calling its partner's ([`PeerClient`]), and a
//! partner without a node matching against a vendor's ([`remote`]).

use std::sync::Arc;

use reqwest::StatusCode;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::node::identity::{Identity, fingerprint};

mod api;
pub mod link;
pub mod remote;

pub use api::Query;
pub use reqwest::Method;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node's URL is not an `https://` URL: nodes speak nothing else.
    #[error("{given} is not an https:// URL, and a blindmap node speaks HTTPS only: use {https}")]
    NotHttps {
        /// The URL given.
        given: String,
        /// The same with `https://`.
        https: String,
    },
    /// The node could not be reached, or its certificate is not the pinned one. The text names
    /// the node once and the first cause that means something to a person (a certificate other
    /// than the pinned one, nothing listening, …), not the whole chain of layers.
    #[error("{}", transport_text(.0))]
    Transport(reqwest::Error),
    /// The node answered with a problem document: its status, and its `detail` as the node
    /// wrote it (for a node that relays a partner's refusal, the partner's words).
    #[error("{detail}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The problem's detail.
        detail: String,
    },
    /// TLS set-up.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The call could not be written as a request (its parameters do not make a query).
    #[error("cannot make the request: {0}")]
    Request(String),
}

/// Why a run's stream to a partner's node broke.
#[derive(Debug, thiserror::Error)]
pub enum PeerStreamError {
    /// The partner's node answered with a problem instead of its frames: it refused the run.
    #[error("the partner's node refused the run: {detail}")]
    Refused {
        /// The HTTP status (429 when it refused for being too soon).
        status: StatusCode,
        /// The problem's detail, in the partner's words.
        detail: String,
    },
    /// The connection failed.
    #[error("the connection failed: {0}")]
    Failed(ClientError),
}

impl From<reqwest::Error> for PeerStreamError {
    fn from(e: reqwest::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        Self::Transport(e)
    }
}

/// A certificate other than the pinned one: what the node presented, what was pinned, and what
/// to check (which depends on where the pin came from).
#[derive(Debug, thiserror::Error)]
#[error("its certificate is {presented}, not the pinned {pinned}: {check}")]
struct NotPinned {
    presented: String,
    pinned: String,
    check: &'static str,
}

/// `e` as one line: the node's origin (not the call's path and query) once, then the first
/// cause a person can act on.
fn transport_text(e: &reqwest::Error) -> String {
    let node = e.url().map_or_else(|| "the node".to_owned(), |u| u.origin().ascii_serialization());
    if e.is_timeout() {
        return format!("no answer from {node} in time");
    }
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            c.downcast_ref::<rustls::Error>()
            && let Some(not_pinned) = other.0.downcast_ref::<NotPinned>()
        {
            return format!("cannot reach {node}: {not_pinned}");
        }
        let io = c.downcast_ref::<std::io::Error>();
        if io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return format!("cannot reach {node}: nothing listens there (is the node running?)");
        }
        innermost = c;
        // An io::Error's `source` skips the error it wraps: go into it instead.
        cause = match io.and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    if e.is_decode() || e.is_body() {
        return format!("cannot read the answer of {node}: {innermost}");
    }
    format!("cannot reach {node}: {innermost}")
}

/// `url` without a trailing `/`, if it is an `https://` URL.
fn https_base(url: &str) -> Result<String, ClientError> {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("https://") {
        return Ok(url.to_owned());
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    Err(ClientError::NotHttps { given: url.to_owned(), https: format!("https://{rest}") })
}

/// What a user checks when a node presents another certificate than the one pinned for it.
const CHECK_GIVEN_PIN: &str = "check the fingerprint given for it (--fingerprint or BLINDMAP_FINGERPRINT) against \
                               the one `blindmap init` printed for this node";
/// The same, for a partner's node, pinned at pairing.
const CHECK_PAIRED_PIN: &str =
    "the partner's node presents another certificate than the one it paired with (or this is not its node)";

/// Accepts the one certificate whose SHA-256 is pinned, whatever its issuer or names: the
/// fingerprint was exchanged out of band (`blindmap init` prints it), as partners exchange theirs.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    check: &'static str,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        if presented == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            let not_pinned = NotPinned { presented, pinned: self.fingerprint.clone(), check: self.check };
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(Arc::new(
                not_pinned,
            )))))
        }
    }

    crate::node::tls::handshake_signatures!();
}

/// TLS for calling a node: exactly the pinned certificate is trusted; with `identity`, this node
/// presents its own certificate (peer calls between partner nodes).
fn tls_config(pinned: &str, identity: Option<&Identity>) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = if identity.is_some() { CHECK_PAIRED_PIN } else { CHECK_GIVEN_PIN };
    let verifier = Pinned { fingerprint: pinned.trim().to_owned(), check, provider: provider.clone() };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    Ok(match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.certificate().clone()], id.private_key())?,
        None => builder.with_no_client_auth(),
    })
}

/// TLS trusting exactly the pinned certificate and presenting none: what a client of a node's
/// public routes (the partner page's WebSocket, `link`) connects with.
pub fn pinned_tls(pinned: &str) -> Result<rustls::ClientConfig, ClientError> {
    tls_config(pinned, None)
}

/// An HTTPS client trusting exactly the pinned certificate, sending no credentials and following
/// no redirects: what a browser-less test or tool uses to read a node's pages.
pub fn pinned_http(pinned: &str) -> Result<reqwest::Client, ClientError> {
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls_config(pinned, None)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The answer if it is a success; otherwise the node's problem document as an error.
async fn accepted(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        detail: Option<String>,
    }
    let detail = response.json::<Detail>().await.ok().and_then(|p| p.detail).unwrap_or_else(|| "no detail".to_owned());
    Err(ClientError::Api { status, detail })
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    Ok(accepted(response).await?.json().await?)
}

/// One byte stream out of a channel of chunks.
pub(crate) fn channel_stream<E>(
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, E>> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) })
}

/// A client of one node, as one user.
pub struct ApiClient {
    base: String,
    token: SecretString,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the node at `url` (`https://host:port`) whose certificate has `pinned`
    /// fingerprint, calling with `token`.
    pub fn new(url: &str, pinned: &str, token: &str) -> Result<Self, ClientError> {
        let base = https_base(url)?;
        let http = reqwest::Client::builder().tls_backend_preconfigured(tls_config(pinned, None)?).build()?;
        Ok(Self { base, token: SecretString::from(token), http })
    }

    /// Calls `path` (e.g. `/api/v1/me`) and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        headers: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((bytes, content_type)) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
        }
        decode(request.send().await?).await
    }
}

impl ApiClient {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(self.token.expose_secret())
    }

    /// Calls `path` for its status only (e.g. a DELETE answering 204).
    pub async fn call_empty(&self, method: Method, path: &str) -> Result<(), ClientError> {
        accepted(self.request(method, path).send().await?).await.map(|_| ())
    }

    /// GETs (or calls) `path` and returns the text of the answer (e.g. a transcript).
    pub async fn call_text(&self, method: Method, path: &str) -> Result<String, ClientError> {
        Ok(accepted(self.request(method, path).send().await?).await?.text().await?)
    }
}

/// This node calling a partner node: mutual TLS, each side pinning the other's certificate.
pub struct PeerClient {
    base: String,
    http: reqwest::Client,
}

impl PeerClient {
    /// A client of the partner node at `url` whose certificate has `pinned` fingerprint,
    /// presenting `identity`.
    pub fn new(url: &str, pinned: &str, identity: &Identity) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(pinned, Some(identity))?)
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self { base: url.trim_end_matches('/').to_owned(), http })
    }

    /// A client of a stored partnership's node: its URL and pinned fingerprint.
    pub(crate) fn to_partner(
        partnership: &blindmap_store::Partnership,
        identity: &Identity,
    ) -> Result<Self, ClientError> {
        Self::new(&partnership.partner_url, &partnership.partner_fingerprint, identity)
    }

    /// A client for match runs: HTTP/2 only (both directions stream at once), no overall time
    /// limit (the session's idle limit applies instead).
    pub(crate) fn for_runs(url: &str, pinned: &str, identity: &Identity) -> Result<Self, ClientError> {
        let mut tls = tls_config(pinned, Some(identity))?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http2_prior_knowledge()
            .connect_timeout(std::time::Duration::from_secs(20))
            .http2_keep_alive_interval(std::time::Duration::from_secs(20))
            .build()?;
        Ok(Self { base: url.trim_end_matches('/').to_owned(), http })
    }

    /// Opens a frame stream to `path`: `outgoing` feeds the request body, and the answer's body
    /// comes out of the stream returned. The request goes out when the stream is first polled,
    /// and its answer is awaited while `outgoing` streams: the partner may read the first frame
    /// (the hello) before it answers, and refuse the run then (spec §16.1). A refusal is the
    /// stream's first item, as an error naming it.
    pub(crate) fn open_stream(
        &self,
        path: &str,
        outgoing: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, PeerStreamError>> + use<> {
        use futures_util::{StreamExt, TryStreamExt};
        let body = channel_stream::<std::io::Error>(outgoing);
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, crate::service::runs::FRAMES_TYPE)
            .body(reqwest::Body::wrap_stream(body))
            .send();
        futures_util::stream::once(async move {
            let response = accepted(sent.await?).await.map_err(|e| match e {
                ClientError::Api { status, detail } => PeerStreamError::Refused { status, detail },
                other => PeerStreamError::Failed(other),
            })?;
            Ok::<_, PeerStreamError>(response.bytes_stream().map_err(|e| PeerStreamError::Failed(e.into())))
        })
        .try_flatten()
        .boxed()
    }

    /// GETs `path` and decodes the JSON answer.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(self.http.get(format!("{}{path}", self.base)).send().await?).await
    }

    /// POSTs JSON to `path` and decodes the JSON answer.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T, ClientError> {
        decode(self.http.post(format!("{}{path}", self.base)).json(body).send().await?).await
    }
}

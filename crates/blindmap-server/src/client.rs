//! A client of a node's API over HTTPS, trusting exactly the node's pinned certificate.

use std::sync::Arc;

use reqwest::StatusCode;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::identity::{Identity, fingerprint};

pub use reqwest::Method;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node could not be reached, or its certificate is not the pinned one.
    #[error("cannot reach the node: {0}")]
    Transport(#[from] reqwest::Error),
    /// The node answered with a problem.
    #[error("the node refused ({status}): {detail}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The problem's detail.
        detail: String,
    },
    /// TLS set-up.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Accepts the one certificate whose SHA-256 is pinned, whatever its issuer or names: the
/// fingerprint was exchanged out of band (`blindmap init` prints it), as partners exchange theirs.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
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
        if fingerprint(end_entity) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the node's certificate is not the pinned one".into()))
        }
    }

    crate::tls::handshake_signatures!();
}

/// TLS for calling a node: exactly the pinned certificate is trusted; with `identity`, this node
/// presents its own certificate (peer calls between partner nodes).
fn tls_config(pinned: &str, identity: Option<&Identity>) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Pinned { fingerprint: pinned.trim().to_owned(), provider: provider.clone() };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    Ok(match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.certificate().clone()], id.private_key())?,
        None => builder.with_no_client_auth(),
    })
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
    let problem: serde_json::Value = response.json().await.unwrap_or_default();
    let detail = problem["detail"].as_str().unwrap_or("no detail").to_owned();
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
    token: Zeroizing<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the node at `url` (`https://host:port`) whose certificate has `pinned`
    /// fingerprint, calling with `token`.
    pub fn new(url: &str, pinned: &str, token: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().tls_backend_preconfigured(tls_config(pinned, None)?).build()?;
        Ok(Self { base: url.trim_end_matches('/').to_owned(), token: Zeroizing::new(token.to_owned()), http })
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
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(self.token.as_str())
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

    /// Opens a frame stream to `path`: `outgoing` feeds the request body, the answer's body is
    /// returned as it arrives. Fails if the partner refuses before streaming.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        outgoing: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes, reqwest::Error>> + use<>, ClientError> {
        let body = channel_stream::<std::io::Error>(outgoing);
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, crate::runs::FRAMES_TYPE)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await?;
        Ok(accepted(response).await?.bytes_stream())
    }

    /// POSTs JSON to `path` and decodes the JSON answer.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T, ClientError> {
        decode(self.http.post(format!("{}{path}", self.base)).json(body).send().await?).await
    }
}

//! Emulators of the CRMs' published API contracts, and of the chat tools the node sends alerts to
//! (Slack's Web API, a Microsoft Teams Workflows webhook), served on loopback for the connectors'
//! tests, the node's end-to-end tests and `blindmap bench crm`: each behaviour is the documented
//! one, with the reference it follows beside it, and what the real service refuses they refuse,
//! so that a test against them can fail. They hold their data in memory and let a test change
//! it, expire or revoke tokens, use up quota or fail calls between calls. Not shipped: only tests
//! and `--features bench` build them.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

pub mod hubspot;
pub mod salesforce;
pub mod slack;
pub mod teams;
#[cfg(test)]
mod test_client;

/// Serves `app` on a loopback port; its base URL (`http://127.0.0.1:PORT`).
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The bearer token of a request (`Authorization: Bearer …`), or `""`.
pub fn bearer(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
}

/// The approval page's answer: `302` back to `redirect_uri` with `params` added to its query
/// (RFC 6749 §4.1.2); a redirect URI that is not a URL is refused on the page instead.
pub fn redirect_back(redirect_uri: &str, params: &[(&str, &str)]) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return (axum::http::StatusCode::BAD_REQUEST, "error=invalid_request: redirect_uri is not a URL")
            .into_response();
    };
    target.query_pairs_mut().extend_pairs(params);
    (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, target.to_string())]).into_response()
}

//! The partner page's files, embedded when the node was built (`build.rs`): `/join` (the page a
//! link opens), `/join/assets/{file}` (its scripts, styles and WebAssembly, each named by its
//! content's hash and loaded with Subresource Integrity) and `/join/blindmap-partner.html` (the
//! same page as one file, to save and open locally).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/partner_page.rs"));
}

/// The single-file page's name.
pub(crate) const SINGLE_FILE: &str = "blindmap-partner.html";

/// The page's Content-Security-Policy: its own scripts (and WebAssembly compiled from them), no
/// inline script or style, connections to this node only (spec §20.4). Its worker starts from
/// a `blob:` of the worker script's bytes the page fetched with their integrity checked.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src blob:; \
                        connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; \
                        form-action 'none'; frame-ancestors 'none'";

fn file(name: &str) -> Option<&'static [u8]> {
    embedded::FILES.iter().find(|(n, ..)| *n == name).map(|(_, bytes, _)| *bytes)
}

/// A file's response: gzipped where the request accepts it (`Content-Encoding: gzip`; the
/// integrity the page checks is the decoded file's), else as it is.
fn body(name: &str, request: &HeaderMap) -> Option<Response> {
    let (_, plain, gzipped) = embedded::FILES.iter().find(|(n, ..)| *n == name)?;
    let gzip =
        request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
            |coding| {
                let mut parts = coding.split(';').map(str::trim);
                parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                    && !parts.any(|q| q.replace(' ', "") == "q=0")
            },
        );
    let mut response = if gzip { gzipped.into_response() } else { plain.into_response() };
    let h = response.headers_mut();
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Some(response)
}

/// Whether this node was built with the partner page.
pub(crate) fn built() -> bool {
    file("index.html").is_some()
}

/// The SHA-256 of the single-file page, as `scripts/partner-page.sh` wrote it.
pub(crate) fn single_file_sha256() -> Option<&'static str> {
    let text = std::str::from_utf8(file(&format!("{SINGLE_FILE}.sha256"))?).ok()?;
    text.split_whitespace().next()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    }
}

fn headers(h: &mut HeaderMap, name: &str) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
}

fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This node was built without the partner page. Build it with `bash scripts/partner-page.sh`, then build \
         the node with BLINDMAP_PARTNER_PAGE=target/partner-page (see the README, \"Partners in the browser\").\n",
    )
        .into_response()
}

async fn index(request: HeaderMap) -> Response {
    let Some(mut response) = body("index.html", &request) else { return not_built() };
    headers(response.headers_mut(), "index.html");
    // The page names its assets by their hashes: a new build is a new page.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn asset(Path(name): Path<String>, request: HeaderMap) -> Response {
    let Some(mut response) = body(&name, &request).filter(|_| name != "index.html") else {
        return if built() { StatusCode::NOT_FOUND.into_response() } else { not_built() };
    };
    headers(response.headers_mut(), &name);
    let cache = if name.contains('.') && name != "manifest.json" && !name.starts_with(SINGLE_FILE) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

async fn single_file(request: HeaderMap) -> Response {
    let Some(mut response) = body(SINGLE_FILE, &request) else { return not_built() };
    let h = response.headers_mut();
    headers(h, SINGLE_FILE);
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"blindmap-partner.html\""));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/join", get(index))
        .route("/join/assets/{name}", get(asset))
        .route(&format!("/join/{SINGLE_FILE}"), get(single_file))
}

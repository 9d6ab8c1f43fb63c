//! Sign-in with an organisation's OpenID provider (`service::sso` does the protocol).
//!
//! `GET /signin/sso/{org}` — a plain link on the sign-in page, so that the page's
//! `form-action 'self'` does not stand between the browser and the provider — begins a sign-in,
//! sets the flow cookie and answers 303 to the provider. The provider sends the browser back to
//! `GET /signin/sso/callback?code&state` (or `?error&state`).
//!
//! The flow cookie (`__Host-bm_sso`: `Secure`, `HttpOnly`, `Path=/`, ten minutes) holds a random
//! value whose hash the flow is stored under beside the state's: an answer is accepted only
//! from the browser that began it, which is what stops another site from signing a browser into
//! an account of its choosing with an answer of its own (login CSRF). It is `SameSite=Lax`,
//! not `Strict` like the pages' other cookies: the provider's redirect back is a cross-site
//! navigation, on which browsers send `Lax` cookies (top-level `GET` only) and never `Strict`
//! ones. It carries nothing that signs anyone in by itself.
//!
//! For the same reason the callback does not redirect to the pages: the session cookie is
//! `SameSite=Strict`, and a redirect at the end of a chain that began at the provider is still a
//! cross-site navigation, which would arrive without it. The callback sets the session cookie
//! and answers with a short page that moves on by itself (`Refresh`) — a navigation this site
//! begins — and has a link to do so by hand.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use blindmap_store::{OrgId, StoreError};
use cookie::{Cookie, SameSite};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::session::{cookie_header, cookie_value, session_cookie};
use super::{Chrome, MessagePage, PageError, PageResult, SIGNIN_COOKIE, html, secure_headers};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::sso::{self, Answer, SsoError};

/// The flow cookie's name (see the module's comment).
const SSO_COOKIE: &str = "__Host-bm_sso";

/// This node's callback, as registered at the provider.
fn redirect_uri(state: &AppState) -> Result<String, PageError> {
    let base = state.node()?.public_url.get().cloned().unwrap_or_default();
    Ok(format!("{}/signin/sso/callback", base.trim_end_matches('/')))
}

fn flow_cookie(value: &str, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((SSO_COOKIE, value))
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie of hex and a prefix is a valid header")
}

/// A page saying why a sign-in did not happen, with the way back to the sign-in page. The flow
/// cookie stays: an answer this browser was not waiting for (another site's link) must not
/// spoil the sign-in it is waiting for.
fn refused(status: StatusCode, text: String) -> Response {
    let page = MessagePage {
        chrome: Chrome::anonymous(),
        heading: "Not signed in".to_owned(),
        text,
        error: true,
        back: Some(("/signin".into(), "Back to sign-in".into())),
    };
    html(status, &page)
}

/// What a failed sign-in answers: 400 for an answer this browser was not waiting for, 401 when
/// the provider refused or its token does not validate, 403 for a user who may not sign in
/// here, 502 when the provider could not be read or did not complete. Anything else is the
/// pages' usual error.
fn sign_in_failed(e: SsoError) -> Result<Response, PageError> {
    let status = match &e {
        SsoError::BadState => StatusCode::BAD_REQUEST,
        SsoError::ProviderRefused(_) | SsoError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        SsoError::NotAllowed(_) => StatusCode::FORBIDDEN,
        SsoError::Store(StoreError::UserInactive(_)) => {
            return Ok(refused(
                StatusCode::FORBIDDEN,
                "Your user here is disabled or removed: ask your admin.".to_owned(),
            ));
        }
        SsoError::Discovery(_) | SsoError::Exchange(_) => {
            tracing::warn!(error = %e, "single sign-on failed at the provider");
            StatusCode::BAD_GATEWAY
        }
        SsoError::NotConfigured => StatusCode::NOT_FOUND,
        SsoError::Invalid(_) | SsoError::IssuerNotAllowed | SsoError::Store(_) => return Err(e.into()),
    };
    Ok(refused(status, e.to_string()))
}

/// Begins a sign-in with `org`'s provider: 303 to its authorization endpoint.
pub(super) async fn begin(State(state): State<AppState>, Path(org): Path<String>) -> PageResult {
    let org = OrgId::parse(&org).ok_or(ApiError::NotFound("organisation offering single sign-on"))?;
    let redirect = redirect_uri(&state)?;
    let begun = match sso::begin(&state.store, &org, &redirect).await {
        Ok(begun) => begun,
        Err(e) => return sign_in_failed(e),
    };
    let mut response = Redirect::to(&begun.url).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, flow_cookie(begun.browser.expose_secret(), blindmap_store::SSO_FLOW_MS / 1000));
    secure_headers(h);
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// The provider's answer: the user signed in (a session opened as token sign-in opens one,
/// audited `web.signed_in` with `"with": "sso"`), or a page saying why not.
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> PageResult {
    let redirect = redirect_uri(&state)?;
    let answer = Answer {
        state: query.state.as_deref(),
        code: query.code.as_deref(),
        error: query.error.as_deref(),
        browser: cookie_value(&headers, SSO_COOKIE),
    };
    let signin = match sso::finish(&state.store, &answer, &redirect).await {
        Ok(signin) => signin,
        Err(e) => return sign_in_failed(e),
    };
    let user = &signin.user;
    let secret = match state.store.open_session(&user.id, None).await {
        Ok(secret) => secret,
        Err(e @ StoreError::UserInactive(_)) => return sign_in_failed(SsoError::Store(e)),
        Err(e) => return Err(e.into()),
    };
    let detail = serde_json::json!({ "with": "sso" });
    state.store.record_audit(&user.org, &user.name, "web.signed_in", &detail).await?;
    let page = MessagePage {
        chrome: Chrome::anonymous(),
        heading: "Signed in".to_owned(),
        text: format!("Signed in as {} ({}).", user.name, user.role.as_str()),
        error: false,
        back: Some(("/".into(), "Continue".into())),
    };
    let mut response = html(StatusCode::OK, &page);
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session_cookie(secret.expose(), blindmap_store::SESSION_MS / 1000));
    h.append(header::SET_COOKIE, cookie_header(SIGNIN_COOKIE, "", 0));
    h.append(header::SET_COOKIE, flow_cookie("", 0));
    h.insert(header::REFRESH, HeaderValue::from_static("0; url=/"));
    Ok(response)
}

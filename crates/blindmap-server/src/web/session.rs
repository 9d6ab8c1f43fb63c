//! Sessions: the cookies, CSRF, sign-in with a token or a one-time link, signing out.

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use blindmap_store::{OrgId, User, WebSession};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{
    COOKIE, Chrome, MessagePage, PageError, PageResult, SIGNIN_COOKIE, SIGNIN_COOKIE_SECONDS, html, secure_headers,
};
use crate::AppState;
use crate::http::error::ApiError;

pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

/// Whether two secrets are equal, in time independent of where they differ.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in user of a request; without a live session, pages redirect to sign-in.
pub(crate) struct Signed(WebSession, #[allow(dead_code, reason = "held, not read")] crate::http::throttle::Admitted);

impl Signed {
    pub(super) fn user(&self) -> &User {
        &self.0.user
    }

    pub(super) fn org(&self) -> &OrgId {
        &self.0.user.org
    }

    pub(super) async fn chrome(&self, state: &AppState) -> Result<Chrome, PageError> {
        Ok(Chrome {
            user: Some(self.0.user.name.clone()),
            organisation: state.store.organisation_name(self.org()).await?,
            csrf: self.0.csrf.clone(),
            role: Some(self.0.user.role),
            here: "",
        })
    }

    /// Refuses a form that acts (creates, registers) unless posted with this session's CSRF token
    /// by a user who may act: admins and reps, not integration users.
    pub(super) fn may_act(&self, csrf: &str) -> Result<(), PageError> {
        self.check(csrf)?;
        if self.0.user.role == blindmap_store::Role::Integration {
            return Err(PageError(ApiError::Forbidden("integration")));
        }
        Ok(())
    }

    /// Refuses a form posted without this session's CSRF token.
    pub(super) fn check(&self, csrf: &str) -> Result<(), PageError> {
        if same_secret(csrf, &self.0.csrf) {
            Ok(())
        } else {
            Err(PageError(ApiError::Forbidden("form from another page (sign in again)")))
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let secret = cookie_value(&parts.headers, COOKIE).ok_or(PageError(ApiError::Unauthenticated))?;
        let session = state.store.web_session(secret).await?.ok_or(PageError(ApiError::Unauthenticated))?;
        let credential = format!("user:{}", session.user.id.as_str());
        let admitted = state.throttle.admit(&credential, session.user.org.as_str()).await?;
        Ok(Self(session, admitted))
    }
}

/// A `Secure`, `HttpOnly`, `SameSite=Strict` cookie for the whole site (`max_age` 0 clears it).
pub(super) fn cookie_header(name: &'static str, value: &str, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie of hex and a prefix is a valid header")
}

pub(super) fn session_cookie(secret: &str, max_age: i64) -> HeaderValue {
    cookie_header(COOKIE, secret, max_age)
}

pub(super) fn signed_in(secret: &blindmap_store::Secret) -> Response {
    let mut response = Redirect::to("/").into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session_cookie(secret.expose(), blindmap_store::SESSION_MS / 1000));
    h.append(header::SET_COOKIE, cookie_header(SIGNIN_COOKIE, "", 0));
    secure_headers(h);
    response
}

/// The value a sign-in form carries: the request's pre-session cookie if it has a well-formed
/// one (several open sign-in tabs share it), a new random one otherwise.
pub(super) fn signin_token(headers: &HeaderMap) -> String {
    match cookie_value(headers, SIGNIN_COOKIE) {
        Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => v.to_owned(),
        _ => {
            use rand::RngExt;
            hex::encode(rand::rng().random::<[u8; 16]>())
        }
    }
}

/// A sign-in form's page, setting the pre-session cookie its form carries back.
pub(super) fn signin_page(status: StatusCode, page: &impl Template, token: &str) -> Response {
    let mut response = html(status, page);
    response.headers_mut().append(header::SET_COOKIE, cookie_header(SIGNIN_COOKIE, token, SIGNIN_COOKIE_SECONDS));
    response
}

/// Whether a browser says a request came from another site or origin: `Sec-Fetch-Site` other
/// than `same-origin` (or `none`, the user's own navigation), or an `Origin` other than this
/// node's (as the request addressed it, or its public URL). `Origin: null` says nothing: a
/// browser sends it for this site's own forms too, as the pages' `Referrer-Policy` is
/// `no-referrer`. Requests without either header (older browsers, other clients) are judged by
/// the form's token alone.
pub(super) fn cross_origin(headers: &HeaderMap, uri: &axum::http::Uri, state: &AppState) -> bool {
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
        && site != "none"
    {
        return true;
    }
    let Some(origin) = text(header::ORIGIN).filter(|o| *o != "null") else { return false };
    let host = text(header::HOST).or_else(|| uri.authority().map(|a| a.as_str()));
    let addressed = host.is_some_and(|h| origin.eq_ignore_ascii_case(&format!("https://{h}")));
    let public = state
        .node
        .as_ref()
        .and_then(|n| n.public_url.get())
        .is_some_and(|u| origin.eq_ignore_ascii_case(u.trim_end_matches('/')));
    !(addressed || public)
}

/// Refuses a sign-in form posted from another site, or without the value of this browser's
/// pre-session cookie.
pub(super) fn check_signin_form(headers: &HeaderMap, uri: &axum::http::Uri, state: &AppState, csrf: &str) -> bool {
    let cookie = cookie_value(headers, SIGNIN_COOKIE).unwrap_or("");
    !cross_origin(headers, uri, state) && same_secret(csrf, cookie)
}

/// What a refused sign-in form is told.
pub(super) const FORM_REFUSED: &str =
    "This sign-in form was sent from another site, or has expired. Nothing happened: sign in from this page.";

#[derive(Template)]
#[template(path = "signin.html")]
pub(super) struct SigninPage {
    pub(super) chrome: Chrome,
    pub(super) problem: Option<String>,
    pub(super) csrf: String,
    /// The organisations offering single sign-on: id and name, for their links.
    pub(super) sso: Vec<(String, String)>,
}

impl SigninPage {
    async fn new(state: &AppState, problem: Option<String>, csrf: &str) -> Result<Self, PageError> {
        let sso = state.store.sso_organisations().await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
        Ok(Self { chrome: Chrome::anonymous(), problem, csrf: csrf.to_owned(), sso })
    }
}

pub(super) async fn signin_form(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let csrf = signin_token(&headers);
    Ok(signin_page(StatusCode::OK, &SigninPage::new(&state, None, &csrf).await?, &csrf))
}

#[derive(Deserialize)]
pub(super) struct SigninForm {
    pub(super) token: String,
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    axum::Form(form): axum::Form<SigninForm>,
) -> PageResult {
    let csrf = signin_token(&headers);
    if !check_signin_form(&headers, &uri, &state, &form.csrf) {
        let page = SigninPage::new(&state, Some(FORM_REFUSED.to_owned()), &csrf).await?;
        return Ok(signin_page(StatusCode::FORBIDDEN, &page, &csrf));
    }
    let Some(principal) = state.store.authenticate(form.token.trim()).await? else {
        let problem = Some("That token is not valid (or was revoked, or its user disabled).".to_owned());
        let page = SigninPage::new(&state, problem, &csrf).await?;
        return Ok(signin_page(StatusCode::UNAUTHORIZED, &page, &csrf));
    };
    let secret = state.store.open_session(&principal.user.id, Some(&principal.token)).await?;
    let detail = serde_json::json!({ "with": "token" });
    state.store.record_audit(&principal.user.org, &principal.user.name, "web.signed_in", &detail).await?;
    Ok(signed_in(&secret))
}

#[derive(Template)]
#[template(path = "link.html")]
pub(super) struct LinkPage {
    pub(super) chrome: Chrome,
    pub(super) secret: String,
    pub(super) problem: Option<String>,
    pub(super) csrf: String,
}

#[derive(Deserialize)]
pub(super) struct LinkQuery {
    /// Absent (the link cut short): the page says to sign in with a token instead of a bare 400.
    #[serde(default)]
    pub(super) secret: String,
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    pub(super) secret: String,
    #[serde(default)]
    pub(super) csrf: String,
}

/// A sign-in link shows a button: opening the link (a mail scanner's preview) uses nothing.
pub(super) async fn link_form(headers: HeaderMap, Query(query): Query<LinkQuery>) -> Response {
    let csrf = signin_token(&headers);
    let page = LinkPage { chrome: Chrome::anonymous(), secret: query.secret, problem: None, csrf: csrf.clone() };
    signin_page(StatusCode::OK, &page, &csrf)
}

pub(super) async fn link_signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    axum::Form(form): axum::Form<LinkForm>,
) -> PageResult {
    let csrf = signin_token(&headers);
    if !check_signin_form(&headers, &uri, &state, &form.csrf) {
        // The link is not offered again: a refused form may be another site's, with its link.
        let problem = Some(format!("{FORM_REFUSED} The link was not used: open it again."));
        let page = LinkPage { chrome: Chrome::anonymous(), secret: String::new(), problem, csrf: csrf.clone() };
        return Ok(signin_page(StatusCode::FORBIDDEN, &page, &csrf));
    }
    let Some(user) = state.store.redeem_signin_link(form.secret.trim()).await? else {
        let problem = Some("This link was used already or has expired: ask your admin for a new one.".to_owned());
        let page = LinkPage { chrome: Chrome::anonymous(), secret: String::new(), problem, csrf: csrf.clone() };
        return Ok(signin_page(StatusCode::UNAUTHORIZED, &page, &csrf));
    };
    let secret = state.store.open_session(&user, None).await?;
    if let Some(session) = state.store.web_session(secret.expose()).await? {
        let detail = serde_json::json!({ "with": "link" });
        state.store.record_audit(&session.user.org, &session.user.name, "web.signed_in", &detail).await?;
    }
    Ok(signed_in(&secret))
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

pub(super) async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if let Some(secret) = cookie_value(&headers, COOKIE) {
        state.store.close_session(secret).await?;
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(response)
}

/// Signs the user out of every browser it is signed in on, this one included.
pub(super) async fn signout_everywhere(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let user = signed.user();
    let ended = state.store.end_user_sessions(&user.org, &user.id, &user.name).await?;
    let page = MessagePage {
        chrome: Chrome::anonymous(),
        heading: "Signed out everywhere".to_owned(),
        text: format!(
            "{ended} session{} ended, this one included. Your API tokens still work.",
            if ended == 1 { "" } else { "s" }
        ),
        error: false,
        back: Some(("/signin".into(), "Sign in again".into())),
    };
    let mut response = html(StatusCode::OK, &page);
    response.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(response)
}

/// A request this page cannot act on, refused before anything happens (400).
pub(super) fn bad_request(detail: &str) -> PageError {
    PageError(ApiError::Rejected { status: StatusCode::BAD_REQUEST, detail: detail.to_owned() })
}

/// The page of a list asked for: 1 when not given. Anything but a whole number from 1 is a
/// clear 400; a number past the last page is the caller's to bound (see `overlaps`).
pub(super) fn page_number(text: &str) -> Result<u64, PageError> {
    if text.is_empty() {
        return Ok(1);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_request("page must be a whole number from 1"));
    }
    // All digits: more than u64 holds is past any last page.
    match text.parse::<u64>() {
        Ok(0) => Err(bad_request("page must be a whole number from 1")),
        Ok(n) => Ok(n),
        Err(_) => Ok(u64::MAX),
    }
}

/// Where a form returns to after acting: a path of this site (`/…`), not `//host` or `/\host`,
/// no scheme, nothing a `Location` header cannot carry (control characters, spaces, non-ASCII).
/// Empty means `default`. Checked before the form acts, so a bad one changes nothing.
pub(super) fn return_path(back: &str, default: &str) -> Result<String, PageError> {
    if back.is_empty() {
        return Ok(default.to_owned());
    }
    let bytes = back.as_bytes();
    let same_site = bytes[0] == b'/' && !matches!(bytes.get(1), Some(b'/' | b'\\'));
    if same_site && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\') {
        Ok(back.to_owned())
    } else {
        Err(bad_request("back must be a path on this site"))
    }
}

pub(super) async fn stylesheet() -> Response {
    asset(include_str!("../../assets/blindmap.css"), "text/css; charset=utf-8")
}

/// The Data page's upload progress (`assets/upload.js`): the one script the pages have, and
/// none of them needs it.
pub(super) async fn upload_script() -> Response {
    asset(include_str!("../../assets/upload.js"), "text/javascript; charset=utf-8")
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    response
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::cookie_value;
    use crate::web::COOKIE;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; bm_session=bms_x; c=3"));
        assert_eq!(cookie_value(&headers, COOKIE), Some("bms_x"));
        assert_eq!(cookie_value(&HeaderMap::new(), COOKIE), None);
    }
}

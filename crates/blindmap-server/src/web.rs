//! The reps' pages: server-rendered HTML that works without JavaScript. A rep signs in with a
//! token (or a one-time link an admin issued) and gets a session cookie (`Secure`, `HttpOnly`,
//! `SameSite=Strict`); every page shows the signed-in user's own organisation only, and only
//! what the partner's policy disclosed in the latest complete match. Forms carry the session's
//! CSRF token. Lists are filtered, sorted and paged in the database; the CSV export has the
//! list's columns with the same filters.
//!
//! The sign-in forms are guarded too (login CSRF: another site must not sign a browser into an
//! account of its choosing): showing a sign-in form sets a pre-session cookie (`__Host-`,
//! `Secure`, `HttpOnly`, `SameSite=Strict`) with a random value the form carries back; a post
//! whose value does not equal the cookie's (compared in constant time), or that the browser
//! says came from another site (`Sec-Fetch-Site`) or origin (`Origin`), is refused before the
//! token or link is looked at.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use blindmap_store::{
    CorrectionId, CorrectionKind, Direction, OrgId, Partnership, PartnershipId, ReportFilter, ReportRow, ReportSort,
    Run, Tier, User, WebSession,
};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::api::runs::{LevelName, RunResult};
use crate::error::ApiError;
use crate::runs::result_of;

/// The session cookie's name.
const COOKIE: &str = "bm_session";
/// The sign-in forms' pre-session cookie: `__Host-` makes browsers refuse it from a subdomain
/// or over plain HTTP, so another site cannot plant a value of its own.
const SIGNIN_COOKIE: &str = "__Host-bm_signin";
/// How long a sign-in form may wait to be posted.
const SIGNIN_COOKIE_SECONDS: i64 = 3600;
/// Rows per page of a list.
const PAGE_ROWS: u32 = 50;

// ----- responses -----

/// A rendered page with the headers every page carries: no caching, no framing, no scripts, no
/// referrer (sign-in links carry a secret).
fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            secure_headers(h);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render").into_response()
        }
    }
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// What the layout shows of the signed-in user.
pub(crate) struct Chrome {
    user: Option<String>,
    organisation: String,
    csrf: String,
}

impl Chrome {
    fn anonymous() -> Self {
        Self { user: None, organisation: String::new(), csrf: String::new() }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    heading: String,
    text: String,
    error: bool,
    back: Option<(String, String)>,
}

/// An error as a page: the API's status and wording, in HTML.
pub(crate) struct PageError(ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, ApiError::Unauthenticated) {
            return Redirect::to("/signin").into_response();
        }
        let (status, text) = self.0.status_and_detail();
        let heading = status.canonical_reason().unwrap_or("Error").to_owned();
        let page = MessagePage {
            chrome: Chrome::anonymous(),
            heading,
            text,
            error: true,
            back: Some(("/partners".into(), "Partners".into())),
        };
        html(status, &page)
    }
}

type PageResult = Result<Response, PageError>;

// ----- sessions -----

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in user of a request; without a live session, pages redirect to sign-in.
pub(crate) struct Signed(WebSession, #[allow(dead_code, reason = "held, not read")] crate::throttle::Admitted);

impl Signed {
    fn user(&self) -> &User {
        &self.0.user
    }

    fn org(&self) -> &OrgId {
        &self.0.user.org
    }

    async fn chrome(&self, state: &AppState) -> Result<Chrome, PageError> {
        Ok(Chrome {
            user: Some(self.0.user.name.clone()),
            organisation: state.store.organisation_name(self.org()).await?,
            csrf: self.0.csrf.clone(),
        })
    }

    /// Refuses a form that acts (creates, registers) unless posted with this session's CSRF token
    /// by a user who may act: admins and reps, not integration users.
    fn may_act(&self, csrf: &str) -> Result<(), PageError> {
        self.check(csrf)?;
        if self.0.user.role == blindmap_store::Role::Integration {
            return Err(PageError(ApiError::Forbidden("integration")));
        }
        Ok(())
    }

    /// Refuses a form posted without this session's CSRF token.
    fn check(&self, csrf: &str) -> Result<(), PageError> {
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
fn cookie_header(name: &'static str, value: &str, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie of hex and a prefix is a valid header")
}

fn session_cookie(secret: &str, max_age: i64) -> HeaderValue {
    cookie_header(COOKIE, secret, max_age)
}

fn signed_in(secret: &blindmap_store::Secret) -> Response {
    let mut response = Redirect::to("/partners").into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session_cookie(secret.expose(), blindmap_store::SESSION_MS / 1000));
    h.append(header::SET_COOKIE, cookie_header(SIGNIN_COOKIE, "", 0));
    secure_headers(h);
    response
}

/// The value a sign-in form carries: the request's pre-session cookie if it has a well-formed
/// one (several open sign-in tabs share it), a new random one otherwise.
fn signin_token(headers: &HeaderMap) -> String {
    match cookie_value(headers, SIGNIN_COOKIE) {
        Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => v.to_owned(),
        _ => {
            use rand::RngExt;
            hex::encode(rand::rng().random::<[u8; 16]>())
        }
    }
}

/// A sign-in form's page, setting the pre-session cookie its form carries back.
fn signin_page(status: StatusCode, page: &impl Template, token: &str) -> Response {
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
fn cross_origin(headers: &HeaderMap, uri: &axum::http::Uri, state: &AppState) -> bool {
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
fn check_signin_form(headers: &HeaderMap, uri: &axum::http::Uri, state: &AppState, csrf: &str) -> bool {
    let cookie = cookie_value(headers, SIGNIN_COOKIE).unwrap_or("");
    !cross_origin(headers, uri, state) && same_secret(csrf, cookie)
}

/// What a refused sign-in form is told.
const FORM_REFUSED: &str =
    "This sign-in form was sent from another site, or has expired. Nothing happened: sign in from this page.";

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    chrome: Chrome,
    problem: Option<String>,
    csrf: String,
}

async fn home(headers: HeaderMap, State(state): State<AppState>) -> Response {
    let live = match cookie_value(&headers, COOKIE) {
        Some(secret) => state.store.web_session(secret).await.ok().flatten().is_some(),
        None => false,
    };
    Redirect::to(if live { "/partners" } else { "/signin" }).into_response()
}

async fn signin_form(headers: HeaderMap) -> Response {
    let csrf = signin_token(&headers);
    signin_page(StatusCode::OK, &SigninPage { chrome: Chrome::anonymous(), problem: None, csrf: csrf.clone() }, &csrf)
}

#[derive(Deserialize)]
struct SigninForm {
    token: String,
    #[serde(default)]
    csrf: String,
}

async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    axum::Form(form): axum::Form<SigninForm>,
) -> PageResult {
    let csrf = signin_token(&headers);
    if !check_signin_form(&headers, &uri, &state, &form.csrf) {
        let page =
            SigninPage { chrome: Chrome::anonymous(), problem: Some(FORM_REFUSED.to_owned()), csrf: csrf.clone() };
        return Ok(signin_page(StatusCode::FORBIDDEN, &page, &csrf));
    }
    let Some(principal) = state.store.authenticate(form.token.trim()).await? else {
        let problem = Some("That token is not valid (or was revoked, or its user disabled).".to_owned());
        let page = SigninPage { chrome: Chrome::anonymous(), problem, csrf: csrf.clone() };
        return Ok(signin_page(StatusCode::UNAUTHORIZED, &page, &csrf));
    };
    let secret = state.store.open_session(&principal.user.id, Some(&principal.token)).await?;
    let detail = serde_json::json!({ "with": "token" });
    state.store.record_audit(&principal.user.org, &principal.user.name, "web.signed_in", &detail).await?;
    Ok(signed_in(&secret))
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    chrome: Chrome,
    secret: String,
    problem: Option<String>,
    csrf: String,
}

#[derive(Deserialize)]
struct LinkQuery {
    secret: String,
}

#[derive(Deserialize)]
struct LinkForm {
    secret: String,
    #[serde(default)]
    csrf: String,
}

/// A sign-in link shows a button: opening the link (a mail scanner's preview) uses nothing.
async fn link_form(headers: HeaderMap, Query(query): Query<LinkQuery>) -> Response {
    let csrf = signin_token(&headers);
    let page = LinkPage { chrome: Chrome::anonymous(), secret: query.secret, problem: None, csrf: csrf.clone() };
    signin_page(StatusCode::OK, &page, &csrf)
}

async fn link_signin(
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
struct CsrfForm {
    csrf: String,
}

async fn signout(
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
async fn signout_everywhere(
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
fn bad_request(detail: &str) -> PageError {
    PageError(ApiError::Rejected { status: StatusCode::BAD_REQUEST, detail: detail.to_owned() })
}

/// The page of a list asked for: 1 when not given. Anything but a whole number from 1 is a
/// clear 400; a number past the last page is the caller's to bound (see `overlaps`).
fn page_number(text: &str) -> Result<u64, PageError> {
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
fn return_path(back: &str, default: &str) -> Result<String, PageError> {
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

async fn stylesheet() -> Response {
    let mut response = include_str!("../assets/blindmap.css").into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    response
}

// ----- partners and the matrix -----

/// `n` with thousands separators.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "overlaps in 4 cells, counts in 2" from a grid of level names.
fn levels_summary(levels: impl Iterator<Item = LevelName>) -> String {
    let mut counts: BTreeMap<std::cmp::Reverse<LevelName>, usize> = BTreeMap::new();
    for l in levels {
        *counts.entry(std::cmp::Reverse(l)).or_default() += 1;
    }
    if counts.is_empty() {
        return "nothing yet".to_owned();
    }
    let parts: Vec<String> =
        counts.iter().map(|(k, n)| format!("{} in {n} cell{}", k.0, if *n == 1 { "" } else { "s" })).collect();
    parts.join(", ")
}

struct PartnerRow {
    id: String,
    name: String,
    state: &'static str,
    has_run: bool,
    /// This side's accounts that overlap (distinct), and the pairs (account, partner record)
    /// they make: an account matching two of the partner's records is one account, two pairs.
    overlapping: String,
    pairs: String,
    last_run: String,
    they_share: String,
    you_share: String,
}

#[derive(Template)]
#[template(path = "partners.html")]
struct PartnersPage {
    chrome: Chrome,
    partners: Vec<PartnerRow>,
}

async fn partners(State(state): State<AppState>, signed: Signed) -> PageResult {
    let org = signed.org();
    let mut rows = Vec::new();
    for p in state.store.partnerships(org).await? {
        let run = state.store.latest_complete_run(org, &p.id).await?;
        let result = match &run {
            Some(run) => result_of(run)?,
            None => None,
        };
        // As the lists count them: what this side's users corrected is not counted.
        let counted = match (&run, &result) {
            (Some(run), Some(_)) => {
                let all = ReportFilter::default();
                let accounts = state.store.report_accounts(org, run, &all).await?;
                Some((thousands(accounts), thousands(state.store.report_pairs(org, run, &all).await?)))
            }
            _ => None,
        };
        let they = levels_summary(result.iter().flat_map(RunResult::cells).map(|(_, _, c)| c.level));
        let you = levels_summary(result.iter().flat_map(|r| r.disclosed.levels.iter().flatten().copied()));
        rows.push(PartnerRow {
            id: p.id.to_string(),
            name: p.partner_name.clone(),
            state: if p.state == blindmap_store::PartnershipState::Active { "active" } else { "ended" },
            has_run: run.is_some(),
            overlapping: counted.as_ref().map_or_else(|| "–".to_owned(), |c| c.0.clone()),
            pairs: counted.map_or_else(|| "–".to_owned(), |c| c.1),
            last_run: run.as_ref().and_then(|r| r.finished_at).map_or_else(|| "never".to_owned(), crate::rfc3339),
            they_share: they,
            you_share: you,
        });
    }
    Ok(html(StatusCode::OK, &PartnersPage { chrome: signed.chrome(&state).await?, partners: rows }))
}

/// The partnership of `org` a page is about, and its latest complete run.
async fn partner_and_run(state: &AppState, org: &OrgId, id: &str) -> Result<(Partnership, Run), ApiError> {
    let id = PartnershipId::parse(id).ok_or(ApiError::NotFound("partner"))?;
    let partnership = state.store.partnership(org, &id).await?;
    let run = state
        .store
        .latest_complete_run(org, &id)
        .await?
        .ok_or(ApiError::NotFound("complete match with this partner"))?;
    Ok((partnership, run))
}

struct MatrixCell {
    column: String,
    /// The count as shown; where accounts are listed, the confirmed ones.
    shown: String,
    level: String,
    href: Option<String>,
    /// Accounts overlapping by possible matches only, and the link to them.
    possible: Option<(u64, String)>,
}

struct MatrixRow {
    segment: String,
    cells: Vec<MatrixCell>,
}

#[derive(Template)]
#[template(path = "matrix.html")]
struct MatrixPage {
    chrome: Chrome,
    partner: String,
    pid: String,
    finished: String,
    columns: Vec<String>,
    rows: Vec<MatrixRow>,
}

async fn matrix(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let (partnership, run) = partner_and_run(&state, signed.org(), &id).await?;
    let result = result_of(&run)?.unwrap_or_default();
    let tiers: BTreeMap<(String, String), (u64, u64)> = state
        .store
        .report_cells(signed.org(), &run)
        .await?
        .into_iter()
        .map(|c| ((c.own_segment, c.partner_segment), (c.confirmed, c.possible)))
        .collect();
    let columns: Vec<String> = result.columns.iter().map(|c| c.segment.clone()).collect();
    let rows = result
        .rows
        .iter()
        .zip(&result.cells)
        .map(|(segment, row)| {
            let segment = segment.clone();
            let cells = columns
                .iter()
                .zip(row)
                .map(|(column, cell)| {
                    let level = cell.level.as_str().to_owned();
                    // The list shows confirmed matches unless asked for possible ones.
                    let link = |tier: Tier| {
                        let tier = if tier == Tier::Confirmed { "" } else { "&tier=possible" };
                        format!(
                            "/partners/{}/overlaps?own={}&partner={}{tier}",
                            partnership.id,
                            pct(&segment),
                            pct(column)
                        )
                    };
                    if cell.level.lists_records() && cell.count.is_some() {
                        // Listed accounts: counted as they are listed now, by tier (corrections
                        // included), the confirmed ones first.
                        let (confirmed, possible) =
                            tiers.get(&(segment.clone(), column.clone())).copied().unwrap_or_default();
                        MatrixCell {
                            column: column.clone(),
                            shown: thousands(confirmed),
                            href: (confirmed > 0).then(|| link(Tier::Confirmed)),
                            possible: (possible > 0).then(|| (possible, link(Tier::Possible))),
                            level,
                        }
                    } else {
                        MatrixCell {
                            column: column.clone(),
                            shown: cell.shown.clone(),
                            href: None,
                            possible: None,
                            level,
                        }
                    }
                })
                .collect();
            MatrixRow { segment, cells }
        })
        .collect();
    let page = MatrixPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name.clone(),
        pid: partnership.id.to_string(),
        finished: run.finished_at.map_or_else(String::new, crate::rfc3339),
        columns,
        rows,
    };
    Ok(html(StatusCode::OK, &page))
}

// ----- the overlap list and its export -----

/// Percent-encodes a query value.
fn pct(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The list's filters as the page's query has them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct ListQuery {
    #[serde(default)]
    own: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    desc: String,
    /// `confirmed` (the default), `possible` or `all`.
    #[serde(default)]
    tier: String,
    /// Read by `page_number`: a page that is not a number gets a clear page, not a bare 400.
    #[serde(default)]
    page: String,
    /// The correction just made from this list (`mc_…`), to say what was hidden and where to undo it.
    #[serde(default)]
    corrected: String,
}

/// The filters as the template shows them.
struct FilterView {
    own: String,
    partner: String,
    owner: String,
    q: String,
    new_only: bool,
    sort: &'static str,
    desc: bool,
    tier: &'static str,
}

impl ListQuery {
    /// The tier the list shows: confirmed unless the query asks for possible or all.
    fn tier(&self) -> Option<Tier> {
        match self.tier.as_str() {
            "all" => None,
            other => Some(Tier::parse(other).unwrap_or(Tier::Confirmed)),
        }
    }

    fn tier_name(&self) -> &'static str {
        self.tier().map_or("all", Tier::as_str)
    }

    fn sort(&self) -> ReportSort {
        ReportSort::parse(&self.sort).unwrap_or_default()
    }

    fn filter(&self, previous: Option<&Run>) -> ReportFilter {
        let set = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ReportFilter {
            own_segment: set(&self.own),
            partner_segment: set(&self.partner),
            owner: set(&self.owner),
            search: set(self.q.trim()),
            previous: previous.map(|r| r.id.clone()),
            new_only: self.new == "1" && previous.is_some(),
            sort: self.sort(),
            descending: self.desc == "1",
            account: None,
            tier: self.tier(),
        }
    }

    /// The query string of these filters with `sort`, `desc` and `page` as given.
    fn href(&self, base: &str, sort: ReportSort, desc: bool, page: u64) -> String {
        let mut params: Vec<String> = Vec::new();
        for (name, value) in [("own", &self.own), ("partner", &self.partner), ("owner", &self.owner), ("q", &self.q)] {
            if !value.is_empty() {
                params.push(format!("{name}={}", pct(value)));
            }
        }
        if self.new == "1" {
            params.push("new=1".to_owned());
        }
        if self.tier() != Some(Tier::Confirmed) {
            params.push(format!("tier={}", self.tier_name()));
        }
        if sort != ReportSort::Account {
            params.push(format!("sort={}", sort.name()));
        }
        if desc {
            params.push("desc=1".to_owned());
        }
        if page > 1 {
            params.push(format!("page={page}"));
        }
        if params.is_empty() { base.to_owned() } else { format!("{base}?{}", params.join("&")) }
    }
}

/// The list's columns, the same on the page and in the CSV export.
const HEADERS: [(&str, Option<ReportSort>); 12] = [
    ("Account", Some(ReportSort::Account)),
    ("Account ID", None),
    ("Your segment", Some(ReportSort::OwnSegment)),
    ("Owner", Some(ReportSort::Owner)),
    ("Their segment", Some(ReportSort::PartnerSegment)),
    ("What they share", None),
    ("Match", None),
    ("Why", None),
    ("Matched on", None),
    ("Co-sell", None),
    ("Registration", None),
    ("New since last match", None),
];

struct ListRow {
    account_id: String,
    cells: Vec<String>,
    cosell_form: Option<(String, u32)>,
    /// The key types the pair matched on, as a "Not this match" form sends them.
    key_types: String,
}

struct Header {
    label: &'static str,
    href: Option<String>,
    sort: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "overlaps.html")]
struct OverlapsPage {
    chrome: Chrome,
    partner: String,
    pid: String,
    filter: FilterView,
    own_segments: Vec<String>,
    partner_segments: Vec<String>,
    owners: Vec<String>,
    headers: Vec<Header>,
    rows: Vec<ListRow>,
    showing: String,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    here: String,
    /// The correction just made from this list: the account it hid.
    corrected: Option<String>,
}

/// What a report of the latest complete match with a partner is read with: the partnership, the
/// match, the filter (made knowing the previous match, which rows are compared with) and this
/// side's registrations with that partner.
pub(crate) struct Listing {
    pub(crate) partnership: Partnership,
    pub(crate) run: Run,
    pub(crate) filter: ReportFilter,
    pub(crate) registrations: Vec<(Vec<String>, String)>,
    /// The organisation's place among running report queries, held while the listing is read.
    pub(crate) _slot: crate::throttle::Admitted,
}

/// The listing of `org`'s latest complete match with partnership `id`, its filter made by
/// `filter` from the previous complete match (if any). The pages, the CSV and the API share it.
pub(crate) async fn listing(
    state: &AppState,
    org: &OrgId,
    id: &str,
    filter: impl FnOnce(Option<&Run>) -> ReportFilter,
) -> Result<Listing, ApiError> {
    // The heaviest reads: a few of an organisation's at once.
    let slot = state.throttle.report(org.as_str()).await?;
    let (partnership, run) = partner_and_run(state, org, id).await?;
    let previous = state.store.previous_complete_run(org, &run).await?;
    let filter = filter(previous.as_ref());
    let registrations = registrations_by_key(state, org, &partnership).await?;
    Ok(Listing { partnership, run, filter, registrations, _slot: slot })
}

/// The registrations this side submitted through `partnership`, by their customer keys.
async fn registrations_by_key(
    state: &AppState,
    org: &OrgId,
    partnership: &Partnership,
) -> Result<Vec<(Vec<String>, String)>, ApiError> {
    let submitted = state.store.registrations_page(org, Some(Direction::Submitted), None, None, 1000).await?;
    Ok(submitted
        .into_iter()
        .filter(|s| s.partnership == partnership.id)
        .map(|s| {
            let state = s.registration.state.as_str().replace('_', " ");
            (s.registration.submission.customer_keys.into_iter().collect(), state)
        })
        .collect())
}

pub(crate) fn fields_text(fields: &BTreeMap<String, Option<String>>) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {}", v.as_deref().unwrap_or("–"))).collect::<Vec<_>>().join("; ")
}

/// The state of the registration (of `registrations_by_key`) on a row's account, if any: one
/// with a customer key in common.
pub(crate) fn registration_of(row: &ReportRow, registrations: &[(Vec<String>, String)]) -> Option<String> {
    registrations.iter().find(|(keys, _)| keys.iter().any(|k| row.keys.contains(k))).map(|(_, s)| s.clone())
}

fn list_row(row: ReportRow, registrations: &[(Vec<String>, String)]) -> ListRow {
    let registration = registration_of(&row, registrations).unwrap_or_default();
    let cosell = row.cosell.as_ref().map_or_else(String::new, |(_, status)| status.clone());
    let cosell_form = match (&row.cosell, row.partner_record) {
        (None, Some(record)) => Some((row.partner_segment.clone(), record)),
        _ => None,
    };
    let cells = vec![
        row.name.clone().unwrap_or_else(|| row.account_id.clone()),
        row.account_id.clone(),
        row.own_segment.clone(),
        row.owner.clone().unwrap_or_default(),
        row.partner_segment.clone(),
        fields_text(&row.partner_fields),
        row.tier.as_str().to_owned(),
        row.reason.clone(),
        row.key_types.join(", "),
        cosell,
        registration,
        match row.new {
            Some(true) => "new".to_owned(),
            Some(false) => String::new(),
            None => "first match".to_owned(),
        },
    ];
    ListRow { key_types: row.key_types.join(","), account_id: row.account_id, cells, cosell_form }
}

/// The segments of a run's result: own rows and the partner's columns.
fn segments(result: Option<&RunResult>) -> (Vec<String>, Vec<String>) {
    let Some(result) = result else { return (Vec::new(), Vec::new()) };
    let own = result.rows.clone();
    let theirs = result.columns.iter().map(|c| c.segment.clone()).collect();
    (own, theirs)
}

async fn overlaps(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let org = signed.org();
    let asked = page_number(&query.page)?;
    let Listing { partnership, run, filter, registrations, _slot } =
        listing(&state, org, &id, |p| query.filter(p)).await?;
    let (mut page, mut offset) = (asked, (asked - 1).saturating_mul(u64::from(PAGE_ROWS)));
    let (mut rows, total) = state.store.report_page(org, &run, &filter, offset, PAGE_ROWS).await?;
    if total > 0 && offset >= total {
        // Past the end: the last page.
        page = total.div_ceil(u64::from(PAGE_ROWS));
        offset = (page - 1) * u64::from(PAGE_ROWS);
        rows = state.store.report_page(org, &run, &filter, offset, PAGE_ROWS).await?.0;
    }
    let base = format!("/partners/{}/overlaps", partnership.id);
    let sort = query.sort();
    let desc = query.desc == "1";
    let headers = HEADERS
        .iter()
        .map(|(label, by)| Header {
            label,
            href: by.map(|b| query.href(&base, b, b == sort && !desc, 1)),
            sort: by.filter(|b| *b == sort).map(|_| if desc { "descending" } else { "ascending" }),
        })
        .collect();
    let shown = rows.len() as u64;
    let showing = if total == 0 {
        "No accounts match these filters.".to_owned()
    } else {
        // A row is a pair (your account, a record of the partner's): say how many accounts too.
        let accounts = state.store.report_accounts(org, &run, &filter).await?;
        format!(
            "Showing {}–{} of {} pair{} ({} of your accounts, each with the records of {} it matches)",
            thousands(offset + 1),
            thousands(offset + shown),
            thousands(total),
            if total == 1 { "" } else { "s" },
            thousands(accounts),
            partnership.partner_name
        )
    };
    let (own_segments, partner_segments) = segments(result_of(&run)?.as_ref());
    let page_view = OverlapsPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name.clone(),
        pid: partnership.id.to_string(),
        filter: FilterView {
            own: query.own.clone(),
            partner: query.partner.clone(),
            owner: query.owner.clone(),
            q: query.q.clone(),
            new_only: filter.new_only,
            sort: sort.name(),
            desc,
            tier: query.tier_name(),
        },
        own_segments,
        partner_segments,
        owners: state.store.report_owners(org, &run).await?,
        headers,
        rows: rows.into_iter().map(|r| list_row(r, &registrations)).collect(),
        showing,
        prev: (page > 1).then(|| query.href(&base, sort, desc, page - 1)),
        next: (offset + shown < total).then(|| query.href(&base, sort, desc, page + 1)),
        csv: query.href(&format!("{base}.csv"), sort, desc, 1),
        here: query.href(&base, sort, desc, page),
        corrected: match CorrectionId::parse(&query.corrected) {
            Some(id) => state
                .store
                .correction(org, &id)
                .await
                .ok()
                .filter(|c| c.partnership == partnership.id && c.removed_at.is_none())
                .map(|c| c.account_name.unwrap_or(c.account_id)),
            None => None,
        },
    };
    Ok(html(StatusCode::OK, &page_view))
}

/// The list as CSV: every row the filters select, in the list's order, with its columns.
async fn overlaps_csv(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let org = signed.org();
    let Listing { partnership, run, filter, registrations, _slot } =
        listing(&state, org, &id, |p| query.filter(p)).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Invalid(format!("cannot write the CSV: {e}"));
    out.write_record(HEADERS.iter().map(|(label, _)| *label)).map_err(csv_error)?;
    let mut failed = None;
    let rows = state
        .store
        .report_each(org, &run, &filter, |row| {
            let cells = list_row(row, &registrations).cells;
            if failed.is_none()
                && let Err(e) = out.write_record(cells.iter().map(|c| csv_safe(c).into_owned()))
            {
                failed = Some(e);
            }
        })
        .await?;
    if let Some(e) = failed {
        return Err(csv_error(e).into());
    }
    let body = out.into_inner().map_err(|e| csv_error(e.into_error().into()))?;
    let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "run": run.id.as_str(), "rows": rows });
    state.store.record_audit(org, &signed.user().name, "report.exported", &detail).await?;
    let name = format!("overlaps-{}.csv", partnership.partner_name.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    secure_headers(h);
    Ok(response)
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading
/// apostrophe: partner-supplied text never executes in the rep's spreadsheet.
fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

// ----- actions -----

#[derive(Deserialize)]
struct CoSellForm {
    csrf: String,
    account: String,
    partner_segment: String,
    partner_record: u32,
    #[serde(default)]
    back: String,
}

async fn create_cosell(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CoSellForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let (partnership, run) = partner_and_run(&state, org, &id).await?;
    // Back to the list as it was; checked before acting.
    let back = return_path(&form.back, &format!("/partners/{}/overlaps", partnership.id))?;
    let overlap = crate::cosell::OnOverlap {
        run: run.id.as_str(),
        account: &form.account,
        partner_segment: &form.partner_segment,
        partner_record: form.partner_record,
    };
    crate::cosell::create_on_overlap(&state.store, state.node()?, org, &signed.user().name, overlap).await?;
    Ok(Redirect::to(&back).into_response())
}

/// The registration form's fields.
#[derive(Deserialize, Default)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    duns: String,
    #[serde(default)]
    products: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    expected_close: String,
    #[serde(default)]
    notes: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    chrome: Chrome,
    partner: String,
    pid: String,
    form: RegisterForm,
    problem: Option<String>,
}

#[derive(Deserialize)]
struct AccountQuery {
    #[serde(default)]
    account: String,
}

async fn register_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> PageResult {
    let org = signed.org();
    let (partnership, run) = partner_and_run(&state, org, &id).await?;
    let filter = ReportFilter { account: Some(q.account.clone()), ..ReportFilter::default() };
    let (rows, _) = state.store.report_page(org, &run, &filter, 0, 1).await?;
    let row = rows.into_iter().next().ok_or(ApiError::NotFound("overlapping account"))?;
    let of = |prefix: &str| -> Vec<String> {
        row.keys.iter().filter_map(|k| k.strip_prefix(prefix).map(str::to_owned)).collect()
    };
    let form = RegisterForm {
        name: row.name.clone().unwrap_or_default(),
        country: row.country.clone().unwrap_or_default(),
        domains: of("domain:").join(", "),
        duns: of("duns:").join(", "),
        ..RegisterForm::default()
    };
    let page = RegisterPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name.clone(),
        pid: partnership.id.to_string(),
        form,
        problem: None,
    };
    Ok(html(StatusCode::OK, &page))
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

async fn register(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RegisterForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let id = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    let partnership = state.store.partnership(org, &id).await?;
    let submitted = async {
        crate::registrations::reachable(&partnership)?;
        let set = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let customer = crate::api::registrations::Customer {
            name: set(&form.name),
            country: set(&form.country),
            domains: list(&form.domains),
            duns: list(&form.duns),
        };
        let submission = crate::registrations::submission(
            customer,
            list(&form.products),
            &form.value,
            &form.currency,
            &form.expected_close,
            &form.notes,
        )?;
        crate::registrations::submit(&state.store, state.node()?, &partnership, submission, &signed.user().name).await
    }
    .await;
    match submitted {
        Ok((stored, _)) => {
            let r = &stored.registration;
            let outcome = match (r.state.as_str(), r.conflict) {
                (_, Some(blindmap_cosell::dealreg::Conflict::PartnerConflict)) => format!(
                    "In review: another partner registered this customer first for a product in common. {} decides.",
                    partnership.partner_name
                ),
                (_, Some(blindmap_cosell::dealreg::Conflict::ChannelConflict)) => format!(
                    "In review: {}'s direct team works this customer (an opportunity or an account of its own).",
                    partnership.partner_name
                ),
                (state, None) => format!("Registration {}: {}.", r.id, state.replace('_', " ")),
            };
            let page = MessagePage {
                chrome: signed.chrome(&state).await?,
                heading: format!("Deal registered with {}", partnership.partner_name),
                text: outcome,
                error: false,
                back: Some((
                    format!("/partners/{}/overlaps", partnership.id),
                    "Back to the overlapping accounts".into(),
                )),
            };
            Ok(html(StatusCode::OK, &page))
        }
        Err(e @ (ApiError::Invalid(_) | ApiError::Conflict(_) | ApiError::TooMany(_) | ApiError::Partner(_))) => {
            let (status, problem) = e.status_and_detail();
            let page = RegisterPage {
                chrome: signed.chrome(&state).await?,
                partner: partnership.partner_name.clone(),
                pid: partnership.id.to_string(),
                form: RegisterForm { csrf: String::new(), ..form },
                problem: Some(problem),
            };
            Ok(html(status, &page))
        }
        Err(e) => Err(PageError(e)),
    }
}

// ----- the account view -----

struct AccountEntry {
    partner: String,
    own_segment: String,
    partner_segment: String,
    fields: String,
    tier: &'static str,
    reason: String,
    matched: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    account_id: String,
    name: String,
    entries: Vec<AccountEntry>,
    /// The partners the account matches, once each (id, name): a "Never match" form each.
    partners: Vec<(String, String)>,
    here: String,
}

async fn account(State(state): State<AppState>, signed: Signed, Path(account_id): Path<String>) -> PageResult {
    let org = signed.org();
    let found = state.store.account_overlaps(org, &account_id).await?;
    let name = found.iter().find_map(|(_, _, r)| r.name.clone()).unwrap_or_else(|| account_id.clone());
    let mut partners: Vec<(String, String)> = Vec::new();
    for (pid, partner, _) in &found {
        if !partners.iter().any(|(id, _)| id == pid.as_str()) {
            partners.push((pid.to_string(), partner.clone()));
        }
    }
    let entries = found
        .into_iter()
        .map(|(_, partner, r)| AccountEntry {
            partner,
            own_segment: r.own_segment,
            partner_segment: r.partner_segment,
            fields: fields_text(&r.partner_fields),
            tier: r.tier.as_str(),
            reason: r.reason,
            matched: r.key_types.join(", "),
        })
        .collect();
    let here = format!("/accounts/{}", pct(&account_id));
    let page = AccountPage { chrome: signed.chrome(&state).await?, account_id, name, entries, partners, here };
    Ok(html(StatusCode::OK, &page))
}

// ----- corrections -----

/// A correction posted from a page: "Not this match" on a row of the list, "Never match" on the
/// account view.
#[derive(Deserialize)]
struct CorrectionForm {
    csrf: String,
    account: String,
    kind: String,
    /// For `not_this_match`: the row's key types, comma-separated.
    #[serde(default)]
    key_types: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    back: String,
}

/// `back` with `corrected=ID` added to its query, so the list says what was hidden.
fn with_corrected(back: &str, id: &CorrectionId) -> String {
    let sep = if back.contains('?') { '&' } else { '?' };
    format!("{back}{sep}corrected={id}")
}

async fn correct(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CorrectionForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    state.store.partnership(org, &pid).await?;
    // Back to the page as it was; checked before acting.
    let back = return_path(&form.back, &format!("/partners/{pid}/overlaps"))?;
    let kind = CorrectionKind::parse(&form.kind).ok_or_else(|| bad_request("kind is not_this_match or never_match"))?;
    let key_types = list(&form.key_types);
    let asked = crate::corrections::Asked {
        partnership: pid.as_str(),
        account_id: &form.account,
        kind,
        key_types: &key_types,
        note: Some(form.note.as_str()),
    };
    let correction = crate::corrections::add(&state.store, org, &signed.user().name, asked).await?;
    let to = if back.starts_with(&format!("/partners/{pid}/overlaps")) {
        with_corrected(&back, &correction.id)
    } else {
        back
    };
    Ok(Redirect::to(&to).into_response())
}

struct CorrectionRow {
    id: String,
    account_id: String,
    account: String,
    what: String,
    note: String,
    by: String,
    at: String,
}

#[derive(Template)]
#[template(path = "corrections.html")]
struct CorrectionsPage {
    chrome: Chrome,
    partner: String,
    pid: String,
    rows: Vec<CorrectionRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct CorrectionsQuery {
    #[serde(default)]
    after: String,
}

/// What a correction hides, in words.
fn correction_text(c: &blindmap_store::Correction) -> String {
    match c.kind {
        CorrectionKind::NeverMatch => "Never match".to_owned(),
        CorrectionKind::NotThisMatch => {
            format!("Not this match: hides matches on {} (or fewer)", c.key_types.join(", "))
        }
    }
}

async fn corrections_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<CorrectionsQuery>,
) -> PageResult {
    let org = signed.org();
    let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    let partnership = state.store.partnership(org, &pid).await?;
    let after = match query.after.as_str() {
        "" => None,
        text => Some(CorrectionId::parse(text).ok_or_else(|| bad_request("after is not a correction id"))?),
    };
    let found = state.store.corrections_page(org, Some(&pid), after.as_ref(), PAGE_ROWS).await?;
    let next = (found.len() == PAGE_ROWS as usize)
        .then(|| found.last().map(|c| format!("/partners/{pid}/corrections?after={}", c.id)))
        .flatten();
    let rows = found
        .into_iter()
        .map(|c| CorrectionRow {
            what: correction_text(&c),
            id: c.id.to_string(),
            account: c.account_name.clone().unwrap_or_else(|| c.account_id.clone()),
            account_id: c.account_id,
            note: c.note.unwrap_or_default(),
            by: c.created_by,
            at: crate::rfc3339(c.created_at),
        })
        .collect();
    let page = CorrectionsPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name,
        pid: pid.to_string(),
        rows,
        next,
    };
    Ok(html(StatusCode::OK, &page))
}

async fn undo_correction(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, correction)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    let cid = CorrectionId::parse(&correction).ok_or(ApiError::NotFound("correction"))?;
    // Only a correction of this partner, from this partner's page.
    if state.store.correction(org, &cid).await?.partnership != pid {
        return Err(ApiError::NotFound("correction").into());
    }
    crate::corrections::remove(&state.store, org, &signed.user().name, cid.as_str()).await?;
    Ok(Redirect::to(&format!("/partners/{pid}/corrections")).into_response())
}

/// The pages' routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/assets/blindmap.css", get(stylesheet))
        .route("/signin", get(signin_form).post(signin))
        .route("/signin/link", get(link_form).post(link_signin))
        .route("/signout", post(signout))
        .route("/signout/everywhere", post(signout_everywhere))
        .route("/partners", get(partners))
        .route("/partners/{id}", get(matrix))
        .route("/partners/{id}/overlaps", get(overlaps))
        .route("/partners/{id}/overlaps.csv", get(overlaps_csv))
        .route("/partners/{id}/cosell", post(create_cosell))
        .route("/partners/{id}/register", get(register_form).post(register))
        .route("/partners/{id}/corrections", get(corrections_page).post(correct))
        .route("/partners/{id}/corrections/{correction}/undo", post(undo_correction))
        .route("/accounts/{id}", get(account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_format_and_escape() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(pct("open opps/é"), "open%20opps%2F%C3%A9");
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("Acme"), "Acme");
        assert_eq!(
            levels_summary(
                [LevelName::Overlaps, LevelName::Counts, LevelName::Overlaps, LevelName::Fields].into_iter()
            ),
            "fields in 1 cell, overlaps in 2 cells, counts in 1 cell"
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; bm_session=bms_x; c=3"));
        assert_eq!(cookie_value(&headers, COOKIE), Some("bms_x"));
        let q = ListQuery { own: "customers".into(), q: "a b".into(), ..ListQuery::default() };
        assert_eq!(q.href("/l", ReportSort::Owner, true, 2), "/l?own=customers&q=a%20b&sort=owner&desc=1&page=2");
    }
}

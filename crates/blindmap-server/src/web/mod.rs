//! The reps' pages: server-rendered HTML that works without JavaScript. A rep signs in with a
//! token, a one-time link an admin issued, or their organisation's OpenID provider (`sso.rs`),
//! and gets a session cookie (`Secure`, `HttpOnly`, `SameSite=Strict`); every page shows the signed-in user's own organisation only, and only
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

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::http::error::ApiError;

use account::account;
use corrections::{correct, corrections_page, undo_correction};
use forms::{create_cosell, register, register_form};
use overlaps::{overlaps, overlaps_csv};
use partners::{matrix, partners};
use session::{home, link_form, link_signin, signin, signin_form, signout, signout_everywhere, stylesheet};

mod account;
mod corrections;
mod format;
mod forms;
mod overlaps;
mod partners;
mod session;
mod sso;

pub(crate) use overlaps::{Listing, listing, registration_of};

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

/// The pages' routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/assets/blindmap.css", get(stylesheet))
        .route("/signin", get(signin_form).post(signin))
        .route("/signin/link", get(link_form).post(link_signin))
        .route("/signin/sso/callback", get(sso::callback))
        .route("/signin/sso/{org}", get(sso::begin))
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

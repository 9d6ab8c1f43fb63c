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
use audit::{audit_csv, audit_page};
use connections::{
    add_connection, authorize_connection, authorized, connection_action, connection_page, connections_page,
    replace_credentials,
};
use corrections::{correct, corrections_page, undo_correction};
use cosell::{cosell_page, cosells_page, edit_cosell};
use data::{activate_dataset, data_page, dataset_page, delete_dataset, upload};
use ecosystem::{ecosystem_page, start_cosell};
use forms::{create_cosell, register, register_form};
use home::home;
use hooks::{add_hook, hook_action, hook_page, hooks_page};
use manage::{accept_invite, end_partnership, invite, invite_browser, renew_link};
use overlaps::{all_overlaps, all_overlaps_csv, overlaps, overlaps_csv};
use partners::{matrix, partners};
use registrations::{decide, precheck, registration_page, registrations_page, request_extension};
use runs::{history, run_page, run_transcript, start_run};
use session::{link_form, link_signin, signin, signin_form, signout, signout_everywhere, stylesheet};
use sharing::{save_sharing, sharing_page};
use users::{add_user, issue_token, revoke_token, set_role, signin_link, user_action, users_page};

mod account;
mod alerts;
mod attribution;
mod audit;
mod connections;
mod corrections;
mod cosell;
mod data;
mod ecosystem;
mod format;
mod forms;
mod home;
mod hooks;
mod manage;
mod overlaps;
mod partners;
mod registrations;
mod runs;
mod schedules;
mod session;
mod sharing;
mod sso;
mod users;

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
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// What the layout shows of the signed-in user: who, and the sections its role works in.
pub(crate) struct Chrome {
    user: Option<String>,
    organisation: String,
    csrf: String,
    role: Option<blindmap_store::Role>,
    /// The section the page belongs to (its link is marked as the current page).
    here: &'static str,
}

impl Chrome {
    fn anonymous() -> Self {
        Self { user: None, organisation: String::new(), csrf: String::new(), role: None, here: "" }
    }

    /// The same, for a page of the section at `here`.
    fn at(self, here: &'static str) -> Self {
        Self { here, ..self }
    }

    /// Whether `href` is the section of this page.
    fn current(&self, href: &str) -> bool {
        href == self.here
    }

    /// The main navigation for the user's role, as (path, label): only the sections it works in.
    fn nav(&self) -> Vec<(&'static str, &'static str)> {
        use blindmap_store::Role;
        let Some(role) = self.role else { return Vec::new() };
        let mut links = vec![("/", "Home"), ("/partners", "Partners"), ("/overlaps", "Overlaps")];
        if matches!(role, Role::Admin | Role::Rep) {
            links.push(("/ecosystem", "Ecosystem"));
            links.push(("/registrations", "Registrations"));
            links.push(("/cosell", "Co-sell"));
            links.push(("/attribution", "Attribution"));
        }
        if matches!(role, Role::Admin | Role::Integration) {
            links.push(("/data", "Data"));
        }
        if role == Role::Admin {
            links.push(("/users", "Users"));
            links.push(("/connections", "CRM"));
            links.push(("/alerts", "Alerts"));
            links.push(("/hooks", "Webhooks"));
            links.push(("/audit", "Audit"));
        }
        links
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
            back: Some(("/".into(), "Home".into())),
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
        .route("/assets/upload.js", get(session::upload_script))
        .route("/signin", get(signin_form).post(signin))
        .route("/signin/link", get(link_form).post(link_signin))
        .route("/signin/sso/callback", get(sso::callback))
        .route("/signin/sso/{org}", get(sso::begin))
        .route("/signout", post(signout))
        .route("/signout/everywhere", post(signout_everywhere))
        // An upload streams to disk under the node's upload limit (max_body_mib), not the forms'.
        .route("/data", get(data_page).post(upload).layer(axum::extract::DefaultBodyLimit::disable()))
        .route("/data/{id}", get(dataset_page))
        .route("/data/{id}/activate", post(activate_dataset))
        .route("/data/{id}/delete", post(delete_dataset))
        .route("/partners", get(partners))
        .route("/partners/invite", post(invite))
        .route("/partners/accept", post(accept_invite))
        .route("/partners/browser", post(invite_browser))
        .route("/partners/{id}/link", post(renew_link))
        .route("/partners/{id}/end", post(end_partnership))
        .route("/partners/{id}/sharing", get(sharing_page).post(save_sharing))
        .route("/partners/{id}/runs", get(history).post(start_run))
        .route("/partners/{id}/schedule", post(schedules::set_schedule))
        .route("/partners/{id}/budget", post(schedules::set_budget))
        .route("/runs/against", get(schedules::against_page))
        .route("/registrations", get(registrations_page))
        .route("/registrations/precheck", post(precheck))
        .route("/registrations/{id}", get(registration_page))
        .route("/registrations/{id}/decide", post(decide))
        .route("/registrations/{id}/extension", post(request_extension))
        .route("/cosell", get(cosells_page))
        .route("/cosell/{id}", get(cosell_page).post(edit_cosell))
        .route("/attribution", get(attribution::summary_page))
        .route("/attribution/touches", get(attribution::touches_page).post(attribution::record_touch))
        .route("/attribution/close", get(attribution::close_form).post(attribution::close))
        .route("/attribution/ledger", get(attribution::ledger_page))
        .route("/attribution/opportunities/{opportunity}", get(attribution::opportunity_page))
        .route("/attribution/settings", get(attribution::settings_page).post(attribution::set_model))
        .route("/connections", get(connections_page).post(add_connection))
        .route("/connections/authorize", post(authorize_connection))
        .route("/connections/authorized", get(authorized))
        .route("/connections/{id}", get(connection_page))
        .route("/connections/{id}/credentials", post(replace_credentials))
        .route("/connections/{id}/{action}", post(connection_action))
        .route("/alerts", get(alerts::alerts_page))
        .route("/alerts/channels", post(alerts::add_channel))
        .route("/alerts/channels/{id}/{action}", post(alerts::channel_action))
        .route("/alerts/rules", post(alerts::add_rule))
        .route("/alerts/rules/{id}/remove", post(alerts::remove_rule))
        .route("/hooks", get(hooks_page).post(add_hook))
        .route("/hooks/{id}", get(hook_page))
        .route("/hooks/{id}/{action}", post(hook_action))
        .route("/audit", get(audit_page))
        .route("/audit.csv", get(audit_csv))
        .route("/users", get(users_page).post(add_user))
        .route("/users/{id}/tokens", post(issue_token))
        .route("/users/{id}/link", post(signin_link))
        .route("/users/{id}/role", post(set_role))
        .route("/users/{id}/{action}", post(user_action))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/transcript", get(run_transcript))
        .route("/overlaps", get(all_overlaps))
        .route("/overlaps.csv", get(all_overlaps_csv))
        .route("/partners/{id}", get(matrix))
        .route("/partners/{id}/overlaps", get(overlaps))
        .route("/partners/{id}/overlaps.csv", get(overlaps_csv))
        .route("/partners/{id}/cosell", post(create_cosell))
        .route("/partners/{id}/register", get(register_form).post(register))
        .route("/partners/{id}/corrections", get(corrections_page).post(correct))
        .route("/partners/{id}/corrections/{correction}/undo", post(undo_correction))
        .route("/accounts/{id}", get(account))
        .route("/accounts/{id}/cosell", post(start_cosell))
        .route("/ecosystem", get(ecosystem_page))
}

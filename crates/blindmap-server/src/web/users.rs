//! Users and tokens (admins): the organisation's users with their tokens; adding a user (its
//! first token shown once), issuing and revoking tokens (revoking ends the browser sessions
//! opened with the token), one-time sign-in links, disabling, enabling, removing a user and
//! signing it out everywhere. The same service and store functions as the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{TokenId, UserId, UserState};
use serde::Deserialize;

use super::manage::{admin, only_admins};
use super::session::{CsrfForm, Signed, bad_request};
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::users;

/// Users listed (an organisation with more is listed by the API's pages).
const LISTED: u32 = 500;

pub(super) struct TokenRow {
    pub(super) id: String,
    pub(super) label: String,
    pub(super) created: String,
    pub(super) revoked: Option<String>,
}

pub(super) struct UserRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) role: &'static str,
    pub(super) state: &'static str,
    pub(super) me: bool,
    pub(super) tokens: Vec<TokenRow>,
}

#[derive(Template)]
#[template(path = "users.html")]
pub(super) struct UsersPage {
    pub(super) chrome: Chrome,
    pub(super) users: Vec<UserRow>,
    pub(super) problem: Option<String>,
    /// Whether the organisation has more users than the page lists.
    pub(super) more: bool,
    pub(super) listed: u32,
}

async fn users_view(state: &AppState, signed: &Signed, problem: Option<String>) -> Result<UsersPage, PageError> {
    let org = signed.org();
    let mut listed = state.store.users_page(org, None, LISTED + 1).await?;
    let more = listed.len() > LISTED as usize;
    listed.truncate(LISTED as usize);
    let ids: Vec<UserId> = listed.iter().map(|u| u.user.id.clone()).collect();
    let tokens = state.store.tokens(org, &ids).await?;
    let users = listed
        .into_iter()
        .map(|u| UserRow {
            id: u.user.id.to_string(),
            me: u.user.id == signed.user().id,
            name: u.user.name,
            role: u.user.role.as_str(),
            state: u.state.as_str(),
            tokens: tokens
                .iter()
                .filter(|t| t.user == u.user.id)
                .map(|t| TokenRow {
                    id: t.id.to_string(),
                    label: t.label.clone(),
                    created: crate::rfc3339(t.created_at),
                    revoked: t.revoked_at.map(crate::rfc3339),
                })
                .collect(),
        })
        .collect();
    Ok(UsersPage { chrome: signed.chrome(state).await?.at("/users"), users, problem, more, listed: LISTED })
}

pub(super) async fn users_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    only_admins(&signed)?;
    Ok(html(StatusCode::OK, &users_view(&state, &signed, None).await?))
}

#[derive(Template)]
#[template(path = "secret.html")]
pub(super) struct SecretPage {
    pub(super) chrome: Chrome,
    pub(super) heading: String,
    pub(super) what: String,
    pub(super) secret: String,
    pub(super) note: String,
    /// Where to go on: (path, label).
    pub(super) back: (String, String),
}

#[derive(Deserialize)]
pub(super) struct AddForm {
    csrf: String,
    name: String,
    role: String,
    #[serde(default)]
    label: String,
}

pub(super) async fn add_user(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<AddForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let label = match form.label.trim() {
        "" => "first token",
        given => given,
    };
    match users::create(&state.store, signed.user(), form.name.trim(), &form.role, label).await {
        Ok((user, _, token)) => {
            let page = SecretPage {
                chrome: signed.chrome(&state).await?.at("/users"),
                heading: format!("{} added", user.name),
                what: format!("{}'s API token", user.name),
                secret: token.expose().to_owned(),
                note: format!(
                    "Shown once: only its hash is kept. {} signs in to these pages with it (or with a one-time link \
                     from the users page), and scripts use it for the API.",
                    user.name
                ),
                back: ("/users".into(), "Back to users".into()),
            };
            Ok(html(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &users_view(&state, &signed, Some(text)).await?))
        }
    }
}

fn user_id(id: &str) -> Result<UserId, PageError> {
    UserId::parse(id).ok_or(PageError(ApiError::NotFound("user")))
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    csrf: String,
    label: String,
}

pub(super) async fn issue_token(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TokenForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let user = user_id(&id)?;
    let name = state.store.user(signed.org(), &user).await?.user.name;
    let (_, token) = users::issue_token(&state.store, signed.user(), &user, form.label.trim()).await?;
    let page = SecretPage {
        chrome: signed.chrome(&state).await?.at("/users"),
        heading: format!("A new token for {name}"),
        what: format!("{name}'s token “{}”", form.label.trim()),
        secret: token.expose().to_owned(),
        note: "Shown once: only its hash is kept. Revoke it from the users page when it is no longer needed.".into(),
        back: ("/users".into(), "Back to users".into()),
    };
    Ok(html(StatusCode::CREATED, &page))
}

pub(super) async fn signin_link(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let user = user_id(&id)?;
    let name = state.store.user(signed.org(), &user).await?.user.name;
    let base = state.node()?.public_url.get().cloned().unwrap_or_default();
    let secret = users::signin_link(&state.store, signed.user(), &user).await?;
    let page = SecretPage {
        chrome: signed.chrome(&state).await?.at("/users"),
        heading: format!("A sign-in link for {name}"),
        what: format!("{name}'s one-time sign-in link"),
        secret: format!("{base}/signin/link?secret={}", secret.expose()),
        note: format!(
            "Valid once, until {}. Hand it over as you would a password.",
            crate::rfc3339(crate::now_ms() + blindmap_store::LINK_MS)
        ),
        back: ("/users".into(), "Back to users".into()),
    };
    Ok(html(StatusCode::CREATED, &page))
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let token = TokenId::parse(&id).ok_or(PageError(ApiError::NotFound("token")))?;
    users::revoke_token(&state.store, signed.user(), &token).await?;
    Ok(Redirect::to("/users").into_response())
}

#[derive(Deserialize)]
pub(super) struct UserAction {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    csrf: String,
    role: String,
}

/// Gives a user another role.
pub(super) async fn set_role(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RoleForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let user = user_id(&id)?;
    match users::set_role(&state.store, signed.user(), &user, &form.role).await {
        Ok(_) => Ok(Redirect::to("/users").into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &users_view(&state, &signed, Some(text)).await?))
        }
    }
}

/// Disables, enables, removes or signs out a user everywhere (`action` from the path).
pub(super) async fn user_action(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<UserAction>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let user = user_id(&id)?;
    let (org, actor) = (signed.org(), signed.user().name.as_str());
    match action.as_str() {
        "disable" => {
            state.store.set_user_disabled(org, &user, true, actor).await?;
        }
        "enable" => {
            state.store.set_user_disabled(org, &user, false, actor).await?;
        }
        "remove" => {
            if form.confirm.is_none() {
                return Err(bad_request("tick the box to confirm: removing a user cannot be undone"));
            }
            state.store.remove_user(org, &user, actor).await?;
        }
        "signout" => {
            state.store.end_user_sessions(org, &user, actor).await?;
        }
        _ => return Err(PageError(ApiError::NotFound("action"))),
    }
    Ok(Redirect::to("/users").into_response())
}

impl UserRow {
    fn has_role(&self, role: &str) -> bool {
        self.role == role
    }

    fn active(&self) -> bool {
        self.state == UserState::Active.as_str()
    }

    fn removed(&self) -> bool {
        self.state == UserState::Removed.as_str()
    }
}

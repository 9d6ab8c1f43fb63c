//! `/api/v1/users` and `/api/v1/tokens`: an organisation's admins add users (admins, reps,
//! integrations), issue them API tokens and revoke tokens, disable, enable and remove users, and
//! sign them out of the pages everywhere; every user can sign itself out everywhere
//! (`/api/v1/me/sessions`). A token is shown once, when issued; only its hash is kept.
//!
//! A browser session ends with the token it was opened with, and with its user: disabling or
//! removing the user, or signing it out everywhere, ends every session it has.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{ListedUser, Role, TokenId, TokenInfo, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::users;

/// A token as listed (never the token itself).
#[derive(Deserialize, Serialize, ToSchema)]
pub struct TokenView {
    /// `tok_…`.
    pub id: String,
    /// What it is for.
    pub label: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// A user and their tokens.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct UserView {
    /// `usr_…`.
    pub id: String,
    /// The user's name, unique in the organisation.
    pub name: String,
    /// `admin`, `rep` or `integration`.
    pub role: String,
    /// `active`; `disabled` (its tokens do not authenticate until it is enabled again); or
    /// `removed` (for good: its tokens are revoked; its name stays taken, as the audit trail
    /// and stored records name it).
    pub state: String,
    /// Their tokens, revoked ones included.
    pub tokens: Vec<TokenView>,
}

impl UserView {
    fn new(listed: ListedUser, tokens: Vec<TokenInfo>) -> Self {
        Self {
            id: listed.user.id.to_string(),
            name: listed.user.name,
            role: listed.user.role.as_str().to_owned(),
            state: listed.state.as_str().to_owned(),
            tokens: tokens
                .into_iter()
                .map(|t| TokenView {
                    id: t.id.to_string(),
                    label: t.label,
                    created_at: t.created_at,
                    revoked_at: t.revoked_at,
                })
                .collect(),
        }
    }
}

/// A page of the organisation's users, by name.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct UserList {
    /// This page's items.
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A user to add.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewUser {
    /// The user's name (1 to 200 characters).
    #[schema(value_type = contract::Label)]
    pub name: String,
    /// `admin` (everything), `rep` (reads runs, overlaps and reports) or `integration`
    /// (uploads datasets and starts runs, for scripts).
    #[schema(value_type = contract::RoleName)]
    pub role: String,
    /// A label for the first token (default `first token`).
    #[schema(value_type = Option<contract::Label>)]
    pub token_label: Option<String>,
}

/// A token to issue.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    /// What it is for, e.g. `laptop` or `nightly sync`.
    #[schema(value_type = contract::Label)]
    pub label: String,
}

/// A token, shown once.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct IssuedToken {
    /// `tok_…`: to revoke it.
    pub id: String,
    /// The bearer token. Not stored anywhere; keep it like a password.
    pub token: String,
}

/// A new user with their first token.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CreatedUser {
    /// `usr_…`.
    pub id: String,
    /// The user's name.
    pub name: String,
    /// The role.
    pub role: String,
    /// Their first token.
    pub token: IssuedToken,
}

/// The organisation's users and their tokens, by name, removed users included (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(Page, ("cursor" = Option<contract::UserId>, Query, description = "The `next` of the previous page")),
    responses((status = 200, body = UserList, description = "A page of users"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or cursor out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<UserList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let limit = page.limit()?;
    let after = page.after(UserId::parse, "a user id")?;
    let users = state.store.users_page(org, after.as_ref(), limit).await?;
    let next = Page::next(limit, &users, |u| u.user.id.to_string());
    let ids: Vec<UserId> = users.iter().map(|u| u.user.id.clone()).collect();
    let mut tokens = state.store.tokens(org, &ids).await?;
    let items = users
        .into_iter()
        .map(|u| {
            let (mine, rest): (Vec<_>, Vec<_>) = tokens.drain(..).partition(|t| t.user == u.user.id);
            tokens = rest;
            UserView::new(u, mine)
        })
        .collect();
    Ok(Json(UserList { items, next }))
}

/// Adds a user with a first token (admins only). Takes no idempotency key: replaying the answer
/// would mean keeping the token; a retry finds the name taken (409) and can issue a new token.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = CreatedUser, description = "The user and their first token"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The name is taken"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Bad name or role")))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    caller.require(&[Role::Admin])?;
    let label = body.token_label.unwrap_or_else(|| "first token".to_owned());
    let (user, id, token) = users::create(&state.store, &caller.0.user, &body.name, &body.role, &label).await?;
    let created = CreatedUser {
        id: user.id.to_string(),
        name: user.name,
        role: user.role.as_str().to_owned(),
        token: IssuedToken { id: id.to_string(), token: token.expose().to_owned() },
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Issues another token to a user (admins only).
#[utoipa::path(post, path = "/api/v1/users/{id}/tokens", tag = "users", params(("id" = contract::UserId, Path)),
    request_body = NewToken,
    responses((status = 201, body = IssuedToken, description = "The token, shown once"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The user is disabled or removed"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a label")))]
async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    caller.require(&[Role::Admin])?;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    let (id, token) = users::issue_token(&state.store, &caller.0.user, &user, &body.label).await?;
    Ok((StatusCode::CREATED, Json(IssuedToken { id: id.to_string(), token: token.expose().to_owned() })))
}

/// A one-time sign-in link for the reports pages.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SigninLink {
    /// Open it in a browser to sign in, once; it expires unused after 15 minutes.
    pub url: String,
    /// When it expires, RFC 3339.
    pub expires_at: String,
}

/// Issues a one-time sign-in link to the reports pages for a user (admins only). Only its hash
/// is kept; hand the link over as you would a token.
#[utoipa::path(post, path = "/api/v1/users/{id}/signin-link", tag = "users", params(("id" = contract::UserId, Path)),
    responses((status = 201, body = SigninLink, description = "The link, valid once for 15 minutes"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The user is disabled or removed")))]
async fn signin_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SigninLink>), ApiError> {
    caller.require(&[Role::Admin])?;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    let base = state.node()?.public_url.get().cloned().unwrap_or_default();
    let secret = users::signin_link(&state.store, &caller.0.user, &user).await?;
    let link = SigninLink {
        url: format!("{base}/signin/link?secret={}", secret.expose()),
        expires_at: crate::rfc3339(crate::now_ms() + blindmap_store::LINK_MS),
    };
    Ok((StatusCode::CREATED, Json(link)))
}

/// Revokes a token (admins only): it authenticates no more, and every browser session signed in
/// with it ends.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "users", params(("id" = contract::TokenId, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such token, or revoked already")))]
async fn revoke(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    let token = TokenId::parse(&id).ok_or(ApiError::NotFound("token"))?;
    users::revoke_token(&state.store, &caller.0.user, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user of the caller's organisation named by a path, with its tokens.
async fn user_view(state: &AppState, caller: &Caller, user: &UserId) -> Result<UserView, ApiError> {
    let org = &caller.0.user.org;
    let listed = state.store.user(org, user).await?;
    let tokens = state.store.tokens(org, std::slice::from_ref(user)).await?;
    Ok(UserView::new(listed, tokens))
}

/// Disables a user (admins only): its tokens stop authenticating at once, every browser session
/// it has ends, its unused sign-in links are void. Its tokens work again once it is enabled;
/// its sessions do not come back. Disabling a disabled user changes nothing.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", params(("id" = contract::UserId, Path)),
    responses((status = 200, body = UserView, description = "The user, now disabled"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The caller is not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user in the caller's organisation"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The user was removed, or is the organisation's last active admin")))]
async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    set_disabled(state, caller, &id, true).await
}

/// Enables a disabled user again (admins only): its tokens that were not revoked authenticate
/// again. Enabling an active user changes nothing.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users", params(("id" = contract::UserId, Path)),
    responses((status = 200, body = UserView, description = "The user, now active"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The caller is not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user in the caller's organisation"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The user was removed")))]
async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    set_disabled(state, caller, &id, false).await
}

async fn set_disabled(state: AppState, caller: Caller, id: &str, disabled: bool) -> Result<Json<UserView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = UserId::parse(id).ok_or(ApiError::NotFound("user"))?;
    state.store.set_user_disabled(&caller.0.user.org, &user, disabled, &caller.0.user.name).await?;
    Ok(Json(user_view(&state, &caller, &user).await?))
}

/// A user's new role.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewRole {
    /// `admin`, `rep` or `integration`.
    #[schema(value_type = contract::RoleName)]
    pub role: String,
}

/// Gives a user another role (admins only). Its tokens and browser sessions stay and act with the
/// new role from their next request. The organisation's last active admin keeps its role. A
/// user who signs in with single sign-on gets the role its provider's groups map to again at its
/// next sign-in.
#[utoipa::path(post, path = "/api/v1/users/{id}/role", tag = "users", params(("id" = contract::UserId, Path)),
    request_body = NewRole,
    responses((status = 200, body = UserView, description = "The user, with its role"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The caller is not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user in the caller's organisation"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The user was removed, or is the organisation's last active admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a role")))]
async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<NewRole>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    users::set_role(&state.store, &caller.0.user, &user, &body.role).await?;
    Ok(Json(user_view(&state, &caller, &user).await?))
}

/// Removes a user for good (admins only): its tokens are revoked, every browser session it has
/// ends, its unused sign-in links are void. The user stays listed as `removed` and its name
/// stays taken: the audit trail and the records it worked on keep naming it. Removing a removed
/// user changes nothing.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = contract::UserId, Path)),
    responses((status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The caller is not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user in the caller's organisation"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The user is the organisation's last active admin")))]
async fn remove(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    state.store.remove_user(&caller.0.user.org, &user, &caller.0.user.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What signing out everywhere did.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SignedOut {
    /// How many browser sessions ended.
    pub sessions_ended: u64,
}

/// Signs a user out of the pages everywhere (admins only): every browser session it has ends,
/// whether opened with a token or a sign-in link, and its unused sign-in links are void. Its API
/// tokens stay valid (revoke them, or disable the user, to stop those).
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = contract::UserId, Path)),
    responses((status = 200, body = SignedOut, description = "Signed out: how many sessions ended"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The caller is not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user in the caller's organisation")))]
async fn end_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SignedOut>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    let ended = state.store.end_user_sessions(&caller.0.user.org, &user, &caller.0.user.name).await?;
    Ok(Json(SignedOut { sessions_ended: ended }))
}

/// Signs the caller out of the pages everywhere (any role): every browser session it has ends,
/// and its unused sign-in links are void. The token used for this call stays valid.
#[utoipa::path(delete, path = "/api/v1/me/sessions", tag = "identity",
    responses((status = 200, body = SignedOut, description = "Signed out: how many sessions ended")))]
async fn end_my_sessions(State(state): State<AppState>, caller: Caller) -> Result<Json<SignedOut>, ApiError> {
    let me = &caller.0.user;
    let ended = state.store.end_user_sessions(&me.org, &me.id, &me.name).await?;
    Ok(Json(SignedOut { sessions_ended: ended }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
        .routes(routes!(issue))
        .routes(routes!(signin_link))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(set_role))
        .routes(routes!(end_sessions))
        .routes(routes!(end_my_sessions))
        .routes(routes!(revoke))
}

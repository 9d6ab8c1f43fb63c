//! `/api/v1/users` and `/api/v1/tokens`: an organisation's admins add users (admins, reps,
//! integrations), issue them API tokens and revoke tokens. A token is shown once, when issued;
//! only its hash is kept.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{Role, TokenId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract};
use crate::AppState;
use crate::attribution::check_text;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Query};

/// A token as listed (never the token itself).
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// `tok_…`.
    id: String,
    /// What it is for.
    label: String,
    /// Unix milliseconds.
    created_at: i64,
    /// Unix milliseconds, once revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<i64>,
}

/// A user and their tokens.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserView {
    /// `usr_…`.
    id: String,
    /// The user's name, unique in the organisation.
    name: String,
    /// `admin`, `rep` or `integration`.
    role: String,
    /// Their tokens, revoked ones included.
    tokens: Vec<TokenView>,
}

/// A page of the organisation's users, by name.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserList {
    items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// A user to add.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewUser {
    /// The user's name (1 to 200 characters).
    #[schema(value_type = contract::Label)]
    name: String,
    /// `admin` (everything), `rep` (reads runs, overlaps and reports) or `integration`
    /// (uploads datasets and starts runs, for scripts).
    #[schema(value_type = contract::RoleName)]
    role: String,
    /// A label for the first token (default `first token`).
    #[schema(value_type = Option<contract::Label>)]
    token_label: Option<String>,
}

/// A token to issue.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewToken {
    /// What it is for, e.g. `laptop` or `nightly sync`.
    #[schema(value_type = contract::Label)]
    label: String,
}

/// A token, shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssuedToken {
    /// `tok_…`: to revoke it.
    id: String,
    /// The bearer token. Not stored anywhere; keep it like a password.
    token: String,
}

/// A new user with their first token.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedUser {
    /// `usr_…`.
    id: String,
    /// The user's name.
    name: String,
    /// The role.
    role: String,
    /// Their first token.
    token: IssuedToken,
}

/// The organisation's users and their tokens, by name (admins only).
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
    let next = Page::next(limit, &users, |u| u.id.to_string());
    let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
    let mut tokens = state.store.tokens(org, &ids).await?;
    let items = users
        .into_iter()
        .map(|u| {
            let (mine, rest): (Vec<_>, Vec<_>) = tokens.drain(..).partition(|t| t.user == u.id);
            tokens = rest;
            UserView {
                id: u.id.to_string(),
                name: u.name,
                role: u.role.as_str().to_owned(),
                tokens: mine
                    .into_iter()
                    .map(|t| TokenView {
                        id: t.id.to_string(),
                        label: t.label,
                        created_at: t.created_at,
                        revoked_at: t.revoked_at,
                    })
                    .collect(),
            }
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
    let org = &caller.0.user.org;
    check_text("name", &body.name)?;
    let label = body.token_label.unwrap_or_else(|| "first token".to_owned());
    check_text("token_label", &label)?;
    let role = Role::parse(&body.role).ok_or_else(|| ApiError::Invalid("role is admin, rep or integration".into()))?;
    let user = state.store.create_user(org, &body.name, role).await?;
    let (id, token) = state.store.issue_token(org, &user.id, &label).await?;
    let detail = serde_json::json!({ "user": user.name, "role": role.as_str(), "token": id.to_string() });
    state.store.record_audit(org, &caller.0.user.name, "user.created", &detail).await?;
    let created = CreatedUser {
        id: user.id.to_string(),
        name: user.name,
        role: role.as_str().to_owned(),
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
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a label")))]
async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    check_text("label", &body.label)?;
    let (id, token) = state.store.issue_token(org, &user, &body.label).await?;
    let detail = serde_json::json!({ "user": user.to_string(), "token": id.to_string(), "label": body.label });
    state.store.record_audit(org, &caller.0.user.name, "token.issued", &detail).await?;
    Ok((StatusCode::CREATED, Json(IssuedToken { id: id.to_string(), token: token.expose().to_owned() })))
}

/// A one-time sign-in link for the reports pages.
#[derive(Serialize, ToSchema)]
pub(crate) struct SigninLink {
    /// Open it in a browser to sign in, once; it expires unused after 15 minutes.
    url: String,
    /// When it expires, RFC 3339.
    expires_at: String,
}

/// Issues a one-time sign-in link to the reports pages for a user (admins only). Only its hash
/// is kept; hand the link over as you would a token.
#[utoipa::path(post, path = "/api/v1/users/{id}/signin-link", tag = "users", params(("id" = contract::UserId, Path)),
    responses((status = 201, body = SigninLink, description = "The link, valid once for 15 minutes"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such user")))]
async fn signin_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SigninLink>), ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let user = UserId::parse(&id).ok_or(ApiError::NotFound("user"))?;
    let base = state.node()?.public_url.get().cloned().unwrap_or_default();
    let secret = state.store.issue_signin_link(org, &user, &caller.0.user.name).await?;
    let detail = serde_json::json!({ "user": user.to_string() });
    state.store.record_audit(org, &caller.0.user.name, "signin_link.issued", &detail).await?;
    let link = SigninLink {
        url: format!("{base}/signin/link?secret={}", secret.expose()),
        expires_at: crate::rfc3339(crate::now_ms() + blindmap_store::LINK_MS),
    };
    Ok((StatusCode::CREATED, Json(link)))
}

/// Revokes a token (admins only): it authenticates no more.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "users", params(("id" = contract::TokenId, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such token, or revoked already")))]
async fn revoke(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let token = TokenId::parse(&id).ok_or(ApiError::NotFound("token"))?;
    state.store.revoke_token(org, &token).await?;
    let detail = serde_json::json!({ "token": token.to_string() });
    state.store.record_audit(org, &caller.0.user.name, "token.revoked", &detail).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(issue))
        .routes(routes!(signin_link))
        .routes(routes!(revoke))
}

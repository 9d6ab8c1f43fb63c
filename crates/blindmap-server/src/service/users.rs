//! Users and tokens: adding a user with a first token, issuing and revoking tokens, one-time
//! sign-in links. The API (`api/users.rs`) and the pages call these, so each is checked and
//! audited the same way whoever asks. (Disabling, enabling, removing and signing out audit in
//! the store, which does them in one transaction.)

use blindmap_store::{ApiToken, ListedUser, Role, Secret, Store, StoreError, TokenId, User, UserId};

use super::text::{TextError, check_name};

/// Why a user or token change was refused. `http::error` maps each: a bad name or role → 422,
/// the store's own (no such user → 404, a taken name → 409).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UserError {
    /// A name or label that is no name.
    #[error(transparent)]
    Text(#[from] TextError),
    /// Not a role.
    #[error("role is admin, rep or integration")]
    Role,
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds the user `name` with `role` (as the API and the pages write it) and a first token
/// labelled `label`; the token is returned once, never kept.
pub(crate) async fn create(
    store: &Store,
    actor: &User,
    name: &str,
    role: &str,
    label: &str,
) -> Result<(User, TokenId, ApiToken), UserError> {
    check_name("name", name)?;
    check_name("token_label", label)?;
    let role = Role::parse(role).ok_or(UserError::Role)?;
    let user = store.create_user(&actor.org, name, role).await?;
    let (id, token) = store.issue_token(&actor.org, &user.id, label).await?;
    let detail = serde_json::json!({ "user": user.name, "role": role.as_str(), "token": id.to_string() });
    store.record_audit(&actor.org, &actor.name, "user.created", &detail).await?;
    Ok((user, id, token))
}

/// Issues another token to a user of the actor's organisation.
pub(crate) async fn issue_token(
    store: &Store,
    actor: &User,
    user: &UserId,
    label: &str,
) -> Result<(TokenId, ApiToken), UserError> {
    check_name("label", label)?;
    let (id, token) = store.issue_token(&actor.org, user, label).await?;
    let detail = serde_json::json!({ "user": user.to_string(), "token": id.to_string(), "label": label });
    store.record_audit(&actor.org, &actor.name, "token.issued", &detail).await?;
    Ok((id, token))
}

/// Revokes a token: it authenticates no more, and every browser session opened with it ends
/// (how many is returned).
pub(crate) async fn revoke_token(store: &Store, actor: &User, token: &TokenId) -> Result<u64, UserError> {
    let sessions = store.revoke_token(&actor.org, token).await?;
    let detail = serde_json::json!({ "token": token.to_string(), "sessions_ended": sessions });
    store.record_audit(&actor.org, &actor.name, "token.revoked", &detail).await?;
    Ok(sessions)
}

/// A one-time sign-in link's secret for a user (valid once, for `blindmap_store::LINK_MS`).
pub(crate) async fn signin_link(store: &Store, actor: &User, user: &UserId) -> Result<Secret, UserError> {
    let secret = store.issue_signin_link(&actor.org, user, &actor.name).await?;
    let detail = serde_json::json!({ "user": user.to_string() });
    store.record_audit(&actor.org, &actor.name, "signin_link.issued", &detail).await?;
    Ok(secret)
}

/// Gives a user another role (`admin`, `rep` or `integration`, as written); audited by the
/// store with the change. The last active admin keeps its role.
pub(crate) async fn set_role(store: &Store, actor: &User, user: &UserId, role: &str) -> Result<ListedUser, UserError> {
    let role = Role::parse(role).ok_or(UserError::Role)?;
    Ok(store.set_user_role(&actor.org, user, role, &actor.name).await?)
}

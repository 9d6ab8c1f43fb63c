//! Browser sessions of signed-in users and one-time sign-in links. Secrets are random, handed out
//! once and stored as SHA-256 only, like API tokens.
//!
//! A session belongs to its user: disabling or removing the user ends it, and so does "sign out
//! everywhere". A session opened with an API token also ends with that token; one opened with a
//! sign-in link has no token and ends only those ways (or when it expires, or is signed out).

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::append_audit;
use crate::ids::{OrgId, TokenId, UserId, now_ms, random_hex};
use crate::orgs::{ACTIVE_USER, Role, User, end_sessions_and_links};
use crate::{Store, StoreError};

/// How long a browser session lasts.
pub const SESSION_MS: i64 = 12 * 3_600_000;
/// How long a sign-in link may wait to be used.
pub const LINK_MS: i64 = 15 * 60_000;

/// A secret handed out once (a session's cookie, a link's token): never printed by `Debug`.
pub struct Secret(SecretString);

impl Secret {
    fn new(prefix: &str) -> Self {
        Self(SecretString::from(format!("{prefix}{}{}", random_hex(), random_hex())))
    }

    /// The secret, to hand to its user.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Who.
    pub user: User,
    /// The token this session stands for to forms: a form posted without it is refused.
    pub csrf: String,
    /// When it ends, Unix milliseconds.
    pub expires_at: i64,
}

impl Store {
    /// Opens a session for `user` (with the API token it signed in with, if any): the cookie's
    /// secret. Fails with `UserInactive` if the user is not active (any more).
    pub async fn open_session(&self, user: &UserId, token: Option<&TokenId>) -> Result<Secret, StoreError> {
        let secret = Secret::new("bms_");
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // A write to the user's row locks it: a concurrent disabling either ends this session
        // after it is stored, or has disabled the user before this looks.
        // (The condition is on the row itself: PostgreSQL checks it again once the lock is had.)
        let active = sqlx::query(
            "UPDATE users SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NULL AND removed_at IS NULL",
        )
        .bind(user.as_str())
        .execute(&mut *tx)
        .await?;
        if active.rows_affected() == 0 {
            return Err(StoreError::UserInactive("disabled"));
        }
        sqlx::query(
            "INSERT INTO web_sessions (secret_hash, user_id, token_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash(secret.expose()))
        .bind(user.as_str())
        .bind(token.map(TokenId::as_str))
        .bind(random_hex())
        .bind(now)
        .bind(now + SESSION_MS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Ended sessions go as new ones come.
        sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        Ok(secret)
    }

    /// The live session of a cookie's secret: not expired, its user active, and its token (if
    /// any) not revoked. (Disabling, removing and revoking delete the sessions they end; these
    /// conditions hold besides.)
    pub async fn web_session(&self, secret: &str) -> Result<Option<WebSession>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT u.id, u.org_id, u.name, u.role, s.csrf, s.expires_at FROM web_sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.secret_hash = $1 AND s.expires_at > $2 AND {ACTIVE_USER} \
             AND (s.token_id IS NULL OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.id = s.token_id \
             AND t.revoked_at IS NULL))"
        )))
        .bind(hash(secret))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.get(3);
        Ok(Some(WebSession {
            user: User {
                id: UserId(r.get(0)),
                org: OrgId(r.get(1)),
                name: r.get(2),
                role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
            },
            csrf: r.get(4),
            expires_at: r.get(5),
        }))
    }

    /// Ends a session (signing out); ending one that is gone already is fine.
    pub async fn close_session(&self, secret: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE secret_hash = $1").bind(hash(secret)).execute(&self.pool).await?;
        Ok(())
    }

    /// Signs `user` of `org` out everywhere, as `actor`, and audits it: every browser session it
    /// has ends, whatever it signed in with, and its unused sign-in links are voided. How many
    /// sessions ended.
    pub async fn end_user_sessions(&self, org: &OrgId, user: &UserId, actor: &str) -> Result<u64, StoreError> {
        let listed = self.user(org, user).await?;
        let mut tx = self.begin_write().await?;
        let (sessions, links) = end_sessions_and_links(&mut tx, user).await?;
        let detail = serde_json::json!({ "user": user.as_str(), "name": listed.user.name, "sessions_ended": sessions,
            "links_voided": links });
        append_audit(&mut tx, org, now_ms(), actor, "user.signed_out_everywhere", &detail).await?;
        tx.commit().await?;
        Ok(sessions)
    }

    /// Issues a one-time sign-in link's secret for an active `user` of `org`, valid for
    /// [`LINK_MS`].
    pub async fn issue_signin_link(&self, org: &OrgId, user: &UserId, by: &str) -> Result<Secret, StoreError> {
        self.check_user_of(org, user).await?;
        let secret = Secret::new("bml_");
        sqlx::query("INSERT INTO signin_links (secret_hash, user_id, created_by, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash(secret.expose()))
            .bind(user.as_str())
            .bind(by)
            .bind(now_ms() + LINK_MS)
            .execute(&self.pool)
            .await?;
        Ok(secret)
    }

    /// Uses a sign-in link: its user, once, if it has not expired and the user is active.
    pub async fn redeem_signin_link(&self, secret: &str) -> Result<Option<UserId>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE signin_links SET used_at = $1 WHERE secret_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             AND user_id IN (SELECT u.id FROM users u WHERE {ACTIVE_USER}) RETURNING user_id"
        )))
        .bind(now)
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| UserId(r.get(0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::on_both_backends;

    async fn sessions_live_until_signed_out_or_the_token_is_revoked(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let rep = store.create_user(&org, "rep", Role::Rep).await.unwrap();
        let (token_id, _) = store.issue_token(&org, &rep.id, "laptop").await.unwrap();
        let with_token = store.open_session(&rep.id, Some(&token_id)).await.unwrap();
        let plain = store.open_session(&rep.id, None).await.unwrap();
        let session = store.web_session(with_token.expose()).await.unwrap().unwrap();
        assert_eq!(session.user, rep);
        assert_eq!(session.csrf.len(), 32);
        assert!(store.web_session("bms_forged").await.unwrap().is_none());
        store.revoke_token(&org, &token_id).await.unwrap();
        assert!(store.web_session(with_token.expose()).await.unwrap().is_none(), "the token was revoked");
        assert!(store.web_session(plain.expose()).await.unwrap().is_some());
        store.close_session(plain.expose()).await.unwrap();
        assert!(store.web_session(plain.expose()).await.unwrap().is_none(), "signed out");
        assert!(!format!("{plain:?}").contains("bms_"), "Debug hides the secret");
    }

    async fn links_work_once_for_their_organisations_users(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let other = store.create_organisation("Other").await.unwrap().id;
        let rep = store.create_user(&org, "rep", Role::Rep).await.unwrap();
        assert!(matches!(store.issue_signin_link(&other, &rep.id, "admin").await, Err(StoreError::NotFound(_))));
        let link = store.issue_signin_link(&org, &rep.id, "admin").await.unwrap();
        assert_eq!(store.redeem_signin_link(link.expose()).await.unwrap(), Some(rep.id.clone()));
        assert_eq!(store.redeem_signin_link(link.expose()).await.unwrap(), None, "once");
        let stale = store.issue_signin_link(&org, &rep.id, "admin").await.unwrap();
        sqlx::query("UPDATE signin_links SET expires_at = 0").execute(&store.pool).await.unwrap();
        assert_eq!(store.redeem_signin_link(stale.expose()).await.unwrap(), None, "expired");
    }

    async fn signing_out_everywhere_ends_every_session_of_the_user_only(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let other = store.create_organisation("Other").await.unwrap().id;
        let rep = store.create_user(&org, "rep", Role::Rep).await.unwrap();
        let colleague = store.create_user(&org, "colleague", Role::Rep).await.unwrap();
        let (token_id, _) = store.issue_token(&org, &rep.id, "laptop").await.unwrap();
        let (other_token, _) = store.issue_token(&org, &rep.id, "phone").await.unwrap();
        let with_token = store.open_session(&rep.id, Some(&token_id)).await.unwrap();
        let with_link = store.open_session(&rep.id, None).await.unwrap();
        let theirs = store.open_session(&colleague.id, None).await.unwrap();
        // Revoking every token of the user leaves the link's session: it belongs to the user.
        assert_eq!(store.revoke_token(&org, &token_id).await.unwrap(), 1, "the token's one session");
        assert_eq!(store.revoke_token(&org, &other_token).await.unwrap(), 0);
        assert!(store.web_session(with_token.expose()).await.unwrap().is_none());
        assert!(store.web_session(with_link.expose()).await.unwrap().is_some());

        let refused = store.end_user_sessions(&other, &rep.id, "mallory").await;
        assert!(matches!(refused, Err(StoreError::NotFound(_))), "another organisation's user");
        assert!(store.web_session(with_link.expose()).await.unwrap().is_some());
        let link = store.issue_signin_link(&org, &rep.id, "admin").await.unwrap();
        assert_eq!(store.end_user_sessions(&org, &rep.id, "rep").await.unwrap(), 1);
        assert!(store.web_session(with_link.expose()).await.unwrap().is_none(), "signed out everywhere");
        assert!(store.web_session(theirs.expose()).await.unwrap().is_some(), "a colleague's session stays");
        assert_eq!(store.redeem_signin_link(link.expose()).await.unwrap(), None, "unused links are void too");
        let trail = store.audit_trail(&org, 1).await.unwrap();
        assert_eq!((trail[0].kind.as_str(), trail[0].actor.as_str()), ("user.signed_out_everywhere", "rep"));
        assert_eq!(trail[0].detail["sessions_ended"], 1);
    }

    on_both_backends!(
        sessions_live_until_signed_out_or_the_token_is_revoked,
        links_work_once_for_their_organisations_users,
        signing_out_everywhere_ends_every_session_of_the_user_only
    );
}

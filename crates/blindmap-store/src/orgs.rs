//! Organisations, users and API tokens.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::append_audit;
use crate::error::is_unique_violation;
use crate::ids::{OrgId, TokenId, UserId, now_ms, random_hex};
use crate::{Store, StoreError};

/// The SQL condition that user `u` may act: neither disabled nor removed.
pub(crate) const ACTIVE_USER: &str = "u.disabled_at IS NULL AND u.removed_at IS NULL";

/// An organisation hosted on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Its id.
    pub id: OrgId,
    /// Its unique name.
    pub name: String,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything within the organisation: partnerships, policies, users.
    Admin,
    /// Reads overlap reports; works co-sell records.
    Rep,
    /// A machine client: imports and matches.
    Integration,
}

impl Role {
    /// The role's name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Rep => "rep",
            Self::Integration => "integration",
        }
    }

    /// The role of a name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Admin, Self::Rep, Self::Integration].into_iter().find(|r| r.as_str() == name)
    }
}

/// A user of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The organisation it belongs to.
    pub org: OrgId,
    /// Its name, unique within the organisation.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// Whether a user may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Its tokens authenticate and it can sign in.
    Active,
    /// Suspended: its tokens do not authenticate (they work again once it is enabled), it has
    /// no sessions and cannot sign in.
    Disabled,
    /// Gone for good: its tokens are revoked, its sessions ended. The row stays so that its name
    /// stays taken: the audit trail and stored records name it.
    Removed,
}

impl UserState {
    /// The state's name, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Removed => "removed",
        }
    }
}

/// A user as its organisation's admins see it: with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUser {
    /// The user.
    pub user: User,
    /// Whether it may act.
    pub state: UserState,
}

/// A bearer token, shown once when issued and never stored: the store keeps its SHA-256 only.
pub struct ApiToken(SecretString);

impl ApiToken {
    /// The token, to hand to its user.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// Who a request acts as: the user behind a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// The token it presented.
    pub token: TokenId,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    let n = name.trim().chars().count();
    if n == 0 || n > 200 || name.trim() != name { Err(StoreError::InvalidName(what)) } else { Ok(()) }
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its id.
    pub id: TokenId,
    /// Whose it is.
    pub user: UserId,
    /// What it is for.
    pub label: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once revoked.
    pub revoked_at: Option<i64>,
}

/// The columns [`listed_from_row`] reads, of `users u`.
const LISTED_COLUMNS: &str = "u.id, u.org_id, u.name, u.role, u.disabled_at, u.removed_at";

fn listed_from_row(r: &sqlx::any::AnyRow) -> Result<ListedUser, StoreError> {
    let role: String = r.get(3);
    let user = User {
        id: UserId(r.get(0)),
        org: OrgId(r.get(1)),
        name: r.get(2),
        role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
    };
    let state = match (r.get::<Option<i64>, _>(4), r.get::<Option<i64>, _>(5)) {
        (_, Some(_)) => UserState::Removed,
        (Some(_), None) => UserState::Disabled,
        (None, None) => UserState::Active,
    };
    Ok(ListedUser { user, state })
}

/// A user of `org` on `conn`, with its state.
pub(crate) async fn listed_user(
    conn: &mut sqlx::AnyConnection,
    org: &OrgId,
    user: &UserId,
) -> Result<ListedUser, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LISTED_COLUMNS} FROM users u WHERE u.id = $1 AND u.org_id = $2"
    )))
    .bind(user.as_str())
    .bind(org.as_str())
    .fetch_optional(conn)
    .await?;
    listed_from_row(&row.ok_or(StoreError::NotFound("user"))?)
}

/// Takes `org`'s write lock for the rest of the transaction `conn` is in: changes of users'
/// states queue behind each other, so that two admins disabling each other at once cannot
/// leave the organisation without an active admin (a write locks the row on PostgreSQL, the
/// database on SQLite).
pub(crate) async fn lock_organisation(conn: &mut sqlx::AnyConnection, org: &OrgId) -> Result<(), StoreError> {
    let done =
        sqlx::query("UPDATE organisations SET name = name WHERE id = $1").bind(org.as_str()).execute(conn).await?;
    if done.rows_affected() == 0 { Err(StoreError::NotFound("user")) } else { Ok(()) }
}

/// Fails with `LastAdmin` if `user` is an active admin and `org` has no other.
pub(crate) async fn check_not_last_admin(
    conn: &mut sqlx::AnyConnection,
    org: &OrgId,
    user: &ListedUser,
) -> Result<(), StoreError> {
    if user.user.role != Role::Admin || user.state != UserState::Active {
        return Ok(());
    }
    let others: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM users u WHERE u.org_id = $1 AND u.role = 'admin' AND u.id <> $2 AND {ACTIVE_USER}"
    )))
    .bind(org.as_str())
    .bind(user.user.id.as_str())
    .fetch_one(conn)
    .await?;
    if others == 0 { Err(StoreError::LastAdmin) } else { Ok(()) }
}

/// Ends every browser session of `user` and voids its unused sign-in links, on `conn`: how many
/// of each.
pub(crate) async fn end_sessions_and_links(
    conn: &mut sqlx::AnyConnection,
    user: &UserId,
) -> Result<(u64, u64), StoreError> {
    let sessions =
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(user.as_str()).execute(&mut *conn).await?;
    let links = sqlx::query("DELETE FROM signin_links WHERE user_id = $1 AND used_at IS NULL")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok((sessions.rows_affected(), links.rows_affected()))
}

impl Store {
    /// A page of `org`'s users by name, removed ones included: at most `limit`, after the user
    /// `after`.
    pub async fn users_page(
        &self,
        org: &OrgId,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<ListedUser>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LISTED_COLUMNS} FROM users u WHERE u.org_id = $1 AND ($2 = '' OR u.name > \
             (SELECT c.name FROM users c WHERE c.id = $2 AND c.org_id = $1)) ORDER BY u.name LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(after.map_or("", UserId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(listed_from_row).collect()
    }

    /// A user of `org`, with its state.
    pub async fn user(&self, org: &OrgId, user: &UserId) -> Result<ListedUser, StoreError> {
        let mut conn = self.pool.acquire().await?;
        listed_user(&mut conn, org, user).await
    }

    /// Disables (`disabled`) or enables again a user of `org`, as `actor`, and audits it. Disabling
    /// ends every browser session the user has, voids its unused sign-in links, and its tokens stop
    /// authenticating until it is enabled; the organisation's last active admin cannot be
    /// disabled. Asking for the state a user is in already changes nothing (and audits nothing);
    /// a removed user stays removed.
    pub async fn set_user_disabled(
        &self,
        org: &OrgId,
        user: &UserId,
        disabled: bool,
        actor: &str,
    ) -> Result<ListedUser, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_organisation(&mut tx, org).await?;
        let mut listed = listed_user(&mut tx, org, user).await?;
        let wanted = if disabled { UserState::Disabled } else { UserState::Active };
        match listed.state {
            UserState::Removed => return Err(StoreError::UserInactive("removed")),
            state if state == wanted => return Ok(listed),
            _ => {}
        }
        let now = now_ms();
        let detail = if disabled {
            check_not_last_admin(&mut tx, org, &listed).await?;
            sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                .bind(now)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            let (sessions, links) = end_sessions_and_links(&mut tx, user).await?;
            serde_json::json!({ "user": user.as_str(), "name": listed.user.name, "sessions_ended": sessions,
                "links_voided": links })
        } else {
            sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            serde_json::json!({ "user": user.as_str(), "name": listed.user.name })
        };
        let kind = if disabled { "user.disabled" } else { "user.enabled" };
        append_audit(&mut tx, org, now, actor, kind, &detail).await?;
        tx.commit().await?;
        listed.state = wanted;
        Ok(listed)
    }

    /// Gives a user of `org` another role, as `actor`, and audits it (`user.role_changed`). The
    /// organisation's last active admin keeps its role; a removed user has none to change. Its
    /// sessions and tokens stay and act with the new role from their next request. Asking for
    /// the role a user has changes nothing (and audits nothing).
    pub async fn set_user_role(
        &self,
        org: &OrgId,
        user: &UserId,
        role: Role,
        actor: &str,
    ) -> Result<ListedUser, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_organisation(&mut tx, org).await?;
        let mut listed = listed_user(&mut tx, org, user).await?;
        if listed.state == UserState::Removed {
            return Err(StoreError::UserInactive("removed"));
        }
        if listed.user.role == role {
            return Ok(listed);
        }
        if listed.user.role == Role::Admin {
            check_not_last_admin(&mut tx, org, &listed).await?;
        }
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({ "user": user.as_str(), "name": listed.user.name,
            "from": listed.user.role.as_str(), "to": role.as_str() });
        append_audit(&mut tx, org, now_ms(), actor, "user.role_changed", &detail).await?;
        tx.commit().await?;
        listed.user.role = role;
        Ok(listed)
    }

    /// Removes a user of `org`, as `actor`, and audits it: its tokens are revoked, its sessions
    /// ended, its unused sign-in links voided. Its row stays, marked removed, and with it its name
    /// (taken for good), which the audit trail and stored records keep. The organisation's last
    /// active admin cannot be removed. Removing a removed user changes nothing.
    pub async fn remove_user(&self, org: &OrgId, user: &UserId, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        lock_organisation(&mut tx, org).await?;
        let listed = listed_user(&mut tx, org, user).await?;
        if listed.state == UserState::Removed {
            return Ok(());
        }
        check_not_last_admin(&mut tx, org, &listed).await?;
        let now = now_ms();
        sqlx::query("UPDATE users SET removed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        let tokens = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let (sessions, links) = end_sessions_and_links(&mut tx, user).await?;
        let detail = serde_json::json!({ "user": user.as_str(), "name": listed.user.name, "tokens_revoked": tokens,
            "sessions_ended": sessions, "links_voided": links });
        append_audit(&mut tx, org, now, actor, "user.removed", &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tokens of `users` (of `org`), oldest first.
    pub async fn tokens(&self, org: &OrgId, users: &[UserId]) -> Result<Vec<TokenInfo>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..users.len()).map(|i| format!("${}", i + 2)).collect();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.id, t.user_id, t.label, t.created_at, t.revoked_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE u.org_id = $1 AND u.id IN ({}) ORDER BY t.created_at, t.id",
            placeholders.join(", ")
        )))
        .bind(org.as_str());
        for user in users {
            query = query.bind(user.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: TokenId(r.get(0)),
                user: UserId(r.get(1)),
                label: r.get(2),
                created_at: r.get(3),
                revoked_at: r.get(4),
            })
            .collect())
    }

    /// Adds an organisation.
    pub async fn create_organisation(&self, name: &str) -> Result<Organisation, StoreError> {
        check_name("an organisation name", name)?;
        let id = OrgId::generate();
        sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) { StoreError::Conflict("an organisation of that name") } else { e.into() }
            })?;
        Ok(Organisation { id, name: name.to_owned() })
    }

    /// The organisation of a name.
    pub async fn organisation_by_name(&self, name: &str) -> Result<Option<Organisation>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM organisations WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Organisation { id: OrgId(r.get(0)), name: r.get(1) }))
    }

    /// The name of an organisation.
    pub async fn organisation_name(&self, org: &OrgId) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT name FROM organisations WHERE id = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.ok_or(StoreError::NotFound("organisation"))?.get(0))
    }

    /// Every organisation on this node.
    pub async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows = sqlx::query("SELECT id, name FROM organisations ORDER BY name").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| Organisation { id: OrgId(r.get(0)), name: r.get(1) }).collect())
    }

    /// Adds a user to an organisation.
    pub async fn create_user(&self, org: &OrgId, name: &str, role: Role) -> Result<User, StoreError> {
        check_name("a user name", name)?;
        let id = UserId::generate();
        sqlx::query("INSERT INTO users (id, org_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.as_str())
            .bind(org.as_str())
            .bind(name)
            .bind(role.as_str())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                e if is_unique_violation(e) => StoreError::Conflict("a user of that name"),
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("organisation"),
                _ => e.into(),
            })?;
        Ok(User { id, org: org.clone(), name: name.to_owned(), role })
    }

    /// Fails with `NotFound` unless `user` belongs to `org`, and with `UserInactive` unless it
    /// is active.
    pub(crate) async fn check_user_of(&self, org: &OrgId, user: &UserId) -> Result<(), StoreError> {
        match self.user(org, user).await?.state {
            UserState::Active => Ok(()),
            state => Err(StoreError::UserInactive(state.as_str())),
        }
    }

    /// Issues a token for an active user of `org`. The token is returned once; only its hash is
    /// kept.
    pub async fn issue_token(
        &self,
        org: &OrgId,
        user: &UserId,
        label: &str,
    ) -> Result<(TokenId, ApiToken), StoreError> {
        check_name("a token label", label)?;
        self.check_user_of(org, user).await?;
        let id = TokenId::generate();
        let token = ApiToken(SecretString::from(format!("bm_{}{}", random_hex(), random_hex())));
        sqlx::query("INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.as_str())
            .bind(user.as_str())
            .bind(token_hash(token.expose()))
            .bind(label)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok((id, token))
    }

    /// The user behind a token, if it is valid, not revoked and its user active.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.id, u.id, u.org_id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND {ACTIVE_USER}"
        )))
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.get(4);
        Ok(Some(Principal {
            token: TokenId(r.get(0)),
            user: User {
                id: UserId(r.get(1)),
                org: OrgId(r.get(2)),
                name: r.get(3),
                role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
            },
        }))
    }

    /// Revokes a token of `org`: it authenticates no more, and every browser session signed in
    /// with it ends. How many sessions ended.
    pub async fn revoke_token(&self, org: &OrgId, token: &TokenId) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND user_id IN (SELECT id FROM users WHERE org_id = $3)",
        )
        .bind(now_ms())
        .bind(token.as_str())
        .bind(org.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("token"));
        }
        let sessions =
            sqlx::query("DELETE FROM web_sessions WHERE token_id = $1").bind(token.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(sessions.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::on_both_backends;

    async fn kinds(store: &Store, org: &OrgId) -> Vec<String> {
        store.audit_trail(org, 100).await.unwrap().into_iter().map(|e| e.kind).collect()
    }

    async fn disabled_users_cannot_act_until_enabled(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let other = store.create_organisation("Other").await.unwrap().id;
        let ada = store.create_user(&org, "ada", Role::Admin).await.unwrap();
        let rep = store.create_user(&org, "rep", Role::Rep).await.unwrap();
        let (_, token) = store.issue_token(&org, &rep.id, "laptop").await.unwrap();
        let link = store.issue_signin_link(&org, &rep.id, "ada").await.unwrap();
        let (token_id, _) = store.issue_token(&org, &rep.id, "phone").await.unwrap();
        let with_token = store.open_session(&rep.id, Some(&token_id)).await.unwrap();
        let with_link = store.open_session(&rep.id, None).await.unwrap();

        // Another organisation's admin cannot touch the user.
        for disabled in [true, false] {
            let refused = store.set_user_disabled(&other, &rep.id, disabled, "mallory").await;
            assert!(matches!(refused, Err(StoreError::NotFound(_))), "{refused:?}");
        }
        assert!(matches!(store.remove_user(&other, &rep.id, "mallory").await, Err(StoreError::NotFound(_))));
        assert!(matches!(store.end_user_sessions(&other, &rep.id, "mallory").await, Err(StoreError::NotFound(_))));
        assert!(store.authenticate(token.expose()).await.unwrap().is_some());

        let listed = store.set_user_disabled(&org, &rep.id, true, "ada").await.unwrap();
        assert_eq!(listed.state, UserState::Disabled);
        assert!(store.authenticate(token.expose()).await.unwrap().is_none(), "its tokens stop at once");
        assert!(store.web_session(with_token.expose()).await.unwrap().is_none(), "the token's session ended");
        assert!(store.web_session(with_link.expose()).await.unwrap().is_none(), "the link's session ended");
        assert_eq!(store.redeem_signin_link(link.expose()).await.unwrap(), None, "its unused link is void");
        assert!(matches!(store.open_session(&rep.id, None).await, Err(StoreError::UserInactive("disabled"))));
        assert!(matches!(store.issue_token(&org, &rep.id, "x").await, Err(StoreError::UserInactive("disabled"))));
        assert!(matches!(store.issue_signin_link(&org, &rep.id, "ada").await, Err(StoreError::UserInactive(_))));
        let again = store.set_user_disabled(&org, &rep.id, true, "ada").await.unwrap();
        assert_eq!(again.state, UserState::Disabled, "disabling twice changes nothing");

        let listed = store.set_user_disabled(&org, &rep.id, false, "ada").await.unwrap();
        assert_eq!(listed.state, UserState::Active);
        assert!(store.authenticate(token.expose()).await.unwrap().is_some(), "its tokens work again");
        assert!(store.web_session(with_link.expose()).await.unwrap().is_none(), "ended sessions stay ended");
        assert_eq!(kinds(&store, &org).await, ["user.enabled", "user.disabled"], "each change once");
        let trail = store.audit_trail(&org, 100).await.unwrap();
        assert_eq!(trail[1].actor, "ada");
        assert_eq!(trail[1].detail["sessions_ended"], 2);
        assert_eq!(trail[1].detail["links_voided"], 1);
        assert_eq!(trail[1].detail["name"], "rep");
        assert!(kinds(&store, &other).await.is_empty());
        let _ = ada;
    }

    async fn the_last_active_admin_stays(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let ada = store.create_user(&org, "ada", Role::Admin).await.unwrap();
        let bea = store.create_user(&org, "bea", Role::Admin).await.unwrap();
        store.set_user_disabled(&org, &ada.id, true, "ada").await.expect("bea is left");
        let last = store.set_user_disabled(&org, &bea.id, true, "bea").await;
        assert!(matches!(last, Err(StoreError::LastAdmin)), "{last:?}");
        assert!(matches!(store.remove_user(&org, &bea.id, "bea").await, Err(StoreError::LastAdmin)));
        // A disabled admin is not an active one: removing it leaves bea, who stays.
        store.remove_user(&org, &ada.id, "bea").await.unwrap();
        assert_eq!(store.user(&org, &bea.id).await.unwrap().state, UserState::Active);

        // Two admins disabling each other at once, again and again: one of them stays active.
        let mut last = bea;
        for round in 0..10 {
            let next = store.create_user(&org, &format!("admin{round}"), Role::Admin).await.unwrap();
            let (a, b) = tokio::join!(
                store.set_user_disabled(&org, &last.id, true, &next.name),
                store.set_user_disabled(&org, &next.id, true, &last.name)
            );
            assert!(a.is_ok() != b.is_ok(), "exactly one succeeds: {a:?} {b:?}");
            let states =
                [store.user(&org, &last.id).await.unwrap().state, store.user(&org, &next.id).await.unwrap().state];
            assert!(states.contains(&UserState::Active), "{states:?}");
            if states[1] == UserState::Active {
                last = next;
            }
        }
    }

    async fn removed_users_keep_their_name_and_nothing_else(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        store.create_user(&org, "ada", Role::Admin).await.unwrap();
        let kim = store.create_user(&org, "kim", Role::Rep).await.unwrap();
        let (first, token) = store.issue_token(&org, &kim.id, "laptop").await.unwrap();
        let session = store.open_session(&kim.id, None).await.unwrap();
        store.set_user_disabled(&org, &kim.id, true, "ada").await.unwrap();
        store.remove_user(&org, &kim.id, "ada").await.unwrap();
        assert_eq!(store.user(&org, &kim.id).await.unwrap().state, UserState::Removed);
        let tokens = store.tokens(&org, std::slice::from_ref(&kim.id)).await.unwrap();
        assert!(tokens.iter().all(|t| t.revoked_at.is_some()) && tokens[0].id == first, "revoked, still listed");
        assert!(store.authenticate(token.expose()).await.unwrap().is_none());
        assert!(store.web_session(session.expose()).await.unwrap().is_none());
        assert!(matches!(store.set_user_disabled(&org, &kim.id, false, "ada").await, Err(StoreError::UserInactive(_))));
        assert!(matches!(store.issue_token(&org, &kim.id, "x").await, Err(StoreError::UserInactive("removed"))));
        assert!(matches!(store.create_user(&org, "kim", Role::Rep).await, Err(StoreError::Conflict(_))), "name kept");
        store.remove_user(&org, &kim.id, "ada").await.unwrap();
        assert_eq!(kinds(&store, &org).await, ["user.removed", "user.disabled"], "removing twice audits once");
        let trail = store.audit_trail(&org, 1).await.unwrap();
        assert_eq!(
            (trail[0].detail["tokens_revoked"].as_u64(), trail[0].detail["name"].as_str()),
            (Some(1), Some("kim"))
        );
        let listed = store.users_page(&org, None, 10).await.unwrap();
        let states: Vec<(&str, UserState)> = listed.iter().map(|l| (l.user.name.as_str(), l.state)).collect();
        assert_eq!(states, [("ada", UserState::Active), ("kim", UserState::Removed)]);
    }

    on_both_backends!(
        disabled_users_cannot_act_until_enabled,
        the_last_active_admin_stays,
        removed_users_keep_their_name_and_nothing_else
    );
}

//! Organisations, users and API tokens.

use std::fmt;

use sha2::{Digest, Sha256};
use sqlx::Row;
use zeroize::Zeroizing;

use crate::error::is_unique_violation;
use crate::ids::{OrgId, TokenId, UserId, now_ms, random_hex};
use crate::{Store, StoreError};

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

/// A bearer token, shown once when issued and never stored: the store keeps its SHA-256 only.
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    /// The token, to hand to its user.
    pub fn expose(&self) -> &str {
        &self.0
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

fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
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

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    let role: String = r.get(3);
    Ok(User {
        id: UserId(r.get(0)),
        org: OrgId(r.get(1)),
        name: r.get(2),
        role: Role::parse(&role).ok_or(StoreError::Corrupt("users.role"))?,
    })
}

impl Store {
    /// A page of `org`'s users by name: at most `limit`, after the user `after`.
    pub async fn users_page(&self, org: &OrgId, after: Option<&UserId>, limit: u32) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, name, role FROM users WHERE org_id = $1 AND ($2 = '' OR name > \
             (SELECT c.name FROM users c WHERE c.id = $2 AND c.org_id = $1)) ORDER BY name LIMIT $3",
        )
        .bind(org.as_str())
        .bind(after.map_or("", UserId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
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

    /// Fails with `NotFound` unless `user` belongs to `org`.
    pub(crate) async fn check_user_of(&self, org: &OrgId, user: &UserId) -> Result<(), StoreError> {
        let owner = sqlx::query("SELECT 1 FROM users WHERE id = $1 AND org_id = $2")
            .bind(user.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        if owner.is_none() { Err(StoreError::NotFound("user")) } else { Ok(()) }
    }

    /// Issues a token for a user of `org`. The token is returned once; only its hash is kept.
    pub async fn issue_token(
        &self,
        org: &OrgId,
        user: &UserId,
        label: &str,
    ) -> Result<(TokenId, ApiToken), StoreError> {
        check_name("a token label", label)?;
        self.check_user_of(org, user).await?;
        let id = TokenId::generate();
        let token = ApiToken(Zeroizing::new(format!("bm_{}{}", random_hex(), random_hex())));
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

    /// The user behind a token, if it is valid and not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, u.id, u.org_id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
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

    /// Revokes a token of `org`; it authenticates no more.
    pub async fn revoke_token(&self, org: &OrgId, token: &TokenId) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND user_id IN (SELECT id FROM users WHERE org_id = $3)",
        )
        .bind(now_ms())
        .bind(token.as_str())
        .bind(org.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound("token")) } else { Ok(()) }
    }
}

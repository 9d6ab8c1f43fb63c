//! Single sign-on with an organisation's OpenID provider: its configuration (the client secret
//! sealed at rest), the sign-ins under way, and which user each of the provider's subjects is.
//!
//! The store keeps and checks; it speaks no OpenID. The node (`service::sso`) discovers the
//! provider, validates the ID token and maps its claims to a role before it asks the store for
//! the user ([`Store::sso_user`]).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::append_audit;
use crate::error::is_unique_violation;
use crate::ids::{OrgId, UserId, now_ms};
use crate::orgs::{Role, User, UserState};
use crate::sealed::{SSO_CLIENT_SECRETS, SSO_VERIFIERS};
use crate::{Store, StoreError};

/// How long a sign-in may stay at the provider before its answer is refused.
pub const SSO_FLOW_MS: i64 = 10 * 60_000;

/// An organisation's single sign-on settings, all but the client secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// The provider's issuer URL, exactly as its discovery document states it.
    pub issuer: String,
    /// This node's client id at the provider.
    pub client_id: String,
    /// Scopes asked for besides `openid` (e.g. `profile`, `email`, `groups`).
    pub scopes: Vec<String>,
    /// The ID token claim whose values say the role (a string or a list of strings, e.g. `groups`).
    pub role_claim: String,
    /// Which value of `role_claim` gives which role. Admin and rep only.
    pub role_map: BTreeMap<String, Role>,
    /// The role of a user none of whose values maps; `None` refuses such a user.
    pub default_role: Option<Role>,
    /// Only users whose `email` is at this domain may sign in.
    pub email_domain: Option<String>,
}

/// An organisation's configuration as stored: the settings, the client secret and who set it when.
pub struct SsoConfig {
    /// The settings.
    pub settings: SsoSettings,
    /// The client secret, opened (zeroized on drop, never printed).
    pub client_secret: SecretString,
    /// Who set it last.
    pub updated_by: String,
    /// When, Unix milliseconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("settings", &self.settings)
            .field("updated_by", &self.updated_by)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// An organisation offering single sign-on on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoOrganisation {
    /// Its id.
    pub id: OrgId,
    /// Its name.
    pub name: String,
}

/// A sign-in under way, as its answer finds it.
pub struct SsoFlow {
    /// The organisation it signs in to.
    pub org: OrgId,
    /// The SHA-256 (hex) of the browser's pre-session cookie that began it.
    pub browser_hash: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier (opened).
    pub verifier: SecretString,
    /// Whether it has expired.
    pub expired: bool,
}

/// The user a sign-in is, and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSignIn {
    /// The user, with its role as it is now.
    pub user: User,
    /// Made by this sign-in (the subject's first).
    pub created: bool,
    /// The role it had before, if this sign-in changed it.
    pub previous_role: Option<Role>,
}

/// SHA-256 in hex, of a state or a browser's cookie: the store keeps neither itself.
pub fn sso_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn role_of(name: &str) -> Result<Role, StoreError> {
    Role::parse(name).ok_or(StoreError::Corrupt("sso_configs.role"))
}

impl Store {
    /// Sets `org`'s single sign-on configuration (replacing any), as `actor`, and audits it
    /// (`sso.configured`, without the secret).
    pub async fn set_sso_config(
        &self,
        org: &OrgId,
        settings: &SsoSettings,
        client_secret: &SecretString,
        actor: &str,
    ) -> Result<(), StoreError> {
        let sealed = self.keyring()?.seal(&SSO_CLIENT_SECRETS, org.as_str(), client_secret.expose_secret());
        let map: serde_json::Map<String, serde_json::Value> =
            settings.role_map.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sso_configs WHERE org_id = $1").bind(org.as_str()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO sso_configs (org_id, issuer, client_id, client_secret, scopes, role_claim, role_map, \
             default_role, email_domain, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(org.as_str())
        .bind(&settings.issuer)
        .bind(&settings.client_id)
        .bind(sealed)
        .bind(settings.scopes.join(" "))
        .bind(&settings.role_claim)
        .bind(serde_json::Value::Object(map.clone()).to_string())
        .bind(settings.default_role.map(Role::as_str))
        .bind(settings.email_domain.as_deref())
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("organisation"),
            _ => e.into(),
        })?;
        let detail = serde_json::json!({ "issuer": settings.issuer, "client_id": settings.client_id,
            "scopes": settings.scopes, "role_claim": settings.role_claim, "role_map": map,
            "default_role": settings.default_role.map(Role::as_str), "email_domain": settings.email_domain });
        append_audit(&mut tx, org, now, actor, "sso.configured", &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `org`'s single sign-on configuration, if it has one, its client secret opened.
    pub async fn sso_config(&self, org: &OrgId) -> Result<Option<SsoConfig>, StoreError> {
        let row = sqlx::query(
            "SELECT issuer, client_id, client_secret, scopes, role_claim, role_map, default_role, email_domain, \
             updated_by, updated_at FROM sso_configs WHERE org_id = $1",
        )
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let sealed: String = r.get(2);
        let secret = self.keyring()?.open(&SSO_CLIENT_SECRETS, org.as_str(), &sealed)?;
        let scopes: String = r.get(3);
        let map: String = r.get(5);
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&map).map_err(|_| StoreError::Corrupt("sso_configs.role_map"))?;
        let role_map = map
            .into_iter()
            .map(|(k, v)| Ok((k, role_of(v.as_str().ok_or(StoreError::Corrupt("sso_configs.role_map"))?)?)))
            .collect::<Result<_, StoreError>>()?;
        let default_role: Option<String> = r.get(6);
        Ok(Some(SsoConfig {
            settings: SsoSettings {
                issuer: r.get(0),
                client_id: r.get(1),
                scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                role_claim: r.get(4),
                role_map,
                default_role: default_role.as_deref().map(role_of).transpose()?,
                email_domain: r.get(7),
            },
            client_secret: SecretString::from(secret.as_str()),
            updated_by: r.get(8),
            updated_at: r.get(9),
        }))
    }

    /// Removes `org`'s single sign-on configuration, as `actor`, and audits it; whether it had
    /// one. Users made by sign-ins stay, with their tokens and sessions; they cannot sign in
    /// with the provider any more.
    pub async fn remove_sso_config(&self, org: &OrgId, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM sso_configs WHERE org_id = $1").bind(org.as_str()).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sso_flows WHERE org_id = $1").bind(org.as_str()).execute(&mut *tx).await?;
        append_audit(&mut tx, org, now_ms(), actor, "sso.removed", &serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The organisations that offer single sign-on, by name.
    pub async fn sso_organisations(&self) -> Result<Vec<SsoOrganisation>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.name FROM organisations o JOIN sso_configs c ON c.org_id = o.id ORDER BY o.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| SsoOrganisation { id: OrgId(r.get(0)), name: r.get(1) }).collect())
    }

    /// Records a sign-in to `org` as it leaves for the provider, under the hash of its `state`,
    /// bound to the browser whose cookie hashes to `browser_hash`; it expires after
    /// [`SSO_FLOW_MS`]. Expired ones are deleted meanwhile.
    pub async fn begin_sso_flow(
        &self,
        org: &OrgId,
        state_hash: &str,
        browser_hash: &str,
        nonce: &str,
        verifier: &SecretString,
    ) -> Result<(), StoreError> {
        let sealed = self.keyring()?.seal(&SSO_VERIFIERS, state_hash, verifier.expose_secret());
        let now = now_ms();
        sqlx::query("DELETE FROM sso_flows WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO sso_flows (state_hash, org_id, browser_hash, nonce, pkce_verifier, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash)
        .bind(org.as_str())
        .bind(browser_hash)
        .bind(nonce)
        .bind(sealed)
        .bind(now + SSO_FLOW_MS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the sign-in recorded under `state_hash`: deleted as it is read, so that a state
    /// answers once (a second answer finds nothing). Expired ones are returned marked so.
    pub async fn take_sso_flow(&self, state_hash: &str) -> Result<Option<SsoFlow>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM sso_flows WHERE state_hash = $1 RETURNING org_id, browser_hash, nonce, pkce_verifier, \
             expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let sealed: String = r.get(3);
        let verifier = self.keyring()?.open(&SSO_VERIFIERS, state_hash, &sealed)?;
        let expires_at: i64 = r.get(4);
        Ok(Some(SsoFlow {
            org: OrgId(r.get(0)),
            browser_hash: r.get(1),
            nonce: r.get(2),
            verifier: SecretString::from(verifier.as_str()),
            expired: expires_at < now_ms(),
        }))
    }

    /// The user of `org` that `subject` of `issuer` is, made on its first sign-in (named `name`,
    /// or `name (subject)` if that name is taken) and given `role` on every sign-in: the
    /// provider's groups say the role. The organisation's last active admin keeps its role. A
    /// disabled or removed user fails with `UserInactive`. Creation and role changes are audited
    /// (`user.created`, `user.role_changed`, with `"by": "sso"`), in one transaction with them.
    pub async fn sso_user(
        &self,
        org: &OrgId,
        issuer: &str,
        subject: &str,
        name: &str,
        role: Role,
    ) -> Result<SsoSignIn, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        crate::orgs::lock_organisation(&mut tx, org).await?;
        let linked: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM sso_identities WHERE org_id = $1 AND issuer = $2 AND subject = $3")
                .bind(org.as_str())
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&mut *tx)
                .await?;
        let signin = match linked {
            Some(id) => {
                let listed = crate::orgs::listed_user(&mut tx, org, &UserId(id)).await?;
                if listed.state != UserState::Active {
                    return Err(StoreError::UserInactive(listed.state.as_str()));
                }
                let mut user = listed.user.clone();
                let keep = user.role == Role::Admin
                    && role != Role::Admin
                    && crate::orgs::check_not_last_admin(&mut tx, org, &listed).await.is_err();
                let previous_role = (user.role != role && !keep).then_some(user.role);
                if let Some(from) = previous_role {
                    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                        .bind(role.as_str())
                        .bind(user.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    let detail = serde_json::json!({ "user": user.id.as_str(), "name": user.name,
                        "from": from.as_str(), "to": role.as_str(), "by": "sso" });
                    append_audit(&mut tx, org, now, &user.name, "user.role_changed", &detail).await?;
                    user.role = role;
                }
                sqlx::query(
                    "UPDATE sso_identities SET last_signed_in_at = $1 WHERE org_id = $2 AND issuer = $3 \
                     AND subject = $4",
                )
                .bind(now)
                .bind(org.as_str())
                .bind(issuer)
                .bind(subject)
                .execute(&mut *tx)
                .await?;
                SsoSignIn { user, created: false, previous_role }
            }
            None => {
                let id = UserId::generate();
                let mut chosen = None;
                for candidate in [name.to_owned(), format!("{name} ({subject})")] {
                    let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE org_id = $1 AND name = $2")
                        .bind(org.as_str())
                        .bind(&candidate)
                        .fetch_one(&mut *tx)
                        .await?;
                    if taken == 0 {
                        chosen = Some(candidate);
                        break;
                    }
                }
                let name = chosen.ok_or(StoreError::Conflict("a user of that name"))?;
                crate::orgs::check_name("a user name", &name)?;
                sqlx::query("INSERT INTO users (id, org_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id.as_str())
                    .bind(org.as_str())
                    .bind(&name)
                    .bind(role.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) { StoreError::Conflict("a user of that name") } else { e.into() }
                    })?;
                sqlx::query(
                    "INSERT INTO sso_identities (org_id, issuer, subject, user_id, created_at, last_signed_in_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(org.as_str())
                .bind(issuer)
                .bind(subject)
                .bind(id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "user": name, "role": role.as_str(), "by": "sso" });
                append_audit(&mut tx, org, now, &name, "user.created", &detail).await?;
                SsoSignIn { user: User { id, org: org.clone(), name, role }, created: true, previous_role: None }
            }
        };
        tx.commit().await?;
        Ok(signin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::on_both_backends;

    fn settings() -> SsoSettings {
        SsoSettings {
            issuer: "https://id.example".into(),
            client_id: "blindmap".into(),
            scopes: vec!["profile".into(), "groups".into()],
            role_claim: "groups".into(),
            role_map: [("admins".to_owned(), Role::Admin), ("reps".to_owned(), Role::Rep)].into(),
            default_role: None,
            email_domain: Some("vendor.example".into()),
        }
    }

    async fn configs_are_per_organisation_and_sealed(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let other = store.create_organisation("Other").await.unwrap().id;
        assert!(store.sso_config(&org).await.unwrap().is_none());
        store.set_sso_config(&org, &settings(), &SecretString::from("s3cret-value"), "ada").await.unwrap();
        let config = store.sso_config(&org).await.unwrap().unwrap();
        assert_eq!((config.settings, config.client_secret.expose_secret()), (settings(), "s3cret-value"));
        assert!(!format!("{:?}", store.sso_config(&org).await.unwrap().unwrap()).contains("s3cret"));
        let raw: String = sqlx::query_scalar("SELECT client_secret FROM sso_configs WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(raw.starts_with("sealed:v1:") && !raw.contains("s3cret"), "sealed at rest");
        assert!(store.sso_config(&other).await.unwrap().is_none(), "another organisation's is not seen");
        assert_eq!(
            store.sso_organisations().await.unwrap(),
            [SsoOrganisation { id: org.clone(), name: "Vendor".into() }]
        );
        assert!(!store.remove_sso_config(&other, "mallory").await.unwrap());
        assert!(store.sso_config(&org).await.unwrap().is_some());
        let trail = store.audit_trail(&org, 1).await.unwrap();
        assert_eq!(trail[0].kind, "sso.configured");
        assert!(!trail[0].detail.to_string().contains("s3cret"));
        assert!(store.remove_sso_config(&org, "ada").await.unwrap());
        assert!(store.sso_config(&org).await.unwrap().is_none());
        assert_eq!(store.audit_trail(&org, 1).await.unwrap()[0].kind, "sso.removed");
    }

    async fn flows_answer_once(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let verifier = SecretString::from("verifier-0123456789-0123456789-0123456789");
        store.begin_sso_flow(&org, &sso_hash("st"), &sso_hash("br"), "n0nce", &verifier).await.unwrap();
        let flow = store.take_sso_flow(&sso_hash("st")).await.unwrap().unwrap();
        assert_eq!(
            (flow.org, flow.browser_hash.as_str(), flow.nonce.as_str()),
            (org.clone(), sso_hash("br").as_str(), "n0nce")
        );
        assert_eq!(flow.verifier.expose_secret(), verifier.expose_secret());
        assert!(!flow.expired);
        assert!(store.take_sso_flow(&sso_hash("st")).await.unwrap().is_none(), "a state answers once");
        assert!(store.take_sso_flow(&sso_hash("other")).await.unwrap().is_none());
        store.begin_sso_flow(&org, &sso_hash("old"), &sso_hash("br"), "n", &verifier).await.unwrap();
        sqlx::query("UPDATE sso_flows SET expires_at = 1").execute(&store.pool).await.unwrap();
        assert!(store.take_sso_flow(&sso_hash("old")).await.unwrap().unwrap().expired);
    }

    async fn subjects_are_users_of_their_organisation(store: Store) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let other = store.create_organisation("Other").await.unwrap().id;
        store.create_user(&org, "admin", Role::Admin).await.unwrap();
        let first = store.sso_user(&org, "https://id.example", "sub-1", "Kim", Role::Rep).await.unwrap();
        assert!(first.created && first.previous_role.is_none());
        assert_eq!((first.user.name.as_str(), first.user.role), ("Kim", Role::Rep));
        let again = store.sso_user(&org, "https://id.example", "sub-1", "Kim K", Role::Admin).await.unwrap();
        assert_eq!(again.user.id, first.user.id, "the same user");
        assert_eq!((again.created, again.previous_role, again.user.role), (false, Some(Role::Rep), Role::Admin));
        assert_eq!(
            store.user(&org, &first.user.id).await.unwrap().user.role,
            Role::Admin,
            "the role follows the provider"
        );
        // The same subject of another issuer, or in another organisation, is another user.
        let elsewhere = store.sso_user(&other, "https://id.example", "sub-1", "Kim", Role::Rep).await.unwrap();
        assert!(elsewhere.created && elsewhere.user.org == other);
        let twin = store.sso_user(&org, "https://other.example", "sub-1", "Kim", Role::Rep).await.unwrap();
        assert_eq!(twin.user.name, "Kim (sub-1)", "a taken name gets the subject");
        // The last active admin is not demoted by its provider.
        let solo = store.create_organisation("Solo").await.unwrap().id;
        let boss = store.sso_user(&solo, "https://id.example", "boss", "Boss", Role::Admin).await.unwrap();
        let kept = store.sso_user(&solo, "https://id.example", "boss", "Boss", Role::Rep).await.unwrap();
        assert_eq!((kept.user.id, kept.user.role, kept.previous_role), (boss.user.id, Role::Admin, None));
        // A disabled user is refused.
        store.set_user_disabled(&org, &first.user.id, true, "admin").await.unwrap();
        let refused = store.sso_user(&org, "https://id.example", "sub-1", "Kim", Role::Rep).await;
        assert!(matches!(refused, Err(StoreError::UserInactive("disabled"))), "{refused:?}");
        let kinds: Vec<String> = store.audit_trail(&org, 10).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["user.disabled", "user.created", "user.role_changed", "user.created"]);
    }

    on_both_backends!(
        configs_are_per_organisation_and_sealed,
        flows_answer_once,
        subjects_are_users_of_their_organisation
    );
}

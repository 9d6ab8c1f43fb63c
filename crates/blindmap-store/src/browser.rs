//! Partners that match in their browser (spec §20): a partnership recorded with a link whose
//! secret the partner's page presents on every visit.

use sqlx::Row;
use zeroize::Zeroizing;

use crate::error::is_unique_violation;
use crate::ids::{OrgId, PartnershipId, now_ms, random_hex};
use crate::partnerships::{InviteSecret, PARTNERSHIP_COLUMNS, hash, partnership_from_row};
use crate::sealed::BROWSER_KEYS;
use crate::{Partnership, PartnershipState, Store, StoreError};

/// A browser partnership's link, as its organisation sees it (never the secret: shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserLink {
    /// Who made (or last renewed) it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds: the link stops working then.
    pub expires_at: i64,
    /// When a partner's page last presented it (Unix milliseconds).
    pub last_used_at: Option<i64>,
}

/// What a presented secret opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitation {
    /// No link has this secret (never had, or it was renewed since).
    Unknown,
    /// The link expired at `expires_at` (Unix milliseconds).
    Expired {
        /// The partnership it was for.
        partnership: Partnership,
        /// Unix milliseconds.
        expires_at: i64,
    },
    /// The partnership has ended.
    Ended(Partnership),
    /// A valid link: the partnership, and when the link expires.
    Valid {
        /// The partnership, active.
        partnership: Partnership,
        /// Unix milliseconds.
        expires_at: i64,
    },
}

impl Store {
    /// Records a partnership of `org` with `partner_name`, a partner matching in its browser,
    /// and its link, valid for `ttl_ms`: the partnership and the link's secret, shown once.
    pub async fn create_browser_partnership(
        &self,
        org: &OrgId,
        partner_name: &str,
        created_by: &str,
        ttl_ms: i64,
    ) -> Result<(Partnership, InviteSecret, i64), StoreError> {
        let id = PartnershipId::generate();
        let now = now_ms();
        let partnership = Partnership {
            id: id.clone(),
            org: org.clone(),
            partner_name: partner_name.to_owned(),
            partner_url: String::new(),
            partner_fingerprint: String::new(),
            partner_ref: String::new(),
            state: PartnershipState::Active,
            created_at: now,
        };
        let secret = InviteSecret::generate();
        let expires_at = now.saturating_add(ttl_ms);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO partnerships (id, org_id, partner_name, partner_url, partner_fingerprint, partner_ref, \
             state, created_at) VALUES ($1, $2, $3, '', '', '', 'active', $4)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(partner_name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) { StoreError::Conflict("a partnership of that name") } else { e.into() }
        })?;
        sqlx::query(
            "INSERT INTO browser_invitations (partnership_id, org_id, secret_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(hash(secret.expose()))
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((partnership, secret, expires_at))
    }

    /// Replaces the link of `org`'s browser partnership `id` with a new one valid for `ttl_ms`:
    /// the old link stops working at once. `NotFound` for a partnership without a link (a
    /// node's), `Ended` for an ended one.
    pub async fn renew_browser_link(
        &self,
        org: &OrgId,
        id: &PartnershipId,
        created_by: &str,
        ttl_ms: i64,
    ) -> Result<(InviteSecret, i64), StoreError> {
        let partnership = self.partnership(org, id).await?;
        if partnership.state == PartnershipState::Ended {
            return Err(StoreError::Ended);
        }
        let secret = InviteSecret::generate();
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms);
        let renewed = sqlx::query(
            "UPDATE browser_invitations SET secret_hash = $1, created_by = $2, created_at = $3, expires_at = $4 \
             WHERE partnership_id = $5 AND org_id = $6",
        )
        .bind(hash(secret.expose()))
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&self.pool)
        .await?;
        if renewed.rows_affected() != 1 {
            return Err(StoreError::NotFound("browser partnership"));
        }
        // A new link, new keys (spec §20.5).
        sqlx::query("DELETE FROM browser_keys WHERE partnership_id = $1").bind(id.as_str()).execute(&self.pool).await?;
        Ok((secret, expires_at))
    }

    /// The link of `org`'s partnership `id`, if it is a browser partnership.
    pub async fn browser_link(&self, org: &OrgId, id: &PartnershipId) -> Result<Option<BrowserLink>, StoreError> {
        let row = sqlx::query(
            "SELECT created_by, created_at, expires_at, last_used_at FROM browser_invitations \
             WHERE partnership_id = $1 AND org_id = $2",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| BrowserLink {
            created_by: r.get(0),
            created_at: r.get(1),
            expires_at: r.get(2),
            last_used_at: r.get(3),
        }))
    }

    /// What the secret a partner's page presents opens. Marks a valid link used now.
    pub async fn open_browser_invitation(&self, secret: &str) -> Result<Invitation, StoreError> {
        let columns = PARTNERSHIP_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns}, i.expires_at FROM browser_invitations i \
             JOIN partnerships p ON p.id = i.partnership_id AND p.org_id = i.org_id WHERE i.secret_hash = $1"
        )))
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(Invitation::Unknown) };
        let partnership = partnership_from_row(&row)?;
        let expires_at: i64 = row.get(8);
        let now = now_ms();
        if partnership.state == PartnershipState::Ended {
            return Ok(Invitation::Ended(partnership));
        }
        if expires_at <= now {
            return Ok(Invitation::Expired { partnership, expires_at });
        }
        sqlx::query("UPDATE browser_invitations SET last_used_at = $1 WHERE partnership_id = $2")
            .bind(now)
            .bind(partnership.id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(Invitation::Valid { partnership, expires_at })
    }
}

/// How long kept keys serve a partnership's sessions at most (spec §20.5).
pub const KEPT_KEYS_MAX_AGE_MS: i64 = 30 * 24 * 3600 * 1000;

impl Store {
    /// The keys `partnership`'s sessions are served under while this organisation's dataset
    /// `dataset` is the one matched (spec §20.5), and when they were made (Unix ms): the kept
    /// ones, unless they were made for another dataset or more than 30 days ago; then new ones,
    /// kept (sealed) in their place. Two replicas asking at once agree on one.
    pub async fn kept_keys(
        &self,
        partnership: &PartnershipId,
        dataset: &crate::DatasetId,
    ) -> Result<(Zeroizing<[u8; 32]>, i64), StoreError> {
        let keyring = self.keyring()?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT dataset_id, keys, created_at FROM browser_keys WHERE partnership_id = $1")
            .bind(partnership.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = &row {
            let (kept_for, sealed, made): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
            if kept_for == dataset.as_str() && now.saturating_sub(made) < KEPT_KEYS_MAX_AGE_MS {
                let text = keyring.open(&BROWSER_KEYS, partnership.as_str(), &sealed)?;
                let mut keys = Zeroizing::new([0u8; 32]);
                hex::decode_to_slice(text.as_bytes(), keys.as_mut_slice())
                    .map_err(|_| StoreError::Corrupt("browser_keys.keys"))?;
                tx.commit().await?;
                return Ok((keys, made));
            }
        }
        let mut keys = Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rand::rng(), keys.as_mut_slice());
        let sealed = keyring.seal(&BROWSER_KEYS, partnership.as_str(), &hex::encode(keys.as_slice()));
        sqlx::query("DELETE FROM browser_keys WHERE partnership_id = $1")
            .bind(partnership.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO browser_keys (partnership_id, dataset_id, keys, created_at) VALUES ($1, $2, $3, $4)")
            .bind(partnership.as_str())
            .bind(dataset.as_str())
            .bind(sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((keys, now))
    }
}

impl InviteSecret {
    /// A new secret: 256 random bits as 64 lower-case hex digits.
    pub(crate) fn generate() -> Self {
        Self(secrecy::SecretString::from(format!("{}{}", random_hex(), random_hex())))
    }
}

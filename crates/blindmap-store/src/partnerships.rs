//! Partnerships, their invites, and what each side shares.

use std::fmt;

use blindmap_psi::{FieldName, Level};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::is_unique_violation;
use crate::ids::{OrgId, PartnershipId, now_ms, random_hex};
use crate::{Store, StoreError};

/// An invite's secret: shown once inside the invite code, kept only as a hash.
pub struct InviteSecret(pub(crate) SecretString);

impl InviteSecret {
    /// The secret, to put in the invite code.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteSecret(<redacted>)")
    }
}

/// Whether data may flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnershipState {
    /// Both sides accepted; matching is possible.
    Active,
    /// Either side ended it: nothing flows any more.
    Ended,
}

/// One side's record of a partnership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partnership {
    /// Its id on this node.
    pub id: PartnershipId,
    /// The organisation on this node.
    pub org: OrgId,
    /// The partner organisation's name, unique per organisation here.
    pub partner_name: String,
    /// The partner node's URL.
    pub partner_url: String,
    /// The partner node's certificate fingerprint: peer calls must present that certificate.
    pub partner_fingerprint: String,
    /// The partner node's id for this partnership.
    pub partner_ref: String,
    /// Active or ended.
    pub state: PartnershipState,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A rule: what this side discloses for its segment `own` against the partner's `partner`
/// (`*` for any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharingRule {
    /// This side's segment, or `*`.
    pub own_segment: String,
    /// The partner's segment, or `*`.
    pub partner_segment: String,
    /// The level: the protocol's own (spec §6.1).
    pub level: Level,
}

/// What this side of a partnership discloses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharingPolicy {
    /// Rules; the most specific one for a pair of segments applies, and counts where none does.
    pub rules: Vec<SharingRule>,
    /// Counts below this are shown as "< k".
    pub threshold: u32,
    /// No partner segment smaller than this is served.
    pub min_partner_segment: u32,
}

impl Partnership {
    /// Whether the partner matches in its browser (spec §20): it has no node and no
    /// certificate, and comes with the secret of its link.
    pub fn in_browser(&self) -> bool {
        self.partner_fingerprint.is_empty()
    }
}

impl Default for SharingPolicy {
    /// Conservative: counts only, threshold 5, partner segments of at least 5.
    fn default() -> Self {
        Self { rules: Vec::new(), threshold: 5, min_partner_segment: 5 }
    }
}

impl SharingPolicy {
    /// The policy as JSON, as runs and the audit trail record it.
    pub fn to_json(&self) -> serde_json::Value {
        let rules: Vec<_> = self
            .rules
            .iter()
            .map(|r| {
                let mut rule = serde_json::json!({ "own_segment": r.own_segment, "partner_segment": r.partner_segment,
                    "level": r.level.name() });
                if let Level::Fields(fields) = &r.level {
                    rule["fields"] = serde_json::json!(fields.iter().map(FieldName::as_str).collect::<Vec<_>>());
                }
                rule
            })
            .collect();
        serde_json::json!({ "rules": rules, "threshold": self.threshold, "min_partner_segment": self.min_partner_segment })
    }
}

pub(crate) fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn partnership_from_row(r: &sqlx::any::AnyRow) -> Result<Partnership, StoreError> {
    let state: String = r.get(7);
    Ok(Partnership {
        id: PartnershipId(r.get(0)),
        org: OrgId(r.get(1)),
        partner_name: r.get(2),
        partner_url: r.get(3),
        partner_fingerprint: r.get(4),
        partner_ref: r.get(5),
        created_at: r.get(6),
        state: match state.as_str() {
            "active" => PartnershipState::Active,
            "ended" => PartnershipState::Ended,
            _ => return Err(StoreError::Corrupt("partnerships.state")),
        },
    })
}

pub(crate) const PARTNERSHIP_COLUMNS: &str =
    "id, org_id, partner_name, partner_url, partner_fingerprint, partner_ref, created_at, state";

impl Store {
    /// A one-time invite of `org`, valid for `ttl_ms`: its secret, and when it expires (Unix ms).
    pub async fn create_invite(
        &self,
        org: &OrgId,
        created_by: &str,
        ttl_ms: i64,
    ) -> Result<(InviteSecret, i64), StoreError> {
        let secret = InviteSecret::generate();
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms);
        sqlx::query(
            "INSERT INTO invites (id, org_id, secret_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(format!("inv_{}", random_hex()))
        .bind(org.as_str())
        .bind(hash(secret.expose()))
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok((secret, expires_at))
    }

    /// Uses up an invite: the organisation it invites to, if the secret is valid, unexpired and
    /// unused. Two redemptions of one secret never both succeed.
    pub async fn redeem_invite(&self, secret: &str) -> Result<Option<OrgId>, StoreError> {
        let now = now_ms();
        let used = sqlx::query(
            "UPDATE invites SET used_at = $1 WHERE secret_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash(secret))
        .execute(&self.pool)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT org_id FROM invites WHERE secret_hash = $1")
            .bind(hash(secret))
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(OrgId(row.get(0))))
    }

    /// Records an active partnership `id` (from [`PartnershipId::generate`], chosen first so
    /// that it can be told to the partner) of `org` with the organisation `partner_name` on the
    /// node at `partner_url` with certificate `partner_fingerprint`.
    pub async fn create_partnership(
        &self,
        id: &PartnershipId,
        org: &OrgId,
        partner_name: &str,
        partner_url: &str,
        partner_fingerprint: &str,
        partner_ref: &str,
    ) -> Result<Partnership, StoreError> {
        let partnership = Partnership {
            id: id.clone(),
            org: org.clone(),
            partner_name: partner_name.to_owned(),
            partner_url: partner_url.to_owned(),
            partner_fingerprint: partner_fingerprint.to_owned(),
            partner_ref: partner_ref.to_owned(),
            state: PartnershipState::Active,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO partnerships (id, org_id, partner_name, partner_url, partner_fingerprint, partner_ref, \
             state, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        )
        .bind(partnership.id.as_str())
        .bind(org.as_str())
        .bind(partner_name)
        .bind(partner_url)
        .bind(partner_fingerprint)
        .bind(partner_ref)
        .bind(partnership.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) { StoreError::Conflict("a partnership of that name") } else { e.into() }
        })?;
        Ok(partnership)
    }

    /// `org`'s partnerships, active and ended, by name.
    pub async fn partnerships(&self, org: &OrgId) -> Result<Vec<Partnership>, StoreError> {
        self.partnerships_page(org, None, u32::MAX).await
    }

    /// A page of `org`'s partnerships by partner name: at most `limit`, after the partnership
    /// `after`.
    pub async fn partnerships_page(
        &self,
        org: &OrgId,
        after: Option<&PartnershipId>,
        limit: u32,
    ) -> Result<Vec<Partnership>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PARTNERSHIP_COLUMNS} FROM partnerships WHERE org_id = $1 AND ($2 = '' OR partner_name > \
             (SELECT c.partner_name FROM partnerships c WHERE c.id = $2 AND c.org_id = $1)) \
             ORDER BY partner_name LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(after.map_or("", PartnershipId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(partnership_from_row).collect()
    }

    /// One partnership of `org`.
    pub async fn partnership(&self, org: &OrgId, id: &PartnershipId) -> Result<Partnership, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PARTNERSHIP_COLUMNS} FROM partnerships WHERE org_id = $1 AND id = $2"
        )))
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        partnership_from_row(&row.ok_or(StoreError::NotFound("partnership"))?)
    }

    /// The active partnership `id` whose partner presents the certificate `fingerprint`: how a
    /// peer call is authorised. Anything else — unknown, ended, another node's — is `None`.
    pub async fn partnership_for_peer(
        &self,
        id: &PartnershipId,
        fingerprint: &str,
    ) -> Result<Option<Partnership>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PARTNERSHIP_COLUMNS} FROM partnerships WHERE id = $1 AND partner_fingerprint = $2 AND state = 'active'"
        )))
        .bind(id.as_str())
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(partnership_from_row).transpose()
    }

    /// Ends a partnership of `org`: no data flows any more. Ending an ended one is a no-op.
    pub async fn end_partnership(&self, org: &OrgId, id: &PartnershipId) -> Result<(), StoreError> {
        self.partnership(org, id).await?;
        sqlx::query(
            "UPDATE partnerships SET state = 'ended', ended_at = $1 WHERE org_id = $2 AND id = $3 AND state = 'active'",
        )
        .bind(now_ms())
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces what `org` shares in a partnership, in one transaction.
    pub async fn set_sharing(&self, org: &OrgId, id: &PartnershipId, policy: &SharingPolicy) -> Result<(), StoreError> {
        self.partnership(org, id).await?;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sharing_rules WHERE partnership_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        for rule in &policy.rules {
            let fields: Vec<&str> = match &rule.level {
                Level::Fields(f) => f.iter().map(FieldName::as_str).collect(),
                _ => Vec::new(),
            };
            sqlx::query(
                "INSERT INTO sharing_rules (partnership_id, own_segment, partner_segment, level, fields) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.as_str())
            .bind(rule.own_segment.as_str())
            .bind(rule.partner_segment.as_str())
            .bind(rule.level.name())
            .bind(serde_json::json!(fields).to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a rule for that pair of segments")
                } else {
                    e.into()
                }
            })?;
        }
        sqlx::query("DELETE FROM sharing_settings WHERE partnership_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sharing_settings (partnership_id, threshold, min_partner_segment, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(i64::from(policy.threshold))
        .bind(i64::from(policy.min_partner_segment))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What `org` shares in a partnership (the conservative default until set).
    pub async fn sharing(&self, org: &OrgId, id: &PartnershipId) -> Result<SharingPolicy, StoreError> {
        self.partnership(org, id).await?;
        let mut policy = SharingPolicy::default();
        if let Some(row) =
            sqlx::query("SELECT threshold, min_partner_segment FROM sharing_settings WHERE partnership_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
        {
            let number =
                |i: usize| u32::try_from(row.get::<i64, _>(i)).map_err(|_| StoreError::Corrupt("sharing_settings"));
            policy.threshold = number(0)?;
            policy.min_partner_segment = number(1)?;
        }
        let rows = sqlx::query(
            "SELECT own_segment, partner_segment, level, fields FROM sharing_rules WHERE partnership_id = $1 \
             ORDER BY own_segment, partner_segment",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let level: String = r.get(2);
            let fields: Vec<String> = serde_json::from_str(&r.get::<String, _>(3))
                .map_err(|_| StoreError::Corrupt("sharing_rules.fields"))?;
            policy.rules.push(SharingRule {
                own_segment: r.get(0),
                partner_segment: r.get(1),
                level: match level.as_str() {
                    "hidden" => Level::Hidden,
                    "counts" => Level::Counts,
                    "overlaps" => Level::Overlaps,
                    "fields" => Level::Fields(
                        fields
                            .iter()
                            .map(|f| FieldName::new(f))
                            .collect::<Result<_, _>>()
                            .map_err(|_| StoreError::Corrupt("sharing_rules.fields"))?,
                    ),
                    _ => return Err(StoreError::Corrupt("sharing_rules.level")),
                },
            });
        }
        Ok(policy)
    }
}

//! Partnerships: invite codes, accepting a partner's, ending one, and what this side shares.
//! The API (`api/partnerships.rs`) and the pages call these, so pairing, ending and a sharing
//! change are checked, stored and audited the same way whoever asks.

use blindmap_psi::{FieldName, Level};
use blindmap_store::{
    Partnership, PartnershipId, PartnershipState, SharingPolicy, SharingRule, Store, StoreError, User,
};

use crate::NodeContext;
use crate::client::{ClientError, PeerClient};
use crate::peer::invite::InviteContent;
use crate::peer::{AcceptRequest, AcceptResponse};

/// How long an invite code stays valid.
pub(crate) const INVITE_TTL_MS: i64 = 24 * 3600 * 1000;

/// Why pairing, ending or a sharing change failed. `http::error` maps each to its status: a bad
/// code or rule → 422, the partner's refusal → 502, the store's own (no such partnership → 404).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PartnershipError {
    /// Not an invite code, this node's own, or a sharing rule or threshold out of range.
    #[error("{0}")]
    Invalid(String),
    /// The partner's node refused or could not be reached.
    #[error("the partner node: {0}")]
    Partner(String),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientError> for PartnershipError {
    fn from(e: ClientError) -> Self {
        Self::Partner(e.to_string())
    }
}

/// A new invite code for a partner's admin, and when it expires (Unix milliseconds).
pub(crate) async fn invite(store: &Store, node: &NodeContext, user: &User) -> Result<(String, i64), PartnershipError> {
    let org = &user.org;
    let (secret, expires_at) = store.create_invite(org, &user.name, INVITE_TTL_MS).await?;
    let content = InviteContent {
        url: node.public_url.get().cloned().unwrap_or_default(),
        fingerprint: node.identity.fingerprint(),
        secret: secret.expose().to_owned(),
        organisation: store.organisation_name(org).await?,
    };
    store.record_audit(org, &user.name, "partnership.invited", &serde_json::json!({})).await?;
    Ok((content.encode(), expires_at))
}

/// Accepts a partner's invite code: this node calls the partner's over mutual TLS, and both
/// record the partnership.
pub(crate) async fn accept(
    store: &Store,
    node: &NodeContext,
    user: &User,
    code: &str,
) -> Result<Partnership, PartnershipError> {
    let org = &user.org;
    let invite = InviteContent::parse(code.trim()).map_err(|e| PartnershipError::Invalid(e.to_string()))?;
    if invite.fingerprint == node.identity.fingerprint() {
        return Err(PartnershipError::Invalid("this invite is this node's own".into()));
    }
    let id = PartnershipId::generate();
    let request = AcceptRequest {
        secret: invite.secret,
        organisation: store.organisation_name(org).await?,
        url: node.public_url.get().cloned().unwrap_or_default(),
        partnership: id.to_string(),
    };
    let peer = PeerClient::new(&invite.url, &invite.fingerprint, &node.identity)?;
    let answer: AcceptResponse =
        peer.post("/peer/v1/accept", &serde_json::to_value(&request).expect("serialises")).await?;
    let partner_ref = PartnershipId::parse(&answer.partnership)
        .ok_or_else(|| PartnershipError::Partner("answered with an invalid partnership id".into()))?;
    let partnership = store
        .create_partnership(&id, org, &answer.organisation, &invite.url, &invite.fingerprint, partner_ref.as_str())
        .await?;
    let detail = serde_json::json!({ "partnership": id.to_string(), "partner": answer.organisation,
        "partner_fingerprint": invite.fingerprint });
    store.record_audit(org, &user.name, "partnership.accepted", &detail).await?;
    Ok(partnership)
}

/// Ends a partnership: nothing flows any more, on either side. The partner's node is told; if
/// it cannot be reached (or this process runs without a node), this side has ended it anyway.
pub(crate) async fn end(
    store: &Store,
    node: Option<&NodeContext>,
    user: &User,
    id: &PartnershipId,
) -> Result<Partnership, PartnershipError> {
    let org = &user.org;
    let partnership = store.partnership(org, id).await?;
    store.end_partnership(org, id).await?;
    let mut told = false;
    if partnership.state == PartnershipState::Active
        && !partnership.partner_url.is_empty()
        && let Some(node) = node
        && let Ok(peer) = PeerClient::to_partner(&partnership, &node.identity)
    {
        told = peer
            .post::<serde_json::Value>(
                &format!("/peer/v1/partnerships/{}/end", partnership.partner_ref),
                &serde_json::json!({}),
            )
            .await
            .is_ok();
    }
    let detail = serde_json::json!({ "partnership": id.to_string(), "partner_told": told });
    store.record_audit(org, &user.name, "partnership.ended", &detail).await?;
    Ok(store.partnership(org, id).await?)
}

/// One sharing rule as a person or a client writes it: segments by label (or `*`), the level
/// by name, and with `fields` the fields shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleText {
    pub(crate) own_segment: String,
    pub(crate) partner_segment: String,
    pub(crate) level: String,
    pub(crate) fields: Vec<String>,
}

/// The rule as text.
pub(crate) fn rule_text(rule: &SharingRule) -> RuleText {
    let fields = match &rule.level {
        Level::Fields(f) => f.iter().map(|f| f.as_str().to_owned()).collect(),
        _ => Vec::new(),
    };
    RuleText {
        own_segment: rule.own_segment.clone(),
        partner_segment: rule.partner_segment.clone(),
        level: rule.level.name().to_owned(),
        fields,
    }
}

/// A policy from its written parts, checked as a run will read it (segment labels, field names,
/// conflicting rules): a policy that passes is one every later run can use.
pub(crate) fn policy_of(
    rules: &[RuleText],
    threshold: u32,
    min_partner_segment: u32,
) -> Result<SharingPolicy, PartnershipError> {
    let invalid = PartnershipError::Invalid;
    if threshold == 0 || min_partner_segment == 0 {
        return Err(invalid("threshold and min_partner_segment must be at least 1".into()));
    }
    let segment = |s: &str| s == "*" || blindmap_records::segment_label(s).is_some_and(|l| l.as_str() == s);
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        if !segment(&r.own_segment) || !segment(&r.partner_segment) {
            return Err(invalid(format!(
                "segments are labels such as customers or * (got {:?} and {:?})",
                r.own_segment, r.partner_segment
            )));
        }
        let level = match (r.level.as_str(), r.fields.is_empty()) {
            ("hidden", true) => Level::Hidden,
            ("counts", true) => Level::Counts,
            ("overlaps", true) => Level::Overlaps,
            ("fields", false) => Level::Fields(
                r.fields
                    .iter()
                    .map(|f| FieldName::new(f).map_err(|e| invalid(format!("sharing rule field {f:?}: {e}"))))
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(invalid(
                    "level is hidden, counts, overlaps, or fields with a non-empty list of fields".into(),
                ));
            }
        };
        out.push(SharingRule { own_segment: r.own_segment.clone(), partner_segment: r.partner_segment.clone(), level });
    }
    let policy = SharingPolicy { rules: out, threshold, min_partner_segment };
    super::runs::disclosure_policy(&policy).map_err(|e| invalid(e.to_string()))?;
    Ok(policy)
}

/// Replaces what this side shares in a partnership; runs started afterwards use it.
pub(crate) async fn set_sharing(
    store: &Store,
    user: &User,
    id: &PartnershipId,
    policy: &SharingPolicy,
) -> Result<(), PartnershipError> {
    store.set_sharing(&user.org, id, policy).await?;
    let detail = serde_json::json!({ "partnership": id.to_string(), "rules": policy.rules.len(),
        "threshold": policy.threshold, "min_partner_segment": policy.min_partner_segment });
    store.record_audit(&user.org, &user.name, "sharing.changed", &detail).await?;
    Ok(())
}

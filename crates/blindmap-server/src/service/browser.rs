//! Partners that match in their browser (spec §20): the vendor names a partner and gets a link;
//! the partner opens it, imports its export in the page (WebAssembly built from this workspace's
//! protocol and importer crates) and matches against this node over a WebSocket, as the
//! initiator. This node answers as a Bloom-filter sender that learns nothing in the session
//! (spec §9.7), so that the browser's work follows the partner's list, not the vendor's.
//!
//! The API, the command line and the pages call these, so a link is made, renewed and audited
//! the same way whoever asks.

use blindmap_psi::{DisclosurePolicy, Level, SessionConfig};
use blindmap_store::{Invitation, Partnership, PartnershipId, SharingPolicy, SharingRule, Store, StoreError, User};

use crate::NodeContext;
use crate::service::runs::SharingError;
use crate::service::text;

/// How long a link stays valid unless asked otherwise.
pub(crate) const DEFAULT_LINK_DAYS: u32 = 30;
/// The longest a link may stay valid.
pub(crate) const MAX_LINK_DAYS: u32 = 365;
/// The path of the page a link opens, under the node's public URL.
pub(crate) const PAGE_PATH: &str = "/join";

/// The most records a partner's page may declare (spec §20.3): a browser holds its list in
/// memory, and this node evaluates all of it.
pub(crate) const MAX_RECORDS: u64 = 1_000_000;
/// The most keys a partner's page may declare.
pub(crate) const MAX_KEYS: u64 = 16_000_000;

/// How this node takes part in a browser partner's session: a Bloom-filter sender that learns
/// nothing (spec §9.7), with the browser's limits on what the partner declares.
pub(crate) fn session_config() -> SessionConfig {
    SessionConfig {
        learn: false,
        bloom: true,
        max_partner_records: MAX_RECORDS,
        max_partner_keys: MAX_KEYS,
        ..SessionConfig::default()
    }
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Why a link cannot be made or opened. `http::error` maps each to its status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BrowserError {
    /// A name or a validity out of range (422).
    #[error("{0}")]
    Invalid(String),
    /// The partnership is a node's, not a browser partner's (409).
    #[error("{0} matches from its own node or command line, not in the browser: it has no link")]
    NotBrowser(String),
    /// No link has this secret (403).
    #[error(
        "this invitation link is not valid: it may have been mistyped or cut short, or replaced by a newer \
         one; ask the vendor for the current link"
    )]
    Unknown,
    /// The link has expired (403).
    #[error("this invitation from {vendor} expired on {at}: ask {vendor} for a new link")]
    Expired {
        /// The inviting organisation.
        vendor: String,
        /// When, RFC 3339.
        at: String,
    },
    /// The partnership has ended (403).
    #[error("{vendor} has ended this partnership: the link no longer works")]
    Ended {
        /// The inviting organisation.
        vendor: String,
    },
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<text::TextError> for BrowserError {
    fn from(e: text::TextError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// A link as made: the partnership, the link itself (shown once: only its hash is kept) and
/// when it expires (Unix milliseconds).
pub(crate) struct Link {
    pub(crate) partnership: Partnership,
    pub(crate) link: String,
    pub(crate) expires_at: i64,
}

fn link_ttl(days: Option<u32>) -> Result<i64, BrowserError> {
    let days = days.unwrap_or(DEFAULT_LINK_DAYS);
    if !(1..=MAX_LINK_DAYS).contains(&days) {
        return Err(BrowserError::Invalid(format!("a link is valid for 1 to {MAX_LINK_DAYS} days, not {days}")));
    }
    Ok(i64::from(days) * DAY_MS)
}

fn link_of(node: &NodeContext, secret: &str) -> String {
    format!("{}{PAGE_PATH}#{secret}", node.public_url.get().map_or("", String::as_str))
}

/// Records a partnership with `partner`, who will match in its browser, and makes its link,
/// valid for `days` (default 30). The partnership starts sharing overlaps of every segment, the
/// most a browser partner can be shown (spec §20.3); its admins change that as for any other.
pub(crate) async fn invite(
    store: &Store,
    node: &NodeContext,
    user: &User,
    partner: &str,
    days: Option<u32>,
) -> Result<Link, BrowserError> {
    text::check_name("partner name", partner)?;
    let ttl = link_ttl(days)?;
    let (partnership, secret, expires_at) =
        store.create_browser_partnership(&user.org, partner, &user.name, ttl).await?;
    let sharing = SharingPolicy {
        rules: vec![SharingRule { own_segment: "*".into(), partner_segment: "*".into(), level: Level::Overlaps }],
        ..SharingPolicy::default()
    };
    store.set_sharing(&user.org, &partnership.id, &sharing).await?;
    let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "partner": partner, "in_browser": true,
        "expires_at": expires_at });
    store.record_audit(&user.org, &user.name, "partnership.invited", &detail).await?;
    Ok(Link { link: link_of(node, secret.expose()), partnership, expires_at })
}

/// Replaces the link of the browser partnership `id` with a new one valid for `days`: the old
/// link stops working at once.
pub(crate) async fn renew(
    store: &Store,
    node: &NodeContext,
    user: &User,
    id: &PartnershipId,
    days: Option<u32>,
) -> Result<Link, BrowserError> {
    let ttl = link_ttl(days)?;
    let partnership = store.partnership(&user.org, id).await?;
    if !partnership.in_browser() {
        return Err(BrowserError::NotBrowser(partnership.partner_name));
    }
    let (secret, expires_at) = store.renew_browser_link(&user.org, id, &user.name, ttl).await?;
    let detail = serde_json::json!({ "partnership": id.as_str(), "expires_at": expires_at });
    store.record_audit(&user.org, &user.name, "partnership.link_renewed", &detail).await?;
    Ok(Link { link: link_of(node, secret.expose()), partnership, expires_at })
}

/// Whether `secret` has the shape of a link's secret (64 lower-case hex digits): anything else
/// is refused without a query.
fn is_secret(secret: &str) -> bool {
    secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The active browser partnership whose link has `secret`, and when the link expires.
pub(crate) async fn open(store: &Store, secret: &str) -> Result<(Partnership, i64), BrowserError> {
    if !is_secret(secret) {
        return Err(BrowserError::Unknown);
    }
    match store.open_browser_invitation(secret).await? {
        Invitation::Unknown => Err(BrowserError::Unknown),
        Invitation::Valid { partnership, expires_at } => Ok((partnership, expires_at)),
        Invitation::Ended(p) => Err(BrowserError::Ended { vendor: store.organisation_name(&p.org).await? }),
        Invitation::Expired { partnership, expires_at } => Err(BrowserError::Expired {
            vendor: store.organisation_name(&partnership.org).await?,
            at: crate::rfc3339(expires_at),
        }),
    }
}

/// What this node discloses to a browser partner in a session, from the sharing policy it holds
/// for the partnership: a Bloom-filter sender serves the overlaps level only (spec §9.7), so a
/// counts cell is served hidden and a fields cell as overlaps (the page shows the partner what
/// it gets: [`served_level`]).
pub(crate) fn session_policy(policy: &SharingPolicy) -> Result<DisclosurePolicy, SharingError> {
    let mut served = policy.clone();
    for rule in &mut served.rules {
        rule.level = served_level(&rule.level);
    }
    let mut out = DisclosurePolicy::new(Level::Hidden)
        .with_threshold(policy.threshold)
        .with_min_partner_segment(policy.min_partner_segment);
    for (own, partner, level) in crate::service::runs::disclosure_rules(&served)? {
        out = out.with_rule(own, partner, level).map_err(SharingError::Rule)?;
    }
    Ok(out)
}

/// The level a browser partner is served for a cell the policy gives `level`.
pub(crate) fn served_level(level: &Level) -> Level {
    match level {
        Level::Hidden | Level::Counts => Level::Hidden,
        Level::Overlaps | Level::Fields(_) => Level::Overlaps,
    }
}

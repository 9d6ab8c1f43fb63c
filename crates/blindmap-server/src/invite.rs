//! Invite codes: `bminvite1.` and base64url JSON of the inviting node's URL, its certificate
//! fingerprint, a one-time secret and the inviting organisation's name.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// What every invite code starts with.
pub(crate) const INVITE_PREFIX: &str = "bminvite1.";

/// What an invite code carries.
#[derive(Serialize, Deserialize)]
pub(crate) struct InviteContent {
    pub(crate) url: String,
    pub(crate) fingerprint: String,
    pub(crate) secret: String,
    pub(crate) organisation: String,
}

impl InviteContent {
    /// The code to hand over.
    pub(crate) fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("an invite serialises");
        format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Reads a code; `None` unless it is a well-formed invite naming an https:// node and a
    /// SHA-256 fingerprint.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        let payload = code.trim().strip_prefix(INVITE_PREFIX)?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let content: Self = serde_json::from_slice(&json).ok()?;
        (content.url.starts_with("https://") && content.fingerprint.starts_with("sha256:")).then_some(content)
    }
}

/// The error text for a code that is not an invite.
pub(crate) const NOT_AN_INVITE: &str = "this is not a blindmap invite code (it starts with bminvite1.)";

//! Invite codes (protocol-spec §18.2): `bminvite1.` and the base64url (no padding) of a JSON
//! object naming the inviting node's URL, its certificate fingerprint, a one-time secret and the
//! inviting organisation's name.
//!
//! A code is typed or pasted by a person, so the parser says what is wrong with it — cut short,
//! wrapped, not an invite at all — and refuses anything that could make two readers disagree
//! about where it leads (a member given twice, a fingerprint that could never match).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// What every invite code starts with.
pub(crate) const INVITE_PREFIX: &str = "bminvite1.";

/// What an invite code carries (spec §18.2). Serialized in this order, compact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct InviteContent {
    pub(crate) url: String,
    pub(crate) fingerprint: String,
    pub(crate) secret: String,
    pub(crate) organisation: String,
}

/// Why a text is not a usable invite code. The messages are shown to the person who pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InviteError {
    /// Not even the prefix.
    #[error("this is not a blindmap invite code: it does not start with {INVITE_PREFIX}")]
    Prefix,
    /// The payload is not base64url without padding.
    #[error(
        "the invite code is damaged: the text after {INVITE_PREFIX} is not base64url ({0}); copy the whole code again"
    )]
    NotBase64(String),
    /// The payload does not decode to one JSON object.
    #[error("the invite code is damaged: its content is not a JSON object ({0})")]
    NotJson(String),
    /// A member is missing.
    #[error("the invite code has no {0}")]
    Missing(&'static str),
    /// A member is not a string.
    #[error("the invite code's {0} is not a string")]
    NotAString(&'static str),
    /// A member appears twice: readers keeping the first and the last would disagree.
    #[error("the invite code gives {0} twice")]
    Repeated(String),
    /// The node's URL is not https.
    #[error("the invite code's url {0:?} is not an https:// URL")]
    NotHttps(String),
    /// The fingerprint could never match a certificate.
    #[error("the invite code's fingerprint {0:?} is not sha256: and 64 lower-case hex digits")]
    BadFingerprint(String),
    /// No secret to present.
    #[error("the invite code's secret is empty")]
    EmptySecret,
}

impl InviteContent {
    /// The code to hand over (spec §18.2).
    pub(crate) fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("an invite serialises");
        format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Reads a code (spec §18.2): white space around it is ignored, members it does not know are
    /// ignored, anything else that is off is refused with what is wrong.
    pub(crate) fn parse(code: &str) -> Result<Self, InviteError> {
        let payload = code.trim().strip_prefix(INVITE_PREFIX).ok_or(InviteError::Prefix)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|e| InviteError::NotBase64(base64_problem(&e)))?;
        let Members(members) = serde_json::from_slice(&json).map_err(|e| InviteError::NotJson(json_problem(&e)))?;
        let mut seen: Vec<&str> = Vec::with_capacity(members.len());
        for (name, _) in &members {
            if seen.contains(&name.as_str()) {
                return Err(InviteError::Repeated(name.clone()));
            }
            seen.push(name);
        }
        let member = |name: &'static str| -> Result<String, InviteError> {
            match members.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
                None => Err(InviteError::Missing(name)),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(InviteError::NotAString(name)),
            }
        };
        let content = Self {
            url: member("url")?,
            fingerprint: member("fingerprint")?,
            secret: member("secret")?,
            organisation: member("organisation")?,
        };
        if content.url.strip_prefix("https://").is_none_or(str::is_empty) {
            return Err(InviteError::NotHttps(content.url));
        }
        if !is_fingerprint(&content.fingerprint) {
            return Err(InviteError::BadFingerprint(content.fingerprint));
        }
        if content.secret.is_empty() {
            return Err(InviteError::EmptySecret);
        }
        Ok(content)
    }
}

/// spec §18.1: `sha256:` and 64 lower-case hex digits, as [`crate::node::identity::fingerprint`] writes
/// it; fingerprints are compared as text, so any other spelling would never match.
fn is_fingerprint(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// What a person can do something about, from a base64 error.
fn base64_problem(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, b' ' | b'\t' | b'\r' | b'\n') => {
            format!("white space at character {}: was the code wrapped when copied?", INVITE_PREFIX.len() + at + 1)
        }
        base64::DecodeError::InvalidByte(_, b'=') | base64::DecodeError::InvalidPadding => {
            "it ends in = padding, which invite codes do not use".to_owned()
        }
        base64::DecodeError::InvalidByte(at, byte) => {
            format!(
                "{:?} at character {} is not one of A-Z a-z 0-9 - _",
                char::from(*byte),
                INVITE_PREFIX.len() + at + 1
            )
        }
        base64::DecodeError::InvalidLength(_) => "its length is impossible: was it cut short?".to_owned(),
        base64::DecodeError::InvalidLastSymbol(..) => "its last character is not a canonical ending".to_owned(),
    }
}

fn json_problem(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => "not an object".to_owned(),
        _ => e.to_string(),
    }
}

/// A JSON object's members in order, repeats kept (`serde_json::Map` would keep only the last).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    //! The invite vectors (`protocol-spec/vectors/invite.json`, spec §18), made independently of
    //! this code: the parser and encoder against every code, the fingerprint against every
    //! certificate. `BLINDMAP_WRITE_VECTORS=1` refreshes only the `error` texts, which are this
    //! implementation's own.

    use std::path::PathBuf;

    use rustls_pki_types::CertificateDer;
    use serde::Deserialize;

    use super::*;
    use crate::node::identity::fingerprint;

    #[derive(Deserialize)]
    struct Vectors {
        codes: Vec<Code>,
        refused: Vec<Refused>,
        fingerprints: Vec<Fingerprint>,
    }

    #[derive(Deserialize)]
    struct Code {
        description: String,
        canonical: bool,
        code: String,
        content: Content,
    }

    #[derive(Deserialize)]
    struct Content {
        url: String,
        fingerprint: String,
        secret: String,
        organisation: String,
    }

    #[derive(Deserialize)]
    struct Refused {
        why: String,
        code: String,
        error: Option<String>,
    }

    #[derive(Deserialize)]
    struct Fingerprint {
        description: String,
        certificate: String,
        fingerprint: String,
    }

    fn path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../protocol-spec/vectors/invite.json")
    }

    #[test]
    fn invite_vectors() {
        let text = std::fs::read_to_string(path()).unwrap();
        let vectors: Vectors = serde_json::from_str(&text).unwrap();
        assert!(!vectors.codes.is_empty() && !vectors.refused.is_empty() && !vectors.fingerprints.is_empty());
        for c in &vectors.codes {
            let want = InviteContent {
                url: c.content.url.clone(),
                fingerprint: c.content.fingerprint.clone(),
                secret: c.content.secret.clone(),
                organisation: c.content.organisation.clone(),
            };
            assert_eq!(InviteContent::parse(&c.code).as_ref(), Ok(&want), "{}", c.description);
            if c.canonical {
                assert_eq!(want.encode(), c.code, "{}", c.description);
            }
        }
        let mut errors = Vec::new();
        for r in &vectors.refused {
            let error = InviteContent::parse(&r.code).expect_err(&r.why).to_string();
            assert!(!r.code.trim().starts_with(INVITE_PREFIX) || !error.contains("does not start"), "{}", r.why);
            errors.push(error);
        }
        for f in &vectors.fingerprints {
            let der = hex::decode(&f.certificate).unwrap();
            assert_eq!(fingerprint(&CertificateDer::from(der)), f.fingerprint, "{}", f.description);
            assert!(is_fingerprint(&f.fingerprint), "{}", f.description);
        }
        if std::env::var_os("BLINDMAP_WRITE_VECTORS").is_some() {
            let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
            for (r, error) in value["refused"].as_array_mut().unwrap().iter_mut().zip(&errors) {
                r["error"] = serde_json::Value::String(error.clone());
            }
            let mut out = serde_json::to_string_pretty(&value).unwrap();
            out.push('\n');
            std::fs::write(path(), out).unwrap();
        }
        let stored: Vectors = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
        for (r, error) in stored.refused.iter().zip(&errors) {
            assert_eq!(r.error.as_ref(), Some(error), "{}: the message changed; refresh it on purpose", r.why);
        }
    }

    /// The reason is the first thing wrong, not "not an invite" for everything after the prefix.
    #[test]
    fn a_damaged_code_says_what_is_damaged() {
        let good = InviteContent {
            url: "https://vendor.example:7443".into(),
            fingerprint: format!("sha256:{}", "ab".repeat(32)),
            secret: "s".into(),
            organisation: "Vendor".into(),
        }
        .encode();
        let payload = &good[INVITE_PREFIX.len()..];
        let parse = |code: &str| InviteContent::parse(code).unwrap_err();
        assert_eq!(parse("hello"), InviteError::Prefix);
        assert!(matches!(
            parse(&format!("{INVITE_PREFIX}{}", &payload[..payload.len() - 3])),
            InviteError::NotBase64(_)
        ));
        assert!(parse(&format!("{INVITE_PREFIX}{} {}", &payload[..8], &payload[8..])).to_string().contains("wrapped"));
        assert!(matches!(parse(&format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode("[1]"))), InviteError::NotJson(_)));
        assert_eq!(
            parse(&format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(r#"{"url":"https://x","fingerprint":"f"}"#))),
            InviteError::Missing("secret")
        );
        let http = good.replace(
            payload,
            &URL_SAFE_NO_PAD.encode(r#"{"url":"http://x","fingerprint":"f","secret":"s","organisation":""}"#),
        );
        assert_eq!(parse(&http), InviteError::NotHttps("http://x".into()));
    }
}

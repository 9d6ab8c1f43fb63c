//! Webhook signatures as the Standard Webhooks specification defines them, so that receivers can
//! verify with the libraries they already have: headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the bytes of a
//! `whsec_<base64>` secret. Also the delivery schedule: retries with exponential backoff and
//! jitter, and when an endpoint is disabled.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;

/// What a secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from now, either way, for a signature to verify.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Every kind of event a node emits, and so every kind a webhook endpoint can ask for: the one
/// list the node's API, its command line and its outbox go by.
pub const EVENT_KINDS: &[&str] = &[
    "overlap.changed",
    "cosell.created",
    "cosell.updated",
    "registration.submitted",
    "registration.conflict",
    "registration.approved",
    "registration.rejected",
    "registration.extended",
    "registration.expired",
    "registration.closed",
    "attribution.recorded",
    "webhook.test",
];

/// A signing secret: its key bytes, zeroed when dropped, never printed.
pub struct Secret(Zeroizing<Vec<u8>>);

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A secret of these key bytes (24 to 64 of them; 32 is usual).
    pub fn from_bytes(key: &[u8]) -> Result<Self, Error> {
        if !(24..=64).contains(&key.len()) {
            return Err(Error::Invalid("a webhook secret has 24 to 64 bytes".into()));
        }
        Ok(Self(Zeroizing::new(key.to_vec())))
    }

    /// A secret from its text form, `whsec_` and base64.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = || Error::Invalid("a webhook secret is whsec_ followed by base64".into());
        let key = Zeroizing::new(
            STANDARD.decode(text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(invalid)?).map_err(|_| invalid())?,
        );
        Self::from_bytes(&key)
    }

    /// The text form, to show the endpoint's owner once.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    /// The MAC over `id.timestamp.body`, before finalising.
    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }

    /// Checks a delivery as a receiver would: the timestamp within the tolerance of `now`
    /// (seconds), and one of the space-separated `v1,` signatures matching.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], signatures: &str, now: i64) -> Result<(), Error> {
        if (now - timestamp).abs() > TOLERANCE_SECONDS {
            return Err(Error::Invalid("the webhook timestamp is too far from now".into()));
        }
        // verify_slice compares in constant time.
        let matches = signatures
            .split_whitespace()
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|s| STANDARD.decode(s).is_ok_and(|given| self.mac(id, timestamp, body).verify_slice(&given).is_ok()));
        if matches { Ok(()) } else { Err(Error::Invalid("no webhook signature matches".into())) }
    }
}

/// When to retry failed deliveries, and when to give up on an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The first retry's delay before jitter.
    pub base: Duration,
    /// The longest delay between attempts.
    pub cap: Duration,
    /// Attempts per event before it is given up (it stays in the log and the pull endpoint).
    pub max_attempts: u32,
    /// Consecutive failed attempts after which an endpoint is disabled.
    pub disable_after: u32,
}

impl Default for DeliveryPolicy {
    /// 5 s doubling to an hour, 32 attempts per event (retries for about a day), an endpoint
    /// disabled after 50 failures in a row.
    fn default() -> Self {
        Self { base: Duration::from_secs(5), cap: Duration::from_secs(3600), max_attempts: 32, disable_after: 50 }
    }
}

impl DeliveryPolicy {
    /// The delay before attempt `attempt + 1`, after `attempt` failures (1 for the first),
    /// with `jitter` in [0, 1): half the exponential delay fixed, half random ("equal jitter"),
    /// so that retries of many events spread out but never come early.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponential = self.base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))).min(self.cap);
        let half = exponential / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Whether an event that failed `attempts` times gets another attempt.
    pub fn retries(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// Whether an endpoint that failed `consecutive` times in a row is disabled.
    pub fn disables(&self, consecutive: u32) -> bool {
        consecutive >= self.disable_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signatures_reproduce_the_specification_test_vector() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TS, BODY), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(secret.expose().as_str(), SECRET, "the text form round-trips");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn verification_checks_time_body_and_any_listed_signature() {
        let secret = Secret::parse(SECRET).unwrap();
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        secret.verify(ID, TS, BODY, good, TS + 10).unwrap();
        secret.verify(ID, TS, BODY, &format!("v1,bm9wZQ== {good}"), TS).unwrap();
        assert!(secret.verify(ID, TS, BODY, good, TS + TOLERANCE_SECONDS + 1).is_err(), "too old");
        assert!(secret.verify(ID, TS, BODY, good, TS + TOLERANCE_SECONDS).is_ok(), "five minutes old, at the edge");
        assert!(secret.verify(ID, TS, BODY, good, TS - TOLERANCE_SECONDS).is_ok(), "five minutes ahead, at the edge");
        assert!(secret.verify(ID, TS, br#"{"test": 2432232315}"#, good, TS).is_err(), "another body");
        assert!(secret.verify("msg_other", TS, BODY, good, TS).is_err(), "another id");
        assert!(secret.verify(ID, TS, BODY, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", TS).is_err());
        let other = Secret::from_bytes(&[7u8; 32]).unwrap();
        assert!(other.verify(ID, TS, BODY, good, TS).is_err(), "another secret");
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err() && Secret::from_bytes(&[1; 8]).is_err());
    }

    #[test]
    fn retries_back_off_exponentially_with_bounded_jitter() {
        let p = DeliveryPolicy::default();
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(2500));
        assert_eq!(p.delay(1, 0.999_999), Duration::from_millis(4999) + Duration::from_nanos(997_500));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(10));
        assert_eq!(p.delay(30, 1.0), Duration::from_secs(3600), "capped");
        let total: Duration = (1..p.max_attempts).map(|a| p.delay(a, 1.0)).sum();
        assert!(total > Duration::from_secs(20 * 3600) && total < Duration::from_secs(26 * 3600), "{total:?}");
        assert!(p.retries(31) && !p.retries(32));
        assert!(!p.disables(49) && p.disables(50));
    }
}

//! What one caller, or one organisation, may ask of the node: so that one tenant cannot slow
//! every tenant.
//!
//! - **Rates** (GCRA, in memory per process): requests per minute per credential (an API token,
//!   a browser session's user, a partner's node) and per organisation. Beyond them: 429 with
//!   `Retry-After`, the seconds until a request would pass.
//! - **Concurrency**: at most a share of the database pool works for one organisation at once;
//!   its further requests wait their turn (first come, first served) up to a few seconds, then
//!   get 429 too. Report queries (the reps' lists and exports), the heaviest reads, get a smaller
//!   share of their own.
//!
//! Limits count per process: several replicas each allow as much (documented for operators).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::error::ApiError;

/// How a node limits its callers (from its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Requests per minute one credential may make (0: no limit).
    pub per_credential_per_minute: u32,
    /// Requests per minute one organisation's credentials may make together (0: no limit).
    pub per_organisation_per_minute: u32,
    /// Requests one organisation may have running at once.
    pub concurrent_per_organisation: usize,
    /// Report queries (overlap lists and exports) one organisation may have running at once.
    pub concurrent_reports_per_organisation: usize,
    /// How long a request waits for its organisation's turn before it is refused.
    pub queue_wait: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_credential_per_minute: 1200,
            per_organisation_per_minute: 6000,
            concurrent_per_organisation: 4,
            concurrent_reports_per_organisation: 2,
            queue_wait: Duration::from_secs(10),
        }
    }
}

/// The node's limits and what they have counted.
pub(crate) struct Throttle {
    config: ThrottleConfig,
    credentials: Option<DefaultKeyedRateLimiter<String>>,
    organisations: Option<DefaultKeyedRateLimiter<String>>,
    running: Mutex<HashMap<String, Arc<Semaphore>>>,
    reports: Mutex<HashMap<String, Arc<Semaphore>>>,
    checks: AtomicU64,
}

/// A request's place among its organisation's running ones: held for as long as it runs.
pub(crate) struct Admitted {
    _permit: OwnedSemaphorePermit,
}

/// A rate per minute as a GCRA quota, bursting up to a tenth of a minute's worth.
fn quota(per_minute: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(per_minute / 10).unwrap_or(NonZeroU32::MIN);
    Some(Quota::per_minute(rate).allow_burst(burst))
}

impl Throttle {
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            credentials: quota(config.per_credential_per_minute).map(RateLimiter::keyed),
            organisations: quota(config.per_organisation_per_minute).map(RateLimiter::keyed),
            running: Mutex::new(HashMap::new()),
            reports: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts a request of `credential` (e.g. `token:tok_…`) in `organisation` against both
    /// rates, then waits for the organisation's turn to run it.
    pub(crate) async fn admit(&self, credential: &str, organisation: &str) -> Result<Admitted, ApiError> {
        self.forget_idle_keys();
        let limited = |limiter: &Option<DefaultKeyedRateLimiter<String>>, key: &str, what: &str| {
            let Some(limiter) = limiter else { return Ok(()) };
            limiter.check_key(&key.to_owned()).map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    detail: format!("too many requests {what}; try again in {} s", wait.as_secs().max(1)),
                    retry_after_secs: wait.as_secs() + 1,
                }
            })
        };
        limited(&self.credentials, credential, "with this credential")?;
        limited(&self.organisations, organisation, "from this organisation")?;
        let permit = self.turn(&self.running, organisation, self.config.concurrent_per_organisation).await?;
        Ok(Admitted { _permit: permit })
    }

    /// Waits for one of `organisation`'s places among report queries.
    pub(crate) async fn report(&self, organisation: &str) -> Result<Admitted, ApiError> {
        let permit = self.turn(&self.reports, organisation, self.config.concurrent_reports_per_organisation).await?;
        Ok(Admitted { _permit: permit })
    }

    async fn turn(
        &self,
        places: &Mutex<HashMap<String, Arc<Semaphore>>>,
        organisation: &str,
        size: usize,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let semaphore = {
            let mut places = places.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            places.entry(organisation.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(size.max(1)))).clone()
        };
        match tokio::time::timeout(self.config.queue_wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::RateLimited {
                detail: format!(
                    "this organisation has {} requests of this kind running and more waiting; try again shortly",
                    size.max(1)
                ),
                retry_after_secs: 1,
            }),
        }
    }

    /// Now and then, drops what the rate limiters keep of keys not seen for a while, and the
    /// places of organisations with nothing running.
    fn forget_idle_keys(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 != 4095 {
            return;
        }
        for limiter in [&self.credentials, &self.organisations].into_iter().flatten() {
            limiter.retain_recent();
        }
        for places in [&self.running, &self.reports] {
            let mut places = places.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Idle: nobody holds a place, and nobody else holds the semaphore to wait on it.
            places.retain(|_, s| Arc::strong_count(s) > 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rates_count_per_credential_and_per_organisation() {
        let throttle = Throttle::new(ThrottleConfig {
            per_credential_per_minute: 30,
            per_organisation_per_minute: 50,
            ..ThrottleConfig::default()
        });
        // A burst of a tenth of a minute's worth passes; the next waits about two seconds.
        for _ in 0..3 {
            throttle.admit("token:a", "org1").await.unwrap();
        }
        let Err(ApiError::RateLimited { retry_after_secs, .. }) = throttle.admit("token:a", "org1").await else {
            panic!("over the credential's rate")
        };
        assert!((1..=3).contains(&retry_after_secs), "{retry_after_secs}");
        // Another credential of the organisation goes on, up to the organisation's burst.
        for _ in 0..2 {
            throttle.admit("token:b", "org1").await.unwrap();
        }
        assert!(throttle.admit("token:b", "org1").await.is_err(), "the organisation's burst is spent");
        // Another organisation is not affected.
        throttle.admit("token:c", "org2").await.unwrap();
    }

    #[tokio::test]
    async fn an_organisation_runs_its_share_at_once_and_others_are_not_held_up() {
        let throttle = Throttle::new(ThrottleConfig {
            per_credential_per_minute: 0,
            per_organisation_per_minute: 0,
            concurrent_per_organisation: 2,
            queue_wait: Duration::from_millis(50),
            ..ThrottleConfig::default()
        });
        let first = throttle.admit("token:a", "org1").await.unwrap();
        let _second = throttle.admit("token:a", "org1").await.unwrap();
        let Err(ApiError::RateLimited { .. }) = throttle.admit("token:a", "org1").await else {
            panic!("a third waits, then is refused")
        };
        throttle.admit("token:x", "org2").await.unwrap();
        drop(first);
        throttle.admit("token:a", "org1").await.unwrap();
    }
}

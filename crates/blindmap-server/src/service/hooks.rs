//! Webhook delivery: a worker in every node process leases due deliveries from the store, posts
//! each event signed as Standard Webhooks says, and records the answer — delivered, retried
//! later with backoff and jitter, or given up; an endpoint failing too often in a row is
//! disabled. Leases make replicas share the work; a process stopped mid-retry leaves the
//! delivery pending in the store, and whichever process runs next sends it (at least once, with
//! the same `webhook-id`). Deliveries reach only what [`egress`] permits, checked as they
//! connect.

mod egress;

use std::sync::Arc;
use std::time::{Duration, Instant};

use blindmap_cosell::webhook::{DeliveryPolicy, Secret};
use blindmap_store::{Attempt, Due, Retry, Store};
use tokio::sync::watch;

pub(crate) use egress::{ADDRESS_REFUSED, Refusal, WebhookEgress, is_address_refused};

/// Why an endpoint cannot be added. `http::error` maps each: a URL the node refuses or an unknown
/// event kind → 422; the store's own (no such endpoint → 404).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HookError {
    /// The URL is not one this node sends to.
    #[error("{0}")]
    Url(String),
    /// An event kind no node emits.
    #[error("unknown event kind {0:?}; kinds: {kinds}", kinds = blindmap_cosell::webhook::EVENT_KINDS.join(", "))]
    UnknownKind(String),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] blindmap_store::StoreError),
}

/// Adds an endpoint receiving `events` (empty: all) at `url`, checked against the node's egress
/// policy; returns it with its signing secret (`whsec_…`), which is shown once.
pub(crate) async fn create(
    store: &Store,
    egress: &WebhookEgress,
    actor: &blindmap_store::User,
    url: &str,
    events: &[String],
) -> Result<(blindmap_store::Endpoint, String), HookError> {
    let url = egress.check(url).map_err(|refusal| HookError::Url(refusal.to_string()))?;
    if let Some(unknown) = events.iter().find(|e| !blindmap_cosell::webhook::EVENT_KINDS.contains(&e.as_str())) {
        return Err(HookError::UnknownKind(unknown.clone()));
    }
    let key: [u8; 32] = rand::random();
    let secret = Secret::from_bytes(&key).expect("32 bytes");
    let endpoint = store.create_endpoint(&actor.org, url.as_str(), &secret.expose(), events).await?;
    let detail = serde_json::json!({ "endpoint": endpoint.id.to_string(), "events": events });
    store.record_audit(&actor.org, &actor.name, "hook.created", &detail).await?;
    Ok((endpoint, secret.expose().to_string()))
}

/// Enables (its failure count reset, its pending deliveries resumed) or disables an endpoint.
pub(crate) async fn set_enabled(
    store: &Store,
    actor: &blindmap_store::User,
    id: &blindmap_store::EndpointId,
    enabled: bool,
) -> Result<blindmap_store::Endpoint, HookError> {
    let endpoint = store.set_endpoint_enabled(&actor.org, id, enabled).await?;
    let kind = if enabled { "hook.enabled" } else { "hook.disabled" };
    store.record_audit(&actor.org, &actor.name, kind, &serde_json::json!({ "endpoint": id.to_string() })).await?;
    Ok(endpoint)
}

/// Sends a `webhook.test` event to one endpoint (through the outbox, signed and logged like any
/// delivery); returns its id (the delivery's `webhook-id`).
pub(crate) async fn send_test(
    store: &Store,
    actor: &blindmap_store::User,
    id: &blindmap_store::EndpointId,
) -> Result<blindmap_store::EventId, HookError> {
    let payload = serde_json::json!({ "endpoint": id.to_string(), "sent_by": actor.name,
        "note": "A test event an admin sent: nothing happened." });
    let event = store.record_test_event(&actor.org, id, &payload).await?;
    let detail = serde_json::json!({ "endpoint": id.to_string(), "event": event.id.to_string() });
    store.record_audit(&actor.org, &actor.name, "hook.tested", &detail).await?;
    Ok(event.id)
}

/// How long a lease lasts: longer than an attempt may take.
const LEASE_MS: i64 = 60_000;
/// Longest an attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often an idle worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries taken per look.
const BATCH: u32 = 32;

/// The HTTP client deliveries go out with: public roots, no redirects (a receiver cannot send a
/// delivery on to where it may not go), no proxy (the addresses checked are the ones connected
/// to), names resolved through [`egress::GuardedResolver`], a time limit.
fn client(egress: Arc<WebhookEgress>) -> reqwest::Client {
    client_with(egress, egress::system_lookup())
}

fn client_with(egress: Arc<WebhookEgress>, lookup: egress::Lookup) -> reqwest::Client {
    super::outbound(ATTEMPT_TIMEOUT)
        .dns_resolver(Arc::new(egress::GuardedResolver { egress, lookup }))
        .build()
        .expect("a webhook client")
}

/// An outbound client as deliveries have (public roots, no redirects, no proxy) whose names
/// resolve only to addresses `egress` allows: for the node's other calls out to where an admin
/// points them (CRM connections).
pub(crate) fn guarded_client(egress: Arc<WebhookEgress>, timeout: Duration) -> reqwest::Client {
    super::outbound(timeout)
        .dns_resolver(Arc::new(egress::GuardedResolver { egress, lookup: egress::system_lookup() }))
        .build()
        .expect("an outbound client")
}

/// RFC 3339 UTC time of Unix milliseconds, e.g. `2026-11-21T09:30:00.123Z`
/// ([`blindmap_cosell::time::format`]).
pub fn rfc3339(ms: i64) -> String {
    blindmap_cosell::time::format(ms)
}

/// The body of an event's delivery: `{"type", "timestamp", "data"}` as Standard Webhooks suggests.
pub(crate) fn body(due: &Due) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": due.event.kind,
        "timestamp": rfc3339(due.event.created_at),
        "data": due.event.payload,
    }))
    .expect("JSON")
}

/// One attempt at one delivery. One the policy refuses is logged as refused, the same whether or
/// not anything listens where it points.
async fn attempt(http: &reqwest::Client, egress: &WebhookEgress, due: &Due) -> Attempt {
    let started = Instant::now();
    let at = crate::now_ms();
    let timestamp = at / 1000;
    let body = body(due);
    let secret =
        due.secret.as_ref().map_err(ToString::to_string).and_then(|s| Secret::parse(s).map_err(|e| e.to_string()));
    let outcome = match (egress.check(&due.endpoint.url), secret) {
        (Err(refusal), _) => Err((None, refusal.logged().to_owned())),
        (_, Err(e)) => Err((None, format!("the endpoint's secret is unusable: {e}"))),
        (Ok(_), Ok(secret)) => {
            let signature = secret.sign(due.event.id.as_str(), timestamp, &body);
            let sent = http
                .post(&due.endpoint.url)
                .header("content-type", "application/json")
                .header("webhook-id", due.event.id.as_str())
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
                Ok(r) => Err((Some(r.status().as_u16()), format!("answered {}", r.status()))),
                Err(e) if is_address_refused(&e) => Err((None, ADDRESS_REFUSED.to_owned())),
                Err(e) => Err((None, format!("could not deliver: {e}"))),
            }
        }
    };
    let (status, error) = match outcome {
        Ok(status) => (Some(status), None),
        Err((status, error)) => (status, Some(error)),
    };
    Attempt {
        event: due.event.id.clone(),
        endpoint: due.endpoint.id.clone(),
        attempt: due.attempts + 1,
        at,
        status,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// Delivers due events, where `egress` permits, until `stop` turns true.
pub(crate) async fn run_worker(
    store: Store,
    policy: DeliveryPolicy,
    egress: Arc<WebhookEgress>,
    mut stop: watch::Receiver<bool>,
) {
    let http = client(egress.clone());
    loop {
        let due = match store.claim_due(crate::now_ms(), LEASE_MS, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for webhook deliveries");
                Vec::new()
            }
        };
        let idle = due.is_empty();
        let sends = due.iter().map(|d| async {
            let done = attempt(&http, &egress, d).await;
            let retry = if done.error.is_none() || !policy.retries(done.attempt) {
                Retry::GiveUp
            } else {
                let jitter = rand::random::<f64>();
                Retry::At(done.at + policy.delay(done.attempt, jitter).as_millis() as i64)
            };
            if let Some(error) = &done.error {
                tracing::info!(endpoint = %d.endpoint.id, event = %d.event.id, attempt = done.attempt, error = %error,
                    "webhook delivery failed");
            }
            if let Err(e) = store.finish_delivery(d, &done, retry, policy.disable_after).await {
                tracing::warn!(error = %e, "cannot record a webhook delivery");
            }
        });
        futures_util::future::join_all(sends).await;
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        } else if *stop.borrow() {
            return;
        }
    }
}

//! The outbox: events written in the same transaction as the change that caused them, their
//! deliveries to webhook endpoints (leased by whichever replica sends them, retried until they
//! succeed or are given up) and the delivery log. Events stay readable by cursor (the pull
//! endpoint) whatever became of their deliveries. Endpoints' signing secrets are sealed at rest.

use blindmap_cosell::webhook::EVENT_KINDS;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::ids::{EndpointId, EventId, OrgId, now_ms};
use crate::sealed::WEBHOOK_SECRETS;
use crate::{Backend, Store, StoreError};

/// Numbers the events committed since it last ran, after every event numbered before, oldest
/// first. Whatever a reader has paged through is numbered, so whatever is numbered later comes
/// after it: committed events are served at once, and none is ever skipped.
const NUMBER_EVENTS: &str = "UPDATE events SET seq = numbered.n FROM (SELECT id, \
    ROW_NUMBER() OVER (ORDER BY created_at, id) + (SELECT COALESCE(MAX(seq), 0) FROM events) AS n \
    FROM events WHERE seq IS NULL) AS numbered WHERE events.id = numbered.id";
/// The PostgreSQL advisory lock numbering events takes, so that two replicas number one at a
/// time (SQLite has one writer anyway).
const NUMBERING_LOCK: i64 = 0x0062_6d65_7673_6571; // "bmevseq"

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    /// It does.
    Enabled,
    /// It does not: disabled by an admin, or after too many failures in a row.
    Disabled,
}

/// A webhook endpoint, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its id.
    pub id: EndpointId,
    /// The organisation.
    pub org: OrgId,
    /// Where deliveries go.
    pub url: String,
    /// The event kinds it wants; empty: all.
    pub events: Vec<String>,
    /// Enabled or disabled.
    pub state: EndpointState,
    /// Failed attempts since its last success.
    pub consecutive_failures: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// An event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its id (`msg_…`).
    pub id: EventId,
    /// The organisation.
    pub org: OrgId,
    /// Its kind, e.g. `cosell.created`.
    pub kind: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A delivery due now, leased to the caller.
pub struct Due {
    /// The event.
    pub event: Event,
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// The endpoint's secret (`whsec_…`), to sign with — or why it cannot be read (the delivery
    /// then fails; the other deliveries go on).
    pub secret: Result<Zeroizing<String>, StoreError>,
    /// Attempts made before this one.
    pub attempts: u32,
}

impl std::fmt::Debug for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Due")
            .field("event", &self.event)
            .field("endpoint", &self.endpoint)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The event.
    pub event: EventId,
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// Unix milliseconds.
    pub at: i64,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong, if anything did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this time (Unix milliseconds).
    At(i64),
    /// Give the event up for this endpoint (it stays readable by the pull endpoint).
    GiveUp,
}

const ENDPOINT_COLUMNS: &str = "id, org_id, url, events, state, consecutive_failures, created_at";

fn endpoint_from_row(r: &sqlx::any::AnyRow, offset: usize) -> Result<Endpoint, StoreError> {
    let events: String = r.get(offset + 3);
    Ok(Endpoint {
        id: EndpointId(r.get(offset)),
        org: OrgId(r.get(offset + 1)),
        url: r.get(offset + 2),
        events: serde_json::from_str(&events).map_err(|_| StoreError::Corrupt("webhook_endpoints.events"))?,
        state: match r.get::<String, _>(offset + 4).as_str() {
            "enabled" => EndpointState::Enabled,
            "disabled" => EndpointState::Disabled,
            _ => return Err(StoreError::Corrupt("webhook_endpoints.state")),
        },
        consecutive_failures: u32::try_from(r.get::<i64, _>(offset + 5)).unwrap_or(u32::MAX),
        created_at: r.get(offset + 6),
    })
}

pub(crate) fn event_from_row(r: &sqlx::any::AnyRow, offset: usize) -> Result<Event, StoreError> {
    let payload: String = r.get(offset + 3);
    Ok(Event {
        id: EventId(r.get(offset)),
        org: OrgId(r.get(offset + 1)),
        kind: r.get(offset + 2),
        payload: serde_json::from_str(&payload).map_err(|_| StoreError::Corrupt("events.payload"))?,
        created_at: r.get(offset + 4),
    })
}

/// Writes an event of `org` and a pending delivery to each enabled endpoint that wants its kind,
/// inside the caller's transaction.
pub(crate) async fn append_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &OrgId,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<Event, StoreError> {
    // Endpoints choose what they receive from EVENT_KINDS: a kind missing there could be sent
    // to no endpoint that asked for particular kinds.
    debug_assert!(EVENT_KINDS.contains(&kind), "{kind:?} is not in blindmap_cosell::webhook::EVENT_KINDS");
    let event = Event {
        id: EventId::generate(),
        org: org.clone(),
        kind: kind.to_owned(),
        payload: payload.clone(),
        created_at: now_ms(),
    };
    sqlx::query("INSERT INTO events (id, org_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(event.id.as_str())
        .bind(org.as_str())
        .bind(kind)
        .bind(payload.to_string())
        .bind(event.created_at)
        .execute(&mut **tx)
        .await?;
    crate::alerts::append_alert_event(tx, org, &event.id, kind, event.created_at).await?;
    let endpoints = sqlx::query("SELECT id, events FROM webhook_endpoints WHERE org_id = $1 AND state = 'enabled'")
        .bind(org.as_str())
        .fetch_all(&mut **tx)
        .await?;
    for e in endpoints {
        let wanted: Vec<String> = serde_json::from_str(&e.get::<String, _>(1))
            .map_err(|_| StoreError::Corrupt("webhook_endpoints.events"))?;
        if !wanted.is_empty() && !wanted.iter().any(|w| w == kind) {
            continue;
        }
        sqlx::query(
            "INSERT INTO deliveries (event_id, endpoint_id, state, attempts, next_attempt_at, lease_until, updated_at) \
             VALUES ($1, $2, 'pending', 0, $3, 0, $3)",
        )
        .bind(event.id.as_str())
        .bind(e.get::<String, _>(0))
        .bind(event.created_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(event)
}

impl Store {
    /// Adds a webhook endpoint of `org` receiving `events` (empty: all), signing with `secret`
    /// (kept sealed).
    pub async fn create_endpoint(
        &self,
        org: &OrgId,
        url: &str,
        secret: &str,
        events: &[String],
    ) -> Result<Endpoint, StoreError> {
        let endpoint = Endpoint {
            id: EndpointId::generate(),
            org: org.clone(),
            url: url.to_owned(),
            events: events.to_vec(),
            state: EndpointState::Enabled,
            consecutive_failures: 0,
            created_at: now_ms(),
        };
        let sealed = self.keyring()?.seal(&WEBHOOK_SECRETS, endpoint.id.as_str(), secret);
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, org_id, url, secret, events, state, consecutive_failures, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'enabled', 0, $6)",
        )
        .bind(endpoint.id.as_str())
        .bind(org.as_str())
        .bind(url)
        .bind(sealed)
        .bind(serde_json::json!(events).to_string())
        .bind(endpoint.created_at)
        .execute(&self.pool)
        .await?;
        Ok(endpoint)
    }

    /// `org`'s webhook endpoints, oldest first.
    pub async fn endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id"
        )))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| endpoint_from_row(r, 0)).collect()
    }

    /// Enables (its failure count reset) or disables an endpoint of `org`.
    pub async fn set_endpoint_enabled(
        &self,
        org: &OrgId,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<Endpoint, StoreError> {
        let state = if enabled { "enabled" } else { "disabled" };
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET state = $1, consecutive_failures = CASE WHEN $1 = 'enabled' THEN 0 \
             ELSE consecutive_failures END, disabled_at = CASE WHEN $1 = 'disabled' THEN $2 ELSE NULL END \
             WHERE id = $3 AND org_id = $4",
        )
        .bind(state)
        .bind(now_ms())
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("webhook endpoint"));
        }
        let all = self.endpoints(org).await?;
        all.into_iter().find(|e| &e.id == id).ok_or(StoreError::NotFound("webhook endpoint"))
    }

    /// Records an event of `org` on its own (with its deliveries), in one transaction.
    pub async fn record_event(
        &self,
        org: &OrgId,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<Event, StoreError> {
        let mut tx = self.begin_write().await?;
        let event = append_event(&mut tx, org, kind, payload).await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Records a `webhook.test` event of `org` with one delivery, to `endpoint` alone (whatever
    /// kinds it asked for), in one transaction: how an admin checks that a receiver gets and
    /// verifies deliveries. A disabled endpoint gets it once enabled again.
    pub async fn record_test_event(
        &self,
        org: &OrgId,
        endpoint: &EndpointId,
        payload: &serde_json::Value,
    ) -> Result<Event, StoreError> {
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT 1 FROM webhook_endpoints WHERE id = $1 AND org_id = $2")
            .bind(endpoint.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound("webhook endpoint"));
        }
        let event = Event {
            id: EventId::generate(),
            org: org.clone(),
            kind: "webhook.test".to_owned(),
            payload: payload.clone(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO events (id, org_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(event.id.as_str())
            .bind(org.as_str())
            .bind(&event.kind)
            .bind(payload.to_string())
            .bind(event.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO deliveries (event_id, endpoint_id, state, attempts, next_attempt_at, lease_until, updated_at) \
             VALUES ($1, $2, 'pending', 0, $3, 0, $3)",
        )
        .bind(event.id.as_str())
        .bind(endpoint.as_str())
        .bind(event.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(event)
    }

    /// A page of `org`'s events in the order they committed, after the event `after`: every
    /// committed event is served, and a reader moving forward by cursor never skips one.
    pub async fn events_page(
        &self,
        org: &OrgId,
        after: Option<&EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.number_events().await?;
        let rows = sqlx::query(
            "SELECT e.id, e.org_id, e.kind, e.payload, e.created_at FROM events e WHERE e.org_id = $1 \
             AND e.seq IS NOT NULL AND ($2 = '' OR e.seq > (SELECT c.seq FROM events c WHERE c.id = $2 \
             AND c.org_id = $1)) ORDER BY e.seq LIMIT $3",
        )
        .bind(org.as_str())
        .bind(after.map_or("", EventId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| event_from_row(r, 0)).collect()
    }

    /// Numbers the committed events that have no place in the feed yet ([`NUMBER_EVENTS`]).
    async fn number_events(&self) -> Result<(), StoreError> {
        let waiting = sqlx::query("SELECT 1 FROM events WHERE seq IS NULL LIMIT 1").fetch_optional(&self.pool).await?;
        if waiting.is_none() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Released at commit; the numbering below then sees what the last holder numbered.
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(NUMBERING_LOCK).execute(&mut *tx).await?;
        }
        sqlx::query(NUMBER_EVENTS).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Leases up to `limit` deliveries due at `now` to the caller for `lease_ms`: no other
    /// replica takes them until the lease ends (a caller that dies mid-way loses the lease, and
    /// the delivery is retried: at least once).
    pub async fn claim_due(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<Due>, StoreError> {
        let candidates = sqlx::query(
            "SELECT d.event_id, d.endpoint_id FROM deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND d.lease_until <= $1 AND w.state = 'enabled' \
             ORDER BY d.next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::new();
        for c in candidates {
            let (event, endpoint): (String, String) = (c.get(0), c.get(1));
            // Take it only if nobody else did meanwhile.
            let taken = sqlx::query(
                "UPDATE deliveries SET lease_until = $1 WHERE event_id = $2 AND endpoint_id = $3 \
                 AND state = 'pending' AND lease_until <= $4",
            )
            .bind(now + lease_ms)
            .bind(&event)
            .bind(&endpoint)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() != 1 {
                continue;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT e.id, e.org_id, e.kind, e.payload, e.created_at, d.attempts, w.secret, \
                 w.{} FROM deliveries d JOIN events e ON e.id = d.event_id \
                 JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.event_id = $1 AND d.endpoint_id = $2",
                ENDPOINT_COLUMNS.replace(", ", ", w.")
            )))
            .bind(&event)
            .bind(&endpoint)
            .fetch_one(&self.pool)
            .await?;
            let sealed: Zeroizing<String> = Zeroizing::new(row.get(6));
            let secret = self.keyring().and_then(|k| k.open(&WEBHOOK_SECRETS, &endpoint, &sealed));
            due.push(Due {
                event: event_from_row(&row, 0)?,
                attempts: u32::try_from(row.get::<i64, _>(5)).unwrap_or(u32::MAX),
                secret,
                endpoint: endpoint_from_row(&row, 7)?,
            });
        }
        Ok(due)
    }

    /// Records how an attempt at a leased delivery went: delivered, or failed and retried or
    /// given up; the endpoint's failure count follows, and an endpoint reaching
    /// `disable_after` failures in a row is disabled. Logged either way.
    pub async fn finish_delivery(
        &self,
        due: &Due,
        attempt: &Attempt,
        retry: Retry,
        disable_after: u32,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let delivered = attempt.error.is_none();
        let (state, next) = match (delivered, retry) {
            (true, _) => ("delivered", attempt.at),
            (false, Retry::At(at)) => ("pending", at),
            (false, Retry::GiveUp) => ("failed", attempt.at),
        };
        sqlx::query(
            "UPDATE deliveries SET state = $1, attempts = $2, next_attempt_at = $3, lease_until = 0, last_status = $4, \
             last_error = $5, updated_at = $6 WHERE event_id = $7 AND endpoint_id = $8",
        )
        .bind(state)
        .bind(i64::from(attempt.attempt))
        .bind(next)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.at)
        .bind(due.event.id.as_str())
        .bind(due.endpoint.id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (event_id, endpoint_id, attempt, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, endpoint_id, attempt) DO NOTHING",
        )
        .bind(due.event.id.as_str())
        .bind(due.endpoint.id.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.at)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        if delivered {
            sqlx::query("UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = $1")
                .bind(due.endpoint.id.as_str())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, \
                 state = CASE WHEN consecutive_failures + 1 >= $1 THEN 'disabled' ELSE state END, \
                 disabled_at = CASE WHEN consecutive_failures + 1 >= $1 THEN $2 ELSE disabled_at END WHERE id = $3",
            )
            .bind(i64::from(disable_after))
            .bind(attempt.at)
            .bind(due.endpoint.id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest attempts at deliveries to an endpoint of `org`, newest first.
    pub async fn delivery_log(
        &self,
        org: &OrgId,
        endpoint: &EndpointId,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.event_id, a.endpoint_id, a.attempt, a.at, a.status, a.error, a.duration_ms \
             FROM delivery_attempts a JOIN webhook_endpoints w ON w.id = a.endpoint_id \
             WHERE w.org_id = $1 AND a.endpoint_id = $2 ORDER BY a.at DESC, a.attempt DESC LIMIT $3",
        )
        .bind(org.as_str())
        .bind(endpoint.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Attempt {
                event: EventId(r.get(0)),
                endpoint: EndpointId(r.get(1)),
                attempt: u32::try_from(r.get::<i64, _>(2)).unwrap_or(0),
                at: r.get(3),
                status: r.get::<Option<i64>, _>(4).and_then(|s| u16::try_from(s).ok()),
                error: r.get(5),
                duration_ms: u64::try_from(r.get::<i64, _>(6)).unwrap_or(0),
            })
            .collect())
    }
}

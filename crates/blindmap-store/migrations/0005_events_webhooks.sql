-- Events and their delivery to webhook endpoints. An event is written in the same transaction as
-- the change that caused it, with one pending delivery per enabled endpoint that wants it: a
-- crash can lose neither. Deliveries are leased by whichever replica sends them (at least once).

CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    url                   TEXT NOT NULL,
    -- The signing secret (whsec_…): needed to sign, shown once at creation, never again.
    secret                TEXT NOT NULL,
    -- JSON list of event kinds; empty: every kind.
    events                TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    consecutive_failures  BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    disabled_at           BIGINT
);
CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (org_id, state);

-- Every event of an organisation, kept for the pull endpoint (by cursor) whether or not any
-- endpoint received it. `id` is the webhook-id receivers de-duplicate on.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_by_org ON events (org_id, created_at, id);

CREATE TABLE deliveries (
    event_id         TEXT NOT NULL REFERENCES events (id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    -- A replica sending it holds it until then; after that another may take it over.
    lease_until      BIGINT NOT NULL,
    last_status      BIGINT,
    last_error       TEXT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

-- The delivery log: every attempt, its answer and how long it took.
CREATE TABLE delivery_attempts (
    event_id     TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status       BIGINT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (event_id, endpoint_id, attempt)
);

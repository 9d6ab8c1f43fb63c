-- Alerts to the account owner (issue 18): chat tools an organisation sends overlap changes to,
-- the rules that say which changes go where, and the outbox their messages go through.
--
-- A channel is a Slack workspace (its app's bot token, sealed; the API's base URL; the channel
-- to fall back to when an owner is not found) or a Microsoft Teams workflow (its webhook URL,
-- sealed: the URL carries its signature).
CREATE TABLE alert_channels (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('slack', 'teams')),
    api_url          TEXT NOT NULL,
    secret           TEXT NOT NULL,
    fallback_channel TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- Which changes a rule sends: of one partnership or any (`partnership_id` NULL), in one own and
-- one partner segment or any (''), new or lost or both, of a tier or any (''). `route` is
-- `owner` (to each account's owner, found by e-mail; the channel where there is none) or
-- `channel`; `mode` is `immediate` (one message per run and recipient) or `digest` (one per
-- day at `digest_minute` of the day in `zone`).
CREATE TABLE alert_rules (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    name             TEXT NOT NULL,
    channel_id       TEXT NOT NULL REFERENCES alert_channels (id),
    partnership_id   TEXT REFERENCES partnerships (id),
    own_segment      TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    changes          TEXT NOT NULL CHECK (changes IN ('new', 'lost', 'both')),
    tier             TEXT NOT NULL,
    route            TEXT NOT NULL CHECK (route IN ('owner', 'channel')),
    mode             TEXT NOT NULL CHECK (mode IN ('immediate', 'digest')),
    digest_minute    BIGINT,
    zone             TEXT,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- The events alerts are made from, written with the event (in its transaction) while the
-- organisation has rules; whichever replica holds the lease turns one into messages.
CREATE TABLE alert_events (
    event_id         TEXT PRIMARY KEY REFERENCES events (id),
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'composed')),
    lease_until      BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE INDEX alert_events_pending ON alert_events (state, created_at);

-- One message per rule, recipient (an owner's e-mail address, or '' for the channel) and batch
-- (a run's event, or a digest's due time), sent when due by whichever replica leases it, retried
-- until delivered or given up like a webhook delivery.
CREATE TABLE alert_messages (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    rule_id          TEXT NOT NULL REFERENCES alert_rules (id),
    recipient        TEXT NOT NULL,
    recipient_name   TEXT NOT NULL,
    batch            TEXT NOT NULL,
    due_at           BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    delivered_to     TEXT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (rule_id, recipient, batch)
);
CREATE INDEX alert_messages_due ON alert_messages (state, next_attempt_at);
CREATE INDEX alert_messages_by_org ON alert_messages (org_id, created_at);

-- The accounts a message tells of: one change each, as the changes API lists it.
CREATE TABLE alert_items (
    message_id       TEXT NOT NULL REFERENCES alert_messages (id),
    run_id           TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    own_segment      TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    change           TEXT NOT NULL,
    payload          TEXT NOT NULL,
    PRIMARY KEY (message_id, run_id, account_id, own_segment, partner_segment, change)
);

-- Every attempt at a message: when, where it went, and what went wrong.
CREATE TABLE alert_attempts (
    message_id       TEXT NOT NULL REFERENCES alert_messages (id),
    attempt          BIGINT NOT NULL,
    at               BIGINT NOT NULL,
    status           BIGINT,
    delivered_to     TEXT,
    error            TEXT,
    duration_ms      BIGINT NOT NULL,
    PRIMARY KEY (message_id, attempt)
);

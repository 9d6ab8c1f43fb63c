-- CRM connections (issue 17): an organisation's link to its Salesforce org or HubSpot portal,
-- which the node reads accounts from (a sync builds a new dataset version) and writes overlaps
-- back to. The settings (login URL, client id, user, which fields to read, the quota share to
-- pause at) are JSON the node interprets; the credentials (a private key, a refresh token, a
-- private app's token, a client secret) are sealed under the node's secrets key. `cursor` is where
-- the next incremental sync reads from (the newest modification the last complete sync saw);
-- `dataset_id` the dataset it built.
CREATE TABLE crm_connections (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('salesforce', 'hubspot')),
    settings        TEXT NOT NULL,
    credentials     TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sync_cursor     TEXT,
    dataset_id      TEXT,
    UNIQUE (org_id, name)
);

-- Each sync of a connection: running (its heartbeat kept by the process that runs it), then
-- complete (with the dataset it built and its summary), failed or paused (with why; the
-- organisation's active dataset is untouched). One runs at a time per connection.
CREATE TABLE crm_syncs (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    connection_id   TEXT NOT NULL REFERENCES crm_connections (id),
    mode            TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
    state           TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed', 'paused')),
    phase           TEXT NOT NULL,
    started_by      TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    heartbeat_at    BIGINT NOT NULL,
    finished_at     BIGINT,
    records_read    BIGINT NOT NULL DEFAULT 0,
    records_deleted BIGINT NOT NULL DEFAULT 0,
    requests        BIGINT NOT NULL DEFAULT 0,
    dataset_id      TEXT,
    message         TEXT,
    summary         TEXT
);
CREATE UNIQUE INDEX crm_syncs_one_running ON crm_syncs (connection_id) WHERE state = 'running';
CREATE INDEX crm_syncs_by_connection ON crm_syncs (connection_id, started_at);

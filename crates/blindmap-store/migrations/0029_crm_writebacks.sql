-- Each write-back of a CRM connection (issue 17): running (its heartbeat kept by the process that
-- runs it), then complete (with how many records it wrote, removed and could not write, and its
-- summary) or failed (with why; what it wrote before it stopped is recorded in crm_writeback, so
-- the next one carries on). One runs at a time per connection.
CREATE TABLE crm_writebacks (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    connection_id   TEXT NOT NULL REFERENCES crm_connections (id),
    state           TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    phase           TEXT NOT NULL,
    started_by      TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    heartbeat_at    BIGINT NOT NULL,
    finished_at     BIGINT,
    written         BIGINT NOT NULL DEFAULT 0,
    removed         BIGINT NOT NULL DEFAULT 0,
    refused         BIGINT NOT NULL DEFAULT 0,
    requests        BIGINT NOT NULL DEFAULT 0,
    message         TEXT,
    summary         TEXT
);
CREATE UNIQUE INDEX crm_writebacks_one_running ON crm_writebacks (connection_id) WHERE state = 'running';
CREATE INDEX crm_writebacks_by_connection ON crm_writebacks (connection_id, started_at);

-- Idempotency keys of creating API calls: a retried request with the same key gets the first
-- one's response instead of acting twice. `status` is NULL while the first is still running.
CREATE TABLE idempotency_keys (
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT,
    response      TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);

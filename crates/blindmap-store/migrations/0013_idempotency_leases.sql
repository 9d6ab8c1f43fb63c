-- An idempotency key is held by the request running under it for a lease that request renews
-- while it runs: a request that died (client gone, timeout, crash) stops renewing, its key
-- lapses, and a retry runs. Keys unfinished from before leases have none: they count as lapsed.
-- Keys are remembered for a day; older ones are dropped as new ones are claimed.
ALTER TABLE idempotency_keys ADD COLUMN holder TEXT;
ALTER TABLE idempotency_keys ADD COLUMN lease_until BIGINT;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (org_id, created_at);

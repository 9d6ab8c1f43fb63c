-- An import is written in chunks, each its own short transaction (so that one organisation's
-- large import does not hold SQLite's one writer for minutes), under `state = 'importing'`: no
-- reader sees the dataset until the last chunk marks it `complete`. An import whose process
-- stopped (no heartbeat for a minute) is deleted by the next import.
ALTER TABLE datasets ADD COLUMN state TEXT NOT NULL DEFAULT 'complete';
ALTER TABLE datasets ADD COLUMN heartbeat_at BIGINT;

-- The dataset an organisation's runs match: chosen, not simply the newest (a stray upload must
-- not become what the next match uses). Until now it was the newest: that one stays active.
ALTER TABLE organisations ADD COLUMN active_dataset TEXT;
UPDATE organisations SET active_dataset = (
    SELECT d.id FROM datasets d WHERE d.org_id = organisations.id
    ORDER BY d.imported_at DESC, d.id DESC LIMIT 1);

-- Co-sell records and what lets a node find its own account behind a partner's reference.

-- The order in which a run sent this side's records, per own segment (JSON list of record
-- indexes in the dataset's line order): a partner names one of our records by its segment and
-- position in that order, and this maps the position back to our account.
CREATE TABLE run_orders (
    run_id      TEXT NOT NULL REFERENCES match_runs (id),
    segment     TEXT NOT NULL,
    record_order TEXT NOT NULL,
    PRIMARY KEY (run_id, segment)
);

-- A co-sell record as this side keeps it: the whole record (a CRDT both sides merge, JSON) and
-- the columns lists filter on. `version` guards read-merge-write against concurrent writers;
-- `dirty` marks a copy the partner has not acknowledged yet.
CREATE TABLE cosell_records (
    id              TEXT NOT NULL,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    partnership_id  TEXT NOT NULL REFERENCES partnerships (id),
    party           TEXT NOT NULL CHECK (party IN ('A', 'B')),
    status          TEXT NOT NULL,
    own_account     TEXT,
    record          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    dirty           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX cosell_by_partnership ON cosell_records (org_id, partnership_id, updated_at);
CREATE INDEX cosell_dirty ON cosell_records (dirty);

-- The protocol session a run was (hex of its session id): both sides' runs of one session share it.
ALTER TABLE match_runs ADD COLUMN session TEXT;

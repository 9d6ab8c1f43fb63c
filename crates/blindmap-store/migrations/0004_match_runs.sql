-- Match runs and what each side learned from them. A run belongs to one side: each node keeps
-- its own row for the same session, with its own role, dataset, policy and results.
-- A run is written `running` when it starts and gets its results in the one transaction that
-- marks it `complete`: a run cut short never shows a partial result as complete.

CREATE TABLE match_runs (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    partnership_id  TEXT NOT NULL REFERENCES partnerships (id),
    role            TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),
    dataset_id      TEXT NOT NULL REFERENCES datasets (id),
    started_by      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    failure         TEXT,
    -- What this side disclosed under: its sharing policy at the start (JSON).
    sharing         TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    -- The process driving the run refreshes this; a running run whose heartbeat is old failed.
    heartbeat_at    BIGINT NOT NULL,
    finished_at     BIGINT,
    records_done    BIGINT NOT NULL,
    records_total   BIGINT NOT NULL,
    -- The overlap matrix, both plans and traffic totals (JSON), once complete.
    result          TEXT,
    -- Every frame sent and received (protocol-spec/spec.md §16), when asked for.
    transcript      TEXT
);
CREATE INDEX match_runs_by_partnership ON match_runs (org_id, partnership_id, started_at);

-- One of this side's accounts that overlaps a partner record, where the partner disclosed at
-- least overlaps. The partner record is named by its segment and position in this session only.
CREATE TABLE run_overlaps (
    run_id           TEXT NOT NULL REFERENCES match_runs (id),
    account_id       TEXT NOT NULL,
    own_segment      TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    -- Position in the partner's segment for this session; -1 when the partner served a Bloom filter.
    partner_record   BIGINT NOT NULL,
    key_types        TEXT NOT NULL,
    -- Fields the partner disclosed for its record (JSON object; null values where it has none).
    fields           TEXT NOT NULL,
    PRIMARY KEY (run_id, own_segment, partner_segment, account_id, partner_record)
);

-- Scheduled runs and run budgets (issue 18).
--
-- A partnership's schedule says when this side starts runs with the partner by itself: daily at
-- a time of day in a time zone, every so many minutes, or after each new dataset of the
-- organisation (a CRM sync or an upload). `next_due_at` is when the next run is due (none for
-- `after_dataset` until a new dataset comes); `last_dataset` the dataset the last job was made
-- for, so that one dataset makes one job.
CREATE TABLE run_schedules (
    partnership_id   TEXT PRIMARY KEY REFERENCES partnerships (id),
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    kind             TEXT NOT NULL CHECK (kind IN ('daily', 'every', 'after_dataset')),
    every_minutes    BIGINT,
    at_minute        BIGINT,
    zone             TEXT,
    next_due_at      BIGINT,
    last_dataset     TEXT,
    set_by           TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX run_schedules_due ON run_schedules (next_due_at);

-- The runs schedules make, as jobs any replica may take: `pending` until due, then `running`
-- under a lease its holder renews (a replica that dies loses it, and another takes the job),
-- then `done` (its run complete) or `failed` (with why). A job whose run failed is tried again
-- later, up to a few attempts; one the partner refused for being too soon waits until the
-- partner allows it. One job per partnership and due time, whichever replica makes it.
CREATE TABLE run_jobs (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    partnership_id   TEXT NOT NULL REFERENCES partnerships (id),
    reason           TEXT NOT NULL,
    due_at           BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    holder           TEXT,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    run_id           TEXT,
    message          TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (partnership_id, due_at)
);
CREATE INDEX run_jobs_claim ON run_jobs (state, due_at);
CREATE INDEX run_jobs_by_partnership ON run_jobs (partnership_id, due_at);

-- What this side allows the partner to run against it: at most one run every
-- `min_interval_minutes` (0: no limit), and the partner's declared records changing by at most
-- `max_change_percent` between runs (none: no limit). The smallest partner segment served is the
-- sharing policy's `min_partner_segment`.
CREATE TABLE run_budgets (
    partnership_id        TEXT PRIMARY KEY REFERENCES partnerships (id),
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    min_interval_minutes  BIGINT NOT NULL DEFAULT 0,
    max_change_percent    BIGINT,
    set_by                TEXT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- Runs a partner started against this side and this side refused under its budget: when, why
-- (`too_soon` or `too_much_change`), and the words the partner was told.
CREATE TABLE run_refusals (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    partnership_id   TEXT NOT NULL REFERENCES partnerships (id),
    at               BIGINT NOT NULL,
    reason           TEXT NOT NULL CHECK (reason IN ('too_soon', 'too_much_change')),
    detail           TEXT NOT NULL
);
CREATE INDEX run_refusals_by_org ON run_refusals (org_id, at);

-- Deal registrations. A node keeps the registrations partners submitted to it (`received`: it is
-- the vendor, it decides) and copies of those it submitted to partners (`submitted`: the vendor's
-- node decides and tells it). `body` is the whole registration (JSON); `review` what only the
-- vendor sees of its checks; `notify` marks a received registration whose latest state the
-- submitter has not acknowledged; `version` guards read-modify-write across replicas.
CREATE TABLE registrations (
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    id              TEXT NOT NULL,
    partnership_id  TEXT NOT NULL REFERENCES partnerships (id),
    direction       TEXT NOT NULL CHECK (direction IN ('received', 'submitted')),
    state           TEXT NOT NULL,
    protected_until BIGINT,
    body            TEXT NOT NULL,
    review          TEXT NOT NULL,
    notify          BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    submitted_at    BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX registrations_by_time ON registrations (org_id, submitted_at);
CREATE INDEX registrations_due ON registrations (state, protected_until);
CREATE INDEX registrations_notify ON registrations (notify);

-- The end customer's keys of each received registration (`domain:…`, `duns:…`,
-- `name_country:CC|name`): claims on one customer are found by a key in common.
CREATE TABLE registration_keys (
    org_id          TEXT NOT NULL,
    key             TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    PRIMARY KEY (org_id, key, registration_id)
);

-- An organisation's rules for the registrations it receives (JSON); defaults when absent.
CREATE TABLE registration_settings (
    org_id   TEXT NOT NULL PRIMARY KEY REFERENCES organisations (id),
    settings TEXT NOT NULL
);

-- Pre-checks answered, per partnership: the rate limit and the daily budget count these.
CREATE TABLE prechecks (
    org_id          TEXT NOT NULL,
    partnership_id  TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX prechecks_by_partner ON prechecks (org_id, partnership_id, at);

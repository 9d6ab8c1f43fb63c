-- What each run changed, account by account (issue 18): for every account of this side that
-- came into or went out of a cell of the overlap matrix since the partnership's previous
-- complete run (in cells both runs list accounts for), one row, with the account's name and
-- owner as the datasets had them, its best tier and the partner's disclosed fields (new ones).
-- Kept for the organisation's history period (`retention_settings.change_days`) whether or not
-- the runs themselves are kept, so that what changed outlives the runs it was read from.
CREATE TABLE overlap_changes (
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    partnership_id   TEXT NOT NULL REFERENCES partnerships (id),
    run_id           TEXT NOT NULL,
    previous_run_id  TEXT NOT NULL,
    at               BIGINT NOT NULL,
    account_id       TEXT NOT NULL,
    own_segment      TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    change           TEXT NOT NULL CHECK (change IN ('new', 'lost')),
    name             TEXT NOT NULL,
    owner            TEXT NOT NULL,
    tier             TEXT,
    fields           TEXT NOT NULL,
    PRIMARY KEY (run_id, account_id, own_segment, partner_segment, change)
);
CREATE INDEX overlap_changes_by_org ON overlap_changes (org_id, at, run_id, account_id);
CREATE INDEX overlap_changes_by_account ON overlap_changes (org_id, account_id, at);
CREATE INDEX overlap_changes_by_partnership ON overlap_changes (partnership_id, at);

-- What an organisation keeps: the complete runs of each partnership (the latest `keep_runs`;
-- older ones, their overlaps and datasets no kept run needs are deleted), and how many days of
-- per-account changes. Defaults until set: 10 runs, 365 days.
CREATE TABLE retention_settings (
    org_id       TEXT PRIMARY KEY REFERENCES organisations (id),
    keep_runs    BIGINT NOT NULL,
    change_days  BIGINT NOT NULL,
    set_by       TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- What the reps' pages need: the company name as the export wrote it (for people to read; never
-- a key), sessions of signed-in users, one-time sign-in links, and an index to compare a run's
-- overlaps with the previous run's account by account.
ALTER TABLE dataset_accounts ADD COLUMN display_name TEXT;

CREATE INDEX run_overlaps_by_account ON run_overlaps (run_id, account_id);

-- A browser session: the cookie's secret is stored hashed. A session opened with an API token
-- ends when that token is revoked; one opened with a link has none.
CREATE TABLE web_sessions (
    secret_hash TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    token_id    TEXT,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

-- A one-time sign-in link an admin issues for a user: stored hashed, used once, short-lived.
CREATE TABLE signin_links (
    secret_hash TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_by  TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- A report shows each overlapping account's co-sell record.
CREATE INDEX cosell_by_account ON cosell_records (org_id, own_account);

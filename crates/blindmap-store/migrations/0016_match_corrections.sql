-- A user's corrections of what matching showed: "not this match" on one overlap, or "never
-- match" one of its own accounts with a partner. Kept on this node only (nothing of them is ever
-- sent to the partner) and applied when overlaps are read, so that they take effect at once, on
-- the latest match as on every later one.
--
-- `never_match` hides every overlap of the account with the partnership. `not_this_match` hides
-- the account's overlaps with the partnership whose key types are all among `key_types` (the
-- corrected overlap's, a sorted JSON list): the same or weaker evidence; a later match on a new
-- key type shows again. A removed correction keeps its row, with who removed it and when.
CREATE TABLE match_corrections (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    partnership_id  TEXT NOT NULL REFERENCES partnerships (id),
    account_id      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('not_this_match', 'never_match')),
    -- JSON list of key types, sorted, without repeats; '[]' for never_match.
    key_types       TEXT NOT NULL,
    -- The account's name as the export wrote it when corrected (for the lists, should the account
    -- leave the active dataset).
    account_name    TEXT,
    note            TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    removed_by      TEXT,
    removed_at      BIGINT
);

-- What every read of overlaps asks: is this account's overlap with this partnership corrected?
CREATE INDEX match_corrections_active ON match_corrections (org_id, partnership_id, account_id)
    WHERE removed_at IS NULL;
-- One active correction of a kind per account, partnership and key types: a repeat finds it.
CREATE UNIQUE INDEX match_corrections_one_active
    ON match_corrections (org_id, partnership_id, account_id, kind, key_types) WHERE removed_at IS NULL;
-- The lists, newest first.
CREATE INDEX match_corrections_by_org ON match_corrections (org_id, created_at);

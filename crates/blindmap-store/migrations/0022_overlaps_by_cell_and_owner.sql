-- The overlap lists' other orders and filters read from indexes as the order by name does, so that
-- a page of a list across every partner reads about a page of rows per partner, not all of them:
-- * the primary key walks each cell (own segment, partner segment) by name: the lists by either
--   segment, or filtered to one, merge the cells' walks (it still names each overlap once: the
--   name is the account's, one per account in a run);
-- * each overlap keeps its account's owner (`owner`: '' where the account has none; NULL for a
--   row stored before, filled from the run's dataset when the store is next opened), indexed by
--   owner then name: the list by owner, or of one owner's accounts.
-- SQLite cannot change a table's primary key: the table is copied (about a minute per five
-- million overlaps).
CREATE TABLE run_overlaps_by_cell (
    run_id           TEXT NOT NULL REFERENCES match_runs (id),
    account_id       TEXT NOT NULL,
    own_segment      TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    -- Position in the partner's segment for this session; -1 when the partner served a Bloom filter.
    partner_record   BIGINT NOT NULL,
    key_types        TEXT NOT NULL,
    -- Fields the partner disclosed for its record (JSON object; null values where it has none).
    fields           TEXT NOT NULL,
    tier             TEXT NOT NULL DEFAULT 'possible',
    reason           TEXT NOT NULL DEFAULT '',
    -- The account's name as the lists sort it (lower case; the id where the export gave no name).
    sort_name        TEXT NOT NULL,
    owner            TEXT,
    PRIMARY KEY (run_id, own_segment, partner_segment, sort_name, account_id, partner_record)
);
INSERT INTO run_overlaps_by_cell (run_id, account_id, own_segment, partner_segment, partner_record, key_types,
                                  fields, tier, reason, sort_name, owner)
SELECT run_id, account_id, own_segment, partner_segment, partner_record, key_types, fields, tier, reason,
       COALESCE(sort_name, LOWER(account_id)), NULL
FROM run_overlaps;
DROP TABLE run_overlaps;
ALTER TABLE run_overlaps_by_cell RENAME TO run_overlaps;
CREATE INDEX run_overlaps_by_account ON run_overlaps (run_id, account_id);
CREATE INDEX run_overlaps_by_name ON run_overlaps (run_id, sort_name, account_id, partner_segment, partner_record);
CREATE INDEX run_overlaps_by_owner ON run_overlaps (run_id, owner, sort_name, account_id, partner_segment, partner_record);

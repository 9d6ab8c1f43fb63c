-- The overlap list's default order (by the account's name) read from an index instead of sorting a
-- run's rows on every page: each overlap keeps its account's name as the list sorts it (lower case,
-- the id where the export gave no name), written with the run; the rows stored before are filled
-- here once (about 16 s per million overlaps on SQLite).
ALTER TABLE run_overlaps ADD COLUMN sort_name TEXT;
UPDATE run_overlaps SET sort_name = COALESCE(
    (SELECT LOWER(COALESCE(a.display_name, run_overlaps.account_id)) FROM match_runs r
     JOIN dataset_accounts a ON a.dataset_id = r.dataset_id AND a.account_id = run_overlaps.account_id
     WHERE r.id = run_overlaps.run_id),
    LOWER(run_overlaps.account_id));
CREATE INDEX run_overlaps_by_name ON run_overlaps (run_id, sort_name, account_id, partner_segment, partner_record);

-- What a run's pages show beside its list, written with the run so that no page reads every
-- overlap for them: per cell (own segment, partner segment) the accounts by their best tier (JSON:
-- [[own, partner, confirmed, possible], …]), and the owners of the accounts listed (JSON array).
-- And what the previous complete run of its partnership (`lost_since`) listed that this one has
-- nowhere: its rows and accounts ("lost since"). Corrections made since are taken off the cells
-- and the lost counts when read. Runs stored before have none and are read from their rows.
ALTER TABLE match_runs ADD COLUMN listed_cells TEXT;
ALTER TABLE match_runs ADD COLUMN listed_owners TEXT;
ALTER TABLE match_runs ADD COLUMN lost_since TEXT;
ALTER TABLE match_runs ADD COLUMN lost_pairs BIGINT;
ALTER TABLE match_runs ADD COLUMN lost_accounts BIGINT;

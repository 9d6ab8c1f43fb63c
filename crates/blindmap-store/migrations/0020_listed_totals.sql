-- How many overlaps a complete run listed and how many of this side's accounts they are about,
-- in all and by a confirmed match, written with the run: a page counting a run's list reads these
-- instead of every overlap, and takes off what corrections hide from the few rows they name.
-- Runs stored before have none and are counted row by row.
ALTER TABLE match_runs ADD COLUMN listed_pairs BIGINT;
ALTER TABLE match_runs ADD COLUMN listed_accounts BIGINT;
ALTER TABLE match_runs ADD COLUMN confirmed_pairs BIGINT;
ALTER TABLE match_runs ADD COLUMN confirmed_accounts BIGINT;

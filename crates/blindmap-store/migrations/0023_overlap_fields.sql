-- The lists' order and filters by a partner's shared field read an index, as the other orders do:
-- for each field the overlaps of a run disclose (a value in at least one of them), one row per
-- overlap of that run, keyed by the field's value as the lists sort and filter it (lower case; ''
-- where the overlap has none) and then as the list by name is. A filter reads the run's few
-- values first (a walk of this index from one value to the next), then each matching value's rows
-- by name; a run that discloses no value of the field is skipped by a filter on it, and sorted by
-- it as by name.
CREATE TABLE run_overlap_fields (
    run_id           TEXT NOT NULL REFERENCES match_runs (id),
    field            TEXT NOT NULL,
    value_key        TEXT NOT NULL,
    sort_name        TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    partner_record   BIGINT NOT NULL,
    PRIMARY KEY (run_id, field, value_key, sort_name, account_id, partner_segment, partner_record)
);
-- The fields a complete run's overlaps disclose (JSON list of names); NULL for a run completed
-- before, listed (and its rows above written) when the store is next opened.
ALTER TABLE match_runs ADD COLUMN listed_fields TEXT;

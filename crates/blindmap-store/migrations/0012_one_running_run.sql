-- At most one run of a partnership is running on a node at a time: a partner cannot make this
-- node load its dataset for many sessions at once, and two runs never race to store results.
-- Runs left `running` beside a newer one (none are expected) are failed first.
UPDATE match_runs SET state = 'failed', finished_at = started_at,
    failure = 'another run of the partnership was running'
WHERE state = 'running' AND EXISTS (
    SELECT 1 FROM match_runs newer WHERE newer.partnership_id = match_runs.partnership_id
        AND newer.state = 'running' AND (newer.started_at > match_runs.started_at
            OR (newer.started_at = match_runs.started_at AND newer.id > match_runs.id)));
CREATE UNIQUE INDEX match_runs_one_running ON match_runs (partnership_id) WHERE state = 'running';

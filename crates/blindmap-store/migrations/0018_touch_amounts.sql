-- An opportunity's amount as of a touch, optional: the pipeline summary reads an open
-- opportunity's pipeline as the amount on its latest touch that gives one. Both columns or
-- neither (the store writes them together): minor units and the ISO 4217 code.
ALTER TABLE touches ADD COLUMN amount_minor BIGINT;
ALTER TABLE touches ADD COLUMN currency TEXT;

-- The pipeline summary reads an organisation's touches by time (a period), then each
-- opportunity's through touches_by_opportunity.
CREATE INDEX touches_by_time ON touches (org_id, at);

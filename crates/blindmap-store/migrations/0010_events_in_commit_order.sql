-- The events feed in commit order.
--
-- An event's `seq` is its place in the feed readers page through by cursor. It is given only
-- after the event's transaction has committed, by one numbering step at a time (see
-- `Store::events_page`): an event committed later never lands before one a reader has already
-- passed, however long its transaction took or whichever replica's clock stamped it. Until then
-- it is NULL. Events written before this migration are numbered in the order they were served.
ALTER TABLE events ADD COLUMN seq BIGINT;
UPDATE events SET seq = numbered.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM events) AS numbered
WHERE events.id = numbered.id;
CREATE UNIQUE INDEX events_by_seq ON events (seq);
CREATE INDEX events_by_org_seq ON events (org_id, seq);


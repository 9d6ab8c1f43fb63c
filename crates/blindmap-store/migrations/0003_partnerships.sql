-- Partnerships between organisations on two nodes, and the one-time invites that start them.
-- A partnership row belongs to one side: each node keeps its own, naming the other node by its
-- URL and the SHA-256 fingerprint of its certificate, which all peer traffic must present.

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

CREATE TABLE partnerships (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organisations (id),
    partner_name         TEXT NOT NULL,
    partner_url          TEXT NOT NULL,
    partner_fingerprint  TEXT NOT NULL,
    -- The partner node's id for the same partnership, sent with every peer call.
    partner_ref          TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('active', 'ended')),
    created_at           BIGINT NOT NULL,
    ended_at             BIGINT,
    UNIQUE (org_id, partner_name)
);
CREATE INDEX partnerships_by_fingerprint ON partnerships (partner_fingerprint, state);

-- What this side discloses to the partner, per pair of segments (own, partner's); `*` matches
-- any segment. Levels: hidden, counts, overlaps, fields (with `fields` a JSON list).
CREATE TABLE sharing_rules (
    partnership_id   TEXT NOT NULL REFERENCES partnerships (id),
    own_segment      TEXT NOT NULL,
    partner_segment  TEXT NOT NULL,
    level            TEXT NOT NULL CHECK (level IN ('hidden', 'counts', 'overlaps', 'fields')),
    fields           TEXT NOT NULL,
    PRIMARY KEY (partnership_id, own_segment, partner_segment)
);

-- The policy's numbers; a partnership without a row here shares counts only, threshold 5,
-- and serves no partner segment smaller than 5.
CREATE TABLE sharing_settings (
    partnership_id       TEXT PRIMARY KEY REFERENCES partnerships (id),
    threshold            BIGINT NOT NULL,
    min_partner_segment  BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- Partners that match in their browser (spec §20): the vendor names the partner and gets a link
-- carrying a secret; the partner's page presents the secret on every visit, for as long as the
-- link is valid. The partnership is recorded with the link, with an empty URL and an empty
-- fingerprint (the partner has no node and presents no certificate), and is answered like a
-- remote client's. One link per partnership: renewing it replaces the secret, so the old link
-- stops working at once. Only the secret's SHA-256 is kept.
CREATE TABLE browser_invitations (
    partnership_id  TEXT PRIMARY KEY REFERENCES partnerships (id),
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    secret_hash     TEXT NOT NULL UNIQUE,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);

-- The keys this node serves a browser partner's sessions under while its own dataset stays the
-- same (spec §20.5): kept so that its evaluated list can be kept too, instead of being evaluated
-- anew for every session. Sealed under the node's secrets key; replaced when the dataset
-- changes, when the link is renewed, and after 30 days.
CREATE TABLE browser_keys (
    partnership_id  TEXT PRIMARY KEY REFERENCES partnerships (id),
    dataset_id      TEXT NOT NULL,
    keys            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Partner attribution: touches recorded against opportunities, the model each organisation
-- scores closed-won deals with, the ledger of record those scores go to, and the inbound webhook
-- sources partners or a CRM report touches through.

-- The model an organisation scores closes with (JSON of blindmap_cosell's `Model`); none: the
-- node's default (categorical).
CREATE TABLE attribution_settings (
    org_id      TEXT PRIMARY KEY REFERENCES organisations (id),
    model       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Where inbound touches come from: each source signs its deliveries as Standard Webhooks do,
-- with a secret (whsec_…) it was given once at creation. The secret is kept to verify with and
-- never shown again. The id is in the receiver's URL, so it is unique across organisations.
CREATE TABLE inbound_sources (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    name        TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX inbound_sources_by_name ON inbound_sources (org_id, name);

-- A partner touch on an opportunity. `seq` counts the opportunity's touches in the order they
-- were recorded (touches at the same time are scored in that order). `source` is 'api' or the
-- inbound source's id; an inbound touch keeps its delivery's webhook-id (and its place in the
-- delivery) in `external_id`, so that a redelivered webhook records it once. API touches have
-- none (NULLs never collide).
CREATE TABLE touches (
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    id           TEXT NOT NULL,
    opportunity  TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    partner      TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('sourced', 'referral', 'influenced', 'co_selling')),
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    source       TEXT NOT NULL,
    external_id  TEXT,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX touches_by_opportunity ON touches (org_id, opportunity, at, seq);
CREATE UNIQUE INDEX touches_by_delivery ON touches (org_id, source, external_id);

-- The ledger of record: one row per opportunity closed won, written once and never changed. It
-- keeps the deal (JSON `ClosedDeal`: amount, dates, reporting currency and rate of the close
-- date), the touches it was scored from (JSON), the model and the result (JSON `Attribution`),
-- so that re-scoring under another model reads the same history.
CREATE TABLE attributions (
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    opportunity  TEXT NOT NULL,
    deal         TEXT NOT NULL,
    touches      TEXT NOT NULL,
    model        TEXT NOT NULL,
    result       TEXT NOT NULL,
    closed_at    BIGINT NOT NULL,
    closed_by    TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, opportunity)
);

-- The ledger's entries, for listing and filtering: one per credited partner, or one without a
-- partner (category 'unattributed') for a deal no partner touched.
CREATE TABLE ledger_entries (
    org_id              TEXT NOT NULL,
    opportunity         TEXT NOT NULL,
    seq                 BIGINT NOT NULL,
    partner             TEXT,
    model               TEXT NOT NULL,
    share_ppm           BIGINT NOT NULL,
    amount_minor        BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    reported_minor      BIGINT,
    reporting_currency  TEXT,
    rate                TEXT,
    category            TEXT,
    closed_at           BIGINT NOT NULL,
    PRIMARY KEY (org_id, opportunity, seq),
    FOREIGN KEY (org_id, opportunity) REFERENCES attributions (org_id, opportunity)
);
CREATE INDEX ledger_by_close ON ledger_entries (org_id, closed_at);
CREATE INDEX ledger_by_partner ON ledger_entries (org_id, partner, closed_at);

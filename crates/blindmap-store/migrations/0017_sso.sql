-- Single sign-on with an organisation's OpenID provider (README, "Single sign-on").
--
-- One configuration per organisation. The client secret is sealed (sealed.rs, bound to the
-- organisation's id). `role_map` is a JSON object from a value of the `role_claim` claim to a
-- role (`admin` or `rep`: integration users are machine clients and sign in with tokens only);
-- `default_role` is given to a user none of whose values maps (none: such a user is refused).
CREATE TABLE sso_configs (
    org_id          TEXT PRIMARY KEY REFERENCES organisations (id),
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    client_secret   TEXT NOT NULL,
    -- Space-separated scopes asked for besides `openid`.
    scopes          TEXT NOT NULL,
    role_claim      TEXT NOT NULL,
    role_map        TEXT NOT NULL,
    default_role    TEXT CHECK (default_role IN ('admin', 'rep')),
    -- Only users whose `email` claim is at this domain may sign in (none: anyone the provider
    -- signs in).
    email_domain    TEXT,
    updated_by      TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Which user a provider's subject is, in an organisation: made on the subject's first sign-in.
CREATE TABLE sso_identities (
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    user_id         TEXT NOT NULL UNIQUE REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    last_signed_in_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
);

-- Sign-ins under way: from the redirect to the provider until its answer comes back (or the
-- flow expires). Any replica can finish one. `state_hash` is the SHA-256 of the `state`
-- parameter, `browser_hash` that of the pre-session cookie's value that binds the flow to the
-- browser that began it; the PKCE verifier is sealed (bound to `state_hash`).
CREATE TABLE sso_flows (
    state_hash      TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    browser_hash    TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX sso_flows_expiry ON sso_flows (expires_at);

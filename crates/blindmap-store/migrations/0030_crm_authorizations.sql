-- CRM authorizations under way (issue 17): an admin connecting a Salesforce org by the web-server
-- flow, or a HubSpot portal by OAuth, leaves for the CRM's approval page; the connection to make
-- waits here until the browser comes back with a code, under the SHA-256 of the flow's `state`.
-- `request` (the connection's settings, its client secret and the PKCE verifier, as JSON the node
-- reads) is sealed, bound to `state_hash`. A flow answers once, only to the user who began it,
-- and expires after ten minutes.
CREATE TABLE crm_authorizations (
    state_hash      TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    user_id         TEXT NOT NULL,
    request         TEXT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX crm_authorizations_expiry ON crm_authorizations (expires_at);

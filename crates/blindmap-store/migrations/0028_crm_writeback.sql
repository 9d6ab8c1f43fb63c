-- What a CRM connection's write-back keeps per overlap it writes into the CRM (issue 17): for each
-- partnership and account, the payload that should be there, the hash of what was last written
-- and the CRM's record id; `pending` until written, `written` after, `removing` once the overlap
-- is lost while the CRM still has it. A write-back is planned by comparing what the partners
-- disclose now with these rows, then worked off in batches, each row marked as the CRM answers:
-- one that stops half-way carries on where it stopped, and writing twice changes nothing.
CREATE TABLE crm_writeback (
    connection_id   TEXT NOT NULL REFERENCES crm_connections (id),
    partnership_id  TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    payload_hash    TEXT NOT NULL,
    written_hash    TEXT,
    remote_id       TEXT,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'written', 'removing')),
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL,
    error           TEXT,
    PRIMARY KEY (connection_id, partnership_id, account_id)
);
CREATE INDEX crm_writeback_due ON crm_writeback (connection_id, state, partnership_id, account_id);

-- Users can be disabled (and enabled again) and removed. A removed user's row stays, marked, so
-- that its name stays taken: the audit trail and stored records name users by name, and a new
-- user of the same name would read as the old one there. Its tokens are revoked, its sessions
-- and unused sign-in links are gone.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN removed_at BIGINT;

-- Ending sessions by user (disabling, "sign out everywhere") and by token (revoking it).
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
CREATE INDEX web_sessions_by_token ON web_sessions (token_id);
CREATE INDEX signin_links_by_user ON signin_links (user_id);

-- What a report's search compares with: the account's name and id, folded in Rust (full Unicode
-- case folding, accents dropped; see src/search.rs), since neither backend's LIKE or LOWER folds
-- beyond ASCII the same way. Rows written before this column are filled when the store opens.
ALTER TABLE dataset_accounts ADD COLUMN search_text TEXT;

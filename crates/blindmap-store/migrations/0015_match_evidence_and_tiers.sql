-- Evidence for name matches (protocol-spec/keys.md §3): an account's postal code and phone
-- number, canonical. Datasets imported before keep none: their name matches are confirmed only
-- by a distinctive name or a city, until the export is imported again.
ALTER TABLE dataset_accounts ADD COLUMN postal_code TEXT;
ALTER TABLE dataset_accounts ADD COLUMN phone TEXT;

-- Each overlap's tier and the sentence saying why, decided when the run completed (keys.md §3.3).
-- Overlaps stored before tiers: confirmed where a domain or DUNS number agreed, else possible
-- (no city, postal code or phone evidence was recorded then).
ALTER TABLE run_overlaps ADD COLUMN tier TEXT NOT NULL DEFAULT 'possible';
ALTER TABLE run_overlaps ADD COLUMN reason TEXT NOT NULL DEFAULT '';
UPDATE run_overlaps SET tier = 'confirmed'
    WHERE key_types LIKE '%"domain"%' OR key_types LIKE '%"duns"%';
UPDATE run_overlaps SET reason = CASE tier
    WHEN 'confirmed' THEN 'confirmed: a domain or DUNS number agrees (matched before tiers were recorded)'
    ELSE 'possible: the name and country agree (matched before tiers were recorded)' END;

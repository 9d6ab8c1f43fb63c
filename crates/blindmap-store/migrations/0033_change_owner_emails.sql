-- The owner's e-mail address of a changed account ('' where the dataset has none: an export
-- without the column, a CRM that does not tell it): what an alert finds the owner by.
ALTER TABLE overlap_changes ADD COLUMN owner_email TEXT NOT NULL DEFAULT '';

-- Service accounts: organisation identities for CI and other robots, rows of `users` so that every
-- place that records or names an actor (audit entries, change requests, definitions' updated_by,
-- code references, project roles, access tokens) works for them unchanged. A service account
-- cannot log in: it has no password (so no session), the login looks up people only, and its
-- `email` is a handle under the reserved .invalid domain that no mailbox has. It is never an owner.
-- `description` is a service account's only; `deleted_at` marks one deleted (its tokens revoked,
-- the row kept for the history that names it). People keep kind 'person', the default.
ALTER TABLE users ADD COLUMN kind text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service'));
ALTER TABLE users ADD COLUMN description text;
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_kind_fields CHECK (
  (kind = 'person' AND description IS NULL AND deleted_at IS NULL)
  OR (kind = 'service' AND password_hash IS NULL AND password_change_required = false AND role <> 'owner' AND (deleted_at IS NULL OR disabled))
);

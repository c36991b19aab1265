-- Webhooks take part in optimistic concurrency like every other editable resource: PATCH, DELETE
-- and rotate-secret need If-Match with the version read, so two admins editing one webhook do
-- not silently overwrite each other.
ALTER TABLE webhooks ADD COLUMN version integer NOT NULL DEFAULT 1;

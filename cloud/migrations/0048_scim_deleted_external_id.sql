-- SCIM provisioning (domain/scim.ts, docs/scim.md): the externalId a person had when the identity
-- provider deleted them (DELETE /Users/{id} forgets scim_external_id, which another person may take
-- next). A later POST of the same email brings back their organisation and project roles only when it
-- names this externalId (the same IdP identity) or there was none; another identity starts afresh.
ALTER TABLE users ADD COLUMN scim_deleted_external_id text;
ALTER TABLE users ADD CONSTRAINT users_scim_deleted_external_id CHECK (scim_deleted_external_id IS NULL OR scim_deleted_at IS NOT NULL);

-- SCIM 2.0 provisioning (domain/scim.ts, docs/scim.md): the identity provider creates, updates and
-- deactivates people through /api/v1/scim/v2. People only: a service account never has these.
-- scim_external_id: the IdP's own id of the person (SCIM `externalId`), unique in the organisation.
-- scim_given_name, scim_family_name: the parts of the name the IdP sent (SCIM `name.givenName`,
-- `name.familyName`), kept so that a PATCH of one of them rebuilds the display name (`users.name`).
-- scim_deleted_at: the IdP deleted the person (DELETE /Users/{id}): they are disabled, not erased
-- (their audit history and authorship stay), and SCIM treats them as gone until a POST of the same
-- email provisions them again.
ALTER TABLE users
  ADD COLUMN scim_external_id text,
  ADD COLUMN scim_given_name text,
  ADD COLUMN scim_family_name text,
  ADD COLUMN scim_deleted_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_scim_people_only CHECK (
  kind = 'person' OR (scim_external_id IS NULL AND scim_given_name IS NULL AND scim_family_name IS NULL AND scim_deleted_at IS NULL)
);
ALTER TABLE users ADD CONSTRAINT users_scim_deleted_disabled CHECK (scim_deleted_at IS NULL OR disabled);
CREATE UNIQUE INDEX users_scim_external_id ON users (org_id, scim_external_id) WHERE scim_external_id IS NOT NULL;

-- Core schema: organisations, users and credentials, projects, environments, definitions,
-- change requests, the append-only audit log and ruleset publication counters.

CREATE TABLE organizations (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id            text PRIMARY KEY,
  org_id        text NOT NULL REFERENCES organizations (id),
  email         text NOT NULL,
  name          text NOT NULL,
  role          text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'analyst', 'viewer')),
  password_hash text,
  disabled      boolean NOT NULL DEFAULT false,
  version       integer NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails identify logins, so they are unique across the installation, not only per organisation.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Login sessions and personal access tokens are stored only as SHA-256 hashes of random secrets.
CREATE TABLE sessions (
  id         text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  client     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE TABLE access_tokens (
  id           text PRIMARY KEY,
  user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         text NOT NULL,
  token_hash   text NOT NULL UNIQUE,
  token_prefix text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);

CREATE TABLE projects (
  id          text PRIMARY KEY,
  org_id      text NOT NULL REFERENCES organizations (id),
  key         text NOT NULL,
  name        text NOT NULL,
  description text,
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, key)
);

CREATE TABLE environments (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  key        text NOT NULL,
  definition jsonb NOT NULL,
  position   integer NOT NULL DEFAULT 0,
  version    integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text,
  PRIMARY KEY (project_id, key)
);

CREATE TABLE sdk_keys (
  id              text PRIMARY KEY,
  project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  environment_key text NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('server', 'client')),
  name            text NOT NULL,
  key_hash        text NOT NULL UNIQUE,
  key_prefix      text NOT NULL,
  created_by      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at      timestamptz,
  FOREIGN KEY (project_id, environment_key) REFERENCES environments (project_id, key) ON DELETE CASCADE
);

-- Definitions are stored as validated JSON documents (the @xp/shared model), one table per kind,
-- with the columns that lists filter and sort on pulled out.
CREATE TABLE flags (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  key        text NOT NULL,
  name       text NOT NULL,
  definition jsonb NOT NULL,
  archived   boolean NOT NULL DEFAULT false,
  version    integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by text,
  updated_by text,
  PRIMARY KEY (project_id, key)
);

CREATE TABLE segments (LIKE flags INCLUDING ALL);
ALTER TABLE segments ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
CREATE TABLE metrics (LIKE flags INCLUDING ALL);
ALTER TABLE metrics ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
CREATE TABLE holdouts (LIKE flags INCLUDING ALL);
ALTER TABLE holdouts ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
CREATE TABLE experiments (LIKE flags INCLUDING ALL);
ALTER TABLE experiments ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE experiments ADD COLUMN status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'stopped'));

CREATE TABLE change_requests (
  id              text PRIMARY KEY,
  project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  resource_type   text NOT NULL,
  resource_key    text NOT NULL,
  environment_key text NOT NULL,
  status          text NOT NULL CHECK (status IN ('open', 'applied', 'rejected', 'cancelled')),
  base_version    integer NOT NULL,
  proposed        jsonb NOT NULL,
  diff            jsonb NOT NULL,
  comment         text,
  proposed_by     text NOT NULL REFERENCES users (id),
  approved_by     text REFERENCES users (id),
  approved_at     timestamptz,
  reviewed_by     text REFERENCES users (id),
  reviewed_at     timestamptz,
  applied_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_requests_open ON change_requests (project_id, status);

CREATE TABLE audit_log (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id          text NOT NULL,
  project_id      text,
  actor_id        text,
  actor_email     text,
  client          text NOT NULL,
  action          text NOT NULL,
  resource_type   text NOT NULL,
  resource_key    text NOT NULL,
  environment_key text,
  diff            jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_key, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- The publish counter per environment, and a hash of the last compiled content so unchanged
-- rulesets are not republished.
CREATE TABLE ruleset_versions (
  project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  environment_key text NOT NULL,
  version         integer NOT NULL,
  content_hash    text NOT NULL,
  published_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, environment_key)
);

-- Per-project roles: a user's role in one project, in place of their organisation role there (higher
-- or lower). Organisation permissions (users, settings, creating projects) keep the organisation
-- role; owners are owners in every project, so they have no rows here, and no project role is owner.
-- The rows go with their user or project. Users without rows (all of them after this migration)
-- keep their organisation role in every project.
CREATE TABLE user_project_roles (
  user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  role       text NOT NULL CHECK (role IN ('admin', 'editor', 'analyst', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, project_id)
);
-- A project's deletion cascades through this index.
CREATE INDEX user_project_roles_project ON user_project_roles (project_id);

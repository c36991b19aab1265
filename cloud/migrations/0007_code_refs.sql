-- Code references: where each flag key appears in a repository's code, per branch, as uploaded by
-- `xp code-refs` (the language server's indexer). An upload replaces the rows of its
-- (project, repository, branch); the console lists them per flag.
CREATE TABLE code_refs (
  project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  repository  text NOT NULL,
  branch      text NOT NULL,
  commit_sha  text,
  flag_key    text NOT NULL,
  path        text NOT NULL,
  line        integer NOT NULL,
  col         integer NOT NULL,
  snippet     text NOT NULL,
  language    text NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, repository, branch, path, line, col, flag_key)
);
CREATE INDEX code_refs_flag ON code_refs (project_id, flag_key);

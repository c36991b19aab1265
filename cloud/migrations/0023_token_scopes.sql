-- Least-privilege personal access tokens: a token may hold a lower role than its user (`role`; NULL
-- follows the user's role) and be limited to some projects (`project_ids`; NULL is every project).
-- The token acts with the lower of its role and the user's current role. Tokens made before this
-- migration keep the user's full access (both NULL).
ALTER TABLE access_tokens ADD COLUMN role text CHECK (role IN ('owner', 'admin', 'editor', 'analyst', 'viewer'));
ALTER TABLE access_tokens ADD COLUMN project_ids text[] CHECK (project_ids IS NULL OR cardinality(project_ids) BETWEEN 1 AND 50);

-- A personal access token made with another access token never outlives it: it records the token
-- it was made with, and revoking a token revokes every token made with it (and theirs). Tokens made
-- before this migration have no parent.
ALTER TABLE access_tokens ADD COLUMN parent_id text REFERENCES access_tokens (id) ON DELETE CASCADE;
CREATE INDEX access_tokens_parent ON access_tokens (parent_id) WHERE parent_id IS NOT NULL;

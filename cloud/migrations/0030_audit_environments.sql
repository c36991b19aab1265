-- The environments an audit entry concerns, so that `GET /api/v1/audit?environment=…` and its export
-- list every change that touched an environment: not only the entries filed under it
-- (`environment_key`), but also a flag's creation and deletion and a whole-flag change (a PUT,
-- `xp apply`) that spans several environments, which are filed under none. A generated column, so
-- every entry has it (those written before this migration too: ADD COLUMN computes it for them
-- without an UPDATE, which the append-only trigger would refuse) and no write path can forget it.

-- An entry filed under an environment concerns that one. A flag's entry filed under none concerns
-- the environments its diff's paths name (`/environments/<key>/…`, or the states of a flag created
-- or deleted whole: as webhooks match it, audit_touches_environments of 0029), and every environment
-- ('*') when it changes what all of them serve: its variations, type, archiving or client-side
-- exposure. Other entries filed under no environment concern none (NULL).
CREATE FUNCTION audit_environments(resource_type text, environment_key text, diff jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN environment_key IS NOT NULL THEN ARRAY[environment_key]
    WHEN resource_type <> 'flag' OR jsonb_typeof(diff) <> 'array' THEN NULL
    ELSE (
      SELECT array_agg(DISTINCT env ORDER BY env)
      FROM (
        SELECT split_part(d->>'path', '/', 3) AS env
        FROM jsonb_array_elements(diff) d
        WHERE starts_with(d->>'path', '/environments/') AND split_part(d->>'path', '/', 3) <> ''
        UNION ALL
        SELECT e.key
        FROM jsonb_array_elements(diff) d,
             jsonb_each(CASE WHEN d->>'path' = '' AND jsonb_typeof(coalesce(d->'to', d->'from')->'environments') = 'object'
                             THEN coalesce(d->'to', d->'from')->'environments' ELSE '{}'::jsonb END) e
        UNION ALL
        SELECT '*'
        FROM jsonb_array_elements(diff) d
        WHERE d->>'path' IN ('/archived', '/type', '/clientSide', '/variations') OR starts_with(d->>'path', '/variations/')
      ) touched
    )
  END
$$;

ALTER TABLE audit_log ADD COLUMN environment_keys text[] GENERATED ALWAYS AS (audit_environments(resource_type, environment_key, diff)) STORED;

CREATE INDEX audit_log_environment_keys ON audit_log USING gin (environment_keys);

-- Webhooks read a flag's audit entry as the audit log's `turned` filter does. A whole-flag change
-- (PUT, `xp apply`, a create or a delete) has no environment of its own, so a webhook filtered to
-- production missed it even when it turned the flag on there; and a flag turned off by such a change
-- or by an applied change request was never `flag.disabled`, so a webhook on `flag.disabled` missed
-- it. Both now follow the entry's diff (its paths are `/environments/<key>/…`, whatever the action).

-- Whether a flag's entry turned it on (`turned_on`) or off in one of `environments` (NULL: any): the
-- diff replaces `enabled` with that value, adds an environment's state already on (removes one that
-- was on), creates the flag on there (deletes it while on), or archives it (unarchives it), which
-- takes it out of (puts it back in) every ruleset. A change request's proposal is audited with the
-- state alone (paths `/enabled`): not a change yet, it matches nothing.
CREATE FUNCTION audit_turns(resource_type text, diff jsonb, turned_on boolean, environments text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT resource_type = 'flag' AND jsonb_typeof(diff) = 'array' AND EXISTS (
    SELECT 1
    FROM jsonb_array_elements(diff) d,
         LATERAL (SELECT CASE WHEN turned_on THEN 'add' ELSE 'remove' END AS op,
                         CASE WHEN turned_on THEN d->'to' ELSE d->'from' END AS side) w
    WHERE (d->>'path' = '/archived' AND (CASE WHEN d->>'op' = 'remove' THEN 'false'::jsonb ELSE d->'to' END) = to_jsonb(NOT turned_on))
       OR (d->>'op' = 'replace' AND d->>'path' ~ '^/environments/[^/]+/enabled$' AND d->'to' = to_jsonb(turned_on)
           AND (environments IS NULL OR split_part(d->>'path', '/', 3) = ANY (environments)))
       OR (d->>'op' = w.op AND d->>'path' ~ '^/environments/[^/]+$' AND w.side->'enabled' = 'true'::jsonb
           AND (environments IS NULL OR split_part(d->>'path', '/', 3) = ANY (environments)))
       OR (d->>'op' = w.op AND d->>'path' = '' AND jsonb_typeof(w.side->'environments') = 'object' AND EXISTS (
             SELECT 1 FROM jsonb_each(w.side->'environments') e
             WHERE e.value->'enabled' = 'true'::jsonb AND (environments IS NULL OR e.key = ANY (environments))))
  )
$$;

-- Whether a flag's entry without an environment of its own changes what one of `environments`
-- serves: its state there (any path under `/environments/<key>`), the flag created or deleted with
-- a state there, or what every environment serves (the variations' values, archiving). A name,
-- description or tag change concerns no environment.
CREATE FUNCTION audit_touches_environments(resource_type text, diff jsonb, environments text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT resource_type = 'flag' AND jsonb_typeof(diff) = 'array' AND EXISTS (
    SELECT 1 FROM jsonb_array_elements(diff) d
    WHERE d->>'path' = '/archived'
       OR d->>'path' = '/variations' OR starts_with(d->>'path', '/variations/')
       OR (starts_with(d->>'path', '/environments/') AND split_part(d->>'path', '/', 3) = ANY (environments))
       OR (d->>'path' = '' AND EXISTS (
             SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(coalesce(d->'to', d->'from')->'environments') = 'object'
                                           THEN coalesce(d->'to', d->'from')->'environments' ELSE '{}'::jsonb END) e
             WHERE e.key = ANY (environments)))
  )
$$;

CREATE OR REPLACE FUNCTION webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.project_id IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO webhook_deliveries (webhook_id, audit_id, event, payload, created_at)
  SELECT w.id, NEW.id, NEW.action,
         jsonb_build_object(
           'event', NEW.action,
           'createdAt', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'project', jsonb_build_object('key', p.key, 'name', p.name),
           'change', jsonb_build_object(
             'auditId', NEW.id,
             'action', NEW.action,
             'resourceType', NEW.resource_type,
             'resourceKey', NEW.resource_key,
             'environment', NEW.environment_key,
             'actor', COALESCE(NEW.actor_email, NEW.actor_id),
             'client', NEW.client,
             'diff', NEW.diff,
             'at', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))),
         NEW.created_at
  FROM webhooks w JOIN projects p ON p.id = w.project_id
  WHERE w.project_id = NEW.project_id
    AND w.enabled
    AND (webhook_patterns_match(w.events, NEW.action)
         OR (webhook_patterns_match(w.events, 'flag.enabled') AND audit_turns(NEW.resource_type, NEW.diff, true, w.environments))
         OR (webhook_patterns_match(w.events, 'flag.disabled') AND audit_turns(NEW.resource_type, NEW.diff, false, w.environments)))
    AND (w.environments IS NULL
         OR NEW.environment_key = ANY (w.environments)
         OR (NEW.environment_key IS NULL AND audit_touches_environments(NEW.resource_type, NEW.diff, w.environments)));
  RETURN NULL;
END
$$;

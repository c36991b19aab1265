-- A flag change made through a change request is audited as `change-request.applied` (resource
-- type flag), not as `flag.*`: a webhook on `flag.*` or `flag.updated` — a Slack channel watching
-- production — missed every change to a protected environment. Such an entry now matches those
-- patterns too (change requests only ever carry flags); its event stays `change-request.applied`.
CREATE OR REPLACE FUNCTION webhook_patterns_match(patterns text[], action text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT EXISTS (
    SELECT 1
    FROM unnest(patterns) AS p,
         unnest(CASE WHEN action = 'change-request.applied' THEN ARRAY[action, 'flag.updated'] ELSE ARRAY[action] END) AS a
    WHERE p = '*' OR p = a OR (right(p, 2) = '.*' AND starts_with(a, left(p, -1)))
  )
$$;

-- Project webhooks: every audit entry of a project whose action matches a webhook's event patterns
-- (and, when it has one, its environment list) is POSTed to the webhook's URL, signed, retried.
-- The URL is stored encrypted under the platform key (it often carries a token: Slack's do) with a
-- preview (scheme://host/…) for lists and the audit log; the signing secret is not stored at all:
-- it is derived from the platform key, the webhook id and `secret_version` (a rotation bumps it).
CREATE TABLE webhooks (
  id             text PRIMARY KEY,
  project_id     text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name           text NOT NULL,
  url_ciphertext text NOT NULL,
  url_preview    text NOT NULL,
  format         text NOT NULL CHECK (format IN ('json', 'slack')),
  -- '*', 'flag.*' or an exact action ('flag.updated')
  events         text[] NOT NULL,
  -- NULL: every change; otherwise only changes made in one of these environments
  environments   text[],
  enabled        boolean NOT NULL DEFAULT true,
  secret_version integer NOT NULL DEFAULT 1,
  created_by     text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_project ON webhooks (project_id);

-- One row per (webhook, change) to send, written by the trigger below in the transaction of the
-- audit entry, so a change is queued exactly when it commits; a test delivery has no audit entry.
-- The dispatcher claims due rows (FOR UPDATE SKIP LOCKED, a lease for the send), so several
-- dispatchers share the queue and a crashed one's rows are sent again when the lease ends.
CREATE TABLE webhook_deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  audit_id         bigint,
  event            text NOT NULL,
  payload          jsonb NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  -- NULL: due now
  next_attempt_at  timestamptz,
  lease_until      timestamptz,
  status_code      integer,
  error            text,
  response         text,
  duration_ms      integer,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

CREATE FUNCTION webhook_patterns_match(patterns text[], action text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM unnest(patterns) AS p
    WHERE p = '*' OR p = action OR (right(p, 2) = '.*' AND starts_with(action, left(p, -1)))
  )
$$;

CREATE FUNCTION webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
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
    AND webhook_patterns_match(w.events, NEW.action)
    AND (w.environments IS NULL OR NEW.environment_key = ANY (w.environments));
  RETURN NULL;
END
$$;

CREATE TRIGGER audit_log_webhooks AFTER INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION webhook_enqueue();

-- Scheduled changes (cloud/src/domain/scheduled-changes.ts): a flag's state in one environment, given
-- as the fields to replace (as a change request proposes them), applied by the per-minute job at
-- `apply_at` through the definitions service. One row per schedule; it never goes back to 'scheduled'.
CREATE TABLE scheduled_changes (
  id              text PRIMARY KEY,
  project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  flag_key        text NOT NULL,
  -- The flag's created_at when scheduled: a flag deleted and created again under the key is another flag.
  flag_created_at timestamptz NOT NULL,
  environment_key text NOT NULL,
  apply_at        timestamptz NOT NULL,
  -- The fields of the environment's state to replace when applied (the others keep their value then).
  state           jsonb NOT NULL,
  comment         text,
  -- The user's id (users.id). No foreign key: a user removed since fails the change when due, with the reason.
  created_by      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  status          text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'applied', 'failed', 'cancelled')),
  -- When it was applied, failed or cancelled; who cancelled it; why it failed; the flag version it wrote.
  finished_at     timestamptz,
  cancelled_by    text,
  failure         text,
  applied_version integer,
  CHECK ((status = 'scheduled') = (finished_at IS NULL)),
  CHECK ((status = 'failed') = (failure IS NOT NULL))
);
-- The job's claim: due changes, oldest first.
CREATE INDEX scheduled_changes_due ON scheduled_changes (apply_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_changes_flag ON scheduled_changes (project_id, flag_key, apply_at);
CREATE INDEX scheduled_changes_project ON scheduled_changes (project_id, apply_at);

-- A change request for a protected environment may carry a time: once approved, the same job applies
-- it then (as its proposer, with the checks of POST …/apply) instead of someone applying it on demand.
-- One not approved by then, or that no longer applies, is marked failed with the reason.
ALTER TABLE change_requests ADD COLUMN apply_at timestamptz;
ALTER TABLE change_requests ADD COLUMN failure text;
ALTER TABLE change_requests DROP CONSTRAINT change_requests_status_check;
ALTER TABLE change_requests ADD CONSTRAINT change_requests_status_check CHECK (status IN ('open', 'applied', 'rejected', 'cancelled', 'failed'));
ALTER TABLE change_requests ADD CONSTRAINT change_requests_failure CHECK ((status = 'failed') = (failure IS NOT NULL));
CREATE INDEX change_requests_due ON change_requests (apply_at) WHERE status = 'open' AND apply_at IS NOT NULL;

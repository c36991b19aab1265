-- Guardrail alerts (cloud/src/domain/guardrails.ts): a guardrail metric of a running experiment
-- degraded significantly (always-valid sequential test) in one environment, for one treatment
-- variation against the control.
--
-- At most one OPEN alert per (project, environment, experiment, metric, variation): re-checks find
-- the same degradation and add nothing. An alert is resolved when its experiment stops running.
CREATE TABLE alerts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  environment     text NOT NULL,
  experiment      text NOT NULL,
  -- The flag whose experiment rule serves the experiment in this environment, if any.
  flag            text,
  metric          text NOT NULL,
  -- The treatment that degraded the metric, and the control it was compared with.
  variation       text NOT NULL,
  control         text NOT NULL,
  detected_at     timestamptz NOT NULL,
  -- 'relative' (lift) or 'absolute' (difference in the metric's unit, when the control mean is 0).
  difference      text NOT NULL CHECK (difference IN ('relative', 'absolute')),
  effect          double precision NOT NULL,
  ci_lower        double precision NOT NULL,
  ci_upper        double precision NOT NULL,
  p_value         double precision NOT NULL,
  alpha           double precision NOT NULL,
  control_units   integer NOT NULL,
  treatment_units integer NOT NULL,
  -- What the checker did: only alerted, stopped the experiment, or tried to and failed (retried).
  action          text NOT NULL CHECK (action IN ('alert', 'stopped', 'stop-failed')),
  action_at       timestamptz,
  resolved_at     timestamptz,
  -- Why it was resolved, e.g. 'experiment stopped'.
  resolution      text
);
CREATE UNIQUE INDEX alerts_open ON alerts (project_id, environment, experiment, metric, variation) WHERE resolved_at IS NULL;
CREATE INDEX alerts_project ON alerts (project_id, id);

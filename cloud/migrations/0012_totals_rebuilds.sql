-- Experiments whose per-unit metric totals no longer match the metric definitions: a metric was
-- added to the experiment, or a metric it reads changed what it counts (event, property, type,
-- window, numerator, denominator, or whether it is a project guardrail). The aggregator reads the
-- definitions when it applies an event, so totals written before the change count the old way and
-- a newly added metric has no history. The definitions service records the experiment here in the
-- transaction of the change; the next results computation (a results request, a guardrail check)
-- recomputes the experiment's totals from unit_events and deletes the row.
CREATE TABLE totals_rebuilds (
  project_id   text NOT NULL,
  experiment   text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (project_id, experiment)
);

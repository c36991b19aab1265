-- Experiments whose per-unit metric totals no longer match the metric definitions: a metric was
-- added to the experiment, or a metric it reads changed what it counts (event, property, type,
-- window, numerator, denominator, or whether it is a project guardrail). The aggregator reads the
-- definitions when it applies an event, so totals written before the change count the old way and
-- a newly added metric has no history. The definitions service records the experiment here in the
-- transaction of the change; the next results computation (a results request, a guardrail check)
-- recomputes the experiment's totals from unit_events and deletes the row.
-- A rebuild that runs out of its caller's time is rolled back; `failures` and the time limit it had
-- (`failed_budget_ms`, NULL for none) make callers with no more time than that wait before trying
-- again (2^failures minutes, at most an hour), so a large experiment does not hold aggregation for
-- a request's time on every results view; the aggregator's upkeep, with more time, still tries.
CREATE TABLE totals_rebuilds (
  project_id       text NOT NULL,
  experiment       text NOT NULL,
  requested_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  failures         integer NOT NULL DEFAULT 0,
  failed_at        timestamptz,
  failed_budget_ms integer,
  PRIMARY KEY (project_id, experiment)
);

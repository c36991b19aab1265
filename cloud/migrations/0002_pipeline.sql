-- Event pipeline: what the aggregator (cloud/src/pipeline) maintains from the Kinesis stream, in one
-- transaction per batch, and what the results API reads.
--
-- Shape: `exposures` holds one row per (project, environment, experiment, unit); `unit_metric_totals`
-- one row per (project, environment, experiment, unit, metric) for units with at least one event of
-- the metric in its pre-exposure or analysis window (sparse: a missing row means 0 everywhere).
-- `unit_events` keeps every tracked event so totals can be recomputed when an exposure arrives after
-- the unit's events, or an earlier exposure moves the unit's exposure time. Amounts are `numeric`, so
-- totals are exact and independent of the order events arrive in.
--
-- Sufficient statistics per variation x metric in ONE grouped query (the results API):
--
--   WITH units AS (
--     SELECT variation, count(*) AS n FROM exposures
--     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND NOT excluded
--     GROUP BY variation),
--   sums AS (
--     SELECT x.variation, t.metric,
--            sum(t.value) AS sum, sum(t.value * t.value) AS sum_squares,
--            sum(t.pre_value) AS pre_sum, sum(t.pre_value * t.pre_value) AS pre_sum_squares,
--            sum(t.value * t.pre_value) AS sum_products,
--            sum(t.denominator) AS den_sum, sum(t.denominator * t.denominator) AS den_sum_squares,
--            sum(t.value * t.denominator) AS num_den_products
--     FROM unit_metric_totals t
--     JOIN exposures x USING (project_id, environment, experiment, unit_id)
--     WHERE t.project_id = $1 AND t.environment = $2 AND t.experiment = $3 AND NOT x.excluded
--     GROUP BY x.variation, t.metric)
--   SELECT u.variation, m.metric, u.n, coalesce(s.sum, 0) AS sum, ...
--   FROM units u CROSS JOIN unnest($4::text[]) AS m(metric)
--   LEFT JOIN sums s ON s.variation = u.variation AND s.metric = m.metric;
--
-- Capping is applied by the results query (LEAST(value, cap)); totals are stored uncapped. Casting
-- to float8 before squaring (`t.value::float8`) trades exactness for speed on very large experiments.

-- One row per event id processed, so re-deliveries (SDK retries, Kinesis at-least-once, replays after
-- a crash) are counted once. Rows older than the retention window may be pruned; an event repeated
-- after that would be counted again, so keep the window above the stream retention plus SDK retries.
CREATE TABLE processed_events (
  project_id   text NOT NULL,
  event_id     text NOT NULL,
  -- When the aggregator committed it (transaction time): the pruning key.
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, event_id)
);
-- Rows arrive in time order, so a BRIN index finds old ones at almost no insert cost.
CREATE INDEX processed_events_processed_at ON processed_events USING brin (processed_at);

-- First exposure per (experiment, unit). "First" is the earliest occurrence time, ties broken by the
-- smaller event id, so the outcome does not depend on arrival order.
CREATE TABLE exposures (
  project_id     text NOT NULL,
  environment    text NOT NULL,
  experiment     text NOT NULL,
  unit_id        text NOT NULL,
  -- Variation of the first exposure.
  variation      text NOT NULL,
  -- Occurrence time of the first exposure: start of the analysis window, end of the pre-period.
  exposed_at     timestamptz NOT NULL,
  -- Event id of the first exposure (the tie-breaker).
  first_event_id text NOT NULL,
  -- The unit was exposed to more than one variation: left out of the analysis, counted separately.
  excluded       boolean NOT NULL DEFAULT false,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, environment, experiment, unit_id)
);
-- Tracked events find every experiment their unit is exposed to.
CREATE INDEX exposures_unit ON exposures (project_id, environment, unit_id);

-- Every tracked event (deduplicated), the source the totals are recomputed from.
CREATE TABLE unit_events (
  project_id  text NOT NULL,
  environment text NOT NULL,
  unit_id     text NOT NULL,
  -- Event name metrics refer to (metric.event, ratio numerator/denominator event).
  name        text NOT NULL,
  occurred_at timestamptz NOT NULL,
  event_id    text NOT NULL,
  -- The event's value (summed by sum metrics when the metric's property is not in `properties`).
  value       numeric,
  properties  jsonb
);
CREATE INDEX unit_events_unit ON unit_events (project_id, environment, unit_id);

-- Per-unit metric totals, for every metric of every experiment the unit is exposed to (the
-- experiment's primary, secondary and guardrail metrics, plus the project's guardrail metrics).
-- Windows, relative to the unit's exposed_at: pre-period [exposed_at - pre window (default 14 days),
-- exposed_at); analysis [exposed_at, exposed_at + metric.windowHours), open-ended without windowHours.
-- Per metric type: conversion = 1 if any event in the window else 0; count = number of events;
-- sum = sum of the property (falling back to the event value); ratio = numerator in `value`,
-- denominator in `denominator`. Metric definitions are read when events are applied: after changing
-- a metric or an experiment's metric list, rebuild with `rebuildTotals` (cloud/src/pipeline/aggregate.ts).
CREATE TABLE unit_metric_totals (
  project_id      text NOT NULL,
  environment     text NOT NULL,
  experiment      text NOT NULL,
  unit_id         text NOT NULL,
  metric          text NOT NULL,
  -- Conversion metric: values are 0/1 and combine with GREATEST rather than +.
  conversion      boolean NOT NULL,
  -- Analysis window value (ratio: numerator).
  value           numeric NOT NULL DEFAULT 0,
  -- Pre-exposure window value, the CUPED covariate (ratio: numerator).
  pre_value       numeric NOT NULL DEFAULT 0,
  -- Ratio metrics only: denominator in the analysis and pre-exposure windows (0 otherwise).
  denominator     numeric NOT NULL DEFAULT 0,
  pre_denominator numeric NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, environment, experiment, unit_id, metric)
);

-- Records that can never be aggregated (not JSON, not a pipeline event, unstorable values, or a
-- record that kept failing after the bounded retries), kept raw with the reason.
CREATE TABLE dead_letters (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  shard_id        text NOT NULL,
  sequence_number text NOT NULL,
  partition_key   text NOT NULL,
  -- The record's bytes exactly as read from the stream.
  data            bytea NOT NULL,
  reason          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- A re-delivered poison record is stored once.
  UNIQUE (shard_id, sequence_number)
);

-- Failed attempts of records that failed for a non-transient reason, so retries stay bounded.
CREATE TABLE record_failures (
  shard_id        text NOT NULL,
  sequence_number text NOT NULL,
  attempts        integer NOT NULL,
  last_error      text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shard_id, sequence_number)
);

-- The local shard poller's position per shard, written in the same transaction as the aggregates.
CREATE TABLE stream_checkpoints (
  stream          text NOT NULL,
  shard_id        text NOT NULL,
  -- Last sequence number whose effects are committed; reading resumes AFTER it.
  sequence_number text,
  -- The shard is closed (resharded) and fully read: its children may be read.
  shard_ended     boolean NOT NULL DEFAULT false,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, shard_id)
)

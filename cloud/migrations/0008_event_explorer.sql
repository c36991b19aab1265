-- Live event explorer: every accepted event and exposure, as the aggregator first commits it, kept for a
-- retention window (default 7 days; the purge runs periodically, see cloud/src/store/explorer.ts).
-- Written in the aggregator's batch transaction (after dedupe by event id), so each event appears once.
CREATE TABLE explorer_events (
  project_id  text NOT NULL,
  environment text NOT NULL,
  event_id    text NOT NULL,
  -- 'exposure' or 'track'.
  type        text NOT NULL,
  unit_id     text NOT NULL,
  -- Tracked events: the event name; exposures: the experiment key.
  name        text NOT NULL,
  experiment  text,
  variation   text,
  flag        text,
  value       numeric,
  -- Tracked events: their properties; exposures: the unit's attributes when exposed.
  properties  jsonb,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  -- Insertion order: the stream's cursor and the tie-breaker of the search order.
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  -- Free-text search over names, unit id, experiment, variation and property values.
  search      tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', name || ' ' || unit_id || ' ' || coalesce(experiment, '') || ' ' || coalesce(variation, '') || ' ' || coalesce(flag, '') || ' ' || coalesce(properties::text, ''))
  ) STORED,
  PRIMARY KEY (project_id, event_id)
);
CREATE INDEX explorer_events_time ON explorer_events (project_id, environment, occurred_at DESC, seq DESC);
CREATE INDEX explorer_events_unit ON explorer_events (project_id, unit_id, occurred_at, seq);
CREATE INDEX explorer_events_name ON explorer_events (project_id, environment, name, occurred_at DESC);
CREATE INDEX explorer_events_seq ON explorer_events (project_id, seq);
-- Property containment (properties @> '{"plan":"pro"}').
CREATE INDEX explorer_events_properties ON explorer_events USING gin (properties jsonb_path_ops);
CREATE INDEX explorer_events_search ON explorer_events USING gin (search);
-- The purge deletes by arrival time; rows arrive in order, so BRIN costs almost nothing.
CREATE INDEX explorer_events_received ON explorer_events USING brin (received_at);

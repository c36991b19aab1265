-- Sticky bucketing for server-side evaluation (/sdk/v1/evaluate) without Redis: each unit's
-- assignments (experiment key → variation key, the SDK's format) per project, so they survive a
-- restart and are shared by every instance (each evaluation Lambda, the local stack after `xp start`)
-- instead of living in one process's memory, where they were lost, differed between instances and
-- were evicted past 100,000 units. A row is pruned once unchanged for the retention (90 days by
-- default, as the Redis store's expiry), hence the index on updated_at.
CREATE TABLE sticky_assignments (
  project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  unit_key    text NOT NULL,
  assignments jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, unit_key)
);
CREATE INDEX sticky_assignments_updated ON sticky_assignments (updated_at);

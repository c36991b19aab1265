-- How often SDKs (and the server's remote evaluation) evaluated each flag, by the variation served,
-- in hourly buckets: the aggregator adds each `evaluations` record's counts to the bucket of the
-- hour of its window's end, in the batch's transaction and after the dedupe by event id
-- (src/pipeline/aggregate.ts), so a replayed record never counts twice. variation '' is "the
-- caller's default was served" (a variation key is never empty). No foreign key to flags: a
-- deleted flag, or a key never defined, that SDKs still ask for is what these rows show. Deleting
-- the project deletes its rows (domain/projects.ts); rows older than 90 days are pruned with the
-- dedupe records (pruneProcessedEvents).
CREATE TABLE flag_evaluations (
  project_id  text NOT NULL,
  environment text NOT NULL,
  flag_key    text NOT NULL,
  variation   text NOT NULL,
  hour        timestamptz NOT NULL,
  count       bigint NOT NULL CHECK (count > 0),
  -- The latest window end counted in the bucket: "last evaluated" to the millisecond, not the hour.
  last_at     timestamptz NOT NULL,
  PRIMARY KEY (project_id, environment, flag_key, variation, hour)
);

-- The project listing (every key evaluated since a day) and the pruning by age.
CREATE INDEX flag_evaluations_project_hour ON flag_evaluations (project_id, hour);
CREATE INDEX flag_evaluations_hour ON flag_evaluations (hour);

-- Evaluation counts by application: an `evaluations` record may name the application (service)
-- whose SDK counted (`app`, the SDKs' appName; the server's remote evaluation takes it from the
-- X-XP-App header). app '' is "no application named": rows counted before this migration keep it.
-- The bucket is now per (project, environment, flag, variation, app, hour).
ALTER TABLE flag_evaluations ADD COLUMN app text NOT NULL DEFAULT '';
ALTER TABLE flag_evaluations DROP CONSTRAINT flag_evaluations_pkey;
ALTER TABLE flag_evaluations ADD PRIMARY KEY (project_id, environment, flag_key, variation, app, hour);

-- Caps: per (project, environment, hour) at most 2,000 distinct flag keys and 50 distinct apps are
-- kept (FLAG_EVALUATION_KEY_CAP, FLAG_EVALUATION_APP_CAP in src/store/flag-evaluations.ts), so that
-- a client sending generated keys or app names cannot bloat the table. The aggregator checks them
-- in its batch transaction (soft: concurrent batches may overshoot by one batch); counts that would
-- add a key or an app beyond a cap are not stored but added here, so that the API can say how many
-- evaluations were left out (`dropped`). Pruned with the buckets (90 days); deleting the project
-- deletes its rows (domain/projects.ts).
CREATE TABLE flag_evaluation_drops (
  project_id  text NOT NULL,
  environment text NOT NULL,
  hour        timestamptz NOT NULL,
  count       bigint NOT NULL CHECK (count > 0),
  PRIMARY KEY (project_id, environment, hour)
);

-- The pruning by age.
CREATE INDEX flag_evaluation_drops_hour ON flag_evaluation_drops (hour);

-- When an experiment key was last deleted. Deleting an experiment deletes its exposures, totals and
-- rollups so that an experiment created later with the same key starts from nothing; but exposures
-- received before the deletion can still reach the aggregator afterwards (a stream backlog, an
-- `xp replay` of the archive), and would bring the deleted experiment's units back under the new
-- one. The aggregator drops exposures of a key received before its last deletion.
CREATE TABLE experiment_deletions (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  experiment text NOT NULL,
  deleted_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, experiment)
);

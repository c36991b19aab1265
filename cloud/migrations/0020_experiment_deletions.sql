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

-- Deletions made before this table existed, from the audit log (every deletion is audited), so a
-- replay of the archive after the upgrade does not bring those experiments' units back either.
INSERT INTO experiment_deletions (project_id, experiment, deleted_at)
SELECT a.project_id, a.resource_key, max(a.created_at)
FROM audit_log a
WHERE a.action = 'experiment.deleted' AND a.resource_type = 'experiment'
  AND a.project_id IN (SELECT id FROM projects)
GROUP BY a.project_id, a.resource_key;

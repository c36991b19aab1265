-- Multi-armed bandits (src/domain/bandit.ts): one row per check of a bandit experiment, whether it
-- moved the split or kept it and why. The newest row of an experiment is its last check, from which
-- the next one is due (bandit.updateEveryHours later); GET …/experiments/{key}/bandit lists them.
-- Deleting the experiment deletes its rows (its splits and results go with it).
CREATE TABLE bandit_updates (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id  text NOT NULL,
  experiment  text NOT NULL,
  at          timestamptz NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('moved', 'kept')),
  -- Why the split was kept (null when it moved): burn_in, insufficient_units, no_chance_to_be_best,
  -- split_history_full, no_change, conflict, failed.
  reason      text CHECK (reason IS NULL OR reason IN ('burn_in', 'insufficient_units', 'no_chance_to_be_best', 'split_history_full', 'no_change', 'conflict', 'failed')),
  CHECK ((outcome = 'moved') = (reason IS NULL)),
  -- The bandit metric and the environment whose results were read.
  metric      text NOT NULL,
  environment text NOT NULL,
  -- {variation key: share}: the split before the check, and after it (equal to before when kept).
  shares_before jsonb NOT NULL,
  shares_after  jsonb NOT NULL,
  -- {variation key: probability}, or null when the results gave none (an SRM, a stats error, …).
  chance_to_be_best jsonb,
  -- {variation key: units analysed}.
  units       jsonb NOT NULL,
  message     text NOT NULL,
  FOREIGN KEY (project_id, experiment) REFERENCES experiments (project_id, key) ON DELETE CASCADE
);
-- The newest checks of an experiment first (due-ness, the API's list).
CREATE INDEX bandit_updates_newest ON bandit_updates (project_id, experiment, at DESC, id DESC);

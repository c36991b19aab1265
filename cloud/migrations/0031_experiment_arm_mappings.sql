-- The flag variation each arm of a running experiment was first served, per experiment, environment
-- and flag ({arm key: flag variation key}). An experiment rule serves an arm the variation its map
-- names, else the one with the arm's key, else the one at its position, so a new order of the flag's
-- variations or a new map serves the units an arm has exposed another experience under the same arm.
-- Comparing a flag change with the stored flag alone let that through in steps (the rule removed,
-- the variations reordered, the rule added back; a rule renamed in the same write; a reorder while
-- the experiment was stopped, then a resume): every flag write and every resume is held to this
-- record instead. Recorded when the experiment starts and when a flag write first leaves it a rule
-- (an experiment running before this migration gets its record from the stored flag on its first
-- checked write or lifecycle action); deleted with the experiment's data, so an experiment created
-- later with the same key records afresh. Goes with its project.
CREATE TABLE experiment_arm_mappings (
  project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  experiment  text NOT NULL,
  environment text NOT NULL,
  flag_key    text NOT NULL,
  mapping     jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, experiment, environment, flag_key)
);

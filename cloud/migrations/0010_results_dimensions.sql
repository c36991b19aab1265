-- Dimension rollups: the results rollups of migration 0005 again, per value of a unit attribute that an
-- experiment lists in `dimensions`, so a filter on one of them (GET …/results?attr.country=US) reads a
-- few thousand rows instead of scanning every unit's totals.
--
-- An attribute is rolled up for an experiment once it is registered in `results_dimensions`; the
-- results API registers the dimensions an experiment lists, and builds their rollups from the current
-- exposures and totals (results_dimensions_build), under a SHARE lock on both tables: aggregator
-- batches in flight finish first, later ones wait, so every change is counted exactly once, by the
-- build or by the triggers below. Dropping a dimension deletes its registration and its rows.
--
-- Invariant (as in 0005, per registered dimension): for each group, the sums equal Σ over totals rows
-- t of t's contribution under its unit's CURRENT exposure, for units whose stored attributes hold the
-- dimension with that value (`attributes -> dimension`, jsonb, so 30 and 30.0 are one value and "30"
-- another, exactly as the attr.* filter compares them). Units without the attribute have no rows.
CREATE TABLE results_dimensions (
  project_id text NOT NULL,
  experiment text NOT NULL,
  dimension  text NOT NULL,
  built_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, experiment, dimension)
);

CREATE TABLE results_dimension_rollups (
  project_id  text NOT NULL,
  environment text NOT NULL,
  experiment  text NOT NULL,
  dimension   text NOT NULL,
  dimension_value jsonb NOT NULL,
  variation   text NOT NULL,
  bucket      timestamptz NOT NULL,
  metric      text NOT NULL,
  cap         numeric,
  units       bigint NOT NULL DEFAULT 0,
  excluded    bigint NOT NULL DEFAULT 0,
  v  numeric NOT NULL DEFAULT 0, vv numeric NOT NULL DEFAULT 0,
  p  numeric NOT NULL DEFAULT 0, pp numeric NOT NULL DEFAULT 0, vp numeric NOT NULL DEFAULT 0,
  d  numeric NOT NULL DEFAULT 0, dd numeric NOT NULL DEFAULT 0, vd numeric NOT NULL DEFAULT 0,
  q  numeric NOT NULL DEFAULT 0, qq numeric NOT NULL DEFAULT 0, pq numeric NOT NULL DEFAULT 0,
  vq numeric NOT NULL DEFAULT 0, dp numeric NOT NULL DEFAULT 0, dq numeric NOT NULL DEFAULT 0
);
CREATE INDEX results_dimension_rollups_dimension ON results_dimension_rollups (project_id, environment, experiment, dimension);

-- The signed, capped contributions of the totals rows in `source` (columns of unit_metric_totals, a
-- sign `s`, `variation`, `bucket` and the columns named in `keys`), appended to `target` as one delta
-- per group. 0005's results_rollups_contributions is this with no keys (and now skips the
-- denominator products of rows without denominators, which are zero).
CREATE FUNCTION results_rollups_delta(target text, keys text[], source text) RETURNS text LANGUAGE sql STABLE AS $f$
  SELECT format($q$
    INSERT INTO %1$I (project_id, environment, experiment, %2$s variation, bucket, metric, cap, v, vv, p, pp, vp, d, dd, vd, q, qq, pq, vq, dp, dq)
    SELECT c.project_id, c.environment, c.experiment, %3$s c.variation, c.bucket, c.metric, c.cap,
           sum(c.s * c.cv), sum(c.s * c.cv * c.cv), sum(c.s * c.cp), sum(c.s * c.cp * c.cp), sum(c.s * c.cv * c.cp),
           coalesce(sum(c.s * c.d) FILTER (WHERE c.ratio), 0), coalesce(sum(c.s * c.d * c.d) FILTER (WHERE c.ratio), 0),
           coalesce(sum(c.s * c.cv * c.d) FILTER (WHERE c.ratio), 0), coalesce(sum(c.s * c.q) FILTER (WHERE c.ratio), 0),
           coalesce(sum(c.s * c.q * c.q) FILTER (WHERE c.ratio), 0), coalesce(sum(c.s * c.cp * c.q) FILTER (WHERE c.ratio), 0),
           coalesce(sum(c.s * c.cv * c.q) FILTER (WHERE c.ratio), 0), coalesce(sum(c.s * c.d * c.cp) FILTER (WHERE c.ratio), 0),
           coalesce(sum(c.s * c.d * c.q) FILTER (WHERE c.ratio), 0)
    FROM (
      SELECT t.project_id, t.environment, t.experiment, %4$s t.metric, t.s, t.variation, t.bucket, k.cap,
             least(t.value, k.cap) AS cv, least(t.pre_value, k.cap) AS cp, t.denominator AS d, t.pre_denominator AS q,
             -- Only ratio metrics have denominators: the other rows skip their nine products.
             t.denominator <> 0 OR t.pre_denominator <> 0 AS ratio
      FROM (%5$s) t
      LEFT JOIN (
        SELECT m.project_id, m.key, CASE WHEN m.definition #>> '{capping,type}' = 'absolute' THEN (m.definition #>> '{capping,value}')::numeric END AS cap
        FROM metrics m
      ) k ON k.project_id = t.project_id AND k.key = t.metric
    ) c
    GROUP BY c.project_id, c.environment, c.experiment, %3$s c.variation, c.bucket, c.metric, c.cap$q$,
    target,
    (SELECT coalesce(string_agg(format('%I, ', k), ''), '') FROM unnest(keys) k),
    (SELECT coalesce(string_agg(format('c.%I, ', k), ''), '') FROM unnest(keys) k),
    (SELECT coalesce(string_agg(format('t.%I, ', k), ''), '') FROM unnest(keys) k),
    source)
$f$;

CREATE OR REPLACE FUNCTION results_rollups_contributions(source text) RETURNS text LANGUAGE sql STABLE AS $f$
  SELECT results_rollups_delta('results_rollups', '{}', source)
$f$;

-- Totals inserted, updated or deleted: their contributions in each registered dimension of their
-- experiment, under the unit's current exposure and attribute value.
CREATE FUNCTION results_dimensions_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS s, r.* FROM new_rows r'
    WHEN 'DELETE' THEN 'SELECT -1 AS s, r.* FROM old_rows r'
    ELSE 'SELECT -1 AS s, r.* FROM old_rows r UNION ALL SELECT 1 AS s, r.* FROM new_rows r' END;
BEGIN
  -- Most installations roll up no dimension: one index probe, and nothing else to do.
  IF NOT EXISTS (SELECT 1 FROM results_dimensions) THEN
    RETURN NULL;
  END IF;
  EXECUTE results_rollups_delta('results_dimension_rollups', '{dimension,dimension_value}', format(
    'SELECT r.*, x.variation, results_rollups_hour(x.exposed_at) AS bucket, g.dimension, x.attributes -> g.dimension AS dimension_value FROM (%s) r
     JOIN results_dimensions g ON g.project_id = r.project_id AND g.experiment = r.experiment
     JOIN exposures x ON x.project_id = r.project_id AND x.environment = r.environment AND x.experiment = r.experiment
                     AND x.unit_id = r.unit_id AND NOT x.excluded AND x.attributes ? g.dimension', source));
  RETURN NULL;
END $$;

-- Exposures inserted, deleted, or moved to another variation, exclusion state, hour or attribute set:
-- unit counts, and the unit's totals leave the old group and join the new one, per dimension.
CREATE FUNCTION results_dimensions_exposures() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text := 'SELECT o.project_id, o.environment, o.experiment, o.unit_id FROM old_rows o JOIN new_rows n
                     ON n.project_id = o.project_id AND n.environment = o.environment AND n.experiment = o.experiment AND n.unit_id = o.unit_id
                   WHERE (o.variation, o.excluded, results_rollups_hour(o.exposed_at), o.attributes)
                         IS DISTINCT FROM (n.variation, n.excluded, results_rollups_hour(n.exposed_at), n.attributes)';
  changes text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS s, r.* FROM new_rows r'
    WHEN 'DELETE' THEN 'SELECT -1 AS s, r.* FROM old_rows r'
    ELSE format('SELECT -1 AS s, r.* FROM old_rows r JOIN (%1$s) c USING (project_id, environment, experiment, unit_id)
                 UNION ALL SELECT 1 AS s, r.* FROM new_rows r JOIN (%1$s) c USING (project_id, environment, experiment, unit_id)', changed) END;
  source text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM results_dimensions) THEN
    RETURN NULL;
  END IF;
  source := format(
    'SELECT e.*, g.dimension, e.attributes -> g.dimension AS dimension_value FROM (%s) e
     JOIN results_dimensions g ON g.project_id = e.project_id AND g.experiment = e.experiment
     WHERE e.attributes ? g.dimension', changes);
  EXECUTE format(
    'INSERT INTO results_dimension_rollups (project_id, environment, experiment, dimension, dimension_value, variation, bucket, metric, units, excluded)
     SELECT project_id, environment, experiment, dimension, dimension_value, variation, results_rollups_hour(exposed_at), %L,
            coalesce(sum(s) FILTER (WHERE NOT excluded), 0), coalesce(sum(s) FILTER (WHERE excluded), 0)
     FROM (%s) e GROUP BY 1, 2, 3, 4, 5, 6, 7', '', source);
  EXECUTE results_rollups_delta('results_dimension_rollups', '{dimension,dimension_value}', format(
    'SELECT t.*, e.s, e.variation, results_rollups_hour(e.exposed_at) AS bucket, e.dimension, e.dimension_value FROM (%s) e
     JOIN unit_metric_totals t ON t.project_id = e.project_id AND t.environment = e.environment AND t.experiment = e.experiment
                              AND t.unit_id = e.unit_id
     WHERE NOT e.excluded', source));
  RETURN NULL;
END $$;

CREATE TRIGGER results_dimensions_totals_insert AFTER INSERT ON unit_metric_totals
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_dimensions_totals();
CREATE TRIGGER results_dimensions_totals_update AFTER UPDATE ON unit_metric_totals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_dimensions_totals();
CREATE TRIGGER results_dimensions_totals_delete AFTER DELETE ON unit_metric_totals
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION results_dimensions_totals();
CREATE TRIGGER results_dimensions_exposures_insert AFTER INSERT ON exposures
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_dimensions_exposures();
CREATE TRIGGER results_dimensions_exposures_update AFTER UPDATE ON exposures
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_dimensions_exposures();
CREATE TRIGGER results_dimensions_exposures_delete AFTER DELETE ON exposures
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION results_dimensions_exposures();

-- TRUNCATE bypasses row triggers: drop what the truncated table contributed.
CREATE OR REPLACE FUNCTION results_rollups_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'exposures' THEN
    DELETE FROM results_rollups;
    DELETE FROM results_dimension_rollups;
  ELSE
    DELETE FROM results_rollups WHERE metric <> '';
    DELETE FROM results_dimension_rollups WHERE metric <> '';
  END IF;
  RETURN NULL;
END $$;

-- (Re)builds one dimension of one experiment from the current exposures and totals, in every
-- environment. The caller holds a SHARE lock on exposures and unit_metric_totals (see above).
CREATE FUNCTION results_dimensions_build(project text, experiment_key text, dimension_name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  units text := format(
    'SELECT x.*, %L::text AS dimension, x.attributes -> %L AS dimension_value FROM exposures x
     WHERE x.project_id = %L AND x.experiment = %L AND x.attributes ? %L',
    dimension_name, dimension_name, project, experiment_key, dimension_name);
BEGIN
  DELETE FROM results_dimension_rollups WHERE project_id = project AND experiment = experiment_key AND dimension = dimension_name;
  INSERT INTO results_dimensions (project_id, experiment, dimension) VALUES (project, experiment_key, dimension_name)
  ON CONFLICT (project_id, experiment, dimension) DO UPDATE SET built_at = now();
  EXECUTE format(
    'INSERT INTO results_dimension_rollups (project_id, environment, experiment, dimension, dimension_value, variation, bucket, metric, units, excluded)
     SELECT project_id, environment, experiment, dimension, dimension_value, variation, results_rollups_hour(exposed_at), %L,
            count(*) FILTER (WHERE NOT excluded), count(*) FILTER (WHERE excluded)
     FROM (%s) e GROUP BY 1, 2, 3, 4, 5, 6, 7', '', units);
  EXECUTE results_rollups_delta('results_dimension_rollups', '{dimension,dimension_value}', format(
    'SELECT 1 AS s, t.*, e.variation, results_rollups_hour(e.exposed_at) AS bucket, e.dimension, e.dimension_value FROM (%s) e
     JOIN unit_metric_totals t ON t.project_id = e.project_id AND t.environment = e.environment AND t.experiment = e.experiment
                              AND t.unit_id = e.unit_id
     WHERE NOT e.excluded', units));
END $$;

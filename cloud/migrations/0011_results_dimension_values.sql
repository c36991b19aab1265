-- A cap on the values of a result dimension. An attribute with a value per unit (an id, an e-mail)
-- listed as a dimension made as many rollup rows as units, slowed every aggregator batch, and gave a
-- breakdown of one-unit values. Now each registered dimension keeps the set of values it has seen
-- (results_dimension_values, filled by the build and by the exposures trigger); once it holds more
-- than results_dimensions_max_values() values, the dimension is marked `too_many_values`, its
-- rollups and values are dropped, and the triggers skip it: filters on it scan, as for an attribute
-- that is not a dimension, and a breakdown explains why it cannot answer. Unlisting the dimension
-- deletes the mark; listing it again builds it again (and marks it again if it still has too many).
CREATE FUNCTION results_dimensions_max_values() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 100';

ALTER TABLE results_dimensions ADD COLUMN too_many_values boolean NOT NULL DEFAULT false;

-- Values seen, across environments (jsonb, like the rollups: 30 and "30" are two values here).
-- A value stays after its last unit leaves (an attribute changed, exposures deleted): the cap is on
-- the values a dimension has seen.
CREATE TABLE results_dimension_values (
  project_id text NOT NULL,
  experiment text NOT NULL,
  dimension  text NOT NULL,
  dimension_value jsonb NOT NULL,
  PRIMARY KEY (project_id, experiment, dimension, dimension_value)
);
INSERT INTO results_dimension_values (project_id, experiment, dimension, dimension_value)
SELECT DISTINCT project_id, experiment, dimension, dimension_value FROM results_dimension_rollups WHERE metric = '';

-- Marks the dimensions in `grown` (a jsonb array of [project_id, experiment, dimension]: those
-- that have just gained values) that now have too many, and drops their rollups and values. Counts
-- through the primary key, and only for dimensions that gained a value.
CREATE FUNCTION results_dimensions_mark_over(grown jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  over jsonb;
BEGIN
  WITH marked AS (
    UPDATE results_dimensions r SET too_many_values = true
    FROM jsonb_array_elements(grown) g(k)
    WHERE r.project_id = g.k ->> 0 AND r.experiment = g.k ->> 1 AND r.dimension = g.k ->> 2 AND NOT r.too_many_values
      AND (SELECT count(*) FROM results_dimension_values v
           WHERE v.project_id = r.project_id AND v.experiment = r.experiment AND v.dimension = r.dimension) > results_dimensions_max_values()
    RETURNING r.project_id, r.experiment, r.dimension)
  SELECT jsonb_agg(jsonb_build_array(project_id, experiment, dimension)) FROM marked INTO over;
  IF over IS NULL THEN
    RETURN;
  END IF;
  DELETE FROM results_dimension_rollups d USING jsonb_array_elements(over) o(k)
  WHERE d.project_id = o.k ->> 0 AND d.experiment = o.k ->> 1 AND d.dimension = o.k ->> 2;
  DELETE FROM results_dimension_values d USING jsonb_array_elements(over) o(k)
  WHERE d.project_id = o.k ->> 0 AND d.experiment = o.k ->> 1 AND d.dimension = o.k ->> 2;
END $$;

-- 0010's triggers, skipping dimensions with too many values; the exposures trigger records the
-- values that new and moved exposures bring before it rolls them up. (Transition tables are
-- visible only in the trigger function itself, so the recording is inline.)
CREATE OR REPLACE FUNCTION results_dimensions_totals() RETURNS trigger LANGUAGE plpgsql AS $$
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
     JOIN results_dimensions g ON g.project_id = r.project_id AND g.experiment = r.experiment AND NOT g.too_many_values
     JOIN exposures x ON x.project_id = r.project_id AND x.environment = r.environment AND x.experiment = r.experiment
                     AND x.unit_id = r.unit_id AND NOT x.excluded AND x.attributes ? g.dimension', source));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION results_dimensions_exposures() RETURNS trigger LANGUAGE plpgsql AS $$
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
  grown jsonb;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM results_dimensions) THEN
    RETURN NULL;
  END IF;
  -- Evaluated afresh by each statement below, so a dimension marked by the first is skipped by the others.
  source := format(
    'SELECT e.*, g.dimension, e.attributes -> g.dimension AS dimension_value FROM (%s) e
     JOIN results_dimensions g ON g.project_id = e.project_id AND g.experiment = e.experiment AND NOT g.too_many_values
     WHERE e.attributes ? g.dimension', changes);
  IF TG_OP <> 'DELETE' THEN
    -- The values that new and moved exposures bring (known ones cost a probe each), then, in a
    -- statement that sees them, the count of the dimensions that gained one.
    EXECUTE format(
      'WITH added AS (
         INSERT INTO results_dimension_values (project_id, experiment, dimension, dimension_value)
         SELECT DISTINCT project_id, experiment, dimension, dimension_value FROM (%s) e WHERE e.s = 1
         ON CONFLICT DO NOTHING
         RETURNING project_id, experiment, dimension)
       SELECT jsonb_agg(DISTINCT jsonb_build_array(project_id, experiment, dimension)) FROM added', source) INTO grown;
    IF grown IS NOT NULL THEN
      PERFORM results_dimensions_mark_over(grown);
    END IF;
  END IF;
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

-- TRUNCATE of the exposures forgets the values seen too.
CREATE OR REPLACE FUNCTION results_rollups_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'exposures' THEN
    DELETE FROM results_rollups;
    DELETE FROM results_dimension_rollups;
    DELETE FROM results_dimension_values;
  ELSE
    DELETE FROM results_rollups WHERE metric <> '';
    DELETE FROM results_dimension_rollups WHERE metric <> '';
  END IF;
  RETURN NULL;
END $$;

-- 0010's build, which now first counts the dimension's values among the current exposures: with
-- too many, it registers the dimension as such and builds nothing. Returns whether it built.
DROP FUNCTION results_dimensions_build(text, text, text);
CREATE FUNCTION results_dimensions_build(project text, experiment_key text, dimension_name text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  units text := format(
    'SELECT x.*, %L::text AS dimension, x.attributes -> %L AS dimension_value FROM exposures x
     WHERE x.project_id = %L AND x.experiment = %L AND x.attributes ? %L',
    dimension_name, dimension_name, project, experiment_key, dimension_name);
  found integer;
BEGIN
  DELETE FROM results_dimension_rollups WHERE project_id = project AND experiment = experiment_key AND dimension = dimension_name;
  DELETE FROM results_dimension_values WHERE project_id = project AND experiment = experiment_key AND dimension = dimension_name;
  EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT dimension_value FROM (%s) u LIMIT %s) d', units, results_dimensions_max_values() + 1) INTO found;
  INSERT INTO results_dimensions (project_id, experiment, dimension, too_many_values) VALUES (project, experiment_key, dimension_name, found > results_dimensions_max_values())
  ON CONFLICT (project_id, experiment, dimension) DO UPDATE SET built_at = now(), too_many_values = excluded.too_many_values;
  IF found > results_dimensions_max_values() THEN
    RETURN false;
  END IF;
  EXECUTE format(
    'INSERT INTO results_dimension_values (project_id, experiment, dimension, dimension_value)
     SELECT DISTINCT project_id, experiment, dimension, dimension_value FROM (%s) u', units);
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
  RETURN true;
END $$;

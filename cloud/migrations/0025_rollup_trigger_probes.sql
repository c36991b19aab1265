-- Rollup triggers of small statements probe by key instead of scanning. The aggregator's statements
-- change a few thousand totals rows and a few hundred exposures per batch, but the planner, costing
-- a probe as a random read and often working from statistics older than the table (autovacuum
-- analyzes late; PGlite never), joined their transition rows to the WHOLE exposures table (hash
-- join) or the WHOLE unit_metric_totals table (sort and merge join): each batch paid a scan of both
-- tables, about a third of the aggregator's time at 30,000 units and growing with the tables. A
-- lateral subquery that cannot be pulled up (OFFSET 0) leaves one plan, an index probe per row.
-- Statements with more rows than results_rollups_probe_limit() (a rebuild, a purge) keep 0005's
-- joins, which the planner may still choose to scan for. Both give the same rows; nothing else changes.
CREATE FUNCTION results_rollups_probe_limit() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 10000';

CREATE OR REPLACE FUNCTION results_rollups_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS s, r.* FROM new_rows r'
    WHEN 'DELETE' THEN 'SELECT -1 AS s, r.* FROM old_rows r'
    ELSE 'SELECT -1 AS s, r.* FROM old_rows r UNION ALL SELECT 1 AS s, r.* FROM new_rows r' END;
  n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM (%s) r', source) INTO n;
  IF n = 0 THEN
    RETURN NULL;
  ELSIF n <= results_rollups_probe_limit() THEN
    EXECUTE results_rollups_contributions(format(
      'SELECT r.*, x.variation, results_rollups_hour(x.exposed_at) AS bucket FROM (%s) r
       CROSS JOIN LATERAL (
         SELECT x.variation, x.exposed_at FROM exposures x
         WHERE x.project_id = r.project_id AND x.environment = r.environment AND x.experiment = r.experiment
           AND x.unit_id = r.unit_id AND NOT x.excluded
         OFFSET 0) x', source));
  ELSE
    EXECUTE results_rollups_contributions(format(
      'SELECT r.*, x.variation, results_rollups_hour(x.exposed_at) AS bucket FROM (%s) r
       JOIN exposures x ON x.project_id = r.project_id AND x.environment = r.environment AND x.experiment = r.experiment
                       AND x.unit_id = r.unit_id AND NOT x.excluded', source));
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION results_rollups_exposures() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text := 'SELECT o.project_id, o.environment, o.experiment, o.unit_id FROM old_rows o JOIN new_rows n
                     ON n.project_id = o.project_id AND n.environment = o.environment AND n.experiment = o.experiment AND n.unit_id = o.unit_id
                   WHERE (o.variation, o.excluded, results_rollups_hour(o.exposed_at)) IS DISTINCT FROM (n.variation, n.excluded, results_rollups_hour(n.exposed_at))';
  source text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS s, r.* FROM new_rows r'
    WHEN 'DELETE' THEN 'SELECT -1 AS s, r.* FROM old_rows r'
    ELSE format('SELECT -1 AS s, r.* FROM old_rows r JOIN (%1$s) c USING (project_id, environment, experiment, unit_id)
                 UNION ALL SELECT 1 AS s, r.* FROM new_rows r JOIN (%1$s) c USING (project_id, environment, experiment, unit_id)', changed) END;
  n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', CASE WHEN TG_OP = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END) INTO n;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  EXECUTE format(
    'INSERT INTO results_rollups (project_id, environment, experiment, variation, bucket, metric, units, excluded)
     SELECT project_id, environment, experiment, variation, results_rollups_hour(exposed_at), %L,
            coalesce(sum(s) FILTER (WHERE NOT excluded), 0), coalesce(sum(s) FILTER (WHERE excluded), 0)
     FROM (%s) e GROUP BY 1, 2, 3, 4, 5', '', source);
  IF n <= results_rollups_probe_limit() THEN
    EXECUTE results_rollups_contributions(format(
      'SELECT t.*, e.s, e.variation, results_rollups_hour(e.exposed_at) AS bucket FROM (%s) e
       CROSS JOIN LATERAL (
         SELECT t.* FROM unit_metric_totals t
         WHERE t.project_id = e.project_id AND t.environment = e.environment AND t.experiment = e.experiment
           AND t.unit_id = e.unit_id
         OFFSET 0) t
       WHERE NOT e.excluded', source));
  ELSE
    EXECUTE results_rollups_contributions(format(
      'SELECT t.*, e.s, e.variation, results_rollups_hour(e.exposed_at) AS bucket FROM (%s) e
       JOIN unit_metric_totals t ON t.project_id = e.project_id AND t.environment = e.environment AND t.experiment = e.experiment
                                AND t.unit_id = e.unit_id
       WHERE NOT e.excluded', source));
  END IF;
  RETURN NULL;
END $$;

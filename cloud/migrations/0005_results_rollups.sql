-- Results rollups: the sufficient statistics of every experiment per (variation, exposure hour,
-- metric), kept up to date by triggers on `exposures` and `unit_metric_totals`, so unfiltered results
-- read a few thousand rows instead of scanning every unit (1M units x 10 metrics = 10M totals rows,
-- tens of seconds of numeric arithmetic). Filtered results and percentile-capped metrics still scan
-- (cloud/src/store/results.ts).
--
-- Invariant: for each group, the sums equal Σ over totals rows t of the contribution of t under its
-- unit's CURRENT exposure (none when the unit is excluded or has no exposure), and `units` / `excluded`
-- count the exposures. Every statement that changes either table preserves it, inside the same
-- transaction as the change: totals inserted / updated / deleted add and subtract their contributions;
-- an exposure whose variation, exclusion or hour changes moves its unit's contributions. Sums are
-- exact `numeric`, so adding and subtracting never drifts.
--
-- Rows are append-only deltas (writers never update a shared row, so concurrent aggregator
-- transactions never wait on each other here); the results API compacts an experiment's deltas when
-- they pile up. A metric's absolute cap (metric.capping) is applied to value and pre_value when the
-- delta is written and recorded in `cap`; after a cap change, rebuildTotals refreshes the deltas (the
-- API scans any metric whose rows carry another cap).
CREATE TABLE results_rollups (
  project_id  text NOT NULL,
  environment text NOT NULL,
  experiment  text NOT NULL,
  variation   text NOT NULL,
  -- Start of the hour of the units' exposed_at (UTC).
  bucket      timestamptz NOT NULL,
  -- '' on rows that count units; a metric key on rows of sums.
  metric      text NOT NULL,
  -- Absolute cap applied to value and pre_value, or NULL.
  cap         numeric,
  -- Analysed and excluded units (metric '').
  units       bigint NOT NULL DEFAULT 0,
  excluded    bigint NOT NULL DEFAULT 0,
  -- v = value (ratio numerator), p = pre_value, d = denominator, q = pre_denominator; vv = Σ v², etc.
  v  numeric NOT NULL DEFAULT 0, vv numeric NOT NULL DEFAULT 0,
  p  numeric NOT NULL DEFAULT 0, pp numeric NOT NULL DEFAULT 0, vp numeric NOT NULL DEFAULT 0,
  d  numeric NOT NULL DEFAULT 0, dd numeric NOT NULL DEFAULT 0, vd numeric NOT NULL DEFAULT 0,
  q  numeric NOT NULL DEFAULT 0, qq numeric NOT NULL DEFAULT 0, pq numeric NOT NULL DEFAULT 0,
  vq numeric NOT NULL DEFAULT 0, dp numeric NOT NULL DEFAULT 0, dq numeric NOT NULL DEFAULT 0
);
CREATE INDEX results_rollups_experiment ON results_rollups (project_id, environment, experiment);

-- The signed contributions of the totals rows in `source` (columns of unit_metric_totals plus a sign
-- `s`) under their units' current exposures, appended as one delta per group.
CREATE FUNCTION results_rollups_contributions(source text) RETURNS text LANGUAGE sql STABLE AS $f$
  SELECT format($q$
    INSERT INTO results_rollups (project_id, environment, experiment, variation, bucket, metric, cap, v, vv, p, pp, vp, d, dd, vd, q, qq, pq, vq, dp, dq)
    SELECT c.project_id, c.environment, c.experiment, c.variation, c.bucket, c.metric, c.cap,
           sum(c.s * c.cv), sum(c.s * c.cv * c.cv), sum(c.s * c.cp), sum(c.s * c.cp * c.cp), sum(c.s * c.cv * c.cp),
           sum(c.s * c.d), sum(c.s * c.d * c.d), sum(c.s * c.cv * c.d),
           sum(c.s * c.q), sum(c.s * c.q * c.q), sum(c.s * c.cp * c.q), sum(c.s * c.cv * c.q), sum(c.s * c.d * c.cp), sum(c.s * c.d * c.q)
    FROM (
      SELECT t.project_id, t.environment, t.experiment, t.metric, t.s, t.variation, t.bucket, k.cap,
             least(t.value, k.cap) AS cv, least(t.pre_value, k.cap) AS cp, t.denominator AS d, t.pre_denominator AS q
      FROM (%s) t
      LEFT JOIN (
        SELECT m.project_id, m.key, CASE WHEN m.definition #>> '{capping,type}' = 'absolute' THEN (m.definition #>> '{capping,value}')::numeric END AS cap
        FROM metrics m
      ) k ON k.project_id = t.project_id AND k.key = t.metric
    ) c
    GROUP BY c.project_id, c.environment, c.experiment, c.variation, c.bucket, c.metric, c.cap$q$, source)
$f$;

-- The hour bucket of an exposure time (absolute, independent of the session time zone).
CREATE FUNCTION results_rollups_hour(at timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
  SELECT date_bin('1 hour', at, timestamptz '2000-01-01 00:00:00+00')
$f$;

-- Totals inserted, updated or deleted: their contributions under the unit's current exposure.
CREATE FUNCTION results_rollups_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS s, r.* FROM new_rows r'
    WHEN 'DELETE' THEN 'SELECT -1 AS s, r.* FROM old_rows r'
    ELSE 'SELECT -1 AS s, r.* FROM old_rows r UNION ALL SELECT 1 AS s, r.* FROM new_rows r' END;
BEGIN
  EXECUTE results_rollups_contributions(format(
    'SELECT r.*, x.variation, results_rollups_hour(x.exposed_at) AS bucket FROM (%s) r
     JOIN exposures x ON x.project_id = r.project_id AND x.environment = r.environment AND x.experiment = r.experiment
                     AND x.unit_id = r.unit_id AND NOT x.excluded', source));
  RETURN NULL;
END $$;

-- Exposures inserted, deleted, or moved to another variation, exclusion state or hour: unit counts,
-- and the contributions of the unit's totals leave the old group and join the new one.
CREATE FUNCTION results_rollups_exposures() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text := 'SELECT o.project_id, o.environment, o.experiment, o.unit_id FROM old_rows o JOIN new_rows n
                     ON n.project_id = o.project_id AND n.environment = o.environment AND n.experiment = o.experiment AND n.unit_id = o.unit_id
                   WHERE (o.variation, o.excluded, results_rollups_hour(o.exposed_at)) IS DISTINCT FROM (n.variation, n.excluded, results_rollups_hour(n.exposed_at))';
  source text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS s, r.* FROM new_rows r'
    WHEN 'DELETE' THEN 'SELECT -1 AS s, r.* FROM old_rows r'
    ELSE format('SELECT -1 AS s, r.* FROM old_rows r JOIN (%1$s) c USING (project_id, environment, experiment, unit_id)
                 UNION ALL SELECT 1 AS s, r.* FROM new_rows r JOIN (%1$s) c USING (project_id, environment, experiment, unit_id)', changed) END;
BEGIN
  EXECUTE format(
    'INSERT INTO results_rollups (project_id, environment, experiment, variation, bucket, metric, units, excluded)
     SELECT project_id, environment, experiment, variation, results_rollups_hour(exposed_at), %L,
            coalesce(sum(s) FILTER (WHERE NOT excluded), 0), coalesce(sum(s) FILTER (WHERE excluded), 0)
     FROM (%s) e GROUP BY 1, 2, 3, 4, 5', '', source);
  EXECUTE results_rollups_contributions(format(
    'SELECT t.*, e.s, e.variation, results_rollups_hour(e.exposed_at) AS bucket FROM (%s) e
     JOIN unit_metric_totals t ON t.project_id = e.project_id AND t.environment = e.environment AND t.experiment = e.experiment
                              AND t.unit_id = e.unit_id
     WHERE NOT e.excluded', source));
  RETURN NULL;
END $$;

CREATE TRIGGER results_rollups_totals_insert AFTER INSERT ON unit_metric_totals
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_totals();
CREATE TRIGGER results_rollups_totals_update AFTER UPDATE ON unit_metric_totals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_totals();
CREATE TRIGGER results_rollups_totals_delete AFTER DELETE ON unit_metric_totals
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_totals();
CREATE TRIGGER results_rollups_exposures_insert AFTER INSERT ON exposures
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_exposures();
CREATE TRIGGER results_rollups_exposures_update AFTER UPDATE ON exposures
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_exposures();
CREATE TRIGGER results_rollups_exposures_delete AFTER DELETE ON exposures
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_exposures();

-- TRUNCATE bypasses row triggers: drop what the truncated table contributed.
CREATE FUNCTION results_rollups_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'exposures' THEN
    DELETE FROM results_rollups;
  ELSE
    DELETE FROM results_rollups WHERE metric <> '';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER results_rollups_exposures_truncate AFTER TRUNCATE ON exposures FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_truncate();
CREATE TRIGGER results_rollups_totals_truncate AFTER TRUNCATE ON unit_metric_totals FOR EACH STATEMENT EXECUTE FUNCTION results_rollups_truncate();

-- Experiments that already have data.
INSERT INTO results_rollups (project_id, environment, experiment, variation, bucket, metric, units, excluded)
SELECT project_id, environment, experiment, variation, results_rollups_hour(exposed_at), '',
       count(*) FILTER (WHERE NOT excluded), count(*) FILTER (WHERE excluded)
FROM exposures GROUP BY 1, 2, 3, 4, 5;
DO $$
BEGIN
  EXECUTE results_rollups_contributions(
    'SELECT 1 AS s, t.*, x.variation, results_rollups_hour(x.exposed_at) AS bucket FROM unit_metric_totals t
     JOIN exposures x ON x.project_id = t.project_id AND x.environment = t.environment AND x.experiment = t.experiment
                     AND x.unit_id = t.unit_id AND NOT x.excluded');
END $$;

/**
 * The one grouped query over the aggregator's tables that yields, per variation and metric, the
 * sufficient statistics `@xp/shared`'s tests take (plus CUPED and ratio cross-products). Units with
 * no totals row contribute zeros, so sums come from the sparse totals and `n` from the exposures.
 * Sums are exact `numeric`, returned as decimal strings.
 */
import type { Queryable } from '../store/db.js';

export interface SufficientStatisticsRow {
  readonly variation: string;
  readonly metric: string;
  /** Units in the variation (excluded units left out). */
  readonly n: number;
  readonly sum: string;
  readonly sumSquares: string;
  /** Pre-exposure covariate (CUPED). */
  readonly preSum: string;
  readonly preSumSquares: string;
  readonly sumProducts: string;
  /** Ratio metrics: denominator sums and the numerator × denominator cross-product. */
  readonly denominatorSum: string;
  readonly denominatorSumSquares: string;
  readonly numeratorDenominatorProducts: string;
}

/**
 * The query; with `since`, only the units first exposed at or after it ($5, or $6 by period); with
 * `byPeriod`, grouped by split period too, at the exact changes in $5 (width_bucket, as the results'
 * stratified scan: 0 before the first change, p from change p − 1).
 */
function sufficientStatisticsSql(since: boolean, byPeriod: boolean): string {
  const at = byPeriod ? '$6' : '$5';
  const units = since ? ` AND exposed_at >= ${at}` : '';
  const sums = since ? ` AND x.exposed_at >= ${at}` : '';
  const period = (exposedAt: string): string => (byPeriod ? `width_bucket(${exposedAt}, $5::timestamptz[]) AS period, ` : '');
  return `
  WITH units AS (
    SELECT ${period('exposed_at')}variation, count(*)::int AS n FROM exposures
    WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND NOT excluded${units}
    GROUP BY ${byPeriod ? '1, 2' : 'variation'}),
  sums AS (
    SELECT ${period('x.exposed_at')}x.variation, t.metric,
           sum(t.value) AS sum, sum(t.value * t.value) AS sum_squares,
           sum(t.pre_value) AS pre_sum, sum(t.pre_value * t.pre_value) AS pre_sum_squares,
           sum(t.value * t.pre_value) AS sum_products,
           sum(t.denominator) AS den_sum, sum(t.denominator * t.denominator) AS den_sum_squares,
           sum(t.value * t.denominator) AS num_den_products
    FROM unit_metric_totals t
    JOIN exposures x USING (project_id, environment, experiment, unit_id)
    WHERE t.project_id = $1 AND t.environment = $2 AND t.experiment = $3 AND t.metric = ANY($4::text[]) AND NOT x.excluded${sums}
    GROUP BY ${byPeriod ? '1, 2, 3' : 'x.variation, t.metric'})
  SELECT ${byPeriod ? 'u.period, ' : ''}u.variation, m.metric, u.n,
         coalesce(s.sum, 0)::text AS sum, coalesce(s.sum_squares, 0)::text AS sum_squares,
         coalesce(s.pre_sum, 0)::text AS pre_sum, coalesce(s.pre_sum_squares, 0)::text AS pre_sum_squares,
         coalesce(s.sum_products, 0)::text AS sum_products,
         coalesce(s.den_sum, 0)::text AS den_sum, coalesce(s.den_sum_squares, 0)::text AS den_sum_squares,
         coalesce(s.num_den_products, 0)::text AS num_den_products
  FROM units u CROSS JOIN unnest($4::text[]) AS m(metric)
  LEFT JOIN sums s ON ${byPeriod ? 's.period = u.period AND ' : ''}s.variation = u.variation AND s.metric = m.metric
  ORDER BY ${byPeriod ? 'u.period, ' : ''}u.variation, m.metric`;
}

export const SUFFICIENT_STATISTICS_SQL = sufficientStatisticsSql(false, false);
const SUFFICIENT_STATISTICS_SINCE_SQL = sufficientStatisticsSql(true, false);
const PERIOD_STATISTICS_SQL = sufficientStatisticsSql(false, true);
const PERIOD_STATISTICS_SINCE_SQL = sufficientStatisticsSql(true, true);

interface StatisticsRow {
  period?: number;
  variation: string;
  metric: string;
  n: number;
  sum: string;
  sum_squares: string;
  pre_sum: string;
  pre_sum_squares: string;
  sum_products: string;
  den_sum: string;
  den_sum_squares: string;
  num_den_products: string;
}

const statisticsOf = (r: StatisticsRow): SufficientStatisticsRow => ({
  variation: r.variation,
  metric: r.metric,
  n: r.n,
  sum: r.sum,
  sumSquares: r.sum_squares,
  preSum: r.pre_sum,
  preSumSquares: r.pre_sum_squares,
  sumProducts: r.sum_products,
  denominatorSum: r.den_sum,
  denominatorSumSquares: r.den_sum_squares,
  numeratorDenominatorProducts: r.num_den_products,
});

/** Every unit's statistics, or (`since`) those of the units first exposed at or after it. */
export async function querySufficientStatistics(
  db: Queryable,
  target: { readonly projectId: string; readonly environment: string; readonly experiment: string; readonly metrics: readonly string[] },
  since?: Date,
): Promise<SufficientStatisticsRow[]> {
  const params: unknown[] = [target.projectId, target.environment, target.experiment, target.metrics];
  const out = await db.query<StatisticsRow>(since === undefined ? SUFFICIENT_STATISTICS_SQL : SUFFICIENT_STATISTICS_SINCE_SQL, since === undefined ? params : [...params, since]);
  return out.rows.map(statisticsOf);
}

/** One arm's sufficient statistics of one metric in one split period (0 before the first change, p from change p − 1). */
export interface PeriodStatisticsRow extends SufficientStatisticsRow {
  readonly period: number;
}

/** Each split period's statistics (split at the exact `changes`), or (`since`) those of the units first exposed at or after it. */
export async function queryPeriodStatistics(
  db: Queryable,
  target: { readonly projectId: string; readonly environment: string; readonly experiment: string; readonly metrics: readonly string[] },
  changes: readonly Date[],
  since?: Date,
): Promise<PeriodStatisticsRow[]> {
  const params: unknown[] = [target.projectId, target.environment, target.experiment, target.metrics, changes.map((d) => d.toISOString())];
  const out = await db.query<StatisticsRow>(since === undefined ? PERIOD_STATISTICS_SQL : PERIOD_STATISTICS_SINCE_SQL, since === undefined ? params : [...params, since]);
  return out.rows.map((r) => ({ ...statisticsOf(r), period: r.period! }));
}

/** Excluded units (seen in more than one variation) per experiment, reported next to the results. */
export async function countExcludedUnits(db: Queryable, target: { readonly projectId: string; readonly environment: string; readonly experiment: string }): Promise<number> {
  const out = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM exposures WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND excluded',
    [target.projectId, target.environment, target.experiment],
  );
  return out.rows[0]?.n ?? 0;
}

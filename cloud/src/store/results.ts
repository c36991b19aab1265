/**
 * The results API's reads over the aggregator's tables (migrations 0002, 0003, 0005): per variation,
 * per exposure-time bucket and per metric, the sufficient statistics the statistics engine takes,
 * with filters on the exposed population and per-unit capping applied before anything is summed.
 *
 * In one read-only REPEATABLE READ transaction (every statement sees the same data):
 * - unfiltered (or hour-aligned date range) requests read the trigger-maintained rollups
 *   (`results_rollups`, a few rows per variation × hour × metric);
 * - metrics the rollups cannot serve (percentile caps, a cap changed since the totals were written)
 *   and filtered requests scan: percentile caps first (`percentile_cont` over every included unit,
 *   a missing totals row counting as 0), then one grouped join of exposures and totals that yields
 *   both the totals and the time series (the caller accumulates the buckets).
 * Units belong to the bucket containing the start of their exposure hour, on both paths. Sums are
 * exact `numeric`, returned as decimal strings.
 */
import type { Database, Queryable } from './db.js';
import { SqlState } from './database.js';
import { lockProjectAggregates } from './project-locks.js';

/** Which exposed units enter the analysis; every present field narrows it (AND). */
export interface PopulationFilter {
  /** Exposure time at or after (inclusive). */
  readonly exposedFrom?: Date;
  /** Exposure time before (exclusive). */
  readonly exposedTo?: Date;
  /** Each entry: the attribute equals one of the JSON values (strings, numbers, booleans). */
  readonly attributeEquals?: readonly { readonly name: string; readonly values: readonly (string | number | boolean)[] }[];
  /** The unit id is one of these (id-list segments on the hashing attribute). */
  readonly unitIds?: readonly string[];
  /** The attribute, as text, is one of these (id-list segments on another attribute). */
  readonly attributeTextIn?: { readonly name: string; readonly values: readonly string[] };
  /** The stored attribute object is exactly one of these (conditions evaluated in JavaScript). */
  readonly attributeSets?: readonly string[];
  /** With `attributeSets`: units exposed without attributes match too. */
  readonly attributeSetsIncludeMissing?: boolean;
}

export interface ResultsTarget {
  readonly projectId: string;
  readonly environment: string;
  readonly experiment: string;
}

/** A metric to aggregate, with the cap applied to per-unit values (analysis and pre-period). */
export interface MetricRequest {
  readonly key: string;
  /** Ratio metrics need the denominator sums and cross-products. */
  readonly ratio: boolean;
  /** Absolute cap, or null. */
  readonly cap: number | null;
  /** Quantile (0, 1) of the pooled per-unit values used as the cap, or null. */
  readonly percentile: number | null;
}

/** Units exposed in one variation and time bucket (filters applied). */
export interface UnitBucketRow {
  readonly variation: string;
  readonly bucket: Date;
  /** Analysed units (not excluded). */
  readonly units: number;
  /** Units exposed to more than one variation, left out. */
  readonly excluded: number;
  /** With `periods` asked: the split period of the units (0 before the first change, i from change i − 1). */
  readonly period?: number;
}

/** Sums of one metric over the analysed units of one variation and bucket, as exact decimals. */
export interface MetricBucketRow {
  readonly variation: string;
  readonly bucket: Date;
  readonly metric: string;
  /** v = analysis value (ratio numerator), p = pre-period value, d = denominator, q = pre-period denominator. */
  readonly sums: Readonly<Record<SumName, string>>;
  /** Scanned capped metrics: units whose analysis value exceeds the cap (absent from the rollups). */
  readonly capped?: number;
  /** With `periods` asked: the split period of the units (0 before the first change, i from change i − 1). */
  readonly period?: number;
}

export const SUM_NAMES = ['v', 'vv', 'p', 'pp', 'vp', 'd', 'dd', 'vd', 'q', 'qq', 'pq', 'vq', 'dp', 'dq'] as const;
export type SumName = (typeof SUM_NAMES)[number];

/** Scan sums; denominators are 0 except on ratio metrics, so their products are skipped elsewhere. */
const SUM_SQL: Readonly<Record<SumName, string>> = {
  v: 'sum(v)',
  vv: 'sum(v * v)',
  p: 'sum(p)',
  pp: 'sum(p * p)',
  vp: 'sum(v * p)',
  d: 'sum(d) FILTER (WHERE ratio)',
  dd: 'sum(d * d) FILTER (WHERE ratio)',
  vd: 'sum(v * d) FILTER (WHERE ratio)',
  q: 'sum(q) FILTER (WHERE ratio)',
  qq: 'sum(q * q) FILTER (WHERE ratio)',
  pq: 'sum(p * q) FILTER (WHERE ratio)',
  vq: 'sum(v * q) FILTER (WHERE ratio)',
  dp: 'sum(d * p) FILTER (WHERE ratio)',
  dq: 'sum(d * q) FILTER (WHERE ratio)',
};

export interface BucketedStatistics {
  readonly units: UnitBucketRow[];
  readonly metrics: MetricBucketRow[];
  /** Percentile caps computed for this population (metric → cap value; null when no unit). */
  readonly percentileCaps: ReadonlyMap<string, number | null>;
  /** Metrics summed from the rollups; the others were scanned. */
  readonly fromRollups: ReadonlySet<string>;
  /** Rollup delta rows read and the groups they formed (compact when rows ≫ groups). */
  readonly rollupRows: number;
  readonly rollupGroups: number;
  /** The dimension whose rollups answered (a filter on it), if any. */
  readonly dimension?: string;
}

/** An attribute equality that the dimension rollups of `name` answer. */
export interface DimensionFilter {
  readonly name: string;
  readonly values: readonly (string | number | boolean)[];
}

/**
 * Which rollups can answer for this population, given the dimensions rolled up for the experiment:
 * `all` with no filter but an hour-aligned date range, `dimension` when the one other filter is an
 * equality on a rolled-up attribute; otherwise undefined (scan).
 */
export function rollupsServe(filter: PopulationFilter, dimensions: ReadonlySet<string> = new Set()): { readonly dimension?: DimensionFilter } | undefined {
  const aligned = (d: Date | undefined): boolean => d === undefined || d.getTime() % 3_600_000 === 0;
  const { exposedFrom, exposedTo, ...rest } = filter;
  if (!aligned(exposedFrom) || !aligned(exposedTo)) {
    return undefined;
  }
  const keys = Object.keys(rest);
  if (keys.length === 0) {
    return {};
  }
  const only = rest.attributeEquals;
  if (keys.length === 1 && only?.length === 1 && dimensions.has(only[0]!.name)) {
    return { dimension: only[0]! };
  }
  return undefined;
}

/**
 * Values a result dimension may have seen in an experiment before it stops being rolled up
 * (`results_dimensions_max_values()`, migration 0011).
 */
export const MAX_DIMENSION_VALUES = 100;

/**
 * The dimensions registered for an experiment (migrations 0010, 0011): built, or found to have more
 * than MAX_DIMENSION_VALUES values (and so not rolled up).
 */
export async function registeredDimensions(db: Queryable, target: Pick<ResultsTarget, 'projectId' | 'experiment'>): Promise<Map<string, { readonly tooManyValues: boolean }>> {
  const out = await db.query<{ dimension: string; too_many_values: boolean }>('SELECT dimension, too_many_values FROM results_dimensions WHERE project_id = $1 AND experiment = $2', [
    target.projectId,
    target.experiment,
  ]);
  return new Map(out.rows.map((r) => [r.dimension, { tooManyValues: r.too_many_values }]));
}

/** The dimensions whose rollups are built for an experiment. */
export async function rolledUpDimensions(db: Queryable, target: Pick<ResultsTarget, 'projectId' | 'experiment'>): Promise<Set<string>> {
  return rolledUpOf(await registeredDimensions(db, target));
}

function rolledUpOf(registered: ReadonlyMap<string, { readonly tooManyValues: boolean }>): Set<string> {
  return new Set([...registered].filter(([, r]) => !r.tooManyValues).map(([d]) => d));
}

/**
 * The values of a rolled-up dimension in one environment, with their units (analysed and excluded),
 * largest first. Values are compared as text, as attr.* filters match them (30 and "30" are one);
 * JSON nulls (and objects or arrays, which no filter matches) are left out.
 */
export async function dimensionValues(db: Queryable, target: ResultsTarget, dimension: string): Promise<{ value: string; units: number }[]> {
  const out = await db.query<{ value: string; units: number | string }>(
    `SELECT dimension_value #>> '{}' AS value, sum(units + excluded)::bigint AS units
     FROM results_dimension_rollups
     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND dimension = $4 AND metric = '' AND jsonb_typeof(dimension_value) IN ('string', 'number', 'boolean')
     GROUP BY 1 HAVING sum(units + excluded) > 0
     ORDER BY 2 DESC, 1`,
    [target.projectId, target.environment, target.experiment, dimension],
  );
  return out.rows.map((r) => ({ value: r.value, units: Number(r.units) }));
}

/**
 * The rolled-up values, in their order, with the units (analysed and excluded) of the filtered
 * population that have each (compared as text, as the rollups and attr.* filters compare them);
 * values without any are left out.
 */
export async function filteredDimensionValues(
  db: Queryable,
  target: ResultsTarget,
  dimension: string,
  rolledUp: readonly { value: string; units: number }[],
  filter: PopulationFilter,
): Promise<{ value: string; units: number }[]> {
  const params: unknown[] = [target.projectId, target.environment, target.experiment, dimension];
  const out = await db.query<{ value: string; units: number | string }>(
    `SELECT (attributes -> $4::text) #>> '{}' AS value, count(*)::bigint AS units
     FROM exposures
     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND jsonb_typeof(attributes -> $4::text) IN ('string', 'number', 'boolean')${populationWhere(filter, params)}
     GROUP BY 1`,
    params,
  );
  const units = new Map(out.rows.map((r) => [r.value, Number(r.units)]));
  return rolledUp.map(({ value }) => ({ value, units: units.get(value) ?? 0 })).filter((v) => v.units > 0);
}

/** How a dimension build may run: a time limit (PostgreSQL) and where a build that ran out of it is told. */
export interface DimensionBuildOptions {
  /** statement_timeout of each build, in ms; none when absent. */
  readonly timeoutMs?: number;
  readonly logger?: { warn(message: string, fields?: Record<string, unknown>): void };
}

/**
 * Keeps the experiment's dimension rollups in step with the dimensions it lists: drops those no
 * longer listed and builds the missing ones from the current exposures and totals, each under the
 * project's aggregates lock so that no aggregator batch is counted twice or missed (the lock waits
 * for the project's batches in flight; later ones wait for it; other projects' go on). A build is one pass over the experiment's totals
 * (instant for a new experiment, about 3 s per million totals rows); one that runs out of
 * `timeoutMs` is rolled back and left for a later call (the aggregator's, which has more time).
 * A dimension with more than MAX_DIMENSION_VALUES values is registered as such and not built (nor
 * rebuilt until it is unlisted). Returns the dimensions rolled up afterwards.
 */
export async function syncDimensions(db: Database, target: Pick<ResultsTarget, 'projectId' | 'experiment'>, listed: readonly string[], options: DimensionBuildOptions = {}): Promise<Set<string>> {
  const want = new Set(listed);
  const registered = await registeredDimensions(db, target);
  const drop = [...registered.keys()].filter((d) => !want.has(d));
  const build = [...want].filter((d) => !registered.has(d));
  if (drop.length === 0 && build.length === 0) {
    return rolledUpOf(registered);
  }
  const params = [target.projectId, target.experiment];
  const locked = async (tx: Queryable): Promise<Map<string, unknown>> => {
    await lockProjectAggregates(tx, [target.projectId], 'exclusive');
    // Another call may have done it while this one waited for the lock.
    return registeredDimensions(tx, target);
  };
  if (drop.length > 0) {
    await db.withTransaction(async (tx) => {
      const now = await locked(tx);
      const gone = [...now.keys()].filter((d) => !want.has(d));
      for (const table of ['results_dimension_rollups', 'results_dimension_values', 'results_dimensions']) {
        await tx.query(`DELETE FROM ${table} WHERE project_id = $1 AND experiment = $2 AND dimension = ANY($3::text[])`, [...params, gone]);
      }
    });
  }
  for (const dimension of build) {
    try {
      await db.withTransaction(async (tx) => {
        if (db.kind === 'pg') {
          if (options.timeoutMs !== undefined) {
            await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.timeoutMs))}`);
          }
          // One hash aggregate over every totals row (the planner expects a group per row and would
          // sort them on disk); JIT compilation costs more than it saves.
          await tx.query(`SET LOCAL work_mem = '256MB'`);
          await tx.query('SET LOCAL enable_sort = off');
          await tx.query('SET LOCAL jit = off');
        }
        if (!(await locked(tx)).has(dimension)) {
          await tx.query('SELECT results_dimensions_build($1, $2, $3)', [...params, dimension]);
        }
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== SqlState.QueryCanceled) {
        throw error;
      }
      options.logger?.warn('results dimension build ran out of time; filters on it scan until a build completes', {
        experiment: target.experiment,
        dimension,
        timeoutMs: options.timeoutMs,
      });
    }
  }
  return rolledUpDimensions(db, target);
}


/**
 * Builds the dimensions that experiments list and that are not rolled up yet, at most `limit`
 * experiments per call (the aggregator calls it between batches, where a build may take longer than
 * a results request can wait). Returns how many experiments it synced.
 */
export async function buildPendingDimensions(db: Database, options: DimensionBuildOptions & { readonly limit?: number } = {}): Promise<number> {
  const pending = await db.query<{ project_id: string; key: string; dimensions: string[] }>(
    `SELECT e.project_id, e.key, array(SELECT jsonb_array_elements_text(e.definition -> 'dimensions')) AS dimensions
     FROM experiments e
     WHERE jsonb_typeof(e.definition -> 'dimensions') = 'array'
       AND EXISTS (
         SELECT 1 FROM jsonb_array_elements_text(e.definition -> 'dimensions') d(name)
         WHERE NOT EXISTS (SELECT 1 FROM results_dimensions r WHERE r.project_id = e.project_id AND r.experiment = e.key AND r.dimension = d.name))
     -- At random: an experiment whose build keeps running out of time does not starve the others.
     ORDER BY random()
     LIMIT $1`,
    [options.limit ?? 1],
  );
  for (const row of pending.rows) {
    await syncDimensions(db, { projectId: row.project_id, experiment: row.key }, row.dimensions, options);
  }
  return pending.rows.length;
}

export const BucketWidth = {
  /** One-hour buckets. */
  Hour: 'hour',
  /** One-day buckets. */
  Day: 'day',
} as const;
export type BucketWidth = (typeof BucketWidth)[keyof typeof BucketWidth];

/** Builds the WHERE clause over `exposures` for a filter, appending its parameters to `params`. */
export function populationWhere(filter: PopulationFilter, params: unknown[]): string {
  const at = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (filter.exposedFrom !== undefined) {
    where.push(`exposed_at >= ${at(filter.exposedFrom.toISOString())}::timestamptz`);
  }
  if (filter.exposedTo !== undefined) {
    where.push(`exposed_at < ${at(filter.exposedTo.toISOString())}::timestamptz`);
  }
  for (const a of filter.attributeEquals ?? []) {
    where.push(`attributes -> ${at(a.name)}::text = ANY(${at(a.values.map((v) => JSON.stringify(v)))}::jsonb[])`);
  }
  if (filter.unitIds !== undefined) {
    where.push(`unit_id = ANY(${at(filter.unitIds)}::text[])`);
  }
  if (filter.attributeTextIn !== undefined) {
    where.push(`attributes ->> ${at(filter.attributeTextIn.name)}::text = ANY(${at(filter.attributeTextIn.values)}::text[])`);
  }
  if (filter.attributeSets !== undefined) {
    const sets = `attributes = ANY(${at(filter.attributeSets)}::jsonb[])`;
    where.push(filter.attributeSetsIncludeMissing === true ? `(${sets} OR attributes IS NULL)` : sets);
  }
  return where.map((w) => ` AND ${w}`).join('');
}

/**
 * Analysed units (not excluded, in one of `variations`) of the filtered population per split period:
 * element i counts those first exposed at or after `untils[i - 1]` and before `untils[i]` (the last,
 * those from the last `until` on). `untils` ascending.
 */
export async function unitsBySplitPeriod(db: Queryable, target: ResultsTarget, filter: PopulationFilter, untils: readonly Date[], variations: readonly string[]): Promise<number[]> {
  const params: unknown[] = [target.projectId, target.environment, target.experiment, untils.map((u) => u.toISOString()), variations];
  const out = await db.query<{ period: number; units: number }>(
    `SELECT (SELECT count(*) FROM unnest($4::timestamptz[]) AS u WHERE u <= x.exposed_at)::int AS period, count(*)::int AS units
     FROM exposures x
     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND NOT excluded AND variation = ANY($5::text[])${populationWhere(filter, params)}
     GROUP BY 1`,
    params,
  );
  const counts = untils.map(() => 0).concat(0);
  for (const row of out.rows) {
    counts[row.period] = row.units;
  }
  return counts;
}

/** Distinct stored attribute objects of the experiment's exposures (at most `limit` + 1). */
export async function distinctAttributeSets(db: Queryable, target: ResultsTarget, limit: number): Promise<string[]> {
  const out = await db.query<{ a: string }>(
    `SELECT DISTINCT attributes::text AS a FROM exposures
     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND attributes IS NOT NULL
     LIMIT $4`,
    [target.projectId, target.environment, target.experiment, limit + 1],
  );
  return out.rows.map((r) => r.a);
}

/**
 * Runs the results queries in one read-only snapshot. `origin` aligns the buckets (the start of the
 * hour the experiment started in: units are bucketed by exposure hour, so an origin off the hour
 * would shift every bucket's bounds), so "day 1" is the first 24 hours of the experiment.
 */
export async function queryBucketedStatistics(
  db: Database,
  target: ResultsTarget,
  request: {
    readonly metrics: readonly MetricRequest[];
    readonly filter: PopulationFilter;
    readonly bucket: BucketWidth;
    readonly origin: Date;
    /** Attributes whose dimension rollups are built for this experiment (rolledUpDimensions). */
    readonly dimensions?: ReadonlySet<string>;
    /**
     * Split changes (ascending): every row is also grouped by the split period of its units' first
     * exposure (`period`), at the exact instants, so one scan serves a stratified analysis. Always scans.
     */
    readonly periods?: readonly Date[];
  },
): Promise<BucketedStatistics> {
  return db.withTransaction(async (tx) => {
    if (db.kind === 'pg') {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      // The unit hash table of a million-unit scan must stay in memory; JIT compilation costs more
      // than it saves on these queries.
      await tx.query(`SET LOCAL work_mem = '256MB'`);
      await tx.query('SET LOCAL jit = off');
    }
    const fromRollups = new Set<string>();
    let units: UnitBucketRow[] = [];
    let metrics: MetricBucketRow[] = [];
    let rollupRows = 0;
    let rollupGroups = 0;
    const served = request.periods === undefined ? rollupsServe(request.filter, request.dimensions) : undefined;
    const useRollups = served !== undefined;
    if (useRollups) {
      const rollups = await queryRollups(tx, target, { ...request, dimension: served.dimension });
      units = rollups.units;
      rollupRows = rollups.rows;
      rollupGroups = rollups.groups;
      for (const m of request.metrics) {
        const rows = rollups.metrics.filter((r) => r.metric === m.key);
        // Rows written under another cap (metric edited, totals not rebuilt) cannot be re-capped.
        const servable = m.percentile === null && rows.every((r) => r.cap === m.cap || isZero(r.sums));
        if (servable) {
          fromRollups.add(m.key);
          metrics.push(...rows);
        }
      }
    }
    const scanned = request.metrics.filter((m) => !fromRollups.has(m.key));
    let percentileCaps = new Map<string, number | null>();
    if (scanned.length > 0 || !useRollups) {
      percentileCaps = await queryPercentileCaps(tx, target, scanned, request.filter);
      const scan = await queryScan(tx, target, { ...request, metrics: scanned }, percentileCaps, !useRollups);
      metrics = [...metrics, ...scan.metrics];
      if (!useRollups) {
        units = scan.units;
      }
    }
    return { units, metrics, percentileCaps, fromRollups, rollupRows, rollupGroups, ...(served?.dimension === undefined ? {} : { dimension: served.dimension.name }) };
  });
}

function isZero(sums: Readonly<Record<SumName, string>>): boolean {
  return SUM_NAMES.every((s) => Number(sums[s]) === 0);
}

type GroupRow = Record<SumName, string | null> & {
  variation: string;
  bucket: Date | string;
  metric: string | null;
  cap: string | null;
  /** bigint counts arrive as strings from pg, numbers from PGlite. */
  units: number | string | null;
  excluded: number | string | null;
  pieces: number | null;
  /** Scans only: units above the cap. */
  capped?: number | string | null;
  /** Scans asked for periods only. */
  period?: number | string | null;
};

function toRows(rows: readonly GroupRow[], caps: boolean): { units: UnitBucketRow[]; metrics: (MetricBucketRow & { cap: number | null })[] } {
  const units: UnitBucketRow[] = [];
  const metrics: (MetricBucketRow & { cap: number | null })[] = [];
  for (const r of rows) {
    const bucket = r.bucket instanceof Date ? r.bucket : new Date(r.bucket);
    const period = r.period === undefined || r.period === null ? {} : { period: Number(r.period) };
    if (r.metric === null || r.metric === '') {
      units.push({ variation: r.variation, bucket, units: Number(r.units ?? 0), excluded: Number(r.excluded ?? 0), ...period });
    } else {
      const sums = {} as Record<SumName, string>;
      for (const s of SUM_NAMES) {
        sums[s] = r[s] ?? '0';
      }
      metrics.push({
        variation: r.variation,
        bucket,
        metric: r.metric,
        sums,
        cap: caps && r.cap !== null ? Number(r.cap) : null,
        ...(r.capped === undefined || r.capped === null ? {} : { capped: Number(r.capped) }),
        ...period,
      });
    }
  }
  return { units, metrics };
}

/**
 * The rollup deltas of the experiment, summed per variation × bucket × metric × cap: of every unit,
 * or (dimension rollups) of the units whose attribute equals one of the values.
 */
async function queryRollups(
  tx: Queryable,
  target: ResultsTarget,
  request: {
    readonly metrics: readonly MetricRequest[];
    readonly filter: PopulationFilter;
    readonly bucket: BucketWidth;
    readonly origin: Date;
    readonly dimension?: DimensionFilter | undefined;
  },
): Promise<{ units: UnitBucketRow[]; metrics: (MetricBucketRow & { cap: number | null })[]; rows: number; groups: number }> {
  const params: unknown[] = [target.projectId, target.environment, target.experiment, ['', ...request.metrics.map((m) => m.key)], `1 ${request.bucket}`, request.origin.toISOString()];
  let table = 'results_rollups';
  let range = '';
  if (request.dimension !== undefined) {
    table = 'results_dimension_rollups';
    params.push(request.dimension.name, request.dimension.values.map((v) => JSON.stringify(v)));
    range += ` AND dimension = $${params.length - 1}::text AND dimension_value = ANY($${params.length}::jsonb[])`;
  }
  if (request.filter.exposedFrom !== undefined) {
    params.push(request.filter.exposedFrom.toISOString());
    range += ` AND bucket >= $${params.length}::timestamptz`;
  }
  if (request.filter.exposedTo !== undefined) {
    params.push(request.filter.exposedTo.toISOString());
    range += ` AND bucket < $${params.length}::timestamptz`;
  }
  const out = await tx.query<GroupRow>(
    `SELECT variation, date_bin($5::interval, bucket, $6::timestamptz) AS bucket, metric, cap::text AS cap,
            sum(units)::bigint AS units, sum(excluded)::bigint AS excluded, count(*)::int AS pieces,
            ${SUM_NAMES.map((s) => `sum(${s})::text AS ${s}`).join(', ')}
     FROM ${table}
     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND metric = ANY($4::text[])${range}
     GROUP BY variation, 2, metric, cap`,
    params,
  );
  const { units, metrics } = toRows(out.rows, true);
  return { units, metrics, rows: out.rows.reduce((n, r) => n + (r.pieces ?? 0), 0), groups: out.rows.length };
}

/** One grouped join of the filtered exposures and their (capped) totals; unit counts when asked. */
async function queryScan(
  tx: Queryable,
  target: ResultsTarget,
  request: { readonly metrics: readonly MetricRequest[]; readonly filter: PopulationFilter; readonly bucket: BucketWidth; readonly origin: Date; readonly periods?: readonly Date[] | undefined },
  percentileCaps: ReadonlyMap<string, number | null>,
  withUnits: boolean,
): Promise<{ units: UnitBucketRow[]; metrics: MetricBucketRow[] }> {
  const caps = request.metrics.map((m) => (m.percentile === null ? m.cap : (percentileCaps.get(m.key) ?? null)));
  const params: unknown[] = [
    target.projectId,
    target.environment,
    target.experiment,
    request.metrics.map((m) => m.key),
    caps,
    `1 ${request.bucket}`,
    request.origin.toISOString(),
    request.metrics.map((m) => m.ratio),
  ];
  const where = populationWhere(request.filter, params);
  // The split period: width_bucket gives 0 before the first change, i from change i − 1 on.
  let period = 'NULL::int';
  if (request.periods !== undefined) {
    params.push(request.periods.map((d) => d.toISOString()));
    period = `width_bucket(exposed_at, $${params.length}::timestamptz[])`;
  }
  const unitsPart = `
       SELECT variation, bucket, NULL AS metric, NULL AS cap,
              count(*) FILTER (WHERE NOT excluded) AS units, count(*) FILTER (WHERE excluded) AS excluded, NULL::int AS pieces,
              ${SUM_NAMES.map((s) => `NULL::text AS ${s}`).join(', ')}, NULL::bigint AS capped, period
       FROM x GROUP BY variation, bucket, period
       UNION ALL`;
  const out = await tx.query<GroupRow>(
    `WITH x AS (
       SELECT unit_id, variation, excluded, date_bin($6::interval, results_rollups_hour(exposed_at), $7::timestamptz) AS bucket, ${period} AS period
       FROM exposures
       WHERE project_id = $1 AND environment = $2 AND experiment = $3${where}),
     caps AS (SELECT * FROM unnest($4::text[], $5::numeric[], $8::boolean[]) AS c(metric, cap, ratio)),
     t AS (
       SELECT t.unit_id, t.metric, c.ratio,
              least(t.value, c.cap) AS v, least(t.pre_value, c.cap) AS p, t.denominator AS d, t.pre_denominator AS q, t.value > c.cap AS over
       FROM unit_metric_totals t JOIN caps c ON c.metric = t.metric
       WHERE t.project_id = $1 AND t.environment = $2 AND t.experiment = $3)
     ${withUnits ? unitsPart : ''}
     SELECT x.variation, x.bucket, t.metric, NULL, NULL, NULL, NULL,
            ${SUM_NAMES.map((s) => `${SUM_SQL[s]}::text AS ${s}`).join(', ')}, count(*) FILTER (WHERE over)::bigint AS capped, x.period
     FROM t JOIN x ON x.unit_id = t.unit_id AND NOT x.excluded
     GROUP BY x.variation, x.bucket, t.metric, x.period`,
    params,
  );
  const { units, metrics } = toRows(out.rows, false);
  return { units, metrics: metrics.map(({ cap: _cap, ...row }) => row) };
}

/**
 * Merges an experiment's rollup deltas (or those of one of its dimensions) into one row per group,
 * dropping groups that sum to zero. Concurrent writers only insert, so nothing they add is lost; a
 * concurrent compaction deletes (and re-adds) only the rows its own DELETE removed.
 */
export async function compactRollups(db: Queryable, target: ResultsTarget, dimension?: string): Promise<void> {
  const table = dimension === undefined ? 'results_rollups' : 'results_dimension_rollups';
  const keys = dimension === undefined ? '' : 'dimension, dimension_value, ';
  await db.query(
    `WITH gone AS (
       DELETE FROM ${table} WHERE project_id = $1 AND environment = $2 AND experiment = $3${dimension === undefined ? '' : ' AND dimension = $4'} RETURNING *)
     INSERT INTO ${table} (project_id, environment, experiment, ${keys}variation, bucket, metric, cap, units, excluded, ${SUM_NAMES.join(', ')})
     SELECT project_id, environment, experiment, ${keys}variation, bucket, metric, cap, sum(units), sum(excluded), ${SUM_NAMES.map((s) => `sum(${s})`).join(', ')}
     FROM gone
     GROUP BY project_id, environment, experiment, ${keys}variation, bucket, metric, cap
     HAVING sum(units) <> 0 OR sum(excluded) <> 0 OR ${SUM_NAMES.map((s) => `sum(${s}) <> 0`).join(' OR ')}`,
    dimension === undefined ? [target.projectId, target.environment, target.experiment] : [target.projectId, target.environment, target.experiment, dimension],
  );
}

/**
 * The `percentile` quantile of each metric's per-unit analysis values over every analysed unit of
 * the population, pooled across variations; units without a totals row count as 0, as they do in
 * the sums.
 */
async function queryPercentileCaps(
  tx: Queryable,
  target: ResultsTarget,
  metrics: readonly MetricRequest[],
  filter: PopulationFilter,
): Promise<Map<string, number | null>> {
  const wanted = metrics.filter((m) => m.percentile !== null);
  const caps = new Map<string, number | null>();
  if (wanted.length === 0) {
    return caps;
  }
  const params: unknown[] = [target.projectId, target.environment, target.experiment, wanted.map((m) => m.key), wanted.map((m) => m.percentile)];
  const where = populationWhere(filter, params);
  const out = await tx.query<{ metric: string; cap: number | string | null }>(
    `WITH x AS (
       SELECT unit_id FROM exposures
       WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND NOT excluded${where}),
     wanted AS (SELECT * FROM unnest($4::text[], $5::float8[]) AS w(metric, q)),
     v AS (
       SELECT t.metric, t.value FROM unit_metric_totals t JOIN x ON x.unit_id = t.unit_id
       WHERE t.project_id = $1 AND t.environment = $2 AND t.experiment = $3 AND t.metric = ANY($4::text[])),
     zeros AS (
       SELECT w.metric, (SELECT count(*) FROM x) - (SELECT count(*) FROM v WHERE v.metric = w.metric) AS n FROM wanted w),
     -- Totals are numeric and may pass what float8 (percentile_cont's type) holds: clamped, they cannot fail the query.
     padded AS (
       SELECT metric, value FROM v
       UNION ALL
       SELECT z.metric, 0 FROM zeros z, generate_series(1, z.n))
     SELECT w.metric, (SELECT percentile_cont(w.q) WITHIN GROUP (ORDER BY LEAST(GREATEST(p.value, -1.7976931348623157e308), 1.7976931348623157e308)::float8) FROM padded p WHERE p.metric = w.metric) AS cap
     FROM wanted w`,
    params,
  );
  for (const row of out.rows) {
    caps.set(row.metric, row.cap === null ? null : Number(row.cap));
  }
  return caps;
}

// ---------------------------------------------------------------------------------------------
// Data-quality reads (the results' warnings and per-unit counts): small, targeted queries over the
// experiment's exposures and totals, each run only when the caller has reason to.

/** A (metric, variation) whose largest unit is asked for, with the cap the analysis applies (null: none). */
export interface LargestUnitRequest {
  readonly metric: string;
  readonly variation: string;
  readonly cap: number | null;
}

/**
 * The analysed unit of a variation with the largest absolute (capped) analysis value of a metric,
 * with what the other units of the arm add up to, read in the same pass.
 */
export interface LargestUnitRow {
  readonly metric: string;
  readonly variation: string;
  readonly unitId: string;
  /** Its (capped) value, as an exact decimal (negative for a refund-like unit). */
  readonly value: string;
  /** Σ|v| and Σv of the arm's (capped) values, as exact decimals. */
  readonly absoluteTotal: string;
  readonly total: string;
  /** |value| / Σ|v| (0 to 1), divided exactly then rounded to a double: it holds when Σ|v| passes what a double holds. */
  readonly share: number;
  /** Analysed units of the arm with a non-zero (capped) value, the unit included. */
  readonly contributors: number;
}

/**
 * The unit with the largest absolute (capped) value of each requested metric × variation among the
 * analysed units of the population (ties: the smallest id), with the arm's Σ|v|, Σv and count of
 * non-zero units. One grouped join of the requested metrics' totals with the requested variations'
 * exposures: the caller asks only where the sums cannot rule a dominant unit out, so this rarely runs.
 */
export async function queryLargestUnits(db: Queryable, target: ResultsTarget, requests: readonly LargestUnitRequest[], filter: PopulationFilter): Promise<LargestUnitRow[]> {
  if (requests.length === 0) {
    return [];
  }
  const params: unknown[] = [
    target.projectId,
    target.environment,
    target.experiment,
    requests.map((r) => r.metric),
    requests.map((r) => r.variation),
    requests.map((r) => r.cap),
  ];
  const where = populationWhere(filter, params);
  const out = await db.query<{ metric: string; variation: string; unit_id: string; value: string; abs_total: string; total: string; share: number | string; contributors: number | string }>(
    `WITH c AS (SELECT * FROM unnest($4::text[], $5::text[], $6::numeric[]) AS c(metric, variation, cap)),
     x AS (
       SELECT unit_id, variation FROM exposures
       WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND NOT excluded AND variation = ANY($5::text[])${where}),
     v AS (
       SELECT c.metric, c.variation, t.unit_id, least(t.value, c.cap) AS v
       FROM c
       JOIN unit_metric_totals t ON t.project_id = $1 AND t.environment = $2 AND t.experiment = $3 AND t.metric = c.metric
       JOIN x ON x.unit_id = t.unit_id AND x.variation = c.variation),
     nz AS (SELECT * FROM v WHERE v <> 0),
     top AS (
       SELECT DISTINCT ON (metric, variation) metric, variation, unit_id, v,
         sum(abs(v)) OVER arm AS abs_total, sum(v) OVER arm AS total, count(*) OVER arm AS contributors
       FROM nz
       WINDOW arm AS (PARTITION BY metric, variation)
       ORDER BY metric, variation, abs(v) DESC, unit_id)
     SELECT metric, variation, unit_id, v::text AS value, abs_total::text AS abs_total, total::text AS total,
       (abs(v) / abs_total)::float8 AS share, contributors
     FROM top`,
    params,
  );
  return out.rows.map((r) => ({
    metric: r.metric,
    variation: r.variation,
    unitId: r.unit_id,
    value: r.value,
    absoluteTotal: r.abs_total,
    total: r.total,
    share: Number(r.share),
    contributors: Number(r.contributors),
  }));
}

/** Analysed units of one variation whose analysis value of a capped metric exceeds its cap. */
export interface CappedUnitsRow {
  readonly metric: string;
  readonly variation: string;
  readonly units: number;
}

/**
 * How many analysed units of each variation have a value above each metric's cap (the units the cap
 * changed). Reads every totals row of the metrics: the caller limits it to experiments small enough.
 */
export async function queryCappedUnits(db: Queryable, target: ResultsTarget, metrics: readonly { readonly metric: string; readonly cap: number }[], filter: PopulationFilter): Promise<CappedUnitsRow[]> {
  if (metrics.length === 0) {
    return [];
  }
  const params: unknown[] = [target.projectId, target.environment, target.experiment, metrics.map((m) => m.metric), metrics.map((m) => m.cap)];
  const where = populationWhere(filter, params);
  const out = await db.query<{ metric: string; variation: string; units: number | string }>(
    `WITH c AS (SELECT * FROM unnest($4::text[], $5::numeric[]) AS c(metric, cap)),
     x AS (
       SELECT unit_id, variation FROM exposures
       WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND NOT excluded${where})
     SELECT t.metric, x.variation, count(*)::bigint AS units
     FROM c
     JOIN unit_metric_totals t ON t.project_id = $1 AND t.environment = $2 AND t.experiment = $3 AND t.metric = c.metric AND t.value > c.cap
     JOIN x ON x.unit_id = t.unit_id
     GROUP BY t.metric, x.variation`,
    params,
  );
  return out.rows.map((r) => ({ metric: r.metric, variation: r.variation, units: Number(r.units) }));
}

/** An analysed unit whose id is one of the asked-for ids. */
export interface UnitIdRow {
  readonly variation: string;
  readonly unitId: string;
}

/**
 * The analysed units of the population whose id is one of `ids` (at most `limit`, by id): index
 * probes on the exposures' primary key, one per id.
 */
export async function queryUnitsWithIds(db: Queryable, target: ResultsTarget, ids: readonly string[], filter: PopulationFilter, limit: number): Promise<UnitIdRow[]> {
  const params: unknown[] = [target.projectId, target.environment, target.experiment, ids, limit];
  const where = populationWhere(filter, params);
  const out = await db.query<{ variation: string; unit_id: string }>(
    `SELECT variation, unit_id FROM exposures
     WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND unit_id = ANY($4::text[]) AND NOT excluded${where}
     ORDER BY unit_id LIMIT $5`,
    params,
  );
  return out.rows.map((r) => ({ variation: r.variation, unitId: r.unit_id }));
}

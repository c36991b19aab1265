/**
 * Experiment results: the exposed population (filtered by exposure time, attributes or a segment),
 * SQL sufficient statistics per variation × metric × exposure-time bucket (store/results.ts), then
 * `analyzeExperiment` from @xp/shared on the totals and on the cumulative sums at each bucket (the
 * time series). Degenerate inputs come back as the engine's error codes with neutral numbers; no
 * NaN or Infinity ever reaches JSON (unbounded interval ends are null).
 */
import { z } from 'zod';
import type { AnalysisOptions, CapSpec, ComparisonResult, Experiment, ExperimentAnalysis, Metric, MetricAnalysisInput, Segment, StatsError } from '@xp/shared';
import {
  CapType,
  CorrectionMethod,
  DifferenceType,
  MetricType,
  StatsErrorCode,
  TestMethod,
  analyzeExperiment,
  evalCondition,
  expandVariations,
  experimentSchema,
  metricSchema,
} from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import { AppError, AppErrorCode, invalid } from '../errors.js';
import type { Database, Queryable } from '../store/db.js';
import { DefinitionKind, DefinitionRepository } from '../store/definitions.js';
import { environments } from '../store/projects.js';
import type { BucketWidth, DimensionBuildOptions, MetricBucketRow, MetricRequest, PopulationFilter, ResultsTarget, SumName } from '../store/results.js';
import { BucketWidth as Width, MAX_DIMENSION_VALUES, SUM_NAMES, compactRollups, dimensionValues, distinctAttributeSets, queryBucketedStatistics, registeredDimensions, syncDimensions } from '../store/results.js';
import type { Actor, Deps, Logger } from './context.js';
import { projectFor } from './definitions.js';

/** Time-series points returned at most; longer series keep every k-th bucket (cumulative, so exact). */
export const MAX_SERIES_POINTS = 500;
/** Distinct attribute objects a non-equality segment condition may be evaluated against. */
export const MAX_ATTRIBUTE_SETS = 10_000;
/** Rollup delta rows read beyond which (and beyond 4 per group) the experiment's rollups are compacted. */
export const COMPACT_ROLLUPS_ABOVE = 2_000;
const DEFAULT_ALPHA = 0.05;

// ---------------------------------------------------------------------------------------------
// Response schema (also the OpenAPI document's)

const statsErrorSchema = z.object({ code: z.enum(Object.values(StatsErrorCode) as [StatsErrorCode, ...StatsErrorCode[]]), message: z.string() });
const boundSchema = z.number().nullable();
/** [lower, upper]; null is an unbounded end (one-sided intervals), never a number JSON cannot carry. */
const intervalSchema = z.tuple([boundSchema, boundSchema]);

const comparisonSchema = z.object({
  /** Relative lift (treatment − control) / |control| unless the metric says otherwise. */
  effect: z.number(),
  difference: z.enum([DifferenceType.Relative, DifferenceType.Absolute]),
  ci: intervalSchema,
  se: z.number(),
  pValue: z.number(),
  /** Corrected across every metric × treatment of the experiment. */
  adjustedPValue: z.number(),
  method: z.enum([TestMethod.Welch, TestMethod.Sequential]),
  significant: z.boolean(),
  cuped: z.object({ theta: z.number(), varianceReduction: z.number() }).nullable(),
  chanceToWin: z.number(),
  risk: z.object({ control: z.number(), treatment: z.number() }),
  credibleInterval: intervalSchema,
  error: statsErrorSchema.nullable(),
});

const variationResultSchema = z.object({
  variation: z.string(),
  units: z.number().int(),
  /** Σ per-unit (capped) values: conversions, events, amount, or the ratio's numerator. */
  total: z.number(),
  /** Ratio metrics: Σ denominator; null otherwise. */
  denominatorTotal: z.number().nullable(),
  /** Unadjusted mean per unit (ratio: total / denominatorTotal); 0 when undefined. */
  mean: z.number(),
  /** Null for the control. */
  comparison: comparisonSchema.nullable(),
});

const metricResultSchema = z.object({
  key: z.string(),
  name: z.string(),
  type: z.enum([MetricType.Conversion, MetricType.Count, MetricType.Sum, MetricType.Ratio]),
  role: z.enum(['primary', 'secondary', 'guardrail']),
  higherIsBetter: z.boolean(),
  /** The cap applied to every unit's value before summing; `value` null when no unit had data. */
  cap: z.object({ type: z.enum([CapType.Absolute, CapType.Percentile]), percentile: z.number().nullable(), value: z.number().nullable() }).nullable(),
  /** Whether pre-exposure data existed and CUPED covariates were used. */
  cupedApplied: z.boolean(),
  /** rollup: summed from the trigger-maintained rollups; scan: aggregated from every unit's totals. */
  source: z.enum(['rollup', 'scan']),
  error: statsErrorSchema.nullable(),
  variations: z.array(variationResultSchema),
});

const seriesPointSchema = z.object({
  /** Start of the last bucket included (cumulative: every unit exposed before `end`). */
  bucket: z.string(),
  end: z.string(),
  units: z.record(z.string(), z.number().int()),
  metrics: z.array(
    z.object({ metric: z.string(), variation: z.string(), effect: z.number(), ci: intervalSchema, pValue: z.number(), error: statsErrorSchema.nullable() }),
  ),
});

export const experimentResultsSchema = z
  .object({
    experiment: z.object({ key: z.string(), name: z.string(), status: z.string(), startedAt: z.string().nullable() }),
    environment: z.string(),
    computedAt: z.string(),
    filters: z.object({ from: z.string().nullable(), to: z.string().nullable(), segment: z.string().nullable(), attributes: z.record(z.string(), z.string()) }),
    analysis: z.object({
      alpha: z.number(),
      sequential: z.boolean(),
      sequentialTuning: z.number().nullable(),
      correction: z.enum([CorrectionMethod.Holm, CorrectionMethod.BenjaminiHochberg, CorrectionMethod.None]),
      interval: z.enum([Width.Hour, Width.Day]),
    }),
    units: z.object({ analysed: z.number().int(), excluded: z.number().int() }),
    variations: z.array(z.object({ key: z.string(), name: z.string().nullable(), expectedShare: z.number(), units: z.number().int() })),
    srm: z.object({ chiSquare: z.number(), df: z.number(), pValue: z.number(), flagged: z.boolean(), error: statsErrorSchema.nullable() }),
    metrics: z.array(metricResultSchema),
    timeSeries: z.object({ interval: z.enum([Width.Hour, Width.Day]), points: z.array(seriesPointSchema) }),
    /** Set when the experiment cannot be analysed at all (e.g. fewer than two variations). */
    error: statsErrorSchema.nullable(),
  })
  .meta({ id: 'ExperimentResults' });

export type ExperimentResults = z.output<typeof experimentResultsSchema>;

/** Most values one breakdown analyses (the largest by units); the rest are counted in `omitted`. */
export const MAX_BREAKDOWN_VALUES = 50;

export const resultsBreakdownSchema = z
  .object({
    experiment: z.object({ key: z.string(), name: z.string() }),
    environment: z.string(),
    dimension: z.string(),
    computedAt: z.string(),
    /** Per value of the dimension, largest first: the results of the units with that value (no time series). */
    values: z.array(z.object({ value: z.string(), results: experimentResultsSchema })),
    /** Values left out beyond `limit`, and the units they hold. */
    omitted: z.object({ values: z.number().int(), units: z.number().int() }),
  })
  .meta({ id: 'ResultsBreakdown' });
export type ResultsBreakdown = z.output<typeof resultsBreakdownSchema>;
type MetricResult = ExperimentResults['metrics'][number];
type Comparison = z.output<typeof comparisonSchema>;
type SeriesPoint = ExperimentResults['timeSeries']['points'][number];

// ---------------------------------------------------------------------------------------------
// Request

export interface ResultsRequest {
  /** Default 'production'. */
  readonly environment?: string;
  /** Units first exposed at or after. */
  readonly from?: Date;
  /** Units first exposed before. */
  readonly to?: Date;
  /** A segment key: id lists match unit ids (or an attribute), conditions the stored attributes. */
  readonly segment?: string;
  /** attr.<name>=<value>: the unit's stored attribute equals the value (as text, number or boolean). */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Confidence sequences instead of the fixed-horizon test. Default false. */
  readonly sequential?: boolean;
  /** CUPED variance reduction when pre-exposure data exists. Default true; false analyses without it. */
  readonly cuped?: boolean;
  /** Default 0.05. */
  readonly alpha?: number;
  /** Default holm. */
  readonly correction?: CorrectionMethod;
  /** Time-series bucket width. Default day. */
  readonly interval?: BucketWidth;
}

const metricsRepo = new DefinitionRepository<Metric>(DefinitionKind.Metric);
const experimentsRepo = new DefinitionRepository<Experiment>(DefinitionKind.Experiment);
const segmentsRepo = new DefinitionRepository<Segment>(DefinitionKind.Segment);

export class ResultsService {
  constructor(private readonly deps: Pick<Deps, 'db' | 'now' | 'logger' | 'dimensionBuildTimeoutMs'>) {}

  /** Results of one experiment in one environment; 404 for unknown project, experiment or environment. */
  async get(actor: Actor, projectKey: string, experimentKey: string, request: ResultsRequest): Promise<ExperimentResults> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const environment = request.environment ?? 'production';
    await environments.get(this.deps.db, project.id, environment);
    return computeResults(this.deps.db, { projectId: project.id, environment, experiment: experimentKey }, request, this.deps.now(), this.deps.logger, { build: this.build() });
  }

  private build(): DimensionBuildOptions {
    return { logger: this.deps.logger, ...(this.deps.dimensionBuildTimeoutMs === undefined ? {} : { timeoutMs: this.deps.dimensionBuildTimeoutMs }) };
  }

  /** Results per value of one of the experiment's dimensions; 404 as `get`, 400 for a dimension it does not list. */
  async breakdown(actor: Actor, projectKey: string, experimentKey: string, request: BreakdownRequest): Promise<ResultsBreakdown> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const environment = request.environment ?? 'production';
    await environments.get(this.deps.db, project.id, environment);
    return computeBreakdown(this.deps.db, { projectId: project.id, environment, experiment: experimentKey }, request, this.deps.now(), this.deps.logger, this.build());
  }
}

/** What a breakdown analyses: the results options, one of the experiment's dimensions, how many values. */
export interface BreakdownRequest extends Pick<ResultsRequest, 'environment' | 'sequential' | 'cuped' | 'alpha' | 'correction'> {
  readonly dimension: string;
  readonly limit?: number;
}

/**
 * The experiment's results per value of one of its dimensions: the values from the dimension's
 * rollups, largest first, each analysed as `attr.<dimension>=<value>` would be (from the same rollups).
 */
export async function computeBreakdown(
  db: Database,
  target: ResultsTarget,
  request: BreakdownRequest,
  now: Date,
  logger?: Logger,
  build: DimensionBuildOptions = {},
): Promise<ResultsBreakdown> {
  const stored = await experimentsRepo.get(db, target.projectId, target.experiment);
  const parsed = experimentSchema.safeParse(stored.definition);
  if (!parsed.success) {
    throw new AppError(AppErrorCode.InvalidState, `experiment "${stored.key}" is not a valid definition; fix it before reading results`);
  }
  const listed = parsed.data.dimensions ?? [];
  if (!listed.includes(request.dimension)) {
    throw invalid(`"${request.dimension}" is not one of the experiment's dimensions (${listed.length === 0 ? 'it lists none' : listed.join(', ')}); add it to the experiment's dimensions`, {
      issues: [{ path: 'query.dimension', message: 'not one of the experiment\'s dimensions' }],
    });
  }
  if (!(await syncDimensions(db, target, listed, build)).has(request.dimension)) {
    if ((await registeredDimensions(db, target)).get(request.dimension)?.tooManyValues === true) {
      throw new AppError(
        AppErrorCode.InvalidState,
        `"${request.dimension}" has more than ${MAX_DIMENSION_VALUES} values in this experiment, too many to break down (results filtered by one value, attr.${request.dimension}=…, are still available); break down by an attribute with fewer values`,
      );
    }
    throw new AppError(AppErrorCode.Unavailable, `the rollups of "${request.dimension}" are still being built (the experiment has much data); try again in a minute`, { retryAfterSeconds: 60 });
  }
  const limit = Math.min(request.limit ?? 20, MAX_BREAKDOWN_VALUES);
  const found = await dimensionValues(db, target, request.dimension);
  const shown = found.slice(0, limit);
  const values: ResultsBreakdown['values'] = [];
  for (const { value } of shown) {
    const { dimension: _d, limit: _l, ...options } = request;
    values.push({ value, results: await computeResults(db, target, { ...options, attributes: { [request.dimension]: value } }, now, logger, { series: false, build }) });
  }
  const rest = found.slice(limit);
  return {
    experiment: { key: stored.key, name: parsed.data.name },
    environment: target.environment,
    dimension: request.dimension,
    computedAt: now.toISOString(),
    values,
    omitted: { values: rest.length, units: rest.reduce((n, v) => n + v.units, 0) },
  };
}

interface MetricPlan {
  readonly metric: Metric;
  readonly role: MetricResult['role'];
}

/** The experiment's primary, secondary and guardrail metrics, then the project's guardrail metrics. */
async function planMetrics(db: Queryable, projectId: string, experiment: Experiment): Promise<MetricPlan[]> {
  const all: { key: string; archived: boolean; definition: Metric }[] = [];
  for (const m of await metricsRepo.all(db, projectId, true)) {
    const parsed = metricSchema.safeParse(m.definition);
    if (parsed.success) {
      all.push({ key: m.key, archived: m.archived, definition: parsed.data });
    }
  }
  const byKey = new Map(all.map((m) => [m.key, m.definition]));
  const plans: MetricPlan[] = [];
  const seen = new Set<string>();
  const add = (key: string, role: MetricResult['role']): void => {
    const metric = byKey.get(key);
    if (metric !== undefined && !seen.has(key)) {
      seen.add(key);
      plans.push({ metric, role });
    }
  };
  experiment.metrics.primary.forEach((k) => {
    add(k, 'primary');
  });
  experiment.metrics.secondary.forEach((k) => {
    add(k, 'secondary');
  });
  experiment.metrics.guardrails.forEach((k) => {
    add(k, 'guardrail');
  });
  for (const m of all) {
    if (!m.archived && m.definition.guardrail) {
      add(m.key, 'guardrail');
    }
  }
  return plans;
}

/** Loads the definitions, runs the queries and the statistics; the caller has checked access. */
export async function computeResults(
  db: Database,
  target: ResultsTarget,
  request: ResultsRequest,
  now: Date,
  logger?: Logger,
  options: { readonly series?: boolean; readonly build?: DimensionBuildOptions } = {},
): Promise<ExperimentResults> {
  const stored = await experimentsRepo.get(db, target.projectId, target.experiment);
  const parsed = experimentSchema.safeParse(stored.definition);
  if (!parsed.success) {
    throw new AppError(AppErrorCode.InvalidState, `experiment "${stored.key}" is not a valid definition; fix it before reading results`);
  }
  const experiment = parsed.data;
  if (request.from !== undefined && request.to !== undefined && request.from >= request.to) {
    throw invalid('from must be before to', { issues: [{ path: 'query.from', message: 'must be before to' }] });
  }
  const filter = await populationFilter(db, target, experiment, request);
  const plans = await planMetrics(db, target.projectId, experiment);
  const interval = request.interval ?? Width.Day;
  const origin = experiment.startedAt === undefined ? new Date(Date.UTC(2000, 0, 1)) : new Date(experiment.startedAt);
  const metricRequests: MetricRequest[] = plans.map(({ metric }) => ({
    key: metric.key,
    ratio: metric.type === MetricType.Ratio,
    cap: metric.capping?.type === CapType.Absolute ? metric.capping.value : null,
    percentile: metric.capping?.type === CapType.Percentile ? metric.capping.value : null,
  }));
  // A filter on one of the experiment's dimensions reads their rollups, built by the first results
  // request after they are listed (the guardrail checks and the console ask within a minute).
  const dimensions = await syncDimensions(db, target, experiment.dimensions ?? [], options.build ?? (logger === undefined ? {} : { logger }));
  const stats = await queryBucketedStatistics(db, target, { metrics: metricRequests, filter, bucket: interval, origin, dimensions });
  if (stats.rollupRows > COMPACT_ROLLUPS_ABOVE && stats.rollupRows > 4 * stats.rollupGroups) {
    // Best effort: the answer is already computed; the next read compacts if this one could not.
    await compactRollups(db, target, stats.dimension).catch((error: unknown) => {
      logger?.warn('results rollup compaction failed', { experiment: target.experiment, error: error instanceof Error ? error.message : String(error) });
    });
  }

  const variations = expandVariations(experiment);
  const weights = variations.map((v) => v.weight ?? 1);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const withSeries = options.series !== false;
  const analysisOptions: AnalysisOptions = {
    alpha: request.alpha ?? DEFAULT_ALPHA,
    sequential: request.sequential ?? false,
    correction: request.correction ?? CorrectionMethod.Holm,
    difference: DifferenceType.Relative,
  };
  const caps = new Map<string, CapSpec | null>();
  for (const { metric } of plans) {
    caps.set(metric.key, capSpec(metric, stats.percentileCaps.get(metric.key) ?? null));
  }

  // Walk the buckets in time order, accumulating; analyse at the kept points and at the end.
  const buckets = [...new Set([...stats.units.map((u) => u.bucket.getTime()), ...stats.metrics.map((m) => m.bucket.getTime())])].sort((a, b) => a - b);
  const unitsAt = groupBy(stats.units, (u) => u.bucket.getTime());
  const metricsAt = groupBy(stats.metrics, (m) => m.bucket.getTime());
  const acc = new Accumulator(variations.map((v) => v.key));
  const step = Math.ceil(buckets.length / MAX_SERIES_POINTS);
  const width = interval === Width.Hour ? 3_600_000 : 86_400_000;
  const points: SeriesPoint[] = [];
  buckets.forEach((bucket, i) => {
    for (const u of unitsAt.get(bucket) ?? []) {
      acc.addUnits(u.variation, u.units, u.excluded);
    }
    for (const m of metricsAt.get(bucket) ?? []) {
      acc.addSums(m);
    }
    if (withSeries && (buckets.length - 1 - i) % step === 0) {
      const analysis = analyze(acc, variations, weights, plans, caps, analysisOptions, request.cuped !== false);
      points.push(seriesPoint(bucket, width, acc, analysis));
    }
  });
  const analysis = analyze(acc, variations, weights, plans, caps, analysisOptions, request.cuped !== false);

  const metrics = plans.map(({ metric, role }, i): MetricResult => {
    const m = analysis.metrics[i];
    const cap = caps.get(metric.key) ?? null;
    // Sums beyond a double (a value near 1e308, or a square of one above 1e154, is a valid event
    // value): totals would be null in JSON and Infinity in CSV, and no statistic is defined.
    const overflowed = variations.some((v) => {
      const sums = acc.sums(metric.key, v.key);
      return SUM_NAMES.some((name) => !Number.isFinite(sums[name]));
    });
    return {
      key: metric.key,
      name: metric.name,
      type: metric.type,
      role,
      higherIsBetter: metric.higherIsBetter,
      cap:
        metric.capping === undefined
          ? null
          : { type: metric.capping.type, percentile: metric.capping.type === CapType.Percentile ? metric.capping.value : null, value: cap?.value ?? null },
      cupedApplied: m?.comparisons.some((c) => c.frequentist.cuped !== null) ?? false,
      source: stats.fromRollups.has(metric.key) ? 'rollup' : 'scan',
      error: overflowed ? OVERFLOW : errorOf(m?.error ?? analysis.error),
      variations: variations.map((v, k) => {
        const sums = acc.sums(metric.key, v.key);
        return {
          variation: v.key,
          units: acc.units(v.key),
          total: finiteOr(sums.v, 0),
          denominatorTotal: metric.type === MetricType.Ratio ? finiteOr(sums.d, 0) : null,
          mean: finiteOr(m?.arms[k]?.mean, 0),
          comparison: k === 0 ? null : comparisonOf(m?.comparisons[k - 1], analysisOptions, analysis),
        };
      }),
    };
  });

  return {
    experiment: { key: stored.key, name: experiment.name, status: experiment.status, startedAt: experiment.startedAt ?? null },
    environment: target.environment,
    computedAt: now.toISOString(),
    filters: {
      from: request.from?.toISOString() ?? null,
      to: request.to?.toISOString() ?? null,
      segment: request.segment ?? null,
      attributes: { ...(request.attributes ?? {}) },
    },
    analysis: {
      alpha: analysis.alpha,
      sequential: analysisOptions.sequential === true,
      sequentialTuning: analysis.sequentialTuning,
      correction: analysis.correction,
      interval,
    },
    units: { analysed: variations.reduce((n, v) => n + acc.units(v.key), 0), excluded: acc.excluded },
    variations: variations.map((v, i) => ({
      key: v.key,
      name: v.name ?? null,
      expectedShare: totalWeight > 0 ? (weights[i] ?? 0) / totalWeight : 0,
      units: acc.units(v.key),
    })),
    srm: {
      chiSquare: finiteOr(analysis.srm.chiSquare, 0),
      df: analysis.srm.df,
      pValue: finiteOr(analysis.srm.pValue, 1),
      flagged: analysis.srm.flagged,
      error: errorOf(analysis.srm.error),
    },
    metrics,
    timeSeries: { interval, points },
    error: errorOf(analysis.error),
  };
}

// ---------------------------------------------------------------------------------------------
// Filters

/** attr.<name> values match the text, and also the number or boolean the text spells. */
export function attributeCandidates(value: string): (string | number | boolean)[] {
  const out: (string | number | boolean)[] = [value];
  if (/^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(value) && Number.isFinite(Number(value))) {
    out.push(Number(value));
  }
  if (value === 'true' || value === 'false') {
    out.push(value === 'true');
  }
  return out;
}

type Scalar = string | number | boolean;

/**
 * A condition made only of attribute equalities, `$eq`, `$in` (of scalars) and `$and`, as
 * name → allowed values (ANDed); undefined when it uses anything else.
 */
export function simpleCondition(condition: Record<string, unknown>): Map<string, Scalar[]> | undefined {
  const out = new Map<string, Scalar[]>();
  const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  const add = (name: string, values: Scalar[]): void => {
    const prev = out.get(name);
    out.set(name, prev === undefined ? values : prev.filter((p) => values.some((v) => v === p)));
  };
  for (const [key, value] of Object.entries(condition)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const part of value) {
        if (typeof part !== 'object' || part === null || Array.isArray(part)) {
          return undefined;
        }
        const inner = simpleCondition(part as Record<string, unknown>);
        if (inner === undefined) {
          return undefined;
        }
        inner.forEach((values, name) => {
          add(name, values);
        });
      }
    } else if (key.startsWith('$')) {
      return undefined;
    } else if (isScalar(value)) {
      add(key, [value]);
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const ops = Object.entries(value);
      const [op, operand] = ops[0] ?? [];
      if (ops.length !== 1) {
        return undefined;
      }
      if (op === '$eq' && isScalar(operand)) {
        add(key, [operand]);
      } else if (op === '$in' && Array.isArray(operand) && operand.every(isScalar)) {
        add(key, operand);
      } else {
        return undefined;
      }
    } else {
      return undefined;
    }
  }
  return out;
}

async function populationFilter(db: Queryable, target: ResultsTarget, experiment: Experiment, request: ResultsRequest): Promise<PopulationFilter> {
  const attributeEquals: { name: string; values: Scalar[] }[] = [];
  for (const [name, value] of Object.entries(request.attributes ?? {})) {
    attributeEquals.push({ name, values: attributeCandidates(value) });
  }
  let filter: PopulationFilter = {
    ...(request.from === undefined ? {} : { exposedFrom: request.from }),
    ...(request.to === undefined ? {} : { exposedTo: request.to }),
  };
  if (request.segment !== undefined) {
    const found = await segmentsRepo.find(db, target.projectId, request.segment);
    if (found === undefined) {
      throw invalid(`unknown segment "${request.segment}"`, { issues: [{ path: 'query.segment', message: 'no such segment' }] });
    }
    const segment = found.definition;
    const hashAttribute = experiment.hashAttribute;
    if (segment.type === 'ids') {
      const values = segment.values.map(String);
      filter = segment.attribute === hashAttribute ? { ...filter, unitIds: values } : { ...filter, attributeTextIn: { name: segment.attribute, values } };
    } else {
      const simple = simpleCondition(segment.condition);
      if (simple !== undefined) {
        for (const [name, values] of simple) {
          if (name === hashAttribute) {
            filter = { ...filter, unitIds: values.filter((v) => typeof v === 'string') };
          } else {
            attributeEquals.push({ name, values });
          }
        }
      } else {
        filter = { ...filter, ...(await conditionBySets(db, target, segment.key, segment.condition)) };
      }
    }
  }
  return attributeEquals.length === 0 ? filter : { ...filter, attributeEquals };
}

/** Evaluates a general condition with `evalCondition` on each distinct stored attribute object. */
async function conditionBySets(db: Queryable, target: ResultsTarget, key: string, condition: Record<string, unknown>): Promise<PopulationFilter> {
  const text = JSON.stringify(condition);
  if (text.includes('"$inGroup"') || text.includes('"$notInGroup"')) {
    throw invalid(`segment "${key}" uses saved groups ($inGroup), which results cannot filter on`, {
      issues: [{ path: 'query.segment', message: 'supported: attribute conditions without $inGroup / $notInGroup' }],
    });
  }
  const sets = await distinctAttributeSets(db, target, MAX_ATTRIBUTE_SETS);
  if (sets.length > MAX_ATTRIBUTE_SETS) {
    throw invalid(`segment "${key}" is not a simple equality condition and the experiment has more than ${MAX_ATTRIBUTE_SETS} distinct attribute sets`, {
      issues: [{ path: 'query.segment', message: 'use equality, $eq, $in and $and conditions, or attr.<name>=<value> filters' }],
    });
  }
  const matching = sets.filter((s) => evalCondition(JSON.parse(s) as unknown, condition));
  return { attributeSets: matching, ...(evalCondition({}, condition) ? { attributeSetsIncludeMissing: true } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Statistics

type Sums = Record<SumName, number>;
const zeroSums = (): Sums => Object.fromEntries(SUM_NAMES.map((s) => [s, 0])) as Sums;

/** Running totals over the buckets seen so far. */
class Accumulator {
  private readonly unitCounts = new Map<string, number>();
  private readonly metricSums = new Map<string, Sums>();
  excluded = 0;

  constructor(private readonly variations: readonly string[]) {}

  addUnits(variation: string, units: number, excluded: number): void {
    this.unitCounts.set(variation, (this.unitCounts.get(variation) ?? 0) + units);
    this.excluded += excluded;
  }

  addSums(row: MetricBucketRow): void {
    const key = `${row.metric}\u0000${row.variation}`;
    const sums = this.metricSums.get(key) ?? zeroSums();
    for (const s of SUM_NAMES) {
      sums[s] += Number(row.sums[s]);
    }
    this.metricSums.set(key, sums);
  }

  units(variation: string): number {
    return this.unitCounts.get(variation) ?? 0;
  }

  sums(metric: string, variation: string): Sums {
    return this.metricSums.get(`${metric}\u0000${variation}`) ?? zeroSums();
  }

  unitsByVariation(): Record<string, number> {
    return Object.fromEntries(this.variations.map((v) => [v, this.units(v)]));
  }
}

function capSpec(metric: Metric, percentileValue: number | null): CapSpec | null {
  const c = metric.capping;
  if (c === undefined) {
    return null;
  }
  if (c.type === CapType.Absolute) {
    return { type: CapType.Absolute, value: c.value };
  }
  return percentileValue === null ? null : { type: CapType.Percentile, percentile: c.value, value: percentileValue };
}

/** The engine's input for one metric from the accumulated sums; CUPED when any pre-period data exists (unless turned off). */
function metricInput(metric: Metric, acc: Accumulator, variations: readonly string[], cap: CapSpec | null, cuped: boolean): MetricAnalysisInput {
  const arms = variations.map((v) => ({ n: acc.units(v), s: acc.sums(metric.key, v) }));
  const common = { key: metric.key, inverse: !metric.higherIsBetter, ...(cap === null ? {} : { cap }) };
  if (metric.type === MetricType.Ratio) {
    const hasPre = cuped && arms.some(({ s }) => s.p !== 0 || s.pp !== 0 || s.q !== 0);
    return {
      ...common,
      type: 'ratio',
      arms: arms.map(({ n, s }) => ({ n, numerator: { sum: s.v, sumSquares: s.vv }, denominator: { sum: s.d, sumSquares: s.dd }, sumProducts: s.vd })),
      ...(hasPre
        ? {
            covariates: arms.map(({ n, s }) => ({
              pre: { n, numerator: { sum: s.p, sumSquares: s.pp }, denominator: { sum: s.q, sumSquares: s.qq }, sumProducts: s.pq },
              crossProducts: { numeratorNumerator: s.vp, numeratorDenominator: s.vq, denominatorNumerator: s.dp, denominatorDenominator: s.dq },
            })),
          }
        : {}),
    };
  }
  const hasPre = cuped && arms.some(({ s }) => s.p !== 0 || s.pp !== 0);
  return {
    ...common,
    type: metric.type === MetricType.Conversion ? 'proportion' : 'mean',
    arms: arms.map(({ n, s }) => ({ n, sum: s.v, sumSquares: s.vv })),
    ...(hasPre ? { covariates: arms.map(({ n, s }) => ({ pre: { n, sum: s.p, sumSquares: s.pp }, sumProducts: s.vp })) } : {}),
  };
}

function analyze(
  acc: Accumulator,
  variations: readonly { key: string }[],
  weights: readonly number[],
  plans: readonly MetricPlan[],
  caps: ReadonlyMap<string, CapSpec | null>,
  options: AnalysisOptions,
  cuped: boolean,
): ExperimentAnalysis {
  const keys = variations.map((v) => v.key);
  return analyzeExperiment({
    variations: variations.map((v, i) => ({ key: v.key, weight: weights[i] ?? 0, units: acc.units(v.key) })),
    metrics: plans.map(({ metric }) => metricInput(metric, acc, keys, caps.get(metric.key) ?? null, cuped)),
    options,
  });
}

function finiteOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}

function bound(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

const OVERFLOW = {
  code: StatsErrorCode.NON_FINITE_RESULT,
  message: 'the values are too large to analyse (a sum or a sum of squares passes 1.8e308): some unit has an absurd value; cap the metric to limit outliers',
};

function errorOf(error: StatsError | undefined): { code: StatsErrorCode; message: string } | null {
  return error === undefined ? null : { code: error.code, message: error.message };
}

const NEUTRAL: Omit<Comparison, 'method' | 'difference' | 'error'> = {
  effect: 0,
  ci: [0, 0],
  se: 0,
  pValue: 1,
  adjustedPValue: 1,
  significant: false,
  cuped: null,
  chanceToWin: 0.5,
  risk: { control: 0, treatment: 0 },
  credibleInterval: [0, 0],
};

/** The requested test (sequential or fixed-horizon) plus the Bayesian summary, JSON-safe. */
function comparisonOf(c: ComparisonResult | undefined, options: AnalysisOptions, analysis: ExperimentAnalysis): Comparison {
  const method = options.sequential === true ? TestMethod.Sequential : TestMethod.Welch;
  if (c === undefined) {
    return { ...NEUTRAL, method, difference: DifferenceType.Relative, error: errorOf(analysis.error) ?? { code: StatsErrorCode.INVALID_INPUT, message: 'no comparison' } };
  }
  const f = c.sequential ?? c.frequentist;
  const b = c.bayesian;
  const error = f.error ?? b.error;
  const numbers = [f.effect, f.se, f.pValue, f.adjustedPValue, b.chanceToWin, ...b.risk];
  if (!numbers.every(Number.isFinite)) {
    return { ...NEUTRAL, method, difference: f.difference, error: { code: StatsErrorCode.NON_FINITE_RESULT, message: 'a statistic overflowed' } };
  }
  return {
    effect: f.effect,
    difference: f.difference,
    ci: [bound(f.ci[0]), bound(f.ci[1])],
    se: f.se,
    pValue: f.pValue,
    adjustedPValue: f.adjustedPValue,
    method: f.method,
    significant: error === undefined && f.adjustedPValue < analysis.alpha,
    cuped: f.cuped === null ? null : { theta: finiteOr(f.cuped.theta, 0), varianceReduction: finiteOr(f.cuped.varianceReduction, 0) },
    chanceToWin: b.chanceToWin,
    risk: { control: b.risk[0], treatment: b.risk[1] },
    credibleInterval: [bound(b.ci[0]), bound(b.ci[1])],
    error: errorOf(error),
  };
}

function seriesPoint(bucket: number, width: number, acc: Accumulator, analysis: ExperimentAnalysis): SeriesPoint {
  const metrics: SeriesPoint['metrics'] = [];
  for (const m of analysis.metrics) {
    for (const c of m.comparisons) {
      const f = c.sequential ?? c.frequentist;
      const ok = Number.isFinite(f.effect) && Number.isFinite(f.pValue);
      metrics.push({
        metric: m.key,
        variation: c.variation,
        effect: ok ? f.effect : 0,
        ci: ok ? [bound(f.ci[0]), bound(f.ci[1])] : [0, 0],
        pValue: ok ? f.pValue : 1,
        error: ok ? errorOf(f.error) : { code: StatsErrorCode.NON_FINITE_RESULT, message: 'a statistic overflowed' },
      });
    }
  }
  return { bucket: new Date(bucket).toISOString(), end: new Date(bucket + width).toISOString(), units: acc.unitsByVariation(), metrics };
}

function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list === undefined) {
      out.set(k, [item]);
    } else {
      list.push(item);
    }
  }
  return out;
}

/**
 * Experiment results: the exposed population (filtered by exposure time, attributes or a segment),
 * SQL sufficient statistics per variation × metric × exposure-time bucket (store/results.ts), then
 * `analyzeExperiment` from @xp/shared on the totals and on the cumulative sums at each bucket (the
 * time series). Degenerate inputs come back as the engine's error codes with neutral numbers; no
 * NaN or Infinity ever reaches JSON (unbounded interval ends are null).
 */
import { z } from 'zod';
import type { AnalysisOptions, AnalysisPlan, CapSpec, ResolvedAnalysisPlan, ComparisonResult, CupedResidual, Experiment, ExperimentAnalysis, Metric, MetricAnalysis, MetricAnalysisInput, Segment, StatsError, StratumWeights } from '@xp/shared';
import { CapType, appliedAnalysisPlan, DifferenceType, MetricType, StatsErrorCode, TestMethod, analyzeExperiment, evalCondition, expandVariations, storedExperimentSchema, guardrailMetricKeys, metricSchema, stratifyMetric, stratumWeights, variationShares, correctionMethodSchema } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import { AppError, AppErrorCode, invalid } from '../errors.js';
import type { Database, Queryable } from '../store/db.js';
import { DefinitionKind, DefinitionRepository } from '../store/definitions.js';
import { environments } from '../store/projects.js';
import type { BucketWidth, BucketedStatistics, DimensionBuildOptions, MetricBucketRow, MetricRequest, PopulationFilter, ResultsTarget, SumName } from '../store/results.js';
import { BucketWidth as Width, MAX_DIMENSION_VALUES, SUM_NAMES, compactRollups, queryCappedUnits, dimensionValues, distinctAttributeSets, filteredDimensionValues, queryBucketedStatistics, registeredDimensions, syncDimensions, unitsBySplitPeriod } from '../store/results.js';
import type { Actor, Deps, Logger } from './context.js';
import { projectFor } from './definitions.js';
import { rebuildRequestedTotals } from '../pipeline/aggregate.js';
import type { ArmSums as ArmTotals, ResultsWarning } from './results-data-quality.js';
import { RESULTS_WARNING_CODES, ResultsWarningCode, dominantUnitWarnings, plainWarning, suspiciousUnitIdWarnings } from './results-data-quality.js';

/** Time-series points returned at most; longer series keep every k-th bucket (cumulative, so exact). */
export const MAX_SERIES_POINTS = 500;
/** Distinct attribute objects a non-equality segment condition may be evaluated against. */
export const MAX_ATTRIBUTE_SETS = 10_000;
/** Rollup delta rows read beyond which (and beyond 4 per group) the experiment's rollups are compacted. */
export const COMPACT_ROLLUPS_ABOVE = 2_000;
const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Response schema (also the OpenAPI document's)

const statsErrorSchema = z.object({ code: z.enum(Object.values(StatsErrorCode) as [StatsErrorCode, ...StatsErrorCode[]]), message: z.string() });
const boundSchema = z.number().nullable();
/** [lower, upper]; null is an unbounded end (one-sided intervals), never a number JSON cannot carry. */
const intervalSchema = z.tuple([boundSchema, boundSchema]);

/** The values of a metric result's `cupedStatus`. */
export const CUPED_STATUSES = ['applied', 'disabled', 'no-pre-exposure-data', 'no-variance-reduction', 'unavailable'] as const;
export type CupedStatus = (typeof CUPED_STATUSES)[number];

/** Why CUPED did or did not adjust a metric (see `cupedStatus`). */
export function cupedStatusOf(m: MetricAnalysis | undefined, failed: boolean, requested: boolean): CupedStatus {
  if (!requested) {
    return 'disabled';
  }
  if (m === undefined || failed) {
    return 'unavailable';
  }
  if (m.comparisons.some((c) => c.frequentist.cuped !== null)) {
    return 'applied';
  }
  // The analysis was given pre-exposure covariates exactly when some unit had pre-period data.
  return m.cuped ? 'no-variance-reduction' : 'no-pre-exposure-data';
}

const comparisonSchema = z.object({
  /** Relative lift (treatment − control) / |control| unless the metric says otherwise. */
  effect: z.number(),
  difference: z.enum([DifferenceType.Relative, DifferenceType.Absolute]),
  ci: intervalSchema,
  se: z.number(),
  pValue: z.number(),
  /** Corrected across every metric × treatment of the experiment. */
  adjustedPValue: z.number(),
  /**
   * The interval that agrees with `adjustedPValue` (at level 1 − α·p/p_adj): it excludes no effect
   * exactly when the comparison is `significant`. Equal to `ci` when the correction changes nothing.
   */
  adjustedCi: intervalSchema,
  method: z.enum([TestMethod.Welch, TestMethod.Sequential]),
  significant: z.boolean(),
  /** CUPED's θ and the share of the effect's variance it removed; null when not applied to this comparison (no pre-period data, cuped=false, or the adjustment would not have reduced the variance). */
  cuped: z.object({ theta: z.number(), varianceReduction: z.number() }).nullable(),
  chanceToWin: z.number(),
  risk: z.object({ control: z.number(), treatment: z.number() }),
  credibleInterval: intervalSchema,
  error: statsErrorSchema.nullable(),
});

const variationResultSchema = z.object({
  variation: z.string(),
  units: z.number().int(),
  /** Σ per-unit (capped) values: conversions, events, amount, or the ratio's numerator; null when it passes what a double holds (the metric's error says so). */
  total: z.number().nullable(),
  /** Ratio metrics: Σ denominator (null when it passes what a double holds); null otherwise. */
  denominatorTotal: z.number().nullable(),
  /** Unadjusted mean per unit (ratio: total / denominatorTotal); 0 without units; null when a total is null, or a ratio's denominatorTotal is 0 with units. */
  mean: z.number().nullable(),
  /**
   * Bayesian posterior probability that this variation (the control included) is the best of all the
   * experiment's variations on this metric, in its direction (lowest wins when `higherIsBetter` is
   * false); sums to 1 over the variations. With two variations it is 1 − chanceToWin for the control
   * and chanceToWin for the treatment. Null when some comparison of the metric has an error, or the
   * metric has one (then no posterior exists for some variation), and in a breakdown's per-value
   * results (not computed there: a numerical integral per metric and value).
   */
  chanceToBeBest: z.number().nullable(),
  /**
   * Capped metrics: analysed units whose value exceeded the cap (the units it changed). Null without a
   * cap, and when not counted: a metric summed from the rollups in an experiment of more than
   * MAX_CAPPED_COUNT_UNITS analysed units (counting reads every unit's totals), or in a breakdown's
   * per-value results.
   */
  cappedUnits: z.number().int().nullable(),
  /** Null for the control. */
  comparison: comparisonSchema.nullable(),
});

const metricResultSchema = z.object({
  key: z.string(),
  name: z.string(),
  type: z.enum([MetricType.Conversion, MetricType.Count, MetricType.Sum, MetricType.Ratio]),
  role: z.enum(['primary', 'secondary', 'guardrail']),
  /**
   * Whether the guardrail checks watch this metric: its role is guardrail, or it is also listed in the
   * experiment's guardrails or marked guardrail in the project while its role here is primary or secondary.
   */
  guardrail: z.boolean(),
  higherIsBetter: z.boolean(),
  /** The cap applied to every unit's value before summing; `value` null when no unit had data. */
  cap: z.object({ type: z.enum([CapType.Absolute, CapType.Percentile]), percentile: z.number().nullable(), value: z.number().nullable() }).nullable(),
  /** Whether CUPED adjusted at least one comparison (each comparison's `cuped` says which). */
  cupedApplied: z.boolean(),
  /**
   * Why CUPED did or did not adjust this metric: `applied` (at least one comparison), `disabled`
   * (the request's cuped=false), `no-pre-exposure-data` (no unit has events in the window before its
   * exposure), `no-variance-reduction` (there is such data, but adjusting would not have reduced the
   * variance of any comparison's estimate: a weak correlation, pre-period means that differ by
   * chance, an outlier driving θ) or `unavailable` (the metric has an error: no statistic at all).
   */
  cupedStatus: z.enum(CUPED_STATUSES),
  /** rollup: summed from the trigger-maintained rollups; scan: aggregated from every unit's totals. */
  source: z.enum(['rollup', 'scan']),
  error: statsErrorSchema.nullable(),
  variations: z.array(variationResultSchema),
});

const seriesPointSchema = z.object({
  /** Start of the last bucket included (cumulative: every unit first exposed before `end`). Buckets are whole hours, or days from the hour the experiment started in. */
  bucket: z.string(),
  end: z.string(),
  units: z.record(z.string(), z.number().int()),
  metrics: z.array(
    z.object({
      metric: z.string(),
      variation: z.string(),
      effect: z.number(),
      ci: intervalSchema,
      /** The interval corrected for multiple comparisons at this point, as the summary's `adjustedCi`. */
      adjustedCi: intervalSchema,
      pValue: z.number(),
      error: statsErrorSchema.nullable(),
    }),
  ),
});

/**
 * The split phase a response analysed. Phases are the periods between changes of the split of a
 * running experiment (sticky bucketing, `splitHistory`): phase 0 until the first change, phase
 * `count - 1` (the current one) since the last. Effects are estimated within one phase by default:
 * pooling units of periods with different splits confounds the effect with the period (Simpson's
 * paradox) whenever the metric drifts over time.
 */
const phaseSchema = z.object({
  /** The phase analysed (0 = before the first split change); null when all phases were asked for (phase=all or stratified). */
  index: z.number().int().nullable(),
  /** Phases the experiment has: its split changes + 1 (1 when the split never moved). */
  count: z.number().int(),
  /**
   * Units first exposed at or after / before these instants form the phase (null: unbounded). The
   * bounds are the split changes rounded inwards to whole hours (so the rollups still answer),
   * except for a phase shorter than that; the caller's `from` / `to` narrow them further.
   */
  from: z.string().nullable(),
  to: z.string().nullable(),
  /** When the split changed to the one this phase served (unrounded); null for phase 0 and for phase=all. */
  splitChangedAt: z.string().nullable(),
  /** The analysed units span more than one split period: the effects pool them (see `warnings`); false when stratified. */
  pooled: z.boolean(),
  /**
   * Present only when the phases were analysed stratified (phase=stratified, the default of a
   * bandit): each phase on its own, the estimates combined weighted by the phases' shares of the
   * units (`index` is then null and `pooled` false). `phases`: the phases the window reaches;
   * `used`: those combined; `droppedPhases` / `droppedUnits`: those left out because some variation
   * had fewer than 2 units in them, and their units (see the warnings). In a breakdown's own filters
   * `used`, `droppedPhases` and `droppedUnits` are null: each value's results carry theirs.
   */
  stratified: z
    .object({ phases: z.number().int(), used: z.number().int().nullable(), droppedPhases: z.number().int().nullable(), droppedUnits: z.number().int().nullable() })
    .optional(),
});

/** The population filters a response applied (null: not given; attributes: the attr.<name>=<value> filters; phase: the split phase). */
const filtersSchema = z.object({ from: z.string().nullable(), to: z.string().nullable(), segment: z.string().nullable(), attributes: z.record(z.string(), z.string()), phase: phaseSchema });

/** The filters a results or breakdown response echoes (the breakdown's attributes never hold its dimension). */
function filtersView(request: Pick<ResultsRequest, 'from' | 'to' | 'segment' | 'attributes'>, phase: ResolvedPhase): z.output<typeof filtersSchema> {
  return { from: request.from?.toISOString() ?? null, to: request.to?.toISOString() ?? null, segment: request.segment ?? null, attributes: { ...(request.attributes ?? {}) }, phase: phase.view };
}

export { ResultsWarningCode } from './results-data-quality.js';
/** A caveat on reading the results; `metric` / `variation` say what it concerns (null: the whole experiment). See docs/statistics.md, "Data-quality warnings". */
const warningSchema = z.object({
  code: z.enum(RESULTS_WARNING_CODES),
  message: z.string(),
  /** The metric it concerns (DOMINANT_UNIT); null when it concerns the experiment. */
  metric: z.string().nullable(),
  /** The variation it concerns (DOMINANT_UNIT, SUSPICIOUS_UNIT_IDS); null when it concerns every variation. */
  variation: z.string().nullable(),
  /** DOMINANT_UNIT: the unit; SUSPICIOUS_UNIT_IDS: the ids found (at most 10); each cut to 64 characters. Empty otherwise. */
  unitIds: z.array(z.string()),
  /** DOMINANT_UNIT: the unit's share of the variation's (capped) total, 0 to 1; null otherwise. */
  share: z.number().nullable(),
  /** SUSPICIOUS_UNIT_IDS: analysed units of the variation with such ids; null otherwise. */
  unitCount: z.number().int().nullable(),
});

/** A date range must run forwards (400 naming `from`). */
function assertRange(request: Pick<ResultsRequest, 'from' | 'to'>): void {
  if (request.from !== undefined && request.to !== undefined && request.from >= request.to) {
    throw invalid('from must be before to', { issues: [{ path: 'query.from', message: 'must be before to' }] });
  }
}

/** The population a phase request resolves to: the window to analyse and how the response reports it. */
interface ResolvedPhase {
  /** The window to analyse: the phase's bounds intersected with the caller's from / to (undefined: unbounded). */
  readonly from?: Date;
  readonly to?: Date;
  /** The single phase analysed (its split gives the expected shares); undefined for phase=all and stratified. */
  readonly index?: number;
  /** phase=stratified: the phases the request's window reaches into, by index (their bounds: the exact split changes). */
  readonly strata?: readonly { readonly index: number }[];
  /** The split changes, in order (phase i runs from change i − 1 to change i). */
  readonly changes: readonly Date[];
  readonly view: z.output<typeof phaseSchema>;
  readonly warnings: ResultsWarning[];
}

/** The request with the phase's window as its from / to. */
function withWindow<R extends Pick<ResultsRequest, 'from' | 'to'>>(request: R, phase: Pick<ResolvedPhase, 'from' | 'to'>): R {
  const { from: _from, to: _to, ...rest } = request;
  return { ...rest, ...(phase.from === undefined ? {} : { from: phase.from }), ...(phase.to === undefined ? {} : { to: phase.to }) } as R;
}

const ceilHour = (d: Date): Date => new Date(Math.ceil(d.getTime() / HOUR_MS) * HOUR_MS);
const floorHour = (d: Date): Date => new Date(Math.floor(d.getTime() / HOUR_MS) * HOUR_MS);
/** A split phase is rounded to whole hours (the rollups) only when it spans at least this long. */
const PHASE_ROUNDING_MIN_MS = 24 * HOUR_MS;

/**
 * The window of the requested split phase, intersected with the caller's from / to; 400 naming
 * `phase` for a phase the experiment does not have, or `from` when the caller's range misses it.
 *
 * A phase's bounds are the split changes rounded inwards to whole hours: its start up to the next
 * hour, its end down to the previous one. Whole hours keep the trigger-maintained rollups serving
 * (`rollupsServe`: an hour-aligned `exposedFrom` / `exposedTo` stays on the rollup path), and
 * rounding inwards only ever leaves out units of the phase itself (those first exposed in the partial
 * hour after or before a change), never adds units of a neighbouring phase: every unit analysed was
 * assigned under this phase's split, so the estimate stays unbiased, at the cost of at most an hour of
 * units per change. Only a phase that spans a day or more (the current one: until `now`) is rounded,
 * so that hour is at most a 24th of it; a younger or shorter phase keeps its exact bounds (and scans
 * its units' totals): rounded, a split that moved minutes ago would show no units for up to an hour,
 * and a first phase shorter than its start's hour none at all.
 */
function resolvePhase(experiment: Experiment, request: Pick<ResultsRequest, 'phase' | 'from' | 'to'>, now: Date): ResolvedPhase {
  const changes = (experiment.splitHistory ?? []).map((h) => new Date(h.until));
  const count = changes.length + 1;
  // A bandit moves its split every few hours: the current phase would be its last few hours, and
  // pooling confounds, so it combines the phases (stratified) unless asked otherwise.
  const asked = request.phase ?? (experiment.bandit === undefined ? 'current' : 'stratified');
  /** The bounds of phase `i`: the split changes, rounded inwards to whole hours once the phase spans a day (unless `exact`). */
  const boundsOf = (i: number, exact = false): { from?: Date; to?: Date } => {
    const start = i === 0 ? undefined : changes[i - 1];
    const end = i === count - 1 ? undefined : changes[i];
    const began = start ?? (experiment.startedAt === undefined ? undefined : new Date(experiment.startedAt));
    const spansADay = !exact && began !== undefined && (end ?? now).getTime() - began.getTime() >= PHASE_ROUNDING_MIN_MS;
    const lower = start === undefined ? undefined : spansADay ? ceilHour(start) : start;
    const upper = end === undefined ? undefined : spansADay ? floorHour(end) : end;
    return { ...(lower === undefined ? {} : { from: lower }), ...(upper === undefined ? {} : { to: upper }) };
  };
  let index: number | undefined;
  let from: Date | undefined;
  let to: Date | undefined;
  if (asked !== 'all' && asked !== 'stratified') {
    index = asked === 'current' ? changes.length : asked;
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      const phases = count === 1 ? 'one phase (0): its split never moved' : `${count} phases (0 to ${count - 1}: the split moved ${count - 1} time${count === 2 ? '' : 's'})`;
      throw invalid(`phase ${String(asked)} does not exist: the experiment has ${phases}; ask for current, all, stratified, or an index from 0 to ${count - 1}`, {
        issues: [{ path: 'query.phase', message: `must be current, all, stratified, or an index from 0 to ${count - 1}` }],
      });
    }
    ({ from, to } = boundsOf(index));
  }
  const bounds = { from: from?.toISOString() ?? null, to: to?.toISOString() ?? null };
  // Intersect with the caller's range.
  const windowFrom = request.from === undefined ? from : from === undefined || request.from > from ? request.from : from;
  const windowTo = request.to === undefined ? to : to === undefined || request.to < to ? request.to : to;
  if ((request.from !== undefined || request.to !== undefined) && windowFrom !== undefined && windowTo !== undefined && windowFrom >= windowTo) {
    throw invalid(`from / to do not overlap phase ${String(index)} (units first exposed ${bounds.from === null ? '' : `from ${bounds.from} `}${bounds.to === null ? 'on' : `before ${bounds.to}`}); ask for the phase they fall in, or phase=all`, {
      issues: [{ path: 'query.from', message: `does not overlap phase ${String(index)}` }],
    });
  }
  // The split periods the window reaches into: period p holds the units first exposed in [changes[p − 1], changes[p]).
  let periods = 0;
  for (let p = 0; p < count; p++) {
    const periodStart = p === 0 ? undefined : changes[p - 1]!;
    const periodEnd = p === count - 1 ? undefined : changes[p]!;
    const startsBeforeEnd = periodStart === undefined || windowTo === undefined || periodStart < windowTo;
    const endsAfterStart = periodEnd === undefined || windowFrom === undefined || windowFrom < periodEnd;
    if (startsBeforeEnd && endsAfterStart && !(periodStart !== undefined && periodEnd !== undefined && periodStart >= periodEnd)) {
      periods += 1;
    }
  }
  const stratified = asked === 'stratified';
  const pooled = periods > 1 && !stratified;
  // The phases the caller's range reaches into, at the exact changes: one scan groups the units by
  // split period, so nothing needs rounding to the rollups' hours (no unit of a phase is left out).
  const strata: { index: number }[] = [];
  for (let i = 0; stratified && i < count; i++) {
    const b = boundsOf(i, true);
    const lower = request.from === undefined ? b.from : b.from === undefined || request.from > b.from ? request.from : b.from;
    const upper = request.to === undefined ? b.to : b.to === undefined || request.to < b.to ? request.to : b.to;
    if (lower === undefined || upper === undefined || lower < upper) {
      strata.push({ index: i });
    }
  }
  return {
    ...(windowFrom === undefined ? {} : { from: windowFrom }),
    ...(windowTo === undefined ? {} : { to: windowTo }),
    ...(index === undefined ? {} : { index }),
    ...(stratified ? { strata } : {}),
    changes,
    view: {
      index: index ?? null,
      count,
      ...bounds,
      splitChangedAt: index === undefined || index === 0 ? null : changes[index - 1]!.toISOString(),
      pooled,
      ...(stratified ? { stratified: { phases: strata.length, used: null, droppedPhases: null, droppedUnits: null } } : {}),
    },
    warnings: pooled
      ? [
          plainWarning(
            ResultsWarningCode.SplitPeriodsPooled,
            `the analysed units were first exposed under ${periods} different splits (the split moved at ${changes.map((c) => c.toISOString()).join(', ')}): the effects pool periods with different splits and may be confounded with the period (Simpson's paradox) when the metrics drift over time; analyse one phase at a time (phase=current or an index) for unconfounded effects`,
          ),
        ]
      : [],
  };
}

/**
 * What one analysed unit is: the attribute the experiment hashes on (`hashAttribute`, default `id`)
 * and its `fallbackAttribute`, as the evaluator applies them. Every count of `units` in a response
 * counts distinct values of these (accounts, when an experiment buckets by `accountId`), not users.
 */
export const resultsUnitSchema = z
  .object({
    attribute: z.string().describe('The experiment\'s hashAttribute: "id" unless it names another ("accountId", "deviceId", …)'),
    fallbackAttribute: z.string().nullable().describe("The experiment's fallbackAttribute, hashed for a unit without the attribute; null when it has none (with one, a unit may be of either kind)"),
  })
  .describe("What one unit is: the attribute the experiment hashes on (and its fallback). Every units count of the response counts distinct values of it: accounts for an experiment bucketed by accountId, not users");
export type ResultsUnit = z.output<typeof resultsUnitSchema>;

/** The unit of an experiment as the evaluator buckets it (hashAttribute defaults to "id" when parsed). */
export function resultsUnitOf(experiment: Pick<Experiment, 'hashAttribute' | 'fallbackAttribute'>): ResultsUnit {
  return { attribute: experiment.hashAttribute, fallbackAttribute: experiment.fallbackAttribute ?? null };
}

/** Where an analysis option came from: the request's query parameter, the experiment's analysis plan, or the platform's default. */
const analysisSourceSchema = z.enum(['request', 'experiment', 'default']);
type AnalysisSource = z.output<typeof analysisSourceSchema>;
type PlanOption = keyof AnalysisPlan;

/**
 * Each analysis option as the results use it: the request's, else the experiment's analysis plan's,
 * else the default (appliedAnalysisPlan), and where it came from.
 */
function resolveAnalysis(request: Pick<ResultsRequest, PlanOption>, plan: AnalysisPlan | undefined): { values: ResolvedAnalysisPlan; source: Record<PlanOption, AnalysisSource> } {
  const sourceOf = (option: PlanOption): AnalysisSource => (request[option] !== undefined ? 'request' : plan?.[option] !== undefined ? 'experiment' : 'default');
  return {
    values: appliedAnalysisPlan(request, plan),
    source: { sequential: sourceOf('sequential'), alpha: sourceOf('alpha'), cuped: sourceOf('cuped'), correction: sourceOf('correction') },
  };
}

export const experimentResultsSchema = z
  .object({
    experiment: z.object({ key: z.string(), name: z.string(), status: z.string(), startedAt: z.string().nullable() }),
    environment: z.string(),
    computedAt: z.string(),
    /** What a unit is (the experiment's hash attribute and fallback): every `units` count below counts these. */
    unit: resultsUnitSchema,
    filters: filtersSchema,
    /** The options analysed with, each the request's, else the experiment's analysis plan, else the default (`source` says which). */
    analysis: z.object({
      alpha: z.number(),
      sequential: z.boolean(),
      sequentialTuning: z.number().nullable(),
      correction: correctionMethodSchema,
      cuped: z.boolean(),
      interval: z.enum([Width.Hour, Width.Day]),
      source: z.object({ sequential: analysisSourceSchema, alpha: analysisSourceSchema, cuped: analysisSourceSchema, correction: analysisSourceSchema }),
    }),
    units: z.object({
      analysed: z.number().int(),
      excluded: z.number().int(),
      /** Units exposed to a variation the experiment does not define: not analysed, and the SRM check is flagged (UNEXPECTED_TRAFFIC). */
      unknownVariation: z.number().int(),
    }),
    /**
     * True while the per-unit totals still count events under metric definitions changed since (a
     * metric added to the experiment, or one that now counts differently): the rebuild took longer
     * than this request could wait, and every results request and guardrail check tries it again.
     */
    totalsRebuilding: z.boolean(),
    /** `excluded`: units left out for being exposed to more than one variation, counted under the variation of their first exposure (the only one stored). */
    variations: z.array(z.object({ key: z.string(), name: z.string().nullable(), expectedShare: z.number(), units: z.number().int(), excluded: z.number().int() })),
    srm: z.object({ chiSquare: z.number(), df: z.number(), pValue: z.number(), flagged: z.boolean(), error: statsErrorSchema.nullable() }),
    metrics: z.array(metricResultSchema),
    timeSeries: z.object({ interval: z.enum([Width.Hour, Width.Day]), points: z.array(seriesPointSchema) }),
    /**
     * Caveats about how to read the numbers, empty when none: SPLIT_PERIODS_POOLED (effects pool periods
     * with different splits and may be confounded), DOMINANT_UNIT (one unit holds a large share of a
     * variation's total of a metric), SUSPICIOUS_UNIT_IDS (units with ids like "undefined"),
     * SAMPLE_RATIO_MISMATCH (the SRM check flagged, as `srm.flagged`).
     */
    warnings: z.array(warningSchema),
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
    /** What a unit is (the experiment's hash attribute and fallback), as in each value's results. */
    unit: resultsUnitSchema,
    /** The filters applied to every value (as the results echo them); `attributes` never holds the dimension itself. */
    filters: filtersSchema,
    /**
     * Per value of the dimension, largest first (by units in the dimension's rollups, unfiltered): the
     * results of the units with that value that the filters keep (no time series). With filters, a value
     * none of whose units they keep is left out.
     */
    values: z.array(z.object({ value: z.string(), results: experimentResultsSchema })),
    /** Values left out beyond `limit`, and the units they hold (under the filters). */
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
  /** Default: where the experiment runs (resultsEnvironment). */
  readonly environment?: string | undefined;
  /** Units first exposed at or after. */
  readonly from?: Date;
  /** Units first exposed before. */
  readonly to?: Date;
  /** A segment key: id lists match unit ids (or an attribute), conditions the stored attributes. */
  readonly segment?: string;
  /** attr.<name>=<value>: the unit's stored attribute equals the value (as text, number or boolean). */
  readonly attributes?: Readonly<Record<string, string>>;
  // The analysis options: each left out is the experiment's analysis plan's, else the default (resolveAnalysis).
  /** Confidence sequences instead of the fixed-horizon test. Default false. */
  readonly sequential?: boolean;
  /** CUPED variance reduction when pre-exposure data exists. Default true; false analyses without it. */
  readonly cuped?: boolean;
  /** Default 0.05. */
  readonly alpha?: number;
  /** Default holm. */
  readonly correction?: AnalysisPlan['correction'];
  /** Time-series bucket width. Default day. */
  readonly interval?: BucketWidth;
  /**
   * The split phase to analyse (experiments whose split moved, `splitHistory`): `current` (default,
   * units first exposed since the last change), `all` (every phase pooled), `stratified` (each phase
   * analysed on its own, the estimates combined weighted by the phases' units; the default of a
   * bandit), or an index (0 = before the first change). Intersected with `from` / `to`.
   */
  readonly phase?: ResultsPhase;
}

export type ResultsPhase = 'current' | 'all' | 'stratified' | number;

const metricsRepo = new DefinitionRepository<Metric>(DefinitionKind.Metric);
const experimentsRepo = new DefinitionRepository<Experiment>(DefinitionKind.Experiment);
const segmentsRepo = new DefinitionRepository<Segment>(DefinitionKind.Segment);

/**
 * The environment results analyse when the request names none: where the experiment runs — its
 * production environment among those it lists, else the first it lists; running everywhere, the
 * project's production environment (else its first). An unknown experiment is the caller's 404.
 */
export async function resultsEnvironment(db: Queryable, projectId: string, experimentKey: string): Promise<string> {
  const stored = await experimentsRepo.get(db, projectId, experimentKey);
  const listed = (stored.definition as { environments?: unknown }).environments;
  const runsIn = Array.isArray(listed) ? listed.filter((e): e is string => typeof e === 'string') : [];
  const envs = await environments.list(db, projectId);
  const candidates = runsIn.length === 0 ? envs : runsIn.map((key) => envs.find((e) => e.key === key) ?? { key, production: false });
  return (candidates.find((e) => e.production) ?? candidates.find((e) => e.key === 'production') ?? candidates[0])?.key ?? 'production';
}

export class ResultsService {
  constructor(private readonly deps: Pick<Deps, 'db' | 'now' | 'logger' | 'dimensionBuildTimeoutMs'>) {}

  /** Results of one experiment in one environment; 404 for unknown project, experiment or environment. */
  async get(actor: Actor, projectKey: string, experimentKey: string, request: ResultsRequest): Promise<ExperimentResults> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const environment = request.environment ?? (await resultsEnvironment(this.deps.db, project.id, experimentKey));
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
    const environment = request.environment ?? (await resultsEnvironment(this.deps.db, project.id, experimentKey));
    await environments.get(this.deps.db, project.id, environment);
    return computeBreakdown(this.deps.db, { projectId: project.id, environment, experiment: experimentKey }, request, this.deps.now(), this.deps.logger, this.build());
  }
}

/**
 * What a breakdown analyses: the results options and filters (dates, segment, attribute filters on
 * attributes other than the dimension), one of the experiment's dimensions, how many values.
 */
export interface BreakdownRequest extends Pick<ResultsRequest, 'environment' | 'sequential' | 'cuped' | 'alpha' | 'correction' | 'from' | 'to' | 'segment' | 'attributes' | 'phase'> {
  readonly dimension: string;
  readonly limit?: number;
}

/**
 * The experiment's results per value of one of its dimensions: the values from the dimension's
 * rollups, largest first, each analysed as `attr.<dimension>=<value>` with the request's filters would
 * be (from the same rollups when no other filter is given; a date range off the hour, a segment or
 * another attribute filter scan). With filters, each value's units are those the filters keep: a value
 * with none is left out, and `omitted` counts the filtered units of the values beyond `limit`.
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
  const parsed = storedExperimentSchema.safeParse(stored.definition);
  if (!parsed.success) {
    throw new AppError(AppErrorCode.InvalidState, `experiment "${stored.key}" is not a valid definition; fix it before reading results`);
  }
  const listed = parsed.data.dimensions ?? [];
  if (!listed.includes(request.dimension)) {
    throw invalid(`"${request.dimension}" is not one of the experiment's dimensions (${listed.length === 0 ? 'it lists none' : listed.join(', ')}); add it to the experiment's dimensions`, {
      issues: [{ path: 'query.dimension', message: 'not one of the experiment\'s dimensions' }],
    });
  }
  const attributes = request.attributes ?? {};
  if (Object.hasOwn(attributes, request.dimension)) {
    throw invalid(`the breakdown is by "${request.dimension}": it cannot also filter on it (attr.${request.dimension}); leave that filter out, or ask for the results with it instead`, {
      issues: [{ path: `query.attr.${request.dimension}`, message: 'filters on the dimension broken down' }],
    });
  }
  assertRange(request);
  const phase = resolvePhase(parsed.data, request, now);
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
  const rolledUp = await dimensionValues(db, target, request.dimension);
  // The phase's window narrows the population as from / to do (each value's results resolve the same phase).
  const windowed = withWindow(request, phase);
  const filtered = phase.from !== undefined || phase.to !== undefined || request.segment !== undefined || Object.keys(attributes).length > 0;
  // The rollups' order (all units, largest first), each value with the units the filters keep.
  const found = filtered ? await filteredDimensionValues(db, target, request.dimension, rolledUp, await populationFilter(db, target, parsed.data, windowed)) : rolledUp;
  const shown = found.slice(0, limit);
  const values: ResultsBreakdown['values'] = [];
  const { dimension: _d, limit: _l, ...options } = request;
  for (const { value } of shown) {
    values.push({
      value,
      results: await computeResults(db, target, { ...options, attributes: { ...attributes, [request.dimension]: value } }, now, logger, { series: false, build, chanceToBeBest: false, countCapped: false }),
    });
  }
  const rest = found.slice(limit);
  return {
    experiment: { key: stored.key, name: parsed.data.name },
    environment: target.environment,
    dimension: request.dimension,
    computedAt: now.toISOString(),
    unit: resultsUnitOf(parsed.data),
    filters: filtersView(request, phase),
    values,
    omitted: { values: rest.length, units: rest.reduce((n, v) => n + v.units, 0) },
  };
}

interface MetricPlan {
  readonly metric: Metric;
  readonly role: MetricResult['role'];
  readonly guardrail: boolean;
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
  const guarded = guardrailMetricKeys(experiment, all.map((m) => ({ key: m.key, guardrail: m.definition.guardrail, archived: m.archived })));
  const plans: MetricPlan[] = [];
  const seen = new Set<string>();
  const add = (key: string, role: MetricResult['role']): void => {
    const metric = byKey.get(key);
    if (metric !== undefined && !seen.has(key)) {
      seen.add(key);
      plans.push({ metric, role, guardrail: guarded.has(key) });
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
  options: {
    readonly series?: boolean;
    readonly build?: DimensionBuildOptions;
    /** Each variation's chanceToBeBest (default true): a per-metric integral, left out (null) of breakdowns, which analyse many values. */
    readonly chanceToBeBest?: boolean;
    /** Count the units above the caps of metrics the rollups answer (default true): a read of their totals per request, left out (null) of breakdowns. */
    readonly countCapped?: boolean;
  } = {},
): Promise<ExperimentResults> {
  const stored = await experimentsRepo.get(db, target.projectId, target.experiment);
  const parsed = storedExperimentSchema.safeParse(stored.definition);
  if (!parsed.success) {
    throw new AppError(AppErrorCode.InvalidState, `experiment "${stored.key}" is not a valid definition; fix it before reading results`);
  }
  const experiment = parsed.data;
  assertRange(request);
  // One split phase by default (the current one): see resolvePhase.
  const phase = resolvePhase(experiment, request, now);
  // Totals a metric change made wrong are recomputed first, within the time a dimension build may take.
  const build = options.build ?? (logger === undefined ? {} : { logger });
  const totalsCurrent = await rebuildRequestedTotals(db, target, build);
  const filter = await populationFilter(db, target, experiment, withWindow(request, phase));
  const plans = await planMetrics(db, target.projectId, experiment);
  const interval = request.interval ?? Width.Day;
  // Units are bucketed by their exposure hour (the rollups' grain), so buckets start on a whole hour:
  // the hour the experiment started in, or the one a later phase starts in (its day 1 is its first 24
  // hours, and the series starts with the phase). `end` is then the true boundary of every unit in a point.
  const phaseStart = phase.view.from === null ? undefined : Date.parse(phase.view.from);
  const origin =
    phaseStart !== undefined
      ? floorHour(new Date(phaseStart))
      : experiment.startedAt === undefined
        ? new Date(Date.UTC(2000, 0, 1))
        : floorHour(new Date(experiment.startedAt));
  const metricRequests: MetricRequest[] = plans.map(({ metric }) => ({
    key: metric.key,
    ratio: metric.type === MetricType.Ratio,
    cap: metric.capping?.type === CapType.Absolute ? metric.capping.value : null,
    percentile: metric.capping?.type === CapType.Percentile ? metric.capping.value : null,
  }));
  // A filter on one of the experiment's dimensions reads their rollups, built by the first results
  // request after they are listed (the guardrail checks and the console ask within a minute).
  const dimensions = await syncDimensions(db, target, experiment.dimensions ?? [], build);
  const variations = expandVariations(experiment);
  const sources = await queryStrata(db, target, phase, filter, { metrics: metricRequests, bucket: interval, origin, dimensions });
  // Every stratum carries the one query's rollup counts.
  const read = sources.strata[0]?.stats;
  if (read !== undefined && read.rollupRows > COMPACT_ROLLUPS_ABOVE && read.rollupRows > 4 * read.rollupGroups) {
    // Best effort: the answer is already computed; the next read compacts if this one could not.
    await compactRollups(db, target, read.dimension).catch((error: unknown) => {
      logger?.warn('results rollup compaction failed', { experiment: target.experiment, error: error instanceof Error ? error.message : String(error) });
    });
  }
  const stats = { percentileCaps: sources.percentileCaps, fromRollups: sources.fromRollups };
  const stratified = phase.strata !== undefined;

  // The shares the ruleset serves (equal when no weights are given, or all are 0), blended over the
  // splits it served when the split of the started experiment changed (stratified: by the units of
  // each phase queried, which are those analysed).
  const weights = stratified
    ? blendedShares(
        experiment,
        sources.strata.map(({ index, stats: s }) => ({ index, units: s.units.reduce((n, u) => n + (variations.some((v) => v.key === u.variation) ? u.units : 0), 0) })),
      )
    : await expectedShares(db, target, experiment, filter, phase.index);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const withSeries = options.series !== false;
  const resolved = resolveAnalysis(request, experiment.analysis);
  const cuped = resolved.values.cuped;
  const analysisOptions: AnalysisOptions = {
    alpha: resolved.values.alpha,
    sequential: resolved.values.sequential,
    correction: resolved.values.correction,
    difference: DifferenceType.Relative,
  };
  const caps = new Map<string, CapSpec | null>();
  for (const { metric } of plans) {
    caps.set(metric.key, capSpec(metric, stats.percentileCaps.get(metric.key) ?? null));
  }

  // Walk the buckets in time order, accumulating; analyse at the kept points and at the end. Units
  // exposed before the experiment's start (its first hour) are in the first bucket, not one before it;
  // those dated ahead of now (SDKs may send up to a day ahead; a fast clock) in the current one, not
  // in a point of the future.
  const width = interval === Width.Hour ? 3_600_000 : 86_400_000;
  const current = origin.getTime() + Math.max(0, Math.floor((now.getTime() - origin.getTime()) / width)) * width;
  const bucketOf = (at: Date): number => Math.min(Math.max(at.getTime(), origin.getTime()), current);
  // Rows tagged with the stratum they come from (one stratum unless stratified).
  const unitRows = sources.strata.flatMap(({ stats: s }, stratum) => s.units.map((row) => ({ stratum, row })));
  const metricRows = sources.strata.flatMap(({ stats: s }, stratum) => s.metrics.map((row) => ({ stratum, row })));
  const buckets = [...new Set([...unitRows.map((u) => bucketOf(u.row.bucket)), ...metricRows.map((m) => bucketOf(m.row.bucket))])].sort((a, b) => a - b);
  const unitsAt = groupBy(unitRows, (u) => bucketOf(u.row.bucket));
  const metricsAt = groupBy(metricRows, (m) => bucketOf(m.row.bucket));
  const exact = new Set(plans.filter(({ metric }) => metric.type !== MetricType.Conversion).map(({ metric }) => metric.key));
  const acc = new Accumulator(variations.map((v) => v.key), exact);
  // Stratified: each phase's own totals too (`acc` holds them all, for the counts and totals shown).
  const strata = stratified ? sources.strata.map(() => new Accumulator(variations.map((v) => v.key), exact)) : undefined;
  const analyzeNow = (options: AnalysisOptions): { analysis: ExperimentAnalysis; strata?: StratumWeights } =>
    strata === undefined ? { analysis: analyze(acc, variations, weights, plans, caps, options, cuped) } : analyzeStratified(acc, strata, variations, weights, plans, caps, options, cuped);
  // A continuous grid from the first bucket of the analysed window (the experiment's first hour, or
  // that of `from`) to the last with data: a bucket without new exposures is still a point of the
  // chart. Points are by first exposure, so such a point repeats the previous one.
  const last = buckets.at(-1);
  const windowStart = request.from === undefined ? origin.getTime() : Math.max(origin.getTime(), request.from.getTime());
  const knownStart = experiment.startedAt !== undefined || phaseStart !== undefined;
  const first = last === undefined ? 0 : Math.min(buckets[0]!, knownStart ? origin.getTime() + Math.floor((windowStart - origin.getTime()) / width) * width : buckets[0]!);
  const count = last === undefined ? 0 : (last - first) / width + 1;
  const step = Math.ceil(count / MAX_SERIES_POINTS);
  const points: SeriesPoint[] = [];
  let latest: { analysis: ExperimentAnalysis; overflowed: Set<string> } | undefined;
  for (let i = 0; i < count; i++) {
    const bucket = first + i * width;
    const units = unitsAt.get(bucket) ?? [];
    const sums = metricsAt.get(bucket) ?? [];
    for (const { stratum, row } of units) {
      acc.addUnits(row.variation, row.units, row.excluded);
      strata?.[stratum]!.addUnits(row.variation, row.units, row.excluded);
    }
    for (const { stratum, row } of sums) {
      acc.addSums(row);
      strata?.[stratum]!.addSums(row);
    }
    if (units.length > 0 || sums.length > 0) {
      latest = undefined;
    }
    if (withSeries && (count - 1 - i) % step === 0) {
      // An empty bucket reuses the analysis of the sums it repeats: the cost stays one per data bucket.
      // The chance to be best is a per-metric integral only the summary shows: not at every point.
      latest ??= { analysis: analyzeNow(analysisOptions).analysis, overflowed: overflowedMetrics(acc, plans, variations) };
      points.push(seriesPoint(bucket, width, acc, latest.analysis, latest.overflowed));
    }
  }
  const { analysis, strata: used } = analyzeNow({ ...analysisOptions, chanceToBeBest: options.chanceToBeBest !== false });

  const overflow = overflowedMetrics(acc, plans, variations);
  const analysed = variations.reduce((n, v) => n + acc.units(v.key), 0);
  const capped = options.countCapped === false ? undefined : await cappedUnitCounts(db, target, filter, plans, caps, stats.fromRollups, analysed);
  const method = analysisOptions.sequential === true ? TestMethod.Sequential : TestMethod.Welch;
  const metrics = plans.map(({ metric, role, guardrail }, i): MetricResult => {
    const m = analysis.metrics[i];
    const cap = caps.get(metric.key) ?? null;
    // Sums beyond a double (a value near 1e308, or a square of one above 1e154, is a valid event
    // value): no statistic is defined, and a total that overflowed is null, not a made-up 0.
    const overflowed = overflow.has(metric.key);
    return {
      key: metric.key,
      name: metric.name,
      type: metric.type,
      role,
      guardrail,
      higherIsBetter: metric.higherIsBetter,
      cap:
        metric.capping === undefined
          ? null
          : { type: metric.capping.type, percentile: metric.capping.type === CapType.Percentile ? metric.capping.value : null, value: cap?.value ?? null },
      cupedApplied: m?.comparisons.some((c) => c.frequentist.cuped !== null) ?? false,
      cupedStatus: cupedStatusOf(m, overflowed || (m?.error ?? analysis.error) !== undefined, cuped),
      source: stats.fromRollups.has(metric.key) ? 'rollup' : 'scan',
      error: overflowed ? OVERFLOW : errorOf(m?.error ?? analysis.error),
      variations: variations.map((v, k) => {
        const sums = acc.sums(metric.key, v.key);
        const ratio = metric.type === MetricType.Ratio;
        const totalsFinite = Number.isFinite(sums.v) && (!ratio || Number.isFinite(sums.d));
        // A ratio of units whose denominator adds up to 0 has no value (the comparison says
        // ZERO_DENOMINATOR): null, not a 0 that reads as measured. Without units, 0 as for every metric.
        const defined = totalsFinite && !(ratio && sums.d === 0 && acc.units(v.key) > 0);
        return {
          variation: v.key,
          units: acc.units(v.key),
          total: Number.isFinite(sums.v) ? sums.v : null,
          denominatorTotal: ratio ? (Number.isFinite(sums.d) ? sums.d : null) : null,
          mean: defined ? finiteOr(m?.arms[k]?.mean, 0) : null,
          chanceToBeBest: overflowed ? null : chanceToBeBestOf(m?.arms[k]?.chanceToBeBest),
          cappedUnits: cap === null ? null : stats.fromRollups.has(metric.key) ? (capped?.get(`${metric.key}\u0000${v.key}`) ?? (capped === undefined ? null : 0)) : (acc.cappedUnits(metric.key, v.key) ?? 0),
          comparison:
            k === 0
              ? null
              : overflowed
                ? { ...NEUTRAL, method, difference: DifferenceType.Relative, error: OVERFLOW }
                : comparisonOf(m?.comparisons[k - 1], analysisOptions, analysis),
        };
      }),
    };
  });

  const unknown = acc.unknownVariations();
  const srmFlagged = unknown.length > 0 || analysis.srm.flagged;
  const dropped = used === undefined || phase.strata === undefined ? [] : [droppedStrataWarning(used, phase.strata)].filter((w) => w !== undefined);
  const warnings = [...phase.warnings, ...dropped, ...(await dataQualityWarnings(db, target, filter, plans, variations, acc, caps, srmFlagged, resultsUnitOf(experiment)))];
  return {
    experiment: { key: stored.key, name: experiment.name, status: experiment.status, startedAt: experiment.startedAt ?? null },
    environment: target.environment,
    computedAt: now.toISOString(),
    unit: resultsUnitOf(experiment),
    filters: filtersView(request, used === undefined ? phase : { ...phase, view: { ...phase.view, stratified: { phases: sources.strata.length, used: used.used, droppedPhases: used.dropped.length, droppedUnits: used.droppedUnits } } }),
    analysis: {
      alpha: analysis.alpha,
      sequential: analysisOptions.sequential === true,
      sequentialTuning: analysis.sequentialTuning,
      correction: analysis.correction,
      cuped,
      interval,
      source: resolved.source,
    },
    units: { analysed, excluded: acc.excluded, unknownVariation: unknown.reduce((n, [, units]) => n + units, 0) },
    totalsRebuilding: !totalsCurrent,
    variations: variations.map((v, i) => ({
      key: v.key,
      name: v.name ?? null,
      expectedShare: totalWeight > 0 ? (weights[i] ?? 0) / totalWeight : 0,
      units: acc.units(v.key),
      excluded: acc.excludedIn(v.key),
    })),
    srm:
      unknown.length > 0
        ? // As units in a zero-weight variation: a certain mismatch, whatever the other counts.
          { chiSquare: 0, df: 0, pValue: 0, flagged: true, error: unknownVariationError(unknown) }
        : {
            chiSquare: finiteOr(analysis.srm.chiSquare, 0),
            df: analysis.srm.df,
            pValue: finiteOr(analysis.srm.pValue, 1),
            flagged: analysis.srm.flagged,
            error: errorOf(analysis.srm.error),
          },
    metrics,
    timeSeries: { interval, points },
    warnings,
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

/** An exact decimal m / 10^s (PostgreSQL `numeric` as text, summed without rounding). */
interface Decimal {
  readonly m: bigint;
  readonly s: number;
}
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;
const ZERO: Decimal = { m: 0n, s: 0 };

function parseDecimal(text: string): Decimal | undefined {
  const match = DECIMAL.exec(text);
  if (match === null) {
    return undefined;
  }
  const fraction = match[3] ?? '';
  const m = BigInt(`${match[2]!}${fraction}`);
  return { m: match[1] === '-' ? -m : m, s: fraction.length };
}

function scaled(a: Decimal, s: number): bigint {
  return a.m * 10n ** BigInt(s - a.s);
}

function decimalAdd(a: Decimal, b: Decimal): Decimal {
  const s = Math.max(a.s, b.s);
  return { m: scaled(a, s) + scaled(b, s), s };
}

function decimalMul(a: Decimal, b: Decimal): Decimal {
  return { m: a.m * b.m, s: a.s + b.s };
}

function decimalToNumber(a: Decimal): number {
  const digits = (a.m < 0n ? -a.m : a.m).toString().padStart(a.s + 1, '0');
  const text = a.s === 0 ? digits : `${digits.slice(0, -a.s)}.${digits.slice(-a.s)}`;
  return Number(a.m < 0n ? `-${text}` : text);
}

/** sum / n rounded to the sum's own decimals: a shift that keeps shifted values exact decimals. */
function decimalMean(sum: Decimal, n: number): Decimal {
  const d = BigInt(n);
  const twice = (2n * sum.m) / d;
  return { m: twice / 2n + (twice % 2n), s: sum.s };
}

/** The exact value of a double (m / 2^e = m·5^e / 10^e). */
function doubleToDecimal(x: number): Decimal {
  let m = x;
  let e = 0;
  while (!Number.isInteger(m)) {
    m *= 2;
    e++;
  }
  return { m: BigInt(m) * 5n ** BigInt(e), s: e };
}

/**
 * The double nearest a decimal, as that double's exact decimal: a shift the engine receives without
 * rounding, so shifts of two arms differ exactly and the shifted sums are around the shift it sees.
 */
function snapToDouble(a: Decimal): Decimal {
  return doubleToDecimal(decimalToNumber(a));
}

/** The value components of the sums, and the components each sum multiplies. */
type Component = 'v' | 'p' | 'd' | 'q';
const FACTORS: Readonly<Record<SumName, readonly Component[]>> = {
  v: ['v'],
  vv: ['v', 'v'],
  p: ['p'],
  pp: ['p', 'p'],
  vp: ['v', 'p'],
  d: ['d'],
  dd: ['d', 'd'],
  vd: ['v', 'd'],
  q: ['q'],
  qq: ['q', 'q'],
  pq: ['p', 'q'],
  vq: ['v', 'q'],
  dp: ['d', 'p'],
  dq: ['d', 'q'],
};
const SQUARE: Readonly<Record<Component, SumName>> = { v: 'vv', p: 'pp', d: 'dd', q: 'qq' };

/** Doubles keep the centred second moment to ~1e-10 relative unless more of Σx² than this cancels. */
const CANCELLATION_LIMIT = 1e-6;

/** Σ(a − ca)(b − cb) = Σab − cb·Σa − ca·Σb + n·ca·cb, exactly (one factor when b is undefined: Σ(a − ca)). */
function shiftedSum(sum: Decimal, n: number, a: [Decimal, Decimal], b?: [Decimal, Decimal]): Decimal {
  const count: Decimal = { m: BigInt(n), s: 0 };
  const neg = (d: Decimal): Decimal => ({ m: -d.m, s: d.s });
  const [sumA, ca] = a;
  if (b === undefined) {
    return decimalAdd(sum, neg(decimalMul(count, ca)));
  }
  const [sumB, cb] = b;
  let value = decimalAdd(sum, neg(decimalMul(cb, sumA)));
  value = decimalAdd(value, neg(decimalMul(ca, sumB)));
  return decimalAdd(value, decimalMul(count, decimalMul(ca, cb)));
}

/** The engine's input sums of one arm: around `shift` per component where raw sums would cancel. */
interface ArmSums {
  readonly sums: Sums;
  readonly shift: Readonly<Record<Component, number>>;
}

/** Running totals over the buckets seen so far. */
class Accumulator {
  private readonly unitCounts = new Map<string, number>();
  private readonly metricSums = new Map<string, Sums>();
  /**
   * Exact sums of the metrics in `exactMetrics` (undefined once a value was not a plain decimal),
   * folded in from `pending` only when an analysis needs them (rarely: parsing every row costs).
   */
  private readonly exactSums = new Map<string, Record<SumName, Decimal> | undefined>();
  private readonly pending = new Map<string, MetricBucketRow[]>();
  private readonly excludedCounts = new Map<string, number>();
  private readonly cappedCounts = new Map<string, number>();
  excluded = 0;

  constructor(
    private readonly variations: readonly string[],
    private readonly exactMetrics: ReadonlySet<string> = new Set(),
  ) {}

  addUnits(variation: string, units: number, excluded: number): void {
    this.unitCounts.set(variation, (this.unitCounts.get(variation) ?? 0) + units);
    this.excludedCounts.set(variation, (this.excludedCounts.get(variation) ?? 0) + excluded);
    this.excluded += excluded;
  }

  /** Excluded units first exposed to the variation. */
  excludedIn(variation: string): number {
    return this.excludedCounts.get(variation) ?? 0;
  }

  /** Units above the cap of a scanned capped metric in a variation (undefined: not counted). */
  cappedUnits(metric: string, variation: string): number | undefined {
    return this.cappedCounts.get(`${metric}\u0000${variation}`);
  }

  addSums(row: MetricBucketRow): void {
    const key = `${row.metric}\u0000${row.variation}`;
    const sums = this.metricSums.get(key) ?? zeroSums();
    for (const s of SUM_NAMES) {
      sums[s] += Number(row.sums[s]);
    }
    this.metricSums.set(key, sums);
    if (row.capped !== undefined) {
      this.cappedCounts.set(key, (this.cappedCounts.get(key) ?? 0) + row.capped);
    }
    if (this.exactMetrics.has(row.metric)) {
      const list = this.pending.get(key);
      if (list === undefined) {
        this.pending.set(key, [row]);
      } else {
        list.push(row);
      }
    }
  }

  private exact(key: string): Record<SumName, Decimal> | undefined {
    const rows = this.pending.get(key) ?? [];
    this.pending.delete(key);
    if (this.exactSums.has(key) && this.exactSums.get(key) === undefined) {
      return undefined;
    }
    const exact = this.exactSums.get(key) ?? (Object.fromEntries(SUM_NAMES.map((s) => [s, ZERO])) as Record<SumName, Decimal>);
    for (const row of rows) {
      for (const s of SUM_NAMES) {
        const d = parseDecimal(row.sums[s]);
        if (d === undefined) {
          this.exactSums.set(key, undefined);
          return undefined;
        }
        exact[s] = decimalAdd(exact[s], d);
      }
    }
    this.exactSums.set(key, exact);
    return exact;
  }

  units(variation: string): number {
    return this.unitCounts.get(variation) ?? 0;
  }

  /** The raw sums as doubles (Infinity where one passes what a double holds). */
  sums(metric: string, variation: string): Sums {
    return this.metricSums.get(`${metric}\u0000${variation}`) ?? zeroSums();
  }

  /**
   * The sums to analyse. Where Σx² − (Σx)²/n would cancel in doubles (large values with a small
   * spread: 1e9 ± 50), the sums of that component are taken around its mean, rounded to the
   * values' decimals, exactly (Σ(x − c)² = Σx² − 2cΣx + nc²) before they become doubles.
   */
  armSums(metric: string, variation: string, n: number, components: readonly Component[], all = false): ArmSums {
    const raw = this.sums(metric, variation);
    const shift = { v: 0, p: 0, d: 0, q: 0 };
    const cancels = components.filter((c) => {
      const centred = raw[SQUARE[c]] - (raw[c] * raw[c]) / n;
      return (all || !(centred > CANCELLATION_LIMIT * Math.abs(raw[SQUARE[c]]))) && raw[SQUARE[c]] !== 0;
    });
    const exact = n < 2 || cancels.length === 0 || !this.exactMetrics.has(metric) ? undefined : this.exact(`${metric}\u0000${variation}`);
    if (exact === undefined) {
      return { sums: raw, shift };
    }
    const pivots = new Map<Component, Decimal>();
    for (const c of cancels) {
      const pivot = snapToDouble(decimalMean(exact[c], n));
      if (pivot.m !== 0n) {
        pivots.set(c, pivot);
        shift[c] = decimalToNumber(pivot);
      }
    }
    if (pivots.size === 0) {
      return { sums: raw, shift };
    }
    const sums = { ...raw };
    for (const name of SUM_NAMES) {
      const [a, b] = FACTORS[name];
      const ca = pivots.get(a!);
      const cb = b === undefined ? undefined : pivots.get(b);
      if (ca === undefined && cb === undefined) {
        continue;
      }
      const value =
        b === undefined ? shiftedSum(exact[name], n, [exact[a!], ca!]) : shiftedSum(exact[name], n, [exact[a!], ca ?? ZERO], [exact[b], cb ?? ZERO]);
      sums[name] = decimalToNumber(value);
    }
    return { sums, shift };
  }

  /**
   * Exact sums of the residual r = v − slope·p of one arm for CUPED (see CupedResidual), r around
   * its mean and p around `preShift`; undefined when a value is not a plain decimal.
   */
  residualSums(metric: string, variation: string, n: number, slope: number, preShift: number): CupedResidual | undefined {
    const exact = this.exactMetrics.has(metric) ? this.exact(`${metric}\u0000${variation}`) : undefined;
    if (exact === undefined || n < 2) {
      return undefined;
    }
    const k = doubleToDecimal(slope);
    const neg = (a: Decimal): Decimal => ({ m: -a.m, s: a.s });
    // Σr = Σv − kΣp, Σr² = Σv² − 2kΣvp + k²Σp², Σrp = Σvp − kΣp²
    const sum = decimalAdd(exact.v, neg(decimalMul(k, exact.p)));
    const squares = decimalAdd(decimalAdd(exact.vv, neg(decimalMul({ m: 2n, s: 0 }, decimalMul(k, exact.vp)))), decimalMul(decimalMul(k, k), exact.pp));
    const products = decimalAdd(exact.vp, neg(decimalMul(k, exact.pp)));
    const cr = snapToDouble(decimalMean(sum, n));
    const cp = doubleToDecimal(preShift);
    return {
      slope,
      sum: decimalToNumber(shiftedSum(sum, n, [sum, cr])),
      sumSquares: decimalToNumber(shiftedSum(squares, n, [sum, cr], [sum, cr])),
      sumProducts: decimalToNumber(shiftedSum(products, n, [sum, cr], [exact.p, cp])),
      shift: decimalToNumber(cr),
    };
  }

  unitsByVariation(): Record<string, number> {
    return Object.fromEntries(this.variations.map((v) => [v, this.units(v)]));
  }

  /** Analysed units exposed to variations the experiment does not define, by key. */
  unknownVariations(): [string, number][] {
    const known = new Set(this.variations);
    return [...this.unitCounts].filter(([v, n]) => !known.has(v) && n > 0).sort(([a], [b]) => (a < b ? -1 : 1));
  }
}

/** Above this many analysed units, units above a cap are counted only for metrics the request scanned anyway. */
export const MAX_CAPPED_COUNT_UNITS = 100_000;

/**
 * Units above the cap of each capped metric the rollups answered (metric NUL variation → units), read
 * from the totals; undefined when the experiment is too large to read them for this (the scanned
 * metrics count theirs in the scan).
 */
async function cappedUnitCounts(
  db: Queryable,
  target: ResultsTarget,
  filter: PopulationFilter,
  plans: readonly MetricPlan[],
  caps: ReadonlyMap<string, CapSpec | null>,
  fromRollups: ReadonlySet<string>,
  analysed: number,
): Promise<Map<string, number> | undefined> {
  const wanted = plans.flatMap(({ metric }) => {
    const cap = caps.get(metric.key);
    return cap === null || cap === undefined || !fromRollups.has(metric.key) ? [] : [{ metric: metric.key, cap: cap.value }];
  });
  if (wanted.length === 0) {
    return new Map();
  }
  if (analysed > MAX_CAPPED_COUNT_UNITS) {
    return undefined;
  }
  const rows = await queryCappedUnits(db, target, wanted, filter);
  return new Map(rows.map((r) => [`${r.metric}\u0000${r.variation}`, r.units]));
}

/**
 * The data-quality warnings (docs/statistics.md): DOMINANT_UNIT per metric and variation (not for
 * conversions: a unit counts at most once), SUSPICIOUS_UNIT_IDS per variation, and
 * SAMPLE_RATIO_MISMATCH when the SRM check flagged.
 */
async function dataQualityWarnings(
  db: Queryable,
  target: ResultsTarget,
  filter: PopulationFilter,
  plans: readonly MetricPlan[],
  variations: readonly { key: string; name?: string | undefined }[],
  acc: Accumulator,
  caps: ReadonlyMap<string, CapSpec | null>,
  srmFlagged: boolean,
  unit: ResultsUnit,
): Promise<ResultsWarning[]> {
  const metricNames = new Map(plans.map(({ metric }) => [metric.key, metric.name]));
  const names = {
    metric: (key: string) => JSON.stringify(metricNames.get(key) ?? key),
    variation: (key: string) => `variation ${JSON.stringify(key)}`,
    unit,
  };
  const arms: ArmTotals[] = [];
  for (const { metric } of plans) {
    if (metric.type === MetricType.Conversion) {
      continue;
    }
    for (const v of variations) {
      const sums = acc.sums(metric.key, v.key);
      arms.push({ metric: metric.key, variation: v.key, units: acc.units(v.key), sum: sums.v, sumSquares: sums.vv, cap: caps.get(metric.key)?.value ?? null });
    }
  }
  const out = [...(await suspiciousUnitIdWarnings(db, target, filter, names)), ...(await dominantUnitWarnings(db, target, arms, filter, names))];
  if (srmFlagged) {
    out.push(
      plainWarning(
        ResultsWarningCode.SampleRatioMismatch,
        'sample ratio mismatch: the split of units between variations differs from the expected shares (see srm): the assignment or the tracking is broken somewhere (bucketing, redirects, bots, lost exposures), so the effects may be biased; find the cause before trusting them',
      ),
    );
  }
  return out;
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
  // Event counts are never negative, so no lift is below −100%: the credible interval is cut there.
  const nonNegative = metric.type === MetricType.Count ? { nonNegative: true } : {};
  const common = { key: metric.key, inverse: !metric.higherIsBetter, ...nonNegative, ...(cap === null ? {} : { cap }) };
  const shifted = (value: number): { shift?: number } => (value === 0 ? {} : { shift: value });
  if (metric.type === MetricType.Ratio) {
    const arms = variations.map((v) => ({ n: acc.units(v), raw: acc.sums(metric.key, v), ...acc.armSums(metric.key, v, acc.units(v), ['v', 'd', 'p', 'q']) }));
    const hasPre = cuped && arms.some(({ raw }) => raw.p !== 0 || raw.pp !== 0 || raw.q !== 0);
    return {
      ...common,
      type: 'ratio',
      arms: arms.map(({ n, sums: s, shift }) => ({
        n,
        numerator: { sum: s.v, sumSquares: s.vv, ...shifted(shift.v) },
        denominator: { sum: s.d, sumSquares: s.dd, ...shifted(shift.d) },
        sumProducts: s.vd,
      })),
      ...(hasPre
        ? {
            covariates: arms.map(({ n, sums: s, shift }) => ({
              pre: { n, numerator: { sum: s.p, sumSquares: s.pp, ...shifted(shift.p) }, denominator: { sum: s.q, sumSquares: s.qq, ...shifted(shift.q) }, sumProducts: s.pq },
              crossProducts: { numeratorNumerator: s.vp, numeratorDenominator: s.vq, denominatorNumerator: s.dp, denominatorDenominator: s.dq },
            })),
          }
        : {}),
    };
  }
  const proportion = metric.type === MetricType.Conversion;
  let arms = variations.map((v) => {
    const n = acc.units(v);
    const raw = acc.sums(metric.key, v);
    return { n, raw, ...(proportion ? { sums: raw, shift: { v: 0, p: 0, d: 0, q: 0 } } : acc.armSums(metric.key, v, n, ['v', 'p'])) };
  });
  const hasPre = cuped && arms.some(({ raw }) => raw.p !== 0 || raw.pp !== 0);
  let residuals: (CupedResidual | undefined)[] = [];
  if (hasPre && !proportion && nearlyCollinear(arms)) {
    // Every component around its exact mean, then the residual around the slope those sums give.
    arms = variations.map((v) => {
      const n = acc.units(v);
      return { n, raw: acc.sums(metric.key, v), ...acc.armSums(metric.key, v, n, ['v', 'p'], true) };
    });
    const slope = pooledSlope(arms);
    residuals = arms.map(({ n, shift }, i) => acc.residualSums(metric.key, variations[i]!, n, slope, shift.p));
    if (residuals.some((r) => r === undefined)) {
      residuals = [];
    }
  }
  return {
    ...common,
    type: proportion ? 'proportion' : 'mean',
    arms: arms.map(({ n, sums: s, shift }) => ({ n, sum: s.v, sumSquares: s.vv, ...shifted(shift.v) })),
    ...(hasPre
      ? {
          covariates: arms.map(({ n, sums: s, shift }, i) => {
            const residual = residuals[i];
            return { pre: { n, sum: s.p, sumSquares: s.pp, ...shifted(shift.p) }, sumProducts: s.vp, ...(residual === undefined ? {} : { residual }) };
          }),
        }
      : {}),
  };
}

/** Centred Σyy, Σxx, Σxy of an arm from its (possibly shifted) sums, in doubles. */
function centredMoments({ n, sums: s }: { n: number; sums: Sums }): { yy: number; xx: number; xy: number } {
  return n < 2 ? { yy: 0, xx: 0, xy: 0 } : { yy: s.vv - (s.v * s.v) / n, xx: s.pp - (s.p * s.p) / n, xy: s.vp - (s.v * s.p) / n };
}

/** The pooled within-arm slope of v on p (the engine's θ), in doubles. */
function pooledSlope(arms: readonly { n: number; sums: Sums }[]): number {
  let xy = 0;
  let xx = 0;
  for (const arm of arms) {
    const m = centredMoments(arm);
    xy += m.xy;
    xx += m.xx;
  }
  return xx > 0 ? xy / xx : 0;
}

/**
 * Whether CUPED's residual variance Σyy − 2θΣxy + θ²Σxx would cancel in doubles (more of Σyy than
 * CANCELLATION_LIMIT): large values with units at 0 make post and pre collinear to 1e-20.
 */
function nearlyCollinear(arms: readonly { n: number; sums: Sums }[]): boolean {
  const theta = pooledSlope(arms);
  return (
    theta !== 0 &&
    arms.some((arm) => {
      const m = centredMoments(arm);
      return m.yy > 0 && !(m.yy - 2 * theta * m.xy + theta * theta * m.xx > CANCELLATION_LIMIT * m.yy);
    })
  );
}

/**
 * Each variation's expected share of the analysed units: the current split's; of one split phase
 * (`phase`, an index into the periods), the split that phase served; otherwise, after changes of
 * the split (sticky bucketing), each period's units split by the shares served then:
 * Σ_p n_p · share_p(v) / Σ_p n_p. A variation a period's split did not serve expects none of its
 * units (shares renormalised over the current variations). A period whose keys cannot be matched
 * with the current ones — it served a key no longer served and lacks a current one (a variation
 * renamed, as the API once let sticky experiments do), or shares none of them — expects the current
 * split: renormalising would expect all of its units in the unrenamed variations and none in the
 * renamed one.
 */
async function expectedShares(db: Database, target: ResultsTarget, experiment: Experiment, filter: PopulationFilter, phase?: number): Promise<number[]> {
  const history = experiment.splitHistory ?? [];
  if (history.length === 0) {
    return variationShares(experiment);
  }
  if (phase !== undefined) {
    // Every analysed unit was first exposed within the phase (its window lies inside the period).
    return periodShares(experiment)[phase] ?? variationShares(experiment);
  }
  const keys = expandVariations(experiment).map((v) => v.key);
  const periods = await unitsBySplitPeriod(db, target, filter, history.map((h) => new Date(h.until)), keys);
  return blendedShares(
    experiment,
    periods.map((units, index) => ({ index, units })),
  );
}

/** The shares each split period served, renormalised over the current variations (see expectedShares); the last is the current split. */
function periodShares(experiment: Experiment): number[][] {
  const current = variationShares(experiment);
  const keys = expandVariations(experiment).map((v) => v.key);
  return [
    ...(experiment.splitHistory ?? []).map((h) => {
      const renamed = keys.some((k) => !Object.hasOwn(h.shares, k)) && Object.keys(h.shares).some((k) => !keys.includes(k));
      const raw = keys.map((k) => h.shares[k] ?? 0);
      const sum = raw.reduce((a, b) => a + b, 0);
      return renamed || sum <= 0 ? current : raw.map((r) => r / sum);
    }),
    current,
  ];
}

/** Σ_p n_p · share_p(v) / Σ_p n_p over the periods given (by period index); the current split without units. */
function blendedShares(experiment: Experiment, periods: readonly { readonly index: number; readonly units: number }[]): number[] {
  const current = variationShares(experiment);
  const shares = periodShares(experiment);
  const total = periods.reduce((a, p) => a + p.units, 0);
  if (total === 0) {
    return current;
  }
  return current.map((_, v) => periods.reduce((acc, p) => acc + p.units * (shares[p.index] ?? current)[v]!, 0) / total);
}

/** What the queries of a request read: one stratum (the window) or, stratified, one per split phase. */
interface StrataStatistics {
  /** By phase index when stratified (index 0 otherwise). */
  readonly strata: readonly { readonly index: number; readonly stats: BucketedStatistics }[];
  /** Percentile caps over the whole window (every phase). */
  readonly percentileCaps: ReadonlyMap<string, number | null>;
  /** Metrics summed from the rollups; the others were scanned (grouping by period always scans). */
  readonly fromRollups: ReadonlySet<string>;
}

/**
 * The statistics of the window, or (stratified) of each split phase in it: one scan of the window
 * grouped by split period at the exact changes (store/results.ts `periods`), split here into the
 * phases' rows. A percentile cap is then the quantile over the whole window (every phase), as
 * pooled: the cap does not move between phases.
 */
async function queryStrata(
  db: Database,
  target: ResultsTarget,
  phase: ResolvedPhase,
  filter: PopulationFilter,
  request: { readonly metrics: readonly MetricRequest[]; readonly bucket: BucketWidth; readonly origin: Date; readonly dimensions: ReadonlySet<string> },
): Promise<StrataStatistics> {
  if (phase.strata === undefined) {
    const stats = await queryBucketedStatistics(db, target, { ...request, filter });
    return { strata: [{ index: phase.index ?? 0, stats }], percentileCaps: stats.percentileCaps, fromRollups: stats.fromRollups };
  }
  // A split that never moved has one period: the rows as they come (from the rollups when they serve).
  const stats = await queryBucketedStatistics(db, target, { ...request, filter, ...(phase.changes.length === 0 ? {} : { periods: phase.changes }) });
  const strata = phase.strata.map(({ index }) => ({
    index,
    stats: { ...stats, units: stats.units.filter((u) => (u.period ?? 0) === index), metrics: stats.metrics.filter((m) => (m.period ?? 0) === index) },
  }));
  return { strata, percentileCaps: stats.percentileCaps, fromRollups: stats.fromRollups };
}

/**
 * The analysis of the phases stratified: each phase's sufficient statistics per metric and arm
 * (`strata`), combined per arm weighted by the phases' units (stratifyMetric; a phase in which some
 * variation has fewer than 2 units is left out). The SRM check takes every analysed unit (`pooled`)
 * against the shares blended by each phase's units, as for phase=all.
 */
function analyzeStratified(
  pooled: Accumulator,
  strata: readonly Accumulator[],
  variations: readonly { key: string }[],
  weights: readonly number[],
  plans: readonly MetricPlan[],
  caps: ReadonlyMap<string, CapSpec | null>,
  options: AnalysisOptions,
  cuped: boolean,
): { analysis: ExperimentAnalysis; strata: StratumWeights } {
  const keys = variations.map((v) => v.key);
  const stratumWeightsNow = stratumWeights(strata.map((a) => keys.map((k) => a.units(k))));
  const used = strata.flatMap((a, p) => (stratumWeightsNow.weights[p]! > 0 ? [{ acc: a, weight: stratumWeightsNow.weights[p]! }] : []));
  const analysis = analyzeExperiment({
    variations: variations.map((v, i) => ({ key: v.key, weight: weights[i] ?? 0, units: pooled.units(v.key) })),
    metrics: plans.map(({ metric }) => {
      const cap = caps.get(metric.key) ?? null;
      // No phase usable: an input without units (every comparison says INSUFFICIENT_SAMPLE).
      const inputs = used.length === 0 ? [{ input: metricInput(metric, new Accumulator(keys), keys, cap, cuped), weight: 0 }] : used.map(({ acc, weight }) => ({ input: metricInput(metric, acc, keys, cap, cuped), weight }));
      return stratifyMetric(inputs);
    }),
    options,
  });
  return { analysis, strata: stratumWeightsNow };
}

/** STRATIFIED_PHASES_DROPPED when the stratified estimate left phases out; undefined otherwise. */
function droppedStrataWarning(used: StratumWeights, strata: readonly { readonly index: number }[]): ResultsWarning | undefined {
  if (used.dropped.length === 0) {
    return undefined;
  }
  const phases = used.dropped.map((p) => strata[p]!.index);
  const units = used.droppedUnits;
  return plainWarning(
    ResultsWarningCode.StratifiedPhasesDropped,
    `the stratified estimate leaves out split phase${phases.length === 1 ? '' : 's'} ${phases.join(', ')} (of ${strata.length}, ${units} unit${units === 1 ? '' : 's'}): some variation had fewer than 2 units there, too few for a variance; ` +
      `those units still count in units, totals and the SRM check. It fixes itself as the phase${phases.length === 1 ? ' gets' : 's get'} units; a phase with a variation at 0% never will (analyse the phases apart with phase=<index> to see them)`,
  );
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

/** A probability that JSON can carry, or null (not computed, or not finite). */
function chanceToBeBestOf(value: number | null | undefined): number | null {
  return value !== null && value !== undefined && Number.isFinite(value) ? value : null;
}

function bound(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Metrics some of whose sums pass what a double holds: no statistic is defined for them. */
function overflowedMetrics(acc: Accumulator, plans: readonly MetricPlan[], variations: readonly { key: string }[]): Set<string> {
  const out = new Set<string>();
  for (const { metric } of plans) {
    if (variations.some((v) => SUM_NAMES.some((name) => !Number.isFinite(acc.sums(metric.key, v.key)[name])))) {
      out.add(metric.key);
    }
  }
  return out;
}

function unknownVariationError(unknown: readonly (readonly [string, number])[]): { code: StatsErrorCode; message: string } {
  const units = unknown.reduce((n, [, u]) => n + u, 0);
  const list = unknown
    .slice(0, 5)
    .map(([key, u]) => `"${key}": ${u}`)
    .join(', ');
  return {
    code: StatsErrorCode.UNEXPECTED_TRAFFIC,
    message: `${units} unit${units === 1 ? ' was' : 's were'} exposed to ${unknown.length === 1 ? 'a variation' : 'variations'} the experiment does not define (${list}${unknown.length > 5 ? ', …' : ''}), and left out of the analysis: look for a renamed or removed variation, or an SDK that sends a wrong key`,
  };
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
  adjustedCi: [0, 0],
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
    adjustedCi: [bound(f.adjustedCi[0]), bound(f.adjustedCi[1])],
    method: f.method,
    significant: error === undefined && f.adjustedPValue < analysis.alpha,
    cuped: f.cuped === null ? null : { theta: finiteOr(f.cuped.theta, 0), varianceReduction: finiteOr(f.cuped.varianceReduction, 0) },
    chanceToWin: b.chanceToWin,
    risk: { control: b.risk[0], treatment: b.risk[1] },
    credibleInterval: [bound(b.ci[0]), bound(b.ci[1])],
    error: errorOf(error),
  };
}

function seriesPoint(bucket: number, width: number, acc: Accumulator, analysis: ExperimentAnalysis, overflowed: ReadonlySet<string>): SeriesPoint {
  const metrics: SeriesPoint['metrics'] = [];
  for (const m of analysis.metrics) {
    for (const c of m.comparisons) {
      const f = c.sequential ?? c.frequentist;
      if (overflowed.has(m.key)) {
        metrics.push({ metric: m.key, variation: c.variation, effect: 0, ci: [0, 0], adjustedCi: [0, 0], pValue: 1, error: OVERFLOW });
        continue;
      }
      const ok = Number.isFinite(f.effect) && Number.isFinite(f.pValue);
      metrics.push({
        metric: m.key,
        variation: c.variation,
        effect: ok ? f.effect : 0,
        ci: ok ? [bound(f.ci[0]), bound(f.ci[1])] : [0, 0],
        adjustedCi: ok ? [bound(f.adjustedCi[0]), bound(f.adjustedCi[1])] : [0, 0],
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

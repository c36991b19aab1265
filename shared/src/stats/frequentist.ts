/** Fixed-horizon Welch t-tests and sequential (always-valid) tests on sufficient statistics. */
import { StatsErrorCode, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { prepareComparison } from './estimates.js';
import type { EffectEstimate } from './estimates.js';
import {
  DEFAULT_SEQUENTIAL_TUNING,
  oneSidedBoundary,
  oneSidedPValue,
  twoSidedBoundary,
  twoSidedPValue,
} from './sequential.js';
import { studentTIsf, studentTSf } from './special.js';
import { Alternative, DifferenceType, StatisticType } from './types.js';
import type { ArmStats, CupedInput, CupedSummary, Interval } from './types.js';

/** Which frequentist procedure produced a result. */
export const TestMethod = {
  /** Fixed-horizon Welch t-test (Welch–Satterthwaite degrees of freedom). */
  Welch: 'welch',
  /** Asymptotic normal-mixture confidence sequence, valid at every look. */
  Sequential: 'sequential',
} as const;
export type TestMethod = (typeof TestMethod)[keyof typeof TestMethod];

export const DEFAULT_ALPHA = 0.05;

export interface FrequentistOptions {
  /** Default 'relative'. */
  readonly difference?: DifferenceType;
  /** Significance level, default 0.05; the interval has coverage 1 − alpha. */
  readonly alpha?: number;
  /** Default 'two-sided'. */
  readonly alternative?: Alternative;
  /** 'mean' (default) or 'proportion'; ignored for ratio arms. */
  readonly statisticType?: StatisticType;
  /** Use confidence sequences instead of the fixed-horizon test; defaults to whether sequentialTuning is given. */
  readonly sequential?: boolean;
  /** Tuning N* of the confidence sequence (total units where it is tightest), default 5000. */
  readonly sequentialTuning?: number;
  /** Pre-period covariates of both arms for CUPED. */
  readonly cuped?: CupedInput;
}

export interface FrequentistResult {
  /** Estimated effect (relative lift or absolute difference). */
  readonly effect: number;
  /** Confidence interval (sequence, if sequential) at level 1 − alpha. */
  readonly ci: Interval;
  /** Standard error of the effect. */
  readonly se: number;
  readonly pValue: number;
  /** effect / se: t for Welch, z for sequential. */
  readonly statistic: number;
  /** Welch–Satterthwaite degrees of freedom (0 for sequential, which is normal). */
  readonly df: number;
  readonly method: TestMethod;
  readonly difference: DifferenceType;
  readonly alternative: Alternative;
  readonly alpha: number;
  /** CUPED theta and variance reduction, or null when no covariate was used. */
  readonly cuped: CupedSummary | null;
  readonly error?: StatsError;
}

interface ResolvedOptions {
  readonly difference: DifferenceType;
  readonly alpha: number;
  readonly alternative: Alternative;
  readonly method: TestMethod;
  readonly tuning: number;
  /**
   * The α of the interval when it differs from the test's (an interval adjusted for multiple
   * comparisons): the p-value, and a sequential test's mixture, stay those of `alpha`.
   */
  readonly intervalAlpha?: number;
}

function resolve(options: FrequentistOptions): ResolvedOptions | StatsError {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const tuning = options.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING;
  if (!(alpha > 0 && alpha < 1)) {
    return statsError(StatsErrorCode.INVALID_OPTIONS, `alpha must lie in (0, 1), got ${alpha}`);
  }
  if (!(tuning > 0 && Number.isFinite(tuning))) {
    return statsError(StatsErrorCode.INVALID_OPTIONS, `sequentialTuning must be positive, got ${tuning}`);
  }
  return {
    difference: options.difference ?? DifferenceType.Relative,
    alpha,
    alternative: options.alternative ?? Alternative.TwoSided,
    method: isSequential(options) ? TestMethod.Sequential : TestMethod.Welch,
    tuning,
  };
}

function isSequential(options: FrequentistOptions): boolean {
  return options.sequential ?? options.sequentialTuning !== undefined;
}

function neutral(options: ResolvedOptions, error: StatsError): FrequentistResult {
  return {
    effect: 0,
    ci: [0, 0],
    se: 0,
    pValue: 1,
    statistic: 0,
    df: 0,
    method: options.method,
    difference: options.difference,
    alternative: options.alternative,
    alpha: options.alpha,
    cuped: null,
    error,
  };
}

function interval(effect: number, se: number, lowerCrit: number, upperCrit: number): Interval {
  return [effect - lowerCrit * se, effect + upperCrit * se];
}

/** Welch or sequential inference on an effect estimate already computed (used by analyzeExperiment). */
export function testEstimate(
  estimate: EffectEstimate,
  options: ResolvedOptions,
  cuped: CupedSummary | null,
): FrequentistResult {
  const { effect, df, n } = estimate;
  const se = Math.sqrt(estimate.variance);
  const statistic = effect / se;
  const { alpha, alternative, tuning } = options;
  const level = options.intervalAlpha ?? alpha;
  let pValue: number;
  let ci: Interval;
  const inf = Number.POSITIVE_INFINITY;
  if (options.method === TestMethod.Welch) {
    if (alternative === Alternative.TwoSided) {
      pValue = Math.min(1, 2 * studentTSf(Math.abs(statistic), df));
      const crit = studentTIsf(level / 2, df);
      ci = interval(effect, se, crit, crit);
    } else {
      const crit = studentTIsf(level, df);
      const greater = alternative === Alternative.Greater;
      pValue = studentTSf(greater ? statistic : -statistic, df);
      ci = greater ? interval(effect, se, crit, inf) : interval(effect, se, inf, crit);
    }
  } else if (alternative === Alternative.TwoSided) {
    pValue = twoSidedPValue(statistic, alpha, n, tuning);
    const crit = twoSidedBoundary(alpha, n, tuning, level);
    ci = interval(effect, se, crit, crit);
  } else {
    const greater = alternative === Alternative.Greater;
    pValue = oneSidedPValue(greater ? statistic : -statistic, alpha, n, tuning);
    const crit = oneSidedBoundary(alpha, n, tuning, level);
    ci = greater ? interval(effect, se, crit, inf) : interval(effect, se, inf, crit);
  }
  const finite = [effect, se, statistic, pValue, df].every(Number.isFinite) && !ci.some(Number.isNaN);
  const openEnds = (ci[0] === -inf ? 1 : 0) + (ci[1] === inf ? 1 : 0);
  const expectedOpenEnds = alternative === Alternative.TwoSided ? 0 : 1;
  if (!finite || openEnds !== expectedOpenEnds) {
    return neutral(options, statsError(StatsErrorCode.NON_FINITE_RESULT, 'the test statistic overflowed'));
  }
  return {
    effect,
    ci,
    se,
    pValue,
    statistic,
    df: options.method === TestMethod.Welch ? df : 0,
    method: options.method,
    difference: options.difference,
    alternative,
    alpha,
    cuped,
  };
}

/** Resolves defaults and validates options; exported for analyzeExperiment. */
export function resolveFrequentistOptions(options: FrequentistOptions): ResolvedOptions | StatsError {
  return resolve(options);
}
export type { ResolvedOptions as ResolvedFrequentistOptions };

/**
 * Welch t-test (or confidence sequence, if `sequential`) of treatment against control. Never throws:
 * degenerate input yields neutral numbers and an `error`.
 */
export function frequentistTest(
  control: ArmStats,
  treatment: ArmStats,
  options: FrequentistOptions = {},
): FrequentistResult {
  const resolved = resolve(options);
  if (isStatsError(resolved)) {
    const fallback: ResolvedOptions = {
      difference: options.difference ?? DifferenceType.Relative,
      alpha: DEFAULT_ALPHA,
      alternative: options.alternative ?? Alternative.TwoSided,
      method: isSequential(options) ? TestMethod.Sequential : TestMethod.Welch,
      tuning: DEFAULT_SEQUENTIAL_TUNING,
    };
    return neutral(fallback, resolved);
  }
  const prepared = prepareComparison(
    control,
    treatment,
    options.statisticType ?? StatisticType.Mean,
    resolved.difference,
    options.cuped,
  );
  if (isStatsError(prepared)) {
    return neutral(resolved, prepared);
  }
  return testEstimate(prepared.estimate, resolved, prepared.cuped);
}

export { neutral as neutralFrequentistResult };

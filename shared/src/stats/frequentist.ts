/** Fixed-horizon Welch t-tests and sequential (always-valid) tests on sufficient statistics. */
import { StatsErrorCode, firstError, invalidChoice, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { prepareComparison } from './estimates.js';
import type { EffectEstimate, MeanEstimate } from './estimates.js';
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
  /**
   * The metric cannot be negative (counts, sums of non-negative values, proportions): a relative
   * lift's interval is then floored at −100%, the least a lift can be, as the Bayesian interval is.
   * Intersecting a confidence set with the parameter space keeps its coverage. Default false
   * (analyzeExperiment sets it for proportions and for metrics marked nonNegative).
   */
  readonly nonNegative?: boolean;
}

export interface FrequentistResult {
  /** Estimated effect (relative lift or absolute difference). */
  readonly effect: number;
  /** Confidence interval (sequence, if sequential) at level 1 − alpha. */
  readonly ci: Interval;
  /**
   * Standard error of the effect. For a relative lift, √(Var x̄T + Var x̄C) / |x̄C|: the standard
   * error of the difference in lift units, which is what the test of equal means uses (the interval
   * is Fieller's, not effect ± crit·se).
   */
  readonly se: number;
  /** For a relative lift, that of the test of equal means (H0: μT = μC), the same as the absolute test's. */
  readonly pValue: number;
  /** effect / se: t for Welch, z for sequential (for a lift, the absolute difference's statistic). */
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
  /** Whether a relative lift's interval is floored at −100% (see FrequentistOptions.nonNegative). */
  readonly nonNegative?: boolean;
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
  const invalid = firstError(
    invalidChoice('difference', options.difference, DifferenceType),
    invalidChoice('alternative', options.alternative, Alternative),
    invalidChoice('statisticType', options.statisticType, StatisticType),
    options.sequential === undefined || typeof options.sequential === 'boolean'
      ? null
      : statsError(StatsErrorCode.INVALID_OPTIONS, `sequential must be true or false, got ${String(options.sequential)}`),
  );
  if (invalid !== null) {
    return invalid;
  }
  return {
    difference: options.difference ?? DifferenceType.Relative,
    alpha,
    alternative: options.alternative ?? Alternative.TwoSided,
    method: isSequential(options) ? TestMethod.Sequential : TestMethod.Welch,
    tuning,
    nonNegative: options.nonNegative === true,
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

/**
 * Fieller confidence set for the lift L = (μT − μC)/|μC|: every L for which the test of
 * H0: μT − (1 + sL)·μC = 0 (s = sign x̄C) is not rejected at critical value `crit`, i.e.
 * (x̄T − r·x̄C)² ≤ crit²·(vT + r²·vC) with r = 1 + sL. Written in L with d = x̄T − x̄C (given, from
 * the shifted sums), B = |x̄C|: A·L² − 2β·L + K ≤ 0, A = x̄C² − crit²·vC, β = d·B + s·crit²·vC, K = d² − crit²·(vT + vC), and
 * discriminant β² − A·K = crit²·(vT·A + vC·x̄T²). K ≤ 0 exactly when the test of equal means does not
 * reject, so the set contains 0 exactly when p ≥ α. `side` is 'two-sided', or the alternative of a
 * one-sided set (which keeps one bound). When A > 0 it is a bounded interval around the estimate.
 * When A ≤ 0 (the control mean is not distinguishable from zero at this level) it is unbounded:
 * the whole line, or two rays; two rays are reported as the whole line, except when 0 lies between
 * them (the equal-means test rejects) — then the ray that holds the estimate is reported, since the
 * other ray's lifts have the sign that test rejected. null when an intermediate overflowed.
 */
export function fiellerInterval(control: MeanEstimate, treatment: MeanEstimate, d: number, crit: number, side: Alternative): Interval | null {
  const inf = Number.POSITIVE_INFINITY;
  const mC = control.mean;
  const mT = treatment.mean;
  const vC = control.variance;
  const vT = treatment.variance;
  const base = Math.abs(mC);
  const sign = Math.sign(mC);
  const c2 = crit * crit;
  const a = mC * mC - c2 * vC;
  const beta = d * base + sign * c2 * vC;
  const k = d * d - c2 * (vT + vC);
  const disc = c2 * (vT * a + vC * mT * mT);
  if (![a, beta, k, disc].every(Number.isFinite)) {
    return null;
  }
  // Roots of a·L² − 2β·L + k without cancellation: q/a and k/q (q/a is ±∞ when a = 0).
  const q = beta + (beta >= 0 ? 1 : -1) * Math.sqrt(Math.max(disc, 0));
  const r1 = q / a;
  const r2 = k / q;
  const lower = Math.min(r1, r2);
  const upper = Math.max(r1, r2);
  if (a > 0) {
    if (Number.isNaN(lower) || Number.isNaN(upper)) {
      return null;
    }
    return side === Alternative.Greater ? [lower, inf] : side === Alternative.Less ? [-inf, upper] : [lower, upper];
  }
  // Unbounded. 0 lies between two rays exactly when k > 0; keep the ray on the estimate's side when
  // the alternative allows that direction (its finite end is the root of that sign).
  const rays = k > 0 && disc > 0;
  if (rays && d > 0 && side !== Alternative.Less) {
    const end = [r1, r2].filter((r) => r > 0 && Number.isFinite(r));
    return end.length > 0 ? [Math.min(...end), inf] : null;
  }
  if (rays && d < 0 && side !== Alternative.Greater) {
    const end = [r1, r2].filter((r) => r < 0 && Number.isFinite(r));
    return end.length > 0 ? [-inf, Math.max(...end)] : null;
  }
  return [-inf, inf];
}

/** Welch or sequential inference on an effect estimate already computed (used by analyzeExperiment). */
export function testEstimate(
  estimate: EffectEstimate,
  options: ResolvedOptions,
  cuped: CupedSummary | null,
): FrequentistResult {
  const { effect, df, n } = estimate;
  const relative = estimate.difference === DifferenceType.Relative;
  // A lift is tested as the difference (H0 lift = 0 is H0 μT = μC): the same statistic and p-value.
  const differenceSe = Math.sqrt(estimate.control.variance + estimate.treatment.variance);
  const se = Math.sqrt(estimate.testVariance);
  const statistic = relative ? estimate.meanDifference / differenceSe : effect / se;
  const { alpha, alternative, tuning } = options;
  const level = options.intervalAlpha ?? alpha;
  let pValue: number;
  let crit: number;
  const inf = Number.POSITIVE_INFINITY;
  if (options.method === TestMethod.Welch) {
    if (alternative === Alternative.TwoSided) {
      pValue = Math.min(1, 2 * studentTSf(Math.abs(statistic), df));
      crit = studentTIsf(level / 2, df);
    } else {
      pValue = studentTSf(alternative === Alternative.Greater ? statistic : -statistic, df);
      crit = studentTIsf(level, df);
    }
  } else if (alternative === Alternative.TwoSided) {
    pValue = twoSidedPValue(statistic, alpha, n, tuning);
    crit = twoSidedBoundary(alpha, n, tuning, level);
  } else {
    pValue = oneSidedPValue(alternative === Alternative.Greater ? statistic : -statistic, alpha, n, tuning);
    crit = oneSidedBoundary(alpha, n, tuning, level);
  }
  let ci: Interval | null;
  if (relative) {
    ci = Number.isFinite(crit) ? fiellerInterval(estimate.control, estimate.treatment, estimate.meanDifference, crit, alternative) : null;
    if (ci !== null && options.nonNegative === true) {
      ci = [Math.max(ci[0], -1), Math.max(ci[1], -1)];
    }
  } else {
    ci =
      alternative === Alternative.TwoSided
        ? interval(effect, se, crit, crit)
        : alternative === Alternative.Greater
          ? interval(effect, se, crit, inf)
          : interval(effect, se, inf, crit);
    const openEnds = (ci[0] === -inf ? 1 : 0) + (ci[1] === inf ? 1 : 0);
    if (openEnds !== (alternative === Alternative.TwoSided ? 0 : 1)) {
      ci = null;
    }
  }
  const finite = [effect, se, statistic, pValue, df].every(Number.isFinite);
  if (!finite || ci === null || ci.some(Number.isNaN)) {
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
    // Echo only valid choices: an invalid one is named in the error message.
    const fallback: ResolvedOptions = {
      difference: invalidChoice('difference', options.difference, DifferenceType) === null ? (options.difference ?? DifferenceType.Relative) : DifferenceType.Relative,
      alpha: DEFAULT_ALPHA,
      alternative: invalidChoice('alternative', options.alternative, Alternative) === null ? (options.alternative ?? Alternative.TwoSided) : Alternative.TwoSided,
      method: options.sequential === true || (options.sequential === undefined && options.sequentialTuning !== undefined) ? TestMethod.Sequential : TestMethod.Welch,
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

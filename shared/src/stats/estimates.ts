/**
 * From sufficient statistics to per-arm estimates (mean and per-unit variance), CUPED adjustment and
 * the effect estimate (absolute or relative) shared by every test.
 */
import { StatsErrorCode, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { DifferenceType, StatisticType } from './types.js';
import type {
  ArmStats,
  Covariate,
  CupedInput,
  CupedSummary,
  RatioCupedCovariate,
  RatioStats,
  SampleStats,
} from './types.js';

/** Variance below this share of the raw second moment is floating-point noise, i.e. zero. */
const ZERO_VARIANCE_TOLERANCE = 1e-12;

/** One arm reduced to its estimate; Var(mean) = variance / n. */
export interface ArmEstimate {
  readonly n: number;
  readonly mean: number;
  /** Per-unit variance (of the linearised metric for ratios). */
  readonly variance: number;
}

/** An arm estimate plus what CUPED needs: component sums and the gradient of the estimate. */
interface Linearized extends ArmEstimate {
  /** Σ of each component ([value] or [numerator, denominator]). */
  readonly sums: readonly number[];
  /** ∂ estimate / ∂ component means. */
  readonly gradient: readonly number[];
}

/** The effect of a comparison with the variance of its estimator. */
export interface EffectEstimate {
  readonly effect: number;
  /** Variance of the effect estimator. */
  readonly variance: number;
  /** Welch–Satterthwaite degrees of freedom. */
  readonly df: number;
  /** Units in both arms, the sample size of confidence sequences. */
  readonly n: number;
}

export interface PreparedComparison {
  readonly estimate: EffectEstimate;
  readonly cuped: CupedSummary | null;
}

function allFinite(values: readonly number[]): boolean {
  return values.every((v) => typeof v === 'number' && Number.isFinite(v));
}

export function isRatioStats(arm: ArmStats): arm is RatioStats {
  return 'numerator' in arm;
}

function isRatioCovariate(covariate: Covariate): covariate is RatioCupedCovariate {
  return 'crossProducts' in covariate;
}

function checkCount(n: number): StatsError | null {
  if (n < 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, `n must be non-negative, got ${n}`);
  }
  if (n < 2) {
    return statsError(StatsErrorCode.INSUFFICIENT_SAMPLE, `an arm needs at least 2 units, got ${n}`);
  }
  return null;
}

/** Centered second moment Σ(x − x̄)² / (n − 1), or null when it is zero up to rounding. */
function sampleVariance(n: number, sum: number, sumSquares: number): number | null {
  const centered = sumSquares - (sum * sum) / n;
  if (!(centered > ZERO_VARIANCE_TOLERANCE * Math.abs(sumSquares))) {
    return null;
  }
  return centered / (n - 1);
}

function sampleLinearized(stats: SampleStats, statistic: StatisticType): Linearized | StatsError {
  if (!allFinite([stats.n, stats.sum, stats.sumSquares]) || stats.sumSquares < 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'n, sum and sumSquares must be finite and sumSquares non-negative');
  }
  const countError = checkCount(stats.n);
  if (countError) {
    return countError;
  }
  const mean = stats.sum / stats.n;
  if (statistic === StatisticType.Proportion) {
    if (stats.sum !== stats.sumSquares || stats.sum < 0 || stats.sum > stats.n) {
      return statsError(StatsErrorCode.INVALID_INPUT, 'a proportion needs 0 ≤ sum = sumSquares = conversions ≤ n');
    }
    if (stats.sum === 0) {
      return statsError(StatsErrorCode.ZERO_CONVERSIONS, 'an arm has no conversions');
    }
    if (stats.sum === stats.n) {
      return statsError(StatsErrorCode.ZERO_VARIANCE, 'every unit in an arm converted');
    }
    return { n: stats.n, mean, variance: mean * (1 - mean), sums: [stats.sum], gradient: [1] };
  }
  const variance = sampleVariance(stats.n, stats.sum, stats.sumSquares);
  if (variance === null) {
    return statsError(StatsErrorCode.ZERO_VARIANCE, 'an arm has zero or negative variance');
  }
  return { n: stats.n, mean, variance, sums: [stats.sum], gradient: [1] };
}

function ratioLinearized(stats: RatioStats): Linearized | StatsError {
  const { n, numerator: num, denominator: den } = stats;
  if (
    !allFinite([n, num.sum, num.sumSquares, den.sum, den.sumSquares, stats.sumProducts]) ||
    num.sumSquares < 0 ||
    den.sumSquares < 0
  ) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'ratio sums must be finite and sums of squares non-negative');
  }
  const countError = checkCount(n);
  if (countError) {
    return countError;
  }
  if (den.sum === 0) {
    return statsError(StatsErrorCode.ZERO_DENOMINATOR, 'the ratio denominator sums to zero in an arm');
  }
  const meanNum = num.sum / n;
  const meanDen = den.sum / n;
  const ratio = num.sum / den.sum;
  const varNum = (num.sumSquares - num.sum * meanNum) / (n - 1);
  const varDen = (den.sumSquares - den.sum * meanDen) / (n - 1);
  const cov = (stats.sumProducts - num.sum * meanDen) / (n - 1);
  const gradient = [1 / meanDen, -ratio / meanDen];
  const variance = (varNum - 2 * ratio * cov + ratio * ratio * varDen) / (meanDen * meanDen);
  const scale = (num.sumSquares + ratio * ratio * den.sumSquares) / (n * meanDen * meanDen);
  if (!(variance > ZERO_VARIANCE_TOLERANCE * scale)) {
    return statsError(StatsErrorCode.ZERO_VARIANCE, 'a ratio metric has zero or negative variance in an arm');
  }
  return { n, mean: ratio, variance, sums: [num.sum, den.sum], gradient };
}

function linearize(arm: ArmStats, statistic: StatisticType): Linearized | StatsError {
  return isRatioStats(arm) ? ratioLinearized(arm) : sampleLinearized(arm, statistic);
}

/** Pre-period estimate of an arm; unlike the post period, zero variance is allowed (it disables CUPED). */
interface PreEstimate {
  readonly n: number;
  readonly mean: number;
  readonly variance: number;
  readonly sums: readonly number[];
  readonly gradient: readonly number[];
  /** Cross-covariances Cov(post component i, pre component j), row-major. */
  readonly cross: readonly number[];
}

function preEstimate(post: Linearized, covariate: Covariate): PreEstimate | StatsError | null {
  const n = post.n;
  if (isRatioCovariate(covariate)) {
    if (post.sums.length !== 2) {
      return statsError(StatsErrorCode.INVALID_INPUT, 'a ratio covariate needs a ratio metric');
    }
    const { pre, crossProducts: cp } = covariate;
    const { numerator: num, denominator: den } = pre;
    const values = [pre.n, num.sum, num.sumSquares, den.sum, den.sumSquares, pre.sumProducts];
    values.push(cp.numeratorNumerator, cp.numeratorDenominator, cp.denominatorNumerator, cp.denominatorDenominator);
    if (!allFinite(values) || pre.n !== n) {
      return statsError(StatsErrorCode.INVALID_INPUT, 'CUPED pre-period sums must be finite and cover the same n units');
    }
    if (den.sum === 0) {
      return null;
    }
    const meanNum = num.sum / n;
    const meanDen = den.sum / n;
    const ratio = num.sum / den.sum;
    const varNum = (num.sumSquares - num.sum * meanNum) / (n - 1);
    const varDen = (den.sumSquares - den.sum * meanDen) / (n - 1);
    const cov = (pre.sumProducts - num.sum * meanDen) / (n - 1);
    const [postNum = 0, postDen = 0] = post.sums;
    const cross = [
      (cp.numeratorNumerator - (postNum * num.sum) / n) / (n - 1),
      (cp.numeratorDenominator - (postNum * den.sum) / n) / (n - 1),
      (cp.denominatorNumerator - (postDen * num.sum) / n) / (n - 1),
      (cp.denominatorDenominator - (postDen * den.sum) / n) / (n - 1),
    ];
    const variance = (varNum - 2 * ratio * cov + ratio * ratio * varDen) / (meanDen * meanDen);
    return { n, mean: ratio, variance: Math.max(variance, 0), sums: [num.sum, den.sum], gradient: [1 / meanDen, -ratio / meanDen], cross };
  }
  if (post.sums.length !== 1) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'a ratio metric needs a ratio covariate');
  }
  const { pre, sumProducts } = covariate;
  if (!allFinite([pre.n, pre.sum, pre.sumSquares, sumProducts]) || pre.n !== n || pre.sumSquares < 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'CUPED pre-period sums must be finite and cover the same n units');
  }
  const postSum = post.sums[0] ?? 0;
  const variance = Math.max(0, (pre.sumSquares - (pre.sum * pre.sum) / n) / (n - 1));
  const cross = [(sumProducts - (postSum * pre.sum) / n) / (n - 1)];
  return { n, mean: pre.sum / n, variance, sums: [pre.sum], gradient: [1], cross };
}

/** Cov(post estimate, pre estimate) per unit: gradient_postᵀ · C · gradient_pre. */
function postPreCovariance(post: Linearized, pre: PreEstimate): number {
  const k = pre.gradient.length;
  let total = 0;
  for (let i = 0; i < post.gradient.length; i++) {
    for (let j = 0; j < k; j++) {
      total += (post.gradient[i] ?? 0) * (pre.cross[i * k + j] ?? 0) * (pre.gradient[j] ?? 0);
    }
  }
  return total;
}

function pooledPreMean(a: PreEstimate, b: PreEstimate): number {
  if (a.sums.length === 2) {
    return ((a.sums[0] ?? 0) + (b.sums[0] ?? 0)) / ((a.sums[1] ?? 0) + (b.sums[1] ?? 0));
  }
  return ((a.sums[0] ?? 0) + (b.sums[0] ?? 0)) / (a.n + b.n);
}

interface CupedPair {
  readonly control: ArmEstimate;
  readonly treatment: ArmEstimate;
  readonly theta: number;
}

/**
 * CUPED: theta is the within-arm pooled regression slope of post on pre (the OLS coefficient of
 * y ~ arm + x), and each arm mean is moved to the pooled pre-period mean.
 */
function cupedAdjust(control: Linearized, treatment: Linearized, cuped: CupedInput): CupedPair | StatsError {
  const preC = preEstimate(control, cuped.control);
  const preT = preEstimate(treatment, cuped.treatment);
  if (isStatsError(preC)) {
    return preC;
  }
  if (isStatsError(preT)) {
    return preT;
  }
  if (preC === null || preT === null) {
    return { control, treatment, theta: 0 };
  }
  const covC = postPreCovariance(control, preC);
  const covT = postPreCovariance(treatment, preT);
  const denominator = (control.n - 1) * preC.variance + (treatment.n - 1) * preT.variance;
  if (!(denominator > 0)) {
    return { control, treatment, theta: 0 };
  }
  const theta = ((control.n - 1) * covC + (treatment.n - 1) * covT) / denominator;
  const center = pooledPreMean(preC, preT);
  const adjust = (post: Linearized, pre: PreEstimate, cov: number): ArmEstimate => ({
    n: post.n,
    mean: post.mean - theta * (pre.mean - center),
    variance: post.variance + theta * theta * pre.variance - 2 * theta * cov,
  });
  const adjustedC = adjust(control, preC, covC);
  const adjustedT = adjust(treatment, preT, covT);
  if (
    !(adjustedC.variance > ZERO_VARIANCE_TOLERANCE * control.variance) ||
    !(adjustedT.variance > ZERO_VARIANCE_TOLERANCE * treatment.variance)
  ) {
    return statsError(StatsErrorCode.ZERO_VARIANCE, 'the covariate explains all variance of an arm');
  }
  return { control: adjustedC, treatment: adjustedT, theta };
}

/** Effect of treatment over control with its estimator variance (delta method for the lift). */
export function effectEstimate(
  control: ArmEstimate,
  treatment: ArmEstimate,
  difference: DifferenceType,
): EffectEstimate | StatsError {
  const varC = control.variance / control.n;
  const varT = treatment.variance / treatment.n;
  const df = ((varC + varT) * (varC + varT)) / ((varC * varC) / (control.n - 1) + (varT * varT) / (treatment.n - 1));
  const n = control.n + treatment.n;
  if (difference === DifferenceType.Absolute) {
    return { effect: treatment.mean - control.mean, variance: varC + varT, df, n };
  }
  if (control.mean === 0) {
    return statsError(StatsErrorCode.ZERO_CONTROL_MEAN, 'the control mean is zero, so a relative lift is undefined');
  }
  const base = Math.abs(control.mean);
  const ratio = treatment.mean / control.mean;
  const effect = (treatment.mean - control.mean) / base;
  const variance = (varT + ratio * ratio * varC) / (base * base);
  if (!Number.isFinite(effect) || !(variance > 0) || !Number.isFinite(variance)) {
    return statsError(StatsErrorCode.NON_FINITE_RESULT, 'the relative lift overflowed');
  }
  return { effect, variance, df, n };
}

/** Validates both arms, applies CUPED when covariates are given and estimates the effect. */
export function prepareComparison(
  control: ArmStats,
  treatment: ArmStats,
  statistic: StatisticType,
  difference: DifferenceType,
  cuped: CupedInput | undefined,
): PreparedComparison | StatsError {
  if (isRatioStats(control) !== isRatioStats(treatment)) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'both arms must be ratio statistics or neither');
  }
  const c = linearize(control, statistic);
  if (isStatsError(c)) {
    return c;
  }
  const t = linearize(treatment, statistic);
  if (isStatsError(t)) {
    return t;
  }
  const raw = effectEstimate(c, t, difference);
  if (cuped === undefined || isStatsError(raw)) {
    return isStatsError(raw) ? raw : { estimate: raw, cuped: null };
  }
  const adjusted = cupedAdjust(c, t, cuped);
  if (isStatsError(adjusted)) {
    return adjusted;
  }
  const estimate = effectEstimate(adjusted.control, adjusted.treatment, difference);
  if (isStatsError(estimate)) {
    return estimate;
  }
  return {
    estimate,
    cuped: { theta: adjusted.theta, varianceReduction: 1 - estimate.variance / raw.variance },
  };
}

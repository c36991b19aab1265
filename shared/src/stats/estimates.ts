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
  /**
   * mean = shift + offset (+ a constant the arms share), offset computed from the shifted sums: arms
   * with nearby shifts (1.7e12) differ by (shiftT − shiftC) + (offsetT − offsetC) with the digits
   * that mean − mean would lose.
   */
  readonly shift: number;
  readonly offset: number;
  /** Per-unit variance (of the linearised metric for ratios). */
  readonly variance: number;
}

/** An arm estimate plus what CUPED needs: component sums and the gradient of the estimate. */
interface Linearized extends ArmEstimate {
  /** Σ of each component ([value] or [numerator, denominator]), of shifted values when a shift is given. */
  readonly sums: readonly number[];
  /** Σ of each component, unshifted. */
  readonly totals: readonly number[];
  /** ∂ estimate / ∂ component means. */
  readonly gradient: readonly number[];
}

/** An arm's mean (CUPED-adjusted, or a ratio) and the variance of that mean (per-unit variance / n). */
export interface MeanEstimate {
  readonly mean: number;
  readonly variance: number;
}

/** The effect of a comparison with the variance of its estimator. */
export interface EffectEstimate {
  readonly effect: number;
  /** x̄T − x̄C, from the arms' shifts and offsets (see ArmEstimate). */
  readonly meanDifference: number;
  /**
   * Variance of the effect estimator: Var(x̄T) + Var(x̄C) for the difference, the delta method
   * (Var(x̄T) + (x̄T/x̄C)²·Var(x̄C)) / x̄C² for the lift. Only the difference's is used for
   * inference: a lift is tested and given its posterior from the arm means below (equal-means test,
   * Fieller interval; bayesian.ts), since the delta method's collapses when x̄C is noisy and x̄T small.
   */
  readonly variance: number;
  /**
   * Variance the frequentist test uses, se²: Var(x̄T) + Var(x̄C) for the difference, that over x̄C²
   * for the lift (the difference in lift units). CUPED's variance reduction is measured on it.
   */
  readonly testVariance: number;
  readonly difference: DifferenceType;
  readonly control: MeanEstimate;
  readonly treatment: MeanEstimate;
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

function checkCount(n: number, label: string): StatsError | null {
  if (n < 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, `n must be non-negative, got ${n} in ${label}`);
  }
  if (n < 2) {
    return statsError(StatsErrorCode.INSUFFICIENT_SAMPLE, `${label} has ${n} unit${n === 1 ? '' : 's'} (an arm needs at least 2)`);
  }
  return null;
}

/**
 * Centered second moment Σ(x − x̄)² / (n − 1); null when it is zero up to rounding, NaN when sum²
 * overflows (the caller reports NON_FINITE_RESULT, not zero variance).
 */
function sampleVariance(n: number, sum: number, sumSquares: number): number | null {
  const centered = sumSquares - (sum * sum) / n;
  if (!Number.isFinite(centered)) {
    return Number.NaN;
  }
  if (!(centered > ZERO_VARIANCE_TOLERANCE * Math.abs(sumSquares))) {
    return null;
  }
  return centered / (n - 1);
}

function sampleLinearized(stats: SampleStats, statistic: StatisticType, label: string): Linearized | StatsError {
  const shift = stats.shift ?? 0;
  if (!allFinite([stats.n, stats.sum, stats.sumSquares, shift]) || stats.sumSquares < 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, `n, sum, sumSquares and shift must be finite and sumSquares non-negative (${label})`);
  }
  const countError = checkCount(stats.n, label);
  if (countError) {
    return countError;
  }
  const mean = shift + stats.sum / stats.n;
  if (statistic === StatisticType.Proportion) {
    if (stats.sum !== stats.sumSquares || stats.sum < 0 || stats.sum > stats.n || shift !== 0) {
      return statsError(StatsErrorCode.INVALID_INPUT, `a proportion needs 0 ≤ sum = sumSquares = conversions ≤ n and no shift (${label})`);
    }
    if (stats.sum === 0) {
      return statsError(StatsErrorCode.ZERO_CONVERSIONS, `${label} has no conversions`);
    }
    if (stats.sum === stats.n) {
      return statsError(StatsErrorCode.ZERO_VARIANCE, `every unit in ${label} converted`);
    }
    return { n: stats.n, mean, shift: 0, offset: mean, variance: mean * (1 - mean), sums: [stats.sum], totals: [stats.sum], gradient: [1] };
  }
  const variance = sampleVariance(stats.n, stats.sum, stats.sumSquares);
  if (Number.isNaN(variance)) {
    return statsError(StatsErrorCode.NON_FINITE_RESULT, `the sum of squares of ${label} overflowed (sum² is beyond the floating-point range; pass a shift)`);
  }
  if (variance === null) {
    return statsError(StatsErrorCode.ZERO_VARIANCE, `${label} has zero variance (every unit has the same value)`);
  }
  return { n: stats.n, mean, shift, offset: stats.sum / stats.n, variance, sums: [stats.sum], totals: [stats.n * shift + stats.sum], gradient: [1] };
}

/** Mean, per-unit variance and gradient of a ratio Σ num / Σ den from (possibly shifted) sums. */
function ratioMoments(stats: RatioStats): { mean: number; meanDen: number; variance: number; scale: number; totals: [number, number]; gradient: [number, number] } {
  const { n, numerator: num, denominator: den } = stats;
  const totals: [number, number] = [n * (num.shift ?? 0) + num.sum, n * (den.shift ?? 0) + den.sum];
  const meanDen = totals[1] / n;
  const ratio = totals[0] / totals[1];
  // Shift-invariant: Σ(a − ā)(b − b̄) = Σab − Σa Σb / n for sums of shifted values.
  const varNum = (num.sumSquares - (num.sum * num.sum) / n) / (n - 1);
  const varDen = (den.sumSquares - (den.sum * den.sum) / n) / (n - 1);
  const cov = (stats.sumProducts - (num.sum * den.sum) / n) / (n - 1);
  const variance = (varNum - 2 * ratio * cov + ratio * ratio * varDen) / (meanDen * meanDen);
  const scale = (num.sumSquares + ratio * ratio * den.sumSquares) / (n * meanDen * meanDen);
  return { mean: ratio, meanDen, variance, scale, totals, gradient: [1 / meanDen, -ratio / meanDen] };
}

function ratioLinearized(stats: RatioStats, label: string): Linearized | StatsError {
  const { n, numerator: num, denominator: den } = stats;
  if (
    !allFinite([n, num.sum, num.sumSquares, den.sum, den.sumSquares, stats.sumProducts, num.shift ?? 0, den.shift ?? 0]) ||
    num.sumSquares < 0 ||
    den.sumSquares < 0
  ) {
    return statsError(StatsErrorCode.INVALID_INPUT, `ratio sums must be finite and sums of squares non-negative (${label})`);
  }
  const countError = checkCount(n, label);
  if (countError) {
    return countError;
  }
  const m = ratioMoments(stats);
  if (m.totals[1] === 0) {
    return statsError(StatsErrorCode.ZERO_DENOMINATOR, `the ratio denominator sums to zero in ${label}`);
  }
  if (!Number.isFinite(m.variance) || !Number.isFinite(m.scale)) {
    return statsError(StatsErrorCode.NON_FINITE_RESULT, `the ratio's variance overflowed in ${label}`);
  }
  if (!(m.variance > ZERO_VARIANCE_TOLERANCE * m.scale)) {
    return statsError(StatsErrorCode.ZERO_VARIANCE, `the ratio has zero or negative variance in ${label}`);
  }
  return { n, mean: m.mean, shift: 0, offset: m.mean, variance: m.variance, sums: [num.sum, den.sum], totals: m.totals, gradient: m.gradient };
}

function linearize(arm: ArmStats, statistic: StatisticType, label: string): Linearized | StatsError {
  return isRatioStats(arm) ? ratioLinearized(arm, label) : sampleLinearized(arm, statistic, label);
}

/** Pre-period estimate of an arm; unlike the post period, zero variance is allowed (it disables CUPED). */
interface PreEstimate {
  readonly n: number;
  readonly mean: number;
  /** mean = shift + offset, as in ArmEstimate. */
  readonly shift: number;
  readonly offset: number;
  readonly variance: number;
  /** Component totals (unshifted), for the pooled pre-period mean. */
  readonly totals: readonly number[];
  readonly gradient: readonly number[];
  /** Cross-covariances Cov(post component i, pre component j), row-major. */
  readonly cross: readonly number[];
  /** Of the residual post − slope × pre, when the caller gave its sums: s²_R, s_RX and its mean. */
  readonly residual?: { readonly slope: number; readonly variance: number; readonly cross: number; readonly shift: number; readonly offset: number };
}

function preEstimate(post: Linearized, covariate: Covariate): PreEstimate | StatsError | null {
  const n = post.n;
  if (isRatioCovariate(covariate)) {
    if (post.sums.length !== 2) {
      return statsError(StatsErrorCode.INVALID_INPUT, 'a ratio covariate needs a ratio metric');
    }
    const { pre, crossProducts: cp } = covariate;
    const { numerator: num, denominator: den } = pre;
    const values = [pre.n, num.sum, num.sumSquares, den.sum, den.sumSquares, pre.sumProducts, num.shift ?? 0, den.shift ?? 0];
    values.push(cp.numeratorNumerator, cp.numeratorDenominator, cp.denominatorNumerator, cp.denominatorDenominator);
    if (!allFinite(values) || pre.n !== n) {
      return statsError(StatsErrorCode.INVALID_INPUT, 'CUPED pre-period sums must be finite and cover the same n units');
    }
    const m = ratioMoments(pre);
    if (m.totals[1] === 0) {
      return null;
    }
    const [postNum = 0, postDen = 0] = post.sums;
    const cross = [
      (cp.numeratorNumerator - (postNum * num.sum) / n) / (n - 1),
      (cp.numeratorDenominator - (postNum * den.sum) / n) / (n - 1),
      (cp.denominatorNumerator - (postDen * num.sum) / n) / (n - 1),
      (cp.denominatorDenominator - (postDen * den.sum) / n) / (n - 1),
    ];
    return { n, mean: m.mean, shift: 0, offset: m.mean, variance: Math.max(m.variance, 0), totals: m.totals, gradient: m.gradient, cross };
  }
  if (post.sums.length !== 1) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'a ratio metric needs a ratio covariate');
  }
  const { pre, sumProducts, residual: r } = covariate;
  const shift = pre.shift ?? 0;
  if (!allFinite([pre.n, pre.sum, pre.sumSquares, sumProducts, shift]) || pre.n !== n || pre.sumSquares < 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'CUPED pre-period sums must be finite and cover the same n units');
  }
  if (r !== undefined && (!allFinite([r.slope, r.sum, r.sumSquares, r.sumProducts, r.shift ?? 0]) || r.sumSquares < 0)) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'CUPED residual sums must be finite and sumSquares non-negative');
  }
  const postSum = post.sums[0] ?? 0;
  const variance = Math.max(0, (pre.sumSquares - (pre.sum * pre.sum) / n) / (n - 1));
  const cross = [(sumProducts - (postSum * pre.sum) / n) / (n - 1)];
  const offset = pre.sum / n;
  const estimate = { n, mean: shift + offset, shift, offset, variance, totals: [n * shift + pre.sum], gradient: [1], cross };
  if (r === undefined) {
    return estimate;
  }
  const residual = {
    slope: r.slope,
    shift: r.shift ?? 0,
    offset: r.sum / n,
    variance: Math.max(0, (r.sumSquares - (r.sum * r.sum) / n) / (n - 1)),
    cross: (r.sumProducts - (r.sum * pre.sum) / n) / (n - 1),
  };
  return { ...estimate, residual };
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

/**
 * The pre-period mean (or ratio) of the arms pooled, as shift + offset around the first arm's shift
 * (Σ n·(shift − reference) + Σ shifted sums stays exact where Σ totals would round).
 */
function pooledPreMean(arms: readonly PreEstimate[]): { shift: number; offset: number } {
  const reference = arms[0]?.shift ?? 0;
  let a = 0;
  let b = 0;
  for (const pre of arms) {
    const ratio = pre.totals.length === 2;
    a += ratio ? (pre.totals[0] ?? 0) : pre.n * (pre.shift - reference) + pre.n * pre.offset;
    b += ratio ? (pre.totals[1] ?? 0) : pre.n;
  }
  return { shift: reference, offset: a / b };
}

/** θ and the centre every arm's mean is moved to; θ = 0 when the covariate has no variance. */
interface CupedFit {
  readonly theta: number;
  readonly center: { readonly shift: number; readonly offset: number };
  /** θ − slope of the arms' residuals, when every arm gave residual sums with that slope. */
  readonly residual?: { readonly slope: number; readonly delta: number };
}

/** One arm with its post-period estimate and CUPED pre-period estimate. */
interface CupedArm {
  readonly post: Linearized;
  readonly pre: PreEstimate;
  /** Cov(post, pre) per unit. */
  readonly cov: number;
}

/**
 * θ is the within-arm pooled regression slope of post on pre over every arm given (the OLS
 * coefficient of x in y ~ 1 + arm + x), and the centre is the pooled pre-period mean.
 */
function cupedFit(arms: readonly CupedArm[]): CupedFit {
  let sxy = 0;
  let sxx = 0;
  let srx = 0;
  const slope = arms[0]?.pre.residual?.slope;
  for (const { post, pre, cov } of arms) {
    sxy += (post.n - 1) * cov;
    sxx += (post.n - 1) * pre.variance;
    srx += (post.n - 1) * (pre.residual?.cross ?? 0);
  }
  if (!(sxx > 0)) {
    return { theta: 0, center: { shift: 0, offset: 0 } };
  }
  const center = pooledPreMean(arms.map((a) => a.pre));
  if (slope !== undefined && arms.every(({ pre }) => pre.residual?.slope === slope)) {
    // θ = slope + Σ s_RX / Σ s²_X: the small correction carries the digits θ − 1 ≈ 1e-12 needs.
    const delta = srx / sxx;
    return { theta: slope + delta, center, residual: { slope, delta } };
  }
  return { theta: sxy / sxx, center };
}

/** The adjusted arm, and the variance its adjusted variance was computed down from (its zero scale). */
function cupedArm(post: Linearized, pre: PreEstimate, fit: CupedFit, cov: number): { arm: ArmEstimate; scale: number } {
  // x̄ − centre from the shifted parts: both are near the raw values, whose difference would round.
  const deviation = pre.shift - fit.center.shift + (pre.offset - fit.center.offset);
  const mean = post.shift + (post.offset - fit.theta * deviation);
  const residual = fit.residual !== undefined && pre.residual !== undefined ? { ...fit.residual, ...pre.residual } : undefined;
  if (residual === undefined) {
    const variance = post.variance + fit.theta * fit.theta * pre.variance - 2 * fit.theta * cov;
    return { arm: { n: post.n, mean, shift: post.shift, offset: post.offset - fit.theta * deviation, variance }, scale: post.variance };
  }
  // Written around the residual r = y − slope·x (θ = slope + delta): ȳ − θ(x̄ − c) = r̄ − delta(x̄ − c)
  // + slope·c, so arms differ by r̄T − r̄C − delta·(x̄T − x̄C), not by large ȳ and θx̄ terms that cancel.
  const { delta } = residual;
  const variance = residual.variance - 2 * delta * residual.cross + delta * delta * pre.variance;
  const arm = { n: post.n, mean, shift: residual.shift, offset: residual.offset - delta * deviation, variance };
  return { arm, scale: residual.variance };
}

/**
 * Effect of treatment over control with its estimator variance (delta method for the lift, kept as
 * an overflow check) and both arms' means with the variances of those means.
 */
export function effectEstimate(
  control: ArmEstimate,
  treatment: ArmEstimate,
  difference: DifferenceType,
): EffectEstimate | StatsError {
  const varC = control.variance / control.n;
  const varT = treatment.variance / treatment.n;
  const df = ((varC + varT) * (varC + varT)) / ((varC * varC) / (control.n - 1) + (varT * varT) / (treatment.n - 1));
  const n = control.n + treatment.n;
  const meanDifference = treatment.shift - control.shift + (treatment.offset - control.offset);
  const arms = { difference, meanDifference, control: { mean: control.mean, variance: varC }, treatment: { mean: treatment.mean, variance: varT } };
  if (difference === DifferenceType.Absolute) {
    return { effect: meanDifference, variance: varC + varT, testVariance: varC + varT, df, n, ...arms };
  }
  if (control.mean === 0) {
    return statsError(StatsErrorCode.ZERO_CONTROL_MEAN, 'the control mean is zero, so a relative lift is undefined');
  }
  const base = Math.abs(control.mean);
  const ratio = treatment.mean / control.mean;
  const effect = meanDifference / base;
  const variance = (varT + ratio * ratio * varC) / (base * base);
  if (!Number.isFinite(effect) || !(variance > 0) || !Number.isFinite(variance)) {
    return statsError(StatsErrorCode.NON_FINITE_RESULT, 'the relative lift overflowed');
  }
  const testVariance = (varC + varT) / (base * base);
  if (!(testVariance > 0) || !Number.isFinite(testVariance)) {
    return statsError(StatsErrorCode.NON_FINITE_RESULT, 'the relative lift overflowed');
  }
  return { effect, variance, testVariance, df, n, ...arms };
}

/** The error of a comparison whose control, treatment or both cannot be estimated. */
function armsError(control: Linearized | StatsError, treatment: Linearized | StatsError): StatsError | null {
  if (isStatsError(treatment) && isStatsError(control)) {
    // The treatment's own problem first: it is the row the reader looks at.
    return statsError(treatment.code, `${treatment.message}; and ${control.message}`);
  }
  return isStatsError(treatment) ? treatment : isStatsError(control) ? control : null;
}

/**
 * Validates every arm, fits CUPED once over all arms when covariates are given (θ pooled across
 * arms), and estimates the effect of each treatment (arms 1…) over the control (arm 0). A
 * comparison whose CUPED adjustment would not reduce the variance of its effect estimate
 * (variance reduction ≤ 0), or that leaves an arm no variance distinguishable from rounding, keeps
 * the unadjusted estimate and reports `cuped: null`.
 * `labels` name the arms in messages (default: "the control", "treatment 1", …).
 */
export function prepareComparisons(
  arms: readonly ArmStats[],
  statistic: StatisticType,
  difference: DifferenceType,
  covariates?: readonly Covariate[],
  labels?: readonly string[],
): (PreparedComparison | StatsError)[] {
  const labelOf = (i: number): string => labels?.[i] ?? (i === 0 ? 'the control' : arms.length === 2 ? 'the treatment' : `treatment ${i}`);
  const control = arms[0];
  if (control === undefined) {
    return [];
  }
  const ratio = isRatioStats(control);
  const linear = arms.map((arm, i) => (isRatioStats(arm) !== ratio ? statsError(StatsErrorCode.INVALID_INPUT, 'both arms must be ratio statistics or neither') : linearize(arm, statistic, labelOf(i))));
  const pres = linear.map((post, i) => {
    const covariate = covariates?.[i];
    return isStatsError(post) || covariate === undefined ? undefined : preEstimate(post, covariate);
  });
  // θ over every arm that can be estimated with a usable pre-period; none when one lacks it.
  let fit: CupedFit | undefined;
  if (covariates !== undefined) {
    const fitted: CupedArm[] = [];
    let usable = true;
    for (let i = 0; i < linear.length; i++) {
      const post = linear[i]!;
      const pre = pres[i];
      if (pre === null) {
        usable = false;
      } else if (!isStatsError(post) && !isStatsError(pre) && pre !== undefined) {
        fitted.push({ post, pre, cov: postPreCovariance(post, pre) });
      }
    }
    fit = usable ? cupedFit(fitted) : { theta: 0, center: { shift: 0, offset: 0 } };
  }
  const out: (PreparedComparison | StatsError)[] = [];
  const c = linear[0]!;
  for (let i = 1; i < arms.length; i++) {
    const t = linear[i]!;
    const failed = armsError(c, t);
    if (failed !== null || isStatsError(c) || isStatsError(t)) {
      out.push(failed ?? statsError(StatsErrorCode.INVALID_INPUT, 'missing arm'));
      continue;
    }
    const raw = effectEstimate(c, t, difference);
    if (fit === undefined || isStatsError(raw)) {
      out.push(isStatsError(raw) ? raw : { estimate: raw, cuped: null });
      continue;
    }
    const preC = pres[0];
    const preT = pres[i];
    if (isStatsError(preC) || isStatsError(preT)) {
      out.push(isStatsError(preC) ? preC : (preT as StatsError));
      continue;
    }
    if (preC === null || preT === null || preC === undefined || preT === undefined || fit.theta === 0) {
      out.push({ estimate: raw, cuped: null });
      continue;
    }
    const adjustedC = cupedArm(c, preC, fit, postPreCovariance(c, preC));
    const adjustedT = cupedArm(t, preT, fit, postPreCovariance(t, preT));
    const explained = (a: { arm: ArmEstimate; scale: number }): boolean => !(a.arm.variance > ZERO_VARIANCE_TOLERANCE * a.scale);
    if (explained(adjustedC) || explained(adjustedT)) {
      // Nothing left to measure the adjusted effect against (or rounding noise where the residual
      // is tiny): the unadjusted estimate, whose arms do vary, as when CUPED does not help.
      out.push({ estimate: raw, cuped: null });
      continue;
    }
    const estimate = effectEstimate(adjustedC.arm, adjustedT.arm, difference);
    if (isStatsError(estimate)) {
      out.push(estimate);
      continue;
    }
    // Measured on the variance the test uses (for a lift, that of the difference over x̄C²).
    const varianceReduction = 1 - estimate.testVariance / raw.testVariance;
    // An adjustment that widens the interval (an outlier drives θ, pre-period means differ by
    // chance) is not variance reduction: report the unadjusted estimate instead.
    out.push(varianceReduction > 0 ? { estimate, cuped: { theta: fit.theta, varianceReduction } } : { estimate: raw, cuped: null });
  }
  return out;
}

/** Validates both arms, applies CUPED when covariates are given and estimates the effect. */
export function prepareComparison(
  control: ArmStats,
  treatment: ArmStats,
  statistic: StatisticType,
  difference: DifferenceType,
  cuped: CupedInput | undefined,
): PreparedComparison | StatsError {
  const covariates = cuped === undefined ? undefined : [cuped.control, cuped.treatment];
  return prepareComparisons([control, treatment], statistic, difference, covariates)[0]!;
}

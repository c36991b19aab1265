/** Bayesian inference: Gaussian effect model, and beta-binomial chance to beat control for conversions. */
import { controlLoading } from './best-arm.js';
import type { EffectPosterior } from './best-arm.js';
import { StatsErrorCode, firstError, invalidChoice, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { prepareComparison } from './estimates.js';
import type { EffectEstimate } from './estimates.js';
import { fiellerInterval } from './frequentist.js';
import { liftPosterior } from './lift-posterior.js';
import { legendre } from './quadrature.js';
import { betaRegularized, logBeta, normalCdf, normalIsf, normalPdf, normalSf } from './special.js';
import { Alternative, DifferenceType, StatisticType } from './types.js';
import type { ArmStats, CupedInput, CupedSummary, Interval, SampleStats } from './types.js';

/** Normal prior on the effect, on the scale of `difference` (a lift for relative; see docs/statistics.md). */
export interface GaussianPrior {
  readonly mean: number;
  /** Prior variance; must be positive. */
  readonly variance: number;
}

export interface BayesianOptions {
  /** Default 'relative'. */
  readonly difference?: DifferenceType;
  /** Informative prior on the effect; flat (improper) when omitted. */
  readonly prior?: GaussianPrior;
  /** The credible interval has probability 1 − alpha; default 0.05. */
  readonly alpha?: number;
  /** 'mean' (default) or 'proportion'; ignored for ratio arms. */
  readonly statisticType?: StatisticType;
  /** True when smaller values are better (e.g. latency): winning means a negative effect. */
  readonly inverse?: boolean;
  /**
   * Every unit's value is ≥ 0 (counts, non-negative amounts; implied for proportions): no lift is
   * below −100%, so a relative credible interval is cut there.
   */
  readonly nonNegative?: boolean;
  readonly cuped?: CupedInput;
}

export interface BayesianResult {
  /**
   * Posterior mean of the effect; for a lift with a flat prior (whose posterior has no mean) the
   * estimate (x̄T − x̄C)/|x̄C|, the posterior median.
   */
  readonly effect: number;
  /**
   * Equal-tailed credible interval with probability 1 − alpha. A lift's (flat prior) is Fieller's
   * with the normal quantile, its open ends ±Infinity while the control mean's own credible interval
   * holds 0, as the frequentist interval's.
   */
  readonly ci: Interval;
  /**
   * Posterior standard deviation of the effect; for a lift with a flat prior √(vT + vC)/|x̄C|, the
   * difference's in lift units, so that chanceToWin = Φ(effect/se).
   */
  readonly se: number;
  /** Posterior probability that the treatment beats the control. */
  readonly chanceToWin: number;
  /**
   * Expected loss of shipping [control, treatment]: in effect units for the difference; for a lift,
   * the expected loss of the difference over |x̄C| (finite where the lift's own would not be).
   */
  readonly risk: readonly [number, number];
  readonly difference: DifferenceType;
  readonly cuped: CupedSummary | null;
  readonly error?: StatsError;
}

interface ResolvedBayesian {
  readonly difference: DifferenceType;
  readonly alpha: number;
  readonly prior: GaussianPrior | null;
  readonly inverse: boolean;
  readonly nonNegative: boolean;
}

function resolve(options: BayesianOptions): ResolvedBayesian | StatsError {
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) {
    return statsError(StatsErrorCode.INVALID_OPTIONS, `alpha must lie in (0, 1), got ${alpha}`);
  }
  const invalid = firstError(
    invalidChoice('difference', options.difference, DifferenceType),
    invalidChoice('statisticType', options.statisticType, StatisticType),
  );
  if (invalid !== null) {
    return invalid;
  }
  const prior = options.prior ?? null;
  if (prior !== null && !(Number.isFinite(prior.mean) && prior.variance > 0 && Number.isFinite(prior.variance))) {
    return statsError(StatsErrorCode.INVALID_OPTIONS, 'the prior needs a finite mean and a positive finite variance');
  }
  const nonNegative = options.nonNegative === true || options.statisticType === StatisticType.Proportion;
  return { difference: options.difference ?? DifferenceType.Relative, alpha, prior, inverse: options.inverse === true, nonNegative };
}

function neutral(difference: DifferenceType, error: StatsError): BayesianResult {
  return { effect: 0, ci: [0, 0], se: 0, chanceToWin: 0.5, risk: [0, 0], difference, cuped: null, error };
}

/** E[max(X, 0)] for X ~ N(mean, sd²), written so neither term cancels the other for large |mean|/sd. */
function expectedPositivePart(mean: number, sd: number): number {
  const k = mean / sd;
  return mean * normalCdf(k) + sd * normalPdf(k);
}

/** Numbers checked: finite, and the interval without NaN (a lift's may have open ends). */
function checked(result: BayesianResult): BayesianResult {
  const values = [result.effect, result.se, result.chanceToWin, ...result.risk];
  if (!values.every(Number.isFinite) || !(result.se > 0) || result.ci.some(Number.isNaN)) {
    return neutral(result.difference, statsError(StatsErrorCode.NON_FINITE_RESULT, 'the posterior overflowed'));
  }
  return result;
}

/** A lift's interval cut at −100% (no lift of a non-negative metric is lower). */
function cut(ci: Interval, nonNegative: boolean): Interval {
  return nonNegative ? [Math.max(ci[0], -1), Math.max(ci[1], -1)] : ci;
}

/**
 * A lift's posterior. Flat prior: the arm means have independent normal posteriors, so
 * P(L > 0) = P(μT > μC) exactly, the equal-tailed interval is Fieller's with the normal quantile
 * (the Geary–Hinkley form of the ratio's posterior; open while the control's own credible interval
 * holds 0), and the risk is the difference's expected loss over |x̄C|. Informative prior: the exact
 * one-dimensional posterior of lift-posterior.ts. The delta method is not used: its variance
 * collapses when the control mean is noisy and the treatment mean small.
 */
function liftResult(estimate: EffectEstimate, options: ResolvedBayesian, cuped: CupedSummary | null): BayesianResult {
  const { control, treatment } = estimate;
  const base = Math.abs(control.mean);
  const flip = <T>(pair: readonly [T, T]): readonly [T, T] => (options.inverse ? [pair[1], pair[0]] : pair);
  if (options.prior === null) {
    const sd = Math.sqrt(control.variance + treatment.variance);
    const k = estimate.meanDifference / sd;
    const se = sd / base;
    const ci = fiellerInterval(control, treatment, estimate.meanDifference, normalIsf(options.alpha / 2), Alternative.TwoSided);
    if (ci === null) {
      return neutral(options.difference, statsError(StatsErrorCode.NON_FINITE_RESULT, 'the posterior overflowed'));
    }
    const [chanceToWin] = flip([normalSf(-k), normalSf(k)]);
    return checked({
      effect: estimate.effect,
      ci: cut(ci, options.nonNegative),
      se,
      chanceToWin,
      risk: flip([expectedPositivePart(estimate.effect, se), expectedPositivePart(-estimate.effect, se)]),
      difference: options.difference,
      cuped,
    });
  }
  const post = liftPosterior(control, treatment, options.prior.mean, options.prior.variance, options.alpha / 2);
  if (post === null) {
    return neutral(options.difference, statsError(StatsErrorCode.NON_FINITE_RESULT, 'the posterior overflowed'));
  }
  const [chanceToWin] = flip([post.positive, post.negative]);
  return checked({
    effect: post.mean,
    ci: cut([post.lower, post.upper], options.nonNegative),
    se: post.sd,
    chanceToWin,
    risk: flip([post.lossIfControl, post.lossIfTreatment]),
    difference: options.difference,
    cuped,
  });
}

/** Posterior of the effect under the Gaussian model, given an estimate (used by analyzeExperiment). */
export function posteriorFromEstimate(
  estimate: EffectEstimate,
  options: ResolvedBayesian,
  cuped: CupedSummary | null,
): BayesianResult {
  if (estimate.difference === DifferenceType.Relative) {
    return liftResult(estimate, options, cuped);
  }
  let mean = estimate.effect;
  let variance = estimate.variance;
  if (options.prior !== null) {
    const precision = 1 / variance + 1 / options.prior.variance;
    mean = (estimate.effect / variance + options.prior.mean / options.prior.variance) / precision;
    variance = 1 / precision;
  }
  const sd = Math.sqrt(variance);
  const crit = normalIsf(options.alpha / 2);
  const k = mean / sd;
  const lossIfControl = expectedPositivePart(mean, sd);
  const lossIfTreatment = expectedPositivePart(-mean, sd);
  const result: BayesianResult = {
    effect: mean,
    ci: [mean - crit * sd, mean + crit * sd],
    se: sd,
    chanceToWin: options.inverse ? normalSf(k) : normalSf(-k),
    risk: options.inverse ? [lossIfTreatment, lossIfControl] : [lossIfControl, lossIfTreatment],
    difference: options.difference,
    cuped,
  };
  if (![...result.ci, result.effect, result.se, result.chanceToWin, ...result.risk].every(Number.isFinite)) {
    return neutral(options.difference, statsError(StatsErrorCode.NON_FINITE_RESULT, 'the posterior overflowed'));
  }
  return result;
}

/** The largest |z| a probability in (0, 1) maps to (Φ(−38) is 0 in doubles). */
const MAX_Z = 38;

/**
 * The normal posterior the chance to be best ranks for one comparison (see best-arm.ts). The
 * difference and a flat-prior lift: N(effect, se²), exact (a lift over a shared control ranks the
 * arm means as the difference does, and Φ(effect/se) is its chance to win). A lift with an
 * informative prior, whose posterior is not normal: the normal with its posterior sd whose
 * P(effect > 0) is its chance to win, so two arms still give [1 − chanceToWin, chanceToWin].
 */
export function rankingPosterior(estimate: EffectEstimate, result: BayesianResult, options: ResolvedBayesian): EffectPosterior {
  const loading = controlLoading(estimate);
  if (estimate.difference === DifferenceType.Absolute || options.prior === null) {
    return { mean: result.effect, sd: result.se, controlLoading: loading };
  }
  const positive = options.inverse ? 1 - result.chanceToWin : result.chanceToWin;
  const negative = options.inverse ? result.chanceToWin : 1 - result.chanceToWin;
  const z = positive < negative ? -normalIsf(positive) : normalIsf(negative);
  return { mean: result.se * Math.max(-MAX_Z, Math.min(MAX_Z, z)), sd: result.se, controlLoading: loading };
}

export function resolveBayesianOptions(options: BayesianOptions): ResolvedBayesian | StatsError {
  return resolve(options);
}
export type { ResolvedBayesian as ResolvedBayesianOptions };

/**
 * Gaussian Bayesian comparison: the effect estimate is treated as N(effect, se²) and combined with
 * a normal prior (or none). Never throws; degenerate input yields neutral numbers and an `error`.
 */
export function bayesianTest(control: ArmStats, treatment: ArmStats, options: BayesianOptions = {}): BayesianResult {
  const resolved = resolve(options);
  if (isStatsError(resolved)) {
    const echoed = invalidChoice('difference', options.difference, DifferenceType) === null ? options.difference : undefined;
    return neutral(echoed ?? DifferenceType.Relative, resolved);
  }
  const prepared = prepareComparison(
    control,
    treatment,
    options.statisticType ?? StatisticType.Mean,
    resolved.difference,
    options.cuped,
  );
  if (isStatsError(prepared)) {
    return neutral(resolved.difference, prepared);
  }
  return posteriorFromEstimate(prepared.estimate, resolved, prepared.cuped);
}

/** Beta prior on a conversion rate. */
export interface BetaPrior {
  readonly alpha: number;
  readonly beta: number;
}

export interface BetaBinomialResult {
  /** P(p_treatment > p_control) under independent beta posteriors. */
  readonly chanceToWin: number;
  /** Posterior means [control, treatment]. */
  readonly posteriorMeans: readonly [number, number];
  readonly error?: StatsError;
}

const SUBINTERVALS = 96;
/** Half-width of the integration range, in posterior standard deviations of the narrower arm. */
const RANGE_SDS = 40;

interface BetaPosterior {
  readonly a: number;
  readonly b: number;
  readonly mean: number;
  readonly sd: number;
}

function betaPosterior(a: number, b: number): BetaPosterior {
  const s = a + b;
  return { a, b, mean: a / s, sd: Math.sqrt((a * b) / (s * s * (s + 1))) };
}

/** Step and half-range of the tanh-sinh rule on boundary subintervals (nodes reach 1e-61 of the end). */
const TANH_SINH_STEP = 1 / 8;
const TANH_SINH_NODES = 36;

/**
 * Tanh-sinh (double-exponential) rule on [left, left + width]; it converges fast even with the
 * x^(a−1) endpoint singularity of a beta density with a < 1. Distances to the ends are formed
 * directly so x (or 1 − x, when the subinterval ends at 1) keeps full relative precision.
 */
function tanhSinh(left: number, width: number, endsAtOne: boolean, integrand: (x: number, y: number) => number): number {
  let total = 0;
  for (let k = -TANH_SINH_NODES; k <= TANH_SINH_NODES; k++) {
    const t = k * TANH_SINH_STEP;
    const s = 0.5 * Math.PI * Math.sinh(t);
    const e = Math.exp(-2 * s);
    const fromLeft = width / (1 + e);
    const fromRight = width / (1 + 1 / e);
    const coshS = Math.cosh(s);
    const weight = (width * 0.5 * Math.PI * Math.cosh(t)) / (2 * coshS * coshS);
    const x = endsAtOne ? 1 - fromRight : left + fromLeft;
    const y = endsAtOne ? fromRight : 1 - x;
    if (x > 0 && y > 0 && weight > 0) {
      total += TANH_SINH_STEP * weight * integrand(x, y);
    }
  }
  return total;
}

/**
 * ∫ f_outer(x) · g(x) dx by composite Gauss–Legendre over mean ± 40 sd of the outer posterior,
 * switching to tanh-sinh on a subinterval that touches 0 or 1 where the density may be singular.
 */
function integrateAgainstBeta(outer: BetaPosterior, g: (x: number, oneMinusX: number) => number): number {
  const { nodes, weights } = legendre();
  const lo = Math.max(0, outer.mean - RANGE_SDS * outer.sd);
  const hi = Math.min(1, outer.mean + RANGE_SDS * outer.sd);
  const width = (hi - lo) / SUBINTERVALS;
  const logNorm = logBeta(outer.a, outer.b);
  // Evaluated on (x, 1 − x) both given accurately, so neither endpoint loses precision.
  const integrand = (x: number, y: number): number =>
    Math.exp((outer.a - 1) * Math.log(x) + (outer.b - 1) * Math.log(y) - logNorm) * g(x, y);
  let total = 0;
  for (let k = 0; k < SUBINTERVALS; k++) {
    const left = lo + k * width;
    if ((k === 0 && lo === 0) || (k === SUBINTERVALS - 1 && hi === 1)) {
      total += tanhSinh(left, width, k === SUBINTERVALS - 1 && hi === 1, integrand);
      continue;
    }
    for (let i = 0; i < nodes.length; i++) {
      const x = left + 0.5 * width * ((nodes[i] ?? 0) + 1);
      total += 0.5 * width * (weights[i] ?? 0) * integrand(x, 1 - x);
    }
  }
  return total;
}

/**
 * Beta-binomial chance to beat control, P(p_T > p_C), with Beta(alpha + conversions, beta + n −
 * conversions) posteriors (default prior Beta(1, 1)), by numerical integration. Conversions are the
 * `sum` of each arm; zero conversions are fine here because the prior keeps the posterior proper.
 */
export function betaBinomialChanceToWin(
  control: SampleStats,
  treatment: SampleStats,
  prior: BetaPrior = { alpha: 1, beta: 1 },
): BetaBinomialResult {
  const neutralResult = (error: StatsError): BetaBinomialResult => ({ chanceToWin: 0.5, posteriorMeans: [0, 0], error });
  if (!(prior.alpha > 0 && prior.beta > 0 && Number.isFinite(prior.alpha) && Number.isFinite(prior.beta))) {
    return neutralResult(statsError(StatsErrorCode.INVALID_OPTIONS, 'prior alpha and beta must be positive and finite'));
  }
  for (const arm of [control, treatment]) {
    if (!Number.isFinite(arm.n) || !Number.isFinite(arm.sum) || arm.sum < 0 || arm.sum > arm.n) {
      return neutralResult(statsError(StatsErrorCode.INVALID_INPUT, 'conversions must satisfy 0 ≤ sum ≤ n'));
    }
    if (arm.n < 1) {
      return neutralResult(statsError(StatsErrorCode.INSUFFICIENT_SAMPLE, 'an arm has no units'));
    }
  }
  const c = betaPosterior(prior.alpha + control.sum, prior.beta + control.n - control.sum);
  const t = betaPosterior(prior.alpha + treatment.sum, prior.beta + treatment.n - treatment.sum);
  // Integrate over the narrower posterior so the other arm's CDF is smooth on every subinterval.
  const chance =
    t.sd <= c.sd
      ? integrateAgainstBeta(t, (x, y) => betaRegularized(c.a, c.b, x, y, false))
      : integrateAgainstBeta(c, (x, y) => betaRegularized(t.a, t.b, x, y, true));
  const chanceToWin = Math.min(1, Math.max(0, chance));
  if (!Number.isFinite(chanceToWin)) {
    return neutralResult(statsError(StatsErrorCode.NON_FINITE_RESULT, 'the integral overflowed'));
  }
  return { chanceToWin, posteriorMeans: [c.mean, t.mean] };
}

/** Bayesian inference: Gaussian effect model, and beta-binomial chance to beat control for conversions. */
import { StatsErrorCode, firstError, invalidChoice, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { prepareComparison } from './estimates.js';
import type { EffectEstimate } from './estimates.js';
import { betaRegularized, logBeta, normalCdf, normalIsf, normalPdf, normalSf } from './special.js';
import { DifferenceType, StatisticType } from './types.js';
import type { ArmStats, CupedInput, CupedSummary, Interval, SampleStats } from './types.js';

/** Normal prior on the effect, on the scale of `difference` (a lift for relative). */
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
  readonly cuped?: CupedInput;
}

export interface BayesianResult {
  /** Posterior mean of the effect. */
  readonly effect: number;
  /** Equal-tailed credible interval with probability 1 − alpha. */
  readonly ci: Interval;
  /** Posterior standard deviation of the effect. */
  readonly se: number;
  /** Posterior probability that the treatment beats the control. */
  readonly chanceToWin: number;
  /** Expected loss, in effect units, of shipping [control, treatment]. */
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
  return { difference: options.difference ?? DifferenceType.Relative, alpha, prior, inverse: options.inverse === true };
}

function neutral(difference: DifferenceType, error: StatsError): BayesianResult {
  return { effect: 0, ci: [0, 0], se: 0, chanceToWin: 0.5, risk: [0, 0], difference, cuped: null, error };
}

/** E[max(X, 0)] for X ~ N(mean, sd²), written so neither term cancels the other for large |mean|/sd. */
function expectedPositivePart(mean: number, sd: number): number {
  const k = mean / sd;
  return mean * normalCdf(k) + sd * normalPdf(k);
}

/** Posterior of the effect under the Gaussian model, given an estimate (used by analyzeExperiment). */
export function posteriorFromEstimate(
  estimate: EffectEstimate,
  options: ResolvedBayesian,
  cuped: CupedSummary | null,
): BayesianResult {
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
  const pPositive = normalSf(-k);
  const lossIfControl = expectedPositivePart(mean, sd);
  const lossIfTreatment = expectedPositivePart(-mean, sd);
  const result: BayesianResult = {
    effect: mean,
    ci: [mean - crit * sd, mean + crit * sd],
    se: sd,
    chanceToWin: options.inverse ? normalSf(k) : pPositive,
    risk: options.inverse ? [lossIfTreatment, lossIfControl] : [lossIfControl, lossIfTreatment],
    difference: options.difference,
    cuped,
  };
  const values = [result.effect, result.se, result.chanceToWin, ...result.ci, ...result.risk];
  if (!values.every(Number.isFinite)) {
    return neutral(options.difference, statsError(StatsErrorCode.NON_FINITE_RESULT, 'the posterior overflowed'));
  }
  return result;
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

const GAUSS_POINTS = 16;
const SUBINTERVALS = 96;
/** Half-width of the integration range, in posterior standard deviations of the narrower arm. */
const RANGE_SDS = 40;

let gaussLegendre: { readonly nodes: Float64Array; readonly weights: Float64Array } | null = null;

/** Gauss–Legendre nodes and weights on [-1, 1] (16 points), by Newton iteration on the Legendre polynomial. */
export function legendre(): { readonly nodes: Float64Array; readonly weights: Float64Array } {
  if (gaussLegendre !== null) {
    return gaussLegendre;
  }
  const n = GAUSS_POINTS;
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < (n + 1) / 2; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let derivative = 1;
    for (let iteration = 0; iteration < 100; iteration++) {
      let p1 = 1;
      let p2 = 0;
      for (let j = 1; j <= n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
      }
      derivative = (n * (z * p1 - p2)) / (z * z - 1);
      const previous = z;
      z = previous - p1 / derivative;
      if (Math.abs(z - previous) < 1e-15) {
        break;
      }
    }
    nodes[i] = -z;
    nodes[n - 1 - i] = z;
    const w = 2 / ((1 - z * z) * derivative * derivative);
    weights[i] = w;
    weights[n - 1 - i] = w;
  }
  gaussLegendre = { nodes, weights };
  return gaussLegendre;
}

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
    for (let i = 0; i < GAUSS_POINTS; i++) {
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

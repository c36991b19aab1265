/**
 * Bayesian chance to be best: for every arm of an experiment (the control included), the posterior
 * probability that it is the best of all arms, from the same Gaussian effect posteriors that give
 * each treatment its chance to win (docs/statistics.md, "Chance to be best").
 *
 * The effects d_i of treatments over one shared control are correlated through the control's mean.
 * Their joint posterior is taken as d_i = m_i + s_i·(ρ_i·Z₀ + √(1 − ρ_i²)·Z_i) with independent
 * standard normals Z₀ (the control's noise) and Z_i: each marginal is exactly the reported
 * posterior N(m_i, s_i²), and corr(d_i, d_j) = ρ_iρ_j is the correlation of the effect estimates
 * (absolute: −√Var(x̄C)/√(Var(x̄C) + Var(x̄T)) each; relative: the delta method's). The control's
 * effect is 0. Given Z₀ = z the treatments are independent normals, so
 *   P(control best | z) = Π_i Φ(−μ_i(z)/τ_i),
 *   P(i best | z)       = ∫_{x > 0} φ_i(x) Π_{j ≠ i} Φ((x − μ_j(z))/τ_j) dx,
 * with μ_i(z) = m_i + s_iρ_i·z and τ_i = s_i√(1 − ρ_i²), and each is integrated against φ(z). Both
 * integrals use composite 16-point Gauss–Legendre on pieces of 3 of [−9, 9] standard deviations,
 * with extra breakpoints around every transition narrower than a piece (where an arm's CDF steps),
 * so the rule is deterministic and accurate to about 1e-12; the results are normalised to sum to 1.
 */
import { legendre } from './bayesian.js';
import { StatsErrorCode, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import type { EffectEstimate } from './estimates.js';
import { normalCdf, normalPdf, normalSf } from './special.js';
import { DifferenceType } from './types.js';

/** One treatment's effect posterior over the control, and how much of it is the control's noise. */
export interface EffectPosterior {
  /** Posterior mean of the effect (the `effect` of its BayesianResult). */
  readonly mean: number;
  /** Posterior standard deviation of the effect (its `se`); must be positive. */
  readonly sd: number;
  /**
   * Correlation of the effect with the control's (standardised) mean, in [−1, 1]; corr(d_i, d_j) =
   * ρ_iρ_j. See `controlLoading`; 0 treats the treatments as independent.
   */
  readonly controlLoading: number;
}

/** Half-width of both integrals, in standard deviations (the normal mass beyond is 2e-19). */
const RANGE = 9;
/** Width of the base pieces, in standard deviations of the integration variable. */
const PIECE = 3;
/** Transitions narrower than this (same units) get their own breakpoints. */
const NARROW = 0.5;
/** Breakpoints around a transition of width w narrower than a piece: centre + w × these. */
const STEPS = [-10, -4, -1.5, 0, 1.5, 4, 10] as const;
/** ρ² is kept at most this, so that every conditional spread τ_i is positive (≥ 1e-6 s_i). */
const MAX_RHO_SQUARED = 1 - 1e-12;

/**
 * ρ of a comparison: the correlation of its effect estimate with the control's mean. For the
 * difference x̄T − x̄C it is −√Var(x̄C) / √(Var(x̄C) + Var(x̄T)); for the lift (x̄T − x̄C)/|x̄C| (delta
 * method) −r√Var(x̄C) / √(r²Var(x̄C) + Var(x̄T)) with r = x̄T/x̄C. 0 when undefined.
 */
export function controlLoading(estimate: EffectEstimate): number {
  const scale = estimate.difference === DifferenceType.Relative ? estimate.treatment.mean / estimate.control.mean : 1;
  const shared = scale * Math.sqrt(estimate.control.variance);
  const total = Math.hypot(shared, Math.sqrt(estimate.treatment.variance));
  const rho = -shared / total;
  return Number.isFinite(rho) ? Math.max(-1, Math.min(1, rho)) : 0;
}

interface Transition {
  readonly center: number;
  readonly width: number;
}

/** Sorted breakpoints of [lo, hi]: a grid of PIECE plus STEPS around every transition narrower than NARROW. */
function breakpoints(lo: number, hi: number, transitions: readonly Transition[]): number[] {
  const points = [lo, hi];
  for (let p = Math.ceil(lo / PIECE) * PIECE; p < hi; p += PIECE) {
    if (p > lo) {
      points.push(p);
    }
  }
  for (const { center, width } of transitions) {
    if (!(width < NARROW) || !Number.isFinite(center) || center - 10 * width >= hi || center + 10 * width <= lo) {
      continue;
    }
    for (const step of STEPS) {
      const p = center + step * width;
      if (p > lo && p < hi) {
        points.push(p);
      }
    }
  }
  points.sort((a, b) => a - b);
  return points;
}

/** ∫ f over [breaks[0], breaks.at(-1)] by 16-point Gauss–Legendre on every piece. */
function integrate(breaks: readonly number[], f: (x: number) => number): number {
  const { nodes, weights } = legendre();
  let total = 0;
  for (let k = 1; k < breaks.length; k++) {
    const a = breaks[k - 1]!;
    const b = breaks[k]!;
    if (!(b > a)) {
      continue;
    }
    const half = 0.5 * (b - a);
    const mid = 0.5 * (a + b);
    for (let i = 0; i < nodes.length; i++) {
      total += half * weights[i]! * f(mid + half * nodes[i]!);
    }
  }
  return total;
}

/**
 * The unnormalised integrals (control first); exported for the accuracy tests, whose sum is 1 up to
 * the quadrature error. `effects` must be valid (see chanceToBeBest) with "higher is better".
 */
export function rawChanceToBeBest(effects: readonly EffectPosterior[]): number[] {
  const m = effects.length;
  const means = effects.map((e) => e.mean);
  const loads = effects.map((e) => {
    const rho = Math.max(-1, Math.min(1, e.controlLoading));
    return e.sd * rho;
  });
  const spreads = effects.map((e) => {
    const rho = Math.max(-1, Math.min(1, e.controlLoading));
    return e.sd * Math.sqrt(1 - Math.min(rho * rho, MAX_RHO_SQUARED));
  });
  const outer: Transition[] = [];
  for (let i = 0; i < m; i++) {
    const a = loads[i]!;
    if (a !== 0) {
      outer.push({ center: -means[i]! / a, width: spreads[i]! / Math.abs(a) });
    }
    for (let j = i + 1; j < m; j++) {
      const slope = a - loads[j]!;
      if (slope !== 0) {
        outer.push({ center: -(means[i]! - means[j]!) / slope, width: Math.hypot(spreads[i]!, spreads[j]!) / Math.abs(slope) });
      }
    }
  }
  const centers = new Float64Array(m);
  const totals = new Array<number>(m + 1).fill(0);
  const { nodes, weights } = legendre();
  const outerBreaks = breakpoints(-RANGE, RANGE, outer);
  for (let k = 1; k < outerBreaks.length; k++) {
    const lo = outerBreaks[k - 1]!;
    const hi = outerBreaks[k]!;
    if (!(hi > lo)) {
      continue;
    }
    for (let q = 0; q < nodes.length; q++) {
      const z = 0.5 * (lo + hi) + 0.5 * (hi - lo) * nodes[q]!;
      const weight = 0.5 * (hi - lo) * weights[q]! * normalPdf(z);
      let control = 1;
      for (let i = 0; i < m; i++) {
        centers[i] = means[i]! + loads[i]! * z;
        control *= normalSf(centers[i]! / spreads[i]!);
      }
      totals[0]! += weight * control;
      for (let i = 0; i < m; i++) {
        const mu = centers[i]!;
        const tau = spreads[i]!;
        // Arm i's value x = μ_i + τ_i·u must beat the control's 0 and every other treatment.
        const lower = Math.max(-RANGE, -mu / tau);
        if (!(lower < RANGE)) {
          continue;
        }
        const inner: Transition[] = [];
        for (let j = 0; j < m; j++) {
          if (j !== i) {
            inner.push({ center: (centers[j]! - mu) / tau, width: spreads[j]! / tau });
          }
        }
        const value = integrate(breakpoints(lower, RANGE, inner), (u) => {
          const x = mu + tau * u;
          let p = normalPdf(u);
          for (let j = 0; j < m && p > 0; j++) {
            if (j !== i) {
              const t = (x - centers[j]!) / spreads[j]!;
              // Φ(t) is 1 to double precision above 8.3 (and its tail is below every other error).
              p = t > 8.3 ? p : t < -40 ? 0 : p * normalCdf(t);
            }
          }
          return p;
        });
        totals[i + 1]! += weight * value;
      }
    }
  }
  return totals;
}

/**
 * P(arm is the best of all arms) for the control (first) and every treatment, from each treatment's
 * effect posterior over the control. `inverse`: smaller is better (the best arm has the lowest
 * value). One treatment gives exactly [1 − chanceToWin, chanceToWin] (the same expressions as
 * `posteriorFromEstimate`); none gives [1]. The probabilities sum to 1. An effect with a
 * non-finite mean or a non-positive sd is INVALID_INPUT.
 */
export function chanceToBeBest(effects: readonly EffectPosterior[], inverse = false): readonly number[] | StatsError {
  for (const e of effects) {
    if (!Number.isFinite(e.mean) || !(e.sd > 0) || !Number.isFinite(e.sd) || !Number.isFinite(e.controlLoading)) {
      return statsError(StatsErrorCode.INVALID_INPUT, 'every effect posterior needs a finite mean, a positive finite sd and a finite control loading');
    }
  }
  if (effects.length === 0) {
    return [1];
  }
  if (effects.length === 1) {
    const k = effects[0]!.mean / effects[0]!.sd;
    return inverse ? [normalSf(-k), normalSf(k)] : [normalSf(k), normalSf(-k)];
  }
  // Smaller is better: rank −d. Flipping every Z as well leaves the loadings (and the model) as they are.
  const raw = rawChanceToBeBest(inverse ? effects.map((e) => ({ ...e, mean: -e.mean })) : effects);
  const clamped = raw.map((p) => Math.max(0, p));
  const sum = clamped.reduce((a, b) => a + b, 0);
  if (!(sum > 0) || !Number.isFinite(sum)) {
    return statsError(StatsErrorCode.NON_FINITE_RESULT, 'the chance-to-be-best integral overflowed');
  }
  return clamped.map((p) => Math.min(1, p / sum));
}

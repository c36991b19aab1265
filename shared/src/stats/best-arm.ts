/**
 * Bayesian chance to be best: for every arm of an experiment (the control included), the posterior
 * probability that it is the best of all arms, from the same Gaussian effect posteriors that give
 * each treatment its chance to win (docs/statistics.md, "Chance to be best").
 *
 * The effects d_i of treatments over one shared control are correlated through the control's mean.
 * Their joint posterior is taken as d_i = m_i + s_i·(ρ_i·Z₀ + √(1 − ρ_i²)·Z_i) with independent
 * standard normals Z₀ (the control's noise) and Z_i: each marginal is the comparison's ranking
 * posterior N(m_i, s_i²) (bayesian.ts, rankingPosterior), and corr(d_i, d_j) = ρ_iρ_j is the
 * correlation of the differences, −√Var(x̄C)/√(Var(x̄C) + Var(x̄T)) each (a lift with a flat prior is
 * the difference over the shared |x̄C|, so this ranks the arm means exactly). The control's effect
 * is 0. Given Z₀ = z the treatments are independent normals, so
 *   P(control best | z) = Π_i Φ(−μ_i(z)/τ_i),
 *   P(i best | z)       = ∫_{x > 0} φ_i(x) Π_{j ≠ i} Φ((x − μ_j(z))/τ_j) dx,
 * with μ_i(z) = m_i + s_iρ_i·z and τ_i = s_i√(1 − ρ_i²), and each is integrated against φ(z). Both
 * integrals use composite 16-point Gauss–Legendre: the outer one on pieces of 3 of [−9, 9] standard
 * deviations with extra breakpoints around every transition narrower than a piece (where an arm's
 * probability steps with z), the inner ones on one grid in x shared by all arms (see sharedGrid),
 * each arm's CDF evaluated once per node. The rule is deterministic and accurate to about 1e-13;
 * the results are normalised to sum to 1.
 */
import { legendre } from './quadrature.js';
import { StatsErrorCode, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import type { EffectEstimate } from './estimates.js';
import { normalCdfFast, normalPdf, normalSf } from './special.js';

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

/** Half-width of the outer integral, in standard deviations (the normal mass beyond is 2e-19). */
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
 * ρ of a comparison: the correlation of its effect estimate with the control's mean,
 * −√Var(x̄C) / √(Var(x̄C) + Var(x̄T)), for the difference and the lift alike (the lift's posterior is
 * ranked as the difference over the shared |x̄C|, see rankingPosterior). 0 when undefined.
 */
export function controlLoading(estimate: EffectEstimate): number {
  const shared = Math.sqrt(estimate.control.variance);
  const rho = -shared / Math.hypot(shared, Math.sqrt(estimate.treatment.variance));
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

/** Half-width of an arm's range in x, in its spreads: Φ(−8.5) and the density's tail mass are 1e-17. */
const INNER_RANGE = 8.5;
/** Width of the inner pieces, in spreads of the narrowest arm whose density is still on (as PIECE). */
const INNER_PIECE = 3;
/** Φ(t) is 1 to double precision above this (and its tail is below every other error). */
const CDF_ONE = 8.3;
/** Φ(t) and φ(t) are 0 to double precision below −this. */
const CDF_ZERO = 38;

/** Reusable scratch array of the inner grid (grown on demand; single-threaded). */
let gridScratch = new Float64Array(64);

/**
 * Breakpoints in x of the inner grid shared by every arm, on [lo, hi], where lo is at least every
 * arm's μ_j − 8.5τ_j: from each point the next piece is INNER_PIECE spreads of the narrowest arm
 * whose μ_j + 8.5τ_j lies beyond it (the arms below are a constant Φ_j = 1 and a density whose
 * remaining mass is 1e-17). Every piece is then at most 3 spreads of every arm that varies on it — the old per-arm
 * pieces — and the count is about 7 per arm at most. Returns the number of points in gridScratch.
 */
function sharedGrid(lo: number, hi: number, centers: Float64Array, spreads: readonly number[]): number {
  const m = centers.length;
  const limit = 8 * m + 8;
  if (gridScratch.length < limit + 1) {
    gridScratch = new Float64Array(2 * (limit + 1));
  }
  const points = gridScratch;
  points[0] = lo;
  let count = 1;
  let a = lo;
  while (a < hi) {
    let narrowest = Infinity;
    for (let j = 0; j < m; j++) {
      const s = spreads[j]!;
      if (s < narrowest && centers[j]! + INNER_RANGE * s > a) {
        narrowest = s;
      }
    }
    let b = a + INNER_PIECE * narrowest;
    // Past the last arm's range (or a spread below the rounding of x, or an unexpected number of
    // pieces): one piece to the end.
    if (!(b > a) || !(b < hi) || count >= limit) {
      b = hi;
    }
    points[count++] = b;
    a = b;
  }
  return count;
}

/**
 * The unnormalised integrals (control first); exported for the accuracy tests, whose sum is 1 up to
 * the quadrature error. `effects` must be valid (see chanceToBeBest) with "higher is better".
 *
 * At every outer node the inner integrals of all arms share one grid in the value x: each arm's
 * Φ((x − μ_j)/τ_j) is evaluated once per grid node and the products over the other arms come from
 * prefix and suffix products, so a node costs O(arms) CDF evaluations instead of O(arms²).
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
  const cdfs = new Float64Array(m);
  const suffix = new Float64Array(m + 1);
  const inner = new Float64Array(m);
  const bases = new Float64Array(m);
  const scales = new Float64Array(m);
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
      // Every conditional probability is at most 1, so such a node moves no result by 1e-18.
      if (weight < 1e-18) {
        continue;
      }
      let control = 1;
      // The best arm's value x lies above the control's 0, above every arm's μ_j − 8.5τ_j (else
      // that arm's Φ_j(x) < 1e-17) and below the largest μ_j + 8.5τ_j (beyond, every density's
      // remaining mass is below 1e-17).
      let xLo = 0;
      let xHi = -Infinity;
      for (let i = 0; i < m; i++) {
        const c = means[i]! + loads[i]! * z;
        centers[i] = c;
        control *= normalSf(c / spreads[i]!);
        xLo = Math.max(xLo, c - INNER_RANGE * spreads[i]!);
        xHi = Math.max(xHi, c + INNER_RANGE * spreads[i]!);
        inner[i] = 0;
      }
      totals[0]! += weight * control;
      if (!(xHi > xLo)) {
        continue;
      }
      const count = sharedGrid(xLo, xHi, centers, spreads);
      const grid = gridScratch;
      for (let g = 1; g < count; g++) {
        const a = grid[g - 1]!;
        const width = grid[g]! - a;
        // Node positions relative to each arm (t = (a − μ_j)/τ_j + (width/τ_j)·s), not through an
        // absolute x: a spread far below |x|'s rounding (ρ near ±1) would shift its density's nodes.
        for (let j = 0; j < m; j++) {
          bases[j] = (a - centers[j]!) / spreads[j]!;
          scales[j] = width / spreads[j]!;
        }
        for (let n = 0; n < nodes.length; n++) {
          const s = 0.5 * (1 + nodes[n]!);
          let zeros = 0;
          for (let j = 0; j < m; j++) {
            const t = bases[j]! + scales[j]! * s;
            const c = t > CDF_ONE ? 1 : t < -CDF_ZERO ? 0 : normalCdfFast(t);
            cdfs[j] = c;
            if (c === 0) {
              zeros++;
            }
          }
          // Every arm but one is a factor of every other arm's integrand: two zeros make all zero.
          if (zeros > 1) {
            continue;
          }
          suffix[m] = 1;
          for (let j = m - 1; j >= 0; j--) {
            suffix[j] = suffix[j + 1]! * cdfs[j]!;
          }
          const w = 0.5 * weights[n]!;
          let prefix = 1;
          for (let i = 0; i < m; i++) {
            const others = prefix * suffix[i + 1]!;
            // Below 1e-18 the term is beneath every other error (the densities integrate to 1).
            if (others > 1e-18) {
              const t = bases[i]! + scales[i]! * s;
              if (t > -CDF_ZERO && t < CDF_ZERO) {
                // dx/τ_i = scales[i]·ds: the density of arm i in its own units.
                inner[i]! += w * scales[i]! * others * normalPdf(t);
              }
            }
            prefix *= cdfs[i]!;
          }
        }
      }
      for (let i = 0; i < m; i++) {
        totals[i + 1]! += weight * inner[i]!;
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

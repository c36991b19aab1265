/**
 * Posterior of a relative lift L = (μT − μC)/|μC| under an informative normal prior N(μ₀, σ₀²) on L
 * (docs/statistics.md, "Bayesian").
 *
 * Model: the arm means have the normal likelihoods of the tests, x̄_k ~ N(μ_k, v_k); the prior is
 * flat on both arm means tilted by the prior density of their lift, π(μC, μT) ∝ N(L; μ₀, σ₀²), so
 * that it becomes the flat prior as σ₀ → ∞. In (c = μC, L), μT = c + L|c| and the Jacobian is |c|:
 *   p(c, L | data) ∝ N(x̄C; c, vC) · N(x̄T; c + L|c|, vT) · |c| · N(L; μ₀, σ₀²).
 * For each L the integral over c is closed-form: on c > 0, μT = (1 + L)c, on c < 0, μT = (1 − L)c,
 * and with r the factor, N(x̄C; c, vC)·N(x̄T; rc, vT) = N(x̄T; r·x̄C, vT + r²vC)·N(c; ĉ, w) with
 * w = 1/(1/vC + r²/vT), ĉ = w(x̄C/vC + r·x̄T/vT); ∫|c| and ∫c² over each half-line are truncated
 * normal moments. What is left is a smooth density in L, integrated by composite 16-point
 * Gauss–Legendre with breakpoints around the prior, around the data (Fieller's set at several
 * levels), at −1, 0 and 1, and at geometric steps from the posterior's mode. Every moment is
 * finite: the prior bounds the tails.
 */
import type { MeanEstimate } from './estimates.js';
import { fiellerInterval } from './frequentist.js';
import { legendre } from './quadrature.js';
import { normalCdfFast, normalPdf } from './special.js';
import { Alternative } from './types.js';

export interface LiftPosterior {
  readonly mean: number;
  readonly sd: number;
  /** Equal-tailed posterior quantiles at q and 1 − q. */
  readonly lower: number;
  readonly upper: number;
  /** P(L > 0) and P(L < 0), each integrated directly (no 1 − p). */
  readonly positive: number;
  readonly negative: number;
  /** E[max(μT − μC, 0)] and E[max(μC − μT, 0)], over |x̄C|. */
  readonly lossIfControl: number;
  readonly lossIfTreatment: number;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
/** Breakpoints around the prior, in prior sds. */
const PRIOR_STEPS = [0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 30, 40] as const;
/** Levels (normal quantiles) of the Fieller sets whose ends are breakpoints. */
const DATA_LEVELS = [0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12] as const;

/** Below this k the truncated moments use their asymptotic series (relative error < 1e-10). */
const SERIES_BELOW = -20;

/**
 * ln of ∫_{c>0} c^power N(c; center, w) dc, power 1 or 2. With k = center/√w the first is
 * √w(kΦ(k) + φ(k)), the second w((k² + 1)Φ(k) + kφ(k)); for k < −20 both cancel and underflow, so
 * they come from the Mills-ratio series in log form: φ(k)·Σ_{j≥1} (−1)^{j+1}(2j − 1)!!/a^{2j} and
 * φ(k)·Σ_{j≥2} (−1)^j((2j − 1)!! − (2j − 3)!!)/a^{2j−1}, a = −k.
 */
export function logTruncatedMoment(center: number, w: number, power: 1 | 2): number {
  const sd = Math.sqrt(w);
  const k = center / sd;
  if (k < SERIES_BELOW) {
    const a = -k;
    const inverse2 = 1 / (a * a);
    let sum = 0;
    let term = 1;
    let previous = 1;
    let factorial = 1;
    for (let j = 1; j <= 7; j++) {
      previous = factorial;
      factorial *= 2 * j - 1;
      term *= inverse2;
      const sign = j % 2 === 0 ? -1 : 1;
      sum += power === 1 ? sign * factorial * term : j >= 2 ? -sign * (factorial - previous) * term * a : 0;
    }
    return Math.log(power === 1 ? sd : w) - 0.5 * k * k - LOG_SQRT_2PI + Math.log(sum);
  }
  const cdf = k > 38 ? 1 : normalCdfFast(k);
  const pdf = k > 38 ? 0 : normalPdf(k);
  const value = power === 1 ? sd * (k * cdf + pdf) : w * ((k * k + 1) * cdf + k * pdf);
  return value > 0 ? Math.log(value) : Number.NEGATIVE_INFINITY;
}

/** ln ∫ N(x̄C; c, vC) N(x̄T; c + L|c|, vT) |c|^power dc over both half-lines. */
function logDataTerm(L: number, control: MeanEstimate, treatment: MeanEstimate, power: 1 | 2): number {
  const { mean: mC, variance: vC } = control;
  const { mean: mT, variance: vT } = treatment;
  let top = Number.NEGATIVE_INFINITY;
  const terms: number[] = [];
  for (const sign of [1, -1]) {
    const r = 1 + sign * L;
    const spread = vT + r * r * vC;
    const z = (mT - r * mC) / Math.sqrt(spread);
    const w = 1 / (1 / vC + (r * r) / vT);
    const center = w * (mC / vC + (r * mT) / vT);
    const term = -0.5 * z * z - LOG_SQRT_2PI - 0.5 * Math.log(spread) + logTruncatedMoment(sign * center, w, power);
    terms.push(term);
    top = Math.max(top, term);
  }
  if (!Number.isFinite(top)) {
    return top;
  }
  return top + Math.log(terms.reduce((s, t) => s + Math.exp(t - top), 0));
}

function breakpoints(control: MeanEstimate, treatment: MeanEstimate, mu0: number, s0: number): number[] {
  const d = treatment.mean - control.mean;
  const points: number[] = [-1, 0, 1, d / Math.abs(control.mean)];
  for (const step of PRIOR_STEPS) {
    points.push(mu0 - step * s0, mu0 + step * s0);
  }
  let lo = mu0 - 40 * s0;
  let hi = mu0 + 40 * s0;
  for (const level of DATA_LEVELS) {
    const ends = fiellerInterval(control, treatment, d, level, Alternative.TwoSided) ?? [];
    for (const end of ends) {
      if (Number.isFinite(end)) {
        points.push(end);
        if (level === DATA_LEVELS[DATA_LEVELS.length - 1]) {
          lo = Math.min(lo, end);
          hi = Math.max(hi, end);
        }
      }
    }
  }
  const inside = points.filter((p) => p > lo && p < hi);
  inside.push(lo, hi);
  inside.sort((a, b) => a - b);
  return inside.filter((p, i) => i === 0 || p > inside[i - 1]!);
}

/** Breakpoints around the posterior's mode at ± width × 2^k, k from −1 while inside the range. */
const MODE_GROWTH = 2;

/**
 * `points` plus breakpoints around the mode of the log density: golden-section search between the
 * neighbours of the best node, then the width 1/√(−(ln p)'') from a second difference.
 */
function withMode(points: readonly number[], xs: readonly number[], logDensity: (L: number) => number): number[] {
  let best = 0;
  let bestValue = Number.NEGATIVE_INFINITY;
  xs.forEach((x, i) => {
    const value = logDensity(x);
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  });
  if (!Number.isFinite(bestValue)) {
    return [...points];
  }
  let a = xs[Math.max(0, best - 1)]!;
  let b = xs[Math.min(xs.length - 1, best + 1)]!;
  const ratio = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 200 && b - a > 1e-15 * Math.max(1, Math.abs(a)); i++) {
    const x1 = b - ratio * (b - a);
    const x2 = a + ratio * (b - a);
    if (logDensity(x1) >= logDensity(x2)) {
      b = x2;
    } else {
      a = x1;
    }
  }
  const mode = 0.5 * (a + b);
  let width = Math.max(xs[Math.min(xs.length - 1, best + 1)]! - xs[Math.max(0, best - 1)]!, 1e-12 * Math.max(1, Math.abs(mode)));
  for (let i = 0; i < 3; i++) {
    const h = width / 4;
    const curvature = (logDensity(mode + h) - 2 * logDensity(mode) + logDensity(mode - h)) / (h * h);
    if (!(curvature < 0) || !Number.isFinite(curvature)) {
      break;
    }
    width = Math.max(1 / Math.sqrt(-curvature), 1e-13 * Math.max(1, Math.abs(mode)));
  }
  const lo = points[0]!;
  const hi = points[points.length - 1]!;
  const out = [...points];
  // Geometric steps: a ratio's posterior has tails like 1/L², which a fixed rule integrates well
  // only on pieces that grow with the distance from the mode.
  const candidates = [mode];
  for (let step = width / 2; mode - step > lo || mode + step < hi; step *= MODE_GROWTH) {
    candidates.push(mode - step, mode + step);
  }
  for (const p of candidates) {
    if (p > lo && p < hi) {
      out.push(p);
    }
  }
  out.sort((x, y) => x - y);
  return out.filter((p, i) => i === 0 || p > out[i - 1]!);
}

/**
 * The lift's posterior under the prior N(mu0, variance) on L; `q` is the tail beyond each interval
 * end. Null when the integral underflowed or overflowed.
 */
export function liftPosterior(control: MeanEstimate, treatment: MeanEstimate, mu0: number, variance: number, q: number): LiftPosterior | null {
  const s0 = Math.sqrt(variance);
  const logDensity = (L: number): number => {
    const z = (L - mu0) / s0;
    return -0.5 * z * z + logDataTerm(L, control, treatment, 1);
  };
  const { nodes, weights } = legendre();
  /** Nodes, ln of their quadrature weights and of weight × density, on the pieces between `points`. */
  const grid = (points: readonly number[]): { xs: number[]; logWeights: number[]; logs: number[]; piece: number[] } => {
    const out = { xs: [] as number[], logWeights: [] as number[], logs: [] as number[], piece: [] as number[] };
    for (let k = 1; k < points.length; k++) {
      const a = points[k - 1]!;
      const b = points[k]!;
      for (let i = 0; i < nodes.length; i++) {
        const L = 0.5 * (a + b) + 0.5 * (b - a) * nodes[i]!;
        const logWeight = Math.log(0.5 * (b - a) * weights[i]!);
        out.xs.push(L);
        out.logWeights.push(logWeight);
        out.logs.push(logWeight + logDensity(L));
        out.piece.push(k - 1);
      }
    }
    return out;
  };
  // A posterior narrower than the pieces around it (a precise prior, or precise data between the
  // windows) would fall between nodes: find its mode from the best node and add breakpoints there.
  const initial = breakpoints(control, treatment, mu0, s0);
  const firstNodes: number[] = [];
  for (let k = 1; k < initial.length; k++) {
    for (const node of nodes) {
      firstNodes.push(0.5 * (initial[k - 1]! + initial[k]!) + 0.5 * (initial[k]! - initial[k - 1]!) * node);
    }
  }
  const points = withMode(initial, firstNodes, logDensity);
  const { xs, logWeights, logs, piece } = grid(points);
  const top = Math.max(...logs);
  if (!Number.isFinite(top)) {
    return null;
  }
  const density = (L: number): number => Math.exp(logDensity(L) - top);
  const n = xs.length;
  const mass = new Float64Array(n);
  const pieces = new Float64Array(points.length - 1);
  let total = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) {
    mass[i] = Math.exp(logs[i]! - top);
    pieces[piece[i]!]! += mass[i]!;
    total += mass[i]!;
    mean += mass[i]! * xs[i]!;
  }
  mean /= total;
  let second = 0;
  let positive = 0;
  let negative = 0;
  let gain = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const L = xs[i]!;
    second += mass[i]! * (L - mean) * (L - mean);
    // 0 is a breakpoint, so every piece lies on one side of it.
    if (L > 0) {
      positive += mass[i]!;
    } else {
      negative += mass[i]!;
    }
    // μT − μC = L|c|, so E[max(μT − μC, 0)] integrates L·∫c²(…)dc over L > 0 (prior included),
    // on the density's scale.
    const z = (L - mu0) / s0;
    const moment = Math.exp(logWeights[i]! - 0.5 * z * z + logDataTerm(L, control, treatment, 2) - top);
    if (L > 0) {
      gain += L * moment;
    } else {
      loss -= L * moment;
    }
  }
  /** ∫_a^x of the density by one 16-point rule (the density is smooth within a piece). */
  const partial = (a: number, x: number): number => {
    let sum = 0;
    for (let i = 0; i < nodes.length; i++) {
      sum += 0.5 * (x - a) * weights[i]! * density(0.5 * (a + x) + 0.5 * (x - a) * nodes[i]!);
    }
    return sum;
  };
  /** The x at which the mass left of x (fromLeft) or right of x reaches target·total. */
  const quantile = (target: number, fromLeft: boolean): number => {
    const goal = target * total;
    let before = 0;
    const count = pieces.length;
    for (let j = 0; j < count; j++) {
      const k = fromLeft ? j : count - 1 - j;
      const m = pieces[k]!;
      if (before + m >= goal || j === count - 1) {
        const a = points[k]!;
        const b = points[k + 1]!;
        let lo = a;
        let hi = b;
        for (let iteration = 0; iteration < 200 && hi - lo > 1e-15 * Math.max(1, Math.abs(lo), Math.abs(hi)); iteration++) {
          const mid = 0.5 * (lo + hi);
          const reached = before + (fromLeft ? partial(a, mid) : partial(mid, b));
          if (reached < goal === fromLeft) {
            lo = mid;
          } else {
            hi = mid;
          }
        }
        return 0.5 * (lo + hi);
      }
      before += m;
    }
    return fromLeft ? points[count]! : points[0]!;
  };
  const base = Math.abs(control.mean);
  let lower = quantile(q, true);
  let upper = quantile(q, false);
  if (lower > upper) {
    // Both ends inside a spike narrower than the rounding of L (a lift of ±1 to 16 digits).
    if (lower - upper > 1e-12 * Math.max(1, Math.abs(lower))) {
      return null;
    }
    lower = upper = 0.5 * (lower + upper);
  }
  const result = {
    mean,
    sd: Math.sqrt(second / total),
    lower,
    upper,
    positive: positive / total,
    negative: negative / total,
    lossIfControl: gain / total / base,
    lossIfTreatment: loss / total / base,
  };
  return Object.values(result).every(Number.isFinite) && result.sd > 0 ? result : null;
}

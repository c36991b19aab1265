/**
 * Asymptotic normal-mixture confidence sequences (Howard et al. 2021; the GrowthBook parameterisation):
 * with r = N·ρ², the mixture martingale for a standardised estimate z is
 * two-sided  M = (1 + r)^(-1/2) · exp(z² r / (2(1 + r))),
 * one-sided  M = 2 (1 + r)^(-1/2) · exp(z² r / (2(1 + r))) · Φ(z √(r / (1 + r)))  (half-normal mixture),
 * the always-valid p-value is min(1, 1/M) and the sequence is every effect whose M stays below 1/α.
 */
import { normalCdf, normalPdf, normalSf } from './special.js';

/** Default tuning N*: the total sample size at which the sequence is narrowest. */
export const DEFAULT_SEQUENTIAL_TUNING = 5000;

/** ρ² minimising the boundary at N = tuning for level alpha. */
export function sequentialRhoSquared(alpha: number, tuning: number): number {
  const l = -2 * Math.log(alpha);
  return (l + Math.log(1 + l)) / tuning;
}

/**
 * Two-sided boundary in standard-error units: reject when |z| exceeds it. `level` (default α) is
 * the α of the boundary with the mixture tuned for `alpha`: |z| exceeds it exactly when the
 * p-value (tuned for `alpha`) is below `level`, as an adjusted interval needs.
 */
export function twoSidedBoundary(alpha: number, n: number, tuning: number, level = alpha): number {
  const r = n * sequentialRhoSquared(alpha, tuning);
  return Math.sqrt(((1 + r) / r) * (-2 * Math.log(level) + Math.log1p(r)));
}

/** Always-valid two-sided p-value for a standardised estimate z after n units. */
export function twoSidedPValue(z: number, alpha: number, n: number, tuning: number): number {
  const r = n * sequentialRhoSquared(alpha, tuning);
  const logP = 0.5 * Math.log1p(r) - (z * z * r) / (2 * (1 + r));
  return logP >= 0 ? 1 : Math.exp(logP);
}

/** ln Φ(w) without losing the far lower tail. */
function logNormalCdf(w: number): number {
  return w >= 0 ? Math.log1p(-normalSf(w)) : Math.log(normalCdf(w));
}

/** ln M of the one-sided (half-normal) mixture at standardised estimate z. */
function oneSidedLogMixture(z: number, r: number): number {
  const shrink = r / (1 + r);
  return Math.LN2 - 0.5 * Math.log1p(r) + 0.5 * z * z * shrink + logNormalCdf(z * Math.sqrt(shrink));
}

/** ρ for a one-sided sequence: the two-sided optimum at level 2α, since the one-sided boundary is close to it. */
function oneSidedRhoSquared(alpha: number, tuning: number): number {
  return sequentialRhoSquared(Math.min(2 * alpha, 0.5), tuning);
}

/** Always-valid one-sided p-value; z is positive when the estimate points towards the alternative. */
export function oneSidedPValue(z: number, alpha: number, n: number, tuning: number): number {
  const logM = oneSidedLogMixture(z, n * oneSidedRhoSquared(alpha, tuning));
  return logM <= 0 ? 1 : Math.exp(-logM);
}

/** One-sided boundary in standard-error units: the z at which the half-normal mixture (tuned for `alpha`) reaches 1/`level`. */
export function oneSidedBoundary(alpha: number, n: number, tuning: number, level = alpha): number {
  const r = n * oneSidedRhoSquared(alpha, tuning);
  const target = -Math.log(level);
  const shrink = r / (1 + r);
  const s = Math.sqrt(shrink);
  // f(0) = ln α − ½ ln(1 + r) < 0 and f grows without bound, so the root is bracketed in (0, ∞).
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  let z = twoSidedBoundary(Math.min(2 * alpha, 0.5), n, tuning, Math.min(2 * level, 0.5));
  for (let i = 0; i < 100; i++) {
    const f = oneSidedLogMixture(z, r) - target;
    if (f < 0) {
      lo = z;
    } else {
      hi = z;
    }
    const w = z * s;
    const slope = z * shrink + (s * normalPdf(w)) / normalCdf(w);
    let next = z - f / slope;
    if (!(next > lo && next < hi)) {
      next = Number.isFinite(hi) ? 0.5 * (lo + hi) : 2 * z + 1;
    }
    if (Math.abs(next - z) <= 1e-14 * z) {
      return next;
    }
    z = next;
  }
  return z;
}

/**
 * Power, minimum detectable effect and sample size for a two-arm comparison under the normal
 * approximation (statsmodels `NormalIndPower`), fixed-horizon or sequential. For a relative lift the
 * effect is converted to absolute units with the baseline mean and both arms share the variance.
 */
import { StatsErrorCode, firstError, invalidChoice, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { DEFAULT_SEQUENTIAL_TUNING, oneSidedBoundary, twoSidedBoundary } from './sequential.js';
import { normalCdf, normalIsf, normalPdf, normalQuantile, normalSf } from './special.js';
import { Alternative, DifferenceType } from './types.js';

interface DesignOptions {
  /** Baseline (control) mean per unit. */
  readonly mean: number;
  /** Per-unit variance, assumed equal in both arms. */
  readonly variance: number;
  /** Default 'relative': `effect` and `mde` are lifts. */
  readonly difference?: DifferenceType;
  /** Default 0.05. */
  readonly alpha?: number;
  /** Default 'two-sided'. */
  readonly alternative?: Alternative;
  /** Treatment units per control unit, default 1. */
  readonly ratio?: number;
  /** Plan for a confidence sequence: power at the horizon, a lower bound on the power of peeking. */
  readonly sequential?: boolean;
  /** Tuning N* of the sequence, default 5000. */
  readonly sequentialTuning?: number;
}

export interface PowerInput extends DesignOptions {
  /** Units in the control arm (the treatment gets ratio × n). */
  readonly n: number;
  /** Hypothesised effect (negative for alternative 'less'). */
  readonly effect: number;
  /** Power the minimum detectable effect is solved for, default 0.8. */
  readonly targetPower?: number;
}

export interface PowerResult {
  /** Probability of rejecting the null when the true effect is `effect`. */
  readonly power: number;
  /** Smallest effect detected with probability targetPower at this n (signed like the alternative). */
  readonly mde: number;
  readonly error?: StatsError;
}

export interface SampleSizeInput extends DesignOptions {
  /** Effect to detect (negative for alternative 'less'). */
  readonly effect: number;
  /** Required power, default 0.8. */
  readonly power?: number;
}

export interface SampleSizeResult {
  /** Control units, rounded up. */
  readonly control: number;
  /** Treatment units, rounded up. */
  readonly treatment: number;
  readonly total: number;
  /** Unrounded control units (what statsmodels `solve_power` returns as nobs1). */
  readonly controlExact: number;
  readonly error?: StatsError;
}

interface Design {
  readonly sd: number;
  /** Effect units per absolute unit: 1, or 1/|mean| for a lift. */
  readonly scale: number;
  readonly alpha: number;
  readonly alternative: Alternative;
  readonly ratio: number;
  readonly sequential: boolean;
  readonly tuning: number;
}

function resolveDesign(input: DesignOptions): Design | StatsError {
  const alpha = input.alpha ?? 0.05;
  const ratio = input.ratio ?? 1;
  const tuning = input.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING;
  const difference = input.difference ?? DifferenceType.Relative;
  const invalid = firstError(
    invalidChoice('difference', input.difference, DifferenceType),
    invalidChoice('alternative', input.alternative, Alternative),
    input.sequential === undefined || typeof input.sequential === 'boolean'
      ? null
      : statsError(StatsErrorCode.INVALID_OPTIONS, `sequential must be true or false, got ${String(input.sequential)}`),
  );
  if (invalid !== null) {
    return invalid;
  }
  if (!(Number.isFinite(input.mean) && Number.isFinite(input.variance))) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'mean and variance must be finite');
  }
  if (!(input.variance > 0)) {
    return statsError(StatsErrorCode.ZERO_VARIANCE, 'the variance must be positive');
  }
  if (difference === DifferenceType.Relative && input.mean === 0) {
    return statsError(StatsErrorCode.ZERO_CONTROL_MEAN, 'a relative effect needs a non-zero baseline mean');
  }
  if (!(alpha > 0 && alpha < 1) || !(ratio > 0 && Number.isFinite(ratio)) || !(tuning > 0 && Number.isFinite(tuning))) {
    return statsError(StatsErrorCode.INVALID_OPTIONS, 'alpha must lie in (0, 1); ratio and tuning must be positive');
  }
  return {
    sd: Math.sqrt(input.variance),
    scale: difference === DifferenceType.Relative ? 1 / Math.abs(input.mean) : 1,
    alpha,
    alternative: input.alternative ?? Alternative.TwoSided,
    ratio,
    sequential: input.sequential === true,
    tuning,
  };
}

/** Rejection boundary in standard-error units for `n` control units. */
function boundary(design: Design, n: number): number {
  const { alpha, alternative, sequential, tuning } = design;
  const twoSided = alternative === Alternative.TwoSided;
  if (!sequential) {
    return normalIsf(twoSided ? alpha / 2 : alpha);
  }
  const total = n * (1 + design.ratio);
  return twoSided ? twoSidedBoundary(alpha, total, tuning) : oneSidedBoundary(alpha, total, tuning);
}

/** Power for standardised shift λ = effect / se and boundary c. */
function powerAt(lambda: number, c: number, alternative: Alternative): number {
  if (alternative === Alternative.Greater) {
    return normalSf(c - lambda);
  }
  if (alternative === Alternative.Less) {
    return normalCdf(-c - lambda);
  }
  return normalSf(c - lambda) + normalCdf(-c - lambda);
}

/** The |λ| at which power reaches `target` (0 when even λ = 0 reaches it). */
function requiredShift(c: number, target: number, alternative: Alternative): number {
  const oneSided = c + normalQuantile(target);
  if (alternative !== Alternative.TwoSided) {
    return Math.max(0, oneSided);
  }
  if (powerAt(0, c, alternative) >= target) {
    return 0;
  }
  let lambda = Math.max(oneSided, 0);
  for (let i = 0; i < 100; i++) {
    const f = powerAt(lambda, c, alternative) - target;
    const slope = normalPdf(c - lambda) - normalPdf(c + lambda);
    const next = Math.max(0.5 * lambda, lambda - f / slope);
    if (Math.abs(next - lambda) <= 1e-14 * Math.max(1, lambda)) {
      return next;
    }
    lambda = next;
  }
  return lambda;
}

/** Standard error of the absolute difference per sqrt(unit): se = sd · seFactor / √n. */
function seFactor(design: Design): number {
  return Math.sqrt((1 + design.ratio) / design.ratio);
}

function isProbability(p: number): boolean {
  return p > 0 && p < 1;
}

/** Power to detect `effect` with n control units, and the MDE at `targetPower`. */
export function power(input: PowerInput): PowerResult {
  const neutral = (error: StatsError): PowerResult => ({ power: 0, mde: 0, error });
  const design = resolveDesign(input);
  if (isStatsError(design)) {
    return neutral(design);
  }
  const target = input.targetPower ?? 0.8;
  if (!isProbability(target)) {
    return neutral(statsError(StatsErrorCode.INVALID_OPTIONS, `targetPower must lie in (0, 1), got ${target}`));
  }
  if (!(Number.isFinite(input.n) && Number.isFinite(input.effect))) {
    return neutral(statsError(StatsErrorCode.INVALID_INPUT, 'n and effect must be finite'));
  }
  if (input.n < 2) {
    return neutral(statsError(StatsErrorCode.INSUFFICIENT_SAMPLE, `n must be at least 2, got ${input.n}`));
  }
  const se = (design.sd * seFactor(design)) / Math.sqrt(input.n);
  const c = boundary(design, input.n);
  const lambda = input.effect / design.scale / se;
  const shift = requiredShift(c, target, design.alternative);
  const mde = ((design.alternative === Alternative.Less ? -shift : shift) * se) * design.scale;
  return { power: powerAt(lambda, c, design.alternative), mde };
}

/** Units per arm needed to detect `effect` with the requested power. */
export function sampleSize(input: SampleSizeInput): SampleSizeResult {
  const neutral = (error: StatsError): SampleSizeResult => ({ control: 0, treatment: 0, total: 0, controlExact: 0, error });
  const design = resolveDesign(input);
  if (isStatsError(design)) {
    return neutral(design);
  }
  const target = input.power ?? 0.8;
  if (!isProbability(target)) {
    return neutral(statsError(StatsErrorCode.INVALID_OPTIONS, `power must lie in (0, 1), got ${target}`));
  }
  const directed =
    design.alternative === Alternative.Less ? -input.effect : design.alternative === Alternative.Greater ? input.effect : Math.abs(input.effect);
  if (!(Number.isFinite(input.effect) && directed > 0)) {
    return neutral(statsError(StatsErrorCode.INVALID_INPUT, 'the effect must be non-zero and point the way of the alternative'));
  }
  const perUnit = directed / design.scale / (design.sd * seFactor(design));
  const gap = (n: number): number => perUnit * Math.sqrt(n) - requiredShift(boundary(design, n), target, design.alternative);
  let exact: number;
  if (!design.sequential) {
    const shift = requiredShift(boundary(design, 1), target, design.alternative);
    exact = (shift / perUnit) ** 2;
  } else {
    // The boundary depends on n, so bisect on log n (the gap is increasing where it crosses zero).
    let lo = 1;
    let hi = 2;
    while (gap(hi) < 0 && hi < 1e15) {
      lo = hi;
      hi *= 2;
    }
    for (let i = 0; i < 200 && hi - lo > 1e-9 * hi; i++) {
      const mid = Math.sqrt(lo * hi);
      if (gap(mid) < 0) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    exact = hi;
  }
  if (!Number.isFinite(exact) || exact >= 1e15) {
    return neutral(statsError(StatsErrorCode.NON_FINITE_RESULT, 'the required sample size is out of range'));
  }
  const control = Math.max(2, Math.ceil(exact - 1e-9));
  const treatment = Math.max(2, Math.ceil(exact * design.ratio - 1e-9));
  return { control, treatment, total: control + treatment, controlExact: exact };
}

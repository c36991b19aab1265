/**
 * Capping (winsorisation) of per-unit values before they are summed into sufficient statistics:
 * sufficient statistics cannot be capped after the fact, so the cap is applied while aggregating
 * (here, or in the warehouse query) and then reported alongside the results.
 */
import { StatsErrorCode, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import type { SampleStats } from './types.js';

/** How the cap value was chosen. */
export const CapType = {
  /** A fixed upper bound in metric units. */
  Absolute: 'absolute',
  /** The given percentile of the pooled per-unit values; `value` is that quantile. */
  Percentile: 'percentile',
} as const;
export type CapType = (typeof CapType)[keyof typeof CapType];

/** An upper cap applied to every per-unit value. */
export type CapSpec =
  | { readonly type: typeof CapType.Absolute; readonly value: number }
  | { readonly type: typeof CapType.Percentile; readonly percentile: number; readonly value: number };

/** min(value, cap); values pass through when no cap is given. */
export function applyCap(value: number, cap?: CapSpec): number {
  return cap === undefined ? value : Math.min(value, cap.value);
}

/** Why a quantile of `values` is undefined, or null when it is defined. */
function quantileError(values: readonly number[], q: number, option: string): StatsError | null {
  if (!(typeof q === 'number' && q >= 0 && q <= 1)) {
    const hint = typeof q === 'number' && q > 1 && q <= 100 ? ` (a fraction: ${q / 100}, not ${q})` : '';
    return statsError(StatsErrorCode.INVALID_OPTIONS, `${option} must lie in [0, 1]${hint}, got ${String(q)}`);
  }
  if (values.length === 0) {
    return statsError(StatsErrorCode.INSUFFICIENT_SAMPLE, 'a quantile needs at least one value');
  }
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'every value must be a finite number (NaN and ±Infinity are refused, as elsewhere)');
  }
  return null;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics (numpy's default).
 * The low-level helper: it returns NaN for an empty sample, a non-finite value or q outside [0, 1]
 * (its signature is a plain number); percentileCap validates the same cases and returns an error.
 */
export function quantile(values: readonly number[], q: number): number {
  if (quantileError(values, q, 'q') !== null) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const position = q * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  const low = sorted[below] ?? Number.NaN;
  const high = sorted[above] ?? Number.NaN;
  const fraction = position - below;
  const spread = high - low;
  // Values far apart (-1e308 and 1e308) overflow their difference: weigh the ends instead.
  return Number.isFinite(spread) ? low + fraction * spread : low * (1 - fraction) + high * fraction;
}

/**
 * A percentile cap computed from in-memory values (pool all arms so the cap does not depend on the
 * arm); `percentile` is a fraction (0.99, not 99). Never NaN: a percentile outside [0, 1] is
 * INVALID_OPTIONS, an empty sample INSUFFICIENT_SAMPLE and a NaN or infinite value INVALID_INPUT.
 */
export function percentileCap(values: readonly number[], percentile: number): CapSpec | StatsError {
  const error = quantileError(values, percentile, 'percentile');
  if (error !== null) {
    return error;
  }
  return { type: CapType.Percentile, percentile, value: quantile(values, percentile) };
}

/** Sufficient statistics of per-unit values after capping each one. */
export function summarizeValues(values: readonly number[], cap?: CapSpec): SampleStats {
  let sum = 0;
  let sumSquares = 0;
  for (const raw of values) {
    const value = applyCap(raw, cap);
    sum += value;
    sumSquares += value * value;
  }
  return { n: values.length, sum, sumSquares };
}

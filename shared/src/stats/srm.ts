/** Sample-ratio mismatch: Pearson chi-square goodness of fit of unit counts against configured weights. */
import { StatsErrorCode, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { chiSquareSf } from './special.js';

/** SRM is flagged below this p-value. */
export const DEFAULT_SRM_THRESHOLD = 0.001;

export interface SrmOptions {
  /** p-value below which the mismatch is flagged; default 0.001. */
  readonly threshold?: number;
  /** The arms' names (variation keys), for messages; default "variation <index>". */
  readonly names?: readonly string[];
}

export interface SrmResult {
  readonly chiSquare: number;
  /** Degrees of freedom: arms with positive weight − 1. */
  readonly df: number;
  readonly pValue: number;
  readonly flagged: boolean;
  readonly error?: StatsError;
}

/**
 * Chi-square test of observed `counts` against expected shares `weights` (any positive scale).
 * Arms with zero weight and zero units are ignored; units in a zero-weight arm are an unambiguous
 * mismatch and come back flagged with p = 0 and code UNEXPECTED_TRAFFIC.
 */
export function srmTest(counts: readonly number[], weights: readonly number[], options: SrmOptions = {}): SrmResult {
  const threshold = options.threshold ?? DEFAULT_SRM_THRESHOLD;
  const neutral = (error: StatsError): SrmResult => ({ chiSquare: 0, df: 0, pValue: 1, flagged: false, error });
  if (!(threshold > 0 && threshold < 1)) {
    return neutral(statsError(StatsErrorCode.INVALID_OPTIONS, `threshold must lie in (0, 1), got ${threshold}`));
  }
  if (counts.length !== weights.length || counts.length < 2) {
    return neutral(statsError(StatsErrorCode.INVALID_INPUT, 'counts and weights need the same length, at least 2'));
  }
  let totalCount = 0;
  let totalWeight = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] ?? Number.NaN;
    const weight = weights[i] ?? Number.NaN;
    if (!(Number.isFinite(count) && count >= 0 && Number.isFinite(weight) && weight >= 0)) {
      return neutral(statsError(StatsErrorCode.INVALID_INPUT, 'counts and weights must be finite and non-negative'));
    }
    totalCount += count;
    totalWeight += weight;
  }
  if (totalCount === 0 || totalWeight === 0) {
    return neutral(statsError(StatsErrorCode.INSUFFICIENT_SAMPLE, 'no units or no positive weight'));
  }
  let chiSquare = 0;
  let arms = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] ?? 0;
    const weight = weights[i] ?? 0;
    if (weight === 0) {
      if (count > 0) {
        return {
          chiSquare: 0,
          df: 0,
          pValue: 0,
          flagged: true,
          error: statsError(StatsErrorCode.UNEXPECTED_TRAFFIC, `${options.names?.[i] === undefined ? `variation ${i}` : `variation "${options.names[i]}"`} has weight 0 but ${count} ${count === 1 ? 'unit' : 'units'}`),
        };
      }
      continue;
    }
    const expected = (totalCount * weight) / totalWeight;
    chiSquare += ((count - expected) * (count - expected)) / expected;
    arms++;
  }
  if (arms < 2) {
    return neutral(statsError(StatsErrorCode.INVALID_INPUT, 'at least two variations need a positive weight'));
  }
  const df = arms - 1;
  const pValue = chiSquareSf(chiSquare, df);
  return { chiSquare, df, pValue, flagged: pValue < threshold };
}

/** Why a statistical procedure returned neutral numbers instead of an estimate. */
export const StatsErrorCode = {
  /** An input is NaN, infinite, negative where a count or sum of squares is expected, or inconsistent. */
  INVALID_INPUT: 'INVALID_INPUT',
  /** An option is out of range (alpha outside (0, 1), non-positive tuning or prior variance, …). */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** An arm has fewer than two units, so its variance is undefined. */
  INSUFFICIENT_SAMPLE: 'INSUFFICIENT_SAMPLE',
  /** An arm's variance (or the variance of the estimated effect) is zero or negative. */
  ZERO_VARIANCE: 'ZERO_VARIANCE',
  /** The control mean is zero, so a relative lift is undefined. */
  ZERO_CONTROL_MEAN: 'ZERO_CONTROL_MEAN',
  /** A conversion metric has no conversions in an arm, so the normal approximation is meaningless. */
  ZERO_CONVERSIONS: 'ZERO_CONVERSIONS',
  /** A ratio metric's denominator sums to zero in an arm. */
  ZERO_DENOMINATOR: 'ZERO_DENOMINATOR',
  /** Units arrived in a variation whose configured weight is zero (a certain sample-ratio mismatch). */
  UNEXPECTED_TRAFFIC: 'UNEXPECTED_TRAFFIC',
  /** An intermediate result overflowed the floating-point range. */
  NON_FINITE_RESULT: 'NON_FINITE_RESULT',
} as const;

export type StatsErrorCode = (typeof StatsErrorCode)[keyof typeof StatsErrorCode];

/** Structured failure carried in a result instead of being thrown. */
export interface StatsError {
  readonly code: StatsErrorCode;
  readonly message: string;
}

export function statsError(code: StatsErrorCode, message: string): StatsError {
  return { code, message };
}

/** Narrowing helper for internal `T | StatsError` returns. */
export function isStatsError(value: unknown): value is StatsError {
  return typeof value === 'object' && value !== null && 'code' in value && 'message' in value;
}

/**
 * INVALID_OPTIONS naming the option and its allowed values when `value` (given) is not one of them;
 * null when it is absent or allowed. A typo must never silently select another test.
 */
export function invalidChoice(option: string, value: unknown, allowed: Readonly<Record<string, string>>): StatsError | null {
  const choices = Object.values(allowed);
  if (value === undefined || choices.includes(value as string)) {
    return null;
  }
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return statsError(StatsErrorCode.INVALID_OPTIONS, `${option} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${shown}`);
}

/** The first error of a list of checks, or null. */
export function firstError(...errors: readonly (StatsError | null)[]): StatsError | null {
  return errors.find((e) => e !== null) ?? null;
}

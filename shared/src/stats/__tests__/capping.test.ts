import { describe, expect, it } from 'vitest';
import { applyCap, percentileCap, quantile, summarizeValues } from '../capping.js';
import type { CapSpec } from '../capping.js';
import { StatsErrorCode, isStatsError } from '../errors.js';
import type { StatsError } from '../errors.js';

/** The cap of a percentileCap call that must succeed. */
function capOf(result: CapSpec | StatsError): CapSpec {
  if (isStatsError(result)) {
    throw new Error(`unexpected ${result.code}: ${result.message}`);
  }
  return result;
}

describe('capping', () => {
  const values = [1, 2, 3, 4, 100];

  it('caps values before summing them', () => {
    // prepare
    const cap = { type: 'absolute', value: 10 } as const;
    // act
    const stats = summarizeValues(values, cap);
    // assert: 1 + 2 + 3 + 4 + 10 and 1 + 4 + 9 + 16 + 100
    expect(stats).toEqual({ n: 5, sum: 20, sumSquares: 130 });
  });

  it('passes values through without a cap', () => {
    // prepare / act
    const stats = summarizeValues(values);
    // assert
    expect(stats).toEqual({ n: 5, sum: 110, sumSquares: 10_030 });
    expect(applyCap(7)).toBe(7);
  });

  it('computes percentile caps by linear interpolation (numpy default)', () => {
    // prepare: position 0.9 · 4 = 3.6 → 4 + 0.6 · (100 − 4)
    // act
    const cap = capOf(percentileCap(values, 0.9));
    // assert
    expect(cap.type).toBe('percentile');
    expect(cap.value).toBeCloseTo(61.6, 12);
    expect(applyCap(80, cap)).toBe(cap.value);
    expect(applyCap(50, cap)).toBe(50);
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
  });

  it('interpolates between values whose difference overflows without reaching Infinity', () => {
    expect(quantile([-1e308, 1e308], 0.5)).toBe(0);
    expect(quantile([-1e308, 1e308], 0.75)).toBeCloseTo(5e307, -295);
    expect(quantile([1e308, 1.5e308, 1.7e308], 1)).toBe(1.7e308);
    expect(capOf(percentileCap([-1e308, 0, 1e308], 0.5)).value).toBe(0);
  });

  it('refuses an empty sample, NaN values and a percentile outside [0, 1] with an error, never a NaN cap', () => {
    // act
    const percent = percentileCap(values, 99);
    const empty = percentileCap([], 0.5);
    const withNaN = percentileCap([3, Number.NaN, 1, 2], 0.5);
    const negative = percentileCap(values, -0.1);
    // assert
    expect(percent).toMatchObject({ code: StatsErrorCode.INVALID_OPTIONS });
    expect((percent as StatsError).message).toContain('a fraction: 0.99, not 99');
    expect(empty).toMatchObject({ code: StatsErrorCode.INSUFFICIENT_SAMPLE });
    expect(withNaN).toMatchObject({ code: StatsErrorCode.INVALID_INPUT });
    expect(negative).toMatchObject({ code: StatsErrorCode.INVALID_OPTIONS });
    expect(percentileCap(values, 1)).toMatchObject({ type: 'percentile', percentile: 1, value: 100 });
  });

  it('keeps quantile, the plain-number helper, NaN for the cases percentileCap refuses', () => {
    // quantile returns a number (its callers compare it as one); percentileCap is the checked entry point.
    expect(quantile([], 0.5)).toBeNaN();
    expect(quantile(values, 1.5)).toBeNaN();
    expect(quantile([3, Number.NaN, 1, 2], 0.5)).toBeNaN();
  });
});

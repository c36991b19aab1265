import { describe, expect, it } from 'vitest';
import { applyCap, percentileCap, quantile, summarizeValues } from '../capping.js';

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
    const cap = percentileCap(values, 0.9);
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
    expect(percentileCap([-1e308, 0, 1e308], 0.5).value).toBe(0);
  });

  it('returns NaN for an empty sample or a quantile outside [0, 1]', () => {
    // prepare / act / assert
    expect(quantile([], 0.5)).toBeNaN();
    expect(quantile(values, 1.5)).toBeNaN();
  });
});

import { describe, expect, it } from 'vitest';
import { StatsErrorCode } from '../errors.js';
import { srmTest } from '../srm.js';
import { checker, loadFixture } from './fixtures.js';

interface SrmCase {
  readonly counts: readonly number[];
  readonly weights: readonly number[];
  readonly expected: { readonly chiSquare: number; readonly pValue: number; readonly flagged: boolean; readonly df: number };
}

describe('srmTest against scipy.stats.chisquare', () => {
  it('matches the statistic, p-value and flag', () => {
    // prepare
    const fixture = loadFixture<SrmCase>('srm.json');
    const { check, failures } = checker('srm.json');
    // act
    fixture.cases.forEach((c, i) => {
      const result = srmTest(c.counts, c.weights);
      check(`${i} chiSquare`, result.chiSquare, c.expected.chiSquare);
      check(`${i} pValue`, result.pValue, c.expected.pValue, true);
      if (result.flagged !== c.expected.flagged || result.df !== c.expected.df || result.error !== undefined) {
        failures.push(`${i}: flagged ${result.flagged}, df ${result.df}, error ${result.error?.code ?? 'none'}`);
      }
    });
    // assert
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    expect(fixture.cases.some((c) => c.expected.flagged)).toBe(true);
    expect(failures).toEqual([]);
  });
});

describe('srmTest hand-worked and degenerate cases', () => {
  it('computes a 50/50 split by hand: 5100 vs 4900', () => {
    // prepare: chi² = 2 · 100² / 5000 = 4 and P(χ²₁ > 4) = 0.0455003
    const counts = [5100, 4900];
    // act
    const result = srmTest(counts, [1, 1]);
    // assert
    expect(result.chiSquare).toBeCloseTo(4, 12);
    expect(result.pValue).toBeCloseTo(0.04550026389635842, 12);
    expect(result.flagged).toBe(false);
  });

  it('flags a gross mismatch with a tiny but non-zero p-value', () => {
    // prepare: chi² = 2 · 2000² / 50000 = 160, P(χ²₁ > 160) = erfc(√80) ≈ 1.1e-36
    const counts = [52_000, 48_000];
    // act
    const result = srmTest(counts, [50, 50]);
    // assert
    expect(result.flagged).toBe(true);
    expect(result.chiSquare).toBeCloseTo(160, 10);
    expect(result.pValue).toBeGreaterThan(1e-37);
    expect(result.pValue).toBeLessThan(1e-35);
  });

  it('honours a custom threshold', () => {
    // prepare / act
    const result = srmTest([5100, 4900], [1, 1], { threshold: 0.05 });
    // assert
    expect(result.flagged).toBe(true);
  });

  it('ignores a zero-weight arm without traffic and flags one with traffic', () => {
    // prepare / act
    const ignored = srmTest([500, 500, 0], [1, 1, 0]);
    const unexpected = srmTest([500, 500, 3], [1, 1, 0]);
    // assert
    expect(ignored.df).toBe(1);
    expect(ignored.chiSquare).toBe(0);
    expect(ignored.error).toBeUndefined();
    expect(unexpected.flagged).toBe(true);
    expect(unexpected.pValue).toBe(0);
    expect(unexpected.error?.code).toBe(StatsErrorCode.UNEXPECTED_TRAFFIC);
    expect(unexpected.error?.message).toBe('variation 2 has weight 0 but 3 units');
  });

  it('names the zero-weight arm by its key when given the names', () => {
    const one = srmTest([500, 500, 1], [1, 1, 0], { names: ['control', 'treatment', 'off'] });

    expect(one.error?.message).toBe('variation "off" has weight 0 but 1 unit');
  });

  it.each([
    ['mismatched lengths', [1, 2, 3], [1, 1], StatsErrorCode.INVALID_INPUT],
    ['a single arm', [10], [1], StatsErrorCode.INVALID_INPUT],
    ['NaN count', [Number.NaN, 3], [1, 1], StatsErrorCode.INVALID_INPUT],
    ['negative weight', [3, 3], [-1, 2], StatsErrorCode.INVALID_INPUT],
    ['no units', [0, 0], [1, 1], StatsErrorCode.INSUFFICIENT_SAMPLE],
    ['all weights zero', [0, 0], [0, 0], StatsErrorCode.INSUFFICIENT_SAMPLE],
  ] as const)('%s returns neutral numbers', (_label, counts, weights, code) => {
    // prepare: the counts and weights above
    // act
    const result = srmTest(counts, weights);
    // assert
    expect(result.error?.code).toBe(code);
    expect(result).toMatchObject({ chiSquare: 0, pValue: 1, flagged: false });
  });
});

import { describe, expect, it } from 'vitest';
import { adjustPValues } from '../corrections.js';
import type { CorrectionMethod } from '../corrections.js';
import { checker, loadFixture } from './fixtures.js';

interface CorrectionCase {
  readonly pValues: readonly number[];
  readonly method: 'holm' | 'bh';
  readonly expected: readonly number[];
}

describe('adjustPValues against statsmodels multipletests', () => {
  it('matches holm and fdr_bh', () => {
    // prepare
    const fixture = loadFixture<CorrectionCase>('corrections.json');
    const { check, failures } = checker('corrections.json');
    // act
    fixture.cases.forEach((c, i) => {
      check(`${i} ${c.method}`, adjustPValues(c.pValues, c.method), c.expected, true);
    });
    // assert
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    expect(failures).toEqual([]);
  });
});

describe('adjustPValues hand-worked cases', () => {
  const pValues = [0.01, 0.04, 0.03, 0.005];

  it.each([
    // Holm: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 = 0.02, 0.03, 0.06, 0.04→0.06 (monotone)
    ['holm', [0.03, 0.06, 0.06, 0.02]],
    // BH: sorted 0.005·4/1, 0.01·4/2, 0.03·4/3, 0.04·4/4 = 0.02, 0.02, 0.04, 0.04
    ['bh', [0.02, 0.04, 0.04, 0.02]],
    ['none', pValues],
  ] as const)('%s', (method: CorrectionMethod, expected) => {
    // prepare: the four p-values above
    // act
    const adjusted = adjustPValues(pValues, method);
    // assert
    adjusted.forEach((p, i) => {
      expect(p).toBeCloseTo(expected[i] ?? Number.NaN, 15);
    });
  });

  it('treats NaN and out-of-range entries as 1 and keeps order', () => {
    // prepare
    const messy = [Number.NaN, 0.001, -0.2, 2];
    // act
    const adjusted = adjustPValues(messy, 'holm');
    // assert
    expect(adjusted).toEqual([1, 0.004, 1, 1]);
  });

  it('returns an empty list for no p-values', () => {
    // prepare / act / assert
    expect(adjustPValues([], 'bh')).toEqual([]);
  });
});

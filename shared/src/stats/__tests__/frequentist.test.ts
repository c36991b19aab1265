import { describe, expect, it } from 'vitest';
import { StatsErrorCode } from '../errors.js';
import { frequentistTest } from '../frequentist.js';
import type { FrequentistOptions, FrequentistResult } from '../frequentist.js';
import type { Alternative, DifferenceType, StatisticType, RatioStats, SampleStats } from '../types.js';
import { checker, loadFixture } from './fixtures.js';

interface ExpectedTest {
  readonly effect: number;
  readonly se: number;
  readonly statistic: number;
  readonly df?: number;
  readonly pValue: number;
  readonly ci: readonly (number | null)[];
}

interface TestCase<A> {
  readonly control: A;
  readonly treatment: A;
  readonly options: {
    readonly statisticType?: StatisticType;
    readonly difference: DifferenceType;
    readonly alternative: Alternative;
    readonly alpha: number;
    readonly sequentialTuning?: number;
  };
  readonly expected: ExpectedTest;
}

function compareAll(file: string, extra: Partial<FrequentistOptions> = {}): string[] {
  const fixture = loadFixture<TestCase<SampleStats | RatioStats>>(file);
  const { check, failures } = checker(file);
  fixture.cases.forEach((c, i) => {
    const result: FrequentistResult = frequentistTest(c.control, c.treatment, { ...c.options, ...extra });
    if (result.error !== undefined) {
      failures.push(`${i}: unexpected error ${result.error.code}`);
      return;
    }
    check(`${i} effect`, result.effect, c.expected.effect);
    check(`${i} se`, result.se, c.expected.se);
    check(`${i} statistic`, result.statistic, c.expected.statistic);
    check(`${i} pValue`, result.pValue, c.expected.pValue, true);
    check(`${i} ci`, result.ci, c.expected.ci);
    if (c.expected.df !== undefined) {
      check(`${i} df`, result.df, c.expected.df);
    }
  });
  expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
  return failures;
}

describe('frequentistTest against SciPy', () => {
  it('matches ttest_ind_from_stats and the delta-method lift (means and proportions)', () => {
    // prepare / act
    const failures = compareAll('welch.json');
    // assert
    expect(failures).toEqual([]);
  });

  it('matches the delta method on ratio metrics', () => {
    // prepare / act
    const failures = compareAll('ratio.json');
    // assert
    expect(failures).toEqual([]);
  });

  it('matches the closed-form confidence sequences', () => {
    // prepare / act
    const failures = compareAll('sequential.json', { sequential: true });
    // assert
    expect(failures).toEqual([]);
  });
});

const control: SampleStats = { n: 1000, sum: 10_000, sumSquares: 10_000 * 10 + 999 * 4 };
const treatment: SampleStats = { n: 1000, sum: 10_500, sumSquares: 10_500 * 10.5 + 999 * 4 };

/** The neutral numbers every degenerate input must produce, with its error code. */
function neutral(code: StatsErrorCode): Record<string, unknown> {
  const error: unknown = expect.objectContaining({ code });
  return { effect: 0, ci: [0, 0], se: 0, pValue: 1, statistic: 0, df: 0, cuped: null, error };
}

describe('frequentistTest hand-worked cases', () => {
  it('computes a Welch test by hand: means 10 and 10.5, variance 4, 1000 units each', () => {
    // prepare: se = sqrt(4/1000 + 4/1000) = 0.0894427191, t = 0.5 / se = 5.5901699
    const expectedSe = Math.sqrt(0.008);
    // act
    const result = frequentistTest(control, treatment, { difference: 'absolute' });
    // assert
    expect(result.error).toBeUndefined();
    expect(result.effect).toBeCloseTo(0.5, 12);
    expect(result.se).toBeCloseTo(expectedSe, 12);
    expect(result.statistic).toBeCloseTo(0.5 / expectedSe, 10);
    expect(result.df).toBeCloseTo(1998, 8);
    expect(result.pValue).toBeGreaterThan(2e-8);
    expect(result.pValue).toBeLessThan(3e-8);
    expect(result.method).toBe('welch');
  });

  it('tests a relative lift of 5% as the difference of the means, with a Fieller interval', () => {
    // prepare: the lift's se is the difference's, √(4/1000 + 4/1000), over |x̄C| = 10; the statistic
    // and p-value are the absolute test's. Fieller bounds by hand: r = x̄T/x̄C solves
    // (10.5 − 10r)² = c²(0.004 + 0.004r²), c = t.isf(0.025, 1998); lift = r − 1.
    const absolute = frequentistTest(control, treatment, { difference: 'absolute' });
    const c = (absolute.ci[1] - absolute.effect) / absolute.se;
    const [qa, qb, qc] = [100 - c * c * 0.004, -2 * 10.5 * 10, 10.5 * 10.5 - c * c * 0.004];
    const root = (sign: number): number => (-qb + sign * Math.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa) - 1;
    // act
    const result = frequentistTest(control, treatment);
    // assert
    expect(result.difference).toBe('relative');
    expect(result.effect).toBeCloseTo(0.05, 12);
    expect(result.se).toBeCloseTo(Math.sqrt(0.008) / 10, 12);
    expect(result.statistic).toBe(absolute.statistic);
    expect(result.pValue).toBe(absolute.pValue);
    expect(result.ci[0]).toBeCloseTo(root(-1), 12);
    expect(result.ci[1]).toBeCloseTo(root(1), 12);
  });

  it('opens one-sided intervals on the untested side', () => {
    // prepare / act
    const greater = frequentistTest(control, treatment, { alternative: 'greater' });
    const less = frequentistTest(control, treatment, { alternative: 'less' });
    // assert
    expect(greater.ci[1]).toBe(Number.POSITIVE_INFINITY);
    expect(less.ci[0]).toBe(Number.NEGATIVE_INFINITY);
    expect(greater.pValue + less.pValue).toBeCloseTo(1, 12);
  });

  it('switches to the confidence sequence when only a tuning is given, as in DESIGN.md', () => {
    // prepare / act
    const tuned = frequentistTest(control, treatment, { sequentialTuning: 2000 });
    const explicitOff = frequentistTest(control, treatment, { sequentialTuning: 2000, sequential: false });
    const defaultTuning = frequentistTest(control, treatment, { sequential: true });
    // assert
    expect(tuned.method).toBe('sequential');
    expect(explicitOff.method).toBe('welch');
    expect(defaultTuning.method).toBe('sequential');
    expect(tuned.ci[1] - tuned.ci[0]).not.toBe(defaultTuning.ci[1] - defaultTuning.ci[0]);
    // A confidence sequence is always wider than the fixed-horizon interval at the same alpha.
    expect(defaultTuning.ci[1] - defaultTuning.ci[0]).toBeGreaterThan(explicitOff.ci[1] - explicitOff.ci[0]);
  });

  it('keeps a p-value of about 1e-19 away from 0', () => {
    // prepare: z ≈ 9 with a million units per arm, where Student t ≈ normal
    const big = (mean: number): SampleStats => ({ n: 1e6, sum: 1e6 * mean, sumSquares: 1e6 * mean * mean + (1e6 - 1) * 1 });
    const shift = 9 * Math.sqrt(2e-6);
    // act
    const result = frequentistTest(big(10), big(10 + shift), { difference: 'absolute' });
    // assert
    expect(result.pValue).toBeGreaterThan(1e-19);
    expect(result.pValue).toBeLessThan(1e-18);
  });

  it('uses p(1 − p) for proportions', () => {
    // prepare: 100/1000 vs 150/1000
    const a: SampleStats = { n: 1000, sum: 100, sumSquares: 100 };
    const b: SampleStats = { n: 1000, sum: 150, sumSquares: 150 };
    // act
    const result = frequentistTest(a, b, { difference: 'absolute', statisticType: 'proportion' });
    // assert
    expect(result.se).toBeCloseTo(Math.sqrt((0.1 * 0.9 + 0.15 * 0.85) / 1000), 14);
  });
});

describe('frequentistTest degenerate input', () => {
  const cases: readonly [string, SampleStats, SampleStats, FrequentistOptions, StatsErrorCode][] = [
    ['n < 2', { n: 1, sum: 3, sumSquares: 9 }, treatment, {}, StatsErrorCode.INSUFFICIENT_SAMPLE],
    ['n = 0', { n: 0, sum: 0, sumSquares: 0 }, treatment, {}, StatsErrorCode.INSUFFICIENT_SAMPLE],
    ['negative n', control, { n: -5, sum: 1, sumSquares: 1 }, {}, StatsErrorCode.INVALID_INPUT],
    ['NaN sum', { n: 10, sum: Number.NaN, sumSquares: 3 }, treatment, {}, StatsErrorCode.INVALID_INPUT],
    ['infinite sum of squares', control, { n: 10, sum: 1, sumSquares: Infinity }, {}, StatsErrorCode.INVALID_INPUT],
    ['negative sum of squares', control, { n: 10, sum: 1, sumSquares: -1 }, {}, StatsErrorCode.INVALID_INPUT],
    ['zero variance', { n: 10, sum: 50, sumSquares: 250 }, treatment, {}, StatsErrorCode.ZERO_VARIANCE],
    ['negative variance', { n: 10, sum: 50, sumSquares: 200 }, treatment, {}, StatsErrorCode.ZERO_VARIANCE],
    ['zero control mean (relative)', { n: 10, sum: 0, sumSquares: 40 }, treatment, {}, StatsErrorCode.ZERO_CONTROL_MEAN],
    [
      'zero conversions',
      { n: 100, sum: 0, sumSquares: 0 },
      { n: 100, sum: 5, sumSquares: 5 },
      { statisticType: 'proportion', difference: 'absolute' },
      StatsErrorCode.ZERO_CONVERSIONS,
    ],
    [
      'every unit converted',
      { n: 100, sum: 100, sumSquares: 100 },
      { n: 100, sum: 5, sumSquares: 5 },
      { statisticType: 'proportion' },
      StatsErrorCode.ZERO_VARIANCE,
    ],
    [
      'proportion with sum ≠ sumSquares',
      { n: 100, sum: 10, sumSquares: 12 },
      { n: 100, sum: 5, sumSquares: 5 },
      { statisticType: 'proportion' },
      StatsErrorCode.INVALID_INPUT,
    ],
    ['alpha out of range', control, treatment, { alpha: 1.5 }, StatsErrorCode.INVALID_OPTIONS],
    ['NaN alpha', control, treatment, { alpha: Number.NaN }, StatsErrorCode.INVALID_OPTIONS],
    ['non-positive tuning', control, treatment, { sequential: true, sequentialTuning: 0 }, StatsErrorCode.INVALID_OPTIONS],
  ];

  it.each(cases)('%s returns neutral numbers and an error code', (_label, a, b, options, code) => {
    // prepare: the arms and options above
    // act
    const result = frequentistTest(a, b, options);
    // assert
    expect(result).toMatchObject(neutral(code));
  });

  it('the sequential test degrades the same way', () => {
    // prepare
    const flat: SampleStats = { n: 10, sum: 50, sumSquares: 250 };
    // act
    const result = frequentistTest(flat, treatment, { sequential: true });
    // assert
    expect(result).toMatchObject(neutral(StatsErrorCode.ZERO_VARIANCE));
    expect(result.method).toBe('sequential');
  });

  it('a ratio metric with a zero denominator returns ZERO_DENOMINATOR', () => {
    // prepare
    const zero: RatioStats = {
      n: 10,
      numerator: { sum: 0, sumSquares: 0 },
      denominator: { sum: 0, sumSquares: 0 },
      sumProducts: 0,
    };
    const fine: RatioStats = {
      n: 10,
      numerator: { sum: 20, sumSquares: 60 },
      denominator: { sum: 10, sumSquares: 12 },
      sumProducts: 25,
    };
    // act
    const result = frequentistTest(zero, fine);
    // assert
    expect(result).toMatchObject(neutral(StatsErrorCode.ZERO_DENOMINATOR));
  });

  it('mixing a ratio arm with a plain arm is invalid input', () => {
    // prepare
    const ratio: RatioStats = {
      n: 10,
      numerator: { sum: 20, sumSquares: 60 },
      denominator: { sum: 10, sumSquares: 12 },
      sumProducts: 25,
    };
    // act
    const result = frequentistTest(control, ratio);
    // assert
    expect(result).toMatchObject(neutral(StatsErrorCode.INVALID_INPUT));
  });

  it('an overflowing lift (control mean 1e-300) is reported instead of returning Infinity', () => {
    // prepare
    const tiny: SampleStats = { n: 10, sum: 1e-299, sumSquares: 1 };
    // act
    const result = frequentistTest(tiny, treatment);
    // assert
    expect(result).toMatchObject(neutral(StatsErrorCode.NON_FINITE_RESULT));
  });
});

describe('frequentistTest on shifted sums (large values, small spread)', () => {
  // 1e9 + small integers: the raw Σx² (~3e20) cannot hold the centred part (~1e4) in a double.
  const control = [0, 3, 7, 1, 9, 4, 6, 2].map((d) => 1e9 + d);
  const treatment = [5, 8, 12, 6, 14, 9, 11, 7].map((d) => 1e9 + d);
  const sums = (xs: readonly number[], shift: number): SampleStats => ({
    n: xs.length,
    sum: xs.reduce((s, x) => s + (x - shift), 0),
    sumSquares: xs.reduce((s, x) => s + (x - shift) ** 2, 0),
    shift,
  });
  const variance = (xs: readonly number[]): number => {
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
  };

  it('gives the exact mean and variance from sums around a shift', () => {
    // prepare
    const expectedSe = Math.sqrt(variance(control) / 8 + variance(treatment) / 8);
    // act
    const result = frequentistTest(sums(control, 1e9), sums(treatment, 1e9 + 4), { difference: 'absolute' });
    // assert
    expect(result.error).toBeUndefined();
    expect(result.effect).toBeCloseTo(5, 9);
    expect(result.se).toBeCloseTo(expectedSe, 12);
  });

  it('rejects a shift on a proportion', () => {
    expect(frequentistTest({ n: 10, sum: 3, sumSquares: 3, shift: 1 }, { n: 10, sum: 4, sumSquares: 4 }, { statisticType: 'proportion' }).error?.code).toBe(StatsErrorCode.INVALID_INPUT);
  });
});

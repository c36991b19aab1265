import { describe, expect, it } from 'vitest';
import { bayesianTest, betaBinomialChanceToWin } from '../bayesian.js';
import type { BayesianOptions, BetaPrior } from '../bayesian.js';
import { StatsErrorCode } from '../errors.js';
import type { SampleStats } from '../types.js';
import { checker, loadFixture } from './fixtures.js';

interface BayesianCase {
  readonly control: SampleStats;
  readonly treatment: SampleStats;
  readonly options: BayesianOptions;
  readonly expected: {
    readonly effect: number;
    readonly se: number;
    readonly ci: readonly number[];
    readonly chanceToWin: number;
    readonly risk: readonly number[];
  };
}

interface BetaBinomialCase {
  readonly control: SampleStats;
  readonly treatment: SampleStats;
  readonly prior: BetaPrior;
  readonly expected: { readonly chanceToWin: number };
}

describe('bayesianTest against SciPy', () => {
  it('matches the conjugate normal posterior, chance to win, interval and risk', () => {
    // prepare
    const fixture = loadFixture<BayesianCase>('bayesian.json');
    const { check, failures } = checker('bayesian.json');
    // act
    fixture.cases.forEach((c, i) => {
      const result = bayesianTest(c.control, c.treatment, c.options);
      if (result.error !== undefined) {
        failures.push(`${i}: unexpected error ${result.error.code}`);
        return;
      }
      check(`${i} effect`, result.effect, c.expected.effect);
      check(`${i} se`, result.se, c.expected.se);
      check(`${i} ci`, result.ci, c.expected.ci);
      check(`${i} chanceToWin`, result.chanceToWin, c.expected.chanceToWin, true);
      check(`${i} risk`, result.risk, c.expected.risk);
    });
    // assert
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    expect(failures).toEqual([]);
  });
});

describe('betaBinomialChanceToWin against numerical integration', () => {
  it('matches scipy.integrate.quad (and the exact sum where alpha is an integer)', () => {
    // prepare
    const fixture = loadFixture<BetaBinomialCase>('beta-binomial.json');
    const { check, failures } = checker('beta-binomial.json');
    // act
    fixture.cases.forEach((c, i) => {
      const result = betaBinomialChanceToWin(c.control, c.treatment, c.prior);
      if (result.error !== undefined) {
        failures.push(`${i}: unexpected error ${result.error.code}`);
        return;
      }
      // quad is accurate to 1e-13 absolute only, so tiny chances are compared absolutely.
      check(`${i} chanceToWin`, result.chanceToWin, c.expected.chanceToWin);
    });
    // assert
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    expect(failures).toEqual([]);
  });

  it('gives 1/2 for identical arms and closed forms for one-trial samples', () => {
    // prepare: Beta(1, 2) vs Beta(2, 1) gives P(T > C) = 5/6; Jeffreys Beta(0.5, 1.5) vs Beta(1.5, 0.5)
    // gives ∫∫ — by symmetry P(T > C) = 1 − P(C > T), checked through the swap.
    const same: SampleStats = { n: 500, sum: 40, sumSquares: 40 };
    const failure: SampleStats = { n: 1, sum: 0, sumSquares: 0 };
    const success: SampleStats = { n: 1, sum: 1, sumSquares: 1 };
    const jeffreys = { alpha: 0.5, beta: 0.5 };
    // act
    const equal = betaBinomialChanceToWin(same, same);
    const fiveSixths = betaBinomialChanceToWin(failure, success);
    const forward = betaBinomialChanceToWin(failure, success, jeffreys);
    const backward = betaBinomialChanceToWin(success, failure, jeffreys);
    // assert
    expect(equal.chanceToWin).toBeCloseTo(0.5, 12);
    expect(fiveSixths.chanceToWin).toBeCloseTo(5 / 6, 12);
    expect(forward.chanceToWin + backward.chanceToWin).toBeCloseTo(1, 12);
  });

  it('handles zero conversions through the prior', () => {
    // prepare
    const zero: SampleStats = { n: 1000, sum: 0, sumSquares: 0 };
    const some: SampleStats = { n: 1000, sum: 10, sumSquares: 10 };
    // act
    const result = betaBinomialChanceToWin(zero, some);
    // assert
    expect(result.error).toBeUndefined();
    expect(result.chanceToWin).toBeGreaterThan(0.999);
  });

  it.each([
    ['no units', { n: 0, sum: 0, sumSquares: 0 }, { alpha: 1, beta: 1 }, StatsErrorCode.INSUFFICIENT_SAMPLE],
    ['more conversions than units', { n: 5, sum: 6, sumSquares: 6 }, { alpha: 1, beta: 1 }, StatsErrorCode.INVALID_INPUT],
    ['NaN conversions', { n: 5, sum: Number.NaN, sumSquares: 0 }, { alpha: 1, beta: 1 }, StatsErrorCode.INVALID_INPUT],
    ['negative n', { n: -5, sum: 0, sumSquares: 0 }, { alpha: 1, beta: 1 }, StatsErrorCode.INVALID_INPUT],
    ['non-positive prior', { n: 5, sum: 1, sumSquares: 1 }, { alpha: 0, beta: 1 }, StatsErrorCode.INVALID_OPTIONS],
  ] as const)('%s returns chance 1/2 and an error', (_label, arm, prior, code) => {
    // prepare
    const other: SampleStats = { n: 10, sum: 3, sumSquares: 3 };
    // act
    const result = betaBinomialChanceToWin(arm, other, prior);
    // assert
    expect(result.error?.code).toBe(code);
    expect(result.chanceToWin).toBe(0.5);
  });
});

describe('bayesianTest hand-worked and degenerate cases', () => {
  const control: SampleStats = { n: 1000, sum: 10_000, sumSquares: 10_000 * 10 + 999 * 4 };
  const treatment: SampleStats = { n: 1000, sum: 10_000, sumSquares: 10_000 * 10 + 999 * 4 };

  it('gives chance 1/2 and equal risks for identical arms', () => {
    // prepare / act
    const result = bayesianTest(control, treatment, { difference: 'absolute' });
    // assert: E[max(X, 0)] for X ~ N(0, s²) is s / √(2π)
    expect(result.chanceToWin).toBe(0.5);
    expect(result.risk[0]).toBeCloseTo(result.se / Math.sqrt(2 * Math.PI), 14);
    expect(result.risk[1]).toBeCloseTo(result.risk[0], 14);
  });

  it('shrinks towards an informative prior with equal precision halfway', () => {
    // prepare: data say 0.5 with variance 0.008; the prior says 0 with the same variance
    const shifted: SampleStats = { n: 1000, sum: 10_500, sumSquares: 10_500 * 10.5 + 999 * 4 };
    // act
    const result = bayesianTest(control, shifted, { difference: 'absolute', prior: { mean: 0, variance: 0.008 } });
    // assert
    expect(result.effect).toBeCloseTo(0.25, 12);
    expect(result.se).toBeCloseTo(Math.sqrt(0.004), 12);
  });

  it.each([
    ['n < 2', { n: 1, sum: 1, sumSquares: 1 }, {}, StatsErrorCode.INSUFFICIENT_SAMPLE],
    ['zero variance', { n: 10, sum: 10, sumSquares: 10 }, {}, StatsErrorCode.ZERO_VARIANCE],
    ['zero control mean', { n: 10, sum: 0, sumSquares: 10 }, {}, StatsErrorCode.ZERO_CONTROL_MEAN],
    ['zero conversions', { n: 10, sum: 0, sumSquares: 0 }, { statisticType: 'proportion' }, StatsErrorCode.ZERO_CONVERSIONS],
    ['NaN', { n: 10, sum: Number.NaN, sumSquares: 10 }, {}, StatsErrorCode.INVALID_INPUT],
    ['bad prior', { n: 10, sum: 5, sumSquares: 10 }, { prior: { mean: 0, variance: 0 } }, StatsErrorCode.INVALID_OPTIONS],
  ] as const)('%s returns neutral numbers', (_label, arm, options: BayesianOptions, code) => {
    // prepare: the arm above as control
    // act
    const result = bayesianTest(arm, options.statisticType === 'proportion' ? { n: 10, sum: 5, sumSquares: 5 } : treatment, options);
    // assert
    expect(result.error?.code).toBe(code);
    expect(result.effect).toBe(0);
    expect(result.ci).toEqual([0, 0]);
    expect(result.chanceToWin).toBe(0.5);
    expect(result.risk).toEqual([0, 0]);
  });
});

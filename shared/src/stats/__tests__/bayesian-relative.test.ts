/**
 * The Bayesian lift must agree with the frequentist test of the same arms: an outlier that makes the
 * control mean uncertain may not turn into a certain chance to win, a falsely tight credible
 * interval or an absurd risk (the data-quality report: control 1,000 units with ~100 purchases and
 * one unit with 50,000; lift −99.8%, p = 0.32, chance to win 0 and interval [−1.0019, −0.9941]).
 */
import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import { bayesianTest } from '../bayesian.js';
import { frequentistTest } from '../frequentist.js';
import { logTruncatedMoment } from '../lift-posterior.js';
import { normalCdf, normalPdf } from '../special.js';
import type { SampleStats } from '../types.js';
import { seededRandom as random } from '../../random.js';

/** Sufficient statistics of unit values. */
function statsOf(values: readonly number[]): SampleStats {
  let sum = 0;
  let sumSquares = 0;
  for (const v of values) {
    sum += v;
    sumSquares += v * v;
  }
  return { n: values.length, sum, sumSquares };
}

/** 1,000 units with 100 single purchases, and optionally one unit with 50,000 in place of a zero. */
function arm(outlier: boolean): SampleStats {
  const values: number[] = Array.from({ length: 1000 }, (_, i) => (i < 100 ? 1 : 0));
  if (outlier) {
    values[999] = 50_000;
  }
  return statsOf(values);
}

const withOutlier = arm(true);
const plain = arm(false);

/** Posterior of μT − μC under flat priors on both arm means (the normal approximation the tests use). */
function differencePosterior(control: SampleStats, treatment: SampleStats): { mean: number; sd: number; base: number } {
  const moments = (s: SampleStats): { mean: number; v: number } => ({ mean: s.sum / s.n, v: (s.sumSquares - (s.sum * s.sum) / s.n) / (s.n - 1) / s.n });
  const c = moments(control);
  const t = moments(treatment);
  return { mean: t.mean - c.mean, sd: Math.sqrt(c.v + t.v), base: Math.abs(c.mean) };
}

describe('relative Bayesian result with an outlier in the control', () => {
  it('gives the chance to win of the difference, not certainty', () => {
    // prepare
    const { mean, sd } = differencePosterior(withOutlier, plain);
    // act
    const bayes = bayesianTest(withOutlier, plain);
    const welch = frequentistTest(withOutlier, plain);
    // assert: lift −99.8%, p = 0.3176 (z = −1): P(lift > 0) = P(μT > μC) = Φ(−1)
    expect(welch.effect).toBeCloseTo(-0.998, 3);
    expect(welch.pValue).toBeCloseTo(0.3176, 3);
    expect(bayes.error).toBeUndefined();
    expect(bayes.chanceToWin).toBeCloseTo(normalCdf(mean / sd), 12);
    expect(bayes.chanceToWin).toBeCloseTo(0.1587, 3);
  });

  it('reports an unbounded credible interval where the Fieller interval is unbounded', () => {
    // act
    const bayes = bayesianTest(withOutlier, plain);
    const welch = frequentistTest(withOutlier, plain);
    // assert: the control mean is one standard error from zero, so no lift range is established
    expect(welch.ci).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect(bayes.ci).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect(bayes.effect).toBe(welch.effect);
  });

  it('cuts the interval at −100% for a non-negative metric', () => {
    // act
    const bayes = bayesianTest(withOutlier, plain, { nonNegative: true });
    // assert
    expect(bayes.ci).toEqual([-1, Number.POSITIVE_INFINITY]);
  });

  it('keeps the risk finite: the expected loss of the difference in units of the control mean', () => {
    // prepare: E[max(X, 0)] for X ~ N(m, s²)
    const { mean, sd, base } = differencePosterior(withOutlier, plain);
    const positivePart = (m: number): number => m * normalCdf(m / sd) + sd * normalPdf(m / sd);
    // act
    const bayes = bayesianTest(withOutlier, plain);
    // assert
    expect(bayes.risk[0]).toBeCloseTo(positivePart(mean) / base, 12);
    expect(bayes.risk[1]).toBeCloseTo(positivePart(-mean) / base, 12);
    expect(bayes.risk.every(Number.isFinite)).toBe(true);
  });

  it('does not claim certainty with an informative prior either', () => {
    // act
    const bayes = bayesianTest(withOutlier, plain, { prior: { mean: 0, variance: 0.3 ** 2 } });
    // assert: weak data (z = −1) and a prior centred on 0: a lean towards the control, no certainty
    expect(bayes.error).toBeUndefined();
    expect(bayes.chanceToWin).toBeGreaterThan(0.05);
    expect(bayes.chanceToWin).toBeLessThan(0.5);
    expect(bayes.ci[0]).toBeLessThan(0);
    expect(bayes.ci[1]).toBeGreaterThan(0);
    expect([bayes.effect, bayes.se, ...bayes.ci, ...bayes.risk].every(Number.isFinite)).toBe(true);
  });

  it('is the same in analyzeExperiment, with sequential tests and the chance to be best', () => {
    // act
    const analysis = analyzeExperiment({
      variations: [
        { key: 'control', weight: 1, units: 1000 },
        { key: 'treatment', weight: 1, units: 1000 },
      ],
      metrics: [{ key: 'purchases', type: 'mean', arms: [withOutlier, plain] }],
      options: { sequential: true, chanceToBeBest: true },
    });
    // assert
    const metric = analysis.metrics[0]!;
    const comparison = metric.comparisons[0]!;
    expect(comparison.sequential!.pValue).toBeGreaterThan(0.9);
    expect(comparison.bayesian.chanceToWin).toBeCloseTo(0.1587, 3);
    expect(comparison.bayesian.ci).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect(metric.arms[1]!.chanceToBeBest).toBeCloseTo(comparison.bayesian.chanceToWin, 12);
    expect(metric.arms[0]!.chanceToBeBest).toBeCloseTo(1 - comparison.bayesian.chanceToWin, 12);
  });
});

describe('relative Bayesian result with the outlier in the treatment (mirror case)', () => {
  it('gives the difference’s chance to win and an interval that holds 0, as the test', () => {
    // prepare
    const { mean, sd } = differencePosterior(plain, withOutlier);
    // act
    const bayes = bayesianTest(plain, withOutlier);
    const welch = frequentistTest(plain, withOutlier);
    // assert: lift +50,000%, p = 0.32: chance to win Φ(1) ≈ 0.84, and 0 inside both intervals
    expect(welch.effect).toBeCloseTo(500, 6);
    expect(bayes.effect).toBe(welch.effect);
    expect(bayes.chanceToWin).toBeCloseTo(normalCdf(mean / sd), 12);
    expect(bayes.chanceToWin).toBeCloseTo(0.8413, 3);
    expect(bayes.ci[0]).toBeLessThan(0);
    expect(bayes.ci[1]).toBeGreaterThan(500);
    expect(Number.isFinite(bayes.ci[1])).toBe(true);
  });

  it('does not go below −100% for a non-negative metric', () => {
    // act
    const plainInterval = bayesianTest(plain, withOutlier).ci;
    const cut = bayesianTest(plain, withOutlier, { nonNegative: true }).ci;
    // assert: the treatment mean is one standard error from 0, so the uncut interval reaches below −1
    expect(plainInterval[0]).toBeLessThan(-1);
    expect(cut).toEqual([-1, plainInterval[1]]);
  });
});

/** Non-negative counts (geometric with the given mean), optionally with one outlier unit. */
function countArm(next: () => number, n: number, mean: number, outlier: number | null): SampleStats {
  const values: number[] = [];
  const p = 1 / (1 + mean);
  for (let i = 0; i < n; i++) {
    values.push(Math.floor(Math.log(1 - next()) / Math.log(1 - p)));
  }
  if (outlier !== null) {
    values[0] = outlier;
  }
  return statsOf(values);
}

describe('the Bayesian lift agrees with the frequentist test (seeded sweep)', () => {
  /**
   * With a flat prior, 2·min(chanceToWin, 1 − chanceToWin) is the two-sided p-value of the Welch
   * statistic referred to the normal instead of Student's t: it never exceeds the Welch p-value, and
   * when p > 0.2 with ν ≥ 2 degrees of freedom (so |t| < 1.89) it is above 0.05, so the chance to win
   * stays inside [α/2, 1 − α/2] for α = 0.05 — no "certain" winner or loser the test does not see.
   * (Below 2 degrees of freedom, one arm of a few units carrying all the variance, Student's tails
   * are far heavier than the normal's and only the first bound applies.) The credible
   * interval holds 0 exactly when the chance to win is in that range, has an open end only where
   * the test's Fieller interval has one (t ≥ z), and never goes below −100% for counts.
   */
  it('never disagrees wildly, with outliers in either arm or none', () => {
    // prepare
    const next = random(20261206);
    const alpha = 0.05;
    const failures: string[] = [];
    let compared = 0;
    let unbounded = 0;
    // act
    for (let i = 0; i < 400; i++) {
      const size = (): number => Math.round(Math.exp(Math.log(2) + next() * Math.log(3000 / 2)));
      const mean = Math.exp(Math.log(0.01) + next() * Math.log(500));
      const outlier = Math.round(Math.exp(Math.log(10) + next() * Math.log(1e6)));
      const where = i % 3;
      const control = countArm(next, size(), mean, where === 0 ? outlier : null);
      const treatment = countArm(next, size(), mean * Math.exp(0.2 * (next() - 0.5)), where === 1 ? outlier : null);
      const welch = frequentistTest(control, treatment, { alpha });
      const bayes = bayesianTest(control, treatment, { alpha, nonNegative: true });
      const prior = bayesianTest(control, treatment, { alpha, nonNegative: true, prior: { mean: 0, variance: 0.3 ** 2 } });
      if (welch.error !== undefined || bayes.error !== undefined) {
        if ((welch.error === undefined) !== (bayes.error === undefined)) {
          failures.push(`${i}: error in only one of the tests`);
        }
        continue;
      }
      compared++;
      const tail = 2 * Math.min(bayes.chanceToWin, 1 - bayes.chanceToWin);
      const holdsZero = bayes.ci[0] <= 0 && bayes.ci[1] >= 0;
      const inRange = bayes.chanceToWin >= alpha / 2 && bayes.chanceToWin <= 1 - alpha / 2;
      const open = !bayes.ci.every(Number.isFinite);
      unbounded += open ? 1 : 0;
      const checks: [string, boolean][] = [
        ['finite numbers', [bayes.effect, bayes.se, bayes.chanceToWin, ...bayes.risk].every(Number.isFinite) && !bayes.ci.some(Number.isNaN)],
        ['tail ≤ Welch p', tail <= welch.pValue + 1e-12],
        ['p > 0.2 ⇒ chance in [α/2, 1 − α/2]', !(welch.pValue > 0.2 && welch.df >= 2) || inRange],
        ['interval holds 0 ⇔ chance in [α/2, 1 − α/2]', holdsZero === inRange],
        ['open only where Fieller is open', !open || !welch.ci.every(Number.isFinite)],
        ['not below −100%', bayes.ci[0] >= -1 && bayes.ci[0] <= bayes.ci[1]],
        ['risk ≥ 0', bayes.risk.every((r) => r >= 0)],
        ['prior: finite and ordered', prior.error === undefined && [prior.effect, prior.se, prior.chanceToWin, ...prior.risk, ...prior.ci].every(Number.isFinite) && prior.ci[0] >= -1 && prior.ci[0] <= prior.ci[1]],
      ];
      for (const [label, ok] of checks) {
        if (!ok) {
          failures.push(`${i}: ${label} (p ${welch.pValue}, chance ${bayes.chanceToWin}, ci ${bayes.ci.join(', ')}, welch ci ${welch.ci.join(', ')})`);
        }
      }
    }
    // assert: most cases compared (the rest: an arm of zeros, refused by both), some with an open interval (the outlier-in-control regime)
    expect(failures).toEqual([]);
    expect(compared).toBeGreaterThan(300);
    expect(unbounded).toBeGreaterThan(10);
  });
});

describe('lift posterior with an informative prior: numerics', () => {
  it('takes the truncated normal moments from their series far in the tail (mpmath, 50 digits)', () => {
    // prepare: ln(kΦ(k) + φ(k)) and ln((k² + 1)Φ(k) + kφ(k)) at w = 1
    const reference: [number, number, number][] = [
      [-20.5, -217.09186837038313, -219.42619326167482],
      [-25, -319.86146358149595, -322.39195060060263],
      [-40, -808.29856835661996, -811.29616922193427],
      [-100, -5010.1295788002498, -5014.0419016408308],
    ];
    // act / assert
    for (const [k, first, second] of reference) {
      expect(Math.abs(logTruncatedMoment(k, 1, 1) - first)).toBeLessThan(1e-12 * Math.abs(first));
      expect(Math.abs(logTruncatedMoment(k, 1, 2) - second)).toBeLessThan(1e-12 * Math.abs(second));
    }
  });

  it('tends to the flat answer as the prior widens, when the control is precise', () => {
    // prepare: 5,000 units per arm, conversions 10% vs 10.6%
    const control: SampleStats = { n: 5000, sum: 500, sumSquares: 500 };
    const treatment: SampleStats = { n: 5000, sum: 530, sumSquares: 530 };
    // act
    const flat = bayesianTest(control, treatment, { statisticType: 'proportion' });
    const wide = bayesianTest(control, treatment, { statisticType: 'proportion', prior: { mean: 0, variance: 1e4 } });
    // assert
    expect(wide.chanceToWin).toBeCloseTo(flat.chanceToWin, 3);
    expect(wide.ci[0]).toBeCloseTo(flat.ci[0], 2);
    expect(wide.ci[1]).toBeCloseTo(flat.ci[1], 2);
    expect(wide.risk[1]).toBeCloseTo(flat.risk[1], 3);
  });
});

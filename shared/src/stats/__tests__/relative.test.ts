import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import { frequentistTest } from '../frequentist.js';
import type { FrequentistOptions, FrequentistResult } from '../frequentist.js';
import { power, sampleSize } from '../power.js';
import { seededRandom as mulberry32 } from '../../random.js';
import type { Alternative, SampleStats } from '../types.js';

/** Binomial(n, p) by inversion of the CDF from 0 (fast for the small means used here). */
function binomial(random: () => number, n: number, p: number): number {
  const u = random();
  let pk = (1 - p) ** n;
  let cdf = pk;
  let k = 0;
  while (u > cdf && k < n) {
    pk *= ((n - k) / (k + 1)) * (p / (1 - p));
    k++;
    cdf += pk;
  }
  return k;
}

const conversions = (sum: number, n: number): SampleStats => ({ n, sum, sumSquares: sum });
const proportion = { statisticType: 'proportion' } as const;

describe('relative lift: A/A false-positive rates (seeded simulations)', () => {
  it('keeps the fixed-horizon relative FPR near 5% at 2000/arm, p = 0.5% (the delta method gave 8.6%)', () => {
    // prepare: 3000 A/A experiments; Monte-Carlo SE of a 5% rate is 0.4%, so [3.5%, 6.5%] is ±3.8 SE
    const random = mulberry32(20240611);
    const reps = 3000;
    let rejected = 0;
    let agreeWithAbsolute = 0;
    // act
    for (let i = 0; i < reps; i++) {
      const c = conversions(binomial(random, 2000, 0.005), 2000);
      const t = conversions(binomial(random, 2000, 0.005), 2000);
      const relative = frequentistTest(c, t, proportion);
      const absolute = frequentistTest(c, t, { ...proportion, difference: 'absolute' });
      if (relative.error === undefined && relative.pValue < 0.05) {
        rejected++;
      }
      if (relative.pValue === absolute.pValue) {
        agreeWithAbsolute++;
      }
    }
    // assert
    const fpr = rejected / reps;
    expect(fpr).toBeGreaterThan(0.035);
    expect(fpr).toBeLessThan(0.065);
    expect(agreeWithAbsolute).toBe(reps);
  });

  it('keeps the sequential relative any-look FPR within 5% + 3 SE at p = 1%, 200/arm per look, 50 looks (was 11.5%)', () => {
    // prepare: 1000 runs; 5% + 3·√(0.05·0.95/1000) = 7.07%
    const random = mulberry32(7);
    const runs = 1000;
    let rejected = 0;
    // act
    for (let run = 0; run < runs; run++) {
      let cc = 0;
      let ct = 0;
      for (let look = 1; look <= 50; look++) {
        cc += binomial(random, 200, 0.01);
        ct += binomial(random, 200, 0.01);
        const result = frequentistTest(conversions(cc, 200 * look), conversions(ct, 200 * look), { ...proportion, sequential: true });
        if (result.error === undefined && result.pValue < 0.05) {
          rejected++;
          break;
        }
      }
    }
    // assert
    expect(rejected / runs).toBeLessThanOrEqual(0.05 + 3 * Math.sqrt((0.05 * 0.95) / runs));
  });
});

/** Whether an interval excludes 0. */
const excludesZero = (r: FrequentistResult): boolean => r.ci[0] > 0 || r.ci[1] < 0;

describe('relative lift: the test of equal means and the Fieller interval', () => {
  it('gives the same p-value with the arms swapped and equal to the absolute test (14/1000 vs 4/1000)', () => {
    // prepare
    const high = conversions(14, 1000);
    const low = conversions(4, 1000);
    for (const sequential of [false, true]) {
      // act
      const down = frequentistTest(high, low, { ...proportion, sequential });
      const up = frequentistTest(low, high, { ...proportion, sequential });
      const absolute = frequentistTest(high, low, { ...proportion, sequential, difference: 'absolute' });
      // assert
      expect(down.pValue).toBe(up.pValue);
      expect(down.pValue).toBe(absolute.pValue);
      expect(down.statistic).toBe(-up.statistic);
      expect(down.statistic).toBe(absolute.statistic);
    }
  });

  it('matches an independent Fieller calculation (numpy.roots in ratio space, scipy t quantile)', () => {
    // Reference values from /usr/bin/env python3 with scipy 1.17 (the quadratic in r = μT/μC,
    // (mT − r·mC)² = t²·(vT + r²·vC), solved by numpy.roots, L = r − 1; t = scipy.stats.t.isf(α/2, Welch df)):
    //   mc, vc = 0.014, 0.014*0.986/1000; mt, vt = 0.004, 0.004*0.996/1000
    //   df = (vc+vt)**2/(vc*vc/999+vt*vt/999); c = stats.t.isf(0.025, df)
    //   np.roots([mc*mc - c*c*vc, -2*mt*mc, mt*mt - c*c*vt]) - 1
    // act
    const down = frequentistTest(conversions(14, 1000), conversions(4, 1000), proportion);
    const up = frequentistTest(conversions(4, 1000), conversions(14, 1000), proportion);
    const less = frequentistTest(conversions(14, 1000), conversions(4, 1000), { ...proportion, alternative: 'less' });
    // assert
    expect(down.effect).toBeCloseTo(-10 / 14, 14);
    expect(down.pValue).toBeCloseTo(0.017861912867271162, 12); // scipy ttest_ind_from_stats, Welch
    expect(down.ci[0]).toBeCloseTo(-0.9939587400736793, 10);
    expect(down.ci[1]).toBeCloseTo(-0.22221373184946713, 10);
    expect(up.effect).toBeCloseTo(2.5, 14);
    expect(up.ci[0]).toBeCloseTo(0.2857002507615114, 10);
    expect(up.ci[1]).toBeCloseTo(164.52838517064674, 6);
    // one-sided: t.isf(0.05, df), the upper root only
    expect(less.pValue).toBeCloseTo(0.008930956433635581, 12);
    expect(less.ci[0]).toBe(Number.NEGATIVE_INFINITY);
    expect(less.ci[1]).toBeCloseTo(-0.3439017428687481, 10);
  });

  it('matches the closed form written out here on a mean metric with a negative control mean', () => {
    // prepare: control mean −10, treatment −9, variances of the means 0.04 and 0.09 (n = 100 each)
    const arm = (mean: number, variance: number, n: number): SampleStats => ({ n, sum: mean * n, sumSquares: mean * mean * n + variance * (n - 1) });
    const control = arm(-10, 4, 100);
    const treatment = arm(-9, 9, 100);
    // act
    const result = frequentistTest(control, treatment, { sequential: true });
    const absolute = frequentistTest(control, treatment, { sequential: true, difference: 'absolute' });
    // assert: with s = −1, r = 1 − L; the boundary c is the one the absolute sequence uses, recovered
    // from its half-width / se. Roots of (mT − r·mC)² = c²(vT + r²vC) by the textbook formula.
    const c = (absolute.ci[1] - absolute.effect) / absolute.se;
    const [mC, mT, vC, vT] = [-10, -9, 0.04, 0.09];
    const qa = mC * mC - c * c * vC;
    const qb = -2 * mT * mC;
    const qc = mT * mT - c * c * vT;
    const roots = [(-qb - Math.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa), (-qb + Math.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)];
    const lifts = roots.map((r) => 1 - r).sort((x, y) => x - y);
    expect(result.effect).toBeCloseTo(0.1, 12);
    expect(result.ci[0]).toBeCloseTo(lifts[0]!, 10);
    expect(result.ci[1]).toBeCloseTo(lifts[1]!, 10);
    expect(result.pValue).toBe(absolute.pValue);
  });

  it('reports unbounded ends (never NaN) when the control mean is not distinguishable from zero', () => {
    // act: 1 control conversion in 1000. Against 2: the set is the whole line (p = 0.56).
    const whole = frequentistTest(conversions(1, 1000), conversions(2, 1000), proportion);
    // Against 20: (−∞, −20.81] ∪ [4.756, ∞) (numpy.roots as above); 0 lies between the rays and
    // p = 3.06e-5, so the ray holding the estimate (19) is reported.
    const ray = frequentistTest(conversions(1, 1000), conversions(20, 1000), proportion);
    const sequential = frequentistTest(conversions(1, 1000), conversions(2, 1000), { ...proportion, sequential: true });
    // assert
    expect(whole.error).toBeUndefined();
    expect(whole.ci).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect(whole.pValue).toBeCloseTo(0.5634498783413213, 12);
    expect(ray.error).toBeUndefined();
    expect(ray.ci[0]).toBeCloseTo(4.756093323905772, 9);
    expect(ray.ci[1]).toBe(Number.POSITIVE_INFINITY);
    expect(ray.pValue).toBeCloseTo(3.0616336051907926e-5, 15);
    expect(sequential.ci).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    for (const r of [whole, ray, sequential]) {
      expect([r.effect, r.se, r.pValue, r.statistic, ...r.ci].some(Number.isNaN)).toBe(false);
    }
  });

  it('excludes 0 from the interval exactly when p < α, and is symmetric under swapping, over random cases', () => {
    // prepare
    const random = mulberry32(99);
    const alternatives: Alternative[] = ['two-sided', 'greater', 'less'];
    const mirror: Record<Alternative, Alternative> = { 'two-sided': 'two-sided', greater: 'less', less: 'greater' };
    let checked = 0;
    let unbounded = 0;
    const failures: string[] = [];
    // act
    for (let i = 0; i < 3000; i++) {
      const n1 = 20 + Math.floor(random() * 3000);
      const n2 = 20 + Math.floor(random() * 3000);
      const rate = 0.0005 + random() * 0.05;
      const c = conversions(Math.max(1, binomial(random, n1, rate)), n1);
      const t = conversions(Math.max(1, binomial(random, n2, rate * (0.5 + random()))), n2);
      const options: FrequentistOptions = {
        ...proportion,
        alternative: alternatives[i % 3]!,
        alpha: [0.05, 0.1, 0.01][i % 5 % 3]!,
        sequential: i % 2 === 0,
      };
      const r = frequentistTest(c, t, options);
      const swapped = frequentistTest(t, c, { ...options, alternative: mirror[options.alternative!] });
      const absolute = frequentistTest(c, t, { ...options, difference: 'absolute' });
      if (r.error !== undefined) {
        continue;
      }
      checked++;
      if (!r.ci.every(Number.isFinite)) {
        unbounded++;
      }
      if (excludesZero(r) !== r.pValue < options.alpha!) {
        failures.push(`${i}: ci ${r.ci.join(', ')} p ${r.pValue}`);
      }
      if (r.pValue !== swapped.pValue || r.pValue !== absolute.pValue || r.ci.some(Number.isNaN)) {
        failures.push(`${i}: p ${r.pValue} swapped ${swapped.pValue} absolute ${absolute.pValue}`);
      }
      if (!(r.ci[0] <= r.effect && r.effect <= r.ci[1])) {
        failures.push(`${i}: estimate ${r.effect} outside ${r.ci.join(', ')}`);
      }
    }
    // assert
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(2900);
    expect(unbounded).toBeGreaterThan(0);
  });

  it('keeps the adjusted interval around the interval and in agreement with the adjusted p-value', () => {
    // prepare: 3 treatments on a low-rate conversion metric, Holm across them
    const random = mulberry32(3);
    const failures: string[] = [];
    for (let rep = 0; rep < 200; rep++) {
      const arms = [0, 1, 2, 3].map(() => conversions(Math.max(1, binomial(random, 3000, 0.004 + 0.003 * random())), 3000));
      // act
      const analysis = analyzeExperiment({
        variations: ['c', 't1', 't2', 't3'].map((key) => ({ key, weight: 1, units: 3000 })),
        metrics: [{ key: 'conv', type: 'proportion', arms }],
        options: { sequential: true },
      });
      // assert
      for (const comparison of analysis.metrics[0]!.comparisons) {
        for (const r of [comparison.frequentist, comparison.sequential!]) {
          if (r.error !== undefined) {
            continue;
          }
          const contains = r.adjustedCi[0] <= r.ci[0] && r.ci[1] <= r.adjustedCi[1];
          const agrees = (r.adjustedCi[0] > 0 || r.adjustedCi[1] < 0) === r.adjustedPValue < r.alpha;
          if (!contains || !agrees) {
            failures.push(`${rep} ${r.method}: ci ${r.ci.join(', ')} adjusted ${r.adjustedCi.join(', ')} p ${r.pValue} → ${r.adjustedPValue}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('relative lift of a non-negative metric: never below −100%', () => {
  // A heavy control and a treatment whose mean is within c standard errors of 0 (three units with
  // large counts among 40): Fieller's set reaches below −100%, which no count metric's lift can.
  const control: SampleStats = { n: 2000, sum: 2000, sumSquares: 6000 };
  const treatment: SampleStats = { n: 40, sum: 6, sumSquares: 30 };

  it('floors both tests, the adjusted and the Bayesian interval at −1 when the metric is nonNegative, and keeps the rest', () => {
    // prepare: the same arms unmarked go below −1
    const open = frequentistTest(control, treatment, {});
    expect(open.ci[0]).toBeLessThan(-1);
    // act
    const analyze = (nonNegative: boolean) =>
      analyzeExperiment({
        variations: ['c', 't1', 't2'].map((key) => ({ key, weight: 1, units: 2000 })),
        metrics: [{ key: 'orders', type: 'mean', nonNegative, arms: [control, treatment, { n: 2000, sum: 2100, sumSquares: 6300 }] }],
        options: { sequential: true },
      }).metrics[0]!.comparisons[0]!;
    const floored = analyze(true);
    const unmarked = analyze(false);
    // assert
    expect(unmarked.frequentist.ci).toEqual(open.ci);
    for (const r of [floored.frequentist, floored.sequential!]) {
      expect(r.ci[0]).toBe(-1);
      expect(r.adjustedCi[0]).toBe(-1);
    }
    expect(floored.bayesian.ci[0]).toBe(-1);
    expect(floored.frequentist.ci[1]).toBe(open.ci[1]);
    expect([floored.frequentist.effect, floored.frequentist.pValue]).toEqual([open.effect, open.pValue]);
    expect(frequentistTest(control, treatment, { nonNegative: true }).ci).toEqual([-1, open.ci[1]]);
  });
});

describe('relative lift: power and sample size', () => {
  it('plans a lift L at mean μ exactly as the absolute effect L·|μ| (the test now run on a lift)', () => {
    for (const [lift, mean, variance] of [
      [0.3, 1, 1],
      [0.1, 0.2, 0.16],
      [-0.05, -4, 9],
    ] as const) {
      const alternative = lift > 0 ? 'greater' : 'less';
      for (const options of [{}, { alternative }, { sequential: true }] as const) {
        const relative = sampleSize({ effect: lift, mean, variance, ...options });
        const absolute = sampleSize({ effect: lift * Math.abs(mean), mean, variance, difference: 'absolute', ...options });
        expect(relative.controlExact).toBeCloseTo(absolute.controlExact, 6);
        const p = power({ n: 500, effect: lift, mean, variance, ...options });
        const q = power({ n: 500, effect: lift * Math.abs(mean), mean, variance, difference: 'absolute', ...options });
        expect(p.power).toBeCloseTo(q.power, 12);
        expect(p.mde * Math.abs(mean)).toBeCloseTo(q.mde, 12);
      }
    }
  });
});

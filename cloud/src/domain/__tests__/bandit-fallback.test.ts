/**
 * The bandit's chance to be best where the results give none on a count, sum or ratio metric (an arm
 * without variance): the pooled variance of the arms that vary, and the stratified arms it reads.
 */
import { describe, expect, it } from 'vitest';
import { chanceToBeBest, isStatsError, metricSchema } from '@xp/shared';
import type { RatioStats } from '@xp/shared';
import { pooledVarianceChances, ratioMoments } from '../bandit.js';
import { stratifiedArms } from '../guardrails.js';
import type { PeriodStatisticsRow } from '../../pipeline/sufficient-statistics.js';

const arm = (n: number, mean: number, variance: number): { n: number; mean: number; variance: number } => ({ n, mean, variance });

describe('pooledVarianceChances', () => {
  it('gives an arm without variance the pooled variance of the arms that have one', () => {
    // The control: no event in 200 units. The treatments: 0.3 and 0.25 events per unit.
    const chances = pooledVarianceChances([arm(200, 0, 0), arm(200, 0.3, 0.5), arm(100, 0.25, 0.8)], true)!;

    const pooled = (199 * 0.5 + 99 * 0.8) / 298;
    const v = [pooled / 200, 0.5 / 200, 0.8 / 100];
    const expected = chanceToBeBest(
      [1, 2].map((k) => ({ mean: [0, 0.3, 0.25][k]!, sd: Math.sqrt(v[0]! + v[k]!), controlLoading: -Math.sqrt(v[0]!) / Math.sqrt(v[0]! + v[k]!) })),
      false,
    );
    if (isStatsError(expected)) {
      throw new Error(expected.message);
    }
    expect(chances).toHaveLength(3);
    chances.forEach((p, i) => {
      expect(p).toBeCloseTo(expected[i]!, 12);
    });
    expect(chances.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(chances[0]).toBeLessThan(0.01);
    expect(chances[1]).toBeGreaterThan(chances[2]!);
  });

  it('favours the arm without events when fewer is better, and keeps some chance for the others', () => {
    const chances = pooledVarianceChances([arm(150, 0.1, 0.2), arm(150, 0, 0)], false)!;

    expect(chances[1]).toBeGreaterThan(0.9);
    expect(chances[0]).toBeGreaterThan(0);
  });

  it('leaves arms that all vary as the normal posteriors give them (no pooling)', () => {
    const chances = pooledVarianceChances([arm(400, 1, 1), arm(400, 1.1, 4)], true)!;
    const sd = Math.sqrt(1 / 400 + 4 / 400);

    const expected = chanceToBeBest([{ mean: 0.1, sd, controlLoading: -Math.sqrt(1 / 400) / sd }]);

    expect(isStatsError(expected) ? undefined : expected[1]).toBeCloseTo(chances[1]!, 12);
  });

  it('when no arm varies: the best mean takes the chance, and equal means keep the split (undefined)', () => {
    expect(pooledVarianceChances([arm(200, 0, 0), arm(200, 1, 0), arm(200, 1, 0)], true)).toEqual([0, 0.5, 0.5]);
    expect(pooledVarianceChances([arm(200, 0, 0), arm(200, 1, 0)], false)).toEqual([1, 0]);
    expect(pooledVarianceChances([arm(200, 0, 0), arm(200, 0, 0)], true)).toBeUndefined();
  });

  it('gives nothing for an arm of fewer than 2 units or a number that is not finite', () => {
    expect(pooledVarianceChances([arm(1, 0, 0), arm(200, 0.3, 0.5)], true)).toBeUndefined();
    expect(pooledVarianceChances([arm(200, Number.NaN, 0), arm(200, 0.3, 0.5)], true)).toBeUndefined();
    expect(pooledVarianceChances([], true)).toBeUndefined();
  });
});

describe('ratioMoments', () => {
  it('is the ratio of the means and the delta-method variance per unit', () => {
    // 4 units: numerators 1, 2, 3, 6; denominators 2, 2, 4, 4.
    const x = [1, 2, 3, 6];
    const d = [2, 2, 4, 4];
    const stats: RatioStats = {
      n: 4,
      numerator: { sum: 12, sumSquares: x.reduce((s, v) => s + v * v, 0) },
      denominator: { sum: 12, sumSquares: d.reduce((s, v) => s + v * v, 0) },
      sumProducts: x.reduce((s, v, i) => s + v * d[i]!, 0),
    };
    const r = 1;
    // The linearised values (x − r·d) / d̄ and their sample variance.
    const lin = x.map((v, i) => (v - r * d[i]!) / 3);
    const mean = lin.reduce((a, b) => a + b, 0) / 4;
    const variance = lin.reduce((s, v) => s + (v - mean) ** 2, 0) / 3;

    const m = ratioMoments(stats)!;

    expect(m.mean).toBeCloseTo(1, 12);
    expect(m.variance).toBeCloseTo(variance, 12);
    expect(m.n).toBe(4);
  });

  it('is 0 for an arm whose numerators are all 0, undefined for a denominator of 0', () => {
    const flat: RatioStats = { n: 3, numerator: { sum: 0, sumSquares: 0 }, denominator: { sum: 6, sumSquares: 14 }, sumProducts: 0 };
    expect(ratioMoments(flat)).toEqual({ n: 3, mean: 0, variance: 0 });
    expect(ratioMoments({ ...flat, denominator: { sum: 0, sumSquares: 0 } })).toBeUndefined();
  });
});

describe('stratifiedArms', () => {
  const sum = metricSchema.parse({ key: 'm', name: 'M', type: 'sum', event: 'e', property: 'v' });
  const row = (period: number, variation: string, n: number, total: number, squares: number): PeriodStatisticsRow => ({
    period,
    variation,
    metric: 'm',
    n,
    sum: String(total),
    sumSquares: String(squares),
    preSum: '0',
    preSumSquares: '0',
    sumProducts: '0',
    denominatorSum: '0',
    denominatorSumSquares: '0',
    numeratorDenominatorProducts: '0',
  });

  it('compares each phase within itself: a drift between phases with equal arms in each gives equal means', () => {
    // Phase 0: both arms 10 per unit (±1); phase 1: both 20 (±1), the treatment with most units.
    const rows = [row(0, 'control', 100, 1000, 100 * 101), row(0, 'treatment', 100, 1000, 100 * 101), row(1, 'control', 20, 400, 20 * 401), row(1, 'treatment', 180, 3600, 180 * 401)];

    const arms = stratifiedArms(sum, rows, ['control', 'treatment'])!;

    expect(arms.map((a) => a.n)).toEqual([120, 280]);
    const means = arms.map((a) => a.moments!.mean);
    // π = 200/400 each: 0.5 × 10 + 0.5 × 20 for both (pooled, the treatment would be 18.57).
    expect(means[0]).toBeCloseTo(15, 10);
    expect(means[1]).toBeCloseTo(15, 10);
  });

  it('leaves out a phase in which a variation has fewer than 2 units, and is one phase unchanged', () => {
    const rows = [row(0, 'control', 100, 1000, 100 * 101), row(0, 'treatment', 100, 1200, 100 * 145), row(1, 'control', 1, 50, 2500), row(1, 'treatment', 50, 500, 50 * 101)];

    const arms = stratifiedArms(sum, rows, ['control', 'treatment'])!;

    expect(arms.map((a) => a.n)).toEqual([100, 100]);
    expect(arms[1]!.moments!.mean).toBeCloseTo(12, 12);
    expect(stratifiedArms(sum, [row(0, 'control', 1, 5, 25), row(0, 'treatment', 50, 500, 5050)], ['control', 'treatment'])).toBeUndefined();
  });
});

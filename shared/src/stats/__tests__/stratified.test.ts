/**
 * Post-stratification by phase: the weights, and the equivalent inputs checked against estimates
 * computed here from the per-unit values (plain arithmetic, not the module's formulas).
 */
import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import type { MetricAnalysisInput } from '../analyze.js';
import { StatsErrorCode } from '../errors.js';
import { stratifyMetric, stratumWeights } from '../stratified.js';
import type { Stratum } from '../stratified.js';
import type { CupedCovariate, RatioStats, SampleStats } from '../types.js';
import { DifferenceType } from '../types.js';
import { seededRandom } from '../../random.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]): number => sum(xs) / xs.length;
/** Sample variance (n − 1). */
const variance = (xs: readonly number[]): number => sum(xs.map((x) => (x - mean(xs)) ** 2)) / (xs.length - 1);
/**
 * Var of Σπ·x̄ over strata with the arm's pooled within-stratum variance: Σ(n − 1)·s² / Σ(n − 1) times
 * Σπ²/n (each stratum's values of the arm, its weight π).
 */
const pooledVarMean = (strata: readonly (readonly number[])[], pi: readonly number[]): number =>
  (sum(strata.map((xs) => (xs.length - 1) * variance(xs))) / sum(strata.map((xs) => xs.length - 1))) * sum(strata.map((xs, p) => pi[p]! ** 2 / xs.length));
const cov = (xs: readonly number[], ys: readonly number[]): number => sum(xs.map((x, i) => (x - mean(xs)) * (ys[i]! - mean(ys)))) / (xs.length - 1);
const stats = (xs: readonly number[]): SampleStats => ({ n: xs.length, sum: sum(xs), sumSquares: sum(xs.map((x) => x * x)) });

/** Values of one arm in one stratum: normal-ish around `centre`. */
function values(random: () => number, n: number, centre: number, spread: number): number[] {
  return Array.from({ length: n }, () => centre + spread * (random() + random() + random() - 1.5));
}

const twoArms = [
  { key: 'control', weight: 1, units: 0 },
  { key: 'treatment', weight: 1, units: 0 },
];

describe('stratumWeights', () => {
  it("weights each stratum by its share of the units, leaves out one where an arm has fewer than 2, ignores an empty one", () => {
    const w = stratumWeights([
      [30, 10],
      [0, 0],
      [5, 1],
      [20, 40],
    ]);
    expect(w.weights).toEqual([40 / 100, 0, 0, 60 / 100]);
    expect(w.used).toBe(2);
    expect(w.dropped).toEqual([2]);
    expect(w.droppedUnits).toBe(6);
  });

  it('uses no stratum when none has two units in every arm', () => {
    const w = stratumWeights([[1, 9], [0, 3]]);
    expect(w.weights).toEqual([0, 0]);
    expect(w.used).toBe(0);
    expect(w.droppedUnits).toBe(13);
  });
});

describe('stratifyMetric', () => {
  it("combines the strata of a mean metric into Σπ·x̄ and s²·Σπ²/n (s² the arm's pooled within-stratum variance), which the Welch test then uses", () => {
    const random = seededRandom(7);
    // Stratum 1: 300 / 100 units around 10; stratum 2: 100 / 500 units around 2; the treatment +0.5 in both.
    const data = [
      [values(random, 300, 10, 4), values(random, 100, 10.5, 4)],
      [values(random, 100, 2, 1), values(random, 500, 2.5, 1)],
    ];
    const units = data.map((arms) => arms.map((xs) => xs.length));
    const { weights } = stratumWeights(units);
    const strata = data.map((arms, p): Stratum => ({ input: { key: 'm', type: 'mean', arms: arms.map(stats) }, weight: weights[p]! }));
    const input = stratifyMetric(strata);

    // Independently: π = 400 / 1000 and 600 / 1000.
    const pi = [0.4, 0.6];
    const expected = [0, 1].map((k) => ({
      mean: pi[0]! * mean(data[0]![k]!) + pi[1]! * mean(data[1]![k]!),
      varMean: pooledVarMean([data[0]![k]!, data[1]![k]!], pi),
    }));
    const analysis = analyzeExperiment({ variations: twoArms, metrics: [input], options: { difference: DifferenceType.Absolute } });
    const m = analysis.metrics[0]!;
    expect(m.arms.map((a) => a.n)).toEqual([400, 600]);
    expect(m.arms[0]!.mean).toBeCloseTo(expected[0]!.mean, 12);
    expect(m.arms[1]!.mean).toBeCloseTo(expected[1]!.mean, 12);
    const f = m.comparisons[0]!.frequentist;
    expect(f.error).toBeUndefined();
    expect(f.effect).toBeCloseTo(expected[1]!.mean - expected[0]!.mean, 12);
    expect(f.se).toBeCloseTo(Math.sqrt(expected[0]!.varMean + expected[1]!.varMean), 12);
    // The true +0.5 is found; pooled, the arms' different mixes of the strata would swamp it.
    expect(f.effect).toBeGreaterThan(0.3);
    expect(f.effect).toBeLessThan(0.7);
    const pooled = analyzeExperiment({
      variations: twoArms,
      metrics: [{ key: 'm', type: 'mean', arms: [0, 1].map((k) => stats([...data[0]![k]!, ...data[1]![k]!])) }],
      options: { difference: DifferenceType.Absolute },
    });
    expect(pooled.metrics[0]!.comparisons[0]!.frequentist.effect).toBeLessThan(-3);
  });

  it("finds no effect in the A/A test of docs/statistics.md that pooling calls a 46% loss (a proportion: p(1 − p) per stratum)", () => {
    // 50/25/25 for 1,200 units converting 30%, then 20/20/60 for 1,200 converting 5%: control vs the third arm.
    const conv = (n: number, rate: number): SampleStats => ({ n, sum: n * rate, sumSquares: n * rate });
    const strata: MetricAnalysisInput[] = [
      { key: 'c', type: 'proportion', arms: [conv(600, 0.3), conv(300, 0.3)] },
      { key: 'c', type: 'proportion', arms: [conv(240, 0.05), conv(720, 0.05)] },
    ];
    const { weights } = stratumWeights([
      [600, 300],
      [240, 720],
    ]);
    const input = stratifyMetric(strata.map((s, p) => ({ input: s, weight: weights[p]! })));
    expect(input.type).toBe('mean');
    expect(input.nonNegative).toBe(true);
    const c = analyzeExperiment({ variations: twoArms, metrics: [input] }).metrics[0]!.comparisons[0]!;
    expect(c.frequentist.effect).toBeCloseTo(0, 12);
    expect(c.frequentist.pValue).toBeGreaterThan(0.99);
    // The pooled p(1 − p) (weighted by n − 1) times Σπ²/n with π = 900/1860 and 960/1860, per arm.
    const pi = [900 / 1860, 960 / 1860];
    const varMean = (n0: number, n1: number): number => (((n0 - 1) * 0.3 * 0.7 + (n1 - 1) * 0.05 * 0.95) / (n0 + n1 - 2)) * (pi[0]! ** 2 / n0 + pi[1]! ** 2 / n1);
    const m = pi[0]! * 0.3 + pi[1]! * 0.05;
    expect(c.frequentist.se).toBeCloseTo(Math.sqrt(varMean(600, 240) + varMean(300, 720)) / m, 12);
    const pooled = analyzeExperiment({ variations: twoArms, metrics: [{ key: 'c', type: 'proportion', arms: [conv(840, 222 / 840), conv(1020, 126 / 1020)] }] });
    expect(pooled.metrics[0]!.comparisons[0]!.frequentist.pValue).toBeLessThan(1e-6);
  });

  it('takes no certainty from a heavy phase in which an arm had a handful of units and no conversion (an arm held at its floor)', () => {
    // A/A at 5%: 500 / 500 units, then a phase in which the control got 10 units (none converted) and the other 990.
    const conv = (n: number, conversions: number): SampleStats => ({ n, sum: conversions, sumSquares: conversions });
    const strata: MetricAnalysisInput[] = [
      { key: 'c', type: 'proportion', arms: [conv(500, 25), conv(500, 25)] },
      { key: 'c', type: 'proportion', arms: [conv(10, 0), conv(990, 50)] },
    ];
    const { weights } = stratumWeights([
      [500, 500],
      [10, 990],
    ]);
    const input = stratifyMetric(strata.map((st, p) => ({ input: st, weight: weights[p]! })));
    const f = analyzeExperiment({ variations: twoArms, metrics: [input], options: { difference: DifferenceType.Absolute } }).metrics[0]!.comparisons[0]!.frequentist;
    // Each stratum's own p(1 − p) would give the control's 10 units a variance of 0 with half the weight: z ≈ 3.2, p ≈ 0.001.
    // Pooled: the control's 0.0467·(0.25/500 + 0.25/10), an se of the difference near 0.035.
    expect(f.effect).toBeCloseTo(0.5 * 0.05 + 0.5 * (50 / 990) - 0.025, 12);
    expect(f.se).toBeGreaterThan(0.03);
    expect(f.pValue).toBeGreaterThan(0.4);
  });

  it('combines a ratio metric as the ratio of the stratified numerator and denominator, by the delta method', () => {
    const random = seededRandom(11);
    const arm = (n: number, rate: number): { num: number[]; den: number[] } => {
      const den = Array.from({ length: n }, () => 1 + Math.floor(random() * 5));
      return { den, num: den.map((d) => d * rate * (0.5 + random())) };
    };
    const data = [
      [arm(200, 3), arm(100, 3.3)],
      [arm(150, 1), arm(450, 1.1)],
    ];
    const ratioStats = ({ num, den }: { num: number[]; den: number[] }): RatioStats => ({
      n: num.length,
      numerator: { sum: sum(num), sumSquares: sum(num.map((x) => x * x)) },
      denominator: { sum: sum(den), sumSquares: sum(den.map((x) => x * x)) },
      sumProducts: sum(num.map((x, i) => x * den[i]!)),
    });
    const pi = [300 / 900, 600 / 900];
    const input = stratifyMetric(data.map((arms, p): Stratum => ({ input: { key: 'r', type: 'ratio', arms: arms.map(ratioStats) }, weight: pi[p]! })));
    const analysis = analyzeExperiment({ variations: twoArms, metrics: [input], options: { difference: DifferenceType.Absolute } });
    const expected = [0, 1].map((k) => {
      const N = sum(data.map((arms, p) => pi[p]! * mean(arms[k]!.num)));
      const D = sum(data.map((arms, p) => pi[p]! * mean(arms[k]!.den)));
      const R = N / D;
      // Var(N/D) ≈ Var(Σπ·(num − R·den)‾) / D²: the linearised variable's pooled variance times Σπ²/n.
      const varR = pooledVarMean(data.map((arms) => arms[k]!.num.map((x, i) => x - R * arms[k]!.den[i]!)), pi) / D ** 2;
      return { R, varR };
    });
    const m = analysis.metrics[0]!;
    expect(m.arms[0]!.mean).toBeCloseTo(expected[0]!.R, 12);
    expect(m.arms[1]!.mean).toBeCloseTo(expected[1]!.R, 12);
    const f = m.comparisons[0]!.frequentist;
    expect(f.effect).toBeCloseTo(expected[1]!.R - expected[0]!.R, 12);
    expect(f.se).toBeCloseTo(Math.sqrt(expected[0]!.varR + expected[1]!.varR), 10);
  });

  it('carries CUPED covariates over: one θ for the stratified estimates, the pre-period differences taken out', () => {
    const random = seededRandom(3);
    const arm = (n: number, centre: number, lift: number): { post: number[]; pre: number[] } => {
      const pre = values(random, n, centre, 6);
      return { pre, post: pre.map((x) => x + lift + (random() - 0.5)) };
    };
    const data = [
      [arm(200, 10, 0), arm(100, 10, 1)],
      [arm(100, 3, 0), arm(300, 3, 1)],
    ];
    const phaseInput = (arms: { post: number[]; pre: number[] }[]): MetricAnalysisInput => ({
      key: 'm',
      type: 'mean',
      arms: arms.map((a) => stats(a.post)),
      covariates: arms.map((a): CupedCovariate => ({ pre: stats(a.pre), sumProducts: sum(a.post.map((y, i) => y * a.pre[i]!)) })),
    });
    const pi = [300 / 700, 400 / 700];
    const input = stratifyMetric(data.map((arms, p) => ({ input: phaseInput(arms), weight: pi[p]! })));
    const f = analyzeExperiment({ variations: twoArms, metrics: [input], options: { difference: DifferenceType.Absolute } }).metrics[0]!.comparisons[0]!.frequentist;
    expect(f.cuped).not.toBeNull();
    expect(f.cuped!.theta).toBeCloseTo(1, 1);
    // Post − pre has a spread of ±0.5 around the lift: the adjusted effect is the lift, closely.
    expect(f.effect).toBeCloseTo(1, 1);
    // θ fixed, the variance is the pooled Var(y − θx) times Σπ²/n per arm (computed here from the units).
    const theta = f.cuped!.theta;
    const varArm = (k: number): number => pooledVarMean(data.map((arms) => arms[k]!.post.map((y, i) => y - theta * arms[k]!.pre[i]!)), pi);
    expect(f.se).toBeCloseTo(Math.sqrt(varArm(0) + varArm(1)), 10);
    expect(cov(data[0]![0]!.post, data[0]![0]!.pre)).toBeGreaterThan(0);
  });

  it('returns a single stratum of weight 1 unchanged, and arms without units when no stratum is used', () => {
    const only: MetricAnalysisInput = { key: 'm', type: 'proportion', arms: [{ n: 10, sum: 3, sumSquares: 3 }, { n: 12, sum: 5, sumSquares: 5 }] };
    expect(stratifyMetric([{ input: only, weight: 1 }])).toBe(only);
    const none = stratifyMetric([{ input: only, weight: 0 }]);
    expect(none.arms.map((a) => a.n)).toEqual([0, 0]);
    const c = analyzeExperiment({ variations: twoArms, metrics: [none] }).metrics[0]!.comparisons[0]!;
    expect(c.frequentist.error?.code).toBe(StatsErrorCode.INSUFFICIENT_SAMPLE);
    expect(Number.isNaN(c.frequentist.effect)).toBe(false);
  });
});

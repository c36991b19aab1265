import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import type { ExperimentAnalysisInput, MetricAnalysisInput } from '../analyze.js';
import { bayesianTest } from '../bayesian.js';
import { adjustPValues } from '../corrections.js';
import { StatsErrorCode } from '../errors.js';
import { frequentistTest } from '../frequentist.js';
import type { CupedCovariate, RatioStats, SampleStats } from '../types.js';
import { seededRandom } from '../../random.js';

function arm(n: number, mean: number, variance: number): SampleStats {
  return { n, sum: n * mean, sumSquares: (n - 1) * variance + n * mean * mean };
}

function ratioArm(n: number, ratio: number): RatioStats {
  const den = 2 * n;
  const num = ratio * den;
  return {
    n,
    numerator: { sum: num, sumSquares: (num * num) / n + 3 * (n - 1) },
    denominator: { sum: den, sumSquares: (den * den) / n + (n - 1) },
    sumProducts: (num * den) / n + 0.8 * (n - 1),
  };
}

function covariate(post: SampleStats, rho: number): CupedCovariate {
  const n = post.n;
  const postVariance = (post.sumSquares - (post.sum * post.sum) / n) / (n - 1);
  const pre = arm(n, 5, 2);
  const covariance = rho * Math.sqrt(postVariance * 2);
  return { pre, sumProducts: (n - 1) * covariance + (post.sum * pre.sum) / n };
}

const revenue = [arm(5000, 10, 25), arm(5000, 10.4, 25), arm(5000, 9.9, 26)];
const metrics: readonly MetricAnalysisInput[] = [
  {
    key: 'revenue',
    type: 'mean',
    arms: revenue,
    covariates: revenue.map((a) => covariate(a, 0.6)),
    cap: { type: 'percentile', percentile: 0.99, value: 250 },
  },
  {
    key: 'conversion',
    type: 'proportion',
    arms: [500, 560, 480].map((conversions) => ({ n: 5000, sum: conversions, sumSquares: conversions })),
  },
  { key: 'revenue-per-session', type: 'ratio', arms: [ratioArm(5000, 2), ratioArm(5000, 2.05), ratioArm(5000, 2)] },
  { key: 'latency', type: 'mean', arms: [arm(5000, 300, 900), arm(5000, 290, 900), arm(5000, 301, 900)], inverse: true },
];

const input: ExperimentAnalysisInput = {
  variations: [
    { key: 'control', weight: 1, units: 5000 },
    { key: 'a', weight: 1, units: 5000 },
    { key: 'b', weight: 1, units: 5000 },
  ],
  metrics,
  options: { sequential: true, correction: 'bh' },
};

describe('analyzeExperiment', () => {
  it('returns one comparison per metric × treatment, equal to the single-comparison functions', () => {
    // prepare: the experiment above
    // act
    const analysis = analyzeExperiment(input);
    // assert
    expect(analysis.error).toBeUndefined();
    expect(analysis.metrics).toHaveLength(4);
    const revenueResult = analysis.metrics[0]!;
    expect(revenueResult.cap).toEqual({ type: 'percentile', percentile: 0.99, value: 250 });
    expect(revenueResult.cuped).toBe(true);
    expect(revenueResult.comparisons.map((c) => c.variation)).toEqual(['a', 'b']);
    // Two variations: θ pooled over the two arms, exactly the single-comparison functions.
    const pair = analyzeExperiment({ ...input, variations: input.variations.slice(0, 2), metrics: [{ ...metrics[0]!, arms: revenue.slice(0, 2), covariates: revenue.slice(0, 2).map((a) => covariate(a, 0.6)) } as MetricAnalysisInput] });
    const cuped = { control: covariate(revenue[0]!, 0.6), treatment: covariate(revenue[1]!, 0.6) };
    const direct = frequentistTest(revenue[0]!, revenue[1]!, { cuped });
    const first = pair.metrics[0]!.comparisons[0]!;
    expect(first.frequentist.pValue).toBe(direct.pValue);
    expect(first.frequentist.ci).toEqual(direct.ci);
    expect(first.frequentist.cuped?.theta).toBeGreaterThan(0);
    expect(first.sequential?.pValue).toBe(frequentistTest(revenue[0]!, revenue[1]!, { cuped, sequential: true }).pValue);
    expect(first.bayesian.chanceToWin).toBe(bayesianTest(revenue[0]!, revenue[1]!, { cuped }).chanceToWin);
    // Metrics without CUPED: each comparison of the three-arm experiment is the pairwise test.
    const latency = analysis.metrics[3]!.comparisons[1]!;
    expect(latency.frequentist.pValue).toBe(frequentistTest(metrics[3]!.arms[0]!, metrics[3]!.arms[2]!).pValue);
  });

  it('pools CUPED θ over every arm (y ~ 1 + arm + x), not per pair, and moves every arm to the pooled pre-period mean', () => {
    // prepare: per-unit rows of three arms; the reference is the within-arm OLS slope over all of them
    const random = seededRandom(7);
    const rows = [0, 1, 2].map((k) =>
      Array.from({ length: 60 + 20 * k }, () => {
        const x = 10 + 5 * random() + k;
        return { x, y: (0.5 + 0.4 * k) * x + 3 * random() + k };
      }),
    );
    const sums = rows.map((r) => ({
      arm: { n: r.length, sum: r.reduce((s, u) => s + u.y, 0), sumSquares: r.reduce((s, u) => s + u.y * u.y, 0) },
      covariate: { pre: { n: r.length, sum: r.reduce((s, u) => s + u.x, 0), sumSquares: r.reduce((s, u) => s + u.x * u.x, 0) }, sumProducts: r.reduce((s, u) => s + u.x * u.y, 0) },
    }));
    let sxy = 0;
    let sxx = 0;
    for (const r of rows) {
      const mx = r.reduce((s, u) => s + u.x, 0) / r.length;
      const my = r.reduce((s, u) => s + u.y, 0) / r.length;
      sxy += r.reduce((s, u) => s + (u.x - mx) * (u.y - my), 0);
      sxx += r.reduce((s, u) => s + (u.x - mx) ** 2, 0);
    }
    const theta = sxy / sxx;
    const all = rows.flat();
    const center = all.reduce((s, u) => s + u.x, 0) / all.length;
    const adjusted = rows.map((r) => r.reduce((s, u) => s + u.y - theta * (u.x - center), 0) / r.length);
    // act
    const analysis = analyzeExperiment({
      variations: [0, 1, 2].map((k) => ({ key: `v${k}`, weight: 1, units: rows[k]!.length })),
      metrics: [{ key: 'm', type: 'mean', arms: sums.map((s) => s.arm), covariates: sums.map((s) => s.covariate) }],
      options: { difference: 'absolute' },
    });
    // assert: the same θ for both comparisons, and the OLS arm coefficients as effects
    const [b, c] = analysis.metrics[0]!.comparisons;
    expect(b!.frequentist.cuped?.theta).toBeCloseTo(theta, 10);
    expect(c!.frequentist.cuped?.theta).toBeCloseTo(theta, 10);
    expect(b!.frequentist.effect).toBeCloseTo(adjusted[1]! - adjusted[0]!, 10);
    expect(c!.frequentist.effect).toBeCloseTo(adjusted[2]! - adjusted[0]!, 10);
  });

  it('adjusts p-values across all metrics × variations with the chosen correction', () => {
    // prepare
    const analysis = analyzeExperiment(input);
    const comparisons = analysis.metrics.flatMap((m) => m.comparisons);
    // act
    const expected = adjustPValues(
      comparisons.map((c) => c.frequentist.pValue),
      'bh',
    );
    const expectedSequential = adjustPValues(
      comparisons.map((c) => c.sequential?.pValue ?? 1),
      'bh',
    );
    // assert
    expect(analysis.correction).toBe('bh');
    expect(analysis.sequentialTuning).toBe(5000);
    expect(comparisons.map((c) => c.frequentist.adjustedPValue)).toEqual(expected);
    expect(comparisons.map((c) => c.sequential?.adjustedPValue)).toEqual(expectedSequential);
  });

  it('gives each comparison the interval that agrees with its adjusted p-value, fixed and sequential', () => {
    // prepare: effects near the edge of significance, so the correction decides some of them
    const edge = [arm(4000, 10, 25), arm(4000, 10.25, 25), arm(4000, 10.3, 25), arm(4000, 10.02, 25)];
    const family: MetricAnalysisInput[] = ['a', 'b', 'c'].map((key, i) => ({ key, type: 'mean', arms: edge.map((a, j) => (j === 0 ? a : arm(a.n, a.sum / a.n + i * 0.04, 25))) }));
    for (const correction of ['holm', 'bh', 'none'] as const) {
      for (const alternative of ['two-sided', 'greater'] as const) {
        const analysis = analyzeExperiment({ variations: input.variations.concat({ key: 'd', weight: 1, units: 4000 }).map((v) => ({ ...v, units: 4000 })), metrics: family, options: { correction, sequential: true, alternative } });
        // act
        const results = analysis.metrics.flatMap((m) => m.comparisons).flatMap((c) => [c.frequentist, c.sequential!]);
        // assert: the adjusted interval excludes 0 exactly when the adjusted p-value is below α, and contains the plain one
        expect(results.length).toBe(18);
        for (const r of results) {
          const excludesZero = r.adjustedCi[0] > 0 || r.adjustedCi[1] < 0;
          expect({ correction, alternative, method: r.method, p: r.adjustedPValue, excludesZero }).toEqual({ correction, alternative, method: r.method, p: r.adjustedPValue, excludesZero: r.adjustedPValue < 0.05 });
          expect(r.adjustedCi[0]).toBeLessThanOrEqual(r.ci[0]);
          expect(r.adjustedCi[1]).toBeGreaterThanOrEqual(r.ci[1]);
          expect(r.adjustedPValue === r.pValue ? r.adjustedCi : r.ci).toEqual(r.ci);
        }
        expect(results.some((r) => r.adjustedPValue > r.pValue && r.pValue < 0.05 && r.adjustedPValue >= 0.05)).toBe(correction !== 'none');
      }
    }
    // The fixed-horizon interval is the Welch interval at α·p/p_adj.
    const holm = analyzeExperiment({ variations: input.variations.concat({ key: 'd', weight: 1, units: 4000 }).map((v) => ({ ...v, units: 4000 })), metrics: family, options: { correction: 'holm' } });
    const c = holm.metrics[0]!.comparisons[0]!.frequentist;
    const raised = frequentistTest(edge[0]!, edge[1]!, { alpha: (0.05 * c.pValue) / c.adjustedPValue });
    expect(c.adjustedCi[0]).toBeCloseTo(raised.ci[0], 12);
    expect(c.adjustedCi[1]).toBeCloseTo(raised.ci[1], 12);
  });

  it('flips the Bayesian chance to win for metrics where lower is better', () => {
    // prepare / act
    const latency = analyzeExperiment(input).metrics[3]!;
    // assert: variation a is 10 ms faster
    expect(latency.comparisons[0]!.bayesian.chanceToWin).toBeGreaterThan(0.99);
    expect(latency.comparisons[0]!.frequentist.effect).toBeLessThan(0);
  });

  it('checks the sample ratio', () => {
    // prepare
    const skewed: ExperimentAnalysisInput = {
      ...input,
      variations: input.variations.map((v, i) => ({ ...v, units: i === 0 ? 5400 : 5000 })),
    };
    // act
    const analysis = analyzeExperiment(skewed);
    // assert
    expect(analysis.srm.flagged).toBe(true);
    expect(analyzeExperiment(input).srm.flagged).toBe(false);
  });

  it('keeps degenerate metrics out of the correction family and reports their error', () => {
    // prepare
    const flat: MetricAnalysisInput = { key: 'flat', type: 'mean', arms: [arm(10, 1, 0), arm(10, 1, 0), arm(10, 1, 0)] };
    const short: MetricAnalysisInput = { key: 'short', type: 'mean', arms: [arm(10, 1, 1)] };
    // act
    const analysis = analyzeExperiment({ ...input, metrics: [...metrics, flat, short] });
    const healthy = analyzeExperiment(input);
    // assert
    const flatResult = analysis.metrics[4]!;
    expect(flatResult.comparisons[0]!.frequentist.error?.code).toBe(StatsErrorCode.ZERO_VARIANCE);
    expect(flatResult.comparisons[0]!.frequentist.adjustedPValue).toBe(1);
    expect(flatResult.comparisons[0]!.bayesian.chanceToWin).toBe(0.5);
    expect(analysis.metrics[5]!.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
    expect(analysis.metrics[5]!.comparisons).toHaveLength(2);
    expect(analysis.metrics.slice(0, 4)).toEqual(healthy.metrics);
  });

  it('returns an error instead of throwing for bad options or a lone control', () => {
    // prepare / act
    const badAlpha = analyzeExperiment({ ...input, options: { alpha: 2 } });
    const alone = analyzeExperiment({ ...input, variations: input.variations.slice(0, 1) });
    // assert
    expect(badAlpha.error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(badAlpha.metrics).toEqual([]);
    expect(alone.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
  });

  it('omits sequential results unless asked and defaults to Holm', () => {
    // prepare / act
    const analysis = analyzeExperiment({ ...input, options: {} });
    // assert
    expect(analysis.correction).toBe('holm');
    expect(analysis.sequentialTuning).toBeNull();
    expect(analysis.metrics[0]!.comparisons[0]!.sequential).toBeNull();
  });
});

describe('analyzeExperiment: which arm is at fault', () => {
  const variations = ['control', 'b', 'c'].map((key) => ({ key, weight: 1, units: 10 }));

  it('names the arm with too few units and its own count', () => {
    // prepare: control 1 unit, b 5, c 0
    const arms = [arm(1, 3, 0), arm(5, 3, 1), { n: 0, sum: 0, sumSquares: 0 }];
    // act
    const [b, c] = analyzeExperiment({ variations, metrics: [{ key: 'm', type: 'mean', arms }] }).metrics[0]!.comparisons;
    // assert
    expect(b!.frequentist.error).toEqual({ code: StatsErrorCode.INSUFFICIENT_SAMPLE, message: 'the control "control" has 1 unit (an arm needs at least 2)' });
    expect(c!.frequentist.error?.code).toBe(StatsErrorCode.INSUFFICIENT_SAMPLE);
    expect(c!.frequentist.error?.message).toMatch(/^variation "c" has 0 units .*the control "control" has 1 unit/);
  });

  it('describes the treatment\'s own problem when both arms are degenerate', () => {
    // prepare: every control unit converted, none in b
    const arms = [10, 0, 4].map((conversions) => ({ n: 10, sum: conversions, sumSquares: conversions }));
    // act
    const [b, c] = analyzeExperiment({ variations, metrics: [{ key: 'm', type: 'proportion', arms }] }).metrics[0]!.comparisons;
    // assert
    expect(b!.frequentist.error?.code).toBe(StatsErrorCode.ZERO_CONVERSIONS);
    expect(b!.frequentist.error?.message).toBe('variation "b" has no conversions; and every unit in the control "control" converted');
    expect(c!.frequentist.error).toEqual({ code: StatsErrorCode.ZERO_VARIANCE, message: 'every unit in the control "control" converted' });
  });
});

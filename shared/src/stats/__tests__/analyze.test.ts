import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import type { ExperimentAnalysisInput, MetricAnalysisInput } from '../analyze.js';
import { bayesianTest } from '../bayesian.js';
import { adjustPValues } from '../corrections.js';
import { StatsErrorCode } from '../errors.js';
import { frequentistTest } from '../frequentist.js';
import type { CupedCovariate, RatioStats, SampleStats } from '../types.js';

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
    const cuped = { control: covariate(revenue[0]!, 0.6), treatment: covariate(revenue[1]!, 0.6) };
    const direct = frequentistTest(revenue[0]!, revenue[1]!, { cuped });
    const first = revenueResult.comparisons[0]!;
    expect(first.frequentist.pValue).toBe(direct.pValue);
    expect(first.frequentist.ci).toEqual(direct.ci);
    expect(first.frequentist.cuped?.theta).toBeGreaterThan(0);
    expect(first.sequential?.pValue).toBe(frequentistTest(revenue[0]!, revenue[1]!, { cuped, sequential: true }).pValue);
    expect(first.bayesian.chanceToWin).toBe(bayesianTest(revenue[0]!, revenue[1]!, { cuped }).chanceToWin);
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

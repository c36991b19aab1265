import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import { bayesianTest } from '../bayesian.js';
import { CorrectionMethod, adjustPValues } from '../corrections.js';
import { StatsErrorCode } from '../errors.js';
import { frequentistTest } from '../frequentist.js';
import type { FrequentistOptions } from '../frequentist.js';
import { power, sampleSize } from '../power.js';
import type { SampleStats } from '../types.js';

const control: SampleStats = { n: 1000, sum: 100, sumSquares: 100 };
const treatment: SampleStats = { n: 1000, sum: 80, sumSquares: 80 };

describe('unknown option strings are refused with INVALID_OPTIONS', () => {
  // Each of these used to run another test silently (a typo turned two-sided into "less").
  const cases: readonly [string, FrequentistOptions, string][] = [
    ['alternative twosided', { alternative: 'twosided' as never }, "alternative must be one of 'two-sided', 'greater', 'less', got 'twosided'"],
    ['alternative with a trailing space', { alternative: 'greater ' as never }, "got 'greater '"],
    ['difference abs', { difference: 'abs' as never }, "difference must be one of 'relative', 'absolute', got 'abs'"],
    ['statisticType proportions', { statisticType: 'proportions' as never }, "statisticType must be one of 'mean', 'proportion', 'ratio'"],
    ['sequential as a string', { sequential: 'yes' as never }, 'sequential must be true or false'],
  ];

  it.each(cases)('frequentistTest: %s', (_label, options, message) => {
    // act
    const result = frequentistTest(control, treatment, { statisticType: 'proportion', ...options });
    // assert
    expect(result.error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(result.error?.message).toContain(message);
    expect(result.pValue).toBe(1);
    // Only valid choices are echoed.
    expect(['two-sided', 'greater', 'less']).toContain(result.alternative);
    expect(['relative', 'absolute']).toContain(result.difference);
  });

  it('still accepts every valid choice', () => {
    for (const alternative of ['two-sided', 'greater', 'less'] as const) {
      for (const difference of ['relative', 'absolute'] as const) {
        expect(frequentistTest(control, treatment, { statisticType: 'proportion', alternative, difference }).error).toBeUndefined();
      }
    }
  });

  it('analyzeExperiment refuses an unknown correction instead of applying Benjamini–Hochberg', () => {
    // act
    const analysis = analyzeExperiment({
      variations: [
        { key: 'c', weight: 1, units: 1000 },
        { key: 't', weight: 1, units: 1000 },
      ],
      metrics: [{ key: 'm', type: 'proportion', arms: [control, treatment] }],
      options: { correction: 'bonferroni' as never },
    });
    // assert
    expect(analysis.error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(analysis.error?.message).toContain("correction must be one of 'holm', 'bh', 'none', got 'bonferroni'");
    expect(analysis.correction).toBe('holm');
    expect(analysis.metrics).toEqual([]);
  });

  it('analyzeExperiment refuses an unknown alternative or difference, experiment-wide or per metric', () => {
    const base = {
      variations: [
        { key: 'c', weight: 1, units: 1000 },
        { key: 't', weight: 1, units: 1000 },
      ],
      metrics: [{ key: 'm', type: 'proportion' as const, arms: [control, treatment] }],
    };
    expect(analyzeExperiment({ ...base, options: { alternative: 'twosided' as never } }).error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(analyzeExperiment({ ...base, options: { difference: 'abs' as never } }).error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    const perMetric = analyzeExperiment({ ...base, metrics: [{ ...base.metrics[0]!, difference: 'abs' as never }] });
    expect(perMetric.metrics[0]!.error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(perMetric.metrics[0]!.error?.message).toContain('the difference of metric m must be one of');
    expect(perMetric.metrics[0]!.comparisons[0]!.frequentist.error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
  });

  it('adjustPValues gives 1 everywhere for an unknown method (no discovery), not BH', () => {
    expect(adjustPValues([0.01, 0.04], 'bonferroni' as never)).toEqual([1, 1]);
    expect(adjustPValues([0.01, 0.04], CorrectionMethod.BenjaminiHochberg)).toEqual([0.02, 0.04]);
  });

  it('bayesianTest, power and sampleSize refuse unknown choices too', () => {
    expect(bayesianTest(control, treatment, { difference: 'abs' as never }).error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(bayesianTest(control, treatment, { difference: 'abs' as never }).difference).toBe('relative');
    expect(power({ n: 1000, effect: 0.1, mean: 1, variance: 1, alternative: 'twosided' as never }).error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(sampleSize({ effect: 0.1, mean: 1, variance: 1, difference: 'abs' as never }).error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
  });
});

describe('overflow is not zero variance', () => {
  it('reports NON_FINITE_RESULT when sum² overflows (it was ZERO_VARIANCE)', () => {
    // act: sum² = 1e312 is beyond the double range while every input is finite
    const result = frequentistTest({ n: 1e6, sum: 1e156, sumSquares: 1.01e306 }, { n: 1e6, sum: 1.1e156, sumSquares: 1.3e306 }, { difference: 'absolute' });
    // assert
    expect(result.error?.code).toBe(StatsErrorCode.NON_FINITE_RESULT);
    expect(result.pValue).toBe(1);
  });
});

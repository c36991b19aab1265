import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '@xp/shared';
import type { CupedCovariate, SampleStats } from '@xp/shared';
import { cupedStatusOf } from '../results.js';

// Post values (1, 2, 3, 4) and (2, 3, 4, 6) per arm of 4 units.
const control: SampleStats = { n: 4, sum: 10, sumSquares: 30 };
const treatment: SampleStats = { n: 4, sum: 15, sumSquares: 65 };
const variations = [
  { key: 'control', weight: 1, units: 4 },
  { key: 'treatment', weight: 1, units: 4 },
];

const analyse = (covariates?: CupedCovariate[]) =>
  analyzeExperiment({ variations, metrics: [{ key: 'orders', type: 'mean', arms: [control, treatment], ...(covariates === undefined ? {} : { covariates }) }] }).metrics[0]!;

describe("a metric result's cupedStatus", () => {
  it('tells applied, no pre-exposure data, no variance reduction, disabled and unavailable apart', () => {
    // Pre values (1, 2, 3, 4) in both arms: correlated with the post values, so CUPED reduces the variance.
    const correlated = analyse([
      { pre: { n: 4, sum: 10, sumSquares: 30 }, sumProducts: 30 },
      { pre: { n: 4, sum: 10, sumSquares: 30 }, sumProducts: 44 },
    ]);
    // Every unit had 2 events before its exposure: pre-period data, but nothing to adjust by.
    const constant: CupedCovariate = { pre: { n: 4, sum: 8, sumSquares: 16 }, sumProducts: 20 };
    const flat = analyse([constant, constant]);

    expect(cupedStatusOf(correlated, false, true)).toBe('applied');
    expect(cupedStatusOf(flat, false, true)).toBe('no-variance-reduction');
    expect(cupedStatusOf(analyse(), false, true)).toBe('no-pre-exposure-data');
    expect(cupedStatusOf(correlated, false, false)).toBe('disabled');
    expect(cupedStatusOf(correlated, true, true)).toBe('unavailable');
    expect(cupedStatusOf(undefined, false, true)).toBe('unavailable');
  });
});

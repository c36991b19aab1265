import type { SufficientStatisticsRow } from '../../pipeline/sufficient-statistics.js';

/** One arm's sufficient statistics of metric `m` for the guardrail checks: n, Σx and Σx², nothing else. */
export const row = (variation: string, n: number, sum: number, sumSquares: number): SufficientStatisticsRow => ({
  variation,
  metric: 'm',
  n,
  sum: String(sum),
  sumSquares: String(sumSquares),
  preSum: '0',
  preSumSquares: '0',
  sumProducts: '0',
  denominatorSum: '0',
  denominatorSumSquares: '0',
  numeratorDenominatorProducts: '0',
});

import { describe, expect, it } from 'vitest';
import { formatMean, formatNumber, formatProbability } from '../format.js';

describe('formatMean', () => {
  it('shows means with two decimals, as docs/console.md says (0.30, 0.10, 0.00)', () => {
    expect([0.3, 0.1, 0, 1, 1.2, 12.345, 1234.5, -0.5].map(formatMean)).toEqual(['0.30', '0.10', '0.00', '1.00', '1.20', '12.35', '1,234.50', '-0.50']);
  });

  it('shows two significant digits below 0.1, never 0 for a rare count', () => {
    expect([0.0034, 0.0031, 0.05, 0.0999, -0.002].map(formatMean)).toEqual(['0.0034', '0.0031', '0.050', '0.10', '-0.0020']);
  });

  it('shows a dash for what is not a number', () => {
    expect([Number.NaN, Number.POSITIVE_INFINITY].map(formatMean)).toEqual(['—', '—']);
  });
});

describe('formatNumber', () => {
  // Unchanged for its other callers: the power plan's "+1,000%" and "5,000 units a day", the health page's "23.95 ms".
  it('drops trailing zeros', () => {
    expect([1000, 5000, 1.5, 23.95, 0.3, 0, 0.0034].map(formatNumber)).toEqual(['1,000', '5,000', '1.5', '23.95', '0.3', '0', '0.0034']);
  });
});

describe('formatProbability', () => {
  it('never rounds a chance to win to certainty: >99.9% and <0.1% at the ends, one decimal between', () => {
    expect([0.99995, 0.9991, 0.999, 0.5, 0.001, 0.0004, 0, 1, Number.NaN].map(formatProbability)).toEqual(['>99.9%', '>99.9%', '99.9%', '50.0%', '0.1%', '<0.1%', '<0.1%', '>99.9%', '—']);
  });
});

import { describe, expect, it } from 'vitest';
import { StatsErrorCode } from '../errors.js';
import { power, sampleSize } from '../power.js';
import type { PowerInput } from '../power.js';
import { checker, loadFixture } from './fixtures.js';

interface PowerCase {
  readonly input: PowerInput & { readonly targetPower: number };
  readonly expected: { readonly power: number; readonly mde: number; readonly controlExact: number };
}

describe('power and sampleSize against statsmodels NormalIndPower', () => {
  it('matches power, MDE and unrounded sample size (fixed and sequential)', () => {
    // prepare
    const fixture = loadFixture<PowerCase>('power.json');
    const { check, failures } = checker('power.json');
    // act
    fixture.cases.forEach((c, i) => {
      const result = power(c.input);
      const size = sampleSize({ ...c.input, power: c.input.targetPower });
      if (result.error !== undefined || size.error !== undefined) {
        failures.push(`${i}: unexpected error ${result.error?.code ?? size.error?.code ?? ''}`);
        return;
      }
      check(`${i} power`, result.power, c.expected.power, true);
      check(`${i} mde`, result.mde, c.expected.mde);
      // Sample sizes run to 1e9; 1e-6 absolute would be beyond double precision, so compare relatively.
      check(`${i} controlExact (relative)`, size.controlExact / c.expected.controlExact, 1);
      if (size.control !== Math.ceil(c.expected.controlExact - 1e-9)) {
        failures.push(`${i}: control ${size.control} vs ceil(${c.expected.controlExact})`);
      }
    });
    // assert
    expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
    expect(failures).toEqual([]);
  });
});

describe('power hand-worked and degenerate cases', () => {
  const base = { mean: 10, variance: 4, difference: 'absolute' } as const;

  it('gives 80% power at the textbook sample size', () => {
    // prepare: d = 0.5 / 2 = 0.25, n = 2 (1.959964 + 0.841621)² / d² = 251.16
    const n = (2 * (1.959963984540054 + 0.8416212335729143) ** 2) / 0.0625;
    // act
    const size = sampleSize({ ...base, effect: 0.5 });
    const result = power({ ...base, n, effect: 0.5 });
    // assert: the second tail adds ~1e-6
    expect(size.controlExact).toBeCloseTo(n, 2);
    expect(size.control).toBe(252);
    expect(size.total).toBe(504);
    expect(result.power).toBeCloseTo(0.8, 5);
    expect(result.mde).toBeCloseTo(0.5, 5);
  });

  it('needs more units for a sequential design than a fixed one', () => {
    // prepare / act
    const fixed = sampleSize({ ...base, effect: 0.1 });
    const sequential = sampleSize({ ...base, effect: 0.1, sequential: true });
    // assert
    expect(sequential.control).toBeGreaterThan(fixed.control);
  });

  it.each([
    ['zero variance', { ...base, variance: 0 }, StatsErrorCode.ZERO_VARIANCE],
    ['NaN mean', { ...base, mean: Number.NaN }, StatsErrorCode.INVALID_INPUT],
    ['zero baseline for a lift', { ...base, mean: 0, difference: 'relative' as const }, StatsErrorCode.ZERO_CONTROL_MEAN],
    ['alpha of 1', { ...base, alpha: 1 }, StatsErrorCode.INVALID_OPTIONS],
    ['negative ratio', { ...base, ratio: -1 }, StatsErrorCode.INVALID_OPTIONS],
  ])('%s returns neutral numbers', (_label, design, code) => {
    // prepare: the design above
    // act
    const result = power({ ...design, n: 100, effect: 0.1 });
    const size = sampleSize({ ...design, effect: 0.1 });
    // assert
    expect(result).toMatchObject({ power: 0, mde: 0, error: { code } });
    expect(size).toMatchObject({ control: 0, treatment: 0, total: 0, controlExact: 0, error: { code } });
  });

  it('rejects n < 2, a target power of 1 and an effect against the alternative', () => {
    // prepare / act
    const tiny = power({ ...base, n: 1, effect: 0.1 });
    const certain = power({ ...base, n: 100, effect: 0.1, targetPower: 1 });
    const wrongWay = sampleSize({ ...base, effect: -0.1, alternative: 'greater' });
    const none = sampleSize({ ...base, effect: 0 });
    // assert
    expect(tiny.error?.code).toBe(StatsErrorCode.INSUFFICIENT_SAMPLE);
    expect(certain.error?.code).toBe(StatsErrorCode.INVALID_OPTIONS);
    expect(wrongWay.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
    expect(none.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
  });
});

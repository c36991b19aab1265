import { describe, expect, it } from 'vitest';
import { StatsErrorCode } from '../errors.js';
import { frequentistTest } from '../frequentist.js';
import type {
  Alternative,
  CupedCovariate,
  CupedInput,
  DifferenceType,
  RatioStats,
  SampleStats,
} from '../types.js';
import { checker, loadFixture } from './fixtures.js';

interface CupedCase<A> {
  readonly control: A;
  readonly treatment: A;
  readonly cuped: CupedInput;
  readonly options: {
    readonly difference: DifferenceType;
    readonly alternative: Alternative;
    readonly alpha: number;
    readonly sequential: boolean;
  };
  readonly expected: {
    readonly effect: number;
    readonly se: number;
    readonly statistic: number;
    readonly pValue: number;
    readonly df?: number;
    readonly ci: readonly (number | null)[];
    readonly theta: number;
    readonly olsEffect?: number;
    readonly adjustedMeans?: readonly number[];
    readonly varianceReduction?: number;
  };
}

function compareAll(file: string): string[] {
  const fixture = loadFixture<CupedCase<SampleStats | RatioStats>>(file);
  const { check, failures } = checker(file);
  let fallbacks = 0;
  fixture.cases.forEach((c, i) => {
    const result = frequentistTest(c.control, c.treatment, { ...c.options, cuped: c.cuped });
    if (result.error === undefined && result.cuped === null) {
      // CUPED would not reduce the variance here (the reference's adjusted se is no smaller than the
      // unadjusted one): the unadjusted test is reported.
      const plain = frequentistTest(c.control, c.treatment, c.options);
      fallbacks++;
      check(`${i} unadjusted effect`, result.effect, plain.effect);
      check(`${i} unadjusted se`, result.se, plain.se);
      if (!(c.expected.se >= plain.se * (1 - 1e-9))) {
        failures.push(`${i}: CUPED dropped although it reduces the se from ${plain.se} to ${c.expected.se}`);
      }
      return;
    }
    if (result.error !== undefined || result.cuped === null) {
      failures.push(`${i}: unexpected error ${result.error?.code ?? 'no CUPED summary'}`);
      return;
    }
    check(`${i} theta`, result.cuped.theta, c.expected.theta);
    check(`${i} effect`, result.effect, c.expected.effect);
    check(`${i} se`, result.se, c.expected.se);
    check(`${i} pValue`, result.pValue, c.expected.pValue, true);
    check(`${i} ci`, result.ci, c.expected.ci);
    if (c.expected.varianceReduction !== undefined) {
      check(`${i} varianceReduction`, result.cuped.varianceReduction, c.expected.varianceReduction);
    }
    if (c.expected.olsEffect !== undefined && c.options.difference === 'absolute') {
      check(`${i} OLS treatment coefficient`, result.effect, c.expected.olsEffect);
    }
    const means = c.expected.adjustedMeans;
    if (means !== undefined && c.options.difference === 'relative') {
      // The relative lift is the ratio of the OLS adjusted means at the pooled pre-period mean.
      const [mc = Number.NaN, mt = Number.NaN] = means;
      check(`${i} lift from OLS adjusted means`, result.effect, (mt - mc) / Math.abs(mc));
    }
  });
  expect(fixture.cases.length).toBeGreaterThanOrEqual(200);
  expect(fallbacks).toBeLessThan(fixture.cases.length / 3);
  return failures;
}

describe('CUPED against statsmodels OLS', () => {
  it('matches theta, the adjusted effect and the test (fixed-horizon and sequential)', () => {
    // prepare / act
    const failures = compareAll('cuped.json');
    // assert
    expect(failures).toEqual([]);
  });

  it('matches the delta-method CUPED for ratio metrics', () => {
    // prepare / act
    const failures = compareAll('cuped-ratio.json');
    // assert
    expect(failures).toEqual([]);
  });
});

describe('CUPED on nearly collinear post and pre', () => {
  /** Relative agreement with the Fraction reference; the effect is ~1e-12, so absolute bounds say nothing. */
  const RELATIVE = 1e-9;
  const close = (actual: number, expected: number | null): boolean =>
    expected !== null && Math.abs(actual - expected) <= RELATIVE * Math.abs(expected);

  it('matches the exact adjusted test where s²_Y + θ²s²_X − 2θs_XY cancels to noise in doubles', () => {
    // prepare: 1.7e12 ± 30 per unit and units at 0 (case 0 is the results API's edge data set)
    const fixture = loadFixture<CupedCase<SampleStats>>('cuped-collinear.json');
    const failures: string[] = [];
    // act
    fixture.cases.forEach((c, i) => {
      const result = frequentistTest(c.control, c.treatment, { ...c.options, cuped: c.cuped });
      const pairs: [string, number, number | null][] = [
        ['theta', result.cuped?.theta ?? Number.NaN, c.expected.theta],
        ['effect', result.effect, c.expected.effect],
        ['se', result.se, c.expected.se],
        ['pValue', result.pValue, c.expected.pValue],
        ['ci lower', result.ci[0], c.expected.ci[0] ?? null],
        ['ci upper', result.ci[1], c.expected.ci[1] ?? null],
      ];
      for (const [label, actual, expected] of pairs) {
        if (!close(actual, expected)) {
          failures.push(`${i} ${label}: got ${actual}, expected ${expected} (${result.error?.code ?? 'no error'})`);
        }
      }
    });
    // assert
    expect(fixture.cases.length).toBeGreaterThanOrEqual(40);
    expect(failures).toEqual([]);
  });
});

describe('CUPED that would not reduce the variance', () => {
  it('reports the unadjusted estimate, without a CUPED summary, when the adjustment widens the interval', () => {
    // prepare: a statsmodels case whose OLS-adjusted standard error is larger than the plain one
    const fixture = loadFixture<CupedCase<SampleStats>>('cuped.json');
    const c = fixture.cases.find((k) => (k.expected.varianceReduction ?? 1) < -0.05)!;
    // act
    const result = frequentistTest(c.control, c.treatment, { ...c.options, cuped: c.cuped });
    const plain = frequentistTest(c.control, c.treatment, c.options);
    // assert
    expect(result.error).toBeUndefined();
    expect(result.cuped).toBeNull();
    expect(result.se).toBe(plain.se);
    expect(result.effect).toBe(plain.effect);
    expect(result.se).toBeLessThan(c.expected.se);
  });
});

describe('CUPED hand-worked and degenerate cases', () => {
  // Post values y = (1, 2, 3, 4) and (2, 3, 4, 6); pre values x = (1, 2, 3, 4) in both arms.
  const control: SampleStats = { n: 4, sum: 10, sumSquares: 30 };
  const treatment: SampleStats = { n: 4, sum: 15, sumSquares: 65 };
  const pre = (sumProducts: number): CupedCovariate => ({ pre: { n: 4, sum: 10, sumSquares: 30 }, sumProducts });

  it('pools theta across arms: Σ Sxy / Σ Sxx', () => {
    // prepare: Sxx = 5 per arm; Sxy = 30 − 25 = 5 (control) and 44 − 37.5 = 6.5 (treatment)
    const cuped: CupedInput = { control: pre(30), treatment: pre(44) };
    // act
    const result = frequentistTest(control, treatment, { difference: 'absolute', cuped });
    // assert: theta = 11.5 / 10; equal pre means leave the effect at 1.25
    expect(result.cuped?.theta).toBeCloseTo(1.15, 14);
    expect(result.effect).toBeCloseTo(1.25, 14);
    expect(result.cuped?.varianceReduction).toBeGreaterThan(0.9);
  });

  it('falls back to theta = 0 when the covariate has no variance', () => {
    // prepare
    const constant: CupedCovariate = { pre: { n: 4, sum: 8, sumSquares: 16 }, sumProducts: 20 };
    // act
    const adjusted = frequentistTest(control, treatment, { cuped: { control: constant, treatment: constant } });
    const plain = frequentistTest(control, treatment);
    // assert
    expect(adjusted.error).toBeUndefined();
    // Nothing was adjusted: reported as no CUPED (the results' cupedApplied stays false), not as θ = 0.
    expect(adjusted.cuped).toBeNull();
    expect(adjusted.pValue).toBe(plain.pValue);
  });

  it('rejects a pre-period over a different number of units', () => {
    // prepare
    const other: CupedCovariate = { pre: { n: 5, sum: 10, sumSquares: 30 }, sumProducts: 30 };
    // act
    const result = frequentistTest(control, treatment, { cuped: { control: other, treatment: pre(44) } });
    // assert
    expect(result.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
    expect(result.pValue).toBe(1);
    expect(result.cuped).toBeNull();
  });

  it('rejects NaN in the covariate', () => {
    // prepare / act
    const result = frequentistTest(control, treatment, { cuped: { control: pre(Number.NaN), treatment: pre(44) } });
    // assert
    expect(result.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
    expect(result.effect).toBe(0);
  });

  it('reports the unadjusted test when the covariate explains the metric exactly', () => {
    // prepare: y = x in both arms (treatment pre shifted so its post differs)
    const a: SampleStats = { n: 4, sum: 10, sumSquares: 30 };
    const b: SampleStats = { n: 4, sum: 14, sumSquares: 54 };
    const covB: CupedCovariate = { pre: { n: 4, sum: 14, sumSquares: 54 }, sumProducts: 54 };
    // act
    const result = frequentistTest(a, b, { cuped: { control: pre(30), treatment: covB } });
    const plain = frequentistTest(a, b);
    // assert: the arms vary, so the comparison stands, without an adjustment that leaves nothing
    expect(result.error).toBeUndefined();
    expect(result.cuped).toBeNull();
    expect(result.pValue).toBe(plain.pValue);
    expect(result.effect).toBe(plain.effect);
  });

  it('keeps ZERO_VARIANCE for an arm whose own values do not vary', () => {
    // prepare: every control unit has 5
    const flat: SampleStats = { n: 4, sum: 20, sumSquares: 100 };
    // act
    const result = frequentistTest(flat, treatment, { cuped: { control: pre(30), treatment: pre(44) } });
    // assert
    expect(result.error?.code).toBe(StatsErrorCode.ZERO_VARIANCE);
  });

  it('rejects a plain covariate on a ratio metric', () => {
    // prepare
    const ratio: RatioStats = {
      n: 4,
      numerator: { sum: 10, sumSquares: 30 },
      denominator: { sum: 8, sumSquares: 18 },
      sumProducts: 22,
    };
    // act
    const result = frequentistTest(ratio, ratio, { cuped: { control: pre(30), treatment: pre(30) } });
    // assert
    expect(result.error?.code).toBe(StatsErrorCode.INVALID_INPUT);
  });
});

import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import type { AnalysisOptions, MetricAnalysis, MetricAnalysisInput } from '../analyze.js';
import { chanceToBeBest, rawChanceToBeBest } from '../best-arm.js';
import type { EffectPosterior } from '../best-arm.js';
import { StatsErrorCode, isStatsError } from '../errors.js';
import type { SampleStats } from '../types.js';
import { seededRandom } from '../../random.js';

const DRAWS = 1_000_000;

function arm(n: number, mean: number, variance: number): SampleStats {
  return { n, sum: n * mean, sumSquares: (n - 1) * variance + n * mean * mean };
}

function analyze(arms: readonly SampleStats[], options: AnalysisOptions = {}, extra: Partial<MetricAnalysisInput> = {}): MetricAnalysis {
  const variations = arms.map((a, i) => ({ key: `v${i}`, weight: 1, units: a.n }));
  const metric = { key: 'm', type: 'mean', arms, ...extra } as MetricAnalysisInput;
  const analysis = analyzeExperiment({ variations, metrics: [metric], options });
  return analysis.metrics[0]!;
}

function best(metric: MetricAnalysis): number[] {
  return metric.arms.map((a) => {
    expect(a.chanceToBeBest).not.toBeNull();
    return a.chanceToBeBest!;
  });
}

/** Standard normal draws by Box–Muller from a seeded uniform. */
function gaussian(seed: number): () => number {
  const random = seededRandom(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const out = spare;
      spare = null;
      return out;
    }
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Share of DRAWS in which each arm has the largest value of draw(). */
function monteCarlo(k: number, draw: (values: Float64Array) => void): number[] {
  const wins = new Array<number>(k).fill(0);
  const values = new Float64Array(k);
  for (let d = 0; d < DRAWS; d++) {
    draw(values);
    let top = 0;
    for (let i = 1; i < k; i++) {
      if (values[i]! > values[top]!) {
        top = i;
      }
    }
    wins[top]! += 1;
  }
  return wins.map((w) => w / DRAWS);
}

/** |p − reference| within 5 Monte Carlo standard errors (plus rounding). */
function expectWithinMonteCarlo(p: readonly number[], reference: readonly number[]): void {
  p.forEach((value, i) => {
    const ref = reference[i]!;
    const se = Math.sqrt(Math.max(ref * (1 - ref), 1 / DRAWS) / DRAWS);
    expect(Math.abs(value - ref), `arm ${i}: ${value} vs Monte Carlo ${ref}`).toBeLessThan(5 * se + 1e-12);
  });
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

describe('chance to be best: two arms', () => {
  it('is exactly [1 − chanceToWin, chanceToWin] for both directions and difference types', () => {
    for (const inverse of [false, true]) {
      for (const difference of ['relative', 'absolute'] as const) {
        // prepare
        const arms = [arm(4000, 10, 25), arm(4100, 10.3, 24)];
        // act
        const metric = analyze(arms, { difference }, { inverse });
        // assert
        const chanceToWin = metric.comparisons[0]!.bayesian.chanceToWin;
        expect(metric.arms[1]!.chanceToBeBest).toBe(chanceToWin);
        expect(Math.abs(metric.arms[0]!.chanceToBeBest! - (1 - chanceToWin))).toBeLessThan(1e-15);
      }
    }
  });

  it('agrees with the integral when it is used for one treatment too', () => {
    // prepare
    const effects: EffectPosterior[] = [{ mean: 0.4, sd: 0.7, controlLoading: -0.6 }];
    // act
    const exact = chanceToBeBest(effects) as number[];
    const integral = rawChanceToBeBest(effects);
    // assert
    expect(Math.abs(integral[0]! - exact[0]!)).toBeLessThan(1e-12);
    expect(Math.abs(integral[1]! - exact[1]!)).toBeLessThan(1e-12);
  });
});

describe('chance to be best: symmetric arms', () => {
  it('gives 1/k to each of k identical arms (k = 3…6), absolute and relative', () => {
    for (const difference of ['absolute', 'relative'] as const) {
      for (let k = 3; k <= 6; k++) {
        // prepare
        const arms = Array.from({ length: k }, () => arm(5000, 10, 25));
        // act
        const p = best(analyze(arms, { difference }));
        // assert
        p.forEach((value) => {
          expect(Math.abs(value - 1 / k)).toBeLessThan(1e-9);
        });
      }
    }
  });

  it('gives 1/k before normalisation too (the quadrature itself is that accurate)', () => {
    // prepare: k − 1 treatments of equal arms under the absolute model, ρ = −1/√2
    for (let k = 3; k <= 6; k++) {
      const effects = Array.from({ length: k - 1 }, () => ({ mean: 0, sd: Math.SQRT2, controlLoading: -Math.SQRT1_2 }));
      // act
      const raw = rawChanceToBeBest(effects);
      // assert
      raw.forEach((value) => {
        expect(Math.abs(value - 1 / k)).toBeLessThan(1e-12);
      });
    }
  });
});

describe('chance to be best against a seeded Monte Carlo (10^6 draws)', () => {
  it('matches independent normal arm posteriors for an absolute metric, in both directions', () => {
    // prepare: with a flat prior and the difference, ranking effects = ranking arm means μ_i ~ N(x̄_i, s²_i/n_i)
    const specs = [
      { n: 3000, mean: 10, variance: 25 },
      { n: 2800, mean: 10.15, variance: 30 },
      { n: 3100, mean: 10.2, variance: 20 },
      { n: 900, mean: 10.1, variance: 26 },
    ];
    const arms = specs.map((s) => arm(s.n, s.mean, s.variance));
    for (const inverse of [false, true]) {
      const normal = gaussian(inverse ? 11 : 42);
      const sign = inverse ? -1 : 1;
      // act
      const p = best(analyze(arms, { difference: 'absolute' }, { inverse }));
      const reference = monteCarlo(specs.length, (values) => {
        specs.forEach((s, i) => {
          values[i] = sign * (s.mean + Math.sqrt(s.variance / s.n) * normal());
        });
      });
      // assert
      expect(Math.abs(sum(p) - 1)).toBeLessThan(1e-9);
      expectWithinMonteCarlo(p, reference);
    }
  });

  it('matches draws from the correlated effect posterior (relative lifts, a prior, strong and weak correlation)', () => {
    // prepare: the model of best-arm.ts, d_i = m_i + s_i(ρ_i Z₀ + √(1 − ρ_i²) Z_i), control 0
    const cases: EffectPosterior[][] = [
      [
        { mean: 0.02, sd: 0.015, controlLoading: -0.72 },
        { mean: 0.025, sd: 0.02, controlLoading: -0.55 },
        { mean: -0.01, sd: 0.01, controlLoading: -0.9 },
      ],
      [
        { mean: 0.001, sd: 0.01, controlLoading: -0.9995 },
        { mean: 0.0012, sd: 0.0101, controlLoading: -0.9996 },
      ],
      [
        { mean: 0.3, sd: 1, controlLoading: 0 },
        { mean: -0.2, sd: 0.05, controlLoading: -0.3 },
        { mean: 0.1, sd: 2, controlLoading: 0.4 },
        { mean: 0, sd: 0.5, controlLoading: -0.5 },
      ],
    ];
    cases.forEach((effects, c) => {
      const normal = gaussian(100 + c);
      // act
      const p = chanceToBeBest(effects) as number[];
      const reference = monteCarlo(effects.length + 1, (values) => {
        const z = normal();
        values[0] = 0;
        effects.forEach((e, i) => {
          values[i + 1] = e.mean + e.sd * (e.controlLoading * z + Math.sqrt(1 - e.controlLoading ** 2) * normal());
        });
      });
      // assert
      expect(Math.abs(sum(rawChanceToBeBest(effects)) - 1)).toBeLessThan(1e-9);
      expectWithinMonteCarlo(p, reference);
    });
  });
});

describe('chance to be best: properties', () => {
  it('sums to 1 within 1e-9 before normalisation, and stays in [0, 1], on seeded random posteriors', () => {
    // prepare
    const random = seededRandom(2024);
    for (let c = 0; c < 20; c++) {
      const m = 2 + Math.floor(random() * 4);
      const effects = Array.from({ length: m }, () => ({
        mean: (random() - 0.5) * 6,
        sd: 0.01 + random() * 3,
        controlLoading: random() < 0.2 ? -0.99999 : -random(),
      }));
      // act
      const raw = rawChanceToBeBest(effects);
      const p = chanceToBeBest(effects, random() < 0.5) as number[];
      // assert
      expect(Math.abs(sum(raw) - 1), `case ${c}`).toBeLessThan(1e-9);
      expect(Math.abs(sum(p) - 1)).toBeLessThan(1e-12);
      p.forEach((value) => {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1);
      });
    }
  });

  it('respects the direction: lower is better reverses a clear ranking', () => {
    // prepare
    const arms = [arm(5000, 10, 25), arm(5000, 10.5, 25), arm(5000, 11, 25)];
    // act
    const higher = best(analyze(arms));
    const lower = best(analyze(arms, {}, { inverse: true }));
    // assert
    expect(higher[2]).toBeGreaterThan(0.99);
    expect(lower[0]).toBeGreaterThan(0.99);
  });

  it('is deterministic', () => {
    // prepare
    const arms = [arm(700, 3, 4), arm(650, 3.1, 4.5), arm(720, 3.05, 3.8)];
    // act
    const first = best(analyze(arms));
    const second = best(analyze(arms));
    // assert
    expect(second).toEqual(first);
  });

  it('is null for every arm, never NaN, when an arm has zero variance or no units', () => {
    for (const broken of [arm(500, 4, 0), { n: 0, sum: 0, sumSquares: 0 }]) {
      // prepare
      const arms = [arm(500, 4, 2), broken, arm(500, 4.1, 2)];
      // act
      const metric = analyze(arms);
      // assert
      expect(metric.comparisons[0]!.bayesian.error).toBeDefined();
      expect(metric.arms.map((a) => a.chanceToBeBest)).toEqual([null, null, null]);
    }
  });

  it('is null when turned off (the time series does)', () => {
    // act
    const metric = analyze([arm(500, 4, 2), arm(500, 4.1, 2), arm(500, 4.2, 2)], { chanceToBeBest: false });
    // assert
    expect(metric.arms.map((a) => a.chanceToBeBest)).toEqual([null, null, null]);
  });

  it('gives the control alone 1 and refuses posteriors that are not proper', () => {
    // act
    const single = chanceToBeBest([]);
    const flat = chanceToBeBest([{ mean: 0, sd: 0, controlLoading: 0 }, { mean: 0, sd: 1, controlLoading: 0 }]);
    const infinite = chanceToBeBest([{ mean: Number.NaN, sd: 1, controlLoading: 0 }, { mean: 0, sd: 1, controlLoading: 0 }]);
    // assert
    expect(single).toEqual([1]);
    expect(isStatsError(flat) && flat.code).toBe(StatsErrorCode.INVALID_INPUT);
    expect(isStatsError(infinite) && infinite.code).toBe(StatsErrorCode.INVALID_INPUT);
  });
});

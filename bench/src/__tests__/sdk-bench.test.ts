import { beforeAll, describe, expect, it } from 'vitest';
import type { SdkBenchRow } from '../sdk-bench.js';
import { runSdkBench } from '../sdk-bench.js';

// Correctness only: the timings of a quick run are meaningless and never asserted.
describe('runSdkBench', () => {
  let rows: SdkBenchRow[] = [];

  beforeAll(async () => {
    rows = await runSdkBench({ quick: true, rounds: 2, connections: 8, print: () => undefined });
  }, 60_000);

  it('drives every case on both servers without a single failed request', () => {
    expect(rows.map((r) => r.endpoint)).toEqual(['GET /sdk/v1/ruleset', 'POST /sdk/v1/evaluate', 'POST /sdk/v1/evaluate (bench-experiment: exposures)']);
    for (const r of rows) {
      expect(r.xp.requests).toBeGreaterThan(0);
      expect(r.ceiling.requests).toBeGreaterThan(0);
      expect([r.xp.errors, r.ceiling.errors, r.errors]).toEqual([0, 0, 0]);
      // Two rounds, each with its own ratio; the one reported is the lower (the median of two).
      expect(r.roundRatios).toHaveLength(2);
      expect(r.roundRatios.every((x) => Number.isFinite(x) && x > 0)).toBe(true);
      expect(r.ratio).toBe(Math.min(...r.roundRatios));
    }
  });

  it('benchmarks real answers: the demo ruleset, evaluated demo flags and a running experiment', () => {
    const [ruleset, evaluate, experiment] = rows.map((r) => JSON.parse(r.body));

    expect(ruleset).toMatchObject({ environment: 'development', flags: { 'new-checkout': expect.any(Object) } });
    expect(evaluate.flags['new-checkout']).toMatchObject({ value: true, reason: 'DEFAULT' });
    // Served by the experiment: the case logs an exposure with every request.
    expect(Object.keys(experiment.flags)).toEqual(['bench-experiment']);
    expect(experiment.flags['bench-experiment']).toMatchObject({ reason: 'SPLIT', variationKey: expect.stringMatching(/^(control|treatment)$/) });
  });
});

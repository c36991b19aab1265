import { beforeAll, describe, expect, it } from 'vitest';
import type { EvalBenchRow } from '../eval-bench.js';
import { runEvalBench } from '../eval-bench.js';

// Correctness only: the timings of a quick run are meaningless and never asserted.
describe('runEvalBench', () => {
  let rows: EvalBenchRow[] = [];

  beforeAll(async () => {
    rows = await runEvalBench({ quick: true });
  });

  it('checks every scenario over the full user sample', () => {
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => [r.scenario, r.agreement.checked])).toEqual(rows.map((r) => [r.scenario, 10_000]));
  });

  it('gets the same value from xp and GrowthBook for every sampled user in every scenario', () => {
    expect(rows.map((r) => [r.scenario, r.agreement.mismatchCount, r.agreement.mismatches])).toEqual(rows.map((r) => [r.scenario, 0, []]));
  });

  it('serves every variation of each definition, so agreement is not vacuous', () => {
    const distinct = Object.fromEntries(rows.map((r) => [r.scenario, r.agreement.distinctValues]));

    expect(distinct).toEqual({
      'static flag': 1,
      'one-condition targeting': 2,
      'ten-condition targeting (regex)': 2,
      'percentage rollout 20%': 2,
      // the default for users outside the namespace or coverage, plus three variations
      'experiment in namespace': 4,
      '1,000-flag ruleset, random flag': expect.any(Number) as number,
    });
    expect(distinct['1,000-flag ruleset, random flag']).toBeGreaterThan(100);
  });
});

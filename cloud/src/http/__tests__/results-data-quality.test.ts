import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantile } from '@xp/shared';
import type { MetricInput } from '@xp/shared';
import { isDominant } from '../../domain/results-data-quality.js';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, startPlatform } from './harness.js';
import { csvRecords } from './csv.js';

const PROJECT = 'quality';
const BASE = `/api/v1/projects/${PROJECT}`;
const START = Date.UTC(2026, 10, 1);

const METRICS: MetricInput[] = [
  { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' },
  { key: 'revenue-capped', name: 'Revenue capped', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'absolute', value: 50 } },
  { key: 'revenue-1000', name: 'Revenue capped at 1000', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'absolute', value: 1000 } },
  { key: 'revenue-p90', name: 'Revenue p90', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'percentile', value: 0.9 } },
  { key: 'converted', name: 'Converted', type: 'conversion', event: 'purchase' },
];

interface Unit {
  readonly id: string;
  readonly variation: string;
  readonly excluded: boolean;
  /** Purchases and amount; none: no totals rows. */
  readonly purchases: number;
  readonly amount: number;
}

/** `perArm` units per arm, every 10th buying once for 20; then the extra units. */
function dataset(prefix: string, perArm: Record<string, number>, extra: readonly Unit[] = []): Unit[] {
  const units: Unit[] = [];
  for (const [variation, n] of Object.entries(perArm)) {
    for (let i = 0; i < n; i++) {
      const buys = i % 10 === 0;
      units.push({ id: `${prefix}-${variation}-${i}`, variation, excluded: false, purchases: buys ? 1 : 0, amount: buys ? 20 : 0 });
    }
  }
  return [...units, ...extra];
}

async function insertUnits(p: Platform, projectId: string, experiment: string, units: readonly Unit[]): Promise<void> {
  await p.db.query(
    `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, excluded)
     SELECT $1, 'production', $2, u, v, $3::timestamptz, 'e-' || u, x
     FROM unnest($4::text[], $5::text[], $6::boolean[]) AS r(u, v, x)`,
    [projectId, experiment, new Date(START + 3_600_000).toISOString(), units.map((u) => u.id), units.map((u) => u.variation), units.map((u) => u.excluded)],
  );
  const buyers = units.filter((u) => u.purchases > 0);
  const rows = buyers.flatMap((u) => [
    { unit: u.id, metric: 'purchases', value: u.purchases },
    { unit: u.id, metric: 'revenue-capped', value: u.amount },
    { unit: u.id, metric: 'revenue-p90', value: u.amount },
    { unit: u.id, metric: 'revenue-1000', value: u.amount },
    { unit: u.id, metric: 'converted', value: 1 },
  ]);
  await p.db.query(
    `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
     SELECT $1, 'production', $2, u, m, m = 'converted', v
     FROM unnest($3::text[], $4::text[], $5::numeric[]) AS r(u, m, v)`,
    [projectId, experiment, rows.map((r) => r.unit), rows.map((r) => r.metric), rows.map((r) => r.value)],
  );
}


describe('the dominant-unit rule', () => {
  it('needs a share over 25% and a unit standing out from the other units with a value', () => {
    // 34 of 133 against 99 units of 1: 34 times the others' mean.
    expect(isDominant(34 / 133, 100)).toBe(true);
    expect(isDominant(33 / 132, 100)).toBe(false);
    // Three equal buyers; two, one buying 5 times (no outlier) or 20 times what the other does; a lone contributor.
    expect(isDominant(1 / 3, 3)).toBe(false);
    expect(isDominant(5 / 6, 2)).toBe(false);
    expect(isDominant(20 / 21, 2)).toBe(true);
    expect(isDominant(1, 1)).toBe(false);
  });
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('results data-quality warnings on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let projectId: string;

  // A junk "undefined" unit in the treatment with 50,000 purchases (2.5M revenue); "null" and a
  // whitespace id in the control; "0" (a legitimate id) in the treatment; excluded units in both.
  const polluted = dataset('dq', { control: 150, treatment: 150 }, [
    { id: 'undefined', variation: 'treatment', excluded: false, purchases: 50_000, amount: 2_500_000 },
    { id: 'null', variation: 'control', excluded: false, purchases: 0, amount: 0 },
    { id: '   ', variation: 'control', excluded: false, purchases: 0, amount: 0 },
    { id: '0', variation: 'treatment', excluded: false, purchases: 0, amount: 0 },
    ...[1, 2, 3].map((i) => ({ id: `both-c${i}`, variation: 'control', excluded: true, purchases: 0, amount: 0 })),
    { id: 'both-t1', variation: 'treatment', excluded: true, purchases: 0, amount: 0 },
  ]);

  const must = (method: string, path: string, body?: unknown): Promise<unknown> => mustAs(p, owner, method, path, body);
  const results = async (key: string, query = ''): Promise<ExperimentResults> => {
    const res = await p.request('GET', `${BASE}/experiments/${key}/results${query}`, { token: owner });
    expect(res.status).toBe(200);
    return experimentResultsSchema.parse(res.body);
  };
  const csv = async (key: string): Promise<Record<string, string>[]> => {
    const res = await p.request('GET', `${BASE}/experiments/${key}/results.csv`, { token: owner });
    expect(res.status).toBe(200);
    return csvRecords(res.body as string);
  };
  const experiment = async (key: string, units: readonly Unit[]): Promise<void> => {
    await must('POST', `${BASE}/experiments`, {
      key,
      name: key,
      status: 'running',
      startedAt: new Date(START).toISOString(),
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: METRICS.map((m) => m.key) },
    });
    await insertUnits(p, projectId, key, units);
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Quality' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    for (const m of METRICS) {
      await must('POST', `${BASE}/metrics`, m);
    }
    await experiment('polluted', polluted);
    // Clean data, but twice as many units in the control: SRM.
    await experiment('skewed', dataset('sk', { control: 300, treatment: 150 }));
    // A rare metric: 200 units per arm, 3 of each buying once (for 20). Each buyer holds a third of
    // the arm's total, but none stands out from the others: no warning.
    const rare = (prefix: string): Unit[] =>
      ['control', 'treatment'].flatMap((variation) =>
        Array.from({ length: 200 }, (_, i) => ({ id: `${prefix}-${variation}-${i}`, variation, excluded: false, purchases: i < 3 ? 1 : 0, amount: i < 3 ? 20 : 0 })),
      );
    await experiment('rare', rare('ra'));
    // A refund of 1,000,000 in the control: the arm's net revenue is negative (20 × 20 − 1,000,000).
    await experiment('refund', dataset('rf', { control: 200, treatment: 200 }, [{ id: 'refunder', variation: 'control', excluded: false, purchases: 1, amount: -1_000_000 }]));
    // A unit with 1e200 purchases: Σv² overflows a double.
    await experiment('overflow', dataset('ov', { control: 150, treatment: 150 }, [{ id: 'huge', variation: 'treatment', excluded: false, purchases: 1e200, amount: 20 }]));
    // Ten units per arm, one of them holding most purchases: too few units to warn.
    await experiment('tiny', dataset('ti', { control: 10, treatment: 10 }, [{ id: 'ti-whale', variation: 'treatment', excluded: false, purchases: 500, amount: 100 }]));
  });
  afterAll(async () => {
    await p.close();
  });

  it('warns when one unit holds most of an arm’s total, naming it, its share and capping', async () => {
    const r = await results('polluted');
    const dominant = r.warnings.filter((w) => w.code === 'DOMINANT_UNIT' && w.metric !== 'revenue-1000');
    expect(dominant).toEqual([
      {
        code: 'DOMINANT_UNIT',
        metric: 'purchases',
        variation: 'treatment',
        unitIds: ['undefined'],
        share: 50_000 / 50_015,
        unitCount: null,
        message: expect.stringMatching(/^one unit \("undefined"\) holds 99\.9% of "Purchases" in variation "treatment" \(50000 of 50015\).*cap the metric/),
      },
    ]);
    // The capped revenue: the unit's 50 of 15 × 20 + 50 = 350 (14%) is no dominant share; conversions are never checked.
    const capped = r.metrics.find((m) => m.key === 'revenue-capped')!;
    expect(capped.variations.map((v) => v.total)).toEqual([300, 350]);
    expect(r.metrics.find((m) => m.key === 'converted')!.variations[1]!.total).toBe(16);
  });

  it('judges capped metrics on the capped values the analysis sums', async () => {
    // Capped at 1,000: the junk unit's 1,000 is 1000 / 1300 of the treatment's capped total.
    const r = await results('polluted');
    const warnings = r.warnings.filter((w) => w.code === 'DOMINANT_UNIT' && w.metric === 'revenue-1000');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ variation: 'treatment', unitIds: ['undefined'], share: 1000 / 1300 });
    expect(warnings[0]!.message).toContain('after capping at 1000');
    expect(warnings[0]!.message).toContain('lower the cap');
  });

  it('does not warn about a dominant unit in a test too small to tell', async () => {
    const r = await results('tiny');
    expect(r.variations.map((v) => v.units)).toEqual([10, 11]);
    expect(r.warnings).toEqual([]);
  });

  it('does not warn about the few units of a rare metric when none stands out from the others', async () => {
    const r = await results('rare');
    expect(r.metrics.find((m) => m.key === 'purchases')!.variations.map((v) => v.total)).toEqual([3, 3]);
    expect(r.warnings).toEqual([]);
  });

  it('warns about a negative outlier, as a share of the absolute total', async () => {
    const r = await results('refund');
    const dominant = r.warnings.filter((w) => w.code === 'DOMINANT_UNIT' && w.metric === 'revenue-capped');
    expect(dominant).toEqual([
      {
        code: 'DOMINANT_UNIT',
        metric: 'revenue-capped',
        variation: 'control',
        unitIds: ['refunder'],
        share: 1_000_000 / 1_000_400,
        unitCount: null,
        message: expect.stringMatching(/^one unit \("refunder"\) holds 99\.9% of the absolute total of "Revenue capped" in variation "control" after capping at 50 \(-1000000 of an absolute total of 1000400; net total -999600\)/),
      },
    ]);
    // Its one purchase is like anyone else's.
    expect(r.warnings.some((w) => w.metric === 'purchases')).toBe(false);
  });

  it('looks the largest unit up when the sum of squares overflows', async () => {
    const r = await results('overflow');
    const dominant = r.warnings.filter((w) => w.code === 'DOMINANT_UNIT');
    expect(dominant).toEqual([expect.objectContaining({ metric: 'purchases', variation: 'treatment', unitIds: ['huge'], share: 1 })]);
  });

  it('warns about unit ids a buggy client sends, per variation, but not about "0"', async () => {
    const r = await results('polluted');
    const suspicious = r.warnings.filter((w) => w.code === 'SUSPICIOUS_UNIT_IDS');
    expect(suspicious).toEqual([
      { code: 'SUSPICIOUS_UNIT_IDS', metric: null, variation: 'control', unitIds: ['   ', 'null'], unitCount: 2, share: null, message: expect.stringContaining('2 analysed units have ids') },
      { code: 'SUSPICIOUS_UNIT_IDS', metric: null, variation: 'treatment', unitIds: ['undefined'], unitCount: 1, share: null, message: expect.stringContaining('("undefined") in variation "treatment"') },
    ]);
    // Filters narrow the check as they narrow the analysed units.
    const filtered = await results('polluted', `?from=${new Date(START + 7_200_000).toISOString()}`);
    expect(filtered.warnings).toEqual([]);
  });

  it('counts the units each cap changed, per variation, and shows the cap type in the CSV', async () => {
    const r = await results('polluted');
    const absolute = r.metrics.find((m) => m.key === 'revenue-capped')!;
    expect(absolute.source).toBe('rollup');
    expect(absolute.variations.map((v) => [v.variation, v.cappedUnits])).toEqual([
      ['control', 0],
      ['treatment', 1],
    ]);
    const p90 = r.metrics.find((m) => m.key === 'revenue-p90')!;
    const analysed = polluted.filter((u) => !u.excluded);
    const cap = quantile(
      analysed.map((u) => u.amount),
      0.9,
    );
    expect(p90.cap!.value).toBeCloseTo(cap, 9);
    expect(p90.variations.map((v) => [v.variation, v.cappedUnits])).toEqual(
      ['control', 'treatment'].map((variation) => [variation, analysed.filter((u) => u.variation === variation && u.amount > cap).length]),
    );
    expect(r.metrics.find((m) => m.key === 'purchases')!.variations.map((v) => v.cappedUnits)).toEqual([null, null]);

    const rows = await csv('polluted');
    const row = (metric: string, variation: string) => rows.find((x) => x.metric === metric && x.variation === variation)!;
    expect(row('revenue-capped', 'treatment')).toMatchObject({ cap: '50', cap_type: 'absolute', cap_percentile: '', capped_units: '1' });
    expect(row('revenue-p90', 'control')).toMatchObject({ cap_type: 'percentile', cap_percentile: '0.9', capped_units: String(p90.variations[0]!.cappedUnits) });
    expect(row('purchases', 'control')).toMatchObject({ cap: '', cap_type: '', capped_units: '' });
  });

  it('counts excluded units per variation of first exposure, in JSON and CSV', async () => {
    const r = await results('polluted');
    expect(r.units.excluded).toBe(4);
    expect(r.variations.map((v) => [v.key, v.excluded])).toEqual([
      ['control', 3],
      ['treatment', 1],
    ]);
    const rows = await csv('polluted');
    expect(rows.filter((x) => x.metric === 'purchases').map((x) => [x.variation, x.excluded_units])).toEqual([
      ['control', '3'],
      ['treatment', '1'],
    ]);
  });

  it('lists the warnings that apply to each CSV row', async () => {
    const rows = await csv('polluted');
    const warningsOf = (metric: string, variation: string) => rows.find((x) => x.metric === metric && x.variation === variation)!.warnings;
    expect(warningsOf('purchases', 'treatment')).toBe('SUSPICIOUS_UNIT_IDS;DOMINANT_UNIT');
    expect(warningsOf('revenue-capped', 'treatment')).toBe('SUSPICIOUS_UNIT_IDS');
    expect(warningsOf('purchases', 'control')).toBe('SUSPICIOUS_UNIT_IDS');
    expect(warningsOf('converted', 'treatment')).toBe('SUSPICIOUS_UNIT_IDS');
  });

  it('adds SAMPLE_RATIO_MISMATCH to the warnings when the SRM check flags', async () => {
    const r = await results('skewed');
    expect(r.srm.flagged).toBe(true);
    expect(r.warnings).toEqual([{ code: 'SAMPLE_RATIO_MISMATCH', metric: null, variation: null, unitIds: [], share: null, unitCount: null, message: expect.stringContaining('sample ratio mismatch') }]);
    expect((await csv('skewed')).every((x) => x.warnings === 'SAMPLE_RATIO_MISMATCH')).toBe(true);
    expect((await results('polluted')).warnings.some((w) => w.code === 'SAMPLE_RATIO_MISMATCH')).toBe(false);
  });
});

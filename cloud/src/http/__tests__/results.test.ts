import { readFileSync } from 'node:fs';
import { csvRecords } from './csv.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeExperiment, frequentistTest, quantile } from '@xp/shared';
import type { MetricInput } from '@xp/shared';
import { experimentResultsSchema, resultsBreakdownSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { toRecord } from '../../pipeline/__tests__/fixtures.js';
import { compactRollups } from '../../store/results.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';
import { seededRandom } from '@xp/shared';

const PROJECT = 'results';
const BASE = `/api/v1/projects/${PROJECT}`;
const START = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const METRICS: MetricInput[] = [
  { key: 'converted', name: 'Converted', type: 'conversion', event: 'purchase' },
  { key: 'revenue', name: 'Revenue, "net"', type: 'sum', event: 'purchase', property: 'amount' },
  { key: 'revenue-capped', name: '=Revenue capped', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'absolute', value: 50 } },
  { key: 'revenue-p90', name: 'Revenue p90', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'percentile', value: 0.9 } },
  { key: 'per-session', name: 'Revenue per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' }, denominator: { event: 'session', aggregation: 'count' } },
  { key: 'page-views', name: 'Page views', type: 'count', event: 'page_view' },
];

interface Totals {
  value: number;
  pre: number;
  den: number;
  preDen: number;
}

interface Unit {
  readonly id: string;
  readonly variation: string;
  readonly exposedAt: number;
  readonly attributes: Record<string, string | number | boolean> | null;
  readonly excluded: boolean;
  /** Per metric; a metric absent here has no totals row (zeros). */
  readonly totals: Record<string, Totals>;
}

const prng = seededRandom;

/** 400 units per arm over three days: treatment converts twice as often; page views are identical in distribution. */
function dataset(): Unit[] {
  const random = prng(42);
  const units: Unit[] = [];
  for (let i = 0; i < 800; i++) {
    const variation = i % 2 === 0 ? 'control' : 'treatment';
    const converts = random() < (variation === 'control' ? 0.15 : 0.3);
    const amount = converts ? Math.round((10 + random() * 90) * 100) / 100 : 0;
    const sessions = 1 + Math.floor(random() * 4);
    const preAmount = Math.round(random() * 60 * 100) / 100;
    const totals: Record<string, Totals> = {
      'page-views': { value: Math.floor(random() * 10), pre: 0, den: 0, preDen: 0 },
      'per-session': { value: amount, pre: preAmount, den: sessions, preDen: 1 + Math.floor(random() * 3) },
    };
    if (converts) {
      totals.converted = { value: 1, pre: 0, den: 0, preDen: 0 };
    }
    for (const key of ['revenue', 'revenue-capped', 'revenue-p90']) {
      totals[key] = { value: amount, pre: preAmount, den: 0, preDen: 0 };
    }
    units.push({
      id: `u${String(i).padStart(4, '0')}`,
      variation,
      exposedAt: START + Math.floor((i / 800) * 3 * DAY),
      attributes: i % 10 === 9 ? null : { country: i % 3 === 0 ? 'US' : 'CA', age: 20 + (i % 50), beta: i % 4 === 0 },
      excluded: i % 100 === 50,
      totals,
    });
  }
  return units;
}

async function insertUnits(p: Platform, projectId: string, experiment: string, units: readonly Unit[]): Promise<void> {
  await p.db.query(
    `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, excluded, attributes)
     SELECT $1, 'production', $2, u, v, 'epoch'::timestamptz + interval '1 millisecond' * t, 'e-' || u, x, a
     FROM unnest($3::text[], $4::text[], $5::bigint[], $6::boolean[], $7::jsonb[]) AS r(u, v, t, x, a)`,
    [
      projectId,
      experiment,
      units.map((u) => u.id),
      units.map((u) => u.variation),
      units.map((u) => u.exposedAt),
      units.map((u) => u.excluded),
      units.map((u) => (u.attributes === null ? null : JSON.stringify(u.attributes))),
    ],
  );
  const rows = units.flatMap((u) => Object.entries(u.totals).map(([metric, t]) => ({ unit: u.id, metric, ...t })));
  await p.db.query(
    `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value, pre_value, denominator, pre_denominator)
     SELECT $1, 'production', $2, u, m, m = 'converted', v, pv, d, pd
     FROM unnest($3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[]) AS r(u, m, v, pv, d, pd)`,
    [
      projectId,
      experiment,
      rows.map((r) => r.unit),
      rows.map((r) => r.metric),
      rows.map((r) => r.value),
      rows.map((r) => r.pre),
      rows.map((r) => r.den),
      rows.map((r) => r.preDen),
    ],
  );
}

/** Independent sums over the analysed units (zeros for missing totals), in JavaScript. */
function sumsOf(units: readonly Unit[], metric: string, variation: string, cap = Number.POSITIVE_INFINITY) {
  const arm = units.filter((u) => u.variation === variation && !u.excluded);
  let sum = 0;
  let sumSquares = 0;
  let pre = 0;
  let preSquares = 0;
  let products = 0;
  for (const u of arm) {
    const t = u.totals[metric];
    const v = Math.min(t?.value ?? 0, cap);
    const p = Math.min(t?.pre ?? 0, cap);
    sum += v;
    sumSquares += v * v;
    pre += p;
    preSquares += p * p;
    products += v * p;
  }
  return { n: arm.length, sum, sumSquares, pre, preSquares, products };
}

/** Pipeline events of one experiment in production, with ids `<experiment>-000001`, … in order. */
function eventsOf(projectId: string, experiment: string) {
  let id = 0;
  const envelope = (time: number, event: Record<string, unknown>) => ({
    v: 1 as const,
    projectId,
    environment: 'production',
    receivedAt: time,
    occurredAt: time,
    event: { id: `${experiment}-${String(++id).padStart(6, '0')}`, unitId: '', timestamp: time, ...event },
  });
  return {
    exposureAt: (unit: string, variation: string, time: number, attributes?: Record<string, string | number>) =>
      envelope(time, { type: 'exposure', unitId: unit, experiment, variation, ...(attributes === undefined ? {} : { attributes }) }),
    trackAt: (unit: string, name: string, time: number, amount?: number) =>
      envelope(time, { type: 'track', unitId: unit, name, ...(amount === undefined ? {} : { properties: { amount } }) }),
  };
}

/** The phase of an experiment whose split never moved: its one phase, unbounded. */
const ONE_PHASE = { index: 0, count: 1, from: null, to: null, splitChangedAt: null, pooled: false };

describe.each(TARGETS.map((t) => [t().name, t] as const))('experiment results on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let viewer: string;
  let projectId: string;
  const units = dataset();

  const experiment = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    key,
    name: `Experiment ${key}`,
    variations: [{ key: 'control' }, { key: 'treatment' }],
    metrics: { primary: ['converted'], secondary: ['revenue', 'revenue-capped', 'revenue-p90', 'per-session'], guardrails: ['page-views'] },
    ...extra,
  });
  const must = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await p.request(method, path, { token: owner, ...(body === undefined ? {} : { body }) });
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  };
  const results = async (key: string, query = ''): Promise<ExperimentResults> => {
    const res = await p.request('GET', `${BASE}/experiments/${key}/results${query}`, { token: owner });
    if (res.status !== 200) {
      throw new Error(`results ${key}${query}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return experimentResultsSchema.parse(res.body);
  };
  const metricOf = (r: ExperimentResults, key: string) => r.metrics.find((m) => m.key === key)!;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Results' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    for (const m of METRICS) {
      await must('POST', `${BASE}/metrics`, m);
    }
    await must('POST', `${BASE}/experiments`, experiment('checkout', { status: 'running', startedAt: new Date(START).toISOString() }));
    await insertUnits(p, projectId, 'checkout', units);
    await must('POST', `${BASE}/segments`, { key: 'us', name: 'US', type: 'condition', condition: { country: 'US' } });
    await must('POST', `${BASE}/segments`, { key: 'us-or-ca-beta', name: 'Beta', type: 'condition', condition: { $or: [{ country: 'US' }, { beta: true }] } });
    await must('POST', `${BASE}/segments`, { key: 'first-ten', name: 'First ten', type: 'ids', values: units.slice(0, 10).map((u) => u.id) });
    await must('POST', `${BASE}/segments`, { key: 'grouped', name: 'Grouped', type: 'condition', condition: { id: { $inGroup: 'first-ten' } } });
    await must('POST', '/api/v1/users', { email: 'viewer@example.com', name: 'Viewer', role: 'viewer', password: 'purple monkey dishwasher 7' });
    viewer = await p.login('viewer@example.com', 'purple monkey dishwasher 7');
  });
  afterAll(async () => {
    await p.close();
  });

  it('matches the statistics engine on the same sums: a clear winner and a null metric', async () => {
    const r = await results('checkout');

    const control = sumsOf(units, 'converted', 'control');
    const treatment = sumsOf(units, 'converted', 'treatment');
    const expected = frequentistTest(
      { n: control.n, sum: control.sum, sumSquares: control.sumSquares },
      { n: treatment.n, sum: treatment.sum, sumSquares: treatment.sumSquares },
      { statisticType: 'proportion' },
    );
    const converted = metricOf(r, 'converted');
    const comparison = converted.variations[1]!.comparison!;
    expect(converted.variations.map((v) => [v.variation, v.units, v.total])).toEqual([
      ['control', control.n, control.sum],
      ['treatment', treatment.n, treatment.sum],
    ]);
    expect(comparison.effect).toBeCloseTo(expected.effect, 10);
    expect(comparison.pValue).toBeCloseTo(expected.pValue, 10);
    expect(comparison.ci[0]).toBeCloseTo(expected.ci[0], 10);
    expect(comparison.significant).toBe(true);
    expect(comparison.chanceToWin).toBeGreaterThan(0.99);
    expect(converted.variations[0]!.comparison).toBeNull();
    const nullMetric = metricOf(r, 'page-views').variations[1]!.comparison!;
    expect(nullMetric.significant).toBe(false);
    expect(nullMetric.error).toBeNull();
    expect(r.units).toEqual({ analysed: units.filter((u) => !u.excluded).length, excluded: units.filter((u) => u.excluded).length, unknownVariation: 0 });
    expect(r.srm.flagged).toBe(false);
  });

  it('corrects p-values across metrics × variations exactly as the engine does', async () => {
    const r = await results('checkout', '?correction=bh&alpha=0.1');

    const engine = analyzeExperiment({
      variations: r.variations.map((v) => ({ key: v.key, weight: 1, units: v.units })),
      metrics: ['converted', 'page-views'].map((key) => {
        const [c, t] = [sumsOf(units, key, 'control'), sumsOf(units, key, 'treatment')];
        return { key, type: key === 'converted' ? ('proportion' as const) : ('mean' as const), arms: [c, t] };
      }),
      options: { correction: 'bh', alpha: 0.1 },
    });
    expect(r.analysis).toMatchObject({ correction: 'bh', alpha: 0.1, sequential: false });
    const raw = r.metrics.map((m) => m.variations[1]!.comparison!);
    expect(raw.every((c) => c.adjustedPValue >= c.pValue)).toBe(true);
    expect(engine.metrics[0]!.comparisons[0]!.frequentist.pValue).toBeCloseTo(metricOf(r, 'converted').variations[1]!.comparison!.pValue, 10);
    // The corrected interval says what `significant` says.
    for (const c of raw) {
      const [lo, hi] = c.adjustedCi;
      expect({ significant: c.significant, excludesZero: (lo !== null && lo > 0) || (hi !== null && hi < 0) }).toEqual({ significant: c.significant, excludesZero: c.significant });
      expect(lo === null || (c.ci[0] !== null && lo <= c.ci[0])).toBe(true);
    }
  });

  it('switches to confidence sequences when asked: same effect, wider interval', async () => {
    const fixed = metricOf(await results('checkout'), 'converted').variations[1]!.comparison!;
    const seq = metricOf(await results('checkout', '?sequential=true'), 'converted').variations[1]!.comparison!;

    expect(seq.method).toBe('sequential');
    expect(fixed.method).toBe('welch');
    expect(seq.effect).toBeCloseTo(fixed.effect, 12);
    expect(seq.ci[1]! - seq.ci[0]!).toBeGreaterThan(fixed.ci[1]! - fixed.ci[0]!);
  });

  it('applies CUPED when pre-period data exists, and says so', async () => {
    const r = await results('checkout');

    const revenue = metricOf(r, 'revenue');
    expect(revenue.cupedApplied).toBe(true);
    expect(revenue.variations[1]!.comparison!.cuped).not.toBeNull();
    expect(metricOf(r, 'per-session').cupedApplied).toBe(true);
    expect(metricOf(r, 'page-views').cupedApplied).toBe(false);
    expect(metricOf(r, 'page-views').variations[1]!.comparison!.cuped).toBeNull();
    expect([revenue.cupedStatus, metricOf(r, 'per-session').cupedStatus, metricOf(r, 'page-views').cupedStatus]).toEqual(['applied', 'applied', 'no-pre-exposure-data']);
    const csv = csvRecords((await p.request('GET', `${BASE}/experiments/checkout/results.csv`, { token: owner })).body as string);
    expect(csv.filter((row) => row.metric === 'page-views' || row.metric === 'revenue').map((row) => [row.metric, row.cuped_status])).toEqual([
      ['revenue', 'applied'],
      ['revenue', 'applied'],
      ['page-views', 'no-pre-exposure-data'],
      ['page-views', 'no-pre-exposure-data'],
    ]);
  });

  it('analyses without CUPED when asked (cuped=false): plain Welch on the same sums', async () => {
    const r = await results('checkout', '?cuped=false');
    const revenue = metricOf(r, 'revenue');
    const engine = frequentistTest(sumsOf(units, 'revenue', 'control'), sumsOf(units, 'revenue', 'treatment'));

    expect(revenue.cupedApplied).toBe(false);
    expect(revenue.cupedStatus).toBe('disabled');
    expect(revenue.variations[1]!.comparison!.cuped).toBeNull();
    expect(revenue.variations[1]!.comparison!.pValue).toBeCloseTo(engine.pValue, 9);
    expect(metricOf(await results('checkout', '?cuped=true'), 'revenue').cupedApplied).toBe(true);
  });

  it("analyses by the experiment's saved analysis plan by default, each query parameter still overriding it, in JSON and CSV", async () => {
    // The same experiment and units, asked for the options without a plan, then given them as its plan (removed at the end).
    const asked = await results('checkout', '?sequential=true&cuped=false');
    expect(asked.analysis.source).toEqual({ sequential: 'request', cuped: 'request', alpha: 'default', correction: 'default' });
    const stored = await must('GET', `${BASE}/experiments/checkout`);
    const put = async (definition: unknown, version: number): Promise<any> => {
      const res = await p.request('PUT', `${BASE}/experiments/checkout`, { token: owner, body: definition, headers: { 'If-Match': `"${String(version)}"` } });
      expect(res.status).toBe(200);
      return res.body;
    };
    const replanned = await put({ ...stored.definition, analysis: { sequential: true, cuped: false } }, stored.version as number);
    try {
      const planned = await results('checkout');
      expect(planned.analysis).toMatchObject({ sequential: true, cuped: false, alpha: 0.05, correction: 'holm', source: { sequential: 'experiment', cuped: 'experiment', alpha: 'default', correction: 'default' } });
      expect(metricOf(planned, 'converted').variations[1]!.comparison!.method).toBe('sequential');
      expect(metricOf(planned, 'revenue').cupedStatus).toBe('disabled');
      expect(metricOf(planned, 'revenue').variations[1]!.comparison!.pValue).toBe(metricOf(asked, 'revenue').variations[1]!.comparison!.pValue);
      const csv = csvRecords((await p.request('GET', `${BASE}/experiments/checkout/results.csv`, { token: owner })).body as string);
      // The control's row compares nothing: no method.
      expect(csv.filter((row) => row.metric === 'revenue').map((row) => [row.method, row.cuped_status].join())).toEqual([',disabled', 'sequential,disabled']);

      const overridden = await results('checkout', '?sequential=false&cuped=true&correction=none');
      expect(overridden.analysis).toMatchObject({ sequential: false, cuped: true, correction: 'none', source: { sequential: 'request', cuped: 'request', alpha: 'default', correction: 'request' } });
      expect(metricOf(overridden, 'converted').variations[1]!.comparison!.method).toBe('welch');
      expect(metricOf(overridden, 'revenue').cupedStatus).toBe('applied');
    } finally {
      await put(stored.definition, replanned.version as number);
    }
  });

  it('lets a running experiment change its analysis plan, and refuses a bad plan with 400 naming the field', async () => {
    await must('POST', `${BASE}/experiments`, experiment('replanned', { status: 'running', startedAt: new Date(START).toISOString() }));
    const stored = await must('GET', `${BASE}/experiments/replanned`);
    const put = (analysis: unknown, version: number) =>
      p.request('PUT', `${BASE}/experiments/replanned`, { token: owner, body: { ...stored.definition, analysis }, headers: { 'If-Match': `"${String(version)}"` } });

    const changed = await put({ alpha: 0.01, correction: 'bh' }, stored.version as number);
    expect(changed.status).toBe(200);
    expect((await results('replanned')).analysis).toMatchObject({ alpha: 0.01, correction: 'bh', source: { alpha: 'experiment', correction: 'experiment' } });
    expect((await results('replanned', '?alpha=0.2')).analysis).toMatchObject({ alpha: 0.2, source: { alpha: 'request' } });

    for (const [analysis, path, message] of [
      [{ alpha: 1.5 }, 'body.analysis.alpha', 'between 0 and 1'],
      [{ alpha: 0 }, 'body.analysis.alpha', 'between 0 and 1'],
      [{ correction: 'bonferroni' }, 'body.analysis.correction', '"holm"|"bh"|"none"'],
      [{ sequential: 'yes' }, 'body.analysis.sequential', 'expected boolean'],
      [{ power: 0.8 }, 'body.analysis', 'power'],
    ] as const) {
      const res = await put(analysis, changed.body.version as number);
      expect({ analysis, status: res.status, code: res.body.error.code }).toEqual({ analysis, status: 400, code: 'VALIDATION_FAILED' });
      const issue = (res.body.error.details.issues as { path: string; message: string }[]).find((i) => i.path === path);
      expect(issue?.message).toContain(message);
    }
    for (const alpha of ['1', 'abc']) {
      const query = await p.request('GET', `${BASE}/experiments/replanned/results?alpha=${alpha}`, { token: owner });
      expect(query.status).toBe(400);
      expect(JSON.stringify(query.body.error)).toContain('must be a significance level between 0 and 1');
      expect(JSON.stringify(query.body.error)).not.toContain('NaN');
    }
  });

  it('caps per-unit values before summing: absolute in SQL, percentile from the pooled quantile', async () => {
    const r = await results('checkout');
    const analysed = units.filter((u) => !u.excluded);
    const p90 = quantile(
      analysed.map((u) => u.totals['revenue-p90']?.value ?? 0),
      0.9,
    );

    const raw = metricOf(r, 'revenue');
    const capped = metricOf(r, 'revenue-capped');
    const byPercentile = metricOf(r, 'revenue-p90');
    expect(capped.cap).toEqual({ type: 'absolute', percentile: null, value: 50 });
    expect(capped.variations[1]!.total).toBeCloseTo(sumsOf(units, 'revenue-capped', 'treatment', 50).sum, 6);
    expect(capped.variations[1]!.total).toBeLessThan(raw.variations[1]!.total!);
    expect(byPercentile.cap!.value).toBeCloseTo(p90, 9);
    expect(byPercentile.variations[0]!.total).toBeCloseTo(sumsOf(units, 'revenue-p90', 'control', p90).sum, 6);
    const engine = frequentistTest(sumsOf(units, 'revenue-capped', 'control', 50), sumsOf(units, 'revenue-capped', 'treatment', 50), {
      cuped: {
        control: { pre: { n: sumsOf(units, 'revenue-capped', 'control', 50).n, sum: sumsOf(units, 'revenue-capped', 'control', 50).pre, sumSquares: sumsOf(units, 'revenue-capped', 'control', 50).preSquares }, sumProducts: sumsOf(units, 'revenue-capped', 'control', 50).products },
        treatment: { pre: { n: sumsOf(units, 'revenue-capped', 'treatment', 50).n, sum: sumsOf(units, 'revenue-capped', 'treatment', 50).pre, sumSquares: sumsOf(units, 'revenue-capped', 'treatment', 50).preSquares }, sumProducts: sumsOf(units, 'revenue-capped', 'treatment', 50).products },
      },
    });
    expect(capped.variations[1]!.comparison!.effect).toBeCloseTo(engine.effect, 9);
    expect(capped.variations[1]!.comparison!.pValue).toBeCloseTo(engine.pValue, 9);
  });

  it('builds a cumulative time series by exposure bucket that ends at the totals', async () => {
    const r = await results('checkout', '?interval=day');

    expect(r.timeSeries.points.map((pt) => pt.bucket)).toEqual([0, 1, 2].map((d) => new Date(START + d * DAY).toISOString()));
    for (const pt of r.timeSeries.points) {
      const end = Date.parse(pt.end);
      const exposed = units.filter((u) => !u.excluded && u.exposedAt < end);
      expect(pt.units).toEqual({ control: exposed.filter((u) => u.variation === 'control').length, treatment: exposed.filter((u) => u.variation === 'treatment').length });
    }
    const last = r.timeSeries.points.at(-1)!.metrics.find((m) => m.metric === 'converted')!;
    expect(last.effect).toBeCloseTo(metricOf(r, 'converted').variations[1]!.comparison!.effect, 12);
    const hourly = await results('checkout', '?interval=hour');
    expect(hourly.timeSeries.points).toHaveLength(72);
  });

  it('filters by attribute, exposure time and segment', async () => {
    const analysed = units.filter((u) => !u.excluded);
    const count = (pred: (u: Unit) => boolean): number => analysed.filter(pred).length;

    const us = await results('checkout', '?attr.country=US');
    const age = await results('checkout', '?attr.age=21&attr.country=CA');
    const window = await results('checkout', `?from=${new Date(START + DAY).toISOString()}&to=${new Date(START + 2 * DAY).toISOString()}`);
    const segment = await results('checkout', '?segment=us');
    const general = await results('checkout', '?segment=us-or-ca-beta');
    const ids = await results('checkout', '?segment=first-ten');

    expect(us.units.analysed).toBe(count((u) => u.attributes?.country === 'US'));
    expect(us.filters.attributes).toEqual({ country: 'US' });
    expect(age.units.analysed).toBe(count((u) => u.attributes?.age === 21 && u.attributes.country === 'CA'));
    expect(window.units.analysed).toBe(count((u) => u.exposedAt >= START + DAY && u.exposedAt < START + 2 * DAY));
    expect(segment.units.analysed).toBe(us.units.analysed);
    expect(metricOf(segment, 'revenue').variations[0]!.total).toBeCloseTo(metricOf(us, 'revenue').variations[0]!.total!, 9);
    expect(general.units.analysed).toBe(count((u) => u.attributes?.country === 'US' || u.attributes?.beta === true));
    expect(ids.units.analysed).toBe(count((u) => units.slice(0, 10).includes(u)));
  });

  it('answers 400 to bad filters and 404 to unknown experiments', async () => {
    const bad = async (query: string): Promise<string> => {
      const res = await p.request('GET', `${BASE}/experiments/checkout/results${query}`, { token: owner });
      return `${res.status} ${res.body?.error?.code as string}`;
    };

    expect(await bad('?segment=nope')).toBe('400 VALIDATION_FAILED');
    expect(await bad('?segment=grouped')).toBe('400 VALIDATION_FAILED');
    expect(await bad('?country=US')).toBe('400 VALIDATION_FAILED');
    expect(await bad('?alpha=2')).toBe('400 VALIDATION_FAILED');
    expect(await bad('?interval=week')).toBe('400 VALIDATION_FAILED');
    expect(await bad(`?from=${new Date(START).toISOString()}&to=${new Date(START).toISOString()}`)).toBe('400 VALIDATION_FAILED');
    expect(await bad('?from=yesterday')).toBe('400 VALIDATION_FAILED');
    // Well-formed, but before year 1 in UTC: PostgreSQL cannot hold it (was a 500).
    expect(await bad('?from=0000-01-01T00:00:00Z')).toBe('400 VALIDATION_FAILED');
    expect(await bad('?from=0001-01-01T00:00:00%2B01:00')).toBe('400 VALIDATION_FAILED');
    expect(await bad('?to=0000-06-01T00:00:00Z')).toBe('400 VALIDATION_FAILED');
    expect(await bad(`?attr.${'x'.repeat(300)}=1`)).toBe('400 VALIDATION_FAILED');
    const missing = await p.request('GET', `${BASE}/experiments/nope/results`, { token: owner });
    const env = await p.request('GET', `${BASE}/experiments/checkout/results?environment=nowhere`, { token: owner });
    expect(missing.status).toBe(404);
    expect(env.status).toBe(404);
  });

  it('keeps injected filter values as data', async () => {
    const res = await p.request('GET', `${BASE}/experiments/checkout/results?attr.country=${encodeURIComponent(`US'); DROP TABLE exposures; --`)}`, { token: owner });

    expect(res.status).toBe(200);
    expect(res.body.units.analysed).toBe(0);
    expect((await p.db.query('SELECT count(*)::int AS n FROM exposures')).rows[0]).toEqual({ n: units.length });
  });

  it('flags a sample-ratio mismatch against the configured weights', async () => {
    await must('POST', `${BASE}/experiments`, experiment('skewed', { status: 'running', variations: [{ key: 'control', weight: 1 }, { key: 'treatment', weight: 1 }] }));
    await must('POST', `${BASE}/experiments`, experiment('weighted', { status: 'running', variations: [{ key: 'control', weight: 3 }, { key: 'treatment', weight: 2 }] }));
    const skewed = Array.from({ length: 1000 }, (_, i) => ({ ...units[0]!, id: `s${i}`, variation: i < 600 ? 'control' : 'treatment', excluded: false }));

    await insertUnits(p, projectId, 'skewed', skewed);
    await insertUnits(p, projectId, 'weighted', skewed.map((u) => ({ ...u, id: `w-${u.id}` })));
    const r = await results('skewed');
    const w = await results('weighted');

    expect(r.srm.flagged).toBe(true);
    expect(r.srm.pValue).toBeLessThan(0.001);
    expect(r.variations.map((v) => [v.key, v.units, v.expectedShare])).toEqual([
      ['control', 600, 0.5],
      ['treatment', 400, 0.5],
    ]);
    expect(w.srm.flagged).toBe(false);
    expect(w.variations.map((v) => v.expectedShare)).toEqual([0.6, 0.4]);
  });

  it('labels time-series points with the true bounds of their buckets when the experiment started mid-hour', async () => {
    const started = START + 9 * HOUR + 30 * 60_000;
    await must('POST', `${BASE}/experiments`, experiment('mid-hour', { status: 'running', startedAt: new Date(started).toISOString() }));
    // Before the start (a test exposure), in the start's hour after it, the next hour, the next day.
    const offsets = [-20, 15, 15, 45, 80, 1440 + 10, 1440 + 70].map((minutes) => started + minutes * 60_000);
    const exposed = offsets.map((at, i) => ({ ...units[0]!, id: `mh${i}`, variation: i % 2 === 0 ? 'control' : 'treatment', exposedAt: at, excluded: false, attributes: { country: 'US' } }));
    await insertUnits(p, projectId, 'mid-hour', exposed);

    for (const query of ['?interval=day', '?interval=hour', '?interval=hour&attr.country=US', '?interval=day&attr.country=US']) {
      const r = await results('mid-hour', query);
      const width = query.includes('hour') ? HOUR : DAY;
      expect({ query, points: r.timeSeries.points.length > 1 }).toEqual({ query, points: true });
      expect({ query, first: r.timeSeries.points[0]!.bucket }).toEqual({ query, first: new Date(START + 9 * HOUR).toISOString() });
      for (const pt of r.timeSeries.points) {
        const end = Date.parse(pt.end);
        expect(end - Date.parse(pt.bucket)).toBe(width);
        expect(end % HOUR).toBe(0);
        // Every unit first exposed before `end`, and no other.
        const before = exposed.filter((u) => u.exposedAt < end);
        expect({ query, end: pt.end, units: pt.units }).toEqual({ query, end: pt.end, units: { control: before.filter((u) => u.variation === 'control').length, treatment: before.filter((u) => u.variation === 'treatment').length } });
      }
    }
  });

  it('draws every bucket from the first hour to the last with data, repeating the previous point where no unit was first exposed', async () => {
    // prepare: started in the 09:00 hour; first exposures at 10:xx, then a day without any, then day 3
    const started = START + 9 * HOUR + 40 * 60_000;
    await must('POST', `${BASE}/experiments`, experiment('gaps', { status: 'running', startedAt: new Date(started).toISOString() }));
    const at = [70, 75, 80, 85, 200, 210, 2 * 1440 + 30, 2 * 1440 + 40].map((minutes) => started + minutes * 60_000);
    const exposed = at.map((exposedAt, i) => ({ ...units[i]!, id: `gap${i}`, variation: i % 2 === 0 ? 'control' : 'treatment', exposedAt, excluded: false, attributes: { country: 'US' } }));
    await insertUnits(p, projectId, 'gaps', exposed);
    const firstHour = START + 9 * HOUR;

    const cut = firstHour + 2 * HOUR + 60_000;
    // The query, the bucket width, the first bucket, the first exposure time analysed.
    for (const [query, width, from, exposedFrom] of [
      ['?interval=hour', HOUR, firstHour, 0],
      ['?interval=day', DAY, firstHour, 0],
      ['?interval=hour&attr.country=US', HOUR, firstHour, 0],
      [`?interval=hour&from=${new Date(cut).toISOString()}`, HOUR, firstHour + 2 * HOUR, cut],
    ] as const) {
      // act
      const r = await results('gaps', query);
      const csv = await p.request('GET', `${BASE}/experiments/gaps/results.csv${query}&table=timeseries`, { token: owner });
      // assert: a continuous grid, each point cumulative as of its end
      const buckets = r.timeSeries.points.map((pt) => Date.parse(pt.bucket));
      const lastExposure = Math.max(...exposed.filter((u) => u.exposedAt >= exposedFrom).map((u) => u.exposedAt));
      const expected = Array.from({ length: Math.floor((lastExposure - from) / width) + 1 }, (_, k) => from + k * width);
      expect({ query, buckets }).toEqual({ query, buckets: expected });
      for (const [k, pt] of r.timeSeries.points.entries()) {
        const before = exposed.filter((u) => u.exposedAt >= exposedFrom && u.exposedAt < Date.parse(pt.end));
        expect({ query, k, units: pt.units }).toEqual({ query, k, units: { control: before.filter((u) => u.variation === 'control').length, treatment: before.filter((u) => u.variation === 'treatment').length } });
      }
      // A bucket without new exposures repeats the previous point.
      const repeats = r.timeSeries.points.filter((pt, k) => k > 0 && !exposed.some((u) => u.exposedAt >= Math.max(exposedFrom, Date.parse(pt.bucket)) && u.exposedAt < Date.parse(pt.end)));
      expect({ query, repeats: repeats.length > 0 }).toEqual({ query, repeats: true });
      for (const pt of repeats) {
        const previous = r.timeSeries.points[r.timeSeries.points.indexOf(pt) - 1]!;
        expect({ query, bucket: pt.bucket, units: pt.units, metrics: pt.metrics }).toEqual({ query, bucket: pt.bucket, units: previous.units, metrics: previous.metrics });
      }
      // The CSV series has the same points: one row per point × metric × treatment.
      expect({ query, rows: (csv.body as string).trim().split('\r\n').length - 1 }).toEqual({ query, rows: r.timeSeries.points.length * 6 });
    }
  });

  it('counts units exposed to a variation the experiment does not define, and flags the sample ratio', async () => {
    await must('POST', `${BASE}/experiments`, experiment('ghost', { status: 'running', startedAt: new Date(START).toISOString() }));
    const ghost = ['control', 'treatment', 'zzz'].flatMap((variation) => Array.from({ length: 30 }, (_, i) => ({ ...units[0]!, id: `g-${variation}-${i}`, variation, excluded: false })));
    await insertUnits(p, projectId, 'ghost', ghost);

    const r = await results('ghost');
    const filtered = await results('ghost', '?attr.country=US');
    const csv = await p.request('GET', `${BASE}/experiments/ghost/results.csv`, { token: owner });

    expect(r.units).toEqual({ analysed: 60, excluded: 0, unknownVariation: 30 });
    expect(r.srm).toMatchObject({ flagged: true, pValue: 0, error: { code: 'UNEXPECTED_TRAFFIC' } });
    expect(r.srm.error!.message).toContain('"zzz": 30');
    expect(filtered.units.unknownVariation).toBe(30);
    expect(filtered.srm.flagged).toBe(true);
    const [header, first] = (csv.body as string).split('\r\n').map((l) => l.split(','));
    const cell = (name: string): string => first![header!.indexOf(name)]!;
    expect([cell('srm_p_value'), cell('srm_flagged'), cell('srm_error')]).toEqual(['0', 'true', 'UNEXPECTED_TRAFFIC']);
  });

  it('gives every time-series point its corrected interval too, which holds the uncorrected one', async () => {
    const r = await results('checkout');
    const compared = r.timeSeries.points.flatMap((pt) => pt.metrics).filter((m) => m.error === null);

    expect(compared.length).toBeGreaterThan(0);
    for (const m of compared) {
      expect(m.adjustedCi[0]! <= m.ci[0]! && m.adjustedCi[1]! >= m.ci[1]!).toBe(true);
    }
    expect(compared.some((m) => m.adjustedCi[0]! < m.ci[0]!)).toBe(true);
  });

  it('filters on an attribute named __proto__ like any other, which no unit has, instead of dropping the filter', async () => {
    const res = await p.request('GET', `${BASE}/experiments/checkout/results?attr.__proto__=1&attr.country=US`, { token: owner });
    const unfiltered = await results('checkout', '?attr.country=US');

    expect(res.status).toBe(200);
    expect(Object.entries(res.body.filters.attributes as object)).toEqual([
      ['__proto__', '1'],
      ['country', 'US'],
    ]);
    expect(unfiltered.units.analysed).toBeGreaterThan(0);
    expect(res.body.units.analysed).toBe(0);
  });

  it('says which metrics the guardrail checks watch, a primary metric listed as a guardrail too included', async () => {
    await must('POST', `${BASE}/experiments`, experiment('watched', { status: 'running', startedAt: new Date(START).toISOString(), metrics: { primary: ['converted'], secondary: ['revenue'], guardrails: ['page-views', 'converted'] } }));
    await insertUnits(p, projectId, 'watched', units.slice(0, 40));

    const r = await results('watched');
    const csv = await p.request('GET', `${BASE}/experiments/watched/results.csv`, { token: owner });

    expect(r.metrics.map((m) => [m.key, m.role, m.guardrail])).toEqual([
      ['converted', 'primary', true],
      ['revenue', 'secondary', false],
      ['page-views', 'guardrail', true],
    ]);
    const [header, ...rows] = (csv.body as string).trim().split('\r\n').map((l) => l.split(','));
    const column = header!.indexOf('guardrail');
    expect(rows.filter((row) => row[0] !== 'revenue').map((row) => row[column])).toEqual(['true', 'true', 'true', 'true']);
  });

  it('judges the sample ratio by the split the ruleset serves: weights that are all 0 (stored before they were refused) mean equal shares', async () => {
    await must('POST', `${BASE}/experiments`, experiment('zero-weights', { status: 'running', startedAt: new Date(START).toISOString(), variations: [{ key: 'control', weight: 1 }, { key: 'treatment', weight: 1 }] }));
    await p.db.query(`UPDATE experiments SET definition = jsonb_set(jsonb_set(definition, '{variations,0,weight}', '0'), '{variations,1,weight}', '0') WHERE key = 'zero-weights'`);
    const even = ['control', 'treatment'].flatMap((variation) => Array.from({ length: 40 }, (_, i) => ({ ...units[0]!, id: `zw-${variation}-${i}`, variation, excluded: false })));
    await insertUnits(p, projectId, 'zero-weights', even);

    const r = await results('zero-weights');

    expect(r.srm).toMatchObject({ flagged: false, error: null });
    expect(r.variations.map((v: { expectedShare: number }) => v.expectedShare)).toEqual([0.5, 0.5]);

    // Written now, such weights are refused; the stored experiment can still be edited around them.
    const refused = await p.request('POST', `${BASE}/experiments`, { token: owner, body: experiment('zero-again', { variations: [{ key: 'control', weight: 0 }, { key: 'treatment', weight: 0 }] }) });
    expect([refused.status, refused.body.error.message]).toEqual([400, 'the weights add up to 0: give at least one variation a positive weight']);
    const stored = await must('GET', `${BASE}/experiments/zero-weights`);
    const renamed = await p.request('PUT', `${BASE}/experiments/zero-weights`, { token: owner, body: { ...stored.definition, name: 'Renamed' }, headers: { 'If-Match': `"${String(stored.version)}"` } });
    expect(renamed.status).toBe(200);
  });

  it('reads the results of an experiment whose condition holds a pattern refused since it was saved (a backreference)', async () => {
    await must('POST', `${BASE}/experiments`, experiment('stored-backref', { status: 'running', startedAt: new Date(START).toISOString(), condition: { email: { $regex: '^a' } } }));
    await p.db.query(`UPDATE experiments SET definition = jsonb_set(definition, '{condition}', '{"email":{"$regex":"(a)\\\\1"}}') WHERE key = 'stored-backref'`);
    expect((await p.db.query<{ c: unknown }>("SELECT definition -> 'condition' AS c FROM experiments WHERE key = 'stored-backref'")).rows[0]!.c).toEqual({ email: { $regex: '(a)\\1' } });

    const r = await results('stored-backref');

    expect(r.variations.map((v: { key: string }) => v.key)).toEqual(['control', 'treatment']);
  });

  it('keeps the variance of large values with a small spread (1e9 ± 50), on the rollups and on a scan', async () => {
    await must('POST', `${BASE}/experiments`, experiment('large', { status: 'running', startedAt: new Date(START).toISOString() }));
    const random = prng(11);
    const large = Array.from({ length: 600 }, (_, i) => {
      const treatment = i % 2 === 1;
      // Cents: exact decimals, as amounts are.
      const value = Math.round((1e9 + (treatment ? 31.9 : 0) + (random() - 0.5) * 170) * 100) / 100;
      return { ...units[0]!, id: `lg${i}`, variation: treatment ? 'treatment' : 'control', excluded: false, exposedAt: START + i * 60_000, attributes: { country: 'US' }, totals: { revenue: { value, pre: 0, den: 0, preDen: 0 } } };
    });
    await insertUnits(p, projectId, 'large', large);
    // Reference: means and variances from deviations around 1e9 (no cancellation).
    const arm = (variation: string) => {
      const d = large.filter((u) => u.variation === variation).map((u) => u.totals.revenue.value - 1e9);
      const mean = d.reduce((s, x) => s + x, 0) / d.length;
      return { n: d.length, mean: 1e9 + mean, variance: d.reduce((s, x) => s + (x - mean) ** 2, 0) / (d.length - 1) };
    };
    const c = arm('control');
    const t = arm('treatment');
    const effect = (t.mean - c.mean) / c.mean;
    const se = Math.sqrt(t.variance / t.n + ((t.mean / c.mean) ** 2 * c.variance) / c.n) / c.mean;

    for (const query of ['', '?attr.country=US', '?interval=hour']) {
      const revenue = metricOf(await results('large', query), 'revenue');
      const comparison = revenue.variations[1]!.comparison!;
      expect({ query, error: comparison.error }).toEqual({ query, error: null });
      expect(comparison.effect / effect).toBeCloseTo(1, 6);
      expect(comparison.se / se).toBeCloseTo(1, 6);
      expect(revenue.variations[0]!.mean! / c.mean).toBeCloseTo(1, 12);
    }
  });

  it('applies CUPED exactly where post and pre are collinear to 1e-20 (1.7e12 ± 30 with units at 0), on the rollups and on a scan', async () => {
    // prepare: the engine fixture's case 0 (units and Fraction-exact figures from generate.py)
    const fixture = JSON.parse(readFileSync(new URL('../../../../shared/spec/stats/cuped-collinear.json', import.meta.url), 'utf8')) as {
      cases: { units?: [number, number][][]; expected: { effect: number; se: number; pValue: number; theta: number; ci: [number, number] } }[];
    };
    const { units: arms, expected } = fixture.cases[0]!;
    await must('POST', `${BASE}/experiments`, experiment('collinear', { status: 'running', startedAt: new Date(START).toISOString() }));
    const collinear = arms!.flatMap((arm, a) =>
      arm.map(([value, pre], i) => ({
        ...units[0]!,
        id: `cl${a}-${i}`,
        variation: a === 0 ? 'control' : 'treatment',
        excluded: false,
        exposedAt: START + i * 60_000,
        attributes: { country: 'US' },
        // The units at 0 have no events, so no totals row.
        totals: value === 0 && pre === 0 ? {} : { revenue: { value, pre, den: 0, preDen: 0 } },
      })),
    );
    await insertUnits(p, projectId, 'collinear', collinear);
    const close = (actual: number, wanted: number): boolean => Math.abs(actual - wanted) <= 1e-9 * Math.abs(wanted);

    for (const query of ['', '?attr.country=US']) {
      // act
      const comparison = metricOf(await results('collinear', query), 'revenue').variations[1]!.comparison!;
      // assert
      expect({ query, error: comparison.error }).toEqual({ query, error: null });
      const got = { effect: comparison.effect, se: comparison.se, pValue: comparison.pValue, theta: comparison.cuped?.theta ?? Number.NaN, ci: comparison.ci };
      expect({ query, got, close: [close(got.effect, expected.effect), close(got.se, expected.se), close(got.pValue, expected.pValue), close(got.theta, expected.theta), close(got.ci[0] ?? Number.NaN, expected.ci[0]), close(got.ci[1] ?? Number.NaN, expected.ci[1])] }).toEqual({
        query,
        got,
        close: [true, true, true, true, true, true],
      });
    }
  });

  it('analyses where the experiment runs when no environment is asked for', async () => {
    await must('POST', `${BASE}/experiments`, experiment('dev-only', { status: 'running', environments: ['development'] }));
    await must('POST', `${BASE}/experiments`, experiment('dev-and-prod', { status: 'running', environments: ['staging', 'production'] }));
    await must('POST', `${BASE}/experiments`, experiment('empty-anywhere', { status: 'running' }));
    const environmentOf = async (key: string, query = ''): Promise<unknown> => {
      const res = await p.request('GET', `${BASE}/experiments/${key}/results${query}`, { token: owner });
      expect(res.status).toBe(200);
      return res.body.environment;
    };
    expect(await environmentOf('dev-only')).toBe('development');
    expect(await environmentOf('dev-and-prod')).toBe('production');
    expect(await environmentOf('empty-anywhere')).toBe('production');
    expect(await environmentOf('dev-only', '?environment=staging')).toBe('staging');
    // The breakdown resolves it the same way (then refuses a dimension the experiment does not list).
    const breakdown = await p.request('GET', `${BASE}/experiments/dev-only/results/breakdown?dimension=nope`, { token: owner });
    expect([breakdown.status, breakdown.body.error.details.issues[0].path]).toEqual([400, 'query.dimension']);
  });

  it('refuses to delete a running experiment, and deletes a stopped one with its data: the same key later starts from nothing', async () => {
    await must('POST', `${BASE}/experiments`, experiment('doomed', { status: 'running', startedAt: new Date(START).toISOString(), dimensions: ['country'] }));
    await insertUnits(p, projectId, 'doomed', units.slice(0, 200));
    expect((await results('doomed')).units.analysed).toBeGreaterThan(0);
    expect((await results('doomed', '?attr.country=US')).units.analysed).toBeGreaterThan(0);
    const version = async (): Promise<string> => `"${(await must('GET', `${BASE}/experiments/doomed`)).version}"`;

    const running = await p.request('DELETE', `${BASE}/experiments/doomed`, { token: owner, headers: { 'If-Match': await version() } });
    expect([running.status, running.body.error.code, running.body.error.message]).toEqual([
      409,
      'INVALID_STATE',
      'experiment "doomed" is running; stop it before deleting it (deleting also deletes its exposures and results)',
    ]);
    await p.request('POST', `${BASE}/experiments/doomed/stop`, { token: owner, headers: { 'If-Match': await version() }, body: {} });
    const deleted = await p.request('DELETE', `${BASE}/experiments/doomed`, { token: owner, headers: { 'If-Match': await version() } });
    expect(deleted.status).toBe(204);

    const left = await p.db.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM exposures WHERE project_id = $1 AND experiment = 'doomed')
            + (SELECT count(*) FROM unit_metric_totals WHERE project_id = $1 AND experiment = 'doomed')
            + (SELECT count(*) FROM results_rollups WHERE project_id = $1 AND experiment = 'doomed')
            + (SELECT count(*) FROM results_dimension_rollups WHERE project_id = $1 AND experiment = 'doomed')
            + (SELECT count(*) FROM results_dimensions WHERE project_id = $1 AND experiment = 'doomed') AS n`,
      [projectId],
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
    // A new experiment with the key inherits nothing: no units, no unknown variations, no sample-ratio alarm.
    await must('POST', `${BASE}/experiments`, experiment('doomed', { status: 'running', variations: [{ key: 'x' }, { key: 'y' }], dimensions: ['country'] }));
    // Nor from the deleted one's exposures received before the deletion that reach the aggregator
    // only now (a stream backlog, a replay of the archive).
    const backlog = await processBatch(p.db, [eventsOf(projectId, 'doomed').exposureAt('backlog-1', 'x', START + HOUR)].map((e) => toRecord(e as never)));
    expect(backlog.batchItemFailures).toEqual([]);
    const fresh = await results('doomed');
    expect(fresh.units).toEqual({ analysed: 0, excluded: 0, unknownVariation: 0 });
    expect((await results('doomed', '?attr.country=US')).units.analysed).toBe(0);
    // The other experiments keep theirs.
    expect((await results('checkout')).units.analysed).toBeGreaterThan(0);
  });

  it('answers a running experiment without data with zeros and error codes, never NaN', async () => {
    await must('POST', `${BASE}/experiments`, experiment('empty', { status: 'running' }));

    const res = await p.request('GET', `${BASE}/experiments/empty/results`, { token: owner });
    const r = experimentResultsSchema.parse(res.body);

    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).not.toMatch(/NaN|Infinity/);
    expect(r.units).toEqual({ analysed: 0, excluded: 0, unknownVariation: 0 });
    expect(r.srm.error?.code).toBe('INSUFFICIENT_SAMPLE');
    expect(r.timeSeries.points).toEqual([]);
    for (const m of r.metrics) {
      expect(m.variations.map((v) => [v.units, v.total, v.mean])).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      expect(m.variations[1]!.comparison!.error?.code).toBe('INSUFFICIENT_SAMPLE');
      expect(m.variations[1]!.comparison!.pValue).toBe(1);
    }
  });

  it('answers totals beyond a double with a neutral number and an error code, in JSON and CSV', async () => {
    await must('POST', `${BASE}/experiments`, experiment('huge', { status: 'running', startedAt: new Date(START).toISOString() }));
    const { exposureAt, trackAt } = eventsOf(projectId, 'huge');
    const at = START + HOUR;
    // Each amount is a valid (finite) event value; their sum is not.
    const events = ['h1', 'h2'].flatMap((unit, i) => [exposureAt(unit, i === 0 ? 'control' : 'treatment', at), trackAt(unit, 'purchase', at + 1, 1.7e308), trackAt(unit, 'purchase', at + 2, 1.7e308)]);
    const batch = await processBatch(p.db, events.map((e) => toRecord(e as never)));

    const res = await p.request('GET', `${BASE}/experiments/huge/results`, { token: owner });
    const csv = await p.request('GET', `${BASE}/experiments/huge/results.csv`, { token: owner });

    expect(batch.batchItemFailures).toEqual([]);
    expect(res.status).toBe(200);
    const revenue = metricOf(experimentResultsSchema.parse(res.body), 'revenue');
    // No made-up zeros: the totals and means are unavailable (null; empty CSV cells), and every
    // comparison carries the metric's own code.
    expect(revenue.variations.map((v) => [v.units, v.total, v.mean])).toEqual([
      [1, null, null],
      [1, null, null],
    ]);
    expect(revenue.error?.code).toBe('NON_FINITE_RESULT');
    expect(revenue.variations[1]!.comparison!.error?.code).toBe('NON_FINITE_RESULT');
    expect(csv.status).toBe(200);
    expect(csv.body as string).not.toMatch(/NaN|Infinity/);
    // The metric's name, "Revenue, ""net""", is one quoted field: drop it before splitting.
    const row = (csv.body as string)
      .split('\r\n')
      .find((l) => l.startsWith('revenue,') && l.includes(',treatment,'))!
      .replace('"Revenue, ""net"""', 'name')
      .split(',');
    const header = (csv.body as string).split('\r\n')[0]!.split(',');
    const cell = (name: string): string => row[header.indexOf(name)]!;
    expect([cell('total'), cell('mean'), cell('error')]).toEqual(['', '', 'NON_FINITE_RESULT']);
  });

  it('says which metric cannot be analysed when one absurd value makes its sum of squares overflow, and what to do', async () => {
    await must('POST', `${BASE}/experiments`, experiment('absurd', { status: 'running', startedAt: new Date(START).toISOString() }));
    const { exposureAt, trackAt } = eventsOf(projectId, 'absurd');
    const at = START + HOUR;
    // 1e200 is finite, and so is every total; its square is not.
    const events = ['a1', 'a2', 'a3', 'a4'].flatMap((unit, i) => [exposureAt(unit, i % 2 === 0 ? 'control' : 'treatment', at), trackAt(unit, 'purchase', at + 1, i === 3 ? 1e200 : 10)]);
    await processBatch(p.db, events.map((e) => toRecord(e as never)));

    const res = await p.request('GET', `${BASE}/experiments/absurd/results`, { token: owner });

    expect(res.status).toBe(200);
    const results = experimentResultsSchema.parse(res.body);
    const revenue = metricOf(results, 'revenue');
    expect(revenue.variations.map((v) => v.total)).toEqual([20, 1e200 + 10]);
    expect(revenue.error).toMatchObject({ code: 'NON_FINITE_RESULT', message: expect.stringContaining('cap the metric') as unknown });
    // The comparisons and the time series say the same as the metric (not INVALID_INPUT).
    expect(revenue.variations[1]!.comparison!.error?.code).toBe('NON_FINITE_RESULT');
    const seriesCodes = results.timeSeries.points.flatMap((pt) => pt.metrics.filter((m) => m.metric === 'revenue').map((m) => m.error?.code));
    expect(seriesCodes.length).toBeGreaterThan(0);
    expect(new Set(seriesCodes)).toEqual(new Set(['NON_FINITE_RESULT']));
    expect(JSON.stringify(res.body)).not.toMatch(/NaN|Infinity/);
  });

  it('exports CSV with proper quoting and a file name, summary and time series', async () => {
    const res = await p.request('GET', `${BASE}/experiments/checkout/results.csv?attr.country=US`, { token: owner });
    const series = await p.request('GET', `${BASE}/experiments/checkout/results.csv?table=timeseries`, { token: owner });

    const text = res.body as string;
    const lines = text.split('\r\n');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="checkout-production-results.csv"');
    expect(lines[0]).toMatch(/^metric,metric_name,role,type,variation,units,total,/);
    expect(lines).toHaveLength(1 + 6 * 2 + 1);
    expect(text).toContain('revenue,"Revenue, ""net""",secondary,sum,control,');
    expect(text).toContain("revenue-capped,'=Revenue capped,");
    expect(lines.at(-1)).toBe('');
    expect(series.headers.get('content-disposition')).toBe('attachment; filename="checkout-production-timeseries.csv"');
    expect((series.body as string).split('\r\n')[0]).toBe('bucket,end,metric,variation,control_units,variation_units,effect,ci_lower,ci_upper,p_value,error,unit_attribute,unit_fallback_attribute');
    expect((series.body as string).split('\r\n')).toHaveLength(1 + 3 * 6 + 1);
  });

  it('starts the CSV with a byte order mark for Excel only when asked (bom=1 or true)', async () => {
    const bytes = async (query: string): Promise<[number, number[]]> => {
      const res = await p.app.request(`${BASE}/experiments/checkout/results.csv${query}`, { headers: { authorization: `Bearer ${owner}` } });
      return [res.status, [...new Uint8Array(await res.arrayBuffer()).slice(0, 3)]];
    };
    const plain = [...new TextEncoder().encode('met')];
    expect(await bytes('')).toEqual([200, plain]);
    expect(await bytes('?bom=1')).toEqual([200, [0xef, 0xbb, 0xbf]]);
    expect(await bytes('?bom=true&table=timeseries')).toEqual([200, [0xef, 0xbb, 0xbf]]);
    const refused = await p.request('GET', `${BASE}/experiments/checkout/results.csv?bom=yes`, { token: owner });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details.issues[0]).toEqual({ path: 'query.bom', message: 'must be 1 or true' });
  });

  it('lets a viewer read results', async () => {
    const json = await p.request('GET', `${BASE}/experiments/checkout/results`, { token: viewer });
    const csv = await p.request('GET', `${BASE}/experiments/checkout/results.csv`, { token: viewer });
    const anonymous = await p.request('GET', `${BASE}/experiments/checkout/results`);

    expect(json.status).toBe(200);
    expect(csv.status).toBe(200);
    expect(anonymous.status).toBe(401);
  });

  it('filters on attributes the aggregator stored from the first exposure event', async () => {
    await must('POST', `${BASE}/experiments`, experiment('live', { status: 'running' }));
    const at = START + HOUR;
    const event = (id: string, unitId: string, variation: string, time: number, attributes?: Record<string, string>) => ({
      v: 1 as const,
      projectId,
      environment: 'production',
      receivedAt: time,
      occurredAt: time,
      event: { id, type: 'exposure' as const, unitId, timestamp: time, experiment: 'live', variation, ...(attributes === undefined ? {} : { attributes }) },
    });

    const batch = await processBatch(p.db, [
      toRecord(event('live-00001', 'a', 'control', at + 1000, { country: 'FR' })),
      toRecord(event('live-00002', 'a', 'control', at, { country: 'US' })),
      toRecord(event('live-00003', 'b', 'treatment', at, { country: 'US' })),
      toRecord(event('live-00004', 'c', 'treatment', at)),
    ]);
    const us = await results('live', '?attr.country=US');
    const fr = await results('live', '?attr.country=FR');

    expect(batch.batchItemFailures).toEqual([]);
    expect(us.variations.map((v) => v.units)).toEqual([1, 1]);
    expect(fr.units.analysed).toBe(0);
  });

  /** The same request twice: from the rollups, and forced to scan by a `from` one millisecond off the hour. */
  const bothPaths = async (key: string, since: number): Promise<[ExperimentResults, ExperimentResults]> => [
    await results(key, `?from=${new Date(since).toISOString()}`),
    await results(key, `?from=${new Date(since - 1).toISOString()}`),
  ];
  const numbers = (r: ExperimentResults) => ({
    units: r.units,
    variations: r.variations.map((v) => v.units),
    metrics: r.metrics.map((m) => [m.key, m.cap?.value ?? null, m.variations.map((v) => [v.units, v.total, v.denominatorTotal, v.comparison?.effect ?? null, v.comparison?.pValue ?? null])]),
    series: r.timeSeries.points.map((pt) => [pt.bucket, pt.units, pt.metrics.map((m) => m.effect)]),
  });

  it('serves unfiltered results from the rollups, with the numbers of a full scan', async () => {
    const [rollup, scan] = await bothPaths('checkout', START - DAY);

    expect(rollup.metrics.map((m) => [m.key, m.source])).toEqual([
      ['converted', 'rollup'],
      ['revenue', 'rollup'],
      ['revenue-capped', 'rollup'],
      ['revenue-p90', 'scan'],
      ['per-session', 'rollup'],
      ['page-views', 'rollup'],
    ]);
    expect(scan.metrics.every((m) => m.source === 'scan')).toBe(true);
    expect(numbers(rollup)).toEqual(numbers(scan));
  });

  it('keeps the rollups equal to a scan through the aggregator: moved and excluded exposures, late events, compaction', async () => {
    await must('POST', `${BASE}/experiments`, experiment('flow', { status: 'running', startedAt: new Date(START).toISOString() }));
    const random = prng(7);
    const { exposureAt, trackAt } = eventsOf(projectId, 'flow');
    const first = [];
    for (let u = 0; u < 120; u++) {
      const unit = `f${u}`;
      const at = START + Math.floor(random() * 2 * DAY);
      first.push(exposureAt(unit, u % 2 === 0 ? 'control' : 'treatment', at), trackAt(unit, 'page_view', at + HOUR), trackAt(unit, 'session', at - DAY));
      if (random() < 0.4) {
        first.push(trackAt(unit, 'purchase', at + 2 * HOUR, Math.round(random() * 10_000) / 100), trackAt(unit, 'purchase', at - 2 * DAY, 5));
      }
    }
    const later = [];
    for (let u = 0; u < 120; u += 7) {
      // An earlier exposure moves the unit (and its totals) to another hour; every third also switches variation (excluded).
      later.push(exposureAt(`f${u}`, u % 3 === 0 ? (u % 2 === 0 ? 'treatment' : 'control') : u % 2 === 0 ? 'control' : 'treatment', START + 3 * HOUR));
      later.push(trackAt(`f${u}`, 'purchase', START + 2 * DAY + HOUR, 80), trackAt(`f${u}`, 'session', START + 2 * DAY));
    }

    const a = await processBatch(p.db, first.map((e) => toRecord(e as never)));
    const b = await processBatch(p.db, later.map((e) => toRecord(e as never)));
    const [rollup, scan] = await bothPaths('flow', START - DAY);
    const rowsBefore = (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM results_rollups WHERE experiment = 'flow'`)).rows[0]!.n;
    await compactRollups(p.db, { projectId, environment: 'production', experiment: 'flow' });
    const rowsAfter = (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM results_rollups WHERE experiment = 'flow'`)).rows[0]!.n;
    const compacted = await results('flow', `?from=${new Date(START - DAY).toISOString()}`);

    expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
    expect(rollup.units.excluded).toBeGreaterThan(0);
    expect(rollup.metrics.find((m) => m.key === 'revenue')!.source).toBe('rollup');
    expect(numbers(rollup)).toEqual(numbers(scan));
    expect(rowsAfter).toBeLessThan(rowsBefore);
    expect(numbers(compacted)).toEqual(numbers(rollup));
  });

  it('leaves out of the totals, at the stop, events dated after it that were counted while it ran, and counts those after the pause at the resume', async () => {
    await must('POST', `${BASE}/experiments`, experiment('skew', { status: 'running', startedAt: new Date(START).toISOString() }));
    const { exposureAt, trackAt } = eventsOf(projectId, 'skew');
    const now = p.now.value.getTime();
    // Clients may send events dated up to a day ahead (clock skew): aggregated while it runs.
    const batch = await processBatch(p.db, [
      exposureAt('k1', 'control', START),
      trackAt('k1', 'purchase', now - HOUR, 10),
      trackAt('k1', 'purchase', now + 30 * 60_000, 200),
      trackAt('k1', 'purchase', now + 2 * HOUR, 500),
    ].map((e) => toRecord(e as never)));
    const revenue = async (): Promise<(number | null)[]> => (await bothPaths('skew', START - DAY)).map((r) => metricOf(r, 'revenue').variations[0]!.total);
    const version = async (): Promise<string> => `"${(await must('GET', `${BASE}/experiments/skew`)).version}"`;
    const running = await revenue();

    await p.request('POST', `${BASE}/experiments/skew/stop`, { token: owner, headers: { 'If-Match': await version() }, body: {} });
    const stopped = await revenue();
    p.now.value = new Date(now + HOUR);
    const resumed = await p.request('POST', `${BASE}/experiments/skew/resume`, { token: owner, headers: { 'If-Match': await version() } });
    p.now.value = new Date(now);

    expect(batch.batchItemFailures).toEqual([]);
    expect(running).toEqual([710, 710]);
    expect(stopped).toEqual([10, 10]);
    // Stopped from now to now + 1 h: the purchase at + 30 min stays out, the one at + 2 h counts again.
    expect(resumed.status).toBe(200);
    expect(await revenue()).toEqual([510, 510]);
  });

  it('draws units and events dated ahead of now (a fast clock) in the current point of the series, never in one of the future', async () => {
    const now = p.now.value.getTime();
    await must('POST', `${BASE}/experiments`, experiment('ahead', { status: 'running', startedAt: new Date(now - 5 * HOUR).toISOString() }));
    const { exposureAt, trackAt } = eventsOf(projectId, 'ahead');
    const batch = await processBatch(p.db, [
      exposureAt('a1', 'control', now - 3 * HOUR),
      trackAt('a1', 'purchase', now - 2 * HOUR, 10),
      exposureAt('a2', 'treatment', now + 20 * HOUR),
      trackAt('a2', 'purchase', now + 21 * HOUR, 30),
    ].map((e) => toRecord(e as never)));
    expect(batch.batchItemFailures).toEqual([]);

    const hourly = await results('ahead', '?interval=hour');
    const buckets = hourly.timeSeries.points.map((pt) => Date.parse(pt.bucket));

    expect(Math.max(...buckets)).toBeLessThanOrEqual(now);
    expect(Math.max(...buckets)).toBeGreaterThan(now - HOUR);
    // The last point still holds everything: both units, as the summary with both purchases.
    expect(hourly.timeSeries.points.at(-1)!.units).toEqual({ control: 1, treatment: 1 });
    expect(metricOf(hourly, 'revenue').variations.map((v) => v.total)).toEqual([10, 30]);
  });

  /** A filtered request from the dimension rollups, and the same forced to scan (`from` one millisecond off the hour). */
  const bothFiltered = async (key: string, filter: string): Promise<[ExperimentResults, ExperimentResults]> => [
    await results(key, `?${filter}&from=${new Date(START - DAY).toISOString()}`),
    await results(key, `?${filter}&from=${new Date(START - DAY - 1).toISOString()}`),
  ];
  const dimensionsOf = async (key: string): Promise<string[]> =>
    (await p.db.query<{ dimension: string }>('SELECT dimension FROM results_dimensions WHERE project_id = $1 AND experiment = $2 ORDER BY dimension', [projectId, key])).rows.map((r) => r.dimension);

  it('answers a filter on one of the experiment\'s dimensions from its rollups, with the numbers of a scan', async () => {
    await must('POST', `${BASE}/experiments`, experiment('sliced', { status: 'running', startedAt: new Date(START).toISOString(), dimensions: ['country', 'age', 'beta'] }));
    await insertUnits(p, projectId, 'sliced', units);
    const before = await dimensionsOf('sliced');

    const checks: [string, ExperimentResults, ExperimentResults][] = [];
    for (const filter of ['attr.country=US', 'attr.country=CA', 'attr.age=30', 'attr.beta=true', 'attr.country=MX']) {
      checks.push([filter, ...(await bothFiltered('sliced', filter))]);
    }
    const unlisted = await results('checkout', '?attr.country=US');
    const twoFilters = await results('sliced', '?attr.country=US&attr.beta=true');

    expect(before).toEqual([]);
    expect(await dimensionsOf('sliced')).toEqual(['age', 'beta', 'country']);
    for (const [filter, rollup, scan] of checks) {
      expect([filter, rollup.metrics.map((m) => m.source)]).toEqual([filter, ['rollup', 'rollup', 'rollup', 'scan', 'rollup', 'rollup']]);
      expect(scan.metrics.every((m) => m.source === 'scan')).toBe(true);
      expect([filter, numbers(rollup)]).toEqual([filter, numbers(scan)]);
    }
    const us = units.filter((u) => u.attributes?.country === 'US');
    expect(checks[0]![1].variations.map((v) => v.units)).toEqual(['control', 'treatment'].map((v) => sumsOf(us, 'revenue', v).n));
    expect(metricOf(checks[0]![1], 'revenue').variations[1]!.total).toBeCloseTo(sumsOf(us, 'revenue', 'treatment').sum, 6);
    expect(checks[2]![1].units.analysed).toBeGreaterThan(0);
    expect(checks[4]![1].units.analysed).toBe(0);
    expect(unlisted.metrics.every((m) => m.source === 'scan')).toBe(true);
    expect(twoFilters.metrics.every((m) => m.source === 'scan')).toBe(true);
  }, 60_000);

  it('breaks results down by a dimension: each value as its own filter would give, largest first', async () => {
    const res = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown?dimension=country&sequential=true`, { token: viewer });
    const top = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown?dimension=age&limit=3`, { token: owner });
    const us = await results('sliced', '?attr.country=US&sequential=true');
    const unlisted = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown?dimension=plan`, { token: owner });
    const unknown = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown?dimension=country&attr.country=US`, { token: owner });
    const missing = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown`, { token: owner });
    const badLimit = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown?dimension=age&limit=0`, { token: owner });
    const noExperiment = await p.request('GET', `${BASE}/experiments/nope/results/breakdown?dimension=country`, { token: owner });

    expect(res.status).toBe(200);
    const body = resultsBreakdownSchema.parse(res.body);
    const withCountry = units.filter((u) => u.attributes !== null);
    expect(body.values.map((v) => v.value)).toEqual(['CA', 'US']);
    expect(body.values.map((v) => v.results.units.analysed + v.results.units.excluded)).toEqual(['CA', 'US'].map((c) => withCountry.filter((u) => u.attributes!.country === c).length));
    const usRow = body.values.find((v) => v.value === 'US')!.results;
    expect(usRow.timeSeries.points).toEqual([]);
    expect(usRow.analysis.sequential).toBe(true);
    // Not computed per value (an integral per metric and value); the results with the value's filter have it.
    expect(usRow.metrics.flatMap((m) => m.variations.map((v) => v.chanceToBeBest))).toEqual(usRow.metrics.flatMap((m) => m.variations.map(() => null)));
    expect(us.metrics.flatMap((m) => m.variations.map((v) => v.chanceToBeBest)).every((c) => typeof c === 'number')).toBe(true);
    expect(numbers(usRow).metrics).toEqual(numbers(us).metrics);
    expect(usRow.metrics.every((m) => m.key === 'revenue-p90' || m.source === 'rollup')).toBe(true);
    expect(body.omitted).toEqual({ values: 0, units: 0 });
    const ages = resultsBreakdownSchema.parse(top.body);
    expect(ages.values).toHaveLength(3);
    expect(ages.omitted.values).toBe(new Set(withCountry.map((u) => u.attributes!.age)).size - 3);
    expect(ages.omitted.units + ages.values.reduce((n, v) => n + v.results.units.analysed + v.results.units.excluded, 0)).toBe(withCountry.length);
    expect([unlisted.status, unlisted.body.error.message]).toEqual([400, expect.stringContaining('not one of the experiment\'s dimensions (country, age, beta)')]);
    expect([unknown.status, missing.status, badLimit.status, noExperiment.status]).toEqual([400, 400, 400, 404]);
    // Eight requests, two of them breakdowns analysing every value: ~10 s alone, more on a loaded CI machine.
  }, 60_000);

  const breakdown = async (query: string): Promise<ReturnType<typeof resultsBreakdownSchema.parse>> => {
    const res = await p.request('GET', `${BASE}/experiments/sliced/results/breakdown${query}`, { token: owner });
    if (res.status !== 200) {
      throw new Error(`breakdown ${query}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return resultsBreakdownSchema.parse(res.body);
  };
  /** Per value: its units and per metric each variation's units and mean, as the breakdown gives them and as the results with the same filters do. */
  const perValue = async (body: ReturnType<typeof resultsBreakdownSchema.parse>, filters: string) => {
    const out: { value: string; breakdown: unknown; results: unknown }[] = [];
    for (const { value, results: r } of body.values) {
      const alone = await results('sliced', `?${filters}&attr.${body.dimension}=${encodeURIComponent(value)}`);
      const means = (x: ExperimentResults) => x.metrics.map((m) => [m.key, m.variations.map((v) => [v.units, v.mean])]);
      out.push({ value, breakdown: [numbers(r).metrics, means(r), r.units], results: [numbers(alone).metrics, means(alone), alone.units] });
    }
    return out;
  };

  it('breaks results down under a segment: each value\'s units and means as the results with the segment and the value give, values without units left out', async () => {
    const unfiltered = await breakdown('?dimension=beta');
    const us = await breakdown('?dimension=beta&segment=us');
    const usByCountry = await breakdown('?dimension=country&segment=us');

    const withAttributes = units.filter((u) => u.attributes !== null);
    const usUnits = withAttributes.filter((u) => u.attributes!.country === 'US');
    expect(us.filters).toEqual({ from: null, to: null, segment: 'us', attributes: {}, phase: ONE_PHASE });
    expect(unfiltered.filters).toEqual({ from: null, to: null, segment: null, attributes: {}, phase: ONE_PHASE });
    // The rollups' order, each value with the segment's units only.
    expect(us.values.map((v) => v.value)).toEqual(unfiltered.values.map((v) => v.value));
    expect(us.values.map((v) => [v.value, v.results.units.analysed + v.results.units.excluded])).toEqual(
      us.values.map((v) => [v.value, usUnits.filter((u) => String(u.attributes!.beta) === v.value).length]),
    );
    expect(us.values.map((v) => v.results.units.analysed)).not.toEqual(unfiltered.values.map((v) => v.results.units.analysed));
    expect(us.values.every((v) => v.results.filters.segment === 'us')).toBe(true);
    const checks = await perValue(us, 'segment=us');
    for (const c of checks) {
      expect([c.value, c.breakdown]).toEqual([c.value, c.results]);
    }
    // The means under the segment differ from the unfiltered value's.
    const revenueMean = (b: typeof us, value: string) => metricOf(b.values.find((v) => v.value === value)!.results, 'revenue').variations.map((v) => v.mean);
    expect(revenueMean(us, 'true')).not.toEqual(revenueMean(unfiltered, 'true'));
    // CA has no unit in segment us: left out, and not counted as omitted.
    expect(usByCountry.values.map((v) => v.value)).toEqual(['US']);
    expect(usByCountry.omitted).toEqual({ values: 0, units: 0 });
  }, 60_000);

  it('breaks results down between exposure dates and under other attribute filters, counting omitted values under them', async () => {
    const from = new Date(START + DAY).toISOString();
    const to = new Date(START + 2 * DAY).toISOString();
    const offHour = new Date(START + DAY + 1).toISOString();
    const dated = await breakdown(`?dimension=country&from=${from}&to=${to}`);
    const scanned = await breakdown(`?dimension=country&from=${offHour}&to=${to}`);
    const betaAges = await breakdown('?dimension=age&attr.beta=true&limit=3');

    const withAttributes = units.filter((u) => u.attributes !== null);
    const inWindow = withAttributes.filter((u) => u.exposedAt >= START + DAY && u.exposedAt < START + 2 * DAY);
    expect(dated.filters).toEqual({ from, to, segment: null, attributes: {}, phase: ONE_PHASE });
    expect(dated.values.map((v) => [v.value, v.results.units.analysed + v.results.units.excluded])).toEqual(
      ['CA', 'US'].map((c) => [c, inWindow.filter((u) => u.attributes!.country === c).length]),
    );
    // Hour-aligned dates and one value: from the rollups; off the hour: a scan, with the results' numbers either way.
    expect(dated.values[0]!.results.metrics.filter((m) => m.key !== 'revenue-p90').every((m) => m.source === 'rollup')).toBe(true);
    expect(scanned.values[0]!.results.metrics.every((m) => m.source === 'scan')).toBe(true);
    for (const c of await perValue(dated, `from=${from}&to=${to}`)) {
      expect([c.value, c.breakdown]).toEqual([c.value, c.results]);
    }
    for (const c of await perValue(scanned, `from=${offHour}&to=${to}`)) {
      expect([c.value, c.breakdown]).toEqual([c.value, c.results]);
    }
    // beta = true: 25 of the 50 ages have units; 3 shown, the other 22 omitted with the beta units they hold.
    const beta = withAttributes.filter((u) => u.attributes!.beta === true);
    const shown = betaAges.values.map((v) => v.value);
    expect(betaAges.filters.attributes).toEqual({ beta: 'true' });
    expect(shown).toHaveLength(3);
    expect(betaAges.values.map((v) => v.results.units.analysed + v.results.units.excluded)).toEqual(shown.map((a) => beta.filter((u) => String(u.attributes!.age) === a).length));
    expect(betaAges.omitted).toEqual({ values: new Set(beta.map((u) => u.attributes!.age)).size - 3, units: beta.filter((u) => !shown.includes(String(u.attributes!.age))).length });
    expect(betaAges.omitted.values).toBe(22);
    for (const c of await perValue(betaAges, 'attr.beta=true')) {
      expect([c.value, c.breakdown]).toEqual([c.value, c.results]);
    }
  }, 120_000);

  it('documents the breakdown\'s filters in the OpenAPI document', async () => {
    const doc = await p.request('GET', '/openapi.json');
    const op = doc.body.paths['/api/v1/projects/{project}/experiments/{key}/results/breakdown'].get;

    expect(op.parameters.filter((x: { in: string }) => x.in === 'query').map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['dimension', 'from', 'to', 'segment']));
    expect(op.description).toContain('attr.<name>=<value>');
    expect(doc.body.components.schemas.ResultsBreakdown.required).toContain('filters');
  });

  it('refuses a breakdown filtered on its own dimension, and bad dates or segments as the results do', async () => {
    const get = async (path: string) => {
      const res = await p.request('GET', `${BASE}/experiments/sliced/${path}`, { token: owner });
      return [res.status, res.body?.error?.code, res.body?.error?.message, res.body?.error?.details?.issues?.[0]?.path];
    };
    const same = await get('results/breakdown?dimension=country&attr.country=US');
    const sameWithOther = await get('results/breakdown?dimension=country&attr.beta=true&attr.country=US');

    expect(same).toEqual([400, 'VALIDATION_FAILED', expect.stringContaining('the breakdown is by "country": it cannot also filter on it (attr.country)'), 'query.attr.country']);
    expect(sameWithOther).toEqual(same);
    const wrongWay = `from=${new Date(START + DAY).toISOString()}&to=${new Date(START).toISOString()}`;
    for (const filter of ['from=yesterday', 'to=0000-06-01T00:00:00Z', wrongWay, 'segment=nope', 'segment=grouped', 'country=US']) {
      const asResults = await get(`results?${filter}`);
      expect([filter, await get(`results/breakdown?dimension=country&${filter}`)]).toEqual([filter, asResults]);
      expect(asResults[0]).toBe(400);
    }
  }, 60_000);

  it('keeps dimension rollups equal to a scan through the aggregator, builds a dimension added later and drops one removed', async () => {
    await must('POST', `${BASE}/experiments`, experiment('regions', { status: 'running', startedAt: new Date(START).toISOString(), dimensions: ['region'] }));
    // Built on empty tables: from here on the triggers keep it.
    await results('regions', '?attr.region=eu');
    const random = prng(11);
    const regions = ['eu', 'us', 'apac'];
    const { exposureAt, trackAt } = eventsOf(projectId, 'regions');
    const first = [];
    for (let u = 0; u < 150; u++) {
      const unit = `r${u}`;
      const at = START + Math.floor(random() * 2 * DAY);
      // Every fifth unit is first exposed without attributes; a later exposure brings them.
      const attributes = u % 5 === 0 ? undefined : { region: regions[u % 3]!, tier: u % 2 };
      first.push(exposureAt(unit, u % 2 === 0 ? 'control' : 'treatment', at, attributes), trackAt(unit, 'page_view', at + HOUR), trackAt(unit, 'session', at - DAY));
      if (random() < 0.5) {
        first.push(trackAt(unit, 'purchase', at + 2 * HOUR, Math.round(random() * 10_000) / 100), trackAt(unit, 'purchase', at - 2 * DAY, 5));
      }
    }
    const later = [];
    for (let u = 0; u < 150; u += 5) {
      later.push(exposureAt(`r${u}`, u % 2 === 0 ? 'control' : 'treatment', START + 3 * DAY, { region: regions[(u + 1) % 3]!, tier: 1 }));
    }
    for (let u = 1; u < 150; u += 7) {
      // An earlier exposure moves the unit to another hour; every third also switches variation (excluded).
      later.push(exposureAt(`r${u}`, u % 3 === 0 ? (u % 2 === 0 ? 'treatment' : 'control') : u % 2 === 0 ? 'control' : 'treatment', START + 3 * HOUR));
      later.push(trackAt(`r${u}`, 'purchase', START + 2 * DAY + HOUR, 80), trackAt(`r${u}`, 'session', START + 2 * DAY));
    }

    const a = await processBatch(p.db, first.map((e) => toRecord(e as never)));
    const b = await processBatch(p.db, later.map((e) => toRecord(e as never)));
    const byRegion = [];
    for (const region of regions) {
      byRegion.push(await bothFiltered('regions', `attr.region=${region}`));
    }
    await compactRollups(p.db, { projectId, environment: 'production', experiment: 'regions' }, 'region');
    const compacted = await bothFiltered('regions', 'attr.region=us');
    // `tier` is added after the traffic: its first request builds it from the stored totals.
    const current = await p.request('GET', `${BASE}/experiments/regions`, { token: owner });
    const edit = async (dimensions: string[], version: number) =>
      p.request('PUT', `${BASE}/experiments/regions`, { token: owner, body: { ...current.body.definition, dimensions }, headers: { 'If-Match': `"${version}"` } });
    const added = await edit(['region', 'tier'], current.body.version as number);
    const tier = await bothFiltered('regions', 'attr.tier=1');
    const removed = await edit(['tier'], added.body.version as number);
    const afterRemoval = await bothFiltered('regions', 'attr.region=eu');
    const leftRows = (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM results_dimension_rollups WHERE experiment = 'regions' AND dimension = 'region'`)).rows[0]!.n;

    expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
    for (const [rollup, scan] of [...byRegion, compacted, tier]) {
      expect(rollup.metrics.find((m) => m.key === 'revenue')!.source).toBe('rollup');
      expect(numbers(rollup)).toEqual(numbers(scan));
    }
    expect(byRegion.reduce((n, [r]) => n + r.units.analysed + r.units.excluded, 0)).toBe(150);
    expect(byRegion.some(([r]) => r.units.excluded > 0)).toBe(true);
    expect(numbers(compacted[0])).toEqual(numbers(byRegion[1]![0]));
    expect([added.status, removed.status]).toEqual([200, 200]);
    expect(tier[0].units.analysed).toBeGreaterThan(0);
    expect(await dimensionsOf('regions')).toEqual(['tier']);
    expect(leftRows).toBe(0);
    expect(afterRemoval[0].metrics.every((m) => m.source === 'scan')).toBe(true);
    expect(numbers(afterRemoval[0])).toEqual(numbers(byRegion[0]![1]));
  });

  it('scans a metric whose cap changed after its totals were written, until the rebuild of its totals has run', async () => {
    const before = metricOf(await results('checkout'), 'revenue-capped');
    const current = await p.request('GET', `${BASE}/metrics/revenue-capped`, { token: owner });
    const changed = await p.request('PUT', `${BASE}/metrics/revenue-capped`, {
      token: owner,
      body: { ...current.body.definition, capping: { type: 'absolute', value: 20 } },
      headers: { 'If-Match': `"${current.body.version as number}"` },
    });
    // As while the rebuild the change asked for has not finished (too much data for a request's
    // time): these totals were inserted without events, so a rebuild would find nothing to count.
    await p.db.query('DELETE FROM totals_rebuilds');

    const after = metricOf(await results('checkout'), 'revenue-capped');

    expect(changed.status).toBe(200);
    expect(before.source).toBe('rollup');
    expect(after.source).toBe('scan');
    expect(after.cap!.value).toBe(20);
    expect(after.variations[1]!.total).toBeCloseTo(sumsOf(units, 'revenue-capped', 'treatment', 20).sum, 6);
  });

  // Last: it adds an experiment's units, which earlier tests count.
  it('gives every variation its chance to be best: 1 − chanceToWin and chanceToWin for two, summing to 1 for three, in JSON and CSV', async () => {
    const two = metricOf(await results('checkout'), 'converted');
    expect(two.variations[1]!.chanceToBeBest).toBe(two.variations[1]!.comparison!.chanceToWin);
    expect(Math.abs(two.variations[0]!.chanceToBeBest! + two.variations[1]!.comparison!.chanceToWin - 1)).toBeLessThan(1e-15);

    // Three variations: the treatment units (twice the conversion rate) are "b"; the control's are split in two.
    await must('POST', `${BASE}/experiments`, experiment('three-way', { status: 'running', startedAt: new Date(START).toISOString(), variations: [{ key: 'control' }, { key: 'a' }, { key: 'b' }] }));
    const split = units.map((u, i) => ({ ...u, variation: u.variation === 'treatment' ? 'b' : i % 4 === 0 ? 'control' : 'a' }));
    await insertUnits(p, projectId, 'three-way', split);
    const r = await results('three-way');
    for (const m of r.metrics.filter((metric) => metric.error === null && metric.variations.every((v) => (v.comparison?.error ?? null) === null))) {
      const chances = m.variations.map((v) => v.chanceToBeBest);
      expect({ metric: m.key, inRange: chances.every((c) => c !== null && c >= 0 && c <= 1) }).toEqual({ metric: m.key, inRange: true });
      expect(Math.abs(chances.reduce<number>((a, b) => a + (b ?? Number.NaN), 0) - 1)).toBeLessThan(1e-9);
    }
    expect(metricOf(r, 'converted').variations.map((v) => v.variation)).toEqual(['control', 'a', 'b']);
    expect(metricOf(r, 'converted').variations[2]!.chanceToBeBest).toBeGreaterThan(0.99);
    const csv = await p.request('GET', `${BASE}/experiments/three-way/results.csv`, { token: owner });
    const [header, ...rows] = (csv.body as string).trim().split('\r\n').map((l) => l.split(','));
    const column = header!.indexOf('chance_to_be_best');
    const converted = rows.filter((row) => row[0] === 'converted');
    expect(column).toBeGreaterThan(0);
    expect(converted.map((row) => Number(row[column]))).toEqual(metricOf(r, 'converted').variations.map((v) => v.chanceToBeBest));
  }, 60_000); // 7 s on an idle machine (three variations × every metric); over 20 s under load.
});

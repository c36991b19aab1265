/**
 * Results stratified over split phases (phase=stratified, a bandit's default): each phase analysed on
 * its own, each variation's estimates combined weighted by the phases' shares of the units. The
 * expected numbers are computed here from the units the test generates (plain arithmetic over their
 * values and exposure times), not by the code under test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';

const PROJECT = 'stratified';
const BASE = `/api/v1/projects/${PROJECT}`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** One generated unit: its variation, first exposure, and its metric value (conversion 0/1, or an amount). */
interface Unit {
  readonly variation: string;
  readonly at: number;
  readonly value: number;
}

/**
 * The stratified estimate from the units, by hand: per phase window and arm the mean, π = the phase's
 * share of the units, m = Σπ·mean; Var(m) = s²·Σπ²/n, with s² the arm's pooled within-phase variance
 * Σ(n − 1)·s²_p / Σ(n − 1) (a conversion's s²_p is p(1 − p), an amount's its sample variance).
 */
function groundTruth(units: readonly Unit[], windows: readonly (readonly [number, number])[], arms: readonly string[], conversion: boolean): { mean: number; variance: number }[] {
  const inPhase = windows.map(([from, to]) => units.filter((u) => u.at >= from && u.at < to));
  const total = inPhase.reduce((n, us) => n + us.length, 0);
  return arms.map((arm) => {
    let mean = 0;
    let spread = 0;
    let squares = 0;
    let dof = 0;
    for (const us of inPhase) {
      const pi = us.length / total;
      const xs = us.filter((u) => u.variation === arm).map((u) => u.value);
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const s2 = conversion ? m * (1 - m) : xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
      mean += pi * m;
      spread += (pi * pi) / xs.length;
      squares += (xs.length - 1) * s2;
      dof += xs.length - 1;
    }
    return { mean, variance: (squares / dof) * spread };
  });
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('results stratified over split phases, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  /** The harness's clock at start (a whole hour); the splits move half an hour after it. */
  let T: number;
  let movedAt: number;
  const generated = new Map<string, Unit[]>();

  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = async (events: readonly PipelineEvent[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 500) {
      const out = await processBatch(p.db, events.slice(i, i + 500).map((e) => toRecord(e)));
      expect(out.batchItemFailures).toEqual([]);
    }
  };
  /** Units of each arm of `key` exposed from `at` (one a second); `value(variation, i)`: 1/0 converts, or an amount (0: no event). */
  const expose = async (key: string, prefix: string, arms: Record<string, number>, at: number, value: (variation: string, i: number) => number, event = 'purchase'): Promise<void> => {
    const events: PipelineEvent[] = [];
    const units = generated.get(key) ?? [];
    for (const [variation, n] of Object.entries(arms)) {
      for (let i = 0; i < n; i++) {
        const unit = `${key}-${prefix}-${variation}-${i}`;
        const time = at + i * 1000;
        const v = value(variation, i);
        events.push(exposure(unit, key, variation, time, undefined, projectId));
        if (v !== 0) {
          events.push(track(unit, event, time + MINUTE, event === 'purchase' ? undefined : v, undefined, projectId));
        }
        units.push({ variation, at: time, value: v });
      }
    }
    generated.set(key, units);
    await send(events);
  };
  const results = async (key: string, query = ''): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/${key}/results${query}`));
  const create = async (key: string, weights: Record<string, number>, metric: string, extra: Record<string, unknown> = {}): Promise<void> => {
    await must('POST', `${BASE}/experiments`, {
      key,
      name: key,
      variations: Object.entries(weights).map(([k, weight]) => ({ key: k, weight })),
      metrics: { primary: [metric], secondary: [], guardrails: [] },
      status: 'running',
      startedAt: new Date(T - 2 * DAY).toISOString(),
      stickyBucketing: { enabled: true },
      ...extra,
    });
  };
  const move = async (key: string, weights: Record<string, number>): Promise<void> => {
    const current = await must('GET', `${BASE}/experiments/${key}`);
    const moved = await must('PUT', `${BASE}/experiments/${key}`, { ...current.definition, variations: Object.entries(weights).map(([k, weight]) => ({ key: k, weight })) }, current.version);
    if (moved.definition.splitHistory?.at(-1)?.until !== p.now.value.toISOString()) {
      throw new Error(`the move was not recorded: ${JSON.stringify(moved.definition.splitHistory)}`);
    }
  };
  /** The two phases, at the exact move (one scan groups the units by split period: nothing is rounded away). */
  const windows = (): [number, number][] => [
    [-Infinity, movedAt],
    [movedAt, Infinity],
  ];

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    T = p.now.value.getTime();
    if (T % HOUR !== 0) {
      throw new Error('the harness clock is expected on a whole hour');
    }
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Stratified' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    await must('POST', `${BASE}/metrics`, { key: 'converted', name: 'Converted', type: 'conversion', event: 'purchase' });
    await must('POST', `${BASE}/metrics`, { key: 'revenue', name: 'Revenue', type: 'sum', event: 'pay', property: 'amount' });

    // A/A of docs/statistics.md: 50/25/25 for 1,200 units converting 30%, then 20/20/60 for 1,200 converting 5%.
    await create('aa', { control: 50, s1: 25, s2: 25 }, 'converted');
    await expose('aa', 'p1', { control: 600, s1: 300, s2: 300 }, T - DAY, (_v, i) => (i % 10 < 3 ? 1 : 0));
    // A true effect on revenue: the treatment earns 3 more in the first period (~25 a unit), 1 more in the second (~8); 50/50, then 10/90.
    await create('lift', { control: 50, treatment: 50 }, 'revenue');
    await expose('lift', 'p1', { control: 200, treatment: 200 }, T - DAY, (v, i) => (v === 'treatment' ? 23 : 20) + ((i * 7) % 11), 'pay');
    // An arm left without units in the second phase.
    await create('gap', { control: 50, treatment: 50 }, 'converted');
    await expose('gap', 'p1', { control: 100, treatment: 100 }, T - DAY, (_v, i) => (i % 4 === 0 ? 1 : 0));
    // Never moved.
    await create('plain', { control: 50, treatment: 50 }, 'revenue', { metrics: { primary: ['revenue'], secondary: ['converted'], guardrails: [] } });
    await expose('plain', 'p1', { control: 150, treatment: 150 }, T - DAY, (v, i) => (v === 'treatment' ? 11 : 10) + ((i * 5) % 9), 'pay');
    await expose('plain', 'buy', { control: 150, treatment: 150 }, T - DAY + HOUR, (_v, i) => (i % 3 === 0 ? 1 : 0));

    movedAt = T + 30 * MINUTE;
    p.now.value = new Date(movedAt);
    await move('aa', { control: 20, s1: 20, s2: 60 });
    await move('lift', { control: 10, treatment: 90 });
    await move('gap', { control: 100, treatment: 0 });
    // In the partial hour after the move (which phase=1 leaves out once it spans a day; stratified counts them), then the second period.
    await expose('aa', 'early', { control: 2, s1: 2, s2: 6 }, T + 45 * MINUTE, () => 0);
    await expose('aa', 'p2', { control: 240, s1: 240, s2: 720 }, T + 2 * HOUR, (_v, i) => (i % 20 === 0 ? 1 : 0));
    await expose('lift', 'p2', { control: 60, treatment: 540 }, T + 2 * HOUR, (v, i) => (v === 'treatment' ? 6 : 5) + ((i * 3) % 7), 'pay');
    await expose('gap', 'p2', { control: 30 }, T + 2 * HOUR, (_v, i) => (i % 10 === 0 ? 1 : 0));
    p.now.value = new Date(T + DAY + HOUR);
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it("finds no effect in the A/A test that pooling calls a 46% loss, with the standard errors of the units' arithmetic", async () => {
    const pooled = await results('aa', '?phase=all');
    expect(pooled.metrics[0]!.variations[2]!.comparison!.effect).toBeLessThan(-0.4);
    expect(pooled.metrics[0]!.variations[2]!.comparison!.significant).toBe(true);

    const r = await results('aa', '?phase=stratified');

    expect(r.filters.phase).toEqual({ index: null, count: 2, from: null, to: null, splitChangedAt: null, pooled: false, stratified: { phases: 2, used: 2, droppedPhases: 0, droppedUnits: 0 } });
    expect(r.warnings).toEqual([]);
    const truth = groundTruth(generated.get('aa')!, windows(), ['control', 's1', 's2'], true);
    const m = r.metrics[0]!;
    m.variations.forEach((v, k) => {
      expect(v.mean).toBeCloseTo(truth[k]!.mean, 12);
    });
    for (const k of [1, 2]) {
      const c = m.variations[k]!.comparison!;
      expect(c.effect).toBeCloseTo(0, 12);
      expect(c.pValue).toBeGreaterThan(0.5);
      expect(c.significant).toBe(false);
      // The lift's standard error: √(Var(m_T) + Var(m_C)) / m_C.
      expect(c.se).toBeCloseTo(Math.sqrt(truth[k]!.variance + truth[0]!.variance) / truth[0]!.mean, 12);
    }
    // Units and totals are those of both phases, the partial hour after the move included; the SRM check blends the splits by them.
    expect(r.variations.map((v) => v.units)).toEqual([842, 542, 1026]);
    expect(r.variations.map((v) => v.expectedShare)).toEqual([(600 + 242) / 2410, (300 + 242) / 2410, (300 + 726) / 2410]);
    expect(r.srm.flagged).toBe(false);
    expect(m.variations.map((v) => v.total)).toEqual([192, 102, 126]);
    // The series is stratified too: its last point is the summary.
    const last = r.timeSeries.points.at(-1)!;
    expect(last.units).toEqual({ control: 842, s1: 542, s2: 1026 });
    expect(last.metrics.map((x) => x.effect)).toEqual([m.variations[1]!.comparison!.effect, m.variations[2]!.comparison!.effect]);
  });

  it('recovers a true effect across phases that pooling turns into a loss', async () => {
    const pooled = await results('lift', '?phase=all');
    expect(pooled.metrics[0]!.variations[1]!.comparison!.effect).toBeLessThan(0);

    const r = await results('lift', '?phase=stratified');

    const truth = groundTruth(generated.get('lift')!, windows(), ['control', 'treatment'], false);
    const [control, treatment] = r.metrics[0]!.variations;
    expect(control!.mean).toBeCloseTo(truth[0]!.mean, 10);
    expect(treatment!.mean).toBeCloseTo(truth[1]!.mean, 10);
    const c = treatment!.comparison!;
    expect(c.effect).toBeCloseTo(truth[1]!.mean / truth[0]!.mean - 1, 10);
    expect(c.se).toBeCloseTo(Math.sqrt(truth[0]!.variance + truth[1]!.variance) / truth[0]!.mean, 10);
    expect(c.effect).toBeGreaterThan(0.05);
    expect(c.significant).toBe(true);
    expect(control!.chanceToBeBest! + treatment!.chanceToBeBest!).toBeCloseTo(1, 10);
    expect(treatment!.chanceToBeBest).toBeGreaterThan(0.99);
    expect(r.metrics[0]!.cupedStatus).toBe('no-pre-exposure-data');
  });

  it('leaves out a phase in which an arm has no units, says so, and never gives NaN', async () => {
    const res = await request('GET', `${BASE}/experiments/gap/results?phase=stratified`);
    expect(res.status).toBe(200);
    const r = experimentResultsSchema.parse(res.body);

    expect(r.filters.phase.stratified).toEqual({ phases: 2, used: 1, droppedPhases: 1, droppedUnits: 30 });
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'STRATIFIED_PHASES_DROPPED', message: expect.stringContaining('phase 1 (of 2, 30 units)') })]);
    // What is left is phase 0 alone.
    const first = await results('gap', '?phase=0');
    expect(r.metrics[0]!.variations.map((v) => [v.mean, v.comparison])).toEqual(first.metrics[0]!.variations.map((v) => [v.mean, v.comparison]));
    // The units of the left-out phase still count, as the SRM check sees them.
    expect(r.variations.map((v) => v.units)).toEqual([130, 100]);
    expect(JSON.stringify(res.body)).not.toMatch(/NaN|Infinity/);

    // From T: the end of phase 0 (no unit there) and phase 1: nothing to estimate, and no NaN either.
    const only = await request('GET', `${BASE}/experiments/gap/results?phase=stratified&from=${encodeURIComponent(new Date(T).toISOString())}`);
    expect(only.status).toBe(200);
    const none = experimentResultsSchema.parse(only.body);
    expect(none.filters.phase.stratified).toEqual({ phases: 2, used: 0, droppedPhases: 1, droppedUnits: 30 });
    expect(none.metrics[0]!.variations[1]!.comparison!.error?.code).toBe('INSUFFICIENT_SAMPLE');
    expect(JSON.stringify(only.body)).not.toMatch(/NaN|Infinity/);
  });

  it('equals the current-phase results on an experiment whose split never moved', async () => {
    const current = await results('plain', '?interval=hour');
    const stratified = await results('plain', '?phase=stratified&interval=hour');

    expect(stratified.filters.phase.stratified).toEqual({ phases: 1, used: 1, droppedPhases: 0, droppedUnits: 0 });
    const { filters: _f, ...rest } = stratified;
    const { filters: _g, ...expected } = current;
    expect(rest).toEqual(expected);
    expect(current.metrics.map((m) => m.variations[1]!.comparison!.error)).toEqual([null, null]);
  });

  it('analyses a bandit stratified by default, and exports the CSV saying so', async () => {
    await create('bandit', { control: 50, treatment: 50 }, 'converted', { bandit: { metric: 'converted' } });
    const r = await results('bandit');
    expect(r.filters.phase).toMatchObject({ index: null, stratified: { phases: 1, used: 0 } });
    expect((await results('bandit', '?phase=current')).filters.phase).toMatchObject({ index: 0 });
    expect((await results('bandit', '?phase=current')).filters.phase.stratified).toBeUndefined();
    // A plain experiment keeps the current phase.
    expect((await results('lift')).filters.phase).toMatchObject({ index: 1 });

    const csv = await p.request('GET', `${BASE}/experiments/aa/results.csv?phase=stratified`, { token: owner });
    expect(csv.status).toBe(200);
    const [header, ...rows] = String(csv.body)
      .trim()
      .split('\r\n')
      .map((line) => line.split(','));
    expect(rows.map((row) => row[header!.indexOf('phase')])).toEqual(['stratified', 'stratified', 'stratified']);
    expect(rows.map((row) => row[header!.indexOf('units')])).toEqual(['842', '542', '1026']);
  });

  it('breaks the stratified results down by a dimension, each value stratified on its own', async () => {
    // Units of even and odd index: within each half every arm still converts alike in each phase.
    await p.db.query(
      `UPDATE exposures SET attributes = jsonb_build_object('half', CASE WHEN right(unit_id, 1) IN ('0', '2', '4', '6', '8') THEN 'even' ELSE 'odd' END)
       WHERE project_id = $1 AND experiment = 'aa'`,
      [projectId],
    );
    const current = await must('GET', `${BASE}/experiments/aa`);
    await must('PUT', `${BASE}/experiments/aa`, { ...current.definition, dimensions: ['half'] }, current.version);

    const res = await request('GET', `${BASE}/experiments/aa/results/breakdown?dimension=half&phase=stratified`);
    expect(res.status).toBe(200);
    expect(res.body.filters.phase.stratified).toEqual({ phases: 2, used: null, droppedPhases: null, droppedUnits: null });
    const values = res.body.values as { value: string; results: unknown }[];
    expect(values.map((v) => v.value).sort()).toEqual(['even', 'odd']);
    for (const { value, results: raw } of values) {
      const r = experimentResultsSchema.parse(raw);
      expect([value, r.filters.phase.stratified]).toEqual([value, { phases: 2, used: 2, droppedPhases: 0, droppedUnits: 0 }]);
      expect([value, r.warnings]).toEqual([value, []]);
      for (const v of r.metrics[0]!.variations.slice(1)) {
        expect([value, v.variation, v.comparison!.effect]).toEqual([value, v.variation, 0]);
        expect(v.comparison!.significant).toBe(false);
      }
    }
    // Pooled, the same halves show the confounded loss.
    const pooled = await request('GET', `${BASE}/experiments/aa/results/breakdown?dimension=half&phase=all`);
    for (const { results: raw } of pooled.body.values as { results: unknown }[]) {
      expect(experimentResultsSchema.parse(raw).metrics[0]!.variations[2]!.comparison!.effect).toBeLessThan(-0.3);
    }
  });

  it('refuses a phase that is not one, naming stratified among the choices', async () => {
    const res = await request('GET', `${BASE}/experiments/aa/results?phase=strata`);
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues).toEqual([expect.objectContaining({ path: 'query.phase', message: expect.stringContaining('stratified') })]);
  });
});

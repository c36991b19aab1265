import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { processBatch, processBatchInTransaction, rebuildPendingTotals, rebuildRequestedTotals } from '../../pipeline/aggregate.js';
import { exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS, postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Database } from '../../store/database.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, startPlatform } from './harness.js';

const PROJECT = 'rebuild';
const BASE = `/api/v1/projects/${PROJECT}`;
const START = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;

interface Sent {
  readonly unit: string;
  readonly name: string;
  readonly at: number;
  readonly amount?: number;
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('metric changes after events were aggregated, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  /** Every tracked event sent, for the ground truth. */
  const sent: Sent[] = [];
  const variationOf = (unit: string): string => (Number(unit.slice(1)) % 2 === 0 ? 'control' : 'treatment');
  const units = Array.from({ length: 20 }, (_, i) => `u${i}`);

  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = async (events: readonly PipelineEvent[]): Promise<void> => {
    const out = await processBatch(p.db, events.map((e) => toRecord(e)));
    expect(out.batchItemFailures).toEqual([]);
  };
  /** Tracks `name` for every unit at `at` (amounts differ by arm), remembered for the ground truth. */
  const trackAll = async (name: string, at: number): Promise<void> => {
    const batch = units.map((unit, i) => {
      const amount = (variationOf(unit) === 'control' ? 10 : 15) + i;
      sent.push({ unit, name, at, amount });
      return track(unit, name, at, amount, undefined, projectId);
    });
    await send(batch);
  };
  /** What a metric totals per arm from everything sent: count of events, or sum of amounts. */
  const truth = (name: string, measure: 'count' | 'sum'): number[] =>
    ['control', 'treatment'].map((arm) => sent.filter((e) => e.name === name && variationOf(e.unit) === arm).reduce((n, e) => n + (measure === 'count' ? 1 : (e.amount ?? 0)), 0));
  const results = async (key: string): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/${key}/results`));
  const totals = (r: ExperimentResults, metric: string): (number | null)[] | undefined => r.metrics.find((m) => m.key === metric)?.variations.map((v) => v.total);
  const pending = async (): Promise<number> => (await p.db.query('SELECT 1 FROM totals_rebuilds WHERE project_id = $1', [projectId])).rows.length;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Rebuild' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    // `spend` names an event nobody sends: the typo an analyst fixes after the data came in.
    await must('POST', `${BASE}/metrics`, { key: 'spend', name: 'Spend', type: 'sum', event: 'purchse', property: 'amount' });
    await must('POST', `${BASE}/metrics`, { key: 'views', name: 'Views', type: 'count', event: 'page_view' });
    await must('POST', `${BASE}/metrics`, { key: 'errors', name: 'Errors', type: 'count', event: 'error' });
    await must('POST', `${BASE}/experiments`, {
      key: 'exp',
      name: 'Exp',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['spend'] },
      status: 'running',
      startedAt: new Date(START).toISOString(),
    });
    await send(units.map((unit) => exposure(unit, 'exp', variationOf(unit), START + HOUR, undefined, projectId)));
    await trackAll('purchase', START + 2 * HOUR);
    await trackAll('page_view', START + 2 * HOUR);
    await trackAll('error', START + 2 * HOUR);
  });
  afterAll(async () => {
    await p.close();
  });

  it('counts the history of a metric whose event is corrected, once, with the events that arrive after the change', async () => {
    expect(totals(await results('exp'), 'spend')).toEqual([0, 0]);

    const metric = await must('GET', `${BASE}/metrics/spend`);
    await must('PUT', `${BASE}/metrics/spend`, { ...metric.definition, event: 'purchase' }, metric.version);
    expect(await pending()).toBe(1);
    // Aggregated under the new definition before the rebuild ran: counted once, not twice.
    await trackAll('purchase', START + 3 * HOUR);
    const fixed = await results('exp');

    expect(totals(fixed, 'spend')).toEqual(truth('purchase', 'sum'));
    expect(fixed.totalsRebuilding).toBe(false);
    expect(await pending()).toBe(0);
    // Later events add to the rebuilt totals.
    await trackAll('purchase', START + 4 * HOUR);
    expect(totals(await results('exp'), 'spend')).toEqual(truth('purchase', 'sum'));
  });

  it('gives a metric added to a running experiment the events that came before it', async () => {
    const exp = await must('GET', `${BASE}/experiments/exp`);
    await must('PUT', `${BASE}/experiments/exp`, { ...exp.definition, metrics: { ...exp.definition.metrics, secondary: ['views'] } }, exp.version);

    const r = await results('exp');

    expect(totals(r, 'views')).toEqual(truth('page_view', 'count'));
    expect(totals(r, 'spend')).toEqual(truth('purchase', 'sum'));
  });

  it('counts the events of units exposed before the experiment was created (an import, a delete and re-create)', async () => {
    // SDKs served "late" before it existed here: its exposures and the units' events are stored.
    await send(units.map((unit) => exposure(unit, 'late', variationOf(unit), START + HOUR, undefined, projectId)));
    await must('POST', `${BASE}/experiments`, {
      key: 'late',
      name: 'Late',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['views'] },
      status: 'running',
      startedAt: new Date(START).toISOString(),
    });
    expect(await pending()).toBe(1);

    const r = await results('late');

    expect(r.units.analysed).toBe(units.length);
    expect(totals(r, 'views')).toEqual(truth('page_view', 'count'));
    // A new experiment nobody was exposed to has nothing to rebuild.
    await must('POST', `${BASE}/experiments`, { key: 'fresh', name: 'Fresh', variations: [{ key: 'control' }, { key: 'treatment' }], metrics: { primary: ['views'] } });
    expect(await pending()).toBe(0);
  });

  it('backfills a metric that becomes a project guardrail, and needs no rebuild for a change of its name', async () => {
    const metric = await must('GET', `${BASE}/metrics/errors`);
    const renamed = await must('PUT', `${BASE}/metrics/errors`, { ...metric.definition, name: 'Errors seen' }, metric.version);
    expect(await pending()).toBe(0);
    await must('PUT', `${BASE}/metrics/errors`, { ...renamed.definition, guardrail: true, higherIsBetter: false }, renamed.version);
    // A project guardrail is read by every started experiment: "exp" and "late".
    expect(await pending()).toBe(2);

    const r = await results('exp');

    expect(r.metrics.find((m) => m.key === 'errors')?.role).toBe('guardrail');
    expect(totals(r, 'errors')).toEqual(truth('error', 'count'));
  });

  it('reads a metric from its rollups again once a cap change has been rebuilt', async () => {
    const metric = await must('GET', `${BASE}/metrics/spend`);
    await must('PUT', `${BASE}/metrics/spend`, { ...metric.definition, capping: { type: 'absolute', value: 40 } }, metric.version);

    const spend = (await results('exp')).metrics.find((m) => m.key === 'spend')!;

    // Each unit's total capped at 40, summed per arm.
    const capped = ['control', 'treatment'].map((arm) =>
      units.filter((u) => variationOf(u) === arm).reduce((n, u) => n + Math.min(40, sent.filter((e) => e.unit === u && e.name === 'purchase').reduce((t, e) => t + (e.amount ?? 0), 0)), 0),
    );
    expect(spend.source).toBe('rollup');
    expect(spend.variations.map((v) => v.total)).toEqual(capped);
  });

  it('recounts a metric whose conversion delay changes', async () => {
    // The views came an hour after the exposure: a window starting 1.5 h after it leaves them out.
    const metric = await must('GET', `${BASE}/metrics/views`);
    const later = await must('PUT', `${BASE}/metrics/views`, { ...metric.definition, delayHours: 1.5 }, metric.version);
    // "views" is listed by "exp", "late" and "fresh".
    expect(await pending()).toBe(3);
    expect(totals(await results('exp'), 'views')).toEqual([0, 0]);

    await must('PUT', `${BASE}/metrics/views`, { ...later.definition, delayHours: -1 }, later.version);

    expect(await pending()).toBeGreaterThan(0);
    expect(totals(await results('exp'), 'views')).toEqual(truth('page_view', 'count'));
    expect(totals(await results('late'), 'views')).toEqual(truth('page_view', 'count'));
  });
});

describe('a rebuild that runs out of time (postgres)', () => {
  let p: Platform;
  let projectId: string;

  beforeAll(async () => {
    p = await startPlatform(postgresTarget());
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    await p.db.query('INSERT INTO totals_rebuilds (project_id, experiment) VALUES ($1, $2)', [projectId, 'slow-exp']);
  });
  afterAll(async () => {
    await p.close();
  });

  it('is rolled back and not tried again soon by callers with no more time, while one with more time still tries', async () => {
    const target = { projectId, experiment: 'slow-exp' };
    const state = async (): Promise<{ failures: number; failed_budget_ms: number | null } | undefined> =>
      (await p.db.query<{ failures: number; failed_budget_ms: number | null }>('SELECT failures, failed_budget_ms FROM totals_rebuilds WHERE project_id = $1', [projectId])).rows[0];
    const outcomes: boolean[] = [];
    // An aggregator batch of the project in flight: the rebuild's lock waits for it.
    await p.db.withTransaction(async (batch) => {
      await processBatchInTransaction(batch, [toRecord(track('u0', 'purchase', Date.now(), 1, undefined, projectId))]);
      outcomes.push(await rebuildRequestedTotals(p.db, target, { timeoutMs: 200 }));
      const afterFirst = await state();
      // Another request with the same time waits out the backoff instead of holding aggregation again.
      let began = 0;
      const counting: Database = {
        kind: p.db.kind,
        query: p.db.query.bind(p.db),
        close: p.db.close.bind(p.db),
        withTransaction: (fn) => {
          began++;
          return p.db.withTransaction(fn);
        },
      };
      outcomes.push(await rebuildRequestedTotals(counting, target, { timeoutMs: 200 }));
      expect(began).toBe(0);
      expect(await state()).toEqual(afterFirst);
      // The aggregator's upkeep, with more time, tries.
      outcomes.push(await rebuildRequestedTotals(p.db, target, { timeoutMs: 400 }));
    });
    expect(outcomes).toEqual([false, false, false]);
    expect(await state()).toEqual({ failures: 2, failed_budget_ms: 400 });

    // Once nothing holds the table, the upkeep with time to spare rebuilds it.
    expect(await rebuildRequestedTotals(p.db, target, { timeoutMs: 400 })).toBe(false);
    expect(await rebuildPendingTotals(p.db, { timeoutMs: 5_000 })).toBe(1);
    expect(await state()).toBeUndefined();
  });
});

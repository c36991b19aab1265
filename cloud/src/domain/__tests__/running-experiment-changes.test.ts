/**
 * Changing an experiment that has started (PUT …/experiments/:key), through the API: which changes
 * would move exposed units to another variation (refused, also under sticky bucketing, unless it has
 * been on since the start and only the weights move), the results of data that slipped through
 * before these checks, and the lifecycle messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { experimentResultsSchema } from '../results.js';
import type { ExperimentResults } from '../results.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { exposure, track } from '../../pipeline/__tests__/fixtures.js';
import { toRecord } from '../../pipeline/__tests__/fixtures.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from '../../http/__tests__/harness.js';

const PROJECT = 'running-changes';
const BASE = `/api/v1/projects/${PROJECT}`;
const DAY = 86_400_000;

describe('changing a started experiment', () => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  /** The platform's clock: experiments start 2 days before. */
  let T: number;
  let startedAt: string;

  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = async (events: readonly PipelineEvent[]): Promise<void> => {
    const out = await processBatch(p.db, events.map((e) => toRecord(e)));
    expect(out.batchItemFailures).toEqual([]);
  };
  const results = async (key: string, query = ''): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/${key}/results${query}`));
  /** The stored experiment, replaced by `change(definition)`: the response (status, body). */
  const replace = async (key: string, change: (definition: any) => any): Promise<{ status: number; body: any }> => {
    const current = await must('GET', `${BASE}/experiments/${key}`);
    return request('PUT', `${BASE}/experiments/${key}`, change(current.definition), current.version);
  };
  const issues = (res: { body: any }): { path: string; message: string }[] => res.body.error?.details?.issues ?? [];
  const withVariations = (variations: unknown[]) => (d: any) => ({ ...d, variations });

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    T = p.now.value.getTime();
    startedAt = new Date(T - 2 * DAY).toISOString();
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Running changes' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
  });
  afterAll(async () => {
    await p.close();
  });

  it('keeps variation keys and their order once started, also with sticky bucketing on from the start', async () => {
    await must('POST', `${BASE}/experiments`, {
      key: 'sticky-keys',
      name: 'Sticky keys',
      variations: [
        { key: 'control', weight: 1 },
        { key: 'treatment', weight: 1 },
        { key: 'third', weight: 1 },
      ],
      stickyBucketing: { enabled: true },
    });
    const draft = await must('GET', `${BASE}/experiments/sticky-keys`);
    await must('POST', `${BASE}/experiments/sticky-keys/start`, undefined, draft.version);

    const renamed = await replace('sticky-keys', withVariations([{ key: 'control', weight: 1 }, { key: 'treatment-v2', weight: 1 }, { key: 'third', weight: 1 }]));
    const reordered = await replace('sticky-keys', withVariations([{ key: 'treatment', weight: 1 }, { key: 'control', weight: 1 }, { key: 'third', weight: 1 }]));
    const removed = await replace('sticky-keys', withVariations([{ key: 'control', weight: 1 }, { key: 'treatment', weight: 1 }]));
    const added = await replace('sticky-keys', withVariations([{ key: 'control', weight: 1 }, { key: 'treatment', weight: 1 }, { key: 'third', weight: 1 }, { key: 'fourth', weight: 1 }]));

    for (const res of [renamed, reordered, removed, added]) {
      expect(res.status).toBe(400);
      expect(issues(res)).toEqual([{ path: 'variations', message: expect.stringContaining('variation keys and their order are fixed from the start, also with stickyBucketing') }]);
    }
    // Sticky bucketing on since the start still lets the weights move (names and values too).
    const reweighted = await replace('sticky-keys', withVariations([{ key: 'control', weight: 2 }, { key: 'treatment', weight: 1, name: 'Treatment' }, { key: 'third', weight: 1 }]));
    expect(reweighted.status).toBe(200);
    expect(reweighted.body.definition.splitHistory).toEqual([{ until: new Date(T).toISOString(), shares: { control: 1 / 3, treatment: 1 / 3, third: 1 / 3 } }]);
    expect(reweighted.body.definition.stickyBucketingSince).toBeUndefined();
  });

  it('records when sticky bucketing is turned on after the start, and then refuses a new split or new keys', async () => {
    await must('POST', `${BASE}/experiments`, {
      key: 'late-sticky',
      name: 'Late sticky',
      variations: [
        { key: 'control', weight: 1 },
        { key: 'treatment', weight: 1 },
      ],
      status: 'running',
      startedAt,
    });
    const sticky = await replace('late-sticky', (d) => ({ ...d, stickyBucketing: { enabled: true } }));
    expect(sticky.status).toBe(200);
    expect(sticky.body.definition.stickyBucketingSince).toBe(new Date(T).toISOString());

    const moved = await replace('late-sticky', withVariations([{ key: 'control', weight: 20 }, { key: 'treatment', weight: 80 }]));
    const renamed = await replace('late-sticky', withVariations([{ key: 'control', weight: 1 }, { key: 'treatment-v2', weight: 1 }]));
    const rewritten = await replace('late-sticky', (d) => ({ ...d, stickyBucketingSince: startedAt }));
    const { stickyBucketingSince: _left, ...withoutSince } = (await must('GET', `${BASE}/experiments/late-sticky`)).definition;
    const leftOut = await replace('late-sticky', () => ({ ...withoutSince, name: 'Late sticky, renamed' }));

    expect(moved.status).toBe(400);
    expect(issues(moved)).toEqual([{ path: 'variations', message: expect.stringContaining(`stickyBucketing was only turned on at ${new Date(T).toISOString()}, after the start: units exposed before then have no stored variation`) }]);
    expect(moved.body.error.message).toContain('create a new experiment');
    expect(issues(renamed)).toEqual([{ path: 'variations', message: expect.stringContaining('keys and their order are fixed') }]);
    expect(issues(rewritten)).toEqual([{ path: 'stickyBucketingSince', message: expect.stringContaining('recorded by the platform') }]);
    expect(leftOut.status).toBe(200);
    expect(leftOut.body.definition.stickyBucketingSince).toBe(new Date(T).toISOString());
    expect((await must('GET', `${BASE}/experiments/late-sticky`)).definition.variations).toEqual([
      { key: 'control', weight: 1 },
      { key: 'treatment', weight: 1 },
    ]);

    // Turned off (the split never moved), it no longer holds; on again later, it is recorded again.
    p.now.value = new Date(T + 60_000);
    try {
      const off = await replace('late-sticky', (d) => ({ ...d, stickyBucketing: { enabled: false } }));
      const again = await replace('late-sticky', (d) => ({ ...d, stickyBucketing: { enabled: true } }));
      expect(off.status).toBe(200);
      expect(off.body.definition.stickyBucketingSince).toBeUndefined();
      expect(again.body.definition.stickyBucketingSince).toBe(new Date(T + 60_000).toISOString());
    } finally {
      p.now.value = new Date(T);
    }
  });

  it('refuses turning sticky bucketing on together with a new split, and a client-given time of it', async () => {
    await must('POST', `${BASE}/experiments`, { key: 'plain', name: 'Plain', variations: [{ key: 'control' }, { key: 'treatment' }], status: 'running', startedAt });
    const together = await replace('plain', (d) => ({ ...d, stickyBucketing: { enabled: true }, variations: [{ key: 'control' }, { key: 'treatment-v2' }] }));
    const draft = await request('POST', `${BASE}/experiments`, { key: 'draft-since', name: 'Draft', variations: [{ key: 'control' }, { key: 'treatment' }], stickyBucketing: { enabled: true }, stickyBucketingSince: startedAt });
    const early = await request('POST', `${BASE}/experiments`, {
      key: 'early-since',
      name: 'Early',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      status: 'running',
      startedAt,
      stickyBucketing: { enabled: true },
      stickyBucketingSince: new Date(T - 3 * DAY).toISOString(),
    });
    // An import may bring it within the run: the split of such an experiment may not move.
    const imported = await must('POST', `${BASE}/experiments`, {
      key: 'imported-since',
      name: 'Imported',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      status: 'running',
      startedAt,
      stickyBucketing: { enabled: true },
      stickyBucketingSince: new Date(T - DAY).toISOString(),
    });
    const importedMove = await replace('imported-since', withVariations([{ key: 'control', weight: 1 }, { key: 'treatment', weight: 3 }]));

    expect(issues(together)).toEqual([{ path: 'variations', message: expect.stringContaining('keys and their order are fixed') }]);
    expect(issues(draft)).toEqual([{ path: 'stickyBucketingSince', message: expect.stringContaining('a draft has not started') }]);
    expect(issues(early)).toEqual([{ path: 'stickyBucketingSince', message: expect.stringContaining('must fall between startedAt') }]);
    expect(imported.definition.stickyBucketingSince).toBe(new Date(T - DAY).toISOString());
    expect(issues(importedMove)).toEqual([{ path: 'variations', message: expect.stringContaining('after the start') }]);
  });

  it('expects the current split of a recorded period whose keys were renamed, not all of it in the unrenamed variation', async () => {
    // Data from before the keys were fixed: a sticky experiment whose "treatment" became "treatment-v2".
    await must('POST', `${BASE}/experiments`, {
      key: 'renamed-history',
      name: 'Renamed history',
      variations: [
        { key: 'control', weight: 1 },
        { key: 'treatment-v2', weight: 1 },
      ],
      status: 'running',
      startedAt,
      stickyBucketing: { enabled: true },
      splitHistory: [{ until: new Date(T - DAY).toISOString(), shares: { control: 0.5, treatment: 0.5 } }],
    });
    const at = T - 1.5 * DAY;
    await send([
      ...Array.from({ length: 50 }, (_, i) => exposure(`rh-c${i}`, 'renamed-history', 'control', at, undefined, projectId)),
      ...Array.from({ length: 50 }, (_, i) => exposure(`rh-t${i}`, 'renamed-history', 'treatment-v2', at, undefined, projectId)),
    ]);

    // Every phase pooled: the units were all exposed before the recorded move (the current phase has none).
    const out = await results('renamed-history', '?phase=all');

    expect(out.variations.map((v) => [v.key, v.units, v.expectedShare])).toEqual([
      ['control', 50, 0.5],
      ['treatment-v2', 50, 0.5],
    ]);
    expect(out.srm.error).toBeNull();
    expect(out.srm.flagged).toBe(false);
  });

  it('reports no mean for a ratio whose denominator adds up to 0', async () => {
    await must('POST', `${BASE}/metrics`, {
      key: 'per-session',
      name: 'Revenue per session',
      type: 'ratio',
      numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' },
      denominator: { event: 'session', aggregation: 'count' },
    });
    await must('POST', `${BASE}/experiments`, {
      key: 'no-sessions',
      name: 'No sessions',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      status: 'running',
      startedAt,
      metrics: { primary: ['per-session'] },
    });
    const at = T - DAY;
    const units = Array.from({ length: 20 }, (_, i) => [`ns-${i}`, i % 2 === 0 ? 'control' : 'treatment'] as const);
    await send(units.map(([unit, variation]) => exposure(unit, 'no-sessions', variation, at, undefined, projectId)));
    await send(units.map(([unit]) => track(unit, 'purchase', at + 60_000, 10, undefined, projectId)));

    const out = await results('no-sessions');
    const csv = await p.request('GET', `${BASE}/experiments/no-sessions/results.csv`, { token: owner });

    const metric = out.metrics.find((m) => m.key === 'per-session')!;
    expect(metric.variations.map((v) => [v.variation, v.units, v.total, v.denominatorTotal, v.mean])).toEqual([
      ['control', 10, 100, 0, null],
      ['treatment', 10, 100, 0, null],
    ]);
    expect(metric.variations[1]!.comparison?.error?.code).toBe('ZERO_DENOMINATOR');
    expect(csv.status).toBe(200);
    const rows = String(csv.body).split('\r\n').map((line) => line.split(','));
    const header = rows[0]!;
    const perSession = rows.filter((r) => r[0] === 'per-session');
    expect(perSession.map((r) => r[header.indexOf('mean')])).toEqual(['', '']);
  });

  it('points a start of a stopped experiment to the resume', async () => {
    await must('POST', `${BASE}/experiments`, { key: 'restart', name: 'Restart', variations: [{ key: 'control' }, { key: 'treatment' }], status: 'running', startedAt });
    const running = await must('GET', `${BASE}/experiments/restart`);
    const stopped = await must('POST', `${BASE}/experiments/restart/stop`, { decision: 'inconclusive' }, running.version);

    const started = await request('POST', `${BASE}/experiments/restart/start`, undefined, stopped.version);
    const again = await request('POST', `${BASE}/experiments/late-sticky/start`, undefined, (await must('GET', `${BASE}/experiments/late-sticky`)).version);

    expect(started.status).toBe(409);
    expect(started.body.error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('POST …/experiments/restart/resume') });
    expect(again.body.error.message).toBe('experiment is running; only a draft can start');
  });
});

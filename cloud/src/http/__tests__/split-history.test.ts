/**
 * Moving the split of a running experiment under sticky bucketing: the platform records the split
 * each period served, and the SRM check expects each period's units in its own split — the moved
 * split is not a sample-ratio mismatch, traffic that ignores the move still is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { exposure, toRecord } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';

const PROJECT = 'splits';
const BASE = `/api/v1/projects/${PROJECT}`;
const DAY = 86_400_000;

describe.each(TARGETS.map((t) => [t().name, t] as const))('a split moved under sticky bucketing, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  /** The platform's clock (the harness's fixed now): the experiments start 2 days before, the split moves at it. */
  let T: number;
  let startedAt: string;

  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = async (events: readonly PipelineEvent[]): Promise<void> => {
    const out = await processBatch(p.db, events.map((e) => toRecord(e)));
    expect(out.batchItemFailures).toEqual([]);
  };
  /** `control` units exposed to control and `treatment` to treatment, at `at`. */
  const expose = async (key: string, prefix: string, control: number, treatment: number, at: number): Promise<void> => {
    const events = [
      ...Array.from({ length: control }, (_, i) => exposure(`${prefix}c${i}`, key, 'control', at, undefined, projectId)),
      ...Array.from({ length: treatment }, (_, i) => exposure(`${prefix}t${i}`, key, 'treatment', at, undefined, projectId)),
    ];
    for (let i = 0; i < events.length; i += 500) {
      await send(events.slice(i, i + 500));
    }
  };
  const results = async (key: string, query = ''): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/${key}/results${query}`));
  /** Creates a running sticky 50/50 experiment with 500 + 500 units exposed a day ago, then moves it to 20/80. */
  const moved = async (key: string): Promise<{ until: string; version: number; definition: any }> => {
    await must('POST', `${BASE}/experiments`, {
      key,
      name: key,
      variations: [
        { key: 'control', weight: 1 },
        { key: 'treatment', weight: 1 },
      ],
      status: 'running',
      startedAt,
      stickyBucketing: { enabled: true },
    });
    await expose(key, `${key}-before-`, 500, 500, T - DAY);
    const current = await must('GET', `${BASE}/experiments/${key}`);
    const out = await must(
      'PUT',
      `${BASE}/experiments/${key}`,
      {
        ...current.definition,
        variations: [
          { key: 'control', weight: 20 },
          { key: 'treatment', weight: 80 },
        ],
      },
      current.version,
    );
    const until: string = out.definition.splitHistory?.[0]?.until;
    expect(until).toBe(new Date(T).toISOString());
    expect(out.definition.splitHistory).toEqual([{ until, shares: { control: 0.5, treatment: 0.5 } }]);
    return { until, version: out.version, definition: out.definition };
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    T = p.now.value.getTime();
    startedAt = new Date(T - 2 * DAY).toISOString();
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Splits' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
  });
  afterAll(async () => {
    await p.close();
  });

  it('expects each period in its own split: the move is no mismatch, traffic that ignores it is', async () => {
    await moved('follows');
    await expose('follows', 'follows-after-', 200, 800, T + 60_000);
    await moved('ignores');
    await expose('ignores', 'ignores-after-', 500, 500, T + 60_000);

    // Pooled over both phases (the current phase alone is the default).
    const follows = await results('follows', '?phase=all');
    const ignores = await results('ignores', '?phase=all');

    // 500 + 200 of 2,000 expected in control: 0.35.
    expect(follows.variations.map((v) => [v.units, v.expectedShare])).toEqual([
      [700, 0.35],
      [1300, 0.65],
    ]);
    expect(follows.srm.flagged).toBe(false);
    expect(follows.srm.chiSquare).toBeCloseTo(0, 9);
    // The same 1,000 + 1,000 against 0.35 / 0.65 is far off.
    expect(ignores.variations.map((v) => [v.units, v.expectedShare])).toEqual([
      [1000, 0.35],
      [1000, 0.65],
    ]);
    expect(ignores.srm.flagged).toBe(true);
  });

  it('expects only the current split of units exposed after the move when the results start there', async () => {
    const after = await results('follows', `?from=${encodeURIComponent(new Date(T + 30_000).toISOString())}`);

    expect(after.variations.map((v) => [v.units, v.expectedShare])).toEqual([
      [200, 0.2],
      [800, 0.8],
    ]);
    expect(after.srm.flagged).toBe(false);
  });

  it('keeps the history through a replace that leaves it out, and refuses one that rewrites it', async () => {
    const current = await must('GET', `${BASE}/experiments/follows`);
    const history = current.definition.splitHistory;
    const { splitHistory: _omitted, ...withoutHistory } = current.definition;

    const renamed = await must('PUT', `${BASE}/experiments/follows`, { ...withoutHistory, name: 'Follows' }, current.version);
    const rewritten = await request('PUT', `${BASE}/experiments/follows`, { ...renamed.definition, splitHistory: [] }, renamed.version);

    expect(renamed.definition.splitHistory).toEqual(history);
    expect(rewritten.status).toBe(400);
    expect(rewritten.body.error.details.issues).toEqual([{ path: 'splitHistory', message: expect.stringContaining('recorded by the platform') }]);
  });

  it('refuses to turn sticky bucketing off once the split has moved: units would be hashed again into the new split', async () => {
    const { definition, version } = await moved('unstick');
    const off = await request('PUT', `${BASE}/experiments/unstick`, { ...definition, stickyBucketing: { enabled: false } }, version);
    expect(off.status).toBe(400);
    expect(off.body.error.details.issues).toEqual([{ path: 'stickyBucketing', message: expect.stringContaining('changes which variation') }]);
    // An experiment whose split never moved may drop it: every unit hashes to the variation it had.
    await must('POST', `${BASE}/experiments`, { key: 'never-moved', name: 'Never moved', variations: [{ key: 'control' }, { key: 'treatment' }], status: 'running', startedAt, stickyBucketing: { enabled: true } });
    const kept = await must('GET', `${BASE}/experiments/never-moved`);
    const dropped = await request('PUT', `${BASE}/experiments/never-moved`, { ...kept.definition, stickyBucketing: { enabled: false } }, kept.version);
    expect(dropped.status).toBe(200);
  });

  it('records no history for a draft, and refuses one given with it', async () => {
    const created = await must('POST', `${BASE}/experiments`, { key: 'draft', name: 'Draft', variations: [{ key: 'control' }, { key: 'treatment' }] });
    const reweighted = await must(
      'PUT',
      `${BASE}/experiments/draft`,
      {
        ...created.definition,
        variations: [
          { key: 'control', weight: 1 },
          { key: 'treatment', weight: 3 },
        ],
      },
      created.version,
    );
    const given = await request('POST', `${BASE}/experiments`, {
      key: 'draft-2',
      name: 'Draft 2',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      splitHistory: [{ until: startedAt, shares: { control: 0.5, treatment: 0.5 } }],
    });

    expect(reweighted.definition.splitHistory).toBeUndefined();
    expect(given.status).toBe(400);
    expect(given.body.error.details.issues).toEqual([expect.objectContaining({ path: 'splitHistory' })]);
  });
});

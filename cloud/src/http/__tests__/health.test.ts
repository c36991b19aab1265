import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Services } from '../../domain/services.js';
import type { AggregatorState, HealthSource } from '../routes/health.js';
import { AGGREGATOR_FAILING_MS, HEALTHZ_DEADLINE_MS, HEALTH_FIGURES, InProcessCounters, attachAggregatorState, attachArchiveState, attachHealthSource, healthz, inProcessHealthSource, processCounters } from '../routes/health.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { measuredProcess } from '../../pipeline/measured.js';
import { toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

/**
 * The Health view and the local aggregator: a poller that keeps failing (a restored database whose
 * checkpoints belong to another stream, a broken database) made no sign while events were accepted
 * and never counted. Here the poller's state is set by the test (the poller's own tracking of it is
 * tested in pipeline/__tests__/poller.test.ts).
 */
describe('GET /api/v1/health and the local aggregator', () => {
  let p: Platform;
  let token: string;
  let state: AggregatorState = { failingSinceMs: null, lastError: null };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    token = await p.login(OWNER.email, OWNER.password);
    attachAggregatorState(p.services, () => state);
  });
  afterAll(async () => {
    await p.close();
  });

  const health = async (): Promise<{ status: string; pipeline: { aggregator?: { failingSince: string | null; lastError: string | null } } }> => {
    const res = await p.request('GET', '/api/v1/health', { token });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('says when in-process counters began, inside the window: after a restart they cover only the time since', async () => {
    const startedMinutesAgo = (minutes: number): InProcessCounters => new InProcessCounters(() => p.now.value.getTime() - minutes * 60_000);
    try {
      const fresh = startedMinutesAgo(10);
      attachHealthSource(p.services, inProcessHealthSource(fresh));
      const restarted = await p.request('GET', '/api/v1/health?minutes=60', { token });
      expect([restarted.body.window.minutes, restarted.body.countingSince]).toEqual([60, new Date(fresh.startedAt).toISOString()]);
      // Counting since before the window began: the whole window is covered.
      expect((await p.request('GET', '/api/v1/health?minutes=5', { token })).body.countingSince).toBeNull();
      attachHealthSource(p.services, { kind: 'cloudwatch', read: () => Promise.resolve(HEALTH_FIGURES.map((f) => ({ ...f, value: null }))) });
      expect((await p.request('GET', '/api/v1/health', { token })).body.countingSince).toBeNull();
    } finally {
      attachHealthSource(p.services, inProcessHealthSource(processCounters));
    }
  });

  it('is degraded once the aggregator has failed to read events for 30 s, and says since when and why', async () => {
    const now = p.now.value.getTime();
    expect(await health()).toMatchObject({ status: 'ok', pipeline: { aggregator: { failingSince: null, lastError: null } } });

    state = { failingSinceMs: now - 5_000, lastError: 'InvalidArgumentException: StartingSequenceNumber … did not come from this stream.' };
    expect((await health()).status).toBe('ok');

    state = { ...state, failingSinceMs: now - AGGREGATOR_FAILING_MS };
    expect(await health()).toEqual(
      expect.objectContaining({
        status: 'degraded',
        pipeline: expect.objectContaining({ aggregator: { failingSince: new Date(now - AGGREGATOR_FAILING_MS).toISOString(), lastError: state.lastError, stalledSince: null } }),
      }),
    );
  });

  it('is degraded once a poll has not ended for 30 s (a batch waiting on a lock fails nothing), and says since when', async () => {
    const now = p.now.value.getTime();
    state = { failingSinceMs: null, lastError: null, pollingSinceMs: now - 5_000 };
    expect(await health()).toMatchObject({ status: 'ok', pipeline: { aggregator: { stalledSince: null } } });

    state = { failingSinceMs: null, lastError: null, pollingSinceMs: now - AGGREGATOR_FAILING_MS };
    expect(await health()).toMatchObject({ status: 'degraded', pipeline: { aggregator: { failingSince: null, stalledSince: new Date(now - AGGREGATOR_FAILING_MS).toISOString() } } });
    state = { failingSinceMs: null, lastError: null, pollingSinceMs: null };
  });

  it('is degraded at once while the raw event archive cannot be written, and says since when and why', async () => {
    const now = p.now.value.getTime();
    let archive = { failingSinceMs: null as number | null, lastError: null as string | null };
    attachArchiveState(p.services, () => archive);
    expect(await health()).toMatchObject({ status: 'ok', pipeline: { archive: { failingSince: null, lastError: null } } });

    archive = { failingSinceMs: now - 1_000, lastError: 'EROFS: read-only file system' };
    expect(await health()).toMatchObject({ status: 'degraded', pipeline: { archive: { failingSince: new Date(now - 1_000).toISOString(), lastError: 'EROFS: read-only file system' } } });
    archive = { failingSinceMs: null, lastError: null };
  });

  it('is degraded while the aggregation lag of the last 5 minutes is over its limit (60 s, or the variable), and says how far behind', async () => {
    // AggregationLag's maximum: `recent` over windows of 5 minutes or less, `older` over longer ones.
    let recent: number | null = 11 * 60_000;
    const older: number | null = 11 * 60_000;
    const source: HealthSource = {
      kind: 'cloudwatch',
      read: ({ start, end }) =>
        Promise.resolve(HEALTH_FIGURES.map((f) => ({ ...f, value: f.name === 'AggregationLag' ? (end.getTime() - start.getTime() <= 5 * 60_000 ? recent : older) : f.name === 'DeadLetters' ? 0 : null }))),
    };
    attachHealthSource(p.services, source);
    try {
      const behind = await p.request('GET', '/api/v1/health', { token });
      expect(behind.body).toMatchObject({ status: 'degraded', pipeline: { aggregationLag: { maxMs: 660_000, limitMs: 60_000, minutes: 5, exceeded: true } } });
      expect((await p.request('GET', '/api/v1/health?minutes=5', { token })).body).toMatchObject({ status: 'degraded', pipeline: { aggregationLag: { exceeded: true } } });

      // Caught up: an hour's window still holds the old lag, the status goes by the last 5 minutes.
      recent = 2_000;
      expect((await p.request('GET', '/api/v1/health?minutes=60', { token })).body).toMatchObject({ status: 'ok', pipeline: { aggregationLag: { maxMs: 2_000, exceeded: false } } });
      recent = null;
      expect((await health()).status).toBe('ok');

      recent = 11 * 60_000;
      vi.stubEnv('XP_HEALTH_MAX_AGGREGATION_LAG_SECONDS', '900');
      expect((await p.request('GET', '/api/v1/health', { token })).body).toMatchObject({ status: 'ok', pipeline: { aggregationLag: { maxMs: 660_000, limitMs: 900_000, exceeded: false } } });
      vi.stubEnv('XP_HEALTH_MAX_AGGREGATION_LAG_SECONDS', 'soon');
      expect((await p.request('GET', '/api/v1/health', { token })).body).toMatchObject({ status: 'degraded', pipeline: { aggregationLag: { limitMs: 60_000 } } });
    } finally {
      vi.unstubAllEnvs();
      attachHealthSource(p.services, inProcessHealthSource(processCounters));
    }
  });
});

describe('GET /api/v1/health and the events the aggregator skips as duplicates', () => {
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    token = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it('counts them in the DuplicateEvents figure, as the local stack measures its batches, without degrading the platform', async () => {
    // The counters and the batch processor as the local stack wires them (processCounterSink, measuredProcess), on the test's clock.
    const counters = new InProcessCounters(() => p.now.value.getTime());
    attachHealthSource(p.services, inProcessHealthSource(counters));
    const process = measuredProcess({ put: (name, value) => { counters.record(name, value); } });
    expect((await p.request('POST', '/api/v1/projects', { token, body: { key: 'dupes', name: 'Dupes' } })).status).toBe(201);
    const projectId = (await p.db.query<{ id: string }>(`SELECT id FROM projects WHERE key = 'dupes'`)).rows[0]!.id;
    const duplicates = async (): Promise<unknown> => {
      const res = await p.request('GET', '/api/v1/health', { token });
      return [res.body.status, res.body.figures.find((f: { name: string }) => f.name === 'DuplicateEvents')];
    };
    try {
      expect(await duplicates()).toEqual(['ok', { name: 'DuplicateEvents', statistic: 'sum', unit: 'Count', value: 0 }]);

      // 200 purchases sharing one event id (a sender reusing ids): the first counts, 199 are skipped.
      const at = p.now.value.getTime();
      const sameId = Array.from({ length: 200 }, (_, i) => toRecord(track(`u${i}`, 'purchase', at, i, 'purchase-1', projectId)));
      const first = await process(p.db, sameId, {});
      // Delivered again (a retry): all 200 are skipped.
      const again = await process(p.db, sameId, {});

      expect([first.processed, first.duplicates, again.processed, again.duplicates]).toEqual([1, 199, 0, 200]);
      expect(await duplicates()).toEqual(['ok', { name: 'DuplicateEvents', statistic: 'sum', unit: 'Count', value: 399 }]);
    } finally {
      attachHealthSource(p.services, inProcessHealthSource(processCounters));
    }
  });
});

describe('/healthz when the database does not answer at all (a network partition)', () => {
  it('says down within its deadline instead of waiting for an answer that never comes', async () => {
    // A database whose every query hangs: what a frozen network gives a pool of open connections.
    const silent = { deps: { db: { query: () => new Promise<never>(() => undefined) } } } as unknown as Services;
    const app = new Hono();
    app.get('/healthz', healthz(silent));

    const started = Date.now();
    const res = await app.request('/healthz');

    expect([res.status, await res.json(), res.headers.get('retry-after')]).toEqual([503, { status: 'down', database: 'down' }, '5']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEALTHZ_DEADLINE_MS - 50);
  });
});

describe('GET /api/v1/health and a ruleset the store did not take', () => {
  it('is degraded, naming the environment and version, until a later publish of it succeeds', async () => {
    let refusing = false;
    const p = await startPlatform(pgliteTarget(), {
      deps: (d) => {
        // The harness's store (dynalite), refusing writes while the test says so (DynamoDB throttling or unreachable).
        const store: typeof d.rulesets = Object.create(d.rulesets) as typeof d.rulesets;
        store.put = (...args) => (refusing ? Promise.reject(new Error('DynamoDB did not answer')) : d.rulesets.put(...args));
        return { ...d, rulesets: store };
      },
    });
    try {
      const token = await p.login(OWNER.email, OWNER.password);
      const health = async (): Promise<{ status: string; unpublishedRulesets: unknown[] }> => (await p.request('GET', '/api/v1/health', { token })).body;
      const flag = await p.request('GET', '/api/v1/projects/demo/flags/new-checkout', { token });
      expect((await health()).unpublishedRulesets).toEqual([]);

      refusing = true;
      const toggled = await p.request('POST', '/api/v1/projects/demo/flags/new-checkout/environments/development/toggle', { token, body: { enabled: false }, headers: { 'If-Match': `"${String(flag.body.version)}"` } });
      expect(toggled.status).toBe(200);
      const degraded = await health();
      expect(degraded.status).toBe('degraded');
      expect(degraded.unpublishedRulesets).toEqual([{ project: 'demo', environment: 'development', version: expect.any(Number), since: expect.any(String), error: 'DynamoDB did not answer' }]);

      // The store is back: a republish publishes what was saved, and the report clears.
      refusing = false;
      expect((await p.request('POST', '/api/v1/projects/demo/republish', { token })).status).toBe(200);
      expect(await health()).toMatchObject({ status: 'ok', unpublishedRulesets: [] });
    } finally {
      await p.close();
    }
  });
});

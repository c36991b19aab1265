import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, AppErrorCode } from '../../../errors.js';
import type { EventSink } from '../../../store/event-sink.js';
import { InProcessCounters, attachHealthSource, inProcessHealthSource } from '../../routes/health.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { eventually, readStream, startSdkPlatform } from './sdk-fixture.js';

/**
 * Exposures of /sdk/v1/evaluate and /r the event sink refuses are retried in the background
 * (exposure-retry.ts), on kinesalite: none is lost to a stall, none written twice.
 */

/** A sink that refuses every write at once, as the Kinesis sink does when Kinesis misses its deadline. */
const refusing = (calls: { count: number }): EventSink => ({
  put: () => {
    calls.count++;
    return Promise.reject(new AppError(AppErrorCode.Unavailable, 'Kinesis did not accept 1 of 1 events in time; retry later', { retryAfterSeconds: 2 }));
  },
});

async function withExperiment(s: SdkPlatform): Promise<void> {
  const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
    token: s.owner,
    body: { key: 'retry-exp', name: 'Retry experiment', variations: [{ key: 'control' }, { key: 'treatment' }] },
  });
  const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/retry-exp/start', { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
  const landing = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
    token: s.owner,
    body: {
      key: 'retry-landing',
      name: 'Retry landing page',
      type: 'split-url',
      variations: [
        { key: 'a', url: 'https://shop.example.com/a' },
        { key: 'b', url: 'https://shop.example.com/b' },
      ],
    },
  });
  const landed = await s.p.request('POST', '/api/v1/projects/demo/experiments/retry-landing/start', { token: s.owner, headers: { 'If-Match': landing.headers.get('etag')! } });
  const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
    token: s.owner,
    body: {
      key: 'retry-flag',
      name: 'Retry flag',
      type: 'boolean',
      variations: [
        { key: 'control', value: false },
        { key: 'treatment', value: true },
      ],
      environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'retry-exp' }] } },
    },
  });
  if (exp.status !== 201 || started.status !== 200 || landing.status !== 201 || landed.status !== 200 || flag.status !== 201) {
    throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, landing.body, landed.body, flag.body])}`);
  }
}

const evaluate = (s: SdkPlatform, id: string): Promise<Response> =>
  Promise.resolve(
    s.p.app.request('/sdk/v1/evaluate', {
      method: 'POST',
      headers: { 'X-XP-SDK-Key': s.p.boot.sdkKeys!.development!.server, 'content-type': 'application/json' },
      body: JSON.stringify({ unit: { id }, flags: ['retry-flag'] }),
    }),
  );

/** The exposures in the stream for units starting with `prefix`: how many records per event id, and the unit ids. */
async function streamed(s: SdkPlatform, prefix: string): Promise<{ perId: Map<string, number>; units: string[] }> {
  const records = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId.startsWith(prefix));
  const perId = new Map<string, number>();
  for (const r of records) {
    perId.set(r.event.event.id, (perId.get(r.event.event.id) ?? 0) + 1);
  }
  return { perId, units: records.map((r) => r.event.event.unitId).sort() };
}

const exposureLogs = (s: SdkPlatform, from: number): string[] => s.p.logs.slice(from).filter((l) => l.startsWith('exposure'));

describe('exposures the event sink refuses', () => {
  let s: SdkPlatform;

  /** The Health view's counters, fed by the routes' retry buffer as `xp start` feeds the process's. */
  let counters: InProcessCounters;

  beforeAll(async () => {
    let clock = (): number => Date.now();
    counters = new InProcessCounters(() => clock());
    s = await startSdkPlatform({
      exposureRetryMaxEvents: 30,
      exposureRetryDelayMs: { min: 20, max: 100 },
      metricSink: {
        put: (name, value) => {
          counters.record(name, value);
        },
      },
    });
    clock = () => s.p.now.value.getTime();
    attachHealthSource(s.p.services, inProcessHealthSource(counters));
    await withExperiment(s);
  });
  afterAll(async () => {
    await s.close();
  });

  it('are retried once the sink is back: every evaluation answered 200 at once, every exposure in the stream exactly once', async () => {
    const calls = { count: 0 };
    const logsFrom = s.p.logs.length;
    s.useSink(refusing(calls));
    const units = Array.from({ length: 25 }, (_, i) => `stall-${String(i).padStart(2, '0')}`);
    // Concurrent (batched together) and one by one.
    const answers = [...(await Promise.all(units.slice(0, 15).map((id) => evaluate(s, id))))];
    for (const id of units.slice(15)) {
      answers.push(await evaluate(s, id));
    }
    expect(answers.map((a) => a.status)).toEqual(units.map(() => 200));
    expect(s.metrics.exposuresRetrying).toBe(25);
    // Retries keep failing while the sink is down; nothing is dropped and nothing logged per batch.
    await eventually(() => (calls.count >= 15 ? true : undefined));
    expect(s.metrics.exposuresDropped).toBe(0);
    expect((await streamed(s, 'stall-')).units).toEqual([]);

    s.restoreSink();
    await eventually(() => (s.metrics.exposuresRetrying === 0 ? true : undefined));

    const { perId, units: inStream } = await streamed(s, 'stall-');
    expect(inStream).toEqual(units);
    expect([...perId.values()].every((n) => n === 1)).toBe(true);
    expect(perId.size).toBe(25);
    expect(s.metrics.exposuresRecovered).toBe(25);
    expect(s.metrics.exposuresDropped).toBe(0);
    // One warning when retrying started, one line when it drained: no line per refused batch.
    const logs = exposureLogs(s, logsFrom);
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/^exposures not logged yet: the event sink refused them; retrying in the background .*"error":"Kinesis did not accept/);
    expect(logs[1]).toMatch(/^exposures recovered: .*"recovered":25/);
  });

  it('while the sink refuses, later evaluations do not wait out its deadline: their exposures wait with the others, sent by the retries', async () => {
    // A sink that takes 400 ms to refuse, as Kinesis missing its deadline does (2 s in production);
    // it records the units of every write it is asked for.
    const writes: string[][] = [];
    const slow: EventSink = {
      put: (events) => {
        // The exposures' units (the evaluation counts riding along are not kept for retry).
        writes.push(events.flatMap((e) => (e.event.type === 'evaluations' ? [] : [e.event.unitId])).sort());
        return new Promise((_resolve, reject) => {
          setTimeout(() => {
            reject(new AppError(AppErrorCode.Unavailable, 'Kinesis did not accept 1 of 1 events in time; retry later', { retryAfterSeconds: 2 }));
          }, 400);
        });
      },
    };
    s.useSink(slow);
    for (const id of ['held-0', 'held-1', 'held-2', 'held-3']) {
      expect((await evaluate(s, id)).status).toBe(200);
    }

    // Only the first evaluation tried the sink itself; the later ones' exposures only ever left in
    // the retries, behind the first one's (a write of one of them alone would be a direct one).
    expect(writes[0]).toEqual(['held-0']);
    expect(writes.slice(1).every((w) => w.includes('held-0'))).toBe(true);
    expect(s.metrics.exposuresRetrying).toBe(4);

    // Back: the retry delivers what waited, and new exposures go to the sink directly again.
    s.restoreSink();
    await eventually(() => (s.metrics.exposuresRetrying === 0 ? true : undefined), 5_000);
    expect((await streamed(s, 'held-')).units).toEqual(['held-0', 'held-1', 'held-2', 'held-3']);
    expect((await evaluate(s, 'held-4')).status).toBe(200);
    expect(s.metrics.exposuresRetrying).toBe(0);
    await eventually(async () => ((await streamed(s, 'held-4')).units.length === 1 ? true : undefined));
  });

  it('are retried for the split-URL redirect too', async () => {
    const calls = { count: 0 };
    s.useSink(refusing(calls));
    const client = s.p.boot.sdkKeys!.development!.client;
    const res = await s.p.app.request(`/r/retry-landing?k=${client}`, { headers: { Cookie: 'xp_uid=redirect-stall-1' } });
    expect(res.status).toBe(302);
    expect(s.metrics.exposuresRetrying).toBe(1);
    s.restoreSink();
    await eventually(() => (s.metrics.exposuresRetrying === 0 ? true : undefined));
    expect((await streamed(s, 'redirect-stall-')).units).toEqual(['redirect-stall-1']);
  });

  it('beyond the buffer size, drop the oldest and count them', async () => {
    const calls = { count: 0 };
    const logsFrom = s.p.logs.length;
    const dropped = s.metrics.exposuresDropped;
    s.useSink(refusing(calls));
    const units = Array.from({ length: 40 }, (_, i) => `full-${String(i).padStart(2, '0')}`);
    for (const id of units) {
      expect((await evaluate(s, id)).status).toBe(200);
    }
    expect(s.metrics.exposuresRetrying).toBe(30);
    expect(s.metrics.exposuresDropped).toBe(dropped + 10);

    s.restoreSink();
    await eventually(() => (s.metrics.exposuresRetrying === 0 ? true : undefined));
    const { perId, units: inStream } = await streamed(s, 'full-');
    expect(inStream).toEqual(units.slice(10));
    expect([...perId.values()].every((n) => n === 1)).toBe(true);
    expect(exposureLogs(s, logsFrom).map((l) => l.slice(0, l.indexOf(':')))).toEqual(['exposures not logged yet', 'exposure retry buffer full', 'exposures recovered']);

    // The Health view says it: the loss makes the platform degraded for the window that holds it.
    const health = await s.p.request('GET', '/api/v1/health?minutes=5', { token: s.owner });
    const figure = (name: string): unknown => (health.body.figures as { name: string; value: unknown }[]).find((f) => f.name === name)?.value;
    expect(health.body.status).toBe('degraded');
    expect(figure('ExposuresDropped')).toBe(s.metrics.exposuresDropped);
    expect(figure('ExposuresRetrying')).toBe(30);
    s.p.now.value = new Date(s.p.now.value.getTime() + 10 * 60_000);
    const later = await s.p.request('GET', '/api/v1/health?minutes=5', { token: s.owner });
    expect([later.body.status, (later.body.figures as { name: string; value: unknown }[]).find((f) => f.name === 'ExposuresDropped')?.value]).toEqual(['ok', 0]);
  });
});

describe('exposures waiting for retry at shutdown', () => {
  let s: SdkPlatform;
  let close: ((deadlineMs?: number) => Promise<void>) | undefined;

  beforeAll(async () => {
    // A backoff far longer than the test: only the shutdown step can send them.
    s = await startSdkPlatform({
      exposureRetryDelayMs: { min: 600_000, max: 600_000 },
      addCloser: (c) => {
        close = c;
      },
    });
    await withExperiment(s);
  });
  afterAll(async () => {
    await s.close();
  });

  it('are sent one last time by the close hook', async () => {
    const calls = { count: 0 };
    const logsFrom = s.p.logs.length;
    s.useSink(refusing(calls));
    const units = Array.from({ length: 12 }, (_, i) => `bye-${String(i).padStart(2, '0')}`);
    const answers = await Promise.all(units.map((id) => evaluate(s, id)));
    expect(answers.map((a) => a.status)).toEqual(units.map(() => 200));
    expect(s.metrics.exposuresRetrying).toBe(12);
    s.restoreSink();

    expect(close).toBeDefined();
    await close!(2_000);

    // In the stream when the hook returns, not later.
    const { perId, units: inStream } = await streamed(s, 'bye-');
    expect(inStream).toEqual(units);
    expect([...perId.values()].every((n) => n === 1)).toBe(true);
    expect(s.metrics).toMatchObject({ exposuresRetrying: 0, exposuresDropped: 0, exposuresRecovered: 12 });
    expect(exposureLogs(s, logsFrom).map((l) => l.slice(0, l.indexOf(':')))).toEqual(['exposures not logged yet', 'exposures recovered at shutdown']);
  });
});

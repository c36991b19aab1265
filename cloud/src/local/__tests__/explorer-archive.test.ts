import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import type { ExplorerEventView } from '@xp/shared';
import { main } from '../../cli/xp.js';
import { silentLogger } from '../../domain/context.js';
import { replayArchive } from '../../pipeline/replay.js';
import type { Database } from '../../store/db.js';
import { archiveFiles, readArchiveFile } from '../../store/event-archive.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const PASSWORD = 'explorer archive test passphrase';
const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const UNITS = 30;

/** A fresh database on the real server for the DATABASE_URL variant, dropped afterwards. */
async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `xp_test_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The aggregates replay must reproduce, without bookkeeping timestamps, in a stable order. */
async function snapshot(db: Database): Promise<unknown> {
  const exposures = await db.query('SELECT project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, excluded FROM exposures ORDER BY 1, 2, 3, 4');
  const totals = await db.query(
    'SELECT project_id, environment, experiment, unit_id, metric, conversion, value::text, pre_value::text, denominator::text, pre_denominator::text FROM unit_metric_totals ORDER BY 1, 2, 3, 4, 5',
  );
  const events = await db.query('SELECT project_id, environment, unit_id, name, occurred_at, event_id, value::text, properties FROM unit_events ORDER BY event_id, unit_id');
  return { exposures: exposures.rows, totals: totals.rows, events: events.rows };
}

/** Reads server-sent events from a stream until `count` data messages arrived. */
async function readSse(res: Response, count: number): Promise<{ id: string; event: string; data: ExplorerEventView }[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const out: { id: string; event: string; data: ExplorerEventView }[] = [];
  while (out.length < count) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    text += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
      if (fields.data !== undefined) {
        out.push({ id: fields.id ?? '', event: fields.event ?? '', data: JSON.parse(fields.data) as ExplorerEventView });
      }
    }
  }
  await reader.cancel();
  return out;
}

describe.each(['pglite', 'postgres'] as const)('event explorer, archive and replay on the local stack (%s)', (target) => {
  let dir: string;
  let stack: LocalStack;
  let api: XpApiClient;
  let token: string;
  let sdkKey: string;
  let dropDb: (() => Promise<void>) | undefined;
  let databaseUrl: string | undefined;
  const started = Date.now();
  const sent: Record<string, unknown>[] = [];
  let stream: Promise<{ id: string; event: string; data: ExplorerEventView }[]>;

  const postEvents = async (events: readonly Record<string, unknown>[]): Promise<void> => {
    const res = await fetch(`${stack.apiUrl}/sdk/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-XP-SDK-Key': sdkKey }, body: JSON.stringify({ events }) });
    if (res.status !== 202) {
      throw new Error(`events refused: ${res.status} ${await res.text()}`);
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-explorer-'));
    if (target === 'postgres') {
      const fresh = await freshPostgres();
      databaseUrl = fresh.url;
      dropDb = fresh.drop;
    }
    stack = await startLocalStack(
      configFromEnv({
        XP_DATA_DIR: dir,
        XP_API_PORT: '0',
        XP_CONSOLE_PORT: '0',
        XP_ADMIN_EMAIL: 'me@example.com',
        XP_ADMIN_PASSWORD: PASSWORD,
        XP_DEMO: '0',
        XP_GUARDRAIL_INTERVAL_SECONDS: '0',
        XP_ARCHIVE_FLUSH_SECONDS: '3600',
        ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
      }),
      { logger: silentLogger, print: () => undefined },
    );
    sdkKey = stack.boot.sdkKeys!.development!.server;
    token = (await new XpApiClient({ apiUrl: stack.apiUrl }).login('me@example.com', PASSWORD)).token;
    api = new XpApiClient({ apiUrl: stack.apiUrl, token });
    await api.create('demo', 'metrics', { key: 'purchases', name: 'Purchases', type: 'conversion', event: 'purchase' });
    await api.create('demo', 'metrics', { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' });
    const exp = await api.create('demo', 'experiments', {
      key: 'checkout',
      name: 'Checkout',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      environments: ['development'],
      metrics: { primary: ['purchases'], secondary: ['revenue'] },
    });
    await api.startExperiment('demo', 'checkout', exp.version);

    // The stream is opened before anything is sent: it must deliver the new tracked events only.
    const streamRes = await fetch(`${stack.apiUrl}/api/v1/projects/demo/events/stream?type=track&maxSeconds=120`, { headers: { authorization: `Bearer ${token}` } });
    if (streamRes.status !== 200 || !(streamRes.headers.get('content-type') ?? '').includes('text/event-stream')) {
      throw new Error(`stream refused: ${streamRes.status}`);
    }
    stream = readSse(streamRes, UNITS / 2);
    // Awaited by its test; this keeps a failed setup from also reporting an unhandled rejection.
    stream.catch(() => undefined);

    const t0 = Date.now() - 60_000;
    for (let i = 0; i < UNITS; i++) {
      const unit = `unit-${String(i).padStart(2, '0')}`;
      sent.push({ type: 'exposure', id: `exposure-${i}`, unitId: unit, timestamp: t0 + i * 100, experiment: 'checkout', variation: i % 2 === 0 ? 'control' : 'treatment', attributes: { country: i % 3 === 0 ? 'NZ' : 'DE' } });
      if (i % 2 === 1) {
        sent.push({ type: 'track', id: `tracked-${i}`, unitId: unit, timestamp: t0 + i * 100 + 50, name: 'purchase', value: 10 + i, properties: { plan: i % 4 === 1 ? 'pro' : 'free', coupon: `SPRING${i}`, amount: 10 + i } });
      }
    }
    // One unit converts before its exposure (an out-of-order arrival the aggregator must handle).
    sent.push({ type: 'track', id: 'tracked-early', unitId: 'unit-00', timestamp: t0 - 5_000, name: 'purchase', value: 3 });
    // A device bucketed by its device id, whose user then buys: the purchase names the device among its units.
    sent.push({ type: 'exposure', id: 'exposure-device', unitId: 'device-1', timestamp: t0 + 10_000, experiment: 'checkout', variation: 'treatment' });
    sent.push({ type: 'track', id: 'tracked-by-user', unitId: 'user-1', units: { deviceId: 'device-1', accountId: 'user-1' }, timestamp: t0 + 10_050, name: 'purchase', value: 5 });
    await postEvents(sent.slice(0, 25));
    await postEvents(sent.slice(25));
    // A retry of an already-sent event: stored once everywhere.
    await postEvents([sent[1]!]);
    await eventually(async () => {
      const page = await api.searchEvents('demo', { limit: 200 });
      return page.items.length === sent.length ? page : undefined;
    }, 'explorer has every event');
  }, 180_000);

  afterAll(async () => {
    await stack.close();
    await dropDb?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('searches by unit, name, type, property containment, free text and time range, newest first', async () => {
    const all = await api.searchEvents('demo', { limit: 200 });
    const byUnit = await api.searchEvents('demo', { unitId: 'unit-05' });
    const purchases = await api.searchEvents('demo', { name: 'purchase', limit: 200 });
    const pro = await api.searchEvents('demo', { properties: { plan: 'pro' }, limit: 200 });
    const nz = await api.searchEvents('demo', { type: 'exposure', properties: { country: 'NZ' }, limit: 200 });
    const coupon = await api.searchEvents('demo', { q: 'spring7' });
    const none = await api.searchEvents('demo', { to: new Date(started - 3_600_000).toISOString() });

    const times = all.items.map((e) => Date.parse(e.occurredAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(all.items.map((e) => e.id)).size).toBe(sent.length);
    expect(byUnit.items.map((e) => e.id).sort()).toEqual(['exposure-5', 'tracked-5']);
    expect(purchases.items).toHaveLength(UNITS / 2 + 2);
    expect(pro.items.map((e) => e.unitId).sort()).toEqual(['unit-01', 'unit-05', 'unit-09', 'unit-13', 'unit-17', 'unit-21', 'unit-25', 'unit-29']);
    expect(nz.items).toHaveLength(UNITS / 3);
    expect(coupon.items.map((e) => e.id)).toEqual(['tracked-7']);
    expect(none.items).toEqual([]);
  });

  it('pages with a cursor through every event exactly once', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api.searchEvents('demo', { limit: 7, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 50);

    expect(pages).toBe(Math.ceil(sent.length / 7));
    expect(seen.sort()).toEqual(sent.map((e) => e.id as string).sort());
  });

  it("shows a unit's timeline: the exposure with variation and reason, then what it did, in time order", async () => {
    const timeline = await api.unitTimeline('demo', 'unit-00');
    const other = await api.unitTimeline('demo', 'unit-03', { environment: 'development' });

    expect(timeline.items.map((e) => [e.type, e.id])).toEqual([
      ['track', 'tracked-early'],
      ['exposure', 'exposure-0'],
    ]);
    expect(timeline.items[1]).toMatchObject({ experiment: 'checkout', variation: 'control', reason: 'SPLIT', properties: { country: 'NZ' } });
    expect(other.truncated).toBe(false);
    expect(other.items.map((e) => e.id)).toEqual(['exposure-3', 'tracked-3']);
  });

  it("finds a tracked event under its other identifiers (units): a device's timeline shows its user's purchase", async () => {
    const device = await api.unitTimeline('demo', 'device-1');
    const user = await api.searchEvents('demo', { unitId: 'user-1' });
    const byDevice = await api.searchEvents('demo', { unitId: 'device-1' });

    expect(device.items.map((e) => [e.type, e.id, e.unitId])).toEqual([
      ['exposure', 'exposure-device', 'device-1'],
      ['track', 'tracked-by-user', 'user-1'],
    ]);
    expect(device.items[1]?.units).toEqual({ deviceId: 'device-1', accountId: 'user-1' });
    expect(user.items.map((e) => e.id)).toEqual(['tracked-by-user']);
    expect(byDevice.items.map((e) => e.id)).toEqual(['tracked-by-user', 'exposure-device']);
    expect(device.items[0]).not.toHaveProperty('units');
  });

  it('streams the new tracked events as server-sent events, filtered, in arrival order', async () => {
    const messages = await stream;

    expect(messages.length).toBeGreaterThanOrEqual(UNITS / 2);
    expect(messages.every((m) => m.event === 'track' && m.data.type === 'track')).toBe(true);
    const ids = messages.map((m) => Number(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('answers bad filters with 400 and an unknown project with 404', async () => {
    const call = (query: string): Promise<Response> => fetch(`${stack.apiUrl}/api/v1/projects/demo/events?${query}`, { headers: { authorization: `Bearer ${token}` } });
    const badProps = await call('properties=%5B1%5D');
    const badTime = await call('from=yesterday');
    const inverted = await call(`from=${encodeURIComponent(new Date().toISOString())}&to=${encodeURIComponent(new Date(started - 1).toISOString())}`);
    const badCursor = await call('cursor=bm9wZQ');
    // Well-formed, but before year 1: PostgreSQL cannot hold it (was a 500, and a stream that closed at once).
    const yearZero = await call('from=0000-01-01T00:00:00Z');
    const timelineYearZero = await fetch(`${stack.apiUrl}/api/v1/projects/demo/units/unit-00/timeline?from=0000-01-01T00:00:00Z`, { headers: { authorization: `Bearer ${token}` } });
    const streamYearZero = await fetch(`${stack.apiUrl}/api/v1/projects/demo/events/stream?from=0000-01-01T00:00:00Z`, { headers: { authorization: `Bearer ${token}` } });
    const missing = await fetch(`${stack.apiUrl}/api/v1/projects/nope/events`, { headers: { authorization: `Bearer ${token}` } });

    expect([badProps.status, badTime.status, inverted.status, badCursor.status, yearZero.status, timelineYearZero.status, streamYearZero.status, missing.status]).toEqual([
      400, 400, 400, 400, 400, 400, 400, 404,
    ]);
    expect(((await badProps.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
  });

  it('archives every accepted raw event, retries included, as gzip JSON lines in the Firehose layout', async () => {
    await stack.archive.flush();
    const root = path.join(dir, 'archive', 'events');
    const files = await archiveFiles(root, new Date(started), new Date());
    const lines = (await Promise.all(files.map((f) => readArchiveFile(f)))).flat();

    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(path.relative(root, f)).toMatch(/^year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2}\/xp-events-[\w-]+\.jsonl\.gz$/);
    }
    expect(lines.every((l) => l.ok)).toBe(true);
    expect(lines).toHaveLength(sent.length + 1);
    expect(new Set(lines.map((l) => (l.ok ? (l.value as { event: { id: string } }).event.id : ''))).size).toBe(sent.length);
    expect(await readdir(root)).toEqual([`year=${new Date().getUTCFullYear()}`]);
  });

  it('replay reproduces the live aggregates exactly, is idempotent, and rebuilds them from nothing', async () => {
    await stack.archive.flush();
    const db = stack.deps.db;
    const archive = path.join(dir, 'archive', 'events');
    const window = { archive, from: new Date(started - 3_600_000), to: new Date(Date.now() + 60_000) };
    const live = await snapshot(db);
    const liveResults = await api.resultsDetail('demo', 'checkout', { environment: 'development' });
    const progress: string[] = [];

    const first = await replayArchive(db, { ...window, progress: (l) => progress.push(l), chunkSize: 8 });
    const once = await snapshot(db);
    await replayArchive(db, window);
    const twice = await snapshot(db);
    await db.withTransaction(async (tx) => {
      await tx.query('DELETE FROM unit_metric_totals');
      await tx.query('DELETE FROM exposures');
      await tx.query('DELETE FROM unit_events');
      await tx.query('DELETE FROM processed_events');
    });
    const wiped = await snapshot(db);
    await replayArchive(db, window);
    const rebuilt = await snapshot(db);
    const rebuiltResults = await api.resultsDetail('demo', 'checkout', { environment: 'development' });

    expect((live as { totals: unknown[] }).totals.length).toBeGreaterThan(0);
    expect(first).toMatchObject({ events: sent.length, invalid: 0, experiments: 1 });
    expect(progress.some((l) => /applied 8\/\d+ events/.test(l))).toBe(true);
    expect(once).toEqual(live);
    expect(twice).toEqual(live);
    expect(wiped).not.toEqual(live);
    expect(rebuilt).toEqual(live);
    expect(rebuiltResults.metrics).toEqual(liveResults.metrics);
  });

  it('an interrupted replay changes nothing: results never show the window half cleared or counted twice', async () => {
    await stack.archive.flush();
    const db = stack.deps.db;
    const window = { archive: path.join(dir, 'archive', 'events'), from: new Date(started - 3_600_000), to: new Date(Date.now() + 60_000), chunkSize: 8 };
    const live = await snapshot(db);
    const liveResults = await api.resultsDetail('demo', 'checkout', { environment: 'development' });
    // Stopped after its second chunk was applied (as Ctrl-C, a lost session or a failover would stop it).
    const interrupted = replayArchive(db, {
      ...window,
      progress: (line) => {
        if (line.startsWith('applied 16/')) {
          throw new Error('interrupted');
        }
      },
    });

    await expect(interrupted).rejects.toThrow('interrupted');
    expect(await snapshot(db)).toEqual(live);
    expect((await api.resultsDetail('demo', 'checkout', { environment: 'development' })).metrics).toEqual(liveResults.metrics);
  });

  it('after a metric definition changes, replaying one experiment recomputes its totals with the new definition', async () => {
    const db = stack.deps.db;
    const window = { archive: path.join(dir, 'archive', 'events'), from: new Date(started - 3_600_000), to: new Date(Date.now() + 60_000), experiment: 'checkout' };
    const metricRows = async (metric: string): Promise<number> => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM unit_metric_totals WHERE metric = $1', [metric])).rows[0]!.n;
    const live = await snapshot(db);
    const revenue = await api.get('demo', 'metrics', 'revenue');
    const before = await metricRows('revenue');

    const changed = await api.replace('demo', 'metrics', 'revenue', { ...revenue.definition, event: 'refund' }, revenue.version);
    const stale = await metricRows('revenue');
    const result = await replayArchive(db, window);
    const after = await metricRows('revenue');
    const purchases = await metricRows('purchases');
    await api.replace('demo', 'metrics', 'revenue', revenue.definition, changed.version);
    await replayArchive(db, window);

    // Each converting unit of the experiment, the device its user's purchase names included.
    expect(before).toBe(UNITS / 2 + 2);
    // The live pipeline never revisits stored totals: only the replay applies the new definition.
    expect(stale).toBe(before);
    expect(result).toMatchObject({ events: UNITS + 1, experiments: 1 });
    expect(after).toBe(0);
    expect(purchases).toBe(UNITS / 2 + 2);
    expect(await snapshot(db)).toEqual(live);
  });

  // The CLI opens the database itself; PGlite allows one process per data folder, so it runs on PostgreSQL only.
  const cliTargets = target === 'postgres' ? ['DATABASE_URL'] : [];
  it.each(cliTargets)('xp replay does the same from the command line (%s), with progress on stderr', async () => {
    const before = await snapshot(stack.deps.db);
    const out: string[] = [];
    const err: string[] = [];
    const day = new Date().toISOString().slice(0, 10);
    const bad: string[] = [];

    const code = await main(['replay', '--from', day, '--to', day, '--experiment', 'checkout', '--data-dir', dir], { DATABASE_URL: databaseUrl }, (l) => out.push(l), (l) => err.push(l));
    const badCode = await main(['replay', '--from', 'last week', '--to', day], {}, () => undefined, (l) => bad.push(l));

    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/Replayed 31 events from \d+ files; recomputed 1 experiment totals/);
    expect(err.some((l) => l.startsWith('recomputed totals 1/1 (checkout, development)'))).toBe(true);
    expect(await snapshot(stack.deps.db)).toEqual(before);
    expect(badCode).toBe(1);
    expect(bad[0]).toContain('--from must be a date (2026-11-25, a UTC day) or a date-time with Z or an offset');
  });
});

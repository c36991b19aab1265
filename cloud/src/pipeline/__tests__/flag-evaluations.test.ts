/**
 * Evaluation counts through the aggregator: exactly once (a record repeated in a batch, delivered
 * again, a batch rolled back by a crash and delivered again, `xp replay` over records already
 * counted), hourly buckets of the window's end, no effect on exposures, pruning after 90 days, on
 * PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EvaluationsPipelineEvent, PipelineRecord } from '@xp/shared';
import { DatabaseError } from '../../store/database.js';
import type { Database } from '../../store/db.js';
import type { ArchiveSource } from '../../store/event-archive.js';
import { FLAG_EVALUATION_APP_CAP, FLAG_EVALUATION_KEY_CAP, addEvaluationCounts, countingSince, deleteProjectEvaluations, evaluatedFlags, flagEvaluationData } from '../../store/flag-evaluations.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { processBatch, pruneProcessedEvents } from '../aggregate.js';
import type { StreamRecord } from '../aggregate.js';
import { replayArchive } from '../replay.js';
import { DAY, ENV, HOUR, exposure, nextId, withHook } from './fixtures.js';

const PROJECT = 'proj-evals';
const T = Date.UTC(2026, 11, 7, 10, 0, 0);

function evaluations(
  at: number,
  counts: EvaluationsPipelineEvent['event']['counts'],
  id = nextId('ev'),
  over: Partial<Pick<EvaluationsPipelineEvent, 'receivedAt' | 'environment'>> & { app?: string } = {},
): EvaluationsPipelineEvent {
  const { app, ...rest } = over;
  return { v: 1, projectId: PROJECT, environment: ENV, receivedAt: at + 1_000, occurredAt: at, event: { id, type: 'evaluations', start: at - 10_000, timestamp: at, ...(app === undefined ? {} : { app }), counts }, ...rest };
}

let sequence = 5_000;
function record(e: PipelineRecord): StreamRecord {
  sequence++;
  return { data: new TextEncoder().encode(JSON.stringify(e)), sequenceNumber: String(sequence).padStart(20, '0'), shardId: 'shardId-000000000000', partitionKey: e.event.id };
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('flag evaluation counts on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  /** Every bucket of the project, as plain rows. */
  const buckets = async (): Promise<{ flag: string; variation: string; hour: string; count: number }[]> => {
    const out = await db.query<{ flag_key: string; variation: string; hour: Date | string; count: string }>(
      'SELECT flag_key, variation, hour, count::text AS count FROM flag_evaluations WHERE project_id = $1 ORDER BY hour, flag_key, variation',
      [PROJECT],
    );
    return out.rows.map((r) => ({ flag: r.flag_key, variation: r.variation, hour: new Date(r.hour).toISOString(), count: Number(r.count) }));
  };

  beforeAll(async () => {
    db = await target.open();
    await db.query(`INSERT INTO organizations (id, name) VALUES ('org-1', 'Org') ON CONFLICT DO NOTHING`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'org-1', $1, $1)`, [PROJECT]);
  });
  afterAll(async () => {
    await target.dispose();
  });
  beforeEach(async () => {
    for (const table of ['processed_events', 'flag_evaluations', 'flag_evaluation_drops', 'exposures', 'unit_events', 'stream_gaps']) {
      await db.query(`DELETE FROM ${table}`);
    }
  });

  it(`${target.name}: adds a record's counts to the hour of its window's end, once however often it is delivered`, async () => {
    const first = evaluations(T + 20 * 60_000, [
      { flag: 'checkout-v2', variation: 'on', count: 120 },
      { flag: 'checkout-v2', variation: 'off', count: 31 },
      { flag: 'no-such-flag', variation: null, count: 4 },
    ]);
    const second = evaluations(T + 59 * 60_000, [{ flag: 'checkout-v2', variation: 'on', count: 5 }]);
    const nextHour = evaluations(T + HOUR, [{ flag: 'checkout-v2', variation: 'on', count: 7 }]);
    // The same record twice in one batch, then the whole batch delivered again.
    const batch = [first, first, second, nextHour].map(record);
    expect(await processBatch(db, batch)).toMatchObject({ batchItemFailures: [], processed: 3, duplicates: 1, deadLettered: 0 });
    expect(await processBatch(db, batch)).toMatchObject({ batchItemFailures: [], processed: 0, duplicates: 4 });
    expect(await processBatch(db, [record(first)])).toMatchObject({ processed: 0, duplicates: 1 });
    const hour = new Date(T).toISOString();
    expect(await buckets()).toEqual([
      { flag: 'checkout-v2', variation: 'off', hour, count: 31 },
      { flag: 'checkout-v2', variation: 'on', hour, count: 125 },
      { flag: 'no-such-flag', variation: '', hour, count: 4 },
      { flag: 'checkout-v2', variation: 'on', hour: new Date(T + HOUR).toISOString(), count: 7 },
    ]);
    const data = await flagEvaluationData(db, { projectId: PROJECT, flag: 'no-such-flag', environment: undefined, from: new Date(T - HOUR), to: new Date(T + 2 * HOUR), interval: 'hour' });
    expect(data).toEqual({
      series: [{ at: new Date(T), environment: ENV, variation: null, count: 4 }],
      totals: [{ environment: ENV, variation: null, count: 4 }],
      lastEvaluated: [{ environment: ENV, at: new Date(T + 20 * 60_000) }],
      apps: [{ app: null, count: 4, lastEvaluatedAt: new Date(T + 20 * 60_000) }],
    });
    // Day buckets (UTC) add the hours up; the project listing has every key, most evaluated first.
    const daily = await flagEvaluationData(db, { projectId: PROJECT, flag: 'checkout-v2', environment: ENV, from: new Date(Date.UTC(2026, 11, 7)), to: new Date(T + DAY), interval: 'day' });
    expect(daily.series).toEqual([
      { at: new Date(Date.UTC(2026, 11, 7)), environment: ENV, variation: 'off', count: 31 },
      { at: new Date(Date.UTC(2026, 11, 7)), environment: ENV, variation: 'on', count: 132 },
    ]);
    expect((await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, since: new Date(T - DAY) })).flags.map((f) => [f.flag, f.total, f.lastEvaluatedAt.toISOString()])).toEqual([
      ['checkout-v2', 163, new Date(T + HOUR).toISOString()],
      ['no-such-flag', 4, new Date(T + 20 * 60_000).toISOString()],
    ]);
    // Not exposures: nothing else was written.
    expect((await db.query('SELECT 1 FROM exposures')).rows).toEqual([]);
    expect((await db.query('SELECT 1 FROM unit_events')).rows).toEqual([]);
  });

  it(`${target.name}: a batch that crashes after writing the counts is rolled back with its dedupe records, and counted once when delivered again`, async () => {
    const counts = evaluations(T, [{ flag: 'f', variation: 'on', count: 3 }]);
    const batch = [record(exposure('u1', 'exp-a', 'control', T, nextId('x'), PROJECT)), record(counts)];
    let crashes = 0;
    // Crashes (a connection lost) at the commit's checkpoint, after every write of the batch.
    const crashing = await processBatch(db, batch, {
      checkpoint: () => {
        crashes++;
        throw new DatabaseError('57P01', 'aggregator crashed mid-batch');
      },
    });
    expect(crashes).toBe(1);
    expect(crashing.batchItemFailures).toHaveLength(2);
    expect(await buckets()).toEqual([]);
    // The same crash inside the counts' own statement.
    const hooked = withHook(db, (sql) => {
      if (sql.includes('INSERT INTO flag_evaluations')) {
        throw new DatabaseError('57P01', 'aggregator crashed mid-batch');
      }
    });
    expect((await processBatch(hooked, batch)).batchItemFailures).toHaveLength(2);
    expect(await buckets()).toEqual([]);
    // Delivered again to a healthy aggregator, then once more (a retry after a lost acknowledgement).
    expect(await processBatch(db, batch)).toMatchObject({ batchItemFailures: [], processed: 2 });
    expect(await processBatch(db, batch)).toMatchObject({ batchItemFailures: [], processed: 0, duplicates: 2 });
    expect(await buckets()).toEqual([{ flag: 'f', variation: 'on', hour: new Date(T).toISOString(), count: 3 }]);
    expect((await db.query('SELECT unit_id FROM exposures')).rows).toEqual([{ unit_id: 'u1' }]);
  });

  it(`${target.name}: xp replay counts a record the aggregator never saw and skips those it counted`, async () => {
    const counted = evaluations(T, [{ flag: 'f', variation: 'on', count: 10 }]);
    const missed = evaluations(T + 60_000, [{ flag: 'f', variation: 'on', count: 1 }]);
    await processBatch(db, [record(counted)]);
    // The missed one expired from the stream unread: the poller recorded the window.
    await db.query("INSERT INTO stream_gaps (stream, shard_id, from_arrival, to_arrival) VALUES ('s', 'shardId-000000000000', $1, $2)", [new Date(T + 30_000), new Date(T + 90_000)]);
    const archive: ArchiveSource = {
      location: 'memory',
      objects: () => Promise.resolve(['one.jsonl.gz']),
      lines: () => Promise.resolve([counted, missed].map((e) => ({ ok: true as const, value: e, text: JSON.stringify(e) }))),
    };
    const window = { archive, from: new Date(T - HOUR), to: new Date(T + 2 * HOUR) };
    expect(await replayArchive(db, window)).toMatchObject({ events: 2, invalid: 0 });
    expect(await buckets()).toEqual([{ flag: 'f', variation: 'on', hour: new Date(T).toISOString(), count: 11 }]);
    // Replaying the same window again changes nothing.
    await replayArchive(db, window);
    expect(await buckets()).toEqual([{ flag: 'f', variation: 'on', hour: new Date(T).toISOString(), count: 11 }]);
  });

  it(`${target.name}: xp replay never counts again a record counted long ago (its dedupe record pruned), nor any for one experiment`, async () => {
    const old = evaluations(T, [{ flag: 'f', variation: 'on', count: 10 }]);
    await processBatch(db, [record(old)]);
    // A month later the periodic prune has deleted its dedupe record.
    await db.query('DELETE FROM processed_events');
    const archive: ArchiveSource = {
      location: 'memory',
      objects: () => Promise.resolve(['one.jsonl.gz']),
      lines: () => Promise.resolve([old].map((e) => ({ ok: true as const, value: e, text: JSON.stringify(e) }))),
    };
    await replayArchive(db, { archive, from: new Date(T - HOUR), to: new Date(T + HOUR) });
    expect(await buckets()).toEqual([{ flag: 'f', variation: 'on', hour: new Date(T).toISOString(), count: 10 }]);
    // Even inside a window that expired unread, a replay of one experiment's exposures leaves counts alone.
    await db.query("INSERT INTO stream_gaps (stream, shard_id, from_arrival, to_arrival) VALUES ('s', 'shardId-000000000000', $1, $2)", [new Date(T - HOUR), new Date(T + HOUR)]);
    await replayArchive(db, { archive, from: new Date(T - HOUR), to: new Date(T + HOUR), experiment: 'exp' });
    expect(await buckets()).toEqual([{ flag: 'f', variation: 'on', hour: new Date(T).toISOString(), count: 10 }]);
  });

  it(`${target.name}: a record whose window ends in the future (within the clock-skew allowance) counts in the hour it was received, never later`, async () => {
    const received = T + 10 * 60_000;
    // An SDK whose clock runs 23 hours ahead: its window "ends" tomorrow.
    const ahead = evaluations(received + 23 * HOUR, [{ flag: 'skewed', variation: 'on', count: 6 }], nextId('ev'), { receivedAt: received });
    const onTime = evaluations(T + 5 * 60_000, [{ flag: 'skewed', variation: 'on', count: 1 }]);
    expect(await processBatch(db, [record(ahead), record(onTime)])).toMatchObject({ batchItemFailures: [], processed: 2 });
    expect(await buckets()).toEqual([{ flag: 'skewed', variation: 'on', hour: new Date(T).toISOString(), count: 7 }]);
    const data = await flagEvaluationData(db, { projectId: PROJECT, flag: 'skewed', environment: undefined, from: new Date(T - HOUR), to: new Date(T + 2 * DAY), interval: 'hour' });
    expect(data.lastEvaluated).toEqual([{ environment: ENV, at: new Date(received) }]);
    const listed = await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, since: new Date(T - DAY) });
    expect(listed.flags.map((f) => [f.flag, f.total, f.lastEvaluatedAt.toISOString()])).toEqual([['skewed', 7, new Date(received).toISOString()]]);
  });

  it(`${target.name}: lists every flag of the project and, most evaluated first, at most the limit of keys no flag has, counting those left out`, async () => {
    await db.query(`INSERT INTO flags (project_id, key, name, definition) VALUES ($1, 'rare-flag', 'Rare', '{}'), ($1, 'busy-flag', 'Busy', '{}')`, [PROJECT]);
    try {
      await processBatch(db, [
        record(
          evaluations(T, [
            { flag: 'busy-flag', variation: 'on', count: 500 },
            // Defined but evaluated less than every undefined key: still listed.
            { flag: 'rare-flag', variation: 'on', count: 1 },
            ...Array.from({ length: 6 }, (_, i) => ({ flag: `junk-${i}`, variation: null, count: 10 + i })),
          ]),
        ),
        // A key evaluated in two environments: its total decides its rank.
        record(evaluations(T, [{ flag: 'junk-0', variation: null, count: 100 }], nextId('ev'), { environment: 'staging' })),
      ]);
      const list = async (undefinedLimit?: number): Promise<{ flags: [string, boolean, number][]; undefinedOmitted: number }> => {
        const out = await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, since: new Date(T - DAY), ...(undefinedLimit === undefined ? {} : { undefinedLimit }) });
        return { flags: out.flags.map((f) => [f.flag, f.defined, f.total]), undefinedOmitted: out.undefinedOmitted };
      };
      expect(await list(2)).toEqual({
        flags: [
          ['busy-flag', true, 500],
          ['junk-0', false, 110],
          ['junk-5', false, 15],
          ['rare-flag', true, 1],
        ],
        undefinedOmitted: 4,
      });
      expect((await list()).flags).toHaveLength(8);
      expect((await list()).undefinedOmitted).toBe(0);
      expect((await list(6)).undefinedOmitted).toBe(0);
      expect((await list(5)).undefinedOmitted).toBe(1);
      // One environment: its keys only.
      const staging = await evaluatedFlags(db, { projectId: PROJECT, environment: 'staging', since: new Date(T - DAY), undefinedLimit: 1 });
      expect([staging.flags.map((f) => f.flag), staging.undefinedOmitted]).toEqual([['junk-0'], 0]);
    } finally {
      await db.query('DELETE FROM flags WHERE project_id = $1', [PROJECT]);
    }
  });

  it(`${target.name}: says since when each environment has counts, project-wide (the earliest hour any key has), within the 90 days kept`, async () => {
    const now = new Date(T + 30 * DAY);
    await processBatch(db, [
      record(evaluations(T + 25 * 60_000, [{ flag: 'a', variation: 'on', count: 1 }])),
      record(evaluations(T + 3 * DAY, [{ flag: 'b', variation: 'on', count: 1 }])),
      record(evaluations(T + 29 * DAY, [{ flag: 'c', variation: 'on', count: 1 }], nextId('ev'), { environment: 'staging' })),
      // Older than the 90 days kept (not yet pruned): not "counting since".
      record(evaluations(now.getTime() - 95 * DAY, [{ flag: 'old', variation: 'on', count: 1 }], nextId('ev'), { environment: 'qa' })),
    ]);
    expect(await countingSince(db, { projectId: PROJECT, environments: ['production', 'staging', 'qa', 'empty'], now })).toEqual([
      { environment: 'production', since: new Date(T) },
      { environment: 'staging', since: new Date(T + 29 * DAY) },
    ]);
    expect(await countingSince(db, { projectId: PROJECT, environments: ['staging'], now })).toEqual([{ environment: 'staging', since: new Date(T + 29 * DAY) }]);
    expect(await countingSince(db, { projectId: PROJECT, environments: [], now })).toEqual([]);
    expect(await countingSince(db, { projectId: 'another-project', environments: ['production'], now })).toEqual([]);
  });

  it(`${target.name}: the periodic prune deletes buckets older than 90 days and keeps the others`, async () => {
    const now = Date.now();
    const old = evaluations(now - 91 * 24 * HOUR, [{ flag: 'old', variation: 'on', count: 1 }]);
    const recent = evaluations(now - 89 * 24 * HOUR, [{ flag: 'recent', variation: 'on', count: 1 }]);
    await processBatch(db, [record(old), record(recent)]);
    expect((await buckets()).map((b) => b.flag)).toEqual(['old', 'recent']);
    await pruneProcessedEvents(db, 10_000);
    expect((await buckets()).map((b) => b.flag)).toEqual(['recent']);
  });

  it(`${target.name}: keeps each application's counts apart, reads them per application and filters by one`, async () => {
    await processBatch(db, [
      record(evaluations(T + 60_000, [{ flag: 'checkout', variation: 'on', count: 10 }], nextId('ev'), { app: 'checkout-api' })),
      record(evaluations(T + 120_000, [{ flag: 'checkout', variation: 'on', count: 3 }, { flag: 'banner', variation: null, count: 2 }], nextId('ev'), { app: 'web-shop' })),
      record(evaluations(T + 180_000, [{ flag: 'checkout', variation: 'on', count: 1 }])),
      // Another hour of web-shop: one app, two buckets.
      record(evaluations(T + HOUR + 60_000, [{ flag: 'checkout', variation: 'off', count: 3 }], nextId('ev'), { app: 'web-shop' })),
    ]);
    const stored = await db.query<{ flag_key: string; app: string; count: string }>('SELECT flag_key, app, sum(count)::text AS count FROM flag_evaluations WHERE project_id = $1 GROUP BY 1, 2 ORDER BY 1, 2', [PROJECT]);
    expect(stored.rows).toEqual([
      { flag_key: 'banner', app: 'web-shop', count: '2' },
      { flag_key: 'checkout', app: '', count: '1' },
      { flag_key: 'checkout', app: 'checkout-api', count: '10' },
      { flag_key: 'checkout', app: 'web-shop', count: '6' },
    ]);
    const window = { projectId: PROJECT, flag: 'checkout', environment: undefined, from: new Date(T), to: new Date(T + 2 * HOUR), interval: 'hour' as const };
    const all = await flagEvaluationData(db, window);
    // Most evaluated first; no application named is null.
    expect(all.apps).toEqual([
      { app: 'checkout-api', count: 10, lastEvaluatedAt: new Date(T + 60_000) },
      { app: 'web-shop', count: 6, lastEvaluatedAt: new Date(T + HOUR + 60_000) },
      { app: null, count: 1, lastEvaluatedAt: new Date(T + 180_000) },
    ]);
    expect(all.totals).toEqual([
      { environment: ENV, variation: 'on', count: 14 },
      { environment: ENV, variation: 'off', count: 3 },
    ]);
    const web = await flagEvaluationData(db, { ...window, app: 'web-shop' });
    expect(web).toEqual({
      series: [
        { at: new Date(T), environment: ENV, variation: 'on', count: 3 },
        { at: new Date(T + HOUR), environment: ENV, variation: 'off', count: 3 },
      ],
      totals: expect.arrayContaining([
        { environment: ENV, variation: 'off', count: 3 },
        { environment: ENV, variation: 'on', count: 3 },
      ]),
      lastEvaluated: [{ environment: ENV, at: new Date(T + HOUR + 60_000) }],
      apps: [{ app: 'web-shop', count: 6, lastEvaluatedAt: new Date(T + HOUR + 60_000) }],
    });
    // The window bounds the apps: before web-shop's second hour.
    expect((await flagEvaluationData(db, { ...window, to: new Date(T + HOUR) })).apps.map((a) => [a.app, a.count])).toEqual([
      ['checkout-api', 10],
      ['web-shop', 3],
      [null, 1],
    ]);
    expect(await flagEvaluationData(db, { ...window, app: 'never-seen' })).toEqual({ series: [], totals: [], lastEvaluated: [], apps: [] });

    const listed = await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, since: new Date(T - DAY) });
    expect(listed.flags.map((f) => [f.flag, f.total, f.apps.map((a) => [a.app, a.count])])).toEqual([
      ['checkout', 17, [['checkout-api', 10], ['web-shop', 6], [null, 1]]],
      ['banner', 2, [['web-shop', 2]]],
    ]);
    expect(listed.apps.map((a) => [a.app, a.count, a.lastEvaluatedAt.toISOString()])).toEqual([
      ['checkout-api', 10, new Date(T + 60_000).toISOString()],
      ['web-shop', 8, new Date(T + HOUR + 60_000).toISOString()],
      [null, 1, new Date(T + 180_000).toISOString()],
    ]);
    expect(listed.dropped).toBe(0);
    // The filter: that app's keys and counts only; the apps listed over all keys, even those the limit leaves out.
    const web2 = await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, app: 'web-shop', since: new Date(T - DAY), undefinedLimit: 1 });
    expect(web2.flags.map((f) => [f.flag, f.total, f.environments.map((e) => e.count), f.apps.map((a) => a.app)])).toEqual([['checkout', 6, [6], ['web-shop']]]);
    expect([web2.undefinedOmitted, web2.apps.map((a) => [a.app, a.count])]).toEqual([1, [['web-shop', 8]]]);
  });

  it(`${target.name}: stores at most the cap of keys (${FLAG_EVALUATION_KEY_CAP}) and of apps (${FLAG_EVALUATION_APP_CAP}) per environment and hour, counting the evaluations left out as dropped`, async () => {
    // The rule with small caps (the real ones take thousands of rows to fill): 20 keys, 5 apps.
    const caps = { keys: 20, apps: 5 };
    const add = (...records: EvaluationsPipelineEvent[]): Promise<void> => addEvaluationCounts(db, records, caps);
    const keys = (from: number, n: number, count: number): { flag: string; variation: string; count: number }[] =>
      Array.from({ length: n }, (_, i) => ({ flag: `k-${String(from + i).padStart(3, '0')}`, variation: 'on', count }));
    // One batch brings 25 keys: the 20 most counted are kept, the 5 counted once are dropped.
    await add(evaluations(T, keys(0, 20, 2)), evaluations(T, keys(20, 5, 1)));
    const distinct = async (column: string, hour = T): Promise<number> =>
      Number((await db.query<{ n: string }>(`SELECT count(DISTINCT ${column})::text AS n FROM flag_evaluations WHERE project_id = $1 AND hour = $2`, [PROJECT, new Date(hour)])).rows[0]!.n);
    expect(await distinct('flag_key')).toBe(20);
    expect((await db.query('SELECT DISTINCT flag_key FROM flag_evaluations WHERE count = 1')).rows).toEqual([]);
    // A key already stored still counts (another variation), a new one does not.
    await add(evaluations(T + 1, [{ flag: 'k-000', variation: 'off', count: 4 }, { flag: 'brand-new', variation: 'on', count: 7 }]));
    expect(await distinct('flag_key')).toBe(20);
    expect((await db.query('SELECT variation, count::int AS n FROM flag_evaluations WHERE flag_key = $1 ORDER BY variation', ['k-000'])).rows).toEqual([
      { variation: 'off', n: 4 },
      { variation: 'on', n: 2 },
    ]);
    const since = new Date(T - DAY);
    const dropped = async (environment?: string): Promise<number> => (await evaluatedFlags(db, { projectId: PROJECT, environment, since })).dropped;
    expect(await dropped()).toBe(5 + 7);
    // Another environment and another hour have their own caps.
    await add(evaluations(T, [{ flag: 'brand-new', variation: 'on', count: 1 }], nextId('ev'), { environment: 'staging' }), evaluations(T + HOUR, [{ flag: 'brand-new', variation: 'on', count: 1 }]));
    expect(await distinct('flag_key', T + HOUR)).toBe(1);
    expect([await dropped('staging'), await dropped(ENV)]).toEqual([0, 12]);

    // Apps: the hour already has '' (no app named), which takes no app slot; 8 named apps more, the most counted admitted first.
    const appHour = T + HOUR;
    await add(...Array.from({ length: 8 }, (_, i) => evaluations(appHour, [{ flag: 'brand-new', variation: 'on', count: 100 - i }], nextId('ev'), { app: `app-${i}` })));
    const apps = async (): Promise<string[]> => (await db.query<{ app: string }>('SELECT DISTINCT app FROM flag_evaluations WHERE project_id = $1 AND hour = $2 ORDER BY app', [PROJECT, new Date(appHour)])).rows.map((r) => r.app);
    expect(await apps()).toEqual(['', 'app-0', 'app-1', 'app-2', 'app-3', 'app-4']);
    // An app already stored keeps counting; one more is dropped. Apps left out (95 down to 93) + 5.
    await add(evaluations(appHour, [{ flag: 'brand-new', variation: 'off', count: 2 }], nextId('ev'), { app: 'app-0' }), evaluations(appHour, [{ flag: 'k-001', variation: 'on', count: 5 }], nextId('ev'), { app: 'late' }));
    expect(await apps()).toEqual(['', 'app-0', 'app-1', 'app-2', 'app-3', 'app-4']);
    expect(await dropped(ENV)).toBe(12 + 95 + 94 + 93 + 5);

    // Through the aggregator, with the real caps: stored, nothing dropped.
    await processBatch(db, [record(evaluations(T + 2 * HOUR, keys(0, 100, 1), nextId('ev'), { app: 'web-shop' }))]);
    expect([await distinct('flag_key', T + 2 * HOUR), await dropped(ENV)]).toEqual([100, 299]);

    // Drops are pruned with the buckets, and deleted with the project.
    await db.query('UPDATE flag_evaluation_drops SET hour = $1 WHERE hour = $2', [new Date(Date.now() - 91 * DAY), new Date(T)]);
    await pruneProcessedEvents(db, 10_000);
    expect((await db.query<{ n: number }>('SELECT sum(count)::int AS n FROM flag_evaluation_drops')).rows).toEqual([{ n: 287 }]);
    await deleteProjectEvaluations(db, PROJECT);
    expect((await db.query('SELECT 1 FROM flag_evaluation_drops')).rows).toEqual([]);
  });

  it(`${target.name}: never drops nor counts against the application cap the evaluations naming no application, whichever came first in the hour`, async () => {
    const caps = { keys: 100, apps: 2 };
    const add = (...records: EvaluationsPipelineEvent[]): Promise<void> => addEvaluationCounts(db, records, caps);
    const counted = (at: number, app?: string, count = 1): EvaluationsPipelineEvent => evaluations(at, [{ flag: 'checkout', variation: 'on', count }], nextId('ev'), app === undefined ? {} : { app });
    const apps = async (hour: number): Promise<string[]> =>
      (await db.query<{ app: string }>('SELECT DISTINCT app FROM flag_evaluations WHERE project_id = $1 AND hour = $2 ORDER BY app', [PROJECT, new Date(hour)])).rows.map((r) => r.app);
    const dropped = async (): Promise<number> => (await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, since: new Date(T - DAY) })).dropped;
    // Named apps fill the cap first; the services not naming themselves still count, in another batch or in the same one as a named app beyond the cap.
    await add(counted(T, 'app-a', 5), counted(T, 'app-b', 4));
    await add(counted(T, undefined, 3));
    await add(counted(T, 'app-c', 2), counted(T, undefined, 4));
    expect(await apps(T)).toEqual(['', 'app-a', 'app-b']);
    expect((await flagEvaluationData(db, { projectId: PROJECT, flag: 'checkout', environment: undefined, from: new Date(T), to: new Date(T + HOUR), interval: 'hour' })).apps).toEqual([
      { app: null, count: 7, lastEvaluatedAt: new Date(T) },
      { app: 'app-a', count: 5, lastEvaluatedAt: new Date(T) },
      { app: 'app-b', count: 4, lastEvaluatedAt: new Date(T) },
    ]);
    expect(await dropped()).toBe(2);
    // Unnamed first: it takes none of the slots, the cap's 2 named apps are all admitted.
    await add(counted(T + HOUR, undefined, 9));
    await add(counted(T + HOUR, 'app-a'), counted(T + HOUR, 'app-b'), counted(T + HOUR, 'app-c'));
    expect(await apps(T + HOUR)).toEqual(['', 'app-a', 'app-b']);
    expect(await dropped()).toBe(3);
  });

  it(`${target.name}: never drops the project's flags (archived too, not deleted ones) by the key cap, nor counts them against it: a flood of generated keys cannot hide them`, async () => {
    await db.query(`INSERT INTO flags (project_id, key, name, definition, archived) VALUES ($1, 'checkout-v2', 'Checkout', '{}', false), ($1, 'old-banner', 'Old', '{}', true), ($1, 'gone', 'Gone', '{}', false)`, [PROJECT]);
    await db.query(`DELETE FROM flags WHERE project_id = $1 AND key = 'gone'`, [PROJECT]);
    try {
      const caps = { keys: 3, apps: 5 };
      const add = (...records: EvaluationsPipelineEvent[]): Promise<void> => addEvaluationCounts(db, records, caps);
      const junk = (from: number, n: number, count = 50): { flag: string; variation: null; count: number }[] => Array.from({ length: n }, (_, i) => ({ flag: `gen-${from + i}`, variation: null, count }));
      const stored = async (hour: number): Promise<[string, number][]> =>
        (await db.query<{ flag_key: string; n: number }>('SELECT flag_key, sum(count)::int AS n FROM flag_evaluations WHERE project_id = $1 AND hour = $2 GROUP BY 1 ORDER BY 1', [PROJECT, new Date(hour)])).rows.map((r) => [r.flag_key, r.n]);
      const dropped = async (): Promise<number> => (await evaluatedFlags(db, { projectId: PROJECT, environment: undefined, since: new Date(T - DAY) })).dropped;
      // The flood fills the cap; the defined flags come after, in the same batch (less counted than every generated key) and in later ones.
      await add(evaluations(T, [...junk(0, 5), { flag: 'checkout-v2', variation: 'on', count: 1 }]));
      await add(evaluations(T, [{ flag: 'checkout-v2', variation: 'on', count: 11 }, { flag: 'old-banner', variation: 'off', count: 2 }, { flag: 'gone', variation: null, count: 4 }, ...junk(5, 1)]));
      expect(await stored(T)).toEqual([
        ['checkout-v2', 12],
        ['gen-0', 50],
        ['gen-1', 50],
        ['gen-2', 50],
        ['old-banner', 2],
      ]);
      expect(await dropped()).toBe(2 * 50 + 4 + 50);
      expect((await flagEvaluationData(db, { projectId: PROJECT, flag: 'checkout-v2', environment: undefined, from: new Date(T), to: new Date(T + HOUR), interval: 'hour' })).totals).toEqual([{ environment: ENV, variation: 'on', count: 12 }]);
      // Flags counted first use none of the room: the cap's 3 generated keys are all admitted after them.
      await add(evaluations(T + HOUR, [{ flag: 'checkout-v2', variation: 'on', count: 1 }, { flag: 'old-banner', variation: 'on', count: 1 }]));
      await add(evaluations(T + HOUR, junk(0, 4, 1)));
      expect((await stored(T + HOUR)).map(([k]) => k)).toEqual(['checkout-v2', 'gen-0', 'gen-1', 'gen-2', 'old-banner']);
      expect(await dropped()).toBe(154 + 1);
      // The application cap still applies to a flag's counts of a named app beyond it.
      await add(...['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((app) => evaluations(T + 2 * HOUR, [{ flag: 'checkout-v2', variation: 'on', count: 1 }], nextId('ev'), { app })));
      expect([await stored(T + 2 * HOUR), await dropped()]).toEqual([[['checkout-v2', 5]], 156]);
    } finally {
      await db.query('DELETE FROM flags WHERE project_id = $1', [PROJECT]);
    }
  });
});

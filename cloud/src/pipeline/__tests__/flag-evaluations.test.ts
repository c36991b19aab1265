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
import { countingSince, evaluatedFlags, flagEvaluationData } from '../../store/flag-evaluations.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { processBatch, pruneProcessedEvents } from '../aggregate.js';
import type { StreamRecord } from '../aggregate.js';
import { replayArchive } from '../replay.js';
import { DAY, ENV, HOUR, exposure, nextId, withHook } from './fixtures.js';

const PROJECT = 'proj-evals';
const T = Date.UTC(2026, 11, 7, 10, 0, 0);

function evaluations(at: number, counts: EvaluationsPipelineEvent['event']['counts'], id = nextId('ev'), over: Partial<Pick<EvaluationsPipelineEvent, 'receivedAt' | 'environment'>> = {}): EvaluationsPipelineEvent {
  return { v: 1, projectId: PROJECT, environment: ENV, receivedAt: at + 1_000, occurredAt: at, event: { id, type: 'evaluations', start: at - 10_000, timestamp: at, counts }, ...over };
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
    for (const table of ['processed_events', 'flag_evaluations', 'exposures', 'unit_events', 'stream_gaps']) {
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
});

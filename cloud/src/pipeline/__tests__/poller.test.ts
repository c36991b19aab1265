import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteStreamCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PipelineEvent } from '@xp/shared';
import type { LocalService } from '../../local/aws-local.js';
import { createKinesisClient, ensureStream, startKinesalite } from '../../local/aws-local.js';
import type { Database } from '../../store/db.js';
import { DatabaseError } from '../../store/db.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { AggregateOptions, StreamRecord } from '../aggregate.js';
import { processBatch } from '../aggregate.js';
import type { Poller, PollerStats, ShardReader } from '../poller.js';
import { ExpiredIteratorError, createPoller, kinesisShardReader } from '../poller.js';
import { DAY, HOUR, T0, exposure, groundTruth, readState, seedProject, track } from './fixtures.js';
import { putAll, quickSleep, until } from './kinesis-helpers.js';

const TABLES = ['processed_events', 'exposures', 'unit_events', 'unit_metric_totals', 'dead_letters', 'record_failures', 'stream_checkpoints'];

function someEvents(prefix: string, units: number): PipelineEvent[] {
  const events: PipelineEvent[] = [];
  for (let u = 0; u < units; u++) {
    const unit = `${prefix}-${u}`;
    events.push(track(unit, 'purchase', T0 - DAY, 1.5));
    events.push(exposure(unit, 'exp-a', u % 2 === 0 ? 'control' : 'treatment', T0 + u * HOUR));
    events.push(track(unit, 'purchase', T0 + u * HOUR + HOUR, u + 0.25));
  }
  return events;
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('shard poller on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;
  let kinesalite: LocalService;
  let kinesis: KinesisClient;
  let streamNo = 0;
  let stream: string;

  beforeAll(async () => {
    db = await target.open();
    await seedProject(db);
    kinesalite = await startKinesalite();
    kinesis = createKinesisClient(kinesalite.endpoint);
  });
  afterAll(async () => {
    kinesis.destroy();
    await kinesalite.close();
    await target.dispose();
  });
  beforeEach(async () => {
    for (const table of TABLES) {
      await db.query(`DELETE FROM ${table}`);
    }
    streamNo++;
    stream = `events-${streamNo}`;
    await ensureStream(kinesis, stream, 2);
  });
  // kinesalite holds 10 shards in all: each test's stream goes with it.
  afterEach(async () => {
    await kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
  });

  const processedCount = async (): Promise<number> => {
    const out = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events');
    return out.rows[0]!.n;
  };

  it(`${target.name}: reads every shard, checkpoints with the aggregates, and a new poller resumes after the checkpoint`, async () => {
    const first = someEvents('a', 20);
    const lastOfFirst = await putAll(kinesis, stream, first);
    const poller = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: stream, sleep: quickSleep });

    poller.start();
    await until(async () => (await processedCount()) === first.length, 'the first events');
    await poller.stop();
    const checkpoints = await db.query<{ shard_id: string; sequence_number: string }>(
      'SELECT shard_id, sequence_number FROM stream_checkpoints WHERE stream = $1 ORDER BY shard_id',
      [stream],
    );
    const second = [...someEvents('b', 5), ...first.slice(0, 6)];
    await putAll(kinesis, stream, second);
    const resumed = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: stream, sleep: quickSleep });
    resumed.start();
    await until(() => Promise.resolve(resumed.stats().records === second.length), 'the second events');
    await resumed.stop();

    expect(Object.fromEntries(checkpoints.rows.map((r) => [r.shard_id, r.sequence_number]))).toEqual(Object.fromEntries(lastOfFirst));
    expect(resumed.stats()).toMatchObject({ records: second.length, processed: 15, duplicates: 6, failedBatches: 0 });
    expect(await readState(db)).toEqual(groundTruth([...first, ...second]));
  });

  it(`${target.name}: survives an expired iterator, a failed batch and Kinesis errors without leaving its loop`, async () => {
    const events = someEvents('c', 15);
    await putAll(kinesis, stream, events);
    const real = kinesisShardReader(kinesis);
    let getCalls = 0;
    const reader: ShardReader = {
      listShards: (s) => real.listShards(s),
      shardIterator: (s, id, after) => real.shardIterator(s, id, after),
      getRecords: (iterator, limit, signal) => {
        getCalls++;
        if (getCalls === 1) {
          return Promise.reject(new ExpiredIteratorError());
        }
        if (getCalls === 2) {
          return Promise.reject(new Error('ProvisionedThroughputExceededException'));
        }
        return real.getRecords(iterator, limit, signal);
      },
    };
    let batches = 0;
    const flaky = async (d: Database, records: readonly StreamRecord[], options: AggregateOptions) => {
      batches++;
      if (batches === 1) {
        return processBatch(
          {
            ...d,
            withTransaction: (fn) =>
              d.withTransaction(async (tx) => {
                await fn(tx);
                throw new DatabaseError('08006', 'connection lost at commit');
              }),
          },
          records,
          options,
        );
      }
      return processBatch(d, records, options);
    };
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (message: string) => void warnings.push(message) };
    // What the poller says of itself at each of its pauses (the backoff after a failure among them).
    const sleeps: PollerStats[] = [];
    const poller: Poller = createPoller({
      db,
      reader,
      streamName: stream,
      process: flaky,
      batchLimit: 10,
      logger,
      sleep: async (ms, signal) => {
        sleeps.push(poller.stats());
        await quickSleep(ms, signal);
      },
    });

    poller.start();
    await until(async () => (await processedCount()) === events.length, 'every event');
    await poller.stop();

    expect(poller.stats()).toMatchObject({ processed: events.length, duplicates: 0, failedBatches: 1, errors: 2 });
    // While polls fail the poller says since when and why (the local Health view reads it); once one works, nothing.
    const failing = sleeps.find((s) => s.failingSinceMs !== null);
    expect(failing?.lastError).toBe('Error: ProvisionedThroughputExceededException');
    expect(poller.stats()).toMatchObject({ failingSinceMs: null, lastError: null });
    // The aggregator's own account of the failed batch reaches the poller's log.
    expect(warnings).toContain('aggregator batch failed; it will be retried');
    expect(await readState(db)).toEqual(groundTruth(events));
  });

  it(`${target.name}: a stream that does not answer fails the poll after readTimeoutMs (named as such), and a poll in progress says since when`, async () => {
    const events = someEvents('h', 3);
    await putAll(kinesis, stream, events);
    const real = kinesisShardReader(kinesis);
    let hangs = 1;
    let seenPolling: number | null = null;
    const reader: ShardReader = {
      listShards: (s) => real.listShards(s),
      shardIterator: (s, id, after) => real.shardIterator(s, id, after),
      getRecords: (iterator, limit, signal) => {
        if (hangs-- > 0) {
          seenPolling = poller.stats().pollingSinceMs;
          // Never answers by itself, as a stopped (SIGSTOP) stream: only the signal ends it.
          return new Promise((_, reject) => signal?.addEventListener('abort', () => { reject(new Error('aborted')); }));
        }
        return real.getRecords(iterator, limit, signal);
      },
    };
    const sleeps: PollerStats[] = [];
    const poller: Poller = createPoller({
      db,
      reader,
      streamName: stream,
      readTimeoutMs: 200,
      sleep: async (ms, signal) => {
        sleeps.push(poller.stats());
        await quickSleep(ms, signal);
      },
    });

    poller.start();
    await until(async () => (await processedCount()) === events.length, 'every event');
    await poller.stop();

    expect(seenPolling).not.toBeNull();
    expect(sleeps.find((s) => s.failingSinceMs !== null)?.lastError).toBe('Error: the stream did not answer GetRecords within 200 ms');
    expect(poller.stats()).toMatchObject({ failingSinceMs: null, pollingSinceMs: null });
    expect(await readState(db)).toEqual(groundTruth(events));
  });

  it(`${target.name}: during an outage logs the first failure, then a line a minute, and the recovery`, async () => {
    const events = someEvents('o', 3);
    await putAll(kinesis, stream, events);
    const real = kinesisShardReader(kinesis);
    // Kinesis refuses 40 reads in a row, 5 s apart on the poller's clock (3 min 20 s), then answers.
    let clock = 1_000_000;
    let refusals = 40;
    const reader: ShardReader = {
      listShards: (s) => real.listShards(s),
      shardIterator: (s, id, after) => real.shardIterator(s, id, after),
      getRecords: (iterator, limit, signal) => (refusals-- > 0 ? Promise.reject(new Error('ServiceUnavailable')) : real.getRecords(iterator, limit, signal)),
    };
    const lines: string[] = [];
    const logger = { info: (m: string) => void lines.push(`info ${m}`), error: (m: string) => void lines.push(`error ${m}`), warn: (m: string) => void lines.push(`warn ${m}`) };
    const poller: Poller = createPoller({
      db,
      reader,
      streamName: stream,
      logger,
      now: () => clock,
      sleep: async (ms, signal) => {
        clock += 5_000;
        await quickSleep(Math.min(ms, 5), signal);
      },
    });

    poller.start();
    await until(async () => (await processedCount()) === events.length, 'every event');
    await poller.stop();

    expect(lines.filter((l) => l.includes('aggregator'))).toEqual([
      'warn aggregator poll failed; backing off',
      'warn aggregator still failing; backing off',
      'warn aggregator still failing; backing off',
      'warn aggregator still failing; backing off',
      'info aggregator recovered',
    ]);
  });

  it(`${target.name}: stop waits for the batch in flight`, async () => {
    await putAll(kinesis, stream, someEvents('d', 2));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = false;
    const slow = async (d: Database, records: readonly StreamRecord[], options: AggregateOptions) => {
      entered = true;
      await gate;
      return processBatch(d, records, options);
    };
    const poller = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: stream, sleep: quickSleep, process: slow });
    poller.start();
    await until(() => Promise.resolve(entered), 'a batch to start');

    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await quickSleep(5, new AbortController().signal);
    const stoppedBeforeRelease = stopped;
    release();
    await stopping;

    expect(stoppedBeforeRelease).toBe(false);
    expect(poller.stats().batches).toBe(1);
    expect(await processedCount()).toBeGreaterThan(0);
  });

  it(`${target.name}: finishes a closed parent shard before reading its children`, async () => {
    const before = someEvents('e', 10);
    await putAll(kinesis, stream, before);
    await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (2n ** 126n).toString() }));
    await ensureStream(kinesis, stream, 2);
    const after = someEvents('f', 10);
    await putAll(kinesis, stream, after);
    const poller = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: stream, sleep: quickSleep });

    poller.start();
    await until(async () => (await processedCount()) === before.length + after.length, 'events before and after the split');
    await poller.stop();

    const ended = await db.query<{ shard_id: string }>('SELECT shard_id FROM stream_checkpoints WHERE stream = $1 AND shard_ended', [stream]);
    expect(ended.rows).toEqual([{ shard_id: 'shardId-000000000000' }]);
    expect(await readState(db)).toEqual(groundTruth([...before, ...after]));
  });
  it(`${target.name}: reads a shard from its start when its checkpoint came from another stream (a restored database, a new data folder)`, async () => {
    // Checkpoints left by the platform's earlier stream: positions the current one never had.
    // The stream of the same name in another data folder's kinesalite. Sequence numbers carry their
    // stream's creation second: another second makes another stream's.
    await new Promise((r) => setTimeout(r, 1_100));
    const other = await startKinesalite();
    const otherClient = createKinesisClient(other.endpoint);
    let foreign: Map<string, string>;
    try {
      await ensureStream(otherClient, stream, 2);
      foreign = await putAll(otherClient, stream, someEvents('old', 10));
    } finally {
      otherClient.destroy();
      await other.close();
    }
    for (const [shardId, sequence] of foreign) {
      await db.query('INSERT INTO stream_checkpoints (stream, shard_id, sequence_number) VALUES ($1, $2, $3)', [stream, shardId, sequence]);
    }
    const events = someEvents('new', 10);
    await putAll(kinesis, stream, events);
    const warnings: string[] = [];
    const logger = { info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
    const poller = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: stream, sleep: quickSleep, logger });

    poller.start();
    await until(async () => (await processedCount()) === events.length, 'the events of this stream');
    await poller.stop();

    expect(await readState(db)).toEqual(groundTruth(events));
    expect(warnings.filter((w) => w.includes('not a position in this stream'))).toHaveLength(foreign.size);
    // The checkpoints are this stream's now: a new poller resumes after them, reading nothing again.
    const resumed = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: stream, sleep: quickSleep, logger });
    resumed.start();
    await new Promise((r) => setTimeout(r, 300));
    await resumed.stop();
    expect(resumed.stats().records).toBe(0);
  });
});

import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, PutRecordsInput, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { appendFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError } from '../../errors.js';
import { LocalEventArchive, archiveFiles, archivingEventSink, readArchiveFile } from '../event-archive.js';
import { createKinesisClient, ensureStream, startKinesalite } from '../../local/aws-local.js';
import type { LocalService } from '../../local/aws-local.js';
import type { PutRecordsClient } from '../event-sink.js';
import type { AwsJsonClient } from '../aws-json.js';
import { KINESIS_MAX_BYTES_PER_CALL, KINESIS_MAX_RECORDS_PER_CALL, chunkRecords, createKinesisEventSink, createKinesisPutClient } from '../event-sink.js';

const AT = Date.UTC(2026, 10, 25, 12);

function event(i: number, unitId = `u${i % 7}`, extra: Record<string, string> = {}): PipelineEvent {
  return {
    v: 1,
    projectId: 'p1',
    environment: 'development',
    receivedAt: AT,
    occurredAt: AT - i,
    event: { type: 'track', id: `evt-${String(i).padStart(6, '0')}`, unitId, timestamp: AT - i, name: 'purchase', value: i, ...(Object.keys(extra).length > 0 ? { properties: extra } : {}) },
  };
}

/** Every record of the stream, oldest first per shard, with its partition key. */
async function readAll(client: KinesisClient, stream: string): Promise<{ key: string; event: PipelineEvent }[]> {
  const shards = await client.send(new ListShardsCommand({ StreamName: stream }));
  const out: { key: string; event: PipelineEvent }[] = [];
  for (const shard of shards.Shards ?? []) {
    const it = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
    let iterator = it.ShardIterator;
    for (let page = 0; iterator !== undefined && page < 100; page++) {
      const got = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of got.Records ?? []) {
        out.push({ key: r.PartitionKey ?? '', event: JSON.parse(Buffer.from(r.Data ?? new Uint8Array()).toString('utf8')) as PipelineEvent });
      }
      if ((got.Records ?? []).length === 0) {
        break;
      }
      iterator = got.NextShardIterator;
    }
  }
  return out;
}

type Answer = { FailedRecordCount: number; Records: PutRecordsResultEntry[] } | Error;

/**
 * A scripted PutRecords client for what kinesalite cannot produce on demand: per-record throttling
 * (partial failures), whole-call throttling and slowness. Each call takes the next answer.
 */
function scriptedClient(answers: ((records: number) => Answer)[]): PutRecordsClient & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    call(_operation: 'PutRecords', input: PutRecordsInput) {
      const records = input.Records ?? [];
      calls.push(records.map((r) => JSON.parse(Buffer.from(r.Data ?? new Uint8Array()).toString('utf8')).event.id as string));
      const answer = (answers[calls.length - 1] ?? ((n: number) => ({ FailedRecordCount: 0, Records: Array.from({ length: n }, () => ({ SequenceNumber: '1', ShardId: 's' })) })))(records.length);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

const ok = (n: number): Answer => ({ FailedRecordCount: 0, Records: Array.from({ length: n }, () => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })) });
const throttled = Object.assign(new Error('Rate exceeded for shard'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } });

/** A PutRecords client whose first call waits until `release` is called (a slow or saturated stream); the others answer at once. */
function gatedClient(): { client: PutRecordsClient; release: () => void; calls: () => number } {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let calls = 0;
  const client: PutRecordsClient = {
    call: async (_operation, input) => {
      calls++;
      if (calls === 1) {
        await gate;
      }
      return ok(input.Records?.length ?? 0) as { FailedRecordCount: number; Records: PutRecordsResultEntry[] };
    },
  };
  return { client, release: () => { release(); }, calls: () => calls };
}

describe('chunkRecords', () => {
  it('keeps order and respects both the record-count and the byte limit', () => {
    const entries = Array.from({ length: 1_203 }, (_, i) => ({ i, bytes: 10 }));
    const chunks = chunkRecords(entries);
    expect(chunks.map((c) => c.length)).toEqual([500, 500, 203]);
    expect(chunks.flat().map((e) => e.i)).toEqual(entries.map((e) => e.i));

    const big = Array.from({ length: 12 }, (_, i) => ({ i, bytes: 1024 * 1024 }));
    const bySize = chunkRecords(big, KINESIS_MAX_RECORDS_PER_CALL, KINESIS_MAX_BYTES_PER_CALL);
    expect(bySize.map((c) => c.length)).toEqual([5, 5, 2]);
  });
});

describe('Kinesis event sink on kinesalite', () => {
  let kinesalite: LocalService;
  let client: KinesisClient;
  let putter: AwsJsonClient;

  beforeAll(async () => {
    kinesalite = await startKinesalite();
    client = createKinesisClient(kinesalite.endpoint);
    putter = createKinesisPutClient(kinesalite.endpoint);
  });
  afterAll(async () => {
    client.destroy();
    putter.destroy();
    await kinesalite.close();
  });

  it('writes each event as one record keyed by its unit id, readable with GetRecords', async () => {
    await ensureStream(client, 'sink-basic', 2);
    const sink = createKinesisEventSink({ client: putter, streamName: 'sink-basic' });
    const events = [event(1, 'alice'), event(2, 'bob'), event(3, 'alice')];

    await sink.put(events);

    const records = await readAll(client, 'sink-basic');
    expect(records.map((r) => r.event).sort((a, b) => a.event.id.localeCompare(b.event.id))).toEqual(events);
    expect(records.map((r) => [r.key, r.event.event.unitId]).every(([k, u]) => k === u)).toBe(true);
    expect(sink.stats()).toMatchObject({ stored: 3, retried: 0, failedPuts: 0 });
  });

  it('splits a large put into PutRecords calls of at most 500 records and 5 MB', async () => {
    await ensureStream(client, 'sink-chunks', 1);
    const sizes: { records: number; bytes: number }[] = [];
    const counting: PutRecordsClient = {
      call: (operation, input, options) => {
        const records = input.Records ?? [];
        sizes.push({ records: records.length, bytes: records.reduce((s, r) => s + (r.Data?.byteLength ?? 0) + Buffer.byteLength(r.PartitionKey ?? ''), 0) });
        return putter.call(operation, input, options);
      },
    };
    // 11 MB through kinesalite takes seconds on a loaded machine; this test is about chunking, not the deadline.
    const sink = createKinesisEventSink({ client: counting, streamName: 'sink-chunks', deadlineMs: 60_000 });
    const padding = 'x'.repeat(10_000);
    const events = Array.from({ length: 1_100 }, (_, i) => event(i, `u${i}`, { padding }));

    await sink.put(events);

    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(sizes.every((s) => s.records <= 500 && s.bytes <= KINESIS_MAX_BYTES_PER_CALL)).toBe(true);
    expect(sizes.reduce((n, s) => n + s.records, 0)).toBe(1_100);
    const stored = await readAll(client, 'sink-chunks');
    expect(new Set(stored.map((r) => r.event.event.id)).size).toBe(1_100);
  });

  it('answers UNAVAILABLE at once when the stream does not exist, without retrying', async () => {
    const sink = createKinesisEventSink({ client: putter, streamName: 'no-such-stream', sleep: () => Promise.resolve() });

    const error = await sink.put([event(1)]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', details: { retryAfterSeconds: 2 } });
    expect(sink.stats()).toMatchObject({ stored: 0, failedPuts: 1 });
  });

  it('answers UNAVAILABLE within its deadline when Kinesis is down', async () => {
    const down = await startKinesalite();
    const setup = createKinesisClient(down.endpoint);
    await ensureStream(setup, 'gone', 1);
    setup.destroy();
    const downClient = createKinesisPutClient(down.endpoint);
    await down.close();
    const sink = createKinesisEventSink({ client: downClient, streamName: 'gone', deadlineMs: 1_500, maxAttempts: 3 });
    const started = Date.now();

    const error = await sink.put([event(1)]).catch((e: unknown) => e);

    downClient.destroy();
    expect(error).toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('Kinesis event sink retries (scripted client: kinesalite never fails single records)', () => {
  it('re-sends only the records that failed, with growing jittered waits', async () => {
    const waits: number[] = [];
    const client = scriptedClient([
      (n) => ({
        FailedRecordCount: 2,
        Records: Array.from({ length: n }, (_, i) => (i === 1 || i === 3 ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' } : { SequenceNumber: '1', ShardId: 's' })),
      }),
      (n) => ({ FailedRecordCount: 1, Records: Array.from({ length: n }, (_, i) => (i === 0 ? { ErrorCode: 'InternalFailure' } : { SequenceNumber: '2', ShardId: 's' })) }),
      ok,
    ]);
    const sink = createKinesisEventSink({ client, streamName: 's', random: () => 0.999, sleep: (ms) => (waits.push(ms), Promise.resolve()) });

    await sink.put([event(0), event(1), event(2), event(3), event(4)]);

    expect(client.calls).toEqual([['evt-000000', 'evt-000001', 'evt-000002', 'evt-000003', 'evt-000004'], ['evt-000001', 'evt-000003'], ['evt-000001']]);
    expect(waits).toEqual([49, 99]);
    expect(sink.stats()).toMatchObject({ stored: 5, retried: 3, failedPuts: 0 });
  });

  it('archives, locally, the events Kinesis stored even when the put fails for the others', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'xp-archive-'));
    const archive = new LocalEventArchive({ root, flushIntervalMs: 60_000 });
    try {
      // The first record of every call fails; the other four are stored at once.
      const client = scriptedClient(Array.from({ length: 10 }, () => (n: number) => ({ FailedRecordCount: 1, Records: Array.from({ length: n }, (_, i) => (i === 0 ? { ErrorCode: 'InternalFailure' } : { SequenceNumber: '1', ShardId: 's' })) })));
      const sink = archivingEventSink(createKinesisEventSink({ client, streamName: 's', maxAttempts: 3, sleep: () => Promise.resolve() }), archive);

      const error = await sink.put([event(0), event(1), event(2), event(3), event(4)]).catch((e: unknown) => e);
      await archive.close();

      expect(error).toMatchObject({ code: 'UNAVAILABLE' });
      const files = await archiveFiles(root, new Date(AT - 3_600_000), new Date(AT + 3_600_000));
      const archived = (await Promise.all(files.map(readArchiveFile))).flat().map((l) => (l.ok ? (l.value as PipelineEvent).event.id : l.reason));
      expect(archived.sort()).toEqual(['evt-000001', 'evt-000002', 'evt-000003', 'evt-000004']);
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(`${root}.journal`, { recursive: true, force: true });
    }
  });

  it('keeps, through a kill between two flushes, the events it had acknowledged: the next archive on the folder writes them', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'xp-archive-'));
    const journal = `${root}.journal`;
    const killed = new LocalEventArchive({ root, flushIntervalMs: 60_000 });
    try {
      killed.append([event(0), event(1)]);
      await killed.flush();
      killed.append([event(2), event(3)]);
      killed.append([event(4)]);
      // Killed here: no flush, no close. A write the kill cut short leaves half a line.
      const [file] = await readdir(journal);
      await appendFile(path.join(journal, file!), '{"v":1,"projectId":"p","envi');
      const read = async (): Promise<string[]> => {
        const files = await archiveFiles(root, new Date(AT - 3_600_000), new Date(AT + 3_600_000));
        return (await Promise.all(files.map(readArchiveFile))).flat().map((l) => (l.ok ? (l.value as PipelineEvent).event.id : l.reason));
      };
      expect((await read()).sort()).toEqual(['evt-000000', 'evt-000001']);

      const next = new LocalEventArchive({ root, flushIntervalMs: 60_000 });
      await next.close();

      expect(next.recovered).toBe(3);
      expect((await read()).sort()).toEqual(['evt-000000', 'evt-000001', 'evt-000002', 'evt-000003', 'evt-000004']);
      // Written out, the journal is gone; a clean stop leaves none either.
      expect(await readdir(journal)).toEqual([]);
    } finally {
      await killed.close();
      await rm(root, { recursive: true, force: true });
      await rm(journal, { recursive: true, force: true });
    }
  });

  it('says when the archive cannot be written (journal or objects), logs what a stop leaves unwritten, and recovers once it can', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'xp-archive-'));
    const blocked = path.join(dir, 'blocked');
    const errors: { message: string; fields: unknown }[] = [];
    const logger = { info: () => undefined, warn: () => undefined, error: (message: string, fields?: unknown) => void errors.push({ message, fields }) };
    // Objects go under a path that cannot be a folder (a file sits there), as on a read-only or full disk.
    const archive = new LocalEventArchive({ root: path.join(blocked, 'events'), journal: path.join(dir, 'journal'), flushIntervalMs: 60_000, logger });
    try {
      expect(archive.state()).toEqual({ failingSinceMs: null, lastError: null });
      await writeFile(blocked, 'not a folder');
      // The journal cannot be written either: its folder is gone and a file is in its place.
      await rm(path.join(dir, 'journal'), { recursive: true });
      await writeFile(path.join(dir, 'journal'), 'not a folder');
      archive.append([event(0), event(1)]);
      const afterJournal = archive.state();
      await archive.flush();
      const afterFlush = archive.state();

      expect(afterJournal.failingSinceMs).not.toBeNull();
      expect(afterJournal.lastError).toMatch(/ENOTDIR|EEXIST|ENOENT/);
      expect(afterFlush.failingSinceMs).toBe(afterJournal.failingSinceMs);
      expect(archive.unarchived()).toBe(2);
      expect(errors.map((e) => e.message)).toEqual(['archive: journal write failed; the events are counted, but a crash before the next flush would leave them out of the archive']);

      // Writable again: the next flush writes what was kept, and the failure is over.
      await rm(blocked);
      await rm(path.join(dir, 'journal'));
      await archive.flush();
      expect([archive.state(), archive.unarchived()]).toEqual([{ failingSinceMs: null, lastError: null }, 0]);

      // A stop that cannot write says how many accepted events it leaves out.
      archive.append([event(2)]);
      await rm(path.join(blocked, 'events'), { recursive: true });
      await writeFile(path.join(blocked, 'events'), 'not a folder');
      await archive.close();
      expect(errors.at(-1)).toMatchObject({ message: expect.stringContaining('stopped with accepted events it could not write'), fields: { events: 1 } });
    } finally {
      await archive.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up after maxAttempts of throttling with UNAVAILABLE and a Retry-After hint', async () => {
    const client = scriptedClient(Array.from({ length: 10 }, () => () => throttled));
    const sink = createKinesisEventSink({ client, streamName: 's', maxAttempts: 4, retryAfterSeconds: 3, sleep: () => Promise.resolve() });

    const error = await sink.put([event(1), event(2)]).catch((e: unknown) => e);

    expect(client.calls).toHaveLength(4);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', details: { retryAfterSeconds: 3 } });
  });

  it('stops retrying at the deadline', async () => {
    let clock = 0;
    const client = scriptedClient(
      Array.from({ length: 10 }, () => (n: number) => {
        clock += 300;
        return { FailedRecordCount: n, Records: Array.from({ length: n }, () => ({ ErrorCode: 'ProvisionedThroughputExceededException' })) };
      }),
    );
    const sink = createKinesisEventSink({ client, streamName: 's', maxAttempts: 10, deadlineMs: 500, now: () => clock, sleep: () => Promise.resolve() });

    const error = await sink.put([event(1)]).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'UNAVAILABLE' });
    expect(client.calls).toHaveLength(2);
  });

  it('refuses a put beyond maxInFlight at once and accepts again when one finishes', async () => {
    const { client, release } = gatedClient();
    const sink = createKinesisEventSink({ client, streamName: 's', maxInFlight: 1 });
    const first = sink.put([event(1)]);

    const refused = await sink.put([event(2)]).catch((e: unknown) => e);
    release();
    await first;
    await sink.put([event(3)]);

    expect(refused).toMatchObject({ code: 'UNAVAILABLE' });
    expect(sink.stats()).toMatchObject({ stored: 2, rejectedInFlight: 1 });
  });

  it('leaves a call unanswered at the deadline to finish: what it stored is archived, and its slot stays taken until then', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'xp-archive-'));
    const archive = new LocalEventArchive({ root, flushIntervalMs: 60_000 });
    try {
      // As a saturated stream does: the first write lands, but after the caller's deadline.
      const { client, release: answer, calls } = gatedClient();
      const kinesis = createKinesisEventSink({ client, streamName: 's', deadlineMs: 100, maxInFlight: 1 });
      const sink = archivingEventSink(kinesis, archive);

      const late = await sink.put([event(1), event(2)]).catch((e: unknown) => e);
      expect(late).toMatchObject({ code: 'UNAVAILABLE', message: 'Kinesis did not accept 2 of 2 events in time; retry later' });
      // The unanswered call still holds the only slot: the next put is shed, not sent.
      expect(await sink.put([event(3)]).catch((e: unknown) => e)).toMatchObject({ code: 'UNAVAILABLE', message: 'too many event writes in progress; retry later' });
      expect(calls()).toBe(1);

      answer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await sink.put([event(4)]);
      await archive.close();

      expect(kinesis.stats()).toMatchObject({ stored: 3, lateWrites: 1, rejectedInFlight: 1 });
      const files = await archiveFiles(root, new Date(AT - 3_600_000), new Date(AT + 3_600_000));
      const archived = (await Promise.all(files.map(readArchiveFile))).flat().map((l) => (l.ok ? (l.value as PipelineEvent).event.id : l.reason));
      // The late write's events reached the stream, so they are archived, as Firehose would keep them.
      expect(archived.sort()).toEqual(['evt-000001', 'evt-000002', 'evt-000004']);
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(`${root}.journal`, { recursive: true, force: true });
    }
  });

  it('refuses a record above the Kinesis 1 MB limit', async () => {
    const sink = createKinesisEventSink({ client: scriptedClient([]), streamName: 's' });

    const error = await sink.put([event(1, 'u', { big: 'x'.repeat(1024 * 1024) })]).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });
});

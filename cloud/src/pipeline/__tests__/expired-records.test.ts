import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PipelineEvent } from '@xp/shared';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, startPlatform } from '../../http/__tests__/harness.js';
import type { LocalService } from '../../local/aws-local.js';
import { createKinesisClient, ensureStream, startKinesalite } from '../../local/aws-local.js';
import type { Logger } from '../../domain/context.js';
import type { ArchiveSource } from '../../store/event-archive.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Poller, ShardReader } from '../poller.js';
import { createPoller, kinesisShardReader, replayCommand } from '../poller.js';
import { replayArchive } from '../replay.js';
import { HOUR, exposure, seedProject, track } from './fixtures.js';
import { putAll, quickSleep, until } from './kinesis-helpers.js';

/**
 * Records that expire from the stream before the aggregator reads them (it was held longer than the
 * stream's retention: a database or aggregator outage) are reported, not lost silently: an ERROR
 * naming the shard, the window of arrival times and the replay command; a stream_gaps row; the
 * Health view degraded until an `xp replay` covering the window runs. kinesalite runs in-process
 * and trims by Date.now(), so moving Date.now() moves its clock (and the poller's).
 */

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

const realNow = Date.now.bind(Date);
let offsetMs = 0;
const clock = (): number => realNow() + offsetMs;

function events(prefix: string, n: number): PipelineEvent[] {
  // Received now (the replay selects archived events by receivedAt).
  const at = clock();
  return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? exposure(`${prefix}-${i}`, 'exp-a', 'control', at) : track(`${prefix}-${i - 1}`, 'purchase', at, 2)));
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('records that expire from the stream unread, on %s', (_name, makeTarget) => {
  let p: Platform;
  let token: string;
  let kinesalite: LocalService;
  let kinesis: KinesisClient;
  let stream: string;
  let streamNo = 0;
  let logs: Logged[];
  let pollers: Poller[];

  const logger: Logger = {
    info: (message, fields) => logs.push({ level: 'info', message, fields: fields ?? {} }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields: fields ?? {} }),
    error: (message, fields) => logs.push({ level: 'error', message, fields: fields ?? {} }),
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    await seedProject(p.db);
    token = await p.login(OWNER.email, OWNER.password);
    kinesalite = await startKinesalite();
    kinesis = createKinesisClient(kinesalite.endpoint);
  });
  afterAll(async () => {
    kinesis.destroy();
    await kinesalite.close();
    await p.close();
  });
  beforeEach(async () => {
    offsetMs = 0;
    vi.spyOn(Date, 'now').mockImplementation(clock);
    logs = [];
    pollers = [];
    for (const table of ['processed_events', 'exposures', 'unit_events', 'unit_metric_totals', 'stream_checkpoints', 'stream_gaps']) {
      await p.db.query(`DELETE FROM ${table}`);
    }
    streamNo++;
    stream = `expiring-${streamNo}`;
    await ensureStream(kinesis, stream, 1);
  });
  afterEach(async () => {
    for (const poller of pollers) {
      await poller.stop();
    }
    vi.restoreAllMocks();
    offsetMs = 0;
    await kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
  });

  const poller = (options: { reader?: ShardReader; sleep?: (ms: number, signal: AbortSignal) => Promise<void> } = {}): Poller => {
    const made = createPoller({ db: p.db, reader: options.reader ?? kinesisShardReader(kinesis), streamName: stream, sleep: options.sleep ?? quickSleep, now: clock, logger });
    pollers.push(made);
    made.start();
    return made;
  };
  const processed = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events')).rows[0]!.n;
  const gaps = async (): Promise<{ shard_id: string; from_ms: number; to_ms: number; resolved: boolean }[]> =>
    (
      await p.db.query<{ shard_id: string; from_ms: number; to_ms: number; resolved: boolean }>(
        `SELECT shard_id, (extract(epoch FROM from_arrival) * 1000)::float8 AS from_ms, (extract(epoch FROM to_arrival) * 1000)::float8 AS to_ms, resolved_at IS NOT NULL AS resolved
         FROM stream_gaps WHERE stream = $1 ORDER BY from_arrival`,
        [stream],
      )
    ).rows;
  const checkpointArrival = async (): Promise<number | null> => {
    const row = (await p.db.query<{ ms: number | null }>('SELECT (extract(epoch FROM arrival_through) * 1000)::float8 AS ms FROM stream_checkpoints WHERE stream = $1', [stream])).rows[0];
    return row?.ms ?? null;
  };
  const health = async (): Promise<{ status: string; pipeline: { expiredWindows?: { open: number; latest: { shardId: string; from: string; to: string; replay: string } | null } } }> => {
    const res = await p.request('GET', '/api/v1/health', { token });
    expect(res.status).toBe(200);
    return res.body;
  };
  const archiveOf = (archived: readonly PipelineEvent[]): ArchiveSource => ({
    location: 'test archive',
    objects: () => Promise.resolve(['one']),
    lines: () => Promise.resolve(archived.map((e) => ({ ok: true as const, value: e, text: JSON.stringify(e) }))),
  });
  const errors = (): Logged[] => logs.filter((l) => l.level === 'error');

  it('reports the window, degrades health until a replay covering it runs, and the replay applies the lost events', async () => {
    // Read and checkpointed.
    const first = events('a', 10);
    await putAll(kinesis, stream, first);
    const reading = poller();
    await until(async () => (await processed()) === first.length, 'the first events');
    await reading.stop();
    const readThrough = await checkpointArrival();
    expect(readThrough).not.toBeNull();

    // Put while the aggregator is held, then 25 hours pass (retention 24): they expire unread.
    offsetMs += 60_000;
    const lost = events('b', 20);
    await putAll(kinesis, stream, lost);
    offsetMs += 25 * HOUR;
    const later = events('c', 6);
    await putAll(kinesis, stream, later);
    const started = clock();

    poller();
    await until(async () => (await processed()) === first.length + later.length, 'the events that did not expire');
    expect(errors()).toHaveLength(1);
    const [error] = errors();
    const gap = (await gaps())[0]!;
    expect(await gaps()).toHaveLength(1);
    expect(gap.shard_id).toBe('shardId-000000000000');
    // From the arrival of the last record read to the oldest record the shard still holds, or the
    // retention's cutoff when earlier (anything that arrived after the cutoff would still be there).
    expect(gap.from_ms).toBe(readThrough);
    expect(gap.to_ms).toBeGreaterThanOrEqual(started - 24 * HOUR);
    expect(gap.to_ms).toBeLessThanOrEqual(clock() - 24 * HOUR);
    expect(error!.fields).toMatchObject({ stream, shardId: 'shardId-000000000000', from: new Date(gap.from_ms).toISOString(), to: new Date(gap.to_ms).toISOString(), retentionHours: 24, replay: replayCommand(gap.from_ms, gap.to_ms) });
    expect(error!.message).toContain(replayCommand(gap.from_ms, gap.to_ms));
    // No event contents in the report.
    expect(JSON.stringify(error)).not.toMatch(/exp-a|purchase|b-0/);

    expect(await health()).toMatchObject({ status: 'degraded', pipeline: { expiredWindows: { open: 1, latest: { shardId: 'shardId-000000000000', from: new Date(gap.from_ms).toISOString(), replay: replayCommand(gap.from_ms, gap.to_ms) } } } });
    // Reported once: a restart of the poller does not report it again.
    await pollers.at(-1)!.stop();
    poller();
    await delay(300);
    expect(errors()).toHaveLength(1);

    // A replay that does not cover the whole window leaves it open.
    const command = /--from (\S+) --to (\S+)/.exec(replayCommand(gap.from_ms, gap.to_ms))!;
    const [from, to] = [new Date(command[1]!), new Date(command[2]!)];
    const partial = await replayArchive(p.db, { archive: archiveOf([...first, ...lost, ...later]), from: new Date(gap.from_ms + 1), to });
    expect(partial.resolvedGaps).toBe(0);
    expect((await health()).status).toBe('degraded');
    // The command the report prints resolves it, and applies the lost events.
    const replayed = await replayArchive(p.db, { archive: archiveOf([...first, ...lost, ...later]), from, to });
    expect(replayed.resolvedGaps).toBe(1);
    expect(await processed()).toBe(first.length + lost.length + later.length);
    expect(await gaps()).toMatchObject([{ resolved: true }]);
    expect(await health()).toMatchObject({ status: 'ok', pipeline: { expiredWindows: { open: 0, latest: null } } });
  });

  it('reports nothing when the poller restarts within the retention', async () => {
    const first = events('a', 8);
    await putAll(kinesis, stream, first);
    const reading = poller();
    await until(async () => (await processed()) === first.length, 'the first events');
    await reading.stop();
    offsetMs += 2 * HOUR;
    const second = events('b', 8);
    await putAll(kinesis, stream, second);
    offsetMs += 2 * HOUR;
    poller();
    await until(async () => (await processed()) === first.length + second.length, 'the events put while it was stopped');
    expect(logs.filter((l) => l.level !== 'info')).toEqual([]);
    expect(await gaps()).toEqual([]);
    expect((await health()).status).toBe('ok');
  });

  it('warns, without reporting a loss, when it is behind by more than half the retention', async () => {
    const first = events('a', 8);
    await putAll(kinesis, stream, first);
    offsetMs += 13 * HOUR;
    poller();
    await until(async () => (await processed()) === first.length, 'the events');
    const warned = logs.filter((l) => l.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toMatch(/more than half its retention/);
    expect(warned[0]!.fields).toMatchObject({ shardId: 'shardId-000000000000', retentionHours: 24, behindHours: 13, expiresInHours: 11 });
    expect(errors()).toEqual([]);
    expect(await gaps()).toEqual([]);
  });

  it('takes no quiet spell longer than the retention, while it ran caught up, for a loss after a restart', async () => {
    const first = events('a', 8);
    await putAll(kinesis, stream, first);
    let sleeps = 0;
    const counting = async (ms: number, signal: AbortSignal): Promise<void> => {
      sleeps++;
      await quickSleep(ms, signal);
    };
    const reading = poller({ sleep: counting });
    await until(async () => (await processed()) === first.length, 'the first events');
    // 30 hours without records, the poller reading the shard's tip all along.
    for (let step = 0; step < 90; step++) {
      offsetMs += 20 * 60_000;
      const seen = sleeps;
      await until(() => Promise.resolve(sleeps >= seen + 3), 'an idle read');
    }
    await reading.stop();
    offsetMs += 60_000;
    const second = events('b', 6);
    await putAll(kinesis, stream, second);
    poller();
    await until(async () => (await processed()) === first.length + second.length, 'the new events');
    expect(errors()).toEqual([]);
    expect(await gaps()).toEqual([]);
  });

  it('reports a parent shard that is no longer listed while its checkpoint is not at its end', async () => {
    const parentThrough = clock() - 30 * HOUR;
    await p.db.query(`INSERT INTO stream_checkpoints (stream, shard_id, sequence_number, arrival_through) VALUES ($1, 'shardId-000000000000', '49000000000000000000000000000000000000000000000000000000', $2::timestamptz)`, [
      stream,
      new Date(parentThrough).toISOString(),
    ]);
    // The stream lists only the children (the parent expired); they hold nothing yet.
    const reader: ShardReader = {
      listShards: () => Promise.resolve([{ shardId: 'shardId-000000000001', parentShardId: 'shardId-000000000000' }, { shardId: 'shardId-000000000002', parentShardId: 'shardId-000000000000' }]),
      shardIterator: () => Promise.resolve('iterator'),
      getRecords: () => Promise.resolve({ records: [], nextIterator: 'iterator', behind: false }),
    };
    const reading = poller({ reader });
    await until(async () => (await gaps()).length === 1, 'the report');
    await delay(200);
    await reading.stop();
    const gap = (await gaps())[0]!;
    expect(gap).toMatchObject({ shard_id: 'shardId-000000000000', from_ms: parentThrough, resolved: false });
    expect(gap.to_ms).toBeGreaterThan(parentThrough);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]!.fields).toMatchObject({ shardId: 'shardId-000000000000', reason: 'parent shard expired unread', replay: replayCommand(gap.from_ms, gap.to_ms) });
    const ended = await p.db.query<{ shard_ended: boolean }>("SELECT shard_ended FROM stream_checkpoints WHERE stream = $1 AND shard_id = 'shardId-000000000000'", [stream]);
    expect(ended.rows[0]?.shard_ended).toBe(true);
    expect((await health()).status).toBe('degraded');
    // Once: a new poller finds the parent's checkpoint at its end.
    poller({ reader });
    await delay(200);
    expect(errors()).toHaveLength(1);
    await p.db.query('UPDATE stream_gaps SET resolved_at = now()');
  });
});

/**
 * The local stand-in for Lambda's event source mapping: reads every shard of a stream and feeds the
 * aggregator, keeping its position per shard in `stream_checkpoints`. The checkpoint is written in the
 * same transaction as the batch's aggregates, so after a crash the poller resumes exactly after the
 * last committed batch; whatever a half-done batch wrote was rolled back with it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { DescribeStreamSummaryCommand, ExpiredIteratorException, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import type { Logger } from '../domain/context.js';
import type { Database, Queryable } from '../store/db.js';
import type { AggregateOptions, BatchResult, StreamRecord } from './aggregate.js';
import { processBatch } from './aggregate.js';

export interface ShardInfo {
  readonly shardId: string;
  readonly parentShardId?: string | undefined;
  readonly adjacentParentShardId?: string | undefined;
}

export interface ShardRecords {
  readonly records: readonly { readonly data: Uint8Array; readonly sequenceNumber: string; readonly partitionKey: string; readonly approximateArrivalMs?: number }[];
  /** Absent once a closed shard is read to its end. */
  readonly nextIterator: string | undefined;
  /** More records are waiting (MillisBehindLatest > 0): read again without idling. */
  readonly behind: boolean;
}

/** The oldest record a shard still holds. */
export interface OldestRecord {
  readonly sequenceNumber: string;
  readonly approximateArrivalMs?: number | undefined;
}

/** The Kinesis reads the poller makes; a port so tests can fake or disturb them. */
export interface ShardReader {
  listShards(stream: string): Promise<ShardInfo[]>;
  /** AFTER_SEQUENCE_NUMBER when given, else TRIM_HORIZON. */
  shardIterator(stream: string, shardId: string, afterSequenceNumber: string | undefined): Promise<string>;
  /** Throws ExpiredIteratorError when the iterator is too old. */
  getRecords(iterator: string, limit: number, signal?: AbortSignal): Promise<ShardRecords>;
  /** The stream's retention in hours (DescribeStreamSummary); without it the poller assumes 24. */
  retentionHours?(stream: string): Promise<number>;
  /**
   * The oldest record still in the shard (TRIM_HORIZON), undefined when it holds none. Only read
   * when the poller's position may have expired (see `checkExpired`), never per batch.
   */
  oldestRecord?(stream: string, shardId: string): Promise<OldestRecord | undefined>;
}

/** The shard iterator expired (Kinesis: 5 minutes); get a new one from the checkpoint. */
export class ExpiredIteratorError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('shard iterator expired', options);
    this.name = 'ExpiredIteratorError';
  }
}

/**
 * The checkpoint's sequence number did not come from this stream: the database was restored, or
 * pointed at from a new data folder, whose stream (kinesalite under the data folder) is another
 * one. Its records were never read, so the poller starts the shard from its beginning.
 */
export class ForeignCheckpointError extends Error {
  constructor(readonly shardId: string, options?: { cause?: unknown }) {
    super(`the checkpoint of shard ${shardId} is not a position in this stream`, options);
    this.name = 'ForeignCheckpointError';
  }
}

/** A batch could not be committed; the poller re-reads it from the checkpoint after a backoff. */
export class BatchFailedError extends Error {
  constructor(readonly shardId: string, readonly failed: number) {
    super(`${failed} record(s) of shard ${shardId} failed and will be read again`);
    this.name = 'BatchFailedError';
  }
}

export function kinesisShardReader(client: KinesisClient): ShardReader {
  return {
    async listShards(stream) {
      const shards: Shard[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(new ListShardsCommand(token === undefined ? { StreamName: stream } : { NextToken: token }));
        shards.push(...(out.Shards ?? []));
        token = out.NextToken;
      } while (token !== undefined);
      return shards.flatMap((s) => (s.ShardId === undefined ? [] : [{ shardId: s.ShardId, parentShardId: s.ParentShardId, adjacentParentShardId: s.AdjacentParentShardId }]));
    },
    async shardIterator(stream, shardId, after) {
      const out = await client
        .send(
          new GetShardIteratorCommand(
            after === undefined
              ? { StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }
              : { StreamName: stream, ShardId: shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after },
          ),
        )
        .catch((error: unknown) => {
          // Kinesis (and kinesalite): "StartingSequenceNumber … is invalid because it did not come from this stream."
          if (after !== undefined && error instanceof Error && error.name === 'InvalidArgumentException' && /did not come from this stream/i.test(error.message)) {
            throw new ForeignCheckpointError(shardId, { cause: error });
          }
          throw error;
        });
      if (out.ShardIterator === undefined) {
        throw new Error(`no iterator for shard ${shardId}`);
      }
      return out.ShardIterator;
    },
    async retentionHours(stream) {
      const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      return out.StreamDescriptionSummary?.RetentionPeriodHours ?? DEFAULT_RETENTION_HOURS;
    },
    async oldestRecord(stream, shardId) {
      const first = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
      let iterator = first.ShardIterator;
      // A read from the trim horizon may answer no records although the shard holds some (Kinesis
      // skips empty stretches; kinesalite counts the expired records it skips against the limit):
      // a few more reads, while the stream says records are behind, or at least five.
      for (let i = 0; i < 10 && iterator !== undefined; i++) {
        const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1_000 }));
        const r = out.Records?.find((x) => x.SequenceNumber !== undefined);
        if (r?.SequenceNumber !== undefined) {
          return { sequenceNumber: r.SequenceNumber, approximateArrivalMs: r.ApproximateArrivalTimestamp?.getTime() };
        }
        if ((out.MillisBehindLatest ?? 0) === 0 && i >= 4) {
          return undefined;
        }
        iterator = out.NextShardIterator;
      }
      return undefined;
    },
    async getRecords(iterator, limit, signal) {
      try {
        const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }), signal === undefined ? {} : { abortSignal: signal });
        return {
          records: (out.Records ?? []).flatMap((r) =>
            r.Data === undefined || r.SequenceNumber === undefined
              ? []
              : [{ data: r.Data, sequenceNumber: r.SequenceNumber, partitionKey: r.PartitionKey ?? '', ...(r.ApproximateArrivalTimestamp === undefined ? {} : { approximateArrivalMs: r.ApproximateArrivalTimestamp.getTime() }) }],
          ),
          nextIterator: out.NextShardIterator ?? undefined,
          behind: (out.MillisBehindLatest ?? 0) > 0,
        };
      } catch (error) {
        if (error instanceof ExpiredIteratorException) {
          throw new ExpiredIteratorError({ cause: error });
        }
        throw error;
      }
    },
  };
}

export interface PollerOptions {
  readonly db: Database;
  readonly reader: ShardReader;
  readonly streamName: string;
  /** Options of each batch; their logger defaults to this poller's. */
  readonly aggregate?: Omit<AggregateOptions, 'checkpoint'>;
  /** Records per GetRecords call. Default 1,000 (Kinesis allows up to 10,000). */
  readonly batchLimit?: number;
  /** Idle wait after a round without records, doubling from min to max. Default 100-1,000 ms. */
  readonly idleMs?: { readonly min: number; readonly max: number };
  /** Wait after an error, doubling from min to max. Default 200-5,000 ms. */
  readonly errorBackoffMs?: { readonly min: number; readonly max: number };
  /** How often the shard list is re-read (new shards after resharding). Default 30 s. */
  readonly shardRefreshMs?: number;
  /** Resolves after `ms`, or early when `signal` aborts; never rejects. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly logger?: Logger;
  /** The batch processor (a seam for fault injection in tests). Default `processBatch`. */
  readonly process?: (db: Database, records: readonly StreamRecord[], options: AggregateOptions) => Promise<BatchResult>;
  /** How long one GetRecords may take before it counts as a failed poll. Default 10 s. */
  readonly readTimeoutMs?: number;
  /** The stream's retention in hours. Default: what the stream says (DescribeStreamSummary), else 24. */
  readonly streamRetentionHours?: number;
}

export interface PollerStats {
  /** Batches committed. */
  readonly batches: number;
  /** Records read, re-reads included. */
  readonly records: number;
  readonly processed: number;
  readonly duplicates: number;
  readonly deadLettered: number;
  /** Batches with failed records (read again after a backoff). */
  readonly failedBatches: number;
  /** Errors caught by the loop (Kinesis, database, failed batches). */
  readonly errors: number;
  /** Epoch ms of the first of the polls failing since the last one that worked; null while they work. */
  readonly failingSinceMs: number | null;
  /** What the last failed poll said; null while polls work. */
  readonly lastError: string | null;
  /**
   * Epoch ms at which the poll in progress started; null between polls. A poll that does not end
   * (a batch waiting on a database lock) fails nothing, so this is how it shows.
   */
  readonly pollingSinceMs: number | null;
  /** Windows in which records may have expired from the stream unread, reported since the start (stream_gaps). */
  readonly expiredWindows: number;
}

export interface Poller {
  /** Starts polling; a no-op when already running. */
  start(): void;
  /** Stops after the in-flight batch commits or fails; resolves when the loop has exited. */
  stop(): Promise<void>;
  stats(): PollerStats;
  /** Committed position per shard, as this poller knows it. */
  positions(): ReadonlyMap<string, string | undefined>;
}

interface ShardState {
  readonly info: ShardInfo;
  checkpoint: string | undefined;
  /** Epoch ms: every record of the shard that arrived before it was read or reported lost (arrival_through). */
  arrivalThroughMs: number | undefined;
  /** arrival_through as last written to the database (epoch ms). */
  savedThroughMs: number | undefined;
  iterator: string | undefined;
  ended: boolean;
  /** When the checkpoint's position was last checked against the trim horizon (epoch ms). */
  expiryCheckedAt: number;
  /** When the "half the retention behind" warning was last logged (epoch ms). */
  lagWarnedAt: number;
}

/** Kinesis's default retention, assumed when the stream does not say. */
export const DEFAULT_RETENTION_HOURS = 24;
const HOUR_MS = 3_600_000;
/**
 * The `xp replay` command that re-aggregates records that arrived in [fromMs, toMs]: from the hour
 * before the window's first hour to the hour after its last (as the on-failure queue's runbook in
 * docs/operations.md says), since replay selects events by the time the API received them, a little
 * before they reached the stream; replay is idempotent, so a wider window costs only time.
 */
export function replayCommand(fromMs: number, toMs: number): string {
  const from = (Math.floor(fromMs / HOUR_MS) - 1) * HOUR_MS;
  const to = (Math.ceil(toMs / HOUR_MS) + 1) * HOUR_MS;
  return `xp replay --from ${new Date(from).toISOString()} --to ${new Date(to).toISOString()}`;
}

const sequenceBefore = (a: string, b: string): boolean | undefined => {
  try {
    return BigInt(a) < BigInt(b);
  } catch {
    return undefined;
  }
};

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

/**
 * Advances a shard's checkpoint, never backwards (a slower, older poller cannot rewind it), with the
 * arrival time of its record (Kinesis ApproximateArrivalTimestamp, epoch ms) when known.
 */
export async function writeCheckpoint(tx: Queryable, stream: string, shardId: string, sequenceNumber: string, arrivalMs?: number): Promise<void> {
  await tx.query(
    `INSERT INTO stream_checkpoints (stream, shard_id, sequence_number, arrival_through) VALUES ($1, $2, $3, $4::timestamptz)
     ON CONFLICT (stream, shard_id) DO UPDATE SET sequence_number = EXCLUDED.sequence_number,
       arrival_through = GREATEST(stream_checkpoints.arrival_through, EXCLUDED.arrival_through), updated_at = now()
     WHERE stream_checkpoints.sequence_number IS NULL
        OR stream_checkpoints.sequence_number::numeric < EXCLUDED.sequence_number::numeric`,
    [stream, shardId, sequenceNumber, arrivalMs === undefined ? null : new Date(arrivalMs).toISOString()],
  );
}

/** During an outage the poller logs its first failure, then one line at most this often. */
export const POLL_FAILURE_LOG_EVERY_MS = 60_000;

export function createPoller(options: PollerOptions): Poller {
  const { db, reader, streamName } = options;
  const logger = options.logger ?? silent;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const process = options.process ?? processBatch;
  // During an outage every poll fails alike: the first failure is logged, then one line a minute
  // with the count, and its end; a batch's own warning, once a minute too.
  const outage = { loggedAt: 0, total: 0, sinceLogged: 0 };
  const batchWarnedAt = new Map<string, number>();
  const batchLogger: Logger = {
    info: (message, fields) => {
      logger.info(message, fields);
    },
    warn: (message, fields) => {
      const last = batchWarnedAt.get(message);
      if (last === undefined || now() - last >= POLL_FAILURE_LOG_EVERY_MS) {
        batchWarnedAt.set(message, now());
        logger.warn(message, fields);
      }
    },
    error: (message, fields) => {
      logger.error(message, fields);
    },
  };
  const limit = options.batchLimit ?? 1_000;
  const idle = options.idleMs ?? { min: 100, max: 1_000 };
  const backoff = options.errorBackoffMs ?? { min: 200, max: 5_000 };
  const refreshMs = options.shardRefreshMs ?? 30_000;
  const shards = new Map<string, ShardState>();
  const stats = { batches: 0, records: 0, processed: 0, duplicates: 0, deadLettered: 0, failedBatches: 0, errors: 0, failingSinceMs: null as number | null, lastError: null as string | null, pollingSinceMs: null as number | null, expiredWindows: 0 };
  const readTimeoutMs = options.readTimeoutMs ?? 10_000;
  let running: Promise<void> | undefined;
  let abort = new AbortController();
  let stopping = false;
  let refreshAt = 0;

  let retentionMs: number | undefined;
  let retentionWarned = false;
  /**
   * The stream's retention, asked once (a stream's retention seldom changes; a restart reads it
   * again). When the stream does not answer, 24 hours (Kinesis's default and minimum) for now.
   */
  const streamRetentionMs = async (): Promise<number> => {
    if (retentionMs !== undefined) {
      return retentionMs;
    }
    if (options.streamRetentionHours !== undefined || reader.retentionHours === undefined) {
      retentionMs = (options.streamRetentionHours ?? DEFAULT_RETENTION_HOURS) * HOUR_MS;
      return retentionMs;
    }
    try {
      retentionMs = (await reader.retentionHours(streamName)) * HOUR_MS;
      return retentionMs;
    } catch (error) {
      if (!retentionWarned) {
        retentionWarned = true;
        logger.warn('aggregator could not read the stream retention; assuming 24 hours until it can', { error: error instanceof Error ? error.message : String(error) });
      }
      return DEFAULT_RETENTION_HOURS * HOUR_MS;
    }
  };

  /**
   * Records a window of arrival times in which records of a shard may have expired from the stream
   * unread, moves the shard's arrival_through past it (so it is reported once), and says so loudly:
   * the events are in the raw event archive, and `xp replay` over the window applies them.
   */
  const reportExpired = async (shardId: string, fromMs: number, toMs: number, reason: string, extra: { shardEnded?: boolean } = {}): Promise<void> => {
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    await db.withTransaction(async (tx) => {
      await tx.query(
        `INSERT INTO stream_gaps (stream, shard_id, from_arrival, to_arrival) VALUES ($1, $2, $3::timestamptz, $4::timestamptz)
         ON CONFLICT (stream, shard_id, from_arrival) DO UPDATE SET to_arrival = GREATEST(stream_gaps.to_arrival, EXCLUDED.to_arrival),
           resolved_at = CASE WHEN EXCLUDED.to_arrival > stream_gaps.to_arrival THEN NULL ELSE stream_gaps.resolved_at END`,
        [streamName, shardId, from, to],
      );
      await tx.query(
        `INSERT INTO stream_checkpoints (stream, shard_id, sequence_number, arrival_through, shard_ended) VALUES ($1, $2, NULL, $3::timestamptz, $4)
         ON CONFLICT (stream, shard_id) DO UPDATE SET arrival_through = GREATEST(stream_checkpoints.arrival_through, EXCLUDED.arrival_through),
           shard_ended = stream_checkpoints.shard_ended OR EXCLUDED.shard_ended, updated_at = now()`,
        [streamName, shardId, to, extra.shardEnded ?? false],
      );
    });
    stats.expiredWindows++;
    const retentionHours = (await streamRetentionMs()) / HOUR_MS;
    logger.error(
      `aggregator: records of shard ${shardId} that arrived between ${from} and ${to} may have expired from the stream unread (the aggregator was behind by more than the stream's ${String(retentionHours)} h retention); their events are in the raw event archive: run \`${replayCommand(fromMs, toMs)}\``,
      { stream: streamName, shardId, from, to, retentionHours, reason, replay: replayCommand(fromMs, toMs) },
    );
  };

  /**
   * Whether records after the shard's checkpoint may have expired unread. Nothing can have while the
   * last record read arrived within the retention (whatever came after it is younger still); past
   * that, the oldest record the shard still holds tells: the checkpoint's own record still there means
   * nothing after it was trimmed; gone, records that arrived between the two may have been (sequence
   * numbers have gaps, so how many is not known). Costs Kinesis reads only in that case, once a minute
   * at most while the poller reads on, and at every (re)start of the shard's reading.
   */
  const checkExpired = async (shard: ShardState, reason: string): Promise<void> => {
    const through = shard.arrivalThroughMs;
    if (shard.checkpoint === undefined || through === undefined) {
      return;
    }
    const cutoff = now() - (await streamRetentionMs());
    if (through >= cutoff || (shard.iterator !== undefined && now() - shard.expiryCheckedAt < 60_000)) {
      return;
    }
    shard.expiryCheckedAt = now();
    const oldest = reader.oldestRecord === undefined ? undefined : await reader.oldestRecord(streamName, shard.info.shardId);
    if (oldest !== undefined && sequenceBefore(shard.checkpoint, oldest.sequenceNumber) !== true) {
      return;
    }
    // Records that expired arrived before the oldest one left, and before the cutoff.
    const toMs = Math.min(oldest?.approximateArrivalMs ?? cutoff, cutoff);
    if (toMs <= through) {
      return;
    }
    await reportExpired(shard.info.shardId, through, toMs, reason);
    shard.arrivalThroughMs = toMs;
    shard.savedThroughMs = toMs;
  };

  /** Warns, once an hour per shard, when the oldest unread record is older than half the retention. */
  const warnLag = async (shard: ShardState, oldestUnreadMs: number, certain: boolean): Promise<void> => {
    const retention = await streamRetentionMs();
    const behind = now() - oldestUnreadMs;
    if (behind <= retention / 2 || now() - shard.lagWarnedAt < HOUR_MS) {
      return;
    }
    shard.lagWarnedAt = now();
    const hours = (ms: number): number => Math.round((ms / HOUR_MS) * 10) / 10;
    logger.warn(
      certain
        ? 'aggregator is behind the stream by more than half its retention: records it has not read when the retention passes expire unread'
        : 'aggregator has read nothing of a shard for more than half the stream retention while failing: records that arrived since expire unread when the retention passes',
      { shardId: shard.info.shardId, behindHours: hours(behind), retentionHours: hours(retention), expiresInHours: hours(Math.max(0, retention - behind)) },
    );
  };

  const refreshShards = async (): Promise<void> => {
    const listed = await reader.listShards(streamName);
    const saved = await db.query<{ shard_id: string; sequence_number: string | null; shard_ended: boolean; through_ms: number }>(
      `SELECT shard_id, sequence_number, shard_ended, (extract(epoch FROM coalesce(arrival_through, updated_at)) * 1000)::float8 AS through_ms
       FROM stream_checkpoints WHERE stream = $1`,
      [streamName],
    );
    const byShard = new Map(saved.rows.map((r) => [r.shard_id, r]));
    // A parent shard no longer listed that was not read to its end expired unread (its children are
    // read regardless): whatever it held after the checkpoint is gone from the stream.
    const listedIds = new Set(listed.map((s) => s.shardId));
    const parents = new Set(listed.flatMap((s) => [s.parentShardId, s.adjacentParentShardId]).filter((p): p is string => p !== undefined));
    for (const row of saved.rows) {
      if (!row.shard_ended && parents.has(row.shard_id) && !listedIds.has(row.shard_id)) {
        const cutoff = now() - (await streamRetentionMs());
        await reportExpired(row.shard_id, row.through_ms, Math.max(cutoff, row.through_ms + 1), 'parent shard expired unread', { shardEnded: true });
        row.shard_ended = true;
        const known = shards.get(row.shard_id);
        if (known !== undefined) {
          known.ended = true;
        }
      }
    }
    for (const info of listed) {
      if (!shards.has(info.shardId)) {
        const row = byShard.get(info.shardId);
        shards.set(info.shardId, {
          info,
          checkpoint: row?.sequence_number ?? undefined,
          arrivalThroughMs: row === undefined || row.sequence_number === null ? undefined : row.through_ms,
          savedThroughMs: row === undefined ? undefined : row.through_ms,
          iterator: undefined,
          ended: row?.shard_ended ?? false,
          expiryCheckedAt: 0,
          lagWarnedAt: 0,
        });
      }
    }
    refreshAt = now() + refreshMs;
  };

  /** After a checkpoint (with its record's arrival) was committed. */
  const advanceArrival = (shard: ShardState, arrivalMs: number | undefined): void => {
    if (arrivalMs !== undefined) {
      shard.arrivalThroughMs = Math.max(shard.arrivalThroughMs ?? arrivalMs, arrivalMs);
      shard.savedThroughMs = Math.max(shard.savedThroughMs ?? arrivalMs, arrivalMs);
    }
  };

  /** Open shards whose parents, if still listed, have been read to their end (Kinesis ordering). */
  const readable = (): ShardState[] =>
    [...shards.values()].filter((s) => {
      if (s.ended) {
        return false;
      }
      const parents = [s.info.parentShardId, s.info.adjacentParentShardId];
      return parents.every((p) => p === undefined || shards.get(p) === undefined || shards.get(p)?.ended === true);
    });

  /** Reads and applies one batch of a shard; returns whether it should be read again at once. */
  const pollShard = async (shard: ShardState): Promise<boolean> => {
    const shardId = shard.info.shardId;
    await checkExpired(shard, shard.iterator === undefined ? 'reading the shard from its checkpoint' : 'reading on');
    try {
      shard.iterator ??= await reader.shardIterator(streamName, shardId, shard.checkpoint);
    } catch (error) {
      if (!(error instanceof ForeignCheckpointError)) {
        throw error;
      }
      // Forget it, so the checkpoints of this stream can be written (they never go backwards).
      logger.warn('aggregator checkpoint is not a position in this stream (a restored database, or a new data folder); reading the shard from its start, events already counted are skipped by id', { shardId, checkpoint: shard.checkpoint });
      await db.query('UPDATE stream_checkpoints SET sequence_number = NULL WHERE stream = $1 AND shard_id = $2', [streamName, shardId]);
      shard.checkpoint = undefined;
      shard.arrivalThroughMs = undefined;
      return true;
    }
    let out: ShardRecords;
    const readAt = now();
    try {
      // A stream that does not answer fails the poll (and shows in the health report) instead of holding it.
      const timeout = AbortSignal.timeout(readTimeoutMs);
      out = await reader.getRecords(shard.iterator, limit, AbortSignal.any([abort.signal, timeout])).catch((error: unknown) => {
        throw timeout.aborted && !abort.signal.aborted ? new Error(`the stream did not answer GetRecords within ${String(readTimeoutMs)} ms`, { cause: error }) : error;
      });
    } catch (error) {
      if (error instanceof ExpiredIteratorError) {
        logger.info('aggregator shard iterator expired; resuming from the checkpoint', { shardId });
        shard.iterator = undefined;
        return true;
      }
      throw error;
    }
    const firstArrival = out.records[0]?.approximateArrivalMs;
    if (firstArrival !== undefined) {
      await warnLag(shard, firstArrival, true);
    }
    if (out.records.length === 0 && out.nextIterator !== undefined && !out.behind && shard.checkpoint !== undefined) {
      // Caught up: nothing that arrived before this read is unread. Saved now and then, so that a
      // restart after a quiet spell longer than the retention does not take it for a loss.
      shard.arrivalThroughMs = Math.max(shard.arrivalThroughMs ?? readAt, readAt);
      if (readAt - (shard.savedThroughMs ?? 0) >= Math.min(HOUR_MS, (await streamRetentionMs()) / 4)) {
        await db.query('UPDATE stream_checkpoints SET arrival_through = GREATEST(arrival_through, $3::timestamptz) WHERE stream = $1 AND shard_id = $2', [streamName, shardId, new Date(readAt).toISOString()]);
        shard.savedThroughMs = readAt;
      }
    }
    if (out.records.length > 0) {
      const records: StreamRecord[] = out.records.map((r) => ({ ...r, shardId }));
      stats.records += records.length;
      const result = await process(db, records, {
        logger: batchLogger,
        ...options.aggregate,
        checkpoint: (tx, last) => writeCheckpoint(tx, streamName, shardId, last.sequenceNumber, last.approximateArrivalMs),
      });
      stats.processed += result.processed;
      stats.duplicates += result.duplicates;
      stats.deadLettered += result.deadLettered;
      const firstFailure = result.batchItemFailures[0];
      if (firstFailure !== undefined) {
        const failedAt = records.findIndex((r) => r.sequenceNumber === firstFailure.itemIdentifier);
        // Records before the first failure were committed (each with its checkpoint).
        if (failedAt > 0) {
          shard.checkpoint = records[failedAt - 1]!.sequenceNumber;
          advanceArrival(shard, records[failedAt - 1]!.approximateArrivalMs);
        }
        shard.iterator = undefined;
        stats.failedBatches++;
        throw new BatchFailedError(shardId, records.length - Math.max(0, failedAt));
      }
      stats.batches++;
      shard.checkpoint = records[records.length - 1]!.sequenceNumber;
      advanceArrival(shard, records[records.length - 1]!.approximateArrivalMs);
    }
    if (out.nextIterator === undefined) {
      await db.query(
        `INSERT INTO stream_checkpoints (stream, shard_id, sequence_number, shard_ended) VALUES ($1, $2, $3, true)
         ON CONFLICT (stream, shard_id) DO UPDATE SET shard_ended = true, updated_at = now()`,
        [streamName, shardId, shard.checkpoint ?? null],
      );
      shard.ended = true;
      refreshAt = 0;
      logger.info('aggregator finished a closed shard', { shardId });
      return true;
    }
    shard.iterator = out.nextIterator;
    return out.records.length > 0 || out.behind;
  };

  // A call, so the compiler does not assume `stopping` keeps the value it had before an await.
  const isStopping = (): boolean => stopping;

  const loop = async (): Promise<void> => {
    let idleMs = idle.min;
    let errorMs = 0;
    while (!isStopping()) {
      stats.pollingSinceMs = now();
      try {
        if (now() >= refreshAt) {
          await refreshShards();
        }
        let busy = false;
        for (const shard of readable()) {
          if (isStopping()) {
            break;
          }
          busy = (await pollShard(shard)) || busy;
        }
        errorMs = 0;
        if (stats.failingSinceMs !== null) {
          logger.info('aggregator recovered', { failedForSeconds: Math.round((now() - stats.failingSinceMs) / 1000), failedPolls: outage.total });
          outage.total = 0;
          outage.sinceLogged = 0;
        }
        stats.failingSinceMs = null;
        stats.lastError = null;
        stats.pollingSinceMs = null;
        if (busy) {
          idleMs = idle.min;
        } else if (!isStopping()) {
          await sleep(idleMs, abort.signal);
          idleMs = Math.min(idleMs * 2, idle.max);
        }
      } catch (error) {
        stats.pollingSinceMs = null;
        if (isStopping()) {
          break;
        }
        stats.errors++;
        errorMs = errorMs === 0 ? backoff.min : Math.min(errorMs * 2, backoff.max);
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        const first = stats.failingSinceMs === null;
        stats.failingSinceMs ??= now();
        stats.lastError = message;
        outage.total++;
        outage.sinceLogged++;
        if (first || now() - outage.loggedAt >= POLL_FAILURE_LOG_EVERY_MS) {
          logger.warn(first ? 'aggregator poll failed; backing off' : 'aggregator still failing; backing off', { error: message, backoffMs: errorMs, failedPolls: outage.sinceLogged });
          outage.loggedAt = now();
          outage.sinceLogged = 0;
        }
        // While polls fail, records wait in the stream, and expire after its retention: warn in time.
        for (const shard of retentionMs === undefined ? [] : shards.values()) {
          if (!shard.ended && shard.arrivalThroughMs !== undefined) {
            await warnLag(shard, shard.arrivalThroughMs, false).catch(() => undefined);
          }
        }
        await sleep(errorMs, abort.signal);
      }
    }
  };

  return {
    start() {
      if (running !== undefined) {
        return;
      }
      stopping = false;
      abort = new AbortController();
      // The loop catches everything; this only guards against a logger that throws.
      running = loop().catch(() => {
        stats.errors++;
      });
    },
    async stop() {
      if (running === undefined) {
        return;
      }
      stopping = true;
      abort.abort();
      await running;
      running = undefined;
    },
    stats: () => ({ ...stats }),
    positions: () => new Map([...shards].map(([id, s]) => [id, s.checkpoint])),
  };
}

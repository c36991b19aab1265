/**
 * The local stand-in for Lambda's event source mapping: reads every shard of a stream and feeds the
 * aggregator, keeping its position per shard in `stream_checkpoints`. The checkpoint is written in the
 * same transaction as the batch's aggregates, so after a crash the poller resumes exactly after the
 * last committed batch; whatever a half-done batch wrote was rolled back with it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ExpiredIteratorException, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
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

/** The three Kinesis reads the poller makes; a port so tests can fake or disturb them. */
export interface ShardReader {
  listShards(stream: string): Promise<ShardInfo[]>;
  /** AFTER_SEQUENCE_NUMBER when given, else TRIM_HORIZON. */
  shardIterator(stream: string, shardId: string, afterSequenceNumber: string | undefined): Promise<string>;
  /** Throws ExpiredIteratorError when the iterator is too old. */
  getRecords(iterator: string, limit: number, signal?: AbortSignal): Promise<ShardRecords>;
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
  iterator: string | undefined;
  ended: boolean;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

/** Advances a shard's checkpoint, never backwards (a slower, older poller cannot rewind it). */
export async function writeCheckpoint(tx: Queryable, stream: string, shardId: string, sequenceNumber: string): Promise<void> {
  await tx.query(
    `INSERT INTO stream_checkpoints (stream, shard_id, sequence_number) VALUES ($1, $2, $3)
     ON CONFLICT (stream, shard_id) DO UPDATE SET sequence_number = EXCLUDED.sequence_number, updated_at = now()
     WHERE stream_checkpoints.sequence_number IS NULL
        OR stream_checkpoints.sequence_number::numeric < EXCLUDED.sequence_number::numeric`,
    [stream, shardId, sequenceNumber],
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
  const stats = { batches: 0, records: 0, processed: 0, duplicates: 0, deadLettered: 0, failedBatches: 0, errors: 0, failingSinceMs: null as number | null, lastError: null as string | null, pollingSinceMs: null as number | null };
  const readTimeoutMs = options.readTimeoutMs ?? 10_000;
  let running: Promise<void> | undefined;
  let abort = new AbortController();
  let stopping = false;
  let refreshAt = 0;

  const refreshShards = async (): Promise<void> => {
    const listed = await reader.listShards(streamName);
    const saved = await db.query<{ shard_id: string; sequence_number: string | null; shard_ended: boolean }>(
      'SELECT shard_id, sequence_number, shard_ended FROM stream_checkpoints WHERE stream = $1',
      [streamName],
    );
    const byShard = new Map(saved.rows.map((r) => [r.shard_id, r]));
    for (const info of listed) {
      if (!shards.has(info.shardId)) {
        const row = byShard.get(info.shardId);
        shards.set(info.shardId, { info, checkpoint: row?.sequence_number ?? undefined, iterator: undefined, ended: row?.shard_ended ?? false });
      }
    }
    refreshAt = now() + refreshMs;
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
      return true;
    }
    let out: ShardRecords;
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
    if (out.records.length > 0) {
      const records: StreamRecord[] = out.records.map((r) => ({ ...r, shardId }));
      stats.records += records.length;
      const result = await process(db, records, {
        logger: batchLogger,
        ...options.aggregate,
        checkpoint: (tx, last) => writeCheckpoint(tx, streamName, shardId, last.sequenceNumber),
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
        }
        shard.iterator = undefined;
        stats.failedBatches++;
        throw new BatchFailedError(shardId, records.length - Math.max(0, failedAt));
      }
      stats.batches++;
      shard.checkpoint = records[records.length - 1]!.sequenceNumber;
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

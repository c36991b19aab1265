/**
 * The aggregator as a Lambda behind a Kinesis event source mapping with ReportBatchItemFailures:
 * Lambda re-delivers from the lowest reported sequence number, so the handler reports the first
 * failed record and everything after it. The handler never throws, so bisect-on-error (on in
 * pipeline-stack.ts) splits a batch only after a timeout or a crash. Poison records are the
 * aggregator's own business (attempts counted in record_failures, then dead_letters), so a batch
 * comes back failed only when the database is unreachable (every record reported) or the function
 * crashed: the mapping therefore retries without a count limit (MaximumRetryAttempts -1), so an
 * outage blocks the shard (the IteratorAge alarm fires) instead of skipping events, and gives up
 * only at a MaximumRecordAge 12 hours below the stream's retention, sending the batch's shard and
 * sequence numbers to the on-failure queue while the records can still be read (runbook:
 * docs/operations.md, "On-failure queue: replaying a skipped window").
 */
import type { Logger } from '../domain/context.js';
import type { Database } from '../store/db.js';
import type { AggregateOptions, BatchResult, StreamRecord } from './aggregate.js';
import { processBatch } from './aggregate.js';

/** The parts of Lambda's Kinesis record the aggregator reads (aws-lambda's KinesisStreamRecord). */
export interface KinesisStreamRecord {
  readonly kinesis: {
    /** Base64 of the record's bytes. */
    readonly data: string;
    readonly sequenceNumber: string;
    readonly partitionKey: string;
    readonly approximateArrivalTimestamp?: number;
    readonly kinesisSchemaVersion?: string;
  };
  /** `<shardId>:<sequenceNumber>`. */
  readonly eventID: string;
  readonly eventSourceARN?: string;
  readonly eventSource?: string;
  readonly awsRegion?: string;
}

export interface KinesisStreamEvent {
  readonly Records: readonly KinesisStreamRecord[];
}

export interface KinesisStreamBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface KinesisHandlerDeps {
  /** The database, or a lazy factory so cold starts connect once and reuse the pool. */
  readonly db: Database | (() => Promise<Database>);
  readonly options?: AggregateOptions;
  readonly logger?: Logger;
  /** The batch processor; default `processBatch` (the aggregator Lambda adds the explorer hook). */
  readonly process?: (db: Database, records: readonly StreamRecord[], options: AggregateOptions) => Promise<BatchResult>;
}

/** `<shardId>:<sequenceNumber>` → shard id (the event id is the only place Lambda names the shard). */
export function shardIdOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  return colon < 0 ? record.eventID : record.eventID.slice(0, colon);
}

export function toStreamRecords(event: KinesisStreamEvent): StreamRecord[] {
  return event.Records.map((r) => ({
    data: r.kinesis.data,
    sequenceNumber: r.kinesis.sequenceNumber,
    partitionKey: r.kinesis.partitionKey,
    shardId: shardIdOf(r),
  }));
}

export function createKinesisHandler(deps: KinesisHandlerDeps): (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse> {
  let database: Promise<Database> | undefined;
  const getDb = (): Promise<Database> => {
    if (typeof deps.db !== 'function') {
      return Promise.resolve(deps.db);
    }
    const factory = deps.db;
    database ??= factory().catch((error: unknown) => {
      database = undefined;
      throw error;
    });
    return database;
  };
  return async (event) => {
    const records = toStreamRecords(event);
    const everything = (): KinesisStreamBatchResponse => ({ batchItemFailures: records.map((r) => ({ itemIdentifier: r.sequenceNumber })) });
    let db: Database;
    try {
      db = await getDb();
    } catch (error) {
      deps.logger?.error('aggregator cannot reach the database', { error: error instanceof Error ? error.message : String(error) });
      return everything();
    }
    const options: AggregateOptions = deps.logger === undefined ? { ...deps.options } : { logger: deps.logger, ...deps.options };
    const result = await (deps.process ?? processBatch)(db, records, options);
    deps.logger?.info('aggregator batch', {
      records: records.length,
      processed: result.processed,
      duplicates: result.duplicates,
      deadLettered: result.deadLettered,
      failed: result.batchItemFailures.length,
    });
    return { batchItemFailures: result.batchItemFailures };
  };
}

/**
 * Where accepted SDK events go: the Kinesis stream the aggregator consumes. `put` resolves only
 * once every record is stored; otherwise it throws UNAVAILABLE so the caller answers 503 and the
 * client retries (the aggregator drops repeated event ids, so a partly written batch sent again
 * is counted once).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { PutRecordsInput, PutRecordsOutput, PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { PipelineRecord } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';
import { isRetryableAwsError } from './aws-errors.js';
import { createAwsJsonClient } from './aws-json.js';
import type { AwsJsonClient, AwsJsonClientOptions } from './aws-json.js';

export interface EventSink {
  /**
   * Stores every event or throws AppError UNAVAILABLE (details: `{ retryAfterSeconds }`). `stored`
   * hears of the events the stream accepted as they are accepted, also when the put fails later on
   * for others (they are in the stream, so they will be aggregated).
   */
  put(events: readonly PipelineRecord[], stored?: (events: readonly PipelineRecord[]) => void): Promise<void>;
}

/** Kinesis limits for PutRecords. */
export const KINESIS_MAX_RECORDS_PER_CALL = 500;
export const KINESIS_MAX_BYTES_PER_CALL = 5 * 1024 * 1024;
export const KINESIS_MAX_RECORD_BYTES = 1024 * 1024;

/** The PutRecords call the sink makes; `createKinesisPutClient` satisfies it, tests may fake it. */
export interface PutRecordsClient {
  call(operation: 'PutRecords', input: PutRecordsInput, options?: { readonly signal?: AbortSignal }): Promise<PutRecordsOutput>;
}

/**
 * Kinesis over its JSON protocol (aws-json.ts; the SDK client's import alone exceeds the evaluation
 * Lambda's cold-start budget). One attempt per call by default: the sink retries failed records itself.
 * With an endpoint (kinesalite) it uses dummy credentials.
 */
export function createKinesisPutClient(endpoint?: string, region?: string, overrides: Partial<Pick<AwsJsonClientOptions, 'maxAttempts' | 'timeoutMs' | 'credentials'>> = {}): AwsJsonClient {
  return createAwsJsonClient({ service: 'kinesis', targetPrefix: 'Kinesis_20131202', jsonVersion: '1.1', endpoint, region, maxAttempts: 1, ...overrides });
}

export interface KinesisEventSinkOptions {
  readonly client: PutRecordsClient;
  readonly streamName: string;
  /** PutRecords calls per chunk, the first included. Default 5. */
  readonly maxAttempts?: number;
  /** Time allowed for one `put`, retries included; beyond it the put fails UNAVAILABLE. Default 2,000 ms. */
  readonly deadlineMs?: number;
  /** Concurrent `put` calls; one more fails at once with UNAVAILABLE. Default 64. */
  readonly maxInFlight?: number;
  /** First backoff ceiling; doubles per attempt (full jitter), capped at 1 s. Default 50 ms. */
  readonly baseDelayMs?: number;
  /** Seconds clients are told to wait (Retry-After). Default 2. */
  readonly retryAfterSeconds?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Counters for health checks and tests. */
export interface KinesisEventSinkStats {
  /** Records Kinesis accepted. */
  readonly stored: number;
  /** Records re-sent after a per-record failure or a failed call. */
  readonly retried: number;
  /** `put` calls that failed (deadline, attempts, in-flight limit, non-retryable error). */
  readonly failedPuts: number;
  /** `put` calls refused because `maxInFlight` were running. */
  readonly rejectedInFlight: number;
  /** PutRecords calls still unanswered at a put's deadline, left to finish (their slot stays taken until they do). */
  readonly lateWrites: number;
}

export interface KinesisEventSink extends EventSink {
  stats(): KinesisEventSinkStats;
}

const MAX_DELAY_MS = 1_000;
/**
 * How long a PutRecords call unanswered at the deadline may still finish. It may have reached the
 * stream already (the aggregator then applies its records), so it is left to finish rather than
 * abandoned: what it stored is then reported like any stored record (the local archive keeps what
 * the stream holds), and its in-flight slot stays taken meanwhile, so a saturated stream sheds load.
 */
const LATE_WRITE_MS = 30_000;

interface Entry {
  readonly event: PipelineRecord;
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly bytes: number;
}

/** Splits entries into PutRecords calls within the record-count and byte limits, keeping order. */
export function chunkRecords<T extends { readonly bytes: number }>(entries: readonly T[], maxRecords = KINESIS_MAX_RECORDS_PER_CALL, maxBytes = KINESIS_MAX_BYTES_PER_CALL): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (current.length > 0 && (current.length === maxRecords || bytes + e.bytes > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += e.bytes;
  }
  if (current.length > 0) {
    chunks.push(current);
  }
  return chunks;
}

/**
 * The Kinesis record for an event: its JSON, keyed by unit id so one unit's events stay in order on
 * one shard; evaluation counts belong to no unit and are keyed by their own id (spread over shards).
 */
export function toRecord(event: PipelineRecord): Entry {
  const data = Buffer.from(JSON.stringify(event), 'utf8');
  const partitionKey = event.event.type === 'evaluations' ? event.event.id : event.event.unitId;
  return { event, data, partitionKey, bytes: data.byteLength + Buffer.byteLength(partitionKey, 'utf8') };
}

/** The records a PutRecords call stored and those it did not: Kinesis answers one result per record, in order; a missing result counts as a failure. */
function splitByResult(entries: readonly Entry[], out: PutRecordsOutput): { accepted: Entry[]; failed: Entry[] } {
  const results = out.Records ?? [];
  const accepted: Entry[] = [];
  const failed: Entry[] = [];
  entries.forEach((e, i) => {
    (results[i] === undefined || results[i].ErrorCode !== undefined ? failed : accepted).push(e);
  });
  return { accepted, failed };
}

export function createKinesisEventSink(options: KinesisEventSinkOptions): KinesisEventSink {
  const client: PutRecordsClient = options.client;
  const maxAttempts = options.maxAttempts ?? 5;
  const deadlineMs = options.deadlineMs ?? 2_000;
  const maxInFlight = options.maxInFlight ?? 64;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const retryAfterSeconds = options.retryAfterSeconds ?? 2;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const random = options.random ?? Math.random;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || !(deadlineMs > 0) || !Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new TypeError('maxAttempts and maxInFlight must be positive integers, deadlineMs positive');
  }
  let inFlight = 0;
  const counters = { stored: 0, retried: 0, failedPuts: 0, rejectedInFlight: 0, lateWrites: 0 };

  const unavailable = (message: string, cause?: unknown): AppError =>
    new AppError(AppErrorCode.Unavailable, message, { retryAfterSeconds }, cause === undefined ? undefined : { cause });

  const sendChunk = async (chunk: readonly Entry[], deadline: number, stored?: (events: readonly PipelineRecord[]) => void): Promise<void> => {
    let pending = chunk;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1) {
        const ceiling = Math.min(MAX_DELAY_MS, baseDelayMs * 2 ** (attempt - 2));
        const wait = Math.min(Math.floor(random() * ceiling), deadline - now());
        if (wait > 0) {
          await sleep(wait);
        }
        counters.retried += pending.length;
      }
      const remaining = deadline - now();
      if (remaining <= 0) {
        break;
      }
      const records: PutRecordsRequestEntry[] = pending.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey }));
      const call = client.call('PutRecords', { StreamName: options.streamName, Records: records }, { signal: AbortSignal.timeout(remaining + LATE_WRITE_MS) });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadlinePassed = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => {
          resolve('deadline');
        }, remaining);
      });
      let out: PutRecordsOutput | 'deadline';
      try {
        out = await Promise.race([call, deadlinePassed]);
      } catch (error) {
        if (!isRetryable(error)) {
          throw unavailable('Kinesis refused the events; retry later', error);
        }
        lastError = error;
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (out === 'deadline') {
        finishLate(call, pending, stored);
        throw unavailable(`Kinesis did not accept ${pending.length} of ${chunk.length} events in time; retry later`, new Error('PutRecords unanswered at the deadline'));
      }
      const results = out.Records ?? [];
      if ((out.FailedRecordCount ?? 0) === 0 && results.length === pending.length) {
        counters.stored += pending.length;
        stored?.(pending.map((e) => e.event));
        return;
      }
      const { accepted, failed } = splitByResult(pending, out);
      counters.stored += accepted.length;
      stored?.(accepted.map((e) => e.event));
      lastError = new Error(`${failed.length} records failed: ${results.find((r) => r.ErrorCode !== undefined)?.ErrorCode ?? 'missing result'}`);
      pending = failed;
    }
    throw unavailable(`Kinesis did not accept ${pending.length} of ${chunk.length} events in time; retry later`, lastError);
  };

  /** A call unanswered at the deadline: its slot stays taken until it settles, and what it stored is reported then. */
  const finishLate = (call: Promise<PutRecordsOutput>, entries: readonly Entry[], stored?: (events: readonly PipelineRecord[]) => void): void => {
    counters.lateWrites++;
    inFlight++;
    call
      .then(
        (out) => {
          const { accepted } = splitByResult(entries, out);
          counters.stored += accepted.length;
          if (accepted.length > 0) {
            stored?.(accepted.map((e) => e.event));
          }
        },
        () => undefined,
      )
      .finally(() => {
        inFlight--;
      });
  };

  const put = async (events: readonly PipelineRecord[], stored?: (events: readonly PipelineRecord[]) => void): Promise<void> => {
    if (events.length === 0) {
      return;
    }
    if (inFlight >= maxInFlight) {
      counters.rejectedInFlight++;
      counters.failedPuts++;
      throw unavailable('too many event writes in progress; retry later');
    }
    const entries = events.map(toRecord);
    const tooLarge = entries.findIndex((e) => e.bytes > KINESIS_MAX_RECORD_BYTES);
    if (tooLarge >= 0) {
      throw new AppError(AppErrorCode.PayloadTooLarge, `event ${tooLarge} exceeds the Kinesis record limit of ${KINESIS_MAX_RECORD_BYTES} bytes`);
    }
    inFlight++;
    try {
      const deadline = now() + deadlineMs;
      for (const chunk of chunkRecords(entries)) {
        await sendChunk(chunk, deadline, stored);
      }
    } catch (error) {
      counters.failedPuts++;
      throw error;
    } finally {
      inFlight--;
    }
  };

  return { put, stats: () => ({ ...counters }) };
}

const isRetryable = isRetryableAwsError;

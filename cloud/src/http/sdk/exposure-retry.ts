/**
 * Exposures the event sink refused, kept in process memory and sent again in the background, so a
 * stall of the sink (Kinesis throttling, a single box busy for a few seconds) delays them instead of
 * losing them. /sdk/v1/evaluate and the split-URL redirect answer once their exposures were accepted
 * or handed to this buffer; they never wait for a retry.
 *
 * - Events keep their ids: a batch the sink reported failed although Kinesis had stored it (an answer
 *   lost at the deadline, a late write) is sent again and then skipped by the aggregator, which
 *   dedupes by (project id, event id) in `processed_events` in the transaction that applies it
 *   (cloud/src/pipeline/aggregate.ts, `dedupe`), for far longer than any retry waits.
 * - One PutRecords at a time, within Kinesis's limits (500 records, 5 MiB); a batch accepted is
 *   followed by the next at once, a batch refused waits 1 s, doubling to 30 s, each wait between
 *   half and all of that ceiling (jitter: instances that failed together do not retry together, and
 *   never at once). A direct write that succeeds meanwhile ends the wait: the sink is back.
 * - Bounded (50,000 events by default): only a full buffer drops events, the OLDEST first, counted
 *   in `exposuresDropped`. Why the oldest: a unit still being evaluated exposes itself again, so its
 *   newest exposure records it in the experiment (the aggregator keeps the earliest exposure it
 *   gets), and the newest exposures are those of units whose conversions are still to come; dropping
 *   the newest instead would lose every unit first seen late in a long outage.
 * - Logging follows the aggregator's outage pattern (pipeline/poller.ts): one warning when retrying
 *   starts, at most one line a minute while it lasts, one line when the buffer drains; never one
 *   line per failed batch.
 * - Lambda: timers do not run while an invocation is frozen, so retries pause between invocations and
 *   resume on the next one; exposures still waiting when the environment is shut down are lost.
 */
import type { PipelineRecord } from '@xp/shared/edge';
import { MAX_EVENTS_PER_BATCH } from '@xp/shared/edge';
import type { Logger } from '../../domain/context.js';
import type { EventSink } from '../../store/event-sink.js';
import { MetricName } from '../../functions/metrics.js';
import type { MetricSink } from './sdk-outcomes.js';
import { KINESIS_MAX_BYTES_PER_CALL, KINESIS_MAX_RECORDS_PER_CALL, KINESIS_MAX_RECORD_BYTES, toRecord } from '../../store/event-sink.js';

/** The counters the buffer keeps (SdkMetrics has them). */
export interface ExposureRetryMetrics {
  /** Exposures the sink accepted (recovered ones included). */
  exposuresLogged: number;
  /** Exposures lost: the buffer was full, or they were still waiting at shutdown. */
  exposuresDropped: number;
  /** Gauge: exposures waiting for a retry, the batch being sent included. */
  exposuresRetrying: number;
  /** Exposures the sink accepted on a retry. */
  exposuresRecovered: number;
}

export interface ExposureRetryOptions {
  readonly sink: EventSink;
  readonly logger: Logger;
  readonly metrics: ExposureRetryMetrics;
  /**
   * Where the counters also go as metrics (EMF in the evaluation Lambda, the in-process counters
   * behind the local Health view): ExposuresDropped, ExposuresRecovered, and ExposuresRetrying
   * sampled whenever it changes and at every retry (a buffer that waits is sampled at least every
   * `delayMs.max`).
   */
  readonly metricSink?: MetricSink;
  /** Events kept at most; beyond, the oldest are dropped. Default 50,000. */
  readonly maxEvents?: number;
  /** Backoff ceilings after a refused batch: `min` doubling to `max`. Default 1 s to 30 s. */
  readonly delayMs?: { readonly min: number; readonly max: number };
  /** While retrying lasts, one log line at most this often. Default a minute. */
  readonly logEveryMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

export const EXPOSURE_RETRY_MAX_EVENTS = 50_000;
export const EXPOSURE_RETRY_LOG_EVERY_MS = 60_000;
/** How long a shutdown waits for the last send of the buffer. */
export const EXPOSURE_RETRY_CLOSE_MS = 2_000;

const MAX_BATCH_RECORDS = Math.min(MAX_EVENTS_PER_BATCH, KINESIS_MAX_RECORDS_PER_CALL);

/** The bytes the sink counts against a PutRecords call for the event. */
const recordBytes = (e: PipelineRecord): number => toRecord(e).bytes;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class ExposureRetryBuffer {
  private readonly sink: EventSink;
  private readonly logger: Logger;
  private readonly metrics: ExposureRetryMetrics;
  private readonly metricSink: MetricSink | undefined;
  private readonly maxEvents: number;
  private readonly delay: { readonly min: number; readonly max: number };
  private readonly logEveryMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  /** Oldest first; the batch being sent is out of it (`sending`). */
  private queue: PipelineRecord[] = [];
  private sending: readonly PipelineRecord[] = [];
  private pumping: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  /** The sink's last answer was a refusal (a direct write's or a retry's); cleared by its next acceptance. */
  private failing = false;
  private closed = false;
  private droppedAfterClose = false;
  /** The current outage: since when, and what it did; undefined while nothing waits. */
  private outage: { since: number; loggedAt: number; recovered: number; dropped: number; droppedSinceLogged: number; failedSinceLogged: number; fullLogged: boolean } | undefined;

  constructor(options: ExposureRetryOptions) {
    this.sink = options.sink;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.metricSink = options.metricSink;
    this.maxEvents = options.maxEvents ?? EXPOSURE_RETRY_MAX_EVENTS;
    this.delay = options.delayMs ?? { min: 1_000, max: 30_000 };
    this.logEveryMs = options.logEveryMs ?? EXPOSURE_RETRY_LOG_EVERY_MS;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    if (!Number.isInteger(this.maxEvents) || this.maxEvents < 1 || !(this.delay.min > 0) || !(this.delay.max >= this.delay.min)) {
      throw new TypeError('exposure retry: maxEvents must be a positive integer, delayMs.min positive and at most delayMs.max');
    }
  }

  /** Exposures waiting, the batch being sent included. */
  get size(): number {
    return this.queue.length + this.sending.length;
  }

  /**
   * Whether new exposures should wait here rather than try the sink: it refused last, and the
   * retry that will tell when it is back is pending. A request then answers at once instead of
   * waiting out the sink's deadline (2 s for Kinesis) for a likely refusal. Once a write or a
   * retry is accepted, new exposures go to the sink again — in parallel, faster than the one
   * batch at a time of the retries — while the retries drain what waits.
   */
  get holding(): boolean {
    return this.failing && this.outage !== undefined && !this.closed;
  }

  /** Takes new exposures while `holding`: they wait with the refused ones, sent by the next retry. */
  hold(events: readonly PipelineRecord[]): void {
    this.enqueue(this.sendable(events));
  }

  /** Takes events the sink refused (`error` says why); they are sent again later. */
  add(refused: readonly PipelineRecord[], error: unknown): void {
    this.failing = true;
    const events = this.sendable(refused);
    if (events.length === 0) {
      return;
    }
    if (this.closed) {
      this.dropped(events.length);
      if (!this.droppedAfterClose) {
        this.droppedAfterClose = true;
        this.logger.warn('exposures dropped: the event sink refused them after shutdown began', { count: events.length, error: message(error) });
      }
      return;
    }
    if (this.outage === undefined) {
      const at = this.now();
      this.outage = { since: at, loggedAt: at, recovered: 0, dropped: 0, droppedSinceLogged: 0, failedSinceLogged: 0, fullLogged: false };
      this.logger.warn('exposures not logged yet: the event sink refused them; retrying in the background', {
        count: events.length,
        projectIds: [...new Set(events.map((e) => e.projectId))].slice(0, 10),
        error: message(error),
        maxWaiting: this.maxEvents,
      });
    } else {
      this.outage.failedSinceLogged++;
    }
    this.enqueue(events);
  }

  /**
   * The events Kinesis can take, the others counted as dropped: a record it can never take would
   * hold up every retry behind it (the SDK endpoints' body limits keep exposures far below this;
   * the check is cheap insurance).
   */
  private sendable(events: readonly PipelineRecord[]): PipelineRecord[] {
    const fit = events.filter((e) => recordBytes(e) <= KINESIS_MAX_RECORD_BYTES);
    this.dropped(events.length - fit.length);
    return fit;
  }

  /** Queues events to send, within the bound, and makes sure a retry is on its way. */
  private enqueue(events: readonly PipelineRecord[]): void {
    this.queue.push(...events);
    this.trim();
    this.update();
    if (this.timer === undefined && this.pumping === undefined) {
      this.schedule();
    }
  }

  /** The sink accepted a direct write: a retry waiting for its backoff goes now. */
  sinkAccepted(): void {
    this.failing = false;
    if (this.timer !== undefined && !this.closed) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.attempts = 0;
      this.pump();
    }
  }

  /**
   * Shutdown: one last send of what waits, for at most `deadlineMs`; what is left is counted as
   * dropped (a write still unanswered then may yet be stored) with one log line. Later `add`s drop.
   */
  async close(deadlineMs = EXPOSURE_RETRY_CLOSE_MS): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.outage === undefined) {
      return;
    }
    const deadline = this.now() + deadlineMs;
    const within = async (work: Promise<void>): Promise<boolean> => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<false>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, Math.max(0, deadline - this.now()));
      });
      try {
        return await Promise.race([work.then(() => true), late]);
      } finally {
        clearTimeout(timer);
      }
    };
    const waiting = this.size;
    // A batch being sent finishes first (the pump stops after it, the buffer being closed).
    let inTime = this.pumping === undefined || (await within(this.pumping));
    let refused: unknown;
    while (inTime && this.queue.length > 0 && this.now() < deadline) {
      const batch = this.take();
      const sent = this.send(batch).then((error) => {
        refused = error ?? refused;
      });
      inTime = await within(sent);
      if (!inTime || refused !== undefined) {
        break;
      }
    }
    const left = this.size;
    const outage = this.outage;
    this.queue = [];
    this.sending = [];
    this.outage = undefined;
    this.dropped(left);
    this.update();
    const fields = { waiting, recovered: outage.recovered, downSeconds: Math.round((this.now() - outage.since) / 1000) };
    if (left > 0) {
      this.logger.warn('exposures dropped at shutdown: the event sink did not accept them in time', {
        ...fields,
        dropped: left,
        ...(refused === undefined ? {} : { error: message(refused) }),
      });
    } else {
      this.logger.info('exposures recovered at shutdown: the event sink accepted every exposure waiting for retry', fields);
    }
  }

  /** Read through a call: it may change while a send is awaited. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Drops the oldest beyond `maxEvents` (the batch being sent stays: it is on its way). */
  private trim(): void {
    const over = this.size - this.maxEvents;
    if (over <= 0 || this.outage === undefined) {
      return;
    }
    const dropped = Math.min(over, this.queue.length);
    this.queue.splice(0, dropped);
    this.dropped(dropped);
    this.outage.dropped += dropped;
    this.outage.droppedSinceLogged += dropped;
    if (!this.outage.fullLogged) {
      // Once an outage: from then on the minute line carries the count.
      this.outage.fullLogged = true;
      this.logger.warn('exposure retry buffer full: dropping the oldest exposures', { maxWaiting: this.maxEvents, dropped });
    }
  }

  /** Counts exposures lost for good. */
  private dropped(count: number): void {
    if (count > 0) {
      this.metrics.exposuresDropped += count;
      this.metricSink?.put(MetricName.ExposuresDropped, count);
    }
  }

  /** The gauge, sampled when it changes; `always` samples it unchanged too (each retry). */
  private update(always = false): void {
    const size = this.size;
    if (always || size !== this.metrics.exposuresRetrying) {
      this.metricSink?.put(MetricName.ExposuresRetrying, size);
    }
    this.metrics.exposuresRetrying = size;
  }

  private schedule(): void {
    this.attempts++;
    const ceiling = Math.min(this.delay.max, this.delay.min * 2 ** (this.attempts - 1));
    const wait = Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, wait);
    // The buffer never keeps a process alive: a shutdown flushes it through `close`.
    this.timer.unref();
  }

  /** The oldest events, one PutRecords call's worth (records and bytes). */
  private take(): PipelineRecord[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < MAX_BATCH_RECORDS) {
      const next = recordBytes(this.queue[count]!);
      if (count > 0 && bytes + next > KINESIS_MAX_BYTES_PER_CALL) {
        break;
      }
      bytes += next;
      count++;
    }
    const batch = this.queue.splice(0, count);
    this.sending = batch;
    return batch;
  }

  /** Sends one batch; answers the error if the sink refused it (what it did store is not sent again). */
  private async send(batch: readonly PipelineRecord[]): Promise<unknown> {
    const stored = new Set<PipelineRecord>();
    try {
      await this.sink.put(batch, (accepted) => {
        for (const e of accepted) {
          stored.add(e);
        }
      });
      this.failing = false;
      this.recovered(batch.length);
      return undefined;
    } catch (error) {
      this.failing = true;
      this.recovered(stored.size);
      // Back at the front, oldest first, unless a shutdown already counted them.
      if (this.sending === batch) {
        this.queue.unshift(...batch.filter((e) => !stored.has(e)));
      }
      return error ?? new Error('refused');
    } finally {
      if (this.sending === batch) {
        this.sending = [];
      }
      this.update();
    }
  }

  private recovered(count: number): void {
    if (this.outage === undefined || count === 0) {
      return;
    }
    this.metrics.exposuresLogged += count;
    this.metrics.exposuresRecovered += count;
    this.metricSink?.put(MetricName.ExposuresRecovered, count);
    this.outage.recovered += count;
  }

  /** Sends batch after batch until the buffer is empty (recovered) or one is refused (backoff). */
  private pump(): void {
    this.pumping ??= (async () => {
      while (this.queue.length > 0 && !this.closed) {
        const error = await this.send(this.take());
        if (error !== undefined) {
          // A shutdown that began during the send takes over what is left.
          if (this.isClosed()) {
            return;
          }
          this.trim();
          this.update(true);
          this.stillFailing(error);
          this.schedule();
          return;
        }
        this.attempts = 0;
      }
      if (!this.closed && this.size === 0 && this.outage !== undefined) {
        const outage = this.outage;
        this.outage = undefined;
        this.logger.info('exposures recovered: the event sink accepted every exposure waiting for retry', {
          recovered: outage.recovered,
          dropped: outage.dropped,
          seconds: Math.round((this.now() - outage.since) / 100) / 10,
        });
      }
    })().finally(() => {
      this.pumping = undefined;
    });
  }

  /** A refused retry: logged at most once every `logEveryMs`. */
  private stillFailing(error: unknown): void {
    const outage = this.outage;
    if (outage === undefined) {
      return;
    }
    outage.failedSinceLogged++;
    if (this.now() - outage.loggedAt >= this.logEveryMs) {
      this.logger.warn('exposures still waiting for the event sink', {
        waiting: this.size,
        failedWrites: outage.failedSinceLogged,
        droppedSinceLogged: outage.droppedSinceLogged,
        recovered: outage.recovered,
        sinceSeconds: Math.round((this.now() - outage.since) / 1000),
        error: message(error),
      });
      outage.loggedAt = this.now();
      outage.failedSinceLogged = 0;
      outage.droppedSinceLogged = 0;
    }
  }
}

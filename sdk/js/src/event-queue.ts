import type { SdkEvent } from '@xp/shared';
import { backoffDelay, parseRetryAfter, startTimer } from './backoff.js';
import type { HttpError } from './errors.js';
import { XpError } from './errors.js';
import type { Transport } from './transport.js';
import type { Logger } from './types.js';

export const EVENTS_PATH = '/sdk/v1/events';
/**
 * The server's batch limit (MAX_EVENTS_PER_BATCH in @xp/shared), restated here because the module
 * that declares it builds zod schemas, which a browser bundle must not carry; a test pins the two.
 */
export const MAX_EVENTS_PER_BATCH = 500;
/** Browsers refuse keepalive requests whose bodies add up to more than 64 KiB. */
const KEEPALIVE_BODY_LIMIT = 60 * 1024;

export interface EventQueueOptions {
  /** Undefined when offline: events are counted as dropped at flush. */
  readonly transport: Transport | undefined;
  readonly flushIntervalMs: number;
  readonly maxBatchSize: number;
  readonly maxQueueSize: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly random: () => number;
  readonly logger: Logger;
  /** Told of the events dropped without being sent because the queue was full or closed (exposures to log again). */
  readonly onDropped?: (events: readonly SdkEvent[]) => void;
}

/** Retry scheduling runs on the wall clock, not the evaluation clock callers may pin. */
const clock = (): number => Date.now();

type SendOutcome = 'sent' | 'retry' | 'dropped';

/**
 * Batches events (by size and by time), sends them with retries and backoff that honours
 * Retry-After, and keeps at most `maxQueueSize` in memory, dropping the oldest with a warning.
 */
export class EventQueue {
  /**
   * The events are `queue[head…]`: dropping or sending the oldest moves `head` instead of shifting
   * the array, which is compacted once it holds more dead entries than live ones.
   */
  private queue: SdkEvent[] = [];
  private head = 0;
  /** Set by close(): no batch starts after it. */
  private deadline = Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerDue = 0;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private retryAt = 0;
  private unreportedDrops = 0;
  private closed = false;
  sent = 0;
  dropped = 0;
  rejected = 0;

  constructor(private readonly o: EventQueueOptions) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  push(event: SdkEvent): void {
    if (this.closed) {
      this.drop(1, 'the client is closed');
      this.o.onDropped?.([event]);
      return;
    }
    this.queue.push(event);
    this.trim();
    // A send in flight takes what is queued meanwhile; one flush per push would pile up while it lasts.
    if (this.size >= this.o.maxBatchSize && clock() >= this.retryAt && this.flushing === undefined) {
      void this.flush();
    } else {
      this.schedule(this.o.flushIntervalMs);
    }
  }

  /**
   * Sends everything queued, batch by batch; stops at the first retryable failure (the batch goes
   * back to the front and a retry is scheduled). `final` sends even during a Retry-After wait.
   */
  flush(options: { final?: boolean; keepalive?: boolean } = {}): Promise<void> {
    if (this.flushing !== undefined) {
      return this.flushing.then(() => (this.size > 0 ? this.flush(options) : undefined));
    }
    this.flushing = this.drain(options).finally(() => {
      this.flushing = undefined;
      if (this.size > 0) {
        // Whatever is left goes out at the next due time: a pending retry at retryAt (at once if a
        // slow process let that moment pass), events queued meanwhile after the flush interval.
        const wait = this.retryAt - clock();
        this.schedule(this.failures > 0 ? Math.max(0, wait) : wait > 0 ? wait : this.o.flushIntervalMs);
      }
    });
    return this.flushing;
  }

  /**
   * Final flush, retried as Retry-After and the backoff ask while that fits in `budgetMs` (a 503
   * while the API deploys must not lose the queue); then drops what could not be sent.
   */
  async close(budgetMs: number): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.deadline = clock() + budgetMs;
    await this.flush({ final: true });
    // The queue is left over when a send is to be retried at retryAt, or the budget ran out.
    while (this.size > 0 && Math.max(clock(), this.retryAt) < this.deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.retryAt - clock()));
      await this.flush({ final: true });
    }
    this.clear('they could not be sent before close');
    this.reportDrops();
  }

  /** Arms the flush timer for `ms` from now, unless it is already due sooner. */
  private schedule(ms: number): void {
    if (this.closed) {
      return;
    }
    const due = clock() + ms;
    if (this.timer !== undefined) {
      if (this.timerDue <= due) {
        return;
      }
      clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = startTimer(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }

  /** Drops the oldest events beyond maxQueueSize. */
  private trim(): void {
    const excess = this.size - this.o.maxQueueSize;
    if (excess > 0) {
      const dropped = this.take(excess);
      this.drop(excess, `the queue is full (maxQueueSize ${this.o.maxQueueSize})`);
      this.o.onDropped?.(dropped);
    }
  }

  /** Removes and returns the `n` oldest events in O(n), amortised: at the cap, each new event costs O(1), not the whole queue. */
  private take(n: number): SdkEvent[] {
    const taken = this.queue.slice(this.head, (this.head += n));
    if (this.head > this.size) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  /** Drops everything queued (counted). */
  private clear(why: string): void {
    const n = this.size;
    if (n > 0) {
      this.take(n);
      this.drop(n, why);
    }
  }

  private drop(n: number, why: string): void {
    this.dropped += n;
    if (this.unreportedDrops === 0) {
      // The count follows in reportDrops() once sending resumes (or at close).
      this.o.logger.warn(`xp: dropping events (${why})`);
    }
    this.unreportedDrops += n;
  }

  private reportDrops(): void {
    if (this.unreportedDrops > 0) {
      this.o.logger.warn(`xp: ${this.unreportedDrops} events were dropped (${this.dropped} since start)`);
      this.unreportedDrops = 0;
    }
  }

  private async drain(options: { final?: boolean; keepalive?: boolean }): Promise<void> {
    if (options.final !== true && clock() < this.retryAt) {
      return;
    }
    if (this.o.transport === undefined) {
      this.clear('no apiUrl is configured');
      return;
    }
    while (this.size > 0 && clock() < this.deadline) {
      const batch = this.takeBatch(options.keepalive === true);
      const outcome = await this.send(this.o.transport, batch, options.keepalive === true);
      if (outcome === 'retry') {
        // take() of everything leaves an empty queue with head 0.
        this.queue = batch.concat(this.take(this.size));
        this.trim();
        return;
      }
    }
  }

  private takeBatch(keepalive: boolean): SdkEvent[] {
    const size = Math.min(this.o.maxBatchSize, MAX_EVENTS_PER_BATCH, this.size);
    if (!keepalive) {
      return this.take(size);
    }
    let bytes = 0;
    let n = 0;
    while (n < size) {
      bytes += JSON.stringify(this.queue[this.head + n]).length + 1;
      if (bytes > KEEPALIVE_BODY_LIMIT && n > 0) {
        break;
      }
      n++;
    }
    return this.take(n);
  }

  private async send(transport: Transport, batch: SdkEvent[], keepalive: boolean): Promise<SendOutcome> {
    let status: number;
    let text = '';
    let retryAfter: number | undefined;
    try {
      const answer = await transport.request(EVENTS_PATH, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ events: batch }),
        keepalive,
      });
      status = answer.status;
      text = answer.text;
      retryAfter = parseRetryAfter(answer.headers.get('retry-after'), clock());
    } catch (e) {
      return this.retryLater(e instanceof XpError ? e.message : 'request failed', undefined);
    }
    if (status >= 200 && status < 300) {
      this.failures = 0;
      this.retryAt = 0;
      this.accepted(batch, text);
      this.reportDrops();
      return 'sent';
    }
    if (status === 408 || status === 429 || status >= 500) {
      return this.retryLater(`POST ${EVENTS_PATH} answered ${status}`, retryAfter);
    }
    // 400 (no valid event), 401/403 (bad key), 413: sending the same batch again cannot succeed.
    this.rejected += batch.length;
    this.o.logger.error(`xp: ${batch.length} events refused (status ${status}); not retried`, text.slice(0, 500));
    return 'dropped';
  }

  private accepted(batch: readonly SdkEvent[], text: string): void {
    let rejected: readonly { index?: unknown; reason?: unknown }[] = [];
    try {
      const body = JSON.parse(text) as { rejected?: unknown };
      rejected = Array.isArray(body.rejected) ? (body.rejected as { index?: unknown; reason?: unknown }[]) : [];
    } catch {
      // A 2xx without a readable body still means the batch was taken.
    }
    this.rejected += rejected.length;
    this.sent += batch.length - rejected.length;
    if (rejected.length > 0) {
      this.o.logger.warn(`xp: the server rejected ${rejected.length} of ${batch.length} events`, rejected.slice(0, 5));
    }
  }

  private retryLater(why: string, retryAfterMs: HttpError['retryAfterMs']): SendOutcome {
    const delay = Math.max(retryAfterMs ?? 0, backoffDelay(this.failures++, this.o.retryBaseMs, this.o.retryMaxMs, this.o.random));
    this.retryAt = clock() + delay;
    this.o.logger.warn(`xp: sending events failed (${why}); retrying in ${delay} ms`);
    return 'retry';
  }
}

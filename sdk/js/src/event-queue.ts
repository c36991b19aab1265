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
/**
 * Browsers refuse a keepalive request once the bodies of the page's keepalive requests in flight
 * would add up to more than 64 KiB (the Fetch standard's quota; Chromium counts sendBeacon in it
 * too). The page hide burst keeps this client's total within it.
 */
export const KEEPALIVE_BUDGET = 64 * 1024;
/**
 * The body of one keepalive request of the burst (unless one event is bigger): when the page's own
 * keepalive requests hold part of the quota, only the last requests of the burst are refused.
 */
export const KEEPALIVE_REQUEST_BYTES = 16 * 1024;
/** `{"events":[` and `]}`. */
const BODY_OVERHEAD = 13;

/** UTF-8 length of a string, as the body is sent. */
function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      // Two bytes up to U+07FF, three for the rest of the BMP; a surrogate pair (4 bytes) is two units of 2 extra.
      n += c < 0x800 ? 1 : 2;
    }
  }
  return n;
}

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

/** A batch drain() is sending (plain request); `resent` once page hide sent its events again. */
interface InFlight {
  readonly batch: SdkEvent[];
  resent: boolean;
}

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
  private inFlight: InFlight | undefined;
  /** Body bytes of this queue's keepalive requests in flight (see KEEPALIVE_BUDGET). */
  private keepaliveBytes = 0;
  /** Events counted in `sent` or `rejected`: an event sent twice (page hide) is counted once. */
  private readonly counted = new WeakSet<SdkEvent>();
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
  flush(options: { final?: boolean } = {}): Promise<void> {
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

  /**
   * Page hide: sends at once, without waiting for a send in flight, the batch that send holds (an
   * unload aborts it: sending it again may duplicate events, which the pipeline drops by id, rather
   * than lose them) and everything queued, oldest first, in keepalive requests of about
   * KEEPALIVE_REQUEST_BYTES whose bodies add up to at most KEEPALIVE_BUDGET with this queue's
   * keepalive requests still in flight. What does not
   * fit stays queued: if the page lives on (a tab switch, the back/forward cache) it goes out in
   * further bursts as those requests complete, else it is lost with the page.
   */
  sendNow(): void {
    if (this.o.transport === undefined) {
      this.clear('no apiUrl is configured');
      return;
    }
    const events: SdkEvent[] = [];
    const sending = this.inFlight;
    if (sending !== undefined && !sending.resent) {
      sending.resent = true;
      events.push(...sending.batch);
    }
    events.push(...this.take(this.size));
    this.burst(this.o.transport, events);
  }

  private burst(transport: Transport, events: SdkEvent[]): void {
    let budget = KEEPALIVE_BUDGET - this.keepaliveBytes;
    const max = Math.min(this.o.maxBatchSize, MAX_EVENTS_PER_BATCH);
    const chunks: { batch: SdkEvent[]; body: string; bytes: number }[] = [];
    let i = 0;
    while (i < events.length) {
      const start = i;
      const parts: string[] = [];
      let bytes = BODY_OVERHEAD;
      while (i < events.length && parts.length < max) {
        const json = JSON.stringify(events[i]);
        const size = utf8Length(json) + (parts.length > 0 ? 1 : 0);
        if (bytes + size > budget || (parts.length > 0 && bytes + size > KEEPALIVE_REQUEST_BYTES)) {
          break;
        }
        parts.push(json);
        bytes += size;
        i++;
      }
      if (parts.length === 0) {
        break;
      }
      budget -= bytes;
      chunks.push({ batch: events.slice(start, i), body: `{"events":[${parts.join(',')}]}`, bytes });
    }
    if (i < events.length) {
      this.requeue(events.slice(i));
    }
    if (chunks.length === 0) {
      return;
    }
    const outcomes = chunks.map(async (chunk) => {
      this.keepaliveBytes += chunk.bytes;
      const outcome = await this.send(transport, chunk.batch, true, chunk.body);
      this.keepaliveBytes -= chunk.bytes;
      if (outcome === 'retry') {
        this.requeue(chunk.batch);
        this.schedule(Math.max(0, this.retryAt - clock()));
      }
      return outcome;
    });
    void Promise.all(outcomes).then((done) => {
      // The page lived on: what did not fit goes out in the next burst, while the API takes them.
      if (done.every((o) => o !== 'retry') && this.size > 0 && !this.closed) {
        this.burst(transport, this.take(this.size));
      }
    });
  }

  /** Puts events back at the front of the queue (oldest first), within maxQueueSize. */
  private requeue(events: SdkEvent[]): void {
    // take() of everything leaves an empty queue with head 0.
    this.queue = events.concat(this.take(this.size));
    this.trim();
  }

  private async drain(options: { final?: boolean }): Promise<void> {
    if (options.final !== true && clock() < this.retryAt) {
      return;
    }
    if (this.o.transport === undefined) {
      this.clear('no apiUrl is configured');
      return;
    }
    while (this.size > 0 && clock() < this.deadline) {
      const sending: InFlight = { batch: this.take(Math.min(this.o.maxBatchSize, MAX_EVENTS_PER_BATCH, this.size)), resent: false };
      this.inFlight = sending;
      const outcome = await this.send(this.o.transport, sending.batch, false).finally(() => {
        this.inFlight = undefined;
      });
      if (outcome === 'retry') {
        // A batch page hide sent again is that send's to put back if it fails.
        if (!sending.resent) {
          this.requeue(sending.batch);
        }
        return;
      }
    }
  }

  /** How many of the events were not counted as sent or rejected yet; marks them counted. */
  private uncounted(events: readonly SdkEvent[]): number {
    let n = 0;
    for (const e of events) {
      if (!this.counted.has(e)) {
        this.counted.add(e);
        n++;
      }
    }
    return n;
  }

  private async send(transport: Transport, batch: SdkEvent[], keepalive: boolean, body = JSON.stringify({ events: batch })): Promise<SendOutcome> {
    let status: number;
    let text = '';
    let retryAfter: number | undefined;
    try {
      const answer = await transport.request(EVENTS_PATH, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
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
    this.rejected += this.uncounted(batch);
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
    if (rejected.length === 0) {
      this.sent += this.uncounted(batch);
    } else {
      const refused = new Set<unknown>(rejected.map((r) => r.index));
      this.rejected += this.uncounted(batch.filter((_e, i) => refused.has(i)));
      this.sent += this.uncounted(batch.filter((_e, i) => !refused.has(i)));
    }
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

import type { SdkBatchItem } from '@xp/shared';
import { backoffDelay, duration, parseRetryAfter, startTimer } from './backoff.js';
import { Deadline, monotonicNow } from './deadline.js';
import type { HttpError } from './errors.js';
import { XpError, describeError } from './errors.js';
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

/** UTF-8 length of a string, as the body is sent (as TextEncoder counts it, which some edge runtimes lack). */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      // Two bytes up to U+07FF, three for the rest of the BMP (a lone surrogate is sent as U+FFFD);
      // a surrogate pair, two units, is four bytes.
      if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        n += 2;
        i++;
      } else {
        n += c < 0x800 ? 1 : 2;
      }
    }
  }
  return n;
}

/** "3 events (2 exposures)": how many, and how many of them exposures (units missing from results). */
function describeEvents(events: readonly SdkBatchItem[]): string {
  const exposures = events.filter((e) => e.type === 'exposure').length;
  return `${events.length} events${exposures > 0 ? ` (${exposures} exposures: those units are missing from the results)` : ''}`;
}

export interface EventQueueOptions {
  /** Undefined when offline: events are counted as dropped at flush. */
  readonly transport: Transport | undefined;
  readonly flushIntervalMs: number;
  readonly maxBatchSize: number;
  /** Batches sent at the same time while more than one is queued. */
  readonly maxConcurrentBatches: number;
  readonly maxQueueSize: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly random: () => number;
  readonly logger: Logger;
  /** Told of the events dropped without being sent because the queue was full or closed (exposures to log again). */
  readonly onDropped?: (events: readonly SdkBatchItem[]) => void;
  /**
   * Closes the evaluation-count window at each flush (interval, explicit, close, page hide): the
   * records it returns are queued then, behind the events already queued.
   */
  readonly collect?: (() => readonly SdkBatchItem[]) | undefined;
}

/** How many of the items are evaluation-count records. */
function countRecords(items: readonly SdkBatchItem[]): number {
  let n = 0;
  for (const e of items) {
    if (e.type === 'evaluations') {
      n++;
    }
  }
  return n;
}

/**
 * Retry scheduling runs on the wall clock, not the evaluation clock callers may pin; its waits are
 * Deadlines, which a clock set back cannot lengthen.
 */
const clock = (): number => Date.now();

/** Retry-After is honoured up to this long, or retryMaxMs when longer (a broken header, or an HTTP date read on a slow device clock, must not stall events for hours). */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** While sending keeps failing, a reminder is logged at most this often (the first failure is warned at once). */
const OUTAGE_REMINDER_MS = 60_000;

type SendOutcome = 'sent' | 'retry' | 'dropped';

/** Sending has failed since `since` (epoch ms), `attempts` times; last warned at `warnedAt`. */
interface Outage {
  readonly since: number;
  attempts: number;
  warnedAt: number;
}

interface FlushOptions {
  /** An explicit flush: sends without waiting for the backoff (a Retry-After is still honoured). */
  readonly now?: boolean;
  /** close() and process exit: sends even during a Retry-After wait. */
  readonly final?: boolean;
  /**
   * A full batch is sent at once: the evaluation-count window stays open (it closes at the interval,
   * an explicit flush, close and page hide), so a busy server sends a record per interval, not per batch.
   */
  readonly full?: boolean;
}

/** A batch drain() is sending (plain request); `resent` once page hide sent its events again. */
interface InFlight {
  readonly batch: SdkBatchItem[];
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
  private queue: SdkBatchItem[] = [];
  private head = 0;
  /** How many of the queued items are evaluation-count records: a full queue drops them first. */
  private recordsQueued = 0;
  /** Set by close(): no batch starts after it. */
  private deadline = Deadline.NEVER;
  /** Set by close(): when its last attempt starts, at the latest (before the deadline, so timer lateness cannot push it past). */
  private lastStart = Deadline.NEVER;
  /** Set by close() while its last attempt runs: a failure then is not retried. */
  private lastAttempt = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerDue = 0;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private retryAt = Deadline.PAST;
  /** The earliest moment Retry-After allows the next send (past when the API gave none). */
  private retryAfterAt = Deadline.PAST;
  /** Bumped by every retryable failure: the other senders of a flush stop at it. */
  private retryGeneration = 0;
  private unreportedDrops = 0;
  /** Set while sending fails; cleared, with a log line, by the next delivery. */
  private outage: Outage | undefined;
  private closed = false;
  /** The batches being sent (plain requests), at most maxConcurrentBatches. */
  private readonly inFlight = new Set<InFlight>();
  /** Senders of the current flush, and what resolves it when the last one ends. */
  private senders = 0;
  private flushed: (() => void) | undefined;
  /** Rejection codes already warned about (one warning each; the count is in `rejected`). */
  private readonly warnedRejections = new Set<string>();
  /** Body bytes of this queue's keepalive requests in flight (see KEEPALIVE_BUDGET). */
  private keepaliveBytes = 0;
  /** Events counted in `sent` or `rejected`: an event sent twice (page hide) is counted once. */
  private readonly counted = new WeakSet<SdkBatchItem>();
  sent = 0;
  dropped = 0;
  rejected = 0;

  constructor(private readonly o: EventQueueOptions) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  push(event: SdkBatchItem): void {
    if (this.closed) {
      this.drop(1, 'the client is closed');
      this.o.onDropped?.([event]);
      return;
    }
    this.queue.push(event);
    this.trim();
    // A send in flight takes what is queued meanwhile; one flush per push would pile up while it lasts.
    // Another full batch gets a sender of its own, up to maxConcurrentBatches at a time.
    if (this.size >= this.o.maxBatchSize && this.retryAt.passed) {
      if (this.flushing === undefined) {
        void this.flush({ full: true });
      } else if (this.senders < this.o.maxConcurrentBatches) {
        this.startSender({});
      }
    } else {
      this.schedule(this.o.flushIntervalMs);
    }
  }

  /**
   * Sends everything queued, batch by batch; stops at the first retryable failure (the batch goes
   * back to the front and a retry is scheduled). `now` (an explicit flush) sends without waiting
   * for the backoff, though not during a Retry-After wait; `final` sends even then.
   */
  flush(options: FlushOptions = {}): Promise<void> {
    if (options.full !== true) {
      this.closeWindow();
    }
    if (this.flushing !== undefined) {
      const generation = this.retryGeneration;
      // A send that failed meanwhile was this flush's attempt: what is left waits for the backoff it set.
      return this.flushing.then(() => (this.size > 0 ? this.flush(generation === this.retryGeneration ? options : { ...options, now: false }) : undefined));
    }
    const done = new Promise<void>((resolve) => {
      this.flushed = resolve;
    });
    // One sender per full batch queued, up to maxConcurrentBatches; each takes batches until the queue is empty.
    const wanted = Math.min(this.o.maxConcurrentBatches, Math.max(1, Math.ceil(this.size / this.o.maxBatchSize)));
    for (let i = 0; i < wanted; i++) {
      this.startSender(options);
    }
    this.flushing = done.finally(() => {
      this.flushing = undefined;
      if (this.size > 0) {
        // Whatever is left goes out at the next due time: a pending retry at retryAt (at once if a
        // slow process let that moment pass), events queued meanwhile after the flush interval.
        const wait = this.retryAt.left();
        this.schedule(this.failures > 0 ? Math.max(0, wait) : wait > 0 ? wait : this.o.flushIntervalMs);
      }
    });
    return this.flushing;
  }

  /** An evaluation-count window opened: it closes at the next flush, at most flushIntervalMs from now. */
  wake(): void {
    this.schedule(this.o.flushIntervalMs);
  }

  /** Queues the records of the evaluation-count window, which closes now (see EventQueueOptions.collect). */
  private closeWindow(): void {
    const records = this.o.collect?.();
    if (records === undefined || records.length === 0) {
      return;
    }
    for (const r of records) {
      this.queue.push(r);
    }
    this.recordsQueued += records.length;
    this.trim();
  }

  /**
   * The network or the API is back (the browser's `online` event, the ruleset answering again):
   * the backoff starts over and what waits for it is sent now (a Retry-After is still honoured).
   */
  resume(): void {
    if (this.failures === 0 || this.closed) {
      return;
    }
    this.failures = 0;
    this.retryAt = this.retryAfterAt;
    void this.flush();
  }

  private startSender(options: FlushOptions): void {
    this.senders++;
    void this.drain(options).finally(() => {
      if (--this.senders === 0) {
        const resolve = this.flushed;
        this.flushed = undefined;
        resolve?.();
      }
    });
  }

  /**
   * Final flush, retried as Retry-After and the backoff ask within `budgetMs` (a 503 while the API
   * deploys must not lose the queue): when the backoff would wait past the budget, one last attempt
   * is made near its end, if Retry-After allows one by then. Then drops what could not be sent.
   */
  async close(budgetMs: number): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.deadline = Deadline.in(budgetMs);
    // The last attempt starts this long before the deadline, so timer lateness cannot push it past.
    this.lastStart = this.deadline.minus(Math.min(250, budgetMs / 4));
    await this.flush({ final: true });
    // The queue is left over when a send is to be retried at retryAt, or the budget ran out.
    while (this.size > 0 && !this.lastAttempt) {
      const next = this.closingRetry();
      if (next === undefined) {
        break;
      }
      this.lastAttempt = next.last;
      await new Promise((resolve) => setTimeout(resolve, next.inMs));
      await this.flush({ final: true });
    }
    this.clear('they could not be sent before close');
    this.reportDrops();
  }

  /**
   * After close(), when the failed send is tried again: at retryAt, or when that is past the last
   * start, once more near the deadline (if Retry-After allows one by then; undefined if not).
   */
  private closingRetry(): { readonly inMs: number; readonly last: boolean } | undefined {
    const next = Math.max(0, this.retryAt.left());
    const lastStart = this.lastStart.left();
    if (next <= lastStart) {
      return { inMs: next, last: false };
    }
    const last = Math.max(0, this.retryAfterAt.left(), lastStart);
    return last >= this.deadline.left() ? undefined : { inMs: last, last: true };
  }

  /** Arms the flush timer for `ms` from now, unless it is already due sooner. */
  private schedule(ms: number): void {
    if (this.closed) {
      return;
    }
    const due = monotonicNow() + ms;
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

  /** Drops the events beyond maxQueueSize: evaluation-count records first (the oldest of them), then the oldest events. */
  private trim(): void {
    let excess = this.size - this.o.maxQueueSize;
    if (excess > 0 && this.recordsQueued > 0) {
      excess -= this.dropRecords(excess);
    }
    if (excess > 0) {
      const dropped = this.take(excess);
      this.drop(excess, `the queue is full (maxQueueSize ${this.o.maxQueueSize})`);
      this.o.onDropped?.(dropped);
    }
  }

  /** Drops up to `n` evaluation-count records, oldest first; returns how many. */
  private dropRecords(n: number): number {
    const kept: SdkBatchItem[] = [];
    let dropped = 0;
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.type === 'evaluations' && dropped < n) {
        dropped++;
      } else {
        kept.push(e);
      }
    }
    this.queue = kept;
    this.head = 0;
    this.recordsQueued -= dropped;
    this.drop(dropped, `the queue is full (maxQueueSize ${this.o.maxQueueSize}); evaluation counts go first, exposures and tracked events are kept`);
    return dropped;
  }

  /** Removes and returns the `n` oldest events in O(n), amortised: at the cap, each new event costs O(1), not the whole queue. */
  private take(n: number): SdkBatchItem[] {
    const taken = this.queue.slice(this.head, (this.head += n));
    if (this.recordsQueued > 0) {
      this.recordsQueued -= countRecords(taken);
    }
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
   * Page hide: sends at once, without waiting for a send in flight, everything queued, oldest
   * first, then the batches the sends in flight hold (an unload aborts them, though the server has
   * often received them already: sending them again may duplicate events, which the pipeline drops
   * by id, rather than lose them), in keepalive requests of about KEEPALIVE_REQUEST_BYTES whose
   * bodies add up to at most KEEPALIVE_BUDGET with this queue's keepalive requests still in flight.
   * Queued events that do not fit stay queued: if the page lives on (a tab switch, the
   * back/forward cache) they go out in further bursts as those requests complete, else they are
   * lost with the page; an in-flight batch that does not fit is left to its own send.
   */
  sendNow(): void {
    if (this.o.transport === undefined) {
      this.clear('no apiUrl is configured');
      return;
    }
    this.closeWindow();
    const queued = this.take(this.size);
    const resend = [...this.inFlight].filter((s) => !s.resent);
    const fitted = this.burst(
      this.o.transport,
      queued.concat(...resend.map((s) => s.batch)),
      queued.length,
    );
    // A batch the burst carries whole is the burst's to put back if it fails; one it does not
    // (or only partly) stays its plain send's.
    let end = queued.length;
    for (const s of resend) {
      end += s.batch.length;
      if (end <= fitted) {
        s.resent = true;
      }
    }
  }

  /** Sends the events in keepalive requests within the budget; puts back the first `requeueUpTo` that do not fit; returns how many went. */
  private burst(transport: Transport, events: SdkBatchItem[], requeueUpTo = events.length): number {
    let budget = KEEPALIVE_BUDGET - this.keepaliveBytes;
    const max = Math.min(this.o.maxBatchSize, MAX_EVENTS_PER_BATCH);
    const chunks: { batch: SdkBatchItem[]; body: string; bytes: number }[] = [];
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
    if (i < requeueUpTo) {
      this.requeue(events.slice(i, requeueUpTo));
    }
    if (chunks.length === 0) {
      return i;
    }
    const outcomes = chunks.map(async (chunk) => {
      this.keepaliveBytes += chunk.bytes;
      const outcome = await this.send(transport, chunk.batch, true, chunk.body);
      this.keepaliveBytes -= chunk.bytes;
      if (outcome === 'retry') {
        this.requeue(chunk.batch);
        this.schedule(Math.max(0, this.retryAt.left()));
      }
      return outcome;
    });
    void Promise.all(outcomes).then((done) => {
      // The page lived on: what did not fit goes out in the next burst, while the API takes them.
      if (done.every((o) => o !== 'retry') && this.size > 0 && !this.closed) {
        this.burst(transport, this.take(this.size));
      }
    });
    return i;
  }

  /** Puts events back at the front of the queue (oldest first), within maxQueueSize. */
  private requeue(events: SdkBatchItem[]): void {
    // take() of everything leaves an empty queue with head 0.
    const rest = this.take(this.size);
    this.queue = events.concat(rest);
    this.recordsQueued += countRecords(this.queue);
    this.trim();
  }

  private async drain(options: FlushOptions): Promise<void> {
    if (!(options.final === true ? Deadline.PAST : options.now === true ? this.retryAfterAt : this.retryAt).passed) {
      return;
    }
    if (this.o.transport === undefined) {
      this.clear('no apiUrl is configured');
      return;
    }
    const generation = this.retryGeneration;
    // Another sender's retryable failure stops this one too: the API asked for a pause.
    while (this.size > 0 && !this.deadline.passed && generation === this.retryGeneration) {
      const sending: InFlight = { batch: this.take(Math.min(this.o.maxBatchSize, MAX_EVENTS_PER_BATCH, this.size)), resent: false };
      this.inFlight.add(sending);
      const outcome = await this.send(this.o.transport, sending.batch, false).finally(() => {
        this.inFlight.delete(sending);
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
  private uncounted(events: readonly SdkBatchItem[]): number {
    let n = 0;
    for (const e of events) {
      if (!this.counted.has(e)) {
        this.counted.add(e);
        n++;
      }
    }
    return n;
  }

  private async send(transport: Transport, batch: SdkBatchItem[], keepalive: boolean, body = JSON.stringify({ events: batch })): Promise<SendOutcome> {
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
      return this.retryLater(e instanceof XpError ? describeError(e) : 'request failed', undefined, batch.length);
    }
    if (status >= 200 && status < 300) {
      this.failures = 0;
      this.retryAt = Deadline.PAST;
      this.retryAfterAt = Deadline.PAST;
      if (this.outage !== undefined) {
        this.o.logger.info(`xp: events delivered again, after ${this.outage.attempts} failed attempts over ${duration(clock() - this.outage.since)}`);
        this.outage = undefined;
      }
      const again = this.accepted(batch, text);
      if (again.length > 0) {
        this.requeue(again);
        this.schedule(0);
      }
      this.reportDrops();
      return 'sent';
    }
    if (status === 408 || status === 429 || status >= 500) {
      return this.retryLater(`POST ${EVENTS_PATH} answered ${status}`, retryAfter, batch.length);
    }
    // 400 (no valid event), 401/403 (bad key), 413: sending the same batch again cannot succeed.
    this.rejected += this.uncounted(batch);
    if (this.firstRejection(`status ${status}`)) {
      this.o.logger.error(`xp: ${describeEvents(batch)} refused (status ${status}); not retried (further refusals are counted in getStats().rejectedEvents)`, text.slice(0, 500));
    }
    return 'dropped';
  }

  /** Whether this kind of refusal is new (warned once; later ones only counted, and logged at debug). */
  private firstRejection(kind: string): boolean {
    if (this.warnedRejections.has(kind)) {
      this.o.logger.debug(`xp: events refused (${kind})`);
      return false;
    }
    this.warnedRejections.add(kind);
    return true;
  }

  /**
   * Counts a 2xx answer's accepted and rejected events, and warns once per rejection code (an
   * exposure refused means its unit is missing from the results); returns the events to send again
   * (BATCH_LIMIT: the batch was over the server's limit, the event itself is fine).
   */
  private accepted(batch: readonly SdkBatchItem[], text: string): SdkBatchItem[] {
    let rejected: readonly { index?: unknown; code?: unknown; reason?: unknown }[] = [];
    try {
      const body = JSON.parse(text) as { rejected?: unknown };
      rejected = Array.isArray(body.rejected) ? (body.rejected as { index?: unknown; code?: unknown; reason?: unknown }[]) : [];
    } catch {
      // A 2xx without a readable body still means the batch was taken.
    }
    if (rejected.length === 0) {
      this.sent += this.uncounted(batch);
      return [];
    }
    const again = new Set<unknown>(rejected.filter((r) => r.code === 'BATCH_LIMIT').map((r) => r.index));
    const refused = rejected.filter((r) => r.code !== 'BATCH_LIMIT');
    const refusedAt = new Set<unknown>(refused.map((r) => r.index));
    const refusedEvents = batch.filter((_e, i) => refusedAt.has(i));
    this.rejected += this.uncounted(refusedEvents);
    this.sent += this.uncounted(batch.filter((_e, i) => !refusedAt.has(i) && !again.has(i)));
    const codes = new Set(refused.map((r) => (typeof r.code === 'string' ? r.code : 'rejected')));
    if ([...codes].filter((code) => this.firstRejection(code)).length > 0) {
      this.o.logger.warn(
        `xp: the server refused ${describeEvents(refusedEvents)} of ${batch.length}; sending them again cannot help, so they are lost (further refusals are counted in getStats().rejectedEvents)`,
        refused.slice(0, 5),
      );
    }
    return batch.filter((_e, i) => again.has(i));
  }

  /** Schedules the retry of a failed send of `batchSize` events, and says so (see logFailure). */
  private retryLater(why: string, retryAfterMs: HttpError['retryAfterMs'], batchSize: number): SendOutcome {
    const hinted = retryAfterMs === undefined ? undefined : Math.min(retryAfterMs, Math.max(this.o.retryMaxMs, MAX_RETRY_AFTER_MS));
    const delay = Math.max(hinted ?? 0, backoffDelay(this.failures++, this.o.retryBaseMs, this.o.retryMaxMs, this.o.random));
    this.retryGeneration++;
    this.retryAt = Deadline.in(delay);
    // Without Retry-After there is no window: an explicit flush() tries at once.
    this.retryAfterAt = hinted === undefined ? Deadline.PAST : Deadline.in(hinted);
    this.outage ??= { since: clock(), attempts: 0, warnedAt: -Infinity };
    this.outage.attempts++;
    if (!this.closed) {
      this.logFailure(this.outage, why, delay, batchSize);
      return 'retry';
    }
    // Closing: the retry close() makes, if its deadline leaves time for one (the drop is logged next if not).
    const retry = this.lastAttempt ? undefined : this.closingRetry();
    if (retry !== undefined) {
      this.o.logger.warn(`xp: sending events failed (${why}); retrying in ${Math.round(retry.inMs)} ms`);
    } else {
      const late = !this.lastAttempt && this.retryAfterAt.left() >= this.deadline.left();
      this.o.logger.warn(`xp: sending events failed (${why}); not retried: ${late ? "the API asked to wait (Retry-After) past close()'s deadline" : "close()'s deadline has come"}`);
    }
    return 'retry';
  }

  /**
   * One warning when sending starts failing, then a reminder at most every OUTAGE_REMINDER_MS while
   * it lasts (each attempt at debug), as for the ruleset's outages: a retry every few seconds must
   * not flood the console.
   */
  private logFailure(outage: Outage, why: string, retryInMs: number, batchSize: number): void {
    const now = clock();
    const failed = `xp: sending events failed (${why}); retrying in ${retryInMs} ms`;
    // A clock set back since the last warning brings the reminder forward rather than silencing it.
    if (now - outage.warnedAt < OUTAGE_REMINDER_MS && now >= outage.warnedAt) {
      this.o.logger.debug(failed);
      return;
    }
    const first = outage.attempts === 1;
    outage.warnedAt = now;
    // The failed batch is not back in the queue yet.
    const waiting = this.size + batchSize;
    this.o.logger.warn(
      first
        ? failed
        : `xp: sending events still failing (${why}): ${outage.attempts} attempts failed over ${duration(now - outage.since)}, ${waiting} events waiting${this.unreportedDrops > 0 ? `, ${this.unreportedDrops} dropped so far` : ''}; retrying in ${retryInMs} ms`,
    );
  }
}

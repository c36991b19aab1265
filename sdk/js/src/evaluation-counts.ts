import type { EvaluationsEvent } from '@xp/shared';
import { utf8Length } from './event-queue.js';
import { wellFormed } from './sanitize.js';
import type { Logger } from './types.js';

/**
 * (flag, variation) pairs per `evaluations` record: the API's MAX_EVALUATION_COUNTS, restated
 * because the module that declares it builds zod schemas (see MAX_EVENTS_PER_BATCH); a test pins the two.
 */
export const MAX_EVALUATION_COUNTS = 100;
/**
 * Distinct (flag, variation) pairs kept per window: flag keys made from user input (10,000 made-up
 * keys) must not grow memory without bound. A new pair beyond it closes the window early (its
 * records are queued, as at a flush) and opens the next with that pair: nothing is dropped here,
 * and the event queue's own limit bounds the records.
 */
export const MAX_EVALUATION_PAIRS = 1000;
/** The longest flag key the API takes in a record. */
const MAX_FLAG_KEY = 200;
/** A record's body stays below the API's 16 KiB per event (100 pairs of 200-character keys would not). */
const MAX_RECORD_BYTES = 15 * 1024;
/** `start` is at most this long before `timestamp` (the API's rule): a window left open longer (a sleeping laptop) is dated to its last hour. */
const MAX_WINDOW_MS = 60 * 60_000;
/** One entry's bytes beyond its keys: `{"flag":"","variation":"","count":1000000000},`. */
const ENTRY_OVERHEAD = 48;

/**
 * One flag's counts: `counts[i]` evaluations served `variations[i]` (null: the default). Scanned,
 * not hashed: a flag serves a handful of variations, and comparing the served key (the ruleset's
 * own string) is cheaper than a second Map lookup. Incremented in place: counting allocates nothing.
 */
interface FlagTallies {
  readonly variations: (string | null)[];
  readonly counts: number[];
}

export interface EvaluationCounterOptions {
  /** The client's clock (epoch ms), as the other events' timestamps. */
  readonly now: () => number;
  readonly newId: () => string;
  readonly logger: Logger;
  /** Called when a window opens (its first evaluation): the queue arms its flush timer, once per window. */
  readonly opened: () => void;
  /**
   * Called when the window holds MAX_EVALUATION_PAIRS pairs and a new one is evaluated: the owner
   * closes it now (calls close() and queues the records, as at a flush) and sends soon. The new pair
   * then opens the next window.
   */
  readonly full: () => void;
  /** The application every record names (`appName`, checked by the client); undefined: none. */
  readonly app?: string | undefined;
}

/**
 * Counts the evaluations of the public API by (flag key asked, variation served; null for the
 * caller's default) over a window, which the event queue closes at each flush (and early, through
 * `full`, when a new pair would exceed MAX_EVALUATION_PAIRS): the counts then leave as `evaluations`
 * records of at most MAX_EVALUATION_COUNTS pairs, each naming the client's application (`app`) when it
 * has one. No unit id, no attributes.
 */
export class EvaluationCounter {
  /** flag key → variation key (null: the caller's default) → count. */
  private window = new Map<string, FlagTallies>();
  private pairs = 0;
  /** When the window opened (epoch ms, the client's clock); meaningful while `pairs > 0`. */
  private start = 0;
  /** Whether a window closed early (MAX_EVALUATION_PAIRS reached) was warned about: once per client. */
  private warnedFull = false;

  constructor(private readonly o: EvaluationCounterOptions) {}

  /** One evaluation: O(1); allocates only the first time a pair is seen in a window. */
  count(flag: string, variation: string | null): void {
    const tallies = this.window.get(flag);
    if (tallies !== undefined) {
      const variations = tallies.variations;
      for (let i = 0; i < variations.length; i++) {
        if (variations[i] === variation) {
          tallies.counts[i]!++;
          return;
        }
      }
    }
    this.add(flag, variation, tallies);
  }

  private add(flag: string, variation: string | null, seen: FlagTallies | undefined): void {
    if (typeof flag !== 'string') {
      // Plain JavaScript can pass anything; the API counts keys.
      return;
    }
    if (this.pairs >= MAX_EVALUATION_PAIRS) {
      // Closed early rather than dropping the pair: dropped pairs would follow call order, the same
      // flags lost every window (a flag in use looking unused).
      const message = `xp: evaluation counts: ${MAX_EVALUATION_PAIRS} distinct (flag, variation) pairs of ${this.window.size} distinct flag keys were evaluated in one window (flag keys made from input?); the window is closed and sent early, and the next opened, so nothing is dropped, at the cost of more records`;
      if (this.warnedFull) {
        this.o.logger.debug(message);
      } else {
        this.warnedFull = true;
        this.o.logger.warn(`${message} (warned once; later windows at debug level)`);
      }
      this.o.full();
      if (this.pairs >= MAX_EVALUATION_PAIRS) {
        // An owner that did not close the window: the cap holds all the same (this evaluation is not counted).
        return;
      }
    }
    // The flag's tallies, unless the window they were in just closed.
    let tallies = this.pairs === 0 ? undefined : seen;
    if (this.pairs === 0) {
      this.start = this.o.now();
      this.o.opened();
    }
    this.pairs++;
    if (tallies === undefined) {
      this.window.set(flag, (tallies = { variations: [], counts: [] }));
    }
    tallies.variations.push(variation);
    tallies.counts.push(1);
  }

  /** Closes the window: its counts as records (none when nothing was evaluated); a new window starts empty. */
  close(): EvaluationsEvent[] {
    if (this.pairs === 0) {
      return [];
    }
    const window = this.window;
    const opened = this.start;
    this.window = new Map();
    this.pairs = 0;
    const timestamp = Math.max(0, Math.floor(this.o.now()));
    // A clock set back since the window opened, or a window left open past an hour, still makes a record the API takes.
    const start = Math.min(timestamp, Math.max(Math.floor(opened), timestamp - MAX_WINDOW_MS));
    // Keys as the API stores them (unpaired surrogates as U+FFFD), which may merge two pairs into one.
    const merged = new Map<string, { flag: string; variation: string | null; count: number }>();
    for (const [key, tallies] of window) {
      if (key === '' || key.length > MAX_FLAG_KEY || key.includes('\0')) {
        // A key the API refuses would lose the whole record: no flag can have it, so it is left out.
        continue;
      }
      const flag = wellFormed(key);
      tallies.variations.forEach((variation, i) => {
        const count = tallies.counts[i]!;
        const id = `${flag}\u0000${variation ?? ''}\u0000${variation === null ? 'd' : 'v'}`;
        const entry = merged.get(id);
        if (entry === undefined) {
          merged.set(id, { flag, variation, count });
        } else {
          entry.count += count;
        }
      });
    }
    const records: EvaluationsEvent[] = [];
    let counts: EvaluationsEvent['counts'][number][] = [];
    let bytes = 0;
    const app = this.o.app;
    const emit = (): void => {
      records.push(app === undefined ? { type: 'evaluations', id: this.o.newId(), start, timestamp, counts } : { type: 'evaluations', id: this.o.newId(), app, start, timestamp, counts });
      counts = [];
      bytes = 0;
    };
    for (const entry of merged.values()) {
      const size = ENTRY_OVERHEAD + utf8Length(JSON.stringify(entry.flag)) + (entry.variation === null ? 4 : utf8Length(entry.variation));
      if (counts.length === MAX_EVALUATION_COUNTS || (counts.length > 0 && bytes + size > MAX_RECORD_BYTES)) {
        emit();
      }
      // The API's ceiling per pair; a window never comes near it (a billion evaluations between two flushes).
      counts.push({ flag: entry.flag, variation: entry.variation, count: Math.min(entry.count, 1_000_000_000) });
      bytes += size;
    }
    if (counts.length > 0) {
      emit();
    }
    return records;
  }
}

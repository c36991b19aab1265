/**
 * A server-sent event stream fed by polling the database: every `pollMs` it reads what came after
 * its cursor (in pages of `batch`), writes one message per item, a heartbeat comment when idle, and
 * closes when the client goes, a read fails, or `maxSeconds` have passed (clients reconnect with
 * Last-Event-ID). Polling, not LISTEN/NOTIFY, so it works the same on PostgreSQL, PGlite and across
 * instances. Used by the event explorer and the change feed.
 */
import type { Logger } from '../domain/context.js';
import { AppError, AppErrorCode } from '../errors.js';

export interface PollingStreamOptions<T> {
  /** Where the stream starts (the last id the client saw, or the newest one). */
  readonly cursor: number;
  /** Items after `cursor`, oldest first, at most `limit`. */
  readonly read: (cursor: number, limit: number) => Promise<readonly T[]>;
  readonly cursorOf: (item: T) => number;
  /** One SSE message (ending with a blank line). */
  readonly format: (item: T) => string;
  readonly signal: AbortSignal;
  readonly maxSeconds: number;
  readonly logger: Logger;
  /** Named in the warning when a read fails. */
  readonly name: string;
  readonly pollMs?: number;
  readonly heartbeatMs?: number;
  readonly batch?: number;
  /**
   * Whether the caller may still read, asked once per `heartbeatMs`: false closes the stream (a
   * disabled user, a revoked session or token).
   */
  readonly stillAuthorized?: () => Promise<boolean>;
  /** Called once when the stream ends, however it ends (frees the caller's stream slot). */
  readonly onClose?: () => void;
}

/** 429 for a stream the caller may not open: they hold the most already. */
export const tooManyStreams = (): AppError =>
  new AppError(AppErrorCode.RateLimited, `you hold ${String(MAX_STREAMS_PER_USER)} open streams on this server, the most one user may; close one (another tab, a script) and retry`, { retryAfterSeconds: 5 });

/** Open management streams one user may hold on one instance (a console tab holds one or two). */
export const MAX_STREAMS_PER_USER = 20;

/**
 * Per-user counts of open management streams: each polls the database every second, so one user
 * (a script, a leaked token) opening thousands would load it for everyone. `acquire` returns the
 * release, or undefined when the user holds the most already.
 */
export class StreamSlots {
  private readonly held = new Map<string, number>();

  constructor(private readonly max = MAX_STREAMS_PER_USER) {}

  acquire(userId: string): (() => void) | undefined {
    const n = this.held.get(userId) ?? 0;
    if (n >= this.max) {
      return undefined;
    }
    this.held.set(userId, n + 1);
    let released = false;
    return () => {
      if (!released) {
        released = true;
        const left = (this.held.get(userId) ?? 1) - 1;
        if (left <= 0) {
          this.held.delete(userId);
        } else {
          this.held.set(userId, left);
        }
      }
    };
  }
}

export const SSE_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' } as const;

export function pollingStream<T>(options: PollingStreamOptions<T>): ReadableStream<Uint8Array> {
  const { read, cursorOf, format, signal, logger } = options;
  const pollMs = options.pollMs ?? 1_000;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const batch = options.batch ?? 200;
  const deadline = Date.now() + options.maxSeconds * 1000;
  const encoder = new TextEncoder();
  let cursor = options.cursor;
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = Date.now();
  let lastAuthorized = Date.now();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false;
      const close = (): void => {
        if (closed) {
          return;
        }
        closed = true;
        clearTimeout(timer);
        options.onClose?.();
        try {
          controller.close();
        } catch {
          // the consumer already cancelled
        }
      };
      signal.addEventListener('abort', close);
      const tick = async (): Promise<void> => {
        try {
          if (options.stillAuthorized !== undefined && Date.now() - lastAuthorized >= heartbeatMs) {
            if (!(await options.stillAuthorized())) {
              close();
              return;
            }
            lastAuthorized = Date.now();
          }
          for (;;) {
            const items = await read(cursor, batch);
            for (const item of items) {
              controller.enqueue(encoder.encode(format(item)));
              cursor = Math.max(cursor, cursorOf(item));
              lastWrite = Date.now();
            }
            if (items.length < batch) {
              break;
            }
          }
          if (Date.now() - lastWrite >= heartbeatMs) {
            controller.enqueue(encoder.encode(': heartbeat\n\n'));
            lastWrite = Date.now();
          }
        } catch (error) {
          logger.warn(`${options.name} stream: read failed; closing`, { error: error instanceof Error ? error.message : String(error) });
          close();
          return;
        }
        if (closed || signal.aborted || Date.now() >= deadline) {
          close();
          return;
        }
        timer = setTimeout(() => void tick(), pollMs);
      };
      controller.enqueue(encoder.encode('retry: 3000\n\n'));
      void tick();
    },
    cancel() {
      clearTimeout(timer);
      options.onClose?.();
    },
  });
}

/**
 * A stream's `read` that also delivers rows committed late. Cursors (audit ids, explorer sequence
 * numbers) are taken when a row is inserted, not when its transaction commits, so a row can become
 * visible after a larger cursor was already sent. Each read goes back to where the cursor stood
 * `lookBackMs` ago and skips what this stream already sent; rows committing later than that are missed.
 */
export function lateCommitReader<T>(
  read: (after: number, limit: number) => Promise<readonly T[]>,
  cursorOf: (item: T) => number,
  lookBackMs: number,
  now: () => number = Date.now,
): (cursor: number, limit: number) => Promise<T[]> {
  const sent = new Map<number, number>();
  const cursors: { readonly at: number; readonly cursor: number }[] = [];
  return async (cursor, limit) => {
    const t = now();
    cursors.push({ at: t, cursor });
    while (cursors.length > 1 && cursors[1]!.at <= t - lookBackMs) {
      cursors.shift();
    }
    for (const [id, at] of sent) {
      if (at < t - 2 * lookBackMs) {
        sent.delete(id);
      }
    }
    const from = Math.min(cursor, cursors[0]!.cursor);
    const rows = await read(from, limit + sent.size);
    const fresh = rows.filter((r) => !sent.has(cursorOf(r))).slice(0, limit);
    for (const r of fresh) {
      sent.set(cursorOf(r), t);
    }
    return fresh;
  };
}

/**
 * How long a stream may stay open here. In Lambda the response is buffered until the handler
 * returns (API Gateway also cuts requests at 30 s), so a stream there answers what is pending and
 * closes: clients see a poll and reconnect after their back-off.
 */
export function streamSeconds(requested: number, env: NodeJS.ProcessEnv = process.env): number {
  return env.AWS_LAMBDA_FUNCTION_NAME === undefined ? requested : 0;
}

/** The Last-Event-ID header as a cursor, when it is one. */
export function lastEventId(header: string | undefined): number | undefined {
  return header !== undefined && /^\d{1,18}$/.test(header) ? Number(header) : undefined;
}

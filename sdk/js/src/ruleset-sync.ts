import { backoffDelay, parseRetryAfter, startTimer } from './backoff.js';
import { HttpError, NetworkError, XpError, XpErrorCode } from './errors.js';
import { SseParser } from './sse.js';
import type { SseMessage } from './sse.js';
import type { Transport } from './transport.js';
import type { Logger } from './types.js';

export const RULESET_PATH = '/sdk/v1/ruleset';
export const STREAM_PATH = '/sdk/v1/stream';

export interface RulesetSyncOptions {
  readonly transport: Transport;
  /** Ask for the list of server-side-only keys beside the ruleset (`?include=serverOnly`; server keys). */
  readonly includeServerOnly: boolean;
  readonly streaming: boolean;
  readonly pollIntervalMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly streamIdleTimeoutMs: number;
  readonly random: () => number;
  readonly logger: Logger;
  /** Offers a downloaded ruleset (JSON text or object); returns an error when it was refused. */
  readonly offer: (candidate: unknown) => XpError | undefined;
}

/**
 * Keeps the ruleset fresh: one conditional GET at start, then the event stream (re-fetching when
 * it announces a new ETag) with polling whenever the stream is down, both retried with backoff.
 */
export class RulesetSync {
  private etag: string | undefined;
  private closed = false;
  private connected = false;
  private inFlight: Promise<XpError | undefined> | undefined;
  private again = false;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private pollFailures = 0;
  private streamFailures = 0;
  private abortStream: (() => void) | undefined;
  private readonly waits = new Set<() => void>();

  constructor(private readonly o: RulesetSyncOptions) {}

  /** Whether the event stream is connected and has delivered its first event. */
  get streaming(): boolean {
    return this.connected;
  }

  /** Starts syncing; resolves with the first fetch's outcome (undefined on success). */
  start(): Promise<XpError | undefined> {
    const first = this.refresh();
    void first.then((error) => {
      if (this.closed) {
        return;
      }
      this.pollFailures = error === undefined ? 0 : 1;
      this.schedulePoll(error === undefined ? this.o.pollIntervalMs : this.retryDelay(0, error));
      if (this.o.streaming) {
        void this.runStream();
      }
    });
    return first;
  }

  /** Fetches the ruleset now; concurrent calls share one request, plus one more if asked meanwhile. */
  refresh(): Promise<XpError | undefined> {
    if (this.inFlight !== undefined) {
      this.again = true;
      return this.inFlight;
    }
    const run = async (): Promise<XpError | undefined> => {
      let error: XpError | undefined;
      do {
        this.again = false;
        error = await this.fetchOnce();
      } while (this.shouldRepeat());
      this.inFlight = undefined;
      return error;
    };
    this.inFlight = run();
    return this.inFlight;
  }

  /** Read through a method: the flags change while awaiting, which narrowing cannot see. */
  private shouldRepeat(): boolean {
    return this.again && !this.closed;
  }

  private isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer !== undefined) {
      clearTimeout(this.pollTimer);
    }
    this.abortStream?.();
    for (const wake of this.waits) {
      wake();
    }
    this.waits.clear();
  }

  private async fetchOnce(): Promise<XpError | undefined> {
    try {
      const answer = await this.o.transport.request(this.o.includeServerOnly ? `${RULESET_PATH}?include=serverOnly` : RULESET_PATH, {
        headers: { Accept: 'application/json', ...(this.etag === undefined ? {} : { 'If-None-Match': this.etag }) },
      });
      if (answer.status === 304) {
        return undefined;
      }
      if (answer.status !== 200) {
        return new HttpError(answer.status, `GET ${RULESET_PATH} answered ${answer.status}`, parseRetryAfter(answer.headers.get('retry-after'), Date.now()));
      }
      const refused = this.o.offer(answer.text);
      if (refused !== undefined) {
        return refused;
      }
      this.etag = answer.headers.get('etag') ?? undefined;
      return undefined;
    } catch (e) {
      return e instanceof XpError ? e : new NetworkError(XpErrorCode.Network, 'ruleset request failed', { cause: e });
    }
  }

  private retryDelay(failures: number, error: XpError | undefined): number {
    const hinted = error instanceof HttpError ? error.retryAfterMs : undefined;
    return Math.max(hinted ?? 0, backoffDelay(failures, this.o.retryBaseMs, this.o.retryMaxMs, this.o.random));
  }

  private schedulePoll(ms: number): void {
    if (this.closed) {
      return;
    }
    this.pollTimer = startTimer(() => {
      void this.poll();
    }, ms);
  }

  private async poll(): Promise<void> {
    if (this.connected) {
      this.schedulePoll(this.o.pollIntervalMs);
      return;
    }
    const error = await this.refresh();
    if (error === undefined) {
      this.pollFailures = 0;
      this.schedulePoll(this.o.pollIntervalMs);
    } else {
      // One warning per outage, not one per retry (a failed start is the client's to report).
      if (this.pollFailures === 0) {
        this.o.logger.warn(`xp: ruleset refresh failed (${error.code}); retrying`, error);
      }
      // Never poll faster than the configured interval once backoff has grown past it.
      this.schedulePoll(Math.min(Math.max(this.o.pollIntervalMs, this.o.retryBaseMs), this.retryDelay(this.pollFailures++, error)));
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waits.delete(wake);
        resolve();
      };
      const timer = startTimer(wake, ms);
      this.waits.add(wake);
    });
  }

  private async runStream(): Promise<void> {
    while (!this.closed) {
      let error: XpError | undefined;
      try {
        await this.readStream();
        error = new NetworkError(XpErrorCode.Network, 'the event stream ended');
      } catch (e) {
        error = e instanceof XpError ? e : new NetworkError(XpErrorCode.Network, 'the event stream failed', { cause: e });
      }
      this.connected = false;
      // Releases the connection (and its controller) however it ended: refused, broken or ended by the server.
      this.abortStream?.();
      this.abortStream = undefined;
      if (this.isClosed()) {
        return;
      }
      this.o.logger.debug(`xp: event stream down (${error.message}); polling until it reconnects`);
      await this.wait(this.retryDelay(this.streamFailures++, error));
    }
  }

  /** Reads one stream connection to its end; true when it delivered at least one event. */
  private async readStream(): Promise<boolean> {
    const { response, abort } = await this.o.transport.stream(STREAM_PATH, { Accept: 'text/event-stream' });
    this.abortStream = abort;
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw new HttpError(response.status, `GET ${STREAM_PATH} answered ${response.status}`, parseRetryAfter(response.headers.get('retry-after'), Date.now()));
    }
    if (this.closed) {
      abort();
      return false;
    }
    let delivered = false;
    let idle = startTimer(abort, this.o.streamIdleTimeoutMs);
    const parser = new SseParser((message) => {
      if (!delivered) {
        // A stream that worked: whatever breaks it later (an outage, a proxy's idle reset) is a new
        // first failure, retried after about retryBaseMs, not one more in a growing series.
        delivered = true;
        this.streamFailures = 0;
      }
      this.connected = true;
      this.onMessage(message);
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return delivered;
        }
        clearTimeout(idle);
        idle = startTimer(abort, this.o.streamIdleTimeoutMs);
        parser.push(decoder.decode(value, { stream: true }));
      }
    } finally {
      clearTimeout(idle);
      reader.releaseLock();
    }
  }

  private onMessage(message: SseMessage): void {
    if (message.event !== 'ruleset') {
      return;
    }
    let data: { etag?: unknown; ruleset?: unknown };
    try {
      data = JSON.parse(message.data) as { etag?: unknown; ruleset?: unknown };
    } catch {
      this.o.logger.warn('xp: ignoring a stream event whose data is not JSON');
      return;
    }
    if (typeof data.etag === 'string' && data.etag === this.etag) {
      return;
    }
    if (data.ruleset !== undefined && typeof data.etag === 'string') {
      if (this.o.offer(data.ruleset) === undefined) {
        this.etag = data.etag;
      }
      return;
    }
    void this.refresh().then((error) => {
      if (error !== undefined) {
        this.o.logger.warn(`xp: ruleset refresh (stream) failed (${error.code}); serving the last known ruleset`, error);
      }
    });
  }
}

import { backoffDelay, duration, parseRetryAfter, startTimer } from './backoff.js';
import { Deadline, monotonicNow } from './deadline.js';
import { HttpError, NetworkError, XpError, XpErrorCode, describeError } from './errors.js';
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
  /**
   * Longest wait between stream reconnect attempts (jittered; a Retry-After may ask for longer), and
   * between polls while the stream is down when shorter than `pollIntervalMs`. Default 5000.
   */
  readonly streamRetryMaxMs?: number;
  readonly streamIdleTimeoutMs: number;
  readonly random: () => number;
  readonly logger: Logger;
  /** Offers a downloaded ruleset (JSON text or object); returns an error when it was refused. */
  readonly offer: (candidate: unknown) => XpError | undefined;
  /** The version of the ruleset being served (undefined before any). */
  readonly heldVersion: () => number | undefined;
  /** Share one event stream between the pages of an origin (leader election over Web Locks). */
  readonly share?: StreamShare | undefined;
  /**
   * The API refused the SDK key (401 or 403), told once until a request succeeds again (`false`
   * then). The sync keeps retrying, at the slowest backoff, so a key the API accepts again works
   * without a restart.
   */
  readonly keyRefused?: (refused: HttpError | false) => void;
  /** The API answers again after failures (a poll, or the stream delivering after it broke): the client's other requests need not wait out their backoff. */
  readonly recovered?: () => void;
  /**
   * Whether the client was given its own fetch (`options.fetch`). When false, a global Response
   * without `body` (React Native's whatwg-fetch) means the stream cannot be read: polling from the
   * start. Undefined: not known, so only the run-time check applies (see STREAM_RECHECK_MS).
   */
  readonly customFetch?: boolean | undefined;
}

/**
 * How often a stream that never answered while ruleset requests did (a fetch that reads whole
 * bodies, or a proxy buffering them) is tried again: a network path can change (a phone leaving a
 * buffering Wi-Fi proxy), and one request held for timeoutMs every 10 minutes costs little.
 */
export const STREAM_RECHECK_MS = 10 * 60_000;

/**
 * Stream answers that say the API does not serve the stream here: these statuses, or a 404 whose JSON
 * error code is STREAM_NOT_AVAILABLE (a deployment behind API Gateway, which buffers responses).
 * Permanent, not an outage: the client polls every pollIntervalMs, warned once, and tries the
 * stream again every STREAM_RECHECK_MS. A plain 404 (a wrong apiUrl, a proxy during a deploy) is an
 * outage like any other, retried with backoff.
 */
const STREAM_NOT_SERVED: ReadonlySet<number> = new Set([405, 410, 501]);
const STREAM_NOT_AVAILABLE = 'STREAM_NOT_AVAILABLE';
/** Bytes of a 404's body read for its error code: the API's JSON error is far shorter. */
const ERROR_BODY_LIMIT = 4096;

/** Stream attempts in a row that must time out waiting for headers, while a ruleset request succeeds, before the fetch is taken as unable to stream. */
const SILENT_ATTEMPTS = 2;

/** Whether the global Response can have a streaming body: false for React Native's (whatwg-fetch over XHR, no `body`); true when unknown. */
export function globalResponseStreams(): boolean {
  const response = (globalThis as { Response?: unknown }).Response;
  return typeof response !== 'function' || 'body' in (response as { prototype: object }).prototype;
}

/** A stream request answered 200 without a readable body: this fetch cannot stream (React Native's, node-fetch 2). */
class UnreadableStreamError extends NetworkError {
  override readonly name: string = 'UnreadableStreamError';
}

/** A stream request answered that the API does not serve the stream here (see STREAM_NOT_SERVED). */
class StreamNotServedError extends HttpError {
  override readonly name: string = 'StreamNotServedError';
}

/** The parts of the Web Locks API (`navigator.locks`) a shared stream uses. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

/** The parts of `BroadcastChannel` a shared stream uses. */
export interface BroadcastChannelLike {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

/** How the pages of an origin share one stream: a lock and a channel of the same name. */
export interface StreamShare {
  /** Derived from the API URL and a hash of the key (never the key itself). */
  readonly name: string;
  readonly locks: LockManagerLike;
  readonly openChannel: (name: string) => BroadcastChannelLike;
}

/** What the stream announced last: a ruleset newer than the one held is fetched until it arrives. */
interface Announced {
  readonly version: number | undefined;
  readonly etag: string;
}

/** Messages between the pages sharing a stream. */
type PeerMessage =
  | { readonly type: 'hello' }
  | { readonly type: 'state'; readonly streaming: boolean; readonly polling?: boolean; readonly version?: number | undefined; readonly etag?: string }
  | { readonly type: 'announce'; readonly version?: number; readonly etag: string }
  | { readonly type: 'ruleset'; readonly version: number; readonly etag: string | undefined; readonly text: string };

/** Retry-After is honoured during catch-up, up to this long (a broken header must not stall a kill switch for hours). */
const MAX_CATCH_UP_DELAY_MS = 5 * 60_000;

/** The ruleset the client holds is older than the one the stream announced (see ClientStats.rulesetLag). */
export interface RulesetLag {
  readonly announcedVersion: number | undefined;
  readonly heldVersion: number | undefined;
  /** Epoch ms since which the client has been behind. */
  readonly since: number;
  /** Why the last attempt to fetch the announced ruleset did not get it. */
  readonly lastError: string | undefined;
}

/** A ruleset version as the stream gives it: a non-negative integer, else unknown. */
function versionOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** FNV-1a (two 32-bit lanes) of a string as hex: names a shared stream after the key without revealing it. */
export function keyHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/**
 * Keeps the ruleset fresh: one conditional GET at start, then the event stream (re-fetching when
 * it announces a new ETag, with retries until the announced version arrives) with polling whenever
 * the stream is down, both retried with backoff. With `share`, the pages of an origin hold one
 * stream: the page holding the lock streams and passes what it gets on over a BroadcastChannel.
 */
export class RulesetSync {
  private etag: string | undefined;
  private closed = false;
  private connected = false;
  private inFlight: Promise<XpError | undefined> | undefined;
  private again = false;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the poll timer fires, and whether a poll is running: at most one of either. */
  private pollDueAt: Deadline | undefined;
  private polling = false;
  private pollFailures = 0;
  private streamFailures = 0;
  private abortStream: (() => void) | undefined;
  /** Set while the stream waits to reconnect: cuts the wait short (not before `streamNotBefore`, a Retry-After). */
  private wakeStream: (() => void) | undefined;
  private streamNotBefore = 0;
  /** The stream broke and that was logged (once per outage); cleared, with a log line, when it is back. */
  private streamOutage = false;
  /** Set while the fetch is taken as unable to stream: polls every pollIntervalMs (warned once). */
  private cannotStream = false;
  private cannotStreamWarned = false;
  /** Stream attempts in a row that timed out waiting for headers, and when the first of them started (monotonic ms). */
  private silentAttempts = 0;
  private silentSince = 0;
  /** When a ruleset request last got an answer (200 or 304; monotonic ms). */
  private answeredAt = -Infinity;
  private readonly waits = new Set<() => void>();
  /** The newest ruleset the stream (or the leader page) announced. */
  private announced: Announced | undefined;
  /** Set while catching up: the next fetch skips If-None-Match and asks caches to revalidate. */
  private bypassCache = false;
  private catchingUp = false;
  private lag: { since: number; lastError: string | undefined; warned: boolean } | undefined;
  /** Whether the API refused the key (401/403) since the last request it accepted. */
  private keyRefused = false;
  /** Shared stream: whether this page holds the lock (and the stream), the channel, the lock request's abort. */
  private leader = false;
  private channel: BroadcastChannelLike | undefined;
  private abortLock: AbortController | undefined;
  private releaseLock: (() => void) | undefined;

  constructor(private readonly o: RulesetSyncOptions) {}

  /** Whether the event stream (this page's, or the leader page's when shared) is connected and has delivered its first event. */
  get streaming(): boolean {
    return this.connected;
  }

  /** Whether this page holds the shared stream (always false without `share`). */
  get sharedStreamLeader(): boolean {
    return this.leader;
  }

  /** Set while the ruleset held is older than the one announced. */
  get rulesetLag(): RulesetLag | undefined {
    if (this.lag === undefined || !this.behind()) {
      return undefined;
    }
    return { announcedVersion: this.announced?.version, heldVersion: this.o.heldVersion(), since: this.lag.since, lastError: this.lag.lastError };
  }

  /** Starts syncing; resolves with the first fetch's outcome (undefined on success). */
  start(): Promise<XpError | undefined> {
    if (this.o.streaming && this.o.customFetch === false && !globalResponseStreams()) {
      this.fallBackToPolling('this runtime\'s Response has no streaming body (React Native\'s fetch reads whole responses)', false);
    }
    const first = this.refresh();
    void first.then((error) => {
      if (this.closed) {
        return;
      }
      this.pollFailures = error === undefined ? 0 : 1;
      this.schedulePoll(error === undefined ? this.o.pollIntervalMs : this.retryDelay(0, error));
      if (this.o.streaming && !this.cannotStream) {
        if (this.o.share === undefined) {
          void this.runStream();
        } else {
          this.runShared(this.o.share);
        }
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
    if (this.closed) {
      return;
    }
    this.closed = true;
    if (this.pollTimer !== undefined) {
      clearTimeout(this.pollTimer);
    }
    if (this.leader) {
      this.post({ type: 'state', streaming: false });
    }
    this.abortStream?.();
    for (const wake of this.waits) {
      wake();
    }
    this.waits.clear();
    this.abortLock?.abort();
    this.releaseLock?.();
    this.channel?.close();
    this.channel = undefined;
  }

  /** Whether the ruleset held is older than the one announced (by version, else by ETag). */
  private behind(): boolean {
    const a = this.announced;
    if (a === undefined) {
      return false;
    }
    const held = this.o.heldVersion();
    if (a.version !== undefined) {
      return held === undefined || held < a.version;
    }
    return a.etag !== this.etag;
  }

  /**
   * A newer ruleset was announced: fetched at once, then again with backoff (Retry-After honoured,
   * jittered, capped at retryMaxMs) while what arrives is older than announced or the fetch fails,
   * bypassing caches after the first miss; one warning per lag, stopped by close().
   */
  private async catchUp(initialDelayMs: number): Promise<void> {
    if (this.catchingUp) {
      return;
    }
    this.catchingUp = true;
    try {
      if (initialDelayMs > 0) {
        await this.wait(initialDelayMs);
      }
      for (let attempt = 0; this.behind() && !this.isClosed(); attempt++) {
        this.bypassCache = attempt > 0;
        const announcedBefore = this.announced;
        const error = await this.refresh();
        if (this.isClosed() || !this.behind()) {
          break;
        }
        if (error === undefined && this.announced !== announcedBefore) {
          // A newer ruleset was announced while this fetch ran (two changes published together):
          // what it brought is older because it left first, not because the API lags. Fetch again now.
          attempt = -1;
          continue;
        }
        const why =
          error === undefined ? `the API served version ${this.o.heldVersion() ?? '(none)'}, older than the announced ${this.announced?.version ?? this.announced?.etag}` : `${error.code}: ${describeError(error)}`;
        this.lag ??= { since: Date.now(), lastError: undefined, warned: false };
        this.lag.lastError = why;
        if (!this.lag.warned) {
          this.lag.warned = true;
          // The message alone: an expected, retried condition needs no stack trace.
          this.o.logger.warn(`xp: the ruleset announced by the stream could not be fetched (${why}); serving the last known ruleset and retrying`);
        }
        await this.wait(Math.min(this.retryDelay(attempt, error), Math.max(this.o.retryMaxMs, MAX_CATCH_UP_DELAY_MS)));
      }
    } finally {
      this.catchingUp = false;
      this.bypassCache = false;
    }
    if (this.lag !== undefined && !this.behind()) {
      if (this.lag.warned) {
        this.o.logger.info(`xp: caught up with the announced ruleset (version ${this.o.heldVersion() ?? '?'})`);
      }
      this.lag = undefined;
    }
    this.noteReconnected();
  }

  /** Records an announcement (from the stream or the leader page); true when it is news. */
  private announce(version: number | undefined, etag: string): boolean {
    const previous = this.announced;
    if (previous?.version !== undefined && version !== undefined && version < previous.version) {
      // A lagging instance's stream: the newer announcement still stands.
      return false;
    }
    this.announced = { version, etag };
    if (!this.behind()) {
      return false;
    }
    this.lag ??= { since: Date.now(), lastError: undefined, warned: false };
    return true;
  }

  /** Shared stream: listen to the leader page, and queue for the lock to become the leader. */
  private runShared(share: StreamShare): void {
    let channel: BroadcastChannelLike;
    try {
      channel = share.openChannel(share.name);
    } catch (e) {
      this.o.logger.debug('xp: no BroadcastChannel; streaming alone', e);
      void this.runStream();
      return;
    }
    this.channel = channel;
    channel.onmessage = (event) => {
      this.onPeer(event.data);
    };
    // The leader answers with its state and the last version it announced (missed while this page started).
    this.post({ type: 'hello' });
    const abort = new AbortController();
    this.abortLock = abort;
    share.locks
      .request(share.name, { signal: abort.signal }, async () => {
        if (this.isClosed()) {
          return;
        }
        this.leader = true;
        this.connected = false;
        this.o.logger.debug('xp: this page now holds the shared ruleset stream');
        // Held until close(): the lock (and the stream) passes to another page when this one goes.
        const held = new Promise<void>((resolve) => {
          this.releaseLock = resolve;
        });
        await Promise.race([this.runStream(), held]);
        this.leader = false;
      })
      .catch((e: unknown) => {
        if (!this.isClosed()) {
          this.o.logger.debug('xp: the shared stream lock failed; streaming alone', e);
          void this.runStream();
        }
      });
  }

  private post(message: PeerMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      // A closed channel (the page is going away).
    }
  }

  private onPeer(raw: unknown): void {
    if (this.closed || typeof raw !== 'object' || raw === null) {
      return;
    }
    const m = raw as Partial<Record<string, unknown>>;
    const etag = typeof m.etag === 'string' ? m.etag : undefined;
    const version = versionOf(m.version);
    switch (m.type) {
      case 'hello':
        if (this.leader) {
          this.post({
            type: 'state',
            streaming: this.connected,
            ...(this.cannotStream ? { polling: true } : {}),
            ...(this.announced === undefined ? {} : { version: this.announced.version, etag: this.announced.etag }),
          });
        }
        return;
      case 'state':
        if (!this.leader) {
          this.connected = m.streaming === true;
          // The leader cannot stream (the API does not serve it, or the fetch cannot read it): it polls
          // every pollIntervalMs, and so does this page, not at the outage interval.
          this.cannotStream = m.polling === true;
          // The leader's stream is down: poll at the outage interval meanwhile.
          this.pollSoon();
          if (etag !== undefined && this.announce(version, etag)) {
            void this.catchUp(this.o.transport.timeoutMs);
          }
        }
        return;
      case 'announce':
        if (!this.leader && etag !== undefined && this.announce(version, etag)) {
          // The leader fetches it and passes it on: fetched here only if that has not happened in time.
          void this.catchUp(this.o.transport.timeoutMs);
        }
        return;
      case 'ruleset': {
        const held = this.o.heldVersion();
        if (!this.leader && typeof m.text === 'string' && version !== undefined && (held === undefined || version > held) && this.o.offer(m.text) === undefined) {
          this.etag = etag;
        }
        return;
      }
      default:
    }
  }

  private async fetchOnce(): Promise<XpError | undefined> {
    try {
      // Catching up after a stale answer (a lagging instance or cache): a full, revalidated copy.
      const conditional = this.etag !== undefined && !this.bypassCache;
      const answer = await this.o.transport.request(this.o.includeServerOnly ? `${RULESET_PATH}?include=serverOnly` : RULESET_PATH, {
        headers: { Accept: 'application/json', ...(conditional ? { 'If-None-Match': this.etag as string } : {}), ...(this.bypassCache ? { 'Cache-Control': 'no-cache' } : {}) },
      });
      if (answer.status === 304) {
        this.answeredAt = monotonicNow();
        this.keyAccepted();
        return undefined;
      }
      if (answer.status !== 200) {
        return this.httpError(answer.status, `GET ${RULESET_PATH} answered ${answer.status}`, answer.headers);
      }
      this.answeredAt = monotonicNow();
      this.keyAccepted();
      const before = this.o.heldVersion();
      const refused = this.o.offer(answer.text);
      if (refused !== undefined) {
        return refused;
      }
      this.etag = answer.headers.get('etag') ?? undefined;
      const version = this.o.heldVersion();
      if (this.leader && version !== undefined && version !== before) {
        this.post({ type: 'ruleset', version, etag: this.etag, text: answer.text });
      }
      return undefined;
    } catch (e) {
      return e instanceof XpError ? e : new NetworkError(XpErrorCode.Network, 'ruleset request failed', { cause: e });
    }
  }

  /** An HTTP error for a status; a refused key (401/403) is reported, once until the API accepts it again. */
  private httpError(status: number, message: string, headers: Headers): HttpError {
    const error = new HttpError(status, message, parseRetryAfter(headers.get('retry-after'), Date.now()));
    if (error.code === XpErrorCode.Unauthorized && !this.keyRefused) {
      this.keyRefused = true;
      this.o.keyRefused?.(error);
    }
    return error;
  }

  private keyAccepted(): void {
    if (this.keyRefused) {
      this.keyRefused = false;
      this.o.keyRefused?.(false);
    }
  }

  /**
   * Backoff up to `maxMs` (or Retry-After); a refused key (401/403) is retried at the slowest
   * backoff (`retryMaxMs`): it rarely starts working soon.
   */
  private retryDelay(failures: number, error: XpError | undefined, maxMs = this.o.retryMaxMs): number {
    const hinted = error instanceof HttpError ? error.retryAfterMs : undefined;
    const refused = error?.code === XpErrorCode.Unauthorized;
    return Math.max(hinted ?? 0, backoffDelay(refused ? 30 : failures, this.o.retryBaseMs, refused ? this.o.retryMaxMs : maxMs, this.o.random));
  }

  private get streamRetryMaxMs(): number {
    const ms = this.o.streamRetryMaxMs;
    return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : 5000;
  }

  /** The poll interval while the stream is down: `pollIntervalMs`, or `streamRetryMaxMs` when shorter. */
  private get outagePollMs(): number {
    return this.o.streaming && !this.cannotStream ? Math.min(this.o.pollIntervalMs, this.streamRetryMaxMs) : this.o.pollIntervalMs;
  }

  /** The next poll's delay: `pollIntervalMs`; while the stream is down, the outage interval, jittered when shortened. */
  private pollDelay(): number {
    if (this.connected || this.outagePollMs >= this.o.pollIntervalMs) {
      return this.o.pollIntervalMs;
    }
    return this.outagePollMs / 2 + (this.o.random() * this.outagePollMs) / 2;
  }

  private schedulePoll(ms: number): void {
    if (this.closed) {
      return;
    }
    if (this.pollTimer !== undefined) {
      clearTimeout(this.pollTimer);
    }
    this.pollDueAt = Deadline.in(ms);
    this.pollTimer = startTimer(() => {
      this.pollTimer = undefined;
      this.pollDueAt = undefined;
      void this.poll();
    }, ms);
  }

  /** The stream went down: the next poll comes within the outage interval (a poll scheduled while streaming may be `pollIntervalMs` away). */
  private pollSoon(): void {
    // A failing poll keeps its own schedule (backoff capped at the outage interval, Retry-After, a refused key's slowest).
    if (this.closed || this.polling || this.connected || this.pollDueAt === undefined || this.pollFailures > 0 || this.keyRefused) {
      return;
    }
    const ms = this.pollDelay();
    if (this.pollDueAt.left() > ms) {
      this.schedulePoll(ms);
    }
  }

  private async poll(): Promise<void> {
    if (this.connected) {
      this.schedulePoll(this.o.pollIntervalMs);
      return;
    }
    this.polling = true;
    const error = await this.refresh();
    this.polling = false;
    if (error === undefined) {
      const recovered = this.pollFailures > 0;
      this.pollFailures = 0;
      if (recovered) {
        // The API answers again: the stream need not wait out a backoff grown during the outage.
        this.reconnectStreamNow();
        this.o.recovered?.();
      }
      this.schedulePoll(this.pollDelay());
    } else {
      // One warning per outage, not one per retry (a failed start is the client's to report, a refused
      // key keyRefused's); the message alone: an expected, retried condition needs no stack trace.
      if (this.pollFailures === 0 && error.code !== XpErrorCode.Unauthorized) {
        this.o.logger.warn(`xp: ruleset refresh failed (${error.code}: ${describeError(error)}); retrying`);
      }
      const delay = this.retryDelay(this.pollFailures++, error);
      if (error.code === XpErrorCode.Unauthorized) {
        // A refused key at the slowest backoff.
        this.schedulePoll(Math.max(this.o.pollIntervalMs, delay));
      } else {
        // Backoff, but never slower than the poll interval (the outage interval while the stream is down);
        // a Retry-After is honoured up to pollIntervalMs.
        const hinted = error instanceof HttpError ? Math.min(error.retryAfterMs ?? 0, this.o.pollIntervalMs) : 0;
        this.schedulePoll(Math.min(Math.max(this.outagePollMs, this.o.retryBaseMs, hinted), delay));
      }
    }
  }

  /**
   * The network is back (the browser's `online` event, a laptop waking up): a stream waiting to
   * reconnect tries now, and a poll in failure backoff runs now, instead of at the end of a backoff
   * grown while offline (a Retry-After is still honoured by the stream).
   */
  online(): void {
    this.reconnectStreamNow();
    if (this.pollFailures > 0 && !this.polling) {
      this.schedulePoll(0);
    }
  }

  /** Ends the stream's reconnect wait now, or when the last Retry-After allows. */
  private reconnectStreamNow(): void {
    this.wakeStream?.();
  }

  /** The stream's reconnect wait: `ms`, cut short by reconnectStreamNow() (never before `notBefore`), or by close(). */
  private streamPause(ms: number, notBefore: Deadline): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waits.delete(done);
        this.wakeStream = undefined;
        resolve();
      };
      let timer = startTimer(done, ms);
      this.waits.add(done);
      this.wakeStream = () => {
        this.wakeStream = undefined;
        clearTimeout(timer);
        timer = startTimer(done, Math.max(0, notBefore.left()));
      };
    });
  }

  /** The stream's reconnect delay: backoff capped at streamRetryMaxMs, never sooner than Retry-After; a refused key at the slowest. */
  private streamDelay(failures: number, error: XpError): number {
    return this.retryDelay(failures, error, Math.min(this.o.retryMaxMs, this.streamRetryMaxMs));
  }

  /** Logs the stream's recovery (once per logged outage) when it is connected and the ruleset held is the newest announced. */
  private noteReconnected(): void {
    if (this.streamOutage && this.connected && !this.behind()) {
      this.streamOutage = false;
      this.o.logger.info(`xp: ruleset stream reconnected; serving ruleset version ${this.o.heldVersion() ?? '(none)'}`);
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
      let ended = false;
      const started = monotonicNow();
      try {
        await this.readStream();
        ended = true;
        error = new NetworkError(XpErrorCode.Network, 'the event stream ended');
      } catch (e) {
        error = e instanceof XpError ? e : new NetworkError(XpErrorCode.Network, 'the event stream failed', { cause: e });
      }
      if (this.connected && this.leader) {
        this.post({ type: 'state', streaming: false });
      }
      this.connected = false;
      // Releases the connection (and its controller) however it ended: refused, broken or ended by the server.
      this.abortStream?.();
      this.abortStream = undefined;
      if (this.isClosed()) {
        return;
      }
      if (error instanceof UnreadableStreamError) {
        this.fallBackToPolling(describeError(error), false);
        return;
      }
      if (error instanceof StreamNotServedError) {
        // Not an outage: retrying every few seconds (and polling that often) would only load the API.
        this.fallBackToPolling(describeError(error), true, 'server');
        this.streamFailures = 0;
        await this.wait(STREAM_RECHECK_MS);
        continue;
      }
      if (this.silent(error, started)) {
        this.fallBackToPolling(`${this.silentAttempts} stream requests had no answer within ${duration(this.o.transport.timeoutMs)} while ruleset requests were answered`, true);
        await this.wait(STREAM_RECHECK_MS);
        continue;
      }
      // One warning per outage, not per attempt; a stream the server ended (a deploy, a proxy) is
      // reconnected quietly, a refused key is keyRefused's to report.
      const every = duration(this.outagePollMs);
      if (ended || this.streamOutage || error.code === XpErrorCode.Unauthorized || error.code === XpErrorCode.Closed) {
        this.o.logger.debug(`xp: ruleset stream down (${error.message}); polling every ${every} until it is back`);
      } else {
        this.streamOutage = true;
        this.o.logger.warn(`xp: ruleset stream broke (${error.code}: ${describeError(error)}); polling every ${every} until it is back`);
      }
      this.pollSoon();
      const hinted = error instanceof HttpError ? (error.retryAfterMs ?? 0) : 0;
      await this.streamPause(this.streamDelay(this.streamFailures++, error), Deadline.in(hinted));
    }
  }

  /**
   * Counts a stream attempt that timed out waiting for headers; true when the fetch looks unable to
   * stream: SILENT_ATTEMPTS such attempts in a row (one once already taken so) while a ruleset
   * request was answered since the first began (a network that drops everything fails those too).
   */
  private silent(error: XpError, started: number): boolean {
    if (error.code !== XpErrorCode.Timeout) {
      this.silentAttempts = 0;
      return false;
    }
    if (this.silentAttempts++ === 0) {
      this.silentSince = started;
    }
    return this.silentAttempts >= (this.cannotStream ? 1 : SILENT_ATTEMPTS) && this.answeredAt > this.silentSince;
  }

  /**
   * Stops streaming (for good, or until the next recheck): polls every pollIntervalMs; warned once.
   * `by` says whose the limit is: this fetch's (it cannot read a stream), or the server's (it does not serve one).
   */
  private fallBackToPolling(why: string, recheck: boolean, by: 'fetch' | 'server' = 'fetch'): void {
    this.cannotStream = true;
    this.connected = false;
    if (this.leader) {
      this.post({ type: 'state', streaming: false, polling: true });
    }
    const next = recheck ? `, trying the stream again every ${STREAM_RECHECK_MS / 60_000} minutes` : '';
    if (this.cannotStreamWarned) {
      this.o.logger.debug(`xp: the ruleset stream still cannot be read (${why}); polling${next}`);
      return;
    }
    this.cannotStreamWarned = true;
    if (by === 'server') {
      this.o.logger.warn(
        `xp: the API does not serve the ruleset stream here (${why}): polling ${RULESET_PATH} every ${duration(this.o.pollIntervalMs)} instead${next}. Deployments behind API Gateway (which buffers responses) do not stream; pass \`streaming: false\` to skip the stream`,
      );
      return;
    }
    this.o.logger.warn(
      `xp: this fetch cannot stream the ruleset (${why}): polling every ${duration(this.o.pollIntervalMs)} instead${next}. On React Native, whose fetch reads whole responses, pass \`streaming: false\` (or a \`fetch\` whose Response.body streams); elsewhere, check for a proxy buffering /sdk/v1/stream`,
    );
  }

  /**
   * The `error.code` of an error answer's JSON body (`{"error":{"code":…}}`), from its first
   * ERROR_BODY_LIMIT bytes read within timeoutMs (then `abort` ends the request); undefined when the
   * body is not such JSON or cannot be read.
   */
  private async errorCode(response: Response, abort: () => void): Promise<string | undefined> {
    const timer = startTimer(abort, this.o.transport.timeoutMs);
    try {
      let text: string;
      const body = response.body as ReadableStream<Uint8Array> | null | undefined;
      if (typeof body?.getReader === 'function') {
        const reader = body.getReader();
        const decoder = new TextDecoder();
        text = '';
        let read = 0;
        while (read < ERROR_BODY_LIMIT) {
          const { done, value } = await reader.read();
          if (done) {
            break;
          }
          read += value.byteLength;
          text += decoder.decode(value, { stream: true });
        }
        await reader.cancel().catch(() => undefined);
      } else {
        text = (await response.text()).slice(0, ERROR_BODY_LIMIT);
      }
      const error = (JSON.parse(text) as { error?: { code?: unknown } } | null)?.error;
      return typeof error?.code === 'string' ? error.code : undefined;
    } catch {
      // Not JSON, cut short, or the read failed: no code, a plain error answer.
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads one stream connection to its end; true when it delivered at least one event. */
  private async readStream(): Promise<boolean> {
    const { response, abort } = await this.o.transport.stream(STREAM_PATH, { Accept: 'text/event-stream' });
    this.abortStream = abort;
    // Headers came: this fetch answers stream requests.
    this.silentAttempts = 0;
    if (response.status === 200 && typeof (response.body as { getReader?: unknown } | null | undefined)?.getReader !== 'function') {
      throw new UnreadableStreamError(XpErrorCode.Network, 'the stream response has no readable body');
    }
    if (response.status !== 200 || response.body === null) {
      const code = response.status === 404 ? await this.errorCode(response, abort) : undefined;
      await response.body?.cancel().catch(() => undefined);
      if (STREAM_NOT_SERVED.has(response.status) || code === STREAM_NOT_AVAILABLE) {
        const message = `GET ${STREAM_PATH} answered ${response.status}${code === undefined ? '' : ` ${code}`}`;
        throw new StreamNotServedError(response.status, message, parseRetryAfter(response.headers.get('retry-after'), Date.now()));
      }
      throw this.httpError(response.status, `GET ${STREAM_PATH} answered ${response.status}`, response.headers);
    }
    this.keyAccepted();
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
        this.cannotStream = false;
        if (this.streamFailures > 0) {
          this.o.recovered?.();
        }
        this.streamFailures = 0;
      }
      if (!this.connected) {
        this.connected = true;
        if (this.leader) {
          this.post({ type: 'state', streaming: true });
        }
      }
      this.onMessage(message);
      this.noteReconnected();
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
    let data: { etag?: unknown; ruleset?: unknown; version?: unknown };
    try {
      data = JSON.parse(message.data) as { etag?: unknown; ruleset?: unknown; version?: unknown };
    } catch {
      this.o.logger.warn('xp: ignoring a stream event whose data is not JSON');
      return;
    }
    const version = versionOf(data.version);
    if (typeof data.etag !== 'string') {
      // Not an announcement this SDK can compare: fetch whatever is current, as before.
      void this.refresh();
      return;
    }
    if (this.leader) {
      this.post({ type: 'announce', ...(version === undefined ? {} : { version }), etag: data.etag });
    }
    if (!this.announce(version, data.etag)) {
      return;
    }
    if (data.ruleset !== undefined && this.o.offer(data.ruleset) === undefined) {
      this.etag = data.etag;
      if (!this.behind()) {
        this.lag = undefined;
        return;
      }
    }
    void this.catchUp(0);
  }
}

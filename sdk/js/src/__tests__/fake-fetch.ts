import type { FetchLike } from '../types.js';

/** Taken before a test stubs the global (React Native's has no body). */
const NativeResponse = Response;

/**
 * The xp API behind an injected fetch, for tests on fake timers (no sockets): the ruleset, a stream
 * that announces it and stays open, and event batches. `rn` answers as React Native's fetch
 * (whatwg-fetch over XMLHttpRequest) does: only once the whole body has arrived, so never for the
 * stream, and with no `body` on the Response (as /tmp/t-mobile/rnfetch.mjs emulates it).
 */
export class FakeApi {
  readonly requests: { readonly path: string; readonly at: number }[] = [];
  /** Event batches as posted (every attempt). */
  readonly posts: Record<string, unknown>[][] = [];
  /** Connections refused (every request rejects at once). */
  down = false;
  /** Packets dropped: every request hangs until aborted (the client's timeoutMs). */
  blackhole = false;
  /** Answer as React Native's fetch does. */
  rn = false;
  /** What event posts answer, and the Retry-After they carry. */
  eventsStatus = 202;
  retryAfter: string | undefined;
  /** The server's clock for the `Date` header (epoch ms); the wall clock when undefined. */
  serverNow: (() => number) | undefined;
  /** Refuses an event one by one in a 202, as the API does (CLOCK_SKEW, INVALID_EVENT). */
  reject: ((event: Record<string, unknown>) => string | undefined) | undefined;

  constructor(private readonly ruleset: Record<string, unknown>) {}

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  readonly fetch: FetchLike = (input, init) => {
    const path = new URL(input).pathname;
    this.requests.push({ path, at: Date.now() });
    const signal = init.signal ?? undefined;
    if (this.down) {
      return Promise.reject(new TypeError('fetch failed'));
    }
    if (this.blackhole || (this.rn && path === '/sdk/v1/stream')) {
      return this.never(signal);
    }
    if (path === '/sdk/v1/stream') {
      return Promise.resolve(this.stream(signal));
    }
    if (path === '/sdk/v1/events') {
      const events = (JSON.parse(init.body as string) as { events: Record<string, unknown>[] }).events;
      this.posts.push(events);
      const rejected = this.eventsStatus === 202 ? events.flatMap((e, index) => {
        const code = this.reject?.(e);
        return code === undefined ? [] : [{ index, code, reason: 'refused' }];
      }) : [];
      return Promise.resolve(this.answer(this.eventsStatus, JSON.stringify({ accepted: events.length - rejected.length, rejected }), this.retryAfter === undefined ? {} : { 'Retry-After': this.retryAfter }));
    }
    return Promise.resolve(this.answer(200, JSON.stringify(this.ruleset), { ETag: `"v${this.ruleset.version as number}"` }));
  };

  private headers(extra: Record<string, string>): Headers {
    return new Headers({ 'Content-Type': 'application/json', Date: new Date(this.serverNow?.() ?? Date.now()).toUTCString(), ...extra });
  }

  private answer(status: number, text: string, extra: Record<string, string>): Response {
    if (!this.rn) {
      return new NativeResponse(text, { status, headers: this.headers(extra) });
    }
    return { status, ok: status >= 200 && status < 300, headers: this.headers(extra), text: () => Promise.resolve(text), json: () => Promise.resolve(JSON.parse(text) as unknown), body: undefined } as unknown as Response;
  }

  /** A request whose answer never completes: settles only when aborted, as XMLHttpRequest does. */
  private never(signal: AbortSignal | undefined): Promise<Response> {
    return new Promise((_resolve, reject) => {
      signal?.addEventListener('abort', () => {
        reject(new TypeError('Network request failed'));
      });
    });
  }

  /** An open event stream that announced the ruleset; errors when aborted, or when the API goes down. */
  private stream(signal: AbortSignal | undefined): Response {
    const version = this.ruleset.version as number;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(new TextEncoder().encode(`event: ruleset\ndata: ${JSON.stringify({ etag: `"v${version}"`, version })}\n\n`));
        signal?.addEventListener('abort', () => {
          controller.error(new TypeError('aborted'));
        });
        this.cut.add(() => {
          controller.error(new TypeError('connection reset'));
        });
      },
    });
    return new NativeResponse(body, { status: 200, headers: this.headers({ 'Content-Type': 'text/event-stream' }) });
  }

  private readonly cut = new Set<() => void>();

  /** Drops every open stream (connection reset), as a network going away does. */
  dropStreams(): void {
    for (const c of this.cut) {
      c();
    }
    this.cut.clear();
  }
}

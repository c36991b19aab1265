/**
 * Follows the management API's change feed (`GET /api/v1/projects/{project}/changes/stream`,
 * server-sent events), so editors and consoles refetch what they show within about a second of a
 * change to a flag, segment or experiment instead of at their next poll. Reconnects with
 * Last-Event-ID and a growing delay; stops on 401/403/404, which retrying cannot fix. Isomorphic
 * (fetch and streams): the language server and the console's renderer both use it, through
 * `XpApiClient.followChanges`.
 */

/** One change, as the feed sends it. */
export interface ChangeNotice {
  readonly id: number;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly environment: string | null;
}

export const FeedState = {
  Connecting: 'connecting',
  Live: 'live',
  /** Between attempts after a failure. */
  Retrying: 'retrying',
  /** Refused for good (credentials, permission, unknown project) or closed. */
  Stopped: 'stopped',
} as const;
export type FeedState = (typeof FeedState)[keyof typeof FeedState];

export interface ChangeFeedOptions {
  readonly apiUrl: string;
  readonly token?: string | undefined;
  readonly project: string;
  /** Sent as X-XP-Client (console, vscode…). */
  readonly client?: string | undefined;
  /** Called once per change notice, in order. */
  readonly onChange: (notice: ChangeNotice) => void;
  readonly onState?: (state: FeedState, detail?: string) => void;
  readonly fetch?: typeof fetch;
  /** First reconnect delay, doubled per failure up to `maxDelayMs`. Default 1,000. */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** How long the server keeps one stream open before the client reconnects. Default 300. */
  readonly streamSeconds?: number;
}

export interface ChangeFeed {
  close(): void;
}

/** Splits SSE text into complete messages; returns them and the unfinished rest. */
export function parseSse(buffer: string): { messages: { event: string; id?: string; data: string }[]; rest: string } {
  const normalized = buffer.replace(/\r\n?/g, '\n');
  const parts = normalized.split('\n\n');
  const rest = parts.pop() ?? '';
  const messages: { event: string; id?: string; data: string }[] = [];
  for (const part of parts) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of part.split('\n')) {
      if (line === '' || line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') {
        event = value;
      } else if (field === 'id') {
        id = value;
      } else if (field === 'data') {
        data.push(value);
      }
    }
    if (data.length > 0 || id !== undefined) {
      messages.push({ event, ...(id === undefined ? {} : { id }), data: data.join('\n') });
    }
  }
  return { messages, rest };
}

function toNotice(data: string): ChangeNotice | undefined {
  try {
    const v = JSON.parse(data) as Partial<Record<keyof ChangeNotice, unknown>>;
    if (typeof v.id === 'number' && typeof v.action === 'string' && typeof v.resourceType === 'string' && typeof v.resourceKey === 'string') {
      return { id: v.id, action: v.action, resourceType: v.resourceType, resourceKey: v.resourceKey, environment: typeof v.environment === 'string' ? v.environment : null };
    }
  } catch {
    // not JSON: ignored like any unknown message
  }
  return undefined;
}

const FATAL = new Set([401, 403, 404]);
/**
 * The `Retrying` detail of a feed whose server answers each stream as a poll (the API behind API
 * Gateway and Lambda buffers responses): the normal way to follow changes there, not a failure.
 */
export const POLLING_DETAIL = 'the stream closed at once; polling';
/** A stream shorter than this was not a stream (see below). */
const SHORT_STREAM_MS = 5_000;

export function followChanges(options: ChangeFeedOptions): ChangeFeed {
  const doFetch = options.fetch ?? fetch;
  const minDelay = options.minDelayMs ?? 1_000;
  const maxDelay = options.maxDelayMs ?? 60_000;
  const url = new URL(`api/v1/projects/${encodeURIComponent(options.project)}/changes/stream`, options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/`);
  url.searchParams.set('maxSeconds', String(options.streamSeconds ?? 300));
  const abort = new AbortController();
  let lastId: string | undefined;
  let delay = minDelay;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const state = (s: FeedState, detail?: string): void => {
    options.onState?.(s, detail);
  };

  const connect = async (): Promise<void> => {
    state(FeedState.Connecting);
    try {
      const res = await doFetch(url, {
        headers: {
          accept: 'text/event-stream',
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(options.client === undefined ? {} : { 'x-xp-client': options.client }),
          ...(lastId === undefined ? {} : { 'last-event-id': lastId }),
        },
        signal: abort.signal,
      });
      if (FATAL.has(res.status)) {
        await res.body?.cancel();
        state(FeedState.Stopped, `the change feed answered ${res.status}`);
        return;
      }
      if (!res.ok || res.body === null || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        await res.body?.cancel();
        throw new Error(`the change feed answered ${res.status}`);
      }
      state(FeedState.Live);
      const opened = Date.now();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        const parsed = parseSse(buffer + value);
        buffer = parsed.rest;
        for (const m of parsed.messages) {
          if (m.id !== undefined) {
            lastId = m.id;
          }
          const notice = m.event === 'change' ? toNotice(m.data) : undefined;
          if (notice !== undefined) {
            options.onChange(notice);
          }
        }
      }
      if (Date.now() - opened >= SHORT_STREAM_MS) {
        // The server ended the stream after streamSeconds: reconnect at once, resuming after lastId.
        delay = minDelay;
        schedule(0);
        return;
      }
      // Closed at once: a server whose responses are buffered (the API in Lambda) answers each
      // stream as a poll. Poll with the growing delay rather than in a tight loop.
      state(FeedState.Retrying, POLLING_DETAIL);
      schedule(delay);
      delay = Math.min(maxDelay, delay * 2);
    } catch (error) {
      if (abort.signal.aborted) {
        return;
      }
      state(FeedState.Retrying, error instanceof Error ? error.message : String(error));
      schedule(delay);
      delay = Math.min(maxDelay, delay * 2);
    }
  };

  const schedule = (ms: number): void => {
    if (abort.signal.aborted) {
      return;
    }
    timer = setTimeout(() => void connect(), ms);
    // In Node, a pending reconnect does not keep the process alive (browsers have no unref).
    (timer as { unref?: () => void }).unref?.();
  };

  void connect();
  return {
    close() {
      clearTimeout(timer);
      abort.abort();
      state(FeedState.Stopped, 'closed');
    },
  };
}

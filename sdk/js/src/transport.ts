import { NetworkError, XpError, XpErrorCode } from './errors.js';
import type { FetchLike } from './types.js';
import { startTimer } from './backoff.js';

/** Header carrying the SDK key; the key never goes into a URL. */
export const SDK_KEY_HEADER = 'X-XP-SDK-Key';

/** The prefix of every SDK key the API issues (`xpk_srv_…` for servers, `xpk_cli_…` for browsers and apps). */
export const SDK_KEY_PREFIX = 'xpk_';

/**
 * Why a string cannot be an SDK key the API issued, or undefined when it may be one: the API's keys
 * are `xpk_` followed by base64url characters (the kind, `srv_` or `cli_`, and 43 random ones).
 */
export function sdkKeyProblem(key: string): string | undefined {
  if (/^xpk_[\w-]+$/.test(key)) {
    return undefined;
  }
  if (/^xpk_[\w-]+$/.test(key.trim())) {
    return 'it has spaces or a line break around it';
  }
  return key.startsWith(SDK_KEY_PREFIX) ? 'it holds characters no SDK key has' : `they start with ${SDK_KEY_PREFIX}`;
}

/**
 * What of an SDK key a log line may show (keys are secrets): an `xpk_srv_` or `xpk_cli_` key's kind
 * prefix, no secret character; of anything else, its first 4 characters; never more than half.
 */
export function keyLabel(key: string): string {
  const kind = /^xpk_(?:srv|cli)_/.exec(key)?.[0].length ?? 4;
  return `${key.slice(0, Math.min(kind, Math.floor(key.length / 2)))}…`;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

export interface RequestOptions {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Lets the request outlive the page (page hide); browsers cap such bodies at 64 KiB. */
  readonly keepalive?: boolean;
}

export interface OpenStream {
  readonly response: Response;
  /** Aborts the connection; reading the body then fails. */
  readonly abort: () => void;
}

/** HTTP to the xp API: the key header on every request, a timeout on each, all aborted on close. */
export class Transport {
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly baseUrl: string,
    private readonly sdkKey: string,
    private readonly fetchFn: FetchLike,
    readonly timeoutMs: number,
  ) {}

  /** Sends a request and reads the whole body within `timeoutMs`; rejects with NetworkError. */
  async request(path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
    const controller = this.track();
    const timer = startTimer(() => {
      controller.abort(new NetworkError(XpErrorCode.Timeout, `no answer from ${path} within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    try {
      const response = await this.fetchFn(this.baseUrl + path, {
        method: options.method ?? 'GET',
        headers: { ...options.headers, [SDK_KEY_HEADER]: this.sdkKey },
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(options.keepalive === true ? { keepalive: true } : {}),
        signal: controller.signal,
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, text };
    } catch (e) {
      throw this.failure(path, controller, e);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  /** Opens a long-lived response (the event stream); only the wait for headers is timed out. */
  async stream(path: string, headers: Readonly<Record<string, string>>): Promise<OpenStream> {
    const controller = this.track();
    const timer = startTimer(() => {
      controller.abort(new NetworkError(XpErrorCode.Timeout, `no answer from ${path} within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    try {
      const response = await this.fetchFn(this.baseUrl + path, {
        method: 'GET',
        headers: { ...headers, [SDK_KEY_HEADER]: this.sdkKey },
        signal: controller.signal,
      });
      return {
        response,
        abort: () => {
          controller.abort(new NetworkError(XpErrorCode.Network, 'stream closed by the client'));
          this.inFlight.delete(controller);
        },
      };
    } catch (e) {
      this.inFlight.delete(controller);
      throw this.failure(path, controller, e);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.inFlight) {
      c.abort(new XpError(XpErrorCode.Closed, 'client closed'));
    }
    this.inFlight.clear();
  }

  private track(): AbortController {
    const controller = new AbortController();
    if (this.closed) {
      controller.abort(new XpError(XpErrorCode.Closed, 'client closed'));
    }
    this.inFlight.add(controller);
    return controller;
  }

  private failure(path: string, controller: AbortController, e: unknown): XpError {
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof XpError) {
      return reason;
    }
    return new NetworkError(XpErrorCode.Network, `request to ${path} failed`, { cause: e });
  }
}

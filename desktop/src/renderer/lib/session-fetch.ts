/** How long a request may wait for the server's answer (its headers) before it fails. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A request the server did not answer in time. For a write, the server may have applied it before
 * hanging (or may still): the message says so, and to reload.
 */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    const write = !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
    super(
      `The server did not answer within ${Math.round(timeoutMs / 1000)} s; check that it is running.` +
        (write ? ' Your change may or may not have been saved: reload to see.' : ''),
    );
  }
}

/**
 * A request whose 401 usually means a wrong password the user typed, not an expired session (the
 * change-password dialog's `PUT /api/v1/me/password`): answered as is, so the dialog says so instead
 * of asking to sign in again.
 */
function answersWrongPassword(input: Parameters<typeof fetch>[0]): boolean {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return URL.canParse(url) && new URL(url).pathname.endsWith('/api/v1/me/password');
}

/**
 * The console's fetch: sends the current session token on every authenticated request, and when the
 * session has expired (401) holds those requests until the user signs in again in place, then
 * retries them with the new token — so an expired session loses no draft and no save. While nobody
 * is signed in (`active` false), a 401 is answered as is.
 *
 * Every request but a stream (`accept: text/event-stream`, the change feed) fails with a
 * `RequestTimeoutError` when the server has not answered within `timeoutMs` (default 30 s), so that
 * "Saving…" and "Loading…" end in a message instead of lasting as long as a hung server. Time spent
 * waiting for the user to sign in again does not count.
 */
export class SessionFetch {
  constructor(private readonly timeoutMs: number = REQUEST_TIMEOUT_MS) {}

  private token: string | null = null;
  private active = false;
  private expiry: { readonly renewed: Promise<string | null>; readonly settle: (token: string | null) => void } | null = null;
  private readonly listeners = new Set<(expired: boolean) => void>();

  /** Signed in with `token`: requests carry it, and a 401 waits for `renew` or `abandon`. */
  start(token: string): void {
    this.token = token;
    this.active = true;
  }

  /** Signed out: requests held for a new sign-in get their 401. */
  stop(): void {
    this.active = false;
    this.token = null;
    this.settle(null);
  }

  /** Signed in again: held requests are sent again with `token`. */
  renew(token: string): void {
    this.token = token;
    this.settle(token);
  }

  /** Told when the session expires (true) and when that ends (false). Returns the unsubscribe. */
  subscribe(listener: (expired: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    const used = this.token;
    if (!headers.has('authorization') || used === null) {
      return this.timed(input, init);
    }
    const send = (token: string): Promise<Response> => {
      headers.set('authorization', `Bearer ${token}`);
      return this.timed(input, { ...init, headers });
    };
    const res = await send(used);
    if (res.status !== 401 || !this.active || answersWrongPassword(input)) {
      return res;
    }
    // Signed in again while this request was under way: it only needs the new token.
    if (this.token !== null && this.token !== used) {
      return send(this.token);
    }
    const renewed = await this.waitForRenewal();
    return renewed === null ? res : send(renewed);
  };

  /** `fetch`, failing with a RequestTimeoutError when no answer comes in time (streams excepted). */
  private async timed(input: Parameters<typeof fetch>[0], init: RequestInit | undefined): Promise<Response> {
    if ((new Headers(init?.headers).get('accept') ?? '').includes('text/event-stream')) {
      return globalThis.fetch(input, init);
    }
    const controller = new AbortController();
    const outer = init?.signal ?? null;
    const forward = (): void => {
      controller.abort(outer?.reason);
    };
    if (outer !== null) {
      if (outer.aborted) {
        forward();
      } else {
        outer.addEventListener('abort', forward, { once: true });
      }
    }
    const timeout = { fired: false };
    const timer = setTimeout(() => {
      timeout.fired = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      return await globalThis.fetch(input, { ...init, signal: controller.signal });
    } catch (e) {
      if (timeout.fired) {
        const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
        throw new RequestTimeoutError(method, this.timeoutMs);
      }
      throw e;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', forward);
    }
  }

  private waitForRenewal(): Promise<string | null> {
    if (this.expiry === null) {
      let settle: (token: string | null) => void = () => undefined;
      const renewed = new Promise<string | null>((resolve) => {
        settle = resolve;
      });
      this.expiry = { renewed, settle };
      for (const listener of this.listeners) {
        listener(true);
      }
    }
    return this.expiry.renewed;
  }

  private settle(token: string | null): void {
    const expiry = this.expiry;
    if (expiry === null) {
      return;
    }
    this.expiry = null;
    expiry.settle(token);
    for (const listener of this.listeners) {
      listener(false);
    }
  }
}

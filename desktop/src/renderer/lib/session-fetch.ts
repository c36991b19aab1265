/**
 * The console's fetch: sends the current session token on every authenticated request, and when the
 * session has expired (401) holds those requests until the user signs in again in place, then
 * retries them with the new token — so an expired session loses no draft and no save. While nobody
 * is signed in (`active` false), a 401 is answered as is.
 */
export class SessionFetch {
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
      return globalThis.fetch(input, init);
    }
    const send = (token: string): Promise<Response> => {
      headers.set('authorization', `Bearer ${token}`);
      return globalThis.fetch(input, { ...init, headers });
    };
    const res = await send(used);
    if (res.status !== 401 || !this.active) {
      return res;
    }
    // Signed in again while this request was under way: it only needs the new token.
    if (this.token !== null && this.token !== used) {
      return send(this.token);
    }
    const renewed = await this.waitForRenewal();
    return renewed === null ? res : send(renewed);
  };

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

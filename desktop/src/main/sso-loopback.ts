/**
 * Single sign-on for the desktop app as native apps do it (RFC 8252): the system browser signs in at
 * the identity provider, and the API sends it back to a one-shot HTTP server on 127.0.0.1 with a
 * one-time code bound to a verifier only this process knows. The loopback sign-in itself (listener,
 * verifier and challenge, start URL) is `@xp/shared/node`'s, shared with the `xp` command line's
 * `xp login --sso`; here is the app's one-sign-in-at-a-time controller the IPC handlers use. Main
 * opens the system browser at the listener's one-shot `http://127.0.0.1:<port>/sso/begin` (with
 * shell.openExternal: the renderer never supplies a URL), never at the start URL with the challenge,
 * which a browser's command line would show to other users of the machine.
 * `openExternal` and `fetch` are injected, so tests play the browser.
 */
import { apiEndpoint, startLoopbackSignIn } from '@xp/shared/node';
import type { LoopbackSignIn } from '@xp/shared/node';
import type { SsoSignInOutcome, SsoSignInStarted } from '../ipc-contract.js';

export { BEGIN_REUSED_MESSAGE, CALLBACK_PAGE_CSP, LOOPBACK_BEGIN_PATH, LOOPBACK_CALLBACK_PATH, LOOPBACK_HOST, SSO_WAIT_MS, SsoSignInError, challengeOf, makeVerifier, ssoStartUrl, startLoopbackSignIn } from '@xp/shared/node';
export type { LoopbackSignIn, LoopbackSignInOptions } from '@xp/shared/node';

/** A session token as the API makes them: short and printable. */
const SESSION_TOKEN = /^[\x21-\x7e]{1,512}$/;

/**
 * The app's one SSO sign-in at a time: a new one cancels the one waiting (its caller hears
 * `cancelled`), so a forgotten browser tab cannot complete a sign-in the user gave up on. The
 * renderer starts one (and shows its confirmation code), then waits for its outcome: the last
 * started sign-in's, kept until the next start (it may end before the wait is asked for).
 */
export class SsoSignInController {
  private current: LoopbackSignIn | null = null;

  constructor(
    private readonly deps: {
      readonly openExternal: (url: string) => Promise<void> | void;
      readonly timeoutMs?: number;
      /** For `discard` (default: the global fetch). */
      readonly fetch?: typeof fetch;
    },
  ) {}

  /**
   * Starts a sign-in against `apiUrl` (the active profile's), replacing any that waits; resolves once
   * the browser is open, with the code to show (rejects with SsoSignInError when it cannot start).
   */
  start(apiUrl: string): Promise<SsoSignInStarted> {
    this.current?.cancel();
    const signIn = startLoopbackSignIn({ apiUrl, openExternal: this.deps.openExternal, ...(this.deps.timeoutMs === undefined ? {} : { timeoutMs: this.deps.timeoutMs }) });
    // Heard by `start`'s caller; `wait` may never be asked for.
    signIn.outcome.catch(() => undefined);
    this.current = signIn;
    return signIn.started;
  }

  /** How the last started sign-in ends (`cancelled` when none was started). */
  wait(): Promise<SsoSignInOutcome> {
    return this.current?.outcome ?? Promise.resolve({ status: 'cancelled' });
  }

  /** Starts a sign-in and waits for it (for callers that need no confirmation code shown). */
  async signIn(apiUrl: string): Promise<SsoSignInOutcome> {
    const signIn = this.start(apiUrl);
    const outcome = this.wait();
    await signIn;
    return outcome;
  }

  /** Cancels the waiting sign-in; true when one was waiting. */
  cancel(): boolean {
    return this.current?.cancel() ?? false;
  }

  /**
   * Ends a session an SSO exchange made that the page will not use (the session-expired dialog's
   * sign-in came back as someone else): `POST /api/v1/auth/logout` with that token at `apiUrl`, the
   * active profile's. Here, not through the page's /api proxy, which sends the profile's own token
   * whatever the page says. True when the API ended it.
   */
  async discard(apiUrl: string, token: unknown): Promise<boolean> {
    if (typeof token !== 'string' || !SESSION_TOKEN.test(token)) {
      return false;
    }
    const logout = apiEndpoint(apiUrl, '/api/v1/auth/logout');
    if (logout === null) {
      return false;
    }
    try {
      const res = await (this.deps.fetch ?? fetch)(logout, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-xp-client': 'desktop' }, redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok;
    } catch {
      return false;
    }
  }
}

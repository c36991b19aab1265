/**
 * Single sign-on for the desktop app as native apps do it (RFC 8252): the system browser signs in at
 * the identity provider, and the API sends it back to a one-shot HTTP server on 127.0.0.1 with a
 * one-time code. The code is bound to the SHA-256 of a verifier only this process knows, so a code
 * seen by anyone else (another local process, the browser's history) is worthless without it.
 * Plain Node (node:http, node:crypto): `openExternal` is injected, so tests play the browser.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSO_ERROR_REASONS } from '@xp/shared';
import type { SsoErrorReason } from '@xp/shared';
import type { SsoSignInOutcome } from '../ipc-contract.js';

/** How long the app waits for the browser: the API's pending sign-in lives as long. */
export const SSO_WAIT_MS = 10 * 60 * 1000;

/** The one path the API redirects the browser to. */
export const LOOPBACK_CALLBACK_PATH = '/sso/callback';

/** The loopback host: an IPv4 literal, never `localhost` (which may resolve elsewhere) nor 0.0.0.0. */
export const LOOPBACK_HOST = '127.0.0.1';

/** The page the browser is left on: self-contained, so no request leaves it. */
export const CALLBACK_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'";

/** A `code` or `error` value as the API sends them: short, printable, no spaces or control characters. */
const TOKEN = /^[\x21-\x7e]{1,512}$/;

/** Raised when a sign-in cannot start (no loopback port, no browser); the message is safe to show. */
export class SsoSignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SsoSignInError';
  }
}

export interface LoopbackSignInOptions {
  /** The active connection profile's API URL (http or https, maybe with a base path). */
  readonly apiUrl: string;
  /** Opens a URL in the system browser (Electron's `shell.openExternal`). */
  readonly openExternal: (url: string) => Promise<void> | void;
  /** How long to wait for the browser; 10 minutes unless a test says otherwise. */
  readonly timeoutMs?: number;
}

/** A waiting sign-in: how it ends, and a way to stop it. */
export interface LoopbackSignIn {
  /** Settles once: `code`, `error`, `cancelled` or `timeout`; rejects (SsoSignInError) only when it could not start. */
  readonly outcome: Promise<SsoSignInOutcome>;
  /** Ends the wait with `cancelled`; true when it was still waiting. */
  cancel(): boolean;
}

/** A fresh verifier (32 random bytes, base64url: 43 characters) and its challenge, base64url(SHA-256(verifier)). */
export function makeVerifier(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: challengeOf(verifier) };
}

/** base64url(SHA-256(verifier)), as the API compares it. */
export function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * `<apiUrl>/api/v1/auth/sso/start?app_port=…&app_challenge=…`, keeping the apiUrl's base path as the
 * app's /api proxy does (proxyTarget); null for anything but http(s).
 */
export function ssoStartUrl(apiUrl: string, port: number, challenge: string): URL | null {
  let base: URL;
  try {
    base = new URL(apiUrl);
  } catch {
    return null;
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    return null;
  }
  // `origin` drops any credentials, query or fragment of the profile URL.
  const start = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}/api/v1/auth/sso/start`);
  start.search = new URLSearchParams({ app_port: String(port), app_challenge: challenge }).toString();
  return start;
}

/** What the browser tab says once the app has its answer, per reason (the app itself says more). */
const PAGE_MESSAGES: Record<SsoErrorReason, string> = {
  denied: 'Single sign-on was cancelled, or your identity provider refused it.',
  expired: 'That single sign-on expired or was already used.',
  'email-unverified': 'Your identity provider did not confirm that your email address is verified.',
  'domain-not-allowed': 'Your email address is not in a domain allowed to sign in to xp.',
  'account-disabled': 'Your xp account is disabled.',
  'idp-unavailable': 'xp could not reach your identity provider.',
  'invalid-response': "Your identity provider's answer failed xp's security checks.",
  busy: 'Too many single sign-ins are under way right now.',
};

function page(title: string, message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1d2330}main{max-width:32rem;padding:2rem;text-align:center}h1{font-size:1.3rem}</style>
</head><body><main><h1>${title}</h1><p>${message}</p></main></body></html>
`;
}

function answer(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-security-policy': CALLBACK_PAGE_CSP,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // The URL carries the one-time code: nothing on the page may send it on.
    'referrer-policy': 'no-referrer',
    connection: 'close',
  });
  res.end(body);
}

/** What a request to the loopback server means: an outcome, or a refusal after which the wait goes on. */
function readCallback(req: IncomingMessage, port: number): SsoSignInOutcome | { refuse: 400 | 404 } {
  // The API redirects to exactly this host: another Host is a page that rebound a name to 127.0.0.1.
  if (req.headers.host !== `${LOOPBACK_HOST}:${port}`) {
    return { refuse: 400 };
  }
  let url: URL;
  try {
    url = new URL(req.url ?? '/', `http://${LOOPBACK_HOST}:${port}`);
  } catch {
    return { refuse: 400 };
  }
  if (req.method !== 'GET' || url.pathname !== LOOPBACK_CALLBACK_PATH) {
    return { refuse: 404 };
  }
  const codes = url.searchParams.getAll('code');
  const errors = url.searchParams.getAll('error');
  if (codes.length + errors.length !== 1) {
    return { refuse: 400 };
  }
  const value = codes[0] ?? errors[0] ?? '';
  if (!TOKEN.test(value)) {
    return { refuse: 400 };
  }
  if (codes.length === 1) {
    // The verifier is added by the caller, which holds it.
    return { status: 'code', code: value, verifier: '' };
  }
  // A reason this app does not know (a newer server): still the end of this sign-in, without a session.
  const reason = (SSO_ERROR_REASONS as readonly string[]).includes(value) ? (value as SsoErrorReason) : 'denied';
  return { status: 'error', reason };
}

/**
 * Starts one loopback sign-in: listens on 127.0.0.1 at an ephemeral port, opens the system browser
 * at the API's SSO start with `app_port` and `app_challenge`, and settles with the first well-formed
 * `GET /sso/callback` (anything else gets 404 or 400 and the wait goes on), on cancel, or on timeout.
 * The server closes as soon as the outcome is known.
 */
export function startLoopbackSignIn(options: LoopbackSignInOptions): LoopbackSignIn {
  const { verifier, challenge } = makeVerifier();
  let settled = false;
  let settle: (outcome: SsoSignInOutcome) => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const outcome = new Promise<SsoSignInOutcome>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let port = 0;

  const server = createServer((req, res) => {
    if (settled) {
      answer(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    const read = readCallback(req, port);
    if ('refuse' in read) {
      answer(res, read.refuse, 'text/plain; charset=utf-8', read.refuse === 404 ? 'not found\n' : 'bad request\n');
      return;
    }
    const result: SsoSignInOutcome = read.status === 'code' ? { status: 'code', code: read.code, verifier } : read;
    const html =
      result.status === 'code'
        ? page('Signed in to xp', 'Signed in to xp. You can close this tab and return to the app.')
        : page('Not signed in to xp', `${result.status === 'error' ? PAGE_MESSAGES[result.reason] : ''} Return to the app to see what to do.`);
    res.once('finish', () => {
      server.closeAllConnections();
    });
    answer(res, 200, 'text/html; charset=utf-8', html);
    end(result);
  });

  function stop(): void {
    clearTimeout(timer);
    server.close();
    server.closeIdleConnections();
  }

  function end(result: SsoSignInOutcome): void {
    if (settled) {
      return;
    }
    settled = true;
    stop();
    settle(result);
  }

  function abort(error: SsoSignInError): void {
    if (settled) {
      return;
    }
    settled = true;
    stop();
    server.closeAllConnections();
    fail(error);
  }

  if (ssoStartUrl(options.apiUrl, 1024, challenge) === null) {
    settled = true;
    fail(new SsoSignInError("the connection's API URL must be http or https"));
    return { outcome, cancel: () => false };
  }

  server.on('error', () => {
    abort(new SsoSignInError('the app could not wait for the browser on 127.0.0.1'));
  });
  server.listen({ host: LOOPBACK_HOST, port: 0 }, () => {
    if (settled) {
      // Cancelled before the port was known.
      server.close();
      return;
    }
    port = (server.address() as AddressInfo).port;
    timer = setTimeout(() => {
      end({ status: 'timeout' });
    }, options.timeoutMs ?? SSO_WAIT_MS);
    const start = ssoStartUrl(options.apiUrl, port, challenge)!;
    Promise.resolve()
      .then(() => options.openExternal(start.href))
      .catch(() => {
        abort(new SsoSignInError('the system browser could not be opened for single sign-on'));
      });
  });

  return {
    outcome,
    cancel: () => {
      if (settled) {
        return false;
      }
      end({ status: 'cancelled' });
      server.closeAllConnections();
      return true;
    },
  };
}

/**
 * The app's one SSO sign-in at a time: a new one cancels the one waiting (its caller hears
 * `cancelled`), so a forgotten browser tab cannot complete a sign-in the user gave up on.
 */
export class SsoSignInController {
  private current: LoopbackSignIn | null = null;

  constructor(private readonly deps: { readonly openExternal: (url: string) => Promise<void> | void; readonly timeoutMs?: number }) {}

  /** Starts a sign-in against `apiUrl` (the active profile's), replacing any that waits. */
  signIn(apiUrl: string): Promise<SsoSignInOutcome> {
    this.current?.cancel();
    const signIn = startLoopbackSignIn({ apiUrl, openExternal: this.deps.openExternal, ...(this.deps.timeoutMs === undefined ? {} : { timeoutMs: this.deps.timeoutMs }) });
    this.current = signIn;
    const forget = (): void => {
      if (this.current === signIn) {
        this.current = null;
      }
    };
    signIn.outcome.then(forget, forget);
    return signIn.outcome;
  }

  /** Cancels the waiting sign-in; true when one was waiting. */
  cancel(): boolean {
    const signIn = this.current;
    this.current = null;
    return signIn?.cancel() ?? false;
  }
}

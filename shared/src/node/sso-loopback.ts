/**
 * Single sign-on for xp's native apps (the desktop app, the `xp` command line) as native apps do it
 * (RFC 8252): the system browser signs in at the identity provider, and the API sends it back to a
 * one-shot HTTP server on 127.0.0.1 with a one-time code. The code is bound to the SHA-256 of a verifier only this process knows, so a code
 * seen by anyone else (another local process, the browser's history) is worthless without it. The
 * API sends the code on only after the person confirmed, on a page of the xp site, the code this app
 * shows while it waits (ssoConfirmationCode of the challenge); and every outcome it sends carries the
 * challenge, which this server asks for, so a page or process that only found the port cannot end
 * the wait. The browser is opened at this server's own one-shot `/sso/begin`, which redirects to the
 * API's start (with the port and the challenge) the first time only: a program's arguments are visible
 * to every user of the machine (`ps`), so the challenge never goes in them, and a second request for
 * `/sso/begin` (another program that read the link and raced the browser, or came after it) ends the
 * sign-in. Plain Node (node:http, node:crypto): `openExternal` and `fetch` are injected, so tests
 * play the browser. Node-only (the `@xp/shared/node` entry point): browser bundles never import it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSO_ERROR_REASONS } from '../api/client.js';
import type { SsoErrorReason } from '../api/client.js';
import { ssoConfirmationCode } from '../sso-code.js';
import type { SsoSignInOutcome, SsoSignInStarted } from '../sso-code.js';

/** How long the app waits for the browser: the API's pending sign-in lives as long. */
export const SSO_WAIT_MS = 10 * 60 * 1000;

/** The one path the API redirects the browser to. */
export const LOOPBACK_CALLBACK_PATH = '/sso/callback';

/** The path the browser is opened at: one redirect to the API's start, the first time only. */
export const LOOPBACK_BEGIN_PATH = '/sso/begin';

/** How a sign-in ends when its `/sso/begin` was asked for twice (SsoSignInError's message). */
export const BEGIN_REUSED_MESSAGE = "another program opened this sign-in's link, so it was stopped and nothing was stored: start again";

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
  /** The API's URL (http or https, maybe with a base path): the desktop profile's, the CLI's. */
  readonly apiUrl: string;
  /**
   * Opens a URL in the system browser (Electron's `shell.openExternal`, the CLI's xdg-open/open/start):
   * this server's `http://127.0.0.1:<port>/sso/begin`, nothing secret in it.
   */
  readonly openExternal: (url: string) => Promise<void> | void;
  /**
   * false: `openExternal` is given the API's start URL itself (port and challenge) and `/sso/begin`
   * is not served, for a caller that only shows it to the person (`xp login --no-browser` prints it
   * on their terminal) and never passes it to another program.
   */
  readonly begin?: boolean;
  /** How long to wait for the browser; 10 minutes unless a test says otherwise. */
  readonly timeoutMs?: number;
}

/** A waiting sign-in: the code it shows, how it ends, and a way to stop it. */
export interface LoopbackSignIn {
  /**
   * Resolves once the browser was opened, with the confirmation code the API's page will ask the
   * person to check; rejects (SsoSignInError) as `outcome` does when it could not start.
   */
  readonly started: Promise<SsoSignInStarted>;
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
  const start = apiEndpoint(apiUrl, '/api/v1/auth/sso/start');
  if (start !== null) {
    start.search = new URLSearchParams({ app_port: String(port), app_challenge: challenge }).toString();
  }
  return start;
}

/** `<apiUrl><path>`, keeping the apiUrl's base path; null for anything but http(s). */
export function apiEndpoint(apiUrl: string, path: string): URL | null {
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
  return new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${path}`);
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

/** Whether two strings are equal, in time that does not depend on where they differ. */
function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether a request is for `/sso/begin` at exactly this server's host (any method, any query). */
function isBegin(req: IncomingMessage, port: number): boolean {
  if (req.headers.host !== `${LOOPBACK_HOST}:${port}`) {
    return false;
  }
  try {
    return new URL(req.url ?? '/', `http://${LOOPBACK_HOST}:${port}`).pathname === LOOPBACK_BEGIN_PATH;
  } catch {
    return false;
  }
}

/**
 * What a request to the loopback server means: an outcome, or a refusal after which the wait goes on.
 * The API's redirects (a code or a reason) carry `app_challenge`, this sign-in's: without it (a page
 * or process that found the port), the request is refused.
 */
function readCallback(req: IncomingMessage, port: number, challenge: string): SsoSignInOutcome | { refuse: 400 | 404 } {
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
  const challenges = url.searchParams.getAll('app_challenge');
  if (codes.length + errors.length !== 1 || challenges.length !== 1 || !sameString(challenges[0]!, challenge)) {
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
 * at its `/sso/begin`, which answers the first request with a redirect to the API's SSO start with
 * `app_port` and `app_challenge` (a second request ends the sign-in: `outcome` rejects with
 * SsoSignInError, BEGIN_REUSED_MESSAGE), and settles with the first well-formed `GET /sso/callback`
 * (anything else gets 404 or 400 and the wait goes on), on cancel, or on timeout.
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
  let begun: (started: SsoSignInStarted) => void = () => undefined;
  let notBegun: (error: Error) => void = () => undefined;
  const started = new Promise<SsoSignInStarted>((resolve, reject) => {
    begun = resolve;
    notBegun = reject;
  });
  // Callers may wait on `outcome` alone: its rejection says the same.
  started.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let port = 0;
  const useBegin = options.begin !== false;
  /** The API's start URL, once the port is known; served once by /sso/begin. */
  let startHref = '';
  let beginServed = false;

  const server = createServer((req, res) => {
    if (settled) {
      answer(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    if (useBegin && startHref !== '' && isBegin(req, port)) {
      if (!beginServed) {
        beginServed = true;
        res.writeHead(302, { location: startHref, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': '0', connection: 'close' });
        res.end();
        return;
      }
      // Someone else has the challenge (they came first), or will not get it but raced the browser: this sign-in cannot be trusted.
      res.once('finish', () => {
        server.closeAllConnections();
      });
      answer(res, 409, 'text/html; charset=utf-8', page('Not signed in to xp', 'This sign-in link was opened more than once, so the sign-in was stopped. Return to the app and start again.'));
      abort(new SsoSignInError(BEGIN_REUSED_MESSAGE), false);
      return;
    }
    const read = readCallback(req, port, challenge);
    if ('refuse' in read) {
      answer(res, read.refuse, 'text/plain; charset=utf-8', read.refuse === 404 ? 'not found\n' : 'bad request\n');
      return;
    }
    const result: SsoSignInOutcome = read.status === 'code' ? { status: 'code', code: read.code, verifier } : read;
    const html =
      result.status === 'code'
        ? page('Signed in to xp', 'Signed in to xp. You can close this tab and return to the app.')
        : page('Not signed in to xp', `${result.status === 'error' ? PAGE_MESSAGES[result.reason] : ''} Return to the app to see what to do.`);
    // This answer's connection closes once it is sent; the others (a request half sent) at once.
    res.once('finish', () => {
      server.closeAllConnections();
    });
    answer(res, 200, 'text/html; charset=utf-8', html);
    end(result, false);
  });

  /** Stops listening; `closeAll` also drops every open connection (a request still being sent, say). */
  function stop(closeAll: boolean): void {
    clearTimeout(timer);
    server.close();
    if (closeAll) {
      server.closeAllConnections();
    } else {
      server.closeIdleConnections();
    }
  }

  /** `closeAll` false only while the answer to the callback is still being sent (it closes its connections after). */
  function end(result: SsoSignInOutcome, closeAll = true): void {
    if (settled) {
      return;
    }
    settled = true;
    stop(closeAll);
    // Ended (cancelled) before the browser was opened: `started` still answers, and the wait says how it ended.
    void ssoConfirmationCode(challenge).then((confirmationCode) => {
      begun({ confirmationCode });
    });
    settle(result);
  }

  function abort(error: SsoSignInError, closeAll = true): void {
    if (settled) {
      return;
    }
    settled = true;
    stop(closeAll);
    notBegun(error);
    fail(error);
  }

  if (ssoStartUrl(options.apiUrl, 1024, challenge) === null) {
    settled = true;
    const error = new SsoSignInError("the connection's API URL must be http or https");
    notBegun(error);
    fail(error);
    return { started, outcome, cancel: () => false };
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
    startHref = ssoStartUrl(options.apiUrl, port, challenge)!.href;
    const opened = useBegin ? `http://${LOOPBACK_HOST}:${String(port)}${LOOPBACK_BEGIN_PATH}` : startHref;
    Promise.resolve()
      .then(() => options.openExternal(opened))
      .then(
        async () => {
          begun({ confirmationCode: await ssoConfirmationCode(challenge) });
        },
        () => {
          abort(new SsoSignInError('the system browser could not be opened for single sign-on'));
        },
      );
  });

  return {
    started,
    outcome,
    cancel: () => {
      if (settled) {
        return false;
      }
      end({ status: 'cancelled' });
      return true;
    },
  };
}

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, XpApiClient } from '@xp/shared';
import { configFromEnv, startLocalStack } from '@xp/cloud';
import type { LocalStack } from '@xp/cloud';
import { SsoSignInController, startLoopbackSignIn } from '../sso-loopback.js';

/**
 * The desktop app's SSO against the real thing: `xp start`'s stack (embedded PGlite) configured for
 * a real OpenID provider (oidc-provider with its development sign-in pages), and the main process's
 * loopback sign-in whose `openExternal` is a small browser (a cookie jar, redirects followed one by
 * one, the IdP's login and consent forms posted). The browser ends on the loopback; the code it
 * brought there, exchanged with the verifier main kept, is a session the API accepts.
 */

const OWNER = { email: 'owner@example.com', password: 'desktop sso passphrase 42' };
const CLIENT = { id: 'xp-desktop-sso', secret: randomBytes(24).toString('hex') };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

/** A real OpenID provider on 127.0.0.1: any login is an account whose email is that login, verified. */
async function startIdp(redirectUrl: string): Promise<{ issuer: string; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT.id, client_secret: CLIENT.secret, redirect_uris: [redirectUrl], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: `idp-${id}`, email: id, email_verified: true, name: 'Ana from the IdP' }) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    cookies: { keys: [randomBytes(16).toString('hex')] },
    features: { devInteractions: { enabled: true } },
  });
  const handle = provider.callback();
  server.on('request', (req, res) => {
    void handle(req, res);
  });
  return { issuer, server };
}

/**
 * The system browser: from `url`, follows every redirect (API, IdP, API again, loopback) with one
 * cookie jar, signing in at the IdP as `login` (or cancelling there); on the xp site's confirmation
 * page, the person reads it and follows its Continue link when `confirm` says so (by default: when
 * it shows the code the app shows, `expect`). Returns where it ended, the page it shows, and the
 * confirmation pages seen. The first request is sent as a browser sends a URL an app opened
 * (`Sec-Fetch-Site: none`) unless `site` says otherwise (a web page's link).
 */
async function browse(
  url: string,
  login: string | null,
  options: { readonly expect?: () => Promise<string>; readonly site?: string } = {},
): Promise<{ last: URL; status: number; page: string; hops: URL[]; confirmations: { email: string; code: string; continueTo: URL }[] }> {
  const confirmations: { email: string; code: string; continueTo: URL }[] = [];
  const jar = new Map<string, Map<string, string>>();
  const cookiesOf = (u: URL): Map<string, string> => {
    const known = jar.get(u.hostname) ?? new Map<string, string>();
    jar.set(u.hostname, known);
    return known;
  };
  let here = new URL(url);
  let body: URLSearchParams | undefined;
  const hops: URL[] = [];
  for (let hop = 0; hop < 30; hop++) {
    hops.push(here);
    const cookies = cookiesOf(here);
    const res = await fetch(here, {
      method: body === undefined ? 'GET' : 'POST',
      redirect: 'manual',
      headers: {
        cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        // A navigation's redirects keep the first request's `none` (Fetch Metadata); a page's link is `cross-site` throughout.
        'sec-fetch-site': hop === 0 || options.site !== undefined ? (options.site ?? 'none') : 'none',
        ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(body === undefined ? {} : { body: body.toString() }),
    });
    for (const set of res.headers.getSetCookie()) {
      const pair = set.split(';')[0]!;
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(set) || /max-age=0\b/i.test(set)) {
        cookies.delete(name);
      } else {
        cookies.set(name, value);
      }
    }
    body = undefined;
    const location = res.headers.get('location');
    if (location !== null) {
      await res.arrayBuffer();
      here = new URL(location, here);
      continue;
    }
    const page = await res.text();
    const onward = /<a class="continue" id="continue" href="([^"]+)"/.exec(page)?.[1];
    if (onward !== undefined) {
      const confirmation = {
        email: /as ([^<]+)\?<\/h1>/.exec(page)?.[1] ?? '',
        code: /<p class="code" id="code">([^<]+)<\/p>/.exec(page)?.[1] ?? '',
        continueTo: new URL(onward.replaceAll('&amp;', '&'), here),
      };
      confirmations.push(confirmation);
      // The person continues only when the app shows this very code.
      if (options.expect !== undefined && (await options.expect()) === confirmation.code) {
        here = confirmation.continueTo;
        continue;
      }
      return { last: here, status: res.status, page, hops, confirmations };
    }
    const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
    if (prompt === undefined) {
      return { last: here, status: res.status, page, hops, confirmations };
    }
    if (login === null) {
      here = new URL(`${here.pathname}/abort`, here);
    } else {
      body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any password' } : { prompt });
    }
  }
  throw new Error(`too many redirects: ${hops.map((h) => h.origin + h.pathname).join(' → ')}`);
}

describe('desktop SSO through the system browser, against a real platform and identity provider', () => {
  let stack: LocalStack | undefined;
  let idp: Server | undefined;
  let dataDir = '';

  beforeAll(async () => {
    const consolePort = await freePort();
    // xp start's default callback: the console's port, on localhost.
    const started = await startIdp(`http://localhost:${String(consolePort)}/api/v1/auth/sso/callback`);
    idp = started.server;
    dataDir = await mkdtemp(path.join(tmpdir(), 'xp-desktop-sso-'));
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    stack = await startLocalStack(
      configFromEnv({
        XP_DATA_DIR: dataDir,
        XP_API_PORT: '0',
        XP_CONSOLE_PORT: String(consolePort),
        XP_ADMIN_EMAIL: OWNER.email,
        XP_ADMIN_PASSWORD: OWNER.password,
        XP_DEMO: '0',
        XP_GUARDRAIL_INTERVAL_SECONDS: '0',
        XP_SSO_ISSUER: started.issuer,
        XP_SSO_CLIENT_ID: CLIENT.id,
        XP_SSO_CLIENT_SECRET: CLIENT.secret,
        XP_SSO_NAME: 'Local IdP',
        XP_SSO_ALLOWED_DOMAINS: 'example.com',
        XP_SSO_DEFAULT_ROLE: 'analyst',
      }),
      { logger: quiet, print: () => undefined },
    );
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await new Promise<void>((resolve) => {
      if (idp === undefined) {
        resolve();
      } else {
        idp.closeAllConnections();
        idp.close(() => { resolve(); });
      }
    });
    if (dataDir !== '') {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('signs a person in: the browser ends on the loopback page, and the code with the verifier is a session the API accepts', async () => {
    // The app is told as soon as the loopback has the code; the browser reads the page after that.
    let browsing: ReturnType<typeof browse> | undefined;
    const signIn = startLoopbackSignIn({
      apiUrl: stack!.apiUrl,
      openExternal: (url) => {
        // The person compares the page's code with the one the app shows while it waits.
        browsing = browse(url, 'desktop-ana@example.com', { expect: async () => (await signIn.started).confirmationCode });
      },
    });

    const outcome = await signIn.outcome;
    const trip = await browsing;
    // On the way, the xp site asked who signs in and showed the app's code; Continue carried the code and the challenge.
    const shown = (await signIn.started).confirmationCode;
    expect(shown).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    expect(trip!.confirmations.map((c) => [c.email, c.code])).toEqual([['desktop-ana@example.com', shown]]);
    expect([...trip!.confirmations[0]!.continueTo.searchParams.keys()]).toEqual(['code', 'app_challenge']);
    expect(outcome.status, `the browser went ${trip?.hops.map((h) => h.origin + h.pathname).join(' → ')} and ended with ${String(trip?.status)}: ${trip?.page.slice(0, 300)}`).toBe('code');
    if (outcome.status !== 'code') {
      return;
    }
    // The browser went through the identity provider and ended on the app's loopback page.
    expect(trip!.hops.some((h) => h.origin !== new URL(stack!.apiUrl).origin && h.pathname.startsWith('/auth'))).toBe(true);
    expect(trip!.last.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(trip!.last.pathname).toBe('/sso/callback');
    expect(trip!.status).toBe(200);
    expect(trip!.page).toContain('Signed in to xp. You can close this tab and return to the app.');
    // The browser was opened at the loopback's own /sso/begin, which sent it to the start URL: that carried the challenge of the verifier main kept.
    expect(trip!.hops[0]!.href).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sso\/begin$/);
    const start = new URL(trip!.hops[1]!);
    expect(start.pathname).toBe('/api/v1/auth/sso/start');
    expect(start.searchParams.get('app_challenge')).toBe(createHash('sha256').update(outcome.verifier).digest('base64url'));

    const api = new XpApiClient({ apiUrl: stack!.apiUrl, client: 'desktop' });
    // Someone with the code but not the verifier gets nothing, and the code stays for the app.
    await expect(api.ssoExchange(outcome.code, randomBytes(32).toString('base64url'))).rejects.toMatchObject({ status: 401 });
    await expect(api.ssoExchange(outcome.code)).rejects.toBeInstanceOf(ApiError);

    const { token } = await api.ssoExchange(outcome.code, outcome.verifier);
    const me = await api.withToken(token).me();
    expect(me.email).toBe('desktop-ana@example.com');
    expect(me.role).toBe('analyst');
    // One use only.
    await expect(api.ssoExchange(outcome.code, outcome.verifier)).rejects.toMatchObject({ status: 401 });

    // A session the page will not use (another person's, in the session-expired dialog) is ended by main with its own token.
    const controller = new SsoSignInController({ openExternal: () => undefined });
    expect(await controller.discard(stack!.apiUrl, token)).toBe(true);
    await expect(api.withToken(token).me()).rejects.toMatchObject({ status: 401 });
  }, 90_000);

  it("does not send a sign-in of someone else's start link to its port unless the person confirms it (P1)", async () => {
    // Someone else on this computer (a shared host) listens on a port, with a verifier of their own.
    const got: string[] = [];
    const attacker = createServer((req, res) => {
      got.push(req.url ?? '');
      res.end('ok');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (attacker.address() as AddressInfo).port;
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const link = `${stack!.apiUrl}/api/v1/auth/sso/start?app_port=${String(port)}&app_challenge=${challenge}`;

      // The victim opens the genuine-looking link (pasted into the browser: `none`), and signs in at the IdP.
      // No app of theirs shows a code, so they do not continue.
      const trip = await browse(link, 'victim@example.com', { expect: () => Promise.resolve('no code: the app is not signing in') });
      // A page that links there is refused before the IdP.
      const linked = await fetch(link, { redirect: 'manual', headers: { 'sec-fetch-site': 'cross-site' } });

      expect(trip.status).toBe(200);
      expect(new URL(trip.last).pathname).toBe('/api/v1/auth/sso/callback');
      expect(trip.confirmations.map((c) => c.email)).toEqual(['victim@example.com']);
      expect(trip.page).toContain('Only continue if you just chose &ldquo;Sign in with Local IdP&rdquo; in the xp app');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(got).toEqual([]);
      expect([linked.status, ((await linked.json()) as { error: { code: string; message: string } }).error]).toEqual([403, { code: 'FORBIDDEN', message: 'open single sign-on from the xp app (desktop or command line)' }]);
    } finally {
      attacker.closeAllConnections();
      await new Promise<void>((resolve) => attacker.close(() => { resolve(); }));
    }
  }, 90_000);

  it('brings a sign-in cancelled at the identity provider back to the app as an error reason', async () => {
    const controller = new SsoSignInController({ openExternal: async (url) => { await browse(url, null); } });

    expect(await controller.signIn(stack!.apiUrl)).toEqual({ status: 'error', reason: 'denied' });
  }, 90_000);

  it('brings an email outside the allowed domains back to the app as domain-not-allowed', async () => {
    let browsing: ReturnType<typeof browse> | undefined;
    const signIn = startLoopbackSignIn({ apiUrl: stack!.apiUrl, openExternal: (url) => { browsing = browse(url, 'eve@elsewhere.test'); } });

    expect(await signIn.outcome).toEqual({ status: 'error', reason: 'domain-not-allowed' });
    expect((await browsing)?.page).toContain('Your email address is not in a domain allowed to sign in to xp.');
  }, 90_000);
});

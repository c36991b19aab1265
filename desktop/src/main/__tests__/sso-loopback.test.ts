import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ssoConfirmationCode } from '@xp/shared';
import { CALLBACK_PAGE_CSP, SsoSignInController, SsoSignInError, ssoStartUrl, startLoopbackSignIn } from '../sso-loopback.js';
import type { LoopbackSignIn } from '../sso-loopback.js';

/**
 * The system browser, played by the test: records what the app opened (its one-shot /sso/begin),
 * follows it once to the API's start URL, and hands that on.
 */
function fakeBrowser() {
  const opened: URL[] = [];
  const begun: URL[] = [];
  const waiters: ((url: URL) => void)[] = [];
  let taken = 0;
  return {
    opened,
    begun,
    openExternal: async (url: string) => {
      const parsed = new URL(url);
      begun.push(parsed);
      const res = await fetch(parsed, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      opened.push(location);
      waiters.shift()?.(location);
    },
    /** The next URL the app opens that the test has not seen yet. */
    next: (): Promise<URL> => {
      const seen = opened[taken++];
      return seen === undefined ? new Promise((resolve) => waiters.push(resolve)) : Promise.resolve(seen);
    },
  };
}

/**
 * Where the API would send the browser back: the loopback callback on the port the start URL names,
 * with the start's `app_challenge` as the API adds it (or `challenge`: another, or null for none).
 */
function callback(start: URL, query: string, path = '/sso/callback', challenge: string | null = start.searchParams.get('app_challenge')): string {
  const proof = challenge === null ? '' : `${query === '' ? '?' : '&'}app_challenge=${encodeURIComponent(challenge)}`;
  return `http://127.0.0.1:${start.searchParams.get('app_port')}${path}${query}${proof}`;
}

const started: LoopbackSignIn[] = [];
afterEach(() => {
  for (const s of started.splice(0)) {
    s.cancel();
  }
});
function start(options: Parameters<typeof startLoopbackSignIn>[0]): LoopbackSignIn {
  const s = startLoopbackSignIn(options);
  started.push(s);
  return s;
}

const base64url = (bytes: Buffer): string => bytes.toString('base64url');

describe('the loopback SSO sign-in', () => {
  it("opens the API's SSO start with the listening port and the verifier's challenge, and answers the browser's callback with a page and the code", async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();

    expect(`${url.origin}${url.pathname}`).toBe('http://localhost:8000/api/v1/auth/sso/start');
    expect([...url.searchParams.keys()].sort()).toEqual(['app_challenge', 'app_port']);
    const port = url.searchParams.get('app_port')!;
    expect(port).toMatch(/^[1-9][0-9]{3,4}$/);
    const challenge = url.searchParams.get('app_challenge')!;
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The browser comes back from the API with the one-time code.
    const res = await fetch(callback(url, '?code=one-time-code_123'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('Signed in to xp. You can close this tab and return to the app.');
    // Self-contained: nothing on the page loads from anywhere.
    expect(html).not.toMatch(/<script|<link|<img|src=|href=/i);

    const outcome = await signIn.outcome;
    expect(outcome).toMatchObject({ status: 'code', code: 'one-time-code_123' });
    // The code the app shows while it waits: the one the API's confirmation page derives from the same challenge.
    expect(await signIn.started).toEqual({ confirmationCode: await ssoConfirmationCode(challenge) });
    if (outcome.status !== 'code') {
      throw new Error('no code');
    }
    expect(outcome.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The challenge the API got is base64url(SHA-256(verifier)) of the verifier returned.
    expect(challenge).toBe(base64url(createHash('sha256').update(outcome.verifier).digest()));
    // And the server is gone once it has its answer.
    await expect(fetch(callback(url, '?code=again'))).rejects.toThrow();
  });

  it("opens the browser at its own one-shot /sso/begin (nothing secret in the URL), which redirects to the start once; a second request ends the sign-in", async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();
    const begin = browser.begun[0]!;

    // What a program's command line shows (ps): the port, never the challenge.
    expect(begin.href).toBe(`http://127.0.0.1:${url.searchParams.get('app_port')!}/sso/begin`);
    const ended = signIn.outcome.then(
      () => 'it went on',
      (e: unknown) => e,
    );
    // Another program that read that link, asking after the browser (or before it: then the browser is second): the sign-in ends.
    const again = await fetch(begin, { redirect: 'manual' });
    expect(again.status).toBe(409);
    expect(again.headers.get('location')).toBeNull();
    expect(await again.text()).toContain('This sign-in link was opened more than once, so the sign-in was stopped.');
    expect(await ended).toEqual(new SsoSignInError("another program opened this sign-in's link, so it was stopped and nothing was stored: start again"));
    expect(await ended).toBeInstanceOf(SsoSignInError);
    // Nothing listens any more: the real callback is too late.
    await expect(fetch(callback(url, '?code=late'))).rejects.toThrow();
  });

  it('does not count a /sso/begin for another host name, and serves no /sso/begin when the caller shows the start URL itself (begin: false)', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();
    const port = Number(url.searchParams.get('app_port'));
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/sso/begin', headers: { host: `attacker.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
    expect((await fetch(callback(url, '?code=real'))).status).toBe(200);
    expect(await signIn.outcome).toMatchObject({ status: 'code', code: 'real' });

    const shown: string[] = [];
    const printed = start({ apiUrl: 'http://localhost:8000', openExternal: (u) => { shown.push(u); }, begin: false });
    await printed.started;
    const startUrl = new URL(shown[0]!);
    expect(`${startUrl.origin}${startUrl.pathname}`).toBe('http://localhost:8000/api/v1/auth/sso/start');
    // Nobody gets the challenge from the listener, and asking does not end the sign-in.
    const asked = await fetch(`http://127.0.0.1:${startUrl.searchParams.get('app_port')!}/sso/begin`, { redirect: 'manual' });
    expect([asked.status, asked.headers.get('location')]).toEqual([404, null]);
    expect((await fetch(callback(startUrl, '?code=typed'))).status).toBe(200);
    expect(await printed.outcome).toMatchObject({ status: 'code', code: 'typed' });
  });

  it('listens on 127.0.0.1 only, not on other addresses of the machine', async () => {
    const browser = fakeBrowser();
    start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const port = Number((await browser.next()).searchParams.get('app_port'));

    // `localhost` may resolve to ::1 first; the IPv6 loopback must not answer.
    await expect(fetch(`http://[::1]:${port}/sso/callback?code=x`)).rejects.toThrow();
    const { networkInterfaces } = await import('node:os');
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && a.family === 'IPv4' && a.address !== '127.0.0.1')
      .map((a) => a!.address);
    for (const address of others) {
      await expect(fetch(`http://${address}:${port}/sso/callback?code=x`)).rejects.toThrow();
    }
  });

  it('passes an error reason on, with its plain message in the tab', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'https://xp.corp.example', openExternal: browser.openExternal });
    const url = await browser.next();

    const res = await fetch(callback(url, '?error=domain-not-allowed'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CALLBACK_PAGE_CSP);
    expect(await res.text()).toContain('Your email address is not in a domain allowed to sign in to xp.');
    expect(await signIn.outcome).toEqual({ status: 'error', reason: 'domain-not-allowed' });
  });

  it('answers 404 to other paths and methods, 400 to malformed codes, and keeps waiting for the real callback', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();
    let settled = false;
    void signIn.outcome.then(() => {
      settled = true;
    });

    expect((await fetch(callback(url, '', '/favicon.ico'))).status).toBe(404);
    expect((await fetch(callback(url, '?code=x', '/sso/callback/extra'))).status).toBe(404);
    expect((await fetch(callback(url, '?code=x'), { method: 'POST' })).status).toBe(404);
    expect((await fetch(callback(url, `?code=${'a'.repeat(513)}`))).status).toBe(400);
    expect((await fetch(callback(url, '?code=abc%0Adef'))).status).toBe(400);
    expect((await fetch(callback(url, '?code=abc%00'))).status).toBe(400);
    expect((await fetch(callback(url, '?code=abc%20def'))).status).toBe(400);
    expect((await fetch(callback(url, '?code='))).status).toBe(400);
    expect((await fetch(callback(url, ''))).status).toBe(400);
    expect((await fetch(callback(url, '?code=a&code=b'))).status).toBe(400);
    expect((await fetch(callback(url, '?code=a&error=denied'))).status).toBe(400);
    expect(settled).toBe(false);

    // The longest code accepted is 512 characters.
    const code = 'c'.repeat(512);
    expect((await fetch(callback(url, `?code=${code}`))).status).toBe(200);
    expect(await signIn.outcome).toMatchObject({ status: 'code', code });
  });

  it("refuses a callback without this sign-in's app_challenge, or with another (a page or process that found the port), and keeps waiting", async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();
    const own = url.searchParams.get('app_challenge')!;
    let settled = false;
    void signIn.outcome.then(() => {
      settled = true;
    });

    // What a web page can send blind (an <img> or no-cors fetch: Host is 127.0.0.1:<port>): no challenge.
    const blind = await fetch(callback(url, '?error=denied', undefined, null), { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    const junk = await fetch(callback(url, '?code=planted', undefined, null));
    const wrong = await fetch(callback(url, '?error=denied', undefined, `${own.slice(0, 42)}${own.endsWith('A') ? 'B' : 'A'}`));
    const shorter = await fetch(callback(url, '?code=planted', undefined, own.slice(0, 42)));
    const twice = await fetch(`${callback(url, '?code=planted')}&app_challenge=${own}`);

    expect([blind.status, junk.status, wrong.status, shorter.status, twice.status]).toEqual([400, 400, 400, 400, 400]);
    expect(settled).toBe(false);
    // The API's redirect, with it, still ends the wait.
    expect((await fetch(callback(url, '?code=real'))).status).toBe(200);
    expect(await signIn.outcome).toMatchObject({ status: 'code', code: 'real' });
  });

  it('closes a connection whose request is still half sent when the wait times out', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal, timeoutMs: 300 });
    const url = await browser.next();
    const port = Number(url.searchParams.get('app_port'));
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => {
      const since = Date.now();
      socket.once('close', () => {
        resolve(Date.now() - since);
      });
    });
    // The request line and a header, but not the blank line that ends the request.
    socket.write(`GET ${callback(url, '?code=slow').slice(`http://127.0.0.1:${port}`.length)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);

    expect(await signIn.outcome).toEqual({ status: 'timeout' });
    // Closed with the wait (well before Node's own request timeouts), not left to finish later.
    expect(await Promise.race([closed, new Promise((resolve) => setTimeout(() => { resolve('still open'); }, 1000))])).toEqual(expect.any(Number));
  });

  it('refuses a request for another host name (a page that rebound a name to 127.0.0.1)', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();
    const port = Number(url.searchParams.get('app_port'));

    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/sso/callback?code=planted&app_challenge=${url.searchParams.get('app_challenge')!}`, headers: { host: `attacker.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
    expect(signIn.cancel()).toBe(true);
    expect(await signIn.outcome).toEqual({ status: 'cancelled' });
  });

  it('ends with cancelled on cancel, closing the port; a second cancel says nothing was waiting', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal });
    const url = await browser.next();

    expect(signIn.cancel()).toBe(true);
    expect(await signIn.outcome).toEqual({ status: 'cancelled' });
    expect(signIn.cancel()).toBe(false);
    await expect(fetch(callback(url, '?code=late'))).rejects.toThrow();
  });

  it('ends with timeout when the browser does not come back in time', async () => {
    const browser = fakeBrowser();
    const signIn = start({ apiUrl: 'http://localhost:8000', openExternal: browser.openExternal, timeoutMs: 150 });
    const url = await browser.next();

    expect(await signIn.outcome).toEqual({ status: 'timeout' });
    await expect(fetch(callback(url, '?code=late'))).rejects.toThrow();
  });

  it('does not start for a non-http(s) API URL, and says why when the browser cannot be opened', async () => {
    const browser = fakeBrowser();
    await expect(start({ apiUrl: 'file:///etc/passwd', openExternal: browser.openExternal }).outcome).rejects.toThrow(SsoSignInError);
    expect(browser.opened).toEqual([]);

    const failing = start({ apiUrl: 'http://localhost:8000', openExternal: () => Promise.reject(new Error('no browser')) });
    await expect(failing.outcome).rejects.toThrow('the system browser could not be opened for single sign-on');
  });

  it("keeps the API URL's base path, and drops its credentials, query and fragment", () => {
    expect(ssoStartUrl('https://corp.example/xp/', 49152, 'C'.repeat(43))?.href).toBe(`https://corp.example/xp/api/v1/auth/sso/start?app_port=49152&app_challenge=${'C'.repeat(43)}`);
    expect(ssoStartUrl('https://u:p@corp.example/xp?x=1#y', 1024, 'c')?.href).toBe('https://corp.example/xp/api/v1/auth/sso/start?app_port=1024&app_challenge=c');
    expect(ssoStartUrl('javascript:alert(1)', 1024, 'c')).toBeNull();
    expect(ssoStartUrl('not a url', 1024, 'c')).toBeNull();
  });

  it('keeps at most one sign-in: a second start cancels the first, with a new verifier', async () => {
    const browser = fakeBrowser();
    const controller = new SsoSignInController({ openExternal: browser.openExternal });
    const first = controller.signIn('http://localhost:8000');
    const firstUrl = await browser.next();
    const second = controller.signIn('http://localhost:8000');
    const secondUrl = await browser.next();

    expect(await first).toEqual({ status: 'cancelled' });
    // (The system may give the second the first one's port again: a code for the first would then fail its challenge at the API.)
    expect(secondUrl.searchParams.get('app_challenge')).not.toBe(firstUrl.searchParams.get('app_challenge'));

    await fetch(callback(secondUrl, '?code=fresh'));
    expect(await second).toMatchObject({ status: 'code', code: 'fresh' });
    // Done: nothing is waiting any more.
    expect(controller.cancel()).toBe(false);

    const third = controller.signIn('http://localhost:8000');
    await browser.next();
    expect(controller.cancel()).toBe(true);
    expect(await third).toEqual({ status: 'cancelled' });
  });
});

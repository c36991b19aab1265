import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssoConfirmationCode } from '@xp/shared';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import type { TestIdp } from './sso-idp.js';
import { afterOf, auditOf, ssoCounts, startSsoPlatform } from './sso-harness.js';
import type { SsoPlatform } from './sso-harness.js';

type Response = Awaited<ReturnType<Platform['request']>>;

/** What the desktop app makes (RFC 7636 S256): a verifier of 32 random bytes, and its challenge. */
function proof(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * Single sign-on for the desktop app (RFC 8252): the app opens /start in the system browser with
 * its loopback port and a challenge; the callback sends the outcome to the app's listener on
 * 127.0.0.1; the app trades the code with the verifier, without the browser's cookie.
 */
describe.each(TARGETS.map((t) => [t().name, t] as const))('single sign-on for the desktop app on %s', (_name, makeTarget) => {
  let sp: SsoPlatform;
  let p: Platform;
  let idp: TestIdp;
  const PORT = 49_152;

  /** Starts a sign-in (the app's params when given): the IdP URL and the browser's `xp_sso_*` cookie. */
  async function start(app?: { port: number; challenge: string }): Promise<{ idpUrl: string; cookie: string }> {
    const res = await p.request('GET', `/api/v1/auth/sso/start${app === undefined ? '' : `?app_port=${String(app.port)}&app_challenge=${app.challenge}`}`);
    expect(res.status).toBe(302);
    return { idpUrl: res.headers.get('location')!, cookie: res.headers.get('set-cookie')!.split(';')[0]! };
  }

  /**
   * The browser's call of the callback (with its cookie unless undefined): where it is sent (a
   * redirect's Location; for a desktop app's code, the confirmation page's Continue link), and what
   * cookie is set.
   */
  async function callback(back: URL, cookie: string | undefined): Promise<{ location: string; setCookie: string | null; page: string | null; headers: Headers }> {
    const res = await p.request('GET', `${back.pathname}${back.search}`, cookie === undefined ? {} : { headers: { cookie } });
    if (res.status === 200) {
      // A desktop app's code: a page of this site, not a redirect; Continue is where the person may go.
      expect(res.headers.get('location')).toBeNull();
      const page = res.body as string;
      const onward = /<a class="continue" id="continue" href="([^"]+)"/.exec(page)?.[1];
      return { location: onward === undefined ? '' : onward.replaceAll('&amp;', '&'), setCookie: res.headers.get('set-cookie'), page, headers: res.headers };
    }
    expect(res.status).toBe(302);
    return { location: res.headers.get('location')!, setCookie: res.headers.get('set-cookie'), page: null, headers: res.headers };
  }

  /** A desktop app's sign-in through the IdP as `account`: the callback's answer, the browser's cookie and the app's proof. */
  async function appSignIn(account: string): Promise<{ location: string; setCookie: string | null; page: string | null; headers: Headers; cookie: string; verifier: string; challenge: string }> {
    const { verifier, challenge } = proof();
    const { idpUrl, cookie } = await start({ port: PORT, challenge });
    const back = await idp.signIn(idpUrl, account);
    return { ...(await callback(back, cookie)), cookie, verifier, challenge };
  }

  /** The code the app's listener receives (from the confirmation page's Continue), with the app's challenge. */
  const appCode = (location: string): string => {
    const url = new URL(location);
    expect(`${url.origin}${url.pathname}`).toBe(`http://127.0.0.1:${String(PORT)}/sso/callback`);
    expect([...url.searchParams.keys()]).toEqual(['code', 'app_challenge']);
    expect(url.searchParams.get('app_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return url.searchParams.get('code')!;
  };

  /** The reason the app's listener receives (a redirect: nothing to protect), with the app's challenge. */
  const appError = (location: string): string | null => {
    const url = new URL(location);
    expect(`${url.origin}${url.pathname}`).toBe(`http://127.0.0.1:${String(PORT)}/sso/callback`);
    expect([...url.searchParams.keys()]).toEqual(['error', 'app_challenge']);
    expect(url.searchParams.get('app_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return url.searchParams.get('error');
  };

  /** The exchange as the app sends it (through its proxy: X-Xp-Client: desktop), or with a browser's cookie. */
  const exchange = (body: Record<string, unknown>, cookie?: string): Promise<Response> =>
    p.request('POST', '/api/v1/auth/sso/exchange', { body, headers: { 'x-xp-client': 'desktop', ...(cookie === undefined ? {} : { cookie }) } });

  const pendingLogins = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sso_logins')).rows[0]!.n;

  beforeAll(async () => {
    // Request bodies in the log too: the verifier must not show there either.
    sp = await startSsoPlatform(makeTarget(), { collectBody: true });
    ({ p, idp } = sp);
  });
  afterAll(async () => {
    await sp.close();
  });

  it("signs in: start with the app's port and challenge, the IdP, the app's listener, the exchange with the verifier", async () => {
    idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true, name: 'Desk Top' });
    const before = await ssoCounts(p);

    const { location, setCookie, page, headers, cookie, verifier, challenge } = await appSignIn('desk-sub');
    const code = appCode(location);
    // Not sent on at once: a page of this site asks the person, with the code the app shows and who signs in.
    expect(new URL(location).searchParams.get('app_challenge')).toBe(challenge);
    expect(page).toContain('Sign in to the xp app (desktop or command line) on this computer as desk@example.com?');
    expect(page).toContain(`it shows the code</p>\n<p class="code" id="code">${await ssoConfirmationCode(challenge)}</p>`);
    expect(page).toContain('<a id="not-me" href="/" rel="noreferrer">');
    // Self-contained: no script, nothing loaded; its one link with the code is Continue.
    expect(page).not.toMatch(/<script|<link|<img|<form|src=/i);
    expect(page!.split(code)).toHaveLength(2);
    expect(Object.fromEntries(['content-type', 'content-security-policy', 'cache-control', 'referrer-policy', 'x-frame-options'].map((h) => [h, headers.get(h)]))).toEqual({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    // Bound to the challenge, not to the browser's cookie.
    const stored = (await p.db.query<{ binding_hash: string | null }>('SELECT binding_hash FROM sso_codes WHERE app_challenge = $1', [challenge])).rows;
    expect(stored).toEqual([{ binding_hash: null }]);
    const exchanged = await exchange({ code, verifier });
    const me = await p.request('GET', '/api/v1/me', { token: exchanged.body.token as string });

    // The browser's cookie of the sign-in is cleared at the callback: the exchange does not come from the browser.
    expect(setCookie).toMatch(new RegExp(`^${cookie.split('=')[0]!}=; Path=/api/v1/auth/sso; Max-Age=0;`));
    expect(exchanged.status).toBe(200);
    expect(exchanged.headers.get('set-cookie')).toBeNull();
    expect(Object.keys(exchanged.body as object).sort()).toEqual(['expiresAt', 'token', 'user']);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: 'desk@example.com', name: 'Desk Top', role: 'viewer' });
    expect(await ssoCounts(p)).toEqual({ sessions: before.sessions + 1, codes: before.codes });
    // Audited as a browser's SSO sign-in is, with the client the app's proxy names.
    const loggedIn = await p.db.query<{ client: string; diff: unknown }>("SELECT client, diff FROM audit_log WHERE action = 'user.logged-in' AND resource_key = $1 ORDER BY id", [me.body.id]);
    expect(loggedIn.rows.map((r) => r.client)).toEqual(['desktop']);
    expect(afterOf(JSON.stringify(loggedIn.rows[0]!.diff))).toEqual({ via: 'sso', issuer: idp.issuer, subject: 'desk-sub' });
    expect(await auditOf(p, 'user.created', me.body.id as string)).toEqual([expect.stringContaining('"via":"sso"')]);
    // Nothing secret in any log line: not the code, the verifier or the session.
    const secrets = [code, verifier, exchanged.body.token as string];
    expect(p.logs.filter((line) => secrets.some((s) => line.includes(s)))).toEqual([]);
  });

  it('refuses the code with a wrong verifier, without one, or with only the browser cookie, and leaves it for the app; then once', async () => {
    idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true });
    const { location, cookie, verifier } = await appSignIn('desk-sub');
    const code = appCode(location);
    const before = await ssoCounts(p);
    const refusal = { code: 'UNAUTHENTICATED', message: 'sign-in code expired or already used' };

    const wrong = await exchange({ code, verifier: proof().verifier });
    const none = await exchange({ code });
    const cookieOnly = await exchange({ code }, cookie);
    const wrongWithCookie = await exchange({ code, verifier: proof().verifier }, cookie);

    expect([wrong, none, cookieOnly, wrongWithCookie].map((r) => [r.status, r.body.error])).toEqual(Array.from({ length: 4 }, () => [401, refusal]));
    expect(await ssoCounts(p)).toEqual(before);
    const right = await exchange({ code, verifier });
    const again = await exchange({ code, verifier });
    expect(right.status).toBe(200);
    expect([again.status, again.body.error]).toEqual([401, refusal]);
    expect(await ssoCounts(p)).toEqual({ sessions: before.sessions + 1, codes: before.codes - 1 });
  });

  it('escapes the email on the confirmation page', async () => {
    idp.accounts.set('odd-sub', { email: `o'n<b>&"x@example.com`, email_verified: true });
    const { page, location } = await appSignIn('odd-sub');

    expect(page).toContain('on this computer as o&#39;n&lt;b&gt;&amp;&quot;x@example.com?</h1>');
    expect(page).not.toContain('<b>');
    appCode(location);
  });

  it("refuses an app's start that a web page navigated to (Sec-Fetch-Site), and keeps the app's own and the console's", async () => {
    const { challenge } = proof();
    const query = `app_port=${String(PORT)}&app_challenge=${challenge}`;
    const before = await pendingLogins();

    const fromPages = await Promise.all(['cross-site', 'same-site', 'same-origin'].map((site) => p.request('GET', `/api/v1/auth/sso/start?${query}`, { headers: { 'sec-fetch-site': site } })));
    expect(fromPages.map((r) => [r.status, r.body.error, r.headers.get('location'), r.headers.get('set-cookie')])).toEqual(
      Array.from({ length: 3 }, () => [403, { code: 'FORBIDDEN', message: 'open single sign-on from the xp app (desktop or command line)' }, null, null]),
    );
    expect(await pendingLogins()).toBe(before);
    // Opened by the app (shell.openExternal) or pasted: `none`; an older browser sends none at all.
    for (const headers of [{ 'sec-fetch-site': 'none' }, {}]) {
      expect((await p.request('GET', `/api/v1/auth/sso/start?${query}`, { headers })).status).toBe(302);
    }
    // The console's own start (no app parameters) from its page is unchanged.
    expect((await p.request('GET', '/api/v1/auth/sso/start', { headers: { 'sec-fetch-site': 'same-origin' } })).status).toBe(302);
  });

  it("never takes a verifier for a browser sign-in's cookie", async () => {
    idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true });
    const { idpUrl, cookie } = await start();
    const back = await idp.signIn(idpUrl, 'desk-sub');
    const { location, setCookie } = await callback(back, cookie);
    expect([location.startsWith('/#sso-code='), setCookie]).toEqual([true, null]);
    const code = decodeURIComponent(location.slice('/#sso-code='.length));
    // Even the verifier of the code's own hash (there is no challenge to match).
    const tries = [proof().verifier, createHash('sha256').update(code).digest('base64url')];

    for (const verifier of tries) {
      const res = await exchange({ code, verifier });
      expect([res.status, res.body.error?.message]).toEqual([401, 'sign-in code expired or already used']);
    }
    // Still there for its browser.
    expect((await exchange({ code }, cookie)).status).toBe(200);
  });

  it('refuses a code past its 60 seconds, even with the right verifier', async () => {
    idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true });
    const { location, verifier } = await appSignIn('desk-sub');
    const code = appCode(location);
    const saved = p.now.value;
    p.now.value = new Date(saved.getTime() + 61_000);
    try {
      const res = await exchange({ code, verifier });
      expect([res.status, res.body.error?.message]).toEqual([401, 'sign-in code expired or already used']);
    } finally {
      p.now.value = saved;
    }
    // Spent by the late try: it is not there for a second one either.
    expect((await exchange({ code, verifier })).status).toBe(401);
  });

  describe("the callback's refusals", () => {
    it("send the app's sign-in to its listener with the reason: the user cancelled at the IdP", async () => {
      const { challenge } = proof();
      const { idpUrl, cookie } = await start({ port: PORT, challenge });
      const back = await idp.cancel(idpUrl);
      expect(back.searchParams.get('error')).toBe('access_denied');
      const before = await ssoCounts(p);

      const { location, setCookie } = await callback(back, cookie);

      expect(appError(location)).toBe('denied');
      expect(setCookie).toMatch(new RegExp(`^${cookie.split('=')[0]!}=; `));
      expect(await ssoCounts(p)).toEqual(before);
    });

    it("send the app's sign-in to its listener with the reason: an email domain that is not allowed (audited)", async () => {
      sp.box.sso = sp.config({ XP_SSO_ALLOWED_DOMAINS: 'example.com' });
      idp.accounts.set('far-sub', { email: 'mallory@example.org', email_verified: true });
      try {
        const before = await ssoCounts(p);
        const { location } = await appSignIn('far-sub');
        expect(appError(location)).toBe('domain-not-allowed');
        expect(await ssoCounts(p)).toEqual(before);
        expect(afterOf((await auditOf(p, 'user.login-failed')).at(-1)!)).toMatchObject({ via: 'sso', reason: 'domain-not-allowed', email: 'mallory@example.org' });
      } finally {
        sp.box.sso = sp.base;
      }
    });

    it('send an unknown state, or one without its cookie, to the console (the port is not known then), leaving the sign-in', async () => {
      idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true });
      const { challenge } = proof();
      const { idpUrl, cookie } = await start({ port: PORT, challenge });
      const back = await idp.signIn(idpUrl, 'desk-sub');
      const before = await pendingLogins();

      const noCookie = await callback(back, undefined);
      const forged = await p.request('GET', '/api/v1/auth/sso/callback?state=forged&code=x');

      expect([noCookie.location, noCookie.setCookie]).toEqual(['/#sso-error=expired', null]);
      expect(forged.headers.get('location')).toBe('/#sso-error=expired');
      expect(await pendingLogins()).toBe(before);
      // The browser that started it still finishes it, at the app's listener.
      appCode((await callback(back, cookie)).location);
    });

    it('send an expired state to the console: the app has stopped waiting', async () => {
      idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true });
      const { challenge } = proof();
      const { idpUrl, cookie } = await start({ port: PORT, challenge });
      const back = await idp.signIn(idpUrl, 'desk-sub');
      const saved = p.now.value;
      p.now.value = new Date(saved.getTime() + 10 * 60_000 + 1000);
      try {
        expect((await callback(back, cookie)).location).toBe('/#sso-error=expired');
      } finally {
        p.now.value = saved;
      }
    });
  });

  it("sends a refusal at the start (an IdP that cannot be reached) to the app's listener, which is waiting for it", async () => {
    sp.box.sso = sp.config({ XP_SSO_ISSUER: 'http://127.0.0.1:9' });
    try {
      const { challenge } = proof();
      const before = await pendingLogins();
      const res = await p.request('GET', `/api/v1/auth/sso/start?app_port=${String(PORT)}&app_challenge=${challenge}`);
      expect([res.status, res.headers.get('set-cookie')]).toEqual([302, null]);
      expect(appError(res.headers.get('location')!)).toBe('idp-unavailable');
      expect(await pendingLogins()).toBe(before);
      // A browser's start still goes to the console.
      expect((await p.request('GET', '/api/v1/auth/sso/start')).headers.get('location')).toBe('/#sso-error=idp-unavailable');
    } finally {
      sp.box.sso = sp.base;
    }
  });

  describe("the start's app parameters", () => {
    const { challenge } = proof();
    const cases: readonly (readonly [string, string, string])[] = [
      ['only app_port', `app_port=${String(PORT)}`, 'query.app_challenge'],
      ['only app_challenge', `app_challenge=${challenge}`, 'query.app_port'],
      ['port 80', `app_port=80&app_challenge=${challenge}`, 'query.app_port'],
      ['port 1023', `app_port=1023&app_challenge=${challenge}`, 'query.app_port'],
      ['port 65536', `app_port=65536&app_challenge=${challenge}`, 'query.app_port'],
      ['port 8080abc', `app_port=8080abc&app_challenge=${challenge}`, 'query.app_port'],
      ['port " 8080"', `app_port=%208080&app_challenge=${challenge}`, 'query.app_port'],
      ['port 0x1F90', `app_port=0x1F90&app_challenge=${challenge}`, 'query.app_port'],
      ['an empty port', `app_port=&app_challenge=${challenge}`, 'query.app_port'],
      ['a challenge of 42 characters', `app_port=${String(PORT)}&app_challenge=${challenge.slice(0, 42)}`, 'query.app_challenge'],
      ['a challenge of 44 characters', `app_port=${String(PORT)}&app_challenge=${challenge}A`, 'query.app_challenge'],
      ['a challenge with +', `app_port=${String(PORT)}&app_challenge=${encodeURIComponent(`+${challenge.slice(1)}`)}`, 'query.app_challenge'],
      ['a challenge with /', `app_port=${String(PORT)}&app_challenge=${encodeURIComponent(`/${challenge.slice(1)}`)}`, 'query.app_challenge'],
      ['a challenge with =', `app_port=${String(PORT)}&app_challenge=${encodeURIComponent(`${challenge.slice(0, 42)}=`)}`, 'query.app_challenge'],
    ];

    it.each(cases)('refuses %s with 400 VALIDATION_FAILED naming the parameter, storing nothing', async (_label, query, path) => {
      const before = await pendingLogins();

      const res = await p.request('GET', `/api/v1/auth/sso/start?${query}`);

      expect([res.status, res.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect((res.body.error.details.issues as { path: string }[]).map((i) => i.path)).toEqual([path]);
      expect(res.body.error.message).toContain(path);
      expect([res.headers.get('set-cookie'), res.headers.get('location')]).toEqual([null, null]);
      expect(await pendingLogins()).toBe(before);
    });

    it("ignores other parameters (a portal's tracking parameters), with the app's pair or without", async () => {
      for (const query of ['utm_source=portal&foo=1', `app_port=${String(PORT)}&app_challenge=${challenge}&utm_source=portal`]) {
        const res = await p.request('GET', `/api/v1/auth/sso/start?${query}`);
        expect([res.status, new URL(res.headers.get('location')!).pathname]).toEqual([302, new URL(idp.issuer).pathname.replace(/\/$/, '') + '/auth']);
      }
      // Still both or neither, with the tracking parameter beside it.
      const one = await p.request('GET', `/api/v1/auth/sso/start?app_port=${String(PORT)}&utm_source=portal`);
      expect([one.status, one.body.error.details.issues.map((i: { path: string }) => i.path)]).toEqual([400, ['query.app_challenge']]);
    });

    it('takes the lowest and highest ports, and stores the pair with the pending sign-in', async () => {
      for (const port of [1024, 65_535]) {
        const { idpUrl } = await start({ port, challenge });
        const state = new URL(idpUrl).searchParams.get('state')!;
        const row = await p.db.query<{ app_port: number; app_challenge: string }>("SELECT app_port, app_challenge FROM sso_logins WHERE state_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')", [state]);
        expect(row.rows).toEqual([{ app_port: port, app_challenge: challenge }]);
      }
    });

    it('keeps them through the local loopback hop (127.0.0.1 to localhost), to the app\'s listener', async () => {
      idp.accounts.set('desk-sub', { email: 'desk@example.com', email_verified: true });
      const app = proof();
      const query = `app_port=${String(PORT)}&app_challenge=${app.challenge}`;

      const hop = await p.app.request(`http://127.0.0.1/api/v1/auth/sso/start?${query}`);
      expect([hop.status, hop.headers.get('location'), hop.headers.get('set-cookie')]).toEqual([302, `http://localhost/api/v1/auth/sso/start?${query}`, null]);
      const next = new URL(hop.headers.get('location')!);
      const started = await p.request('GET', `${next.pathname}${next.search}`);
      const back = await idp.signIn(started.headers.get('location')!, 'desk-sub');
      const { location } = await callback(back, started.headers.get('set-cookie')!.split(';')[0]);
      expect((await exchange({ code: appCode(location), verifier: app.verifier })).status).toBe(200);
    });
  });
});

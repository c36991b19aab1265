import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSO_ERROR_REASONS } from '@xp/shared';
import { SSO_EXCHANGE_COOKIES_MAX, SSO_PENDING_LIMIT, SSO_START_LIMIT } from '../../domain/sso.js';
import type { SsoConfig } from '../../auth/sso-config.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { INVITED_PASSWORD, OWNER, signedInAs } from './harness.js';
import type { TestIdp } from './sso-idp.js';
import { SSO_REDIRECT as REDIRECT, SSO_SECRET as SECRET, afterOf, auditOf as auditIn, ssoCounts, ssoSession, startSsoPlatform } from './sso-harness.js';
import type { SsoPlatform } from './sso-harness.js';

type Response = Awaited<ReturnType<Platform['request']>>;

describe.each(TARGETS.map((t) => [t().name, t] as const))('single sign-on with OpenID Connect on %s', (_name, makeTarget) => {
  let sp: SsoPlatform;
  let p: Platform;
  let idp: TestIdp;
  let owner = '';
  let base: SsoConfig;
  let box: { sso: SsoConfig | undefined };

  const config = (env: Record<string, string> = {}): SsoConfig => sp.config(env);

  /** Starts a sign-in: the IdP URL and its `xp_sso_<16 hex>` cookie (name=value). */
  async function start(): Promise<{ res: Response; idpUrl: string; cookie: string }> {
    const res = await p.request('GET', '/api/v1/auth/sso/start');
    expect(res.status).toBe(302);
    return { res, idpUrl: res.headers.get('location')!, cookie: res.headers.get('set-cookie')!.split(';')[0]! };
  }

  /** The callback as the browser calls it, with `cookie` (none when undefined). */
  async function callback(back: URL, cookie: string | undefined): Promise<string> {
    const res = await p.request('GET', `${back.pathname}${back.search}`, cookie === undefined ? {} : { headers: { cookie } });
    expect(res.status).toBe(302);
    return res.headers.get('location')!;
  }

  /** A whole sign-in as the IdP account: the callback's redirect and the browser's cookie. */
  async function signIn(account: string): Promise<{ location: string; cookie: string; back: URL }> {
    const { idpUrl, cookie } = await start();
    const back = await idp.signIn(idpUrl, account);
    return { location: await callback(back, cookie), cookie, back };
  }

  const codeOf = (location: string): string => {
    expect(location).toMatch(/^\/#sso-code=/);
    return decodeURIComponent(location.slice('/#sso-code='.length));
  };

  const exchange = (code: unknown, cookie?: string): Promise<Response> => p.request('POST', '/api/v1/auth/sso/exchange', { body: { code }, ...(cookie === undefined ? {} : { headers: { cookie } }) });

  /** Signs in through the IdP and the exchange: the session token. */
  const session = (account: string): Promise<string> => ssoSession(p, idp, account);

  const counts = (): Promise<{ sessions: number; codes: number }> => ssoCounts(p);
  const auditOf = (action: string, resourceKey?: string): Promise<string[]> => auditIn(p, action, resourceKey);

  beforeAll(async () => {
    // Request bodies in the log too (COLLECT_REQUEST_BODY=true): the exchange's code must not show there either.
    sp = await startSsoPlatform(makeTarget(), { collectBody: true });
    ({ p, idp, owner, base, box } = sp);
  });
  afterAll(async () => {
    await sp.close();
  });

  it('says whether SSO is on, and who may use a password', async () => {
    box.sso = undefined;
    const off = await p.request('GET', '/api/v1/auth/sso');
    const startOff = await p.request('GET', '/api/v1/auth/sso/start');
    const callbackOff = await p.request('GET', '/api/v1/auth/sso/callback?state=x&code=y');
    box.sso = base;
    const on = await p.request('GET', '/api/v1/auth/sso');
    box.sso = { ...base, enforced: true };
    const enforced = await p.request('GET', '/api/v1/auth/sso');
    box.sso = base;

    expect(off.body).toEqual({ enabled: false, name: null, passwordSignIn: 'all' });
    expect([startOff.status, startOff.body.error.code]).toEqual([404, 'SSO_DISABLED']);
    expect([callbackOff.status, callbackOff.headers.get('location')]).toEqual([302, '/#sso-error=idp-unavailable']);
    expect(on.body).toEqual({ enabled: true, name: 'Okta', passwordSignIn: 'all' });
    expect(enforced.body).toEqual({ enabled: true, name: 'Okta', passwordSignIn: 'owners' });
  });

  it('signs a new person in through the IdP: start, login, callback, exchange, a working session', async () => {
    idp.accounts.set('alice-sub', { email: 'alice@example.com', email_verified: true, name: 'Alice Liddell' });
    const before = await counts();

    const { res, idpUrl, cookie } = await start();
    const authorize = new URL(idpUrl);
    const back = await idp.signIn(idpUrl, 'alice-sub');
    const location = await callback(back, cookie);
    const code = codeOf(location);
    // At rest only hashes of the state, the browser binding and the one-time code.
    const stored = JSON.stringify([(await p.db.query('SELECT * FROM sso_codes')).rows, (await p.db.query('SELECT * FROM sso_logins')).rows]);
    expect([code, authorize.searchParams.get('state')!, cookie.split('=')[1]!].filter((secret) => stored.includes(secret))).toEqual([]);
    expect(stored).toContain(createHash('sha256').update(cookie.split('=')[1]!).digest('hex'));
    const exchanged = await exchange(code, cookie);
    const me = await p.request('GET', '/api/v1/me', { token: exchanged.body.token as string });

    const setCookie = res.headers.get('set-cookie')!;
    // The sign-in's own cookie, named after its state.
    const cookieName = `xp_sso_${createHash('sha256').update(authorize.searchParams.get('state')!).digest('hex').slice(0, 16)}`;
    expect(setCookie).toMatch(/^xp_sso_[0-9a-f]{16}=[A-Za-z0-9_-]{43}; Path=\/api\/v1\/auth\/sso; Max-Age=600; HttpOnly; SameSite=Lax$/);
    expect(setCookie.startsWith(`${cookieName}=`)).toBe(true);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${idp.issuer}/auth`);
    expect(Object.fromEntries(['response_type', 'scope', 'code_challenge_method', 'redirect_uri', 'client_id'].map((k) => [k, authorize.searchParams.get(k)]))).toEqual({
      response_type: 'code',
      scope: 'openid email profile',
      code_challenge_method: 'S256',
      redirect_uri: REDIRECT,
      client_id: 'xp',
    });
    expect(['state', 'nonce', 'code_challenge'].every((k) => (authorize.searchParams.get(k) ?? '').length >= 32)).toBe(true);
    expect(exchanged.status).toBe(200);
    expect(exchanged.headers.get('set-cookie')).toMatch(new RegExp(`^${cookieName}=; Path=/api/v1/auth/sso; Max-Age=0;`));
    expect(Object.keys(exchanged.body as object).sort()).toEqual(['expiresAt', 'token', 'user']);
    expect(exchanged.body.user).toMatchObject({ email: 'alice@example.com', name: 'Alice Liddell', role: 'viewer', kind: 'person', disabled: false });
    expect(exchanged.body.user.orgId).toBeUndefined();
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: exchanged.body.user.id, email: 'alice@example.com', role: 'viewer' });
    // No password: the account signs in only through the IdP.
    expect((await p.db.query<{ h: string | null }>('SELECT password_hash AS h FROM users WHERE id = $1', [me.body.id])).rows[0]!.h).toBeNull();
    expect(await counts()).toEqual({ sessions: before.sessions + 1, codes: before.codes });
    expect(await auditOf('user.created', me.body.id as string)).toEqual([expect.stringContaining('"via":"sso"')]);
    // Who at the IdP: the identity in the creation and in each SSO session's entry.
    expect(afterOf((await auditOf('user.created', me.body.id as string))[0]!)).toMatchObject({ via: 'sso', issuer: idp.issuer, subject: 'alice-sub' });
    expect(afterOf((await auditOf('user.logged-in', me.body.id as string)).at(-1)!)).toEqual({ via: 'sso', issuer: idp.issuer, subject: 'alice-sub' });
    // Nothing secret in any log line: not the one-time code, the session, the state or the IdP's code.
    const secrets = [code, exchanged.body.token as string, authorize.searchParams.get('state')!, back.searchParams.get('code')!, SECRET, cookie.split('=')[1]!];
    expect(p.logs.filter((line) => secrets.some((s) => line.includes(s)))).toEqual([]);
    expect(p.logs.some((line) => line.includes('/api/v1/auth/sso/exchange'))).toBe(true);
  });

  it('finds the same person by (iss, sub) after their email changed at the IdP', async () => {
    idp.accounts.set('dana-sub', { email: 'dana@example.com', email_verified: true, name: 'Dana' });
    const first = await p.request('GET', '/api/v1/me', { token: await session('dana-sub') });
    idp.accounts.set('dana-sub', { email: 'dana.renamed@example.com', email_verified: true, name: 'Dana' });

    const second = await p.request('GET', '/api/v1/me', { token: await session('dana-sub') });

    expect(second.body.id).toBe(first.body.id);
    expect((await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE email LIKE 'dana%'")).rows[0]!.n).toBe(1);
  });

  it('links an existing password user by verified email (any case), who keeps their password', async () => {
    await signedInAs(p, owner, 'editor', 'bob@example.com');
    const bob = (await p.request('GET', '/api/v1/users?q=bob', { token: owner })).body.items[0];
    idp.accounts.set('bob-sub', { email: 'Bob@Example.com', email_verified: true, name: 'Robert' });

    const me = await p.request('GET', '/api/v1/me', { token: await session('bob-sub') });
    const linked = await p.db.query<{ sso_issuer: string; sso_subject: string }>('SELECT sso_issuer, sso_subject FROM users WHERE id = $1', [bob.id]);

    expect(me.body).toMatchObject({ id: bob.id, email: 'bob@example.com', role: 'editor', name: 'bob' });
    expect(linked.rows[0]).toEqual({ sso_issuer: idp.issuer, sso_subject: 'bob-sub' });
    // The link is audited (org-level), with the email the IdP asserted.
    const links = await auditOf('user.sso-linked', bob.id as string);
    expect(links).toHaveLength(1);
    expect(afterOf(links[0]!)).toEqual({ issuer: idp.issuer, subject: 'bob-sub', email: 'Bob@Example.com' });
    expect((await p.db.query<{ project_id: string | null }>("SELECT project_id FROM audit_log WHERE action = 'user.sso-linked' AND resource_key = $1", [bob.id])).rows).toEqual([{ project_id: null }]);
    // Signing in again by the identity links nothing more.
    await session('bob-sub');
    expect(await auditOf('user.sso-linked', bob.id as string)).toHaveLength(1);
    expect((await p.request('POST', '/api/v1/auth/login', { body: { email: 'bob@example.com', password: INVITED_PASSWORD } })).status).toBe(200);
  });

  it('does not hand an account linked to one IdP identity to another with the same email', async () => {
    idp.accounts.set('bob-impostor', { email: 'bob@example.com', email_verified: true });
    const before = await counts();

    const { location } = await signIn('bob-impostor');

    expect(location).toBe('/#sso-error=invalid-response');
    expect(await counts()).toEqual(before);
  });

  it('does not link an owner by email (the break-glass account) unless XP_SSO_LINK_OWNERS=true', async () => {
    const ownerId = (await p.db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [OWNER.email])).rows[0]!.id;
    const identity = async (): Promise<unknown> => (await p.db.query('SELECT sso_issuer, sso_subject FROM users WHERE id = $1', [ownerId])).rows[0];
    idp.accounts.set('owner-sub', { email: OWNER.email, email_verified: true });
    const before = await counts();

    const { location } = await signIn('owner-sub');

    expect(location).toBe('/#sso-error=invalid-response');
    expect(await counts()).toEqual(before);
    expect(await identity()).toEqual({ sso_issuer: null, sso_subject: null });
    // Audited against the owner, with why.
    expect(afterOf((await auditOf('user.login-failed', ownerId)).at(-1)!)).toMatchObject({ via: 'sso', reason: 'invalid-response', why: expect.stringContaining('XP_SSO_LINK_OWNERS') as unknown });
    expect(p.logs.some((line) => line.startsWith('sso sign-in refused') && line.includes('XP_SSO_LINK_OWNERS'))).toBe(true);

    box.sso = config({ XP_SSO_LINK_OWNERS: 'true' });
    try {
      const me = await p.request('GET', '/api/v1/me', { token: await session('owner-sub') });
      expect(me.body).toMatchObject({ id: ownerId, role: 'owner' });
    } finally {
      box.sso = base;
    }
    expect(await identity()).toEqual({ sso_issuer: idp.issuer, sso_subject: 'owner-sub' });
    expect(await auditOf('user.sso-linked', ownerId)).toHaveLength(1);
  });

  it('refuses an email with a non-ASCII character before any lookup (KELVIN SIGN is not K)', async () => {
    await signedInAs(p, owner, 'editor', 'kim@example.com');
    const kim = (await p.db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', ['kim@example.com'])).rows[0]!.id;
    idp.accounts.set('kelvin-sub', { email: '\u212Aim@example.com', email_verified: true });
    idp.accounts.set('kelvin-domain-sub', { email: 'kim2@example.\u212Aom', email_verified: true });
    const users = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n;
    const before = [await counts(), await users()];
    box.sso = config({ XP_SSO_ALLOWED_DOMAINS: 'example.com' });
    try {
      expect((await signIn('kelvin-sub')).location).toBe('/#sso-error=invalid-response');
      expect((await signIn('kelvin-domain-sub')).location).toBe('/#sso-error=invalid-response');
    } finally {
      box.sso = base;
    }

    expect([await counts(), await users()]).toEqual(before);
    expect((await p.db.query('SELECT sso_subject FROM users WHERE id = $1', [kim])).rows[0]).toEqual({ sso_subject: null });
    expect((await auditOf('user.login-failed')).slice(-2).map((entry) => afterOf(entry).why)).toEqual(['email with a non-ASCII character', 'email with a non-ASCII character']);
  });

  it("never signs in as a service account, even with its address as a verified email", async () => {
    const robot = (await p.request('POST', '/api/v1/service-accounts', { token: owner, body: { name: 'sso-robot', role: 'editor' } })).body as { id: string };
    const { rows } = await p.db.query<{ email: string }>('SELECT email FROM users WHERE id = $1', [robot.id]);
    idp.accounts.set('robot-sub', { email: rows[0]!.email, email_verified: true });
    const before = await counts();

    const { location } = await signIn('robot-sub');
    const linked = await p.db.query<{ sso_subject: string | null }>('SELECT sso_subject FROM users WHERE id = $1', [robot.id]);

    expect(location).toBe('/#sso-error=invalid-response');
    expect(linked.rows[0]!.sso_subject).toBeNull();
    expect(await counts()).toEqual(before);
  });

  it("takes Entra ID's xms_edov for a verified email when email_verified is absent, never over a false one", async () => {
    idp.accounts.set('entra-sub', { email: 'erin@example.com', xms_edov: true });
    idp.accounts.set('entra-false-sub', { email: 'frank@example.com', email_verified: false, xms_edov: true });

    const me = await p.request('GET', '/api/v1/me', { token: await session('entra-sub') });
    const refused = await signIn('entra-false-sub');

    expect(me.body.email).toBe('erin@example.com');
    expect(refused.location).toBe('/#sso-error=email-unverified');
  });

  it('works as a public client too (PKCE, no secret)', async () => {
    box.sso = config({ XP_SSO_CLIENT_ID: 'xp-public', XP_SSO_CLIENT_SECRET: '' });
    idp.accounts.set('pub-sub', { email: 'pub@example.com', email_verified: true });
    try {
      const me = await p.request('GET', '/api/v1/me', { token: await session('pub-sub') });
      expect(me.body.email).toBe('pub@example.com');
    } finally {
      box.sso = base;
    }
  });

  describe('refusals land on /#sso-error=<reason> without a session', () => {
    async function refused(run: () => Promise<string>): Promise<string> {
      const before = await counts();
      const location = await run();
      expect(await counts()).toEqual(before);
      const reason = /^\/#sso-error=(.+)$/.exec(location)?.[1];
      expect(SSO_ERROR_REASONS).toContain(reason);
      return reason!;
    }

    it('an unverified email, audited as a failed SSO login', async () => {
      idp.accounts.set('unverified-sub', { email: 'eve@example.com', email_verified: false });
      expect(await refused(async () => (await signIn('unverified-sub')).location)).toBe('email-unverified');
      const last = JSON.parse((await auditOf('user.login-failed')).at(-1)!) as unknown;
      expect(JSON.stringify(last)).toContain('"reason":"email-unverified"');
      expect(JSON.stringify(last)).toContain('"email":"eve@example.com"');
      expect(JSON.stringify(last)).toContain('"via":"sso"');
    });

    it('an email domain that is not allowed', async () => {
      box.sso = config({ XP_SSO_ALLOWED_DOMAINS: 'example.com' });
      idp.accounts.set('outsider-sub', { email: 'mallory@example.org', email_verified: true });
      try {
        expect(await refused(async () => (await signIn('outsider-sub')).location)).toBe('domain-not-allowed');
        expect((await p.db.query('SELECT 1 FROM users WHERE email = $1', ['mallory@example.org'])).rows).toEqual([]);
      } finally {
        box.sso = base;
      }
    });

    it('a disabled user', async () => {
      const carl = await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'carl@example.com', name: 'Carl', role: 'viewer', password: INVITED_PASSWORD } });
      await p.request('PATCH', `/api/v1/users/${carl.body.user.id as string}`, { token: owner, body: { disabled: true }, headers: { 'If-Match': '"1"' } });
      idp.accounts.set('carl-sub', { email: 'carl@example.com', email_verified: true });
      expect(await refused(async () => (await signIn('carl-sub')).location)).toBe('account-disabled');
    });

    it('the IdP refusing (the user cancelled: access_denied)', async () => {
      expect(
        await refused(async () => {
          const { idpUrl, cookie } = await start();
          const back = await idp.cancel(idpUrl);
          expect(back.searchParams.get('error')).toBe('access_denied');
          return callback(back, cookie);
        }),
      ).toBe('denied');
    });

    it('a replayed state', async () => {
      idp.accounts.set('replay-sub', { email: 'replay@example.com', email_verified: true });
      const first = await signIn('replay-sub');
      codeOf(first.location);
      expect(await refused(() => callback(first.back, first.cookie))).toBe('expired');
    });

    it("no cookie of the sign-in, or another browser's under its name, which leaves the sign-in to its browser", async () => {
      idp.accounts.set('cookie-sub', { email: 'cookie@example.com', email_verified: true });
      const other = (await start()).cookie;
      const { idpUrl, cookie } = await start();
      const back = await idp.signIn(idpUrl, 'cookie-sub');
      const [name] = cookie.split('=');
      const pending = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sso_logins')).rows[0]!.n;
      const before = await pending();

      expect(await refused(() => callback(back, undefined))).toBe('expired');
      expect(await refused(() => callback(back, other))).toBe('expired');
      // Another browser's binding under this sign-in's cookie name.
      expect(await refused(() => callback(back, `${name!}=${other.split('=')[1]!}`))).toBe('expired');
      // Nothing was burnt: the browser that started it still finishes it, once.
      expect(await pending()).toBe(before);
      const location = await callback(back, cookie);
      expect((await exchange(codeOf(location), cookie)).status).toBe(200);
      expect(await pending()).toBe(before - 1);
    });

    it('a state older than 10 minutes', async () => {
      idp.accounts.set('slow-sub', { email: 'slow@example.com', email_verified: true });
      const { idpUrl, cookie } = await start();
      const back = await idp.signIn(idpUrl, 'slow-sub');
      const saved = p.now.value;
      p.now.value = new Date(saved.getTime() + 10 * 60_000 + 1000);
      try {
        expect(await refused(() => callback(back, cookie))).toBe('expired');
      } finally {
        p.now.value = saved;
      }
    });

    it('an ID token with another nonce, or a code traded without its PKCE verifier', async () => {
      idp.accounts.set('nonce-sub', { email: 'nonce@example.com', email_verified: true });
      for (const column of ['nonce', 'code_verifier']) {
        const { idpUrl, cookie } = await start();
        const state = new URL(idpUrl).searchParams.get('state')!;
        const back = await idp.signIn(idpUrl, 'nonce-sub');
        // The pending sign-in's stored nonce / verifier replaced: what the IdP answers no longer matches it.
        await p.db.query(`UPDATE sso_logins SET ${column} = $1 WHERE state_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex')`, ['x'.repeat(43), state]);
        expect(await refused(() => callback(back, cookie))).toBe('invalid-response');
      }
    });

    it('an IdP that cannot be reached', async () => {
      box.sso = config({ XP_SSO_ISSUER: 'http://127.0.0.1:9' });
      try {
        const res = await p.request('GET', '/api/v1/auth/sso/start');
        expect([res.status, res.headers.get('location'), res.headers.get('set-cookie')]).toEqual([302, '/#sso-error=idp-unavailable', null]);
      } finally {
        box.sso = base;
      }
    });

    it('unknown callback parameters (an IdP adds its own) redirect, never a JSON error', async () => {
      const res = await p.request('GET', '/api/v1/auth/sso/callback?state=forged&code=x&session_state=abc&unexpected=1');
      expect([res.status, res.headers.get('location')]).toEqual([302, '/#sso-error=expired']);
    });
  });

  describe('the one-time code', () => {
    it('works once', async () => {
      idp.accounts.set('once-sub', { email: 'once@example.com', email_verified: true });
      const { location, cookie } = await signIn('once-sub');
      const code = codeOf(location);
      const first = await exchange(code, cookie);
      const second = await exchange(code, cookie);
      expect(first.status).toBe(200);
      expect([second.status, second.body.error]).toEqual([401, { code: 'UNAUTHENTICATED', message: 'sign-in code expired or already used' }]);
    });

    it('lives 60 seconds', async () => {
      idp.accounts.set('once-sub', { email: 'once@example.com', email_verified: true });
      const { location, cookie } = await signIn('once-sub');
      const saved = p.now.value;
      p.now.value = new Date(saved.getTime() + 61_000);
      try {
        expect((await exchange(codeOf(location), cookie)).status).toBe(401);
      } finally {
        p.now.value = saved;
      }
    });

    it('needs the cookie of the browser that started the sign-in; a try without it does not burn the code', async () => {
      idp.accounts.set('once-sub', { email: 'once@example.com', email_verified: true });
      const mine = await signIn('once-sub');
      const otherBrowser = await signIn('once-sub');
      const code = codeOf(mine.location);
      const before = await counts();
      const [name] = mine.cookie.split('=');

      expect((await exchange(code)).status).toBe(401);
      expect((await exchange(code, otherBrowser.cookie)).status).toBe(401);
      expect((await exchange(code, `${name!}=${otherBrowser.cookie.split('=')[1]!}`)).status).toBe(401);
      // Past the first SSO_EXCHANGE_COOKIES_MAX xp_sso_* cookies, none is looked at.
      const crowd = Array.from({ length: SSO_EXCHANGE_COOKIES_MAX }, (_, i) => `xp_sso_${String(i).padStart(16, '0')}=x${String(i)}`);
      expect((await exchange(code, [...crowd, mine.cookie].join('; '))).status).toBe(401);
      expect(await counts()).toEqual(before);
      // The code is still there for its browser (the cookie among others), and then spent.
      const res = await exchange(code, [...crowd.slice(1), mine.cookie].join('; '));
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toMatch(new RegExp(`^${name!}=; Path=/api/v1/auth/sso; Max-Age=0;`));
      expect((await exchange(code, mine.cookie)).status).toBe(401);
      expect(await counts()).toEqual({ sessions: before.sessions + 1, codes: before.codes - 1 });
    });

    it('takes a strict body', async () => {
      const unknown = await p.request('POST', '/api/v1/auth/sso/exchange', { body: { code: 'x', token: 'y' } });
      const wrongType = await exchange(42);
      expect([unknown.status, JSON.stringify(unknown.body.error)]).toEqual([400, expect.stringContaining('token')]);
      expect([wrongType.status, wrongType.body.error.details.issues[0].path]).toEqual([400, 'body.code']);
    });
  });

  describe('XP_SSO_ENFORCED', () => {
    it('refuses the right password of a non-owner with SSO_REQUIRED, answers a wrong one as ever, and lets owners in', async () => {
      await signedInAs(p, owner, 'analyst', 'ann@example.com');
      box.sso = config({ XP_SSO_ENFORCED: 'true' });
      try {
        const right = await p.request('POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: INVITED_PASSWORD } });
        const wrong = await p.request('POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: 'not the password at all' } });
        const ownerLogin = await p.request('POST', '/api/v1/auth/login', { body: OWNER });
        expect([right.status, right.body.error]).toEqual([403, { code: 'SSO_REQUIRED', message: 'this organisation signs in with Okta: use Sign in with Okta' }]);
        expect([wrong.status, wrong.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
        expect(ownerLogin.status).toBe(200);
      } finally {
        box.sso = base;
      }
      expect((await p.request('POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: INVITED_PASSWORD } })).status).toBe(200);
    });
  });

  describe('role map', () => {
    it('sets the highest mapped role at each sign-in, keeps unmatched users, and never changes an owner', async () => {
      box.sso = config({ XP_SSO_GROUPS_CLAIM: 'groups', XP_SSO_ROLE_MAP: 'xp-admins=admin,xp-editors=editor' });
      try {
        idp.accounts.set('gina-sub', { email: 'gina@example.com', email_verified: true, groups: ['xp-editors', 'lunch'] });
        const first = await p.request('GET', '/api/v1/me', { token: await session('gina-sub') });
        idp.accounts.set('gina-sub', { email: 'gina@example.com', email_verified: true, groups: ['xp-editors', 'xp-admins'] });
        const second = await p.request('GET', '/api/v1/me', { token: await session('gina-sub') });
        idp.accounts.set('gina-sub', { email: 'gina@example.com', email_verified: true, groups: ['lunch'] });
        const unmatched = await p.request('GET', '/api/v1/me', { token: await session('gina-sub') });
        // The owner was linked (XP_SSO_LINK_OWNERS) above: found by the identity.
        idp.accounts.set('owner-sub', { email: OWNER.email, email_verified: true, groups: ['xp-editors'] });
        const ownerMe = await p.request('GET', '/api/v1/me', { token: await session('owner-sub') });

        expect([first.body.role, second.body.role, unmatched.body.role, ownerMe.body.role]).toEqual(['editor', 'admin', 'admin', 'owner']);
        const updates = await auditOf('user.updated', first.body.id as string);
        expect(updates).toHaveLength(1);
        expect(JSON.parse(updates[0]!)).toEqual(
          expect.arrayContaining([
            { op: 'replace', path: '/role', from: 'editor', to: 'admin' },
            { op: 'add', path: '/via', to: 'sso' },
          ]),
        );
      } finally {
        box.sso = base;
      }
    });
  });

  describe('XP_SSO_ROLE_MAP_AUTHORITATIVE', () => {
    it('gives a person in no mapped group the default role (audited), never changing an owner', async () => {
      const env = { XP_SSO_GROUPS_CLAIM: 'groups', XP_SSO_ROLE_MAP: 'xp-admins=admin,xp-editors=editor', XP_SSO_DEFAULT_ROLE: 'analyst' };
      idp.accounts.set('hank-sub', { email: 'hank@example.com', email_verified: true, groups: ['xp-admins'] });
      box.sso = config(env);
      const admin = await p.request('GET', '/api/v1/me', { token: await session('hank-sub') });
      idp.accounts.set('hank-sub', { email: 'hank@example.com', email_verified: true, groups: ['lunch'] });
      // Not authoritative: out of every mapped group, the role stays.
      const kept = await p.request('GET', '/api/v1/me', { token: await session('hank-sub') });
      box.sso = config({ ...env, XP_SSO_ROLE_MAP_AUTHORITATIVE: 'true' });
      try {
        const lowered = await p.request('GET', '/api/v1/me', { token: await session('hank-sub') });
        idp.accounts.set('owner-sub', { email: OWNER.email, email_verified: true, groups: [] });
        const ownerMe = await p.request('GET', '/api/v1/me', { token: await session('owner-sub') });

        expect([admin.body.role, kept.body.role, lowered.body.role, ownerMe.body.role]).toEqual(['admin', 'admin', 'analyst', 'owner']);
        const updates = await auditOf('user.updated', admin.body.id as string);
        expect(updates).toHaveLength(1);
        expect(JSON.parse(updates[0]!)).toEqual(
          expect.arrayContaining([
            { op: 'replace', path: '/role', from: 'admin', to: 'analyst' },
            { op: 'add', path: '/via', to: 'sso' },
          ]),
        );
      } finally {
        box.sso = base;
      }
    });
  });

  it("keeps a first tab's sign-in when a second tab starts another: each has its own cookie", async () => {
    idp.accounts.set('tabs-sub', { email: 'tabs@example.com', email_verified: true });
    // The browser's cookie jar: a cookie of the same name replaces the one before.
    const jar = new Map<string, string>();
    const header = (): string => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const first = await start();
    const second = await start();
    for (const c of [first.cookie, second.cookie]) {
      const [name, value] = c.split('=');
      jar.set(name!, value!);
    }
    expect(jar.size).toBe(2);

    const firstBack = await idp.signIn(first.idpUrl, 'tabs-sub');
    const secondBack = await idp.signIn(second.idpUrl, 'tabs-sub');
    const firstCode = codeOf(await callback(firstBack, header()));
    const firstSession = await exchange(firstCode, header());
    // Only the first sign-in's cookie is cleared.
    expect(firstSession.status).toBe(200);
    expect(firstSession.headers.get('set-cookie')).toMatch(new RegExp(`^${first.cookie.split('=')[0]!}=; `));
    jar.delete(first.cookie.split('=')[0]!);
    const secondSession = await exchange(codeOf(await callback(secondBack, header())), header());
    expect(secondSession.status).toBe(200);
  });

  describe('bounds on starts', () => {
    it('lets one address start many sign-ins (an office behind one NAT)', async () => {
      const locations: string[] = [];
      for (let i = 0; i < 40; i++) {
        locations.push((await start()).idpUrl);
      }
      expect(locations.filter((l) => l.startsWith(`${idp.issuer}/auth?`))).toHaveLength(40);
    });

    it(`answers /#sso-error=busy, without a cookie or a row, once ${String(SSO_PENDING_LIMIT)} sign-ins are pending`, async () => {
      const pending = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sso_logins WHERE expires_at > $1', [p.now.value])).rows[0]!.n;
      const future = new Date(p.now.value.getTime() + 5 * 60_000);
      await p.db.query(
        "INSERT INTO sso_logins (state_hash, binding_hash, nonce, code_verifier, created_at, expires_at) SELECT 'flood-' || i, 'b', 'n', 'v', $1, $2 FROM generate_series(1, $3::int) AS i",
        [p.now.value, future, SSO_PENDING_LIMIT - (await pending())],
      );
      try {
        const refusedStart = await p.request('GET', '/api/v1/auth/sso/start');
        expect([refusedStart.status, refusedStart.headers.get('location'), refusedStart.headers.get('set-cookie')]).toEqual([302, '/#sso-error=busy', null]);
        expect(await pending()).toBe(SSO_PENDING_LIMIT);
      } finally {
        await p.db.query("DELETE FROM sso_logins WHERE state_hash LIKE 'flood-%'");
      }
      expect((await start()).idpUrl.startsWith(`${idp.issuer}/auth?`)).toBe(true);
    });
  });

  it('prunes expired pending sign-ins and one-time codes', async () => {
    const past = new Date(p.now.value.getTime() - 1000);
    const ownerId = (await p.db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [OWNER.email])).rows[0]!.id;
    await p.db.query('INSERT INTO sso_logins (state_hash, binding_hash, nonce, code_verifier, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $5)', ['stale-state', 'b', 'n', 'v', past]);
    await p.db.query('INSERT INTO sso_codes (code_hash, binding_hash, user_id, expires_at) VALUES ($1, $2, $3, $4)', ['stale-code', 'b', ownerId, past]);

    await start();

    expect((await p.db.query("SELECT 1 FROM sso_logins WHERE state_hash = 'stale-state' UNION ALL SELECT 1 FROM sso_codes WHERE code_hash = 'stale-code'")).rows).toEqual([]);
  });

  it('moves a start reached on another loopback name to the redirect URL\'s origin first', async () => {
    const res = await p.app.request('http://127.0.0.1/api/v1/auth/sso/start');
    expect([res.status, res.headers.get('location'), res.headers.get('set-cookie')]).toEqual([302, 'http://localhost/api/v1/auth/sso/start', null]);
  });

  // Last: it spends this address's starts for the window.
  it(`answers /#sso-error=busy past ${String(SSO_START_LIMIT.limit)} starts from one address in the window, never a JSON error`, async () => {
    let last: Response | undefined;
    for (let i = 0; i <= SSO_START_LIMIT.limit; i++) {
      last = await p.request('GET', '/api/v1/auth/sso/start');
      if (last.headers.get('location') === '/#sso-error=busy') {
        break;
      }
    }
    expect([last!.status, last!.headers.get('location'), last!.headers.get('set-cookie')]).toEqual([302, '/#sso-error=busy', null]);
    expect(p.logs.some((line) => line.startsWith('sso: start refused') && line.includes('this address'))).toBe(true);
  }, 120_000);
});

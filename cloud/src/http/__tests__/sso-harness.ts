/**
 * The set-up the SSO tests share (sso.test.ts, sso-app.test.ts, sso-password.test.ts, scim.test.ts): a platform whose SSO settings a test
 * can swap (`box.sso`), the real test IdP it trusts (a confidential client `xp` and a public one
 * `xp-public`), and readers of what the platform stored and audited.
 */
import { expect } from 'vitest';
import { loadSsoConfig } from '../../auth/sso-config.js';
import type { SsoConfig } from '../../auth/sso-config.js';
import type { TestDatabase } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';
import { startTestIdp } from './sso-idp.js';
import type { TestIdp } from './sso-idp.js';

// In-process requests come from http://localhost: the redirect URL's origin, so no loopback hop.
export const SSO_REDIRECT = 'http://localhost/api/v1/auth/sso/callback';
export const SSO_SECRET = 'the-client-secret-of-the-test-rp';

export interface SsoPlatform {
  readonly p: Platform;
  readonly idp: TestIdp;
  /** The settings the platform reads at each request: set `sso` to change them (and back to `base`). */
  readonly box: { sso: SsoConfig | undefined };
  /** The settings of `config()`: the IdP, client `xp` with its secret, named Okta. */
  readonly base: SsoConfig;
  /** The owner's session token. */
  readonly owner: string;
  /** Settings for the test IdP, with `env` over the base variables. */
  config(env?: Record<string, string>): SsoConfig;
  close(): Promise<void>;
}

/** Starts the test IdP and a platform on `target` that trusts it (request bodies logged when `collectBody`). */
export async function startSsoPlatform(target: TestDatabase, options: { collectBody?: boolean } = {}): Promise<SsoPlatform> {
  const idp = await startTestIdp([
    { clientId: 'xp', clientSecret: SSO_SECRET, redirectUri: SSO_REDIRECT },
    { clientId: 'xp-public', redirectUri: SSO_REDIRECT },
  ]);
  const config = (env: Record<string, string> = {}): SsoConfig =>
    loadSsoConfig({ XP_SSO_ISSUER: idp.issuer, XP_SSO_CLIENT_ID: 'xp', XP_SSO_CLIENT_SECRET: SSO_SECRET, XP_SSO_NAME: 'Okta', ...env }, { redirectUrl: SSO_REDIRECT })!;
  const base = config();
  const box: { sso: SsoConfig | undefined } = { sso: base };
  const p = await startPlatform(target, {
    ...(options.collectBody === true ? { app: { requestLog: { collectBody: true } } } : {}),
    deps: (d) => ({
      ...d,
      get sso() {
        return box.sso;
      },
    }),
  });
  const owner = await p.login(OWNER.email, OWNER.password);
  return {
    p,
    idp,
    box,
    base,
    owner,
    config,
    close: async () => {
      await p.close();
      await idp.close();
    },
  };
}

type Response = Awaited<ReturnType<Platform['request']>>;

/** What a whole SSO sign-in ended with: the callback's redirect, the browser's cookie, and the exchange's answer when the redirect carried a code. */
export interface SsoSignIn {
  /** `/#sso-code=…` when the sign-in succeeded, else the refusal (`/#sso-error=…`). */
  readonly location: string;
  readonly cookie: string;
  /** The answer of POST /api/v1/auth/sso/exchange (its body's `token` is the session); undefined when the callback refused. */
  readonly response: Response | undefined;
}

/** A whole SSO sign-in as the IdP account: start, the IdP, the callback and (when it gave a code) the exchange. */
export async function ssoSignIn(p: Platform, idp: TestIdp, account: string): Promise<SsoSignIn> {
  const started = await p.request('GET', '/api/v1/auth/sso/start');
  expect(started.status).toBe(302);
  const cookie = started.headers.get('set-cookie')!.split(';')[0]!;
  const back = await idp.signIn(started.headers.get('location')!, account);
  const callback = await p.request('GET', `${back.pathname}${back.search}`, { headers: { cookie } });
  expect(callback.status).toBe(302);
  const location = callback.headers.get('location')!;
  if (!location.startsWith('/#sso-code=')) {
    return { location, cookie, response: undefined };
  }
  const response = await p.request('POST', '/api/v1/auth/sso/exchange', { body: { code: decodeURIComponent(location.slice('/#sso-code='.length)) }, headers: { cookie } });
  return { location, cookie, response };
}

/** A whole SSO sign-in that must succeed: the session token. */
export async function ssoSession(p: Platform, idp: TestIdp, account: string): Promise<string> {
  const { location, response } = await ssoSignIn(p, idp, account);
  expect(location).toMatch(/^\/#sso-code=/);
  expect(response?.status).toBe(200);
  return response!.body.token as string;
}

/** Rows of sessions and of one-time sign-in codes. */
export async function ssoCounts(p: Platform): Promise<{ sessions: number; codes: number }> {
  return {
    sessions: (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions')).rows[0]!.n,
    codes: (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sso_codes')).rows[0]!.n,
  };
}

/** The diffs (as JSON text) of the audit entries of `action`, of one resource when `resourceKey` is given, oldest first. */
export async function auditOf(p: Platform, action: string, resourceKey?: string): Promise<string[]> {
  const result = await p.db.query<{ diff: unknown }>(
    `SELECT diff FROM audit_log WHERE action = $1${resourceKey === undefined ? '' : ' AND resource_key = $2'} ORDER BY id`,
    resourceKey === undefined ? [action] : [action, resourceKey],
  );
  return result.rows.map((r) => JSON.stringify(r.diff));
}

/** The `after` of an entry made without a `before` (its diff adds the whole value at the root). */
export const afterOf = (diff: string): Record<string, unknown> => (JSON.parse(diff) as { path: string; to: Record<string, unknown> }[]).find((op) => op.path === '')!.to;

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSsoConfig } from '../../auth/sso-config.js';
import type { SsoConfig } from '../../auth/sso-config.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { INVITED_PASSWORD, OWNER, signedInAs, startPlatform } from './harness.js';

/**
 * The right password of a non-owner refused with 403 SSO_REQUIRED (XP_SSO_ENFORCED): audited as a
 * failed login that says so, and not counted by the login limits as a wrong password is.
 */
describe('password sign-in refused because SSO is enforced (pglite)', () => {
  let p: Platform;
  let userId = '';
  const box: { sso: SsoConfig | undefined } = { sso: undefined };

  /** A login from a given client IP (the harness's own requests come from "unknown"). */
  async function loginFrom(ip: string, email: string, password: string): Promise<{ status: number; body: any }> {
    const res = await p.app.request(
      '/api/v1/auth/login',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) },
      { incoming: { socket: { remoteAddress: ip } } },
    );
    return { status: res.status, body: await res.json() };
  }

  const entries = async (action: string): Promise<unknown[]> =>
    (await p.db.query<{ diff: unknown }>('SELECT diff FROM audit_log WHERE action = $1 AND resource_key = $2 ORDER BY id', [action, userId])).rows.map((r) => r.diff);

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), {
      deps: (d) => ({
        ...d,
        get sso() {
          return box.sso;
        },
      }),
    });
    const owner = await p.login(OWNER.email, OWNER.password);
    await signedInAs(p, owner, 'editor', 'eve@example.com');
    userId = (await p.db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', ['eve@example.com'])).rows[0]!.id;
    box.sso = loadSsoConfig({ XP_SSO_ISSUER: 'https://idp.example.com', XP_SSO_CLIENT_ID: 'xp', XP_SSO_REDIRECT_URL: 'https://xp.example.com/api/v1/auth/sso/callback', XP_SSO_NAME: 'Okta', XP_SSO_ENFORCED: 'true' });
  }, 120_000);
  afterAll(async () => {
    await p.close();
  });

  it('records each refusal as user.login-failed with ssoRequired, and never locks the account out', async () => {
    // More than the 5 failures per email and address the limiter allows.
    const rights = [];
    for (let i = 0; i < 7; i++) {
      rights.push(await loginFrom('203.0.113.120', 'eve@example.com', INVITED_PASSWORD));
    }
    const wrong = await loginFrom('203.0.113.120', 'eve@example.com', 'not the password at all');

    expect(rights.map((r) => [r.status, r.body.error.code])).toEqual(Array.from({ length: 7 }, () => [403, 'SSO_REQUIRED']));
    // The wrong password is the first failure counted from that address: answered as ever, not 429.
    expect([wrong.status, wrong.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    const failed = await entries('user.login-failed');
    expect(failed).toEqual([
      ...Array.from({ length: 7 }, () => [{ op: 'add', path: '', to: { email: 'eve@example.com', ip: '203.0.113.120', ssoRequired: true } }]),
      // A wrong password's entry stays as it was: nothing says the password was right.
      [{ op: 'add', path: '', to: { email: 'eve@example.com', ip: '203.0.113.120' } }],
    ]);
    expect(await entries('user.locked-out')).toEqual([]);
  });
});

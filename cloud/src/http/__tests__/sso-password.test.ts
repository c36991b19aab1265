import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { INVITED_PASSWORD, signedInAs } from './harness.js';
import type { TestIdp } from './sso-idp.js';
import { ssoSession as sharedSsoSession, startSsoPlatform } from './sso-harness.js';
import type { SsoPlatform } from './sso-harness.js';

const NEW_PASSWORD = 'an entirely new passphrase 77';

/**
 * What the console needs to know of a person who signs in with SSO (GET /api/v1/me `hasPassword`
 * and `sso`, the users list's `sso`), and the password change of a person who has no password.
 */
describe.each(TARGETS.map((t) => [t().name, t] as const))('SSO users and passwords on %s', (_name, makeTarget) => {
  let sp: SsoPlatform;
  let p: Platform;
  let idp: TestIdp;
  let owner = '';

  /** A whole SSO sign-in as the IdP account, through start, the IdP, the callback and the exchange: the session token. */
  const ssoSession = (account: string): Promise<string> => sharedSsoSession(p, idp, account);

  const failedLogins = async (userId: string): Promise<number> =>
    (await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action = 'user.login-failed' AND resource_key = $1", [userId])).rows[0]!.n;

  beforeAll(async () => {
    sp = await startSsoPlatform(makeTarget());
    ({ p, idp, owner } = sp);
  });
  afterAll(async () => {
    await sp.close();
  });

  it('says a password user has a password and is not linked to the IdP', async () => {
    const me = await p.request('GET', '/api/v1/me', { token: owner });

    expect(me.status).toBe(200);
    expect({ hasPassword: me.body.hasPassword, sso: me.body.sso }).toEqual({ hasPassword: true, sso: false });
  });

  it('says a person created at their first SSO sign-in has no password and is linked, to them and in the users list', async () => {
    idp.accounts.set('sam-sub', { email: 'sam@example.com', email_verified: true, name: 'Sam' });
    const sam = await ssoSession('sam-sub');

    const me = await p.request('GET', '/api/v1/me', { token: sam });
    const listed = await p.request('GET', '/api/v1/users?q=sam', { token: owner });
    const one = await p.request('GET', `/api/v1/users/${String(me.body.id)}`, { token: owner });
    const others = await p.request('GET', '/api/v1/users?q=owner', { token: owner });

    expect({ hasPassword: me.body.hasPassword, sso: me.body.sso }).toEqual({ hasPassword: false, sso: true });
    expect(listed.body.items.map((u: { email: string; sso: boolean }) => [u.email, u.sso])).toEqual([['sam@example.com', true]]);
    expect(one.body.sso).toBe(true);
    // Only /me says whether there is a password.
    expect(one.body.hasPassword).toBeUndefined();
    expect(others.body.items.map((u: { sso: boolean }) => u.sso)).toEqual([false]);
  });

  it('refuses a password change of a person without a password clearly (409, naming SSO), not as a wrong password nor a failed login', async () => {
    idp.accounts.set('sue-sub', { email: 'sue@example.com', email_verified: true, name: 'Sue' });
    const sue = await ssoSession('sue-sub');
    const id = (await p.request('GET', '/api/v1/me', { token: sue })).body.id as string;

    const tries = [];
    for (let i = 0; i < 6; i++) {
      tries.push(await p.request('PUT', '/api/v1/me/password', { token: sue, body: { currentPassword: 'whatever she types', newPassword: NEW_PASSWORD } }));
    }

    expect(tries.map((r) => r.status)).toEqual([409, 409, 409, 409, 409, 409]);
    expect(tries[0]!.body.error).toMatchObject({
      code: 'INVALID_STATE',
      message: 'you have no password to change: you sign in with Okta. If you need a password as well, an administrator can set one (reset password)',
    });
    expect(await failedLogins(id)).toBe(0);
    // Still signed in, still without a password.
    expect((await p.request('GET', '/api/v1/me', { token: sue })).body.hasPassword).toBe(false);
  });

  it('names single sign-on when SSO was turned off since', async () => {
    idp.accounts.set('sid-sub', { email: 'sid@example.com', email_verified: true, name: 'Sid' });
    const sid = await ssoSession('sid-sub');
    sp.box.sso = undefined;
    try {
      const res = await p.request('PUT', '/api/v1/me/password', { token: sid, body: { currentPassword: 'x', newPassword: NEW_PASSWORD } });

      expect([res.status, res.body.error.message]).toEqual([409, 'you have no password to change: you sign in with single sign-on. If you need a password as well, an administrator can set one (reset password)']);
    } finally {
      sp.box.sso = sp.base;
    }
  });

  it('says a password user linked at an SSO sign-in has both, and lets them change their password', async () => {
    const password = await signedInAs(p, owner, 'editor', 'lee@example.com');
    idp.accounts.set('lee-sub', { email: 'lee@example.com', email_verified: true, name: 'Lee' });
    const before = await p.request('GET', '/api/v1/me', { token: password });

    const lee = await ssoSession('lee-sub');
    const me = await p.request('GET', '/api/v1/me', { token: lee });
    const changed = await p.request('PUT', '/api/v1/me/password', { token: lee, body: { currentPassword: INVITED_PASSWORD, newPassword: NEW_PASSWORD } });

    expect({ hasPassword: before.body.hasPassword, sso: before.body.sso }).toEqual({ hasPassword: true, sso: false });
    expect({ hasPassword: me.body.hasPassword, sso: me.body.sso }).toEqual({ hasPassword: true, sso: true });
    expect(changed.status).toBe(204);
    expect((await p.request('POST', '/api/v1/auth/login', { body: { email: 'lee@example.com', password: NEW_PASSWORD } })).status).toBe(200);
  });

  it('gives an SSO-created person a break-glass password with a reset, keeping them linked', async () => {
    idp.accounts.set('kim-sub', { email: 'kim@example.com', email_verified: true, name: 'Kim' });
    const kim = await ssoSession('kim-sub');
    const id = (await p.request('GET', '/api/v1/me', { token: kim })).body.id as string;

    const reset = await p.request('POST', `/api/v1/users/${id}/password-reset`, { token: owner });
    const again = await ssoSession('kim-sub');
    const me = await p.request('GET', '/api/v1/me', { token: again });

    expect(reset.status).toBe(200);
    expect(reset.body.user).toMatchObject({ email: 'kim@example.com', sso: true, passwordChangeRequired: true });
    expect({ hasPassword: me.body.hasPassword, sso: me.body.sso }).toEqual({ hasPassword: true, sso: true });
  });
});

/**
 * Passwords an administrator set (an invitation's, chosen or generated, and a reset's) must be
 * replaced at the first login, and an account whose user has not done so cannot be promoted to
 * owner or admin: so an admin keeps no working credential of the accounts they create, and cannot
 * sign in as one after an owner promotes it (the escalation a security test found).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';

const CHOSEN_BY_ADMIN = 'Tangerine-Quokka-Lantern-77';
const OWN = 'Marmalade-Pangolin-Beacon-58';
const OWN_TWO = 'Juniper-Ocelot-Harbour-31';

describe('passwords an administrator set (pglite)', () => {
  let p: Platform;
  let owner = '';
  let admin = '';
  let adminId = '';
  let ownerId = '';
  let n = 0;

  const login = (body: Record<string, unknown>): Promise<{ status: number; body: any }> => p.request('POST', '/api/v1/auth/login', { body });

  /** Signs in for the first time with the administrator's password, choosing `own`; returns the session. */
  async function firstLogin(email: string, given: string, own: string): Promise<string> {
    const res = await login({ email, password: given, newPassword: own });
    if (res.status !== 200) {
      throw new Error(`first login of ${email}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body.token as string;
  }

  async function invite(by: string, role: string, password?: string): Promise<{ id: string; email: string; password: string }> {
    n += 1;
    const email = `person-${n}@example.com`;
    const body = await mustAs(p, by, 'POST', '/api/v1/users', { email, name: `Person ${n}`, role, ...(password === undefined ? {} : { password }) });
    return { id: body.user.id as string, email, password: password ?? (body.initialPassword as string) };
  }

  const sessionsOf = async (userId: string): Promise<number> =>
    (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [userId])).rows[0]!.n;

  const auditOf = async (userId: string, action: string): Promise<{ actor_id: string | null; client: string; diff: unknown }[]> =>
    (await p.db.query<{ actor_id: string | null; client: string; diff: unknown }>('SELECT actor_id, client, diff FROM audit_log WHERE resource_key = $1 AND action = $2 ORDER BY id', [userId, action])).rows;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    ownerId = (await mustAs(p, owner, 'GET', '/api/v1/me')).id as string;
    const a = await invite(owner, 'admin', CHOSEN_BY_ADMIN);
    adminId = a.id;
    admin = await firstLogin(a.email, CHOSEN_BY_ADMIN, OWN);
  });
  afterAll(async () => {
    await p.close();
  });

  it('keeps the bootstrap owner free to sign in with the password the operator chose', async () => {
    const me = await mustAs(p, owner, 'GET', '/api/v1/me');
    expect(me.passwordChangeRequired).toBe(false);
  });

  it('answers a right login with an invitation password (chosen or generated) 403 PASSWORD_CHANGE_REQUIRED and issues no session', async () => {
    const chosen = await invite(admin, 'editor', CHOSEN_BY_ADMIN);
    const generated = await invite(admin, 'viewer');

    for (const u of [chosen, generated]) {
      const res = await login({ email: u.email, password: u.password });
      expect([res.status, res.body.error?.code, res.body.error?.message]).toEqual([
        403,
        'PASSWORD_CHANGE_REQUIRED',
        'this password was set by an administrator; choose a new one: send newPassword with the login',
      ]);
      expect(res.body.token).toBeUndefined();
      expect(await sessionsOf(u.id)).toBe(0);
    }
    const listed = await mustAs(p, admin, 'GET', '/api/v1/users');
    const flags = Object.fromEntries((listed.items as { email: string; passwordChangeRequired: boolean }[]).map((u) => [u.email, u.passwordChangeRequired]));
    expect(flags).toMatchObject({ [chosen.email]: true, [generated.email]: true, [OWNER.email]: false });
    // A wrong password says nothing more than any wrong password.
    const wrong = await login({ email: chosen.email, password: 'not the password at all 1', newPassword: OWN });
    expect([wrong.status, wrong.body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
  });

  it('refuses a weak new password, or the same one, then changes it with the login: the old password stops working', async () => {
    const u = await invite(admin, 'editor', CHOSEN_BY_ADMIN);

    const weak = await login({ email: u.email, password: CHOSEN_BY_ADMIN, newPassword: 'password1234' });
    expect([weak.status, weak.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(weak.body.error.message).toMatch(/^newPassword too weak/);
    const same = await login({ email: u.email, password: CHOSEN_BY_ADMIN, newPassword: CHOSEN_BY_ADMIN });
    expect([same.status, same.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(await sessionsOf(u.id)).toBe(0);

    const res = await login({ email: u.email, password: CHOSEN_BY_ADMIN, newPassword: OWN });
    expect(res.status).toBe(200);
    expect(res.body.user.passwordChangeRequired).toBe(false);
    const me = await mustAs(p, res.body.token as string, 'GET', '/api/v1/me');
    expect([me.email, me.passwordChangeRequired]).toEqual([u.email, false]);
    expect((await mustAs(p, admin, 'GET', `/api/v1/users/${u.id}`)).passwordChangeRequired).toBe(false);

    expect((await login({ email: u.email, password: CHOSEN_BY_ADMIN })).status).toBe(401);
    expect((await login({ email: u.email, password: OWN })).status).toBe(200);
    const changed = await auditOf(u.id, 'user.password-changed');
    expect(changed).toHaveLength(1);
    expect(changed[0]!.actor_id).toBe(u.id);
    expect(JSON.stringify(changed[0]!.diff)).not.toContain(OWN);
  });

  it('refuses newPassword at login for a password the user chose (one way to change it: PUT /me/password)', async () => {
    const res = await login({ email: OWNER.email, password: OWNER.password, newPassword: OWN_TWO });
    expect([res.status, res.body.error.code, res.body.error.message]).toEqual([
      400,
      'VALIDATION_FAILED',
      'newPassword is only for a password an administrator set; change yours with PUT /api/v1/me/password',
    ]);
    expect((await login({ email: OWNER.email, password: OWNER.password })).status).toBe(200);
  });

  it('counts wrong passwords sent with newPassword like any: the fifth is 429', async () => {
    const u = await invite(admin, 'viewer', CHOSEN_BY_ADMIN);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await login({ email: u.email, password: `wrong guess number ${i}`, newPassword: OWN })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    expect((await login({ email: u.email, password: CHOSEN_BY_ADMIN, newPassword: OWN })).status).toBe(429);
    p.now.value = new Date(p.now.value.getTime() + 16 * 60_000);
  });

  it('refuses to make an owner or admin of a user who has not chosen their own password; allows it once they have', async () => {
    const u = await invite(owner, 'editor', CHOSEN_BY_ADMIN);
    for (const role of ['owner', 'admin']) {
      const res = await requestAs(p, owner, 'PATCH', `/api/v1/users/${u.id}`, { role }, 1);
      expect([res.status, res.body.error.code]).toEqual([409, 'INVALID_STATE']);
      expect(res.body.error.message).toContain('has not yet chosen their own password (they must sign in once first)');
    }
    // Roles below admin are fine.
    const analyst = await mustAs(p, owner, 'PATCH', `/api/v1/users/${u.id}`, { role: 'analyst' }, 1);

    await firstLogin(u.email, CHOSEN_BY_ADMIN, OWN);
    const version = (await mustAs(p, owner, 'GET', `/api/v1/users/${u.id}`)).version as number;
    expect(version).toBeGreaterThan(analyst.version as number);
    expect((await mustAs(p, owner, 'PATCH', `/api/v1/users/${u.id}`, { role: 'admin' }, version)).role).toBe('admin');
  });

  it('closes the reported escalation: the admin-chosen password neither survives promotion nor signs in after the user chose theirs', async () => {
    // An admin creates an account with a password they choose…
    const victim = await invite(admin, 'editor', CHOSEN_BY_ADMIN);
    // …and cannot use it to sign in as the user (no session without choosing a new one)…
    expect((await login({ email: victim.email, password: CHOSEN_BY_ADMIN })).status).toBe(403);
    // …nor can an owner promote the account while the admin's password is its password.
    const early = await requestAs(p, owner, 'PATCH', `/api/v1/users/${victim.id}`, { role: 'owner' }, 1);
    expect([early.status, early.body.error.code]).toEqual([409, 'INVALID_STATE']);

    // The user signs in and chooses their own; then the owner promotes them.
    await firstLogin(victim.email, CHOSEN_BY_ADMIN, OWN);
    const version = (await mustAs(p, owner, 'GET', `/api/v1/users/${victim.id}`)).version as number;
    expect((await mustAs(p, owner, 'PATCH', `/api/v1/users/${victim.id}`, { role: 'owner' }, version)).role).toBe('owner');

    // The admin's password is refused, with or without a new one.
    expect((await login({ email: victim.email, password: CHOSEN_BY_ADMIN })).status).toBe(401);
    expect((await login({ email: victim.email, password: CHOSEN_BY_ADMIN, newPassword: OWN_TWO })).status).toBe(401);
    // And the admin cannot reset the new owner's password to get in that way.
    const reset = await requestAs(p, admin, 'POST', `/api/v1/users/${victim.id}/password-reset`);
    expect([reset.status, reset.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await login({ email: victim.email, password: OWN })).status).toBe(200);
  });

  it('resets a password: a temporary one returned once, usable only to choose a new one; sessions and tokens end', async () => {
    const u = await invite(admin, 'editor', CHOSEN_BY_ADMIN);
    const session = await firstLogin(u.email, CHOSEN_BY_ADMIN, OWN);
    const other = (await login({ email: u.email, password: OWN })).body.token as string;
    const pat = (await mustAs(p, session, 'POST', '/api/v1/me/tokens', { name: 'ci' })).token as string;
    expect((await requestAs(p, pat, 'GET', '/api/v1/me')).status).toBe(200);

    const res = await requestAs(p, admin, 'POST', `/api/v1/users/${u.id}/password-reset`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const temporary = res.body.temporaryPassword as string;
    expect(temporary.length).toBeGreaterThanOrEqual(16);
    expect(res.body.user.passwordChangeRequired).toBe(true);

    for (const token of [session, other, pat]) {
      expect((await requestAs(p, token, 'GET', '/api/v1/me')).status).toBe(401);
    }
    expect((await login({ email: u.email, password: OWN })).status).toBe(401);
    const plain = await login({ email: u.email, password: temporary });
    expect([plain.status, plain.body.error.code]).toEqual([403, 'PASSWORD_CHANGE_REQUIRED']);
    expect(await sessionsOf(u.id)).toBe(0);

    const fresh = await firstLogin(u.email, temporary, OWN_TWO);
    expect((await requestAs(p, fresh, 'GET', '/api/v1/me')).status).toBe(200);
    expect((await login({ email: u.email, password: temporary })).status).toBe(401);

    const audited = await auditOf(u.id, 'user.password-reset');
    expect(audited).toHaveLength(1);
    expect(audited[0]!.actor_id).toBe(adminId);
    expect(JSON.stringify(audited[0]!.diff)).not.toContain(temporary);
    expect(JSON.stringify(audited[0]!.diff)).toContain('"sessionsRevoked"');
  });

  it('lets nobody reset their own password this way, an admin never an owner, and roles below admin nobody', async () => {
    const self = await requestAs(p, owner, 'POST', `/api/v1/users/${ownerId}/password-reset`);
    expect([self.status, self.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect(self.body.error.message).toContain('PUT /api/v1/me/password');
    const adminSelf = await requestAs(p, admin, 'POST', `/api/v1/users/${adminId}/password-reset`);
    expect([adminSelf.status, adminSelf.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const onOwner = await requestAs(p, admin, 'POST', `/api/v1/users/${ownerId}/password-reset`);
    expect([onOwner.status, onOwner.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await login({ email: OWNER.email, password: OWNER.password })).status).toBe(200);

    const editor = await invite(owner, 'editor', CHOSEN_BY_ADMIN);
    const editorSession = await firstLogin(editor.email, CHOSEN_BY_ADMIN, OWN);
    const byEditor = await requestAs(p, editorSession, 'POST', `/api/v1/users/${adminId}/password-reset`);
    expect([byEditor.status, byEditor.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await requestAs(p, owner, 'POST', '/api/v1/users/no-such-user/password-reset')).status).toBe(404);
  });
});

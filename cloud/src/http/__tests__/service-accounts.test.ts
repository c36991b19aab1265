/**
 * Service accounts (migration 0041): organisation identities that never sign in, whose tokens act
 * as them, whoever made them and whatever becomes of that person.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, markPasswordChosen, mustAs, requestAs, startPlatform } from './harness.js';

interface Account {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly description: string | null;
  readonly role: string;
  readonly projectRoles: { project: string; role: string }[];
  readonly disabled: boolean;
  readonly version: number;
}

interface Entry {
  readonly action: string;
  readonly actorId: string | null;
  readonly actorEmail: string | null;
  readonly resourceKey: string;
  readonly projectId: string | null;
  readonly credential: { kind: string; id: string; prefix: string | null } | null;
  readonly resourceLabel?: string | null;
  readonly diff: { op: string; path: string; to?: unknown }[];
}

const ADMIN = { email: 'ada@example.com', password: 'admin passphrase of 2026' };

describe('service accounts', () => {
  let p: Platform;
  let owner: string;
  let admin: string;
  let adminId: string;

  const must = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, token, method, path, body, version);
  const create = async (as: string, body: Record<string, unknown>): Promise<Account> => (await must(as, 'POST', '/api/v1/service-accounts', body)) as Account;
  const mint = async (as: string, id: string, body: Record<string, unknown> = { name: 'ci' }): Promise<{ token: string; accessToken: { id: string; prefix: string; role: string | null; projects: string[] | null } }> =>
    (await must(as, 'POST', `/api/v1/service-accounts/${id}/tokens`, body)) as { token: string; accessToken: { id: string; prefix: string; role: string | null; projects: string[] | null } };
  const audit = async (query: string): Promise<Entry[]> => (await must(owner, 'GET', `/api/v1/audit?limit=200&${query}`)).items as Entry[];
  let n = 0;
  const flagKey = (): string => `sa-flag-${String(++n)}`;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    adminId = ((await must(owner, 'POST', '/api/v1/users', { ...ADMIN, name: 'Ada', role: 'admin' })) as { user: { id: string } }).user.id;
    await markPasswordChosen(p.db, ADMIN.email);
    admin = await p.login(ADMIN.email, ADMIN.password);
    await must(owner, 'POST', '/api/v1/projects', { key: 'shop', name: 'Shop' });
  });
  afterAll(async () => {
    await p.close();
  });

  it("acts with its role through its token: an editor's applies a flag change, a viewer's gets 403; /me answers the account", async () => {
    const editor = await create(owner, { name: 'deploy-bot', description: 'GitHub Actions deploys', role: 'editor' });
    expect(editor).toMatchObject({ kind: 'service', name: 'deploy-bot', description: 'GitHub Actions deploys', role: 'editor', projectRoles: [], disabled: false, version: 1 });
    const { token, accessToken } = await mint(owner, editor.id);
    expect(token).toMatch(/^xpp_/);
    expect(token.startsWith(accessToken.prefix)).toBe(true);

    const key = flagKey();
    expect((await requestAs(p, token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(key))).status).toBe(201);
    const toggled = await requestAs(p, token, 'POST', `/api/v1/projects/demo/flags/${key}/environments/development/toggle`, { enabled: true }, 1);
    expect(toggled.status).toBe(200);
    const me = await must(token, 'GET', '/api/v1/me');
    expect([me.id, me.kind, me.name, me.role, me.access]).toEqual([editor.id, 'service', 'deploy-bot', 'editor', { role: 'editor', projects: null }]);

    const viewer = await create(owner, { name: 'dashboard-reader', role: 'viewer' });
    const read = await mint(owner, viewer.id);
    expect((await requestAs(p, read.token, 'GET', '/api/v1/projects/demo/flags')).status).toBe(200);
    const write = await requestAs(p, read.token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(flagKey()));
    expect([write.status, write.body.error.message]).toEqual([403, 'your role (viewer) does not allow flags:write']);

    // People lists show people unless asked; the service accounts list shows the accounts.
    const emails = async (query: string): Promise<string[]> => ((await must(owner, 'GET', `/api/v1/users${query}`)).items as { name: string }[]).map((u) => u.name);
    expect(await emails('')).not.toContain('deploy-bot');
    expect(await emails('?kind=service')).toEqual(expect.arrayContaining(['deploy-bot', 'dashboard-reader']));
    expect(await emails('?kind=all')).toEqual(expect.arrayContaining(['deploy-bot', 'Ada']));
    expect(((await must(admin, 'GET', '/api/v1/service-accounts?q=deploy')).items as Account[]).map((a) => a.name)).toEqual(['deploy-bot']);
  });

  it('keeps working when its maker is disabled; disabling it answers 401 at once, enabling brings its tokens back; deleting revokes them', async () => {
    await must(owner, 'POST', '/api/v1/users', { email: 'maker@example.com', name: 'Maker', role: 'admin', password: 'quiet orchard lantern 2026' });
    await markPasswordChosen(p.db, 'maker@example.com');
    const maker = await p.login('maker@example.com', 'quiet orchard lantern 2026');
    const account = await create(maker, { name: 'nightly-import', role: 'editor' });
    const { token } = await mint(maker, account.id);
    const makerUser = ((await must(owner, 'GET', '/api/v1/users?q=maker@example.com')).items as { id: string; version: number }[])[0]!;
    await must(owner, 'PATCH', `/api/v1/users/${makerUser.id}`, { disabled: true }, makerUser.version);
    expect((await requestAs(p, maker, 'GET', '/api/v1/me')).status).toBe(401);

    expect((await requestAs(p, token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(flagKey()))).status).toBe(201);

    const disabled = (await must(owner, 'PATCH', `/api/v1/service-accounts/${account.id}`, { disabled: true }, account.version)) as Account;
    expect(disabled.disabled).toBe(true);
    expect((await requestAs(p, token, 'GET', '/api/v1/projects/demo/flags')).status).toBe(401);
    await must(owner, 'PATCH', `/api/v1/service-accounts/${account.id}`, { disabled: false }, disabled.version);
    expect((await requestAs(p, token, 'GET', '/api/v1/projects/demo/flags')).status).toBe(200);

    const current = (await must(owner, 'GET', `/api/v1/service-accounts/${account.id}`)) as Account;
    const deleted = await requestAs(p, owner, 'DELETE', `/api/v1/service-accounts/${account.id}`, undefined, current.version);
    expect([deleted.status, deleted.body]).toEqual([200, { tokensRevoked: 1, changeRequestsCancelled: 0, scheduledChangesCancelled: 0 }]);
    expect((await requestAs(p, token, 'GET', '/api/v1/me')).status).toBe(401);
    expect((await requestAs(p, owner, 'GET', `/api/v1/service-accounts/${account.id}`)).status).toBe(404);
    expect(((await must(owner, 'GET', '/api/v1/service-accounts')).items as Account[]).map((a) => a.id)).not.toContain(account.id);
    const [entry] = await audit(`action=service-account.deleted&resourceKey=${account.id}`);
    expect(entry?.diff).toContainEqual({ op: 'add', path: '/tokensRevoked', to: 1 });
    // The history keeps naming it: the flag it made says who made it.
    const made = await audit(`actor=${account.id}&action=flag.created`);
    expect(made.map((e) => e.actorEmail)).toEqual(['nightly-import (service account)']);
  });

  it('cannot sign in by any email or password, has no password to change, and mints no tokens for itself', async () => {
    const account = await create(owner, { name: 'release-bot', role: 'editor' });
    const { token } = await mint(owner, account.id);
    const handle = (await must(token, 'GET', '/api/v1/me')).email as string;
    expect(handle).toBe(`${account.id}@service-accounts.invalid`);

    // (Few attempts: the login limiter answers 429 after five failures for one email.)
    for (const [email, password] of [[handle, 'x'], [handle.toUpperCase(), token], ['release-bot', 'x'], [account.id, token]] as const) {
      const res = await p.request('POST', '/api/v1/auth/login', { body: { email, password } });
      expect([email, res.status, res.body.error.message]).toEqual([email, 401, 'invalid email or password']);
    }
    // The database refuses a password on a service account, whatever writes it.
    await expect(p.db.query("UPDATE users SET password_hash = 'scrypt$x' WHERE id = $1", [account.id])).rejects.toThrow();
    await expect(p.db.query("UPDATE users SET role = 'owner' WHERE id = $1", [account.id])).rejects.toThrow();

    const password = await requestAs(p, token, 'PUT', '/api/v1/me/password', { currentPassword: 'anything at all', newPassword: 'another long passphrase 9' });
    expect([password.status, password.body.error.message]).toEqual([403, 'a service account has no password']);
    const own = await requestAs(p, token, 'POST', '/api/v1/me/tokens', { name: 'more' });
    expect([own.status, own.body.error.message]).toEqual([403, 'a service account cannot create tokens for itself: an administrator mints them (POST /api/v1/service-accounts/{id}/tokens)']);
    // The people routes are not for it.
    const reset = await requestAs(p, owner, 'POST', `/api/v1/users/${account.id}/password-reset`);
    expect([reset.status, reset.body.error.message]).toEqual([400, '"release-bot" is a service account, which has no password']);
    const patch = await requestAs(p, owner, 'PATCH', `/api/v1/users/${account.id}`, { role: 'owner' }, account.version);
    expect(patch.status).toBe(400);
  });

  it('role ceilings: an admin gives at most editor and manages no admin account; only an owner makes one; a token never above its account', async () => {
    const asAdmin = await requestAs(p, admin, 'POST', '/api/v1/service-accounts', { name: 'root-bot', role: 'admin' });
    expect([asAdmin.status, asAdmin.body.error.message]).toEqual([403, 'only an owner can give a service account the admin role']);
    const inProject = await requestAs(p, admin, 'POST', '/api/v1/service-accounts', { name: 'shop-admin', role: 'viewer', projectRoles: [{ project: 'shop', role: 'admin' }] });
    expect(inProject.status).toBe(403);

    const adminAccount = await create(owner, { name: 'ops-bot', role: 'admin' });
    const rename = await requestAs(p, admin, 'PATCH', `/api/v1/service-accounts/${adminAccount.id}`, { name: 'mine now' }, adminAccount.version);
    expect([rename.status, rename.body.error.message]).toEqual([403, 'an admin cannot manage a service account that is an admin; ask an owner']);
    expect((await requestAs(p, admin, 'POST', `/api/v1/service-accounts/${adminAccount.id}/tokens`, { name: 'steal' })).status).toBe(403);
    expect((await requestAs(p, admin, 'DELETE', `/api/v1/service-accounts/${adminAccount.id}`, undefined, adminAccount.version)).status).toBe(403);

    const editor = await create(admin, { name: 'tests-bot', role: 'editor' });
    const promote = await requestAs(p, admin, 'PATCH', `/api/v1/service-accounts/${editor.id}`, { role: 'admin' }, editor.version);
    expect(promote.status).toBe(403);
    const above = await requestAs(p, admin, 'POST', `/api/v1/service-accounts/${editor.id}/tokens`, { name: 'too much', role: 'admin' });
    expect([above.status, above.body.error.message]).toEqual([403, "a token cannot have a higher role than its service account's (editor); ask for editor or lower"]);
    const reader = await mint(admin, editor.id, { name: 'reader', role: 'viewer' });
    expect(reader.accessToken.role).toBe('viewer');
    expect((await requestAs(p, reader.token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(flagKey()))).status).toBe(403);
    const shopOnly = await mint(admin, editor.id, { name: 'shop only', projects: ['shop'] });
    expect(shopOnly.accessToken.projects).toEqual(['shop']);
    expect((await requestAs(p, shopOnly.token, 'POST', '/api/v1/projects/shop/flags', booleanFlagBody(flagKey()))).status).toBe(201);
    expect((await requestAs(p, shopOnly.token, 'GET', '/api/v1/projects/demo/flags')).status).toBe(404);

    // Its own token manages service accounts as its role allows, never itself.
    const opsToken = (await mint(owner, adminAccount.id)).token;
    const made = await requestAs(p, opsToken, 'POST', '/api/v1/service-accounts', { name: 'made-by-a-robot', role: 'viewer' });
    expect(made.status).toBe(201);
    const self = await requestAs(p, opsToken, 'PATCH', `/api/v1/service-accounts/${adminAccount.id}`, { role: 'editor' }, adminAccount.version);
    expect([self.status, self.body.error.message]).toEqual([403, 'a service account cannot manage itself; an administrator does']);
    expect((await requestAs(p, opsToken, 'POST', `/api/v1/service-accounts/${adminAccount.id}/tokens`, { name: 'another' })).status).toBe(403);
    const editorToken = (await mint(admin, editor.id)).token;
    const byEditor = await requestAs(p, editorToken, 'POST', '/api/v1/service-accounts', { name: 'nope', role: 'viewer' });
    expect([byEditor.status, byEditor.body.error.message]).toEqual([403, 'your role (editor) does not allow users:manage']);

    // Revoking one token ends it at once, and only it.
    const revoked = await requestAs(p, admin, 'DELETE', `/api/v1/service-accounts/${editor.id}/tokens/${reader.accessToken.id}`);
    expect(revoked.status).toBe(200);
    expect((await requestAs(p, reader.token, 'GET', '/api/v1/me')).status).toBe(401);
    expect((await requestAs(p, editorToken, 'GET', '/api/v1/me')).status).toBe(200);
    const listed = (await must(admin, 'GET', `/api/v1/service-accounts/${editor.id}/tokens`)).items as { id: string; revokedAt: string | null }[];
    expect(listed.find((t) => t.id === reader.accessToken.id)?.revokedAt).not.toBeNull();
    // Another account's token is not this one's to revoke.
    expect((await requestAs(p, owner, 'DELETE', `/api/v1/service-accounts/${adminAccount.id}/tokens/${reader.accessToken.id}`)).status).toBe(404);
  });

  it('takes project roles as people do: a viewer made editor in one project writes there only', async () => {
    const account = await create(owner, { name: 'shop-sync', role: 'viewer', projectRoles: [{ project: 'shop', role: 'editor' }] });
    expect(account.projectRoles).toEqual([{ project: 'shop', role: 'editor' }]);
    const { token } = await mint(owner, account.id);
    expect((await requestAs(p, token, 'POST', '/api/v1/projects/shop/flags', booleanFlagBody(flagKey()))).status).toBe(201);
    expect((await requestAs(p, token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(flagKey()))).status).toBe(403);
    const set = await audit(`action=user.project-role-set&resourceKey=${account.id}`);
    expect(set.map((e) => e.projectId === null)).toEqual([false]);

    const cleared = (await must(owner, 'PATCH', `/api/v1/service-accounts/${account.id}`, { projectRoles: [] }, account.version)) as Account;
    expect(cleared.projectRoles).toEqual([]);
    expect((await requestAs(p, token, 'POST', '/api/v1/projects/shop/flags', booleanFlagBody(flagKey()))).status).toBe(403);
    expect((await audit(`action=user.project-role-removed&resourceKey=${account.id}`)).length).toBe(1);
    const unknown = await requestAs(p, owner, 'PATCH', `/api/v1/service-accounts/${account.id}`, { projectRoles: [{ project: 'no-such-project', role: 'viewer' }] }, cleared.version);
    expect(unknown.status).toBe(404);
  });

  it('names the service account as the actor of what its token does, with the token; and the admin who managed it', async () => {
    const account = await create(admin, { name: 'audit-bot', role: 'editor' });
    const { token, accessToken } = await mint(admin, account.id);
    const key = flagKey();
    await must(token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(key));

    const [created] = await audit(`resourceType=flag&resourceKey=${key}&action=flag.created`);
    expect(created).toMatchObject({ actorId: account.id, actorEmail: 'audit-bot (service account)', credential: { kind: 'token', id: accessToken.id, prefix: accessToken.prefix } });
    const managed = [...(await audit(`resourceKey=${account.id}&action=service-account.*`)), ...(await audit(`resourceKey=${accessToken.id}&action=service-account.*`))];
    expect(managed.map((e) => [e.action, e.actorId]).sort()).toEqual([
      ['service-account.created', adminId],
      ['service-account.token-created', adminId],
    ]);
    expect(JSON.stringify(managed)).not.toContain(token);

    await must(admin, 'DELETE', `/api/v1/service-accounts/${account.id}/tokens/${accessToken.id}`);
    expect((await audit(`action=service-account.token-revoked&resourceKey=${accessToken.id}`)).length).toBe(1);
    const renamed = (await must(admin, 'PATCH', `/api/v1/service-accounts/${account.id}`, { name: 'audit-bot-2' }, account.version)) as Account;
    expect(renamed.name).toBe('audit-bot-2');
    const [updated] = await audit(`action=service-account.updated&resourceKey=${account.id}`);
    expect(updated?.diff).toContainEqual({ op: 'replace', path: '/name', from: 'audit-bot', to: 'audit-bot-2' });
    const stale = await requestAs(p, admin, 'PATCH', `/api/v1/service-accounts/${account.id}`, { name: 'audit-bot-3' }, account.version);
    expect(stale.status).toBe(409);
  });

  it('is labelled by its name in the audit log, not by its handle; its routes take small bodies as the user routes do', async () => {
    const account = await create(admin, { name: 'label-bot', role: 'viewer' });
    const [created] = await audit(`action=service-account.created&resourceKey=${account.id}`);
    expect(created?.resourceLabel).toBe('label-bot (service account)');

    // A 20 KB description: over the 16 KB of the account routes, under the 256 KB of the others.
    const big = await requestAs(p, admin, 'POST', '/api/v1/service-accounts', { name: 'big-bot', role: 'viewer', description: 'x'.repeat(20_000) });
    expect([big.status, big.body.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('refuses bad input with 400 and a plain message, storing nothing', async () => {
    const before = (await must(owner, 'GET', '/api/v1/service-accounts?limit=200')).items.length as number;
    const cases: [string, Record<string, unknown>, string][] = [
      ['unknown key', { name: 'x', role: 'viewer', isAdmin: true }, 'isAdmin'],
      ['owner', { name: 'x', role: 'owner' }, 'a service account is never an owner'],
      ['empty name', { name: '', role: 'viewer' }, 'name'],
      ['blank name', { name: '   ', role: 'viewer' }, 'must not be empty'],
      ['huge name', { name: 'n'.repeat(101), role: 'viewer' }, 'name'],
      ['control characters', { name: 'bad\u0007bot', role: 'viewer' }, 'control characters'],
      ['project owner', { name: 'x', role: 'viewer', projectRoles: [{ project: 'shop', role: 'owner' }] }, 'never an owner'],
      ['twice', { name: 'x', role: 'viewer', projectRoles: [{ project: 'shop', role: 'viewer' }, { project: 'shop', role: 'editor' }] }, 'is listed twice'],
      ['no role', { name: 'x' }, 'role'],
    ];
    for (const [what, body, says] of cases) {
      const res = await requestAs(p, owner, 'POST', '/api/v1/service-accounts', body);
      expect([what, res.status, res.body.error.code]).toEqual([what, 400, 'VALIDATION_FAILED']);
      expect([what, JSON.stringify(res.body.error)]).toEqual([what, expect.stringContaining(says)]);
    }
    const account = await create(owner, { name: 'valid-bot', role: 'viewer' });
    const token = await requestAs(p, owner, 'POST', `/api/v1/service-accounts/${account.id}/tokens`, { name: 'x', expiresInDays: 0 });
    expect(token.status).toBe(400);
    const badId = await requestAs(p, owner, 'DELETE', `/api/v1/service-accounts/${account.id}/tokens/has%20space`);
    expect(badId.status).toBe(400);
    expect((await requestAs(p, owner, 'GET', `/api/v1/service-accounts/${adminId}`)).status).toBe(404);
    expect((await must(owner, 'GET', '/api/v1/service-accounts?limit=200')).items.length).toBe(before + 1);
  });
});

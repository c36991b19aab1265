import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

interface ProjectRoleView {
  readonly project: string;
  readonly role: string;
}

const PASSWORD = 'project roles passphrase 2026';

// Per-project roles (migration 0024): a user's role in one project, in place of their organisation role there.
describe('per-project roles', () => {
  let p: Platform;
  let owner: string;
  let admin: string;
  const ids: Record<string, string> = {};
  const sessions: Record<string, string> = {};

  const must = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, token, method, path, body, version);
  const roleIn = (as: string, user: string, project: string, role?: string): Promise<{ status: number; body: any }> =>
    role === undefined ? requestAs(p, as, 'DELETE', `/api/v1/users/${ids[user]!}/projects/${project}/role`) : requestAs(p, as, 'PUT', `/api/v1/users/${ids[user]!}/projects/${project}/role`, { role });
  const createFlag = (token: string, project: string, key: string): Promise<{ status: number; body: any }> => requestAs(p, token, 'POST', `/api/v1/projects/${project}/flags`, booleanFlagBody(key));
  const projectRolesOf = async (user: string): Promise<ProjectRoleView[]> => ((await must(owner, 'GET', `/api/v1/users/${ids[user]!}`)) as { projectRoles: ProjectRoleView[] }).projectRoles;

  beforeAll(async () => {
    p = await startPlatform(postgresTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must(owner, 'POST', '/api/v1/projects', { key: 'alpha', name: 'Alpha' });
    await must(owner, 'POST', '/api/v1/projects', { key: 'beta', name: 'Beta' });
    for (const [name, role] of [
      ['ada', 'admin'],
      ['vic', 'viewer'],
      ['eddie', 'editor'],
      ['olga', 'owner'],
    ] as const) {
      const created = await must(owner, 'POST', '/api/v1/users', { email: `${name}@example.com`, name, role, password: PASSWORD });
      ids[name] = created.user.id as string;
      sessions[name] = await p.login(`${name}@example.com`, PASSWORD);
    }
    admin = sessions.ada!;
  });
  afterAll(async () => {
    await p.close();
  });

  it('lets a viewer made editor of alpha write flags in alpha (201) but not in beta (403)', async () => {
    const set = await roleIn(admin, 'vic', 'alpha', 'editor');
    expect([set.status, set.body.role, set.body.projectRoles]).toEqual([200, 'viewer', [{ project: 'alpha', role: 'editor' }]]);

    const inAlpha = await createFlag(sessions.vic!, 'alpha', 'vic-alpha');
    const inBeta = await createFlag(sessions.vic!, 'beta', 'vic-beta');
    const inDemo = await createFlag(sessions.vic!, 'demo', 'vic-demo');

    expect(inAlpha.status).toBe(201);
    expect([inBeta.status, inBeta.body.error.message]).toEqual([403, 'your role (viewer) does not allow flags:write']);
    expect(inDemo.status).toBe(403);
    // Organisation permissions keep the organisation role, whatever the project roles.
    expect((await requestAs(p, sessions.vic!, 'POST', '/api/v1/projects', { key: 'vic-project', name: 'Nope' })).status).toBe(403);
  });

  it('refuses writes in beta to an editor made viewer of beta, and lets them write elsewhere', async () => {
    expect((await roleIn(admin, 'eddie', 'beta', 'viewer')).status).toBe(200);

    const inBeta = await createFlag(sessions.eddie!, 'beta', 'eddie-beta');
    const toggle = await requestAs(p, sessions.eddie!, 'POST', '/api/v1/projects/beta/apply', { dryRun: true, changes: [{ kind: 'flags', action: 'create', key: 'eddie-apply', definition: booleanFlagBody('eddie-apply') }] });

    expect([inBeta.status, inBeta.body.error.message]).toEqual([403, 'your role (viewer in project beta) does not allow flags:write']);
    expect(toggle.status).toBe(403);
    expect((await createFlag(sessions.eddie!, 'alpha', 'eddie-alpha')).status).toBe(201);
    expect((await requestAs(p, sessions.eddie!, 'GET', '/api/v1/projects/beta/flags')).status).toBe(200);
  });

  it('keeps a token limited to viewer a viewer in a project where its user is editor', async () => {
    const { token } = (await must(sessions.vic!, 'POST', '/api/v1/me/tokens', { name: 'dashboard', role: 'viewer' })) as { token: string };
    const unlimited = (await must(sessions.vic!, 'POST', '/api/v1/me/tokens', { name: 'cli' })) as { token: string };

    const limited = await createFlag(token, 'alpha', 'vic-token');
    expect([limited.status, limited.body.error.message]).toEqual([403, 'your role (viewer) does not allow flags:write']);
    // A token without a role limit acts with the user's role in the project.
    expect((await createFlag(unlimited.token, 'alpha', 'vic-cli')).status).toBe(201);
  });

  it('falls back to the organisation role when the project role is removed', async () => {
    await must(admin, 'PUT', `/api/v1/users/${ids.vic!}/projects/beta/role`, { role: 'editor' });
    expect((await createFlag(sessions.vic!, 'beta', 'vic-beta-1')).status).toBe(201);

    const removed = await roleIn(admin, 'vic', 'beta');
    const again = await roleIn(admin, 'vic', 'beta');

    expect([removed.status, removed.body.projectRoles]).toEqual([200, [{ project: 'alpha', role: 'editor' }]]);
    expect(again.status).toBe(200);
    expect((await createFlag(sessions.vic!, 'beta', 'vic-beta-2')).status).toBe(403);
  });

  it('gives owners no project role, and no project role is owner', async () => {
    const onOwner = await roleIn(owner, 'olga', 'alpha', 'viewer');
    const ownerRole = await roleIn(owner, 'vic', 'alpha', 'owner');

    expect([onOwner.status, onOwner.body.error.code, onOwner.body.error.message]).toEqual([400, 'VALIDATION_FAILED', 'olga@example.com is an owner, and owners are owners in every project: they take no project role']);
    expect([ownerRole.status, ownerRole.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(await projectRolesOf('olga')).toEqual([]);
  });

  it("drops a user's project roles when they are made an owner", async () => {
    const created = await must(owner, 'POST', '/api/v1/users', { email: 'heir@example.com', name: 'Heir', role: 'editor', password: PASSWORD });
    ids.heir = created.user.id as string;
    await p.login('heir@example.com', PASSWORD);
    await must(owner, 'PUT', `/api/v1/users/${ids.heir}/projects/beta/role`, { role: 'viewer' });

    const { version } = (await must(owner, 'GET', `/api/v1/users/${ids.heir}`)) as { version: number };
    const promoted = await must(owner, 'PATCH', `/api/v1/users/${ids.heir}`, { role: 'owner' }, version);
    const heir = await p.login('heir@example.com', PASSWORD);

    expect([promoted.role, promoted.projectRoles]).toEqual(['owner', []]);
    expect((await createFlag(heir, 'beta', 'heir-beta')).status).toBe(201);
  });

  it('lets an admin grant at most admin, and not a project admin (organisation permissions use the organisation role)', async () => {
    const asAdmin = await roleIn(admin, 'eddie', 'alpha', 'admin');
    expect([asAdmin.status, asAdmin.body.projectRoles]).toEqual([200, [{ project: 'alpha', role: 'admin' }, { project: 'beta', role: 'viewer' }]]);
    // Eddie administers alpha (its environments, keys, webhooks)…
    expect((await requestAs(p, sessions.eddie!, 'POST', '/api/v1/projects/alpha/sdk-keys', { environment: 'development', kind: 'client', name: 'web' })).status).toBe(201);
    // …but manages no users, there or anywhere: users:manage is the organisation's.
    const byProjectAdmin = await roleIn(sessions.eddie!, 'vic', 'alpha', 'viewer');
    expect([byProjectAdmin.status, byProjectAdmin.body.error.message]).toEqual([403, 'your role (editor) does not allow users:manage']);

    const aboveAdmin = await roleIn(admin, 'eddie', 'alpha', 'owner');
    expect(aboveAdmin.status).toBe(400);
    // An editor cannot grant anything.
    expect((await roleIn(sessions.eddie!, 'vic', 'beta', 'editor')).status).toBe(403);
    expect(await projectRolesOf('vic')).toEqual([{ project: 'alpha', role: 'editor' }]);
  });

  it('answers 404 for an unknown project or user, 400 for a bad role or unknown keys', async () => {
    const project = await roleIn(admin, 'vic', 'nowhere', 'editor');
    const user = await requestAs(p, admin, 'PUT', '/api/v1/users/no-such-user/projects/alpha/role', { role: 'editor' });
    const badRole = await roleIn(admin, 'vic', 'alpha', 'superuser');
    const unknownKey = await requestAs(p, admin, 'PUT', `/api/v1/users/${ids.vic!}/projects/alpha/role`, { role: 'editor', until: 'tomorrow' });
    const noBody = await requestAs(p, admin, 'PUT', `/api/v1/users/${ids.vic!}/projects/alpha/role`);

    expect([project.status, project.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect([user.status, user.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect([badRole.status, badRole.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect([unknownKey.status, unknownKey.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(noBody.status).toBe(400);
  });

  it("gives the user a new version (ETag) when a project role changes, so a write based on the view before it is refused", async () => {
    const before = await requestAs(p, owner, 'GET', `/api/v1/users/${ids.eddie!}`);
    await roleIn(admin, 'eddie', 'beta', 'analyst');
    const after = await requestAs(p, owner, 'GET', `/api/v1/users/${ids.eddie!}`);
    const stale = await requestAs(p, owner, 'PATCH', `/api/v1/users/${ids.eddie!}`, { name: 'Eddie' }, before.body.version as number);
    await roleIn(admin, 'eddie', 'beta', 'viewer');

    expect(after.body.version).toBe(before.body.version + 1);
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    expect(stale.status).toBe(409);
  });

  it('lists project roles in GET /users and GET /me', async () => {
    const list = (await must(admin, 'GET', '/api/v1/users?q=example')) as { items: { email: string; projectRoles: ProjectRoleView[] }[] };
    const me = (await must(sessions.vic!, 'GET', '/api/v1/me')) as { role: string; projectRoles: ProjectRoleView[]; access: { role: string } };

    expect(Object.fromEntries(list.items.map((u) => [u.email, u.projectRoles]))).toMatchObject({
      'vic@example.com': [{ project: 'alpha', role: 'editor' }],
      'eddie@example.com': [
        { project: 'alpha', role: 'admin' },
        { project: 'beta', role: 'viewer' },
      ],
      'owner@example.com': [],
    });
    expect([me.role, me.projectRoles, me.access.role]).toEqual(['viewer', [{ project: 'alpha', role: 'editor' }], 'viewer']);
  });

  it('audits each change with the project, and writes nothing for a change that changes nothing', async () => {
    const before = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action LIKE 'user.project-role-%'");
    await must(admin, 'PUT', `/api/v1/users/${ids.vic!}/projects/beta/role`, { role: 'analyst' });
    await must(admin, 'PUT', `/api/v1/users/${ids.vic!}/projects/beta/role`, { role: 'analyst' });
    await must(admin, 'DELETE', `/api/v1/users/${ids.vic!}/projects/beta/role`);

    const entries = (await must(owner, 'GET', `/api/v1/audit?project=beta&resourceType=user&resourceKey=${ids.vic!}&limit=2`)) as { items: { action: string; actorEmail: string; diff: unknown }[] };
    const after = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action LIKE 'user.project-role-%'");

    expect(after.rows[0]!.n - before.rows[0]!.n).toBe(2);
    expect(entries.items.map((e) => [e.action, e.actorEmail])).toEqual([
      ['user.project-role-removed', 'ada@example.com'],
      ['user.project-role-set', 'ada@example.com'],
    ]);
    expect(JSON.stringify(entries.items[1]!.diff)).toContain('analyst');
  });

  it("judges a change request's approval by the approver's role in its project", async () => {
    const pam = (await must(owner, 'POST', '/api/v1/users', { email: 'pam@example.com', name: 'pam', role: 'viewer', password: PASSWORD })) as { user: { id: string } };
    ids.pam = pam.user.id;
    const pamSession = await p.login('pam@example.com', PASSWORD);
    await must(owner, 'PUT', `/api/v1/users/${ids.pam}/projects/demo/role`, { role: 'admin' });
    const propose = async (key: string): Promise<string> => {
      await must(owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(key));
      const state = { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] };
      return ((await must(sessions.eddie!, 'POST', '/api/v1/projects/demo/change-requests', { resourceType: 'flag', resourceKey: key, environment: 'production', state, baseVersion: 1 })) as { id: string }).id;
    };

    // A viewer of the organisation who is admin of demo approves there, and the approval counts.
    const first = await propose('cr-project-admin');
    expect((await requestAs(p, pamSession, 'POST', `/api/v1/projects/demo/change-requests/${first}/approve`)).status).toBe(200);
    const view = await must(sessions.eddie!, 'GET', `/api/v1/projects/demo/change-requests/${first}`);
    expect(view.approvalVoid).toBeNull();
    expect((await requestAs(p, sessions.eddie!, 'POST', `/api/v1/projects/demo/change-requests/${first}/apply`)).body.status).toBe('applied');

    // An organisation admin made viewer of demo after approving: the approval is withdrawn there.
    const second = await propose('cr-demoted-approver');
    expect((await requestAs(p, admin, 'POST', `/api/v1/projects/demo/change-requests/${second}/approve`)).status).toBe(200);
    await must(owner, 'PUT', `/api/v1/users/${ids.ada!}/projects/demo/role`, { role: 'viewer' });
    const applied = await requestAs(p, sessions.eddie!, 'POST', `/api/v1/projects/demo/change-requests/${second}/apply`);
    await must(owner, 'DELETE', `/api/v1/users/${ids.ada!}/projects/demo/role`);
    expect([applied.status, applied.body.error.message]).toEqual([409, 'change request is not approved yet']);
  });

  it('lets nobody change their own project role', async () => {
    await must(owner, 'PUT', `/api/v1/users/${ids.ada!}/projects/beta/role`, { role: 'viewer' });

    const lift = await roleIn(admin, 'ada', 'beta', 'admin');
    const remove = await roleIn(admin, 'ada', 'beta');

    expect([lift.status, lift.body.error.message]).toEqual([403, 'you cannot change your own project role; ask another admin or an owner']);
    expect(remove.status).toBe(403);
    expect(await projectRolesOf('ada')).toEqual([{ project: 'beta', role: 'viewer' }]);
    await must(owner, 'DELETE', `/api/v1/users/${ids.ada!}/projects/beta/role`);
  });

  it('lets nobody disable themselves or change their own organisation role, as the console; renaming is fine', async () => {
    const self = async () => (await must(admin, 'GET', '/api/v1/me')) as { id: string; version: number; role: string; disabled: boolean };
    const before = await self();

    const disable = await requestAs(p, admin, 'PATCH', `/api/v1/users/${before.id}`, { disabled: true }, before.version);
    const demote = await requestAs(p, admin, 'PATCH', `/api/v1/users/${before.id}`, { role: 'viewer' }, before.version);
    const ownerDemotes = await requestAs(p, owner, 'PATCH', `/api/v1/users/${((await must(owner, 'GET', '/api/v1/me')) as { id: string }).id}`, { role: 'admin' }, 1);
    const renamed = await requestAs(p, admin, 'PATCH', `/api/v1/users/${before.id}`, { name: 'Ada Renamed', role: before.role, disabled: false }, before.version);

    expect([disable.status, disable.body.error.message]).toEqual([403, 'you cannot disable yourself; ask another admin or an owner']);
    expect([demote.status, demote.body.error.message]).toEqual([403, 'you cannot change your own role; ask another admin or an owner']);
    expect(ownerDemotes.status).toBe(403);
    expect(renamed.status).toBe(200);
    const after = await self();
    expect([after.role, after.disabled]).toEqual([before.role, false]);
  });

  it("shows a limited token only its projects' roles, and its own capped by the token's role", async () => {
    const inAlpha = (await must(sessions.vic!, 'POST', '/api/v1/me/tokens', { name: 'beta only', projects: ['beta'] })) as { token: string };
    const viewerToken = (await must(sessions.vic!, 'POST', '/api/v1/me/tokens', { name: 'viewer', role: 'viewer' })) as { token: string };

    const scoped = (await must(inAlpha.token, 'GET', '/api/v1/me')) as { projectRoles: ProjectRoleView[] };
    const capped = (await must(viewerToken.token, 'GET', '/api/v1/me')) as { projectRoles: ProjectRoleView[] };

    // vic is editor of alpha: a token limited to beta does not learn alpha's key.
    expect(scoped.projectRoles).toEqual([]);
    expect(capped.projectRoles).toEqual([{ project: 'alpha', role: 'viewer' }]);
    const scopedAdmin = (await must(admin, 'POST', '/api/v1/me/tokens', { name: 'beta admin', projects: ['beta'] })) as { token: string };
    const listed = (await must(scopedAdmin.token, 'GET', '/api/v1/users?q=vic')) as { items: { projectRoles: ProjectRoleView[] }[] };
    expect(JSON.stringify(listed.items)).not.toContain('alpha');
  });

  it("removes the project's roles with the project", async () => {
    await must(owner, 'POST', '/api/v1/projects', { key: 'gamma', name: 'Gamma' });
    await must(admin, 'PUT', `/api/v1/users/${ids.vic!}/projects/gamma/role`, { role: 'editor' });
    const rowsOf = async (): Promise<number> =>
      (await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM user_project_roles r JOIN projects p ON p.id = r.project_id WHERE p.key = 'gamma'")).rows[0]!.n;
    const total = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM user_project_roles')).rows[0]!.n;
    expect(await rowsOf()).toBe(1);
    const totalBefore = await total();

    await must(owner, 'DELETE', '/api/v1/projects/gamma', undefined, 1);

    expect(await total()).toBe(totalBefore - 1);
    expect(await projectRolesOf('vic')).toEqual([{ project: 'alpha', role: 'editor' }]);
    // A project made again with the key starts without the old roles.
    await must(owner, 'POST', '/api/v1/projects', { key: 'gamma', name: 'Gamma again' });
    expect((await createFlag(sessions.vic!, 'gamma', 'vic-gamma')).status).toBe(403);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, markPasswordChosen, mustAs, requestAs, startPlatform } from './harness.js';

interface TokenView {
  readonly id: string;
  readonly role: string | null;
  readonly projects: string[] | null;
}

// Least-privilege personal access tokens: a lower role than their user's, limited to some projects.
describe('scoped personal access tokens', () => {
  let p: Platform;
  let owner: string;
  let admin: string;

  const must = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, token, method, path, body, version);
  const mint = async (as: string, body: Record<string, unknown>): Promise<{ token: string; accessToken: TokenView }> => (await must(as, 'POST', '/api/v1/me/tokens', body)) as { token: string; accessToken: TokenView };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must(owner, 'POST', '/api/v1/users', { email: 'ada@example.com', name: 'Ada', role: 'admin', password: 'admin passphrase of 2026' });
    await markPasswordChosen(p.db, 'ada@example.com');
    admin = await p.login('ada@example.com', 'admin passphrase of 2026');
    await must(owner, 'POST', '/api/v1/projects', { key: 'shop', name: 'Shop' });
    await must(owner, 'POST', '/api/v1/projects/shop/flags', booleanFlagBody('shop-banner'));
  });
  afterAll(async () => {
    await p.close();
  });

  it('acts with the lower role it was given, says so, and cannot be given more than its maker has', async () => {
    const { token, accessToken } = await mint(admin, { name: 'dashboard', role: 'viewer' });
    expect([accessToken.role, accessToken.projects]).toEqual(['viewer', null]);

    expect((await requestAs(p, token, 'GET', '/api/v1/projects/demo/flags')).status).toBe(200);
    const write = await requestAs(p, token, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('from-viewer-token'));
    expect([write.status, write.body.error.message]).toEqual([403, 'your role (viewer) does not allow flags:write']);
    const me = await must(token, 'GET', '/api/v1/me');
    expect([me.role, me.access]).toEqual(['admin', { role: 'viewer', projects: null }]);

    const higher = await requestAs(p, admin, 'POST', '/api/v1/me/tokens', { name: 'too much', role: 'owner' });
    expect([higher.status, higher.body.error.message]).toEqual([403, 'a token cannot have a higher role than the one you act with (admin); ask for admin or lower']);
    // Made with the viewer token: a viewer token, asked for or not.
    expect((await mint(token, { name: 'child' })).accessToken.role).toBe('viewer');
    expect((await requestAs(p, token, 'POST', '/api/v1/me/tokens', { name: 'child', role: 'editor' })).status).toBe(403);
  });

  it("manages only itself and the tokens made with it, never the user's wider credentials", async () => {
    const wide = await mint(admin, { name: 'laptop' });
    const { token, accessToken } = await mint(admin, { name: 'limited', projects: ['shop'] });
    const child = await mint(token, { name: 'limited child' });

    const listed = ((await must(token, 'GET', '/api/v1/me/tokens')) as { items: TokenView[] }).items.map((t) => t.id).sort();
    expect(listed).toEqual([accessToken.id, child.accessToken.id].sort());
    const revokeWide = await requestAs(p, token, 'DELETE', `/api/v1/me/tokens/${wide.accessToken.id}`);
    expect([revokeWide.status, revokeWide.body.error.message]).toEqual([404, 'access token not found']);
    expect((await requestAs(p, wide.token, 'GET', '/api/v1/me')).status).toBe(200);
    const sessions = await requestAs(p, token, 'POST', '/api/v1/me/sessions/revoke-others');
    expect(sessions.status).toBe(403);
    // Nor may it change the password, which would end every session and, if asked, every token.
    const password = await requestAs(p, token, 'PUT', '/api/v1/me/password', { currentPassword: 'admin passphrase of 2026', newPassword: 'a brand new passphrase 77', revokeAccessTokens: true });
    expect([password.status, password.body.error.message]).toEqual([403, 'this access token is limited to a role or to projects, so it cannot change your password; use a session or a token without limits']);
    expect((await requestAs(p, wide.token, 'GET', '/api/v1/me')).status).toBe(200);
    expect((await requestAs(p, admin, 'GET', '/api/v1/me')).status).toBe(200);
    // What it made, it may revoke.
    expect((await requestAs(p, token, 'DELETE', `/api/v1/me/tokens/${child.accessToken.id}`)).status).toBe(200);
  });

  it('follows its user down: a token given admin acts as editor once its user is an editor', async () => {
    await must(owner, 'POST', '/api/v1/users', { email: 'dev@example.com', name: 'Dev', role: 'admin', password: 'developer passphrase 99' });
    await markPasswordChosen(p.db, 'dev@example.com');
    const dev = await p.login('dev@example.com', 'developer passphrase 99');
    const { token } = await mint(dev, { name: 'ci', role: 'admin' });
    // Made with it, a token keeps its role even where that is the user's own: it must not follow the user up.
    expect((await mint(token, { name: 'ci child' })).accessToken.role).toBe('admin');
    const user = ((await must(owner, 'GET', '/api/v1/users?q=dev@example.com')) as { items: { id: string; version: number }[] }).items[0]!;
    await must(owner, 'PATCH', `/api/v1/users/${user.id}`, { role: 'editor' }, user.version);

    expect((await must(token, 'GET', '/api/v1/me')).access.role).toBe('editor');
    expect((await requestAs(p, token, 'POST', '/api/v1/projects/demo/environments', { key: 'qa', name: 'QA' })).status).toBe(403);
  });

  it('limited to some projects: sees only them, not the organisation, and mints nothing wider', async () => {
    const { token, accessToken } = await mint(admin, { name: 'shop ci', projects: ['shop'] });
    expect([accessToken.role, accessToken.projects]).toEqual([null, ['shop']]);

    expect(((await must(token, 'GET', '/api/v1/projects')) as { items: { key: string }[] }).items.map((x) => x.key)).toEqual(['shop']);
    expect((await must(token, 'GET', '/api/v1/projects/shop/flags/shop-banner')).key).toBe('shop-banner');
    for (const path of ['/api/v1/projects/demo', '/api/v1/projects/demo/flags', '/api/v1/projects/demo/experiments/demo-checkout-cta/results', '/api/v1/audit?project=demo']) {
      const hidden = await requestAs(p, token, 'GET', path);
      expect([path, hidden.status, hidden.body.error.message]).toEqual([path, 404, 'project "demo" not found']);
    }
    // Not by a refused permission or body either: a write to a project out of its reach, existing
    // or not, is answered alike, before the role (a viewer token) or the body is looked at.
    const { token: viewerToken } = await mint(admin, { name: 'shop viewer', role: 'viewer', projects: ['shop'] });
    for (const [who, project] of [[viewerToken, 'demo'], [viewerToken, 'nope'], [token, 'demo'], [token, 'nope']] as const) {
      const write = await requestAs(p, who, 'POST', `/api/v1/projects/${project}/flags`, { key: 42 });
      expect([project, write.status, write.body.error.message]).toEqual([project, 404, `project "${project}" not found`]);
    }
    const created = await requestAs(p, token, 'POST', '/api/v1/projects', { key: 'other', name: 'Other' });
    expect([created.status, created.body.error.message]).toEqual([403, 'this access token is limited to some projects, so it cannot create one; use a token for every project']);
    const invite = await requestAs(p, token, 'POST', '/api/v1/users', { email: 'x@example.com', name: 'X', role: 'viewer', password: 'viewer passphrase 2026' });
    expect([invite.status, invite.body.error.message]).toEqual([403, 'this access token is limited to some projects, so it cannot manage users; use a token for every project']);

    // The audit log: the project's entries only, none of the organisation's or other projects'.
    const entries = ((await must(token, 'GET', '/api/v1/audit?limit=200')) as { items: { projectId: string | null; resourceKey: string }[] }).items;
    const shopId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'shop'")).rows[0]!.id;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.projectId === shopId)).toBe(true);
    expect((await must(admin, 'GET', '/api/v1/audit?limit=200')).items.some((e: { projectId: string | null }) => e.projectId === null)).toBe(true);
    // So does its export.
    const exported = (await requestAs(p, token, 'GET', '/api/v1/audit/export?format=ndjson')).body as string;
    const lines = exported.trimEnd().split('\n').map((l) => JSON.parse(l) as { projectId: string | null; projectKey: string | null });
    expect(lines.length).toBe(entries.length);
    expect(lines.every((e) => e.projectId === shopId && e.projectKey === 'shop')).toBe(true);
    expect((await requestAs(p, token, 'GET', '/api/v1/audit/export?project=demo')).status).toBe(404);

    expect((await mint(token, { name: 'shop child' })).accessToken.projects).toEqual(['shop']);
    const wider = await requestAs(p, token, 'POST', '/api/v1/me/tokens', { name: 'wider', projects: ['demo'] });
    expect([wider.status, wider.body.error.message]).toEqual([404, 'project "demo" not found']);
    const unknown = await requestAs(p, admin, 'POST', '/api/v1/me/tokens', { name: 'typo', projects: ['shopp'] });
    expect([unknown.status, unknown.body.error.message]).toEqual([404, 'project "shopp" not found']);
    expect(((await must(admin, 'GET', '/api/v1/me/tokens')) as { items: TokenView[] }).items.find((t) => t.id === accessToken.id)?.projects).toEqual(['shop']);
  });

  it('limited to a project that is then deleted: reaches nothing, and never becomes a token for every project', async () => {
    await must(owner, 'POST', '/api/v1/projects', { key: 'brief', name: 'Brief' });
    const { token, accessToken } = await mint(owner, { name: 'brief only', projects: ['brief'] });
    await must(owner, 'DELETE', '/api/v1/projects/brief', undefined, 1);

    expect(((await must(token, 'GET', '/api/v1/projects')) as { items: unknown[] }).items).toEqual([]);
    expect((await requestAs(p, token, 'GET', '/api/v1/projects/demo/flags')).status).toBe(404);
    expect((await must(token, 'GET', '/api/v1/me')).access).toEqual({ role: 'owner', projects: [] });
    expect(((await must(owner, 'GET', '/api/v1/me/tokens')) as { items: TokenView[] }).items.find((t) => t.id === accessToken.id)?.projects).toEqual([]);
  });
});

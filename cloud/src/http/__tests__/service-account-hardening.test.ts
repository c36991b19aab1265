/**
 * What a tester automating xp from CI found in service accounts: the people routes taking a
 * robot's id, a robot's token handing out a person's credential or approving, what a deleted robot
 * leaves open, names that reach the audit log, and the version (ETag) of an account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduledChangeService } from '../../domain/scheduled-changes.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, markPasswordChosen, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

interface Account {
  readonly id: string;
  readonly name: string;
  readonly version: number;
}

const PROTECTED_FLAG = (key: string) => ({
  key,
  name: key,
  type: 'boolean',
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  environments: {
    development: { enabled: false, defaultVariation: 'off', offVariation: 'off' },
    production: { enabled: false, defaultVariation: 'off', offVariation: 'off' },
  },
});

describe('service accounts, hardened', () => {
  let p: Platform;
  let owner: string;
  let admin: string;
  let personId: string;

  const must = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, token, method, path, body, version);
  const create = async (as: string, body: Record<string, unknown>): Promise<Account> => (await must(as, 'POST', '/api/v1/service-accounts', body)) as Account;
  const mint = async (as: string, id: string, body: Record<string, unknown> = { name: 'ci' }): Promise<string> => ((await must(as, 'POST', `/api/v1/service-accounts/${id}/tokens`, body)) as { token: string }).token;
  const audit = async (query: string): Promise<{ action: string; actorId: string | null; diff: { op: string; path: string; to?: unknown }[] }[]> => (await must(owner, 'GET', `/api/v1/audit?limit=200&${query}`)).items;
  let n = 0;
  const flagKey = (): string => `sah-${String(++n)}`;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    admin = await signedInAs(p, owner, 'admin', 'ada@example.com');
    await markPasswordChosen(p.db, 'ada@example.com');
    personId = ((await must(owner, 'GET', '/api/v1/users?q=ada@example.com')).items as { id: string }[])[0]!.id;
  });
  afterAll(async () => {
    await p.close();
  });

  it("every people route refuses a service account's id with 400, and changes nothing", async () => {
    const account = await create(owner, { name: 'ops-bot', role: 'admin', projectRoles: [{ project: 'demo', role: 'editor' }] });
    const token = await mint(owner, account.id);
    const routes: [string, string, unknown][] = [
      ['PATCH', `/api/v1/users/${account.id}`, { name: 'renamed' }],
      ['POST', `/api/v1/users/${account.id}/password-reset`, undefined],
      ['POST', `/api/v1/users/${account.id}/unlock`, undefined],
      ['POST', `/api/v1/users/${account.id}/sessions/revoke`, { accessTokens: true }],
      ['POST', `/api/v1/users/${account.id}/sessions/revoke`, undefined],
      ['PUT', `/api/v1/users/${account.id}/projects/demo/role`, { role: 'viewer' }],
      ['DELETE', `/api/v1/users/${account.id}/projects/demo/role`, undefined],
    ];
    for (const as of [owner, admin]) {
      for (const [method, path, body] of routes) {
        const res = await requestAs(p, as, method, path, body, method === 'PATCH' ? account.version : undefined);
        expect([method, path, res.status, res.body.error?.details?.issues?.[0]?.code]).toEqual([method, path, 400, 'SERVICE_ACCOUNT']);
        expect(res.body.error.message).toMatch(/^"ops-bot" is a service account, which /);
      }
    }
    // Its token still works; nothing was revoked or recorded.
    expect((await requestAs(p, token, 'GET', '/api/v1/me')).status).toBe(200);
    expect(await audit(`action=user.sessions-revoked&resourceKey=${account.id}`)).toEqual([]);
    expect((await must(owner, 'GET', `/api/v1/service-accounts/${account.id}`)).projectRoles).toEqual([{ project: 'demo', role: 'editor' }]);
  });

  it("a service account's token hands out no person's credential: no password reset, no user with a password, no invitation", async () => {
    const account = await create(owner, { name: 'admin-bot', role: 'admin' });
    const token = await mint(owner, account.id);
    const says = 'a service account cannot';
    const reset = await requestAs(p, token, 'POST', `/api/v1/users/${personId}/password-reset`);
    expect([reset.status, reset.body.error.message]).toEqual([403, `${says} reset a password (it would hand a person's credential to a robot); a person must do it`]);
    expect(reset.body).not.toHaveProperty('temporaryPassword');
    const withPassword = await requestAs(p, token, 'POST', '/api/v1/users', { email: 'mole@example.com', name: 'Mole', role: 'admin', password: 'a long example passphrase 77' });
    expect([withPassword.status, withPassword.body.error.message]).toEqual([403, `${says} add people (it would hand a person's credential to a robot); a person must do it`]);
    const invited = await requestAs(p, token, 'POST', '/api/v1/users', { email: 'mole2@example.com', name: 'Mole', role: 'viewer' });
    expect([invited.status, invited.body]).toEqual([403, expect.not.objectContaining({ initialPassword: expect.anything() })]);
    expect(((await must(owner, 'GET', '/api/v1/users?q=mole')).items as unknown[]).length).toBe(0);
    // Ada can still sign in with her own password: nothing was reset.
    expect((await p.request('POST', '/api/v1/auth/login', { body: { email: 'ada@example.com', password: 'a much longer passphrase 42' } })).status).toBe(200);
    // Unlocking hands out nothing: it stays.
    expect((await requestAs(p, token, 'POST', `/api/v1/users/${personId}/unlock`)).status).toBe(200);
    // People do all of it.
    expect((await requestAs(p, owner, 'POST', '/api/v1/users', { email: 'fine@example.com', name: 'Fine', role: 'viewer' })).status).toBe(201);
  });

  it("refuses a person's e-mail in the service accounts' domain", async () => {
    for (const email of ['robot@service-accounts.invalid', 'Robot@SERVICE-ACCOUNTS.INVALID']) {
      const res = await requestAs(p, owner, 'POST', '/api/v1/users', { email, name: 'Fake bot', role: 'viewer' });
      expect([email, res.status, res.body.error.details?.issues?.[0]?.path]).toEqual([email, 400, 'body.email']);
      expect(res.body.error.message).toContain('service-accounts.invalid');
    }
  });

  it('may propose and apply a change request, never approve one: a person must', async () => {
    const key = flagKey();
    await must(owner, 'POST', '/api/v1/projects/demo/flags', PROTECTED_FLAG(key));
    const editorBot = await create(owner, { name: 'deploy-bot', role: 'editor' });
    const adminBot = await create(owner, { name: 'approver-bot', role: 'admin' });
    const proposer = await mint(owner, editorBot.id);
    const approver = await mint(owner, adminBot.id);
    const cr = await must(proposer, 'POST', '/api/v1/projects/demo/change-requests', { resourceType: 'flag', resourceKey: key, environment: 'production', baseVersion: 1, state: { enabled: true } });
    const approved = await requestAs(p, approver, 'POST', `/api/v1/projects/demo/change-requests/${cr.id as string}/approve`);
    expect([approved.status, approved.body.error?.message]).toEqual([403, 'a service account cannot approve a change request; a person must']);
    // A robot's approval recorded before this rule does not count when applied.
    await p.db.query("UPDATE change_requests SET approved_by = $1, approved_at = now() WHERE id = $2", [adminBot.id, cr.id]);
    const early = await requestAs(p, proposer, 'POST', `/api/v1/projects/demo/change-requests/${cr.id as string}/apply`);
    expect([early.status, early.body.error?.message]).toEqual([409, 'the approval no longer counts: approver-bot is a service account, and approvals are a person\'s; ask another reviewer to approve it again']);
    await must(owner, 'POST', `/api/v1/projects/demo/change-requests/${cr.id as string}/approve`);
    const applied = await requestAs(p, proposer, 'POST', `/api/v1/projects/demo/change-requests/${cr.id as string}/apply`);
    expect(applied.status).toBe(200);
    // Rejecting is not a person's judgement that something may ship: it stays.
    const other = await must(proposer, 'POST', '/api/v1/projects/demo/change-requests', { resourceType: 'flag', resourceKey: key, environment: 'production', baseVersion: 2, state: { enabled: false } });
    expect((await requestAs(p, approver, 'POST', `/api/v1/projects/demo/change-requests/${other.id as string}/reject`)).status).toBe(200);
  });

  it('deleting a service account cancels its open change requests and pending scheduled changes, and says how many; disabling keeps them', async () => {
    const key = flagKey();
    await must(owner, 'POST', '/api/v1/projects/demo/flags', PROTECTED_FLAG(key));
    const bot = await create(admin, { name: 'leaving-bot', role: 'editor' });
    const token = await mint(admin, bot.id);
    const cr = await must(token, 'POST', '/api/v1/projects/demo/change-requests', { resourceType: 'flag', resourceKey: key, environment: 'production', baseVersion: 1, state: { enabled: true } });
    const at = new Date(p.now.value.getTime() + 3_600_000).toISOString();
    const sc = await must(token, 'POST', `/api/v1/projects/demo/flags/${key}/scheduled-changes`, { environment: 'development', at, state: { enabled: true } });
    // Disabling keeps them.
    const disabled = (await must(admin, 'PATCH', `/api/v1/service-accounts/${bot.id}`, { disabled: true }, bot.version)) as Account;
    expect((await must(owner, 'GET', `/api/v1/projects/demo/change-requests/${cr.id as string}`)).status).toBe('open');
    expect((await must(owner, 'GET', `/api/v1/projects/demo/flags/${key}/scheduled-changes`)).items[0].status).toBe('scheduled');

    const deleted = await requestAs(p, admin, 'DELETE', `/api/v1/service-accounts/${bot.id}`, undefined, disabled.version);
    expect([deleted.status, deleted.body]).toEqual([200, { tokensRevoked: 1, changeRequestsCancelled: 1, scheduledChangesCancelled: 1 }]);
    expect((await must(owner, 'GET', `/api/v1/projects/demo/change-requests/${cr.id as string}`)).status).toBe('cancelled');
    expect((await must(owner, 'GET', `/api/v1/projects/demo/flags/${key}/scheduled-changes`)).items[0]).toMatchObject({ id: sc.id, status: 'cancelled' });
    const [entry] = await audit(`action=service-account.deleted&resourceKey=${bot.id}`);
    expect(entry?.diff).toEqual(expect.arrayContaining([{ op: 'add', path: '/changeRequestsCancelled', to: 1 }, { op: 'add', path: '/scheduledChangesCancelled', to: 1 }]));
    const cancelled = [...(await audit(`action=change-request.cancelled&resourceKey=${key}`)), ...(await audit(`action=flag.scheduled-change-cancelled&resourceKey=${key}`))];
    expect(cancelled.map((e) => [e.action, e.actorId === personId])).toEqual(expect.arrayContaining([['change-request.cancelled', true], ['flag.scheduled-change-cancelled', true]]));
    expect(cancelled.every((e) => JSON.stringify(e.diff).includes('leaving-bot (service account) was deleted'))).toBe(true);
  });

  it("a disabled service account's changes fail at their time, naming it, and are listed as failed", async () => {
    const key = flagKey();
    await must(owner, 'POST', '/api/v1/projects/demo/flags', PROTECTED_FLAG(key));
    const bot = await create(owner, { name: 'paused-bot', role: 'editor' });
    const token = await mint(owner, bot.id);
    const start = p.now.value;
    const at = new Date(start.getTime() + 3_600_000).toISOString();
    const cr = await must(token, 'POST', '/api/v1/projects/demo/change-requests', { resourceType: 'flag', resourceKey: key, environment: 'production', baseVersion: 1, state: { enabled: true }, applyAt: at });
    await must(owner, 'POST', `/api/v1/projects/demo/change-requests/${cr.id as string}/approve`);
    const sc = await must(token, 'POST', `/api/v1/projects/demo/flags/${key}/scheduled-changes`, { environment: 'development', at, state: { enabled: true } });
    await must(owner, 'PATCH', `/api/v1/service-accounts/${bot.id}`, { disabled: true }, bot.version);
    p.now.value = new Date(start.getTime() + 2 * 3_600_000);
    try {
      const report = await new ScheduledChangeService(p.services.deps).runDue();
      expect(report.failed).toContainEqual({ id: sc.id, reason: 'its creator paused-bot has been disabled' });
      expect(report.changeRequests.failed).toContainEqual({ id: cr.id, reason: 'its proposer paused-bot (service account) has been disabled' });
    } finally {
      p.now.value = start;
    }
    expect((await must(owner, 'GET', '/api/v1/projects/demo/scheduled-changes?status=failed')).items.map((c: { id: string }) => c.id)).toContain(sc.id);
    expect((await must(owner, 'GET', '/api/v1/projects/demo/change-requests?status=failed')).items.map((c: { id: string }) => c.id)).toContain(cr.id);
  });

  it('deleting a service account needs its version, as changing it does', async () => {
    const bot = await create(owner, { name: 'versioned-bot', role: 'viewer' });
    const without = await requestAs(p, owner, 'DELETE', `/api/v1/service-accounts/${bot.id}`);
    expect(without.status).toBe(428);
    const stale = await requestAs(p, owner, 'DELETE', `/api/v1/service-accounts/${bot.id}`, undefined, bot.version + 1);
    expect(stale.status).toBe(409);
    expect((await requestAs(p, owner, 'GET', `/api/v1/service-accounts/${bot.id}`)).status).toBe(200);
    expect((await requestAs(p, owner, 'DELETE', `/api/v1/service-accounts/${bot.id}`, undefined, bot.version)).status).toBe(200);
  });

  it('refuses names that would mislead in the audit log: token names, service-account names, people names', async () => {
    const bot = await create(owner, { name: 'names-bot', role: 'viewer' });
    const bad: [string, string][] = [
      ['line break', 'ci\nadmin'],
      ['control character', 'ci\u0007'],
      ['blank', '   '],
      ['bidi override', 'ci\u202Etxt.exe'],
      ['zero-width only', '\u200b'],
      ['line separator', 'ci\u2028admin'],
      ['paragraph separator', 'ci\u2029admin'],
    ];
    const person = await signedInAs(p, owner, 'editor', 'names@example.com');
    for (const [what, name] of bad) {
      const answers = [
        ['service-account token', await requestAs(p, owner, 'POST', `/api/v1/service-accounts/${bot.id}/tokens`, { name })],
        ['own token', await requestAs(p, person, 'POST', '/api/v1/me/tokens', { name })],
        ['service account', await requestAs(p, owner, 'POST', '/api/v1/service-accounts', { name, role: 'viewer' })],
        ['service account rename', await requestAs(p, owner, 'PATCH', `/api/v1/service-accounts/${bot.id}`, { name }, bot.version)],
        ['person', await requestAs(p, owner, 'POST', '/api/v1/users', { email: `n${String(++n)}@example.com`, name, role: 'viewer' })],
      ] as const;
      for (const [where, res] of answers) {
        expect([what, where, res.status, res.body.error?.details?.issues?.[0]?.path]).toEqual([what, where, 400, 'body.name']);
      }
    }
    // Ordinary names, emoji joined by a zero-width joiner and right-to-left text are fine.
    for (const name of ['deploy (main)', 'Zoë’s bot 👩‍💻', 'בוט פריסה']) {
      expect((await requestAs(p, owner, 'POST', `/api/v1/service-accounts/${bot.id}/tokens`, { name })).status).toBe(201);
    }
  });

  it('refuses a project listed twice in a token; deleting a project moves the version of an account that had a role there', async () => {
    const bot = await create(owner, { name: 'projects-bot', role: 'viewer' });
    for (const path of [`/api/v1/service-accounts/${bot.id}/tokens`, '/api/v1/me/tokens']) {
      const res = await requestAs(p, owner, 'POST', path, { name: 'twice', projects: ['demo', 'demo'] });
      expect([path, res.status, res.body.error?.details?.issues?.[0]?.path]).toEqual([path, 400, 'body.projects[1]']);
    }
    const project = await must(owner, 'POST', '/api/v1/projects', { key: 'doomed', name: 'Doomed' });
    const withRole = (await must(owner, 'PATCH', `/api/v1/service-accounts/${bot.id}`, { projectRoles: [{ project: 'doomed', role: 'editor' }] }, bot.version)) as Account;
    await must(owner, 'DELETE', '/api/v1/projects/doomed', undefined, project.version as number);
    const after = (await must(owner, 'GET', `/api/v1/service-accounts/${bot.id}`)) as Account & { projectRoles: unknown[] };
    expect(after.projectRoles).toEqual([]);
    expect(after.version).toBeGreaterThan(withRole.version);
    const stale = await requestAs(p, owner, 'PATCH', `/api/v1/service-accounts/${bot.id}`, { name: 'x' }, withRole.version);
    expect(stale.status).toBe(409);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

const PASSWORD = 'withdrawn approvals passphrase 2026';

/**
 * An approval withdrawn when its approver can no longer approve (disabled, or an organisation or a
 * project role that cannot approve there) stays withdrawn: enabling or promoting them again does
 * not bring it back.
 */
describe('approvals withdrawn for good', () => {
  let p: Platform;
  let owner: string;
  const ids: Record<string, string> = {};
  const sessions: Record<string, string> = {};

  const must = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, token, method, path, body, version);
  const patchUser = async (name: string, patch: Record<string, unknown>): Promise<void> => {
    const current = await must(owner, 'GET', `/api/v1/users/${ids[name]!}`);
    await must(owner, 'PATCH', `/api/v1/users/${ids[name]!}`, patch, current.version as number);
  };
  /** A new flag in `project` and an editor's request to turn it on in production, approved by `approver`. */
  const approved = async (key: string, approver: string, project = 'demo'): Promise<string> => {
    await must(owner, 'POST', `/api/v1/projects/${project}/flags`, booleanFlagBody(key));
    const state = { enabled: true, defaultVariation: 'on', offVariation: 'off' };
    const cr = await must(sessions.eddie!, 'POST', `/api/v1/projects/${project}/change-requests`, { resourceType: 'flag', resourceKey: key, environment: 'production', state, baseVersion: 1 });
    await must(sessions[approver]!, 'POST', `/api/v1/projects/${project}/change-requests/${cr.id as string}/approve`);
    return cr.id as string;
  };
  const view = (id: string, project = 'demo'): Promise<any> => must(owner, 'GET', `/api/v1/projects/${project}/change-requests/${id}`);
  const apply = (id: string, project = 'demo') => requestAs(p, sessions.eddie!, 'POST', `/api/v1/projects/${project}/change-requests/${id}/apply`);
  const withdrawals = async (key: string, project = 'demo'): Promise<any[]> =>
    (await must(owner, 'GET', `/api/v1/audit?project=${project}&action=change-request.approval-withdrawn&resourceKey=${key}`)).items as any[];
  const awaitingReview = { status: 'open', approvedBy: null, approvedAt: null, approvalVoid: null };
  const NOT_APPROVED = [409, 'INVALID_STATE', 'change request is not approved yet'];

  beforeAll(async () => {
    p = await startPlatform(postgresTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must(owner, 'POST', '/api/v1/projects', { key: 'alpha', name: 'Alpha' });
    for (const [name, role] of [
      ['ada', 'admin'],
      ['bob', 'admin'],
      ['cy', 'admin'],
      ['eddie', 'editor'],
    ] as const) {
      const created = await must(owner, 'POST', '/api/v1/users', { email: `${name}@example.com`, name, role, password: PASSWORD });
      ids[name] = created.user.id as string;
      sessions[name] = await p.login(`${name}@example.com`, PASSWORD);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('withdraws the approvals of a disabled user; enabling them again does not bring them back', async () => {
    const id = await approved('wd-disabled', 'ada');
    expect((await view(id)).approvedBy).toBe(ids.ada);

    await patchUser('ada', { disabled: true });
    expect(await view(id)).toMatchObject(awaitingReview);
    await patchUser('ada', { disabled: false });
    sessions.ada = await p.login('ada@example.com', PASSWORD);

    const refused = await apply(id);
    expect([refused.status, refused.body.error.code, refused.body.error.message]).toEqual(NOT_APPROVED);
    expect(await view(id)).toMatchObject(awaitingReview);
    const listed = await must(owner, 'GET', '/api/v1/projects/demo/change-requests?status=open&resourceKey=wd-disabled');
    expect(listed.items).toMatchObject([awaitingReview]);
    // One entry, by the admin who disabled the user, with the reason.
    const entries = await withdrawals('wd-disabled');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: 'change-request.approval-withdrawn', resourceType: 'flag', resourceKey: 'wd-disabled', environment: 'production', actorEmail: OWNER.email });
    expect(JSON.stringify(entries[0].diff)).toContain(id);
    expect(JSON.stringify(entries[0].diff)).toContain('ada has been disabled');
    // A new approval counts as any does.
    expect((await requestAs(p, sessions.ada, 'POST', `/api/v1/projects/demo/change-requests/${id}/approve`)).status).toBe(200);
    expect((await apply(id)).body.status).toBe('applied');
  });

  it('withdraws the approvals of an admin made editor; making them admin again does not bring them back', async () => {
    const id = await approved('wd-demoted', 'bob');

    await patchUser('bob', { role: 'editor' });
    expect(await view(id)).toMatchObject(awaitingReview);
    await patchUser('bob', { role: 'admin' });

    const refused = await apply(id);
    expect([refused.status, refused.body.error.code, refused.body.error.message]).toEqual(NOT_APPROVED);
    const entries = await withdrawals('wd-demoted');
    expect(entries).toHaveLength(1);
    expect(JSON.stringify(entries[0].diff)).toContain('bob is now an editor and cannot approve');
  });

  it("withdraws a project role's lost approvals in that project only", async () => {
    const inDemo = await approved('wd-project-demo', 'cy');
    const inAlpha = await approved('wd-project-alpha', 'cy', 'alpha');

    await must(owner, 'PUT', `/api/v1/users/${ids.cy!}/projects/demo/role`, { role: 'viewer' });
    expect(await view(inDemo)).toMatchObject(awaitingReview);
    // Still an admin in alpha: that approval stands.
    expect(await view(inAlpha, 'alpha')).toMatchObject({ approvedBy: ids.cy, approvalVoid: null });
    await must(owner, 'DELETE', `/api/v1/users/${ids.cy!}/projects/demo/role`);

    const refused = await apply(inDemo);
    expect([refused.status, refused.body.error.code, refused.body.error.message]).toEqual(NOT_APPROVED);
    expect((await apply(inAlpha, 'alpha')).body.status).toBe('applied');
    const entries = await withdrawals('wd-project-demo');
    expect(entries).toHaveLength(1);
    expect(JSON.stringify(entries[0].diff)).toContain('cy is now a viewer in project \\"demo\\" and cannot approve');
    expect(await withdrawals('wd-project-alpha', 'alpha')).toEqual([]);
  });

  it('keeps approvals that still count: a change to another user, or a rename', async () => {
    const id = await approved('wd-kept', 'ada');

    await patchUser('ada', { name: 'Ada Lovelace' });
    await patchUser('bob', { disabled: true });
    await must(owner, 'PUT', `/api/v1/users/${ids.ada!}/projects/alpha/role`, { role: 'viewer' });

    expect(await view(id)).toMatchObject({ approvedBy: ids.ada, approvalVoid: null });
    expect(await withdrawals('wd-kept')).toEqual([]);
    expect((await apply(id)).body.status).toBe('applied');
  });
});

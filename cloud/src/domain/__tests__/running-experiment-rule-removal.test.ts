/**
 * A running experiment's rule cannot be taken from a flag where the experiment runs (removed,
 * disabled, pointed at another experiment, the state removed), by any write path: otherwise the
 * experiment runs on with no traffic, and "remove the rule, then delete or archive" goes around the
 * delete and archive guards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, mustAs, requestAs, signedInAs, startPlatform } from '../../http/__tests__/harness.js';

const PROJECT = 'rule-removal';
const BASE = `/api/v1/projects/${PROJECT}`;
const DAY = 86_400_000;

describe("taking a running experiment's rule from its flag", () => {
  let p: Platform;
  let owner: string;
  let editor: string;
  let startedAt: string;

  const request = (method: string, path: string, body?: unknown, version?: number, as = owner): Promise<{ status: number; body: any }> => requestAs(p, as, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number, as = owner): Promise<any> => mustAs(p, as, method, path, body, version);
  const rule = (experiment: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 'e', type: 'experiment', experiment, ...extra });
  const state = (rules: unknown[]): Record<string, unknown> => ({ enabled: true, defaultVariation: 'off', offVariation: 'off', rules });
  const flag = (key: string, environments: Record<string, unknown>): Record<string, unknown> => ({
    key,
    name: key,
    type: 'boolean',
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments,
  });
  const experiment = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    key,
    name: key,
    variations: [{ key: 'control' }, { key: 'treatment' }],
    environments: ['development', 'production'],
    status: 'running',
    startedAt,
    ...extra,
  });
  const withState = (env: string, next: unknown) => (d: any) => ({ ...d, environments: { ...d.environments, [env]: next } });
  const replace = async (key: string, change: (d: any) => any): Promise<{ status: number; body: any }> => {
    const current = await must('GET', `${BASE}/flags/${key}`);
    return request('PUT', `${BASE}/flags/${key}`, change(current.definition), current.version);
  };
  const refusedFor = (res: { status: number; body: any }, experimentKey: string): void => {
    expect([res.status, res.body.error?.code]).toEqual([409, 'INVALID_STATE']);
    expect(res.body.error.message).toContain(`running experiment "${experimentKey}"`);
    expect(res.body.error.message).toContain('stop the experiment first');
    expect(res.body.error.details.experiments).toEqual([experimentKey]);
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    startedAt = new Date(p.now.value.getTime() - DAY).toISOString();
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'removal-editor@example.com');
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Rule removal' });
    await must('POST', `${BASE}/experiments`, experiment('ex'));
    await must('POST', `${BASE}/experiments`, experiment('other'));
    await must('POST', `${BASE}/experiments`, experiment('staging-only', { environments: ['staging'] }));
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses removing, disabling or re-pointing the rule, or removing the state, by PUT and by state PUT', async () => {
    await must('POST', `${BASE}/flags`, flag('f1', { development: state([rule('ex')]) }));

    const removed = await replace('f1', withState('development', state([])));
    const disabled = await replace('f1', withState('development', state([rule('ex', { enabled: false })])));
    const repointed = await replace('f1', withState('development', state([rule('other')])));
    const stateRemoved = await replace('f1', (d) => ({ ...d, environments: {} }));
    const current = await must('GET', `${BASE}/flags/f1`);
    const statePut = await request('PUT', `${BASE}/flags/f1/environments/development`, state([]), current.version);

    for (const res of [removed, disabled, repointed, stateRemoved, statePut]) {
      refusedFor(res, 'ex');
    }
    expect(removed.body.error.details.issues).toEqual([{ path: 'environments.development.rules', message: expect.stringContaining('"ex"') }]);
    expect((await must('GET', `${BASE}/flags/f1`)).version).toBe(current.version);
  });

  it('refuses the rule removed before a delete or an archive in one apply, so nothing is deleted or archived', async () => {
    await must('POST', `${BASE}/flags`, flag('f2', { development: state([rule('ex')]) }));
    const stored = await must('GET', `${BASE}/flags/f2`);
    const without = withState('development', state([]))(stored.definition);

    const thenDeleted = await request('POST', `${BASE}/apply`, {
      changes: [
        { kind: 'flags', action: 'update', key: 'f2', version: stored.version, definition: without },
        { kind: 'flags', action: 'delete', key: 'f2', version: stored.version + 1 },
      ],
    });
    const thenArchived = await request('POST', `${BASE}/apply`, {
      changes: [
        { kind: 'flags', action: 'update', key: 'f2', version: stored.version, definition: without },
        { kind: 'flags', action: 'update', key: 'f2', version: stored.version + 1, definition: { ...without, archived: true } },
      ],
    });

    refusedFor(thenDeleted, 'ex');
    refusedFor(thenArchived, 'ex');
    const after = await must('GET', `${BASE}/flags/f2`);
    expect([after.version, after.archived, after.definition.environments.development.rules]).toEqual([stored.version, false, [rule('ex')]]);
  });

  it('refuses a change request that removes the rule, when proposed and when applied after the experiment started', async () => {
    await must('POST', `${BASE}/flags`, flag('f3', { production: state([rule('ex')]) }));
    const f3 = await must('GET', `${BASE}/flags/f3`);
    const proposed = await request('POST', `${BASE}/change-requests`, { resourceType: 'flag', resourceKey: 'f3', environment: 'production', baseVersion: f3.version, state: state([]) }, undefined, editor);
    refusedFor(proposed, 'ex');

    await must('POST', `${BASE}/experiments`, experiment('later', { status: 'draft', startedAt: undefined }));
    const f4 = await must('POST', `${BASE}/flags`, flag('f4', { production: state([rule('later')]) }));
    const open = await must('POST', `${BASE}/change-requests`, { resourceType: 'flag', resourceKey: 'f4', environment: 'production', baseVersion: f4.version, state: state([]) }, undefined, editor);
    const draft = await must('GET', `${BASE}/experiments/later`);
    await must('POST', `${BASE}/experiments/later/start`, undefined, draft.version);
    await must('POST', `${BASE}/change-requests/${open.id as string}/approve`);

    const applied = await request('POST', `${BASE}/change-requests/${open.id as string}/apply`, undefined, undefined, editor);

    refusedFor(applied, 'later');
    expect((await must('GET', `${BASE}/change-requests/${open.id as string}`)).status).toBe('open');
    expect((await must('GET', `${BASE}/flags/f4`)).definition.environments.production.rules).toEqual([rule('later')]);
  });

  it('lets the flag be turned off, the rule move or be renamed, and a rule go where the experiment does not run or once it is stopped', async () => {
    await must('POST', `${BASE}/flags`, flag('f5', { development: state([rule('ex')]), production: state([rule('staging-only')]) }));

    const turnedOff = await replace('f5', (d) => withState('development', { ...d.environments.development, enabled: false })(d));
    const renamed = await replace('f5', withState('development', { ...state([{ id: 'nz', type: 'force', variation: 'on', condition: { country: 'NZ' } }, rule('ex', { id: 'e-renamed' })]), enabled: false }));
    const elsewhere = await replace('f5', withState('production', state([])));
    const ex = await must('GET', `${BASE}/experiments/ex`);
    await must('POST', `${BASE}/experiments/ex/stop`, undefined, ex.version);
    const stopped = await replace('f5', withState('development', state([])));

    expect([turnedOff.status, renamed.status, elsewhere.status, stopped.status]).toEqual([200, 200, 200, 200]);
    const stored = await must('GET', `${BASE}/flags/f5`);
    expect((await request('DELETE', `${BASE}/flags/f5`, undefined, stored.version)).status).toBe(204);
  });

  it('refuses starting an experiment only archived flags deliver; a standalone one, or one an unarchived flag delivers, starts', async () => {
    const draft = (key: string) => must('POST', `${BASE}/experiments`, experiment(key, { status: 'draft', startedAt: undefined }));
    const start = async (key: string) => request('POST', `${BASE}/experiments/${key}/start`, undefined, (await must('GET', `${BASE}/experiments/${key}`)).version);
    await draft('orphan');
    await must('POST', `${BASE}/flags`, { ...flag('gone', { development: state([rule('orphan')]) }), archived: true });
    await draft('standalone');
    await draft('half');
    await must('POST', `${BASE}/flags`, { ...flag('half-old', { development: state([rule('half')]) }), archived: true });
    await must('POST', `${BASE}/flags`, flag('half-new', { development: state([rule('half')]) }));

    const orphan = await start('orphan');

    expect([orphan.status, orphan.body.error?.code]).toEqual([409, 'INVALID_STATE']);
    expect(orphan.body.error.message).toContain('delivered only by archived flag "gone"');
    expect(orphan.body.error.details).toEqual({ flags: ['gone'] });
    expect((await must('GET', `${BASE}/experiments/orphan`)).definition.status).toBe('draft');
    expect((await start('standalone')).status).toBe(200);
    expect((await start('half')).status).toBe(200);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const ON = { enabled: true, defaultVariation: 'on', offVariation: 'off' };
const OFF = { ...ON, enabled: false };

/**
 * The emergency off switch of a protected environment (`editorsMayTurnOff`): an editor may turn a
 * flag off there through the toggle endpoint, and nothing else; and a toggle to the state the flag
 * already has answers 200 whatever version it was sent with.
 */
describe('emergency off in a protected environment', () => {
  let p: Platform;
  let owner: string;
  let admin: string;
  let editor: string;
  let viewer: string;

  const flagVersion = async (key: string): Promise<number> => ((await mustAs(p, owner, 'GET', `${DEMO}/flags/${key}`)) as { version: number }).version;
  const production = async (): Promise<{ version: number; editorsMayTurnOff?: boolean }> => mustAs(p, owner, 'GET', `${DEMO}/environments/production`);
  const setEmergencyOff = async (token: string, value: boolean): Promise<{ status: number; body: any }> => {
    const env = await production();
    return requestAs(p, token, 'PUT', `${DEMO}/environments/production`, { key: 'production', name: 'Production', production: true, requireApproval: true, color: '#d62728', editorsMayTurnOff: value }, env.version);
  };
  /** A flag on in production (made by the owner), at version 1. */
  const liveFlag = async (key: string): Promise<void> => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody(key, { development: ON, production: ON }));
  };
  const toggle = (token: string, key: string, enabled: boolean, version: number) => requestAs(p, token, 'POST', `${DEMO}/flags/${key}/environments/production/toggle`, { enabled }, version);
  const auditOf = async (key: string): Promise<{ action: string; environment: string | null; actorEmail: string; diff: unknown }[]> =>
    ((await mustAs(p, owner, 'GET', `/api/v1/audit?project=demo&resourceType=flag&resourceKey=${key}`)) as { items: { action: string; environment: string | null; actorEmail: string; diff: unknown }[] }).items;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    const users: Record<string, string> = {};
    for (const role of ['admin', 'editor', 'viewer']) {
      await mustAs(p, owner, 'POST', '/api/v1/users', { email: `${role}@example.com`, name: role, role, password: 'a much longer passphrase 42' });
      users[role] = await p.login(`${role}@example.com`, 'a much longer passphrase 42');
    }
    admin = users.admin!;
    editor = users.editor!;
    viewer = users.viewer!;
  });
  afterAll(async () => {
    await p.close();
  });

  it('keeps requiring approval for an editor turning a flag off where the environment has not opted in (the default)', async () => {
    expect((await production()).editorsMayTurnOff).toBeUndefined();
    await liveFlag('no-opt-in');
    const off = await toggle(editor, 'no-opt-in', false, 1);
    expect([off.status, off.body.error.code, off.body.error.details]).toEqual([403, 'APPROVAL_REQUIRED', { environments: ['production'] }]);
    expect(await flagVersion('no-opt-in')).toBe(1);
  });

  it('lets only an owner or admin set editorsMayTurnOff, audited as an environment change', async () => {
    const byEditor = await setEmergencyOff(editor, true);
    expect([byEditor.status, byEditor.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const byViewer = await setEmergencyOff(viewer, true);
    expect(byViewer.status).toBe(403);
    expect((await production()).editorsMayTurnOff).toBeUndefined();

    const byAdmin = await setEmergencyOff(admin, true);
    expect([byAdmin.status, byAdmin.body.editorsMayTurnOff]).toEqual([200, true]);
    const byOwner = await setEmergencyOff(owner, false);
    expect([byOwner.status, byOwner.body.editorsMayTurnOff]).toEqual([200, false]);
    expect((await setEmergencyOff(owner, true)).status).toBe(200);
    expect((await production()).editorsMayTurnOff).toBe(true);

    const audit = (await mustAs(p, owner, 'GET', '/api/v1/audit?project=demo&resourceType=environment&resourceKey=production')) as { items: { action: string; actorEmail: string; diff: unknown }[] };
    expect(audit.items.slice(0, 3).map((e) => [e.action, e.actorEmail, e.diff])).toEqual([
      ['environment.updated', OWNER.email, expect.arrayContaining([{ op: 'replace', path: '/editorsMayTurnOff', from: false, to: true }])],
      ['environment.updated', OWNER.email, expect.arrayContaining([{ op: 'replace', path: '/editorsMayTurnOff', from: true, to: false }])],
      ['environment.updated', 'admin@example.com', expect.arrayContaining([{ op: 'add', path: '/editorsMayTurnOff', to: true }])],
    ]);
  });

  it('lets an editor turn a flag off there, audited as flag.disabled with the approval bypass marked', async () => {
    await liveFlag('kill-me');
    const rulesetBefore = await mustAs(p, owner, 'GET', `${DEMO}/environments/production/ruleset`);
    const off = await toggle(editor, 'kill-me', false, 1);
    expect([off.status, off.body.version, off.body.definition.environments.production.enabled, off.headers.get('etag')]).toEqual([200, 2, false, '"2"']);
    // Only the production state changed.
    expect(off.body.definition.environments.development.enabled).toBe(true);

    const rulesetAfter = await mustAs(p, owner, 'GET', `${DEMO}/environments/production/ruleset`);
    expect(rulesetAfter.published.version).toBe(rulesetBefore.published.version + 1);

    const [entry] = await auditOf('kill-me');
    expect(entry).toMatchObject({ action: 'flag.disabled', environment: 'production', actorEmail: 'editor@example.com' });
    expect(entry!.diff).toEqual([
      { op: 'replace', path: '/environments/production/enabled', from: true, to: false },
      { op: 'add', path: '/approvalBypassed', to: 'emergency-off' },
    ]);
    // An owner's toggle needed no approval: no marker.
    const on = await toggle(owner, 'kill-me', true, 2);
    expect(on.status).toBe(200);
    const [ownerEntry] = await auditOf('kill-me');
    expect(ownerEntry).toMatchObject({ action: 'flag.enabled', actorEmail: OWNER.email, diff: [{ op: 'replace', path: '/environments/production/enabled', from: false, to: true }] });
  });

  it('still refuses an editor turning a flag on, replacing its state or PUTting the flag there, and a viewer anything', async () => {
    expect((await production()).editorsMayTurnOff).toBe(true);
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('stay-off', { production: OFF }));
    const on = await toggle(editor, 'stay-off', true, 1);
    expect([on.status, on.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);

    await liveFlag('put-off');
    const state = await requestAs(p, editor, 'PUT', `${DEMO}/flags/put-off/environments/production`, OFF, 1);
    expect([state.status, state.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    const whole = await requestAs(p, editor, 'PUT', `${DEMO}/flags/put-off`, booleanFlagBody('put-off', { development: ON, production: OFF }), 1);
    expect([whole.status, whole.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    const applied = await requestAs(p, editor, 'POST', `${DEMO}/apply`, { changes: [{ kind: 'flags', action: 'update', key: 'put-off', version: 1, definition: booleanFlagBody('put-off', { development: ON, production: OFF }) }] });
    expect(applied.status).toBe(403);
    expect(applied.body.error.code).toBe('APPROVAL_REQUIRED');

    const byViewer = await toggle(viewer, 'put-off', false, 1);
    expect([byViewer.status, byViewer.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect(await flagVersion('put-off')).toBe(1);
    expect(await flagVersion('stay-off')).toBe(1);
  });

  it('answers a toggle to the state the flag already has with the flag, whatever the version; a different state at a stale version is still a conflict', async () => {
    await liveFlag('already');
    const off = await toggle(owner, 'already', false, 1);
    expect(off.body.version).toBe(2);
    const entries = (await auditOf('already')).length;

    // Stale (1) and even unknown (99) versions: the flag is off already.
    for (const version of [1, 99]) {
      const again = await toggle(owner, 'already', false, version);
      expect([again.status, again.body.version, again.headers.get('etag'), again.body.definition.environments.production.enabled]).toEqual([200, 2, '"2"', false]);
    }
    // The editor's emergency off of an off flag is the same no-op.
    const editorAgain = await toggle(editor, 'already', false, 1);
    expect([editorAgain.status, editorAgain.body.version]).toEqual([200, 2]);
    expect(await flagVersion('already')).toBe(2);
    expect((await auditOf('already')).length).toBe(entries);

    // If-Match is still required and must be well-formed.
    const missing = await p.request('POST', `${DEMO}/flags/already/environments/production/toggle`, { token: owner, body: { enabled: false } });
    expect(missing.status).toBe(428);
    const unquoted = await p.request('POST', `${DEMO}/flags/already/environments/production/toggle`, { token: owner, body: { enabled: false }, headers: { 'If-Match': '2' } });
    expect(unquoted.status).toBe(400);

    const stale = await toggle(owner, 'already', true, 1);
    expect([stale.status, stale.body.error.code, stale.body.error.details]).toEqual([409, 'VERSION_CONFLICT', { currentVersion: 2 }]);
    expect(await flagVersion('already')).toBe(2);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, signedInAs, startPlatform } from './harness.js';

const RULES = [{ id: 'us', type: 'force', variation: 'green', condition: { country: 'US' } }];

/** A flag with a state in staging and protected production, both with a rule. */
const flag = (key: string) => ({
  key,
  name: key,
  type: 'string',
  variations: [
    { key: 'blue', value: 'blue' },
    { key: 'green', value: 'green' },
    { key: 'extra', value: 'extra' },
  ],
  environments: {
    staging: { enabled: true, defaultVariation: 'blue', offVariation: 'blue', rules: RULES },
    production: { enabled: true, defaultVariation: 'blue', offVariation: 'blue', rules: RULES },
  },
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('change requests during an incident on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let editor: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'oncall@example.com');
  });
  afterAll(async () => {
    await p.close();
  });

  const create = async (key: string, body: unknown = flag(key)): Promise<void> => {
    const made = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body });
    expect(made.status).toBe(201);
  };
  const propose = (key: string, state: unknown, baseVersion = 1, environment = 'production') =>
    p.request('POST', '/api/v1/projects/demo/change-requests', { token: editor, body: { resourceType: 'flag', resourceKey: key, environment, baseVersion, state } });
  const act = (id: string, action: 'approve' | 'apply', token: string) => p.request('POST', `/api/v1/projects/demo/change-requests/${id}/${action}`, { token });
  const read = async (key: string) => (await p.request('GET', `/api/v1/projects/demo/flags/${key}`, { token: owner })).body;

  it('merges a partial proposal over the current state: left-out rules and prerequisites stay', async () => {
    await create('partial-off');
    const minimal = await propose('partial-off', { enabled: false });
    const withVariations = await propose('partial-off', { enabled: false, defaultVariation: 'blue', offVariation: 'blue' });

    expect([minimal.status, withVariations.status]).toEqual([201, 201]);
    expect(minimal.body).not.toHaveProperty('base');
    for (const proposed of [minimal, withVariations]) {
      expect(proposed.body.diff).toEqual([{ op: 'replace', path: '/enabled', from: true, to: false }]);
      expect(proposed.body.proposed).toEqual({ enabled: false, defaultVariation: 'blue', offVariation: 'blue', prerequisites: [], rules: RULES });
    }
    expect((await act(minimal.body.id as string, 'approve', owner)).status).toBe(200);
    const applied = await act(minimal.body.id as string, 'apply', editor);
    expect(applied.status).toBe(200);
    expect((await read('partial-off')).definition.environments.production).toEqual({ enabled: false, defaultVariation: 'blue', offVariation: 'blue', prerequisites: [], rules: RULES });
  });

  it('removes the rules only when the proposal says rules: []', async () => {
    await create('rules-cleared');
    const proposed = await propose('rules-cleared', { rules: [] });

    expect(proposed.status).toBe(201);
    expect(proposed.body.diff).toEqual([{ op: 'replace', path: '/rules', from: RULES, to: [] }]);
    expect(proposed.body.proposed).toEqual({ enabled: true, defaultVariation: 'blue', offVariation: 'blue', prerequisites: [], rules: [] });
  });

  it("gives a first state a new state's defaults and names the fields it still needs", async () => {
    await create('first-state', { ...flag('first-state'), environments: {} });
    const missing = await propose('first-state', { enabled: false });
    const badRule = await propose('first-state', { enabled: false, defaultVariation: 'blue', offVariation: 'blue', rules: [{ id: 'r', type: 'nope' }] });
    const complete = await propose('first-state', { enabled: false, defaultVariation: 'blue', offVariation: 'blue' });

    expect([missing.status, missing.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(missing.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['state.defaultVariation', 'state.offVariation']);
    expect(badRule.status).toBe(400);
    expect(badRule.body.error.details.issues[0].path).toMatch(/^body\.state\.rules\[0\]/);
    expect(complete.status).toBe(201);
    expect(complete.body.proposed).toEqual({ enabled: false, defaultVariation: 'blue', offVariation: 'blue', prerequisites: [], rules: [] });
  });

  it("approves and applies a request after an unrelated change in another environment, on top of the newer version", async () => {
    await create('incident-checkout');
    const proposed = await propose('incident-checkout', { enabled: false });
    const toggled = await p.request('POST', '/api/v1/projects/demo/flags/incident-checkout/environments/staging/toggle', { token: owner, body: { enabled: false }, headers: { 'If-Match': '"1"' } });
    const approved = await act(proposed.body.id as string, 'approve', owner);
    const applied = await act(proposed.body.id as string, 'apply', editor);
    const now = await read('incident-checkout');

    expect([proposed.status, toggled.status, toggled.body.version]).toEqual([201, 200, 2]);
    expect(approved.status).toBe(200);
    expect([applied.status, applied.body.status]).toEqual([200, 'applied']);
    expect(now.version).toBe(3);
    // The staging change stays; production is what the request proposed.
    expect(now.definition.environments.staging.enabled).toBe(false);
    expect(now.definition.environments.production).toEqual({ enabled: false, defaultVariation: 'blue', offVariation: 'blue', prerequisites: [], rules: RULES });
  });

  it("refuses to approve or apply a request whose environment's state changed since it was made, saying what changed", async () => {
    await create('same-env');
    const early = await propose('same-env', { enabled: false });
    const late = await propose('same-env', { enabled: false });
    expect((await act(early.body.id as string, 'approve', owner)).status).toBe(200);
    const changed = await p.request('PUT', '/api/v1/projects/demo/flags/same-env/environments/production', {
      token: owner,
      body: { enabled: true, defaultVariation: 'blue', offVariation: 'blue', rules: [] },
      headers: { 'If-Match': '"1"' },
    });
    const applied = await act(early.body.id as string, 'apply', editor);
    const approved = await act(late.body.id as string, 'approve', owner);
    const reapproved = await act(early.body.id as string, 'approve', owner);

    const message =
      'flag "same-env" changed since the request was made: its state in "production" changed (rules) (version 2, request based on 1); the request would undo or misapply that change, so propose again';
    expect(changed.status).toBe(200);
    for (const refused of [applied, approved, reapproved]) {
      expect([refused.status, refused.body.error.code, refused.body.error.message]).toEqual([409, 'VERSION_CONFLICT', message]);
      expect(refused.body.error.details).toEqual({ currentVersion: 2 });
    }
    // Nothing was written: the owner's change stands.
    const now = await read('same-env');
    expect([now.version, now.definition.environments.production.rules]).toEqual([2, []]);
    const late2 = await p.request('GET', `/api/v1/projects/demo/change-requests/${late.body.id as string}`, { token: owner });
    expect([late2.body.status, late2.body.approvedBy]).toEqual(['open', null]);
  });

  it('refuses to apply a request that serves a variation removed since', async () => {
    await create('variation-gone');
    const proposed = await propose('variation-gone', { defaultVariation: 'extra' });
    expect((await act(proposed.body.id as string, 'approve', owner)).status).toBe(200);
    const current = await read('variation-gone');
    const removed = await p.request('PUT', '/api/v1/projects/demo/flags/variation-gone', {
      token: owner,
      body: { ...current.definition, variations: current.definition.variations.filter((v: { key: string }) => v.key !== 'extra') },
      headers: { 'If-Match': '"1"' },
    });
    const applied = await act(proposed.body.id as string, 'apply', editor);

    expect(removed.status).toBe(200);
    expect([applied.status, applied.body.error.code]).toEqual([409, 'VERSION_CONFLICT']);
    expect(applied.body.error.message).toBe(
      'flag "variation-gone" changed since the request was made: variation "extra", which the request serves, was removed (version 2, request based on 1); the request would undo or misapply that change, so propose again',
    );
  });

  it('keeps the whole-flag version check for requests proposed before their base was stored', async () => {
    await create('old-stale');
    await create('old-fresh');
    const stale = await propose('old-stale', { enabled: false, defaultVariation: 'blue', offVariation: 'blue', rules: RULES });
    const fresh = await propose('old-fresh', { enabled: false, defaultVariation: 'blue', offVariation: 'blue', rules: RULES });
    for (const id of [stale.body.id as string, fresh.body.id as string]) {
      expect((await act(id, 'approve', owner)).status).toBe(200);
      await p.db.query('UPDATE change_requests SET base = NULL WHERE id = $1', [id]);
    }
    const toggled = await p.request('POST', '/api/v1/projects/demo/flags/old-stale/environments/staging/toggle', { token: owner, body: { enabled: false }, headers: { 'If-Match': '"1"' } });
    const refused = await act(stale.body.id as string, 'apply', editor);
    const applied = await act(fresh.body.id as string, 'apply', editor);

    expect(toggled.status).toBe(200);
    expect([refused.status, refused.body.error.code, refused.body.error.message]).toEqual([409, 'VERSION_CONFLICT', 'flag "old-stale" changed since the request was made (version 2, request based on 1); propose again']);
    expect([applied.status, applied.body.status]).toEqual([200, 'applied']);
    expect((await read('old-fresh')).definition.environments.production.enabled).toBe(false);
  });

  it("tells an editor refused a direct change how to proceed, naming the environments", async () => {
    const base = flag('direct');
    await create('direct', { ...base, environments: { ...base.environments, production: { ...base.environments.production, enabled: false } } });
    const toggled = await p.request('POST', '/api/v1/projects/demo/flags/direct/environments/production/toggle', { token: editor, body: { enabled: true }, headers: { 'If-Match': '"1"' } });
    const state = await p.request('PUT', '/api/v1/projects/demo/flags/direct/environments/production', {
      token: editor,
      body: { enabled: true, defaultVariation: 'blue', offVariation: 'blue' },
      headers: { 'If-Match': '"1"' },
    });

    for (const refused of [toggled, state]) {
      expect([refused.status, refused.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
      expect(refused.body.error.message).toBe(
        'changes to "production" need an approved change request: propose one (POST …/change-requests with the flag\'s state there, or the console\'s switch); owners and admins approve',
      );
      expect(refused.body.error.details).toEqual({ environments: ['production'] });
    }
  });
});

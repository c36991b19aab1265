/**
 * What the stale classification reads from the API: `servingChangedAt`, which a metadata edit leaves
 * and a change to what the flag serves moves; and the refusals to archive a flag a running
 * experiment or another flag's prerequisite still needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const BASE = '/api/v1/projects/demo';

const flag = (key: string, development: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  key,
  name: key,
  type: 'boolean',
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  environments: { development: { enabled: false, defaultVariation: 'on', offVariation: 'off', ...development } },
  ...extra,
});

describe('flag staleness through the API', () => {
  let p: Platform;
  let owner: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  const put = (key: string, body: unknown, version: number) => p.request('PUT', `${BASE}/flags/${key}`, { token: owner, body, headers: { 'If-Match': `"${version}"` } });

  it('keeps servingChangedAt on a tag, name or description edit and moves it on a rule edit', async () => {
    const created = await p.request('POST', `${BASE}/flags`, { token: owner, body: flag('clock') });
    expect(created.status).toBe(201);
    expect(created.body.servingChangedAt).toBe(created.body.updatedAt);

    const tagged = await put('clock', flag('clock', {}, { tags: ['cleanup'], name: 'Clock renamed', description: 'why' }), 1);
    expect(tagged.status).toBe(200);
    expect(tagged.body.updatedAt).not.toBe(created.body.updatedAt);
    expect(tagged.body.servingChangedAt).toBe(created.body.servingChangedAt);
    // A variation's name is metadata too.
    const named = await put('clock', flag('clock', {}, { tags: ['cleanup'], name: 'Clock renamed', description: 'why', variations: [{ key: 'off', value: false, name: 'Off' }, { key: 'on', value: true }] }), 2);
    expect(named.body.servingChangedAt).toBe(created.body.servingChangedAt);

    const ruled = await put('clock', flag('clock', { rules: [{ id: 'all', type: 'force', variation: 'on' }] }, { tags: ['cleanup'], name: 'Clock renamed', description: 'why' }), 3);
    expect(ruled.status).toBe(200);
    expect(ruled.body.servingChangedAt).toBe(ruled.body.updatedAt);
    expect(ruled.body.servingChangedAt).not.toBe(created.body.servingChangedAt);
    const read = await p.request('GET', `${BASE}/flags/clock`, { token: owner });
    expect(read.body.servingChangedAt).toBe(ruled.body.servingChangedAt);
  });

  it('refuses to archive a flag a running experiment uses, naming it, even with the flag off everywhere', async () => {
    const exp = await p.request('POST', `${BASE}/experiments`, { token: owner, body: { key: 'exp-prod', name: 'Exp prod', variations: [{ key: 'off' }, { key: 'on' }], environments: ['development'] } });
    expect(exp.status).toBe(201);
    const created = await p.request('POST', `${BASE}/flags`, { token: owner, body: flag('exp-off', { rules: [{ id: 'x', type: 'experiment', experiment: 'exp-prod' }] }) });
    expect(created.status).toBe(201);
    expect((await p.request('POST', `${BASE}/experiments/exp-prod/start`, { token: owner, headers: { 'If-Match': '"1"' } })).status).toBe(200);

    const archive = await put('exp-off', { ...flag('exp-off', { rules: [{ id: 'x', type: 'experiment', experiment: 'exp-prod' }] }), archived: true }, 1);
    expect(archive.status).toBe(409);
    expect(archive.body.error.code).toBe('INVALID_STATE');
    expect(archive.body.error.message).toContain('"exp-prod"');
    expect(archive.body.error.details).toEqual({ experiments: ['exp-prod'] });
    expect((await p.request('GET', `${BASE}/flags/exp-off`, { token: owner })).body.archived).toBe(false);
  });

  it('refuses to archive a prerequisite parent naming every flag and environment that needs it', async () => {
    expect((await p.request('POST', `${BASE}/environments`, { token: owner, body: { key: 'qa', name: 'QA' } })).status).toBe(201);
    const needs = { prerequisites: [{ flag: 'parent', variation: 'on' }] };
    expect((await p.request('POST', `${BASE}/flags`, { token: owner, body: flag('parent') })).status).toBe(201);
    const child = flag('child', needs);
    expect((await p.request('POST', `${BASE}/flags`, { token: owner, body: { ...child, environments: { ...child.environments, qa: { enabled: false, defaultVariation: 'on', offVariation: 'off', ...needs } } } })).status).toBe(201);

    const archive = await put('parent', { ...flag('parent'), archived: true }, 1);
    expect(archive.status).toBe(400);
    expect(archive.body.error.message).toBe('flag "parent" is a prerequisite of "child" (in "development", "qa"): remove those prerequisites first, then archive it');
    expect(archive.body.error.details).toMatchObject({ environments: ['development', 'qa'], dependents: ['child'], problems: ['flags.child.prerequisites: flag "parent" is archived'] });
  });
});

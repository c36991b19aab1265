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

    // A rule's description, and `enabled: true` (its default), serve nothing else.
    const meta = { tags: ['cleanup'], name: 'Clock renamed', description: 'why' };
    const described = await put('clock', flag('clock', { rules: [{ id: 'all', type: 'force', variation: 'on', description: 'everyone' }] }, meta), 4);
    const explicit = await put('clock', flag('clock', { rules: [{ id: 'all', type: 'force', variation: 'on', description: 'everyone', enabled: true }] }, meta), 5);
    expect([described.status, explicit.status]).toEqual([200, 200]);
    expect(explicit.body.updatedAt).not.toBe(ruled.body.updatedAt);
    expect([described.body.servingChangedAt, explicit.body.servingChangedAt]).toEqual([ruled.body.servingChangedAt, ruled.body.servingChangedAt]);
    // Disabling it, or a new rule id (evaluation reasons name it), is a serving change.
    const renamed = await put('clock', flag('clock', { rules: [{ id: 'everyone', type: 'force', variation: 'on' }] }, meta), 6);
    expect(renamed.body.servingChangedAt).toBe(renamed.body.updatedAt);
    const disabled = await put('clock', flag('clock', { rules: [{ id: 'everyone', type: 'force', variation: 'on', enabled: false }] }, meta), 7);
    expect(disabled.body.servingChangedAt).toBe(disabled.body.updatedAt);
  });

  it("starts a flag's stale clock no earlier than its ended experiment's last edit (shipped 40 days after an inconclusive stop)", async () => {
    const clock = p.now.value;
    // Stored times are the database's: the experiment is stopped, and everything last written, 40 days ago.
    const fortyDaysAgo = new Date(Date.now() - 40 * 86_400_000);
    p.now.value = fortyDaysAgo;
    try {
      // Sessions are issued and checked at the injected time: one per clock.
      let token = await p.login(OWNER.email, OWNER.password);
      const send = (method: string, path: string, body?: unknown, version?: number) => p.request(method, `${BASE}${path}`, { token, body, ...(version === undefined ? {} : { headers: { 'If-Match': `"${version}"` } }) });
      expect((await send('POST', '/experiments', { key: 'late-ship', name: 'Late ship', variations: [{ key: 'control' }, { key: 'treatment' }] })).status).toBe(201);
      const rule = { id: 'x', type: 'experiment', experiment: 'late-ship', variations: { control: 'off', treatment: 'on' } };
      // Wired in every environment of the project.
      const environments = ((await send('GET', '/environments')).body.items as { key: string }[]).map((e) => e.key);
      const state = { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [rule] };
      expect((await send('POST', '/flags', flag('late-flag', {}, { temporary: true, environments: Object.fromEntries(environments.map((e) => [e, state])) }))).status).toBe(201);
      expect((await send('POST', '/experiments/late-ship/start', undefined, 1)).status).toBe(200);
      const stopped = await send('POST', '/experiments/late-ship/stop', { decision: 'inconclusive' }, 2);
      expect(stopped.status).toBe(200);
      await p.db.query(`UPDATE flags SET updated_at = $1, serving_changed_at = $1 WHERE key = 'late-flag'`, [fortyDaysAgo]);
      await p.db.query(`UPDATE experiments SET updated_at = $1 WHERE key = 'late-ship'`, [fortyDaysAgo]);
      p.now.value = new Date();
      token = await p.login(OWNER.email, OWNER.password);
      const stale = async (days: number) => (await send('GET', `/flags?include=stale&staleDays=${days}`)).body.items.find((i: any) => i.key === 'late-flag').stale;
      // Stopped without a release, it has served "off" for 40 days.
      expect(await stale(30)).toEqual({ variation: 'off', since: fortyDaysAgo.toISOString() });

      const shipped = await send('PUT', '/experiments/late-ship', { ...stopped.body.definition, decision: 'ship', winner: 'treatment', releaseWinner: true }, stopped.body.version);

      expect(shipped.status).toBe(200);
      p.now.value = new Date();
      expect(await stale(30)).toBeNull();
      expect(await stale(0)).toEqual({ variation: 'on', since: shipped.body.updatedAt });
    } finally {
      p.now.value = clock;
    }
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

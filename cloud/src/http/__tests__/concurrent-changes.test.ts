import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { MAX_LIVE_TOKENS } from '../../domain/accounts.js';
import { OWNER, booleanFlagBody, signedInAs, startPlatform } from './harness.js';

/**
 * Changes sent at the same moment. PGlite runs one transaction at a time, so these pass there
 * anyway; on PostgreSQL each pair ran side by side and, before the project's definitions lock
 * (store/project-locks.ts), got past the checks that read another definition: two experiments
 * running in one namespace range, an experiment rule that no longer serves every variation, two
 * bulk applies deadlocking into a 503 "database unavailable", an environment's removal refused
 * with a flag's version conflict; and, with the user's row unlocked, more live access tokens than
 * one user may hold.
 */
describe.each(TARGETS.map((t) => [t().name, t] as const))('concurrent changes to one project, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  const BASE = '/api/v1/projects/demo';
  const ROUNDS = 4;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  const send = (method: string, path: string, body?: unknown, version?: number) =>
    p.request(method, `${BASE}${path}`, { token: owner, ...(body === undefined ? {} : { body }), ...(version === undefined ? {} : { headers: { 'If-Match': `"${String(version)}"` } }) });
  const must = async (method: string, path: string, body?: unknown, version?: number): Promise<any> => {
    const res = await send(method, path, body, version);
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${String(res.status)} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  };
  const experiment = (key: string, extra: Record<string, unknown> = {}) => ({
    key,
    name: key,
    status: 'draft',
    variations: [{ key: 'control' }, { key: 'treatment' }],
    environments: ['development'],
    ...extra,
  });

  it('never runs two experiments in one namespace range: of two started together, one is refused', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const keys = [`ns-a-${String(round)}`, `ns-b-${String(round)}`];
      for (const key of keys) {
        await must('POST', '/experiments', experiment(key, { namespace: { id: `ns-${String(round)}`, range: [0, 0.6] } }));
      }
      const started = await Promise.all(keys.map((key) => send('POST', `/experiments/${key}/start`, undefined, 1)));
      const running = await Promise.all(keys.map(async (key) => ((await must('GET', `/experiments/${key}`)) as { definition: { status: string } }).definition.status));

      expect(started.map((r) => r.status).sort()).toEqual([200, 400]);
      expect(started.find((r) => r.status === 400)!.body.error.message).toMatch(/overlaps/);
      expect(running.filter((s) => s === 'running')).toHaveLength(1);
    }
  });

  it('keeps an experiment rule serving every variation: a new variation and a rule that maps the old ones, sent together, are not both saved', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const exp = `rule-exp-${String(round)}`;
      const flag = `rule-flag-${String(round)}`;
      await must('POST', '/experiments', experiment(exp));
      await must('POST', '/flags', booleanFlagBody(flag, { development: { enabled: true, defaultVariation: 'off', offVariation: 'off' } }));
      const [flagPut, expPut] = await Promise.all([
        send('PUT', `/flags/${flag}`, booleanFlagBody(flag, { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'x', type: 'experiment', experiment: exp, variations: { control: 'off', treatment: 'on' } }] } }), 1),
        send('PUT', `/experiments/${exp}`, experiment(exp, { variations: [{ key: 'control' }, { key: 'treatment' }, { key: 't2' }] }), 1),
      ]);

      expect([flagPut.status, expPut.status].sort()).toEqual([200, 400]);
      // Whichever won, the experiment can still start: nothing broken was saved.
      const current = (await must('GET', `/experiments/${exp}`)) as { version: number };
      expect((await send('POST', `/experiments/${exp}/start`, undefined, current.version)).status).toBe(200);
    }
  });

  it('runs two bulk applies of the same flags in opposite orders one after the other: one applies, the other is a version conflict, never a deadlock', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `bulk-${String(i)}`);
    for (const key of keys) {
      await must('POST', '/flags', booleanFlagBody(key, {}));
    }
    for (let round = 0; round < ROUNDS; round++) {
      const versions = new Map<string, number>();
      for (const key of keys) {
        versions.set(key, ((await must('GET', `/flags/${key}`)) as { version: number }).version);
      }
      const apply = (order: readonly string[], tag: string) =>
        send('POST', '/apply', { changes: order.map((key) => ({ kind: 'flags', action: 'update', key, version: versions.get(key), definition: booleanFlagBody(key, {}, `${key} ${tag} ${String(round)}`) })) });
      const answers = await Promise.all([apply(keys, 'forward'), apply([...keys].reverse(), 'backward')]);

      expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
      expect(answers.find((a) => a.status === 409)!.body.error.code).toBe('VERSION_CONFLICT');
      // All eight carry the winner's names: nothing was half applied.
      const winner = answers[0].status === 200 ? 'forward' : 'backward';
      const names = await Promise.all(keys.map(async (key) => ((await must('GET', `/flags/${key}`)) as { definition: { name: string } }).definition.name));
      expect(names).toEqual(keys.map((key) => `${key} ${winner} ${String(round)}`));
    }
  });

  it('keeps the bound on live access tokens when many are created together', async () => {
    const session = await signedInAs(p, owner, 'editor', 'token-burst@example.com');
    const answers = await Promise.all(Array.from({ length: MAX_LIVE_TOKENS + 30 }, (_, i) => p.request('POST', '/api/v1/me/tokens', { token: session, body: { name: `burst-${String(i)}` } })));
    const listed = await p.request('GET', '/api/v1/me/tokens', { token: session });

    expect(answers.filter((a) => a.status === 201)).toHaveLength(MAX_LIVE_TOKENS);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(30);
    expect((listed.body.items as unknown[]).length).toBe(MAX_LIVE_TOKENS);
  });

  it("removes an environment while a flag there is switched on, or refuses for the flag being on, never with the flag's version as a conflict", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const env = `qa-${String(round)}`;
      const flag = `env-flag-${String(round)}`;
      const created = (await must('POST', '/environments', { key: env, name: env, production: false })) as { version: number };
      await must('POST', '/flags', booleanFlagBody(flag, { [env]: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
      const [toggled, removed] = await Promise.all([send('POST', `/flags/${flag}/environments/${env}/toggle`, { enabled: true }, 1), send('DELETE', `/environments/${env}`, undefined, created.version)]);

      // Either order is fine: toggled first (the removal is refused: the flag is on there), or removed first (the toggle finds no such environment).
      const outcome = [toggled.status, removed.status];
      expect([
        [200, 409],
        [404, 204],
        [400, 204],
        [409, 204],
      ]).toContainEqual(outcome);
      // A refused removal says why: the flag is on there (not another version of the flag).
      expect(removed.status === 409 ? [removed.body.error.code, /flags are on/.test(removed.body.error.message)] : ['INVALID_STATE', true]).toEqual(['INVALID_STATE', true]);
    }
  });
});

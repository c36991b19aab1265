/**
 * The flags list's cleanup parameters: `stale` (the shared staleFlag rule, applied before paging),
 * `include=stale`, `temporary`, `sort` with a cursor per sort, and 400 for bad values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Experiment, Flag, Stored } from '@xp/shared';
import { staleFlag } from '@xp/shared';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/cleanup';
const DAY_MS = 86_400_000;

/** A 50% rollout in development: units get different variations, so it is never stale. */
const rollout = { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'half', type: 'rollout', variation: 'on', coverage: 0.5 }] } };

describe('the flags list for a cleanup', () => {
  let p: Platform;
  let token: string;

  const list = async (query: string): Promise<{ items: (Stored<Flag> & { stale?: unknown })[]; nextCursor?: string }> => mustAs(p, token, 'GET', `${DEMO}/flags?${query}`);
  const keys = async (query: string): Promise<string[]> => (await list(query)).items.map((f) => f.key);
  /** Every page of `query`, `limit` at a time, following the cursors. */
  const allPages = async (query: string, limit: number): Promise<string[]> => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(`${query}&limit=${limit}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.items.map((f) => f.key));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return seen;
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    // The database stamps changes with its own clock: the platform's runs with it.
    p.now.value = new Date();
    token = await p.login(OWNER.email, OWNER.password);
    await mustAs(p, token, 'POST', '/api/v1/projects', { key: 'cleanup', name: 'Cleanup' });
    // Created out of key order, so that the orders by time differ from the order by key.
    const flags: [string, Record<string, unknown>][] = [
      ['m-dead', {}],
      ['c-dead', { tags: ['cleanup'] }],
      ['z-rollout', { environments: rollout }],
      ['a-perm', { temporary: false }],
      ['k-dead', {}],
      ['b-rollout', { environments: rollout, tags: ['cleanup'] }],
      ['q-perm-dead', { temporary: false, tags: ['cleanup'] }],
      ['e-dead', {}],
    ];
    for (const [key, extra] of flags) {
      await mustAs(p, token, 'POST', `${DEMO}/flags`, { ...booleanFlagBody(key), ...extra });
    }
    // A tag edit moves updatedAt, not servingChangedAt: m-dead becomes the last change, not the last serving change.
    const m = (await mustAs(p, token, 'GET', `${DEMO}/flags/m-dead`)) as Stored<Flag>;
    await mustAs(p, token, 'PUT', `${DEMO}/flags/m-dead`, { ...m.definition, tags: ['cleanup-q4'] }, m.version);
    // k-dead gets a serving change last.
    const k = (await mustAs(p, token, 'GET', `${DEMO}/flags/k-dead`)) as Stored<Flag>;
    await mustAs(p, token, 'PUT', `${DEMO}/flags/k-dead`, { ...k.definition, environments: { development: { enabled: false, defaultVariation: 'off', offVariation: 'off' } } }, k.version);
    p.now.value = new Date(Date.now() + 60_000);
  });
  afterAll(async () => {
    await p.close();
  });

  it('filters temporary and permanent flags', async () => {
    expect(await keys('temporary=false')).toEqual(['a-perm', 'q-perm-dead']);
    expect(await keys('temporary=true')).toEqual(['b-rollout', 'c-dead', 'e-dead', 'k-dead', 'm-dead', 'z-rollout']);
    expect(await keys('temporary=true&tag=cleanup')).toEqual(['b-rollout', 'c-dead']);
  });

  it('filters stale flags with the days given, 30 by default, before paging', async () => {
    // Just changed: none is stale after 30 days (the default) nor after 1.
    expect(await keys('stale=true')).toEqual([]);
    expect(await keys('stale=true&staleDays=1')).toEqual([]);
    expect(await keys('stale=false')).toHaveLength(8);
    // Temporary, off (one variation) everywhere: stale at once with staleDays=0; permanent and rollout flags are not.
    expect(await keys('stale=true&staleDays=0')).toEqual(['c-dead', 'e-dead', 'k-dead', 'm-dead']);
    expect(await allPages('stale=true&staleDays=0', 1)).toEqual(['c-dead', 'e-dead', 'k-dead', 'm-dead']);
    expect(await allPages('stale=false&staleDays=0', 1)).toEqual(['a-perm', 'b-rollout', 'q-perm-dead', 'z-rollout']);
    expect(await keys('stale=true&staleDays=0&tag=cleanup')).toEqual(['c-dead']);
    const [before, session] = [p.now.value, token];
    try {
      p.now.value = new Date(Date.now() + 31 * DAY_MS);
      token = await p.login(OWNER.email, OWNER.password);
      expect(await keys('stale=true')).toEqual(['c-dead', 'e-dead', 'k-dead', 'm-dead']);
      expect(await keys('stale=true&staleDays=40')).toEqual([]);
    } finally {
      p.now.value = before;
      token = session;
    }
  });

  it('carries each flag\'s classification with include=stale, equal to the shared rule', async () => {
    const page = await list('include=stale&staleDays=0&archived=true');
    const envs = ((await mustAs(p, token, 'GET', `${DEMO}/environments`)) as { items?: { key: string }[] } | { key: string }[]);
    const envKeys = (Array.isArray(envs) ? envs : (envs.items ?? [])).map((e) => e.key);
    expect(envKeys.length).toBeGreaterThan(0);
    const experiments = ((await mustAs(p, token, 'GET', `${DEMO}/experiments?archived=true&limit=200`)) as { items: Stored<Experiment>[] }).items.map((e) => ({ ...e.definition, updatedAt: e.updatedAt }));
    const flags = page.items.map((f) => ({ ...f.definition, archived: f.archived }));
    for (const f of page.items) {
      const expected = staleFlag(f.definition, { servingChangedAt: f.servingChangedAt, updatedAt: f.updatedAt, archived: f.archived, environments: envKeys, now: p.now.value, days: 0, experiments, flags }) ?? null;
      expect({ key: f.key, stale: f.stale }).toEqual({ key: f.key, stale: expected });
    }
    expect(page.items.find((f) => f.key === 'c-dead')?.stale).toEqual({ variation: 'off', since: expect.any(String) });
    expect(page.items.find((f) => f.key === 'a-perm')?.stale).toBeNull();
    // Not asked: absent.
    expect((await list('staleDays=0')).items.every((f) => !('stale' in f))).toBe(true);
  });

  it('sorts by last change and last serving change, with a cursor that pages correctly', async () => {
    const byTime = async (field: 'updatedAt' | 'servingChangedAt'): Promise<string[]> => {
      const items = (await list('limit=200')).items;
      return [...items].sort((a, b) => (a[field] ?? '').localeCompare(b[field] ?? '') || a.key.localeCompare(b.key)).map((f) => f.key);
    };
    const updated = await keys('sort=updatedAt');
    expect(updated).toEqual(await byTime('updatedAt'));
    expect(updated.slice(-2)).toEqual(['m-dead', 'k-dead']);
    const serving = await keys('sort=servingChangedAt');
    expect(serving).toEqual(await byTime('servingChangedAt'));
    expect(serving.at(-1)).toBe('k-dead');
    expect(serving.indexOf('m-dead')).toBe(0);
    for (const limit of [1, 3]) {
      expect(await allPages('sort=updatedAt', limit)).toEqual(updated);
      expect(await allPages('sort=servingChangedAt', limit)).toEqual(serving);
    }
    expect(await keys('sort=key')).toEqual(await keys(''));
    // Filters and a sort together, across pages.
    expect(await allPages('sort=updatedAt&stale=true&staleDays=0', 1)).toEqual(updated.filter((k) => ['c-dead', 'e-dead', 'k-dead', 'm-dead'].includes(k)));
  });

  it('answers 400 for bad values and a cursor of another sort', async () => {
    for (const query of ['stale=yes', 'stale=', 'temporary=1', 'sort=name', 'sort=-updatedAt', 'staleDays=-1', 'staleDays=1.5', 'staleDays=4000', 'include=everything', 'include=stale,stale']) {
      const res = await p.request('GET', `${DEMO}/flags?${query}`, { token });
      expect({ query, status: res.status, code: res.body.error.code }).toEqual({ query, status: 400, code: 'VALIDATION_FAILED' });
    }
    const byKey = await list('limit=1');
    const wrong = await p.request('GET', `${DEMO}/flags?sort=updatedAt&cursor=${encodeURIComponent(byKey.nextCursor ?? '')}`, { token });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toContain('cursor');
    // And the other way round, and between the two time sorts: each cursor is of one sort.
    const byTime = await list('sort=updatedAt&limit=1');
    for (const query of [`cursor=${encodeURIComponent(byTime.nextCursor ?? '')}`, `sort=servingChangedAt&cursor=${encodeURIComponent(byTime.nextCursor ?? '')}`]) {
      const res = await p.request('GET', `${DEMO}/flags?${query}`, { token });
      expect({ query, status: res.status, code: res.body.error.code }).toEqual({ query, status: 400, code: 'VALIDATION_FAILED' });
    }
    // Other kinds take none of these.
    expect((await p.request('GET', `${DEMO}/segments?sort=updatedAt`, { token })).status).toBe(400);
    expect((await p.request('GET', `${DEMO}/experiments?stale=true`, { token })).status).toBe(400);
  });

  it('documents the parameters in the OpenAPI document', async () => {
    const doc = await p.request('GET', '/openapi.json');
    const params = (doc.body.paths['/api/v1/projects/{project}/flags'].get.parameters as { name: string }[]).map((x) => x.name);
    expect(params).toEqual(expect.arrayContaining(['stale', 'staleDays', 'temporary', 'sort', 'include', 'tag']));
  });
});

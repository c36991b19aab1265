import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ruleset } from '@xp/shared';
import { evaluateFlag } from '@xp/shared';
import type { Deps } from '../../../domain/context.js';
import { silentLogger } from '../../../domain/context.js';
import { createServices } from '../../../domain/services.js';
import { connectRedis } from '../../../store/redis.js';
import { openSharedStores, StickyStoreKind } from '../../../store/shared-stores.js';
import type { SharedStoreClient } from '../../../store/redis.js';
import { InMemoryStickyAssignmentStore, RedisStickyAssignmentStore } from '../../../store/sticky-buckets.js';
import type { StickyAssignmentStore } from '../../../store/sticky-buckets.js';
import { createApp } from '../../app.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

const REDIS_URL = process.env.XP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN = `xp-test:${randomUUID()}:`;
const UNITS = Array.from({ length: 60 }, (_, i) => `sticky-user-${i}`);

interface Case {
  readonly name: string;
  readonly store: () => Promise<{ store: StickyAssignmentStore; dispose: () => Promise<void> }>;
}

const CASES: readonly Case[] = [
  { name: 'in memory (no REDIS_URL)', store: () => Promise.resolve({ store: new InMemoryStickyAssignmentStore(), dispose: () => Promise.resolve() }) },
  {
    name: 'Redis (real server)',
    store: async () => {
      const client: SharedStoreClient = await connectRedis({ url: REDIS_URL });
      return {
        store: new RedisStickyAssignmentStore(client, { prefix: `${RUN}sticky:` }),
        dispose: async () => {
          await client.del(await client.scanKeys(`${RUN}*`));
          await client.close();
        },
      };
    },
  },
];

/** Creates the sticky experiment (50/50 unless `weights`) behind a string flag, started, in the demo project. */
async function createStickyExperiment(s: SdkPlatform): Promise<void> {
  const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
    token: s.owner,
    body: { key: 'sticky-exp', name: 'Sticky', variations: [{ key: 'control' }, { key: 'treatment' }], stickyBucketing: { enabled: true } },
  });
  const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/sticky-exp/start', { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
  const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
    token: s.owner,
    body: {
      key: 'sticky-flag',
      name: 'Sticky flag',
      type: 'string',
      variations: [
        { key: 'control', value: 'old' },
        { key: 'treatment', value: 'new' },
      ],
      environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'sticky-exp' }] } },
    },
  });
  if (exp.status !== 201 || started.status !== 200 || flag.status !== 201) {
    throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, flag.body])}`);
  }
}

/** Changes the sticky experiment's weights (accepted because it is sticky); returns the ruleset then served. */
async function changeWeights(s: SdkPlatform, key: string, control: number, treatment: number): Promise<Ruleset> {
  const current = await s.p.request('GET', '/api/v1/projects/demo/experiments/sticky-exp', { token: s.owner });
  const changed = await s.p.request('PUT', '/api/v1/projects/demo/experiments/sticky-exp', {
    token: s.owner,
    headers: { 'If-Match': current.headers.get('etag')! },
    body: { ...current.body.definition, variations: [{ key: 'control', weight: control }, { key: 'treatment', weight: treatment }] },
  });
  expect(changed.status).toBe(200);
  const rulesetRes = await s.p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': key } });
  return rulesetRes.body as Ruleset;
}

describe.each(CASES)('POST /sdk/v1/evaluate keeps units in their variation when weights change — $name', ({ store }) => {
  let s: SdkPlatform;
  let key: string;
  let dispose: () => Promise<void>;

  const evaluate = async (unit: string): Promise<string> => {
    const res = await s.p.request('POST', '/sdk/v1/evaluate', { body: { unit: { id: unit }, flags: ['sticky-flag'] }, headers: { 'X-XP-SDK-Key': key } });
    if (res.status !== 200) {
      throw new Error(`evaluate failed: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body.flags['sticky-flag'].variationKey as string;
  };

  beforeAll(async () => {
    const made = await store();
    dispose = made.dispose;
    s = await startSdkPlatform({ sticky: made.store });
    key = s.p.boot.sdkKeys!.development!.server;
    await createStickyExperiment(s);
  });
  afterAll(async () => {
    await s.close();
    await dispose();
  });

  it('serves every unit its first variation after the split moves to 1/99, while new units follow the new weights', async () => {
    const before = new Map<string, string>();
    for (const unit of UNITS) {
      before.set(unit, await evaluate(unit));
    }
    const ruleset = await changeWeights(s, key, 1, 99);

    const after = new Map<string, string>();
    for (const unit of UNITS) {
      after.set(unit, await evaluate(unit));
    }
    const fresh: string[] = [];
    for (let i = 0; i < 40; i++) {
      fresh.push(await evaluate(`fresh-user-${i}`));
    }

    // Without stickiness the new weights would move these control units to treatment: the check has teeth.
    const wouldMove = UNITS.filter((u) => before.get(u) === 'control' && evaluateFlag(ruleset, 'sticky-flag', { attributes: { id: u } }).variationKey === 'treatment');
    expect(ruleset.experiments?.['sticky-exp']?.weights).toEqual([0.01, 0.99]);
    expect(wouldMove.length).toBeGreaterThan(0);
    expect(after).toEqual(before);
    expect(fresh.filter((v) => v === 'treatment').length).toBeGreaterThanOrEqual(35);
  });

  it('explains an assignment as sticky once the store holds it, and answers without explain as before', async () => {
    const ask = async (explain: boolean): Promise<Record<string, unknown>> => {
      const res = await s.p.request('POST', '/sdk/v1/evaluate', { body: { unit: { id: 'explained-user' }, flags: ['sticky-flag'], explain }, headers: { 'X-XP-SDK-Key': key } });
      expect(res.status).toBe(200);
      return res.body.flags['sticky-flag'] as Record<string, unknown>;
    };
    const first = await ask(true);
    const variation = first.variationKey as string;
    expect(first.experiment).toEqual({ key: 'sticky-exp', variationKey: variation, inExperiment: true, sticky: false, hashAttribute: 'id', bucket: first.bucket });
    expect(first.trace).toEqual([{ ruleId: 'exp', outcome: 'matched', detail: `sticky-exp: ${variation}` }]);

    const again = await ask(true);
    expect(again.experiment).toEqual({ key: 'sticky-exp', variationKey: variation, inExperiment: true, sticky: true, hashAttribute: 'id' });
    expect(again.trace).toEqual([{ ruleId: 'exp', outcome: 'matched', detail: `sticky-exp: ${variation} (kept from the stored sticky assignment)` }]);

    expect(await ask(false)).toEqual({ value: variation === 'control' ? 'old' : 'new', variationKey: variation, reason: 'SPLIT', ruleId: 'exp' });
  });
});

/**
 * The local stack (`xp start`) and the evaluation Lambda without Redis: sticky assignments must
 * outlive the process. A new app on the same database, with fresh caches and stores selected as the
 * stack selects them (no REDIS_URL, the database given), serves every unit what it was first served.
 */
describe('POST /sdk/v1/evaluate keeps units in their variation across a restart without Redis (stores on the database)', () => {
  const units = Array.from({ length: 300 }, (_, i) => `restart-user-${i}`);
  let s: SdkPlatform;
  let key: string;
  /** The first process's sticky store, chosen once the platform's database is open. */
  let first: StickyAssignmentStore | undefined;
  const firstStore: StickyAssignmentStore = {
    load: (projectId, u) => first!.load(projectId, u),
    save: (projectId, updates) => first!.save(projectId, updates),
  };

  const evaluateOn = async (request: (path: string, init: RequestInit) => Response | Promise<Response>, unit: string): Promise<string> => {
    const res = await request('/sdk/v1/evaluate', { method: 'POST', headers: { 'content-type': 'application/json', 'X-XP-SDK-Key': key }, body: JSON.stringify({ unit: { id: unit }, flags: ['sticky-flag'] }) });
    const body = (await res.json()) as { flags: Record<string, { variationKey: string }> };
    if (res.status !== 200) {
      throw new Error(`evaluate failed: ${res.status} ${JSON.stringify(body)}`);
    }
    return body.flags['sticky-flag']!.variationKey;
  };

  beforeAll(async () => {
    s = await startSdkPlatform({ sticky: firstStore });
    const stores = await openSharedStores({ redisUrl: undefined, db: s.p.db, logger: silentLogger });
    if (stores.stickyKind !== StickyStoreKind.Postgres) {
      throw new Error(`sticky assignments without Redis are in ${stores.stickyKind}, not the database`);
    }
    first = stores.sticky;
    key = s.p.boot.sdkKeys!.development!.server;
    await createStickyExperiment(s);
  });
  afterAll(async () => {
    await s.close();
  });

  it('evaluates units at 50/50, changes the split to 80/20, restarts: no unit moves', async () => {
    const before = new Map<string, string>();
    for (const unit of units) {
      before.set(unit, await evaluateOn((path, init) => s.p.app.request(path, init), unit));
    }
    const ruleset = await changeWeights(s, key, 80, 20);

    // A new process: new services, caches and stores on the same database (and ruleset store), as `xp start` builds them.
    const stores = await openSharedStores({ redisUrl: undefined, db: s.p.db, logger: silentLogger });
    const old = s.p.services.deps;
    const deps: Deps = { db: s.p.db, rulesets: s.p.rulesets, now: old.now, newId: old.newId, logger: silentLogger, events: s.sink };
    const restarted = createApp(createServices(deps, { limiter: stores.limiter }), { sdk: { sticky: stores.sticky } });
    expect(stores.stickyKind).toBe(StickyStoreKind.Postgres);
    const after = new Map<string, string>();
    for (const unit of units) {
      after.set(unit, await evaluateOn((path, init) => restarted.request(path, init), unit));
    }

    // Without stickiness the new weights would move these treatment units to control: the check has teeth.
    const wouldMove = units.filter((u) => before.get(u) === 'treatment' && evaluateFlag(ruleset, 'sticky-flag', { attributes: { id: u } }).variationKey === 'control');
    const moved = units.filter((u) => after.get(u) !== before.get(u));
    expect(ruleset.experiments?.['sticky-exp']?.weights).toEqual([0.8, 0.2]);
    expect(wouldMove.length).toBeGreaterThan(30);
    expect(moved).toEqual([]);
  });
});

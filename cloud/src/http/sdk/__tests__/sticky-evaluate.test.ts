import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ruleset } from '@xp/shared';
import { evaluateFlag } from '@xp/shared';
import { connectRedis } from '../../../store/redis.js';
import type { SharedStoreClient } from '../../../store/redis.js';
import { InMemoryStickyAssignmentStore, RedisStickyAssignmentStore } from '../../../store/sticky-buckets.js';
import type { StickyAssignmentStore } from '../../../store/sticky-buckets.js';
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
    const current = await s.p.request('GET', '/api/v1/projects/demo/experiments/sticky-exp', { token: s.owner });
    const changed = await s.p.request('PUT', '/api/v1/projects/demo/experiments/sticky-exp', {
      token: s.owner,
      headers: { 'If-Match': current.headers.get('etag')! },
      body: { ...current.body.definition, variations: [{ key: 'control', weight: 1 }, { key: 'treatment', weight: 99 }] },
    });
    expect(changed.status).toBe(200);
    const rulesetRes = await s.p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': key } });
    const ruleset = rulesetRes.body as Ruleset;

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
});

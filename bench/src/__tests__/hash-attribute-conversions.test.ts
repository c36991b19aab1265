/**
 * End to end on the local stack (`xp start`: embedded PGlite, kinesalite, the shard poller): an
 * experiment bucketed on `deviceId` gets the conversions its units track through the JavaScript SDK,
 * whose tracked events carry the unit's device id in `units` (their `unitId` stays the user's id).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { configFromEnv, pipeline, startLocalStack } from '@xp/cloud';
import type { LocalStack } from '@xp/cloud';
import { ExperimentationClient } from '@xp/sdk';

const PASSWORD = 'hash attribute conversions passphrase';
const USERS = 40;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, attempts = 400): Promise<T> {
  let value = await read();
  for (let i = 0; i < attempts && !done(value); i++) {
    await delay(50);
    value = await read();
  }
  return value;
}

describe('an experiment bucketed on another attribute than id (hashAttribute: deviceId)', () => {
  let dir: string;
  let stack: LocalStack;
  let api: XpApiClient;
  let projectId: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-hash-attribute-'));
    stack = await startLocalStack(
      configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0' }),
      { logger: quiet, print: () => undefined },
    );
    const { token } = await new XpApiClient({ apiUrl: stack.apiUrl }).login('me@example.com', PASSWORD);
    api = new XpApiClient({ apiUrl: stack.apiUrl, token });
    projectId = (await stack.deps.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    await api.create('demo', 'metrics', { key: 'pt-purchases', name: 'PT purchases', type: 'conversion', event: 'pt_buy' });
    const exp = await api.create('demo', 'experiments', {
      key: 'pt-hash',
      name: 'Bucketed on the device',
      hashAttribute: 'deviceId',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      environments: ['development'],
      metrics: { primary: ['pt-purchases'] },
    });
    await api.startExperiment('demo', 'pt-hash', exp.version);
  }, 120_000);

  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts the purchases tracked with trackEvent for the units exposed with getVariant, split by variation', async () => {
    const sdkKey = stack.boot.sdkKeys!.development!.server;
    // The experiment reaches the published ruleset shortly after it starts.
    const client = await pollUntil(
      async () => {
        const c = new ExperimentationClient(sdkKey, { apiUrl: stack.apiUrl, streaming: false, pollIntervalMs: 60_000, flushIntervalMs: 60_000, logger: quiet });
        await c.ready();
        const snapshot = c.getSnapshot({ includeServerOnly: true }) as { experiments?: Record<string, unknown> } | undefined;
        if (snapshot?.experiments?.['pt-hash'] === undefined) {
          await c.close();
          return undefined;
        }
        return c;
      },
      (c) => c !== undefined,
      100,
    );
    expect(client).toBeDefined();
    const c = client!;
    const assigned: Record<string, number> = {};
    for (let i = 0; i < USERS; i++) {
      const user = { id: `hu${i}`, attributes: { deviceId: `dev${i}` } };
      const variation = c.getVariant('pt-hash', user);
      expect(variation).not.toBeNull();
      assigned[variation!] = (assigned[variation!] ?? 0) + 1;
      c.trackEvent('pt_buy', user, { value: 1 });
    }
    await c.flush();
    await c.close();

    const processed = await pollUntil(
      async () => (await stack.deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events WHERE project_id = $1', [projectId])).rows[0]!.n,
      (n) => n >= 2 * USERS,
    );
    const stats = await pipeline.querySufficientStatistics(stack.deps.db, { projectId, environment: 'development', experiment: 'pt-hash', metrics: ['pt-purchases'] });
    const conversions = Object.fromEntries(stats.map((r) => [r.variation, Number(r.sum)]));
    const units = Object.fromEntries(stats.map((r) => [r.variation, r.n]));
    const results = await api.experimentResults('demo', 'pt-hash', { environment: 'development' });

    expect(processed).toBe(2 * USERS);
    expect(Object.keys(assigned).sort()).toEqual(['control', 'treatment']);
    expect(units).toEqual(assigned);
    // Every exposed unit converted: the purchase met its device's exposure.
    expect(conversions).toEqual(assigned);
    expect(results.units.analysed).toBe(USERS);
    expect(Object.fromEntries(results.metrics[0]!.variations.map((v) => [v.variation, v.units]))).toEqual(assigned);
  }, 120_000);
});

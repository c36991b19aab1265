import type { Ruleset, RulesetFlag } from '@xp/shared';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppErrorCode } from '../../../errors.js';
import type { LocalService } from '../../../local/aws-local.js';
import { startDynalite } from '../../../local/aws-local.js';
import type { DynamoClient, RulesetStore } from '../../../store/ruleset-store.js';
import { createDynamoClient, createDynamoRulesetStore } from '../../../store/ruleset-store.js';
import { RulesetCache } from '../ruleset-cache.js';
import type { ServedRuleset } from '../ruleset-cache.js';

const TABLE = 'xp-rulesets';
const TTL = 5_000;

/** A ruleset of one flag, its value padded to `bytes` (a ruleset of many flags weighs tens of KB). */
function ruleset(version: number, bytes = 0): Ruleset {
  const flag: RulesetFlag = {
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: `v${version}${'.'.repeat(bytes)}` },
    ],
    default: 1,
    off: 0,
    rules: [],
  };
  return { schemaVersion: 1, environment: 'production', version, flags: { checkout: flag } };
}

/** One real DynamoDB call, as the store made it. */
interface Call {
  readonly operation: string;
  /** A Query's key condition. */
  readonly condition: string | undefined;
  /** The read units dynalite says it consumed (ReturnConsumedCapacity), as DynamoDB bills a read by what it reads. */
  readonly units: number | undefined;
}

/**
 * The RulesetCache against the store on dynalite. Reads are counted at the client's `call` boundary
 * (each is a real request to dynalite, asked for its consumed capacity), the measure of what a TTL check costs.
 */
describe('RulesetCache on DynamoDB (dynalite)', () => {
  let dynamo: LocalService;
  let real: DynamoClient;
  let calls: Call[];
  let failing: boolean;
  let warnings: Record<string, unknown>[];
  let clock: number;
  let projectSeq = 0;
  let project: string;
  /** The cache's store, reading through the counting client. */
  let store: RulesetStore;
  /** Another instance's store: publishes the cache hears nothing about. */
  let other: RulesetStore;

  const counting = (client: DynamoClient): DynamoClient => ({
    call: async <T>(operation: string, input: object, options?: { readonly signal?: AbortSignal | undefined }): Promise<T> => {
      const condition = (input as { KeyConditionExpression?: string }).KeyConditionExpression;
      if (failing) {
        calls.push({ operation, condition, units: undefined });
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      }
      const out = await client.call<T>(operation, { ...input, ReturnConsumedCapacity: 'TOTAL' }, options);
      calls.push({ operation, condition, units: (out as { ConsumedCapacity?: { CapacityUnits?: number } }).ConsumedCapacity?.CapacityUnits });
      return out;
    },
    destroy: () => undefined,
  });
  const newCache = (pollMs?: number): RulesetCache =>
    new RulesetCache(store, {
      ttlMs: TTL,
      ...(pollMs === undefined ? {} : { pollMs }),
      now: () => clock,
      logger: {
        info: () => undefined,
        warn: (_message, fields) => {
          warnings.push(fields ?? {});
        },
        error: () => undefined,
      },
    });
  /** Reads the cache with a fresh count of DynamoDB calls. */
  const counted = async (cache: RulesetCache): Promise<{ served: ServedRuleset | undefined; calls: Call[] }> => {
    calls = [];
    const served = await cache.get(project, 'production');
    return { served, calls };
  };

  beforeAll(async () => {
    dynamo = await startDynalite();
    real = createDynamoClient(dynamo.endpoint);
    other = createDynamoRulesetStore({ client: real, tableName: TABLE });
    await other.ensureTable();
  });
  afterAll(async () => {
    real.destroy();
    await dynamo.close();
  });
  beforeEach(() => {
    calls = [];
    failing = false;
    warnings = [];
    clock = 1_000_000;
    project = `project-${++projectSeq}`;
    store = createDynamoRulesetStore({ client: counting(real), tableName: TABLE });
  });

  it('checks a cached version that is still the newest with one Query for a newer one, which reads no item', async () => {
    // ~50 KB: what reading the newest version costs on every check, 13 read units.
    await other.put(project, ruleset(1, 50_000));
    const cache = newCache();
    const cold = await counted(cache);
    expect(cold.served?.version).toBe(1);
    expect(cold.calls).toEqual([{ operation: 'Query', condition: 'pk = :pk', units: 13 }]);

    clock += TTL - 1;
    expect(await counted(cache)).toEqual({ served: cold.served, calls: [] });
    for (let i = 0; i < 3; i++) {
      clock += TTL;
      // Nothing read: dynalite says 0 units; DynamoDB bills its minimum, 1.
      expect(await counted(cache)).toEqual({ served: cold.served, calls: [{ operation: 'Query', condition: 'pk = :pk AND #v > :above', units: 0 }] });
    }
  });

  it('reads only the newer version when another instance published', async () => {
    await other.put(project, ruleset(1, 50_000));
    const cache = newCache();
    await cache.get(project, 'production');
    await other.put(project, ruleset(2));
    await other.put(project, ruleset(3));

    clock += TTL;
    const { served, calls: made } = await counted(cache);

    expect(served?.version).toBe(3);
    expect(served?.ruleset).toEqual(ruleset(3));
    expect(made).toEqual([{ operation: 'Query', condition: 'pk = :pk AND #v > :above', units: 1 }]);
  });

  it('serves the last good copy, and logs, when the store cannot be read', async () => {
    await other.put(project, ruleset(1));
    const cache = newCache();
    const first = await cache.get(project, 'production');

    failing = true;
    clock += TTL;
    expect(await counted(cache)).toEqual({ served: first, calls: [{ operation: 'Query', condition: 'pk = :pk AND #v > :above', units: undefined }] });
    expect(warnings).toEqual([expect.objectContaining({ projectId: project, environment: 'production', version: 1 })]);
    await expect(newCache().get(project, 'production')).rejects.toMatchObject({ code: AppErrorCode.Unavailable });
  });

  it('tells watchers of another instance\'s publish within pollMs, and shares one load between concurrent reads', async () => {
    await other.put(project, ruleset(1));
    const cache = newCache(20);
    await cache.get(project, 'production');
    const seen: number[] = [];
    const stop = cache.watch(project, 'production', (r) => seen.push(r.version));

    await other.put(project, ruleset(2));
    const deadline = Date.now() + 2_000;
    while (seen.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    stop();
    expect(seen).toEqual([2]);

    clock += 10 * TTL;
    calls = [];
    const answers = await Promise.all([cache.get(project, 'production'), cache.get(project, 'production'), cache.get(project, 'production')]);
    expect(answers.map((r) => r?.version)).toEqual([2, 2, 2]);
    expect(calls.map((c) => c.operation)).toEqual(['Query']);
  });
});

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { gzipSync } from 'node:zlib';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { compileRuleset, flagSchema } from '@xp/shared';
import type { Ruleset, RulesetFlag } from '@xp/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, AppErrorCode } from '../../errors.js';
import type { LocalService } from '../../local/aws-local.js';
import { startDynalite } from '../../local/aws-local.js';
import type { DynamoClient, RulesetStore } from '../ruleset-store.js';
import { COMPRESS_ABOVE_BYTES, MAX_ITEM_BYTES, canonicalJson, createDynamoClient, createDynamoRulesetStore } from '../ruleset-store.js';

const TABLE = 'xp-rulesets';
const T0 = new Date('2026-11-25T12:00:00.000Z');

function flag(value: string): RulesetFlag {
  return {
    variations: [
      { key: 'off', value: false },
      { key: 'on', value },
    ],
    default: 1,
    off: 0,
    rules: [{ id: 'beta', type: 'force', variation: 1, condition: { plan: 'beta' } }],
  };
}

function ruleset(version: number, flags: Record<string, RulesetFlag> = { checkout: flag('new') }, generatedAt = T0.toISOString()): Ruleset {
  return { schemaVersion: 1, environment: 'production', version, generatedAt, flags };
}

/** Many flags whose values are `valueOf(i)`, to reach a given document size. */
function bigRuleset(version: number, count: number, valueOf: (i: number) => string): Ruleset {
  const flags: Record<string, RulesetFlag> = {};
  for (let i = 0; i < count; i++) {
    flags[`flag-${i}`] = flag(valueOf(i));
  }
  return ruleset(version, flags);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  if (address === null || typeof address === 'string') {
    throw new Error('no port');
  }
  return address.port;
}

describe('DynamoDB ruleset store (dynalite)', () => {
  let dynamo: LocalService;
  let client: DynamoClient;
  /** The AWS SDK's own client, for raw items: what the store writes must read back through it, and the other way round. */
  let sdk: DynamoDBClient;
  let clock: Date;
  let projectSeq = 0;
  const nextProject = (): string => `project-${++projectSeq}`;
  const makeStore = (retainVersions?: number): RulesetStore =>
    createDynamoRulesetStore({ client, tableName: TABLE, now: () => clock, ...(retainVersions === undefined ? {} : { retainVersions }) });

  beforeAll(async () => {
    dynamo = await startDynalite();
    client = createDynamoClient(dynamo.endpoint);
    sdk = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: new NodeHttpHandler() });
    await makeStore().ensureTable();
  });
  afterAll(async () => {
    client.destroy();
    sdk.destroy();
    await dynamo.close();
  });

  const rawItem = async (projectId: string, version: number): Promise<Record<string, unknown> | undefined> => {
    const out = await sdk.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `${projectId}#production` }, version: { N: String(version) } } }));
    return out.Item;
  };

  it('publishes versions and reads back the latest, a given one and the history', async () => {
    const store = makeStore();
    const project = nextProject();
    clock = T0;
    const compiled = compileRuleset({
      environment: 'production',
      version: 1,
      generatedAt: T0,
      flags: [
        flagSchema.parse({
          key: 'checkout',
          name: 'Checkout',
          type: 'boolean',
          variations: [
            { key: 'off', value: false },
            { key: 'on', value: true },
          ],
          environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' } },
        }),
      ],
    });

    const first = await store.put(project, compiled);
    clock = new Date(T0.getTime() + 1_000);
    const second = await store.put(project, ruleset(2));

    expect(first).toMatchObject({ projectId: project, environment: 'production', version: 1, publishedAt: T0.toISOString(), ruleset: compiled });
    expect(first.etag).toMatch(/^[0-9a-f]{64}$/);
    expect(second.etag).not.toBe(first.etag);
    expect(await store.latest(project, 'production')).toEqual(second);
    expect(await store.get(project, 'production', 1)).toEqual(first);
    expect(await store.get(project, 'production', 3)).toBeUndefined();
    expect(await store.latest(project, 'staging')).toBeUndefined();
    expect(await store.latest(nextProject(), 'production')).toBeUndefined();
    expect(await store.versions(project, 'production')).toEqual([
      { version: 2, etag: second.etag, publishedAt: second.publishedAt },
      { version: 1, etag: first.etag, publishedAt: first.publishedAt },
    ]);
    expect(await store.versions(project, 'production', 1)).toHaveLength(1);
    expect((await rawItem(project, 1))?.encoding).toEqual({ S: 'json' });
  });

  it('reads the newest version above a given one, and nothing when there is none', async () => {
    const store = makeStore();
    const project = nextProject();
    await store.put(project, ruleset(1));
    await store.put(project, ruleset(2));
    const third = await store.put(project, ruleset(3));

    expect(await store.newerThan(project, 'production', 1)).toEqual(third);
    expect(await store.newerThan(project, 'production', 2)).toEqual(third);
    expect(await store.newerThan(project, 'production', 3)).toBeUndefined();
    expect(await store.newerThan(project, 'production', 9)).toBeUndefined();
    expect(await store.newerThan(project, 'staging', 0)).toBeUndefined();
    await expect(store.newerThan(project, 'production', 1.5)).rejects.toThrow('a ruleset version is an integer, got 1.5');
  });

  it('keeps versions of different projects and environments apart', async () => {
    const store = makeStore();
    const [a, b] = [nextProject(), nextProject()];
    clock = T0;

    await store.put(a, ruleset(7));
    await store.put(b, ruleset(3, { other: flag('x') }));
    await store.put(a, { ...ruleset(9), environment: 'staging' });

    expect((await store.latest(a, 'production'))?.version).toBe(7);
    expect((await store.latest(a, 'staging'))?.version).toBe(9);
    expect(Object.keys((await store.latest(b, 'production'))?.ruleset.flags ?? {})).toEqual(['other']);
  });

  it('treats re-putting identical content as a no-op, even with a new generatedAt', async () => {
    const store = makeStore();
    const project = nextProject();
    clock = T0;
    const original = await store.put(project, ruleset(1));
    clock = new Date(T0.getTime() + 60_000);

    const again = await store.put(project, ruleset(1, undefined, '2026-12-01T00:00:00.000Z'));

    expect(again).toEqual(original);
    expect(await store.versions(project, 'production')).toHaveLength(1);
  });

  it('refuses to change a published version', async () => {
    const store = makeStore();
    const project = nextProject();
    clock = T0;
    const original = await store.put(project, ruleset(1));

    const changed = store.put(project, ruleset(1, { checkout: flag('different') }));

    await expect(changed).rejects.toBeInstanceOf(AppError);
    await expect(changed).rejects.toMatchObject({ code: AppErrorCode.Conflict, message: expect.stringContaining('immutable') as unknown });
    expect(await store.get(project, 'production', 1)).toEqual(original);
  });

  it('rejects a document that does not match the ruleset schema', async () => {
    const store = makeStore();
    const bad = { ...ruleset(1), environment: 'has#hash' };

    await expect(store.put(nextProject(), bad)).rejects.toMatchObject({ code: AppErrorCode.Validation });
    await expect(store.put('', ruleset(1))).rejects.toMatchObject({ code: AppErrorCode.Validation });
  });

  it('gzips a large ruleset into a Binary attribute and reads it back intact', async () => {
    const store = makeStore();
    const project = nextProject();
    clock = T0;
    const big = bigRuleset(1, 500, (i) => `variant-${i}-`.padEnd(1_000, 'x'));
    expect(canonicalJson(big).length).toBeGreaterThan(COMPRESS_ABOVE_BYTES);

    const published = await store.put(project, big);
    const raw = await rawItem(project, 1);

    expect(raw?.encoding).toEqual({ S: 'gzip' });
    expect(raw?.ruleset).toHaveProperty('B');
    expect((await store.latest(project, 'production'))?.ruleset).toEqual(big);
    expect(await store.get(project, 'production', 1)).toEqual(published);
  });

  it('rejects a ruleset that stays above the item limit after compression, storing nothing', async () => {
    const store = makeStore();
    const project = nextProject();
    const huge = bigRuleset(1, 800, () => randomBytes(700).toString('base64'));

    const put = store.put(project, huge);

    await expect(put).rejects.toMatchObject({ code: AppErrorCode.PayloadTooLarge, message: expect.stringContaining(`limit is ${MAX_ITEM_BYTES}`) as unknown });
    expect(await store.latest(project, 'production')).toBeUndefined();
  });

  it('prunes version numbers older than the retained window', async () => {
    const store = makeStore(3);
    const project = nextProject();
    clock = T0;

    for (let v = 1; v <= 6; v++) {
      await store.put(project, ruleset(v, { checkout: flag(`v${v}`) }));
    }

    expect((await store.versions(project, 'production', 100)).map((v) => v.version)).toEqual([6, 5, 4]);
    expect(await store.get(project, 'production', 3)).toBeUndefined();
    expect((await store.get(project, 'production', 4))?.ruleset.flags.checkout?.variations[1]?.value).toBe('v4');
  });

  it('reports a corrupt item as an error instead of serving it', async () => {
    const store = makeStore();
    const project = nextProject();
    clock = T0;
    const good = await store.put(project, ruleset(1));
    const pk = { S: `${project}#production` };
    const base = { pk, etag: { S: good.etag }, publishedAt: { S: T0.toISOString() } };
    const items = [
      { ...base, version: { N: '2' }, encoding: { S: 'json' }, ruleset: { S: '{not json' } },
      { ...base, version: { N: '3' }, encoding: { S: 'json' }, ruleset: { S: JSON.stringify({ ...ruleset(3), flags: { checkout: { default: 0 } } }) } },
      { ...base, version: { N: '4' }, encoding: { S: 'gzip' }, ruleset: { B: Buffer.from('not gzip') } },
      { ...base, version: { N: '5' }, encoding: { S: 'gzip' }, ruleset: { B: gzipSync(JSON.stringify(ruleset(5))) } },
      { ...base, version: { N: '6' }, encoding: { S: 'brotli' }, ruleset: { S: JSON.stringify(ruleset(6)) } },
    ];
    for (const Item of items) {
      await sdk.send(new PutItemCommand({ TableName: TABLE, Item }));
    }

    for (const version of [2, 3, 4, 5, 6]) {
      const read = store.get(project, 'production', version);
      await expect(read).rejects.toBeInstanceOf(AppError);
      await expect(read).rejects.toMatchObject({ code: AppErrorCode.Internal, message: expect.stringContaining('unreadable') as unknown });
    }
    await expect(store.latest(project, 'production')).rejects.toMatchObject({ code: AppErrorCode.Internal });
    expect(await store.get(project, 'production', 1)).toEqual(good);
  });

  it('keeps the server-only keys with their version, under its etag, and refuses a list edited behind its back', async () => {
    const store = makeStore();
    const project = nextProject();
    clock = T0;
    const hidden = { flags: ['checkout'], experiments: [] };

    const plain = await store.put(project, ruleset(1));
    const marked = await store.put(project, ruleset(2), { flags: ['checkout'], experiments: [] });
    const nothing = await store.put(project, ruleset(3), { flags: [], experiments: [] });

    expect(plain.serverOnly).toBeUndefined();
    expect(marked.serverOnly).toEqual(hidden);
    expect(nothing.serverOnly).toBeUndefined();
    expect(await store.get(project, 'production', 2)).toEqual(marked);
    // The same document with and without the list is different content.
    expect((await store.put(nextProject(), ruleset(2))).etag).not.toBe(marked.etag);
    expect((await rawItem(project, 2))?.serverOnly).toEqual({ S: JSON.stringify(hidden) });

    // Dropping a key from the stored list would hand client-side keys what they must not get.
    const item = (await rawItem(project, 2)) as Record<string, never>;
    await sdk.send(new PutItemCommand({ TableName: TABLE, Item: { ...item, serverOnly: { S: JSON.stringify({ flags: [], experiments: [] }) } } }));
    await expect(store.get(project, 'production', 2)).rejects.toMatchObject({ code: AppErrorCode.Internal, message: expect.stringContaining('unreadable') as unknown });
    await sdk.send(new PutItemCommand({ TableName: TABLE, Item: { ...item, serverOnly: { S: '{"flags":"checkout"}' } } }));
    await expect(store.get(project, 'production', 2)).rejects.toMatchObject({ code: AppErrorCode.Internal });
    await sdk.send(new PutItemCommand({ TableName: TABLE, Item: item }));
    expect(await store.get(project, 'production', 2)).toEqual(marked);
  });

  it('reports a missing table as unavailable', async () => {
    const store = createDynamoRulesetStore({ client, tableName: 'no-such-table' });

    await expect(store.latest(nextProject(), 'production')).rejects.toMatchObject({
      code: AppErrorCode.Unavailable,
      message: expect.stringContaining('no-such-table') as unknown,
    });
  });

  it('creates the table idempotently', async () => {
    const store = createDynamoRulesetStore({ client, tableName: 'fresh-table' });

    await store.ensureTable();
    await store.ensureTable();

    expect(await store.latest(nextProject(), 'production')).toBeUndefined();
  });

  it('fails fast with Unavailable when DynamoDB cannot be reached', async () => {
    const port = await freePort();
    const unreachable = createDynamoClient(`http://127.0.0.1:${port}`, 'eu-west-1', { maxAttempts: 1, timeoutMs: 500 });
    const store = createDynamoRulesetStore({ client: unreachable, tableName: TABLE });
    const started = Date.now();

    const results = await Promise.allSettled([store.latest('p', 'production'), store.put('p', ruleset(1)), store.ensureTable()]);

    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect(result.status === 'rejected' ? result.reason : undefined).toMatchObject({ code: AppErrorCode.Unavailable, name: 'AppError' });
    }
    expect(Date.now() - started).toBeLessThan(3_000);
    unreachable.destroy();
  });
});

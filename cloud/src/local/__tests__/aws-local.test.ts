import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, ListTablesCommand, PutItemCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppErrorCode } from '../../errors.js';
import { createKinesisClient, ensureStream, startDynalite, startKinesalite, trackRequests } from '../aws-local.js';

const ENDPOINT = /^http:\/\/127\.0\.0\.1:\d+$/;

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

/** Reads every record of a single-shard stream from the beginning. */
async function readAll(kinesis: KinesisClient, stream: string): Promise<string[]> {
  const shards = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const shardId = shards.Shards?.[0]?.ShardId;
  const iterator = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator }));
  return (out.Records ?? []).map((r) => Buffer.from(r.Data ?? new Uint8Array()).toString('utf8'));
}

/** The AWS SDK's own DynamoDB client on a stand-in (the platform's stores use aws-json.ts; these tests check the stand-ins against the SDK). */
function createDynamoClient(endpoint: string, overrides: DynamoDBClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000 }), ...overrides });
}

async function createTable(endpoint: string, name: string): Promise<void> {
  const dynamo = createDynamoClient(endpoint);
  await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  // dynalite turns a table ACTIVE asynchronously even with createTableMs 0; wait for it, bounded.
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.2 }, { TableName: name });
  await dynamo.send(new PutItemCommand({ TableName: name, Item: { id: { S: 'a' }, note: { S: 'kept' } } }));
  dynamo.destroy();
}

describe('in-process AWS stand-ins', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xp-aws-local-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts dynalite on an ephemeral loopback port and stops it', async () => {
    const dynamo = await startDynalite();
    const client = createDynamoClient(dynamo.endpoint, {
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 300, requestTimeout: 500 }),
    });

    expect(dynamo.endpoint).toMatch(ENDPOINT);
    await createTable(dynamo.endpoint, 'things');
    expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual(['things']);

    await dynamo.close();
    await dynamo.close();
    await expect(client.send(new ListTablesCommand({}))).rejects.toThrow();
    client.destroy();
  });

  it('round-trips a record through kinesalite with the HTTP/1.1 client', async () => {
    const kinesalite = await startKinesalite();
    const kinesis = createKinesisClient(kinesalite.endpoint);

    await ensureStream(kinesis, 'events', 1);
    await ensureStream(kinesis, 'events', 1);
    const put = await kinesis.send(new PutRecordCommand({ StreamName: 'events', PartitionKey: 'user-1', Data: Buffer.from('{"type":"exposure"}') }));
    const records = await readAll(kinesis, 'events');

    expect(kinesalite.endpoint).toMatch(ENDPOINT);
    expect(put.SequenceNumber).toMatch(/^\d+$/);
    expect(records).toEqual(['{"type":"exposure"}']);
    kinesis.destroy();
    await kinesalite.close();
  });

  it('listens on a given port and refuses one that is taken', async () => {
    const port = await freePort();
    const first = await startDynalite({ port });

    expect(first.endpoint).toBe(`http://127.0.0.1:${port}`);
    await expect(startKinesalite({ port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await first.close();
  });

  it('keeps tables, items, streams and records across a restart on the same directory', async () => {
    const paths = { dynamo: join(dir, 'restart', 'dynamodb'), kinesis: join(dir, 'restart', 'kinesis') };
    let dynamo = await startDynalite({ path: paths.dynamo });
    let kinesalite = await startKinesalite({ path: paths.kinesis });
    await createTable(dynamo.endpoint, 'things');
    let kinesis = createKinesisClient(kinesalite.endpoint);
    await ensureStream(kinesis, 'events', 1);
    await kinesis.send(new PutRecordCommand({ StreamName: 'events', PartitionKey: 'user-1', Data: Buffer.from('before restart') }));
    kinesis.destroy();
    await dynamo.close();
    await kinesalite.close();

    dynamo = await startDynalite({ path: paths.dynamo });
    kinesalite = await startKinesalite({ path: paths.kinesis });
    const client = createDynamoClient(dynamo.endpoint);
    kinesis = createKinesisClient(kinesalite.endpoint);
    const item = await client.send(new GetItemCommand({ TableName: 'things', Key: { id: { S: 'a' } } }));
    await ensureStream(kinesis, 'events', 1);
    const records = await readAll(kinesis, 'events');

    expect(item.Item?.note).toEqual({ S: 'kept' });
    expect(records).toEqual(['before restart']);
    client.destroy();
    kinesis.destroy();
    await dynamo.close();
    await kinesalite.close();
  });

  it('refuses a store whose CURRENT file is gone (LevelDB would start an empty one over it), saying what it held', async () => {
    const path = join(dir, 'damaged', 'kinesis');
    const kinesalite = await startKinesalite({ path });
    const kinesis = createKinesisClient(kinesalite.endpoint);
    await ensureStream(kinesis, 'events', 1);
    await kinesis.send(new PutRecordCommand({ StreamName: 'events', PartitionKey: 'user-1', Data: Buffer.from('not yet aggregated') }));
    kinesis.destroy();
    await kinesalite.close();
    await rm(join(path, 'CURRENT'));

    const refused = await startKinesalite({ path }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ code: AppErrorCode.Unavailable, message: expect.stringContaining('is damaged (its CURRENT file is missing): move it aside') });
    // Nothing was deleted: the tables are still there for whoever repairs or inspects them.
    expect((await readdir(path)).some((f) => f.endsWith('.ldb') || f.endsWith('.log'))).toBe(true);
  });

  it('lets requests still in flight finish before the store closes, so a restart finds the directory free', async () => {
    // kinesalite opens a stream's sub-store on first use; one opened after the store closed reopened
    // it behind our back, and the next instance (or the lock probe) then crashed on the held lock.
    const path = join(dir, 'in-flight', 'kinesis');
    const seed = await startKinesalite({ path });
    const seedClient = createKinesisClient(seed.endpoint);
    await ensureStream(seedClient, 'events', 1);
    seedClient.destroy();
    await seed.close();
    const crashes: unknown[] = [];
    const onCrash = (error: unknown): void => {
      crashes.push(error);
    };
    process.on('uncaughtException', onCrash);
    try {
      let accepted = 0;
      for (let round = 0; round < 18; round++) {
        const kinesalite = await startKinesalite({ path });
        const kinesis = createKinesisClient(kinesalite.endpoint);
        const puts = Array.from({ length: 8 }, (_, i) =>
          kinesis.send(new PutRecordCommand({ StreamName: 'events', PartitionKey: `u${i}`, Data: Buffer.from(`r${round}-${i}`) })).then(
            () => 1,
            () => 0,
          ),
        );
        // Close at a different point of the puts' progress each round (the client's first request
        // takes a few milliseconds to leave): before, during and after the handlers run.
        for (let tick = 0; tick < round % 6; tick++) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await kinesalite.close();
        accepted += (await Promise.all(puts)).reduce<number>((a, b) => a + b, 0);
        kinesis.destroy();
      }
      const last = await startKinesalite({ path });
      const kinesis = createKinesisClient(last.endpoint);
      const records = await readAll(kinesis, 'events');
      kinesis.destroy();
      await last.close();

      expect(crashes).toEqual([]);
      // Every put the stand-in acknowledged is stored; none is half-written.
      expect(records.length).toBe(accepted);
    } finally {
      process.off('uncaughtException', onCrash);
    }
  }, 30_000);

  it('refuses a data directory another instance holds, instead of crashing', async () => {
    const paths = { dynamo: join(dir, 'locked', 'dynamodb'), kinesis: join(dir, 'locked', 'kinesis') };
    const dynamo = await startDynalite({ path: paths.dynamo });
    const kinesalite = await startKinesalite({ path: paths.kinesis });

    await expect(startDynalite({ path: paths.dynamo })).rejects.toMatchObject({ code: AppErrorCode.Unavailable });
    await expect(startKinesalite({ path: paths.kinesis })).rejects.toMatchObject({ code: AppErrorCode.Unavailable });
    await dynamo.close();
    await kinesalite.close();
  });

  it('reports an unreachable Kinesis as unavailable', async () => {
    const port = await freePort();
    const kinesis = createKinesisClient(`http://127.0.0.1:${port}`);

    await expect(ensureStream(kinesis, 'events', 1)).rejects.toMatchObject({ code: AppErrorCode.Unavailable });
    await expect(ensureStream(kinesis, 'events', 0)).rejects.toMatchObject({ code: AppErrorCode.Validation });
    kinesis.destroy();
  });
});

/**
 * A full disk cannot be made portably in a test, so the failure is put where the disk would put
 * it: the LevelDB binding's write (leveldown's `_batch`/`_put` for kinesalite, classic-level's for
 * dynalite) calls back with the error LevelDB reports. Before the fix the stand-ins threw it out of
 * their callbacks and the test process (like `xp start`) died.
 */
describe('a stand-in whose disk is full', () => {
  const fromStandIn = (standIn: string, id: string): unknown => createRequire(createRequire(import.meta.url).resolve(standIn))(id);
  const noSpace = (): Error => new Error('IO error: /data/kinesis/000005.log: No space left on device');

  it('kinesalite answers a failed write with InternalFailure and takes records again once there is room', async () => {
    const store = await mkdtemp(join(tmpdir(), 'xp-aws-full-'));
    const leveldown = fromStandIn('kinesalite', 'leveldown') as { prototype: Record<string, unknown> };
    const [put, batch] = [leveldown.prototype._put, leveldown.prototype._batch];
    const kinesalite = await startKinesalite({ path: store });
    const kinesis = new KinesisClient({ endpoint: kinesalite.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: new NodeHttpHandler(), maxAttempts: 1 });
    try {
      await ensureStream(kinesis, 'full', 1);
      leveldown.prototype._put = (_key: unknown, _value: unknown, _options: unknown, callback: (error: Error) => void): void => {
        process.nextTick(callback, noSpace());
      };
      leveldown.prototype._batch = (_ops: unknown, _options: unknown, callback: (error: Error) => void): void => {
        process.nextTick(callback, noSpace());
      };
      const failed = await kinesis.send(new PutRecordCommand({ StreamName: 'full', PartitionKey: 'u1', Data: Buffer.from('lost') })).catch((error: unknown) => error);
      expect(failed).toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
      expect((failed as Error).message).toContain('No space left on device');

      [leveldown.prototype._put, leveldown.prototype._batch] = [put, batch];
      await kinesis.send(new PutRecordCommand({ StreamName: 'full', PartitionKey: 'u1', Data: Buffer.from('kept') }));
      expect(await readAll(kinesis, 'full')).toEqual(['kept']);
    } finally {
      [leveldown.prototype._put, leveldown.prototype._batch] = [put, batch];
      kinesis.destroy();
      await kinesalite.close();
      await rm(store, { recursive: true, force: true });
    }
  });

  it('dynalite answers a failed write with InternalServerError and stores items again once there is room', async () => {
    const store = await mkdtemp(join(tmpdir(), 'xp-aws-full-'));
    const { ClassicLevel } = fromStandIn('dynalite', 'classic-level') as { ClassicLevel: { prototype: Record<string, unknown> } };
    const [put, batch] = [ClassicLevel.prototype._put, ClassicLevel.prototype._batch];
    const dynalite = await startDynalite({ path: store });
    const dynamo = createDynamoClient(dynalite.endpoint, { maxAttempts: 1 });
    try {
      await createTable(dynalite.endpoint, 'full');
      ClassicLevel.prototype._put = ClassicLevel.prototype._batch = (): Promise<never> => Promise.reject(noSpace());
      const failed = await dynamo.send(new PutItemCommand({ TableName: 'full', Item: { id: { S: 'b' } } })).catch((error: unknown) => error);
      expect(failed).toMatchObject({ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } });

      [ClassicLevel.prototype._put, ClassicLevel.prototype._batch] = [put, batch];
      await dynamo.send(new PutItemCommand({ TableName: 'full', Item: { id: { S: 'b' }, note: { S: 'stored' } } }));
      const got = await dynamo.send(new GetItemCommand({ TableName: 'full', Key: { id: { S: 'b' } } }));
      expect(got.Item?.note?.S).toBe('stored');
    } finally {
      [ClassicLevel.prototype._put, ClassicLevel.prototype._batch] = [put, batch];
      dynamo.destroy();
      await dynalite.close();
      await rm(store, { recursive: true, force: true });
    }
  });
});

describe('draining a stand-in before its store closes', () => {
  it('waits for a handler still working after its client gave up, not just for the connection to close', async () => {
    let handled = false;
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => {
      received = resolve;
    });
    const server = http.createServer((_req, res) => {
      received();
      // A handler that answers late, as kinesalite's GetRecords reaching its store does.
      setTimeout(() => {
        handled = true;
        res.end('late');
      }, 300);
    });
    const drain = trackRequests(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const abort = new AbortController();
    const request = fetch(`http://127.0.0.1:${port}/`, { signal: abort.signal }).catch(() => 'aborted');
    // Give up only once the server holds the request (a loaded machine can take longer than any
    // fixed wait to connect).
    await arrived;
    abort.abort();
    expect(await request).toBe('aborted');
    await new Promise((done) => setTimeout(done, 20));

    await drain();

    expect(handled).toBe(true);
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
});

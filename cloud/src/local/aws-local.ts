/**
 * In-process stand-ins for DynamoDB (dynalite) and Kinesis (kinesalite) on loopback, so the local
 * stack and the tests drive the real AWS SDK clients over the real wire protocols.
 */
import { mkdir, readdir } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient, ResourceInUseException, ResourceNotFoundException } from '@aws-sdk/client-kinesis';
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import { AppError, AppErrorCode } from '../errors.js';
import { awsAppError, envRegion } from '../store/aws-errors.js';
import { answerDynaliteWriteFailures, answerKinesaliteWriteFailures } from './store-write-failures.js';
import { LOW_DISK_BYTES, freeDiskBytes, isDiskFullError, mib } from './disk-space.js';

export interface LocalServiceOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Directory for the LevelDB data (created if missing); in memory when absent. */
  readonly path?: string;
}

export interface LocalService {
  /** `http://127.0.0.1:<port>`, to pass as the SDK client's endpoint. */
  readonly endpoint: string;
  /** Stops listening and closes the store (flushing it when persisted). Safe to call twice. */
  close(): Promise<void>;
}

/** Credentials the stand-ins accept; they check the signature's shape, not its secret. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

const DEFAULT_REGION = 'us-east-1';

/** Starts dynalite with instant table creation and deletion. */
export async function startDynalite(options: LocalServiceOptions = {}): Promise<LocalService> {
  if (options.path !== undefined) {
    await mkdir(options.path, { recursive: true });
    await assertStoreFree('dynalite', options.path);
  }
  answerDynaliteWriteFailures();
  const server = dynalite({ ...pathOption(options.path), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  return releaseOnClose(await serve(server, options.port ?? 0), 'dynalite', options.path);
}

/** Starts kinesalite with instant stream creation, deletion and resharding. */
export async function startKinesalite(options: LocalServiceOptions = {}): Promise<LocalService> {
  if (options.path !== undefined) {
    await mkdir(options.path, { recursive: true });
    await assertStoreFree('kinesalite', options.path);
  }
  answerKinesaliteWriteFailures();
  const server = kinesalite({ ...pathOption(options.path), createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 });
  return releaseOnClose(await serve(server, options.port ?? 0), 'kinesalite', options.path);
}

/**
 * A Kinesis client over HTTP/1.1 (the SDK's default HTTP/2 handler fails against kinesalite). With an
 * endpoint it uses dummy credentials; without one, the default AWS credential chain and region.
 */
export function createKinesisClient(endpoint?: string, region?: string): KinesisClient {
  const config: KinesisClientConfig = { requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000 }) };
  if (endpoint !== undefined) {
    config.endpoint = endpoint;
    config.region = region ?? envRegion() ?? DEFAULT_REGION;
    config.credentials = LOCAL_CREDENTIALS;
  } else if (region !== undefined) {
    config.region = region;
  }
  return new KinesisClient(config);
}

/**
 * Creates the stream if it is missing and waits until it accepts records. An existing stream keeps
 * its shard count.
 */
export async function ensureStream(client: KinesisClient, name: string, shardCount: number, options: { readonly timeoutMs?: number } = {}): Promise<void> {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new AppError(AppErrorCode.Validation, `shard count must be a positive integer, got ${shardCount}`);
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 1_000)) {
    const status = await streamStatus(client, name);
    // UPDATING streams (resharding) still take and serve records.
    if (status === 'ACTIVE' || status === 'UPDATING') {
      return;
    }
    if (status === undefined) {
      await createStream(client, name, shardCount);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new AppError(AppErrorCode.Unavailable, `Kinesis stream "${name}" is still ${status} after ${timeoutMs} ms`);
    }
    await delay(wait);
  }
}

async function streamStatus(client: KinesisClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return out.StreamDescriptionSummary?.StreamStatus ?? 'UNKNOWN';
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      return undefined;
    }
    throw kinesisError(error);
  }
}

async function createStream(client: KinesisClient, name: string, shardCount: number): Promise<void> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  } catch (error) {
    // Someone else created it between our describe and create.
    if (!(error instanceof ResourceInUseException)) {
      throw kinesisError(error);
    }
  }
}

const kinesisError = (error: unknown): AppError => awsAppError(error, 'Kinesis');

/**
 * The stand-ins close their LevelDB store after the HTTP server's close callback has run, so a
 * restart on the same directory could find it still locked: close resolves only once the lock is free.
 */
function releaseOnClose(service: LocalService, name: 'dynalite' | 'kinesalite', dir: string | undefined): LocalService {
  if (dir === undefined) {
    return service;
  }
  let released: Promise<void> | undefined;
  return {
    endpoint: service.endpoint,
    close: () =>
      (released ??= (async () => {
        await service.close();
        // The probe below takes the lock for a moment; a stand-in's own late LevelDB access (a
        // sub-store reopened just after the close) meeting it would crash the process from an
        // unhandled 'error' event, so let such work settle first (a flaky test teardown saw it).
        await new Promise((resolve) => setTimeout(resolve, 50));
        for (let attempt = 0; ; attempt++) {
          try {
            await assertStoreFree(name, dir);
            return;
          } catch (error) {
            if (attempt >= 100) {
              throw error;
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      })()),
  };
}

function pathOption(path: string | undefined): { path?: string } {
  return path === undefined ? {} : { path };
}

/** How long a close waits for requests already being handled before cutting their connections. */
const DRAIN_MS = 5_000;

async function serve(server: Server, port: number): Promise<LocalService> {
  const drain = trackRequests(server);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  }).catch((error: unknown) => {
    // Release the store's directory lock; the server never listened, so its own close errors.
    server.close(() => undefined);
    throw error;
  });
  const { port: bound } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    close: () =>
      (closing ??= (async () => {
        // Refuse new requests, then let those being handled finish before the store closes: a
        // handler reaching a closed LevelDB (kinesalite opens a stream's sub-store on first use)
        // reopens it and keeps its lock, so a restart on the same folder would find it held.
        await drain();
        server.closeAllConnections();
        await new Promise<void>((resolve, reject) => {
          // dynalite reports success with null, Node's own close with undefined.
          server.close(settle(resolve, reject));
        });
      })()),
  };
}

/**
 * Routes the server's requests through a counter. The returned function switches to answering 503
 * and resolves once every request already accepted has been answered (or after DRAIN_MS).
 */
export function trackRequests(server: Server): () => Promise<void> {
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (draining) {
      res.writeHead(503, { connection: 'close' }).end();
      return;
    }
    inFlight++;
    // Done when the handler answers, not when the connection closes: a client that gave up (the
    // poller stopping mid-GetRecords) closes it while the handler still works, and a handler reaching
    // the closed store reopens a sub-store, whose lock then meets the next open of the folder.
    let done = false;
    const finished = (): void => {
      if (!done) {
        done = true;
        inFlight--;
        if (inFlight === 0) {
          idle?.();
        }
      }
    };
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      finished();
      return end(...args);
    }) as typeof res.end;
    for (const handler of handlers) {
      handler.call(server, req, res);
    }
  });
  return async () => {
    draining = true;
    if (inFlight === 0) {
      return;
    }
    const done = new Promise<void>((resolve) => {
      idle = resolve;
    });
    // Cancel the bound once drained: a pending timer would hold the process open after the close.
    const bound = new AbortController();
    await Promise.race([done, delay(DRAIN_MS, undefined, { signal: bound.signal }).catch(() => undefined)]);
    bound.abort();
  };
}

interface CallbackLevelDown {
  open(callback: (error?: Error | null) => void): void;
  close(callback: (error?: Error | null) => void): void;
}
interface PromiseLevel {
  open(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Both stand-ins crash the process from an unhandled 'error' event when their LevelDB directory is
 * locked (another xp is running on the same data), so open it first with the same LevelDB binding
 * they use and turn a lock into a clear error.
 */
async function assertStoreFree(service: 'dynalite' | 'kinesalite', dir: string): Promise<void> {
  await assertStoreIntact(service, dir);
  const requireFromService = createRequire(createRequire(import.meta.url).resolve(service));
  try {
    if (service === 'dynalite') {
      const { Level } = requireFromService('level') as { Level: new (location: string) => PromiseLevel };
      const db = new Level(dir);
      await db.open();
      await db.close();
    } else {
      const leveldown = requireFromService('leveldown') as (location: string) => CallbackLevelDown;
      const db = leveldown(dir);
      await new Promise<void>((resolve, reject) => {
        db.open(settle(resolve, reject));
      });
      await new Promise<void>((resolve, reject) => {
        db.close(settle(resolve, reject));
      });
    }
  } catch (error) {
    throw new AppError(AppErrorCode.Unavailable, storeOpenFailure(service, dir, error, freeDiskBytes(dir)), undefined, { cause: error });
  }
}

/**
 * Why `service` could not open its LevelDB directory: a full disk (LevelDB cannot write its log or
 * manifest) says so rather than suggest another instance holds it.
 */
export function storeOpenFailure(service: 'dynalite' | 'kinesalite', dir: string, error: unknown, free: number | undefined): string {
  if (isDiskFullError(error) || (free !== undefined && free < LOW_DISK_BYTES)) {
    return `${service} cannot open its data directory ${dir}: the disk holding it is full (${free === undefined ? 'no space left' : `${mib(free)} free`}); free space on that disk and start again (its data is probably intact: do not move it away)`;
  }
  return `${service} cannot open its data directory ${dir} (is another instance using it?)`;
}

/**
 * LevelDB opens a folder without its CURRENT file as a new, empty store, and deletes the old
 * tables: a damaged store would silently lose what it held (for kinesalite, the events accepted but
 * not yet aggregated). Such a folder is refused, with what to do.
 */
async function assertStoreIntact(service: 'dynalite' | 'kinesalite', dir: string): Promise<void> {
  const files = await readdir(dir);
  const tables = files.filter((f) => /\.(ldb|sst|log)$/.test(f) || f.startsWith('MANIFEST-'));
  if (tables.length > 0 && !files.includes('CURRENT')) {
    const held = service === 'kinesalite' ? 'events accepted but not yet aggregated (xp replay of the archive brings back those the archive holds)' : 'the published rulesets (republish each environment to write them again)';
    throw new AppError(
      AppErrorCode.Unavailable,
      `${service}'s data directory ${dir} is damaged (its CURRENT file is missing): move it aside to start with an empty one; it held ${held}`,
    );
  }
}

function settle(resolve: () => void, reject: (error: Error) => void): (error?: Error | null) => void {
  return (error) => {
    if (error) {
      reject(error);
    } else {
      resolve();
    }
  };
}

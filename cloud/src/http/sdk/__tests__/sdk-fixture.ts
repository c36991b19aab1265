import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PipelineEvent, PipelineRecord } from '@xp/shared';
import { createKinesisClient, ensureStream, startKinesalite } from '../../../local/aws-local.js';
import type { LocalService } from '../../../local/aws-local.js';
import type { Database } from '../../../store/db.js';
import { DatabaseError } from '../../../store/db.js';
import { createKinesisEventSink, createKinesisPutClient } from '../../../store/event-sink.js';
import type { EventSink } from '../../../store/event-sink.js';
import type { RulesetStore } from '../../../store/ruleset-store.js';
import { pgliteTarget } from '../../../store/__tests__/test-databases.js';
import type { Platform } from '../../__tests__/harness.js';
import { OWNER, startPlatform } from '../../__tests__/harness.js';
import { createRulesetNotifier } from '../ruleset-notifier.js';
import { createSdkMetrics } from '../sdk-routes.js';
import type { SdkMetrics, SdkOptions } from '../sdk-routes.js';

export const STREAM = 'sdk-events';

/** The platform with the SDK endpoints on kinesalite, counting store reads and SQL queries. */
export interface SdkPlatform {
  readonly p: Platform;
  readonly owner: string;
  readonly projectId: string;
  readonly kinesis: KinesisClient;
  /** The sink the platform writes to (unless replaced). */
  readonly sink: EventSink;
  readonly metrics: SdkMetrics;
  readonly counts: { latest: number; queries: number };
  /** Database faults for the platform's SQL: 'stall' never answers, 'down' fails as a lost connection. */
  readonly faults: { mode: 'none' | 'stall' | 'down' };
  /** Replaces the event sink (e.g. with one whose Kinesis is down); `restore` puts the real one back. */
  useSink(sink: EventSink): void;
  restoreSink(): void;
  /** A sink writing to a kinesalite that has been shut down. */
  deadSink(): Promise<{ sink: EventSink; dispose: () => void }>;
  close(): Promise<void>;
}

function countingDb(db: Database, counts: { queries: number }, faults: SdkPlatform['faults']): Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') {
        return (sql: string, params?: readonly unknown[]) => {
          counts.queries++;
          if (faults.mode === 'stall') {
            return new Promise(() => undefined);
          }
          if (faults.mode === 'down') {
            return Promise.reject(new DatabaseError(undefined, 'Connection terminated unexpectedly'));
          }
          return target.query(sql, params);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function countingStore(store: RulesetStore, counts: { latest: number }): RulesetStore {
  return {
    ...store,
    latest: (projectId, environment) => {
      counts.latest++;
      return store.latest(projectId, environment);
    },
    // A read of the newest version as well (the cache's TTL check): counted with `latest`.
    newerThan: (projectId, environment, version) => {
      counts.latest++;
      return store.newerThan(projectId, environment, version);
    },
  };
}

export async function startSdkPlatform(sdk: Omit<SdkOptions, 'metrics'> = {}): Promise<SdkPlatform> {
  const kinesalite: LocalService = await startKinesalite();
  const kinesis = createKinesisClient(kinesalite.endpoint);
  await ensureStream(kinesis, STREAM, 2);
  const putter = createKinesisPutClient(kinesalite.endpoint);
  const real = createKinesisEventSink({ client: putter, streamName: STREAM, deadlineMs: 2_000 });
  let current: EventSink = real;
  const counts = { latest: 0, queries: 0 };
  const faults: SdkPlatform['faults'] = { mode: 'none' };
  const metrics = createSdkMetrics();
  const notifier = createRulesetNotifier();
  const p = await startPlatform(pgliteTarget(), {
    deps: (d) => ({ ...d, db: countingDb(d.db, counts, faults), rulesets: countingStore(d.rulesets, counts), events: { put: (e) => current.put(e) }, notifier }),
    app: { sdk: { ...sdk, metrics } },
  });
  const owner = await p.login(OWNER.email, OWNER.password);
  const project = await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'");
  return {
    p,
    owner,
    projectId: project.rows[0]!.id,
    kinesis,
    sink: real,
    metrics,
    counts,
    faults,
    useSink: (sink) => {
      current = sink;
    },
    restoreSink: () => {
      current = real;
    },
    async deadSink() {
      const down = await startKinesalite();
      const client = createKinesisClient(down.endpoint);
      await ensureStream(client, 'gone', 1);
      client.destroy();
      await down.close();
      const dead = createKinesisPutClient(down.endpoint);
      return {
        sink: createKinesisEventSink({ client: dead, streamName: 'gone', deadlineMs: 1_000, maxAttempts: 2 }),
        dispose: () => {
          dead.destroy();
        },
      };
    },
    async close() {
      await p.close();
      kinesis.destroy();
      putter.destroy();
      await kinesalite.close();
    },
  };
}

/** Every unit event (exposure or tracked event) in the stream, with its partition key. */
export async function readStream(client: KinesisClient, stream = STREAM): Promise<{ key: string; event: PipelineEvent }[]> {
  return (await readStreamRecords(client, stream)).filter((r): r is { key: string; event: PipelineEvent } => r.event.event.type !== 'evaluations');
}

/** Every record in the stream (evaluation counts included), with its partition key. */
export async function readStreamRecords(client: KinesisClient, stream = STREAM): Promise<{ key: string; event: PipelineRecord }[]> {
  const shards = await client.send(new ListShardsCommand({ StreamName: stream }));
  const out: { key: string; event: PipelineRecord }[] = [];
  for (const shard of shards.Shards ?? []) {
    const it = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
    let iterator = it.ShardIterator;
    for (let page = 0; iterator !== undefined && page < 100; page++) {
      const got = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      const records = got.Records ?? [];
      for (const r of records) {
        out.push({ key: r.PartitionKey ?? '', event: JSON.parse(Buffer.from(r.Data ?? new Uint8Array()).toString('utf8')) as PipelineRecord });
      }
      if (records.length === 0) {
        break;
      }
      iterator = got.NextShardIterator;
    }
  }
  return out;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export interface SseMessage {
  readonly event?: string;
  readonly id?: string;
  readonly data?: string;
  readonly comment?: string;
}

/** Reads server-sent events from a response body, one message at a time, each read bounded in time. */
export function sseReader(body: ReadableStream<Uint8Array>): { next(want: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>; cancel(): Promise<void> } {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let pending: ReturnType<typeof reader.read> | undefined;
  const parse = (block: string): SseMessage => {
    const m: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        m.comment = line.slice(1).trim();
      } else {
        const at = line.indexOf(': ');
        if (at > 0) {
          m[line.slice(0, at)] = line.slice(at + 2);
        }
      }
    }
    return m;
  };
  return {
    async next(want, timeoutMs = 1_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const message = parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (want(message)) {
            return message;
          }
          continue;
        }
        pending ??= reader.read();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => {
            resolve('timeout');
          }, Math.max(0, deadline - Date.now()));
        });
        const result = await Promise.race([pending, timeout]);
        clearTimeout(timer);
        if (result === 'timeout') {
          throw new Error(`no matching event within ${timeoutMs} ms`);
        }
        pending = undefined;
        if (result.done) {
          throw new Error('stream ended');
        }
        buffer += decoder.decode(result.value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

/**
 * The optional shared store (Redis locally, ElastiCache Serverless in AWS): one connection per
 * process, commands that fail fast instead of queueing while the server is away, and a bounded wait
 * on every call so a hung server degrades a request instead of holding it.
 */
import { createClient } from 'redis';
import type { Logger } from '../domain/context.js';

/** The commands the shared stores use, so tests and adapters need nothing else. */
export interface SharedStoreClient {
  /** Runs a Lua script atomically. */
  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  mGet(keys: readonly string[]): Promise<(string | null)[]>;
  /** Sets each key with an optional expiry in seconds, in one round trip (MULTI). */
  setMany(entries: readonly { readonly key: string; readonly value: string }[], ttlSeconds?: number): Promise<void>;
  del(keys: readonly string[]): Promise<number>;
  /** Keys matching a glob pattern (SCAN, never KEYS); for cleanup in tests and tools. */
  scanKeys(pattern: string): Promise<string[]>;
  close(): Promise<void>;
}

/** The shared store did not answer (down, unreachable, or slower than the command timeout). */
export class SharedStoreError extends Error {
  override readonly name = 'SharedStoreError';
  readonly code = 'SHARED_STORE_UNAVAILABLE';
}

export interface RedisOptions {
  /** redis://host:port or rediss://… (TLS, as ElastiCache Serverless requires). */
  readonly url: string;
  /** Longest wait for one command. Default 1,000 ms. */
  readonly commandTimeoutMs?: number;
  /** Longest wait for the first connection. Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
}

const LOG_EVERY_MS = 30_000;

/** Redacts the password of a redis:// URL for logs. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') {
      u.password = '***';
    }
    return u.toString();
  } catch {
    return 'redis://(unparsable url)';
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new SharedStoreError(`${what} did not answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (error) {
    throw error instanceof SharedStoreError ? error : new SharedStoreError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects to Redis; rejects with SharedStoreError when the server cannot be reached within the
 * connect timeout. Afterwards the client reconnects in the background and, while disconnected,
 * every command fails at once (no offline queue).
 */
export async function connectRedis(options: RedisOptions): Promise<SharedStoreClient> {
  const commandTimeoutMs = options.commandTimeoutMs ?? 1_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
  const logger = options.logger;
  let lastLogged = 0;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: connectTimeoutMs,
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 3_000),
    },
  });
  // Without a listener an 'error' event would crash the process; log at most every 30 s.
  client.on('error', (error: unknown) => {
    const now = Date.now();
    if (now - lastLogged >= LOG_EVERY_MS) {
      lastLogged = now;
      logger?.warn('shared store (Redis) connection error', { url: safeRedisUrl(options.url), error: error instanceof Error ? error.message : String(error) });
    }
  });
  try {
    await withTimeout(client.connect(), connectTimeoutMs + 500, `Redis at ${safeRedisUrl(options.url)}`);
  } catch (error) {
    client.destroy();
    throw error;
  }
  const run = <T>(what: string, command: () => Promise<T>): Promise<T> => {
    if (!client.isReady) {
      return Promise.reject(new SharedStoreError(`Redis is not connected (${what})`));
    }
    return withTimeout(command(), commandTimeoutMs, `Redis ${what}`);
  };
  return {
    eval: (script, keys, args) => run('EVAL', () => client.eval(script, { keys: [...keys], arguments: [...args] })),
    mGet: (keys) => (keys.length === 0 ? Promise.resolve([]) : run('MGET', () => client.mGet([...keys]))),
    setMany: async (entries, ttlSeconds) => {
      if (entries.length === 0) {
        return;
      }
      await run('MULTI SET', () => {
        const multi = client.multi();
        for (const { key, value } of entries) {
          multi.set(key, value, ttlSeconds === undefined ? undefined : { expiration: { type: 'EX', value: ttlSeconds } });
        }
        return multi.exec();
      });
    },
    del: (keys) => (keys.length === 0 ? Promise.resolve(0) : run('DEL', () => client.del([...keys]))),
    scanKeys: async (pattern) => {
      const found: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 500 })) {
        found.push(...batch);
      }
      return found;
    },
    close: async () => {
      try {
        await withTimeout(client.close(), commandTimeoutMs, 'Redis QUIT');
      } catch {
        client.destroy();
      }
    },
  };
}

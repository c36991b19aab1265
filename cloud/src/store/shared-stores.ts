/**
 * Chooses the shared stores of one process: Redis when REDIS_URL is set (every instance sees the
 * same rate-limit counters and sticky assignments). Without Redis (REDIS_URL unset, or unreachable
 * at start) rate limits are counted in process memory (per instance) and sticky assignments are kept
 * in PostgreSQL (table sticky_assignments) when a database is given, else in process memory.
 */
import { LoginRateLimiter } from '../auth/rate-limit.js';
import { sharedLoginRateLimiter } from '../auth/shared-rate-limit.js';
import type { Logger } from '../domain/context.js';
import type { Queryable } from './database.js';
import { connectRedis, safeRedisUrl } from './redis.js';
import type { SharedStoreClient } from './redis.js';
import { InMemoryStickyAssignmentStore, PostgresStickyAssignmentStore, RedisStickyAssignmentStore } from './sticky-buckets.js';
import type { StickyAssignmentStore } from './sticky-buckets.js';

export const SharedStoreKind = {
  /** Redis (or ElastiCache) shared by every instance. */
  Redis: 'redis',
  /** This process only: REDIS_URL unset, or Redis unreachable at start. */
  Memory: 'memory',
} as const;
export type SharedStoreKind = (typeof SharedStoreKind)[keyof typeof SharedStoreKind];

/** Where sticky assignments are kept. */
export const StickyStoreKind = {
  /** Redis (or ElastiCache), with the rate limits. */
  Redis: 'redis',
  /** PostgreSQL, table sticky_assignments: no Redis, a database given. */
  Postgres: 'postgres',
  /** This process only: no Redis and no database. */
  Memory: 'memory',
} as const;
export type StickyStoreKind = (typeof StickyStoreKind)[keyof typeof StickyStoreKind];

export interface SharedStores {
  /** Where the rate limits are counted (and, with Redis, sticky assignments kept). */
  readonly kind: SharedStoreKind;
  readonly limiter: LoginRateLimiter;
  readonly sticky: StickyAssignmentStore;
  readonly stickyKind: StickyStoreKind;
  /** The Redis client, when connected. */
  readonly client?: SharedStoreClient;
  close(): Promise<void>;
}

export interface SharedStoreOptions {
  /** REDIS_URL; unset or empty means no Redis: rate limits in process memory, sticky assignments in `db`. */
  readonly redisUrl?: string | undefined;
  /** The platform's database: where sticky assignments are kept without Redis (else process memory). */
  readonly db?: Queryable | undefined;
  readonly logger: Logger;
  /** Key prefix for every shared key. Default `xp:`. */
  readonly prefix?: string;
  readonly now?: () => number;
}

/** The stores without Redis: rate limits in process memory; sticky assignments in `db` when given, else in process memory. */
export function memoryStores(now?: () => number, db?: Queryable): SharedStores {
  return {
    kind: SharedStoreKind.Memory,
    limiter: LoginRateLimiter.inMemory(now === undefined ? {} : { now }),
    ...(db === undefined
      ? { sticky: new InMemoryStickyAssignmentStore(), stickyKind: StickyStoreKind.Memory }
      : { sticky: new PostgresStickyAssignmentStore(db), stickyKind: StickyStoreKind.Postgres }),
    close: () => Promise.resolve(),
  };
}

/** Connects to Redis when configured; an unreachable server is logged and replaced by the stores without it, never a hang. */
export async function openSharedStores(options: SharedStoreOptions): Promise<SharedStores> {
  const url = options.redisUrl?.trim();
  if (url === undefined || url === '') {
    return memoryStores(options.now, options.db);
  }
  const prefix = options.prefix ?? 'xp:';
  try {
    const client = await connectRedis({ url, logger: options.logger });
    options.logger.info('shared store: Redis', { url: safeRedisUrl(url) });
    return {
      kind: SharedStoreKind.Redis,
      client,
      limiter: sharedLoginRateLimiter(client, { prefix: `${prefix}rl:`, logger: options.logger, ...(options.now === undefined ? {} : { now: options.now }) }),
      sticky: new RedisStickyAssignmentStore(client, { prefix: `${prefix}sticky:` }),
      stickyKind: StickyStoreKind.Redis,
      close: () => client.close(),
    };
  } catch (error) {
    const sticky = options.db === undefined ? 'sticky assignments are per instance too' : 'sticky assignments are in the database';
    options.logger.error(`shared store: Redis unreachable, using process memory (rate limits are per instance; ${sticky})`, {
      url: safeRedisUrl(url),
      error: error instanceof Error ? error.message : String(error),
    });
    return memoryStores(options.now, options.db);
  }
}

/**
 * Chooses the shared stores of one process: Redis when REDIS_URL is set (every instance sees the
 * same rate-limit counters and sticky assignments), else process memory with the same interfaces.
 */
import { LoginRateLimiter } from '../auth/rate-limit.js';
import { sharedLoginRateLimiter } from '../auth/shared-rate-limit.js';
import type { Logger } from '../domain/context.js';
import { connectRedis, safeRedisUrl } from './redis.js';
import type { SharedStoreClient } from './redis.js';
import { InMemoryStickyAssignmentStore, RedisStickyAssignmentStore } from './sticky-buckets.js';
import type { StickyAssignmentStore } from './sticky-buckets.js';

export const SharedStoreKind = {
  /** Redis (or ElastiCache) shared by every instance. */
  Redis: 'redis',
  /** This process only: REDIS_URL unset, or Redis unreachable at start. */
  Memory: 'memory',
} as const;
export type SharedStoreKind = (typeof SharedStoreKind)[keyof typeof SharedStoreKind];

export interface SharedStores {
  readonly kind: SharedStoreKind;
  readonly limiter: LoginRateLimiter;
  readonly sticky: StickyAssignmentStore;
  /** The Redis client, when connected. */
  readonly client?: SharedStoreClient;
  close(): Promise<void>;
}

export interface SharedStoreOptions {
  /** REDIS_URL; unset or empty means process memory. */
  readonly redisUrl?: string | undefined;
  readonly logger: Logger;
  /** Key prefix for every shared key. Default `xp:`. */
  readonly prefix?: string;
  readonly now?: () => number;
}

export function memoryStores(now?: () => number): SharedStores {
  return {
    kind: SharedStoreKind.Memory,
    limiter: LoginRateLimiter.inMemory(now === undefined ? {} : { now }),
    sticky: new InMemoryStickyAssignmentStore(),
    close: () => Promise.resolve(),
  };
}

/** Connects to Redis when configured; an unreachable server is logged and replaced by memory, never a hang. */
export async function openSharedStores(options: SharedStoreOptions): Promise<SharedStores> {
  const url = options.redisUrl?.trim();
  if (url === undefined || url === '') {
    return memoryStores(options.now);
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
      close: () => client.close(),
    };
  } catch (error) {
    options.logger.error('shared store: Redis unreachable, using process memory (rate limits and sticky assignments are per instance)', {
      url: safeRedisUrl(url),
      error: error instanceof Error ? error.message : String(error),
    });
    return memoryStores(options.now);
  }
}

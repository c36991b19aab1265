import type { StickyBucketStore } from '@xp/shared/eval';
import { LruMap } from '../lru.js';
import { stickyKey } from './memory-store.js';

/**
 * The two commands the example needs; node-redis (`createClient()`) and ioredis clients both fit
 * (ioredis: `set(key, value, 'EX', ttl)` — adapt `set` in a two-line wrapper).
 */
export interface RedisLikeClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { readonly EX?: number }): Promise<unknown>;
}

type Assignments = Readonly<Record<string, string>>;

export interface RedisStoreOptions {
  /** Key prefix. Default `xp:sticky:`. */
  readonly prefix?: string;
  /** Expiry of a unit's key in seconds. Default none. */
  readonly ttlSeconds?: number;
  /** Units kept in the local cache. Default 10000. */
  readonly maxCachedUnits?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * An example sticky-bucket store over Redis. Evaluation is synchronous and Redis is not, so the
 * store serves a local cache: call `preload(hashAttribute, hashValue)` (e.g. in request middleware)
 * before evaluating for a unit; writes go to the cache at once and to Redis in the background.
 */
export class RedisStickyBucketStore implements StickyBucketStore {
  private readonly cache: LruMap<Assignments>;
  private readonly prefix: string;

  constructor(
    private readonly client: RedisLikeClient,
    private readonly options: RedisStoreOptions = {},
  ) {
    this.cache = new LruMap(options.maxCachedUnits ?? 10_000);
    this.prefix = options.prefix ?? 'xp:sticky:';
  }

  /** Loads one unit's assignments into the cache; resolves even when Redis fails (the unit is then not sticky). */
  async preload(hashAttribute: string, hashValue: string): Promise<void> {
    const key = stickyKey(hashAttribute, hashValue);
    try {
      const text = await this.client.get(this.prefix + key);
      const parsed: unknown = text === null ? {} : JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        this.cache.set(key, parsed as Assignments);
      }
    } catch (e) {
      this.options.onError?.(e);
    }
  }

  get(hashAttribute: string, hashValue: string): Assignments | undefined {
    return this.cache.get(stickyKey(hashAttribute, hashValue));
  }

  set(hashAttribute: string, hashValue: string, assignments: Assignments): void {
    const key = stickyKey(hashAttribute, hashValue);
    this.cache.set(key, { ...assignments });
    const ttl = this.options.ttlSeconds;
    this.client.set(this.prefix + key, JSON.stringify(assignments), ttl === undefined ? undefined : { EX: ttl }).catch((e: unknown) => {
      this.options.onError?.(e);
    });
  }
}

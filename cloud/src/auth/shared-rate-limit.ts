/**
 * A sliding-log rate limiter shared by every API instance through Redis: one sorted set per key
 * (score = event time), updated atomically by a Lua script. When Redis cannot answer, the limiter
 * logs and falls back to a per-process in-memory limiter with the same limits, so logins keep
 * working (throttled per instance) rather than hanging or failing.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../domain/context.js';
import type { SharedStoreClient } from '../store/redis.js';
import { InMemoryRateLimiter, LOGIN_RATE_LIMITS, LoginRateLimiter } from './rate-limit.js';
import type { RateLimitDecision, RateLimiter, SlidingWindowOptions } from './rate-limit.js';

// KEYS[1] the key; ARGV: now (ms), window (ms), limit, record (1 = hit, 0 = check), a unique member.
// Returns { allowed (1/0), retry after in ms }.
const SLIDING_LOG = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if ARGV[4] == '1' then
  redis.call('ZADD', key, now, ARGV[5])
  redis.call('ZREMRANGEBYRANK', key, 0, -(limit + 1))
  redis.call('PEXPIRE', key, window)
end
local n = redis.call('ZCARD', key)
if n < limit then
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, -limit, -limit, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
`;

export interface RedisRateLimiterOptions extends SlidingWindowOptions {
  readonly client: SharedStoreClient;
  /** Prepended to every key, e.g. `xp:rl:login-email:`. */
  readonly prefix: string;
  readonly logger?: Logger;
  /** Used while Redis cannot answer. Default: an in-memory limiter with the same limits. */
  readonly fallback?: RateLimiter;
}

const LOG_EVERY_MS = 30_000;

export class RedisRateLimiter implements RateLimiter {
  readonly #options: RedisRateLimiterOptions;
  readonly #now: () => number;
  readonly #fallback: RateLimiter;
  #lastLogged = -Infinity;

  constructor(options: RedisRateLimiterOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1 || !(options.windowMs > 0)) {
      throw new RangeError('limit must be a positive integer and windowMs positive');
    }
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#fallback = options.fallback ?? new InMemoryRateLimiter(options);
  }

  check(key: string): Promise<RateLimitDecision> {
    return this.#run(key, false);
  }

  hit(key: string): Promise<RateLimitDecision> {
    return this.#run(key, true);
  }

  async reset(key: string): Promise<void> {
    await this.#fallback.reset(key);
    try {
      await this.#options.client.del([this.#options.prefix + key]);
    } catch (error) {
      this.#degraded(error);
    }
  }

  async #run(key: string, record: boolean): Promise<RateLimitDecision> {
    const now = this.#now();
    try {
      const reply = await this.#options.client.eval(SLIDING_LOG, [this.#options.prefix + key], [String(now), String(this.#options.windowMs), String(this.#options.limit), record ? '1' : '0', `${now}-${randomUUID()}`]);
      if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
        throw new Error('unexpected reply from the rate-limit script');
      }
      return reply[0] === 1 ? { allowed: true, retryAfterSeconds: 0 } : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(reply[1] / 1000)) };
    } catch (error) {
      this.#degraded(error);
      return record ? this.#fallback.hit(key) : this.#fallback.check(key);
    }
  }

  #degraded(error: unknown): void {
    const now = Date.now();
    if (now - this.#lastLogged >= LOG_EVERY_MS) {
      this.#lastLogged = now;
      this.#options.logger?.warn('rate limiter: Redis unavailable, using the per-process limiter', { error: error instanceof Error ? error.message : String(error) });
    }
  }
}

/** Login throttling shared through Redis, with the login defaults. */
export function sharedLoginRateLimiter(client: SharedStoreClient, options: { readonly prefix?: string; readonly logger?: Logger; readonly now?: () => number } = {}): LoginRateLimiter {
  const prefix = options.prefix ?? 'xp:rl:';
  const common = { client, ...(options.logger === undefined ? {} : { logger: options.logger }), ...(options.now === undefined ? {} : { now: options.now }) };
  return new LoginRateLimiter({
    byEmail: new RedisRateLimiter({ ...LOGIN_RATE_LIMITS.email, ...common, prefix: `${prefix}login-email:` }),
    byIp: new RedisRateLimiter({ ...LOGIN_RATE_LIMITS.ip, ...common, prefix: `${prefix}login-ip:` }),
  });
}

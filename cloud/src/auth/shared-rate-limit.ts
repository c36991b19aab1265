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
import type { RateLimitDecision, RateLimitReservation, RateLimiter, SlidingWindowOptions } from './rate-limit.js';

// Reservations made while Redis could not answer live in the fallback; their ids say so.
const FALLBACK_ID = 'local:';

// KEYS[1] the key; ARGV: now (ms), window (ms), limit, record (1 = hit, 0 = check, 2 = take), a unique member.
// Returns { allowed (1/0), retry after in ms }. A take records the member only when it is allowed,
// deciding before recording, all inside the script, so concurrent takes never exceed the limit.
const SLIDING_LOG = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if ARGV[4] == '2' then
  local held = redis.call('ZCARD', key)
  if held < limit then
    redis.call('ZADD', key, now, ARGV[5])
    redis.call('PEXPIRE', key, window)
    return {1, 0}
  end
  local first = redis.call('ZRANGE', key, -limit, -limit, 'WITHSCORES')
  return {0, tonumber(first[2]) + window - now}
end
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
    return this.#run(key, '0');
  }

  hit(key: string): Promise<RateLimitDecision> {
    return this.#run(key, '1');
  }

  async take(key: string): Promise<RateLimitReservation> {
    const now = this.#now();
    const member = `${now}-${randomUUID()}`;
    try {
      const decision = await this.#eval(key, '2', now, member);
      return decision.allowed ? { allowed: true, retryAfterSeconds: 0, id: member } : { allowed: false, retryAfterSeconds: decision.retryAfterSeconds };
    } catch (error) {
      this.#degraded(error);
      const local = await this.#fallback.take(key);
      return local.allowed ? { ...local, id: FALLBACK_ID + local.id } : local;
    }
  }

  async release(key: string, id: string): Promise<void> {
    if (id.startsWith(FALLBACK_ID)) {
      await this.#fallback.release(key, id.slice(FALLBACK_ID.length));
      return;
    }
    try {
      await this.#options.client.eval("return redis.call('ZREM', KEYS[1], ARGV[1])", [this.#options.prefix + key], [id]);
    } catch (error) {
      this.#degraded(error);
    }
  }

  async reset(key: string): Promise<void> {
    await this.#fallback.reset(key);
    try {
      await this.#options.client.del([this.#options.prefix + key]);
    } catch (error) {
      this.#degraded(error);
    }
  }

  async #run(key: string, mode: '0' | '1'): Promise<RateLimitDecision> {
    const now = this.#now();
    try {
      return await this.#eval(key, mode, now, `${now}-${randomUUID()}`);
    } catch (error) {
      this.#degraded(error);
      return mode === '1' ? this.#fallback.hit(key) : this.#fallback.check(key);
    }
  }

  async #eval(key: string, mode: '0' | '1' | '2', now: number, member: string): Promise<RateLimitDecision> {
    const reply = await this.#options.client.eval(SLIDING_LOG, [this.#options.prefix + key], [String(now), String(this.#options.windowMs), String(this.#options.limit), mode, member]);
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
      throw new Error('unexpected reply from the rate-limit script');
    }
    return reply[0] === 1 ? { allowed: true, retryAfterSeconds: 0 } : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(reply[1] / 1000)) };
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
    byEmailAndIp: new RedisRateLimiter({ ...LOGIN_RATE_LIMITS.emailAndIp, ...common, prefix: `${prefix}login-email-ip:` }),
    byEmail: new RedisRateLimiter({ ...LOGIN_RATE_LIMITS.email, ...common, prefix: `${prefix}login-email:` }),
    byIp: new RedisRateLimiter({ ...LOGIN_RATE_LIMITS.ip, ...common, prefix: `${prefix}login-ip:` }),
  });
}

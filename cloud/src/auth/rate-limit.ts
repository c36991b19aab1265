/**
 * Rate limiting behind an async port, so a shared store (Redis) can replace the in-memory
 * implementation when the API runs on more than one process. The in-memory limiter is an exact
 * sliding log: per key it keeps at most `limit` timestamps, and the key count is capped.
 */

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Seconds until the next attempt would be allowed; 0 when allowed. */
  readonly retryAfterSeconds: number;
}

/** Counts events (failed logins, say) per key within a sliding window. */
export interface RateLimiter {
  /** Whether one more event is allowed now, without recording anything. */
  check(key: string): Promise<RateLimitDecision>;
  /** Records an event and returns the decision for the next one. */
  hit(key: string): Promise<RateLimitDecision>;
  /** Forgets a key's events. */
  reset(key: string): Promise<void>;
}

export interface SlidingWindowOptions {
  /** Events allowed per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Keys kept at most; beyond it the least recently hit key is dropped. Default 10 000. */
  readonly maxKeys?: number;
  /** Milliseconds since the epoch; injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
}

export const DEFAULT_MAX_KEYS = 10_000;

const ALLOWED: RateLimitDecision = { allowed: true, retryAfterSeconds: 0 };

/** In-memory sliding-log limiter for one process. */
export class InMemoryRateLimiter implements RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  // Map order is recency of the last hit, so the first key is always the one to evict.
  readonly #events = new Map<string, number[]>();

  constructor(options: SlidingWindowOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1 || !(options.windowMs > 0)) {
      throw new RangeError('limit must be a positive integer and windowMs positive');
    }
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#maxKeys = Math.max(1, options.maxKeys ?? DEFAULT_MAX_KEYS);
    this.#now = options.now ?? Date.now;
  }

  /** Keys currently held, for tests and metrics. */
  get size(): number {
    return this.#events.size;
  }

  check(key: string): Promise<RateLimitDecision> {
    const now = this.#now();
    return Promise.resolve(this.#decide(this.#live(key, now), now));
  }

  hit(key: string): Promise<RateLimitDecision> {
    const now = this.#now();
    const events = this.#live(key, now) ?? [];
    events.push(now);
    // Only the newest `limit` events can ever decide, so older ones are dropped to bound memory.
    if (events.length > this.#limit) {
      events.splice(0, events.length - this.#limit);
    }
    this.#events.delete(key);
    if (this.#events.size >= this.#maxKeys) {
      const oldest = this.#events.keys().next();
      if (oldest.done !== true) {
        this.#events.delete(oldest.value);
      }
    }
    this.#events.set(key, events);
    return Promise.resolve(this.#decide(events, now));
  }

  reset(key: string): Promise<void> {
    this.#events.delete(key);
    return Promise.resolve();
  }

  /** The key's events still inside the window, dropping the key when none are. */
  #live(key: string, now: number): number[] | undefined {
    const events = this.#events.get(key);
    if (events === undefined) {
      return undefined;
    }
    const firstLive = events.findIndex((t) => t > now - this.#windowMs);
    if (firstLive === -1) {
      this.#events.delete(key);
      return undefined;
    }
    events.splice(0, firstLive);
    return events;
  }

  #decide(events: readonly number[] | undefined, now: number): RateLimitDecision {
    if (events === undefined || events.length < this.#limit) {
      return ALLOWED;
    }
    // Blocked until the oldest of the newest `limit` events leaves the window.
    const oldest = events[events.length - this.#limit]!;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + this.#windowMs - now) / 1000)) };
  }
}

const FIFTEEN_MINUTES_MS = 15 * 60 * 1000;

/** Login defaults: 5 failures per email and 50 per client IP, each per 15 minutes. */
export const LOGIN_RATE_LIMITS = {
  email: { limit: 5, windowMs: FIFTEEN_MINUTES_MS },
  ip: { limit: 50, windowMs: FIFTEEN_MINUTES_MS },
} as const;

export interface LoginAttempt {
  readonly email: string;
  readonly ip: string;
}

/**
 * Failed-login throttling by email and by client IP. The login handler calls `check` before
 * verifying the password (429 with Retry-After when refused), `recordFailure` on a wrong password or
 * unknown email, and `recordSuccess` after a successful login.
 */
export class LoginRateLimiter {
  readonly #byEmail: RateLimiter;
  readonly #byIp: RateLimiter;

  constructor(ports: { readonly byEmail: RateLimiter; readonly byIp: RateLimiter }) {
    this.#byEmail = ports.byEmail;
    this.#byIp = ports.byIp;
  }

  /** In-memory limiters with the login defaults. */
  static inMemory(options: { readonly now?: () => number; readonly maxKeys?: number } = {}): LoginRateLimiter {
    const shared = {
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }),
    };
    return new LoginRateLimiter({
      byEmail: new InMemoryRateLimiter({ ...LOGIN_RATE_LIMITS.email, ...shared }),
      byIp: new InMemoryRateLimiter({ ...LOGIN_RATE_LIMITS.ip, ...shared }),
    });
  }

  /** Whether this attempt may proceed; when refused, the longer of the two waits. */
  async check(attempt: LoginAttempt): Promise<RateLimitDecision> {
    const [email, ip] = await Promise.all([this.#byEmail.check(emailKey(attempt.email)), this.#byIp.check(attempt.ip)]);
    return combine(email, ip);
  }

  async recordFailure(attempt: LoginAttempt): Promise<RateLimitDecision> {
    const [email, ip] = await Promise.all([this.#byEmail.hit(emailKey(attempt.email)), this.#byIp.hit(attempt.ip)]);
    return combine(email, ip);
  }

  /** Clears the email's failures; the IP's stay, so one good account cannot launder an IP's guessing. */
  async recordSuccess(attempt: Pick<LoginAttempt, 'email'>): Promise<void> {
    await this.#byEmail.reset(emailKey(attempt.email));
  }
}

// Case and surrounding spaces must not give an attacker fresh counters for the same account.
const emailKey = (email: string): string => email.trim().toLowerCase();

function combine(a: RateLimitDecision, b: RateLimitDecision): RateLimitDecision {
  return a.allowed && b.allowed ? ALLOWED : { allowed: false, retryAfterSeconds: Math.max(a.retryAfterSeconds, b.retryAfterSeconds) };
}

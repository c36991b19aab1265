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

/** The outcome of `take`: refused (nothing recorded), or allowed with the id of the recorded event. */
export type RateLimitReservation = (RateLimitDecision & { readonly allowed: false }) | { readonly allowed: true; readonly retryAfterSeconds: 0; readonly id: string };

/** Counts events (failed logins, say) per key within a sliding window. */
export interface RateLimiter {
  /** Whether one more event is allowed now, without recording anything. */
  check(key: string): Promise<RateLimitDecision>;
  /** Records an event and returns the decision for the next one. */
  hit(key: string): Promise<RateLimitDecision>;
  /**
   * Atomically: when one more event is allowed, records it and returns its id (for `release`);
   * otherwise records nothing. Concurrent callers can never take more than the limit between them.
   */
  take(key: string): Promise<RateLimitReservation>;
  /** Removes one event recorded by `take` (the attempt turned out not to count). */
  release(key: string, id: string): Promise<void>;
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

  take(key: string): Promise<RateLimitReservation> {
    const now = this.#now();
    const decision = this.#decide(this.#live(key, now), now);
    if (!decision.allowed) {
      return Promise.resolve({ allowed: false, retryAfterSeconds: decision.retryAfterSeconds });
    }
    // Synchronous from the check to the record, so no other caller can slip in between.
    void this.hit(key);
    return Promise.resolve({ allowed: true, retryAfterSeconds: 0, id: String(now) });
  }

  release(key: string, id: string): Promise<void> {
    const events = this.#events.get(key);
    const at = events === undefined ? -1 : events.lastIndexOf(Number(id));
    if (events !== undefined && at !== -1) {
      events.splice(at, 1);
      if (events.length === 0) {
        this.#events.delete(key);
      }
    }
    return Promise.resolve();
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

/**
 * Login defaults, each per sliding 15 minutes: 5 failures per email from one client IP (the lock a
 * guesser meets), 100 failures per email from all IPs together (a ceiling against distributed
 * guessing, far above what one IP can cause, so nobody locks a user out from elsewhere with a few
 * requests), and 50 failures per client IP across emails.
 */
export const LOGIN_RATE_LIMITS = {
  emailAndIp: { limit: 5, windowMs: FIFTEEN_MINUTES_MS },
  email: { limit: 100, windowMs: FIFTEEN_MINUTES_MS },
  ip: { limit: 50, windowMs: FIFTEEN_MINUTES_MS },
} as const;

export interface LoginAttempt {
  readonly email: string;
  readonly ip: string;
}

/** The three login counters: this email from this IP, this email from anywhere, this IP for any email. */
export type LoginLimit = 'email-and-ip' | 'email' | 'ip';

/** A decision on the next login attempt, naming the counters that refuse it (none when allowed). */
export type LoginDecision = RateLimitDecision & { readonly refusedBy: readonly LoginLimit[] };

/** One admitted login attempt, counted as a failure until `succeeded` says otherwise. */
export interface LoginReservation {
  /** The password was right: the attempt is not a failure, and the email's failures from this IP are forgotten. */
  succeeded(): Promise<void>;
  /** The password was wrong: the attempt stays counted; returns whether the next attempt would be refused, and by which counters. */
  failed(): Promise<LoginDecision>;
}

export type LoginAdmission = (RateLimitDecision & { readonly allowed: false }) | ({ readonly allowed: true; readonly retryAfterSeconds: 0 } & LoginReservation);

interface LoginPorts {
  readonly byEmailAndIp: RateLimiter;
  readonly byEmail: RateLimiter;
  readonly byIp: RateLimiter;
}

/**
 * Failed-login throttling by (email, client IP), by email and by client IP. The login handler calls
 * `admit` before verifying the password: it counts the attempt as a failure up front, atomically,
 * so a burst of concurrent guesses cannot all be verified before the first failure is recorded
 * (429 with Retry-After when refused; no password is checked then). On a right password the
 * handler calls `succeeded`, which takes the attempt back; on a wrong one `failed`.
 */
export class LoginRateLimiter {
  readonly #ports: LoginPorts;

  constructor(ports: LoginPorts) {
    this.#ports = ports;
  }

  /** In-memory limiters with the login defaults. */
  static inMemory(options: { readonly now?: () => number; readonly maxKeys?: number } = {}): LoginRateLimiter {
    const shared = {
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }),
    };
    return new LoginRateLimiter({
      byEmailAndIp: new InMemoryRateLimiter({ ...LOGIN_RATE_LIMITS.emailAndIp, ...shared }),
      byEmail: new InMemoryRateLimiter({ ...LOGIN_RATE_LIMITS.email, ...shared }),
      byIp: new InMemoryRateLimiter({ ...LOGIN_RATE_LIMITS.ip, ...shared }),
    });
  }

  /** Whether an attempt would be admitted now, recording nothing; when refused, the longest wait and the counters that refuse. */
  async check(attempt: LoginAttempt): Promise<LoginDecision> {
    const keys = keysOf(attempt);
    const decisions = await Promise.all(PORTS.map((port) => this.#ports[port].check(keys[port])));
    return { ...decisions.reduce(combine, ALLOWED), refusedBy: PORTS.filter((_, i) => !decisions[i]!.allowed).map((port) => LIMIT_OF[port]) };
  }

  /**
   * Reserves the attempt on all three counters (each atomically). When any refuses, the others'
   * reservations are given back and the longest wait is returned.
   */
  async admit(attempt: LoginAttempt): Promise<LoginAdmission> {
    const keys = keysOf(attempt);
    const taken = await Promise.all(PORTS.map((port) => this.#ports[port].take(keys[port])));
    const release = async (): Promise<void> => {
      await Promise.all(PORTS.map((port, i) => {
        const t = taken[i]!;
        return t.allowed ? this.#ports[port].release(keys[port], t.id) : Promise.resolve();
      }));
    };
    if (!taken.every((t) => t.allowed)) {
      await release();
      return { allowed: false, retryAfterSeconds: Math.max(...taken.map((t) => t.retryAfterSeconds)) };
    }
    return {
      allowed: true,
      retryAfterSeconds: 0,
      succeeded: async () => {
        await release();
        // The IP's and the email's other failures stay: one good account cannot launder an IP's guessing,
        // and a user's own login does not reset what others tried against the account.
        await this.#ports.byEmailAndIp.reset(keys.byEmailAndIp);
      },
      failed: () => this.check(attempt),
    };
  }

  /**
   * Lifts an account's lockout: forgets the failures counted against the email, and against the
   * email from each of `ips` (the addresses it failed from lately). The addresses' own counters stay:
   * an address guessing at many accounts is not let off by one account's unlock.
   */
  async unlock(email: string, ips: readonly string[]): Promise<void> {
    const address = emailKey(email);
    await Promise.all([this.#ports.byEmail.reset(address), ...ips.map((ip) => this.#ports.byEmailAndIp.reset(keysOf({ email, ip }).byEmailAndIp))]);
  }

  /** Records a failure without an admission (for tests and tools). */
  async recordFailure(attempt: LoginAttempt): Promise<RateLimitDecision> {
    const keys = keysOf(attempt);
    const decisions = await Promise.all(PORTS.map((port) => this.#ports[port].hit(keys[port])));
    return decisions.reduce(combine, ALLOWED);
  }
}

const PORTS = ['byEmailAndIp', 'byEmail', 'byIp'] as const;
const LIMIT_OF: Readonly<Record<(typeof PORTS)[number], LoginLimit>> = { byEmailAndIp: 'email-and-ip', byEmail: 'email', byIp: 'ip' };

// Case and surrounding spaces must not give an attacker fresh counters for the same account.
const emailKey = (email: string): string => email.trim().toLowerCase();

function keysOf(attempt: LoginAttempt): Record<(typeof PORTS)[number], string> {
  const email = emailKey(attempt.email);
  const client = clientKey(attempt.ip);
  // JSON keeps the pair unambiguous whatever characters the email holds.
  return { byEmailAndIp: JSON.stringify([email, client]), byEmail: email, byIp: client };
}

/** The 8 hextets of an IPv6 address (a trailing dotted IPv4 part and a zone id allowed), or undefined when it is not one. */
function ipv6Hextets(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  const dotted = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted !== null) {
    const bytes = dotted.slice(2).map(Number);
    if (bytes.some((b) => b > 255)) {
      return undefined;
    }
    text = `${dotted[1]!}${((bytes[0]! << 8) | bytes[1]!).toString(16)}:${((bytes[2]! << 8) | bytes[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) {
    return undefined;
  }
  const parse = (part: string): number[] | undefined => {
    if (part === '') {
      return [];
    }
    const groups = part.split(':');
    return groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g)) ? groups.map((g) => parseInt(g, 16)) : undefined;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === undefined || tail === undefined) {
    return undefined;
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) {
    return undefined;
  }
  return [...head, ...Array<number>(missing).fill(0), ...tail];
}

/**
 * The client a login attempt is counted against, from its address: an IPv6 address by its /64
 * prefix (a host is usually given a whole /64, so counting each address let one guesser use 2^64
 * fresh counters; the hosts of one /64, a LAN or a subnet, then share limits, as the users behind
 * one NAT'd IPv4 address do — docs/api.md says so), an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
 * as a dual-stack socket reports IPv4 clients) as the IPv4 address; anything else as it is.
 */
export function clientKey(ip: string): string {
  const hextets = ip.includes(':') ? ipv6Hextets(ip.trim()) : undefined;
  if (hextets === undefined) {
    return ip;
  }
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6]! >> 8, hextets[6]! & 0xff, hextets[7]! >> 8, hextets[7]! & 0xff].join('.');
  }
  return `${hextets.slice(0, 4).map((h) => h.toString(16)).join(':')}::/64`;
}

function combine(a: RateLimitDecision, b: RateLimitDecision): RateLimitDecision {
  return a.allowed && b.allowed ? ALLOWED : { allowed: false, retryAfterSeconds: Math.max(a.retryAfterSeconds, b.retryAfterSeconds) };
}

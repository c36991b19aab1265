import type { Context } from 'hono';
import { TOKEN_PREFIX, TokenKind, hashToken, looksLikeToken } from '../../auth/tokens.js';
import { AppError, AppErrorCode } from '../../errors.js';
import type { Queryable } from '../../store/db.js';
import { isUnavailableError } from '../../store/database.js';
import { credentials } from '../../store/credentials.js';
import type { SdkKey } from '../../store/credentials.js';

/** The header SDKs send their key in. */
export const SDK_KEY_HEADER = 'x-xp-sdk-key';

/** Query parameter names that look like someone put a key in the URL. */
const KEY_PARAM = /^(?:k|key|sdk[-_]?key|api[-_]?key|client[-_]?key|(?:access[-_]?|auth[-_]?)?token|x-xp-sdk-key)$/i;
const KEY_IN_TEXT = /xpk_(?:srv|cli)_/;

export interface SdkKeyCacheOptions {
  /** How long a lookup (hit or miss) is reused; a revoked key keeps working at most this long. Default 30 s. */
  readonly ttlMs?: number;
  /** Entries kept; the oldest is dropped beyond it. Default 10,000. */
  readonly maxEntries?: number;
  /** How long a lookup may take before the caller gets 503 with Retry-After (or the last known record). Default 2 s. */
  readonly lookupTimeoutMs?: number;
  /** How long after expiry an entry still answers while the database cannot: default 10 minutes. */
  readonly staleMs?: number;
  readonly now?: () => number;
}

/** Retry-After when a lookup cannot be had from a slow or unavailable database. */
const LOOKUP_RETRY_SECONDS = 2;

interface CachedKey {
  readonly key: SdkKey | undefined;
  readonly expiresAt: number;
}

/** The caches of this process, so a revocation made here drops its keys from them at once. */
const liveCaches = new Set<WeakRef<SdkKeyCache>>();

/**
 * Drops SDK keys (by id) from every key cache of this process: called once their revocation (or
 * deletion with their environment or project) has committed, so they stop working here at once.
 * Other processes (other instances, Lambdas) still take up to their cache's TTL.
 */
export function forgetSdkKeys(ids: readonly string[]): void {
  if (ids.length === 0) {
    return;
  }
  const gone = new Set(ids);
  for (const ref of liveCaches) {
    const cache = ref.deref();
    if (cache === undefined) {
      liveCaches.delete(ref);
    } else {
      cache.forget(gone);
    }
  }
}

/**
 * SDK key records by key hash, cached so the warm path runs no SQL. Revocation takes effect within
 * `ttlMs` (30 s by default) on every instance, without any cross-instance invalidation; at once in
 * the process that revoked the key (`forgetSdkKeys`). An expiry (a rotated-out key) takes effect
 * on time everywhere. Each lookup that finds a key records its use (`lastUsedAt`).
 */
export class SdkKeyCache {
  private readonly entries = new Map<string, CachedKey>();
  private readonly loading = new Map<string, Promise<SdkKey | undefined>>();
  // Counts `forget` calls: a lookup begun before one may have read a key revoked since, and is not cached.
  private forgotten = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly lookupTimeoutMs: number;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Queryable,
    options: SdkKeyCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? 2_000;
    this.staleMs = options.staleMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
    liveCaches.add(new WeakRef(this));
  }

  /** Drops the keys with these ids, and the lookups in flight (which may have read them before they went). */
  forget(ids: ReadonlySet<string>): void {
    this.forgotten++;
    this.loading.clear();
    for (const [hash, cached] of this.entries) {
      if (cached.key !== undefined && ids.has(cached.key.id)) {
        this.entries.delete(hash);
      }
    }
  }

  /**
   * The working key record for a well-formed key, or undefined (unknown, revoked or expired). When the
   * database is slow or down, a record looked up in the last `staleMs` still answers (SDKs keep
   * working through a failover); without one, 503 UNAVAILABLE with Retry-After, never a hang.
   */
  async find(key: string): Promise<SdkKey | undefined> {
    const hash = hashToken(key);
    const cached = this.entries.get(hash);
    if (cached !== undefined && cached.expiresAt > this.now()) {
      return cached.key;
    }
    const forgotten = this.forgotten;
    let pending = this.loading.get(hash);
    if (pending === undefined) {
      pending = this.lookUp(hash).finally(() => this.loading.delete(hash));
      this.loading.set(hash, pending);
    }
    let found: SdkKey | undefined;
    try {
      found = await withinDeadline(pending, this.lookupTimeoutMs, 'the key lookup');
    } catch (error) {
      if (isUnavailableError(error)) {
        return this.stale(cached, new AppError(AppErrorCode.Unavailable, 'the database is unavailable; retry later', { retryAfterSeconds: LOOKUP_RETRY_SECONDS }));
      }
      if (error instanceof AppError && error.code === AppErrorCode.Unavailable) {
        return this.stale(cached, error);
      }
      throw error;
    }
    if (forgotten !== this.forgotten) {
      // A key was revoked while this lookup ran: the next request reads again.
      return found;
    }
    this.entries.delete(hash);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) {
        this.entries.delete(oldest.value);
      }
    }
    // A key being rotated out is dropped when it expires, not up to a TTL later.
    const until = found === undefined || found.expiresAt === null ? Infinity : Date.parse(found.expiresAt);
    this.entries.set(hash, { key: found, expiresAt: Math.min(this.now() + this.ttlMs, until) });
    return found;
  }

  /**
   * Reads the key, and records its use without waiting for the write: the record is for people
   * (which keys are still in use before one is revoked), never worth a slower or failed SDK call.
   */
  private async lookUp(hash: string): Promise<SdkKey | undefined> {
    const now = new Date(this.now());
    const found = await credentials.findSdkKey(this.db, hash, now);
    if (found !== undefined) {
      credentials.touchSdkKey(this.db, found.id, now).catch(() => undefined);
    }
    return found;
  }

  /** The last known record while the database cannot answer, if recent enough; else the 503. */
  private stale(cached: CachedKey | undefined, unavailable: AppError): SdkKey | undefined {
    if (cached?.key !== undefined && cached.key.expiresAt !== null && Date.parse(cached.key.expiresAt) <= this.now()) {
      // A rotated-out key past its expiry stays refused, outage or not.
      return undefined;
    }
    if (cached !== undefined && cached.expiresAt + this.staleMs > this.now()) {
      return cached.key;
    }
    throw unavailable;
  }
}

/**
 * Settles as `lookup` does, or rejects with 503 UNAVAILABLE (Retry-After) once `ms` have passed:
 * a stalled database never holds an SDK request. `what` names the lookup in the message.
 */
export async function withinDeadline<T>(lookup: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      lookup.catch(() => undefined);
      reject(new AppError(AppErrorCode.Unavailable, `${what} timed out; retry later`, { retryAfterSeconds: LOOKUP_RETRY_SECONDS }));
    }, ms);
  });
  try {
    return await Promise.race([lookup, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Who is calling an SDK endpoint. */
export interface SdkCaller {
  readonly keyId: string;
  readonly projectId: string;
  readonly environment: string;
  readonly kind: 'server' | 'client';
}

const unauthenticated = (message: string): AppError => new AppError(AppErrorCode.Unauthenticated, message);

/**
 * Refuses a server-side key in a request a web page made (browsers send `Origin` with every
 * cross-origin request, and with a same-origin POST): the key is secret, its ruleset holds the
 * server-side-only flags and experiments, and whoever opens the page can read it from there. Servers
 * (Node, Python, edge functions) send no `Origin`. Checked before the key is looked up: a leaked
 * key is refused alike whether it is valid or not.
 */
export function rejectServerKeyFromPage(c: Context, key: string | undefined): void {
  const origin = c.req.header('origin');
  if (origin === undefined || key === undefined || !key.trim().startsWith(TOKEN_PREFIX[TokenKind.ServerSdkKey])) {
    return;
  }
  throw new AppError(
    AppErrorCode.Forbidden,
    'a server-side SDK key (xpk_srv_…) cannot be used from a web page: it is secret, and anyone who opens the page can read it. Use the environment\'s client-side key (xpk_cli_…) in browsers, and revoke this server key (it has been published)',
    { origin: origin.slice(0, 200) },
  );
}

/**
 * Refuses SDK keys in the URL: URLs are written to access logs, proxies and browser history.
 * `allowClientKeyParam` lets the split-URL redirect take a client key as `k`.
 */
export function rejectKeysInQuery(c: Context, allowClientKeyParam = false): void {
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (allowClientKeyParam && name === 'k') {
      if (values.length > 1) {
        throw new AppError(AppErrorCode.Validation, 'give the client-side SDK key once (?k= appears more than once)', { issues: [{ path: 'query.k', message: 'repeated' }] });
      }
      const value = values[0] ?? '';
      if (value.includes('xpk_srv_')) {
        throw new AppError(AppErrorCode.Validation, 'only a client-side SDK key (xpk_cli_…) may be given as ?k=; server-side keys are secret and must never appear in a URL', {
          issues: [{ path: 'query.k', message: 'not a client-side SDK key' }],
        });
      }
      if (!looksLikeToken(TokenKind.ClientSdkKey, value)) {
        // A link cut short in an e-mail, a typo: a bad key, like one in the header (401).
        throw unauthenticated('the SDK key in ?k= is malformed: a split-URL link carries the environment\'s client-side key (xpk_cli_…) whole');
      }
      continue;
    }
    // A redirect's other parameters are the destination's (a sign-in link's token, a partner's key):
    // only an SDK key among them is refused there (a server key leaked into a link).
    const keyLike = allowClientKeyParam ? values.some((v) => KEY_IN_TEXT.test(v)) : KEY_PARAM.test(name) || values.some((v) => KEY_IN_TEXT.test(v));
    if (keyLike) {
      throw new AppError(
        AppErrorCode.Validation,
        `send the SDK key in the X-XP-SDK-Key header, never in the URL (URLs end up in logs and caches); if it was a server-side key, rotate it`,
        { issues: [{ path: `query.${name.slice(0, 32)}`, message: 'SDK key in the query string' }] },
      );
    }
  }
}

/** Resolves the caller's SDK key from `key` (header or, for redirects, `?k=`). */
export async function authenticateSdkKey(cache: SdkKeyCache, key: string | undefined, allowed: readonly ('server' | 'client')[]): Promise<SdkCaller> {
  if (key === undefined || key === '') {
    throw unauthenticated('send an SDK key in the X-XP-SDK-Key header');
  }
  const kind = looksLikeToken(TokenKind.ServerSdkKey, key) ? 'server' : looksLikeToken(TokenKind.ClientSdkKey, key) ? 'client' : undefined;
  if (kind === undefined) {
    throw unauthenticated('the SDK key is malformed');
  }
  const record = await cache.find(key);
  if (record === undefined) {
    throw unauthenticated('the SDK key is unknown, revoked or expired');
  }
  if (!allowed.includes(record.kind)) {
    throw new AppError(AppErrorCode.Forbidden, `a ${record.kind}-side SDK key cannot call this endpoint`);
  }
  return { keyId: record.id, projectId: record.projectId, environment: record.environment, kind: record.kind };
}

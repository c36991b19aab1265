import { gzip } from 'node:zlib';
import type { Ruleset } from '@xp/shared';
import { clientRuleset, hasServerOnlyKeys } from '@xp/shared/edge';
import type { Logger, RulesetNotifier } from '../../domain/context.js';
import type { PublishedRuleset, RulesetStore } from '../../store/ruleset-store.js';

/** One audience's view of a published ruleset: its JSON is serialised once. */
export interface RulesetView {
  readonly projectId: string;
  readonly environment: string;
  readonly version: number;
  /** Quoted: a strong HTTP ETag. */
  readonly etag: string;
  readonly ruleset: Ruleset;
  readonly json: string;
  /**
   * The JSON gzipped, computed once per view (so once per published version and audience) on the
   * first request that accepts gzip, then kept beside the JSON for as long as the version is cached.
   * Undefined for JSON under GZIP_MIN_BYTES: not worth compressing.
   */
  readonly gzip: () => Buffer | Promise<Buffer> | undefined;
}

/** JSON shorter than this (in UTF-16 units, a lower bound of its bytes) is always sent uncompressed. */
export const GZIP_MIN_BYTES = 1024;

/**
 * The lazy gzip of `json`: compressed on zlib's thread pool (a multi-megabyte ruleset takes tens of
 * milliseconds, which must not block the event loop), the promise shared by concurrent requests, the
 * bytes returned synchronously once ready. A failed compression is forgotten so the next request retries.
 */
function lazyGzip(json: string): () => Buffer | Promise<Buffer> | undefined {
  if (json.length < GZIP_MIN_BYTES) {
    return () => undefined;
  }
  let bytes: Buffer | undefined;
  let pending: Promise<Buffer> | undefined;
  return () => {
    if (bytes !== undefined) {
      return bytes;
    }
    pending ??= new Promise<Buffer>((resolve, reject) => {
      gzip(json, (error, result) => {
        if (error !== null) {
          pending = undefined;
          reject(error);
          return;
        }
        bytes = result;
        resolve(result);
      });
    });
    return pending;
  };
}

function viewOf(base: Omit<RulesetView, 'ruleset' | 'json' | 'gzip' | 'etag'>, etag: string, ruleset: Ruleset, json: string): RulesetView {
  return { projectId: base.projectId, environment: base.environment, version: base.version, etag, ruleset, json, gzip: lazyGzip(json) };
}

/** A published ruleset ready to serve: the whole (server-side SDK keys) and what client-side keys get. */
export interface ServedRuleset extends RulesetView {
  /** Without the server-side-only flags and experiments; the same view when there are none. */
  readonly client: RulesetView;
  /**
   * The whole ruleset plus a top-level `serverOnly: { flags, experiments, savedGroups, holdouts }`
   * listing the keys client-side keys do not get (`GET /ruleset?include=serverOnly`, server keys;
   * see leftOut), so an SDK can strip them from a snapshot meant for a browser. The same view when
   * the client view lacks nothing.
   * Same ETag as the whole: its content is a function of the store's etag, which covers the list.
   */
  readonly annotated: RulesetView;
}

export interface RulesetCacheOptions {
  /** How long a ruleset is served without asking the store again. Default 5 s. */
  readonly ttlMs?: number;
  /** How often watched environments are re-read from the store (other instances' publishes). Default 5 s. */
  readonly pollMs?: number;
  readonly notifier?: RulesetNotifier | undefined;
  readonly logger: Logger;
  readonly now?: () => number;
}

interface Entry {
  value: ServedRuleset | undefined;
  fetchedAt: number;
}

interface Watch {
  readonly listeners: Set<(ruleset: ServedRuleset) => void>;
  readonly timer: NodeJS.Timeout;
}

const keyOf = (projectId: string, environment: string): string => `${projectId}#${environment}`;

function serve(p: PublishedRuleset): ServedRuleset {
  const whole = viewOf(p, `"${p.etag}"`, p.ruleset, JSON.stringify(p.ruleset));
  if (!hasServerOnlyKeys(p.serverOnly)) {
    return { ...whole, client: whole, annotated: whole };
  }
  // The store's etag covers the server-only keys, so the client view's content is a function of it.
  const ruleset = clientRuleset(p.ruleset, p.serverOnly);
  const serverOnly = leftOut(p.ruleset, ruleset);
  return {
    ...whole,
    client: viewOf(p, `"${p.etag}-client"`, ruleset, JSON.stringify(ruleset)),
    annotated: serverOnly === undefined ? whole : viewOf(p, whole.etag, p.ruleset, JSON.stringify({ ...p.ruleset, serverOnly })),
  };
}

/**
 * The `serverOnly` annotation (`GET /ruleset?include=serverOnly`): the keys of each section of the
 * whole ruleset that the client view lacks, sorted; undefined when it lacks none. Not the keys marked
 * `clientSide: false`: a marked flag that a client-side flag needs as a prerequisite (and a marked
 * experiment a client-side flag runs) is in the client view, so it is not listed, and removing the
 * listed entries from the whole ruleset gives the client view exactly.
 */
export interface ServerOnlyListing {
  readonly flags: readonly string[];
  readonly experiments: readonly string[];
  readonly savedGroups: readonly string[];
  readonly holdouts: readonly string[];
}

export function leftOut(whole: Ruleset, client: Ruleset): ServerOnlyListing | undefined {
  const missing = (all: Readonly<Record<string, unknown>> | undefined, kept: Readonly<Record<string, unknown>> | undefined): string[] =>
    Object.keys(all ?? {})
      .filter((key) => kept === undefined || !Object.hasOwn(kept, key))
      .sort();
  const listing: ServerOnlyListing = {
    flags: missing(whole.flags, client.flags),
    experiments: missing(whole.experiments, client.experiments),
    savedGroups: missing(whole.savedGroups, client.savedGroups),
    holdouts: missing(whole.holdouts, client.holdouts),
  };
  return [listing.flags, listing.experiments, listing.savedGroups, listing.holdouts].some((keys) => keys.length > 0) ? listing : undefined;
}

/** What `read` answers when the cached version is still the newest. */
const UNCHANGED = Symbol('unchanged');

/**
 * Published rulesets in memory, per project and environment. The notifier replaces an entry the
 * moment this process publishes; the TTL bounds staleness when another instance published. When
 * the store fails, the last good copy keeps being served (and the failure logged).
 *
 * A TTL check asks the store for a version newer than the cached one, which reads no item (DynamoDB's
 * minimum charge) while there is none, instead of reading, and being billed by the size of, the
 * whole newest ruleset (tens of read units) every TTL per instance and environment.
 */
export class RulesetCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<ServedRuleset | undefined>>();
  private readonly subscribed = new Set<string>();
  private readonly watches = new Map<string, Watch>();
  private readonly ttlMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: RulesetStore,
    private readonly options: RulesetCacheOptions,
  ) {
    this.ttlMs = options.ttlMs ?? 5_000;
    this.pollMs = options.pollMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** The latest ruleset, from memory when fresh; undefined when none was ever published. */
  async get(projectId: string, environment: string): Promise<ServedRuleset | undefined> {
    const key = keyOf(projectId, environment);
    this.subscribe(projectId, environment);
    const entry = this.entries.get(key);
    if (entry !== undefined && this.now() - entry.fetchedAt < this.ttlMs) {
      return entry.value;
    }
    return this.load(projectId, environment);
  }

  /**
   * Calls `listener` with every newer version of the environment: at once for this process's
   * publishes, within `pollMs` for other instances'. Returns the function that stops watching.
   */
  watch(projectId: string, environment: string, listener: (ruleset: ServedRuleset) => void): () => void {
    const key = keyOf(projectId, environment);
    this.subscribe(projectId, environment);
    let watch = this.watches.get(key);
    if (watch === undefined) {
      const timer = setInterval(() => {
        void this.load(projectId, environment).catch(() => undefined);
      }, this.pollMs);
      timer.unref();
      watch = { listeners: new Set(), timer };
      this.watches.set(key, watch);
    }
    watch.listeners.add(listener);
    const current = watch;
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0 && this.watches.get(key) === current) {
        clearInterval(current.timer);
        this.watches.delete(key);
      }
    };
  }

  /** Environments with an open watch (for tests and health output). */
  watchedCount(): number {
    return this.watches.size;
  }

  private subscribe(projectId: string, environment: string): void {
    const key = keyOf(projectId, environment);
    if (this.options.notifier === undefined || this.subscribed.has(key)) {
      return;
    }
    this.subscribed.add(key);
    this.options.notifier.subscribe(projectId, environment, (p) => {
      this.update(key, serve(p));
    });
  }

  private load(projectId: string, environment: string): Promise<ServedRuleset | undefined> {
    const key = keyOf(projectId, environment);
    let pending = this.loading.get(key);
    if (pending === undefined) {
      pending = this.fetch(key, projectId, environment).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async fetch(key: string, projectId: string, environment: string): Promise<ServedRuleset | undefined> {
    const entry = this.entries.get(key);
    try {
      const latest = await this.read(projectId, environment, entry?.value);
      if (latest === UNCHANGED) {
        // Only ever answered when there is a cached value.
        if (entry !== undefined) {
          entry.fetchedAt = this.now();
        }
        return entry?.value;
      }
      if (latest === undefined) {
        this.entries.set(key, { value: entry?.value, fetchedAt: this.now() });
        return entry?.value;
      }
      if (entry?.value?.version === latest.version) {
        entry.fetchedAt = this.now();
        return entry.value;
      }
      return this.update(key, serve(latest));
    } catch (error) {
      if (entry?.value === undefined) {
        throw error;
      }
      // Serve the last good copy for another TTL rather than fail every SDK while the store is down.
      entry.fetchedAt = this.now();
      this.options.logger.warn('ruleset store read failed; serving the cached version', {
        projectId,
        environment,
        version: entry.value.version,
        error: error instanceof Error ? error.message : 'unknown',
      });
      return entry.value;
    }
  }

  /** With a cached version, only a newer one (UNCHANGED when there is none); without, the newest. */
  private async read(projectId: string, environment: string, cached: ServedRuleset | undefined): Promise<PublishedRuleset | undefined | typeof UNCHANGED> {
    if (cached === undefined) {
      return this.store.latest(projectId, environment);
    }
    return (await this.store.newerThan(projectId, environment, cached.version)) ?? UNCHANGED;
  }

  /** Keeps the newest version and tells watchers; an older or equal version changes nothing. */
  private update(key: string, next: ServedRuleset): ServedRuleset {
    const entry = this.entries.get(key);
    if (entry?.value !== undefined && entry.value.version >= next.version) {
      entry.fetchedAt = this.now();
      return entry.value;
    }
    this.entries.set(key, { value: next, fetchedAt: this.now() });
    for (const listener of [...(this.watches.get(key)?.listeners ?? [])]) {
      listener(next);
    }
    return next;
  }
}

/**
 * Whether an Accept-Encoding header accepts gzip: `gzip`, `x-gzip` or `*` with a q-value above 0,
 * unless gzip itself is listed with q=0 (RFC 9110 §12.5.3).
 */
export function acceptsGzip(header: string): boolean {
  const lower = header.toLowerCase();
  if (!lower.includes('gzip') && !lower.includes('*')) {
    return false;
  }
  let star = false;
  for (const part of lower.split(',')) {
    const [name = '', ...params] = part.split(';');
    const coding = name.trim();
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') {
      continue;
    }
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    const accepted = Number.isFinite(weight) && weight > 0;
    if (coding === '*') {
      star = accepted;
    } else {
      return accepted;
    }
  }
  return star;
}

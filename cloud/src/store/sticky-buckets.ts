/**
 * Sticky bucketing for server-side evaluation (/sdk/v1/evaluate). The engine's StickyBucketStore is
 * synchronous, so a request first loads the assignments of the units it may evaluate (one MGET),
 * evaluates against that snapshot, then writes back what changed (one MULTI). Keys and values use the
 * SDK's format (`<prefix><project>:<attribute>||<value>` → JSON object), so a server SDK using
 * @xp/sdk's RedisStickyBucketStore with the same prefix shares the assignments.
 */
import type { Ruleset, StickyBucketStore } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import type { SharedStoreClient } from './redis.js';

type Assignments = Readonly<Record<string, string>>;

/** One unit as sticky bucketing identifies it: the hash attribute's name and value. */
export interface StickyUnit {
  readonly hashAttribute: string;
  readonly hashValue: string;
}

/** The asynchronous port behind the request snapshot; Redis or process memory. */
export interface StickyAssignmentStore {
  /** Assignments per `stickyKey`; units without any are absent. */
  load(projectId: string, units: readonly StickyUnit[]): Promise<Map<string, Assignments>>;
  save(projectId: string, updates: ReadonlyMap<string, Assignments>): Promise<void>;
}

export const stickyKey = (hashAttribute: string, hashValue: string): string => `${hashAttribute}||${hashValue}`;

/** Bounded in-process store: the fallback when REDIS_URL is not set (one instance only). */
export class InMemoryStickyAssignmentStore implements StickyAssignmentStore {
  readonly #units = new Map<string, Assignments>();
  readonly #maxUnits: number;

  constructor(options: { readonly maxUnits?: number } = {}) {
    this.#maxUnits = Math.max(1, options.maxUnits ?? 100_000);
  }

  get size(): number {
    return this.#units.size;
  }

  load(projectId: string, units: readonly StickyUnit[]): Promise<Map<string, Assignments>> {
    const out = new Map<string, Assignments>();
    for (const u of units) {
      const key = stickyKey(u.hashAttribute, u.hashValue);
      const found = this.#units.get(`${projectId}:${key}`);
      if (found !== undefined) {
        out.set(key, found);
      }
    }
    return Promise.resolve(out);
  }

  save(projectId: string, updates: ReadonlyMap<string, Assignments>): Promise<void> {
    for (const [key, assignments] of updates) {
      const full = `${projectId}:${key}`;
      this.#units.delete(full);
      if (this.#units.size >= this.#maxUnits) {
        const oldest = this.#units.keys().next();
        if (oldest.done !== true) {
          this.#units.delete(oldest.value);
        }
      }
      this.#units.set(full, { ...assignments });
    }
    return Promise.resolve();
  }
}

export interface RedisStickyOptions {
  /** Default `xp:sticky:`. */
  readonly prefix?: string;
  /** Expiry of a unit's key, refreshed on every change. Default 90 days. */
  readonly ttlSeconds?: number;
}

/** Assignments in Redis, shared by every instance. Errors propagate (the snapshot degrades). */
export class RedisStickyAssignmentStore implements StickyAssignmentStore {
  readonly #prefix: string;
  readonly #ttl: number;

  constructor(
    private readonly client: SharedStoreClient,
    options: RedisStickyOptions = {},
  ) {
    this.#prefix = options.prefix ?? 'xp:sticky:';
    this.#ttl = options.ttlSeconds ?? 90 * 24 * 3600;
  }

  async load(projectId: string, units: readonly StickyUnit[]): Promise<Map<string, Assignments>> {
    const keys = units.map((u) => stickyKey(u.hashAttribute, u.hashValue));
    const values = await this.client.mGet(keys.map((k) => `${this.#prefix}${projectId}:${k}`));
    const out = new Map<string, Assignments>();
    values.forEach((text, i) => {
      if (text === null) {
        return;
      }
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === 'string')) {
          out.set(keys[i]!, parsed as Assignments);
        }
      } catch {
        // A corrupt value is treated as no assignment; the next save overwrites it.
      }
    });
    return out;
  }

  async save(projectId: string, updates: ReadonlyMap<string, Assignments>): Promise<void> {
    await this.client.setMany(
      [...updates].map(([key, value]) => ({ key: `${this.#prefix}${projectId}:${key}`, value: JSON.stringify(value) })),
      this.#ttl,
    );
  }
}

/** The units a ruleset's sticky experiments can hash this context on. */
export function stickyUnitsOf(ruleset: Ruleset, attributes: Readonly<Record<string, unknown>>): StickyUnit[] {
  const units = new Map<string, StickyUnit>();
  for (const exp of Object.values(ruleset.experiments ?? {})) {
    if (exp.sticky === undefined) {
      continue;
    }
    for (const attribute of [exp.hashAttribute, exp.fallbackAttribute]) {
      if (attribute === undefined) {
        continue;
      }
      const value = attributes[attribute];
      if ((typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value))) {
        const unit = { hashAttribute: attribute, hashValue: String(value) };
        units.set(stickyKey(unit.hashAttribute, unit.hashValue), unit);
      }
    }
  }
  return [...units.values()];
}

/** A request's synchronous view of the loaded assignments; `changes` are what evaluation wrote. */
export class StickySnapshot implements StickyBucketStore {
  readonly changes = new Map<string, Assignments>();

  constructor(private readonly loaded: ReadonlyMap<string, Assignments>) {}

  get(hashAttribute: string, hashValue: string): Assignments | undefined {
    const key = stickyKey(hashAttribute, hashValue);
    return this.changes.get(key) ?? this.loaded.get(key);
  }

  set(hashAttribute: string, hashValue: string, assignments: Assignments): void {
    this.changes.set(stickyKey(hashAttribute, hashValue), { ...assignments });
  }
}

/**
 * Loads the snapshot for one evaluation request; when the store fails, logs and returns undefined
 * (evaluation then runs without stickiness rather than failing the request).
 */
export async function loadStickySnapshot(store: StickyAssignmentStore, projectId: string, ruleset: Ruleset, attributes: Readonly<Record<string, unknown>>, logger: Logger): Promise<StickySnapshot | undefined> {
  const units = stickyUnitsOf(ruleset, attributes);
  if (units.length === 0) {
    return undefined;
  }
  try {
    return new StickySnapshot(await store.load(projectId, units));
  } catch (error) {
    logger.warn('sticky bucketing unavailable for this request; evaluating without it', { error: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

/** Writes back the snapshot's changes; failures are logged, never thrown. */
export async function saveStickySnapshot(store: StickyAssignmentStore, projectId: string, snapshot: StickySnapshot | undefined, logger: Logger): Promise<void> {
  if (snapshot === undefined || snapshot.changes.size === 0) {
    return;
  }
  try {
    await store.save(projectId, snapshot.changes);
  } catch (error) {
    logger.warn('sticky assignments not saved', { error: error instanceof Error ? error.message : String(error) });
  }
}

/**
 * Sticky bucketing for server-side evaluation (/sdk/v1/evaluate). The engine's StickyBucketStore is
 * synchronous, so a request first loads the assignments of the units it may evaluate (one MGET, or
 * one SELECT), evaluates against that snapshot, then writes back what changed (one MULTI, or one
 * upsert). In Redis, keys and values use the SDK's format (`<prefix><project>:<attribute>||<value>`
 * → JSON object), so a server SDK using @xp/sdk's RedisStickyBucketStore with the same prefix shares
 * the assignments. Without Redis they are in PostgreSQL (table sticky_assignments), or, for callers
 * with no database (tests), in process memory.
 */
import { readAttribute } from '@xp/shared';
import type { Ruleset, StickyBucketStore } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import type { Queryable } from './database.js';
import type { SharedStoreClient } from './redis.js';
import { pruneOlderThan } from './prune.js';
import type { PruneOptions } from './prune.js';

type Assignments = Readonly<Record<string, string>>;

/** One unit as sticky bucketing identifies it: the hash attribute's name and value. */
export interface StickyUnit {
  readonly hashAttribute: string;
  readonly hashValue: string;
}

/** The asynchronous port behind the request snapshot; Redis, PostgreSQL or process memory. */
export interface StickyAssignmentStore {
  /** Assignments per `stickyKey`; units without any are absent. */
  load(projectId: string, units: readonly StickyUnit[]): Promise<Map<string, Assignments>>;
  save(projectId: string, updates: ReadonlyMap<string, Assignments>): Promise<void>;
}

export const stickyKey = (hashAttribute: string, hashValue: string): string => `${hashAttribute}||${hashValue}`;

/**
 * Bounded in-process store (one instance only, lost on restart, oldest evicted past `maxUnits`): the
 * default of callers that pass no store and have no database (tests); servers use Redis or PostgreSQL.
 */
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
        if (isAssignments(parsed)) {
          out.set(keys[i]!, parsed);
        }
      } catch {
        // A corrupt value is treated as no assignment; the next save overwrites it.
      }
    });
    return out;
  }

  /**
   * Merges each unit's assignments into what Redis holds, in Redis (one script per key, so a
   * cluster never sees keys of two slots in one command): two instances evaluating one unit at
   * once each keep their experiment's assignment. A plain SET of the map each had loaded kept only
   * the last writer's, and a weight change then moved the other's units to another variation.
   */
  async save(projectId: string, updates: ReadonlyMap<string, Assignments>): Promise<void> {
    await Promise.all(
      [...updates].map(([key, value]) => this.client.eval(MERGE_ASSIGNMENTS, [`${this.#prefix}${projectId}:${key}`], [JSON.stringify(value), String(this.#ttl)])),
    );
  }
}

/**
 * KEYS[1]: a unit's assignments (a JSON object of strings); ARGV[1]: the assignments to set in it;
 * ARGV[2]: the expiry in seconds. What is stored and not an object of strings (corrupt) counts as
 * nothing, as `load` reads it.
 */
const MERGE_ASSIGNMENTS = `
local merged = {}
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, value = pcall(cjson.decode, stored)
  if ok and type(value) == 'table' then
    for k, v in pairs(value) do
      if type(k) == 'string' and type(v) == 'string' then merged[k] = v end
    end
  end
end
for k, v in pairs(cjson.decode(ARGV[1])) do merged[k] = v end
if next(merged) == nil then
  redis.call('SET', KEYS[1], '{}', 'EX', tonumber(ARGV[2]))
else
  redis.call('SET', KEYS[1], cjson.encode(merged), 'EX', tonumber(ARGV[2]))
end
return 1
`;

/** Whether a stored value is an assignment map (an object of strings); anything else counts as none. */
function isAssignments(value: unknown): value is Assignments {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** Default retention of PostgreSQL sticky assignments: as the Redis store's expiry, 90 days from the last change. */
export const STICKY_RETENTION_DAYS = 90;

/**
 * Assignments in PostgreSQL (table sticky_assignments, one row per project and unit): the store when
 * REDIS_URL is not set, so they survive restarts and are shared by every instance on the database.
 * Errors propagate (the snapshot degrades). Rows unchanged for the retention are removed by
 * pruneStickyAssignments (the local stack's upkeep, the aggregator Lambda).
 */
export class PostgresStickyAssignmentStore implements StickyAssignmentStore {
  constructor(private readonly db: Queryable) {}

  async load(projectId: string, units: readonly StickyUnit[]): Promise<Map<string, Assignments>> {
    const out = new Map<string, Assignments>();
    if (units.length === 0) {
      return out;
    }
    const keys = units.map((u) => stickyKey(u.hashAttribute, u.hashValue));
    const found = await this.db.query<{ unit_key: string; assignments: unknown }>('SELECT unit_key, assignments FROM sticky_assignments WHERE project_id = $1 AND unit_key = ANY($2::text[])', [projectId, keys]);
    for (const row of found.rows) {
      // The column is jsonb, so the driver hands back a parsed value; a string is parsed as a fallback.
      let value = row.assignments;
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value) as unknown;
        } catch {
          continue;
        }
      }
      // A corrupt value (not an object of strings) is treated as no assignment, as in Redis.
      if (isAssignments(value)) {
        out.set(row.unit_key, value);
      }
    }
    return out;
  }

  /**
   * One upsert for every unit. An existing row's assignments are merged with the new ones (jsonb `||`,
   * the new value winning per experiment key) rather than replaced: two concurrent requests that
   * assign the same unit to different experiments both keep theirs, where Redis's SET keeps only the
   * last write. A row whose stored value is not an object (corrupt) is replaced.
   */
  async save(projectId: string, updates: ReadonlyMap<string, Assignments>): Promise<void> {
    if (updates.size === 0) {
      return;
    }
    // Rows in key order, so concurrent saves of overlapping units lock them in the same order (no deadlock).
    const sorted = [...updates].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const keys = sorted.map(([key]) => key);
    const values = sorted.map(([, assignments]) => JSON.stringify(assignments));
    await this.db.query(
      `INSERT INTO sticky_assignments (project_id, unit_key, assignments, updated_at)
       SELECT $1, u.unit_key, u.assignments, now() FROM unnest($2::text[], $3::jsonb[]) AS u (unit_key, assignments)
       ON CONFLICT (project_id, unit_key) DO UPDATE SET
         assignments = CASE WHEN jsonb_typeof(sticky_assignments.assignments) = 'object' THEN sticky_assignments.assignments || EXCLUDED.assignments ELSE EXCLUDED.assignments END,
         updated_at = now()`,
      [projectId, keys, values],
    );
  }
}

/**
 * Deletes sticky assignments unchanged for `retentionDays` (default 90, the Redis store's expiry),
 * `chunk` rows per statement (each its own short transaction), until none is left or `deadline`
 * (epoch ms) has passed; returns how many. As pruneProcessedEvents, for the same callers.
 */
export function pruneStickyAssignments(db: Queryable, retentionDays: number = STICKY_RETENTION_DAYS, options: PruneOptions = {}): Promise<number> {
  return pruneOlderThan(db, 'sticky_assignments', retentionDays * 24, options);
}

/** The stored assignments a ruleset's sticky experiments can read for this context: its hash attribute's id and its fallback's. */
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
      // Read as bucketing reads it: a dotted name (`organization.key`) is a path.
      const value = readAttribute(attributes, attribute);
      if ((typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value))) {
        // Keyed as the evaluator keys them: by the experiment's hashAttribute, whichever attribute
        // the id came from (a fallback's id too, which a logged-in unit's evaluation also reads).
        const unit = { hashAttribute: exp.hashAttribute, hashValue: String(value) };
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

import { isDeepStrictEqual } from 'node:util';
import type { Flag } from '@xp/shared';
import { servingParts } from '@xp/shared';
import { AppError, AppErrorCode, notFound, versionConflict } from '../errors.js';
import type { Queryable } from './db.js';
import { DatabaseError, SqlState } from './database.js';
import type { Page, PageRequest } from './pagination.js';
import { decodeCursor, toPage } from './pagination.js';
import { iso } from './rows.js';
import { foldedSearch } from './search.js';

/** Kinds of definition documents, each in its own table with the same shape. */
export const DefinitionKind = {
  /** Feature flags. */
  Flag: 'flag',
  /** Saved id lists and conditions. */
  Segment: 'segment',
  /** Experiments (the table adds a status column). */
  Experiment: 'experiment',
  /** Metric definitions. */
  Metric: 'metric',
  /** Global holdouts. */
  Holdout: 'holdout',
} as const;
export type DefinitionKind = (typeof DefinitionKind)[keyof typeof DefinitionKind];

const TABLE: Readonly<Record<DefinitionKind, string>> = {
  flag: 'flags',
  segment: 'segments',
  experiment: 'experiments',
  metric: 'metrics',
  holdout: 'holdouts',
};

/** A stored definition with its bookkeeping. */
export interface StoredDefinition<T> {
  readonly key: string;
  readonly name: string;
  readonly definition: T;
  readonly archived: boolean;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly createdBy: string | null;
  readonly updatedBy: string | null;
  /** The last writer's name (their e-mail when the name is empty); null when unknown or deleted. */
  readonly updatedByName: string | null;
  /**
   * Flags only: when what the flag serves last changed (see @xp/shared's servingParts), which a
   * metadata edit does not move; the stale clock starts from it.
   */
  readonly servingChangedAt?: string;
}

interface Row {
  key: string;
  name: string;
  definition: unknown;
  archived: boolean;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
  created_by: string | null;
  updated_by: string | null;
  updated_by_name: string | null;
  serving_changed_at?: Date | string;
  /** A list sorted by a time: that time in microseconds since the epoch, for the cursor. */
  sort_value?: string;
}


function fromRow<T>(row: Row): StoredDefinition<T> {
  return {
    key: row.key,
    name: row.name,
    definition: row.definition as T,
    archived: row.archived,
    version: row.version,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
    updatedByName: row.updated_by_name,
    ...(row.serving_changed_at === undefined ? {} : { servingChangedAt: iso(row.serving_changed_at) }),
  };
}

const BASE_COLUMNS =
  "key, name, definition, archived, version, created_at, updated_at, created_by, updated_by, (SELECT coalesce(nullif(u.name, ''), u.email) FROM users u WHERE u.id = updated_by) AS updated_by_name";

export interface ListOptions extends PageRequest {
  /** Substring of key or name, ignoring case and accents (`searchFold`). */
  readonly search?: string | undefined;
  readonly includeArchived?: boolean | undefined;
  /** Experiments only: filter by status. */
  readonly status?: string | undefined;
  /** Only definitions whose `tags` hold every one of these. */
  readonly tags?: readonly string[] | undefined;
  /** Flags only: only temporary (true) or permanent (false) flags. */
  readonly temporary?: boolean | undefined;
  /** The order (each ascending, then by key); `servingChangedAt` is for flags only. Default `key`. */
  readonly sort?: ListSort | undefined;
  /**
   * Keeps only the definitions it accepts, applied before paging (a filter SQL cannot express): the
   * list reads on in its order until the page is full, so the cursor stays that of the order.
   */
  readonly keep?: ((definition: StoredDefinition<never>) => boolean) | undefined;
}

/** The orders a definition list can come in. */
export const ListSort = {
  /** By key. */
  Key: 'key',
  /** By the last change of any kind, oldest first. */
  UpdatedAt: 'updatedAt',
  /** Flags: by the last change to what the flag serves, oldest first. */
  ServingChangedAt: 'servingChangedAt',
} as const;
export type ListSort = (typeof ListSort)[keyof typeof ListSort];

/** A time as exact microseconds since the epoch (a JavaScript date keeps milliseconds only). */
const TIME_SORT: Readonly<Record<Exclude<ListSort, 'key'>, string>> = {
  updatedAt: '(extract(epoch from updated_at) * 1000000)::bigint',
  servingChangedAt: '(extract(epoch from serving_changed_at) * 1000000)::bigint',
};

/** Rows read at a time when `keep` filters them. */
const KEEP_BATCH = 200;

function invalidCursor(): AppError {
  return new AppError(AppErrorCode.Validation, 'invalid cursor: pass the nextCursor of the previous page as it was given, with the same sort', { issues: [{ path: 'query.cursor', message: 'not a cursor of this list and sort' }] });
}

/** Where a page sorted by key starts: after this key (a time sort's cursor, which holds spaces, is refused). */
function decodeKeyCursor(cursor: string | undefined): string | undefined {
  const raw = decodeCursor(cursor, 'string');
  if (raw !== undefined && /\s/.test(raw)) {
    throw invalidCursor();
  }
  return raw;
}

/**
 * Where a page sorted by a time starts: after this time (microseconds) and, at the same time, this
 * key. The cursor names its sort, so that one of another sort is refused rather than read as this one.
 */
function decodeTimeCursor(cursor: string | undefined, sort: string): { readonly micros: string; readonly key: string } | undefined {
  const raw = decodeCursor(cursor, 'string');
  if (raw === undefined) {
    return undefined;
  }
  const match = /^(\S+) (\d{1,20}) (\S+)$/.exec(raw);
  if (match === null || match[1] !== sort) {
    throw invalidCursor();
  }
  return { micros: match[2]!, key: match[3]! };
}

/** CRUD with optimistic concurrency for one kind of definition; every method takes the connection. */
export class DefinitionRepository<T extends { key: string; name: string }> {
  private readonly table: string;
  private readonly columns: string;

  constructor(readonly kind: DefinitionKind) {
    this.table = TABLE[kind];
    this.columns = kind === DefinitionKind.Flag ? `${BASE_COLUMNS}, serving_changed_at` : BASE_COLUMNS;
  }

  private statusOf(definition: T): string | undefined {
    return this.kind === DefinitionKind.Experiment ? (definition as unknown as { status: string }).status : undefined;
  }

  async list(db: Queryable, projectId: string, options: ListOptions): Promise<Page<StoredDefinition<T>>> {
    const params: unknown[] = [projectId];
    const where = ['project_id = $1'];
    if (options.includeArchived !== true) {
      where.push('archived = false');
    }
    if (options.search !== undefined && options.search !== '') {
      where.push(foldedSearch(['key', 'name'], options.search, params));
    }
    if (options.tags !== undefined && options.tags.length > 0) {
      params.push(JSON.stringify(options.tags));
      where.push(`definition -> 'tags' @> $${params.length}::jsonb`);
    }
    if (options.status !== undefined && this.kind === DefinitionKind.Experiment) {
      params.push(options.status);
      where.push(`status = $${params.length}`);
    }
    if (options.temporary !== undefined && this.kind === DefinitionKind.Flag) {
      // A flag stored without the field is temporary, as the schema's default makes it.
      params.push(options.temporary);
      where.push(`coalesce((definition ->> 'temporary')::boolean, true) = $${params.length}`);
    }
    const sort = options.sort ?? ListSort.Key;
    if (sort === ListSort.ServingChangedAt && this.kind !== DefinitionKind.Flag) {
      throw new AppError(AppErrorCode.Validation, 'only flags sort by servingChangedAt', { issues: [{ path: 'query.sort', message: 'flags only' }] });
    }
    const time = sort === ListSort.Key ? undefined : TIME_SORT[sort];
    const order = time === undefined ? 'key' : `${time}, key`;
    const columns = time === undefined ? this.columns : `${this.columns}, ${time}::text AS sort_value`;
    // Where the next read starts: after the last row read (by the cursor's sort key at first).
    let after: { readonly micros: string; readonly key: string } | string | undefined = time === undefined ? decodeKeyCursor(options.cursor) : decodeTimeCursor(options.cursor, sort);
    const keep = options.keep as ((definition: StoredDefinition<T>) => boolean) | undefined;
    const batch = keep === undefined ? options.limit + 1 : Math.max(options.limit + 1, KEEP_BATCH);
    const kept: Row[] = [];
    for (;;) {
      const p = [...params];
      const w = [...where];
      if (typeof after === 'string') {
        p.push(after);
        w.push(`key > $${p.length}`);
      } else if (after !== undefined) {
        p.push(after.micros, after.key);
        w.push(`(${time}, key) > ($${p.length - 1}::bigint, $${p.length})`);
      }
      p.push(batch);
      const rows = (await db.query<Row>(`SELECT ${columns} FROM ${this.table} WHERE ${w.join(' AND ')} ORDER BY ${order} LIMIT $${p.length}`, p)).rows;
      for (const row of rows) {
        if (kept.length <= options.limit && (keep === undefined || keep(fromRow<T>(row)))) {
          kept.push(row);
        }
      }
      const last = rows.at(-1);
      if (kept.length > options.limit || rows.length < batch || last === undefined) {
        break;
      }
      after = time === undefined ? last.key : { micros: last.sort_value ?? '', key: last.key };
    }
    return toPage(kept, options.limit, (r) => fromRow<T>(r), (r) => (time === undefined ? r.key : `${sort} ${r.sort_value ?? ''} ${r.key}`));
  }

  /** Every (non-archived unless asked) definition of the project, for compiling rulesets. */
  async all(db: Queryable, projectId: string, includeArchived = false): Promise<StoredDefinition<T>[]> {
    const result = await db.query<Row>(
      `SELECT ${this.columns} FROM ${this.table} WHERE project_id = $1 ${includeArchived ? '' : 'AND archived = false'} ORDER BY key`,
      [projectId],
    );
    return result.rows.map((r) => fromRow<T>(r));
  }

  async find(db: Queryable, projectId: string, key: string, options: { forUpdate?: boolean } = {}): Promise<StoredDefinition<T> | undefined> {
    const result = await db.query<Row>(`SELECT ${this.columns} FROM ${this.table} WHERE project_id = $1 AND key = $2${options.forUpdate === true ? ' FOR UPDATE' : ''}`, [
      projectId,
      key,
    ]);
    const row = result.rows[0];
    return row === undefined ? undefined : fromRow<T>(row);
  }

  async get(db: Queryable, projectId: string, key: string, options: { forUpdate?: boolean } = {}): Promise<StoredDefinition<T>> {
    const found = await this.find(db, projectId, key, options);
    if (found === undefined) {
      throw notFound(`${this.kind} "${key}"`);
    }
    return found;
  }

  async create(db: Queryable, projectId: string, definition: T, actorId: string): Promise<StoredDefinition<T>> {
    const status = this.statusOf(definition);
    const columns = ['project_id', 'key', 'name', 'definition', 'archived', 'created_by', 'updated_by', ...(status === undefined ? [] : ['status'])];
    const values: unknown[] = [projectId, definition.key, definition.name, JSON.stringify(definition), archivedOf(definition), actorId, actorId];
    if (status !== undefined) {
      values.push(status);
    }
    try {
      const result = await db.query<Row>(
        `INSERT INTO ${this.table} (${columns.join(', ')}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${this.columns}`,
        values,
      );
      return fromRow<T>(result.rows[0]!);
    } catch (e) {
      if (e instanceof DatabaseError && e.code === SqlState.UniqueViolation) {
        throw new AppError(AppErrorCode.AlreadyExists, `${this.kind} "${definition.key}" already exists`);
      }
      throw e;
    }
  }

  /** Replaces the definition if its version is still `expectedVersion`; returns the stored result. */
  async update(db: Queryable, projectId: string, definition: T, expectedVersion: number, actorId: string): Promise<StoredDefinition<T>> {
    const status = this.statusOf(definition);
    const params: unknown[] = [projectId, definition.key, definition.name, JSON.stringify(definition), archivedOf(definition), actorId, expectedVersion];
    if (status !== undefined) {
      params.push(status);
    }
    let serving = '';
    if (this.kind === DefinitionKind.Flag) {
      // The version replaced, read as it is: an update that then matches it replaces exactly this.
      const before = await db.query<{ definition: unknown }>(`SELECT definition FROM flags WHERE project_id = $1 AND key = $2 AND version = $3`, [projectId, definition.key, expectedVersion]);
      const row = before.rows[0];
      // As stored (JSON, no undefined members), so that only a real difference counts.
      const changed = row === undefined || !isDeepStrictEqual(servingParts(row.definition as Flag), servingParts(JSON.parse(JSON.stringify(definition)) as Flag));
      serving = changed ? ', serving_changed_at = now()' : '';
    }
    const result = await db.query<Row>(
      `UPDATE ${this.table} SET name = $3, definition = $4, archived = $5, updated_by = $6, version = version + 1, updated_at = now()${serving}${
        status === undefined ? '' : ', status = $8'
      } WHERE project_id = $1 AND key = $2 AND version = $7 RETURNING ${this.columns}`,
      params,
    );
    const row = result.rows[0];
    if (row === undefined) {
      const current = await this.find(db, projectId, definition.key);
      if (current === undefined) {
        throw notFound(`${this.kind} "${definition.key}"`);
      }
      throw versionConflict(`${this.kind} "${definition.key}"`, current.version, expectedVersion);
    }
    return fromRow<T>(row);
  }

  async delete(db: Queryable, projectId: string, key: string, expectedVersion: number): Promise<StoredDefinition<T>> {
    const result = await db.query<Row>(`DELETE FROM ${this.table} WHERE project_id = $1 AND key = $2 AND version = $3 RETURNING ${this.columns}`, [
      projectId,
      key,
      expectedVersion,
    ]);
    const row = result.rows[0];
    if (row === undefined) {
      const current = await this.get(db, projectId, key);
      throw versionConflict(`${this.kind} "${key}"`, current.version, expectedVersion);
    }
    return fromRow<T>(row);
  }
}

function archivedOf(definition: unknown): boolean {
  return typeof definition === 'object' && definition !== null && 'archived' in definition && definition.archived === true;
}

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
  };
}

const COLUMNS =
  "key, name, definition, archived, version, created_at, updated_at, created_by, updated_by, (SELECT coalesce(nullif(u.name, ''), u.email) FROM users u WHERE u.id = updated_by) AS updated_by_name";

export interface ListOptions extends PageRequest {
  /** Substring of key or name, ignoring case and accents (`searchFold`). */
  readonly search?: string | undefined;
  readonly includeArchived?: boolean | undefined;
  /** Experiments only: filter by status. */
  readonly status?: string | undefined;
  /** Only definitions whose `tags` hold every one of these. */
  readonly tags?: readonly string[] | undefined;
}

/** CRUD with optimistic concurrency for one kind of definition; every method takes the connection. */
export class DefinitionRepository<T extends { key: string; name: string }> {
  private readonly table: string;

  constructor(readonly kind: DefinitionKind) {
    this.table = TABLE[kind];
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
    const after = decodeCursor(options.cursor, 'string');
    if (after !== undefined) {
      params.push(after);
      where.push(`key > $${params.length}`);
    }
    params.push(options.limit + 1);
    const result = await db.query<Row>(`SELECT ${COLUMNS} FROM ${this.table} WHERE ${where.join(' AND ')} ORDER BY key LIMIT $${params.length}`, params);
    return toPage(result.rows, options.limit, (r) => fromRow<T>(r), (r) => r.key);
  }

  /** Every (non-archived unless asked) definition of the project, for compiling rulesets. */
  async all(db: Queryable, projectId: string, includeArchived = false): Promise<StoredDefinition<T>[]> {
    const result = await db.query<Row>(
      `SELECT ${COLUMNS} FROM ${this.table} WHERE project_id = $1 ${includeArchived ? '' : 'AND archived = false'} ORDER BY key`,
      [projectId],
    );
    return result.rows.map((r) => fromRow<T>(r));
  }

  async find(db: Queryable, projectId: string, key: string, options: { forUpdate?: boolean } = {}): Promise<StoredDefinition<T> | undefined> {
    const result = await db.query<Row>(`SELECT ${COLUMNS} FROM ${this.table} WHERE project_id = $1 AND key = $2${options.forUpdate === true ? ' FOR UPDATE' : ''}`, [
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
        `INSERT INTO ${this.table} (${columns.join(', ')}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${COLUMNS}`,
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
    const result = await db.query<Row>(
      `UPDATE ${this.table} SET name = $3, definition = $4, archived = $5, updated_by = $6, version = version + 1, updated_at = now()${
        status === undefined ? '' : ', status = $8'
      } WHERE project_id = $1 AND key = $2 AND version = $7 RETURNING ${COLUMNS}`,
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
    const result = await db.query<Row>(`DELETE FROM ${this.table} WHERE project_id = $1 AND key = $2 AND version = $3 RETURNING ${COLUMNS}`, [
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

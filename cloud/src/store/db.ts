import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { AppError, AppErrorCode } from '../errors.js';
import { DatabaseError, SqlState } from './database.js';
import type { Database, QueryResult, Queryable } from './database.js';

/**
 * The one module through which SQL reaches PostgreSQL: `query` with parameters, and
 * `withTransaction`, on either a `pg` pool (Aurora, a real server) or embedded PGlite.
 */

// The driver-free part (types, DatabaseError, SqlState) lives in database.ts, so code that only
// handles database errors does not load pg (the evaluation Lambda loads it on its first request).
export { DatabaseError, SqlState } from './database.js';
export type { Database, QueryResult, Queryable } from './database.js';

function wrap(e: unknown): DatabaseError {
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  return new DatabaseError(code, e instanceof Error ? e.message : 'database error', { cause: e });
}

/** A `pg` pool; numeric types that fit are returned as numbers. */
export function createPgDatabase(connectionString: string, options: { max?: number } = {}): Database {
  // A server that does not answer fails a request after 20 s (then 503) instead of holding it forever;
  // long enough for an Aurora Serverless writer to resume from a pause (~15 s).
  const pool = new pg.Pool({ connectionString, max: options.max ?? 10, connectionTimeoutMillis: 20_000 });
  // Idle clients that lose their connection must not crash the process.
  pool.on('error', () => undefined);
  const run = async <R>(client: pg.Pool | pg.PoolClient, sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
    try {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    } catch (e) {
      throw wrap(e);
    }
  };
  return {
    kind: 'pg',
    query: (sql, params) => run(pool, sql, params),
    async withTransaction(fn) {
      const client = await pool.connect().catch((e: unknown) => {
        throw wrap(e);
      });
      // A checked-out client has no pool listener: a connection killed mid-transaction (failover,
      // pg_terminate_backend) would otherwise crash the process with an unhandled 'error' event.
      let broken: Error | undefined;
      const onError = (e: Error): void => {
        broken ??= e;
      };
      client.on('error', onError);
      try {
        await run(client, 'BEGIN');
        const result = await fn({ query: (sql, params) => run(client, sql, params) });
        await run(client, 'COMMIT');
        return result;
      } catch (e) {
        if (broken === undefined) {
          await client.query('ROLLBACK').catch((rollback: unknown) => {
            broken ??= rollback instanceof Error ? rollback : new Error('rollback failed');
          });
        }
        throw e;
      } finally {
        client.off('error', onError);
        // A broken connection is destroyed rather than returned to the pool.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Embedded PostgreSQL (PGlite): in memory, or persisted in `dataDir`. `loadDataDir` starts it from a
 * `dumpDataDir` tarball instead of an empty cluster (tests: a migrated template, skipping initdb).
 */
export async function createPgliteDatabase(dataDir?: string, options: { readonly loadDataDir?: Blob } = {}): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db: PGlite =
    options.loadDataDir !== undefined ? new PGlite({ ...(dataDir === undefined ? {} : { dataDir }), loadDataDir: options.loadDataDir }) : dataDir === undefined ? new PGlite() : new PGlite(dataDir);
  await db.waitReady;
  const run = async <R>(target: Pick<PGlite, 'query'>, sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
    try {
      const result = await target.query<R>(sql, params as unknown[]);
      return { rows: result.rows, rowCount: result.rows.length > 0 ? result.rows.length : (result.affectedRows ?? 0) };
    } catch (e) {
      throw wrap(e);
    }
  };
  return {
    kind: 'pglite',
    query: (sql, params) => run(db, sql, params),
    async withTransaction(fn) {
      try {
        return await db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) }));
      } catch (e) {
        // Errors thrown by `fn` pass through; only PGlite's own (BEGIN/COMMIT) failures are wrapped.
        const fromDriver = typeof e === 'object' && e !== null && 'severity' in e && !(e instanceof DatabaseError);
        throw fromDriver ? wrap(e) : e;
      }
    },
    close: () => db.close(),
  };
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface MigrateOptions {
  /**
   * How long one statement of a migration may wait for a lock (`lock_timeout`). A statement queued
   * for a table lock behind a long transaction makes every later query of that table queue behind it:
   * on a live database (a deploy's migration) traffic would stop. Past this, the migration rolls back
   * and is tried again. Default 5 s.
   */
  readonly lockTimeoutMs?: number;
  /** Tries of a migration that timed out on a lock, the first included; then its error is thrown. Default 5. */
  readonly lockTries?: number;
  /** The wait before the second try, doubling with each further one. Default 1 s. */
  readonly lockRetryMs?: number;
  /**
   * A database on which a newer release ran migrations that `dir` does not hold (see
   * `unknownMigrations`): `'refuse'` throws `NewerSchemaError` before anything is applied; `'ignore'`
   * (the default) applies the known ones and leaves the check to the caller.
   */
  readonly onNewerSchema?: 'refuse' | 'ignore';
}

/** The migration files of `dir` (a trailing slash), in the order they are applied. */
async function migrationFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
}

/**
 * The migrations recorded in `schema_migrations` that are not among `dir`'s files, in name order: a
 * newer release migrated this database. Older code does not know what they added (on 0022–0024,
 * security checks: a token's role and project limits, a must-change password, project roles) and
 * would ignore it. None on a database that was never migrated.
 */
export async function unknownMigrations(db: Queryable, dir = MIGRATIONS_DIR): Promise<string[]> {
  const table = await db.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if ((table.rows[0]?.t ?? null) === null) {
    return [];
  }
  const known = new Set(await migrationFiles(dir));
  const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
  return recorded.rows.map((r) => r.name).filter((name) => !known.has(name));
}

/** Migrations named for a message: `0012_totals_rebuilds.sql, 0013_webhooks.sql`, the first 10 and how many more. */
function listMigrations(names: readonly string[]): string {
  return `${names.slice(0, 10).join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''}`;
}

/** Migrations that added an access check, which code older than them does not make. */
const ACCESS_CHECKS: Readonly<Record<string, string>> = {
  '0022_password_change_required.sql': 'must-change-password on passwords an administrator set',
  '0023_token_scopes.sql': "access tokens' role and project limits",
  '0024_project_roles.sql': 'per-project roles',
};

/** Thrown by `migrate` with `onNewerSchema: 'refuse'`: the database has migrations this code does not know. */
export class NewerSchemaError extends AppError {
  constructor(readonly unknown: readonly string[]) {
    const checks = unknown.map((name) => ACCESS_CHECKS[name]).filter((check) => check !== undefined);
    super(
      AppErrorCode.InvalidState,
      `the database was migrated by a newer release of xp: it records ${unknown.length === 1 ? 'migration' : `${unknown.length} migrations`} ${listMigrations(unknown)}, which this release does not know. ` +
        `This release would ignore what ${unknown.length === 1 ? 'it' : 'they'} added${checks.length === 0 ? '' : ` (including access checks: ${checks.join('; ')})`}, so it refuses the database, which it left unchanged: ` +
        'run the newer release, or restore the backup taken before the upgrade (docs/operations.md#backup-and-restore)',
      { unknownMigrations: unknown },
    );
    this.name = 'NewerSchemaError';
  }
}

/**
 * One line on what `migrate` applied, for the logs:
 * `database: applied 16 migrations (0012_totals_rebuilds to 0027_sdk_key_usage) in 0.2 s`.
 */
export function describeApplied(applied: readonly string[], ms: number): string {
  const name = (file: string): string => file.replace(/\.sql$/, '');
  const which = applied.length === 0 ? '' : applied.length === 1 ? ` (${name(applied[0]!)})` : ` (${name(applied[0]!)} to ${name(applied[applied.length - 1]!)})`;
  return `database: applied ${applied.length} ${applied.length === 1 ? 'migration' : 'migrations'}${which} in ${(ms / 1000).toFixed(1)} s`;
}

/**
 * Applies every migration in cloud/migrations not yet recorded, in file-name order, each in its own
 * transaction under an advisory lock, so concurrent starts apply each exactly once. A migration whose
 * statement waits for a lock past `lockTimeoutMs` is rolled back and tried again (`lockTries` times).
 * With `onNewerSchema: 'refuse'`, a database that a newer release migrated is refused first.
 */
export async function migrate(db: Database, dir = MIGRATIONS_DIR, options: MigrateOptions = {}): Promise<string[]> {
  const lockTimeoutMs = Math.max(1, Math.round(options.lockTimeoutMs ?? 5_000));
  const tries = Math.max(1, options.lockTries ?? 5);
  if (options.onNewerSchema === 'refuse') {
    const unknown = await unknownMigrations(db, dir);
    if (unknown.length > 0) {
      throw new NewerSchemaError(unknown);
    }
  }
  await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  const files = await migrationFiles(dir);
  const applied: string[] = [];
  for (const file of files) {
    const sql = await readFile(`${dir}${file}`, 'utf8');
    const once = (): Promise<boolean> =>
      db.withTransaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(727274)');
        const seen = await tx.query('SELECT 1 FROM schema_migrations WHERE name = $1', [file]);
        if (seen.rowCount > 0) {
          return false;
        }
        // After the advisory lock, which waits for another start's migrations as long as they take.
        await tx.query("SELECT set_config('lock_timeout', $1, true)", [`${lockTimeoutMs}ms`]);
        for (const statement of splitStatements(sql)) {
          await tx.query(statement);
        }
        await tx.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        return true;
      });
    let done = false;
    for (let attempt = 1; ; attempt++) {
      try {
        done = await once();
        break;
      } catch (e) {
        if (!(e instanceof DatabaseError && e.code === SqlState.LockNotAvailable)) {
          throw e;
        }
        if (attempt >= tries) {
          throw new DatabaseError(e.code, `migration ${file} waited more than ${lockTimeoutMs} ms for a lock ${tries} times (a long transaction holds a table it changes): ${e.message}`, { cause: e });
        }
        await new Promise((resolve) => setTimeout(resolve, (options.lockRetryMs ?? 1_000) * 2 ** (attempt - 1)));
      }
    }
    if (done) {
      applied.push(file);
    }
  }
  return applied;
}

/** Splits a migration into statements on semicolons outside quotes, comments and $$ bodies. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  let dollar: string | undefined;
  let quote: string | undefined;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (dollar !== undefined) {
      if (sql.startsWith(dollar, i)) {
        current += dollar;
        i += dollar.length;
        dollar = undefined;
      } else {
        current += ch;
        i++;
      }
      continue;
    }
    if (quote !== undefined) {
      current += ch;
      i++;
      if (ch === quote) {
        quote = undefined;
      }
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64));
    if (tag !== null) {
      dollar = tag[0];
      current += dollar;
      i += dollar.length;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
    }
    if (ch === ';') {
      if (current.trim() !== '') {
        statements.push(current.trim());
      }
      current = '';
    } else {
      current += ch;
    }
    i++;
  }
  if (current.trim() !== '') {
    statements.push(current.trim());
  }
  return statements;
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pipeline } from '@xp/cloud';

/** The server benches create their scratch databases on (CI starts it). */
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Runs `fn` against a fresh, migrated database on the real PostgreSQL server and drops the
 * database afterwards, whatever happens.
 */
export async function withThrowawayDatabase<T>(adminUrl: string | undefined, fn: (db: pipeline.Database) => Promise<T>): Promise<T> {
  const url = new URL(adminUrl ?? process.env.XP_BENCH_PG_URL ?? process.env.XP_TEST_PG_URL ?? DEFAULT_ADMIN_URL);
  const dbName = `xp_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  if (process.env.XP_BENCH_AUTO_EXPLAIN !== undefined) {
    await admin.query(`ALTER DATABASE ${dbName} SET session_preload_libraries = 'auto_explain'`);
    await admin.query(`ALTER DATABASE ${dbName} SET auto_explain.log_min_duration = ${Number(process.env.XP_BENCH_AUTO_EXPLAIN)}`);
    await admin.query(`ALTER DATABASE ${dbName} SET auto_explain.log_analyze = on`);
    await admin.query(`ALTER DATABASE ${dbName} SET auto_explain.log_nested_statements = on`);
  }
  url.pathname = `/${dbName}`;
  const db = pipeline.createPgDatabase(url.toString(), { max: 2 });
  try {
    await pipeline.migrate(db);
    return await fn(db);
  } finally {
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

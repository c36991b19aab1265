import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../db.js';
import { createPgDatabase, createPgliteDatabase, migrate } from '../db.js';

/** The real server used by storage tests (CI starts it); override with XP_TEST_PG_URL. */
const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly name: string;
  open(): Promise<Database>;
  /** Drops the database (real server) or closes it (PGlite). */
  dispose(): Promise<void>;
}

/** A migrated PGlite in memory. */
export function pgliteTarget(): TestDatabase {
  let db: Database | undefined;
  return {
    name: 'pglite',
    async open() {
      db = await createPgliteDatabase();
      await migrate(db);
      return db;
    },
    async dispose() {
      await db?.close();
    },
  };
}

/** A fresh, migrated database on the real PostgreSQL server, dropped afterwards. */
export function postgresTarget(): TestDatabase {
  const dbName = `xp_test_${randomBytes(6).toString('hex')}`;
  let db: Database | undefined;
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  return {
    name: 'postgres',
    async open() {
      await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
      const url = new URL(ADMIN_URL);
      url.pathname = `/${dbName}`;
      db = createPgDatabase(url.toString(), { max: 4 });
      await migrate(db);
      return db;
    },
    async dispose() {
      await db?.close();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    },
  };
}

/** Both targets: every storage suite runs against each. */
export const TARGETS = [pgliteTarget, postgresTarget] as const;

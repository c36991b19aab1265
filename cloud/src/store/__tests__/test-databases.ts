import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Database } from '../db.js';
import { createPgDatabase, createPgliteDatabase, migrate } from '../db.js';
import { cachedPgliteDump, pgliteVersion } from './pglite-snapshots.js';

/** The real server used by storage tests (CI starts it); override with XP_TEST_PG_URL. */
const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

export interface TestDatabase {
  readonly name: string;
  open(): Promise<Database>;
  /** Drops the database (real server) or closes it (PGlite). */
  dispose(): Promise<void>;
}

const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
};

const databaseUrl = (name: string): string => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

let schemaKey: Promise<string> | undefined;

/** Names the migrated schema: a hash of every migration (name and text) and of the PGlite version. */
function migrationsKey(): Promise<string> {
  schemaKey ??= (async () => {
    const hash = createHash('sha256');
    hash.update(await pgliteVersion());
    for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort()) {
      hash.update(`\0${file}\0`);
      hash.update(await readFile(path.join(MIGRATIONS_DIR, file)));
    }
    return hash.digest('hex').slice(0, 16);
  })();
  return schemaKey;
}

let pgliteTemplate: Promise<Blob> | undefined;

/**
 * A PGlite data directory on which every migration has run, as a `dumpDataDir` tarball. Built once
 * (initdb and the migrations, through the same createPgliteDatabase and migrate) and kept in the
 * temporary directory under the schema's hash, so other test files and workers skip initdb.
 */
export function migratedPgliteDump(): Promise<Blob> {
  pgliteTemplate ??= (async () =>
    cachedPgliteDump(path.join(tmpdir(), `xp-test-pglite-${await migrationsKey()}.tar`), async (dir) => {
      const built = await createPgliteDatabase(dir);
      try {
        await migrate(built);
      } finally {
        await built.close();
      }
    }))();
  return pgliteTemplate;
}

/** A migrated PGlite in memory: a new instance started from the migrated data directory. */
export function pgliteTarget(): TestDatabase {
  let db: Database | undefined;
  return {
    name: 'pglite',
    async open() {
      db = await createPgliteDatabase(undefined, { loadDataDir: await migratedPgliteDump() });
      // A no-op on the template (every migration is recorded); it still checks that they are.
      await migrate(db);
      return db;
    },
    async dispose() {
      await db?.close();
    },
  };
}

let postgresTemplate: Promise<string> | undefined;
/** Serializes template builds across workers (migrate itself locks 727274). */
const TEMPLATE_LOCK = 727_275;

/**
 * A database on the real server on which every migration has run, named after the schema's hash:
 * built once (under an advisory lock, renamed into place when complete) and kept for later runs.
 */
function migratedPostgresTemplate(): Promise<string> {
  postgresTemplate ??= (async () => {
    const name = `xp_test_tpl_${await migrationsKey()}`;
    await admin(async (c) => {
      await c.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
      try {
        const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (found.rowCount === 0) {
          const building = `${name}_${randomBytes(4).toString('hex')}`;
          await c.query(`CREATE DATABASE ${building}`);
          try {
            const db = createPgDatabase(databaseUrl(building), { max: 1 });
            try {
              await migrate(db);
            } finally {
              await db.close();
            }
            await c.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
          } catch (e) {
            await c.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
            throw e;
          }
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
      }
    });
    return name;
  })();
  return postgresTemplate;
}

/** A fresh, migrated database on the real PostgreSQL server (a copy of the migrated template), dropped afterwards. */
export function postgresTarget(): TestDatabase {
  const dbName = `xp_test_${randomBytes(6).toString('hex')}`;
  let db: Database | undefined;
  return {
    name: 'postgres',
    async open() {
      const template = await migratedPostgresTemplate();
      await admin((c) => c.query(`CREATE DATABASE ${dbName} TEMPLATE ${template}`));
      db = createPgDatabase(databaseUrl(dbName), { max: 4 });
      // A no-op on the copy (every migration is recorded); it still checks that they are.
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

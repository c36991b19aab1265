import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Database } from '../db.js';
import { MIGRATIONS_DIR, createPgliteDatabase, migrate } from '../db.js';

/** The installed PGlite's version: cached data directories are named after it. */
export async function pgliteVersion(): Promise<string> {
  const pglitePackage = path.join(path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), '..', 'package.json');
  return (JSON.parse(await readFile(pglitePackage, 'utf8')) as { version: string }).version;
}

/**
 * The `dumpDataDir` tarball kept in `file` (a name in the temporary directory), or, when there is none
 * yet, one PGlite makes: of a fresh initdb, or of a data directory that `prepare` has filled (then
 * removed). Written to `file` for other test files, workers and runs.
 */
export async function cachedPgliteDump(file: string, prepare?: (dataDir: string) => Promise<void>): Promise<Blob> {
  try {
    return new Blob([await readFile(file)]);
  } catch {
    // not made yet
  }
  const dir = prepare === undefined ? undefined : await mkdtemp(path.join(tmpdir(), 'xp-test-pglite-'));
  try {
    if (dir !== undefined) {
      await prepare?.(dir);
    }
    const { PGlite } = await import('@electric-sql/pglite');
    const raw = new PGlite(dir);
    let dump: Blob;
    try {
      await raw.waitReady;
      dump = await raw.dumpDataDir('none');
    } finally {
      await raw.close();
    }
    // Written aside, then renamed: a concurrent reader sees the whole file or none.
    const partial = `${file}.${randomBytes(6).toString('hex')}`;
    await writeFile(partial, new Uint8Array(await dump.arrayBuffer()));
    await rename(partial, file);
    return dump;
  } finally {
    if (dir !== undefined) {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

let empty: Promise<Blob> | undefined;

/**
 * A PGlite data directory fresh from initdb, never migrated, as a `dumpDataDir` tarball. initdb takes
 * several times as long as loading one (tens of seconds on a loaded 2-core machine): it runs once,
 * and the tarball is kept in the temporary directory under PGlite's version for other files and runs.
 */
export function emptyPgliteSnapshot(): Promise<Blob> {
  empty ??= (async () => cachedPgliteDump(path.join(tmpdir(), `xp-test-pglite-empty-${await pgliteVersion()}.tar`)))();
  return empty;
}

/**
 * A PGlite database (in memory, or in `dataDir`) with the migrations before `migration` (`'0022'`)
 * applied, as the release before it left it; made from emptyPgliteSnapshot rather than by initdb.
 */
export async function pgliteBefore(migration: string, dataDir?: string): Promise<Database> {
  const older = await mkdtemp(path.join(tmpdir(), 'xp-migrations-'));
  try {
    for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql') && f < migration)) {
      await copyFile(path.join(MIGRATIONS_DIR, file), path.join(older, file));
    }
    const db = await createPgliteDatabase(dataDir, { loadDataDir: await emptyPgliteSnapshot() });
    try {
      await migrate(db, `${older}${path.sep}`);
    } catch (e) {
      await db.close();
      throw e;
    }
    return db;
  } finally {
    await rm(older, { recursive: true, force: true });
  }
}

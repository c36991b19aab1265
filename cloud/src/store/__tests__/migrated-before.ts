import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Database } from '../db.js';
import { MIGRATIONS_DIR, createPgliteDatabase, migrate } from '../db.js';

/**
 * An in-memory PGlite database with the migrations before `migration` applied (`'0022'`): the
 * database of the release before it, for upgrade tests. `close` also removes the copied files.
 */
export async function databaseBefore(migration: string): Promise<{ db: Database; close: () => Promise<void> }> {
  const before = await mkdtemp(path.join(tmpdir(), 'xp-migrations-'));
  for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql') && f < migration)) {
    await copyFile(path.join(MIGRATIONS_DIR, file), path.join(before, file));
  }
  const db = await createPgliteDatabase();
  await migrate(db, `${before}${path.sep}`);
  return {
    db,
    close: async () => {
      await db.close();
      await rm(before, { recursive: true, force: true });
    },
  };
}

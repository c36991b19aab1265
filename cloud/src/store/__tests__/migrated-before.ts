import type { Database } from '../db.js';
import { pgliteBefore } from './pglite-snapshots.js';

/**
 * An in-memory PGlite database with the migrations before `migration` applied (`'0022'`): the
 * database of the release before it, for upgrade tests (loaded from the cached initdb, see
 * pglite-snapshots.ts).
 */
export async function databaseBefore(migration: string): Promise<{ db: Database; close: () => Promise<void> }> {
  const db = await pgliteBefore(migration);
  return { db, close: () => db.close() };
}

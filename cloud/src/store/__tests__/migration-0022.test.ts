import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0022 (users.password_change_required) on a database of the release before it: users who
 * exist keep signing in with their passwords as before (false); only passwords set by an
 * administrator from then on are flagged.
 */
describe('migration 0022 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0022'));
  });
  afterAll(async () => {
    await close();
  });

  it('adds the column as false for the users that exist, and defaults new rows to false', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ('u1', 'o1', 'old@example.com', 'Old', 'admin', 'scrypt$x')");

    expect((await migrate(db))[0]).toBe('0022_password_change_required.sql');

    await db.query("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ('u2', 'o1', 'new@example.com', 'New', 'viewer', 'scrypt$y')");
    const rows = await db.query<{ id: string; password_change_required: boolean }>('SELECT id, password_change_required FROM users ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 'u1', password_change_required: false },
      { id: 'u2', password_change_required: false },
    ]);
  });
});

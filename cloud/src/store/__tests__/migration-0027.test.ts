import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { credentials } from '../credentials.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0027 (sdk_keys.last_used_at, expires_at) on a database of the release before it: keys
 * made before it were never seen used and never expire, and keep working.
 */
describe('migration 0027 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0027'));
  });
  afterAll(async () => {
    await close();
  });

  it('keeps the keys made before it working, never used and without an expiry', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'web', 'Web')");
    await db.query('INSERT INTO environments (project_id, key, definition) VALUES ($1, $2, $3)', ['p1', 'production', JSON.stringify({ key: 'production', name: 'Production' })]);
    await db.query(
      "INSERT INTO sdk_keys (id, project_id, environment_key, kind, name, key_hash, key_prefix) VALUES ('k1', 'p1', 'production', 'server', 'Backend', 'hash-1', 'xpk_srv_abcdefgh')",
    );

    expect((await migrate(db))[0]).toBe('0027_sdk_key_usage.sql');

    const now = new Date('2026-12-05T12:00:00Z');
    expect(await credentials.findSdkKey(db, 'hash-1', now)).toMatchObject({ id: 'k1', lastUsedAt: null, expiresAt: null });
    await credentials.touchSdkKey(db, 'k1', now);
    expect((await credentials.listSdkKeys(db, 'p1'))[0]).toMatchObject({ lastUsedAt: now.toISOString(), expiresAt: null });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { tokenPolicies } from '../token-policy.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0045 (the token policy's version) on a database of the release before it: every
 * organisation starts at version 1 with its policy as it was, and the next change makes version 2.
 */
describe('migration 0045 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0045'));
  });
  afterAll(async () => {
    await close();
  });

  it('starts every organisation at version 1, its policy kept, and counts changes from there', async () => {
    await db.query("INSERT INTO organizations (id, name, token_max_lifetime_days, token_default_lifetime_days) VALUES ('o1', 'Set', 90, 30), ('o2', 'Unset', NULL, NULL)");

    expect(await migrate(db)).toContain('0045_token_policy_version.sql');

    expect(await tokenPolicies.get(db, 'o1')).toEqual({ maxLifetimeDays: 90, defaultLifetimeDays: 30, version: 1 });
    expect(await tokenPolicies.get(db, 'o2')).toEqual({ maxLifetimeDays: null, defaultLifetimeDays: null, version: 1 });
    expect(await tokenPolicies.set(db, 'o2', { maxLifetimeDays: 7, defaultLifetimeDays: null })).toEqual({ maxLifetimeDays: 7, defaultLifetimeDays: null, version: 2 });
    expect(await tokenPolicies.get(db, 'o1')).toMatchObject({ version: 1 });
    await expect(db.query("UPDATE organizations SET token_policy_version = 0 WHERE id = 'o1'")).rejects.toThrow(/check/i);
  });
});

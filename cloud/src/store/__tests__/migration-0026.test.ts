import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { changeRequests } from '../change-requests.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0026 (change_requests.base) on a database of the release before it: requests proposed
 * before it keep a NULL base, which the service reads as "check the whole flag's version", as then.
 */
describe('migration 0026 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0026'));
  });
  afterAll(async () => {
    await close();
  });

  it('keeps the open requests made before it, without a base', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ('u1', 'o1', 'ed@example.com', 'Ed', 'editor', 'scrypt$x')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'web', 'Web')");
    await db.query(
      `INSERT INTO change_requests (id, project_id, resource_type, resource_key, environment_key, status, base_version, proposed, diff, proposed_by)
       VALUES ('cr-old', 'p1', 'flag', 'checkout', 'production', 'open', 3, $1, '[]', 'u1')`,
      [JSON.stringify({ enabled: false, defaultVariation: 'off', offVariation: 'off', rules: [], prerequisites: [] })],
    );

    expect((await migrate(db))[0]).toBe('0026_change_request_base.sql');

    const old = await changeRequests.get(db, 'p1', 'cr-old');
    expect(old).toMatchObject({ status: 'open', baseVersion: 3, base: null });
    const made = await changeRequests.create(db, { id: 'cr-new', projectId: 'p1', resourceType: 'flag', resourceKey: 'checkout', environment: 'production', baseVersion: 3, base: { variations: { off: false } }, proposed: {}, diff: [], comment: null, proposedBy: 'u1' });
    expect(made.base).toEqual({ variations: { off: false } });
  });
});

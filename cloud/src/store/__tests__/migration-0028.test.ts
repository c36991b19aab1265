import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { eraseUnits, unitHash } from '../erasure.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0028 (erased_units) on a database of the release before it: nothing was erased before
 * it, its data stays, and an erasure then records the unit's hash, which goes with its project.
 */
describe('migration 0028 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0028'));
  });
  afterAll(async () => {
    await close();
  });

  it('adds an empty erased_units table keyed by project and hash, dropped with the project', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'web', 'Web')");
    await db.query("INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id) VALUES ('p1', 'production', 'exp', 'u1', 'control', now(), 'e-1')");

    expect((await migrate(db))[0]).toBe('0028_erased_units.sql');

    expect((await db.query('SELECT count(*)::int AS n FROM erased_units')).rows[0]).toEqual({ n: 0 });
    expect((await db.query('SELECT count(*)::int AS n FROM exposures')).rows[0]).toEqual({ n: 1 });
    const erased = await db.withTransaction((tx) => eraseUnits(tx, 'p1', ['u1', 'u1'], new Date('2026-12-01T00:00:00Z')));
    expect(erased).toMatchObject({ units: 1, exposures: 1 });
    expect((await db.query('SELECT project_id, unit_hash FROM erased_units')).rows).toEqual([{ project_id: 'p1', unit_hash: unitHash('u1') }]);
    expect(unitHash('u1')).toMatch(/^[0-9a-f]{64}$/);
    await db.query("DELETE FROM projects WHERE id = 'p1'");
    expect((await db.query('SELECT count(*)::int AS n FROM erased_units')).rows[0]).toEqual({ n: 0 });
  });
});

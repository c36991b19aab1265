import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0020 (experiment_deletions) on a database of the release before it: the deletions the
 * audit log holds are recorded, so a replay of the archive after the upgrade does not bring the
 * deleted experiments' units back under a namesake created since.
 */
describe('migration 0020 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0020'));
  });
  afterAll(async () => {
    await close();
  });

  it('records each deleted experiment key at its last audited deletion, for projects that still exist', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'web', 'Web')");
    const audit = (project: string, action: string, key: string, at: string): Promise<unknown> =>
      db.query(`INSERT INTO audit_log (org_id, project_id, client, action, resource_type, resource_key, diff, created_at) VALUES ('o1', $1, 'api', $2, $3, $4, '[]'::jsonb, $5)`, [
        project,
        action,
        action.split('.')[0],
        key,
        at,
      ]);
    await audit('p1', 'experiment.deleted', 'checkout', '2026-11-01T10:00:00Z');
    await audit('p1', 'experiment.created', 'checkout', '2026-11-02T10:00:00Z');
    await audit('p1', 'experiment.deleted', 'checkout', '2026-11-20T10:00:00Z');
    await audit('p1', 'flag.deleted', 'banner', '2026-11-21T10:00:00Z');
    await audit('gone', 'experiment.deleted', 'old', '2026-11-22T10:00:00Z');

    expect((await migrate(db))[0]).toBe('0020_experiment_deletions.sql');

    const rows = await db.query<{ project_id: string; experiment: string; deleted_at: Date }>('SELECT project_id, experiment, deleted_at FROM experiment_deletions');
    expect(rows.rows.map((r) => ({ ...r, deleted_at: new Date(r.deleted_at).toISOString() }))).toEqual([{ project_id: 'p1', experiment: 'checkout', deleted_at: '2026-11-20T10:00:00.000Z' }]);
  });
});

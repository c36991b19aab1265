import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0044 (evaluation counts by application) on a database of the release before it: the
 * buckets counted before it keep their counts under app '' (no application named), and the same
 * (flag, variation, hour) can then be counted apart per application.
 */
describe('migration 0044 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0044'));
  });
  afterAll(async () => {
    await close();
  });

  it('keeps the existing buckets under no application and keys new ones by application too', async () => {
    await db.query(
      `INSERT INTO flag_evaluations (project_id, environment, flag_key, variation, hour, count, last_at)
       VALUES ('p1', 'production', 'checkout', 'on', '2026-12-01T10:00:00Z', 12, '2026-12-01T10:59:00Z')`,
    );

    expect((await migrate(db))[0]).toBe('0044_flag_evaluation_apps.sql');

    expect((await db.query('SELECT flag_key, app, count::int AS count FROM flag_evaluations')).rows).toEqual([{ flag_key: 'checkout', app: '', count: 12 }]);
    // The same bucket of another application is another row; of the same one, a conflict.
    await db.query(
      `INSERT INTO flag_evaluations (project_id, environment, flag_key, variation, app, hour, count, last_at)
       VALUES ('p1', 'production', 'checkout', 'on', 'web-shop', '2026-12-01T10:00:00Z', 3, '2026-12-01T10:30:00Z')`,
    );
    await expect(
      db.query(
        `INSERT INTO flag_evaluations (project_id, environment, flag_key, variation, app, hour, count, last_at)
         VALUES ('p1', 'production', 'checkout', 'on', 'web-shop', '2026-12-01T10:00:00Z', 1, '2026-12-01T10:31:00Z')`,
      ),
    ).rejects.toThrow(/duplicate key|unique/i);
    // The drops table holds positive counts per (project, environment, hour).
    await db.query("INSERT INTO flag_evaluation_drops (project_id, environment, hour, count) VALUES ('p1', 'production', '2026-12-01T10:00:00Z', 5)");
    await expect(db.query("INSERT INTO flag_evaluation_drops (project_id, environment, hour, count) VALUES ('p1', 'staging', '2026-12-01T10:00:00Z', 0)")).rejects.toThrow(/check/i);
  });
});

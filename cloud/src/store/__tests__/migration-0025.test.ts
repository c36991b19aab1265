import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0025 (rollup triggers that probe by key for small statements) on a database of the
 * release before it: the same writes, small (probing) and larger than results_rollups_probe_limit()
 * (0005's joins), leave exactly the rollups that the release before left.
 */
describe('migration 0025 on an upgraded database', () => {
  let upgraded: Database;
  let before: Database;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    for (const side of ['upgraded', 'before'] as const) {
      const { db, close } = await databaseBefore('0025');
      closers.push(close);
      if (side === 'upgraded') {
        upgraded = db;
      } else {
        before = db;
      }
    }
  });
  afterAll(async () => {
    await Promise.all(closers.map((close) => close()));
  });

  /** The rollups' sums per group, whatever the number of delta rows. */
  const rollups = async (db: Database): Promise<unknown[]> =>
    (
      await db.query(
        `SELECT project_id, environment, experiment, variation, bucket, metric, cap,
                sum(units)::text AS units, sum(excluded)::text AS excluded, sum(v)::text AS v, sum(vv)::text AS vv, sum(p)::text AS p,
                sum(pp)::text AS pp, sum(vp)::text AS vp, sum(d)::text AS d, sum(dd)::text AS dd, sum(vd)::text AS vd, sum(q)::text AS q,
                sum(qq)::text AS qq, sum(pq)::text AS pq, sum(vq)::text AS vq, sum(dp)::text AS dp, sum(dq)::text AS dq
         FROM results_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7
         HAVING sum(units) <> 0 OR sum(excluded) <> 0 OR sum(v) <> 0 OR sum(vv) <> 0 OR sum(p) <> 0 OR sum(d) <> 0 OR sum(q) <> 0
         ORDER BY 1, 2, 3, 4, 5, 6, 7`,
      )
    ).rows;

  /** Writes of every kind the triggers see; `units` above the probe limit's 10,000 rows takes 0005's joins. */
  const writes = async (db: Database, units: number): Promise<void> => {
    await db.query(
      `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id)
       SELECT 'p', 'prod', 'e', 'u' || i, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, timestamptz '2024-01-01' + interval '17 minutes' * i, 'x' || i
       FROM generate_series(1, $1::int) i
       ON CONFLICT DO NOTHING`,
      [units],
    );
    await db.query(
      `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value, pre_value, denominator, pre_denominator)
       SELECT 'p', 'prod', 'e', 'u' || i, m, m = 'conv', CASE WHEN m = 'conv' THEN i % 2 ELSE i % 7 + 0.5 END, i % 3,
              CASE WHEN m = 'ratio' THEN i % 5 ELSE 0 END, CASE WHEN m = 'ratio' THEN i % 4 ELSE 0 END
       FROM generate_series(1, $1::int) i, unnest(ARRAY['conv', 'rev', 'ratio']) m
       ON CONFLICT (project_id, environment, experiment, unit_id, metric) DO UPDATE SET value = unit_metric_totals.value + EXCLUDED.value`,
      [units],
    );
    // Moved exposures (variation, exclusion, hour), updated and deleted totals, deleted exposures.
    await db.query(`UPDATE exposures SET variation = 'a' WHERE unit_id IN ('u1', 'u3')`);
    await db.query(`UPDATE exposures SET excluded = true WHERE unit_id = 'u5'`);
    await db.query(`UPDATE exposures SET exposed_at = exposed_at - interval '3 hours' WHERE unit_id = 'u6'`);
    await db.query(`UPDATE unit_metric_totals SET value = value + 2 WHERE unit_id IN ('u2', 'u4') AND metric = 'rev'`);
    await db.query(`DELETE FROM unit_metric_totals WHERE unit_id = 'u7'`);
    await db.query(`DELETE FROM exposures WHERE unit_id = 'u8'`);
    // Nothing changed: the statement triggers fire with empty transition tables.
    await db.query(`UPDATE exposures SET variation = 'a' WHERE unit_id = 'none'`);
    await db.query(`DELETE FROM unit_metric_totals WHERE unit_id = 'none'`);
  };

  it('leaves the rollups the release before left, for small and large statements', async () => {
    expect((await migrate(upgraded))[0]).toBe('0025_rollup_trigger_probes.sql');
    for (const db of [upgraded, before]) {
      await db.query(`INSERT INTO organizations (id, name) VALUES ('o', 'Org')`);
      await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ('p', 'o', 'p', 'P')`);
      await db.query(`INSERT INTO metrics (project_id, key, name, definition) VALUES
        ('p', 'conv', 'Conv', '{"key":"conv","type":"conversion","event":"buy"}'),
        ('p', 'rev', 'Rev', '{"key":"rev","type":"sum","event":"buy","capping":{"type":"absolute","value":5}}'),
        ('p', 'ratio', 'Ratio', '{"key":"ratio","type":"ratio"}')`);
      await writes(db, 40);
    }
    expect(await rollups(upgraded)).toEqual(await rollups(before));
    expect((await rollups(upgraded)).length).toBeGreaterThan(10);

    for (const db of [upgraded, before]) {
      await writes(db, 12_000);
    }
    expect(await rollups(upgraded)).toEqual(await rollups(before));
  });
});

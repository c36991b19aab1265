/**
 * `xp replay` deletes the stored rows of the events it applies again by (project_id, event_id)
 * (replay.ts, DELETE_UNIT_EVENTS_OF): migration 0038's index serves it, so a replay does not read
 * the whole of unit_events. Not unique: an event counted for several units is stored once per unit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELETE_UNIT_EVENTS_OF } from '../../pipeline/replay.js';
import type { Database } from '../db.js';
import { TARGETS } from './test-databases.js';

const ROWS = 20_000;

describe.each(TARGETS.map((t) => [t().name, t] as const))('unit_events by event id on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
    // Many projects, environments and units; two unit ids for every tenth event (`units`).
    await db.query(
      `INSERT INTO unit_events (project_id, environment, unit_id, name, occurred_at, event_id)
        SELECT 'p' || (i % 7), 'production', 'u' || i || '-' || k, 'purchase', now(), 'e' || i
        FROM generate_series(1, $1::int) i, generate_series(1, CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END) k`,
      [ROWS],
    );
    await db.query('ANALYZE unit_events');
  });
  afterAll(async () => {
    await target.dispose();
  });

  it('has a non-unique index on (project_id, event_id)', async () => {
    const indexes = await db.query<{ indexname: string; indexdef: string }>("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'unit_events' AND indexname = 'unit_events_event_id'");

    expect(indexes.rows.map((r) => r.indexdef.replace(/^.* USING /, ''))).toEqual(['btree (project_id, event_id)']);
    expect(indexes.rows[0]!.indexdef).not.toMatch(/UNIQUE/);
  });

  it("serves the replay's delete, which removes every unit's row of an event and nothing else", async () => {
    const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${DELETE_UNIT_EVENTS_OF}`, [['p3', 'p0'], ['e10', 'e7']]);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');

    expect(text).toContain('unit_events_event_id');
    expect(text).not.toMatch(/Seq Scan on unit_events/);

    const deleted = await db.withTransaction((tx) => tx.query(DELETE_UNIT_EVENTS_OF, [['p3', 'p0'], ['e10', 'e7']]));
    expect(deleted.rowCount).toBe(3);
    expect((await db.query<{ n: number }>("SELECT count(*)::int AS n FROM unit_events WHERE event_id IN ('e10', 'e7')")).rows[0]!.n).toBe(0);
  });
});

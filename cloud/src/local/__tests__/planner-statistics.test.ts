import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import type { Database } from '../../store/db.js';
import { pgliteTarget, postgresTarget } from '../../store/__tests__/test-databases.js';
import { startPlannerStatistics } from '../planner-statistics.js';

/** What the planner believes unit_events holds (-1: never analyzed). */
async function believedRows(db: Database): Promise<number> {
  return Number((await db.query<{ reltuples: number | string }>(`SELECT reltuples FROM pg_class WHERE relname = 'unit_events'`)).rows[0]!.reltuples);
}

async function addEvents(db: Database, from: number, count: number): Promise<void> {
  await db.query(
    `INSERT INTO unit_events (project_id, environment, unit_id, name, occurred_at, event_id)
     SELECT 'p', 'production', 'u' || (i % 500), 'purchase', now(), 'e' || i FROM generate_series($1::int, $2::int) AS i`,
    [from, from + count - 1],
  );
}

describe('planner statistics of the embedded database (PGlite runs no autovacuum)', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) {
      await close();
    }
  });

  it('analyzes at start and again once the aggregator applied 50 + 10 % of the event rows, not before', async () => {
    const target = pgliteTarget();
    const db = await target.open();
    closers.push(() => target.dispose());
    await addEvents(db, 1, 2_000);
    expect(await believedRows(db)).toBe(-1);
    let applied = 0;

    const keeper = startPlannerStatistics(db, { applied: () => applied, intervalMs: 10, logger: silentLogger });
    closers.push(() => keeper.stop());
    await expect.poll(() => keeper.runs(), { timeout: 10_000 }).toBe(1);
    expect(await believedRows(db)).toBe(2_000);

    // Below 50 + 10 % of 2,000 = 250 events applied: the statistics are still good enough.
    await addEvents(db, 2_001, 240);
    applied = 240;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(keeper.runs()).toBe(1);

    await addEvents(db, 2_241, 2_000);
    applied = 2_240;
    await expect.poll(() => keeper.runs(), { timeout: 10_000 }).toBe(2);
    expect(await believedRows(db)).toBe(4_240);
  }, 60_000);

  it('vacuums a table updated over and over (as the results rollups are per event), so its size stops growing', async () => {
    const target = pgliteTarget();
    const db = await target.open();
    closers.push(() => target.dispose());
    await db.query(`INSERT INTO stream_checkpoints (stream, shard_id, sequence_number) SELECT 's', 'shard-' || i, '0' FROM generate_series(1, 200) AS i`);
    // Each round changes a key column, so no update is HOT and every old row version stays until a VACUUM.
    const churn = async (rounds: number): Promise<void> => {
      for (let r = 0; r < rounds; r++) {
        await db.query(`UPDATE stream_checkpoints SET shard_id = CASE WHEN shard_id LIKE '%x' THEN left(shard_id, -1) ELSE shard_id || 'x' END, updated_at = now()`);
      }
    };
    const size = async (): Promise<number> => Number((await db.query<{ s: string | number }>(`SELECT pg_relation_size('stream_checkpoints') AS s`)).rows[0]!.s);
    const dead = async (): Promise<number> => {
      await db.query('SELECT pg_stat_force_next_flush()');
      return Number((await db.query<{ n: string | number }>(`SELECT n_dead_tup AS n FROM pg_stat_user_tables WHERE relname = 'stream_checkpoints'`)).rows[0]!.n);
    };
    await churn(100);
    expect(await dead()).toBeGreaterThan(10_000);
    const churnedSize = await size();
    const applied = 0;
    const logs: string[] = [];
    const logger = { ...silentLogger, info: (m: string, f?: Record<string, unknown>) => { logs.push(`${m} ${JSON.stringify(f ?? {})}`); } };

    const keeper = startPlannerStatistics(db, { applied: () => applied, intervalMs: 10, logger });
    closers.push(() => keeper.stop());
    await expect.poll(() => keeper.runs(), { timeout: 10_000 }).toBe(1);
    expect(await dead()).toBe(0);
    expect(logs.find((l) => l.startsWith('database: planner statistics updated'))).toContain('"vacuumed":["stream_checkpoints"]');

    // Half as much churn again fits in the space the vacuum freed: the table does not grow.
    await churn(50);
    expect(await size()).toBe(churnedSize);
  }, 60_000);

  it('leaves PostgreSQL to its autovacuum', async () => {
    const target = postgresTarget();
    const db = await target.open();
    closers.push(() => target.dispose());

    const keeper = startPlannerStatistics(db, { applied: () => 1_000_000, intervalMs: 10, logger: silentLogger });
    closers.push(() => keeper.stop());
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(keeper.runs()).toBe(0);
  });
});

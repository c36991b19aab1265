/**
 * Planner statistics and dead rows of the embedded database. PGlite runs no autovacuum, so nothing
 * ever ANALYZEs it: the planner takes every table for empty and picks plans that scan a whole table
 * once per row of another (a totals rebuild of 3,000 units × 36,000 events took 167 s, and blocked
 * every other request of the single connection meanwhile; 0.7 s once analyzed). Nor does anything
 * VACUUM it: a table updated per event keeps every old row version (a soak test's results_rollups
 * held 2,624 live rows in 10.7 MB, 21 times their size, growing ~40 bytes an event for good). This
 * keeper does what autovacuum does on PostgreSQL: at start, and whenever the aggregator has applied
 * more events since the last run than 50 + 10 % of what the event tables held then, it goes through
 * the tables one statement each (other requests of the single connection run in between):
 * VACUUM (ANALYZE) where dead rows passed autovacuum's 50 + 20 % of the live ones, ANALYZE elsewhere.
 */
import type { Logger } from '../domain/context.js';
import type { Database } from '../store/db.js';

export interface PlannerStatisticsOptions {
  /** Events the aggregator has applied since the stack started (the poller's `processed`). */
  readonly applied: () => number;
  /** How often the threshold is checked. Default 30 s. */
  readonly intervalMs?: number;
  readonly logger: Logger;
}

/** Autovacuum's defaults: analyze after 50 + 10 % of the table's rows changed. */
const BASE_THRESHOLD = 50;
const SCALE_FACTOR = 0.1;
/** Autovacuum's defaults for a vacuum: 50 + 20 % of the table's live rows dead. */
const VACUUM_BASE_THRESHOLD = 50;
const VACUUM_SCALE_FACTOR = 0.2;

/** One pass over the tables: VACUUM (ANALYZE) those with enough dead rows, ANALYZE the others. Returns the tables vacuumed. */
async function maintain(db: Database): Promise<string[]> {
  // The statistics this backend has not reported yet (it reports at most once a second when idle).
  await db.query('SELECT pg_stat_force_next_flush()');
  const tables = await db.query<{ name: string; live: number | string; dead: number | string }>(
    `SELECT relname AS name, n_live_tup AS live, n_dead_tup AS dead FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname`,
  );
  const vacuumed: string[] = [];
  for (const t of tables.rows) {
    // A name from the catalogue, quoted as an identifier: never input.
    const table = `"${t.name.replace(/"/g, '""')}"`;
    if (Number(t.dead) > VACUUM_BASE_THRESHOLD + VACUUM_SCALE_FACTOR * Number(t.live)) {
      await db.query(`VACUUM (ANALYZE) ${table}`);
      vacuumed.push(t.name);
    } else {
      await db.query(`ANALYZE ${table}`);
    }
  }
  return vacuumed;
}

/** Rows the planner believes the event tables hold (the totals grow with them). */
async function eventRows(db: Database): Promise<number> {
  const out = await db.query<{ rows: number | string | null }>(
    `SELECT sum(greatest(reltuples, 0))::float8 AS rows FROM pg_class WHERE relname IN ('unit_events', 'exposures') AND relkind = 'r'`,
  );
  return Number(out.rows[0]?.rows ?? 0);
}

/** Analyzes (and vacuums where due) now, on the embedded database only, then whenever enough events were applied; `stop` waits for a run in progress. */
export function startPlannerStatistics(db: Database, options: PlannerStatisticsOptions): { stop(): Promise<void>; runs(): number } {
  let runs = 0;
  if (db.kind !== 'pglite') {
    return { stop: () => Promise.resolve(), runs: () => runs };
  }
  let appliedAtLast = options.applied();
  let rowsAtLast = 0;
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  const analyze = (): void => {
    busy = true;
    running = running.then(async () => {
      const applied = options.applied();
      try {
        const started = Date.now();
        const vacuumed = await maintain(db);
        rowsAtLast = await eventRows(db);
        appliedAtLast = applied;
        runs++;
        options.logger.info('database: planner statistics updated', { eventRows: Math.round(rowsAtLast), vacuumed, ms: Date.now() - started });
      } catch (error) {
        options.logger.warn('database: ANALYZE or VACUUM failed', { error: error instanceof Error ? error.message : String(error) });
      } finally {
        busy = false;
      }
    });
  };
  analyze();
  const timer = setInterval(() => {
    if (!busy && options.applied() - appliedAtLast > BASE_THRESHOLD + SCALE_FACTOR * rowsAtLast) {
      analyze();
    }
  }, options.intervalMs ?? 30_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
    runs: () => runs,
  };
}

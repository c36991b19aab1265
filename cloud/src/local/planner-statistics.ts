/**
 * Planner statistics for the embedded database. PGlite runs no autovacuum, so nothing ever ANALYZEs
 * it: the planner takes every table for empty and picks plans that scan a whole table once per row
 * of another (a totals rebuild of 3,000 units × 36,000 events took 167 s, and blocked every other
 * request of the single connection meanwhile; 0.7 s once analyzed). This keeper does what
 * autovacuum's analyze does on PostgreSQL: at start, and whenever the aggregator has applied more
 * events since the last run than 50 + 10 % of what the event tables held then.
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

/** Rows the planner believes the event tables hold (the totals grow with them). */
async function eventRows(db: Database): Promise<number> {
  const out = await db.query<{ rows: number | string | null }>(
    `SELECT sum(greatest(reltuples, 0))::float8 AS rows FROM pg_class WHERE relname IN ('unit_events', 'exposures') AND relkind = 'r'`,
  );
  return Number(out.rows[0]?.rows ?? 0);
}

/** Runs ANALYZE now (on the embedded database only) and then whenever enough events were applied; `stop` waits for a run in progress. */
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
        await db.query('ANALYZE');
        rowsAtLast = await eventRows(db);
        appliedAtLast = applied;
        runs++;
        options.logger.info('database: planner statistics updated', { eventRows: Math.round(rowsAtLast), ms: Date.now() - started });
      } catch (error) {
        options.logger.warn('database: ANALYZE failed', { error: error instanceof Error ? error.message : String(error) });
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

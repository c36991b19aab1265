/**
 * The local stack's hourly upkeep, what the aggregator Lambda does between batches in AWS: the event
 * explorer's retention, the pruning of dedupe records no repeat of their event can reach any more,
 * of sticky assignments unchanged for their retention (90 days, as Redis's expiry), and of expired
 * SSO sign-ins and one-time codes.
 */
import type { Logger } from '../domain/context.js';
import { dedupeRetentionHours, pruneProcessedEvents } from '../pipeline/aggregate.js';
import type { Database } from '../store/db.js';
import { purgeExplorerEvents } from '../store/explorer.js';
import { ssoStore } from '../store/sso.js';
import { STICKY_RETENTION_DAYS, pruneStickyAssignments } from '../store/sticky-buckets.js';

export interface UpkeepOptions {
  /** Days the event explorer keeps events; 0 keeps them all. */
  readonly explorerRetentionDays: number;
  /** Hours a dedupe record is kept (default dedupeRetentionHours(): 30 days of accepted event age + the stream's day + one). */
  readonly dedupeRetentionHours?: number;
  /** Days a unit's sticky assignments are kept after their last change (default 90). */
  readonly stickyRetentionDays?: number;
  /** Default hourly. */
  readonly intervalMs?: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** Runs the upkeep now and then every `intervalMs`; `stop` waits for a running pass. Each task's failure is logged, not thrown. */
export function startUpkeep(db: Database, options: UpkeepOptions): { stop(): Promise<void> } {
  const now = options.now ?? (() => new Date());
  const retentionHours = options.dedupeRetentionHours ?? dedupeRetentionHours();
  const stickyDays = options.stickyRetentionDays ?? STICKY_RETENTION_DAYS;
  const task = async (name: string, work: () => Promise<number>, fields: Record<string, unknown>): Promise<void> => {
    try {
      const deleted = await work();
      if (deleted > 0) {
        options.logger.info(name, { deleted, ...fields });
      }
    } catch (error) {
      options.logger.warn(`${name} failed`, { error: error instanceof Error ? error.message : String(error) });
    }
  };
  let running: Promise<void> = Promise.resolve();
  const run = (): void => {
    running = running.then(async () => {
      if (options.explorerRetentionDays > 0) {
        await task('explorer: purged events past retention', () => purgeExplorerEvents(db, options.explorerRetentionDays, now()), { retentionDays: options.explorerRetentionDays });
      }
      await task('aggregator: pruned dedupe records past retention', () => pruneProcessedEvents(db, retentionHours), { retentionHours });
      await task('sticky bucketing: pruned assignments past retention', () => pruneStickyAssignments(db, stickyDays), { retentionDays: stickyDays });
      // Also pruned at each SSO start (in AWS too); here for an installation nobody signs in to for a while.
      await task('sso: pruned expired sign-ins and codes', () => ssoStore.pruneExpired(db, now()), {});
    });
  };
  run();
  const timer = setInterval(run, options.intervalMs ?? 3_600_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

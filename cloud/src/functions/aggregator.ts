/**
 * The aggregator Lambda: Kinesis event source mapping (ReportBatchItemFailures) → the pipeline's
 * exactly-once batch processing, plus EMF metrics for aggregation lag, dead letters and duplicates.
 */
import type { Logger } from '../domain/context.js';
import { dedupeRetentionHours, pruneProcessedEvents, rebuildPendingTotals } from '../pipeline/aggregate.js';
import { withExplorer } from '../pipeline/explorer-hook.js';
import { createKinesisHandler } from '../pipeline/lambda-handler.js';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from '../pipeline/lambda-handler.js';
import type { Database } from '../store/db.js';
import { DEFAULT_EXPLORER_RETENTION_DAYS, purgeExplorerEvents } from '../store/explorer.js';
import { buildPendingDimensions } from '../store/results.js';
import { STICKY_RETENTION_DAYS, pruneStickyAssignments } from '../store/sticky-buckets.js';
import { EmfMetrics, MetricName } from './metrics.js';
import { EnvVar, connectDatabase, functionLogger, lazy, optional, stageOf } from './runtime.js';
import type { SecretReader } from './runtime.js';

const PURGE_INTERVAL_MS = 3_600_000;
const DIMENSION_BUILD_INTERVAL_MS = 60_000;
/** A dimension build's limit here: the batch and the build share the function's 60 s. */
export const AGGREGATOR_DIMENSION_BUILD_MS = 40_000;
/** An explorer purge's limit here (a statement timeout): it shares the function's 60 s too. */
export const AGGREGATOR_PURGE_MS = 15_000;
/** Time kept for returning the batch's result and flushing metrics after upkeep. */
const RESERVE_MS = 5_000;
/** Upkeep with less time than this is left for a later invocation. */
const MIN_BUILD_MS = 5_000;

/** The part of Lambda's context the aggregator reads. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * How long a dimension build may run in this invocation: its limit, cut to what the invocation has
 * left less a reserve, or 0 (skip) when that is too little. A build that ran the function out of
 * time would fail a batch that had already committed, and spend a retry on it.
 */
export function dimensionBuildBudget(remainingMs: number | undefined): number {
  return upkeepBudget(AGGREGATOR_DIMENSION_BUILD_MS, remainingMs);
}

/** The same for the explorer purge: its limit, or what the invocation has left less a reserve, or 0. */
export function purgeBudget(remainingMs: number | undefined): number {
  return upkeepBudget(AGGREGATOR_PURGE_MS, remainingMs);
}

function upkeepBudget(limitMs: number, remainingMs: number | undefined): number {
  const budget = Math.min(limitMs, (remainingMs ?? Infinity) - RESERVE_MS);
  return budget >= MIN_BUILD_MS ? budget : 0;
}

export interface AggregatorOptions {
  readonly db?: () => Promise<Database>;
  readonly readSecret?: SecretReader;
  readonly logger?: Logger;
  readonly metrics?: EmfMetrics;
  readonly now?: () => number;
}

/** Counts each batch's dead letters and duplicates from the summary the pipeline logs, without re-parsing anything. */
function countingLogger(inner: Logger, metrics: EmfMetrics): Logger {
  return {
    info: (message, fields) => {
      if (typeof fields?.deadLettered === 'number') {
        metrics.put(MetricName.DeadLetters, fields.deadLettered);
      }
      if (typeof fields?.duplicates === 'number') {
        metrics.put(MetricName.DuplicateEvents, fields.duplicates);
      }
      inner.info(message, fields);
    },
    warn: (message, fields) => {
      inner.warn(message, fields);
    },
    error: (message, fields) => {
      inner.error(message, fields);
    },
  };
}

export function createAggregatorHandler(env: NodeJS.ProcessEnv, options: AggregatorOptions = {}): (event: KinesisStreamEvent, context?: InvocationContext) => Promise<KinesisStreamBatchResponse> {
  const metrics = options.metrics ?? new EmfMetrics({ service: 'aggregator', stage: stageOf(env) });
  const now = options.now ?? Date.now;
  const logger = countingLogger(options.logger ?? functionLogger(), metrics);
  const db = options.db ?? lazy(() => connectDatabase(env, options.readSecret));
  const process = createKinesisHandler({ db, logger, process: withExplorer() });
  const retentionDays = Number(optional(env, EnvVar.ExplorerRetentionDays) ?? DEFAULT_EXPLORER_RETENTION_DAYS);
  /** Upkeep between batches: at most once per `intervalMs` per instance, never failing the batch. */
  const betweenBatches = (name: string, intervalMs: number, task: (db: Database) => Promise<Record<string, unknown> | undefined>): (() => Promise<void>) => {
    let last = -Infinity;
    return async () => {
      if (now() - last < intervalMs) {
        return;
      }
      last = now();
      try {
        const done = await task(await db());
        if (done !== undefined) {
          logger.info(name, done);
        }
      } catch (error) {
        logger.warn(`${name} failed`, { error: error instanceof Error ? error.message : String(error) });
      }
    };
  };
  /**
   * The event explorer's retention, hourly, cancelled by PostgreSQL when it outlasts its budget: an
   * unbounded DELETE could run the function out of time after its batch committed.
   */
  let purgeBudgetMs = AGGREGATOR_PURGE_MS;
  const purge = betweenBatches('explorer purge', PURGE_INTERVAL_MS, async (d) =>
    retentionDays > 0
      ? {
          deleted: await d.withTransaction(async (tx) => {
            await tx.query(`SET LOCAL statement_timeout = ${Math.floor(purgeBudgetMs)}`);
            return purgeExplorerEvents(tx, retentionDays, new Date(now()));
          }),
          retentionDays,
        }
      : undefined,
  );
  /**
   * Dedupe records no repeat of their event can reach any more (see dedupeRetentionHours), hourly,
   * in short chunks until the purge budget is spent; the rest waits for the next hour.
   */
  const dedupeHours = dedupeRetentionHours(Number(optional(env, EnvVar.StreamRetentionHours) ?? 24));
  const pruneDedupe = betweenBatches('dedupe prune', PURGE_INTERVAL_MS, async (d) => {
    const deleted = await pruneProcessedEvents(d, dedupeHours, { deadline: now() + purgeBudgetMs, now });
    return deleted > 0 ? { deleted, retentionHours: dedupeHours } : undefined;
  });
  /**
   * Sticky assignments (the evaluation function's, without ElastiCache) unchanged for 90 days, as
   * Redis's expiry: hourly, in short chunks within what the purge budget has left, as the dedupe records.
   */
  const pruneSticky = betweenBatches('sticky assignment prune', PURGE_INTERVAL_MS, async (d) => {
    const deleted = await pruneStickyAssignments(d, STICKY_RETENTION_DAYS, { deadline: now() + purgeBudgetMs, now });
    return deleted > 0 ? { deleted, retentionDays: STICKY_RETENTION_DAYS } : undefined;
  });
  /**
   * Result dimensions that experiments list but no results request could build in its time (large
   * experiments): one experiment a minute, within the function's 60 s.
   */
  let buildBudgetMs = AGGREGATOR_DIMENSION_BUILD_MS;
  const buildDimensions = betweenBatches('result dimension build', DIMENSION_BUILD_INTERVAL_MS, async (d) => {
    const experiments = await buildPendingDimensions(d, { timeoutMs: buildBudgetMs, logger, limit: 1 });
    return experiments > 0 ? { experiments } : undefined;
  });
  /**
   * Experiments whose totals a metric change asked to rebuild and no results request could rebuild
   * in its time (large experiments): one a minute, with the time a dimension build gets.
   */
  const rebuildTotals = betweenBatches('totals rebuild', DIMENSION_BUILD_INTERVAL_MS, async (d) => {
    const experiments = await rebuildPendingTotals(d, { timeoutMs: buildBudgetMs, logger, limit: 1 });
    return experiments > 0 ? { experiments } : undefined;
  });
  return async (event, context) => {
    const arrivals = event.Records.map((r) => r.kinesis.approximateArrivalTimestamp).filter((t): t is number => typeof t === 'number');
    try {
      const result = await process(event);
      purgeBudgetMs = purgeBudget(context?.getRemainingTimeInMillis());
      if (purgeBudgetMs > 0) {
        await purge();
        purgeBudgetMs = purgeBudget(context?.getRemainingTimeInMillis());
        if (purgeBudgetMs > 0) {
          await pruneDedupe();
          purgeBudgetMs = purgeBudget(context?.getRemainingTimeInMillis());
          if (purgeBudgetMs > 0) {
            await pruneSticky();
          }
        }
      }
      buildBudgetMs = dimensionBuildBudget(context?.getRemainingTimeInMillis());
      if (buildBudgetMs > 0) {
        await buildDimensions();
      }
      buildBudgetMs = dimensionBuildBudget(context?.getRemainingTimeInMillis());
      if (buildBudgetMs > 0) {
        await rebuildTotals();
      }
      if (arrivals.length > 0 && result.batchItemFailures.length === 0) {
        // Lambda gives arrival times in seconds (with a fraction).
        metrics.put(MetricName.AggregationLag, Math.max(0, now() - Math.min(...arrivals) * 1000));
      }
      return result;
    } finally {
      metrics.flush();
    }
  };
}

export const handler = createAggregatorHandler(process.env);

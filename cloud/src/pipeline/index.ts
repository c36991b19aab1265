/** The event pipeline: Kinesis records → exactly-once aggregates in PostgreSQL. */
export {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_PRE_EXPOSURE_WINDOW_HOURS,
  isTransientError,
  loadMetricSpecs,
  parseRecord,
  processBatch,
  processBatchInTransaction,
  pruneProcessedEvents,
  rebuildTotals,
} from './aggregate.js';
export type { AggregateOptions, BatchCounts, BatchItemFailure, BatchResult, StreamRecord } from './aggregate.js';
export { createKinesisHandler, shardIdOf, toStreamRecords } from './lambda-handler.js';
export type { KinesisHandlerDeps, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from './lambda-handler.js';
export { BatchFailedError, ExpiredIteratorError, createPoller, kinesisShardReader, writeCheckpoint } from './poller.js';
export type { Poller, PollerOptions, PollerStats, ShardInfo, ShardReader, ShardRecords } from './poller.js';
export { SUFFICIENT_STATISTICS_SQL, countExcludedUnits, querySufficientStatistics } from './sufficient-statistics.js';
export type { SufficientStatisticsRow } from './sufficient-statistics.js';
// The database the aggregator writes to, for callers outside the package (bench, Lambda entry point).
export { createPgDatabase, migrate } from '../store/db.js';
export type { Database } from '../store/db.js';

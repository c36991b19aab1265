import { MetricName } from '../functions/metrics.js';
import type { MetricSink } from '../http/sdk/sdk-outcomes.js';
import type { AggregateOptions, BatchResult, StreamRecord } from './aggregate.js';
import { processBatch } from './aggregate.js';
import type { Database } from '../store/db.js';

type Process = (db: Database, records: readonly StreamRecord[], options: AggregateOptions) => Promise<BatchResult>;

/**
 * Wraps a batch processor so each batch reports the aggregator's figures, as the Lambda does with
 * EMF: aggregation lag (now minus the oldest record's arrival in the stream, for batches applied in
 * full), the records it dead-lettered and the events it skipped as duplicates (counted per batch,
 * never logged per event).
 */
export function measuredProcess(sink: MetricSink, inner: Process = processBatch, now: () => number = Date.now): Process {
  return async (db, records, options) => {
    const result = await inner(db, records, options);
    if (result.deadLettered > 0) {
      sink.put(MetricName.DeadLetters, result.deadLettered);
    }
    if (result.duplicates > 0) {
      sink.put(MetricName.DuplicateEvents, result.duplicates);
    }
    let oldest = Infinity;
    for (const r of records) {
      if (r.approximateArrivalMs !== undefined && r.approximateArrivalMs < oldest) {
        oldest = r.approximateArrivalMs;
      }
    }
    if (result.batchItemFailures.length === 0 && oldest !== Infinity) {
      sink.put(MetricName.AggregationLag, Math.max(0, now() - oldest));
    }
    return result;
  };
}

/**
 * Feeds the live event explorer from the aggregator: a batch processor that wraps `processBatch`
 * and, inside each committing transaction (the checkpoint hook), stores the records that
 * transaction covers. The aggregator sees every accepted event, and the explorer table's key (project,
 * event id) keeps each once however often Kinesis delivers it.
 */
import type { PipelineEvent } from '@xp/shared';
import { isEvaluationsRecord } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import type { Database } from '../store/db.js';
import { recordExplorerEvents } from '../store/explorer.js';
import { parseRecord, processBatch } from './aggregate.js';
import type { AggregateOptions, BatchResult, StreamRecord } from './aggregate.js';

export type BatchProcessor = (db: Database, records: readonly StreamRecord[], options: AggregateOptions) => Promise<BatchResult>;

function eventsOf(records: readonly StreamRecord[]): PipelineEvent[] {
  const events: PipelineEvent[] = [];
  for (const record of records) {
    const parsed = parseRecord(record);
    // Evaluation counts belong to no unit: the explorer shows unit events.
    if (parsed.ok && !isEvaluationsRecord(parsed.event)) {
      events.push(parsed.event);
    }
  }
  return events;
}

/** `inner` (default `processBatch`) that also records each committed record in the explorer. */
export function withExplorer(inner: BatchProcessor = processBatch, logger?: Logger): BatchProcessor {
  return (db, records, options) => {
    let calls = 0;
    return inner(db, records, {
      ...options,
      checkpoint: async (tx, last) => {
        // The first commit covers every record up to `last` (the whole batch); later ones (the
        // per-record retries after a failed batch) cover just their record.
        const upTo = records.indexOf(last);
        const covered = calls === 0 && upTo >= 0 ? records.slice(0, upTo + 1) : [last];
        calls++;
        await recordExplorerEvents(tx, eventsOf(covered), logger ?? options.logger);
        await options.checkpoint?.(tx, last);
      },
    });
  };
}

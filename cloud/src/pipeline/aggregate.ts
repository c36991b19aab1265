/**
 * The aggregator: applies a batch of Kinesis records (PipelineEvent JSON) to the PostgreSQL tables of
 * migrations/0002_pipeline.sql in ONE transaction, with set-based statements (a fixed number of round
 * trips per batch, whatever its size).
 *
 * Exactly-once: the dedupe insert into `processed_events` and every aggregate write share the
 * transaction, so an event id is either applied and recorded, or neither; a re-delivered event finds
 * its id and is skipped. The poller commits its checkpoint in that same transaction.
 */
import type { EvaluationsPipelineEvent, EventFilter, ExposureEvent, PipelineEvent, PipelineRecord, TrackEvent } from '@xp/shared';
import { formatIssues, isEvaluationsRecord, metricSchema, pipelineRecordSchema } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import type { Database, Queryable } from '../store/db.js';
import { DatabaseError, SqlState } from '../store/database.js';
import { forgetExplorerEvents, withoutErasedUnits } from '../store/erasure.js';
import { lockProjectAggregates, tryLockProjectAggregates } from '../store/project-locks.js';
import { projects } from '../store/projects.js';
import { addEvaluationCounts, pruneFlagEvaluations } from '../store/flag-evaluations.js';
import { pruneOlderThan } from '../store/prune.js';
import type { PruneOptions } from '../store/prune.js';

/** One stream record, as Lambda (base64 `data`) or GetRecords (bytes) delivers it. */
export interface StreamRecord {
  /** The record's payload: bytes, or a base64 string (the Lambda event's encoding). */
  readonly data: Uint8Array | string;
  readonly sequenceNumber: string;
  readonly shardId: string;
  readonly partitionKey: string;
  /** When the record reached the stream (Kinesis ApproximateArrivalTimestamp), in epoch ms, when known. */
  readonly approximateArrivalMs?: number;
}

export interface AggregateOptions {
  /** Length of the pre-exposure (CUPED) window before a unit's first exposure. Default 336 h (14 days). */
  readonly preExposureWindowHours?: number;
  /** Attempts of a record failing for a non-transient reason before it is dead-lettered. Default 3. */
  readonly maxAttempts?: number;
  /** Runs inside each committing transaction with the last record it covers (the poller's checkpoint). */
  readonly checkpoint?: (tx: Queryable, last: StreamRecord) => Promise<void>;
  readonly logger?: Logger;
}

export interface BatchCounts {
  /** Events applied for the first time. */
  readonly processed: number;
  /** Valid events skipped because their id was already processed (or repeated within the batch). */
  readonly duplicates: number;
  /** Records newly stored in `dead_letters`. */
  readonly deadLettered: number;
}

export interface BatchItemFailure {
  /** The record's sequence number. */
  readonly itemIdentifier: string;
}

/** Same shape as Lambda's KinesisStreamBatchResponse, plus counts. */
export interface BatchResult extends BatchCounts {
  /** Records to deliver again: the first failed one and every record after it. */
  readonly batchItemFailures: BatchItemFailure[];
}

export const DEFAULT_PRE_EXPOSURE_WINDOW_HOURS = 14 * 24;
export const DEFAULT_MAX_ATTEMPTS = 3;

const HOUR_MS = 3_600_000;
/** The largest instant a JavaScript Date (and therefore the SDK) can express. */
const MAX_TIME_MS = 8.64e15;
const MAX_REASON_CHARS = 2_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

type Parsed = { readonly ok: true; readonly event: PipelineRecord } | { readonly ok: false; readonly reason: string };

/** Decodes and validates one record; never throws. */
export function parseRecord(record: StreamRecord): Parsed {
  const bytes = recordBytes(record);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'payload is not UTF-8' };
  }
  // PostgreSQL text and jsonb cannot hold NUL; such a record could never be stored.
  if (text.includes('\u0000') || text.includes('\\u0000')) {
    return { ok: false, reason: 'payload contains a NUL character' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `payload is not JSON: ${error instanceof Error ? error.message : 'parse error'}` };
  }
  let parsed: ReturnType<typeof pipelineRecordSchema.safeParse>;
  try {
    parsed = pipelineRecordSchema.safeParse(json);
  } catch {
    // The API refuses deep properties; a record from elsewhere could still be nested past the stack.
    return { ok: false, reason: 'not a pipeline event: nested too deeply to check' };
  }
  if (!parsed.success) {
    return { ok: false, reason: `not a pipeline event: ${formatIssues(parsed.error).join('; ')}` };
  }
  if (parsed.data.occurredAt > MAX_TIME_MS) {
    return { ok: false, reason: 'occurredAt is beyond the representable time range' };
  }
  // The schema's output is one of the union's members; zod types the item alone as the union.
  return { ok: true, event: parsed.data as PipelineRecord };
}

function recordBytes(record: StreamRecord): Uint8Array {
  return typeof record.data === 'string' ? Buffer.from(record.data, 'base64') : record.data;
}

/**
 * Applies a batch in one transaction and reports what must be delivered again (Lambda's
 * ReportBatchItemFailures semantics). Poison records are dead-lettered, not failures. A transient
 * database error fails the whole batch (every record reported, nothing written). Any other error
 * replays the batch one record per transaction to isolate the culprit, which is retried up to
 * `maxAttempts` deliveries and then dead-lettered. Never throws.
 */
export async function processBatch(db: Database, records: readonly StreamRecord[], options: AggregateOptions = {}): Promise<BatchResult> {
  if (records.length === 0) {
    return { batchItemFailures: [], processed: 0, duplicates: 0, deadLettered: 0 };
  }
  try {
    const counts = await db.withTransaction(async (tx) => {
      const { erased, ...result } = await processRecords(tx, records, options);
      await options.checkpoint?.(tx, records[records.length - 1]!);
      await forgetExplorerEvents(tx, erased);
      return result;
    });
    return { batchItemFailures: [], ...counts };
  } catch (error) {
    if (isTransientError(error)) {
      options.logger?.warn('aggregator batch failed; it will be retried', { records: records.length, error: describe(error) });
      return { batchItemFailures: failuresFrom(records, 0), processed: 0, duplicates: 0, deadLettered: 0 };
    }
    options.logger?.warn('aggregator batch failed; isolating records', { records: records.length, error: describe(error) });
    return isolate(db, records, options);
  }
}

async function isolate(db: Database, records: readonly StreamRecord[], options: AggregateOptions): Promise<BatchResult> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  let processed = 0;
  let duplicates = 0;
  let deadLettered = 0;
  const result = (failedFrom: number | undefined): BatchResult => ({
    batchItemFailures: failedFrom === undefined ? [] : failuresFrom(records, failedFrom),
    processed,
    duplicates,
    deadLettered,
  });
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    try {
      const counts = await db.withTransaction(async (tx) => {
        const { erased, ...c } = await processRecords(tx, [record], options);
        await tx.query('DELETE FROM record_failures WHERE shard_id = $1 AND sequence_number = $2', [record.shardId, record.sequenceNumber]);
        await options.checkpoint?.(tx, record);
        await forgetExplorerEvents(tx, erased);
        return c;
      });
      processed += counts.processed;
      duplicates += counts.duplicates;
      deadLettered += counts.deadLettered;
      continue;
    } catch (error) {
      if (isTransientError(error)) {
        return result(i);
      }
      const reason = describe(error);
      try {
        const attempts = await recordFailure(db, record, reason);
        if (attempts < maxAttempts) {
          options.logger?.warn('aggregator record failed; it will be retried', { sequenceNumber: record.sequenceNumber, attempts, error: reason });
          return result(i);
        }
        const stored = await db.withTransaction(async (tx) => {
          const n = await deadLetter(tx, [{ record, reason: `failed ${attempts} times: ${reason}` }]);
          await tx.query('DELETE FROM record_failures WHERE shard_id = $1 AND sequence_number = $2', [record.shardId, record.sequenceNumber]);
          await options.checkpoint?.(tx, record);
          return n;
        });
        options.logger?.error('aggregator record dead-lettered after repeated failures', { sequenceNumber: record.sequenceNumber, attempts, error: reason });
        deadLettered += stored;
      } catch (bookkeeping) {
        options.logger?.warn('aggregator could not record a failure; the record will be retried', { error: describe(bookkeeping) });
        return result(i);
      }
    }
  }
  return result(undefined);
}

async function recordFailure(db: Database, record: StreamRecord, reason: string): Promise<number> {
  const out = await db.query<{ attempts: number }>(
    `INSERT INTO record_failures (shard_id, sequence_number, attempts, last_error) VALUES ($1, $2, 1, $3)
     ON CONFLICT (shard_id, sequence_number) DO UPDATE
       SET attempts = record_failures.attempts + 1, last_error = EXCLUDED.last_error, updated_at = now()
     RETURNING attempts`,
    [record.shardId, record.sequenceNumber, truncate(reason)],
  );
  return out.rows[0]?.attempts ?? 1;
}

function failuresFrom(records: readonly StreamRecord[], index: number): BatchItemFailure[] {
  return records.slice(index).map((r) => ({ itemIdentifier: r.sequenceNumber }));
}

/** SQLSTATE classes that fail the same way every time: data, integrity, syntax/definition, raised errors. */
const DETERMINISTIC_CLASSES = new Set(['21', '22', '23', '27', '2B', '2F', '42', '44', 'P0']);

/**
 * Connection loss, shutdowns, resource exhaustion, serialization failures and deadlocks are worth
 * retrying as they are; data and definition errors, and bugs (non-database errors), are not.
 */
export function isTransientError(error: unknown): boolean {
  if (!(error instanceof DatabaseError)) {
    return false;
  }
  const code = error.code;
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code)) {
    return true;
  }
  return !DETERMINISTIC_CLASSES.has(code.slice(0, 2));
}

function describe(error: unknown): string {
  if (error instanceof DatabaseError) {
    return `${error.code ?? 'database error'}: ${error.message}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function truncate(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}

/**
 * The batch's work inside the caller's transaction; throws on any database error (the caller rolls
 * back). Statement order matters: exposures are applied (recomputing totals from stored events for
 * units whose exposure time is new or moved) BEFORE this batch's tracked events are stored and added,
 * so no event is counted twice. Events of a deleted project, and those of an erased unit from before
 * its erasure (store/erasure.ts), are dropped: neither applied nor dead-lettered.
 */
export async function processBatchInTransaction(tx: Queryable, records: readonly StreamRecord[], options: AggregateOptions = {}): Promise<BatchCounts> {
  const { processed, duplicates, deadLettered } = await processRecords(tx, records, options);
  return { processed, duplicates, deadLettered };
}

/** `processBatchInTransaction`, also returning the events dropped because their unit was erased (for the explorer hook's rows). */
async function processRecords(tx: Queryable, records: readonly StreamRecord[], options: AggregateOptions): Promise<BatchCounts & { readonly erased: readonly PipelineEvent[] }> {
  const poison: { record: StreamRecord; reason: string }[] = [];
  const candidates: PipelineRecord[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  for (const record of records) {
    const parsed = parseRecord(record);
    if (!parsed.ok) {
      poison.push({ record, reason: parsed.reason });
      continue;
    }
    const key = eventKey(parsed.event.projectId, parsed.event.event.id);
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    candidates.push(parsed.event);
  }
  // Before any write: a recount of one of these projects in flight finishes first (store/project-locks.ts).
  const projectIds = [...new Set(candidates.map((e) => e.projectId))];
  await lockProjectAggregates(tx, projectIds, 'shared');
  const deadLettered = poison.length > 0 ? await deadLetter(tx, poison) : 0;
  // Events of a deleted project (a stream backlog, a replay of the archive) have nowhere to go:
  // read under the lock its deletion held, so none lands after the deletion purged the project's data.
  const live = await projects.existing(tx, projectIds);
  const existing = live.size === projectIds.length ? candidates : candidates.filter((e) => live.has(e.projectId));
  if (existing.length < candidates.length) {
    options.logger?.info('aggregator drops events of deleted projects', { events: candidates.length - existing.length });
  }
  // Evaluation counts belong to no unit: no erasure applies to them.
  const unitEvents: PipelineEvent[] = [];
  const evaluations: EvaluationsPipelineEvent[] = [];
  for (const e of existing) {
    if (isEvaluationsRecord(e)) {
      evaluations.push(e);
    } else {
      unitEvents.push(e);
    }
  }
  // Events of a unit erased since they happened (store/erasure.ts), read under the lock the erasure held.
  const { kept: keptUnitEvents, erased } = await withoutErasedUnits(tx, unitEvents);
  const kept: PipelineRecord[] = evaluations.length === 0 ? keptUnitEvents : [...keptUnitEvents, ...evaluations];
  if (erased.length > 0) {
    options.logger?.info('aggregator drops events of erased units', { events: erased.length, reason: 'unit erased' });
  }
  const fresh = await dedupe(tx, kept);
  duplicates += kept.length - fresh.length;
  if (evaluations.length === 0) {
    if (fresh.length > 0) {
      await apply(tx, fresh as PipelineEvent[], options);
    }
  } else {
    const freshUnitEvents = fresh.filter((e): e is PipelineEvent => !isEvaluationsRecord(e));
    if (freshUnitEvents.length > 0) {
      await apply(tx, freshUnitEvents, options);
    }
    // Evaluation counts are not exposures: only their hourly buckets (migration 0042) change.
    await addEvaluationCounts(tx, fresh.filter(isEvaluationsRecord));
  }
  return { processed: fresh.length, duplicates, deadLettered, erased };
}

function eventKey(projectId: string, eventId: string): string {
  return `${projectId}\u0000${eventId}`;
}

async function deadLetter(tx: Queryable, items: readonly { record: StreamRecord; reason: string }[]): Promise<number> {
  const out = await tx.query(
    `INSERT INTO dead_letters (shard_id, sequence_number, partition_key, data, reason)
     SELECT shard_id, sequence_number, partition_key, decode(data, 'hex'), reason
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS d(shard_id, sequence_number, partition_key, data, reason)
     ON CONFLICT (shard_id, sequence_number) DO NOTHING
     RETURNING id`,
    [
      items.map((i) => i.record.shardId),
      items.map((i) => i.record.sequenceNumber),
      // A partition key is the producer's unit id: one holding NUL must not make its record undeadletterable (and block the shard).
      items.map((i) => i.record.partitionKey.replaceAll('\u0000', '\uFFFD')),
      items.map((i) => Buffer.from(recordBytes(i.record)).toString('hex')),
      items.map((i) => truncate(i.reason)),
    ],
  );
  return out.rowCount;
}

/** Records the events' ids and returns the events not seen before. */
async function dedupe<E extends PipelineRecord>(tx: Queryable, events: readonly E[]): Promise<E[]> {
  if (events.length === 0) {
    return [];
  }
  const out = await tx.query<{ project_id: string; event_id: string }>(
    `INSERT INTO processed_events (project_id, event_id)
     SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT DO NOTHING
     RETURNING project_id, event_id`,
    [events.map((e) => e.projectId), events.map((e) => e.event.id)],
  );
  const inserted = new Set(out.rows.map((r) => eventKey(r.project_id, r.event_id)));
  return events.filter((e) => inserted.has(eventKey(e.projectId, e.event.id)));
}

/** One event-level input of one metric of one experiment: what the SQL joins events against. */
interface MetricSpec {
  readonly projectId: string;
  readonly experiment: string;
  readonly metric: string;
  readonly eventName: string;
  /** 0: the value (ratio numerator); 1: the ratio denominator. */
  readonly part: 0 | 1;
  readonly aggregation: 'count' | 'sum';
  readonly property: string | null;
  readonly windowMs: number | null;
  /** Where the analysis window starts, from the exposure (the metric's delayHours; negative: before it). */
  readonly delayMs: number;
  readonly conversion: boolean;
  /** When the experiment stopped (epoch ms), for a stopped experiment: events from then on do not count. */
  readonly stopMs: number | null;
  /** The periods the experiment was stopped before it resumed, [from, until) in epoch ms. */
  readonly pauses: readonly (readonly [number, number])[] | null;
  /** Which events count, by their properties (the metric's or the ratio side's `where`); null: every event. */
  readonly filter: EventFilter | null;
}

/**
 * Metrics of every experiment of the given projects: the experiment's primary, secondary and
 * guardrail lists plus the project's guardrail metrics. Invalid stored metrics are skipped.
 */
export async function loadMetricSpecs(tx: Queryable, projectIds: readonly string[], logger?: Logger): Promise<MetricSpec[]> {
  const out = await tx.query<{ project_id: string; experiment: string; metric: string; definition: unknown; stopped_at: string | null; pauses: unknown }>(
    `SELECT e.project_id, e.key AS experiment, m.key AS metric, m.definition,
            CASE WHEN e.status = 'stopped' THEN e.definition ->> 'stoppedAt' END AS stopped_at,
            e.definition -> 'pauses' AS pauses
     FROM experiments e
     JOIN metrics m ON m.project_id = e.project_id
     WHERE e.project_id = ANY($1::text[])
       AND (m.definition -> 'guardrail' = 'true'::jsonb
            OR coalesce(e.definition -> 'metrics' -> 'primary', '[]'::jsonb) ? m.key
            OR coalesce(e.definition -> 'metrics' -> 'secondary', '[]'::jsonb) ? m.key
            OR coalesce(e.definition -> 'metrics' -> 'guardrails', '[]'::jsonb) ? m.key)
     ORDER BY e.project_id, e.key, m.key`,
    [projectIds],
  );
  const specs: MetricSpec[] = [];
  for (const row of out.rows) {
    const parsed = metricSchema.safeParse(row.definition);
    if (!parsed.success) {
      logger?.warn('aggregator skips an invalid metric definition', { projectId: row.project_id, metric: row.metric });
      continue;
    }
    const m = parsed.data;
    const stopMs = row.stopped_at === null ? NaN : Date.parse(row.stopped_at);
    const base = {
      projectId: row.project_id,
      experiment: row.experiment,
      metric: row.metric,
      windowMs: m.windowHours === undefined ? null : Math.round(m.windowHours * HOUR_MS),
      delayMs: Math.round((m.delayHours ?? 0) * HOUR_MS),
      conversion: m.type === 'conversion',
      stopMs: Number.isFinite(stopMs) ? stopMs : null,
      pauses: pausesOf(row.pauses),
    };
    if (m.type === 'ratio') {
      if (m.numerator !== undefined && m.denominator !== undefined) {
        specs.push({ ...base, part: 0, eventName: m.numerator.event, aggregation: m.numerator.aggregation, property: m.numerator.property ?? null, filter: m.numerator.where ?? null });
        specs.push({ ...base, part: 1, eventName: m.denominator.event, aggregation: m.denominator.aggregation, property: m.denominator.property ?? null, filter: m.denominator.where ?? null });
      }
    } else if (m.event !== undefined) {
      specs.push({ ...base, part: 0, eventName: m.event, aggregation: m.type === 'sum' ? 'sum' : 'count', property: m.property ?? null, filter: m.where ?? null });
    }
  }
  return specs;
}

/** The stored pauses as [stoppedAt, resumedAt) epoch ms, leaving out any that do not parse. */
function pausesOf(stored: unknown): [number, number][] | null {
  const parsed = Array.isArray(stored) ? stored.map((p: { stoppedAt?: unknown; resumedAt?: unknown }) => [Date.parse(String(p.stoppedAt)), Date.parse(String(p.resumedAt))] as [number, number]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b)) : [];
  return parsed.length === 0 ? null : parsed;
}

/**
 * The specs as the first twelve parameters of a statement ($1-$12); the tenth, the experiment's stop
 * and pauses as JSON; the eleventh, the delay; the twelfth, the event filter as JSON (null: none).
 */
function specParams(specs: readonly MetricSpec[]): unknown[] {
  return [
    specs.map((s) => s.projectId),
    specs.map((s) => s.experiment),
    specs.map((s) => s.metric),
    specs.map((s) => s.eventName),
    specs.map((s) => s.part),
    specs.map((s) => s.aggregation),
    specs.map((s) => s.property),
    specs.map((s) => s.windowMs),
    specs.map((s) => s.conversion),
    specs.map((s) => (s.stopMs === null && s.pauses === null ? null : JSON.stringify({ stop: s.stopMs, pauses: s.pauses }))),
    specs.map((s) => s.delayMs),
    specs.map((s) => (s.filter === null ? null : JSON.stringify(s.filter))),
  ];
}

const SPECS_CTE = `specs AS (
  SELECT project_id, experiment, metric, event_name, part, agg, property, window_ms, conversion,
         (life ->> 'stop')::bigint AS stop_ms, nullif(life -> 'pauses', 'null'::jsonb) AS pauses, delay_ms, filter
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::bigint[], $9::boolean[], $10::jsonb[], $11::bigint[], $12::jsonb[])
    AS s(project_id, experiment, metric, event_name, part, agg, property, window_ms, conversion, life, delay_ms, filter))`;

const EPOCH_MS = `'epoch'::timestamptz + interval '1 millisecond' *`;

/** Where the metric's analysis window starts for the exposure of pair `xe`: the exposure plus the metric's delay. */
const ANALYSIS_START = `(xe.exposed_at + interval '1 millisecond' * s.delay_ms)`;

/**
 * Contributions of the (exposure, event) pairs `xe` (the exposure's columns and the event's name,
 * occurred_at, value and properties) to the totals of the exposure, for the metrics `s` of its
 * experiment whose event it is, when the event falls in a window of ($13 = pre window in ms),
 * with start = exposed_at + delayHours: analysis [start, start + windowHours); pre-period
 * [exposed_at - pre, min(exposed_at, start)), so that with a negative delay no event counts in both
 * and with a positive one the events of [exposed_at, start) count in neither (a retention metric);
 * and before the experiment's stop when it is stopped, and outside the periods it was stopped before
 * it resumed (what happens while stopped is not its effect); and when the metric (or the ratio side)
 * has a `where`, only if the event's properties pass it (migration 0040; a CASE, so that metrics
 * without one never call the function).
 * A sum adds the named property when it is a JSON number, else the event's value.
 */
const CONTRIBUTION = `
  SELECT xe.project_id, xe.environment, xe.experiment, xe.unit_id, s.metric, s.conversion, s.part,
         xe.occurred_at >= ${ANALYSIS_START} AS post,
         CASE WHEN s.agg = 'sum'
              THEN coalesce(CASE WHEN jsonb_typeof(xe.properties -> s.property) = 'number' THEN (xe.properties ->> s.property)::numeric END, xe.value, 0)
              ELSE 1 END AS amount`;
const IN_WINDOW = `
  xe.occurred_at >= least(xe.exposed_at - interval '1 millisecond' * $13::bigint, ${ANALYSIS_START})
  AND (xe.occurred_at >= ${ANALYSIS_START} OR xe.occurred_at < xe.exposed_at)
  AND (s.window_ms IS NULL OR xe.occurred_at < ${ANALYSIS_START} + interval '1 millisecond' * s.window_ms)
  AND (s.stop_ms IS NULL OR xe.occurred_at < ${EPOCH_MS} s.stop_ms)
  AND (s.pauses IS NULL OR NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(s.pauses) p
    WHERE xe.occurred_at >= ${EPOCH_MS} (p ->> 0)::bigint AND xe.occurred_at < ${EPOCH_MS} (p ->> 1)::bigint))
  AND CASE WHEN s.filter IS NULL THEN true ELSE event_passes_filter(xe.properties, s.filter) END`;

/** The columns of an (exposure `x`, event `ev`) pair that CONTRIBUTION and IN_WINDOW read. */
const PAIR_COLUMNS = 'x.project_id, x.environment, x.experiment, x.unit_id, x.exposed_at, ev.name, ev.occurred_at, ev.value, ev.properties';

/**
 * The contributions of the (exposure, event) pairs selected by `pairs` (PAIR_COLUMNS), joined to
 * their metrics last. The pairs are a subquery the planner cannot pull up (OFFSET 0): it used to join
 * the metric specs first, misjudging that join at one row, and then probed the exposures and events
 * once per (unit, metric) instead of once per unit: five times the index probes at six metrics.
 */
function contributionsOf(pairs: string): string {
  return `${CONTRIBUTION}
    FROM (${pairs} OFFSET 0) xe
    JOIN specs s ON s.project_id = xe.project_id AND s.experiment = xe.experiment AND s.event_name = xe.name
    WHERE ${IN_WINDOW}`;
}

/**
 * Groups contributions per (experiment, unit, metric) and adds them to the stored totals. The
 * grouping's sort compares unit_id first: the other keys are the same on most rows (one project,
 * environment and a few experiments per batch), and comparing them first doubled the sort's time.
 */
const UPSERT_TOTALS = `
  INSERT INTO unit_metric_totals AS u (project_id, environment, experiment, unit_id, metric, conversion, value, pre_value, denominator, pre_denominator)
  SELECT project_id, environment, experiment, unit_id, metric, conversion,
         CASE WHEN conversion THEN coalesce(max(1) FILTER (WHERE part = 0 AND post), 0)
              ELSE coalesce(sum(amount) FILTER (WHERE part = 0 AND post), 0) END,
         CASE WHEN conversion THEN coalesce(max(1) FILTER (WHERE part = 0 AND NOT post), 0)
              ELSE coalesce(sum(amount) FILTER (WHERE part = 0 AND NOT post), 0) END,
         coalesce(sum(amount) FILTER (WHERE part = 1 AND post), 0),
         coalesce(sum(amount) FILTER (WHERE part = 1 AND NOT post), 0)
  FROM contrib
  GROUP BY unit_id, metric, experiment, environment, project_id, conversion
  ON CONFLICT (project_id, environment, experiment, unit_id, metric) DO UPDATE SET
    value = CASE WHEN u.conversion THEN greatest(u.value, EXCLUDED.value) ELSE u.value + EXCLUDED.value END,
    pre_value = CASE WHEN u.conversion THEN greatest(u.pre_value, EXCLUDED.pre_value) ELSE u.pre_value + EXCLUDED.pre_value END,
    denominator = u.denominator + EXCLUDED.denominator,
    pre_denominator = u.pre_denominator + EXCLUDED.pre_denominator,
    updated_at = now()`;

/**
 * The contributions of every stored event to the totals of the exposures in the `targets` CTE, the
 * planner choosing the joins (a rebuild's targets are every exposure of an experiment).
 */
const STORED_CONTRIBUTIONS = contributionsOf(`SELECT ${PAIR_COLUMNS}
    FROM targets c
    JOIN exposures x ON x.project_id = c.project_id AND x.environment = c.environment AND x.experiment = c.experiment AND x.unit_id = c.unit_id
    JOIN unit_events ev ON ev.project_id = x.project_id AND ev.environment = x.environment AND ev.unit_id = x.unit_id`);

/**
 * STORED_CONTRIBUTIONS for a batch's few hundred targets: an index probe of the exposure and of its
 * unit's events per target. A lateral subquery that cannot be pulled up (OFFSET 0) leaves the planner
 * no other plan; given the choice, working from statistics older than the tables (autovacuum
 * analyzes late, PGlite never), it scanned and hashed the whole exposures table in every batch.
 */
const STORED_CONTRIBUTIONS_PROBED = contributionsOf(`SELECT ${PAIR_COLUMNS}
    FROM targets c
    CROSS JOIN LATERAL (
      SELECT * FROM exposures x
      WHERE x.project_id = c.project_id AND x.environment = c.environment AND x.experiment = c.experiment AND x.unit_id = c.unit_id
      OFFSET 0) x
    CROSS JOIN LATERAL (
      SELECT * FROM unit_events ev
      WHERE ev.project_id = x.project_id AND ev.environment = x.environment AND ev.unit_id = x.unit_id
      OFFSET 0) ev`);

/** Recomputes totals of the exposures selected by the `targets` CTE from every stored event. */
function recomputeSql(targets: string): string {
  return `WITH ${SPECS_CTE},
  targets AS (${targets}),
  contrib AS (${STORED_CONTRIBUTIONS})
  ${UPSERT_TOTALS}`;
}

/** Deletes the totals of the (project, environment, experiment, unit) keys in $1-$4, before they are recomputed. */
const DELETE_TOTALS_OF = `DELETE FROM unit_metric_totals t
  USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS c(project_id, environment, experiment, unit_id)
  WHERE t.project_id = c.project_id AND t.environment = c.environment AND t.experiment = c.experiment AND t.unit_id = c.unit_id`;

const RECOMPUTE_CHANGED = recomputeSql(
  'SELECT * FROM unnest($14::text[], $15::text[], $16::text[], $17::text[]) AS c(project_id, environment, experiment, unit_id)',
);

/**
 * The batch's totals in one statement, so each totals row is written (and rolled up by the
 * triggers) once per batch: recomputes, from the events stored BEFORE this statement, the totals of
 * the exposures that are new or moved ($14-$17, the keys; empty for none), stores the batch's
 * tracked events ($18-$25; empty for none) and adds those to the totals of every exposure of their
 * unit. The stored-event part cannot see the rows this statement inserts (one snapshot), so no event
 * is counted twice; grouping both parts' contributions together gives what the recompute followed
 * by the add gave (sums add, conversions take the greatest).
 */
const RECOMPUTE_AND_ADD_TRACKS = `WITH ${SPECS_CTE},
  targets AS (SELECT * FROM unnest($14::text[], $15::text[], $16::text[], $17::text[]) AS c(project_id, environment, experiment, unit_id)),
  ev AS (
    INSERT INTO unit_events (project_id, environment, unit_id, name, occurred_at, event_id, value, properties)
    SELECT project_id, environment, unit_id, name, ${EPOCH_MS} occurred_ms, event_id, value, properties
    FROM unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[], $23::text[], $24::numeric[], $25::jsonb[])
      AS t(project_id, environment, unit_id, name, occurred_ms, event_id, value, properties)
    RETURNING *),
  contrib AS (${STORED_CONTRIBUTIONS_PROBED}
    UNION ALL ${contributionsOf(`SELECT ${PAIR_COLUMNS}
      FROM ev
      CROSS JOIN LATERAL (
        SELECT * FROM exposures x
        WHERE x.project_id = ev.project_id AND x.environment = ev.environment AND x.unit_id = ev.unit_id
        OFFSET 0) x`)})
  ${UPSERT_TOTALS}`;

/**
 * First exposure wins, independent of arrival order: the earliest (occurred time, event id) sets the
 * variation and exposure time; any exposure to another variation marks the unit excluded. Returns
 * the exposures that are new or whose exposure time moved (their totals must be recomputed).
 */
const UPSERT_EXPOSURES = `WITH raw AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::jsonb[])
      AS r(project_id, environment, experiment, unit_id, variation, occurred_ms, event_id, attributes)),
  incoming AS (
    SELECT project_id, environment, experiment, unit_id,
           (array_agg(variation ORDER BY occurred_ms, event_id COLLATE "C"))[1] AS variation,
           ${EPOCH_MS} min(occurred_ms) AS exposed_at,
           (array_agg(event_id ORDER BY occurred_ms, event_id COLLATE "C"))[1] AS first_event_id,
           (array_agg(attributes ORDER BY occurred_ms, event_id COLLATE "C") FILTER (WHERE attributes IS NOT NULL))[1] AS attributes,
           count(DISTINCT variation) > 1 AS excluded
    FROM raw
    GROUP BY project_id, environment, experiment, unit_id),
  -- One primary-key probe per incoming exposure (a correlated lookup, never a scan of the table,
  -- whatever the planner's statistics say); NULL for an exposure not stored before this statement.
  prev AS (
    SELECT i.project_id, i.environment, i.experiment, i.unit_id,
           (SELECT x.exposed_at FROM exposures x
            WHERE x.project_id = i.project_id AND x.environment = i.environment AND x.experiment = i.experiment AND x.unit_id = i.unit_id) AS exposed_at
    FROM incoming i),
  up AS (
    INSERT INTO exposures AS x (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, excluded, attributes)
    SELECT project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, excluded, attributes FROM incoming
    ON CONFLICT (project_id, environment, experiment, unit_id) DO UPDATE SET
      excluded = x.excluded OR EXCLUDED.excluded OR x.variation <> EXCLUDED.variation,
      variation = CASE WHEN (EXCLUDED.exposed_at, EXCLUDED.first_event_id COLLATE "C") < (x.exposed_at, x.first_event_id COLLATE "C")
                       THEN EXCLUDED.variation ELSE x.variation END,
      first_event_id = CASE WHEN (EXCLUDED.exposed_at, EXCLUDED.first_event_id COLLATE "C") < (x.exposed_at, x.first_event_id COLLATE "C")
                            THEN EXCLUDED.first_event_id ELSE x.first_event_id END,
      attributes = CASE WHEN (EXCLUDED.exposed_at, EXCLUDED.first_event_id COLLATE "C") < (x.exposed_at, x.first_event_id COLLATE "C")
                        THEN coalesce(EXCLUDED.attributes, x.attributes) ELSE coalesce(x.attributes, EXCLUDED.attributes) END,
      exposed_at = least(x.exposed_at, EXCLUDED.exposed_at),
      updated_at = now()
    RETURNING project_id, environment, experiment, unit_id, exposed_at)
  SELECT up.project_id, up.environment, up.experiment, up.unit_id, prev.exposed_at IS NOT NULL AS moved
  FROM up LEFT JOIN prev USING (project_id, environment, experiment, unit_id)
  WHERE prev.exposed_at IS DISTINCT FROM up.exposed_at`;

interface ExposureKey {
  project_id: string;
  environment: string;
  experiment: string;
  unit_id: string;
  /** The exposure existed with a later time: its stored totals are stale. */
  moved: boolean;
}

/** The distinct unit ids a tracked event belongs to: its `unitId` first, then the values of `units` (attribute names do not matter). */
export function unitIdsOf(event: Pick<TrackEvent, 'unitId' | 'units'>): string[] {
  if (event.units === undefined) {
    return [event.unitId];
  }
  return [...new Set([event.unitId, ...Object.values(event.units)])];
}

/**
 * The exposures not received before their experiment key was last deleted: those belonged to the
 * deleted experiment (whose data the deletion purged), however late they arrive — a stream backlog
 * drained after the deletion, or `xp replay` of the archive — and must not bring its units back
 * under an experiment created later with the same key.
 */
async function exposuresAfterDeletion<E extends { readonly at: PipelineEvent; readonly event: ExposureEvent }>(tx: Queryable, exposures: E[]): Promise<E[]> {
  if (exposures.length === 0) {
    return exposures;
  }
  const deleted = await tx.query<{ project_id: string; experiment: string; deleted_ms: string }>(
    `SELECT project_id, experiment, (extract(epoch FROM deleted_at) * 1000)::bigint::text AS deleted_ms FROM experiment_deletions WHERE project_id = ANY($1::text[])`,
    [[...new Set(exposures.map((e) => e.at.projectId))]],
  );
  if (deleted.rows.length === 0) {
    return exposures;
  }
  const until = new Map(deleted.rows.map((r) => [`${r.project_id}\u0000${r.experiment}`, Number(r.deleted_ms)]));
  return exposures.filter((e) => e.at.receivedAt > (until.get(`${e.at.projectId}\u0000${e.event.experiment}`) ?? -Infinity));
}

async function apply(tx: Queryable, events: readonly PipelineEvent[], options: AggregateOptions): Promise<void> {
  const preWindowMs = preWindowMsOf(options);
  const specs = await loadMetricSpecs(tx, [...new Set(events.map((e) => e.projectId))], options.logger);
  let exposures: { readonly at: PipelineEvent; readonly event: ExposureEvent }[] = [];
  const tracks: { readonly at: PipelineEvent; readonly event: TrackEvent }[] = [];
  for (const e of events) {
    if (e.event.type === 'exposure') {
      exposures.push({ at: e, event: e.event });
    } else {
      tracks.push({ at: e, event: e.event });
    }
  }
  exposures = await exposuresAfterDeletion(tx, exposures);

  // The exposures whose totals are recomputed from the stored events: new ones, and moved ones (cleared first).
  let recompute: ExposureKey[] = [];
  if (exposures.length > 0) {
    const changed = await tx.query<ExposureKey>(UPSERT_EXPOSURES, [
      exposures.map((e) => e.at.projectId),
      exposures.map((e) => e.at.environment),
      exposures.map((e) => e.event.experiment),
      exposures.map((e) => e.event.unitId),
      exposures.map((e) => e.event.variation),
      exposures.map((e) => e.at.occurredAt),
      exposures.map((e) => e.event.id),
      exposures.map((e) => (e.event.attributes === undefined ? null : JSON.stringify(e.event.attributes))),
    ]);
    if (changed.rows.length > 0 && specs.length > 0) {
      // New exposures have no totals yet; only moved ones need clearing before the recompute.
      const moved = changed.rows.filter((r) => r.moved);
      if (moved.length > 0) {
        await tx.query(
          DELETE_TOTALS_OF,
          [moved.map((r) => r.project_id), moved.map((r) => r.environment), moved.map((r) => r.experiment), moved.map((r) => r.unit_id)],
        );
      }
      recompute = changed.rows;
    }
  }

  if (recompute.length > 0 || tracks.length > 0) {
    // One row per distinct unit the event belongs to: its unitId and its other identifiers (`units`),
    // so that it meets the exposures of experiments bucketed on those attributes; repeated values
    // make one row, so that no exposure counts the event twice.
    const rows = tracks.flatMap((e) => unitIdsOf(e.event).map((unitId) => ({ e, unitId })));
    await tx.query(RECOMPUTE_AND_ADD_TRACKS, [
      ...specParams(specs),
      preWindowMs,
      recompute.map((r) => r.project_id),
      recompute.map((r) => r.environment),
      recompute.map((r) => r.experiment),
      recompute.map((r) => r.unit_id),
      rows.map((r) => r.e.at.projectId),
      rows.map((r) => r.e.at.environment),
      rows.map((r) => r.unitId),
      rows.map((r) => r.e.event.name),
      rows.map((r) => r.e.at.occurredAt),
      rows.map((r) => r.e.event.id),
      rows.map((r) => (r.e.event.value === undefined ? null : String(r.e.event.value))),
      rows.map((r) => (r.e.event.properties === undefined ? null : JSON.stringify(r.e.event.properties))),
    ]);
  }
}

/**
 * Recomputes an experiment's totals from the stored events, e.g. after its metric list or a metric
 * definition changed. Run it in a transaction (`db.withTransaction`): it holds the project's
 * aggregates lock until that commits, so the project's aggregator batches are neither counted twice
 * nor missed.
 */
export async function rebuildTotals(
  tx: Queryable,
  target: { readonly projectId: string; readonly environment: string; readonly experiment: string },
  options: Pick<AggregateOptions, 'preExposureWindowHours' | 'logger'> = {},
): Promise<void> {
  const preWindowMs = preWindowMsOf(options);
  const params = [target.projectId, target.environment, target.experiment];
  await lockProjectAggregates(tx, [target.projectId], 'exclusive');
  await tx.query('DELETE FROM unit_metric_totals WHERE project_id = $1 AND environment = $2 AND experiment = $3', params);
  // With no totals left the metric rollups hold nothing but must sum to zero; their deltas do not
  // cancel out when the metric's cap changed (the old rows carry the old cap), so they go too, and
  // the recount below writes them again under the current cap. Unit counts (metric '') stay.
  for (const table of ['results_rollups', 'results_dimension_rollups']) {
    await tx.query(`DELETE FROM ${table} WHERE project_id = $1 AND environment = $2 AND experiment = $3 AND metric <> ''`, params);
  }
  const specs = await experimentSpecs(tx, target, options.logger);
  if (specs.length === 0) {
    return;
  }
  await tx.query(
    recomputeSql('SELECT project_id, environment, experiment, unit_id FROM exposures WHERE project_id = $14 AND environment = $15 AND experiment = $16'),
    [...specParams(specs), preWindowMs, ...params],
  );
}

/**
 * Recounts, from the stored events, the totals of the experiment's units that have an event from
 * `from` on — the stop, when the experiment stops or resumes: events of that time counted while it
 * ran (SDKs may send events dated up to a day ahead) leave the totals at the stop, as the
 * aggregator leaves out those arriving later, and those after the pause count again at the resume.
 * Runs in the caller's transaction after the experiment's definition was updated there, holding the
 * project's aggregates lock like a rebuild. Returns how many units were recounted.
 *
 * With `lockWaitMs`, when the project's aggregator batch in flight does not let go of the lock within
 * that time (stuck behind a table lock, a slow disk), the recount is left to a rebuild of the
 * experiment's totals (`totals_rebuilds`, done by the next results computation or the aggregator's
 * upkeep) and null is returned: the caller's change commits without waiting on the pipeline.
 */
export async function recountEventsSince(
  tx: Queryable,
  target: { readonly projectId: string; readonly experiment: string },
  from: Date,
  options: Pick<AggregateOptions, 'preExposureWindowHours' | 'logger'> & { readonly lockWaitMs?: number } = {},
): Promise<number | null> {
  if (options.lockWaitMs === undefined) {
    await lockProjectAggregates(tx, [target.projectId], 'exclusive');
  } else if (!(await tryLockProjectAggregates(tx, target.projectId, options.lockWaitMs))) {
    await tx.query(
      `INSERT INTO totals_rebuilds (project_id, experiment) VALUES ($1, $2)
       ON CONFLICT (project_id, experiment) DO UPDATE SET requested_at = excluded.requested_at`,
      [target.projectId, target.experiment],
    );
    options.logger?.warn('the aggregator holds the project; the experiment totals are rebuilt at the next results computation instead of now', {
      experiment: target.experiment,
      waitedMs: options.lockWaitMs,
    });
    return null;
  }
  const units = await tx.query<{ environment: string; unit_id: string }>(
    `SELECT x.environment, x.unit_id FROM exposures x
     WHERE x.project_id = $1 AND x.experiment = $2
       AND EXISTS (SELECT 1 FROM unit_events ev
                   WHERE ev.project_id = x.project_id AND ev.environment = x.environment AND ev.unit_id = x.unit_id AND ev.occurred_at >= $3)`,
    [target.projectId, target.experiment, from.toISOString()],
  );
  if (units.rows.length === 0) {
    return 0;
  }
  const keys = [units.rows.map(() => target.projectId), units.rows.map((r) => r.environment), units.rows.map(() => target.experiment), units.rows.map((r) => r.unit_id)];
  await tx.query(DELETE_TOTALS_OF, keys);
  const specs = await experimentSpecs(tx, target, options.logger);
  if (specs.length > 0) {
    await tx.query(RECOMPUTE_CHANGED, [...specParams(specs), preWindowMsOf(options), ...keys]);
  }
  return units.rows.length;
}

/** The metric specs of one experiment. */
async function experimentSpecs(tx: Queryable, target: { readonly projectId: string; readonly experiment: string }, logger: Logger | undefined): Promise<MetricSpec[]> {
  return (await loadMetricSpecs(tx, [target.projectId], logger)).filter((s) => s.experiment === target.experiment);
}

/** The pre-exposure (CUPED) window in milliseconds. */
function preWindowMsOf(options: Pick<AggregateOptions, 'preExposureWindowHours'>): number {
  return Math.round((options.preExposureWindowHours ?? DEFAULT_PRE_EXPOSURE_WINDOW_HOURS) * HOUR_MS);
}

/** How a requested rebuild may run within a caller's time: a statement_timeout (PostgreSQL) and where running out of it is told. */
export interface TotalsRebuildOptions {
  readonly timeoutMs?: number;
  readonly logger?: Pick<Logger, 'warn'>;
  readonly preExposureWindowHours?: number;
}


/**
 * Rebuilds the requested totals of at most `limit` experiments (at random, so one that keeps running
 * out of time does not starve the others), for the aggregator's upkeep between batches, which has
 * more time than a results request. Returns how many it rebuilt.
 */
export async function rebuildPendingTotals(db: Database, options: TotalsRebuildOptions & { readonly limit?: number } = {}): Promise<number> {
  const pending = await db.query<{ project_id: string; experiment: string }>('SELECT project_id, experiment FROM totals_rebuilds ORDER BY random() LIMIT $1', [options.limit ?? 1]);
  let rebuilt = 0;
  for (const row of pending.rows) {
    if (await rebuildRequestedTotals(db, { projectId: row.project_id, experiment: row.experiment }, options)) {
      rebuilt++;
    }
  }
  return rebuilt;
}

/**
 * Recomputes the experiment's totals in every environment when a definition change asked for it
 * (`totals_rebuilds`, written by the definitions service), and clears the request. The rebuild
 * holds the project's aggregates lock (store/project-locks.ts), so the project's aggregator batches
 * in flight finish first and later ones wait, none counted twice or missed, while other projects'
 * batches go on. A rebuild that runs out of
 * `timeoutMs` is rolled back and left for a later call. Returns whether the totals are current.
 */
export async function rebuildRequestedTotals(db: Database, target: { readonly projectId: string; readonly experiment: string }, options: TotalsRebuildOptions = {}): Promise<boolean> {
  const params = [target.projectId, target.experiment];
  const pending = await db.query<{ waiting: boolean }>(
    `SELECT failed_at IS NOT NULL AND failed_at > now() - interval '1 minute' * least(60, power(2, failures))
            AND $3::integer <= coalesce(failed_budget_ms, 2147483647) AS waiting
     FROM totals_rebuilds WHERE project_id = $1 AND experiment = $2`,
    [...params, db.kind === 'pg' && options.timeoutMs !== undefined ? Math.floor(options.timeoutMs) : 2147483647],
  );
  if (pending.rows.length === 0) {
    return true;
  }
  if (pending.rows[0]!.waiting) {
    // It ran out of as much time as this caller has not long ago: trying again would only hold aggregation.
    return false;
  }
  try {
    await db.withTransaction(async (tx) => {
      if (db.kind === 'pg' && options.timeoutMs !== undefined) {
        await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.timeoutMs))}`);
      }
      await lockProjectAggregates(tx, [target.projectId], 'exclusive');
      // Another call may have rebuilt it while this one waited for the lock.
      const request = await tx.query('DELETE FROM totals_rebuilds WHERE project_id = $1 AND experiment = $2 RETURNING 1', params);
      if (request.rows.length === 0) {
        return;
      }
      const envs = await tx.query<{ environment: string }>('SELECT DISTINCT environment FROM exposures WHERE project_id = $1 AND experiment = $2', params);
      const known = new Set(envs.rows.map((r) => r.environment));
      // Totals left in an environment without exposures (none are written there) are dropped with the rest.
      const stray = await tx.query<{ environment: string }>('SELECT DISTINCT environment FROM unit_metric_totals WHERE project_id = $1 AND experiment = $2', params);
      for (const environment of new Set([...known, ...stray.rows.map((r) => r.environment)])) {
        await rebuildTotals(tx, { ...target, environment }, options.preExposureWindowHours === undefined ? {} : { preExposureWindowHours: options.preExposureWindowHours });
      }
    });
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code !== SqlState.QueryCanceled) {
      throw error;
    }
    await db.query(
      `UPDATE totals_rebuilds SET failures = failures + 1, failed_at = now(), failed_budget_ms = greatest(coalesce(failed_budget_ms, 0), $3)
       WHERE project_id = $1 AND experiment = $2`,
      [...params, Math.floor(options.timeoutMs ?? 0)],
    );
    options.logger?.warn('experiment totals rebuild ran out of time; results count events under the old metric definitions until one completes', {
      experiment: target.experiment,
      timeoutMs: options.timeoutMs,
    });
    return false;
  }
}

/** The oldest event the SDK endpoints accept, in hours (MAX_AGE_MS of the events endpoint: 30 days). */
const ACCEPTED_EVENT_AGE_HOURS = 30 * 24;

/**
 * How long a dedupe record must be kept so that no repeat of its event can still be counted: the
 * events endpoint accepts an event (an SDK's retry, a replayed batch) up to 30 days after it
 * happened, and a record can then wait in the stream for the stream's retention; a day more.
 */
export function dedupeRetentionHours(streamRetentionHours = 24): number {
  return ACCEPTED_EVENT_AGE_HOURS + streamRetentionHours + 24;
}

/**
 * Deletes dedupe records older than the retention window, `chunk` rows per statement (each its own
 * short transaction, so aggregation never waits long), until none is left or `deadline` (epoch ms)
 * has passed; returns how many. Without pruning the table grows by one row per event for good.
 * Also deletes the flag evaluation buckets older than their retention (store/flag-evaluations.ts).
 */
export async function pruneProcessedEvents(db: Queryable, retentionHours: number, options: PruneOptions = {}): Promise<number> {
  const deleted = await pruneOlderThan(db, 'processed_events', retentionHours, options);
  // The flag evaluation buckets past their 90 days go in the same periodic upkeep (few rows: one per flag, variation and hour).
  await pruneFlagEvaluations(db);
  return deleted;
}

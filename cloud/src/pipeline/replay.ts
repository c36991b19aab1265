/**
 * Rebuilds aggregates from the raw event archive, e.g. after a metric definition changed or a bug
 * in the aggregator was fixed. Idempotent: whatever the archived events stored before is removed
 * first, the events go through the aggregator again (the same statements as the live pipeline),
 * and the affected experiments' totals are recomputed from the stored events. Atomic: all of it is
 * one transaction, so a replay that is interrupted (Ctrl-C, a lost session, a crash) or fails
 * changes nothing, and results never show a window half cleared and half applied; meanwhile the
 * live aggregator waits for the projects' aggregates lock (their events wait in the stream).
 *
 * Scope: every event in the window, or with `experiment` only that experiment's exposures (tracked
 * events are shared by all experiments and stay as stored; its totals are recomputed from them).
 *
 * Evaluation counts are added to buckets and cannot be taken out again. The aggregator saw every
 * record but those that expired from the stream unread (an open stream_gaps window): only those are
 * applied again, and their dedupe records still skip any it did count. Not the dedupe records alone:
 * they are pruned after about a month (dedupeRetentionHours), and a replay of an older window would
 * count its records a second time. A replay of one experiment (`experiment`) applies none.
 */
import type { EvaluationsPipelineEvent, PipelineEvent, PipelineRecord } from '@xp/shared';
import { isEvaluationsRecord } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import type { Database, Queryable } from '../store/db.js';
import { withoutErasedUnits } from '../store/erasure.js';
import { localArchive } from '../store/event-archive.js';
import type { ArchiveSource } from '../store/event-archive.js';
import { lockProjectAggregates } from '../store/project-locks.js';
import { parseRecord, processBatchInTransaction, rebuildTotals } from './aggregate.js';
import type { StreamRecord } from './aggregate.js';

/** Deletes the stored rows of the (project, event id) pairs in $1-$2: by the unit_events_event_id index (migration 0038). */
export const DELETE_UNIT_EVENTS_OF =
  'DELETE FROM unit_events u USING unnest($1::text[], $2::text[]) AS r(project_id, event_id) WHERE u.project_id = r.project_id AND u.event_id = r.event_id';

export interface ReplayOptions {
  /** Local archive root (`<data dir>/archive/events`), or another source such as the S3 bucket. */
  readonly archive: string | ArchiveSource;
  /** Arrival window [from, to). */
  readonly from: Date;
  readonly to: Date;
  /** Only this experiment key (in every project that has one). */
  readonly experiment?: string;
  /** Records per aggregator pass (all in the replay's one transaction). Default 1,000. */
  readonly chunkSize?: number;
  /** Progress lines (the CLI writes them to stderr). */
  readonly progress?: (line: string) => void;
  readonly logger?: Logger;
}

export interface ReplayResult {
  readonly files: number;
  /** Events in the window and scope, applied (after removing repeats of an event id and the `erased`). */
  readonly events: number;
  /** Lines that are not pipeline events. */
  readonly invalid: number;
  /** Experiments whose totals were recomputed. */
  readonly experiments: number;
  /** Events left out because their unit was erased after they happened (store/erasure.ts). */
  readonly erased: number;
  /** Windows of records that expired from the stream unread (stream_gaps) this replay covered, now resolved. */
  readonly resolvedGaps: number;
}

interface Target {
  readonly projectId: string;
  readonly environment: string;
  readonly experiment: string;
}

/** Reads the window's events from the archive: one per (project, event id), the first archived wins. */
export async function readArchivedEvents(options: Pick<ReplayOptions, 'archive' | 'from' | 'to' | 'experiment' | 'progress'>): Promise<{ events: PipelineRecord[]; files: number; invalid: number }> {
  const source = typeof options.archive === 'string' ? localArchive(options.archive) : options.archive;
  const files = await source.objects(options.from, options.to);
  const seen = new Set<string>();
  const events: PipelineRecord[] = [];
  let invalid = 0;
  for (const [i, file] of files.entries()) {
    for (const line of await source.lines(file)) {
      if (!line.ok) {
        invalid++;
        continue;
      }
      const parsed = parseRecord({ data: Buffer.from(line.text, 'utf8'), sequenceNumber: '0', shardId: 'archive', partitionKey: '' });
      if (!parsed.ok) {
        invalid++;
        continue;
      }
      const e = parsed.event;
      if (e.receivedAt < options.from.getTime() || e.receivedAt >= options.to.getTime()) {
        continue;
      }
      if (options.experiment !== undefined && (e.event.type !== 'exposure' || e.event.experiment !== options.experiment)) {
        continue;
      }
      const key = `${e.projectId}\u0000${e.event.id}`;
      if (!seen.has(key)) {
        seen.add(key);
        events.push(e);
      }
    }
    options.progress?.(`read ${i + 1}/${files.length} files, ${events.length} events`);
  }
  return { events, files: files.length, invalid };
}

const toRecord = (e: PipelineRecord, i: number): StreamRecord => ({
  data: Buffer.from(JSON.stringify(e), 'utf8'),
  sequenceNumber: String(i),
  shardId: 'replay',
  partitionKey: isEvaluationsRecord(e) ? e.event.id : e.event.unitId,
});

/**
 * How far before a stream gap's first arrival an evaluations record may have been accepted: the API
 * stamps `receivedAt` before its PutRecords (with retries) gets the record its arrival time.
 */
const ARRIVAL_MARGIN_MS = 5 * 60_000;

/**
 * The evaluations records of `read` that arrived in a window of the stream that expired unread
 * (stream_gaps, not resolved yet): the only ones the aggregator never saw. None for one experiment's replay.
 */
async function unreadEvaluations(tx: Queryable, read: readonly EvaluationsPipelineEvent[], experiment: string | undefined): Promise<EvaluationsPipelineEvent[]> {
  if (read.length === 0 || experiment !== undefined) {
    return [];
  }
  const gaps = await tx.query<{ from_arrival: Date | string; to_arrival: Date | string }>('SELECT from_arrival, to_arrival FROM stream_gaps WHERE resolved_at IS NULL');
  const windows = gaps.rows.map((g) => [new Date(g.from_arrival).getTime() - ARRIVAL_MARGIN_MS, new Date(g.to_arrival).getTime()] as const);
  return read.filter((e) => windows.some(([from, to]) => e.receivedAt >= from && e.receivedAt <= to));
}

/** Replays the archive's window into the database; see the module comment for what it rebuilds. */
export async function replayArchive(db: Database, options: ReplayOptions): Promise<ReplayResult> {
  const progress = options.progress ?? (() => undefined);
  const { events: read, files, invalid } = await readArchivedEvents(options);
  const chunkSize = Math.max(1, options.chunkSize ?? 1_000);
  const projectIds = [...new Set(read.map((e) => e.projectId))];

  return db.withTransaction(async (tx) => {
    await lockProjectAggregates(tx, projectIds, 'exclusive');
    const evaluations = await unreadEvaluations(tx, read.filter(isEvaluationsRecord), options.experiment);
    // Events of units erased since: the archive keeps them, the aggregates must not (the aggregator would drop them too).
    const { kept: events, erased } = await withoutErasedUnits(tx, read.filter((e): e is PipelineEvent => !isEvaluationsRecord(e)));
    if (erased.length > 0) {
      progress(`dropped ${erased.length} events of erased units`);
      options.logger?.info('replay drops events of erased units', { events: erased.length, reason: 'unit erased' });
    }
    const ids = { projects: events.map((e) => e.projectId), events: events.map((e) => e.event.id) };
    const tracks = events.filter((e) => e.event.type === 'track');
    const exposures = events.filter((e) => e.event.type === 'exposure');
    // 1. Forget what these events stored, so applying them again is not a no-op or a double count.
    await tx.query('DELETE FROM processed_events p USING unnest($1::text[], $2::text[]) AS r(project_id, event_id) WHERE p.project_id = r.project_id AND p.event_id = r.event_id', [ids.projects, ids.events]);
    if (tracks.length > 0) {
      await tx.query(DELETE_UNIT_EVENTS_OF, [tracks.map((e) => e.projectId), tracks.map((e) => e.event.id)]);
    }
    if (exposures.length > 0) {
      await tx.query('DELETE FROM exposures x USING unnest($1::text[], $2::text[]) AS r(project_id, event_id) WHERE x.project_id = r.project_id AND x.first_event_id = r.event_id', [
        exposures.map((e) => e.projectId),
        exposures.map((e) => e.event.id),
      ]);
    }
    progress(`cleared ${events.length} events' previous effects`);

    // 2. Apply them again through the aggregator, in order of occurrence, a chunk per statement group.
    const ordered = [...events, ...evaluations].sort((a, b) => a.occurredAt - b.occurredAt || (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0));
    for (let start = 0; start < ordered.length; start += chunkSize) {
      const chunk = ordered.slice(start, start + chunkSize).map((e, i) => toRecord(e, start + i));
      await processBatchInTransaction(tx, chunk, options.logger === undefined ? {} : { logger: options.logger });
      progress(`applied ${Math.min(start + chunkSize, ordered.length)}/${ordered.length} events`);
    }

    // 3. Recompute the totals of every affected experiment with today's metric definitions.
    const targets = await experimentsToRebuild(tx, projectIds, events, options.experiment);
    for (const [i, target] of targets.entries()) {
      await rebuildTotals(tx, target, options.logger === undefined ? {} : { logger: options.logger });
      progress(`recomputed totals ${i + 1}/${targets.length} (${target.experiment}, ${target.environment})`);
    }
    // 4. A replay of every event (not one experiment's) over a window of records that expired from
    // the stream unread (pipeline/poller.ts) applied what the aggregator missed: the window is resolved.
    let resolvedGaps = 0;
    if (options.experiment === undefined) {
      const resolved = await tx.query(
        'UPDATE stream_gaps SET resolved_at = now() WHERE resolved_at IS NULL AND from_arrival >= $1::timestamptz AND to_arrival <= $2::timestamptz',
        [options.from.toISOString(), options.to.toISOString()],
      );
      resolvedGaps = resolved.rowCount;
      if (resolvedGaps > 0) {
        progress(`resolved ${resolvedGaps} window(s) of records that expired from the stream unread`);
        options.logger?.info('replay resolves windows of records that expired from the stream unread', { windows: resolvedGaps });
      }
    }
    progress('committing');
    return { files, events: events.length + evaluations.length, invalid, experiments: targets.length, erased: erased.length, resolvedGaps };
  });
}

/** With an experiment: that one where it was exposed; without: every experiment exposed in the events' environments. */
async function experimentsToRebuild(db: Queryable, projectIds: readonly string[], events: readonly PipelineEvent[], experiment: string | undefined): Promise<Target[]> {
  if (projectIds.length === 0) {
    return [];
  }
  const envs = [...new Set(events.map((e) => `${e.projectId}\u0000${e.environment}`))].map((k) => k.split('\u0000') as [string, string]);
  const out = await db.query<{ project_id: string; environment: string; experiment: string }>(
    `SELECT DISTINCT x.project_id, x.environment, x.experiment
     FROM exposures x JOIN unnest($1::text[], $2::text[]) AS s(project_id, environment) ON x.project_id = s.project_id AND x.environment = s.environment
     WHERE $3::text IS NULL OR x.experiment = $3
     ORDER BY 1, 2, 3`,
    [envs.map(([p]) => p), envs.map(([, e]) => e), experiment ?? null],
  );
  return out.rows.map((r) => ({ projectId: r.project_id, environment: r.environment, experiment: r.experiment }));
}

/**
 * The live event explorer's table (migrations/0008_event_explorer.sql): every accepted event and
 * exposure for a retention window, searchable by unit, name, property containment, free text and
 * time, with keyset pagination; plus the per-unit timeline and the stream cursor.
 */
import type { PipelineEvent } from '@xp/shared';
import type { Logger } from '../domain/context.js';
import { AppError, AppErrorCode } from '../errors.js';
import type { Queryable } from './db.js';
import { decodeCursor, encodeCursor } from './pagination.js';
import type { Page } from './pagination.js';

export const ExplorerEventType = {
  /** The unit was bucketed into an experiment (reason SPLIT). */
  Exposure: 'exposure',
  /** An event the application tracked. */
  Track: 'track',
} as const;
export type ExplorerEventType = (typeof ExplorerEventType)[keyof typeof ExplorerEventType];

/** One explorer row as the API returns it. */
export interface ExplorerEvent {
  readonly id: string;
  readonly type: ExplorerEventType;
  readonly environment: string;
  readonly unitId: string;
  /** Tracked events: the unit's other identifiers, by attribute (`{"deviceId": "dev1"}`). */
  readonly units?: Record<string, string>;
  /** Tracked events: the event name; exposures: the experiment key. */
  readonly name: string;
  readonly experiment?: string;
  readonly variation?: string;
  readonly flag?: string;
  /** Exposures: why the unit got the variation (an exposure is always a bucketed SPLIT). */
  readonly reason?: string;
  readonly value?: number;
  /** Tracked events: their properties; exposures: the unit's attributes when exposed. */
  readonly properties?: Record<string, unknown>;
  readonly occurredAt: string;
  readonly receivedAt: string;
  /** Insertion order; the stream's `Last-Event-ID`. */
  readonly seq: number;
}

export interface ExplorerFilter {
  readonly environment?: string;
  /** The unit id, or one of a tracked event's other identifiers (`units`). */
  readonly unitId?: string;
  readonly name?: string;
  readonly type?: ExplorerEventType;
  readonly experiment?: string;
  /** JSONB containment: events whose properties contain this object. */
  readonly properties?: Record<string, unknown>;
  /** Free text over names, unit id, experiment, variation, flag and property values (all words must match). */
  readonly text?: string;
  readonly from?: Date;
  readonly to?: Date;
}

interface Row {
  event_id: string;
  type: string;
  environment: string;
  unit_id: string;
  units: Record<string, string> | null;
  name: string;
  experiment: string | null;
  variation: string | null;
  flag: string | null;
  value: string | null;
  properties: Record<string, unknown> | null;
  occurred_at: Date | string;
  received_at: Date | string;
  seq: string | number;
}

const COLUMNS = 'event_id, type, environment, unit_id, units, name, experiment, variation, flag, value, properties, occurred_at, received_at, seq';

const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

function toEvent(r: Row): ExplorerEvent {
  const type = r.type === 'exposure' ? ExplorerEventType.Exposure : ExplorerEventType.Track;
  return {
    id: r.event_id,
    type,
    environment: r.environment,
    unitId: r.unit_id,
    ...(r.units === null ? {} : { units: r.units }),
    name: r.name,
    ...(r.experiment === null ? {} : { experiment: r.experiment }),
    ...(r.variation === null ? {} : { variation: r.variation }),
    ...(r.flag === null ? {} : { flag: r.flag }),
    ...(type === ExplorerEventType.Exposure ? { reason: 'SPLIT' } : {}),
    ...(r.value === null ? {} : { value: Number(r.value) }),
    ...(r.properties === null ? {} : { properties: r.properties }),
    occurredAt: iso(r.occurred_at),
    receivedAt: iso(r.received_at),
    seq: Number(r.seq),
  };
}

/**
 * Stores events (already deduplicated or not: the event id is the key) in the caller's transaction,
 * inside a savepoint so that a failure here is logged and never fails the aggregation around it.
 */
export async function recordExplorerEvents(tx: Queryable, events: readonly PipelineEvent[], logger?: Logger): Promise<number> {
  if (events.length === 0) {
    return 0;
  }
  await tx.query('SAVEPOINT explorer_events');
  try {
    const out = await tx.query(
      `INSERT INTO explorer_events (project_id, environment, event_id, type, unit_id, name, experiment, variation, flag, value, properties, occurred_at, received_at, units, other_unit_ids)
       SELECT p, e, id, t, u, n, x, v, f, val::numeric, props::jsonb, to_timestamp(occ / 1000.0), to_timestamp(rec / 1000.0), us::jsonb,
         CASE WHEN us IS NULL THEN NULL ELSE ARRAY(SELECT DISTINCT value FROM jsonb_each_text(us::jsonb) WHERE value <> u ORDER BY value) END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::float8[], $13::float8[], $14::text[])
         AS i(p, e, id, t, u, n, x, v, f, val, props, occ, rec, us)
       -- Not those of a deleted project (a stream backlog, a replay): the aggregator drops them too.
       WHERE EXISTS (SELECT 1 FROM projects WHERE projects.id = i.p)
       ON CONFLICT (project_id, event_id) DO NOTHING`,
      [
        events.map((e) => e.projectId),
        events.map((e) => e.environment),
        events.map((e) => e.event.id),
        events.map((e) => e.event.type),
        events.map((e) => e.event.unitId),
        events.map((e) => (e.event.type === 'exposure' ? e.event.experiment : e.event.name)),
        events.map((e) => (e.event.type === 'exposure' ? e.event.experiment : null)),
        events.map((e) => (e.event.type === 'exposure' ? e.event.variation : null)),
        events.map((e) => (e.event.type === 'exposure' ? (e.event.flag ?? null) : null)),
        events.map((e) => (e.event.type === 'track' && e.event.value !== undefined ? String(e.event.value) : null)),
        events.map((e) => {
          const props = e.event.type === 'exposure' ? e.event.attributes : e.event.properties;
          return props === undefined ? null : JSON.stringify(props);
        }),
        events.map((e) => e.occurredAt),
        events.map((e) => e.receivedAt),
        events.map((e) => (e.event.type === 'track' && e.event.units !== undefined && Object.keys(e.event.units).length > 0 ? JSON.stringify(e.event.units) : null)),
      ],
    );
    await tx.query('RELEASE SAVEPOINT explorer_events');
    return out.rowCount;
  } catch (error) {
    await tx.query('ROLLBACK TO SAVEPOINT explorer_events');
    logger?.warn('explorer: events not recorded (aggregation unaffected)', { count: events.length, error: error instanceof Error ? error.message : String(error) });
    return 0;
  }
}

/** WHERE clauses and their parameters ($1 is the project). */
function where(projectId: string, filter: ExplorerFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [projectId];
  const clauses = ['project_id = $1'];
  const add = (clause: (n: string) => string, value: unknown): void => {
    params.push(value);
    clauses.push(clause(`$${params.length}`));
  };
  if (filter.environment !== undefined) {
    add((n) => `environment = ${n}`, filter.environment);
  }
  if (filter.unitId !== undefined) {
    add((n) => `(unit_id = ${n} OR other_unit_ids @> ARRAY[${n}::text])`, filter.unitId);
  }
  if (filter.name !== undefined) {
    add((n) => `name = ${n}`, filter.name);
  }
  if (filter.type !== undefined) {
    add((n) => `type = ${n}`, filter.type);
  }
  if (filter.experiment !== undefined) {
    add((n) => `experiment = ${n}`, filter.experiment);
  }
  if (filter.properties !== undefined) {
    add((n) => `properties @> ${n}::jsonb`, JSON.stringify(filter.properties));
  }
  if (filter.text !== undefined) {
    add((n) => `search @@ plainto_tsquery('simple', ${n})`, filter.text);
  }
  if (filter.from !== undefined) {
    add((n) => `occurred_at >= ${n}`, filter.from.toISOString());
  }
  if (filter.to !== undefined) {
    add((n) => `occurred_at < ${n}`, filter.to.toISOString());
  }
  return { sql: clauses.join(' AND '), params };
}

const CURSOR = /^(\d{1,16}):(\d{1,19})$/;

/** A position in the (occurred_at, seq) order both the search and the timeline page by. */
export interface EventPosition {
  readonly occurredAt: Date;
  readonly seq: string;
}

/** The opaque cursor after `e`: its occurred-at millisecond and seq, so events of one millisecond still have distinct positions. */
const cursorAfter = (e: ExplorerEvent): string => encodeCursor(`${Date.parse(e.occurredAt)}:${e.seq}`);

/** The position a cursor of this module names; undefined when it is not one. */
export function eventPosition(cursor: string): EventPosition | undefined {
  let text: string | undefined;
  try {
    text = decodeCursor(cursor, 'string');
  } catch {
    return undefined;
  }
  const m = text === undefined ? null : CURSOR.exec(text);
  return m === null ? undefined : { occurredAt: new Date(Number(m[1])), seq: m[2]! };
}

/** Newest first, keyset-paginated by (occurred_at, seq). */
export async function searchExplorerEvents(db: Queryable, projectId: string, filter: ExplorerFilter, page: { readonly limit: number; readonly cursor?: string | undefined }): Promise<Page<ExplorerEvent>> {
  const w = where(projectId, filter);
  let sql = w.sql;
  const params = [...w.params];
  if (page.cursor !== undefined && page.cursor !== '') {
    const at = eventPosition(page.cursor);
    if (at === undefined) {
      throw new AppError(AppErrorCode.Validation, 'invalid cursor: pass the nextCursor of the previous page as it was given', { issues: [{ path: 'query.cursor', message: 'not a cursor of this list' }] });
    }
    params.push(at.occurredAt.toISOString(), at.seq);
    sql += ` AND (occurred_at, seq) < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`;
  }
  params.push(page.limit + 1);
  const out = await db.query<Row>(`SELECT ${COLUMNS} FROM explorer_events WHERE ${sql} ORDER BY occurred_at DESC, seq DESC LIMIT $${params.length}`, params);
  const rows = out.rows.map(toEvent);
  const items = rows.slice(0, page.limit);
  const last = items[items.length - 1];
  return rows.length > page.limit && last !== undefined ? { items, nextCursor: cursorAfter(last) } : { items };
}

/** Events inserted after `afterSeq`, oldest first: what the stream sends next. */
export async function explorerEventsAfter(db: Queryable, projectId: string, afterSeq: number, filter: ExplorerFilter, limit: number): Promise<ExplorerEvent[]> {
  const w = where(projectId, filter);
  const out = await db.query<Row>(`SELECT ${COLUMNS} FROM explorer_events WHERE ${w.sql} AND seq > $${w.params.length + 1} ORDER BY seq LIMIT $${w.params.length + 2}`, [...w.params, afterSeq, limit]);
  return out.rows.map(toEvent);
}

/** The newest sequence number of the project (0 when empty): where a new stream starts. */
export async function latestExplorerSeq(db: Queryable, projectId: string): Promise<number> {
  const out = await db.query<{ seq: string | number | null }>('SELECT max(seq) AS seq FROM explorer_events WHERE project_id = $1', [projectId]);
  return Number(out.rows[0]?.seq ?? 0);
}

export interface TimelinePage {
  readonly limit: number;
  /** `asc`: oldest first; `desc`: newest first (what support usually wants to see first). */
  readonly order: 'asc' | 'desc';
  /** Continue strictly after this event, in `order`. */
  readonly after?: EventPosition;
}

/**
 * What one unit saw and did, in time order, keyset-paginated by (occurred_at, seq): many events can
 * share one timestamp, so a `from` of the last one would return it again and the seq breaks the tie.
 * `next` continues after the last item when more exist.
 */
export async function unitTimeline(
  db: Queryable,
  projectId: string,
  unitId: string,
  filter: Pick<ExplorerFilter, 'environment' | 'from' | 'to'>,
  page: TimelinePage,
): Promise<{ items: ExplorerEvent[]; truncated: boolean; next?: string }> {
  const w = where(projectId, { ...filter, unitId });
  let sql = w.sql;
  const params = [...w.params];
  const direction = page.order === 'desc' ? ' DESC' : '';
  if (page.after !== undefined) {
    params.push(page.after.occurredAt.toISOString(), page.after.seq);
    sql += ` AND (occurred_at, seq) ${page.order === 'desc' ? '<' : '>'} ($${params.length - 1}::timestamptz, $${params.length}::bigint)`;
  }
  params.push(page.limit + 1);
  const out = await db.query<Row>(`SELECT ${COLUMNS} FROM explorer_events WHERE ${sql} ORDER BY occurred_at${direction}, seq${direction} LIMIT $${params.length}`, params);
  const items = out.rows.slice(0, page.limit).map(toEvent);
  const last = items[items.length - 1];
  return out.rows.length > page.limit && last !== undefined ? { items, truncated: true, next: cursorAfter(last) } : { items, truncated: false };
}

/** Deletes events that arrived before the retention window; returns how many. */
export async function purgeExplorerEvents(db: Queryable, retentionDays: number, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionDays * 24 * 3_600_000);
  const out = await db.query('DELETE FROM explorer_events WHERE received_at < $1', [cutoff.toISOString()]);
  return out.rowCount;
}

export const DEFAULT_EXPLORER_RETENTION_DAYS = 7;


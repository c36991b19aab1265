/**
 * Flag evaluation counts (migration 0042): hourly buckets per (project, environment, flag key,
 * served variation). Written by the aggregator inside its batch transaction; read by the flag
 * evaluations API. Variation '' in the table is "the caller's default was served" (null outside).
 */
import type { EvaluationsPipelineEvent } from '@xp/shared';
import type { Queryable } from './db.js';
import { pruneOlderThan } from './prune.js';

/** How long the buckets are kept. */
export const FLAG_EVALUATION_RETENTION_DAYS = 90;

const HOUR_MS = 3_600_000;

/**
 * When a record's counts count: its window's end (`occurredAt`), but never after the API received it.
 * The clock-skew rule accepts a window end up to a day ahead of the server; such a record must not
 * land in a future bucket nor make "last evaluated" say tomorrow.
 */
export function evaluationTime(record: Pick<EvaluationsPipelineEvent, 'occurredAt' | 'receivedAt'>): number {
  return Math.min(record.occurredAt, record.receivedAt);
}

/**
 * Adds the records' counts to the bucket of the hour of each record's time (`evaluationTime`: its
 * window's end, or when it was received if that is earlier). Call it only with records the dedupe let
 * through, in the same transaction. One statement: pairs landing in the same bucket are summed first
 * (an upsert cannot touch one row twice).
 */
export async function addEvaluationCounts(tx: Queryable, records: readonly EvaluationsPipelineEvent[]): Promise<void> {
  const rows = records.flatMap((r) => {
    const at = evaluationTime(r);
    return r.event.counts.map((c) => ({ projectId: r.projectId, environment: r.environment, flag: c.flag, variation: c.variation ?? '', hourMs: Math.floor(at / HOUR_MS) * HOUR_MS, at, count: c.count }));
  });
  if (rows.length === 0) {
    return;
  }
  await tx.query(
    `INSERT INTO flag_evaluations (project_id, environment, flag_key, variation, hour, count, last_at)
     SELECT project_id, environment, flag_key, variation, 'epoch'::timestamptz + interval '1 millisecond' * hour_ms, sum(n), 'epoch'::timestamptz + interval '1 millisecond' * max(at_ms)
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS r(project_id, environment, flag_key, variation, hour_ms, at_ms, n)
     GROUP BY project_id, environment, flag_key, variation, hour_ms
     ON CONFLICT (project_id, environment, flag_key, variation, hour) DO UPDATE
       SET count = flag_evaluations.count + EXCLUDED.count, last_at = greatest(flag_evaluations.last_at, EXCLUDED.last_at)`,
    [
      rows.map((r) => r.projectId),
      rows.map((r) => r.environment),
      rows.map((r) => r.flag),
      rows.map((r) => r.variation),
      rows.map((r) => r.hourMs),
      rows.map((r) => r.at),
      rows.map((r) => r.count),
    ],
  );
}

/** Deletes a project's counts (the project is being deleted). */
export async function deleteProjectEvaluations(tx: Queryable, projectId: string): Promise<void> {
  await tx.query('DELETE FROM flag_evaluations WHERE project_id = $1', [projectId]);
}

/** Deletes the buckets older than `days` (default the retention), `chunk` rows per statement; returns how many. */
export function pruneFlagEvaluations(db: Queryable, days = FLAG_EVALUATION_RETENTION_DAYS, chunk = 10_000): Promise<number> {
  return pruneOlderThan(db, 'flag_evaluations', days * 24, { chunk });
}

/** Bucket width of a series. */
export const EvaluationInterval = {
  /** One bucket per UTC hour. */
  Hour: 'hour',
  /** One bucket per UTC day. */
  Day: 'day',
} as const;
export type EvaluationInterval = (typeof EvaluationInterval)[keyof typeof EvaluationInterval];

export interface EvaluationBucket {
  readonly at: Date;
  readonly environment: string;
  readonly variation: string | null;
  readonly count: number;
}

export interface FlagEvaluationData {
  /** Buckets with counts, oldest first; a bucket without counts is absent. */
  readonly series: EvaluationBucket[];
  readonly totals: { readonly environment: string; readonly variation: string | null; readonly count: number }[];
  /** The last evaluation stored per environment, over the whole retention (not only the window). */
  readonly lastEvaluated: { readonly environment: string; readonly at: Date }[];
}

const variationOf = (stored: string): string | null => (stored === '' ? null : stored);

/** The flag key's counts in [from, to) (`from` already at a bucket start), optionally in one environment. */
export async function flagEvaluationData(
  db: Queryable,
  q: { readonly projectId: string; readonly flag: string; readonly environment: string | undefined; readonly from: Date; readonly to: Date; readonly interval: EvaluationInterval },
): Promise<FlagEvaluationData> {
  const env = q.environment ?? null;
  // The interval is one of two constants, never caller text.
  const bucket = q.interval === EvaluationInterval.Day ? `date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'` : 'hour';
  const series = await db.query<{ at: Date | string; environment: string; variation: string; count: string }>(
    `SELECT ${bucket} AS at, environment, variation, sum(count)::text AS count
     FROM flag_evaluations
     WHERE project_id = $1 AND flag_key = $2 AND ($3::text IS NULL OR environment = $3) AND hour >= $4 AND hour < $5
     GROUP BY 1, environment, variation
     ORDER BY 1, environment, variation`,
    [q.projectId, q.flag, env, q.from.toISOString(), q.to.toISOString()],
  );
  const last = await db.query<{ environment: string; at: Date | string }>(
    `SELECT environment, max(last_at) AS at FROM flag_evaluations
     WHERE project_id = $1 AND flag_key = $2 AND ($3::text IS NULL OR environment = $3)
     GROUP BY environment ORDER BY environment`,
    [q.projectId, q.flag, env],
  );
  const totals = new Map<string, { environment: string; variation: string | null; count: number }>();
  for (const r of series.rows) {
    const key = JSON.stringify([r.environment, r.variation]);
    const t = totals.get(key) ?? { environment: r.environment, variation: variationOf(r.variation), count: 0 };
    t.count += Number(r.count);
    totals.set(key, t);
  }
  return {
    series: series.rows.map((r) => ({ at: new Date(r.at), environment: r.environment, variation: variationOf(r.variation), count: Number(r.count) })),
    totals: [...totals.values()].sort((a, b) => b.count - a.count || (a.environment < b.environment ? -1 : a.environment > b.environment ? 1 : 0)),
    lastEvaluated: last.rows.map((r) => ({ environment: r.environment, at: new Date(r.at) })),
  };
}

export interface EvaluatedFlag {
  readonly flag: string;
  /** Whether the key is a flag of the project (archived ones included). */
  readonly defined: boolean;
  readonly total: number;
  readonly lastEvaluatedAt: Date;
  readonly environments: { readonly environment: string; readonly count: number; readonly lastEvaluatedAt: Date }[];
}

export interface EvaluatedFlags {
  /** Most evaluated first: every key that is a flag of the project, and at most `undefinedLimit` keys that are not. */
  readonly flags: EvaluatedFlag[];
  /** How many keys that are not flags of the project were evaluated in the window but left out by `undefinedLimit`. */
  readonly undefinedOmitted: number;
}

/**
 * Every flag key evaluated since `since` (its bucket included), most evaluated first, with `defined`:
 * whether it is a flag of the project (archived ones included). Keys no flag has are listed most
 * evaluated first up to `undefinedLimit` (default all): a client key asking for thousands of made-up
 * keys must not bury the project's flags in the answer.
 */
export async function evaluatedFlags(
  db: Queryable,
  q: { readonly projectId: string; readonly environment: string | undefined; readonly since: Date; readonly undefinedLimit?: number },
): Promise<EvaluatedFlags> {
  const out = await db.query<{ flag_key: string; environment: string; count: string; last_at: Date | string; defined: boolean; undefined_keys: string }>(
    `WITH per AS (
       SELECT flag_key, environment, sum(count) AS count, max(last_at) AS last_at
       FROM flag_evaluations
       WHERE project_id = $1 AND ($2::text IS NULL OR environment = $2) AND hour >= date_trunc('hour', $3::timestamptz)
       GROUP BY flag_key, environment
     ), keys AS (
       SELECT flag_key, sum(count) AS total, EXISTS (SELECT 1 FROM flags f WHERE f.project_id = $1 AND f.key = per.flag_key) AS defined
       FROM per GROUP BY flag_key
     ), ranked AS (
       SELECT flag_key, defined,
              row_number() OVER (PARTITION BY defined ORDER BY total DESC, flag_key COLLATE "C") AS rank,
              count(*) FILTER (WHERE NOT defined) OVER () AS undefined_keys
       FROM keys
     )
     SELECT per.flag_key, per.environment, per.count::text AS count, per.last_at, ranked.defined, ranked.undefined_keys::text AS undefined_keys
     FROM per JOIN ranked ON ranked.flag_key = per.flag_key
     WHERE ranked.defined OR $4::bigint IS NULL OR ranked.rank <= $4::bigint`,
    [q.projectId, q.environment ?? null, q.since.toISOString(), q.undefinedLimit ?? null],
  );
  const undefinedKeys = out.rows.length === 0 ? 0 : Number(out.rows[0]!.undefined_keys);
  const flags = new Map<string, { flag: string; defined: boolean; total: number; lastEvaluatedAt: Date; environments: { environment: string; count: number; lastEvaluatedAt: Date }[] }>();
  for (const r of out.rows) {
    const at = new Date(r.last_at);
    const count = Number(r.count);
    const f = flags.get(r.flag_key) ?? { flag: r.flag_key, defined: r.defined, total: 0, lastEvaluatedAt: at, environments: [] };
    f.total += count;
    if (at > f.lastEvaluatedAt) {
      f.lastEvaluatedAt = at;
    }
    f.environments.push({ environment: r.environment, count, lastEvaluatedAt: at });
    flags.set(r.flag_key, f);
  }
  const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const listed = [...flags.values()]
    .map((f) => ({ ...f, environments: f.environments.sort((a, b) => b.count - a.count || byKey(a.environment, b.environment)) }))
    .sort((a, b) => b.total - a.total || byKey(a.flag, b.flag));
  return { flags: listed, undefinedOmitted: undefinedKeys - listed.filter((f) => !f.defined).length };
}

/**
 * Since when counts have been arriving, per environment of the project: the start of the earliest
 * hour for which any key has counts kept, at most `days` back (the retention). An environment
 * without counts is absent. One index probe per environment (the project-and-hour index, in hour order).
 */
export async function countingSince(db: Queryable, q: { readonly projectId: string; readonly environments: readonly string[]; readonly now: Date; readonly days?: number }): Promise<{ environment: string; since: Date }[]> {
  if (q.environments.length === 0) {
    return [];
  }
  const out = await db.query<{ environment: string; since: Date | string | null }>(
    `SELECT e.environment,
            (SELECT hour FROM flag_evaluations
             WHERE project_id = $1 AND environment = e.environment AND hour >= date_trunc('hour', $3::timestamptz - interval '1 day' * $4::float8)
             ORDER BY hour LIMIT 1) AS since
     FROM unnest($2::text[]) AS e(environment)
     ORDER BY e.environment COLLATE "C"`,
    [q.projectId, q.environments, q.now.toISOString(), q.days ?? FLAG_EVALUATION_RETENTION_DAYS],
  );
  return out.rows.filter((r): r is { environment: string; since: Date | string } => r.since !== null).map((r) => ({ environment: r.environment, since: new Date(r.since) }));
}

/** Whether the key has any stored counts in the project (any environment, any time kept). */
export async function hasEvaluations(db: Queryable, projectId: string, flag: string): Promise<boolean> {
  const out = await db.query('SELECT 1 FROM flag_evaluations WHERE project_id = $1 AND flag_key = $2 LIMIT 1', [projectId, flag]);
  return out.rows.length > 0;
}

/**
 * Flag evaluation counts (migrations 0042, 0044): hourly buckets per (project, environment, flag key,
 * served variation, application). Written by the aggregator inside its batch transaction; read by the
 * flag evaluations API. Variation '' in the table is "the caller's default was served", app '' is "no
 * application named" (both null outside).
 */
import type { EvaluationsPipelineEvent } from '@xp/shared';
import type { Queryable } from './db.js';
import { pruneOlderThan } from './prune.js';

/** How long the buckets are kept. */
export const FLAG_EVALUATION_RETENTION_DAYS = 90;
/** At most this many distinct keys no flag of the project has are stored per (project, environment, hour); counts of further ones are dropped (the project's flags are never). */
export const FLAG_EVALUATION_KEY_CAP = 2_000;
/** At most this many distinct named applications are stored per (project, environment, hour); counts of further ones are dropped (those naming none, app '', never are). */
export const FLAG_EVALUATION_APP_CAP = 50;

const HOUR_MS = 3_600_000;

/**
 * When a record's counts count: its window's end (`occurredAt`), but never after the API received it.
 * The clock-skew rule accepts a window end up to a day ahead of the server; such a record must not
 * land in a future bucket nor make "last evaluated" say tomorrow.
 */
export function evaluationTime(record: Pick<EvaluationsPipelineEvent, 'occurredAt' | 'receivedAt'>): number {
  return Math.min(record.occurredAt, record.receivedAt);
}

interface CountRow {
  readonly projectId: string;
  readonly environment: string;
  readonly flag: string;
  readonly variation: string;
  readonly app: string;
  readonly hourMs: number;
  at: number;
  count: number;
}

/** The (project, environment, hour) a row's caps are counted in. */
const hourOf = (r: { readonly projectId: string; readonly environment: string; readonly hourMs: number }): string => JSON.stringify([r.projectId, r.environment, r.hourMs]);

/** Most counted first, then by name (C order): which new keys or apps a cap admits when a batch brings more than it has room for. */
function byCountThenName(counts: Map<string, number>): string[] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([name]) => name);
}

/**
 * Adds the records' counts to the bucket of the hour of each record's time (`evaluationTime`: its
 * window's end, or when it was received if that is earlier), under the record's `app` ('' when it
 * names none). Call it only with records the dedupe let through, in the same transaction.
 *
 * Caps: per (project, environment, hour) at most FLAG_EVALUATION_KEY_CAP distinct keys no flag of
 * the project has and FLAG_EVALUATION_APP_CAP distinct named apps are stored. A count that would add
 * such a key or a named app beyond them (the batch's most counted ones are admitted first) is not
 * stored: it is added to that hour's `flag_evaluation_drops`. The project's flags (archived ones
 * too, read from `flags` in this transaction) are never dropped by the key cap nor use its room, and
 * app '' (services not naming themselves) is never dropped by the app cap nor uses its room: a client
 * flooding generated keys or app names cannot hide them. The caps are read in this transaction without a lock, so two concurrent
 * batches may each admit up to the cap (a soft cap: overshoot by one batch at most). `caps` is
 * for tests only (smaller caps, same rule).
 */
export async function addEvaluationCounts(
  tx: Queryable,
  records: readonly EvaluationsPipelineEvent[],
  caps: { readonly keys: number; readonly apps: number } = { keys: FLAG_EVALUATION_KEY_CAP, apps: FLAG_EVALUATION_APP_CAP },
): Promise<void> {
  // Pairs landing in the same bucket summed first (an upsert cannot touch one row twice).
  const summed = new Map<string, CountRow>();
  for (const r of records) {
    const at = evaluationTime(r);
    const hourMs = Math.floor(at / HOUR_MS) * HOUR_MS;
    const app = r.event.app ?? '';
    for (const c of r.event.counts) {
      const variation = c.variation ?? '';
      const key = JSON.stringify([r.projectId, r.environment, c.flag, variation, app, hourMs]);
      const row = summed.get(key);
      if (row === undefined) {
        summed.set(key, { projectId: r.projectId, environment: r.environment, flag: c.flag, variation, app, hourMs, at, count: c.count });
      } else {
        row.count += c.count;
        row.at = Math.max(row.at, at);
      }
    }
  }
  const rows = [...summed.values()];
  if (rows.length === 0) {
    return;
  }
  const { kept, dropped } = await withinCaps(tx, rows, caps);
  if (kept.length > 0) {
    await tx.query(
      `INSERT INTO flag_evaluations (project_id, environment, flag_key, variation, app, hour, count, last_at)
       SELECT project_id, environment, flag_key, variation, app, 'epoch'::timestamptz + interval '1 millisecond' * hour_ms, n, 'epoch'::timestamptz + interval '1 millisecond' * at_ms
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[]) AS r(project_id, environment, flag_key, variation, app, hour_ms, at_ms, n)
       ON CONFLICT (project_id, environment, flag_key, variation, app, hour) DO UPDATE
         SET count = flag_evaluations.count + EXCLUDED.count, last_at = greatest(flag_evaluations.last_at, EXCLUDED.last_at)`,
      [
        kept.map((r) => r.projectId),
        kept.map((r) => r.environment),
        kept.map((r) => r.flag),
        kept.map((r) => r.variation),
        kept.map((r) => r.app),
        kept.map((r) => r.hourMs),
        kept.map((r) => r.at),
        kept.map((r) => r.count),
      ],
    );
  }
  if (dropped.length > 0) {
    await tx.query(
      `INSERT INTO flag_evaluation_drops (project_id, environment, hour, count)
       SELECT project_id, environment, 'epoch'::timestamptz + interval '1 millisecond' * hour_ms, n
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS r(project_id, environment, hour_ms, n)
       ON CONFLICT (project_id, environment, hour) DO UPDATE SET count = flag_evaluation_drops.count + EXCLUDED.count`,
      [dropped.map((d) => d.projectId), dropped.map((d) => d.environment), dropped.map((d) => d.hourMs), dropped.map((d) => d.count)],
    );
  }
}

/**
 * Splits the batch's rows into those the caps admit and, per (project, environment, hour), the
 * evaluations of those they do not. Apps first (a row of an app beyond the cap adds no key), then keys.
 * App '' and the keys that are flags of the project are outside the caps: always admitted, never counted.
 */
async function withinCaps(
  tx: Queryable,
  rows: readonly CountRow[],
  caps: { readonly keys: number; readonly apps: number },
): Promise<{ kept: CountRow[]; dropped: { projectId: string; environment: string; hourMs: number; count: number }[] }> {
  const hours = new Map<string, { projectId: string; environment: string; hourMs: number }>();
  for (const r of rows) {
    hours.set(hourOf(r), { projectId: r.projectId, environment: r.environment, hourMs: r.hourMs });
  }
  const groups = [...hours.values()];
  const toHour = `'epoch'::timestamptz + interval '1 millisecond' * g.hour_ms`;
  // What each hour already holds: its named apps (few) and how many keys no flag has (the caps' room used).
  const held = await tx.query<{ project_id: string; environment: string; hour_ms: string; apps: string[] | null; keys: string }>(
    `SELECT g.project_id, g.environment, g.hour_ms::text AS hour_ms,
            (SELECT array_agg(DISTINCT f.app) FROM flag_evaluations f WHERE f.project_id = g.project_id AND f.environment = g.environment AND f.hour = ${toHour} AND f.app <> '') AS apps,
            (SELECT count(DISTINCT f.flag_key) FROM flag_evaluations f
             WHERE f.project_id = g.project_id AND f.environment = g.environment AND f.hour = ${toHour}
               AND NOT EXISTS (SELECT 1 FROM flags d WHERE d.project_id = f.project_id AND d.key = f.flag_key))::text AS keys
     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS g(project_id, environment, hour_ms)`,
    [groups.map((g) => g.projectId), groups.map((g) => g.environment), groups.map((g) => g.hourMs)],
  );
  // Which of the batch's keys are flags of the project (archived too; a deleted flag's row is gone).
  const flagKeys = [...new Map(rows.map((r) => [JSON.stringify([r.projectId, r.flag]), r])).values()];
  const defined = await tx.query<{ project_id: string; key: string }>(
    `SELECT DISTINCT d.project_id, d.key
     FROM unnest($1::text[], $2::text[]) AS g(project_id, flag_key)
     JOIN flags d ON d.project_id = g.project_id AND d.key = g.flag_key`,
    [flagKeys.map((r) => r.projectId), flagKeys.map((r) => r.flag)],
  );
  const isDefined = new Set(defined.rows.map((d) => JSON.stringify([d.project_id, d.key])));
  const definedRow = (r: CountRow): boolean => isDefined.has(JSON.stringify([r.projectId, r.flag]));
  // Which of the batch's other keys each hour already holds.
  const keyed = [...new Map(rows.filter((r) => !definedRow(r)).map((r) => [JSON.stringify([r.projectId, r.environment, r.hourMs, r.flag]), r])).values()];
  const known = await tx.query<{ project_id: string; environment: string; hour_ms: string; flag_key: string }>(
    `SELECT DISTINCT g.project_id, g.environment, g.hour_ms::text AS hour_ms, g.flag_key
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS g(project_id, environment, hour_ms, flag_key)
     WHERE EXISTS (SELECT 1 FROM flag_evaluations f WHERE f.project_id = g.project_id AND f.environment = g.environment AND f.flag_key = g.flag_key AND f.hour = ${toHour})`,
    [keyed.map((r) => r.projectId), keyed.map((r) => r.environment), keyed.map((r) => r.hourMs), keyed.map((r) => r.flag)],
  );
  const state = new Map<string, { apps: Set<string>; keys: Set<string>; keyCount: number }>();
  for (const h of held.rows) {
    state.set(hourOf({ projectId: h.project_id, environment: h.environment, hourMs: Number(h.hour_ms) }), { apps: new Set(h.apps ?? []), keys: new Set(), keyCount: Number(h.keys) });
  }
  for (const k of known.rows) {
    state.get(hourOf({ projectId: k.project_id, environment: k.environment, hourMs: Number(k.hour_ms) }))!.keys.add(k.flag_key);
  }
  const kept: CountRow[] = [];
  const dropped = new Map<string, { projectId: string; environment: string; hourMs: number; count: number }>();
  const drop = (r: CountRow): void => {
    const d = dropped.get(hourOf(r)) ?? { projectId: r.projectId, environment: r.environment, hourMs: r.hourMs, count: 0 };
    d.count += r.count;
    dropped.set(hourOf(r), d);
  };
  for (const [hour, s] of state) {
    const inHour = rows.filter((r) => hourOf(r) === hour);
    const admit = (names: Map<string, number>, have: Set<string>, room: number): void => {
      for (const name of byCountThenName(names).slice(0, Math.max(0, room))) {
        have.add(name);
      }
    };
    // Held apps are named ones only (the query leaves '' out): the room is the cap less them.
    const room = caps.apps - s.apps.size;
    const newApps = new Map<string, number>();
    for (const r of inHour.filter((r) => r.app !== '' && !s.apps.has(r.app))) {
      newApps.set(r.app, (newApps.get(r.app) ?? 0) + r.count);
    }
    admit(newApps, s.apps, room);
    s.apps.add('');
    const newKeys = new Map<string, number>();
    for (const r of inHour.filter((r) => s.apps.has(r.app) && !definedRow(r) && !s.keys.has(r.flag))) {
      newKeys.set(r.flag, (newKeys.get(r.flag) ?? 0) + r.count);
    }
    admit(newKeys, s.keys, caps.keys - s.keyCount);
    for (const r of inHour) {
      if (s.apps.has(r.app) && (definedRow(r) || s.keys.has(r.flag))) {
        kept.push(r);
      } else {
        drop(r);
      }
    }
  }
  return { kept, dropped: [...dropped.values()] };
}

/** Deletes a project's counts and its record of dropped ones (the project is being deleted). */
export async function deleteProjectEvaluations(tx: Queryable, projectId: string): Promise<void> {
  await tx.query('DELETE FROM flag_evaluations WHERE project_id = $1', [projectId]);
  await tx.query('DELETE FROM flag_evaluation_drops WHERE project_id = $1', [projectId]);
}

/** Deletes the buckets (and the dropped counts) older than `days` (default the retention), `chunk` rows per statement; returns how many buckets. */
export async function pruneFlagEvaluations(db: Queryable, days = FLAG_EVALUATION_RETENTION_DAYS, chunk = 10_000): Promise<number> {
  const deleted = await pruneOlderThan(db, 'flag_evaluations', days * 24, { chunk });
  await pruneOlderThan(db, 'flag_evaluation_drops', days * 24, { chunk });
  return deleted;
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

/** An application's counts: app null is "none named". */
export interface AppCount {
  readonly app: string | null;
  readonly count: number;
  readonly lastEvaluatedAt: Date;
}

export interface FlagEvaluationData {
  /** Buckets with counts, oldest first; a bucket without counts is absent. */
  readonly series: EvaluationBucket[];
  readonly totals: { readonly environment: string; readonly variation: string | null; readonly count: number }[];
  /** The last evaluation stored per environment, over the whole retention (not only the window). */
  readonly lastEvaluated: { readonly environment: string; readonly at: Date }[];
  /** Per application over the window, most evaluated first. */
  readonly apps: AppCount[];
}

const variationOf = (stored: string): string | null => (stored === '' ? null : stored);
const appOf = (stored: string): string | null => (stored === '' ? null : stored);
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Most evaluated first, ties by name (no application named before any name). */
function sortApps(apps: AppCount[]): AppCount[] {
  return apps.sort((a, b) => b.count - a.count || byName(a.app ?? '', b.app ?? ''));
}

/**
 * The flag key's counts in [from, to) (`from` already at a bucket start), optionally in one
 * environment and of one application (series, totals, lastEvaluated and apps all follow the filters).
 */
export async function flagEvaluationData(
  db: Queryable,
  q: {
    readonly projectId: string;
    readonly flag: string;
    readonly environment: string | undefined;
    readonly app?: string | undefined;
    readonly from: Date;
    readonly to: Date;
    readonly interval: EvaluationInterval;
  },
): Promise<FlagEvaluationData> {
  const env = q.environment ?? null;
  const app = q.app ?? null;
  // The interval is one of two constants, never caller text.
  const bucket = q.interval === EvaluationInterval.Day ? `date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'` : 'hour';
  const series = await db.query<{ at: Date | string; environment: string; variation: string; count: string }>(
    `SELECT ${bucket} AS at, environment, variation, sum(count)::text AS count
     FROM flag_evaluations
     WHERE project_id = $1 AND flag_key = $2 AND ($3::text IS NULL OR environment = $3) AND ($6::text IS NULL OR app = $6) AND hour >= $4 AND hour < $5
     GROUP BY 1, environment, variation
     ORDER BY 1, environment, variation`,
    [q.projectId, q.flag, env, q.from.toISOString(), q.to.toISOString(), app],
  );
  const last = await db.query<{ environment: string; at: Date | string }>(
    `SELECT environment, max(last_at) AS at FROM flag_evaluations
     WHERE project_id = $1 AND flag_key = $2 AND ($3::text IS NULL OR environment = $3) AND ($4::text IS NULL OR app = $4)
     GROUP BY environment ORDER BY environment`,
    [q.projectId, q.flag, env, app],
  );
  const apps = await db.query<{ app: string; count: string; last_at: Date | string }>(
    `SELECT app, sum(count)::text AS count, max(last_at) AS last_at
     FROM flag_evaluations
     WHERE project_id = $1 AND flag_key = $2 AND ($3::text IS NULL OR environment = $3) AND ($6::text IS NULL OR app = $6) AND hour >= $4 AND hour < $5
     GROUP BY app`,
    [q.projectId, q.flag, env, q.from.toISOString(), q.to.toISOString(), app],
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
    totals: [...totals.values()].sort((a, b) => b.count - a.count || byName(a.environment, b.environment)),
    lastEvaluated: last.rows.map((r) => ({ environment: r.environment, at: new Date(r.at) })),
    apps: sortApps(apps.rows.map((r) => ({ app: appOf(r.app), count: Number(r.count), lastEvaluatedAt: new Date(r.last_at) }))),
  };
}

export interface EvaluatedFlag {
  readonly flag: string;
  /** Whether the key is a flag of the project (archived ones included). */
  readonly defined: boolean;
  readonly total: number;
  readonly lastEvaluatedAt: Date;
  readonly environments: { readonly environment: string; readonly count: number; readonly lastEvaluatedAt: Date }[];
  /** The applications that evaluated the key, most evaluated first. */
  readonly apps: AppCount[];
}

export interface EvaluatedFlags {
  /** Most evaluated first: every key that is a flag of the project, and at most `undefinedLimit` keys that are not. */
  readonly flags: EvaluatedFlag[];
  /** How many keys that are not flags of the project were evaluated in the window but left out by `undefinedLimit`. */
  readonly undefinedOmitted: number;
  /** Every application that counted evaluations in the window (over all keys, listed or not), most evaluated first. */
  readonly apps: AppCount[];
  /** Evaluations in the window not stored because of the caps (per environment and hour, not per application). */
  readonly dropped: number;
}

/**
 * Every flag key evaluated since `since` (its bucket included), most evaluated first, with `defined`:
 * whether it is a flag of the project (archived ones included). Keys no flag has are listed most
 * evaluated first up to `undefinedLimit` (default all): a client key asking for thousands of made-up
 * keys must not bury the project's flags in the answer. With `app`, only that application's counts.
 */
export async function evaluatedFlags(
  db: Queryable,
  q: { readonly projectId: string; readonly environment: string | undefined; readonly app?: string | undefined; readonly since: Date; readonly undefinedLimit?: number },
): Promise<EvaluatedFlags> {
  const env = q.environment ?? null;
  const app = q.app ?? null;
  const out = await db.query<{ flag_key: string; environment: string; app: string; count: string; last_at: Date | string; defined: boolean; undefined_keys: string }>(
    `WITH per AS (
       SELECT flag_key, environment, app, sum(count) AS count, max(last_at) AS last_at
       FROM flag_evaluations
       WHERE project_id = $1 AND ($2::text IS NULL OR environment = $2) AND ($5::text IS NULL OR app = $5) AND hour >= date_trunc('hour', $3::timestamptz)
       GROUP BY flag_key, environment, app
     ), keys AS (
       SELECT flag_key, sum(count) AS total, EXISTS (SELECT 1 FROM flags f WHERE f.project_id = $1 AND f.key = per.flag_key) AS defined
       FROM per GROUP BY flag_key
     ), ranked AS (
       SELECT flag_key, defined,
              row_number() OVER (PARTITION BY defined ORDER BY total DESC, flag_key COLLATE "C") AS rank,
              count(*) FILTER (WHERE NOT defined) OVER () AS undefined_keys
       FROM keys
     )
     SELECT per.flag_key, per.environment, per.app, per.count::text AS count, per.last_at, ranked.defined, ranked.undefined_keys::text AS undefined_keys
     FROM per JOIN ranked ON ranked.flag_key = per.flag_key
     WHERE ranked.defined OR $4::bigint IS NULL OR ranked.rank <= $4::bigint`,
    [q.projectId, env, q.since.toISOString(), q.undefinedLimit ?? null, app],
  );
  const apps = await db.query<{ app: string; count: string; last_at: Date | string }>(
    `SELECT app, sum(count)::text AS count, max(last_at) AS last_at
     FROM flag_evaluations
     WHERE project_id = $1 AND ($2::text IS NULL OR environment = $2) AND ($4::text IS NULL OR app = $4) AND hour >= date_trunc('hour', $3::timestamptz)
     GROUP BY app`,
    [q.projectId, env, q.since.toISOString(), app],
  );
  const undefinedKeys = out.rows.length === 0 ? 0 : Number(out.rows[0]!.undefined_keys);
  type Sum = { count: number; lastEvaluatedAt: Date };
  const add = <K>(into: Map<K, Sum>, key: K, count: number, at: Date): void => {
    const s = into.get(key);
    if (s === undefined) {
      into.set(key, { count, lastEvaluatedAt: at });
    } else {
      s.count += count;
      if (at > s.lastEvaluatedAt) {
        s.lastEvaluatedAt = at;
      }
    }
  };
  const flags = new Map<string, { flag: string; defined: boolean; environments: Map<string, Sum>; apps: Map<string, Sum> }>();
  for (const r of out.rows) {
    const at = new Date(r.last_at);
    const count = Number(r.count);
    const f = flags.get(r.flag_key) ?? { flag: r.flag_key, defined: r.defined, environments: new Map<string, Sum>(), apps: new Map<string, Sum>() };
    add(f.environments, r.environment, count, at);
    add(f.apps, r.app, count, at);
    flags.set(r.flag_key, f);
  }
  const listed = [...flags.values()]
    .map((f) => {
      const environments = [...f.environments].map(([environment, s]) => ({ environment, ...s })).sort((a, b) => b.count - a.count || byName(a.environment, b.environment));
      return {
        flag: f.flag,
        defined: f.defined,
        total: environments.reduce((n, e) => n + e.count, 0),
        lastEvaluatedAt: new Date(Math.max(...environments.map((e) => e.lastEvaluatedAt.getTime()))),
        environments,
        apps: sortApps([...f.apps].map(([stored, s]) => ({ app: appOf(stored), ...s }))),
      };
    })
    .sort((a, b) => b.total - a.total || byName(a.flag, b.flag));
  return {
    flags: listed,
    undefinedOmitted: undefinedKeys - listed.filter((f) => !f.defined).length,
    apps: sortApps(apps.rows.map((r) => ({ app: appOf(r.app), count: Number(r.count), lastEvaluatedAt: new Date(r.last_at) }))),
    dropped: await droppedEvaluations(db, { projectId: q.projectId, environment: q.environment, from: q.since }),
  };
}

/**
 * How many evaluations the caps left out in the hours from `from`'s (included) to `to` (excluded;
 * default none), in one environment or all: per environment and hour, not per key or application.
 */
export async function droppedEvaluations(db: Queryable, q: { readonly projectId: string; readonly environment: string | undefined; readonly from: Date; readonly to?: Date }): Promise<number> {
  const out = await db.query<{ n: string }>(
    `SELECT coalesce(sum(count), 0)::text AS n FROM flag_evaluation_drops
     WHERE project_id = $1 AND ($2::text IS NULL OR environment = $2) AND hour >= date_trunc('hour', $3::timestamptz) AND ($4::timestamptz IS NULL OR hour < $4)`,
    [q.projectId, q.environment ?? null, q.from.toISOString(), q.to?.toISOString() ?? null],
  );
  return Number(out.rows[0]!.n);
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

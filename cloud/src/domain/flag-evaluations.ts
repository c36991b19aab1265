/**
 * Flag evaluation counts for the API: one key's series and totals over a window, and the project's
 * keys evaluated lately. Whoever may read the project's flags may read these.
 */
import type { EvaluationAppCount, EvaluationCountingSince, FlagEvaluations, ProjectFlagEvaluations } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import { AppError, AppErrorCode, invalid } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { EvaluationInterval, FLAG_EVALUATION_RETENTION_DAYS, countingSince, droppedEvaluations, evaluatedFlags, flagEvaluationData, hasEvaluations } from '../store/flag-evaluations.js';
import type { AppCount, EvaluationBucket } from '../store/flag-evaluations.js';
import { environments } from '../store/projects.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The longest window one request may ask for: the retention. */
export const MAX_EVALUATION_SPAN_DAYS = FLAG_EVALUATION_RETENTION_DAYS;
/** Default window: the last 7 days. */
export const DEFAULT_EVALUATION_SPAN_DAYS = 7;
/** Up to this span the default interval is an hour, beyond it a day. */
const HOURLY_UP_TO_MS = 3 * DAY_MS;
/** How many keys no flag has the project listing holds by default, and at most. */
export const DEFAULT_UNDEFINED_KEYS_LIMIT = 1000;
export const MAX_UNDEFINED_KEYS_LIMIT = 5000;

export interface FlagEvaluationsQuery {
  readonly environment?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly interval?: EvaluationInterval | undefined;
  /** Only this application's counts (checked by the route: APP_NAME_PATTERN). */
  readonly app?: string | undefined;
}

const appCounts = (apps: readonly AppCount[]): EvaluationAppCount[] => apps.map((a) => ({ app: a.app, count: a.count, lastEvaluatedAt: a.lastEvaluatedAt.toISOString() }));

/**
 * An environment filter must name one of the project's environments: an empty answer would hide a typo.
 * Returns the environments the answer covers: the one asked for, or all of the project's.
 */
async function checkEnvironment(db: Queryable, projectId: string, environment: string | undefined): Promise<string[]> {
  const known = (await environments.list(db, projectId)).map((e) => e.key);
  if (environment === undefined) {
    return known;
  }
  if (!known.includes(environment)) {
    throw invalid(`environment "${environment}" is not an environment of this project (it has ${known.map((k) => `"${k}"`).join(', ') || 'none'})`, {
      issues: [{ path: 'query.environment', message: 'unknown environment' }],
    });
  }
  return [environment];
}

/**
 * Since when counts have been arriving in each of the environments (project-wide, not per flag): a
 * "not evaluated in N days" claim holds only where counting began at least N days ago.
 */
async function countingSinceOf(deps: Pick<Deps, 'db' | 'now'>, projectId: string, envs: readonly string[]): Promise<EvaluationCountingSince[]> {
  return (await countingSince(deps.db, { projectId, environments: envs, now: deps.now() })).map((c) => ({ environment: c.environment, since: c.since.toISOString() }));
}

/** The bucket start at or before `at`. */
function bucketStart(at: number, interval: EvaluationInterval): number {
  const width = interval === EvaluationInterval.Day ? DAY_MS : HOUR_MS;
  return Math.floor(at / width) * width;
}

/**
 * One flag key's counts: the window [from, to) (from rounded down to its bucket's start), the
 * buckets that have counts (a bucket without any is absent, never a zero that might be a gap in the
 * data), totals per environment and variation over the window, and the last evaluation kept per
 * environment. A key never evaluated that is not a flag of the project is 404; a key that is not (or
 * no longer) a flag but still evaluated gets its counts. With `app`, only that application's counts
 * (an application never seen: empty, not an error); `apps` is the window's counts per application.
 * `dropped`: the evaluations the caps left out in the window and environments answered (not per key
 * or application, so the same with or without `app`).
 */
export async function flagEvaluations(deps: Pick<Deps, 'db' | 'now'>, actor: Actor, projectKey: string, flag: string, q: FlagEvaluationsQuery): Promise<FlagEvaluations> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  const envs = await checkEnvironment(deps.db, project.id, q.environment);
  const to = q.to === undefined ? deps.now().getTime() : Date.parse(q.to);
  const requestedFrom = q.from === undefined ? to - DEFAULT_EVALUATION_SPAN_DAYS * DAY_MS : Date.parse(q.from);
  if (requestedFrom >= to) {
    throw invalid('from must be before to', { issues: [{ path: 'query.from', message: 'not before to' }] });
  }
  if (to - requestedFrom > MAX_EVALUATION_SPAN_DAYS * DAY_MS) {
    throw invalid(`the window from "from" to "to" is longer than ${MAX_EVALUATION_SPAN_DAYS} days (counts are kept ${FLAG_EVALUATION_RETENTION_DAYS} days); ask for a shorter one`, {
      issues: [{ path: 'query.from', message: `at most ${MAX_EVALUATION_SPAN_DAYS} days before to` }],
    });
  }
  const interval = q.interval ?? (to - requestedFrom <= HOURLY_UP_TO_MS ? EvaluationInterval.Hour : EvaluationInterval.Day);
  const from = bucketStart(requestedFrom, interval);
  const data = await flagEvaluationData(deps.db, { projectId: project.id, flag, environment: q.environment, app: q.app, from: new Date(from), to: new Date(to), interval });
  if (data.lastEvaluated.length === 0 && !(await isFlag(deps.db, project.id, flag)) && !(await hasEvaluations(deps.db, project.id, flag))) {
    throw new AppError(AppErrorCode.NotFound, `flag "${flag}" is not a flag of this project and was never evaluated (in the last ${FLAG_EVALUATION_RETENTION_DAYS} days)`);
  }
  return {
    flag,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    interval,
    series: data.series.map((b: EvaluationBucket) => ({ at: b.at.toISOString(), environment: b.environment, variation: b.variation, count: b.count })),
    totals: data.totals,
    lastEvaluated: data.lastEvaluated.map((l) => ({ environment: l.environment, at: l.at.toISOString() })),
    apps: appCounts(data.apps),
    dropped: await droppedEvaluations(deps.db, { projectId: project.id, environment: q.environment, from: new Date(from), to: new Date(to) }),
    countingSince: await countingSinceOf(deps, project.id, envs),
  };
}

/**
 * Every key evaluated in the last `days` days (since the start of the hour `days` days ago), most
 * evaluated first: every flag of the project evaluated, and up to `limit` keys no flag has (the most
 * evaluated; `undefinedOmitted` counts the rest). Defined flags not evaluated in the window are not
 * listed; `countingSince` says whether their absence means anything. With `app`, only that
 * application's counts; `dropped` (the evaluations the caps left out) is not per application.
 */
export async function projectFlagEvaluations(
  deps: Pick<Deps, 'db' | 'now'>,
  actor: Actor,
  projectKey: string,
  q: { readonly environment?: string | undefined; readonly days: number; readonly limit?: number | undefined; readonly app?: string | undefined },
): Promise<ProjectFlagEvaluations> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  const envs = await checkEnvironment(deps.db, project.id, q.environment);
  const since = bucketStart(deps.now().getTime() - q.days * DAY_MS, EvaluationInterval.Hour);
  const limit = Math.min(q.limit ?? DEFAULT_UNDEFINED_KEYS_LIMIT, MAX_UNDEFINED_KEYS_LIMIT);
  const evaluated = await evaluatedFlags(deps.db, { projectId: project.id, environment: q.environment, app: q.app, since: new Date(since), undefinedLimit: limit });
  return {
    since: new Date(since).toISOString(),
    flags: evaluated.flags.map((f) => ({
      flag: f.flag,
      defined: f.defined,
      total: f.total,
      lastEvaluatedAt: f.lastEvaluatedAt.toISOString(),
      environments: f.environments.map((e) => ({ environment: e.environment, count: e.count, lastEvaluatedAt: e.lastEvaluatedAt.toISOString() })),
      apps: appCounts(f.apps),
    })),
    apps: appCounts(evaluated.apps),
    dropped: evaluated.dropped,
    undefinedOmitted: evaluated.undefinedOmitted,
    countingSince: await countingSinceOf(deps, project.id, envs),
  };
}

async function isFlag(db: Queryable, projectId: string, key: string): Promise<boolean> {
  return (await definedFlags(db, projectId, [key])).has(key);
}

/** Which of the keys are flags of the project (archived ones included). */
async function definedFlags(db: Queryable, projectId: string, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) {
    return new Set();
  }
  const out = await db.query<{ key: string }>('SELECT key FROM flags WHERE project_id = $1 AND key = ANY($2::text[])', [projectId, keys]);
  return new Set(out.rows.map((r) => r.key));
}

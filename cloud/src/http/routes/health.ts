import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'hono';
import { z } from 'zod';
import { queryInt } from './common.js';
import { Permission } from '../../auth/permissions.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import type { MetricSink } from '../sdk/sdk-outcomes.js';
import { DatabaseError } from '../../store/database.js';
import { UNAVAILABLE_RETRY_SECONDS, databaseDiskFull, databaseWriteSucceeded } from '../errors.js';
import { unpublishedRulesets } from '../../domain/publisher.js';
import { replayCommand } from '../../pipeline/poller.js';

/**
 * The ops "Health" view: recent figures of the platform's metrics plus the pipeline's backlog. In
 * AWS the figures come from CloudWatch (GetMetricData over the Lambdas' EMF metrics); locally from
 * in-process counters. Which one a platform uses is attached to its services at start-up.
 */

/** One figure over the requested window; `value` is null when there were no data points. */
export interface HealthFigure {
  readonly name: string;
  readonly statistic: 'sum' | 'p50' | 'p99' | 'max';
  readonly unit: 'Count' | 'Milliseconds';
  readonly value: number | null;
}

/** Where the figures come from. */
export interface HealthSource {
  readonly kind: 'cloudwatch' | 'in-process';
  /** When the source began counting, if it forgets what came before (a process's counters start with it). */
  readonly countingSince?: () => Date;
  read(window: { readonly start: Date; readonly end: Date }): Promise<HealthFigure[]>;
}

/** Names of the figures both sources report (the Lambdas' EMF metric names). */
export const HEALTH_FIGURES: readonly Pick<HealthFigure, 'name' | 'statistic' | 'unit'>[] = [
  { name: 'Evaluations', statistic: 'sum', unit: 'Count' },
  { name: 'EvaluationLatency', statistic: 'p50', unit: 'Milliseconds' },
  { name: 'EvaluationLatency', statistic: 'p99', unit: 'Milliseconds' },
  { name: 'EventsAccepted', statistic: 'sum', unit: 'Count' },
  { name: 'EventsRejected', statistic: 'sum', unit: 'Count' },
  { name: 'EventBatchesRefused', statistic: 'sum', unit: 'Count' },
  { name: 'AggregationLag', statistic: 'max', unit: 'Milliseconds' },
  { name: 'DeadLetters', statistic: 'sum', unit: 'Count' },
  { name: 'DuplicateEvents', statistic: 'sum', unit: 'Count' },
  { name: 'ExposuresDropped', statistic: 'sum', unit: 'Count' },
  { name: 'ExposuresRetrying', statistic: 'max', unit: 'Count' },
];

/** Per-minute summary of one metric: what the Health figures need, in constant space per minute. */
interface MinuteBucket {
  count: number;
  sum: number;
  max: number;
  /** Positive values by logarithmic bin (about 1% wide); zero and below by bin -Infinity's stand-in, ZERO_BIN. */
  readonly bins: Map<number, number>;
}

const MINUTE_MS = 60_000;
/** Bins 1% apart: a percentile read from them is within 1% of the exact one (as CloudWatch's are approximate too). */
const BIN_BASE = Math.log(1.01);
const ZERO_BIN = -1_000_000;
const binOf = (value: number): number => (value > 0 ? Math.ceil(Math.log(value) / BIN_BASE) : ZERO_BIN);
const binValue = (bin: number): number => (bin === ZERO_BIN ? 0 : Math.exp(bin * BIN_BASE));

/** What the samples of a window sum to: count, sum, max and the value at a quantile. */
export interface SampleSummary {
  readonly count: number;
  readonly sum: number;
  readonly max: number;
  /** The value at quantile q (0–1), within about 1%, never above max; null with no samples. */
  quantile(q: number): number | null;
}

/**
 * Recent samples per metric name, in memory, for the local platform (kept for `retentionMs`): one
 * summary per metric and minute, so memory stays bounded (about 1,440 minutes × a few dozen bins per
 * metric) however many requests are recorded, and reading a day's window merges at most 1,440 of them.
 */
export class InProcessCounters {
  private readonly minutes = new Map<string, Map<number, MinuteBucket>>();
  private lastPrunedMinute = -Infinity;
  /** When these counters began: nothing before it is known (a restart starts from nothing). */
  readonly startedAt: number;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly retentionMs = 24 * 3_600_000,
  ) {
    this.startedAt = now();
  }

  record(name: string, value: number): void {
    if (!Number.isFinite(value)) {
      return;
    }
    const minute = Math.floor(this.now() / MINUTE_MS);
    let series = this.minutes.get(name);
    if (series === undefined) {
      series = new Map();
      this.minutes.set(name, series);
    }
    let bucket = series.get(minute);
    if (bucket === undefined) {
      bucket = { count: 0, sum: 0, max: -Infinity, bins: new Map() };
      series.set(minute, bucket);
    }
    bucket.count++;
    bucket.sum += value;
    bucket.max = Math.max(bucket.max, value);
    const bin = binOf(value);
    bucket.bins.set(bin, (bucket.bins.get(bin) ?? 0) + 1);
    if (minute !== this.lastPrunedMinute) {
      this.lastPrunedMinute = minute;
      const oldest = Math.floor((minute * MINUTE_MS - this.retentionMs) / MINUTE_MS);
      for (const each of this.minutes.values()) {
        for (const m of each.keys()) {
          if (m < oldest) {
            each.delete(m);
          }
        }
      }
    }
  }

  /** How many minute summaries are held, over every metric (what the memory grows with). */
  storedMinutes(): number {
    let n = 0;
    for (const series of this.minutes.values()) {
      n += series.size;
    }
    return n;
  }

  /** The samples of the minutes that overlap [start, end] (epoch ms). */
  summary(name: string, start: number, end: number): SampleSummary {
    const bins = new Map<number, number>();
    let count = 0;
    let sum = 0;
    let max = -Infinity;
    for (const [minute, bucket] of this.minutes.get(name) ?? []) {
      if ((minute + 1) * MINUTE_MS <= start || minute * MINUTE_MS > end) {
        continue;
      }
      count += bucket.count;
      sum += bucket.sum;
      max = Math.max(max, bucket.max);
      for (const [bin, n] of bucket.bins) {
        bins.set(bin, (bins.get(bin) ?? 0) + n);
      }
    }
    const ordered = [...bins.entries()].sort((a, b) => a[0] - b[0]);
    return {
      count,
      sum,
      max,
      quantile: (q) => {
        if (count === 0) {
          return null;
        }
        const rank = Math.max(1, Math.ceil(q * count));
        let seen = 0;
        for (const [bin, n] of ordered) {
          seen += n;
          if (seen >= rank) {
            return Math.min(max, binValue(bin));
          }
        }
        return max;
      },
    };
  }
}

function statistic(summary: SampleSummary, stat: HealthFigure['statistic']): number | null {
  // A count with no samples counted nothing (0); a latency with none has no value.
  if (stat === 'sum') {
    return summary.sum;
  }
  if (summary.count === 0) {
    return null;
  }
  if (stat === 'max') {
    return summary.max;
  }
  return summary.quantile(stat === 'p50' ? 0.5 : 0.99);
}

export function inProcessHealthSource(counters: InProcessCounters): HealthSource {
  return {
    kind: 'in-process',
    countingSince: () => new Date(counters.startedAt),
    read: ({ start, end }) =>
      Promise.resolve(HEALTH_FIGURES.map((f) => ({ ...f, value: statistic(counters.summary(f.name, start.getTime(), end.getTime()), f.statistic) }))),
  };
}

/** The counters of this process, read by the Health view when no other source is attached. */
export const processCounters = new InProcessCounters();

/** The same counters as a metric sink, fed by the local platform's SDK endpoints and aggregator. */
export const processCounterSink: MetricSink = {
  put: (name, value) => {
    processCounters.record(name, value);
  },
};

const sources = new WeakMap<object, HealthSource>();

/** The local aggregator's state, as its poller knows it (in AWS the event source mapping's IteratorAge alarms say it). */
export interface AggregatorState {
  /** Epoch ms since when every poll failed; null while they work. */
  readonly failingSinceMs: number | null;
  readonly lastError: string | null;
  /** Epoch ms at which the poll in progress started (null between polls): one that does not end fails nothing. */
  readonly pollingSinceMs?: number | null;
}

const aggregators = new WeakMap<object, () => AggregatorState>();

/** Lets the Health view of `services` report the in-process aggregator (the local stack's poller). */
export function attachAggregatorState(services: Services, read: () => AggregatorState): void {
  aggregators.set(services.deps, read);
}

/** The local raw event archive's state (in AWS, Firehose's delivery alarms say it). */
export interface ArchiveState {
  readonly failingSinceMs: number | null;
  readonly lastError: string | null;
}

const archives = new WeakMap<object, () => ArchiveState>();

/** Lets the Health view of `services` report the local raw event archive. */
export function attachArchiveState(services: Services, read: () => ArchiveState): void {
  archives.set(services.deps, read);
}

const spaceChecks = new WeakMap<object, () => boolean>();

/**
 * Lets the Health view of `services` check whether the database's disk has room again (locally, the
 * free space under the data folder): a check that says so ends the `degraded` database state a
 * disk-full write failure began, before a write succeeds.
 */
export function attachDatabaseSpaceCheck(services: Services, hasRoom: () => boolean): void {
  spaceChecks.set(services.deps, hasRoom);
}

/** Failing polls for this long make the platform degraded (one failure is retried within seconds). */
export const AGGREGATOR_FAILING_MS = 30_000;

/** The aggregation lag that makes the platform degraded when no variable sets another: a minute behind the stream. */
export const DEFAULT_AGGREGATION_LAG_LIMIT_MS = 60_000;
/** The variable that sets that limit, in seconds (a positive number; anything else is ignored). */
export const AGGREGATION_LAG_LIMIT_VARIABLE = 'XP_HEALTH_MAX_AGGREGATION_LAG_SECONDS';
/** How far back the AggregationLag maximum is read for the status, whatever window the figures cover. */
export const AGGREGATION_LAG_WINDOW_MINUTES = 5;

/** The aggregation lag limit in ms: XP_HEALTH_MAX_AGGREGATION_LAG_SECONDS when valid, else 60 s. */
export function aggregationLagLimitMs(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env[AGGREGATION_LAG_LIMIT_VARIABLE];
  const seconds = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_AGGREGATION_LAG_LIMIT_MS;
}

/** Makes the Health view of `services` read `source` (the API Lambda attaches CloudWatch). */
export function attachHealthSource(services: Services, source: HealthSource): void {
  sources.set(services.deps, source);
}

const figureSchema = z.object({
  name: z.string(),
  statistic: z.enum(['sum', 'p50', 'p99', 'max']),
  unit: z.enum(['Count', 'Milliseconds']),
  value: z.number().nullable(),
});

const healthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    source: z.enum(['cloudwatch', 'in-process']),
    window: z.object({ start: z.string(), end: z.string(), minutes: z.number().int() }),
    countingSince: z.string().nullable().meta({
      description:
        'When the figures began to be counted, if that is inside the window: locally the counters live in the process, so after a restart they cover only the time since (null: the whole window is covered, as with CloudWatch)',
    }),
    database: z.enum(['ok', 'degraded', 'unreachable']).meta({ description: '`degraded`: it answers, but its last write failed for lack of disk space (`databaseIssue`)' }),
    databaseIssue: z
      .object({
        reason: z.enum(['disk-full']),
        since: z.string().meta({ description: 'The first write refused for lack of space' }),
        lastError: z.string(),
      })
      .optional()
      .meta({ description: 'Present while the database is `degraded`: writes fail because its disk is full (free space; the next successful write, or locally free space under the data folder, ends it)' }),
    metricsAvailable: z.boolean(),
    figures: z.array(figureSchema),
    pipeline: z.object({
      deadLetters: z.number().int().nullable(),
      retryingRecords: z.number().int().nullable(),
      /** Locally: since when the aggregator's polls have been failing (null: they work), and the last error. */
      aggregator: z
        .object({
          failingSince: z.string().nullable(),
          lastError: z.string().nullable(),
          stalledSince: z.string().nullable().meta({ description: 'Since when the poll in progress has been running, once it has run 30 s or more (a batch waiting on a database lock, a stream that does not answer); null otherwise' }),
        })
        .optional(),
      /** The largest aggregation lag over the last few minutes against the limit that makes the platform degraded. */
      aggregationLag: z
        .object({
          maxMs: z.number().nullable().meta({ description: 'AggregationLag maximum over the last `minutes` (null: no batch was aggregated, or the metrics are unavailable)' }),
          limitMs: z.number().meta({ description: 'Degraded above this (XP_HEALTH_MAX_AGGREGATION_LAG_SECONDS; default 60 s)' }),
          minutes: z.number().int(),
          exceeded: z.boolean(),
        })
        .optional(),
      /** Locally: since when the raw event archive cannot be written (null: it can), and why. */
      archive: z.object({ failingSince: z.string().nullable(), lastError: z.string().nullable() }).optional(),
      /** Windows in which stream records may have expired unread (the aggregator was behind longer than the stream's retention). */
      expiredWindows: z
        .object({
          open: z.number().int().meta({ description: 'Windows not yet resolved by an `xp replay` covering them: the platform is degraded while there is one' }),
          latest: z
            .object({
              stream: z.string(),
              shardId: z.string(),
              from: z.string().meta({ description: 'Arrival time in the stream of the last record read before the window' }),
              to: z.string().meta({ description: 'Arrival time of the oldest record the shard still held (or the retention cutoff)' }),
              detectedAt: z.string(),
              replay: z.string().meta({ description: 'The command that applies the window\'s events from the raw event archive' }),
            })
            .nullable()
            .meta({ description: 'The most recently detected open window; null when none is open' }),
        })
        .optional()
        .meta({ description: 'Absent when the database is unreachable' }),
    }),
    unpublishedRulesets: z
      .array(z.object({ project: z.string(), environment: z.string(), version: z.number().int(), since: z.string(), error: z.string() }))
      .meta({
        description:
          'Environments whose last ruleset publish failed in this process (the ruleset store refused or did not answer): their SDKs keep the previous ruleset, a kill switch included, until a later change or POST …/republish publishes; the platform is degraded meanwhile',
      }),
  })
  .meta({ id: 'Health' });

export type HealthReport = z.infer<typeof healthSchema>;

/**
 * GET /healthz, unauthenticated, for load balancers and probes: 200 `{"status":"ok"}` when the
 * database answers; 503 `{"status":"down","database":"down"}` with Retry-After when it does not
 * (a failure is logged by the caller's request line, not here: a probe every few seconds would
 * flood the log). Anything but a database failure stays an error (500).
 */
/** How long /healthz waits for the database's answer before it says the database is down. */
export const HEALTHZ_DEADLINE_MS = 3_000;

export function healthz(s: Services): (c: Context) => Promise<Response> {
  return async (c) => {
    try {
      // A database that does not answer at all (a network partition) is down too: a probe gets its
      // answer within HEALTHZ_DEADLINE_MS rather than waiting on a connection that never replies.
      const answered = await Promise.race([s.deps.db.query('SELECT 1').then(() => true), sleep(HEALTHZ_DEADLINE_MS, false, { ref: false })]);
      if (!answered) {
        throw new DatabaseError(undefined, `no answer within ${String(HEALTHZ_DEADLINE_MS)} ms`);
      }
    } catch (e) {
      if (!(e instanceof DatabaseError)) {
        throw e;
      }
      c.header('Retry-After', String(UNAVAILABLE_RETRY_SECONDS));
      return c.json({ status: 'down', database: 'down' }, 503);
    }
    return c.json({ status: 'ok' });
  };
}

/** The environments whose last publish failed, of projects that still exist, named by key. */
async function unpublishedOf(s: Services): Promise<HealthReport['unpublishedRulesets']> {
  const failed = unpublishedRulesets(s.deps.rulesets);
  if (failed.length === 0) {
    return [];
  }
  const keys = await s.deps.db
    .query<{ id: string; key: string }>('SELECT id, key FROM projects WHERE id = ANY($1::text[])', [[...new Set(failed.map((f) => f.projectId))]])
    .then((r) => new Map(r.rows.map((row) => [row.id, row.key])))
    .catch(() => undefined);
  return failed.flatMap((f) => {
    // Unnamed while the database is down; a deleted project's failures are over.
    const project = keys === undefined ? f.projectId : keys.get(f.projectId);
    return project === undefined ? [] : [{ project, environment: f.environment, version: f.version, since: new Date(f.sinceMs).toISOString(), error: f.error }];
  });
}

export function healthRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/health',
      permission: Permission.Read,
      tag: 'Operations',
      summary: 'Platform health: recent metrics and the pipeline backlog',
      description: 'Figures from CloudWatch in AWS, from in-process counters locally. Degraded when the database is unreachable or its last write failed because its disk is full (`database: degraded`, `databaseIssue`), records are dead-lettered or exposures dropped (`ExposuresDropped`: the event sink refused them and the retry buffer could not keep them) in the window, or (locally) the aggregator has failed to read events for 30 s or one of its polls has not ended for 30 s, or the aggregation lag exceeded its limit (60 s unless XP_HEALTH_MAX_AGGREGATION_LAG_SECONDS says otherwise) in the last 5 minutes (`pipeline.aggregationLag`), or (locally) the raw event archive cannot be written, or records may have expired from the stream unread and no `xp replay` has covered their window yet (`pipeline.expiredWindows`), or the last ruleset publish of an environment failed in this process (`unpublishedRulesets`: its SDKs keep the previous ruleset).',
      query: z.strictObject({ minutes: queryInt(5, 1440).optional() }),
      responses: { 200: { description: 'The health report', schema: healthSchema } },
      handler: async (req) => {
        const minutes = req.query.minutes ?? 60;
        const end = s.deps.now();
        const start = new Date(end.getTime() - minutes * 60_000);
        const source = sources.get(s.deps) ?? inProcessHealthSource(processCounters);
        const countingSince = source.countingSince?.();
        // The lag behind the stream, over the last few minutes whatever the window: a long window would
        // keep a recovered lag degraded for an hour, and a lag is only news while it lasts.
        const lagStart = new Date(end.getTime() - AGGREGATION_LAG_WINDOW_MINUTES * 60_000);
        const lagLimitMs = aggregationLagLimitMs();
        const [backlog, gaps, figures, recentLag] = await Promise.all([
          s.deps.db
            .query<{ dead: number; retrying: number }>('SELECT (SELECT count(*)::int FROM dead_letters) AS dead, (SELECT count(*)::int FROM record_failures) AS retrying')
            .then((r) => r.rows[0])
            .catch(() => undefined),
          s.deps.db
            .query<{ open: number; stream: string; shard_id: string; from_ms: number; to_ms: number; detected_ms: number }>(
              `SELECT count(*) OVER ()::int AS open, stream, shard_id, (extract(epoch FROM from_arrival) * 1000)::float8 AS from_ms,
                 (extract(epoch FROM to_arrival) * 1000)::float8 AS to_ms, (extract(epoch FROM detected_at) * 1000)::float8 AS detected_ms
               FROM stream_gaps WHERE resolved_at IS NULL ORDER BY detected_at DESC, shard_id LIMIT 1`,
            )
            .then((r): NonNullable<HealthReport['pipeline']['expiredWindows']> => {
              const g = r.rows[0];
              if (g === undefined) {
                return { open: 0, latest: null };
              }
              const [from, to] = [Math.round(g.from_ms), Math.round(g.to_ms)];
              return {
                open: g.open,
                latest: { stream: g.stream, shardId: g.shard_id, from: new Date(from).toISOString(), to: new Date(to).toISOString(), detectedAt: new Date(Math.round(g.detected_ms)).toISOString(), replay: replayCommand(from, to) },
              };
            })
            .catch(() => undefined),
          source.read({ start, end }).then(
            (f) => ({ ok: true as const, f }),
            (error: unknown) => {
              s.deps.logger.warn('health: metrics unavailable', { error: error instanceof Error ? error.message : String(error) });
              return { ok: false as const, f: HEALTH_FIGURES.map((h) => ({ ...h, value: null })) };
            },
          ),
          minutes === AGGREGATION_LAG_WINDOW_MINUTES
            ? Promise.resolve(undefined)
            : source.read({ start: lagStart, end }).then(
                (f) => f.find((x) => x.name === 'AggregationLag' && x.statistic === 'max')?.value ?? null,
                () => null,
              ),
        ]);
        const lagMaxMs = recentLag === undefined ? (figures.f.find((f) => f.name === 'AggregationLag' && f.statistic === 'max')?.value ?? null) : recentLag;
        const lagging = lagMaxMs !== null && lagMaxMs > lagLimitMs;
        const deadInWindow = figures.f.find((f) => f.name === 'DeadLetters')?.value ?? 0;
        const exposuresDropped = figures.f.find((f) => f.name === 'ExposuresDropped')?.value ?? 0;
        const aggregator = aggregators.get(s.deps)?.();
        const failingSince = aggregator?.failingSinceMs ?? null;
        const pollingSince = aggregator?.pollingSinceMs ?? null;
        const stalled = pollingSince !== null && end.getTime() - pollingSince >= AGGREGATOR_FAILING_MS;
        const stuck = stalled || (failingSince !== null && end.getTime() - failingSince >= AGGREGATOR_FAILING_MS);
        // Accepted events the archive cannot hold are counted, but a replay would miss them: degraded at once.
        const archive = archives.get(s.deps)?.();
        const unpublished = await unpublishedOf(s);
        let diskFull = databaseDiskFull(s.deps.logger);
        if (diskFull !== undefined && spaceChecks.get(s.deps)?.() === true) {
          databaseWriteSucceeded(s.deps.logger);
          diskFull = undefined;
        }
        const report: HealthReport = {
          status: diskFull !== undefined || backlog === undefined || (gaps?.open ?? 0) > 0 || deadInWindow > 0 || exposuresDropped > 0 || stuck || lagging || (archive?.failingSinceMs ?? null) !== null || unpublished.length > 0 ? 'degraded' : 'ok',
          source: source.kind,
          window: { start: start.toISOString(), end: end.toISOString(), minutes },
          countingSince: countingSince !== undefined && countingSince.getTime() > start.getTime() ? countingSince.toISOString() : null,
          database: backlog === undefined ? 'unreachable' : diskFull !== undefined ? 'degraded' : 'ok',
          ...(diskFull === undefined ? {} : { databaseIssue: { reason: 'disk-full' as const, since: new Date(diskFull.sinceMs).toISOString(), lastError: diskFull.error } }),
          metricsAvailable: figures.ok,
          figures: figures.f,
          pipeline: {
            deadLetters: backlog?.dead ?? null,
            retryingRecords: backlog?.retrying ?? null,
            ...(aggregator === undefined
              ? {}
              : {
                  aggregator: {
                    failingSince: aggregator.failingSinceMs === null ? null : new Date(aggregator.failingSinceMs).toISOString(),
                    lastError: aggregator.lastError,
                    stalledSince: stalled ? new Date(pollingSince).toISOString() : null,
                  },
                }),
            aggregationLag: { maxMs: lagMaxMs, limitMs: lagLimitMs, minutes: AGGREGATION_LAG_WINDOW_MINUTES, exceeded: lagging },
            ...(archive === undefined ? {} : { archive: { failingSince: archive.failingSinceMs === null ? null : new Date(archive.failingSinceMs).toISOString(), lastError: archive.lastError } }),
            ...(gaps === undefined ? {} : { expiredWindows: gaps }),
          },
          unpublishedRulesets: unpublished,
        };
        return { status: 200, body: report };
      },
    }),
  ];
}

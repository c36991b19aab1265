/**
 * Guardrails: for every running experiment, in every environment it runs in, each guardrail metric
 * (the experiment's `metrics.guardrails` plus the project's metrics marked `guardrail`) is tested
 * treatment against control with the always-valid sequential test, so checking every minute does
 * not inflate false alarms. A significant change in the harmful direction records one alert (per
 * experiment × environment × metric × variation until resolved) and, when the experiment says
 * `guardrailAction: 'stop'`, stops it with decision `rollback` as the guardrails system actor.
 *
 * Flag rollouts are covered when an experiment measures them (an `experiment` rule): stopping the
 * experiment takes the rule out of the ruleset, so the flag serves what it served before. A plain
 * `rollout` rule has no comparison group, so it cannot be tested and is not checked.
 */
import { MAX_ACKNOWLEDGE_COMMENT } from '@xp/shared';
import type { Experiment, Flag, Metric } from '@xp/shared';
import type { GuardrailAlert } from '@xp/shared';
import {
  Alternative,
  DEFAULT_SEQUENTIAL_TUNING,
  DifferenceType,
  StatisticType,
  StatsErrorCode,
  TestMethod,
  expandVariations,
  storedExperimentSchema,
  flagSchema,
  frequentistTest,
  guardrailMetricKeys,
  metricSchema,
  stratifyMetric,
  stratumWeights,
} from '@xp/shared';
import type { ArmStats, FrequentistResult, MetricAnalysisInput, RatioStats, SampleStats } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import { AppError, AppErrorCode, notFound } from '../errors.js';
import { rebuildRequestedTotals } from '../pipeline/aggregate.js';
import { queryPeriodStatistics, querySufficientStatistics } from '../pipeline/sufficient-statistics.js';
import type { PeriodStatisticsRow, SufficientStatisticsRow } from '../pipeline/sufficient-statistics.js';
import type { Queryable } from '../store/db.js';
import { decodeCursor, toPage } from '../store/pagination.js';
import { environments as environmentStore } from '../store/projects.js';
import type { Page } from '../store/pagination.js';
import { iso, isoOrNull } from '../store/rows.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { ExperimentService, projectFor } from './definitions.js';
import { startSchedule } from './schedule.js';
import type { Schedule } from './schedule.js';

/**
 * The identity automatic actions are recorded under. It is not a user row (nobody can log in as it);
 * the audit log shows its id, email and client, so an automatic stop is never mistaken for a person's.
 */
export const GUARDRAILS_USER_ID = 'system:guardrails';
export const GUARDRAILS_EMAIL = 'guardrails@xp';
export const GUARDRAILS_CLIENT = 'guardrails';

/** The system actor of one organisation; owner role so no environment protection blocks a rollback. */
export function guardrailsActor(orgId: string): Actor {
  return { userId: GUARDRAILS_USER_ID, orgId, email: GUARDRAILS_EMAIL, role: 'owner', client: GUARDRAILS_CLIENT, credential: { kind: 'system', id: GUARDRAILS_CLIENT } };
}

/** What a guardrail alert led to. */
export const AlertAction = {
  /** Recorded only (the experiment's guardrailAction is 'alert' or absent). */
  Alert: 'alert',
  /** The experiment was stopped with decision 'rollback'. */
  Stopped: 'stopped',
  /** Stopping failed (e.g. a concurrent edit); the next check tries again. */
  StopFailed: 'stop-failed',
} as const;
export type AlertAction = (typeof AlertAction)[keyof typeof AlertAction];

export interface GuardrailOptions {
  /** Significance level of the sequential test. Default 0.05. */
  readonly alpha?: number;
  /** Tuning N* of the confidence sequence. Default 5000 (the stats engine's default). */
  readonly sequentialTuning?: number;
  /** Variations with fewer units are not tested yet (the normal approximation needs some). Default 100. */
  readonly minUnitsPerVariation?: number;
}

export const DEFAULT_GUARDRAIL_ALPHA = 0.05;
export const DEFAULT_MIN_UNITS_PER_VARIATION = 100;
/** How long a guardrail check may spend rebuilding one experiment's totals after a metric change (PostgreSQL). */
const GUARDRAIL_REBUILD_MS = 10_000;

/** One guardrail comparison's outcome. */
export interface GuardrailVerdict {
  readonly degraded: boolean;
  readonly difference: DifferenceType;
  readonly result: FrequentistResult;
}

/** The arm statistics the stats engine takes, from one row of the sufficient-statistics query. */
export function armStats(metric: Metric, row: SufficientStatisticsRow): ArmStats {
  if (metric.type === 'ratio') {
    return {
      n: row.n,
      numerator: { sum: Number(row.sum), sumSquares: Number(row.sumSquares) },
      denominator: { sum: Number(row.denominatorSum), sumSquares: Number(row.denominatorSumSquares) },
      sumProducts: Number(row.numeratorDenominatorProducts),
    };
  }
  return { n: row.n, sum: Number(row.sum), sumSquares: Number(row.sumSquares) };
}

/** One arm reduced to its mean and per-unit variance. */
export interface ArmMoments {
  readonly n: number;
  readonly mean: number;
  /** 0 when every unit has the same value (the stats engine's tolerance). */
  readonly variance: number;
}

/** Below this share of Σx² the centred sum of squares is rounding, as in the stats engine. */
const ZERO_VARIANCE_TOLERANCE = 1e-12;

/** Mean and variance of an arm of a conversion, count or sum metric; undefined for a ratio (its variance is the engine's delta method). */
export function armMoments(metric: Metric, row: SufficientStatisticsRow): ArmMoments | undefined {
  const n = row.n;
  const sum = Number(row.sum);
  const sumSquares = Number(row.sumSquares);
  if (metric.type === 'ratio' || n < 2 || ![sum, sumSquares].every(Number.isFinite)) {
    return undefined;
  }
  const mean = sum / n;
  if (metric.type === 'conversion') {
    return { n, mean, variance: mean * (1 - mean) };
  }
  const centred = sumSquares - (sum * sum) / n;
  return { n, mean, variance: centred > ZERO_VARIANCE_TOLERANCE * Math.abs(sumSquares) ? centred / (n - 1) : 0 };
}

/**
 * The stats engine's two-sided sequential test of the absolute difference treatment − control,
 * from the arms' moments: Welch standard error, normal-mixture confidence sequence over both arms'
 * units (the formulas of @xp/shared's sequential.ts, which the package does not export). Unlike
 * the engine it accepts an arm without variance (it adds 0 to the standard error); undefined when
 * the standard error is 0 or a number is not finite.
 */
export function sequentialAbsoluteTest(control: ArmMoments, treatment: ArmMoments, options: { readonly alpha: number; readonly tuning?: number }): FrequentistResult | undefined {
  const { alpha } = options;
  const tuning = options.tuning ?? DEFAULT_SEQUENTIAL_TUNING;
  const se = Math.sqrt(control.variance / control.n + treatment.variance / treatment.n);
  if (!(se > 0) || !(alpha > 0 && alpha < 1) || !(tuning > 0)) {
    return undefined;
  }
  const effect = treatment.mean - control.mean;
  const statistic = effect / se;
  const l = -2 * Math.log(alpha);
  const r = (control.n + treatment.n) * ((l + Math.log1p(l)) / tuning);
  const logP = 0.5 * Math.log1p(r) - (statistic * statistic * r) / (2 * (1 + r));
  const pValue = logP >= 0 ? 1 : Math.exp(logP);
  const boundary = Math.sqrt(((1 + r) / r) * (l + Math.log1p(r)));
  const ci: [number, number] = [effect - boundary * se, effect + boundary * se];
  if (![effect, se, statistic, pValue, ...ci].every(Number.isFinite)) {
    return undefined;
  }
  return { effect, ci, se, pValue, statistic, df: 0, method: TestMethod.Sequential, difference: DifferenceType.Absolute, alternative: Alternative.TwoSided, alpha, cuped: null };
}

/** One arm as a guardrail judges it: the stats engine's input and, for the fallback of an arm without variance, its moments. */
export interface JudgedArm {
  readonly n: number;
  readonly stats: ArmStats;
  /** Undefined for a ratio (its variance is the engine's delta method) or an arm of fewer than 2 units. */
  readonly moments: ArmMoments | undefined;
  /** The engine's statistic: a proportion for a conversion arm of raw counts; a mean otherwise (a stratified arm is a mean). */
  readonly statisticType: StatisticType;
}

/** An arm of one row of the sufficient-statistics query. */
export function judgedArm(metric: Metric, row: SufficientStatisticsRow): JudgedArm {
  return { n: row.n, stats: armStats(metric, row), moments: armMoments(metric, row), statisticType: metric.type === 'conversion' ? StatisticType.Proportion : StatisticType.Mean };
}

/**
 * Tests one treatment against the control on one guardrail metric (two-sided sequential test at
 * `alpha`); degraded = significant and in the harmful direction. The relative lift is used, or the
 * absolute difference when the control mean is 0. When the engine refuses only because one arm has
 * no variance (no errors at all in the control) while the other has some, the absolute difference
 * is tested with the standard error of the arm that varies. No verdict (undefined) when neither arm
 * varies, an arm has too few units, or a number is not finite.
 */
export function judgeGuardrail(
  metric: Metric,
  control: SufficientStatisticsRow,
  treatment: SufficientStatisticsRow,
  options: GuardrailOptions = {},
): GuardrailVerdict | undefined {
  return judgeArms(metric, judgedArm(metric, control), judgedArm(metric, treatment), options);
}

/** judgeGuardrail of two arms however they were estimated (one window's rows, or the split phases stratified). */
export function judgeArms(metric: Metric, control: JudgedArm, treatment: JudgedArm, options: GuardrailOptions = {}): GuardrailVerdict | undefined {
  const alpha = options.alpha ?? DEFAULT_GUARDRAIL_ALPHA;
  const test = (difference: DifferenceType): FrequentistResult =>
    frequentistTest(control.stats, treatment.stats, {
      alpha,
      difference,
      statisticType: control.statisticType,
      sequential: true,
      ...(options.sequentialTuning === undefined ? {} : { sequentialTuning: options.sequentialTuning }),
    });
  let difference: DifferenceType = DifferenceType.Relative;
  let result = test(difference);
  // A lift undefined (control mean 0) or unbounded (a control mean not distinguishable from zero:
  // its Fieller interval has an infinite end, which an alert cannot store): the same test of equal
  // means on the difference, whose interval is finite.
  if (result.error !== undefined || !result.ci.every(Number.isFinite)) {
    difference = DifferenceType.Absolute;
    result = test(difference);
  }
  if (result.error !== undefined) {
    const oneArmFlat = result.error.code === StatsErrorCode.ZERO_VARIANCE || result.error.code === StatsErrorCode.ZERO_CONVERSIONS;
    const c = control.moments;
    const t = treatment.moments;
    if (!oneArmFlat || c === undefined || t === undefined || (c.variance === 0) === (t.variance === 0)) {
      return undefined;
    }
    const fallback = sequentialAbsoluteTest(c, t, { alpha, ...(options.sequentialTuning === undefined ? {} : { tuning: options.sequentialTuning }) });
    if (fallback === undefined) {
      return undefined;
    }
    result = fallback;
  }
  if (![result.effect, result.pValue, ...result.ci].every(Number.isFinite)) {
    return undefined;
  }
  const harmful = metric.higherIsBetter ? result.effect < 0 : result.effect > 0;
  return { degraded: harmful && result.pValue < alpha, difference, result };
}

/**
 * The stratified estimate of one metric over the split periods of `rows` (the results'
 * phase=stratified: @xp/shared's stratumWeights and stratifyMetric, a period in which some variation
 * has fewer than 2 units left out), one arm per variation in `variations`' order (control first).
 * Undefined when no period is usable. A single usable period is its own rows, unchanged.
 */
export function stratifiedArms(metric: Metric, rows: readonly PeriodStatisticsRow[], variations: readonly string[]): JudgedArm[] | undefined {
  const mine = rows.filter((r) => r.metric === metric.key);
  const periods = [...new Set(mine.map((r) => r.period))].sort((a, b) => a - b);
  const at = (period: number, variation: string): SufficientStatisticsRow | undefined => mine.find((r) => r.period === period && r.variation === variation);
  const { weights, used } = stratumWeights(periods.map((p) => variations.map((v) => at(p, v)?.n ?? 0)));
  if (used === 0) {
    return undefined;
  }
  const strata = periods.flatMap((p, i) => {
    const weight = weights[i]!;
    if (weight <= 0) {
      return [];
    }
    const arms = variations.map((v) => at(p, v)!);
    const input: MetricAnalysisInput =
      metric.type === 'ratio'
        ? { key: metric.key, type: 'ratio', arms: arms.map((r) => armStats(metric, r) as RatioStats) }
        : { key: metric.key, type: metric.type === 'conversion' ? 'proportion' : 'mean', arms: arms.map((r) => armStats(metric, r) as SampleStats) };
    return [{ input, weight, arms }];
  });
  if (strata.length === 1) {
    return strata[0]!.arms.map((r) => judgedArm(metric, r));
  }
  const combined = stratifyMetric(strata.map(({ input, weight }) => ({ input, weight })));
  return combined.arms.map((stats): JudgedArm => {
    if ('numerator' in stats) {
      return { n: stats.n, stats, moments: undefined, statisticType: StatisticType.Mean };
    }
    return { n: stats.n, stats, moments: sampleMoments(stats), statisticType: StatisticType.Mean };
  });
}

/** Mean and per-unit variance of (possibly shifted) sums; undefined below 2 units. */
export function sampleMoments(stats: SampleStats): ArmMoments | undefined {
  const { n, sum, sumSquares } = stats;
  if (n < 2 || ![sum, sumSquares].every(Number.isFinite)) {
    return undefined;
  }
  const centred = sumSquares - (sum * sum) / n;
  return { n, mean: (stats.shift ?? 0) + sum / n, variance: centred > ZERO_VARIANCE_TOLERANCE * Math.abs(sumSquares) ? centred / (n - 1) : 0 };
}

/** A stored alert, as the API returns it (the API client's type: one definition for both sides). */
export type Alert = GuardrailAlert;

interface AlertRow {
  id: string | number;
  environment: string;
  experiment: string;
  flag: string | null;
  metric: string;
  variation: string;
  control: string;
  detected_at: Date;
  difference: DifferenceType;
  effect: number;
  ci_lower: number;
  ci_upper: number;
  p_value: number;
  alpha: number;
  control_units: number;
  treatment_units: number;
  action: AlertAction;
  action_at: Date | null;
  resolved_at: Date | null;
  resolution: string | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  acknowledged_by_name: string | null;
  acknowledge_comment: string | null;
}

/** The columns of an alert as `alertFromRow` reads them; the acknowledger's name as definitions give their last writer's (name, else e-mail). */
const ALERT_COLUMNS = `id, environment, experiment, flag, metric, variation, control, detected_at, difference, effect, ci_lower, ci_upper,
  p_value, alpha, control_units, treatment_units, action, action_at, resolved_at, resolution, acknowledged_at, acknowledged_by,
  (SELECT coalesce(nullif(u.name, ''), u.email) FROM users u WHERE u.id = alerts.acknowledged_by) AS acknowledged_by_name, acknowledge_comment`;

const alertFromRow = (r: AlertRow): Alert => ({
  id: Number(r.id),
  environment: r.environment,
  experiment: r.experiment,
  flag: r.flag,
  metric: r.metric,
  variation: r.variation,
  control: r.control,
  detectedAt: iso(r.detected_at),
  difference: r.difference,
  effect: r.effect,
  ci: [r.ci_lower, r.ci_upper],
  pValue: r.p_value,
  alpha: r.alpha,
  controlUnits: r.control_units,
  treatmentUnits: r.treatment_units,
  action: r.action,
  actionAt: isoOrNull(r.action_at),
  resolvedAt: isoOrNull(r.resolved_at),
  resolution: r.resolution,
  acknowledgedAt: isoOrNull(r.acknowledged_at),
  acknowledgedBy: r.acknowledged_by,
  acknowledgedByName: r.acknowledged_by === null ? null : r.acknowledged_by_name,
  acknowledgeComment: r.acknowledge_comment,
});

export interface AlertFilter {
  /** open: not resolved; resolved: resolved; absent: both. */
  readonly status?: 'open' | 'resolved' | undefined;
  /** true: acknowledged by someone; false: not (yet, or no longer); absent: both. */
  readonly acknowledged?: boolean | undefined;
  readonly environment?: string | undefined;
  readonly experiment?: string | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/** A project's alerts, newest first; the cursor is the last id seen. */
export async function listAlerts(db: Queryable, projectId: string, filter: AlertFilter): Promise<Page<Alert>> {
  const params: unknown[] = [projectId];
  const where = ['project_id = $1'];
  if (filter.status !== undefined) {
    where.push(filter.status === 'open' ? 'resolved_at IS NULL' : 'resolved_at IS NOT NULL');
  }
  if (filter.acknowledged !== undefined) {
    where.push(filter.acknowledged ? 'acknowledged_at IS NOT NULL' : 'acknowledged_at IS NULL');
  }
  for (const [column, value] of [
    ['environment', filter.environment],
    ['experiment', filter.experiment],
  ] as const) {
    if (value !== undefined) {
      params.push(value);
      where.push(`${column} = $${params.length}`);
    }
  }
  const before = decodeCursor(filter.cursor, 'number');
  if (before !== undefined) {
    params.push(before);
    where.push(`id < $${params.length}`);
  }
  params.push(filter.limit + 1);
  const out = await db.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${params.length}`, params);
  return toPage(out.rows, filter.limit, alertFromRow, (r) => Number(r.id));
}

/** The API's view: any role that reads the project reads its alerts. */
export async function alertsFor(deps: Pick<Deps, 'db'>, actor: Actor, projectKey: string, filter: AlertFilter): Promise<Page<Alert>> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  if (filter.environment !== undefined) {
    // 404 naming it, as the results do: an empty list would hide a typo.
    await environmentStore.get(deps.db, project.id, filter.environment);
  }
  return listAlerts(deps.db, project.id, filter);
}

/**
 * Acknowledges an open alert of the project ("seen, investigating"): records who and when, with an
 * optional comment (blank is none), and audits `alert.acknowledged`. Whoever may edit experiments may
 * (experiments:write); an alert of another project is 404, a resolved one 409 INVALID_STATE. An alert
 * already acknowledged is returned as it is (the first acknowledgement, its comment kept; nothing audited).
 */
export async function acknowledgeAlert(deps: Pick<Deps, 'db' | 'now'>, actor: Actor, projectKey: string, alertId: string, input: { readonly comment?: string | null | undefined } = {}): Promise<Alert> {
  assertCan(actor, Permission.ExperimentsWrite);
  const comment = input.comment?.trim() ?? '';
  if (comment.length > MAX_ACKNOWLEDGE_COMMENT) {
    throw new AppError(AppErrorCode.Validation, `invalid body: body.comment: at most ${MAX_ACKNOWLEDGE_COMMENT} characters`, { issues: [{ path: 'body.comment', message: `at most ${MAX_ACKNOWLEDGE_COMMENT} characters` }] });
  }
  return changeAcknowledgement(deps, actor, projectKey, alertId, 'acknowledge', comment === '' ? null : comment);
}

/**
 * Withdraws the acknowledgement of an open alert (anyone with experiments:write, not only who made
 * it), so it reads as new again; audits `alert.unacknowledged` with what was withdrawn. One not
 * acknowledged is returned as it is; a resolved one is 409 INVALID_STATE (its record is final).
 */
export async function unacknowledgeAlert(deps: Pick<Deps, 'db' | 'now'>, actor: Actor, projectKey: string, alertId: string): Promise<Alert> {
  assertCan(actor, Permission.ExperimentsWrite);
  return changeAcknowledgement(deps, actor, projectKey, alertId, 'unacknowledge', null);
}

async function changeAcknowledgement(deps: Pick<Deps, 'db' | 'now'>, actor: Actor, projectKey: string, alertId: string, change: 'acknowledge' | 'unacknowledge', comment: string | null): Promise<Alert> {
  const project = await projectFor(deps.db, actor, projectKey);
  // Alert ids are whole numbers: anything else names no alert.
  if (!/^\d{1,15}$/.test(alertId)) {
    throw notFound(`alert "${alertId.slice(0, 64)}"`);
  }
  return deps.db.withTransaction(async (tx) => {
    const found = await tx.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE project_id = $1 AND id = $2 FOR UPDATE`, [project.id, alertId]);
    const row = found.rows[0];
    if (row === undefined) {
      throw notFound(`alert "${alertId}"`);
    }
    const alert = alertFromRow(row);
    if (alert.resolvedAt !== null) {
      throw new AppError(
        AppErrorCode.InvalidState,
        `alert ${alertId} was resolved ${alert.resolvedAt}${alert.resolution === null ? '' : ` (${alert.resolution})`}: only an open alert can be ${change === 'acknowledge' ? 'acknowledged' : 'un-acknowledged'}`,
        { resolvedAt: alert.resolvedAt, resolution: alert.resolution },
      );
    }
    if ((alert.acknowledgedAt !== null) === (change === 'acknowledge')) {
      return alert;
    }
    const updated = await tx.query<AlertRow>(
      `UPDATE alerts SET acknowledged_at = $3, acknowledged_by = $4, acknowledge_comment = $5 WHERE project_id = $1 AND id = $2 RETURNING ${ALERT_COLUMNS}`,
      change === 'acknowledge' ? [project.id, alertId, deps.now(), actor.userId, comment] : [project.id, alertId, null, null, null],
    );
    const after = alertFromRow(updated.rows[0]!);
    const about = { alert: alert.id, metric: alert.metric, variation: alert.variation };
    await record(tx, actor, {
      projectId: project.id,
      action: change === 'acknowledge' ? 'alert.acknowledged' : 'alert.unacknowledged',
      // An alert is its experiment's: the entry is found with the experiment's history, as `experiment.guardrail-degraded` is.
      resourceType: 'experiment',
      resourceKey: alert.experiment,
      environment: alert.environment,
      before: undefined,
      after:
        change === 'acknowledge'
          ? { ...about, comment: after.acknowledgeComment }
          : // What was withdrawn, and by whom it had been made.
            { ...about, acknowledgedAt: alert.acknowledgedAt, acknowledgedBy: alert.acknowledgedBy, comment: alert.acknowledgeComment },
    });
    return after;
  });
}

/** What one check did. */
export interface GuardrailReport {
  /** Running experiments looked at. */
  readonly experiments: number;
  /** Treatment × metric × environment comparisons with enough data to test. */
  readonly comparisons: number;
  /** Alerts recorded by this check (not the ones already open). */
  readonly raised: Alert[];
  /** `project key/experiment key` of the experiments this check stopped. */
  readonly stopped: string[];
  /** Alerts resolved because their experiment no longer runs, or because their metric changed or is no longer a guardrail of it. */
  readonly resolved: number;
}

interface RunningRow {
  project_id: string;
  project_key: string;
  org_id: string;
  key: string;
  version: number;
  definition: unknown;
}

/** Who last changed a metric, and when. */
export interface MetricChange {
  readonly userId: string | null;
  readonly email: string | null;
  readonly at: Date;
  readonly version: number;
}

interface ProjectContext {
  readonly environments: readonly string[];
  readonly metrics: ReadonlyMap<string, Metric>;
  readonly metricChanges: ReadonlyMap<string, MetricChange>;
  readonly flags: readonly Flag[];
}

/** Runs the checks; one instance per process, invoked by `startGuardrailSchedule` or a test. */
export class GuardrailChecker {
  private readonly experiments: ExperimentService;

  constructor(
    private readonly deps: Deps,
    private readonly options: GuardrailOptions = {},
  ) {
    this.experiments = new ExperimentService(deps, deps.now);
  }

  /** Checks every running experiment of every project once. */
  async check(): Promise<GuardrailReport> {
    const db = this.deps.db;
    const resolved = await db.query(
      `UPDATE alerts a SET resolved_at = $1, resolution = 'experiment no longer running'
       WHERE a.resolved_at IS NULL AND NOT EXISTS (
         SELECT 1 FROM experiments e WHERE e.project_id = a.project_id AND e.key = a.experiment AND e.status = 'running' AND NOT e.archived)`,
      [this.deps.now()],
    );
    const running = await db.query<RunningRow>(
      `SELECT e.project_id, p.key AS project_key, p.org_id, e.key, e.version, e.definition
       FROM experiments e JOIN projects p ON p.id = e.project_id
       WHERE e.status = 'running' AND NOT e.archived
       ORDER BY e.project_id, e.key`,
    );
    const contexts = new Map<string, ProjectContext>();
    const report = { experiments: 0, comparisons: 0, raised: [] as Alert[], stopped: [] as string[], resolved: resolved.rowCount };
    for (const row of running.rows) {
      const parsed = storedExperimentSchema.safeParse(row.definition);
      if (!parsed.success) {
        this.deps.logger.warn('guardrails skip an invalid experiment definition', { projectId: row.project_id, experiment: row.key });
        continue;
      }
      let context = contexts.get(row.project_id);
      if (context === undefined) {
        context = await this.loadProject(row.project_id);
        contexts.set(row.project_id, context);
      }
      report.experiments++;
      try {
        const outcome = await this.checkExperiment(row, parsed.data, context);
        report.comparisons += outcome.comparisons;
        report.resolved += outcome.resolved;
        report.raised.push(...outcome.raised);
        if (outcome.stopped) {
          report.stopped.push(`${row.project_key}/${row.key}`);
        }
      } catch (error) {
        // One experiment's failure must not keep the others unchecked.
        this.deps.logger.error('guardrail check failed', { projectId: row.project_id, experiment: row.key, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return report;
  }

  private async loadProject(projectId: string): Promise<ProjectContext> {
    const db = this.deps.db;
    const envs = await db.query<{ key: string }>('SELECT key FROM environments WHERE project_id = $1 ORDER BY position, key', [projectId]);
    const metricRows = await db.query<{ definition: unknown; version: number; updated_at: Date; updated_by: string | null; email: string | null }>(
      `SELECT m.definition, m.version, m.updated_at, m.updated_by, u.email FROM metrics m LEFT JOIN users u ON u.id = m.updated_by
       WHERE m.project_id = $1 AND NOT m.archived`,
      [projectId],
    );
    const flagRows = await db.query<{ definition: unknown }>('SELECT definition FROM flags WHERE project_id = $1 AND NOT archived ORDER BY key', [projectId]);
    const metrics = new Map<string, Metric>();
    const metricChanges = new Map<string, MetricChange>();
    for (const row of metricRows.rows) {
      const m = metricSchema.safeParse(row.definition);
      if (m.success) {
        metrics.set(m.data.key, m.data);
        metricChanges.set(m.data.key, { userId: row.updated_by, email: row.email, at: new Date(row.updated_at), version: row.version });
      }
    }
    const flags = flagRows.rows.flatMap(({ definition }) => {
      const f = flagSchema.safeParse(definition);
      return f.success ? [f.data] : [];
    });
    return { environments: envs.rows.map((r) => r.key), metrics, metricChanges, flags };
  }

  private async checkExperiment(row: RunningRow, exp: Experiment, context: ProjectContext): Promise<{ comparisons: number; raised: Alert[]; stopped: boolean; resolved: number }> {
    // context.metrics holds the unarchived metrics only.
    const guardrailKeys = [...guardrailMetricKeys(exp, context.metrics.values())];
    const metrics = guardrailKeys.flatMap((k) => {
      const m = context.metrics.get(k);
      return m === undefined ? [] : [m];
    });
    // Before anything can stop the experiment: an alert on a metric it no longer has must not.
    const resolved = await this.resolveStaleAlerts(row, metrics, context);
    const variations = expandVariations(exp);
    const control = variations[0];
    if (metrics.length === 0 || control === undefined) {
      return { comparisons: 0, raised: [], stopped: false, resolved };
    }
    // Totals a metric change made wrong are recounted first. Until they are (a large experiment is
    // left to the aggregator's upkeep), they count events the old way: judging them could stop an
    // experiment for a metric it no longer has, so the experiment waits for the next check.
    const current = await rebuildRequestedTotals(this.deps.db, { projectId: row.project_id, experiment: row.key }, { timeoutMs: this.deps.dimensionBuildTimeoutMs ?? GUARDRAIL_REBUILD_MS, logger: this.deps.logger });
    if (!current) {
      this.deps.logger.warn('guardrail check skips an experiment whose totals are still being rebuilt after a metric change', { experiment: row.key });
      return { comparisons: 0, raised: [], stopped: false, resolved };
    }
    const since = await this.windowStart(row, exp);
    // A bandit's split moves every day or so: its guardrails judge every phase since `since`,
    // stratified, as its results (see windowStart).
    const changes = exp.bandit === undefined ? [] : (exp.splitHistory ?? []).map((h) => new Date(h.until));
    const environments = exp.environments.length === 0 ? context.environments : context.environments.filter((e) => exp.environments.includes(e));
    const keys = variations.map((v) => v.key);
    const minUnits = this.options.minUnitsPerVariation ?? DEFAULT_MIN_UNITS_PER_VARIATION;
    let comparisons = 0;
    const raised: Alert[] = [];
    for (const environment of environments) {
      const target = { projectId: row.project_id, environment, experiment: row.key, metrics: metrics.map((m) => m.key) };
      const armsOf = await this.armsIn(target, changes, since, keys);
      const flag = context.flags.find((f) => f.environments[environment]?.rules.some((r) => r.type === 'experiment' && r.experiment === row.key))?.key ?? null;
      for (const [k, treatment] of variations.entries()) {
        if (k === 0) {
          continue;
        }
        for (const metric of metrics) {
          const arms = armsOf(metric);
          const c = arms?.[0];
          const t = arms?.[k];
          if (c === undefined || t === undefined || c.n < minUnits || t.n < minUnits) {
            continue;
          }
          comparisons++;
          const verdict = judgeArms(metric, c, t, this.options);
          if (verdict?.degraded !== true) {
            continue;
          }
          const alert = await this.recordAlert(
            row,
            { environment, flag, metric: metric.key, variation: treatment.key, control: control.key, controlUnits: c.n, treatmentUnits: t.n },
            verdict,
            changedSinceStart(exp, context.metricChanges.get(metric.key)),
          );
          if (alert !== undefined) {
            raised.push(alert);
            this.deps.logger.warn('guardrail degraded', { project: row.project_key, experiment: row.key, environment, metric: metric.key, variation: treatment.key, effect: alert.effect, pValue: alert.pValue });
          }
        }
      }
    }
    const stopped = exp.guardrailAction === 'stop' ? await this.stopIfAlerted(row, exp) : false;
    return { comparisons, raised, stopped, resolved };
  }

  /**
   * Resolves the experiment's open alerts that no longer hold: their metric is not one of its
   * guardrails any more (removed from its list, unmarked, archived), or was changed after the alert
   * (its totals are recounted, so the alert judged what the metric no longer measures). Returns how many.
   */
  private async resolveStaleAlerts(row: RunningRow, guardrails: readonly Metric[], context: ProjectContext): Promise<number> {
    const db = this.deps.db;
    const open = await db.query<{ id: string | number; metric: string; detected_at: Date }>(
      'SELECT id, metric, detected_at FROM alerts WHERE project_id = $1 AND experiment = $2 AND resolved_at IS NULL',
      [row.project_id, row.key],
    );
    const keys = new Set(guardrails.map((m) => m.key));
    const now = this.deps.now();
    let resolved = 0;
    for (const alert of open.rows) {
      const change = context.metricChanges.get(alert.metric);
      const resolution = !keys.has(alert.metric)
        ? 'no longer a guardrail of the experiment'
        : change !== undefined && change.version > 1 && change.at.getTime() > new Date(alert.detected_at).getTime()
          ? 'metric redefined since the alert'
          : undefined;
      if (resolution !== undefined) {
        const out = await db.query('UPDATE alerts SET resolved_at = $2, resolution = $3 WHERE id = $1 AND resolved_at IS NULL', [alert.id, now, resolution]);
        resolved += out.rowCount;
      }
    }
    return resolved;
  }

  /**
   * Each variation's arm (variations' order) on a metric in one environment, of the units first
   * exposed since `since`: one window's sums without split changes; the phases stratified with them.
   */
  private async armsIn(
    target: { readonly projectId: string; readonly environment: string; readonly experiment: string; readonly metrics: readonly string[] },
    changes: readonly Date[],
    since: Date | undefined,
    keys: readonly string[],
  ): Promise<(metric: Metric) => (JudgedArm | undefined)[] | undefined> {
    if (changes.length === 0) {
      const rows = await querySufficientStatistics(this.deps.db, target, since);
      return (metric) =>
        keys.map((v) => {
          const r = rows.find((x) => x.variation === v && x.metric === metric.key);
          return r === undefined ? undefined : judgedArm(metric, r);
        });
    }
    const rows = await queryPeriodStatistics(this.deps.db, target, changes, since);
    return (metric) => stratifiedArms(metric, rows, keys);
  }

  /**
   * Where the judged units start. For most experiments, the later of the current split phase's start
   * (as the results' default: units first exposed under another split would confound the comparison,
   * Simpson's paradox) and the resume that followed a guardrails stop; undefined (every unit) when
   * neither. A bandit's split moves every `updateEveryHours`: its current phase would hold a day of
   * units, and the sequential test would start again at every move, so a harmful variation would
   * never be caught. Its guardrails judge every phase since the start (or that resume), each phase's
   * units compared within it (the stratified estimate its results and its moves read), with one
   * confidence sequence that never restarts. A bandit turned off is judged as any experiment again.
   */
  private async windowStart(row: RunningRow, exp: Experiment): Promise<Date | undefined> {
    const lastSplit = exp.bandit === undefined ? exp.splitHistory?.at(-1) : undefined;
    const phase = lastSplit === undefined ? undefined : new Date(lastSplit.until);
    const resumed = await this.resumedAfterGuardrailStop(row, exp);
    if (phase === undefined || resumed === undefined) {
      return phase ?? resumed;
    }
    return phase.getTime() > resumed.getTime() ? phase : resumed;
  }

  /**
   * The resume that followed a guardrails stop, if any (the units before it were judged harmful
   * already, and would stop it again at once). A manual stop and resume keeps the window it had.
   */
  private async resumedAfterGuardrailStop(row: RunningRow, exp: Experiment): Promise<Date | undefined> {
    const pauses = exp.pauses ?? [];
    if (pauses.length === 0) {
      return undefined;
    }
    // A guardrails stop marks its alerts 'stopped' at the moment the running period ended.
    const stops = await this.deps.db.query<{ action_at: Date }>(
      "SELECT DISTINCT action_at FROM alerts WHERE project_id = $1 AND experiment = $2 AND action = 'stopped' AND action_at IS NOT NULL",
      [row.project_id, row.key],
    );
    const stoppedAt = stops.rows.map((r) => new Date(r.action_at).getTime());
    for (let i = pauses.length - 1; i >= 0; i--) {
      const pause = pauses[i]!;
      const from = i === 0 ? (exp.startedAt === undefined ? Number.NEGATIVE_INFINITY : Date.parse(exp.startedAt)) : Date.parse(pauses[i - 1]!.resumedAt);
      const to = Date.parse(pause.stoppedAt);
      if (stoppedAt.some((at) => at >= from && at <= to)) {
        return new Date(pause.resumedAt);
      }
    }
    return undefined;
  }

  /** Inserts the alert unless one is open for the same comparison; audits it; returns it when new. */
  private async recordAlert(
    row: RunningRow,
    where: { environment: string; flag: string | null; metric: string; variation: string; control: string; controlUnits: number; treatmentUnits: number },
    verdict: GuardrailVerdict,
    metricChangedBy?: MetricChange,
  ): Promise<Alert | undefined> {
    const { result } = verdict;
    return this.deps.db.withTransaction(async (tx) => {
      const out = await tx.query<AlertRow>(
        `INSERT INTO alerts (project_id, environment, experiment, flag, metric, variation, control, detected_at, difference, effect, ci_lower, ci_upper,
                             p_value, alpha, control_units, treatment_units, action)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'alert')
         ON CONFLICT (project_id, environment, experiment, metric, variation) WHERE resolved_at IS NULL DO NOTHING
         RETURNING ${ALERT_COLUMNS}`,
        [
          row.project_id,
          where.environment,
          row.key,
          where.flag,
          where.metric,
          where.variation,
          where.control,
          this.deps.now(),
          verdict.difference,
          result.effect,
          result.ci[0],
          result.ci[1],
          result.pValue,
          result.alpha,
          where.controlUnits,
          where.treatmentUnits,
        ],
      );
      const inserted = out.rows[0];
      if (inserted === undefined) {
        return undefined;
      }
      const alert = alertFromRow(inserted);
      await record(tx, guardrailsActor(row.org_id), {
        projectId: row.project_id,
        action: 'experiment.guardrail-degraded',
        resourceType: 'experiment',
        resourceKey: row.key,
        environment: where.environment,
        before: undefined,
        after: {
          alert: alert.id,
          metric: alert.metric,
          variation: alert.variation,
          effect: alert.effect,
          ci: alert.ci,
          pValue: alert.pValue,
          // A person changed the metric while the experiment ran: the degradation (and a stop) is theirs too.
          ...(metricChangedBy === undefined
            ? {}
            : { metricChangedBy: { userId: metricChangedBy.userId, email: metricChangedBy.email, at: metricChangedBy.at.toISOString(), version: metricChangedBy.version } }),
        },
      });
      return alert;
    });
  }

  /**
   * Stops the experiment (decision rollback, no winner) if it has open alerts; records the outcome on
   * them. The stop's audit entry names the alerts, and each flag serving the experiment gets a
   * `flag.rolled-back` entry in the same transaction.
   */
  private async stopIfAlerted(row: RunningRow, exp: Experiment): Promise<boolean> {
    const db = this.deps.db;
    const open = await db.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE project_id = $1 AND experiment = $2 AND resolved_at IS NULL ORDER BY id`, [row.project_id, row.key]);
    const alerts = open.rows.map(alertFromRow);
    if (alerts.length === 0) {
      return false;
    }
    let now = this.deps.now();
    const actor = guardrailsActor(row.org_id);
    try {
      const stored = await this.experiments.stop(actor, row.project_key, row.key, row.version, { decision: 'rollback', releaseWinner: false }, {
        marker: stopMarker(alerts),
        written: async (_stored, project, tx) => {
          await recordFlagRollbacks(tx, actor, project.id, exp, alerts);
        },
      });
      // The alerts' action time is the stop's: a later resume knows from it that guardrails stopped it.
      now = new Date(stored.definition.stoppedAt ?? now);
    } catch (error) {
      if (!(error instanceof AppError)) {
        throw error;
      }
      this.deps.logger.warn('guardrails could not stop the experiment; the next check retries', { project: row.project_key, experiment: row.key, error: error.message });
      await db.query(`UPDATE alerts SET action = 'stop-failed', action_at = $3 WHERE project_id = $1 AND experiment = $2 AND resolved_at IS NULL`, [row.project_id, row.key, now]);
      return false;
    }
    await db.query(
      `UPDATE alerts SET action = 'stopped', action_at = $3, resolved_at = $3, resolution = 'experiment stopped by guardrails'
       WHERE project_id = $1 AND experiment = $2 AND resolved_at IS NULL`,
      [row.project_id, row.key, now],
    );
    this.deps.logger.warn('guardrails stopped an experiment', { project: row.project_key, experiment: row.key });
    return true;
  }
}

/** What a guardrails stop records in its `experiment.stopped` entry beside the change (strings: the audit marker's type). */
export function stopMarker(alerts: readonly Alert[]): Record<string, string> {
  return {
    guardrailAlerts: alerts.map((a) => String(a.id)).join(', '),
    guardrailMetrics: [...new Set(alerts.map((a) => a.metric))].join(', '),
    guardrailCause: alerts
      .map((a) => `alert ${String(a.id)}: ${a.metric} ${a.difference} effect ${String(a.effect)} (p ${String(a.pValue)}) for ${a.variation} against ${a.control} in ${a.environment}`)
      .join('; '),
  };
}

/**
 * One `flag.rolled-back` entry per flag whose experiment rule serves the stopped experiment: the
 * flag serves its next rule or default now, which its own history and `flag.*` webhooks must show.
 * The entry's environment is the one the rule serves the experiment in when there is one; with
 * several it is null and the diff's `environments` names them (environment-filtered webhooks read it).
 */
export async function recordFlagRollbacks(tx: Queryable, actor: Actor, projectId: string, exp: Experiment, alerts: readonly Alert[]): Promise<number> {
  const rows = await tx.query<{ definition: unknown }>('SELECT definition FROM flags WHERE project_id = $1 AND NOT archived ORDER BY key', [projectId]);
  let recorded = 0;
  for (const { definition } of rows.rows) {
    const parsed = flagSchema.safeParse(definition);
    if (!parsed.success) {
      continue;
    }
    const flag = parsed.data;
    const served = Object.entries(flag.environments)
      .filter(([env, state]) => (exp.environments.length === 0 || exp.environments.includes(env)) && state.rules.some((r) => r.type === 'experiment' && r.experiment === exp.key))
      .map(([env]) => env);
    if (served.length === 0) {
      continue;
    }
    await record(tx, actor, {
      projectId,
      action: 'flag.rolled-back',
      resourceType: 'flag',
      resourceKey: flag.key,
      environment: served.length === 1 ? served[0] : undefined,
      before: undefined,
      after: {
        experiment: exp.key,
        decision: 'rollback',
        alerts: alerts.map((a) => a.id),
        metrics: [...new Set(alerts.map((a) => a.metric))],
        // No `enabled` here: the flag was not turned on or off.
        environments: Object.fromEntries(served.map((env) => [env, { experiment: exp.key }])),
      },
    });
    recorded++;
  }
  return recorded;
}

/**
 * The metric's last change, when a user made it after the experiment started. Its creation is no
 * change (version 1): an experiment imported as running with a past start time made the metric
 * created with it "changed while it ran".
 */
export function changedSinceStart(exp: Pick<Experiment, 'startedAt'>, change: MetricChange | undefined): MetricChange | undefined {
  if (change?.userId === null || change === undefined || change.version <= 1 || exp.startedAt === undefined) {
    return undefined;
  }
  return change.at.getTime() > new Date(exp.startedAt).getTime() ? change : undefined;
}

/** A running periodic check. */
export type GuardrailSchedule = Schedule<GuardrailReport>;

export const DEFAULT_GUARDRAIL_INTERVAL_MS = 60_000;

/**
 * Runs `checker.check()` every `intervalMs` (never two at once). The timer does not keep the process
 * alive; failures are logged and the schedule goes on.
 */
export function startGuardrailSchedule(
  checker: Pick<GuardrailChecker, 'check'>,
  options: { readonly intervalMs?: number; readonly logger: Deps['logger'] },
): GuardrailSchedule {
  return startSchedule(() => checker.check(), { intervalMs: options.intervalMs ?? DEFAULT_GUARDRAIL_INTERVAL_MS, logger: options.logger, failure: 'guardrail check failed' });
}

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
import type { Experiment, Flag, Metric } from '@xp/shared';
import type { GuardrailAlert } from '@xp/shared';
import { DifferenceType, StatisticType, expandVariations, storedExperimentSchema, flagSchema, frequentistTest, guardrailMetricKeys, metricSchema } from '@xp/shared';
import type { ArmStats, FrequentistResult } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import { AppError } from '../errors.js';
import { rebuildRequestedTotals } from '../pipeline/aggregate.js';
import { querySufficientStatistics } from '../pipeline/sufficient-statistics.js';
import type { SufficientStatisticsRow } from '../pipeline/sufficient-statistics.js';
import type { Queryable } from '../store/db.js';
import { decodeCursor, toPage } from '../store/pagination.js';
import type { Page } from '../store/pagination.js';
import { iso, isoOrNull } from '../store/rows.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { ExperimentService, projectFor } from './definitions.js';

/**
 * The identity automatic actions are recorded under. It is not a user row (nobody can log in as it);
 * the audit log shows its id, email and client, so an automatic stop is never mistaken for a person's.
 */
export const GUARDRAILS_USER_ID = 'system:guardrails';
export const GUARDRAILS_EMAIL = 'guardrails@xp';
export const GUARDRAILS_CLIENT = 'guardrails';

/** The system actor of one organisation; owner role so no environment protection blocks a rollback. */
export function guardrailsActor(orgId: string): Actor {
  return { userId: GUARDRAILS_USER_ID, orgId, email: GUARDRAILS_EMAIL, role: 'owner', client: GUARDRAILS_CLIENT };
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

/**
 * Tests one treatment against the control on one guardrail metric (two-sided sequential test at
 * `alpha`); degraded = significant and in the harmful direction. The relative lift is used, or the
 * absolute difference when the control mean is 0. No verdict (undefined) when the stats engine has
 * none, e.g. an arm without variance (no errors at all in the control) or no units.
 */
export function judgeGuardrail(
  metric: Metric,
  control: SufficientStatisticsRow,
  treatment: SufficientStatisticsRow,
  options: GuardrailOptions = {},
): GuardrailVerdict | undefined {
  const alpha = options.alpha ?? DEFAULT_GUARDRAIL_ALPHA;
  const statisticType = metric.type === 'conversion' ? StatisticType.Proportion : StatisticType.Mean;
  const test = (difference: DifferenceType): FrequentistResult =>
    frequentistTest(armStats(metric, control), armStats(metric, treatment), {
      alpha,
      difference,
      statisticType,
      sequential: true,
      ...(options.sequentialTuning === undefined ? {} : { sequentialTuning: options.sequentialTuning }),
    });
  let difference: DifferenceType = DifferenceType.Relative;
  let result = test(difference);
  if (result.error !== undefined) {
    difference = DifferenceType.Absolute;
    result = test(difference);
  }
  if (result.error !== undefined) {
    return undefined;
  }
  const harmful = metric.higherIsBetter ? result.effect < 0 : result.effect > 0;
  return { degraded: harmful && result.pValue < alpha, difference, result };
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
}

const ALERT_COLUMNS = `id, environment, experiment, flag, metric, variation, control, detected_at, difference, effect, ci_lower, ci_upper,
  p_value, alpha, control_units, treatment_units, action, action_at, resolved_at, resolution`;

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
});

export interface AlertFilter {
  /** open: not resolved; resolved: resolved; absent: both. */
  readonly status?: 'open' | 'resolved' | undefined;
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
  return listAlerts(deps.db, project.id, filter);
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
  /** Alerts resolved because their experiment no longer runs. */
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

  private async checkExperiment(row: RunningRow, exp: Experiment, context: ProjectContext): Promise<{ comparisons: number; raised: Alert[]; stopped: boolean }> {
    // context.metrics holds the unarchived metrics only.
    const guardrailKeys = [...guardrailMetricKeys(exp, context.metrics.values())];
    const metrics = guardrailKeys.flatMap((k) => {
      const m = context.metrics.get(k);
      return m === undefined ? [] : [m];
    });
    const variations = expandVariations(exp);
    const control = variations[0];
    if (metrics.length === 0 || control === undefined) {
      return { comparisons: 0, raised: [], stopped: false };
    }
    // Totals a metric change made wrong are recounted first. Until they are (a large experiment is
    // left to the aggregator's upkeep), they count events the old way: judging them could stop an
    // experiment for a metric it no longer has, so the experiment waits for the next check.
    const current = await rebuildRequestedTotals(this.deps.db, { projectId: row.project_id, experiment: row.key }, { timeoutMs: this.deps.dimensionBuildTimeoutMs ?? GUARDRAIL_REBUILD_MS, logger: this.deps.logger });
    if (!current) {
      this.deps.logger.warn('guardrail check skips an experiment whose totals are still being rebuilt after a metric change', { experiment: row.key });
      return { comparisons: 0, raised: [], stopped: false };
    }
    const environments = exp.environments.length === 0 ? context.environments : context.environments.filter((e) => exp.environments.includes(e));
    let comparisons = 0;
    const raised: Alert[] = [];
    for (const environment of environments) {
      const rows = await querySufficientStatistics(this.deps.db, { projectId: row.project_id, environment, experiment: row.key, metrics: metrics.map((m) => m.key) });
      const at = (variation: string, metric: string): SufficientStatisticsRow | undefined => rows.find((r) => r.variation === variation && r.metric === metric);
      const flag = context.flags.find((f) => f.environments[environment]?.rules.some((r) => r.type === 'experiment' && r.experiment === row.key))?.key ?? null;
      for (const treatment of variations.slice(1)) {
        for (const metric of metrics) {
          const c = at(control.key, metric.key);
          const t = at(treatment.key, metric.key);
          const minUnits = this.options.minUnitsPerVariation ?? DEFAULT_MIN_UNITS_PER_VARIATION;
          if (c === undefined || t === undefined || c.n < minUnits || t.n < minUnits) {
            continue;
          }
          comparisons++;
          const verdict = judgeGuardrail(metric, c, t, this.options);
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
    const stopped = exp.guardrailAction === 'stop' ? await this.stopIfAlerted(row) : false;
    return { comparisons, raised, stopped };
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

  /** Stops the experiment (decision rollback, no winner) if it has open alerts; records the outcome on them. */
  private async stopIfAlerted(row: RunningRow): Promise<boolean> {
    const db = this.deps.db;
    const open = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM alerts WHERE project_id = $1 AND experiment = $2 AND resolved_at IS NULL', [row.project_id, row.key]);
    if ((open.rows[0]?.n ?? 0) === 0) {
      return false;
    }
    const now = this.deps.now();
    try {
      await this.experiments.stop(guardrailsActor(row.org_id), row.project_key, row.key, row.version, { decision: 'rollback', releaseWinner: false });
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
export interface GuardrailSchedule {
  /** Runs a check now (after the one in progress, if any) and returns its report. */
  runNow(): Promise<GuardrailReport | undefined>;
  /** Cancels the next run and waits for the one in progress. */
  stop(): Promise<void>;
}

export const DEFAULT_GUARDRAIL_INTERVAL_MS = 60_000;

/**
 * Runs `checker.check()` every `intervalMs` (never two at once). The timer does not keep the process
 * alive; failures are logged and the schedule goes on.
 */
export function startGuardrailSchedule(
  checker: Pick<GuardrailChecker, 'check'>,
  options: { readonly intervalMs?: number; readonly logger: Deps['logger'] },
): GuardrailSchedule {
  const intervalMs = options.intervalMs ?? DEFAULT_GUARDRAIL_INTERVAL_MS;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<GuardrailReport | undefined> = Promise.resolve(undefined);
  const run = (): Promise<GuardrailReport | undefined> => {
    inFlight = inFlight.then(
      () =>
        checker.check().catch((error: unknown) => {
          options.logger.error('guardrail check failed', { error: error instanceof Error ? error.message : String(error) });
          return undefined;
        }),
      () => undefined,
    );
    return inFlight;
  };
  const arm = (): void => {
    if (stopped) {
      return;
    }
    timer = setTimeout(() => {
      void run().finally(arm);
    }, intervalMs);
    timer.unref();
  };
  arm();
  return {
    runNow: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}

/**
 * Multi-armed bandits: every running experiment with a `bandit` has its split moved, every
 * `updateEveryHours` after a burn-in of `burnInHours` at its authored weights, towards the variations
 * most likely to be best on its bandit metric (Thompson sampling: each variation's share is its chance
 * to be best, floored at `minShare`; @xp/shared's banditShares). The new weights are written through
 * ExperimentService.update like a person's change, so the split history, the ruleset, the audit log
 * (as the bandit system actor), webhooks and every check apply; sticky bucketing keeps each exposed
 * unit's variation. Every check is recorded in `bandit_updates`, moved or kept and why (a move in
 * the same transaction as the new split); the newest one is the "last check" the next is due from.
 */
import { BANDIT_SHARE_UNITS, MAX_SPLIT_HISTORY, banditWeights, chanceToBeBest, expandVariations, isStatsError, metricSchema, storedExperimentSchema, variationShares } from '@xp/shared';
import type { ArmStats, Bandit, BanditKeepReason, BanditUpdate, Experiment, Metric } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import { AppError, AppErrorCode, notFound } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { iso } from '../store/rows.js';
import { lockProjectDefinitions } from '../store/project-locks.js';
import type { Actor, Deps } from './context.js';
import { ExperimentService, finishBatch, projectFor } from './definitions.js';
import type { ChangeBatch } from './definitions.js';
import { queryPeriodStatistics } from '../pipeline/sufficient-statistics.js';
import { DEFAULT_MIN_UNITS_PER_VARIATION, stratifiedArms } from './guardrails.js';
import type { ArmMoments } from './guardrails.js';
import { flushRulesets } from './publisher.js';
import type { StagedRuleset } from './publisher.js';
import { computeResults, resultsEnvironment } from './results.js';
import { startSchedule } from './schedule.js';
import type { Schedule } from './schedule.js';
import type { ResultsPhase } from './results.js';

/** The identity automatic moves are recorded under (not a user row: nobody can log in as it), as guardrails'. */
export const BANDIT_USER_ID = 'system:bandit';
export const BANDIT_EMAIL = 'bandit@xp';
export const BANDIT_CLIENT = 'bandit';

/** The bandit's system actor in one organisation; owner role, as guardrails', so no environment protection blocks a move. */
export function banditActor(orgId: string): Actor {
  return { userId: BANDIT_USER_ID, orgId, email: BANDIT_EMAIL, role: 'owner', client: BANDIT_CLIENT, credential: { kind: 'system', id: BANDIT_CLIENT } };
}

/**
 * The split phases the chance to be best is read from: the stratified estimate over every phase
 * (each analysed on its own and weighted by its units), so that the moving split biases nothing
 * (pooled, a drifting metric would favour the variations that got more late units: Simpson's paradox).
 */
export const BANDIT_RESULTS_PHASE: ResultsPhase = 'stratified';

/** Fewer units in any variation and the split is kept (the posterior of a handful of units is noise). */
export const BANDIT_MIN_UNITS_PER_VARIATION = DEFAULT_MIN_UNITS_PER_VARIATION;

/** New shares within this of the current ones (every variation) keep the split: no new phase for a rounding. */
export const BANDIT_SHARE_TOLERANCE = 0.005;

/** Most checks GET …/bandit lists (newest first). */
export const MAX_BANDIT_UPDATES_LISTED = 100;

const HOUR_MS = 3_600_000;

/** Why a check kept the split (the API client's type: one definition for both sides). */
export const BANDIT_KEEP_REASONS = ['burn_in', 'insufficient_units', 'no_chance_to_be_best', 'split_history_full', 'no_change', 'conflict', 'failed'] as const satisfies readonly BanditKeepReason[];
export type { BanditKeepReason, BanditUpdate };

/** What one run of the updater did. */
export interface BanditReport {
  /** Running bandit experiments looked at. */
  readonly experiments: number;
  /** Those due for a check, each checked (and recorded). */
  readonly checked: number;
  /** `project key/experiment key` of the experiments whose split moved. */
  readonly moved: string[];
  /** Checks that kept the split, by reason. */
  readonly kept: Partial<Record<BanditKeepReason, number>>;
  /** Due, but left to the next run: this one had spent its time budget. */
  readonly deferred: number;
}

export interface BanditOptions {
  /** Default BANDIT_MIN_UNITS_PER_VARIATION. */
  readonly minUnitsPerVariation?: number;
  /** Default BANDIT_SHARE_TOLERANCE. */
  readonly tolerance?: number;
  /**
   * Wall-clock milliseconds a run may spend starting checks (default BANDIT_RUN_BUDGET_MS); the due
   * bandits left are checked at the next run. Each check reads an experiment's whole results, and the
   * scheduled Lambda has 55 s for the guardrails and the bandits together.
   */
  readonly runBudgetMs?: number;
}

export const BANDIT_RUN_BUDGET_MS = 30_000;

interface BanditRow {
  project_id: string;
  project_key: string;
  org_id: string;
  key: string;
  version: number;
  definition: unknown;
  last_check: Date | null;
}

/** The experiment's bandit metric: the one it names, else its first primary metric. */
export function banditMetric(exp: Pick<Experiment, 'bandit' | 'metrics'>): string | undefined {
  return exp.bandit === undefined ? undefined : (exp.bandit.metric ?? exp.metrics.primary[0]);
}

/**
 * When the experiment's next check is due: the end of its burn-in, or `updateEveryHours` after its
 * last check (conflicts aside: they are retried at once), whichever is later. A pause is not taken
 * out of the burn-in (it counts from the start). Undefined for an experiment without a bandit or not
 * running.
 */
export function nextBanditCheck(exp: Pick<Experiment, 'bandit' | 'status' | 'startedAt'>, lastCheck: Date | null): Date | undefined {
  if (exp.bandit === undefined || exp.status !== 'running' || exp.startedAt === undefined) {
    return undefined;
  }
  const burnt = Date.parse(exp.startedAt) + exp.bandit.burnInHours * HOUR_MS;
  const cadence = lastCheck === null ? Number.NEGATIVE_INFINITY : lastCheck.getTime() + exp.bandit.updateEveryHours * HOUR_MS;
  return new Date(Math.max(burnt, cadence));
}

/** The newest check that counts for the cadence: a conflict (a person's concurrent edit) does not, so it is retried at the next run. */
const LAST_CHECK = `(SELECT max(b.at) FROM bandit_updates b WHERE b.project_id = e.project_id AND b.experiment = e.key AND b.reason IS DISTINCT FROM 'conflict')`;

/** Runs the checks; one instance per process, invoked by `startBanditSchedule`, the scheduled Lambda, the API or a test. */
export class BanditUpdater {
  private readonly experiments: ExperimentService;

  constructor(
    private readonly deps: Deps,
    private readonly options: BanditOptions = {},
  ) {
    this.experiments = new ExperimentService(deps, deps.now);
  }

  /** Checks every running, unarchived bandit experiment of every project that is due. */
  async update(): Promise<BanditReport> {
    const rows = await this.deps.db.query<BanditRow>(
      `SELECT e.project_id, p.key AS project_key, p.org_id, e.key, e.version, e.definition, ${LAST_CHECK} AS last_check
       FROM experiments e JOIN projects p ON p.id = e.project_id
       WHERE e.status = 'running' AND NOT e.archived AND e.definition ? 'bandit'
       ORDER BY e.project_id, e.key`,
    );
    const report = { experiments: 0, checked: 0, moved: [] as string[], kept: {} as Partial<Record<BanditKeepReason, number>>, deferred: 0 };
    const now = this.deps.now();
    // Real time, not the platform's clock (which tests move): how long this run has taken.
    const started = performance.now();
    const budget = this.options.runBudgetMs ?? BANDIT_RUN_BUDGET_MS;
    for (const row of rows.rows) {
      const parsed = storedExperimentSchema.safeParse(row.definition);
      if (!parsed.success || parsed.data.bandit === undefined) {
        this.deps.logger.warn('bandit skips an invalid experiment definition', { projectId: row.project_id, experiment: row.key });
        continue;
      }
      report.experiments++;
      const due = nextBanditCheck(parsed.data, row.last_check === null ? null : new Date(row.last_check));
      if (due === undefined || now.getTime() < due.getTime()) {
        continue;
      }
      if (performance.now() - started >= budget) {
        report.deferred++;
        continue;
      }
      report.checked++;
      const update = await this.checkRecorded(row, parsed.data, banditActor(row.org_id));
      if (update.outcome === 'moved') {
        report.moved.push(`${row.project_key}/${row.key}`);
      } else if (update.reason !== null) {
        report.kept[update.reason] = (report.kept[update.reason] ?? 0) + 1;
      }
    }
    return report;
  }

  /**
   * POST …/bandit/update: one check of this experiment now, whatever its cadence and burn-in, as
   * `actor` (who may edit experiments): the audit log names who asked for the move. 409 INVALID_STATE
   * for an experiment without a bandit or not running.
   */
  async updateNow(actor: Actor, projectKey: string, key: string): Promise<BanditUpdate> {
    assertCan(actor, Permission.ExperimentsWrite);
    const project = await projectFor(this.deps.db, actor, projectKey);
    // 404 for an unknown experiment, worded as every other; the version read is the one written at.
    const stored = await this.experiments.get(actor, projectKey, key);
    const row: BanditRow = { project_id: project.id, project_key: project.key, org_id: project.orgId, key, version: stored.version, definition: stored.definition, last_check: null };
    const parsed = storedExperimentSchema.safeParse(row.definition);
    if (!parsed.success) {
      throw new AppError(AppErrorCode.InvalidState, `experiment "${key}" is not a valid definition; fix it before updating its bandit`);
    }
    if (parsed.data.bandit === undefined) {
      throw new AppError(AppErrorCode.InvalidState, `experiment "${key}" has no bandit: add one (bandit: {}) to let the platform move its split towards the best variation`);
    }
    if (parsed.data.status !== 'running') {
      throw new AppError(AppErrorCode.InvalidState, `experiment "${key}" is ${parsed.data.status}; a bandit moves the split of a running experiment only`);
    }
    return this.checkRecorded(row, parsed.data, actor);
  }

  /** One check, recorded; never throws for the experiment's own failures (recorded as `failed` and logged). */
  private async checkRecorded(row: BanditRow, exp: Experiment, actor: Actor): Promise<BanditUpdate> {
    const metric = banditMetric(exp) ?? '';
    const previous = sharesByKey(exp);
    let update: BanditUpdate;
    let environment = '';
    try {
      environment = await resultsEnvironment(this.deps.db, row.project_id, row.key);
      update = await this.check(row, exp, actor, metric, environment);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.deps.logger.error('bandit check failed', { project: row.project_key, experiment: row.key, error: message });
      update = kept('failed', { metric, environment, previousShares: previous, chanceToBeBest: null, units: {} }, this.deps.now(), `the check failed: ${message}; the next is due after the update interval`);
    }
    try {
      // A move was recorded in its own transaction (see move).
      if (update.outcome !== 'moved') {
        await insertUpdate(this.deps.db, row.project_id, row.key, update);
      }
    } catch (error) {
      // The experiment deleted meanwhile (its rows go with it), or the database failing: logged, the run goes on.
      this.deps.logger.error('bandit check could not be recorded', { project: row.project_key, experiment: row.key, error: error instanceof Error ? error.message : String(error) });
    }
    if (update.outcome === 'moved') {
      this.deps.logger.info('bandit moved a split', { project: row.project_key, experiment: row.key, shares: update.shares });
    }
    return update;
  }

  private async check(row: BanditRow, exp: Experiment, actor: Actor, metric: string, environment: string): Promise<BanditUpdate> {
    const bandit = exp.bandit!;
    const now = this.deps.now();
    const variations = expandVariations(exp);
    const previousShares = sharesByKey(exp);
    const results = await computeResults(this.deps.db, { projectId: row.project_id, environment, experiment: row.key }, { phase: BANDIT_RESULTS_PHASE }, now, this.deps.logger, {
      series: false,
      countCapped: false,
    });
    const units = Object.fromEntries(variations.map((v) => [v.key, results.variations.find((r) => r.key === v.key)?.units ?? 0]));
    const base = { metric, environment, previousShares, units };
    const minUnits = this.options.minUnitsPerVariation ?? BANDIT_MIN_UNITS_PER_VARIATION;
    const short = variations.filter((v) => units[v.key]! < minUnits).map((v) => v.key);
    if (short.length > 0) {
      return kept('insufficient_units', { ...base, chanceToBeBest: null }, now, `fewer than ${String(minUnits)} units in ${short.map((k) => `"${k}"`).join(', ')} (${environment}): the split is kept until every variation has ${String(minUnits)}`);
    }
    if (results.srm.flagged) {
      // Units not split as the experiment says (lost exposures, a redirect that drops some): their
      // comparison, and so each chance to be best, cannot be trusted to move the split on.
      return kept('no_chance_to_be_best', { ...base, chanceToBeBest: null }, now, `a sample-ratio mismatch in ${environment} (p = ${results.srm.pValue.toPrecision(3)}): the units are not split as the experiment says, so the split is kept until that is fixed`);
    }
    const m = results.metrics.find((r) => r.key === metric);
    const keys = variations.map((v) => v.key);
    let chances: (number | null)[] = variations.map((v) => m?.variations.find((r) => r.variation === v.key)?.chanceToBeBest ?? null);
    let flat: string | undefined;
    if (m !== undefined && chances.some((p) => p === null || !Number.isFinite(p))) {
      if (m.type === 'conversion') {
        chances = smoothedChances(m, keys) ?? chances;
      } else {
        const arms = await this.stratifiedMoments(row, exp, metric, environment, keys);
        chances = arms === undefined ? chances : (pooledVarianceChances(arms, m.higherIsBetter) ?? chances);
        if (arms !== undefined && arms.every((a) => a.variance === 0 && a.mean === arms[0]!.mean)) {
          flat = `every unit of every variation has the same value (${String(arms[0]!.mean)}): nothing tells the variations apart yet`;
        }
      }
    }
    if (m === undefined || chances.some((p) => p === null || !Number.isFinite(p))) {
      const why =
        m === undefined
          ? `the results have no metric "${metric}" (archived or deleted?)`
          : (flat ?? m.error?.message ?? results.error?.message ?? 'a comparison without a posterior');
      return kept('no_chance_to_be_best', { ...base, chanceToBeBest: null }, now, `no chance to be best on "${metric}" (${environment}): ${why}; the split is kept`);
    }
    const chanceToBeBest = Object.fromEntries(variations.map((v, i) => [v.key, chances[i]!]));
    const weights = banditWeights(chances as number[], bandit.minShare);
    if (isStatsError(weights)) {
      return kept('failed', { ...base, chanceToBeBest }, now, `the shares could not be computed: ${weights.message}`);
    }
    const shares = Object.fromEntries(variations.map((v, i) => [v.key, weights[i]! / BANDIT_SHARE_UNITS]));
    const tolerance = this.options.tolerance ?? BANDIT_SHARE_TOLERANCE;
    if (variations.every((v) => Math.abs(shares[v.key]! - previousShares[v.key]!) < tolerance)) {
      return kept('no_change', { ...base, chanceToBeBest }, now, `the new shares are within ${String(tolerance)} of the current ones: the split is kept`);
    }
    if ((exp.splitHistory?.length ?? 0) >= MAX_SPLIT_HISTORY) {
      return kept('split_history_full', { ...base, chanceToBeBest }, now, `the split has moved ${String(MAX_SPLIT_HISTORY)} times already, the most one experiment records: stop it and create a new one to go on`);
    }
    // The stored definition as read, with the new weights (whole basis points adding up to 10,000, so
    // the ruleset's normalised shares are exactly these), written at the version read: a person's
    // edit since then is a conflict, never overwritten.
    const definition = row.definition as { variations: Record<string, unknown>[] };
    const next = { ...definition, variations: definition.variations.map((v, i) => ({ ...v, weight: weights[i]! })) };
    const moved = variations.map((v) => `${v.key} ${fmt(previousShares[v.key]!)} → ${fmt(shares[v.key]!)}`).join(', ');
    const update: BanditUpdate = { at: now.toISOString(), outcome: 'moved', reason: null, ...base, shares, chanceToBeBest, message: `moved the split on "${metric}" (${environment}): ${moved}` };
    try {
      await this.move(row, actor, next, update);
    } catch (error) {
      if (error instanceof AppError && error.code === AppErrorCode.Conflict) {
        return kept('conflict', { ...base, chanceToBeBest }, now, 'the experiment changed while the shares were computed (a concurrent edit): nothing was overwritten; the next run checks again');
      }
      throw error;
    }
    return update;
  }

  /**
   * Writes the new split and its `bandit_updates` row in one transaction (the experiment service's
   * update as one change of a ChangeBatch, as `POST …/apply` runs its changes), then publishes the
   * ruleset once it has committed. A move without its record would be due again at once (the cadence
   * counts from the last row) and could move again; a record without its move would claim a split
   * never served: either fails, both are rolled back, and the check is recorded as failed.
   */
  private async move(row: BanditRow, actor: Actor, next: unknown, update: BanditUpdate): Promise<void> {
    let publish: StagedRuleset[] = [];
    await this.deps.db.withTransaction(async (tx) => {
      // As every change of the project's definitions: one at a time (store/project-locks.ts).
      await lockProjectDefinitions(tx, row.project_id);
      const batch: ChangeBatch = { tx, staged: [], unstaged: new Set() };
      await this.experiments.update(actor, row.project_key, row.key, next, row.version, batch);
      await insertUpdate(tx, row.project_id, row.key, update);
      publish = await finishBatch(this.deps, batch);
    });
    await flushRulesets(this.deps, publish);
  }

  /**
   * Each variation's stratified mean and per-unit variance on the bandit metric (every split phase,
   * as the results the bandit reads, from the units' uncapped totals); undefined when no phase is usable.
   */
  private async stratifiedMoments(row: BanditRow, exp: Experiment, metricKey: string, environment: string, keys: readonly string[]): Promise<ArmMoments[] | undefined> {
    const found = await this.deps.db.query<{ definition: unknown }>('SELECT definition FROM metrics WHERE project_id = $1 AND key = $2', [row.project_id, metricKey]);
    const parsed = metricSchema.safeParse(found.rows[0]?.definition);
    if (!parsed.success) {
      return undefined;
    }
    const metric: Metric = parsed.data;
    const changes = (exp.splitHistory ?? []).map((h) => new Date(h.until));
    const rows = await queryPeriodStatistics(this.deps.db, { projectId: row.project_id, environment, experiment: row.key, metrics: [metricKey] }, changes);
    const arms = stratifiedArms(metric, rows, keys);
    if (arms === undefined) {
      return undefined;
    }
    const moments = arms.map((a) => (a.moments ?? ratioMoments(a.stats)));
    return moments.every((a) => a !== undefined) ? moments : undefined;
  }
}

/**
 * A ratio arm's mean (Σ numerator / Σ denominator) and the per-unit variance of its linearised
 * value (delta method: (s²_N − 2R·s_ND + R²·s²_D) / D̄²), so that its mean's variance is that / n.
 */
export function ratioMoments(stats: ArmStats): ArmMoments | undefined {
  if (!('numerator' in stats) || stats.n < 2) {
    return undefined;
  }
  const n = stats.n;
  const num = stats.numerator;
  const den = stats.denominator;
  const meanN = (num.shift ?? 0) + num.sum / n;
  const meanD = (den.shift ?? 0) + den.sum / n;
  const cov = (products: number, a: number, b: number): number => (products - (a * b) / n) / (n - 1);
  const varN = cov(num.sumSquares, num.sum, num.sum);
  const varD = cov(den.sumSquares, den.sum, den.sum);
  const covND = cov(stats.sumProducts, num.sum, den.sum);
  if (!(meanD !== 0) || ![meanN, meanD, varN, varD, covND].every(Number.isFinite)) {
    return undefined;
  }
  const ratio = meanN / meanD;
  const variance = (varN - 2 * ratio * covND + ratio * ratio * varD) / (meanD * meanD);
  // Rounding below a millionth of the terms is no spread (the stats engine's tolerance is finer; this one only decides the fallback).
  const scale = (Math.abs(varN) + Math.abs(ratio * ratio * varD)) / (meanD * meanD);
  return { n, mean: ratio, variance: variance > 1e-12 * scale ? variance : 0 };
}

/**
 * Each variation's chance to be best on a count, sum or ratio metric whose results give none
 * because a variation has no variance (a count metric on which no unit of an arm had an event, a
 * sum whose every unit is 0): its mean is then "known exactly", which no posterior allows, yet
 * "no event in n units" is what a bandit should act on. Such an arm takes the pooled variance of
 * the arms that have one, Σ(n_k − 1)·s²_k / Σ(n_k − 1): the arms measure one metric on units of one
 * population, so their spreads are alike (the assumption of the pooled t-test), and an arm whose few
 * units happened to be equal borrows the spread its units would likely show; for a count it
 * overstates the spread of an arm near 0 events, so the bandit moves gradually rather than at once.
 * The arms' means are then normal with variance s²/n, and the treatments' differences with the
 * control (correlated through it) give the chances, as the results' own. When no arm varies, the
 * arms with the best mean share the chance equally when the means differ (every unit of each
 * arm took one value, n ≥ 2 of them), and there is nothing to tell them apart when they are equal:
 * undefined (the split is kept), as for an arm of fewer than 2 units or a number that is not finite.
 */
export function pooledVarianceChances(arms: readonly ArmMoments[], higherIsBetter: boolean): number[] | undefined {
  if (arms.length === 0 || arms.some((a) => a.n < 2 || !Number.isFinite(a.mean) || !Number.isFinite(a.variance) || a.variance < 0)) {
    return undefined;
  }
  const varied = arms.filter((a) => a.variance > 0);
  if (varied.length === 0) {
    const best = arms.reduce((b, a) => (higherIsBetter ? Math.max(b, a.mean) : Math.min(b, a.mean)), higherIsBetter ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY);
    const winners = arms.filter((a) => a.mean === best).length;
    return winners === arms.length ? undefined : arms.map((a) => (a.mean === best ? 1 / winners : 0));
  }
  const pooled = varied.reduce((s, a) => s + (a.n - 1) * a.variance, 0) / varied.reduce((s, a) => s + (a.n - 1), 0);
  const spread = arms.map((a) => (a.variance > 0 ? a.variance : pooled) / a.n);
  const control = arms[0]!;
  const effects = arms.slice(1).map((t, i) => {
    const sd = Math.sqrt(spread[0]! + spread[i + 1]!);
    return { mean: t.mean - control.mean, sd, controlLoading: -Math.sqrt(spread[0]!) / sd };
  });
  const best = chanceToBeBest(effects, !higherIsBetter);
  return isStatsError(best) ? undefined : [...best];
}

const fmt = (share: number): string => `${(share * 100).toFixed(2)}%`;

/**
 * Each variation's chance to be best on a conversion metric whose results give none because a
 * variation converted no unit (or every unit): a variance of 0 has no posterior, yet "no conversion
 * in n units" is just what a bandit should act on. Each rate takes the posterior of a uniform prior,
 * Beta(1 + c, 1 + n − c) with c = the variation's (stratified) rate × its units, as a normal of mean
 * (c + 1)/(n + 2) and variance p̃(1 − p̃)/(n + 3); the treatments' differences with the control
 * (correlated through it) give the chances, as the results' own. Undefined for another kind of
 * metric, or a variation without a rate.
 */
export function smoothedChances(
  m: { readonly type: string; readonly higherIsBetter: boolean; readonly variations: readonly { readonly variation: string; readonly units: number; readonly mean: number | null }[] },
  keys: readonly string[],
): number[] | undefined {
  if (m.type !== 'conversion') {
    return undefined;
  }
  const arms = keys.map((key) => m.variations.find((v) => v.variation === key));
  if (arms.some((a) => a === undefined || a.mean === null || !Number.isFinite(a.mean) || a.units < 1)) {
    return undefined;
  }
  const posteriors = arms.map((a) => {
    const n = a!.units;
    const rate = (Math.min(1, Math.max(0, a!.mean!)) * n + 1) / (n + 2);
    return { rate, variance: (rate * (1 - rate)) / (n + 3) };
  });
  const control = posteriors[0]!;
  const effects = posteriors.slice(1).map((t) => {
    const sd = Math.sqrt(control.variance + t.variance);
    return { mean: t.rate - control.rate, sd, controlLoading: -Math.sqrt(control.variance) / sd };
  });
  const best = chanceToBeBest(effects, !m.higherIsBetter);
  return isStatsError(best) ? undefined : [...best];
}

function sharesByKey(exp: Experiment): Record<string, number> {
  const shares = variationShares(exp);
  return Object.fromEntries(expandVariations(exp).map((v, i) => [v.key, shares[i]!]));
}

function kept(
  reason: BanditKeepReason,
  fields: Pick<BanditUpdate, 'metric' | 'environment' | 'previousShares' | 'chanceToBeBest' | 'units'>,
  now: Date,
  message: string,
): BanditUpdate {
  return { at: now.toISOString(), outcome: 'kept', reason, ...fields, shares: fields.previousShares, message };
}

async function insertUpdate(db: Queryable, projectId: string, experiment: string, u: BanditUpdate): Promise<void> {
  await db.query(
    `INSERT INTO bandit_updates (project_id, experiment, at, outcome, reason, metric, environment, shares_before, shares_after, chance_to_be_best, units, message)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      projectId,
      experiment,
      new Date(u.at),
      u.outcome,
      u.reason,
      u.metric,
      u.environment,
      JSON.stringify(u.previousShares),
      JSON.stringify(u.shares),
      u.chanceToBeBest === null ? null : JSON.stringify(u.chanceToBeBest),
      JSON.stringify(u.units),
      u.message,
    ],
  );
}

interface UpdateRow {
  at: Date;
  outcome: 'moved' | 'kept';
  reason: BanditKeepReason | null;
  metric: string;
  environment: string;
  shares_before: Record<string, number>;
  shares_after: Record<string, number>;
  chance_to_be_best: Record<string, number> | null;
  units: Record<string, number>;
  message: string;
}

/** What GET …/experiments/{key}/bandit answers. */
export interface BanditView {
  readonly experiment: string;
  /** The experiment's bandit with its defaults; null when it has none. */
  readonly bandit: Bandit | null;
  /** The bandit metric (bandit.metric, else the first primary metric); null without a bandit. */
  readonly metric: string | null;
  /** The environment whose results the bandit reads; null without a bandit. */
  readonly environment: string | null;
  /** When the next check is due (a past instant: at the next run, within a minute); null when not running or not a bandit. */
  readonly nextUpdateAt: string | null;
  /** The latest checks, newest first (at most MAX_BANDIT_UPDATES_LISTED). */
  readonly updates: BanditUpdate[];
}

/** GET …/experiments/{key}/bandit: any role that reads the project; an experiment without a bandit is 200 with bandit null. */
export async function banditFor(deps: Pick<Deps, 'db'>, actor: Actor, projectKey: string, key: string): Promise<BanditView> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  const found = await deps.db.query<{ definition: unknown; last_check: Date | null }>(`SELECT e.definition, ${LAST_CHECK} AS last_check FROM experiments e WHERE e.project_id = $1 AND e.key = $2`, [
    project.id,
    key,
  ]);
  const row = found.rows[0];
  if (row === undefined) {
    throw notFound(`experiment "${key}"`);
  }
  const parsed = storedExperimentSchema.safeParse(row.definition);
  const exp = parsed.success ? parsed.data : undefined;
  const updates = await deps.db.query<UpdateRow>(
    `SELECT at, outcome, reason, metric, environment, shares_before, shares_after, chance_to_be_best, units, message
     FROM bandit_updates WHERE project_id = $1 AND experiment = $2 ORDER BY at DESC, id DESC LIMIT ${String(MAX_BANDIT_UPDATES_LISTED)}`,
    [project.id, key],
  );
  const bandit = exp?.bandit ?? null;
  const next = exp === undefined ? undefined : nextBanditCheck(exp, row.last_check === null ? null : new Date(row.last_check));
  return {
    experiment: key,
    bandit,
    metric: exp === undefined ? null : (banditMetric(exp) ?? null),
    environment: bandit === null ? null : await resultsEnvironment(deps.db, project.id, key),
    nextUpdateAt: next === undefined ? null : next.toISOString(),
    updates: updates.rows.map((r) => ({
      at: iso(r.at),
      outcome: r.outcome,
      reason: r.reason,
      metric: r.metric,
      environment: r.environment,
      shares: r.shares_after,
      previousShares: r.shares_before,
      chanceToBeBest: r.chance_to_be_best,
      units: r.units,
      message: r.message,
    })),
  };
}

/** A running periodic update. */
export type BanditSchedule = Schedule<BanditReport>;

export const DEFAULT_BANDIT_INTERVAL_MS = 60_000;

/** Runs `updater.update()` every `intervalMs` (never two at once), as startGuardrailSchedule runs the guardrail check. */
export function startBanditSchedule(updater: Pick<BanditUpdater, 'update'>, options: { readonly intervalMs?: number; readonly logger: Deps['logger'] }): BanditSchedule {
  return startSchedule(() => updater.update(), { intervalMs: options.intervalMs ?? DEFAULT_BANDIT_INTERVAL_MS, logger: options.logger, failure: 'bandit update failed' });
}

import type { z } from 'zod';
import type { Experiment, Flag, FlagEnvironment, Holdout, Metric, Rule, Segment } from '@xp/shared';
import { rampPosition, unconfiguredOffVariation, EXPERIMENT_DECISION_FIELDS, EXPERIMENT_LIFECYCLE_FIELDS, HOLDOUT_HASHING_FIELDS, MAX_PAUSES, MAX_SPLIT_HISTORY, decisionIssues, expandVariations, experimentRuleMapping, experimentSchema, reassigningChanges, reassignmentMessage, runsIn, sameSplit, splitShares, stoppedRedirectUrl, flagEnvironmentSchema, flagSchema, holdoutSchema, metricSchema, segmentSchema } from '@xp/shared';
import { AppError, AppErrorCode, invalid, notFound, versionConflict } from '../errors.js';
import { Permission, assertCan, can, inScope, needsApproval } from '../auth/permissions.js';
import type { Queryable } from '../store/db.js';
import type { DefinitionRepository, ListOptions, StoredDefinition } from '../store/definitions.js';
import { DefinitionKind, DefinitionRepository as Repo } from '../store/definitions.js';
import type { Page } from '../store/pagination.js';
import { changeRequests } from '../store/change-requests.js';
import { refuseIfOpenRequestsName } from './change-requests.js';
import { purgeExperimentData } from '../store/experiment-data.js';
import { experimentArms } from '../store/experiment-arms.js';
import type { ArmMapping } from '../store/experiment-arms.js';
import { environments, projects } from '../store/projects.js';
import type { Project } from '../store/projects.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { recountEventsSince } from '../pipeline/aggregate.js';
import { experimentsRepo, flagsRepo, flushRulesets, holdoutsRepo, segmentsRepo, stageRulesets } from './publisher.js';
import type { StagedRuleset } from './publisher.js';
import { jsonDiff, unescapeSegment } from './json-diff.js';
import { refuseBrokenSegmentReferences, refuseIfSegmentInUse } from './segment-references.js';
import { refuseUnsafeFlagDeletion } from './flag-deletion.js';
import type { FlagCodeRefs } from '../store/code-refs.js';
import { refuseStartOnlyThroughArchivedFlags, refuseUnsafeFlagArchiving } from './flag-archiving.js';
import { parseOrThrow } from './validation.js';
import { lockProjectDefinitions } from '../store/project-locks.js';

/** The project named in a path, if it belongs to the caller's organisation (otherwise 404). */
export async function projectFor(db: Queryable, actor: Actor, projectKey: string): Promise<Project> {
  const project = await projects.getByKey(db, actor.orgId, projectKey);
  // A token limited to other projects does not see this one: answered as if it did not exist.
  if (!inScope(actor, project.id)) {
    throw notFound(`project "${projectKey}"`);
  }
  return project;
}

interface KindConfig<T> {
  readonly kind: DefinitionKind;
  readonly repo: DefinitionRepository<T & { key: string; name: string }>;
  readonly schema: z.ZodType<T>;
  readonly write: Permission;
  /** Whether the kind appears in rulesets (metrics do not). */
  readonly publishes: boolean;
}

export interface DefinitionTypes {
  flag: Flag;
  segment: Segment;
  experiment: Experiment;
  metric: Metric;
  holdout: Holdout;
}

const metricsRepo = new Repo<Metric>(DefinitionKind.Metric);

const CONFIG: { readonly [K in DefinitionKind]: KindConfig<DefinitionTypes[K]> } = {
  flag: { kind: DefinitionKind.Flag, repo: flagsRepo, schema: flagSchema, write: Permission.FlagsWrite, publishes: true },
  segment: { kind: DefinitionKind.Segment, repo: segmentsRepo, schema: segmentSchema, write: Permission.SegmentsWrite, publishes: true },
  experiment: { kind: DefinitionKind.Experiment, repo: experimentsRepo, schema: experimentSchema, write: Permission.ExperimentsWrite, publishes: true },
  metric: { kind: DefinitionKind.Metric, repo: metricsRepo, schema: metricSchema, write: Permission.MetricsWrite, publishes: false },
  holdout: { kind: DefinitionKind.Holdout, repo: holdoutsRepo, schema: holdoutSchema, write: Permission.HoldoutsWrite, publishes: true },
};


/**
 * Runs a change in one transaction — write, audit, recompile affected rulesets — then publishes
 * the rulesets once the transaction has committed.
 *
 * `guard` names the kind when the change must not alter a protected environment's ruleset (what its
 * SDKs download) unless the role may change it directly. Flags have their own finer rules (change
 * requests carry a flag's state); a segment, an experiment or a holdout has no change request, so an
 * editor's change that would reach a protected environment — a segment a flag there uses, an
 * experiment started there — is refused, naming the environments, and nothing is written.
 */
async function change<R>(
  deps: Deps,
  publishes: boolean,
  projectId: string,
  fn: (tx: Queryable) => Promise<R>,
  guard?: { actor: Actor; kind: DefinitionKind },
  batch?: ChangeBatch,
): Promise<R> {
  const run = async (tx: Queryable, staged: StagedRuleset[]): Promise<R> => {
    const r = await fn(tx);
    if (publishes) {
      const now = await stageRulesets(tx, projectId, deps.now());
      if (guard !== undefined && guard.kind !== DefinitionKind.Flag && now.length > 0) {
        const envs = await environments.list(tx, projectId);
        const reached = now.map((st) => st.ruleset.environment).filter((key) => envs.some((e) => e.key === key && needsApproval(guard.actor.role, e)));
        if (reached.length > 0) {
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `this ${guard.kind} change alters the ruleset of ${reached.map((e) => `"${e}"`).join(', ')}, which needs approval; ask an owner or admin to make it`,
            { environments: reached },
          );
        }
      }
      staged.push(...now);
    }
    return r;
  };
  if (batch !== undefined) {
    const guarded = publishes && guard !== undefined && guard.kind !== DefinitionKind.Flag && (await environments.list(batch.tx, projectId)).some((e) => needsApproval(guard.actor.role, e));
    if (!guarded) {
      // Compiled once, after the batch's last change (finishBatch): staging after every change
      // would compile the whole project once per change.
      const r = await fn(batch.tx);
      if (publishes) {
        batch.unstaged.add(projectId);
      }
      return r;
    }
    // The guard judges this change alone: what the changes before it did is staged first.
    batch.staged.push(...(await stageRulesets(batch.tx, projectId, deps.now())));
    batch.unstaged.delete(projectId);
    return run(batch.tx, batch.staged);
  }
  const staged: StagedRuleset[] = [];
  const result = await deps.db.withTransaction(async (tx) => {
    await lockProjectDefinitions(tx, projectId);
    return run(tx, staged);
  });
  await flushRulesets(deps, staged);
  return result;
}

/**
 * Several changes in one transaction (flags as code: `POST …/apply`): each service call given the
 * batch runs inside `tx` with every check it makes alone; the caller ends it with `finishBatch` and
 * publishes what that returns after committing.
 */
export interface ChangeBatch {
  readonly tx: Queryable;
  readonly staged: StagedRuleset[];
  /** Projects with changes not staged yet. */
  readonly unstaged: Set<string>;
  /**
   * What the batch's deletes removed, by `batchKey(kind, key)`: a create of a key deleted earlier in
   * the batch is checked as an update of the deleted definition (see DefinitionService.create).
   */
  readonly deleted?: Map<string, unknown>;
}

/** A definition's key in `ChangeBatch.deleted`. */
function batchKey(kind: DefinitionKind, key: string): string {
  return `${kind}\u0000${key}`;
}

/**
 * Stages what the batch's last changes left unstaged (in its transaction: a ruleset the changes
 * leave broken refuses the batch) and returns the rulesets to publish once it commits: the last
 * staged version of each environment (the versions before it were never published).
 */
export async function finishBatch(deps: Deps, batch: ChangeBatch): Promise<StagedRuleset[]> {
  for (const projectId of batch.unstaged) {
    batch.staged.push(...(await stageRulesets(batch.tx, projectId, deps.now())));
  }
  batch.unstaged.clear();
  const last = new Map<string, StagedRuleset>();
  for (const s of batch.staged) {
    const key = `${s.projectId}\u0000${s.ruleset.environment}`;
    last.delete(key);
    last.set(key, s);
  }
  return [...last.values()];
}

/** Whether an existing variation's value changed or the variation was removed (adding one changes nothing served). */
function variationValuesChanged(before: Flag, after: Flag): boolean {
  return before.variations.some((v) => {
    const next = after.variations.find((w) => w.key === v.key);
    return next === undefined || jsonDiff(v.value, next.value).length > 0;
  });
}

/** The environment whose state holds every difference between two flag definitions, if there is one. */
function soleEnvironment(before: unknown, after: unknown): string | undefined {
  const envs = new Set(jsonDiff(before, after).map((d) => (d.path.startsWith('/environments/') ? d.path.split('/')[2] : undefined)));
  const [only] = envs;
  return envs.size === 1 && only !== undefined ? unescapeSegment(only) : undefined;
}

/**
 * Split rules whose units a new order of the flag's variations would move: a split's buckets follow
 * the order of `variations` (the compiled weights are indexed by variation), so reordering two
 * variations a split serves gives every unit a new range. Only enabled rules of enabled states count.
 */
function reshuffledSplits(before: Flag, after: Flag): string[] {
  const order = (flag: Flag, keys: readonly string[]): string[] => [...keys].sort((a, b) => flag.variations.findIndex((v) => v.key === a) - flag.variations.findIndex((v) => v.key === b));
  const moved: string[] = [];
  for (const [env, state] of Object.entries(after.environments)) {
    if (!state.enabled || before.environments[env]?.enabled !== true) {
      continue;
    }
    for (const rule of state.rules) {
      if (rule.type !== 'split' || rule.enabled === false) {
        continue;
      }
      const served = rule.distribution.filter((d) => d.weight > 0).map((d) => d.variation);
      if (served.length > 1 && order(before, served).join('\0') !== order(after, served).join('\0')) {
        moved.push(`split rule "${rule.id}" in "${env}"`);
      }
    }
  }
  return moved;
}

type ExperimentRule = Extract<Rule, { type: 'experiment' }>;

/** The flag variation (by key) an experiment rule serves each arm: arm key → variation key; an arm with none is left out. */
function armMapping(flag: Flag, rule: ExperimentRule, exp: Experiment): Record<string, string> {
  const { targets } = experimentRuleMapping(flag, rule, exp);
  return Object.fromEntries(
    expandVariations(exp).flatMap((v, a) => {
      const key = flag.variations[targets[a] ?? -1]?.key;
      return key === undefined ? [] : [[v.key, key] as const];
    }),
  );
}

/** The arms `now` serves another variation than `held` (arms either leaves out are not compared). */
function movedArms(held: ArmMapping, now: ArmMapping): string[] {
  return Object.keys(now).filter((arm) => held[arm] !== undefined && held[arm] !== now[arm]);
}

/** Experiments by key, read once per check. */
function experimentLookup(db: Queryable, projectId: string): (key: string) => Promise<Experiment | undefined> {
  const found = new Map<string, Experiment | undefined>();
  return async (key) => {
    if (!found.has(key)) {
      found.set(key, (await experimentsRepo.find(db, projectId, key))?.definition);
    }
    return found.get(key);
  };
}

/**
 * Records the flag variation each arm of a running experiment is served by `flag`'s experiment rules
 * in the environments it runs in, where none is recorded yet for (experiment, environment, flag): the
 * first rule for it in a state counts, enabled or not, on or off (as refuseMovedExperimentArms
 * compares them). `only` limits it to one experiment, given as it is after the change.
 */
async function recordServedArms(db: Queryable, projectId: string, flag: Flag, find: (key: string) => Promise<Experiment | undefined>, only?: Experiment): Promise<void> {
  const done = new Set<string>();
  for (const [env, state] of Object.entries(flag.environments)) {
    for (const rule of state.rules) {
      if (rule.type !== 'experiment' || (only !== undefined && rule.experiment !== only.key) || done.has(`${rule.experiment}\u0000${env}`)) {
        continue;
      }
      const exp = only ?? (await find(rule.experiment));
      if (exp?.status !== 'running' || !runsIn(exp, env)) {
        continue;
      }
      done.add(`${rule.experiment}\u0000${env}`);
      await experimentArms.recordIfAbsent(db, projectId, exp.key, env, flag.key, armMapping(flag, rule, exp));
    }
  }
}

/**
 * Once an experiment runs (started, created running, resumed, stopped, or changed while it runs, in
 * the transaction of that change), records what every flag's rules for it serve its arms where
 * nothing is recorded yet. `versions`: the experiment before and after the change; those running count
 * (before a stop, after the others), in order, over one read of the flags.
 */
async function recordArmsOfExperiment(db: Queryable, projectId: string, ...versions: Experiment[]): Promise<void> {
  const running = versions.filter((exp) => exp.status === 'running');
  if (running.length === 0) {
    return;
  }
  // The project's flags read once for every version given (before and after a change).
  const flags = await flagsRepo.all(db, projectId);
  for (const exp of running) {
    for (const stored of flags) {
      await recordServedArms(db, projectId, stored.definition, () => Promise.resolve(exp), exp);
    }
  }
}

/**
 * Refuses an experiment that would run (resume, or a change of a running one's environments) while a
 * flag's rule for it serves an arm another variation than the one recorded for that flag and
 * environment: the units the arm exposed there would see another experience under the same arm. A
 * flag may change while the experiment is stopped (or does not run in an environment); it is then
 * held to the record when the experiment would run there again.
 */
/**
 * Refuses starting an experiment while one flag's experiment rules for it in one environment (enabled
 * or not, states on or off) would serve its arms different variations: what is recorded at the start
 * is the first rule's mapping, and every rule is held to it afterwards, so such a flag could not be
 * changed at all once it runs; and a flag that switched between them would swap the arms.
 */
async function refuseDisagreeingArmRules(db: Queryable, projectId: string, exp: Experiment): Promise<void> {
  const issues: { path: string; message: string }[] = [];
  for (const stored of await flagsRepo.all(db, projectId)) {
    const flag = stored.definition;
    for (const [env, state] of Object.entries(flag.environments)) {
      if (!runsIn(exp, env)) {
        continue;
      }
      const rules = state.rules.flatMap((rule, i) => (rule.type === 'experiment' && rule.experiment === exp.key ? [{ rule, i, map: armMapping(flag, rule, exp) }] : []));
      const first = rules[0];
      for (const other of rules.slice(1)) {
        const arms = movedArms(first!.map, other.map);
        if (arms.length > 0) {
          issues.push({
            path: `flags.${flag.key}.environments.${env}.rules.${other.i}.variations`,
            message: `flag "${flag.key}" in "${env}": rule "${other.rule.id}" serves ${arms.map((arm) => `arm "${arm}" "${other.map[arm]}"`).join(', ')} where rule "${first!.rule.id}" serves ${arms.map((arm) => `"${first!.map[arm]}"`).join(', ')}`,
          });
        }
      }
    }
  }
  if (issues.length > 0) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `experiment "${exp.key}" cannot start: rules for it would serve its arms different variations: ${issues.map((x) => x.message).join('; ')}; give the rules the same variations map (or remove the extra rule) first`,
      { issues },
    );
  }
}

async function refuseRemappedArmsOnRun(db: Queryable, projectId: string, exp: Experiment, action: string): Promise<void> {
  if (exp.status !== 'running') {
    return;
  }
  const recorded = await experimentArms.forExperiment(db, projectId, exp.key);
  if (recorded.size === 0) {
    return;
  }
  const issues: { path: string; message: string }[] = [];
  for (const stored of await flagsRepo.all(db, projectId)) {
    const flag = stored.definition;
    for (const [env, state] of Object.entries(flag.environments)) {
      const held = recorded.get(flag.key)?.get(env);
      if (held === undefined || !runsIn(exp, env)) {
        continue;
      }
      state.rules.forEach((rule, i) => {
        if (rule.type !== 'experiment' || rule.experiment !== exp.key) {
          return;
        }
        const now = armMapping(flag, rule, exp);
        const arms = movedArms(held, now);
        if (arms.length > 0) {
          issues.push({
            path: `flags.${flag.key}.environments.${env}.rules.${i}.variations`,
            message: `flag "${flag.key}", experiment rule "${rule.id}" in "${env}": ${arms.map((arm) => `arm "${arm}" would get "${now[arm]}" instead of "${held[arm]}"`).join(', ')}`,
          });
        }
      });
    }
  }
  if (issues.length > 0) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `experiment "${exp.key}" cannot ${action}: flags would serve its arms other variations than they served its units until now, so units already exposed would see another experience under the same arm: ${issues.map((x) => x.message).join('; ')}; restore the flag's variations (their order) and the rule's variations map, or create a new experiment for the new mapping`,
      { issues },
    );
  }
}

/**
 * Refuses a flag change that would serve an arm of a running experiment another flag variation (by
 * key) than the one recorded when its arms were first served there (experiment_arm_mappings): an
 * experiment rule serves each arm the variation its `variations` map names, else the one with the
 * same key, else the one at the same position, so a new order of the flag's variations, one inserted
 * before others or a changed map gives the units an arm has exposed another experience under the
 * same arm. Every experiment rule of the new flag whose experiment runs in its environment counts,
 * enabled or not, in states on or off (unlike splits in `reshuffledSplits`, whose units are not
 * kept), whatever its id, also when it was removed and added back in another write, and for a flag
 * created again with a deleted one's key (`current` undefined). Values may change (what a variation
 * serves, not which one). Where nothing is recorded yet (a database from before the record, or a rule
 * added since), the stored flag's rules are recorded first: what they serve is what was served.
 * Every rule for the experiment there is held to the record, also one that served otherwise before
 * (a second rule with another map, disabled): switching between such rules would swap the arms. A
 * start is refused while rules for it disagree (refuseDisagreeingArmRules).
 */
export async function refuseMovedExperimentArms(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Flag) {
    return;
  }
  const before = current as Flag | undefined;
  const after = definition as Flag;
  const find = experimentLookup(db, projectId);
  if (before !== undefined) {
    await recordServedArms(db, projectId, before, find);
  }
  const recorded = await experimentArms.forFlag(db, projectId, after.key);
  const issues: { path: string; message: string }[] = [];
  for (const [env, state] of Object.entries(after.environments)) {
    // Disabled rules and states off count too: turned off, changed and turned on again in three
    // accepted writes, they would serve the arms other variations while the experiment runs on.
    for (const [i, rule] of state.rules.entries()) {
      if (rule.type !== 'experiment') {
        continue;
      }
      const exp = await find(rule.experiment);
      const held = recorded.get(rule.experiment)?.get(env);
      if (exp?.status !== 'running' || !runsIn(exp, env) || held === undefined) {
        continue;
      }
      const now = armMapping(after, rule, exp);
      // An arm left with nothing to serve is refuseUnservableExperimentRules' to name.
      const arms = movedArms(held, now);
      // Every rule for it is held to the record, also one that served otherwise before (a second,
      // disabled rule with the opposite map, written while it was a draft): enabling it would swap the arms.
      if (arms.length === 0) {
        continue;
      }
      const message = `experiment rule "${rule.id}" in "${env}" (running experiment "${exp.key}"): ${arms.map((arm) => `arm "${arm}" would get "${now[arm]}" instead of "${held[arm]}"`).join(', ')}`;
      // The map's doing where it names a moved arm; else the flag's variations'.
      issues.push({ path: arms.some((arm) => rule.variations?.[arm] !== undefined) ? `environments.${env}.rules.${i}.variations` : 'variations', message });
    }
  }
  if (issues.length > 0) {
    throw invalid(
      `the change would serve running experiments' arms other flag variations, so units already exposed would see another experience under the same arm: ${issues.map((x) => x.message).join('; ')}; an arm serves the variation the rule's variations map names, else the one with its key, else the one at its position: keep the order (add new variations at the end) and the map, or stop the experiment first (it cannot resume with another mapping: create a new experiment for it)`,
      { issues },
    );
  }
}

/**
 * Records what a flag's rules serve running experiments' arms where nothing is recorded yet: after a
 * write (a rule added while the experiment runs), and before a delete (a database from before the
 * record). Later writes, a flag created again with its key, and resumes are held to it.
 */
async function recordFlagArms(db: Queryable, projectId: string, kind: DefinitionKind, written: unknown): Promise<void> {
  if (kind === DefinitionKind.Flag) {
    await recordServedArms(db, projectId, written as Flag, experimentLookup(db, projectId));
  }
}

/**
 * Refuses a change of a rollout's `coverage` that would serve nothing differently: once a step of its
 * schedule has started, the latest started step's coverage is served instead of the rule's, so a
 * rollback that lowers `coverage` and keeps the schedule would look done while everyone stays exposed.
 * Rules are matched by id; a changed schedule is the caller's own ramp decision and passes.
 */
export function refuseIneffectiveCoverage(kind: DefinitionKind, definition: unknown, current: unknown, now: Date): void {
  if (kind !== DefinitionKind.Flag || current === undefined) {
    return;
  }
  const before = current as Flag;
  const issues: { path: string; message: string }[] = [];
  for (const [env, state] of Object.entries((definition as Flag).environments)) {
    const was = Object.hasOwn(before.environments, env) ? before.environments[env] : undefined;
    state.rules.forEach((rule, i) => {
      const old = was?.rules.find((r) => r.id === rule.id);
      if (rule.type !== 'rollout' || old?.type !== 'rollout' || old.coverage === rule.coverage || jsonDiff(old.schedule ?? [], rule.schedule ?? []).length > 0) {
        return;
      }
      const { current: step } = rampPosition(rule.schedule ?? [], now.getTime());
      if (step !== undefined) {
        issues.push({
          path: `environments.${env}.rules.${i}.coverage`,
          message: `rule "${rule.id}" in "${env}": coverage ${rule.coverage} would not be served: its schedule step at ${step.at} has started, so that step's coverage (${step.coverage}) is served, not the rule's`,
        });
      }
    });
  }
  if (issues.length > 0) {
    throw invalid(
      `the change to a rollout's coverage would change nothing: ${issues.map((x) => x.message).join('; ')}; to change what is served (to roll back), remove or change the schedule's started steps: send the rule without "schedule" (its coverage is then served), or set the started step's coverage`,
      { issues },
    );
  }
}

/**
 * The checks of a flag change that compare its rules with the stored ones, for every path that writes
 * a flag (its PUT, a state PUT or toggle, `apply`, a change request proposed or applied).
 */
export async function refuseFlagRuleChanges(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown, now: Date): Promise<void> {
  refuseIneffectiveCoverage(kind, definition, current, now);
  await refuseDroppedExperimentRules(db, projectId, kind, definition, current);
  await refuseMovedExperimentArms(db, projectId, kind, definition, current);
}

/** Whether a rule condition matches every unit: none, or an empty one (`{}` is true). */
function unconditional(rule: Rule): boolean {
  return (
    (rule.condition === undefined || Object.keys(rule.condition).length === 0) &&
    (rule.segments ?? []).length === 0 &&
    (rule.excludeSegments ?? []).length === 0 &&
    rule.activeFrom === undefined &&
    rule.activeUntil === undefined
  );
}

/**
 * Whether an enabled rule certainly serves every unit `exp` could assign through a later rule of
 * the same state in `env`, so that rule gets none. Conservative: only a force rule, a rollout at full
 * coverage without a schedule that hashes by the experiment's attributes (a unit without them falls
 * through, but the experiment could not assign it either), and an experiment rule whose experiment
 * is stopped with its winner released (served to everyone before any hashing), each with no
 * condition, segment or time window. A split, or anything conditional, may leave units through.
 */
async function servesEveryUnitOf(rule: Rule, exp: Experiment, env: string, find: (key: string) => Promise<Experiment | undefined>): Promise<boolean> {
  if (rule.enabled === false || !unconditional(rule)) {
    return false;
  }
  switch (rule.type) {
    case 'force':
      return true;
    case 'rollout':
      return (
        rule.coverage >= 1 &&
        (rule.schedule ?? []).length === 0 &&
        rule.hashAttribute === exp.hashAttribute &&
        (exp.fallbackAttribute === undefined || exp.fallbackAttribute === rule.fallbackAttribute)
      );
    case 'split':
      return false;
    case 'experiment': {
      const other = rule.experiment === exp.key ? undefined : await find(rule.experiment);
      return other !== undefined && releasesWinner(other) && runsIn(other, env);
    }
  }
}

/** Whether a stopped experiment's winner is released: every rule for it serves the winner to everyone. */
function releasesWinner(exp: Experiment | undefined): boolean {
  return exp?.status === 'stopped' && exp.releaseWinner && exp.winner !== undefined && expandVariations(exp).some((v) => v.key === exp.winner);
}

/**
 * The experiments an environment's state of `flag` delivers traffic to: those with an enabled
 * experiment rule there that no earlier rule takes every unit from (servesEveryUnitOf). `shadowed`
 * gets, for an experiment whose enabled rules are all behind such a rule, the first of them and the
 * rule in front of it.
 */
async function deliveredExperiments(
  flag: Flag,
  env: string,
  find: (key: string) => Promise<Experiment | undefined>,
  shadowed?: Map<string, { rule: string; by: string; at: number }>,
): Promise<Set<string>> {
  const rules = Object.hasOwn(flag.environments, env) ? flag.environments[env]!.rules : [];
  const delivered = new Set<string>();
  for (const [i, rule] of rules.entries()) {
    if (rule.type !== 'experiment' || rule.enabled === false || delivered.has(rule.experiment)) {
      continue;
    }
    const exp = await find(rule.experiment);
    let by: number | undefined;
    if (exp !== undefined) {
      for (const [j, earlier] of rules.slice(0, i).entries()) {
        if (await servesEveryUnitOf(earlier, exp, env, find)) {
          by = j;
          break;
        }
      }
    }
    if (by === undefined) {
      delivered.add(rule.experiment);
      shadowed?.delete(rule.experiment);
    } else if (shadowed !== undefined && !shadowed.has(rule.experiment)) {
      shadowed.set(rule.experiment, { rule: rule.id, by: rules[by]!.id, at: by });
    }
  }
  return delivered;
}

/**
 * Refuses taking a running experiment's traffic from a flag where it runs: its enabled rule there
 * removed, disabled or pointed at another experiment (or the flag's state there removed), or put
 * behind an enabled rule that serves every unit first (a force rule with no condition, say: see
 * servesEveryUnitOf), would leave it running with no traffic from the flag, and would open the way
 * around the delete and archive guards (remove the rule, then delete). Only what the change brings:
 * an experiment the stored flag did not deliver to is not judged. Turning the flag's state off stays
 * allowed: the kill switch.
 */
async function refuseDroppedExperimentRules(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Flag || current === undefined || (current as Flag).archived) {
    return;
  }
  const find = experimentLookup(db, projectId);
  const issues: { path: string; message: string }[] = [];
  const experiments = new Set<string>();
  let behind = false;
  for (const env of Object.keys((current as Flag).environments).sort()) {
    const shadowed = new Map<string, { rule: string; by: string; at: number }>();
    const kept = await deliveredExperiments(definition as Flag, env, find, shadowed);
    for (const key of await deliveredExperiments(current as Flag, env, find)) {
      const exp = await find(key);
      if (kept.has(key) || exp?.status !== 'running' || !runsIn(exp, env)) {
        continue;
      }
      experiments.add(key);
      const shadow = shadowed.get(key);
      if (shadow === undefined) {
        issues.push({ path: `environments.${env}.rules`, message: `in "${env}" no enabled rule delivers the running experiment "${key}" any more` });
      } else {
        behind = true;
        issues.push({
          path: `environments.${env}.rules.${shadow.at}`,
          message: `in "${env}" rule "${shadow.by}" serves every unit before rule "${shadow.rule}" of the running experiment "${key}" can`,
        });
      }
    }
  }
  if (experiments.size > 0) {
    const named = [...experiments].map((e) => `"${e}"`).join(', ');
    const howTo = behind ? ': stop the experiment first, or put the rule that serves every unit after its rule (or give that rule a condition)' : ': stop the experiment first';
    throw new AppError(
      AppErrorCode.InvalidState,
      `the change takes the traffic of the running ${experiments.size === 1 ? 'experiment' : 'experiments'} ${named} away from flag "${(current as Flag).key}" (${issues.map((i) => i.message).join('; ')}), so it would keep running with no traffic from it${howTo}`,
      { experiments: [...experiments], issues },
    );
  }
}

/**
 * Refuses starting or resuming an experiment that flag rules name but none would deliver: each enabled
 * experiment rule for it, in every non-archived flag and environment it runs in, sits behind an enabled
 * rule that serves every unit first (servesEveryUnitOf), so it would run with no traffic. As for
 * refuseStartOnlyThroughArchivedFlags, an experiment with no enabled rule for it where it runs (a
 * standalone one read with getExperiment, or rules still disabled) starts, and one rule that delivers,
 * in any flag or environment, is enough. Also judged: a create of a running experiment (an import, or
 * a delete and create in one `POST …/apply`), and a replace of a running one that changes what decides
 * its delivery (its environments or hash attributes), there only when the change brings it.
 */
async function refuseShadowedOnlyDelivery(db: Queryable, projectId: string, exp: Experiment, action: DeliveryAction): Promise<void> {
  const refusal = await shadowedOnlyDelivery(db, projectId, exp, action);
  if (refusal !== undefined) {
    throw refusal;
  }
}

/** What the experiment is refused, in refuseShadowedOnlyDelivery's message: `cannot ${action}`. */
type DeliveryAction = 'start' | 'resume' | 'be created running' | 'run in these environments';

/** The refusal refuseShadowedOnlyDelivery throws, if any. */
async function shadowedOnlyDelivery(db: Queryable, projectId: string, exp: Experiment, action: DeliveryAction): Promise<AppError | undefined> {
  const lookup = experimentLookup(db, projectId);
  // The experiment as it will run; others as stored.
  const find = (key: string): Promise<Experiment | undefined> => (key === exp.key ? Promise.resolve(exp) : lookup(key));
  const issues: { path: string; message: string }[] = [];
  const flags = new Set<string>();
  for (const { definition: flag } of await flagsRepo.all(db, projectId)) {
    for (const env of Object.keys(flag.environments).sort()) {
      if (!runsIn(exp, env) || !flag.environments[env]!.rules.some((r) => r.type === 'experiment' && r.experiment === exp.key && r.enabled !== false)) {
        continue;
      }
      const shadowed = new Map<string, { rule: string; by: string; at: number }>();
      if ((await deliveredExperiments(flag, env, find, shadowed)).has(exp.key)) {
        return undefined;
      }
      const shadow = shadowed.get(exp.key);
      if (shadow !== undefined) {
        flags.add(flag.key);
        issues.push({ path: `flags.${flag.key}.environments.${env}.rules.${shadow.at}`, message: `flag "${flag.key}" in "${env}": rule "${shadow.by}" serves every unit before rule "${shadow.rule}" of the experiment can` });
      }
    }
  }
  if (issues.length === 0) {
    return undefined;
  }
  return new AppError(
    AppErrorCode.InvalidState,
    `experiment "${exp.key}" cannot ${action}: every rule for it comes after a rule that serves every unit first (${issues.map((i) => i.message).join('; ')}), so it would run with no traffic: put the rule that serves every unit after the experiment's rule (or give it a condition, or disable it), or add an enabled rule for the experiment before it`,
    { flags: [...flags], issues },
  );
}

/**
 * Refuses a replace of a running experiment whose new environments leave every enabled rule for it,
 * where it runs, behind a rule that serves every unit first (refuseShadowedOnlyDelivery), when a
 * rule delivered it before: only what the change brings, so one already without delivery is not
 * held to it. Of what decides its delivery, a replace of a running experiment can change only its
 * environments (its hash attributes are fixed once started: reassigningChanges), and which flags
 * are archived does not depend on them.
 */
async function refuseDeliveryLostByChange(db: Queryable, projectId: string, before: Experiment, after: Experiment): Promise<void> {
  if (after.status !== 'running' || jsonDiff(before.environments, after.environments).length === 0) {
    return;
  }
  const refusal = await shadowedOnlyDelivery(db, projectId, after, 'run in these environments');
  if (refusal !== undefined && (await shadowedOnlyDelivery(db, projectId, { ...before, status: 'running' }, 'run in these environments')) === undefined) {
    throw refusal;
  }
}

/**
 * Protected environments whose split-URL links (`/r/{key}`) a change of a stopped experiment sends
 * elsewhere: where a stopped experiment runs, its links go to its released winner's URL (else the
 * control's), and nowhere (404) where it does not run or once it is deleted. A stopped experiment is
 * in no ruleset, so the ruleset guard of `change` cannot see this; a running one's changes reach the
 * ruleset and are guarded there. `before` undefined: a create; `after` undefined: a delete.
 */
async function protectedRedirectChanges(db: Queryable, projectId: string, role: Actor['role'], before: Experiment | undefined, after: Experiment | undefined): Promise<string[]> {
  const target = (exp: Experiment | undefined, env: string): string | undefined => (exp?.status === 'stopped' && runsIn(exp, env) ? stoppedRedirectUrl(exp) : undefined);
  if (before?.status !== 'stopped' && after?.status !== 'stopped') {
    return [];
  }
  const envs = await environments.list(db, projectId);
  return envs.filter((e) => needsApproval(role, e) && target(before, e.key) !== target(after, e.key)).map((e) => e.key);
}

function redirectApprovalRequired(redirected: string[]): AppError {
  return new AppError(
    AppErrorCode.ApprovalRequired,
    `the stopped experiment's links send visitors of ${redirected.map((e) => `"${e}"`).join(', ')} to this URL: ask an owner or admin to change where they go`,
    { environments: redirected },
  );
}

/**
 * The flags whose state in `environment` names flag `key` as a prerequisite: what `key` serves
 * there, even while off (its off variation), decides what they serve.
 */
async function prerequisiteDependents(db: Queryable, projectId: string, key: string, environment: string): Promise<string[]> {
  const found = await db.query<{ key: string }>(
    `SELECT f.key FROM flags f
     WHERE f.project_id = $1 AND f.key <> $2 AND NOT f.archived
       AND jsonb_typeof(f.definition -> 'environments' -> $3 -> 'prerequisites') = 'array'
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(f.definition -> 'environments' -> $3 -> 'prerequisites') r WHERE r ->> 'flag' = $2)
     ORDER BY f.key`,
    [projectId, key, environment],
  );
  return found.rows.map((r) => r.key);
}

/** Whether flag `key` was deleted before in the project (in this transaction too: earlier in a `POST …/apply`). */
async function deletedBefore(db: Queryable, projectId: string, key: string): Promise<boolean> {
  const found = await db.query(`SELECT 1 FROM audit_log WHERE resource_type = 'flag' AND resource_key = $2 AND project_id = $1 AND action = 'flag.deleted' LIMIT 1`, [projectId, key]);
  return found.rows.length > 0;
}

/** The value a flag serves in an environment it has no state in (its unconfigured off variation's). */
function unconfiguredValue(flag: Flag): unknown {
  const off = unconfiguredOffVariation(flag);
  return flag.variations.find((v) => v.key === off)?.value;
}

/**
 * Protected environments whose flag state, or what it serves there, differs between two
 * definitions (`before` undefined: a create). What a protected environment serves is what is
 * protected: every flag that is not archived is in its ruleset, and serves its off variation's
 * value there while off (the unconfigured off variation where it has no state), which other flags'
 * prerequisites see too.
 */
async function protectedChanges(db: Queryable, projectId: string, role: Actor['role'], before: Flag | undefined, after: Flag): Promise<string[]> {
  const envs = await environments.list(db, projectId);
  const changed: string[] = [];
  const live = before !== undefined && !(before.archived && after.archived);
  // Values changed while archived are served again once unarchived: they count as well.
  const valuesChanged = before !== undefined && variationValuesChanged(before, after);
  // Client-side SDK keys (browsers, apps) download the flag, or stop downloading it: what they serve changes at once.
  const exposureChanged = live && (before.clientSide ?? true) !== (after.clientSide ?? true);
  // A key deleted before may still be read by code: creating it again serves something new where it was served.
  const recreated = before === undefined && envs.some((e) => needsApproval(role, e)) && (await deletedBefore(db, projectId, after.key));
  for (const env of envs) {
    if (!needsApproval(role, env)) {
      continue;
    }
    const a = before?.environments[env.key];
    const b = after.environments[env.key];
    // A new flag may be defined off in a protected environment (turning it on is the change that
    // needs approval), unless it is not new there: its key was deleted before, or another flag's
    // prerequisite there names it (what it serves while off decides what that flag serves).
    // Unarchiving puts a flag back in the ruleset likewise.
    const harmlessCreate = before === undefined && b?.enabled !== true && !recreated && (await prerequisiteDependents(db, projectId, after.key, env.key)).length === 0;
    // Archiving or unarchiving a flag that another flag's prerequisite there names changes what that flag serves.
    const archivingReferenced = before !== undefined && before.archived !== after.archived && (await prerequisiteDependents(db, projectId, after.key, env.key)).length > 0;
    // Archiving takes the flag out of every ruleset and unarchiving puts it back: a change wherever it is on.
    const archivedWhileOn = before !== undefined && before.archived !== after.archived && (a?.enabled === true || b?.enabled === true);
    // Without a state here the flag serves its unconfigured off variation, which the variations'
    // values and the other environments' off variations decide.
    const unconfiguredChanged = live && !after.archived && a === undefined && b === undefined && jsonDiff(unconfiguredValue(before), unconfiguredValue(after)).length > 0;
    // The environment serves its variations by key (the off one too): new values are served there at once.
    if ((!harmlessCreate && jsonDiff(a, b).length > 0) || (before === undefined && !harmlessCreate) || archivedWhileOn || archivingReferenced || unconfiguredChanged || ((valuesChanged || exposureChanged) && a !== undefined)) {
      changed.push(env.key);
    }
  }
  return changed;
}

/** The keys of the experiments that list metric `key` (primary, secondary or guardrail, whatever their status). */
async function experimentsListing(db: Queryable, projectId: string, key: string): Promise<string[]> {
  const users = await db.query<{ key: string }>(
    `SELECT e.key FROM experiments e
     WHERE e.project_id = $1
       AND EXISTS (SELECT 1 FROM jsonb_each(coalesce(e.definition -> 'metrics', '{}'::jsonb)) m(role, keys)
                   WHERE jsonb_typeof(m.keys) = 'array' AND m.keys ? $2)
     ORDER BY e.key`,
    [projectId, key],
  );
  return users.rows.map((r) => r.key);
}

/**
 * A metric that experiments list (primary, secondary or guardrail, whatever their status) cannot be
 * deleted: their results would silently lose it. Segments need no such check: a ruleset that would
 * reference a deleted one does not compile, so that deletion is refused already.
 */
async function refuseIfMetricInUse(db: Queryable, projectId: string, key: string): Promise<void> {
  const experiments = await experimentsListing(db, projectId, key);
  if (experiments.length > 0) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `metric "${key}" is used by ${experiments.length === 1 ? 'experiment' : `${experiments.length} experiments`}: ${experiments.slice(0, 10).join(', ')}${experiments.length > 10 ? ', …' : ''}; remove it from them first`,
      { experiments },
    );
  }
}

/**
 * Experiment weights that add up to 0, given or changed now: normalised, they became an even split
 * nobody asked for. Refused when written, not in the schema, so an experiment stored that way before
 * still reads (its results and ruleset take it as even, as they always did) and can be fixed.
 */
function refuseZeroWeights(kind: DefinitionKind, definition: unknown, current: unknown): void {
  if (kind !== DefinitionKind.Experiment) {
    return;
  }
  const weights = (e: Experiment | undefined): (number | undefined)[] => (e?.variations ?? []).map((v) => v.weight);
  const given = weights(definition as Experiment);
  if (given.length > 0 && given.every((w) => w === 0) && jsonDiff(weights(current as Experiment | undefined), given).length > 0) {
    throw invalid('the weights add up to 0: give at least one variation a positive weight', { issues: [{ path: 'variations', message: 'the weights add up to 0' }] });
  }
}

/**
 * Environment keys a flag or experiment names that the project does not have (a typo such as
 * "prodution" was stored and served nowhere). A flag state left for an environment deleted since
 * may stay as it was, so a client can send back what it read.
 */
async function refuseUnknownEnvironments(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  const named =
    kind === DefinitionKind.Flag
      ? Object.keys((definition as Flag).environments).filter((env) => jsonDiff((current as Flag | undefined)?.environments[env], (definition as Flag).environments[env]).length > 0)
      : kind === DefinitionKind.Experiment
        ? (definition as Experiment).environments.filter((env) => !((current as Experiment | undefined)?.environments.includes(env) ?? false))
        : [];
  if (named.length === 0) {
    return;
  }
  const known = (await environments.list(db, projectId)).map((e) => e.key);
  const unknown = named.filter((env) => !known.includes(env));
  if (unknown.length > 0) {
    const has = `the project's environments are ${known.map((e) => `"${e}"`).join(', ')}`;
    throw invalid(`unknown environment ${unknown.map((e) => `"${e}"`).join(', ')}; ${has}`, {
      issues: unknown.map((env) =>
        kind === DefinitionKind.Flag
          ? { path: `environments.${env}`, message: `unknown environment; ${has}` }
          : { path: `environments.${(definition as Experiment).environments.indexOf(env)}`, message: `unknown environment "${env}"; ${has}` },
      ),
    });
  }
}

/**
 * An experiment's metrics must exist in its project: results leave out a key that names no metric,
 * so a typo silently dropped the primary metric. Only keys the change adds are checked.
 */
async function refuseUnknownMetrics(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Experiment) {
    return;
  }
  const before = new Set(Object.values((current as Experiment | undefined)?.metrics ?? {}).flat());
  const named = Object.entries((definition as Experiment).metrics).flatMap(([role, keys]) => keys.map((key, i) => ({ path: `metrics.${role}.${i}`, key })));
  const added = named.filter((m) => !before.has(m.key));
  if (added.length === 0) {
    return;
  }
  const found = await db.query<{ key: string }>('SELECT key FROM metrics WHERE project_id = $1 AND key = ANY($2::text[])', [projectId, added.map((m) => m.key)]);
  const known = new Set(found.rows.map((r) => r.key));
  const unknown = added.filter((m) => !known.has(m.key));
  if (unknown.length > 0) {
    throw invalid(`unknown metric ${[...new Set(unknown.map((m) => `"${m.key}"`))].join(', ')}; create it first (POST …/metrics)`, {
      issues: unknown.map((m) => ({ path: m.path, message: `unknown metric "${m.key}"` })),
    });
  }
}

/**
 * An experiment's holdout must exist in its project, as its metrics must: a typo was stored and only
 * refused at the start, as a broken reference of the ruleset. Only a holdout the change names anew
 * is checked. `xp apply` creates holdouts before the experiments that name them.
 */
async function refuseUnknownHoldout(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Experiment) {
    return;
  }
  const holdout = (definition as Experiment).holdout;
  if (holdout === undefined || holdout === (current as Experiment | undefined)?.holdout || (await holdoutsRepo.find(db, projectId, holdout)) !== undefined) {
    return;
  }
  throw invalid(`unknown holdout "${holdout}"; create it first (POST …/holdouts)`, { issues: [{ path: 'holdout', message: `unknown holdout "${holdout}"` }] });
}

/**
 * An experiment's holdout must hash units by the experiment's `hashAttribute`: a holdout by "id" under
 * an experiment by "accountId" would hold out some of an account's users and let the others in, so
 * the account would be both held out and in the experiment. Only `hashAttribute` is compared: a
 * holdout has no fallback attribute, so units the experiment hashes by its `fallbackAttribute` (an
 * anonymous visitor before login) have no value the holdout reads and are never held out, as they
 * would not be under a holdout on the experiment's own attribute either. Judged where the change
 * brings it (a new experiment, another holdout or hashAttribute, a start or resume): a stored one
 * that disagrees can still be edited otherwise, stopped, archived and deleted.
 */
async function refuseHoldoutOnOtherAttribute(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Experiment) {
    return;
  }
  const exp = definition as Experiment;
  const before = current as Experiment | undefined;
  if (exp.holdout === undefined) {
    return;
  }
  const brought = before === undefined || before.holdout !== exp.holdout || before.hashAttribute !== exp.hashAttribute || (exp.status === 'running' && before.status !== 'running');
  const holdout = brought ? (await holdoutsRepo.find(db, projectId, exp.holdout))?.definition : undefined;
  // An unknown holdout is refuseUnknownHoldout's (or, at a start, the ruleset compiler's) to name.
  if (holdout === undefined || holdout.hashAttribute === exp.hashAttribute) {
    return;
  }
  throw invalid(
    `experiment "${exp.key}" assigns units by "${exp.hashAttribute}" but its holdout "${holdout.key}" holds out units by "${holdout.hashAttribute}", so units sharing one "${exp.hashAttribute}" would be split: some held out, others in the experiment; name a holdout whose hashAttribute is "${exp.hashAttribute}" (create one: POST …/holdouts), or leave "holdout" out`,
    { issues: [{ path: 'holdout', message: `holdout "${holdout.key}" hashes by "${holdout.hashAttribute}", the experiment by "${exp.hashAttribute}"` }] },
  );
}

/**
 * Refuses releasing an experiment's winner (a stop, a PUT revising the decision, a create of a
 * stopped one) while another running experiment gets traffic from a later rule of a flag where this
 * one's enabled rule is, in an environment both run in: a released winner is served to every unit
 * that reaches the rule, before namespace, holdout and condition checks, so no unit would reach the
 * later rules. 409, naming them; stopping without releasing stays allowed.
 */
async function refuseSharedFlagRelease(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Experiment) {
    return;
  }
  const exp = definition as Experiment;
  const before = current as Experiment | undefined;
  if (!releasesWinner(exp) || (releasesWinner(before) && jsonDiff(before!.environments, exp.environments).length === 0)) {
    return;
  }
  const find = experimentLookup(db, projectId);
  const issues: { path: string; message: string }[] = [];
  const experiments = new Set<string>();
  for (const stored of await flagsRepo.all(db, projectId)) {
    const flag = stored.definition;
    if (flag.archived) {
      continue;
    }
    for (const [env, state] of Object.entries(flag.environments)) {
      const first = state.rules.findIndex((r) => r.type === 'experiment' && r.enabled !== false && r.experiment === exp.key);
      if (first < 0 || !runsIn(exp, env)) {
        continue;
      }
      for (const [i, rule] of state.rules.entries()) {
        if (i <= first || rule.type !== 'experiment' || rule.enabled === false || rule.experiment === exp.key) {
          continue;
        }
        const other = await find(rule.experiment);
        if (other?.status !== 'running' || !runsIn(other, env)) {
          continue;
        }
        experiments.add(other.key);
        issues.push({
          path: `flags.${flag.key}.environments.${env}.rules.${i}`,
          message: `flag "${flag.key}" in "${env}": rule "${rule.id}" of the running experiment "${other.key}" comes after rule "${state.rules[first]!.id}"`,
        });
      }
    }
  }
  if (experiments.size > 0) {
    const named = [...experiments].map((e) => `"${e}"`).join(', ');
    throw new AppError(
      AppErrorCode.InvalidState,
      `releasing the winner of experiment "${exp.key}" would serve "${exp.winner}" to every unit that reaches its rules, so the running ${experiments.size === 1 ? 'experiment' : 'experiments'} ${named}, whose rules come after them, would get no more traffic (${issues.map((i) => i.message).join('; ')}): stop ${experiments.size === 1 ? 'it' : 'them'} first, or stop "${exp.key}" without releasing the winner and change the flag's rules to serve it`,
      { experiments: [...experiments], issues },
    );
  }
}

/**
 * A holdout's hashing fields (HOLDOUT_HASHING_FIELDS) cannot change while an experiment that has
 * started and is not archived names it: units held out would get the experiment, and units that got
 * it would be held out. Its coverage may change (it moves only units at the edge, see docs/api.md).
 */
async function refuseHoldoutRehash(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Holdout || current === undefined) {
    return;
  }
  const before = current as Holdout;
  const after = definition as Holdout;
  const changed = HOLDOUT_HASHING_FIELDS.filter((field) => before[field] !== after[field]);
  if (changed.length === 0) {
    return;
  }
  const users = await db.query<{ key: string }>(
    `SELECT key FROM experiments WHERE project_id = $1 AND status <> 'draft' AND NOT archived AND definition ->> 'holdout' = $2 ORDER BY key`,
    [projectId, after.key],
  );
  const experiments = users.rows.map((r) => r.key);
  if (experiments.length > 0) {
    const named = `${experiments.slice(0, 10).map((e) => `"${e}"`).join(', ')}${experiments.length > 10 ? ', …' : ''}`;
    throw new AppError(
      AppErrorCode.InvalidState,
      `holdout "${after.key}" is used by started experiment(s) ${named}: changing ${changed.join(', ')} would hash units again, so units held out would get the experiment and units that got it would be held out; keep it, or create a new holdout for new experiments`,
      { experiments, issues: changed.map((field) => ({ path: field, message: `cannot change while started experiments use the holdout (${named})` })) },
    );
  }
}

/**
 * A holdout that experiments name (whatever their status, archived included, as metrics and segments
 * count them) cannot be deleted: a draft's start would then fail, and a stopped one's resume against
 * a holdout created again under the key (another hashAttribute or coverage) would hash its units
 * again. 409, naming them.
 */
async function refuseIfHoldoutInUse(db: Queryable, projectId: string, key: string): Promise<void> {
  const users = await db.query<{ key: string }>(`SELECT key FROM experiments WHERE project_id = $1 AND definition ->> 'holdout' = $2 ORDER BY key`, [projectId, key]);
  const experiments = users.rows.map((r) => r.key);
  if (experiments.length > 0) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `holdout "${key}" is used by ${experiments.length === 1 ? 'experiment' : `${experiments.length} experiments`}: ${experiments.slice(0, 10).join(', ')}${experiments.length > 10 ? ', …' : ''}; remove it from them (or delete them) first`,
      { experiments },
    );
  }
}

/**
 * A metric's `type` cannot change while a running experiment reads it (lists it as primary,
 * secondary or guardrail metric, or every running one for a project-wide guardrail): its results
 * would silently mix what the old and the new type count. 409, naming them.
 */
async function refuseMetricTypeChange(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Metric || current === undefined) {
    return;
  }
  const before = current as Metric;
  const after = definition as Metric;
  if (before.type === after.type) {
    return;
  }
  const running = await db.query<{ key: string }>(
    `SELECT e.key FROM experiments e
     WHERE e.project_id = $1 AND e.status = 'running'
       AND ($3 OR EXISTS (SELECT 1 FROM jsonb_each(coalesce(e.definition -> 'metrics', '{}'::jsonb)) m(role, keys)
                          WHERE jsonb_typeof(m.keys) = 'array' AND m.keys ? $2))
     ORDER BY e.key`,
    [projectId, after.key, before.guardrail || after.guardrail],
  );
  const experiments = running.rows.map((r) => r.key);
  if (experiments.length > 0) {
    const named = `${experiments.slice(0, 10).map((e) => `"${e}"`).join(', ')}${experiments.length > 10 ? ', …' : ''}`;
    throw new AppError(
      AppErrorCode.InvalidState,
      `metric "${after.key}" is used by running experiment(s) ${named}: changing its type from ${before.type} to ${after.type} would mix what both count in their results; stop them first, or create a new metric`,
      { experiments, issues: [{ path: 'type', message: `cannot change while running experiments use the metric (${named})` }] },
    );
  }
}

/**
 * Uses of a flag or an experiment that no ruleset compiles, so that deleting it would not be refused
 * as a broken reference: prerequisites of archived flags, and experiment rules of archived flags and
 * disabled rules. Unarchiving the flag or enabling the rule would then fail, or (an experiment created
 * again under the key with other arms) serve a stale variations map. As for segments
 * (refuseIfSegmentInUse): 400 with each use in `details.problems`.
 */
async function refuseIfUncompiledUses(db: Queryable, projectId: string, kind: DefinitionKind, key: string): Promise<void> {
  if (kind !== DefinitionKind.Flag && kind !== DefinitionKind.Experiment) {
    return;
  }
  const problems: string[] = [];
  for (const stored of await flagsRepo.all(db, projectId, true)) {
    const flag = stored.definition;
    if (flag.key === key && kind === DefinitionKind.Flag) {
      continue;
    }
    for (const [env, state] of Object.entries(flag.environments)) {
      if (kind === DefinitionKind.Flag && flag.archived) {
        state.prerequisites.forEach((p, i) => {
          if (p.flag === key) {
            problems.push(`flags.${flag.key}.environments.${env}.prerequisites[${i}]: archived flag "${flag.key}" names flag "${key}"`);
          }
        });
      }
      if (kind === DefinitionKind.Experiment) {
        state.rules.forEach((rule, i) => {
          if (rule.type === 'experiment' && rule.experiment === key && (flag.archived || rule.enabled === false)) {
            problems.push(`flags.${flag.key}.environments.${env}.rules[${i}].experiment: ${flag.archived ? `archived flag "${flag.key}"` : `disabled rule "${rule.id}"`} names experiment "${key}"`);
          }
        });
      }
    }
  }
  if (problems.length > 0) {
    throw invalid(`${kind} "${key}" is still used (${problems.length === 1 ? problems[0] : `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`}); remove it from them first`, { problems });
  }
}

/**
 * The checks that judge a change by the definition it replaces (`current`): an update's, and a
 * create's of a key deleted earlier in the same `POST …/apply`, which is checked as an update of the
 * deleted definition (a delete and a create must not be a way around them). A check added here holds
 * for both.
 */
async function refuseChangeFrom(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown, now: Date): Promise<void> {
  await refuseHoldoutRehash(db, projectId, kind, definition, current);
  await refuseMetricTypeChange(db, projectId, kind, definition, current);
  await refuseUnservableExperimentRules(db, projectId, kind, definition, current);
  await refuseFlagRuleChanges(db, projectId, kind, definition, current, now);
  await refuseNamespaceOverlap(db, projectId, kind, definition, current);
  await refuseHoldoutOnOtherAttribute(db, projectId, kind, definition, current);
  await refuseSharedFlagRelease(db, projectId, kind, definition, current);
}

/**
 * An experiment rule must serve a flag variation for each variation of its experiment, whatever the
 * experiment's status: compiling checks only running ones, so a rule naming a draft with three
 * variations on a two-variation flag was saved, and starting the experiment was then refused for the
 * flag's sake. Checked: a flag's experiment rules the change adds or edits (all of them when its
 * variations change), and, when an experiment's variations change, the rules of flags that name it.
 */
async function refuseUnservableExperimentRules(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  const variationKeys = (e: Experiment): string => JSON.stringify(expandVariations(e).map((v) => v.key));
  const issues: { path: string; message: string }[] = [];
  const check = (flag: Flag, env: string, i: number, rule: Extract<Rule, { type: 'experiment' }>, exp: Experiment): void => {
    const mapping = experimentRuleMapping(flag, rule, exp);
    for (const message of [...mapping.problems, ...mapping.saveProblems]) {
      issues.push({ path: `${kind === DefinitionKind.Flag ? '' : `flags.${flag.key}.`}environments.${env}.rules.${i}.variations`, message });
    }
  };
  if (kind === DefinitionKind.Flag) {
    const flag = definition as Flag;
    const before = current as Flag | undefined;
    const variationsChanged = before === undefined || jsonDiff(before.variations.map((v) => v.key), flag.variations.map((v) => v.key)).length > 0;
    const unchanged = (env: string, rule: Rule): boolean => !variationsChanged && (before.environments[env]?.rules ?? []).some((r) => jsonDiff(r, rule).length === 0);
    const named = Object.entries(flag.environments).flatMap(([env, state]) =>
      state.rules.flatMap((rule, i) => (rule.type === 'experiment' && !unchanged(env, rule) ? [{ env, i, rule }] : [])),
    );
    const experiments = new Map<string, Experiment | undefined>();
    for (const { env, i, rule } of named) {
      if (!experiments.has(rule.experiment)) {
        experiments.set(rule.experiment, (await experimentsRepo.find(db, projectId, rule.experiment))?.definition);
      }
      // An unknown experiment is the ruleset compiler's to name.
      const exp = experiments.get(rule.experiment);
      if (exp !== undefined) {
        check(flag, env, i, rule, exp);
      }
    }
  } else if (kind === DefinitionKind.Experiment) {
    const exp = definition as Experiment;
    // A new experiment has no flag naming it (a live flag naming an unknown experiment does not
    // compile), so only a change of its variations needs the flags read.
    if (current === undefined || variationKeys(current as Experiment) === variationKeys(exp)) {
      return;
    }
    for (const stored of await flagsRepo.all(db, projectId)) {
      for (const [env, state] of Object.entries(stored.definition.environments)) {
        state.rules.forEach((rule, i) => {
          if (rule.type === 'experiment' && rule.experiment === exp.key) {
            check(stored.definition, env, i, rule, exp);
          }
        });
      }
    }
  }
  if (issues.length > 0) {
    const subject = kind === DefinitionKind.Flag ? 'an experiment rule' : `a flag's rule for experiment "${(definition as Experiment).key}"`;
    throw invalid(`${subject} cannot serve every experiment variation: ${issues[0]!.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, { issues });
  }
}

/**
 * Experiments in one namespace share a unit only where their ranges overlap: a running experiment
 * may not take a range another running experiment of its namespace holds in an environment both run
 * in (a new one, a start or resume, or a live range change). Nor may it give up part of its range
 * while it runs: another could then take that part, and the units exposed there would be in both
 * (sticky bucketing keeps them here) or enter the other having seen this one. Growing into free
 * space is allowed, as coverage is. Drafts and stopped ones hold nothing. Ranges keep units apart
 * only when both experiments hash by the same attribute (and fallback attribute, where both have one):
 * a running experiment may not share its namespace, in an environment both run in, with a running
 * one that hashes by another.
 */
async function refuseNamespaceOverlap(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind !== DefinitionKind.Experiment) {
    return;
  }
  const exp = definition as Experiment;
  const before = current as Experiment | undefined;
  const ns = exp.namespace;
  // A changed namespace id is refused as a reassignment (reassigningChanges); only a range within the same id is judged here.
  const had = before?.status === 'running' && exp.status === 'running' && before.namespace?.id === ns?.id ? before.namespace?.range : undefined;
  if (ns !== undefined && had !== undefined && (ns.range[0] > had[0] || ns.range[1] < had[1])) {
    const span = (from: number, to: number): string => `[${from}, ${to})`;
    const left = [
      ...(ns.range[0] > had[0] ? [span(had[0], Math.min(ns.range[0], had[1]))] : []),
      ...(ns.range[1] < had[1] ? [span(Math.max(ns.range[1], had[0]), had[1])] : []),
    ].join(' and ');
    throw invalid(
      `namespace "${ns.id}": a running experiment's namespace range may grow but not shrink: units it has exposed in ${left} would be free for another running experiment of the namespace to take, and would then be in both (sticky bucketing keeps them here) or enter the other having seen this one; keep ${span(had[0], had[1])} within the range, or stop it first`,
      { issues: [{ path: 'namespace.range', message: `may grow but not shrink while the experiment runs: it holds ${span(had[0], had[1])}` }] },
    );
  }
  // Only what the change brings: a running experiment's other edits are not held to an overlap it already had.
  const unchanged = before?.status === 'running' && jsonDiff(before.namespace, ns).length === 0 && jsonDiff(before.environments, exp.environments).length === 0;
  if (ns === undefined || exp.status !== 'running' || unchanged) {
    return;
  }
  const shareEnvironment = (other: Experiment): boolean =>
    exp.environments.length === 0 || other.environments.length === 0 || exp.environments.some((env) => other.environments.includes(env));
  const neighbours = (await experimentsRepo.all(db, projectId)).map((e) => e.definition).filter((o) => o.key !== exp.key && o.status === 'running' && o.namespace?.id === ns.id && shareEnvironment(o));
  // A unit's place in the namespace is hashed from the experiment's hash value: experiments hashing
  // by other attributes place one unit in unrelated ranges, so disjoint ranges keep nothing apart.
  // Fallback attributes count where both have one (a unit without the hash attribute is hashed by
  // it); where one has none, it assigns no such unit.
  const hashing = (e: Experiment): string => `"${e.hashAttribute}"${e.fallbackAttribute === undefined ? '' : ` (fallback "${e.fallbackAttribute}")`}`;
  const mixed = neighbours.filter(
    (o) => o.hashAttribute !== exp.hashAttribute || (o.fallbackAttribute !== undefined && exp.fallbackAttribute !== undefined && o.fallbackAttribute !== exp.fallbackAttribute),
  );
  if (mixed.length > 0) {
    const where = (o: Experiment): string => {
      const both = exp.environments.length === 0 ? o.environments : o.environments.length === 0 ? exp.environments : exp.environments.filter((env) => o.environments.includes(env));
      return both.length === 0 ? 'every environment' : both.map((env) => `"${env}"`).join(', ');
    };
    const held = mixed.map((o) => `"${o.key}" hashes by ${hashing(o)} in ${where(o)}`).join(', ');
    throw invalid(
      `namespace "${ns.id}" is used by running experiments that hash units by other attributes than this one's ${hashing(exp)} (${held}), so one unit would fall in unrelated places of the namespace and could be in both whatever the ranges; use one hash attribute per namespace: choose another namespace, or stop the others first`,
      { issues: [{ path: 'namespace.id', message: `running ${mixed.map((o) => `"${o.key}"`).join(', ')} in namespace "${ns.id}" ${mixed.length === 1 ? 'hashes' : 'hash'} by other attributes` }] },
    );
  }
  const clashes = neighbours.filter((o) => o.namespace!.range[0] < ns.range[1] && ns.range[0] < o.namespace!.range[1]);
  if (clashes.length > 0) {
    const held = clashes.map((o) => `"${o.key}" holds [${o.namespace!.range.join(', ')})`).join(', ');
    throw invalid(`namespace "${ns.id}": range [${ns.range.join(', ')}) overlaps running experiments (${held}), so units would be in both; choose a free range or stop the other first`, {
      issues: [{ path: 'namespace.range', message: `overlaps ${clashes.map((o) => `"${o.key}"`).join(', ')} in namespace "${ns.id}"` }],
    });
  }
}

/** How long a stop or resume waits for the project's aggregator batch before deferring its recount. */
export const RECOUNT_LOCK_WAIT_MS = 2_000;

/**
 * Metric fields the aggregator reads when it applies an event (what a unit's total counts), and the
 * cap the rollups apply. A ratio side's `where` changes with its `numerator` / `denominator`.
 */
const TOTALS_METRIC_FIELDS = ['type', 'event', 'property', 'where', 'numerator', 'denominator', 'windowHours', 'delayHours', 'guardrail', 'capping'] as const;

/**
 * Records, in the transaction of a change, the experiments whose stored totals it makes wrong: one
 * that lists a metric it did not list before (no history yet), and every experiment that reads a
 * metric whose counting changed (a project guardrail metric is read by all of them). The next
 * results computation rebuilds them (rebuildRequestedTotals).
 */
async function requestTotalsRebuilds(db: Queryable, projectId: string, kind: DefinitionKind, before: unknown, after: unknown): Promise<void> {
  let experiments: string[] | 'all';
  if (kind === DefinitionKind.Experiment) {
    const listed = (e: Experiment | undefined): Set<string> => new Set(e === undefined ? [] : Object.values(e.metrics).flat());
    const had = listed(before as Experiment | undefined);
    const added = [...listed(after as Experiment)].filter((m) => !had.has(m));
    const key = (after as Experiment).key;
    if (before === undefined) {
      // A new experiment has no totals, but may have exposures: SDKs that served it before it was
      // created here (an import, a delete and re-create) were counted as units while their events,
      // read through metrics this experiment did not yet list, were not.
      const exposed = added.length > 0 && (await db.query('SELECT 1 FROM exposures WHERE project_id = $1 AND experiment = $2 LIMIT 1', [projectId, key])).rows.length > 0;
      experiments = exposed ? [key] : [];
    } else {
      experiments = added.length > 0 ? [key] : [];
    }
  } else if (kind === DefinitionKind.Metric) {
    const a = before as Metric | undefined;
    const b = after as Metric | undefined;
    const counts = (m: Metric | undefined): unknown => (m === undefined ? undefined : TOTALS_METRIC_FIELDS.map((f) => m[f] ?? null));
    if (jsonDiff(counts(a), counts(b)).length === 0 || (a === undefined && b?.guardrail !== true)) {
      experiments = [];
    } else if (a?.guardrail === true || b?.guardrail === true) {
      experiments = 'all';
    } else {
      experiments = await experimentsListing(db, projectId, (b ?? a)!.key);
    }
  } else {
    return;
  }
  if (experiments === 'all') {
    await db.query(
      `INSERT INTO totals_rebuilds (project_id, experiment) SELECT project_id, key FROM experiments WHERE project_id = $1 AND status <> 'draft'
       ON CONFLICT (project_id, experiment) DO UPDATE SET requested_at = excluded.requested_at`,
      [projectId],
    );
  } else if (experiments.length > 0) {
    await db.query(
      `INSERT INTO totals_rebuilds (project_id, experiment) SELECT $1, unnest($2::text[])
       ON CONFLICT (project_id, experiment) DO UPDATE SET requested_at = excluded.requested_at`,
      [projectId, experiments],
    );
  }
}

/** Metric fields that only label it; every other field changes what a guardrail check measures or judges. */
const COSMETIC_METRIC_FIELDS: ReadonlySet<string> = new Set(['name', 'description', 'tags']);

/**
 * A metric change that alters how guardrails judge a running experiment whose `guardrailAction` is
 * `stop` can stop that experiment, so it needs what stopping it needs: `experiments:write`, and in a
 * protected environment the experiment runs in, a role that needs no approval there (owner, admin).
 * Otherwise an analyst (metrics only) could stop a production experiment by turning a metric into a
 * project-wide guardrail or flipping its direction. The change alters guardrail behaviour when the
 * metric is a guardrail of the experiment before or after it (its own `metrics.guardrails`, or
 * `guardrail: true`) and anything but its name, description or tags differs. `after` undefined: a
 * delete, which takes the guardrail away.
 */
async function refuseGuardrailStopWithoutAuthority(db: Queryable, actor: Actor, projectId: string, before: Metric | undefined, after: Metric | undefined): Promise<void> {
  const metric = (after ?? before)!;
  const changed = after === undefined || jsonDiff(before ?? {}, after).some((d) => !COSMETIC_METRIC_FIELDS.has(d.path.split('/')[1] ?? ''));
  if (!changed) {
    return;
  }
  const projectWide = before?.guardrail === true || after?.guardrail === true;
  const what = after === undefined ? `deleting metric "${metric.key}"` : `this change to metric "${metric.key}"`;
  const running = await db.query<{ key: string; definition: Experiment }>(
    `SELECT key, definition FROM experiments
     WHERE project_id = $1 AND status = 'running' AND NOT archived AND definition ->> 'guardrailAction' = 'stop'
       AND ($3 OR coalesce(definition -> 'metrics' -> 'guardrails', '[]'::jsonb) ? $2)
     ORDER BY key`,
    [projectId, metric.key, projectWide],
  );
  if (running.rows.length === 0) {
    return;
  }
  const keys = running.rows.map((r) => `"${r.key}"`).join(', ');
  if (!can(actor.role, Permission.ExperimentsWrite)) {
    throw new AppError(AppErrorCode.Forbidden, `${what} alters the guardrails of running experiment(s) ${keys}, which stop automatically; it needs ${Permission.ExperimentsWrite}`, {
      permission: Permission.ExperimentsWrite,
      experiments: running.rows.map((r) => r.key),
    });
  }
  const envs = await environments.list(db, projectId);
  const reached = envs
    .filter((e) => needsApproval(actor.role, e) && running.rows.some((r) => r.definition.environments.length === 0 || r.definition.environments.includes(e.key)))
    .map((e) => e.key);
  if (reached.length > 0) {
    throw new AppError(
      AppErrorCode.ApprovalRequired,
      `${what} alters the guardrails of running experiment(s) ${keys}, which stop automatically in ${reached.map((e) => `"${e}"`).join(', ')}; ask an owner or admin to make it`,
      { environments: reached, experiments: running.rows.map((r) => r.key) },
    );
  }
}

/** `current`, if it is the version the caller read; otherwise the conflict a write would have met. */
function atExpectedVersion<T>(kind: DefinitionKind, current: StoredDefinition<T>, expectedVersion: number): StoredDefinition<T> {
  if (current.version !== expectedVersion) {
    throw versionConflict(`${kind} "${current.key}"`, current.version, expectedVersion);
  }
  return current;
}

/**
 * An editor's change to protected environments. `howTo` (a direct toggle, state or PUT: what a change
 * request can carry) adds how to go on; creating or deleting a flag, which no change request does, and
 * a change of `POST …/apply` (where `xp apply --propose` is the way) leave it out.
 */
function approvalRequired(envs: string[], howTo = true): AppError {
  const how = howTo
    ? `: propose ${envs.length > 1 ? 'one per environment' : 'one'} (POST …/change-requests with the flag's state there, or the console's switch); owners and admins approve`
    : '';
  return new AppError(
    AppErrorCode.ApprovalRequired,
    `changes to ${envs.map((e) => `"${e}"`).join(', ')} need an approved change request${how}`,
    { environments: envs },
  );
}

export class DefinitionService<K extends DefinitionKind> {
  private readonly config: KindConfig<DefinitionTypes[K]>;

  constructor(
    protected readonly deps: Deps,
    readonly kind: K,
  ) {
    this.config = CONFIG[kind];
  }

  async list(actor: Actor, projectKey: string, options: ListOptions): Promise<Page<StoredDefinition<DefinitionTypes[K]>>> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.config.repo.list(this.deps.db, project.id, options);
  }

  async get(actor: Actor, projectKey: string, key: string): Promise<StoredDefinition<DefinitionTypes[K]>> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.config.repo.get(this.deps.db, project.id, key);
  }

  async create(actor: Actor, projectKey: string, input: unknown, batch?: ChangeBatch): Promise<StoredDefinition<DefinitionTypes[K]>> {
    assertCan(actor, this.config.write);
    const definition = this.creation(parseOrThrow(this.config.schema, input, this.kind));
    // Deleted earlier in the same apply: checked as an update of the deleted definition as well.
    const previous = batch?.deleted?.get(batchKey(this.kind, definition.key)) as DefinitionTypes[K] | undefined;
    if (previous !== undefined) {
      this.recreation(previous, definition);
    }
    const project = await projectFor(batch?.tx ?? this.deps.db, actor, projectKey);
    return change(this.deps, this.config.publishes, project.id, async (tx) => {
      if (this.kind === DefinitionKind.Flag) {
        const blocked = await protectedChanges(tx, project.id, actor.role, undefined, definition as Flag);
        if (blocked.length > 0) {
          throw approvalRequired(blocked, false);
        }
      }
      if (this.kind === DefinitionKind.Experiment) {
        // An experiment created stopped (an import) has live links where it runs.
        const redirected = await protectedRedirectChanges(tx, project.id, actor.role, undefined, definition as Experiment);
        if (redirected.length > 0) {
          throw redirectApprovalRequired(redirected);
        }
      }
      refuseZeroWeights(this.kind, definition, undefined);
      await refuseUnknownEnvironments(tx, project.id, this.kind, definition, undefined);
      await refuseUnknownMetrics(tx, project.id, this.kind, definition, undefined);
      await refuseUnknownHoldout(tx, project.id, this.kind, definition, undefined);
      await refuseBrokenSegmentReferences(tx, project.id, this.kind, definition, undefined);
      await refuseUnservableExperimentRules(tx, project.id, this.kind, definition, undefined);
      // A flag created again with a deleted one's key while its experiments run is held to what they were served.
      await refuseMovedExperimentArms(tx, project.id, this.kind, definition, undefined);
      await refuseNamespaceOverlap(tx, project.id, this.kind, definition, undefined);
      await refuseHoldoutOnOtherAttribute(tx, project.id, this.kind, definition, undefined);
      await refuseSharedFlagRelease(tx, project.id, this.kind, definition, undefined);
      if (this.kind === DefinitionKind.Experiment && (definition as Experiment).status === 'running') {
        // Created running (an import, or created again in the same apply after a delete, or after
        // flags naming it earlier in that apply): held to what a start is.
        await refuseStartOnlyThroughArchivedFlags(tx, project.id, definition.key);
        await refuseShadowedOnlyDelivery(tx, project.id, definition as Experiment, 'be created running');
      }
      if (previous !== undefined) {
        // The checks above take the create as new (each reference checked); these compare with what it replaces.
        await refuseChangeFrom(tx, project.id, this.kind, definition, previous, this.deps.now());
      }
      if (this.kind === DefinitionKind.Metric) {
        await refuseGuardrailStopWithoutAuthority(tx, actor, project.id, undefined, definition as Metric);
      }
      const stored = await this.config.repo.create(tx, project.id, definition, actor.userId);
      await recordFlagArms(tx, project.id, this.kind, stored.definition);
      if (this.kind === DefinitionKind.Experiment) {
        await recordArmsOfExperiment(tx, project.id, stored.definition as Experiment);
      }
      await requestTotalsRebuilds(tx, project.id, this.kind, undefined, stored.definition);
      await record(tx, actor, { projectId: project.id, action: `${this.kind}.created`, resourceType: this.kind, resourceKey: stored.key, before: undefined, after: stored.definition });
      return stored;
    }, { actor, kind: this.kind }, batch);
  }

  /** Replaces a definition; `expectedVersion` is the version the caller read (409 when stale). */
  async update(actor: Actor, projectKey: string, key: string, input: unknown, expectedVersion: number, batch?: ChangeBatch): Promise<StoredDefinition<DefinitionTypes[K]>> {
    assertCan(actor, this.config.write);
    const parsed = parseOrThrow(this.config.schema, input, this.kind);
    if (parsed.key !== key) {
      throw invalid(`the key in the body ("${parsed.key}") does not match the path ("${key}"); keys cannot be renamed`, {
        issues: [{ path: 'key', message: 'must match the path' }],
      });
    }
    const project = await projectFor(batch?.tx ?? this.deps.db, actor, projectKey);
    return change(this.deps, this.config.publishes, project.id, async (tx) => {
      // A stale version first: the body was written against another definition, so what the checks
      // below would say of it (against this one) is beside the point.
      const current = atExpectedVersion(this.kind, await this.config.repo.get(tx, project.id, key, { forUpdate: true }), expectedVersion);
      const definition = this.replacement(current.definition, parsed, input);
      if (jsonDiff(current.definition, definition).length === 0) {
        // Nothing to write: no new version, no audit entry, nothing published.
        return current;
      }
      refuseZeroWeights(this.kind, definition, current.definition);
      await refuseUnknownEnvironments(tx, project.id, this.kind, definition, current.definition);
      await refuseUnknownMetrics(tx, project.id, this.kind, definition, current.definition);
      await refuseUnknownHoldout(tx, project.id, this.kind, definition, current.definition);
      await refuseBrokenSegmentReferences(tx, project.id, this.kind, definition, current.definition);
      await refuseChangeFrom(tx, project.id, this.kind, definition, current.definition, this.deps.now());
      if (this.kind === DefinitionKind.Experiment && jsonDiff((current.definition as Experiment).environments, (definition as Experiment).environments).length > 0) {
        // Running again where it ran before: what flags serve its arms there is held to the record.
        await refuseRemappedArmsOnRun(tx, project.id, definition as Experiment, 'run in these environments');
      }
      if (this.kind === DefinitionKind.Experiment) {
        await refuseDeliveryLostByChange(tx, project.id, current.definition as Experiment, definition as Experiment);
      }
      if (this.kind === DefinitionKind.Metric) {
        await refuseGuardrailStopWithoutAuthority(tx, actor, project.id, current.definition as Metric, definition as Metric);
      }
      if (this.kind === DefinitionKind.Flag && (definition as Flag).archived && !(current.definition as Flag).archived) {
        // An archived flag is in no ruleset: an open request naming it as a prerequisite could not be applied.
        await refuseIfOpenRequestsName(tx, project.id, this.kind, key, 'archive');
      }
      if (this.kind === DefinitionKind.Flag) {
        const blocked = await protectedChanges(tx, project.id, actor.role, current.definition as Flag, definition as Flag);
        const onIn = (f: Flag): boolean => blocked.some((e) => f.environments[e]?.enabled === true);
        if (blocked.length > 0 && (current.definition as Flag).archived !== (definition as Flag).archived && !onIn(current.definition as Flag) && !onIn(definition as Flag)) {
          // Off there, yet another flag's prerequisite there names it (or its values changed while archived).
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `the flag is ${(definition as Flag).archived ? 'served' : 'not served'} in ${blocked.map((e) => `"${e}"`).join(', ')}, where other flags' prerequisites or its variations' values depend on it: ask an owner or admin to ${(definition as Flag).archived ? 'archive' : 'unarchive'} it`,
            { environments: blocked },
          );
        }
        if (blocked.length > 0 && (current.definition as Flag).archived !== (definition as Flag).archived) {
          // A change request carries one environment's state: it cannot archive; turning the flag off can.
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `the flag is on in ${blocked.map((e) => `"${e}"`).join(', ')}: turn it off there through a change request first, or ask an owner or admin to ${(definition as Flag).archived ? 'archive' : 'unarchive'} it`,
            { environments: blocked },
          );
        }
        if (blocked.length > 0 && variationValuesChanged(current.definition as Flag, definition as Flag)) {
          // A change request carries one environment's state: it cannot change the variations.
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `the flag is served in ${blocked.map((e) => `"${e}"`).join(', ')}: ask an owner or admin to change or remove its variations' values (adding a variation needs no approval)`,
            { environments: blocked },
          );
        }
        if (blocked.length > 0 && ((current.definition as Flag).clientSide ?? true) !== ((definition as Flag).clientSide ?? true)) {
          // A change request carries one environment's state: it cannot change who downloads the flag.
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `the flag is served in ${blocked.map((e) => `"${e}"`).join(', ')}: ask an owner or admin to make it ${(definition as Flag).clientSide === false ? 'server-side only' : 'client-side'} (browsers and apps start or stop receiving it at once)`,
            { environments: blocked },
          );
        }
        if (blocked.length > 0) {
          throw approvalRequired(blocked, batch === undefined);
        }
        if ((definition as Flag).archived && !(current.definition as Flag).archived) {
          // After the approval checks (a caller who may not archive it at all hears that first): a
          // running experiment fed by it, or other flags' prerequisites on it, all of them named.
          await refuseUnsafeFlagArchiving(tx, project.id, current.definition as Flag);
        }
      }
      if (this.kind === DefinitionKind.Experiment) {
        const redirected = await protectedRedirectChanges(tx, project.id, actor.role, current.definition as Experiment, definition as Experiment);
        if (redirected.length > 0) {
          throw redirectApprovalRequired(redirected);
        }
        // A started experiment taken out of a protected environment it ran in: deleting it would then
        // not need approval there, and its results there would go for good.
        const before = current.definition as Experiment;
        if (before.startedAt !== undefined) {
          const left = (await environments.list(tx, project.id)).filter((e) => needsApproval(actor.role, e) && runsIn(before, e.key) && !runsIn(definition as Experiment, e.key)).map((e) => e.key);
          if (left.length > 0) {
            throw new AppError(AppErrorCode.ApprovalRequired, `experiment "${key}" ran in ${left.map((e) => `"${e}"`).join(', ')}: ask an owner or admin to take it out of ${left.length === 1 ? 'that environment' : 'those environments'}`, { environments: left });
          }
        }
      }
      const stored = await this.config.repo.update(tx, project.id, definition, expectedVersion, actor.userId);
      await requestTotalsRebuilds(tx, project.id, this.kind, current.definition, stored.definition);
      await recordFlagArms(tx, project.id, this.kind, stored.definition);
      if (this.kind === DefinitionKind.Experiment) {
        // Before too: environments it leaves keep what it was served there.
        await recordArmsOfExperiment(tx, project.id, current.definition as Experiment, stored.definition as Experiment);
      }
      // A change that only touches one environment's flag state is that environment's (audit filter, webhooks).
      const environment = this.kind === DefinitionKind.Flag ? soleEnvironment(current.definition, stored.definition) : undefined;
      await record(tx, actor, { projectId: project.id, action: `${this.kind}.updated`, resourceType: this.kind, resourceKey: key, environment, before: current.definition, after: stored.definition });
      return stored;
    }, { actor, kind: this.kind }, batch);
  }

  /** The definition a create stores, given the validated body. Kinds with state the body may not set override it. */
  protected creation(parsed: DefinitionTypes[K]): DefinitionTypes[K] {
    return parsed;
  }

  /**
   * The definition a replace stores, given the stored one, the validated body and the raw body (to
   * tell a field the caller left out from its default). Kinds with state the body may not set override it.
   */
  protected replacement(_current: DefinitionTypes[K], parsed: DefinitionTypes[K], _input: unknown): DefinitionTypes[K] {
    return parsed;
  }

  /**
   * Refuses a create of a key deleted earlier in the same apply where `replacement` would refuse the
   * change from the deleted definition. Kinds whose `replacement` checks what may change override it;
   * it keeps the created definition (its lifecycle is the create's).
   */
  protected recreation(_previous: DefinitionTypes[K], _created: DefinitionTypes[K]): void {
    // Nothing by default.
  }

  /** `force` deletes a flag still referenced in code (never one a running experiment's rule uses). */
  async delete(actor: Actor, projectKey: string, key: string, expectedVersion: number, batch?: ChangeBatch, options: { readonly force?: boolean | undefined } = {}): Promise<void> {
    assertCan(actor, this.config.write);
    const project = await projectFor(batch?.tx ?? this.deps.db, actor, projectKey);
    await change(this.deps, this.config.publishes, project.id, async (tx) => {
      let forcedPast: FlagCodeRefs | undefined;
      // Before the flag's row lock, in the order apply takes them (request, then flag). Deleting the
      // flag cancels its open requests: only someone who may cancel or reject them all does it.
      if (this.kind === DefinitionKind.Flag && !can(actor.role, Permission.ChangeRequestsReject)) {
        const others = (await changeRequests.openFor(tx, project.id, 'flag', key)).filter((cr) => cr.proposedBy !== actor.userId).map((cr) => cr.id);
        if (others.length > 0) {
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `flag "${key}" has open change requests by others (${others.join(', ')}), which deleting it would cancel: ask an owner or admin to delete it, or their proposers to cancel them`,
            { changeRequests: others },
          );
        }
      }
      const cancelled = this.kind === DefinitionKind.Flag ? await changeRequests.cancelOpenFor(tx, project.id, 'flag', key, actor.userId) : [];
      const current = await this.config.repo.get(tx, project.id, key, { forUpdate: true });
      if (this.kind === DefinitionKind.Flag) {
        // A flag with a state in a protected environment is served there, on or off (its off
        // variation, which other flags' prerequisites see too): deleting it changes what the
        // environment serves. Archived (out of every ruleset), it may go.
        const flag = current.definition as Flag;
        const envs = await environments.list(tx, project.id);
        const blocked = flag.archived ? [] : envs.filter((e) => needsApproval(actor.role, e) && flag.environments[e.key] !== undefined).map((e) => e.key);
        if (blocked.length > 0) {
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `flag "${key}" is served in ${blocked.map((e) => `"${e}"`).join(', ')} (its off variation while off): ask an owner or admin to delete it, or archive it first (once it is off there)`,
            { environments: blocked },
          );
        }
        forcedPast = await refuseUnsafeFlagDeletion(tx, project.id, flag, { force: options.force === true });
      }
      // A flag created again with this key is held to what this one served running experiments' arms.
      await recordFlagArms(tx, project.id, this.kind, current.definition);
      if (this.kind === DefinitionKind.Metric) {
        await refuseIfMetricInUse(tx, project.id, key);
        // A project-wide guardrail is listed by no experiment, yet deleting it changes what stops them.
        await refuseGuardrailStopWithoutAuthority(tx, actor, project.id, current.definition as Metric, undefined);
      }
      if (this.kind === DefinitionKind.Segment) {
        await refuseIfSegmentInUse(tx, project.id, key);
      }
      if (this.kind === DefinitionKind.Holdout) {
        await refuseIfHoldoutInUse(tx, project.id, key);
      }
      // Uses a ruleset compiles are refused there as broken references; these it does not compile.
      await refuseIfUncompiledUses(tx, project.id, this.kind, key);
      // Nor what open change requests propose: applying one would fail, or serve a definition created again under the key.
      await refuseIfOpenRequestsName(tx, project.id, this.kind, key, 'delete');
      if (this.kind === DefinitionKind.Experiment) {
        const status = (current.definition as Experiment).status;
        if (status === 'running') {
          throw new AppError(AppErrorCode.InvalidState, `experiment "${key}" is running; stop it before deleting it (deleting also deletes its exposures and results)`);
        }
        // Deleting a stopped experiment turns its links into 404s where it ran.
        const redirected = await protectedRedirectChanges(tx, project.id, actor.role, current.definition as Experiment, undefined);
        if (redirected.length > 0) {
          throw new AppError(AppErrorCode.ApprovalRequired, `the stopped experiment's links still send visitors of ${redirected.map((e) => `"${e}"`).join(', ')} to its URL: ask an owner or admin to delete it`, { environments: redirected });
        }
        // Its results there go for good (no archive, no undo): where starting and stopping it needed an
        // owner or admin, deleting what it measured does too.
        // Where it ran: where it runs now once started, and wherever units were exposed (its environments
        // may have been narrowed since, which must not open a way around this).
        const experiment = current.definition as Experiment;
        const measured: string[] = [];
        for (const e of await environments.list(tx, project.id)) {
          if (!needsApproval(actor.role, e)) {
            continue;
          }
          const exposed = async (): Promise<boolean> =>
            (await tx.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM exposures WHERE project_id = $1 AND environment = $2 AND experiment = $3) AS found', [project.id, e.key, key])).rows[0]?.found === true;
          if ((experiment.startedAt !== undefined && runsIn(experiment, e.key)) || (await exposed())) {
            measured.push(e.key);
          }
        }
        if (measured.length > 0) {
          throw new AppError(
            AppErrorCode.ApprovalRequired,
            `experiment "${key}" ran in ${measured.map((e) => `"${e}"`).join(', ')}; deleting it deletes its results there for good: ask an owner or admin to delete it`,
            { environments: measured },
          );
        }
        atExpectedVersion(this.kind, current, expectedVersion);
        // Its exposures, totals and results go with it: an experiment created later with this key starts from nothing.
        await purgeExperimentData(tx, project.id, key);
      }
      await this.config.repo.delete(tx, project.id, key, expectedVersion);
      batch?.deleted?.set(batchKey(this.kind, key), current.definition);
      // A forced delete says so, and which references in code it went past (none: an empty list).
      const marker = this.kind === DefinitionKind.Flag && options.force === true ? { forced: true, codeRefs: { references: forcedPast?.references ?? 0, branches: forcedPast?.branches ?? [] } } : undefined;
      await record(tx, actor, { projectId: project.id, action: `${this.kind}.deleted`, resourceType: this.kind, resourceKey: key, before: current.definition, after: undefined, marker });
      for (const id of cancelled) {
        await record(tx, actor, { projectId: project.id, action: 'change-request.cancelled', resourceType: 'flag', resourceKey: key, before: undefined, after: { changeRequest: id, reason: 'flag deleted' } });
      }
    }, { actor, kind: this.kind }, batch);
  }

  /**
   * `next` validated, unless what fails was already wrong in `current` and this change leaves it as
   * it was: data stored before a check existed (a counted regex group, say) must not stop a toggle
   * or another environment's change — turning a flag off is how one stops using it.
   */
  private validatedChange(current: DefinitionTypes[K], next: DefinitionTypes[K]): DefinitionTypes[K] {
    const checked = this.config.schema.safeParse(next);
    if (checked.success) {
      return checked.data;
    }
    const had = this.config.schema.safeParse(current);
    const issue = (i: z.core.$ZodIssue): string => `${i.path.join('.')}\u0000${i.message}`;
    const before = new Set(had.success ? [] : had.error.issues.map(issue));
    if (had.success || !checked.error.issues.every((i) => before.has(issue(i)))) {
      return parseOrThrow(this.config.schema, next, this.kind);
    }
    return next;
  }

  /**
   * Reads, transforms and writes one definition under the version check, with audit and publishing.
   * `expectedVersion` undefined: the version read under the row lock (a change computed from the
   * stored definition, such as adding ids to a segment, cannot be stale).
   */
  async modify(
    actor: Actor,
    projectKey: string,
    key: string,
    expectedVersion: number | undefined,
    action: string,
    transform: (current: DefinitionTypes[K], project: Project, tx: Queryable) => Promise<{ next: DefinitionTypes[K]; environment?: string; auditMarker?: Record<string, string> }>,
    written?: (stored: StoredDefinition<DefinitionTypes[K]>, project: Project, tx: Queryable) => Promise<void>,
    /**
     * Whether the change already holds in `current` (a toggle to the state the flag has): then it
     * answers with `current` whatever version the caller sent, as there is nothing to conflict with.
     */
    holds?: (current: DefinitionTypes[K]) => boolean,
  ): Promise<StoredDefinition<DefinitionTypes[K]>> {
    assertCan(actor, this.config.write);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return change(this.deps, this.config.publishes, project.id, async (tx) => {
      const current = await this.config.repo.get(tx, project.id, key, { forUpdate: true });
      const expected = expectedVersion ?? current.version;
      const held = holds?.(current.definition) === true;
      if (!held) {
        atExpectedVersion(this.kind, current, expected);
      }
      const { next, environment, auditMarker } = await transform(current.definition, project, tx);
      const validated = this.validatedChange(current.definition, next);
      if (jsonDiff(current.definition, validated).length === 0) {
        // Toggling to the state it has, or setting the same environment state: nothing to write.
        return current;
      }
      if (held) {
        // Something to write after all (defaults filled in on validation): only at the version read.
        atExpectedVersion(this.kind, current, expected);
      }
      await refuseUnservableExperimentRules(tx, project.id, this.kind, validated, current.definition);
      await refuseFlagRuleChanges(tx, project.id, this.kind, validated, current.definition, this.deps.now());
      await refuseNamespaceOverlap(tx, project.id, this.kind, validated, current.definition);
      await refuseHoldoutOnOtherAttribute(tx, project.id, this.kind, validated, current.definition);
      await refuseSharedFlagRelease(tx, project.id, this.kind, validated, current.definition);
      await refuseBrokenSegmentReferences(tx, project.id, this.kind, validated, current.definition);
      const stored = await this.config.repo.update(tx, project.id, validated, expected, actor.userId);
      await recordFlagArms(tx, project.id, this.kind, stored.definition);
      if (this.kind === DefinitionKind.Experiment) {
        // Started or resumed: what it is served from now; stopped: what it was served (a database from before the record).
        await recordArmsOfExperiment(tx, project.id, current.definition as Experiment, stored.definition as Experiment);
      }
      // A marker (an emergency off that bypassed approval) is recorded in the entry's diff beside the change.
      const after = auditMarker === undefined ? stored.definition : { ...stored.definition, ...auditMarker };
      await record(tx, actor, { projectId: project.id, action, resourceType: this.kind, resourceKey: key, environment, before: current.definition, after });
      await written?.(stored, project, tx);
      return stored;
    }, { actor, kind: this.kind });
  }
}

/** Flag-specific operations: per-environment state and toggles, guarded by environment protection. */
export class FlagService extends DefinitionService<'flag'> {
  constructor(deps: Deps) {
    super(deps, DefinitionKind.Flag);
  }

  /**
   * A new order of the variations may not move the units of a live split (see `reshuffledSplits`),
   * and a flag that is on somewhere keeps its type: code reads it typed (getBooleanValue, getValue
   * with a default of the old type), and every such read would fall back to its default at once.
   */
  protected override replacement(current: Flag, parsed: Flag): Flag {
    const on = Object.entries(current.environments).filter(([, state]) => state.enabled).map(([env]) => env);
    if (parsed.type !== current.type && on.length > 0) {
      throw invalid(
        `flag "${current.key}" is a ${current.type} flag that is on in ${on.map((e) => `"${e}"`).join(', ')}: code reads it as a ${current.type}, and every such read would get its default once it serves a ${parsed.type}; turn it off everywhere first, or create a new flag`,
        { issues: [{ path: 'type', message: `cannot change from ${current.type} while the flag is on` }] },
      );
    }
    const moved = reshuffledSplits(current, parsed);
    if (moved.length > 0) {
      throw invalid(
        `reordering the variations would move units between variations in ${moved.join(', ')}: a split divides units in the order of the flag's variations; keep their order (add new variations at the end)`,
        { issues: [{ path: 'variations', message: `a new order would reassign the units of ${moved.join(', ')}` }] },
      );
    }
    return parsed;
  }

  /** The type and split-order checks of `replacement`, for a flag deleted and created again in one apply. */
  protected override recreation(previous: Flag, created: Flag): void {
    this.replacement(previous, created);
  }

  private async guard(tx: Queryable, actor: Actor, projectId: string, environment: string): Promise<void> {
    const env = await environments.get(tx, projectId, environment);
    if (needsApproval(actor.role, env)) {
      throw approvalRequired([environment]);
    }
  }

  async setEnvironmentState(actor: Actor, projectKey: string, key: string, environment: string, input: unknown, expectedVersion: number): Promise<StoredDefinition<Flag>> {
    const state: FlagEnvironment = parseOrThrow(flagEnvironmentSchema, input, 'environment state');
    return this.modify(actor, projectKey, key, expectedVersion, 'flag.environment.updated', async (current, project, tx) => {
      await this.guard(tx, actor, project.id, environment);
      const next: Flag = { ...current, environments: { ...current.environments, [environment]: state } };
      // A state here can change what a protected environment without a state serves: the off
      // variation the states agree on (its unconfigured off variation). The guard checked only here.
      const elsewhere = (await protectedChanges(tx, project.id, actor.role, current, next)).filter((e) => e !== environment);
      if (elsewhere.length > 0) {
        throw new AppError(
          AppErrorCode.ApprovalRequired,
          `flag "${key}" has no state in ${elsewhere.map((e) => `"${e}"`).join(', ')}, where it serves the off variation its states agree on, which this state changes: ask an owner or admin to make it, or propose a state for it there first (POST …/change-requests)`,
          { environments: elsewhere },
        );
      }
      return { next, environment };
    });
  }

  /**
   * Turns a flag on or off in one environment. Where the caller's role needs approval, an
   * environment with `editorsMayTurnOff` still lets it turn the flag off (and only that): the
   * emergency path, audited as `flag.disabled` with `approvalBypassed: "emergency-off"` in its diff.
   * A toggle to the state the flag already has answers with the flag as it is, whatever version was
   * sent: nothing changes, so nothing conflicts (the permission and approval checks still apply).
   */
  async toggle(actor: Actor, projectKey: string, key: string, environment: string, enabled: boolean, expectedVersion: number): Promise<StoredDefinition<Flag>> {
    const holds = (current: Flag): boolean => current.environments[environment]?.enabled === enabled;
    return this.modify(
      actor,
      projectKey,
      key,
      expectedVersion,
      enabled ? 'flag.enabled' : 'flag.disabled',
      async (current, project, tx) => {
        const env = await environments.get(tx, project.id, environment);
        const emergencyOff = needsApproval(actor.role, env) && !enabled && env.editorsMayTurnOff === true;
        if (needsApproval(actor.role, env) && !emergencyOff) {
          throw approvalRequired([environment]);
        }
        const state = current.environments[environment];
        if (state === undefined) {
          throw new AppError(AppErrorCode.InvalidState, `flag "${key}" has no state in "${environment}" yet; set one first`);
        }
        return {
          next: { ...current, environments: { ...current.environments, [environment]: { ...state, enabled } } },
          environment,
          ...(emergencyOff ? { auditMarker: { approvalBypassed: 'emergency-off' } } : {}),
        };
      },
      undefined,
      holds,
    );
  }
}

/** The experiment as stored: `archived` only when true (a `false` sent is the same as none, and no change). */
function withoutUnarchived(experiment: Experiment): Experiment {
  if (experiment.archived === true || !Object.hasOwn(experiment, 'archived')) {
    return experiment;
  }
  const { archived: _archived, ...rest } = experiment;
  return rest;
}

/** An archived experiment is neither started nor resumed: it is unarchived first. */
function refuseIfArchived(current: Experiment, action: 'start' | 'resume'): void {
  if (current.archived === true) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `experiment "${current.key}" is archived; unarchive it (PUT …/experiments/${current.key} with "archived": false) before you ${action} it`,
    );
  }
}

/**
 * Archiving (a replace with `archived: true`, as for flags) takes a draft or a stopped experiment
 * out of the default lists: a running one is stopped first, as its SDKs assign units. An archived
 * experiment keeps its definition as it is until a replace unarchives it (`archived` false or left
 * out), which may change other fields at the same time. Lifecycle and decision fields the body
 * leaves out keep their stored value (see `replacement`), so they count as unchanged.
 */
function refuseArchivedChange(current: Experiment, parsed: Experiment, given: (field: string) => boolean): void {
  const kept: readonly string[] = [...EXPERIMENT_LIFECYCLE_FIELDS, ...EXPERIMENT_DECISION_FIELDS];
  if (parsed.archived === true && current.archived !== true && current.status === 'running') {
    throw new AppError(
      AppErrorCode.InvalidState,
      `experiment "${current.key}" is running; stop it first (POST …/experiments/${current.key}/stop), then archive it`,
    );
  }
  if (current.archived !== true || parsed.archived !== true) {
    return;
  }
  const fields = new Set([...Object.keys(current), ...Object.keys(parsed)]);
  const edited = [...fields].filter(
    (field) => field !== 'archived' && !(kept.includes(field) && !given(field)) && jsonDiff(current[field as keyof Experiment], parsed[field as keyof Experiment]).length > 0,
  );
  if (edited.length > 0) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `experiment "${current.key}" is archived; unarchive it ("archived": false) to change it (${edited.join(', ')})`,
      { fields: edited },
    );
  }
}

/**
 * Experiment lifecycle: draft → running → stopped (→ running again with resume), with start/stop
 * times, a decision and a winner. A replace (PUT) keeps the lifecycle as it is.
 */
export class ExperimentService extends DefinitionService<'experiment'> {
  constructor(
    deps: Deps,
    private readonly clock: () => Date,
  ) {
    super(deps, DefinitionKind.Experiment);
  }

  /**
   * A new experiment may be created in any state (an import brings running and stopped ones), but in
   * a consistent one, as the lifecycle actions would have left it: a draft has no times and no
   * decision; a running experiment has started (now, unless a past start time is given) and has no
   * stop time or decision; a stopped one started before it stopped (now, unless given) and may carry
   * its decision. A create stored "running" experiments that had never started, and stop times
   * before start times.
   */
  protected override creation(parsed: Experiment): Experiment {
    const now = this.clock().toISOString();
    const issues: { path: string; message: string }[] = [];
    const refuse = (fields: readonly (keyof Experiment)[], why: string): void => {
      for (const field of fields) {
        if (field === 'releaseWinner' ? parsed.releaseWinner : parsed[field] !== undefined) {
          issues.push({ path: field, message: why });
        }
      }
    };
    const next: Experiment = { ...parsed };
    if (parsed.status === 'draft') {
      refuse(['startedAt', 'stoppedAt', 'splitHistory', 'pauses', 'stickyBucketingSince'], 'is set by the lifecycle actions (POST …/start, …/stop): a draft has not started');
      refuse(EXPERIMENT_DECISION_FIELDS, 'is recorded when the experiment stops (POST …/stop)');
    } else if (parsed.status === 'running') {
      refuse(['stoppedAt'], 'is set when the experiment stops (POST …/stop)');
      refuse(EXPERIMENT_DECISION_FIELDS, 'is recorded when the experiment stops (POST …/stop)');
      next.startedAt = parsed.startedAt ?? now;
    } else {
      if (parsed.startedAt === undefined) {
        issues.push({ path: 'startedAt', message: 'is required for a stopped experiment (when it started)' });
      }
      next.stoppedAt = parsed.stoppedAt ?? now;
      issues.push(...decisionIssues(parsed));
    }
    for (const field of ['startedAt', 'stoppedAt'] as const) {
      const at = next[field];
      if (at !== undefined && Date.parse(at) > Date.parse(now)) {
        issues.push({ path: field, message: 'cannot be in the future' });
      }
    }
    if (next.startedAt !== undefined && next.stoppedAt !== undefined && Date.parse(next.stoppedAt) < Date.parse(next.startedAt)) {
      issues.push({ path: 'stoppedAt', message: 'cannot be before startedAt' });
    }
    // An import may bring the splits a started experiment served before; they fall within its run.
    next.splitHistory?.forEach((split, i) => {
      const until = Date.parse(split.until);
      if ((next.startedAt !== undefined && until < Date.parse(next.startedAt)) || until > Date.parse(next.stoppedAt ?? now)) {
        issues.push({ path: `splitHistory.${i}.until`, message: 'must fall between startedAt and stoppedAt (or now)' });
      }
    });
    next.pauses?.forEach((pause, i) => {
      if ((next.startedAt !== undefined && Date.parse(pause.stoppedAt) < Date.parse(next.startedAt)) || Date.parse(pause.resumedAt) > Date.parse(next.stoppedAt ?? now)) {
        issues.push({ path: `pauses.${i}`, message: 'must fall between startedAt and stoppedAt (or now)' });
      }
    });
    // An import may bring when sticky bucketing was turned on, within the run; without it, it is on from the start.
    if (next.stickyBucketingSince !== undefined) {
      const since = Date.parse(next.stickyBucketingSince);
      if (next.stickyBucketing?.enabled !== true) {
        issues.push({ path: 'stickyBucketingSince', message: 'is when stickyBucketing was turned on: leave it out while stickyBucketing is not enabled' });
      } else if ((next.startedAt !== undefined && since < Date.parse(next.startedAt)) || since > Date.parse(next.stoppedAt ?? now)) {
        issues.push({ path: 'stickyBucketingSince', message: 'must fall between startedAt and stoppedAt (or now); leave it out when sticky bucketing was on from the start' });
      }
    }
    if (parsed.archived === true && parsed.status === 'running') {
      issues.push({ path: 'archived', message: 'must be left out for a running experiment (archive it once stopped, or create it stopped or as a draft)' });
    }
    if (issues.length > 0) {
      throw invalid(`experiment "${parsed.key}" is created ${parsed.status}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { issues });
    }
    return withoutUnarchived(next);
  }

  /**
   * Status and start/stop times come from the stored experiment: a body that leaves them out keeps
   * them, one that changes them is refused (a PUT moved a draft to running without a start time, or
   * a stopped experiment back to draft with its decision). The decision may be revised once stopped.
   */
  protected override replacement(current: Experiment, parsed: Experiment, input: unknown): Experiment {
    const given = (field: string): boolean => typeof input === 'object' && input !== null && Object.hasOwn(input, field);
    refuseArchivedChange(current, parsed, given);
    const locked: (keyof Experiment)[] = current.status === 'stopped' ? [...EXPERIMENT_LIFECYCLE_FIELDS] : [...EXPERIMENT_LIFECYCLE_FIELDS, ...EXPERIMENT_DECISION_FIELDS];
    const issues: { path: string; message: string }[] = [];
    for (const field of locked) {
      if (given(field) && jsonDiff(current[field], parsed[field]).length > 0) {
        issues.push({
          path: field,
          message:
            field === 'splitHistory'
              ? 'is recorded by the platform when a started experiment\'s split changes'
              : field === 'pauses'
                ? 'is recorded by the platform when a stopped experiment resumes'
              : field === 'stickyBucketingSince'
                ? 'is recorded by the platform when stickyBucketing is turned on for a started experiment'
              : (EXPERIMENT_LIFECYCLE_FIELDS as readonly string[]).includes(field)
                ? `is set by the lifecycle actions (POST …/start, …/stop, …/resume); it is ${JSON.stringify(current[field] ?? null)}`
                : 'is recorded when the experiment stops (POST …/stop)',
        });
      }
    }
    // Locked fields, and any lifecycle or decision field the body leaves out, keep their stored value.
    const kept = [...EXPERIMENT_LIFECYCLE_FIELDS, ...EXPERIMENT_DECISION_FIELDS].filter((field) => locked.includes(field) || !given(field));
    const next = Object.fromEntries([
      ...Object.entries(parsed).filter(([field]) => !(kept as string[]).includes(field)),
      ...kept.filter((field) => current[field] !== undefined).map((field) => [field, current[field]]),
    ]) as Experiment;
    if (current.status === 'stopped') {
      issues.push(...decisionIssues(next));
    }
    // Sticky bucketing on since the start is the way to change a split while running: every exposed
    // unit keeps the variation stored for it. Turned on later, units exposed before have none stored.
    issues.push(...reassigningChanges(current, next).map(({ path, reason }) => ({ path, message: reassignmentMessage(reason, current.stickyBucketingSince) })));
    if (current.startedAt !== undefined) {
      // Record when sticky bucketing comes on after the start (units exposed before have no stored
      // variation); it no longer holds once turned off.
      if (next.stickyBucketing?.enabled !== true) {
        delete next.stickyBucketingSince;
      } else if (current.stickyBucketing?.enabled !== true) {
        next.stickyBucketingSince = this.clock().toISOString();
      }
      // A split that may never move (the refusal above, at every move) makes a bandit that never moves.
      if (next.bandit !== undefined && next.stickyBucketingSince !== undefined && (current.bandit === undefined || current.stickyBucketingSince === undefined)) {
        issues.push({
          path: 'bandit',
          message: `moves the split while the experiment runs, but stickyBucketing was only turned on at ${next.stickyBucketingSince}, after the start: units exposed before then have no stored variation, so the split may never move; create a new experiment with stickyBucketing and the bandit from the start`,
        });
      }
    }
    if (issues.length === 0 && current.startedAt !== undefined && !sameSplit(current, next)) {
      // Units first exposed from now on get the new split: the SRM check expects each period's units in its own.
      if ((current.splitHistory?.length ?? 0) >= MAX_SPLIT_HISTORY) {
        issues.push({ path: current.type === 'multivariate' ? 'factors' : 'variations', message: `the split has changed ${MAX_SPLIT_HISTORY} times already; create a new experiment for a new split` });
      }
      next.splitHistory = [...(current.splitHistory ?? []), { until: this.clock().toISOString(), shares: splitShares(current) }];
    }
    if (issues.length > 0) {
      throw invalid(`experiment "${current.key}" is ${current.status}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { issues });
    }
    return withoutUnarchived(next);
  }

  start(actor: Actor, projectKey: string, key: string, expectedVersion: number): Promise<StoredDefinition<Experiment>> {
    return this.modify(actor, projectKey, key, expectedVersion, 'experiment.started', async (current, project, tx) => {
      refuseIfArchived(current, 'start');
      if (current.status === 'draft') {
        // An environment deleted since (an import, or data from before that was refused) would run it nowhere, or in one created again later.
        await refuseUnknownEnvironments(tx, project.id, DefinitionKind.Experiment, current, undefined);
      }
      if (current.status !== 'draft') {
        throw new AppError(
          AppErrorCode.InvalidState,
          current.status === 'stopped'
            ? `experiment is stopped; only a draft can start: to run it again, resume it (POST …/experiments/${key}/resume), which keeps its start and its units`
            : `experiment is ${current.status}; only a draft can start`,
        );
      }
      // Rules for it that would serve its arms differently (one enabled, another disabled with another
      // map): the record keeps the first, and switching between them later would swap the arms.
      await refuseDisagreeingArmRules(tx, project.id, { ...current, status: 'running' });
      await refuseStartOnlyThroughArchivedFlags(tx, project.id, key);
      // Rules for it all behind a catch-all (a force rule with no condition, say) give it no traffic.
      await refuseShadowedOnlyDelivery(tx, project.id, { ...current, status: 'running' }, 'start');
      return { next: { ...current, status: 'running', startedAt: this.clock().toISOString() } };
    });
  }

  stop(
    actor: Actor,
    projectKey: string,
    key: string,
    expectedVersion: number,
    decision: { decision?: Experiment['decision']; winner?: string | undefined; releaseWinner?: boolean | undefined },
    /** An automatic stop's cause: `marker` goes into the audit entry's diff, `written` adds to its transaction. */
    cause?: {
      readonly marker?: Record<string, string>;
      readonly written?: (stored: StoredDefinition<Experiment>, project: Project, tx: Queryable) => Promise<void>;
    },
  ): Promise<StoredDefinition<Experiment>> {
    return this.modify(actor, projectKey, key, expectedVersion, 'experiment.stopped', async (current) => {
      if (current.status !== 'running') {
        throw new AppError(AppErrorCode.InvalidState, `experiment is ${current.status}; only a running experiment can stop`);
      }
      const next: Experiment = {
        ...current,
        status: 'stopped',
        stoppedAt: this.clock().toISOString(),
        releaseWinner: decision.releaseWinner ?? false,
        ...(decision.decision === undefined ? {} : { decision: decision.decision }),
        ...(decision.winner === undefined ? {} : { winner: decision.winner }),
      };
      const issues = decisionIssues(next);
      if (issues.length > 0) {
        throw invalid(`the decision contradicts itself: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { issues });
      }
      return Promise.resolve({ next, ...(cause?.marker === undefined ? {} : { auditMarker: cause.marker }) });
    }, async (stored, project, tx) => {
      // Events dated after the stop that were counted while it ran leave the totals.
      await recountEventsSince(tx, { projectId: project.id, experiment: key }, new Date(stored.definition.stoppedAt!), this.recountOptions());
      await cause?.written?.(stored, project, tx);
    });
  }

  /**
   * A stop or resume waits at most this long for the project's aggregator batch in flight, then
   * leaves its recount to a totals rebuild: stopping an experiment must not hang on a stuck pipeline.
   */
  private recountOptions(): { lockWaitMs: number; logger: Deps['logger'] } {
    return { lockWaitMs: RECOUNT_LOCK_WAIT_MS, logger: this.deps.logger };
  }

  /**
   * Runs a stopped experiment again: the same assignments (same seed), results continuing from the
   * units already exposed; the decision, the winner and its release are cleared.
   */
  resume(actor: Actor, projectKey: string, key: string, expectedVersion: number): Promise<StoredDefinition<Experiment>> {
    return this.modify(actor, projectKey, key, expectedVersion, 'experiment.resumed', async (current, project, tx) => {
      refuseIfArchived(current, 'resume');
      if (current.status !== 'stopped') {
        throw new AppError(AppErrorCode.InvalidState, `experiment is ${current.status}; only a stopped experiment can resume`);
      }
      await refuseUnknownEnvironments(tx, project.id, DefinitionKind.Experiment, current, undefined);
      // Flags changed while it was stopped may not serve the arms other variations than its units were served.
      await refuseRemappedArmsOnRun(tx, project.id, { ...current, status: 'running' }, 'resume');
      // Its only flags archived while it was stopped (only running experiments hold a flag unarchived).
      await refuseStartOnlyThroughArchivedFlags(tx, project.id, key);
      // A catch-all put in front of its rules while it was stopped would leave it no traffic.
      await refuseShadowedOnlyDelivery(tx, project.id, { ...current, status: 'running' }, 'resume');
      const { stoppedAt, decision: _decision, winner: _winner, ...rest } = current;
      const now = this.clock().toISOString();
      // The stop stays on record: events of the time it was stopped count for nothing, also when they arrive later.
      const pauses = stoppedAt === undefined ? current.pauses : [...(current.pauses ?? []), { stoppedAt, resumedAt: now }];
      if ((pauses?.length ?? 0) > MAX_PAUSES) {
        throw new AppError(AppErrorCode.InvalidState, `experiment has been resumed ${MAX_PAUSES} times already; create a new experiment`);
      }
      return { next: { ...rest, status: 'running', releaseWinner: false, startedAt: current.startedAt ?? now, ...(pauses === undefined ? {} : { pauses }) } };
    }, async (stored, project, tx) => {
      // What is dated from the stop on counts again unless it falls in the pause (SDKs may send events
      // dated up to a day ahead, so some arrived while it was stopped, or before).
      const pause = stored.definition.pauses?.at(-1);
      if (pause !== undefined) {
        await recountEventsSince(tx, { projectId: project.id, experiment: key }, new Date(pause.stoppedAt), this.recountOptions());
      }
    });
  }
}

/** Re-exported for the HTTP layer's typing. */
export type { StoredDefinition };

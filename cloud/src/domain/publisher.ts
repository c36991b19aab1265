import { createHash } from 'node:crypto';
import type { Experiment, Flag, Holdout, Ruleset, Segment, ServerOnlyKeys } from '@xp/shared';
import { RulesetCompileError, compileRuleset, hasServerOnlyKeys, serverOnlyKeys } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { DefinitionKind, DefinitionRepository } from '../store/definitions.js';
import { environments } from '../store/projects.js';
import { MAX_ITEM_BYTES, oversizedRulesetBytes } from '../store/ruleset-store.js';
import type { PublishedRuleset } from '../store/ruleset-store.js';
import type { Deps } from './context.js';

export const flagsRepo = new DefinitionRepository<Flag>(DefinitionKind.Flag);
export const segmentsRepo = new DefinitionRepository<Segment>(DefinitionKind.Segment);
export const experimentsRepo = new DefinitionRepository<Experiment>(DefinitionKind.Experiment);
export const holdoutsRepo = new DefinitionRepository<Holdout>(DefinitionKind.Holdout);

/** A ruleset compiled inside a transaction, to be written to the store once the transaction commits. */
export interface StagedRuleset {
  readonly projectId: string;
  readonly ruleset: Ruleset;
  /** What client-side SDK keys do not get; absent when they get everything. */
  readonly serverOnly?: ServerOnlyKeys;
}

/** Hash of what evaluation sees: everything but the version and timestamp, and what client-side keys do not get. */
function contentHash(ruleset: Ruleset, serverOnly: ServerOnlyKeys | undefined): string {
  const { version: _version, generatedAt: _generatedAt, ...content } = ruleset;
  return createHash('sha256')
    .update(JSON.stringify(serverOnly === undefined ? content : { content, serverOnly }))
    .digest('hex');
}

/** The server-side-only flags and experiments the compiled ruleset holds; undefined when there are none. */
function hiddenFrom(ruleset: Ruleset, flags: readonly Flag[], experiments: readonly Experiment[]): ServerOnlyKeys | undefined {
  const keys = serverOnlyKeys(
    flags.filter((f) => ruleset.flags[f.key] !== undefined),
    experiments.filter((e) => ruleset.experiments?.[e.key] !== undefined),
  );
  return hasServerOnlyKeys(keys) ? keys : undefined;
}

/**
 * Prerequisites SDKs could only ever fail: on a flag that is not in the ruleset (unknown, deleted or
 * archived) or on a variation that flag does not have. The child would serve its off variation
 * everywhere without a word, so such a ruleset is refused like one with a dangling segment.
 */
function danglingPrerequisites(ruleset: Ruleset, archived: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [key, flag] of Object.entries(ruleset.flags)) {
    for (const p of flag.prerequisites ?? []) {
      const parent = ruleset.flags[p.flag];
      if (parent === undefined) {
        problems.push(`flags.${key}.prerequisites: ${archived.has(p.flag) ? `flag "${p.flag}" is archived` : `unknown flag "${p.flag}"`}`);
      } else if (!parent.variations.some((v) => v.key === p.variation)) {
        problems.push(`flags.${key}.prerequisites: flag "${p.flag}" has no variation "${p.variation}"`);
      }
    }
  }
  return problems;
}

/**
 * The cycles of a prerequisite graph (flag key → the flags its prerequisites name), each as the
 * keys along it with the first repeated at the end (`a → b → a`); edges to keys outside the graph
 * are ignored. The publisher refuses a ruleset with one; `xp apply` checks a document with it first.
 */
export function prerequisiteCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (key: string, path: string[]): void => {
    const s = state.get(key);
    if (s === 'done') {
      return;
    }
    if (s === 'visiting') {
      cycles.push([...path.slice(path.indexOf(key)), key]);
      return;
    }
    state.set(key, 'visiting');
    for (const parent of graph.get(key) ?? []) {
      if (graph.has(parent)) {
        visit(parent, [...path, key]);
      }
    }
    state.set(key, 'done');
  };
  for (const key of graph.keys()) {
    visit(key, []);
  }
  return cycles;
}

/**
 * Flags whose prerequisites lead back to themselves: SDKs cannot evaluate them (`PREREQUISITE_CYCLE`),
 * so such a ruleset is refused like one with a dangling reference.
 */
function rulesetCycles(ruleset: Ruleset): string[] {
  const graph = new Map(Object.entries(ruleset.flags).map(([key, flag]) => [key, (flag.prerequisites ?? []).map((p) => p.flag)]));
  return prerequisiteCycles(graph).map((cycle) => `flags.${cycle.at(-1)!}.prerequisites: prerequisites form a cycle (${cycle.join(' → ')})`);
}

/** The definitions a project's rulesets are compiled from. */
interface ProjectDefinitions {
  readonly flags: Flag[];
  readonly archivedFlags: ReadonlySet<string>;
  readonly segments: Segment[];
  readonly experiments: Experiment[];
  readonly holdouts: Holdout[];
}

async function loadProjectDefinitions(tx: Queryable, projectId: string): Promise<ProjectDefinitions> {
  // One after another: a transaction is one connection, which runs one query at a time anyway (pg
  // queues concurrent ones, a deprecated behaviour that pg 9 turns into an error).
  const allFlags = await flagsRepo.all(tx, projectId, true);
  return {
    flags: allFlags.filter((f) => !f.archived).map((f) => f.definition),
    archivedFlags: new Set(allFlags.filter((f) => f.archived).map((f) => f.key)),
    segments: (await segmentsRepo.all(tx, projectId, true)).map((x) => x.definition),
    experiments: (await experimentsRepo.all(tx, projectId, true)).map((x) => x.definition),
    holdouts: (await holdoutsRepo.all(tx, projectId, true)).map((x) => x.definition),
  };
}

/** One environment's ruleset; a dangling reference or a prerequisite cycle is a validation error naming the environment. */
function compileEnvironment(environment: string, defs: ProjectDefinitions, now: Date): Ruleset {
  try {
    const compiled = compileRuleset({ environment, version: 0, generatedAt: now, flags: defs.flags, segments: defs.segments, experiments: defs.experiments, holdouts: defs.holdouts });
    const prerequisites = [...danglingPrerequisites(compiled, defs.archivedFlags), ...rulesetCycles(compiled)];
    if (prerequisites.length > 0) {
      throw new RulesetCompileError(prerequisites);
    }
    return compiled;
  } catch (e) {
    if (e instanceof RulesetCompileError) {
      throw new AppError(AppErrorCode.Validation, `the change leaves environment "${environment}" with broken references`, { problems: e.problems });
    }
    throw e;
  }
}

/**
 * Whether `flag` (a change not made yet, such as a change request's proposal) would compile in
 * `environment` with the project's other definitions as they are: throws the validation error the
 * change itself would meet (a dangling segment or prerequisite, a prerequisite cycle). Writes nothing.
 */
export async function checkFlagCompiles(tx: Queryable, projectId: string, environment: string, flag: Flag, now: Date): Promise<void> {
  const defs = await loadProjectDefinitions(tx, projectId);
  compileEnvironment(environment, { ...defs, flags: [...defs.flags.filter((f) => f.key !== flag.key), ...(defs.archivedFlags.has(flag.key) ? [] : [flag])] }, now);
}

/**
 * Compiles every environment of the project from the transaction's view of the definitions.
 * A definition that does not compile (a dangling segment or experiment reference) aborts the
 * transaction with a validation error; an environment whose content did not change keeps its version.
 */
export async function stageRulesets(tx: Queryable, projectId: string, now: Date, only?: readonly string[]): Promise<StagedRuleset[]> {
  const envs = (await environments.list(tx, projectId)).filter((env) => only === undefined || only.includes(env.key));
  // Lock the versions first: a concurrent change that commits while this one waits for the lock must
  // be in what this one compiles (each statement reads what is committed when it starts), or the
  // newer version would be published without it.
  await environments.lockRulesetVersions(
    tx,
    projectId,
    envs.map((env) => env.key),
  );
  const defs = await loadProjectDefinitions(tx, projectId);
  const staged: StagedRuleset[] = [];
  for (const env of envs) {
    const compiled = compileEnvironment(env.key, defs, now);
    const serverOnly = hiddenFrom(compiled, defs.flags, defs.experiments);
    const version = await environments.nextRulesetVersion(tx, projectId, env.key, contentHash(compiled, serverOnly));
    if (version !== undefined) {
      const ruleset = { ...compiled, version };
      const bytes = await oversizedRulesetBytes(projectId, ruleset, serverOnly);
      if (bytes !== undefined) {
        // Saved, it would stay unpublished, and so would every later change to the environment (a kill switch included).
        throw new AppError(
          AppErrorCode.PayloadTooLarge,
          `the change would make environment "${env.key}"'s ruleset ${bytes.toLocaleString('en-US')} bytes after compression, over the ${MAX_ITEM_BYTES.toLocaleString('en-US')} bytes a ruleset can have: nothing was changed; make the rules or segments it uses smaller (long ID lists, many $in values)`,
          { environment: env.key, bytes, limit: MAX_ITEM_BYTES },
        );
      }
      staged.push({ projectId, ruleset, ...(serverOnly === undefined ? {} : { serverOnly }) });
    }
  }
  return staged;
}

/**
 * Writes staged rulesets to the store. A store failure does not undo the committed change:
 * DynamoDB is a projection, and `republish` rebuilds it from PostgreSQL.
 */
export async function flushRulesets(deps: Deps, staged: readonly StagedRuleset[]): Promise<PublishedRuleset[]> {
  const published: PublishedRuleset[] = [];
  for (const s of staged) {
    try {
      const p = await deps.rulesets.put(s.projectId, s.ruleset, s.serverOnly);
      published.push(p);
      deps.notifier?.published(p);
    } catch (e) {
      deps.logger.error('ruleset publish failed; run republish to rebuild', {
        projectId: s.projectId,
        environment: s.ruleset.environment,
        version: s.ruleset.version,
        error: e instanceof Error ? e.message : 'unknown',
      });
    }
  }
  return published;
}

/**
 * Rebuilds the store from PostgreSQL: recompiles every environment of the project and writes it
 * under a new version when its content changed, or rewrites the current version when the store lacks it.
 */
export async function republish(deps: Deps, projectId: string): Promise<PublishedRuleset[]> {
  const staged = await deps.db.withTransaction((tx) => stageRulesets(tx, projectId, deps.now()));
  const published = await flushRulesets(deps, staged);
  const envs = await environments.list(deps.db, projectId);
  for (const env of envs) {
    if (staged.some((s) => s.ruleset.environment === env.key)) {
      continue;
    }
    const version = await environments.currentRulesetVersion(deps.db, projectId, env.key);
    const latest = await deps.rulesets.latest(projectId, env.key);
    if (latest === undefined || latest.version < version) {
      const [flags, segments, experiments, holdouts] = await Promise.all([
        flagsRepo.all(deps.db, projectId),
        segmentsRepo.all(deps.db, projectId, true),
        experimentsRepo.all(deps.db, projectId, true),
        holdoutsRepo.all(deps.db, projectId, true),
      ]);
      const ruleset = compileRuleset({
        environment: env.key,
        version,
        generatedAt: deps.now(),
        flags: flags.map((f) => f.definition),
        segments: segments.map((s) => s.definition),
        experiments: experiments.map((e) => e.definition),
        holdouts: holdouts.map((h) => h.definition),
      });
      const p = await deps.rulesets.put(
        projectId,
        ruleset,
        hiddenFrom(
          ruleset,
          flags.map((f) => f.definition),
          experiments.map((e) => e.definition),
        ),
      );
      published.push(p);
      deps.notifier?.published(p);
    }
  }
  return published;
}

import { createHash } from 'node:crypto';
import type { Experiment, Flag, Holdout, Ruleset, Segment, ServerOnlyKeys } from '@xp/shared';
import { RULESET_SCHEMA_VERSION, RulesetCompileError, compileRuleset, hasServerOnlyKeys, serverOnlyKeys } from '@xp/shared';
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

/** The tables `loadProjectDefinitions` reads (see DefinitionRepository). */
const DEFINITION_TABLES = { flag: 'flags', segment: 'segments', experiment: 'experiments', holdout: 'holdouts' } as const;
type CompiledKind = keyof typeof DEFINITION_TABLES;

/**
 * Definitions as last read, by kind, project and key, with the SHA-256 of their stored JSON: a
 * publish reads the digests of every definition (small rows) and the definitions themselves only
 * where the digest is not the one remembered, instead of every definition of the project on every
 * change. Frozen, as they are shared by every later publish (compiled rulesets reference them).
 */
interface CachedDefinition {
  readonly digest: string;
  readonly definition: unknown;
  /** A flag's pieces as the input digest reads them, worked out once. */
  parts?: FlagParts;
}
const definitionCache = new Map<string, CachedDefinition>();
const MAX_CACHED_DEFINITIONS = 200_000;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) {
      deepFreeze(v);
    }
  }
  return value;
}

const DIGEST_SQL = "encode(sha256(convert_to(definition::text, 'UTF8')), 'hex')";

/** Every definition of a kind in the project (archived included), in key order, read through the cache. */
async function loadKind(tx: Queryable, projectId: string, kind: CompiledKind): Promise<{ key: string; archived: boolean; cached: CachedDefinition }[]> {
  const table = DEFINITION_TABLES[kind];
  const rows = (await tx.query<{ key: string; archived: boolean; digest: string }>(`SELECT key, archived, ${DIGEST_SQL} AS digest FROM ${table} WHERE project_id = $1 ORDER BY key`, [projectId])).rows;
  const cacheKey = (key: string): string => `${kind}\u0000${projectId}\u0000${key}`;
  const missing = rows.filter((r) => definitionCache.get(cacheKey(r.key))?.digest !== r.digest).map((r) => r.key);
  const fetched = new Map<string, CachedDefinition>();
  if (missing.length > 0) {
    const result = await tx.query<{ key: string; definition: unknown; digest: string }>(
      `SELECT key, definition, ${DIGEST_SQL} AS digest FROM ${table} WHERE project_id = $1 AND key = ANY($2::text[])`,
      [projectId, missing],
    );
    for (const r of result.rows) {
      // Remembered under the digest of what this statement read (the same as the first read's in practice).
      const entry: CachedDefinition = { digest: r.digest, definition: deepFreeze(r.definition) };
      fetched.set(r.key, entry);
      definitionCache.delete(cacheKey(r.key));
      definitionCache.set(cacheKey(r.key), entry);
    }
    while (definitionCache.size > MAX_CACHED_DEFINITIONS) {
      definitionCache.delete(definitionCache.keys().next().value!);
    }
  }
  return rows.flatMap((r) => {
    const cached = fetched.get(r.key) ?? definitionCache.get(cacheKey(r.key));
    // Deleted between the two reads: as if read before (the first read saw it).
    return cached === undefined ? [] : [{ key: r.key, archived: r.archived, cached }];
  });
}

async function loadProjectDefinitions(tx: Queryable, projectId: string): Promise<ProjectDefinitions & { readonly flagParts: readonly FlagParts[] }> {
  // One after another: a transaction is one connection, which runs one query at a time anyway (pg
  // queues concurrent ones, a deprecated behaviour that pg 9 turns into an error).
  const allFlags = await loadKind(tx, projectId, 'flag');
  const live = allFlags.filter((f) => !f.archived);
  const definitions = async <T>(kind: CompiledKind): Promise<T[]> => (await loadKind(tx, projectId, kind)).map((x) => x.cached.definition as T);
  return {
    flags: live.map((f) => f.cached.definition as Flag),
    flagParts: live.map((f) => (f.cached.parts ??= flagParts(f.cached.definition as Flag))),
    archivedFlags: new Set(allFlags.filter((f) => f.archived).map((f) => f.key)),
    segments: await definitions<Segment>('segment'),
    experiments: await definitions<Experiment>('experiment'),
    holdouts: await definitions<Holdout>('holdout'),
  };
}

/** Forgets every definition read and every digest remembered (tests). */
export function forgetPublisherCaches(): void {
  definitionCache.clear();
  compiledDigests.clear();
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
 * What an environment's ruleset is compiled from, as a digest: every definition as compiling it for
 * `environment` reads it (a flag's state in other environments only where it has none here, as its
 * off variation then comes from them), with the compiler's schema version. Equal digests compile to
 * equal content (compiling is a function of these inputs; `now` only stamps `generatedAt`).
 */
function inputDigest(environment: string, shared: string, flagParts: readonly FlagParts[]): string {
  const hash = createHash('sha256').update(shared).update(`\u0000${environment}\u0000`);
  for (const f of flagParts) {
    const state = f.states.get(environment);
    hash.update(f.common);
    hash.update(state === undefined ? f.all : state);
    hash.update('\u0000');
  }
  return hash.digest('hex');
}

/** A flag's definition as digested: everything but its states, then each state, then the whole flag. */
interface FlagParts {
  readonly common: string;
  readonly states: ReadonlyMap<string, string>;
  readonly all: string;
}

function flagParts(flag: Flag): FlagParts {
  const { environments: envStates, ...rest } = flag;
  return {
    common: JSON.stringify(rest),
    states: new Map(Object.entries(envStates).map(([env, state]) => [env, `{"state":${JSON.stringify(state)}}`])),
    all: `{"environments":${JSON.stringify(envStates)}}`,
  };
}

/** What the definitions other than flags add to every environment's digest. */
function sharedDigestInput(defs: ProjectDefinitions): string {
  return JSON.stringify([RULESET_SCHEMA_VERSION, [...defs.archivedFlags].sort(), defs.segments, defs.experiments, defs.holdouts]);
}

/**
 * The content hash the inputs with a digest compiled to, by project and environment: a fact about
 * the compiler, true whether the transaction that computed it committed or not. When an environment's
 * inputs have the digest remembered and its stored content hash is the one remembered, compiling it
 * again would find its content unchanged (and keep its version), so it is skipped: a change to one
 * environment's flag state compiles that environment alone. Per process; a miss compiles as before.
 */
const compiledDigests = new Map<string, { readonly digest: string; readonly contentHash: string }>();
const MAX_COMPILED_DIGESTS = 10_000;

function rememberDigest(projectId: string, environment: string, digest: string, hash: string): void {
  const key = `${projectId}\u0000${environment}`;
  compiledDigests.delete(key);
  compiledDigests.set(key, { digest, contentHash: hash });
  if (compiledDigests.size > MAX_COMPILED_DIGESTS) {
    compiledDigests.delete(compiledDigests.keys().next().value!);
  }
}

/**
 * Compiles every environment of the project from the transaction's view of the definitions.
 * A definition that does not compile (a dangling segment or experiment reference) aborts the
 * transaction with a validation error; an environment whose content did not change keeps its version.
 * An environment whose inputs are those it was last compiled from here, with the content stored for
 * it still that compile's, is known to be unchanged without compiling it again (see compiledDigests).
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
  // Read under the locks taken above: no other transaction can change them until this one ends.
  const stored = new Map(
    envs.length === 0
      ? []
      : (
          await tx.query<{ environment_key: string; content_hash: string }>(
            'SELECT environment_key, content_hash FROM ruleset_versions WHERE project_id = $1 AND environment_key = ANY($2::text[])',
            [projectId, envs.map((env) => env.key)],
          )
        ).rows.map((r) => [r.environment_key, r.content_hash]),
  );
  const shared = sharedDigestInput(defs);
  const parts = defs.flagParts;
  const staged: StagedRuleset[] = [];
  for (const env of envs) {
    const digest = inputDigest(env.key, shared, parts);
    const known = compiledDigests.get(`${projectId}\u0000${env.key}`);
    const storedHash = stored.get(env.key);
    if (known !== undefined && known.digest === digest && storedHash !== undefined && storedHash !== '' && storedHash === known.contentHash) {
      continue;
    }
    const compiled = compileEnvironment(env.key, defs, now);
    const serverOnly = hiddenFrom(compiled, defs.flags, defs.experiments);
    const hash = contentHash(compiled, serverOnly);
    rememberDigest(projectId, env.key, digest, hash);
    const version = await environments.nextRulesetVersion(tx, projectId, env.key, hash);
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
 * A ruleset version saved in the database that the store did not take: its SDKs keep serving the
 * previous one (a kill switch included) until a later publish of the environment, or a republish, succeeds.
 */
export interface UnpublishedRuleset {
  readonly projectId: string;
  readonly environment: string;
  /** The latest version that failed. */
  readonly version: number;
  /** When the environment's publishes began to fail (epoch ms). */
  readonly sinceMs: number;
  readonly error: string;
}

/** Per ruleset store (the deps of one process share it): the environments whose last publish failed. */
const unpublished = new WeakMap<object, Map<string, UnpublishedRuleset>>();

/** The environments of this process whose last publish to `store` failed, oldest failure first (the Health view's). */
export function unpublishedRulesets(store: object): UnpublishedRuleset[] {
  return [...(unpublished.get(store)?.values() ?? [])].sort((a, b) => a.sinceMs - b.sinceMs);
}

function notePublish(store: object, projectId: string, environment: string, failed?: { version: number; error: string }): void {
  const key = `${projectId}\u0000${environment}`;
  let failures = unpublished.get(store);
  if (failed === undefined) {
    failures?.delete(key);
    return;
  }
  if (failures === undefined) {
    failures = new Map();
    unpublished.set(store, failures);
  }
  failures.set(key, { projectId, environment, version: failed.version, sinceMs: failures.get(key)?.sinceMs ?? Date.now(), error: failed.error });
}

/**
 * Writes staged rulesets to the store. A store failure does not undo the committed change:
 * DynamoDB is a projection, and `republish` rebuilds it from PostgreSQL. The failure is logged and
 * kept for the Health view until the environment's next publish succeeds.
 */
export async function flushRulesets(deps: Deps, staged: readonly StagedRuleset[]): Promise<PublishedRuleset[]> {
  const published: PublishedRuleset[] = [];
  for (const s of staged) {
    try {
      const p = await deps.rulesets.put(s.projectId, s.ruleset, s.serverOnly);
      published.push(p);
      notePublish(deps.rulesets, s.projectId, s.ruleset.environment);
      deps.notifier?.published(p);
    } catch (e) {
      const error = e instanceof Error ? e.message : 'unknown';
      notePublish(deps.rulesets, s.projectId, s.ruleset.environment, { version: s.ruleset.version, error });
      deps.logger.error('ruleset publish failed; run republish to rebuild', {
        projectId: s.projectId,
        environment: s.ruleset.environment,
        version: s.ruleset.version,
        error,
      });
    }
  }
  return published;
}

/**
 * Rebuilds the store from PostgreSQL: recompiles every environment of the project and writes it
 * under a new version when its content changed, or rewrites the current version when the store lacks it.
 *
 * A store AHEAD of the database — the database restored from a backup while the store kept what was
 * published since (PostgreSQL restored under the same data folder, Aurora point-in-time restore) —
 * holds versions the database will number again, with other content: SDKs would keep the store's
 * newer ruleset, flags the database no longer has, and every later publish up to that version would
 * be refused (published versions are immutable). The database's counter then moves past the
 * store's, so the database's rulesets are published as the newest versions.
 */
export async function republish(deps: Deps, projectId: string): Promise<PublishedRuleset[]> {
  // What the store and the database hold of each environment, read once: an environment left
  // unstaged below is one neither the staging nor the flush touched.
  const envs = await Promise.all(
    (await environments.list(deps.db, projectId)).map(async (env) => {
      const [latest, version] = await Promise.all([deps.rulesets.latest(projectId, env.key), environments.currentRulesetVersion(deps.db, projectId, env.key)]);
      return { key: env.key, latest, version };
    }),
  );
  for (const { key, latest, version } of envs) {
    if (latest !== undefined && latest.version > version) {
      deps.logger.warn('the ruleset store is ahead of the database (a restored database?): the database\'s ruleset is published after the store\'s version', {
        projectId,
        environment: key,
        storeVersion: latest.version,
        databaseVersion: version,
      });
      // Its content is forgotten with it: staged below under the version after the store's.
      await environments.advanceRulesetVersion(deps.db, projectId, key, latest.version);
    }
  }
  const staged = await deps.db.withTransaction((tx) => stageRulesets(tx, projectId, deps.now()));
  const published = await flushRulesets(deps, staged);
  for (const { key, latest, version } of envs) {
    if (staged.some((s) => s.ruleset.environment === key)) {
      continue;
    }
    if (latest === undefined || latest.version < version) {
      const [flags, segments, experiments, holdouts] = await Promise.all([
        flagsRepo.all(deps.db, projectId),
        segmentsRepo.all(deps.db, projectId, true),
        experimentsRepo.all(deps.db, projectId, true),
        holdoutsRepo.all(deps.db, projectId, true),
      ]);
      const ruleset = compileRuleset({
        environment: key,
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
      notePublish(deps.rulesets, projectId, key);
      deps.notifier?.published(p);
    }
  }
  return published;
}

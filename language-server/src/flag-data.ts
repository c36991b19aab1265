import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { EvaluationAppCount, Experiment, ExperimentResultsSummary, Flag, Holdout, ProjectFlagEvaluations, Ruleset, Segment, XpApiClient } from '@xp/shared';
import { compileRuleset, experimentSchema, flagSchema, holdoutSchema, segmentSchema } from '@xp/shared';
import { hasLoneCarriageReturn, linesOf, positionsIn } from './indexer/lines.js';
import type { DataSource } from './protocol.js';

/** A flag as the server knows it, from the API or a file. */
export interface FlagRecord {
  readonly key: string;
  readonly definition: Flag;
  readonly archived: boolean;
  readonly version: number | null;
  readonly updatedAt: string | null;
  /** When what it serves last changed (not a metadata edit); absent from older servers and caches, where updatedAt counts. */
  readonly servingChangedAt?: string | null;
  /** Who changed it last, as shown: their name from the API (their id from servers that give none). */
  readonly updatedBy: string | null;
  /** When the flag was created (the API's stored flag); absent from flags files and older caches, where its age is unknown. */
  readonly createdAt?: string;
}

/** Everything the editor features read, in a shape that is written to the cache file as is. */
export interface ProjectSnapshot {
  readonly project: string;
  readonly source: DataSource;
  readonly fetchedAt: string | null;
  readonly flags: readonly FlagRecord[];
  readonly experiments: readonly Experiment[];
  readonly segments: readonly Segment[];
  readonly holdouts: readonly Holdout[];
  /** Current results of running experiments, by experiment key. */
  readonly results: Readonly<Record<string, ExperimentResultsSummary>>;
  /** Published rulesets by environment (API only). */
  readonly rulesets: Readonly<Record<string, Ruleset>>;
  /** The project's environment keys (API only; absent from caches written before they were kept). */
  readonly environments?: readonly string[];
  /** When each experiment last changed, by key (API only; absent from older caches): what an ended one's flags serve changes with it. */
  readonly experimentsUpdatedAt?: Readonly<Record<string, string>>;
  /**
   * How often SDKs evaluated each key over the last EVALUATION_DAYS days (API only; absent from a
   * flags file, from older servers and caches, and when the request failed: then nothing is said).
   * No flag at all: no SDK of the project reports evaluation counts (or none evaluated anything).
   */
  readonly evaluations?: ProjectFlagEvaluations;
  /**
   * False when the source does not list the project's experiments (a flags file, or a damaged cache,
   * without `experiments`): whether a key is an experiment's cannot be told then. Absent: listed.
   */
  readonly experimentsListed?: false;
}

export const EMPTY_SNAPSHOT: ProjectSnapshot = {
  project: '',
  source: 'none',
  fetchedAt: null,
  flags: [],
  experiments: [],
  segments: [],
  holdouts: [],
  results: {},
  rulesets: {},
};

const CACHE_VERSION = 1;

/** The window of evaluation counts hovers show. */
export const EVALUATION_DAYS = 30;

/**
 * How many keys no flag has the snapshot asks the API to list: the most it lists (the API's
 * MAX_UNDEFINED_KEYS_LIMIT), so that a key evaluated by mistake hovers with its counts even after a
 * client flooded the project with generated keys (the default, 1,000, would leave it out).
 */
export const UNDEFINED_KEYS_LIMIT = 5000;

/**
 * What may be said of a flag no SDK evaluated in the counts' window: `window`, not evaluated in the
 * whole window (every environment that counts has counted since before it began, and the flag is
 * older than it); `since-counting`, not evaluated since counting began on `since` (in `environment`
 * where more than one environment counts), within the window. Undefined: nothing may be said.
 */
export type AbsenceClaim =
  | { readonly kind: 'window'; readonly days: number }
  | { readonly kind: 'since-counting'; readonly since: string; readonly environment?: string };

/**
 * The claim a flag's absence from the counts supports: none when the project reports no counts (no
 * environment has any, or none in the window: the SDKs may have stopped sending them); "not evaluated
 * in the last N days" only when every environment that counts began counting at least N days ago and
 * the flag is older than that (its creation known); otherwise, where counting began within the window,
 * "not evaluated since counting began on <date>". On the day SDKs that count are deployed, every flag
 * they have not evaluated yet is absent too. `createdAt` null: the key is no flag (no age to check).
 */
export function absenceClaim(usage: ProjectFlagEvaluations | undefined, createdAt: string | null | undefined): AbsenceClaim | undefined {
  if (usage === undefined || usage.flags.length === 0 || usage.countingSince.length === 0) {
    return undefined;
  }
  const windowStart = Date.parse(usage.since);
  const latest = usage.countingSince.reduce((a, b) => (Date.parse(b.since) > Date.parse(a.since) ? b : a));
  const latestAt = Date.parse(latest.since);
  if (!Number.isFinite(windowStart) || !Number.isFinite(latestAt)) {
    return undefined;
  }
  if (latestAt > windowStart) {
    return { kind: 'since-counting', since: latest.since, ...(usage.countingSince.length > 1 ? { environment: latest.environment } : {}) };
  }
  const created = createdAt === null ? -Infinity : createdAt === undefined ? NaN : Date.parse(createdAt);
  if (Number.isNaN(created) || created > windowStart) {
    return undefined;
  }
  return { kind: 'window', days: EVALUATION_DAYS };
}

/** Fetches a project's flags, experiments and (for running experiments) results. */
export async function fetchSnapshot(client: XpApiClient, project: string, environment: string, now: Date): Promise<ProjectSnapshot> {
  const [flags, experiments, segments, holdouts, environments, evaluations] = await Promise.all([
    client.listAll(project, 'flags', { archived: true }),
    // Archived ones too: an ended experiment's released winner decides what its flags serve (stale flags).
    client.listAll(project, 'experiments', { archived: true }),
    client.listAll(project, 'segments', { archived: false }),
    client.listAll(project, 'holdouts', { archived: false }),
    // Without them, knownEnvironments falls back to the environments the flags name (and no flag is called stale).
    client.environments(project).then(
      (list) => list.map((e) => e.key),
      () => undefined,
    ),
    // Servers before evaluation counts answer 404: hovers then say nothing of usage. Servers before
    // countingSince give none: nothing is then said of absence.
    client.projectFlagEvaluations(project, { days: EVALUATION_DAYS, limit: UNDEFINED_KEYS_LIMIT }).then(
      (usage) => cachedEvaluations(usage),
      () => undefined,
    ),
  ]);
  const results: Record<string, ExperimentResultsSummary> = {};
  await Promise.all(
    experiments
      .filter((e) => e.definition.status === 'running')
      .map(async (e) => {
        try {
          results[e.key] = await client.experimentResults(project, e.key, { environment });
        } catch {
          // An experiment without results yet is shown without them.
        }
      }),
  );
  const rulesets: Record<string, Ruleset> = {};
  try {
    const published = await client.publishedRuleset(project, environment);
    if (published.published !== null) {
      rulesets[environment] = published.published.ruleset;
    }
  } catch {
    // Explain falls back to a ruleset compiled from the definitions.
  }
  return {
    project,
    source: 'api',
    fetchedAt: now.toISOString(),
    flags: flags.map((f) => ({
      key: f.key,
      definition: f.definition,
      archived: f.archived || f.definition.archived,
      version: f.version,
      updatedAt: f.updatedAt,
      ...(f.servingChangedAt === undefined ? {} : { servingChangedAt: f.servingChangedAt }),
      // Its age decides whether "not evaluated in 30 days" can be said of it.
      createdAt: f.createdAt,
      // Shown in hovers: the writer's name where the API gives it (older servers: their id).
      updatedBy: f.updatedByName ?? f.updatedBy,
    })),
    experiments: experiments.map((e) => e.definition),
    experimentsUpdatedAt: Object.fromEntries(experiments.map((e) => [e.key, e.updatedAt])),
    segments: segments.map((s) => s.definition),
    holdouts: holdouts.map((h) => h.definition),
    results,
    rulesets,
    ...(environments === undefined ? {} : { environments }),
    ...(evaluations === undefined ? {} : { evaluations }),
  };
}

export function writeCache(file: string, snapshot: ProjectSnapshot): void {
  // The cache holds whole definitions (segments' id lists among them): readable by its owner only.
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ cacheVersion: CACHE_VERSION, snapshot }), { mode: 0o600 });
  renameSync(tmp, file);
}

/** The cached snapshot of `project`, or undefined when missing, unreadable, malformed or of another project. */
export function readCache(file: string, project: string | undefined): ProjectSnapshot | undefined {
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { cacheVersion?: unknown; snapshot?: unknown };
    if (raw.cacheVersion !== CACHE_VERSION) {
      return undefined;
    }
    const snapshot = cachedSnapshot(raw.snapshot);
    if (snapshot === undefined || (project !== undefined && snapshot.project !== project)) {
      return undefined;
    }
    return snapshot;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const orNull = <T>(value: unknown, check: (v: unknown) => v is T): T | null => (check(value) ? value : null);
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number';

function isResultsSummary(value: unknown): boolean {
  return isObject(value) && Array.isArray(value.metrics) && value.metrics.every((m: unknown) => isObject(m) && typeof m.name === 'string' && Array.isArray(m.variations) && m.variations.every(isObject));
}

/** The evaluation counts of a cache file (or an API answer), or undefined when absent or not of the API's shape. */
function cachedEvaluations(value: unknown): ProjectFlagEvaluations | undefined {
  if (!isObject(value) || !isString(value.since) || !Array.isArray(value.flags)) {
    return undefined;
  }
  const flags = value.flags
    .filter(
      (f: unknown): f is Omit<ProjectFlagEvaluations['flags'][number], 'apps'> & { apps?: unknown } =>
        isObject(f) &&
        isString(f.flag) &&
        typeof f.defined === 'boolean' &&
        Number.isFinite(f.total) &&
        isString(f.lastEvaluatedAt) &&
        Array.isArray(f.environments) &&
        f.environments.every((e: unknown) => isObject(e) && isString(e.environment) && Number.isFinite(e.count) && isString(e.lastEvaluatedAt)),
    )
    // Servers and caches from before applications were counted have none: nothing is said of them then.
    .map((f) => ({ ...f, apps: appCounts(f.apps) }));
  // A cache written before countingSince existed has none: no environment is then known to have counted long
  // enough for a "not evaluated in N days" claim, so the features say nothing of absence.
  const countingSince = Array.isArray(value.countingSince)
    ? value.countingSince.filter((c: unknown): c is ProjectFlagEvaluations['countingSince'][number] => isObject(c) && isString(c.environment) && isString(c.since))
    : [];
  const undefinedOmitted = Number.isFinite(value.undefinedOmitted) ? (value.undefinedOmitted as number) : 0;
  const dropped = Number.isFinite(value.dropped) ? (value.dropped as number) : 0;
  return { since: value.since, flags, apps: appCounts(value.apps), dropped, undefinedOmitted, countingSince };
}

/** The per-application counts of an API answer or cache, those of the API's shape; none when absent. */
function appCounts(value: unknown): EvaluationAppCount[] {
  return Array.isArray(value) ? value.filter((a: unknown): a is EvaluationAppCount => isObject(a) && (a.app === null || isString(a.app)) && Number.isFinite(a.count) && isString(a.lastEvaluatedAt)) : [];
}

/** How the SDKs that named no application (the SDK option `appName` unset) are called next to those that did. */
export const NO_APP_NAMED = 'no app named';

/** How many applications a flag's usage names before "+N more". */
export const APPS_SHOWN = 3;

/**
 * The applications that evaluated a key, most evaluated first: "checkout-api 10,000 · web-shop 2,345 ·
 * no app named 12 · +2 more". Undefined when nothing is worth saying: no counts per application (an
 * older server or cache), or none of the project's SDKs named its application in the window (`named`
 * false), where every count would read "no app named".
 */
export function appsText(apps: readonly EvaluationAppCount[], named: boolean): string | undefined {
  if (!named || apps.length === 0) {
    return undefined;
  }
  const shown = apps.slice(0, APPS_SHOWN).map((a) => `${a.app ?? NO_APP_NAMED} ${a.count.toLocaleString('en-US')}`);
  return [...shown, ...(apps.length > APPS_SHOWN ? [`+${apps.length - APPS_SHOWN} more`] : [])].join(' · ');
}

/** Whether any SDK of the project named its application in the counts' window (the API's top-level `apps`). */
export function namesApps(usage: ProjectFlagEvaluations | undefined): boolean {
  return usage !== undefined && (usage.apps.some((a) => a.app !== null) || usage.flags.some((f) => f.apps.some((a) => a.app !== null)));
}

/** A cache file's snapshot checked as a flags file is: a damaged file must not take the features down with it. */
function cachedSnapshot(value: unknown): ProjectSnapshot | undefined {
  if (!isObject(value) || typeof value.project !== 'string' || !Array.isArray(value.flags)) {
    return undefined;
  }
  const flags: FlagRecord[] = [];
  for (const record of value.flags as unknown[]) {
    const definition = isObject(record) ? flagSchema.safeParse(record.definition) : undefined;
    if (isObject(record) && definition?.success === true && record.key === definition.data.key) {
      flags.push({
        key: definition.data.key,
        definition: definition.data,
        archived: record.archived === true,
        version: orNull(record.version, isNumber),
        updatedAt: orNull(record.updatedAt, isString),
        ...(isString(record.servingChangedAt) ? { servingChangedAt: record.servingChangedAt } : {}),
        updatedBy: orNull(record.updatedBy, isString),
        ...(isString(record.createdAt) ? { createdAt: record.createdAt } : {}),
      });
    }
  }
  const environments = Array.isArray(value.environments) ? value.environments.filter(isString) : undefined;
  const evaluations = cachedEvaluations(value.evaluations);
  const experimentsUpdatedAt = isObject(value.experimentsUpdatedAt) ? Object.fromEntries(Object.entries(value.experimentsUpdatedAt).filter((e): e is [string, string] => isString(e[1]))) : undefined;
  return {
    project: value.project,
    source: 'cache',
    fetchedAt: orNull(value.fetchedAt, isString),
    flags,
    experiments: parseEach(value.experiments, (i) => experimentSchema.safeParse(i)),
    ...(Array.isArray(value.experiments) ? {} : { experimentsListed: false as const }),
    segments: parseEach(value.segments, (i) => segmentSchema.safeParse(i)),
    holdouts: parseEach(value.holdouts, (i) => holdoutSchema.safeParse(i)),
    results: isObject(value.results) ? (Object.fromEntries(Object.entries(value.results).filter(([, r]) => isResultsSummary(r))) as ProjectSnapshot['results']) : {},
    rulesets: isObject(value.rulesets) ? (value.rulesets as ProjectSnapshot['rulesets']) : {},
    ...(environments === undefined ? {} : { environments }),
    ...(experimentsUpdatedAt === undefined ? {} : { experimentsUpdatedAt }),
    ...(evaluations === undefined ? {} : { evaluations }),
  };
}

function parseEach<T>(items: unknown, parse: (item: unknown) => { success: true; data: T } | { success: false }): T[] {
  if (!Array.isArray(items)) {
    return [];
  }
  const out: T[] = [];
  for (const item of items) {
    const r = parse(item);
    if (r.success) {
      out.push(r.data);
    }
  }
  return out;
}

/** Reads a flags-as-code document (YAML or JSON, the `xp export` format); invalid entries are skipped. */
export function readFlagsFile(file: string): ProjectSnapshot {
  const text = readFileSync(file, 'utf8');
  const doc = (file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text)) as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object' || doc.xp !== 1) {
    throw new Error(`${file} is not an xp flags document (xp: 1)`);
  }
  const flags = parseEach(doc.flags, (i) => flagSchema.safeParse(i));
  return {
    project: typeof doc.project === 'string' ? doc.project : '',
    source: 'flags-file',
    fetchedAt: null,
    flags: flags.map((f) => ({ key: f.key, definition: f, archived: f.archived, version: null, updatedAt: null, updatedBy: null })),
    experiments: parseEach(doc.experiments, (i) => experimentSchema.safeParse(i)),
    // Each list is optional in the format: a file without `experiments` says nothing about them.
    ...(Array.isArray(doc.experiments) ? {} : { experimentsListed: false as const }),
    segments: parseEach(doc.segments, (i) => segmentSchema.safeParse(i)),
    holdouts: parseEach(doc.holdouts, (i) => holdoutSchema.safeParse(i)),
    results: {},
    rulesets: {},
  };
}

/** A span of a flags document, zero-based, in UTF-16 code units as LSP counts them. */
export interface TextSpan {
  readonly start: { readonly line: number; readonly character: number };
  readonly end: { readonly line: number; readonly character: number };
}

/**
 * Where a flag's key is declared in a flags document (`flags:`, else a standalone experiment's
 * under `experiments:`): the key's text, without its quotes, if found. Read from the parsed
 * document, so a variation or rule that happens to be named like the key is never taken for it; a
 * document that does not parse (half edited) is searched line by line.
 */
export function flagKeyRangeInFile(text: string, key: string): TextSpan | undefined {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter });
  if (doc.errors.length === 0 && YAML.isMap(doc.contents)) {
    for (const section of ['flags', 'experiments']) {
      const items = doc.contents.get(section, true);
      if (!YAML.isSeq(items)) {
        continue;
      }
      for (const item of items.items) {
        const node = YAML.isMap(item) ? item.get('key', true) : undefined;
        if (YAML.isScalar(node) && node.value === key && node.range !== undefined && node.range !== null) {
          // A quoted scalar's range holds its quotes: the editor selects the key itself.
          const quoted = node.type === YAML.Scalar.QUOTE_DOUBLE || node.type === YAML.Scalar.QUOTE_SINGLE ? 1 : 0;
          const lsp = hasLoneCarriageReturn(text) ? positionsIn(text) : undefined;
          const at = (offset: number): { line: number; character: number } => {
            if (lsp !== undefined) {
              // The protocol's lines end at a lone '\r' too, which LineCounter does not count.
              return lsp(offset);
            }
            const pos = lineCounter.linePos(offset);
            return { line: pos.line - 1, character: pos.col - 1 };
          };
          return { start: at(node.range[0] + quoted), end: at(node.range[1] - quoted) };
        }
      }
    }
    return undefined;
  }
  const lines = linesOf(text);
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const keyLine = new RegExp(`^(\\s*(?:-\\s*)?["']?key["']?\\s*:\\s*["']?)${escaped}["']?\\s*,?\\s*$`);
  const flagsStart = lines.findIndex((l) => /^\s*["']?flags["']?\s*:/.test(l));
  for (let i = Math.max(0, flagsStart); i < lines.length; i++) {
    const match = keyLine.exec(lines[i]!);
    if (match !== null) {
      const character = match[1]!.length;
      return { start: { line: i, character }, end: { line: i, character: character + key.length } };
    }
  }
  return undefined;
}


/** The ruleset for explain: the published one, else compiled from the snapshot's definitions. */
export function rulesetFor(snapshot: ProjectSnapshot, environment: string): Ruleset | undefined {
  const published = snapshot.rulesets[environment];
  if (published !== undefined) {
    return published;
  }
  try {
    return compileRuleset({
      environment,
      version: 0,
      flags: snapshot.flags.filter((f) => !f.archived).map((f) => f.definition),
      segments: snapshot.segments,
      experiments: snapshot.experiments,
      holdouts: snapshot.holdouts,
    });
  } catch {
    return undefined;
  }
}

/**
 * The environments `snapshot` knows: the project's (API), else every one a flag or a published
 * ruleset names. Empty when there is no flag data to tell.
 */
export function knownEnvironments(snapshot: ProjectSnapshot): Set<string> {
  if (snapshot.environments !== undefined) {
    return new Set(snapshot.environments);
  }
  const keys = new Set(Object.keys(snapshot.rulesets));
  for (const f of snapshot.flags) {
    for (const key of Object.keys(f.definition.environments)) {
      keys.add(key);
    }
  }
  return keys;
}

/** "OFF", "ON", "ON 25%", "ON split", "ON exp" or "—" (not configured) for a flag in an environment. */
export function environmentSummary(flag: Flag, environment: string): string {
  const env = flag.environments[environment];
  if (env === undefined) {
    return '—';
  }
  if (!env.enabled) {
    return 'OFF';
  }
  const rules = env.rules.filter((r) => r.enabled !== false);
  const rollout = rules.find((r) => r.type === 'rollout');
  if (rollout?.type === 'rollout') {
    const coverage = rollout.schedule?.length ? rollout.schedule[rollout.schedule.length - 1]!.coverage : rollout.coverage;
    return `ON ${Math.round(rollout.coverage * 1000) / 10}%${rollout.schedule?.length ? ` → ${Math.round(coverage * 100)}%` : ''}`;
  }
  if (rules.some((r) => r.type === 'experiment')) {
    return 'ON exp';
  }
  if (rules.some((r) => r.type === 'split')) {
    return 'ON split';
  }
  return 'ON';
}

/** The experiment a flag runs in an environment, if one is running. */
export function runningExperiment(snapshot: ProjectSnapshot, flag: Flag, environment: string): Experiment | undefined {
  const env = flag.environments[environment];
  const keys = new Set((env?.rules ?? []).flatMap((r) => (r.type === 'experiment' && r.enabled !== false ? [r.experiment] : [])));
  return snapshot.experiments.find((e) => keys.has(e.key) && e.status === 'running' && (e.environments.length === 0 || e.environments.includes(environment)));
}

export interface ResultHeadline {
  readonly metric: string;
  readonly variation: string;
  /** In percent for relative differences. */
  readonly effect: number;
  readonly halfWidth: number | null;
  readonly relative: boolean;
  readonly significant: boolean;
  readonly chanceToWin: number;
  readonly pValue: number;
}

/** The primary metric's first treatment comparison, the number a code lens shows. */
export function resultHeadline(results: ExperimentResultsSummary | undefined): ResultHeadline | undefined {
  const metric = results?.metrics.find((m) => m.role === 'primary') ?? results?.metrics[0];
  if (metric === undefined) {
    return undefined;
  }
  for (const v of metric.variations) {
    const c = v.comparison;
    if (c === null || c.error !== null) {
      continue;
    }
    const relative = c.difference === 'relative';
    const scale = relative ? 100 : 1;
    // The corrected interval and p-value: the ones `significant` agrees with, as the console shows.
    const [lo, hi] = c.adjustedCi ?? c.ci;
    return {
      metric: metric.name,
      variation: v.variation,
      effect: c.effect * scale,
      halfWidth: lo === null || hi === null ? null : ((hi - lo) / 2) * scale,
      relative,
      significant: c.significant,
      chanceToWin: c.chanceToWin,
      pValue: c.adjustedPValue ?? c.pValue,
    };
  }
  return undefined;
}

export function formatHeadline(h: ResultHeadline): string {
  const unit = h.relative ? '%' : '';
  const sign = h.effect >= 0 ? '+' : '';
  const width = h.halfWidth === null ? '' : ` ±${h.halfWidth.toFixed(1)}`;
  return `${sign}${h.effect.toFixed(1)}${unit}${width}`;
}

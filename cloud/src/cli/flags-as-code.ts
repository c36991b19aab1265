import { z } from 'zod';
import YAML from 'yaml';
import type { AppliedChange, ApplyChange, ApplyResult, DefinitionPath, Experiment, Flag, FlagEnvironment, XpApiClient } from '@xp/shared';
import { ApiError, EXPERIMENT_DECISION_FIELDS, EXPERIMENT_LIFECYCLE_FIELDS, experimentSchema, flagSchema, groupsNamedIn, holdoutSchema, keySchema, metricSchema, reassigningFields, segmentSchema } from '@xp/shared';
import type { DiffEntry } from '../domain/json-diff.js';
import { jsonDiff } from '../domain/json-diff.js';
import { APPLY_ORDER, MAX_APPLY_CHANGES } from '../domain/apply.js';
import { issuesOf } from '../domain/validation.js';
import { AppError, AppErrorCode } from '../errors.js';
import type { BrokenReference } from './references.js';
import { introducedProblems } from './references.js';

/** Flags as code: a project's definitions as one YAML or JSON document kept in git. */
export const documentSchema = z.strictObject({
  xp: z.literal(1),
  project: keySchema,
  segments: z.array(segmentSchema).default([]),
  holdouts: z.array(holdoutSchema).default([]),
  metrics: z.array(metricSchema).default([]),
  experiments: z.array(experimentSchema).default([]),
  flags: z.array(flagSchema).default([]),
});
export type FlagsDocument = z.output<typeof documentSchema>;

/** Apply order: what others refer to first. */
const KINDS: readonly DefinitionPath[] = APPLY_ORDER;

export interface PlannedChange {
  readonly kind: DefinitionPath;
  readonly key: string;
  readonly action: 'create' | 'update' | 'delete';
  /** The version the change is based on (updates and deletes). */
  readonly version?: number;
  readonly definition?: unknown;
  /** What an update replaces (its configuration, as compared). */
  readonly before?: unknown;
  readonly diff: DiffEntry[];
}

/** A parsed file and where each of its values is, to name the line of a problem. */
interface ParsedSource {
  readonly value: unknown;
  /** The 1-based line of the value at `path`, or of its nearest enclosing value. */
  readonly lineOf: (path: readonly PropertyKey[]) => number | undefined;
}

/** Control characters (an escape sequence in a file or a key) are shown as escapes, never sent to the terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function locator(doc: YAML.Document, counter: YAML.LineCounter): ParsedSource['lineOf'] {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
      if (YAML.isNode(node) && node.range !== undefined && node.range !== null) {
        return counter.linePos(node.range[0]).line;
      }
    }
    return undefined;
  };
}

/**
 * A JSON file's value. A key written twice is refused, as the YAML parser refuses it: JSON.parse
 * keeps the last one, so `"project"` twice silently chose which project a document applied to.
 */
function parseJsonSource(text: string, source: string): ParsedSource {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AppError(AppErrorCode.Validation, `${source} is not valid JSON: ${e instanceof Error ? e.message : ''}`);
  }
  const counter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, lineCounter: counter });
  const twice = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
  if (twice !== undefined) {
    throw new AppError(AppErrorCode.Validation, `${source} is not valid JSON: a key is written twice at line ${twice.linePos?.[0].line ?? '?'}, column ${twice.linePos?.[0].col ?? '?'}`);
  }
  return { value, lineOf: doc.errors.length === 0 ? locator(doc, counter) : () => undefined };
}

export function parseJsonFile(text: string, source: string): unknown {
  return parseJsonSource(text, source).value;
}

/** A YAML file's value; a tag xp does not know (`!custom`) is refused rather than read as a plain string. */
function parseYamlSource(text: string, source: string): ParsedSource {
  const counter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: counter });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    throw new AppError(AppErrorCode.Validation, `${source} is not valid YAML: ${problem.message}`);
  }
  try {
    return { value: doc.toJS(), lineOf: locator(doc, counter) };
  } catch (e) {
    // An alias expanded too often (a "billion laughs" file).
    throw new AppError(AppErrorCode.Validation, `${source} is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function parseDocument(text: string, source: string): FlagsDocument {
  const { value: raw, lineOf } = source.endsWith('.json') ? parseJsonSource(text, source) : parseYamlSource(text, source);
  const at = (path: readonly PropertyKey[]): string => {
    const line = lineOf(path);
    return line === undefined ? '' : ` (line ${line})`;
  };
  const result = documentSchema.safeParse(raw);
  if (!result.success) {
    // An issue of the whole document (an empty file) has no path: it is named "(document)". An
    // unknown key's line is the key's own.
    const issues = issuesOf(result.error).map((issue, i) => {
      const zodIssue = result.error.issues[i]!;
      const where = zodIssue.code === 'unrecognized_keys' ? [...zodIssue.path, ...zodIssue.keys.slice(0, 1)] : zodIssue.path;
      return { ...issue, path: `${issue.path === '' ? '(document)' : issue.path}${at(where)}` };
    });
    throw new AppError(AppErrorCode.Validation, `${source}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
  }
  for (const kind of KINDS) {
    const seen = new Map<string, number>();
    for (const [i, d] of result.data[kind].entries()) {
      const first = seen.get(d.key);
      if (first !== undefined) {
        throw new AppError(AppErrorCode.Validation, `${source}: ${kind} has "${d.key}" twice (${kind}[${first}]${at([kind, first])} and ${kind}[${i}]${at([kind, i])})`);
      }
      seen.set(d.key, i);
    }
  }
  // The schema fills in a status the file left out: which experiments set one is kept apart.
  const rawExperiments = (raw as { experiments?: unknown }).experiments;
  result.data.experiments.forEach((experiment, i) => {
    const given: unknown = Array.isArray(rawExperiments) ? rawExperiments[i] : undefined;
    if (typeof given === 'object' && given !== null && 'status' in given) {
      STATUS_GIVEN.add(experiment);
    }
  });
  return result.data;
}

/** Experiments of parsed documents whose file names a status (the schema defaults it to draft otherwise). */
const STATUS_GIVEN = new WeakSet<object>();

export async function exportDocument(client: XpApiClient, project: string): Promise<FlagsDocument> {
  const doc: FlagsDocument = { xp: 1, project, segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  for (const kind of KINDS) {
    // Archived definitions are exported too, so `apply --prune` never deletes what export left out.
    const items = await client.listAll(project, kind, { archived: true });
    (doc[kind] as unknown[]) = items.map((i) => i.definition);
  }
  return doc;
}

/** Scalars of YAML 1.2's core schema other than strings (`0o17` is the number 15 there, a string in YAML 1.1). */
const CORE_NON_STRINGS = new YAML.Document(null).schema.tags.flatMap((tag) =>
  tag.default === true && tag.tag !== 'tag:yaml.org,2002:str' && 'test' in tag && tag.test instanceof RegExp ? [tag.test] : [],
);

export function serializeDocument(doc: FlagsDocument, format: 'yaml' | 'json'): string {
  if (format === 'json') {
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  // Written for YAML 1.1 readers too (PyYAML, older tools): strings such as on, off, yes and no are
  // quoted, or they would read back as booleans. xp reads YAML 1.2, so a string that is something
  // else there (0o17, an octal number) is quoted as well.
  const yaml = new YAML.Document(doc, { version: '1.1' });
  YAML.visit(yaml, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && CORE_NON_STRINGS.some((test) => test.test(node.value as string))) {
        node.type = YAML.Scalar.QUOTE_DOUBLE;
      }
    },
  });
  return yaml.toString({ lineWidth: 0 });
}

const RUNTIME_FIELDS: { readonly [K in DefinitionPath]?: readonly string[] } = { experiments: [...EXPERIMENT_LIFECYCLE_FIELDS, ...EXPERIMENT_DECISION_FIELDS] };

/**
 * A definition without the fields that are runtime state rather than configuration (an experiment's
 * status, start and stop times and decision: the lifecycle actions set them, and the API keeps them
 * on a replace that leaves them out). An export taken before a start or a stop must not undo it.
 */
function configurationOf(kind: DefinitionPath, definition: unknown): unknown {
  const runtime = RUNTIME_FIELDS[kind];
  if (runtime === undefined || typeof definition !== 'object' || definition === null) {
    return definition;
  }
  return Object.fromEntries(Object.entries(definition).filter(([field]) => !runtime.includes(field)));
}

/** The flags a flag's prerequisites name, in any environment. */
/** The definitions of the same kind one names: a flag's prerequisites, the id lists a segment's condition names. */
function parentsOf(kind: string, definition: unknown): string[] {
  if (kind === 'segments') {
    const condition = (definition as { condition?: unknown }).condition;
    return condition === undefined ? [] : [...groupsNamedIn(condition)];
  }
  const environments: Record<string, Partial<FlagEnvironment>> = (definition as Partial<Flag>).environments ?? {};
  return Object.values(environments).flatMap((state) => (state.prerequisites ?? []).map((p) => p.flag));
}

/**
 * Changes of one kind ordered so that a definition comes after those it names — a flag after its
 * prerequisites, a segment after the id lists its condition names (the API refuses a reference to
 * one that does not exist yet); deletions the other way round.
 */
function namedFirst(kind: string, changes: readonly PlannedChange[]): PlannedChange[] {
  const byKey = new Map(changes.map((c) => [c.key, c]));
  const ordered: PlannedChange[] = [];
  const placed = new Set<string>();
  const place = (change: PlannedChange, path: ReadonlySet<string>): void => {
    if (placed.has(change.key) || path.has(change.key)) {
      return;
    }
    for (const parent of parentsOf(kind, change.definition)) {
      const before = byKey.get(parent);
      if (before !== undefined) {
        place(before, new Set([...path, change.key]));
      }
    }
    placed.add(change.key);
    ordered.push(change);
  };
  for (const change of changes) {
    place(change, new Set());
  }
  return ordered;
}

/** What applying a document would do, and why the API would refuse it (then nothing is applied). */
export interface Plan {
  readonly changes: PlannedChange[];
  /** References the result would leave broken. */
  readonly problems: BrokenReference[];
  /** Changes the API refuses whatever the rest of the document says: moving units of a started experiment, deleting a running one. */
  readonly refusals: BrokenReference[];
  /** Runtime state the document sets differently from the project (an experiment's status): never applied, said so. */
  readonly ignored: string[];
}


const REASSIGNMENT =
  'the experiment has started, and this changes which variation its units get (units already exposed would be counted in a variation they no longer see); turn stickyBucketing on for it first, in an apply of its own, or create a new experiment for a new split';

/** What applying the document would change; deletions only when `prune`. */
export async function planApply(client: XpApiClient, doc: FlagsDocument, options: { prune: boolean }): Promise<Plan> {
  const plan: PlannedChange[] = [];
  const deletions: PlannedChange[] = [];
  const refusals: BrokenReference[] = [];
  const ignored: string[] = [];
  const before: { [K in DefinitionPath]: unknown[] } = { segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  for (const kind of KINDS) {
    const listed = await client.listAll(doc.project, kind, { archived: true });
    before[kind] = listed.map((i) => i.definition);
    const current = new Map(listed.map((i) => [i.key, i]));
    const writes: PlannedChange[] = [];
    const removals: PlannedChange[] = [];
    for (const desired of doc[kind]) {
      const existing = current.get(desired.key);
      if (existing === undefined) {
        writes.push({ kind, key: desired.key, action: 'create', definition: desired, diff: jsonDiff(undefined, desired) });
      } else {
        const definition = configurationOf(kind, desired);
        const diff = jsonDiff(configurationOf(kind, existing.definition), definition);
        ignored.push(...runtimeDifferences(kind, desired, existing.definition));
        if (diff.length > 0) {
          writes.push({ kind, key: desired.key, action: 'update', version: existing.version, definition, before: configurationOf(kind, existing.definition), diff });
          if (kind === 'experiments') {
            for (const field of reassigningFields(existing.definition as Experiment, desired as Experiment)) {
              refusals.push({ path: `experiments.${desired.key}.${field}`, message: REASSIGNMENT });
            }
          }
        }
        current.delete(desired.key);
      }
    }
    if (options.prune) {
      for (const leftover of current.values()) {
        if (kind === 'experiments' && (leftover.definition as Experiment).status === 'running') {
          refusals.push({ path: `experiments.${leftover.key}`, message: 'is running and not in the document: stop it before pruning deletes it (with its exposures and results)' });
        }
        // The stored definition rides along only to order the deletions; a delete sends none.
        removals.push({ kind, key: leftover.key, action: 'delete', version: leftover.version, definition: leftover.definition, diff: jsonDiff(leftover.definition, undefined) });
      }
    }
    plan.push(...namedFirst(kind, writes));
    // Deletions run after every write, kinds in reverse (what refers to others first).
    deletions.unshift(...namedFirst(kind, removals).reverse());
  }
  const environments = (await client.environments(doc.project)).map((e) => e.key);
  return { changes: [...plan, ...deletions], problems: introducedProblems(before, doc, options.prune, environments), refusals, ignored };
}

/** The runtime fields the document sets to something else than the project has, one line per definition. */
function runtimeDifferences(kind: DefinitionPath, desired: object, existing: unknown): string[] {
  const stored = (typeof existing === 'object' && existing !== null ? existing : {}) as Record<string, unknown>;
  const wanted = desired as Record<string, unknown>;
  // The document schema defaults status to draft: a document that leaves it out says nothing about it.
  const said = (field: string): boolean => wanted[field] !== undefined && !(field === 'status' && wanted[field] === 'draft' && !STATUS_GIVEN.has(desired));
  const differing = (RUNTIME_FIELDS[kind] ?? []).filter((field) => said(field) && jsonDiff(stored[field], wanted[field]).length > 0);
  if (differing.length === 0) {
    return [];
  }
  const fields = differing.map((f) => `${f} ${JSON.stringify(wanted[f])} (the project has ${stored[f] === undefined ? 'none' : JSON.stringify(stored[f])})`);
  return [`${kind.replace(/s$/, '')} ${String(wanted.key)}: ${fields.join(', ')}`];
}

/** Why the plan cannot be applied, as one error naming each problem, with nothing applied; undefined when it can. */
export function planError(plan: Pick<Plan, 'problems' | 'refusals'>): AppError | undefined {
  const { problems, refusals } = plan;
  if (problems.length === 0 && refusals.length === 0) {
    return undefined;
  }
  const why = [
    ...(problems.length === 0 ? [] : [`the result would have ${problems.length === 1 ? 'a broken reference' : `${problems.length} broken references`}`]),
    ...(refusals.length === 0 ? [] : [`the API would refuse ${refusals.length === 1 ? 'a change' : `${refusals.length} changes`} to a started experiment`]),
  ];
  const issues = [...problems, ...refusals].map((p) => ({ path: p.path, message: p.message }));
  return new AppError(AppErrorCode.Validation, `nothing was applied: ${why.join(', and ')}; fix the document (or the project) first`, { issues });
}

export function describePlan(plan: readonly PlannedChange[], ignored: readonly string[] = []): string {
  if (plan.length === 0) {
    return ignored.length === 0 ? 'No changes: the project already matches the document.' : 'No changes to apply.';
  }
  const lines: string[] = [];
  for (const change of plan) {
    const sign = change.action === 'create' ? '+' : change.action === 'delete' ? '-' : '~';
    lines.push(`${sign} ${label(change)} (${change.action})`);
    if (change.action === 'update') {
      for (const d of change.diff.slice(0, 50)) {
        const from = d.from === undefined ? '' : ` ${JSON.stringify(d.from)}`;
        const to = d.to === undefined ? '' : ` ${JSON.stringify(d.to)}`;
        lines.push(`    ${d.op} ${d.path || '/'}${from}${from !== '' && to !== '' ? ' →' : ''}${to}`);
      }
      if (change.diff.length > 50) {
        lines.push(`    … and ${change.diff.length - 50} more`);
      }
    }
  }
  const count = (a: PlannedChange['action']): number => plan.filter((c) => c.action === a).length;
  lines.push('', `Plan: ${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete.`);
  return lines.join('\n');
}

function label(change: { readonly kind: string; readonly key: string }): string {
  return `${change.kind.replace(/s$/, '')} ${change.key}`;
}

/**
 * Sends the plan in one request (`POST …/apply`): the API makes every change in one transaction,
 * each with the checks it makes alone (permissions, versions, protected environments), so either
 * all of them are applied or, at the first refusal, none. `dryRun` makes the same checks and writes
 * nothing. A refusal is an AppError naming the change, with the API's details (issues, problems,
 * environments) and the ApiError as its cause.
 */
export async function applyPlan(client: XpApiClient, project: string, plan: readonly PlannedChange[], log: (line: string) => void, options: { readonly dryRun?: boolean } = {}): Promise<AppliedChange[]> {
  if (plan.length > MAX_APPLY_CHANGES) {
    throw new AppError(AppErrorCode.Validation, `nothing was applied: the plan has ${plan.length} changes and one apply takes at most ${MAX_APPLY_CHANGES.toLocaleString('en-US')}; apply the document in parts`);
  }
  const changes: ApplyChange[] = plan.map((c) => ({
    kind: c.kind,
    action: c.action,
    key: c.key,
    ...(c.action === 'create' ? {} : { version: c.version! }),
    ...(c.action === 'delete' ? {} : { definition: c.definition }),
  }));
  let applied: ApplyResult;
  try {
    applied = await client.apply(project, changes, { dryRun: options.dryRun === true });
  } catch (e) {
    if (!(e instanceof ApiError)) {
      throw e;
    }
    const why = options.dryRun === true ? 'the API would refuse the plan' : 'nothing was applied';
    throw new AppError(AppErrorCode.InvalidState, `${why}: ${e.message}`, e.details, { cause: e });
  }
  if (options.dryRun !== true) {
    for (const change of applied.changes) {
      log(`  ${change.action}d ${label(change)}`);
    }
  }
  return applied.changes;
}

/** A flag's state in an environment that needs approval, held back from an apply to be proposed as a change request. */
export interface Proposal {
  readonly flag: string;
  readonly environment: string;
  readonly state: FlagEnvironment;
}

/**
 * `xp apply --propose`: takes out of the plan the flag states it changes in `approvalEnvironments`
 * (where the caller's role needs an approved change request) and returns them as proposals. An
 * update keeps the stored state there (and is dropped when nothing else changes); a new flag is
 * created off there (which needs no approval) and its state proposed. What a change request cannot
 * carry — a state removed, variations' values, archiving — stays in the plan, for the API to refuse.
 */
export function holdBackApprovals(plan: readonly PlannedChange[], approvalEnvironments: readonly string[]): { changes: PlannedChange[]; proposals: Proposal[] } {
  const changes: PlannedChange[] = [];
  const proposals: Proposal[] = [];
  for (const change of plan) {
    if (change.kind !== 'flags' || change.action === 'delete') {
      changes.push(change);
      continue;
    }
    const desired = change.definition as Flag;
    const before = change.before as Flag | undefined;
    const environments = new Map(Object.entries(desired.environments));
    for (const env of approvalEnvironments) {
      const want = desired.environments[env];
      const had = before?.environments[env];
      if (want === undefined || (before === undefined ? !want.enabled : jsonDiff(had, want).length === 0)) {
        continue;
      }
      proposals.push({ flag: change.key, environment: env, state: want });
      if (had !== undefined) {
        environments.set(env, had);
      } else if (before === undefined) {
        environments.set(env, { ...want, enabled: false });
      } else {
        environments.delete(env);
      }
    }
    const definition = { ...desired, environments: Object.fromEntries(environments) };
    const diff = jsonDiff(before, definition);
    if (change.action === 'update' && diff.length === 0) {
      continue;
    }
    changes.push({ ...change, definition, diff: change.action === 'create' ? jsonDiff(undefined, definition) : diff });
  }
  return { changes, proposals };
}

/** The id of an open change request that already proposes this state, if any. */
export async function openRequestProposing(client: XpApiClient, project: string, p: Proposal): Promise<string | undefined> {
  const open = await client.changeRequests(project, { status: 'open', resourceKey: p.flag, limit: 100 });
  return open.items.find((r) => r.environment === p.environment && jsonDiff(r.proposed, p.state).length === 0)?.id;
}

/**
 * Proposes each held-back state against the flag's version after the apply (`applied`), or the
 * version planned (`planned`: the whole plan, before the states were held back) when the apply did
 * not write the flag, unless an open change request already
 * proposes the same state there. Stops at the first failure, naming it.
 */
export async function proposeHeldBack(
  client: XpApiClient,
  project: string,
  proposals: readonly Proposal[],
  versions: { readonly planned: readonly PlannedChange[]; readonly applied: readonly AppliedChange[] },
  log: (line: string) => void,
  comment?: string,
): Promise<void> {
  for (const [done, p] of proposals.entries()) {
    const version = versions.applied.find((c) => c.kind === 'flags' && c.key === p.flag)?.version ?? versions.planned.find((c) => c.kind === 'flags' && c.key === p.flag)?.version;
    if (version === undefined) {
      throw new AppError(AppErrorCode.Internal, `flag ${p.flag} is neither in the plan nor applied`);
    }
    try {
      // Run again (a CI job on every push), the same proposal is not made twice.
      const same = await openRequestProposing(client, project, p);
      if (same !== undefined) {
        log(`  already proposed: flag ${p.flag} in ${p.environment} (change request ${same})`);
        continue;
      }
      const request = await client.proposeChange(project, { resourceKey: p.flag, environment: p.environment, state: p.state, baseVersion: version, ...(comment === undefined ? {} : { comment }) });
      log(`  proposed flag ${p.flag} in ${p.environment}: change request ${request.id}`);
    } catch (e) {
      const progress = done === 0 ? 'none was proposed' : `${done} of ${proposals.length} proposed (listed above)`;
      throw new AppError(AppErrorCode.InvalidState, `the file was applied, but proposing flag ${p.flag} in ${p.environment} failed: ${e instanceof Error ? e.message : String(e)}; ${progress}. Propose the rest from the console or run the apply again`, e instanceof ApiError ? e.details : undefined, { cause: e });
    }
  }
}

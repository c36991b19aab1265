import { checkRuleset, checkRulesetEnvelope } from '@xp/shared/eval';
import { clientRuleset, hasServerOnlyKeys } from '@xp/shared/edge';
import type { Ruleset, ServerOnlyKeys } from '@xp/shared/edge';
import { RulesetError } from './errors.js';
import type { RulesetChange } from './types.js';

/** A ruleset document the client agreed to serve. */
export interface LoadedRuleset {
  /** Without `serverOnly` (evaluation reads strict documents); deeply frozen. */
  readonly document: RulesetDocument;
  readonly version: number;
  /** True when the whole document is valid (`rulesetSchema`); false when only its envelope is. */
  readonly complete: boolean;
  /** The keys client-side SDK keys do not get, when the document listed any (`?include=serverOnly`). */
  readonly serverOnly?: ServerOnlyKeys;
}

/** The top-level field listing the server-side-only keys beside a ruleset (`GET /sdk/v1/ruleset?include=serverOnly`). */
export const SERVER_ONLY_FIELD = 'serverOnly';

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Objects reachable from `value`, frozen (already frozen ones are not walked again). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) {
      deepFreeze(inner);
    }
  }
  return value;
}

/**
 * What a browser may see of a ruleset: without the server-side-only flags and experiments and the
 * id lists and holdouts only they use (the server's own clientRuleset). A partly invalid document
 * the server's walk cannot read loses the listed keys alone.
 */
export function browserSafe(document: RulesetDocument, serverOnly: ServerOnlyKeys | undefined): RulesetDocument {
  if (!hasServerOnlyKeys(serverOnly)) {
    return document;
  }
  try {
    return clientRuleset(document as unknown as Ruleset, serverOnly) as unknown as RulesetDocument;
  } catch {
    const without = (entries: Readonly<Record<string, unknown>> | undefined, keys: readonly string[]): Record<string, unknown> | undefined =>
      entries === undefined ? undefined : Object.fromEntries(Object.entries(entries).filter(([k]) => !keys.includes(k)));
    const experiments = without(document.experiments, serverOnly.experiments);
    return { ...document, flags: without(document.flags, serverOnly.flags) ?? {}, ...(experiments === undefined ? {} : { experiments }) };
  }
}

/** The envelope fields the client reads itself; evaluation reads the rest. */
export interface RulesetDocument {
  readonly version: number;
  readonly environment: string;
  readonly flags: Readonly<Record<string, unknown>>;
  readonly experiments?: Readonly<Record<string, unknown>>;
  readonly savedGroups?: Readonly<Record<string, unknown>>;
  readonly holdouts?: Readonly<Record<string, unknown>>;
}

/** Validates a candidate (JSON text or an object); a RulesetError when even the envelope is wrong. */
export function loadRuleset(candidate: unknown): LoadedRuleset | RulesetError {
  let value = candidate;
  if (typeof candidate === 'string') {
    try {
      value = JSON.parse(candidate);
    } catch (e) {
      // A bootstrap given as a file's path rather than its contents.
      const path = !candidate.trimStart().startsWith('{') && /^[\w./\\~:-]+\.json$/i.test(candidate.trim());
      return new RulesetError(path ? 'the ruleset is not JSON: bootstrap takes the ruleset document or its JSON text, not a file path (read the file and pass its contents)' : 'the ruleset is not JSON', { cause: e });
    }
  }
  if (typeof candidate === 'object' && candidate !== null && typeof structuredClone === 'function') {
    // The caller's object (a bootstrap): a copy, so that neither freezing it nor the caller changing
    // it later touches the other.
    try {
      value = structuredClone(candidate);
    } catch (e) {
      return new RulesetError('the ruleset is not plain JSON data', { cause: e });
    }
  }
  let serverOnly: ServerOnlyKeys | undefined;
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, SERVER_ONLY_FIELD)) {
    // Not part of the ruleset schema (strict): the list of keys beside it, taken off before checking.
    const { [SERVER_ONLY_FIELD]: listed, ...rest } = value as Record<string, unknown>;
    const keys = listed as { flags?: unknown; experiments?: unknown } | null | undefined;
    if (typeof keys !== 'object' || keys === null || !isStringArray(keys.flags ?? []) || !isStringArray(keys.experiments ?? [])) {
      return new RulesetError('invalid ruleset: serverOnly must be { flags: string[], experiments: string[] }');
    }
    const found = { flags: [...((keys.flags as string[] | undefined) ?? [])], experiments: [...((keys.experiments as string[] | undefined) ?? [])] };
    serverOnly = hasServerOnlyKeys(found) ? found : undefined;
    value = rest;
  }
  // The dependency-free validator (the same rules as the zod schemas), so browser bundles carry no zod.
  const problems = checkRulesetEnvelope(value, '');
  if (problems.length > 0) {
    return new RulesetError(`invalid ruleset: ${problems[0] ?? 'unknown issue'}`, { cause: problems });
  }
  const complete = checkRuleset(value, '').length === 0;
  // Evaluation compiles the document (cached per object identity): frozen, so that no caller holding
  // it (getSnapshot) can half-change what the client serves.
  const document = deepFreeze(value as RulesetDocument);
  return { document, version: document.version, complete, ...(serverOnly === undefined ? {} : { serverOnly }) };
}

/**
 * Whether `next` may replace `current`: a complete document always may; a partly invalid one
 * (some flag fails the schema) only replaces nothing or another partly invalid one, so the last
 * fully valid ruleset is never given up for a broken one.
 */
export function mayReplace(current: LoadedRuleset | undefined, next: LoadedRuleset): boolean {
  return next.complete || current === undefined || !current.complete;
}

/** Whether two JSON values are equal whatever the order of object keys; array order counts. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  if (Array.isArray(a)) {
    const right = b as readonly unknown[];
    if (a.length !== right.length) {
      return false;
    }
    for (let i = 0; i < a.length; i++) {
      if (!sameJson(a[i], right[i])) {
        return false;
      }
    }
    return true;
  }
  // As JSON.stringify: a key holding undefined is an absent key.
  const left = a as Readonly<Record<string, unknown>>;
  const right = b as Readonly<Record<string, unknown>>;
  const keys = Object.keys(left).filter((k) => left[k] !== undefined);
  if (keys.length !== Object.keys(right).filter((k) => right[k] !== undefined).length) {
    return false;
  }
  return keys.every((k) => Object.hasOwn(right, k) && sameJson(left[k], right[k]));
}

function changedKeys(a: Readonly<Record<string, unknown>> | undefined, b: Readonly<Record<string, unknown>> | undefined): Set<string> {
  const out = new Set<string>();
  const left = a ?? {};
  const right = b ?? {};
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    if (!sameJson(left[key], right[key])) {
      out.add(key);
    }
  }
  return out;
}

/** Whether a condition (any JSON inside it) names one of the groups with `$inGroup` / `$notInGroup`. */
function namesGroup(value: unknown, groups: ReadonlySet<string>): boolean {
  if (Array.isArray(value)) {
    return value.some((item) => namesGroup(item, groups));
  }
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  return Object.entries(value).some(([key, inner]) =>
    (key === '$inGroup' || key === '$notInGroup') && typeof inner === 'string' ? groups.has(inner) : namesGroup(inner, groups),
  );
}

interface FlagRefs {
  readonly prerequisites?: readonly { readonly flag?: unknown }[];
  readonly rules?: readonly { readonly type?: unknown; readonly experiment?: unknown; readonly condition?: unknown }[];
}

interface ExperimentRefs {
  readonly condition?: unknown;
  readonly holdout?: unknown;
}

/**
 * Flags whose results may differ between two rulesets, including through experiments, prerequisites,
 * saved groups (segments are compiled into `$inGroup` conditions) and holdouts. Object key order is
 * not a change: a restarted server may republish the same ruleset with its keys in another order.
 */
export function diffRulesets(previous: RulesetDocument | undefined, next: RulesetDocument): RulesetChange {
  const flags = changedKeys(previous?.flags, next.flags);
  const experiments = changedKeys(previous?.experiments, next.experiments);
  const groups = changedKeys(previous?.savedGroups, next.savedGroups);
  const holdouts = changedKeys(previous?.holdouts, next.holdouts);
  if (groups.size > 0 || holdouts.size > 0) {
    for (const [key, def] of Object.entries(next.experiments ?? {}) as [string, ExperimentRefs | undefined][]) {
      if ((typeof def?.holdout === 'string' && holdouts.has(def.holdout)) || (groups.size > 0 && namesGroup(def?.condition, groups))) {
        experiments.add(key);
      }
    }
  }
  const keys = Object.keys(next.flags);
  let grew = true;
  while (grew) {
    grew = false;
    for (const key of keys) {
      if (flags.has(key)) {
        continue;
      }
      const flag = next.flags[key] as FlagRefs | undefined;
      const dependsOnChange =
        flag?.rules?.some(
          (r) => (r.type === 'experiment' && typeof r.experiment === 'string' && experiments.has(r.experiment)) || (groups.size > 0 && namesGroup(r.condition, groups)),
        ) === true || flag?.prerequisites?.some((p) => typeof p.flag === 'string' && flags.has(p.flag)) === true;
      if (dependsOnChange) {
        flags.add(key);
        grew = true;
      }
    }
  }
  return { flags: [...flags], experiments: [...experiments], version: next.version };
}

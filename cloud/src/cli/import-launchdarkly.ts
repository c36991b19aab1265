import { z } from 'zod';
import type { Condition, Flag, FlagInput, JsonValue, RuleInput, Segment, SegmentInput } from '@xp/shared';
import { FlagType, compileCondition, flagSchema, formatIssues, keySchema, segmentSchema } from '@xp/shared';
import { KeyAllocator, importEnvironment, inferType, invalid, isPlainObject, segmentsNamedByRules, variationKeyCandidate, variationName } from './import-growthbook.js';
import { ImportedKeys, KEY_RULES } from './import-keys.js';
import type { ExistingDefinition } from './import-keys.js';

/**
 * `xp import launchdarkly`: converts LaunchDarkly's server-side SDK data for one environment
 * (`{ flags, segments }`, what `/sdk/latest-all`, the relay and the file data source serve) into xp
 * flags and segments that serve every context what LaunchDarkly serves it, under the context mapping
 * of `attributesForContext`. A flag xp cannot reproduce is left out with a warning naming it.
 */

export type { ExistingDefinition } from './import-keys.js';

export interface LaunchDarklyImportOptions {
  /** The xp environment the flags' state is imported into. */
  readonly environment: string;
  /** The project's flags, so that a key keeps the LaunchDarkly flag it was imported from. */
  readonly existingFlags?: readonly ExistingDefinition[];
  /** The project's segments, likewise. */
  readonly existingSegments?: readonly ExistingDefinition[];
}

export interface LaunchDarklyImportResult {
  readonly flags: Flag[];
  readonly segments: Segment[];
  readonly warnings: string[];
  /** The LaunchDarkly keys of the flags left out (deleted flags are not counted). */
  readonly skippedFlags: string[];
}

const clauseInput = z.looseObject({
  attribute: z.string().optional(),
  op: z.string(),
  values: z.array(z.json()).default([]),
  negate: z.boolean().optional(),
  contextKind: z.string().optional(),
});
type LdClause = z.output<typeof clauseInput>;

const rolloutInput = z.looseObject({
  variations: z.array(z.looseObject({ variation: z.number(), weight: z.number(), untracked: z.boolean().optional() })),
  bucketBy: z.string().optional(),
  contextKind: z.string().optional(),
  seed: z.number().optional(),
  kind: z.string().optional(),
});
type LdRollout = z.output<typeof rolloutInput>;

const servedInput = z.looseObject({ variation: z.number().optional(), rollout: rolloutInput.optional() });
type LdServed = z.output<typeof servedInput>;

const targetInput = z.looseObject({ values: z.array(z.string()), variation: z.number(), contextKind: z.string().optional() });
type LdTarget = z.output<typeof targetInput>;

const flagInput = z.looseObject({
  key: z.string().optional(),
  on: z.boolean().optional(),
  variations: z.array(z.json()).default([]),
  offVariation: z.number().nullable().optional(),
  fallthrough: servedInput.optional(),
  targets: z.array(targetInput).default([]),
  contextTargets: z.array(targetInput).default([]),
  rules: z.array(servedInput.extend({ id: z.string().optional(), clauses: z.array(clauseInput).default([]) })).default([]),
  prerequisites: z.array(z.looseObject({ key: z.string(), variation: z.number() })).default([]),
  clientSideAvailability: z.looseObject({ usingEnvironmentId: z.boolean().optional() }).optional(),
  clientSide: z.boolean().optional(),
  deleted: z.boolean().optional(),
});
type LdFlag = z.output<typeof flagInput>;

const contextListInput = z.array(z.looseObject({ contextKind: z.string(), values: z.array(z.string()) }));
const segmentInput = z.looseObject({
  key: z.string().optional(),
  included: z.array(z.string()).default([]),
  excluded: z.array(z.string()).default([]),
  includedContexts: contextListInput.default([]),
  excludedContexts: contextListInput.default([]),
  rules: z.array(z.looseObject({ clauses: z.array(clauseInput).default([]), weight: z.number().nullable().optional() })).default([]),
  unbounded: z.boolean().optional(),
  deleted: z.boolean().optional(),
});
type LdSegment = z.output<typeof segmentInput>;

const dataInput = z.looseObject({
  flags: z.record(z.string(), z.unknown()).default({}),
  segments: z.record(z.string(), z.unknown()).default({}),
  flagValues: z.record(z.string(), z.json()).default({}),
});

const DATA_KEYS = new Set(['flags', 'segments', 'flagValues']);
const TAGS = ['launchdarkly'];
const USER = 'user';
/** Never true: `$in` an empty list (an empty `$or` would be always true). */
const NEVER: Condition = { id: { $in: [] } };
/** The most rules one LaunchDarkly rule becomes (one per combination of segments it may match). */
const MAX_RULES_PER_RULE = 20;

/** A flag that cannot be converted exactly; caught per flag and turned into a warning. */
class Unconvertible extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'Unconvertible';
  }
}

/** The attributes an old-style user (no `kind`) has besides `custom`; LaunchDarkly ignores its other top-level names. */
const LEGACY_BUILT_INS = ['name', 'ip', 'firstName', 'lastName', 'email', 'avatar', 'country'] as const;

/** An old-style user as LaunchDarkly's SDK reads it: `custom` at the top, then the built-in attributes over it. */
function legacyUser(user: Record<string, unknown>): Record<string, unknown> {
  const context: Record<string, unknown> = { ...(isPlainObject(user.custom) ? user.custom : {}), kind: USER, key: String(user.key) };
  if (user.anonymous !== undefined && user.anonymous !== null) {
    context.anonymous = Boolean(user.anonymous);
  }
  for (const name of LEGACY_BUILT_INS) {
    if (user[name] !== undefined && user[name] !== null) {
      context[name] = user[name];
    }
  }
  return context;
}

/**
 * An LaunchDarkly context as xp attributes: the user kind's key is `id` and its attributes are at the
 * top level; every other kind K is an attribute `K` holding `{ key, ...attributes }`. A multi-context
 * maps each of its kinds that way. `_meta` (private attribute names) is left out. A context without
 * `kind` is an old-style user: its `custom` attributes go to the top level with the built-in ones.
 */
export function attributesForContext(context: unknown): Record<string, unknown> {
  if (!isPlainObject(context)) {
    return {};
  }
  const kinds: [string, Record<string, unknown>][] =
    context.kind === 'multi'
      ? Object.entries(context).filter((e): e is [string, Record<string, unknown>] => e[0] !== 'kind' && isPlainObject(e[1]))
      : [[typeof context.kind === 'string' ? context.kind : USER, context.kind === undefined ? legacyUser(context) : context]];
  const out: Record<string, unknown> = {};
  for (const [kind, c] of kinds) {
    const { kind: _kind, key, _meta, ...attributes } = c;
    if (kind === USER) {
      Object.assign(out, attributes, { id: key });
    } else {
      out[kind] = { key, ...attributes };
    }
  }
  return out;
}

function allOf(conditions: readonly (Condition | undefined)[]): Condition | undefined {
  const list = conditions.filter((c): c is Condition => c !== undefined);
  return list.length === 0 ? undefined : list.length === 1 ? list[0] : { $and: list };
}

function anyOf(conditions: readonly Condition[]): Condition {
  return conditions.length === 0 ? NEVER : conditions.length === 1 ? conditions[0]! : { $or: [...conditions] };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** An attribute reference (`name`, or `/a/b` unless literal) as its components. */
function referenceParts(attribute: string, literal: boolean): string[] {
  if (literal || !attribute.startsWith('/')) {
    return [attribute];
  }
  const parts = attribute.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (parts.some((p) => p === '')) {
    throw new Unconvertible(`the attribute reference "${attribute}" is invalid, so LaunchDarkly reports an error for the flag`);
  }
  return parts;
}

/** The xp attribute path of an attribute of a context kind, under the documented context mapping. */
export function attributePath(kind: string, parts: readonly string[]): string {
  if (kind.includes('.') || parts.some((p) => p.includes('.'))) {
    throw new Unconvertible(`the attribute "${parts.join('/')}" of kind "${kind}" has a "." in its name, which xp reads as a path`);
  }
  if (kind === USER) {
    if (parts[0] === 'id') {
      throw new Unconvertible('the user attribute "id" is where xp puts the user key');
    }
    return parts.length === 1 && parts[0] === 'key' ? 'id' : parts.join('.');
  }
  return [kind, ...parts].join('.');
}

/** A context kind is in a context when it has a key. */
function hasKind(kind: string): Condition {
  return { [kind === USER ? 'id' : `${kind}.key`]: { $exists: true } };
}

/** Operator objects that are true for a scalar or for some element of an array attribute. */
function scalarOrElement(path: string, tests: readonly Record<string, JsonValue>[]): Condition {
  return anyOf(tests.flatMap((t) => [{ [path]: t }, { [path]: { $elemMatch: t } }]));
}

interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly pre: string | undefined;
}

const NUM = '(?:0|[1-9][0-9]*)';
const BUILD = '(?:\\+[0-9A-Za-z.-]+)?';
/**
 * The versions xp compares as LaunchDarkly does: three parts with an optional pre-release of
 * identifiers without "-", or one or two parts with nothing but build metadata after them (which
 * LaunchDarkly pads with ".0"); empty or zero-led numeric identifiers are not semver.
 */
const VERSION_REGEX = `^(?!.*\\.\\.)(?!.*[-+]\\.)(?!.*\\.\\+)(?!.*\\.$)(?![^+]*[-.]0[0-9]+(?:[.+]|$))(?:${NUM}\\.${NUM}\\.${NUM}(?:-[0-9A-Za-z.]+)?|${NUM}(?:\\.${NUM})?)${BUILD}$`;
const VERSION_ANCHORED = new RegExp(VERSION_REGEX);

/** LaunchDarkly's reading of a clause's version (its SDK pads "2" and "2.1"), or undefined. */
function parseVersion(value: JsonValue): Version | undefined {
  if (typeof value !== 'string' || !VERSION_ANCHORED.test(value)) {
    return undefined;
  }
  const m = /^([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([^+]*))?/.exec(value)!;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0), pre: m[4] };
}

const SEMVER_OPS = {
  semVerEqual: { op: '$veq', not: '$vne', whenShortEqual: (t: Version) => t.pre === undefined },
  semVerLessThan: { op: '$vlt', not: '$vgte', whenShortEqual: () => false },
  semVerGreaterThan: { op: '$vgt', not: '$vlte', whenShortEqual: (t: Version) => t.pre !== undefined },
} as const;

/**
 * A version comparison as an operator object. xp reads "2.9" as shorter than, not equal to, "2.9.0":
 * the one- and two-part versions LaunchDarkly pads to the target's release are decided explicitly.
 */
function versionTest(ld: keyof typeof SEMVER_OPS, t: Version): Record<string, JsonValue> {
  const spec = SEMVER_OPS[ld];
  const target = `${t.major}.${t.minor}.${t.patch}${t.pre === undefined ? '' : `-${t.pre}`}`;
  const short = [...(t.patch === 0 ? [`${t.major}\\.${t.minor}`] : []), ...(t.patch === 0 && t.minor === 0 ? [`${t.major}`] : [])];
  const base = { $type: 'string', $regex: VERSION_REGEX };
  if (short.length === 0) {
    return { ...base, [spec.op]: target };
  }
  const shortRegex = `^(?:${short.join('|')})${BUILD}$`;
  return spec.whenShortEqual(t) ? { ...base, $not: { $not: { $regex: shortRegex }, [spec.not]: target } } : { ...base, $not: { $regex: shortRegex }, [spec.op]: target };
}

const NUMERIC_OPS: Readonly<Record<string, string>> = { lessThan: '$lt', lessThanOrEqual: '$lte', greaterThan: '$gt', greaterThanOrEqual: '$gte' };
const TEXT_OPS = new Set(['startsWith', 'endsWith', 'contains', 'matches']);

interface Notes {
  semver: boolean;
  regex: string[];
}

/**
 * A clause other than segmentMatch as an xp condition. LaunchDarkly's clause is false for a missing
 * or null attribute (or kind), negated or not, and applies its operator to each element of an array.
 */
function clauseCondition(clause: LdClause, notes: Notes): Condition {
  const kind = clause.contextKind ?? USER;
  const parts = referenceParts(clause.attribute ?? '', clause.contextKind === undefined);
  const negate = clause.negate === true;
  if (parts.length === 1 && parts[0] === 'kind') {
    if (clause.op !== 'in') {
      throw new Unconvertible(`a "${clause.op}" clause on the context kind has no xp equivalent`);
    }
    const match = anyOf(clause.values.filter((v): v is string => typeof v === 'string').map(hasKind));
    return negate ? { $not: match } : match;
  }
  if (parts[0] === '') {
    throw new Unconvertible('a clause without an attribute is invalid, so LaunchDarkly reports an error for the flag');
  }
  const path = attributePath(kind, parts);
  let match: Condition;
  if (clause.op === 'in') {
    // Strict (===) in both; an array or object value never equals an attribute, null is never one.
    const list = clause.values.filter((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean');
    match = list.length === 0 ? NEVER : { [path]: { $in: list } };
  } else if (Object.hasOwn(NUMERIC_OPS, clause.op)) {
    // xp's $lt coerces strings and reads missing, "" and true as numbers: only numbers compare in LaunchDarkly.
    match = scalarOrElement(path, clause.values.filter((v) => typeof v === 'number').map((n) => ({ $type: 'number', [NUMERIC_OPS[clause.op]!]: n })));
  } else if (TEXT_OPS.has(clause.op)) {
    const texts = clause.values.filter((v): v is string => typeof v === 'string');
    let patterns: string[];
    if (clause.op === 'matches') {
      // An invalid pattern never matches in LaunchDarkly.
      patterns = texts.filter((p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      });
      for (const p of patterns) {
        if (/\(\?<?[=!]|\\[1-9]|\\k</.test(p)) {
          notes.regex.push(p);
        }
      }
    } else {
      const alternatives = `(?:${texts.map(escapeRegex).join('|')})`;
      patterns = texts.length === 0 ? [] : [clause.op === 'startsWith' ? `^${alternatives}` : clause.op === 'endsWith' ? `${alternatives}$` : alternatives];
    }
    match = scalarOrElement(path, patterns.map((p) => ({ $type: 'string', $regex: p })));
  } else if (Object.hasOwn(SEMVER_OPS, clause.op)) {
    notes.semver = true;
    const versions = clause.values.map(parseVersion).filter((v): v is Version => v !== undefined);
    if (versions.some((v) => v.pre?.includes('-') === true)) {
      throw new Unconvertible(`a version with "-" inside its pre-release (${JSON.stringify(clause.values)}), which xp orders otherwise`);
    }
    match = scalarOrElement(path, versions.map((v) => versionTest(clause.op as keyof typeof SEMVER_OPS, v)));
  } else if (clause.op === 'before' || clause.op === 'after') {
    throw new Unconvertible(`a date clause ("${clause.op}" on "${clause.attribute ?? ''}"): xp has no date operator, and comparing dates as text would serve some users another value`);
  } else {
    throw new Unconvertible(`the operator "${clause.op}" is not one LaunchDarkly's SDKs know`);
  }
  const present = { [path]: { $exists: true } };
  return negate ? { $and: [present, { $not: match }] } : match;
}

/** The LaunchDarkly key an xp flag or segment was imported from, as its description says. */
const FLAG_ORIGIN = /^Imported from LaunchDarkly flag "(.*)"\.$/s;
const SEGMENT_ORIGIN = /^LaunchDarkly segment "(.*)"(?: \(included users\)\.|: included, else not excluded and matching a rule\.)$/s;

/**
 * xp keys for LaunchDarkly keys that stay with the same LaunchDarkly flag (or segment) from one
 * import to the next: a valid key is kept, a renamed one keeps the key an earlier import gave it, and
 * a new rename takes neither a valid key of the data nor a key the project has.
 */
class StableKeys extends ImportedKeys {
  constructor(what: 'flag' | 'segment', sourceKeys: Iterable<string>, existing: readonly ExistingDefinition[], origin: RegExp) {
    super(what, sourceKeys, existing, origin, true);
  }

  /** The xp key of a LaunchDarkly key; Unconvertible when that key holds another LaunchDarkly flag (or segment). */
  allocate(source: string): string {
    if (keySchema.safeParse(source).success) {
      const from = this.origins.get(source);
      if (from !== undefined && from !== source) {
        throw new Unconvertible(
          `xp ${this.what} "${source}" holds LaunchDarkly ${this.what} "${from}" (an earlier import renamed it so), and giving it to "${source}" would change what uses it gets: rename or delete that xp ${this.what} to import this one`,
        );
      }
      return this.allocator.allocate(source, this.what);
    }
    return this.allocator.allocate(this.earlier.get(source) ?? source, this.what);
  }

}

/** A rule without its id (distributed over the rule types). */
type RuleBody = RuleInput extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

interface ServedRules {
  readonly rules: RuleBody[];
  /** The variation index every unit this serves gets, when it does not depend on bucketing. */
  readonly single?: number;
  readonly split: boolean;
}

class Importer {
  readonly warnings: string[] = [];
  readonly flags: Flag[] = [];
  /** LaunchDarkly keys of the flags left out. */
  readonly skipped: string[] = [];
  private readonly flagKeys: StableKeys;
  readonly segmentKeys: StableKeys;
  /** xp segments by LaunchDarkly segment key, built when a flag first uses them. */
  private readonly xpSegments = new Map<string, Segment>();
  /** LaunchDarkly key → xp key and variation keys of every imported flag. */
  private readonly imported = new Map<string, { key: string; variations: string[]; prerequisites: LdFlag['prerequisites']; offVariation: number | null }>();
  readonly splitFlags: string[] = [];
  readonly semverFlags: string[] = [];

  constructor(
    private readonly environment: string,
    private readonly segments: ReadonlyMap<string, unknown>,
    flagKeys: readonly string[],
    existing: Pick<LaunchDarklyImportOptions, 'existingFlags' | 'existingSegments'>,
  ) {
    this.flagKeys = new StableKeys('flag', flagKeys, existing.existingFlags ?? [], FLAG_ORIGIN);
    this.segmentKeys = new StableKeys('segment', segments.keys(), existing.existingSegments ?? [], SEGMENT_ORIGIN);
  }

  /** The LaunchDarkly segment, or undefined when the data has none by that key (it then matches nobody). */
  private segment(key: string): LdSegment | undefined {
    const raw = this.segments.get(key);
    if (raw === undefined) {
      return undefined;
    }
    const parsed = segmentInput.safeParse(raw);
    if (!parsed.success) {
      throw new Unconvertible(`segment "${key}" is malformed: ${formatIssues(parsed.error).join('; ')}`);
    }
    return parsed.data.deleted === true ? undefined : parsed.data;
  }

  /** Membership of a LaunchDarkly segment: included beats excluded beats rules. */
  segmentCondition(key: string, notes: Notes, visiting: readonly string[] = []): Condition {
    if (visiting.includes(key)) {
      throw new Unconvertible(`segment "${key}" refers to itself through segmentMatch, which LaunchDarkly reports as an error`);
    }
    const seg = this.segment(key);
    if (seg === undefined) {
      return NEVER;
    }
    if (seg.unbounded === true) {
      throw new Unconvertible(`segment "${key}" is a big segment (unbounded), whose members are not in the SDK data`);
    }
    const lists = (users: readonly string[], contexts: LdSegment['includedContexts']): { kind: string; values: string[] }[] => [
      ...contexts.map((c) => ({ kind: c.contextKind, values: c.values })),
      ...(users.length > 0 ? [{ kind: USER, values: [...users] }] : []),
    ];
    const keyPath = (kind: string): string => attributePath(kind, ['key']);
    const included = lists(seg.included, seg.includedContexts).filter((l) => l.values.length > 0).map((l) => ({ [keyPath(l.kind)]: { $in: l.values } }));
    const excluded = lists(seg.excluded, seg.excludedContexts).filter((l) => l.values.length > 0).map((l) => ({ [keyPath(l.kind)]: { $nin: l.values } }));
    const rules: Condition[] = [];
    seg.rules.forEach((rule, i) => {
      if (rule.weight !== undefined && rule.weight !== null && rule.weight < 100_000) {
        if (rule.weight > 0) {
          throw new Unconvertible(`segment "${key}" rule ${i} includes ${rule.weight / 1000}% of the contexts it matches, by a hash xp cannot reproduce in a condition`);
        }
        return;
      }
      if (rule.weight === null) {
        return;
      }
      rules.push(allOf(rule.clauses.map((c) => this.clauseOrSegments(c, notes, [...visiting, key]))) ?? {});
    });
    const byRules = rules.length === 0 ? undefined : allOf([...excluded, rules.some((r) => Object.keys(r).length === 0) ? undefined : anyOf(rules)]) ?? {};
    const parts = [...included, ...(byRules === undefined ? [] : [byRules])];
    return anyOf(parts);
  }

  /** A clause inside a segment rule: segmentMatch is inlined (xp conditions cannot name a condition segment). */
  private clauseOrSegments(clause: LdClause, notes: Notes, visiting: readonly string[]): Condition {
    if (clause.op !== 'segmentMatch') {
      return clauseCondition(clause, notes);
    }
    const match = anyOf(clause.values.filter((v): v is string => typeof v === 'string').map((k) => this.segmentCondition(k, notes, visiting)));
    return clause.negate === true ? { $not: match } : match;
  }

  /** The xp segment for a LaunchDarkly segment a flag names, or undefined when the data has none. */
  private xpSegment(key: string, notes: Notes): string | undefined {
    const done = this.xpSegments.get(key);
    if (done !== undefined) {
      return done.key;
    }
    const seg = this.segment(key);
    if (seg === undefined) {
      return undefined;
    }
    const condition = this.segmentCondition(key, notes);
    const xpKey = this.segmentKeys.allocate(key);
    const onlyUsers = seg.includedContexts.length === 0 && seg.excluded.length === 0 && seg.excludedContexts.length === 0 && seg.rules.length === 0;
    const input: SegmentInput = onlyUsers
      ? { key: xpKey, name: key.slice(0, 200), description: `LaunchDarkly segment "${key}" (included users).`, type: 'ids', attribute: 'id', values: [...seg.included] }
      : { key: xpKey, name: key.slice(0, 200), description: `LaunchDarkly segment "${key}": included, else not excluded and matching a rule.`, type: 'condition', condition };
    const parsed = segmentSchema.safeParse(input);
    if (!parsed.success) {
      this.segmentKeys.release(xpKey);
      throw new Unconvertible(`segment "${key}" is not a valid xp segment: ${formatIssues(parsed.error).join('; ')}`);
    }
    if (parsed.data.type === 'condition') {
      const { problems } = compileCondition(parsed.data.condition, 'condition', { authoring: true });
      if (problems.length > 0) {
        this.segmentKeys.release(xpKey);
        throw new Unconvertible(`segment "${key}" is not valid in xp: ${problems.join('; ')}`);
      }
    }
    this.xpSegments.set(key, parsed.data);
    return parsed.data.key;
  }

  importFlag(ldKey: string, raw: unknown): void {
    const where = `flag "${ldKey}"`;
    const parsed = flagInput.safeParse(raw);
    if (!parsed.success) {
      this.warnings.push(`${where}: skipped: malformed: ${formatIssues(parsed.error).join('; ')}`);
      this.skipped.push(ldKey);
      return;
    }
    const flag = parsed.data;
    if (flag.deleted === true) {
      return;
    }
    const segmentsBefore = new Set(this.xpSegments.keys());
    try {
      this.buildFlag(where, ldKey, flag);
    } catch (e) {
      if (!(e instanceof Unconvertible)) {
        throw e;
      }
      // Segments made only for this flag go with it.
      for (const k of [...this.xpSegments.keys()].filter((k) => !segmentsBefore.has(k))) {
        this.segmentKeys.release(this.xpSegments.get(k)!.key);
        this.xpSegments.delete(k);
      }
      this.warnings.push(`${where}: skipped: ${e.reason}; code evaluating it in xp gets its default value`);
      this.skipped.push(ldKey);
    }
  }

  private buildFlag(where: string, ldKey: string, flag: LdFlag): void {
    const n = flag.variations.length;
    if (n === 0) {
      throw new Unconvertible('it has no variations');
    }
    const checkIndex = (i: number | undefined, what: string): number => {
      if (i === undefined || !Number.isInteger(i) || i < 0 || i >= n) {
        throw new Unconvertible(`${what} names variation ${String(i)}, which the flag does not have, so LaunchDarkly reports an error`);
      }
      return i;
    };
    const type = inferType(flag.variations);
    const variationKeys = new KeyAllocator(/[^A-Za-z0-9_.-]+/g, 128);
    const variations = flag.variations.map((value, i) => ({ key: variationKeys.allocate(variationKeyCandidate(value) ?? `value-${i}`, `value-${i}`), name: variationName(value), value }));
    const keyOf = (i: number): string => variations[i]!.key;
    const notes: Notes = { semver: false, regex: [] };
    const ruleIds = new KeyAllocator(/[^A-Za-z0-9_-]+/g, 64);
    const rules: RuleInput[] = [];
    const push = (id: string, rule: RuleBody): void => {
      rules.push({ ...rule, id: ruleIds.allocate(id, 'rule') });
    };
    let split = false;

    // Individual targets first, in LaunchDarkly's order: contextTargets when present (a user-kind
    // entry stands for the `targets` entry of its variation), else `targets`.
    const targets: LdTarget[] =
      flag.contextTargets.length === 0
        ? flag.targets
        : flag.contextTargets.flatMap((t) => {
            if (t.contextKind === undefined || t.contextKind === USER) {
              const users = flag.targets.find((u) => u.variation === t.variation);
              return users === undefined ? [] : [{ ...users, contextKind: USER }];
            }
            return [t];
          });
    for (const t of targets) {
      const kind = t.contextKind ?? USER;
      if (t.values.length > 0) {
        push(`targets-${kind}-${checkIndex(t.variation, 'an individual target')}`, { type: 'force', condition: { [attributePath(kind, ['key'])]: { $in: [...t.values] } }, variation: keyOf(t.variation) });
      }
    }

    flag.rules.forEach((rule, index) => {
      const at = `rule ${index}${rule.id === undefined ? '' : ` (${rule.id})`}`;
      const plain = rule.clauses.filter((c) => c.op !== 'segmentMatch');
      const condition = allOf(plain.map((c) => clauseCondition(c, notes)));
      const anyOfSegments: string[][] = [];
      const excludeSegments: string[] = [];
      for (const clause of rule.clauses.filter((c) => c.op === 'segmentMatch')) {
        const keys = clause.values.filter((v): v is string => typeof v === 'string').map((k) => this.xpSegment(k, notes)).filter((k): k is string => k !== undefined);
        if (clause.negate === true) {
          excludeSegments.push(...keys);
        } else {
          anyOfSegments.push(keys);
        }
      }
      // LaunchDarkly's segmentMatch is "in any of these"; xp's rule segments are "in all": one xp rule per combination.
      let combinations: string[][] = [[]];
      for (const group of anyOfSegments) {
        combinations = combinations.flatMap((c) => group.map((k) => [...c, k]));
      }
      if (combinations.length > MAX_RULES_PER_RULE) {
        throw new Unconvertible(`${at} matches ${combinations.length} combinations of segments, more than the ${MAX_RULES_PER_RULE} xp rules it may become`);
      }
      if (combinations.length === 0) {
        this.warnings.push(`${where} ${at}: left out: it names only segments the data does not have, so it matches nobody in LaunchDarkly`);
        return;
      }
      const served = this.served(rule, checkIndex, keyOf, at);
      split ||= served.split;
      combinations.forEach((segs, c) => {
        const targeting = {
          ...(condition === undefined ? {} : { condition }),
          ...(segs.length === 0 ? {} : { segments: [...new Set(segs)] }),
          ...(excludeSegments.length === 0 ? {} : { excludeSegments: [...new Set(excludeSegments)] }),
        };
        served.rules.forEach((r, j) => {
          const id = `${rule.id ?? `rule-${index}`}${combinations.length > 1 ? `-${c + 1}` : ''}${j > 0 ? `-${j + 1}` : ''}`;
          // The rule's own condition and the served rule's (a rollout's guard) must both hold.
          const both = allOf([condition, 'condition' in r ? r.condition : undefined]);
          push(id, { ...targeting, ...r, ...(both === undefined ? {} : { condition: both }) });
        });
      });
      if (combinations.length > 1) {
        this.warnings.push(`${where} ${at}: became ${combinations.length} rules, one for each combination of the segments it matches any of`);
      }
    });

    if (flag.fallthrough === undefined) {
      throw new Unconvertible('it has no fallthrough, so LaunchDarkly reports an error');
    }
    const fallthrough = this.served(flag.fallthrough, checkIndex, keyOf, 'the fallthrough');
    split ||= fallthrough.split;
    if (fallthrough.single === undefined) {
      fallthrough.rules.forEach((r, j) => {
        push(`fallthrough${j > 0 ? `-${j + 1}` : ''}`, r);
      });
    }
    const defaultIndex = fallthrough.single ?? this.firstBucket(flag.fallthrough.rollout!);

    let offIndex: number;
    if (flag.offVariation === null || flag.offVariation === undefined) {
      const falseIndex = type === FlagType.Boolean ? flag.variations.indexOf(false) : -1;
      offIndex = Math.max(0, falseIndex);
      this.warnings.push(
        `${where}: has no off variation (LaunchDarkly serves the code's default while it is off or a prerequisite fails); xp serves "${keyOf(offIndex)}" then${falseIndex >= 0 ? ' (its false variation)' : ' (its first variation)'}`,
      );
    } else {
      offIndex = checkIndex(flag.offVariation, 'the off variation');
    }
    if (flag.prerequisites.some((p) => p.key === ldKey)) {
      throw new Unconvertible('it is its own prerequisite, so LaunchDarkly reports an error');
    }

    if (ldKey === '') {
      throw new Unconvertible('its key is empty');
    }
    const key = this.flagKeys.allocate(ldKey);
    const clientSide = flag.clientSideAvailability?.usingEnvironmentId ?? flag.clientSide ?? false;
    const input: FlagInput = {
      key,
      name: ldKey.slice(0, 200),
      description: `Imported from LaunchDarkly flag "${ldKey}".`,
      type,
      variations,
      tags: TAGS,
      ...(clientSide ? {} : { clientSide: false }),
      environments: {
        [this.environment]: { enabled: flag.on === true, defaultVariation: keyOf(defaultIndex), offVariation: keyOf(offIndex), prerequisites: [], rules },
      },
    };
    const parsedFlag = flagSchema.safeParse(input);
    if (!parsedFlag.success) {
      this.flagKeys.release(key);
      throw new Unconvertible(`not a valid xp flag: ${formatIssues(parsedFlag.error).join('; ')}`);
    }
    for (const [i, r] of parsedFlag.data.environments[this.environment]!.rules.entries()) {
      const { problems } = compileCondition(r.condition ?? {}, `rules[${i}].condition`, { authoring: true });
      if (problems.length > 0) {
        this.flagKeys.release(key);
        throw new Unconvertible(`a condition is not valid in xp: ${problems.join('; ')}`);
      }
    }
    if (key !== ldKey) {
      this.warnings.push(`${where}: imported as flag "${key}" (${KEY_RULES})`);
    }
    this.flags.push(parsedFlag.data);
    this.imported.set(ldKey, { key, variations: variations.map((v) => v.key), prerequisites: flag.prerequisites, offVariation: flag.offVariation ?? null });
    if (split) {
      this.splitFlags.push(ldKey);
    }
    if (notes.semver) {
      this.semverFlags.push(ldKey);
    }
    for (const p of notes.regex) {
      this.warnings.push(`${where}: the pattern ${JSON.stringify(p)} uses lookaround or a backreference, which LaunchDarkly's Node SDK (JavaScript regexes, as xp) supports and its RE2-based SDKs (Go, …) do not`);
    }
  }

  /** The first variation a LaunchDarkly rollout serves: the one a context without the bucketing attribute gets. */
  private firstBucket(rollout: LdRollout): number {
    const total = rollout.variations.reduce((s, v) => s + v.weight, 0);
    const first = rollout.variations.find((v) => v.weight > 0);
    return total <= 0 || first === undefined ? rollout.variations[rollout.variations.length - 1]!.variation : first.variation;
  }

  /** What a rule or the fallthrough serves, as xp rules (without targeting or id). */
  private served(served: LdServed, checkIndex: (i: number | undefined, what: string) => number, keyOf: (i: number) => string, at: string): ServedRules {
    if (served.variation !== undefined) {
      const i = checkIndex(served.variation, at);
      return { rules: [{ type: 'force', variation: keyOf(i) }], single: i, split: false };
    }
    const rollout = served.rollout;
    if (rollout === undefined || rollout.variations.length === 0) {
      throw new Unconvertible(`${at} serves neither a variation nor a rollout, so LaunchDarkly reports an error`);
    }
    for (const v of rollout.variations) {
      checkIndex(v.variation, at);
    }
    // LaunchDarkly's buckets: cumulative weights / 100000; a bucket past them all gets the last variation.
    const shares = new Map<number, number>();
    let cumulative = 0;
    for (const v of rollout.variations) {
      const from = Math.min(cumulative, 1);
      cumulative += v.weight / 100_000;
      const share = Math.max(0, Math.min(cumulative, 1) - from);
      if (share > 0) {
        shares.set(v.variation, (shares.get(v.variation) ?? 0) + share);
      }
    }
    const last = rollout.variations[rollout.variations.length - 1]!.variation;
    if (cumulative < 1) {
      shares.set(last, (shares.get(last) ?? 0) + (1 - Math.max(cumulative, 0)));
    }
    const first = this.firstBucket(rollout);
    if (shares.size === 1) {
      return { rules: [{ type: 'force', variation: keyOf(first) }], single: first, split: false };
    }
    const experiment = rollout.kind === 'experiment';
    const kind = rollout.contextKind ?? USER;
    const bucketBy = experiment || rollout.bucketBy === undefined ? ['key'] : referenceParts(rollout.bucketBy, rollout.contextKind === undefined);
    const hashAttribute = attributePath(kind, bucketBy);
    // LaunchDarkly puts a context without a bucketable value (missing, a boolean, an object) in the
    // first bucket; xp skips the rule for a missing one and errors for the others.
    const unbucketable: Condition = {
      $or: [{ [hashAttribute]: { $in: [null, ''] } }, { [hashAttribute]: { $type: 'boolean' } }, { [hashAttribute]: { $type: 'object' } }, { [hashAttribute]: { $type: 'array' } }],
    };
    const total = [...shares.values()].reduce((s, w) => s + w, 0);
    const distribution = [...shares.entries()].map(([i, w]) => ({ variation: keyOf(i), weight: w / total }));
    // Rounding must not leave the weights off 1 by more than the schema allows.
    distribution[distribution.length - 1]!.weight = 1 - distribution.slice(0, -1).reduce((s, d) => s + d.weight, 0);
    return {
      rules: [
        { type: 'force', condition: unbucketable, variation: keyOf(first) },
        { type: 'split', hashAttribute, distribution },
      ],
      split: true,
    };
  }

  /** Leaves out an imported flag, with a warning. */
  private drop(ldKey: string, reason: string): void {
    const entry = this.imported.get(ldKey)!;
    this.imported.delete(ldKey);
    this.flags.splice(
      this.flags.findIndex((f) => f.key === entry.key),
      1,
    );
    this.skipped.push(ldKey);
    this.warnings.push(`flag "${ldKey}": skipped: ${reason}; code evaluating it in xp gets its default value`);
  }

  /** Why a flag's prerequisites cannot be reproduced, or undefined. */
  private prerequisiteProblem(entry: { prerequisites: LdFlag['prerequisites'] }): string | undefined {
    for (const p of entry.prerequisites) {
      const parent = this.imported.get(p.key);
      if (parent === undefined) {
        return `its prerequisite flag "${p.key}" is not imported`;
      }
      if (p.variation < 0 || p.variation >= parent.variations.length || !Number.isInteger(p.variation)) {
        return `its prerequisite on "${p.key}" names variation ${p.variation}, which that flag does not have`;
      }
      if (parent.prerequisites.length > 0 && parent.offVariation === p.variation) {
        return `its prerequisite on "${p.key}" requires that flag's off variation, and "${p.key}" has prerequisites of its own: LaunchDarkly serves that variation to a context failing them, and the prerequisite passes; in xp it fails`;
      }
    }
    return undefined;
  }

  /** Imported flags on a prerequisite cycle (A needs B, B needs A). */
  private cycles(): string[] {
    const found: string[] = [];
    for (const start of this.imported.keys()) {
      const seen = new Set<string>();
      const stack = this.imported.get(start)!.prerequisites.map((p) => p.key);
      for (let k = stack.pop(); k !== undefined; k = stack.pop()) {
        if (k === start) {
          found.push(start);
          break;
        }
        const entry = this.imported.get(k);
        if (seen.has(k) || entry === undefined) {
          continue;
        }
        seen.add(k);
        stack.push(...entry.prerequisites.map((p) => p.key));
      }
    }
    return found;
  }

  /**
   * Prerequisites as xp's, once every flag is built. A flag whose prerequisites cannot be reproduced
   * (a prerequisite flag not imported, a cycle) is dropped with a warning, and so, in turn, are the
   * flags that need it.
   */
  resolvePrerequisites(): void {
    const dropUnresolved = (): void => {
      for (let changed = true; changed; ) {
        changed = false;
        for (const [ldKey, entry] of this.imported) {
          const problem = this.prerequisiteProblem(entry);
          if (problem !== undefined) {
            this.drop(ldKey, problem);
            changed = true;
          }
        }
      }
    };
    dropUnresolved();
    const cycles = this.cycles();
    for (const ldKey of cycles) {
      this.drop(ldKey, `its prerequisites form a cycle (it is a prerequisite of a flag it needs), so LaunchDarkly reports an error for it`);
    }
    if (cycles.length > 0) {
      dropUnresolved();
    }
    for (const [ldKey, entry] of this.imported) {
      if (entry.prerequisites.length === 0) {
        continue;
      }
      const index = this.flags.findIndex((f) => f.key === entry.key);
      const flag = this.flags[index]!;
      const prerequisites = entry.prerequisites.map((p) => ({ flag: this.imported.get(p.key)!.key, variation: this.imported.get(p.key)!.variations[p.variation]! }));
      const state = flag.environments[this.environment]!;
      const parsed = flagSchema.safeParse({ ...flag, environments: { ...flag.environments, [this.environment]: { ...state, prerequisites } } });
      if (parsed.success) {
        this.flags[index] = parsed.data;
      } else {
        this.drop(ldKey, `its prerequisites (${formatIssues(parsed.error).join('; ')})`);
      }
    }
  }

  /** Segments that rules of imported flags refer to. */
  usedSegments(): Segment[] {
    const used = segmentsNamedByRules(this.flags);
    const segments: Segment[] = [];
    for (const [ldKey, segment] of this.xpSegments) {
      if (!used.has(segment.key)) {
        continue;
      }
      segments.push(segment);
      if (segment.key !== ldKey) {
        this.warnings.push(`segment "${ldKey}": imported as segment "${segment.key}" (${KEY_RULES})`);
      }
      if (this.segmentKeys.replacesOther(segment.key, ldKey)) {
        this.warnings.push(`segment "${segment.key}" exists and was not imported from this LaunchDarkly segment; the import replaces it, so every flag using it gets the new audience`);
      }
    }
    return segments;
  }
}

/**
 * Converts LaunchDarkly server-side SDK data (`{ flags, segments, flagValues? }`) into xp flags and
 * segments for one environment. Throws an `AppError` (VALIDATION_FAILED) when the input is not such
 * data; every flag it cannot convert exactly is skipped with a warning.
 */
export function convertLaunchDarklyData(data: unknown, options: LaunchDarklyImportOptions): LaunchDarklyImportResult {
  const environment = importEnvironment(options.environment);
  if (!isPlainObject(data) || !['flags', 'segments', 'flagValues'].some((k) => k in data)) {
    throw invalid('invalid LaunchDarkly data: (root): must be a JSON object with "flags" and "segments" (the server-side SDK data, as /sdk/latest-all or the file data source serve it)');
  }
  const parsed = dataInput.safeParse(data);
  if (!parsed.success) {
    throw invalid(`invalid LaunchDarkly data: ${formatIssues(parsed.error).join('; ')}`);
  }
  const warnings: string[] = [];
  const unknown = Object.keys(data).filter((k) => !DATA_KEYS.has(k));
  if (unknown.length > 0) {
    warnings.push(`data: ignored unknown field(s) ${unknown.join(', ')}`);
  }
  const flags: Record<string, unknown> = { ...parsed.data.flags };
  for (const [key, value] of Object.entries(parsed.data.flagValues)) {
    if (Object.hasOwn(flags, key)) {
      warnings.push(`flagValues "${key}": left out: "flags" has a flag with this key`);
      continue;
    }
    // The file data source's simple flags: on, serving their one value to everyone.
    flags[key] = { key, on: true, variations: [value], offVariation: 0, fallthrough: { variation: 0 } };
  }
  const importer = new Importer(environment, new Map(Object.entries(parsed.data.segments)), Object.keys(flags), options);
  for (const [key, flag] of Object.entries(flags)) {
    importer.importFlag(key, flag);
  }
  importer.resolvePrerequisites();
  const imported = new Set(importer.flags.map((f) => f.name));
  const list = (keys: readonly string[]): string => keys.filter((k) => imported.has(k)).map((k) => `"${k}"`).join(', ');
  if (importer.splitFlags.some((k) => imported.has(k))) {
    warnings.push(
      `percentage rollouts (flags ${list(importer.splitFlags)}): LaunchDarkly buckets with SHA-1 of flag key and salt, xp with its own hash, so the same shares of contexts get each variation but not the same contexts; a context a rollout applies to (it matches the rule) without a value to bucket by (the kind or attribute is missing, empty, or not a string or number) gets the rollout's first variation in both`,
    );
  }
  if (importer.semverFlags.some((k) => imported.has(k))) {
    warnings.push(
      `version clauses (flags ${list(importer.semverFlags)}): a version with surrounding spaces, a pre-release after fewer than three parts ("2.1-beta") or a "-" inside its pre-release is not a version in xp's rules (LaunchDarkly reads some of them as one); send three-part versions`,
    );
  }
  const segments = importer.usedSegments();
  return { flags: importer.flags, segments, warnings: [...warnings, ...importer.warnings], skippedFlags: importer.skipped };
}

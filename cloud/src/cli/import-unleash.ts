import { z } from 'zod';
import type { Condition, Flag, FlagInput, JsonValue, RuleInput, Segment, SegmentInput } from '@xp/shared';
import { FlagType, compileCondition, flagSchema, formatIssues, keySchema, segmentSchema } from '@xp/shared';
import { KeyAllocator, importEnvironment, invalid, isPlainObject, segmentsNamedByRules, variationKeyCandidate } from './import-growthbook.js';
import { ImportedKeys, KEY_RULES } from './import-keys.js';
import type { ExistingDefinition as ImportedDefinition } from './import-keys.js';

/**
 * `xp import unleash`: converts the Unleash client API payload of one environment (`GET
 * /api/client/features`: `{ version, features, segments }`, also what unleash-client's backup file
 * and `bootstrap` hold) into xp flags and segments, as docs/evaluation.md "Moving from Unleash" maps
 * them. A toggle xp cannot reproduce is left out with a warning naming it; one that hashes keeps its
 * shares, not its users (with a warning). Unleash keeps variants per environment: a flag an earlier
 * import created keeps its variations and gets this environment's new ones after them.
 */

/** A flag or segment the project has already (its description says what it was imported from). */
export interface ExistingDefinition extends ImportedDefinition {
  /** A flag's type and variations: importing another environment adds to them, as Unleash keeps variants per environment. */
  readonly type?: string | undefined;
  readonly variations?: readonly { readonly key: string; readonly name?: string | undefined; readonly value: JsonValue }[] | undefined;
}

export interface UnleashImportOptions {
  /** The xp environment the toggles' state is imported into. */
  readonly environment: string;
  /** The project's flags, so that a key keeps the Unleash toggle it was imported from. */
  readonly existingFlags?: readonly ExistingDefinition[];
  /** The project's segments, likewise (an Unleash segment is known by its id). */
  readonly existingSegments?: readonly ExistingDefinition[];
}

export interface UnleashImportResult {
  readonly flags: Flag[];
  readonly segments: Segment[];
  readonly warnings: string[];
  /** The Unleash names of the toggles left out. */
  readonly skippedFlags: string[];
  /** The Unleash names of the imported toggles xp serves exactly as Unleash does (nothing hashed or drawn at random). */
  readonly exactFlags: string[];
}

const constraintInput = z.looseObject({
  contextName: z.string(),
  operator: z.string(),
  values: z.array(z.string()).nullable().optional(),
  value: z.string().nullable().optional(),
  inverted: z.boolean().optional(),
  caseInsensitive: z.boolean().optional(),
});
type UnleashConstraint = z.output<typeof constraintInput>;

const variantInput = z.looseObject({
  name: z.string(),
  weight: z.number(),
  weightType: z.string().optional(),
  stickiness: z.string().nullable().optional(),
  payload: z.looseObject({ type: z.string(), value: z.string() }).nullable().optional(),
  overrides: z.array(z.looseObject({ contextName: z.string(), values: z.array(z.string()) })).nullable().optional(),
});
type UnleashVariant = z.output<typeof variantInput>;

const strategyInput = z.looseObject({
  name: z.string(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  constraints: z.array(constraintInput).nullable().optional(),
  segments: z.array(z.number()).nullable().optional(),
  variants: z.array(variantInput).nullable().optional(),
  disabled: z.boolean().nullable().optional(),
});

const featureInput = z.looseObject({
  name: z.string().min(1),
  enabled: z.boolean(),
  type: z.string().optional(),
  strategies: z.array(strategyInput),
  variants: z.array(variantInput).nullable().optional(),
  dependencies: z.array(z.looseObject({ feature: z.string(), enabled: z.boolean().optional(), variants: z.array(z.string()).optional() })).nullable().optional(),
});
type UnleashFeature = z.output<typeof featureInput>;

const segmentInput = z.looseObject({ id: z.number(), name: z.string().optional(), constraints: z.array(constraintInput) });
type UnleashSegment = z.output<typeof segmentInput>;

const payloadInput = z.looseObject({
  version: z.number().optional(),
  features: z.array(z.unknown()),
  segments: z.array(z.unknown()).nullable().optional(),
});

/** The client API payload versions this importer reads. */
const VERSIONS = [1, 2];
const TAGS = ['unleash'];
/** Never true: `$in` an empty list. */
const NEVER: Condition = { id: { $in: [] } };
/** Toggle types Unleash means to stay (they are not expected to go stale). */
const PERMANENT_TYPES = new Set(['operational', 'kill-switch', 'permission']);
/** Context fields the Unleash SDK fills from its own configuration, not from the context passed. */
const STATIC_FIELDS = new Set(['appName', 'environment']);
/** The variation a toggle with variants serves while off (Unleash's `{ name: "disabled", enabled: false }`). */
const DISABLED = 'disabled';
/** The variation a toggle with variants serves when on without a variant (Unleash: `disabled`, but `feature_enabled`). */
const ON_WITHOUT_VARIANT = 'on';
const ON_WITHOUT_VARIANT_NAME = '(enabled, no variant)';

/** A toggle that cannot be converted exactly; caught per toggle and turned into a warning. */
class Unconvertible extends Error {
  /** `leftAsIs`: the project's flag stays as it is (rather than code getting its default value). */
  constructor(
    readonly reason: string,
    readonly leftAsIs = false,
  ) {
    super(reason);
    this.name = 'Unconvertible';
  }
}

/**
 * An Unleash context as xp attributes: `userId` is `id`; `properties` and the other fields
 * (`sessionId`, `remoteAddress`, …) are top-level attributes, a field over a property of the same name
 * (as Unleash reads them).
 */
export function attributesForContext(context: unknown): Record<string, unknown> {
  if (!isPlainObject(context)) {
    return {};
  }
  const { userId, properties, ...fields } = context;
  const out: Record<string, unknown> = isPlainObject(properties) ? { ...properties } : {};
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null) {
      out[name] = value;
    }
  }
  if (userId !== undefined && userId !== null) {
    out.id = userId;
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

/** The xp attribute of an Unleash context field. */
function attributePath(field: string): string {
  if (field === '' || field.includes('.')) {
    throw new Unconvertible(`the context field "${field}" ${field === '' ? 'is empty' : 'has a "." in its name, which xp reads as a path'}`);
  }
  return field === 'userId' ? 'id' : field;
}

/** Unleash's constraint values: empty ones dropped, the rest trimmed. */
function cleanValues(values: readonly string[] | null | undefined): string[] {
  return (values ?? []).filter((v) => v !== '').map((v) => v.trim());
}

/**
 * The values xp must list for Unleash's `String(value) === listed`: the listed text, and the number or
 * boolean a context may hold that Unleash turns into that text.
 */
function equivalents(values: readonly string[]): (string | number | boolean)[] {
  const out: (string | number | boolean)[] = [];
  for (const v of values) {
    out.push(v);
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n) && String(n) === v) {
      out.push(n);
    }
    if (v === 'true' || v === 'false') {
      out.push(v === 'true');
    }
  }
  return [...new Set(out)];
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/;

/** The pattern of the IPv4 addresses (as Unleash's ip-address reads them) in a range, or undefined when it is not an IPv4 range. */
function ipv4RangePattern(range: string): string | undefined {
  const m = IPV4.exec(range);
  if (m === null) {
    return undefined;
  }
  const octets = m.slice(1, 5).map((o) => (/^0[0-9]/.test(o) ? NaN : Number(o)));
  const prefix = m[5] === undefined ? 32 : Number(m[5]);
  if (octets.some((o) => !(o >= 0 && o <= 255)) || prefix > 32 || (m[5] !== undefined && /^0[0-9]/.test(m[5]))) {
    return undefined;
  }
  const parts = octets.map((o, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    if (bits === 8) {
      return String(o);
    }
    if (bits === 0) {
      return OCTET;
    }
    const from = o & (0xff << (8 - bits)) & 0xff;
    const to = from + (1 << (8 - bits)) - 1;
    return `(?:${Array.from({ length: to - from + 1 }, (_, k) => String(from + k)).join('|')})`;
  });
  // ip-address also takes an address written with its own prefix ("10.0.0.1/24") as valid; such a context value is in a range only when its whole subnet is.
  return `^${parts.join('\\.')}$`;
}

/** A list of IPv4 ranges (and exact texts, for remoteAddress) as a condition on an attribute. */
function rangesCondition(path: string, ranges: readonly string[], exactText: boolean): Condition {
  const patterns: string[] = [];
  for (const range of ranges) {
    const pattern = ipv4RangePattern(range);
    if (pattern === undefined) {
      if (range.includes(':')) {
        throw new Unconvertible(`the IPv6 range "${range}" has no xp equivalent`);
      }
      // Not an address: Unleash never matches it as a range.
      continue;
    }
    patterns.push(pattern);
  }
  const conditions: Condition[] = patterns.map((p) => ({ [path]: { $type: 'string', $regex: p } }));
  if (exactText && ranges.length > 0) {
    conditions.unshift({ [path]: { $in: [...new Set(ranges)] } });
  }
  return anyOf(conditions);
}

const NUM = '(?:0|[1-9][0-9]*)';
/**
 * A version Unleash compares (semver's strict grammar, no "v"): three numbers, then a pre-release and
 * build of dot-separated identifiers, none empty, no numeric pre-release identifier zero-led.
 */
const SEMVER_PATTERN = `^(?!.*\\.\\.)(?!.*\\.$)(?!.*\\.\\+)(?!.*\\+\\.)(?![0-9]+\\.[0-9]+\\.[0-9]+-(?:\\.|0[0-9]+(?:[.+]|$)))(?![^+]*\\.0[0-9]+(?:[.+]|$))${NUM}\\.${NUM}\\.${NUM}(?:-[0-9A-Za-z.-]+)?(?:\\+[0-9A-Za-z.-]+)?$`;
const SEMVER = new RegExp(SEMVER_PATTERN);
const SEMVER_OPS: Readonly<Record<string, string>> = { SEMVER_EQ: '$veq', SEMVER_GT: '$vgt', SEMVER_LT: '$vlt', SEMVER_GTE: '$vgte', SEMVER_LTE: '$vlte' };
const NUMERIC_OPS: Readonly<Record<string, string>> = { NUM_GT: '$gt', NUM_GTE: '$gte', NUM_LT: '$lt', NUM_LTE: '$lte' };
const STRING_OPS = new Set(['STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH']);
/** The constraint operators unleash-client knows; any other is false (inverted or not), and so is its strategy. */
const KNOWN_OPERATORS = new Set(['IN', 'NOT_IN', ...STRING_OPS, 'NUM_EQ', ...Object.keys(NUMERIC_OPS), ...Object.keys(SEMVER_OPS), 'REGEX', 'IN_CIDR', 'DATE_AFTER', 'DATE_BEFORE']);
/** Syntax RE2 reads otherwise than JavaScript, or JavaScript otherwise than RE2. */
const FOREIGN_REGEX = /\\[AzZQECpPGKX]|\\[xu]\{|\\u[0-9A-Fa-f]{4}|\[\[:|\(\?[imsU-]|\(\?P</;
/** Lookaround and backreferences: RE2 refuses them, so the constraint matches nobody in Unleash. */
const RE2_REFUSED = /\(\?<?[=!]|\\[1-9]|\\k</;

interface Notes {
  semver: boolean;
  staticFields: Set<string>;
  regexSpaces: boolean;
}

/** A constraint other than DATE_* as an xp condition with Unleash's answer (String() of the context value, missing is false, then `inverted`). */
function constraintCondition(c: UnleashConstraint, notes: Notes): Condition {
  const path = attributePath(c.contextName);
  if (STATIC_FIELDS.has(c.contextName)) {
    notes.staticFields.add(c.contextName);
  }
  let match: Condition;
  if (c.operator === 'IN' || c.operator === 'NOT_IN') {
    const list = equivalents(cleanValues(c.values));
    match = c.operator === 'IN' ? (list.length === 0 ? NEVER : { [path]: { $in: list } }) : { [path]: { $nin: list } };
  } else if (STRING_OPS.has(c.operator)) {
    const insensitive = c.caseInsensitive === true;
    const values = cleanValues(c.values).map((v) => (insensitive ? v.toLocaleLowerCase() : v));
    if (values.length === 0) {
      match = NEVER;
    } else {
      const alternatives = `(?:${values.map(escapeRegex).join('|')})`;
      const pattern = c.operator === 'STR_STARTS_WITH' ? `^${alternatives}` : c.operator === 'STR_ENDS_WITH' ? `${alternatives}$` : alternatives;
      match = { [path]: { $exists: true, [insensitive ? '$regexi' : '$regex']: pattern } };
    }
  } else if (c.operator === 'NUM_EQ' || Object.hasOwn(NUMERIC_OPS, c.operator)) {
    const n = typeof c.value === 'string' ? Number(c.value) : NaN;
    // JavaScript's < coerces a string as Number() does; missing, null and booleans are what Unleash does not compare.
    const test = c.operator === 'NUM_EQ' ? { $gte: n, $lte: n } : { [NUMERIC_OPS[c.operator]!]: n };
    match = Number.isFinite(n) ? { [path]: { $exists: true, ...test }, $nor: [{ [path]: { $type: 'boolean' } }] } : NEVER;
  } else if (Object.hasOwn(SEMVER_OPS, c.operator)) {
    notes.semver = true;
    const target = typeof c.value === 'string' ? c.value.trim().replace(/^v/, '') : '';
    if (!SEMVER.test(target)) {
      match = NEVER;
    } else {
      const release = target.replace(/\+.*$/, '');
      const pre = release.includes('-') ? release.slice(release.indexOf('-') + 1) : '';
      if (pre.includes('-')) {
        throw new Unconvertible(`the version "${c.value ?? ''}" has a "-" inside its pre-release, which xp orders otherwise`);
      }
      if (release.split(/[.-]/).some((p) => /^[0-9]{6,}$/.test(p))) {
        throw new Unconvertible(`the version "${c.value ?? ''}" has a number of more than 5 digits, which xp orders otherwise`);
      }
      match = { [path]: { $type: 'string', $regex: SEMVER_PATTERN, [SEMVER_OPS[c.operator]!]: release } };
    }
  } else if (c.operator === 'REGEX') {
    const pattern = c.value ?? '';
    if (FOREIGN_REGEX.test(pattern)) {
      throw new Unconvertible(`the pattern ${JSON.stringify(pattern)} uses syntax RE2 (Unleash) and JavaScript (xp) read differently`);
    }
    let valid = !RE2_REFUSED.test(pattern);
    try {
      new RegExp(pattern);
    } catch {
      valid = false;
    }
    if (/\\s|\\S|(^|[^\\])\./.test(pattern)) {
      notes.regexSpaces = true;
    }
    match = valid ? { [path]: { $exists: true, [c.caseInsensitive === true ? '$regexi' : '$regex']: pattern } } : NEVER;
  } else if (c.operator === 'IN_CIDR') {
    match = rangesCondition(path, cleanValues(c.values), false);
  } else {
    throw new Unconvertible(`the constraint operator "${c.operator}" is not one unleash-client knows (it is false for everyone there)`);
  }
  return c.inverted === true ? { $not: match } : match;
}

/** A DATE_* constraint as the window it leaves (Unleash compares the current time, whatever field it names). */
interface Window {
  from: number | undefined;
  until: number | undefined;
  never: boolean;
}

function narrowWindow(w: Window, c: UnleashConstraint): void {
  const at = typeof c.value === 'string' ? new Date(c.value).getTime() : NaN;
  const inverted = c.inverted === true;
  if (Number.isNaN(at)) {
    // Every comparison with an invalid date is false.
    w.never ||= !inverted;
    return;
  }
  const after = c.operator === 'DATE_AFTER';
  // after: now > at; before: now < at; inverted, now <= at and now >= at. xp's window is from <= now < until.
  const from = after && !inverted ? at + 1 : !after && inverted ? at : undefined;
  const until = !after && !inverted ? at : after && inverted ? at + 1 : undefined;
  if (from !== undefined) {
    w.from = w.from === undefined ? from : Math.max(w.from, from);
  }
  if (until !== undefined) {
    w.until = w.until === undefined ? until : Math.min(w.until, until);
  }
}

const isDate = (c: UnleashConstraint): boolean => c.operator === 'DATE_AFTER' || c.operator === 'DATE_BEFORE';

/** The Unleash id an xp flag or segment was imported from, as its description says. */
const FLAG_ORIGIN = /^Imported from Unleash toggle "(.*)"\.$/s;
const SEGMENT_ORIGIN = /^Imported from Unleash segment (\d+)(?: ".*")?\.$/s;

/**
 * xp keys that stay with the same Unleash toggle (or segment id) from one import to the next: a
 * valid key is kept, a renamed one keeps the key an earlier import gave it, and a new rename takes
 * neither a valid key of the data nor a key the project has.
 */
class StableKeys extends ImportedKeys {
  constructor(what: 'flag' | 'segment', candidates: Iterable<string>, existing: readonly ExistingDefinition[], origin: RegExp) {
    super(what, candidates, existing, origin, false);
  }

  /** The xp key for Unleash id `source` (named `candidate`); Unconvertible when that key holds another. */
  allocate(source: string, candidate: string): string {
    const earlier = this.earlier.get(source);
    if (earlier !== undefined && (this.what === 'segment' || !keySchema.safeParse(source).success)) {
      return this.allocator.allocate(earlier, this.what);
    }
    if (keySchema.safeParse(candidate).success) {
      const from = this.origins.get(candidate);
      if (from !== undefined && from !== source) {
        throw new Unconvertible(
          `xp ${this.what} "${candidate}" holds Unleash ${this.what === 'flag' ? 'toggle' : 'segment'} "${from}" (an earlier import gave it that key), and giving it to this one would change what uses it gets: rename or delete that xp ${this.what} to import this one`,
        );
      }
    }
    return this.allocator.allocate(candidate, this.what);
  }

  /** Whether `key` is the one an earlier import gave Unleash id `source` under another name. */
  keptFromEarlier(source: string, key: string): boolean {
    return this.earlier.get(source) === key;
  }

  /** The Unleash id an existing xp key was imported from. */
  originOf(key: string): string | undefined {
    return this.origins.get(key);
  }

  /** The project's keys imported from Unleash whose id is not in `sources`. */
  importedFromOthers(sources: ReadonlySet<string>): [key: string, source: string][] {
    return [...this.origins].filter((e): e is [string, string] => e[1] !== undefined && !sources.has(e[1]));
  }
}

/** A rule without its id (distributed over the rule types). */
type RuleBody = RuleInput extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

interface Targeting {
  condition?: Condition;
  segments?: string[];
  activeFrom?: string;
  activeUntil?: string;
}

interface Imported {
  key: string;
  variations: { key: string; name: string }[];
  dependencies: NonNullable<UnleashFeature['dependencies']>;
  /** Whether it hashes (rollouts, variants): xp then keeps Unleash's shares, not its users. */
  hashed: boolean;
  offKey: string;
  /** The variation served when on without a variant, if any. */
  onWithoutVariant: string | undefined;
}

/** Positive-weight variants, or none when their total is not positive (Unleash then serves no variant). */
function weighted(variants: readonly UnleashVariant[] | null | undefined): UnleashVariant[] {
  const list = variants ?? [];
  return list.reduce((s, v) => s + v.weight, 0) > 0 ? [...list] : [];
}

/** A variant's payload as a variation value: JSON parsed, a number as a number, else the text; no payload is the variant's name. */
function payloadValue(v: UnleashVariant): JsonValue {
  if (v.payload === null || v.payload === undefined) {
    return v.name;
  }
  if (v.payload.type === 'json') {
    try {
      return JSON.parse(v.payload.value) as JsonValue;
    } catch {
      throw new Unconvertible(`variant "${v.name}" has a json payload that is not JSON`);
    }
  }
  if (v.payload.type === 'number') {
    const n = Number(v.payload.value);
    return v.payload.value.trim() !== '' && Number.isFinite(n) ? n : v.payload.value;
  }
  return v.payload.value;
}

class Importer {
  readonly warnings: string[] = [];
  readonly flags: Flag[] = [];
  readonly skipped: string[] = [];
  readonly imported = new Map<string, Imported>();
  readonly segmentKeys: StableKeys;
  readonly flagKeys: StableKeys;
  /** xp segments by Unleash segment id, built when a toggle first uses them. */
  private readonly xpSegments = new Map<number, Segment>();
  readonly semverFlags: string[] = [];
  readonly dateFlags: string[] = [];
  private readonly existingFlags: ReadonlyMap<string, ExistingDefinition>;

  constructor(
    private readonly environment: string,
    private readonly segments: ReadonlyMap<number, UnleashSegment>,
    names: readonly string[],
    options: UnleashImportOptions,
  ) {
    this.flagKeys = new StableKeys('flag', names, options.existingFlags ?? [], FLAG_ORIGIN);
    this.existingFlags = new Map((options.existingFlags ?? []).map((e) => [e.key, e]));
    this.segmentKeys = new StableKeys('segment', [...segments.values()].map((s) => s.name ?? `segment-${s.id}`), options.existingSegments ?? [], SEGMENT_ORIGIN);
  }

  private xpSegment(id: number, notes: Notes): string {
    const done = this.xpSegments.get(id);
    if (done !== undefined) {
      return done.key;
    }
    const seg = this.segments.get(id)!;
    if (seg.constraints.some(isDate)) {
      throw new Unconvertible(`segment ${id} has a date constraint, which is a rule's active window in xp, not a condition`);
    }
    const condition = allOf(seg.constraints.map((c) => constraintCondition(c, notes))) ?? {};
    const key = this.segmentKeys.allocate(String(id), seg.name ?? `segment-${id}`);
    const input: SegmentInput = {
      key,
      name: (seg.name ?? `segment ${id}`).slice(0, 200) || `segment ${id}`,
      description: `Imported from Unleash segment ${id}${seg.name === undefined ? '' : ` ${JSON.stringify(seg.name)}`}.`,
      type: 'condition',
      condition,
    };
    const parsed = segmentSchema.safeParse(input);
    const problems = parsed.success && parsed.data.type === 'condition' ? compileCondition(parsed.data.condition, 'condition', { authoring: true }).problems : [];
    if (!parsed.success || problems.length > 0) {
      this.segmentKeys.release(key);
      throw new Unconvertible(`segment ${id} is not a valid xp segment: ${parsed.success ? problems.join('; ') : formatIssues(parsed.error).join('; ')}`);
    }
    this.xpSegments.set(id, parsed.data);
    return parsed.data.key;
  }

  importFeature(index: number, raw: unknown): void {
    const name = isPlainObject(raw) && typeof raw.name === 'string' ? raw.name : undefined;
    const where = name === undefined ? `features[${index}]` : `toggle "${name}"`;
    const parsed = featureInput.safeParse(raw);
    if (!parsed.success) {
      this.warnings.push(`${where}: skipped: malformed: ${formatIssues(parsed.error, `features[${index}]`).join('; ')}`);
      this.skipped.push(name ?? `features[${index}]`);
      return;
    }
    const segmentsBefore = new Set(this.xpSegments.keys());
    try {
      this.buildFlag(where, parsed.data);
    } catch (e) {
      if (!(e instanceof Unconvertible)) {
        throw e;
      }
      for (const id of [...this.xpSegments.keys()].filter((k) => !segmentsBefore.has(k))) {
        this.segmentKeys.release(this.xpSegments.get(id)!.key);
        this.xpSegments.delete(id);
      }
      this.warnings.push(`${where}: skipped: ${e.reason}${e.leftAsIs ? '' : '; code evaluating it in xp gets its default value'}`);
      this.skipped.push(parsed.data.name);
    }
  }

  private buildFlag(where: string, f: UnleashFeature): void {
    const key = this.flagKeys.allocate(f.name, f.name);
    try {
      this.buildFlagAs(key, where, f);
    } catch (e) {
      this.flagKeys.release(key);
      throw e;
    }
  }

  /** Why a strategy is false for everyone in Unleash whatever its parameters, if it is. */
  private deadStrategy(s: UnleashFeature['strategies'][number]): string | undefined {
    if (s.disabled === true) {
      return 'it is disabled (the Unleash server leaves it out of what SDKs get)';
    }
    const constraints = [...(s.constraints ?? []), ...(s.segments ?? []).flatMap((id) => this.segments.get(id)?.constraints ?? [])];
    const unknown = constraints.find((c) => !KNOWN_OPERATORS.has(c.operator));
    return unknown === undefined ? undefined : `its constraint on "${unknown.contextName}" has the operator "${unknown.operator}", which unleash-client does not know, so it is false for everyone there`;
  }

  private buildFlagAs(key: string, where: string, f: UnleashFeature): void {
    const notes: Notes = { semver: false, staticFields: new Set(), regexSpaces: false };
    const dead = f.strategies.map((s) => this.deadStrategy(s));
    const live = f.strategies.filter((_, i) => dead[i] === undefined);
    const toggleVariants = weighted(f.variants);
    const needsVariants = toggleVariants.length > 0 || live.some((s) => weighted(s.variants).length > 0);
    // Unleash keeps variants per environment: another environment's import adds to the flag's variations.
    const prior = this.existingFlags.get(key);
    const fromThisToggle = prior !== undefined && FLAG_ORIGIN.exec(prior.description ?? '')?.[1] === f.name;
    const priorType = fromThisToggle && (prior.type === FlagType.Json || prior.type === FlagType.Boolean) ? prior.type : undefined;
    if (priorType === FlagType.Boolean && needsVariants) {
      throw new Unconvertible(
        `xp flag "${key}" is boolean (imported from an environment where this toggle has no variants) and here it has variants, so it is left as it is: import an environment where it has variants first, or delete the xp flag and import its environments again, the one with variants first`,
        true,
      );
    }
    const withVariants = needsVariants || priorType === FlagType.Json;
    const priorVariations = priorType === undefined ? [] : (prior?.variations ?? []).map((v) => ({ key: v.key, name: v.name ?? v.key, value: v.value }));
    const variationKeys = new KeyAllocator(/[^A-Za-z0-9_.-]+/g, 128);
    const variations: { key: string; name: string; value: JsonValue }[] = [...priorVariations];
    for (const v of priorVariations) {
      variationKeys.reserve(v.key);
      variationKeys.allocate(v.key, v.key);
    }
    /** Variations of this environment: the existing one of the same name and value, else a new one. */
    const claimed = new Set<string>();
    const claim = (name: string, value: JsonValue, candidate: string): string => {
      const text = JSON.stringify(value);
      const existing = priorVariations.find((v) => !claimed.has(v.key) && v.name === name && JSON.stringify(v.value) === text);
      const variationKey = existing?.key ?? variationKeys.allocate(candidate, candidate);
      if (existing === undefined) {
        variations.push({ key: variationKey, name, value });
      }
      claimed.add(variationKey);
      return variationKey;
    };
    const byName = new Map<string, string>();
    const payloads = new Map<string, string>();
    const variantKey = (v: UnleashVariant): string => {
      const value = payloadValue(v);
      const known = byName.get(v.name);
      if (known !== undefined) {
        if (payloads.get(v.name) !== JSON.stringify(value)) {
          throw new Unconvertible(`variant "${v.name}" has different payloads in different places, and an xp variation has one value`);
        }
        return known;
      }
      if (v.name.length > 200) {
        throw new Unconvertible(`variant name "${v.name.slice(0, 40)}…" is longer than xp's 200 characters`);
      }
      const variationKey = claim(v.name, value, variationKeyCandidate(v.name) ?? 'variant');
      byName.set(v.name, variationKey);
      payloads.set(v.name, JSON.stringify(value));
      return variationKey;
    };
    let offKey: string;
    let onKey: string | undefined;
    if (withVariants) {
      offKey = claim(DISABLED, null, DISABLED);
    } else {
      offKey = claim('off', false, 'off');
      onKey = claim('on', true, ON_WITHOUT_VARIANT);
    }
    const onWithoutVariant = (): string => {
      onKey ??= claim(ON_WITHOUT_VARIANT_NAME, true, ON_WITHOUT_VARIANT);
      return onKey;
    };
    for (const v of [...toggleVariants, ...live.flatMap((s) => weighted(s.variants))]) {
      variantKey(v);
    }

    let hashed = false;
    const rules: RuleInput[] = [];
    const ruleIds = new KeyAllocator(/[^A-Za-z0-9_-]+/g, 64);
    const push = (id: string, rule: RuleBody): void => {
      rules.push({ ...rule, id: ruleIds.allocate(id, 'rule') });
    };

    /** Rules serving a variant selection (overrides, then the weights) to units the targeting lets through. */
    const selection = (id: string, targeting: Targeting, variants: UnleashVariant[], stickiness: string, seed: string): void => {
      variants.forEach((v, i) => {
        const overrides = (v.overrides ?? []).filter((o) => o.values.length > 0).map((o) => ({ [attributePath(o.contextName)]: { $in: equivalents(o.values) } }));
        if (overrides.length > 0) {
          push(`${id}-override-${i + 1}`, { type: 'force', ...targeting, condition: allOf([targeting.condition, anyOf(overrides)])!, variation: byName.get(v.name)! });
        }
      });
      const positive = variants.filter((v) => v.weight > 0);
      if (positive.length === 1) {
        push(id, { type: 'force', ...targeting, variation: byName.get(positive[0]!.name)! });
        return;
      }
      hashed = true;
      const total = positive.reduce((s, v) => s + v.weight, 0);
      const distribution = positive.map((v) => ({ variation: byName.get(v.name)!, weight: v.weight / total }));
      distribution[distribution.length - 1]!.weight = Math.max(0, 1 - distribution.slice(0, -1).reduce((s, d) => s + d.weight, 0));
      push(id, { type: 'split', ...targeting, ...hashingFor(stickiness), seed, distribution });
      if (stickiness === 'default') {
        // Unleash's variants hash userId, then sessionId, then remoteAddress: reached only without the first two.
        push(`${id}-by-address`, { type: 'split', ...targeting, hashAttribute: 'remoteAddress', seed, distribution });
      }
      // A unit without a value to hash by gets a variant drawn at random on every call in Unleash; xp gives it the first.
      push(`${id}-unhashed`, { type: 'force', ...targeting, variation: distribution[0]!.variation });
    };

    const hashingFor = (stickiness: string): { hashAttribute: string; fallbackAttribute?: string } => {
      if (stickiness === 'random') {
        throw new Unconvertible('its stickiness is "random": Unleash draws again on every call, which xp does not reproduce');
      }
      return stickiness === 'default' ? { hashAttribute: 'id', fallbackAttribute: 'sessionId' } : { hashAttribute: attributePath(stickiness) };
    };

    const alwaysOn = f.strategies.length === 0;
    f.strategies.forEach((s, index) => {
      const id = `strategy-${index + 1}`;
      const at = `strategy ${index + 1} (${s.name})`;
      if (dead[index] !== undefined) {
        this.warnings.push(`${where} ${at}: left out: ${dead[index]}`);
        return;
      }
      const params = s.parameters ?? {};
      const text = (name: string): string => {
        const v = params[name];
        return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
      };
      const constraints = s.constraints ?? [];
      const window: Window = { from: undefined, until: undefined, never: false };
      for (const c of constraints.filter(isDate)) {
        narrowWindow(window, c);
        if (c.contextName !== 'currentTime') {
          this.warnings.push(`${where} ${at}: the date constraint on "${c.contextName}" compares the current time in unleash-client (whatever field it names), and so does xp`);
        }
      }
      const conditions: (Condition | undefined)[] = constraints.filter((c) => !isDate(c)).map((c) => constraintCondition(c, notes));
      const segmentKeys: string[] = [];
      for (const segId of s.segments ?? []) {
        if (!this.segments.has(segId)) {
          this.warnings.push(`${where} ${at}: left out: it uses segment ${segId}, which the data does not have, so it is off for everyone in Unleash`);
          return;
        }
        segmentKeys.push(this.xpSegment(segId, notes));
      }
      if (window.never || (window.from !== undefined && window.until !== undefined && window.from >= window.until)) {
        this.warnings.push(`${where} ${at}: left out: its date constraints hold at no time`);
        return;
      }
      if (window.from !== undefined || window.until !== undefined) {
        this.dateFlags.push(f.name);
      }
      let rollout: { coverage: number; stickiness: string; seed: string } | undefined;
      switch (s.name) {
        case 'default':
          break;
        case 'userWithId': {
          const ids = text('userIds') === '' ? [] : text('userIds').split(/\s*,\s*/);
          conditions.push(ids.length === 0 ? NEVER : { id: { $in: [...new Set(ids)] } });
          break;
        }
        case 'remoteAddress':
          conditions.push(text('IPs') === '' ? NEVER : rangesCondition('remoteAddress', text('IPs').split(/\s*,\s*/), true));
          break;
        case 'flexibleRollout':
        case 'gradualRolloutUserId':
        case 'gradualRolloutSessionId': {
          const percentage = Number(s.name === 'flexibleRollout' ? text('rollout') : text('percentage'));
          const stickiness = s.name === 'gradualRolloutUserId' ? 'userId' : s.name === 'gradualRolloutSessionId' ? 'sessionId' : text('stickiness') || 'default';
          if (!(percentage > 0)) {
            this.warnings.push(`${where} ${at}: left out: its rollout is 0%, so it is off for everyone in Unleash`);
            return;
          }
          if (percentage >= 100) {
            // Everyone with a value to hash by is in; Unleash draws one for "default" and "random".
            if (stickiness !== 'default' && stickiness !== 'random') {
              const path = attributePath(stickiness);
              conditions.push({ [path]: { $exists: true, $ne: '' } });
            }
            break;
          }
          rollout = { coverage: percentage / 100, stickiness, seed: text('groupId') || f.name };
          break;
        }
        case 'applicationHostname':
          throw new Unconvertible(`${at}: it depends on the host name of the machine running the SDK, which xp does not know (write a condition on an attribute you pass)`);
        case 'gradualRolloutRandom':
          throw new Unconvertible(`${at}: it draws at random on every call, which xp does not reproduce`);
        default:
          this.warnings.push(`${where} ${at}: left out: "${s.name}" is a custom strategy; unleash-client treats it as off unless the application registers it. If yours does, this toggle is on for fewer users in xp: add a rule for them`);
          return;
      }
      const condition = allOf(conditions);
      const targeting: Targeting = {
        ...(condition === undefined ? {} : { condition }),
        ...(segmentKeys.length === 0 ? {} : { segments: [...new Set(segmentKeys)] }),
        ...(window.from === undefined ? {} : { activeFrom: new Date(window.from).toISOString() }),
        ...(window.until === undefined ? {} : { activeUntil: new Date(window.until).toISOString() }),
      };
      const strategyVariants = weighted(s.variants);
      const variants = strategyVariants.length > 0 ? strategyVariants : toggleVariants;
      const variantStickiness = strategyVariants.length > 0 ? (strategyVariants[0]!.stickiness ?? '') || text('stickiness') || 'default' : (toggleVariants[0]?.stickiness ?? '') || 'default';
      const variantSeed = strategyVariants.length > 0 ? text('groupId') || f.name : f.name;
      if (rollout === undefined) {
        if (variants.length === 0) {
          push(id, { type: 'force', ...targeting, variation: withVariants ? onWithoutVariant() : onKey! });
        } else {
          selection(id, targeting, variants, variantStickiness, variantSeed);
        }
        return;
      }
      hashed = true;
      const hashing = { ...hashingFor(rollout.stickiness), seed: rollout.seed };
      if (variants.length === 0) {
        push(id, { type: 'rollout', ...targeting, ...hashing, coverage: rollout.coverage, variation: withVariants ? onWithoutVariant() : onKey! });
        return;
      }
      if (variants.some((v) => (v.overrides ?? []).some((o) => o.values.length > 0))) {
        throw new Unconvertible(`${at}: its variant overrides apply only to the units its ${rollout.coverage * 100}% rollout lets in, which xp cannot select`);
      }
      // Variants of a partial rollout: rollouts of one seed with cumulative coverages (docs/evaluation.md).
      const positive = variants.filter((v) => v.weight > 0);
      const total = positive.reduce((sum, v) => sum + v.weight, 0);
      let cumulative = 0;
      positive.forEach((v, i) => {
        cumulative += v.weight;
        push(`${id}-${i + 1}`, { type: 'rollout', ...targeting, ...hashing, coverage: Math.min(1, (rollout.coverage * cumulative) / total), variation: byName.get(v.name)! });
      });
    });

    let defaultKey = offKey;
    if (alwaysOn) {
      if (toggleVariants.length > 0) {
        selection('variants', {}, toggleVariants, (toggleVariants[0]!.stickiness ?? '') || 'default', f.name);
        defaultKey = byName.get(toggleVariants.find((v) => v.weight > 0)!.name)!;
      } else {
        defaultKey = withVariants ? onWithoutVariant() : onKey!;
      }
    }

    const input: FlagInput = {
      key,
      name: f.name.slice(0, 200),
      description: `Imported from Unleash toggle "${f.name}".`,
      type: withVariants ? FlagType.Json : FlagType.Boolean,
      variations,
      tags: TAGS,
      temporary: !PERMANENT_TYPES.has(f.type ?? ''),
      environments: { [this.environment]: { enabled: f.enabled, defaultVariation: defaultKey, offVariation: offKey, prerequisites: [], rules } },
    };
    const parsed = flagSchema.safeParse(input);
    if (!parsed.success) {
      throw new Unconvertible(`not a valid xp flag: ${formatIssues(parsed.error).join('; ')}`);
    }
    for (const [i, r] of parsed.data.environments[this.environment]!.rules.entries()) {
      const { problems } = compileCondition(r.condition ?? {}, `rules[${i}].condition`, { authoring: true });
      if (problems.length > 0) {
        throw new Unconvertible(`a condition is not valid in xp: ${problems.join('; ')}`);
      }
    }
    if (key !== f.name) {
      this.warnings.push(`${where}: imported as flag "${key}" (${KEY_RULES})`);
    }
    for (const field of notes.staticFields) {
      this.warnings.push(`${where}: a constraint on "${field}", which Unleash fills from the SDK's configuration: pass "${field}" as an attribute for xp to see it`);
    }
    if (notes.regexSpaces) {
      this.warnings.push(`${where}: a REGEX constraint uses "." or "\\s": RE2 (Unleash) and JavaScript (xp) differ on line separators and non-ASCII spaces`);
    }
    if (notes.semver) {
      this.semverFlags.push(f.name);
    }
    this.flags.push(parsed.data);
    this.imported.set(f.name, { key, variations: parsed.data.variations.filter((v) => claimed.has(v.key)).map((v) => ({ key: v.key, name: v.name ?? v.key })), dependencies: f.dependencies ?? [], hashed, offKey, onWithoutVariant: withVariants ? onKey : undefined });
  }

  private drop(name: string, reason: string): void {
    const entry = this.imported.get(name)!;
    this.imported.delete(name);
    this.flags.splice(
      this.flags.findIndex((f) => f.key === entry.key),
      1,
    );
    this.skipped.push(name);
    this.warnings.push(`toggle "${name}": skipped: ${reason}; code evaluating it in xp gets its default value`);
  }

  /** The prerequisite an Unleash dependency becomes, or why there is none. */
  private prerequisite(dep: Imported['dependencies'][number], names: ReadonlySet<string>): { flag: string; variation: string } | string {
    const parent = this.imported.get(dep.feature);
    if (parent === undefined) {
      return names.has(dep.feature) ? `its parent "${dep.feature}" is not imported` : `its parent "${dep.feature}" is not in the data, so Unleash never turns it on`;
    }
    if (parent.dependencies.length > 0) {
      return `its parent "${dep.feature}" has dependencies of its own, so Unleash never counts it as satisfied (one level only)`;
    }
    if (dep.enabled === false) {
      return `it needs "${dep.feature}" disabled; an xp prerequisite fails while its flag is off`;
    }
    const serving = parent.variations.filter((v) => v.key !== parent.offKey);
    if (dep.variants !== undefined && dep.variants.length > 0) {
      const matching = serving.filter((v) => v.key !== parent.onWithoutVariant && dep.variants!.includes(v.name));
      return matching.length === 1 ? { flag: parent.key, variation: matching[0]!.key } : `it needs "${dep.feature}" to serve ${matching.length === 0 ? 'a variant it does not have' : 'one of several variants'}, and an xp prerequisite names one variation`;
    }
    return serving.length === 1 ? { flag: parent.key, variation: serving[0]!.key } : `it needs "${dep.feature}" enabled with any of its variants, and an xp prerequisite names one variation`;
  }

  /** Dependencies as prerequisites, once every toggle is built; a toggle whose dependencies xp cannot reproduce is dropped, and what needs it. */
  resolveDependencies(names: ReadonlySet<string>): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const [name, entry] of this.imported) {
        const problem = entry.dependencies.map((d) => this.prerequisite(d, names)).find((p) => typeof p === 'string');
        if (problem !== undefined) {
          this.drop(name, problem);
          changed = true;
        }
      }
    }
    for (const [name, entry] of [...this.imported]) {
      if (entry.dependencies.length === 0) {
        continue;
      }
      const index = this.flags.findIndex((f) => f.key === entry.key);
      const flag = this.flags[index]!;
      const prerequisites = entry.dependencies.map((d) => this.prerequisite(d, names) as { flag: string; variation: string });
      const state = flag.environments[this.environment]!;
      const parsed = flagSchema.safeParse({ ...flag, environments: { ...flag.environments, [this.environment]: { ...state, prerequisites } } });
      if (parsed.success) {
        this.flags[index] = parsed.data;
      } else {
        this.drop(name, `its dependencies (${formatIssues(parsed.error).join('; ')})`);
      }
    }
  }

  /** Whether xp serves a toggle exactly as Unleash does: nothing hashed, and its parents exact. */
  exact(name: string): boolean {
    const entry = this.imported.get(name);
    return entry !== undefined && !entry.hashed && entry.dependencies.every((d) => this.exact(d.feature));
  }

  usedSegments(): Segment[] {
    const used = segmentsNamedByRules(this.flags);
    const out: Segment[] = [];
    for (const [id, segment] of this.xpSegments) {
      if (!used.has(segment.key)) {
        continue;
      }
      out.push(segment);
      const name = this.segments.get(id)!.name ?? `segment-${id}`;
      if (this.segmentKeys.keptFromEarlier(String(id), segment.key)) {
        this.warnings.push(`segment ${id} ("${name}"): kept its key "${segment.key}" from an earlier import`);
      } else if (segment.key !== name) {
        this.warnings.push(`segment ${id} ("${name}"): imported as segment "${segment.key}" (${KEY_RULES})`);
      }
      if (this.segmentKeys.replacesOther(segment.key, String(id))) {
        this.warnings.push(`segment "${segment.key}" exists and was not imported from this Unleash segment; the import replaces it, so every flag using it gets the new audience`);
      }
    }
    return out;
  }
}

/**
 * Converts an Unleash client API payload (`{ version, features, segments }`) into xp flags and
 * segments for one environment. Throws an `AppError` (VALIDATION_FAILED) when the input is not such a
 * payload; every toggle it cannot convert exactly is skipped with a warning.
 */
export function convertUnleashData(data: unknown, options: UnleashImportOptions): UnleashImportResult {
  const environment = importEnvironment(options.environment);
  if (isPlainObject(data) && ('featureStrategies' in data || 'featureEnvironments' in data)) {
    throw invalid('invalid Unleash data: this is an Unleash admin export, not the client API payload: fetch GET /api/client/features with a client token (one per environment)');
  }
  if (!isPlainObject(data) || !('features' in data)) {
    throw invalid('invalid Unleash data: (root): must be a JSON object with "features" (the client API payload of one environment, as GET /api/client/features serves it)');
  }
  const parsed = payloadInput.safeParse(data);
  if (!parsed.success) {
    throw invalid(`invalid Unleash data: ${formatIssues(parsed.error).join('; ')}`);
  }
  if (parsed.data.version !== undefined && !VERSIONS.includes(parsed.data.version)) {
    throw invalid(`invalid Unleash data: version: ${parsed.data.version} is not a client API version this importer reads (${VERSIONS.join(', ')})`);
  }
  const warnings: string[] = [];
  const segments = new Map<number, UnleashSegment>();
  for (const [i, raw] of (parsed.data.segments ?? []).entries()) {
    const seg = segmentInput.safeParse(raw);
    if (!seg.success) {
      throw invalid(`invalid Unleash data: ${formatIssues(seg.error, `segments[${i}]`).join('; ')}`);
    }
    if (segments.has(seg.data.id)) {
      throw invalid(`invalid Unleash data: segments[${i}].id: segment ${seg.data.id} appears twice`);
    }
    segments.set(seg.data.id, seg.data);
  }
  const names = new Set<string>();
  const features: [number, unknown][] = [];
  for (const [i, raw] of parsed.data.features.entries()) {
    const name = isPlainObject(raw) && typeof raw.name === 'string' ? raw.name : undefined;
    if (name !== undefined && names.has(name)) {
      warnings.push(`features[${i}]: left out: a toggle named "${name}" comes before it (unleash-client keeps one)`);
      continue;
    }
    if (name !== undefined) {
      names.add(name);
    }
    features.push([i, raw]);
  }
  const importer = new Importer(environment, segments, [...names], options);
  for (const [i, raw] of features) {
    importer.importFeature(i, raw);
  }
  importer.resolveDependencies(names);
  const imported = [...importer.imported.keys()];
  const hashed = imported.filter((n) => importer.imported.get(n)!.hashed);
  if (hashed.length > 0) {
    warnings.push(
      `percentage rollouts and variants (toggles ${hashed.map((n) => `"${n}"`).join(', ')}): Unleash hashes with MurmurHash3, xp with its own hash, so the same shares of users get each side but not the same users (docs/evaluation.md, "Keeping the same users"); a user without a value to hash by (rollouts with "default" stickiness: userId, then sessionId; variants: userId, then sessionId, then remoteAddress), for whom Unleash draws at random on every call, skips an xp rollout and gets a split's first variant`,
    );
  }
  const gone = importer.flagKeys.importedFromOthers(names);
  if (gone.length > 0) {
    warnings.push(`flags imported from Unleash toggles that are not in the data (deleted or archived in Unleash?), left as they are: ${gone.map(([key, from]) => (key === from ? `"${key}"` : `"${key}" (toggle "${from}")`)).join(', ')}`);
  }
  const goneSegments = importer.segmentKeys.importedFromOthers(new Set([...segments.keys()].map(String)));
  if (goneSegments.length > 0) {
    warnings.push(`segments imported from Unleash segments that are not in the data, left as they are: ${goneSegments.map(([key, from]) => `"${key}" (segment ${from})`).join(', ')}`);
  }
  const semver = importer.semverFlags.filter((n) => importer.imported.has(n));
  if (semver.length > 0) {
    warnings.push(`version constraints (toggles ${semver.map((n) => `"${n}"`).join(', ')}): a version with spaces around it is one to Unleash, not to xp, and xp misorders a pre-release with "-" inside or a number of more than 5 digits: send trimmed versions`);
  }
  const dates = [...new Set(importer.dateFlags)].filter((n) => importer.imported.has(n));
  if (dates.length > 0) {
    warnings.push(`date constraints (toggles ${dates.map((n) => `"${n}"`).join(', ')}): a rule's active window in xp, by the SDK's clock (its "now" option), not the context's currentTime`);
  }
  return {
    flags: importer.flags,
    segments: importer.usedSegments(),
    warnings: [...warnings, ...importer.warnings],
    skippedFlags: importer.skipped,
    exactFlags: imported.filter((n) => importer.exact(n)),
  };
}

import { z } from 'zod';
import type { Condition, Experiment, ExperimentInput, Flag, FlagInput, JsonValue, RuleInput, Segment, SegmentInput } from '@xp/shared';
import {
  FlagType,
  chooseVariation,
  compileCondition,
  compileRuleset,
  experimentSchema,
  flagSchema,
  formatIssues,
  getBucketRanges,
  isOperatorObject,
  keySchema,
  segmentSchema,
} from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';

/**
 * `xp import growthbook`: converts a GrowthBook SDK payload (`GET /api/features/<client key>`) into
 * xp flags, experiments and segments that serve every unit exactly what GrowthBook's SDK serves.
 * Whatever xp cannot reproduce exactly is left out with a warning naming the feature and rule.
 */

export interface GrowthBookImportOptions {
  /** The xp environment the features' state is imported into. */
  readonly environment: string;
  /**
   * Whether the GrowthBook SDKs run with a sticky bucket service. GrowthBook honours a rule's
   * `fallbackAttribute` only then, so it is kept only then. Defaults to false, GrowthBook's default.
   */
  readonly stickyBucketing?: boolean;
}

export interface GrowthBookImportResult {
  readonly flags: Flag[];
  readonly experiments: Experiment[];
  readonly segments: Segment[];
  readonly warnings: string[];
}

const rangeInput = z.tuple([z.number(), z.number()]);

const ruleInput = z.looseObject({
  id: z.string().optional(),
  condition: z.record(z.string(), z.json()).optional(),
  parentConditions: z.array(z.unknown()).optional(),
  force: z.json().optional(),
  variations: z.array(z.json()).optional(),
  weights: z.array(z.number()).optional(),
  key: z.string().optional(),
  hashAttribute: z.string().optional(),
  fallbackAttribute: z.string().optional(),
  hashVersion: z.number().optional(),
  disableStickyBucketing: z.boolean().optional(),
  bucketVersion: z.number().optional(),
  minBucketVersion: z.number().optional(),
  range: rangeInput.optional(),
  coverage: z.number().optional(),
  namespace: z.tuple([z.string(), z.number(), z.number()]).optional(),
  ranges: z.array(rangeInput).optional(),
  meta: z.array(z.looseObject({ key: z.string().optional(), name: z.string().optional(), passthrough: z.boolean().optional() })).optional(),
  filters: z.array(z.unknown()).optional(),
  seed: z.string().optional(),
  name: z.string().optional(),
  phase: z.string().optional(),
  tracks: z.array(z.unknown()).optional(),
  contextualBanditRef: z.string().optional(),
  contextualVariations: z.array(z.json()).optional(),
});
type GbRule = z.output<typeof ruleInput>;

const featureInput = z.looseObject({
  defaultValue: z.json().optional(),
  rules: z.array(ruleInput).optional(),
});
type GbFeature = z.output<typeof featureInput>;

const featuresInput = z.record(z.string(), featureInput);

const payloadInput = z.looseObject({
  features: featuresInput,
  savedGroups: z.record(z.string(), z.unknown()).optional(),
  experiments: z.array(z.unknown()).optional(),
});

/** Top-level keys of GrowthBook's SDK payload; others are ignored with a warning. */
const PAYLOAD_KEYS = new Set([
  'features',
  'savedGroups',
  'experiments',
  'dateUpdated',
  'status',
  'contextualBandits',
  'encryptedFeatures',
  'encryptedSavedGroups',
  'encryptedExperiments',
  'encryptedContextualBandits',
]);
const ENCRYPTED_KEYS = ['encryptedFeatures', 'encryptedSavedGroups', 'encryptedExperiments'];
const FEATURE_KEYS = new Set(['defaultValue', 'rules']);
/** Every rule field GrowthBook's SDK 1.8 reads; others are reported. */
const RULE_KEYS = new Set(Object.keys(ruleInput.shape));
const LOGICAL_KEYS = new Set(['$or', '$nor', '$and', '$not']);
/**
 * The one attribute the xp SDKs change the type of: a user's numeric id becomes its decimal string
 * (`{ id: 42 }` and a bare `42` → `"42"`: sdk/js client.ts idString, the Python SDK's `_id_string`),
 * where GrowthBook keeps the number and compares it strictly (`$in: [42]`). An `id` given only inside
 * `attributes`, and every other attribute, keeps its type, so conditions on them are imported as they are.
 */
const UNIT_ID_ATTRIBUTE = 'id';
/** The list operator that matches what `$eq` / `$ne` with a number match, once the number's string is next to it. */
const LIST_OF: Readonly<Record<string, string>> = { $eq: '$in', $ne: '$nin' };
const TAGS = ['growthbook'];

/** A rule that cannot be converted exactly; caught per rule and turned into a warning. */
class SkipRule extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'SkipRule';
  }
}

/** Members of a GrowthBook saved group, or null for a group `$inGroup` cannot use (matches nobody). */
type GroupMembers = readonly unknown[] | null;

function groupMembers(entry: unknown): GroupMembers {
  if (Array.isArray(entry)) {
    return entry as unknown[];
  }
  if (typeof entry === 'object' && entry !== null && (entry as { type?: unknown }).type === 'list') {
    const values = (entry as { values?: unknown }).values;
    return Array.isArray(values) ? (values as unknown[]) : null;
  }
  return null;
}

/** Hands out keys that pass `keySchema` and are unique within one namespace. */
export class KeyAllocator {
  private readonly used = new Set<string>();
  /** Keys that stay with the source key they already are: others are renamed around them. */
  private readonly reserved = new Set<string>();

  constructor(
    private readonly pattern: RegExp,
    private readonly maxLength: number,
  ) {}

  /** A sanitized, unused key for `raw`; `fallback` when nothing usable is left of it. */
  allocate(raw: string, fallback: string): string {
    if (this.reserved.has(raw) && !this.used.has(raw)) {
      this.used.add(raw);
      return raw;
    }
    let base = raw.replace(this.pattern, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, this.maxLength);
    if (base === '') {
      base = fallback;
    }
    let key = base;
    for (let n = 2; this.used.has(key) || this.reserved.has(key); n++) {
      const suffix = `-${n}`;
      key = base.slice(0, this.maxLength - suffix.length) + suffix;
    }
    this.used.add(key);
    return key;
  }

  /** Keeps `key` for the source key that is exactly `key`, whatever is allocated before it. */
  reserve(key: string): void {
    this.reserved.add(key);
  }

  /** Gives a key back, when what it was allocated for is dropped. */
  release(key: string): void {
    this.used.delete(key);
  }
}

const newKeys = (): KeyAllocator => new KeyAllocator(/[^A-Za-z0-9_.-]+/g, 128);
const newRuleIds = (): KeyAllocator => new KeyAllocator(/[^A-Za-z0-9_-]+/g, 64);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clamp01(n: number): number {
  return n < 0 ? 0 : n > 1 ? 1 : n;
}

/** GrowthBook's effective hash version: missing or 0 means 1; only 1 and 2 hash at all. */
function hashVersionOf(rule: GbRule): 1 | 2 {
  const version = rule.hashVersion === undefined || rule.hashVersion === 0 ? 1 : rule.hashVersion;
  if (version !== 1 && version !== 2) {
    throw new SkipRule(`hashVersion ${version} hashes nobody in GrowthBook and has no xp equivalent`);
  }
  return version;
}

/**
 * A unit id list with the decimal string of each finite number next to it (`[42, 7]` → `[42, "42", 7,
 * "7"]`), so a user whose numeric id the SDKs pass as `"42"` matches as 42 did in GrowthBook; the number
 * stays for an id given as a number in `attributes`. `added` lists the strings that were not there.
 */
function withIdStrings(list: readonly unknown[]): { list: unknown[]; added: string[] } {
  const present = new Set(list);
  const added: string[] = [];
  const out: unknown[] = [];
  for (const item of list) {
    out.push(item);
    if (typeof item === 'number' && Number.isFinite(item)) {
      const text = String(item);
      if (!present.has(text)) {
        present.add(text);
        added.push(text);
        out.push(text);
      }
    }
  }
  return { list: out, added };
}

function valueId(value: JsonValue): string {
  return JSON.stringify(value);
}

export function inferType(values: readonly JsonValue[]): FlagType {
  if (values.every((v) => typeof v === 'boolean')) {
    return FlagType.Boolean;
  }
  if (values.every((v) => typeof v === 'string')) {
    return FlagType.String;
  }
  if (values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return FlagType.Number;
  }
  return FlagType.Json;
}

/** A readable variation key for a value: strings sanitized, booleans and plain numbers as written. */
export function variationKeyCandidate(value: JsonValue): string | undefined {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'boolean' || (typeof value === 'number' && keySchema.safeParse(String(value)).success)) {
    return String(value);
  }
  return undefined;
}

function describeValue(value: JsonValue): string {
  const text = JSON.stringify(value);
  return text.length <= 200 ? text : `${text.slice(0, 197)}...`;
}

/** A variation's name: a string value as it is (no JSON quotes), other values as JSON. */
export function variationName(value: JsonValue): string {
  if (typeof value !== 'string' || value.trim() === '') {
    return describeValue(value);
  }
  return value.length <= 200 ? value : `${value.slice(0, 197)}...`;
}

interface Targeting {
  condition?: Condition;
  segments?: string[];
  excludeSegments?: string[];
}

interface PendingValueRule {
  readonly kind: 'force' | 'rollout';
  readonly id: string;
  readonly targeting: Targeting;
  readonly value: JsonValue;
  readonly rollout?: { coverage: number; hashAttribute: string; fallbackAttribute?: string; seed: string; hashVersion: 1 | 2 };
}

interface PendingExperimentRule {
  readonly kind: 'experiment';
  readonly id: string;
  readonly experiment: Experiment;
  /** The value each experiment variation serves, by position. */
  readonly values: readonly JsonValue[];
}

type PendingRule = PendingValueRule | PendingExperimentRule;

/** A GrowthBook feature prerequisite: the feature is null for a user whose `parent` value fails `condition`. */
interface Gate {
  readonly parent: string;
  readonly condition: unknown;
  /** The rule it is written in, for warnings. */
  readonly at: string;
}

/** A `parentConditions` entry with `gate: true`, else undefined. */
function gateOf(entry: unknown): Omit<Gate, 'at'> | undefined {
  if (!isPlainObject(entry) || entry.gate !== true || typeof entry.id !== 'string') {
    return undefined;
  }
  // GrowthBook reads a missing condition as {} (always true).
  return { parent: entry.id, condition: entry.condition ?? {} };
}

/** A rule that only holds prerequisite gates: GrowthBook serves nothing from it, only checks them. */
function isGateOnly(rule: GbRule): boolean {
  return (rule.parentConditions ?? []).length > 0 && rule.parentConditions!.every((c) => gateOf(c) !== undefined) && !('force' in rule) && rule.variations === undefined;
}

class Importer {
  readonly warnings: string[] = [];
  readonly flags: Flag[] = [];
  /** The xp key of each imported feature, by GrowthBook key. */
  private readonly imported = new Map<string, string>();
  /** The prerequisite gates of imported features, by GrowthBook key. */
  private readonly gates = new Map<string, Gate[]>();
  readonly experiments: Experiment[] = [];
  private readonly flagKeys = newKeys();
  private readonly experimentKeys = newKeys();
  private readonly segmentKeys = newKeys();
  /** Segments by saved group id and attribute. */
  private readonly segments = new Map<string, Segment>();
  private readonly segmentsByKey = new Map<string, Segment>();
  /** Notes for the rule being converted, reported only if the rule is kept. */
  private ruleNotes: string[] = [];
  /** Decimal strings of numeric ids added to the condition being converted (withIdStrings). */
  private idStrings = new Set<string>();

  constructor(
    private readonly environment: string,
    private readonly sticky: boolean,
    private readonly groups: ReadonlyMap<string, GroupMembers>,
    /** Every feature of the payload, imported or not. */
    private readonly features: Readonly<Record<string, unknown>>,
  ) {}

  /**
   * Features whose GrowthBook keys are valid xp keys keep them: code calls them by those keys, so a
   * renamed one ("a b" → "a-b") must not take the key of the feature that is "a-b".
   */
  reserveFlagKeys(gbKeys: readonly string[]): void {
    for (const key of gbKeys) {
      if (keySchema.safeParse(key).success) {
        this.flagKeys.reserve(key);
      }
    }
  }

  importFeature(gbKey: string, feature: GbFeature): void {
    const where = `feature "${gbKey}"`;
    const key = this.flagKeys.allocate(gbKey, 'feature');
    if (key !== gbKey) {
      this.warnings.push(`${where}: imported as flag "${key}" (${keySchema.safeParse(gbKey).success ? 'the key is already taken' : 'xp keys allow only letters, digits, "_", "." and "-", at most 128'})`);
    }
    const unknown = Object.keys(feature).filter((k) => !FEATURE_KEYS.has(k));
    if (unknown.length > 0) {
      this.warnings.push(`${where}: ignored unknown field(s) ${unknown.join(', ')}`);
    }
    const ruleIds = newRuleIds();
    const pending: PendingRule[] = [];
    // Gates of the rules before any rule that serves a value: they become the flag's prerequisites.
    const gates: Gate[] = [];
    let leading = true;
    (feature.rules ?? []).forEach((rule, index) => {
      const at = `${where} rule ${index}`;
      this.ruleNotes = [];
      try {
        const converted = this.convertRule(gbKey, rule, index, ruleIds, leading ? { gates, at } : undefined);
        if (converted !== undefined) {
          pending.push(converted);
        }
        this.warnings.push(...this.ruleNotes.map((note) => `${at}: ${note}`));
      } catch (e) {
        if (!(e instanceof SkipRule)) {
          throw e;
        }
        this.warnings.push(`${at}: skipped: ${e.reason}`);
      }
      leading &&= isGateOnly(rule);
    });
    if (this.buildFlag(where, key, gbKey, feature.defaultValue ?? null, pending) && gates.length > 0) {
      this.gates.set(gbKey, gates);
    }
  }

  /**
   * GrowthBook's feature prerequisites (`parentConditions` with `gate: true` — the feature is null
   * for a user failing one) as xp prerequisites, once every flag is built: "the parent flag serves
   * the one variation whose value the gate's condition accepts". A gate that maps to no single
   * variation, or that xp would evaluate otherwise, is left out with a warning saying what changes.
   */
  resolvePrerequisites(): void {
    for (const [gbKey, gates] of this.gates) {
      const index = this.flags.findIndex((f) => f.key === this.imported.get(gbKey));
      const flag = this.flags[index]!;
      const prerequisites: { flag: string; variation: string }[] = [];
      for (const gate of gates) {
        const mapped = this.prerequisiteOf(gbKey, gate);
        if (typeof mapped === 'string') {
          this.warnings.push(
            `${gate.at}: skipped: the prerequisite gate on feature "${gate.parent}" (${describeValue(gate.condition as JsonValue)}): ${mapped}; users failing the gate will get this flag's rules instead of null (GrowthBook blocks the feature for them)`,
          );
        } else if (!prerequisites.some((p) => p.flag === mapped.flag && p.variation === mapped.variation)) {
          prerequisites.push(mapped);
        }
      }
      if (prerequisites.length === 0) {
        continue;
      }
      const state = flag.environments[this.environment]!;
      const parsed = flagSchema.safeParse({ ...flag, environments: { ...flag.environments, [this.environment]: { ...state, prerequisites } } });
      if (parsed.success) {
        this.flags[index] = parsed.data;
      } else {
        this.warnings.push(`feature "${gbKey}": skipped: its prerequisite gates (${formatIssues(parsed.error).join('; ')}); users failing them will get this flag's rules instead of null`);
      }
    }
  }

  /** The xp prerequisite a gate is, or why it has none that serves every user the same. */
  private prerequisiteOf(gbKey: string, gate: Gate): { flag: string; variation: string } | string {
    const parentKey = this.imported.get(gate.parent);
    const parent = this.flags.find((f) => f.key === parentKey);
    if (parent === undefined) {
      return `feature "${gate.parent}" is not ${Object.hasOwn(this.features, gate.parent) ? 'imported' : 'in the payload'}`;
    }
    if (this.reaches(gate.parent, gbKey)) {
      return 'the prerequisites form a cycle, for which GrowthBook serves null';
    }
    const { test, problems } = compileCondition(gate.condition);
    if (problems.length > 0) {
      return `the condition is not valid in xp: ${problems.join('; ')}`;
    }
    const matching = parent.variations.filter((v) => test({ value: v.value }, {}));
    if (matching.length !== 1) {
      return `${matching.length === 0 ? 'none' : `${matching.length}`} of the values feature "${gate.parent}" serves satisfy it, and an xp prerequisite names exactly one variation`;
    }
    const variation = matching[0]!;
    // A parent blocked by gates of its own is null in GrowthBook; in xp it fails every prerequisite on it.
    if (this.gates.has(gate.parent) && test({ value: null }, {})) {
      return `feature "${gate.parent}" has prerequisite gates of its own: a user failing them gets null from it, which this gate accepts in GrowthBook, while xp fails a prerequisite on a flag whose own prerequisites fail`;
    }
    return { flag: parent.key, variation: variation.key };
  }

  /** Whether feature `from` is gated, through prerequisites, by feature `to`. */
  private reaches(from: string, to: string, seen = new Set<string>()): boolean {
    if (from === to) {
      return true;
    }
    seen.add(from);
    return (this.gates.get(from) ?? []).some((g) => !seen.has(g.parent) && this.reaches(g.parent, to, seen));
  }

  /** Builds and keeps the flag; false when it is not valid in xp (a warning says why). */
  private buildFlag(where: string, key: string, gbKey: string, defaultValue: JsonValue, pending: readonly PendingRule[]): boolean {
    const values = new Map<string, JsonValue>([[valueId(defaultValue), defaultValue]]);
    for (const rule of pending) {
      for (const v of rule.kind === 'experiment' ? rule.values : [rule.value]) {
        values.set(valueId(v), v);
      }
    }
    const list = [...values.values()];
    const type = inferType(list);
    const variationKeys = newKeys();
    const keyOf = new Map<string, string>();
    const variations = list.map((value, i) => {
      const k = variationKeys.allocate(variationKeyCandidate(value) ?? `value-${i}`, `value-${i}`);
      keyOf.set(valueId(value), k);
      return { key: k, name: variationName(value), value };
    });
    const variationOf = (value: JsonValue): string => keyOf.get(valueId(value))!;
    const defaultVariation = variationOf(defaultValue);
    const rules = pending.map((rule): RuleInput => {
      if (rule.kind === 'experiment') {
        const mapping = Object.fromEntries(rule.experiment.variations.map((ev, i) => [ev.key, variationOf(rule.values[i]!)]));
        return { id: rule.id, type: 'experiment', experiment: rule.experiment.key, variations: mapping };
      }
      const targeting = rule.targeting;
      if (rule.rollout === undefined) {
        return { id: rule.id, type: 'force', ...targeting, variation: variationOf(rule.value) };
      }
      return { id: rule.id, type: 'rollout', ...targeting, ...rule.rollout, variation: variationOf(rule.value) };
    });
    const input: FlagInput = {
      key,
      name: gbKey.slice(0, 200),
      description: `Imported from GrowthBook feature "${gbKey}". GrowthBook serves null while a feature is off; xp serves the default value's variation instead.`,
      type,
      variations,
      tags: TAGS,
      environments: {
        // xp needs an off variation where GrowthBook serves null: the default value's variation.
        [this.environment]: { enabled: true, defaultVariation, offVariation: defaultVariation, prerequisites: [], rules },
      },
    };
    const parsed = flagSchema.safeParse(input);
    if (!parsed.success) {
      this.warnings.push(`${where}: skipped: ${formatIssues(parsed.error).join('; ')}`);
      return false;
    }
    this.flags.push(parsed.data);
    this.imported.set(gbKey, parsed.data.key);
    for (const rule of pending) {
      if (rule.kind === 'experiment') {
        this.experiments.push(rule.experiment);
      }
    }
    return true;
  }

  /**
   * A rule as xp's; undefined for a rule that only holds prerequisite gates, which `leading` (given
   * while no earlier rule serves a value) collects for the flag's prerequisites.
   */
  private convertRule(gbKey: string, rule: GbRule, index: number, ruleIds: KeyAllocator, leading: { gates: Gate[]; at: string } | undefined): PendingRule | undefined {
    const unknown = Object.keys(rule).filter((k) => !RULE_KEYS.has(k));
    if (unknown.length > 0) {
      this.ruleNotes.push(`ignored unknown field(s) ${unknown.join(', ')}`);
    }
    if (rule.coverage !== undefined || rule.variations !== undefined) {
      for (const name of [rule.hashAttribute, rule.fallbackAttribute]) {
        if (name?.includes('.') === true) {
          // xp reads a bucketing attribute as conditions read theirs; GrowthBook reads it as one flat name.
          this.ruleNotes.push(`hash attribute "${name}" is a dotted path in xp, as in conditions (${name.split('.').reduceRight((inner, part) => `{ ${JSON.stringify(part)}: ${inner} }`, '…')}), while GrowthBook reads the one attribute named "${name}": send the value nested, or units are not bucketed`);
        }
      }
    }
    if (rule.parentConditions !== undefined && rule.parentConditions.length > 0) {
      const gates = rule.parentConditions.map(gateOf);
      if (gates.some((g) => g === undefined)) {
        const gated = gates.some((g) => g !== undefined) ? '; its prerequisite gates are left out with it, so users failing them will get this flag\'s rules instead of null' : '';
        throw new SkipRule(`prerequisites (parentConditions) without "gate" are conditions of this rule on another feature's value, which xp rules cannot express, so no user gets this rule's value${gated}`);
      }
      if (leading === undefined) {
        throw new SkipRule(
          'a prerequisite gate (parentConditions with "gate") after rules that serve a value: GrowthBook checks it only for users those rules leave, xp checks prerequisites before every rule; users failing the gate will get this flag\'s rules instead of null',
        );
      }
      leading.gates.push(...gates.map((g) => ({ ...g!, at: leading.at })));
      if (isGateOnly(rule)) {
        return undefined;
      }
    }
    if (rule.filters !== undefined && rule.filters.length > 0) {
      throw new SkipRule('filters (hash-range filters such as holdouts) have no xp equivalent');
    }
    const id = ruleIds.allocate(rule.id ?? '', `rule-${index}`);
    if ('force' in rule) {
      return this.convertForce(gbKey, rule, id);
    }
    return this.convertExperiment(gbKey, rule, id);
  }

  private convertForce(gbKey: string, rule: GbRule, id: string): PendingValueRule {
    if (rule.tracks !== undefined && rule.tracks.length > 0) {
      // GrowthBook serves the forced value and also reports these experiments to its tracking callback.
      this.ruleNotes.push(
        `${rule.id === undefined ? 'this rule' : `rule "${rule.id}"`}: its ${rule.tracks.length} track(s) left out (experiment results of a remotely evaluated payload, which GrowthBook reports to its tracking callback; xp logs no exposure for a force rule); the forced value is kept`,
      );
    }
    if (rule.range !== undefined) {
      throw new SkipRule('a rollout range (range) has no xp equivalent; xp rollouts use coverage');
    }
    const value = rule.force ?? null;
    const targeting = this.targeting(rule.condition, true);
    if (rule.coverage === undefined) {
      return { kind: 'force', id, targeting, value };
    }
    const hashVersion = hashVersionOf(rule);
    const fallbackAttribute = this.fallbackOf(rule);
    return {
      kind: 'rollout',
      id,
      targeting,
      value,
      rollout: {
        coverage: clamp01(rule.coverage),
        hashAttribute: rule.hashAttribute === undefined || rule.hashAttribute === '' ? 'id' : rule.hashAttribute,
        ...(fallbackAttribute === undefined ? {} : { fallbackAttribute }),
        seed: rule.seed === undefined || rule.seed === '' ? gbKey : rule.seed,
        hashVersion,
      },
    };
  }

  private convertExperiment(gbKey: string, rule: GbRule, id: string): PendingExperimentRule {
    if (rule.contextualBanditRef !== undefined || rule.contextualVariations !== undefined) {
      throw new SkipRule('contextual bandits have no xp equivalent');
    }
    const values = rule.variations;
    if (values === undefined) {
      throw new SkipRule('the rule has neither force nor variations, so GrowthBook ignores it');
    }
    if (values.length < 2) {
      throw new SkipRule('an experiment with fewer than two variations includes nobody in GrowthBook');
    }
    if (rule.meta?.some((m) => m.passthrough === true) === true) {
      throw new SkipRule('passthrough variations (serve the next rule while tracking) have no xp equivalent');
    }
    const hashVersion = hashVersionOf(rule);
    const coverage = clamp01(rule.coverage ?? 1);
    const gbRanges = getBucketRanges(values.length, coverage, rule.weights);
    if (rule.ranges !== undefined && !sameRanges(rule.ranges, gbRanges)) {
      throw new SkipRule('explicit bucket ranges (ranges) that differ from coverage and weights have no xp equivalent');
    }
    let namespace: { id: string; range: [number, number] } | undefined;
    if (rule.namespace !== undefined) {
      const [nsId, start, end] = rule.namespace;
      namespace = { id: nsId, range: [clamp01(start), clamp01(end)] };
      if (namespace.range[0] >= namespace.range[1]) {
        throw new SkipRule(`namespace "${nsId}" range [${start}, ${end}) is empty, so GrowthBook includes nobody`);
      }
    }
    const stickyBucketing = this.stickyOf(rule);
    const variationKeys = newKeys();
    const weights = effectiveWeights(values.length, rule.weights);
    const variations = values.map((_, i) => {
      const meta = rule.meta?.[i];
      const metaKey = meta?.key ?? '';
      const k = variationKeys.allocate(metaKey === '' ? String(i) : metaKey, String(i));
      if (metaKey !== '' && k !== metaKey) {
        this.ruleNotes.push(`experiment variation "${metaKey}" imported as "${k}"`);
      }
      return {
        key: k,
        ...(meta?.name === undefined || meta.name === '' ? {} : { name: meta.name.slice(0, 200) }),
        ...(weights === undefined ? {} : { weight: weights[i]! }),
      };
    });
    const fallbackAttribute = this.fallbackOf(rule);
    // xp experiments have no excluded segments, so $notInGroup stays in the condition.
    const targeting = this.targeting(rule.condition, false);
    const gbExperimentKey = rule.key === undefined || rule.key === '' ? gbKey : rule.key;
    const key = this.experimentKeys.allocate(gbExperimentKey, 'experiment');
    const input: ExperimentInput = {
      key,
      name: (rule.name === undefined || rule.name === '' ? gbExperimentKey : rule.name).slice(0, 200),
      status: 'running',
      tags: TAGS,
      hashAttribute: rule.hashAttribute === undefined || rule.hashAttribute === '' ? 'id' : rule.hashAttribute,
      ...(fallbackAttribute === undefined ? {} : { fallbackAttribute }),
      hashVersion,
      seed: rule.seed === undefined || rule.seed === '' ? gbExperimentKey : rule.seed,
      coverage,
      variations,
      ...targeting,
      ...(namespace === undefined ? {} : { namespace }),
      ...(stickyBucketing === undefined ? {} : { stickyBucketing }),
      environments: [this.environment],
    };
    try {
      const parsed = experimentSchema.safeParse(input);
      if (!parsed.success) {
        throw new SkipRule(`the experiment is not valid in xp: ${formatIssues(parsed.error).join('; ')}`);
      }
      const experiment = this.closestBuckets(parsed.data, gbRanges, hashVersion, weights);
      if (key !== gbExperimentKey) {
        const why = keySchema.safeParse(gbExperimentKey).success ? 'another rule already uses this key' : 'not a valid xp key';
        const sticky = this.sticky ? '; GrowthBook shares sticky assignments between rules with one key, xp keeps them apart' : '';
        this.ruleNotes.push(`experiment "${gbExperimentKey}" imported as "${key}" (${why}); assignments are unchanged because the seed is kept${sticky}`);
      }
      return { kind: 'experiment', id, experiment, values };
    } catch (e) {
      this.experimentKeys.release(key);
      throw e;
    }
  }

  /**
   * The experiment as xp buckets it closest to GrowthBook: every possible hash value into the same
   * variation, or — when GrowthBook uses weights that add up to between 0.99 and 1 without
   * normalising them, as xp does — the coverage that moves the fewest, if they are at most
   * MAX_MOVED of all units (a warning says how many). Beyond that the rule is skipped.
   */
  private closestBuckets(experiment: Experiment, gbRanges: ReturnType<typeof getBucketRanges>, hashVersion: 1 | 2, gbWeights: readonly number[] | undefined): Experiment {
    const segments = (experiment.segments ?? []).map((k) => this.segmentsByKey.get(k)!);
    const steps = hashVersion === 2 ? 10_000 : 1_000;
    const moved = (candidate: Experiment): { count: number; weights: readonly number[] } => {
      const compiled = compileRuleset({ environment: this.environment, version: 0, flags: [], experiments: [candidate], segments }).experiments?.[candidate.key];
      if (compiled === undefined) {
        throw new SkipRule('the experiment did not compile');
      }
      const xpRanges = getBucketRanges(compiled.variations.length, compiled.coverage, compiled.weights);
      let count = 0;
      for (let k = 0; k < steps; k++) {
        if (chooseVariation(k / steps, gbRanges) !== chooseVariation(k / steps, xpRanges)) {
          count++;
        }
      }
      return { count, weights: compiled.weights };
    };
    const exact = moved(experiment);
    if (exact.count === 0) {
      return experiment;
    }
    const total = gbWeights?.reduce((sum, w) => sum + w, 0) ?? 1;
    // GrowthBook's ranges then end at coverage × total: the same coverage of normalised weights is the other candidate.
    const scaled = { ...experiment, coverage: Math.min(1, Math.max(0, Math.round(experiment.coverage * total * 1e9) / 1e9)) };
    const other = total < 1 ? moved(scaled) : exact;
    const best = other.count < exact.count ? { experiment: scaled, ...other } : { experiment, ...exact };
    const share = `${((100 * best.count) / steps).toFixed(2)}% of units (${best.count} of ${steps} hash buckets)`;
    if (best.count / steps > MAX_MOVED) {
      throw new SkipRule(`weights ${JSON.stringify(gbWeights ?? best.weights)} do not add up to 1; xp normalises them, which would move ${share}`);
    }
    this.ruleNotes.push(
      `weights ${JSON.stringify(gbWeights)} add up to ${String(Number(total.toPrecision(12)))}, not 1: xp normalises them${best.experiment.coverage === experiment.coverage ? '' : ` (coverage ${String(best.experiment.coverage)})`}, so ${share}, next to the variation boundaries, get another variation than in GrowthBook`,
    );
    return best.experiment;
  }

  /** GrowthBook uses a fallback attribute only with a sticky bucket service and sticky bucketing on. */
  private fallbackOf(rule: GbRule): string | undefined {
    if (rule.fallbackAttribute === undefined || rule.fallbackAttribute === '') {
      return undefined;
    }
    if (this.sticky && rule.disableStickyBucketing !== true) {
      return rule.fallbackAttribute;
    }
    this.ruleNotes.push(
      `fallbackAttribute "${rule.fallbackAttribute}" left out: GrowthBook ignores it ${this.sticky ? 'when disableStickyBucketing is set' : 'without a sticky bucket service (import with --sticky-bucketing if your SDKs use one)'}`,
    );
    return undefined;
  }

  private stickyOf(rule: GbRule): ExperimentInput['stickyBucketing'] {
    const bucketVersion = rule.bucketVersion ?? 0;
    const minBucketVersion = rule.minBucketVersion ?? 0;
    for (const [name, v] of [['bucketVersion', bucketVersion], ['minBucketVersion', minBucketVersion]] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new SkipRule(`${name} ${v} is not a whole number of at least 0`);
      }
    }
    const enabled = this.sticky && rule.disableStickyBucketing !== true;
    if (!enabled && bucketVersion === 0 && minBucketVersion === 0) {
      return undefined;
    }
    if (minBucketVersion > bucketVersion) {
      throw new SkipRule(`minBucketVersion ${minBucketVersion} exceeds bucketVersion ${bucketVersion}`);
    }
    return { enabled, bucketVersion, minBucketVersion };
  }

  /**
   * Splits a GrowthBook condition into xp targeting: top-level `{attr: {$inGroup: id}}` terms become
   * segments (xp compiles them back to the same `$inGroup`); saved groups used anywhere else are
   * inlined as `$in` / `$nin`, which GrowthBook evaluates the same way.
   */
  private targeting(condition: Condition | undefined, allowExclude: boolean): Targeting {
    if (condition === undefined) {
      return {};
    }
    const rest: Condition = {};
    const segments: string[] = [];
    const excludeSegments: string[] = [];
    for (const [attr, value] of Object.entries(condition)) {
      const segment = LOGICAL_KEYS.has(attr) || attr === '$savedGroup' ? undefined : this.asSegment(attr, value, allowExclude);
      if (segment === undefined) {
        rest[attr] = value;
      } else {
        (segment.negate ? excludeSegments : segments).push(segment.key);
      }
    }
    this.idStrings = new Set();
    const inlined = this.inlineCondition(rest) as Condition;
    if (this.idStrings.size > 0) {
      const shown = [...this.idStrings].slice(0, 5).map((t) => JSON.stringify(t)).join(', ');
      this.ruleNotes.push(
        `numeric ids in the condition on "${UNIT_ID_ATTRIBUTE}" are kept and their decimal strings added next to them (${shown}${this.idStrings.size > 5 ? `, … ${this.idStrings.size} in all` : ''}): the xp SDKs pass a numeric user id as its string ({ id: 42 } → "42"), so both forms match, as the number did in GrowthBook; a user whose id is the string "42" matches too`,
      );
    }
    // Checked as xp checks a flag's rules (authoring), so that a condition xp refuses (a misspelt
    // top-level "$savedGroups") skips this rule instead of making the whole flag invalid.
    const { problems } = compileCondition(inlined, 'condition', { authoring: true });
    if (problems.length > 0) {
      throw new SkipRule(`the condition is not valid in xp: ${problems.join('; ')}`);
    }
    return {
      ...(Object.keys(inlined).length === 0 ? {} : { condition: inlined }),
      ...(segments.length === 0 ? {} : { segments }),
      ...(excludeSegments.length === 0 ? {} : { excludeSegments }),
    };
  }

  private asSegment(attr: string, value: JsonValue, allowExclude: boolean): { key: string; negate: boolean } | undefined {
    if (!isPlainObject(value)) {
      return undefined;
    }
    const entries = Object.entries(value);
    if (entries.length !== 1) {
      return undefined;
    }
    const [op, groupId] = entries[0]!;
    if ((op !== '$inGroup' && !(op === '$notInGroup' && allowExclude)) || typeof groupId !== 'string') {
      return undefined;
    }
    const members = this.members(groupId);
    const idList = z.array(z.union([z.string().max(512), z.number()])).max(1_000_000).safeParse(members);
    if (!idList.success) {
      return undefined;
    }
    const mapKey = `${groupId}\u0000${attr}`;
    let segment = this.segments.get(mapKey);
    if (segment === undefined) {
      const taken = [...this.segments.keys()].some((k) => k.startsWith(`${groupId}\u0000`));
      const key = this.segmentKeys.allocate(taken ? `${groupId}-${attr}` : groupId, 'saved-group');
      const input: SegmentInput = {
        key,
        name: groupId.slice(0, 200) || key,
        description: `GrowthBook saved group "${groupId}" matched on "${attr}".`,
        type: 'ids',
        attribute: attr,
        values: idList.data,
      };
      const parsed = segmentSchema.safeParse(input);
      if (!parsed.success) {
        return undefined;
      }
      segment = parsed.data;
      this.segments.set(mapKey, segment);
      this.segmentsByKey.set(segment.key, segment);
    }
    return { key: segment.key, negate: op === '$notInGroup' };
  }

  /** A saved group's members; an unknown group is empty, as in GrowthBook. */
  private members(groupId: string): readonly unknown[] {
    if (!this.groups.has(groupId)) {
      this.ruleNotes.push(`saved group "${groupId}" is not in the payload; like GrowthBook, xp treats it as empty`);
      return [];
    }
    const members = this.groups.get(groupId) ?? null;
    if (members === null) {
      throw new SkipRule(`saved group "${groupId}" is not an ID list, so GrowthBook's $inGroup and $notInGroup match nobody`);
    }
    return members;
  }

  /**
   * Walks a condition the way GrowthBook evaluates it, inlining saved groups in operator positions
   * and adding the SDKs' string form to numeric unit ids (withIdStrings). `ofUnit` is false inside
   * `$elemMatch`, whose keys name fields of an array's elements, not the unit's attributes.
   */
  private inlineCondition(condition: unknown, ofUnit = true): unknown {
    if (!isPlainObject(condition)) {
      return condition;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(condition)) {
      if (k === '$savedGroup') {
        throw new SkipRule('$savedGroup references (condition saved groups) have no xp equivalent');
      }
      if (k === '$or' || k === '$nor' || k === '$and') {
        out[k] = Array.isArray(v) ? v.map((c) => this.inlineCondition(c, ofUnit)) : v;
      } else if (k === '$not') {
        out[k] = this.inlineCondition(v, ofUnit);
      } else {
        out[k] = this.inlineValue(v, ofUnit && k === UNIT_ID_ATTRIBUTE);
      }
    }
    return out;
  }

  /** An attribute's test; `unitId` when it tests the attribute the SDKs pass a numeric id in as its string. */
  private inlineValue(value: unknown, unitId: boolean): unknown {
    if (!isPlainObject(value) || !isOperatorObject(value)) {
      // A plain number compares loosely (`"42" * 1 === 42`), in GrowthBook and xp alike: it needs nothing.
      return value;
    }
    const ids = (list: readonly unknown[]): unknown[] => {
      if (!unitId) {
        return [...list];
      }
      const { list: both, added } = withIdStrings(list);
      for (const t of added) {
        this.idStrings.add(t);
      }
      return both;
    };
    // The operators the result holds, saved groups counted as the lists they are inlined as.
    const taken = new Set(Object.keys(value).map((op) => (op === '$inGroup' ? '$in' : op === '$notInGroup' ? '$nin' : op)));
    const out: Record<string, unknown> = {};
    for (const [op, arg] of Object.entries(value)) {
      const listOp = LIST_OF[op];
      if ((op === '$inGroup' || op === '$notInGroup') && typeof arg === 'string') {
        const members = this.members(arg);
        this.ruleNotes.push(`saved group "${arg}" inlined as ${op === '$inGroup' ? '$in' : '$nin'} with its ${members.length} value(s): an xp segment cannot stand in this position`);
        out[op === '$inGroup' ? '$in' : '$nin'] = ids(members);
      } else if (op === '$inGroup' || op === '$notInGroup') {
        throw new SkipRule(`${op} needs a saved group id (a string)`);
      } else if ((op === '$in' || op === '$nin') && Array.isArray(arg)) {
        out[op] = ids(arg);
      } else if (unitId && listOp !== undefined && typeof arg === 'number' && Number.isFinite(arg)) {
        // `$eq: 42` as `$in: [42, "42"]` (the same for any id but an array); kept strict when `$in` is taken.
        if (taken.has(listOp)) {
          this.ruleNotes.push(
            `${op} ${String(arg)} on "${UNIT_ID_ATTRIBUTE}" kept as it is (the test already has ${listOp}): the xp SDKs pass the user id ${String(arg)} as "${String(arg)}", which ${op} compares as another value than the number, where GrowthBook compared the number`,
          );
          out[op] = arg;
        } else {
          taken.add(listOp);
          out[listOp] = ids([arg]);
        }
      } else if (op === '$not') {
        out[op] = this.inlineValue(arg, unitId);
      } else if (op === '$size') {
        out[op] = this.inlineValue(arg, false);
      } else if (op === '$elemMatch') {
        out[op] = isPlainObject(arg) && isOperatorObject(arg) ? this.inlineValue(arg, false) : this.inlineCondition(arg, false);
      } else if ((op === '$all' || op === '$alli') && Array.isArray(arg)) {
        out[op] = arg.map((item) => this.inlineValue(item, false));
      } else {
        out[op] = arg;
      }
    }
    return out;
  }

  /** Segments that rules or experiments of imported flags refer to. */
  usedSegments(): Segment[] {
    const used = segmentsNamedByRules(this.flags);
    for (const exp of this.experiments) {
      for (const k of exp.segments ?? []) {
        used.add(k);
      }
    }
    return [...this.segmentsByKey.values()].filter((s) => used.has(s.key));
  }
}

/** The segment keys the flags' rules name (`segments` and `excludeSegments`, in every environment): what an import must bring along. */
export function segmentsNamedByRules(flags: readonly Flag[]): Set<string> {
  const used = new Set<string>();
  for (const flag of flags) {
    for (const state of Object.values(flag.environments)) {
      for (const rule of state.rules) {
        for (const k of [...(rule.segments ?? []), ...(rule.excludeSegments ?? [])]) {
          used.add(k);
        }
      }
    }
  }
  return used;
}

/** The largest share of units an imported experiment may move to another variation (weights GrowthBook does not normalise). */
const MAX_MOVED = 0.005;

/** GrowthBook's weights when it uses them as given; undefined when it falls back to equal weights. */
function effectiveWeights(n: number, weights: readonly number[] | undefined): readonly number[] | undefined {
  if (weights?.length !== n) {
    return undefined;
  }
  const total = weights.reduce((sum, w) => sum + w, 0);
  return total < 0.99 || total > 1.01 ? undefined : weights;
}

function sameRanges(a: readonly (readonly [number, number])[], b: readonly (readonly [number, number])[]): boolean {
  return a.length === b.length && a.every((r, i) => r[0] === b[i]![0] && r[1] === b[i]![1]);
}

/** A VALIDATION_FAILED error of an import's input (the importers' one way to refuse it). */
export function invalid(message: string, details?: unknown): AppError {
  return new AppError(AppErrorCode.Validation, message, details);
}

/** The xp environment an import writes to, checked as a key (VALIDATION_FAILED naming it otherwise). */
export function importEnvironment(environment: string): string {
  const env = keySchema.safeParse(environment);
  if (!env.success) {
    throw invalid(`invalid environment: ${formatIssues(env.error, 'environment').join('; ')}`);
  }
  return env.data;
}

/** Splits the input into the features map and the payload-level parts. */
function readPayload(payload: unknown, warnings: string[]): { features: Record<string, GbFeature>; savedGroups: Record<string, unknown> } {
  if (!isPlainObject(payload)) {
    throw invalid('invalid GrowthBook payload: (root): must be a JSON object: the SDK payload or its features map');
  }
  const encrypted = ENCRYPTED_KEYS.filter((k) => k in payload);
  if (encrypted.length > 0) {
    throw invalid(`invalid GrowthBook payload: ${encrypted.join(', ')}: the payload is encrypted; export it from an SDK connection without encryption`);
  }
  // The SDK payload has a features map under "features"; a bare features map could have a feature
  // named "features", which is a feature (defaultValue, rules), not a map of them.
  const inner = payload.features;
  if (isPlainObject(inner) && !('defaultValue' in inner) && !('rules' in inner)) {
    const unknown = Object.keys(payload).filter((k) => !PAYLOAD_KEYS.has(k));
    if (unknown.length > 0) {
      warnings.push(`payload: ignored unknown field(s) ${unknown.join(', ')}`);
    }
    const parsed = payloadInput.safeParse(Object.fromEntries(Object.entries(payload).filter(([k]) => PAYLOAD_KEYS.has(k))));
    if (!parsed.success) {
      const issues = formatIssues(parsed.error);
      throw invalid(`invalid GrowthBook payload: ${issues.join('; ')}`);
    }
    if (parsed.data.experiments !== undefined && parsed.data.experiments.length > 0) {
      warnings.push(`payload: ${parsed.data.experiments.length} auto experiment(s) (visual editor, URL redirects) not imported`);
    }
    return { features: parsed.data.features, savedGroups: parsed.data.savedGroups ?? {} };
  }
  const parsed = featuresInput.safeParse(payload);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error);
    throw invalid(`invalid GrowthBook features map: ${issues.join('; ')}`);
  }
  return { features: parsed.data, savedGroups: {} };
}

/**
 * Converts a GrowthBook SDK payload (`{ features, savedGroups? }`) or a bare features map into xp
 * definitions for one environment. Throws an `AppError` (VALIDATION_FAILED) naming the offending
 * path when the input is malformed; every rule it cannot convert exactly is skipped with a warning.
 */
export function convertGrowthBookPayload(payload: unknown, options: GrowthBookImportOptions): GrowthBookImportResult {
  const environment = importEnvironment(options.environment);
  const warnings: string[] = [];
  const { features, savedGroups } = readPayload(payload, warnings);
  const groups = new Map(Object.entries(savedGroups).map(([id, entry]) => [id, groupMembers(entry)] as const));
  const importer = new Importer(environment, options.stickyBucketing === true, groups, features);
  importer.reserveFlagKeys(Object.keys(features));
  for (const [key, feature] of Object.entries(features)) {
    importer.importFeature(key, feature);
  }
  importer.resolvePrerequisites();
  return { flags: importer.flags, experiments: importer.experiments, segments: importer.usedSegments(), warnings: [...warnings, ...importer.warnings] };
}

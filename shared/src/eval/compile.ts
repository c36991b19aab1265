import type { RulesetExperiment, RulesetFlag, RulesetHoldout, RulesetRule } from '../model/ruleset.js';
import type { BucketRange, NamespaceRange } from './bucketing.js';
import { getBucketRanges } from './bucketing.js';
import { seedState } from './hash.js';
import type { ConditionTest } from './condition.js';
import { compileCondition } from './condition.js';
import { checkRulesetEnvelope, checkRulesetExperiment, checkRulesetFlag, checkRulesetHoldout } from './ruleset-validator.js';
import type { EvaluationResult } from './types.js';
import { ErrorCode, Reason } from './types.js';

/**
 * Compiles a ruleset once into lookup tables, predicate trees and pre-built results, cached per
 * ruleset object, so evaluation does no parsing, validation or closure creation.
 */

export const RuleKind = {
  /** Serve one variation on match. */
  Force: 0,
  /** Serve one variation to a hashed fraction. */
  Rollout: 1,
  /** Weighted split across variations. */
  Split: 2,
  /** Delegate to an experiment. */
  Experiment: 3,
} as const;
export type RuleKind = (typeof RuleKind)[keyof typeof RuleKind];

export interface CompiledRule {
  readonly id: string;
  readonly kind: RuleKind;
  readonly test: ConditionTest | undefined;
  /** The condition `test` was compiled from, for explanations. */
  readonly condition: Record<string, unknown> | undefined;
  readonly from: number | undefined;
  readonly until: number | undefined;
  /** Force: the result to return. */
  readonly result: EvaluationResult | undefined;
  readonly variation: number;
  readonly coverage: number;
  readonly schedule: readonly (readonly [number, number])[] | undefined;
  readonly hashAttribute: string;
  readonly fallbackAttribute: string | undefined;
  readonly seed: string;
  /** FNV state after the seed, so version-2 hashing skips re-hashing the seed. */
  readonly seedState: number;
  readonly hashVersion: number;
  readonly ranges: readonly BucketRange[];
  readonly experiment: string;
  /** Experiment variation index → flag variation index. */
  readonly variationMap: readonly number[];
}

export interface CompiledFlag {
  readonly key: string;
  /** Set when the flag cannot be evaluated; carries the error code and message. */
  readonly error: { readonly code: ErrorCode; readonly message: string } | undefined;
  readonly on: boolean;
  readonly variations: readonly { readonly key: string; readonly value: unknown }[];
  readonly prerequisites: readonly { readonly flag: string; readonly variation: string }[];
  readonly rules: readonly CompiledRule[];
  /** Whether any rule depends on the clock. */
  readonly timed: boolean;
  readonly defaultResult: EvaluationResult;
  readonly disabledResult: EvaluationResult;
  readonly prerequisiteFailed: readonly EvaluationResult[];
}

export interface CompiledExperiment {
  readonly key: string;
  readonly error: { readonly code: ErrorCode; readonly message: string } | undefined;
  readonly def: RulesetExperiment;
  readonly ranges: readonly BucketRange[];
  readonly test: ConditionTest | undefined;
  readonly namespace: NamespaceRange | undefined;
  /** "__" + namespace id: the namespace hash seed. */
  readonly namespaceSeed: string;
  readonly holdout: RulesetHoldout | undefined;
  readonly overrideParam: string;
  readonly seedState: number;
}

export interface CompiledRuleset {
  readonly error: { readonly code: ErrorCode; readonly message: string } | undefined;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  readonly experiments: ReadonlyMap<string, CompiledExperiment>;
  readonly groups: Readonly<Record<string, ReadonlySet<unknown>>>;
}

/** The envelope as checkRulesetEnvelope guarantees it; entries are checked one by one. */
interface RulesetEnvelope {
  readonly flags: Readonly<Record<string, unknown>>;
  readonly experiments?: Readonly<Record<string, unknown>> | undefined;
  readonly savedGroups?: Readonly<Record<string, readonly (string | number)[]>> | undefined;
  readonly holdouts?: Readonly<Record<string, unknown>> | undefined;
}

/** A record's entries as zod's record parsing kept them: a "__proto__" key is dropped. */
function entries<T>(record: Readonly<Record<string, T>> | undefined): [string, T][] {
  return record === undefined ? [] : Object.entries(record).filter(([key]) => key !== '__proto__');
}

const EMPTY_RESULT: EvaluationResult = Object.freeze({ value: null, variationKey: null, reason: Reason.Default });
const EMPTY: CompiledRuleset = { error: undefined, flags: new Map(), experiments: new Map(), groups: {} };

class Invalid extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'Invalid';
  }
}

function freeze<T extends object>(o: T): Readonly<T> {
  return Object.freeze(o);
}

function compileTest(condition: Record<string, unknown> | undefined, path: string): ConditionTest | undefined {
  if (condition === undefined) {
    return undefined;
  }
  const { test, problems } = compileCondition(condition, path);
  if (problems.length > 0) {
    throw new Invalid(ErrorCode.InvalidRule, problems.join('; '));
  }
  return test;
}

function checkIndex(i: number, length: number, path: string): void {
  if (i >= length) {
    throw new Invalid(ErrorCode.ParseError, `${path}: variation index ${i} is out of range (${length} variations)`);
  }
}

/** Every compiled experiment has the same shape (one hidden class), so evaluation stays monomorphic. */
function makeExperiment(
  key: string,
  error: CompiledExperiment['error'],
  def: RulesetExperiment | undefined,
  ranges: readonly BucketRange[],
  test: ConditionTest | undefined,
  holdout: RulesetHoldout | undefined,
): CompiledExperiment {
  return {
    key,
    error,
    def: def as RulesetExperiment,
    ranges,
    test,
    namespace: def?.namespace,
    namespaceSeed: def?.namespace === undefined ? '' : `__${def.namespace[0]}`,
    holdout,
    overrideParam: `xp_${key}`,
    seedState: seedState(def?.seed ?? ''),
  };
}

function compileExperiment(
  key: string,
  raw: unknown,
  holdouts: ReadonlyMap<string, RulesetHoldout>,
  brokenHoldouts: ReadonlyMap<string, string>,
): CompiledExperiment {
  const path = `experiments.${key}`;
  const problems = checkRulesetExperiment(raw, path);
  if (problems.length > 0) {
    return makeExperiment(key, { code: ErrorCode.ParseError, message: problems.join('; ') }, undefined, [], undefined, undefined);
  }
  const def = raw as RulesetExperiment;
  try {
    if (def.weights.length !== def.variations.length) {
      throw new Invalid(ErrorCode.ParseError, `${path}.weights: expected ${def.variations.length} weights, got ${def.weights.length}`);
    }
    if (def.force !== undefined) {
      checkIndex(def.force, def.variations.length, `${path}.force`);
    }
    const holdout = def.holdout === undefined ? undefined : holdouts.get(def.holdout);
    if (def.holdout !== undefined && holdout === undefined) {
      const broken = brokenHoldouts.get(def.holdout);
      throw new Invalid(broken === undefined ? ErrorCode.InvalidRule : ErrorCode.ParseError, broken ?? `${path}.holdout: unknown holdout "${def.holdout}"`);
    }
    return makeExperiment(key, undefined, def, getBucketRanges(def.variations.length, def.coverage, def.weights), compileTest(def.condition, `${path}.condition`), holdout);
  } catch (e) {
    if (!(e instanceof Invalid)) {
      throw e;
    }
    return makeExperiment(key, { code: e.code, message: e.message }, def, [], undefined, undefined);
  }
}

interface RuleParts {
  kind: RuleKind;
  result?: EvaluationResult;
  variation?: number;
  coverage?: number;
  schedule?: readonly (readonly [number, number])[] | undefined;
  hashAttribute?: string;
  fallbackAttribute?: string | undefined;
  seed?: string;
  hashVersion?: number;
  ranges?: readonly BucketRange[];
  experiment?: string;
  variationMap?: readonly number[];
}

/** Every compiled rule has the same shape (one hidden class), so evaluation stays monomorphic. */
function makeRule(rule: RulesetRule, test: ConditionTest | undefined, p: RuleParts): CompiledRule {
  const seed = p.seed ?? '';
  return {
    id: rule.id,
    kind: p.kind,
    test,
    condition: rule.condition,
    from: rule.from,
    until: rule.until,
    result: p.result,
    variation: p.variation ?? -1,
    coverage: p.coverage ?? 1,
    schedule: p.schedule,
    hashAttribute: p.hashAttribute ?? 'id',
    fallbackAttribute: p.fallbackAttribute,
    seed,
    seedState: seedState(seed),
    hashVersion: p.hashVersion ?? 2,
    ranges: p.ranges ?? [],
    experiment: p.experiment ?? '',
    variationMap: p.variationMap ?? [],
  };
}

function compileRule(flagKey: string, flag: RulesetFlag, rule: RulesetRule, index: number, experiments: ReadonlyMap<string, CompiledExperiment>): CompiledRule {
  const path = `flags.${flagKey}.rules[${index}]`;
  const n = flag.variations.length;
  const test = compileTest(rule.condition, `${path}.condition`);
  switch (rule.type) {
    case 'force': {
      checkIndex(rule.variation, n, `${path}.variation`);
      const v = flag.variations[rule.variation]!;
      const result = freeze({ value: v.value, variationKey: v.key, reason: Reason.TargetingMatch, ruleId: rule.id });
      return makeRule(rule, test, { kind: RuleKind.Force, variation: rule.variation, result });
    }
    case 'rollout': {
      checkIndex(rule.variation, n, `${path}.variation`);
      const schedule = rule.schedule === undefined ? undefined : [...rule.schedule].sort((a, b) => a[0] - b[0]);
      return makeRule(rule, test, {
        kind: RuleKind.Rollout,
        variation: rule.variation,
        coverage: rule.coverage,
        schedule,
        hashAttribute: rule.hashAttribute,
        fallbackAttribute: rule.fallbackAttribute,
        seed: rule.seed,
        hashVersion: rule.hashVersion,
      });
    }
    case 'split': {
      if (rule.weights.length !== n) {
        throw new Invalid(ErrorCode.ParseError, `${path}.weights: expected ${n} weights, got ${rule.weights.length}`);
      }
      return makeRule(rule, test, {
        kind: RuleKind.Split,
        hashAttribute: rule.hashAttribute,
        fallbackAttribute: rule.fallbackAttribute,
        seed: rule.seed,
        hashVersion: rule.hashVersion,
        ranges: getBucketRanges(n, 1, rule.weights),
      });
    }
    case 'experiment': {
      const exp = experiments.get(rule.experiment);
      if (exp === undefined) {
        throw new Invalid(ErrorCode.InvalidRule, `${path}.experiment: unknown experiment "${rule.experiment}"`);
      }
      if (exp.error !== undefined) {
        throw new Invalid(exp.error.code, exp.error.message);
      }
      if (rule.variations.length !== exp.def.variations.length) {
        throw new Invalid(
          ErrorCode.ParseError,
          `${path}.variations: experiment "${rule.experiment}" has ${exp.def.variations.length} variations, the rule maps ${rule.variations.length}`,
        );
      }
      rule.variations.forEach((v, i) => {
        checkIndex(v, n, `${path}.variations[${i}]`);
      });
      return makeRule(rule, test, { kind: RuleKind.Experiment, experiment: rule.experiment, variationMap: rule.variations });
    }
  }
}

function brokenFlag(key: string, code: ErrorCode, message: string): CompiledFlag {
  return {
    key,
    error: { code, message },
    on: false,
    variations: [],
    prerequisites: [],
    rules: [],
    timed: false,
    defaultResult: EMPTY_RESULT,
    disabledResult: EMPTY_RESULT,
    prerequisiteFailed: [],
  };
}

function compileFlag(key: string, raw: unknown, experiments: ReadonlyMap<string, CompiledExperiment>): CompiledFlag {
  const problems = checkRulesetFlag(raw, `flags.${key}`);
  if (problems.length > 0) {
    return brokenFlag(key, ErrorCode.ParseError, problems.join('; '));
  }
  const flag = raw as RulesetFlag;
  try {
    const n = flag.variations.length;
    checkIndex(flag.default, n, `flags.${key}.default`);
    checkIndex(flag.off, n, `flags.${key}.off`);
    const rules = (flag.rules ?? []).map((r, i) => compileRule(key, flag, r, i, experiments));
    const def = flag.variations[flag.default]!;
    const off = flag.variations[flag.off]!;
    const prerequisites = flag.prerequisites ?? [];
    return {
      key,
      error: undefined,
      on: flag.on !== false,
      variations: flag.variations,
      prerequisites,
      rules,
      timed: rules.some((r) => r.from !== undefined || r.until !== undefined || r.schedule !== undefined),
      defaultResult: freeze({ value: def.value, variationKey: def.key, reason: Reason.Default }),
      disabledResult: freeze({ value: off.value, variationKey: off.key, reason: Reason.Disabled }),
      prerequisiteFailed: prerequisites.map((p) =>
        freeze({ value: off.value, variationKey: off.key, reason: Reason.PrerequisiteFailed, prerequisite: p.flag }),
      ),
    };
  } catch (e) {
    if (!(e instanceof Invalid)) {
      throw e;
    }
    return brokenFlag(key, e.code, e.message);
  }
}

/** Marks every flag whose prerequisites lead back to itself. */
function markCycles(flags: Map<string, CompiledFlag>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const cyclic = new Set<string>();
  const visit = (key: string, stack: string[]): void => {
    const s = state.get(key);
    if (s === 'done') {
      return;
    }
    if (s === 'visiting') {
      for (const k of stack.slice(stack.indexOf(key))) {
        cyclic.add(k);
      }
      return;
    }
    state.set(key, 'visiting');
    stack.push(key);
    for (const p of flags.get(key)?.prerequisites ?? []) {
      if (flags.has(p.flag)) {
        visit(p.flag, stack);
      }
    }
    stack.pop();
    state.set(key, 'done');
  };
  for (const key of flags.keys()) {
    visit(key, []);
  }
  for (const key of cyclic) {
    flags.set(key, brokenFlag(key, ErrorCode.PrerequisiteCycle, `flags.${key}.prerequisites: prerequisites form a cycle through "${key}"`));
  }
}

function compile(ruleset: unknown): CompiledRuleset {
  const problems = checkRulesetEnvelope(ruleset, 'ruleset');
  if (problems.length > 0) {
    return { ...EMPTY, error: { code: ErrorCode.ParseError, message: problems.join('; ') } };
  }
  const doc = ruleset as RulesetEnvelope;
  const groups: Record<string, ReadonlySet<unknown>> = {};
  for (const [key, ids] of entries(doc.savedGroups)) {
    groups[key] = new Set(ids);
  }
  const holdouts = new Map<string, RulesetHoldout>();
  const brokenHoldouts = new Map<string, string>();
  for (const [key, raw] of entries(doc.holdouts)) {
    const problems = checkRulesetHoldout(raw, `holdouts.${key}`);
    if (problems.length === 0) {
      holdouts.set(key, raw as RulesetHoldout);
    } else {
      brokenHoldouts.set(key, problems.join('; '));
    }
  }
  const experiments = new Map<string, CompiledExperiment>();
  for (const [key, raw] of entries(doc.experiments)) {
    experiments.set(key, compileExperiment(key, raw, holdouts, brokenHoldouts));
  }
  const flags = new Map<string, CompiledFlag>();
  for (const [key, raw] of entries(doc.flags)) {
    flags.set(key, compileFlag(key, raw, experiments));
  }
  markCycles(flags);
  return { error: undefined, flags, experiments, groups };
}

const cache = new WeakMap<object, CompiledRuleset>();

/** The compiled form of a ruleset, built on first use and cached for the object's lifetime. */
export function getCompiled(ruleset: unknown): CompiledRuleset {
  if (typeof ruleset !== 'object' || ruleset === null) {
    return { ...EMPTY, error: { code: ErrorCode.ParseError, message: 'ruleset: must be an object' } };
  }
  let compiled = cache.get(ruleset);
  if (compiled === undefined) {
    compiled = compile(ruleset);
    cache.set(ruleset, compiled);
  }
  return compiled;
}

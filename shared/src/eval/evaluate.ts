import { chooseVariation } from './bucketing.js';
import { dateInstant, explainConditionFailure, readAttribute } from './condition.js';
import type { CompiledExperiment, CompiledFlag, CompiledRule, CompiledRuleset } from './compile.js';
import { RuleKind, getCompiled } from './compile.js';
import { hash, hashV2FromSeed } from './hash.js';
import type {
  EvaluationContext,
  EvaluationOptions,
  EvaluationResult,
  ExperimentAssignment,
  ExperimentResult,
  StickyBucketStore,
  TraceStep,
} from './types.js';
import { ErrorCode, Reason, SkipReason } from './types.js';


/** Epoch milliseconds as an ISO instant in a trace (years 0-9999; the number itself beyond them). */
function instant(ms: number): string {
  return ms >= -62_167_219_200_000 && ms <= 253_402_300_799_999 ? new Date(ms).toISOString() : String(ms);
}

/** Prerequisite chains deeper than this are treated as broken (cycles are caught at compile time). */
const MAX_DEPTH = 32;
const EMPTY_ATTRIBUTES: Readonly<Record<string, unknown>> = Object.freeze({});
const NOT_FOUND: EvaluationResult = Object.freeze({
  value: null,
  variationKey: null,
  reason: Reason.FlagNotFound,
  errorCode: ErrorCode.FlagNotFound,
  errorMessage: 'flag not found',
});
const TYPE_MISMATCH = Symbol('type-mismatch');

/** Thrown inside evaluation to abandon it with an error result; caught at the public edge. */
class EvaluationError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EvaluationError';
  }
}

function errorResult<T>(code: ErrorCode, message: string, defaultValue: T | undefined, reason: Reason = Reason.Error): EvaluationResult<T> {
  return { value: (defaultValue ?? null) as T, variationKey: null, reason, errorCode: code, errorMessage: message };
}

/**
 * The unit's bucketing id: a non-empty string, a number or a valid Date; undefined when absent. The
 * attribute is a path read as conditions read it (`organization.key`, own properties only).
 */
function readHashValue(attributes: Readonly<Record<string, unknown>>, name: string, fallback: string | undefined): string | undefined | typeof TYPE_MISMATCH {
  let v = readAttribute(attributes, name);
  if ((v === undefined || v === null || v === '') && fallback !== undefined) {
    v = readAttribute(attributes, fallback);
  }
  if (typeof v === 'string') {
    return v === '' ? undefined : v;
  }
  if (typeof v === 'number') {
    return Number.isFinite(v) ? String(v) : TYPE_MISMATCH;
  }
  if (v === undefined || v === null) {
    return undefined;
  }
  if (v instanceof Date) {
    // The string conditions compare a Date as (`2026-06-01T00:00:00Z`), as the Python SDK buckets a datetime.
    return dateInstant(v) ?? TYPE_MISMATCH;
  }
  return TYPE_MISMATCH;
}

/** The attribute a unit's bucketing id comes from: the fallback when the hash attribute is absent or empty. */
function usedHashAttribute(attributes: Readonly<Record<string, unknown>>, name: string, fallback: string | undefined): string {
  const v = readAttribute(attributes, name);
  return (v === undefined || v === null || v === '') && fallback !== undefined ? fallback : name;
}

/**
 * The fallback attribute's value as a bucketing id, when the unit has one other than `hashValue`
 * (undefined when absent, of a type bucketing refuses, or the same id).
 */
function fallbackValueOf(attributes: Readonly<Record<string, unknown>>, fallback: string | undefined, hashValue: string): string | undefined {
  if (fallback === undefined) {
    return undefined;
  }
  const v = readHashValue(attributes, fallback, undefined);
  return v === TYPE_MISMATCH || v === hashValue ? undefined : v;
}

function hashValueOrThrow(attributes: Readonly<Record<string, unknown>>, name: string, fallback: string | undefined): string | undefined {
  const v = readHashValue(attributes, name, fallback);
  if (v === TYPE_MISMATCH) {
    throw new EvaluationError(ErrorCode.TypeMismatch, `attribute "${name}" must be a string or a number to be used for bucketing`);
  }
  return v;
}

function effectiveCoverage(rule: CompiledRule, now: number): number {
  let coverage = rule.coverage;
  if (rule.schedule !== undefined) {
    for (const [at, c] of rule.schedule) {
      if (at <= now) {
        coverage = c;
      } else {
        break;
      }
    }
  }
  return coverage;
}

/** Reads a QA override `xp_<key>=<variation key or index>` from a URL's query string. */
function urlOverride(url: string, exp: CompiledExperiment): number {
  const q = url.indexOf('?');
  if (q < 0 || !url.includes(exp.overrideParam, q)) {
    return -1;
  }
  const end = url.indexOf('#', q);
  // URLSearchParams drops one leading '?': give it the query's own, so `??xp_x=1` names `?xp_x` (as WHATWG URL does).
  const params = new URLSearchParams(url.slice(q, end < 0 ? undefined : end));
  const raw = params.get(exp.overrideParam);
  return raw === null ? -1 : variationIndexOf(exp, raw);
}

const DIGITS = /^\d+$/;

function indexOfKey(exp: CompiledExperiment, key: string): number {
  const variations = exp.def.variations;
  for (let i = 0; i < variations.length; i++) {
    if (variations[i]!.key === key) {
      return i;
    }
  }
  return -1;
}

function variationIndexOf(exp: CompiledExperiment, ref: string | number): number {
  const variations = exp.def.variations;
  if (typeof ref === 'string') {
    const byKey = indexOfKey(exp, ref);
    if (byKey >= 0) {
      return byKey;
    }
    if (!DIGITS.test(ref)) {
      return -1;
    }
  }
  const i = Number(ref);
  return Number.isInteger(i) && i >= 0 && i < variations.length ? i : -1;
}

/** Outcome of assigning a unit to an experiment: an assignment, or why it was skipped. */
type Assignment = ExperimentAssignment | SkipReason;

// One literal per assignment shape: spreads would give every result its own hidden class.
function forcedAssignment(exp: CompiledExperiment, index: number): ExperimentAssignment {
  return {
    key: exp.key,
    variationKey: exp.def.variations[index]!.key,
    variationIndex: index,
    inExperiment: false,
    hashAttribute: exp.def.hashAttribute,
    hashValue: '',
    forced: true,
  };
}

function stickyAssignment(exp: CompiledExperiment, index: number, hashAttribute: string, hashValue: string): ExperimentAssignment {
  return {
    key: exp.key,
    variationKey: exp.def.variations[index]!.key,
    variationIndex: index,
    inExperiment: true,
    hashAttribute,
    hashValue,
    sticky: true,
  };
}

function bucketedAssignment(exp: CompiledExperiment, index: number, hashAttribute: string, hashValue: string, bucket: number): ExperimentAssignment {
  return {
    key: exp.key,
    variationKey: exp.def.variations[index]!.key,
    variationIndex: index,
    inExperiment: true,
    hashAttribute,
    hashValue,
    bucket,
  };
}

/** The unit's bucket for a rule or experiment, using the precomputed seed state for version 2. */
function bucketOf(seed: string, state: number, version: number, value: string): number | null {
  return version === 2 ? hashV2FromSeed(state, value) : hash(seed, value, version);
}

/** The unit's stored assignments; a store that throws (storage blocked in a sandboxed frame, a backend down) holds none. */
function stickyGet(store: StickyBucketStore, hashAttribute: string, hashValue: string): Readonly<Record<string, string>> | undefined {
  try {
    return store.get(hashAttribute, hashValue);
  } catch {
    return undefined;
  }
}

function assign(compiled: CompiledRuleset, exp: CompiledExperiment, context: EvaluationContext, attributes: Readonly<Record<string, unknown>>): Assignment {
  const def = exp.def;
  if (def.urlOverride !== false && context.url !== undefined) {
    const forced = urlOverride(context.url, exp);
    if (forced >= 0) {
      return forcedAssignment(exp, forced);
    }
  }
  const forcedRef = context.forcedVariations?.[exp.key];
  if (forcedRef !== undefined) {
    const forced = variationIndexOf(exp, forcedRef);
    if (forced >= 0) {
      return forcedAssignment(exp, forced);
    }
  }
  if (def.force !== undefined) {
    return forcedAssignment(exp, def.force);
  }
  const hashValue = hashValueOrThrow(attributes, def.hashAttribute, def.fallbackAttribute);
  if (hashValue === undefined) {
    return SkipReason.NoHashAttribute;
  }
  // Exposures name the attribute the id came from; sticky assignments stay keyed by the hash attribute.
  const hashAttribute = usedHashAttribute(attributes, def.hashAttribute, def.fallbackAttribute);
  const store = def.sticky === undefined ? undefined : context.stickyBuckets;
  let stored: Readonly<Record<string, string>> | undefined;
  if (store !== undefined && def.sticky !== undefined) {
    stored = stickyGet(store, def.hashAttribute, hashValue);
    // A unit hashed by its fallback before (a visitor's device id) and by its hash attribute now
    // (logged in) keeps what its fallback was given: its assignments count too, behind its own.
    const earlier = hashAttribute === def.hashAttribute ? fallbackValueOf(attributes, def.fallbackAttribute, hashValue) : undefined;
    const before = earlier === undefined ? undefined : stickyGet(store, def.hashAttribute, earlier);
    const assignments = before === undefined ? stored : { ...before, ...stored };
    if (assignments !== undefined) {
      for (let v = 0; v < def.sticky.minBucketVersion; v++) {
        if (assignments[`${exp.key}__${v}`] !== undefined) {
          return SkipReason.StickyBlocked;
        }
      }
      const entry = `${exp.key}__${def.sticky.bucketVersion}`;
      const key = assignments[entry];
      const index = key === undefined ? -1 : indexOfKey(exp, key);
      if (index >= 0) {
        if (stored?.[entry] !== key) {
          // Kept from the fallback: stored under the unit's own id too, which it keeps on other devices.
          try {
            store.set(def.hashAttribute, hashValue, { ...stored, [entry]: key! });
          } catch {
            // As below: the unit keeps its assignment, only not under its own id.
          }
        }
        return stickyAssignment(exp, index, hashAttribute, hashValue);
      }
    }
  }
  if (exp.namespace !== undefined) {
    const n = hash(exp.namespaceSeed, hashValue, 1);
    if (n === null || n < exp.namespace[1] || n >= exp.namespace[2]) {
      return SkipReason.Namespace;
    }
  }
  if (exp.holdout !== undefined) {
    const holdoutValue = hashValueOrThrow(attributes, exp.holdout.hashAttribute, undefined);
    if (holdoutValue !== undefined) {
      const h = hash(exp.holdout.seed, holdoutValue, 2);
      if (h !== null && h < exp.holdout.coverage) {
        return SkipReason.Holdout;
      }
    }
  }
  if (exp.test !== undefined && !exp.test(attributes, compiled.groups)) {
    return SkipReason.Condition;
  }
  const bucket = bucketOf(def.seed, exp.seedState, def.hashVersion, hashValue);
  const index = bucket === null ? -1 : chooseVariation(bucket, exp.ranges);
  if (bucket === null || index < 0) {
    return SkipReason.Coverage;
  }
  if (store !== undefined && def.sticky !== undefined) {
    try {
      store.set(def.hashAttribute, hashValue, { ...stored, [`${exp.key}__${def.sticky.bucketVersion}`]: def.variations[index]!.key });
    } catch {
      // Blocked or full storage, a store backend down: the unit keeps its assignment, only not sticky.
    }
  }
  return bucketedAssignment(exp, index, hashAttribute, hashValue, bucket);
}

/** How a trace tells a variation kept from the store from one the unit's bucket chose (the Python engine says the same). */
const STICKY_KEPT = ' (kept from the stored sticky assignment)';

function evalFlag(
  compiled: CompiledRuleset,
  flag: CompiledFlag,
  context: EvaluationContext,
  attributes: Readonly<Record<string, unknown>>,
  trace: TraceStep[] | undefined,
  depth: number,
): EvaluationResult {
  if (flag.error !== undefined) {
    throw new EvaluationError(flag.error.code, flag.error.message);
  }
  if (!flag.on) {
    return flag.disabledResult;
  }
  for (let i = 0; i < flag.prerequisites.length; i++) {
    const p = flag.prerequisites[i]!;
    const parent = compiled.flags.get(p.flag);
    let failed: string | undefined;
    if (parent !== undefined && parent.error === undefined && !parent.on) {
      // A parent that is off fails its dependents, whatever its off variation is (as LaunchDarkly and GrowthBook do).
      failed = `is switched off: a flag that is off fails every prerequisite on it, whatever variation the prerequisite needs (this one needs ${p.variation})`;
    } else {
      let served: EvaluationResult | undefined;
      if (parent !== undefined && parent.error === undefined && depth < MAX_DEPTH) {
        try {
          served = evalFlag(compiled, parent, context, attributes, undefined, depth + 1);
        } catch (e) {
          // A parent that cannot be evaluated serves nothing, so the prerequisite fails safely.
          if (!(e instanceof EvaluationError)) {
            throw e;
          }
        }
      }
      if (served?.reason === Reason.PrerequisiteFailed) {
        failed = `failed its prerequisite ${served.prerequisite!}, needs ${p.variation}`;
      } else if (served?.variationKey !== p.variation) {
        failed = `served ${served?.variationKey ?? 'nothing'}, needs ${p.variation}`;
      }
    }
    if (failed !== undefined) {
      trace?.push({ outcome: 'prerequisite-failed', detail: `${p.flag} ${failed}` });
      return flag.prerequisiteFailed[i]!;
    }
  }
  // A `now` that is not a finite number ("1000", an ISO string, NaN) is ignored, as in the Python SDK.
  const now = flag.timed ? (typeof context.now === 'number' && Number.isFinite(context.now) ? context.now : Date.now()) : 0;
  for (const rule of flag.rules) {
    if ((rule.from !== undefined && now < rule.from) || (rule.until !== undefined && now >= rule.until)) {
      trace?.push({ ruleId: rule.id, outcome: 'inactive', detail: rule.from !== undefined && now < rule.from ? `starts ${instant(rule.from)}` : `ended ${instant(rule.until!)}` });
      continue;
    }
    if (rule.test !== undefined && !rule.test(attributes, compiled.groups)) {
      trace?.push({ ruleId: rule.id, outcome: 'condition-false', detail: explainConditionFailure(rule.condition, attributes, compiled.groups) });
      continue;
    }
    switch (rule.kind) {
      case RuleKind.Force:
        trace?.push({ ruleId: rule.id, outcome: 'matched' });
        return rule.result!;
      case RuleKind.Rollout: {
        const hashValue = hashValueOrThrow(attributes, rule.hashAttribute, rule.fallbackAttribute);
        if (hashValue === undefined) {
          trace?.push({ ruleId: rule.id, outcome: 'no-hash-attribute', detail: rule.hashAttribute });
          continue;
        }
        const coverage = effectiveCoverage(rule, now);
        const bucket = bucketOf(rule.seed, rule.seedState, rule.hashVersion, hashValue);
        if (bucket === null || coverage <= 0 || bucket > coverage) {
          trace?.push({ ruleId: rule.id, outcome: 'outside-rollout', detail: `bucket ${bucket ?? 'none'} > coverage ${coverage}` });
          continue;
        }
        const v = flag.variations[rule.variation]!;
        trace?.push({ ruleId: rule.id, outcome: 'matched', detail: `bucket ${bucket} <= coverage ${coverage}` });
        return { value: v.value, variationKey: v.key, reason: Reason.Split, ruleId: rule.id, bucket };
      }
      case RuleKind.Split: {
        const hashValue = hashValueOrThrow(attributes, rule.hashAttribute, rule.fallbackAttribute);
        if (hashValue === undefined) {
          trace?.push({ ruleId: rule.id, outcome: 'no-hash-attribute', detail: rule.hashAttribute });
          continue;
        }
        const bucket = bucketOf(rule.seed, rule.seedState, rule.hashVersion, hashValue);
        const index = bucket === null ? -1 : chooseVariation(bucket, rule.ranges);
        if (bucket === null || index < 0) {
          trace?.push({ ruleId: rule.id, outcome: 'outside-split' });
          continue;
        }
        const v = flag.variations[index]!;
        trace?.push({ ruleId: rule.id, outcome: 'matched', detail: `bucket ${bucket}` });
        return { value: v.value, variationKey: v.key, reason: Reason.Split, ruleId: rule.id, bucket };
      }
      case RuleKind.Experiment: {
        const exp = compiled.experiments.get(rule.experiment)!;
        const a = assign(compiled, exp, context, attributes);
        if (typeof a === 'string') {
          trace?.push({ ruleId: rule.id, outcome: 'not-in-experiment', detail: a });
          continue;
        }
        const v = flag.variations[rule.variationMap[a.variationIndex]!]!;
        // A sticky unit keeps what it was first given, whatever the weights say now: the trace says so,
        // as the same unit may be bucketed afresh where another store holds no assignment for it.
        trace?.push({ ruleId: rule.id, outcome: a.forced === true ? 'forced' : 'matched', detail: `${exp.key}: ${a.variationKey}${a.sticky === true ? STICKY_KEPT : ''}` });
        return a.bucket === undefined
          ? { value: v.value, variationKey: v.key, reason: Reason.Split, ruleId: rule.id, experiment: a }
          : { value: v.value, variationKey: v.key, reason: Reason.Split, ruleId: rule.id, bucket: a.bucket, experiment: a };
      }
    }
  }
  return flag.defaultResult;
}

function contextAttributes(context: unknown): Readonly<Record<string, unknown>> | undefined {
  if (typeof context !== 'object' || context === null) {
    return undefined;
  }
  const attributes: unknown = (context as EvaluationContext).attributes;
  if (attributes === undefined) {
    return EMPTY_ATTRIBUTES;
  }
  return typeof attributes === 'object' && attributes !== null && !Array.isArray(attributes) ? (attributes as Readonly<Record<string, unknown>>) : undefined;
}

/**
 * Evaluates one flag for one unit. Never throws: a malformed ruleset or context, an unknown
 * operator or an invalid regex gives the caller's default value with reason ERROR and an error code.
 */
export function evaluateFlag<T = unknown>(
  ruleset: unknown,
  flagKey: string,
  context: EvaluationContext = {},
  options?: EvaluationOptions<T>,
): EvaluationResult<T> {
  const defaultValue = options?.defaultValue;
  try {
    const compiled = getCompiled(ruleset);
    if (compiled.error !== undefined) {
      return errorResult(compiled.error.code, compiled.error.message, defaultValue);
    }
    const attributes = contextAttributes(context);
    if (attributes === undefined) {
      return errorResult(ErrorCode.InvalidContext, 'context and context.attributes must be objects', defaultValue);
    }
    const flag = compiled.flags.get(flagKey);
    if (flag === undefined) {
      return defaultValue === undefined ? (NOT_FOUND as EvaluationResult<T>) : errorResult(ErrorCode.FlagNotFound, 'flag not found', defaultValue, Reason.FlagNotFound);
    }
    if (options?.explain === true) {
      const trace: TraceStep[] = [];
      const result = evalFlag(compiled, flag, context, attributes, trace, 0);
      return { ...result, trace } as EvaluationResult<T>;
    }
    return evalFlag(compiled, flag, context, attributes, undefined, 0) as EvaluationResult<T>;
  } catch (e) {
    if (e instanceof EvaluationError) {
      return errorResult(e.code, e.message, defaultValue);
    }
    return errorResult(ErrorCode.General, 'unexpected evaluation failure', defaultValue);
  }
}

const NOT_IN: Readonly<Record<SkipReason, ExperimentResult>> = Object.freeze(
  Object.fromEntries(
    Object.values(SkipReason).map((r) => [r, Object.freeze({ inExperiment: false, variationIndex: -1, variationKey: null, skipReason: r })]),
  ) as Record<SkipReason, ExperimentResult>,
);

function experimentError(code: ErrorCode, message: string): ExperimentResult {
  return { inExperiment: false, variationIndex: -1, variationKey: null, errorCode: code, errorMessage: message };
}

/**
 * Assigns a unit to a standalone experiment (getVariant, split-URL). A unit outside the
 * experiment gets variationIndex -1 and the skip reason. Never throws.
 */
export function evaluateExperiment(ruleset: unknown, experimentKey: string, context: EvaluationContext = {}): ExperimentResult {
  try {
    const compiled = getCompiled(ruleset);
    if (compiled.error !== undefined) {
      return experimentError(compiled.error.code, compiled.error.message);
    }
    const attributes = contextAttributes(context);
    if (attributes === undefined) {
      return experimentError(ErrorCode.InvalidContext, 'context and context.attributes must be objects');
    }
    const exp = compiled.experiments.get(experimentKey);
    if (exp === undefined) {
      return NOT_IN[SkipReason.NotRunning];
    }
    if (exp.error !== undefined) {
      return experimentError(exp.error.code, exp.error.message);
    }
    const a = assign(compiled, exp, context, attributes);
    if (typeof a === 'string') {
      return NOT_IN[a];
    }
    const v = exp.def.variations[a.variationIndex]!;
    const result: ExperimentResult = {
      inExperiment: a.inExperiment,
      variationIndex: a.variationIndex,
      variationKey: a.variationKey,
      value: v.value,
      hashAttribute: a.hashAttribute,
      hashValue: a.hashValue,
    };
    return {
      ...result,
      ...(v.url === undefined ? {} : { url: v.url }),
      ...(a.bucket === undefined ? {} : { bucket: a.bucket }),
      ...(a.sticky === true ? { sticky: true } : {}),
      ...(a.forced === true ? { forced: true } : {}),
    };
  } catch (e) {
    if (e instanceof EvaluationError) {
      return experimentError(e.code, e.message);
    }
    return experimentError(ErrorCode.General, 'unexpected evaluation failure');
  }
}

/**
 * Resolves a split-URL experiment: the variation's URL for units in the experiment (or forced),
 * otherwise the first (control) variation's URL. The incoming query string is kept by the caller.
 */
export function resolveSplitUrl(ruleset: unknown, experimentKey: string, context: EvaluationContext = {}): ExperimentResult & { readonly url?: string } {
  const result = evaluateExperiment(ruleset, experimentKey, context);
  if (result.variationIndex >= 0 || result.errorCode !== undefined) {
    return result;
  }
  const compiled = getCompiled(ruleset);
  const control = compiled.experiments.get(experimentKey)?.def.variations[0];
  return control?.url === undefined ? result : { ...result, url: control.url };
}

import { groupsNamedIn } from './client-ruleset.js';
import type { Condition } from './common.js';
import type { Experiment, Holdout } from './experiment.js';
import { ExperimentStatus, expandVariations, variationShares } from './experiment.js';
import type { Flag, Rule } from './flag.js';
import { unconfiguredOffVariation } from './flag.js';
import type { Ruleset, RulesetExperiment, RulesetFlag, RulesetHoldout, RulesetRule } from './ruleset.js';
import { RULESET_SCHEMA_VERSION } from './ruleset.js';
import type { Segment } from './segment.js';

/** A definition refers to something that does not exist; lists every such reference. */
export class RulesetCompileError extends Error {
  readonly code = 'RULESET_COMPILE_ERROR';
  constructor(readonly problems: readonly string[]) {
    super(`cannot compile ruleset: ${problems.join('; ')}`);
    this.name = 'RulesetCompileError';
  }
}

export interface RulesetSource {
  readonly environment: string;
  /** The publish counter for this environment. */
  readonly version: number;
  readonly flags: readonly Flag[];
  readonly segments?: readonly Segment[];
  readonly experiments?: readonly Experiment[];
  readonly holdouts?: readonly Holdout[];
  /** Stamped into the document; defaults to now. */
  readonly generatedAt?: Date;
}

function epoch(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : Date.parse(iso);
}

function allOf(conditions: Condition[]): Condition | undefined {
  if (conditions.length === 0) {
    return undefined;
  }
  if (conditions.length === 1) {
    return conditions[0];
  }
  return { $and: conditions };
}

/** Compiles model definitions into the per-environment ruleset SDKs download. */
/**
 * An id list as SDKs compare it (strictly): each number also as its decimal string and each
 * canonical decimal string also as its number, so `7` in a list matches the unit id "7" (SDKs send
 * a numeric id as its string) and "42" matches an attribute given as 42, as unit ids do.
 */
export function idListValues(values: readonly (string | number)[]): (string | number)[] {
  const out = new Set<string | number>();
  for (const v of values) {
    out.add(v);
    if (typeof v === 'number') {
      out.add(String(v));
    } else if (/^-?\d+(?:\.\d+)?$/.test(v) && String(Number(v)) === v) {
      out.add(Number(v));
    }
  }
  return [...out];
}

type ExperimentRule = Extract<Rule, { type: 'experiment' }>;

/**
 * Which flag variation an experiment rule serves for each of the experiment's variations: the one
 * the rule's `variations` map names, else the flag variation with the same key, else the one at the
 * same position. `targets[i]` is -1 where there is none, and `problems` says so. `saveProblems`
 * adds what compiling tolerates but saving a rule refuses: a map entry that names no experiment
 * variation (a typo would silently fall back to matching by key or position), and two experiment
 * variations that serve the same flag variation without the map saying so.
 */
export function experimentRuleMapping(flag: Pick<Flag, 'variations'>, rule: Pick<ExperimentRule, 'variations'>, exp: Experiment): { targets: number[]; problems: string[]; saveProblems: string[] } {
  const index = (key: string): number => flag.variations.findIndex((v) => v.key === key);
  const expVariations = expandVariations(exp);
  const problems: string[] = [];
  const saveProblems = Object.keys(rule.variations ?? {})
    .filter((from) => !expVariations.some((v) => v.key === from))
    .map((from) => `"${from}" is not a variation of experiment "${exp.key}" (it has ${expVariations.map((v) => `"${v.key}"`).join(', ')})`);
  const targets = expVariations.map((ev, i) => {
    const named = rule.variations?.[ev.key];
    if (named !== undefined) {
      if (index(named) < 0) {
        problems.push(`experiment variation "${ev.key}" is mapped to "${named}", which is not a variation of the flag`);
      }
      return index(named);
    }
    const at = index(ev.key) >= 0 ? index(ev.key) : flag.variations[i] === undefined ? -1 : i;
    if (at < 0) {
      problems.push(`experiment variation "${ev.key}" has no matching flag variation (the flag has ${flag.variations.length}; map it in the rule's variations)`);
    }
    return at;
  });
  expVariations.forEach((ev, i) => {
    const first = targets.indexOf(targets[i]!);
    if (targets[i]! >= 0 && first < i && (rule.variations?.[ev.key] === undefined || rule.variations[expVariations[first]!.key] === undefined)) {
      const served = flag.variations[targets[i]!]!.key;
      saveProblems.push(`experiment variations "${expVariations[first]!.key}" and "${ev.key}" would both serve flag variation "${served}" (matched by key or position); map them in the rule's variations`);
    }
  });
  return { targets, problems, saveProblems };
}

export function compileRuleset(source: RulesetSource): Ruleset {
  const problems: string[] = [];
  const env = source.environment;
  const segments = new Map((source.segments ?? []).map((s) => [s.key, s]));
  const experiments = new Map((source.experiments ?? []).map((e) => [e.key, e]));
  const holdoutDefs = new Map((source.holdouts ?? []).map((h) => [h.key, h]));
  const savedGroups: Record<string, (string | number)[]> = {};
  const usedExperiments = new Map<string, RulesetExperiment>();
  const usedHoldouts: Record<string, RulesetHoldout> = {};

  /**
   * Puts the id lists a condition names with `$inGroup` / `$notInGroup` in the ruleset. A group that
   * is not an id-list segment is a broken reference: left out, `$inGroup` never matched and
   * `$notInGroup` matched everyone.
   */
  const withGroups = (condition: Condition, path: string): Condition => {
    for (const key of groupsNamedIn(condition)) {
      const seg = segments.get(key);
      if (seg === undefined) {
        problems.push(`${path}: unknown segment "${key}" in $inGroup / $notInGroup`);
      } else if (seg.type !== 'ids') {
        problems.push(`${path}: segment "${key}" is not an id list, so $inGroup / $notInGroup cannot name it (list it in segments instead)`);
      } else {
        savedGroups[seg.key] = idListValues(seg.values);
      }
    }
    return condition;
  };

  const segmentCondition = (key: string, negate: boolean, path: string): Condition | undefined => {
    const seg = segments.get(key);
    if (seg === undefined) {
      problems.push(`${path}: unknown segment "${key}"`);
      return undefined;
    }
    if (seg.type === 'ids') {
      savedGroups[seg.key] = idListValues(seg.values);
      return { [seg.attribute]: { [negate ? '$notInGroup' : '$inGroup']: seg.key } };
    }
    const condition = withGroups(seg.condition, `segments.${seg.key}.condition`);
    return negate ? { $not: condition } : condition;
  };

  const targeting = (
    def: { condition?: Condition | undefined; segments?: string[] | undefined; excludeSegments?: string[] | undefined },
    path: string,
  ): Condition | undefined => {
    const parts: Condition[] = [];
    if (def.condition !== undefined && Object.keys(def.condition).length > 0) {
      parts.push(withGroups(def.condition, `${path}.condition`));
    }
    for (const key of def.segments ?? []) {
      const c = segmentCondition(key, false, `${path}.segments`);
      if (c !== undefined) {
        parts.push(c);
      }
    }
    for (const key of def.excludeSegments ?? []) {
      const c = segmentCondition(key, true, `${path}.excludeSegments`);
      if (c !== undefined) {
        parts.push(c);
      }
    }
    return allOf(parts);
  };

  const runsHere = (exp: Experiment): boolean => exp.environments.length === 0 || exp.environments.includes(env);

  const compileExperiment = (exp: Experiment): RulesetExperiment => {
    const cached = usedExperiments.get(exp.key);
    if (cached !== undefined) {
      return cached;
    }
    const variations = expandVariations(exp);
    const weights = variationShares(exp);
    const condition = targeting(exp, `experiments.${exp.key}`);
    const winner = exp.winner === undefined ? -1 : variations.findIndex((v) => v.key === exp.winner);
    if (exp.holdout !== undefined) {
      const h = holdoutDefs.get(exp.holdout);
      if (h === undefined) {
        problems.push(`experiments.${exp.key}.holdout: unknown holdout "${exp.holdout}"`);
      } else {
        usedHoldouts[h.key] = { hashAttribute: h.hashAttribute, seed: `__holdout__${h.key}`, coverage: h.coverage };
      }
    }
    const compiled: RulesetExperiment = {
      hashAttribute: exp.hashAttribute,
      ...(exp.fallbackAttribute === undefined ? {} : { fallbackAttribute: exp.fallbackAttribute }),
      seed: exp.seed ?? exp.key,
      hashVersion: exp.hashVersion,
      coverage: exp.coverage,
      weights,
      variations: variations.map((v) => ({ key: v.key, ...(v.value === undefined ? {} : { value: v.value }), ...(v.url === undefined ? {} : { url: v.url }) })),
      ...(condition === undefined ? {} : { condition }),
      ...(exp.namespace === undefined ? {} : { namespace: [exp.namespace.id, exp.namespace.range[0], exp.namespace.range[1]] as [string, number, number] }),
      ...(exp.holdout === undefined ? {} : { holdout: exp.holdout }),
      ...(exp.stickyBucketing?.enabled === true
        ? { sticky: { bucketVersion: exp.stickyBucketing.bucketVersion, minBucketVersion: exp.stickyBucketing.minBucketVersion } }
        : {}),
      ...(exp.status === ExperimentStatus.Stopped && exp.releaseWinner && winner >= 0 ? { force: winner } : {}),
      ...(exp.allowUrlOverride ? {} : { urlOverride: false }),
    };
    usedExperiments.set(exp.key, compiled);
    return compiled;
  };

  const isLive = (exp: Experiment): boolean =>
    runsHere(exp) && (exp.status === ExperimentStatus.Running || (exp.status === ExperimentStatus.Stopped && exp.releaseWinner && exp.winner !== undefined));

  const compileRule = (flag: Flag, rule: Rule, path: string): RulesetRule | undefined => {
    const index = (key: string): number => flag.variations.findIndex((v) => v.key === key);
    const condition = targeting(rule, path);
    const base = {
      id: rule.id,
      ...(condition === undefined ? {} : { condition }),
      ...(rule.activeFrom === undefined ? {} : { from: epoch(rule.activeFrom) }),
      ...(rule.activeUntil === undefined ? {} : { until: epoch(rule.activeUntil) }),
    };
    switch (rule.type) {
      case 'force':
        return { ...base, type: 'force', variation: index(rule.variation) };
      case 'rollout':
        return {
          ...base,
          type: 'rollout',
          variation: index(rule.variation),
          coverage: rule.coverage,
          hashAttribute: rule.hashAttribute,
          ...(rule.fallbackAttribute === undefined ? {} : { fallbackAttribute: rule.fallbackAttribute }),
          seed: rule.seed ?? flag.key,
          hashVersion: rule.hashVersion,
          ...(rule.schedule === undefined
            ? {}
            : { schedule: rule.schedule.map((s) => [Date.parse(s.at), s.coverage] as [number, number]).sort((a, b) => a[0] - b[0]) }),
        };
      case 'split': {
        const weights = flag.variations.map((v) => rule.distribution.find((d) => d.variation === v.key)?.weight ?? 0);
        return {
          ...base,
          type: 'split',
          weights,
          hashAttribute: rule.hashAttribute,
          ...(rule.fallbackAttribute === undefined ? {} : { fallbackAttribute: rule.fallbackAttribute }),
          seed: rule.seed ?? flag.key,
          hashVersion: rule.hashVersion,
        };
      }
      case 'experiment': {
        const exp = experiments.get(rule.experiment);
        if (exp === undefined) {
          problems.push(`${path}.experiment: unknown experiment "${rule.experiment}"`);
          return undefined;
        }
        if (!isLive(exp)) {
          return undefined;
        }
        compileExperiment(exp);
        const mapping = experimentRuleMapping(flag, rule, exp);
        problems.push(...mapping.problems.map((p) => `${path}.variations: ${p}`));
        return { ...base, type: 'experiment', experiment: exp.key, variations: mapping.targets };
      }
    }
  };

  const flags: Record<string, RulesetFlag> = {};
  for (const flag of source.flags) {
    if (flag.archived) {
      continue;
    }
    const state = flag.environments[env];
    const variations = flag.variations.map((v) => ({ key: v.key, value: v.value }));
    if (state === undefined) {
      // Not configured here: off, serving the flag's off variation (see unconfiguredOffVariation).
      const off = Math.max(0, flag.variations.findIndex((v) => v.key === unconfiguredOffVariation(flag)));
      flags[flag.key] = { on: false, variations, default: off, off };
      continue;
    }
    const rules: RulesetRule[] = [];
    state.rules.forEach((rule, i) => {
      if (rule.enabled === false) {
        return;
      }
      const compiled = compileRule(flag, rule, `flags.${flag.key}.environments.${env}.rules[${i}]`);
      if (compiled !== undefined) {
        rules.push(compiled);
      }
    });
    flags[flag.key] = {
      ...(state.enabled ? {} : { on: false }),
      variations,
      default: flag.variations.findIndex((v) => v.key === state.defaultVariation),
      off: flag.variations.findIndex((v) => v.key === state.offVariation),
      ...(state.prerequisites.length === 0 ? {} : { prerequisites: state.prerequisites }),
      ...(rules.length === 0 ? {} : { rules }),
    };
  }

  for (const exp of source.experiments ?? []) {
    if (isLive(exp)) {
      compileExperiment(exp);
    }
  }
  if (problems.length > 0) {
    throw new RulesetCompileError(problems);
  }
  return {
    schemaVersion: RULESET_SCHEMA_VERSION,
    environment: env,
    version: source.version,
    generatedAt: (source.generatedAt ?? new Date()).toISOString(),
    flags,
    ...(usedExperiments.size === 0 ? {} : { experiments: Object.fromEntries(usedExperiments) }),
    ...(Object.keys(savedGroups).length === 0 ? {} : { savedGroups }),
    ...(Object.keys(usedHoldouts).length === 0 ? {} : { holdouts: usedHoldouts }),
  };
}

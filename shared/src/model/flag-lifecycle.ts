/**
 * When a flag has done its job: what it serves to everyone, and whether a temporary flag is stale
 * (due for removal from code). One definition for the console, the language server and the CLI.
 */
import type { Experiment } from './experiment.js';
import { unconfiguredOffVariation } from './flag.js';
import type { Flag, Rule, ScheduleStep } from './flag.js';
import { expandVariations, runsIn } from './variations.js';

/** A temporary flag unchanged for this many days, serving one variation everywhere, is stale. */
export const DEFAULT_STALE_DAYS = 30;

const DAY_MS = 86_400_000;

/**
 * What the classifier reads of an experiment that a flag's rule names. `updatedAt`: when the stored
 * experiment last changed (a stopped one's decision, winner, release or environments still change
 * what its flags serve); unknown (null or absent), a flag whose rule names an ended one is not stale.
 */
export type RuleExperiment = Pick<Experiment, 'key' | 'status' | 'environments' | 'winner' | 'releaseWinner' | 'type' | 'variations' | 'factors' | 'stoppedAt' | 'archived'> & {
  readonly updatedAt?: string | null | undefined;
};

/**
 * Whether the experiment is set up on the flag for units to come: running, or a draft not archived
 * (about to start). A flag wired to one is never stale, whatever it serves now.
 */
function experimentInUse(exp: RuleExperiment): boolean {
  return exp.status === 'running' || (exp.status === 'draft' && exp.archived !== true);
}

/**
 * Whether a rule applies to every unit that reaches it at `now`: no condition or segment, and a
 * window that has opened and never closes.
 */
function unconditional(rule: Rule, now: number): boolean {
  return (
    rule.condition === undefined &&
    (rule.segments ?? []).length === 0 &&
    (rule.excludeSegments ?? []).length === 0 &&
    (rule.activeFrom === undefined || Date.parse(rule.activeFrom) <= now) &&
    rule.activeUntil === undefined
  );
}

/**
 * Where a rollout's ramp stands at `now`, as the SDKs evaluate it: `current` is the latest started
 * step, whose coverage is served instead of the rule's own (undefined: none has started yet);
 * `next` is the earliest step still to come. Steps whose time does not parse are ignored.
 */
export function rampPosition<S extends Pick<ScheduleStep, 'at' | 'coverage'>>(schedule: readonly S[], now: number): { readonly current: S | undefined; readonly next: S | undefined } {
  const dated = schedule.filter((s) => !Number.isNaN(Date.parse(s.at))).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const started = dated.filter((s) => Date.parse(s.at) <= now);
  return { current: started.at(-1), next: dated.find((s) => Date.parse(s.at) > now) };
}

/**
 * What a rule can serve: the variations it may give a unit that matches it (none: it serves no one),
 * and whether a matching unit may fall through to the next rule. `undefined` when units can get
 * different ones or it is not known: an experiment that is running (or was at `now`: stopped later),
 * or one not in `experiments` (none given: unknown).
 */
function outcomes(flag: Flag, environment: string, rule: Rule, now: number, experiments: readonly RuleExperiment[] | undefined): { readonly variations: ReadonlySet<string>; readonly fallsThrough: boolean } | undefined {
  switch (rule.type) {
    case 'force':
      return { variations: new Set([rule.variation]), fallsThrough: false };
    case 'rollout': {
      // A ramp's latest started step sets the coverage; at 0 with no step to come, it serves no one.
      const { current, next } = rampPosition(rule.schedule ?? [], now);
      const none = (current?.coverage ?? rule.coverage) <= 0 && next === undefined;
      // Units without the hash attribute (nor the fallback) skip the rule whatever its coverage.
      return { variations: new Set(none ? [] : [rule.variation]), fallsThrough: true };
    }
    case 'split':
      // As for a rollout, units without the hash attribute (nor the fallback) go on to the next rule.
      return { variations: new Set(rule.distribution.filter((d) => d.weight > 0).map((d) => d.variation)), fallsThrough: true };
    case 'experiment':
      return experimentOutcomes(flag, environment, rule, now, experiments);
  }
}

/**
 * An experiment rule as compileRuleset publishes it: left out (units fall through) where the
 * experiment does not run, for a draft, and once stopped without a released winner; once stopped
 * with `releaseWinner`, the experiment forces the winner on every unit the rule matches (no hash,
 * coverage or condition of the experiment's own), served as the rule maps it.
 */
function experimentOutcomes(flag: Flag, environment: string, rule: Extract<Rule, { type: 'experiment' }>, now: number, experiments: readonly RuleExperiment[] | undefined): ReturnType<typeof outcomes> {
  const exp = experiments?.find((e) => e.key === rule.experiment);
  // Stopped after `now`: it was still splitting units then.
  const stoppedLater = exp?.stoppedAt !== undefined && Date.parse(exp.stoppedAt) > now;
  if (exp === undefined || exp.status === 'running' || (exp.status === 'stopped' && stoppedLater)) {
    return undefined;
  }
  if (!runsIn(exp, environment) || exp.status === 'draft' || !exp.releaseWinner || exp.winner === undefined) {
    return { variations: new Set(), fallsThrough: true };
  }
  const expVariations = expandVariations(exp);
  const at = expVariations.findIndex((v) => v.key === exp.winner);
  if (at < 0) {
    // No force is published: the stopped experiment still splits units.
    return undefined;
  }
  const named = rule.variations?.[exp.winner];
  const served = named ?? (flag.variations.some((v) => v.key === exp.winner) ? exp.winner : flag.variations[at]?.key);
  if (served === undefined || !flag.variations.some((v) => v.key === served)) {
    return undefined;
  }
  return { variations: new Set([served]), fallsThrough: false };
}

/**
 * The variation every unit gets from the flag in one environment, or `undefined` when units can get
 * different ones. A flag with no state in the environment is off there (`unconfiguredOffVariation`). Rules that can only serve the same variation as
 * the others do not count; rules whose window has ended are ignored; a rollout or split lets units
 * without its hash attribute through, so what follows it must serve the same; a flag with
 * prerequisites depends on another flag, so it serves no one variation. An experiment rule counts
 * by its experiment's status in `experiments` (see experimentOutcomes); without them, or when the
 * experiment is not among them, it serves no one variation.
 */
export function servedToEveryone(flag: Flag, environment: string, now: Date = new Date(), experiments?: readonly RuleExperiment[]): string | undefined {
  const env = Object.hasOwn(flag.environments, environment) ? flag.environments[environment] : undefined;
  if (env === undefined) {
    // Not set up there: off (as compileRuleset publishes it).
    return unconfiguredOffVariation(flag);
  }
  if (!env.enabled) {
    return env.offVariation;
  }
  if (env.prerequisites.length > 0) {
    return undefined;
  }
  let served: string | undefined;
  for (const rule of env.rules) {
    if (rule.enabled === false || (rule.activeUntil !== undefined && Date.parse(rule.activeUntil) <= now.getTime())) {
      continue;
    }
    const out = outcomes(flag, environment, rule, now.getTime(), experiments);
    if (out === undefined || out.variations.size > 1) {
      return undefined;
    }
    const [only] = out.variations;
    if (only === undefined) {
      continue;
    }
    if (served !== undefined && only !== served) {
      return undefined;
    }
    served = only;
    if (unconditional(rule, now.getTime()) && !out.fallsThrough) {
      // No unit reaches the rules after this one, nor the default.
      return served;
    }
  }
  return served === undefined || served === env.defaultVariation ? env.defaultVariation : undefined;
}

export interface StaleOptions {
  /**
   * When what the flag serves last changed (the stored flag's `servingChangedAt`: its variations'
   * values, its environments' states, rules, defaults and prerequisites, not its name, description
   * or tags); absent (data from before it was kept): `updatedAt`.
   */
  readonly servingChangedAt?: string | null | undefined;
  /** When the flag last changed in any way (the stored definition's `updatedAt`); with neither known, never stale. */
  readonly updatedAt: string | null | undefined;
  readonly archived: boolean;
  /** The project's environments; the flag must serve the same variation in each. Default: those it has a state in. */
  readonly environments?: readonly string[];
  readonly now: Date;
  /** Default DEFAULT_STALE_DAYS. */
  readonly days?: number;
  /**
   * The project's experiments (archived ones too), for the flag's experiment rules. Absent: unknown,
   * and a flag with an experiment rule in one of `environments` is not stale.
   */
  readonly experiments?: readonly RuleExperiment[] | undefined;
  /** The project's flags, to name those whose prerequisites name this one (`StaleFlag.dependents`). */
  readonly flags?: readonly Pick<Flag, 'key' | 'archived' | 'environments'>[] | undefined;
}

export interface StaleFlag {
  /** The variation it serves to every unit in every environment. */
  readonly variation: string;
  /**
   * Since when it has (ISO instant): the later of its last change (and its experiments') and the moment it came to serve
   * only that variation (a ramp step, a rule's window opening or closing).
   */
  readonly since: string;
  /**
   * The unarchived flags whose prerequisites name it (in some environment), when `flags` were given:
   * it cannot be archived until their prerequisites on it are removed (they pass or fail it the
   * same for everyone too). Absent when there are none.
   */
  readonly dependents?: readonly string[];
}

/** The unarchived flags other than `key` whose state in some environment names `key` as a prerequisite, in key order. */
export function prerequisiteDependents(key: string, flags: readonly Pick<Flag, 'key' | 'archived' | 'environments'>[]): string[] {
  return flags
    .filter((f) => f.key !== key && !f.archived && Object.values(f.environments).some((state) => state.prerequisites.some((p) => p.flag === key)))
    .map((f) => f.key)
    .sort();
}

/**
 * The experiments set up on the flag for units to come (running, or a draft not archived), named by
 * a rule in any of its environments, enabled or not, the flag on there or not: the API refuses to
 * archive or delete a flag a running experiment names so.
 */
export function experimentsUsing(flag: Flag, experiments: readonly RuleExperiment[]): string[] {
  const named = new Set(Object.values(flag.environments).flatMap((state) => state.rules.flatMap((r) => (r.type === 'experiment' ? [r.experiment] : []))));
  return experiments.filter((e) => named.has(e.key) && experimentInUse(e)).map((e) => e.key).sort();
}

/** The variation every unit gets in every one of `environments` at `now`, or `undefined`. */
function servedEverywhere(flag: Flag, environments: readonly string[], now: Date, experiments: readonly RuleExperiment[] | undefined): string | undefined {
  let served: string | undefined;
  for (const env of environments) {
    const v = servedToEveryone(flag, env, now, experiments);
    if (v === undefined || (served !== undefined && v !== served)) {
      return undefined;
    }
    served = v;
  }
  return served;
}

/**
 * When the flag, unchanged since `changed`, came to serve `served` everywhere: the latest of its
 * timed boundaries (ramp steps, rule windows, the stop of an experiment a rule names) before `now`
 * with something else served just before it, else `changed`. Between boundaries what it serves
 * cannot change.
 */
function servingSince(flag: Flag, environments: readonly string[], served: string, changed: number, now: Date, experiments: readonly RuleExperiment[] | undefined): number {
  const boundaries = new Set<number>();
  const stoppedAt = (key: string): string[] => {
    const at = experiments?.find((e) => e.key === key)?.stoppedAt;
    return at === undefined ? [] : [at];
  };
  for (const env of environments) {
    const state = Object.hasOwn(flag.environments, env) ? flag.environments[env] : undefined;
    for (const rule of state?.rules ?? []) {
      const times = [
        rule.activeFrom,
        rule.activeUntil,
        ...(rule.type === 'rollout' ? (rule.schedule ?? []).map((s) => s.at) : []),
        ...(rule.type === 'experiment' ? stoppedAt(rule.experiment) : []),
      ];
      for (const at of times) {
        const t = at === undefined ? Number.NaN : Date.parse(at);
        if (t > changed && t <= now.getTime()) {
          boundaries.add(t);
        }
      }
    }
  }
  for (const t of [...boundaries].sort((a, b) => b - a)) {
    if (servedEverywhere(flag, environments, new Date(t - 1), experiments) !== served) {
      return t;
    }
  }
  return changed;
}

/**
 * A stale flag: a temporary, unarchived flag that has served one variation to every unit in every
 * environment for `days`, counted from the last change to what it serves (or, when later, the last
 * change of an experiment its rules name) or, when later still, from the moment it came to serve only
 * that one (a ramp reaching 100% long after the last edit, an experiment stopped with its winner released). Replacing its calls in code by that variation's
 * value then changes nothing for anyone, in any environment. Never stale while a rule in any of its
 * environments names an experiment that runs or is a draft not archived (see experimentInUse).
 */
export function staleFlag(flag: Flag, options: StaleOptions): StaleFlag | undefined {
  const changedAt = options.servingChangedAt ?? options.updatedAt;
  if (!flag.temporary || options.archived || changedAt === null || changedAt === undefined) {
    return undefined;
  }
  const flagChanged = Date.parse(changedAt);
  if (!Number.isFinite(flagChanged)) {
    return undefined;
  }
  // Without an experiment's status, a rule naming it may be running it (even where the flag is off).
  const named = Object.values(flag.environments).flatMap((state) => state.rules.flatMap((r) => (r.type === 'experiment' ? [r.experiment] : [])));
  const known = options.experiments;
  if (named.some((key) => known?.some((e) => e.key === key) !== true) || (known !== undefined && experimentsUsing(flag, known).length > 0)) {
    return undefined;
  }
  // An ended experiment's later edits (its decision, winner, release, environments) change what the
  // flag serves without changing the flag: the clock starts no earlier than its last change.
  const experimentChanges = named.map((key) => Date.parse(known?.find((e) => e.key === key)?.updatedAt ?? ''));
  if (experimentChanges.some((t) => !Number.isFinite(t))) {
    return undefined;
  }
  const changed = Math.max(flagChanged, ...experimentChanges);
  // An environment the flag has no state in is off there (unconfiguredOffVariation): it counts like the others.
  const environments = options.environments ?? Object.keys(flag.environments);
  const served = servedEverywhere(flag, environments, options.now, options.experiments);
  if (served === undefined) {
    return undefined;
  }
  const since = servingSince(flag, environments, served, changed, options.now, options.experiments);
  if (options.now.getTime() - since < (options.days ?? DEFAULT_STALE_DAYS) * DAY_MS) {
    return undefined;
  }
  const dependents = options.flags === undefined ? [] : prerequisiteDependents(flag.key, options.flags);
  return { variation: served, since: new Date(since).toISOString(), ...(dependents.length === 0 ? {} : { dependents }) };
}

/** The variation a stale flag serves (see `staleFlag`). */
export function staleVariation(flag: Flag, options: StaleOptions): string | undefined {
  return staleFlag(flag, options)?.variation;
}

/**
 * The parts of a flag that decide what it serves: its type, variations' keys and values, whether it
 * is archived or client-side, and every environment's state. Two definitions with equal parts serve
 * the same; its name, description, tags, `temporary`, variations' names and descriptions and rules'
 * descriptions do not count, and a rule's `enabled: true` is its default. A rule's id counts: SDKs
 * report it in evaluation reasons (`ruleId`), which analytics may group by.
 */
export function servingParts(flag: Pick<Flag, 'type' | 'variations' | 'archived' | 'clientSide' | 'environments'>): unknown {
  const rule = ({ description: _description, enabled, ...served }: Rule): unknown => (enabled === false ? { ...served, enabled } : served);
  return {
    type: flag.type,
    variations: flag.variations.map((v) => ({ key: v.key, value: v.value })),
    archived: flag.archived,
    clientSide: flag.clientSide ?? true,
    environments: Object.fromEntries(Object.entries(flag.environments).map(([env, state]) => [env, { ...state, rules: state.rules.map(rule) }])),
  };
}

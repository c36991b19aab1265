/**
 * When a flag has done its job: what it serves to everyone, and whether a temporary flag is stale
 * (due for removal from code). One definition for the console, the language server and the CLI.
 */
import { unconfiguredOffVariation } from './flag.js';
import type { Flag, Rule, ScheduleStep } from './flag.js';

/** A temporary flag unchanged for this many days, serving one variation everywhere, is stale. */
export const DEFAULT_STALE_DAYS = 30;

const DAY_MS = 86_400_000;

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
 * and whether a matching unit may fall through to the next rule. `undefined` for an experiment,
 * whose split is its own.
 */
function outcomes(rule: Rule, now: number): { readonly variations: ReadonlySet<string>; readonly fallsThrough: boolean } | undefined {
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
      return undefined;
  }
}

/**
 * The variation every unit gets from the flag in one environment, or `undefined` when units can get
 * different ones. A flag with no state in the environment is off there (`unconfiguredOffVariation`). Rules that can only serve the same variation as
 * the others do not count; rules whose window has ended are ignored; a rollout or split lets units
 * without its hash attribute through, so what follows it must serve the same; a flag with
 * prerequisites depends on another flag, so it serves no one variation.
 */
export function servedToEveryone(flag: Flag, environment: string, now: Date = new Date()): string | undefined {
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
    const out = outcomes(rule, now.getTime());
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
  /** When the flag last changed (the stored definition's `updatedAt`); unknown means never stale. */
  readonly updatedAt: string | null | undefined;
  readonly archived: boolean;
  /** The project's environments; the flag must serve the same variation in each. Default: those it has a state in. */
  readonly environments?: readonly string[];
  readonly now: Date;
  /** Default DEFAULT_STALE_DAYS. */
  readonly days?: number;
}

export interface StaleFlag {
  /** The variation it serves to every unit in every environment. */
  readonly variation: string;
  /**
   * Since when it has (ISO instant): the later of its last change and the moment it came to serve
   * only that variation (a ramp step, a rule's window opening or closing).
   */
  readonly since: string;
}

/** The variation every unit gets in every one of `environments` at `now`, or `undefined`. */
function servedEverywhere(flag: Flag, environments: readonly string[], now: Date): string | undefined {
  let served: string | undefined;
  for (const env of environments) {
    const v = servedToEveryone(flag, env, now);
    if (v === undefined || (served !== undefined && v !== served)) {
      return undefined;
    }
    served = v;
  }
  return served;
}

/**
 * When the flag, unchanged since `changed`, came to serve `served` everywhere: the latest of its
 * timed boundaries (ramp steps, rule windows) before `now` with something else served just before
 * it, else `changed`. Between boundaries what it serves cannot change.
 */
function servingSince(flag: Flag, environments: readonly string[], served: string, changed: number, now: Date): number {
  const boundaries = new Set<number>();
  for (const env of environments) {
    const state = Object.hasOwn(flag.environments, env) ? flag.environments[env] : undefined;
    for (const rule of state?.rules ?? []) {
      const times = [rule.activeFrom, rule.activeUntil, ...(rule.type === 'rollout' ? (rule.schedule ?? []).map((s) => s.at) : [])];
      for (const at of times) {
        const t = at === undefined ? Number.NaN : Date.parse(at);
        if (t > changed && t <= now.getTime()) {
          boundaries.add(t);
        }
      }
    }
  }
  for (const t of [...boundaries].sort((a, b) => b - a)) {
    if (servedEverywhere(flag, environments, new Date(t - 1)) !== served) {
      return t;
    }
  }
  return changed;
}

/**
 * A stale flag: a temporary, unarchived flag that has served one variation to every unit in every
 * environment for `days`, counted from its last change or, when later, from the moment it came to
 * serve only that one (a ramp reaching 100% long after the last edit). Replacing its calls in code
 * by that variation's value then changes nothing for anyone, in any environment.
 */
export function staleFlag(flag: Flag, options: StaleOptions): StaleFlag | undefined {
  if (!flag.temporary || options.archived || options.updatedAt === null || options.updatedAt === undefined) {
    return undefined;
  }
  const changed = Date.parse(options.updatedAt);
  if (!Number.isFinite(changed)) {
    return undefined;
  }
  // An environment the flag has no state in is off there (unconfiguredOffVariation): it counts like the others.
  const environments = options.environments ?? Object.keys(flag.environments);
  const served = servedEverywhere(flag, environments, options.now);
  if (served === undefined) {
    return undefined;
  }
  const since = servingSince(flag, environments, served, changed, options.now);
  if (options.now.getTime() - since < (options.days ?? DEFAULT_STALE_DAYS) * DAY_MS) {
    return undefined;
  }
  return { variation: served, since: new Date(since).toISOString() };
}

/** The variation a stale flag serves (see `staleFlag`). */
export function staleVariation(flag: Flag, options: StaleOptions): string | undefined {
  return staleFlag(flag, options)?.variation;
}

/**
 * When a flag has done its job: what it serves to everyone, and whether a temporary flag is stale
 * (due for removal from code). One definition for the console, the language server and the CLI.
 */
import { unconfiguredOffVariation } from './flag.js';
import type { Flag, Rule, ScheduleStep } from './flag.js';

/** A temporary flag unchanged for this many days, serving one variation everywhere, is stale. */
export const DEFAULT_STALE_DAYS = 30;

const DAY_MS = 86_400_000;

/** Whether a rule applies to every unit that reaches it (no condition, segment or time window). */
function unconditional(rule: Rule): boolean {
  return rule.condition === undefined && (rule.segments ?? []).length === 0 && (rule.excludeSegments ?? []).length === 0 && rule.activeFrom === undefined && rule.activeUntil === undefined;
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
 * What a rule can serve: the variations it may give a unit that matches it, and whether a matching
 * unit may fall through to the next rule. `undefined` for an experiment, whose split is its own.
 */
function outcomes(rule: Rule, now: number): { readonly variations: ReadonlySet<string>; readonly fallsThrough: boolean } | undefined {
  switch (rule.type) {
    case 'force':
      return { variations: new Set([rule.variation]), fallsThrough: false };
    case 'rollout': {
      // A ramp's latest started step sets the coverage; a step still to come will change it.
      const { current, next } = rampPosition(rule.schedule ?? [], now);
      const coverage = current?.coverage ?? rule.coverage;
      return { variations: new Set([rule.variation]), fallsThrough: coverage < 1 || next !== undefined };
    }
    case 'split':
      return { variations: new Set(rule.distribution.filter((d) => d.weight > 0).map((d) => d.variation)), fallsThrough: false };
    case 'experiment':
      return undefined;
  }
}

/**
 * The variation every unit gets from the flag in one environment, or `undefined` when units can get
 * different ones. A flag with no state in the environment is off there (`unconfiguredOffVariation`). Rules that can only serve the same variation as
 * the others do not count; rules whose window has ended are ignored; a flag with prerequisites
 * depends on another flag, so it serves no one variation.
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
    if (only === undefined || (served !== undefined && only !== served)) {
      return undefined;
    }
    served = only;
    if (unconditional(rule) && !out.fallsThrough) {
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

/**
 * The variation a stale flag serves: a temporary, unarchived flag unchanged for `days` that serves
 * that one variation to every unit in every environment. Replacing its calls in
 * code by that variation's value then changes nothing for anyone, in any environment.
 */
export function staleVariation(flag: Flag, options: StaleOptions): string | undefined {
  if (!flag.temporary || options.archived || options.updatedAt === null || options.updatedAt === undefined) {
    return undefined;
  }
  const changed = Date.parse(options.updatedAt);
  if (!Number.isFinite(changed) || options.now.getTime() - changed < (options.days ?? DEFAULT_STALE_DAYS) * DAY_MS) {
    return undefined;
  }
  // An environment the flag has no state in is off there (unconfiguredOffVariation): it counts like the others.
  const environments = options.environments ?? Object.keys(flag.environments);
  let served: string | undefined;
  for (const env of environments) {
    const v = servedToEveryone(flag, env, options.now);
    if (v === undefined || (served !== undefined && v !== served)) {
      return undefined;
    }
    served = v;
  }
  return served;
}

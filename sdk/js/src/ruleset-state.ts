import { checkRuleset, checkRulesetEnvelope } from '@xp/shared/eval';
import { RulesetError } from './errors.js';
import type { RulesetChange } from './types.js';

/** A ruleset document the client agreed to serve. */
export interface LoadedRuleset {
  readonly document: RulesetDocument;
  readonly version: number;
  /** True when the whole document is valid (`rulesetSchema`); false when only its envelope is. */
  readonly complete: boolean;
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
      return new RulesetError('the ruleset is not JSON', { cause: e });
    }
  }
  // The dependency-free validator (the same rules as the zod schemas), so browser bundles carry no zod.
  const problems = checkRulesetEnvelope(value, '');
  if (problems.length > 0) {
    return new RulesetError(`invalid ruleset: ${problems[0] ?? 'unknown issue'}`, { cause: problems });
  }
  const complete = checkRuleset(value, '').length === 0;
  // Evaluation compiles the caller's object (cached per object identity), so keep it as parsed.
  const document = value as RulesetDocument;
  return { document, version: document.version, complete };
}

/**
 * Whether `next` may replace `current`: a complete document always may; a partly invalid one
 * (some flag fails the schema) only replaces nothing or another partly invalid one, so the last
 * fully valid ruleset is never given up for a broken one.
 */
export function mayReplace(current: LoadedRuleset | undefined, next: LoadedRuleset): boolean {
  return next.complete || current === undefined || !current.complete;
}

function changedKeys(a: Readonly<Record<string, unknown>> | undefined, b: Readonly<Record<string, unknown>> | undefined): Set<string> {
  const out = new Set<string>();
  const left = a ?? {};
  const right = b ?? {};
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    if (JSON.stringify(left[key]) !== JSON.stringify(right[key])) {
      out.add(key);
    }
  }
  return out;
}

interface FlagRefs {
  readonly prerequisites?: readonly { readonly flag?: unknown }[];
  readonly rules?: readonly { readonly type?: unknown; readonly experiment?: unknown }[];
}

/** Flags whose results may differ between two rulesets, including through experiments and prerequisites. */
export function diffRulesets(previous: RulesetDocument | undefined, next: RulesetDocument): RulesetChange {
  const flags = changedKeys(previous?.flags, next.flags);
  const experiments = changedKeys(previous?.experiments, next.experiments);
  const shared = JSON.stringify([previous?.savedGroups, previous?.holdouts]) !== JSON.stringify([next.savedGroups, next.holdouts]);
  const keys = Object.keys(next.flags);
  if (shared && previous !== undefined) {
    keys.forEach((k) => flags.add(k));
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const key of keys) {
      if (flags.has(key)) {
        continue;
      }
      const flag = next.flags[key] as FlagRefs | undefined;
      const dependsOnChange =
        flag?.rules?.some((r) => r.type === 'experiment' && typeof r.experiment === 'string' && experiments.has(r.experiment)) === true ||
        flag?.prerequisites?.some((p) => typeof p.flag === 'string' && flags.has(p.flag)) === true;
      if (dependsOnChange) {
        flags.add(key);
        grew = true;
      }
    }
  }
  return { flags: [...flags], experiments: [...experiments], version: next.version };
}

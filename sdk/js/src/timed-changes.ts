/**
 * When a ruleset's timed rules change what a flag serves with no new ruleset: a rule's active window
 * opening (`from`) or closing (`until`), a ramp step (`schedule`) that changes a rollout's coverage.
 * The client sets one timer for the next such instant and calls its change listeners then.
 */
import type { RulesetDocument } from './ruleset-state.js';

/** The longest delay setTimeout takes (a signed 32-bit count of ms); a later instant is re-armed for. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The parts of a rule and flag read here; the document may be partly invalid (those flags serve defaults). */
interface TimedRule {
  readonly type?: unknown;
  readonly from?: unknown;
  readonly until?: unknown;
  readonly coverage?: unknown;
  readonly schedule?: unknown;
}
interface TimedFlag {
  readonly rules?: unknown;
  readonly prerequisites?: unknown;
}

function instant(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The instants at which a flag's rules change what it can serve, as evaluation reads the clock. */
function changeInstants(flag: unknown): number[] {
  const rules = (flag as TimedFlag | null)?.rules;
  if (!Array.isArray(rules)) {
    return [];
  }
  const out: number[] = [];
  for (const rule of rules as (TimedRule | null)[]) {
    for (const t of [instant(rule?.from), instant(rule?.until)]) {
      if (t !== undefined) {
        out.push(t);
      }
    }
    if (rule?.type === 'rollout' && Array.isArray(rule.schedule)) {
      // In time order, as evaluation applies them: a step keeping the coverage it follows changes nothing.
      const steps = (rule.schedule as unknown[])
        .filter((s): s is [number, number] => Array.isArray(s) && instant(s[0]) !== undefined && typeof s[1] === 'number')
        .sort((a, b) => a[0] - b[0]);
      let coverage = rule.coverage;
      for (const [at, c] of steps) {
        if (c !== coverage) {
          out.push(at);
        }
        coverage = c;
      }
    }
  }
  return out;
}

function flagsOf(document: RulesetDocument): [string, unknown][] {
  return Object.entries(document.flags).filter(([key]) => key !== '__proto__');
}

/** The earliest instant after `after` at which a flag's timed rule changes what it serves, if any. */
export function nextTimedChange(document: RulesetDocument, after: number): number | undefined {
  let next: number | undefined;
  for (const [, flag] of flagsOf(document)) {
    for (const t of changeInstants(flag)) {
      if (t > after && (next === undefined || t < next)) {
        next = t;
      }
    }
  }
  return next;
}

/**
 * The flags whose timed rules changed what they serve in (`after`, `upTo`], with the flags whose
 * prerequisites lead to them (they may evaluate differently too).
 */
export function flagsChangedBetween(document: RulesetDocument, after: number, upTo: number): string[] {
  const flags = flagsOf(document);
  const changed = new Set(flags.filter(([, flag]) => changeInstants(flag).some((t) => t > after && t <= upTo)).map(([key]) => key));
  if (changed.size === 0) {
    return [];
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const [key, flag] of flags) {
      const prerequisites = (flag as TimedFlag | null)?.prerequisites;
      if (!changed.has(key) && Array.isArray(prerequisites) && prerequisites.some((p: { flag?: unknown } | null) => typeof p?.flag === 'string' && changed.has(p.flag))) {
        changed.add(key);
        grew = true;
      }
    }
  }
  return [...changed];
}

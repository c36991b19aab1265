import { rampPosition } from '@xp/shared';
import type { Rule } from '@xp/shared';
import { rowsToTargeting, targetingToRows, validateRows } from './condition-model.js';
import type { ConditionRow } from './condition-model.js';

export type RuleType = Rule['type'];

/** A rule being edited: the stored rule it came from plus the fields the editor changes. */
export interface RuleDraft {
  /** React key, stable while editing. */
  readonly uid: string;
  readonly base: Rule | null;
  readonly id: string;
  readonly type: RuleType;
  readonly description: string;
  readonly enabled: boolean;
  readonly rows: ConditionRow[];
  /** JSON text of a condition the rows cannot express; null when the rows hold it. */
  readonly advanced: string | null;
  readonly variation: string;
  /** Rollout coverage in [0, 1]. */
  readonly coverage: number;
  readonly distribution: { readonly variation: string; readonly weight: number }[];
  readonly experiment: string;
  /** Ramp steps: ISO instants and coverages. */
  readonly schedule: { readonly at: string; readonly coverage: number }[];
  readonly hashAttribute: string;
}

let uid = 0;

export function draftFromRule(rule: Rule): RuleDraft {
  const { rows, advanced } = targetingToRows({
    ...(rule.condition === undefined ? {} : { condition: rule.condition }),
    ...(rule.segments === undefined ? {} : { segments: rule.segments }),
    ...(rule.excludeSegments === undefined ? {} : { excludeSegments: rule.excludeSegments }),
  });
  return {
    uid: `rule-${++uid}`,
    base: rule,
    id: rule.id,
    type: rule.type,
    description: rule.description ?? '',
    enabled: rule.enabled !== false,
    rows,
    advanced: advanced === null ? null : JSON.stringify(advanced, null, 2),
    variation: rule.type === 'force' || rule.type === 'rollout' ? rule.variation : '',
    coverage: rule.type === 'rollout' ? rule.coverage : 1,
    distribution: rule.type === 'split' ? rule.distribution.map((d) => ({ ...d })) : [],
    experiment: rule.type === 'experiment' ? rule.experiment : '',
    schedule: rule.type === 'rollout' ? (rule.schedule ?? []).map((s) => ({ ...s })) : [],
    hashAttribute: rule.type === 'rollout' || rule.type === 'split' ? rule.hashAttribute : 'id',
  };
}

/** A fresh rule with an id not used by the others. */
export function newRuleDraft(type: RuleType, variations: readonly string[], takenIds: readonly string[]): RuleDraft {
  let n = takenIds.length + 1;
  while (takenIds.includes(`rule-${n}`)) {
    n++;
  }
  const even = variations.length === 0 ? 0 : Math.round((1 / variations.length) * 10_000) / 10_000;
  return {
    uid: `rule-${++uid}`,
    base: null,
    id: `rule-${n}`,
    type,
    description: '',
    enabled: true,
    rows: [],
    advanced: null,
    variation: variations[variations.length - 1] ?? '',
    coverage: type === 'rollout' ? 0.1 : 1,
    distribution: variations.map((v, i) => ({ variation: v, weight: i === variations.length - 1 ? Math.round((1 - even * (variations.length - 1)) * 10_000) / 10_000 : even })),
    experiment: '',
    schedule: [],
    hashAttribute: 'id',
  };
}

/** The draft as a rule for the API, or the first problem to show. */
export function draftToRule(d: RuleDraft): { rule: Rule } | { error: string } {
  const where = `Rule "${d.id}"`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(d.id)) {
    return { error: `${where}: the id may contain only ASCII letters, digits, "_" and "-"` };
  }
  let targeting: { condition?: Record<string, unknown>; segments?: string[]; excludeSegments?: string[] };
  if (d.advanced !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(d.advanced);
    } catch {
      return { error: `${where}: the condition is not valid JSON` };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { error: `${where}: the condition must be a JSON object` };
    }
    const fromRows = rowsToTargeting(d.rows);
    targeting = { condition: parsed as Record<string, unknown>, ...(fromRows.segments === undefined ? {} : { segments: fromRows.segments }), ...(fromRows.excludeSegments === undefined ? {} : { excludeSegments: fromRows.excludeSegments }) };
  } else {
    const problems = validateRows(d.rows);
    const first = [...problems.values()][0];
    if (first !== undefined) {
      return { error: `${where}: ${first}` };
    }
    targeting = rowsToTargeting(d.rows);
  }
  // Keep fields the editor does not show (activeFrom, seed, hashVersion…), replace the rest.
  const { condition: _c, segments: _s, excludeSegments: _e, description: _d, enabled: _en, ...kept } = (d.base ?? {}) as Partial<Rule> & Record<string, unknown>;
  const common = {
    ...kept,
    id: d.id,
    ...(d.description.trim() === '' ? {} : { description: d.description.trim() }),
    ...(d.enabled ? {} : { enabled: false }),
    ...targeting,
  };
  const hashing = { hashAttribute: d.hashAttribute.trim() === '' ? 'id' : d.hashAttribute.trim(), hashVersion: (d.base !== null && 'hashVersion' in d.base ? d.base.hashVersion : 2) };
  switch (d.type) {
    case 'force': {
      const { coverage: _cv, schedule: _sc, distribution: _di, experiment: _ex, variations: _va, hashAttribute: _ha, hashVersion: _hv, fallbackAttribute: _fa, seed: _se, ...rest } = common as Record<string, unknown>;
      if (d.variation === '') {
        return { error: `${where}: choose the variation to serve` };
      }
      return { rule: { ...rest, type: 'force', variation: d.variation } as Rule };
    }
    case 'rollout': {
      const { distribution: _di, experiment: _ex, variations: _va, schedule: _sc, ...rest } = common as Record<string, unknown>;
      if (d.variation === '') {
        return { error: `${where}: choose the variation to roll out` };
      }
      const schedule = [...d.schedule].sort((a, b) => a.at.localeCompare(b.at));
      if (schedule.some((s) => Number.isNaN(Date.parse(s.at)))) {
        return { error: `${where}: every ramp step needs a date and time` };
      }
      return { rule: { ...rest, ...hashing, type: 'rollout', variation: d.variation, coverage: clamp01(d.coverage), ...(schedule.length === 0 ? {} : { schedule }) } as Rule };
    }
    case 'split': {
      const { coverage: _cv, schedule: _sc, experiment: _ex, variations: _va, variation: _v, ...rest } = common as Record<string, unknown>;
      const total = d.distribution.reduce((s, x) => s + x.weight, 0);
      if (Math.abs(total - 1) > 1e-6) {
        return { error: `${where}: the weights add up to ${Math.round(total * 1000) / 10}%, not 100%` };
      }
      return { rule: { ...rest, ...hashing, type: 'split', distribution: d.distribution.map((x) => ({ ...x })) } as Rule };
    }
    case 'experiment': {
      const { coverage: _cv, schedule: _sc, distribution: _di, variation: _v, hashAttribute: _ha, hashVersion: _hv, fallbackAttribute: _fa, seed: _se, ...rest } = common as Record<string, unknown>;
      if (d.experiment === '') {
        return { error: `${where}: choose the experiment` };
      }
      return { rule: { ...rest, type: 'experiment', experiment: d.experiment } as Rule };
    }
  }
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/** "2026-11-25T12:00:00.000Z" → "2026-11-25T13:00" in local time, for datetime-local inputs. */
export function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return '';
  }
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(local: string): string {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export interface RampStep {
  readonly at: string;
  readonly coverage: number;
}

/**
 * What a rollout serves at `now` under its ramp, by the evaluation rule (`rampPosition` of
 * @xp/shared): `current` is the latest started step (null when none has started: the rule's own
 * coverage is served); `next` is the earliest step still to come.
 */
export function rampStatus(schedule: readonly RampStep[], now: number): { readonly current: RampStep | null; readonly next: RampStep | null } {
  const { current, next } = rampPosition(schedule, now);
  return { current: current ?? null, next: next ?? null };
}

/**
 * Warnings about the ramp steps being edited, one per step index: a step that is new or changed and
 * dated in the past applies as soon as it is saved; a step that lowers coverage takes units out of the
 * rollout (they switch back to what the next rule or the default serves). Saved, unchanged steps in
 * the past are history and not warned about.
 */
export function rampWarnings(draft: Pick<RuleDraft, 'schedule' | 'coverage' | 'base'>, now: number): Map<number, string> {
  const saved = draft.base !== null && draft.base.type === 'rollout' ? (draft.base.schedule ?? []) : [];
  const isSaved = (s: RampStep): boolean => saved.some((x) => Date.parse(x.at) === Date.parse(s.at) && x.coverage === s.coverage);
  const order = draft.schedule.map((s, i) => ({ s, i, t: Date.parse(s.at) })).filter((x) => !Number.isNaN(x.t)).sort((a, b) => a.t - b.t);
  const out = new Map<number, string>();
  let before = draft.coverage;
  for (const { s, i, t } of order) {
    const problems: string[] = [];
    if (!isSaved(s)) {
      if (t <= now) {
        problems.push(`it is dated in the past, so it applies as soon as you save (${pct(s.coverage)} from then on)`);
      }
      if (s.coverage < before) {
        problems.push(`it lowers the rollout from ${pct(before)} to ${pct(s.coverage)}: units now in the rollout are taken out of it`);
      }
    }
    if (problems.length > 0) {
      out.set(i, `Ramp step ${i + 1}: ${problems.join('; ')}.`);
    }
    before = s.coverage;
  }
  return out;
}

const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;

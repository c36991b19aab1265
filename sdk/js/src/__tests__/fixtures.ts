import type { Logger } from '../types.js';

/** A valid ruleset: a boolean flag `checkout`, a string flag `color`, and experiment `exp-ab` behind flag `exp-flag`. */
export function makeRuleset(version: number, overrides: { checkoutOn?: boolean; color?: string; coverage?: number } = {}): Record<string, unknown> {
  return {
    schemaVersion: 1,
    environment: 'production',
    version,
    flags: {
      checkout: {
        variations: [
          { key: 'off', value: false },
          { key: 'on', value: true },
        ],
        default: overrides.checkoutOn === true ? 1 : 0,
        off: 0,
      },
      color: { variations: [{ key: 'c', value: overrides.color ?? 'blue' }], default: 0, off: 0 },
      limits: { variations: [{ key: 'l', value: { max: 3 } }], default: 0, off: 0 },
      'exp-flag': {
        variations: [
          { key: 'a', value: 'A' },
          { key: 'b', value: 'B' },
        ],
        default: 0,
        off: 0,
        rules: [{ id: 'r1', type: 'experiment', experiment: 'exp-ab', variations: [0, 1] }],
      },
    },
    experiments: {
      'exp-ab': {
        hashAttribute: 'id',
        seed: 'exp-ab',
        hashVersion: 2,
        coverage: overrides.coverage ?? 1,
        weights: [0.5, 0.5],
        variations: [{ key: 'control' }, { key: 'treatment' }],
      },
    },
  };
}

/**
 * makeRuleset plus saved groups and a holdout: flag `beta` names `beta-ids` deep in its condition,
 * `staff` names `staff-ids` under `$not`, and experiment `exp-grouped` (behind flag `grouped-flag`)
 * targets `beta-ids` and sits in holdout `global`.
 */
export function groupedRuleset(version: number, groups: { betaIds?: string[]; staffIds?: string[]; holdoutCoverage?: number } = {}): Record<string, unknown> {
  const base = makeRuleset(version);
  const onOff = [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ];
  return {
    ...base,
    flags: {
      ...(base.flags as Record<string, unknown>),
      beta: { variations: onOff, default: 0, off: 0, rules: [{ id: 'b', type: 'force', condition: { $or: [{ country: 'DE' }, { id: { $inGroup: 'beta-ids' } }] }, variation: 1 }] },
      staff: { variations: onOff, default: 0, off: 0, rules: [{ id: 's', type: 'force', condition: { $not: { id: { $notInGroup: 'staff-ids' } } }, variation: 1 }] },
      'grouped-flag': { variations: onOff, default: 0, off: 0, rules: [{ id: 'g', type: 'experiment', experiment: 'exp-grouped', variations: [0, 1] }] },
    },
    experiments: {
      ...(base.experiments as Record<string, unknown>),
      'exp-grouped': {
        hashAttribute: 'id',
        seed: 'exp-grouped',
        hashVersion: 2,
        coverage: 1,
        weights: [0.5, 0.5],
        variations: [{ key: 'control' }, { key: 'treatment' }],
        condition: { id: { $inGroup: 'beta-ids' } },
        holdout: 'global',
      },
    },
    savedGroups: { 'beta-ids': groups.betaIds ?? ['u1', 'u2'], 'staff-ids': groups.staffIds ?? ['u9'] },
    holdouts: { global: { hashAttribute: 'id', seed: 'global', coverage: groups.holdoutCoverage ?? 0.05 } },
  };
}

/** The same JSON with every object's keys in reverse order, as a restarted server may publish it. */
export function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(reversedKeys);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversedKeys(v)]),
    );
  }
  return value;
}

/** A ruleset with no flags or experiments: what the API serves for an environment with nothing in it yet. */
export function emptyRuleset(version: number): Record<string, unknown> {
  return { schemaVersion: 1, environment: 'production', version, flags: {} };
}

export interface RecordingLogger extends Logger {
  readonly lines: { level: string; message: string }[];
  has(level: string, fragment: string): boolean;
}

/** A logger that records lines, so tests can assert warnings without console noise. */
export function recordingLogger(): RecordingLogger {
  const lines: { level: string; message: string }[] = [];
  const at =
    (level: string) =>
    (message: string): void => {
      lines.push({ level, message });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    has: (level, fragment) => lines.some((l) => l.level === level && l.message.includes(fragment)),
  };
}

/** Polls until the check passes or the bound is reached (no fixed sleeps). */
export async function eventually(check: () => boolean, timeoutMs = 3000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

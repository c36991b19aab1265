/**
 * What client-side SDK keys (browsers, mobile apps: anyone can read their key) download: the
 * ruleset without the flags and experiments marked server-side only (`clientSide: false`), nor the
 * id lists and holdouts only those use. Zod-free: the SDK endpoints of the evaluation Lambda use it.
 *
 * A flag or experiment a client-side one needs to evaluate goes with it whatever its mark: the
 * prerequisites of a client-side flag (transitively) and the experiments its rules run.
 */
import type { Ruleset } from './ruleset.js';

/** Keys of the flags and experiments kept from client-side SDK keys, sorted. */
export interface ServerOnlyKeys {
  readonly flags: readonly string[];
  readonly experiments: readonly string[];
}

/** The server-side-only keys among definitions (`clientSide: false`); sorted, so equal sets compare equal. */
export function serverOnlyKeys(flags: readonly { key: string; clientSide?: boolean | undefined }[], experiments: readonly { key: string; clientSide?: boolean | undefined }[]): ServerOnlyKeys {
  const marked = (items: readonly { key: string; clientSide?: boolean | undefined }[]): string[] =>
    items
      .filter((i) => i.clientSide === false)
      .map((i) => i.key)
      .sort();
  return { flags: marked(flags), experiments: marked(experiments) };
}

export function hasServerOnlyKeys(keys: ServerOnlyKeys | undefined): keys is ServerOnlyKeys {
  return keys !== undefined && (keys.flags.length > 0 || keys.experiments.length > 0);
}

/** The id-list segments a condition (or any JSON inside a ruleset) names with `$inGroup` / `$notInGroup`. */
export function groupsNamedIn(value: unknown, found: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) {
      groupsNamedIn(item, found);
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if ((key === '$inGroup' || key === '$notInGroup') && typeof inner === 'string') {
        found.add(inner);
      } else {
        groupsNamedIn(inner, found);
      }
    }
  }
  return found;
}

/** The ruleset a client-side key gets; the ruleset itself when nothing is server-side only. */
export function clientRuleset(ruleset: Ruleset, serverOnly: ServerOnlyKeys | undefined): Ruleset {
  if (!hasServerOnlyKeys(serverOnly)) {
    return ruleset;
  }
  const hiddenFlags = new Set(serverOnly.flags);
  const hiddenExperiments = new Set(serverOnly.experiments);
  const flagKeys = new Set<string>();
  const keepFlag = (key: string): void => {
    const flag = ruleset.flags[key];
    if (flag === undefined || flagKeys.has(key)) {
      return;
    }
    flagKeys.add(key);
    for (const p of flag.prerequisites ?? []) {
      keepFlag(p.flag);
    }
  };
  for (const key of Object.keys(ruleset.flags)) {
    if (!hiddenFlags.has(key)) {
      keepFlag(key);
    }
  }
  const flags = Object.fromEntries(Object.entries(ruleset.flags).filter(([key]) => flagKeys.has(key)));
  const experimentKeys = new Set(Object.keys(ruleset.experiments ?? {}).filter((key) => !hiddenExperiments.has(key)));
  for (const flag of Object.values(flags)) {
    for (const rule of flag.rules ?? []) {
      if (rule.type === 'experiment') {
        experimentKeys.add(rule.experiment);
      }
    }
  }
  const experiments = Object.fromEntries(Object.entries(ruleset.experiments ?? {}).filter(([key]) => experimentKeys.has(key)));
  const holdoutKeys = new Set(Object.values(experiments).flatMap((e) => (e.holdout === undefined ? [] : [e.holdout])));
  const groups = groupsNamedIn([flags, experiments]);
  const out: Ruleset = { ...ruleset, flags };
  if (ruleset.experiments !== undefined) {
    out.experiments = experiments;
  }
  if (ruleset.holdouts !== undefined) {
    out.holdouts = Object.fromEntries(Object.entries(ruleset.holdouts).filter(([key]) => holdoutKeys.has(key)));
  }
  if (ruleset.savedGroups !== undefined) {
    out.savedGroups = Object.fromEntries(Object.entries(ruleset.savedGroups).filter(([key]) => groups.has(key)));
  }
  return out;
}

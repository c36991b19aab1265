import type { Flag, RuleExperiment, StaleFlag, Stored } from '@xp/shared';
import { staleFlag } from '@xp/shared';

/**
 * What a stale flag serves everywhere and since when (see @xp/shared's staleFlag), or undefined.
 * `experiments` (archived included, each with its stored `updatedAt`; undefined while unknown) decide
 * its experiment rules; `flags`
 * name the flags whose prerequisites hold it.
 */
export function staleServed(
  flag: Stored<Flag>,
  now: number,
  environments: readonly string[],
  context: { readonly experiments?: readonly RuleExperiment[] | undefined; readonly flags?: readonly Stored<Flag>[] | undefined } = {},
): StaleFlag | undefined {
  return staleFlag(flag.definition, {
    servingChangedAt: flag.servingChangedAt,
    updatedAt: flag.updatedAt,
    archived: flag.archived,
    environments,
    now: new Date(now),
    experiments: context.experiments,
    flags: context.flags?.map((f) => ({ ...f.definition, archived: f.archived || f.definition.archived })),
  });
}

/** Why a stale flag is stale, and what to do: remove it from code, then archive it (after the prerequisites on it). */
export function staleAdvice(stale: StaleFlag): string {
  const dependents = stale.dependents ?? [];
  const archive = dependents.length === 0 ? 'then archive it' : `then remove the prerequisite on it from ${dependents.join(', ')} and archive it`;
  return `remove it from the code, ${archive}.`;
}

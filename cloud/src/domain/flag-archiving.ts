import type { Flag } from '@xp/shared';
import { AppError, AppErrorCode, invalid } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { runningExperimentsOf } from './flag-deletion.js';

/** Per flag, the environments whose state names `key` as a prerequisite: the unarchived flags other than `key`, in key order. */
async function prerequisiteUses(db: Queryable, projectId: string, key: string): Promise<Map<string, string[]>> {
  const rows = (
    await db.query<{ key: string; environment: string }>(
      `SELECT f.key, e.key AS environment
         FROM flags f, jsonb_each(f.definition -> 'environments') e
        WHERE f.project_id = $1 AND f.key <> $2 AND NOT f.archived
          AND jsonb_typeof(e.value -> 'prerequisites') = 'array'
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.value -> 'prerequisites') r WHERE r ->> 'flag' = $2)
        ORDER BY f.key, e.key`,
      [projectId, key],
    )
  ).rows;
  const uses = new Map<string, string[]>();
  for (const r of rows) {
    uses.set(r.key, [...(uses.get(r.key) ?? []), r.environment]);
  }
  return uses;
}

/**
 * Refuses archiving a flag that a running experiment's rule names (409: the experiment would keep
 * running with no traffic from it, as for a delete), and one that other flags' prerequisites name
 * (400 as the broken reference it would leave, naming every flag and environment, not the first
 * environment compiled).
 */
export async function refuseUnsafeFlagArchiving(db: Queryable, projectId: string, flag: Flag): Promise<void> {
  const experiments = await runningExperimentsOf(db, projectId, flag);
  if (experiments.length > 0) {
    const named = experiments.map((e) => `"${e}"`).join(', ');
    throw new AppError(
      AppErrorCode.InvalidState,
      `flag "${flag.key}" delivers the running ${experiments.length === 1 ? 'experiment' : 'experiments'} ${named}, which would keep running with no traffic: stop ${experiments.length === 1 ? 'it' : 'them'} first, then archive the flag`,
      { experiments },
    );
  }
  const uses = await prerequisiteUses(db, projectId, flag.key);
  if (uses.size > 0) {
    const environments = [...new Set([...uses.values()].flat())].sort();
    const where = [...uses].map(([child, envs]) => `"${child}" (in ${envs.map((e) => `"${e}"`).join(', ')})`);
    throw invalid(`flag "${flag.key}" is a prerequisite of ${where.join(', ')}: remove those prerequisites first, then archive it`, {
      problems: [...uses.keys()].map((child) => `flags.${child}.prerequisites: flag "${flag.key}" is archived`),
      environments,
      dependents: [...uses.keys()],
    });
  }
}

/**
 * Refuses starting an experiment that flag rules name only in archived flags: archived flags are in
 * no ruleset, so it would run with no traffic. One no flag names is a standalone experiment (read
 * with getExperiment) and starts.
 */
export async function refuseStartOnlyThroughArchivedFlags(db: Queryable, projectId: string, experiment: string): Promise<void> {
  const flags = (
    await db.query<{ key: string; archived: boolean }>(
      `SELECT DISTINCT f.key, (f.archived OR coalesce((f.definition ->> 'archived')::boolean, false)) AS archived FROM flags f, jsonb_each(f.definition -> 'environments') e
        WHERE f.project_id = $1 AND jsonb_typeof(e.value -> 'rules') = 'array'
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.value -> 'rules') r WHERE r ->> 'type' = 'experiment' AND r ->> 'experiment' = $2)
        ORDER BY f.key`,
      [projectId, experiment],
    )
  ).rows;
  if (flags.length > 0 && flags.every((f) => f.archived)) {
    const keys = flags.map((f) => f.key);
    throw new AppError(
      AppErrorCode.InvalidState,
      `experiment "${experiment}" is delivered only by archived ${keys.length === 1 ? 'flag' : 'flags'} ${keys.map((k) => `"${k}"`).join(', ')}, so it would run with no traffic: unarchive ${keys.length === 1 ? 'it' : 'one'} first, or remove the rule`,
      { flags: keys },
    );
  }
}

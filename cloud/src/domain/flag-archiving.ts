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

import type { Flag } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { flagCodeRefCounts } from '../store/code-refs.js';
import type { FlagCodeRefs } from '../store/code-refs.js';
import { experimentsRepo } from './publisher.js';

/** Branches named one by one in a refusal; the rest are counted. */
const NAMED_BRANCHES = 10;

/** The running experiments an experiment rule of `flag` delivers, in any environment, by key. */
export async function runningExperimentsOf(db: Queryable, projectId: string, flag: Flag): Promise<string[]> {
  const keys = new Set<string>();
  for (const state of Object.values(flag.environments)) {
    for (const rule of state.rules) {
      if (rule.type === 'experiment') {
        keys.add(rule.experiment);
      }
    }
  }
  const running: string[] = [];
  for (const key of [...keys].sort()) {
    if ((await experimentsRepo.find(db, projectId, key))?.definition.status === 'running') {
      running.push(key);
    }
  }
  return running;
}

/**
 * Refuses deleting a flag that feeds a running experiment (it would keep running with no traffic),
 * and, unless `force`, one still referenced in code (the code would get its SDK default). Returns
 * the references a forced delete goes past, for its audit entry.
 */
export async function refuseUnsafeFlagDeletion(db: Queryable, projectId: string, flag: Flag, options: { readonly force: boolean }): Promise<FlagCodeRefs | undefined> {
  const experiments = await runningExperimentsOf(db, projectId, flag);
  if (experiments.length > 0) {
    const named = experiments.map((e) => `"${e}"`).join(', ');
    throw new AppError(
      AppErrorCode.InvalidState,
      `flag "${flag.key}" delivers the running ${experiments.length === 1 ? 'experiment' : 'experiments'} ${named}, which would keep running with no traffic: stop ${experiments.length === 1 ? 'it' : 'them'} first`,
      { experiments },
    );
  }
  const [refs] = await flagCodeRefCounts(db, projectId, { flag: flag.key });
  if (refs === undefined || options.force) {
    return refs;
  }
  const where = refs.branches.slice(0, NAMED_BRANCHES).map((b) => `${b.repository}@${b.branch} (${b.references})`);
  const more = refs.branches.length > NAMED_BRANCHES ? `, and ${refs.branches.length - NAMED_BRANCHES} more branches` : '';
  throw new AppError(
    AppErrorCode.InvalidState,
    `flag "${flag.key}" is still referenced in code: ${refs.references} ${refs.references === 1 ? 'reference' : 'references'} on ${where.join(', ')}${more}; remove the calls and upload the references again (or delete a deleted branch's with xp code-refs --delete --repo R --branch B, or DELETE …/code-refs?repository=&branch=), or delete it anyway with ?force=true`,
    { codeRefs: refs },
  );
}

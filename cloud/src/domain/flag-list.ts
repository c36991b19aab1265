/**
 * The flags list with what a cleanup needs: the stale filter and each flag's stale classification,
 * computed with @xp/shared's staleFlag from the project's environments, experiments and flags, as
 * the console, the CLI and the language server compute it.
 */
import type { Flag, StaleFlag } from '@xp/shared';
import { DEFAULT_STALE_DAYS, staleFlag } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import type { ListOptions, StoredDefinition } from '../store/definitions.js';
import type { Page } from '../store/pagination.js';
import { environments } from '../store/projects.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { experimentsRepo, flagsRepo } from './publisher.js';

export interface FlagListOptions extends Omit<ListOptions, 'keep' | 'status'> {
  /** Only stale flags (true) or only flags that are not (false). */
  readonly stale?: boolean | undefined;
  /** Days unchanged before a flag is stale; default DEFAULT_STALE_DAYS. */
  readonly staleDays?: number | undefined;
  /** Classify each listed flag (`ListedFlag.stale`). */
  readonly includeStale?: boolean | undefined;
}

export interface ListedFlag {
  readonly flag: StoredDefinition<Flag>;
  /** With `includeStale`: what it serves everywhere and since when, or null (not stale). */
  readonly stale?: StaleFlag | null;
}

/** A page of the project's flags, filtered by staleness before paging so that the cursor stays that of the sort. */
export async function listFlags(deps: Deps, actor: Actor, projectKey: string, options: FlagListOptions): Promise<Page<ListedFlag>> {
  assertCan(actor, Permission.Read);
  const project = await projectFor(deps.db, actor, projectKey);
  const { stale, staleDays, includeStale, ...list } = options;
  if (stale === undefined && includeStale !== true) {
    const page = await flagsRepo.list(deps.db, project.id, list);
    return { ...page, items: page.items.map((flag) => ({ flag })) };
  }
  const [envs, experiments, flags] = await Promise.all([
    environments.list(deps.db, project.id),
    // Archived ones too: a stopped experiment's released winner decides what its flags serve.
    experimentsRepo.all(deps.db, project.id, true),
    flagsRepo.all(deps.db, project.id),
  ]);
  const context = {
    environments: envs.map((e) => e.key),
    now: deps.now(),
    days: staleDays ?? DEFAULT_STALE_DAYS,
    // With when each last changed: a stopped one's later edits change what its flags serve.
    experiments: experiments.map((e) => ({ ...e.definition, updatedAt: e.updatedAt })),
    flags: flags.map((f) => ({ ...f.definition, archived: f.archived || f.definition.archived })),
  };
  const classify = (f: StoredDefinition<Flag>): StaleFlag | undefined =>
    staleFlag(f.definition, { ...context, servingChangedAt: f.servingChangedAt, updatedAt: f.updatedAt, archived: f.archived });
  const page = await flagsRepo.list(deps.db, project.id, {
    ...list,
    ...(stale === undefined ? {} : { keep: (f: StoredDefinition<Flag>) => (classify(f) !== undefined) === stale }),
  });
  return { ...page, items: page.items.map((flag) => (includeStale === true ? { flag, stale: classify(flag) ?? null } : { flag })) };
}

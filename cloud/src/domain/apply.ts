/**
 * Flags as code, applied atomically: `POST /api/v1/projects/{project}/apply` takes the changes
 * `xp apply` planned and makes them in ONE transaction, each with every check it makes alone
 * (permissions, validation, versions, protected environments, references); the first refusal rolls
 * all of them back and names the change. A dry run makes the same checks and rolls back in any case.
 * Rulesets are published once, after the commit.
 */
import { z } from 'zod';
import { keySchema } from '@xp/shared';
import type { AppliedChange, ApplyResult, DefinitionPath } from '@xp/shared';
import { AppError, invalid } from '../errors.js';
import type { Actor } from './context.js';
import type { ChangeBatch, DefinitionService } from './definitions.js';
import { finishBatch, projectFor } from './definitions.js';
import { lockProjectDefinitions } from '../store/project-locks.js';
import { flushRulesets } from './publisher.js';
import type { Services } from './services.js';
import type { DefinitionKind } from '../store/definitions.js';

/** More than a project holds in practice; each change is a few statements in one transaction. */
export const MAX_APPLY_CHANGES = 2_000;

/** The kinds in the order a plan applies them (what others refer to first). */
export const APPLY_ORDER = ['segments', 'holdouts', 'metrics', 'experiments', 'flags'] as const satisfies readonly DefinitionPath[];

const changeSchema = z
  .strictObject({
    kind: z.enum(APPLY_ORDER),
    action: z.enum(['create', 'update', 'delete']),
    key: keySchema,
    /** The version the change is based on: required to update or delete. */
    version: z.number().int().positive().optional(),
    /** The whole definition: required to create or update, not sent to delete. */
    definition: z.unknown().optional(),
    /** A flag delete only: delete it even though code still references it. */
    force: z.boolean().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.force !== undefined && (c.action !== 'delete' || c.kind !== 'flags')) {
      ctx.addIssue({ code: 'custom', path: ['force'], message: 'only a flag delete takes force' });
    }
    if (c.action !== 'create' && c.version === undefined) {
      ctx.addIssue({ code: 'custom', path: ['version'], message: `required to ${c.action}: the version the change is based on` });
    }
    if (c.action === 'create' && c.version !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['version'], message: 'a create has no version' });
    }
    if (c.action !== 'delete' && c.definition === undefined) {
      ctx.addIssue({ code: 'custom', path: ['definition'], message: `required to ${c.action}` });
    }
    if (c.action === 'delete' && c.definition !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['definition'], message: 'a delete sends no definition' });
    }
  });

export const applyRequestSchema = z.strictObject({
  changes: z.array(changeSchema).min(1).max(MAX_APPLY_CHANGES),
  /** Make every check and roll back: nothing is written or published. */
  dryRun: z.boolean().optional(),
});
export type ApplyRequest = z.infer<typeof applyRequestSchema>;

/** Rolls a dry run back once every change passed. */
class DryRun extends Error {
  constructor(readonly changes: AppliedChange[]) {
    super('dry run');
  }
}

function serviceFor(services: Services, kind: DefinitionPath): DefinitionService<DefinitionKind> {
  return services[kind];
}

/** The refusal of change `index`, naming it; issue paths are made relative to the request body. */
function refusal(error: AppError, index: number, total: number, change: ApplyRequest['changes'][number]): AppError {
  const label = `${change.action} ${change.kind.replace(/s$/, '')} ${change.key}`;
  const details = (typeof error.details === 'object' && error.details !== null ? error.details : {}) as { issues?: { path: string; message: string }[] };
  // A path in another stored definition (an experiment change that breaks a flag's rule names
  // `flags.<key>.…`) is not in this change's body: it is left as it is.
  const elsewhere = (path: string): boolean => APPLY_ORDER.some((kind) => kind !== change.kind && path.startsWith(`${kind}.`));
  const issues = details.issues?.map((i) => ({ ...i, path: elsewhere(i.path) ? i.path : [`changes[${index}].definition`, i.path].filter((p) => p !== '').join('.') }));
  return new AppError(error.code, `${label} (change ${index + 1} of ${total}): ${error.message}`, { ...details, ...(issues === undefined ? {} : { issues }), change: { index, kind: change.kind, key: change.key, action: change.action } }, { cause: error });
}

/**
 * A refusal of the state the changes leave (a ruleset with broken references), naming the last change
 * to a definition its problems name (`flags.child.…`, or `unknown flag "parent"`), when one does.
 */
function finalRefusal(error: AppError, changes: ApplyRequest['changes']): AppError {
  const details = (typeof error.details === 'object' && error.details !== null ? error.details : {}) as { problems?: unknown; change?: unknown };
  if (details.change !== undefined || !Array.isArray(details.problems)) {
    return error;
  }
  const problems = details.problems.filter((x): x is string => typeof x === 'string');
  const names = (c: ApplyRequest['changes'][number]): boolean =>
    problems.some((x) => x.startsWith(`${c.kind}.${c.key}.`) || x.includes(`${c.kind.replace(/s$/, '')} "${c.key}"`));
  const index = changes.findLastIndex(names);
  if (index < 0) {
    return error;
  }
  const change = changes[index]!;
  return new AppError(
    error.code,
    `${error.message} (after ${change.action} ${change.kind.replace(/s$/, '')} ${change.key}, change ${index + 1} of ${changes.length})`,
    { ...details, change: { index, kind: change.kind, key: change.key, action: change.action } },
    { cause: error },
  );
}

export async function applyChanges(services: Services, actor: Actor, projectKey: string, request: ApplyRequest): Promise<ApplyResult> {
  let changes: AppliedChange[];
  let publish: Awaited<ReturnType<typeof finishBatch>> = [];
  try {
    changes = await services.deps.db.withTransaction(async (tx) => {
      // Bulk changes to one project one at a time: each sees the other's result, and two that lock
      // the same flags in another order cannot deadlock (store/project-locks.ts).
      await lockProjectDefinitions(tx, (await projectFor(tx, actor, projectKey)).id);
      const within: ChangeBatch = { tx, staged: [], unstaged: new Set(), deleted: new Map() };
      const done: AppliedChange[] = [];
      for (const [index, change] of request.changes.entries()) {
        const service = serviceFor(services, change.kind);
        try {
          if (change.action === 'delete') {
            await service.delete(actor, projectKey, change.key, change.version!, within, { force: change.force });
            done.push({ kind: change.kind, key: change.key, action: change.action });
            continue;
          }
          const definition = change.definition as { key?: unknown } | null;
          if (typeof definition !== 'object' || definition === null || definition.key !== change.key) {
            throw invalid(`the definition's key must be "${change.key}"`, { issues: [{ path: 'key', message: `must be "${change.key}"` }] });
          }
          const stored = change.action === 'create' ? await service.create(actor, projectKey, definition, within) : await service.update(actor, projectKey, change.key, definition, change.version!, within);
          done.push({ kind: change.kind, key: change.key, action: change.action, version: stored.version });
        } catch (error) {
          throw error instanceof AppError ? refusal(error, index, request.changes.length, change) : error;
        }
      }
      // A ruleset the changes leave broken is a refusal like any other (400 with the problems).
      let staged: Awaited<ReturnType<typeof finishBatch>>;
      try {
        staged = await finishBatch(services.deps, within);
      } catch (error) {
        throw error instanceof AppError ? finalRefusal(error, request.changes) : error;
      }
      if (request.dryRun === true) {
        throw new DryRun(done);
      }
      publish = staged;
      return done;
    });
  } catch (error) {
    if (error instanceof DryRun) {
      return { dryRun: true, changes: error.changes };
    }
    throw error;
  }
  await flushRulesets(services.deps, publish);
  return { dryRun: false, changes };
}

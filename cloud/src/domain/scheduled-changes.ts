/**
 * Scheduled changes: a flag's state in one environment, changed at a set time ("turn it on in
 * production at 09:00 on the 24th"). Whoever may change that environment's state directly may
 * schedule; the job (every 30 s in the local stack, every guardrailCheckMinutes (default 1) in the guardrail-check Lambda in AWS)
 * applies each due change once, as its creator, through the definitions service with every check a
 * direct change gets. A change that no longer applies is marked failed with the reason, never retried.
 * In a protected environment, roles that need approval propose a change request with `applyAt`
 * instead: once approved, the same job applies it then (ChangeRequestService.applyDue).
 */
import { z } from 'zod';
import type { Flag } from '@xp/shared';
import { flagSchema, isoDateSchema, keySchema, roleInProject } from '@xp/shared';
import { Permission, assertCan, can, needsApproval } from '../auth/permissions.js';
import { AppError, AppErrorCode } from '../errors.js';
import { environments } from '../store/projects.js';
import type { Queryable } from '../store/db.js';
import type { Page, PageRequest } from '../store/pagination.js';
import { lockProjectDefinitions } from '../store/project-locks.js';
import { scheduledChanges } from '../store/scheduled-changes.js';
import type { DueChange, ScheduledChange, ScheduledChangeStatus } from '../store/scheduled-changes.js';
import { users } from '../store/users.js';
import { actorEmail, withArticle } from './accounts.js';
import { record } from './audit-trail.js';
import { ChangeRequestService, RETRY_WINDOW_MS, SCHEDULER_CLIENT, TRANSIENT_ERRORS, checkScheduleTime, proposedStateSchema, schedulerActor } from './change-requests.js';
import type { Actor, Deps } from './context.js';
import { FlagService, finishBatch, projectFor } from './definitions.js';
import type { ChangeBatch } from './definitions.js';
import { checkFlagCompiles, flagsRepo, flushRulesets } from './publisher.js';
import type { StagedRuleset } from './publisher.js';
import { parseOrThrow } from './validation.js';

/** Due changes one run applies at most (the next run, a minute later, takes the rest). */
export const MAX_CHANGES_PER_RUN = 100;

export const scheduledChangeCreateSchema = z.strictObject({
  environment: keySchema,
  at: isoDateSchema.describe('When to apply it: an instant with a time zone (2026-12-24T09:00:00+01:00), in the future and at most a year ahead. The job runs every 30 s locally and every minute (guardrailCheckMinutes) on AWS.'),
  state: proposedStateSchema
    .refine((s) => Object.values(s).some((v) => v !== undefined), { message: 'name at least one field to change' })
    .describe(
      "The flag's state in that environment to set then, as a change request proposes it: the fields given replace those the flag has at that time, the others keep their value (an environment with no state yet needs enabled, defaultVariation and offVariation).",
    ),
  comment: z.string().max(2000).optional(),
});

/** The flag with `patch` over its state in `environment` (fields left out keep their value), validated. */
function withState(flag: Flag, environment: string, patch: Readonly<Record<string, unknown>>): Flag {
  const given = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  const state = { ...flag.environments[environment], ...given };
  return parseOrThrow(flagSchema, { ...flag, environments: { ...flag.environments, [environment]: state } }, `flag "${flag.key}" with the scheduled state`);
}

/** What one run of the job did. */
export interface ScheduledChangeReport {
  readonly applied: string[];
  readonly failed: { readonly id: string; readonly reason: string }[];
  /** Change requests with a time (applyAt) applied or failed by the same run. */
  readonly changeRequests: { readonly applied: string[]; readonly failed: { readonly id: string; readonly reason: string }[] };
}

export class ScheduledChangeService {
  private readonly flags: FlagService;
  private readonly changeRequests: ChangeRequestService;

  constructor(private readonly deps: Deps) {
    this.flags = new FlagService(deps);
    this.changeRequests = new ChangeRequestService(deps);
  }

  async schedule(actor: Actor, projectKey: string, flagKey: string, input: unknown): Promise<ScheduledChange> {
    assertCan(actor, Permission.FlagsWrite);
    const data = parseOrThrow(scheduledChangeCreateSchema, input, 'scheduled change');
    const now = this.deps.now();
    const at = new Date(data.at);
    checkScheduleTime('at', at, now);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      const env = await environments.get(tx, project.id, data.environment);
      if (needsApproval(actor.role, env)) {
        throw new AppError(
          AppErrorCode.ApprovalRequired,
          `changes to "${env.key}" need an approved change request: ask an owner or admin to schedule it, or propose it (POST …/change-requests) and have it applied then`,
          { environments: [env.key] },
        );
      }
      const flag = await flagsRepo.get(tx, project.id, flagKey);
      if (flag.archived) {
        throw new AppError(AppErrorCode.InvalidState, `flag "${flag.key}" is archived; unarchive it before you schedule a change to it`);
      }
      // Refused now what applying it now would refuse (a state without its required fields, a segment
      // or prerequisite that does not exist); applying it later checks again.
      const next = withState(flag.definition, env.key, data.state);
      await checkFlagCompiles(tx, project.id, env.key, next, now);
      const state = Object.fromEntries(Object.entries(data.state).filter(([, v]) => v !== undefined));
      const sc = await scheduledChanges.create(tx, {
        id: this.deps.newId(),
        projectId: project.id,
        flag: flag.key,
        flagCreatedAt: flag.createdAt,
        environment: env.key,
        at,
        state,
        comment: data.comment ?? null,
        createdBy: actor.userId,
        createdAt: now,
      });
      await record(tx, actor, {
        projectId: project.id,
        action: 'flag.change-scheduled',
        resourceType: 'flag',
        resourceKey: flag.key,
        environment: env.key,
        before: undefined,
        after: { scheduledChange: sc.id, at: sc.at, state, ...(sc.comment === null ? {} : { comment: sc.comment }) },
      });
      return sc;
    });
  }

  async list(actor: Actor, projectKey: string, options: PageRequest & { flag?: string | undefined; status?: ScheduledChangeStatus | undefined }): Promise<Page<ScheduledChange>> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    if (options.flag !== undefined) {
      // A flag that does not exist is a 404, not an empty list (its changes are kept after a delete, as failed or cancelled).
      await flagsRepo.get(this.deps.db, project.id, options.flag);
    }
    return scheduledChanges.list(this.deps.db, project.id, options);
  }

  /** Cancels a change not applied yet: by anyone who could schedule it now. */
  async cancel(actor: Actor, projectKey: string, flagKey: string, id: string): Promise<ScheduledChange> {
    assertCan(actor, Permission.FlagsWrite);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      const sc = await scheduledChanges.get(tx, project.id, id, { forUpdate: true });
      if (sc.flag !== flagKey) {
        throw new AppError(AppErrorCode.NotFound, 'scheduled change not found');
      }
      const env = (await environments.list(tx, project.id)).find((e) => e.key === sc.environment);
      if (env !== undefined && needsApproval(actor.role, env)) {
        throw new AppError(AppErrorCode.ApprovalRequired, `changes to "${env.key}" need approval: ask an owner or admin to cancel it`, { environments: [env.key] });
      }
      const cancelled = await scheduledChanges.finish(tx, project.id, id, { status: 'cancelled', by: actor.userId, at: this.deps.now() });
      await record(tx, actor, {
        projectId: project.id,
        action: 'flag.scheduled-change-cancelled',
        resourceType: 'flag',
        resourceKey: sc.flag,
        environment: sc.environment,
        before: undefined,
        after: { scheduledChange: sc.id, at: sc.at, createdBy: sc.createdBy },
      });
      return cancelled;
    });
  }

  /**
   * Applies every change due at `deps.now()`, oldest first, each in its own transaction. Safe to run
   * in several processes at once: each change is claimed with FOR UPDATE SKIP LOCKED and leaves
   * `scheduled` in the transaction that applies (or fails) it, so it is applied at most once.
   */
  async runDue(): Promise<ScheduledChangeReport> {
    const now = this.deps.now();
    const report: ScheduledChangeReport = { applied: [], failed: [], changeRequests: { applied: [], failed: [] } };
    /** Flags with a change that could not be applied in this run (an outage): retried next run, the other flags' changes go on. */
    const waiting: [projectId: string, flag: string][] = [];
    for (let i = 0; i < MAX_CHANGES_PER_RUN; i++) {
      let claimed: DueChange | undefined;
      let staged: StagedRuleset[] = [];
      try {
        staged = await this.deps.db.withTransaction(async (tx) => {
          claimed = await scheduledChanges.claimDue(tx, now, { skipFlags: waiting });
          return claimed === undefined ? [] : this.apply(tx, claimed, now);
        });
      } catch (error) {
        if (claimed === undefined) {
          throw error;
        }
        const refused = error instanceof AppError && !TRANSIENT_ERRORS.has(error.code);
        if (!refused && now.getTime() - Date.parse(claimed.at) < RETRY_WINDOW_MS) {
          // An outage, not a refusal: the next run tries again (for an hour); this run goes on with
          // other flags' changes (this flag's later ones wait, so that they keep their order).
          this.deps.logger.error('scheduled change: could not apply, will retry', { id: claimed.id, error: error instanceof Error ? error.message : String(error) });
          waiting.push([claimed.projectId, claimed.flag]);
          continue;
        }
        const reason = refused ? error.message : 'the platform could not apply it within an hour of its time (an internal error; see the server log)';
        if (await this.fail(claimed, reason, now)) {
          report.failed.push({ id: claimed.id, reason });
        }
        continue;
      }
      if (claimed === undefined) {
        break;
      }
      report.applied.push(claimed.id);
      await flushRulesets(this.deps, staged);
    }
    const requests = await this.changeRequests.applyDue();
    report.changeRequests.applied.push(...requests.applied);
    report.changeRequests.failed.push(...requests.failed);
    return report;
  }

  /** The creator as the actor of the change, with their role now; why they no longer may make it, if they may not. */
  private async creatorActor(tx: Queryable, due: DueChange): Promise<Actor> {
    const user = await users.find(tx, due.orgId, due.createdBy);
    if (user === undefined) {
      throw new AppError(AppErrorCode.Forbidden, 'its creator no longer exists');
    }
    const who = user.name === '' ? user.email : user.name;
    if (user.disabled) {
      throw new AppError(AppErrorCode.Forbidden, `its creator ${who} has been disabled`);
    }
    const role = roleInProject(user, due.projectKey);
    if (!can(role, Permission.FlagsWrite)) {
      throw new AppError(AppErrorCode.Forbidden, `its creator ${who} is now ${withArticle(role)} and cannot change flags`);
    }
    return {
      userId: user.id,
      orgId: due.orgId,
      email: actorEmail(user),
      role,
      client: SCHEDULER_CLIENT,
      // The scheduled change's id in every entry the change writes (flag.updated too).
      credential: { kind: 'system', id: `scheduled-change:${due.id}` },
    };
  }

  /** Writes the change as its creator (a replace of the flag through FlagService.update, every check included). */
  private async apply(tx: Queryable, due: DueChange, now: Date): Promise<StagedRuleset[]> {
    await lockProjectDefinitions(tx, due.projectId);
    const actor = await this.creatorActor(tx, due);
    const env = (await environments.list(tx, due.projectId)).find((e) => e.key === due.environment);
    if (env === undefined) {
      throw new AppError(AppErrorCode.NotFound, `environment "${due.environment}" was deleted`);
    }
    if (needsApproval(actor.role, env)) {
      throw new AppError(AppErrorCode.ApprovalRequired, `"${env.key}" is protected now and its creator ${actor.email} (${actor.role}) would need an approved change request`);
    }
    const flag = await flagsRepo.find(tx, due.projectId, due.flag, { forUpdate: true });
    if (flag === undefined) {
      throw new AppError(AppErrorCode.NotFound, `flag "${due.flag}" was deleted`);
    }
    if (Date.parse(flag.createdAt) !== Date.parse(due.flagCreatedAt)) {
      throw new AppError(AppErrorCode.NotFound, `flag "${due.flag}" was deleted and created again since the change was scheduled`);
    }
    if (flag.archived) {
      throw new AppError(AppErrorCode.InvalidState, `flag "${due.flag}" is archived`);
    }
    // Over the flag as it is now: edits made since to other fields (or environments) stay.
    const next = withState(flag.definition, due.environment, due.state);
    const batch: ChangeBatch = { tx, staged: [], unstaged: new Set() };
    const stored = await this.flags.update(actor, due.projectKey, due.flag, next, flag.version, batch);
    const staged = await finishBatch(this.deps, batch);
    await scheduledChanges.finish(tx, due.projectId, due.id, { status: 'applied', version: stored.version, at: now });
    await record(tx, actor, {
      projectId: due.projectId,
      action: 'flag.scheduled-change-applied',
      resourceType: 'flag',
      resourceKey: due.flag,
      environment: due.environment,
      before: undefined,
      after: { scheduledChange: due.id, at: due.at, createdBy: due.createdBy, version: stored.version },
    });
    return staged;
  }

  /** Marks a claimed change failed, unless another run ended it meanwhile; whether it did. */
  private async fail(due: DueChange, reason: string, now: Date): Promise<boolean> {
    return this.deps.db.withTransaction(async (tx) => {
      const still = await scheduledChanges.claimDue(tx, now, { id: due.id });
      if (still === undefined) {
        return false;
      }
      await scheduledChanges.finish(tx, due.projectId, due.id, { status: 'failed', failure: reason, at: now });
      await record(tx, schedulerActor(due.orgId), {
        projectId: due.projectId,
        action: 'flag.scheduled-change-failed',
        resourceType: 'flag',
        resourceKey: due.flag,
        environment: due.environment,
        before: undefined,
        after: { scheduledChange: due.id, at: due.at, createdBy: due.createdBy, reason },
      });
      return true;
    });
  }
}

/** Runs `runDue` every `intervalMs` (unref'd); `stop` waits for a running pass. A pass's failure is logged. */
export function startScheduledChanges(service: Pick<ScheduledChangeService, 'runDue'>, options: { readonly intervalMs: number; readonly logger: Deps['logger'] }): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        const report = await service.runDue();
        if (report.applied.length > 0 || report.failed.length > 0 || report.changeRequests.applied.length > 0 || report.changeRequests.failed.length > 0) {
          options.logger.info('scheduled changes', { ...report });
        }
      } catch (error) {
        options.logger.error('scheduled changes failed', { error: error instanceof Error ? error.message : String(error) });
      }
    });
  }, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

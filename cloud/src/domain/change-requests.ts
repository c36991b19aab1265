import { z } from 'zod';
import type { Flag, FlagEnvironment } from '@xp/shared';
import { flagEnvironmentSchema, flagSchema, groupsNamedIn, isoDateSchema, keySchema, roleInProject } from '@xp/shared';
import { Permission, assertCan, canReview, can, needsApproval } from '../auth/permissions.js';
import { AppError, AppErrorCode, forbidden, invalid } from '../errors.js';
import { ChangeRequestStatus, changeRequests } from '../store/change-requests.js';
import type { ChangeRequest, ChangeRequestBase } from '../store/change-requests.js';
import type { Page, PageRequest } from '../store/pagination.js';
import { environments } from '../store/projects.js';
import type { Queryable } from '../store/db.js';
import type { StoredDefinition } from '../store/definitions.js';
import { DefinitionKind } from '../store/definitions.js';
import { UserKind, users } from '../store/users.js';
import { actorEmail, withArticle } from './accounts.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { projectFor, refuseFlagRuleChanges } from './definitions.js';
import { lockProjectDefinitions } from '../store/project-locks.js';
import { jsonDiff } from './json-diff.js';
import { checkFlagCompiles, experimentsRepo, flagsRepo, flushRulesets, holdoutsRepo, segmentsRepo, stageRulesets } from './publisher.js';
import type { StagedRuleset } from './publisher.js';
import { parseOrThrow } from './validation.js';

const stateFields = flagEnvironmentSchema.shape;

/** The answer to a service account's token approving a change request. */
export const SERVICE_ACCOUNT_CANNOT_APPROVE = 'a service account cannot approve a change request; a person must';

/** How far ahead a change may be scheduled (a change request's applyAt, a scheduled change's at). */
export const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3_600_000;
/** How long after its time a change that hit an outage (not a refusal) is retried before it fails. */
export const RETRY_WINDOW_MS = 3_600_000;
/** The client the scheduling job's audit entries name (a request cannot claim it: see http/api.ts). */
export const SCHEDULER_CLIENT = 'scheduler';
/** Errors that say the platform could not try, not that the change is refused: retried by the job. */
export const TRANSIENT_ERRORS: ReadonlySet<string> = new Set([AppErrorCode.Internal, AppErrorCode.Unavailable, AppErrorCode.RateLimited]);

/** Refuses a time to apply a change at that has passed or is more than a year ahead. */
export function checkScheduleTime(field: string, at: Date, now: Date): void {
  if (at.getTime() <= now.getTime()) {
    throw invalid(`${field} (${at.toISOString()}) has passed; give a time in the future`, { issues: [{ path: field, message: 'must be in the future' }] });
  }
  if (at.getTime() - now.getTime() > MAX_SCHEDULE_AHEAD_MS) {
    throw invalid(`${field} is more than a year ahead`, { issues: [{ path: field, message: 'must be at most a year ahead' }] });
  }
}

/** The platform's own actor for entries about a scheduled change it could not make (a creator removed since). */
export function schedulerActor(orgId: string): Actor {
  return { userId: 'system:scheduler', orgId, email: 'scheduler@xp', role: 'owner', client: SCHEDULER_CLIENT, credential: { kind: 'system', id: SCHEDULER_CLIENT } };
}

/**
 * A proposed state: the fields given replace the environment's current ones, the others keep their
 * value (so `{ "enabled": false }` proposes turning the flag off and nothing else; `rules: []`
 * removes the rules). Without a current state, what is left out takes the defaults of a new state.
 */
export const proposedStateSchema = z.strictObject({
  enabled: stateFields.enabled.optional(),
  defaultVariation: stateFields.defaultVariation.optional(),
  offVariation: stateFields.offVariation.optional(),
  prerequisites: stateFields.prerequisites.unwrap().optional(),
  rules: stateFields.rules.unwrap().optional(),
});

export const changeRequestCreateSchema = z.strictObject({
  resourceType: z.literal('flag'),
  resourceKey: keySchema,
  environment: keySchema,
  /** The flag's proposed state in that environment, merged over its current one there. */
  state: proposedStateSchema.describe(
    "The flag's proposed state in that environment: the fields given replace the current ones, those left out keep their current value (an environment with no state yet needs enabled, defaultVariation and offVariation). Send rules: [] to remove the rules.",
  ),
  /** The flag version the proposal is based on: it must be the current one when proposing. */
  baseVersion: z.number().int().min(1),
  comment: z.string().max(2000).optional(),
  applyAt: isoDateSchema
    .optional()
    .describe('When to apply it once approved (an instant with a time zone, in the future, at most a year ahead): the per-minute job applies it then, as its proposer; it is not applied on demand before. Not approved by then, or no longer applicable: status failed, with the reason.'),
});

export const reviewSchema = z.strictObject({ comment: z.string().max(2000).optional() });

/**
 * Why a recorded approval no longer counts, if it does not: its reviewer was disabled, removed, or
 * moved to a role that cannot approve since. Checked when the request is applied, not only when approved.
 */
async function voidApproval(db: Queryable, orgId: string, approvedBy: string, projectKey: string): Promise<string | undefined> {
  const approver = await users.find(db, orgId, approvedBy);
  if (approver === undefined) {
    return 'its reviewer no longer exists';
  }
  const who = approver.name === '' ? approver.email : approver.name;
  if (approver.kind === UserKind.Service) {
    // Recorded before service accounts were refused as reviewers (see review): approvals are a person's.
    return `${who} is a service account, and approvals are a person's`;
  }
  if (approver.disabled) {
    return `${who} has been disabled`;
  }
  // The approver's role in the request's project (a project role there, else the organisation's).
  const role = roleInProject(approver, projectKey);
  if (!can(role, Permission.ChangeRequestsApprove)) {
    const where = role === approver.role ? '' : ` in project "${projectKey}"`;
    return `${who} is now ${withArticle(role)}${where} and cannot approve`;
  }
  return undefined;
}

/**
 * Withdraws for good the approvals `userId` gave to open requests that no longer count after a
 * change to the user (disabled, or an organisation or project role that cannot approve there; see
 * voidApproval), in the transaction of that change: those requests await a review again
 * (`approvedBy` and `approvedAt` cleared), so re-enabling or promoting the user later does not
 * bring an approval back. One `change-request.approval-withdrawn` entry per request, with the
 * reason. Returns the requests' ids.
 */
export async function withdrawLapsedApprovals(tx: Queryable, actor: Actor, userId: string): Promise<string[]> {
  const reasons = new Map<string, string | undefined>();
  const withdrawn: string[] = [];
  for (const cr of await changeRequests.openApprovedBy(tx, userId)) {
    if (!reasons.has(cr.projectKey)) {
      reasons.set(cr.projectKey, await voidApproval(tx, actor.orgId, userId, cr.projectKey));
    }
    const reason = reasons.get(cr.projectKey);
    if (reason === undefined || !(await changeRequests.withdrawApproval(tx, cr.projectId, cr.id))) {
      continue;
    }
    await record(tx, actor, {
      projectId: cr.projectId,
      action: 'change-request.approval-withdrawn',
      resourceType: 'flag',
      resourceKey: cr.resourceKey,
      environment: cr.environment,
      before: undefined,
      after: { changeRequest: cr.id, approvedBy: userId, approvedAt: cr.approvedAt, reason },
    });
    withdrawn.push(cr.id);
  }
  return withdrawn;
}

/**
 * Cancels every open request `userId` proposed, in every project, as POST …/cancel would (one
 * `change-request.cancelled` entry each, `actor` the one who cancelled them, with `reason`): its
 * proposer is going away (a service account deleted), so it could only fail later. Returns how many.
 */
export async function cancelOpenProposedBy(tx: Queryable, actor: Actor, userId: string, reason: string): Promise<number> {
  const open = await tx.query<{ id: string; project_id: string; resource_key: string; environment_key: string }>(
    `SELECT id, project_id, resource_key, environment_key FROM change_requests WHERE proposed_by = $1 AND status = 'open' ORDER BY id FOR UPDATE`,
    [userId],
  );
  let cancelled = 0;
  for (const cr of open.rows) {
    await changeRequests.transition(tx, cr.project_id, cr.id, { kind: 'cancel', by: actor.userId });
    await record(tx, actor, { projectId: cr.project_id, action: 'change-request.cancelled', resourceType: 'flag', resourceKey: cr.resource_key, environment: cr.environment_key, before: undefined, after: { changeRequest: cr.id, reason } });
    cancelled++;
  }
  return cancelled;
}

/** The segments, experiments and holdouts a definition names, at any depth (rules, conditions' groups). */
interface Names {
  readonly segments: Set<string>;
  readonly experiments: Set<string>;
  readonly holdouts: Set<string>;
}

function collectNames(value: unknown, into: Names): void {
  // Conditions' $inGroup / $notInGroup groups, as the ruleset compiler finds them.
  groupsNamedIn(value, into.segments);
  collectFields(value, into);
}

function collectFields(value: unknown, into: Names): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      collectFields(item, into);
    }
    return;
  }
  if (typeof value !== 'object' || value === null) {
    return;
  }
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'condition') {
      // Its keys are attribute names (an attribute may be called "experiment"); the segments it
      // names ($inGroup / $notInGroup) are collected by groupsNamedIn.
      continue;
    }
    if ((key === 'segments' || key === 'excludeSegments') && Array.isArray(inner)) {
      inner.forEach((k) => typeof k === 'string' && into.segments.add(k));
    } else if (key === 'experiment' && typeof inner === 'string') {
      into.experiments.add(inner);
    } else if (key === 'holdout' && typeof inner === 'string') {
      into.holdouts.add(inner);
    } else {
      collectFields(inner, into);
    }
  }
}

/**
 * Refuses deleting (or archiving) a definition that an open change request's proposed state names:
 * a segment, an experiment or a holdout (as collectNames finds them), or a flag as a prerequisite
 * (its own requests aside: deleting a flag cancels them). Applying the request would then fail, or
 * serve one created again later under the key that its reviewer never saw. 409, naming the
 * requests, as for a holdout or a metric experiments use.
 */
export async function refuseIfOpenRequestsName(db: Queryable, projectId: string, kind: DefinitionKind, key: string, verb: 'delete' | 'archive'): Promise<void> {
  if (kind !== DefinitionKind.Segment && kind !== DefinitionKind.Experiment && kind !== DefinitionKind.Holdout && kind !== DefinitionKind.Flag) {
    return;
  }
  const naming = (await changeRequests.openProposals(db, projectId)).filter((cr) => {
    if (kind === DefinitionKind.Flag) {
      const prerequisites = (cr.proposed as { prerequisites?: readonly { flag?: unknown }[] } | null)?.prerequisites ?? [];
      return cr.resourceKey !== key && prerequisites.some((p) => p.flag === key);
    }
    const names: Names = { segments: new Set(), experiments: new Set(), holdouts: new Set() };
    collectNames(cr.proposed, names);
    return (kind === DefinitionKind.Segment ? names.segments : kind === DefinitionKind.Experiment ? names.experiments : names.holdouts).has(key);
  });
  if (naming.length === 0) {
    return;
  }
  const ids = naming.map((cr) => cr.id);
  const listed = naming.slice(0, 10).map((cr) => `${cr.id} (flag "${cr.resourceKey}" in "${cr.environment}")`);
  const them = naming.length === 1 ? 'it' : 'them';
  throw new AppError(
    AppErrorCode.InvalidState,
    `${kind} "${key}" is named by ${naming.length === 1 ? 'an open change request' : `${naming.length} open change requests`}: ${listed.join(', ')}${naming.length > 10 ? ', …' : ''}; reject or cancel ${them} first (POST …/change-requests/{id}/reject, or /cancel by the proposer), then ${verb} it`,
    { changeRequests: ids },
  );
}

/** The project's segments, experiments and holdouts with their last change, loaded once per call. */
type Definitions = ReadonlyMap<string, { readonly definition: unknown; readonly updatedAt: string }>;

async function loadDefinitions(db: Queryable, projectId: string): Promise<Record<'segment' | 'experiment' | 'holdout', Definitions>> {
  const byKey = (rows: readonly { key: string; definition: unknown; updatedAt: string }[]): Definitions => new Map(rows.map((r) => [r.key, r]));
  return {
    segment: byKey(await segmentsRepo.all(db, projectId, true)),
    experiment: byKey(await experimentsRepo.all(db, projectId, true)),
    holdout: byKey(await holdoutsRepo.all(db, projectId, true)),
  };
}

/**
 * Why an approval no longer covers what applying would serve, if it does not: a segment,
 * experiment or holdout the proposed state names (followed through the ones they name) changed
 * after the approval. Such a change may not have needed approval itself while nothing in the
 * protected environment used it.
 */
function changedSinceApproval(cr: ChangeRequest, defs: Record<'segment' | 'experiment' | 'holdout', Definitions>): string | undefined {
  if (cr.approvedAt === null) {
    return undefined;
  }
  const approvedAt = Date.parse(cr.approvedAt);
  const names: Names = { segments: new Set(), experiments: new Set(), holdouts: new Set() };
  collectNames(cr.proposed, names);
  const seen = new Set<string>();
  const changed: string[] = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [kind, keys] of [['segment', names.segments], ['experiment', names.experiments], ['holdout', names.holdouts]] as const) {
      for (const key of [...keys]) {
        const id = `${kind} "${key}"`;
        const found = defs[kind].get(key);
        if (seen.has(id) || found === undefined) {
          continue;
        }
        seen.add(id);
        grew = true;
        collectNames(found.definition, names);
        if (Date.parse(found.updatedAt) > approvedAt) {
          changed.push(id);
        }
      }
    }
  }
  return changed.length === 0 ? undefined : `${changed.join(', ')} changed since the approval`;
}

/** The flag's variations a state names (default, off, and those its rules serve). */
function variationsNamedIn(state: FlagEnvironment): Set<string> {
  const keys = new Set([state.defaultVariation, state.offVariation]);
  for (const rule of state.rules) {
    if (rule.type === 'force' || rule.type === 'rollout') {
      keys.add(rule.variation);
    } else if (rule.type === 'split') {
      rule.distribution.forEach((d) => keys.add(d.variation));
    } else {
      Object.values(rule.variations ?? {}).forEach((k) => keys.add(k));
    }
  }
  return keys;
}

/** What a proposal is based on: the environment's state now and the values of the variations the proposed state names. */
function baseOf(flag: Flag, environment: string, proposed: FlagEnvironment): ChangeRequestBase {
  const current = flag.environments[environment];
  const named = variationsNamedIn(proposed);
  const variations = Object.fromEntries(flag.variations.filter((v) => named.has(v.key)).map((v) => [v.key, v.value]));
  // Their order too: a split divides units in the order of the flag's variations. (Seeds, hash
  // attributes and hash versions are the rules' own, in the state.)
  const order = flag.variations.map((v) => v.key).filter((k) => named.has(k));
  return current === undefined ? { variations, order } : { state: current, variations, order };
}

/** A stored state as the schema reads it (defaults filled in), so that equal states compare equal. */
function normalState(state: unknown): unknown {
  const parsed = flagEnvironmentSchema.safeParse(state);
  return parsed.success ? parsed.data : state;
}

/**
 * Why a request no longer fits its flag, if it does not: the flag's state in the request's
 * environment changed since the proposal, or a variation the proposed state names was removed or
 * given another value. Changes elsewhere (other environments, tags, new variations) do not count.
 * Requests made before their base was stored (`base` null) need the flag at the very version they
 * were based on, as they always did.
 */
function staleness(cr: ChangeRequest, flag: StoredDefinition<Flag>): string | undefined {
  const versions = `version ${flag.version}, request based on ${cr.baseVersion}`;
  if (cr.base === null) {
    return flag.version === cr.baseVersion ? undefined : `flag "${flag.key}" changed since the request was made (${versions}); propose again`;
  }
  const changes: string[] = [];
  const before = cr.base.state === undefined ? undefined : normalState(cr.base.state);
  const now = flag.definition.environments[cr.environment];
  const diff = jsonDiff(before, now === undefined ? undefined : normalState(now));
  if (diff.length > 0) {
    if (now === undefined) {
      changes.push(`its state in "${cr.environment}" was removed`);
    } else if (before === undefined) {
      changes.push(`it was given a state in "${cr.environment}"`);
    } else {
      const fields = [...new Set(diff.map((d) => d.path.split('/')[1] ?? ''))];
      changes.push(`its state in "${cr.environment}" changed (${fields.join(', ')})`);
    }
  }
  for (const [key, value] of Object.entries(cr.base.variations)) {
    const variation = flag.definition.variations.find((v) => v.key === key);
    if (variation === undefined) {
      changes.push(`variation "${key}", which the request serves, was removed`);
    } else if (jsonDiff(value, variation.value).length > 0) {
      changes.push(`variation "${key}", which the request serves, has another value`);
    }
  }
  if (cr.base.order !== undefined) {
    const named = new Set(cr.base.order);
    const now = flag.definition.variations.map((v) => v.key).filter((k) => named.has(k));
    if (now.length === cr.base.order.length && now.join('\0') !== cr.base.order.join('\0')) {
      changes.push(`the variations it serves were reordered (${cr.base.order.join(', ')} → ${now.join(', ')}), which moves units between them in a split`);
    }
  }
  if (changes.length === 0) {
    return undefined;
  }
  return `flag "${flag.key}" changed since the request was made: ${changes.join('; ')} (${versions}); the request would undo or misapply that change, so propose again`;
}

/** A change request as the API shows it: with whether its approval still counts. */
export type ChangeRequestView = ChangeRequest & { readonly approvalVoid: string | null };

/**
 * Changes to protected environments by roles that need approval: propose, then another user
 * approves (or rejects), then the proposer or a reviewer applies.
 */
export class ChangeRequestService {
  constructor(private readonly deps: Deps) {}

  async list(actor: Actor, projectKey: string, options: PageRequest & { status?: string | undefined; resourceKey?: string | undefined }): Promise<Page<ChangeRequestView>> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const page = await changeRequests.list(this.deps.db, project.id, options);
    return { ...page, items: await this.withApprovals(actor.orgId, project.key, page.items) };
  }

  async get(actor: Actor, projectKey: string, id: string): Promise<ChangeRequestView> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const [view] = await this.withApprovals(actor.orgId, project.key, [await changeRequests.get(this.deps.db, project.id, id)]);
    return view!;
  }

  /** The requests with `approvalVoid`: why an open request's approval no longer counts, if it does not. */
  private async withApprovals(orgId: string, projectKey: string, crs: readonly ChangeRequest[]): Promise<ChangeRequestView[]> {
    const reasons = new Map<string, string | undefined>();
    const out: ChangeRequestView[] = [];
    let defs: Awaited<ReturnType<typeof loadDefinitions>> | undefined;
    for (const cr of crs) {
      let reason: string | undefined;
      if (cr.status === ChangeRequestStatus.Open && cr.approvedBy !== null) {
        if (!reasons.has(cr.approvedBy)) {
          reasons.set(cr.approvedBy, await voidApproval(this.deps.db, orgId, cr.approvedBy, projectKey));
        }
        defs ??= await loadDefinitions(this.deps.db, cr.projectId);
        reason = reasons.get(cr.approvedBy) ?? changedSinceApproval(cr, defs);
      }
      out.push({ ...cr, approvalVoid: reason ?? null });
    }
    return out;
  }

  async propose(actor: Actor, projectKey: string, input: unknown): Promise<ChangeRequest> {
    assertCan(actor, Permission.ChangeRequestsPropose);
    const data = parseOrThrow(changeRequestCreateSchema, input, 'change request');
    const applyAt = data.applyAt === undefined ? undefined : new Date(data.applyAt);
    if (applyAt !== undefined) {
      checkScheduleTime('applyAt', applyAt, this.deps.now());
    }
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      const env = await environments.get(tx, project.id, data.environment);
      if (!env.production && !env.requireApproval) {
        throw new AppError(AppErrorCode.InvalidState, `environment "${env.key}" is not protected; change the flag directly`);
      }
      const flag = await flagsRepo.get(tx, project.id, data.resourceKey);
      if (flag.version !== data.baseVersion) {
        throw new AppError(AppErrorCode.Conflict, `flag "${flag.key}" is at version ${flag.version}, not ${data.baseVersion}`, { currentVersion: flag.version });
      }
      const current = flag.definition.environments[env.key];
      // Fields left out keep their current value; without a current state, a new state's defaults.
      const given = Object.fromEntries(Object.entries(data.state).filter(([, v]) => v !== undefined));
      const state: FlagEnvironment = parseOrThrow(z.strictObject({ state: flagEnvironmentSchema }), { state: { ...current, ...given } }, 'change request').state;
      const proposed: Flag = parseOrThrow(flagSchema, { ...flag.definition, environments: { ...flag.definition.environments, [env.key]: state } }, 'proposed flag');
      // Refused now what applying would refuse (a segment or prerequisite that does not exist, a
      // prerequisite cycle), before anyone reviews it.
      await checkFlagCompiles(tx, project.id, env.key, proposed, this.deps.now());
      await refuseFlagRuleChanges(tx, project.id, DefinitionKind.Flag, proposed, flag.definition, this.deps.now());
      const cr = await changeRequests.create(tx, {
        id: this.deps.newId(),
        projectId: project.id,
        resourceType: 'flag',
        resourceKey: flag.key,
        environment: env.key,
        baseVersion: data.baseVersion,
        base: baseOf(flag.definition, env.key, state),
        proposed: state,
        // A first state reads field by field (as added to an empty one), not as one block of JSON.
        diff: jsonDiff(current ?? {}, state),
        comment: data.comment ?? null,
        proposedBy: actor.userId,
        applyAt,
      });
      // The request's id beside the proposed state, so that its approval and application can be traced to it.
      await record(tx, actor, { projectId: project.id, action: 'change-request.proposed', resourceType: 'flag', resourceKey: flag.key, environment: env.key, before: current, after: { ...state, changeRequest: cr.id } });
      return cr;
    });
  }

  async approve(actor: Actor, projectKey: string, id: string): Promise<ChangeRequest> {
    return this.review(actor, projectKey, id, 'approve');
  }

  async reject(actor: Actor, projectKey: string, id: string): Promise<ChangeRequest> {
    return this.review(actor, projectKey, id, 'reject');
  }

  private async review(actor: Actor, projectKey: string, id: string, kind: 'approve' | 'reject'): Promise<ChangeRequest> {
    assertCan(actor, kind === 'approve' ? Permission.ChangeRequestsApprove : Permission.ChangeRequestsReject);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      if (kind === 'approve') {
        // The reviewer's row before the request's (the order a change to the user takes them in): a
        // user disabled or demoted while approving either sees the approval and withdraws it, or is
        // seen here first.
        await users.lockForShare(tx, actor.userId);
        if ((await users.find(tx, actor.orgId, actor.userId))?.kind === UserKind.Service) {
          // Approving is a person's judgement: a robot's token (an admin one included) may propose and apply, not approve.
          throw forbidden(SERVICE_ACCOUNT_CANNOT_APPROVE);
        }
        const lapsed = await voidApproval(tx, actor.orgId, actor.userId, project.key);
        if (lapsed !== undefined) {
          throw forbidden(`your approval would not count: ${lapsed}`);
        }
      }
      const cr = await changeRequests.get(tx, project.id, id, { forUpdate: true });
      if (!canReview({ id: actor.userId, role: actor.role }, cr.proposedBy)) {
        throw forbidden('a change request must be reviewed by someone other than its proposer');
      }
      if (kind === 'approve' && cr.status === ChangeRequestStatus.Open && cr.applyAt !== null && Date.parse(cr.applyAt) <= this.deps.now().getTime()) {
        // Its time has come unapproved: the scheduler fails it (it is not applied late).
        throw new AppError(AppErrorCode.InvalidState, `change request was to apply at ${cr.applyAt} and was not approved by then: propose it again with a later time`);
      }
      if (kind === 'approve' && cr.status === ChangeRequestStatus.Open) {
        // Approving what applying would refuse would only mislead: say why now.
        const flag = await flagsRepo.get(tx, project.id, cr.resourceKey);
        const stale = staleness(cr, flag);
        if (stale !== undefined) {
          throw new AppError(AppErrorCode.Conflict, stale, { currentVersion: flag.version });
        }
      }
      // An approval that no longer counts (see voidApproval) may be replaced by another reviewer's.
      // (A request no longer open is refused by the transition, for what it is now: applied, cancelled, rejected.)
      if (kind === 'approve' && cr.status === ChangeRequestStatus.Open && cr.approvedBy !== null && (await voidApproval(tx, actor.orgId, cr.approvedBy, project.key)) === undefined && changedSinceApproval(cr, await loadDefinitions(tx, project.id)) === undefined) {
        throw new AppError(AppErrorCode.InvalidState, 'change request is already approved');
      }
      const updated = await changeRequests.transition(tx, project.id, id, { kind, by: actor.userId });
      await record(tx, actor, { projectId: project.id, action: `change-request.${kind === 'approve' ? 'approved' : 'rejected'}`, resourceType: 'flag', resourceKey: cr.resourceKey, environment: cr.environment, before: undefined, after: { changeRequest: id } });
      return updated;
    });
  }

  async cancel(actor: Actor, projectKey: string, id: string): Promise<ChangeRequest> {
    assertCan(actor, Permission.ChangeRequestsPropose);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      const cr = await changeRequests.get(tx, project.id, id, { forUpdate: true });
      if (cr.proposedBy !== actor.userId) {
        throw forbidden('only the proposer can cancel a change request');
      }
      const updated = await changeRequests.transition(tx, project.id, id, { kind: 'cancel', by: actor.userId });
      await record(tx, actor, { projectId: project.id, action: 'change-request.cancelled', resourceType: 'flag', resourceKey: cr.resourceKey, environment: cr.environment, before: undefined, after: { changeRequest: id } });
      return updated;
    });
  }

  /** Applies an approved request if the flag's state in its environment is still the one it was based on. */
  async apply(actor: Actor, projectKey: string, id: string): Promise<ChangeRequest> {
    assertCan(actor, Permission.ChangeRequestsApply);
    const project = await projectFor(this.deps.db, actor, projectKey);
    let staged: StagedRuleset[] = [];
    const applied = await this.deps.db.withTransaction(async (tx) => {
      await lockProjectDefinitions(tx, project.id);
      const cr = await changeRequests.get(tx, project.id, id, { forUpdate: true });
      if (cr.status !== ChangeRequestStatus.Open) {
        throw new AppError(AppErrorCode.InvalidState, `change request is ${cr.status}`);
      }
      if (cr.approvedBy === null) {
        throw new AppError(AppErrorCode.InvalidState, 'change request is not approved yet');
      }
      if (cr.applyAt !== null && Date.parse(cr.applyAt) > this.deps.now().getTime()) {
        throw new AppError(AppErrorCode.InvalidState, `change request applies at ${cr.applyAt}: the scheduler applies it then`);
      }
      if (cr.proposedBy !== actor.userId && !can(actor.role, Permission.ChangeRequestsApprove)) {
        throw forbidden('only the proposer or a reviewer can apply a change request');
      }
      const voided = (await voidApproval(tx, actor.orgId, cr.approvedBy, project.key)) ?? changedSinceApproval(cr, await loadDefinitions(tx, project.id));
      if (voided !== undefined) {
        throw new AppError(AppErrorCode.InvalidState, `the approval no longer counts: ${voided}; ask another reviewer to approve it again`);
      }
      const env = await environments.get(tx, project.id, cr.environment);
      if (!needsApproval('editor', env)) {
        throw new AppError(AppErrorCode.InvalidState, `environment "${env.key}" is no longer protected; change the flag directly`);
      }
      const flag = await flagsRepo.get(tx, project.id, cr.resourceKey, { forUpdate: true });
      const stale = staleness(cr, flag);
      if (stale !== undefined) {
        throw new AppError(AppErrorCode.Conflict, stale, { currentVersion: flag.version });
      }
      // The request's state on top of the flag as it is now (other environments may have changed).
      const state = cr.proposed as FlagEnvironment;
      const next: Flag = parseOrThrow(flagSchema, { ...flag.definition, environments: { ...flag.definition.environments, [cr.environment]: state } }, `flag "${flag.key}" with the requested state`);
      await checkFlagCompiles(tx, project.id, cr.environment, next, this.deps.now());
      // An experiment started since the request was made is held to it too.
      await refuseFlagRuleChanges(tx, project.id, DefinitionKind.Flag, next, flag.definition, this.deps.now());
      const stored = await flagsRepo.update(tx, project.id, next, flag.version, actor.userId);
      const done = await changeRequests.transition(tx, project.id, id, { kind: 'apply' });
      await record(tx, actor, {
        projectId: project.id,
        action: 'change-request.applied',
        resourceType: 'flag',
        resourceKey: flag.key,
        environment: cr.environment,
        before: flag.definition,
        // The flag's change, with the request it applies and the approval it rests on.
        after: { ...stored.definition, changeRequest: cr.id, proposedBy: cr.proposedBy, approvedBy: cr.approvedBy, approvedAt: cr.approvedAt },
      });
      staged = await stageRulesets(tx, project.id, this.deps.now());
      return done;
    });
    await flushRulesets(this.deps, staged);
    return applied;
  }

  /**
   * Applies the open requests whose time (`applyAt`) has come, as their proposers, with the checks
   * of `apply`; a request not approved by then, or that `apply` refuses, is marked failed with the
   * reason (never retried). `apply` locks the request and applies only an open one, so two jobs at
   * once apply it once; the one that finds it applied leaves it alone.
   */
  async applyDue(limit = 100): Promise<{ applied: string[]; failed: { id: string; reason: string }[] }> {
    const now = this.deps.now();
    const report = { applied: [] as string[], failed: [] as { id: string; reason: string }[] };
    for (const due of await changeRequests.due(this.deps.db, now, limit)) {
      let reason: string | undefined;
      const proposer = await users.find(this.deps.db, due.orgId, due.proposedBy);
      if (due.approvedBy === null) {
        reason = `it was not approved by its time (${due.applyAt})`;
      } else if (proposer === undefined || proposer.disabled) {
        reason = proposer === undefined ? 'its proposer no longer exists' : `its proposer ${actorEmail(proposer)} has been disabled`;
      } else {
        // The proposer applies it (as POST …/apply would), through the scheduler: the entry names the request.
        const actor: Actor = { userId: proposer.id, orgId: due.orgId, email: actorEmail(proposer), role: roleInProject(proposer, due.projectKey), client: SCHEDULER_CLIENT, credential: { kind: 'system', id: `change-request:${due.id}` } };
        try {
          await this.apply(actor, due.projectKey, due.id);
          report.applied.push(due.id);
          continue;
        } catch (error) {
          const refused = error instanceof AppError && !TRANSIENT_ERRORS.has(error.code);
          if (!refused && now.getTime() - Date.parse(due.applyAt) < RETRY_WINDOW_MS) {
            this.deps.logger.error('change request: could not apply at its time, will retry', { id: due.id, error: error instanceof Error ? error.message : String(error) });
            continue;
          }
          reason = refused ? error.message : 'the platform could not apply it within an hour of its time (an internal error; see the server log)';
        }
      }
      const failed = await this.deps.db.withTransaction(async (tx) => {
        if (!(await changeRequests.fail(tx, due.projectId, due.id, reason))) {
          // Applied (or ended) meanwhile by another run or a person.
          return false;
        }
        await record(tx, schedulerActor(due.orgId), {
          projectId: due.projectId,
          action: 'change-request.failed',
          resourceType: 'flag',
          resourceKey: due.resourceKey,
          environment: due.environment,
          before: undefined,
          after: { changeRequest: due.id, applyAt: due.applyAt, proposedBy: due.proposedBy, reason },
        });
        return true;
      });
      if (failed) {
        report.failed.push({ id: due.id, reason });
      }
    }
    return report;
  }
}

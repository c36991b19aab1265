import { z } from 'zod';
import type { Environment, Experiment, Flag } from '@xp/shared';
import { environmentSchema, keySchema } from '@xp/shared';
import { Permission, assertCan, inScope } from '../auth/permissions.js';
import { TokenKind, generateToken, hashToken, tokenPrefix } from '../auth/tokens.js';
import { AppError, AppErrorCode, invalid, versionConflict } from '../errors.js';
import { changeRequests } from '../store/change-requests.js';
import { credentials } from '../store/credentials.js';
import type { SdkKey } from '../store/credentials.js';
import { purgeProjectData } from '../store/experiment-data.js';
import { deleteProjectEvaluations } from '../store/flag-evaluations.js';
import type { Queryable } from '../store/db.js';
import { lockProjectAggregates, lockProjectDefinitions } from '../store/project-locks.js';
import { projectRoles } from '../store/project-roles.js';
import { environments, projects } from '../store/projects.js';
import type { Project, StoredEnvironment } from '../store/projects.js';
import type { PublishedRuleset } from '../store/ruleset-store.js';
import { users } from '../store/users.js';
import { webhooks } from '../store/webhooks.js';
import { record } from './audit-trail.js';
import { jsonDiff } from './json-diff.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { forgetSdkKeys } from '../http/sdk/sdk-keys.js';
import { experimentsRepo, flagsRepo, flushRulesets, republish, stageRulesets } from './publisher.js';
import { parseOrThrow } from './validation.js';
import { removeEnvironmentFromWebhooks, webhookAudit } from './webhooks.js';

/** Most keys of one kind the `project.deleted` entry lists (with the count of them all), so a huge project does not make a huge entry. */
export const DELETED_KEYS_LISTED = 1000;

const DEFINITION_TABLES = ['flags', 'segments', 'metrics', 'experiments', 'holdouts'] as const;

/** The keys of a project's definitions by kind (the first DELETED_KEYS_LISTED of each, in key order) and how many there are. */
async function definitionKeys(db: Queryable, projectId: string): Promise<Record<(typeof DEFINITION_TABLES)[number], { count: number; keys: string[] }>> {
  const out = {} as Record<(typeof DEFINITION_TABLES)[number], { count: number; keys: string[] }>;
  for (const table of DEFINITION_TABLES) {
    const count = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1`, [projectId]);
    const keys = await db.query<{ key: string }>(`SELECT key FROM ${table} WHERE project_id = $1 ORDER BY key LIMIT $2`, [projectId, DELETED_KEYS_LISTED]);
    out[table] = { count: count.rows[0]?.n ?? 0, keys: keys.rows.map((r) => r.key) };
  }
  return out;
}

/** What a new project gets unless it names its own environments. */
export const DEFAULT_ENVIRONMENTS: readonly Environment[] = [
  { key: 'development', name: 'Development', production: false, requireApproval: false, color: '#2ca02c' },
  { key: 'staging', name: 'Staging', production: false, requireApproval: false, color: '#ff7f0e' },
  { key: 'production', name: 'Production', production: true, requireApproval: true, color: '#d62728' },
];

export const projectCreateSchema = z.strictObject({
  key: keySchema,
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  /** Environments to create with the project; defaults to development, staging and a protected production. */
  environments: z.array(environmentSchema).min(1).max(20).optional(),
});

export const projectPatchSchema = z.strictObject({
  /** Accepted only as the project's current key (a client may send the whole project back): keys cannot be renamed. */
  key: keySchema.optional().describe("The project's key; only its current one: keys cannot be renamed"),
  name: z.string().min(1).max(200).optional(),
  description: z.string().max(2000).optional(),
});

export const sdkKeyCreateSchema = z.strictObject({
  environment: keySchema,
  kind: z.enum(['server', 'client']),
  name: z.string().min(1).max(100),
});

/** How long a rotated-out key keeps working by default, and at most: a deploy's worth, a week. */
export const SDK_KEY_ROTATION_DEFAULT_HOURS = 24;
export const SDK_KEY_ROTATION_MAX_HOURS = 168;

/** POST …/sdk-keys/{id}/rotate: how long the key being replaced keeps working (as a webhook's rotate-secret says it). */
export const sdkKeyRotateSchema = z
  .strictObject({
    /** Hours the old key keeps working, so services move to the new one without a refused request; 0 stops it at once. */
    keepPreviousHours: z.number().int().min(0).max(SDK_KEY_ROTATION_MAX_HOURS).default(SDK_KEY_ROTATION_DEFAULT_HOURS),
  })
  .default({ keepPreviousHours: SDK_KEY_ROTATION_DEFAULT_HOURS });

/** What the audit log records of an SDK key: which one it is (never the key). */
function sdkKeyAudit(k: SdkKey): { name: string; kind: SdkKey['kind']; prefix: string } {
  return { name: k.name, kind: k.kind, prefix: k.prefix };
}

/** An environment with its optional fields at the values their absence means, for comparing two. */
function withEnvironmentDefaults<E extends { description?: string | undefined; editorsMayTurnOff?: boolean | undefined }>(env: E): E {
  return { ...env, description: env.description ?? '', editorsMayTurnOff: env.editorsMayTurnOff ?? false };
}

export class ProjectService {
  constructor(private readonly deps: Deps) {}

  async list(actor: Actor): Promise<Project[]> {
    assertCan(actor, Permission.Read);
    return (await projects.list(this.deps.db, actor.orgId)).filter((p) => inScope(actor, p.id));
  }

  async get(actor: Actor, key: string): Promise<Project> {
    assertCan(actor, Permission.Read);
    return projectFor(this.deps.db, actor, key);
  }

  async create(actor: Actor, input: unknown): Promise<Project> {
    assertCan(actor, Permission.ProjectsManage);
    if (actor.projectIds !== undefined) {
      throw new AppError(AppErrorCode.Forbidden, 'this access token is limited to some projects, so it cannot create one; use a token for every project', { permission: Permission.ProjectsManage });
    }
    const { environments: envs = DEFAULT_ENVIRONMENTS, ...data } = parseOrThrow(projectCreateSchema, input, 'project');
    const keys = envs.map((e) => e.key);
    if (new Set(keys).size !== keys.length) {
      throw invalid('environment keys must be unique', { issues: [{ path: 'environments', message: 'duplicate key' }] });
    }
    let staged: Awaited<ReturnType<typeof stageRulesets>> = [];
    const created = await this.deps.db.withTransaction(async (tx) => {
      const project = await projects.create(tx, { id: this.deps.newId(), orgId: actor.orgId, ...data });
      for (const env of envs) {
        await environments.create(tx, project.id, env, actor.userId);
      }
      await record(tx, actor, { projectId: project.id, action: 'project.created', resourceType: 'project', resourceKey: project.key, before: undefined, after: { ...data, environments: keys } });
      staged = await stageRulesets(tx, project.id, this.deps.now());
      return project;
    });
    await flushRulesets(this.deps, staged);
    return created;
  }

  async update(actor: Actor, key: string, input: unknown, expectedVersion: number): Promise<Project> {
    assertCan(actor, Permission.ProjectsManage);
    const { key: newKey, ...patch } = parseOrThrow(projectPatchSchema, input, 'project');
    if (newKey !== undefined && newKey !== key) {
      // SDK keys, rulesets, URLs and flags-as-code files name the project by its key.
      throw invalid('project keys cannot be renamed', { issues: [{ path: 'key', message: 'must match the path' }] });
    }
    return this.deps.db.withTransaction(async (tx) => {
      const before = await projectFor(tx, actor, key);
      const unchanged = (patch.name === undefined || patch.name === before.name) && (patch.description === undefined || patch.description === before.description);
      if (unchanged) {
        // Nothing to write: no new version, no audit entry; a stale version is still a conflict.
        if (before.version !== expectedVersion) {
          throw versionConflict(`project`, before.version, expectedVersion);
        }
        return before;
      }
      const after = await projects.update(tx, actor.orgId, key, expectedVersion, patch);
      await record(tx, actor, {
        projectId: after.id,
        action: 'project.updated',
        resourceType: 'project',
        resourceKey: key,
        before: { name: before.name, description: before.description },
        after: { name: after.name, description: after.description },
      });
      return after;
    });
  }

  /**
   * Deletes a project with everything of it: definitions, environments, SDK keys (which stop working
   * within the key cache's TTL), change requests, webhooks, code references and its pipeline data.
   * The audit log keeps its history. Refused while SDKs in production are served a flag that is on,
   * or an experiment runs: those are turned off or stopped first.
   */
  async delete(actor: Actor, key: string, expectedVersion: number): Promise<void> {
    assertCan(actor, Permission.ProjectsManage);
    const revoked = await this.deps.db.withTransaction(async (tx) => {
      const project = await projectFor(tx, actor, key);
      if (project.version !== expectedVersion) {
        throw versionConflict(`project`, project.version, expectedVersion);
      }
      // Aggregator batches of the project in flight finish first; later ones find it gone and drop its events.
      await lockProjectAggregates(tx, [project.id], 'exclusive');
      const envs = await environments.list(tx, project.id);
      const production = envs.filter((e) => e.production).map((e) => e.key);
      const flags = (await flagsRepo.all(tx, project.id)).flatMap((f) =>
        production.filter((env) => f.definition.environments[env]?.enabled === true).map((environment) => ({ key: f.key, environment })),
      );
      const experiments = await projects.runningExperiments(tx, project.id);
      if (flags.length > 0 || experiments.length > 0) {
        const reasons = [
          ...(flags.length > 0 ? [`flags are on in production: ${flags.slice(0, 10).map((f) => `${f.key} (${f.environment})`).join(', ')}${flags.length > 10 ? ', …' : ''}`] : []),
          ...(experiments.length > 0 ? [`experiments are running: ${experiments.slice(0, 10).join(', ')}${experiments.length > 10 ? ', …' : ''}`] : []),
        ];
        throw new AppError(AppErrorCode.InvalidState, `project "${key}" is in use; turn its flags off and stop its experiments first (${reasons.join('; ')})`, { flags, experiments });
      }
      const keys = (await credentials.listSdkKeys(tx, project.id)).filter((k) => k.revokedAt === null);
      // What goes with the project, read before it goes: each is audited below.
      const hooks = await webhooks.list(tx, project.id);
      const roles = await projectRoles.listForProject(tx, project.id);
      const definitions = await definitionKeys(tx, project.id);
      await purgeProjectData(tx, project.id);
      await deleteProjectEvaluations(tx, project.id);
      await projects.delete(tx, actor.orgId, key, expectedVersion);
      // The organisation's entry, as the project is gone (no webhook of it is left to tell): its id says which one it was.
      await record(tx, actor, {
        projectId: null,
        action: 'project.deleted',
        resourceType: 'project',
        resourceKey: key,
        before: { id: project.id, name: project.name, description: project.description, environments: envs.map((e) => e.key), definitions },
        after: undefined,
      });
      for (const k of keys) {
        await record(tx, actor, { projectId: project.id, action: 'sdk-key.revoked', resourceType: 'sdk-key', resourceKey: k.id, environment: k.environment, before: sdkKeyAudit(k), after: undefined });
      }
      // As DELETE …/webhooks/{id} records each one (no webhook is left to be told of these entries).
      for (const w of hooks) {
        await record(tx, actor, { projectId: project.id, action: 'webhook.deleted', resourceType: 'webhook', resourceKey: w.id, before: webhookAudit(w), after: undefined });
      }
      // As DELETE /users/{id}/projects/{project}/role records each one: a user's history shows their access there ending.
      for (const r of roles) {
        // The user's (or service account's) view lists its project roles: its version (ETag) moves, as a role removal's does.
        await users.touch(tx, r.userId);
        await record(tx, actor, {
          projectId: project.id,
          action: 'user.project-role-removed',
          resourceType: 'user',
          resourceKey: r.userId,
          before: { email: r.email, organisationRole: r.organisationRole, projectRole: r.role },
          after: { email: r.email, organisationRole: r.organisationRole },
        });
      }
      return keys.map((k) => k.id);
    });
    forgetSdkKeys(revoked);
  }

  async listEnvironments(actor: Actor, projectKey: string): Promise<StoredEnvironment[]> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return environments.list(this.deps.db, project.id);
  }

  async getEnvironment(actor: Actor, projectKey: string, key: string): Promise<StoredEnvironment> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return environments.get(this.deps.db, project.id, key);
  }

  async createEnvironment(actor: Actor, projectKey: string, input: unknown): Promise<StoredEnvironment> {
    assertCan(actor, Permission.EnvironmentsManage);
    const env: Environment = parseOrThrow(environmentSchema, input, 'environment');
    const project = await projectFor(this.deps.db, actor, projectKey);
    let staged: Awaited<ReturnType<typeof stageRulesets>> = [];
    const created = await this.deps.db.withTransaction(async (tx) => {
      await lockProjectDefinitions(tx, project.id);
      const stored = await environments.create(tx, project.id, env, actor.userId);
      await record(tx, actor, { projectId: project.id, action: 'environment.created', resourceType: 'environment', resourceKey: env.key, environment: env.key, before: undefined, after: env });
      staged = await stageRulesets(tx, project.id, this.deps.now(), [env.key]);
      return stored;
    });
    await flushRulesets(this.deps, staged);
    return created;
  }

  async updateEnvironment(actor: Actor, projectKey: string, key: string, input: unknown, expectedVersion: number): Promise<StoredEnvironment> {
    assertCan(actor, Permission.EnvironmentsManage);
    const env: Environment = parseOrThrow(environmentSchema, input, 'environment');
    if (env.key !== key) {
      throw invalid('environment keys cannot be renamed', { issues: [{ path: 'key', message: 'must match the path' }] });
    }
    const project = await projectFor(this.deps.db, actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      // A flag change racing this one must see whether the environment needs approval (store/project-locks.ts).
      await lockProjectDefinitions(tx, project.id);
      const before = await environments.get(tx, project.id, key);
      const { version: _version, position: _position, ...stored } = before;
      // Fields left out and sent with their default value (an empty description, editorsMayTurnOff false) are the same.
      if (jsonDiff(withEnvironmentDefaults(stored), withEnvironmentDefaults(env)).length === 0) {
        // Nothing to write: no new version, no audit entry; a stale version is still a conflict.
        if (before.version !== expectedVersion) {
          throw versionConflict('environment', before.version, expectedVersion);
        }
        return before;
      }
      const after = await environments.update(tx, project.id, env, expectedVersion, actor.userId);
      await record(tx, actor, { projectId: project.id, action: 'environment.updated', resourceType: 'environment', resourceKey: key, environment: key, before, after });
      return after;
    });
  }

  /**
   * Deletes a non-production environment with what belongs to it: its SDK keys, its open change
   * requests, every flag's state there and its place in the environment lists of experiments that
   * are not running, and its place in webhooks' environment filters (a webhook filtered on it alone
   * is disabled); each changed definition gets a new version and an audit entry. Refused while a flag
   * is on there, a running experiment names it, or an experiment (any status, archived too) lists it
   * as its only environment. An environment created later under the key starts afresh: a new ruleset
   * version, compiled from what is left.
   */
  async deleteEnvironment(actor: Actor, projectKey: string, key: string, expectedVersion: number): Promise<void> {
    assertCan(actor, Permission.EnvironmentsManage);
    const project = await projectFor(this.deps.db, actor, projectKey);
    let staged: Awaited<ReturnType<typeof stageRulesets>> = [];
    const revoked = await this.deps.db.withTransaction(async (tx) => {
      // The flags read below are the last versions: a flag change committed meanwhile cannot make their rewrite a conflict.
      await lockProjectDefinitions(tx, project.id);
      const before = await environments.get(tx, project.id, key);
      if (before.production) {
        throw new AppError(AppErrorCode.InvalidState, 'a production environment cannot be deleted; mark it non-production first');
      }
      const flags = await flagsRepo.all(tx, project.id, true);
      const inUse = flags.filter((f) => f.definition.environments[key]?.enabled === true).map((f) => f.key);
      if (inUse.length > 0) {
        throw new AppError(AppErrorCode.InvalidState, `flags are on in "${key}": ${inUse.slice(0, 10).join(', ')}; turn them off there first`, { flags: inUse });
      }
      const experiments = (await experimentsRepo.all(tx, project.id, true)).filter((e) => e.definition.environments.includes(key));
      // Only those that name it: one running everywhere (no list) goes on in the other environments.
      const running = experiments.filter((e) => e.definition.status === 'running').map((e) => e.key);
      if (running.length > 0) {
        throw new AppError(
          AppErrorCode.InvalidState,
          `experiments are running in "${key}": ${running.slice(0, 10).join(', ')}${running.length > 10 ? ', …' : ''}; stop them (or take "${key}" out of their environments) first`,
          { experiments: running },
        );
      }
      // Trimmed to nothing, their list would mean every environment; kept, it names an environment
      // that is gone (and one created later under the key would run them at once). Archived ones count
      // too: unarchived, they could start or resume there.
      const only = experiments.filter((e) => e.definition.environments.length === 1).map((e) => e.key);
      if (only.length > 0) {
        throw new AppError(
          AppErrorCode.InvalidState,
          `experiments list only "${key}" as their environment: ${only.slice(0, 10).join(', ')}${only.length > 10 ? ', …' : ''}; give them another environment, or delete them, first`,
          { experiments: only },
        );
      }
      // Its SDK keys go with it (they stop working at once): each active one is recorded as revoked, so
      // the audit log says which keys existed and when they stopped.
      const keys = (await credentials.listSdkKeys(tx, project.id, key)).filter((k) => k.revokedAt === null);
      await environments.delete(tx, project.id, key, expectedVersion);
      // Its open change requests (flags only) end with it: an approval given there must not apply to an environment created later under the key.
      const cancelled = await changeRequests.cancelOpenInEnvironment(tx, project.id, key, actor.userId);
      // Else an environment created later under the key would get the flags' old targeting back.
      const changedFlags: { before: Flag; after: Flag }[] = [];
      for (const f of flags.filter((f) => f.definition.environments[key] !== undefined)) {
        const { [key]: _gone, ...rest } = f.definition.environments;
        const stored = await flagsRepo.update(tx, project.id, { ...f.definition, environments: rest }, f.version, actor.userId);
        changedFlags.push({ before: f.definition, after: stored.definition });
      }
      // A draft or stopped experiment keeps its other environments (one that lists only this one was refused above).
      const changedExperiments: { before: Experiment; after: Experiment }[] = [];
      for (const e of experiments) {
        const next = { ...e.definition, environments: e.definition.environments.filter((env) => env !== key) };
        const stored = await experimentsRepo.update(tx, project.id, next, e.version, actor.userId);
        changedExperiments.push({ before: e.definition, after: stored.definition });
      }
      // The ruleset counter stays (published versions are immutable) but forgets the content: the next
      // environment under the key publishes a new version, so the old one is never served again.
      await environments.forgetRulesetContent(tx, project.id, key);
      // Webhooks filtered on it stop naming it (one filtered on it alone is disabled).
      await removeEnvironmentFromWebhooks(tx, actor, project.id, key, this.deps.now());
      // The other environments' rulesets, should a changed definition show there (unchanged ones keep their version).
      staged = await stageRulesets(tx, project.id, this.deps.now());
      await record(tx, actor, { projectId: project.id, action: 'environment.deleted', resourceType: 'environment', resourceKey: key, environment: key, before, after: undefined });
      for (const k of keys) {
        await record(tx, actor, { projectId: project.id, action: 'sdk-key.revoked', resourceType: 'sdk-key', resourceKey: k.id, environment: key, before: sdkKeyAudit(k), after: undefined });
      }
      for (const cr of cancelled) {
        await record(tx, actor, {
          projectId: project.id,
          action: 'change-request.cancelled',
          resourceType: 'flag',
          resourceKey: cr.resourceKey,
          environment: key,
          before: undefined,
          after: { changeRequest: cr.id, reason: 'environment deleted' },
        });
      }
      for (const f of changedFlags) {
        await record(tx, actor, { projectId: project.id, action: 'flag.updated', resourceType: 'flag', resourceKey: f.after.key, environment: key, before: f.before, after: f.after });
      }
      for (const e of changedExperiments) {
        await record(tx, actor, { projectId: project.id, action: 'experiment.updated', resourceType: 'experiment', resourceKey: e.after.key, environment: key, before: e.before, after: e.after });
      }
      return keys.map((k) => k.id);
    });
    forgetSdkKeys(revoked);
    await flushRulesets(this.deps, staged);
  }

  async listSdkKeys(actor: Actor, projectKey: string, environment?: string): Promise<SdkKey[]> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    return credentials.listSdkKeys(this.deps.db, project.id, environment);
  }

  /** Creates an SDK key; the key itself is returned once and stored only as a hash. */
  async createSdkKey(actor: Actor, projectKey: string, input: unknown): Promise<{ key: string; sdkKey: SdkKey }> {
    assertCan(actor, Permission.SdkKeysManage);
    const data = parseOrThrow(sdkKeyCreateSchema, input, 'SDK key');
    const project = await projectFor(this.deps.db, actor, projectKey);
    const key = generateToken(data.kind === 'server' ? TokenKind.ServerSdkKey : TokenKind.ClientSdkKey);
    const sdkKey = await this.deps.db.withTransaction(async (tx) => {
      await environments.get(tx, project.id, data.environment);
      const created = await credentials.createSdkKey(tx, {
        id: this.deps.newId(),
        projectId: project.id,
        environment: data.environment,
        kind: data.kind,
        name: data.name,
        keyHash: hashToken(key),
        prefix: tokenPrefix(key),
        createdBy: actor.userId,
      });
      await record(tx, actor, {
        projectId: project.id,
        action: 'sdk-key.created',
        resourceType: 'sdk-key',
        resourceKey: created.id,
        environment: data.environment,
        before: undefined,
        after: sdkKeyAudit(created),
      });
      return created;
    });
    return { key, sdkKey };
  }

  /**
   * Rotates an SDK key: a new key of the same environment, kind and name (returned once), and the
   * old one expiring after `keepPreviousHours` (24 by default, 0: at once), so services switch over
   * without a refused request. Rotating a key already rotated out shortens its expiry, never lengthens it.
   */
  async rotateSdkKey(actor: Actor, projectKey: string, id: string, input: unknown): Promise<{ key: string; sdkKey: SdkKey; previous: SdkKey }> {
    assertCan(actor, Permission.SdkKeysManage);
    const { keepPreviousHours } = parseOrThrow(sdkKeyRotateSchema, input, 'SDK key rotation');
    const project = await projectFor(this.deps.db, actor, projectKey);
    const now = this.deps.now();
    const expiresAt = new Date(now.getTime() + keepPreviousHours * 3_600_000);
    const result = await this.deps.db.withTransaction(async (tx) => {
      const old = await credentials.lockSdkKey(tx, project.id, id);
      if (old.revokedAt !== null) {
        throw new AppError(AppErrorCode.InvalidState, `SDK key ${old.prefix}… was revoked: create a new key instead`);
      }
      if (old.expiresAt !== null && Date.parse(old.expiresAt) <= now.getTime()) {
        throw new AppError(AppErrorCode.InvalidState, `SDK key ${old.prefix}… expired at ${old.expiresAt}: create a new key instead`);
      }
      const key = generateToken(old.kind === 'server' ? TokenKind.ServerSdkKey : TokenKind.ClientSdkKey);
      const created = await credentials.createSdkKey(tx, {
        id: this.deps.newId(),
        projectId: project.id,
        environment: old.environment,
        kind: old.kind,
        name: old.name,
        keyHash: hashToken(key),
        prefix: tokenPrefix(key),
        createdBy: actor.userId,
      });
      const previous = await credentials.expireSdkKey(tx, project.id, id, expiresAt);
      await record(tx, actor, {
        projectId: project.id,
        action: 'sdk-key.created',
        resourceType: 'sdk-key',
        resourceKey: created.id,
        environment: created.environment,
        before: undefined,
        after: { ...sdkKeyAudit(created), replaces: old.prefix },
      });
      await record(tx, actor, {
        projectId: project.id,
        action: 'sdk-key.rotated',
        resourceType: 'sdk-key',
        resourceKey: id,
        environment: old.environment,
        before: { ...sdkKeyAudit(old), expiresAt: old.expiresAt },
        after: { ...sdkKeyAudit(previous), expiresAt: previous.expiresAt, replacedBy: created.prefix },
      });
      return { key, sdkKey: created, previous };
    });
    // This process's SDK endpoints read the old key again, with its expiry.
    forgetSdkKeys([id]);
    return result;
  }

  async revokeSdkKey(actor: Actor, projectKey: string, id: string): Promise<SdkKey> {
    assertCan(actor, Permission.SdkKeysManage);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const revoked = await this.deps.db.withTransaction(async (tx) => {
      const { sdkKey, revokedNow } = await credentials.revokeSdkKey(tx, project.id, id);
      // Revoking again changes nothing, and is not recorded again.
      if (revokedNow) {
        await record(tx, actor, { projectId: project.id, action: 'sdk-key.revoked', resourceType: 'sdk-key', resourceKey: id, environment: sdkKey.environment, before: sdkKeyAudit(sdkKey), after: undefined });
      }
      return sdkKey;
    });
    // Committed: this process's SDK endpoints refuse it at once (others within their key cache's TTL).
    forgetSdkKeys([revoked.id]);
    return revoked;
  }

  /** The ruleset currently published for an environment (from the store) and the version PostgreSQL expects. */
  async publishedRuleset(actor: Actor, projectKey: string, environment: string): Promise<{ expectedVersion: number; published: PublishedRuleset | undefined }> {
    assertCan(actor, Permission.Read);
    const project = await projectFor(this.deps.db, actor, projectKey);
    await environments.get(this.deps.db, project.id, environment);
    const [expectedVersion, published] = await Promise.all([
      environments.currentRulesetVersion(this.deps.db, project.id, environment),
      this.deps.rulesets.latest(project.id, environment),
    ]);
    return { expectedVersion, published };
  }

  /** Rebuilds the published rulesets of every environment from PostgreSQL. */
  async republish(actor: Actor, projectKey: string): Promise<PublishedRuleset[]> {
    assertCan(actor, Permission.EnvironmentsManage);
    const project = await projectFor(this.deps.db, actor, projectKey);
    const published = await republish(this.deps, project.id);
    await record(this.deps.db, actor, { projectId: project.id, action: 'rulesets.republished', resourceType: 'project', resourceKey: project.key, before: undefined, after: { versions: published.map((p) => `${p.environment}@${p.version}`) } });
    return published;
  }
}

import { z } from 'zod';
import { environmentSchema, keySchema, rulesetSchema } from '@xp/shared';
import { projectCreateSchema, projectPatchSchema, sdkKeyCreateSchema, sdkKeyRotateSchema } from '../../domain/projects.js';
import type { SdkKey } from '../../store/credentials.js';
import type { Services } from '../../domain/services.js';
import { Permission } from '../../auth/permissions.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { projectIdParams, projectParams, versioned } from './common.js';

const projectSchema = z
  .object({ id: z.string(), key: z.string(), name: z.string(), description: z.string().nullable(), version: z.number().int(), createdAt: z.string(), updatedAt: z.string() })
  .meta({ id: 'Project' });

const storedEnvironmentSchema = environmentSchema.extend({ version: z.number().int(), position: z.number().int() }).meta({ id: 'StoredEnvironment' });

const sdkKeySchema = z
  .object({
    id: z.string(),
    environment: z.string(),
    kind: z.enum(['server', 'client']),
    name: z.string(),
    prefix: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
    lastUsedAt: z.string().nullable().describe('When the SDK endpoints last accepted the key (recorded at most once a minute); null if never'),
    expiresAt: z.string().nullable().describe('When a key being rotated out stops working; null if it works until revoked'),
  })
  .meta({ id: 'SdkKey' });

const envParams = z.strictObject({ project: keySchema, environment: keySchema });

const publishedSchema = z.object({
  expectedVersion: z.number().int(),
  published: z.object({ version: z.number().int(), etag: z.string(), publishedAt: z.string(), ruleset: rulesetSchema }).nullable(),
});

function projectView(p: { id: string; key: string; name: string; description: string | null; version: number; createdAt: string; updatedAt: string }): z.infer<typeof projectSchema> {
  return { id: p.id, key: p.key, name: p.name, description: p.description, version: p.version, createdAt: p.createdAt, updatedAt: p.updatedAt };
}

function sdkKeyView(k: SdkKey): z.infer<typeof sdkKeySchema> {
  return { id: k.id, environment: k.environment, kind: k.kind, name: k.name, prefix: k.prefix, createdAt: k.createdAt, revokedAt: k.revokedAt, lastUsedAt: k.lastUsedAt, expiresAt: k.expiresAt };
}

export function projectRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/projects',
      permission: Permission.Read,
      tag: 'Projects',
      summary: 'Projects of the organisation',
      responses: { 200: { description: 'Projects', schema: z.object({ items: z.array(projectSchema) }) } },
      handler: async (req) => ({ status: 200, body: { items: (await s.projects.list(req.actor)).map(projectView) } }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects',
      permission: Permission.ProjectsManage,
      tag: 'Projects',
      summary: 'Create a project',
      body: projectCreateSchema,
      responses: { 201: { description: 'Created', schema: projectSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const p = await s.projects.create(req.actor, req.body);
        return versioned(201, p, projectView(p));
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}',
      permission: Permission.Read,
      tag: 'Projects',
      summary: 'One project',
      params: projectParams,
      responses: { 200: { description: 'The project', schema: projectSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const p = await s.projects.get(req.actor, req.params.project);
        return versioned(200, p, projectView(p));
      },
    }),
    route({
      method: 'patch',
      path: '/api/v1/projects/{project}',
      permission: Permission.ProjectsManage,
      tag: 'Projects',
      summary: 'Rename or describe a project',
      params: projectParams,
      body: projectPatchSchema,
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: projectSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const p = await s.projects.update(req.actor, req.params.project, req.body, req.expectedVersion);
        return versioned(200, p, projectView(p));
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/projects/{project}',
      permission: Permission.ProjectsManage,
      tag: 'Projects',
      summary: 'Delete a project with its flags, experiments, keys and data',
      description:
        'Deletes the project and everything in it: definitions, environments, SDK keys (they stop working within 30 s), change requests, webhooks, code references and the pipeline data behind its results. The audit log keeps its history. Refused (409 INVALID_STATE, `details.flags` with `{ key, environment }` and `details.experiments`) while a flag is on in a production environment or an experiment runs.',
      params: projectParams,
      concurrency: true,
      responses: { 204: { description: 'Deleted' } },
      handler: async (req) => {
        await s.projects.delete(req.actor, req.params.project, req.expectedVersion);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/environments',
      permission: Permission.Read,
      tag: 'Environments',
      summary: 'Environments of a project, in order',
      params: projectParams,
      responses: { 200: { description: 'Environments', schema: z.object({ items: z.array(storedEnvironmentSchema) }) } },
      handler: async (req) => ({ status: 200, body: { items: await s.projects.listEnvironments(req.actor, req.params.project) } }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/environments',
      permission: Permission.EnvironmentsManage,
      tag: 'Environments',
      summary: 'Add an environment',
      params: projectParams,
      body: environmentSchema,
      responses: { 201: { description: 'Created', schema: storedEnvironmentSchema, headers: ['ETag'] } },
      handler: async (req) => versioned(201, await s.projects.createEnvironment(req.actor, req.params.project, req.body)),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/environments/{environment}',
      permission: Permission.Read,
      tag: 'Environments',
      summary: 'One environment',
      params: envParams,
      responses: { 200: { description: 'The environment', schema: storedEnvironmentSchema, headers: ['ETag'] } },
      handler: async (req) => versioned(200, await s.projects.getEnvironment(req.actor, req.params.project, req.params.environment)),
    }),
    route({
      method: 'put',
      path: '/api/v1/projects/{project}/environments/{environment}',
      permission: Permission.EnvironmentsManage,
      tag: 'Environments',
      summary: 'Replace an environment (name, colour, protection)',
      params: envParams,
      body: environmentSchema,
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: storedEnvironmentSchema, headers: ['ETag'] } },
      handler: async (req) => versioned(200, await s.projects.updateEnvironment(req.actor, req.params.project, req.params.environment, req.body, req.expectedVersion)),
    }),
    route({
      method: 'delete',
      path: '/api/v1/projects/{project}/environments/{environment}',
      permission: Permission.EnvironmentsManage,
      tag: 'Environments',
      summary: 'Delete a non-production environment with no flags on',
      params: envParams,
      concurrency: true,
      responses: { 204: { description: 'Deleted' } },
      handler: async (req) => {
        await s.projects.deleteEnvironment(req.actor, req.params.project, req.params.environment, req.expectedVersion);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/environments/{environment}/ruleset',
      permission: Permission.Read,
      tag: 'Environments',
      summary: 'The ruleset published for an environment, and the version PostgreSQL expects',
      params: envParams,
      responses: { 200: { description: 'Published ruleset', schema: publishedSchema } },
      handler: async (req) => {
        const { expectedVersion, published } = await s.projects.publishedRuleset(req.actor, req.params.project, req.params.environment);
        return {
          status: 200,
          body: {
            expectedVersion,
            published: published === undefined ? null : { version: published.version, etag: published.etag, publishedAt: published.publishedAt, ruleset: published.ruleset },
          },
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/republish',
      permission: Permission.EnvironmentsManage,
      tag: 'Environments',
      summary: 'Rebuild every environment’s published ruleset from PostgreSQL',
      params: projectParams,
      responses: { 200: { description: 'What was written', schema: z.object({ published: z.array(z.object({ environment: z.string(), version: z.number().int() })) }) } },
      handler: async (req) => ({
        status: 200,
        body: { published: (await s.projects.republish(req.actor, req.params.project)).map((p) => ({ environment: p.environment, version: p.version })) },
      }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/sdk-keys',
      permission: Permission.Read,
      tag: 'SDK keys',
      summary: 'SDK keys (prefixes only; keys are shown once at creation)',
      params: projectParams,
      query: z.strictObject({ environment: keySchema.optional() }),
      responses: { 200: { description: 'Keys', schema: z.object({ items: z.array(sdkKeySchema) }) } },
      handler: async (req) => ({ status: 200, body: { items: (await s.projects.listSdkKeys(req.actor, req.params.project, req.query.environment)).map(sdkKeyView) } }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/sdk-keys',
      permission: Permission.SdkKeysManage,
      tag: 'SDK keys',
      summary: 'Create a server-side or client-side SDK key for an environment; the key is shown once',
      params: projectParams,
      body: sdkKeyCreateSchema,
      responses: { 201: { description: 'Created', schema: z.object({ key: z.string(), sdkKey: sdkKeySchema }) } },
      handler: async (req) => {
        const { key, sdkKey } = await s.projects.createSdkKey(req.actor, req.params.project, req.body);
        return { status: 201, body: { key, sdkKey: sdkKeyView(sdkKey) }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/sdk-keys/{id}/rotate',
      permission: Permission.SdkKeysManage,
      tag: 'SDK keys',
      summary: 'Rotate an SDK key: a new key (shown once) of the same environment, kind and name; the old one keeps working for keepPreviousHours (default 24, at most 168; 0 stops it at once). The body is optional.',
      params: projectIdParams,
      body: sdkKeyRotateSchema,
      responses: { 201: { description: 'The new key, and the old one with its expiry', schema: z.object({ key: z.string(), sdkKey: sdkKeySchema, previous: sdkKeySchema }) } },
      handler: async (req) => {
        const { key, sdkKey, previous } = await s.projects.rotateSdkKey(req.actor, req.params.project, req.params.id, req.rawBody);
        return { status: 201, body: { key, sdkKey: sdkKeyView(sdkKey), previous: sdkKeyView(previous) }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/projects/{project}/sdk-keys/{id}',
      permission: Permission.SdkKeysManage,
      tag: 'SDK keys',
      summary: 'Revoke an SDK key',
      params: projectIdParams,
      responses: { 200: { description: 'Revoked', schema: sdkKeySchema } },
      handler: async (req) => ({ status: 200, body: sdkKeyView(await s.projects.revokeSdkKey(req.actor, req.params.project, req.params.id)) }),
    }),
  ];
}

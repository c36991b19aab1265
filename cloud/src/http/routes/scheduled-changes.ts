import { z } from 'zod';
import { keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { ScheduledChangeService, scheduledChangeCreateSchema } from '../../domain/scheduled-changes.js';
import type { Services } from '../../domain/services.js';
import { SCHEDULED_CHANGE_STATUSES } from '../../store/scheduled-changes.js';
import type { ScheduledChange } from '../../store/scheduled-changes.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { pageQuery, pageSchema, pageView, projectKeyParams, projectParams } from './common.js';

const scheduledChangeSchema = z
  .object({
    id: z.string(),
    flag: z.string(),
    environment: z.string(),
    at: z.string().describe('When it applies (UTC); the job runs every 30 s locally and every minute (guardrailCheckMinutes) on AWS, so within that after'),
    state: z.record(z.string(), z.unknown()).describe("The fields of the environment's state it sets; the others keep the value they have then"),
    comment: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
    status: z.enum(SCHEDULED_CHANGE_STATUSES),
    finishedAt: z.string().nullable().describe('When it was applied, failed or cancelled'),
    cancelledBy: z.string().nullable(),
    failure: z.string().nullable().describe('Why it was not applied (status failed)'),
    appliedVersion: z.number().int().nullable().describe('The flag version it wrote (status applied)'),
  })
  .meta({ id: 'ScheduledChange' });

function view(sc: ScheduledChange): z.infer<typeof scheduledChangeSchema> {
  const { projectId: _p, flagCreatedAt: _c, ...rest } = sc;
  return rest;
}

const statusQuery = z.enum(SCHEDULED_CHANGE_STATUSES, { error: `must be one of ${SCHEDULED_CHANGE_STATUSES.join(', ')}` }).optional();

export function scheduledChangeRoutes(s: Services): AnyRoute[] {
  const service = new ScheduledChangeService(s.deps);
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/scheduled-changes',
      permission: Permission.Read,
      tag: 'Scheduled changes',
      summary: "The project's scheduled changes in the order they apply (a calendar), optionally of one status",
      params: projectParams,
      query: z.strictObject({ ...pageQuery, status: statusQuery }),
      responses: { 200: { description: 'A page of scheduled changes', schema: pageSchema(scheduledChangeSchema) } },
      handler: async (req) => ({
        status: 200,
        body: pageView(await service.list(req.actor, req.params.project, { limit: req.query.limit, cursor: req.query.cursor, status: req.query.status }), view),
      }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/flags/{key}/scheduled-changes',
      permission: Permission.Read,
      tag: 'Scheduled changes',
      summary: "A flag's scheduled changes in the order they apply, optionally of one status",
      params: projectKeyParams,
      query: z.strictObject({ ...pageQuery, status: statusQuery }),
      responses: { 200: { description: 'A page of scheduled changes', schema: pageSchema(scheduledChangeSchema) } },
      handler: async (req) => ({
        status: 200,
        body: pageView(await service.list(req.actor, req.params.project, { flag: req.params.key, limit: req.query.limit, cursor: req.query.cursor, status: req.query.status }), view),
      }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/flags/{key}/scheduled-changes',
      permission: Permission.FlagsWrite,
      tag: 'Scheduled changes',
      summary: "Schedule a change of a flag's state in one environment",
      description:
        'Whoever may change the environment\'s state directly may schedule: in a protected environment, roles below admin get 403 APPROVAL_REQUIRED. Applied within about a minute after `at`, as its creator, with the checks of a direct change; a change that no longer applies then is marked failed with the reason.',
      params: projectKeyParams,
      body: scheduledChangeCreateSchema,
      responses: { 201: { description: 'Scheduled', schema: scheduledChangeSchema } },
      handler: async (req) => ({ status: 201, body: view(await service.schedule(req.actor, req.params.project, req.params.key, req.body)) }),
    }),
    route({
      method: 'delete',
      path: '/api/v1/projects/{project}/flags/{key}/scheduled-changes/{id}',
      permission: Permission.FlagsWrite,
      tag: 'Scheduled changes',
      summary: 'Cancel a scheduled change not applied yet',
      params: z.strictObject({ project: keySchema, key: keySchema, id: z.string().min(1).max(64) }),
      responses: { 200: { description: 'Cancelled', schema: scheduledChangeSchema } },
      handler: async (req) => ({ status: 200, body: view(await service.cancel(req.actor, req.params.project, req.params.key, req.params.id)) }),
    }),
  ];
}

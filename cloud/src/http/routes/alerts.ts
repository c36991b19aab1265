import { z } from 'zod';
import { MAX_ACKNOWLEDGE_COMMENT, keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { acknowledgeAlert, alertsFor, unacknowledgeAlert } from '../../domain/guardrails.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { pageQuery, pageSchema, pageView, projectIdParams, projectParams } from './common.js';

const alertSchema = z
  .object({
    id: z.number().int(),
    environment: z.string(),
    experiment: z.string(),
    flag: z.string().nullable().describe('The flag whose experiment rule serves the experiment here, if any'),
    metric: z.string(),
    variation: z.string().describe('The treatment that degraded the metric'),
    control: z.string(),
    detectedAt: z.string(),
    difference: z.enum(['relative', 'absolute']),
    effect: z.number(),
    ci: z.tuple([z.number(), z.number()]).describe('Confidence sequence at level 1 − alpha'),
    pValue: z.number().describe('Always-valid (sequential) p-value'),
    alpha: z.number(),
    controlUnits: z.number().int(),
    treatmentUnits: z.number().int(),
    action: z.enum(['alert', 'stopped', 'stop-failed']),
    actionAt: z.string().nullable(),
    resolvedAt: z.string().nullable(),
    resolution: z.string().nullable(),
    acknowledgedAt: z.string().nullable().describe('When someone acknowledged the alert ("seen, investigating"); null when nobody has, or it was un-acknowledged'),
    acknowledgedBy: z.string().nullable().describe("The acknowledging user's id"),
    acknowledgedByName: z.string().nullable().describe("The acknowledging user's name (e-mail when they have none); null when not acknowledged or the user is unknown"),
    acknowledgeComment: z.string().nullable().describe('What the acknowledging user wrote (at most 2,000 characters); null without a comment'),
  })
  .meta({ id: 'GuardrailAlert' });

export function alertRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/alerts',
      permission: Permission.Read,
      tag: 'Guardrails',
      summary: 'Guardrail alerts, newest first',
      description:
        'A guardrail metric of a running experiment degraded significantly (sequential test) for a treatment in an environment. ' +
        'One alert per experiment × environment × metric × variation until it is resolved (when the experiment stops, or its metric changes or stops being one of its guardrails). ' +
        'An unknown `environment` is 404 NOT_FOUND naming it.',
      params: projectParams,
      query: z.strictObject({
        ...pageQuery,
        status: z.enum(['open', 'resolved']).optional(),
        acknowledged: z.enum(['true', 'false'], { error: 'must be true or false' }).optional().describe('true: only acknowledged alerts; false: only those nobody has acknowledged; absent: both'),
        environment: keySchema.optional(),
        experiment: keySchema.optional(),
      }),
      responses: { 200: { description: 'A page of alerts', schema: pageSchema(alertSchema) } },
      handler: async (req) => {
        const q = req.query;
        const page = await alertsFor(s.deps, req.actor, req.params.project, {
          limit: q.limit,
          cursor: q.cursor,
          status: q.status,
          acknowledged: q.acknowledged === undefined ? undefined : q.acknowledged === 'true',
          environment: q.environment,
          experiment: q.experiment,
        });
        return { status: 200, body: pageView(page) };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/alerts/{id}/acknowledge',
      permission: Permission.ExperimentsWrite,
      tag: 'Guardrails',
      summary: 'Acknowledge an open guardrail alert ("seen, investigating"), with an optional comment',
      description:
        'Records who acknowledged the alert and when, with `comment` if given (blank is none), and audits `alert.acknowledged`. ' +
        'An alert already acknowledged is returned as it is (the first acknowledgement and its comment are kept). ' +
        'A resolved alert is 409 INVALID_STATE; an alert of another project, 404 NOT_FOUND.',
      params: projectIdParams,
      body: z.strictObject({ comment: z.string().trim().max(MAX_ACKNOWLEDGE_COMMENT, `at most ${MAX_ACKNOWLEDGE_COMMENT} characters`).optional().describe('Why, or what is being done (at most 2,000 characters)') }).optional(),
      responses: { 200: { description: 'The alert, acknowledged', schema: alertSchema } },
      handler: async (req) => ({ status: 200, body: await acknowledgeAlert(s.deps, req.actor, req.params.project, req.params.id, { comment: req.body?.comment }) }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/alerts/{id}/unacknowledge',
      permission: Permission.ExperimentsWrite,
      tag: 'Guardrails',
      summary: 'Withdraw the acknowledgement of an open guardrail alert',
      description:
        'Clears who acknowledged the alert, when and the comment (anyone who may acknowledge may withdraw), and audits `alert.unacknowledged` with what was withdrawn. ' +
        'An alert not acknowledged is returned as it is. A resolved alert is 409 INVALID_STATE; an alert of another project, 404 NOT_FOUND.',
      params: projectIdParams,
      responses: { 200: { description: 'The alert, not acknowledged', schema: alertSchema } },
      handler: async (req) => ({ status: 200, body: await unacknowledgeAlert(s.deps, req.actor, req.params.project, req.params.id) }),
    }),
  ];
}

import { z } from 'zod';
import { keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { alertsFor } from '../../domain/guardrails.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { pageQuery, pageSchema, pageView, projectParams } from './common.js';

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
      query: z.strictObject({ ...pageQuery, status: z.enum(['open', 'resolved']).optional(), environment: keySchema.optional(), experiment: keySchema.optional() }),
      responses: { 200: { description: 'A page of alerts', schema: pageSchema(alertSchema) } },
      handler: async (req) => {
        const q = req.query;
        const page = await alertsFor(s.deps, req.actor, req.params.project, { limit: q.limit, cursor: q.cursor, status: q.status, environment: q.environment, experiment: q.experiment });
        return { status: 200, body: pageView(page) };
      },
    }),
  ];
}

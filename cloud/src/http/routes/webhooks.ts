import { z } from 'zod';
import { DeliveryStatus } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import type { Services } from '../../domain/services.js';
import { rotateSecretSchema, webhookCreateSchema, webhookPatchSchema } from '../../domain/webhooks.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { pageQuery, pageSchema, pageView, projectIdParams, projectParams, versioned } from './common.js';

/** Where a delivery stands: the values of @xp/shared's DeliveryStatus. */
const deliveryStatusSchema = z.enum(DeliveryStatus);

const webhookSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    url: z.string().describe('scheme://host/… — the full URL is never returned (it may hold a token)'),
    format: z.enum(['json', 'slack']),
    events: z.array(z.string()),
    environments: z.array(z.string()).nullable().describe('null: changes in every environment and project-wide ones'),
    enabled: z.boolean(),
    version: z.number().int().describe('Send it as If-Match to PATCH, DELETE or rotate the secret (the ETag says the same)'),
    previousSecretExpiresAt: z.string().nullable().describe('Until when the secret replaced by the last rotation still signs too (a second v1 signature); null: it does not'),
    createdAt: z.string(),
    updatedAt: z.string(),
    lastDelivery: z.object({ id: z.string(), status: deliveryStatusSchema, statusCode: z.number().int().nullable(), at: z.string() }).nullable(),
  })
  .meta({ id: 'Webhook' });

const deliverySchema = z
  .object({
    id: z.string().describe('Also sent as X-XP-Delivery: receivers deduplicate on it'),
    webhookId: z.string(),
    event: z.string(),
    auditId: z.number().int().nullable(),
    status: deliveryStatusSchema,
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    statusCode: z.number().int().nullable(),
    error: z.string().nullable(),
    response: z.string().nullable().describe('The first KB of the response body'),
    durationMs: z.number().int().nullable(),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'WebhookDelivery' });

const attemptSchema = z.object({
  attempt: z.number().int().describe('1 for the first try'),
  at: z.string().describe('When the attempt ended'),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  response: z.string().nullable(),
  durationMs: z.number().int().nullable(),
});
const deliveryDetailSchema = deliverySchema.extend({ attemptLog: z.array(attemptSchema).describe('Every attempt, first to last') }).meta({ id: 'WebhookDeliveryDetail' });

const withSecret = z.object({ webhook: webhookSchema, secret: z.string().describe('The signing secret (whsec_…), shown only in this response') });
const deliveryParams = z.strictObject({ project: projectParams.shape.project, id: z.string().min(1).max(64), delivery: z.string().regex(/^[0-9]{1,18}$/, 'a delivery id (digits)') });
const NO_STORE = { 'Cache-Control': 'no-store' };

/** What the document can say of the URL rule (the service checks the rest: a URL, not a blocked address); validation is the same. */
const HTTP_URL = { pattern: '^https?://' };
const createBody = webhookCreateSchema.extend({ url: webhookCreateSchema.shape.url.meta(HTTP_URL) });
const patchBody = webhookPatchSchema.extend({ url: webhookPatchSchema.shape.url.meta(HTTP_URL) });

export function webhookRoutes(s: Services): AnyRoute[] {
  const base = '/api/v1/projects/{project}/webhooks';
  const common = { permission: Permission.WebhooksManage, tag: 'Webhooks' } as const;
  return [
    route({
      ...common,
      method: 'get',
      path: base,
      summary: "The project's webhooks, oldest first",
      params: projectParams,
      responses: { 200: { description: 'Webhooks', schema: z.object({ items: z.array(webhookSchema) }) } },
      handler: async (req) => ({ status: 200, body: { items: await s.webhooks.list(req.actor, req.params.project) } }),
    }),
    route({
      ...common,
      method: 'post',
      path: base,
      summary: 'Create a webhook; its signing secret is shown once',
      description:
        "Every change to the project whose action matches `events` ('*', 'flag.*', 'experiment.updated'…) and, when `environments` is set, was made in one of them, is POSTed to `url`, signed (X-XP-Signature), retried on failure. `format: slack` sends Slack's `{\"text\"}`.",
      params: projectParams,
      body: createBody,
      responses: { 201: { description: 'Created', schema: withSecret } },
      handler: async (req) => ({ status: 201, body: await s.webhooks.create(req.actor, req.params.project, req.rawBody), headers: NO_STORE }),
    }),
    route({
      ...common,
      method: 'get',
      path: `${base}/{id}`,
      summary: 'A webhook',
      params: projectIdParams,
      responses: { 200: { description: 'The webhook', schema: webhookSchema, headers: ['ETag'] } },
      handler: async (req) => {
        const webhook = await s.webhooks.get(req.actor, req.params.project, req.params.id);
        return versioned(200, webhook);
      },
    }),
    route({
      ...common,
      method: 'patch',
      path: `${base}/{id}`,
      summary: 'Change a webhook (fields left out keep their value); disabling it ends its queued deliveries',
      params: projectIdParams,
      body: patchBody,
      concurrency: true,
      responses: { 200: { description: 'The webhook', schema: webhookSchema, headers: ['ETag'] } },
      handler: async (req) => versioned(200, await s.webhooks.update(req.actor, req.params.project, req.params.id, req.rawBody, req.expectedVersion)),
    }),
    route({
      ...common,
      method: 'delete',
      path: `${base}/{id}`,
      summary: 'Delete a webhook and its delivery log',
      params: projectIdParams,
      concurrency: true,
      responses: { 200: { description: 'The deleted webhook', schema: webhookSchema } },
      handler: async (req) => ({ status: 200, body: await s.webhooks.delete(req.actor, req.params.project, req.params.id, req.expectedVersion) }),
    }),
    route({
      ...common,
      method: 'post',
      path: `${base}/{id}/rotate-secret`,
      summary: 'Give a webhook a new signing secret, shown once',
      description:
        'The secret it replaces stops signing at once, or, with `keepPreviousHours` (at most 168), keeps signing beside the new one until then: each request carries both v1 signatures, so the receiver can be given the new secret without refusing deliveries. The body is optional.',
      params: projectIdParams,
      body: rotateSecretSchema,
      concurrency: true,
      responses: { 200: { description: 'The webhook and its new secret', schema: withSecret, headers: ['ETag'] } },
      handler: async (req) => {
        const rotated = await s.webhooks.rotateSecret(req.actor, req.params.project, req.params.id, req.expectedVersion, req.rawBody);
        const reply = versioned(200, rotated.webhook, rotated);
        return { ...reply, headers: { ...reply.headers, ...NO_STORE } };
      },
    }),
    route({
      ...common,
      method: 'post',
      path: `${base}/{id}/test`,
      summary: 'Send a webhook.test event now and return how it went',
      description: 'The delivery is sent once, while the request waits (up to the 10 s timeout); a failure is reported in the delivery (status failed, statusCode, error), not retried.',
      params: projectIdParams,
      responses: { 200: { description: 'The delivery', schema: deliverySchema } },
      handler: async (req) => ({ status: 200, body: await s.webhooks.test(req.actor, req.params.project, req.params.id) }),
    }),
    route({
      ...common,
      method: 'get',
      path: `${base}/{id}/deliveries`,
      summary: "A webhook's deliveries, newest first (kept 30 days)",
      params: projectIdParams,
      query: z.strictObject({ ...pageQuery, status: deliveryStatusSchema.optional().describe('Only deliveries in this status') }),
      responses: { 200: { description: 'Deliveries', schema: pageSchema(deliverySchema) } },
      handler: async (req) => ({ status: 200, body: pageView(await s.webhooks.deliveries(req.actor, req.params.project, req.params.id, req.query)) }),
    }),
    route({
      ...common,
      method: 'get',
      path: `${base}/{id}/deliveries/{delivery}`,
      summary: 'A delivery with every attempt made of it',
      params: deliveryParams,
      responses: { 200: { description: 'The delivery', schema: deliveryDetailSchema } },
      handler: async (req) => ({ status: 200, body: await s.webhooks.delivery(req.actor, req.params.project, req.params.id, req.params.delivery) }),
    }),
    route({
      ...common,
      method: 'post',
      path: `${base}/{id}/deliveries/{delivery}/redeliver`,
      summary: "Queue a past delivery's payload again, as a new delivery",
      params: deliveryParams,
      responses: { 202: { description: 'The new, pending delivery', schema: deliverySchema } },
      handler: async (req) => ({ status: 202, body: await s.webhooks.redeliver(req.actor, req.params.project, req.params.id, req.params.delivery) }),
    }),
  ];
}

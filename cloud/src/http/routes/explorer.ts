import { z } from 'zod';
import { isoDateSchema, keySchema } from '@xp/shared';
import { Permission, assertCan } from '../../auth/permissions.js';
import { projectFor } from '../../domain/definitions.js';
import type { Actor } from '../../domain/context.js';
import type { Services } from '../../domain/services.js';
import { invalid } from '../../errors.js';
import { ExplorerEventType, eventPosition, explorerEventsAfter, latestExplorerSeq, searchExplorerEvents, unitTimeline } from '../../store/explorer.js';
import type { ExplorerEvent, ExplorerFilter } from '../../store/explorer.js';
import type { Queryable } from '../../store/db.js';
import { MAX_PAGE_SIZE } from '../../store/pagination.js';
import { environments } from '../../store/projects.js';
import { route } from '../api.js';
import { SSE_HEADERS, lastEventId, lateCommitReader, pollingStream, streamSeconds, StreamSlots, tooManyStreams } from '../polling-stream.js';
import { badStringReason } from '../text.js';
import type { AnyRoute } from '../api.js';
import { pageQuery, pageSchema, projectParams, stillAuthenticated, queryInt } from './common.js';

/**
 * The live event explorer: search, a server-sent stream and the per-unit timeline over the events
 * the aggregator committed (cloud/src/store/explorer.ts). Permission `read`: events carry what SDKs
 * send, which the platform asks to be free of personal data, and viewers already see attribute
 * values through the results filters (docs/operations.md#permission).
 */

const MAX_STREAM_BATCH = 200;
const STREAM_POLL_MS = 1_000;
const HEARTBEAT_MS = 15_000;
/** Aggregator batches write their explorer rows just before they commit: a few seconds covers a slow commit. */
const LATE_COMMIT_MS = 5_000;

/** What the event stream reads each poll: events after the cursor, and those that committed late (see lateCommitReader). */
export function explorerStreamReader(db: Queryable, projectId: string, filter: ExplorerFilter, now?: () => number): (cursor: number, limit: number) => Promise<ExplorerEvent[]> {
  return lateCommitReader((after, limit) => explorerEventsAfter(db, projectId, after, filter, limit), (e) => e.seq, LATE_COMMIT_MS, now);
}

export const explorerEventSchema = z.object({
  id: z.string(),
  type: z.enum([ExplorerEventType.Exposure, ExplorerEventType.Track]),
  environment: z.string(),
  unitId: z.string(),
  units: z.record(z.string(), z.string()).optional().describe('Tracked events: the unit\'s other identifiers by attribute, e.g. {"deviceId":"dev1"}'),
  name: z.string().describe('Tracked events: the event name; exposures: the experiment key'),
  experiment: z.string().optional(),
  variation: z.string().optional(),
  flag: z.string().optional(),
  reason: z.string().optional().describe('Exposures: SPLIT (the unit was bucketed into the experiment)'),
  value: z.number().optional(),
  properties: z.record(z.string(), z.unknown()).optional().describe('Tracked events: properties; exposures: the unit attributes sent with it'),
  occurredAt: z.string(),
  receivedAt: z.string(),
  seq: z.number().int().describe('Insertion order; the stream event id'),
});

const propertiesParam = z
  .string()
  .max(2048)
  .transform((text, ctx) => {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"plan":"pro"}' });
    return z.NEVER;
  });

const filters = {
  environment: keySchema.optional(),
  unitId: z.string().min(1).max(256).optional().describe('Exact unit id, or one of a tracked event\'s other identifiers (units)'),
  name: z.string().min(1).max(200).optional().describe('Exact event name (exposures: the experiment key)'),
  type: z.enum([ExplorerEventType.Exposure, ExplorerEventType.Track]).optional(),
  experiment: keySchema.optional(),
  properties: propertiesParam.optional().describe('JSON object the event properties must contain (JSONB containment)'),
  q: z.string().min(1).max(200).optional().describe('Free text: every word must appear in the name, unit id, experiment, variation, flag or a property value'),
  from: isoDateSchema.optional().describe('Occurred at or after'),
  to: isoDateSchema.optional().describe('Occurred before'),
};

const searchQuery = z.strictObject({ ...filters, ...pageQuery });
const streamQuery = z.strictObject({
  ...filters,
  after: queryInt(0, Number.MAX_SAFE_INTEGER).optional().describe('Resume after this seq (the Last-Event-ID header does the same); default: only new events'),
  maxSeconds: queryInt(0, 3_600).default(300).describe('Close the stream after this long (clients reconnect with Last-Event-ID); 0 sends what is pending and closes'),
});
/**
 * A unit id in the path, percent-encoded: any id the events endpoint accepts (1-256 characters),
 * except one holding "/" (it cannot be one path segment) or ".." alone; those use the search's `unitId`.
 */
const unitIdParam = z
  .string()
  .min(1)
  .max(256)
  .refine((id) => !id.includes('/') && id !== '.' && id !== '..', 'a unit id in the path cannot contain "/" or be "." or ".."; use GET …/unit-timeline?unitId=')
  .refine((id) => badStringReason(id) === undefined, 'contains a NUL character or an unpaired surrogate');
const timelineParams = z.strictObject({ project: keySchema, unitId: unitIdParam });
const timelineFilters = {
  environment: keySchema.optional(),
  from: filters.from,
  to: filters.to,
  limit: queryInt(1, MAX_PAGE_SIZE).default(MAX_PAGE_SIZE).describe('Events returned; `truncated` says more exist, `next` is the cursor that continues'),
  order: z.enum(['asc', 'desc']).default('asc').describe('asc: oldest first; desc: newest first'),
  after: z
    .string()
    .max(200)
    .transform((cursor, ctx) => {
      const at = eventPosition(cursor);
      if (at === undefined) {
        ctx.addIssue({ code: 'custom', message: 'not a cursor of this timeline: pass the `next` of the previous page as it was given' });
        return z.NEVER;
      }
      return at;
    })
    .optional()
    .describe('The `next` of the previous page (same order): continues strictly after its last event'),
};
const timelineQuery = z.strictObject(timelineFilters);
/** The same timeline with the unit id in the query: any id the events endpoint accepts, "/" and ".." included. */
const timelineByQuery = z.strictObject({
  ...timelineFilters,
  unitId: z
    .string()
    .min(1)
    .max(256)
    .refine((id) => badStringReason(id) === undefined, 'contains a NUL character or an unpaired surrogate')
    .describe('The unit id, any the events endpoint accepts (use this form for ids holding "/" or that are "." or "..")'),
});

type Filters = { [K in keyof typeof filters]?: z.output<(typeof filters)[K]> };

function toFilter(q: Filters): ExplorerFilter {
  if (q.from !== undefined && q.to !== undefined && Date.parse(q.from) >= Date.parse(q.to)) {
    throw invalid('from must be before to', { issues: [{ path: 'query.from', message: 'not before to' }] });
  }
  return {
    ...(q.environment === undefined ? {} : { environment: q.environment }),
    ...(q.unitId === undefined ? {} : { unitId: q.unitId }),
    ...(q.name === undefined ? {} : { name: q.name }),
    ...(q.type === undefined ? {} : { type: q.type }),
    ...(q.experiment === undefined ? {} : { experiment: q.experiment }),
    ...(q.properties === undefined ? {} : { properties: q.properties }),
    ...(q.q === undefined ? {} : { text: q.q }),
    ...(q.from === undefined ? {} : { from: new Date(q.from) }),
    ...(q.to === undefined ? {} : { to: new Date(q.to) }),
  };
}

/** An environment filter names one of the project's environments (404 otherwise, as for results): an empty answer would hide the typo. */
async function knownEnvironment(db: Queryable, projectId: string, environment: string | undefined): Promise<void> {
  if (environment !== undefined) {
    await environments.get(db, projectId, environment);
  }
}

const sse = (e: ExplorerEvent): string => `event: ${e.type}\nid: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`;

const timelineSchema = z.object({
  unitId: z.string(),
  items: z.array(explorerEventSchema),
  truncated: z.boolean(),
  next: z.string().optional().describe('When truncated: pass it as `after` (with the same filters and order) for the next page'),
});

export function explorerRoutes(services: Services, streams: StreamSlots = new StreamSlots()): AnyRoute[] {
  /** One unit's timeline, whichever way the route took its id. */
  const timelineOf = async (actor: Actor, projectKey: string, unitId: string, query: z.output<typeof timelineQuery>): Promise<{ status: 200; body: z.output<typeof timelineSchema>; headers: Record<string, string> }> => {
    assertCan(actor, Permission.Read);
    const project = await projectFor(services.deps.db, actor, projectKey);
    await knownEnvironment(services.deps.db, project.id, query.environment);
    const { environment, from, to } = toFilter({ ...query });
    const timeline = await unitTimeline(
      services.deps.db,
      project.id,
      unitId,
      { ...(environment === undefined ? {} : { environment }), ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) },
      { limit: query.limit, order: query.order, ...(query.after === undefined ? {} : { after: query.after }) },
    );
    return { status: 200, body: { unitId, ...timeline }, headers: { 'Cache-Control': 'no-store' } };
  };
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/events',
      summary: 'Search recent events and exposures',
      description: 'Newest first, cursor-paginated. Events are kept for the retention window (default 7 days).',
      tag: 'Events',
      permission: Permission.Read,
      params: projectParams,
      query: searchQuery,
      responses: { 200: { description: 'A page of events', schema: pageSchema(explorerEventSchema) } },
      handler: async (req) => {
        const project = await projectFor(services.deps.db, req.actor, req.params.project);
        await knownEnvironment(services.deps.db, project.id, req.query.environment);
        const page = await searchExplorerEvents(services.deps.db, project.id, toFilter(req.query), { limit: req.query.limit, cursor: req.query.cursor });
        return { status: 200, body: page, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/events/stream',
      summary: 'Stream new events and exposures (server-sent events)',
      description: 'One SSE message per event (`event: exposure|track`, `id: <seq>`, JSON data), with the same filters as the search. Resumes after Last-Event-ID.',
      tag: 'Events',
      permission: Permission.Read,
      params: projectParams,
      query: streamQuery,
      responses: { 200: { description: 'text/event-stream', mediaType: 'text/event-stream' } },
      errors: [429],
      handler: async (req) => {
        const db = services.deps.db;
        const project = await projectFor(db, req.actor, req.params.project);
        await knownEnvironment(db, project.id, req.query.environment);
        const filter = toFilter(req.query);
        const resume = lastEventId(req.context.req.header('last-event-id')) ?? req.query.after;
        const cursor = resume ?? (await latestExplorerSeq(db, project.id));
        // Released when the stream ends, however it ends.
        const release = streams.acquire(req.actor.userId);
        if (release === undefined) {
          throw tooManyStreams();
        }
        const stream = pollingStream({
          onClose: release,
          cursor,
          read: explorerStreamReader(db, project.id, filter),
          cursorOf: (e) => e.seq,
          format: sse,
          signal: req.context.req.raw.signal,
          maxSeconds: streamSeconds(req.query.maxSeconds),
          logger: services.deps.logger,
          name: 'explorer',
          stillAuthorized: stillAuthenticated(services, req.context.req.header('authorization'), project.id),
          pollMs: STREAM_POLL_MS,
          heartbeatMs: HEARTBEAT_MS,
          batch: MAX_STREAM_BATCH,
        });
        return { status: 200, stream, headers: SSE_HEADERS };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/unit-timeline',
      summary: 'What one unit saw and did, the unit id in the query',
      description: 'The unit timeline of GET …/units/{unitId}/timeline for any unit id, those holding "/" (which cannot be one path segment) or that are "." or ".." included.',
      tag: 'Events',
      permission: Permission.Read,
      params: z.strictObject({ project: keySchema }),
      query: timelineByQuery,
      responses: { 200: { description: 'The timeline', schema: timelineSchema } },
      handler: async (req) => {
        const { unitId, ...query } = req.query;
        return timelineOf(req.actor, req.params.project, unitId, query);
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/units/{unitId}/timeline',
      summary: 'What one unit saw and did',
      description: 'Exposures (experiment, variation, reason) and tracked events of one unit, oldest first (newest with order=desc), within the retention window, paged with the `next` cursor; tracked events count when the unit is their unit id or one of their other identifiers (units), so a device\'s timeline shows the purchases of its user.',
      tag: 'Events',
      permission: Permission.Read,
      params: timelineParams,
      query: timelineQuery,
      responses: { 200: { description: 'The timeline', schema: timelineSchema } },
      handler: (req) => timelineOf(req.actor, req.params.project, req.params.unitId, req.query),
    }),
  ];
}

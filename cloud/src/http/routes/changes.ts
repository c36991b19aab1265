import { z } from 'zod';
import { Permission } from '../../auth/permissions.js';
import { projectFor } from '../../domain/definitions.js';
import type { Services } from '../../domain/services.js';
import { audit } from '../../store/audit.js';
import type { ChangeNotice } from '../../store/audit.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { SSE_HEADERS, lastEventId, lateCommitReader, pollingStream, streamSeconds, StreamSlots, tooManyStreams } from '../polling-stream.js';
import { projectParams, stillAuthenticated, queryInt } from './common.js';

/**
 * The change feed: one server-sent message per audit entry of a project, so editors (the language
 * server), consoles and scripts refresh what they show when a flag, segment, experiment, metric or
 * environment changes, instead of polling everything. It says what changed, not who or how (the
 * audit log, for `audit:read`, has actors and diffs), hence permission `read`.
 */

/** Edits commit within milliseconds of taking their audit id; 10 s leaves a wide margin. */
const LATE_COMMIT_MS = 10_000;

const streamQuery = z.strictObject({
  after: queryInt(0, Number.MAX_SAFE_INTEGER).optional().describe('Resume after this id (the Last-Event-ID header does the same); default: only new changes'),
  maxSeconds: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600)
    .default(300)
    .describe('Close the stream after this long (clients reconnect with Last-Event-ID); 0 sends what is pending and closes — a poll, for clients behind a buffering proxy such as API Gateway'),
});

const sse = (c: ChangeNotice): string => `event: change\nid: ${c.id}\ndata: ${JSON.stringify(c)}\n\n`;

export function changeRoutes(services: Services, streams: StreamSlots = new StreamSlots()): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/changes/stream',
      summary: 'Stream changes to the project (server-sent events)',
      description:
        'One `event: change` per audit entry of the project (`id: <audit id>`, data: action, resource type and key, environment, time) — flags, segments, experiments, metrics, environments, SDK keys. No actors or diffs (GET /api/v1/audit has them). Resumes after Last-Event-ID or `after`.',
      tag: 'Projects',
      permission: Permission.Read,
      params: projectParams,
      query: streamQuery,
      responses: { 200: { description: 'text/event-stream; each `change` event carries {id, action, resourceType, resourceKey, environment, at}', mediaType: 'text/event-stream' } },
      errors: [429],
      handler: async (req) => {
        const db = services.deps.db;
        const project = await projectFor(db, req.actor, req.params.project);
        const resume = lastEventId(req.context.req.header('last-event-id')) ?? req.query.after;
        const cursor = resume ?? (await audit.latestId(db, project.id));
        // Released when the stream ends, however it ends.
        const release = streams.acquire(req.actor.userId);
        if (release === undefined) {
          throw tooManyStreams();
        }
        const stream = pollingStream({
          onClose: release,
          cursor,
          read: lateCommitReader((after, limit) => audit.changesAfter(db, project.id, after, limit), (c) => c.id, LATE_COMMIT_MS),
          cursorOf: (c) => c.id,
          format: sse,
          signal: req.context.req.raw.signal,
          maxSeconds: streamSeconds(req.query.maxSeconds),
          logger: services.deps.logger,
          name: 'changes',
          stillAuthorized: stillAuthenticated(services, req.context.req.header('authorization'), project.id),
        });
        return { status: 200, stream, headers: SSE_HEADERS };
      },
    }),
  ];
}


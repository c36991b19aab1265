import { z } from 'zod';
import { Permission } from '../../auth/permissions.js';
import { projectFor } from '../../domain/definitions.js';
import type { Services } from '../../domain/services.js';
import { audit } from '../../store/audit.js';
import type { ChangeNotice } from '../../store/audit.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { SSE_HEADERS, lastEventId, pollingStream, streamSeconds } from '../polling-stream.js';
import { projectParams } from './common.js';

/**
 * The change feed: one server-sent message per audit entry of a project, so editors (the language
 * server), consoles and scripts refresh what they show when a flag, segment, experiment, metric or
 * environment changes, instead of polling everything. It says what changed, not who or how (the
 * audit log, for `audit:read`, has actors and diffs), hence permission `read`.
 */

/**
 * Audit ids are taken when a row is inserted, not when its transaction commits, so an entry can
 * become visible after a larger id was already sent. Each read goes back to where the cursor stood
 * this long ago and skips what was sent; edits commit within milliseconds.
 */
const LATE_COMMIT_MS = 10_000;

const streamQuery = z.strictObject({
  after: z.coerce.number().int().min(0).optional().describe('Resume after this id (the Last-Event-ID header does the same); default: only new changes'),
  maxSeconds: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600)
    .default(300)
    .describe('Close the stream after this long (clients reconnect with Last-Event-ID); 0 sends what is pending and closes — a poll, for clients behind a buffering proxy such as API Gateway'),
});

const sse = (c: ChangeNotice): string => `event: change\nid: ${c.id}\ndata: ${JSON.stringify(c)}\n\n`;

/** Reads changes after the cursor, and again over the last LATE_COMMIT_MS of cursors, never sending one twice. */
function lateCommitReader(read: (after: number, limit: number) => Promise<ChangeNotice[]>, now: () => number = Date.now): (cursor: number, limit: number) => Promise<ChangeNotice[]> {
  const sent = new Map<number, number>();
  const cursors: { readonly at: number; readonly cursor: number }[] = [];
  return async (cursor, limit) => {
    const t = now();
    cursors.push({ at: t, cursor });
    while (cursors.length > 1 && cursors[1]!.at <= t - LATE_COMMIT_MS) {
      cursors.shift();
    }
    for (const [id, at] of sent) {
      if (at < t - 2 * LATE_COMMIT_MS) {
        sent.delete(id);
      }
    }
    const from = Math.min(cursor, cursors[0]!.cursor);
    const rows = await read(from, limit + sent.size);
    const fresh = rows.filter((r) => !sent.has(r.id)).slice(0, limit);
    for (const r of fresh) {
      sent.set(r.id, t);
    }
    return fresh;
  };
}

export function changeRoutes(services: Services): AnyRoute[] {
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
      responses: { 200: { description: 'text/event-stream; each `change` event carries {id, action, resourceType, resourceKey, environment, at}' } },
      handler: async (req) => {
        const db = services.deps.db;
        const project = await projectFor(db, req.actor, req.params.project);
        const resume = lastEventId(req.context.req.header('last-event-id')) ?? req.query.after;
        const stream = pollingStream({
          cursor: resume ?? (await audit.latestId(db, project.id)),
          read: lateCommitReader((after, limit) => audit.changesAfter(db, project.id, after, limit)),
          cursorOf: (c) => c.id,
          format: sse,
          signal: req.context.req.raw.signal,
          maxSeconds: streamSeconds(req.query.maxSeconds),
          logger: services.deps.logger,
          name: 'changes',
        });
        return { status: 200, stream, headers: SSE_HEADERS };
      },
    }),
  ];
}

export const testing = { lateCommitReader, LATE_COMMIT_MS };

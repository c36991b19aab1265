import { z } from 'zod';
import { AppError, AppErrorCode } from '../../errors.js';
import { MAX_IDS_PER_CHANGE, MAX_SEGMENT_IDS, changeSegmentIds, segmentIdsChangeSchema } from '../../domain/segments.js';
import type { Services } from '../../domain/services.js';
import { Permission } from '../../auth/permissions.js';
import { etag, route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { projectKeyParams, storedView } from './common.js';

/** If-Match as the versioned routes read it ("3" or W/"3"). */
const IF_MATCH = /^\s*(?:W\/)?"(\d{1,9})"\s*$/;

/**
 * The version an optional If-Match names; undefined without one. This route does not require it
 * (`concurrency` would): ids added by concurrent requests are all kept without it.
 */
function optionalIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) {
    return undefined;
  }
  const m = IF_MATCH.exec(header);
  if (m === null) {
    throw new AppError(AppErrorCode.Validation, 'If-Match must be a quoted version such as "3" (or left out: the ids then apply to the stored version)', { issues: [{ path: 'If-Match', message: 'malformed' }] });
  }
  return Number(m[1]);
}

/** Segment routes beyond the definitions' CRUD (routes/definitions.ts); `storedSegment`: the schema GET answers with. */
export function segmentRoutes(s: Services, storedSegment: z.ZodType): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/segments/{key}/ids',
      permission: Permission.SegmentsWrite,
      tag: 'Segments',
      summary: "Add ids to an id-list segment, or remove them, without sending the whole list",
      description:
        `Applied to the list as stored, atomically: concurrent requests queue and none is lost, so no If-Match is needed (one sent is honoured, 409 when stale). ` +
        `Each of \`add\` and \`remove\` takes at most ${MAX_IDS_PER_CHANGE.toLocaleString('en-US')} ids; an id in both is refused. Adding an id already in the list, or removing one that is not, changes nothing. ` +
        `The list is then held to what a PUT is: at most ${MAX_SEGMENT_IDS.toLocaleString('en-US')} ids, and the rulesets of flags using the segment within their size (413 otherwise); in a protected environment such a change needs an owner or admin (403 APPROVAL_REQUIRED). ` +
        'A condition segment has no list: 409 INVALID_STATE. The answer counts the ids added and removed and carries the segment as GET answers it (ETag: its new version).',
      params: projectKeyParams,
      body: segmentIdsChangeSchema.meta({ id: 'SegmentIdsChange' }),
      responses: {
        200: {
          description: 'Applied (or nothing to change)',
          schema: z.strictObject({
            added: z.number().int().meta({ description: 'Ids of `add` that were not in the list' }),
            removed: z.number().int().meta({ description: 'Ids of `remove` that were in the list' }),
            segment: storedSegment,
          }).meta({ id: 'SegmentIdsChanged' }),
          headers: ['ETag'],
        },
      },
      handler: async (req) => {
        const expectedVersion = optionalIfMatch(req.context.req.header('if-match'));
        const { added, removed, segment } = await changeSegmentIds(s.segments, req.actor, req.params.project, req.params.key, req.body, expectedVersion);
        return { status: 200, body: { added, removed, segment: storedView(segment) }, headers: { ETag: etag(segment.version) } };
      },
    }),
  ];
}

/**
 * Growing or shrinking an id-list segment without sending it whole (`POST …/segments/{key}/ids`).
 * A PUT replaces the list, so a list of a few hundred thousand ids could not be sent at all (over
 * the 8 MB body limit), and a backend adding one early-access opt-in had to read the list, add the
 * id and PUT it back, retrying when two opt-ins raced. Here the ids are applied to the list as it is
 * stored, under the project's definition lock and the segment's row lock (DefinitionService.modify,
 * which a PUT's checks, ruleset staging, protected-environment guard and audit entry go through
 * alike), so concurrent changes queue up and none is lost.
 */
import { z } from 'zod';
import { idListSegmentSchema } from '@xp/shared';
import type { Segment } from '@xp/shared';
import { AppError, AppErrorCode, invalid } from '../errors.js';
import type { StoredDefinition } from '../store/definitions.js';
import type { Actor } from './context.js';
import type { DefinitionService } from './definitions.js';

/** The ids one request may add, and (separately) remove: about 2 MB of JSON for ids of 12 characters. */
export const MAX_IDS_PER_CHANGE = 100_000;
/** The ids an id-list segment may hold (idListSegmentSchema's `values`). */
export const MAX_SEGMENT_IDS = 1_000_000;

/** One id, as a segment's `values` take it (a string of at most 512 characters, or a number). */
const idSchema = idListSegmentSchema.shape.values.element;

const idList = (verb: string): z.ZodOptional<z.ZodArray<typeof idSchema>> =>
  z
    .array(idSchema)
    .max(MAX_IDS_PER_CHANGE, { message: `at most ${MAX_IDS_PER_CHANGE.toLocaleString('en-US')} ids per request: send the rest in further requests` })
    .optional()
    .meta({ description: `Ids to ${verb} (at most ${MAX_IDS_PER_CHANGE.toLocaleString('en-US')}); each a string of at most 512 characters, or a number, as the segment's values` });

/** The body of `POST …/segments/{key}/ids`. */
export const segmentIdsChangeSchema = z
  .strictObject({
    add: idList('add (those already in the list are left as they are)'),
    remove: idList('remove (those not in the list are ignored)'),
  })
  .superRefine((body, ctx) => {
    if ((body.add?.length ?? 0) === 0 && (body.remove?.length ?? 0) === 0) {
      ctx.addIssue({ code: 'custom', path: ['add'], message: 'send at least one id in "add" or "remove"' });
      return;
    }
    const adding = new Set((body.add ?? []).map(idKey));
    const both = (body.remove ?? []).findIndex((id) => adding.has(idKey(id)));
    if (both >= 0) {
      ctx.addIssue({ code: 'custom', path: ['remove', both], message: `id ${JSON.stringify(body.remove![both])} is both added and removed: send it in one of the two` });
    }
  });
export type SegmentIdsChange = z.output<typeof segmentIdsChangeSchema>;

/** What the list counts as one id: the number 7 and the string "7" are different values, as stored. */
function idKey(id: string | number): string {
  return `${typeof id}:${String(id)}`;
}

export interface SegmentIdsResult {
  /** Ids of `add` that were not in the list (each counted once). */
  readonly added: number;
  /** Ids of `remove` that were in the list (each counted once, however often the list held it). */
  readonly removed: number;
  readonly segment: StoredDefinition<Segment>;
}

/**
 * Adds and removes ids of an id-list segment, atomically against the stored list. `expectedVersion`
 * (If-Match) is optional: without it the change applies to whatever version is stored. The result is
 * held to what a PUT of the whole list is (the segment schema, its 1,000,000 ids, and the size of the
 * rulesets of flags that use it); adding an id already there or removing one absent changes nothing.
 */
export async function changeSegmentIds(
  segments: DefinitionService<'segment'>,
  actor: Actor,
  projectKey: string,
  key: string,
  change: SegmentIdsChange,
  expectedVersion: number | undefined,
): Promise<SegmentIdsResult> {
  let added = 0;
  let removed = 0;
  const segment = await segments.modify(actor, projectKey, key, expectedVersion, 'segment.updated', (current) => {
    // Counted afresh on each run: a transaction the database retries runs this again.
    added = 0;
    removed = 0;
    if (current.type !== 'ids') {
      throw new AppError(
        AppErrorCode.InvalidState,
        `segment "${key}" is a condition segment, which has no id list: change its condition with PUT /api/v1/projects/${projectKey}/segments/${key}`,
      );
    }
    const removing = new Set((change.remove ?? []).map(idKey));
    const gone = new Set<string>();
    const values: (string | number)[] = [];
    for (const v of current.values) {
      const k = idKey(v);
      if (removing.has(k)) {
        gone.add(k);
      } else {
        values.push(v);
      }
    }
    removed = gone.size;
    const present = new Set(values.map(idKey));
    for (const v of change.add ?? []) {
      const k = idKey(v);
      if (!present.has(k)) {
        present.add(k);
        values.push(v);
        added += 1;
      }
    }
    if (values.length > MAX_SEGMENT_IDS && values.length > current.values.length) {
      throw invalid(
        `segment "${key}" would have ${values.length.toLocaleString('en-US')} ids, over the ${MAX_SEGMENT_IDS.toLocaleString('en-US')} a segment can have: nothing was changed; remove ids first, or split the list into two segments`,
        { issues: [{ path: 'add', message: `the list would pass ${MAX_SEGMENT_IDS.toLocaleString('en-US')} ids` }], ids: values.length, limit: MAX_SEGMENT_IDS },
      );
    }
    return Promise.resolve({ next: { ...current, values } });
  });
  return { added, removed, segment };
}

import { z } from 'zod';
import { Permission, assertCan } from '../auth/permissions.js';
import { eraseUnits, unitHash } from '../store/erasure.js';
import type { ErasedCounts } from '../store/erasure.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { parseOrThrow } from './validation.js';

/** Unit ids per erasure request: a person's few identifiers, or a batch of requests. */
export const MAX_ERASED_UNITS = 1000;

/** The longest unit id an erasure takes (characters, as JavaScript counts them). */
export const MAX_UNIT_ID_LENGTH = 256;

/** POST …/units/erase: the unit ids, as the SDKs send them (1–256 characters; PostgreSQL text holds no NUL). */
export const unitEraseSchema = z.strictObject({
  unitIds: z
    .array(
      z
        .string()
        .min(1)
        .max(MAX_UNIT_ID_LENGTH)
        .refine((id) => !id.includes('\u0000'), 'a unit id cannot contain NUL'),
    )
    .min(1)
    .max(MAX_ERASED_UNITS)
    .describe('The units to erase: each id exactly as the SDKs send it (the unitId of events, or one of their other identifiers)'),
});

/** Data-subject deletion: erases what the platform stored about some units of a project. */
export class UnitService {
  constructor(private readonly deps: Deps) {}

  /**
   * Deletes, in one transaction, every row of these units in the project (every environment and
   * experiment: exposures, totals, stored and explored events, sticky assignments, dead letters),
   * records their erasure so that their events still on the way are dropped, and audits it once
   * (`unit.erased`, with the counts and the ids' SHA-256 hashes, never the ids). Unknown ids erase nothing.
   */
  async erase(actor: Actor, projectKey: string, input: unknown): Promise<ErasedCounts> {
    assertCan(actor, Permission.UnitsErase);
    const { unitIds } = parseOrThrow(unitEraseSchema, input, 'unit erasure');
    const project = await projectFor(this.deps.db, actor, projectKey);
    const erasedAt = this.deps.now();
    const counts = await this.deps.db.withTransaction(async (tx) => {
      const erased = await eraseUnits(tx, project.id, unitIds, erasedAt);
      await record(tx, actor, {
        projectId: project.id,
        action: 'unit.erased',
        resourceType: 'project',
        resourceKey: project.key,
        before: undefined,
        after: { unitHashes: [...new Set(unitIds)].map(unitHash).sort(), erasedAt: erasedAt.toISOString(), erased },
      });
      return erased;
    });
    // Counts only: the ids are personal data, and the logs keep what they are given.
    this.deps.logger.info('units erased', { project: project.key, ...counts });
    return counts;
  }
}

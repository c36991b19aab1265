import { z } from 'zod';
import { Permission, assertCan } from '../auth/permissions.js';
import { invalid } from '../errors.js';
import { eraseUnits, unitHash } from '../store/erasure.js';
import type { ErasedCounts } from '../store/erasure.js';
import { MAX_EXPORT_ROWS, UNIT_EXPORT_SECTIONS, exportUnit } from '../store/unit-export.js';
import type { ExportSection, UnitExportSection } from '../store/unit-export.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { parseOrThrow } from './validation.js';

/** Unit ids per erasure request: a person's few identifiers, or a batch of requests. */
export const MAX_ERASED_UNITS = 1000;

/** The longest unit id an erasure takes (characters, as JavaScript counts them). */
export const MAX_UNIT_ID_LENGTH = 256;

/** A unit id as the SDKs send it (1–256 characters; PostgreSQL text holds no NUL). */
const unitIdSchema = z
  .string()
  .min(1)
  .max(MAX_UNIT_ID_LENGTH)
  .refine((id) => !id.includes('\u0000'), 'a unit id cannot contain NUL');

/** POST …/units/erase: the unit ids, as the SDKs send them. */
export const unitEraseSchema = z.strictObject({
  unitIds: z
    .array(unitIdSchema)
    .min(1)
    .max(MAX_ERASED_UNITS)
    .describe('The units to erase: each id exactly as the SDKs send it (the unitId of events, or one of their other identifiers)'),
});

/**
 * GET …/unit-export: the unit id in the query (request lines log the path, never the query), and
 * optionally one section from an offset (the `nextOffset` of a truncated section).
 */
export const unitExportQuery = z.strictObject({
  unitId: unitIdSchema.describe('The unit: its id exactly as the SDKs send it (the unitId of events, or one of their other identifiers)'),
  section: z.enum(UNIT_EXPORT_SECTIONS).optional().describe('Only this section (with `offset`, to read the rest of a truncated one); every section when absent'),
  offset: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number from 0, in digits')
    .transform(Number)
    .meta({ type: 'integer', minimum: 0 })
    .optional()
    .describe(`Rows of the section to skip: the \`nextOffset\` of a truncated section (${MAX_EXPORT_ROWS.toLocaleString('en-US')} rows per answer); needs \`section\``),
});

/** What GET …/unit-export answers. */
export interface UnitExport {
  readonly unitId: string;
  readonly exportedAt: string;
  readonly sections: Partial<Record<UnitExportSection, ExportSection>>;
}

/** Data-subject requests: exports (access) or erases (deletion) what the platform stored about units of a project. */
export class UnitService {
  constructor(private readonly deps: Deps) {}

  /**
   * Deletes, in one transaction, every row of these units in the project (every environment and
   * experiment: exposures, totals, stored and explored events, sticky assignments, dead letters,
   * and the result dimension values only they had),
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

  /**
   * Everything the project holds about one unit (subject access, GDPR article 15): the rows an
   * erasure of it would delete, table by table (the same WHERE clauses), and the result dimension
   * values its attributes gave, each section at most MAX_EXPORT_ROWS rows from `offset`; the rows of
   * other units that name it (explorer events, dead letters) redacted (store/unit-export.ts). Needs the
   * erasure's permission (the answer holds everything about a person); audited once per request
   * (`unit.exported`, with the id's SHA-256 hash and the sections' totals, never the id).
   */
  async export(actor: Actor, projectKey: string, query: z.output<typeof unitExportQuery>): Promise<UnitExport> {
    assertCan(actor, Permission.UnitsErase);
    if (query.offset !== undefined && query.section === undefined) {
      throw invalid('offset needs section: it pages one section', { issues: [{ path: 'query.offset', message: 'needs section' }] });
    }
    const project = await projectFor(this.deps.db, actor, projectKey);
    const exportedAt = this.deps.now();
    const sections = await this.deps.db.withTransaction(async (tx) => {
      if (this.deps.db.kind === 'pg') {
        // Every section and total from one snapshot.
        await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      }
      const read = await exportUnit(tx, project.id, query.unitId, { only: query.section, offset: query.offset });
      await record(tx, actor, {
        projectId: project.id,
        action: 'unit.exported',
        resourceType: 'project',
        resourceKey: project.key,
        before: undefined,
        after: {
          unitHash: unitHash(query.unitId),
          exportedAt: exportedAt.toISOString(),
          ...(query.section === undefined ? {} : { section: query.section, offset: query.offset ?? 0 }),
          totals: Object.fromEntries(Object.entries(read).map(([name, s]) => [name, s.total])),
        },
      });
      return read;
    });
    this.deps.logger.info('unit exported', { project: project.key, sections: Object.keys(sections).length });
    return { unitId: query.unitId, exportedAt: exportedAt.toISOString(), sections };
  }
}

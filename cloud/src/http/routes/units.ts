import { z } from 'zod';
import { Permission } from '../../auth/permissions.js';
import type { Services } from '../../domain/services.js';
import { unitEraseSchema, unitExportQuery } from '../../domain/units.js';
import { MAX_EXPORT_ROWS } from '../../store/unit-export.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { projectParams } from './common.js';

const erasedSchema = z
  .object({
    erased: z.object({
      units: z.number().int().describe('Distinct unit ids asked for (erased whether or not anything was stored about them)'),
      exposures: z.number().int(),
      unitMetricTotals: z.number().int(),
      unitEvents: z.number().int(),
      explorerEvents: z.number().int(),
      stickyAssignments: z.number().int(),
      deadLetters: z.number().int(),
      dimensionValues: z.number().int().describe('Result dimension values (e.g. an e-mail address results were broken down by) that only these units had, deleted'),
    }),
  })
  .meta({ id: 'UnitErasure' });

/** A section of an export: its rows (items) from `offset`, out of `total`. */
const exportSection = (item: z.ZodType) =>
  z.object({
    total: z.number().int().describe('Rows the section holds'),
    offset: z.number().int(),
    truncated: z.boolean().describe(`More rows follow (at most ${MAX_EXPORT_ROWS.toLocaleString('en-US')} per answer)`),
    nextOffset: z.number().int().optional().describe('When truncated: ask again with `section` and `offset=nextOffset`'),
    items: z.array(item),
  });
const json = z.unknown().describe('JSON as stored');
const exportSchema = z
  .object({
    unitId: z.string(),
    exportedAt: z.string(),
    sections: z.object({
      exposures: exportSection(
        z.object({
          environment: z.string(),
          experiment: z.string(),
          variation: z.string(),
          exposedAt: z.string(),
          firstEventId: z.string(),
          excluded: z.boolean(),
          attributes: json.describe('The targeting attributes of its first exposure'),
          updatedAt: z.string(),
        }),
      ).optional(),
      unitMetricTotals: exportSection(
        z.object({
          environment: z.string(),
          experiment: z.string(),
          metric: z.string(),
          conversion: z.boolean(),
          value: z.number(),
          preValue: z.number(),
          denominator: z.number(),
          preDenominator: z.number(),
          updatedAt: z.string(),
        }),
      ).optional(),
      unitEvents: exportSection(
        z.object({ environment: z.string(), eventId: z.string(), name: z.string(), occurredAt: z.string(), value: z.number().nullable(), properties: json }),
      ).optional(),
      explorerEvents: exportSection(
        z.object({
          environment: z.string(),
          eventId: z.string(),
          type: z.enum(['exposure', 'track']),
          unitId: z.string().nullable().describe("The event's unit; null when it is another unit's event that names this one in `units` (`redacted`)"),
          units: json.describe("The event's other identifiers (attribute → unit id); of a redacted event, only those that are this unit's id"),
          name: z.string(),
          experiment: z.string().nullable(),
          variation: z.string().nullable(),
          flag: z.string().nullable(),
          value: z.number().nullable().describe('Null in a redacted event'),
          properties: json.describe('Null in a redacted event'),
          occurredAt: z.string(),
          receivedAt: z.string(),
          redacted: z
            .literal(true)
            .optional()
            .describe("Another unit's event naming this one: its unit id, other identifiers, value and properties are left out (the other person's data)"),
        }),
      ).optional(),
      stickyAssignments: exportSection(z.object({ unitKey: z.string().describe('`<hash attribute>||<unit id>`'), assignments: json, updatedAt: z.string() })).optional(),
      deadLetters: exportSection(
        z.object({
          id: z.number().int(),
          shardId: z.string(),
          sequenceNumber: z.string(),
          partitionKey: z.string().optional().describe('The producer’s unit id: this unit’s (absent when `redacted`)'),
          data: z.string().optional().describe('The raw record: text when it is UTF-8, else base64 (`encoding`); absent when `redacted`'),
          encoding: z.enum(['utf8', 'base64']).optional(),
          reason: z.string(),
          createdAt: z.string(),
          redacted: z
            .literal(true)
            .optional()
            .describe("A record of another unit (its partition key) naming this one: its partition key and raw record are left out (the other person's data)"),
        }),
      ).optional(),
      resultsDimensionValues: exportSection(
        z.object({ experiment: z.string(), dimension: z.string(), value: json.describe("A value of the unit's attributes that results are broken down by") }),
      ).optional(),
    }),
  })
  .meta({ id: 'UnitExport' });

export function unitRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/units/erase',
      permission: Permission.UnitsErase,
      tag: 'Units',
      summary: "Erase units' data (data-subject deletion)",
      description:
        'Deletes, in one transaction, everything the project stores about these units in every environment and experiment — exposures, per-unit metric totals, tracked events, the event explorer’s events, sticky assignments and dead-lettered records — and the result dimension values (an attribute results are broken down by) that only these units had, and answers the rows deleted per table. Results no longer count them. Their events still in the stream or replayed from the archive are dropped when they happened or arrived before the erasure; later ones are new data. Audited once as `unit.erased` with the ids’ SHA-256 hashes. Ids that match nothing are not an error. See docs/privacy.md.',
      params: projectParams,
      body: unitEraseSchema,
      responses: { 200: { description: 'Rows deleted per table', schema: erasedSchema } },
      handler: async (req) => ({ status: 200, body: { erased: await s.units.erase(req.actor, req.params.project, req.body) } }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/unit-export',
      permission: Permission.UnitsErase,
      tag: 'Units',
      summary: "Export a unit's data (subject access)",
      description: `Everything the project stores about one unit, in every environment and experiment: the rows an erasure of it would delete (exposures with their attributes, per-unit metric totals, tracked events, the event explorer’s events that are its own or name it, sticky assignments, dead-lettered records naming it), found exactly as the erasure finds them, and the result dimension values its attributes gave. Rows of another unit that name this one (another unit’s explorer event naming it in \`units\`, a dead letter with another partition key) are redacted (\`redacted: true\`): their time and kind, never the other unit’s id, identifiers, properties or raw record. Each section answers its \`total\` and at most ${MAX_EXPORT_ROWS.toLocaleString('en-US')} rows; a truncated one says \`nextOffset\`: ask again with \`section\` and \`offset\` for the rest. The unit id goes in the query (request logs hold the path only). Audited as \`unit.exported\` with the id’s SHA-256 hash. An id that matches nothing answers empty sections. See docs/privacy.md.`,
      params: projectParams,
      query: unitExportQuery,
      responses: { 200: { description: "The unit's data, per section", schema: exportSchema } },
      handler: async (req) => ({ status: 200, body: await s.units.export(req.actor, req.params.project, req.query), headers: { 'Cache-Control': 'no-store' } }),
    }),
  ];
}

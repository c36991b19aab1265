import { z } from 'zod';
import { Permission } from '../../auth/permissions.js';
import type { Services } from '../../domain/services.js';
import { unitEraseSchema } from '../../domain/units.js';
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
    }),
  })
  .meta({ id: 'UnitErasure' });

export function unitRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/units/erase',
      permission: Permission.UnitsErase,
      tag: 'Units',
      summary: "Erase units' data (data-subject deletion)",
      description:
        'Deletes, in one transaction, everything the project stores about these units in every environment and experiment — exposures, per-unit metric totals, tracked events, the event explorer’s events, sticky assignments and dead-lettered records — and answers the rows deleted per table. Results no longer count them. Their events still in the stream or replayed from the archive are dropped when they happened or arrived before the erasure; later ones are new data. Audited once as `unit.erased` with the ids’ SHA-256 hashes. Ids that match nothing are not an error. See docs/privacy.md.',
      params: projectParams,
      body: unitEraseSchema,
      responses: { 200: { description: 'Rows deleted per table', schema: erasedSchema } },
      handler: async (req) => ({ status: 200, body: { erased: await s.units.erase(req.actor, req.params.project, req.body) } }),
    }),
  ];
}

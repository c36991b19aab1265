/**
 * Erasure of units' data on request (data-subject deletion): every row a project's pipeline holds
 * for some unit ids, and the record (`erased_units`, migration 0028: SHA-256 hashes, never the ids)
 * that makes the aggregator and `xp replay` drop the units' events that were still on their way.
 */
import { createHash } from 'node:crypto';
import type { PipelineEvent, UnitErasureView } from '@xp/shared';
import type { Queryable } from './db.js';
import { lockProjectAggregates } from './project-locks.js';
import { SUM_NAMES } from './results.js';

/** The SHA-256 hex digest of a unit id's UTF-8 bytes: what `erased_units` and the audit log keep. */
export function unitHash(unitId: string): string {
  return createHash('sha256').update(unitId, 'utf8').digest('hex');
}

/** Rows deleted per table, how many distinct units were asked for, and the result dimension values dropped: the API's answer as is. */
export type ErasedCounts = Required<UnitErasureView>;

/** The tables that hold rows of a unit, in the order an erasure deletes from them. */
export const UNIT_TABLES = ['unit_metric_totals', 'exposures', 'unit_events', 'explorer_events', 'sticky_assignments', 'dead_letters'] as const;
export type UnitTable = (typeof UNIT_TABLES)[number];

/**
 * Which rows of `table` are the units' data: a WHERE clause on the table's own columns (unqualified)
 * and its parameters ($1…). The one definition of "a unit's data", used by the erasure's DELETEs and
 * the subject access export's SELECTs (store/unit-export.ts), so the two cannot disagree.
 */
export function unitRowsWhere(table: UnitTable, projectId: string, ids: readonly string[]): { readonly where: string; readonly params: unknown[] } {
  switch (table) {
    case 'unit_metric_totals':
    case 'exposures':
    case 'unit_events':
      return { where: 'project_id = $1 AND unit_id = ANY($2::text[])', params: [projectId, ids] };
    case 'explorer_events':
      // Also the events of other units that name one of these as another identifier (`units`): they hold the id.
      return { where: 'project_id = $1 AND (unit_id = ANY($2::text[]) OR other_unit_ids && $2::text[])', params: [projectId, ids] };
    case 'sticky_assignments':
      // Keys are `<hash attribute>||<value>` (store/sticky-buckets.ts stickyKey).
      return { where: "project_id = $1 AND substr(unit_key, strpos(unit_key, '||') + 2) = ANY($2::text[])", params: [projectId, ids] };
    case 'dead_letters':
      // Dead letters have no project column: those whose raw record names the project (as JSON, the way
      // the events endpoint writes it) and the unit, as its partition key (the producer's unit id) or a JSON string.
      return {
        where: `position(convert_to($1, 'UTF8') IN data) > 0
       AND (partition_key = ANY($2::text[]) OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS j(t) WHERE position(convert_to(j.t, 'UTF8') IN data) > 0))`,
        params: [JSON.stringify(projectId), ids, ids.map((id) => JSON.stringify(id))],
      };
  }
}

/** A value of a result dimension of an experiment, the value as jsonb text (`"alice@example.org"`, `30`). */
export interface DimensionValue {
  readonly experiment: string;
  readonly dimension: string;
  readonly value: string;
}

/**
 * The values that the units' attributes give the result dimensions registered for the project's
 * experiments (migrations 0010, 0011): from their exposures' current attributes, and from the
 * explorer's copies of their exposures (the attributes each exposure carried, within the explorer's
 * retention), so a value the attributes held before a change is found too. Distinct, in no order.
 */
export async function unitDimensionValues(db: Queryable, projectId: string, ids: readonly string[]): Promise<DimensionValue[]> {
  // Both clauses take ($1 project id, $2 ids).
  const exposures = unitRowsWhere('exposures', projectId, ids).where;
  const explorer = unitRowsWhere('explorer_events', projectId, ids).where;
  const out = await db.query<DimensionValue>(
    `SELECT DISTINCT g.experiment, g.dimension, (s.attributes -> g.dimension)::text AS value
     FROM (
       SELECT experiment, attributes FROM exposures WHERE ${exposures}
       UNION ALL
       SELECT experiment, properties FROM explorer_events WHERE ${explorer} AND type = 'exposure' AND unit_id = ANY($2::text[]) AND experiment IS NOT NULL
     ) s
     JOIN results_dimensions g ON g.project_id = $1 AND g.experiment = s.experiment
     WHERE jsonb_typeof(s.attributes) = 'object' AND s.attributes ? g.dimension`,
    [projectId, ids],
  );
  return out.rows;
}

/**
 * Takes erased units out of the result dimensions: merges the rollup delta rows of these values
 * into one net row per group, dropping the groups that net to zero (the rows the erased units' +1
 * and −1 deltas left), then deletes the values left with no rollup row in any environment, i.e.
 * that no remaining unit has. A value shared with remaining units keeps its net counts, unchanged.
 * Runs after the deletes, under the project's aggregates lock. Returns the values deleted.
 */
async function forgetDimensionValues(tx: Queryable, projectId: string, values: readonly DimensionValue[]): Promise<number> {
  if (values.length === 0) {
    return 0;
  }
  const params = [projectId, values.map((v) => v.experiment), values.map((v) => v.dimension), values.map((v) => v.value)];
  const pairs = 'SELECT DISTINCT * FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS p(experiment, dimension, dimension_value)';
  const keys = 'project_id, environment, experiment, dimension, dimension_value, variation, bucket, metric, cap';
  await tx.query(
    `WITH gone AS (
       DELETE FROM results_dimension_rollups r USING (${pairs}) p
       WHERE r.project_id = $1 AND r.experiment = p.experiment AND r.dimension = p.dimension AND r.dimension_value = p.dimension_value
       RETURNING r.*)
     INSERT INTO results_dimension_rollups (${keys}, units, excluded, ${SUM_NAMES.join(', ')})
     SELECT ${keys}, sum(units), sum(excluded), ${SUM_NAMES.map((s) => `sum(${s})`).join(', ')}
     FROM gone
     GROUP BY ${keys}
     HAVING sum(units) <> 0 OR sum(excluded) <> 0 OR ${SUM_NAMES.map((s) => `sum(${s}) <> 0`).join(' OR ')}`,
    params,
  );
  return (
    await tx.query(
      `DELETE FROM results_dimension_values v USING (${pairs}) p
       WHERE v.project_id = $1 AND v.experiment = p.experiment AND v.dimension = p.dimension AND v.dimension_value = p.dimension_value
         AND NOT EXISTS (SELECT 1 FROM results_dimension_rollups r
                         WHERE r.project_id = v.project_id AND r.experiment = v.experiment AND r.dimension = v.dimension AND r.dimension_value = v.dimension_value)`,
      params,
    )
  ).rowCount;
}

/**
 * Deletes every row of these units in the project (every environment and experiment) and records
 * their erasure at `erasedAt`, in the caller's transaction. Holds the project's aggregates lock
 * exclusively (store/project-locks.ts), so an aggregator batch in flight commits first (and its
 * rows are deleted here) and a later one waits and then finds the erasure. Totals go before
 * exposures: their delete triggers take the units out of the results rollups (migrations 0005,
 * 0010), which then equal a fresh computation without them. The result dimensions' rows and values
 * that only these units had go last (forgetDimensionValues): the values are read first, from the
 * rows about to be deleted.
 */
export async function eraseUnits(tx: Queryable, projectId: string, unitIds: readonly string[], erasedAt: Date): Promise<ErasedCounts> {
  const ids = [...new Set(unitIds)];
  await lockProjectAggregates(tx, [projectId], 'exclusive');
  const values = await unitDimensionValues(tx, projectId, ids);
  const deleted = {} as Record<UnitTable, number>;
  for (const table of UNIT_TABLES) {
    const { where, params } = unitRowsWhere(table, projectId, ids);
    deleted[table] = (await tx.query(`DELETE FROM ${table} WHERE ${where}`, params)).rowCount;
  }
  await tx.query(
    `INSERT INTO erased_units (project_id, unit_hash, erased_at) SELECT $1, h, $3 FROM unnest($2::text[]) AS h
     ON CONFLICT (project_id, unit_hash) DO UPDATE SET erased_at = greatest(erased_units.erased_at, excluded.erased_at)`,
    [projectId, ids.map(unitHash), erasedAt.toISOString()],
  );
  const dimensionValues = await forgetDimensionValues(tx, projectId, values);
  return {
    units: ids.length,
    exposures: deleted.exposures,
    unitMetricTotals: deleted.unit_metric_totals,
    unitEvents: deleted.unit_events,
    explorerEvents: deleted.explorer_events,
    stickyAssignments: deleted.sticky_assignments,
    deadLetters: deleted.dead_letters,
    dimensionValues,
  };
}

/** Every unit id an event belongs to: its unitId and, for a tracked event, its other identifiers. */
function unitIdsOfEvent(e: PipelineEvent): string[] {
  return e.event.type === 'track' && e.event.units !== undefined ? [...new Set([e.event.unitId, ...Object.values(e.event.units)])] : [e.event.unitId];
}

const keyOf = (projectId: string, hash: string): string => `${projectId}\u0000${hash}`;

/**
 * Splits events into those to apply and those of an erased unit: one of its unit ids was erased in
 * its project at or after the moment the event happened or was received (data from before the
 * erasure that was still on its way). Events that happened and arrived after it are new data. One
 * probe per project of the batch, then, if a project has erasures, one primary-key lookup of its
 * events' units; none when the batch is empty.
 */
export async function withoutErasedUnits(tx: Queryable, events: readonly PipelineEvent[]): Promise<{ kept: PipelineEvent[]; erased: PipelineEvent[] }> {
  if (events.length === 0) {
    return { kept: [], erased: [] };
  }
  // Most projects never had a unit erased: one index probe per project of the batch, and the
  // events are hashed only when one of them has.
  const projectIds = [...new Set(events.map((e) => e.projectId))];
  const withErasures = await tx.query<{ project_id: string }>(
    'SELECT p AS project_id FROM unnest($1::text[]) AS p WHERE EXISTS (SELECT 1 FROM erased_units e WHERE e.project_id = p)',
    [projectIds],
  );
  if (withErasures.rows.length === 0) {
    return { kept: [...events], erased: [] };
  }
  const checked = new Set(withErasures.rows.map((r) => r.project_id));
  const hashes = events.map((e) => (checked.has(e.projectId) ? unitIdsOfEvent(e).map(unitHash) : []));
  const pairs = new Map<string, { projectId: string; hash: string }>();
  events.forEach((e, i) => {
    for (const hash of hashes[i]!) {
      pairs.set(keyOf(e.projectId, hash), { projectId: e.projectId, hash });
    }
  });
  const found = await tx.query<{ project_id: string; unit_hash: string; erased_ms: string }>(
    `SELECT e.project_id, e.unit_hash, (extract(epoch FROM e.erased_at) * 1000)::bigint::text AS erased_ms
     FROM erased_units e JOIN unnest($1::text[], $2::text[]) AS c(project_id, unit_hash) ON e.project_id = c.project_id AND e.unit_hash = c.unit_hash`,
    [[...pairs.values()].map((p) => p.projectId), [...pairs.values()].map((p) => p.hash)],
  );
  if (found.rows.length === 0) {
    return { kept: [...events], erased: [] };
  }
  const erasedAt = new Map(found.rows.map((r) => [keyOf(r.project_id, r.unit_hash), Number(r.erased_ms)]));
  const kept: PipelineEvent[] = [];
  const erased: PipelineEvent[] = [];
  events.forEach((e, i) => {
    const since = Math.min(e.occurredAt, e.receivedAt);
    const gone = hashes[i]!.some((hash) => since <= (erasedAt.get(keyOf(e.projectId, hash)) ?? -Infinity));
    (gone ? erased : kept).push(e);
  });
  return { kept, erased };
}

/**
 * Deletes the explorer's rows of dropped events, which the explorer hook (pipeline/explorer-hook.ts)
 * records for every record of a batch, in the batch's transaction after the aggregator ran.
 */
export async function forgetExplorerEvents(tx: Queryable, events: readonly PipelineEvent[]): Promise<void> {
  if (events.length === 0) {
    return;
  }
  await tx.query('DELETE FROM explorer_events x USING unnest($1::text[], $2::text[]) AS r(project_id, event_id) WHERE x.project_id = r.project_id AND x.event_id = r.event_id', [
    events.map((e) => e.projectId),
    events.map((e) => e.event.id),
  ]);
}

/**
 * Erasure of units' data on request (data-subject deletion): every row a project's pipeline holds
 * for some unit ids, and the record (`erased_units`, migration 0028: SHA-256 hashes, never the ids)
 * that makes the aggregator and `xp replay` drop the units' events that were still on their way.
 */
import { createHash } from 'node:crypto';
import type { PipelineEvent, UnitErasureView } from '@xp/shared';
import type { Queryable } from './db.js';
import { lockProjectAggregates } from './project-locks.js';

/** The SHA-256 hex digest of a unit id's UTF-8 bytes: what `erased_units` and the audit log keep. */
export function unitHash(unitId: string): string {
  return createHash('sha256').update(unitId, 'utf8').digest('hex');
}

/** Rows deleted per table, and how many distinct units were asked for: the API's answer as is. */
export type ErasedCounts = UnitErasureView;

/**
 * Deletes every row of these units in the project (every environment and experiment) and records
 * their erasure at `erasedAt`, in the caller's transaction. Holds the project's aggregates lock
 * exclusively (store/project-locks.ts), so an aggregator batch in flight commits first (and its
 * rows are deleted here) and a later one waits and then finds the erasure. Totals go before
 * exposures: their delete triggers take the units out of the results rollups (migrations 0005,
 * 0010), which then equal a fresh computation without them.
 */
export async function eraseUnits(tx: Queryable, projectId: string, unitIds: readonly string[], erasedAt: Date): Promise<ErasedCounts> {
  const ids = [...new Set(unitIds)];
  await lockProjectAggregates(tx, [projectId], 'exclusive');
  const count = async (sql: string, params: readonly unknown[]): Promise<number> => (await tx.query(sql, params)).rowCount;
  const unitMetricTotals = await count('DELETE FROM unit_metric_totals WHERE project_id = $1 AND unit_id = ANY($2::text[])', [projectId, ids]);
  const exposures = await count('DELETE FROM exposures WHERE project_id = $1 AND unit_id = ANY($2::text[])', [projectId, ids]);
  const unitEvents = await count('DELETE FROM unit_events WHERE project_id = $1 AND unit_id = ANY($2::text[])', [projectId, ids]);
  // Also the events of other units that name one of these as another identifier (`units`): they hold the id.
  const explorerEvents = await count(
    'DELETE FROM explorer_events WHERE project_id = $1 AND (unit_id = ANY($2::text[]) OR other_unit_ids && $2::text[])',
    [projectId, ids],
  );
  // Keys are `<hash attribute>||<value>` (store/sticky-buckets.ts stickyKey).
  const stickyAssignments = await count(
    "DELETE FROM sticky_assignments WHERE project_id = $1 AND substr(unit_key, strpos(unit_key, '||') + 2) = ANY($2::text[])",
    [projectId, ids],
  );
  // Dead letters have no project column: those whose raw record names the project (as JSON, the way
  // the events endpoint writes it) and the unit, as its partition key (the producer's unit id) or a JSON string.
  const deadLetters = await count(
    `DELETE FROM dead_letters d
     WHERE position(convert_to($1, 'UTF8') IN d.data) > 0
       AND (d.partition_key = ANY($2::text[]) OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS j(t) WHERE position(convert_to(j.t, 'UTF8') IN d.data) > 0))`,
    [JSON.stringify(projectId), ids, ids.map((id) => JSON.stringify(id))],
  );
  await tx.query(
    `INSERT INTO erased_units (project_id, unit_hash, erased_at) SELECT $1, h, $3 FROM unnest($2::text[]) AS h
     ON CONFLICT (project_id, unit_hash) DO UPDATE SET erased_at = greatest(erased_units.erased_at, excluded.erased_at)`,
    [projectId, ids.map(unitHash), erasedAt.toISOString()],
  );
  return { units: ids.length, exposures, unitMetricTotals, unitEvents, explorerEvents, stickyAssignments, deadLetters };
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

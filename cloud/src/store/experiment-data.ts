import type { Queryable } from './db.js';
import { experimentArms } from './experiment-arms.js';

/**
 * Every table that holds data of one experiment, by key: what its results are computed from and
 * what they are cached in. An experiment created later with the same key must start from nothing.
 * The event explorer's recent events and the audit log are history, and stay.
 */
const EXPERIMENT_TABLES = [
  // Totals and exposures first: their delete triggers write (negative) deltas into the rollups,
  // which the deletes after them then remove with the rest.
  'unit_metric_totals',
  'exposures',
  'results_dimension_rollups',
  'results_dimension_values',
  'results_dimensions',
  'results_rollups',
  'totals_rebuilds',
  'alerts',
] as const;

/** Deletes what the platform stored for an experiment (exposures, per-unit totals, rollups, alerts, sticky assignments in the database, the flag variations its arms were served); run in the transaction that deletes it. */
export async function purgeExperimentData(tx: Queryable, projectId: string, experiment: string): Promise<void> {
  for (const table of EXPERIMENT_TABLES) {
    await tx.query(`DELETE FROM ${table} WHERE project_id = $1 AND experiment = $2`, [projectId, experiment]);
  }
  // Exposures received until now belong to this experiment, whenever they reach the aggregator (a
  // stream backlog, a replay of the archive): it drops them (exposuresAfterDeletion).
  await tx.query(
    `INSERT INTO experiment_deletions (project_id, experiment, deleted_at) VALUES ($1, $2, now())
     ON CONFLICT (project_id, experiment) DO UPDATE SET deleted_at = excluded.deleted_at`,
    [projectId, experiment],
  );
  // Server-side sticky assignments kept in the database (`<experiment>__<bucketVersion>` in each
  // unit's map): a new experiment with this key would otherwise serve its units the old variations.
  // Those kept in Redis expire on their own (docs/operations.md).
  await tx.query(
    `WITH keyed AS (
       SELECT s.unit_key, array_agg(k) AS keys FROM sticky_assignments s, jsonb_object_keys(s.assignments) k
       WHERE s.project_id = $1 AND jsonb_typeof(s.assignments) = 'object' AND left(k, length($2) + 2) = $2 || '__' AND substr(k, length($2) + 3) ~ '^[0-9]+$'
       GROUP BY s.unit_key)
     UPDATE sticky_assignments t SET assignments = t.assignments - keyed.keys, updated_at = now()
     FROM keyed WHERE t.project_id = $1 AND t.unit_key = keyed.unit_key`,
    [projectId, experiment],
  );
  // The flag variations its arms were served: a new experiment with this key records its own.
  await experimentArms.deleteForExperiment(tx, projectId, experiment);
}

/**
 * Every table that holds a project's data and has no foreign key to `projects` (those go with the
 * project row, ON DELETE CASCADE): its experiments' tables, first for the same reason as above, then
 * its stored and explored events and their dedupe records.
 */
const PROJECT_TABLES = [...EXPERIMENT_TABLES, 'unit_events', 'explorer_events', 'processed_events'] as const;

/**
 * Deletes a project's pipeline data (exposures, events, totals, rollups, the explorer's events,
 * dedupe records); run in the transaction that deletes the project, holding its aggregates lock.
 * The aggregator drops events of a project that no longer exists, so a stream backlog or a replay
 * brings none of it back.
 */
export async function purgeProjectData(tx: Queryable, projectId: string): Promise<void> {
  for (const table of PROJECT_TABLES) {
    await tx.query(`DELETE FROM ${table} WHERE project_id = $1`, [projectId]);
  }
}

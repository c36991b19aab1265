import type { Queryable } from './db.js';

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

/** Deletes what the platform stored for an experiment (exposures, per-unit totals, rollups, alerts); run in the transaction that deletes it. */
export async function purgeExperimentData(tx: Queryable, projectId: string, experiment: string): Promise<void> {
  for (const table of EXPERIMENT_TABLES) {
    await tx.query(`DELETE FROM ${table} WHERE project_id = $1 AND experiment = $2`, [projectId, experiment]);
  }
}

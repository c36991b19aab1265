/**
 * The lock between aggregator batches and the work that recounts a project's aggregates from what
 * is stored (a totals rebuild after a metric changed, a dimension rollup build, a replay).
 *
 * Every batch holds its projects' lock in shared mode for its transaction, so batches never wait on
 * each other; a recount holds its project's lock exclusively, so it waits for the project's batches
 * in flight and the project's later batches wait for it: none is counted twice or missed. Batches
 * of other projects go on meanwhile (a table lock would hold aggregation for every project).
 *
 * Transaction-scoped advisory locks in their own two-key namespace (the migrations' lock uses the
 * one-key space). Two projects whose ids hash alike merely share a lock; every caller takes its
 * locks before writing anything, in one order, so they cannot deadlock.
 */
import type { Queryable } from './db.js';

/** 'xpag' — the namespace of these locks among the database's advisory locks. */
const NAMESPACE = 0x78706167;

export type ProjectLockMode = 'shared' | 'exclusive';

/**
 * Takes one project's lock exclusively if it comes free within `waitMs`; false if it does not. It
 * polls rather than waits, so that a batch stuck while holding the lock (a table lock, a slow disk)
 * cannot hold the caller for longer than that: what must answer a person (an experiment's stop)
 * leaves the recount to later instead.
 */
export async function tryLockProjectAggregates(tx: Queryable, projectId: string, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const out = await tx.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(${NAMESPACE}, hashtext($1)) AS locked`, [projectId]);
    if (out.rows[0]?.locked === true) {
      return true;
    }
    if (Date.now() >= deadline) {
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
  }
}

const POLL_MS = 50;

export async function lockProjectAggregates(tx: Queryable, projectIds: readonly string[], mode: ProjectLockMode): Promise<void> {
  if (projectIds.length === 0) {
    return;
  }
  const lock = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  await tx.query(
    `SELECT ${lock}(${NAMESPACE}, k) FROM (SELECT DISTINCT hashtext(p) AS k FROM unnest($1::text[]) AS p ORDER BY k) AS ordered`,
    [projectIds],
  );
}

/** 'xpdf' — the namespace of the definitions locks. */
const DEFINITIONS_NAMESPACE = 0x78706466;

/**
 * Serialises the changes to one project's definitions — flags, segments, experiments, holdouts,
 * metrics, environments, flags as code, applied change requests. Taken as the first statement of
 * each such transaction, it makes the checks that read other definitions (namespace ranges of
 * running experiments, experiment rules that must serve every variation, references, a flag's
 * version seen by an environment's removal) see every change committed before, with none able to
 * commit in between; it also orders bulk changes (`POST …/apply`) that lock the same rows in
 * another order, which would otherwise deadlock. People make these changes, so waiting is rare and
 * short; the aggregator and the SDK endpoints never take it.
 */
export async function lockProjectDefinitions(tx: Queryable, projectId: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(${DEFINITIONS_NAMESPACE}, hashtext($1))`, [projectId]);
}

import type { Queryable } from './db.js';

export interface PruneOptions {
  /** Rows per statement. Default 10,000. */
  readonly chunk?: number;
  /** Epoch ms after which no further chunk is started. */
  readonly deadline?: number;
  readonly now?: () => number;
}

/** The tables pruned by age, with the column that dates their rows (constants: never caller input). */
const PRUNED = { processed_events: 'processed_at', sticky_assignments: 'updated_at', flag_evaluations: 'hour', flag_evaluation_drops: 'hour' } as const;

/**
 * Deletes the rows of `table` dated more than `hours` ago, `chunk` rows per statement (each its own
 * short transaction, so nothing waits long behind it), until none is left or `deadline` has passed;
 * returns how many.
 */
export async function pruneOlderThan(db: Queryable, table: keyof typeof PRUNED, hours: number, options: PruneOptions = {}): Promise<number> {
  const chunk = options.chunk ?? 10_000;
  const now = options.now ?? Date.now;
  const column = PRUNED[table];
  let deleted = 0;
  for (;;) {
    const out = await db.query(
      `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM ${table} WHERE ${column} < now() - interval '1 hour' * $1::float8 LIMIT $2))`,
      [hours, chunk],
    );
    deleted += out.rowCount;
    if (out.rowCount < chunk || (options.deadline !== undefined && now() >= options.deadline)) {
      return deleted;
    }
  }
}

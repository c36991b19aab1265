/**
 * The per-project aggregates lock (store/project-locks.ts) on the real server, where transactions
 * run concurrently (PGlite has one connection): a recount of one project holds that project's
 * aggregator batches until it commits, and only those.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../store/db.js';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import { processBatch, rebuildRequestedTotals, recountEventsSince } from '../aggregate.js';
import { ENV, HOUR, T0, exposure, seedProject, toRecord, track, withHook } from './fixtures.js';

const A = 'lock-a';
const B = 'lock-b';

describe('a totals recount and aggregator batches (postgres)', () => {
  const target = postgresTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
    await seedProject(db, A);
    await seedProject(db, B);
  });
  afterAll(async () => {
    await target.dispose();
  });

  const revenue = async (projectId: string): Promise<string | undefined> =>
    (
      await db.query<{ value: string }>(
        `SELECT value::text FROM unit_metric_totals WHERE project_id = $1 AND environment = $2 AND experiment = 'exp-a' AND unit_id = 'u1' AND metric = 'revenue'`,
        [projectId, ENV],
      )
    ).rows[0]?.value;
  const waitingForLocks = async (): Promise<number> =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks
         WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0]!.n;
  const within = <T>(ms: number, promise: Promise<T>): Promise<T | 'timed out'> =>
    Promise.race([
      promise,
      new Promise<'timed out'>((resolve) => {
        setTimeout(() => {
          resolve('timed out');
        }, ms);
      }),
    ]);

  it("holds the project's batches until it commits, counts each event once, and lets other projects' batches go on", async () => {
    for (const p of [A, B]) {
      const first = await processBatch(db, [exposure('u1', 'exp-a', 'control', T0, undefined, p), track('u1', 'purchase', T0 + HOUR, 5, undefined, p)].map((e) => toRecord(e)));
      expect(first.batchItemFailures).toEqual([]);
    }
    await db.query('INSERT INTO totals_rebuilds (project_id, experiment) VALUES ($1, $2)', [A, 'exp-a']);

    // Pause the rebuild right after it took its lock, at its first statement under it.
    let paused!: () => void;
    const atLock = new Promise<void>((resolve) => (paused = resolve));
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    const pausing = withHook(db, async (sql) => {
      if (sql.startsWith('DELETE FROM totals_rebuilds')) {
        paused();
        await resumed;
      }
    });
    const rebuild = rebuildRequestedTotals(pausing, { projectId: A, experiment: 'exp-a' });
    await atLock;

    // Another project's batch is not held.
    const other = await within(10_000, processBatch(db, [toRecord(track('u1', 'purchase', T0 + 2 * HOUR, 10, undefined, B))]));
    expect(other).toMatchObject({ batchItemFailures: [], processed: 1 });
    expect(await revenue(B)).toBe('15');

    // The rebuilt project's batch waits for the lock.
    let held = true;
    const same = processBatch(db, [toRecord(track('u1', 'purchase', T0 + 2 * HOUR, 20, undefined, A))]).finally(() => {
      held = false;
    });
    for (let i = 0; i < 200 && (await waitingForLocks()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await waitingForLocks()).toBe(1);
    expect(held).toBe(true);

    resume();
    expect(await rebuild).toBe(true);
    expect(await same).toMatchObject({ batchItemFailures: [], processed: 1 });
    // The rebuild recounted the first purchase, the held batch added the second: once each.
    expect(await revenue(A)).toBe('25');
    expect((await db.query('SELECT 1 FROM totals_rebuilds')).rows).toEqual([]);
  });

  it("an experiment's stop does not wait on a stuck batch: past lockWaitMs it leaves the recount to a rebuild, which counts as the recount would have", async () => {
    const stop = T0 + 3 * HOUR;
    await processBatch(db, [exposure('u2', 'exp-a', 'control', T0, undefined, A), track('u2', 'purchase', T0 + HOUR, 7, undefined, A), track('u2', 'purchase', T0 + 5 * HOUR, 9, undefined, A)].map((e) => toRecord(e)));
    const u2 = async (): Promise<string | undefined> =>
      (await db.query<{ value: string }>(`SELECT value::text FROM unit_metric_totals WHERE project_id = $1 AND experiment = 'exp-a' AND unit_id = 'u2' AND metric = 'revenue'`, [A])).rows[0]?.value;
    expect(await u2()).toBe('16');

    // A batch of the project stuck while it holds the project's lock (as behind a table lock).
    let stuck!: () => void;
    const atStuck = new Promise<void>((resolve) => (stuck = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stalling = withHook(db, async (sql) => {
      if (sql.startsWith('INSERT INTO processed_events')) {
        stuck();
        await released;
      }
    });
    const batch = processBatch(stalling, [toRecord(track('u2', 'purchase', T0 + 2 * HOUR, 1, undefined, A))]);
    await atStuck;

    const started = Date.now();
    const recounted = await within(10_000, db.withTransaction(async (tx) => {
      await tx.query(`UPDATE experiments SET status = 'stopped', definition = jsonb_set(definition, '{stoppedAt}', to_jsonb($2::text)) WHERE project_id = $1 AND key = 'exp-a'`, [A, new Date(stop).toISOString()]);
      return recountEventsSince(tx, { projectId: A, experiment: 'exp-a' }, new Date(stop), { lockWaitMs: 300 });
    }));
    const waited = Date.now() - started;
    const requested = await db.query('SELECT experiment FROM totals_rebuilds WHERE project_id = $1', [A]);

    release();
    expect(await batch).toMatchObject({ batchItemFailures: [], processed: 1 });
    expect(await rebuildRequestedTotals(db, { projectId: A, experiment: 'exp-a' })).toBe(true);
    try {
      expect(recounted).toBeNull();
      expect(waited).toBeLessThan(5_000);
      expect(requested.rows).toEqual([{ experiment: 'exp-a' }]);
      // 7 and 1 before the stop; the 9 after it leaves the totals.
      expect(await u2()).toBe('8');
    } finally {
      await db.query(`UPDATE experiments SET status = 'running', definition = definition - 'stoppedAt' WHERE project_id = $1 AND key = 'exp-a'`, [A]);
    }
  });
});

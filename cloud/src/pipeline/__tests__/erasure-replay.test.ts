import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import type { Database } from '../../store/db.js';
import { eraseUnits, unitHash } from '../../store/erasure.js';
import type { ArchiveSource } from '../../store/event-archive.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { TestDatabase } from '../../store/__tests__/test-databases.js';
import { processBatch } from '../aggregate.js';
import { replayArchive } from '../replay.js';
import { HOUR, PROJECT, T0, exposure, seedProject, toRecord, track } from './fixtures.js';

/** An archive holding `events` in one object (what `xp replay` reads from the folder or S3). */
const archiveOf = (events: readonly PipelineEvent[]): ArchiveSource => ({
  location: 'memory',
  objects: () => Promise.resolve(['one.jsonl.gz']),
  lines: () => Promise.resolve(events.map((e) => ({ ok: true as const, value: e, text: JSON.stringify(e) }))),
});

/** `xp replay` and the aggregator after an erasure: the archive and the stream still hold the unit's events. */
describe('erased units in the stream and the archive (pglite)', () => {
  let target: TestDatabase;
  let db: Database;
  const logs: string[] = [];
  const logger = { info: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`), warn: () => undefined, error: () => undefined };
  const count = async (table: string, unit: string): Promise<number> => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE unit_id = $1`, [unit])).rows[0]!.n;

  beforeEach(async () => {
    target = pgliteTarget();
    db = await target.open();
    await seedProject(db);
    logs.length = 0;
  });
  afterEach(async () => {
    await target.dispose();
  });

  it('replay leaves out the erased unit’s events from before its erasure, keeps later ones and the other units, and says so', async () => {
    const erasedAt = T0 + 10 * HOUR;
    const events = [
      exposure('gone', 'exp-a', 'control', T0),
      track('gone', 'purchase', T0 + HOUR, 30),
      exposure('kept', 'exp-a', 'treatment', T0),
      track('kept', 'purchase', T0 + HOUR, 20),
      // After the erasure: new data.
      track('gone', 'purchase', erasedAt + HOUR, 5),
    ];
    expect((await processBatch(db, events.slice(0, 4).map((e) => toRecord(e)))).processed).toBe(4);
    await db.withTransaction((tx) => eraseUnits(tx, PROJECT, ['gone'], new Date(erasedAt)));
    expect([await count('exposures', 'gone'), await count('unit_events', 'gone')]).toEqual([0, 0]);

    const progress: string[] = [];
    const result = await replayArchive(db, { archive: archiveOf(events), from: new Date(0), to: new Date(erasedAt + 2 * HOUR), progress: (l) => progress.push(l), logger });

    expect(result).toMatchObject({ events: 3, erased: 2 });
    expect(progress).toContain('dropped 2 events of erased units');
    expect(logs.some((l) => l.includes('replay drops events of erased units') && l.includes('unit erased'))).toBe(true);
    expect([await count('exposures', 'gone'), await count('unit_events', 'gone')]).toEqual([0, 1]);
    expect([await count('exposures', 'kept'), await count('unit_events', 'kept')]).toEqual([1, 1]);
    expect((await db.query('SELECT count(*)::int AS n FROM dead_letters')).rows[0]).toEqual({ n: 0 });
  });

  it('the aggregator drops a batch’s erased events with one probe and one lookup, keeping the rest of the batch', async () => {
    const lookups: string[] = [];
    const counting: Database = { ...db, query: (sql, params) => (sql.includes('erased_units') && lookups.push(sql), db.query(sql, params)), withTransaction: (fn) => db.withTransaction((tx) => fn({ query: (sql, params) => (sql.includes('erased_units') && lookups.push(sql), tx.query(sql, params)) })) };
    // Before any erasure in the project, a batch costs one probe, and no unit is looked up.
    const before = await processBatch(counting, [exposure('early', 'exp-a', 'control', T0)].map((e) => toRecord(e)), { logger });
    expect(before.processed).toBe(1);
    expect(lookups).toHaveLength(1);
    lookups.length = 0;
    await db.withTransaction((tx) => eraseUnits(tx, PROJECT, ['gone'], new Date(T0 + 10 * HOUR)));

    const out = await processBatch(counting, [exposure('gone', 'exp-a', 'control', T0), track('gone', 'purchase', T0 + HOUR, 1), exposure('other', 'exp-a', 'control', T0), track('gone', 'purchase', T0 + 11 * HOUR, 1)].map((e) => toRecord(e)), { logger });

    expect(out).toEqual({ batchItemFailures: [], processed: 2, duplicates: 0, deadLettered: 0 });
    expect(lookups).toHaveLength(2);
    expect(logs.filter((l) => l.startsWith('aggregator drops events of erased units'))).toEqual(['aggregator drops events of erased units {"events":2,"reason":"unit erased"}']);
    expect((await db.query('SELECT unit_hash FROM erased_units')).rows).toEqual([{ unit_hash: unitHash('gone') }]);
  });
});

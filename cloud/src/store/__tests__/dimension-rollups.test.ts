import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBreakdown } from '../../domain/results.js';
import type { Database, Queryable } from '../db.js';
import { buildPendingDimensions, syncDimensions } from '../results.js';
import { lockProjectAggregates } from '../project-locks.js';
import { postgresTarget } from './test-databases.js';

/**
 * Building a dimension's rollups while aggregator transactions write (real PostgreSQL: two
 * connections). The build must neither miss a batch that was in flight when it started (its
 * triggers ran before the dimension existed and the build cannot see its rows) nor count one twice.
 */
const TARGET = { projectId: 'p', experiment: 'e' };
const COUNTRIES = ['US', 'CA', 'DE'];

interface Row {
  unit: string;
  variation: string;
  country: string;
  value: number;
}

async function insertUnits(db: Queryable, rows: readonly Row[]): Promise<void> {
  await db.query(
    `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, attributes)
     SELECT 'p', 'production', 'e', u, v, timestamptz '2026-11-01' + interval '1 minute' * ord, 'x-' || u, jsonb_build_object('country', c)
     FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(u, v, c, ord)`,
    [rows.map((r) => r.unit), rows.map((r) => r.variation), rows.map((r) => r.country)],
  );
  await db.query(
    `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
     SELECT 'p', 'production', 'e', u, 'revenue', false, v FROM unnest($1::text[], $2::numeric[]) AS r(u, v)`,
    [rows.map((r) => r.unit), rows.map((r) => r.value)],
  );
}

function batch(from: number, count: number): Row[] {
  return Array.from({ length: count }, (_v, i) => ({
    unit: `u${from + i}`,
    variation: (from + i) % 2 === 0 ? 'control' : 'treatment',
    country: COUNTRIES[(from + i) % 3]!,
    value: ((from + i) * 7) % 100,
  }));
}

/** Per country × variation: units and Σ revenue, from the dimension rollups. */
async function fromRollups(db: Database): Promise<Record<string, [number, number]>> {
  const out = await db.query<{ country: string; variation: string; units: string; v: string }>(
    `SELECT dimension_value #>> '{}' AS country, variation, sum(units)::text AS units, sum(v)::text AS v
     FROM results_dimension_rollups WHERE dimension = 'country' GROUP BY 1, 2`,
  );
  return Object.fromEntries(out.rows.map((r) => [`${r.country}/${r.variation}`, [Number(r.units), Number(r.v)]]));
}

function truth(rows: readonly Row[]): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const r of rows) {
    const k = `${r.country}/${r.variation}`;
    const [n, v] = out[k] ?? [0, 0];
    out[k] = [n + 1, v + r.value];
  }
  return out;
}

describe('dimension rollups built while the aggregator writes (PostgreSQL)', () => {
  const target = postgresTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await target.dispose();
  });

  it('waits for a batch in flight and counts it once; a batch after the build is kept by the triggers', async () => {
    const committed = batch(0, 60);
    const inFlight = batch(60, 45);
    const after = batch(105, 30);
    await insertUnits(db, committed);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => {
      written = resolve;
    });
    const aggregator = db.withTransaction(async (tx) => {
      // As an aggregator batch does (processBatchInTransaction): its projects' lock, shared, before writing.
      await lockProjectAggregates(tx, [TARGET.projectId], 'shared');
      await insertUnits(tx, inFlight);
      written();
      await gate;
    });
    await wrote;
    let built = false;
    const build = syncDimensions(db, TARGET, ['country']).then((d) => {
      built = true;
      return d;
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const builtWhileInFlight = built;
    release();
    await aggregator;
    const dimensions = await build;
    await insertUnits(db, after);

    expect(builtWhileInFlight).toBe(false);
    expect([...dimensions]).toEqual(['country']);
    expect(await fromRollups(db)).toEqual(truth([...committed, ...inFlight, ...after]));
  });

  it('leaves a build that runs out of time for later; the pending builds (the aggregator\'s) pick it up', async () => {
    await syncDimensions(db, TARGET, []);
    const more = batch(135, 3_000);
    await insertUnits(db, more);
    await db.query(`INSERT INTO organizations (id, name) VALUES ('o', 'Org')`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ('p', 'o', 'p', 'P')`);
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ('p', 'e', 'E', $1, 'running')`, [
      JSON.stringify({ key: 'e', name: 'E', variations: [{ key: 'control' }, { key: 'treatment' }], dimensions: ['country'] }),
    ]);
    const warnings: string[] = [];

    const hurried = await syncDimensions(db, TARGET, ['country'], { timeoutMs: 1, logger: { warn: (message) => warnings.push(message) } });
    const leftBehind = await db.query<{ n: string }>('SELECT count(*) AS n FROM results_dimension_rollups');
    // A breakdown needs the rollups: until they are built it asks to retry (503) rather than scan per value.
    const breakdown = await computeBreakdown(db, { ...TARGET, environment: 'production' }, { dimension: 'country' }, new Date(), undefined, { timeoutMs: 1 }).catch((e: unknown) => e);
    const synced = await buildPendingDimensions(db);
    const nothingLeft = await buildPendingDimensions(db);

    expect([...hurried]).toEqual([]);
    expect(warnings).toEqual(['results dimension build ran out of time; filters on it scan until a build completes']);
    expect(Number(leftBehind.rows[0]!.n)).toBe(0);
    expect(breakdown).toMatchObject({ code: 'UNAVAILABLE', details: { retryAfterSeconds: 60 } });
    expect([synced, nothingLeft]).toEqual([1, 0]);
    expect(await fromRollups(db)).toEqual(truth([...batch(0, 135), ...more]));
  });

  it('drops a dimension no longer listed, rows and all', async () => {
    const dimensions = await syncDimensions(db, TARGET, []);
    const left = await db.query<{ n: string }>('SELECT (SELECT count(*) FROM results_dimension_rollups) + (SELECT count(*) FROM results_dimensions) AS n');

    expect([...dimensions]).toEqual([]);
    expect(Number(left.rows[0]!.n)).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBreakdown, computeResults } from '../../domain/results.js';
import type { Database, Queryable } from '../db.js';
import { MAX_DIMENSION_VALUES, registeredDimensions, syncDimensions } from '../results.js';
import { TARGETS } from './test-databases.js';

/**
 * The cap on a result dimension's values (migration 0011): an attribute with a value per unit
 * listed as a dimension stops being rolled up — at the build, or as soon as an aggregator batch
 * brings its value past the cap — and the experiment's other dimensions are untouched.
 */
const TARGET = { projectId: 'p', experiment: 'e' };
const ENV = { ...TARGET, environment: 'production' };
const NOW = new Date('2026-11-20T00:00:00Z');

interface Unit {
  readonly unit: string;
  readonly country: string;
  /** A value per few units: the dimension that overflows. */
  readonly visitor: string;
  readonly value: number;
}

function units(from: number, count: number, visitors: (i: number) => string): Unit[] {
  return Array.from({ length: count }, (_v, k) => {
    const i = from + k;
    return { unit: `u${i}`, country: ['US', 'DE', 'BR'][i % 3]!, visitor: visitors(i), value: (i * 7) % 50 };
  });
}

/** One aggregator-like batch: exposures, then the units' totals. */
async function insertUnits(db: Queryable, rows: readonly Unit[]): Promise<void> {
  await db.query(
    `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id, attributes)
     SELECT 'p', 'production', 'e', u, CASE WHEN ord % 2 = 0 THEN 'control' ELSE 'treatment' END,
            timestamptz '2026-11-01' + interval '1 minute' * ord, 'x-' || u, jsonb_build_object('country', c, 'visitor', v)
     FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(u, c, v, ord)`,
    [rows.map((r) => r.unit), rows.map((r) => r.country), rows.map((r) => r.visitor)],
  );
  await db.query(
    `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
     SELECT 'p', 'production', 'e', u, 'revenue', false, v FROM unnest($1::text[], $2::numeric[]) AS r(u, v)`,
    [rows.map((r) => r.unit), rows.map((r) => r.value)],
  );
}

async function count(db: Queryable, table: string, dimension: string): Promise<number> {
  const out = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE dimension = $1`, [dimension]);
  return Number(out.rows[0]!.n);
}

/** Units per country in the country rollups. */
async function countryUnits(db: Queryable): Promise<Record<string, number>> {
  const out = await db.query<{ country: string; n: string }>(
    `SELECT dimension_value #>> '{}' AS country, sum(units)::text AS n FROM results_dimension_rollups WHERE dimension = 'country' GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(out.rows.map((r) => [r.country, Number(r.n)]));
}

describe.each(TARGETS)('result dimension value cap (%s)', (makeTarget) => {
  const target = makeTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
    await db.query(`INSERT INTO organizations (id, name) VALUES ('o', 'Org')`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ('p', 'o', 'p', 'P')`);
    await db.query(`INSERT INTO metrics (project_id, key, name, definition) VALUES ('p', 'revenue', 'Revenue', $1)`, [
      JSON.stringify({ key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' }),
    ]);
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ('p', 'e', 'E', $1, 'running')`, [
      JSON.stringify({
        key: 'e',
        name: 'E',
        variations: [{ key: 'control' }, { key: 'treatment' }],
        metrics: { primary: ['revenue'] },
        dimensions: ['country', 'visitor'],
        startedAt: '2026-11-01T00:00:00Z',
      }),
    ]);
  });
  afterAll(async () => {
    await target.dispose();
  });

  it('matches the SQL cap', async () => {
    const out = await db.query<{ n: number }>('SELECT results_dimensions_max_values() AS n');
    expect(out.rows[0]!.n).toBe(MAX_DIMENSION_VALUES);
  });

  it('builds a dimension with as many values as the cap, and keeps it while batches bring known values', async () => {
    // Two units per visitor: exactly MAX_DIMENSION_VALUES visitors.
    await insertUnits(db, units(0, 2 * MAX_DIMENSION_VALUES, (i) => `v${i % MAX_DIMENSION_VALUES}`));
    const rolledUp = await syncDimensions(db, TARGET, ['country', 'visitor']);
    await insertUnits(db, units(2 * MAX_DIMENSION_VALUES, 30, (i) => `v${i % 7}`));

    expect([...rolledUp].sort()).toEqual(['country', 'visitor']);
    expect(await count(db, 'results_dimension_values', 'visitor')).toBe(MAX_DIMENSION_VALUES);
    expect(await count(db, 'results_dimension_values', 'country')).toBe(3);
    expect(await count(db, 'results_dimension_rollups', 'visitor')).toBeGreaterThan(0);
  });

  it('stops rolling up a dimension once a batch brings it past the cap; the other dimensions are untouched', async () => {
    const before = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM exposures`);
    await insertUnits(db, units(1_000, 3, (i) => `new-${i}`));
    const afterOverflow = {
      registered: Object.fromEntries(await registeredDimensions(db, TARGET)),
      rollups: await count(db, 'results_dimension_rollups', 'visitor'),
      values: await count(db, 'results_dimension_values', 'visitor'),
    };
    // Later batches do not bring it back.
    await insertUnits(db, units(2_000, 10, (i) => `v${i % 3}`));
    const total = Number(before.rows[0]!.n) + 13;

    expect(afterOverflow).toEqual({ registered: { country: { tooManyValues: false }, visitor: { tooManyValues: true } }, rollups: 0, values: 0 });
    expect(await count(db, 'results_dimension_rollups', 'visitor')).toBe(0);
    expect([...(await syncDimensions(db, TARGET, ['country', 'visitor']))]).toEqual(['country']);
    const countries = await countryUnits(db);
    expect(Object.values(countries).reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('answers a filter on it by a scan, with the numbers the scan gives, and refuses a breakdown with the reason', async () => {
    const filtered = await computeResults(db, ENV, { attributes: { visitor: 'v3' } }, NOW);
    const byCountry = await computeResults(db, ENV, { attributes: { country: 'US' } }, NOW);
    const breakdown = await computeBreakdown(db, ENV, { dimension: 'visitor' }, NOW).catch((e: unknown) => e);

    const expected = [...units(0, 2 * MAX_DIMENSION_VALUES, (i) => `v${i % MAX_DIMENSION_VALUES}`), ...units(2 * MAX_DIMENSION_VALUES, 30, (i) => `v${i % 7}`), ...units(2_000, 10, (i) => `v${i % 3}`)].filter(
      (u) => u.visitor === 'v3',
    ).length;
    expect(filtered.metrics[0]!.source).toBe('scan');
    expect(filtered.units.analysed).toBe(expected);
    expect(byCountry.metrics[0]!.source).toBe('rollup');
    expect(breakdown).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining(`"visitor" has more than ${MAX_DIMENSION_VALUES} values`) as unknown });
  });

  it('forgets the mark when the dimension is unlisted, and marks it again at the next build', async () => {
    await syncDimensions(db, TARGET, ['country']);
    const unlisted = Object.fromEntries(await registeredDimensions(db, TARGET));
    const relisted = await syncDimensions(db, TARGET, ['country', 'visitor']);

    expect(unlisted).toEqual({ country: { tooManyValues: false } });
    expect([...relisted]).toEqual(['country']);
    expect(Object.fromEntries(await registeredDimensions(db, TARGET))).toEqual({ country: { tooManyValues: false }, visitor: { tooManyValues: true } });
    expect(await count(db, 'results_dimension_rollups', 'visitor')).toBe(0);
    expect(await count(db, 'results_dimension_values', 'visitor')).toBe(0);
  });
});

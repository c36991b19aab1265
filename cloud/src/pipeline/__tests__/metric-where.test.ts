/**
 * Metric event filters (`where`): only events whose properties pass count. Checked against a plain
 * TypeScript evaluation of the documented semantics (shared/src/model/metric.ts eventFilterSchema)
 * over random events and filters, through every path that applies the metric specs (live batches in
 * both arrival orders, a rebuild, a recount, `xp replay`), on PGlite and PostgreSQL; then through the
 * API: a change of `where` recounts, and bad filters get a plain 400.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EventFilter, MetricInput, PipelineEvent } from '@xp/shared';
import { eventFilterSchema, metricSchema, seededRandom } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import type { Database } from '../../store/db.js';
import type { ArchiveSource } from '../../store/event-archive.js';
import { TARGETS, pgliteTarget } from '../../store/__tests__/test-databases.js';
import { processBatch, rebuildRequestedTotals, rebuildTotals, recountEventsSince } from '../aggregate.js';
import { replayArchive } from '../replay.js';
import type { AggregateState, TotalsRow } from './fixtures.js';
import { DAY, ENV, HOUR, T0, exposure, nextId, readState, toRecord } from './fixtures.js';

const MIGRATION = new URL('../../../migrations/0040_event_filters.sql', import.meta.url);
const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const PROJECT = 'proj-where';
const EXPERIMENT = 'exp-w';
const PRE_WINDOW_MS = 14 * DAY;
const TABLES = ['processed_events', 'exposures', 'unit_events', 'unit_metric_totals', 'metrics'];

type Props = Record<string, unknown>;

/** A tracked event with any properties (and, for some, a value: what a sum adds when its property is not a number). */
function tracked(unit: string, name: string, at: number, properties: Props | undefined, value?: number, projectId = PROJECT): PipelineEvent {
  return {
    v: 1,
    projectId,
    environment: ENV,
    receivedAt: at,
    occurredAt: at,
    event: { id: nextId('w'), type: 'track', unitId: unit, timestamp: at, name, ...(properties === undefined ? {} : { properties: properties as never }), ...(value === undefined ? {} : { value }) },
  };
}

// ---- The documented semantics, in plain TypeScript --------------------------------------------

/** Unicode code point order (JavaScript's `<` compares UTF-16 code units: U+1F600 would sort before U+FF5E). */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) {
      return x[i]! < y[i]! ? -1 : 1;
    }
  }
  return Math.sign(x.length - y.length);
}

/** Same JSON type and value: a string, number or boolean equal to a scalar of the filter. */
const same = (p: unknown, v: unknown): boolean => (typeof p === 'string' || typeof p === 'number' || typeof p === 'boolean') && typeof p === typeof v && p === v;

/** The order of a property and a bound when both are numbers or both strings; undefined otherwise. */
function order(p: unknown, bound: unknown): number | undefined {
  if (typeof bound === 'number' && typeof p === 'number') {
    return Math.sign(p - bound);
  }
  if (typeof bound === 'string' && typeof p === 'string') {
    return byCodePoint(p, bound);
  }
  return undefined;
}

function holds(p: unknown, op: string, arg: unknown): boolean {
  const cmp = order(p, arg);
  switch (op) {
    case '$eq':
      return same(p, arg);
    case '$ne':
      return !same(p, arg);
    case '$in':
      return (arg as unknown[]).some((v) => same(p, v));
    case '$nin':
      return !(arg as unknown[]).some((v) => same(p, v));
    case '$gt':
      return cmp !== undefined && cmp > 0;
    case '$gte':
      return cmp !== undefined && cmp >= 0;
    case '$lt':
      return cmp !== undefined && cmp < 0;
    case '$lte':
      return cmp !== undefined && cmp <= 0;
    case '$exists':
      return (p !== undefined && p !== null) === arg;
    default:
      throw new Error(`unknown operator ${op}`);
  }
}

function passes(properties: Props | undefined, filter: EventFilter | undefined): boolean {
  if (filter === undefined) {
    return true;
  }
  return Object.entries(filter).every(([name, test]) => {
    const p = properties !== undefined && Object.hasOwn(properties, name) ? properties[name] : undefined;
    return typeof test === 'object' ? Object.entries(test).every(([op, arg]) => arg === undefined || holds(p, op, arg)) : same(p, test);
  });
}

interface Side {
  readonly name: string;
  readonly part: 0 | 1;
  readonly sum: boolean;
  readonly property: string | undefined;
  readonly where: EventFilter | undefined;
}

/** What the aggregates must hold: one exposure per unit at `exposedAt`, no delay or window. */
function truth(metrics: readonly MetricInput[], exposures: ReadonlyMap<string, { variation: string; at: number }>, events: readonly PipelineEvent[]): AggregateState {
  const totals: TotalsRow[] = [];
  for (const [unit, x] of exposures) {
    for (const m of metrics) {
      const sides: Side[] =
        m.type === 'ratio'
          ? [
              { name: m.numerator!.event, part: 0, sum: m.numerator!.aggregation === 'sum', property: m.numerator!.property, where: m.numerator!.where },
              { name: m.denominator!.event, part: 1, sum: m.denominator!.aggregation === 'sum', property: m.denominator!.property, where: m.denominator!.where },
            ]
          : [{ name: m.event!, part: 0, sum: m.type === 'sum', property: m.property, where: m.where }];
      const post = [0, 0];
      const pre = [0, 0];
      let hits = 0;
      for (const e of events) {
        if (e.event.type !== 'track' || e.event.unitId !== unit) {
          continue;
        }
        const isPost = e.occurredAt >= x.at;
        if (!isPost && e.occurredAt < x.at - PRE_WINDOW_MS) {
          continue;
        }
        for (const side of sides) {
          if (side.name !== e.event.name || !passes(e.event.properties, side.where)) {
            continue;
          }
          hits++;
          const raw = side.property === undefined ? undefined : e.event.properties?.[side.property];
          const amount = !side.sum ? 1 : typeof raw === 'number' ? raw : (e.event.value ?? 0);
          const acc = isPost ? post : pre;
          acc[side.part] = m.type === 'conversion' ? 100 : acc[side.part]! + Math.round(amount * 100);
        }
      }
      if (hits > 0) {
        totals.push({ key: `${PROJECT}/${ENV}/${EXPERIMENT}/${unit}/${m.key}`, value: post[0]!, preValue: pre[0]!, denominator: post[1]!, preDenominator: pre[1]! });
      }
    }
  }
  const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return {
    exposures: [...exposures].map(([unit, x]) => ({ key: `${PROJECT}/${ENV}/${EXPERIMENT}/${unit}`, variation: x.variation, exposedAt: x.at, excluded: false })).sort(byKey),
    totals: totals.sort(byKey),
  };
}

// ---- Random events and filters ------------------------------------------------------------------

const NAMES = ['plan', 'amount', 'tier', 'ok', 'note'];
// 'B' < 'a' by code point, not in a linguistic collation; U+1F600 > U+FF5E by code point, not in UTF-16.
const STRINGS = ['pro', 'free', 'Pro', '', '10', '7', 'a', 'B', 'é', '\uFF5E', '\u{1F600}', '2024-01-02T00:00:00Z', '2024-01-10T09:30:00Z'];
const NUMBERS = [0, 1, 1.5, 5, 7, 10, -3, 2.25];
const SCALARS: readonly (string | number | boolean)[] = [...STRINGS, ...NUMBERS, true, false];
const PROPERTY_VALUES: readonly unknown[] = [...SCALARS, null, { a: 1, plan: 'pro' }, [1, 'pro'], ['pro'], [], {}, { nested: { deeper: [true] } }];
const OPERATORS = ['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists'] as const;

function generator(seed: number) {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const bound = (): string | number => (random() < 0.5 ? pick(NUMBERS) : pick(STRINGS));
  const argOf = (op: (typeof OPERATORS)[number]): unknown => {
    switch (op) {
      case '$in':
      case '$nin':
        return Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(SCALARS));
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        return bound();
      case '$exists':
        return random() < 0.5;
      default:
        return pick(SCALARS);
    }
  };
  /**
   * A random filter; `takenOnly`: one the API takes, drawn again while it is one of those refused as
   * never matching (`$exists: false` beside a value test, bounds of both kinds, …). The SQL function's
   * own test takes those too: a filter stored before they were refused still counts as documented.
   */
  const filter = (takenOnly = true): EventFilter => {
    for (;;) {
      const drawn = anyFilter();
      if (!takenOnly || eventFilterSchema.safeParse(drawn).success) {
        return drawn;
      }
    }
  };
  const anyFilter = (): EventFilter => {
    const out: Record<string, unknown> = {};
    for (const name of new Set(Array.from({ length: random() < 0.7 ? 1 : 2 }, () => pick(NAMES)))) {
      if (random() < 0.2) {
        out[name] = pick(SCALARS);
        continue;
      }
      const test: Record<string, unknown> = {};
      for (const op of new Set(Array.from({ length: random() < 0.7 ? 1 : 2 }, () => pick(OPERATORS)))) {
        test[op] = argOf(op);
      }
      out[name] = test;
    }
    return out as EventFilter;
  };
  const properties = (): Props | undefined => {
    if (random() < 0.1) {
      return undefined;
    }
    const out: Props = {};
    for (const name of NAMES) {
      if (random() < 0.7) {
        // Amounts are mostly numbers, so that sums have something to add.
        out[name] = name === 'amount' && random() < 0.6 ? pick(NUMBERS) : pick(PROPERTY_VALUES);
      }
    }
    return out;
  };
  return { random, pick, filter, properties };
}

/** Metrics of every type, each with a random `where` (a ratio on either or both sides), and one of each without. */
function randomMetrics(g: ReturnType<typeof generator>, count: number): MetricInput[] {
  const metrics: MetricInput[] = [];
  for (let i = 0; i < count; i++) {
    const base = { key: `m${i}`, name: `M${i}` };
    const where = i < 4 ? undefined : g.filter();
    const metric: MetricInput =
      i % 4 === 0
        ? { ...base, type: 'conversion', event: 'buy', ...(where === undefined ? {} : { where }) }
        : i % 4 === 1
          ? { ...base, type: 'count', event: g.pick(['buy', 'visit']), ...(where === undefined ? {} : { where }) }
          : i % 4 === 2
            ? { ...base, type: 'sum', event: 'buy', property: 'amount', ...(where === undefined ? {} : { where }) }
            : {
                ...base,
                type: 'ratio',
                numerator: { event: 'buy', aggregation: 'sum', property: 'amount', ...(where === undefined ? {} : { where }) },
                denominator: { event: 'visit', aggregation: 'count', ...(i < 4 || g.random() < 0.3 ? {} : { where: g.filter() }) },
              };
    // Every generated filter is one the API takes.
    metricSchema.parse(metric);
    metrics.push(metric);
  }
  return metrics;
}

/** Random (properties, filter) pairs, and what the documented semantics say of each. */
function randomPairs(seed: number, count: number): { properties: (Props | undefined)[]; filters: EventFilter[]; expected: boolean[] } {
  const g = generator(seed);
  const properties = Array.from({ length: count }, () => g.properties());
  const filters = Array.from({ length: count }, () => g.filter(false));
  return { properties, filters, expected: properties.map((p, i) => passes(p, filters[i])) };
}

/** The SQL function's verdicts on the pairs, in order. */
const VERDICTS_SQL = `SELECT event_passes_filter(p, f) AS passed FROM unnest($1::jsonb[], $2::jsonb[]) WITH ORDINALITY AS t(p, f, i) ORDER BY i`;
const verdictParams = (pairs: ReturnType<typeof randomPairs>): unknown[] => [pairs.properties.map((p) => (p === undefined ? null : JSON.stringify(p))), pairs.filters.map((f) => JSON.stringify(f))];

/** An archive holding `events` in one object (what `xp replay` reads from the folder or S3). */
const archiveOf = (events: readonly PipelineEvent[]): ArchiveSource => ({
  location: 'memory',
  objects: () => Promise.resolve(['one.jsonl.gz']),
  lines: () => Promise.resolve(events.map((e) => ({ ok: true as const, value: e, text: JSON.stringify(e) }))),
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('metric event filters on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  const saveMetrics = async (metrics: readonly MetricInput[]): Promise<void> => {
    await db.query('DELETE FROM metrics WHERE project_id = $1', [PROJECT]);
    for (const m of metrics) {
      await db.query('INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4)', [PROJECT, m.key, m.name, JSON.stringify(m)]);
    }
    await db.query('UPDATE experiments SET definition = $2 WHERE project_id = $1 AND key = $3', [
      PROJECT,
      JSON.stringify({ key: EXPERIMENT, name: EXPERIMENT, metrics: { primary: metrics.map((m) => m.key), secondary: [], guardrails: [] } }),
      EXPERIMENT,
    ]);
  };
  const apply = async (events: readonly PipelineEvent[]): Promise<void> => {
    const out = await processBatch(db, events.map((e) => toRecord(e)));
    expect(out).toMatchObject({ batchItemFailures: [], deadLettered: 0 });
  };

  beforeAll(async () => {
    db = await target.open();
    await db.query(`INSERT INTO organizations (id, name) VALUES ('org-1', 'Org') ON CONFLICT DO NOTHING`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'org-1', $1, $1)`, [PROJECT]);
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ($1, $2, $2, '{}', 'running')`, [PROJECT, EXPERIMENT]);
  });
  afterAll(async () => {
    await target.dispose();
  });
  beforeEach(async () => {
    for (const table of TABLES) {
      await db.query(`DELETE FROM ${table}`);
    }
  });

  it(`${target.name}: totals of random filters over random events equal the documented semantics, live in both arrival orders, rebuilt, recounted and replayed`, async () => {
    const g = generator(20261207);
    const metrics = randomMetrics(g, 48);
    await saveMetrics(metrics);
    const exposures = new Map<string, { variation: string; at: number }>();
    const tracks: PipelineEvent[] = [];
    for (let u = 0; u < 40; u++) {
      const unit = `u${u}`;
      exposures.set(unit, { variation: u % 2 === 0 ? 'control' : 'treatment', at: T0 });
      for (let k = Math.floor(g.random() * 8); k > 0; k--) {
        // From two days before the exposure (the pre-period) to two days after.
        const at = T0 + Math.round((g.random() * 4 - 2) * DAY);
        tracks.push(tracked(unit, g.pick(['buy', 'visit']), at, g.properties(), g.random() < 0.3 ? g.pick([3, 0.5]) : undefined));
      }
    }
    const exposureEvents = [...exposures].map(([unit, x]) => exposure(unit, EXPERIMENT, x.variation, x.at, undefined, PROJECT));
    const expected = truth(metrics, exposures, tracks);
    // The filters pass some events and fail others: what they do is what is checked.
    const filters = metrics.flatMap((m) => [m.where, m.numerator?.where, m.denominator?.where]).filter((w) => w !== undefined);
    const split = filters.filter((w) => {
      const passed = tracks.filter((e) => e.event.type === 'track' && passes(e.event.properties, w)).length;
      return passed > 0 && passed < tracks.length;
    });
    expect(split.length / filters.length).toBeGreaterThan(0.7);
    const used = new Set(filters.flatMap((w) => Object.values(w).flatMap((test) => (typeof test === 'object' ? Object.keys(test) : ['shorthand']))));
    expect([...used].sort()).toEqual([...OPERATORS, 'shorthand'].sort());
    expect(new Set(expected.totals.map((t) => t.key.split('/').pop())).size).toBeGreaterThan(30);

    // Half the events before the exposures (counted by the recompute), half after (counted by the add).
    const half = Math.floor(tracks.length / 2);
    await apply(tracks.slice(0, half));
    await apply(exposureEvents);
    await apply(tracks.slice(half));
    expect(await readState(db)).toEqual(expected);

    await db.query('DELETE FROM unit_metric_totals');
    await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment: EXPERIMENT }));
    expect(await readState(db)).toEqual(expected);

    await db.query('UPDATE unit_metric_totals SET value = value + 1');
    const recounted = await db.withTransaction((tx) => recountEventsSince(tx, { projectId: PROJECT, experiment: EXPERIMENT }, new Date(T0 - 3 * DAY)));
    expect(recounted).toBe(exposures.size - [...exposures.keys()].filter((u) => !tracks.some((e) => e.event.unitId === u)).length);
    expect(await readState(db)).toEqual(expected);

    await db.query('UPDATE unit_metric_totals SET value = value + 1');
    await replayArchive(db, { archive: archiveOf([...exposureEvents, ...tracks]), from: new Date(0), to: new Date(T0 + 3 * DAY) });
    expect(await readState(db)).toEqual(expected);
  });

  it(`${target.name}: the SQL function agrees with the documented semantics on 5,000 random pairs`, async () => {
    const pairs = randomPairs(42, 5000);

    const out = await db.query<{ passed: boolean }>(VERDICTS_SQL, verdictParams(pairs));

    expect(out.rows.map((r) => r.passed)).toEqual(pairs.expected);
    expect(pairs.expected.filter(Boolean).length).toBeGreaterThan(500);
  });

  it(`${target.name}: a changed filter counts under the new one after the requested rebuild`, async () => {
    const g = generator(7);
    const before = randomMetrics(g, 16);
    await saveMetrics(before);
    const exposures = new Map([...Array.from({ length: 12 }, (_, u) => [`u${u}`, { variation: 'control', at: T0 }] as const)]);
    const tracks = Array.from({ length: 60 }, (_, i) => tracked(`u${i % 12}`, g.pick(['buy', 'visit']), T0 + (i - 20) * HOUR, g.properties()));
    await apply([...[...exposures].map(([unit, x]) => exposure(unit, EXPERIMENT, x.variation, x.at, undefined, PROJECT)), ...tracks]);
    expect(await readState(db)).toEqual(truth(before, exposures, tracks));

    const after = randomMetrics(generator(8), 16);
    await saveMetrics(after);
    await db.query(`INSERT INTO totals_rebuilds (project_id, experiment) VALUES ($1, $2)`, [PROJECT, EXPERIMENT]);
    expect(await rebuildRequestedTotals(db, { projectId: PROJECT, experiment: EXPERIMENT })).toBe(true);

    expect(await readState(db)).toEqual(truth(after, exposures, tracks));
  });

  it(`${target.name}: filters are strict about JSON types, take a missing property as not equal, and compare strings by code point`, async () => {
    const metrics: MetricInput[] = [
      { key: 'eq-10', name: 'n = 10', type: 'count', event: 'e', where: { n: { $eq: 10 } } },
      { key: 'eq-10-text', name: 'n = "10"', type: 'count', event: 'e', where: { n: '10' } },
      { key: 'gt-5', name: 'n > 5', type: 'count', event: 'e', where: { n: { $gt: 5 } } },
      { key: 'ne-pro', name: 'plan ≠ pro', type: 'count', event: 'e', where: { plan: { $ne: 'pro' } } },
      { key: 'nin-pro', name: 'plan not in [pro]', type: 'count', event: 'e', where: { plan: { $nin: ['pro'] } } },
      { key: 'in-mixed', name: 'n in [10, "x"]', type: 'count', event: 'e', where: { n: { $in: [10, 'x'] } } },
      { key: 'after-fullwidth', name: 's > U+FF5E', type: 'count', event: 'e', where: { s: { $gt: '\uFF5E' } } },
      { key: 'before-a', name: 's < "a"', type: 'count', event: 'e', where: { s: { $lt: 'a' } } },
      { key: 'no-plan', name: 'no plan', type: 'count', event: 'e', where: { plan: { $exists: false } } },
      { key: 'has-plan', name: 'a plan', type: 'count', event: 'e', where: { plan: { $exists: true } } },
      { key: 'ok', name: 'ok', type: 'count', event: 'e', where: { ok: true } },
      { key: 'pro-range', name: 'pro, 5 to 10', type: 'sum', event: 'e', property: 'n', where: { plan: 'pro', n: { $gte: 5, $lte: 10 } } },
    ];
    await saveMetrics(metrics);
    const events = [
      exposure('u', EXPERIMENT, 'control', T0, undefined, PROJECT),
      tracked('u', 'e', T0 + 1, { n: '10', plan: 'pro', s: '\u{1F600}' }),
      tracked('u', 'e', T0 + 2, { n: 10, plan: null, s: 'B', ok: 'true' }),
      tracked('u', 'e', T0 + 3, { n: '7', s: 'b', ok: true }),
      tracked('u', 'e', T0 + 4, { n: 7, plan: 'pro', s: '\uFF5E', ok: 1 }),
      tracked('u', 'e', T0 + 5, { n: { $eq: 10 }, plan: 'Pro' }),
    ];

    await apply(events);

    const state = await readState(db);
    const counts = Object.fromEntries(state.totals.map((t) => [t.key.split('/').pop(), t.value / 100]));
    expect(counts).toEqual({
      'eq-10': 1,
      'eq-10-text': 1,
      'gt-5': 2,
      'ne-pro': 3,
      'nin-pro': 3,
      'in-mixed': 1,
      'after-fullwidth': 1,
      'before-a': 1,
      'no-plan': 2,
      'has-plan': 3,
      ok: 1,
      'pro-range': 7,
    });
  });
});

describe('string order on a database whose default collation is linguistic (postgres, ICU "en")', () => {
  const name = `xp_where_icu_${process.pid}`;
  let client: pg.Client;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    // Aurora's databases are usually en_US.UTF-8, where "B" sorts after "a"; the tests' are C.UTF-8.
    await admin(`DROP DATABASE IF EXISTS ${name}`);
    await admin(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    await client.query(await readFile(MIGRATION, 'utf8'));
  });
  afterAll(async () => {
    await client.end();
    await admin(`DROP DATABASE IF EXISTS ${name}`);
  });

  it('compares strings by code point, not by the database collation', async () => {
    const linguistic = await client.query<{ before: boolean }>(`SELECT 'B' < 'a' AS before`);
    const pairs = randomPairs(43, 5000);
    const ranges = { properties: [{ s: 'B' }, { s: 'b' }, { s: '\u{1F600}' }], filters: [{ s: { $lt: 'a' } }, { s: { $lt: 'a' } }, { s: { $gt: '\uFF5E' } }] };

    const out = await client.query<{ passed: boolean }>(VERDICTS_SQL, verdictParams(pairs));
    const edges = await client.query<{ passed: boolean }>(VERDICTS_SQL, [ranges.properties.map((p) => JSON.stringify(p)), ranges.filters.map((f) => JSON.stringify(f))]);

    expect(linguistic.rows[0]?.before).toBe(false);
    expect(edges.rows.map((r) => r.passed)).toEqual([true, false, true]);
    expect(out.rows.map((r) => r.passed)).toEqual(pairs.expected);
  });
});

// ---- Through the API -----------------------------------------------------------------------------

describe('changing a metric’s where through the API (pglite)', () => {
  const BASE = '/api/v1/projects/where';
  const START = Date.UTC(2026, 10, 1);
  let p: Platform;
  let owner: string;
  let projectId: string;
  const units = Array.from({ length: 16 }, (_, i) => `u${i}`);
  const arm = (unit: string): string => (Number(unit.slice(1)) % 2 === 0 ? 'control' : 'treatment');
  const sent: { unit: string; name: string; plan: string; amount: number }[] = [];

  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const results = async (): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/exp/results`));
  const totals = (r: ExperimentResults, metric: string): (number | null)[] | undefined => r.metrics.find((m) => m.key === metric)?.variations.map((v) => v.total);
  /** Per arm: the number, or the amounts, of `name` events whose plan passes `plan`. */
  const truthOf = (name: string, plan: (p: string) => boolean, measure: 'count' | 'sum'): number[] =>
    ['control', 'treatment'].map((a) => sent.filter((e) => e.name === name && arm(e.unit) === a && plan(e.plan)).reduce((n, e) => n + (measure === 'count' ? 1 : e.amount), 0));
  const update = async (key: string, change: (definition: any) => unknown): Promise<void> => {
    const metric = await must('GET', `${BASE}/metrics/${key}`);
    await must('PUT', `${BASE}/metrics/${key}`, change(metric.definition), metric.version);
  };
  const pending = async (): Promise<number> => (await p.db.query('SELECT 1 FROM totals_rebuilds WHERE project_id = $1', [projectId])).rows.length;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: 'where', name: 'Where' });
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'where'")).rows[0]!.id;
    await must('POST', `${BASE}/metrics`, { key: 'pro-buys', name: 'Pro purchases', type: 'count', event: 'purchase', where: { plan: 'pro' } });
    await must('POST', `${BASE}/metrics`, {
      key: 'pro-spend-per-visit',
      name: 'Pro spend per visit',
      type: 'ratio',
      numerator: { event: 'purchase', aggregation: 'sum', property: 'amount', where: { plan: 'pro' } },
      denominator: { event: 'visit', aggregation: 'count' },
    });
    await must('POST', `${BASE}/experiments`, {
      key: 'exp',
      name: 'Exp',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['pro-buys', 'pro-spend-per-visit'] },
      status: 'running',
      startedAt: new Date(START).toISOString(),
    });
    const events: PipelineEvent[] = units.map((unit) => exposure(unit, 'exp', arm(unit), START + HOUR, undefined, projectId));
    units.forEach((unit, i) => {
      for (const [k, plan] of ['pro', 'free', 'team', i % 3 === 0 ? 'pro' : 'free'].entries()) {
        const amount = 10 + i + k;
        sent.push({ unit, name: 'purchase', plan, amount });
        events.push(tracked(unit, 'purchase', START + 2 * HOUR + k, { plan, amount }, undefined, projectId));
      }
      sent.push({ unit, name: 'visit', plan: 'pro', amount: 0 });
      events.push(tracked(unit, 'visit', START + 2 * HOUR, { plan: 'pro' }, undefined, projectId));
    });
    const out = await processBatch(p.db, events.map((e) => toRecord(e)));
    if (out.processed !== events.length) {
      throw new Error(`the setup's events were not all applied: ${JSON.stringify(out)}`);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('counts only the events the where passes', async () => {
    const r = await results();

    expect(totals(r, 'pro-buys')).toEqual(truthOf('purchase', (plan) => plan === 'pro', 'count'));
    const ratio = r.metrics.find((m) => m.key === 'pro-spend-per-visit')!;
    expect(ratio.variations.map((v) => v.total)).toEqual(truthOf('purchase', (plan) => plan === 'pro', 'sum'));
  });

  it('recounts every experiment using the metric when its where changes, at the top level and on a ratio side', async () => {
    await update('pro-buys', (d) => ({ ...d, where: { plan: { $in: ['free', 'team'] } } }));
    expect(await pending()).toBe(1);
    expect(totals(await results(), 'pro-buys')).toEqual(truthOf('purchase', (plan) => plan !== 'pro', 'count'));
    expect(await pending()).toBe(0);

    await update('pro-buys', ({ where: _where, ...d }) => d);
    expect(await pending()).toBe(1);
    expect(totals(await results(), 'pro-buys')).toEqual(truthOf('purchase', () => true, 'count'));

    await update('pro-spend-per-visit', (d) => ({ ...d, numerator: { ...d.numerator, where: { plan: { $ne: 'pro' } } } }));
    expect(await pending()).toBe(1);
    expect(totals(await results(), 'pro-spend-per-visit')).toEqual(truthOf('purchase', (plan) => plan !== 'pro', 'sum'));

    // A name change counts nothing differently.
    await update('pro-buys', (d) => ({ ...d, name: 'Purchases' }));
    expect(await pending()).toBe(0);
  });

  it('refuses bad filters with a 400 naming the path, and stores nothing', async () => {
    const metric = (fields: Record<string, unknown>): Record<string, unknown> => ({ key: 'bad', name: 'Bad', type: 'count', event: 'purchase', ...fields });
    const ratio = (fields: Record<string, unknown>): Record<string, unknown> => ({
      key: 'bad',
      name: 'Bad',
      type: 'ratio',
      numerator: { event: 'purchase', aggregation: 'count' },
      denominator: { event: 'visit', aggregation: 'count' },
      ...fields,
    });
    const operators = '$eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists';
    const cases: [string, Record<string, unknown>, { path: string; message: string }][] = [
      ['unknown operator', metric({ where: { plan: { $regex: '^pro' } } }), { path: 'body.where.plan', message: `unknown operator "$regex": the operators are ${operators}` }],
      ['empty where', metric({ where: {} }), { path: 'body.where', message: 'names no property: leave where out to count every event' }],
      ['where on a ratio', ratio({ where: { plan: 'pro' } }), { path: 'body.where', message: 'a ratio metric filters its sides: put where on the numerator or the denominator' }],
      ['1,001 values', metric({ where: { plan: { $in: Array.from({ length: 1001 }, (_, i) => `p${i}`) } } }), { path: 'body.where.plan', message: '$in takes at most 1000 values' }],
      ['unknown operator on a side', ratio({ numerator: { event: 'purchase', aggregation: 'count', where: { n: { $like: 1 } } } }), { path: 'body.numerator.where.n', message: `unknown operator "$like": the operators are ${operators}` }],
      ['null test', metric({ where: { plan: null } }), { path: 'body.where.plan', message: `null is not a test: give a string, number or boolean (shorthand for $eq), or an object of operators (${operators})` }],
      ['boolean bound', metric({ where: { n: { $gt: true } } }), { path: 'body.where.n', message: '$gt takes a number or a string (numbers compare with numbers, strings with strings)' }],
      // Sent as JSON text, "__proto__" is a key like any other; parsed into a record it would vanish, and the metric count more than asked.
      ['__proto__ name', metric({ where: JSON.parse('{"plan":"pro","__proto__":{"$eq":"x"}}') as unknown }), { path: 'body.where.__proto__', message: '"__proto__" cannot be filtered on: events drop a property of that name when they are stored' }],
      ['operator as a name', metric({ where: { $eq: 5 } }), { path: 'body.where.$eq', message: '"$eq" is an operator, not a property name: operators go inside a property\'s test, e.g. { "plan": { "$eq": … } }' }],
      ['never matches', metric({ where: { plan: { $exists: false, $in: ['pro'] } } }), { path: 'body.where.plan', message: 'never matches: $exists false means the property is missing or null, and $in needs a value' }],
      ['rounded integer', metric({ where: { id: 2 ** 53 } }), { path: 'body.where.id', message: 'takes integers between -(2^53 − 1) and 2^53 − 1 only: a larger one cannot be held exactly (it arrives rounded), so the filter would compare with another number' }],
    ];
    const count = async (): Promise<number> => (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM metrics WHERE project_id = $1', [projectId])).rows[0]!.n;
    const before = await count();

    const answers = [];
    for (const [label, body] of cases) {
      const res = await p.request('POST', `${BASE}/metrics`, { token: owner, body });
      answers.push([label, res.status, res.body.error?.code, res.body.error?.details?.issues]);
    }

    expect(answers).toEqual(cases.map(([label, , issue]) => [label, 400, 'VALIDATION_FAILED', [issue]]));
    expect(await count()).toBe(before);
  });
});

/**
 * A metric's conversion delay (`delayHours`): the analysis window is [exposed_at + delay,
 * exposed_at + delay + windowHours), the pre-exposure (CUPED) window ends at the exposure or at that
 * start, whichever is first. Checked in both arrival orders (an event before its exposure is counted
 * by the recompute, one after it by the add), through a rebuild and a recount, against the fixtures'
 * independent ground truth.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MetricInput, PipelineEvent } from '@xp/shared';
import type { Database } from '../../store/db.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { processBatch, rebuildTotals, recountEventsSince } from '../aggregate.js';
import type { Catalogue } from './fixtures.js';
import { ENV, HOUR, T0, exposure, groundTruth, readState, toRecord, track } from './fixtures.js';

const PROJECT = 'proj-delay';
const MINUTE = 60_000;

const METRICS: readonly MetricInput[] = [
  { key: 'bought', name: 'Bought', type: 'conversion', event: 'buy' },
  // Counts purchases from an hour before the exposure: a browser clock behind the server's.
  { key: 'bought-skewed', name: 'Bought (clock skew)', type: 'conversion', event: 'buy', delayHours: -1 },
  { key: 'spend-skewed', name: 'Spend (clock skew)', type: 'sum', event: 'buy', property: 'amount', delayHours: -1, windowHours: 24 },
  // Retention: visits on the second and third day after the exposure.
  { key: 'visits-d2-3', name: 'Visits on days 2-3', type: 'count', event: 'visit', delayHours: 24, windowHours: 48 },
  {
    key: 'spend-per-visit-late',
    name: 'Spend per visit after 12 h',
    type: 'ratio',
    numerator: { event: 'buy', aggregation: 'sum', property: 'amount' },
    denominator: { event: 'visit', aggregation: 'count' },
    delayHours: 12,
  },
];
const CATALOGUE: Catalogue = {
  metrics: METRICS,
  experiments: { 'exp-d': { primary: METRICS.map((m) => m.key), secondary: [], guardrails: [] } },
};

const TABLES = ['processed_events', 'exposures', 'unit_events', 'unit_metric_totals'];

describe.each(TARGETS.map((t) => [t().name, t] as const))('conversion delay on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  const saveMetric = (m: MetricInput): Promise<unknown> =>
    db.query(
      `INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project_id, key) DO UPDATE SET definition = EXCLUDED.definition`,
      [PROJECT, m.key, m.name, JSON.stringify(m)],
    );

  beforeAll(async () => {
    db = await target.open();
    await db.query(`INSERT INTO organizations (id, name) VALUES ('org-1', 'Org') ON CONFLICT DO NOTHING`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'org-1', $1, $1)`, [PROJECT]);
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ($1, 'exp-d', 'exp-d', $2, 'running')`, [
      PROJECT,
      JSON.stringify({ key: 'exp-d', name: 'exp-d', metrics: CATALOGUE.experiments['exp-d'] }),
    ]);
  });
  afterAll(async () => {
    await target.dispose();
  });
  beforeEach(async () => {
    for (const table of TABLES) {
      await db.query(`DELETE FROM ${table}`);
    }
    for (const m of METRICS) {
      await saveMetric(m);
    }
  });

  const apply = async (events: readonly PipelineEvent[]) => processBatch(db, events.map((e) => toRecord(e)));
  const x = (unit: string, at: number): PipelineEvent => exposure(unit, 'exp-d', 'control', at, undefined, PROJECT);
  const buy = (unit: string, at: number, amount: number): PipelineEvent => track(unit, 'buy', at, amount, undefined, PROJECT);
  const visit = (unit: string, at: number): PipelineEvent => track(unit, 'visit', at, undefined, undefined, PROJECT);
  /** value/pre_value of each metric of a unit, in hundredths. */
  const totalsOf = async (unit: string): Promise<Record<string, [number, number]>> => {
    const state = await readState(db);
    const prefix = `${PROJECT}/${ENV}/exp-d/${unit}/`;
    return Object.fromEntries(state.totals.filter((t) => t.key.startsWith(prefix)).map((t) => [t.key.slice(prefix.length), [t.value, t.preValue]]));
  };

  it(`${target.name}: a negative delay counts a conversion dated shortly before the exposure (a client clock behind the server), in either arrival order`, async () => {
    // The tester's scenario: the server logs the exposure; the user buys 30 s later on a browser
    // whose clock is 2 minutes slow, so the purchase is dated 90 s before the exposure.
    const skewed = T0 + 30_000 - 2 * MINUTE;
    const exposureFirst = [x('u1', T0), buy('u1', skewed, 10)];
    const purchaseFirst = [buy('u2', skewed, 10), x('u2', T0)];

    await apply(exposureFirst.slice(0, 1));
    await apply(exposureFirst.slice(1));
    await apply(purchaseFirst.slice(0, 1));
    await apply(purchaseFirst.slice(1));

    for (const unit of ['u1', 'u2']) {
      const t = await totalsOf(unit);
      // Without a delay the purchase is pre-exposure only; with one it is the conversion, and not also pre-exposure.
      expect([unit, t.bought, t['bought-skewed'], t['spend-skewed']]).toEqual([unit, [0, 100], [100, 0], [1000, 0]]);
    }
    expect(await readState(db)).toEqual(groundTruth([...exposureFirst, ...purchaseFirst], undefined, CATALOGUE));
  });

  it(`${target.name}: with a negative delay, an event before the delay is pre-exposure only and none counts twice`, async () => {
    const events = [x('u1', T0), buy('u1', T0 - 3 * HOUR, 1), buy('u1', T0 - HOUR - 1, 2), buy('u1', T0 - HOUR, 4), buy('u1', T0 + HOUR, 8), buy('u1', T0 + 23 * HOUR - 1, 16), buy('u1', T0 + 23 * HOUR, 32)];

    await apply(events);

    // [T0 - 1 h, T0 + 23 h) is the analysis window; [T0 - 14 days, T0 - 1 h) the pre-period.
    expect((await totalsOf('u1'))['spend-skewed']).toEqual([2800, 300]);
    expect(await readState(db)).toEqual(groundTruth(events, undefined, CATALOGUE));
  });

  it(`${target.name}: a positive delay (retention) skips the first day, counts the next two and leaves the skipped day out of the pre-period`, async () => {
    const events = [
      x('u1', T0),
      visit('u1', T0 - HOUR),
      visit('u1', T0),
      visit('u1', T0 + 23 * HOUR),
      visit('u1', T0 + 24 * HOUR),
      visit('u1', T0 + 50 * HOUR),
      visit('u1', T0 + 72 * HOUR - 1),
      visit('u1', T0 + 72 * HOUR),
      buy('u1', T0 + 11 * HOUR, 5),
      buy('u1', T0 + 13 * HOUR, 7),
    ];

    await apply(events);

    const t = await totalsOf('u1');
    expect(t['visits-d2-3']).toEqual([300, 100]);
    // The ratio: 7 over the 5 visits from T0 + 12 h on; before the exposure, 0 over 1 visit.
    const ratio = (await readState(db)).totals.find((r) => r.key.endsWith('/u1/spend-per-visit-late'));
    expect(ratio).toEqual({ key: `${PROJECT}/${ENV}/exp-d/u1/spend-per-visit-late`, value: 700, preValue: 0, denominator: 500, preDenominator: 100 });
    expect(await readState(db)).toEqual(groundTruth(events, undefined, CATALOGUE));
  });

  it(`${target.name}: a rebuild after the delay changes counts under the new delay, and a stop ends the window whatever the delay`, async () => {
    const events = [x('u1', T0), visit('u1', T0 + 2 * HOUR), visit('u1', T0 + 30 * HOUR), visit('u1', T0 + 40 * HOUR)];
    await apply(events);
    expect((await totalsOf('u1'))['visits-d2-3']).toEqual([200, 0]);

    const changed = METRICS.map((m) => (m.key === 'visits-d2-3' ? { ...m, delayHours: 1 } : m));
    await saveMetric(changed.find((m) => m.key === 'visits-d2-3')!);
    await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment: 'exp-d' }));
    // [T0 + 1 h, T0 + 49 h): all three visits.
    expect((await totalsOf('u1'))['visits-d2-3']).toEqual([300, 0]);
    expect(await readState(db)).toEqual(groundTruth(events, undefined, { ...CATALOGUE, metrics: changed }));

    // Stopped at T0 + 35 h: the visit at T0 + 40 h leaves the totals, delay or not.
    const stop = new Date(T0 + 35 * HOUR).toISOString();
    try {
      await db.withTransaction(async (tx) => {
        await tx.query(`UPDATE experiments SET status = 'stopped', definition = jsonb_set(definition, '{stoppedAt}', to_jsonb($2::text)) WHERE project_id = $1 AND key = 'exp-d'`, [PROJECT, stop]);
        return recountEventsSince(tx, { projectId: PROJECT, experiment: 'exp-d' }, new Date(stop));
      });
      expect((await totalsOf('u1'))['visits-d2-3']).toEqual([200, 0]);
    } finally {
      await db.query(`UPDATE experiments SET status = 'running', definition = definition - 'stoppedAt' WHERE project_id = $1 AND key = 'exp-d'`, [PROJECT]);
    }
  });
});

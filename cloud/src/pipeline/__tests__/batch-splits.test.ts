/**
 * The aggregator's batch statements are one set-based plan per batch (aggregate.ts), tuned for
 * speed: which rows meet which is decided by joins and by the statement's snapshot, not by the
 * order events arrive in. The same randomized events — exposures that arrive after their unit's
 * events, earlier exposures that move a unit's exposure time, units exposed to two variations,
 * events counted for several units (`units`), metrics with windows, delays, caps and ratios — are
 * applied in several batch splits and orders; every split must leave exactly the totals of the
 * fixtures' independent ground truth and of a rebuild from the stored events, and results rollups
 * equal to a recomputation from scratch out of the totals and exposures (migration 0005's invariant).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricInput, PipelineEvent } from '@xp/shared';
import type { Database, Queryable } from '../../store/db.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { processBatch, rebuildTotals } from '../aggregate.js';
import type { AggregateState, Catalogue } from './fixtures.js';
import { CATALOGUE, DAY, ENV, T0, exposure, groundTruth, prng, readState, toRecord, track } from './fixtures.js';

const PROJECT = 'proj-splits';

const CATALOGUE_SPLITS: Catalogue = {
  metrics: [
    ...CATALOGUE.metrics,
    { key: 'purchased-early', name: 'Purchased (from a day before)', type: 'conversion', event: 'purchase', delayHours: -24 },
    { key: 'sessions-retained', name: 'Sessions on days 2-3', type: 'count', event: 'session', delayHours: 24, windowHours: 48 },
    { key: 'revenue-capped', name: 'Revenue, capped', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'absolute', value: 150 } },
    // No such property on any event: sums the events' value.
    { key: 'tips', name: 'Tips', type: 'sum', event: 'tip', property: 'gratuity' },
  ],
  experiments: {
    ...CATALOGUE.experiments,
    'exp-a': { ...CATALOGUE.experiments['exp-a']!, secondary: [...CATALOGUE.experiments['exp-a']!.secondary, 'purchased-early', 'sessions-retained', 'revenue-capped', 'tips'] },
  },
};
const EXPERIMENTS = Object.keys(CATALOGUE_SPLITS.experiments);
const TABLES = ['processed_events', 'exposures', 'unit_events', 'unit_metric_totals', 'results_rollups'];

interface Scenario {
  /** Events the ground truth models (one unit each). */
  readonly plain: PipelineEvent[];
  /** Tracked events that also count for other units (`units`), which the ground truth does not model. */
  readonly shared: PipelineEvent[];
}

function generate(seed: number): Scenario {
  const random = prng(seed);
  const plain: PipelineEvent[] = [];
  const shared: PipelineEvent[] = [];
  const variations: Record<string, string[]> = { 'exp-a': ['control', 'treatment'], 'exp-b': ['v1', 'v2'] };
  const id = (prefix: string): string => `${prefix}-${seed}-${String(plain.length + shared.length).padStart(6, '0')}`;
  for (let u = 0; u < 40; u++) {
    const unit = `user-${u}`;
    const exposedAt = T0 + Math.floor(random() * 3 * DAY);
    for (const [experiment, share] of [['exp-a', 0.85], ['exp-b', 0.6]] as const) {
      if (random() >= share) {
        continue;
      }
      const options = variations[experiment]!;
      const variation = options[Math.floor(random() * options.length)]!;
      plain.push(exposure(unit, experiment, variation, exposedAt, id('x'), PROJECT));
      if (random() < 0.25) {
        // An earlier exposure (it moves the unit's exposure time), sometimes to the other variation (excluded).
        const other = random() < 0.5 ? variation : options.find((v) => v !== variation)!;
        plain.push(exposure(unit, experiment, other, exposedAt - Math.floor(random() * 3 * DAY), id('x'), PROJECT));
      }
    }
    const tracked = Math.floor(random() * 9);
    for (let k = 0; k < tracked; k++) {
      // From before the pre-exposure window to after the 48 h and retention windows.
      const at = exposedAt + Math.floor((random() * 26 - 16) * DAY);
      const r = random();
      if (r < 0.35) {
        plain.push(track(unit, 'purchase', at, Math.floor(random() * 30_000) / 100, id('t'), PROJECT));
      } else if (r < 0.6) {
        plain.push(track(unit, 'session', at, undefined, id('t'), PROJECT));
      } else if (r < 0.75) {
        plain.push(track(unit, 'page_view', at, undefined, id('t'), PROJECT));
      } else if (r < 0.9) {
        const tip = track(unit, 'tip', at, undefined, id('t'), PROJECT);
        plain.push({ ...tip, event: { ...tip.event, value: Math.floor(random() * 1_000) / 100 } } as PipelineEvent);
      } else {
        // A name no metric reads.
        plain.push(track(unit, 'scroll', at, undefined, id('t'), PROJECT));
      }
    }
    if (u % 5 === 0) {
      // Bought by the unit for its team: it also counts for the team's exposures, and once only for
      // a team that is the unit itself.
      const team = `user-${(u + 5) % 40}`;
      const at = exposedAt + Math.floor(random() * 2 * DAY);
      const buy = track(unit, 'purchase', at, 42.5, id('t'), PROJECT);
      shared.push({ ...buy, event: { ...buy.event, units: { team, self: unit } } } as PipelineEvent);
    }
  }
  return { plain, shared };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Ways to deliver the events: batch boundaries and orders. */
function splits(events: readonly PipelineEvent[], seed: number): { name: string; batches: PipelineEvent[][] }[] {
  const random = prng(seed);
  const chunk = (list: readonly PipelineEvent[], size: () => number): PipelineEvent[][] => {
    const out: PipelineEvent[][] = [];
    for (let i = 0; i < list.length; ) {
      const n = size();
      out.push(list.slice(i, i + n));
      i += n;
    }
    return out;
  };
  const tracksFirst = [...events].sort((a, b) => (a.event.type === b.event.type ? 0 : a.event.type === 'track' ? -1 : 1));
  return [
    { name: 'one batch', batches: [[...events]] },
    { name: 'one batch, tracked events first', batches: [tracksFirst] },
    { name: 'tracked events, then exposures in reverse, one batch each', batches: [tracksFirst.filter((e) => e.event.type === 'track'), tracksFirst.filter((e) => e.event.type === 'exposure').reverse()] },
    { name: 'shuffled, batches of 7', batches: chunk(shuffled(events, random), () => 7) },
    { name: 'shuffled, batches of 1 to 60', batches: chunk(shuffled(events, random), () => 1 + Math.floor(random() * 60)) },
  ];
}

/** The rollups' sums per group, whatever the number of delta rows (zero groups left out). */
const SUMMED_ROLLUPS = `
  SELECT project_id, environment, experiment, variation, bucket, metric, cap::text AS cap,
         sum(units)::text AS units, sum(excluded)::text AS excluded,
         ${['v', 'vv', 'p', 'pp', 'vp', 'd', 'dd', 'vd', 'q', 'qq', 'pq', 'vq', 'dp', 'dq'].map((c) => `trim_scale(sum(${c}))::text AS ${c}`).join(', ')}
  FROM results_rollups WHERE project_id = $1
  GROUP BY project_id, environment, experiment, variation, bucket, metric, cap
  HAVING sum(units) <> 0 OR sum(excluded) <> 0 OR sum(v) <> 0 OR sum(vv) <> 0 OR sum(p) <> 0 OR sum(d) <> 0 OR sum(q) <> 0
  ORDER BY experiment COLLATE "C", variation COLLATE "C", bucket, metric COLLATE "C"`;

/** What the rollups must sum to, from scratch: unit counts from the exposures, capped sums from the totals. */
const EXPECTED_ROLLUPS = `
  WITH k AS (
    SELECT project_id, key, CASE WHEN definition #>> '{capping,type}' = 'absolute' THEN (definition #>> '{capping,value}')::numeric END AS cap
    FROM metrics),
  c AS (
    SELECT x.project_id, x.environment, x.experiment, x.variation, date_bin('1 hour', x.exposed_at, timestamptz '2000-01-01 00:00:00+00') AS bucket,
           t.metric, k.cap, least(t.value, k.cap) AS v, least(t.pre_value, k.cap) AS p, t.denominator AS d, t.pre_denominator AS q
    FROM unit_metric_totals t
    JOIN exposures x ON x.project_id = t.project_id AND x.environment = t.environment AND x.experiment = t.experiment AND x.unit_id = t.unit_id
    LEFT JOIN k ON k.project_id = t.project_id AND k.key = t.metric
    WHERE NOT x.excluded AND t.project_id = $1)
  SELECT project_id, environment, experiment, variation, bucket, metric, cap, units, excluded, v, vv, p, pp, vp, d, dd, vd, q, qq, pq, vq, dp, dq FROM (
    SELECT project_id, environment, experiment, variation, date_bin('1 hour', exposed_at, timestamptz '2000-01-01 00:00:00+00') AS bucket, '' AS metric,
           NULL::text AS cap, (count(*) FILTER (WHERE NOT excluded))::text AS units, (count(*) FILTER (WHERE excluded))::text AS excluded,
           '0' AS v, '0' AS vv, '0' AS p, '0' AS pp, '0' AS vp, '0' AS d, '0' AS dd, '0' AS vd, '0' AS q, '0' AS qq, '0' AS pq, '0' AS vq, '0' AS dp, '0' AS dq
    FROM exposures WHERE project_id = $1
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT project_id, environment, experiment, variation, bucket, metric, cap::text, '0', '0',
           trim_scale(sum(v))::text, trim_scale(sum(v * v))::text, trim_scale(sum(p))::text, trim_scale(sum(p * p))::text, trim_scale(sum(v * p))::text,
           trim_scale(sum(d))::text, trim_scale(sum(d * d))::text, trim_scale(sum(v * d))::text, trim_scale(sum(q))::text, trim_scale(sum(q * q))::text,
           trim_scale(sum(p * q))::text, trim_scale(sum(v * q))::text, trim_scale(sum(d * p))::text, trim_scale(sum(d * q))::text
    FROM c GROUP BY project_id, environment, experiment, variation, bucket, metric, cap
    HAVING sum(v) <> 0 OR sum(v * v) <> 0 OR sum(p) <> 0 OR sum(d) <> 0 OR sum(q) <> 0) g
  ORDER BY experiment COLLATE "C", variation COLLATE "C", bucket, metric COLLATE "C"`;

describe.each(TARGETS.map((t) => [t().name, t] as const))('batch splits on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
    await db.query(`INSERT INTO organizations (id, name) VALUES ('org-1', 'Org') ON CONFLICT DO NOTHING`);
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'org-1', $1, $1)`, [PROJECT]);
    for (const m of CATALOGUE_SPLITS.metrics as MetricInput[]) {
      await db.query('INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4)', [PROJECT, m.key, m.name, JSON.stringify(m)]);
    }
    for (const [key, metrics] of Object.entries(CATALOGUE_SPLITS.experiments)) {
      await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ($1, $2, $2, $3, 'running')`, [
        PROJECT,
        key,
        JSON.stringify({ key, name: key, metrics }),
      ]);
    }
  });
  afterAll(async () => {
    await target.dispose();
  });

  const rows = async (q: Queryable, sql: string): Promise<unknown[]> => (await q.query(sql, [PROJECT])).rows;

  /** Applies the batches to empty tables; returns the totals and exposures, and the summed rollups. */
  const run = async (batches: readonly PipelineEvent[][]): Promise<{ state: AggregateState; rollups: unknown[] }> => {
    for (const table of TABLES) {
      await db.query(`DELETE FROM ${table}`);
    }
    let processed = 0;
    for (const batch of batches) {
      const result = await processBatch(db, batch.map((e) => toRecord(e)));
      expect({ ...result, processed: 0 }).toEqual({ batchItemFailures: [], processed: 0, duplicates: 0, deadLettered: 0 });
      processed += result.processed;
    }
    expect(processed).toBe(batches.flat().length);
    const rollups = await rows(db, SUMMED_ROLLUPS);
    expect(rollups).toEqual(await rows(db, EXPECTED_ROLLUPS));
    return { state: await readState(db), rollups };
  };

  for (const seed of [1, 2]) {
    it(`${target.name}: seed ${seed}: every split and order leaves the ground truth's totals, and rollups equal to a recomputation`, async () => {
      const { plain } = generate(seed);
      const truth = groundTruth(plain, undefined, CATALOGUE_SPLITS);
      // The scenario exercises both parts of the batch statement: totals recomputed for exposures that
      // arrive after their events, and events added to exposures already stored.
      expect(truth.totals.length).toBeGreaterThan(100);
      expect(truth.exposures.some((x) => x.excluded)).toBe(true);
      let first: unknown[] | undefined;
      for (const split of splits(plain, seed)) {
        const { state, rollups } = await run(split.batches);
        expect({ split: split.name, state }).toEqual({ split: split.name, state: truth });
        first ??= rollups;
        expect({ split: split.name, rollups }).toEqual({ split: split.name, rollups: first });
      }
    });

    it(`${target.name}: seed ${seed}: events counted for several units give the same totals in every split as a rebuild from the stored events`, async () => {
      const { plain, shared } = generate(seed);
      const events = [...plain, ...shared];
      let first: { state: AggregateState; rollups: unknown[] } | undefined;
      for (const split of splits(events, seed + 100)) {
        const result = await run(split.batches);
        first ??= result;
        expect({ split: split.name, ...result }).toEqual({ split: split.name, ...first });
      }
      // The shared purchases count: the ground truth of the plain events alone differs.
      expect(first!.state.totals).not.toEqual(groundTruth(plain, undefined, CATALOGUE_SPLITS).totals);
      for (const experiment of EXPERIMENTS) {
        await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment }));
      }
      expect(await readState(db)).toEqual(first!.state);
      expect(await rows(db, SUMMED_ROLLUPS)).toEqual(first!.rollups);
      expect(await rows(db, SUMMED_ROLLUPS)).toEqual(await rows(db, EXPECTED_ROLLUPS));
    });
  }
});

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { withExplorer } from '../../pipeline/explorer-hook.js';
import type { StreamRecord } from '../../pipeline/aggregate.js';
import { exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, markPasswordChosen, mustAs, requestAs, startPlatform } from './harness.js';

const KEY = 'erasure';
const BASE = `/api/v1/projects/${KEY}`;
const OTHER = 'other-erasure';
const HOUR = 3_600_000;
/** Exposures start here, on the hour; purchases an hour after each unit's exposure. */
const AT = Date.UTC(2026, 10, 1);
const PASSWORD = 'purple monkey dishwasher 7';
const ERASED = ['u-gone', 'u-gone-2'];
const sha256 = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

/** The units the test sends, its ground truth: variation and purchase amounts. */
interface Unit {
  readonly id: string;
  readonly variation: 'control' | 'treatment';
  readonly purchases: number[];
}
const UNITS: Unit[] = [
  ...Array.from({ length: 12 }, (_, i): Unit => ({ id: `u${String(i).padStart(2, '0')}`, variation: i % 2 === 0 ? 'control' : 'treatment', purchases: Array.from({ length: i % 3 }, (_x, k) => i + 1 + k) })),
  { id: 'u-gone', variation: 'treatment', purchases: [40, 60] },
  { id: 'u-gone-2', variation: 'control', purchases: [25] },
];

/** Units per variation and, per metric, the variation totals: what the results must say of `units`. */
function truth(units: readonly Unit[]): { variations: number[]; purchases: number[]; revenue: number[] } {
  const arms = ['control', 'treatment'] as const;
  const of = (v: string) => units.filter((u) => u.variation === v);
  return {
    variations: arms.map((v) => of(v).length),
    purchases: arms.map((v) => of(v).reduce((n, u) => n + u.purchases.length, 0)),
    revenue: arms.map((v) => of(v).reduce((n, u) => n + u.purchases.reduce((a, b) => a + b, 0), 0)),
  };
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('erasing units (data-subject deletion), on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  const tokens: Record<string, string> = {};
  let projectId: string;
  let otherId: string;
  const must = (method: string, path: string, body?: unknown): Promise<any> => mustAs(p, owner, method, path, body);
  const send = async (events: readonly (PipelineEvent | StreamRecord)[]): Promise<{ processed: number; deadLettered: number; failed: number }> => {
    const out = await withExplorer()(p.db, events.map((e) => ('data' in e ? e : toRecord(e))), { logger: p.services.deps.logger });
    return { processed: out.processed, deadLettered: out.deadLettered, failed: out.batchItemFailures.length };
  };
  const results = async (query = ''): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/exp/results${query}`));
  const observed = (r: ExperimentResults) => ({
    variations: r.variations.map((v) => v.units),
    purchases: r.metrics.find((m) => m.key === 'purchases')!.variations.map((v) => v.total),
    revenue: r.metrics.find((m) => m.key === 'revenue')!.variations.map((v) => v.total),
  });
  /** What the results show, from the rollups (a `from` on the hour) and from a scan of the units (one millisecond off). */
  const bothPaths = async (): Promise<[ExperimentResults, ExperimentResults]> => [await results(`?from=${new Date(AT - HOUR).toISOString()}`), await results(`?from=${new Date(AT - HOUR - 1).toISOString()}`)];
  const numbers = (r: ExperimentResults) => ({
    units: r.units,
    variations: r.variations.map((v) => v.units),
    metrics: r.metrics.map((m) => [m.key, m.variations.map((v) => [v.units, v.total, v.comparison?.effect ?? null, v.comparison?.pValue ?? null])]),
  });
  /** The rollups summed per variation and metric, against the same sums computed afresh from exposures and totals. */
  const rollupsAndRecount = async (): Promise<[unknown[], unknown[]]> => {
    const rolled = await p.db.query(
      `SELECT variation, metric, sum(units)::int AS units, sum(excluded)::int AS excluded, sum(v)::float8 AS v, sum(vv)::float8 AS vv
       FROM results_rollups WHERE project_id = $1 AND experiment = 'exp' GROUP BY variation, metric
       HAVING sum(units) <> 0 OR sum(excluded) <> 0 OR sum(v) <> 0 OR sum(vv) <> 0 ORDER BY variation, metric`,
      [projectId],
    );
    const fresh = await p.db.query(
      `SELECT variation, metric, units, excluded, v, vv FROM (
         SELECT variation, '' AS metric, count(*) FILTER (WHERE NOT excluded)::int AS units, count(*) FILTER (WHERE excluded)::int AS excluded, 0::float8 AS v, 0::float8 AS vv
         FROM exposures WHERE project_id = $1 AND experiment = 'exp' GROUP BY variation
         UNION ALL
         SELECT x.variation, t.metric, 0, 0, sum(t.value)::float8, sum(t.value * t.value)::float8
         FROM unit_metric_totals t JOIN exposures x USING (project_id, environment, experiment, unit_id)
         WHERE t.project_id = $1 AND t.experiment = 'exp' AND NOT x.excluded GROUP BY x.variation, t.metric) s
       WHERE units <> 0 OR excluded <> 0 OR v <> 0 OR vv <> 0 ORDER BY variation, metric`,
      [projectId],
    );
    return [rolled.rows, fresh.rows];
  };
  const timeline = async (unit: string): Promise<string[]> =>
    ((await must('GET', `${BASE}/units/${encodeURIComponent(unit)}/timeline`)) as { items: { name: string; type: string }[] }).items.map((e) => `${e.type} ${e.name}`);
  const rows = async (table: string, id: string, unit: string): Promise<number> =>
    (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1 AND unit_id = $2`, [id, unit])).rows[0]!.n;
  const sticky = async (id: string): Promise<string[]> => (await p.db.query<{ unit_key: string }>('SELECT unit_key FROM sticky_assignments WHERE project_id = $1 ORDER BY unit_key', [id])).rows.map((r) => r.unit_key);
  const deadLetters = async (): Promise<string[]> => (await p.db.query<{ partition_key: string }>('SELECT partition_key FROM dead_letters ORDER BY id')).rows.map((r) => r.partition_key);
  /** A record no pipeline event can be (an environment that is no key), naming the project and the unit: dead-lettered. */
  const poison = (project: string, unit: string, seq: string): StreamRecord => ({
    data: Buffer.from(JSON.stringify({ v: 1, projectId: project, environment: 'Not A Key!', receivedAt: AT, occurredAt: AT, event: { id: `poison-${seq}`, type: 'track', unitId: unit, timestamp: AT, name: 'purchase' } })),
    sequenceNumber: `9${seq.padStart(19, '0')}`,
    shardId: 'shardId-000000000009',
    partitionKey: unit,
  });

  beforeAll(async () => {
    p = await startPlatform(makeTarget(), { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    owner = await p.login(OWNER.email, OWNER.password);
    for (const role of ['admin', 'editor', 'analyst', 'viewer']) {
      const email = `${role}-erasure@example.com`;
      await must('POST', '/api/v1/users', { email, name: role, role, password: PASSWORD });
      await markPasswordChosen(p.db, email);
      tokens[role] = await p.login(email, PASSWORD);
    }
    for (const key of [KEY, OTHER]) {
      await must('POST', '/api/v1/projects', { key, name: key });
      await must('POST', `/api/v1/projects/${key}/metrics`, { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' });
      await must('POST', `/api/v1/projects/${key}/metrics`, { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' });
      await must('POST', `/api/v1/projects/${key}/experiments`, {
        key: 'exp',
        name: 'Exp',
        variations: [{ key: 'control' }, { key: 'treatment' }],
        metrics: { primary: ['purchases'], secondary: ['revenue'] },
        status: 'running',
        startedAt: new Date(AT - HOUR).toISOString(),
      });
    }
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [KEY])).rows[0]!.id;
    otherId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [OTHER])).rows[0]!.id;

    const events: PipelineEvent[] = [];
    UNITS.forEach((u, i) => {
      const at = AT + i * 60_000;
      events.push(exposure(u.id, 'exp', u.variation, at, undefined, projectId));
      for (const amount of u.purchases) {
        events.push(track(u.id, 'purchase', at + HOUR, amount, undefined, projectId));
      }
    });
    // A page view of u00 that names u-gone as another identifier: the explorer's row holds the id.
    const shared = track('u00', 'page_view', AT + 2 * HOUR, undefined, undefined, projectId);
    events.push({ ...shared, event: { ...shared.event, type: 'track', name: 'page_view', units: { userId: 'u-gone' } } });
    // The same unit id in another project.
    events.push(exposure('u-gone', 'exp', 'control', AT, undefined, otherId), track('u-gone', 'purchase', AT + HOUR, 5, undefined, otherId));
    const sent = await send([...events, poison(projectId, 'u-gone', '1'), poison(otherId, 'u-gone', '2')]);
    if (sent.failed !== 0 || sent.deadLettered !== 2 || sent.processed !== events.length) {
      throw new Error(`the events were not aggregated: ${JSON.stringify(sent)}`);
    }
    for (const [id, unit] of [[projectId, 'u-gone'], [projectId, 'u01'], [otherId, 'u-gone']] as const) {
      await p.db.query('INSERT INTO sticky_assignments (project_id, unit_key, assignments) VALUES ($1, $2, $3)', [id, `id||${unit}`, JSON.stringify({ exp__1: 'treatment' })]);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('shows every unit before the erasure, with rollups equal to a scan', async () => {
    const [rollup, scan] = await bothPaths();

    expect(observed(rollup)).toEqual(truth(UNITS));
    expect(rollup.metrics.map((m) => m.source)).toEqual(['rollup', 'rollup']);
    expect(numbers(rollup)).toEqual(numbers(scan));
    expect(await timeline('u-gone')).toEqual(['exposure exp', 'track purchase', 'track purchase', 'track page_view']);
  });

  it('refuses roles below admin (403) and bad bodies (400), changing nothing', async () => {
    for (const role of ['editor', 'analyst', 'viewer']) {
      const res = await requestAs(p, tokens[role]!, 'POST', `${BASE}/units/erase`, { unitIds: ['u-gone'] });
      expect([role, res.status, res.body.error.code, res.body.error.details]).toEqual([role, 403, 'FORBIDDEN', { permission: 'units:erase' }]);
    }
    const bad: unknown[] = [
      {},
      { unitIds: [] },
      { unitIds: 'u-gone' },
      { unitIds: [42] },
      { unitIds: [''] },
      { unitIds: ['x'.repeat(257)] },
      { unitIds: ['nul\u0000id'] },
      { unitIds: Array.from({ length: 1001 }, (_, i) => `u-${i}`) },
      { unitIds: ['u-gone'], environment: 'production' },
    ];
    for (const body of bad) {
      const res = await requestAs(p, owner, 'POST', `${BASE}/units/erase`, body);
      expect([JSON.stringify(body).slice(0, 60), res.status, res.body.error.code]).toEqual([JSON.stringify(body).slice(0, 60), 400, 'VALIDATION_FAILED']);
    }
    expect((await requestAs(p, owner, 'POST', '/api/v1/projects/no-such-project/units/erase', { unitIds: ['u-gone'] })).status).toBe(404);
    expect(await rows('exposures', projectId, 'u-gone')).toBe(1);
    expect(await timeline('u-gone')).toHaveLength(4);
  });

  it('erases the units in every table of the project, answers the counts, and leaves the other units and projects alone', async () => {
    // An admin may; ids that match nothing (never exposed) are counted, not refused.
    const res = await requestAs(p, tokens.admin!, 'POST', `${BASE}/units/erase`, { unitIds: [...ERASED, 'never-seen', 'u-gone'] });

    expect(res.status).toBe(200);
    // u-gone: 1 exposure, 2 purchases (each a totals row per metric: 2), its explorer rows (4 with the page view naming it), sticky, dead letter.
    expect(res.body).toEqual({ erased: { units: 3, exposures: 2, unitMetricTotals: 4, unitEvents: 4, explorerEvents: 6, stickyAssignments: 1, deadLetters: 1, dimensionValues: 0 } });
    for (const unit of ERASED) {
      for (const table of ['exposures', 'unit_metric_totals', 'unit_events', 'explorer_events']) {
        expect({ unit, table, rows: await rows(table, projectId, unit) }).toEqual({ unit, table, rows: 0 });
      }
      expect(await timeline(unit)).toEqual([]);
    }
    expect(await sticky(projectId)).toEqual(['id||u01']);
    // The other project's u-gone keeps everything.
    expect([await rows('exposures', otherId, 'u-gone'), await rows('unit_events', otherId, 'u-gone'), await rows('explorer_events', otherId, 'u-gone')]).toEqual([1, 1, 2]);
    expect(await sticky(otherId)).toEqual(['id||u-gone']);
    expect(await deadLetters()).toEqual(['u-gone']);
    const kept = Buffer.from((await p.db.query<{ data: Uint8Array }>('SELECT data FROM dead_letters')).rows[0]!.data).toString('utf8');
    expect(kept).toContain(otherId);
    // Another unit's own events stay (u00's page view is u00's), and so does its timeline but for the row naming u-gone.
    expect(await rows('unit_events', projectId, 'u00')).toBe(1);
    expect(await timeline('u01')).toEqual(['exposure exp', 'track purchase']);
    // The erasure is recorded by hash only.
    const erased = await p.db.query<{ unit_hash: string }>('SELECT unit_hash FROM erased_units WHERE project_id = $1 ORDER BY unit_hash', [projectId]);
    expect(erased.rows.map((r) => r.unit_hash)).toEqual([...ERASED, 'never-seen'].map(sha256).sort());
  });

  it('drops exactly those units from the results, with rollups equal to a recount and to a scan', async () => {
    const remaining = UNITS.filter((u) => !ERASED.includes(u.id));
    const [rollup, scan] = await bothPaths();
    const [rolled, fresh] = await rollupsAndRecount();

    expect(observed(rollup)).toEqual(truth(remaining));
    expect(observed(scan)).toEqual(truth(remaining));
    expect(rollup.units.analysed).toBe(remaining.length);
    expect(rollup.metrics.map((m) => m.source)).toEqual(['rollup', 'rollup']);
    expect(numbers(rollup)).toEqual(numbers(scan));
    expect(rolled).toEqual(fresh);
    expect(rolled.length).toBeGreaterThan(0);
  });

  it('records one unit.erased audit entry with the hashes and counts, never the ids', async () => {
    const audit = (await must('GET', `/api/v1/audit?action=unit.erased&project=${KEY}`)) as { items: { resourceKey: string; projectId: string; actorEmail: string; diff: unknown }[] };

    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]).toMatchObject({ resourceKey: KEY, projectId, actorEmail: 'admin-erasure@example.com' });
    const text = JSON.stringify(audit.items[0]!.diff);
    for (const unit of [...ERASED, 'never-seen']) {
      expect(text).toContain(sha256(unit));
      expect(text).not.toContain(`"${unit}"`);
    }
    expect(text).not.toContain('u-gone');
    expect(text).toContain('"unitMetricTotals":4');
    expect(p.logs.filter((l) => l.startsWith('units erased')).join('\n')).not.toContain('u-gone');
  });

  it('drops late events of an erased unit dated before the erasure, and counts those after it as new data', async () => {
    const now = p.now.value.getTime();
    const before = observed(await results());
    // Still in the stream: its exposure again, a purchase, and another id's event naming it.
    const late = [
      exposure('u-gone', 'exp', 'treatment', AT, undefined, projectId),
      track('u-gone', 'purchase', AT + 3 * HOUR, 99, undefined, projectId),
      // Happened before the erasure, arrived after it (an SDK's queue).
      { ...track('u-gone-2', 'purchase', now - HOUR, 11, undefined, projectId), receivedAt: now + HOUR },
    ];
    const dropped = await send(late);

    expect(dropped).toEqual({ processed: 0, deadLettered: 0, failed: 0 });
    expect(p.logs.some((l) => l.startsWith('aggregator drops events of erased units') && l.includes('"events":3') && l.includes('unit erased'))).toBe(true);
    expect(observed(await results())).toEqual(before);
    for (const unit of ERASED) {
      expect([await rows('exposures', projectId, unit), await rows('unit_events', projectId, unit)]).toEqual([0, 0]);
      expect(await timeline(unit)).toEqual([]);
    }
    expect(await deadLetters()).toEqual(['u-gone']);

    // After the erasure: the unit comes back as a new unit, with only what it did since.
    const fresh = await send([exposure('u-gone', 'exp', 'treatment', now + HOUR, undefined, projectId), track('u-gone', 'purchase', now + 2 * HOUR, 7, undefined, projectId)]);
    const remaining = UNITS.filter((u) => !ERASED.includes(u.id));
    const [rollup, scan] = await bothPaths();
    const [rolled, recount] = await rollupsAndRecount();

    expect(fresh).toEqual({ processed: 2, deadLettered: 0, failed: 0 });
    expect(observed(rollup)).toEqual(truth([...remaining, { id: 'u-gone', variation: 'treatment', purchases: [7] }]));
    expect(numbers(rollup)).toEqual(numbers(scan));
    expect(rolled).toEqual(recount);
    expect(await timeline('u-gone')).toEqual(['exposure exp', 'track purchase']);
  });

  it('erases again later: the new data goes too', async () => {
    p.now.value = new Date(p.now.value.getTime() + 3 * HOUR);
    const res = await requestAs(p, owner, 'POST', `${BASE}/units/erase`, { unitIds: ['u-gone'] });

    expect(res.body).toEqual({ erased: { units: 1, exposures: 1, unitMetricTotals: 2, unitEvents: 1, explorerEvents: 2, stickyAssignments: 0, deadLetters: 0, dimensionValues: 0 } });
    expect(observed(await results())).toEqual(truth(UNITS.filter((u) => !ERASED.includes(u.id))));
    const at = await p.db.query<{ erased_at: Date }>('SELECT erased_at FROM erased_units WHERE project_id = $1 AND unit_hash = $2', [projectId, sha256('u-gone')]);
    expect(at.rows[0]!.erased_at.toISOString()).toBe(p.now.value.toISOString());
  });
});

/**
 * Results of an experiment whose split moved while running (sticky bucketing): the effects are
 * estimated within one split phase (the current one by default). The A/A scenario: three arms
 * 50/25/25, 1,200 units that all convert 30%; the split moves to 20/20/60; 1,200 new units that all
 * convert 5%. Every arm converts alike in each period, yet pooling the periods makes s2 (mostly
 * exposed in the low period) look 46% worse — Simpson's paradox — so pooling is only on request,
 * with a warning.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { experimentResultsSchema } from '../../domain/results.js';
import type { ExperimentResults } from '../../domain/results.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';

const PROJECT = 'phases';
const BASE = `/api/v1/projects/${PROJECT}`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KEY = 'aa';

describe.each(TARGETS.map((t) => [t().name, t] as const))('results by split phase, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  /** The harness's clock at start (a whole hour): the experiment started 2 days before; the split moves half an hour after it. */
  let T: number;
  let movedAt: number;

  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = async (events: readonly PipelineEvent[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 500) {
      const out = await processBatch(p.db, events.slice(i, i + 500).map((e) => toRecord(e)));
      expect(out.batchItemFailures).toEqual([]);
    }
  };
  /** Units of each arm exposed from `at` (one a second), the first `rate` of every arm converting a minute later. */
  const expose = async (prefix: string, arms: Record<string, number>, at: number, converts: (i: number) => boolean, key = KEY): Promise<void> => {
    const events: PipelineEvent[] = [];
    for (const [variation, n] of Object.entries(arms)) {
      for (let i = 0; i < n; i++) {
        const unit = `${prefix}-${variation}-${i}`;
        const time = at + i * 1000;
        events.push(exposure(unit, key, variation, time, undefined, projectId));
        if (converts(i)) {
          events.push(track(unit, 'purchase', time + MINUTE, undefined, undefined, projectId));
        }
      }
    }
    await send(events);
  };
  const results = async (query = ''): Promise<ExperimentResults> => experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/${KEY}/results${query}`));
  const comparisons = (r: ExperimentResults) => r.metrics[0]!.variations.slice(1).map((v) => ({ variation: v.variation, effect: v.comparison!.effect, significant: v.comparison!.significant }));

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    T = p.now.value.getTime();
    if (T % HOUR !== 0) {
      throw new Error('the harness clock is expected on a whole hour');
    }
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Phases' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
    await must('POST', `${BASE}/metrics`, { key: 'converted', name: 'Converted', type: 'conversion', event: 'purchase' });
    await must('POST', `${BASE}/experiments`, {
      key: KEY,
      name: 'A/A',
      variations: [
        { key: 'control', weight: 50 },
        { key: 's1', weight: 25 },
        { key: 's2', weight: 25 },
      ],
      metrics: { primary: ['converted'], secondary: [], guardrails: [] },
      status: 'running',
      startedAt: new Date(T - 2 * DAY).toISOString(),
      stickyBucketing: { enabled: true },
    });
    // Period 1: 1,200 units 50/25/25, 30% convert in every arm.
    await expose('p1', { control: 600, s1: 300, s2: 300 }, T - DAY, (i) => i % 10 < 3);
    // The split moves off the hour.
    movedAt = T + 30 * MINUTE;
    p.now.value = new Date(movedAt);
    const current = await must('GET', `${BASE}/experiments/${KEY}`);
    const moved = await must(
      'PUT',
      `${BASE}/experiments/${KEY}`,
      {
        ...current.definition,
        variations: [
          { key: 'control', weight: 20 },
          { key: 's1', weight: 20 },
          { key: 's2', weight: 60 },
        ],
      },
      current.version,
    );
    if (moved.definition.splitHistory?.[0]?.until !== new Date(movedAt).toISOString()) {
      throw new Error(`the move was not recorded: ${JSON.stringify(moved.definition.splitHistory)}`);
    }
    // A few units of the new split in the partial hour after the move (none converts): the default phase leaves them out.
    await expose('early', { control: 2, s1: 2, s2: 6 }, T + 45 * MINUTE, () => false);
    // Period 2: 1,200 new units 20/20/60, 5% convert in every arm.
    await expose('p2', { control: 240, s1: 240, s2: 720 }, T + 2 * HOUR, (i) => i % 20 === 0);
    // The current phase then spans a day: its bounds are rounded to whole hours (the rollups serve).
    p.now.value = new Date(T + DAY + HOUR);
    // A session of a day ago has expired.
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it('analyses the current phase by default, from the next whole hour after the move: no effect in an A/A test', async () => {
    const r = await results();

    expect(r.filters.phase).toEqual({ index: 1, count: 2, from: new Date(T + HOUR).toISOString(), to: null, splitChangedAt: new Date(movedAt).toISOString(), pooled: false });
    expect(r.filters.from).toBeNull();
    expect(r.warnings).toEqual([]);
    expect(r.variations.map((v) => [v.key, v.units, v.expectedShare])).toEqual([
      ['control', 240, 0.2],
      ['s1', 240, 0.2],
      ['s2', 720, 0.6],
    ]);
    expect(r.srm.flagged).toBe(false);
    expect(r.metrics[0]!.variations.map((v) => v.total)).toEqual([12, 12, 36]);
    expect(comparisons(r)).toEqual([
      { variation: 's1', effect: 0, significant: false },
      { variation: 's2', effect: 0, significant: false },
    ]);
    // The hour-aligned bound keeps the rollups answering.
    expect(r.metrics[0]!.source).toBe('rollup');
    // The series starts with the phase and ends at the totals.
    const hourly = await results('?interval=hour');
    expect(hourly.timeSeries.points.length).toBeGreaterThan(0);
    expect(hourly.timeSeries.points.every((pt) => Date.parse(pt.bucket) >= T + HOUR)).toBe(true);
    expect(hourly.timeSeries.points.at(-1)!.units).toEqual({ control: 240, s1: 240, s2: 720 });
    const daily = r.timeSeries.points;
    expect(daily.map((pt) => pt.bucket)).toEqual([new Date(T + HOUR).toISOString()]);
    expect(daily[0]!.metrics.map((m) => [m.variation, m.effect])).toEqual([
      ['s1', 0],
      ['s2', 0],
    ]);
  });

  it('pools every phase only when asked (phase=all): the confounded effect, flagged by a warning', async () => {
    const r = await results('?phase=all');

    expect(r.filters.phase).toEqual({ index: null, count: 2, from: null, to: null, splitChangedAt: null, pooled: true });
    expect(r.warnings).toEqual([{ code: 'SPLIT_PERIODS_POOLED', message: expect.stringContaining("Simpson's paradox"), metric: null, variation: null, unitIds: [], share: null, unitCount: null }]);
    expect(r.variations.map((v) => v.units)).toEqual([842, 542, 1026]);
    // Control 192/842 = 22.8%, s2 126/1026 = 12.3%: −46%, "significant", though every arm converts alike in each period.
    const s2 = comparisons(r)[1]!;
    expect(s2.effect).toBeCloseTo(126 / 1026 / (192 / 842) - 1, 10);
    expect(s2.effect).toBeLessThan(-0.4);
    expect(s2.significant).toBe(true);
    // The SRM check still expects each period's units in its own split.
    expect(r.srm.flagged).toBe(false);
    const hourly = await results('?phase=all&interval=hour');
    // The grid starts with the experiment's first hour, a day before its first units.
    expect(Date.parse(hourly.timeSeries.points[0]!.bucket)).toBe(T - 2 * DAY);
    expect(hourly.timeSeries.points[0]!.units).toEqual({ control: 0, s1: 0, s2: 0 });
    expect(hourly.timeSeries.points.find((pt) => (pt.units.control ?? 0) > 0)!.bucket).toBe(new Date(T - DAY).toISOString());
    expect(hourly.timeSeries.points.at(-1)!.units).toEqual({ control: 842, s1: 542, s2: 1026 });
  });

  it('selects an earlier phase by index, with its split', async () => {
    const r = await results('?phase=0');

    expect(r.filters.phase).toEqual({ index: 0, count: 2, from: null, to: new Date(T).toISOString(), splitChangedAt: null, pooled: false });
    expect(r.warnings).toEqual([]);
    expect(r.variations.map((v) => [v.key, v.units, v.expectedShare])).toEqual([
      ['control', 600, 0.5],
      ['s1', 300, 0.25],
      ['s2', 300, 0.25],
    ]);
    expect(r.metrics[0]!.variations.map((v) => v.total)).toEqual([180, 90, 90]);
    expect(comparisons(r).map((c) => [c.effect, c.significant])).toEqual([
      [0, false],
      [0, false],
    ]);
    expect(r.metrics[0]!.source).toBe('rollup');
    // The explicit current phase is the default one.
    expect((await results('?phase=1')).variations.map((v) => v.units)).toEqual([240, 240, 720]);
    expect((await results('?phase=current')).filters.phase.index).toBe(1);
  });

  it('intersects the phase with from / to, and warns when a range pools phases', async () => {
    const within = await results(`?from=${encodeURIComponent(new Date(T + 2 * HOUR + 10 * MINUTE).toISOString())}`);
    expect(within.filters.phase.index).toBe(1);
    expect(within.filters.from).toBe(new Date(T + 2 * HOUR + 10 * MINUTE).toISOString());
    // Units one a second from T + 2 h: s2's 720 run past 10 minutes; the others' 240 do not.
    expect(within.variations.map((v) => v.units)).toEqual([0, 0, 120]);

    const crossing = await results(`?phase=all&from=${encodeURIComponent(new Date(T - 2 * HOUR).toISOString())}`);
    expect(crossing.filters.phase.pooled).toBe(true);
    expect(crossing.warnings.map((w) => w.code)).toEqual(['SPLIT_PERIODS_POOLED']);
    expect(crossing.variations.map((v) => v.units)).toEqual([242, 242, 726]);

    const before = await results(`?phase=all&to=${encodeURIComponent(new Date(T).toISOString())}`);
    expect(before.filters.phase.pooled).toBe(false);
    expect(before.warnings).toEqual([]);

    const missed = await request('GET', `${BASE}/experiments/${KEY}/results?to=${encodeURIComponent(new Date(T).toISOString())}`);
    expect(missed.status).toBe(400);
    expect(missed.body.error.message).toContain('do not overlap phase 1');
  });

  it('refuses a phase the experiment does not have, or not a phase at all', async () => {
    for (const phase of ['2', '-1', 'latest', '1.5', '', '01']) {
      const res = await request('GET', `${BASE}/experiments/${KEY}/results?phase=${phase}`);
      expect([phase, res.status]).toEqual([phase, 400]);
      expect(res.body.error.details.issues).toEqual([expect.objectContaining({ path: 'query.phase' })]);
    }
    const out = await request('GET', `${BASE}/experiments/${KEY}/results?phase=2`);
    expect(out.body.error.message).toContain('2 phases (0 to 1');
  });

  it('keeps the exact bounds of a phase younger than a day: the units exposed since the move, at once', async () => {
    p.now.value = new Date(T + 3 * HOUR);
    owner = await p.login(OWNER.email, OWNER.password);
    try {
      const r = await results();

      expect(r.filters.phase).toEqual({ index: 1, count: 2, from: new Date(movedAt).toISOString(), to: null, splitChangedAt: new Date(movedAt).toISOString(), pooled: false });
      // The units of the partial hour after the move count too.
      expect(r.variations.map((v) => v.units)).toEqual([242, 242, 726]);
      expect(r.metrics[0]!.source).toBe('scan');
      expect(comparisons(r).map((c) => c.significant)).toEqual([false, false]);
    } finally {
      p.now.value = new Date(T + DAY + HOUR);
      owner = await p.login(OWNER.email, OWNER.password);
    }
  });

  it('exports the chosen phase as CSV, saying which', async () => {
    const csv = async (query: string): Promise<string[][]> => {
      const res = await p.request('GET', `${BASE}/experiments/${KEY}/results.csv${query}`, { token: owner });
      expect(res.status).toBe(200);
      return String(res.body)
        .trim()
        .split('\r\n')
        .map((line) => line.split(','));
    };
    for (const [query, phase, units] of [
      ['', '1', ['240', '240', '720']],
      ['?phase=0', '0', ['600', '300', '300']],
      ['?phase=all', 'all', ['842', '542', '1026']],
    ] as const) {
      const [header, ...rows] = await csv(query);
      expect(rows.map((r) => r[header!.indexOf('units')])).toEqual(units);
      expect(rows.map((r) => r[header!.indexOf('phase')])).toEqual([phase, phase, phase]);
      expect(rows.map((r) => r[header!.indexOf('phase_pooled')])).toEqual(Array(3).fill(String(phase === 'all')));
    }
  });

  it('keeps the exact end of a first phase shorter than the hour it started in', async () => {
    const started = p.now.value.getTime() + 5 * MINUTE;
    p.now.value = new Date(started + 15 * MINUTE);
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', `${BASE}/experiments`, {
      key: 'short',
      name: 'Short first phase',
      variations: [
        { key: 'control', weight: 50 },
        { key: 'treatment', weight: 50 },
      ],
      metrics: { primary: ['converted'], secondary: [], guardrails: [] },
      status: 'running',
      startedAt: new Date(started).toISOString(),
      stickyBucketing: { enabled: true },
    });
    await expose('short', { control: 5, treatment: 5 }, started + MINUTE, () => false, 'short');
    const current = await must('GET', `${BASE}/experiments/short`);
    await must('PUT', `${BASE}/experiments/short`, { ...current.definition, variations: [{ key: 'control', weight: 20 }, { key: 'treatment', weight: 80 }] }, current.version);

    const r = experimentResultsSchema.parse(await must('GET', `${BASE}/experiments/short/results?phase=0`));

    // Rounded down to the hour, the end would come before the start: no unit at all.
    expect(r.filters.phase).toMatchObject({ index: 0, to: p.now.value.toISOString(), pooled: false });
    expect(r.variations.map((v) => v.units)).toEqual([5, 5]);
  });
});

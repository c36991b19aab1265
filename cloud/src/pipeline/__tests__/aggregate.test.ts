import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MetricInput, PipelineEvent } from '@xp/shared';
import type { Database } from '../../store/db.js';
import { DatabaseError } from '../../store/db.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { dedupeRetentionHours, isTransientError, parseRecord, processBatch, pruneProcessedEvents, rebuildTotals, recountEventsSince } from '../aggregate.js';
import { DAY, ENV, HOUR, PROJECT, T0, exposure, groundTruth, readState, seedProject, toRecord, track, withHook } from './fixtures.js';

const TABLES = ['processed_events', 'exposures', 'unit_events', 'unit_metric_totals', 'dead_letters', 'record_failures', 'experiment_deletions'];

describe('parseRecord', () => {
  it('accepts a pipeline event as bytes or base64 and names what is wrong with anything else', () => {
    const event = exposure('u1', 'exp-a', 'control', T0);
    const json = JSON.stringify(event);

    expect(parseRecord(toRecord(event))).toEqual({ ok: true, event });
    expect(parseRecord({ ...toRecord(event), data: Buffer.from(json).toString('base64') })).toEqual({ ok: true, event });
    expect(parseRecord(toRecord('{not json'))).toMatchObject({ ok: false, reason: expect.stringContaining('not JSON') });
    expect(parseRecord(toRecord(new Uint8Array([0xff, 0xfe, 0x00])))).toEqual({ ok: false, reason: 'payload is not UTF-8' });
    expect(parseRecord(toRecord(json.replace('"u1"', '"u\\u00001"')))).toEqual({ ok: false, reason: 'payload contains a NUL character' });
    expect(parseRecord(toRecord(JSON.stringify({ ...event, v: 2 })))).toMatchObject({ ok: false, reason: expect.stringContaining('v:') });
    // Nesting past the stack (records from producers other than the API): refused, never thrown.
    const tracked = JSON.stringify(track('u1', 'purchase', T0));
    for (const depth of [40, 3_000, 50_000]) {
      const deep = tracked.replace(/}}$/, `,"properties":{"d":${'['.repeat(depth)}1${']'.repeat(depth)}}}}`);
      expect(parseRecord(toRecord(deep))).toMatchObject({ ok: false, reason: expect.stringMatching(/nested/) });
    }
    expect(parseRecord(toRecord(JSON.stringify({ ...event, event: { ...event.event, unitId: '' } })))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('event.unitId'),
    });
  });
});

describe('isTransientError', () => {
  it('retries connection and concurrency failures, not data errors or bugs', () => {
    expect(isTransientError(new DatabaseError('57P01', 'terminating connection'))).toBe(true);
    expect(isTransientError(new DatabaseError(undefined, 'Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientError(new DatabaseError('ECONNREFUSED', 'connect ECONNREFUSED'))).toBe(true);
    expect(isTransientError(new DatabaseError('40001', 'could not serialize'))).toBe(true);
    expect(isTransientError(new DatabaseError('22003', 'numeric field overflow'))).toBe(false);
    expect(isTransientError(new TypeError('bug'))).toBe(false);
  });
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('aggregator on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
    await seedProject(db);
  });
  afterAll(async () => {
    await target.dispose();
  });
  beforeEach(async () => {
    for (const table of TABLES) {
      await db.query(`DELETE FROM ${table}`);
    }
  });

  const apply = async (events: readonly (PipelineEvent | string)[]) => processBatch(db, events.map((e) => toRecord(e)));

  it(`${target.name}: counts each event id once, within a batch and across re-deliveries`, async () => {
    const x = exposure('u1', 'exp-a', 'control', T0);
    const p = track('u1', 'purchase', T0 + HOUR, 12.5);

    const first = await apply([x, p, p]);
    const again = await apply([x, p]);

    expect(first).toEqual({ batchItemFailures: [], processed: 2, duplicates: 1, deadLettered: 0 });
    expect(again).toEqual({ batchItemFailures: [], processed: 0, duplicates: 2, deadLettered: 0 });
    const totals = await db.query<{ metric: string; value: string }>(
      `SELECT metric, value::text FROM unit_metric_totals WHERE unit_id = 'u1' AND experiment = 'exp-a' ORDER BY metric`,
    );
    expect(totals.rows).toEqual([
      { metric: 'purchased', value: '1' },
      { metric: 'purchases', value: '1' },
      { metric: 'revenue', value: '12.5' },
      { metric: 'revenue-48h', value: '12.5' },
      { metric: 'revenue-per-session', value: '12.5' },
    ]);
    expect(await readState(db)).toEqual(groundTruth([x, p]));
  });

  it(`${target.name}: a sum metric that names no property adds up the events' value`, async () => {
    const projectId = 'proj-value';
    await db.query(`INSERT INTO projects (id, org_id, key, name) VALUES ($1, 'org-1', $1, $1) ON CONFLICT DO NOTHING`, [projectId]);
    const metrics: MetricInput[] = [
      { key: 'spend', name: 'Spend', type: 'sum', event: 'checkout' },
      { key: 'spend-amount', name: 'Spend (amount)', type: 'sum', event: 'checkout', property: 'amount' },
    ];
    for (const m of metrics) {
      await db.query('INSERT INTO metrics (project_id, key, name, definition) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [projectId, m.key, m.name, JSON.stringify(m)]);
    }
    await db.query(`INSERT INTO experiments (project_id, key, name, definition, status) VALUES ($1, 'exp-v', 'exp-v', $2, 'running') ON CONFLICT DO NOTHING`, [
      projectId,
      JSON.stringify({ key: 'exp-v', name: 'exp-v', metrics: { primary: ['spend', 'spend-amount'], secondary: [], guardrails: [] } }),
    ]);
    const checkout = (at: number, value: number | undefined, properties?: Record<string, unknown>): PipelineEvent => {
      const e = track('u1', 'checkout', at, undefined, undefined, projectId);
      return { ...e, event: { ...e.event, ...(value === undefined ? {} : { value }), ...(properties === undefined ? {} : { properties }) } } as PipelineEvent;
    };

    await apply([exposure('u1', 'exp-v', 'control', T0, undefined, projectId), checkout(T0 + HOUR, 30, { amount: 5 }), checkout(T0 + 2 * HOUR, 7), checkout(T0 + 3 * HOUR, 2, { amount: 'x' })]);

    const totals = await db.query<{ metric: string; value: string }>(
      `SELECT metric, value::text FROM unit_metric_totals WHERE project_id = $1 AND experiment = 'exp-v' ORDER BY metric`,
      [projectId],
    );
    // Without a property, the value; with one, the property where it is a number, else the value.
    expect(totals.rows).toEqual([
      { metric: 'spend', value: '39' },
      { metric: 'spend-amount', value: '14' },
    ]);
  });

  it(`${target.name}: prunes dedupe records past their retention in chunks, and a repeat inside it is still refused`, async () => {
    const old = Array.from({ length: 25 }, (_, i) => track(`old${i}`, 'purchase', T0));
    const recent = track('u1', 'purchase', T0 + HOUR, 3);
    await apply([...old, recent]);
    // As if processed 40 days ago: past the 30 days an event is accepted + a day of stream + a day.
    await db.query(`UPDATE processed_events SET processed_at = now() - interval '40 days' WHERE event_id <> $1`, [recent.event.id]);

    const deleted = await pruneProcessedEvents(db, dedupeRetentionHours(24), { chunk: 10 });
    const again = await apply([recent]);

    expect(dedupeRetentionHours(24)).toBe(32 * 24);
    expect(deleted).toBe(25);
    expect((await db.query('SELECT event_id FROM processed_events')).rows).toEqual([{ event_id: recent.event.id }]);
    expect(again).toMatchObject({ processed: 0, duplicates: 1 });
    // A deadline that has passed stops after the first chunk.
    await apply(Array.from({ length: 25 }, (_, i) => track(`late${i}`, 'purchase', T0)));
    await db.query(`UPDATE processed_events SET processed_at = now() - interval '40 days'`);
    expect(await pruneProcessedEvents(db, dedupeRetentionHours(24), { chunk: 10, deadline: 0 })).toBe(10);
  });

  it(`${target.name}: drops exposures of an experiment key received before its last deletion, however late they arrive`, async () => {
    const projectId = (await db.query<{ id: string }>('SELECT id FROM projects LIMIT 1')).rows[0]!.id;
    // exp-a was deleted a day after T0 (and created again since): what was received before belonged to the deleted one.
    await db.query('INSERT INTO experiment_deletions (project_id, experiment, deleted_at) VALUES ($1, $2, $3)', [projectId, 'exp-a', new Date(T0 + DAY)]);
    const backlog = exposure('old-unit', 'exp-a', 'control', T0);
    const other = exposure('old-unit', 'exp-b', 'control', T0);
    const current = exposure('new-unit', 'exp-a', 'treatment', T0 + 2 * DAY);
    const bought = track('old-unit', 'purchase', T0 + HOUR, 5);

    const out = await apply([backlog, other, current, bought]);

    // Counted as processed (not retried), stored for the other key and after the deletion only.
    expect(out).toMatchObject({ processed: 4, batchItemFailures: [] });
    const exposed = await db.query<{ experiment: string; unit_id: string }>('SELECT experiment, unit_id FROM exposures ORDER BY experiment, unit_id');
    expect(exposed.rows).toEqual([
      { experiment: 'exp-a', unit_id: 'new-unit' },
      { experiment: 'exp-b', unit_id: 'old-unit' },
    ]);
    expect((await db.query("SELECT 1 FROM unit_metric_totals WHERE experiment = 'exp-a' AND unit_id = 'old-unit'")).rows).toEqual([]);
  });

  it(`${target.name}: keeps the first exposure, whatever the arrival order, and excludes units seen in two variations`, async () => {
    const late = exposure('u1', 'exp-a', 'treatment', T0 + DAY);
    const early = exposure('u1', 'exp-a', 'treatment', T0);
    const consistent = exposure('u1', 'exp-a', 'treatment', T0 + 2 * DAY);
    const a = exposure('u2', 'exp-a', 'control', T0);
    const b = exposure('u2', 'exp-a', 'treatment', T0 + HOUR);
    const c = exposure('u3', 'exp-b', 'v1', T0);
    const d = exposure('u3', 'exp-b', 'v2', T0 - HOUR);

    await apply([late]);
    await apply([early, a]);
    await apply([consistent, b]);
    await apply([c, d]);

    const rows = await db.query<{ unit_id: string; variation: string; exposed_at: Date; excluded: boolean }>(
      'SELECT unit_id, variation, exposed_at, excluded FROM exposures ORDER BY unit_id',
    );
    expect(rows.rows.map((r) => ({ ...r, exposed_at: new Date(r.exposed_at).getTime() }))).toEqual([
      { unit_id: 'u1', variation: 'treatment', exposed_at: T0, excluded: false },
      { unit_id: 'u2', variation: 'control', exposed_at: T0, excluded: true },
      { unit_id: 'u3', variation: 'v2', exposed_at: T0 - HOUR, excluded: true },
    ]);
    const excluded = await db.query<{ experiment: string; n: number }>(
      'SELECT experiment, count(*)::int AS n FROM exposures WHERE excluded GROUP BY experiment ORDER BY experiment',
    );
    expect(excluded.rows).toEqual([
      { experiment: 'exp-a', n: 1 },
      { experiment: 'exp-b', n: 1 },
    ]);
  });

  it(`${target.name}: stores the attributes of the first exposure, whatever the arrival order`, async () => {
    const withAttributes = (e: PipelineEvent, attributes: Record<string, string | number | boolean>): PipelineEvent =>
      e.event.type === 'exposure' ? { ...e, event: { ...e.event, attributes } } : e;
    const late = withAttributes(exposure('u1', 'exp-a', 'control', T0 + DAY), { country: 'FR', visits: 9 });
    const early = withAttributes(exposure('u1', 'exp-a', 'control', T0), { country: 'US', visits: 1, beta: true });
    const bare = exposure('u2', 'exp-a', 'control', T0);
    const later = withAttributes(exposure('u2', 'exp-a', 'control', T0 + HOUR), { country: 'CA' });

    await apply([late, bare]);
    await apply([early, later]);

    const rows = await db.query<{ unit_id: string; attributes: unknown }>('SELECT unit_id, attributes FROM exposures ORDER BY unit_id');
    expect(rows.rows).toEqual([
      { unit_id: 'u1', attributes: { country: 'US', visits: 1, beta: true } },
      { unit_id: 'u2', attributes: { country: 'CA' } },
    ]);
  });

  it(`${target.name}: splits totals into pre-exposure and analysis windows, independent of arrival order`, async () => {
    const events = (unit: string): PipelineEvent[] => [
      track(unit, 'purchase', T0 - 15 * DAY, 100), // before the 14-day pre-period: ignored
      track(unit, 'purchase', T0 - DAY, 7.25), // pre-period
      track(unit, 'session', T0 - DAY),
      track(unit, 'purchase', T0, 3), // at exposure: analysis window
      track(unit, 'session', T0 + HOUR),
      track(unit, 'purchase', T0 + 3 * DAY, 10), // after revenue-48h's window
      track(unit, 'page_view', T0 + 2 * HOUR),
      exposure(unit, 'exp-a', 'control', T0 + DAY), // a later exposure, superseded by the next one
      exposure(unit, 'exp-a', 'control', T0),
      exposure(unit, 'exp-b', 'v1', T0 + 2 * DAY),
    ];
    const inOrder = events('u-ordered');
    const reversed = events('u-reversed').reverse();
    const exposuresFirst = events('u-exposed-first');

    await apply(inOrder);
    for (const e of reversed) {
      await apply([e]);
    }
    await apply(exposuresFirst.slice(7));
    await apply(exposuresFirst.slice(0, 7));

    const state = await readState(db);
    expect(state).toEqual(groundTruth([...inOrder, ...reversed, ...exposuresFirst]));
    const forUnit = (unit: string) => state.totals.filter((t) => t.key.includes(`/${unit}/`)).map((t) => ({ ...t, key: t.key.replace(`/${unit}/`, '/') }));
    expect(forUnit('u-reversed')).toEqual(forUnit('u-ordered'));
    expect(forUnit('u-exposed-first')).toEqual(forUnit('u-ordered'));
    const revenue = state.totals.find((t) => t.key === `${PROJECT}/${ENV}/exp-a/u-ordered/revenue`);
    expect(revenue).toEqual({ key: `${PROJECT}/${ENV}/exp-a/u-ordered/revenue`, value: 1300, preValue: 725, denominator: 0, preDenominator: 0 });
    const ratio = state.totals.find((t) => t.key === `${PROJECT}/${ENV}/exp-a/u-ordered/revenue-per-session`);
    expect(ratio).toEqual({ key: `${PROJECT}/${ENV}/exp-a/u-ordered/revenue-per-session`, value: 1300, preValue: 725, denominator: 100, preDenominator: 100 });
    const windowed = state.totals.find((t) => t.key === `${PROJECT}/${ENV}/exp-a/u-ordered/revenue-48h`);
    expect(windowed?.value).toBe(300);
  });

  it(`${target.name}: the windows are half-open: an event at exactly exposure − 14 days counts in the pre-period, one at exactly exposure + windowHours does not count, by any path`, async () => {
    const events = (unit: string): PipelineEvent[] => [
      track(unit, 'purchase', T0 - 14 * DAY - 1, 1000), // a millisecond before the pre-period: ignored
      track(unit, 'purchase', T0 - 14 * DAY, 100), // the pre-period's first instant: counted
      track(unit, 'purchase', T0 + 48 * HOUR - 1, 10), // revenue-48h's window's last millisecond: counted
      track(unit, 'purchase', T0 + 48 * HOUR, 1), // the end of revenue-48h's window: not in it (still in revenue's)
    ];
    // Exposed first (events counted as they arrive), and exposed last (the recompute path).
    const exposedFirst = [exposure('u-edge-first', 'exp-a', 'control', T0), ...events('u-edge-first')];
    const exposedLast = [...events('u-edge-last'), exposure('u-edge-last', 'exp-a', 'control', T0)];
    for (const e of [...exposedFirst, ...exposedLast]) {
      await apply([e]);
    }

    const expected = (unit: string) => [
      { key: `${PROJECT}/${ENV}/exp-a/${unit}/revenue`, value: 1100, preValue: 10000, denominator: 0, preDenominator: 0 },
      { key: `${PROJECT}/${ENV}/exp-a/${unit}/revenue-48h`, value: 1000, preValue: 10000, denominator: 0, preDenominator: 0 },
    ];
    const revenueOf = (state: Awaited<ReturnType<typeof readState>>, unit: string) =>
      state.totals.filter((t) => t.key.startsWith(`${PROJECT}/${ENV}/exp-a/${unit}/revenue`) && !t.key.endsWith('per-session'));
    const state = await readState(db);
    expect(state).toEqual(groundTruth([...exposedFirst, ...exposedLast]));
    expect(revenueOf(state, 'u-edge-first')).toEqual(expected('u-edge-first'));
    expect(revenueOf(state, 'u-edge-last')).toEqual(expected('u-edge-last'));

    // A rebuild from the stored events draws the same edges.
    await db.query('DELETE FROM unit_metric_totals');
    await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment: 'exp-a' }));
    expect(await readState(db)).toEqual(state);
  });

  it(`${target.name}: rebuilds an experiment's totals from stored events after its metrics change`, async () => {
    const events = [exposure('u1', 'exp-b', 'v1', T0), track('u1', 'purchase', T0 + HOUR, 5), track('u1', 'page_view', T0 + HOUR)];
    await apply(events);
    await db.query(`DELETE FROM unit_metric_totals`);

    await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment: 'exp-b' }));

    expect(await readState(db)).toEqual(groundTruth(events));
  });

  it(`${target.name}: a tracked event counts for the exposures of each distinct unit in its unitId and units, once each, in any arrival order`, async () => {
    const withUnits = (e: PipelineEvent, units: Record<string, string>): PipelineEvent => ({ ...e, event: { ...e.event, units } as PipelineEvent['event'] });
    // exp-a is bucketed on the user id, exp-b on the device: the same user, two unit ids.
    const scenario = (user: string, device: string): { exposures: PipelineEvent[]; tracks: PipelineEvent[] } => ({
      exposures: [exposure(user, 'exp-a', 'control', T0), exposure(device, 'exp-b', 'v1', T0)],
      tracks: [
        withUnits(track(user, 'purchase', T0 + HOUR, 5), { deviceId: device }),
        // An alias equal to the unitId: one row, counted once.
        withUnits(track(user, 'purchase', T0 + HOUR, 2), { deviceId: user }),
        // Two equal aliases: one row for the device, counted once.
        withUnits(track(user, 'purchase', T0 + HOUR, 3), { deviceId: device, anonymousId: device }),
        // An alias no experiment was exposed on: stored, counted for the user only.
        withUnits(track(user, 'purchase', T0 + HOUR, 4), { deviceId: `${device}-other` }),
      ],
    });
    const exposedFirst = scenario('u-first', 'd-first');
    const trackedFirst = scenario('u-late', 'd-late');

    await apply(exposedFirst.exposures);
    await apply(exposedFirst.tracks);
    await apply(trackedFirst.tracks);
    await apply(trackedFirst.exposures);
    // Re-delivered: still once.
    await apply([...exposedFirst.tracks, ...trackedFirst.tracks]);

    const totals = (await readState(db)).totals;
    const of = (experiment: string, unit: string, metric: string) => totals.find((t) => t.key === `${PROJECT}/${ENV}/${experiment}/${unit}/${metric}`);
    for (const [user, device] of [['u-first', 'd-first'], ['u-late', 'd-late']] as const) {
      // The user's experiment: all four purchases (5 + 2 + 3 + 4).
      expect([user, of('exp-a', user, 'purchases')?.value, of('exp-a', user, 'revenue')?.value, of('exp-a', user, 'purchased')?.value]).toEqual([user, 400, 1400, 100]);
      // The device's experiment: the two purchases that name the device (5 + 3), each once.
      expect([device, of('exp-b', device, 'purchases')?.value, of('exp-b', device, 'revenue')?.value]).toEqual([device, 200, 800]);
    }
    const rows = await db.query<{ unit_id: string; n: number }>('SELECT unit_id, count(*)::int AS n FROM unit_events GROUP BY unit_id ORDER BY unit_id');
    expect(rows.rows).toEqual([
      { unit_id: 'd-first', n: 2 },
      { unit_id: 'd-first-other', n: 1 },
      { unit_id: 'd-late', n: 2 },
      { unit_id: 'd-late-other', n: 1 },
      { unit_id: 'u-first', n: 4 },
      { unit_id: 'u-late', n: 4 },
    ]);

    // A rebuild from the stored events finds the same totals.
    const before = await readState(db);
    await db.query('DELETE FROM unit_metric_totals');
    for (const experiment of ['exp-a', 'exp-b']) {
      await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment }));
    }
    expect(await readState(db)).toEqual(before);
  });

  it(`${target.name}: events that occur after a stopped experiment's stop do not count, by any path, nor once it has resumed; later ones do`, async () => {
    const stop = new Date(T0 + 2 * DAY).toISOString();
    const totalsOf = async (): Promise<Record<string, string>> => {
      const out = await db.query<{ unit_id: string; value: string }>(
        `SELECT unit_id, value::text FROM unit_metric_totals WHERE experiment = 'exp-a' AND metric = 'purchases' ORDER BY unit_id`,
      );
      return Object.fromEntries(out.rows.map((r) => [r.unit_id, r.value]));
    };
    const setStatus = (status: 'running' | 'stopped', stoppedAt?: string): Promise<unknown> =>
      db.query(
        `UPDATE experiments SET status = $1, definition = CASE WHEN $2::text IS NULL THEN definition - 'stoppedAt' ELSE jsonb_set(definition, '{stoppedAt}', to_jsonb($2::text)) END
         WHERE project_id = $3 AND key = 'exp-a'`,
        [status, stoppedAt ?? null, PROJECT],
      );
    try {
      // u1 is exposed while running; u2's exposure arrives after its events (the recompute path).
      await apply([exposure('u1', 'exp-a', 'control', T0), track('u1', 'purchase', T0 + HOUR, 1)]);
      await setStatus('stopped', stop);
      await apply([track('u1', 'purchase', T0 + DAY, 1), track('u1', 'purchase', T0 + 3 * DAY, 1), track('u2', 'purchase', T0 + 3 * DAY, 1), track('u2', 'purchase', T0 + HOUR, 1)]);
      await apply([exposure('u2', 'exp-a', 'treatment', T0)]);
      expect(await totalsOf()).toEqual({ u1: '2', u2: '1' });

      // Resumed (the pause on record, as …/resume writes it): the events of the time it was stopped still
      // count for nothing, through a rebuild from stored events and as they arrive; later ones count.
      const resumedAt = new Date(T0 + 4 * DAY).toISOString();
      await setStatus('running');
      await db.query(`UPDATE experiments SET definition = jsonb_set(definition, '{pauses}', $1::jsonb) WHERE project_id = $2 AND key = 'exp-a'`, [
        JSON.stringify([{ stoppedAt: stop, resumedAt }]),
        PROJECT,
      ]);
      await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment: 'exp-a' }));
      expect(await totalsOf()).toEqual({ u1: '2', u2: '1' });
      await apply([track('u1', 'purchase', T0 + 3 * DAY + HOUR, 1), track('u1', 'purchase', T0 + 5 * DAY, 1), track('u2', 'purchase', T0 + 4 * DAY, 1)]);
      expect(await totalsOf()).toEqual({ u1: '3', u2: '2' });
    } finally {
      await setStatus('running');
      await db.query(`UPDATE experiments SET definition = definition - 'pauses' WHERE project_id = $1 AND key = 'exp-a'`, [PROJECT]);
    }
  });

  it(`${target.name}: an event at exactly a stopped experiment's stop does not count, by any path; one a millisecond before does`, async () => {
    const stopMs = T0 + 2 * DAY;
    const purchases = async (): Promise<Record<string, string>> => {
      const out = await db.query<{ unit_id: string; value: string }>(`SELECT unit_id, value::text FROM unit_metric_totals WHERE experiment = 'exp-a' AND metric = 'purchases' ORDER BY unit_id`);
      return Object.fromEntries(out.rows.map((r) => [r.unit_id, r.value]));
    };
    try {
      await apply([exposure('u1', 'exp-a', 'control', T0)]);
      await db.query(`UPDATE experiments SET status = 'stopped', definition = jsonb_set(definition, '{stoppedAt}', to_jsonb($2::text)) WHERE project_id = $1 AND key = 'exp-a'`, [
        PROJECT,
        new Date(stopMs).toISOString(),
      ]);
      // u1 exposed before its events (counted as they arrive); u2 after them (the recompute path).
      await apply([track('u1', 'purchase', stopMs - 1, 1), track('u1', 'purchase', stopMs, 1), track('u2', 'purchase', stopMs - 1, 1), track('u2', 'purchase', stopMs, 1)]);
      await apply([exposure('u2', 'exp-a', 'treatment', T0)]);
      expect(await purchases()).toEqual({ u1: '1', u2: '1' });

      await db.query('DELETE FROM unit_metric_totals');
      await db.withTransaction((tx) => rebuildTotals(tx, { projectId: PROJECT, environment: ENV, experiment: 'exp-a' }));
      expect(await purchases()).toEqual({ u1: '1', u2: '1' });
    } finally {
      await db.query(`UPDATE experiments SET status = 'running', definition = definition - 'stoppedAt' WHERE project_id = $1 AND key = 'exp-a'`, [PROJECT]);
    }
  });

  it(`${target.name}: events dated after the stop that were counted while it ran leave the totals at the stop, and those after the pause count again at the resume`, async () => {
    const stop = new Date(T0 + 2 * DAY).toISOString();
    const resumedAt = new Date(T0 + 4 * DAY).toISOString();
    const purchases = async (): Promise<Record<string, string>> => {
      const out = await db.query<{ unit_id: string; value: string }>(`SELECT unit_id, value::text FROM unit_metric_totals WHERE experiment = 'exp-a' AND metric = 'purchases' ORDER BY unit_id`);
      return Object.fromEntries(out.rows.map((r) => [r.unit_id, r.value]));
    };
    const definition = (patch: string, params: unknown[]): Promise<unknown> => db.query(`UPDATE experiments SET ${patch} WHERE project_id = $1 AND key = 'exp-a'`, [PROJECT, ...params]);
    try {
      // Counted while running: SDKs may send events dated ahead (clock skew, up to a day).
      await apply([exposure('u1', 'exp-a', 'control', T0), exposure('u3', 'exp-a', 'treatment', T0), track('u3', 'purchase', T0 + HOUR, 1)]);
      await apply([track('u1', 'purchase', T0 + HOUR, 1), track('u1', 'purchase', T0 + 3 * DAY, 1), track('u1', 'purchase', T0 + 5 * DAY, 1)]);
      expect(await purchases()).toEqual({ u1: '3', u3: '1' });

      // Stopped as …/stop does it: the definition, then the recount in the same transaction.
      const atStop = await db.withTransaction(async (tx) => {
        await tx.query(`UPDATE experiments SET status = 'stopped', definition = jsonb_set(definition, '{stoppedAt}', to_jsonb($2::text)) WHERE project_id = $1 AND key = 'exp-a'`, [PROJECT, stop]);
        return recountEventsSince(tx, { projectId: PROJECT, experiment: 'exp-a' }, new Date(stop));
      });
      expect([atStop, await purchases()]).toEqual([1, { u1: '1', u3: '1' }]);

      // Resumed: the stopped time is a pause; what is dated after it counts again.
      const atResume = await db.withTransaction(async (tx) => {
        await tx.query(`UPDATE experiments SET status = 'running', definition = jsonb_set(definition - 'stoppedAt', '{pauses}', $2::jsonb) WHERE project_id = $1 AND key = 'exp-a'`, [
          PROJECT,
          JSON.stringify([{ stoppedAt: stop, resumedAt }]),
        ]);
        return recountEventsSince(tx, { projectId: PROJECT, experiment: 'exp-a' }, new Date(stop));
      });
      expect([atResume, await purchases()]).toEqual([1, { u1: '2', u3: '1' }]);
    } finally {
      await definition(`status = 'running', definition = definition - 'pauses' - 'stoppedAt'`, []);
    }
  });

  it(`${target.name}: dead-letters poison records with their reason and keeps the valid ones`, async () => {
    const good = [exposure('u1', 'exp-a', 'control', T0), track('u1', 'purchase', T0 + HOUR, 2)];
    const records = [
      toRecord(good[0]!),
      toRecord('{"v":1,'),
      toRecord(JSON.stringify({ ...good[1]!, event: { ...good[1]!.event, type: 'click' } })),
      toRecord(new Uint8Array([0xc3, 0x28])),
      toRecord(good[1]!),
    ];

    const result = await processBatch(db, records);
    const again = await processBatch(db, records);

    expect(result).toEqual({ batchItemFailures: [], processed: 2, duplicates: 0, deadLettered: 3 });
    expect(again).toEqual({ batchItemFailures: [], processed: 0, duplicates: 2, deadLettered: 0 });
    const letters = await db.query<{ sequence_number: string; reason: string; data: Uint8Array }>(
      'SELECT sequence_number, reason, data FROM dead_letters ORDER BY sequence_number',
    );
    expect(letters.rows.map((r) => r.sequence_number)).toEqual([records[1]!.sequenceNumber, records[2]!.sequenceNumber, records[3]!.sequenceNumber]);
    expect(letters.rows[0]!.reason).toMatch(/^payload is not JSON/);
    expect(letters.rows[1]!.reason).toMatch(/^not a pipeline event: event.type/);
    expect(letters.rows[2]!.reason).toBe('payload is not UTF-8');
    expect(Buffer.from(letters.rows[2]!.data)).toEqual(Buffer.from([0xc3, 0x28]));
    expect(await readState(db)).toEqual(groundTruth(good));
  });

  it(`${target.name}: dead-letters a record whose partition key holds a NUL, instead of retrying it forever`, async () => {
    const poison = exposure('a\u0000b', 'exp-a', 'control', T0);
    const good = exposure('u1', 'exp-a', 'control', T0);
    const records = [toRecord(poison), toRecord(good)];

    const result = await processBatch(db, records);

    expect(result).toEqual({ batchItemFailures: [], processed: 1, duplicates: 0, deadLettered: 1 });
    const letters = await db.query<{ partition_key: string; reason: string }>('SELECT partition_key, reason FROM dead_letters');
    expect(letters.rows).toEqual([{ partition_key: 'a\uFFFDb', reason: 'payload contains a NUL character' }]);
    expect(await readState(db)).toEqual(groundTruth([good]));
  });

  it(`${target.name}: a transient failure fails the whole batch and writes nothing`, async () => {
    let fail = true;
    const flaky = withHook(db, (sql) => {
      if (fail && sql.includes('INSERT INTO unit_events')) {
        throw new DatabaseError('57P01', 'terminating connection due to administrator command');
      }
    });
    const events = [exposure('u1', 'exp-a', 'control', T0), track('u1', 'purchase', T0 + HOUR, 2)];
    const records = events.map((e) => toRecord(e));

    const failed = await processBatch(flaky, records);
    const written = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events');
    fail = false;
    const retried = await processBatch(flaky, records);

    expect(failed).toEqual({ batchItemFailures: records.map((r) => ({ itemIdentifier: r.sequenceNumber })), processed: 0, duplicates: 0, deadLettered: 0 });
    expect(written.rows[0]!.n).toBe(0);
    expect(retried).toEqual({ batchItemFailures: [], processed: 2, duplicates: 0, deadLettered: 0 });
    expect(await readState(db)).toEqual(groundTruth(events));
  });

  it(`${target.name}: isolates a record that keeps failing, reports it and what follows, then dead-letters it after bounded retries`, async () => {
    const broken = withHook(db, (sql, params) => {
      const units = params?.[3];
      if (sql.includes('INSERT INTO exposures') && Array.isArray(units) && units.includes('bad-unit')) {
        throw new DatabaseError('22003', 'numeric field overflow');
      }
    });
    const events = [exposure('u1', 'exp-a', 'control', T0), exposure('bad-unit', 'exp-a', 'control', T0), exposure('u2', 'exp-a', 'treatment', T0)];
    const records = events.map((e) => toRecord(e));
    const checkpoints: string[] = [];
    const options = {
      maxAttempts: 2,
      checkpoint: async (_tx: unknown, last: { sequenceNumber: string }) => {
        checkpoints.push(last.sequenceNumber);
        await Promise.resolve();
      },
    };

    const first = await processBatch(broken, records, options);
    const second = await processBatch(broken, records.slice(1), options);

    expect(first).toEqual({ batchItemFailures: records.slice(1).map((r) => ({ itemIdentifier: r.sequenceNumber })), processed: 1, duplicates: 0, deadLettered: 0 });
    expect(second).toEqual({ batchItemFailures: [], processed: 1, duplicates: 0, deadLettered: 1 });
    expect(checkpoints).toEqual(records.map((r) => r.sequenceNumber));
    const letters = await db.query<{ reason: string }>('SELECT reason FROM dead_letters');
    expect(letters.rows).toEqual([{ reason: 'failed 2 times: 22003: numeric field overflow' }]);
    const units = await db.query<{ unit_id: string }>('SELECT unit_id FROM exposures ORDER BY unit_id');
    expect(units.rows.map((r) => r.unit_id)).toEqual(['u1', 'u2']);
    // Dead-lettered, it is no longer retrying (the health view counts these rows).
    const retrying = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM record_failures');
    expect(retrying.rows[0]!.n).toBe(0);
  });
});

/**
 * Multi-armed bandits against the real store: the updater moves a running bandit's split towards the
 * variation that converts better after its burn-in and at its cadence (through the normal update
 * path: split history, ruleset, audit log), keeps it when data is short, never overwrites a
 * concurrent edit, leaves stopped experiments alone; GET / POST …/bandit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { banditShares, isStatsError } from '@xp/shared';
import { BANDIT_EMAIL, BANDIT_USER_ID, BanditUpdater, startBanditSchedule } from '../../domain/bandit.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { toRecord, withHook } from '../../pipeline/__tests__/fixtures.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const ENV = 'development';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const METRIC = 'bandit-bought';

describe('bandits', () => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  let T: number;
  let updater: BanditUpdater;
  let events = 0;

  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);

  const event = (unitId: string, at: number, event: Record<string, unknown>): PipelineEvent =>
    ({ v: 1, projectId, environment: ENV, receivedAt: at, occurredAt: at, event: { id: `bandit-${String(++events)}`, unitId, timestamp: at, ...event } }) as PipelineEvent;

  /** `units` units of `variation` exposed at `at`, the first `converted` of them buying a minute later. */
  const expose = async (key: string, variation: string, units: number, converted: number, at: number, prefix = ''): Promise<void> => {
    const batch: PipelineEvent[] = [];
    for (let i = 0; i < units; i++) {
      const unit = `${key}-${prefix}${variation}-${String(i)}`;
      batch.push(event(unit, at, { type: 'exposure', experiment: key, variation }));
      if (i < converted) {
        batch.push(event(unit, at + 60_000, { type: 'track', name: 'bandit_buy' }));
      }
    }
    for (let i = 0; i < batch.length; i += 500) {
      const out = await processBatch(p.db, batch.slice(i, i + 500).map((e) => toRecord(e)));
      expect(out.batchItemFailures).toEqual([]);
    }
  };

  /** A running sticky 50/50 bandit on METRIC started `startedAgoMs` before now. */
  const bandit = async (key: string, startedAgoMs: number, config: Record<string, unknown> = {}): Promise<void> => {
    await must('POST', `${DEMO}/experiments`, {
      key,
      name: key,
      environments: [ENV],
      variations: [
        { key: 'control', weight: 1 },
        { key: 'treatment', weight: 1 },
      ],
      metrics: { primary: [METRIC], secondary: [], guardrails: [] },
      stickyBucketing: { enabled: true },
      status: 'running',
      startedAt: new Date(p.now.value.getTime() - startedAgoMs).toISOString(),
      bandit: config,
    });
  };

  const experiment = async (key: string): Promise<any> => must('GET', `${DEMO}/experiments/${key}`);
  const weights = async (key: string): Promise<(number | undefined)[]> => (await experiment(key)).definition.variations.map((v: { weight?: number }) => v.weight);
  const state = async (key: string): Promise<any> => must('GET', `${DEMO}/experiments/${key}/bandit`);
  const chances = async (key: string): Promise<number[]> => {
    const results = await must('GET', `${DEMO}/experiments/${key}/results?phase=all`);
    return results.metrics.find((m: { key: string }) => m.key === METRIC).variations.map((v: { chanceToBeBest: number }) => v.chanceToBeBest);
  };
  const expectedShares = (ctb: number[], minShare: number): number[] => {
    const out = banditShares(ctb, minShare);
    if (isStatsError(out)) {
      throw new Error(out.message);
    }
    return out;
  };
  /** Moves the clock, and signs in again (a session idle for a day has expired). */
  const tick = async (ms: number): Promise<void> => {
    p.now.value = new Date(p.now.value.getTime() + ms);
    owner = await p.login(OWNER.email, OWNER.password);
  };

  beforeAll(async () => {
    // An event sink, so that the SDK endpoints are served (the ruleset the move publishes).
    p = await startPlatform(pgliteTarget(), { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    T = p.now.value.getTime();
    owner = await p.login(OWNER.email, OWNER.password);
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    await must('POST', `${DEMO}/metrics`, { key: METRIC, name: 'Bought', type: 'conversion', event: 'bandit_buy' });
    updater = new BanditUpdater(p.services.deps);
  });
  afterAll(async () => {
    await p.close();
  });

  it('moves the split towards the better variation after the burn-in, then again at its cadence', async () => {
    await bandit('winner', 2 * DAY, { minShare: 0.05 });
    // 15% against 17.5% of 1,000 each: the treatment is probably, not surely, better.
    await expose('winner', 'control', 1000, 150, T - DAY);
    await expose('winner', 'treatment', 1000, 175, T - DAY);
    const first = await chances('winner');
    const firstShares = expectedShares(first, 0.05);
    expect(firstShares[1]).toBeGreaterThan(0.6);
    expect(firstShares[1]).toBeLessThan(0.95);

    const report = await updater.update();

    expect(report.moved).toEqual(['demo/winner']);
    const moved = await experiment('winner');
    // Whole basis points adding up to 10,000: the ruleset's shares are exactly the bandit's.
    expect(moved.definition.variations.map((v: { weight: number }) => v.weight / 10_000)).toEqual(firstShares);
    expect(moved.definition.splitHistory).toEqual([{ until: new Date(T).toISOString(), shares: { control: 0.5, treatment: 0.5 } }]);
    const ruleset = await p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': p.boot.sdkKeys![ENV]!.server } });
    expect(ruleset.status).toBe(200);
    expect(ruleset.body.experiments.winner.weights).toEqual(firstShares);
    expect(ruleset.body.experiments.winner).not.toHaveProperty('bandit');
    // Nor does the client ruleset (browsers) carry the bandit's configuration.
    const client = await p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': p.boot.sdkKeys![ENV]!.client } });
    expect(client.body.experiments.winner).toMatchObject({ weights: firstShares });
    expect(JSON.stringify(client.body)).not.toContain('minShare');
    const audit = (await must('GET', `/api/v1/audit?project=demo&resourceType=experiment&resourceKey=winner&limit=10`)).items;
    expect(audit[0]).toMatchObject({ action: 'experiment.updated', actorId: BANDIT_USER_ID, actorEmail: BANDIT_EMAIL, client: 'bandit' });
    const view = await state('winner');
    expect(view).toMatchObject({ experiment: 'winner', bandit: { updateEveryHours: 24, burnInHours: 24, minShare: 0.05 }, metric: METRIC, environment: ENV, nextUpdateAt: new Date(T + DAY).toISOString() });
    expect(view.updates).toEqual([
      {
        at: new Date(T).toISOString(),
        outcome: 'moved',
        reason: null,
        metric: METRIC,
        environment: ENV,
        shares: { control: firstShares[0], treatment: firstShares[1] },
        previousShares: { control: 0.5, treatment: 0.5 },
        chanceToBeBest: { control: first[0], treatment: first[1] },
        units: { control: 1000, treatment: 1000 },
        message: expect.stringContaining('moved the split'),
      },
    ]);

    // Not due again within the cadence.
    await tick(DAY - 60_000);
    expect((await updater.update()).moved).toEqual([]);
    expect((await state('winner')).updates).toHaveLength(1);

    // A day later the treatment has pulled ahead: the split moves again, the history grows.
    await expose('winner', 'control', 200, 30, p.now.value.getTime() - HOUR, 'later-');
    await expose('winner', 'treatment', 1800, 400, p.now.value.getTime() - HOUR, 'later-');
    await tick(60_000);
    const second = await chances('winner');
    const secondShares = expectedShares(second, 0.05);
    expect(secondShares[1]).toBeGreaterThan(firstShares[1]! + 0.005);

    expect((await updater.update()).moved).toEqual(['demo/winner']);

    const again = await experiment('winner');
    expect(again.definition.variations.map((v: { weight: number }) => v.weight / 10_000)).toEqual(secondShares);
    expect(again.definition.splitHistory).toHaveLength(2);
    expect(again.definition.splitHistory[1].shares).toEqual({ control: firstShares[0], treatment: firstShares[1] });
    expect((await state('winner')).updates.map((u: { outcome: string }) => u.outcome)).toEqual(['moved', 'moved']);
  });

  it('respects minShare: a clear winner gets everything but the floor', async () => {
    await bandit('floored', 2 * DAY, { minShare: 0.2 });
    await expose('floored', 'control', 400, 20, T - DAY);
    await expose('floored', 'treatment', 400, 200, T - DAY);

    const update = (await request('POST', `${DEMO}/experiments/floored/bandit/update`)).body;

    expect(update).toMatchObject({ outcome: 'moved', shares: { control: 0.2, treatment: 0.8 } });
    expect(await weights('floored')).toEqual([2000, 8000]);
  });

  it('moves nothing before the burn-in ends, and says when it ends', async () => {
    await bandit('young', 2 * HOUR, { burnInHours: 48 });
    await expose('young', 'control', 300, 10, p.now.value.getTime() - HOUR);
    await expose('young', 'treatment', 300, 100, p.now.value.getTime() - HOUR);

    await updater.update();

    expect(await weights('young')).toEqual([1, 1]);
    const view = await state('young');
    expect(view.updates).toEqual([]);
    expect(view.nextUpdateAt).toBe(new Date(p.now.value.getTime() - 2 * HOUR + 48 * HOUR).toISOString());
  });

  it('keeps the split with too few units, and records why', async () => {
    await bandit('few', 2 * DAY);
    await expose('few', 'control', 150, 10, p.now.value.getTime() - HOUR);
    await expose('few', 'treatment', 40, 30, p.now.value.getTime() - HOUR);
    const before = await experiment('few');

    await updater.update();

    const after = await experiment('few');
    expect(after.version).toBe(before.version);
    expect(after.definition.splitHistory).toBeUndefined();
    const [update] = (await state('few')).updates;
    expect(update).toMatchObject({ outcome: 'kept', reason: 'insufficient_units', units: { control: 150, treatment: 40 }, chanceToBeBest: null, shares: { control: 0.5, treatment: 0.5 } });
    expect(update.message).toContain('"treatment"');
  });

  it('keeps the split on a sample-ratio mismatch', async () => {
    await bandit('mismatched', 2 * DAY);
    // 50/50 expected, 400 against 200 exposed: the split is not what the experiment says.
    await expose('mismatched', 'control', 400, 40, p.now.value.getTime() - HOUR);
    await expose('mismatched', 'treatment', 200, 60, p.now.value.getTime() - HOUR);

    const srm = (await request('POST', `${DEMO}/experiments/mismatched/bandit/update`)).body;

    expect(srm).toMatchObject({ outcome: 'kept', reason: 'no_chance_to_be_best', chanceToBeBest: null, message: expect.stringContaining('sample-ratio mismatch') });
    expect(await weights('mismatched')).toEqual([1, 1]);
  });

  it('acts on a variation without any conversion (whose variance of 0 gives the results no chance to be best): uniform-prior posteriors', async () => {
    await bandit('unconverted', 2 * DAY);
    // No conversions at all: both rates' posteriors are alike, so nothing moves.
    await expose('unconverted', 'control', 200, 0, p.now.value.getTime() - HOUR);
    await expose('unconverted', 'treatment', 200, 0, p.now.value.getTime() - HOUR);
    await bandit('control-unconverted', 2 * DAY);
    // The control converted no one of 200, the treatment 20 of 200: the results have no chance to be best.
    await expose('control-unconverted', 'control', 200, 0, p.now.value.getTime() - HOUR);
    await expose('control-unconverted', 'treatment', 200, 20, p.now.value.getTime() - HOUR);
    expect((await must('GET', `${DEMO}/experiments/control-unconverted/results`)).metrics.find((r: { key: string }) => r.key === METRIC).variations.map((v: { chanceToBeBest: number | null }) => v.chanceToBeBest)).toEqual([null, null]);

    const none = (await request('POST', `${DEMO}/experiments/unconverted/bandit/update`)).body;
    const one = (await request('POST', `${DEMO}/experiments/control-unconverted/bandit/update`)).body;

    expect(none).toMatchObject({ outcome: 'kept', reason: 'no_change', units: { control: 200, treatment: 200 } });
    expect(none.chanceToBeBest.control).toBeCloseTo(0.5, 6);
    expect(await weights('unconverted')).toEqual([1, 1]);
    // Beta(1, 201) against Beta(21, 181): the treatment is best almost surely; the control keeps its floor.
    expect(one).toMatchObject({ outcome: 'moved', shares: { control: 0.01, treatment: 0.99 } });
    expect(one.chanceToBeBest.treatment).toBeGreaterThan(0.9999);
  });

  it('keeps the split once it has moved 100 times', async () => {
    const startedAt = p.now.value.getTime() - 2 * DAY;
    await must('POST', `${DEMO}/experiments`, {
      key: 'full',
      name: 'full',
      environments: [ENV],
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: [METRIC], secondary: [], guardrails: [] },
      stickyBucketing: { enabled: true },
      status: 'running',
      startedAt: new Date(startedAt).toISOString(),
      // An import brings the splits it served: 100 of them, the most an experiment records.
      splitHistory: Array.from({ length: 100 }, (_, i) => ({ until: new Date(startedAt + (i + 1) * 60_000).toISOString(), shares: { control: 0.5, treatment: 0.5 } })),
      bandit: {},
    });
    await expose('full', 'control', 300, 30, p.now.value.getTime() - HOUR);
    await expose('full', 'treatment', 300, 90, p.now.value.getTime() - HOUR);

    const update = (await request('POST', `${DEMO}/experiments/full/bandit/update`)).body;

    expect(update).toMatchObject({ outcome: 'kept', reason: 'split_history_full', message: expect.stringContaining('100 times') });
    expect(update.chanceToBeBest.treatment).toBeGreaterThan(0.99);
    expect(await weights('full')).toEqual([undefined, undefined]);
  });

  it('never overwrites a concurrent edit: the move is dropped as a conflict and tried again at the next run', async () => {
    await bandit('contested', 2 * DAY);
    await expose('contested', 'control', 300, 30, p.now.value.getTime() - HOUR);
    await expose('contested', 'treatment', 300, 90, p.now.value.getTime() - HOUR);
    let edited = false;
    // While the bandit reads the results, a person moves the split to 30/70.
    const racing = new BanditUpdater({
      ...p.services.deps,
      db: withHook(p.db, async (sql) => {
        if (!edited && sql.includes('exposures')) {
          edited = true;
          const current = await experiment('contested');
          await must('PUT', `${DEMO}/experiments/contested`, { ...current.definition, variations: [{ key: 'control', weight: 30 }, { key: 'treatment', weight: 70 }] }, current.version);
        }
      }),
    });

    await racing.update();

    expect(edited).toBe(true);
    expect(await weights('contested')).toEqual([30, 70]);
    const [conflict] = (await state('contested')).updates;
    expect(conflict).toMatchObject({ outcome: 'kept', reason: 'conflict', previousShares: { control: 0.5, treatment: 0.5 } });
    // A conflict is no check for the cadence: the next run moves it, from the person's split.
    await updater.update();
    const [retried] = (await state('contested')).updates;
    expect(retried).toMatchObject({ outcome: 'moved', previousShares: { control: 0.3, treatment: 0.7 } });
    expect((await experiment('contested')).definition.splitHistory.map((s: { shares: unknown }) => s.shares)).toEqual([
      { control: 0.5, treatment: 0.5 },
      { control: 0.3, treatment: 0.7 },
    ]);
  });

  it('leaves a stopped experiment alone, and refuses to update it', async () => {
    await bandit('stopped', 2 * DAY);
    await expose('stopped', 'control', 300, 30, p.now.value.getTime() - HOUR);
    await expose('stopped', 'treatment', 300, 90, p.now.value.getTime() - HOUR);
    const running = await experiment('stopped');
    await must('POST', `${DEMO}/experiments/stopped/stop`, { decision: 'inconclusive' }, running.version);

    await updater.update();
    const post = await request('POST', `${DEMO}/experiments/stopped/bandit/update`);

    expect(await weights('stopped')).toEqual([1, 1]);
    expect(post.status).toBe(409);
    expect(post.body.error).toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('is stopped') });
    const view = await state('stopped');
    expect(view.updates).toEqual([]);
    expect(view.nextUpdateAt).toBeNull();
  });

  it('answers GET for an experiment without a bandit with bandit null, POST with 409, and a viewer may read but not update', async () => {
    await must('POST', `${DEMO}/experiments`, { key: 'plain', name: 'plain', variations: [{ key: 'control' }, { key: 'treatment' }] });
    const viewer = await signedInAs(p, owner, 'viewer', 'bandit-viewer@example.com');

    const plain = await state('plain');
    const post = await request('POST', `${DEMO}/experiments/plain/bandit/update`);
    const unknown = await request('GET', `${DEMO}/experiments/nope/bandit`);
    const read = await requestAs(p, viewer, 'GET', `${DEMO}/experiments/floored/bandit`);
    const write = await requestAs(p, viewer, 'POST', `${DEMO}/experiments/floored/bandit/update`);

    expect(plain).toEqual({ experiment: 'plain', bandit: null, metric: null, environment: null, nextUpdateAt: null, updates: [] });
    expect(post.status).toBe(409);
    expect(post.body.error.message).toContain('has no bandit');
    expect(unknown.status).toBe(404);
    expect(read.status).toBe(200);
    expect(read.body.updates).toHaveLength(1);
    expect(write.status).toBe(403);
  });

  it('updates now on POST whatever the burn-in, and lists the checks newest first', async () => {
    await bandit('eager', HOUR, { burnInHours: 72 });
    await expose('eager', 'control', 300, 30, p.now.value.getTime() - HOUR / 2);
    await expose('eager', 'treatment', 300, 90, p.now.value.getTime() - HOUR / 2);

    const first = await must('POST', `${DEMO}/experiments/eager/bandit/update`);
    await tick(60_000);
    const second = await must('POST', `${DEMO}/experiments/eager/bandit/update`);

    expect(first.outcome).toBe('moved');
    expect(second).toMatchObject({ outcome: 'kept', reason: 'no_change' });
    expect((await state('eager')).updates.map((u: { at: string }) => u.at)).toEqual([second.at, first.at]);
    // The caller's move: the audit log names who asked.
    const audit = (await must('GET', `/api/v1/audit?project=demo&resourceType=experiment&resourceKey=eager&limit=1`)).items;
    expect(audit[0]).toMatchObject({ action: 'experiment.updated', actorEmail: OWNER.email });
  });

  it('runs on a schedule (as `xp start` does): a run moves what is due, and stop waits for it', async () => {
    await bandit('scheduled', 2 * DAY);
    await expose('scheduled', 'control', 300, 30, p.now.value.getTime() - HOUR);
    await expose('scheduled', 'treatment', 300, 90, p.now.value.getTime() - HOUR);
    const schedule = startBanditSchedule(new BanditUpdater(p.services.deps), { intervalMs: DAY, logger: p.services.deps.logger });

    const report = await schedule.runNow();
    await schedule.stop();

    expect(report?.moved).toEqual(['demo/scheduled']);
    expect((await weights('scheduled'))[1]).toBeGreaterThan(5000);
  });

  it('leaves the due bandits to the next run once a run has spent its time budget', async () => {
    await bandit('patient', 2 * DAY);
    await expose('patient', 'control', 300, 30, p.now.value.getTime() - HOUR);
    await expose('patient', 'treatment', 300, 90, p.now.value.getTime() - HOUR);

    const spent = await new BanditUpdater(p.services.deps, { runBudgetMs: 0 }).update();

    expect(spent).toMatchObject({ checked: 0, moved: [] });
    expect(spent.deferred).toBeGreaterThanOrEqual(1);
    expect((await state('patient')).updates).toEqual([]);
    expect((await updater.update()).moved).toEqual(['demo/patient']);
  });

  it('refuses a bandit whose metric the project does not have (as any primary metric)', async () => {
    const body = { key: 'unknown-metric', name: 'x', variations: [{ key: 'control' }, { key: 'treatment' }], stickyBucketing: { enabled: true }, metrics: { primary: ['no-such-metric'], secondary: [], guardrails: [] }, bandit: {} };

    const res = await request('POST', `${DEMO}/experiments`, body);

    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.error)).toContain('no-such-metric');
  });

  it('refuses a bandit on a running experiment whose sticky bucketing came on after its start (its split may never move)', async () => {
    const key = 'late-sticky';
    await must('POST', `${DEMO}/experiments`, {
      key,
      name: key,
      environments: [ENV],
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: [METRIC], secondary: [], guardrails: [] },
      status: 'running',
      startedAt: new Date(p.now.value.getTime() - DAY).toISOString(),
    });
    const stored = await must('GET', `${DEMO}/experiments/${key}`);

    // Both at once, and the bandit after sticky bucketing was turned on late.
    const both = await request('PUT', `${DEMO}/experiments/${key}`, { ...stored.definition, stickyBucketing: { enabled: true }, bandit: {} }, stored.version);
    expect(both.status).toBe(400);
    expect(both.body.error.details.issues).toEqual([{ path: 'bandit', message: expect.stringContaining('stickyBucketing was only turned on at') }]);
    const sticky = await must('PUT', `${DEMO}/experiments/${key}`, { ...stored.definition, stickyBucketing: { enabled: true } }, stored.version);
    const later = await request('PUT', `${DEMO}/experiments/${key}`, { ...sticky.definition, bandit: {} }, sticky.version);
    expect(later.status).toBe(400);
    expect(later.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['bandit']);
  });

  it('deletes the checks with their experiment', async () => {
    const current = await experiment('floored');
    await must('POST', `${DEMO}/experiments/floored/stop`, {}, current.version);
    const stopped = await experiment('floored');
    await must('DELETE', `${DEMO}/experiments/floored`, undefined, stopped.version);

    const rows = await p.db.query("SELECT 1 FROM bandit_updates WHERE experiment = 'floored'");

    expect(rows.rowCount).toBe(0);
  });
});

/**
 * Bandits against the real store, hardened: a move and its `bandit_updates` row commit together (or
 * neither does), and a bandit on a count metric whose control has no event moves rather than
 * freezing on the zero variance that gives the results no chance to be best.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineEvent } from '@xp/shared';
import { BANDIT_USER_ID, BanditUpdater } from '../../domain/bandit.js';
import { processBatch } from '../../pipeline/aggregate.js';
import { toRecord } from '../../pipeline/__tests__/fixtures.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const ENV = 'development';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CONVERSION = 'bh-bought';
const COUNT = 'bh-clicks';

describe('bandits, hardened', () => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  let events = 0;

  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);

  const event = (unitId: string, at: number, event: Record<string, unknown>): PipelineEvent =>
    ({ v: 1, projectId, environment: ENV, receivedAt: at, occurredAt: at, event: { id: `hardened-${String(++events)}`, unitId, timestamp: at, ...event } }) as PipelineEvent;

  /** `units` units of `variation` exposed at `at`, the first `acting` of them sending `name` `times` times a minute later. */
  const expose = async (key: string, variation: string, units: number, acting: number, at: number, name: string, times = 1): Promise<void> => {
    const batch: PipelineEvent[] = [];
    for (let i = 0; i < units; i++) {
      const unit = `${key}-${variation}-${String(i)}`;
      batch.push(event(unit, at, { type: 'exposure', experiment: key, variation }));
      for (let k = 0; i < acting && k < times; k++) {
        batch.push(event(unit, at + 60_000 + k, { type: 'track', name }));
      }
    }
    for (let i = 0; i < batch.length; i += 500) {
      const out = await processBatch(p.db, batch.slice(i, i + 500).map((e) => toRecord(e)));
      expect(out.batchItemFailures).toEqual([]);
    }
  };

  /** A running sticky 50/50 bandit on `metric`, started two days ago. */
  const bandit = async (key: string, metric: string): Promise<void> => {
    await must('POST', `${DEMO}/experiments`, {
      key,
      name: key,
      environments: [ENV],
      variations: [
        { key: 'control', weight: 1 },
        { key: 'treatment', weight: 1 },
      ],
      metrics: { primary: [metric], secondary: [], guardrails: [] },
      stickyBucketing: { enabled: true },
      status: 'running',
      startedAt: new Date(p.now.value.getTime() - 2 * DAY).toISOString(),
      bandit: {},
    });
  };

  const experiment = async (key: string): Promise<any> => must('GET', `${DEMO}/experiments/${key}`);
  const state = async (key: string): Promise<any> => must('GET', `${DEMO}/experiments/${key}/bandit`);
  /** What the ruleset store holds for the experiment (the SDK endpoints serve it, after their cache). */
  const served = async (key: string): Promise<{ version: number | undefined; experiment: unknown }> => {
    const latest = await p.services.deps.rulesets.latest(projectId, ENV);
    return { version: latest?.ruleset.version, experiment: (latest?.ruleset.experiments as Record<string, unknown> | undefined)?.[key] };
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    owner = await p.login(OWNER.email, OWNER.password);
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    await must('POST', `${DEMO}/metrics`, { key: CONVERSION, name: 'Bought', type: 'conversion', event: 'bh_buy' });
    await must('POST', `${DEMO}/metrics`, { key: COUNT, name: 'Clicks', type: 'count', event: 'bh_click' });
  });
  afterAll(async () => {
    await p.close();
  });

  it('moves the split and records the move in one transaction: when the record fails, the split does not move either', async () => {
    await bandit('unrecorded', CONVERSION);
    await expose('unrecorded', 'control', 300, 30, p.now.value.getTime() - HOUR, 'bh_buy');
    await expose('unrecorded', 'treatment', 300, 90, p.now.value.getTime() - HOUR, 'bh_buy');
    const before = await experiment('unrecorded');
    const servedBefore = await served('unrecorded');
    // The database refuses the move's row (not a kept check's), as a full disk or a lost connection would.
    await p.db.query(`CREATE FUNCTION bh_refuse_move() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.outcome = 'moved' AND NEW.experiment = 'unrecorded' THEN RAISE EXCEPTION 'bandit_updates is refusing moves'; END IF;
        RETURN NEW;
      END $$`);
    await p.db.query('CREATE TRIGGER bh_refuse_move BEFORE INSERT ON bandit_updates FOR EACH ROW EXECUTE FUNCTION bh_refuse_move()');

    const failed = (await request('POST', `${DEMO}/experiments/unrecorded/bandit/update`)).body;

    expect(failed).toMatchObject({ outcome: 'kept', reason: 'failed', message: expect.stringContaining('bandit_updates is refusing moves') });
    const after = await experiment('unrecorded');
    expect(after.version).toBe(before.version);
    expect(after.definition.variations).toEqual(before.definition.variations);
    expect(after.definition.splitHistory).toBeUndefined();
    expect(await served('unrecorded')).toEqual(servedBefore);
    const audit = await p.db.query("SELECT 1 FROM audit_log WHERE resource_key = 'unrecorded' AND action = 'experiment.updated'");
    expect(audit.rowCount).toBe(0);
    expect((await state('unrecorded')).updates.map((u: { outcome: string; reason: string | null }) => `${u.outcome} ${String(u.reason)}`)).toEqual(['kept failed']);

    // Once the database takes the row again, a check moves the split and records it.
    await p.db.query('DROP TRIGGER bh_refuse_move ON bandit_updates');
    await p.db.query('DROP FUNCTION bh_refuse_move()');
    const moved = (await request('POST', `${DEMO}/experiments/unrecorded/bandit/update`)).body;

    expect(moved.outcome).toBe('moved');
    const movedExperiment = await experiment('unrecorded');
    expect(movedExperiment.definition.splitHistory).toHaveLength(1);
    expect(movedExperiment.definition.variations.map((v: { weight: number }) => v.weight / 10_000)).toEqual([moved.shares.control, moved.shares.treatment]);
    const published = await served('unrecorded');
    expect(published.version).toBeGreaterThan(servedBefore.version!);
    expect(published.experiment).toMatchObject({ weights: [moved.shares.control, moved.shares.treatment] });
    expect((await state('unrecorded')).updates.map((u: { outcome: string }) => u.outcome)).toEqual(['moved', 'kept']);
  });

  it('moves a bandit on a count metric whose control has no event (no variance), through the scheduled updater', async () => {
    await bandit('no-clicks', COUNT);
    // The control: no click in 200 units. The treatment: 40 of 200 units click, 1 to 3 times.
    await expose('no-clicks', 'control', 200, 0, p.now.value.getTime() - HOUR, 'bh_click');
    await expose('no-clicks', 'treatment', 200, 40, p.now.value.getTime() - HOUR, 'bh_click', 2);
    const results = await must('GET', `${DEMO}/experiments/no-clicks/results`);
    expect(results.metrics.find((m: { key: string }) => m.key === COUNT).variations.map((v: { chanceToBeBest: number | null }) => v.chanceToBeBest)).toEqual([null, null]);

    const report = await new BanditUpdater(p.services.deps).update();

    expect(report.moved).toContain('demo/no-clicks');
    const [update] = (await state('no-clicks')).updates;
    expect(update).toMatchObject({ outcome: 'moved', units: { control: 200, treatment: 200 } });
    expect(update.chanceToBeBest.treatment).toBeGreaterThan(0.99);
    expect(update.shares.treatment).toBeGreaterThan(0.9);
    const audit = (await must('GET', `/api/v1/audit?project=demo&resourceType=experiment&resourceKey=no-clicks&limit=1`)).items;
    expect(audit[0]).toMatchObject({ action: 'experiment.updated', actorId: BANDIT_USER_ID });
  });

  it('keeps the split of a count metric on which no unit of any variation has an event: nothing tells them apart', async () => {
    await bandit('silent', COUNT);
    await expose('silent', 'control', 200, 0, p.now.value.getTime() - HOUR, 'bh_click');
    await expose('silent', 'treatment', 200, 0, p.now.value.getTime() - HOUR, 'bh_click');

    const update = (await request('POST', `${DEMO}/experiments/silent/bandit/update`)).body;

    expect(update).toMatchObject({ outcome: 'kept', reason: 'no_chance_to_be_best', message: expect.stringContaining('every unit of every variation has the same value') });
    expect((await experiment('silent')).definition.splitHistory).toBeUndefined();
  });
});

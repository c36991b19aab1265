/**
 * Guardrails of a bandit: its split moves every day or so, so its guardrails judge every split phase
 * since the start, stratified as its results, not its current phase only (a day of units, a
 * sequential test that restarts at every move). A harmful variation is caught across the moves; a
 * metric that drifts between phases while the split moves alerts nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentInput } from '@xp/shared';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, startPlatform } from '../../http/__tests__/harness.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { BANDIT_RESULTS_PHASE } from '../bandit.js';
import type { Actor } from '../context.js';
import { GuardrailChecker } from '../guardrails.js';
import { computeResults } from '../results.js';

const ENV = 'development';
const DAY = 86_400_000;
const METRIC = 'gb-latency';

describe.each(TARGETS.map((t) => [t().name, t] as const))('guardrails of a bandit on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: Actor;
  let projectId: string;
  let batch = 0;

  /** `units` units of one arm first exposed at `exposedAt`, latency base + (i mod 7) × 10 ms. */
  async function seed(key: string, variation: string, units: number, base: number, exposedAt: Date): Promise<void> {
    batch++;
    const id = `${variation}-${String(batch)}`;
    await p.db.query(
      `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, $5, $7, 'x-' || $3 || '-' || $4 || '-' || i FROM generate_series(1, $6::int) AS i`,
      [projectId, ENV, key, id, variation, units, exposedAt],
    );
    await p.db.query(
      `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, $6, false, $7::numeric + (i % 7) * 10 FROM generate_series(1, $5::int) AS i`,
      [projectId, ENV, key, id, units, METRIC, base],
    );
  }

  /**
   * A running bandit started four days ago whose split moved at the end of each of its first
   * `phases.length - 1` days, towards the treatment; each phase's units are seeded in it:
   * [control units, control latency, treatment units, treatment latency].
   */
  async function movedBandit(key: string, phases: readonly (readonly [number, number, number, number])[]): Promise<void> {
    const start = p.now.value.getTime() - 4 * DAY;
    const shares = (i: number): { control: number; treatment: number } => ({ control: phases[i]![0] / (phases[i]![0] + phases[i]![2]), treatment: phases[i]![2] / (phases[i]![0] + phases[i]![2]) });
    const last = shares(phases.length - 1);
    const input: ExperimentInput = {
      key,
      name: key,
      environments: [ENV],
      variations: [
        { key: 'control', weight: Math.round(last.control * 10_000) },
        { key: 'treatment', weight: 10_000 - Math.round(last.control * 10_000) },
      ],
      metrics: { primary: [METRIC], secondary: [], guardrails: [METRIC] },
      stickyBucketing: { enabled: true },
      guardrailAction: 'stop',
      status: 'running',
      startedAt: new Date(start).toISOString(),
      splitHistory: phases.slice(0, -1).map((_, i) => ({ until: new Date(start + (i + 1) * DAY).toISOString(), shares: shares(i) })),
      bandit: {},
    };
    await p.services.experiments.create(owner, 'demo', input);
    for (const [i, [controlUnits, controlBase, treatmentUnits, treatmentBase]] of phases.entries()) {
      // In the middle of the phase's day (the last phase: since its start, before now).
      const at = new Date(start + i * DAY + DAY / 2);
      await seed(key, 'control', controlUnits, controlBase, at);
      await seed(key, 'treatment', treatmentUnits, treatmentBase, at);
    }
  }

  const alertsOf = async (key: string): Promise<{ effect: number; p_value: number; control_units: number; treatment_units: number; action: string }[]> =>
    (await p.db.query<{ effect: number; p_value: number; control_units: number; treatment_units: number; action: string }>('SELECT effect, p_value, control_units, treatment_units, action FROM alerts WHERE experiment = $1 ORDER BY id', [key])).rows;
  const statusOf = async (key: string): Promise<string> => (await p.services.experiments.get(owner, 'demo', key)).definition.status;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    const u = await p.db.query<{ id: string; org_id: string }>('SELECT id, org_id FROM users WHERE email = $1', [OWNER.email]);
    owner = { userId: u.rows[0]!.id, orgId: u.rows[0]!.org_id, email: OWNER.email, role: 'owner', client: 'test' };
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    await p.services.metrics.create(owner, 'demo', { key: METRIC, name: 'Latency', type: 'sum', event: 'gb_load', property: 'ms', higherIsBetter: false });
  });
  afterAll(async () => {
    await p.close();
  });

  it('alerts nothing for a harmless bandit whose metric drifts between phases while the split moves towards the treatment', async () => {
    const checker = new GuardrailChecker(p.services.deps);
    // The platform's other running experiments' comparisons.
    const others = (await checker.check()).comparisons;
    // Every phase is slower than the one before, for both arms alike; the treatment gets more of
    // the later, slower units. Pooled, the treatment would look 60+ ms slower (Simpson's paradox).
    await movedBandit('gb-drift', [
      [300, 100, 300, 100],
      [150, 200, 450, 200],
      [100, 300, 500, 300],
      [40, 400, 560, 400],
    ]);

    const report = await checker.check();

    // Judged (every phase: the current one alone has 40 control units, too few to test), not alerted.
    expect(report.comparisons).toBeGreaterThan(others);
    expect(report.raised).toEqual([]);
    expect(await alertsOf('gb-drift')).toEqual([]);
    expect(await statusOf('gb-drift')).toBe('running');
  });

  it('alerts on and stops a bandit whose treatment harms a guardrail across several moves, which its current phase alone is too small to show', async () => {
    // 10 ms slower in every phase; the current phase has 30 control units (fewer than the 100 a
    // comparison needs), and no earlier phase alone has enough of a difference to stop it.
    await movedBandit('gb-harm', [
      [150, 100, 150, 110],
      [100, 100, 200, 110],
      [60, 100, 240, 110],
      [30, 100, 270, 110],
    ]);

    const report = await new GuardrailChecker(p.services.deps).check();

    expect(report.stopped).toEqual(['demo/gb-harm']);
    expect(await statusOf('gb-harm')).toBe('stopped');
    const [alert] = await alertsOf('gb-harm');
    expect(alert).toMatchObject({ action: 'stopped', control_units: 340, treatment_units: 860 });
    // The estimate is the results' stratified one (BANDIT_RESULTS_PHASE, what the bandit reads):
    // the same relative effect and always-valid p-value.
    const results = await computeResults(p.db, { projectId, environment: ENV, experiment: 'gb-harm' }, { phase: BANDIT_RESULTS_PHASE, sequential: true, cuped: false }, p.now.value);
    const comparison = results.metrics.find((m) => m.key === METRIC)!.variations[1]!.comparison!;
    expect(results.filters.phase.stratified).toMatchObject({ phases: 4, used: 4 });
    expect(alert!.effect).toBeCloseTo(comparison.effect, 9);
    expect(alert!.p_value).toBeCloseTo(comparison.pValue, 9);
    expect(alert!.effect).toBeGreaterThan(0.05);

    // Resumed: the units before the resume were judged harmful already; only those since count.
    p.now.value = new Date(p.now.value.getTime() + 600_000);
    const stopped = await p.services.experiments.get(owner, 'demo', 'gb-harm');
    await p.services.experiments.resume(owner, 'demo', 'gb-harm', stopped.version);
    p.now.value = new Date(p.now.value.getTime() + 60_000);
    expect((await new GuardrailChecker(p.services.deps).check()).stopped).toEqual([]);
    expect(await statusOf('gb-harm')).toBe('running');
  });
});

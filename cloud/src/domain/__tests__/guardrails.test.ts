import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentInput, MetricInput } from '@xp/shared';
import { metricSchema } from '@xp/shared';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, startPlatform } from '../../http/__tests__/harness.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { row } from './guardrail-rows.js';
import type { Actor } from '../context.js';
import { GUARDRAILS_CLIENT, GUARDRAILS_EMAIL, GUARDRAILS_USER_ID, GuardrailChecker, judgeGuardrail, startGuardrailSchedule } from '../guardrails.js';

const ENV = 'development';

const METRICS: MetricInput[] = [
  { key: 'gr-latency', name: 'Page load (ms)', type: 'sum', event: 'page_load', property: 'ms', higherIsBetter: false },
  { key: 'gr-checkout', name: 'Checkout rate', type: 'conversion', event: 'gr_checkout' },
];

const experiment = (key: string, extra: Partial<ExperimentInput> = {}): ExperimentInput => ({
  key,
  name: key,
  environments: [ENV],
  variations: [{ key: 'control' }, { key: 'treatment' }],
  metrics: { primary: [], secondary: [], guardrails: ['gr-latency', 'gr-checkout'] },
  ...extra,
});

/** Per-unit values of one arm: latency = base + (i mod 7) × 10 ms; checkout = 1 for `checkoutPer10` units in 10. */
interface Arm {
  readonly units: number;
  readonly latencyBase: number;
  readonly checkoutPer10: number;
}

describe('judgeGuardrail', () => {
  const conversion = metricSchema.parse({ key: 'c', name: 'C', type: 'conversion', event: 'e' });
  const errors = metricSchema.parse({ key: 'e', name: 'E', type: 'count', event: 'err', higherIsBetter: false });

  it('flags a significant drop of a higher-is-better metric and not a significant rise', () => {
    const control = row('control', 2000, 600, 600);

    const drop = judgeGuardrail(conversion, control, row('treatment', 2000, 400, 400));
    const rise = judgeGuardrail(conversion, control, row('treatment', 2000, 800, 800));

    expect(drop).toMatchObject({ degraded: true, difference: 'relative' });
    expect(drop!.result.effect).toBeLessThan(0);
    expect(drop!.result.pValue).toBeLessThan(0.05);
    expect(rise).toMatchObject({ degraded: false });
  });

  it('falls back to the absolute difference when the control mean is 0, also when the control has no variance', () => {
    // Values of ±1 per unit: mean 0, variance 1.
    const zeroMean = row('control', 2000, 0, 2000);

    const worse = judgeGuardrail(errors, zeroMean, row('treatment', 2000, 300, 2000));
    const noErrorsAtAll = judgeGuardrail(errors, row('control', 2000, 0, 0), row('treatment', 2000, 300, 300));

    expect(worse).toMatchObject({ degraded: true, difference: 'absolute' });
    expect(worse!.result.effect).toBeCloseTo(0.15, 10);
    expect(noErrorsAtAll).toMatchObject({ degraded: true, difference: 'absolute' });
    expect(noErrorsAtAll!.result.effect).toBeCloseTo(0.15, 10);
  });

  it('judges on the absolute difference when the lift interval is unbounded (1 error in the control)', () => {
    // One error among 2000 control units: the control mean is not distinguishable from zero, so the
    // Fieller interval of the lift has an infinite end; 50 errors in the treatment is a clear fault.
    const verdict = judgeGuardrail(errors, row('control', 2000, 1, 1), row('treatment', 2000, 50, 50));

    expect(verdict).toMatchObject({ degraded: true, difference: 'absolute' });
    expect(verdict!.result.effect).toBeCloseTo(49 / 2000, 12);
    expect(verdict!.result.ci.every(Number.isFinite)).toBe(true);
  });
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('guardrail checker on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: Actor;
  let projectId: string;
  let token: string;

  /** Writes exposures and per-unit totals directly, as the aggregator would have. */
  async function seed(key: string, variation: string, arm: Arm): Promise<void> {
    const params = [projectId, ENV, key, variation, arm.units];
    await p.db.query(
      `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, $4, now(), 'x-' || $3 || '-' || $4 || '-' || i FROM generate_series(1, $5::int) AS i`,
      params,
    );
    await p.db.query(
      `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, 'gr-latency', false, $6::numeric + (i % 7) * 10 FROM generate_series(1, $5::int) AS i`,
      [...params, arm.latencyBase],
    );
    await p.db.query(
      `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, 'gr-checkout', true, 1 FROM generate_series(1, $5::int) AS i WHERE i % 10 < $6::int`,
      [...params, arm.checkoutPer10],
    );
  }

  async function runningExperiment(input: ExperimentInput, control: Arm | undefined, treatment: Arm | undefined): Promise<void> {
    await p.services.experiments.create(owner, 'demo', input);
    await p.services.experiments.start(owner, 'demo', input.key, 1);
    if (control !== undefined && treatment !== undefined) {
      await seed(input.key, 'control', control);
      await seed(input.key, 'treatment', treatment);
    }
  }

  const alertsOf = async (key: string): Promise<{ metric: string; variation: string; action: string; resolved_at: Date | null }[]> =>
    (await p.db.query<{ metric: string; variation: string; action: string; resolved_at: Date | null }>('SELECT metric, variation, action, resolved_at FROM alerts WHERE experiment = $1 ORDER BY id', [key])).rows;

  const BASE: Arm = { units: 600, latencyBase: 100, checkoutPer10: 3 };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    const u = await p.db.query<{ id: string; org_id: string }>('SELECT id, org_id FROM users WHERE email = $1', [OWNER.email]);
    owner = { userId: u.rows[0]!.id, orgId: u.rows[0]!.org_id, email: OWNER.email, role: 'owner', client: 'test' };
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    token = await p.login(OWNER.email, OWNER.password);
    for (const m of METRICS) {
      await p.services.metrics.create(owner, 'demo', m);
    }
    await runningExperiment(experiment('gr-harmful'), BASE, { ...BASE, latencyBase: 130 });
    await runningExperiment(experiment('gr-stop', { guardrailAction: 'stop' }), BASE, { ...BASE, checkoutPer10: 1 });
    await runningExperiment(experiment('gr-neutral', { guardrailAction: 'stop' }), BASE, BASE);
    await runningExperiment(experiment('gr-better', { guardrailAction: 'stop' }), BASE, { ...BASE, latencyBase: 70, checkoutPer10: 5 });
    await runningExperiment(experiment('gr-empty', { guardrailAction: 'stop' }), undefined, undefined);
  });
  afterAll(async () => {
    await p.close();
  });

  it('records one alert for a harmful change, stops the experiments configured to stop, and leaves the rest alone', async () => {
    const checker = new GuardrailChecker(p.services.deps);
    const rulesetBefore = await p.request('GET', '/api/v1/projects/demo/environments/development/ruleset', { token });

    const report = await checker.check();

    const raised = report.raised.map((a) => `${a.experiment}/${a.metric}/${a.variation}`).sort();
    expect(raised).toEqual(['gr-harmful/gr-latency/treatment', 'gr-stop/gr-checkout/treatment']);
    expect(report.stopped).toEqual(['demo/gr-stop']);
    const harmful = report.raised.find((a) => a.experiment === 'gr-harmful')!;
    expect(harmful).toMatchObject({ environment: ENV, control: 'control', difference: 'relative', action: 'alert', resolvedAt: null, detectedAt: p.now.value.toISOString() });
    // Latency means: control 130 ms, treatment 160 ms.
    expect(harmful.effect).toBeCloseTo(30 / 130, 6);
    expect(harmful.ci[0]).toBeGreaterThan(0);
    expect(harmful.pValue).toBeLessThan(0.05);
    expect(await alertsOf('gr-neutral')).toEqual([]);
    expect(await alertsOf('gr-better')).toEqual([]);
    expect(await alertsOf('gr-empty')).toEqual([]);

    const stopped = await p.services.experiments.get(owner, 'demo', 'gr-stop');
    expect(stopped.definition).toMatchObject({ status: 'stopped', decision: 'rollback', releaseWinner: false, stoppedAt: p.now.value.toISOString() });
    expect(stopped.definition.winner).toBeUndefined();
    expect(stopped.updatedBy).toBe(GUARDRAILS_USER_ID);
    expect((await alertsOf('gr-stop')).map((a) => [a.action, a.resolved_at !== null])).toEqual([['stopped', true]]);
    for (const key of ['gr-harmful', 'gr-neutral', 'gr-better', 'gr-empty']) {
      expect((await p.services.experiments.get(owner, 'demo', key)).definition.status).toBe('running');
    }

    const audit = await p.db.query<{ actor_id: string; actor_email: string; client: string; action: string; resource_key: string }>(
      `SELECT actor_id, actor_email, client, action, resource_key FROM audit_log WHERE client = $1 ORDER BY id`,
      [GUARDRAILS_CLIENT],
    );
    expect(audit.rows.map((r) => `${r.action} ${r.resource_key}`).sort()).toEqual([
      'experiment.guardrail-degraded gr-harmful',
      'experiment.guardrail-degraded gr-stop',
      'experiment.stopped gr-stop',
    ]);
    expect(new Set(audit.rows.map((r) => `${r.actor_id} ${r.actor_email}`))).toEqual(new Set([`${GUARDRAILS_USER_ID} ${GUARDRAILS_EMAIL}`]));

    const rulesetAfter = await p.request('GET', '/api/v1/projects/demo/environments/development/ruleset', { token });
    expect(rulesetBefore.body.published.ruleset.experiments['gr-stop']).toBeDefined();
    expect(rulesetAfter.body.published.ruleset.experiments['gr-stop']).toBeUndefined();
    expect(rulesetAfter.body.published.ruleset.experiments['gr-harmful']).toBeDefined();
    expect(rulesetAfter.body.published.version).toBeGreaterThan(rulesetBefore.body.published.version);
  });

  it('adds nothing when the same degradation is found again', async () => {
    const checker = new GuardrailChecker(p.services.deps);
    const auditBefore = (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n;

    const again = await checker.check();

    expect(again.raised).toEqual([]);
    expect(again.stopped).toEqual([]);
    expect(await alertsOf('gr-harmful')).toHaveLength(1);
    expect((await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n).toBe(auditBefore);
  });

  it('lists alerts over the API and resolves them when the experiment stops', async () => {
    const open = await p.request('GET', '/api/v1/projects/demo/alerts?status=open', { token });
    expect(open.status).toBe(200);
    expect(open.body.items.map((a: { experiment: string }) => a.experiment)).toEqual(['gr-harmful']);

    const current = await p.services.experiments.get(owner, 'demo', 'gr-harmful');
    await p.services.experiments.stop(owner, 'demo', 'gr-harmful', current.version, { decision: 'rollback' });
    const schedule = startGuardrailSchedule(new GuardrailChecker(p.services.deps), { intervalMs: 3_600_000, logger: p.services.deps.logger });
    const report = await schedule.runNow();
    await schedule.stop();

    expect(report?.resolved).toBe(1);
    const after = await p.request('GET', '/api/v1/projects/demo/alerts?status=open', { token });
    const all = await p.request('GET', '/api/v1/projects/demo/alerts?limit=1', { token });
    expect(after.body.items).toEqual([]);
    expect(all.body.items).toHaveLength(1);
    expect(all.body.nextCursor).toEqual(expect.any(String));
    const rest = await p.request('GET', `/api/v1/projects/demo/alerts?cursor=${all.body.nextCursor as string}`, { token });
    expect([...all.body.items, ...rest.body.items].map((a: { experiment: string; resolution: string }) => `${a.experiment}: ${a.resolution}`).sort()).toEqual([
      'gr-harmful: experiment no longer running',
      'gr-stop: experiment stopped by guardrails',
    ]);
  });
});

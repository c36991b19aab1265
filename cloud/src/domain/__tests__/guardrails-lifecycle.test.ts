/**
 * Guardrails against the experiment's lifecycle and changes around it: alerts a metric change made
 * stale, the units judged after a resume, what an automatic stop records, and the 404 of an
 * unknown environment in the alerts list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentInput, MetricInput } from '@xp/shared';
import { DifferenceType, StatisticType, frequentistTest, metricSchema } from '@xp/shared';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, booleanFlagBody, startPlatform } from '../../http/__tests__/harness.js';
import { row } from './guardrail-rows.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Actor } from '../context.js';
import { GUARDRAILS_USER_ID, GuardrailChecker, judgeGuardrail, sequentialAbsoluteTest } from '../guardrails.js';

const ENV = 'development';

describe('judgeGuardrail with one arm without variance', () => {
  const errors = metricSchema.parse({ key: 'err', name: 'Errors', type: 'count', event: 'err', higherIsBetter: false });
  const errorRate = metricSchema.parse({ key: 'erred', name: 'Erred', type: 'conversion', event: 'err', higherIsBetter: false });

  it('flags errors that appear in the treatment when the control has none', () => {
    // 500 units each; treatment: 190 units with 1 error, 50 with 2 → 290 errors, 0.58 per unit.
    const control = row('control', 500, 0, 0);
    const treatment = row('treatment', 500, 290, 190 + 50 * 4);

    const verdict = judgeGuardrail(errors, control, treatment);

    expect(verdict).toMatchObject({ degraded: true, difference: 'absolute' });
    expect(verdict!.result.effect).toBeCloseTo(0.58, 10);
    expect(verdict!.result.pValue).toBeLessThan(0.05);
    expect(verdict!.result.ci[0]).toBeGreaterThan(0);
    for (const n of [verdict!.result.effect, verdict!.result.pValue, verdict!.result.se, ...verdict!.result.ci]) {
      expect(Number.isFinite(n)).toBe(true);
    }
  });

  it('does the same for a conversion metric with no conversions in the control', () => {
    const verdict = judgeGuardrail(errorRate, row('control', 500, 0, 0), row('treatment', 500, 60, 60));

    expect(verdict).toMatchObject({ degraded: true, difference: 'absolute' });
    expect(verdict!.result.effect).toBeCloseTo(0.12, 10);
  });

  it('sees an improvement, not a degradation, when the treatment has no errors and the control has', () => {
    const verdict = judgeGuardrail(errors, row('control', 500, 290, 390), row('treatment', 500, 0, 0));

    expect(verdict?.degraded).toBe(false);
    expect(verdict!.result.effect).toBeLessThan(0);
  });

  it('gives no verdict when neither arm varies, or an arm is too small', () => {
    expect(judgeGuardrail(errors, row('control', 500, 0, 0), row('treatment', 500, 0, 0))).toBeUndefined();
    expect(judgeGuardrail(errors, row('control', 500, 500, 500), row('treatment', 500, 1000, 2000))).toBeUndefined();
    expect(judgeGuardrail(errors, row('control', 1, 0, 0), row('treatment', 500, 290, 390))).toBeUndefined();
  });

  it('computes what the stats engine computes when both arms vary', () => {
    const control = { n: 700, sum: 210, sumSquares: 400 };
    const treatment = { n: 650, sum: 260, sumSquares: 520 };
    const moments = (a: typeof control): { n: number; mean: number; variance: number } => ({ n: a.n, mean: a.sum / a.n, variance: (a.sumSquares - (a.sum * a.sum) / a.n) / (a.n - 1) });

    const ours = sequentialAbsoluteTest(moments(control), moments(treatment), { alpha: 0.05 });
    const engine = frequentistTest(control, treatment, { alpha: 0.05, difference: DifferenceType.Absolute, statisticType: StatisticType.Mean, sequential: true });

    expect(engine.error).toBeUndefined();
    expect(ours!.effect).toBeCloseTo(engine.effect, 12);
    expect(ours!.se).toBeCloseTo(engine.se, 12);
    expect(ours!.pValue).toBeCloseTo(engine.pValue, 12);
    expect(ours!.ci[0]).toBeCloseTo(engine.ci[0], 12);
    expect(ours!.ci[1]).toBeCloseTo(engine.ci[1], 12);
  });
});

const METRICS: MetricInput[] = [
  { key: 'lc-latency', name: 'Latency', type: 'sum', event: 'lc_load', property: 'ms', higherIsBetter: false },
  { key: 'lc-other', name: 'Other latency', type: 'sum', event: 'lc_other', property: 'ms', higherIsBetter: false },
  { key: 'lc-redefined', name: 'Redefined latency', type: 'sum', event: 'lc_old', property: 'ms', higherIsBetter: false },
];

const experiment = (key: string, guardrails: string[], extra: Partial<ExperimentInput> = {}): ExperimentInput => ({
  key,
  name: key,
  environments: [ENV],
  variations: [{ key: 'control' }, { key: 'treatment' }],
  metrics: { primary: [], secondary: [], guardrails },
  ...extra,
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('guardrails over the lifecycle on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: Actor;
  let projectId: string;
  let token: string;
  let batch = 0;

  /** `units` units of one arm, first exposed at `exposedAt`, latency base + (i mod 7) × 10 ms on `metric`. */
  async function seed(key: string, variation: string, units: number, base: number, exposedAt: Date, metric = 'lc-latency'): Promise<void> {
    batch++;
    const params = [projectId, ENV, key, `${variation}-${String(batch)}`, variation, units, exposedAt];
    await p.db.query(
      `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, $5, $7, 'x-' || $3 || '-' || $4 || '-' || i FROM generate_series(1, $6::int) AS i`,
      params,
    );
    await p.db.query(
      `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
       SELECT $1, $2, $3, $3 || '-' || $4 || '-' || i, $6, false, $7::numeric + (i % 7) * 10 FROM generate_series(1, $5::int) AS i`,
      [projectId, ENV, key, `${variation}-${String(batch)}`, units, metric, base],
    );
  }

  async function harmful(key: string, exposedAt: Date, metric = 'lc-latency'): Promise<void> {
    await seed(key, 'control', 600, 100, exposedAt, metric);
    await seed(key, 'treatment', 600, 150, exposedAt, metric);
  }

  async function running(input: ExperimentInput): Promise<void> {
    await p.services.experiments.create(owner, 'demo', input);
    await p.services.experiments.start(owner, 'demo', input.key, 1);
  }

  async function setExperiment(key: string, change: Partial<ExperimentInput>): Promise<void> {
    const current = await p.services.experiments.get(owner, 'demo', key);
    await p.services.experiments.update(owner, 'demo', key, { ...current.definition, ...change }, current.version);
  }

  const alertsOf = async (key: string): Promise<{ id: number; metric: string; action: string; resolution: string | null }[]> =>
    (
      await p.db.query<{ id: string | number; metric: string; action: string; resolution: string | null }>('SELECT id, metric, action, resolution FROM alerts WHERE experiment = $1 ORDER BY id', [key])
    ).rows.map((r) => ({ ...r, id: Number(r.id) }));
  const statusOf = async (key: string): Promise<string> => (await p.services.experiments.get(owner, 'demo', key)).definition.status;
  const tick = (seconds: number): void => {
    p.now.value = new Date(p.now.value.getTime() + seconds * 1000);
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    const u = await p.db.query<{ id: string; org_id: string }>('SELECT id, org_id FROM users WHERE email = $1', [OWNER.email]);
    owner = { userId: u.rows[0]!.id, orgId: u.rows[0]!.org_id, email: OWNER.email, role: 'owner', client: 'test' };
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    token = await p.login(OWNER.email, OWNER.password);
    for (const m of METRICS) {
      await p.services.metrics.create(owner, 'demo', m);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('resolves an alert whose metric is no longer a guardrail of the experiment, so it does not stop it', async () => {
    await running(experiment('lc-removed', ['lc-latency', 'lc-other']));
    await harmful('lc-removed', p.now.value);
    const checker = new GuardrailChecker(p.services.deps);
    expect((await checker.check()).raised.map((a) => `${a.experiment}/${a.metric}`)).toEqual(['lc-removed/lc-latency']);

    tick(60);
    await setExperiment('lc-removed', { metrics: { primary: [], secondary: [], guardrails: ['lc-other'] }, guardrailAction: 'stop' });
    const report = await checker.check();

    expect(report.stopped).toEqual([]);
    expect(await statusOf('lc-removed')).toBe('running');
    expect(await alertsOf('lc-removed')).toEqual([expect.objectContaining({ metric: 'lc-latency', action: 'alert', resolution: 'no longer a guardrail of the experiment' })]);
    expect(report.resolved).toBeGreaterThanOrEqual(1);
  });

  it('resolves an alert whose metric was redefined after it, so it does not stop the experiment', async () => {
    await running(experiment('lc-redef', ['lc-redefined']));
    await harmful('lc-redef', p.now.value, 'lc-redefined');
    const checker = new GuardrailChecker(p.services.deps);
    expect((await checker.check()).raised.map((a) => `${a.experiment}/${a.metric}`)).toEqual(['lc-redef/lc-redefined']);

    tick(60);
    const metric = await p.services.metrics.get(owner, 'demo', 'lc-redefined');
    await p.services.metrics.update(owner, 'demo', 'lc-redefined', { ...METRICS[2], event: 'lc_new' }, metric.version);
    tick(60);
    await setExperiment('lc-redef', { guardrailAction: 'stop' });
    const report = await checker.check();

    expect(report.stopped).toEqual([]);
    expect(await statusOf('lc-redef')).toBe('running');
    expect(await alertsOf('lc-redef')).toEqual([expect.objectContaining({ action: 'alert', resolution: 'metric redefined since the alert' })]);
  });

  it('after a resume that follows a guardrails stop, judges only the units exposed since the resume', async () => {
    await running(experiment('lc-resume', ['lc-latency'], { guardrailAction: 'stop' }));
    await harmful('lc-resume', new Date(p.now.value.getTime() - 3_600_000));
    const checker = new GuardrailChecker(p.services.deps);
    expect((await checker.check()).stopped).toEqual(['demo/lc-resume']);

    tick(600);
    const stopped = await p.services.experiments.get(owner, 'demo', 'lc-resume');
    await p.services.experiments.resume(owner, 'demo', 'lc-resume', stopped.version);
    const resumedAt = p.now.value;
    tick(60);
    const again = await checker.check();

    expect(again.stopped).toEqual([]);
    expect(await statusOf('lc-resume')).toBe('running');

    // The same harm in units exposed since the resume stops it again.
    await harmful('lc-resume', resumedAt);
    tick(60);
    expect((await checker.check()).stopped).toEqual(['demo/lc-resume']);
  });

  it('judges only the current split phase of a sticky experiment whose split moved, as the results do', async () => {
    await running(experiment('lc-phase', ['lc-latency'], { guardrailAction: 'stop', stickyBucketing: { enabled: true } }));
    // Before the split moves: mostly control, in a fast period; no difference between the arms.
    const before = new Date(p.now.value.getTime() - 3_600_000);
    await seed('lc-phase', 'control', 600, 100, before);
    await seed('lc-phase', 'treatment', 100, 100, before);
    tick(60);
    await setExperiment('lc-phase', { variations: [{ key: 'control', weight: 0.2 }, { key: 'treatment', weight: 0.8 }] });
    expect((await p.services.experiments.get(owner, 'demo', 'lc-phase')).definition.splitHistory).toHaveLength(1);
    tick(60);
    // After: mostly treatment, in a slow period; again no difference between the arms.
    await seed('lc-phase', 'control', 100, 200, p.now.value);
    await seed('lc-phase', 'treatment', 600, 200, p.now.value);
    tick(60);

    // Pooled, the treatment would look 70 ms slower (Simpson's paradox) and be stopped.
    expect((await new GuardrailChecker(p.services.deps).check()).stopped).toEqual([]);
    expect(await statusOf('lc-phase')).toBe('running');
    expect(await alertsOf('lc-phase')).toEqual([]);
  });

  it('keeps judging every unit after a manual stop and resume', async () => {
    await running(experiment('lc-manual', ['lc-latency'], { guardrailAction: 'stop' }));
    const current = await p.services.experiments.get(owner, 'demo', 'lc-manual');
    tick(60);
    await p.services.experiments.stop(owner, 'demo', 'lc-manual', current.version, { decision: 'inconclusive' });
    tick(60);
    const stopped = await p.services.experiments.get(owner, 'demo', 'lc-manual');
    await p.services.experiments.resume(owner, 'demo', 'lc-manual', stopped.version);
    // Exposed before the pause.
    await harmful('lc-manual', new Date(p.now.value.getTime() - 3_600_000));
    tick(60);

    expect((await new GuardrailChecker(p.services.deps).check()).stopped).toEqual(['demo/lc-manual']);
  });

  it('records why it stopped, and a flag.rolled-back entry per flag serving the experiment, which flag.* webhooks receive', async () => {
    await running(experiment('lc-rollback', ['lc-latency'], { guardrailAction: 'stop' }));
    await p.services.flags.create(
      owner,
      'demo',
      booleanFlagBody('lc-served', { [ENV]: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'exp', type: 'experiment', experiment: 'lc-rollback', variations: { control: 'off', treatment: 'on' } }] } }),
    );
    await p.services.flags.create(owner, 'demo', booleanFlagBody('lc-unrelated'));
    const flagHook = await p.services.webhooks.create(owner, 'demo', { name: 'flags in dev', url: 'https://hooks.example.com/xp', events: ['flag.*'], environments: [ENV] });
    const otherEnv = await p.services.webhooks.create(owner, 'demo', { name: 'flags in prod', url: 'https://hooks.example.com/xp', events: ['flag.*'], environments: ['production'] });
    await harmful('lc-rollback', p.now.value);
    tick(60);

    expect((await new GuardrailChecker(p.services.deps).check()).stopped).toEqual(['demo/lc-rollback']);

    const [alert] = await alertsOf('lc-rollback');
    const entries = await p.db.query<{ id: string; action: string; resource_type: string; resource_key: string; environment_key: string | null; actor_id: string; diff: { op: string; path: string; to?: unknown }[] }>(
      `SELECT id, action, resource_type, resource_key, environment_key, actor_id, diff FROM audit_log
       WHERE resource_key IN ('lc-rollback', 'lc-served', 'lc-unrelated') AND actor_id = $1 ORDER BY id`,
      [GUARDRAILS_USER_ID],
    );
    expect(entries.rows.map((e) => `${e.action} ${e.resource_key} ${e.environment_key ?? '-'}`)).toEqual([
      `experiment.guardrail-degraded lc-rollback ${ENV}`,
      'experiment.stopped lc-rollback -',
      `flag.rolled-back lc-served ${ENV}`,
    ]);
    const stop = entries.rows[1]!;
    const added = Object.fromEntries(stop.diff.filter((d) => d.op === 'add').map((d) => [d.path, d.to]));
    expect(added).toMatchObject({ '/guardrailAlerts': String(alert!.id), '/guardrailMetrics': 'lc-latency' });
    expect(added['/guardrailCause']).toMatch(new RegExp(`^alert ${String(alert!.id)}: lc-latency relative effect 0\\.\\d+ \\(p .+\\) for treatment against control in ${ENV}$`));
    const rolledBack = entries.rows[2]!;
    expect(rolledBack.resource_type).toBe('flag');
    expect(rolledBack.diff).toEqual([
      { op: 'add', path: '', to: { experiment: 'lc-rollback', decision: 'rollback', alerts: [alert!.id], metrics: ['lc-latency'], environments: { [ENV]: { experiment: 'lc-rollback' } } } },
    ]);

    const delivered = await p.db.query<{ webhook_id: string; event: string }>('SELECT webhook_id, event FROM webhook_deliveries WHERE audit_id = $1', [rolledBack.id]);
    expect(delivered.rows).toEqual([{ webhook_id: flagHook.webhook.id, event: 'flag.rolled-back' }]);
    expect(delivered.rows.some((d) => d.webhook_id === otherEnv.webhook.id)).toBe(false);
  });

  it('answers 404 naming an unknown environment in the alerts list', async () => {
    const unknown = await p.request('GET', '/api/v1/projects/demo/alerts?environment=nope', { token });
    const known = await p.request('GET', `/api/v1/projects/demo/alerts?environment=${ENV}`, { token });

    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual({ code: 'NOT_FOUND', message: 'environment "nope" not found' });
    expect(known.status).toBe(200);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectFlagEvaluations } from '@xp/shared';
import { srmTest } from '@xp/shared';
import { startConfig } from '../../cli/xp.js';
import { DemoExperiment } from '../../domain/bootstrap.js';
import { silentLogger } from '../../domain/context.js';
import { GuardrailChecker } from '../../domain/guardrails.js';
import { computeBreakdown } from '../../domain/results.js';
import { querySufficientStatistics } from '../../pipeline/sufficient-statistics.js';
import { DEMO_COUNTRIES, DEMO_RETIRED_FLAG, DEMO_RETIRED_FLAG_EVERY, mulberry32 } from '../demo-traffic.js';
import type { DemoStats } from '../demo-traffic.js';
import { startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const PASSWORD = 'demo traffic test passphrase';
const USERS = 800;

/** Polls `read` until `done` holds, at most `attempts` times 50 ms apart; returns the last value. */
async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, attempts = 400): Promise<T> {
  let value = await read();
  for (let i = 0; i < attempts && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

describe('mulberry32', () => {
  it('is deterministic per seed and uniform-looking in [0, 1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 10_000 }, () => a());

    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });
});

describe('demo traffic through a real local stack', () => {
  let dir: string;
  let stack: LocalStack;
  let stats: DemoStats;
  const printed: string[] = [];

  const start = (args: readonly string[]): Promise<LocalStack> =>
    startLocalStack(
      startConfig(['--data-dir', dir, '--port', '0', '--console-port', '0', ...args], {
        XP_ADMIN_EMAIL: 'me@example.com',
        XP_ADMIN_PASSWORD: PASSWORD,
        XP_DEMO_USERS: String(USERS),
        XP_GUARDRAIL_INTERVAL_SECONDS: '0',
      }),
      { logger: silentLogger, print: (l) => printed.push(l), demo: { waveIntervalMs: 0, progressEveryMs: 0 } },
    );

  const projectId = async (): Promise<string> => (await stack.deps.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-demo-'));
    stack = await start([]);
    stats = await stack.demo!.done;
  }, 120_000);
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('simulates every user through the SDK endpoints and prints progress', () => {
    const lines = printed.filter((l) => l.startsWith('demo traffic'));

    expect(stats.users).toBe(USERS);
    expect(stats.eventsSent).toBeGreaterThan(USERS * 3);
    expect(lines[0]).toContain('--no-demo');
    expect(lines.at(-1)).toBe(`demo traffic: ${USERS} / ${USERS} users simulated, ${stats.eventsSent.toLocaleString('en')} events sent (done)`);
  });

  it('gets every event into the aggregates, with the winner ahead and the SRM experiment skewed', async () => {
    const id = await projectId();
    const processed = await pollUntil(
      async () => (await stack.deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_events WHERE project_id = $1', [id])).rows[0]!.n,
      (n) => n >= stats.eventsSent,
    );
    const split = async (experiment: string): Promise<Record<string, number>> => {
      const rows = await stack.deps.db.query<{ variation: string; n: number }>(
        'SELECT variation, count(*)::int AS n FROM exposures WHERE project_id = $1 AND experiment = $2 GROUP BY variation',
        [id, experiment],
      );
      return Object.fromEntries(rows.rows.map((r) => [r.variation, r.n]));
    };
    const conversions = async (experiment: string): Promise<Record<string, number>> => {
      const rows = await querySufficientStatistics(stack.deps.db, { projectId: id, environment: 'development', experiment, metrics: ['demo-purchase'] });
      return Object.fromEntries(rows.map((r) => [r.variation, Number(r.sum) / r.n]));
    };

    expect(processed).toBe(stats.eventsSent);
    for (const experiment of Object.values(DemoExperiment)) {
      expect(await split(experiment)).toEqual(stats.exposures[experiment]);
    }
    const srm = await split(DemoExperiment.SampleRatioMismatch);
    const balanced = await split(DemoExperiment.Null);
    expect(srm.treatment! / srm.control!).toBeLessThan(0.85);
    expect(srmTest([srm.control!, srm.treatment!], [0.5, 0.5]).pValue).toBeLessThan(0.01);
    expect(srmTest([balanced.control!, balanced.treatment!], [0.5, 0.5]).pValue).toBeGreaterThan(0.01);
    const winner = await conversions(DemoExperiment.Winner);
    expect(winner.treatment! - winner.control!).toBeGreaterThan(0.03);
    // Every exposure carries the demo dimensions; the breakdown by country covers every unit.
    const target = { projectId: id, environment: 'development', experiment: DemoExperiment.Winner };
    const byCountry = await computeBreakdown(stack.deps.db, target, { dimension: 'country' }, new Date());
    const all = await split(DemoExperiment.Winner);
    expect(byCountry.values.map((v) => v.value).sort()).toEqual([...new Set(DEMO_COUNTRIES)].sort());
    expect(byCountry.values.reduce((n, v) => n + v.results.units.analysed + v.results.units.excluded, 0)).toBe(Object.values(all).reduce((a, b) => a + b, 0));
    expect(byCountry.values.every((v) => v.results.metrics.every((m) => m.source === 'rollup'))).toBe(true);
  });

  it('counts every user’s evaluations of the demo flags, and of a key no flag has, through the API', async () => {
    const login = await fetch(`${stack.apiUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'me@example.com', password: PASSWORD }),
    });
    const { token } = (await login.json()) as { token: string };
    const usage = async (): Promise<ProjectFlagEvaluations> => (await (await fetch(`${stack.apiUrl}/api/v1/projects/demo/flag-evaluations`, { headers: { authorization: `Bearer ${token}` } })).json()) as ProjectFlagEvaluations;
    const total = (flag: string): number => Object.values(stats.evaluations[flag] ?? {}).reduce((a, b) => a + b, 0);
    // The previous test waited for every record; these read what the aggregator stored.
    const listed = (await usage()).flags;
    expect(listed.map((f) => [f.flag, f.defined, f.total]).sort()).toEqual(
      [
        ['button-color', true, USERS],
        ['new-checkout', true, USERS],
        [DEMO_RETIRED_FLAG, false, USERS / DEMO_RETIRED_FLAG_EVERY],
      ].sort(),
    );
    expect(listed.every((f) => f.total === total(f.flag))).toBe(true);
    // Nothing serves the retired key: every evaluation got the caller's default.
    expect(stats.evaluations[DEMO_RETIRED_FLAG]).toEqual({ '': USERS / DEMO_RETIRED_FLAG_EVERY });
    // Two applications: new-checkout asked by both (half the users each), button-color by the pages only, the retired key by the checkout service only.
    const byApp = (flag: string): [string | null, number][] => listed.find((f) => f.flag === flag)!.apps.map((a) => [a.app, a.count]);
    expect(byApp('new-checkout').sort()).toEqual([
      ['checkout-api', USERS / 2],
      ['web-shop', USERS / 2],
    ]);
    expect(byApp('button-color')).toEqual([['web-shop', USERS]]);
    expect(byApp(DEMO_RETIRED_FLAG)).toEqual([['checkout-api', USERS / DEMO_RETIRED_FLAG_EVERY]]);
    expect(stats.evaluationsByApp).toEqual({
      'web-shop': { 'new-checkout': USERS / 2, 'button-color': USERS },
      'checkout-api': { 'new-checkout': USERS / 2, [DEMO_RETIRED_FLAG]: USERS / DEMO_RETIRED_FLAG_EVERY },
    });
  });

  it('feeds the Health view from the in-process counters of the SDK endpoints and the aggregator', async () => {
    const login = await fetch(`${stack.apiUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'me@example.com', password: PASSWORD }),
    });
    const { token } = (await login.json()) as { token: string };
    // The aggregator's lag is recorded once a batch is applied; the previous test waited for all of them.
    const res = await fetch(`${stack.apiUrl}/api/v1/health?minutes=60`, { headers: { authorization: `Bearer ${token}` } });
    const report = (await res.json()) as { source: string; metricsAvailable: boolean; figures: { name: string; statistic: string; value: number | null }[] };
    const figure = (name: string, statistic: string): number | null | undefined => report.figures.find((f) => f.name === name && f.statistic === statistic)?.value;

    expect(res.status).toBe(200);
    expect(report.source).toBe('in-process');
    expect(figure('EventsAccepted', 'sum')).toBeGreaterThanOrEqual(stats.eventsSent);
    expect(figure('EventsRejected', 'sum')).toBe(0);
    expect(figure('EvaluationLatency', 'p50')).toBeGreaterThan(0);
    expect(figure('EvaluationLatency', 'p99')).toBeGreaterThanOrEqual(figure('EvaluationLatency', 'p50')!);
    expect(figure('AggregationLag', 'max')).toBeGreaterThanOrEqual(0);
  });

  it('raises no guardrail alert on the demo data (errors are the same in every arm)', async () => {
    const report = await new GuardrailChecker(stack.deps).check();

    expect(report.comparisons).toBeGreaterThanOrEqual(3);
    expect(report.raised).toEqual([]);
  });

  it('does not run again on a restart, and --no-demo starts nothing', async () => {
    await stack.close();
    printed.length = 0;

    stack = await start([]);
    const restarted = stack.demo;
    await stack.close();
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp(path.join(tmpdir(), 'xp-demo-'));
    stack = await start(['--no-demo']);

    expect(restarted).toBeUndefined();
    expect(stack.boot.created).toBe(true);
    expect(stack.demo).toBeUndefined();
    expect(printed.filter((l) => l.startsWith('demo traffic'))).toEqual([]);
    expect(startConfig([], {}).demo).toBe(true);
    expect(startConfig([], { XP_DEMO: '0' }).demo).toBe(false);
    // Three stack starts and stops (one a first start on a fresh embedded database): about 6 s alone,
    // past 20 s on a machine busy with the rest of the suite.
  }, 60_000);
});

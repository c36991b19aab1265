import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from '../../http/__tests__/harness.js';
import { startPlatform } from '../../http/__tests__/harness.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { GuardrailChecker, changedSinceStart } from '../guardrails.js';

const DEMO = '/api/v1/projects/demo';
const ENV = 'development';
const PASSWORD = 'Tangerine-Quokka-Lantern-77';

/** A metric nobody uses as a guardrail yet: more errors is worse. */
const errorsMetric = { key: 'ga-errors', name: 'Errors', type: 'count', event: 'ga_error', higherIsBetter: false };

describe('metric changes that would make guardrails stop a running experiment (pglite)', () => {
  let p: Platform;
  const tokens: Record<string, string> = {};

  async function must(token: string, method: string, path: string, body?: unknown, ifMatch?: number): Promise<any> {
    const res = await p.request(method, path, { token, body, ...(ifMatch === undefined ? {} : { headers: { 'If-Match': `"${ifMatch}"` } }) });
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  }

  const metricVersion = async (): Promise<number> => (await must(tokens.owner!, 'GET', `${DEMO}/metrics/ga-errors`)).version as number;
  const putMetric = async (role: string, patch: Record<string, unknown>): Promise<{ status: number; body: any }> =>
    p.request('PUT', `${DEMO}/metrics/ga-errors`, { token: tokens[role]!, body: { ...errorsMetric, ...patch }, headers: { 'If-Match': `"${await metricVersion()}"` } });

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    // The experiment starts at the database's "now", so metric changes made later are later than its start.
    p.now.value = new Date();
    tokens.owner = await p.login('owner@example.com', 'correct horse battery staple');
    for (const role of ['admin', 'editor', 'analyst']) {
      await must(tokens.owner, 'POST', '/api/v1/users', { email: `${role}@example.com`, name: `Person ${role}`, role, password: PASSWORD });
      tokens[role] = await p.login(`${role}@example.com`, PASSWORD);
    }
    const env = await p.request('GET', `${DEMO}/environments/${ENV}`, { token: tokens.owner });
    const { version, ...environment } = env.body as Record<string, unknown>;
    await must(tokens.owner, 'PUT', `${DEMO}/environments/${ENV}`, { key: environment.key, name: environment.name, production: false, requireApproval: true, color: environment.color }, version as number);
    await must(tokens.owner, 'POST', `${DEMO}/metrics`, errorsMetric);
    await must(tokens.owner, 'POST', `${DEMO}/experiments`, {
      key: 'ga-exp',
      name: 'ga-exp',
      environments: [ENV],
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['ga-errors'], secondary: [], guardrails: [] },
      guardrailAction: 'stop',
    });
    await must(tokens.owner, 'POST', `${DEMO}/experiments/ga-exp/start`, undefined, 1);
    // A second one lists the metric among its own guardrails (no data: it never degrades).
    await must(tokens.owner, 'POST', `${DEMO}/experiments`, {
      key: 'ga-own',
      name: 'ga-own',
      environments: [ENV],
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: [], secondary: [], guardrails: ['ga-errors'] },
      guardrailAction: 'stop',
    });
    await must(tokens.owner, 'POST', `${DEMO}/experiments/ga-own/start`, undefined, 1);
    const projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    // The treatment has clearly more errors: a degradation as soon as the metric is a guardrail.
    for (const [variation, base] of [
      ['control', 1],
      ['treatment', 3],
    ] as const) {
      await p.db.query(
        `INSERT INTO exposures (project_id, environment, experiment, unit_id, variation, exposed_at, first_event_id)
         SELECT $1, $2, 'ga-exp', $3 || '-' || i, $3, now(), 'x-' || $3 || '-' || i FROM generate_series(1, 600) AS i`,
        [projectId, ENV, variation],
      );
      await p.db.query(
        `INSERT INTO unit_metric_totals (project_id, environment, experiment, unit_id, metric, conversion, value)
         SELECT $1, $2, 'ga-exp', $3 || '-' || i, 'ga-errors', false, $4::numeric + (i % 3) FROM generate_series(1, 600) AS i`,
        [projectId, ENV, variation, base],
      );
      // The events those totals count, as the aggregator stores them: the metric changes below make
      // the totals be recounted from them.
      await p.db.query(
        `INSERT INTO unit_events (project_id, environment, unit_id, name, occurred_at, event_id)
         SELECT $1, $2, $3 || '-' || i, 'ga_error', now() + interval '1 second', 'e-' || $3 || '-' || i || '-' || k
         FROM generate_series(1, 600) AS i, generate_series(1, $4::int + (i % 3)) AS k`,
        [projectId, ENV, variation, base],
      );
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses an analyst who turns the metric into a project-wide guardrail or flips its direction', async () => {
    const guardrail = await putMetric('analyst', { guardrail: true });
    const flipped = await putMetric('analyst', { higherIsBetter: true });
    const redefined = await putMetric('analyst', { event: 'ga_other_error' });
    const renamed = await putMetric('analyst', { name: 'Errors per visit', description: 'Client errors' });

    expect([guardrail.status, guardrail.body.error.code, guardrail.body.error.details.permission]).toEqual([403, 'FORBIDDEN', 'experiments:write']);
    expect(guardrail.body.error.details.experiments).toEqual(['ga-exp', 'ga-own']);
    expect([flipped.status, flipped.body.error.details.experiments]).toEqual([403, ['ga-own']]);
    expect(redefined.status).toBe(403);
    expect(renamed.status).toBe(200);
    await expect(metricVersion()).resolves.toBe(2);
  });

  it('asks an editor for approval in the protected environment, and lets an admin do it; the stop then names who changed the metric', async () => {
    const editor = await putMetric('editor', { guardrail: true });
    expect([editor.status, editor.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    const checker = new GuardrailChecker({ db: p.db, rulesets: p.rulesets, now: () => p.now.value, newId: () => randomUUID(), logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    expect((await checker.check()).stopped).toEqual([]);

    const admin = await putMetric('admin', { guardrail: true });
    expect(admin.status).toBe(200);
    const report = await checker.check();

    expect(report.stopped).toEqual(['demo/ga-exp']);
    const audit = await must(tokens.owner!, 'GET', '/api/v1/audit?project=demo&resourceKey=ga-exp');
    const degraded = (audit.items as { action: string; diff: { path: string; to?: unknown }[] }[]).find((e) => e.action === 'experiment.guardrail-degraded');
    expect(degraded?.diff[0]?.to).toMatchObject({ metric: 'ga-errors', metricChangedBy: { email: 'admin@example.com', version: await metricVersion() } });
  });
});

describe('changedSinceStart', () => {
  const startedAt = '2026-11-25T12:00:00.000Z';
  const change = (version: number, at: string) => ({ userId: 'u1', email: 'a@example.com', at: new Date(at), version });

  it("names a user's change after the start, not the metric's creation nor a change before the start", () => {
    expect(changedSinceStart({ startedAt }, change(2, '2026-11-25T13:00:00Z'))?.version).toBe(2);
    // Created after an imported experiment's past start: version 1 is the creation, no change.
    expect(changedSinceStart({ startedAt }, change(1, '2026-11-25T13:00:00Z'))).toBeUndefined();
    expect(changedSinceStart({ startedAt }, change(3, '2026-11-25T11:00:00Z'))).toBeUndefined();
  });
});

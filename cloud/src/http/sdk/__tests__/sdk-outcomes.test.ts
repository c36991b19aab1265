import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { MetricName } from '../../../functions/metrics.js';
import { noteEvaluations, sdkOutcomes } from '../sdk-outcomes.js';

/** What the SDK endpoints' outcomes put in the metric sink, for answers of each kind. */
describe('SDK request outcomes', () => {
  const recorded = async (status: number, body: unknown): Promise<Partial<Record<MetricName, number>>> => {
    const put: Partial<Record<MetricName, number>> = {};
    const app = new Hono();
    app.use(sdkOutcomes({ put: (name, value) => void (put[name] = (put[name] ?? 0) + value) }, { clock: () => 0 }));
    app.post('/sdk/v1/events', (c) => c.json(body, status as 202));
    await app.request('/sdk/v1/events', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    return put;
  };

  it('counts accepted and rejected events, and a batch refused for now (503, 429) apart: neither, sent again', async () => {
    expect(await recorded(202, { accepted: 3, rejected: [{ index: 3 }] })).toEqual({ EvaluationLatency: 0, EventsAccepted: 3, EventsRejected: 1 });
    expect(await recorded(400, { error: { code: 'VALIDATION_FAILED', details: { accepted: 0, rejected: [{ index: 0 }, { index: 1 }] } } })).toEqual({ EvaluationLatency: 0, EventsAccepted: 0, EventsRejected: 2 });
    expect(await recorded(503, { error: { code: 'UNAVAILABLE', message: 'too many event writes in progress' } })).toEqual({ EvaluationLatency: 0, EventBatchesRefused: 1 });
    expect(await recorded(429, { error: { code: 'RATE_LIMITED', message: 'slow down' } })).toEqual({ EvaluationLatency: 0, EventBatchesRefused: 1 });
  });

  it('counts the flags an evaluation noted, without reading its answer again', async () => {
    const put: Partial<Record<MetricName, number>> = {};
    const app = new Hono();
    app.use(sdkOutcomes({ put: (name, value) => void (put[name] = (put[name] ?? 0) + value) }, { clock: () => 0 }));
    app.post('/sdk/v1/evaluate', (c) => {
      noteEvaluations(c, 7);
      return c.json({ version: 1, flags: { a: {} } });
    });
    await app.request('/sdk/v1/evaluate', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(put).toEqual({ EvaluationLatency: 0, Evaluations: 7 });
  });

  it('counts what an OFREP request noted whatever its answer (a bodiless 304, a 400 TARGETING_KEY_MISSING), and nothing for a request that noted none', async () => {
    const put: Partial<Record<MetricName, number>> = {};
    const app = new Hono();
    app.use(sdkOutcomes({ put: (name, value) => void (put[name] = (put[name] ?? 0) + value) }, { clock: () => 0 }));
    app.post('/ofrep/v1/evaluate/flags', (c) => {
      noteEvaluations(c, 5);
      return c.body(null, 304);
    });
    app.post('/ofrep/v1/evaluate/flags/:key', (c) => {
      noteEvaluations(c, 1);
      return c.json({ key: c.req.param('key'), errorCode: 'TARGETING_KEY_MISSING', errorDetails: 'send targetingKey' }, 400);
    });
    app.post('/ofrep/v1/other', (c) => c.json({ flags: [] }));
    for (const path of ['/ofrep/v1/evaluate/flags', '/ofrep/v1/evaluate/flags/a', '/ofrep/v1/other']) {
      await app.request(path, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    }
    expect(put).toEqual({ EvaluationLatency: 0, Evaluations: 6 });
  });
});

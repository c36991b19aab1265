import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENT_WARNINGS } from '../event-batch.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';

/**
 * Exposures naming an experiment the environment does not run, or a variation it does not have, are
 * stored (the SDK may have evaluated an older ruleset) but count in no results: the 202 says so, so
 * that a hand-written client (Go, Ruby, curl) sees its typo instead of an empty results page.
 */
describe('POST /sdk/v1/events: warnings about exposures that will count nowhere', () => {
  let s: SdkPlatform;
  let server: string;
  let client: string;
  let now: number;

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
    now = s.p.now.value.getTime();
    const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
      token: s.owner,
      body: { key: 'checkout-exp', name: 'Checkout experiment', variations: [{ key: 'control' }, { key: 'treatment' }] },
    });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/checkout-exp/start', { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
    const draft = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
      token: s.owner,
      body: { key: 'draft-exp', name: 'Not started', variations: [{ key: 'control' }, { key: 'treatment' }] },
    });
    const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
      token: s.owner,
      body: {
        key: 'checkout-flag',
        name: 'Checkout flag',
        type: 'string',
        variations: [
          { key: 'control', value: 'old' },
          { key: 'treatment', value: 'new' },
        ],
        environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'checkout-exp' }] } },
      },
    });
    if (exp.status !== 201 || started.status !== 200 || draft.status !== 201 || flag.status !== 201) {
      throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, draft.body, flag.body])}`);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  const post = async (key: string, events: unknown[]): Promise<{ status: number; body: any }> => s.p.request('POST', '/sdk/v1/events', { body: { events }, headers: { 'X-XP-SDK-Key': key } });
  const exposure = (over: Record<string, unknown>): Record<string, unknown> => ({
    type: 'exposure',
    id: `e-${randomUUID()}`,
    unitId: 'u-1',
    timestamp: now - 1_000,
    experiment: 'checkout-exp',
    variation: 'treatment',
    ...over,
  });

  it('says nothing when every exposure names a running experiment and one of its variations', async () => {
    const res = await post(server, [exposure({}), exposure({ variation: 'control' }), { type: 'track', id: `t-${randomUUID()}`, unitId: 'u-1', timestamp: now - 1_000, name: 'purchase' }]);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 3, rejected: [] });
  });

  it('names an unknown or not-running experiment and a variation the experiment lacks, by the index in the batch, and stores them all the same', async () => {
    const typo = exposure({ experiment: 'checkout-epx', unitId: 'u-typo' });
    const draft = exposure({ experiment: 'draft-exp', unitId: 'u-draft' });
    const variation = exposure({ variation: 'Treatment', unitId: 'u-variation' });
    const res = await post(client, [exposure({}), { type: 'exposure' }, typo, draft, variation]);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(4);
    expect(res.body.rejected.map((r: { index: number }) => r.index)).toEqual([1]);
    expect(res.body.warnings).toEqual([
      { index: 2, id: typo.id, code: 'UNKNOWN_EXPERIMENT', message: expect.stringContaining('experiment "checkout-epx" is not running in this environment') },
      { index: 3, id: draft.id, code: 'UNKNOWN_EXPERIMENT', message: expect.stringContaining('experiment "draft-exp" is not running in this environment') },
      { index: 4, id: variation.id, code: 'UNKNOWN_VARIATION', message: expect.stringContaining('has no variation "Treatment" (it has "control", "treatment")') },
    ]);
    expect(res.body.warningsOmitted).toBeUndefined();
    const stored = (await readStream(s.kinesis)).map((r) => r.event.event.id);
    expect(stored).toEqual(expect.arrayContaining([typo.id, draft.id, variation.id]));
  });

  it(`lists the first ${MAX_EVENT_WARNINGS} and counts the rest`, async () => {
    const events = Array.from({ length: MAX_EVENT_WARNINGS + 5 }, (_, i) => exposure({ experiment: 'gone', unitId: `u-${i}` }));
    const res = await post(server, events);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(MAX_EVENT_WARNINGS + 5);
    expect(res.body.warnings).toHaveLength(MAX_EVENT_WARNINGS);
    expect(res.body.warnings.at(-1).index).toBe(MAX_EVENT_WARNINGS - 1);
    expect(res.body.warningsOmitted).toBe(5);
  });

  it('does not mistake an experiment key for an inherited property of the ruleset', async () => {
    const res = await post(server, [exposure({ experiment: 'constructor' }), exposure({ experiment: 'toString' })]);
    expect(res.body.warnings.map((w: { code: string }) => w.code)).toEqual(['UNKNOWN_EXPERIMENT', 'UNKNOWN_EXPERIMENT']);
  });
});

/**
 * POST /sdk/v1/evaluate with `"exposure": false` (the JS SDK's per-call `{ exposure: false }`):
 * evaluates as usual but logs no exposure, for a thin client that prefetches values and sends the
 * exposure itself through /sdk/v1/events when it uses one. Left out (or true), exposures are logged.
 * Also: the body's issue paths are the management API's (`body.` first, `[i]` for array items).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';

describe('POST /sdk/v1/evaluate: exposure option and issue paths', () => {
  let s: SdkPlatform;
  let server: string;

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
      token: s.owner,
      body: { key: 'prefetch-exp', name: 'Prefetch experiment', variations: [{ key: 'control' }, { key: 'treatment' }] },
    });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/prefetch-exp/start', { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
    const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
      token: s.owner,
      body: {
        key: 'prefetch-flag',
        name: 'Prefetch flag',
        type: 'string',
        variations: [
          { key: 'control', value: 'old' },
          { key: 'treatment', value: 'new' },
        ],
        environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'prefetch-exp' }] } },
      },
    });
    if (exp.status !== 201 || started.status !== 200 || flag.status !== 201) {
      throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, flag.body])}`);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  const evaluate = (body: unknown): Promise<{ status: number; body: any }> => s.p.request('POST', '/sdk/v1/evaluate', { body, headers: { 'X-XP-SDK-Key': server } });
  const exposuresOf = async (unitId: string): Promise<number> => (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId === unitId).length;

  it('logs no exposure with "exposure": false, and evaluates the same', async () => {
    const before = s.metrics.exposuresLogged;
    const quiet = await evaluate({ unit: { id: 'prefetcher-1' }, exposure: false });
    const logged = await evaluate({ unit: { id: 'prefetcher-1' }, flags: ['prefetch-flag'] });

    expect([quiet.status, logged.status]).toEqual([200, 200]);
    expect(quiet.body.flags['prefetch-flag']).toMatchObject({ reason: 'SPLIT', ruleId: 'exp' });
    expect(quiet.body.flags['prefetch-flag']).toEqual(logged.body.flags['prefetch-flag']);
    // The second call (no option) logged its one exposure; the first logged none.
    expect(await exposuresOf('prefetcher-1')).toBe(1);
    expect(s.metrics.exposuresLogged - before).toBe(1);
  });

  it('logs exposures by default and with "exposure": true', async () => {
    await evaluate({ unit: { id: 'prefetcher-default' } });
    await evaluate({ unit: { id: 'prefetcher-true' }, exposure: true });

    expect([await exposuresOf('prefetcher-default'), await exposuresOf('prefetcher-true')]).toEqual([1, 1]);
  });

  it('logs no exposure for the experiment of a prerequisite: only a flag an experiment rule serves itself exposes', async () => {
    const gated = await s.p.request('POST', '/api/v1/projects/demo/flags', {
      token: s.owner,
      body: {
        key: 'gated-by-experiment',
        name: 'Gated by an experiment flag',
        type: 'boolean',
        variations: [
          { key: 'off', value: false },
          { key: 'on', value: true },
        ],
        environments: { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: 'prefetch-flag', variation: 'treatment' }] } },
      },
    });
    expect(gated.status).toBe(201);
    const units = Array.from({ length: 20 }, (_, i) => `prereq-unit-${i}`);

    const answers = await Promise.all(units.map((id) => evaluate({ unit: { id }, flags: ['gated-by-experiment'], explain: true })));

    // Both outcomes occur (the prerequisite's experiment really decided them), and none exposed the unit.
    expect(new Set(answers.map((a) => a.body.flags['gated-by-experiment'].variationKey))).toEqual(new Set(['on', 'off']));
    expect(answers.every((a) => a.body.flags['gated-by-experiment'].experiment === undefined)).toBe(true);
    expect((await Promise.all(units.map(exposuresOf))).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('refuses an exposure that is not true or false, null included, naming body.exposure', async () => {
    const refused = await Promise.all([null, 'false', 0, {}].map((exposure) => evaluate({ unit: { id: 'prefetcher-bad' }, exposure })));

    expect(refused.map((r) => [r.status, r.body.error.code, r.body.error.details.issues[0].path])).toEqual(Array.from({ length: 4 }, () => [400, 'VALIDATION_FAILED', 'body.exposure']));
    expect(refused[0]!.body.error.message).toContain('true or false');
    expect(await exposuresOf('prefetcher-bad')).toBe(0);
  });

  it('names the field as the management API does: body. first, array items as [i]', async () => {
    const cases: [unknown, string][] = [
      [[], 'body'],
      [{ unit: { id: 'u' }, logExposures: false }, 'body'],
      [{ unit: 'u' }, 'body.unit'],
      [{ unit: { id: '' } }, 'body.unit.id'],
      [{ unit: { id: 'u' }, flags: ['ok', 'not a key'] }, 'body.flags[1]'],
      [{ unit: { id: 'u' }, privateAttributes: ['email', 3] }, 'body.privateAttributes[1]'],
      [{ unit: { id: 'u', attributes: { tags: ['ok', 'nul\u0000'] } } }, 'body.unit.attributes.tags[1]'],
    ];
    const answers = await Promise.all(cases.map(([body]) => evaluate(body)));

    expect(answers.map((r) => [r.status, r.body.error.details.issues[0].path])).toEqual(cases.map(([, path]) => [400, path]));
    // The message leads with the same path, as the management API's "invalid body: body.role: …".
    expect(answers[3]!.body.error.message).toMatch(/^invalid body: body\.unit\.id: /);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ruleset } from '@xp/shared';
import { evaluateFlag } from '@xp/shared';
import { InMemoryStickyAssignmentStore } from '../../../store/sticky-buckets.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

const DEVICES = Array.from({ length: 60 }, (_, i) => `device-${i}`);

/**
 * An experiment hashed on `id` with the fallback `deviceId` and sticky bucketing: a visitor is
 * assigned by device while anonymous, and keeps that variation when it logs in (and so gets an `id`),
 * as GrowthBook's sticky bucketing with a fallback attribute does; then on any device by its id.
 */
describe('POST /sdk/v1/evaluate: sticky bucketing with a fallback keeps a visitor in its variation through login', () => {
  let s: SdkPlatform;
  let key: string;

  const evaluate = async (unit: { id?: string; attributes?: Record<string, string> }): Promise<{ variationKey: string; experiment?: Record<string, unknown> }> => {
    const res = await s.p.request('POST', '/sdk/v1/evaluate', { body: { unit, flags: ['login-flag'], explain: true }, headers: { 'X-XP-SDK-Key': key } });
    if (res.status !== 200) {
      throw new Error(`evaluate failed: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body.flags['login-flag'];
  };

  beforeAll(async () => {
    s = await startSdkPlatform({ sticky: new InMemoryStickyAssignmentStore() });
    key = s.p.boot.sdkKeys!.development!.server;
    const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
      token: s.owner,
      body: { key: 'login-exp', name: 'Login', hashAttribute: 'id', fallbackAttribute: 'deviceId', variations: [{ key: 'control' }, { key: 'treatment' }], stickyBucketing: { enabled: true } },
    });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/login-exp/start', { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
    const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
      token: s.owner,
      body: {
        key: 'login-flag',
        name: 'Login flag',
        type: 'string',
        variations: [
          { key: 'control', value: 'old' },
          { key: 'treatment', value: 'new' },
        ],
        environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'login-exp' }] } },
      },
    });
    if (exp.status !== 201 || started.status !== 200 || flag.status !== 201) {
      throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, flag.body])}`);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it('keeps each anonymous device, then its logged-in user on that device and on a new one, in the first variation after the split moves', async () => {
    const anonymous = new Map<string, string>();
    for (const device of DEVICES) {
      const first = await evaluate({ attributes: { deviceId: device } });
      expect(first.experiment).toMatchObject({ hashAttribute: 'deviceId', inExperiment: true });
      anonymous.set(device, first.variationKey);
    }
    const current = await s.p.request('GET', '/api/v1/projects/demo/experiments/login-exp', { token: s.owner });
    const moved = await s.p.request('PUT', '/api/v1/projects/demo/experiments/login-exp', {
      token: s.owner,
      headers: { 'If-Match': current.headers.get('etag')! },
      body: { ...current.body.definition, variations: [{ key: 'control', weight: 1 }, { key: 'treatment', weight: 99 }] },
    });
    expect(moved.status).toBe(200);
    const ruleset = (await s.p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': key } })).body as Ruleset;

    const again = new Map<string, string>();
    const loggedIn = new Map<string, string>();
    const elsewhere = new Map<string, string>();
    for (const [i, device] of DEVICES.entries()) {
      again.set(device, (await evaluate({ attributes: { deviceId: device } })).variationKey);
      const login = await evaluate({ id: `user-${i}`, attributes: { deviceId: device } });
      expect(login.experiment).toMatchObject({ hashAttribute: 'id', sticky: true });
      loggedIn.set(device, login.variationKey);
      elsewhere.set(device, (await evaluate({ id: `user-${i}`, attributes: { deviceId: `phone-${i}` } })).variationKey);
    }

    // Without stickiness through the fallback, the new weights and the new id would move these units: the check has teeth.
    const byId = DEVICES.filter((d, i) => anonymous.get(d) !== evaluateFlag(ruleset, 'login-flag', { attributes: { id: `user-${i}`, deviceId: d } }).variationKey);
    const byDevice = DEVICES.filter((d) => anonymous.get(d) !== evaluateFlag(ruleset, 'login-flag', { attributes: { deviceId: d } }).variationKey);
    expect(byId.length).toBeGreaterThan(0);
    expect(byDevice.length).toBeGreaterThan(0);
    expect(again).toEqual(anonymous);
    expect(loggedIn).toEqual(anonymous);
    expect(elsewhere).toEqual(anonymous);
  });
});

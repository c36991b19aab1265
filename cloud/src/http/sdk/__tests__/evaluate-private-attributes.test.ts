import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';

const EMAIL = 'never.in.exp@example.org';

/**
 * POST /sdk/v1/evaluate with `privateAttributes`: those attributes are evaluated (targeting, bucketing)
 * but not stored with the unit's exposures, as the SDKs' privateAttributes option.
 */
describe('POST /sdk/v1/evaluate with privateAttributes', () => {
  let s: SdkPlatform;
  let server: string;

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    // One experiment bucketed on the unit id, one on its email: the email's one way out is as the latter's unit id.
    for (const [key, hashAttribute] of [
      ['by-id-exp', 'id'],
      ['by-email-exp', 'email'],
    ] as const) {
      const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
        token: s.owner,
        body: { key, name: key, hashAttribute, variations: [{ key: 'control' }, { key: 'treatment' }] },
      });
      const started = await s.p.request('POST', `/api/v1/projects/demo/experiments/${key}/start`, { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
      const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
        token: s.owner,
        body: {
          key: `${key}-flag`,
          name: `${key} flag`,
          type: 'string',
          variations: [
            { key: 'control', value: 'old' },
            { key: 'treatment', value: 'new' },
          ],
          environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: key }] } },
        },
      });
      if (exp.status !== 201 || started.status !== 200 || flag.status !== 201) {
        throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, flag.body])}`);
      }
    }
  });
  afterAll(async () => {
    await s.close();
  });

  const evaluate = async (body: unknown): Promise<{ status: number; body: any }> => s.p.request('POST', '/sdk/v1/evaluate', { body, headers: { 'X-XP-SDK-Key': server } });
  const exposuresOf = async (unitIds: readonly string[]): Promise<Record<string, unknown>[]> =>
    (await readStream(s.kinesis))
      .map((r) => r.event.event as unknown as Record<string, unknown>)
      .filter((e) => e.type === 'exposure' && unitIds.includes(e.unitId as string))
      .sort((a, b) => String(a.experiment).localeCompare(String(b.experiment)));

  it('evaluates the private attributes but stores the exposures without them, keeping the others', async () => {
    const res = await evaluate({ unit: { id: 'priv-1', attributes: { email: EMAIL, phone: '+15550100', country: 'US' } }, privateAttributes: ['email', 'phone'] });

    expect(res.status).toBe(200);
    expect(res.body.flags['by-email-exp-flag']).toMatchObject({ reason: 'SPLIT', ruleId: 'exp' });
    const exposures = await exposuresOf(['priv-1', EMAIL]);
    // Bucketed on the email: the exposure's unit id is the email (the experiment's design), its attributes are not.
    expect(exposures.map((e) => [e.experiment, e.unitId, e.hashAttribute, e.attributes])).toEqual([
      ['by-email-exp', EMAIL, 'email', { country: 'US' }],
      ['by-id-exp', 'priv-1', 'id', { country: 'US' }],
    ]);
  });

  it('stores no attributes with privateAttributes: true, and all of them without privateAttributes (or with null or false)', async () => {
    const all = await evaluate({ unit: { id: 'priv-2', attributes: { email: 'two@example.org', country: 'FR' } }, flags: ['by-id-exp-flag'], privateAttributes: true });
    const none = await evaluate({ unit: { id: 'priv-3', attributes: { email: 'three@example.org', country: 'DE' } }, flags: ['by-id-exp-flag'] });
    const nulled = await evaluate({ unit: { id: 'priv-4', attributes: { email: 'four@example.org' } }, flags: ['by-id-exp-flag'], privateAttributes: null });
    const falsed = await evaluate({ unit: { id: 'priv-5', attributes: { email: 'five@example.org', country: 'JP' } }, flags: ['by-id-exp-flag'], privateAttributes: false });

    expect([all.status, none.status, nulled.status, falsed.status]).toEqual([200, 200, 200, 200]);
    const exposures = await exposuresOf(['priv-2', 'priv-3', 'priv-4', 'priv-5']);
    expect(Object.fromEntries(exposures.map((e) => [e.unitId, e.attributes]))).toEqual({
      'priv-2': undefined,
      'priv-3': { email: 'three@example.org', country: 'DE' },
      'priv-4': { email: 'four@example.org' },
      'priv-5': { email: 'five@example.org', country: 'JP' },
    });
  });

  it('refuses privateAttributes that are not true, false or attribute names, and unknown keys as before', async () => {
    const refused = await Promise.all(
      [
        { unit: { id: 'u' }, privateAttributes: 'email' },
        { unit: { id: 'u' }, privateAttributes: 0 },
        { unit: { id: 'u' }, privateAttributes: ['email', 3] },
        { unit: { id: 'u' }, privateAttributes: [''] },
        { unit: { id: 'u' }, privateAttributes: ['x'.repeat(201)] },
        { unit: { id: 'u' }, privateAttributes: ['email'], private: ['email'] },
        { unit: { id: 'u', privateAttributes: ['email'] } },
      ].map(evaluate),
    );

    expect(refused.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400, 400]);
    expect(refused.map((r) => r.body.error.details.issues[0].path)).toEqual(['body.privateAttributes', 'body.privateAttributes', 'body.privateAttributes[1]', 'body.privateAttributes[0]', 'body.privateAttributes[0]', 'body', 'body.unit']);
  });
});

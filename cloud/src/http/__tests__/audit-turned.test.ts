import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, signedInAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';

const flag = (key: string, production: boolean, staging: boolean): Record<string, unknown> =>
  booleanFlagBody(key, {
    staging: { enabled: staging, defaultVariation: 'on', offVariation: 'off' },
    production: { enabled: production, defaultVariation: 'on', offVariation: 'off' },
  });

/**
 * "Who turned checkout off in production?": the audit log's `turned` filter finds every entry that
 * turned a flag on or off, whichever way it was done — a toggle, an edit of the environment's state
 * or of the whole flag, a flags file applied, an approved change request — and nothing else.
 */
describe.each(TARGETS.map((t) => [t().name, t] as const))('the audit log finds who turned a flag on or off on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let editor: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'oncall@example.com');
  });
  afterAll(async () => {
    await p.close();
  });

  const must = async (method: string, path: string, body?: unknown, version?: number, token = owner): Promise<any> => {
    const res = await p.request(method, path, { token, ...(body === undefined ? {} : { body }), ...(version === undefined ? {} : { headers: { 'If-Match': `"${version}"` } }) });
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  };
  const found = async (query: string): Promise<string[]> => {
    const res = await p.request('GET', `/api/v1/audit?resourceKey=checkout&limit=100&${query}`, { token: owner });
    expect(res.status).toBe(200);
    return (res.body.items as { action: string }[]).map((e) => e.action).reverse();
  };

  it('finds the turn-offs and turn-ons of every kind, in the environment asked for', async () => {
    // Created on in staging, off in production.
    await must('POST', `${DEMO}/flags`, flag('checkout', false, true));
    // 2: toggled on in production.
    await must('POST', `${DEMO}/flags/checkout/environments/production/toggle`, { enabled: true }, 1);
    // 3: renamed — no state changed.
    const renamed = { ...flag('checkout', true, true), name: 'Checkout v2' };
    await must('PUT', `${DEMO}/flags/checkout`, renamed, 2);
    // 4: production's state edited, turning it off and changing its default.
    await must('PUT', `${DEMO}/flags/checkout/environments/production`, { enabled: false, defaultVariation: 'off', offVariation: 'off' }, 3);
    // 5: a flags file applied, turning production back on and staging off.
    await must('POST', `${DEMO}/apply`, { changes: [{ kind: 'flags', action: 'update', key: 'checkout', version: 4, definition: { ...flag('checkout', true, false), name: 'Checkout v2' } }] });
    // 6–8: a change request to turn production off, proposed by the editor, approved and applied.
    const proposed = await must('POST', `${DEMO}/change-requests`, { resourceType: 'flag', resourceKey: 'checkout', environment: 'production', baseVersion: 5, state: { enabled: false } }, undefined, editor);
    await must('POST', `${DEMO}/change-requests/${proposed.id as string}/approve`);
    await must('POST', `${DEMO}/change-requests/${proposed.id as string}/apply`, undefined, undefined, editor);
    // 9: the staging state removed while off (not a turn-off: it was off).
    const current = await must('GET', `${DEMO}/flags/checkout`);
    const { staging: _staging, ...environments } = current.definition.environments as Record<string, unknown>;
    await must('PUT', `${DEMO}/flags/checkout`, { ...current.definition, environments }, current.version as number);
    // 10–11: turned on in production again, then the flag deleted while on (SDKs get their defaults).
    await must('POST', `${DEMO}/flags/checkout/environments/production/toggle`, { enabled: true }, (current.version as number) + 1);
    await must('DELETE', `${DEMO}/flags/checkout`, undefined, (current.version as number) + 2);

    expect(await found('turned=off&environment=production')).toEqual(['flag.environment.updated', 'change-request.applied', 'flag.deleted']);
    expect(await found('turned=on&environment=production')).toEqual(['flag.enabled', 'flag.updated', 'flag.enabled']);
    expect(await found('turned=off&environment=staging')).toEqual(['flag.updated']);
    // Created on in staging counts as turned on there; the rename, the staging state removed while
    // off and the change request's proposal and approval turned nothing.
    expect(await found('turned=on&environment=staging')).toEqual(['flag.created']);
    expect(await found('turned=off')).toEqual(['flag.environment.updated', 'flag.updated', 'change-request.applied', 'flag.deleted']);
    // The filter combines with the others: the editor turned it off once.
    const byEditor = await p.request('GET', `/api/v1/audit?turned=off&actor=${(await must('GET', '/api/v1/me', undefined, undefined, editor)).id as string}`, { token: owner });
    expect((byEditor.body.items as { action: string }[]).map((e) => e.action)).toEqual(['change-request.applied']);
  });

  it('counts archiving a flag as turning it off everywhere, and unarchiving as turning it on', async () => {
    await must('POST', `${DEMO}/flags`, flag('banner', true, false));
    const archived = await must('PUT', `${DEMO}/flags/banner`, { ...flag('banner', true, false), archived: true }, 1);
    await must('PUT', `${DEMO}/flags/banner`, { ...flag('banner', true, false), archived: false }, archived.version as number);
    const list = async (query: string): Promise<string[]> =>
      ((await p.request('GET', `/api/v1/audit?resourceKey=banner&${query}`, { token: owner })).body.items as { action: string; diff: { path: string }[] }[]).map((e) => `${e.action} ${e.diff.map((d) => d.path).join(',')}`).reverse();

    expect(await list('turned=off&environment=production')).toEqual(['flag.updated /archived']);
    expect(await list('turned=off&environment=staging')).toEqual(['flag.updated /archived']);
    expect(await list('turned=on&environment=production')).toEqual(['flag.created ', 'flag.updated /archived']);
  });

  it('refuses a turned value other than on or off', async () => {
    const res = await p.request('GET', '/api/v1/audit?turned=maybe', { token: owner });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('turned');
  });
});

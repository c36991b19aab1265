/**
 * A revoked SDK key stops working at once on the node that revoked it (its key cache drops it),
 * not only once the cache's 30 s have passed; other processes keep the documented bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

const DEMO = '/api/v1/projects/demo';

describe('revoking an SDK key on the node that serves it', () => {
  let s: SdkPlatform;

  beforeAll(async () => {
    s = await startSdkPlatform();
  }, 120_000);
  afterAll(async () => {
    await s.close();
  });

  const must = async (method: string, path: string, body?: unknown, version?: number): Promise<any> => {
    const res = await s.p.request(method, path, { token: s.owner, ...(body === undefined ? {} : { body }), ...(version === undefined ? {} : { headers: { 'If-Match': `"${version}"` } }) });
    if (res.status >= 300) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  };
  const fetchRuleset = async (key: string): Promise<number> => {
    const res = await s.p.app.request('/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': key } });
    await res.body?.cancel();
    return res.status;
  };

  it('refuses the key at the next request, well within the cache TTL', async () => {
    const created = (await must('POST', `${DEMO}/sdk-keys`, { environment: 'development', kind: 'server', name: 'revoked at once' })) as { key: string; sdkKey: { id: string } };
    expect(await fetchRuleset(created.key)).toBe(200);

    await must('DELETE', `${DEMO}/sdk-keys/${created.sdkKey.id}`);

    expect(await fetchRuleset(created.key)).toBe(401);
  });

  it("refuses an environment's keys at once when the environment is deleted", async () => {
    const env = (await must('POST', `${DEMO}/environments`, { key: 'sdk-gone', name: 'Gone' })) as { version: number };
    const created = (await must('POST', `${DEMO}/sdk-keys`, { environment: 'sdk-gone', kind: 'client', name: 'env key' })) as { key: string };
    expect(await fetchRuleset(created.key)).toBe(200);

    await must('DELETE', `${DEMO}/environments/sdk-gone`, undefined, env.version);

    expect(await fetchRuleset(created.key)).toBe(401);
  });

  it('keeps serving the other keys from the cache', async () => {
    const kept = (await must('POST', `${DEMO}/sdk-keys`, { environment: 'development', kind: 'server', name: 'kept' })) as { key: string };
    const other = (await must('POST', `${DEMO}/sdk-keys`, { environment: 'development', kind: 'server', name: 'other' })) as { sdkKey: { id: string } };
    expect(await fetchRuleset(kept.key)).toBe(200);

    await must('DELETE', `${DEMO}/sdk-keys/${other.sdkKey.id}`);
    const before = s.counts.queries;

    expect(await fetchRuleset(kept.key)).toBe(200);
    // The key itself came from the cache: no lookup of it (the ruleset read is the store's, not SQL).
    expect(s.counts.queries - before).toBe(0);
  });
});

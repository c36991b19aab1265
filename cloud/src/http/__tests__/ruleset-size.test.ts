/**
 * A change whose ruleset could not be published (over DynamoDB's 400 KB item after compression) is
 * refused before it commits. Saved, it stayed unpublished, and so did every later change to the
 * environment: a kill switch answered 200 while SDKs kept serving the old rules (a fuzzer's finding).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateFlag } from '@xp/shared';
import { MAX_ITEM_BYTES } from '../../store/ruleset-store.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const BASE = '/api/v1/projects/demo';

describe('a change too large to publish (pglite)', () => {
  let p: Platform;
  let owner = '';

  const published = async (): Promise<number> => (await p.request('GET', `${BASE}/environments/development/ruleset`, { token: owner })).body.published.version as number;
  const flag = async (key: string): Promise<any> => (await p.request('GET', `${BASE}/flags/${key}`, { token: owner })).body;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), { app: { maxBodyBytes: 4 * 1024 * 1024 } });
    owner = await p.login(OWNER.email, OWNER.password);
    // 60,000 random ids: about 1.3 MB of JSON that gzip cannot bring under 400 KB.
    const values = Array.from({ length: 60_000 }, () => randomBytes(8).toString('hex'));
    const created = await p.request('POST', `${BASE}/segments`, { token: owner, body: { key: 'huge-list', name: 'Huge list', type: 'ids', values } });
    if (created.status !== 201) {
      throw new Error(`the segment was not created: ${created.status} ${JSON.stringify(created.body).slice(0, 200)}`);
    }
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('refuses the rule that would make the ruleset too large, saying how large, and saves nothing', async () => {
    const before = await flag('new-checkout');
    const version = await published();
    const env = before.definition.environments.development;

    const res = await p.request('PUT', `${BASE}/flags/new-checkout/environments/development`, {
      token: owner,
      body: { ...env, rules: [{ id: 'vip', type: 'force', condition: { id: { $inGroup: 'huge-list' } }, variation: 'on' }] },
      headers: { 'If-Match': `"${String(before.version)}"` },
    });

    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toMatch(/^the change would make environment "development"'s ruleset [\d,]+ bytes after compression, over the 409,600 bytes a ruleset can have: nothing was changed/);
    expect(res.body.error.details.bytes).toBeGreaterThan(MAX_ITEM_BYTES);
    expect((await flag('new-checkout')).version).toBe(before.version);
    expect(await published()).toBe(version);
  });

  it('keeps the environment publishing: a kill switch afterwards is published', async () => {
    const before = await flag('new-checkout');
    const version = await published();

    const off = await p.request('POST', `${BASE}/flags/new-checkout/environments/development/toggle`, { token: owner, body: { enabled: false }, headers: { 'If-Match': `"${String(before.version)}"` } });

    expect(off.status).toBe(200);
    const after = (await p.request('GET', `${BASE}/environments/development/ruleset`, { token: owner })).body;
    expect([after.published.version, after.expectedVersion]).toEqual([version + 1, version + 1]);
    expect(evaluateFlag(after.published.ruleset, 'new-checkout', { attributes: { id: 'u1' } })).toMatchObject({ value: false, reason: 'DISABLED' });
  });
});

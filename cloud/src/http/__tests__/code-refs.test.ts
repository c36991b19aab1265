import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget, postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const PATH = '/api/v1/projects/demo/code-refs';

const ref = (flagKey: string, line: number) => ({ flagKey, path: 'src/checkout.ts', line, column: 12, snippet: `client.getVariant('${flagKey}', user)`, language: 'typescript' });

describe.each([
  ['pglite', pgliteTarget],
  ['postgres', postgresTarget],
])('code references API (%s)', (_name, target) => {
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    // The production body limit (8 MiB), so the reference-count limit is what a large upload meets.
    p = await startPlatform(target(), { app: { maxBodyBytes: 8 * 1024 * 1024 } });
    token = await p.login(OWNER.email, OWNER.password);
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('replaces the references of one repository branch and lists them per flag', async () => {
    const first = await p.request('POST', PATH, { token, body: { repository: 'acme/web', branch: 'main', commit: 'abc1234', references: [ref('checkout-v2', 3), ref('new-nav', 9)] } });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ repository: 'acme/web', branch: 'main', stored: 2, replaced: 0, flags: 2 });
    await p.request('POST', PATH, { token, body: { repository: 'acme/web', branch: 'dev', references: [ref('checkout-v2', 4)] } });

    const second = await p.request('POST', PATH, { token, body: { repository: 'acme/web', branch: 'main', references: [ref('checkout-v2', 5)] } });
    expect(second.body).toEqual({ repository: 'acme/web', branch: 'main', stored: 1, replaced: 2, flags: 1 });

    const listed = await p.request('GET', `${PATH}?flag=checkout-v2`, { token });
    expect(listed.status).toBe(200);
    expect((listed.body as { references: unknown[] }).references).toEqual([
      { flagKey: 'checkout-v2', repository: 'acme/web', branch: 'dev', commit: null, path: 'src/checkout.ts', line: 4, column: 12, snippet: "client.getVariant('checkout-v2', user)", language: 'typescript', updatedAt: '2026-11-25T12:00:00.000Z' },
      { flagKey: 'checkout-v2', repository: 'acme/web', branch: 'main', commit: null, path: 'src/checkout.ts', line: 5, column: 12, snippet: "client.getVariant('checkout-v2', user)", language: 'typescript', updatedAt: '2026-11-25T12:00:00.000Z' },
    ]);
    const nav = await p.request('GET', `${PATH}?flag=new-nav`, { token });
    expect(nav.body).toEqual({ references: [] });
  });

  it('rejects bad input per field with 400', async () => {
    const res = await p.request('POST', PATH, {
      token,
      body: { repository: 'acme web', branch: 'main', references: [{ ...ref('checkout-v2', 0), snippet: 'x'.repeat(501), path: '../etc/passwd' }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    const paths = (res.body.error.details.issues as { path: string }[]).map((i) => i.path).sort();
    expect(paths).toEqual(['body.references[0].line', 'body.references[0].path', 'body.references[0].snippet', 'body.repository'].sort());
    const tooMany = await p.request('POST', PATH, { token, body: { repository: 'r', branch: 'b', references: Array.from({ length: 20_001 }, (_, i) => ref('k', i + 1)) } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toContain('at most 20000 references per upload');
    const badFlag = await p.request('GET', `${PATH}?flag=${encodeURIComponent('no spaces')}`, { token });
    expect(badFlag.status).toBe(400);
    const unknownProject = await p.request('GET', '/api/v1/projects/nope/code-refs', { token });
    expect(unknownProject.status).toBe(404);
  });
});

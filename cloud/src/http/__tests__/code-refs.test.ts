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
    expect(nav.body).toEqual({ references: [], total: 0 });
    // Each upload is audited: who replaced what.
    const audit = await p.request('GET', '/api/v1/audit?action=code-refs.uploaded&resourceKey=acme%2Fweb%40main', { token });
    const entries = audit.body.items as { resourceType: string; diff: { op: string; to: unknown }[] }[];
    expect(entries.map((e) => [e.resourceType, e.diff])).toEqual([
      ['code-refs', [{ op: 'add', path: '', to: { repository: 'acme/web', branch: 'main', stored: 1, replaced: 2, flags: 1, uploaded: 1 } }]],
      ['code-refs', [{ op: 'add', path: '', to: { repository: 'acme/web', branch: 'main', stored: 2, replaced: 0, flags: 2, uploaded: 2, commit: 'abc1234' } }]],
    ]);
  });

  it('replaces only the references under the scope of an upload for a part of the repository', async () => {
    const at = (flagKey: string, path: string, line = 1) => ({ ...ref(flagKey, line), path });
    const post = (body: object) => p.request('POST', PATH, { token, body: { repository: 'acme/mono', branch: 'main', ...body } });
    const stored = async (): Promise<string[]> =>
      ((await p.request('GET', PATH, { token })).body as { references: { repository: string; path: string; flagKey: string; commit: string | null }[] }).references
        .filter((r) => r.repository === 'acme/mono')
        .map((r) => `${r.path} ${r.flagKey} ${r.commit ?? '-'}`)
        .sort();
    // Names whose prefix is the scope's without the "/" (srcx, src_old), and "_" / "%" that a LIKE pattern would match loosely.
    const whole = await post({ commit: 'aaaaaaa', references: [at('a', 'src/app.ts'), at('b', 'src/lib/deep.ts'), at('c', 'srcx/other.ts'), at('d', 'src_old/x.ts'), at('e', 'py/app.py'), at('f', 's%c/y.ts'), at('g', 'README.md')] });
    expect(whole.body).toMatchObject({ stored: 7, replaced: 0 });

    const src = await post({ scope: 'src', commit: 'bbbbbbb', references: [at('a2', 'src/app.ts', 2)] });
    expect(src.status).toBe(200);
    expect(src.body).toEqual({ repository: 'acme/mono', branch: 'main', stored: 6, replaced: 2, flags: 1 });
    const py = await post({ scope: 'py', references: [at('e2', 'py/app.py', 3), at('e3', 'py/sub/mod.py')] });
    expect(py.body).toEqual({ repository: 'acme/mono', branch: 'main', stored: 7, replaced: 1, flags: 2 });
    // A scope naming a file, and an empty upload for a scope, clear just that.
    expect((await post({ scope: 'README.md', references: [] })).body).toMatchObject({ stored: 6, replaced: 1 });
    expect((await post({ scope: 's_c', references: [] })).body).toMatchObject({ stored: 6, replaced: 0 });
    expect(await stored()).toEqual(['py/app.py e2 -', 'py/sub/mod.py e3 -', 's%c/y.ts f aaaaaaa', 'src/app.ts a2 bbbbbbb', 'src_old/x.ts d aaaaaaa', 'srcx/other.ts c aaaaaaa']);
    // Another branch is untouched by a scoped upload; without a scope the whole branch is replaced, as before.
    expect((await post({ scope: 'src', references: [at('z', 'src/z.ts')], branch: 'dev' })).body).toMatchObject({ stored: 1, replaced: 0 });
    expect((await post({ references: [at('h', 'src/app.ts')] })).body).toMatchObject({ stored: 1, replaced: 6 });
    expect(await stored()).toEqual(['src/app.ts h -', 'src/z.ts z -']);
  });

  it('refuses a scoped upload holding a path outside the scope, and a scope that is not a normal folder path', async () => {
    const body = (scope: unknown, paths: string[]) => ({ repository: 'acme/scoped', branch: 'main', scope, references: paths.map((path, i) => ({ ...ref('k', i + 1), path })) });
    const outside = await p.request('POST', PATH, { token, body: body('packages/api', ['packages/api/a.ts', 'packages/apix/b.ts', 'packages/web/c.ts']) });
    expect(outside.status).toBe(400);
    expect(outside.body.error.message).toBe('invalid body: body.references[1].path: "packages/apix/b.ts" is outside the upload\'s scope "packages/api" (paths are relative to the repository root)');
    expect((outside.body.error.details.issues as { path: string }[]).map((i) => i.path)).toEqual(['body.references[1].path', 'body.references[2].path']);
    const many = await p.request('POST', PATH, { token, body: body('a', Array.from({ length: 12 }, (_, i) => `b/${i}.ts`)) });
    expect(many.status).toBe(400);
    expect((many.body.error.details.issues as { path: string; message: string }[]).at(-1)).toEqual({ path: 'body.references', message: '12 references in all are outside the upload\'s scope "a"' });
    for (const scope of ['', '/src', 'src/', 'src//lib', './src', 'src/../py', '..', '.', 7]) {
      const bad = await p.request('POST', PATH, { token, body: body(scope, []) });
      expect([scope, bad.status, (bad.body.error.details.issues as { path: string }[])[0]?.path]).toEqual([scope, 400, 'body.scope']);
    }
    // Nothing was stored by the refused uploads.
    const listed = (await p.request('GET', PATH, { token })).body as { references: { repository: string }[] };
    expect(listed.references.filter((r) => r.repository === 'acme/scoped')).toEqual([]);
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
    // One spelling per file, so a later upload replaces it: no "./", "//", "\\", drive letters.
    for (const path of ['./src/a.ts', 'src//a.ts', 'src/./a.ts', 'src\\..\\a.ts', 'C:/src/a.ts', '/src/a.ts', 'src/a.ts/']) {
      const odd = await p.request('POST', PATH, { token, body: { repository: 'odd', branch: 'b', references: [{ ...ref('k', 1), path }] } });
      expect([path, odd.status, (odd.body.error.details.issues as { path: string }[]).map((i) => i.path)]).toEqual([path, 400, ['body.references[0].path']]);
    }
  });
});

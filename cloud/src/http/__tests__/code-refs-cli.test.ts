/**
 * `xp code-refs` against the real local API over HTTP (PGlite), in a git work tree (its .git files
 * written by the test; git is not needed): uploads for parts of a repository (--dir) add up instead
 * of replacing each other, paths are relative to the repository root, ignored folders hold no
 * references, and the commit defaults to the checked-out one.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runXp, serveApi } from '../../cli/__tests__/cli-over-http.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const HEAD = '0123456789abcdef0123456789abcdef01234567';

describe('xp code-refs', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let env: NodeJS.ProcessEnv;
  let token: string;
  let repo: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    api = await serveApi(p);
    token = await p.login(OWNER.email, OWNER.password);
    env = { XP_API_URL: api.url, XP_TOKEN: token };
    repo = mkdtempSync(path.join(tmpdir(), 'xp-code-refs-repo-'));
    const files: Record<string, string> = {
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.git/packed-refs': `# pack-refs with: peeled fully-peeled sorted\n${HEAD} refs/heads/main\n`,
      '.gitignore': 'gen/\n',
      'src/app.ts': ["client.getVariant('checkout-v2', user);", "client.getVariant('new-nav', user);"].join('\n'),
      'src/lib/util.ts': "client.getVariant('search-v2', user);\n",
      'py/app.py': "client.get_variant('checkout-v2', user)\n",
      'gen/gen.ts': "client.getVariant('generated', user);\n",
    };
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
      writeFileSync(path.join(repo, rel), text);
    }
  }, 60_000);
  afterAll(async () => {
    rmSync(repo, { recursive: true, force: true });
    await api.close();
    await p.close();
  });

  const run = (args: string[]): Promise<{ code: number; out: string[]; err: string[] }> => runXp(['code-refs', '--repo', 'acme/mono', '--project', 'demo', ...args], env);
  const stored = async (): Promise<string[]> => {
    const res = await p.request('GET', '/api/v1/projects/demo/code-refs', { token });
    return (res.body as { references: { repository: string; branch: string; path: string; line: number; flagKey: string; commit: string | null }[] }).references
      .filter((r) => r.repository === 'acme/mono')
      .map((r) => `${r.branch} ${r.path}:${r.line} ${r.flagKey} ${r.commit ?? '-'}`)
      .sort();
  };

  it('adds up the uploads of the parts of a repository, with paths from its root and the checked-out commit', async () => {
    const src = await run(['--branch', 'main', '--dir', path.join(repo, 'src')]);
    const py = await run(['--branch', 'main', '--dir', path.join(repo, 'py'), '--commit', 'abcdef1']);
    expect([src.code, src.err, py.code, py.err]).toEqual([0, [], 0, []]);
    // Both parts are stored (the second upload used to replace the first, and store "app.py"); an explicit --commit wins.
    expect(await stored()).toEqual([
      `main py/app.py:1 checkout-v2 abcdef1`,
      `main src/app.ts:1 checkout-v2 ${HEAD}`,
      `main src/app.ts:2 new-nav ${HEAD}`,
      `main src/lib/util.ts:1 search-v2 ${HEAD}`,
    ]);
    expect(src.out[1]).toBe('Stored 3 references under src/ for acme/mono@main in demo (replaced 0 there; acme/mono@main has 3 in all).');
    expect(py.out[1]).toBe('Stored 1 reference under py/ for acme/mono@main in demo (replaced 0 there; acme/mono@main has 4 in all).');

    // A part uploaded again replaces its own references only.
    writeFileSync(path.join(repo, 'src/app.ts'), "client.getVariant('checkout-v2', user);\n");
    const again = await run(['--branch', 'main', '--dir', path.join(repo, 'src')]);
    expect(again.out[1]).toBe('Stored 2 references under src/ for acme/mono@main in demo (replaced 3 there; acme/mono@main has 3 in all).');
    // The ignored folder has no references: its upload stores none and removes nothing else.
    const gen = await run(['--branch', 'main', '--dir', path.join(repo, 'gen')]);
    expect(gen.out.slice(0, 2)).toEqual([`Found 0 references to 0 flags in 0 files under ${path.join(repo, 'gen')}`, 'Stored 0 references under gen/ for acme/mono@main in demo (replaced 0 there; acme/mono@main has 3 in all).']);
    expect(await stored()).toEqual([`main py/app.py:1 checkout-v2 abcdef1`, `main src/app.ts:1 checkout-v2 ${HEAD}`, `main src/lib/util.ts:1 search-v2 ${HEAD}`]);

    // From the root, the upload replaces the whole branch (paths unchanged).
    const whole = await run(['--branch', 'main', '--dir', repo]);
    expect(whole.out[1]).toBe('Stored 3 references for acme/mono@main in demo (replaced 3).');
    expect(await stored()).toEqual([`main py/app.py:1 checkout-v2 ${HEAD}`, `main src/app.ts:1 checkout-v2 ${HEAD}`, `main src/lib/util.ts:1 search-v2 ${HEAD}`]);
  });
});

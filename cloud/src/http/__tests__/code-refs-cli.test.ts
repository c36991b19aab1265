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
import { OWNER, signedInAs, startPlatform } from './harness.js';

const HEAD = '0123456789abcdef0123456789abcdef01234567';

describe('xp code-refs', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let env: NodeJS.ProcessEnv;
  let token: string;
  let repo: string;
  /** A second work tree, for repository acme/ci. */
  let ci: string;

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
    ci = mkdtempSync(path.join(tmpdir(), 'xp-code-refs-ci-'));
    mkdirSync(path.join(ci, '.git'));
    writeFileSync(path.join(ci, '.git/HEAD'), `${HEAD}\n`);
    writeFileSync(path.join(ci, 'app.ts'), ["client.getVariant('checkout-v2', user);", "client.getVariant('new-nav', user);"].join('\n'));
  }, 60_000);
  afterAll(async () => {
    rmSync(repo, { recursive: true, force: true });
    rmSync(ci, { recursive: true, force: true });
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

  const branches = async (repository: string): Promise<string[]> => {
    const res = await p.request('GET', `/api/v1/projects/demo/code-refs/branches?repository=${repository}`, { token });
    return (res.body as { branches: { branch: string; references: number }[] }).branches.map((b) => `${b.branch} ${b.references}`);
  };

  it('checks --repo and --branch against the API\'s rules before indexing the tree or asking the API anything', async () => {
    // A token the API would refuse: the arguments are refused first.
    const badToken: NodeJS.ProcessEnv = { ...env, XP_TOKEN: 'xp_pat_not-a-token' };
    const refused = async (args: string[], using = badToken): Promise<{ code: number; out: string[]; err: string[] }> => runXp(['code-refs', '--project', 'demo', '--dir', ci, ...args], using);
    const cases: [string[], string][] = [
      [['--repo', 'acme/ci', '--branch', ''], '--branch "" is refused by the API: it must not be empty'],
      [['--repo', 'acme/ci', '--branch', 'my branch'], '--branch "my branch" is refused by the API: it must be a git branch name: no whitespace, "~", "^", ":", "?", "*", "[" or "\\"'],
      [['--repo', 'acme/ci', '--branch', 'x'.repeat(256)], `--branch "${'x'.repeat(100)}" is refused by the API: it must be at most 255 characters`],
      [['--repo', 'acme mono', '--branch', 'main'], '--repo "acme mono" is refused by the API: it must contain only letters, digits, "_", ".", "-" and "/"'],
      [['--repo', '', '--branch', 'main'], '--repo "" is refused by the API: it must not be empty'],
      [['--repo', 'acme/ci', '--branch', 'refs/heads/'], '--branch "refs/heads/" names no branch after refs/heads/: pass a branch\'s name or its refs/heads/NAME ref'],
      [['--repo', 'acme/ci', '--branch', 'refs/heads/refs/tags/x'], '--branch "refs/heads/refs/tags/x" names no branch after refs/heads/: pass a branch\'s name or its refs/heads/NAME ref'],
      [
        ['--repo', 'acme/ci', '--branch', 'refs/tags/v1.2'],
        '--branch "refs/tags/v1.2" is a tag, not a branch: references are stored per branch, so pass a branch\'s name or its refs/heads/… ref (a pull request\'s branch is $GITHUB_HEAD_REF on GitHub Actions; upload from branch pushes, not tags)',
      ],
      [
        ['--repo', 'acme/ci', '--branch', 'refs/pull/12/merge'],
        '--branch "refs/pull/12/merge" is a pull request\'s ref, not a branch: references are stored per branch, so pass a branch\'s name or its refs/heads/… ref (a pull request\'s branch is $GITHUB_HEAD_REF on GitHub Actions; upload from branch pushes, not tags)',
      ],
      // A dry run uploads nothing, but checks what it is given.
      [['--dry-run', '--branch', 'a:b'], '--branch "a:b" is refused by the API: it must be a git branch name: no whitespace, "~", "^", ":", "?", "*", "[" or "\\"'],
      [['--dry-run', '--commit', 'xyz'], '--commit must be a commit id of 7 to 64 lower-case hexadecimal characters (as git rev-parse prints it), not "xyz"'],
    ];
    for (const [args, message] of cases) {
      expect({ args, ...(await refused(args)) }).toEqual({ args, code: 1, out: [], err: [`error: ${message}`] });
    }
    // With a working token too: no "Found …" line first.
    expect(await refused(['--repo', 'acme/ci', '--branch', ''], env)).toEqual({ code: 1, out: [], err: ['error: --branch "" is refused by the API: it must not be empty'] });
    expect(await branches('acme/ci')).toEqual([]);
  });

  it('stores --branch refs/heads/NAME ($GITHUB_REF) as the branch NAME', async () => {
    const upload = (branch: string): Promise<{ code: number; out: string[]; err: string[] }> => runXp(['code-refs', '--repo', 'acme/ci', '--project', 'demo', '--dir', ci, '--branch', branch], env);
    const plain = await upload('main');
    const ref = await upload('refs/heads/main');
    expect([plain.code, plain.err, ref.code, ref.err]).toEqual([0, [], 0, []]);
    expect(plain.out[1]).toBe('Stored 2 references for acme/ci@main in demo (replaced 0).');
    expect(ref.out.slice(0, 3)).toEqual(['Branch main (--branch refs/heads/main is its ref).', `Found 2 references to 2 flags in 1 file under ${ci}`, 'Stored 2 references for acme/ci@main in demo (replaced 2).']);
    // One branch, not main and refs/heads/main.
    expect(await branches('acme/ci')).toEqual(['main 2']);
  });

  it("deletes a repository branch's references with --delete, and says so when none are stored", async () => {
    const xp = (args: string[], using = env): Promise<{ code: number; out: string[]; err: string[] }> => runXp(['code-refs', '--project', 'demo', ...args], using);
    expect((await xp(['--repo', 'acme/ci', '--branch', 'refs/heads/feature/x', '--dir', ci])).code).toBe(0);
    expect(await branches('acme/ci')).toEqual(['feature/x 2', 'main 2']);

    // Refused before anything is deleted: options of an upload, a missing --branch, a role that cannot write.
    expect(await xp(['--delete', '--repo', 'acme/ci', '--branch', 'feature/x', '--commit', 'abcdef1', '--dry-run'])).toEqual({
      code: 1,
      out: [],
      err: ['error: --delete deletes the stored references of --repo and --branch and indexes nothing: leave out --dry-run, --commit'],
    });
    expect(await xp(['--delete', '--repo', 'acme/ci'])).toEqual({ code: 1, out: [], err: ['error: code-refs --delete needs --repo NAME and --branch BRANCH'] });
    const viewer = await signedInAs(p, token, 'viewer', 'code-refs-viewer@example.com');
    expect(await xp(['--delete', '--repo', 'acme/ci', '--branch', 'feature/x'], { ...env, XP_TOKEN: viewer })).toEqual({
      code: 1,
      out: [],
      err: ["error: your role in demo (viewer) does not allow code-refs:write: deleting code references needs an editor's token or higher"],
    });
    const unknownProject = await runXp(['code-refs', '--delete', '--repo', 'acme/ci', '--branch', 'feature/x', '--project', 'no-such-project'], env);
    expect([unknownProject.code, unknownProject.out, unknownProject.err[0]]).toEqual([1, [], expect.stringContaining('no-such-project')]);
    expect(await branches('acme/ci')).toEqual(['feature/x 2', 'main 2']);

    // The repository is compared without case, and a branch's ref names the branch.
    expect(await xp(['--delete', '--repo', 'Acme/CI', '--branch', 'refs/heads/feature/x'])).toEqual({
      code: 0,
      out: ['Branch feature/x (--branch refs/heads/feature/x is its ref).', 'Deleted 2 references of acme/ci@feature/x in demo.'],
      err: [],
    });
    expect(await branches('acme/ci')).toEqual(['main 2']);
    // Nothing to delete is no failure (a second run, a branch never uploaded), and the branches that are stored show a typo.
    expect(await xp(['--delete', '--repo', 'acme/ci', '--branch', 'feature/x'])).toEqual({
      code: 0,
      out: ["No references of acme/ci@feature/x are stored in demo: nothing to delete (acme/ci's branches with references: main)."],
      err: [],
    });
    expect(await xp(['--delete', '--repo', 'acme/nothing', '--branch', 'main'])).toEqual({ code: 0, out: ['No references of acme/nothing@main are stored in demo: nothing to delete (acme/nothing has no branch with references in demo).'], err: [] });
    // On record, as the API's DELETE.
    const audit = await p.request('GET', '/api/v1/audit?action=code-refs.deleted', { token });
    expect((audit.body as { items: { resourceKey: string }[] }).items.map((e) => e.resourceKey)).toEqual(['acme/ci@feature/x']);
  });
});

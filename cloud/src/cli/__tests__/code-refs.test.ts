import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectCodeRefs, headCommit, repositoryRoot } from '../code-refs.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A folder holding `files` (relative path → text). */
function tree(files: Readonly<Record<string, string>>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'xp-code-refs-'));
  made.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('code-refs in a git work tree', () => {
  it('finds the root of the work tree: the nearest folder up holding .git, a folder or a file', () => {
    const repo = tree({ '.git/HEAD': `${A}\n`, 'packages/api/src/x.ts': '', 'vendor/lib/.git': 'gitdir: ../../.git/modules/lib\n', 'vendor/lib/y.ts': '' });
    expect(repositoryRoot(path.join(repo, 'packages/api/src'))).toBe(repo);
    expect(repositoryRoot(repo)).toBe(repo);
    expect(repositoryRoot(path.join(repo, 'vendor/lib'))).toBe(path.join(repo, 'vendor/lib'));
  });

  it('reads the checked-out commit from HEAD, a loose ref or packed-refs, without git', () => {
    // Detached HEAD (a CI checkout of a pull request).
    expect(headCommit(tree({ '.git/HEAD': `${A}\n` }))).toBe(A);
    // A branch with a loose ref, which wins over a stale packed one.
    expect(headCommit(tree({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${B}\n`, '.git/packed-refs': `# pack-refs with: peeled fully-peeled sorted\n${C} refs/heads/main\n` }))).toBe(B);
    // A packed branch (after git gc), next to a peeled tag line.
    expect(headCommit(tree({ '.git/HEAD': 'ref: refs/heads/feature/x\n', '.git/packed-refs': `# pack-refs with: peeled\n${A} refs/heads/main\n${C} refs/heads/feature/x\n${B} refs/tags/v1\n^${A}\n` }))).toBe(C);
    // A SHA-256 repository.
    expect(headCommit(tree({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${'d'.repeat(64)}\n` }))).toBe('d'.repeat(64));
  });

  it('follows .git files: a linked worktree (its own HEAD, shared refs) and a submodule', () => {
    const main = tree({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${A}\n`, '.git/packed-refs': `${C} refs/heads/topic\n`, '.git/worktrees/topic/HEAD': 'ref: refs/heads/topic\n', '.git/worktrees/topic/commondir': '../..\n' });
    const worktree = tree({ '.git': `gitdir: ${path.join(main, '.git/worktrees/topic')}\n`, 'x.ts': '' });
    expect(headCommit(worktree)).toBe(C);
    const superproject = tree({ '.git/HEAD': `${A}\n`, '.git/modules/lib/HEAD': `${B}\n`, 'lib/.git': 'gitdir: ../.git/modules/lib\n' });
    expect(headCommit(path.join(superproject, 'lib'))).toBe(B);
  });

  it('gives no commit when it cannot be told', () => {
    // A branch without commits yet, a reftable repository (HEAD names a placeholder), a broken .git file, a ref leaving .git.
    expect(headCommit(tree({ '.git/HEAD': 'ref: refs/heads/main\n' }))).toBeUndefined();
    expect(headCommit(tree({ '.git/HEAD': 'ref: refs/heads/.invalid\n', '.git/reftable/tables.list': '' }))).toBeUndefined();
    expect(headCommit(tree({ '.git': 'not a pointer\n' }))).toBeUndefined();
    expect(headCommit(tree({ '.git/HEAD': 'ref: refs/../../secret\n', secret: `${A}\n` }))).toBeUndefined();
    expect(headCommit(tree({ '.git/HEAD': 'abc1234\n' }))).toBeUndefined();
    expect(headCommit(tree({}))).toBeUndefined();
  });

  it('names paths from the repository root and applies its .gitignore files as git does, whatever --dir is', async () => {
    const repo = tree({
      '.git/HEAD': `${A}\n`,
      '.gitignore': 'gen/\n*.gen.ts\n',
      'src/.gitignore': 'out/\n',
      'src/app.ts': "client.getVariant('checkout-v2', user);\n",
      'src/app.gen.ts': "client.getVariant('generated', user);\n",
      'src/lib/out/built.ts': "client.getVariant('built', user);\n",
      'src/lib/util.ts': "client.getVariant('util', user);\n",
      'gen/gen.ts': "client.getVariant('search-v2', user);\n",
      'gen/sub/more.ts': "client.getVariant('search-v3', user);\n",
    });
    const found = async (dir: string): Promise<string[]> => (await collectCodeRefs(path.join(repo, dir), [])).references.map((r) => `${r.path} ${r.flagKey}`);
    expect(await found('.')).toEqual(['src/app.ts checkout-v2', 'src/lib/util.ts util']);
    expect(await found('src')).toEqual(['src/app.ts checkout-v2', 'src/lib/util.ts util']);
    expect(await found('src/lib')).toEqual(['src/lib/util.ts util']);
    // A folder the repository ignores has no references, however it is named.
    expect(await found('gen')).toEqual([]);
    expect(await found('gen/sub')).toEqual([]);
    expect(await found('src/lib/out')).toEqual([]);
  });

  it("applies the repository's .git/info/exclude below its .gitignore files, as git does, also from a linked worktree", async () => {
    const files = {
      '.gitignore': '!src/keep.local.ts\n',
      'src/app.ts': "client.getVariant('checkout-v2', user);\n",
      'src/keep.local.ts': "client.getVariant('re-included', user);\n",
      'src/scratch.local.ts': "client.getVariant('scratch', user);\n",
      'notes/try.ts': "client.getVariant('notes', user);\n",
    };
    const exclude = '# personal\n*.local.ts\nnotes/\n';
    // `git ls-files --others --exclude-standard` on this tree: .gitignore, src/app.ts, src/keep.local.ts.
    const expected = ['src/app.ts checkout-v2', 'src/keep.local.ts re-included'];
    const found = async (root: string, dir = '.'): Promise<string[]> => (await collectCodeRefs(path.join(root, dir), [])).references.map((r) => `${r.path} ${r.flagKey}`);
    const repo = tree({ ...files, '.git/HEAD': `${A}\n`, '.git/info/exclude': exclude });
    expect(await found(repo)).toEqual(expected);
    expect(await found(repo, 'src')).toEqual(expected);
    expect(await found(repo, 'notes')).toEqual([]);
    // A linked worktree shares the main repository's info/exclude (its commondir).
    const main = tree({ '.git/HEAD': `${A}\n`, '.git/info/exclude': exclude, '.git/worktrees/topic/HEAD': `${B}\n`, '.git/worktrees/topic/commondir': '../..\n' });
    const worktree = tree({ ...files, '.git': `gitdir: ${path.join(main, '.git/worktrees/topic')}\n` });
    expect(await found(worktree)).toEqual(expected);
    // Without one, those files count.
    expect(await found(tree({ ...files, '.git/HEAD': `${A}\n` }))).toEqual(['notes/try.ts notes', ...expected, 'src/scratch.local.ts scratch']);
  });

  // Only when nothing above the temporary folder is a git work tree (as on CI machines).
  it.runIf(repositoryRoot(tmpdir()) === undefined)('names paths from --dir outside a git work tree', async () => {
    const dir = tree({ 'pkg/app.ts': "client.getVariant('checkout-v2', user);\n" });
    expect((await collectCodeRefs(path.join(dir, 'pkg'), [])).references.map((r) => r.path)).toEqual(['app.ts']);
  });
});

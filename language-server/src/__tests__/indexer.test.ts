import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSourceFiles, WorkspaceIndex } from '../indexer/index.js';
import { writeFixtureWorkspace } from '../testing/index.js';

describe('WorkspaceIndex', () => {
  let root: string;
  let index: WorkspaceIndex;

  beforeAll(async () => {
    root = writeFixtureWorkspace();
    index = new WorkspaceIndex(root, { wrapperFunctions: ['useFlag'] });
    await index.indexAll();
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const refsIn = (rel: string) => index.fileIndex(path.join(root, rel))?.references ?? [];

  it('finds SDK calls, constants and enum members in TypeScript', () => {
    const refs = refsIn('web/checkout.ts');
    expect(refs.map((r) => [r.flagKey, r.kind, r.viaConstant])).toEqual([
      ['checkout-v2', 'variant', false],
      ['new-nav', 'enabled', true],
      ['dark-mode', 'enabled', true],
      ['chekout-v2', 'enabled', false],
    ]);
    expect(refs[0]!.compared.map((c) => c.name)).toEqual(['blue', 'purple']);
    expect(refs[0]!.range.start).toEqual({ line: 4, character: 42 });
    expect(refs[0]!.keyRange.start).toEqual({ line: 4, character: 43 });
    // The constant's key is edited where it is defined.
    expect(refs[1]!.keyRange.start).toEqual({ line: 1, character: 17 });
  });

  it('finds calls in TSX, wrappers and object constants in JavaScript', () => {
    expect(refsIn('web/banner.tsx').map((r) => [r.flagKey, r.kind])).toEqual([
      ['banner-text', 'value'],
      ['new-nav', 'wrapper'],
    ]);
    expect(refsIn('web/legacy.js').map((r) => [r.flagKey, r.kind])).toEqual([['search-v3', 'boolean']]);
  });

  it('finds calls in Python, Go and Java with compared variations', () => {
    const py = refsIn('api/app.py');
    expect(py.map((r) => [r.flagKey, r.kind])).toEqual([
      ['checkout-v2', 'variant'],
      ['search-v3', 'enabled'],
      ['banner-text', 'value'],
    ]);
    expect(py[0]!.compared.map((c) => c.name)).toEqual(['green']);
    const go = refsIn('svc/main.go');
    expect(go.map((r) => [r.flagKey, r.kind])).toEqual([
      ['checkout-v2', 'variant'],
      ['search-v3', 'boolean'],
      ['dark-mode', 'enabled'],
    ]);
    expect(go[0]!.compared.map((c) => c.name)).toEqual(['blue']);
    const java = refsIn('svc/App.java');
    expect(java.map((r) => [r.flagKey, r.viaConstant])).toEqual([
      ['checkout-v2', false],
      ['new-nav', true],
    ]);
    expect(java[0]!.compared.map((c) => c.name)).toEqual(['blue']);
  });

  it('skips ignored and vendored files', () => {
    expect(index.keys().has('ignored-flag')).toBe(false);
  });

  it('tells which paths belong to the workspace as the cold index lists them', () => {
    const includes = (rel: string) => index.includes(path.join(root, rel));
    expect(includes('web/checkout.ts')).toBe(true);
    // Need not exist: a file just created or deleted is judged by its path.
    expect(includes('web/later/new.py')).toBe(true);
    expect(includes('dist/bundle.js')).toBe(false);
    expect(includes('node_modules/dep/index.js')).toBe(false);
    expect(includes('web/notes.md')).toBe(false);
    expect(index.includes(path.join(path.dirname(root), 'elsewhere.ts'))).toBe(false);
  });

  it('re-indexes one changed file', async () => {
    const file = path.join(root, 'web/legacy.js');
    await index.indexText(file, "client.getVariant('other-flag', u);\n");
    expect(index.referencesTo('search-v3').map((r) => r.language).sort()).toEqual(['go', 'python']);
    expect(index.referencesTo('other-flag')).toHaveLength(1);
  });
});

describe('WorkspaceIndex over several roots', () => {
  let root: string;
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('indexes a file under nested roots once, each root with its own .gitignore, and keeps what another root holds', async () => {
    root = writeFixtureWorkspace({ 'web/.gitignore': 'banner.tsx\n', 'web/dist/x.ts': "client.getVariant('nested-dist', u);\n" });
    const web = path.join(root, 'web');
    const index = new WorkspaceIndex([root, web], { wrapperFunctions: ['useFlag'] });
    await index.indexAll();
    // Listed by both roots, indexed once.
    expect(index.referencesTo('search-v3').map((r) => path.relative(root, r.file)).sort()).toEqual(['api/app.py', 'svc/main.go', 'web/legacy.js']);
    // The outer root's .gitignore ("dist/") excludes web/dist, the inner root's rules do not: the inner root lists it.
    expect(index.keys().has('nested-dist')).toBe(true);
    // web/.gitignore applies under both.
    expect(index.referencesTo('banner-text').map((r) => r.language).sort()).toEqual(['python']);
    // Removing the inner root keeps what the outer one lists; removing the outer one forgets the rest.
    expect(index.removeRoot(web)).toBe(true);
    expect(index.keys().has('nested-dist')).toBe(false);
    expect(index.referencesTo('checkout-v2').map((r) => path.relative(root, r.file))).toContain('web/checkout.ts');
    expect(index.removeRoot(root)).toBe(true);
    expect(index.references()).toEqual([]);
    expect(await index.addRoot(web)).toBe(true);
    expect([...index.keys()].sort()).toEqual(['checkout-v2', 'chekout-v2', 'dark-mode', 'nested-dist', 'new-nav', 'search-v3']);
  });
});

describe('listSourceFiles inside a git repository', () => {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const tree = (files: Readonly<Record<string, string>>): string => {
    const root = mkdtempSync(path.join(tmpdir(), 'xp-list-'));
    made.push(root);
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), text);
    }
    return root;
  };
  const names = (root: string, folder: string): string[] => listSourceFiles(path.join(root, folder)).map((f) => path.relative(root, f).split(path.sep).join('/')).sort();

  it("applies the repository's .gitignore files above the folder, from the repository root down", () => {
    const root = tree({ '.git/HEAD': '', '.gitignore': '*.gen.ts\n', 'a/.gitignore': 'out/\n', 'a/b/x.ts': '', 'a/b/x.gen.ts': '', 'a/b/out/y.ts': '' });
    expect(names(root, 'a/b')).toEqual(['a/b/x.ts']);
  });

  it('lets a nested .gitignore re-include (!name) a file a parent excludes, but not a file in an excluded directory, as git does', async () => {
    const root = tree({
      '.git/HEAD': '',
      '.gitignore': '*.gen.ts\nsrc/sub/out/\n',
      'src/sub/.gitignore': '!important.gen.ts\n!out/kept.ts\n',
      'src/sub/important.gen.ts': "client.getVariant('re-included', user);\n",
      'src/sub/other.gen.ts': "client.getVariant('still-ignored', user);\n",
      'src/sub/out/kept.ts': "client.getVariant('in-ignored-dir', user);\n",
      'src/important.gen.ts': "client.getVariant('outside-sub', user);\n",
      'src/x.ts': "client.getVariant('plain', user);\n",
    });
    // `git ls-files --others --exclude-standard` on this tree: src/sub/important.gen.ts, src/x.ts.
    const listed = ['src/sub/important.gen.ts', 'src/x.ts'];
    expect(names(root, '')).toEqual(listed);
    expect(names(root, 'src')).toEqual(listed);
    expect(names(root, 'src/sub')).toEqual(['src/sub/important.gen.ts']);
    const index = new WorkspaceIndex(root);
    await index.indexAll();
    expect([...index.keys()].sort()).toEqual(['plain', 're-included']);
    expect(index.fileIndex(path.join(root, 'src/sub/important.gen.ts'))?.references.map((r) => r.flagKey)).toEqual(['re-included']);
    // Judged by path (a file created or changed later): the same answers.
    expect(index.includes(path.join(root, 'src/sub/important.gen.ts'))).toBe(true);
    expect(index.includes(path.join(root, 'src/sub/other.gen.ts'))).toBe(false);
    expect(index.includes(path.join(root, 'src/sub/out/kept.ts'))).toBe(false);
    expect(index.includes(path.join(root, 'src/important.gen.ts'))).toBe(false);
  });

  it('ignores .gitignore files above the folder outside a repository', () => {
    const root = tree({ '.gitignore': '*.gen.ts\n', 'a/x.ts': '', 'a/x.gen.ts': '' });
    expect(names(root, 'a')).toEqual(['a/x.gen.ts', 'a/x.ts']);
  });

  it('indexes a folder opened on purpose even when the repository ignores it', () => {
    const root = tree({ '.git/HEAD': '', '.gitignore': 'build/\n*.gen.ts\n', 'build/x.ts': '', 'build/x.gen.ts': '' });
    expect(names(root, 'build')).toEqual(['build/x.gen.ts', 'build/x.ts']);
  });

  it('lists nothing in a folder the repository ignores when ignored roots are not indexed (xp code-refs)', async () => {
    const root = tree({ '.git/HEAD': '', '.gitignore': 'build/\n', 'build/sub/x.ts': "client.getVariant('built', user);\n", 'src/y.ts': "client.getVariant('kept', user);\n" });
    for (const folder of ['build', 'build/sub']) {
      expect(listSourceFiles(path.join(root, folder), false)).toEqual([]);
      const index = new WorkspaceIndex(path.join(root, folder), { indexIgnoredRoots: false });
      await index.indexAll();
      expect([...index.keys()]).toEqual([]);
      expect(index.includes(path.join(root, 'build/sub/x.ts'))).toBe(false);
    }
    expect(listSourceFiles(path.join(root, 'src'), false)).toEqual([path.join(root, 'src/y.ts')]);
  });

  it("applies a repository's excludes (.git/info/exclude) below its .gitignore files, and only when given", async () => {
    const root = tree({ '.git/HEAD': '', '.git/info/exclude': '*.local.ts\n', '.gitignore': '!keep.local.ts\n', 'src/x.ts': "client.getVariant('kept', user);\n", 'src/a.local.ts': "client.getVariant('mine', user);\n", 'src/keep.local.ts': "client.getVariant('re-included', user);\n", 'tmp/z.ts': '' });
    const excludes = { base: root, rules: '*.local.ts\ntmp/\n' };
    const listed = (folder: string, given = excludes): string[] => listSourceFiles(path.join(root, folder), false, given).map((f) => path.relative(root, f).split(path.sep).join('/')).sort();
    expect(listed('')).toEqual(['src/keep.local.ts', 'src/x.ts']);
    expect(listed('src')).toEqual(['src/keep.local.ts', 'src/x.ts']);
    expect(listed('tmp')).toEqual([]);
    const index = new WorkspaceIndex(path.join(root, 'src'), { excludes });
    await index.indexAll();
    expect([...index.keys()].sort()).toEqual(['kept', 're-included']);
    expect(index.includes(path.join(root, 'src/b.local.ts'))).toBe(false);
    expect(index.includes(path.join(root, 'src/keep.local.ts'))).toBe(true);
    // Another repository's excludes, and none given: the language server reads no exclude file itself.
    expect(listed('', { base: path.join(root, 'src'), rules: '*.ts\n' })).toEqual(['src/a.local.ts', 'src/keep.local.ts', 'src/x.ts', 'tmp/z.ts']);
    expect(names(root, '')).toEqual(['src/a.local.ts', 'src/keep.local.ts', 'src/x.ts', 'tmp/z.ts']);
  });
});

describe('compared variations', () => {
  const compared = async (file: string, lines: readonly string[]): Promise<string[][]> => {
    const found = await new WorkspaceIndex('/w').indexText(path.join('/w', file), lines.join('\n'));
    return found.references.map((r) => r.compared.map((c) => `${c.name}@${c.range.start.line}:${c.range.start.character}`));
  };

  it("reads a Python key passed by the SDK's keyword (flag_key, experiment_key), never another keyword's value", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xp-kw-'));
    try {
      const kw = new WorkspaceIndex(dir);
      const file = path.join(dir, 'kw.py');
      const result = await kw.indexText(
        file,
        [
          'a = client.get_value(default="blue", flag_key="py-value-flag", user=u)',
          'b = client.is_feature_enabled(user={"id": "u1"}, flag_key="py-real-flag")',
          'c = client.get_variant(user=u, experiment_key="py-exp")',
          'd = client.is_feature_enabled(user=u, key="not-the-sdk-name")',
          'e = client.get_value("positional", u, default="green")',
          '',
        ].join('\n'),
      );
      expect(result.references.map((r) => [r.flagKey, r.kind])).toEqual([
        ['py-value-flag', 'value'],
        ['py-real-flag', 'enabled'],
        ['py-exp', 'variant'],
        ['positional', 'value'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads hex and Unicode escapes in a key, with the range of the key as written', async () => {
    const kw = new WorkspaceIndex('/virtual');
    const text = ["client.isEnabled('ts-escaped\\u002dkey');", "client.isEnabled('new\\nline');", "const v = client.getVariant('k', u); if (v === 'bl\\u0075e') {}", ''].join('\n');
    const result = await kw.indexText('/virtual/e.ts', text);
    expect(result.references.map((r) => [r.flagKey, r.keyRange, r.compared.map((c) => c.name)])).toEqual([
      ['ts-escaped-key', { start: { line: 0, character: 18 }, end: { line: 0, character: 37 } }, []],
      ['k', { start: { line: 2, character: 29 }, end: { line: 2, character: 30 } }, ['blue']],
    ]);
  });

  it('reads Python membership tests, reversed operands and match statements', async () => {
    expect(
      await compared('p.py', [
        'v = client.get_variant("button-color", user)',
        'if "pink" != v or v in ("red", "blue") or v not in ["grey"] or v in {"teal"}:',
        '    pass',
        'match v:',
        '    case "green" | "lime":',
        '        pass',
        '    case "navy":',
        '        pass',
        'if client.get_variant("other", user) in ("x", "y"):',
        '    pass',
        '',
      ]),
    ).toEqual([['pink@1:4', 'red@1:25', 'blue@1:32', 'grey@1:53', 'teal@1:70', 'green@4:10', 'lime@4:20', 'navy@6:10'], ['x@8:42', 'y@8:47']]);
  });

  it('reads Java switch statements, with colons and with arrows', async () => {
    expect(
      await compared('A.java', [
        'class A {',
        '  void f(Client client, User user) {',
        '    String v = client.getVariant("button-color", user);',
        '    switch (v) { case "green": break; case "pink", "red": break; default: }',
        '    switch (v) {',
        '      case "pink2" -> {}',
        '      default -> {}',
        '    }',
        '    switch (client.getVariant("other", user)) { case "x" -> {} default -> {} }',
        '  }',
        '}',
        '',
      ]),
    ).toEqual([['green@3:23', 'pink@3:44', 'red@3:52', 'pink2@5:12'], ['x@8:54']]);
  });

  it('gives a direct comparison to its own call only, not to another call of the same text', async () => {
    expect(
      await compared('d.ts', ["const a = client.getVariant('button-color', u) === 'gren';", "const w = client.getVariant('button-color', u);", "if (w === 'blue') {}", '']),
    ).toEqual([['gren@0:52'], ['blue@2:11']]);
  });
});

describe('default value arguments', () => {
  /** Each reference's key with its default's kind, text and start, by the fast path and by the parse alone. */
  const defaults = async (file: string, lines: readonly string[]): Promise<string[]> => {
    const read = async (fastPath: boolean): Promise<string[]> => {
      const found = await new WorkspaceIndex('/w', { fastPath }).indexText(path.join('/w', file), lines.join('\n'));
      return found.references.map((r) => (r.defaultValue === undefined ? `${r.flagKey}: -` : `${r.flagKey}: ${r.defaultValue.kind} ${r.defaultValue.text} @${r.defaultValue.range.start.line}:${r.defaultValue.range.start.character}-${r.defaultValue.range.end.character}`));
    };
    const fast = await read(true);
    expect(fast).toEqual(await read(false));
    return fast;
  };

  it('records a literal default of getValue (after the user) and OpenFeature calls (after the key) in TypeScript, nothing else', async () => {
    expect(
      await defaults('d.ts', [
        "client.getValue('a', user, false);",
        "client.getValue('b', user, -10);",
        "client.getValue('c', user, { dark: true });",
        "client.getValue('d', user, fallback);",
        "client.getValue('e', 'not-a-default');",
        "client.isFeatureEnabled('f', user);",
        "openfeature.getStringValue('g', 'blue', ctx);",
        "client.evaluate('h', user, [1, 2], { explain: true });",
        "client.getValue('i', user, null);",
        '',
      ]),
    ).toEqual([
      'a: boolean false @0:27-32',
      'b: number -10 @1:27-30',
      'c: object { dark: true } @2:27-41',
      'd: -',
      'e: -',
      'f: -',
      'g: string \'blue\' @6:32-38',
      'h: array [1, 2] @7:27-33',
      'i: null null @8:27-31',
    ]);
  });

  it('records Python defaults by position or by the SDK keyword (default, default_value)', async () => {
    expect(
      await defaults('d.py', [
        'client.get_value("a", user, False)',
        'client.get_value("b", user, default="x")',
        'client.get_value(flag_key="c", user=user, default=3)',
        'client.get_value("d", user, limit)',
        'client.get_value("e", user=user)',
        'of.get_integer_value("f", default_value=2.5)',
        'client.get_value("g", user, {"a": 1})',
        '',
      ]),
    ).toEqual([
      'a: boolean False @0:28-33',
      'b: string "x" @1:36-39',
      'c: number 3 @2:50-51',
      'd: -',
      'e: -',
      'f: number 2.5 @5:40-43',
      'g: object {"a": 1} @6:28-36',
    ]);
  });

  it('records Go defaults of GetValue and of OpenFeature calls that take a context first', async () => {
    expect(
      await defaults('d.go', [
        'package d',
        'func f() {',
        '\tc.GetValue("a", user, "ten")',
        '\tv, err := of.IntValue(ctx, "b", true, nil)',
        '\tc.GetValue("c", user, map[string]any{"a": 1})',
        '\tc.GetValue("d", user, limit)',
        '}',
        '',
      ]),
    ).toEqual(['a: string "ten" @2:23-28', 'b: boolean true @3:33-37', 'c: object map[string]any{"a": 1} @4:23-45', 'd: -']);
  });
});

describe('React hooks and experiment calls', () => {
  /** Each reference's key, kind, method, default and compared variations, by the fast path and by the parse alone. */
  const read = async (file: string, lines: readonly string[], wrapperFunctions: readonly string[] = []): Promise<unknown[]> => {
    const once = async (fastPath: boolean): Promise<unknown[]> => {
      const found = await new WorkspaceIndex('/w', { fastPath, wrapperFunctions }).indexText(path.join('/w', file), lines.join('\n'));
      return found.references.map((r) => [r.flagKey, r.kind, r.method, r.defaultValue === undefined ? '-' : `${r.defaultValue.text} @${r.defaultValue.range.start.line}:${r.defaultValue.range.start.character}`, r.compared.map((c) => c.name)]);
    };
    const fast = await once(true);
    expect(fast).toEqual(await once(false));
    return fast;
  };

  it("reads xp's hooks in a component: useFlag's default right after the key, variants compared, the rest without a default", async () => {
    expect(
      await read('Nav.tsx', [
        "import { useFlag, useFlagDetails, useFeatureEnabled, useVariant, useExperiment } from '@xp/sdk/react';",
        'export function Nav() {',
        "  const compact = useFlag('compact', false);",
        "  const limit = useFlagDetails('limit', 10);",
        "  const plain = useFlagDetails('plain');",
        "  const beta = useFeatureEnabled('beta');",
        "  const color = useVariant('color-exp');",
        "  const result = useExperiment('copy-exp');",
        "  if (color === 'blue') { return <b>{result.variationKey}</b>; }",
        '  return <nav>{compact && beta ? limit.value : plain.value}</nav>;',
        '}',
        '',
      ]),
    ).toEqual([
      ['compact', 'value', 'useFlag', 'false @2:37', []],
      ['limit', 'value', 'useFlagDetails', '10 @3:40', []],
      ['plain', 'value', 'useFlagDetails', '-', []],
      ['beta', 'enabled', 'useFeatureEnabled', '-', []],
      ['color-exp', 'variant', 'useVariant', '-', ['blue']],
      ['copy-exp', 'variant', 'useExperiment', '-', []],
    ]);
  });

  it("reads OpenFeature's React hooks, key then default, in a .ts custom hook", async () => {
    expect(
      await read('flags.ts', [
        "export const useCheckout = () => [useBooleanFlagValue('of-b', true), useStringFlagDetails('of-s', 'x'), useNumberFlagValue('of-n', -1), useObjectFlagDetails('of-o', {}), useFlag('of-any', 'y')];",
        '',
      ]),
    ).toEqual([
      ['of-b', 'boolean', 'useBooleanFlagValue', 'true @0:62', []],
      ['of-s', 'string', 'useStringFlagDetails', "'x' @0:98", []],
      ['of-n', 'number', 'useNumberFlagValue', '-1 @0:131', []],
      ['of-o', 'object', 'useObjectFlagDetails', '{} @0:165', []],
      ['of-any', 'value', 'useFlag', "'y' @0:188", []],
    ]);
  });

  it('reads getExperiment and get_experiment as getVariant, by position and by keyword', async () => {
    expect(await read('e.ts', ["const r = await client.getExperiment('js-exp', user, { exposure: false });", "if (client.getExperiment('js-exp-2', user) === 'x') {}", ''])).toEqual([
      ['js-exp', 'variant', 'getExperiment', '-', []],
      ['js-exp-2', 'variant', 'getExperiment', '-', ['x']],
    ]);
    expect(await read('e.py', ['r = client.get_experiment("py-exp", user)', 'k = client.get_experiment(user=u, experiment_key="py-exp-kw")', ''])).toEqual([
      ['py-exp', 'variant', 'get_experiment', '-', []],
      ['py-exp-kw', 'variant', 'get_experiment', '-', []],
    ]);
  });

  it('is found as xp code-refs indexes a folder: in worker threads, with no wrapper configured', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xp-hooks-'));
    try {
      mkdirSync(path.join(dir, 'web'));
      writeFileSync(path.join(dir, 'web/Nav.tsx'), "export const Nav = () => <nav>{useFlag('nav-flag', false) ? useVariant('nav-exp') : null}</nav>;\n");
      writeFileSync(path.join(dir, 'web/flags.ts'), "export const useBeta = () => useBooleanFlagValue('beta', false) && useFeatureEnabled('beta-2');\n");
      writeFileSync(path.join(dir, 'exp.py'), 'r = client.get_experiment("py-exp", user)\n');
      const index = new WorkspaceIndex(dir, { wrapperFunctions: [], workers: 2, indexIgnoredRoots: false });
      await index.indexAll();
      expect(index.references().map((r) => [path.relative(dir, r.file), r.flagKey, r.range.start.line + 1, r.range.start.character + 1]).sort()).toEqual([
        ['exp.py', 'py-exp', 1, 27],
        ['web/Nav.tsx', 'nav-exp', 1, 72],
        ['web/Nav.tsx', 'nav-flag', 1, 40],
        ['web/flags.ts', 'beta', 1, 50],
        ['web/flags.ts', 'beta-2', 1, 86],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves a hook named in wrapperFunctions a wrapper: the workspace’s own function, whose default it does not know', async () => {
    expect(await read('w.tsx', ["const on = useFlag('wrapped', 'x');", "const v = useVariant('still-sdk');", ''], ['hooks.useFlag'])).toEqual([
      ['wrapped', 'wrapper', 'useFlag', '-', []],
      ['still-sdk', 'variant', 'useVariant', '-', []],
    ]);
  });
});

describe('constants, by the scope they are declared in', () => {
  /** Each reference's key (`*` when through a constant) and where its argument starts, by the fast path and by the parse alone. */
  const keys = async (file: string, lines: readonly string[]): Promise<string[]> => {
    const read = async (fastPath: boolean): Promise<string[]> => {
      const found = await new WorkspaceIndex('/w', { fastPath }).indexText(path.join('/w', file), lines.join('\n'));
      return found.references.map((r) => `${r.flagKey}${r.viaConstant ? '*' : ''}@${r.range.start.line}:${r.range.start.character}`);
    };
    const fast = await read(true);
    expect(fast).toEqual(await read(false));
    return fast;
  };

  it('reads a name in TypeScript, TSX and JavaScript as the innermost declaration in scope, whichever comes first in the file', async () => {
    const shadowed = ["const NAV = 'new-nav';", 'export const a = client.isEnabled(NAV);', 'function test() {', "  const NAV = 'dark-mode';", '  return client.isEnabled(NAV);', '}', ''];
    expect(await keys('a.ts', shadowed)).toEqual(['new-nav*@1:34', 'dark-mode*@4:26']);
    expect(await keys('a.tsx', [...shadowed.slice(2, 6), ...shadowed.slice(0, 2)])).toEqual(['dark-mode*@2:26', 'new-nav*@5:34']);
    expect(await keys('a.js', ["var NAV = 'new-nav';", '{', "  let NAV = 'dark-mode';", '  client.isEnabled(NAV);', '}', 'client.isEnabled(NAV);', ''])).toEqual(['dark-mode*@3:19', 'new-nav*@5:17']);
  });

  it('gives no key for a name bound to a parameter, a destructured or loop variable, or a variable assigned again', async () => {
    expect(
      await keys('b.ts', [
        "const KEY = 'new-nav';",
        'export function check(KEY: string) { return client.isEnabled(KEY); }',
        'const f = (KEY?: string) => client.isEnabled(KEY);',
        'const g = ({ KEY }: { KEY: string }) => client.isEnabled(KEY);',
        'for (const KEY of keys) { client.isEnabled(KEY); }',
        "let MOVED = 'dark-mode';",
        "MOVED = 'other';",
        'client.isEnabled(MOVED);',
        "let KEPT = 'dark-mode';",
        'client.isEnabled(KEPT);',
        'client.isEnabled(KEY);',
        '',
      ]),
    ).toEqual(['dark-mode*@9:17', 'new-nav*@10:17']);
    expect(await keys('b.js', ["const KEY = 'new-nav';", 'function check(KEY) { return client.isEnabled(KEY); }', 'const h = KEY => client.isEnabled(KEY);', ''])).toEqual([]);
  });

  it('reads Python names by function scope, parameters shadowing module constants and class bodies not seen from methods', async () => {
    expect(
      await keys('c.py', [
        'NAV = "new-nav"',
        'a = client.is_feature_enabled(NAV, u)',
        'def test():',
        '    if ready:',
        '        NAV = "dark-mode"',
        '    return client.is_feature_enabled(NAV, u)',
        'def check(NAV):',
        '    return client.is_feature_enabled(NAV, u)',
        'class Flags:',
        '    NAV = "search-v3"',
        '    def method(self):',
        '        return client.is_feature_enabled(NAV, u)',
        'MOVED = "checkout-v2"',
        'MOVED = "banner-text"',
        'client.is_feature_enabled(MOVED, u)',
        'client.is_feature_enabled(Flags.NAV, u)',
        '',
      ]),
    ).toEqual(['new-nav*@1:30', 'dark-mode*@5:37', 'new-nav*@11:41', 'search-v3*@15:26']);
  });

  it('reads Go package and function-local constants and parameters by scope', async () => {
    expect(
      await keys('d.go', [
        'package d',
        'const Nav = "new-nav"',
        'func a() bool { return c.IsFeatureEnabled(Nav, u) }',
        'func b() bool {',
        '\tconst Nav = "dark-mode"',
        '\treturn c.IsFeatureEnabled(Nav, u)',
        '}',
        'func p(Nav string) bool { return c.IsFeatureEnabled(Nav, u) }',
        'func q() bool {',
        '\tkey := "search-v3"',
        '\tkey = other',
        '\treturn c.IsFeatureEnabled(key, u)',
        '}',
        'const (First, Second = "checkout-v2", "banner-text")',
        'var y = c.IsFeatureEnabled(Second, u)',
        '',
      ]),
    ).toEqual(['new-nav*@2:42', 'dark-mode*@5:27', 'banner-text*@14:27']);
  });

  it('reads Java fields, locals and parameters by scope', async () => {
    expect(
      await keys('E.java', [
        'class E {',
        '  static final String NAV = "new-nav";',
        '  boolean a() { return client.isEnabled(NAV, u); }',
        '  boolean b() { String NAV = "dark-mode"; return client.isEnabled(NAV, u); }',
        '  boolean c(String NAV) { return client.isEnabled(NAV, u); }',
        '  boolean d() { String k = "search-v3"; k = other; return client.isEnabled(k, u); }',
        '  enum Flag { SEARCH("search-v3") }',
        '  boolean e() { return client.isEnabled(Flag.SEARCH, u); }',
        '}',
        '',
      ]),
    ).toEqual(['new-nav*@2:40', 'dark-mode*@3:66', 'search-v3*@7:40']);
  });

  it('follows `as const`, `satisfies` and parentheses around a constant', async () => {
    expect(
      await keys('f.ts', [
        "const LIM = 'checkout-limit' as const;",
        'client.getValue(LIM, u, 1);',
        "const S = 'search-v3' satisfies string;",
        'client.isEnabled(S);',
        "const P = ('banner-text');",
        'client.isEnabled(P);',
        '',
      ]),
    ).toEqual(['checkout-limit*@1:16', 'search-v3*@3:17', 'banner-text*@5:17']);
  });

  it('follows members of nested object literals and Go conversions of a typed constant', async () => {
    expect(
      await keys('g.ts', ["const Nested = { ui: { price: 'price-rounding', 'x-y': { deep: 'new-nav' } } } as const;", 'client.isEnabled(Nested.ui.price);', 'client.isEnabled(Nested.ui.missing);', ''])).toEqual(['price-rounding*@1:17']);
    expect(await keys('h.go', ['package h', 'type FlagKey string', 'const Nav FlagKey = "new-nav"', 'func f() { c.IsFeatureEnabled(string(Nav), u) }', ''])).toEqual(['new-nav*@3:30']);
  });
});

describe('Python f-strings', () => {
  it('reads an f-string without placeholders as a key, by the fast path and the parse alike, and one with a placeholder as none', async () => {
    const text = ['client.is_feature_enabled(f"search-v3", user)', 'client.is_feature_enabled(F\'dark-mode\', user)', 'client.is_feature_enabled(rf"new-nav", user)', 'client.is_feature_enabled(f"flag-{n}", user)', 'client.is_feature_enabled(f"a{{b}}", user)', ''].join('\n');
    const fast = new WorkspaceIndex('/w');
    const found = await fast.indexText('/w/f.py', text);
    expect(found).toEqual(await new WorkspaceIndex('/w', { fastPath: false }).indexText('/w/f.py', text));
    expect(found.references.map((r) => [r.flagKey, r.keyRange.start.character])).toEqual([
      ['search-v3', 28],
      ['dark-mode', 28],
      ['new-nav', 29],
    ]);
    // The braces' escape is literal text: a slot to complete in, with the text the string holds.
    expect(found.slots.map((s) => s.text)).toEqual(['search-v3', 'dark-mode', 'new-nav', 'a{b}']);
  });
});

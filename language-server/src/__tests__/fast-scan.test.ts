/**
 * The lexical fast path against the pure tree-sitter path: on the fixtures, a bench-shaped generated
 * workspace and adversarial sources, fast path + fallback must find exactly what parsing finds.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkspaceIndex } from '../indexer/index.js';
import { MethodTable } from '../indexer/extract.js';
import { scanReferences } from '../indexer/fast-scan.js';
import type { Language } from '../indexer/types.js';
import { languageOf } from '../indexer/types.js';
import { FIXTURE_FILES } from '../testing/index.js';

const ROOT = '/virtual';

async function compare(files: Readonly<Record<string, string>>, wrappers: readonly string[] = ['useFlag']): Promise<{ scanned: number; parsed: number }> {
  const fast = new WorkspaceIndex(ROOT, { wrapperFunctions: wrappers });
  const pure = new WorkspaceIndex(ROOT, { wrapperFunctions: wrappers, fastPath: false });
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(ROOT, rel);
    const a = await fast.indexText(file, text);
    const b = await pure.indexText(file, text);
    expect({ rel, index: a }).toEqual({ rel, index: b });
  }
  expect(pure.stats.scanned).toBe(0);
  return fast.stats;
}

type Lang = 'ts' | 'tsx' | 'js' | 'py' | 'go' | 'java';

/** The bench's shapes (bench/src/language-server.ts): filler code plus one SDK call per file. */
function benchLike(count: number): Record<string, string> {
  const langs: Lang[] = ['ts', 'tsx', 'js', 'py', 'go', 'java'];
  const out: Record<string, string> = {};
  for (let n = 0; n < count; n++) {
    const lang = langs[n % langs.length]!;
    const key = `bench-flag-${String(n % 200).padStart(3, '0')}`;
    const filler: string[] = [];
    for (let i = 0; i < 5; i++) {
      filler.push(
        lang === 'py'
          ? `    total_${i} = sum(x * ${i} for x in range(${n % 97})) + len("item-${i}")`
          : lang === 'go'
            ? `\ttotal${i} := compute(${i}, "item-${i}", ${n % 97})\n\t_ = total${i}`
            : lang === 'java'
              ? `    int total${i} = compute(${i}, "item-${i}", ${n % 97});`
              : `  const total${i} = items.map((x) => x * ${i}).filter((x) => x > ${n % 97}).join('item-${i}');`,
      );
    }
    const call =
      lang === 'py'
        ? `    if client.is_feature_enabled("${key}", user):\n        count += 1`
        : lang === 'go'
          ? `\tif c.IsFeatureEnabled("${key}", user) {\n\t\tcount++\n\t}`
          : lang === 'java'
            ? `    if (client.isFeatureEnabled("${key}", user)) { count++; }`
            : n % 4 === 0
              ? `  const v = await client.getVariant('${key}', user);\n  if (v === 'on') { count++; }`
              : `  if (client.isFeatureEnabled('${key}', user)) { count++; }`;
    const body = `${filler.join('\n')}\n${call}`;
    out[`pkg/file${n}.${lang}`] =
      lang === 'py'
        ? `def handler_${n}(client, user, items):\n    count = 0\n${body}\n    return count\n`
        : lang === 'go'
          ? `package gen\n\nfunc Handler${n}(c *Client, user string) int {\n\tcount := 0\n${body}\n\treturn count\n}\n`
          : lang === 'java'
            ? `class Handler${n} {\n  int run(Client client, String user) {\n    int count = 0;\n${body}\n    return count;\n  }\n}\n`
            : `export async function handler${n}(user, items) {\n  let count = 0;\n${body}\n  return count;\n}\n`;
  }
  return out;
}

/** Keys in comments and strings, look-alike calls, nesting, escapes, multi-line calls, per language. */
const ADVERSARIAL: Readonly<Record<string, string>> = {
  'a/comments.ts': [
    "// client.getVariant('in-comment', u)",
    "/* client.isFeatureEnabled('block-comment', u) */",
    "const s = \"client.getVariant('in-string', u)\";",
    "const t = `client.getVariant('in-template', u) ${client.getVariant('in-substitution', u)}`;",
    "const r = /getVariant\\('in-regex'/.test(s);",
    "const v = client.getVariant('real-one', u); // getVariant('after')",
    "if (v === 'a' || v !== \"b\") {}",
    '',
  ].join('\n'),
  'a/nested.ts': [
    "const x = client.getVariant('outer', client.getVariant('inner', u));",
    "wrap(client.isFeatureEnabled('arg', u), 2);",
    "const y = client.getVariant(",
    "  'multi-line',",
    '  user,',
    ');',
    "if (y === 'on') {}",
    "const z = client.getVariant('esc\\'aped', u);",
    "const w = client.getVariant(\"it's\", u);",
    "const q = client.getVariant('with space', u);",
    "const e = client.getVariant('', u);",
    "const p = client.getVariant('trailing', u,);",
    "client.getVariant('direct', u) === 'blue';",
    '',
  ].join('\n'),
  'a/defs.ts': [
    'class C {',
    '  getVariant(key: string) { return key; }',
    "  x = this.getVariant('field-init');",
    '}',
    "function isEnabled(k) { return getVariant<string>('generic'); }",
    "const o = client?.getVariant('optional', u);",
    "switch (client.getVariant('sw', u)) { case 'a': break; }",
    '',
  ].join('\n'),
  'a/unicode.ts': [
    "const café = 'é'; const v = client.getVariant('après-ski', u); // ünïcode",
    "const 名前 = client.getVariant('name-flag', u); if (名前 === 'on') {}",
    "const emoji = '😀'; const k = client.getVariant('emoji-flag', u);",
    '',
  ].join('\n'),
  'a/jsx.tsx': "export const B = () => <p>Don't call getVariant('not-a-call')</p>;\nconst n = client.getVariant('tsx-flag', u);\n",
  'a/plain.js': "const a = client.getBooleanValue('js-flag', false);\nconst b = 10 / 2 / client.getNumberValue('num-flag', 0);\nexport default { f: getValue(`tpl-key`, 1) };\n",
  'b/strings.py': [
    '"""client.get_variant("docstring", u)"""',
    "x = '''",
    "client.get_variant('triple', u)",
    "'''",
    'y = f"{client.get_variant(\'fstring\', u)}"',
    'v = client.get_variant("py-flag", u)',
    'if v == "green" or v != \'red\':',
    '    pass',
    'w = client.get_variant(r"raw-key", u)',
    'z = client.get_variant(key="kw", user=u)',
    'a = client.get_variant("concat" "enated", u)',
    'b = client.get_value("lam", lambda a, b: a)',
    'c = client.get_value("chain", u) if v in ("a", "b") else None',
    '# client.get_variant("hash-comment", u)',
    '',
  ].join('\n'),
  // Escapes in keys: hex and Unicode escapes are read; other escapes, raw strings and templates are not keys.
  'c/escapes.ts': [
    'client.isEnabled("ts-escaped\\u002dkey");',
    "client.isEnabled('hex\\x2dkey');",
    "client.isEnabled('brace\\u{2d}key');",
    "client.isEnabled('new\\nline');",
    'client.isEnabled(`tpl\\u002dkey`);',
    "const v = client.getVariant('escaped-compare', u); if (v === 'bl\\u0075e') {}",
    '',
  ].join('\n'),
  'c/escapes.py': ['client.get_variant("py\\u002dkey", u)', 'client.get_variant(r"raw\\u002dkey", u)', 'client.get_variant("wide\\U0000002dkey", u)', ''].join('\n'),
  'c/escapes.go': ['package c', '', 'func f() {', '\tc.GetVariant("go\\x2dkey", u)', '\tc.GetVariant(`goraw\\x2dkey`, u)', '}', ''].join('\n'),
  'c/Escapes.java': ['class E {', '  void f() {', '    client.getVariant("java\\u002dkey", u);', '  }', '}', ''].join('\n'),
  // Keyword arguments: the key is the SDK's flag_key / experiment_key keyword, in any position, never another keyword's value.
  'b/kwargs.py': [
    'a = client.get_value(default="blue", flag_key="py-value-flag", user=u)',
    'b = client.is_feature_enabled(user={"id": "u1"}, flag_key="py-real-flag")',
    'c = client.get_variant(user=u, experiment_key="py-exp")',
    'd = client.is_feature_enabled(user=u, key="not-the-sdk-name")',
    'e = client.get_value("positional", u, default="green")',
    '',
  ].join('\n'),
  // Each comparison form alone beside its call: a fallback for one cannot hide another.
  'b/reversed.py': 'v = client.get_variant("py-reversed", u)\nif "pink" != v or "x" < v:\n    pass\n',
  'b/members.py': 'v = client.get_variant("py-members", u)\nif v in ("a", "b") or v in {"d"} or v in (1, 2):\n    pass\n',
  'b/match.py': 'v = client.get_variant("py-match", u)\nmatch v:\n    case "e" | "f":\n        pass\n',
  'b/names.py': 'match = client.get_variant("soft-keyword", u)\nm = re.match("x", match)\nfor x in ["g"]:\n    pass\n',
  'c/main.go': [
    'package main',
    '// c.GetVariant("comment", u)',
    'var raw = `c.GetVariant("raw-string", u)`',
    'func f() {',
    '\tv := c.GetVariant("go-flag", u)',
    '\tif v == "blue" {',
    '\t}',
    '\tw, err := c.GetVariant(`raw-key`, u)',
    '\tif w != "x" && err == nil {',
    '\t}',
    "\tr := 'x'",
    '\tb, _ := of.BooleanValue(ctx, "ctx-first", false, nil)',
    '\tswitch v { case "a", "b": }',
    '}',
    '',
  ].join('\n'),
  'd/App.java': [
    'class App {',
    '  // client.getVariant("comment", u)',
    '  String block = """',
    '    client.getVariant("text-block", u)',
    '    """;',
    '  void run() {',
    '    String v = client.getVariant("java-flag", u);',
    '    if ("green".equals(v) || v.equals("blue") || v == "red") {}',
    '    char c = \'x\';',
    '    client.getVariant("java-two", u).equals("x");',
    '    switch (v) { case "j1": break; case "j2", "j3": break; default: }',
    '    switch (client.getVariant("java-switch", u)) { case "j4" -> {} default -> {} }',
    '    Map<String, String> m = client.getValue("generic-arg", new HashMap<String, String>());',
    '  }',
    '}',
    '',
  ].join('\n'),
  'd/defaults.ts': [
    "client.getValue('d-bool', u, false); client.getValue('d-num', u, 10); client.getValue('d-neg', u, - 2.5);",
    "client.getValue('d-str', u, 'x'); client.getValue('d-tpl', u, `x`); client.getValue('d-sub', u, `x${y}`);",
    "client.getValue('d-obj', u, { a: 1, b: [2] }); client.getValue('d-arr', u, [1, 2]); client.getValue('d-member', u, { a: 1 }.a);",
    "client.getValue('d-null', u, null); client.getValue('d-undef', u, undefined); client.getValue('d-id', u, fallback);",
    "client.getValue('d-exp', u, 1e-5); client.getValue('d-dot', u, .5); client.getValue('d-hex', u, 0x1e); client.getValue('d-big', u, 1n);",
    "client.getValue('d-call', u, f(1)); client.getValue('d-as', u, 1 as number); client.getValue('d-paren', u, (1)); client.getValue('d-re', u, /x/);",
    "client.getValue('d-spread', ...rest, 1); client.getValue('d-short', u); client.evaluate('d-eval', u, true, { explain: true });",
    "client.getValue('d-trailing', u, 3,); client.getValue('d-minus', u, -x); client.getValue('d-not', u, !0);",
    "of.getBooleanValue('o-bool', true); of.getStringValue('o-str', 'a', ctx); of.getNumberDetails('o-num', -1); of.getObjectValue('o-obj', {});",
    "client.isFeatureEnabled('no-default', true); client.getVariant('no-default-2', u, 'x'); useFlag('wrapper', false);",
    'const very = client.getValue("d-long", u, "a string default far longer than forty characters in all");',
    "const multi = client.getValue('d-multi', u, {",
    '  a: 1,',
    '});',
    '',
  ].join('\n'),
  'd/defaults.py': [
    'client.get_value("p-bool", user, False); client.get_value("p-num", user, -3); client.get_value("p-str", user, "x")',
    'client.get_value("p-f", user, f"x{y}"); client.get_value("p-raw", user, r"x"); client.get_value("p-cat", user, "a" "b")',
    'client.get_value("p-none", user, None); client.get_value("p-true-lower", user, true); client.get_value("p-id", user, fallback)',
    'client.get_value("p-kw", user, default=True); client.get_value("p-kw2", user=u, default=1.5); client.evaluate("p-kw3", default=2, user=u)',
    'client.get_value("p-dict", user, {"a": 1}); client.get_value("p-list", user, [1]); client.get_value("p-set", user, {1})',
    'client.get_value("p-comp", user, [x for x in y]); client.get_value("p-tuple", user, (1, 2)); client.get_value("p-exp", user, 1e-5)',
    'client.get_value("p-splat", *args); client.get_value("p-splat2", user, *args); client.get_value("p-kwsplat", user, 3, **kw)',
    'client.get_value("p-userkw", user=u); client.get_value("p-cplx", user, 1j); client.get_value("p-not", user, not x)',
    'of.get_boolean_value("p-of", False); of.get_string_value("p-of2", default_value="x"); of.get_integer_value("p-of3", 3, ctx)',
    'client.get_value(flag_key="p-keykw", user=u, default=4)',
    'client.get_value("p-multi", user, """a',
    'b""")',
    '',
  ].join('\n'),
  'd/defaults.go': [
    'package d',
    '',
    'func f() {',
    '\tc.GetValue("g-bool", user, true)',
    '\tc.GetValue("g-num", user, -1)',
    '\tc.GetValue("g-str", user, "x")',
    '\tc.GetValue("g-raw", user, `x`)',
    "\tc.GetValue(\"g-rune\", user, 'x')",
    '\tc.GetValue("g-nil", user, nil)',
    '\tc.GetValue("g-map", user, map[string]any{"a": 1})',
    '\tc.GetValue("g-slice", user, []int{1})',
    '\tc.GetValue("g-struct", user, T{})',
    '\tc.GetValue("g-variadic", args...)',
    '\tc.GetValue("g-float", user, 1.5)',
    '\tc.GetValue("g-exp", user, 1e-5)',
    '\tc.GetValue("g-hexf", user, 0x1p-2)',
    '\tc.GetValue("g-imag", user, 1i)',
    '\tv, err := of.BooleanValue(ctx, "g-of", false, nil)',
    '\ts, err := of.StringValue(ctx, "g-of2", "x", nil)',
    '\tof.FloatValue("g-of3", 1.5, nil)',
    '}',
    '',
  ].join('\n'),
  'd/Defaults.java': [
    'class D {',
    '  void run() {',
    '    client.getValue("j-bool", u, true);',
    '    client.getValue("j-long", u, 10L);',
    '    client.getValue("j-neg", u, -1.5f);',
    "    client.getValue(\"j-char\", u, 'c');",
    '    client.getValue("j-null", u, null);',
    '    client.getValue("j-str", u, "x");',
    '    client.getBooleanValue("j-of", false);',
    '    client.getStringValue("j-of2", """',
    '      text""");',
    '  }',
    '}',
    '',
  ].join('\n'),
};

/** React hooks (xp's and OpenFeature's) and the experiment calls, with no wrapper configured: SDK calls with their own default positions. */
const HOOKS: Readonly<Record<string, string>> = {
  'h/hooks.ts': [
    "export function useNav() {",
    "  const on = useFlag('h-flag', false);",
    "  const n = useFlag('h-num', -2); const o = useFlag('h-obj', { a: 1 }); const s = useFlag('h-str', `x`);",
    "  const short = useFlag('h-short'); const spread = useFlag('h-spread', ...rest); const far = useFlag('h-far', u, 'x');",
    "  const details = useFlagDetails('h-details'); const d2 = useFlagDetails('h-details2', 10);",
    "  const enabled = useFeatureEnabled('h-enabled', true);",
    "  const v = useVariant('h-variant');",
    "  if (v === 'blue') { return 1; }",
    "  const e = useExperiment('h-experiment'); const r = client.getExperiment('h-get-experiment', user);",
    "  const b = useBooleanFlagValue('of-bool', true); const bd = useBooleanFlagDetails('of-bool-d', false);",
    "  const str = useStringFlagValue('of-str', 'a'); const sd = useStringFlagDetails('of-str-d', 'b');",
    "  const num = useNumberFlagValue('of-num', 1.5); const nd = useNumberFlagDetails('of-num-d', -1);",
    "  const obj = useObjectFlagValue('of-obj', {}); const od = useObjectFlagDetails('of-obj-d', []);",
    "  return [on, n, o, s, short, spread, far, details, d2, enabled, e, r, b, bd, str, sd, num, nd, obj, od];",
    '}',
    '',
  ].join('\n'),
  'h/Component.tsx': [
    "import { useFlag, useVariant } from '@xp/sdk/react';",
    'export function Nav() {',
    "  const compact = useFlag('h-tsx-flag', true);",
    "  const variant = useVariant('h-tsx-variant');",
    "  if (variant === 'green') { return null; }",
    "  return <nav>{compact ? useExperiment('h-jsx').variationKey : variant}</nav>;",
    '}',
    '',
  ].join('\n'),
  'h/experiments.py': [
    'def handler(client, user):',
    '    result = client.get_experiment("h-py-experiment", user)',
    '    kw = client.get_experiment(experiment_key="h-py-kw", user=user)',
    '    return result',
    '',
  ].join('\n'),
};

describe('lexical fast path', () => {
  it('finds exactly what tree-sitter finds on the fixtures', async () => {
    const files = Object.fromEntries(Object.entries(FIXTURE_FILES).filter(([rel]) => languageOf(rel) !== undefined));
    const stats = await compare(files);
    expect(stats.scanned + stats.parsed).toBeGreaterThan(0);
  });

  it('finds exactly what tree-sitter finds on adversarial sources', async () => {
    const whole = await compare(ADVERSARIAL);
    expect(whole.scanned).toBeGreaterThan(0);
    expect(whole.parsed).toBeGreaterThan(0);
    // Each adversarial file also alone, and each line alone, so one construct cannot hide behind another's fallback.
    for (const [rel, text] of Object.entries(ADVERSARIAL)) {
      const lines = text.split('\n');
      const single: Record<string, string> = {};
      lines.forEach((l, i) => {
        single[rel.replace(/(\.\w+)$/, `-${i}$1`)] = l;
      });
      await compare(single);
    }
  });

  it('finds exactly what tree-sitter finds on React hooks and experiment calls, file by file and line by line', async () => {
    const whole = await compare(HOOKS, []);
    expect(whole.scanned).toBeGreaterThan(0);
    for (const [rel, text] of Object.entries(HOOKS)) {
      const single: Record<string, string> = {};
      text.split('\n').forEach((l, i) => {
        single[rel.replace(/(\.\w+)$/, `-${i}$1`)] = l;
      });
      await compare(single, []);
    }
    // A configured wrapper of a hook's name stays the workspace's own function, in both paths.
    await compare(HOOKS, ['useFlag']);
  });

  it('reads a hook\'s default right after the key, where the hook takes it', () => {
    const read = (methods: MethodTable, text: string): unknown => scanReferences('typescript', '/x', text, methods)?.references.map((r) => [r.flagKey, r.kind, r.defaultValue?.text]);
    const text = "useFlag('a', false); useFlag('b', u, 'x'); useFlagDetails('c', 10); useFlagDetails('d'); useFeatureEnabled('e', true); useVariant('f', 'x'); useStringFlagValue('g', 'v'); useObjectFlagDetails('h', {});";
    expect(read(new MethodTable([]), text)).toEqual([
      ['a', 'value', 'false'],
      ['b', 'value', undefined],
      ['c', 'value', '10'],
      ['d', 'value', undefined],
      ['e', 'enabled', undefined],
      ['f', 'variant', undefined],
      ['g', 'string', "'v'"],
      ['h', 'object', '{}'],
    ]);
    expect(read(new MethodTable(['flags.useFlag']), "useFlag('a', false);")).toEqual([['a', 'wrapper', undefined]]);
    expect(read(new MethodTable([]), "client.getExperiment('x', user); client.getValue('y', user, 3);")).toEqual([
      ['x', 'variant', undefined],
      ['y', 'value', '3'],
    ]);
  });

  it('reads literal default arguments as the parse does, without parsing the common ones', () => {
    const methods = new MethodTable(['useFlag']);
    const read = (language: Language, text: string): unknown => scanReferences(language, '/x', text, methods)?.references.map((r) => [r.flagKey, r.defaultValue?.kind, r.defaultValue?.text]);
    expect(read('typescript', "client.getValue('a', u, false); client.getValue('b', u, -2); client.getStringValue('c', 'x'); client.getValue('d', u, { a: 1 }); client.getValue('e', u, fallback); client.isFeatureEnabled('f', true);")).toEqual([
      ['a', 'boolean', 'false'],
      ['b', 'number', '-2'],
      ['c', 'string', "'x'"],
      ['d', 'object', '{ a: 1 }'],
      ['e', undefined, undefined],
      ['f', undefined, undefined],
    ]);
    expect(read('python', 'client.get_value("a", user, default=True); client.get_value("b", user, None); of.get_float_value("c", 1.5)')).toEqual([
      ['a', 'boolean', 'True'],
      ['b', 'null', 'None'],
      ['c', 'number', '1.5'],
    ]);
    expect(read('go', 'package p\nfunc f() { c.GetValue("a", user, `raw`); c.GetValue("b", user, 3) }')).toEqual([
      ['a', 'string', '`raw`'],
      ['b', 'number', '3'],
    ]);
  });

  it('settles the bench shapes without parsing and agrees with tree-sitter on them', async () => {
    const stats = await compare(benchLike(300));
    expect(stats.parsed).toBe(0);
    expect(stats.scanned).toBe(300);
  });

  it('hands files it cannot settle to the parser', () => {
    const methods = new MethodTable([]);
    const cases: [Language, string][] = [
      ['typescript', 'const K = "k"; client.getVariant(K, u);'],
      ['typescript', "switch (v) { case 'a': } const v = client.getVariant('k', u);"],
      ['python', 'client.get_variant(key="k")'],
      ['go', 'of.BooleanValue(ctx, "k", false, nil)'],
      ['java', 'client.getVariant(Flags.NAV, u);'],
    ];
    for (const [lang, text] of cases) {
      expect({ text, scanned: scanReferences(lang, '/x', text, methods) }).toEqual({ text, scanned: undefined });
    }
    expect(scanReferences('typescript', '/x', "client.getVariant('k', u);", methods)?.references.map((r) => r.flagKey)).toEqual(['k']);
  });
});

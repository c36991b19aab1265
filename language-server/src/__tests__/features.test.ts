import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MarkupContent } from 'vscode-languageserver';
import type { ExperimentResultsSummary } from '@xp/shared';
import { experimentSchema, flagSchema } from '@xp/shared';
import type { FeatureContext } from '../features.js';
import { cleanupReplacement, codeActions, diagnostics, hover, keyCompletions, lensTitle, staleFlagVariation, variationCompletions } from '../features.js';
import type { FlagRecord, ProjectSnapshot } from '../flag-data.js';
import { EMPTY_SNAPSHOT, flagKeyRangeInFile, readCache, readFlagsFile, writeCache } from '../flag-data.js';
import type { FileIndex } from '../indexer/index.js';
import { WorkspaceIndex } from '../indexer/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');

const darkMode = flagSchema.parse({
  key: 'dark-mode',
  name: 'Dark mode',
  type: 'boolean',
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' } },
});
const checkout = flagSchema.parse({
  key: 'checkout',
  name: 'Checkout',
  type: 'string',
  variations: [
    { key: 'control', value: 'control' },
    { key: 'blue', value: 'blue' },
  ],
  environments: { production: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'checkout-exp' }] } },
});
const ctaExperiment = experimentSchema.parse({ key: 'cta-copy', name: 'CTA copy', status: 'running', startedAt: '2026-05-01T00:00:00Z', variations: [{ key: 'control' }, { key: 'buy-now' }] });
const checkoutExperiment = experimentSchema.parse({ key: 'checkout-exp', name: 'Checkout experiment', status: 'running', variations: [{ key: 'control' }, { key: 'blue' }] });

function results(key: string, comparison: Record<string, unknown>): ExperimentResultsSummary {
  return {
    experiment: { key, name: key, status: 'running', startedAt: null },
    environment: 'production',
    computedAt: NOW.toISOString(),
    units: { analysed: 2000, excluded: 0 },
    metrics: [
      {
        key: 'purchase',
        name: 'Purchase rate',
        role: 'primary',
        variations: [
          { variation: 'control', units: 1000, comparison: null },
          { variation: 'blue', units: 1000, comparison: { effect: 0.05, difference: 'relative', ci: [0.01, 0.09], pValue: 0.02, significant: false, chanceToWin: 0.97, error: null, ...comparison } as never },
        ],
      },
    ],
  };
}

function record(definition: typeof darkMode): FlagRecord {
  return { key: definition.key, definition, archived: false, version: 3, updatedAt: '2026-01-01T00:00:00Z', updatedBy: 'Ana' };
}

function context(overrides: Partial<ProjectSnapshot> = {}): FeatureContext {
  const given: ProjectSnapshot = { ...EMPTY_SNAPSHOT, project: 'shop', source: 'api', flags: [record(darkMode), record(checkout)], experiments: [ctaExperiment, checkoutExperiment], ...overrides };
  // The project's environments, as the API gives them: by default those its flags name.
  const snapshot: ProjectSnapshot = { environments: [...new Set(given.flags.flatMap((f) => Object.keys(f.definition.environments)))].sort(), ...given };
  return {
    snapshot,
    flags: new Map(snapshot.flags.map((f) => [f.key, f])),
    environment: 'production',
    consoleUrl: 'http://console.test',
    staleDays: 30,
    now: NOW,
    workspaceKeys: new Set(),
    canCreateFlags: true,
  };
}

async function indexOf(file: string, text: string): Promise<FileIndex> {
  return new WorkspaceIndex(path.dirname(file)).indexText(file, text);
}

describe('stale flag clean-up', () => {
  it('replaces value calls but not evaluate, which returns evaluation details', async () => {
    const ts = await indexOf(
      '/w/app.ts',
      ["const on = client.getValue('dark-mode', user, false);", "const details = client.evaluate('dark-mode', user, false);", 'if (details.value) { log(details.reason); }', ''].join('\n'),
    );
    const py = await indexOf('/w/app.py', ['r = client.evaluate("dark-mode", user, False)', 'v = client.get_value("dark-mode", user, False)', ''].join('\n'));
    const ctx = context();
    expect(ts.references.map((r) => cleanupReplacement(ctx, r))).toEqual(['true', undefined]);
    expect(py.references.map((r) => cleanupReplacement(ctx, r))).toEqual([undefined, 'True']);
  });

  it('replaces React hooks in a component body by the served value, but not those returning details or an experiment result, nor a call whose default the SDK would return', async () => {
    const lines = [
      'export function Nav() {',
      "  const compact = useFlag('dark-mode', false);",
      "  const wrong = useFlag('dark-mode', 'off');",
      "  const details = useFlagDetails('dark-mode', false);",
      "  const enabled = useFeatureEnabled('dark-mode');",
      "  const variant = useVariant('dark-mode');",
      "  const result = useExperiment('dark-mode');",
      "  const assigned = client.getExperiment('dark-mode', user);",
      "  const b = useBooleanFlagValue('dark-mode', false);",
      "  const bd = useBooleanFlagDetails('dark-mode', false);",
      "  const s = useStringFlagValue('dark-mode', 'light');",
      "  return <nav>{useFlag('dark-mode', false) && compact}</nav>;",
      '}',
      '',
    ];
    const text = lines.join('\n');
    const tsx = await indexOf('/w/Nav.tsx', text);
    const ctx = context();
    expect(tsx.references.map((r) => [r.method, cleanupReplacement(ctx, r)])).toEqual([
      ['useFlag', 'true'],
      // The SDK returns the default 'off' (TYPE_MISMATCH) for a flag serving booleans: no literal keeps that meaning but 'off' itself.
      ['useFlag', undefined],
      ['useFlagDetails', undefined],
      ['useFeatureEnabled', 'true'],
      // useVariant reads experiments only: for a flag's key the SDK returns null, not what the flag serves.
      ['useVariant', undefined],
      ['useExperiment', undefined],
      ['getExperiment', undefined],
      ['useBooleanFlagValue', 'true'],
      ['useBooleanFlagDetails', undefined],
      ['useStringFlagValue', undefined],
      ['useFlag', 'true'],
    ]);
    // The code action rewrites the hook call where it stands, in a declaration and inside JSX.
    const at = (line: number): unknown => codeActions(ctx, 'file:///w/Nav.tsx', tsx, { start: { line, character: 20 }, end: { line, character: 20 } }, [], text).map((a) => [a.title, a.edit?.changes?.['file:///w/Nav.tsx']]);
    expect(at(1)).toEqual([['Replace stale flag "dark-mode" with true', [{ range: { start: { line: 1, character: 18 }, end: { line: 1, character: 45 } }, newText: 'true' }]]]);
    expect(at(11)).toEqual([['Replace stale flag "dark-mode" with true', [{ range: { start: { line: 11, character: 15 }, end: { line: 11, character: 42 } }, newText: 'true' }]]]);
    expect(at(6)).toEqual([]);
    const py = await indexOf('/w/exp.py', ['r = client.get_experiment("dark-mode", user)', 'v = client.get_variant("dark-mode", user)', ''].join('\n'));
    expect(py.references.map((r) => [r.method, cleanupReplacement(ctx, r)])).toEqual([
      ['get_experiment', undefined],
      ['get_variant', undefined],
    ]);
  });

  it('keeps a number replacing a call in the expression it stood in', async () => {
    const maxItems = flagSchema.parse({
      key: 'max-items',
      name: 'Max items',
      type: 'number',
      variations: [
        { key: 'few', value: 5 },
        { key: 'minus', value: -2 },
      ],
      environments: { production: { enabled: true, defaultVariation: 'minus', offVariation: 'few' }, staging: { enabled: false, defaultVariation: 'few', offVariation: 'minus' } },
    });
    const text = ["const a = client.getValue('max-items', u, 0).toFixed(1);", "const b = x-client.getValue('max-items', u, 0);", "const c = client.getValue('max-items', u, 0);", ''].join('\n');
    const index = await indexOf('/w/n.ts', text);
    const edits = [0, 1, 2].map((line) => {
      const ctx = { ...context({ flags: [record(maxItems)] }), staleDays: 0 };
      const action = codeActions(ctx, 'file:///w/n.ts', index, { start: { line, character: 20 }, end: { line, character: 20 } }, [], text)[0]!;
      return action.edit!.changes!['file:///w/n.ts']![0]!.newText;
    });
    expect(edits).toEqual(['(-2)', '(-2)', '-2']);
  });

  it('keeps the meaning of the expression a literal replaces, or offers nothing where no literal can stand', async () => {
    const negative = flagSchema.parse({
      key: 'neg-num',
      name: 'Negative',
      type: 'number',
      variations: [
        { key: 'minus', value: -3 },
        { key: 'five', value: 5 },
      ],
      environments: { production: { enabled: true, defaultVariation: 'minus', offVariation: 'minus' } },
    });
    const five = flagSchema.parse({ ...negative, key: 'max-items', environments: { production: { enabled: true, defaultVariation: 'five', offVariation: 'five' } } });
    const promo = flagSchema.parse({ ...darkMode, key: 'legacy-promo' });
    const promoText = flagSchema.parse({ ...checkout, key: 'promo-text', environments: { production: { enabled: true, defaultVariation: 'blue', offVariation: 'blue' } } });
    const ctx = { ...context({ flags: [record(negative), record(five), record(promo), record(promoText)] }), staleDays: 0 };
    const replacements = async (file: string, lines: readonly string[]): Promise<(string | undefined)[]> => {
      const text = lines.join('\n');
      const index = await indexOf(file, text);
      const uri = `file://${file}`;
      return index.references.map((r) => {
        const action = codeActions(ctx, uri, index, { start: r.callRange.start, end: r.callRange.start }, [], text).find((a) => a.title.startsWith('Replace stale flag'));
        return action?.edit?.changes?.[uri]?.[0]?.newText;
      });
    };

    expect(
      await replacements('/w/neg.ts', [
        "const a = client.getValue('neg-num', u) ** 2;",
        "const b = client.getValue('neg-num', u);",
        "f(client.getValue('neg-num', u), 1);",
        "const c = !client.getValue('neg-num', u);",
        "const d = 2 ** client.getValue('neg-num', u) // comment",
        "const e = client.getValue('neg-num', u)",
        '  .toFixed(1);',
        "const g = client.getValue('max-items', u).toFixed(1) + client.getValue('max-items', u);",
        "const [h, i] = client.getValue('neg-num', u);",
        '',
      ]),
    ).toEqual(['(-3)', '-3', '-3', '(-3)', '(-3)', '(-3)', '(5)', '5', undefined]);
    expect(
      await replacements('/w/neg.py', [
        'a = client.get_value("neg-num", u) ** 2',
        'b = client.get_value("neg-num", u)  # comment',
        'c = 2 ** client.get_value("neg-num", u)',
        'd, e = client.get_value("neg-num", u)',
        '',
      ]),
    ).toEqual(['(-3)', '-3', '(-3)', undefined]);
    expect(
      await replacements('/w/A.java', [
        'class A {',
        '  void f(Client client, User u) {',
        '    int n = client.getValue("max-items", u).intValue();',
        '    String s = client.getValue("promo-text", u).trim();',
        '    int m = -client.getValue("neg-num", u);',
        '    Map<String, Integer> g = client.getValue("neg-num", u);',
        '  }',
        '}',
        '',
      ]),
    ).toEqual([undefined, '"blue"', '(-3)', '-3']);
    expect(
      await replacements('/w/main.go', [
        'package main',
        'func f() {',
        '\tv, err := c.IsFeatureEnabled("legacy-promo", u)',
        '\tw := c.IsFeatureEnabled("legacy-promo", u)',
        '\tif x, ok := c.IsFeatureEnabled("legacy-promo", u); ok {',
        '\t}',
        '\tl := c.IsFeatureEnabled("legacy-promo", u).Len',
        '}',
        '',
      ]),
    ).toEqual([undefined, 'true', undefined, undefined]);
  });

  it('offers no clean-up while environments serve different variations: replacing the call would change one of them', async () => {
    const rolledOutInProduction = flagSchema.parse({
      ...darkMode,
      environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' }, staging: { enabled: false, defaultVariation: 'on', offVariation: 'off' } },
    });
    const text = "if (client.isFeatureEnabled('dark-mode', user)) { show(); }\n";
    const index = await indexOf('/w/d.ts', text);
    const ctx = context({ flags: [record(rolledOutInProduction)] });
    expect(cleanupReplacement(ctx, index.references[0]!)).toBeUndefined();
    expect(diagnostics(ctx, index).filter((d) => d.code === 'stale-flag')).toEqual([]);
    // With the environments agreeing (staging on too), the same call is stale, everywhere.
    const agreed = context({ flags: [record(flagSchema.parse({ ...rolledOutInProduction, environments: { ...rolledOutInProduction.environments, staging: { enabled: true, defaultVariation: 'on', offVariation: 'off' } } }))] });
    expect(cleanupReplacement(agreed, index.references[0]!)).toBe('true');
    expect(diagnostics(agreed, index).find((d) => d.code === 'stale-flag')?.message).toBe('Flag "dark-mode" has served "on" to everyone in every environment and not changed for over 30 days; consider removing it.');
  });

  it('judges an experiment rule by its experiment: a released winner is stale, a running experiment never, even with the flag off', async () => {
    const text = "const v = client.getValue('checkout', user, 'control');\n";
    const index = await indexOf('/w/c.ts', text);
    const stale = (experiments: ProjectSnapshot['experiments'], definition = checkout): string | undefined => {
      const ctx = context({ flags: [record(definition)], experiments, experimentsUpdatedAt: { 'checkout-exp': '2026-02-01T00:00:00Z' } });
      expect(diagnostics(ctx, index).some((d) => d.code === 'stale-flag')).toBe(cleanupReplacement(ctx, index.references[0]!) !== undefined);
      return cleanupReplacement(ctx, index.references[0]!);
    };
    // Stopped in February with "blue" released to everyone (and archived since).
    const shipped = experimentSchema.parse({ ...checkoutExperiment, status: 'stopped', stoppedAt: '2026-02-01T00:00:00Z', winner: 'blue', releaseWinner: true, archived: true });
    expect(stale([shipped])).toBe("'blue'");
    expect(stale([checkoutExperiment])).toBeUndefined();
    // Off everywhere but wired to the running experiment: no "replace the call".
    const off = flagSchema.parse({ ...checkout, environments: { production: { ...checkout.environments.production!, enabled: false } } });
    expect(stale([checkoutExperiment], off)).toBeUndefined();
    expect(stale([shipped], off)).toBe("'control'");
    // Not among the snapshot's experiments: unknown, so not stale.
    expect(stale([], off)).toBeUndefined();
  });

  it("restarts the clock when an ended experiment changes (shipped long after its stop), and without its change time calls nothing stale", async () => {
    const index = await indexOf('/w/c.ts', "const v = client.getValue('checkout', user, 'control');\n");
    // Stopped in February, its winner released yesterday.
    const shipped = experimentSchema.parse({ ...checkoutExperiment, status: 'stopped', stoppedAt: '2026-02-01T00:00:00Z', winner: 'blue', releaseWinner: true });
    const withChange = (experimentsUpdatedAt: ProjectSnapshot['experimentsUpdatedAt']): FeatureContext =>
      context({ flags: [record(checkout)], experiments: [shipped], ...(experimentsUpdatedAt === undefined ? {} : { experimentsUpdatedAt }) });

    expect(cleanupReplacement(withChange({ 'checkout-exp': new Date(NOW.getTime() - 86_400_000).toISOString() }), index.references[0]!)).toBeUndefined();
    expect(cleanupReplacement(withChange(undefined), index.references[0]!)).toBeUndefined();
    expect(cleanupReplacement(withChange({ 'checkout-exp': '2026-02-01T00:00:00Z' }), index.references[0]!)).toBe("'blue'");
  });

  it('calls no flag stale without the project environments (their fetch failed, or an older cache): one it has no state in may serve otherwise', async () => {
    const index = await indexOf('/w/d.ts', "if (client.isFeatureEnabled('dark-mode', user)) { show(); }\n");
    const known = context({ flags: [record(darkMode)], environments: ['production'] });
    const { environments: _unknown, ...withoutEnvironments } = known.snapshot;
    const unknown = { ...known, snapshot: withoutEnvironments };

    expect(cleanupReplacement(known, index.references[0]!)).toBe('true');
    expect(cleanupReplacement(unknown, index.references[0]!)).toBeUndefined();
    expect(diagnostics(unknown, index).filter((d) => d.code === 'stale-flag')).toEqual([]);
    expect(staleFlagVariation(unknown, 'dark-mode')).toBeUndefined();
  });

  it('starts the stale clock at the last change to what the flag serves, not at a tag or description edit', async () => {
    const index = await indexOf('/w/d.ts', "if (client.isFeatureEnabled('dark-mode', user)) { show(); }\n");
    const tagged: FlagRecord = { ...record(darkMode), updatedAt: new Date(NOW.getTime() - 86_400_000).toISOString(), servingChangedAt: '2026-01-01T00:00:00Z' };
    expect(cleanupReplacement(context({ flags: [tagged] }), index.references[0]!)).toBe('true');
    // Caches and servers without it: updatedAt, as before.
    expect(cleanupReplacement(context({ flags: [{ ...tagged, servingChangedAt: null }] }), index.references[0]!)).toBeUndefined();
  });
});

describe('type mismatches', () => {
  const limit = flagSchema.parse({
    key: 'checkout-limit',
    name: 'Checkout limit',
    type: 'number',
    variations: [
      { key: 'ten', value: 10 },
      { key: 'many', value: 25 },
    ],
    environments: { production: { enabled: true, defaultVariation: 'many', offVariation: 'ten' } },
  });
  const theme = flagSchema.parse({
    key: 'theme-config',
    name: 'Theme config',
    type: 'json',
    variations: [
      { key: 'light', value: { dark: false } },
      { key: 'dark', value: { dark: true } },
    ],
    environments: { production: { enabled: false, defaultVariation: 'dark', offVariation: 'light' } },
  });
  const fraction = flagSchema.parse({
    key: 'fraction',
    name: 'Fraction',
    type: 'number',
    variations: [
      { key: 'half', value: 2.5 },
      { key: 'more', value: 7 },
    ],
    environments: { production: { enabled: true, defaultVariation: 'more', offVariation: 'half' } },
  });
  const controlText = flagSchema.parse({
    key: 'cr-text',
    name: 'Text with a carriage return',
    type: 'string',
    variations: [
      { key: 'cr', value: 'a\rb' },
      { key: 'plain', value: 'ab' },
    ],
    environments: { production: { enabled: true, defaultVariation: 'plain', offVariation: 'cr' } },
  });
  const ctx = (): FeatureContext => context({ flags: [record(darkMode), record(checkout), record(limit), record(theme), record(fraction), record(controlText)] });
  /** The xp diagnostics of a file's code as `code: message @line`. */
  const reported = async (file: string, lines: readonly string[]): Promise<string[]> => {
    const index = await indexOf(file, lines.join('\n'));
    // (The flags here are stale as well: that diagnostic is another test's.)
    return diagnostics(ctx(), index)
      .filter((d) => d.code !== 'stale-flag')
      .map((d) => `${String(d.code)}: ${typeof d.message === 'string' ? d.message : d.message.value} @${d.range.start.line}`);
  };
  /** The quick fixes offered for the wrong default on `line`: title and edit. */
  const fixes = async (file: string, lines: readonly string[], line: number): Promise<string[]> => {
    const text = lines.join('\n');
    const index = await indexOf(file, text);
    const uri = `file://${file}`;
    const diags = diagnostics(ctx(), index).filter((d) => d.code === 'wrong-default-type' && d.range.start.line === line);
    expect(diags).toHaveLength(1);
    const quickFixes = codeActions(ctx(), uri, index, diags[0]!.range, diags, text).filter((a) => a.kind === 'quickfix');
    return quickFixes.map((a) => {
      const edit = a.edit!.changes![uri]![0]!;
      return `${a.title} → ${JSON.stringify(text.split('\n')[edit.range.start.line]!.slice(edit.range.start.character, edit.range.end.character))} := ${edit.newText}`;
    });
  };

  it('warns when an OpenFeature string, number or object call names a flag of another type', async () => {
    expect(
      await reported('/w/of.ts', [
        "openfeature.getStringValue('checkout-limit', 'x');",
        "openfeature.getNumberValue('checkout-limit', 5);",
        "openfeature.getObjectValue('checkout', {});",
        "openfeature.getObjectValue('theme-config', {});",
        "openfeature.getStringDetails('checkout', 'blue');",
        "openfeature.getBooleanValue('checkout-limit', false);",
        '',
      ]),
    ).toEqual([
      'wrong-type: getStringValue expects a string flag, but "checkout-limit" is a number flag. @0',
      'wrong-type: getObjectValue expects a json flag, but "checkout" is a string flag. @2',
      // A boolean call keeps its own check, and its default is not reported on top of it.
      'not-boolean: getBooleanValue expects a boolean flag, but "checkout-limit" is a number flag. @5',
    ]);
    expect(await reported('/w/of.py', ['of.get_float_value("checkout", 1.5)', 'of.get_string_value("checkout", "x")', ''])).toEqual([
      'wrong-type: get_float_value expects a number flag, but "checkout" is a string flag. @0',
    ]);
    expect(await reported('/w/of.go', ['package p', 'func f() {', '\tv, err := of.IntValue(ctx, "theme-config", 1, nil)', '}', ''])).toEqual([
      'wrong-type: IntValue expects a number flag, but "theme-config" is a json flag. @2',
    ]);
  });

  it('warns about a literal default of another type than the flag serves, in TypeScript, Python and Go', async () => {
    expect(
      await reported('/w/d.ts', [
        "client.getValue('checkout-limit', user, false);",
        "client.getValue('checkout-limit', user, 5);",
        "client.getValue('checkout-limit', user, fallback);",
        "client.getValue('checkout-limit', user, null);",
        "client.getValue('theme-config', user, { dark: true });",
        "client.getValue('theme-config', user, 'dark');",
        "openfeature.getNumberValue('checkout-limit', '10');",
        "client.isFeatureEnabled('dark-mode', user);",
        '',
      ]),
    ).toEqual([
      'wrong-default-type: The default false is a boolean, but "checkout-limit" serves numbers (e.g. 10). @0',
      'wrong-default-type: The default \'dark\' is a string, but "theme-config" serves objects (e.g. {"dark":false}). @5',
      'wrong-default-type: The default \'10\' is a string, but "checkout-limit" serves numbers (e.g. 10). @6',
    ]);
    expect(
      await reported('/w/d.py', [
        'client.get_value("checkout-limit", user, False)',
        'client.get_value("checkout", user, default=3)',
        'client.get_value("checkout-limit", user, 3)',
        'client.get_value("checkout-limit", user, limit)',
        'client.get_value("theme-config", user, {"dark": True})',
        'client.evaluate("checkout-limit", user)',
        '',
      ]),
    ).toEqual([
      'wrong-default-type: The default False is a boolean, but "checkout-limit" serves numbers (e.g. 10). @0',
      'wrong-default-type: The default 3 is a number, but "checkout" serves strings (e.g. "control"). @1',
    ]);
    expect(
      await reported('/w/d.go', [
        'package p',
        'func f() {',
        '\tn := c.GetValue("checkout-limit", user, "ten")',
        '\tb, err := of.IntValue(ctx, "checkout-limit", true, nil)',
        '\tm, err := of.IntValue(ctx, "checkout-limit", 3, nil)',
        '\tt := c.GetValue("theme-config", user, map[string]any{"dark": true})',
        '\tl := c.GetValue("checkout-limit", user, limit)',
        '}',
        '',
      ]),
    ).toEqual([
      'wrong-default-type: The default "ten" is a string, but "checkout-limit" serves numbers (e.g. 10). @2',
      'wrong-default-type: The default true is a boolean, but "checkout-limit" serves numbers (e.g. 10). @3',
    ]);
  });

  it('offers to change a wrong default to the value the flag serves when off, written in the file’s language', async () => {
    expect(await fixes('/w/f.ts', ["const n = client.getValue('checkout-limit', user, false);", ''], 0)).toEqual(['Change default to 10 → "false" := 10']);
    expect(await fixes('/w/f.py', ['n = client.get_value("dark-mode", user, default="on")', ''], 0)).toEqual(['Change default to False → "\\"on\\"" := False']);
    expect(await fixes('/w/f.go', ['package p', 'func f() {', '\ts := c.GetValue("checkout", user, 0)', '}', ''], 2)).toEqual(['Change default to "control" → "0" := "control"']);
    // An object cannot be written as a literal here: no fix.
    expect(await fixes('/w/f.ts', ["const t = client.getValue('theme-config', user, 'dark');", ''], 0)).toEqual([]);
  });

  it('writes a default that fits the call’s type, and none a literal cannot hold', async () => {
    // Java's getDoubleValue takes a Double (an int literal does not convert); integer calls take no fraction.
    expect(await fixes('/w/F.java', ['class F { void f() { Double d = of.getDoubleValue("checkout-limit", "x"); } }', ''], 0)).toEqual(['Change default to 10.0 → "\\"x\\"" := 10.0']);
    expect(await fixes('/w/F.java', ['class F { void f() { Integer i = of.getIntegerValue("checkout-limit", "x"); } }', ''], 0)).toEqual(['Change default to 10 → "\\"x\\"" := 10']);
    expect(await fixes('/w/F.java', ['class F { void f() { Integer i = of.getIntegerValue("fraction", "x"); } }', ''], 0)).toEqual([]);
    expect(await fixes('/w/f.go', ['package p', 'func f() {', '\ti, _ := of.IntValue(ctx, "fraction", "x", ec)', '}', ''], 2)).toEqual([]);
    expect(await fixes('/w/f.go', ['package p', 'func f() {', '\tv, _ := of.FloatValue(ctx, "fraction", "x", ec)', '}', ''], 2)).toEqual(['Change default to 2.5 → "\\"x\\"" := 2.5']);
    // A carriage return cannot stand in a plain string literal.
    expect(await fixes('/w/f.ts', ["const t = client.getValue('cr-text', user, 5);", ''], 0)).toEqual([]);
    expect(await fixes('/w/f.py', ['t = client.get_value("cr-text", user, 5)', ''], 0)).toEqual([]);
  });
});

describe('compared variations', () => {
  it('reports an unknown variation once when another call of the flag is assigned to a variable', async () => {
    const text = ["const a = client.getValue('checkout', u, 'control') === 'bleu';", "const w = client.getValue('checkout', u, 'control');", ''].join('\n');
    const index = await indexOf('/w/twice.ts', text);
    const found = diagnostics(context(), index).filter((d) => d.code === 'unknown-variation');
    expect(found.map((d) => [d.range.start, d.message])).toEqual([[{ line: 0, character: 57 }, 'Flag "checkout" has no variation "bleu" (it has "control", "blue").']]);
    const fixes = codeActions(context(), 'file:///w/twice.ts', index, found[0]!.range, found, text).filter((a) => a.title === 'Change to "blue"');
    expect(fixes).toHaveLength(1);
  });
});

describe('definitions in the flags file', () => {
  it("finds a flag's key, never a variation named like it, and a standalone experiment's key", () => {
    const text = [
      'xp: 1',
      'project: shop',
      // As `xp export` writes it: experiments before flags.
      'experiments:',
      '  - key: cta-copy',
      '    name: CTA copy',
      'flags:',
      '  - key: theme',
      '    variations:',
      '      - key: blue',
      '        value: blue',
      '  - key: blue',
      '    variations:',
      '      - key: "on"',
      '        value: true',
      '',
    ].join('\n');
    expect(flagKeyRangeInFile(text, 'blue')?.start.line).toBe(10);
    expect(flagKeyRangeInFile(text, 'cta-copy')?.start.line).toBe(3);
    expect(flagKeyRangeInFile(text, 'nope')).toBeUndefined();
    expect(flagKeyRangeInFile(JSON.stringify({ flags: [{ key: 'a' }, { key: 'b' }] }, null, 2), 'b')?.start.line).toBe(6);
    // The key's own text, without quotes, for go to definition; also in a file that does not parse.
    expect(flagKeyRangeInFile(text, 'blue')).toEqual({ start: { line: 10, character: 9 }, end: { line: 10, character: 13 } });
    expect(flagKeyRangeInFile(JSON.stringify({ flags: [{ key: 'a' }, { key: 'b' }] }, null, 2), 'b')).toEqual({ start: { line: 6, character: 14 }, end: { line: 6, character: 15 } });
    expect(flagKeyRangeInFile('flags:\n  - key: "x-1"\n  - key: [\n', 'x-1')).toEqual({ start: { line: 1, character: 10 }, end: { line: 1, character: 13 } });
  });
});

describe('did you mean', () => {
  const boolFlag = (key: string): typeof darkMode => flagSchema.parse({ ...darkMode, key, name: key });
  const stringFlag = (key: string): typeof darkMode => flagSchema.parse({ ...checkout, key, name: key, environments: {} });
  const archived = (definition: typeof darkMode): FlagRecord => ({ ...record(definition), archived: true });
  const suggested = async (ctx: FeatureContext, text: string): Promise<string[]> =>
    diagnostics(ctx, await indexOf('/w/typo.ts', text))
      .filter((d) => d.code === 'unknown-flag')
      .map((d) => (d.data as { suggestion?: string }).suggestion ?? '-');

  it('names an active flag before an archived one as close, and the archived one when no other is close', async () => {
    const ctx = context({ flags: [archived(boolFlag('search-v2')), record(boolFlag('search-v4'))] });
    expect(await suggested(ctx, "client.isFeatureEnabled('search-v3', u);\n")).toEqual(['search-v4']);
    const onlyArchived = context({ flags: [archived(boolFlag('search-v2')), record(boolFlag('dark-mode'))] });
    expect(await suggested(onlyArchived, "client.isFeatureEnabled('search-v3', u);\n")).toEqual(['search-v2']);
  });

  it('names a flag of the type the call expects before one of another type, when the call says, and another type when none fits', async () => {
    const ctx = context({ flags: [record(stringFlag('checkout-v2')), record(boolFlag('checkout-v3'))] });
    const text = ["client.isFeatureEnabled('checkout-v1', u);", "client.getStringValue('checkout-v1', 'x');", "client.getVariant('checkout-v1', u);", ''].join('\n');
    // getVariant takes an experiment's key: no flag is named (it would return null for one).
    expect(await suggested(ctx, text)).toEqual(['checkout-v3', 'checkout-v2', '-']);
    const noBoolean = context({ flags: [record(stringFlag('checkout-v2'))] });
    expect(await suggested(noBoolean, "client.isFeatureEnabled('chekout-v2', u);\n")).toEqual(['checkout-v2']);
  });

  it('offers the typo fix to a client that does not send the diagnostic\'s data back', async () => {
    const text = "client.isFeatureEnabled('dark-mod', u);\n";
    const index = await indexOf('/w/nodata.ts', text);
    const [found] = diagnostics(context(), index).filter((d) => d.code === 'unknown-flag');
    const { data: _dropped, ...withoutData } = found!;
    const actions = codeActions(context(), 'file:///w/nodata.ts', index, withoutData.range, [withoutData], text);
    expect(actions.map((a) => [a.title, a.edit?.changes?.['file:///w/nodata.ts']?.[0]?.newText])).toEqual([
      ['Change to "dark-mode"', 'dark-mode'],
      ['Create flag "dark-mod" in shop', undefined],
    ]);
  });
});

describe('creating a missing flag', () => {
  it('is offered only for a key the API takes', async () => {
    const long = `k${'x'.repeat(128)}`;
    const text = [`client.isEnabled('not-yet', u);`, `client.isEnabled('${long}', u);`, ''].join('\n');
    const index = await indexOf('/w/create.ts', text);
    const found = diagnostics(context(), index).filter((d) => d.code === 'unknown-flag');
    expect(found).toHaveLength(2);
    const creates = (line: number): string[] =>
      codeActions(context(), 'file:///w/create.ts', index, found[line]!.range, [found[line]!], text)
        .filter((a) => a.title.startsWith('Create flag'))
        .map((a) => a.title);
    expect(creates(0)).toEqual(['Create flag "not-yet" in shop']);
    // Longer than the API's 128 characters.
    expect(creates(1)).toEqual([]);
  });
});

describe('experiment results in hovers', () => {
  it('gives the p-value that decides significance: the adjusted one', async () => {
    const ts = await indexOf('/w/checkout.ts', "const v = client.getValue('checkout', user, 'control');\n");
    const ctx = context({ results: { 'checkout-exp': results('checkout-exp', { adjustedPValue: 0.06 }) } });
    const text = (hover(ctx, ts.references[0]!).contents as MarkupContent).value;
    expect(text).toContain('Purchase rate +5.0% ±4.0 for `blue`, p = 0.060, not significant, chance to win 97%');
  });

  it('gives the interval that agrees with significance: the corrected one', async () => {
    const ts = await indexOf('/w/checkout.ts', "const v = client.getValue('checkout', user, 'control');\n");
    const ctx = context({ results: { 'checkout-exp': results('checkout-exp', { adjustedPValue: 0.06, adjustedCi: [-0.01, 0.11] }) } });
    const text = (hover(ctx, ts.references[0]!).contents as MarkupContent).value;
    expect(text).toContain('Purchase rate +5.0% ±6.0 for `blue`, p = 0.060, not significant');
  });
});

describe('getVariant of a standalone experiment', () => {
  const source = ["const v = client.getVariant('cta-copy', user);", "if (v === 'buy-nwo') { buy(); }", "const w = client.getVariant('cta-coppy', user);", ''].join('\n');

  it('is not an unknown flag; its compared variations are the experiment’s', async () => {
    const index = await indexOf('/w/cta.ts', source);
    const ctx = context();
    expect(diagnostics(ctx, index).map((d) => [d.code, d.message, d.data])).toEqual([
      ['unknown-variation', 'Experiment "cta-copy" has no variation "buy-nwo" (it has "control", "buy-now").', { flagKey: 'cta-copy', suggestion: 'buy-now' }],
      ['unknown-flag', 'Unknown experiment "cta-coppy". Did you mean "cta-copy"?', { flagKey: 'cta-coppy', suggestion: 'cta-copy' }],
    ]);
    // The typo fix, and no flag to create: getVariant would return null for it too.
    const typo = diagnostics(ctx, index).find((d) => d.code === 'unknown-flag')!;
    const actions = codeActions(ctx, 'file:///w/cta.ts', index, typo.range, [typo], source);
    expect(actions.map((a) => [a.title, a.edit?.changes?.['file:///w/cta.ts']?.[0]?.newText])).toEqual([['Change to "cta-copy"', 'cta-copy']]);
    expect(lensTitle(ctx, index.references[1]!)).toBe('● cta-coppy · unknown experiment');
    expect((hover(ctx, index.references[1]!).contents as MarkupContent).value).toContain('_Not an experiment of this project._');
    const compared = index.references[0]!.compared[0]!;
    expect(variationCompletions(ctx, index.references[0]!, compared.range).map((c) => c.label)).toEqual(['control', 'buy-now']);
  });

  it('hovers and lenses the experiment with its current result', async () => {
    const index = await indexOf('/w/cta.ts', source);
    const ctx = context({ results: { 'cta-copy': results('cta-copy', { adjustedPValue: 0.01, significant: true }) } });
    const ref = index.references[0]!;
    const text = (hover(ctx, ref).contents as MarkupContent).value;
    expect(text).toContain('**CTA copy** `cta-copy` · experiment · running');
    expect(text).toContain('Variations: `control`, `buy-now`');
    expect(text).toContain('Running since 2026-05-01: Purchase rate +5.0% ±4.0 for `blue`, p = 0.010, significant');
    expect(text).toContain('[Open in console](http://console.test/?project=shop#/experiments/cta-copy)');
    expect(lensTitle(ctx, ref)).toBe('● cta-copy · experiment running · +5.0% ±4.0');
  });

  it('completes experiment keys in getVariant calls, and only there, while typing too', () => {
    const ctx = context();
    const slot = { start: { line: 0, character: 28 }, end: { line: 0, character: 28 } };
    const labels = (kind?: 'variant' | 'value'): string[] => keyCompletions(ctx, slot, kind).map((c) => c.label);
    const index = new WorkspaceIndex('/w');
    const typing = index.typingSlot("const v = client.getVariant('cta", 32);
    const typingValue = index.typingSlot("const v = client.getValue('cta", 30);

    expect(labels('variant')).toContain('cta-copy');
    // A flag's key is no key for getVariant: the SDK returns null for it.
    expect(labels('variant')).not.toContain('dark-mode');
    expect(labels('value')).not.toContain('cta-copy');
    expect(typing).toMatchObject({ start: 29, end: 32, kind: 'variant' });
    expect(typingValue?.kind).not.toBe('variant');
    // The hooks and getExperiment too, with and without a closing quote (auto-pairing editors).
    expect(index.typingSlot("  const v = useVariant('cta", 27)).toMatchObject({ start: 24, end: 27, kind: 'variant' });
    expect(index.typingSlot("  const r = useExperiment('cta')", 30)).toMatchObject({ start: 27, end: 30, kind: 'variant' });
    expect(index.typingSlot("client.getExperiment('", 22)).toMatchObject({ start: 22, end: 22, kind: 'variant' });
    expect(index.typingSlot('r = client.get_experiment(experiment_key="ct', 44)).toMatchObject({ start: 42, end: 44, kind: 'variant' });
    expect(index.typingSlot("  const on = useFlag('da", 24)).toMatchObject({ start: 22, end: 24, kind: 'value' });
    expect(index.typingSlot("  const on = useBooleanFlagValue('da", 36)).toMatchObject({ start: 34, end: 36, kind: 'boolean' });
    // An experiment of a flag's key is offered, as the experiment, once (and the flag in a value call).
    const shared = context({ experiments: [experimentSchema.parse({ key: 'dark-mode', name: 'Same key', variations: [{ key: 'a' }, { key: 'b' }] })] });
    expect(keyCompletions(shared, slot, 'variant').filter((c) => c.label === 'dark-mode').map((c) => c.detail)).toEqual(['Same key · experiment draft']);
    expect(keyCompletions(shared, slot, 'value').filter((c) => c.label === 'dark-mode').map((c) => c.detail)).toEqual(['Dark mode · boolean · production ON']);
  });

  it("finds the key being typed after Python's key keyword, as auto-pairing editors leave it too", () => {
    const index = new WorkspaceIndex('/w');

    expect(index.typingSlot('v = client.get_value(flag_key="che', 34)).toMatchObject({ start: 31, end: 34, kind: 'value' });
    expect(index.typingSlot('v = client.get_value(flag_key="", user=u)', 31)).toMatchObject({ start: 31, end: 31, kind: 'value' });
    expect(index.typingSlot("v = client.get_variant(experiment_key = 'cta", 44)).toMatchObject({ start: 41, end: 44, kind: 'variant' });
    // Another keyword's value is not the key.
    expect(index.typingSlot('v = client.get_value(default="bl', 32)).toBeUndefined();
  });

  it('offers the keys the code uses only without flag data: with it, they are typos or experiments the diagnostics name', () => {
    const slot = { start: { line: 0, character: 28 }, end: { line: 0, character: 28 } };
    const workspaceKeys = new Set(['dark-mode', 'drak-mode', 'cta-copy']);
    const withData = { ...context(), workspaceKeys };
    const labels = (ctx: FeatureContext, kind?: 'variant' | 'value'): string[] => keyCompletions(ctx, slot, kind).map((c) => c.label);
    expect(labels(withData, 'value')).toEqual(['dark-mode', 'checkout']);
    expect(labels(withData, 'variant')).toEqual(['cta-copy', 'checkout-exp']);
    const offline = { ...context({ source: 'none', flags: [], experiments: [] }), flags: new Map(), workspaceKeys };
    expect(keyCompletions(offline, slot, 'value').map((c) => `${c.label} ${c.detail ?? ''}`)).toEqual(['dark-mode referenced in this workspace', 'drak-mode referenced in this workspace', 'cta-copy referenced in this workspace']);
  });

  it('says when a flag is server-side only', async () => {
    const index = await indexOf('/w/dark.ts', "const v = client.getVariant('dark-mode', user);\n");
    const serverOnly = context({ flags: [record({ ...darkMode, clientSide: false })] });

    expect((hover(serverOnly, index.references[0]!).contents as MarkupContent).value).toContain('**Dark mode** `dark-mode` · boolean · server-side only');
    expect((hover(serverOnly, index.references[0]!).contents as MarkupContent).value).toContain('client-side SDK keys (browsers, apps) do not get this flag');
    expect((hover(context(), index.references[0]!).contents as MarkupContent).value).not.toContain('server-side only');
  });

  it('says what a flag serves where it has no state, instead of an empty table', async () => {
    const index = await indexOf('/w/dark.ts', "const v = client.getVariant('dark-mode', user);\n");
    const nowhere = context({ flags: [record({ ...darkMode, environments: {} })] });
    const elsewhere = context({ flags: [record({ ...darkMode, environments: { staging: darkMode.environments.production! } })] });

    const text = (ctx: FeatureContext): string => (hover(ctx, index.references[0]!).contents as MarkupContent).value;
    expect(text(nowhere)).toContain('_Not set up in any environment yet: off everywhere, serving `off`._');
    expect(text(nowhere)).not.toContain('| environment |');
    expect(text(elsewhere)).toContain('| staging |');
    expect(text(elsewhere)).toContain('_Not set up in **production**: off there, serving `off`._');
    expect(text(context())).not.toContain('Not set up');
  });

  it('takes a key that is a flag\'s and an experiment\'s for the experiment, as the SDK does', async () => {
    const index = await indexOf('/w/dark.ts', "const v = client.getVariant('dark-mode', user);\nif (v === 'on') {}\n");
    const ctx = context({ experiments: [experimentSchema.parse({ key: 'dark-mode', name: 'Same key', variations: [{ key: 'a' }, { key: 'b' }] })] });
    const ref = index.references[0]!;
    expect((hover(ctx, ref).contents as MarkupContent).value).toContain('**Same key** `dark-mode` · experiment');
    expect(lensTitle(ctx, ref)).toBe('● dark-mode · experiment draft');
    expect(diagnostics(ctx, index).map((d) => d.message)).toEqual(['Experiment "dark-mode" has no variation "on" (it has "a", "b").']);
    expect(variationCompletions(ctx, ref, ref.compared[0]!.range).map((c) => c.label)).toEqual(['a', 'b']);
  });
});

describe('getVariant of a flag', () => {
  const source = ["const v = client.getVariant('dark-mode', user);", "if (v === 'on') { show(); }", "const c = client.getVariant('cta-copy', user);", "const e = client.getVariant('checkout-exp', user);", ''].join('\n');
  const reported = (ctx: FeatureContext, index: FileIndex): unknown[] => diagnostics(ctx, index).map((d) => [d.code, d.severity, d.range.start.line, d.message]);

  it('warns that the SDK returns null for it, with the call that reads a flag, and checks nothing of the flag', async () => {
    const index = await indexOf('/w/v.ts', source);
    // dark-mode is stale too (on everywhere since January): no stale-flag, no unknown-variation against its variations.
    expect(reported(context(), index)).toEqual([['not-an-experiment', 2, 0, 'getVariant takes an experiment key; "dark-mode" is a flag, for which it returns null — use getValue.']]);
    const py = await indexOf('/w/v.py', ['v = client.get_variant("dark-mode", user)', 'r = client.get_experiment(experiment_key="dark-mode", user=user)', 'w = client.get_variant("cta-copy", user)', ''].join('\n'));
    expect(reported(context(), py)).toEqual([
      ['not-an-experiment', 2, 0, 'get_variant takes an experiment key; "dark-mode" is a flag, for which it returns None — use get_value.'],
      ['not-an-experiment', 2, 1, 'get_experiment takes an experiment key; "dark-mode" is a flag, for which it returns no assignment (variation_key None) — use get_value.'],
    ]);
    const tsx = await indexOf('/w/V.tsx', ['export function V() {', "  const v = useVariant('dark-mode');", "  const r = useExperiment('checkout');", "  const on = useFlag('dark-mode', false);", '  return null;', '}', ''].join('\n'));
    expect(diagnostics(context(), tsx).filter((d) => d.code !== 'stale-flag').map((d) => d.message)).toEqual([
      'useVariant takes an experiment key; "dark-mode" is a flag, for which it returns null — use useFlag.',
      'useExperiment takes an experiment key; "checkout" is a flag, for which it returns no assignment (variationKey null) — use useFlag.',
    ]);
  });

  it('offers no clean-up for it, nor the flag\'s variations, and says what the key is in the hover and the lens', async () => {
    const index = await indexOf('/w/v.ts', source);
    const ctx = context();
    const ref = index.references[0]!;
    const at = { start: ref.callRange.start, end: ref.callRange.start };
    expect(codeActions(ctx, 'file:///w/v.ts', index, at, diagnostics(ctx, index), source)).toEqual([]);
    expect(cleanupReplacement(ctx, ref)).toBeUndefined();
    // The same flag read as a flag is stale and replaced.
    const value = await indexOf('/w/w.ts', "const v = client.getValue('dark-mode', user, false);\n");
    expect(cleanupReplacement(ctx, value.references[0]!)).toBe('true');
    expect(variationCompletions(ctx, ref, ref.compared[0]!.range)).toEqual([]);
    const text = (hover(ctx, ref).contents as MarkupContent).value;
    expect(text).toContain('**Dark mode** `dark-mode` · boolean');
    expect(text).toContain('⚠ getVariant takes an experiment key; "dark-mode" is a flag, for which it returns null — use getValue.');
    expect(lensTitle(ctx, ref)).toBe('● dark-mode · a flag, not an experiment key');
  });

  it('takes a standalone experiment and one a flag delivers alike, as the SDK assigns both', async () => {
    const index = await indexOf('/w/v.ts', source);
    const ctx = context();
    expect(diagnostics(ctx, index).filter((d) => d.range.start.line >= 2)).toEqual([]);
    expect(lensTitle(ctx, index.references[2]!)).toBe('● checkout-exp · experiment running');
  });

  it('does not warn when the data does not list experiments (a flags file without them), and still replaces nothing', async () => {
    const index = await indexOf('/w/v.ts', source);
    const unlisted = context({ source: 'flags-file', experiments: [], experimentsListed: false });
    expect(diagnostics(unlisted, index).filter((d) => d.range.start.line <= 1)).toEqual([]);
    expect(cleanupReplacement(unlisted, index.references[0]!)).toBeUndefined();
    expect((hover(unlisted, index.references[0]!).contents as MarkupContent).value).toContain('the flags file lists no experiments to tell');
    // A file listing none (`experiments: []`) tells: the key is a flag's only.
    const listedNone = context({ source: 'flags-file', experiments: [] });
    expect(diagnostics(listedNone, index).filter((d) => d.range.start.line === 0).map((d) => d.code)).toEqual(['not-an-experiment']);
  });

  it('reads from a flags file whether it lists experiments', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xp-flags-file-'));
    try {
      const file = path.join(dir, 'flags.yaml');
      writeFileSync(file, 'xp: 1\nproject: shop\nflags: []\n');
      expect(readFlagsFile(file).experimentsListed).toBe(false);
      writeFileSync(file, 'xp: 1\nproject: shop\nexperiments: []\nflags: []\n');
      expect(readFlagsFile(file).experimentsListed).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cache file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xp-cache-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads back what it wrote', () => {
    const file = path.join(dir, 'good.json');
    const snapshot = { ...context().snapshot, results: { 'cta-copy': results('cta-copy', {}) }, environments: ['production'] };
    writeCache(file, snapshot);
    expect(readCache(file, 'shop')).toEqual({ ...snapshot, source: 'cache' });
    // Whole definitions, segments' id lists among them: for the owner's eyes only.
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const nested = path.join(dir, 'new-folder', 'cache.json');
    writeCache(nested, snapshot);
    expect(statSync(path.dirname(nested)).mode & 0o777).toBe(0o700);
  });

  it('drops what a damaged file holds in the wrong shape instead of failing every feature later', () => {
    const file = path.join(dir, 'damaged.json');
    const write = (snapshot: unknown): void => {
      writeFileSync(file, JSON.stringify({ cacheVersion: 1, snapshot }));
    };
    write({ project: 'shop', source: 'api' });
    expect(readCache(file, 'shop')).toBeUndefined();
    write({ ...context().snapshot, flags: [{ key: 'dark-mode' }, record(checkout)], experiments: null, results: { x: {} } });
    const read = readCache(file, 'shop')!;
    expect(read.flags.map((f) => f.key)).toEqual(['checkout']);
    expect(read.experiments).toEqual([]);
    expect(read.results).toEqual({});
  });
});

describe('evaluation counts in hovers', () => {
  type Usage = NonNullable<ProjectSnapshot['evaluations']>;
  /** Counting in production since 2026-03-01: well before the window (from 2026-05-02). */
  const LONG_AGO: Usage['countingSince'] = [{ environment: 'production', since: '2026-03-01T00:00:00.000Z' }];
  const usage = (flags: Usage['flags'], countingSince: Usage['countingSince'] = LONG_AGO): Partial<ProjectSnapshot> => ({ evaluations: { since: '2026-05-02T00:00:00.000Z', flags, apps: [], dropped: 0, undefinedOmitted: 0, countingSince } });
  const evaluated: Usage['flags'] = [{ flag: 'checkout', defined: true, total: 5, lastEvaluatedAt: '2026-05-31T23:50:00.000Z', environments: [{ environment: 'production', count: 5, lastEvaluatedAt: '2026-05-31T23:50:00.000Z' }], apps: [] }];
  /** The snapshot's flags, dark-mode created at `createdAt` (undefined: a cache from before flags' creation times). */
  const aged = (createdAt: string | undefined): Partial<ProjectSnapshot> => ({ flags: [{ ...record(darkMode), ...(createdAt === undefined ? {} : { createdAt }) }, record(checkout)] });
  const hoverText = async (ctx: FeatureContext, key: string): Promise<string> => {
    const index = await indexOf('/w/usage.ts', `client.getValue('${key}', user, false);\n`);
    return (hover(ctx, index.references[0]!).contents as MarkupContent).value;
  };

  it('says a key that is no flag is still asked for, and when', async () => {
    const ctx = context({
      ...aged('2026-01-10T00:00:00.000Z'),
      ...usage([{ flag: 'old-banner', defined: false, total: 1, lastEvaluatedAt: '2026-05-31T21:00:00.000Z', environments: [{ environment: 'production', count: 1, lastEvaluatedAt: '2026-05-31T21:00:00.000Z' }], apps: [] }]),
    });
    expect(await hoverText(ctx, 'old-banner')).toContain('Evaluated 1 time in the last 30 days (production 1), last 3 h ago: code asks for it and gets the default it passes.');
    // A flag the project's SDKs never asked for, while they report counts.
    expect(await hoverText(ctx, 'dark-mode')).toContain('_Not evaluated in the last 30 days');
  });

  it('says "not evaluated in the last 30 days" only when counting began before the window and the flag is older than it', async () => {
    const hoverOf = (over: Partial<ProjectSnapshot>): Promise<string> => hoverText(context(over), 'dark-mode');
    const old = aged('2026-01-10T00:00:00.000Z');
    expect(await hoverOf({ ...old, ...usage(evaluated) })).toContain(
      '_Not evaluated in the last 30 days by any SDK that reports evaluation counts: if no deployed code asks for it, it can be removed._',
    );
    // Upgrade day: counts have arrived for 8 minutes. Only what they show may be said.
    const recent = await hoverOf({ ...old, ...usage(evaluated, [{ environment: 'production', since: '2026-05-31T23:00:00.000Z' }]) });
    expect(recent).toContain('_Not evaluated since evaluation counting began on 2026-05-31: too soon to tell whether deployed code still asks for it._');
    expect(recent).not.toContain('30 days');
    expect(recent).not.toContain('removed');
    // One environment counting for long, another since within the window: the later start is what holds for both.
    expect(await hoverOf({ ...old, ...usage(evaluated, [...LONG_AGO, { environment: 'staging', since: '2026-05-20T10:00:00.000Z' }]) })).toContain(
      '_Not evaluated since evaluation counting began on 2026-05-20 in staging:',
    );
    // A flag created 10 days ago cannot have gone 30 days unevaluated; one of unknown age (an older cache) neither.
    for (const over of [aged('2026-05-22T00:00:00.000Z'), aged(undefined)]) {
      const text = await hoverOf({ ...over, ...usage(evaluated) });
      expect(text).toContain('Dark mode');
      expect(text).not.toMatch(/[Ee]valuated/);
    }
    // A server (or cache) without countingSince: nothing is known of when counting began.
    const unknown = await hoverOf({ ...old, ...usage(evaluated, []) });
    expect(unknown).not.toMatch(/[Ee]valuated/);
    // Evaluated flags are told as before, whenever counting began.
    expect(await hoverText(context({ ...old, ...usage(evaluated, [{ environment: 'production', since: '2026-05-31T23:00:00.000Z' }]) }), 'checkout')).toContain('Evaluated 5 times in the last 30 days (production 5)');
  });

  it('keeps flags\' creation times and countingSince in the cache; a cache without them claims nothing of absence', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xp-ls-usage-'));
    const file = path.join(dir, 'cache.json');
    const snapshot = context({ ...aged('2026-01-10T00:00:00.000Z'), ...usage(evaluated) }).snapshot;
    writeCache(file, snapshot);
    const read = readCache(file, 'shop')!;
    expect(read.flags.find((f) => f.key === 'dark-mode')?.createdAt).toBe('2026-01-10T00:00:00.000Z');
    expect(read.evaluations?.countingSince).toEqual(LONG_AGO);
    // A cache written before both existed.
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { flags: { createdAt?: string }[]; evaluations: { countingSince?: unknown } } };
    delete raw.snapshot.evaluations.countingSince;
    writeFileSync(file, JSON.stringify(raw));
    const older = readCache(file, 'shop')!;
    expect(older.evaluations?.countingSince).toEqual([]);
    expect(older.evaluations?.undefinedOmitted).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the applications that ask for a key no flag has; a cache from before applications names none', async () => {
    const at = '2026-05-31T21:00:00.000Z';
    const ghost: Usage['flags'][number] = {
      flag: 'old-banner',
      defined: false,
      total: 9,
      lastEvaluatedAt: at,
      environments: [{ environment: 'production', count: 9, lastEvaluatedAt: at }],
      apps: [
        { app: 'web-shop', count: 7, lastEvaluatedAt: at },
        { app: null, count: 2, lastEvaluatedAt: at },
      ],
    };
    const ctx = context({ ...aged('2026-01-10T00:00:00.000Z'), ...usage([ghost]) });
    const line = 'Evaluated 9 times in the last 30 days (production 9), last 3 h ago,\nby web-shop 7 · no app named 2: code asks for it and gets the default it passes.';
    expect(await hoverText(ctx, 'old-banner')).toContain(line);

    const dir = mkdtempSync(path.join(tmpdir(), 'xp-ls-apps-'));
    try {
      const file = path.join(dir, 'cache.json');
      writeCache(file, ctx.snapshot);
      expect(await hoverText(context({ ...readCache(file, 'shop')! }), 'old-banner')).toContain(line);
      // Written before applications were counted: the counts alone.
      const raw = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { evaluations: { apps?: unknown; dropped?: unknown; flags: { apps?: unknown }[] } } };
      delete raw.snapshot.evaluations.apps;
      delete raw.snapshot.evaluations.dropped;
      delete raw.snapshot.evaluations.flags[0]!.apps;
      writeFileSync(file, JSON.stringify(raw));
      const older = readCache(file, 'shop')!;
      expect([older.evaluations?.apps, older.evaluations?.dropped, older.evaluations?.flags[0]?.apps]).toEqual([[], 0, []]);
      expect(await hoverText(context({ ...older }), 'old-banner')).toContain('Evaluated 9 times in the last 30 days (production 9), last 3 h ago: code asks for it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('claims nothing when no SDK of the project reports counts', async () => {
    const text = await hoverText(context(usage([])), 'dark-mode');
    expect(text).toContain('Dark mode');
    expect(text).not.toMatch(/[Ee]valuated/);
  });
});

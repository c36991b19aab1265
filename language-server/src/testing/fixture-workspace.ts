import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Source files in every supported language, each using the xp SDK in its own idiom. */
export const FIXTURE_FILES: Readonly<Record<string, string>> = {
  'web/checkout.ts': [
    "import { client } from './client';",
    "const NEW_NAV = 'new-nav';",
    'enum Flags { Dark = \'dark-mode\' }',
    'export async function render(user: string) {',
    "  const variant = await client.getVariant('checkout-v2', user);",
    "  if (variant === 'blue') { return 1; }",
    "  if (variant === 'purple') { return 2; }",
    '  const nav = client.isFeatureEnabled(NEW_NAV, user);',
    '  const dark = client.isFeatureEnabled(Flags.Dark, user);',
    "  const typo = client.isFeatureEnabled('chekout-v2', user);",
    '  return nav && dark && typo;',
    '}',
    '',
  ].join('\n'),
  'web/banner.tsx': [
    "export const Banner = () => <div>{client.getValue('banner-text', 'hi')}</div>;",
    "const enabled = useFlag('new-nav');",
    '',
  ].join('\n'),
  'web/legacy.js': [
    "const FLAGS = { search: 'search-v3' };",
    'module.exports = () => openfeature.getBooleanValue(FLAGS.search, false);',
    '',
  ].join('\n'),
  'api/app.py': [
    'from experimentation import Client',
    'CHECKOUT = "checkout-v2"',
    'class Flags:',
    '    SEARCH = "search-v3"',
    'def handler(client, user):',
    '    variant = client.get_variant(CHECKOUT, user)',
    '    if variant == "green":',
    '        return client.is_feature_enabled(Flags.SEARCH, user)',
    '    return client.get_value("banner-text", user)',
    '',
  ].join('\n'),
  'svc/main.go': [
    'package main',
    '',
    'const darkMode = "dark-mode"',
    '',
    'func handle(c *Client, ctx context.Context, user string) bool {',
    '\tif c.GetVariant("checkout-v2", user) == "blue" {',
    '\t\treturn true',
    '\t}',
    '\tv, _ := of.BooleanValue(ctx, "search-v3", false, nil)',
    '\treturn v && c.IsFeatureEnabled(darkMode, user)',
    '}',
    '',
  ].join('\n'),
  'svc/App.java': [
    'class App {',
    '  static final String NAV = "new-nav";',
    '  boolean run(Client client, String user) {',
    '    String v = client.getVariant("checkout-v2", user);',
    '    if (v.equals("blue")) { return true; }',
    '    return client.isFeatureEnabled(NAV, user);',
    '  }',
    '}',
    '',
  ].join('\n'),
  'dist/bundle.js': "client.getVariant('ignored-flag', u);\n",
  'node_modules/dep/index.js': "client.getVariant('ignored-flag', u);\n",
  '.gitignore': 'dist/\n',
};

/** Writes the fixture files (plus any extras) into a fresh temporary directory. */
export function writeFixtureWorkspace(extra: Readonly<Record<string, string>> = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), 'xp-ls-'));
  for (const [rel, text] of Object.entries({ ...FIXTURE_FILES, ...extra })) {
    const full = path.join(root, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}

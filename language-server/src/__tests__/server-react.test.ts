import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, CompletionItem, Diagnostic, Hover, Location, MarkupContent } from 'vscode-languageserver-protocol/node';
import { CodeActionKind, CodeActionRequest, CompletionRequest, HoverRequest, ReferencesRequest } from 'vscode-languageserver-protocol/node';
import { FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '../testing/index.js';

const NAV = [
  "import { useFeatureEnabled, useFlag, useVariant } from '@xp/sdk/react';",
  '',
  'export function Nav() {',
  "  const compact = useFlag('new-nav', 'yes');",
  "  const variant = useVariant('checkout-v2');",
  "  if (variant === 'purple') { return null; }",
  "  const banner = useFeatureEnabled('banner-text');",
  '  return <nav className={variant}>{compact && banner}</nav>;',
  '}',
  '',
].join('\n');

// A React component using @xp/sdk/react's hooks, with no wrapperFunctions configured: the hooks are SDK calls.
describe('language server over stdio: React hooks in a .tsx file', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML, 'web/Nav.tsx': NAV });
    client = await LspTestClient.start(root, { environment: 'production' });
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const checks = (d: readonly Diagnostic[]): unknown[] => d.map((x) => [x.code, x.range.start.line, x.message]);

  it('hovers a useFlag key and reports the default at its place, the second argument, a flag given to useVariant and a non-boolean useFeatureEnabled', async () => {
    const uri = await client.open('web/Nav.tsx', NAV, 'typescriptreact');
    const hover = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 3, character: 28 } })) as Hover;
    expect(hover.range).toEqual({ start: { line: 3, character: 26 }, end: { line: 3, character: 35 } });
    expect((hover.contents as MarkupContent).value).toContain('New navigation');

    const diagnostics = await client.diagnosticsFor(uri, (d) => d.length >= 3);
    expect(checks(diagnostics)).toEqual([
      ['wrong-default-type', 3, 'The default \'yes\' is a string, but "new-nav" serves booleans (e.g. false).'],
      // useVariant takes an experiment's key: for a flag's it returns null, so "purple" is not checked against the flag.
      ['not-an-experiment', 4, 'useVariant takes an experiment key; "checkout-v2" is a flag, for which it returns null — use useFlag.'],
      ['not-boolean', 6, 'useFeatureEnabled expects a boolean flag, but "banner-text" is a string flag.'],
    ]);
    const wrong = diagnostics[0]!;
    expect(wrong.range).toEqual({ start: { line: 3, character: 37 }, end: { line: 3, character: 42 } });
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: wrong.range, context: { diagnostics: [wrong] } })) as CodeAction[];
    expect(actions.filter((a) => a.kind === CodeActionKind.QuickFix).map((a) => [a.title, a.edit?.changes?.[uri]])).toEqual([['Change default to false', [{ range: wrong.range, newText: 'false' }]]]);
  });

  it('completes keys in a useFlag call being typed, and no flag variations compared with a useVariant result', async () => {
    const typing = await client.open('web/Typing.tsx', "export const C = () => { const on = useFlag('ne", 'typescriptreact');
    const keys = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: typing }, position: { line: 0, character: 47 } })) as CompletionItem[];
    expect(keys.map((i) => i.label)).toContain('new-nav');

    const uri = client.uri('web/Nav.tsx');
    const variations = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 5, character: 20 } })) as CompletionItem[];
    expect(variations.map((i) => i.label)).toEqual([]);
  });

  it('lists the hook calls among a flag’s references', async () => {
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: client.uri('web/Nav.tsx') }, position: { line: 4, character: 32 }, context: { includeDeclaration: true } })) as Location[];
    expect(refs.filter((r) => r.uri.endsWith('/web/Nav.tsx')).map((r) => r.range.start.line)).toEqual([4]);
    expect(refs.length).toBeGreaterThan(1);
  });
});

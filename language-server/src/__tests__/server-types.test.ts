import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, Diagnostic } from 'vscode-languageserver-protocol/node';
import { CodeActionKind, CodeActionRequest } from 'vscode-languageserver-protocol/node';
import { FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '../testing/index.js';

// Type mismatches end to end: the indexer's default arguments, the diagnostics and their quick fix over stdio.
describe('language server over stdio: flag type mismatches', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    client = await LspTestClient.start(root, { environment: 'production', wrapperFunctions: ['useFlag'] });
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const mismatches = (d: readonly Diagnostic[]): Diagnostic[] => d.filter((x) => x.code === 'wrong-type' || x.code === 'wrong-default-type');

  /** The quick fixes for a file's wrong default: each title with its edit's range and text. */
  const defaultFixes = async (uri: string, diagnostic: Diagnostic): Promise<unknown[]> => {
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: diagnostic.range, context: { diagnostics: [diagnostic] } })) as CodeAction[];
    return actions.filter((a) => a.kind === CodeActionKind.QuickFix).map((a) => [a.title, a.edit?.changes?.[uri]]);
  };

  it('reports wrong OpenFeature types and wrong literal defaults, and fixes a default in TypeScript, Python and Go', async () => {
    const ts = await client.open(
      'web/types.ts',
      ["const text = client.getValue('banner-text', user, 0);", "const limit = openfeature.getNumberValue('new-nav', 1);", "const fine = client.getValue('banner-text', user, fallback);", ''].join('\n'),
      'typescript',
    );
    const tsDiags = mismatches(await client.diagnosticsFor(ts, (d) => mismatches(d).length > 0));
    expect(tsDiags.map((d) => [d.code, d.range, d.message])).toEqual([
      ['wrong-default-type', { start: { line: 0, character: 50 }, end: { line: 0, character: 51 } }, 'The default 0 is a number, but "banner-text" serves strings (e.g. "hello").'],
      ['wrong-type', { start: { line: 1, character: 41 }, end: { line: 1, character: 50 } }, 'getNumberValue expects a number flag, but "new-nav" is a boolean flag.'],
    ]);
    expect(await defaultFixes(ts, tsDiags[0]!)).toEqual([['Change default to \'hello\'', [{ range: tsDiags[0]!.range, newText: "'hello'" }]]]);

    const py = await client.open('api/types.py', ['on = client.get_value("new-nav", user, default="on")', 'ok = client.get_value("new-nav", user, True)', ''].join('\n'), 'python');
    const pyDiags = mismatches(await client.diagnosticsFor(py, (d) => mismatches(d).length > 0));
    expect(pyDiags.map((d) => d.message)).toEqual(['The default "on" is a string, but "new-nav" serves booleans (e.g. false).']);
    expect(await defaultFixes(py, pyDiags[0]!)).toEqual([['Change default to False', [{ range: { start: { line: 0, character: 47 }, end: { line: 0, character: 51 } }, newText: 'False' }]]]);

    const go = await client.open('svc/types.go', ['package main', '', 'func f(c *Client, user string) string {', '\treturn c.GetValue("checkout-v2", user, false)', '}', ''].join('\n'), 'go');
    const goDiags = mismatches(await client.diagnosticsFor(go, (d) => mismatches(d).length > 0));
    expect(goDiags.map((d) => d.message)).toEqual(['The default false is a boolean, but "checkout-v2" serves strings (e.g. "control").']);
    expect(await defaultFixes(go, goDiags[0]!)).toEqual([['Change default to "control"', [{ range: { start: { line: 3, character: 40 }, end: { line: 3, character: 45 } }, newText: '"control"' }]]]);
  });
});

import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, CodeLens, CompletionItem, Hover, Location, MarkupContent, SymbolInformation } from 'vscode-languageserver-protocol/node';
import {
  CodeActionRequest,
  CodeLensRequest,
  CompletionRequest,
  DefinitionRequest,
  ErrorCodes,
  HoverRequest,
  ReferencesRequest,
  ResponseError,
  WorkspaceSymbolRequest,
} from 'vscode-languageserver-protocol/node';
import { ExplainRequest, FlagListRequest, FlagReferencesRequest, FlagsRequest } from '../protocol.js';
import { FIXTURE_FILES, FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '../testing/index.js';

const LANGUAGE_IDS: Readonly<Record<string, string>> = { ts: 'typescript', tsx: 'typescriptreact', js: 'javascript', py: 'python', go: 'go', java: 'java' };

// No API configured: flag data comes from the flags-as-code file in the workspace.
describe('language server over stdio, offline with a flags file', () => {
  let root: string;
  let client: LspTestClient;
  const uris: Record<string, string> = {};

  beforeAll(async () => {
    root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    client = await LspTestClient.start(root, { environment: 'production', wrapperFunctions: ['useFlag'] });
    await client.indexed();
    for (const rel of ['web/checkout.ts', 'web/banner.tsx', 'web/legacy.js', 'api/app.py', 'svc/main.go', 'svc/App.java']) {
      uris[rel] = await client.open(rel, FIXTURE_FILES[rel]!, LANGUAGE_IDS[rel.split('.').pop()!]!);
    }
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('lists flags with reference counts only (xp/flagList), and one flag\'s references on request (xp/flagReferences)', async () => {
    const full = (await client.connection.sendRequest(FlagsRequest)).flags;
    const list = (await client.connection.sendRequest(FlagListRequest)).flags;
    expect(list).toEqual(full.map((f) => ({ ...f, references: [] })));
    expect(list.map((f) => f.referenceCount)).toEqual(full.map((f) => f.references.length));
    const checkout = full.find((f) => f.key === 'checkout-v2')!;
    expect(checkout.references.length).toBeGreaterThan(1);
    expect((await client.connection.sendRequest(FlagReferencesRequest, { flagKey: 'checkout-v2' })).references).toEqual(checkout.references);
    expect((await client.connection.sendRequest(FlagReferencesRequest, { flagKey: 'nothing-uses-it' })).references).toEqual([]);
  });

  it('reports indexing progress with $/progress begin, report and end', () => {
    const kinds = client.progress.map((p) => p.value.kind);
    expect(kinds[0]).toBe('begin');
    expect(kinds).toContain('report');
    expect(kinds[kinds.length - 1]).toBe('end');
    expect(client.statuses.at(-1)).toMatchObject({ source: 'flags-file', project: 'shop', flags: 5 });
  });

  it('hovers a flag key with its name, state and variations (TypeScript)', async () => {
    const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: uris['web/checkout.ts']! }, position: { line: 4, character: 46 } })) as Hover;
    const text = (h.contents as MarkupContent).value;
    expect(text).toContain('**Checkout v2** `checkout-v2` · string');
    expect(text).toContain('The new checkout flow.');
    expect(text).toContain('ON 25%');
    expect(text).toContain('`blue` = "blue"');
  });

  it('hovers through a Python constant and a Go constant', async () => {
    const py = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: uris['api/app.py']! }, position: { line: 5, character: 33 } })) as Hover;
    expect((py.contents as MarkupContent).value).toContain('`checkout-v2`');
    const go = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: uris['svc/main.go']! }, position: { line: 9, character: 34 } })) as Hover;
    expect((go.contents as MarkupContent).value).toContain('**Dark mode**');
  });

  it("hovers a constant's and an enum member's definition with the range of the literal there", async () => {
    const uri = uris['web/checkout.ts']!;
    const constant = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 1, character: 20 } })) as Hover;
    expect((constant.contents as MarkupContent).value).toContain('**New navigation** `new-nav`');
    expect(constant.range).toEqual({ start: { line: 1, character: 17 }, end: { line: 1, character: 24 } });
    const member = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 2, character: 22 } })) as Hover;
    expect(member.range).toEqual({ start: { line: 2, character: 21 }, end: { line: 2, character: 30 } });
    // At the use, the range is the argument as written.
    const use = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 7, character: 40 } })) as Hover;
    expect(use.range).toEqual({ start: { line: 7, character: 38 }, end: { line: 7, character: 45 } });
  });

  it('puts a code lens above each reference', async () => {
    const lenses = (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri: uris['web/checkout.ts']! } })) as CodeLens[];
    expect(lenses.map((l) => [l.range.start.line, l.command?.title])).toEqual([
      // getVariant takes an experiment's key; the flags file lists experiments, and none has this key.
      [4, '● checkout-v2 · a flag, not an experiment key'],
      [7, '● new-nav · production ON'],
      [8, '● dark-mode · production —'],
      [9, '● chekout-v2 · unknown flag'],
    ]);
    const java = (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri: uris['svc/App.java']! } })) as CodeLens[];
    expect(java.map((l) => l.command?.title)).toEqual(['● checkout-v2 · a flag, not an experiment key', '● new-nav · production ON']);
  });

  it('diagnoses unknown keys, archived flags, unknown variations and non-boolean checks', async () => {
    const ts = await client.diagnosticsFor(uris['web/checkout.ts']!, (d) => d.length > 0);
    // The fixture's getVariant('checkout-v2') names a flag: the SDK returns null, so its variations are not checked.
    expect(ts.map((d) => [d.code, d.range.start.line, d.message])).toEqual([
      ['not-an-experiment', 4, 'getVariant takes an experiment key; "checkout-v2" is a flag, for which it returns null — use getValue.'],
      ['not-boolean', 8, 'isFeatureEnabled expects a boolean flag, but "dark-mode" is a string flag.'],
      ['unknown-flag', 9, 'Unknown flag "chekout-v2". Did you mean "checkout-v2"?'],
    ]);
    const py = await client.diagnosticsFor(uris['api/app.py']!, (d) => d.length > 0);
    expect(py.map((d) => d.code)).toEqual(['not-an-experiment', 'archived-flag']);
    const go = await client.diagnosticsFor(uris['svc/main.go']!, (d) => d.length > 0);
    expect(go.map((d) => d.code).sort()).toEqual(['archived-flag', 'not-an-experiment', 'not-boolean']);
  });

  it('offers a typo fix that edits the literal', async () => {
    const diags = await client.diagnosticsFor(uris['web/checkout.ts']!, (d) => d.length > 0);
    const typo = diags.find((d) => d.code === 'unknown-flag')!;
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri: uris['web/checkout.ts']! }, range: typo.range, context: { diagnostics: [typo] } })) as CodeAction[];
    const fix = actions.find((a) => a.title === 'Change to "checkout-v2"')!;
    expect(fix.edit?.changes?.[uris['web/checkout.ts']!]).toEqual([{ range: { start: { line: 9, character: 40 }, end: { line: 9, character: 50 } }, newText: 'checkout-v2' }]);
    // Without an API, no flag can be created.
    expect(actions.some((a) => a.title.startsWith('Create flag'))).toBe(false);
  });

  it('completes flag keys inside an SDK call and variation names in a comparison', async () => {
    const uri = await client.open('web/new.ts', "client.getValue('', u, 'x');\nconst v = client.getValue('checkout-v2', u, 'control');\nif (v === 'b') {}\n", 'typescript');
    const keys = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 0, character: 17 } })) as CompletionItem[];
    expect(keys.map((k) => k.label)).toEqual(expect.arrayContaining(['checkout-v2', 'new-nav', 'dark-mode', 'banner-text']));
    // The flags file lists the flags: the typo chekout-v2 elsewhere in the workspace is not offered.
    expect(keys.map((k) => k.label)).not.toContain('chekout-v2');
    expect(keys.find((k) => k.label === 'checkout-v2')?.detail).toBe('Checkout v2 · string · production ON 25%');
    const variations = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 2, character: 12 } })) as CompletionItem[];
    expect(variations.map((v) => v.label)).toEqual(['control', 'blue', 'green']);
    const outside = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 1, character: 3 } })) as CompletionItem[];
    expect(outside).toEqual([]);
  });

  it('finds references across languages and ignores gitignored files', async () => {
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: uris['svc/App.java']! }, position: { line: 3, character: 35 }, context: { includeDeclaration: true } })) as Location[];
    const files = refs.map((r) => path.relative(root, new URL(r.uri).pathname)).sort();
    expect(files).toEqual(['api/app.py', 'svc/App.java', 'svc/main.go', 'web/checkout.ts', 'web/new.ts']);
  });

  it('goes to the flag definition in the flags file and lists workspace symbols', async () => {
    const def = (await client.connection.sendRequest(DefinitionRequest.type, { textDocument: { uri: uris['web/legacy.js']! }, position: { line: 1, character: 60 } })) as Location;
    expect(def.uri).toBe(client.uri('flags.yaml'));
    expect(readFileSync(path.join(root, 'flags.yaml'), 'utf8').split('\n')[def.range.start.line]).toBe('  - key: search-v3');
    // The key's text on that line, not the line's start.
    expect(def.range).toEqual({ start: { line: def.range.start.line, character: 9 }, end: { line: def.range.start.line, character: 18 } });
    const symbols = (await client.connection.sendRequest(WorkspaceSymbolRequest.type, { query: 'nav' })) as SymbolInformation[];
    expect(symbols.map((s) => s.name)).toEqual(['new-nav']);
  });

  it('re-indexes an edited document', async () => {
    const uri = uris['web/banner.tsx']!;
    const col = FIXTURE_FILES['web/banner.tsx']!.indexOf('banner-text');
    await client.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 0, character: col }, end: { line: 0, character: col + 'banner-text'.length } }, text: 'banner-txt' }],
    });
    const diags = await client.diagnosticsFor(uri, (d) => d.some((x) => x.code === 'unknown-flag'));
    expect(diags.map((d) => d.message)).toEqual(['Unknown flag "banner-txt". Did you mean "banner-text"?']);
  });

  it('lists flags with references and explains an evaluation', async () => {
    const { flags } = await client.connection.sendRequest(FlagsRequest);
    expect(flags.find((f) => f.key === 'search-v3')).toMatchObject({ state: 'archived' });
    expect(flags.find((f) => f.key === 'chekout-v2')).toMatchObject({ state: 'unknown', references: [{ line: 9 }] });
    const result = await client.connection.sendRequest(ExplainRequest, { flagKey: 'checkout-v2', attributes: { id: 'user-1' } });
    expect(result.environment).toBe('production');
    expect(result.bucket).not.toBeNull();
    // The 25% rollout serves blue below the bucket boundary, the default above it.
    expect(result.variationKey).toBe(result.bucket! < 0.25 ? 'blue' : 'control');
    expect(result.reason).toBe(result.bucket! < 0.25 ? 'SPLIT' : 'DEFAULT');
    expect([result.rulesetSource, result.rulesetPublished]).toEqual(['flags-file', false]);
    // dark-mode has no production state: off.
    const off = await client.connection.sendRequest(ExplainRequest, { flagKey: 'dark-mode', attributes: { id: 'user-1' } });
    expect(off.reason).toBe('DISABLED');
    const missing = await client.connection.sendRequest(ExplainRequest, { flagKey: 'nope', attributes: { id: 'user-1' } });
    expect(missing.reason).toBe('FLAG_NOT_FOUND');
  });

  it('answers malformed explain params and an unknown environment with InvalidParams', async () => {
    const explainError = async (params: unknown): Promise<{ code: number; message: string }> => {
      try {
        await client.connection.sendRequest(ExplainRequest.method, params);
      } catch (e) {
        if (e instanceof ResponseError) {
          return { code: e.code, message: e.message };
        }
        throw e;
      }
      throw new Error(`xp/explain answered ${JSON.stringify(params)} with a result`);
    };
    expect(await explainError({ flagKey: 5, attributes: 'x' })).toEqual({ code: ErrorCodes.InvalidParams, message: 'xp/explain: flagKey must be a non-empty string (got number 5)' });
    expect(await explainError({ flagKey: 'checkout-v2', attributes: 'x' })).toEqual({
      code: ErrorCodes.InvalidParams,
      message: 'xp/explain: attributes must be an object of user attributes, e.g. { "id": "user-1" } (got string "x")',
    });
    expect(await explainError({})).toEqual({ code: ErrorCodes.InvalidParams, message: 'xp/explain: flagKey must be a non-empty string (got nothing)' });
    expect(await explainError({ flagKey: 'checkout-v2', attributes: {}, environment: 7 })).toMatchObject({ code: ErrorCodes.InvalidParams });
    // The flags file names production only: staging is not an environment of the project, not a flag switched off there.
    expect(await explainError({ flagKey: 'checkout-v2', attributes: { id: 'user-1' }, environment: 'staging' })).toEqual({
      code: ErrorCodes.InvalidParams,
      message: 'xp/explain: unknown environment "staging" (shop has production)',
    });
  });

  it('logs through the connection and nothing reaches stderr', () => {
    expect(client.logs.some((l) => l.startsWith('xp: indexed'))).toBe(true);
    expect(client.stderr).toEqual([]);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompletionItem, SymbolInformation, TextEdit } from 'vscode-languageserver-protocol/node';
import { CompletionRequest, ErrorCodes, HoverRequest, ResponseError, ShutdownRequest, WorkspaceSymbolRequest } from 'vscode-languageserver-protocol/node';
import { FlagsRequest } from '../protocol.js';
import { FLAGS_YAML, LspTestClient } from '../testing/index.js';

function write(root: string, files: Readonly<Record<string, string | Buffer>>): void {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

// One package of a monorepo opened as the workspace, files as editors other than VS Code leave them.
describe('language server over stdio, one package of a repository', () => {
  let repo: string;
  let client: LspTestClient;

  beforeAll(async () => {
    repo = mkdtempSync(path.join(tmpdir(), 'xp-ls-repo-'));
    write(repo, {
      '.git/HEAD': 'ref: refs/heads/main\n',
      // The repository's ignore file, above the opened folder: git applies it there too.
      '.gitignore': 'gen/\n*.generated.ts\n',
      'pkg/flags.yaml': FLAGS_YAML,
      'pkg/src/app.ts': "client.getVariant('app-flag', u);\n",
      'pkg/gen/out.ts': "client.getVariant('gen-flag', u);\n",
      'pkg/src/api.generated.ts': "client.getVariant('generated-flag', u);\n",
      // Saved with a UTF-8 byte order mark, which editors hide: columns count from after it.
      'pkg/src/bom.ts': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('client.getVariant("bom-flag", u);\n')]),
    });
    client = await LspTestClient.start(path.join(repo, 'pkg'), { environment: 'production' });
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(repo, { recursive: true, force: true });
  });

  it("leaves out what the repository's .gitignore above the folder excludes", async () => {
    const keys = (await client.connection.sendRequest(FlagsRequest)).flags.filter((f) => f.references.length > 0).map((f) => f.key);
    expect(keys).toContain('app-flag');
    expect(keys).toContain('bom-flag');
    expect(keys).not.toContain('gen-flag');
    expect(keys).not.toContain('generated-flag');
  });

  it('places a reference on the first line of a file with a byte order mark where the editor shows it', async () => {
    const symbols = (await client.connection.sendRequest(WorkspaceSymbolRequest.type, { query: 'bom-flag' })) as SymbolInformation[];
    expect(symbols.map((s) => s.location.range)).toEqual([{ start: { line: 0, character: 18 }, end: { line: 0, character: 28 } }]);
  });

  const complete = async (rel: string, languageId: string, lines: readonly string[], line: number): Promise<CompletionItem[]> => {
    const uri = await client.open(rel, lines.join('\n'), languageId);
    const items = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line, character: lines[line]!.length } })) as CompletionItem[] | null;
    return items ?? [];
  };

  it('completes a key while it is typed, before the quote and the call are closed', async () => {
    const ts = await complete('src/typing.ts', 'typescript', ['export function f(client: any, u: string) {', "  const v = client.getVariant('ch", '  return v;', '}'], 1);
    const item = ts.find((i) => i.label === 'checkout-v2');
    expect(item?.textEdit as TextEdit).toEqual({ range: { start: { line: 1, character: 31 }, end: { line: 1, character: 33 } }, newText: 'checkout-v2' });

    const py = await complete('src/typing.py', 'python', ['def f(client, u):', '    v = client.get_variant("', '    return v'], 1);
    expect(py.map((i) => i.label)).toContain('new-nav');
    const go = await complete('src/typing.go', 'go', ['package main', '', 'func f() {', '\tv, _ := of.StringValue(ctx, "new', '}'], 3);
    expect((go.find((i) => i.label === 'new-nav')?.textEdit as TextEdit).range).toEqual({ start: { line: 3, character: 30 }, end: { line: 3, character: 33 } });
  });

  it('completes nothing after an opening quote that is no SDK call', async () => {
    expect(await complete('src/other.ts', 'typescript', ["const s = format('ch"], 0)).toEqual([]);
  });
});

describe('language server over stdio, after shutdown', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-shutdown-'));
    write(root, { 'flags.yaml': FLAGS_YAML, 'app.ts': "client.getVariant('new-nav', u);\n" });
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses requests once shutdown was asked, as the protocol says', async () => {
    const uri = await client.open('app.ts', "client.getVariant('new-nav', u);\n", 'typescript');
    await client.connection.sendRequest(ShutdownRequest.type);
    const error = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 22 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResponseError);
    expect((error as ResponseError<unknown>).code).toBe(ErrorCodes.InvalidRequest);
  });
});

/**
 * Points of LSP 3.17 and JSON-RPC 2.0 an editor other than VS Code holds the server to: the
 * protocol's line ends ('\n', '\r\n' and a lone '\r'), positions past a line's end, requests after
 * shutdown, malformed params and file URIs no path stands for.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeLens, CompletionItem, Location, TextEdit } from 'vscode-languageserver-protocol/node';
import { CodeLensRequest, CompletionRequest, DidOpenTextDocumentNotification, ErrorCodes, HoverRequest, ReferencesRequest, ResponseError, ShutdownRequest } from 'vscode-languageserver-protocol/node';
import { WorkspaceIndex } from '../indexer/index.js';
import { FLAGS_YAML, LspTestClient, SERVER_BIN } from '../testing/index.js';

function write(root: string, files: Readonly<Record<string, string>>): void {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/** A stray carriage return pasted into a comment: the client splits it into four lines. */
const STRAY_CR = '// copied from Windows\rnotes\nif (client.isFeatureEnabled("new-nav", u)) {}\nclient.getVariant("chekout-v2", u);\n';
/** A classic-Mac file, with emoji before the calls (UTF-16 columns). */
const CR_ONLY = 'const a = 1;\r/* 😀 */ const b = client.isFeatureEnabled("new-nav", u);\rclient.getVariant("chekout-v2", u);\r';

describe('line ends as the protocol splits them, a lone carriage return included', () => {
  const methods = { wrapperFunctions: [] };
  const both = async (rel: string, text: string) => {
    const fast = new WorkspaceIndex('/virtual', methods);
    const pure = new WorkspaceIndex('/virtual', { ...methods, fastPath: false });
    const a = await fast.indexText(path.join('/virtual', rel), text);
    const b = await pure.indexText(path.join('/virtual', rel), text);
    expect(a).toEqual(b);
    return a.references;
  };

  it('places references after a stray carriage return on the lines the editor shows, in a file the fast path would scan', async () => {
    const refs = await both('stray.ts', STRAY_CR);
    expect(refs.map((r) => [r.flagKey, r.range, r.callRange, r.snippet])).toEqual([
      ['new-nav', { start: { line: 2, character: 28 }, end: { line: 2, character: 37 } }, { start: { line: 2, character: 4 }, end: { line: 2, character: 41 } }, 'if (client.isFeatureEnabled("new-nav", u)) {}'],
      ['chekout-v2', { start: { line: 3, character: 18 }, end: { line: 3, character: 30 } }, { start: { line: 3, character: 0 }, end: { line: 3, character: 34 } }, 'client.getVariant("chekout-v2", u);'],
    ]);
    // Without the stray carriage return, the same file is scanned without a parse and the lines shift back by one.
    const fast = new WorkspaceIndex('/virtual', methods);
    const plain = await fast.indexText('/virtual/plain.ts', STRAY_CR.replace('\r', ' '));
    expect(fast.stats).toMatchObject({ scanned: 1, parsed: 0 });
    expect(plain.references.map((r) => r.range.start)).toEqual([
      { line: 1, character: 28 },
      { line: 2, character: 18 },
    ]);
  });

  it('places references, constants, defaults and compared variations of a carriage-return-only file as the editor shows them (parse path)', async () => {
    const refs = await both(
      'mac.ts',
      'const KEY = "new-nav";\r/* 😀 */ if (client.isFeatureEnabled(KEY, u)) {}\rconst v = client.getVariant("checkout-v2", u);\rif (v === "blue") {}\rclient.getValue("checkout-v2", u, "a");\r',
    );
    expect(refs.map((r) => [r.flagKey, r.viaConstant, r.range, r.keyRange, r.snippet])).toEqual([
      ['new-nav', true, { start: { line: 1, character: 37 }, end: { line: 1, character: 40 } }, { start: { line: 0, character: 13 }, end: { line: 0, character: 20 } }, '/* 😀 */ if (client.isFeatureEnabled(KEY, u)) {}'],
      ['checkout-v2', false, { start: { line: 2, character: 28 }, end: { line: 2, character: 41 } }, { start: { line: 2, character: 29 }, end: { line: 2, character: 40 } }, 'const v = client.getVariant("checkout-v2", u);'],
      ['checkout-v2', false, { start: { line: 4, character: 16 }, end: { line: 4, character: 29 } }, { start: { line: 4, character: 17 }, end: { line: 4, character: 28 } }, 'client.getValue("checkout-v2", u, "a");'],
    ]);
    expect(refs[1]!.compared).toEqual([{ name: 'blue', range: { start: { line: 3, character: 11 }, end: { line: 3, character: 15 } } }]);
    expect(refs[2]!.defaultValue?.range).toEqual({ start: { line: 4, character: 34 }, end: { line: 4, character: 37 } });
  });

  it('places Java references of a carriage-return-only file on their lines, snippets without a carriage return', async () => {
    const refs = await both('A.java', 'class A {\r  void f() { client.getVariant("jk", u); }\r}\r');
    expect(refs.map((r) => [r.range, r.snippet])).toEqual([[{ start: { line: 1, character: 31 }, end: { line: 1, character: 35 } }, 'void f() { client.getVariant("jk", u); }']]);
  });
});

describe('language server over stdio, protocol edge cases', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-conformance-'));
    write(root, { 'flags.yaml': FLAGS_YAML, 'stray.ts': STRAY_CR, 'mac.ts': CR_ONLY });
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const range = (sl: number, sc: number, el: number, ec: number) => ({ start: { line: sl, character: sc }, end: { line: el, character: ec } });

  it('reports diagnostics, hovers, references and code lenses after a stray carriage return on the lines the editor shows', async () => {
    const uri = await client.open('stray.ts', STRAY_CR, 'typescript');
    const diagnostics = await client.diagnosticsFor(uri, (d) => d.length > 0);
    expect(diagnostics.map((d) => d.range)).toEqual([range(3, 18, 3, 30)]);
    const hover = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 2, character: 30 } }));
    expect(hover?.range).toEqual(range(2, 28, 2, 37));
    expect(await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 1, character: 3 } })).toBeNull();
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri }, position: { line: 3, character: 20 }, context: { includeDeclaration: true } })) as Location[];
    expect(refs.map((r) => [path.basename(new URL(r.uri).pathname), r.range])).toEqual([
      ['mac.ts', range(2, 18, 2, 30)],
      ['stray.ts', range(3, 18, 3, 30)],
    ]);
    const lenses = (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } })) as CodeLens[];
    expect(lenses.map((l) => l.range.start.line)).toEqual([2, 3]);
  });

  it('reads a carriage-return-only file from disk with the lines the editor shows', async () => {
    const uri = client.uri('mac.ts');
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: client.uri('stray.ts') }, position: { line: 2, character: 30 }, context: { includeDeclaration: true } })) as Location[];
    expect(refs.filter((r) => r.uri === uri).map((r) => r.range)).toEqual([range(1, 43, 1, 52)]);
  });

  it('reads a position past the end of its line as the end of the line', async () => {
    const text = 'const s = "😀"; client.isFeatureEnabled("ne';
    const uri = await client.open('typing.ts', text, 'typescript');
    const editRange = async (character: number) => {
      const items = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 0, character } })) as CompletionItem[];
      return (items[0]?.textEdit as TextEdit | undefined)?.range;
    };
    expect(text.length).toBe(43);
    expect(await editRange(43)).toEqual(range(0, 41, 0, 43));
    expect(await editRange(50)).toEqual(range(0, 41, 0, 43));
    // A hover past the end of a line that ends with a call's key is on that key, as at the line's end.
    const hoverUri = await client.open('end.ts', 'client.getVariant(\n  "new-nav"\n, u);\n', 'typescript');
    const hover = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: hoverUri }, position: { line: 1, character: 50 } }));
    expect(hover?.range).toEqual(range(1, 2, 1, 11));
  });

  it('serves a document whose file URI no path stands for as one not on disk, without an unhandled rejection', async () => {
    const uri = 'file:///tmp/a%2Fb.ts';
    await client.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'typescript', version: 1, text: 'client.getVariant("new-nav", u);\n' } });
    expect(await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 22 } })).toBeNull();
    expect(await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } })).toEqual([]);
    expect(client.logs.filter((l) => l.includes('unhandled rejection'))).toEqual([]);
  });
});

describe('language server over stdio, after shutdown', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-shutdown-twice-'));
    write(root, { 'flags.yaml': FLAGS_YAML, 'app.ts': "client.getVariant('new-nav', u);\n" });
    client = await LspTestClient.start(root, {});
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses a second shutdown and an unknown method with InvalidRequest', async () => {
    await client.connection.sendRequest(ShutdownRequest.type);
    const errors = await Promise.all(
      [client.connection.sendRequest(ShutdownRequest.type), client.connection.sendRequest('foo/bar', {})].map((p) =>
        p.then(
          () => undefined,
          (e: unknown) => (e instanceof ResponseError ? e.code : e),
        ),
      ),
    );
    expect(errors).toEqual([ErrorCodes.InvalidRequest, ErrorCodes.InvalidRequest]);
  });
});

/** The server's bin over stdio in `root`, its cache there too. */
function spawnServer(root: string): ChildProcess {
  return spawn(process.execPath, [SERVER_BIN, '--stdio'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: path.join(root, '.cache') } });
}

/** A client writing frames by hand: `"params": null` cannot be sent through vscode-jsonrpc. */
class RawClient {
  private buffer = Buffer.alloc(0);
  private readonly answers = new Map<number, (message: Record<string, unknown>) => void>();

  constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const end = this.buffer.indexOf('\r\n\r\n');
        const length = /Content-Length: (\d+)/i.exec(this.buffer.subarray(0, end).toString('ascii'));
        if (end < 0 || length === null || this.buffer.length < end + 4 + Number(length[1])) {
          return;
        }
        const message = JSON.parse(this.buffer.subarray(end + 4, end + 4 + Number(length[1])).toString('utf8')) as Record<string, unknown>;
        this.buffer = this.buffer.subarray(end + 4 + Number(length[1]));
        if (typeof message.id === 'number' && message.method === undefined) {
          this.answers.get(message.id)?.(message);
        }
      }
    });
  }

  request(id: number, method: string, params: unknown): Promise<Record<string, unknown>> {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method, params }), 'utf8');
    this.child.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin!.write(body);
    return new Promise((resolve) => this.answers.set(id, resolve));
  }
}

describe('language server over stdio, params that are null', () => {
  let root: string;
  let child: ChildProcess;
  let raw: RawClient;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-null-params-'));
    write(root, { 'flags.yaml': FLAGS_YAML });
    child = spawnServer(root);
    raw = new RawClient(child);
    await raw.request(1, 'initialize', { processId: null, rootUri: pathToFileURL(root).href, capabilities: {} });
  }, 60_000);
  afterAll(() => {
    child.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers InvalidParams saying params must be an object, not InternalError', async () => {
    const methods = ['textDocument/codeLens', 'textDocument/hover', 'workspace/executeCommand', 'textDocument/completion', 'textDocument/references', 'textDocument/definition', 'textDocument/codeAction', 'workspace/symbol'];
    const answers = await Promise.all(methods.map((m, i) => raw.request(10 + i, m, null)));
    expect(answers.map((a) => a.error)).toEqual(methods.map((m) => ({ code: ErrorCodes.InvalidParams, message: `${m}: params must be an object, not null` })));
  });
});

describe('language server over stdio, initialize with params null', () => {
  let root: string;
  let child: ChildProcess;

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-null-init-'));
    write(root, { 'flags.yaml': FLAGS_YAML });
    child = spawnServer(root);
  });
  afterAll(() => {
    child.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers InvalidParams, not InternalError, and a proper initialize still works after it', async () => {
    const raw = new RawClient(child);

    const refused = await raw.request(1, 'initialize', null);
    const initialized = await raw.request(2, 'initialize', { processId: null, rootUri: pathToFileURL(root).href, capabilities: {} });

    expect(refused.error).toEqual({ code: ErrorCodes.InvalidParams, message: 'initialize: params must be an object, not null' });
    expect(initialized.error).toBeUndefined();
    expect((initialized.result as { capabilities: Record<string, unknown> }).capabilities.hoverProvider).toBeDefined();
  }, 60_000);
});

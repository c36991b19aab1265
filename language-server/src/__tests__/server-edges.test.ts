import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompletionItem, SymbolInformation, TextEdit } from 'vscode-languageserver-protocol/node';
import {
  CancellationTokenSource,
  CodeActionRequest,
  CompletionRequest,
  DidChangeConfigurationNotification,
  ErrorCodes,
  ExecuteCommandRequest,
  HoverRequest,
  InitializedNotification,
  InitializeRequest,
  LSPErrorCodes,
  ResponseError,
  ShutdownRequest,
  WorkspaceSymbolRequest,
} from 'vscode-languageserver-protocol/node';
import type { StatusParams } from '../protocol.js';
import { FlagsRequest, ServerCommand } from '../protocol.js';
import { DEFAULT_CAPABILITIES, FLAGS_YAML, LspTestClient } from '../testing/index.js';
import type { StandInApi } from './stand-in-api.js';
import { standInApi } from './stand-in-api.js';

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
    const ts = await complete('src/typing.ts', 'typescript', ['export function f(client: any, u: string) {', "  const v = client.getValue('ch", '  return v;', '}'], 1);
    const item = ts.find((i) => i.label === 'checkout-v2');
    expect(item?.textEdit as TextEdit).toEqual({ range: { start: { line: 1, character: 29 }, end: { line: 1, character: 31 } }, newText: 'checkout-v2' });

    const py = await complete('src/typing.py', 'python', ['def f(client, u):', '    v = client.get_value("', '    return v'], 1);
    expect(py.map((i) => i.label)).toContain('new-nav');
    const go = await complete('src/typing.go', 'go', ['package main', '', 'func f() {', '\tv, _ := of.StringValue(ctx, "new', '}'], 3);
    expect((go.find((i) => i.label === 'new-nav')?.textEdit as TextEdit).range).toEqual({ start: { line: 3, character: 30 }, end: { line: 3, character: 33 } });
  });

  it('completes nothing after an opening quote that is no SDK call', async () => {
    expect(await complete('src/other.ts', 'typescript', ["const s = format('ch"], 0)).toEqual([]);
  });

  it('completes nothing inside a string that only reads like an SDK call', async () => {
    const uri = await client.open('src/quoted.ts', "const s = 'isEnabled(\"\")';", 'typescript');
    const items = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 0, character: 22 } })) as CompletionItem[] | null;
    expect(items ?? []).toEqual([]);
    expect(await complete('src/quoted.py', 'python', ['x = "a" + \'client.get_variant("ch'], 0)).toEqual([]);
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

/** The error a request answers with, or undefined when it succeeds. */
async function failure(request: Promise<unknown>): Promise<ResponseError<unknown> | undefined> {
  return request.then(
    () => undefined,
    (e: unknown) => (e instanceof ResponseError ? e : undefined),
  );
}

describe('language server over stdio, against an API whose settings change', () => {
  let root: string;
  let api: StandInApi;
  let client: LspTestClient;

  beforeAll(async () => {
    api = standInApi();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-api-'));
    write(root, { 'app.ts': "client.getVariant('new-nav', u);\n" });
    const apiUrl = api.url();
    client = await LspTestClient.start(root, { apiUrl, token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    await client.indexed();
    await client.until('the change feed to be live', () => (client.statuses.at(-1)?.live === true ? true : undefined));
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    api.server.closeAllConnections();
    await new Promise((resolve) => api.server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  const configure = async (xp: Record<string, unknown>, done: (s: StatusParams) => boolean): Promise<StatusParams> => {
    const seen = client.statuses.length;
    await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { xp } });
    return client.until('the status after the settings changed', () => client.statuses.slice(seen).find(done));
  };

  it('answers a createFlag without a key, an unknown command and malformed params with InvalidParams saying what is wrong', async () => {
    const uri = await client.open('app.ts', "client.getVariant('new-nav', u);\n", 'typescript');
    const noKey = await failure(client.connection.sendRequest(ExecuteCommandRequest.type, { command: ServerCommand.CreateFlag, arguments: [] }));
    expect([noKey?.code, noKey?.message]).toEqual([ErrorCodes.InvalidParams, 'xp.server.createFlag: the first argument must be the key of the flag to create']);
    const unknown = await failure(client.connection.sendRequest(ExecuteCommandRequest.type, { command: 'xp.server.nope', arguments: [] }));
    expect([unknown?.code, unknown?.message]).toEqual([ErrorCodes.InvalidParams, 'unknown command "xp.server.nope" (the server runs xp.server.createFlag and xp.server.showFlag)']);

    const malformed = await Promise.all([
      failure(client.connection.sendRequest(CompletionRequest.method, { textDocument: { uri } })),
      failure(client.connection.sendRequest(CodeActionRequest.method, {})),
      failure(client.connection.sendRequest(WorkspaceSymbolRequest.method, {})),
    ]);
    expect(malformed.map((e) => [e?.code, e?.message])).toEqual([
      [ErrorCodes.InvalidParams, 'textDocument/completion: position must be { line, character } with non-negative integers'],
      [ErrorCodes.InvalidParams, 'textDocument/codeAction: textDocument.uri must be a string'],
      [ErrorCodes.InvalidParams, 'workspace/symbol: query must be a string'],
    ]);
  });

  it('answers a request cancelled before it finished with RequestCancelled', async () => {
    // A Java document needs a parse, and the Java grammar is loaded on first use: the cancellation arrives meanwhile.
    const uri = await client.open('App.java', 'class App { void f() { switch (v) { case "a": } client.getVariant("new-nav", u); } }\n', 'java');
    const source = new CancellationTokenSource();
    const request = client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 70 } }, source.token);
    source.cancel();
    expect((await failure(request))?.code).toBe(LSPErrorCodes.RequestCancelled);
  });

  it('reports an environment the project does not have, naming those it has', async () => {
    const status = await configure({ environment: 'prodution' }, (s) => s.environment === 'prodution' && s.error !== null);
    expect([status.source, status.error]).toEqual(['api', 'unknown environment "prodution" (shop has production, staging)']);
    const fixed = await configure({ environment: 'staging' }, (s) => s.environment === 'staging' && s.error === null);
    expect(fixed.source).toBe('api');
  });

  it('stops following the change feed once the settings make the API unusable, and says so', async () => {
    const refused = await configure({ token: 'xpp_bad' }, (s) => s.error !== null && s.tokenRefused === true);
    expect(refused.live).toBe(false);
    await api.feedsClosed();
    expect(client.statuses.at(-1)?.live).toBe(false);

    await configure({ token: 'xpp_good' }, (s) => s.live);
    const unknownProject = await configure({ project: 'nope' }, (s) => s.error !== null);
    expect(unknownProject.live).toBe(false);
    expect(unknownProject.error).toMatch(/^404 NOT_FOUND: no \/api\/v1\/projects\/nope\//);
    await api.feedsClosed();
    expect(client.statuses.at(-1)?.live).toBe(false);
  });
});

/** A request's error code, or 'answered' when it succeeds. */
async function codeOf(request: Promise<unknown>): Promise<number | 'answered'> {
  return request.then(
    () => 'answered' as const,
    (e: unknown) => {
      if (e instanceof ResponseError) {
        return e.code;
      }
      throw e;
    },
  );
}

// What a minimal JSON-RPC client (Neovim, Helix, a script) may send: older initialize params, messages out of the lifecycle's order.
describe('language server over stdio, initialize params of every client and the lifecycle', () => {
  const dirs: string[] = [];
  const clients: LspTestClient[] = [];
  afterAll(async () => {
    for (const c of clients) {
      await c.stop().catch(() => undefined);
    }
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const folder = (files: Readonly<Record<string, string>>): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xp-ls-lifecycle-'));
    write(dir, files);
    dirs.push(dir);
    return dir;
  };
  /** The server started in `cwd`, not initialized yet. */
  const launch = (cwd: string): LspTestClient => {
    const client = LspTestClient.launch(cwd);
    clients.push(client);
    return client;
  };
  /** Initializes with raw params (no rootUri unless given), then sends initialized. */
  const initialize = async (client: LspTestClient, params: Record<string, unknown>): Promise<void> => {
    client.initializeResult = await client.connection.sendRequest(InitializeRequest.method, { processId: process.pid, capabilities: DEFAULT_CAPABILITIES, ...params });
    await client.connection.sendNotification(InitializedNotification.type, {});
  };
  const referencedKeys = async (client: LspTestClient): Promise<string[]> =>
    (await client.connection.sendRequest(FlagsRequest)).flags.filter((f) => f.references.length > 0).map((f) => f.key);

  it('takes rootPath as the folder when a client sends no rootUri', async () => {
    const root = folder({ 'flags.yaml': FLAGS_YAML, 'src/app.ts': "client.getVariant('app-flag', u);\n" });
    const client = launch(tmpdir());
    await initialize(client, { rootPath: root });
    await client.indexed();
    expect(await referencedKeys(client)).toEqual(['app-flag']);
    expect(client.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5 });
  });

  it('takes an empty folder list and no rootUri as no folder: nothing of the cwd is indexed, the flags file is found above an opened file', async () => {
    const cwd = folder({
      'src/app.ts': "client.getVariant('cwd-flag', u);\n",
      'pkg/flags.yaml': FLAGS_YAML,
      'pkg/src/deep/one.ts': "client.isFeatureEnabled('new-nav', u);\n",
    });
    const client = launch(cwd);
    await initialize(client, { rootUri: null, workspaceFolders: [] });
    await client.until('the first status', () => client.statuses.find((s) => !s.indexing));
    expect(await referencedKeys(client)).toEqual([]);
    expect(client.progress).toEqual([]);
    // Single-file mode: the opened file is indexed, and the flags file nearest it gives the data.
    const uri = await client.open('pkg/src/deep/one.ts', "client.isFeatureEnabled('new-nav', u);\nclient.isFeatureEnabled('new-nv', u);\n", 'typescript');
    const diagnostics = await client.diagnosticsFor(uri, (d) => d.length > 0);
    expect(diagnostics.map((d) => d.message)).toEqual(['Unknown flag "new-nv". Did you mean "new-nav"?']);
    expect(client.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5, references: 2 });
    expect(await referencedKeys(client)).toEqual(['new-nav', 'new-nv']);
    expect(client.stderr).toEqual([]);
  });

  it('takes initializationOptions under "xp" as the didChangeConfiguration section has them, and warns about settings it ignores', async () => {
    const root = folder({ 'conf/myflags.yaml': FLAGS_YAML, 'src/app.ts': "client.getVariant('app-flag', u);\n" });
    const nested = launch(tmpdir());
    await initialize(nested, { rootUri: pathToFileURL(root).href, initializationOptions: { xp: { flagsFile: 'conf/myflags.yaml' } } });
    await nested.indexed();
    expect(nested.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5 });

    const wrong = launch(tmpdir());
    await initialize(wrong, { rootUri: pathToFileURL(root).href, initializationOptions: { flagsFile: 'conf/myflags.yaml', wrapperFunctions: 'useFlag', environment: 5, flagFile: 'x', clientCommands: [] } });
    await wrong.indexed();
    await wrong.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { staleDays: 30 } });
    await wrong.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { xp: { staleDays: 'thirty' } } });
    await wrong.until('the last warning', () => wrong.logs.find((l) => l.includes('"staleDays" ignored')));

    expect(wrong.logs.filter((l) => l.startsWith('xp: initializationOptions') || l.startsWith('xp: settings') || l.startsWith('xp: workspace/didChangeConfiguration'))).toEqual([
      'xp: initializationOptions: setting "wrapperFunctions" ignored: it takes a list of function names, not "useFlag"',
      'xp: initializationOptions: setting "environment" ignored: it takes an environment key, not 5',
      `xp: initializationOptions: unknown setting "flagFile" (the settings are apiUrl, token, project, environment, flagsFile, cacheFile, consoleUrl, refreshIntervalSeconds, staleDays, maxFileSize, requestTimeoutSeconds, wrapperFunctions)`,
      'xp: workspace/didChangeConfiguration: the settings go under "xp" ({ "settings": { "xp": { … } } }); ignored: staleDays',
      'xp: settings: setting "staleDays" ignored: it takes a number of days, 0 or more, not "thirty"',
    ]);
    // The rest of the options still apply.
    expect(wrong.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5 });
  });

  it('indexes no folder when a client sends none, not the directory it was started in', async () => {
    const cwd = folder({ 'src/app.ts': "client.getVariant('cwd-flag', u);\n" });
    const client = launch(cwd);
    await initialize(client, { rootUri: null });
    await client.until('the first status', () => client.statuses.find((s) => !s.indexing));
    expect(client.statuses.at(-1)).toMatchObject({ source: 'none', references: 0 });
    expect(await referencedKeys(client)).toEqual([]);
  });

  it('refuses requests before initialize with ServerNotInitialized, drops notifications, and refuses a second initialize', async () => {
    const root = folder({ 'flags.yaml': FLAGS_YAML, 'app.ts': "client.getVariant('checkout-v2', u);\n" });
    const client = launch(root);
    const early = client.uri('early.ts');
    await client.connection.sendNotification('textDocument/didOpen', { textDocument: { uri: early, languageId: 'typescript', version: 1, text: "client.getVariant('checkout-v2', u);\n" } });
    const before = await Promise.all([
      codeOf(client.connection.sendRequest(HoverRequest.method, { textDocument: { uri: early }, position: { line: 0, character: 22 } })),
      codeOf(client.connection.sendRequest(WorkspaceSymbolRequest.method, { query: '' })),
      codeOf(client.connection.sendRequest('xp/flags')),
      codeOf(client.connection.sendRequest('xp/no-such-request', {})),
      codeOf(client.connection.sendRequest(ShutdownRequest.method)),
    ]);
    expect(before).toEqual(Array(5).fill(ErrorCodes.ServerNotInitialized));

    // The refused shutdown left the session usable.
    await initialize(client, { rootUri: null, workspaceFolders: [{ uri: client.uri('.'), name: 'root' }] });
    await client.indexed();
    // The document opened before initialize was dropped: nothing is known of it, no diagnostics were published.
    expect(await client.connection.sendRequest(HoverRequest.method, { textDocument: { uri: early }, position: { line: 0, character: 22 } })).toBeNull();
    expect(client.diagnostics.has(early)).toBe(false);
    const uri = await client.open('app.ts', "client.getVariant('checkout-v2', u);\n", 'typescript');
    expect(await client.connection.sendRequest(HoverRequest.method, { textDocument: { uri }, position: { line: 0, character: 22 } })).not.toBeNull();

    const again = await codeOf(client.connection.sendRequest(InitializeRequest.method, { processId: null, rootUri: null, capabilities: {} }));
    expect(again).toBe(ErrorCodes.InvalidRequest);
    expect(await client.connection.sendRequest(HoverRequest.method, { textDocument: { uri }, position: { line: 0, character: 22 } })).not.toBeNull();
    expect(await codeOf(client.connection.sendRequest('xp/no-such-request', {}))).toBe(ErrorCodes.MethodNotFound);
  });
});

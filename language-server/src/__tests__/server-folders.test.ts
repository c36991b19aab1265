import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CodeLens, Hover, Location, MarkupContent, SymbolInformation } from 'vscode-languageserver-protocol/node';
import { CodeLensRequest, DidChangeWorkspaceFoldersNotification, FileChangeType, HoverRequest, ReferencesRequest, WorkspaceSymbolRequest } from 'vscode-languageserver-protocol/node';
import { FlagsRequest } from '../protocol.js';
import { FIXTURE_FILES, FLAGS_YAML, LspTestClient, SERVER_BIN, writeFixtureWorkspace } from '../testing/index.js';

function writeFolder(files: Readonly<Record<string, string>>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'xp-ls-folder-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

// A multi-root workspace: every folder indexed with its own .gitignore, folders added and removed at run time.
describe('language server over stdio, several workspace folders', () => {
  let first: string;
  let second: string;
  let third: string;
  let client: LspTestClient;

  beforeAll(async () => {
    // The first folder (the fixture) ignores dist/; the second ignores out/ but not dist/.
    first = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    second = writeFolder({
      'src/b.ts': "const v = client.getValue('checkout-v2', u, 'control');\nconst w = client.getValue('only-second', u, 'x');\n",
      'dist/b.js': "client.getVariant('second-dist', u);\n",
      'out/x.ts': "client.getVariant('second-ignored', u);\n",
      '.gitignore': 'out/\n',
    });
    third = writeFolder({ 'app.py': 'client.get_variant("only-third", u)\n' });
    client = await LspTestClient.start(first, {}, SERVER_BIN, { folders: [first, second] });
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    for (const dir of [first, second, third]) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Flag key → files (absolute) referencing it, once `done` holds. */
  const referenced = async (done: (refs: Map<string, string[]>) => boolean): Promise<Map<string, string[]>> => {
    for (let i = 0; ; i++) {
      const { flags } = await client.connection.sendRequest(FlagsRequest);
      const refs = new Map(flags.filter((f) => f.references.length > 0).map((f) => [f.key, [...new Set(f.references.map((r) => fileURLToPath(r.uri)))].sort()]));
      if (done(refs) || i === 100) {
        return refs;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('advertises workspace folder support with change notifications', () => {
    expect(client.initializeResult?.capabilities.workspace?.workspaceFolders).toEqual({ supported: true, changeNotifications: true });
  });

  it('indexes every folder, each with its own .gitignore', async () => {
    const refs = await referenced((r) => r.has('only-second'));
    expect(refs.get('only-second')).toEqual([path.join(second, 'src/b.ts')]);
    // dist/ is ignored in the first folder only.
    expect(refs.get('second-dist')).toEqual([path.join(second, 'dist/b.js')]);
    expect(refs.has('ignored-flag')).toBe(false);
    expect(refs.has('second-ignored')).toBe(false);
    expect(client.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5 });
  });

  it('answers references, symbols, diagnostics and code lenses across folders', async () => {
    // From the first folder, before anything of the second is open: its files come from the index.
    const checkout = await client.open('web/checkout.ts', FIXTURE_FILES['web/checkout.ts']!, 'typescript');
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: checkout }, position: { line: 4, character: 46 }, context: { includeDeclaration: true } })) as Location[];
    expect(refs.map((r) => fileURLToPath(r.uri)).sort()).toEqual(
      [path.join(first, 'api/app.py'), path.join(first, 'svc/App.java'), path.join(first, 'svc/main.go'), path.join(first, 'web/checkout.ts'), path.join(second, 'src/b.ts')].sort(),
    );
    const symbols = (await client.connection.sendRequest(WorkspaceSymbolRequest.type, { query: 'only' })) as SymbolInformation[];
    expect(symbols.map((s) => [s.name, fileURLToPath(s.location.uri)])).toEqual([['only-second', path.join(second, 'src/b.ts')]]);
    // The flags file of the first folder applies to the second's code.
    const uri = pathToFileURL(path.join(second, 'src/b.ts')).href;
    await client.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'typescript', version: 1, text: "const v = client.getValue('checkout-v2', u, 'control');\nconst w = client.getValue('only-second', u, 'x');\n" },
    });
    const diagnostics = await client.diagnosticsFor(uri, (d) => d.length > 0);
    expect(diagnostics.map((d) => d.message)).toEqual(['Unknown flag "only-second".']);
    const lenses = (await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } })) as CodeLens[];
    expect(lenses.map((l) => l.command?.title)).toEqual(['● checkout-v2 · production ON 25%', '● only-second · unknown flag']);
  });

  it('indexes a folder added at run time and forgets one removed', async () => {
    await client.connection.sendNotification(DidChangeWorkspaceFoldersNotification.type, {
      event: { added: [{ uri: pathToFileURL(third).href, name: 'third' }], removed: [{ uri: pathToFileURL(second).href, name: 'second' }] },
    });
    const refs = await referenced((r) => r.has('only-third') && !r.has('second-dist'));
    expect(refs.get('only-third')).toEqual([path.join(third, 'app.py')]);
    expect(refs.has('second-dist')).toBe(false);
    // src/b.ts is open: the editor's text keeps it indexed until it is closed.
    expect(refs.get('only-second')).toEqual([path.join(second, 'src/b.ts')]);
    // The folder removed is no longer the workspace's: a change in it is not indexed.
    writeFileSync(path.join(second, 'src/c.ts'), "client.getVariant('after-removal', u);\n");
    writeFileSync(path.join(third, 'later.ts'), "client.getVariant('third-later', u);\n");
    await client.fileEvents([
      { rel: path.join(second, 'src/c.ts'), type: FileChangeType.Created },
      { rel: path.join(third, 'later.ts'), type: FileChangeType.Created },
    ]);
    const after = await referenced((r) => r.has('third-later'));
    expect(after.get('third-later')).toEqual([path.join(third, 'later.ts')]);
    expect(after.has('after-removal')).toBe(false);
    expect(client.stderr).toEqual([]);
  });
});

// Some clients send a folder's URI with a trailing slash (file:///ws/): it is the same folder as without.
describe('language server over stdio, a workspace folder URI with a trailing slash', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFolder({ 'flags.yaml': FLAGS_YAML, 'app.ts': "client.isFeatureEnabled('new-nav', u);\n", 'other.ts': "client.isFeatureEnabled('other-flag', u);\n" });
    client = await LspTestClient.start(root, {}, SERVER_BIN, { folders: [`${root}/`] });
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('re-reads the flags file at its root when the editor reports it changed', async () => {
    expect(pathToFileURL(`${root}/`).href).toMatch(/\/$/);
    const uri = await client.open('app.ts', "client.isFeatureEnabled('new-nav', u);\n", 'typescript');
    const hoverText = async (): Promise<string> => {
      const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 28 } })) as Hover;
      return (h.contents as MarkupContent).value;
    };
    expect(await hoverText()).toContain('New navigation');
    await client.until('the file watchers', () => (client.watchers().length > 0 ? true : undefined));
    writeFileSync(path.join(root, 'flags.yaml'), FLAGS_YAML.replace('name: New navigation', 'name: Renamed navigation'));
    const seen = client.statuses.length;
    expect(await client.fileEvents([{ rel: 'flags.yaml', type: FileChangeType.Changed }])).toHaveLength(1);
    await client.until('the status after the flags file was read again', () => (client.statuses.length > seen ? true : undefined));
    expect(await hoverText()).toContain('Renamed navigation');
  });

  it('forgets the folder when the editor removes it under its URI without the slash', async () => {
    const referencesOtherFlag = async (): Promise<boolean> => (await client.connection.sendRequest(FlagsRequest)).flags.some((f) => f.key === 'other-flag' && f.references.length > 0);
    expect(await referencesOtherFlag()).toBe(true);
    await client.connection.sendNotification(DidChangeWorkspaceFoldersNotification.type, { event: { added: [], removed: [{ uri: pathToFileURL(root).href, name: 'root' }] } });
    await vi.waitFor(async () => {
      expect(await referencesOtherFlag()).toBe(false);
    }, { timeout: 5_000, interval: 50 });
  });
});

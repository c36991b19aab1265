import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Location } from 'vscode-languageserver-protocol/node';
import { DidChangeWatchedFilesNotification, DidCloseTextDocumentNotification, FileChangeType, HoverRequest, ReferencesRequest } from 'vscode-languageserver-protocol/node';
import { FlagsRequest } from '../protocol.js';
import { FLAGS_YAML, LspTestClient, SERVER_BIN, writeFixtureWorkspace } from '../testing/index.js';

// Files changing on disk, as the editor reports them (workspace/didChangeWatchedFiles, didClose).
describe('language server over stdio, files changing on disk', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFixtureWorkspace();
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const keys = async (): Promise<string[]> => (await client.connection.sendRequest(FlagsRequest)).flags.map((f) => f.key);
  /** The keys once `done` holds for them (the server handles notifications without answering them). */
  const keysWhen = async (done: (k: string[]) => boolean): Promise<string[]> => {
    for (let i = 0; ; i++) {
      const k = await keys();
      if (done(k) || i === 100) {
        return k;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('leaves gitignored and vendored files out when the editor reports them changed', async () => {
    writeFileSync(path.join(root, 'dist/bundle.js'), "client.getVariant('rebuilt-flag', u);\n");
    writeFileSync(path.join(root, 'node_modules/dep/index.js'), "client.getVariant('installed-flag', u);\n");
    writeFileSync(path.join(root, 'web/fresh.ts'), "client.getVariant('fresh-flag', u);\n");
    await client.connection.sendNotification(DidChangeWatchedFilesNotification.type, {
      changes: [
        { uri: client.uri('dist/bundle.js'), type: FileChangeType.Changed },
        { uri: client.uri('node_modules/dep/index.js'), type: FileChangeType.Changed },
        { uri: client.uri('web/fresh.ts'), type: FileChangeType.Created },
      ],
    });
    const now = await keysWhen((k) => k.includes('fresh-flag'));
    expect(now).toContain('fresh-flag');
    expect(now).not.toContain('rebuilt-flag');
    expect(now).not.toContain('installed-flag');
    expect(now).not.toContain('ignored-flag');
  });

  it('forgets a document outside the workspace once it is closed', async () => {
    const outside = path.join(path.dirname(root), `${path.basename(root)}-outside.ts`);
    writeFileSync(outside, "client.getVariant('outside-flag', u);\n");
    try {
      const uri = pathToFileURL(outside).href;
      await client.connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'typescript', version: 1, text: "client.getVariant('outside-flag', u);\n" } });
      await client.diagnosticsFor(uri);
      expect(await keys()).toContain('outside-flag');
      await client.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
      expect(await keysWhen((k) => !k.includes('outside-flag'))).not.toContain('outside-flag');
    } finally {
      rmSync(outside, { force: true });
    }
  });
});

// An editor that watches what the server registers (Neovim, Zed, eglot… and VS Code, whose extension has no watcher of its own).
describe('language server over stdio, files watched as the server asks', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML, 'README.md': "client.getVariant('readme-flag', u);\n" });
    client = await LspTestClient.start(root, { maxFileSize: 10_000 });
    await client.indexed();
    await client.until('file watchers', () => (client.watchers().length > 0 ? true : undefined));
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** The files (relative) referencing `key` once `done` holds for them. */
  const filesOf = async (key: string, done: (files: string[]) => boolean): Promise<string[]> => {
    for (let i = 0; ; i++) {
      const flag = (await client.connection.sendRequest(FlagsRequest)).flags.find((f) => f.key === key);
      const files = [...new Set(flag?.references.map((r) => path.relative(root, fileURLToPath(r.uri))) ?? [])].sort();
      if (done(files) || i === 100) {
        return files;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('registers watchers for source files, the flags file and .gitignore files, and nothing else', async () => {
    const sent = await client.fileEvents(
      ['web/a.ts', 'web/a.tsx', 'web/a.mjs', 'api/a.py', 'svc/a.go', 'svc/A.java', 'flags.yaml', 'xp.json', 'web/.gitignore', 'README.md', 'package-lock.json', 'web/a.css'].map((rel) => ({ rel, type: FileChangeType.Changed })),
    );
    expect(sent.map((e) => path.relative(root, fileURLToPath(e.uri)))).toEqual(['web/a.ts', 'web/a.tsx', 'web/a.mjs', 'api/a.py', 'svc/a.go', 'svc/A.java', 'flags.yaml', 'xp.json', 'web/.gitignore']);
  });

  it('answers references and hovers on a file the editor never opened from the index and the text on disk', async () => {
    const uri = client.uri('web/checkout.ts');
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri }, position: { line: 4, character: 45 }, context: { includeDeclaration: true } })) as Location[];
    expect(refs.map((r) => `${path.relative(root, fileURLToPath(r.uri))}:${r.range.start.line}`).sort()).toEqual(['api/app.py:5', 'svc/App.java:3', 'svc/main.go:5', 'web/checkout.ts:4']);
    const hover = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 7, character: 40 } });
    expect(hover?.range).toEqual({ start: { line: 7, character: 38 }, end: { line: 7, character: 45 } });
    // A position past the end of a line is the line's end, as in an open document.
    const past = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri }, position: { line: 9, character: 999 }, context: { includeDeclaration: true } })) as Location[];
    expect(past).toEqual([]);
  });

  it('re-reads unopened files created, changed and deleted on disk', async () => {
    writeFileSync(path.join(root, 'web/later.ts'), "client.getVariant('later-flag', u);\n");
    writeFileSync(path.join(root, 'svc/main.go'), 'package main\n\nfunc f(c *Client) bool { return c.IsFeatureEnabled("later-flag", "u") }\n');
    await client.fileEvents([
      { rel: 'web/later.ts', type: FileChangeType.Created },
      { rel: 'svc/main.go', type: FileChangeType.Changed },
    ]);
    expect(await filesOf('later-flag', (f) => f.length === 2)).toEqual(['svc/main.go', 'web/later.ts']);
    expect(await filesOf('dark-mode', (f) => !f.includes('svc/main.go'))).toEqual(['web/checkout.ts']);
    rmSync(path.join(root, 'web/later.ts'));
    await client.fileEvents([{ rel: 'web/later.ts', type: FileChangeType.Deleted }]);
    expect(await filesOf('later-flag', (f) => f.length === 1)).toEqual(['svc/main.go']);
  });

  it('lists a folder again when its .gitignore changes', async () => {
    writeFileSync(path.join(root, '.gitignore'), 'web/legacy.js\n');
    await client.fileEvents([{ rel: '.gitignore', type: FileChangeType.Changed }]);
    // dist/ is no longer ignored, web/legacy.js is; node_modules stays out.
    expect(await filesOf('ignored-flag', (f) => f.length > 0)).toEqual(['dist/bundle.js']);
    expect(await filesOf('search-v3', (f) => !f.includes('web/legacy.js'))).toEqual(['api/app.py']);
    expect(client.stderr).toEqual([]);
  });

  it('indexes a folder moved in, follows its rename and forgets it once deleted, each reported as one event', async () => {
    const files: Readonly<Record<string, string>> = {
      'pkg/feature/a.ts': "client.getVariant('folder-flag', u);\n",
      'pkg/feature/b.py': 'client.get_variant("folder-flag", u)\n',
      'pkg/.gitignore': 'gen/\n',
      'pkg/gen/g.ts': "client.getVariant('folder-generated', u);\n",
      'pkg/node_modules/x/i.js': "client.getVariant('folder-vendored', u);\n",
      'pkg/big.ts': `client.getVariant('folder-big', u);\n${'// filler\n'.repeat(1_100)}`,
    };
    // Written elsewhere, then copied in: the editor sees one folder appear.
    const staging = mkdtempSync(path.join(tmpdir(), 'xp-ls-pkg-'));
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(staging, rel)), { recursive: true });
      writeFileSync(path.join(staging, rel), text);
    }
    cpSync(path.join(staging, 'pkg'), path.join(root, 'pkg'), { recursive: true });
    rmSync(staging, { recursive: true, force: true });
    expect(await client.fileEvents([{ rel: 'pkg', type: FileChangeType.Created }])).toHaveLength(1);
    expect(await filesOf('folder-flag', (f) => f.length === 2)).toEqual(['pkg/feature/a.ts', 'pkg/feature/b.py']);
    // The same rules as the cold index: the folder's .gitignore, node_modules, the size limit.
    const { flags } = await client.connection.sendRequest(FlagsRequest);
    expect(flags.map((f) => f.key).filter((k) => k.startsWith('folder-'))).toEqual(['folder-flag']);

    renameSync(path.join(root, 'pkg'), path.join(root, 'lib'));
    await client.fileEvents([
      { rel: 'pkg', type: FileChangeType.Deleted },
      { rel: 'lib', type: FileChangeType.Created },
    ]);
    expect(await filesOf('folder-flag', (f) => f.every((x) => x.startsWith('lib/')))).toEqual(['lib/feature/a.ts', 'lib/feature/b.py']);

    rmSync(path.join(root, 'lib'), { recursive: true, force: true });
    await client.fileEvents([{ rel: 'lib', type: FileChangeType.Deleted }]);
    expect(await filesOf('folder-flag', (f) => f.length === 0)).toEqual([]);
    expect(client.stderr).toEqual([]);
  });
});

describe('language server over stdio, a client that cannot register watchers', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFixtureWorkspace();
    client = await LspTestClient.start(root, {}, SERVER_BIN, { capabilities: { window: { workDoneProgress: true }, workspace: { didChangeWatchedFiles: { dynamicRegistration: false } } } });
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('asks it for nothing', () => {
    expect([...client.registrations.values()]).toEqual([]);
    expect(client.stderr).toEqual([]);
  });
});

describe('language server over stdio, a flags file saved broken', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('says why and keeps the flags last read from it until it reads again', async () => {
    expect(client.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5, error: null });
    writeFileSync(path.join(root, 'flags.yaml'), `${FLAGS_YAML}\n  - key: [unclosed\n`);
    await client.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: client.uri('flags.yaml'), type: FileChangeType.Changed }] });
    const broken = await client.until('the status to report the broken file', () => client.statuses.find((s) => s.error !== null));
    expect(broken).toMatchObject({ source: 'flags-file', flags: 5 });
    expect(broken.error).toMatch(/^cannot read flags file flags\.yaml: /);
    writeFileSync(path.join(root, 'flags.yaml'), FLAGS_YAML);
    await client.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: client.uri('flags.yaml'), type: FileChangeType.Changed }] });
    await client.until('the error to clear', () => (client.statuses.at(-1)?.error === null ? true : undefined));
    expect(client.statuses.at(-1)).toMatchObject({ source: 'flags-file', flags: 5 });
  });
});

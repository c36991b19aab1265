import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Location } from 'vscode-languageserver-protocol/node';
import { DidChangeTextDocumentNotification, DidChangeWatchedFilesNotification, FileChangeType, HoverRequest, ReferencesRequest } from 'vscode-languageserver-protocol/node';
import { FlagsRequest } from '../protocol.js';
import { LspTestClient } from '../testing/index.js';

/** A workspace in a fresh temporary folder (with a .git, as a checkout has) holding `files`. */
function workspace(files: Readonly<Record<string, string>>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'xp-ls-branch-'));
  mkdirSync(path.join(root, '.git'));
  for (const [rel, text] of Object.entries(files)) {
    write(root, rel, text);
  }
  return root;
}

function write(root: string, rel: string, text: string): void {
  const full = path.join(root, rel);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, text);
}

const call = (key: string): string => `client.getVariant('${key}', user);\n`;

/** Every reference the server knows, as `relative/file|key`, sorted; paths outside `root` stay absolute. */
async function references(client: LspTestClient, root: string): Promise<string[]> {
  const { flags } = await client.connection.sendRequest(FlagsRequest);
  return flags.flatMap((f) => f.references.map((r) => `${path.relative(root, fileURLToPath(r.uri))}|${f.key}`)).sort();
}

/** The references once `done` holds for them (file events are notifications: nothing answers when they are applied). */
async function referencesWhen(client: LspTestClient, root: string, done: (refs: string[]) => boolean): Promise<string[]> {
  for (let i = 0; ; i++) {
    const refs = await references(client, root);
    if (done(refs) || i === 200) {
      return refs;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Sends watched-file events as they are given (as a client that coalesces them sends them), by path relative to `root`. */
async function sendEvents(client: LspTestClient, root: string, changes: readonly (readonly [string, FileChangeType])[]): Promise<void> {
  await client.connection.sendNotification(DidChangeWatchedFilesNotification.type, {
    changes: changes.map(([rel, type]) => ({ uri: pathToFileURL(path.join(root, rel)).href, type })),
  });
}

// Changes on disk while the cold index runs (a branch switched in the first seconds, a codegen hook).
describe('language server over stdio, files changed while the workspace is being indexed', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) {
      await c();
    }
  });

  it('never puts back what a file event removed or rewrote, whenever the cold index read it', async () => {
    // Files whose key is a constant need a tree-sitter parse: the cold index reads them while listing and parses them last.
    const filler = Array.from({ length: 40 }, (_, i) => `export const x${i} = [1, 2, 3].map((v) => v * ${i}).filter((v) => v > 2);`).join('\n');
    const parsed = (key: string): string => `const K = '${key}';\n${filler}\nclient.getVariant(K, user);\n`;
    const files: Record<string, string> = {};
    for (let i = 0; i < 120; i++) {
      files[`src/d${i % 6}/f${i}.ts`] = parsed(`old-${i % 4}`);
      files[`src/d${i % 6}/plain${i}.ts`] = `export const y${i} = ${i};\n`;
    }
    const root = workspace(files);
    const client = await LspTestClient.start(root, {});
    cleanup.push(async () => {
      await client.stop();
      rmSync(root, { recursive: true, force: true });
    });
    // As soon as the index has read some files: half of those needing a parse deleted, half rewritten, each reported.
    await client.until('the first files read', () => (client.progress.some((p) => p.value.kind === 'report' && /^[1-9]\d*\//.test(p.value.message ?? '')) ? true : undefined));
    const changes: [string, FileChangeType][] = [];
    for (let i = 0; i < 120; i++) {
      const rel = `src/d${i % 6}/f${i}.ts`;
      if (i % 2 === 0) {
        rmSync(path.join(root, rel));
        changes.push([rel, FileChangeType.Deleted]);
      } else {
        write(root, rel, parsed(`new-${i % 4}`));
        changes.push([rel, FileChangeType.Changed]);
      }
    }
    await sendEvents(client, root, changes);
    await client.until('indexing to finish', () => client.statuses.find((s) => !s.indexing));
    const refs = await referencesWhen(client, root, (r) => r.length === 60 && r.every((x) => x.includes('|new-')));
    expect(refs.filter((r) => r.includes('|old-'))).toEqual([]);
    expect(refs).toHaveLength(60);
  }, 60_000);
});

// A branch switch as VS Code reports it: a Deleted and a Created on one path are coalesced into one Changed.
describe('language server over stdio, paths that changed kind in a branch switch', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = workspace({
      'src/widget.ts': call('widget-file-key'),
      'src/panel.ts/index.ts': call('panel-dir-key'),
      'src/panel.ts/view.ts': call('panel-view-key'),
      'codegen/a.ts': call('gen-v1'),
      'codegen/deep/b.ts': call('gen-v1-deep'),
      'app/main.ts': call('app-key'),
    });
    client = await LspTestClient.start(root, {});
    await client.indexed();
    await client.until('file watchers', () => (client.watchers().length > 0 ? true : undefined));
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('lists a folder that replaced a file, reported as one Changed on its path', async () => {
    rmSync(path.join(root, 'src/widget.ts'));
    write(root, 'src/widget.ts/index.ts', call('widget-dir-key'));
    // Through the registered watchers, as VS Code would deliver it.
    expect(await client.fileEvents([{ rel: 'src/widget.ts', type: FileChangeType.Changed }])).toHaveLength(1);
    const refs = await referencesWhen(client, root, (r) => r.includes('src/widget.ts/index.ts|widget-dir-key'));
    expect(refs).toContain('src/widget.ts/index.ts|widget-dir-key');
    expect(refs).not.toContain('src/widget.ts|widget-file-key');
  });

  it('forgets the files of a folder that a file replaced, reported as one Changed on its path', async () => {
    rmSync(path.join(root, 'src/panel.ts'), { recursive: true });
    write(root, 'src/panel.ts', call('panel-file-key'));
    await client.fileEvents([{ rel: 'src/panel.ts', type: FileChangeType.Changed }]);
    const refs = await referencesWhen(client, root, (r) => r.includes('src/panel.ts|panel-file-key'));
    expect(refs.filter((r) => r.startsWith('src/panel.ts'))).toEqual(['src/panel.ts|panel-file-key']);
  });

  it('lists a folder deleted and generated again, reported as one Changed on the folder', async () => {
    rmSync(path.join(root, 'codegen'), { recursive: true });
    write(root, 'codegen/a.ts', call('gen-v2'));
    await sendEvents(client, root, [['codegen', FileChangeType.Changed]]);
    const refs = await referencesWhen(client, root, (r) => r.includes('codegen/a.ts|gen-v2'));
    expect(refs.filter((r) => r.startsWith('codegen'))).toEqual(['codegen/a.ts|gen-v2']);
  });

  it('lists the workspace folder again when it is cloned again, reported as one Changed on it', async () => {
    const before = await references(client, root);
    for (const entry of readdirSync(root)) {
      rmSync(path.join(root, entry), { recursive: true });
    }
    mkdirSync(path.join(root, '.git'));
    write(root, 'fresh/clone.ts', call('clone-key'));
    await sendEvents(client, root, [['', FileChangeType.Changed]]);
    const refs = await referencesWhen(client, root, (r) => r.includes('fresh/clone.ts|clone-key'));
    expect(before.length).toBeGreaterThan(1);
    expect(refs).toEqual(['fresh/clone.ts|clone-key']);
  });

  it('lists a folder that replaced an open document, while it is open and after it is closed', async () => {
    write(root, 'app/main.ts', call('app-key'));
    await sendEvents(client, root, [['app/main.ts', FileChangeType.Created]]);
    await referencesWhen(client, root, (r) => r.includes('app/main.ts|app-key'));
    const uri = await client.open('app/main.ts', call('app-key'), 'typescript');
    rmSync(path.join(root, 'app/main.ts'));
    write(root, 'app/main.ts/index.ts', call('main-dir-key'));
    // The tab stays open across the branch switch; the watcher reports the folder alone.
    await sendEvents(client, root, [['app/main.ts', FileChangeType.Changed]]);
    const open = await referencesWhen(client, root, (r) => r.includes('app/main.ts/index.ts|main-dir-key'));
    expect(open).toEqual(expect.arrayContaining(['app/main.ts/index.ts|main-dir-key', 'app/main.ts|app-key']));
    await client.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
    const closed = await referencesWhen(client, root, (r) => !r.includes('app/main.ts|app-key'));
    expect(closed.filter((r) => r.startsWith('app/'))).toEqual(['app/main.ts/index.ts|main-dir-key']);
  });

  it('lists a folder again when its .gitignore is replaced by a folder', async () => {
    write(root, 'ign/.gitignore', 'gen/\n');
    write(root, 'ign/gen/hidden.ts', call('ignored-key'));
    await sendEvents(client, root, [['ign', FileChangeType.Created]]);
    await referencesWhen(client, root, (r) => r.some((x) => x.startsWith('ign/')) || true);
    expect(await references(client, root)).not.toContain('ign/gen/hidden.ts|ignored-key');
    rmSync(path.join(root, 'ign/.gitignore'));
    write(root, 'ign/.gitignore/note.ts', call('note-key'));
    await sendEvents(client, root, [['ign/.gitignore', FileChangeType.Changed]]);
    const refs = await referencesWhen(client, root, (r) => r.includes('ign/gen/hidden.ts|ignored-key'));
    expect(refs).toEqual(expect.arrayContaining(['ign/gen/hidden.ts|ignored-key', 'ign/.gitignore/note.ts|note-key']));
  });

  it('ignores malformed watched-file params quietly, warning once, and keeps answering', async () => {
    const logged = client.logs.length;
    await client.connection.sendNotification(DidChangeWatchedFilesNotification.method, { changes: null });
    await client.connection.sendNotification(DidChangeWatchedFilesNotification.method, {});
    await client.connection.sendNotification(DidChangeWatchedFilesNotification.method, { changes: [null, { uri: 5 }] });
    // Answered after the notifications: they were handled by then.
    expect((await references(client, root)).length).toBeGreaterThan(0);
    const logs = client.logs.slice(logged);
    expect(logs.filter((l) => l.includes('failed'))).toEqual([]);
    expect(logs.filter((l) => l.includes('didChangeWatchedFiles'))).toHaveLength(1);
  });
});

// Symbolic links: the cold index does not follow them, and neither do file events.
describe('language server over stdio, symbolic links', () => {
  let root: string;
  let outside: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = workspace({ 'pkg/a.ts': call('pkg-key'), 'solo.ts': call('solo-key') });
    outside = mkdtempSync(path.join(tmpdir(), 'xp-ls-outside-'));
    write(outside, 'tree/deep/x.ts', call('outside-key'));
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('indexes nothing through a link created to a folder or a file, inside the workspace or out', async () => {
    symlinkSync(path.join(root, 'pkg'), path.join(root, 'pkg-link'));
    symlinkSync(path.join(outside, 'tree'), path.join(root, 'out-link'));
    symlinkSync(path.join(root, 'solo.ts'), path.join(root, 'solo-link.ts'));
    write(root, 'marker.ts', call('marker-key'));
    await sendEvents(client, root, [
      ['pkg-link', FileChangeType.Created],
      ['out-link', FileChangeType.Created],
      ['solo-link.ts', FileChangeType.Created],
      ['pkg-link/a.ts', FileChangeType.Changed],
      ['out-link/deep/x.ts', FileChangeType.Changed],
      ['marker.ts', FileChangeType.Created],
    ]);
    const refs = await referencesWhen(client, root, (r) => r.includes('marker.ts|marker-key'));
    expect(refs).toEqual(['marker.ts|marker-key', 'pkg/a.ts|pkg-key', 'solo.ts|solo-key']);
  });

  it('does not serve a file that is no regular file (a FIFO with a source name) and keeps answering', async () => {
    const fifo = path.join(root, 'pipe.ts');
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await sendEvents(client, root, [['pipe.ts', FileChangeType.Created]]);
    const hover = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: pathToFileURL(fifo).href }, position: { line: 0, character: 0 } });
    expect(hover).toBeNull();
    expect(await references(client, root)).toContain('solo.ts|solo-key');
  });
});

// A workspace folder opened through a symbolic link, and a document opened by its real path.
describe('language server over stdio, a workspace folder reached through a symbolic link', () => {
  let real: string;
  let link: string;
  let client: LspTestClient;

  beforeAll(async () => {
    real = realpathSync(workspace({ 'src/m.ts': call('shared-key'), 'src/n.ts': call('shared-key') }));
    link = `${real}-link`;
    symlinkSync(real, link);
    client = await LspTestClient.start(link, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(link, { force: true });
    rmSync(real, { recursive: true, force: true });
  });

  it('indexes a document opened by its real path once, under the folder as the client named it', async () => {
    const realUri = pathToFileURL(path.join(real, 'src/m.ts')).href;
    await client.connection.sendNotification('textDocument/didOpen', { textDocument: { uri: realUri, languageId: 'typescript', version: 1, text: call('shared-key') } });
    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: realUri }, position: { line: 0, character: 22 }, context: { includeDeclaration: true } })) as Location[];
    expect(refs.map((r) => r.uri).sort()).toEqual([client.uri('src/m.ts'), client.uri('src/n.ts')]);

    // An edit replaces the file's entry: no stale reference stays beside the buffer's text.
    await client.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: realUri, version: 2 }, contentChanges: [{ text: call('edited-key') }] });
    expect(await referencesWhen(client, link, (r) => r.some((x) => x.endsWith('|edited-key')))).toEqual(['src/m.ts|edited-key', 'src/n.ts|shared-key']);
  });

  it('forgets a file deleted as reported by its real path', async () => {
    rmSync(path.join(real, 'src/n.ts'));
    await sendEvents(client, real, [['src/n.ts', FileChangeType.Deleted]]);
    const refs = await referencesWhen(client, link, (r) => !r.includes('src/n.ts|shared-key'));
    expect(refs).toEqual(['src/m.ts|edited-key']);
  });
});

/** The highest resident memory (kB) of the processes running in `cwd` (the server and its launcher). */
function peakMemoryIn(cwd: string): number {
  let peak = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (realpathSync(`/proc/${pid}/cwd`) !== cwd) {
        continue;
      }
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      peak = Math.max(peak, Number(hwm?.[1] ?? 0));
    } catch {
      // A process that ended or is not ours to read.
    }
  }
  return peak;
}

// A generated file far larger than anything indexed (a bundle, a schema) rewritten on disk.
describe('language server over stdio, a huge file', () => {
  let root: string;
  let client: LspTestClient;

  beforeAll(async () => {
    root = realpathSync(workspace({ 'src/a.ts': call('a-key'), 'src/small.ts': call('small-key') }));
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('does not read it on a file event or a request: its size says it is not indexed', async () => {
    // Sparse: no disk space, but 640 MB for whoever reads it.
    const huge = path.join(root, 'src/schema.generated.ts');
    writeFileSync(huge, call('huge-key'));
    truncateSync(huge, 640 * 1024 * 1024);
    write(root, 'src/small.ts', call('small-key-2'));
    await sendEvents(client, root, [
      ['src/schema.generated.ts', FileChangeType.Changed],
      ['src/small.ts', FileChangeType.Changed],
    ]);
    const hover = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: pathToFileURL(huge).href }, position: { line: 0, character: 22 } });
    expect(hover).toBeNull();
    expect(await referencesWhen(client, root, (r) => r.includes('src/small.ts|small-key-2'))).toEqual(['src/a.ts|a-key', 'src/small.ts|small-key-2']);
    expect(peakMemoryIn(root)).toBeGreaterThan(0);
    expect(peakMemoryIn(root)).toBeLessThan(400 * 1024);
  });
});

// A batch of thousands of events (a large checkout) does not hold up requests until it is done.
describe('language server over stdio, a large batch of file events', () => {
  let root: string;
  let client: LspTestClient;
  const FILES = 300;

  beforeAll(async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < FILES; i++) {
      files[`src/d${i % 10}/f${i}.ts`] = call(`v1-${i % 20}`);
    }
    root = workspace(files);
    client = await LspTestClient.start(root, {});
    await client.indexed();
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers a request sent after the batch before the batch is done, and ends exact', async () => {
    for (let i = 0; i < FILES; i++) {
      write(root, `src/d${i % 10}/f${i}.ts`, i % 3 === 0 ? 'export const none = 1;\n' : call(`v2-${i % 20}`));
    }
    // Each file reported ten times over (a watcher that reports every write), the last batch's status counts the new references.
    const changes: [string, FileChangeType][] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < FILES; i++) {
        changes.push([`src/d${i % 10}/f${i}.ts`, FileChangeType.Changed]);
      }
    }
    const want = FILES - Math.ceil(FILES / 3);
    const statusesBefore = client.statuses.length;
    await sendEvents(client, root, changes);
    await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: client.uri('src/d1/f1.ts') }, position: { line: 0, character: 22 } });
    // The batch's own status (sent once it is done) had not come when the hover was answered.
    expect(client.statuses.slice(statusesBefore).some((s) => s.references === want)).toBe(false);
    const done = await client.until('the batch to be done', () => client.statuses.slice(statusesBefore).find((s) => s.references === want));
    expect(done.references).toBe(want);
    const refs = await references(client, root);
    expect(refs).toHaveLength(want);
    expect(refs.every((r) => r.includes('|v2-'))).toBe(true);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Hover, MarkupContent } from 'vscode-languageserver-protocol/node';
import { FileChangeType, HoverRequest } from 'vscode-languageserver-protocol/node';
import { FlagsRequest } from '@xp/language-server/protocol';
import { FIXTURE_FILES, FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '@xp/language-server/testing';
import { CommandId } from '../commands.js';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Manifest {
  name: string;
  publisher: string;
  main: string;
  engines: { vscode: string };
  contributes: { commands: { command: string }[]; views: { explorer: { id: string }[] }; configuration: { properties: Record<string, unknown> } };
}

/** Prints the exports of the CommonJS module argv[1] loaded with a stand-in `vscode` module (a class for every name). */
const LOAD_WITH_FAKE_VSCODE = `
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? new Proxy({}, { get: () => class {} }) : load.call(this, request, ...rest);
};
const m = require(process.argv[1]);
process.stdout.write(JSON.stringify({ activate: typeof m.activate, deactivate: typeof m.deactivate, names: [m.activate.name, m.deactivate.name] }));
`;

// Builds the real .vsix with vsce (as CI does), then checks its manifest and runs the server it ships.
describe('the .vsix package', () => {
  const extracted = mkdtempSync(path.join(tmpdir(), 'xp-vsix-'));
  const workspaces: string[] = [];
  afterAll(() => {
    for (const dir of [extracted, ...workspaces]) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds with vsce and carries a valid manifest, the bundled extension and the server', { timeout: 240_000 }, async () => {
    execFileSync(process.execPath, [path.join(pkgDir, 'scripts', 'package.mjs')], { cwd: pkgDir, stdio: 'pipe' });
    const manifestVersion = (JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
    const vsix = path.join(pkgDir, 'dist', `xp-vscode-${manifestVersion}.vsix`);
    execFileSync('unzip', ['-q', '-o', vsix, '-d', extracted]);

    const manifest = JSON.parse(readFileSync(path.join(extracted, 'extension', 'package.json'), 'utf8')) as Manifest;
    expect(manifest.name).toBe('xp-vscode');
    expect(manifest.publisher).toBe('xp');
    expect(manifest.engines.vscode).toMatch(/^\^1\.\d+\.0$/);
    expect(manifest.main).toBe('./dist/extension.cjs');
    expect(manifest.contributes.commands.map((c) => c.command).sort()).toEqual(Object.values(CommandId).sort());
    expect(manifest.contributes.views.explorer.map((v) => v.id)).toEqual(['xp.flags']);
    expect(Object.keys(manifest.contributes.configuration.properties).sort()).toEqual(['xp.apiUrl', 'xp.consoleUrl', 'xp.environment', 'xp.flagsFile', 'xp.project', 'xp.wrapperFunctions']);
    // The extension's bundle is minified (a few lines, not one per statement), ships no source map,
    // and still loads: a stand-in for the vscode module, which only VS Code provides.
    const bundle = path.join(extracted, 'extension', 'dist', 'extension.cjs');
    expect(readFileSync(bundle, 'utf8').split('\n').length).toBeLessThan(200);
    expect(readFileSync(bundle, 'utf8')).not.toContain('sourceMappingURL');
    const loaded = execFileSync(process.execPath, ['-e', LOAD_WITH_FAKE_VSCODE, bundle], { encoding: 'utf8' });
    expect(JSON.parse(loaded)).toEqual({ activate: 'function', deactivate: 'function', names: ['activate', 'deactivate'] });
    const xml = readFileSync(path.join(extracted, 'extension.vsixmanifest'), 'utf8');
    expect(xml).toContain('Id="xp-vscode"');

    // The licenses of the third-party code bundled into it travel with it.
    const notices = readFileSync(path.join(extracted, 'extension', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    const headings = notices.split('\n').filter((line) => /^\S+ \d+\.\d+\.\d+ \(.+\)$/.test(line)).map((line) => line.split(' ')[0]);
    for (const name of ['vscode-languageclient', 'vscode-languageserver', 'vscode-jsonrpc', 'semver', 'minimatch', 'zod', 'yaml', 'ignore', '@vscode/tree-sitter-wasm']) {
      expect(headings).toContain(name);
    }
    expect(notices).toContain('Permission is hereby granted, free of charge');
    expect(notices).toContain('Blue Oak Model License');

    // The shipped server runs from the extracted package alone: no workspace, no network.
    const root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    workspaces.push(root);
    // The fixture's .gitignore excludes dist/, whose bundle.js names ignored-flag.
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8')).toBe('dist/\n');
    expect(readFileSync(path.join(root, 'dist', 'bundle.js'), 'utf8')).toContain('ignored-flag');
    const client = await LspTestClient.start(root, { environment: 'production' }, path.join(extracted, 'extension', 'server', 'server.mjs'));
    try {
      await client.indexed();
      // .gitignore files apply (the `ignore` package is bundled, not looked up at run time).
      const flags = (await client.connection.sendRequest(FlagsRequest)).flags;
      expect(flags.map((f) => f.key)).not.toContain('ignored-flag');
      expect(flags.flatMap((f) => f.references.map((r) => r.uri)).filter((uri) => uri.includes('/dist/'))).toEqual([]);
      expect(flags.find((f) => f.key === 'checkout-v2')?.references.length).toBeGreaterThan(1);
      // The extension has no file watcher of its own: the server registers them with VS Code's client.
      await client.until('file watchers', () => (client.watchers().length > 0 ? true : undefined));
      expect((await client.fileEvents([{ rel: 'web/checkout.ts', type: FileChangeType.Changed }, { rel: 'flags.yaml', type: FileChangeType.Changed }])).length).toBe(2);
      const uri = await client.open('svc/main.go', FIXTURE_FILES['svc/main.go']!, 'go');
      const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 5, character: 22 } })) as Hover;
      expect((h.contents as MarkupContent).value).toContain('**Checkout v2** `checkout-v2`');
      expect(client.stderr).toEqual([]);
    } finally {
      await client.stop();
    }
  });
});

// `npm run package -w vscode-extension`: bundles the extension (CommonJS, as VS Code loads it) and the
// language server (ESM, with the tree-sitter runtime and grammars beside it) into a staging folder,
// then runs vsce there. The .vsix needs no network and no node_modules at install time.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, '..');
const repo = path.resolve(pkgDir, '..');
const stage = path.join(pkgDir, 'dist', 'vsix');
const require = createRequire(import.meta.url);
const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const common = { bundle: true, platform: 'node', target: 'node20', conditions: ['xp-source'], logLevel: 'warning', legalComments: 'none' };
await build({ ...common, entryPoints: [path.join(pkgDir, 'src', 'extension.ts')], outfile: path.join(stage, 'dist', 'extension.cjs'), format: 'cjs', external: ['vscode'] });
await build({
  ...common,
  entryPoints: [path.join(repo, 'language-server', 'src', 'bin.ts')],
  outfile: path.join(stage, 'server', 'server.mjs'),
  format: 'esm',
  external: ['@vscode/tree-sitter-wasm'],
  // CommonJS dependencies bundled into ESM still call require for Node built-ins.
  banner: { js: "import { createRequire as __xpCreateRequire } from 'node:module'; const require = __xpCreateRequire(import.meta.url);" },
});

await build({
  ...common,
  entryPoints: [path.join(repo, 'language-server', 'src', 'indexer', 'index-worker.ts')],
  outfile: path.join(stage, 'server', 'index-worker.js'),
  format: 'esm',
  external: ['@vscode/tree-sitter-wasm'],
  banner: { js: "import { createRequire as __xpCreateRequire } from 'node:module'; const require = __xpCreateRequire(import.meta.url);" },
});

const wasmSrc = path.dirname(require.resolve('@vscode/tree-sitter-wasm'));
const wasmDest = path.join(stage, 'server', 'node_modules', '@vscode', 'tree-sitter-wasm');
mkdirSync(path.join(wasmDest, 'wasm'), { recursive: true });
for (const file of ['package.json', 'LICENSE']) {
  cpSync(path.join(wasmSrc, '..', file), path.join(wasmDest, file));
}
for (const file of ['tree-sitter.js', 'tree-sitter.wasm', ...['typescript', 'tsx', 'javascript', 'python', 'go', 'java'].map((l) => `tree-sitter-${l}.wasm`)]) {
  cpSync(path.join(wasmSrc, file), path.join(wasmDest, 'wasm', file));
}

// "type": "module" stays: the server and its worker are ESM .js/.mjs; the extension is .cjs.
const { dependencies: _d, devDependencies: _dd, exports: _e, files: _f, scripts: _s, private: _p, ...vsixManifest } = manifest;
writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify({ ...vsixManifest, name: 'xp-vscode' }, null, 2)}\n`);
cpSync(path.join(repo, 'LICENSE'), path.join(stage, 'LICENSE'));
cpSync(path.join(pkgDir, 'README.md'), path.join(stage, 'README.md'));
writeFileSync(path.join(stage, '.vscodeignore'), '');

const out = path.join(pkgDir, 'dist', `xp-vscode-${manifest.version}.vsix`);
const vsce = path.join(path.dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');
execFileSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--out', out], { cwd: stage, stdio: 'inherit' });
console.log(`Built ${path.relative(repo, out)}`);

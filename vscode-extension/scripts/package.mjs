// `npm run package -w vscode-extension`: bundles the extension (CommonJS, as VS Code loads it) and the
// language server (ESM, with the tree-sitter runtime and grammars beside it) into a staging folder,
// then runs vsce there. The .vsix needs no network and no node_modules at install time.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// legalComments 'eof': the license comments (/*! ... */, @license) of bundled code stay in the bundles;
// most packages carry their license in a file instead, which THIRD-PARTY-NOTICES.txt reproduces.
const common = { bundle: true, platform: 'node', target: 'node20', conditions: ['xp-source'], logLevel: 'warning', legalComments: 'eof', metafile: true, absWorkingDir: pkgDir };
// The node_modules packages each bundle was built from, for the notices.
const bundled = new Set();
const built = async (options) => {
  const result = await build(options);
  for (const input of Object.keys(result.metafile.inputs)) {
    const root = packageRoot(path.resolve(pkgDir, input));
    if (root !== undefined) {
      bundled.add(root);
    }
  }
};
// The extension bundle is minified (VS Code reads it at every activation); keepNames keeps function
// and class names (`.name`, and stack traces in the error messages users report). No source map is
// shipped. The server's bundles stay readable: their stack traces go to the output channel.
await built({ ...common, entryPoints: [path.join(pkgDir, 'src', 'extension.ts')], outfile: path.join(stage, 'dist', 'extension.cjs'), format: 'cjs', external: ['vscode'], minify: true, keepNames: true });
await built({
  ...common,
  entryPoints: [path.join(repo, 'language-server', 'src', 'bin.ts')],
  outfile: path.join(stage, 'server', 'server.mjs'),
  format: 'esm',
  external: ['@vscode/tree-sitter-wasm'],
  // CommonJS dependencies bundled into ESM still call require for Node built-ins.
  banner: { js: "import { createRequire as __xpCreateRequire } from 'node:module'; const require = __xpCreateRequire(import.meta.url);" },
});

await built({
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

bundled.add(path.resolve(wasmSrc, '..'));
writeFileSync(path.join(stage, 'THIRD-PARTY-NOTICES.txt'), thirdPartyNotices([...bundled]));

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

/** The folder of the node_modules package `file` belongs to, or undefined for the repository's own code. */
function packageRoot(file) {
  const parts = file.split(path.sep);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) {
    return undefined;
  }
  return parts.slice(0, at + (parts[at + 1]?.startsWith('@') ? 3 : 2)).join(path.sep);
}

/**
 * The notices of the third-party packages the .vsix ships (bundled, or copied as the tree-sitter
 * runtime is): each one's name, version, license and license file. A package without a license file
 * stops the build: its notice would be lost.
 */
function thirdPartyNotices(roots) {
  const packages = roots.map((root) => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const files = readdirSync(root).filter((f) => /^(licen[cs]e|copying|notice)\b/i.test(f)).sort();
    if (files.length === 0) {
      throw new Error(`${pkg.name}@${pkg.version} (${root}) has no license file to reproduce in THIRD-PARTY-NOTICES.txt`);
    }
    return { name: pkg.name, version: pkg.version, license: typeof pkg.license === 'string' ? pkg.license : 'see below', texts: files.map((f) => readFileSync(path.join(root, f), 'utf8').trim()) };
  });
  packages.sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name < b.name ? -1 : 1));
  const rule = '-'.repeat(78);
  return [
    'xp for VS Code includes the following third-party software, bundled into dist/extension.cjs,',
    'server/server.mjs and server/index-worker.js, or shipped under server/node_modules.',
    '',
    ...packages.flatMap((p) => [rule, `${p.name} ${p.version} (${p.license})`, rule, '', ...p.texts.flatMap((t) => [t, '']), '']),
  ].join('\n');
}

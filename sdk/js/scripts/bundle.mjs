// The browser SDK as single files for pages without a bundler: dist/xp-sdk.browser.js (a classic
// script defining the global `xp`) and dist/xp-sdk.browser.mjs (one ES module), minified, with
// @xp/shared's evaluator inlined. `npm run build` runs it after `tsc --build`.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Writes both files into `outDir` (default dist/) from the compiled entry; returns their paths. */
export async function bundleBrowserSdk(outDir = path.join(ROOT, 'dist')) {
  await mkdir(outDir, { recursive: true });
  const entry = path.join(ROOT, 'dist', 'browser.js');
  const common = { entryPoints: [entry], bundle: true, minify: true, platform: 'browser', target: 'es2020', legalComments: 'none', logLevel: 'warning' };
  const script = path.join(outDir, 'xp-sdk.browser.js');
  const module = path.join(outDir, 'xp-sdk.browser.mjs');
  await build({ ...common, format: 'iife', globalName: 'xp', outfile: script });
  await build({ ...common, format: 'esm', outfile: module });
  return { script, module };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { script, module } = await bundleBrowserSdk(process.argv[2]);
  console.log(`browser SDK: ${path.relative(process.cwd(), script)}, ${path.relative(process.cwd(), module)}`);
}

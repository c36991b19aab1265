/**
 * The evaluation Lambda's cold-start budget: its esbuild bundle (minified, as deployed) against the
 * 300 kB target, and module-init time (a fresh `node` importing the bundle, timed around `import()`)
 * against the 50 ms target. Reports; never fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BUNDLE_TARGET_BYTES = 300_000;
export const INIT_TARGET_MS = 50;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The bundler in cloud's build output (cloud exports only its runtime API). */
interface Bundling {
  bundleFunction(entry: 'evaluation', outdir: string): Promise<{ readonly file: string }>;
}

export interface LambdaBenchResult {
  readonly bytes: number;
  readonly initMs: number[];
  readonly medianInitMs: number;
  /** The bundle's own init, with the runtime's AWS SDK already loaded. */
  readonly medianOwnInitMs: number;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The runtime-provided modules the bundle imports (external to it). */
const EXTERNALS = ['@aws-sdk/client-dynamodb', '@aws-sdk/client-kinesis', '@smithy/node-http-handler'];

/** Module-init time of `file` in a fresh Node process, in ms; with `preload`, the AWS SDK is loaded before the clock starts. */
function initTime(file: string, preload = false): number {
  const warm = preload ? EXTERNALS.map((m) => `await import(${JSON.stringify(m)});`).join(' ') : '';
  const script = `${warm} const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, AWS_REGION: 'us-east-1' } }));
}

export async function runLambdaBench(runs = 5): Promise<LambdaBenchResult> {
  const bundling = (await import(pathToFileURL(path.join(ROOT, 'cloud', 'dist', 'infra', 'bundling.js')).href)) as Bundling;
  // Under the repository, so the bundle's externals (the AWS SDK, which Lambda provides) resolve from node_modules.
  const outdir = path.join(ROOT, 'node_modules', '.cache', 'xp-lambda-bench', 'evaluation');
  // Fresh each run: chunk names carry content hashes, so old chunks would linger and be counted.
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const { file } = await bundling.bundleFunction('evaluation', outdir);
  // What module init loads: the entry plus the chunks it imports statically (chunks behind an
  // import(), such as the Redis client used only when REDIS_URL is set, are reported apart).
  const eager = new Set<string>([file]);
  for (const f of eager) {
    for (const m of readFileSync(f, 'utf8').matchAll(/(?<![.\w])(?:from|import)\s*"(\.\.?\/[^"]+\.mjs)"/g)) {
      eager.add(path.resolve(path.dirname(f), m[1]!));
    }
  }
  const all = readdirSync(path.dirname(file), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mjs')).map((f) => path.join(path.dirname(file), f));
  const bytes = [...eager].reduce((sum, f) => sum + statSync(f).size, 0);
  const lazyBytes = all.filter((f) => !eager.has(f)).reduce((sum, f) => sum + statSync(f).size, 0);
  initTime(file);
  const initMs = Array.from({ length: runs }, () => initTime(file));
  const medianInitMs = median(initMs);
  const medianOwnInitMs = median(Array.from({ length: runs }, () => initTime(file, true)));

  console.log('\nEvaluation Lambda cold start (esbuild, minified ESM, AWS SDK external)');
  console.log(`  bundle       ${(bytes / 1000).toFixed(1)} kB in ${eager.size} file(s) loaded at init   target ${BUNDLE_TARGET_BYTES / 1000} kB   ratio ${(bytes / BUNDLE_TARGET_BYTES).toFixed(2)}`);
  console.log(`               + ${(lazyBytes / 1000).toFixed(1)} kB of chunks loaded only on use (the Redis client, with REDIS_URL)`);
  console.log(`  module init  ${medianInitMs.toFixed(1)} ms (median of ${runs}; ${initMs.map((m) => m.toFixed(1)).join(', ')})   target ${INIT_TARGET_MS} ms   ratio ${(medianInitMs / INIT_TARGET_MS).toFixed(2)}`);
  console.log(`  of which the bundle itself ${medianOwnInitMs.toFixed(1)} ms (AWS SDK clients preloaded)   ratio ${(medianOwnInitMs / INIT_TARGET_MS).toFixed(2)}`);
  return { bytes, initMs, medianInitMs, medianOwnInitMs };
}

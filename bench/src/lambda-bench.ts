/**
 * The evaluation Lambda's cold-start budget: its esbuild bundle (minified, as deployed) against the
 * 300 kB target, and module-init time (a fresh `node` importing the bundle, timed around `import()`)
 * against the 50 ms target. Also reported: what the first invocation loads on top (the pg driver,
 * imported with the database connection), so work moved out of init is not hidden. Reports; never fails.
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
  /** Bare (package) imports the bundle makes at init: modules the runtime must provide and load. */
  readonly eagerExternals: readonly string[];
  /** Importing what the first invocation loads (the database driver's chunk, node:https), after init. */
  readonly medianFirstUseMs: number;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Module-init time of `file` in a fresh Node process, in ms; with `then`, the time to import those chunks afterwards instead. */
function initTime(file: string, then: readonly string[] = []): number {
  const url = (f: string): string => JSON.stringify(pathToFileURL(f).href);
  const script =
    then.length === 0
      ? `const t = performance.now(); await import(${url(file)}); process.stdout.write(String(performance.now() - t));`
      : `await import(${url(file)}); const t = performance.now(); ${then.map((f) => `await import(${f.startsWith('node:') ? JSON.stringify(f) : url(f)});`).join(' ')} process.stdout.write(String(performance.now() - t));`;
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
  const eagerExternals = new Set<string>();
  for (const f of eager) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?<![.\w])(?:from|import)\s*"(\.\.?\/[^"]+\.mjs)"/g)) {
      eager.add(path.resolve(path.dirname(f), m[1]!));
    }
    // Static imports of packages (not node: builtins, not behind import()).
    for (const m of text.matchAll(/(?<![.\w])(?:from|import)\s*"((?!node:)(?!\.)[^"]+)"/g)) {
      eagerExternals.add(m[1]!);
    }
  }
  const all = readdirSync(path.dirname(file), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mjs')).map((f) => path.join(path.dirname(file), f));
  const bytes = [...eager].reduce((sum, f) => sum + statSync(f).size, 0);
  const lazyBytes = all.filter((f) => !eager.has(f)).reduce((sum, f) => sum + statSync(f).size, 0);
  initTime(file);
  const initMs = Array.from({ length: runs }, () => initTime(file));
  const medianInitMs = median(initMs);
  const firstUse = all.filter((f) => path.basename(f).startsWith('db-'));
  const firstUseBytes = firstUse.reduce((sum, f) => sum + statSync(f).size, 0);
  // In AWS the first DynamoDB call also loads node:https (TLS); locally the stand-ins speak plain HTTP.
  const medianFirstUseMs = median(Array.from({ length: runs }, () => initTime(file, [...firstUse, 'node:https'])));

  console.log('\nEvaluation Lambda cold start (esbuild, minified ESM, AWS SDK external)');
  console.log(`  bundle       ${(bytes / 1000).toFixed(1)} kB in ${eager.size} file(s) loaded at init   target ${BUNDLE_TARGET_BYTES / 1000} kB   ratio ${(bytes / BUNDLE_TARGET_BYTES).toFixed(2)}`);
  console.log(`               + ${(lazyBytes / 1000).toFixed(1)} kB of chunks loaded on use: ${(firstUseBytes / 1000).toFixed(1)} kB with the database connection (pg), the rest only with REDIS_URL`);
  console.log(`  module init  ${medianInitMs.toFixed(1)} ms (median of ${runs}; ${initMs.map((m) => m.toFixed(1)).join(', ')})   target ${INIT_TARGET_MS} ms   ratio ${(medianInitMs / INIT_TARGET_MS).toFixed(2)}`);
  console.log(`               packages imported at init: ${eagerExternals.size === 0 ? 'none (DynamoDB and Kinesis through aws-json.ts, no AWS SDK)' : [...eagerExternals].join(', ')}`);
  console.log(`  first invocation also imports the pg chunk and node:https: ${medianFirstUseMs.toFixed(1)} ms (median of ${runs}; then reads the secret and connects)`);
  return { bytes, initMs, medianInitMs, eagerExternals: [...eagerExternals], medianFirstUseMs };
}

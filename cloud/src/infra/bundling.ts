/**
 * How the Lambda entry points are bundled: esbuild, run in-process (no Docker), minified ESM for
 * Node 20+ on arm64, with source maps. The AWS SDK v3 is left to the Lambda runtime, which ships it.
 * Used by the project function construct at synth time and by `npm run bench`.
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { BuildOptions, Plugin } from 'esbuild';
import { build } from 'esbuild';

/** Every Lambda entry point, by name (the file cloud/src/functions/<name>.ts). */
export const FunctionEntry = {
  /** The management API (Hono app behind API Gateway). */
  Api: 'api',
  /** The latency-optimised SDK endpoints. */
  Evaluation: 'evaluation',
  /** The Kinesis consumer writing aggregates to PostgreSQL. */
  Aggregator: 'aggregator',
  /** The custom resource applying migrations on deploy. */
  Migrate: 'migrate',
  /** Switches flags off when their guardrail alarm fires. */
  AlarmRollback: 'alarm-rollback',
  /** Copies error lines and background services' lines into the shared log groups. */
  LogForwarder: 'log-forwarder',
  /** The scheduled statistical guardrail check of running experiments. */
  GuardrailCheck: 'guardrail-check',
  /** The scheduled webhook dispatcher (in the VPC): claims due deliveries and records outcomes. */
  WebhookDispatch: 'webhook-dispatch',
  /** Sends one webhook request from outside the VPC, for the dispatcher. */
  WebhookSender: 'webhook-sender',
  /** Sends the API's requests to the SSO identity provider from outside the VPC (only with `sso`). */
  SsoEgress: 'sso-egress',
} as const;
export type FunctionEntry = (typeof FunctionEntry)[keyof typeof FunctionEntry];

/** cloud/ (this file is cloud/src/infra/bundling.ts, or cloud/dist/infra/bundling.js once built). */
export const CLOUD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The output file name; the handler is `index.handler`. */
export const BUNDLE_FILE = 'index.mjs';

// Bundled ESM still runs CommonJS dependencies (pg) that call require().
const REQUIRE_SHIM = "import{createRequire as __xpCreateRequire}from'node:module';const require=__xpCreateRequire(import.meta.url);";

/** How a stubbed module is replaced. */
type StubKind = 'empty' | 'throwing' | 'no-pgpass';

/**
 * Modules replaced in a bundle. zod's ~40 message locales go from every bundle (xp speaks English,
 * which zod loads separately). The evaluation function also drops zod's JSON Schema conversion and
 * ahead-of-time compiler (only the management API's OpenAPI document uses them; each export becomes
 * a function returning a thrower, so code that merely wires them up still loads), pg's native
 * binding (never installed in Lambda) and ~/.pgpass lookup (credentials always come from the secret).
 */
const STUBBED: Readonly<Record<'all' | 'evaluation', readonly (readonly [string, StubKind])[]>> = {
  all: [[String.raw`[\/]zod[\/].*[\/]locales[\/]index\.js$`, 'empty']],
  evaluation: [
    [String.raw`[\/]zod[\/].*[\/](?:from-json-schema|to-json-schema|json-schema-processors|json-schema-generator|compile)\.js$`, 'throwing'],
    [String.raw`[\/]pg[\/]lib[\/]native[\/]index\.js$`, 'empty'],
    [String.raw`[\/]pgpass[\/]lib[\/]index\.js$`, 'no-pgpass'],
  ],
};

export function stubbedModules(entry: FunctionEntry): (readonly [string, StubKind])[] {
  return [...STUBBED.all, ...(entry === FunctionEntry.Evaluation ? STUBBED.evaluation : [])];
}

/**
 * The stub plugin. Self-contained (it is also serialised with `toString()` into the child process
 * of `bundleFunctionSync`), so it refers to nothing outside its parameters.
 */
function stubPlugin(patterns: readonly (readonly [string, StubKind])[], read: (file: string, encoding: 'utf8') => string): Plugin {
  return {
    name: 'xp-stubs',
    setup(b) {
      for (const [source, kind] of patterns) {
        b.onLoad({ filter: new RegExp(source) }, (args) => {
          if (kind === 'no-pgpass') {
            return { contents: 'module.exports = function (_connection, callback) { callback(undefined); };', loader: 'js' };
          }
          const text = read(args.path, 'utf8');
          if (!/\bexport\b/.test(text)) {
            return { contents: 'module.exports = undefined;', loader: 'js' };
          }
          if (kind === 'empty') {
            return { contents: 'export {};', loader: 'js' };
          }
          const names = new Set<string>();
          for (const m of text.matchAll(/export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)/g)) {
            names.add(m[1]!);
          }
          for (const m of text.matchAll(/export\s*\{([^}]*)\}/g)) {
            for (const part of m[1]!.split(',')) {
              const name = part.trim().split(/\s+as\s+/).pop();
              if (name !== undefined && name !== '') {
                names.add(name);
              }
            }
          }
          const body = [...names].map((n) => `export function ${n}() { return () => { throw new Error("not in this bundle"); }; }`).join('\n');
          return { contents: body === '' ? 'export {};' : body, loader: 'js' };
        });
      }
    },
  };
}

export function entryPath(entry: FunctionEntry): string {
  return path.join(CLOUD_DIR, 'src', 'functions', `${entry}.ts`);
}

/** The esbuild options for one entry point (without plugins, which only the JS API accepts). */
export function bundleOptions(entry: FunctionEntry, outdir: string): BuildOptions {
  return {
    entryPoints: { index: entryPath(entry) },
    outdir,
    outExtension: { '.js': '.mjs' },
    // Modules behind a dynamic import() (Redis, when REDIS_URL is set) become chunks of their own,
    // loaded only when used, so they cost neither bundle size nor module init otherwise.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    minify: true,
    sourcemap: true,
    // Stack traces point into the TypeScript sources, not the minified bundle.
    sourcesContent: false,
    platform: 'node',
    // The functions' runtime (xp-function.ts: nodejs24.x).
    target: 'node24',
    charset: 'utf8',
    format: 'esm',
    // Packages resolve to their TypeScript sources (the `xp-source` export condition).
    conditions: ['xp-source'],
    mainFields: ['module', 'main'],
    banner: { js: REQUIRE_SHIM },
    // The runtime's SDK; PGlite and pg-native are never used in Lambda.
    external: ['@aws-sdk/*', '@smithy/*', '@electric-sql/pglite', 'pg-native'],
    legalComments: 'none',
    logLevel: 'silent',
  };
}

function copyTree(from: string, to: string, filter: (name: string) => boolean = () => true): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const source = path.join(from, name);
    if (statSync(source).isFile() && filter(name)) {
      copyFileSync(source, path.join(to, name));
    }
  }
}

/** Files an entry reads at run time besides its bundle. */
function copyRuntimeFiles(entry: FunctionEntry, outdir: string): void {
  if (entry === FunctionEntry.Api) {
    // The docs UI serves swagger-ui's assets, which the app finds through require.resolve.
    const require = createRequire(path.join(CLOUD_DIR, 'package.json'));
    const swagger = path.dirname(require.resolve('swagger-ui-dist/package.json'));
    copyTree(swagger, path.join(outdir, 'node_modules', 'swagger-ui-dist'), (name) => ['package.json', 'swagger-ui.css', 'swagger-ui-bundle.js'].includes(name));
  }
  if (entry === FunctionEntry.Migrate) {
    copyTree(path.join(CLOUD_DIR, 'migrations'), path.join(outdir, 'migrations'), (name) => name.endsWith('.sql'));
  }
}

/** Bundles one entry point into `outdir`. */
export async function bundleFunction(entry: FunctionEntry, outdir: string): Promise<{ readonly file: string }> {
  await build({ ...bundleOptions(entry, outdir), plugins: [stubPlugin(stubbedModules(entry), (file, encoding) => readFileSync(file, encoding))] });
  copyRuntimeFiles(entry, outdir);
  return { file: path.join(outdir, BUNDLE_FILE) };
}

/**
 * The same, synchronously, for CDK's local bundling hook: esbuild's synchronous API takes no
 * plugins, so a child Node process runs the asynchronous build.
 */
export function bundleFunctionSync(entry: FunctionEntry, outdir: string): { readonly file: string } {
  const script = `import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
const [options, patterns] = JSON.parse(process.argv[1]);
await build({ ...options, plugins: [(${stubPlugin.toString()})(patterns, readFileSync)] });`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([bundleOptions(entry, outdir), stubbedModules(entry)])], { cwd: CLOUD_DIR, stdio: 'inherit' });
  copyRuntimeFiles(entry, outdir);
  return { file: path.join(outdir, BUNDLE_FILE) };
}

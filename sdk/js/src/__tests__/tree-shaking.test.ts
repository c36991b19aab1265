import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The bytes a bundler (esbuild, as an app's build would run it) emits for an app importing `source`. */
async function bundledSize(dir: string, source: string): Promise<number> {
  const entry = path.join(dir, `entry-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(entry, source);
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    // Resolved through node_modules, as an app resolves the package: dist files and package.json.
    nodePaths: [path.join(ROOT, 'node_modules')],
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.contents.length;
}

describe('tree-shaking of @xp/sdk (package.json "sideEffects": false)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(ROOT, 'node_modules', '.xp-tree-shaking-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves the client out of an app that imports only constants, and keeps it for one that uses it', async () => {
    const constantsOnly = await bundledSize(dir, "import { ClientStatus } from '@xp/sdk/browser';\nconsole.log(ClientStatus.Ready);\n");
    const client = await bundledSize(dir, "import { ExperimentationClient } from '@xp/sdk/browser';\nconsole.log(new ExperimentationClient('k', { apiUrl: 'https://xp.example' }));\n");

    // Without the declaration every module of the entry is kept: about 84 KB minified either way.
    expect(constantsOnly).toBeLessThan(2_000);
    expect(client).toBeGreaterThan(20_000);
  });
});

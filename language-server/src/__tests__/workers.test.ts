import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type * as Indexer from '../indexer/index.js';
import { FIXTURE_FILES, writeFixtureWorkspace } from '../testing/index.js';

// Worker threads run the compiled indexer, so this test loads the build (like the stdio tests).
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/indexer/index.js');

describe('parallel cold index', () => {
  const root = writeFixtureWorkspace();
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('finds the same references with worker threads as in one thread', async () => {
    expect(existsSync(DIST), 'run `npx tsc --build` first').toBe(true);
    const { WorkspaceIndex } = (await import(pathToFileURL(DIST).href)) as typeof Indexer;
    // Enough files for the index to fan out: 120 copies of each fixture source.
    for (let copy = 0; copy < 120; copy++) {
      for (const [rel, text] of Object.entries(FIXTURE_FILES)) {
        if (/\.(ts|tsx|js|py|go|java)$/.test(rel) && !rel.startsWith('dist/') && !rel.startsWith('node_modules/')) {
          const file = path.join(root, `copy${copy}`, rel);
          mkdirSync(path.dirname(file), { recursive: true });
          writeFileSync(file, text);
        }
      }
    }
    const serial = new WorkspaceIndex(root, { wrapperFunctions: ['useFlag'] });
    await serial.indexAll();
    const parallel = new WorkspaceIndex(root, { wrapperFunctions: ['useFlag'], workers: 2 });
    const progress: number[] = [];
    await parallel.indexAll((p) => progress.push(p.done));

    const key = (r: Indexer.FlagReference): string => `${r.file}:${r.range.start.line}:${r.range.start.character}:${r.flagKey}:${r.compared.map((c) => c.name).join(',')}:${JSON.stringify(r.defaultValue ?? null)}`;
    expect(parallel.references().map(key).sort()).toEqual(serial.references().map(key).sort());
    // Default arguments come back from the workers as they were found (the fixtures' OpenFeature calls pass `false`).
    expect(parallel.references().filter((r) => r.defaultValue?.kind === 'boolean')).toHaveLength(2 * 121);
    expect(serial.references().length).toBe(121 * 15);
    expect(progress.at(-1)).toBe(121 * 6);
  });

  it('indexes a workspace too small to share out in this thread, workers stopped', async () => {
    const small = writeFixtureWorkspace();
    try {
      const { WorkspaceIndex } = (await import(pathToFileURL(DIST).href)) as typeof Indexer;
      const serial = new WorkspaceIndex(small, { wrapperFunctions: ['useFlag'] });
      await serial.indexAll();
      const parallel = new WorkspaceIndex(small, { wrapperFunctions: ['useFlag'], workers: 2 });
      expect(await parallel.indexAll()).toBe(true);
      const key = (r: Indexer.FlagReference): string => `${r.file}:${r.range.start.line}:${r.range.start.character}:${r.flagKey}`;
      expect(parallel.references().map(key).sort()).toEqual(serial.references().map(key).sort());
      expect(serial.references()).toHaveLength(15);
    } finally {
      rmSync(small, { recursive: true, force: true });
    }
  });
});

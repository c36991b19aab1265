import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkspaceIndex } from '../indexer/index.js';

// Updates (file events, open documents) applied while the cold index runs are newer than what it read.
describe('WorkspaceIndex updated while indexAll runs', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) {
      rmSync(r, { recursive: true, force: true });
    }
  });

  it('keeps every removal and re-index made after it read the files, over what it read', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'xp-index-updates-'));
    roots.push(root);
    // A constant key needs a parse: read while listing, parsed once every file is listed.
    const parsed = (key: string): string => `const K = '${key}';\nclient.getVariant(K, user);\n`;
    const files: string[] = [];
    for (let i = 0; i < 200; i++) {
      const file = path.join(root, `d${i % 4}`, `f${i}.ts`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, i % 2 === 0 ? parsed(`old-${i % 5}`) : `export const x${i} = ${i};\n`);
      files.push(file);
    }
    const index = new WorkspaceIndex(root);
    const updates: Promise<unknown>[] = [];
    let updated = false;
    const completed = await index.indexAll((p) => {
      // Once the first files were read, before any of them was parsed: a folder deleted, files deleted and rewritten.
      if (updated || p.done === 0) {
        return;
      }
      updated = true;
      rmSync(path.join(root, 'd0'), { recursive: true });
      index.removeUnderAny(new Set([path.join(root, 'd0')]));
      for (const file of files.filter((f) => !f.includes(`${path.sep}d0${path.sep}`))) {
        if (Number(/f(\d+)\.ts$/.exec(file)![1]) % 4 === 2) {
          rmSync(file);
          index.remove(file);
        } else {
          writeFileSync(file, parsed('new'));
          updates.push(index.indexText(file, parsed('new')));
        }
      }
    });
    await Promise.all(updates);
    expect(completed).toBe(true);
    expect(updated).toBe(true);
    // d0 held f0, f4…: gone; of the rest, f2, f6… deleted; the odd files now say 'new'.
    const refs = index.references();
    expect(refs.filter((r) => r.flagKey.startsWith('old-'))).toEqual([]);
    expect(refs.filter((r) => r.file.includes(`${path.sep}d0${path.sep}`))).toEqual([]);
    expect(refs).toHaveLength(100);
  });
});

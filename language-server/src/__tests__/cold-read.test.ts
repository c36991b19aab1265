/**
 * The cold index reads files as bytes and pre-filters them before decoding (source-reader.ts): it
 * must index exactly what indexing each file's decoded text finds, whatever the encoding, size or
 * method names involved.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlagReference } from '../indexer/index.js';
import { WorkspaceIndex } from '../indexer/index.js';

const key = (r: FlagReference): string => `${path.basename(r.file)}:${r.range.start.line}:${r.range.start.character}:${r.flagKey}:${r.method}`;

describe('cold index reading', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root !== undefined) {
      rmSync(root, { recursive: true, force: true });
    }
  });

  function workspace(files: Readonly<Record<string, string>>): string {
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-read-'));
    for (const [rel, text] of Object.entries(files)) {
      writeFileSync(path.join(root, rel), text);
    }
    return root;
  }

  /** What indexText finds file by file, for comparison with indexAll. */
  async function byText(dir: string, files: Readonly<Record<string, string>>, options: ConstructorParameters<typeof WorkspaceIndex>[1]): Promise<string[]> {
    const index = new WorkspaceIndex(dir, options);
    for (const [rel, text] of Object.entries(files)) {
      const file = path.join(dir, rel);
      const settled = await index.indexText(file, text);
      if (text.length > (options?.maxFileSize ?? Infinity)) {
        expect(settled.references).toEqual([]);
      }
    }
    return index.references().map(key).sort();
  }

  it('finds calls after non-ASCII text at their UTF-16 columns', async () => {
    const files = {
      'a.ts': "// naïve café ключ 🚀\nconst s = 'ключ🚀'; client.getVariant('k-1', u);\n",
      'b.py': '# ñ\nif client.is_feature_enabled("k-2", user):  # é\n    pass\n',
      'c.go': 'package x\n\n// ü\nfunc f() { _ = c.IsFeatureEnabled("k-3", u) }\n',
    };
    const dir = workspace(files);
    const index = new WorkspaceIndex(dir);
    await index.indexAll();
    expect(index.references().map(key).sort()).toEqual(await byText(dir, files, {}));
    const ts = index.references().find((r) => r.flagKey === 'k-1');
    // 'ключ🚀' is six UTF-16 units (the emoji is two) but eleven bytes.
    expect(ts?.range.start).toEqual({ line: 1, character: 38 });
  });

  it('applies the size limit to characters, not bytes', async () => {
    const call = "client.getVariant('big', u);\n";
    // 300 two-byte characters: 600 bytes, 300 characters.
    const accented = `// ${'é'.repeat(300)}\n${call}`;
    const long = `// ${'x'.repeat(400)}\n${call}`;
    const files = { 'accented.ts': accented, 'long.ts': long };
    const dir = workspace(files);
    const maxFileSize = 350;
    expect(Buffer.byteLength(accented)).toBeGreaterThan(maxFileSize);
    expect(accented.length).toBeLessThanOrEqual(maxFileSize);
    const index = new WorkspaceIndex(dir, { maxFileSize });
    await index.indexAll();
    const found = index.references().map(key).sort();
    expect(found).toEqual(await byText(dir, files, { maxFileSize }));
    expect(found.map((k) => k.split(':')[0])).toEqual(['accented.ts']);
  });

  it('reads files larger than its buffer whole', async () => {
    // Past the reader's 256 KiB initial buffer, with the call at the end.
    const text = `${'const filler = 1;\n'.repeat(40_000)}client.isFeatureEnabled('at-the-end', u);\n`;
    const files = { 'huge.js': text };
    const dir = workspace(files);
    const index = new WorkspaceIndex(dir);
    await index.indexAll();
    expect(index.references().map(key)).toEqual([`huge.js:40000:24:at-the-end:isFeatureEnabled`]);
    expect(index.references().map(key)).toEqual(await byText(dir, files, {}));
  });

  it('pre-filters by every method name, wrappers included', async () => {
    const files = {
      'wrapped.ts': "const on = useFlag('wrapped-flag');\n",
      'short.ts': "const on = ff('short-wrapper');\n",
      'plain.ts': 'const total = items.map((x) => x * 2);\n',
      'details.ts': "await client.getBooleanDetails('details-flag', false);\n",
    };
    const dir = workspace(files);
    const options = { wrapperFunctions: ['flags.useFlag', 'ff'] };
    const index = new WorkspaceIndex(dir, options);
    await index.indexAll();
    const found = index.references().map(key).sort();
    expect(found).toEqual(await byText(dir, files, options));
    expect(found.map((k) => k.split(':')[3])).toEqual(['details-flag', 'short-wrapper', 'wrapped-flag']);
  });

  it('skips binary files (a NUL byte near the start), as git and rg do, and indexes a NUL far into a text file', async () => {
    const files = {
      'bin.ts': 'abc\0\u0001\u0002client.getValue("new-checkout", u)\u00ff\0',
      'text.ts': `client.getValue('text-flag', u);\n// ${'x'.repeat(9000)}\0\n`,
    };
    const dir = workspace(files);
    const index = new WorkspaceIndex(dir);
    await index.indexAll();
    const found = index.references().map(key).sort();
    expect(found).toEqual(['text.ts:0:16:text-flag:getValue']);
    expect(found).toEqual(await byText(dir, files, {}));
  });
});

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SDK_METHODS } from '@xp/language-server/indexer';

const manifestFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');

interface Manifest {
  contributes: { configuration: { properties: Record<string, { description?: string }> } };
}

describe('the xp.wrapperFunctions setting', () => {
  it('gives as examples names of your own, none the server already reads as an SDK call (listing one makes it a plain wrapper)', () => {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    const description = manifest.contributes.configuration.properties['xp.wrapperFunctions']?.description ?? '';
    const example = /e\.g\. (\[[^\]]*\])/.exec(description)?.[1];
    expect(example).toBeDefined();
    const names = JSON.parse(example!) as string[];
    expect(names).toEqual(['useMyFlag', 'flags.isOn']);
    // A wrapper is matched by its last segment, as the server matches it.
    expect(names.filter((n) => Object.hasOwn(SDK_METHODS, n.split('.').pop()!))).toEqual([]);
  });
});

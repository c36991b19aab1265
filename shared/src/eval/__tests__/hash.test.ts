import { describe, expect, it } from 'vitest';
import { fnv1a32, fnv1a32Decimal, hash, hashV2FromSeed, seedState } from '../hash.js';

/** Reference FNV-1a written the slow, obvious way: concatenate, then hash each code unit. */
function referenceFnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Number((BigInt(h >>> 0) * 0x01000193n) % 0x100000000n);
  }
  return h >>> 0;
}

describe('fnv1a32', () => {
  it('matches the published FNV-1a test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('agrees with a slow reference on non-ASCII and surrogate pairs', () => {
    for (const s of ['über', '用户-42', '👩‍💻', 'é', '\u0000x']) {
      expect(fnv1a32(s)).toBe(referenceFnv(s));
    }
  });
});

describe('hash', () => {
  it('v2 equals fnv(String(fnv(seed + value))) % 10000 / 10000', () => {
    for (const [seed, value] of [['', 'a'], ['seed', 'user-1'], ['x', '123456789'], ['ñ', '👍']] as const) {
      const expected = (referenceFnv(String(referenceFnv(seed + value))) % 10000) / 10000;
      expect(hash(seed, value, 2)).toBe(expected);
    }
  });

  it('v1 equals fnv(value + seed) % 1000 / 1000', () => {
    expect(hash('seed', 'user-1', 1)).toBe((referenceFnv('user-1seed') % 1000) / 1000);
  });

  it('returns null for unknown versions', () => {
    expect(hash('a', 'b', 3)).toBeNull();
    expect(hash('a', 'b', 0)).toBeNull();
  });
});

describe('hashV2FromSeed', () => {
  it('equals hash(seed, value, 2), including inner hashes at digit-count edges', () => {
    for (const seed of ['', 'exp-ab', 'ñ👍']) {
      for (let i = 0; i < 3000; i++) {
        const value = `u${i}`;
        expect(hashV2FromSeed(seedState(seed), value)).toBe(hash(seed, value, 2));
      }
    }
  });

  it('hashes the decimal form of a uint32 exactly like fnv1a32(String(n))', () => {
    const edges = [0, 1, 9, 10, 99, 100, 9999, 10000, 99999, 100000, 100001, 1000000, 1000000000, 4294967295, 4294900000, 123450000, 100000009];
    const sweep = Array.from({ length: 5000 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 0));
    for (const n of [...edges, ...sweep]) {
      expect(fnv1a32Decimal(n)).toBe(fnv1a32(String(n)));
    }
  });
});

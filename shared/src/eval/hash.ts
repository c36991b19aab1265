/**
 * FNV-1a 32-bit hashing and the GrowthBook-compatible bucketing hash.
 * Strings are hashed over their UTF-16 code units (what `charCodeAt` returns), so a non-ASCII id
 * hashes the same in every SDK that follows shared/spec/README.md.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Continues an FNV-1a state over the code units of `s`. */
function fnvUpdate(state: number, s: string): number {
  let h = state;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}

/** Continues an FNV-1a state over the decimal digits of a uint32, without building the string. */
function fnvUpdateDigits(state: number, n: number): number {
  let h = state;
  let div = 1;
  while (div * 10 <= n) {
    div *= 10;
  }
  while (div >= 1) {
    const digit = Math.floor(n / div) % 10;
    h ^= 48 + digit;
    h = Math.imul(h, FNV_PRIME);
    div /= 10;
  }
  return h;
}

/** FNV-1a 32-bit of a string, as an unsigned integer. */
export function fnv1a32(s: string): number {
  return fnvUpdate(FNV_OFFSET, s) >>> 0;
}

/**
 * Bucketing hash in [0, 1). Version 2: fnv(String(fnv(seed + value))) % 10000 / 10000;
 * version 1: fnv(value + seed) % 1000 / 1000; any other version: null.
 */
export function hash(seed: string, value: string, version: number): number | null {
  if (version === 2) {
    const inner = fnvUpdate(fnvUpdate(FNV_OFFSET, seed), value) >>> 0;
    const outer = fnvUpdateDigits(FNV_OFFSET, inner) >>> 0;
    return (outer % 10000) / 10000;
  }
  if (version === 1) {
    const h = fnvUpdate(fnvUpdate(FNV_OFFSET, value), seed) >>> 0;
    return (h % 1000) / 1000;
  }
  return null;
}

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

/** Continues an FNV-1a state over the decimal digits of a small non-negative int (< 2^31). */
function fnvUpdateSmallDigits(state: number, n: number, pad: boolean): number {
  let h = state;
  let div = 10000;
  let started = pad;
  let r = n;
  while (div >= 1) {
    const digit = (r / div) | 0;
    r -= digit * div;
    if (started || digit !== 0 || div === 1) {
      started = true;
      h ^= 48 + digit;
      h = Math.imul(h, FNV_PRIME);
    }
    div = (div / 10) | 0;
  }
  return h;
}

/**
 * Continues an FNV-1a state over the decimal digits of a uint32, without building the string:
 * split into a high part and five low digits so every step is int32 arithmetic.
 */
function fnvUpdateDigits(state: number, n: number): number {
  const hi = Math.floor(n / 100000);
  const lo = n - hi * 100000;
  if (hi === 0) {
    return fnvUpdateSmallDigits(state, lo, false);
  }
  let h = state;
  // hi < 42950, so it has at most five digits; print it without padding, then lo padded to five.
  h = fnvUpdateSmallDigits(h, hi, false);
  return fnvUpdateSmallDigits(h, lo, true);
}

/** FNV-1a 32-bit of the decimal form of a uint32, i.e. fnv1a32(String(n)), without the string. */
export function fnv1a32Decimal(n: number): number {
  return fnvUpdateDigits(FNV_OFFSET, n) >>> 0;
}

/** FNV-1a state after the seed: hashing `seed + value` can start from here (version 2). */
export function seedState(seed: string): number {
  return fnvUpdate(FNV_OFFSET, seed);
}

/** Version-2 hash continuing from a precomputed seed state; equals hash(seed, value, 2). */
export function hashV2FromSeed(state: number, value: string): number {
  const inner = fnvUpdate(state, value) >>> 0;
  const outer = fnvUpdateDigits(FNV_OFFSET, inner) >>> 0;
  return (outer % 10000) / 10000;
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

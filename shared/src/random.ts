/**
 * mulberry32: a small, fast, seedable PRNG with a full 2^32 period, uniform in [0, 1). For
 * reproducible synthetic data (demo traffic, tests, benchmarks) — never for secrets or bucketing.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

import { hash } from './hash.js';

/** A half-open bucket range [start, end) in the unit interval. */
export type BucketRange = readonly [number, number];

/** A namespace (layer) membership: [namespace id, range start, range end). */
export type NamespaceRange = readonly [string, number, number];

/** n equal weights adding up to 1. */
export function getEqualWeights(n: number): number[] {
  if (!(n > 0)) {
    return [];
  }
  return new Array<number>(n).fill(1 / n);
}

/**
 * Bucket ranges for `numVariations` variations: coverage is clamped to [0, 1]; weights of the
 * wrong length or not adding up to 1 (±0.01) fall back to equal weights.
 */
export function getBucketRanges(numVariations: number, coverage = 1, weights?: readonly number[] | null): BucketRange[] {
  const cov = coverage < 0 ? 0 : coverage > 1 ? 1 : Number.isNaN(coverage) ? 0 : coverage;
  const equal = getEqualWeights(numVariations);
  let w: readonly number[] = weights ?? equal;
  if (w.length !== numVariations) {
    w = equal;
  }
  let total = 0;
  for (const x of w) {
    total += x;
  }
  if (!(total >= 0.99 && total <= 1.01)) {
    w = equal;
  }
  let cumulative = 0;
  return w.map((x) => {
    const start = cumulative;
    cumulative += x;
    return [start, start + cov * x] as const;
  });
}

/** Index of the range containing n (start inclusive, end exclusive), or -1. */
export function chooseVariation(n: number, ranges: readonly BucketRange[]): number {
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (n >= r[0] && n < r[1]) {
      return i;
    }
  }
  return -1;
}

/** Whether a unit falls in a namespace range; uses hash version 1 with seed "__" + namespace id. */
export function inNamespace(unitId: string, namespace: NamespaceRange): boolean {
  const n = hash(`__${namespace[0]}`, unitId, 1);
  if (n === null) {
    return false;
  }
  return n >= namespace[1] && n < namespace[2];
}

import { describe, expect, it } from 'vitest';
import { BANDIT_SHARE_UNITS, banditShares, banditWeights } from '../bandit.js';
import { StatsErrorCode, isStatsError } from '../errors.js';
import { seededRandom } from '../../random.js';

const shares = (p: readonly number[], minShare: number): number[] => {
  const out = banditShares(p, minShare);
  if (isStatsError(out)) {
    throw new Error(out.message);
  }
  return out;
};

const weights = (p: readonly number[], minShare: number): number[] => {
  const out = banditWeights(p, minShare);
  if (isStatsError(out)) {
    throw new Error(out.message);
  }
  return out;
};

describe('banditShares (Thompson sampling with a floor)', () => {
  it('gives each arm its chance to be best when every chance is above the floor', () => {
    expect(shares([0.2, 0.3, 0.5], 0.01)).toEqual([0.2, 0.3, 0.5]);
    expect(weights([0.25, 0.75], 0)).toEqual([2500, 7500]);
  });

  it('normalises chances that do not add up to 1, and splits equally when they are all 0', () => {
    expect(shares([1, 3], 0)).toEqual([0.25, 0.75]);
    expect(shares([0, 0, 0, 0], 0.05)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('water-fills: arms below the floor get it, the others share the rest in proportion', () => {
    // 0.001 and 0.009 fall below 0.05; the remaining 0.9 goes 0.99 × 0.9 / 0.99 and so on: 0.3/0.69 of 0.9.
    const out = weights([0.001, 0.009, 0.3, 0.69], 0.05);
    expect(out.slice(0, 2)).toEqual([500, 500]);
    // 9000 × 0.3 / 0.99 = 2727.27 and 9000 × 0.69 / 0.99 = 6272.73: the leftover unit to the larger fraction.
    expect(out.slice(2)).toEqual([2727, 6273]);
  });

  it('floors again an arm that the first pass left above the floor but the second took below it', () => {
    // Pass 1: only the first is below 0.2 (0.01; the second has 0.21); pass 2: 0.8 × 0.21 / 0.99 = 0.170 < 0.2, floored too.
    const out = shares([0.01, 0.21, 0.78], 0.2);
    expect(out).toEqual([0.2, 0.2, 0.6]);
  });

  it('gives every arm exactly the floor when the floor is an equal split', () => {
    expect(shares([0.9, 0.1], 0.5)).toEqual([0.5, 0.5]);
    // 1/3 given in decimals: the floor is at most an equal split in whole units (3333), the leftover unit to the first.
    expect(weights([1, 0, 0], 0.3333333333)).toEqual([3334, 3333, 3333]);
  });

  it('rounds the floor up to a whole basis point, so no arm gets less than minShare', () => {
    const out = weights([1, 0, 0], 0.00005);
    expect(out).toEqual([9998, 1, 1]);
    expect(out.every((w, i) => w / BANDIT_SHARE_UNITS >= 0.00005 || i === 0)).toBe(true);
  });

  it('always gives whole basis points adding up to exactly 10,000, each at least the floor, ordered as the chances', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 500; trial++) {
      const n = 2 + Math.floor(random() * 8);
      const raw = Array.from({ length: n }, () => (random() < 0.2 ? 0 : random() ** 3));
      const minShare = Math.floor(random() * (1 / n) * 1e4) / 1e4;
      const out = weights(raw, minShare);
      expect(out.every(Number.isInteger)).toBe(true);
      expect(out.reduce((a, b) => a + b, 0)).toBe(BANDIT_SHARE_UNITS);
      expect(Math.min(...out) / BANDIT_SHARE_UNITS).toBeGreaterThanOrEqual(minShare - 1e-12);
      // A more likely arm never gets fewer units than a less likely one (rounding aside: one unit).
      const inverted = out.flatMap((w, i) => out.filter((v, j) => raw[i]! > raw[j]! && w < v - 1).map((v) => `${String(trial)}: ${String(w)} < ${String(v)}`));
      expect(inverted).toEqual([]);
      // The shares are the weights over 10,000.
      expect(shares(raw, minShare)).toEqual(out.map((w) => w / BANDIT_SHARE_UNITS));
    }
  });

  it('refuses non-finite or negative chances, no arms, and a floor that does not fit', () => {
    expect(banditShares([0.5, Number.NaN], 0.01)).toMatchObject({ code: StatsErrorCode.INVALID_INPUT });
    expect(banditShares([0.5, Number.POSITIVE_INFINITY], 0.01)).toMatchObject({ code: StatsErrorCode.INVALID_INPUT });
    expect(banditShares([1.5, -0.5], 0.01)).toMatchObject({ code: StatsErrorCode.INVALID_INPUT });
    expect(banditShares([], 0.01)).toMatchObject({ code: StatsErrorCode.INVALID_INPUT });
    expect(banditShares([0.5, 0.5], 0.6)).toMatchObject({ code: StatsErrorCode.INVALID_OPTIONS, message: expect.stringContaining('minShare') });
    expect(banditShares([0.5, 0.5], Number.NaN)).toMatchObject({ code: StatsErrorCode.INVALID_OPTIONS });
    expect(banditShares([0.5, 0.5], -0.1)).toMatchObject({ code: StatsErrorCode.INVALID_OPTIONS });
  });
});

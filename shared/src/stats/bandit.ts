/**
 * Multi-armed bandit allocation (Thompson sampling): each arm's share of the traffic is the posterior
 * probability that it is the best arm (its chance to be best), so an arm that is probably best gets
 * most units while the others keep being sampled in proportion to how likely they still are to win.
 * Each arm keeps at least `minShare`, so that none is starved and its estimate keeps improving.
 *
 * Water-filling: arms whose proportional share falls below the floor get the floor; the rest share
 * what remains in proportion to their chance to be best, repeated until no arm falls below (at most
 * one pass per arm). The shares are then whole numbers of BANDIT_SHARE_UNITS (basis points) that add
 * up to exactly BANDIT_SHARE_UNITS (largest remainder), so that written as integer weights they are
 * exactly the shares the ruleset serves (weights are normalised by their sum, which is exact).
 */
import { StatsErrorCode, statsError } from './errors.js';
import type { StatsError } from './errors.js';

/** The resolution of a bandit share: 1/10,000 of the traffic (a basis point). */
export const BANDIT_SHARE_UNITS = 10_000;

/**
 * Each arm's share of the traffic from its chance to be best (any non-negative numbers: they are
 * normalised; all 0 is equal shares), each at least `minShare` (rounded up to a basis point, and at
 * most an equal share), adding up to 1. Every share is a multiple of 1/BANDIT_SHARE_UNITS
 * (`banditWeights` gives the whole numbers). INVALID_INPUT for no arms or a negative or non-finite
 * chance; INVALID_OPTIONS for a minShare outside [0, 1/arms].
 */
export function banditShares(chanceToBeBest: readonly number[], minShare: number): number[] | StatsError {
  const weights = banditWeights(chanceToBeBest, minShare);
  return Array.isArray(weights) ? weights.map((w) => w / BANDIT_SHARE_UNITS) : weights;
}

/** `banditShares` as whole numbers of basis points adding up to exactly BANDIT_SHARE_UNITS. */
export function banditWeights(chanceToBeBest: readonly number[], minShare: number): number[] | StatsError {
  const n = chanceToBeBest.length;
  if (n === 0) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'a bandit needs at least one arm');
  }
  if (!chanceToBeBest.every((p) => Number.isFinite(p) && p >= 0)) {
    return statsError(StatsErrorCode.INVALID_INPUT, 'every chance to be best must be a finite number of at least 0');
  }
  // A tolerance for a floor of exactly 1/n given in decimals (0.3333333 for 3 arms).
  if (!Number.isFinite(minShare) || minShare < 0 || minShare * n > 1 + 1e-9) {
    return statsError(StatsErrorCode.INVALID_OPTIONS, `minShare must be from 0 to 1/${String(n)} (every arm's floor must fit in the traffic), got ${String(minShare)}`);
  }
  // The floor in whole units, rounded up (every arm gets at least minShare) but never past an equal split.
  const floor = Math.min(Math.ceil(minShare * BANDIT_SHARE_UNITS - 1e-9), Math.floor(BANDIT_SHARE_UNITS / n));
  const total = chanceToBeBest.reduce((a, b) => a + b, 0);
  const chances = total > 0 ? chanceToBeBest : chanceToBeBest.map(() => 1);
  // Water-filling in units: floored arms get the floor, the others their share of the rest.
  const floored = new Set<number>();
  let targets: number[] = [];
  for (let pass = 0; pass <= n; pass++) {
    const free = chances.map((_, i) => i).filter((i) => !floored.has(i));
    const rest = BANDIT_SHARE_UNITS - floored.size * floor;
    const mass = free.reduce((s, i) => s + chances[i]!, 0);
    targets = chances.map((p, i) => (floored.has(i) ? floor : mass > 0 ? (rest * p) / mass : rest / free.length));
    const below = free.filter((i) => targets[i]! < floor);
    if (below.length === 0) {
      break;
    }
    for (const i of below) {
      floored.add(i);
    }
  }
  // Largest remainder: each target rounded down (floored ones are whole already; free ones are not
  // below the floor, a whole number, so neither are they rounded down), then the units left over (fewer
  // than the arms) one each to the largest fractions, ties to the first arm.
  const units = targets.map((t) => Math.floor(t));
  let left = BANDIT_SHARE_UNITS - units.reduce((a, b) => a + b, 0);
  const order = targets.map((t, i) => ({ i, fraction: t - Math.floor(t) })).sort((a, b) => b.fraction - a.fraction || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % n, left--) {
    units[order[k]!.i]!++;
  }
  return units;
}

import type { JsonValue } from './common.js';
import type { Experiment, ExperimentVariation } from './experiment.js';

/** The variations an experiment serves: its own list, or every combination of its factors. Zod-free. */
export function expandVariations(exp: Pick<Experiment, 'type' | 'variations' | 'factors'>): ExperimentVariation[] {
  if (exp.type !== 'multivariate' || exp.factors === undefined) {
    return exp.variations;
  }
  let combos: { keys: string[]; value: Record<string, JsonValue> }[] = [{ keys: [], value: {} }];
  for (const factor of exp.factors) {
    combos = combos.flatMap((c) =>
      factor.levels.map((level) => ({ keys: [...c.keys, `${factor.key}-${level.key}`], value: { ...c.value, [factor.key]: level.value } })),
    );
  }
  return combos.map((c) => ({ key: c.keys.join('.'), value: c.value }));
}

/**
 * Each served variation's share of the covered traffic, adding up to 1: the weights normalised when
 * every variation has one and they add up to more than 0, else equal shares.
 */
export function variationShares(exp: Pick<Experiment, 'type' | 'variations' | 'factors'>): number[] {
  const variations = expandVariations(exp);
  const given = variations.map((v) => v.weight);
  const total = given.reduce<number>((s, w) => s + (w ?? 0), 0);
  const weighted = given.every((w) => w !== undefined) && total > 0;
  return variations.map((v) => (weighted ? v.weight! / total : 1 / variations.length));
}

/**
 * The fields of a change that would move units of a started experiment to another variation: the
 * hashing (attribute, fallback, version, seed) or the variations served with their shares of
 * traffic (keys, order, normalised weights), or sticky bucketing turned off after the split moved.
 * Empty for an experiment that has not started, or whose sticky bucketing (kept on) keeps each unit
 * in its stored variation. Values, URLs, coverage and targeting
 * may change: they change what a variation shows or who enters, not which variation a unit gets.
 */
export function reassigningFields(
  current: Pick<Experiment, 'key' | 'type' | 'variations' | 'factors' | 'hashAttribute' | 'fallbackAttribute' | 'hashVersion' | 'seed' | 'startedAt' | 'stickyBucketing' | 'splitHistory'>,
  next: Pick<Experiment, 'key' | 'type' | 'variations' | 'factors' | 'hashAttribute' | 'fallbackAttribute' | 'hashVersion' | 'seed' | 'stickyBucketing'>,
): string[] {
  const stickyNow = current.stickyBucketing?.enabled === true;
  if (current.startedAt === undefined || (stickyNow && next.stickyBucketing?.enabled === true)) {
    return [];
  }
  const hashing = [
    ['hashAttribute', current.hashAttribute, next.hashAttribute],
    ['fallbackAttribute', current.fallbackAttribute, next.fallbackAttribute],
    ['hashVersion', current.hashVersion, next.hashVersion],
    ['seed', current.seed ?? current.key, next.seed ?? next.key],
  ] as const;
  const fields: string[] = hashing.filter(([, before, after]) => before !== after).map(([field]) => field);
  if (!sameSplit(current, next)) {
    fields.push(current.type === 'multivariate' ? 'factors' : 'variations');
  }
  // Turning sticky bucketing off hashes every unit again by the current split: units that kept a
  // variation stored under an earlier split (the split moved while sticky) would move.
  if (stickyNow && (current.splitHistory?.length ?? 0) > 0) {
    fields.push('stickyBucketing');
  }
  return fields;
}

type SplitOf = Pick<Experiment, 'type' | 'variations' | 'factors'>;

/** Whether two definitions serve the same variations, in the same order, with the same shares (weights scaled by one factor are the same split). */
export function sameSplit(a: SplitOf, b: SplitOf): boolean {
  const keysA = expandVariations(a).map((v) => v.key);
  const keysB = expandVariations(b).map((v) => v.key);
  const sharesA = variationShares(a);
  const sharesB = variationShares(b);
  return keysA.length === keysB.length && keysA.every((k, i) => k === keysB[i] && Math.abs(sharesA[i]! - sharesB[i]!) <= 1e-9);
}

/** Each served variation's share of covered traffic, by variation key (what `splitHistory` records). */
export function splitShares(exp: SplitOf): Record<string, number> {
  const shares = variationShares(exp);
  return Object.fromEntries(expandVariations(exp).map((v, i) => [v.key, shares[i]!]));
}

/**
 * Where the split-URL links (`/r/{key}`) of a stopped experiment send visitors in an environment it
 * ran in: the released winner's URL, else the first variation's; undefined when it has none.
 */
export function stoppedRedirectUrl(exp: Pick<Experiment, 'type' | 'variations' | 'factors' | 'winner' | 'releaseWinner'>): string | undefined {
  const variations = expandVariations(exp);
  const released = exp.releaseWinner && exp.winner !== undefined ? variations.find((v) => v.key === exp.winner) : undefined;
  return (released ?? variations[0])?.url;
}

/** Whether an experiment ran (or runs) in an environment: it names it, or names none (all). */
export function runsIn(exp: Pick<Experiment, 'environments'>, environment: string): boolean {
  return exp.environments.length === 0 || exp.environments.includes(environment);
}

/**
 * What contradicts itself in a stopped experiment's decision: releasing needs a winner; shipping
 * needs a winner other than the control (the first variation), which would be a rollback; a
 * rollback's winner, when named, is the control. Empty when the decision holds together.
 */
export function decisionIssues(exp: Pick<Experiment, 'type' | 'variations' | 'factors' | 'decision' | 'winner' | 'releaseWinner'>): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const control = expandVariations(exp)[0]?.key;
  if (exp.releaseWinner && exp.winner === undefined) {
    issues.push({ path: 'winner', message: 'required when releaseWinner is true' });
  }
  if (exp.decision === 'ship' && exp.winner === undefined) {
    issues.push({ path: 'winner', message: 'required when the decision is "ship": name the variation shipped' });
  } else if (exp.decision === 'ship' && exp.winner === control) {
    issues.push({ path: 'winner', message: `"${control}" is the control: shipping it is the decision "rollback"` });
  } else if (exp.decision === 'rollback' && exp.winner !== undefined && exp.winner !== control) {
    issues.push({ path: 'winner', message: `a rollback returns to the control "${control ?? ''}": name it as the winner, or none, or decide "ship" for "${exp.winner}"` });
  }
  return issues;
}

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
 * Why a change would move units of a started experiment to another variation:
 * - `hashing`: the attribute, fallback, version or seed units are hashed by;
 * - `keys`: the variations served (keys, order, how many): exposed units are counted by the key they
 *   got, so these are fixed once started, with or without sticky bucketing;
 * - `split`: the shares of traffic (normalised weights) without sticky bucketing kept on;
 * - `split-sticky-late`: the shares of traffic under sticky bucketing that was turned on after the
 *   start (`stickyBucketingSince`): units exposed before then have no stored variation;
 * - `sticky-off`: sticky bucketing turned off after the split moved;
 * - `namespace`: the namespace id changed, added or removed: units already exposed may now share
 *   the experiment with those of the namespace's other experiments (a range change within the same
 *   id is not one: it is held to the overlap check instead).
 */
export type ReassignmentReason = 'hashing' | 'keys' | 'split' | 'split-sticky-late' | 'sticky-off' | 'namespace';

type ReassignmentFields = 'key' | 'type' | 'variations' | 'factors' | 'hashAttribute' | 'fallbackAttribute' | 'hashVersion' | 'seed' | 'stickyBucketing' | 'namespace';

/**
 * The changes that would move units of a started experiment to another variation (or out of its
 * namespace's mutual exclusion), each with the field to name and why (see ReassignmentReason). Empty for an experiment that has not started.
 * Sticky bucketing makes only a change of the shares safe, and only when it has been on since the
 * start: each exposed unit then keeps the variation stored for it, by key. Values, URLs, coverage
 * and targeting may change: they change what a variation shows or who enters, not which variation a
 * unit gets.
 */
export function reassigningChanges(
  current: Pick<Experiment, ReassignmentFields | 'startedAt' | 'splitHistory' | 'stickyBucketingSince'>,
  next: Pick<Experiment, ReassignmentFields>,
): { path: string; reason: ReassignmentReason }[] {
  if (current.startedAt === undefined) {
    return [];
  }
  const hashing = [
    ['hashAttribute', current.hashAttribute, next.hashAttribute],
    ['fallbackAttribute', current.fallbackAttribute, next.fallbackAttribute],
    ['hashVersion', current.hashVersion, next.hashVersion],
    ['seed', current.seed ?? current.key, next.seed ?? next.key],
  ] as const;
  const out: { path: string; reason: ReassignmentReason }[] = hashing.filter(([, before, after]) => before !== after).map(([path]) => ({ path, reason: 'hashing' }));
  if (current.namespace?.id !== next.namespace?.id) {
    out.push({ path: 'namespace', reason: 'namespace' });
  }
  const splitPath = current.type === 'multivariate' ? 'factors' : 'variations';
  const stickyNow = current.stickyBucketing?.enabled === true;
  const stickyNext = next.stickyBucketing?.enabled === true;
  if (!sameKeys(current, next)) {
    out.push({ path: splitPath, reason: 'keys' });
  } else if (!sameSplit(current, next)) {
    if (!stickyNow || !stickyNext) {
      out.push({ path: splitPath, reason: 'split' });
    } else if (current.stickyBucketingSince !== undefined) {
      out.push({ path: splitPath, reason: 'split-sticky-late' });
    }
  }
  // Turning sticky bucketing off hashes every unit again by the current split: units that kept a
  // variation stored under an earlier split (the split moved while sticky) would move.
  if (stickyNow && !stickyNext && (current.splitHistory?.length ?? 0) > 0) {
    out.push({ path: 'stickyBucketing', reason: 'sticky-off' });
  }
  return out;
}

/**
 * What to tell whoever makes such a change (the API and `xp apply` alike), after the field's name;
 * `stickySince` is the experiment's `stickyBucketingSince` for `split-sticky-late`.
 */
export function reassignmentMessage(reason: ReassignmentReason, stickySince?: string): string {
  switch (reason) {
    case 'hashing':
    case 'split':
      return 'changes which variation units are assigned to, and the experiment has started: units already exposed would be counted in a variation they did not see; create a new experiment for a new split (only an experiment with stickyBucketing on since before its start may move its weights)';
    case 'keys':
      return 'renames, reorders, adds or removes a variation, and the experiment has started: variation keys and their order are fixed from the start, also with stickyBucketing, since exposed units are counted under the key they got (they would be counted in a variation they did not see); names, values and URLs may change; create a new experiment for other variations';
    case 'split-sticky-late':
      return `changes the split, and stickyBucketing was only turned on${stickySince === undefined ? '' : ` at ${stickySince}`}, after the start: units exposed before then have no stored variation and would be hashed again into the new split (counted in a variation they did not see); keep the split, or create a new experiment (with stickyBucketing on from the start) for a new one`;
    case 'sticky-off':
      return 'turned off, changes which variation units are assigned to: the split has moved since the start, and units that kept their variation under the earlier split would be hashed again into the current one; keep it on, or create a new experiment';
    case 'namespace':
      return "changes the namespace's id, or adds or removes the namespace, and the experiment has started: units it already exposed would share it with the experiments of another namespace (or of none), which mutual exclusion forbids; its range within the same namespace may change; stop it and create a new experiment";
  }
}

type SplitOf = Pick<Experiment, 'type' | 'variations' | 'factors'>;

/** Whether two definitions serve the same variation keys, in the same order. */
export function sameKeys(a: SplitOf, b: SplitOf): boolean {
  const keysA = expandVariations(a).map((v) => v.key);
  const keysB = expandVariations(b).map((v) => v.key);
  return keysA.length === keysB.length && keysA.every((k, i) => k === keysB[i]);
}

/** Whether two definitions serve the same variations, in the same order, with the same shares (weights scaled by one factor are the same split). */
export function sameSplit(a: SplitOf, b: SplitOf): boolean {
  const sharesA = variationShares(a);
  const sharesB = variationShares(b);
  return sameKeys(a, b) && sharesA.every((share, i) => Math.abs(share - sharesB[i]!) <= 1e-9);
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

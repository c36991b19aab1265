/**
 * References to segments outside compiled rulesets. Compiling each environment's ruleset catches a
 * broken reference of a live flag or a running experiment only; a draft or stopped experiment, a flag
 * state that is off, an archived flag or another segment could name a segment that was then deleted
 * (or never existed), and failed later — when started, turned on or used.
 */
import type { Experiment, Flag, Segment } from '@xp/shared';
import { groupsNamedIn } from '@xp/shared';
import { invalid } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { DefinitionKind } from '../store/definitions.js';
import { experimentsRepo, flagsRepo, segmentsRepo } from './publisher.js';

/** One segment reference: where (a path in the shape rulesets report problems in), which segment, and how. */
interface Reference {
  readonly path: string;
  /** Where it is, stable when rules move: a rule by its id rather than its position. */
  readonly anchor: string;
  readonly segment: string;
  /** Named by `$inGroup` / `$notInGroup`, which only an id-list segment can answer. */
  readonly group: boolean;
}

function referencesOf(kind: DefinitionKind, definition: unknown, prefix: string): Reference[] {
  const out: Reference[] = [];
  const add = (path: string, keys: Iterable<string> | undefined, group: boolean, anchor = path): void => {
    for (const segment of keys ?? []) {
      out.push({ path: `${prefix}${path}`, anchor, segment, group });
    }
  };
  if (kind === DefinitionKind.Flag) {
    for (const [env, state] of Object.entries((definition as Flag).environments)) {
      state.rules.forEach((rule, i) => {
        const at = `environments.${env}.rules[${i}]`;
        const anchor = `environments.${env}.rules#${rule.id}`;
        add(`${at}.segments`, rule.segments, false, `${anchor}.segments`);
        add(`${at}.excludeSegments`, rule.excludeSegments, false, `${anchor}.excludeSegments`);
        add(`${at}.condition`, rule.condition === undefined ? undefined : groupsNamedIn(rule.condition), true, `${anchor}.condition`);
      });
    }
  } else if (kind === DefinitionKind.Experiment) {
    const experiment = definition as Experiment;
    add('segments', experiment.segments, false);
    add('condition', experiment.condition === undefined ? undefined : groupsNamedIn(experiment.condition), true);
  } else if (kind === DefinitionKind.Segment) {
    const segment = definition as Segment;
    add('condition', segment.type === 'condition' ? groupsNamedIn(segment.condition) : undefined, true);
  }
  return out;
}

const identity = (r: Reference): string => `${r.anchor}\u0000${r.segment}\u0000${r.group}`;

/**
 * Refuses a flag, experiment or segment that names a segment the project does not have, itself, or,
 * with `$inGroup` / `$notInGroup`, a segment that is not an id list. Only references the change adds
 * are checked, so a definition stored before this check can still be edited or turned off.
 */
export async function refuseBrokenSegmentReferences(db: Queryable, projectId: string, kind: DefinitionKind, definition: unknown, current: unknown): Promise<void> {
  if (kind === DefinitionKind.Segment && (current as Segment | undefined)?.type === 'ids' && (definition as Segment).type !== 'ids') {
    // No longer an id list: what names it with $inGroup / $notInGroup would match nobody (or everyone).
    const key = (definition as Segment).key;
    const uses = (await usesOf(db, projectId, key)).filter((r) => r.group);
    if (uses.length > 0) {
      const problems = [...new Set(uses.map((r) => `${r.path}: names segment "${key}" with $inGroup / $notInGroup, which only an id list can answer`))];
      throw invalid(`segment "${key}" is named with $inGroup / $notInGroup (${problems.length === 1 ? problems[0] : `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`}): it must stay an id list`, { problems });
    }
  }
  const before = new Set(current === undefined ? [] : referencesOf(kind, current, '').map(identity));
  const added = referencesOf(kind, definition, '').filter((r) => !before.has(identity(r)));
  if (added.length === 0) {
    return;
  }
  const self = kind === DefinitionKind.Segment ? (definition as Segment).key : undefined;
  const segments = new Map((await segmentsRepo.all(db, projectId, true)).map((s) => [s.key, s.definition]));
  const issues = added.flatMap((r): { path: string; message: string }[] => {
    if (r.segment === self) {
      return [{ path: r.path, message: `a segment cannot name itself ("${r.segment}")` }];
    }
    const target = segments.get(r.segment);
    if (target === undefined) {
      return [{ path: r.path, message: `unknown segment "${r.segment}"` }];
    }
    if (r.group && target.type !== 'ids') {
      return [{ path: r.path, message: `segment "${r.segment}" is not an id list, so $inGroup / $notInGroup cannot name it (list it in segments instead)` }];
    }
    return [];
  });
  if (issues.length > 0) {
    throw invalid(`${issues[0]!.path}: ${issues[0]!.message}`, { issues });
  }
}

/**
 * Refuses deleting a segment that a flag (any state, archived included), an experiment (any status)
 * or another segment still names: 400 with each use in `details.problems`, in the shape a ruleset's
 * broken references have ("experiments.checkout.segments: uses segment "beta"").
 */
export async function refuseIfSegmentInUse(db: Queryable, projectId: string, key: string): Promise<void> {
  const uses = await usesOf(db, projectId, key);
  if (uses.length === 0) {
    return;
  }
  const problems = [...new Set(uses.map((r) => `${r.path}: uses segment "${key}"`))];
  throw invalid(`segment "${key}" is still used (${problems.length === 1 ? problems[0] : `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`}); remove it from them first`, { problems });
}

/** Every place a flag (archived included), an experiment or another segment names segment `key`. */
async function usesOf(db: Queryable, projectId: string, key: string): Promise<Reference[]> {
  const [flags, experiments, segments] = await Promise.all([flagsRepo.all(db, projectId, true), experimentsRepo.all(db, projectId, true), segmentsRepo.all(db, projectId, true)]);
  return [
    ...flags.flatMap((f) => referencesOf(DefinitionKind.Flag, f.definition, `flags.${f.key}.`)),
    ...experiments.flatMap((e) => referencesOf(DefinitionKind.Experiment, e.definition, `experiments.${e.key}.`)),
    ...segments.filter((s) => s.key !== key).flatMap((s) => referencesOf(DefinitionKind.Segment, s.definition, `segments.${s.key}.`)),
  ].filter((r) => r.segment === key);
}

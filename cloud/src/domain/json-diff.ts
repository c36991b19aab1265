/**
 * One difference between two JSON documents, addressed by a JSON Pointer (RFC 6901), except that
 * an item of an id-keyed array (see jsonDiff) is addressed by its `id` rather than its position. For
 * `move` (such an item changed position), `from` and `to` are its positions before and after; for
 * the other operations they are the values.
 */
export interface DiffEntry {
  readonly op: 'add' | 'remove' | 'replace' | 'move';
  readonly path: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

const escape = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');
/** A JSON Pointer segment back to its key (the inverse of the escape above). */
export const unescapeSegment = (segment: string): string => segment.replace(/~1/g, '/').replace(/~0/g, '~');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type IdItem = Record<string, unknown> & { id: string };

/** Whether the array has items, every one an object with a string `id`, no two alike. */
function idKeyed(items: unknown[]): items is IdItem[] {
  const ids = new Set<string>();
  return items.length > 0 && items.every((item) => isObject(item) && typeof item.id === 'string' && !ids.has(item.id) && ids.add(item.id));
}

/**
 * The ids of `after` that moved: all but a longest run of ids kept in their order relative to each
 * other, so one rule moved up reads as that one move, not as every rule it passed. Of equally long
 * runs, the one keeping most ids at their very position wins, so no move reads "from 1 to 1".
 * Quadratic, which a flag environment's at most 500 rules afford.
 */
function movedIds(before: string[], after: string[]): Set<string> {
  const beforeAt = new Map(before.map((id, i) => [id, i]));
  const kept = after.flatMap((id, i) => (beforeAt.has(id) ? [{ id, from: beforeAt.get(id)!, inPlace: beforeAt.get(id) === i ? 1 : 0 }] : []));
  type Run = { length: number; inPlace: number; previous: number };
  const better = (a: Run, b: Run): boolean => a.length > b.length || (a.length === b.length && a.inPlace > b.inPlace);
  // runs[i]: the best run ending at kept[i]: its length, how many of its ids are in place, and its previous item.
  const runs: Run[] = [];
  kept.forEach((item) => {
    let run: Run = { length: 1, inPlace: item.inPlace, previous: -1 };
    runs.forEach((earlier, j) => {
      const longer = { length: earlier.length + 1, inPlace: earlier.inPlace + item.inPlace, previous: j };
      if (kept[j]!.from < item.from && better(longer, run)) {
        run = longer;
      }
    });
    runs.push(run);
  });
  const last = runs.reduce((best, run, i) => (best === -1 || better(run, runs[best]!) ? i : best), -1);
  const moved = new Set(kept.map((item) => item.id));
  for (let i = last; i !== -1; i = runs[i]!.previous) {
    moved.delete(kept[i]!.id);
  }
  return moved;
}

function walkById(before: IdItem[], after: IdItem[], path: string, out: DiffEntry[]): void {
  const afterIds = new Set(after.map((item) => item.id));
  const beforeById = new Map(before.map((item, i) => [item.id, { item, i }]));
  before.forEach((item) => {
    if (!afterIds.has(item.id)) {
      out.push({ op: 'remove', path: `${path}/${escape(item.id)}`, from: item });
    }
  });
  const moved = movedIds(before.map((item) => item.id), after.map((item) => item.id));
  after.forEach((item, i) => {
    const at = `${path}/${escape(item.id)}`;
    const old = beforeById.get(item.id);
    if (old === undefined) {
      out.push({ op: 'add', path: at, to: item });
      return;
    }
    if (moved.has(item.id)) {
      out.push({ op: 'move', path: at, from: old.i, to: i });
    }
    walk(old.item, item, at, out);
  });
}

/** Scalar arrays longer than this (on either side) are compared as sets of values: id lists. */
export const VALUE_SET_MIN = 100;

type Scalar = string | number | boolean | null;

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** The value as the set compares it: 7 and "7" differ, as they do in a segment's list. */
const scalarKey = (v: Scalar): string => `${typeof v}:${String(v)}`;

/**
 * A long list of scalar values (a segment's ids) as a set: one `remove` per value no longer in it,
 * at its position before, and one `add` per new value, at its position after. A change of one id in
 * a list of 700,000 is then one entry, where a positional comparison replaced the whole list (or,
 * of equal lengths, every shifted position).
 */
function walkAsSet(before: Scalar[], after: Scalar[], path: string, out: DiffEntry[]): void {
  const afterKeys = new Set(after.map(scalarKey));
  const beforeKeys = new Set(before.map(scalarKey));
  before.forEach((v, i) => {
    if (!afterKeys.has(scalarKey(v))) {
      out.push({ op: 'remove', path: `${path}/${i}`, from: v });
    }
  });
  after.forEach((v, i) => {
    if (!beforeKeys.has(scalarKey(v))) {
      out.push({ op: 'add', path: `${path}/${i}`, to: v });
    }
  });
}

function walk(before: unknown, after: unknown, path: string, out: DiffEntry[]): void {
  if (isObject(before) && isObject(after)) {
    for (const key of Object.keys(before)) {
      if (!(key in after)) {
        out.push({ op: 'remove', path: `${path}/${escape(key)}`, from: before[key] });
      }
    }
    for (const key of Object.keys(after)) {
      const at = `${path}/${escape(key)}`;
      if (!(key in before)) {
        out.push({ op: 'add', path: at, to: after[key] });
      } else {
        walk(before[key], after[key], at, out);
      }
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && idKeyed(before) && idKeyed(after)) {
    walkById(before, after, path, out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && (before.length > VALUE_SET_MIN || after.length > VALUE_SET_MIN) && before.every(isScalar) && after.every(isScalar)) {
    walkAsSet(before, after, path, out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((item, i) => {
      walk(item, after[i], `${path}/${i}`, out);
    });
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    out.push({ op: 'replace', path: path === '' ? '' : path, from: before, to: after });
  }
}

/**
 * The changes from `before` to `after` (undefined means absent: a created or deleted document).
 *
 * An array whose items are all objects with a distinct string `id`, non-empty on both sides (a flag
 * environment's rules), is id-keyed: its items are matched by id, so a change inside a rule is
 * addressed by the rule's id (`/environments/production/rules/beta/coverage`), an added or removed
 * rule is one `add` or `remove` of the whole rule at that path, and a reorder is one `move` per
 * rule that changed its place relative to the others (`from` and `to` are its positions), not a
 * rewrite of every position. Rules all cleared, or the first ones added, replace the whole array in
 * one operation that shows them all. Audit entries stored before this addressed rules by position,
 * which readers must still show; an id made only of digits reads like a position. Paths above the
 * rules (`/environments/<key>/enabled`, which the audit log's `turned` filter matches) are as before.
 *
 * An array of scalars (strings, numbers, booleans, null) of more than VALUE_SET_MIN items on either
 * side (a segment's id list) is compared as a set of values: a `remove` per value gone (at its
 * position before) and an `add` per new value (at its position after), nothing for a change of
 * order or a repeat, so an id added to a long list is one entry rather than the list twice.
 *
 * Other arrays are compared by position: of equal length item by item, else replaced whole. Items
 * keyed by `key` (variations, factors and levels) are among them on purpose: their position
 * carries meaning (weights, and the default mapping of experiment to flag variations, go by
 * position), so what changed at each position is what changed.
 */
export function jsonDiff(before: unknown, after: unknown): DiffEntry[] {
  if (before === undefined && after === undefined) {
    return [];
  }
  if (before === undefined) {
    return [{ op: 'add', path: '', to: after }];
  }
  if (after === undefined) {
    return [{ op: 'remove', path: '', from: before }];
  }
  const out: DiffEntry[] = [];
  walk(before, after, '', out);
  return out;
}

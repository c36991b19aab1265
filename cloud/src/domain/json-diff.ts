/** One difference between two JSON documents, addressed by a JSON Pointer (RFC 6901). */
export interface DiffEntry {
  readonly op: 'add' | 'remove' | 'replace';
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
 * Arrays of different lengths are replaced whole, which keeps rule reorderings readable.
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

/**
 * Strings the platform cannot store: PostgreSQL text and jsonb refuse NUL, and an unpaired surrogate
 * is not Unicode. Dependency-free: the SDK endpoints (and so the evaluation Lambda) use it too.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `s` cannot be stored, or undefined. */
export function badStringReason(s: string): string | undefined {
  if (s.includes('\u0000')) {
    return 'contains a NUL character';
  }
  return LONE_SURROGATE.test(s) ? 'is not valid Unicode (unpaired surrogate)' : undefined;
}

/** The first key or string value of a parsed JSON value that cannot be stored, with its dotted path ('' for the value itself). */
export function findBadString(value: unknown): { readonly path: string; readonly reason: string } | undefined {
  const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key.slice(0, 64)}`);
  const stack: { v: unknown; path: string }[] = [{ v: value, path: '' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const reason = badStringReason(v);
      if (reason !== undefined) {
        return { path, reason };
      }
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: join(path, String(i)) }));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        const reason = badStringReason(k);
        if (reason !== undefined) {
          return { path, reason: `has a key that ${reason}` };
        }
        stack.push({ v: item, path: join(path, k) });
      }
    }
  }
  return undefined;
}

/**
 * Strings the platform cannot store: PostgreSQL text and jsonb refuse NUL, and an unpaired surrogate
 * is not Unicode. Dependency-free: the SDK endpoints (and so the evaluation Lambda) use it too.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What a body whose bytes are not UTF-8 gets (JSON is UTF-8 text; such a body is malformed, not repaired with U+FFFD). */
export const NOT_UTF8_BODY = 'the request body is not valid JSON: it is not UTF-8 text';

/**
 * Why a body with this Content-Encoding is refused, or undefined: bodies are read as sent (a gzip
 * body read as JSON was "not UTF-8 text", which sent its sender looking in the wrong place).
 */
export function unsupportedEncoding(header: string | undefined): string | undefined {
  const encoding = header?.trim().toLowerCase() ?? '';
  return encoding === '' || encoding === 'identity' ? undefined : `Content-Encoding "${encoding.slice(0, 32)}" is not supported: send the body uncompressed`;
}

/** The bytes as UTF-8 text, or undefined when they are not UTF-8 (rather than repairing them with U+FFFD). */
export function utf8Text(bytes: ArrayBuffer | Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Why `s` cannot be stored, or undefined. */
export function badStringReason(s: string): string | undefined {
  if (s.includes('\u0000')) {
    return 'contains a NUL character';
  }
  return LONE_SURROGATE.test(s) ? 'is not valid Unicode (unpaired surrogate)' : undefined;
}

/** Why a parsed JSON number is not one: 1e999 is valid JSON that JSON.parse reads as Infinity. */
export const NOT_FINITE = 'expected a finite number (JSON such as 1e999 reads as infinity)';

/** What findBadJson found: a string or a key that cannot be stored, a number beyond doubles, or nesting beyond `maxDepth`. */
export interface BadJson {
  readonly problem: 'string' | 'key' | 'number' | 'depth';
  /** Where: the value's path (for a key, the object holding it). */
  readonly path: string;
  /** Why, for strings and keys (badStringReason). */
  readonly reason: string;
}

/**
 * Walks a parsed JSON value iteratively (no recursion for an attacker to exhaust) and returns its
 * first problem. Paths start at `root` and join keys with dots and array indexes as `[i]` or, with
 * `dottedIndexes`, as `.i`.
 */
export function findBadJson(value: unknown, options: { readonly root?: string; readonly maxDepth?: number; readonly dottedIndexes?: boolean } = {}): BadJson | undefined {
  const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: options.root ?? '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (options.maxDepth !== undefined && depth > options.maxDepth) {
      return { problem: 'depth', path, reason: 'too deeply nested' };
    }
    if (typeof v === 'string') {
      const reason = badStringReason(v);
      if (reason !== undefined) {
        return { problem: 'string', path, reason };
      }
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) {
        return { problem: 'number', path, reason: NOT_FINITE };
      }
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, path: options.dottedIndexes === true ? join(path, String(i)) : `${path}[${i}]` }));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        const reason = badStringReason(k);
        if (reason !== undefined) {
          return { problem: 'key', path, reason };
        }
        stack.push({ v: item, depth: depth + 1, path: join(path, k.slice(0, 64)) });
      }
    }
  }
  return undefined;
}

/**
 * The first key, string or number of a parsed JSON value that cannot be stored, or nesting beyond
 * `maxDepth`, with its dotted path ('' for the value itself).
 */
export function findBadString(value: unknown, maxDepth?: number): { readonly path: string; readonly reason: string } | undefined {
  const bad = findBadJson(value, { dottedIndexes: true, ...(maxDepth === undefined ? {} : { maxDepth }) });
  return bad === undefined ? undefined : { path: bad.path, reason: bad.problem === 'key' ? `has a key that ${bad.reason}` : bad.reason };
}

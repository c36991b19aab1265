/**
 * What the API's event check refuses (cloud/src/http/sdk/event-batch.ts, @xp/shared's
 * event-check.ts and the server's text rules), restated without zod for the browser bundle, so
 * that one malformed field costs that field, not the whole exposure or event.
 */

/** How deeply a tracked event's property values may nest arrays and objects (a property's value is level 1; the API's MAX_PROPERTY_DEPTH). */
export const MAX_PROPERTY_DEPTH = 32;
/** The longest property name the API takes. */
export const MAX_PROPERTY_NAME = 200;
/** The longest unit id the API stores (`unitId`). */
export const MAX_UNIT_ID = 256;

const REPLACEMENT = '\uFFFD';

/** The string with every unpaired UTF-16 surrogate (not Unicode: the API refuses it) replaced by U+FFFD, as `toWellFormed()`. */
export function wellFormed(value: string): string {
  let out: string | undefined;
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) {
      continue;
    }
    if (c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    out = (out ?? '') + value.slice(from, i) + REPLACEMENT;
    from = i + 1;
  }
  return out === undefined ? value : out + value.slice(from);
}

/** A property value (plain JSON, parsed) with unpaired surrogates fixed (in place), or why it cannot be sent. */
function cleanProperty(root: unknown): { readonly value: unknown } | { readonly problem: string } {
  const holder = [root];
  // Iterative: no input can overflow the stack.
  const stack: { v: unknown; depth: number; set: (v: unknown) => void }[] = [{ v: root, depth: 0, set: (x) => (holder[0] = x) }];
  while (stack.length > 0) {
    const { v, depth, set } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) {
        return { problem: 'a string holds a NUL character' };
      }
      const fixed = wellFormed(v);
      if (fixed !== v) {
        set(fixed);
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) {
      continue;
    }
    if (depth + 1 > MAX_PROPERTY_DEPTH) {
      return { problem: `nested more than ${MAX_PROPERTY_DEPTH} levels deep` };
    }
    if (Array.isArray(v)) {
      const items = v as unknown[];
      items.forEach((item, i) => {
        stack.push({ v: item, depth: depth + 1, set: (x) => (items[i] = x) });
      });
      continue;
    }
    // Rebuilt (parsed JSON: plain data objects), so that keys can be fixed in their order.
    const record: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(v)) {
      if (key.includes('\0')) {
        return { problem: 'a key holds a NUL character' };
      }
      const fixedKey = wellFormed(key);
      record[fixedKey] = item;
      stack.push({ v: item, depth: depth + 1, set: (x) => (record[fixedKey] = x) });
    }
    set(record);
  }
  return { value: holder[0] };
}

/**
 * Tracked event properties as the API takes them: each one as plain JSON (dates become strings,
 * functions and undefined disappear), unpaired surrogates replaced by U+FFFD in names and strings;
 * a property the API would refuse (not serialisable, nested more than 32 levels, a NUL, a name over
 * 200 characters) is left out and named in `dropped` with why.
 */
export function cleanProperties(properties: Readonly<Record<string, unknown>>): { properties: Record<string, unknown>; dropped: string[] } {
  const out: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(properties)) {
    const key = wellFormed(name);
    let problem: string | undefined;
    let json: string | undefined;
    if (key.includes('\0') || key.length > MAX_PROPERTY_NAME) {
      problem = key.includes('\0') ? 'its name holds a NUL character' : `its name is longer than ${MAX_PROPERTY_NAME} characters`;
    } else {
      try {
        json = JSON.stringify(value);
      } catch {
        problem = 'it is not serialisable (a cycle, a BigInt, nesting too deep)';
      }
    }
    if (problem === undefined && json !== undefined) {
      const cleaned = cleanProperty(JSON.parse(json));
      if ('problem' in cleaned) {
        problem = cleaned.problem;
      } else {
        out[key] = cleaned.value;
      }
    }
    if (problem !== undefined) {
      dropped.push(`${JSON.stringify(wellFormed(name.slice(0, 64)))} (${problem})`);
    }
  }
  return { properties: out, dropped };
}

/** Exposure attributes (flat: strings, numbers, booleans) as the API takes them: surrogates fixed, any with a NUL left out. */
export function cleanAttributes(attributes: Record<string, string | number | boolean> | undefined): Record<string, string | number | boolean> | undefined {
  if (attributes === undefined) {
    return undefined;
  }
  let out: Record<string, string | number | boolean> | undefined;
  for (const [name, value] of Object.entries(attributes)) {
    if (name.includes('\0') || (typeof value === 'string' && value.includes('\0'))) {
      continue;
    }
    (out ??= {})[wellFormed(name)] = typeof value === 'string' ? wellFormed(value) : value;
  }
  return out;
}

import { describe, expect, it } from 'vitest';
import { findBadJson } from '../text.js';
import { MAX_JSON_DEPTH, exceedsJsonDepth, refuseDeepJson } from '../json-depth.js';
import { plainAddress } from '../client-ip.js';

const nested = (levels: number, inner = ''): string => `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;

describe('JSON depth before parsing', () => {
  it('agrees with the check after parsing: nothing it refuses would have been accepted', () => {
    for (const levels of [1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH + 2, MAX_JSON_DEPTH + 3]) {
      for (const inner of ['', '1', '{}', '{"a":1}']) {
        const text = nested(levels, inner);
        const afterParse = findBadJson(JSON.parse(text), { maxDepth: MAX_JSON_DEPTH })?.problem === 'depth';
        // Refused before parsing only if refused after it too.
        expect(!exceedsJsonDepth(text) || afterParse).toBe(true);
      }
    }
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH + 1))).toBe(false);
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH + 2))).toBe(true);
    expect(exceedsJsonDepth('{"a":'.repeat(MAX_JSON_DEPTH + 2))).toBe(true);
  });

  it('skips strings, their escaped quotes and backslashes', () => {
    const brackets = '['.repeat(1000);
    expect(exceedsJsonDepth(JSON.stringify({ a: brackets, b: `\\"${brackets}`, c: `"${brackets}\\`, d: [`\\`, brackets] }))).toBe(false);
    // After a string ending in an escaped backslash, brackets count again.
    expect(exceedsJsonDepth(`["\\\\",${nested(MAX_JSON_DEPTH + 2)}]`)).toBe(true);
    expect(exceedsJsonDepth(`["\\"${brackets}"]`)).toBe(false);
  });

  it('refuses 7 MB of nesting with 400 naming the limit', () => {
    const deep = '['.repeat(7 * 1024 * 1024);
    expect(() => {
      refuseDeepJson(deep);
    }).toThrow(`the body is nested more than ${MAX_JSON_DEPTH} levels deep`);
    expect(() => {
      refuseDeepJson(JSON.stringify({ text: deep }));
    }).not.toThrow();
  });
});

describe('plainAddress', () => {
  it('takes an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(['::ffff:203.0.113.7', '::FFFF:127.0.0.1', '203.0.113.7', '2001:DB8::1', '::1'].map(plainAddress)).toEqual(['203.0.113.7', '127.0.0.1', '203.0.113.7', '2001:db8::1', '::1']);
  });
});

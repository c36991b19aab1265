import { describe, expect, it } from 'vitest';
import { regexBacktrackingRisk, regexUnicodeEscape } from '../regex-safety.js';

describe('regexBacktrackingRisk', () => {
  // (?:(?:a|b)c)+ is safe but refused: the check is conservative about alternatives under a repetition.
  it('refuses a repeated group that repeats or alternates inside: the shapes of exponential backtracking', () => {
    for (const risky of ['^(a+)+$', '(a*)*', '(a|ab)*c', '^(\\w+\\s?)+$', '(x+x+)+y', '((a)+)+', '(?:a+){2,}', '(a{1,3})+', '^([a-z]+\\.)*[a-z]+$', '(.*a){2,10}', '(?<n>a|b)+', '((a|aa))+', '(?:(?:a|b)c)+']) {
      expect({ risky, problem: regexBacktrackingRisk(risky) }).toEqual({ risky, problem: expect.stringContaining('can take exponential time') });
    }
  });

  it('refuses a group holding a repetition under a fixed count: polynomial of that degree, beyond the linear-time engine', () => {
    for (const risky of ['^(\\w+\\s?){10}$', '^(.*a){20}$', '(?:a+){2}', '((\\d+,)){3}']) {
      expect({ risky, problem: regexBacktrackingRisk(risky) }).toEqual({ risky, problem: expect.stringContaining('takes time growing as the input') });
    }
  });

  it('allows the patterns targeting uses: anchors, classes, single repetitions, fixed counts, optional groups', () => {
    for (const safe of [
      '^[a-z0-9._%+-]+@example\\.com$',
      '^(foo|bar)\\.example\\.com$',
      '@(acme|example)\\.(com|org)$',
      '^\\d{3}-\\d{4}$',
      '(\\d{3}-){2}\\d{4}',
      '^https?://[^/]+/beta(/.*)?$',
      '[(a+)+]',
      '\\(a+\\)+',
      '^(?:v1|v2)?-[a-f0-9]+$',
      '(ab){2}',
      '(foo|bar){2}',
      '(\\d{3}-){2}',
      '(\\w\\s?){5}',
      '.*a.*b',
      'a{2,}b+c*',
    ]) {
      expect({ safe, problem: regexBacktrackingRisk(safe) }).toEqual({ safe, problem: undefined });
    }
  });
});

describe('regexUnicodeEscape', () => {
  it('refuses Unicode property and code point escapes, which mean literal text without the u flag', () => {
    for (const pattern of ['^\\p{Lu}', '\\P{L}+', 'smile \\u{1F600}', '[\\p{Lu}]']) {
      expect({ pattern, problem: regexUnicodeEscape(pattern) }).toEqual({ pattern, problem: expect.stringContaining('needs the regex "u" flag') });
    }
    // Without the flag \p{Lu} is the text "p{Lu}": what the refused pattern would have matched.
    expect(new RegExp('^\\p{Lu}').test('Émile')).toBe(false);
    expect(new RegExp('^\\p{Lu}').test('p{Lu}x')).toBe(true);
  });

  it('allows an escaped backslash before p, \\p without braces and \\u with four hex digits', () => {
    for (const pattern of ['\\\\p{Lu}', 'a\\p', '\\u00e9', 'p{2}', '\\\\u{1}']) {
      expect({ pattern, problem: regexUnicodeEscape(pattern) }).toEqual({ pattern, problem: undefined });
    }
  });
});

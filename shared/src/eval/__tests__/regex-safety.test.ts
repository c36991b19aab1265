import { describe, expect, it } from 'vitest';
import { compileCondition, evalCondition } from '../condition.js';
import { regexBacktrackingRisk, regexBeyondLinearEngine, regexLookbehindProblem, regexUnicodeEscape } from '../regex-safety.js';

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

describe('groups that can match in more than one way, counted', () => {
  it('refuses a group of alternatives or with an optional part counted more than ten times, when saved and when stored', () => {
    for (const pattern of ['^(a|a){26}$', '^(a?){30}a{30}$', '([a-z]?){30}', '((a|a){5}){5}', '(x|y){2,20}', '(a?){0,30}', '((a)?){11}']) {
      expect({ pattern, saved: regexBacktrackingRisk(pattern), stored: regexBeyondLinearEngine(pattern) }).toEqual({
        pattern,
        saved: expect.stringMatching(/a group that can match in more than one way|a repeated group holds alternatives/),
        stored: expect.stringContaining('a group that can match in more than one way'),
      });
    }
    expect(regexBeyondLinearEngine('(a|b){6}(c?){6}')).toContain('groups that can match in more than one way follow each other, counted 12 times');
  });

  it('allows such groups counted a few times, and counted groups that match one way', () => {
    for (const pattern of ['(\\w\\s?){5}', '(foo|bar){2}', '(a?){10}', '^([0-9a-f]{2}:){5}[0-9a-f]{2}$', '(ab){20}', '(a|b){5}(c?){5}']) {
      expect({ pattern, saved: regexBacktrackingRisk(pattern), stored: regexBeyondLinearEngine(pattern) }).toEqual({ pattern, saved: undefined, stored: undefined });
    }
  });
});

describe('regexBeyondLinearEngine (stored patterns)', () => {
  it('names only the counted group of repetitions, which the linear-time fallback cannot run', () => {
    expect(regexBeyondLinearEngine('^(\\w+\\s?){10}$')).toContain('repeated 10 times');
    expect(regexBeyondLinearEngine('x(a|ab)*(?:b+){3}')).toContain('repeated 3 times');
    // Exponential shapes are left to V8's fallback when stored (refused when saved).
    for (const pattern of ['^(a+)+$', '(a|ab)*c', '^\\w+$', '(ab){2}']) {
      expect({ pattern, problem: regexBeyondLinearEngine(pattern) }).toEqual({ pattern, problem: undefined });
    }
  });

  it('compiles such a stored pattern to a reported problem and no match, without running it', () => {
    const condition = { bio: { $regex: '^(\\w+\\s?){10}$' } };
    const compiled = compileCondition(condition);
    expect(compiled.problems).toEqual([expect.stringContaining('condition.bio.$regex: a group holding a repetition is repeated 10 times')]);
    // Ten words would match the pattern; the refused pattern matches nothing.
    const tenWords = 'a b c d e f g h i j';
    expect(new RegExp(condition.bio.$regex).test(tenWords)).toBe(true);
    expect(compiled.test({ bio: tenWords }, {})).toBe(false);
    expect(evalCondition({ bio: tenWords }, condition)).toBe(false);
    // An ordinary stored pattern still runs.
    expect(evalCondition({ bio: 'abc' }, { bio: { $regex: '^\\w+$' } })).toBe(true);
  });
});

describe('backreferences', () => {
  it('are refused when saved and when stored: no linear-time engine runs them, and (a*)\\1*b grows as a power of the length', () => {
    for (const pattern of ['(a*)\\1*b', '(a+)\\1+$', '(\\w*)\\1*!', '(.*)\\1{0,50}x', '(?<x>a*)\\k<x>*b', '^(a)\\1$', '(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10']) {
      expect({ pattern, saved: regexBacktrackingRisk(pattern), stored: regexBeyondLinearEngine(pattern) }).toEqual({
        pattern,
        saved: expect.stringContaining('a backreference'),
        stored: expect.stringContaining('a backreference'),
      });
    }
    // A stored rule with one matches nothing and reports the problem, without running the pattern.
    const condition = { email: { $regex: '(a*)\\1*b' } };
    expect(compileCondition(condition).problems).toEqual([expect.stringContaining('condition.email.$regex: a backreference')]);
    expect(evalCondition({ email: 'a'.repeat(30_000) }, condition)).toBe(false);
  });

  it('counts capture groups: \\N is a backreference only up to their number, and \\k<name> only with named groups', () => {
    // Without the u flag (Annex B), \101 in a pattern without 101 groups is the octal escape for A,
    // \8 and \9 the digits; escaped parentheses, ones in a class, (?:, and lookarounds are not groups.
    for (const pattern of ['^\\101$', '^\\8$', '^\\9$', '(a)\\2', '(a)\\10', '\\(\\)\\1', '[(]\\1', '(?:a)\\1', '(?=a)\\1', '(?<=a)\\1', '(?!a)\\1', '\\k<x>', '[(?<n>]\\k<n>']) {
      expect({ pattern, saved: regexBacktrackingRisk(pattern), stored: regexBeyondLinearEngine(pattern) }).toEqual({ pattern, saved: undefined, stored: undefined });
    }
    for (const pattern of ['(?<n>a)\\1', '(?<n>a)\\k<n>', '[)](a)\\1', '\\((a)\\)\\1', '(?:(a))\\1']) {
      expect({ pattern, saved: regexBacktrackingRisk(pattern), stored: regexBeyondLinearEngine(pattern) }).toEqual({
        pattern,
        saved: expect.stringContaining('a backreference'),
        stored: expect.stringContaining('a backreference'),
      });
    }
    // What V8 matches, the same in the Python SDK (test_parity_fixes.RegexEscapeTest).
    const matches = (pattern: string, value: string): boolean => evalCondition({ a: value }, { a: { $regex: pattern } });
    expect([matches('^\\101$', 'A'), matches('^\\8$', '8'), matches('^\\9$', '9'), matches('^(a)\\10$', 'a\b'), matches('^\\18$', '\x018'), matches('^\\k<x>$', 'k<x>')]).toEqual([true, true, true, true, true, true]);
    expect(compileCondition({ a: { $regex: '^\\101$' } }, 'condition', { authoring: true }).problems).toEqual([]);
  });

  it('leaves escapes that only look alike: an escaped backslash before a digit, \\0, octal in a class, a literal k', () => {
    for (const pattern of ['\\\\1', 'a\\0', '[\\1]', '\\k', 'x\\d{2}']) {
      expect({ pattern, saved: regexBacktrackingRisk(pattern), stored: regexBeyondLinearEngine(pattern) }).toEqual({ pattern, saved: undefined, stored: undefined });
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

describe('regexLookbehindProblem', () => {
  // The verdicts of Python's re through the Python SDK's translator (sdk/python/experimentation/jsregex.py), checked pattern by pattern.
  it('refuses lookbehinds that Python cannot run: repeated, of unequal alternatives, or holding a backreference', () => {
    for (const pattern of ['(?<=a+)b', '(?<=a|bc)d', '(?<=(a)\\1)b', '(?<=a{2,3})b', '(?<=a?)b', '(?<=a*?)b', '(?<n>a)(?<=\\k<n>)', '(?<=(a|bc))d', 'x(?<!\\d+)y']) {
      expect({ pattern, problem: regexLookbehindProblem(pattern) }).toEqual({ pattern, problem: expect.stringContaining('a lookbehind must match a fixed number of characters') });
    }
  });

  it('allows fixed-width lookbehinds, and patterns without one', () => {
    for (const pattern of ['(?<=a|b)c', '(?<=ab|cd)e', '(?<=a{2})b', '(?<=\\d\\w[x-z].)b', '(?<=\\bfoo)b', '(?<=(?=x)a)b', '(?<=[)(]a)b', '(?<=\\x41\\u0042\\cJ)c', '(?<=(?:ab){2})c', '(?<=(?<!z)a)b', '(a)\\1(?<=a)', '(?<=a{2}?)b', '(?<=\\101)b', 'a+|(?<=x)y', '(?<=[]a)b', '^(a+)\\1$']) {
      expect({ pattern, problem: regexLookbehindProblem(pattern) }).toEqual({ pattern, problem: undefined });
    }
  });

  it('makes an authored condition invalid, while a stored one still runs in JavaScript', () => {
    const { problems } = compileCondition({ name: { $regex: '(?<=a+)b' } }, 'condition', { authoring: true });
    expect(problems.join()).toContain('a lookbehind must match a fixed number of characters');
    expect(compileCondition({ name: { $regex: '(?<=a+)b' } }).problems).toEqual([]);
    expect(evalCondition({ name: 'aab' }, { name: { $regex: '(?<=a+)b' } })).toBe(true);
  });
});

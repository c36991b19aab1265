import { describe, expect, it } from 'vitest';
import { compileCondition, evalCondition } from '../condition.js';
import { regexBacktrackingRisk, regexBeyondLinearEngine, regexForeignGroup, regexForeignSyntax, regexLookbehindProblem, regexUnicodeEscape } from '../regex-safety.js';

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

describe('regexForeignSyntax (PCRE, RE2, Python and POSIX syntax JavaScript reads as something else)', () => {
  const authored = (pattern: string, op = '$regex'): string[] => compileCondition({ plan: { [op]: pattern } }, 'condition', { authoring: true }).problems;

  it('refuses \\z, \\A and \\Z, naming the escape and the anchor to write instead', () => {
    // What the tester saw: JavaScript reads \z as the letter z.
    expect(new RegExp('pro\\z').test('pro')).toBe(false);
    expect(new RegExp('pro\\z').test('proz')).toBe(true);
    expect(authored('pro\\z')).toEqual([
      'condition.plan.$regex: \\z is not an escape in a JavaScript regular expression (conditions compile patterns as JavaScript does, without the "u" flag): it matches the letter "z", whatever it means in PCRE, RE2 or Python; for the end of the value write $ (conditions match without the "m" flag, so $ is only the very end)',
    ]);
    expect(regexForeignSyntax('pro\\Z')).toContain('\\Z is not an escape');
    expect(regexForeignSyntax('\\Apro')).toMatch(/^\\A is not an escape .*: it matches the letter "A".*; for the start of the value write \^$/);
  });

  it('refuses every ASCII letter escape that means only its letter without the u flag, outside and inside a class', () => {
    const meaningless = 'a e g h i j l m o q y z A C E F G H I J K L M N O R T U V X Y Z'.split(' ');
    for (const letter of meaningless) {
      for (const pattern of [`x\\${letter}`, `[\\${letter}]`]) {
        expect({ pattern, problem: regexForeignSyntax(pattern) }).toEqual({ pattern, problem: expect.stringContaining(`it matches the letter "${letter}"`) });
        // Each is valid JavaScript, and really is the letter.
        expect(new RegExp(`^${pattern}$`).test(pattern.startsWith('[') ? letter : `x${letter}`)).toBe(true);
      }
    }
    // \B is a boundary outside a class, and only the letter B inside one.
    expect(regexForeignSyntax('[\\B]')).toContain('class (conditions compile');
    expect(new RegExp('^[\\B]$').test('B')).toBe(true);
  });

  it('refuses \\x and \\u without their hex digits, \\p and \\P without braces, and \\k without named groups', () => {
    expect(regexForeignSyntax('\\x{41}')).toMatch(/^\\x without two hex digits after it .* the letter "x".*\\x41 for A/);
    expect(new RegExp('^\\x{2}$').test('xx')).toBe(true);
    expect(regexForeignSyntax('\\u00e')).toMatch(/^\\u without four hex digits after it/);
    expect(regexForeignSyntax('^\\pL+$')).toContain('Unicode property escapes need the regex "u" flag');
    expect(regexForeignSyntax('\\PL')).toContain('Unicode property escapes need the regex "u" flag');
    expect(regexForeignSyntax('\\k<name>')).toContain('\\k is a named backreference only in a pattern with named groups');
    expect(new RegExp('^\\k<name>$').test('k<name>')).toBe(true);
  });

  it('refuses \\Q…\\E quoting', () => {
    expect(regexForeignSyntax('^\\Qa.b\\E$')).toMatch(/^\\Q…\\E \(quoted text\) is not JavaScript syntax: .*escape each special character with a backslash instead \(a\\\.b for the text a\.b\)$/);
    expect(regexForeignSyntax('a\\E')).toContain('\\Q…\\E quoting does not exist in JavaScript');
  });

  it('refuses POSIX classes inside a character class, or standing for one, with the range to write', () => {
    // What the tester saw: [[:alpha:]] is a class of "[", ":", a, l, p, h, then a literal "]".
    expect(new RegExp('^[[:alpha:]]+$').test('abc')).toBe(false);
    expect(new RegExp('^[[:alpha:]]+$').test(':]]')).toBe(true);
    expect(authored('^[[:alpha:]]+$')).toEqual([
      'condition.plan.$regex: [:alpha:] inside a character class is POSIX syntax, which JavaScript does not have: [[:alpha:]] is a class of "[", ":" and the letters of "alpha", followed by a literal "]"; write the range instead: [a-zA-Z] (inside a longer class, a-zA-Z)',
    ]);
    expect(regexForeignSyntax('[^[:digit:]_]')).toContain('write the range instead: [0-9]');
    expect(regexForeignSyntax('[x[:space:]]')).toContain('[\\s]');
    expect(regexForeignSyntax('^[:alnum:]+$')).toBe('[:alnum:] is a POSIX class, which JavaScript does not have: here it is a class of the characters between the brackets; write [a-zA-Z0-9]');
    expect(regexForeignSyntax('^[^:digit:]$')).toContain('[^:digit:] is a POSIX class, which JavaScript does not have: here it is a class of the characters between the brackets; write [^0-9]');
  });

  it('refuses inline flags, Python\'s named groups and other groups JavaScript lacks, saying what to write instead', () => {
    expect(regexForeignSyntax('(?i)^pro$')).toBe('inline flags such as (?i) are not JavaScript syntax (conditions compile patterns as JavaScript does): for a case-insensitive match use $regexi instead of $regex');
    expect(regexForeignSyntax('(?s)a.b')).toContain('write [\\s\\S] instead of .');
    expect(regexForeignSyntax('(?i:pro)')).toContain('use $regexi');
    expect(regexForeignSyntax('(?P<plan>pro)')).toBe("(?P<name>…) is Python's named group; JavaScript writes it (?<name>…)");
    expect(regexForeignSyntax('(?#note)a')).toContain('comments');
    expect(regexForeignSyntax('(?>a)')).toContain('write (?:…)');
    // Authored and stored, the message replaces V8's "Invalid group" (the pattern is refused either way).
    expect(authored('(?i)^pro$')).toEqual(['condition.plan.$regex: invalid regular expression: inline flags such as (?i) are not JavaScript syntax (conditions compile patterns as JavaScript does): for a case-insensitive match use $regexi instead of $regex']);
    expect(compileCondition({ n: { $regex: '(?P<n>a)' } }).problems).toEqual(["condition.n.$regex: invalid regular expression: (?P<name>…) is Python's named group; JavaScript writes it (?<name>…)"]);
    expect(compileCondition({ n: { $regex: '(a' } }).problems).toEqual([expect.stringMatching(/^condition\.n\.\$regex: invalid regular expression: Invalid regular expression: .*Unterminated group$/)]);
    expect(regexForeignGroup('[(?i)]\\(?i\\)')).toBeUndefined();
  });

  it('allows what JavaScript means: classes, boundaries, control, hex and octal escapes, escaped punctuation, named backreferences', () => {
    for (const pattern of [
      '^\\d+\\D\\w\\W\\s\\S\\b\\B$',
      '\\f\\n\\r\\t\\v\\cJ\\0',
      '\\x41\\u00e9[\\x41-\\x5a\\u00e0]',
      '[\\b\\d\\w\\s\\cJ\\c1\\c_]',
      '\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/\\-\\\\z',
      '\\\\Qa\\\\E',
      '(?<n>a)\\k<n>',
      '\\1\\8',
      '(?:a)(?=b)(?!c)(?<=d)(?<!e)(?<name>f)',
      '[[:]',
      '[:x:]',
      '[[:notaclass:]]',
      '\\[:alpha:]',
      '@acme\\.com$',
    ]) {
      expect({ pattern, problem: regexForeignSyntax(pattern) }).toEqual({ pattern, problem: undefined });
    }
  });

  it('is checked only when authored: a stored pattern evaluates as it always has', () => {
    for (const [pattern, value, matches] of [
      ['pro\\z', 'proz', true],
      ['pro\\z', 'pro', false],
      ['^[[:alpha:]]+$', ':]]', true],
      ['\\Qa.b\\E', 'QaxbE', true],
    ] as const) {
      expect(compileCondition({ plan: { $regex: pattern } }).problems).toEqual([]);
      expect({ pattern, value, matches: evalCondition({ plan: value }, { plan: { $regex: pattern } }) }).toEqual({ pattern, value, matches });
    }
  });
});

/**
 * Catastrophic backtracking in targeting regexes. A JavaScript (or Python) regex such as `^(a+)+$`
 * takes time exponential in the length of an input it does not match: each extra character
 * doubles it. Targeting attributes come from callers (a client-side SDK key is public), so such a
 * pattern in a rule lets anyone stall whatever evaluates it. Patterns are checked when authored:
 * a repeated group may not contain another repetition or alternatives, the shape behind every
 * exponential case (`(a+)+`, `(a*)*`, `(a|ab)*`, `(\w+\s?)+`), nor may a group holding a repetition be
 * repeated a fixed number of times (`(\w+\s?){10}`: polynomial of that degree, and beyond what V8's
 * linear-time engine runs, so the server's fallback cannot take over). That also refuses some patterns that
 * are safe (`(?:(?:a|b)c)+`; `(?:[ab]c)+` says the same). Polynomial cases (`.*a.*b`) stay
 * allowed; the server also runs regexes with V8's linear-time fallback (cloud: regex-guard).
 * Backreferences (`(a*)\1*b`: polynomial of high degree) are refused everywhere, as stored rules
 * too: no linear-time engine runs them. Only real ones: without the `u` flag `\101` in a pattern with
 * fewer than 101 groups is the octal escape for A, and `\8` the digit 8.
 */

interface Group {
  /** The group holds a quantifier that repeats (anything but `{n}`), directly or in a nested group. */
  repeats: boolean;
  /** The group has alternatives (`a|b`), directly or in a nested group. */
  alternates: boolean;
  /** The group holds an optional part (`a?`), directly or in a nested group. */
  optional: boolean;
  /**
   * About log2 of the ways the group's counted parts can split a value: a group that can match in
   * two ways (alternatives, an optional part) repeated n times gives n; nested counts multiply,
   * counts in sequence add.
   */
  ways: number;
}

/** More than about 2^10 ways to try per position is refused: (a|a){26} or (a?){30} takes seconds to minutes. */
const MAX_WAYS_EXPONENT = 10;

const newGroup = (): Group => ({ repeats: false, alternates: false, optional: false, ways: 0 });

const QUANTIFIER_BRACES = /^\{(\d+)(,(\d*))?\}/;

/** The quantifier starting at `source[i]`, if any: its length and whether it repeats (a variable number of times, more than once). */
function quantifierAt(source: string, i: number): { length: number; repeats: boolean; max?: number; optional?: boolean; counted?: boolean } | undefined {
  const c = source[i];
  if (c === '*' || c === '+') {
    return { length: 1 + (source[i + 1] === '?' ? 1 : 0), repeats: true };
  }
  if (c === '?') {
    return { length: 1 + (source[i + 1] === '?' ? 1 : 0), repeats: false, optional: true };
  }
  if (c === '{') {
    const m = QUANTIFIER_BRACES.exec(source.slice(i));
    if (m === null) {
      return undefined;
    }
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    // A fixed count ({3}) is not ambiguous: only a variable count of more than one can backtrack.
    return { length: m[0].length + (source[i + m[0].length] === '?' ? 1 : 0), repeats: max > 1 && max > min, max, optional: min === 0, counted: true };
  }
  return undefined;
}

/**
 * Why `source` (a regex pattern, as given to `new RegExp`) can take exponential time, or undefined
 * when it has no repeated group that itself repeats or alternates. Assumes the pattern compiles.
 */
export function regexBacktrackingRisk(source: string): string | undefined {
  return backtrackingRisk(source, false);
}

/**
 * The part of `regexBacktrackingRisk` that nothing can stop once a pattern is stored: a counted group
 * of repetitions (`(\w+\s?){10}`), which V8's linear-time engine cannot run either. Evaluators refuse
 * such a pattern even in a ruleset stored before it was refused when saved (the rule's flag then
 * reports INVALID_RULE, the same as for a pattern that does not compile), rather than hold the
 * process for minutes on a value sent with a public client key.
 */
export function regexBeyondLinearEngine(source: string): string | undefined {
  return backtrackingRisk(source, true);
}

/**
 * The capturing groups of a pattern (as compiled without the `u` flag): each `(` not followed by `?`,
 * and each named group `(?<name>`; not `(?:`, lookarounds, escaped parentheses or parentheses inside a
 * character class. `named` says whether any group has a name.
 */
function captureGroups(source: string): { count: number; named: boolean } {
  let count = 0;
  let named = false;
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      i += 2;
    } else if (c === '[') {
      // A character class, to its first unescaped `]` (`[]` is an empty class, as in JavaScript).
      i++;
      while (i < source.length && source[i] !== ']') {
        i += source[i] === '\\' ? 2 : 1;
      }
      i++;
    } else {
      if (c === '(') {
        if (source[i + 1] !== '?') {
          count++;
        } else if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
          count++;
          named = true;
        }
      }
      i++;
    }
  }
  return { count, named };
}

const DECIMAL_ESCAPE = /[1-9]\d*/y;

/**
 * Whether the escape whose backslash is at `source[i]` is a backreference. Without the `u` flag
 * (ECMAScript Annex B), `\N` is a backreference only when N is at most the number of capturing
 * groups; otherwise `\101` is an octal escape (A) and `\8` the digit 8. `\k<name>` is one only in a
 * pattern with named groups (elsewhere it is the text `k<name>`).
 */
function isBackreference(source: string, i: number, groups: { count: number; named: boolean }): boolean {
  DECIMAL_ESCAPE.lastIndex = i + 1;
  const digits = DECIMAL_ESCAPE.exec(source)?.[0];
  if (digits !== undefined) {
    return Number(digits) <= groups.count;
  }
  return groups.named && source.startsWith('k<', i + 1);
}

function backtrackingRisk(source: string, countedOnly: boolean): string | undefined {
  const stack: Group[] = [newGroup()];
  const groups = captureGroups(source);
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      if (isBackreference(source, i, groups)) {
        // (a*)\1*b takes time growing as the cube of the input's length and more, and V8's
        // linear-time engine cannot run any backreference: nothing would stop it on the server.
        return 'a backreference (\\1 or \\k<name>) can take time growing as a power of the input\'s length, and no engine can bound it: match the repeated part explicitly, or compare the values in code';
      }
      i += 2;
    } else if (c === '[') {
      // A character class is one atom: skip to its closing bracket (escapes included).
      i++;
      while (i < source.length && source[i] !== ']') {
        i += source[i] === '\\' ? 2 : 1;
      }
      i++;
    } else if (c === '(') {
      stack.push(newGroup());
      i++;
      continue;
    } else if (c === ')') {
      const group = stack.length > 1 ? stack.pop()! : newGroup();
      const q = quantifierAt(source, i + 1);
      if (!countedOnly && q?.repeats === true && (group.repeats || group.alternates)) {
        const inner = group.repeats ? 'another repetition' : 'alternatives';
        return `a repeated group holds ${inner} (as in (a+)+ or (a|ab)*), which can take exponential time on some inputs: rewrite it without the nesting, for example (a+)+ as a+`;
      }
      if (q !== undefined && !q.repeats && (q.max ?? 1) > 1 && group.repeats) {
        // (\w+\s?){10}: each copy of the group can take any share of the input, so a value it does not
        // match is tried in about length^10 ways — seconds from 30 characters on, and V8's linear-time
        // engine cannot run such a count either, so nothing would stop it on the server.
        return `a group holding a repetition is repeated ${String(q.max)} times (as in (\\w+\\s?){10}), which takes time growing as the input's length to that power: write it without the counted group (for example ^[\\w\\s]+$), and count words or lengths in code`;
      }
      // A counted group that can match in more than one way: (a|a){26} tries 2^26 splits of a value it
      // does not match, (a?){30}a{30} as many; V8's linear-time engine cannot run such counts either.
      let ways = group.ways;
      if (q?.counted === true && Number.isFinite(q.max) && (q.max ?? 1) > 1 && (ways > 0 || group.alternates || group.optional)) {
        ways = Math.max(ways, 1) * (q.max ?? 1);
        if (ways > MAX_WAYS_EXPONENT) {
          return `a group that can match in more than one way (it holds alternatives or an optional part) is repeated ${String(q.max)} times (as in (a|b){20} or (a?){30}), which can take exponential time on some inputs: write it as a character class or a single repetition (for example [ab]{20} or a{0,30}), or with fewer copies`;
        }
      }
      // What a group holds its enclosing group holds too: ((a|aa))+ backtracks like (a|aa)+.
      const parent = stack[stack.length - 1]!;
      parent.repeats ||= group.repeats || q?.repeats === true;
      parent.alternates ||= group.alternates;
      parent.optional ||= group.optional || q?.optional === true;
      parent.ways += ways;
      if (parent.ways > MAX_WAYS_EXPONENT) {
        return `groups that can match in more than one way follow each other, counted ${String(parent.ways)} times in all (as in (a|b){6}(c?){6}), which can take exponential time on some inputs: write them as character classes or single repetitions, or with fewer copies`;
      }
      i += 1 + (q?.length ?? 0);
      continue;
    } else if (c === '|') {
      stack[stack.length - 1]!.alternates = true;
      i++;
      continue;
    } else {
      i++;
    }
    // After an atom (escape, class, character): its quantifier, if any.
    const q = quantifierAt(source, i);
    if (q !== undefined) {
      stack[stack.length - 1]!.repeats ||= q.repeats;
      stack[stack.length - 1]!.optional ||= q.optional === true;
      i += q.length;
    }
  }
  return undefined;
}

/**
 * Why `source` means something other than its author wrote, or undefined: conditions compile patterns
 * without the `u` flag (as GrowthBook's SDKs do), where `\p{Lu}` is the literal text `p{Lu}` and
 * `\u{1F600}` is 1,F,6,0,0 u's, so a Unicode property or code point escape never matches what it says.
 */
export function regexUnicodeEscape(source: string): string | undefined {
  for (let i = 0; i < source.length; i++) {
    if (source[i] !== '\\') {
      continue;
    }
    const next = source[i + 1];
    if ((next === 'p' || next === 'P' || next === 'u') && source[i + 2] === '{') {
      return `\\${next}{…} needs the regex "u" flag, which conditions do not use: here it matches the literal text "${next}{"; use a character class instead (for example [A-ZÀ-Þ] for \\p{Lu}, or the character itself for \\u{…})`;
    }
    i++;
  }
  return undefined;
}

/**
 * Letters whose escape means something in a JavaScript regex without the `u` flag (outside a
 * character class): classes, boundaries, control characters. `\x`, `\u` and `\k` mean something only
 * in their full forms, `\p` and `\P` only with the `u` flag; the rest (`\z`, `\A`, `\Q`, `\h`…) are
 * identity escapes (ECMAScript Annex B): the letter itself, whatever they mean in PCRE, RE2 or Python.
 */
const MEANINGFUL_ESCAPES = new Set('dDwWsSbBfnrtvc');

/** What to write instead of an escape that other engines know and JavaScript reads as its letter. */
const ESCAPE_ADVICE: Readonly<Record<string, string>> = {
  A: 'for the start of the value write ^',
  z: 'for the end of the value write $ (conditions match without the "m" flag, so $ is only the very end)',
  Z: 'for the end of the value write $ (conditions match without the "m" flag, so $ is only the very end)',
  G: 'anchor with ^ instead',
  E: '\\Q…\\E quoting does not exist in JavaScript: escape each special character with a backslash instead',
  h: 'for a space or a tab write [ \\t]',
  H: 'for anything but a space or a tab write [^ \\t]',
  R: 'for a line break write (?:\\r\\n|\\n|\\r)',
  N: 'for any character but a line break write .',
  K: 'to keep what comes before out of the match use a lookbehind, (?<=…)',
  e: 'for the escape character write \\x1b',
  a: 'for the bell character write \\x07',
  x: 'write \\x with exactly two hex digits (\\x41 for A), \\u with four (\\u00e9 for é), or the character itself',
  u: 'write \\u with exactly four hex digits (\\u00e9 for é), or the character itself',
  p: 'Unicode property escapes need the regex "u" flag, which conditions do not use: use a character class (for example [A-Za-z] for \\pL)',
  P: 'Unicode property escapes need the regex "u" flag, which conditions do not use: use a character class (for example [^A-Za-z] for \\PL)',
  k: '\\k is a named backreference only in a pattern with named groups (and backreferences are refused)',
};

/** POSIX bracket expressions and what to write inside a character class instead. */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\s',
  blank: ' \\t',
  word: '\\w',
  xdigit: '0-9A-Fa-f',
  punct: '!-\\/:-@\\[-`{-~',
  cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e',
  graph: '\\x21-\\x7e',
  ascii: '\\x00-\\x7f',
};

const POSIX_CLASS = /\[:([a-z]+):\]/y;
const HEX2 = /[0-9a-fA-F]{2}/y;
const HEX4 = /[0-9a-fA-F]{4}/y;
const INLINE_FLAGS = /\(\?([a-zA-Z-]+)[:)]/y;

function matchesAt(re: RegExp, source: string, i: number): RegExpExecArray | null {
  re.lastIndex = i;
  return re.exec(source);
}

/**
 * Why the group opened at `source[i]` (a `(?` that JavaScript does not know) is not JavaScript
 * syntax, naming what to write instead; undefined for `(`, `(?:`, lookarounds and `(?<name>`.
 */
function foreignGroup(source: string, i: number): string | undefined {
  if (source[i + 1] !== '?') {
    return undefined;
  }
  const c = source[i + 2];
  if (c === ':' || c === '=' || c === '!' || (c === '<' && source[i + 3] !== undefined)) {
    return undefined;
  }
  if (c === 'P' && source[i + 3] === '<') {
    return '(?P<name>…) is Python\'s named group; JavaScript writes it (?<name>…)';
  }
  const flags = matchesAt(INLINE_FLAGS, source, i)?.[1];
  if (flags !== undefined && /^[imsxnU-]+$/.test(flags)) {
    const written = source.slice(i, i + flags.length + 3);
    const advice: string[] = [];
    if (flags.includes('i')) {
      advice.push('for a case-insensitive match use $regexi instead of $regex');
    }
    if (flags.includes('s')) {
      advice.push('for any character including line breaks write [\\s\\S] instead of .');
    }
    if (flags.includes('m')) {
      advice.push('^ and $ match only at the start and end of the whole value');
    }
    if (flags.includes('x')) {
      advice.push('remove the spaces and comments from the pattern');
    }
    return `inline flags such as ${written} are not JavaScript syntax (conditions compile patterns as JavaScript does)${advice.length > 0 ? `: ${advice.join('; ')}` : ''}`;
  }
  if (c === '#') {
    return 'comments (?#…) are not JavaScript syntax: remove it';
  }
  if (c === '>') {
    return 'atomic groups (?>…) are not JavaScript syntax: write (?:…)';
  }
  return `(?${c ?? ''} does not start a JavaScript group: write (?:…) for a group, (?<name>…) for a named group, (?=…) (?!…) (?<=…) (?<!…) for a lookaround`;
}

/**
 * Why the group syntax of `source` is not JavaScript's, or undefined: inline flags (`(?i)`,
 * `(?s:…)`), Python's `(?P<name>…)`, comments and atomic groups, which JavaScript refuses with
 * "Invalid group" (or, from V8 12.5 on, reads `(?i:…)` while the Python SDK does not).
 */
export function regexForeignGroup(source: string): string | undefined {
  return firstProblem(source, { group: (i) => foreignGroup(source, i) });
}

/** What firstProblem asks about each piece of a pattern; each answers a problem or undefined. */
interface PatternVisitor {
  /** The escape whose backslash is at `i`, outside a character class. */
  readonly escape?: (i: number) => string | undefined;
  /** The character class from `start` (its `[`) to before `end`. */
  readonly characterClass?: (start: number, end: number) => string | undefined;
  /** The group opened at `i`. */
  readonly group?: (i: number) => string | undefined;
}

/** The first problem the visitor finds walking `source` left to right (escapes, classes, groups), or undefined. */
function firstProblem(source: string, visitor: PatternVisitor): string | undefined {
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    let problem: string | undefined;
    if (c === '\\') {
      problem = visitor.escape?.(i);
      i += 2;
    } else if (c === '[') {
      const end = classEnd(source, i);
      problem = visitor.characterClass?.(i, end);
      i = end;
    } else {
      problem = c === '(' ? visitor.group?.(i) : undefined;
      i++;
    }
    if (problem !== undefined) {
      return problem;
    }
  }
  return undefined;
}

/** The index after the character class opened at `source[i]` (its first unescaped `]`; `[]` is empty, as in JavaScript). */
function classEnd(source: string, i: number): number {
  i++;
  while (i < source.length && source[i] !== ']') {
    i += source[i] === '\\' ? 2 : 1;
  }
  return i + 1;
}

/** Why the escape whose backslash is at `source[i]` is a letter JavaScript reads as itself, or undefined. */
function identityEscape(source: string, i: number, inClass: boolean, named: boolean): string | undefined {
  const c = source[i + 1] ?? '';
  if (!/^[A-Za-z]$/.test(c)) {
    return undefined;
  }
  if (c === 'Q') {
    return '\\Q…\\E (quoted text) is not JavaScript syntax: there \\Q is the letter "Q" and the text up to \\E is read as a pattern; escape each special character with a backslash instead (a\\.b for the text a.b)';
  }
  const meaningful =
    (MEANINGFUL_ESCAPES.has(c) && !(inClass && c === 'B')) ||
    (c === 'x' && matchesAt(HEX2, source, i + 2) !== null) ||
    (c === 'u' && (matchesAt(HEX4, source, i + 2) !== null || source[i + 2] === '{')) ||
    ((c === 'p' || c === 'P') && source[i + 2] === '{') ||
    (c === 'k' && named);
  if (meaningful) {
    // \u{…} and \p{…} are regexUnicodeEscape's; \k<name> with named groups is a backreference.
    return undefined;
  }
  const shown = c === 'x' ? '\\x without two hex digits after it' : c === 'u' ? '\\u without four hex digits after it' : `\\${c}`;
  const advice = ESCAPE_ADVICE[c] ?? `write ${c} without the backslash if you mean the letter`;
  return `${shown} is not an escape in a JavaScript regular expression${inClass ? ' character class' : ''} (conditions compile patterns as JavaScript does, without the "u" flag): it matches the letter "${c}", whatever it means in PCRE, RE2 or Python; ${advice}`;
}

/**
 * Why `source` uses syntax from other regex engines (PCRE, RE2, Python, POSIX) that JavaScript, which
 * conditions compile patterns with (no `u` flag), reads as something else or refuses, or undefined:
 * - an escaped ASCII letter with no meaning in JavaScript (`\z`, `\A`, `\Z`, `\h`, `\x{41}`, `\pL`…),
 *   which is that letter: `pro\z` matches "proz" and not "pro". `\k` counts as one only in a pattern
 *   without named groups; with them it is a backreference (refused by regexBacktrackingRisk);
 * - `\Q…\E` quoting;
 * - a POSIX class `[:alpha:]` inside a character class (`[[:alpha:]]` is a class of "[", ":", a, l, p,
 *   h followed by a "]"), or standing for one (`[:alpha:]`);
 * - inline flags `(?i)`, `(?P<name>…)` and the other groups of regexForeignGroup.
 * Refused when a condition is authored only: a stored pattern keeps evaluating as it always has.
 */
export function regexForeignSyntax(source: string): string | undefined {
  const { named } = captureGroups(source);
  return firstProblem(source, {
    escape: (i) => identityEscape(source, i, false, named),
    characterClass: (start, end) => {
      const alone = matchesAt(/\[(\^?):([a-z]+):\]/y, source, start);
      if (alone !== null && alone[2]! in POSIX_CLASSES) {
        return `[${alone[1]!}:${alone[2]!}:] is a POSIX class, which JavaScript does not have: here it is a class of the characters between the brackets; write [${alone[1]!}${POSIX_CLASSES[alone[2]!]!}]`;
      }
      for (let j = start + 1; j < end - 1; ) {
        if (source[j] === '\\') {
          const problem = identityEscape(source, j, true, named);
          if (problem !== undefined) {
            return problem;
          }
          j += 2;
          continue;
        }
        const name = source[j] === '[' ? matchesAt(POSIX_CLASS, source, j)?.[1] : undefined;
        if (name !== undefined && name in POSIX_CLASSES) {
          return `[:${name}:] inside a character class is POSIX syntax, which JavaScript does not have: [[:${name}:]] is a class of "[", ":" and the letters of "${name}", followed by a literal "]"; write the range instead: [${POSIX_CLASSES[name]!}] (inside a longer class, ${POSIX_CLASSES[name]!})`;
        }
        j++;
      }
      return undefined;
    },
    group: (i) => foreignGroup(source, i),
  });
}

interface Width {
  min: number;
  max: number;
  /** Holds a backreference (whose width is that of what its group matched). */
  backreference: boolean;
}

/**
 * Why `source` cannot be evaluated by every SDK, or undefined: Python's `re` needs a lookbehind to
 * match a fixed number of characters, so `(?<=a+)b`, `(?<=a|bc)d` or a backreference inside a
 * lookbehind, which JavaScript accepts, would make the rule an error in the Python SDK while the
 * JavaScript SDK and the API apply it. Refused when a condition is authored. Assumes the pattern
 * compiles (in JavaScript, without the `u` flag).
 */
export function regexLookbehindProblem(source: string): string | undefined {
  const { count: groups, named } = captureGroups(source);
  let problem: string | undefined;
  let i = 0;

  const escape = (): Width => {
    const c = source[i + 1] ?? '';
    if (c === 'b' || c === 'B') {
      i += 2;
      return { min: 0, max: 0, backreference: false };
    }
    const digits = /^[1-9]\d*/.exec(source.slice(i + 1))?.[0];
    if (digits !== undefined && Number(digits) <= groups) {
      i += 1 + digits.length;
      return { min: 0, max: Infinity, backreference: true };
    }
    if (c === 'k' && named) {
      const end = source.indexOf('>', i);
      i = end < 0 ? source.length : end + 1;
      return { min: 0, max: Infinity, backreference: true };
    }
    const long = /^(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|c[a-zA-Z]|0[0-7]{0,2}|[1-7][0-7]{0,2})/.exec(source.slice(i + 1))?.[0];
    i += 1 + (long?.length ?? 1);
    return { min: 1, max: 1, backreference: false };
  };

  const atom = (): Width => {
    const c = source[i]!;
    if (c === '\\') {
      return escape();
    }
    if (c === '[') {
      i++;
      if (source[i] === '^') {
        i++;
      }
      while (i < source.length && source[i] !== ']') {
        i += source[i] === '\\' ? 2 : 1;
      }
      i++;
      return { min: 1, max: 1, backreference: false };
    }
    if (c === '^' || c === '$') {
      i++;
      return { min: 0, max: 0, backreference: false };
    }
    if (c === '(') {
      const lookbehind = source.startsWith('(?<=', i) || source.startsWith('(?<!', i);
      const lookahead = source.startsWith('(?=', i) || source.startsWith('(?!', i);
      i += lookbehind ? 4 : lookahead || source.startsWith('(?:', i) ? 3 : 1;
      if (source.startsWith('?<', i)) {
        // A named group's name.
        const end = source.indexOf('>', i);
        i = end < 0 ? source.length : end + 1;
      }
      const inner = disjunction();
      i++;
      if (lookbehind && problem === undefined && (inner.backreference || inner.min !== inner.max)) {
        problem = `a lookbehind must match a fixed number of characters (as in (?<=ab)c or (?<=a|b)c): one with a repetition, alternatives of different lengths or a backreference (as in (?<=a+)b or (?<=a|bc)d) works in JavaScript but not in the Python SDK, which would answer the rule with an error`;
      }
      return lookbehind || lookahead ? { min: 0, max: 0, backreference: false } : inner;
    }
    i++;
    return { min: 1, max: 1, backreference: false };
  };

  const term = (): Width => {
    const w = atom();
    const q = quantifierAt(source, i);
    if (q === undefined) {
      return w;
    }
    const text = source.slice(i, i + q.length).replace(/\?$/, '') || source[i]!;
    i += q.length;
    const braces = QUANTIFIER_BRACES.exec(text);
    const [lo, hi] = text === '*' ? [0, Infinity] : text === '+' ? [1, Infinity] : text === '?' ? [0, 1] : [Number(braces?.[1] ?? 1), braces?.[2] === undefined ? Number(braces?.[1] ?? 1) : braces[3] === '' ? Infinity : Number(braces[3])];
    return { min: w.min * lo, max: hi === 0 ? 0 : w.max * hi, backreference: w.backreference };
  };

  const alternative = (): Width => {
    const sum: Width = { min: 0, max: 0, backreference: false };
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      const w = term();
      sum.min += w.min;
      sum.max += w.max;
      sum.backreference ||= w.backreference;
    }
    return sum;
  };

  const disjunction = (): Width => {
    const first = alternative();
    const all: Width = { ...first };
    while (source[i] === '|') {
      i++;
      const next = alternative();
      all.min = Math.min(all.min, next.min);
      all.max = Math.max(all.max, next.max);
      all.backreference ||= next.backreference;
    }
    return all;
  };

  while (i < source.length) {
    disjunction();
    // A stray ')' cannot occur in a pattern that compiles; step over it all the same.
    i++;
  }
  return problem;
}

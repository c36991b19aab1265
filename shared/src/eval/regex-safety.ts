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
 */

interface Group {
  /** The group holds a quantifier that repeats (anything but `{n}`), directly or in a nested group. */
  repeats: boolean;
  /** The group has alternatives (`a|b`), directly or in a nested group. */
  alternates: boolean;
}

const QUANTIFIER_BRACES = /^\{(\d+)(,(\d*))?\}/;

/** The quantifier starting at `source[i]`, if any: its length and whether it repeats (a variable number of times, more than once). */
function quantifierAt(source: string, i: number): { length: number; repeats: boolean; max?: number } | undefined {
  const c = source[i];
  if (c === '*' || c === '+') {
    return { length: 1 + (source[i + 1] === '?' ? 1 : 0), repeats: true };
  }
  if (c === '?') {
    return { length: 1 + (source[i + 1] === '?' ? 1 : 0), repeats: false };
  }
  if (c === '{') {
    const m = QUANTIFIER_BRACES.exec(source.slice(i));
    if (m === null) {
      return undefined;
    }
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    // A fixed count ({3}) is not ambiguous: only a variable count of more than one can backtrack.
    return { length: m[0].length + (source[i + m[0].length] === '?' ? 1 : 0), repeats: max > 1 && max > min, max };
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

function backtrackingRisk(source: string, countedOnly: boolean): string | undefined {
  const stack: Group[] = [{ repeats: false, alternates: false }];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      i += 2;
    } else if (c === '[') {
      // A character class is one atom: skip to its closing bracket (escapes included).
      i++;
      while (i < source.length && source[i] !== ']') {
        i += source[i] === '\\' ? 2 : 1;
      }
      i++;
    } else if (c === '(') {
      stack.push({ repeats: false, alternates: false });
      i++;
      continue;
    } else if (c === ')') {
      const group = stack.length > 1 ? stack.pop()! : { repeats: false, alternates: false };
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
      // What a group holds its enclosing group holds too: ((a|aa))+ backtracks like (a|aa)+.
      const parent = stack[stack.length - 1]!;
      parent.repeats ||= group.repeats || q?.repeats === true;
      parent.alternates ||= group.alternates;
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

/**
 * Lexical fast path of the indexer: a per-language tokenizer that understands comments and string
 * literals, and finds `<method>(<string literal>, ...)` calls without a tree-sitter parse. It returns
 * undefined whenever it meets something it cannot settle alone (a non-literal key, a construct whose
 * parse it is not sure of, a comparison it cannot read), and the caller then parses the file.
 * The equivalence test (fast-scan.test.ts) holds it to exactly the references tree-sitter finds.
 */
import type { FileIndex, KeySlotInfo, MethodTable } from './extract.js';
import { hasLoneCarriageReturn } from './lines.js';
import type { ComparedVariation, DefaultArgument, DefaultArgumentSpec, DefaultKind, FlagReference, Language, Range } from './types.js';
import { defaultArgumentOf, defaultText, quotedLiteral } from './types.js';

const enum T {
  Ident,
  Number,
  /** '...' / "..." (JS string, Go interpreted, Java string, Python string) */
  Str,
  /** A string-like token that is not the grammar's `string` node: template, raw, rune, char, f-string. */
  OtherStr,
  Punct,
}

interface Token {
  readonly t: T;
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly line: number;
}

class Bail extends Error {}

/**
 * Token storage, kept from file to file (a scan runs from start to end without yielding): the kind,
 * offsets and line of each token in typed arrays, so that lexing allocates nothing per token. The
 * scan reads tokens through a TokenView, which builds objects only for the few tokens it looks at.
 */
let KINDS = new Uint8Array(4096);
let STARTS = new Int32Array(4096);
let ENDS = new Int32Array(4096);
let LINES = new Int32Array(4096);
/** For a bracket token, the index of its partner; -1 for other tokens. */
let MATCH = new Int32Array(4096);

function grow(): void {
  const size = KINDS.length * 2;
  const kinds = new Uint8Array(size);
  kinds.set(KINDS);
  const starts = new Int32Array(size);
  starts.set(STARTS);
  const ends = new Int32Array(size);
  ends.set(ENDS);
  const lines = new Int32Array(size);
  lines.set(LINES);
  const match = new Int32Array(size);
  match.set(MATCH);
  MATCH = match;
  KINDS = kinds;
  STARTS = starts;
  ENDS = ends;
  LINES = lines;
}

/** KINDS holds T values: this reads them back as T. */
const KIND_OF: readonly T[] = [T.Ident, T.Number, T.Str, T.OtherStr, T.Punct];

function tokenAt(text: string, k: number): Token {
  const start = STARTS[k]!;
  const end = ENDS[k]!;
  return { t: KIND_OF[KINDS[k]!]!, text: end === start + 1 ? text.charAt(start) : text.slice(start, end), start, end, line: LINES[k]! };
}

/** The tokens of the last lexed file, as objects built at each look (short-lived, cheaper than a cache); undefined out of range. */
class TokenView {
  constructor(
    private readonly text: string,
    readonly length: number,
  ) {}

  get(k: number): Token | undefined {
    return k < 0 || k >= this.length ? undefined : tokenAt(this.text, k);
  }
}

/**
 * Which identifiers the lexer must read as text (method names, comparison words, `class`), by length
 * and first character: any other identifier is stored as offsets only.
 */
class WordFilter {
  private readonly bits = new Uint8Array(64 * 128);

  constructor(words: Iterable<string>) {
    for (const w of words) {
      if (w.length > 0 && w.length < 64 && w.charCodeAt(0) < 128) {
        this.bits[(w.length << 7) | w.charCodeAt(0)] = 1;
      }
    }
  }

  mayBe(text: string, i: number, k: number): boolean {
    const len = k - i;
    const c = text.charCodeAt(i);
    return len >= 64 || c >= 128 || this.bits[(len << 7) | c] === 1;
  }
}

const FILTERS = new WeakMap<ReadonlyMap<string, unknown>, WordFilter>();

function filterFor(methods: ReadonlyMap<string, unknown>): WordFilter {
  let f = FILTERS.get(methods);
  if (f === undefined) {
    f = new WordFilter([...methods.keys(), ...COMPARE_WORDS, 'class']);
    FILTERS.set(methods, f);
  }
  return f;
}

const PUNCT = ['>>>=', '===', '!==', '**=', '...', '<<=', '>>=', '>>>', '&&=', '||=', '??=', '==', '!=', '<=', '>=', '&&', '||', '??', '?.', '=>', ':=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>', '++', '--', '->', '**', '//', '<-', '&^'];

/** Characters that can follow the first character of a multi-character operator. */
const OP_SECOND = new Uint8Array(128);
for (const ch of '=&|?.>-<*/^:') {
  OP_SECOND[ch.charCodeAt(0)] = 1;
}
/** The characters Lexer.rare may take: / ` } \\ < #. */
const RARE_START = new Uint8Array(128);
for (const ch of '/`}\\<#') {
  RARE_START[ch.charCodeAt(0)] = 1;
}
/** PUNCT by first character, in PUNCT's order (longest first). */
const OPS_BY_FIRST: (string[] | undefined)[] = [];
for (const p of PUNCT) {
  (OPS_BY_FIRST[p.charCodeAt(0)] ??= []).push(p);
}

/** The longest multi-character operator at `i` (whose first character is `c`), if any. */
function operatorAt(text: string, i: number, c: number): string | undefined {
  const ops = OPS_BY_FIRST[c];
  if (ops !== undefined) {
    for (const p of ops) {
      if (text.startsWith(p, i)) {
        return p;
      }
    }
  }
  return undefined;
}

const SPACE = /[ \t\r\f\v]*/y;
const IDENT_REST = /[\w$\u0080-\uffff]*/y;
const NUMBER_REST = /[\w$\u0080-\uffff.]*/y;

function isIdStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 128;
}
function isIdPart(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57);
}

const JS_REGEX_PREV_NOT = new Set([T.Ident, T.Number, T.Str, T.OtherStr]);
const JS_KEYWORDS_BEFORE_EXPR = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

/**
 * The tokenizer. The hot loop (`run`) is kept small and the rare constructs live in their own
 * methods, so V8 optimizes it after a few files rather than a few hundred.
 */
class Lexer {
  /** Tokens lexed, in KINDS, STARTS, ENDS and LINES. */
  count = 0;
  /** Token indexes of identifiers that name a method. */
  readonly calls: number[] = [];
  /** Whether the file has a token a comparison needs (an equality operator, `switch`, `equals`...). */
  comparing = false;
  /** Token indexes of every equality operator and comparison word, in order: all that comparisons are read from. */
  readonly cmp: number[] = [];
  /** Whether an identifier `class` occurs. */
  hasClass = false;
  private readonly words: WordFilter;
  private readonly eq: ReadonlySet<string>;
  private readonly opens: number[] = [];
  private i = 0;
  private line = 0;
  private readonly n: number;
  // JS template nesting: 'b' for a brace, 't' for a template substitution.
  private readonly stack: string[] = [];
  private readonly js: boolean;
  private readonly py: boolean;
  private readonly go: boolean;
  private readonly java: boolean;

  constructor(
    private readonly lang: Language,
    private readonly text: string,
    private readonly methods: ReadonlyMap<string, unknown>,
  ) {
    this.n = text.length;
    this.js = lang === 'typescript' || lang === 'tsx' || lang === 'javascript';
    this.py = lang === 'python';
    this.go = lang === 'go';
    this.java = lang === 'java';
    this.words = filterFor(methods);
    this.eq = EQ_OPS[lang];
  }

  run(): void {
    const { text, n, js, py, go } = this;
    if (js && text.startsWith('#!')) {
      const nl = text.indexOf('\n');
      this.i = nl < 0 ? n : nl;
    }
    while (this.i < n) {
      const i = this.i;
      const c = text.charCodeAt(i);
      if (c === 10) {
        this.line++;
        this.i++;
        continue;
      }
      if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
        // Runs of blanks and identifiers are matched by sticky regexes: native code from the first file on.
        SPACE.lastIndex = i;
        SPACE.test(text);
        this.i = SPACE.lastIndex;
        continue;
      }
      // Character tests come before language tests throughout: code optimized on one language's files
      // then has type feedback for every comparison it meets in another's (else it is thrown away).
      if (c === 35 ? py : c === 47 && text.charCodeAt(i + 1) === 47 && !py) {
        const nl = text.indexOf('\n', i);
        this.i = nl < 0 ? n : nl;
        continue;
      }
      if (isIdStart(c) && !(c === 36 && (py || go))) {
        IDENT_REST.lastIndex = i + 1;
        IDENT_REST.test(text);
        const k = IDENT_REST.lastIndex;
        const q = text.charCodeAt(k);
        if ((q === 34 || q === 39) && py && k - i <= 2 && this.pyPrefixed(i, k)) {
          continue;
        }
        this.ident(i, k);
        continue;
      }
      if (c >= 48 && c <= 57) {
        NUMBER_REST.lastIndex = i + 1;
        NUMBER_REST.test(text);
        this.push(T.Number, i, NUMBER_REST.lastIndex);
        this.i = NUMBER_REST.lastIndex;
        continue;
      }
      if (c === 34 || c === 39) {
        this.quotedToken(c);
        continue;
      }
      if (c >= 128 || RARE_START[c] !== 1 || !this.rare(c)) {
        this.punct(c);
      }
    }
    if (this.stack.length > 0 || this.opens.length > 0) {
      throw new Bail();
    }
  }

  private ident(i: number, k: number): void {
    if (this.words.mayBe(this.text, i, k)) {
      this.word(this.text.slice(i, k));
    }
    this.push(T.Ident, i, k);
    this.i = k;
  }

  /** An identifier that may be a method name or a word the scan looks for. */
  private word(text: string): void {
    if (this.methods.has(text)) {
      this.calls.push(this.count);
    } else if (COMPARE_WORDS.has(text)) {
      this.comparing = true;
    }
    if (COMPARE_WORDS.has(text)) {
      this.cmp.push(this.count);
    } else if (text === 'class') {
      this.hasClass = true;
    }
  }

  private push(t: T, start: number, end: number, line = this.line): void {
    const k = this.count;
    if (k === KINDS.length) {
      grow();
    }
    KINDS[k] = t;
    STARTS[k] = start;
    ENDS[k] = end;
    LINES[k] = line;
    MATCH[k] = -1;
    this.count = k + 1;
  }

  private countLines(from: number, to: number): void {
    for (let k = from; k < to; k++) {
      if (this.text.charCodeAt(k) === 10) {
        this.line++;
      }
    }
  }

  /** Scans a quoted string body from `from` (after the opening quote); returns the index after the closing quote. */
  private quoted(from: number, quote: string, escapes: boolean, multiline: boolean): number {
    const { text, n } = this;
    let k = from;
    while (k < n) {
      const ch = text.charAt(k);
      if (escapes && ch === '\\') {
        k += 2;
        continue;
      }
      if (text.startsWith(quote, k)) {
        return k + quote.length;
      }
      if (ch === '\n' && !multiline) {
        throw new Bail();
      }
      k++;
    }
    throw new Bail();
  }

  /** A Python string with a prefix (r"", b'', f"""..."""); false when the identifier is not a prefix. */
  private pyPrefixed(i: number, k: number): boolean {
    const text = this.text;
    const prefix = text.slice(i, k);
    if (!/^[rRbBuUfF]{1,2}$/.test(prefix)) {
      return false;
    }
    const ch = text.charAt(k);
    const q = text.startsWith(ch.repeat(3), k) ? ch.repeat(3) : ch;
    const raw = /[rR]/.test(prefix);
    const end = this.quoted(k + q.length, q, !raw, q.length === 3);
    const isF = /[fF]/.test(prefix);
    if (isF && !balancedFString(text.slice(k + q.length, end - q.length))) {
      throw new Bail();
    }
    const line = this.line;
    this.countLines(k, end);
    this.push(isF ? T.OtherStr : T.Str, i, end, line);
    this.i = end;
    return true;
  }

  private quotedToken(c: number): void {
    const { text, i, py, java, go } = this;
    const line = this.line;
    // The comparisons run for every quote of every language: optimized code that meets a language's
    // first string never finds one without type feedback (which would throw the code away).
    const single = c === 39;
    const tripled = text.charCodeAt(i + 1) === c && text.charCodeAt(i + 2) === c;
    // """ in Python and Java, ''' in Python.
    if (tripled && (py || (java && !single))) {
      const triple = text.slice(i, i + 3);
      const end = this.quoted(i + 3, triple, true, true);
      this.countLines(i, end);
      this.push(T.Str, i, end, line);
      this.i = end;
      return;
    }
    const end = this.quoted(i + 1, text.charAt(i), true, false);
    // Go runes and Java chars are not the grammar's string node.
    this.push((go || java) && single ? T.OtherStr : T.Str, i, end);
    this.i = end;
  }

  /** Scans a JS template from `from` (after ` or }); returns [end, endsWithSubstitution]. */
  private template(from: number): [number, boolean] {
    const { text, n } = this;
    let k = from;
    while (k < n) {
      const ch = text.charAt(k);
      if (ch === '\\') {
        k += 2;
        continue;
      }
      if (ch === '`') {
        return [k + 1, false];
      }
      if (ch === '$' && text.charAt(k + 1) === '{') {
        return [k + 2, true];
      }
      k++;
    }
    throw new Bail();
  }

  private templatePart(from: number): void {
    const i = this.i;
    const line = this.line;
    const [end, sub] = this.template(from);
    this.countLines(i, end);
    this.push(T.OtherStr, i, end, line);
    if (sub) {
      this.stack.push('t');
    }
    this.i = end;
  }

  /** Comments, templates, regular expressions and other rare starts (RARE_START); false for plain punctuation. */
  private rare(c: number): boolean {
    const { text, i, js, py, go } = this;
    if (c === 47 && text.charCodeAt(i + 1) === 42 && !py) {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) {
        throw new Bail();
      }
      this.countLines(i, close);
      this.i = close + 2;
      return true;
    }
    if (c === 96) {
      if (go) {
        const line = this.line;
        const end = this.quoted(i + 1, '`', false, true);
        this.countLines(i, end);
        this.push(T.OtherStr, i, end, line);
        this.i = end;
        return true;
      }
      if (!js) {
        throw new Bail();
      }
      this.templatePart(i + 1);
      return true;
    }
    if (c === 125 && js && this.stack.length > 0 && this.stack[this.stack.length - 1] === 't') {
      this.stack.pop();
      this.templatePart(i + 1);
      return true;
    }
    if (c === 47 && js) {
      return this.jsSlash();
    }
    if (c === 92 && py) {
      throw new Bail();
    }
    if (c === 60 && js && this.lang !== 'typescript') {
      // JSX: text content is not code.
      throw new Bail();
    }
    if (c === 35 && js) {
      // Private names (#x) are neither identifiers nor property identifiers.
      let k = i + 1;
      while (k < this.n && isIdPart(text.charCodeAt(k))) {
        k++;
      }
      this.push(T.Punct, i, k);
      this.i = k;
      return true;
    }
    return false;
  }

  /** A JS regular expression literal (true) or a division sign (false). */
  private jsSlash(): boolean {
    const { text, i, n } = this;
    const prev = this.count === 0 ? undefined : tokenAt(text, this.count - 1);
    if (prev?.text === '}') {
      throw new Bail();
    }
    const regex = prev === undefined || (prev.t === T.Ident ? JS_KEYWORDS_BEFORE_EXPR.has(prev.text) : !JS_REGEX_PREV_NOT.has(prev.t) && prev.text !== ')' && prev.text !== ']');
    if (!regex) {
      return false;
    }
    let k = i + 1;
    let cls = false;
    while (k < n) {
      const ch = text.charAt(k);
      if (ch === '\n') {
        throw new Bail();
      }
      if (ch === '\\') {
        k += 2;
        continue;
      }
      if (ch === '[') {
        cls = true;
      } else if (ch === ']') {
        cls = false;
      } else if (ch === '/' && !cls) {
        break;
      }
      k++;
    }
    k++;
    while (k < n && isIdPart(text.charCodeAt(k))) {
      k++;
    }
    this.push(T.OtherStr, i, k);
    this.i = k;
    return true;
  }

  private punct(c: number): void {
    const { text, i } = this;
    const op = c < 128 && OP_SECOND[text.charCodeAt(i + 1)] === 1 ? operatorAt(text, i, c) : undefined;
    const end = i + (op?.length ?? 1);
    if (c === 123 && this.js) {
      this.stack.push('b');
    } else if (c === 125 && this.js) {
      this.stack.pop();
    }
    if (end === i + 1 && (c === 40 || c === 91 || c === 123)) {
      this.opens.push(this.count);
    } else if (end === i + 1 && (c === 41 || c === 93 || c === 125)) {
      const o = this.opens.pop();
      if (o === undefined || text.charAt(STARTS[o]!) !== CLOSE[text.charAt(i)]) {
        throw new Bail();
      }
      this.push(T.Punct, i, end);
      MATCH[o] = this.count - 1;
      MATCH[this.count - 1] = o;
      this.i = end;
      return;
    } else if (op === undefined ? (c === 60 || c === 62) && this.eq.has(text.charAt(i)) : this.eq.has(op)) {
      // (Python's < and > are the only one-character comparison operators.)
      this.comparing = true;
      this.cmp.push(this.count);
    }
    this.push(T.Punct, i, end);
    this.i = end;
  }
}

/** Identifiers that make a file's comparisons worth reading. */
const COMPARE_WORDS = new Set(['switch', 'match', 'equals', 'in', 'is']);

/** An f-string's replacement fields are balanced and hold no quote (which the naive scan would have cut short). */
function balancedFString(body: string): boolean {
  let depth = 0;
  for (let k = 0; k < body.length; k++) {
    const ch = body[k]!;
    if (ch === '{') {
      if (depth === 0 && body[k + 1] === '{') {
        k++;
        continue;
      }
      depth++;
    } else if (ch === '}') {
      if (depth === 0) {
        if (body[k + 1] === '}') {
          k++;
          continue;
        }
        return false;
      }
      depth--;
    } else if (depth > 0 && (ch === '"' || ch === "'")) {
      return false;
    }
  }
  return depth === 0;
}

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

interface Lit {
  readonly value: string;
  readonly range: Range;
}

/** The same rules as extract.ts `literalOf`, on a token. */
function literalOfToken(tok: Token, pos: (offset: number) => { line: number; character: number }): Lit | undefined {
  if (tok.text.includes('\n')) {
    return undefined;
  }
  const quoted = quotedLiteral(tok.text);
  if (quoted === undefined) {
    return undefined;
  }
  const start = pos(tok.start);
  const s = start.character + quoted.start;
  return { value: detached(quoted.value), range: { start: { line: start.line, character: s }, end: { line: start.line, character: s + quoted.length } } };
}

/** Tokens that end an operand at equality precedence or lower, on their right. */
const END_RIGHT: Readonly<Record<Language, ReadonlySet<string>>> = (() => {
  const c = [')', ']', '}', ',', ';', '&&', '||', '?', ':'];
  const js = new Set([...c, '??', '===', '==', '!==', '!=']);
  return {
    typescript: js,
    tsx: js,
    javascript: js,
    python: new Set([')', ']', '}', ',', ':', 'and', 'or', 'if', 'else', 'for']),
    go: new Set([...c, '{', '==', '!=']),
    java: new Set([...c, '==', '!=']),
  };
})();
/** Tokens that start an operand at equality precedence or lower, on their left. */
const START_LEFT: Readonly<Record<Language, ReadonlySet<string>>> = (() => {
  const c = ['(', '[', '{', ',', ';', '=', '&&', '||', '?', ':', 'return'];
  const js = new Set([...c, '??', '=>', 'case', '}']);
  return {
    typescript: js,
    tsx: js,
    javascript: js,
    python: new Set(['(', '[', '{', ',', ':', '=', 'and', 'or', 'not', 'if', 'elif', 'while', 'return', 'assert', 'else']),
    go: new Set([...c, ':=', 'if', 'case', '}']),
    java: new Set([...c, '}']),
  };
})();
const EQ_OPS: Readonly<Record<Language, ReadonlySet<string>>> = (() => {
  const js = new Set(['===', '==', '!==', '!=']);
  return {
    typescript: js,
    tsx: js,
    javascript: js,
    python: new Set(['==', '!=', '<', '>', '<=', '>=', 'in', 'is', '<>']),
    go: new Set(['==', '!=']),
    java: new Set(['==', '!=']),
  };
})();

interface Fact {
  readonly lhs: string;
  readonly str: Token;
  readonly at: number;
}

function normalise(text: string): string {
  return text.replace(/\s+/g, '');
}

/** A number the grammars read as one literal, as the lexer reads it as one token (an exponent's sign splits it). */
const PLAIN_NUMBER = /^(?:0[xX][\da-fA-F_]+|0[bBoO][\d_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE]\d+)?)[nLlfFdDjJi]?$/;

const CLOSE: Readonly<Record<string, string>> = { ')': '(', ']': '[', '}': '{' };
const OPEN: Readonly<Record<string, string>> = { '(': ')', '[': ']', '{': '}' };

/**
 * The references of one file without a parse, or undefined when the file needs the tree-sitter path.
 * `methods` decides which calls count, as in extractReferences.
 */
export function scanReferences(language: Language, file: string, text: string, methods: MethodTable): FileIndex | undefined {
  // A lone '\r' ends a line for the protocol and, in some grammars, a comment: the parse settles
  // such a (rare) file, and extract.ts maps its positions to the protocol's lines.
  if (hasLoneCarriageReturn(text)) {
    return undefined;
  }
  try {
    return scan(language, file, text, methods);
  } catch (e) {
    if (e instanceof Bail) {
      return undefined;
    }
    throw e;
  }
}

function scan(lang: Language, file: string, text: string, methods: MethodTable): FileIndex {
  const lexer = new Lexer(lang, text, methods.methods);
  lexer.run();
  const toks = new TokenView(text, lexer.count);
  const js = lang === 'typescript' || lang === 'tsx' || lang === 'javascript';
  const py = lang === 'python';
  const go = lang === 'go';
  const java = lang === 'java';
  // Matching brackets (read for bracket tokens only, below the token count).
  const match = MATCH;

  let lineStarts: number[] | undefined;
  const pos = (offset: number): { line: number; character: number } => {
    if (lineStarts === undefined) {
      lineStarts = [0];
      for (let k = text.indexOf('\n'); k >= 0; k = text.indexOf('\n', k + 1)) {
        lineStarts.push(k + 1);
      }
    }
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return { line: lo, character: offset - lineStarts[lo]! };
  };
  const range = (start: number, end: number): Range => ({ start: pos(start), end: pos(end) });
  const isP = (k: number, s: string): boolean => {
    const tk = toks.get(k);
    return tk !== undefined && tk.t === T.Punct && tk.text === s;
  };
  const isKeywordish = (tk: Token): boolean => tk.t === T.Ident && KEYWORDS[lang].has(tk.text);

  /** Start index of the postfix expression (a.b, a.b(...), a[0]) ending at token `k`, or -1 when it is not one. */
  const postfixStart = (k: number): number => {
    let j = k;
    for (;;) {
      const tk = toks.get(j);
      if (tk === undefined) {
        return -1;
      }
      if (tk.t === T.Punct && (tk.text === ')' || tk.text === ']')) {
        const o = match[j]!;
        if (o <= 0 || toks.get(o - 1)!.t !== T.Ident || isKeywordish(toks.get(o - 1)!)) {
          return -1;
        }
        j = o - 1;
        continue;
      }
      if (tk.t !== T.Ident || (isKeywordish(tk) && !SELF[lang].has(tk.text))) {
        return -1;
      }
      if (isP(j - 1, '.')) {
        j -= 2;
        continue;
      }
      return j;
    }
  };
  /** End index of the postfix expression starting at `k`, or -1. */
  const postfixEnd = (k: number): number => {
    const tk = toks.get(k);
    if (tk === undefined || tk.t !== T.Ident || (isKeywordish(tk) && !SELF[lang].has(tk.text))) {
      return -1;
    }
    let j = k;
    for (;;) {
      if (isP(j + 1, '(') || isP(j + 1, '[')) {
        j = match[j + 1]!;
        continue;
      }
      if (isP(j + 1, '.') && toks.get(j + 2)?.t === T.Ident) {
        j += 2;
        continue;
      }
      return j;
    }
  };
  const slice = (a: number, b: number): string => text.slice(toks.get(a)!.start, toks.get(b)!.end);

  // Comparison facts: every string comparison the comparisons query would match whose lhs the scanner can read.
  let factsCache: Fact[] | undefined;
  const facts = (): Fact[] => {
    if (factsCache !== undefined) {
      return factsCache;
    }
    const out: Fact[] = [];
    const eq = EQ_OPS[lang];
    const endRight = END_RIGHT[lang];
    const startLeft = START_LEFT[lang];
    const startsOperand = (k: number): boolean => {
      const tk = toks.get(k);
      return tk === undefined || (startLeft.has(tk.text) && (tk.t === T.Punct || tk.t === T.Ident));
    };
    const endsOperand = (k: number): boolean => {
      const tk = toks.get(k);
      return tk === undefined || (endRight.has(tk.text) && (tk.t === T.Punct || tk.t === T.Ident)) || (go && tk.line > toks.get(k - 1)!.line);
    };
    const count = toks.length;
    const wordAt = (j: number, w: string): boolean => j >= 0 && j < count && ENDS[j]! - STARTS[j]! === w.length && text.startsWith(w, STARTS[j]);
    // Only equality operators and comparison words start a comparison: the lexer listed them.
    for (const k of lexer.cmp) {
      // Python's `match` statement: its case patterns are read from the parse (the word is also a common name).
      if (py && KINDS[k] === T.Ident && wordAt(k, 'match') && (k === 0 || LINES[k - 1]! < LINES[k]!) && !isP(k + 1, '.') && !isP(k + 1, '=')) {
        throw new Bail();
      }
      // `v in ("a", "b")`: strings in a tuple, list or set are read from the parse.
      if (py && KINDS[k] === T.Ident && wordAt(k, 'in') && k + 1 < count && OPEN[text.charAt(STARTS[k + 1]!)] !== undefined && KINDS[k + 1] === T.Punct) {
        for (let j = k + 2; j < match[k + 1]!; j++) {
          if (KINDS[j] === T.Str) {
            throw new Bail();
          }
        }
      }
      // Most have no string literal beside them (Python's `for x in range(n)`): an operator, or a Python
      // word without `not` beside it, then passes all the checks below. Read from the arrays, without a token.
      if (!(k >= 1 && KINDS[k - 1] === T.Str) && !(k + 1 < count && KINDS[k + 1] === T.Str)) {
        if (KINDS[k] === T.Punct || (py && !wordAt(k - 1, 'not') && !wordAt(k + 1, 'not'))) {
          continue;
        }
      }
      const tk = toks.get(k)!;
      if (tk.t === T.Ident && (tk.text === 'switch' || tk.text === 'match') && (js || go || java)) {
        throw new Bail();
      }
      if (java && tk.t === T.Ident && tk.text === 'equals' && isP(k - 1, '.') && isP(k + 1, '(')) {
        const close = match[k + 1]!;
        const objEnd = k - 2;
        const objTok = toks.get(objEnd);
        const argFirst = toks.get(k + 2);
        const objIsStr = objTok?.t === T.Str && !isP(objEnd - 1, '.');
        const argIsStr = argFirst?.t === T.Str && close === k + 3;
        if (!objIsStr && !argIsStr) {
          continue;
        }
        if (argIsStr) {
          const s = postfixStart(objEnd);
          if (s < 0) {
            throw new Bail();
          }
          out.push({ lhs: normalise(slice(s, objEnd)), str: argFirst, at: toks.get(s)!.start });
        }
        if (objIsStr) {
          const e = postfixEnd(k + 2);
          if (e < 0 || e !== close - 1) {
            throw new Bail();
          }
          out.push({ lhs: normalise(slice(k + 2, e)), str: objTok, at: objTok.start });
        }
        continue;
      }
      const isOp = (tk.t === T.Punct || (py && tk.t === T.Ident)) && eq.has(tk.text);
      if (!isOp) {
        continue;
      }
      if (py && (tk.text === 'in' || tk.text === 'is') && (isP(k - 1, 'not') || toks.get(k - 1)?.text === 'not' || toks.get(k + 1)?.text === 'not')) {
        throw new Bail();
      }
      const left = toks.get(k - 1);
      const right = toks.get(k + 1);
      const leftStr = left?.t === T.Str;
      const rightStr = right?.t === T.Str;
      if (!leftStr && !rightStr) {
        continue;
      }
      if (py && tk.text === 'in') {
        // `for x in "abc"` is not a comparison; the scanner does not tell them apart.
        throw new Bail();
      }
      if (py && leftStr && !rightStr && (tk.text === '==' || tk.text === '!=')) {
        // `"blue" == v`: the parse reads the right operand too.
        const e = postfixEnd(k + 1);
        if (e < 0 || !startsOperand(k - 2) || !endsOperand(e + 1)) {
          throw new Bail();
        }
        out.push({ lhs: normalise(slice(k + 1, e)), str: left, at: left.start });
        continue;
      }
      if (rightStr) {
        if (!endsOperand(k + 2)) {
          throw new Bail();
        }
        const s = postfixStart(k - 1);
        if (s < 0 && !leftStr) {
          throw new Bail();
        }
        if (s >= 0) {
          if (!startsOperand(s - 1)) {
            throw new Bail();
          }
          out.push({ lhs: normalise(slice(s, k - 1)), str: right, at: toks.get(s)!.start });
        }
      }
      if (leftStr && (!py || !rightStr)) {
        if (!startsOperand(k - 2)) {
          throw new Bail();
        }
        const e = postfixEnd(k + 1);
        if (e < 0 && !rightStr) {
          throw new Bail();
        }
        if (e >= 0) {
          if (!endsOperand(e + 1)) {
            throw new Bail();
          }
          if (!py) {
            out.push({ lhs: normalise(slice(k + 1, e)), str: left, at: left.start });
          }
        }
      }
      if (py && leftStr) {
        // Python's query only reads `lhs <op> "string"`; a string on the left is never the lhs we look for.
        if (!startsOperand(k - 2)) {
          throw new Bail();
        }
      }
    }
    out.sort((a, b) => a.at - b.at);
    factsCache = out;
    return out;
  };

  /**
   * The default argument as extract.ts reads it (defaultArgumentOf): the argument `afterKey` after
   * the key (the first argument, from token `first`), or in Python the keyword argument of the SDK's
   * name; a literal only. Bails where tokens do not settle what the parse sees (Python and Go
   * brackets, numbers the lexer splits).
   */
  const defaultArgument = (spec: DefaultArgumentSpec, first: number, commas: readonly number[], close: number): DefaultArgument | undefined => {
    /** Argument `i`'s first and last token, or undefined when there is no such argument. */
    const argument = (i: number): [number, number] | undefined => {
      if (i > commas.length) {
        return undefined;
      }
      const s = i === 0 ? first : commas[i - 1]! + 1;
      const e = (i < commas.length ? commas[i]! : close) - 1;
      return s > e ? undefined : [s, e];
    };
    const keywordAt = (s: number): boolean => py && KINDS[s] === T.Ident && isP(s + 1, '=');
    const spreadAt = (s: number, e: number): boolean => (js && isP(s, '...')) || (py && (isP(s, '*') || isP(s, '**'))) || (go && isP(e, '...'));
    if (py) {
      for (let i = 1; i <= commas.length; i++) {
        const a = argument(i);
        if (a !== undefined && keywordAt(a[0]) && wordAt(a[0], spec.keyword)) {
          return literalDefault(a[0] + 2, a[1]);
        }
      }
    }
    for (let i = 1; i <= spec.afterKey; i++) {
      const a = argument(i);
      if (a === undefined || keywordAt(a[0]) || spreadAt(a[0], a[1])) {
        return undefined;
      }
    }
    const a = argument(spec.afterKey)!;
    return literalDefault(a[0], a[1]);
  };
  const wordAt = (j: number, w: string): boolean => ENDS[j]! - STARTS[j]! === w.length && text.startsWith(w, STARTS[j]);
  /** The literal tokens `s`..`e` make, as extract.ts `defaultKindOf` reads the node. */
  const literalDefault = (s: number, e: number): DefaultArgument | undefined => {
    if (s > e) {
      return undefined;
    }
    const open = isP(s, '{') || isP(s, '[');
    if ((open && (py || go)) || (go && wordAt(s, 'map'))) {
      // A dict or a set, a list or a comprehension, a Go composite literal: the parse tells.
      throw new Bail();
    }
    let kind: DefaultKind | undefined;
    if (open) {
      kind = match[s] === e ? (isP(s, '{') ? 'object' : 'array') : undefined;
    } else {
      for (let j = s; j <= e; j++) {
        if (KINDS[j] === T.Number && (!PLAIN_NUMBER.test(text.slice(STARTS[j], ENDS[j])) || isP(j - 1, '.'))) {
          // `1e-5`, `.5`, `1.5.toFixed`: not one number token as the parse has them.
          throw new Bail();
        }
      }
      if (e === s + 1 && isP(s, '-') && KINDS[e] === T.Number) {
        kind = 'number';
      } else if (e === s) {
        kind = tokenKind(s);
      }
    }
    if (kind === undefined) {
      return undefined;
    }
    return { kind, text: detached(defaultText(text.slice(STARTS[s], ENDS[e]))), range: range(STARTS[s]!, ENDS[e]!) };
  };
  /** What one token is as a default literal. */
  const tokenKind = (j: number): DefaultKind | undefined => {
    const t = KINDS[j];
    if (t === T.Number) {
      return 'number';
    }
    if (t === T.Str) {
      return 'string';
    }
    if (t === T.OtherStr) {
      // Python f-strings; JavaScript templates without a substitution and Go raw strings (not regexes, runes, Java chars).
      return py || ((js || go) && text.charCodeAt(STARTS[j]!) === 96) ? 'string' : undefined;
    }
    if (t !== T.Ident) {
      return undefined;
    }
    const word = text.slice(STARTS[j], ENDS[j]);
    if (py) {
      return word === 'True' || word === 'False' ? 'boolean' : word === 'None' ? 'null' : undefined;
    }
    if (word === 'true' || word === 'false') {
      return 'boolean';
    }
    return word === (go ? 'nil' : 'null') || (js && word === 'undefined') ? 'null' : undefined;
  };

  const methodNames = methods.methods;
  const references: FlagReference[] = [];
  const slots: KeySlotInfo[] = [];
  for (const k of lexer.calls) {
    const tk = toks.get(k)!;
    const kind = methodNames.get(tk.text);
    if (kind === undefined) {
      continue;
    }
    // Every occurrence of a method name must be a call the scanner settles.
    if (!isP(k + 1, '(')) {
      throw new Bail();
    }
    let start = k;
    if (isP(k - 1, '.')) {
      start = postfixStart(k);
      if (start < 0 || start === k) {
        throw new Bail();
      }
      // Only plain member chains (a.b.method), not calls or indexes in the object.
      for (let j = start; j < k; j++) {
        if (toks.get(j)!.t !== T.Ident && !isP(j, '.')) {
          throw new Bail();
        }
      }
    }
    const before = toks.get(start - 1);
    if (before !== undefined && !chainMayFollow(lang, before, toks.get(start)!)) {
      throw new Bail();
    }
    const openIdx = k + 1;
    const closeIdx = match[openIdx]!;
    const keyTok = toks.get(k + 2)!;
    if (keyTok.t !== T.Str && keyTok.t !== T.OtherStr) {
      throw new Bail();
    }
    if (!(isP(k + 3, ',') || k + 3 === closeIdx)) {
      throw new Bail();
    }
    const lit = literalOfToken(keyTok, pos);
    if (lit === undefined) {
      throw new Bail();
    }
    // Count the arguments at depth 1 (and, for a call that takes a default, note where they part).
    let args = 1;
    const spec = defaultArgumentOf(kind, tk.text);
    const commas: number[] | undefined = spec === undefined ? undefined : [];
    for (let j = k + 3; j < closeIdx; j++) {
      const a = toks.get(j)!;
      if (a.t === T.Punct && OPEN[a.text] !== undefined) {
        j = match[j]!;
        continue;
      }
      if (a.t === T.Punct && (a.text === '<' || a.text === '>' || a.text === '>>')) {
        if (!go && !py && !(js && lang !== 'typescript')) {
          throw new Bail();
        }
      }
      if (py && a.text === 'lambda') {
        throw new Bail();
      }
      if (isP(j, ',')) {
        commas?.push(j);
        if (j + 1 < closeIdx) {
          args++;
        }
      }
    }
    slots.push({ range: lit.range, kind, text: lit.value });
    if (!KEY_PATTERN.test(lit.value)) {
      continue;
    }
    const callText = normalise(slice(start, closeIdx));
    let compared: ComparedVariation[] = [];
    const all = lexer.comparing ? facts() : [];
    if (all.length > 0) {
      const binding = bindingOf(lang, toks, start, closeIdx, match, lexer.hasClass);
      if (all.some((f) => f.lhs === callText)) {
        throw new Bail();
      }
      if (binding === null) {
        throw new Bail();
      }
      if (binding !== undefined) {
        compared = [];
        for (const f of all) {
          if (f.lhs === binding) {
            const l = literalOfToken(f.str, pos);
            if (l !== undefined) {
              compared.push({ name: l.value, range: l.range });
            }
          }
        }
      }
    }
    const defaultValue = spec === undefined || commas === undefined ? undefined : defaultArgument(spec, k + 2, commas, closeIdx);
    const callStart = pos(toks.get(start)!.start);
    references.push({
      file,
      language: lang,
      flagKey: lit.value,
      kind,
      method: tk.text,
      range: range(keyTok.start, keyTok.end),
      keyRange: lit.range,
      viaConstant: false,
      callRange: range(toks.get(start)!.start, toks.get(closeIdx)!.end),
      snippet: detached(lineText(text, toks.get(start)!.start - callStart.character).trim().slice(0, 200)),
      compared,
      argumentCount: args,
      ...(defaultValue === undefined ? {} : { defaultValue }),
    });
  }
  return { file, references, slots };
}

/**
 * A copy of a piece of the file's text that does not keep the whole text alive: V8 represents a
 * longer substring as a view into its parent, so every key and snippet in the index would otherwise
 * hold its file's text in memory (and the garbage collector copies those texts while indexing).
 * Concatenating and slicing off the first character makes V8 copy the characters into a new string.
 */
function detached(piece: string): string {
  return ` ${piece}`.slice(1);
}

function lineText(text: string, lineStart: number): string {
  const end = text.indexOf('\n', lineStart);
  return text.slice(lineStart, end < 0 ? text.length : end);
}

const KEYWORDS: Readonly<Record<Language, ReadonlySet<string>>> = (() => {
  const js = new Set(['const', 'let', 'var', 'function', 'return', 'if', 'else', 'for', 'while', 'do', 'switch', 'case', 'default', 'break', 'continue', 'new', 'delete', 'typeof', 'instanceof', 'in', 'of', 'void', 'throw', 'try', 'catch', 'finally', 'class', 'extends', 'super', 'this', 'import', 'export', 'from', 'as', 'async', 'await', 'yield', 'static', 'get', 'set', 'public', 'private', 'protected', 'readonly', 'abstract', 'interface', 'type', 'enum', 'declare', 'namespace', 'module', 'satisfies', 'keyof', 'null', 'undefined', 'true', 'false', 'with', 'debugger', 'implements', 'override']);
  return {
    typescript: js,
    tsx: js,
    javascript: js,
    python: new Set(['def', 'class', 'return', 'if', 'elif', 'else', 'for', 'while', 'in', 'is', 'not', 'and', 'or', 'lambda', 'await', 'async', 'yield', 'import', 'from', 'as', 'with', 'try', 'except', 'finally', 'raise', 'pass', 'break', 'continue', 'global', 'nonlocal', 'del', 'assert', 'None', 'True', 'False', 'print', 'exec', 'match', 'case', 'self']),
    go: new Set(['func', 'return', 'if', 'else', 'for', 'range', 'switch', 'case', 'default', 'go', 'defer', 'var', 'const', 'type', 'struct', 'interface', 'map', 'chan', 'package', 'import', 'select', 'break', 'continue', 'goto', 'fallthrough', 'nil', 'true', 'false']),
    java: new Set(['class', 'interface', 'enum', 'record', 'return', 'if', 'else', 'for', 'while', 'do', 'switch', 'case', 'default', 'new', 'this', 'super', 'throw', 'try', 'catch', 'finally', 'public', 'private', 'protected', 'static', 'final', 'abstract', 'void', 'int', 'long', 'boolean', 'double', 'float', 'char', 'byte', 'short', 'import', 'package', 'extends', 'implements', 'instanceof', 'null', 'true', 'false', 'var', 'yield', 'synchronized', 'assert', 'break', 'continue']),
  };
})();
/** Keywords that may head a member chain (`this.client.getVariant(...)`). */
const SELF: Readonly<Record<Language, ReadonlySet<string>>> = {
  typescript: new Set(['this']),
  tsx: new Set(['this']),
  javascript: new Set(['this']),
  python: new Set(['self']),
  go: new Set(),
  java: new Set(['this']),
};
/** Keywords after which a call expression starts. */
const BEFORE_CALL: Readonly<Record<Language, ReadonlySet<string>>> = (() => {
  const js = new Set(['return', 'await', 'typeof', 'void', 'throw', 'case', 'else', 'do', 'in', 'of']);
  return {
    typescript: js,
    tsx: js,
    javascript: js,
    python: new Set(['return', 'await', 'if', 'elif', 'while', 'not', 'and', 'or', 'in', 'else', 'assert', 'yield']),
    go: new Set(['return', 'if', 'case']),
    java: new Set(['return', 'case', 'throw']),
  };
})();
const PUNCT_NOT_BEFORE_CALL = new Set(['.', '?.', ')', ']', '@', '#', '::', '->', '...', '<', '>', '>>']);

/** Whether a call chain starting at `first` can follow `before` as the start of an expression. */
function chainMayFollow(lang: Language, before: Token, first: Token): boolean {
  if (before.t === T.Ident) {
    return BEFORE_CALL[lang].has(before.text);
  }
  if (before.t === T.Punct) {
    if (before.text === '}') {
      return before.line < first.line;
    }
    return !PUNCT_NOT_BEFORE_CALL.has(before.text) && !before.text.startsWith('#');
  }
  // A template part before a substitution's call.
  return before.t === T.OtherStr && before.text.endsWith('${');
}

/**
 * The variable a call's result is assigned to: a name, undefined when it is certainly not assigned,
 * null when the scanner cannot tell.
 */
function bindingOf(lang: Language, toks: TokenView, start: number, close: number, match: Int32Array, hasClass: boolean): string | undefined | null {
  let s = start;
  let e = close;
  for (;;) {
    const p = toks.get(s - 1);
    if (p?.t === T.Ident && p.text === 'await' && lang !== 'go' && lang !== 'java') {
      s--;
      continue;
    }
    if (p?.t === T.Punct && p.text === '(' && match[s - 1] === e + 1) {
      const pp = toks.get(s - 2);
      if (pp !== undefined && (pp.t === T.Ident || pp.text === ')' || pp.text === ']')) {
        break;
      }
      s--;
      e++;
      continue;
    }
    break;
  }
  const next = toks.get(e + 1);
  if (next !== undefined && ['as', 'satisfies', '!'].includes(next.text)) {
    return null;
  }
  const p = toks.get(s - 1);
  if (p === undefined || p.t !== T.Punct) {
    return undefined;
  }
  if (p.text === ',' && lang === 'go') {
    return null;
  }
  if (p.text !== '=' && p.text !== ':=') {
    return /^[-+*/%&|^<>]=$|^(<<|>>|>>>|\*\*|&&|\|\||\?\?|&\^)=$/.test(p.text) ? null : undefined;
  }
  // The assigned value must end at the call.
  const endsHere = next === undefined || [';', ',', '}', ')'].includes(next.text) || (next.line > toks.get(e)!.line && (lang === 'python' || lang === 'go' || next.t === T.Ident));
  if (!endsHere) {
    return next.t === T.Punct && ['.', '(', '[', '?.'].includes(next.text) ? undefined : null;
  }
  // The left side: one identifier after a statement start or declaration keyword.
  const name = toks.get(s - 2);
  const head = toks.get(s - 3);
  if (name?.t !== T.Ident) {
    return null;
  }
  if (lang === 'go' && p.text === ':=' && head?.text === ',') {
    return null;
  }
  if (['const', 'let', 'var'].includes(head?.text ?? '')) {
    return name.text;
  }
  // A JavaScript class field (`x = call()` in a class body) is not an assignment.
  if ((lang === 'typescript' || lang === 'tsx' || lang === 'javascript') && hasClass) {
    return null;
  }
  if (head === undefined || head.line < name.line || [';', '{', '}', '('].includes(head.text)) {
    return name.text;
  }
  if (lang === 'java' && (head.t === T.Ident || head.text === '>' || head.text === ']')) {
    return name.text;
  }
  return null;
}

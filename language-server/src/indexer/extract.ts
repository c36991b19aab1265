import type { Grammar, SyntaxNode } from './parser.js';
import { hasLoneCarriageReturn, linesOf, positionsIn } from './lines.js';
import { Bindings, memberName } from './scope.js';
import type { CallKind, ComparedVariation, DefaultArgument, DefaultArgumentSpec, DefaultKind, FlagReference, Language, Position, Range } from './types.js';
import { defaultArgumentOf, defaultText, CallKind as Kind, quotedLiteral, SDK_METHODS } from './types.js';

/** The references in one file and the key slots (string arguments of SDK calls, even incomplete). */
export interface FileIndex {
  readonly file: string;
  readonly references: readonly FlagReference[];
  readonly slots: readonly KeySlotInfo[];
}

export interface KeySlotInfo {
  /** The literal's content range (inside the quotes). */
  readonly range: Range;
  readonly kind: CallKind;
  /** The content typed so far. */
  readonly text: string;
}

/** Method names and the kind of call they make, SDK methods plus configured wrappers. */
export class MethodTable {
  readonly methods: ReadonlyMap<string, CallKind>;
  private readonly pattern: RegExp;

  constructor(wrapperFunctions: readonly string[] = []) {
    const methods = new Map<string, CallKind>(Object.entries(SDK_METHODS));
    for (const w of wrapperFunctions) {
      // `flags.useFlag` and `useFlag` both match a call of `useFlag`.
      const name = w.split('.').pop() ?? w;
      if (/^[A-Za-z_$][\w$]*$/.test(name)) {
        methods.set(name, Kind.Wrapper);
      }
    }
    this.methods = methods;
    this.pattern = new RegExp([...methods.keys()].map((m) => m.replace(/\$/g, '\\$')).join('|'));
  }

  /**
   * The key being typed at `character` of `line` in a call no parse can see yet (the quote or the
   * parenthesis not closed): a method's `(` and an opening quote with only key characters between it
   * and the cursor (Go's context may come first). The characters of the key, as offsets in `line`.
   */
  typingSlot(line: string, character: number): { readonly start: number; readonly end: number; readonly kind: CallKind } | undefined {
    const typed = TYPING_SLOT.exec(line.slice(0, character));
    const kind = typed === null ? undefined : this.methods.get(typed[1]!);
    // Text like a call inside a string (`'isEnabled("'`) is no call.
    if (typed === null || kind === undefined || inString(line.slice(0, typed.index + typed[0].indexOf(typed[1]!)))) {
      return undefined;
    }
    const rest = /^[A-Za-z0-9_.-]*/.exec(line.slice(character))![0];
    return { start: character - typed[2]!.length, end: character + rest.length, kind };
  }

  /** A cheap text test: a file that names no method has no reference and is not parsed. */
  mayHaveCalls(text: string): boolean {
    return this.pattern.test(text);
  }
}

/** Whether a line that starts outside any string ends inside one (a quote opened and not closed). */
function inString(text: string): boolean {
  let quote: string | undefined;
  for (let k = 0; k < text.length; k++) {
    const ch = text[k]!;
    if (quote === undefined) {
      quote = ch === '"' || ch === "'" || ch === '`' ? ch : undefined;
    } else if (ch === '\\') {
      k++;
    } else if (ch === quote) {
      quote = undefined;
    }
  }
  return quote !== undefined;
}

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** The Python SDK's (and OpenFeature's) names of the key parameter: `flag_key` (get_value, is_feature_enabled, evaluate), `experiment_key` (get_variant, get_experiment). */
const PYTHON_KEY_KEYWORDS: ReadonlySet<string> = new Set(['flag_key', 'experiment_key']);
/**
 * `method(` or `method?.(`, an optional first argument that is a name (Go's ctx), Python's key keyword
 * (`flag_key=`, `experiment_key=`), an opening quote, the key so far.
 */
const TYPING_SLOT = /(?:^|[^\w$])([A-Za-z_$][\w$]*)\s*(?:\?\.)?\(\s*(?:[A-Za-z_][\w.]*\s*,\s*)?(?:(?:flag_key|experiment_key)\s*=\s*)?['"`]([A-Za-z0-9_.-]*)$/;

interface LanguageQueries {
  readonly calls: string;
  readonly comparisons: string;
}

const JS_CALLS = '(call_expression function: [(identifier) @fn (member_expression property: (property_identifier) @fn)] arguments: (arguments) @args) @call';
const JS_COMPARISONS = `
(binary_expression left: (_) @lhs operator: ["===" "==" "!==" "!="] right: (string) @str)
(binary_expression left: (string) @str operator: ["===" "==" "!==" "!="] right: (_) @lhs)
(switch_statement value: (parenthesized_expression (_) @lhs) body: (switch_body (switch_case value: (string) @str)))`;
const QUERIES: Readonly<Record<Language, LanguageQueries>> = {
  typescript: { calls: JS_CALLS, comparisons: JS_COMPARISONS },
  tsx: { calls: JS_CALLS, comparisons: JS_COMPARISONS },
  javascript: { calls: JS_CALLS, comparisons: JS_COMPARISONS },
  python: {
    calls: '(call function: [(identifier) @fn (attribute attribute: (identifier) @fn)] arguments: (argument_list) @args) @call',
    comparisons: `
(comparison_operator . (_) @lhs . (string) @str .)
(comparison_operator . (string) @str . operators: ["==" "!="] . (_) @lhs .)
(comparison_operator . (_) @lhs . operators: ["in" "not in"] . [(tuple (string) @str) (list (string) @str) (set (string) @str)] .)
(match_statement subject: (_) @lhs body: (block (case_clause (case_pattern [(string) @str (union_pattern (string) @str)]))))`,
  },
  go: {
    calls: '(call_expression function: [(identifier) @fn (selector_expression field: (field_identifier) @fn)] arguments: (argument_list) @args) @call',
    comparisons: `
(binary_expression left: (_) @lhs operator: ["==" "!="] right: (interpreted_string_literal) @str)
(binary_expression left: (interpreted_string_literal) @str operator: ["==" "!="] right: (_) @lhs)
(expression_switch_statement value: (_) @lhs (expression_case value: (expression_list (interpreted_string_literal) @str)))`,
  },
  java: {
    calls: '(method_invocation name: (identifier) @fn arguments: (argument_list) @args) @call',
    comparisons: `
(binary_expression left: (_) @lhs operator: ["==" "!="] right: (string_literal) @str)
(method_invocation object: (_) @lhs name: (identifier) @m arguments: (argument_list . (string_literal) @str .) (#eq? @m "equals"))
(method_invocation object: (string_literal) @str name: (identifier) @m arguments: (argument_list . (_) @lhs .) (#eq? @m "equals"))
(switch_expression condition: (parenthesized_expression (_) @lhs) body: (switch_block (switch_block_statement_group (switch_label (string_literal) @str))))
(switch_expression condition: (parenthesized_expression (_) @lhs) body: (switch_block (switch_rule (switch_label (string_literal) @str))))`,
  },
};

const WRAPPERS = new Set(['await_expression', 'await', 'parenthesized_expression', 'as_expression', 'non_null_expression', 'satisfies_expression']);
const ACCESS = new Set(['member_expression', 'attribute', 'selector_expression', 'field_access']);

/** A string compared with an operand: the operand's normalised text and where it is in the file. */
interface Comparison {
  readonly lhs: string;
  readonly start: number;
  readonly end: number;
  readonly str: SyntaxNode;
}

/**
 * Maps a UTF-16 offset to its position in the protocol's line model, for a text tree-sitter's rows
 * disagree with (a lone '\r', see lines.ts); undefined when the parse's rows and columns are right.
 */
type PositionOf = ((offset: number) => Position) | undefined;

function rangeOf(node: SyntaxNode, at: PositionOf): Range {
  if (at !== undefined) {
    return { start: at(node.startIndex), end: at(node.endIndex) };
  }
  return {
    start: { line: node.startPosition.row, character: node.startPosition.column },
    end: { line: node.endPosition.row, character: node.endPosition.column },
  };
}

interface Literal {
  readonly value: string;
  readonly range: Range;
}

/**
 * A plain string literal's content (hex and Unicode escapes decoded) and the range of its content as
 * written; undefined for interpolated or multi-line strings and other escapes.
 */
export function literalOf(node: SyntaxNode, at?: PositionOf): Literal | undefined {
  if (node.startPosition.row !== node.endPosition.row) {
    return undefined;
  }
  const quoted = quotedLiteral(node.text);
  if (quoted === undefined) {
    return undefined;
  }
  const first = at === undefined ? { line: node.startPosition.row, character: node.startPosition.column } : at(node.startIndex);
  const line = first.line;
  const start = first.character + quoted.start;
  return { value: quoted.value, range: { start: { line, character: start }, end: { line, character: start + quoted.length } } };
}

function unwrap(node: SyntaxNode): SyntaxNode {
  let n = node;
  while (WRAPPERS.has(n.type) && n.namedChildCount > 0) {
    n = n.namedChild(0) ?? n;
  }
  return n;
}

/** The variable a call's result is assigned to, if any. */
function bindingOf(call: SyntaxNode): string | undefined {
  let n = call;
  while (n.parent !== null && WRAPPERS.has(n.parent.type)) {
    n = n.parent;
  }
  const parent = n.parent;
  if (parent === null) {
    return undefined;
  }
  switch (parent.type) {
    case 'variable_declarator':
      return parent.childForFieldName('name')?.text;
    case 'assignment':
    case 'assignment_expression':
      return parent.childForFieldName('left')?.text;
    case 'expression_list': {
      const decl = parent.parent;
      if (decl !== null && (decl.type === 'short_var_declaration' || decl.type === 'assignment_statement')) {
        return decl.childForFieldName('left')?.namedChild(0)?.text;
      }
      if (decl?.type === 'var_spec') {
        return decl.childForFieldName('name')?.text;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function normalise(text: string): string {
  return text.replace(/\s+/g, '');
}

/** Finds the flag references in one parsed file. */
export function extractReferences(grammar: Grammar, file: string, text: string, methods: MethodTable): FileIndex {
  const tree = grammar.parser.parse(text);
  if (tree === null) {
    return { file, references: [], slots: [] };
  }
  try {
    const queries = QUERIES[grammar.language];
    const root = tree.rootNode;
    // Tree-sitter counts rows at '\n' only: a text with a lone '\r' has its positions mapped.
    const at = hasLoneCarriageReturn(text) ? positionsIn(text) : undefined;

    const calls: { call: SyntaxNode; fn: string; args: SyntaxNode; kind: CallKind }[] = [];
    for (const match of grammar.query(queries.calls).matches(root)) {
      let call: SyntaxNode | undefined;
      let fn: SyntaxNode | undefined;
      let args: SyntaxNode | undefined;
      for (const c of match.captures) {
        if (c.name === 'call') {
          call = c.node;
        } else if (c.name === 'fn') {
          fn = c.node;
        } else {
          args = c.node;
        }
      }
      const kind = fn === undefined ? undefined : methods.methods.get(fn.text);
      if (call !== undefined && fn !== undefined && args !== undefined && kind !== undefined) {
        calls.push({ call, fn: fn.text, args, kind });
      }
    }
    if (calls.length === 0) {
      return { file, references: [], slots: [] };
    }

    // Bindings and comparisons are looked up only when a call needs them: each query walks the whole tree.
    let bindingsCache: Bindings | undefined;
    const bindings = (): Bindings => (bindingsCache ??= new Bindings(grammar, root));

    let comparisonsCache: Comparison[] | undefined;
    const comparisons = (): Comparison[] => {
      if (comparisonsCache !== undefined) {
        return comparisonsCache;
      }
      comparisonsCache = [];
      for (const match of grammar.query(queries.comparisons).matches(root)) {
        let lhs: SyntaxNode | undefined;
        let str: SyntaxNode | undefined;
        for (const c of match.captures) {
          if (c.name === 'lhs') {
            lhs = c.node;
          } else if (c.name === 'str') {
            str = c.node;
          }
        }
        if (lhs !== undefined && str !== undefined) {
          const operand = unwrap(lhs);
          comparisonsCache.push({ lhs: normalise(operand.text), start: operand.startIndex, end: operand.endIndex, str });
        }
      }
      return comparisonsCache;
    };

    const references: FlagReference[] = [];
    const slots: KeySlotInfo[] = [];
    const lines = at === undefined ? text.split('\n') : linesOf(text);
    for (const { call, fn, args, kind } of calls) {
      const candidates = args.namedChildren.filter((a): a is SyntaxNode => a !== null && a.type !== 'comment');
      let keyNode = candidates[0];
      if (keyNode?.type === 'keyword_argument') {
        // Python keyword arguments: the key is the one named as in the SDK's signatures (in any
        // position), never another keyword's value (`get_value(default="blue", flag_key="x", …)`).
        const named = candidates.find((a) => a.type === 'keyword_argument' && PYTHON_KEY_KEYWORDS.has(a.childForFieldName('name')?.text ?? ''));
        keyNode = named?.childForFieldName('value') ?? undefined;
      }
      let resolved = keyNode === undefined ? undefined : resolveKey(keyNode, bindings, at);
      // Go's OpenFeature client takes a context first.
      if (resolved === undefined && grammar.language === 'go' && candidates[1] !== undefined) {
        keyNode = candidates[1];
        resolved = resolveKey(keyNode, bindings, at);
      }
      if (keyNode === undefined || resolved === undefined) {
        continue;
      }
      if (!resolved.viaConstant) {
        slots.push({ range: resolved.literal.range, kind, text: resolved.literal.value });
      }
      if (!KEY_PATTERN.test(resolved.literal.value)) {
        continue;
      }
      const binding = bindingOf(call);
      const compared: ComparedVariation[] = [];
      for (const c of binding !== undefined || inComparison(call) ? comparisons() : []) {
        // The call itself as the operand, not another call of the same text elsewhere in the file.
        if ((c.start === call.startIndex && c.end === call.endIndex) || (binding !== undefined && c.lhs === binding)) {
          const lit = literalOf(c.str, at);
          if (lit !== undefined) {
            compared.push({ name: lit.value, range: lit.range });
          }
        }
      }
      const line = lines[at === undefined ? call.startPosition.row : at(call.startIndex).line] ?? '';
      const defaultValue = defaultArgument(grammar.language, defaultArgumentOf(kind, fn), candidates, keyNode, at);
      references.push({
        file,
        language: grammar.language,
        flagKey: resolved.literal.value,
        kind,
        method: fn,
        range: rangeOf(keyNode, at),
        keyRange: resolved.literal.range,
        viaConstant: resolved.viaConstant,
        callRange: rangeOf(call, at),
        snippet: line.trim().slice(0, 200),
        compared,
        argumentCount: candidates.length,
        ...(defaultValue === undefined ? {} : { defaultValue }),
      });
    }
    return { file, references, slots };
  } finally {
    tree.delete();
  }
}

/** Arguments that stand for an unknown number of arguments: after one, positions are unknown. */
const SPREADS = new Set(['spread_element', 'list_splat', 'dictionary_splat', 'variadic_argument']);
const NUMBERS = new Set(['number', 'integer', 'float', 'int_literal', 'float_literal', 'imaginary_literal', 'decimal_integer_literal', 'hex_integer_literal', 'octal_integer_literal', 'binary_integer_literal', 'decimal_floating_point_literal', 'hex_floating_point_literal']);
const STRINGS = new Set(['string', 'interpreted_string_literal', 'raw_string_literal', 'string_literal']);
const NULLS = new Set(['null', 'undefined', 'none', 'nil', 'null_literal']);

/**
 * The call's default value argument (`spec`, from defaultArgumentOf) when it is a literal. In
 * Python a keyword argument of the SDK's name comes first; positionally, the argument that many
 * after the key, with no spread (`...args`, `*args`, `args...`) or keyword argument before it. The
 * lexical scanner (fast-scan.ts) reads the same.
 */
function defaultArgument(language: Language, spec: DefaultArgumentSpec | undefined, candidates: readonly SyntaxNode[], keyNode: SyntaxNode, at: PositionOf): DefaultArgument | undefined {
  if (spec === undefined) {
    return undefined;
  }
  let node: SyntaxNode | undefined;
  if (language === 'python') {
    const named = candidates.find((a) => a.type === 'keyword_argument' && a.childForFieldName('name')?.text === spec.keyword);
    node = named?.childForFieldName('value') ?? undefined;
  }
  if (node === undefined) {
    const at = candidates.indexOf(keyNode);
    if (at < 0) {
      return undefined;
    }
    for (let i = at + 1; i <= at + spec.afterKey; i++) {
      const a = candidates[i];
      if (a === undefined || SPREADS.has(a.type) || a.type === 'keyword_argument') {
        return undefined;
      }
    }
    node = candidates[at + spec.afterKey];
  }
  const literalKind = node === undefined ? undefined : defaultKindOf(node);
  return node === undefined || literalKind === undefined ? undefined : { kind: literalKind, text: defaultText(node.text), range: rangeOf(node, at) };
}

function defaultKindOf(node: SyntaxNode): DefaultKind | undefined {
  const type = node.type;
  if (STRINGS.has(type)) {
    return 'string';
  }
  if (NUMBERS.has(type)) {
    return 'number';
  }
  if (NULLS.has(type)) {
    return 'null';
  }
  switch (type) {
    case 'true':
    case 'false':
      return 'boolean';
    case 'template_string':
      return node.namedChildren.some((c) => c?.type === 'template_substitution') ? undefined : 'string';
    case 'unary_expression':
    case 'unary_operator': {
      const operand = node.childForFieldName('argument') ?? node.childForFieldName('operand');
      return node.childForFieldName('operator')?.text === '-' && operand !== null && NUMBERS.has(operand.type) ? 'number' : undefined;
    }
    case 'object':
    case 'dictionary':
      return 'object';
    case 'array':
    case 'list':
      return 'array';
    case 'composite_literal': {
      const literalType = node.childForFieldName('type')?.type;
      return literalType === 'map_type' ? 'object' : literalType === 'slice_type' || literalType === 'array_type' || literalType === 'implicit_length_array_type' ? 'array' : undefined;
    }
    default:
      return undefined;
  }
}

const COMPARISON_PARENTS = new Set([
  'binary_expression',
  'comparison_operator',
  'switch_statement',
  'switch_expression',
  'expression_switch_statement',
  'match_statement',
  'parenthesized_expression',
  'method_invocation',
  'argument_list',
]);

/** Whether a call's result is compared directly (`getVariant(...) === 'blue'`, `.equals(...)`, `switch`). */
function inComparison(call: SyntaxNode): boolean {
  let n = call;
  while (n.parent !== null && WRAPPERS.has(n.parent.type)) {
    n = n.parent;
  }
  return n.parent !== null && COMPARISON_PARENTS.has(n.parent.type);
}

function resolveKey(node: SyntaxNode, bindings: () => Bindings, at: PositionOf): { literal: Literal; viaConstant: boolean } | undefined {
  const inner = unwrap(conversionOperand(unwrap(node)));
  if (inner.type === 'identifier' || ACCESS.has(inner.type)) {
    const lit = constantValue(inner, bindings(), at);
    return lit === undefined ? undefined : { literal: lit, viaConstant: true };
  }
  const lit = literalOf(inner, at);
  return lit === undefined ? undefined : { literal: lit, viaConstant: false };
}

/** Go's conversion `string(x)` (of a constant of a string type): `x`. */
function conversionOperand(node: SyntaxNode): SyntaxNode {
  const args = node.type === 'call_expression' && node.childForFieldName('function')?.text === 'string' ? node.childForFieldName('arguments') : null;
  const only = args?.namedChildCount === 1 ? args.namedChild(0) : null;
  return only ?? node;
}

const NAME_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;
/** The string literal kinds a constant may hold. */
const CONSTANT_VALUES = new Set([...STRINGS, 'template_string']);

/**
 * The string a name (`NAV`) or a member path (`Flags.NAV`, `Nested.ui.price`) stands for: the
 * declaration in scope of its first name, never assigned again, and the members through object
 * literals, enums and classes.
 */
function constantValue(use: SyntaxNode, bindings: Bindings, at: PositionOf): Literal | undefined {
  const path = normalise(use.text);
  if (!NAME_PATH.test(path)) {
    return undefined;
  }
  const [name, ...members] = path.split('.');
  const binding = bindings.lookup(name!, use);
  if (binding === undefined || binding.written) {
    return undefined;
  }
  let value = members.length === 0 ? binding.value : (binding.members.get(members[0]!) ?? propertyOf(binding.value, members[0]!));
  for (const member of members.slice(1)) {
    value = propertyOf(value, member);
  }
  const literal = value === undefined ? undefined : unwrap(value);
  return literal !== undefined && CONSTANT_VALUES.has(literal.type) ? literalOf(literal, at) : undefined;
}

/** The value of an object literal's property `name` (`{ name: … }`, `{ 'name': … }`). */
function propertyOf(object: SyntaxNode | undefined, name: string): SyntaxNode | undefined {
  const o = object === undefined ? undefined : unwrap(object);
  if (o?.type !== 'object') {
    return undefined;
  }
  for (const pair of o.namedChildren) {
    const key = pair?.type === 'pair' ? pair.childForFieldName('key') : null;
    if (key !== null && memberName(key) === name) {
      return pair!.childForFieldName('value') ?? undefined;
    }
  }
  return undefined;
}

/** What the indexer finds: flag references in source files. */

/** Zero-based line and UTF-16 column, as LSP positions are. */
export interface Position {
  readonly line: number;
  readonly character: number;
}

export interface Range {
  readonly start: Position;
  readonly end: Position;
}

/** Source languages the indexer parses. */
export const Language = {
  /** .ts, .mts, .cts */
  TypeScript: 'typescript',
  /** .tsx */
  Tsx: 'tsx',
  /** .js, .mjs, .cjs, .jsx */
  JavaScript: 'javascript',
  /** .py */
  Python: 'python',
  /** .go */
  Go: 'go',
  /** .java */
  Java: 'java',
} as const;
export type Language = (typeof Language)[keyof typeof Language];

/** What the SDK call does with the flag, which decides the checks that apply to it. */
export const CallKind = {
  /** getVariant / get_variant / GetVariant: returns a variation key. */
  Variant: 'variant',
  /** isFeatureEnabled: expects a boolean flag. */
  Enabled: 'enabled',
  /** getValue / evaluate: returns the served value. */
  Value: 'value',
  /** OpenFeature getBooleanValue. */
  Boolean: 'boolean',
  /** OpenFeature getStringValue. */
  String: 'string',
  /** OpenFeature getNumberValue. */
  Number: 'number',
  /** OpenFeature getObjectValue. */
  Object: 'object',
  /** A user-configured wrapper function. */
  Wrapper: 'wrapper',
} as const;
export type CallKind = (typeof CallKind)[keyof typeof CallKind];

/** The kind of value a literal default argument is. */
export type DefaultKind = 'boolean' | 'number' | 'string' | 'object' | 'array' | 'null';

/**
 * A call's default value argument when it is a literal: `false`, `10`, `-1`, `"blue"`, `{ … }`,
 * `[ … ]` (JavaScript object and array literals, Python dicts and lists, Go map and slice composite
 * literals), `null` / `None` / `nil`. An identifier or another expression gives none.
 */
export interface DefaultArgument {
  readonly kind: DefaultKind;
  /** The literal as written, shortened to one line of at most 40 characters (`defaultText`). */
  readonly text: string;
  /** The whole literal (for a Python keyword argument, its value). */
  readonly range: Range;
}

/** Where a call's default value is: that many arguments after the key, or (Python) the keyword argument of that name. */
export interface DefaultArgumentSpec {
  readonly afterKey: number;
  readonly keyword: string;
}

/**
 * Where a call takes its default value, by kind: the xp SDKs' `getValue(key, user, default)` /
 * `evaluate(key, user, default?)` (Python `get_value` / `evaluate`, keyword `default`), two
 * arguments after the key; OpenFeature's typed calls `getXValue(key, default, …)` (Python keyword
 * `default_value`; Go's `XValue(ctx, key, default, …)`) and React hooks `useXFlagValue(key,
 * default)`, the argument after the key. Other calls take none (`isFeatureEnabled(key, user)`,
 * `getVariant(key, user)`, wrappers). METHOD_DEFAULT_ARGUMENT overrides it per method.
 */
export const DEFAULT_ARGUMENT: Readonly<Partial<Record<CallKind, DefaultArgumentSpec>>> = {
  value: { afterKey: 2, keyword: 'default' },
  boolean: { afterKey: 1, keyword: 'default_value' },
  string: { afterKey: 1, keyword: 'default_value' },
  number: { afterKey: 1, keyword: 'default_value' },
  object: { afterKey: 1, keyword: 'default_value' },
};

/**
 * Value calls whose default is not where their kind's is: the React hooks `useFlag(key, default)`
 * and `useFlagDetails(key, default?)` (xp's `@xp/sdk/react`; OpenFeature's `@openfeature/react-sdk`
 * `useFlag` too) take no user, so the default is the argument right after the key.
 */
const METHOD_DEFAULT_ARGUMENT: Readonly<Record<string, DefaultArgumentSpec>> = {
  useFlag: { afterKey: 1, keyword: 'default' },
  useFlagDetails: { afterKey: 1, keyword: 'default' },
};

/**
 * Where a call of `method` (of `kind`, as the method table has it) takes its default value; none
 * for a configured wrapper, even one named like a hook (`wrapperFunctions: ["useFlag"]` says the
 * name is the workspace's own function, whose arguments the indexer does not know).
 */
export function defaultArgumentOf(kind: CallKind, method: string): DefaultArgumentSpec | undefined {
  if (kind === CallKind.Wrapper) {
    return undefined;
  }
  return Object.hasOwn(METHOD_DEFAULT_ARGUMENT, method) ? METHOD_DEFAULT_ARGUMENT[method] : DEFAULT_ARGUMENT[kind];
}

/** A default literal's text as kept on a reference: on one line, at most 40 characters. */
export function defaultText(written: string): string {
  // Cut at any line end, a lone '\r' too: the text shown never holds one.
  const nl = written.search(/[\r\n]/);
  const line = nl < 0 ? written : written.slice(0, nl);
  return line.length === written.length && line.length <= 40 ? written : `${line.slice(0, 39).trimEnd()}…`;
}

/** A variation name compared with the call's result, e.g. `variant === 'blue'`. */
export interface ComparedVariation {
  readonly name: string;
  /** The string literal's content range. */
  readonly range: Range;
}

export interface FlagReference {
  /** Absolute file path. */
  readonly file: string;
  readonly language: Language;
  readonly flagKey: string;
  readonly kind: CallKind;
  /** The SDK method or wrapper called. */
  readonly method: string;
  /** The key argument as written (a literal, a constant or an enum member). */
  readonly range: Range;
  /** Where the key's characters are (inside the literal, possibly at the constant's definition). */
  readonly keyRange: Range;
  /** True when the key came through a constant or enum member. */
  readonly viaConstant: boolean;
  /** The whole call expression. */
  readonly callRange: Range;
  /** The call's source text (first line, trimmed to 200 characters). */
  readonly snippet: string;
  readonly compared: readonly ComparedVariation[];
  /** The other arguments as written (for cleanup: the default value of OpenFeature calls). */
  readonly argumentCount: number;
  /** The default value argument, when the call takes one (defaultArgumentOf) and it is a literal. */
  readonly defaultValue?: DefaultArgument;
}

/** A string literal or constant inside an SDK call's key position that the cursor may be in. */
export interface KeySlot {
  readonly range: Range;
  readonly kind: CallKind;
}

/**
 * The method names recognised, one list for every language; wrappers are added per workspace (a
 * configured wrapper of the same name replaces the entry). The React hooks are functions, not
 * methods, but a call is matched by its name either way.
 */
export const SDK_METHODS: Readonly<Record<string, CallKind>> = {
  getVariant: CallKind.Variant,
  get_variant: CallKind.Variant,
  GetVariant: CallKind.Variant,
  // getExperiment returns the whole assignment (ExperimentResult) of the same key as getVariant.
  getExperiment: CallKind.Variant,
  get_experiment: CallKind.Variant,
  // xp React hooks (@xp/sdk/react): no user argument, the provider's user is used.
  useVariant: CallKind.Variant,
  useExperiment: CallKind.Variant,
  useFeatureEnabled: CallKind.Enabled,
  useFlag: CallKind.Value,
  useFlagDetails: CallKind.Value,
  isFeatureEnabled: CallKind.Enabled,
  is_feature_enabled: CallKind.Enabled,
  IsFeatureEnabled: CallKind.Enabled,
  isEnabled: CallKind.Enabled,
  getValue: CallKind.Value,
  get_value: CallKind.Value,
  GetValue: CallKind.Value,
  evaluate: CallKind.Value,
  Evaluate: CallKind.Value,
  getBooleanValue: CallKind.Boolean,
  get_boolean_value: CallKind.Boolean,
  BooleanValue: CallKind.Boolean,
  getBooleanDetails: CallKind.Boolean,
  getStringValue: CallKind.String,
  get_string_value: CallKind.String,
  StringValue: CallKind.String,
  getStringDetails: CallKind.String,
  getNumberValue: CallKind.Number,
  get_integer_value: CallKind.Number,
  get_float_value: CallKind.Number,
  getIntegerValue: CallKind.Number,
  getDoubleValue: CallKind.Number,
  IntValue: CallKind.Number,
  FloatValue: CallKind.Number,
  getNumberDetails: CallKind.Number,
  getObjectValue: CallKind.Object,
  get_object_value: CallKind.Object,
  ObjectValue: CallKind.Object,
  getObjectDetails: CallKind.Object,
  // OpenFeature React SDK (@openfeature/react-sdk) hooks: key, then default (its useFlag is xp's shape).
  useBooleanFlagValue: CallKind.Boolean,
  useBooleanFlagDetails: CallKind.Boolean,
  useStringFlagValue: CallKind.String,
  useStringFlagDetails: CallKind.String,
  useNumberFlagValue: CallKind.Number,
  useNumberFlagDetails: CallKind.Number,
  useObjectFlagValue: CallKind.Object,
  useObjectFlagDetails: CallKind.Object,
};

/**
 * Calls that return an object rather than the flag's value or variation key: evaluation details
 * (xp's `evaluate`, `useFlagDetails`; OpenFeature's `…Details`) and an experiment's assignment
 * (`getExperiment`, `get_experiment`, `useExperiment`). No literal can stand for such a call.
 */
export function returnsObject(method: string): boolean {
  return method.endsWith('Details') || OBJECT_RESULTS.has(method);
}
const OBJECT_RESULTS: ReadonlySet<string> = new Set(['evaluate', 'Evaluate', 'getExperiment', 'get_experiment', 'useExperiment']);

const EXTENSIONS: Readonly<Record<string, Language>> = {
  '.ts': Language.TypeScript,
  '.mts': Language.TypeScript,
  '.cts': Language.TypeScript,
  '.tsx': Language.Tsx,
  '.js': Language.JavaScript,
  '.mjs': Language.JavaScript,
  '.cjs': Language.JavaScript,
  '.jsx': Language.JavaScript,
  '.py': Language.Python,
  '.go': Language.Go,
  '.java': Language.Java,
};

/** The extensions of the files the indexer reads (`.d.ts` declarations excepted), without the dot. */
export const SOURCE_EXTENSIONS: readonly string[] = Object.keys(EXTENSIONS).map((e) => e.slice(1));

export function languageOf(file: string): Language | undefined {
  if (file.endsWith('.d.ts')) {
    return undefined;
  }
  const dot = file.lastIndexOf('.');
  return dot < 0 ? undefined : EXTENSIONS[file.slice(dot)];
}

const STRING_PATTERN = /^([rRbBuUfF]*)("""|'''|"|'|`)(.*)\2$/;

/**
 * A quoted literal as written (`'k'`, `"k"`, `` `k` ``, Python's `r"k"`, `f"k"`): its value and where
 * its content starts in `written` and how long it is; undefined for an interpolated string (a JS
 * template's `${`, a Python f-string's `{` placeholder; `{{` and `}}` are literal braces), a line
 * break in it, or escapes decodeEscapes does not read. The lexical scanner and the tree-sitter path
 * both read literals through it.
 */
export function quotedLiteral(written: string): { readonly value: string; readonly start: number; readonly length: number } | undefined {
  const m = STRING_PATTERN.exec(written);
  if (m === null) {
    return undefined;
  }
  const prefix = m[1]!;
  const raw = m[3]!;
  const formatted = /[fF]/.test(prefix);
  // A lone '\r' ends a line too (on one row of the parse, only then can it hold one).
  if (raw.includes('${') || raw.includes('\r') || (formatted && /[{}]/.test(raw.replace(/\{\{|\}\}/g, '')))) {
    return undefined;
  }
  const value = decodeEscapes(formatted ? raw.replace(/\{\{/g, '{').replace(/\}\}/g, '}') : raw, prefix, m[2]!);
  return value === undefined ? undefined : { value, start: prefix.length + m[2]!.length, length: raw.length };
}

/**
 * A quoted string's content with its hex and Unicode escapes decoded (`\xHH`, `\uHHHH`, `\u{H…}`,
 * `\UHHHHHHHH`, which mean the same in every language read); undefined when it holds any other
 * escape (`\\`, `\n`, a line continuation: never in a key) or a string whose backslashes are not
 * escapes (Python raw and byte strings, Go raw strings, JS templates; `prefix` and `quote` tell).
 */
function decodeEscapes(content: string, prefix: string, quote: string): string | undefined {
  if (!content.includes('\\')) {
    return content;
  }
  if (/[rRbB]/.test(prefix) || quote === '`') {
    return undefined;
  }
  const escape = /\\(?:x([0-9A-Fa-f]{2})|u\{([0-9A-Fa-f]{1,6})\}|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|[\s\S]?)/g;
  let decoded = '';
  let at = 0;
  for (const m of content.matchAll(escape)) {
    const hex = m[1] ?? m[2] ?? m[3] ?? m[4];
    const code = hex === undefined ? NaN : parseInt(hex, 16);
    if (!(code <= 0x10ffff)) {
      return undefined;
    }
    decoded += content.slice(at, m.index) + String.fromCodePoint(code);
    at = m.index + m[0].length;
  }
  return decoded + content.slice(at);
}

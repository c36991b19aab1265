import { z } from 'zod';
import YAML from 'yaml';
import type { AppliedChange, ApplyChange, ApplyResult, ChangeRequest, DefinitionPath, Experiment, Flag, FlagCodeRefs, FlagEnvironment, XpApiClient } from '@xp/shared';
import {
  ApiError,
  EXPERIMENT_DECISION_FIELDS,
  EXPERIMENT_LIFECYCLE_FIELDS,
  experimentSchema,
  flagEnvironmentSchema,
  flagSchema,
  groupsNamedIn,
  holdoutSchema,
  keySchema,
  metricSchema,
  prerequisiteSchema,
  reassigningChanges,
  reassignmentMessage,
  ruleSchema,
  segmentSchema,
  tagsSchema,
  variationSchema,
} from '@xp/shared';
import type { DiffEntry } from '../domain/json-diff.js';
import { jsonDiff } from '../domain/json-diff.js';
import { APPLY_ORDER, MAX_APPLY_CHANGES } from '../domain/apply.js';
import { issuesOf } from '../domain/validation.js';
import { AppError, AppErrorCode } from '../errors.js';
import type { BrokenReference } from './references.js';
import { introducedProblems } from './references.js';

/** A tag, as definitions' `tags` hold them. */
export const scopeTagSchema = tagsSchema.element;

/**
 * A document's scope: the definitions carrying the tag are the document's (it adds the tag to what
 * it creates and updates, and `--prune` deletes only those of them it no longer mentions).
 */
const scopeSchema = z.strictObject({ tag: scopeTagSchema });

/** Flags as code: a project's definitions as one YAML or JSON document kept in git. */
export const documentSchema = z.strictObject({
  xp: z.literal(1),
  project: keySchema,
  scope: scopeSchema.optional(),
  segments: z.array(segmentSchema).default([]),
  holdouts: z.array(holdoutSchema).default([]),
  metrics: z.array(metricSchema).default([]),
  experiments: z.array(experimentSchema).default([]),
  flags: z.array(flagSchema).default([]),
});
export type FlagsDocument = z.output<typeof documentSchema>;

/** Apply order: what others refer to first. */
const KINDS: readonly DefinitionPath[] = APPLY_ORDER;

export interface PlannedChange {
  readonly kind: DefinitionPath;
  readonly key: string;
  readonly action: 'create' | 'update' | 'delete';
  /** The version the change is based on (updates and deletes). */
  readonly version?: number;
  readonly definition?: unknown;
  /** What an update replaces (its configuration, as compared). */
  readonly before?: unknown;
  readonly diff: DiffEntry[];
  /** A flag delete that `--force` lets through although code still references the flag. */
  readonly force?: boolean;
  /** An update that adds the document's scope tag (this) to a definition that did not have it (`--adopt`). */
  readonly adopt?: string;
}

/** A parsed file and where each of its values is, to name the line of a problem. */
interface ParsedSource {
  readonly value: unknown;
  /** The 1-based line of the value at `path`, or of its nearest enclosing value. */
  readonly lineOf: (path: readonly PropertyKey[]) => number | undefined;
  /** Numbers the file writes that a JSON number (a JavaScript one) cannot hold: not finite, or integers beyond 2^53 − 1. */
  readonly numbers: readonly NumberProblem[];
}

/** A number of a file that would not reach the API as written; `path` is undefined when only its line is known. */
interface NumberProblem {
  readonly path: readonly (string | number)[] | undefined;
  readonly line: number | undefined;
  readonly message: string;
}

const escapeChar = (c: string): string => {
  const code = c.codePointAt(0)!;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/**
 * Control characters (an escape sequence in a file or a key), bidi controls (U+202E would show a
 * line reversed), line and paragraph separators and other invisible format characters are shown as
 * escapes, never sent to the terminal or a CI log. Tabs and line breaks are kept: for messages of
 * several lines.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]/gu, escapeChar);
}

/**
 * Text of a document (a key, a value) within a line of output: as `printable`, and line breaks and
 * tabs escaped too, so that a key cannot start a line of its own (`::warning::` is a command to
 * GitHub Actions at the start of a line).
 */
export function inline(text: string): string {
  return printable(text).replace(/[\t\n]/g, escapeChar);
}

function locator(doc: YAML.Document, counter: YAML.LineCounter): ParsedSource['lineOf'] {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      // A value of a map is located at its key: a nested map's first entry is on the next line.
      const parent: unknown = n === 0 ? undefined : n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as unknown[], true);
      const key = YAML.isMap(parent) ? parent.items.find((pair) => YAML.isScalar(pair.key) && pair.key.value === path[n - 1])?.key : undefined;
      const node: unknown = YAML.isNode(key) ? key : n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
      if (YAML.isNode(node) && node.range !== undefined && node.range !== null) {
        return counter.linePos(node.range[0]).line;
      }
    }
    return undefined;
  };
}

/** At most this many number problems are listed one by one. */
const MAX_NUMBER_PROBLEMS = 20;

/** Why a number written as `source` does not reach the API as written, if it does not. */
function numberProblem(source: string, value: number): string | undefined {
  const shown = source.length > 40 ? `${source.slice(0, 37)}...` : source;
  if (!Number.isFinite(value)) {
    return `${shown} is not a finite number (${value > 0 ? 'too large' : value < 0 ? 'too small' : 'not a number'} for a JSON number); write a finite number, or a string`;
  }
  if (Number.isInteger(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER && /^[-+]?(?:\d[\d_]*|0x[\da-f_]+|0o[0-7_]+|0b[01_]+)$/i.test(source)) {
    return `${shown} is an integer beyond 2^53 − 1 that JSON numbers cannot hold exactly (it would be stored as ${String(value)}); write it as a string`;
  }
  return undefined;
}

/** The numbers of a parsed YAML (or JSON) document that do not reach the API as written, with their paths and lines. */
function numberProblems(doc: YAML.Document, counter: YAML.LineCounter): NumberProblem[] {
  const found: NumberProblem[] = [];
  const path: (string | number)[] = [];
  const walk = (node: unknown): void => {
    if (YAML.isMap(node)) {
      for (const pair of node.items) {
        path.push(String(YAML.isScalar(pair.key) ? pair.key.value : pair.key));
        walk(pair.value);
        path.pop();
      }
    } else if (YAML.isSeq(node)) {
      node.items.forEach((item, i) => {
        path.push(i);
        walk(item);
        path.pop();
      });
    } else if (YAML.isScalar(node) && typeof node.value === 'number' && node.source !== undefined) {
      const message = numberProblem(node.source, node.value);
      if (message !== undefined) {
        found.push({ path: [...path], line: node.range === undefined || node.range === null ? undefined : counter.linePos(node.range[0]).line, message });
      }
    }
  };
  walk(doc.contents);
  return found;
}

/** The numbers of JSON text that do not reach the API as written, by line only (when the YAML parser cannot read the text). */
function jsonNumberProblems(text: string): NumberProblem[] {
  const found: NumberProblem[] = [];
  // Strings are matched (and skipped) so that digits inside them are not read as numbers.
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/g)) {
    if (m[0].startsWith('"')) {
      continue;
    }
    const message = numberProblem(m[0], Number(m[0]));
    if (message !== undefined) {
      found.push({ path: undefined, line: text.slice(0, m.index).split('\n').length, message });
    }
  }
  return found;
}

/**
 * The offset of the first syntax error of JSON text (RFC 8259), which Node's JSON.parse does not
 * always give ("Unexpected token 'x', ... is not valid JSON"); undefined when it finds none.
 */
function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const stop = new Error('JSON syntax error');
  const fail = (): never => {
    throw stop;
  };
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) {
      i++;
    }
  };
  const string = (): void => {
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined || c < ' ') {
        fail();
      } else if (c === '"') {
        i++;
        return;
      } else if (c === '\\') {
        i++;
        if (text[i] !== undefined && '"\\/bfnrt'.includes(text[i]!)) {
          i++;
        } else if (text[i] === 'u' && /^[\da-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) {
          i += 5;
        } else {
          fail();
        }
      } else {
        i++;
      }
    }
  };
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          space();
          if (text[i] !== '"') {
            fail();
          }
          string();
          space();
          if (text[i] !== ':') {
            fail();
          }
          i++;
        }
        value();
        space();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === '"') {
      string();
      return;
    }
    number.lastIndex = i;
    if (number.test(text)) {
      i = number.lastIndex;
      return;
    }
    const literal = ['true', 'false', 'null'].find((l) => text.startsWith(l, i));
    if (literal === undefined) {
      fail();
    }
    i += literal!.length;
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (e) {
    if (e === stop) {
      return i;
    }
    // Nesting deeper than the stack: no position.
    return undefined;
  }
}

/** " at line L, column C:" and the line with a caret under the column, as the YAML parser words its errors. */
function excerptAt(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const line = text.slice(0, lineStart).split('\n').length;
  let col = offset - lineStart;
  const lineEnd = text.indexOf('\n', lineStart);
  let lineText = text.slice(lineStart, lineEnd === -1 ? text.length : lineEnd).replace(/\r$/, '');
  const where = ` at line ${line}, column ${col + 1}`;
  // Long lines (minified JSON) are cut to 80 characters around the column.
  if (col >= 60 && lineText.length > 80) {
    const start = Math.min(col - 39, lineText.length - 79);
    lineText = `…${lineText.slice(start)}`;
    col -= start - 1;
  }
  if (lineText.length > 80) {
    lineText = `${lineText.slice(0, 79)}…`;
  }
  return /[^ \t]/.test(lineText) ? `${where}:\n\n${lineText}\n${' '.repeat(col)}^\n` : where;
}

/** Node's JSON.parse message without its offset or excerpt of the text, and where the error is. */
function jsonSyntaxError(text: string, message: string): string {
  const offset = jsonErrorOffset(text) ?? Number(/at position (\d+)/.exec(message)?.[1] ?? NaN);
  const reason = message
    .replace(/\s*in JSON at position \d+.*$/s, '')
    .replace(/^(Unexpected token '[\s\S]{1,2}'), [\s\S]*$/, '$1');
  return Number.isNaN(offset) ? message : `${reason}${excerptAt(text, Math.min(offset, text.length))}`;
}

/**
 * A JSON file's value. A key written twice is refused, as the YAML parser refuses it: JSON.parse
 * keeps the last one, so `"project"` twice silently chose which project a document applied to.
 */
function parseJsonSource(text: string, source: string): ParsedSource {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AppError(AppErrorCode.Validation, `${source} is not valid JSON: ${e instanceof Error ? jsonSyntaxError(text, e.message) : ''}`);
  }
  const counter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, lineCounter: counter });
  const twice = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
  if (twice !== undefined) {
    throw new AppError(AppErrorCode.Validation, `${source} is not valid JSON: a key is written twice at line ${twice.linePos?.[0].line ?? '?'}, column ${twice.linePos?.[0].col ?? '?'}`);
  }
  return doc.errors.length === 0 ? { value, lineOf: locator(doc, counter), numbers: numberProblems(doc, counter) } : { value, lineOf: () => undefined, numbers: jsonNumberProblems(text) };
}

export function parseJsonFile(text: string, source: string): unknown {
  return parseJsonSource(text, source).value;
}

/** A YAML file's value; a tag xp does not know (`!custom`) is refused rather than read as a plain string. */
function parseYamlSource(text: string, source: string): ParsedSource {
  const counter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: counter });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    throw new AppError(AppErrorCode.Validation, `${source} is not valid YAML: ${problem.message}`);
  }
  try {
    return { value: doc.toJS(), lineOf: locator(doc, counter), numbers: numberProblems(doc, counter) };
  } catch (e) {
    // An alias expanded too often (a "billion laughs" file).
    throw new AppError(AppErrorCode.Validation, `${source} is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function parseDocument(text: string, source: string): FlagsDocument {
  const checked = checkDocument(text, source);
  if (checked.error !== undefined) {
    throw checked.error;
  }
  return checked.doc;
}

/** What `checkDocument` found wrong, with the definitions that are valid on their own, if the document names its project. */
export interface DocumentProblems {
  readonly error: AppError;
  /** The valid definitions, for a reference check, and the keys of the others (`kind:key`). */
  readonly partial?: { readonly doc: FlagsDocument; readonly invalid: ReadonlySet<string> };
  /** The line of a reference problem's path in the file. */
  readonly locate?: ReferenceLocator;
}

/** The line of a path as reference problems name them (`flags.checkout.environments.production.rules[0]`), if the file has it. */
export type ReferenceLocator = (path: string) => number | undefined;

/**
 * Reference problems name definitions by key (`flags.checkout…`) and keys may hold dots: each step
 * is the longest key (or list item's `key`) the rest of the path starts with. A path the file does
 * not have (a stored definition's) has no line.
 */
function referenceLocator(raw: unknown, lineOf: ParsedSource['lineOf']): ReferenceLocator {
  return (text) => {
    const path: (string | number)[] = [];
    let value = raw;
    let rest = text;
    const startsWith = (name: string): boolean => rest === name || rest.startsWith(`${name}.`) || rest.startsWith(`${name}[`);
    const longest = (names: readonly string[]): string | undefined => names.filter(startsWith).sort((a, b) => b.length - a.length)[0];
    while (rest !== '') {
      const index = /^\[(\d+)\]/.exec(rest);
      if (Array.isArray(value)) {
        const items = value as unknown[];
        const i = index !== null ? Number(index[1]) : (() => {
          const key = longest(items.flatMap((d) => (isRecord(d) && typeof d.key === 'string' ? [d.key] : [])));
          return key === undefined ? -1 : items.findIndex((d) => isRecord(d) && d.key === key);
        })();
        if (i < 0 || i >= items.length) {
          return undefined;
        }
        rest = index !== null ? rest.slice(index[0].length) : rest.slice((items[i] as { key: string }).key.length);
        path.push(i);
        value = items[i];
      } else if (isRecord(value) && index === null) {
        const name = longest(Object.keys(value));
        if (name === undefined) {
          return undefined;
        }
        rest = rest.slice(name.length);
        path.push(name);
        value = value[name];
      } else {
        return undefined;
      }
      rest = rest.replace(/^\./, '');
    }
    return lineOf(path);
  };
}

/** `problems` with the line of each path the file has (`path (line N)`), in the order of the file (those without a line last). */
export function withLines<T extends { readonly path: string }>(problems: readonly T[], locate: ReferenceLocator | undefined): T[] {
  return problems
    .map((p, i) => ({ p, i, line: locate?.(p.path) }))
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || a.i - b.i)
    .map(({ p, line }) => (line === undefined ? p : { ...p, path: `${p.path} (line ${line})` }));
}

const KIND_SCHEMAS: { readonly [K in DefinitionPath]: z.ZodType<FlagsDocument[K][number]> } = {
  segments: segmentSchema,
  holdouts: holdoutSchema,
  metrics: metricSchema,
  experiments: experimentSchema,
  flags: flagSchema,
};

/** Whether the object holding the last key of `path` in the parsed file exists and lacks that key. */
function absentAt(raw: unknown, path: readonly PropertyKey[]): boolean {
  let at: unknown = raw;
  for (const key of path.slice(0, -1)) {
    if (typeof at !== 'object' || at === null) {
      return false;
    }
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  const last = path.at(-1);
  return typeof at === 'object' && at !== null && !Array.isArray(at) && last !== undefined && !Object.hasOwn(at, last);
}

/**
 * A flags file's document, or every problem the file has that can be found without the API in one
 * error: schema issues, numbers JSON cannot hold, and keys written twice in a list — the last also
 * among definitions that have other problems.
 */
export function checkDocument(text: string, source: string): ({ doc: FlagsDocument; error?: undefined; locate: ReferenceLocator }) | (DocumentProblems & { doc?: undefined }) {
  const { value: raw, lineOf, numbers } = source.endsWith('.json') ? parseJsonSource(text, source) : parseYamlSource(text, source);
  const lineText = (line: number | undefined): string => (line === undefined ? '' : ` (line ${line})`);
  const at = (path: readonly PropertyKey[]): string => lineText(lineOf(path));
  const pathText = (path: readonly PropertyKey[]): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  // Numbers that would not reach the API as written (rounded, or refused as "Invalid input").
  const numberIssues: LocatedIssue[] = numbers.slice(0, MAX_NUMBER_PROBLEMS).map((n) => ({
    path: `${n.path === undefined || n.path.length === 0 ? '(document)' : pathText(n.path)}${lineText(n.line)}`,
    message: n.message,
    line: n.line,
  }));
  if (numbers.length > MAX_NUMBER_PROBLEMS) {
    numberIssues.push({ path: '(document)', message: `${numbers.length - MAX_NUMBER_PROBLEMS} more numbers like these`, line: undefined });
  }
  // Keys written twice in a list, read from the file itself: found whatever else is wrong with those definitions.
  const rawDoc = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const leftOut = fillInLeftOutEnabled(rawDoc.flags);
  const duplicateIssues: LocatedIssue[] = [];
  for (const kind of KINDS) {
    const list = rawDoc[kind];
    const seen = new Map<string, number>();
    (Array.isArray(list) ? (list as unknown[]) : []).forEach((d, i) => {
      const key = typeof d === 'object' && d !== null ? (d as { key?: unknown }).key : undefined;
      if (typeof key !== 'string') {
        return;
      }
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, i);
      } else {
        duplicateIssues.push({ path: `${kind}[${i}]${at([kind, i])}`, message: `${kind} has ${JSON.stringify(key)} twice (${kind}[${first}]${at([kind, first])} and ${kind}[${i}]); keys must be unique within a list`, line: lineOf([kind, i]) });
      }
    });
  }
  const result = documentSchema.safeParse(raw);
  if (result.success && numberIssues.length === 0 && duplicateIssues.length === 0) {
    // The schema fills in a status the file left out: which experiments set one is kept apart.
    markStatusGiven(result.data.experiments, rawDoc.experiments);
    result.data.flags.forEach((flag, i) => {
      if (leftOut[i] !== undefined) {
        ENABLED_LEFT_OUT.set(flag, leftOut[i]);
      }
    });
    return { doc: result.data, locate: referenceLocator(raw, lineOf) };
  }
  // An issue of the whole document (an empty file) has no path: it is named "(document)". An
  // unknown key's line is the key's own. The schema's "Invalid input" for a number named above is left out.
  const numberPaths = numbers.flatMap((n) => (n.path === undefined ? [] : [pathText(n.path)]));
  const schemaIssues = (result.success ? [] : issuesOf(result.error).map((issue, i) => ({ issue, zodIssue: result.error.issues[i]! })))
    .filter(({ issue, zodIssue }) => !(zodIssue.code === 'invalid_union' || zodIssue.code === 'invalid_type' || issue.message === 'Invalid input') || !numberPaths.some((p) => p === issue.path || p.startsWith(`${issue.path}.`) || p.startsWith(`${issue.path}[`)))
    .map(({ issue, zodIssue }): LocatedIssue => {
      const where = zodIssue.code === 'unrecognized_keys' ? [...zodIssue.path, ...zodIssue.keys.slice(0, 1)] : zodIssue.path;
      const line = lineOf(where);
      // zod words a missing field as a value of the wrong type ("expected string, received undefined"),
      // or as a value not among the allowed ones (a missing `type`): said as missing when the file has no such key.
      const field = zodIssue.path.at(-1);
      const missing = typeof field === 'string' && ((zodIssue.code === 'invalid_type' && / received undefined$/.test(zodIssue.message)) || absentAt(raw, zodIssue.path));
      return { path: `${issue.path === '' ? '(document)' : issue.path}${lineText(line)}`, message: missing ? `${field} is required` : issue.message, line };
    });
  // In the order of the file (issues without a line, of the whole document, first), each a line of its own whatever the file's keys hold.
  const issues = [...schemaIssues, ...numberIssues, ...duplicateIssues]
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || a.i - b.i)
    .map(({ issue }) => ({ path: inline(issue.path), message: inline(issue.message) }));
  const error = new AppError(AppErrorCode.Validation, `${inline(source)}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
  const project = keySchema.safeParse(rawDoc.project);
  if (rawDoc.xp !== 1 || !project.success) {
    return { error };
  }
  // Each definition that is valid on its own (numbers aside: the API would read them rounded), for a reference check.
  const scope = scopeSchema.safeParse(rawDoc.scope);
  const doc: FlagsDocument = { xp: 1, project: project.data, ...(scope.success ? { scope: scope.data } : {}), segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  const invalid = new Set<string>();
  for (const kind of KINDS) {
    const list = rawDoc[kind];
    const valid: unknown[] = [];
    (Array.isArray(list) ? (list as unknown[]) : []).forEach((d, i) => {
      const parsed = KIND_SCHEMAS[kind].safeParse(d);
      const key = typeof d === 'object' && d !== null ? (d as { key?: unknown }).key : undefined;
      const bad = !parsed.success || numberPaths.some((p) => p.startsWith(`${kind}[${i}]`)) || duplicateIssues.some((issue) => issue.message.startsWith(`${kind} has ${JSON.stringify(key)} twice`));
      if (bad) {
        if (typeof key === 'string') {
          invalid.add(`${kind}:${key}`);
        }
      } else {
        valid.push(parsed.data);
      }
    });
    (doc[kind] as unknown[]) = valid;
  }
  return { error, partial: { doc, invalid }, locate: referenceLocator(raw, lineOf) };
}

/** An issue of a document, with the line it names (undefined: of the whole document). */
interface LocatedIssue {
  readonly path: string;
  readonly message: string;
  readonly line: number | undefined;
}

/** The environments of a parsed flag whose state leaves `enabled` out: apply keeps the project's on/off state there. */
const ENABLED_LEFT_OUT = new WeakMap<object, ReadonlySet<string>>();

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A flag state may leave `enabled` out (a kill switch operated from the console or `xp flags
 * off`, not from git). Such states of a file's flags are given `enabled: false` for the schema
 * (what a new flag or environment starts with); returned are, by flag index, the environments that
 * left it out.
 */
function fillInLeftOutEnabled(flags: unknown): (ReadonlySet<string> | undefined)[] {
  return (Array.isArray(flags) ? (flags as unknown[]) : []).map((flag) => {
    const environments = isRecord(flag) ? flag.environments : undefined;
    const left = new Set<string>();
    for (const [env, state] of Object.entries(isRecord(environments) ? environments : {})) {
      if (isRecord(state) && !('enabled' in state)) {
        state.enabled = false;
        left.add(env);
      }
    }
    return left.size === 0 ? undefined : left;
  });
}

/** The environments whose `enabled` a parsed flag leaves out. */
export function enabledLeftOut(flag: object): ReadonlySet<string> {
  return ENABLED_LEFT_OUT.get(flag) ?? new Set();
}

/**
 * `desired` with each state that leaves `enabled` out on or off as `existing` (the stored flag)
 * has it there: off where the flag has no state yet.
 */
export function withStoredEnabled(desired: Flag, existing: Flag | undefined): Flag {
  const left = enabledLeftOut(desired);
  if (left.size === 0) {
    return desired;
  }
  const environments = Object.fromEntries(Object.entries(desired.environments).map(([env, state]) => [env, left.has(env) ? { ...state, enabled: existing?.environments[env]?.enabled ?? false } : state]));
  return { ...desired, environments };
}

/** Marks the experiments whose file gives a status (the schema defaults it to draft otherwise). */
function markStatusGiven(experiments: readonly Experiment[], rawExperiments: unknown): void {
  experiments.forEach((experiment, i) => {
    const given: unknown = Array.isArray(rawExperiments) ? rawExperiments[i] : undefined;
    if (typeof given === 'object' && given !== null && 'status' in given) {
      STATUS_GIVEN.add(experiment);
    }
  });
}

/**
 * The broken references the valid part of a document with problems would leave (checked as
 * `planApply` checks them), leaving out those to definitions that are themselves invalid: found in
 * the same run as the document's other problems. Undefined when there are none.
 */
export async function withBrokenReferences(client: XpApiClient, problems: DocumentProblems & { partial: NonNullable<DocumentProblems['partial']> }): Promise<AppError | undefined> {
  const plan = await planApply(client, problems.partial.doc, { prune: false });
  const invalidKeys = [...problems.partial.invalid].map((k) => `"${k.slice(k.indexOf(':') + 1)}"`);
  const broken = plan.problems.filter((p) => !invalidKeys.some((k) => p.message.includes(k)));
  if (broken.length === 0) {
    return undefined;
  }
  const issues = [...((problems.error.details as { issues?: { path: string; message: string }[] } | undefined)?.issues ?? []), ...withLines(broken, problems.locate).map((p) => ({ path: p.path, message: p.message }))];
  return new AppError(AppErrorCode.Validation, `${problems.error.message}; and the valid rest would leave ${broken.length === 1 ? 'a broken reference' : `${broken.length} broken references`} (listed below)`, { issues });
}

/** Experiments of parsed documents whose file names a status (the schema defaults it to draft otherwise). */
const STATUS_GIVEN = new WeakSet<object>();

/** The field names of an object schema, or of every option of a union, in the schema's order. */
function fieldsOf(schema: unknown): string[] {
  const s = schema as { shape?: Record<string, unknown>; options?: readonly unknown[] };
  if (s.shape !== undefined) {
    return Object.keys(s.shape);
  }
  return Array.isArray(s.options) ? [...new Set(s.options.flatMap(fieldsOf))] : [];
}

/** `value`'s fields in the order `first` lists them, then the others as they were. */
function ordered<T>(value: T, first: readonly string[]): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return value;
  }
  const entries = Object.entries(value);
  const rank = (field: string): number => {
    const i = first.indexOf(field);
    return i === -1 ? first.length : i;
  };
  return Object.fromEntries(entries.map((e, i) => [e, i] as const).sort(([a, i], [b, j]) => rank(a[0]) - rank(b[0]) || i - j).map(([e]) => e)) as T;
}

/** The fields of each kind of definition in an export: the order the schemas (and docs) list them. */
const DEFINITION_FIELDS: { readonly [K in DefinitionPath]: readonly string[] } = {
  segments: fieldsOf(segmentSchema),
  holdouts: fieldsOf(holdoutSchema),
  metrics: fieldsOf(metricSchema),
  experiments: fieldsOf(experimentSchema),
  flags: fieldsOf(flagSchema),
};
const VARIATION_FIELDS = fieldsOf(variationSchema);
const STATE_FIELDS = fieldsOf(flagEnvironmentSchema);
const RULE_FIELDS = ['id', 'type', ...fieldsOf(ruleSchema)];
const PREREQUISITE_FIELDS = fieldsOf(prerequisiteSchema);

/**
 * A stored definition with its fields in a stable, human order (the API stores them in jsonb's:
 * shortest key first), so an export does not reshuffle a file written by hand: the schema's
 * order, a flag's environments in the project's order, each environment's state as enabled,
 * defaultVariation, offVariation, prerequisites, rules, and each rule's id and type first.
 */
function inExportOrder(kind: DefinitionPath, definition: unknown, environments: readonly string[], omitEnabled: boolean): unknown {
  const top = ordered(definition, DEFINITION_FIELDS[kind]) as Record<string, unknown>;
  if (kind !== 'flags') {
    return top;
  }
  const flag = top as { variations?: unknown; environments?: unknown };
  return {
    ...top,
    ...(Array.isArray(flag.variations) ? { variations: (flag.variations as unknown[]).map((v) => ordered(v, VARIATION_FIELDS)) } : {}),
    ...(typeof flag.environments === 'object' && flag.environments !== null
      ? {
          environments: Object.fromEntries(
            Object.entries(ordered(flag.environments as Record<string, unknown>, environments)).map(([env, state]) => {
              const { enabled, ...s } = ordered(state, STATE_FIELDS) as { enabled?: unknown; prerequisites?: unknown; rules?: unknown };
              return [
                env,
                {
                  ...(omitEnabled || enabled === undefined ? {} : { enabled }),
                  ...s,
                  ...(Array.isArray(s.prerequisites) ? { prerequisites: (s.prerequisites as unknown[]).map((p) => ordered(p, PREREQUISITE_FIELDS)) } : {}),
                  ...(Array.isArray(s.rules) ? { rules: (s.rules as unknown[]).map((r) => ordered(r, RULE_FIELDS)) } : {}),
                },
              ];
            }),
          ),
        }
      : {}),
  };
}

/**
 * A project's definitions as a document; `omitEnabled` leaves flag states' `enabled` out (kill
 * switches kept out of git); `scopeTag`: only the definitions carrying the tag, as a document of
 * that scope (no holdouts: they have no tags).
 */
export async function exportDocument(client: XpApiClient, project: string, options: { readonly omitEnabled?: boolean; readonly scopeTag?: string | undefined } = {}): Promise<FlagsDocument> {
  const empty: FlagsDocument = { xp: 1, project, segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  // `scope` written after `project`, as a document declares it.
  const { scope } = withScope(empty, options.scopeTag);
  const doc: FlagsDocument = { xp: 1, project, ...(scope === undefined ? {} : { scope }), segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  const environments = (await client.environments(project)).map((e) => e.key);
  for (const kind of KINDS) {
    // Archived definitions are exported too, so `apply --prune` never deletes what export left out.
    const items = (await client.listAll(project, kind, { archived: true })).filter((i) => options.scopeTag === undefined || tagsOf(i.definition).includes(options.scopeTag));
    (doc[kind] as unknown[]) = items.map((i) => inExportOrder(kind, i.definition, environments, options.omitEnabled === true));
  }
  return doc;
}

/** Scalars of YAML 1.2's core schema other than strings (`0o17` is the number 15 there, a string in YAML 1.1). */
const CORE_NON_STRINGS = new YAML.Document(null).schema.tags.flatMap((tag) =>
  tag.default === true && tag.tag !== 'tag:yaml.org,2002:str' && 'test' in tag && tag.test instanceof RegExp ? [tag.test] : [],
);

/** Characters a YAML reader refuses or misreads unescaped: tab, DEL, C1 controls, NEL, LS, PS and the BOM. */
const YAML_1_1_BREAKS_OR_TAB = /[\t\u007f-\u009f\u2028\u2029\ufeff]/;
/** Those the library writes raw inside double quotes (it escapes tab and C0 controls itself). */
const YAML_1_1_BREAKS = /[\u007f-\u009f\u2028\u2029\ufeff]/g;
const YAML_NAMED_ESCAPES: Readonly<Record<string, string>> = { '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' };
const yamlEscape = (ch: string): string => YAML_NAMED_ESCAPES[ch] ?? (ch.charCodeAt(0) <= 0xff ? `\\x${ch.charCodeAt(0).toString(16).toUpperCase()}` : `\\u${ch.charCodeAt(0).toString(16).toUpperCase()}`);

export function serializeDocument(doc: FlagsDocument, format: 'yaml' | 'json'): string {
  if (format === 'json') {
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  // Written for YAML 1.1 readers too (PyYAML, older tools): strings such as on, off, yes and no are
  // quoted, or they would read back as booleans. xp reads YAML 1.2, so a string that is something
  // else there (0o17, an octal number) is quoted as well.
  // A tab in a plain scalar stops PyYAML, NEL, LS and PS are line breaks in YAML 1.1, and DEL, C1
  // controls and a BOM are refused, so strings holding one are double-quoted with each written as an
  // escape (\t by the library; \N, \L, \P, \x7F, \uFEFF here, which it writes raw: inside double
  // quotes a line break is folded into a space).
  const yaml = new YAML.Document(doc, { version: '1.1' });
  YAML.visit(yaml, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && (YAML_1_1_BREAKS_OR_TAB.test(node.value) || CORE_NON_STRINGS.some((test) => test.test(node.value as string)))) {
        node.type = YAML.Scalar.QUOTE_DOUBLE;
      }
    },
  });
  // Only double-quoted scalars can hold these characters now, where the escapes mean the same.
  return yaml.toString({ lineWidth: 0 }).replace(YAML_1_1_BREAKS, yamlEscape);
}

const RUNTIME_FIELDS: { readonly [K in DefinitionPath]?: readonly string[] } = { experiments: [...EXPERIMENT_LIFECYCLE_FIELDS, ...EXPERIMENT_DECISION_FIELDS] };

/**
 * A definition without the fields that are runtime state rather than configuration (an experiment's
 * status, start and stop times and decision: the lifecycle actions set them, and the API keeps them
 * on a replace that leaves them out). An export taken before a start or a stop must not undo it.
 */
function configurationOf(kind: DefinitionPath, definition: unknown): unknown {
  const runtime = RUNTIME_FIELDS[kind];
  if (runtime === undefined || typeof definition !== 'object' || definition === null) {
    return definition;
  }
  // An experiment's `archived: false` is no field at all (the API stores none): not a change.
  const unarchived = (field: string, value: unknown): boolean => kind === 'experiments' && field === 'archived' && value !== true;
  return Object.fromEntries(Object.entries(definition).filter(([field, value]) => !runtime.includes(field) && !unarchived(field, value)));
}

/**
 * What an update does to a definition's `archived`, if anything: a flag, metric or experiment
 * document with `archived: true` archives it, and one with `false` (an experiment's: or without it)
 * unarchives an archived one.
 */
function archiving(change: Pick<PlannedChange, 'action' | 'diff'>): 'archive' | 'unarchive' | undefined {
  if (change.action !== 'update') {
    return undefined;
  }
  const entry = change.diff.find((d) => d.path === '/archived');
  return entry === undefined ? undefined : entry.to === true ? 'archive' : 'unarchive';
}

/** The flags a flag's prerequisites name, in any environment. */
/** The definitions of the same kind one names: a flag's prerequisites, the id lists a segment's condition names. */
function parentsOf(kind: string, definition: unknown): string[] {
  if (kind === 'segments') {
    const condition = (definition as { condition?: unknown }).condition;
    return condition === undefined ? [] : [...groupsNamedIn(condition)];
  }
  const environments: Record<string, Partial<FlagEnvironment>> = (definition as Partial<Flag>).environments ?? {};
  return Object.values(environments).flatMap((state) => (state.prerequisites ?? []).map((p) => p.flag));
}

/**
 * Changes of one kind ordered so that a definition comes after those it names — a flag after its
 * prerequisites, a segment after the id lists its condition names (the API refuses a reference to
 * one that does not exist yet); deletions the other way round.
 */
function namedFirst(kind: string, changes: readonly PlannedChange[]): PlannedChange[] {
  const byKey = new Map(changes.map((c) => [c.key, c]));
  const ordered: PlannedChange[] = [];
  const placed = new Set<string>();
  const place = (change: PlannedChange, path: ReadonlySet<string>): void => {
    if (placed.has(change.key) || path.has(change.key)) {
      return;
    }
    for (const parent of parentsOf(kind, change.definition)) {
      const before = byKey.get(parent);
      if (before !== undefined) {
        place(before, new Set([...path, change.key]));
      }
    }
    placed.add(change.key);
    ordered.push(change);
  };
  for (const change of changes) {
    place(change, new Set());
  }
  return ordered;
}

/** What applying a document would do, and why the API would refuse it (then nothing is applied). */
export interface Plan {
  readonly changes: PlannedChange[];
  /** References the result would leave broken. */
  readonly problems: BrokenReference[];
  /** Changes the API refuses whatever the rest of the document says: moving units of a started experiment, deleting a running one. */
  readonly refusals: BrokenReference[];
  /** Runtime state the document sets differently from the project (an experiment's status): never applied, said so. */
  readonly ignored: string[];
  /** Flag deletions the API refuses: the flag feeds a running experiment, or code still references it (without `force`). */
  readonly blockedDeletions?: BrokenReference[];
  /** Flag deletions `force` lets through although code references the flag, one line each. */
  readonly warnings?: string[];
  /** A scoped document's definitions that exist outside its scope (without `adopt`), and holdouts (which have no tags). */
  readonly outOfScope?: BrokenReference[];
}

/** The tags a definition carries (a segment may have none; a holdout has no tags). */
function tagsOf(definition: unknown): readonly string[] {
  const tags = (definition as { tags?: unknown }).tags;
  return Array.isArray(tags) ? (tags as string[]) : [];
}

/** `definition` with `tag` added to its tags, after the ones it has. */
function withTag<T>(definition: T, tag: string): T {
  const tags = tagsOf(definition);
  return tags.includes(tag) ? definition : { ...definition, tags: [...tags, tag] };
}

/** Why a scoped document cannot write a definition that exists outside its scope. */
function notInScopeMessage(kind: DefinitionPath, key: string, tag: string, tags: readonly string[]): string {
  // The console edits the tags of flags and metrics only.
  const where = kind === 'flags' || kind === 'metrics' ? 'in the console or the API' : 'with the API';
  return `${label({ kind, key })} exists and is not in scope ${inline(tag)} (its tags: ${tags.length === 0 ? 'none' : tags.map(inline).join(', ')}); add the tag ${where} to adopt it, or remove it from this document (or apply with --adopt, which adds the tag)`;
}

/**
 * `doc` with the scope `tag` (`--scope-tag`) given on the command line: the document's own scope
 * if it declares one, which must be the same.
 */
export function withScope(doc: FlagsDocument, tag: string | undefined): FlagsDocument {
  if (tag === undefined) {
    return doc;
  }
  const parsed = scopeTagSchema.safeParse(tag);
  if (!parsed.success) {
    throw new AppError(AppErrorCode.Validation, `--scope-tag ${inline(JSON.stringify(tag))} is not a valid tag: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (doc.scope !== undefined && doc.scope.tag !== tag) {
    throw new AppError(AppErrorCode.Validation, `--scope-tag ${inline(tag)} does not match the document's scope (tag ${inline(doc.scope.tag)}); leave --scope-tag out, or give the same tag`);
  }
  return { ...doc, scope: { tag } };
}


/**
 * What applying the document would change; deletions only when `prune`. A scoped document
 * (`scope.tag`) adds the tag to every definition it writes, may not write one that exists without
 * the tag unless `adopt` (which adds it), nor holdouts (they have no tags), and prunes only
 * definitions carrying the tag.
 */
export async function planApply(client: XpApiClient, doc: FlagsDocument, options: { prune: boolean; force?: boolean; adopt?: boolean }): Promise<Plan> {
  const scope = doc.scope?.tag;
  const outOfScope: BrokenReference[] = [];
  /** Stored definitions neither in the document nor deleted: what the result keeps of them. */
  const kept: { [K in DefinitionPath]: unknown[] } = { segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  const plan: PlannedChange[] = [];
  const blockedDeletions: BrokenReference[] = [];
  const warnings: string[] = [];
  const deletions: PlannedChange[] = [];
  const refusals: BrokenReference[] = [];
  const ignored: string[] = [];
  const before: { [K in DefinitionPath]: unknown[] } = { segments: [], holdouts: [], metrics: [], experiments: [], flags: [] };
  for (const kind of KINDS) {
    const listed = await client.listAll(doc.project, kind, { archived: true });
    before[kind] = listed.map((i) => i.definition);
    const current = new Map(listed.map((i) => [i.key, i]));
    const writes: PlannedChange[] = [];
    const removals: PlannedChange[] = [];
    for (const given of doc[kind]) {
      const existing = current.get(given.key);
      if (scope !== undefined && kind === 'holdouts') {
        outOfScope.push({ path: `holdouts.${given.key}`, message: `holdouts have no tags, so a scoped document cannot own one: define holdout ${inline(given.key)} in a document without scope (this document's experiments may still name it)` });
        current.delete(given.key);
        continue;
      }
      const adopt = scope !== undefined && existing !== undefined && !tagsOf(existing.definition).includes(scope);
      if (adopt && options.adopt !== true) {
        outOfScope.push({ path: `${kind}.${given.key}`, message: notInScopeMessage(kind, given.key, scope, tagsOf(existing.definition)) });
      }
      // A flag state without `enabled` keeps the project's (a kill switch is not git's to turn back on).
      const stated = kind === 'flags' ? withStoredEnabled(given as Flag, existing?.definition as Flag | undefined) : given;
      const desired = scope === undefined ? stated : withTag(stated, scope);
      if (existing === undefined) {
        writes.push({ kind, key: desired.key, action: 'create', definition: desired, diff: jsonDiff(undefined, desired) });
      } else {
        const definition = configurationOf(kind, desired);
        const diff = jsonDiff(configurationOf(kind, existing.definition), definition);
        // `stated`: the parsed definition, which knows whether the file gave a status.
        ignored.push(...runtimeDifferences(kind, stated, existing.definition));
        if (diff.length > 0) {
          writes.push({ kind, key: desired.key, action: 'update', version: existing.version, definition, before: configurationOf(kind, existing.definition), diff, ...(adopt ? { adopt: scope } : {}) });
          if (kind === 'experiments') {
            const stored = existing.definition as Experiment;
            for (const { path, reason } of reassigningChanges(stored, desired as Experiment)) {
              refusals.push({ path: `experiments.${desired.key}.${path}`, message: reassignmentMessage(reason, stored.stickyBucketingSince) });
            }
            if ((desired as Experiment).archived === true && stored.archived !== true && stored.status === 'running') {
              refusals.push({ path: `experiments.${desired.key}.archived`, message: 'is running: stop it before archiving it (a document never stops an experiment)' });
            }
          }
        }
        current.delete(desired.key);
      }
    }
    // A scoped document prunes only what carries its tag: the rest stays as it is.
    for (const [key, other] of current) {
      if (!options.prune || (scope !== undefined && !tagsOf(other.definition).includes(scope))) {
        kept[kind].push(other.definition);
        current.delete(key);
      }
    }
    if (options.prune) {
      const checked = kind === 'flags' && current.size > 0 ? await flagDeletionChecks(client, doc.project, [...current.values()].map((l) => l.definition as Flag), before.experiments as Experiment[], options.force === true) : undefined;
      for (const leftover of current.values()) {
        if (kind === 'experiments' && (leftover.definition as Experiment).status === 'running') {
          refusals.push({ path: `experiments.${leftover.key}`, message: 'is running and not in the document: stop it before pruning deletes it (with its exposures and results)' });
        }
        const check = checked?.get(leftover.key);
        blockedDeletions.push(...(check?.blocked ?? []));
        warnings.push(...(check?.warning === undefined ? [] : [check.warning]));
        // The stored definition rides along only to order the deletions; a delete sends none.
        removals.push({ kind, key: leftover.key, action: 'delete', version: leftover.version, definition: leftover.definition, diff: jsonDiff(leftover.definition, undefined), ...(check?.force === true ? { force: true } : {}) });
      }
    }
    plan.push(...namedFirst(kind, writes));
    // Deletions run after every write, kinds in reverse (what refers to others first).
    deletions.unshift(...namedFirst(kind, removals).reverse());
  }
  const environments = (await client.environments(doc.project)).map((e) => e.key);
  // The result: the document's definitions and the stored ones kept (all of them without `prune`).
  const after = Object.fromEntries(KINDS.map((kind) => [kind, [...kept[kind], ...doc[kind]]])) as { [K in DefinitionPath]: unknown[] };
  return { changes: [...plan, ...deletions], problems: introducedProblems(before, after, true, environments), refusals, ignored, blockedDeletions, warnings, outOfScope };
}

/**
 * What the API would say to deleting each of `flags`: refused while a running experiment's rule
 * in it delivers that experiment, and while code references it unless `force` (then a warning).
 */
async function flagDeletionChecks(client: XpApiClient, project: string, flags: readonly Flag[], experiments: readonly Experiment[], force: boolean): Promise<Map<string, { blocked: BrokenReference[]; warning?: string; force?: boolean }>> {
  const running = new Set(experiments.filter((e) => e.status === 'running').map((e) => e.key));
  let refs: FlagCodeRefs[];
  try {
    refs = await client.flagCodeRefs(project);
  } catch (e) {
    // An API from before per-flag counts neither serves them nor checks them when deleting.
    if (e instanceof ApiError && e.status === 404) {
      refs = [];
    } else {
      throw e;
    }
  }
  const byKey = new Map(refs.map((r) => [r.flagKey, r]));
  const out = new Map<string, { blocked: BrokenReference[]; warning?: string; force?: boolean }>();
  for (const flag of flags) {
    const blocked: BrokenReference[] = [];
    const feeds = [...new Set(Object.values(flag.environments).flatMap((state) => state.rules.flatMap((r) => (r.type === 'experiment' && running.has(r.experiment) ? [r.experiment] : []))))].sort();
    if (feeds.length > 0) {
      blocked.push({ path: `flags.${flag.key}`, message: `delivers the running experiment${feeds.length === 1 ? '' : 's'} ${feeds.map((k) => `"${k}"`).join(', ')} and is not in the document: stop ${feeds.length === 1 ? 'it' : 'them'} before pruning deletes the flag` });
    }
    const used = byKey.get(flag.key);
    const where = used === undefined ? '' : `${used.references} reference${used.references === 1 ? '' : 's'} on ${used.branches.map((b) => `${b.repository}@${b.branch} (${b.references})`).join(', ')}`;
    if (used !== undefined && !force) {
      blocked.push({ path: `flags.${flag.key}`, message: `is still referenced in code (${where}) and not in the document: remove the calls and upload the references again, or apply with --force to delete it anyway` });
    }
    out.set(flag.key, {
      blocked,
      ...(used !== undefined && force ? { warning: `flag ${flag.key} is still referenced in code (${where}): --force deletes it anyway, and that code gets its SDK default`, force: true } : {}),
    });
  }
  return out;
}

/** The runtime fields the document sets to something else than the project has, one line per definition. */
function runtimeDifferences(kind: DefinitionPath, desired: object, existing: unknown): string[] {
  const stored = (typeof existing === 'object' && existing !== null ? existing : {}) as Record<string, unknown>;
  const wanted = desired as Record<string, unknown>;
  // The document schema defaults status to draft: a document that leaves it out says nothing about it.
  const said = (field: string): boolean => wanted[field] !== undefined && !(field === 'status' && wanted[field] === 'draft' && !STATUS_GIVEN.has(desired));
  const differing = (RUNTIME_FIELDS[kind] ?? []).filter((field) => said(field) && jsonDiff(stored[field], wanted[field]).length > 0);
  if (differing.length === 0) {
    return [];
  }
  const fields = differing.map((f) => `${f} ${inline(JSON.stringify(wanted[f]))} (the project has ${stored[f] === undefined ? 'none' : inline(JSON.stringify(stored[f]))})`);
  return [`${kind.replace(/s$/, '')} ${inline(String(wanted.key))}: ${fields.join(', ')}`];
}

/** Why the plan cannot be applied, as one error naming each problem, with nothing applied; undefined when it can. */
export function planError(plan: Pick<Plan, 'problems' | 'refusals' | 'blockedDeletions' | 'outOfScope'>, locate?: ReferenceLocator): AppError | undefined {
  const { problems, refusals } = plan;
  const blocked = plan.blockedDeletions ?? [];
  const outOfScope = plan.outOfScope ?? [];
  if (problems.length === 0 && refusals.length === 0 && blocked.length === 0 && outOfScope.length === 0) {
    return undefined;
  }
  const flags = new Set(blocked.map((b) => b.path)).size;
  const why = [
    ...(outOfScope.length === 0 ? [] : [`the document writes ${outOfScope.length === 1 ? 'a definition' : `${outOfScope.length} definitions`} outside its scope`]),
    ...(problems.length === 0 ? [] : [`the result would have ${problems.length === 1 ? 'a broken reference' : `${problems.length} broken references`}`]),
    ...(refusals.length === 0 ? [] : [`the API would refuse ${refusals.length === 1 ? 'a change' : `${refusals.length} changes`} to a started experiment`]),
    ...(flags === 0 ? [] : [`the API would refuse to delete ${flags === 1 ? 'a flag' : `${flags} flags`} still in use`]),
  ];
  const issues = withLines([...outOfScope, ...problems, ...refusals, ...blocked], locate).map((p) => ({ path: p.path, message: p.message }));
  return new AppError(AppErrorCode.Validation, `nothing was applied: ${why.join(', and ')}; fix the document (or the project) first`, { issues });
}

/**
 * The plan as text, document text escaped (`inline`). `pending`: flag states the document asks for
 * that need approval (`--propose`), to propose or already proposed by an open change request: the
 * project does not match the document yet, whatever the plan.
 */
export function describePlan(plan: readonly PlannedChange[], ignored: readonly string[] = [], pending = 0): string {
  if (plan.length === 0) {
    if (pending > 0) {
      return `No changes to apply: the project differs from the document only in ${pending === 1 ? 'a flag state' : `${pending} flag states`} that need${pending === 1 ? 's' : ''} an approved change request (listed below).`;
    }
    return ignored.length === 0 ? 'No changes: the project already matches the document.' : 'No changes to apply.';
  }
  const lines: string[] = [];
  for (const change of plan) {
    const sign = change.action === 'create' ? '+' : change.action === 'delete' ? '-' : '~';
    const archive = archiving(change);
    const createdArchived = change.kind === 'experiments' && change.action === 'create' && (change.definition as Partial<Experiment>).archived === true;
    const adopted = change.adopt === undefined ? '' : `, adopted into scope ${inline(change.adopt)}`;
    lines.push(`${sign} ${label(change)} (${change.action}${archive === undefined ? '' : `: ${archive}`}${createdArchived ? ', archived' : ''}${adopted})`);
    if (change.action === 'update') {
      for (const d of change.diff.slice(0, 50)) {
        const from = d.from === undefined ? '' : ` ${inline(JSON.stringify(d.from))}`;
        const to = d.to === undefined ? '' : ` ${inline(JSON.stringify(d.to))}`;
        lines.push(`    ${d.op} ${inline(d.path || '/')}${from}${from !== '' && to !== '' ? ' →' : ''}${to}`);
      }
      if (change.diff.length > 50) {
        lines.push(`    … and ${change.diff.length - 50} more`);
      }
    }
  }
  const count = (a: PlannedChange['action']): number => plan.filter((c) => c.action === a).length;
  lines.push('', `Plan: ${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete.`);
  return lines.join('\n');
}

/** A change of the plan as `xp apply --json` lists it: what the text plan says, as data. */
export interface PlannedChangeJson {
  readonly kind: DefinitionPath;
  readonly key: string;
  readonly action: PlannedChange['action'];
  readonly archive?: 'archive' | 'unarchive';
  /** An update that adopts the definition into the document's scope (`--adopt`): the scope's tag. */
  readonly adopt?: string;
  /** An update's differences, each as the text plan's line: op, JSON Pointer path, from and to. */
  readonly diff?: readonly DiffEntry[];
}

export function planAsJson(plan: readonly PlannedChange[]): PlannedChangeJson[] {
  return plan.map((change) => {
    const archive = archiving(change);
    return {
      kind: change.kind,
      key: change.key,
      action: change.action,
      ...(archive === undefined ? {} : { archive }),
      ...(change.adopt === undefined ? {} : { adopt: change.adopt }),
      ...(change.action === 'update' ? { diff: change.diff } : {}),
    };
  });
}

function label(change: { readonly kind: string; readonly key: string }): string {
  return `${change.kind.replace(/s$/, '')} ${inline(change.key)}`;
}

/** The API's default request body limit (DEFAULT_MAX_BODY_BYTES), in MB: what one apply may send. */
const DEFAULT_APPLY_BODY_MB = 8;

/**
 * Sends the plan in one request (`POST …/apply`): the API makes every change in one transaction,
 * each with the checks it makes alone (permissions, versions, protected environments), so either
 * all of them are applied or, at the first refusal, none. `dryRun` makes the same checks and writes
 * nothing. A refusal is an AppError naming the change, with the API's details (issues, problems,
 * environments) and the ApiError as its cause.
 */
export async function applyPlan(client: XpApiClient, project: string, plan: readonly PlannedChange[], log: (line: string) => void, options: { readonly dryRun?: boolean } = {}): Promise<AppliedChange[]> {
  if (plan.length > MAX_APPLY_CHANGES) {
    throw new AppError(AppErrorCode.Validation, `nothing was applied: the plan has ${plan.length} changes and one apply takes at most ${MAX_APPLY_CHANGES.toLocaleString('en-US')}; apply the document in parts`);
  }
  const changes: ApplyChange[] = plan.map((c) => ({
    kind: c.kind,
    action: c.action,
    key: c.key,
    ...(c.action === 'create' ? {} : { version: c.version! }),
    ...(c.action === 'delete' ? {} : { definition: c.definition }),
    ...(c.force === true ? { force: true } : {}),
  }));
  let applied: ApplyResult;
  try {
    applied = await client.apply(project, changes, { dryRun: options.dryRun === true });
  } catch (e) {
    if (!(e instanceof ApiError)) {
      throw e;
    }
    const why = options.dryRun === true ? 'the API would refuse the plan' : 'nothing was applied';
    if (e.status === 413) {
      // The API's request body limit (8 MB unless configured), not the file's: say how large the plan was.
      const bytes = Buffer.byteLength(JSON.stringify({ changes, dryRun: options.dryRun === true }));
      const size = `${(bytes / 1_048_576).toFixed(2)} MB (${bytes.toLocaleString('en-US')} bytes)`;
      throw new AppError(
        AppErrorCode.InvalidState,
        `${why}: the plan's ${plan.length} changes are ${size}, more than the API takes in one request (${DEFAULT_APPLY_BODY_MB} MB unless the server sets another limit); apply the document in parts (a document per kind, or fewer definitions each)`,
        e.details,
        { cause: e },
      );
    }
    throw new AppError(AppErrorCode.InvalidState, `${why}: ${e.message}`, e.details, { cause: e });
  }
  if (options.dryRun !== true) {
    for (const change of applied.changes) {
      log(`  ${change.action}d ${label(change)}`);
    }
  }
  return applied.changes;
}

/** A held-back state proposed by `proposeHeldBack`, or found already proposed (`already`). */
export interface ProposedState {
  readonly flag: string;
  readonly environment: string;
  readonly changeRequest: string;
  readonly already: boolean;
}

/** A flag's state in an environment that needs approval, held back from an apply to be proposed as a change request. */
export interface Proposal {
  readonly flag: string;
  readonly environment: string;
  readonly state: FlagEnvironment;
}

/**
 * `xp apply --propose`: takes out of the plan the flag states it changes in `approvalEnvironments`
 * (where the caller's role needs an approved change request) and returns them as proposals. An
 * update keeps the stored state there (and is dropped when nothing else changes); a new flag is
 * created off there (which needs no approval) and its state proposed. What a change request cannot
 * carry — a state removed, variations' values, archiving — stays in the plan, for the API to refuse.
 */
export function holdBackApprovals(plan: readonly PlannedChange[], approvalEnvironments: readonly string[]): { changes: PlannedChange[]; proposals: Proposal[] } {
  const changes: PlannedChange[] = [];
  const proposals: Proposal[] = [];
  for (const change of plan) {
    if (change.kind !== 'flags' || change.action === 'delete') {
      changes.push(change);
      continue;
    }
    const desired = change.definition as Flag;
    const before = change.before as Flag | undefined;
    const environments = new Map(Object.entries(desired.environments));
    for (const env of approvalEnvironments) {
      const want = desired.environments[env];
      const had = before?.environments[env];
      if (want === undefined || (before === undefined ? !want.enabled : jsonDiff(had, want).length === 0)) {
        continue;
      }
      proposals.push({ flag: change.key, environment: env, state: want });
      if (had !== undefined) {
        environments.set(env, had);
      } else if (before === undefined) {
        environments.set(env, { ...want, enabled: false });
      } else {
        environments.delete(env);
      }
    }
    const definition = { ...desired, environments: Object.fromEntries(environments) };
    const diff = jsonDiff(before, definition);
    if (change.action === 'update' && diff.length === 0) {
      continue;
    }
    changes.push({ ...change, definition, diff: change.action === 'create' ? jsonDiff(undefined, definition) : diff });
  }
  return { changes, proposals };
}

/** Whether a change request proposes exactly `state` for `environment` (a state the document asks for). */
function proposesState(request: Pick<ChangeRequest, 'environment' | 'proposed'>, environment: string, state: FlagEnvironment): boolean {
  return request.environment === environment && jsonDiff(request.proposed, state).length === 0;
}

/** The id of an open change request that already proposes this state, if any. */
export async function openRequestProposing(client: XpApiClient, project: string, p: Proposal): Promise<string | undefined> {
  const open = await client.changeRequests(project, { status: 'open', resourceKey: p.flag, limit: 100 });
  return open.items.find((r) => proposesState(r, p.environment, p.state))?.id;
}

/** An open change request on a flag state of the document that proposes another state than the document asks for. */
export interface SupersededRequest {
  readonly id: string;
  readonly flag: string;
  readonly environment: string;
  /** The proposer's user id. */
  readonly proposedBy: string;
}

/**
 * Open change requests that a document supersedes: for a flag and environment the document has a
 * state for, a request proposing another one (approved, it would move the environment away from
 * the document). Compared as `openRequestProposing` compares.
 */
export async function supersededRequests(client: XpApiClient, doc: Pick<FlagsDocument, 'project' | 'flags'>): Promise<SupersededRequest[]> {
  const flags = new Map(doc.flags.map((f) => [f.key, f]));
  const found: SupersededRequest[] = [];
  // The stored on/off of the states that leave `enabled` out, read once per flag.
  const stored = new Map<string, Promise<Flag | undefined>>();
  const storedFlag = (key: string): Promise<Flag | undefined> => {
    let got = stored.get(key);
    if (got === undefined) {
      got = client.get(doc.project, 'flags', key).then(
        (f) => f.definition,
        () => undefined,
      );
      stored.set(key, got);
    }
    return got;
  };
  let cursor: string | undefined;
  do {
    const page = await client.changeRequests(doc.project, { status: 'open', limit: 100, ...(cursor === undefined ? {} : { cursor }) });
    for (const r of page.items) {
      const flag = r.resourceType === 'flag' ? flags.get(r.resourceKey) : undefined;
      const given = flag?.environments[r.environment];
      // A state that leaves `enabled` out keeps the stored on/off, as apply and openRequestProposing
      // compare it: a request that would also switch the environment (proposed before someone turned
      // it on or off) is superseded, not left open beside a new one.
      const state =
        given !== undefined && enabledLeftOut(flag!).has(r.environment)
          ? { ...given, enabled: (await storedFlag(r.resourceKey))?.environments[r.environment]?.enabled ?? false }
          : given;
      if (state !== undefined && !proposesState(r, r.environment, state)) {
        found.push({ id: r.id, flag: r.resourceKey, environment: r.environment, proposedBy: r.proposedBy });
      }
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return found;
}

/**
 * Proposes each held-back state against the flag's version after the apply (`applied`), or the
 * version planned (`planned`: the whole plan, before the states were held back) when the apply did
 * not write the flag, unless an open change request already
 * proposes the same state there. Stops at the first failure, naming it.
 */
export async function proposeHeldBack(
  client: XpApiClient,
  project: string,
  proposals: readonly Proposal[],
  versions: { readonly planned: readonly PlannedChange[]; readonly applied: readonly AppliedChange[] },
  log: (line: string) => void,
  comment?: string,
): Promise<ProposedState[]> {
  const made: ProposedState[] = [];
  for (const [done, p] of proposals.entries()) {
    const version = versions.applied.find((c) => c.kind === 'flags' && c.key === p.flag)?.version ?? versions.planned.find((c) => c.kind === 'flags' && c.key === p.flag)?.version;
    if (version === undefined) {
      throw new AppError(AppErrorCode.Internal, `flag ${p.flag} is neither in the plan nor applied`);
    }
    try {
      // Run again (a CI job on every push), the same proposal is not made twice.
      const same = await openRequestProposing(client, project, p);
      if (same !== undefined) {
        log(`  already proposed: flag ${p.flag} in ${p.environment} (change request ${same})`);
        made.push({ flag: p.flag, environment: p.environment, changeRequest: same, already: true });
        continue;
      }
      const request = await client.proposeChange(project, { resourceKey: p.flag, environment: p.environment, state: p.state, baseVersion: version, ...(comment === undefined ? {} : { comment }) });
      log(`  proposed flag ${p.flag} in ${p.environment}: change request ${request.id}`);
      made.push({ flag: p.flag, environment: p.environment, changeRequest: request.id, already: false });
    } catch (e) {
      const progress = done === 0 ? 'none was proposed' : `${done} of ${proposals.length} proposed (listed above)`;
      throw new AppError(AppErrorCode.InvalidState, `the file was applied, but proposing flag ${p.flag} in ${p.environment} failed: ${e instanceof Error ? e.message : String(e)}; ${progress}. Propose the rest from the console or run the apply again`, e instanceof ApiError ? e.details : undefined, { cause: e });
    }
  }
  return made;
}
